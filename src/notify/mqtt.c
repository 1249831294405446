/*
 * mqtt.c: the MQTT channel (notify.h; topics in docs/EVENTS.md).
 *
 * The connection runs on a thread of ours: it connects (retrying with
 * exponential backoff while the broker is down, also at start, which
 * mosquitto_loop_start does not do after a refused first connect) and
 * then runs mosquitto_loop_forever, which reconnects with libmosquitto's
 * exponential backoff (reconnect_min_ms to reconnect_max_ms) after a drop.
 * The broker keeps PREFIX/available at "offline" through the last will if
 * vigil dies. On every (re)connect vigil says "online" and republishes the
 * retained state (discovery configs, motion, counts), so a broker
 * restarted without persistence is whole again.
 *
 * Event messages go through the same durable queue as webhooks (queue.c,
 * endpoint "@mqtt", which no webhook id can be): the bus thread writes the
 * row, a sender thread publishes the oldest with QoS 1 and deletes it once
 * the broker's PUBACK arrived (on_publish), so messages wait out a broker
 * that is down and a vigil restart, and go out in order, at least once.
 * State messages (motion, counts) are published directly from the bus
 * thread (mosquitto_publish is thread-safe with a threaded loop).
 */
#include <errno.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "base/log.h"
#include "base/time.h"
#include "notify/notify_internal.h"

static const vg_log_ctx_t lg = {"mqtt", NULL};

#define MAX_CAMERAS 256

#define MQTT_QUEUE "@mqtt"
#define PUBACK_WAIT_MS 10000

struct vg__mqtt {
  const vg_mqtt_config_t *cfg;
  struct mosquitto *mosq;
  pthread_mutex_t lock; /* guards everything below */
  bool connected;
  vg__mqtt_camera_state_t cams[MAX_CAMERAS];
  int cam_count;
  /* The durable queue: the bus thread's connection, and the sender. */
  vg__notify_queue_t *enqueue_q;
  char db_path[512];
  pthread_t sender;
  int sender_started;
  pthread_mutex_t send_lock; /* guards the three below */
  pthread_cond_t send_cond;
  int send_signaled, waiting_mid, acked;
  vg__notify_counters_t counters;
  char available_topic[128];
  pthread_t thread;
  int thread_started;
  atomic_int stopping;
  pthread_mutex_t stop_lock;
  pthread_cond_t stop_cond;
};

/* ---- pure parts ---- */

void vg__mqtt_state_update(vg__mqtt_camera_state_t *st, const vg_analytics_meta_t *meta,
                           vg__mqtt_emit_fn emit, void *opaque) {
  char cam[64], suffix[160], payload[16];
  vg_notify_topic_level(st->camera, cam, sizeof(cam));
  if (!st->known_motion || st->motion != meta->motion) {
    st->known_motion = true;
    st->motion = meta->motion;
    snprintf(suffix, sizeof(suffix), "%s/motion", cam);
    emit(opaque, suffix, meta->motion ? "ON" : "OFF", false);
  }
  /* The counts in this frame, by label: confirmed tracks only, as a
   * person would count them. */
  int counts[VG__MQTT_MAX_LABELS] = {0};
  bool seen[VG__MQTT_MAX_LABELS] = {false};
  for (int i = 0; i < meta->n_objects; i++) {
    const vg_analytics_object_t *o = &meta->objects[i];
    if (!o->confirmed || !o->class_name[0] || !strcmp(o->class_name, "motion")) continue;
    int k = 0;
    while (k < st->label_count && strcmp(st->labels[k].label, o->class_name))
      k++;
    if (k == st->label_count) {
      if (k == VG__MQTT_MAX_LABELS) continue;
      snprintf(st->labels[k].label, sizeof(st->labels[k].label), "%s", o->class_name);
      st->labels[k].count = -1; /* never published */
      st->label_count++;
    }
    counts[k]++;
    seen[k] = true;
  }
  for (int k = 0; k < st->label_count; k++) {
    if (st->labels[k].count == counts[k]) continue;
    bool fresh = st->labels[k].count < 0;
    st->labels[k].count = counts[k];
    char label[32];
    vg_notify_topic_level(st->labels[k].label, label, sizeof(label));
    snprintf(suffix, sizeof(suffix), "%s/%s", cam, label);
    snprintf(payload, sizeof(payload), "%d", counts[k]);
    emit(opaque, suffix, payload, fresh && seen[k]);
  }
}

/* An id part for Home Assistant: letters, digits, '_' and '-' only. */
static void object_id(const char *in, char *out, size_t size) {
  size_t i = 0;
  for (; in[i] && i + 1 < size; i++) {
    char ch = in[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-';
    out[i] = ok ? ch : '_';
  }
  out[i] = '\0';
}

int vg__mqtt_discovery(const vg_mqtt_config_t *cfg, const char *camera, const char *label, char *topic,
                       size_t topic_size, vg_strbuf_t *payload) {
  char cam_id[64], label_id[32] = "", cam_level[64], label_level[32] = "", unique[128], state[256],
                   avail[128], name[128];
  object_id(camera, cam_id, sizeof(cam_id));
  vg_notify_topic_level(camera, cam_level, sizeof(cam_level));
  if (label) {
    object_id(label, label_id, sizeof(label_id));
    vg_notify_topic_level(label, label_level, sizeof(label_level));
    snprintf(unique, sizeof(unique), "vigil_%s_%s_count", cam_id, label_id);
    snprintf(topic, topic_size, "%s/sensor/%s/config", cfg->discovery_prefix, unique);
    snprintf(state, sizeof(state), "%s/%s/%s", cfg->topic_prefix, cam_level, label_level);
    snprintf(name, sizeof(name), "%s %s count", camera, label);
  } else {
    snprintf(unique, sizeof(unique), "vigil_%s_motion", cam_id);
    snprintf(topic, topic_size, "%s/binary_sensor/%s/config", cfg->discovery_prefix, unique);
    snprintf(state, sizeof(state), "%s/%s/motion", cfg->topic_prefix, cam_level);
    snprintf(name, sizeof(name), "%s motion", camera);
  }
  snprintf(avail, sizeof(avail), "%s/available", cfg->topic_prefix);
  char device_id[96];
  snprintf(device_id, sizeof(device_id), "vigil_%s", cam_id);
  json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:[s], s:s, s:s, s:s}}", "name", name, "unique_id",
                        unique, "object_id", unique, "state_topic", state, "availability_topic", avail,
                        "payload_available", "online", "device", "identifiers", device_id, "name", camera,
                        "manufacturer", "vigil", "model", "camera");
  if (!o) return VG_ENOMEM;
  if (label) {
    json_object_set_new(o, "state_class", json_string("measurement"));
    json_object_set_new(o, "unit_of_measurement", json_string("objects"));
    json_object_set_new(o, "icon", json_string("mdi:counter"));
  } else {
    json_object_set_new(o, "device_class", json_string("motion"));
    json_object_set_new(o, "payload_on", json_string("ON"));
    json_object_set_new(o, "payload_off", json_string("OFF"));
  }
  json_object_set_new(o, "payload_not_available", json_string("offline"));
  char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(o);
  if (!text) return VG_ENOMEM;
  int err = vg_strbuf_puts(payload, text);
  free(text);
  return err;
}

/* ---- the client ---- */

/* Publishes with the prefix; called with or without the lock (libmosquitto
 * has its own). */
static int publish(vg__mqtt_t *m, const char *suffix, const char *payload, int qos, bool retain) {
  char topic[512];
  snprintf(topic, sizeof(topic), "%s/%s", m->cfg->topic_prefix, suffix);
  return mosquitto_publish(m->mosq, NULL, topic, (int)strlen(payload), payload, qos, retain);
}

static void publish_discovery(vg__mqtt_t *m, const char *camera, const char *label) {
  if (!m->cfg->discovery_prefix[0]) return;
  char topic[512];
  vg_strbuf_t payload;
  vg_strbuf_init(&payload, 1 << 16);
  if (vg__mqtt_discovery(m->cfg, camera, label, topic, sizeof(topic), &payload) == 0)
    mosquitto_publish(m->mosq, NULL, topic, (int)payload.len, payload.data, 1, true);
  vg_strbuf_free(&payload);
}

/* Wakes the sender (something queued, connected, acknowledged, stop). */
static void signal_sender(vg__mqtt_t *m) {
  pthread_mutex_lock(&m->send_lock);
  m->send_signaled = 1;
  pthread_cond_broadcast(&m->send_cond);
  pthread_mutex_unlock(&m->send_lock);
}

static void on_publish(struct mosquitto *mosq, void *opaque, int mid) {
  vg__mqtt_t *m = opaque;
  pthread_mutex_lock(&m->send_lock);
  if (mid == m->waiting_mid) m->acked = 1;
  pthread_cond_broadcast(&m->send_cond);
  pthread_mutex_unlock(&m->send_lock);
}

/* Waits until signaled or ms pass; with send_lock held. */
static void sender_wait(vg__mqtt_t *m, int64_t ms) {
  struct timespec ts = vg_time_deadline(CLOCK_REALTIME, ms * 1000);
  if (!m->send_signaled && !atomic_load(&m->stopping))
    pthread_cond_timedwait(&m->send_cond, &m->send_lock, &ts);
  m->send_signaled = 0;
}

static bool is_connected(vg__mqtt_t *m) {
  pthread_mutex_lock(&m->lock);
  bool c = m->connected;
  pthread_mutex_unlock(&m->lock);
  return c;
}

/* Publishes item with QoS 1 and waits for its PUBACK. Returns 1 when the
 * broker acknowledged it. */
static int publish_and_wait(vg__mqtt_t *m, const vg__notify_item_t *item) {
  char topic[128];
  snprintf(topic, sizeof(topic), "%s/events", m->cfg->topic_prefix);
  int mid = 0, acked = 0;
  /* send_lock is held across the publish so that on_publish cannot see
   * the PUBACK before the message id is recorded. */
  pthread_mutex_lock(&m->send_lock);
  int rc = mosquitto_publish(m->mosq, &mid, topic, (int)item->len, item->body, 1, false);
  if (rc == MOSQ_ERR_SUCCESS) {
    m->waiting_mid = mid;
    m->acked = 0;
    int64_t deadline = vg_time_mono_us() + PUBACK_WAIT_MS * 1000LL;
    while (!m->acked && !atomic_load(&m->stopping) && vg_time_mono_us() < deadline)
      sender_wait(m, 200);
    acked = m->acked;
    m->waiting_mid = 0;
  }
  pthread_mutex_unlock(&m->send_lock);
  return acked;
}

/* Sends the queue in order while connected. */
static void *sender_thread(void *arg) {
  vg__mqtt_t *m = arg;
  vg__notify_queue_t *q = NULL;
  if (vg__queue_open(m->db_path, &q) != 0) {
    vg_log_error(&lg, "event messages not sent: no database");
    return NULL;
  }
  while (!atomic_load(&m->stopping)) {
    vg__notify_item_t item;
    int err = is_connected(m) ? vg__queue_peek(q, MQTT_QUEUE, &item) : VG_ENOTFOUND;
    if (err) {
      pthread_mutex_lock(&m->send_lock);
      sender_wait(m, 1000);
      pthread_mutex_unlock(&m->send_lock);
      continue;
    }
    if (publish_and_wait(m, &item)) {
      vg__queue_done(q, item.row);
      atomic_fetch_add(&m->counters.sent, 1);
      atomic_fetch_sub(&m->counters.queued, 1);
    } else if (!atomic_load(&m->stopping)) {
      /* Not acknowledged (the connection went, or the broker is slow):
       * the row stays and is published again, with the same content. */
      vg__queue_retry(q, item.row, item.attempts + 1, 0);
      atomic_fetch_add(&m->counters.retries, 1);
      pthread_mutex_lock(&m->send_lock);
      sender_wait(m, 500);
      pthread_mutex_unlock(&m->send_lock);
    }
    free(item.body);
  }
  vg__queue_close(&q);
  return NULL;
}

typedef struct {
  vg__mqtt_t *m;
  const char *camera;
} emit_ctx_t;

static void on_connect(struct mosquitto *mosq, void *opaque, int rc) {
  vg__mqtt_t *m = opaque;
  if (rc != 0) {
    vg_log_warn(&lg, "broker %s:%d refused the connection: %s", m->cfg->host, m->cfg->port,
                mosquitto_connack_string(rc));
    return;
  }
  vg_log_info(&lg, "connected to %s:%d", m->cfg->host, m->cfg->port);
  pthread_mutex_lock(&m->lock);
  m->connected = true;
  mosquitto_publish(mosq, NULL, m->available_topic, 6, "online", 1, true);
  char cam[64], suffix[160], payload[16], label[32];
  for (int i = 0; i < m->cam_count; i++) {
    vg__mqtt_camera_state_t *st = &m->cams[i];
    publish_discovery(m, st->camera, NULL);
    vg_notify_topic_level(st->camera, cam, sizeof(cam));
    snprintf(suffix, sizeof(suffix), "%s/motion", cam);
    publish(m, suffix, st->known_motion && st->motion ? "ON" : "OFF", 1, true);
    for (int k = 0; k < st->label_count; k++) {
      if (st->labels[k].count < 0) continue;
      publish_discovery(m, st->camera, st->labels[k].label);
      vg_notify_topic_level(st->labels[k].label, label, sizeof(label));
      snprintf(suffix, sizeof(suffix), "%s/%s", cam, label);
      snprintf(payload, sizeof(payload), "%d", st->labels[k].count);
      publish(m, suffix, payload, 1, true);
    }
  }
  pthread_mutex_unlock(&m->lock);
  signal_sender(m);
}

static void on_disconnect(struct mosquitto *mosq, void *opaque, int rc) {
  vg__mqtt_t *m = opaque;
  pthread_mutex_lock(&m->lock);
  bool was = m->connected;
  m->connected = false;
  pthread_mutex_unlock(&m->lock);
  if (was && rc != 0) vg_log_warn(&lg, "lost the broker %s:%d; reconnecting", m->cfg->host, m->cfg->port);
  signal_sender(m);
}

static void on_log(struct mosquitto *mosq, void *opaque, int level, const char *text) {
  vg_log_debug(&lg, "mosquitto: %s", text);
}

static vg__mqtt_camera_state_t *camera_state(vg__mqtt_t *m, const char *camera) {
  for (int i = 0; i < m->cam_count; i++)
    if (!strcmp(m->cams[i].camera, camera)) return &m->cams[i];
  if (m->cam_count == MAX_CAMERAS) return NULL;
  vg__mqtt_camera_state_t *st = &m->cams[m->cam_count++];
  memset(st, 0, sizeof(*st));
  snprintf(st->camera, sizeof(st->camera), "%s", camera);
  return st;
}

/* Sleeps ms unless stop is asked first. */
static void sleep_unless_stopping(vg__mqtt_t *m, int64_t ms) {
  struct timespec ts = vg_time_deadline(CLOCK_REALTIME, ms * 1000);
  pthread_mutex_lock(&m->stop_lock);
  if (!atomic_load(&m->stopping)) pthread_cond_timedwait(&m->stop_cond, &m->stop_lock, &ts);
  pthread_mutex_unlock(&m->stop_lock);
}

static void *mqtt_thread(void *arg) {
  vg__mqtt_t *m = arg;
  const vg_mqtt_config_t *cfg = m->cfg;
  int64_t delay = cfg->reconnect_min_ms;
  bool warned = false;
  while (!atomic_load(&m->stopping)) {
    int rc = mosquitto_connect(m->mosq, cfg->host, cfg->port, cfg->keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) {
      if (!warned)
        vg_log_warn(&lg, "broker %s:%d not reachable (%s); retrying", cfg->host, cfg->port,
                    rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
      warned = true;
      sleep_unless_stopping(m, delay);
      delay = delay * 2 > cfg->reconnect_max_ms ? cfg->reconnect_max_ms : delay * 2;
      continue;
    }
    delay = cfg->reconnect_min_ms;
    warned = false;
    /* Returns when vg__mqtt_stop disconnects, or on an error it does not
     * retry itself (then the loop above connects again). */
    rc = mosquitto_loop_forever(m->mosq, 1000, 1);
    if (!atomic_load(&m->stopping)) {
      vg_log_warn(&lg, "MQTT loop ended: %s; reconnecting", mosquitto_strerror(rc));
      sleep_unless_stopping(m, delay);
    }
  }
  return NULL;
}

int vg__mqtt_start(const vg_mqtt_config_t *cfg, const char *db_path, const char *const *cameras,
                   int camera_count, vg__mqtt_t **out) {
  *out = NULL;
  if (!cfg->enabled) return 0;
  mosquitto_lib_init();
  vg__mqtt_t *m = calloc(1, sizeof(*m));
  if (!m) return VG_ENOMEM;
  m->cfg = cfg;
  pthread_mutex_init(&m->lock, NULL);
  pthread_mutex_init(&m->stop_lock, NULL);
  pthread_cond_init(&m->stop_cond, NULL);
  pthread_mutex_init(&m->send_lock, NULL);
  pthread_cond_init(&m->send_cond, NULL);
  snprintf(m->db_path, sizeof(m->db_path), "%s", db_path);
  int qerr = vg__queue_open(db_path, &m->enqueue_q);
  if (qerr) {
    vg_log_error(&lg, "MQTT not started: the queue's database: %s", vg_strerror(qerr));
    vg__mqtt_stop(&m);
    return qerr;
  }
  long queued = vg__queue_count(m->enqueue_q, MQTT_QUEUE);
  atomic_store(&m->counters.queued, queued > 0 ? queued : 0);
  if (queued > 0) vg_log_info(&lg, "%ld event messages queued from before", queued);
  snprintf(m->available_topic, sizeof(m->available_topic), "%s/available", cfg->topic_prefix);
  for (int i = 0; i < camera_count; i++)
    camera_state(m, cameras[i]);
  m->mosq = mosquitto_new(cfg->client_id, true, m);
  int err = m->mosq ? 0 : VG_ENOMEM;
  if (!err && cfg->username[0])
    err = mosquitto_username_pw_set(m->mosq, cfg->username, cfg->password[0] ? cfg->password : NULL)
              ? VG_EINVAL
              : 0;
  if (!err && cfg->tls) {
    if (mosquitto_tls_set(m->mosq, cfg->tls_ca_file[0] ? cfg->tls_ca_file : NULL,
                          cfg->tls_ca_file[0] ? NULL : "/etc/ssl/certs", NULL, NULL, NULL) ||
        mosquitto_tls_insecure_set(m->mosq, cfg->tls_insecure))
      err = VG_EINVAL;
  }
  if (!err && mosquitto_will_set(m->mosq, m->available_topic, 7, "offline", 1, true)) err = VG_EINVAL;
  if (err) {
    vg_log_error(&lg, "MQTT not started: %s", vg_strerror(err));
    vg__mqtt_stop(&m);
    return err;
  }
  mosquitto_connect_callback_set(m->mosq, on_connect);
  mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
  mosquitto_publish_callback_set(m->mosq, on_publish);
  mosquitto_log_callback_set(m->mosq, on_log);
  unsigned min_s = (unsigned)(cfg->reconnect_min_ms + 999) / 1000,
           max_s = (unsigned)(cfg->reconnect_max_ms + 999) / 1000;
  mosquitto_reconnect_delay_set(m->mosq, min_s, max_s < min_s ? min_s : max_s, true);
  mosquitto_threaded_set(m->mosq, true);
  /* A broker that is down now is not an error: the thread keeps trying. */
  int rc = pthread_create(&m->thread, NULL, mqtt_thread, m);
  if (rc) {
    vg__mqtt_stop(&m);
    return -rc;
  }
  m->thread_started = 1;
  if ((rc = pthread_create(&m->sender, NULL, sender_thread, m)) != 0) {
    vg__mqtt_stop(&m);
    return -rc;
  }
  m->sender_started = 1;
  vg_log_info(&lg, "publishing to %s:%d under %s/", cfg->host, cfg->port, cfg->topic_prefix);
  *out = m;
  return 0;
}

void vg__mqtt_stop(vg__mqtt_t **mp) {
  vg__mqtt_t *m = *mp;
  if (!m) return;
  *mp = NULL;
  if (m->sender_started) {
    atomic_store(&m->stopping, 1);
    signal_sender(m);
    pthread_join(m->sender, NULL);
  }
  if (m->mosq) {
    pthread_mutex_lock(&m->lock);
    bool connected = m->connected;
    pthread_mutex_unlock(&m->lock);
    if (connected) {
      int mid = 0;
      mosquitto_publish(m->mosq, &mid, m->available_topic, 7, "offline", 1, true);
    }
    /* A clean DISCONNECT: the broker drops the last will, and "offline"
     * above is what subscribers see. */
    pthread_mutex_lock(&m->stop_lock);
    atomic_store(&m->stopping, 1);
    pthread_cond_signal(&m->stop_cond);
    pthread_mutex_unlock(&m->stop_lock);
    mosquitto_disconnect(m->mosq);
    if (m->thread_started) pthread_join(m->thread, NULL);
    mosquitto_destroy(m->mosq);
  }
  vg__queue_close(&m->enqueue_q);
  pthread_mutex_destroy(&m->lock);
  pthread_mutex_destroy(&m->stop_lock);
  pthread_cond_destroy(&m->stop_cond);
  pthread_mutex_destroy(&m->send_lock);
  pthread_cond_destroy(&m->send_cond);
  free(m);
  mosquitto_lib_cleanup();
}

void vg__mqtt_event(vg__mqtt_t *m, const char *type, const char *json_text) {
  if (!m) return;
  if (atomic_load(&m->counters.queued) >= m->cfg->queue_max) {
    atomic_fetch_add(&m->counters.failed, 1);
    vg_log_warn(&lg, "an event message was dropped: %ld are waiting for the broker",
                (long)atomic_load(&m->counters.queued));
    return;
  }
  char id[37];
  vg_notify_uuid(id);
  int err =
      vg__queue_push(m->enqueue_q, MQTT_QUEUE, id, type, json_text, strlen(json_text), vg_time_utc_us());
  if (err) {
    atomic_fetch_add(&m->counters.failed, 1);
    vg_log_error(&lg, "an event message was not queued: %s", vg_strerror(err));
    return;
  }
  atomic_fetch_add(&m->counters.queued, 1);
  signal_sender(m);
}

static void emit_state(void *opaque, const char *suffix, const char *payload, bool new_label) {
  emit_ctx_t *ctx = opaque;
  if (!ctx->m->connected) return; /* republished from the state on connect */
  if (new_label) {
    const char *label = strrchr(suffix, '/');
    vg__mqtt_camera_state_t *st = camera_state(ctx->m, ctx->camera);
    /* The label's own name (the suffix's level may have been escaped). */
    for (int k = 0; st && label && k < st->label_count; k++) {
      char level[32];
      vg_notify_topic_level(st->labels[k].label, level, sizeof(level));
      if (!strcmp(level, label + 1)) publish_discovery(ctx->m, ctx->camera, st->labels[k].label);
    }
  }
  publish(ctx->m, suffix, payload, 1, true);
}

void vg__mqtt_meta(vg__mqtt_t *m, const vg_analytics_meta_t *meta) {
  if (!m) return;
  pthread_mutex_lock(&m->lock);
  int known = m->cam_count;
  vg__mqtt_camera_state_t *st = camera_state(m, meta->camera);
  /* A camera added after the start gets its motion sensor announced. */
  if (st && m->cam_count > known && m->connected) publish_discovery(m, meta->camera, NULL);
  emit_ctx_t ctx = {m, meta->camera};
  if (st) vg__mqtt_state_update(st, meta, emit_state, &ctx);
  pthread_mutex_unlock(&m->lock);
}

vg__notify_counters_t *vg__mqtt_counters(vg__mqtt_t *m) { return m ? &m->counters : NULL; }

bool vg__mqtt_connected(vg__mqtt_t *m) {
  if (!m) return false;
  pthread_mutex_lock(&m->lock);
  bool c = m->connected;
  pthread_mutex_unlock(&m->lock);
  return c;
}
