#include "event/service.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analytics/analytics.h"
#include "base/error.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/strbuf.h"
#include "base/time.h"
#include "event/engine.h"
#include "event/evidence.h"
#include "record/index.h"
#include "record/trigger.h"

static const vg_log_ctx_t lg = {"events", NULL};

#define TICK_US 250000
#define EXPIRE_EVERY_US (60LL * 1000000)
#define MAX_SNAP_REQUESTS 64
#define MAX_POSTED 4096
#define MAX_COUNTERS 1024

typedef struct {
  void (*drain)(void *);
  void *arg;
} posted_t;

typedef struct {
  int64_t id;
  char camera[64];
  float box[4];
  int64_t frame_utc_us;
} snap_request_t;

typedef struct {
  char camera[64], kind[16], label[64];
  uint64_t count;
} counter_t;

typedef struct {
  const vg_event_config_t *cfg;
  vg_bus_t *bus;
  vg_bus_sub_t *sub_meta, *sub_trigger;
  pthread_t thread;
  bool running;

  /* Posted bus drains: q_mutex. */
  pthread_mutex_t q_mutex;
  pthread_cond_t q_cond;
  posted_t posted[MAX_POSTED];
  int posted_n;
  bool stopping;
  bool kicked; /* work or a new deadline from another thread (wake()) */

  /* Engine, store and snapshot requests: mutex. */
  pthread_mutex_t mutex;
  vg_db_t *db;
  vg_event_store_t *store;
  vg_event_engine_t *engine;
  snap_request_t snaps[MAX_SNAP_REQUESTS];
  int snap_n;
  int active;

  /* Counters: m_mutex (read by /metrics on the HTTP thread). */
  pthread_mutex_t m_mutex;
  counter_t events[MAX_COUNTERS];
  int event_n;
  counter_t suppressed[MAX_COUNTERS]; /* kind holds the reason */
  int suppressed_n;
  uint64_t snapshots, snapshot_failures;
} service_t;

static service_t svc_storage;
static service_t *svc; /* NULL while not running */

static void wake(service_t *s);

/* ---- metrics ---- */

static void count(counter_t *arr, int *n, const char *camera, const char *kind, const char *label) {
  pthread_mutex_lock(&svc_storage.m_mutex);
  int i = 0;
  for (; i < *n; i++)
    if (!strcmp(arr[i].camera, camera) && !strcmp(arr[i].kind, kind) && !strcmp(arr[i].label, label)) break;
  if (i == *n && *n < MAX_COUNTERS) {
    snprintf(arr[i].camera, sizeof(arr[i].camera), "%s", camera);
    snprintf(arr[i].kind, sizeof(arr[i].kind), "%s", kind);
    snprintf(arr[i].label, sizeof(arr[i].label), "%s", label);
    arr[i].count = 0;
    (*n)++;
  }
  if (i < *n) arr[i].count++;
  pthread_mutex_unlock(&svc_storage.m_mutex);
}

static void collect_metrics(void *opaque, vg_strbuf_t *out) {
  service_t *s = opaque;
  pthread_mutex_lock(&s->m_mutex);
  vg_metrics_family(out, "vigil_events_total", "counter",
                    "Events started, by camera, kind and label (class).");
  for (int i = 0; i < s->event_n; i++) {
    const char *labels[] = {"camera", s->events[i].camera, "kind", s->events[i].kind,
                            "label",  s->events[i].label,  NULL};
    vg_metrics_sample_u64(out, "vigil_events_total", labels, s->events[i].count);
  }
  vg_metrics_family(
      out, "vigil_events_suppressed_total", "counter",
      "Event candidates dropped: false_positive (learned mask), cooldown, confidence, duration.");
  for (int i = 0; i < s->suppressed_n; i++) {
    const char *labels[] = {"camera", s->suppressed[i].camera, "reason", s->suppressed[i].kind, NULL};
    vg_metrics_sample_u64(out, "vigil_events_suppressed_total", labels, s->suppressed[i].count);
  }
  vg_metrics_single_u64(out, "vigil_event_snapshots_total", "counter", "Event snapshots written.",
                        s->snapshots);
  vg_metrics_single_u64(out, "vigil_event_snapshot_failures_total", "counter",
                        "Event snapshots that could not be taken (no picture, decode or write error).",
                        s->snapshot_failures);
  pthread_mutex_unlock(&s->m_mutex);
  pthread_mutex_lock(&s->mutex);
  int active = s->active;
  pthread_mutex_unlock(&s->mutex);
  vg_metrics_single_u64(out, "vigil_events_active", "gauge", "Events in progress.", (uint64_t)active);
}

/* ---- publishing and locks (mutex held) ---- */

static void publish(service_t *s, const char *topic, const vg_event_t *ev) {
  if (!s->bus) return;
  vg_event_t *copy = malloc(sizeof(*copy));
  if (!copy) return;
  *copy = *ev;
  vg_bus_publish(s->bus, topic, copy, free);
}

void vg_event_clip_range(const vg_event_config_t *cfg, const vg_event_t *ev, int64_t now_us,
                         int64_t *start_us, int64_t *end_us) {
  int64_t end = ev->end_utc_us;
  if (!end) end = now_us > ev->start_utc_us ? now_us : ev->start_utc_us + 1;
  *start_us = ev->start_utc_us - (int64_t)cfg->pre_capture_s * 1000000;
  *end_us = end + (int64_t)cfg->post_capture_s * 1000000;
}

static bool wants_lock(const service_t *s, const vg_event_t *ev) {
  return !ev->false_positive || ev->retained || s->cfg->lock_false_positives;
}

/* Makes the event's lock match the lock rule: a new lock over the current
 * range is added before the old one goes, so the footage is never
 * unprotected in between. */
static void sync_lock(service_t *s, const vg_event_t *ev, int64_t old_lock) {
  vg_rec_index_t *ix = vg_record_thread_index();
  if (!ix) return;
  int64_t lock_id = 0;
  if (wants_lock(s, ev)) {
    vg_rec_lock_t lock = {0};
    snprintf(lock.camera, sizeof(lock.camera), "%s", ev->camera);
    vg_event_t bounded = *ev;
    if (!bounded.end_utc_us) bounded.end_utc_us = ev->start_utc_us + s->cfg->max_event_us;
    vg_event_clip_range(s->cfg, &bounded, 0, &lock.start_us, &lock.end_us);
    snprintf(lock.reason, sizeof(lock.reason), "event %lld", (long long)ev->id);
    int err = vg_rec_index_add_lock(ix, &lock);
    if (err) {
      vg_log_warn(&lg, "event %lld: no lock: %s", (long long)ev->id, vg_strerror(err));
      return;
    }
    lock_id = lock.id;
  }
  if (old_lock && old_lock != lock_id) vg_rec_index_delete_lock(ix, old_lock);
  if (old_lock != lock_id) vg_event_store_set_lock(s->store, ev->id, lock_id);
}

/* ---- engine callbacks (mutex held) ---- */

static int on_start(void *opaque, vg_event_t *ev) {
  service_t *s = opaque;
  int err = vg_event_store_insert(s->store, ev);
  if (err) {
    vg_log_error(&lg, "event of %s not stored: %s", ev->camera, vg_strerror(err));
    return err;
  }
  count(s->events, &s->event_n, ev->camera, ev->kind, ev->label);
  if (ev->active) {
    char reason[64];
    snprintf(reason, sizeof(reason), "event %lld", (long long)ev->id);
    vg_record_event_begin(ev->camera, reason);
    s->active++;
  }
  sync_lock(s, ev, 0);
  vg_log_info(&lg, "event %lld: %s %s %s on %s (%s)", (long long)ev->id, ev->kind, ev->label, ev->sensor,
              ev->camera, vg_event_severity_name(ev->severity));
  publish(s, VG_EVENT_TOPIC_START, ev);
  return 0;
}

static void on_update(void *opaque, const vg_event_t *ev) {
  service_t *s = opaque;
  vg_event_t stored;
  /* Flags set through the API live in the row; keep them. */
  vg_event_t copy = *ev;
  if (vg_event_store_get(s->store, ev->id, &stored, NULL) == 0) {
    copy.snapshot = stored.snapshot;
    copy.false_positive = stored.false_positive;
    copy.retained = stored.retained;
  }
  vg_event_store_update(s->store, &copy);
  publish(s, VG_EVENT_TOPIC_UPDATE, &copy);
}

static void on_end(void *opaque, const vg_event_t *ev) {
  service_t *s = opaque;
  vg_event_t copy = *ev, stored;
  vg_event_files_t files = {0};
  if (vg_event_store_get(s->store, ev->id, &stored, &files) == 0) {
    copy.snapshot = stored.snapshot;
    copy.false_positive = stored.false_positive;
    copy.retained = stored.retained;
  }
  vg_event_store_update(s->store, &copy);
  vg_record_event_end(ev->camera);
  if (s->active > 0) s->active--;
  sync_lock(s, &copy, files.lock_id);
  vg_log_info(&lg, "event %lld ended after %.1f s", (long long)ev->id,
              (ev->end_utc_us - ev->start_utc_us) / 1e6);
  publish(s, VG_EVENT_TOPIC_END, &copy);
}

static void on_snapshot(void *opaque, const vg_event_t *ev, int64_t frame_utc_us) {
  service_t *s = opaque;
  int i = 0;
  for (; i < s->snap_n; i++)
    if (s->snaps[i].id == ev->id) break;
  if (i == s->snap_n) {
    if (s->snap_n == MAX_SNAP_REQUESTS) return;
    s->snap_n++;
  }
  snap_request_t *r = &s->snaps[i];
  r->id = ev->id;
  snprintf(r->camera, sizeof(r->camera), "%s", ev->camera);
  memcpy(r->box, ev->box, sizeof(r->box));
  r->frame_utc_us = frame_utc_us;
  wake(s);
}

static void on_suppressed(void *opaque, const char *camera, const char *reason) {
  service_t *s = opaque;
  count(s->suppressed, &s->suppressed_n, camera, reason, "");
}

/* ---- bus ---- */

static void on_bus(void *opaque, const vg_bus_msg_t *msg) {
  service_t *s = opaque;
  pthread_mutex_lock(&s->mutex);
  if (!strcmp(msg->topic, VG_ANALYTICS_TOPIC_META))
    vg_event_engine_meta(s->engine, msg->data);
  else if (!strcmp(msg->topic, VG_ANALYTICS_TOPIC_TRIGGER))
    vg_event_engine_trigger(s->engine, msg->data);
  pthread_mutex_unlock(&s->mutex);
}

/* The bus hands its drains to the service thread. */
static int post_drain(void *target, void (*drain)(void *), void *arg) {
  service_t *s = target;
  pthread_mutex_lock(&s->q_mutex);
  int err = 0;
  if (s->stopping || s->posted_n == MAX_POSTED)
    err = VG_ECLOSED;
  else
    s->posted[s->posted_n++] = (posted_t){drain, arg};
  pthread_cond_signal(&s->q_cond);
  pthread_mutex_unlock(&s->q_mutex);
  return err;
}

/* Wakes the service thread for work that is not a posted drain: a snapshot
 * request or a manual event's end, which it would otherwise sleep past.
 * May be called with mutex held (mutex before q_mutex). */
static void wake(service_t *s) {
  pthread_mutex_lock(&s->q_mutex);
  s->kicked = true;
  pthread_cond_signal(&s->q_cond);
  pthread_mutex_unlock(&s->q_mutex);
}

/* ---- snapshots (no lock held while decoding) ---- */

static void snapshot_path(const char *camera, int64_t id, int64_t utc_us, const char *suffix, char *out,
                          size_t size) {
  char safe[64];
  size_t n = 0;
  for (const char *p = camera; *p && n + 1 < sizeof(safe); p++) {
    bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_' || (*p == '.' && n > 0);
    safe[n++] = ok ? *p : '_';
  }
  safe[n] = 0;
  time_t t = (time_t)(utc_us / 1000000);
  struct tm tm;
  gmtime_r(&t, &tm);
  snprintf(out, size, "%s/%04d/%02d/%02d/%lld%s.jpg", safe, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           (long long)id, suffix);
}

static void take_snapshot(service_t *s, const snap_request_t *r) {
  vg_rgb_image_t pic;
  int err = vg_evidence_grab(r->camera, r->frame_utc_us, &pic);
  uint8_t *snap = NULL, *thumb = NULL;
  size_t snap_len = 0, thumb_len = 0;
  if (!err) {
    vg_evidence_opts_t o = {.overlay = s->cfg->overlay,
                            .quality = s->cfg->jpeg_quality,
                            .max_bytes = (size_t)s->cfg->snapshot_max_kb * 1024,
                            .thumbnail_width = s->cfg->thumbnail_width};
    err = vg_evidence_render(&pic, r->box, &o, &snap, &snap_len, &thumb, &thumb_len);
    vg_rgb_image_free(&pic);
  }
  char rel[256], rel_thumb[256];
  int64_t day = vg_time_utc_us();
  pthread_mutex_lock(&s->mutex);
  vg_event_t ev;
  vg_event_files_t files;
  int found = vg_event_store_get(s->store, r->id, &ev, &files) == 0;
  pthread_mutex_unlock(&s->mutex);
  if (found && files.snapshot[0]) {
    /* Keep the first snapshot's paths (its day) for later, better ones. */
    snprintf(rel, sizeof(rel), "%s", files.snapshot);
    snprintf(rel_thumb, sizeof(rel_thumb), "%s", files.thumbnail);
  } else {
    snapshot_path(r->camera, r->id, found ? ev.start_utc_us : day, "", rel, sizeof(rel));
    snapshot_path(r->camera, r->id, found ? ev.start_utc_us : day, "-thumb", rel_thumb, sizeof(rel_thumb));
  }
  if (!err && found) err = vg_evidence_write(s->cfg->evidence_dir, rel, snap, snap_len);
  if (!err && found) err = vg_evidence_write(s->cfg->evidence_dir, rel_thumb, thumb, thumb_len);
  free(snap);
  free(thumb);
  pthread_mutex_lock(&s->m_mutex);
  if (err)
    s->snapshot_failures++;
  else if (found)
    s->snapshots++;
  pthread_mutex_unlock(&s->m_mutex);
  if (err == VG_ENODATA) {
    /* Analytics lagged past a keyframe: ask again at the latest frame. */
    vg_log_debug(&lg, "event %lld: the best frame of %s is gone; the next snapshot is of the latest",
                 (long long)r->id, r->camera);
    pthread_mutex_lock(&s->mutex);
    vg_event_engine_snapshot_failed(s->engine, r->id);
    pthread_mutex_unlock(&s->mutex);
    return;
  }
  if (err) {
    vg_log_warn(&lg, "event %lld: no snapshot of %s: %s", (long long)r->id, r->camera, vg_strerror(err));
    return;
  }
  if (!found) return;
  pthread_mutex_lock(&s->mutex);
  if (vg_event_store_set_files(s->store, r->id, rel, rel_thumb) == 0 && !ev.snapshot) {
    vg_event_engine_set_flags(s->engine, r->id, 1, -1, -1);
    vg_event_t cur;
    if (vg_event_engine_get(s->engine, r->id, &cur) != 0) {
      cur = ev;
      cur.snapshot = true;
    }
    cur.snapshot = true;
    publish(s, VG_EVENT_TOPIC_UPDATE, &cur);
  }
  pthread_mutex_unlock(&s->mutex);
}

/* A false positive teaches the mask both where its object triggered
 * (where the next identical one will trigger) and where it scored best.
 * mutex held. */
static void learn_boxes(service_t *s, const vg_event_t *ev, int64_t utc_us) {
  const float *boxes[2] = {ev->trigger_box, ev->box};
  for (int i = 0; i < 2; i++)
    if (boxes[i][2] > boxes[i][0] && boxes[i][3] > boxes[i][1])
      vg_event_engine_learn_false_positive(s->engine, ev->camera, ev->label, boxes[i], utc_us);
}

/* ---- expiry ---- */

typedef struct {
  int64_t ids[128];
  int n;
} id_list_t;

static int collect_id(void *opaque, const vg_event_t *ev, const vg_event_files_t *files) {
  (void)files;
  id_list_t *l = opaque;
  if (l->n < 128) l->ids[l->n++] = ev->id;
  return 0;
}

/* mutex held */
static int delete_locked(service_t *s, int64_t id) {
  vg_event_t ev;
  vg_event_files_t files;
  int err = vg_event_store_get(s->store, id, &ev, &files);
  if (err) return err;
  vg_rec_index_t *ix = vg_record_thread_index();
  if (files.lock_id && ix) vg_rec_index_delete_lock(ix, files.lock_id);
  vg_evidence_remove(s->cfg->evidence_dir, files.snapshot);
  vg_evidence_remove(s->cfg->evidence_dir, files.thumbnail);
  return vg_event_store_delete(s->store, id);
}

static void expire(service_t *s, int64_t now_us) {
  if (s->cfg->max_age_days <= 0) return;
  id_list_t l = {.n = 0};
  pthread_mutex_lock(&s->mutex);
  vg_event_store_expired(s->store, now_us - (int64_t)s->cfg->max_age_days * 86400 * 1000000, 128, collect_id,
                         &l);
  for (int i = 0; i < l.n; i++)
    delete_locked(s, l.ids[i]);
  pthread_mutex_unlock(&s->mutex);
  if (l.n) vg_log_info(&lg, "deleted %d events older than %d days", l.n, s->cfg->max_age_days);
}

/* ---- the thread ---- */

/* Waits on q_cond (CLOCK_MONOTONIC) until due_us (UTC), a posted drain,
 * wake() or stop. The wait is at most EXPIRE_EVERY_US, so that a step of
 * the wall clock delays a deadline by no more than that. q_mutex held. */
static void wait_until(service_t *s, int64_t due_us) {
  if (s->posted_n || s->stopping || s->kicked) return;
  int64_t left = due_us - vg_time_utc_us();
  if (left <= 0) return;
  if (left > EXPIRE_EVERY_US) left = EXPIRE_EVERY_US;
  struct timespec ts = vg_time_deadline(CLOCK_MONOTONIC, left);
  pthread_cond_timedwait(&s->q_cond, &s->q_mutex, &ts);
}

/* The thread sleeps until there is work: a posted drain, a snapshot
 * request, the engine's next deadline (while analytics candidates are open,
 * every TICK_US as before; a manual event's end; a track's expiry) or the
 * next expiry run. An idle node's thread wakes once a minute. */
static void *service_main(void *arg) {
  service_t *s = arg;
  pthread_setname_np(pthread_self(), "vg-events"); /* for top and perf */
  int64_t next_tick = 0, next_expire = 0, tick_due = 0;
  for (;;) {
    posted_t batch[64];
    int n = 0;
    pthread_mutex_lock(&s->q_mutex);
    wait_until(s, tick_due < next_expire ? tick_due : next_expire);
    s->kicked = false;
    bool stopping = s->stopping;
    while (n < 64 && n < s->posted_n)
      batch[n] = s->posted[n], n++;
    memmove(s->posted, s->posted + n, (size_t)(s->posted_n - n) * sizeof(posted_t));
    s->posted_n -= n;
    pthread_mutex_unlock(&s->q_mutex);
    for (int i = 0; i < n; i++)
      batch[i].drain(batch[i].arg);
    if (stopping) break;
    int64_t now = vg_time_utc_us();
    if (now >= next_tick && now >= tick_due) {
      next_tick = now + TICK_US;
      pthread_mutex_lock(&s->mutex);
      vg_event_engine_tick(s->engine, now);
      pthread_mutex_unlock(&s->mutex);
    }
    for (;;) {
      pthread_mutex_lock(&s->mutex);
      snap_request_t r;
      bool have = s->snap_n > 0;
      if (have) {
        r = s->snaps[0];
        memmove(s->snaps, s->snaps + 1, (size_t)(--s->snap_n) * sizeof(r));
      }
      pthread_mutex_unlock(&s->mutex);
      if (!have) break;
      take_snapshot(s, &r);
    }
    if (now >= next_expire) {
      next_expire = now + EXPIRE_EVERY_US;
      expire(s, now);
    }
    /* The next tick: when the engine has something due, no sooner than
     * TICK_US after the last one. */
    pthread_mutex_lock(&s->mutex);
    int64_t engine_due = vg_event_engine_next_due(s->engine);
    pthread_mutex_unlock(&s->mutex);
    tick_due = engine_due > next_tick ? engine_due : next_tick;
  }
  vg_record_thread_index_close();
  return NULL;
}

static int replay_fp(void *opaque, const vg_event_t *ev, const vg_event_files_t *files) {
  learn_boxes(opaque, ev, files->fp_utc_us);
  return 0;
}

static vg_event_engine_cbs_t engine_cbs = {on_start, on_update, on_end, on_snapshot, on_suppressed};

int vg_event_service_start(const vg_event_config_t *cfg, const char *db_path, vg_bus_t *bus) {
  if (!cfg->enabled) return 0;
  if (svc) return VG_ESTATE;
  service_t *s = &svc_storage;
  memset(s, 0, sizeof(*s));
  s->cfg = cfg;
  s->bus = bus;
  pthread_mutex_init(&s->q_mutex, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->q_cond, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&s->mutex, NULL);
  pthread_mutex_init(&s->m_mutex, NULL);
  int err = vg_db_open(db_path, &s->db);
  if (!err) err = vg_event_store_open(s->db, &s->store);
  if (!err) err = vg_event_engine_new(cfg, &engine_cbs, s, &s->engine);
  if (err) goto fail;
  int stale = vg_event_store_close_stale(s->store);
  if (stale > 0) vg_log_warn(&lg, "%d events left active by the last run were ended", stale);
  vg_event_store_false_positives(s->store, vg_time_utc_us() - 10 * cfg->fp_half_life_us, replay_fp, s);
  if (pthread_create(&s->thread, NULL, service_main, s) != 0) {
    err = VG_ENOMEM;
    goto fail;
  }
  s->running = true;
  if (bus) {
    vg_bus_sub_opts_t opts = {.queue_len = 1024, .post = post_drain, .post_target = s};
    err = vg_bus_subscribe(bus, VG_ANALYTICS_TOPIC_META, &opts, on_bus, s, &s->sub_meta);
    if (!err) err = vg_bus_subscribe(bus, VG_ANALYTICS_TOPIC_TRIGGER, &opts, on_bus, s, &s->sub_trigger);
  }
  svc = s;
  vg_metrics_register("events", collect_metrics, s);
  if (err) {
    vg_event_service_stop();
    return err;
  }
  vg_log_info(&lg, "events: evidence in %s, clips %d s before to %d s after", cfg->evidence_dir,
              cfg->pre_capture_s, cfg->post_capture_s);
  return 0;
fail:
  vg_log_error(&lg, "events not started: %s", vg_strerror(err));
  vg_event_engine_free(&s->engine);
  vg_event_store_close(&s->store);
  vg_db_close(&s->db);
  return err;
}

void vg_event_service_stop(void) {
  service_t *s = svc;
  if (!s) return;
  vg_metrics_unregister("events");
  /* Unsubscribing waits for a running callback; drains still queued for
   * the thread then find the subscriptions gone and do nothing. */
  pthread_mutex_lock(&s->q_mutex);
  s->stopping = true;
  pthread_cond_signal(&s->q_cond);
  pthread_mutex_unlock(&s->q_mutex);
  if (s->running) pthread_join(s->thread, NULL);
  vg_bus_unsubscribe(&s->sub_meta);
  vg_bus_unsubscribe(&s->sub_trigger);
  svc = NULL;
  /* Events still active end now, so that recording is released and the
   * rows are closed. */
  pthread_mutex_lock(&s->mutex);
  vg_event_engine_tick(s->engine, INT64_MAX / 2);
  vg_event_engine_free(&s->engine);
  vg_event_store_close(&s->store);
  vg_db_close(&s->db);
  pthread_mutex_unlock(&s->mutex);
  vg_record_thread_index_close();
}

const vg_event_config_t *vg_event_service_config(void) { return svc ? svc->cfg : NULL; }

/* ---- the API's operations ---- */

int vg_event_service_manual(const char *camera, const char *label, int severity, const char *labels,
                            int64_t start_us, int64_t end_us, vg_event_t *out) {
  service_t *s = svc;
  if (!s) return VG_ESTATE;
  int64_t now = vg_time_utc_us();
  pthread_mutex_lock(&s->mutex);
  vg_event_t ev;
  int err = vg_event_engine_manual(s->engine, camera, label, severity, labels, start_us, end_us, now, &ev);
  /* A picture of now for an event that is going on. */
  if (!err && ev.active) on_snapshot(s, &ev, now);
  pthread_mutex_unlock(&s->mutex);
  /* The thread may be asleep past the event's end: it learns the new deadline. */
  if (!err && ev.active) wake(s);
  if (!err && out) *out = ev;
  return err;
}

int vg_event_service_get(int64_t id, vg_event_t *out, vg_event_files_t *files) {
  service_t *s = svc;
  if (!s) return VG_ESTATE;
  pthread_mutex_lock(&s->mutex);
  int err = vg_event_store_get(s->store, id, out, files);
  /* An active event's figures are the engine's (the row is written at
   * start, at each trigger and at the end). */
  vg_event_t live;
  if (!err && out->active && vg_event_engine_get(s->engine, id, &live) == 0) {
    live.snapshot = out->snapshot;
    live.false_positive = out->false_positive;
    live.retained = out->retained;
    *out = live;
  }
  pthread_mutex_unlock(&s->mutex);
  return err;
}

int vg_event_service_query(const vg_event_query_t *q, vg_event_cb cb, void *opaque, int64_t *total) {
  service_t *s = svc;
  if (!s) return VG_ESTATE;
  pthread_mutex_lock(&s->mutex);
  int n = vg_event_store_query(s->store, q, cb, opaque, total);
  pthread_mutex_unlock(&s->mutex);
  return n;
}

/* Applies a flag change: row, engine copy, lock, message. mutex held. */
static int change_flags(service_t *s, int64_t id, int false_positive, int retained, vg_event_t *out) {
  vg_event_t ev;
  vg_event_files_t files;
  int64_t now = vg_time_utc_us();
  int err = vg_event_store_get(s->store, id, &ev, &files);
  if (err) return err;
  bool learn = false_positive == 1 && !ev.false_positive;
  err = vg_event_store_set_flags(s->store, id, false_positive, retained, now);
  if (err) return err;
  if (false_positive >= 0) ev.false_positive = false_positive;
  if (retained >= 0) ev.retained = retained;
  vg_event_engine_set_flags(s->engine, id, -1, false_positive, retained);
  if (learn && !ev.manual) learn_boxes(s, &ev, now);
  vg_event_t live;
  if (vg_event_engine_get(s->engine, id, &live) == 0) ev = live;
  sync_lock(s, &ev, files.lock_id);
  publish(s, VG_EVENT_TOPIC_UPDATE, &ev);
  if (out) *out = ev;
  return 0;
}

int vg_event_service_false_positive(int64_t id, vg_event_t *out) {
  service_t *s = svc;
  if (!s) return VG_ESTATE;
  pthread_mutex_lock(&s->mutex);
  int err = change_flags(s, id, 1, -1, out);
  pthread_mutex_unlock(&s->mutex);
  return err;
}

int vg_event_service_retain(int64_t id, bool retain, vg_event_t *out) {
  service_t *s = svc;
  if (!s) return VG_ESTATE;
  pthread_mutex_lock(&s->mutex);
  int err = change_flags(s, id, -1, retain, out);
  pthread_mutex_unlock(&s->mutex);
  return err;
}

int vg_event_service_delete(int64_t id) {
  service_t *s = svc;
  if (!s) return VG_ESTATE;
  pthread_mutex_lock(&s->mutex);
  vg_event_t live;
  /* An active event is deleted when it ends, not under the engine. */
  int err = vg_event_engine_get(s->engine, id, &live) == 0 ? VG_EBUSY : delete_locked(s, id);
  pthread_mutex_unlock(&s->mutex);
  return err;
}
