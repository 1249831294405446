/* Unit tests for the event bus: matching, off-thread delivery in order,
 * bounded queues with counted drops, payload ownership, posted delivery and
 * unsubscribing from inside a callback. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/bus.h"
#include "base/error.h"

typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int values[64];
  int count;
  pthread_t thread;
  int block; /* callbacks wait while set */
  vg_bus_sub_t *self;
  int unsubscribe_in_callback;
} recorder_t;

static atomic_int freed;

static void free_int(void *p) {
  atomic_fetch_add(&freed, 1);
  free(p);
}

static int *make_int(int v) {
  int *p = malloc(sizeof(*p));
  *p = v;
  return p;
}

static void record(void *opaque, const vg_bus_msg_t *msg) {
  recorder_t *r = opaque;
  pthread_mutex_lock(&r->lock);
  while (r->block)
    pthread_cond_wait(&r->cond, &r->lock);
  if (r->count < 64) r->values[r->count++] = *(int *)msg->data;
  r->thread = pthread_self();
  pthread_cond_broadcast(&r->cond);
  pthread_mutex_unlock(&r->lock);
  if (r->unsubscribe_in_callback) vg_bus_unsubscribe(&r->self);
}

static void recorder_init(recorder_t *r) {
  memset(r, 0, sizeof(*r));
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->cond, NULL);
}

static void wait_count(recorder_t *r, int n) {
  pthread_mutex_lock(&r->lock);
  for (int i = 0; i < 500 && r->count < n; i++) {
    pthread_mutex_unlock(&r->lock);
    usleep(2000);
    pthread_mutex_lock(&r->lock);
  }
  assert_int_equal(r->count, n);
  pthread_mutex_unlock(&r->lock);
}

static void test_delivery_off_thread_in_order(void **state) {
  (void)state;
  vg_bus_t *bus;
  assert_int_equal(vg_bus_new(&bus), 0);
  recorder_t exact, prefix, other;
  recorder_init(&exact);
  recorder_init(&prefix);
  recorder_init(&other);
  vg_bus_sub_t *s1, *s2, *s3;
  assert_int_equal(vg_bus_subscribe(bus, "analytics.trigger", NULL, record, &exact, &s1), 0);
  assert_int_equal(vg_bus_subscribe(bus, "analytics.*", NULL, record, &prefix, &s2), 0);
  assert_int_equal(vg_bus_subscribe(bus, "record.segment", NULL, record, &other, &s3), 0);
  atomic_store(&freed, 0);
  for (int i = 0; i < 10; i++)
    assert_int_equal(
        vg_bus_publish(bus, i % 2 ? "analytics.meta" : "analytics.trigger", make_int(i), free_int),
        i % 2 ? 1 : 2);
  wait_count(&prefix, 10);
  wait_count(&exact, 5);
  for (int i = 0; i < 10; i++)
    assert_int_equal(prefix.values[i], i);
  for (int i = 0; i < 5; i++)
    assert_int_equal(exact.values[i], 2 * i);
  assert_int_equal(other.count, 0);
  assert_false(pthread_equal(prefix.thread, pthread_self()));
  /* Nobody listens: the payload is freed at once. */
  assert_int_equal(vg_bus_publish(bus, "nobody", make_int(99), free_int), 0);
  vg_bus_stats_t st;
  vg_bus_stats(bus, &st);
  assert_int_equal(st.published, 11);
  assert_int_equal(st.delivered, 15);
  assert_int_equal(st.subscribers, 3);
  vg_bus_unsubscribe(&s1);
  vg_bus_unsubscribe(&s2);
  vg_bus_unsubscribe(&s3);
  assert_null(s1);
  vg_bus_free(&bus);
  assert_int_equal(atomic_load(&freed), 11);
}

static void test_full_queue_drops_and_counts(void **state) {
  (void)state;
  vg_bus_t *bus;
  assert_int_equal(vg_bus_new(&bus), 0);
  recorder_t slow, fast;
  recorder_init(&slow);
  recorder_init(&fast);
  slow.block = 1;
  vg_bus_sub_t *s1, *s2;
  vg_bus_sub_opts_t small = {.queue_len = 4};
  assert_int_equal(vg_bus_subscribe(bus, "*", &small, record, &slow, &s1), 0);
  assert_int_equal(vg_bus_subscribe(bus, "*", NULL, record, &fast, &s2), 0);
  atomic_store(&freed, 0);
  /* The first message is taken by the dispatcher and blocks in slow's
   * callback; the next four fill its queue; the rest are dropped for slow
   * only (the dispatcher is stuck, so fast waits too but loses nothing). */
  vg_bus_publish(bus, "t", make_int(0), free_int);
  pthread_mutex_lock(&slow.lock);
  pthread_mutex_unlock(&slow.lock);
  usleep(20000);
  for (int i = 1; i < 20; i++)
    vg_bus_publish(bus, "t", make_int(i), free_int);
  vg_bus_sub_stats_t ss;
  vg_bus_sub_stats(s1, &ss);
  assert_int_equal(ss.queued, 4);
  assert_int_equal(ss.dropped, 15);
  pthread_mutex_lock(&slow.lock);
  slow.block = 0;
  pthread_cond_broadcast(&slow.cond);
  pthread_mutex_unlock(&slow.lock);
  wait_count(&slow, 5);
  wait_count(&fast, 20);
  for (int i = 0; i < 5; i++)
    assert_int_equal(slow.values[i], i);
  vg_bus_stats_t st;
  vg_bus_stats(bus, &st);
  assert_int_equal(st.dropped, 15);
  vg_bus_unsubscribe(&s1);
  vg_bus_unsubscribe(&s2);
  vg_bus_free(&bus);
  assert_int_equal(atomic_load(&freed), 20);
}

/* A post function that runs drain tasks on a thread of its own, like
 * vg_worker_post does on a worker. */
typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  void (*fn[64])(void *);
  void *arg[64];
  int head, count, stop, refuse;
  pthread_t thread;
} executor_t;

static void *executor_main(void *p) {
  executor_t *e = p;
  pthread_mutex_lock(&e->lock);
  for (;;) {
    while (!e->count && !e->stop)
      pthread_cond_wait(&e->cond, &e->lock);
    if (!e->count) break;
    void (*fn)(void *) = e->fn[e->head];
    void *arg = e->arg[e->head];
    e->head = (e->head + 1) % 64;
    e->count--;
    pthread_mutex_unlock(&e->lock);
    fn(arg);
    pthread_mutex_lock(&e->lock);
  }
  pthread_mutex_unlock(&e->lock);
  return NULL;
}

static int executor_post(void *target, void (*fn)(void *), void *arg) {
  executor_t *e = target;
  pthread_mutex_lock(&e->lock);
  if (e->refuse || e->count == 64) {
    pthread_mutex_unlock(&e->lock);
    return VG_ECANCELED;
  }
  e->fn[(e->head + e->count) % 64] = fn;
  e->arg[(e->head + e->count) % 64] = arg;
  e->count++;
  pthread_cond_signal(&e->cond);
  pthread_mutex_unlock(&e->lock);
  return 0;
}

static void test_posted_delivery_and_unsubscribe_in_callback(void **state) {
  (void)state;
  executor_t ex = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
  pthread_create(&ex.thread, NULL, executor_main, &ex);
  vg_bus_t *bus;
  assert_int_equal(vg_bus_new(&bus), 0);
  recorder_t r;
  recorder_init(&r);
  vg_bus_sub_opts_t o = {.post = executor_post, .post_target = &ex};
  assert_int_equal(vg_bus_subscribe(bus, "a", &o, record, &r, &r.self), 0);
  atomic_store(&freed, 0);
  for (int i = 0; i < 3; i++)
    vg_bus_publish(bus, "a", make_int(i), free_int);
  wait_count(&r, 3);
  assert_true(pthread_equal(r.thread, ex.thread));
  /* The next callback unsubscribes; later messages are never delivered. */
  r.unsubscribe_in_callback = 1;
  vg_bus_publish(bus, "a", make_int(3), free_int);
  wait_count(&r, 4);
  for (int i = 0; i < 50 && r.self; i++)
    usleep(2000);
  assert_null(r.self);
  assert_int_equal(vg_bus_publish(bus, "a", make_int(4), free_int), 0);
  vg_bus_free(&bus);
  pthread_mutex_lock(&ex.lock);
  ex.stop = 1;
  pthread_cond_signal(&ex.cond);
  pthread_mutex_unlock(&ex.lock);
  pthread_join(ex.thread, NULL);
  assert_int_equal(r.count, 4);
  assert_int_equal(atomic_load(&freed), 5);
}

static void test_refused_post_counts_drops(void **state) {
  (void)state;
  executor_t ex = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .refuse = 1};
  vg_bus_t *bus;
  assert_int_equal(vg_bus_new(&bus), 0);
  recorder_t r;
  recorder_init(&r);
  vg_bus_sub_t *s;
  vg_bus_sub_opts_t o = {.post = executor_post, .post_target = &ex};
  assert_int_equal(vg_bus_subscribe(bus, "a", &o, record, &r, &s), 0);
  atomic_store(&freed, 0);
  assert_int_equal(vg_bus_publish(bus, "a", make_int(1), free_int), 0);
  vg_bus_sub_stats_t ss;
  vg_bus_sub_stats(s, &ss);
  assert_int_equal(ss.dropped, 1);
  assert_int_equal(atomic_load(&freed), 1);
  assert_int_equal(vg_bus_subscribe(bus, "", NULL, record, &r, &s), VG_EINVAL);
  assert_int_equal(vg_bus_publish(bus, "", make_int(1), free_int), 0);
  vg_bus_unsubscribe(&s);
  vg_bus_free(&bus);
  assert_int_equal(atomic_load(&freed), 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_delivery_off_thread_in_order),
      cmocka_unit_test(test_full_queue_drops_and_counts),
      cmocka_unit_test(test_posted_delivery_and_unsubscribe_in_callback),
      cmocka_unit_test(test_refused_post_counts_drops),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
