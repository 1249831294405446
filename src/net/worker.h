/*
 * worker.h: I/O worker threads, each running its own libuv loop.
 *
 * Sockets and timers belong to exactly one worker and are touched only on
 * its thread. A camera, a client connection or a server listener is placed
 * on a worker and stays there. Work for another worker is handed over as a
 * message (vg_worker_post), never by locking its data.
 *
 * Start/stop from the main thread. vg_worker_post() may be called from any
 * thread, including the target worker itself.
 *
 * Pacing: a loop polls at most once per quantum, so that one wake-up
 * serves the sockets of many cameras; socket bytes may wait that long in
 * the kernel. The quantum is 5 ms, and 10 ms on a worker that receives
 * from 32 to 127 sockets (see vg_worker_paced_sockets_add): there a
 * wake-up costs the most per frame saved. The environment variable
 * VIGIL_POLL_QUANTUM_US sets one fixed quantum instead (0 turns pacing
 * off). Cross-thread wake-ups (vg_worker_post, any uv_async of the loop)
 * are not delayed. Timers may fire up to a quantum late.
 */
#ifndef VG_NET_WORKER_H
#define VG_NET_WORKER_H

#include <uv.h>

typedef struct vg_worker vg_worker_t;
typedef void (*vg_task_fn)(void *arg);

/* Starts n workers (n <= 0: one per online CPU). */
int vg_workers_start(int n);
/* Stops the workers: tasks already posted still run, then every handle
 * left on a loop is closed and the threads are joined. Modules close their
 * own handles first (post a task that does it) so their close callbacks run. */
void vg_workers_stop(void);
int vg_workers_count(void);
vg_worker_t *vg_worker_at(int index);
/* Next worker in round-robin order: how new cameras and connections spread. */
vg_worker_t *vg_worker_next(void);
/* The worker whose thread is calling, or NULL. */
vg_worker_t *vg_worker_current(void);
int vg_worker_index(const vg_worker_t *w);

uv_loop_t *vg_worker_loop(vg_worker_t *w);
/* The worker's io_uring state, for net/uring.c only (worker's thread). */
void **vg_worker_uring_slot(vg_worker_t *w);
/* Counts sockets whose receives the worker batches (net/uring.c: +1 per
 * socket started, -1 per socket gone); w's thread only. Picks the quantum. */
void vg_worker_paced_sockets_add(vg_worker_t *w, int delta);
/* Runs fn(arg) on w's thread, in posting order. Returns 0, or VG_ECANCELED
 * once the workers are stopping (then fn is not called). */
int vg_worker_post(vg_worker_t *w, vg_task_fn fn, void *arg);
/* Like vg_worker_post, but runs fn at once when called on w's thread. */
int vg_worker_run(vg_worker_t *w, vg_task_fn fn, void *arg);

#endif
