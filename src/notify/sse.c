/*
 * sse.c: the Server-Sent Events hub (notify.h). One lock guards the
 * clients, their queues and the replay ring; publishing formats a message
 * once ("id: N\ndata: JSON\n\n"), shares it by reference with every client
 * whose filter admits its camera, and calls each such client's wake
 * function (the HTTP server's, which wakes its thread with
 * lws_cancel_service). A client whose queue overflows is closed: the
 * browser's EventSource reconnects with Last-Event-ID and gets the kept
 * messages it missed from the replay ring.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/time.h"
#include "notify/notify_internal.h"

#define KEEPALIVE_US (15 * 1000000LL)

typedef struct {
  atomic_int refs;
  uint64_t id;
  char camera[64];
  size_t len;
  char text[];
} sse_msg_t;

struct vg_sse_client {
  struct vg_sse_client *next;
  vg_sse_filter_fn filter;
  void *opaque;
  void (*filter_free)(void *);
  void (*wake)(void *);
  void *wake_opaque;
  sse_msg_t **queue; /* ring of queue_len */
  int head, count;
  size_t offset; /* bytes of the head message already read */
  char preamble[64];
  size_t preamble_len, preamble_off;
  bool closed; /* overflowed or the hub stopped */
  int64_t last_write_us;
};

static struct {
  pthread_mutex_t lock;
  bool running;
  int queue_len, replay_len;
  uint64_t next_id;
  struct vg_sse_client *clients;
  int client_count;
  sse_msg_t **replay; /* ring of replay_len */
  int replay_head, replay_count;
  vg__notify_counters_t counters;
} hub = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void msg_unref(sse_msg_t *m) {
  if (m && atomic_fetch_sub(&m->refs, 1) == 1) free(m);
}

int vg__sse_start(int queue_len, int replay_len) {
  pthread_mutex_lock(&hub.lock);
  hub.queue_len = queue_len;
  hub.replay_len = replay_len;
  hub.replay = replay_len ? calloc((size_t)replay_len, sizeof(*hub.replay)) : NULL;
  hub.replay_head = hub.replay_count = 0;
  /* Ids grow over restarts too (milliseconds at start, then one by one),
   * so a client's Last-Event-ID from before a restart is never ahead. */
  hub.next_id = (uint64_t)(vg_time_utc_us() / 1000);
  hub.running = replay_len == 0 || hub.replay;
  int ok = hub.running;
  pthread_mutex_unlock(&hub.lock);
  return ok ? 0 : VG_ENOMEM;
}

void vg__sse_stop(void) {
  pthread_mutex_lock(&hub.lock);
  hub.running = false;
  for (struct vg_sse_client *cl = hub.clients; cl; cl = cl->next) {
    cl->closed = true;
    if (cl->wake) cl->wake(cl->wake_opaque);
  }
  for (int i = 0; i < hub.replay_count; i++)
    msg_unref(hub.replay[(hub.replay_head + i) % hub.replay_len]);
  free(hub.replay);
  hub.replay = NULL;
  hub.replay_count = 0;
  pthread_mutex_unlock(&hub.lock);
}

/* Queues m for cl (with the lock); false when the queue is full. */
static bool client_push(struct vg_sse_client *cl, sse_msg_t *m) {
  if (cl->count == hub.queue_len) return false;
  atomic_fetch_add(&m->refs, 1);
  cl->queue[(cl->head + cl->count) % hub.queue_len] = m;
  cl->count++;
  return true;
}

void vg__sse_publish(const char *camera, const char *json_text) {
  size_t n = strlen(json_text);
  sse_msg_t *m = malloc(sizeof(*m) + n + 48);
  if (!m) return;
  pthread_mutex_lock(&hub.lock);
  if (!hub.running) {
    pthread_mutex_unlock(&hub.lock);
    free(m);
    return;
  }
  atomic_init(&m->refs, 1);
  m->id = ++hub.next_id;
  snprintf(m->camera, sizeof(m->camera), "%s", camera);
  m->len = (size_t)sprintf(m->text, "id: %llu\ndata: ", (unsigned long long)m->id);
  memcpy(m->text + m->len, json_text, n);
  m->len += n;
  memcpy(m->text + m->len, "\n\n", 3);
  m->len += 2;
  for (struct vg_sse_client *cl = hub.clients; cl; cl = cl->next) {
    if (cl->closed || (cl->filter && !cl->filter(cl->opaque, camera))) continue;
    if (client_push(cl, m)) {
      atomic_fetch_add(&hub.counters.sent, 1);
    } else {
      /* Closing it makes the browser reconnect and replay what it missed. */
      cl->closed = true;
      atomic_fetch_add(&hub.counters.failed, 1);
    }
    if (cl->wake) cl->wake(cl->wake_opaque);
  }
  if (hub.replay_len) {
    if (hub.replay_count == hub.replay_len) {
      msg_unref(hub.replay[hub.replay_head]);
      hub.replay_head = (hub.replay_head + 1) % hub.replay_len;
      hub.replay_count--;
    }
    atomic_fetch_add(&m->refs, 1);
    hub.replay[(hub.replay_head + hub.replay_count) % hub.replay_len] = m;
    hub.replay_count++;
  }
  pthread_mutex_unlock(&hub.lock);
  msg_unref(m);
}

int vg_sse_open(vg_sse_filter_fn filter, void *opaque, void (*filter_free)(void *), uint64_t last_id,
                vg_sse_client_t **out) {
  struct vg_sse_client *cl = calloc(1, sizeof(*cl));
  if (!cl) return VG_ENOMEM;
  pthread_mutex_lock(&hub.lock);
  if (!hub.running) {
    pthread_mutex_unlock(&hub.lock);
    free(cl);
    return VG_ESTATE;
  }
  cl->queue = calloc((size_t)hub.queue_len, sizeof(*cl->queue));
  if (!cl->queue) {
    pthread_mutex_unlock(&hub.lock);
    free(cl);
    return VG_ENOMEM;
  }
  cl->filter = filter;
  cl->opaque = opaque;
  cl->filter_free = filter_free;
  /* The reconnect delay the browser should use, and a first byte so that
   * proxies and clients see the stream open at once. */
  cl->preamble_len = (size_t)snprintf(cl->preamble, sizeof(cl->preamble), "retry: 2000\n: vigil events\n\n");
  cl->last_write_us = vg_time_mono_us();
  for (int i = 0; last_id && i < hub.replay_count; i++) {
    sse_msg_t *m = hub.replay[(hub.replay_head + i) % hub.replay_len];
    if (m->id > last_id && (!filter || filter(opaque, m->camera))) client_push(cl, m);
  }
  cl->next = hub.clients;
  hub.clients = cl;
  hub.client_count++;
  pthread_mutex_unlock(&hub.lock);
  *out = cl;
  return 0;
}

void vg_sse_set_wake(vg_sse_client_t *cl, void (*wake)(void *), void *wake_opaque) {
  pthread_mutex_lock(&hub.lock);
  cl->wake = wake;
  cl->wake_opaque = wake_opaque;
  pthread_mutex_unlock(&hub.lock);
}

long vg_sse_read(vg_sse_client_t *cl, uint8_t *dst, size_t cap) {
  size_t used = 0;
  pthread_mutex_lock(&hub.lock);
  if (cl->preamble_off < cl->preamble_len) {
    size_t n = cl->preamble_len - cl->preamble_off;
    if (n > cap) n = cap;
    memcpy(dst, cl->preamble + cl->preamble_off, n);
    cl->preamble_off += n;
    used += n;
  }
  while (used < cap && cl->count) {
    sse_msg_t *m = cl->queue[cl->head];
    size_t n = m->len - cl->offset;
    if (n > cap - used) n = cap - used;
    memcpy(dst + used, m->text + cl->offset, n);
    used += n;
    cl->offset += n;
    if (cl->offset == m->len) {
      msg_unref(m);
      cl->queue[cl->head] = NULL;
      cl->head = (cl->head + 1) % hub.queue_len;
      cl->count--;
      cl->offset = 0;
    }
  }
  int64_t now = vg_time_mono_us();
  /* A closed client ends once a message it started is complete. */
  bool closed = cl->closed && cl->offset == 0;
  if (!used && !closed && now - cl->last_write_us >= KEEPALIVE_US && cap >= 3) {
    memcpy(dst, ":\n\n", 3);
    used = 3;
  }
  if (used) cl->last_write_us = now;
  pthread_mutex_unlock(&hub.lock);
  if (!used && closed) return VG_ECLOSED;
  return (long)used;
}

void vg_sse_close(vg_sse_client_t *cl) {
  if (!cl) return;
  pthread_mutex_lock(&hub.lock);
  for (struct vg_sse_client **p = &hub.clients; *p; p = &(*p)->next)
    if (*p == cl) {
      *p = cl->next;
      hub.client_count--;
      break;
    }
  for (int i = 0; i < cl->count; i++)
    msg_unref(cl->queue[(cl->head + i) % hub.queue_len]);
  pthread_mutex_unlock(&hub.lock);
  if (cl->filter_free) cl->filter_free(cl->opaque);
  free(cl->queue);
  free(cl);
}

vg__notify_counters_t *vg__sse_counters(void) { return &hub.counters; }

int vg__sse_clients(void) {
  pthread_mutex_lock(&hub.lock);
  int n = hub.client_count;
  pthread_mutex_unlock(&hub.lock);
  return n;
}
