#include "base/bus.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/time.h"

#define DEFAULT_QUEUE_LEN 256
#define MAX_QUEUE_LEN (1u << 20)

struct vg_bus_sub {
  vg_bus_t *bus;
  vg_bus_sub_t *next; /* in the bus's list while subscribed */
  char pattern[64];
  vg_bus_fn fn;
  void *opaque;
  int (*post)(void *, void (*)(void *), void *);
  void *post_target;
  /* Everything below is guarded by the bus's lock. */
  vg_bus_msg_t **ring;
  uint32_t cap, head, count;
  uint64_t delivered, dropped;
  bool closed;
  bool scheduled;  /* a drain task is posted and has not finished */
  int in_callback; /* callbacks running now */
  pthread_t cb_thread;
  int refs; /* the bus's list, plus a posted drain task */
};

struct vg_bus {
  pthread_mutex_t lock;
  pthread_cond_t work; /* the dispatcher has something to deliver, or must stop */
  pthread_cond_t idle; /* a callback finished */
  vg_bus_sub_t *subs;
  int sub_count;
  bool stop;
  bool thread_started;
  pthread_t thread;
  uint64_t seq, published, delivered, dropped;
  int refs; /* the owner plus one per sub struct alive; guarded by lock */
};

static void msg_unref(vg_bus_msg_t *m) {
  if (atomic_fetch_sub(&m->refs, 1) != 1) return;
  if (m->free_fn) m->free_fn(m->data);
  free(m);
}

static bool pattern_matches(const char *pattern, const char *topic) {
  size_t n = strlen(pattern);
  if (n && pattern[n - 1] == '*') return strncmp(pattern, topic, n - 1) == 0;
  return strcmp(pattern, topic) == 0;
}

static void bus_destroy(vg_bus_t *bus) {
  pthread_mutex_destroy(&bus->lock);
  pthread_cond_destroy(&bus->work);
  pthread_cond_destroy(&bus->idle);
  free(bus);
}

/* Drops one reference to sub (lock held); frees it at the last, and the bus
 * with its last sub once its owner has let go. Returns true if the bus
 * itself must be destroyed by the caller after unlocking. */
static bool sub_release(vg_bus_sub_t *sub) {
  if (--sub->refs > 0) return false;
  vg_bus_t *bus = sub->bus;
  free(sub->ring);
  free(sub);
  return --bus->refs == 0;
}

static void sub_drop_queue(vg_bus_sub_t *sub) {
  while (sub->count) {
    msg_unref(sub->ring[sub->head]);
    sub->head = (sub->head + 1) % sub->cap;
    sub->count--;
  }
}

/* Runs one queued message of sub's (lock held on entry and exit). */
static void deliver_one(vg_bus_t *bus, vg_bus_sub_t *sub) {
  vg_bus_msg_t *m = sub->ring[sub->head];
  sub->head = (sub->head + 1) % sub->cap;
  sub->count--;
  sub->in_callback++;
  sub->cb_thread = pthread_self();
  sub->refs++; /* the callback may unsubscribe */
  pthread_mutex_unlock(&bus->lock);
  sub->fn(sub->opaque, m);
  msg_unref(m);
  pthread_mutex_lock(&bus->lock);
  sub->in_callback--;
  sub->delivered++;
  bus->delivered++;
  pthread_cond_broadcast(&bus->idle);
  /* The owner's or the drain task's reference is still held by our caller,
   * so this never frees the bus. */
  sub_release(sub);
}

/* The oldest queued message among dispatcher-delivered subscribers. */
static vg_bus_sub_t *next_ready(vg_bus_t *bus) {
  vg_bus_sub_t *best = NULL;
  for (vg_bus_sub_t *s = bus->subs; s; s = s->next)
    if (!s->post && s->count && (!best || s->ring[s->head]->seq < best->ring[best->head]->seq)) best = s;
  return best;
}

static void *dispatcher_main(void *arg) {
  vg_bus_t *bus = arg;
  pthread_mutex_lock(&bus->lock);
  while (!bus->stop) {
    vg_bus_sub_t *s = next_ready(bus);
    if (!s) {
      pthread_cond_wait(&bus->work, &bus->lock);
      continue;
    }
    deliver_one(bus, s);
  }
  pthread_mutex_unlock(&bus->lock);
  return NULL;
}

/* A posted drain task: delivers everything queued, on the subscriber's thread. */
static void drain_task(void *arg) {
  vg_bus_sub_t *sub = arg;
  vg_bus_t *bus = sub->bus;
  pthread_mutex_lock(&bus->lock);
  while (!sub->closed && sub->count)
    deliver_one(bus, sub);
  sub->scheduled = false;
  bool destroy = sub_release(sub);
  pthread_mutex_unlock(&bus->lock);
  if (destroy) bus_destroy(bus);
}

int vg_bus_new(vg_bus_t **out) {
  vg_bus_t *bus = calloc(1, sizeof(*bus));
  if (!bus) return VG_ENOMEM;
  pthread_mutex_init(&bus->lock, NULL);
  pthread_cond_init(&bus->work, NULL);
  pthread_cond_init(&bus->idle, NULL);
  bus->refs = 1;
  int err = pthread_create(&bus->thread, NULL, dispatcher_main, bus);
  if (err) {
    bus_destroy(bus);
    return -err;
  }
  bus->thread_started = true;
  *out = bus;
  return 0;
}

int vg_bus_subscribe(vg_bus_t *bus, const char *pattern, const vg_bus_sub_opts_t *opts, vg_bus_fn fn,
                     void *opaque, vg_bus_sub_t **out) {
  if (!bus || !pattern || !*pattern || strlen(pattern) >= sizeof(((vg_bus_sub_t *)0)->pattern) || !fn)
    return VG_EINVAL;
  uint32_t cap = opts && opts->queue_len ? opts->queue_len : DEFAULT_QUEUE_LEN;
  if (cap > MAX_QUEUE_LEN) return VG_EINVAL;
  vg_bus_sub_t *sub = calloc(1, sizeof(*sub));
  if (!sub || !(sub->ring = calloc(cap, sizeof(*sub->ring)))) {
    free(sub);
    return VG_ENOMEM;
  }
  strcpy(sub->pattern, pattern);
  sub->bus = bus;
  sub->fn = fn;
  sub->opaque = opaque;
  sub->cap = cap;
  sub->refs = 1;
  if (opts && opts->post) {
    sub->post = opts->post;
    sub->post_target = opts->post_target;
  }
  pthread_mutex_lock(&bus->lock);
  bus->refs++;
  sub->next = bus->subs;
  bus->subs = sub;
  bus->sub_count++;
  pthread_mutex_unlock(&bus->lock);
  *out = sub;
  return 0;
}

void vg_bus_unsubscribe(vg_bus_sub_t **subp) {
  vg_bus_sub_t *sub = *subp;
  if (!sub) return;
  *subp = NULL;
  vg_bus_t *bus = sub->bus;
  pthread_mutex_lock(&bus->lock);
  for (vg_bus_sub_t **pp = &bus->subs; *pp; pp = &(*pp)->next)
    if (*pp == sub) {
      *pp = sub->next;
      bus->sub_count--;
      break;
    }
  sub->closed = true;
  sub_drop_queue(sub);
  /* A callback running on another thread finishes first; one running on
   * this thread is the caller itself. */
  while (sub->in_callback && !pthread_equal(sub->cb_thread, pthread_self()))
    pthread_cond_wait(&bus->idle, &bus->lock);
  bool destroy = sub_release(sub);
  pthread_mutex_unlock(&bus->lock);
  if (destroy) bus_destroy(bus);
}

int vg_bus_publish(vg_bus_t *bus, const char *topic, void *data, void (*free_fn)(void *)) {
  vg_bus_msg_t *m = NULL;
  if (!bus || !topic || strlen(topic) >= sizeof(m->topic) || !(m = calloc(1, sizeof(*m)))) {
    if (free_fn) free_fn(data);
    return bus && topic && strlen(topic) < sizeof(m->topic) ? VG_ENOMEM : VG_EINVAL;
  }
  strcpy(m->topic, topic);
  m->data = data;
  m->free_fn = free_fn;
  m->publish_us = vg_time_mono_us();
  atomic_init(&m->refs, 1);
  int queued = 0;
  bool wake_dispatcher = false;
  pthread_mutex_lock(&bus->lock);
  m->seq = ++bus->seq;
  bus->published++;
  for (vg_bus_sub_t *s = bus->subs; s; s = s->next) {
    if (!pattern_matches(s->pattern, topic)) continue;
    if (s->count == s->cap) {
      s->dropped++;
      bus->dropped++;
      continue;
    }
    atomic_fetch_add(&m->refs, 1);
    s->ring[(s->head + s->count) % s->cap] = m;
    s->count++;
    queued++;
    if (!s->post) {
      wake_dispatcher = true;
    } else if (!s->scheduled) {
      s->scheduled = true;
      s->refs++;
      if (s->post(s->post_target, drain_task, s) != 0) {
        /* The subscriber's thread is gone: nothing will ever drain it. */
        s->scheduled = false;
        s->refs--;
        s->dropped += s->count;
        bus->dropped += s->count;
        queued--;
        sub_drop_queue(s);
      }
    }
  }
  if (wake_dispatcher) pthread_cond_signal(&bus->work);
  pthread_mutex_unlock(&bus->lock);
  msg_unref(m);
  return queued;
}

void vg_bus_sub_stats(vg_bus_sub_t *sub, vg_bus_sub_stats_t *out) {
  pthread_mutex_lock(&sub->bus->lock);
  *out = (vg_bus_sub_stats_t){.delivered = sub->delivered, .dropped = sub->dropped, .queued = sub->count};
  pthread_mutex_unlock(&sub->bus->lock);
}

void vg_bus_stats(vg_bus_t *bus, vg_bus_stats_t *out) {
  pthread_mutex_lock(&bus->lock);
  *out = (vg_bus_stats_t){.published = bus->published,
                          .delivered = bus->delivered,
                          .dropped = bus->dropped,
                          .subscribers = bus->sub_count};
  pthread_mutex_unlock(&bus->lock);
}

void vg_bus_free(vg_bus_t **busp) {
  vg_bus_t *bus = *busp;
  if (!bus) return;
  *busp = NULL;
  pthread_mutex_lock(&bus->lock);
  bus->stop = true;
  pthread_cond_signal(&bus->work);
  pthread_mutex_unlock(&bus->lock);
  if (bus->thread_started) pthread_join(bus->thread, NULL);
  pthread_mutex_lock(&bus->lock);
  bool destroy = --bus->refs == 0;
  pthread_mutex_unlock(&bus->lock);
  if (destroy) bus_destroy(bus);
}
