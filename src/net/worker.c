#include "net/worker.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "base/time.h"
#include "net/uring.h"

typedef struct task {
  struct task *next;
  vg_task_fn fn;
  void *arg;
} task_t;

struct vg_worker {
  int index;
  uv_loop_t loop;
  uv_async_t wake;
  /* Poll pacing (see pace_before_poll). */
  uv_prepare_t pace_prepare;
  uv_check_t pace_check;
  int64_t last_poll_us;
  int paced_sockets; /* see vg_worker_paced_sockets_add */
  pthread_t thread;
  pthread_mutex_t lock;
  task_t *head, *tail;
  int stopping;
  /* io_uring receive state (net/uring.c), created on first use. */
  void *uring;
};

static vg_worker_t *workers;
static int worker_count;
static atomic_uint next_worker;
static _Thread_local vg_worker_t *current_worker;
static atomic_int accepting;

static void run_tasks(vg_worker_t *w) {
  for (;;) {
    pthread_mutex_lock(&w->lock);
    task_t *t = w->head;
    w->head = w->tail = NULL;
    pthread_mutex_unlock(&w->lock);
    if (!t) return;
    while (t) {
      task_t *next = t->next;
      t->fn(t->arg);
      free(t);
      t = next;
    }
  }
}

static void close_any(uv_handle_t *h, void *arg) {
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void on_wake(uv_async_t *a) {
  vg_worker_t *w = a->data;
  run_tasks(w);
  if (w->stopping) uv_walk(&w->loop, close_any, NULL);
}

/* Microseconds between two polls of a loop at least (0: no pacing); the
 * environment variable VIGIL_POLL_QUANTUM_US sets a fixed one, for
 * benchmarks. 5 ms: at 100 cameras of 25 fps on two workers this cut the
 * ingest CPU by about a third (docs/BENCHMARKS.md), and it is an eighth of
 * a frame interval. A worker that receives from BUSY_SOCKETS to
 * FULL_SOCKETS sockets waits 10 ms: at 100 cameras (50 per worker) that
 * saved another 12-16% of the CPU (docs/BENCHMARKS.md). With fewer
 * sockets, where a viewer is more likely to notice, and with more, where
 * a 5 ms wake-up already serves 16 frames or more, it stays 5 ms: at 1000
 * cameras 10 ms saved nothing measurable, and the longer batch of work
 * per wake-up delayed restream egress (median 0.33 -> 1.3 ms). */
#define DEFAULT_POLL_QUANTUM_US 5000
#define BUSY_POLL_QUANTUM_US 10000
#define BUSY_SOCKETS 32
#define FULL_SOCKETS 128
static int64_t poll_quantum_us;
static int quantum_fixed;

void vg_worker_paced_sockets_add(vg_worker_t *w, int delta) {
  if (w) w->paced_sockets += delta;
}

static int64_t quantum_of(const vg_worker_t *w) {
  if (quantum_fixed || w->paced_sockets < BUSY_SOCKETS || w->paced_sockets >= FULL_SOCKETS)
    return poll_quantum_us;
  return BUSY_POLL_QUANTUM_US;
}

/* Before the loop polls, it waits until poll_quantum_us have passed since
 * the previous poll returned, so that one poll collects the frames of many
 * cameras instead of one wake-up (a task switch) per camera frame: socket
 * bytes wait in the kernel for at most the quantum. A message from another
 * thread (uv_async_send: posted tasks, hub notifications of RTSP sessions)
 * ends the wait at once, so egress is not delayed: the wait is a poll() on
 * the descriptor libuv signals those on (libuv 1.x on Linux: an eventfd in
 * the loop's async watcher; left readable, the loop's own poll sees it). */
static void pace_before_poll(uv_prepare_t *p) {
  vg_worker_t *w = p->data;
  int64_t wait = w->last_poll_us + quantum_of(w) - vg_time_mono_us();
  if (wait <= 0 || w->stopping) return;
  struct pollfd pfd = {.fd = w->loop.async_io_watcher.fd, .events = POLLIN};
  struct timespec ts = {.tv_sec = wait / 1000000, .tv_nsec = (wait % 1000000) * 1000};
  if (pfd.fd >= 0)
    ppoll(&pfd, 1, &ts, NULL);
  else
    nanosleep(&ts, NULL);
}

static void pace_after_poll(uv_check_t *c) {
  vg_worker_t *w = c->data;
  w->last_poll_us = vg_time_mono_us();
}

static void *worker_main(void *arg) {
  vg_worker_t *w = arg;
  current_worker = w;
  uv_run(&w->loop, UV_RUN_DEFAULT);
  return NULL;
}

int vg_workers_start(int n) {
  if (n <= 0) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (n <= 0) n = 1;
  const char *q = getenv("VIGIL_POLL_QUANTUM_US");
  poll_quantum_us = q ? atoll(q) : DEFAULT_POLL_QUANTUM_US;
  quantum_fixed = q != NULL;
  workers = calloc((size_t)n, sizeof(*workers));
  if (!workers) return VG_ENOMEM;
  for (int i = 0; i < n; i++) {
    vg_worker_t *w = &workers[i];
    w->index = i;
    pthread_mutex_init(&w->lock, NULL);
    uv_loop_init(&w->loop);
    uv_async_init(&w->loop, &w->wake, on_wake);
    w->wake.data = w;
    if (poll_quantum_us > 0) {
      uv_prepare_init(&w->loop, &w->pace_prepare);
      w->pace_prepare.data = w;
      uv_prepare_start(&w->pace_prepare, pace_before_poll);
      uv_unref((uv_handle_t *)&w->pace_prepare);
      uv_check_init(&w->loop, &w->pace_check);
      w->pace_check.data = w;
      uv_check_start(&w->pace_check, pace_after_poll);
      uv_unref((uv_handle_t *)&w->pace_check);
    }
  }
  worker_count = n;
  atomic_store(&accepting, 1);
  for (int i = 0; i < n; i++) {
    if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
      vg_log_error(&VG_LOG_CTX("worker", NULL), "cannot start worker thread %d", i);
      abort();
    }
  }
  return 0;
}

static void mark_stopping(void *arg) { ((vg_worker_t *)arg)->stopping = 1; }

void vg_workers_stop(void) {
  if (!workers) return;
  for (int i = 0; i < worker_count; i++)
    vg_worker_post(&workers[i], mark_stopping, &workers[i]);
  atomic_store(&accepting, 0);
  for (int i = 0; i < worker_count; i++)
    uv_async_send(&workers[i].wake);
  for (int i = 0; i < worker_count; i++) {
    pthread_join(workers[i].thread, NULL);
    run_tasks(&workers[i]);
    uv_loop_close(&workers[i].loop);
    vg_uring_worker_destroy(workers[i].uring);
    pthread_mutex_destroy(&workers[i].lock);
  }
  free(workers);
  workers = NULL;
  worker_count = 0;
}

int vg_workers_count(void) { return worker_count; }
vg_worker_t *vg_worker_at(int index) { return index >= 0 && index < worker_count ? &workers[index] : NULL; }
vg_worker_t *vg_worker_next(void) {
  return &workers[atomic_fetch_add(&next_worker, 1) % (unsigned)worker_count];
}
vg_worker_t *vg_worker_current(void) { return current_worker; }
int vg_worker_index(const vg_worker_t *w) { return w->index; }
uv_loop_t *vg_worker_loop(vg_worker_t *w) { return &w->loop; }
void **vg_worker_uring_slot(vg_worker_t *w) { return &w->uring; }

int vg_worker_post(vg_worker_t *w, vg_task_fn fn, void *arg) {
  task_t *t = malloc(sizeof(*t));
  if (!t) return VG_ENOMEM;
  t->fn = fn;
  t->arg = arg;
  t->next = NULL;
  pthread_mutex_lock(&w->lock);
  if (!atomic_load(&accepting) && fn != mark_stopping) {
    pthread_mutex_unlock(&w->lock);
    free(t);
    return VG_ECANCELED;
  }
  if (w->tail)
    w->tail->next = t;
  else
    w->head = t;
  w->tail = t;
  pthread_mutex_unlock(&w->lock);
  uv_async_send(&w->wake);
  return 0;
}

int vg_worker_run(vg_worker_t *w, vg_task_fn fn, void *arg) {
  if (current_worker == w) {
    fn(arg);
    return 0;
  }
  return vg_worker_post(w, fn, arg);
}
