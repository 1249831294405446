/* pool.c: a small fork-join thread pool for kernels.
 *
 * One job at a time: vg_parallel_for() publishes (fn, arg, count), wakes the
 * workers, takes indices itself from a shared atomic counter, and waits until
 * every index has been done. Kernels split work into a few dozen indices
 * (rows, channel blocks) so the counter is not contended. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "infer/model.h"

struct vg_thread_pool {
  int n; /* worker threads, not counting the caller */
  pthread_t *threads;
  pthread_mutex_t mu;
  pthread_cond_t wake, done;
  uint64_t generation;
  int stop;
  void (*fn)(void *, int64_t);
  void *arg;
  int64_t count;
  atomic_int_fast64_t next;
  atomic_int_fast64_t finished;
  int active;     /* workers still inside the current job */
  atomic_int ids; /* worker indices handed out */
};

/* This thread's index in the pool it works for (0: not a worker, which is
 * what the caller of vg_parallel_for is). */
static _Thread_local int pool_index;

int vg_thread_pool_index(void) { return pool_index; }

static void run_indices(vg_thread_pool_t *p) {
  for (;;) {
    int64_t i = atomic_fetch_add(&p->next, 1);
    if (i >= p->count) break;
    p->fn(p->arg, i);
    atomic_fetch_add(&p->finished, 1);
  }
}

static void *worker(void *opaque) {
  vg_thread_pool_t *p = opaque;
  uint64_t seen = 0;
  pool_index = atomic_fetch_add(&p->ids, 1) + 1;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->stop && p->generation == seen)
      pthread_cond_wait(&p->wake, &p->mu);
    if (p->stop) break;
    seen = p->generation;
    pthread_mutex_unlock(&p->mu);
    run_indices(p);
    pthread_mutex_lock(&p->mu);
    if (--p->active == 0) pthread_cond_signal(&p->done);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

vg_thread_pool_t *vg_thread_pool_create(int threads) {
  if (threads <= 1) return NULL;
  vg_thread_pool_t *p = calloc(1, sizeof(*p));
  if (!p) return NULL;
  p->threads = calloc((size_t)threads - 1, sizeof(pthread_t));
  if (!p->threads) {
    free(p);
    return NULL;
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done, NULL);
  for (int i = 0; i < threads - 1; i++) {
    if (pthread_create(&p->threads[i], NULL, worker, p) != 0) break;
    p->n++;
  }
  return p;
}

void vg_thread_pool_destroy(vg_thread_pool_t *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->stop = 1;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->n; i++)
    pthread_join(p->threads[i], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->wake);
  pthread_cond_destroy(&p->done);
  free(p->threads);
  free(p);
}

int vg_thread_pool_size(const vg_thread_pool_t *p) { return p ? p->n + 1 : 1; }

void vg_parallel_for(vg_thread_pool_t *p, int64_t count, void (*fn)(void *arg, int64_t i), void *arg) {
  if (!p || p->n == 0 || count <= 1) {
    for (int64_t i = 0; i < count; i++)
      fn(arg, i);
    return;
  }
  pthread_mutex_lock(&p->mu);
  p->fn = fn;
  p->arg = arg;
  p->count = count;
  atomic_store(&p->next, 0);
  atomic_store(&p->finished, 0);
  p->active = p->n;
  p->generation++;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  run_indices(p);
  pthread_mutex_lock(&p->mu);
  while (p->active > 0)
    pthread_cond_wait(&p->done, &p->mu);
  pthread_mutex_unlock(&p->mu);
}
