/*
 * notify_internal.h: the pieces of the notifications module (notify.h),
 * shared between its files and its unit tests; not for other modules.
 *
 * Threads: as noted per piece.
 */
#ifndef VG_NOTIFY_INTERNAL_H
#define VG_NOTIFY_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analytics/analytics.h"
#include "base/strbuf.h"
#include "notify/notify.h"

/* Per channel and target, for /metrics. */
typedef struct {
  atomic_uint_fast64_t sent, failed, retries;
  atomic_long queued;
} vg__notify_counters_t;

/* ---- MQTT (mqtt.c) ---- */

/* What one camera looks like to MQTT: motion and the count of confirmed
 * tracked objects per label. Only the bus thread changes it; the MQTT
 * thread reads it under the client's lock when it (re)connects. */
#define VG__MQTT_MAX_LABELS 16
typedef struct {
  char camera[64];
  bool known_motion, motion;
  int label_count;
  struct {
    char label[24];
    int count;
  } labels[VG__MQTT_MAX_LABELS];
} vg__mqtt_camera_state_t;

/* Called for each retained state message a meta changes: topic suffix
 * "<camera>/motion" or "<camera>/<label>", payload, and whether a label
 * is new (its discovery config is due). */
typedef void (*vg__mqtt_emit_fn)(void *opaque, const char *suffix, const char *payload, bool new_label);
/* Updates st from one analytics meta and emits what changed. Pure. */
void vg__mqtt_state_update(vg__mqtt_camera_state_t *st, const vg_analytics_meta_t *meta,
                           vg__mqtt_emit_fn emit, void *opaque);
/* Home Assistant discovery: the config topic and payload of the motion
 * binary sensor (label NULL) or of a label's count sensor. */
int vg__mqtt_discovery(const vg_mqtt_config_t *cfg, const char *camera, const char *label, char *topic,
                       size_t topic_size, vg_strbuf_t *payload);

typedef struct vg__mqtt vg__mqtt_t;
/* db_path: the node's database (the event messages' queue). */
int vg__mqtt_start(const vg_mqtt_config_t *cfg, const char *db_path, const char *const *cameras,
                   int camera_count, vg__mqtt_t **out);
/* Publishes "offline", disconnects, joins the thread. */
void vg__mqtt_stop(vg__mqtt_t **m);
/* Queues an event message for PREFIX/events (bus thread). */
void vg__mqtt_event(vg__mqtt_t *m, const char *type, const char *json_text);
/* Motion and counts from an analytics meta (bus thread). */
void vg__mqtt_meta(vg__mqtt_t *m, const vg_analytics_meta_t *meta);
vg__notify_counters_t *vg__mqtt_counters(vg__mqtt_t *m);
bool vg__mqtt_connected(vg__mqtt_t *m);

/* ---- the webhook queue (queue.c): a table of the node's database ---- */

typedef struct vg__notify_queue vg__notify_queue_t;
typedef struct {
  int64_t row;
  char delivery[37];
  char type[8];
  char *body; /* malloc'd */
  size_t len;
  int attempts;    /* made so far */
  int64_t next_us; /* not before this (wall clock) */
} vg__notify_item_t;

/* Opens a connection and applies the module's schema. One per thread. */
int vg__queue_open(const char *db_path, vg__notify_queue_t **out);
void vg__queue_close(vg__notify_queue_t **q);
int vg__queue_push(vg__notify_queue_t *q, const char *endpoint, const char *delivery, const char *type,
                   const char *body, size_t len, int64_t now_us);
/* The endpoint's oldest item (free its body). VG_ENOTFOUND when empty. */
int vg__queue_peek(vg__notify_queue_t *q, const char *endpoint, vg__notify_item_t *out);
int vg__queue_done(vg__notify_queue_t *q, int64_t row);
int vg__queue_retry(vg__notify_queue_t *q, int64_t row, int attempts, int64_t next_us);
/* The endpoint's queued count, or a negative error. */
long vg__queue_count(vg__notify_queue_t *q, const char *endpoint);

/* ---- webhooks (webhook.c) ---- */

typedef struct vg__webhooks vg__webhooks_t;
int vg__webhooks_start(const vg_notify_config_t *cfg, const char *db_path, vg__webhooks_t **out);
void vg__webhooks_stop(vg__webhooks_t **w);
/* Queues body for every endpoint whose filter admits it (bus thread). */
void vg__webhooks_enqueue(vg__webhooks_t *w, const char *type, const vg_event_t *ev, const char *body);
/* Endpoint i's counters, NULL past the end. */
vg__notify_counters_t *vg__webhooks_counters(vg__webhooks_t *w, int i, const char **id);
/* How a finished POST is treated: 1 delivered, 0 retry, -1 drop. */
int vg__webhook_classify(int curl_ok, long status);

/* ---- SSE (sse.c) ---- */

int vg__sse_start(int queue_len, int replay_len);
void vg__sse_stop(void);
/* Queues json_text to every client that may see camera (bus thread). */
void vg__sse_publish(const char *camera, const char *json_text);
vg__notify_counters_t *vg__sse_counters(void);
int vg__sse_clients(void);

#endif
