/*
 * uring.h: batched socket receive for a worker through io_uring (net).
 *
 * Each worker may own one io_uring with a ring of provided receive buffers.
 * A socket handed to it gets one multishot receive: the kernel fills a free
 * buffer of the ring whenever bytes arrive and posts a completion, without
 * a read() per socket. The ring signals an eventfd that the worker's libuv
 * loop polls, so one wake-up of the loop harvests the data of many sockets
 * (with poll pacing, net/worker.h, the data of a whole quantum). The ring
 * is set up with deferred task running: the kernel copies data into the
 * buffers only when the harvest asks for completions, on the worker's own
 * thread, so arrivals do not interrupt it.
 *
 * Ownership: a received buffer belongs to this module. The receive callback
 * sees data[0..len) only during the call and must copy what it keeps (e.g.
 * a partial message at the end); the buffer goes back to the ring right
 * after the callback returns.
 *
 * Life cycle: vg_uring_recv_start() -> the callback any number of times
 * with status 0 -> at most once with VG_ECLOSED (the peer closed) or
 * another negative code (a receive error), after which no data follows ->
 * vg_uring_recv_stop(), always, after which no callback runs and the socket
 * may be closed (an in-flight receive is cancelled; its state is freed when
 * the kernel confirms, or with the worker).
 *
 * Off switch: the environment variable VIGIL_IO_URING=0 (or a build without
 * liburing, or a kernel that refuses the ring) makes vg_uring_usable()
 * return 0, and callers keep their libuv read path.
 *
 * Buffers: on Linux 6.12+ 32 buffers of 64 KiB per worker, each filled
 * incrementally by the receives of many sockets one after another (so few
 * buffers, warm in cache, carry a whole wake-up's data); on older kernels,
 * or with VIGIL_IO_URING_INC=0, 1024 buffers of 16 KiB, one per receive.
 * VIGIL_IO_URING_BUF sets the size of a buffer in bytes (tests use small
 * ones to split messages across buffers) and VIGIL_IO_URING_BUFS their
 * number (rounded up to a power of two).
 *
 * Threads: everything on the worker's own thread, except
 * vg_uring_worker_destroy (net/worker.c, after the thread has ended).
 */
#ifndef VG_NET_URING_H
#define VG_NET_URING_H

#include <stddef.h>
#include <stdint.h>

#include "net/worker.h"

typedef struct vg_uring_sock vg_uring_sock_t;
typedef void (*vg_uring_recv_fn)(void *opaque, const uint8_t *data, size_t len, int status);

/* 1 when sockets of w can be received through its io_uring (creating the
 * ring on first use), 0 when the caller should use its libuv read path. */
int vg_uring_usable(vg_worker_t *w);
/* Starts receiving from the connected socket fd (which stays the caller's:
 * the caller must not read from it meanwhile). Returns 0 or a negative code
 * (VG_EUNSUPPORTED when the ring is not usable). */
int vg_uring_recv_start(vg_worker_t *w, int fd, vg_uring_recv_fn fn, void *opaque, vg_uring_sock_t **out);
/* Stops: no callback after this returns. NULL is accepted. */
void vg_uring_recv_stop(vg_uring_sock_t *sock);

/* How many receives, in all workers, ended because their ring had no free
 * buffer and were armed again (a sign that the ring is too small). */
uint64_t vg_uring_rearms(void);

/* For net/worker.c: frees w's ring and what is left on it. */
void vg_uring_worker_destroy(void *ring);

#endif
