/* Unit tests for the event engine and its parts, driven with scripted
 * times: grouping of one object's or sensor's triggers, the cool-down,
 * confidence on the median of an object's scores (not one frame), minimum
 * duration, schedules, manual events; the learned false-positive mask and
 * its decay, with the effect on a scripted scene; rules from the
 * configuration; storage and queries (filters, text, pagination, totals). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/error.h"
#include "db/db.h"
#include "event/engine.h"
#include "event/evidence.h"
#include "event/fpmask.h"
#include "event/rules.h"
#include "event/store.h"

#define SEC 1000000LL
#define T0 (1795000000LL * SEC) /* a Saturday, 2026-11-18 ... in UTC; see test_schedule */

/* ---- a recording of the engine's callbacks ---- */

typedef struct {
  vg_event_t started[64];
  int starts;
  vg_event_t ended[64];
  int ends;
  int updates;
  int snapshots;
  int suppressed;
  char last_reason[32];
  int64_t next_id;
} rec_t;

static int on_start(void *o, vg_event_t *ev) {
  rec_t *r = o;
  ev->id = ++r->next_id;
  if (r->starts < 64) r->started[r->starts] = *ev;
  r->starts++;
  return 0;
}
static void on_update(void *o, const vg_event_t *ev) {
  (void)ev;
  ((rec_t *)o)->updates++;
}
static void on_end(void *o, const vg_event_t *ev) {
  rec_t *r = o;
  if (r->ends < 64) r->ended[r->ends] = *ev;
  r->ends++;
}
static void on_snapshot(void *o, const vg_event_t *ev, int64_t utc) {
  (void)ev, (void)utc;
  ((rec_t *)o)->snapshots++;
}
static void on_suppressed(void *o, const char *camera, const char *reason) {
  (void)camera;
  rec_t *r = o;
  r->suppressed++;
  snprintf(r->last_reason, sizeof(r->last_reason), "%s", reason);
}

static const vg_event_engine_cbs_t cbs = {on_start, on_update, on_end, on_snapshot, on_suppressed};

static vg_analytics_trigger_t trig(const char *sensor, const char *kind, uint32_t track, int64_t utc) {
  vg_analytics_trigger_t t;
  memset(&t, 0, sizeof(t));
  snprintf(t.camera, sizeof(t.camera), "cam1");
  snprintf(t.sensor, sizeof(t.sensor), "%s", sensor);
  snprintf(t.kind, sizeof(t.kind), "%s", kind);
  t.track_id = track;
  t.label = track ? 0 : -1;
  snprintf(t.class_name, sizeof(t.class_name), "%s", track ? "person" : "");
  t.utc_us = t.frame_utc_us = utc;
  return t;
}

/* One analysed frame with one person at box (detected: the detector ran). */
static void meta(vg_event_engine_t *e, uint32_t track, float score, const float box[4], int64_t utc) {
  static vg_analytics_meta_t m;
  memset(&m, 0, sizeof(m));
  snprintf(m.camera, sizeof(m.camera), "cam1");
  m.utc_us = utc;
  m.detected = true;
  m.n_objects = 1;
  vg_analytics_object_t *o = &m.objects[0];
  o->track_id = track;
  snprintf(o->class_name, sizeof(o->class_name), "person");
  o->score = score;
  o->x1 = box[0], o->y1 = box[1], o->x2 = box[2], o->y2 = box[3];
  o->confirmed = true;
  vg_event_engine_meta(e, &m);
}

static const float BOX_A[4] = {0.40f, 0.30f, 0.50f, 0.70f};
static const float BOX_B[4] = {0.05f, 0.10f, 0.15f, 0.50f};

static vg_event_engine_t *engine(vg_event_config_t *cfg, rec_t *r) {
  memset(r, 0, sizeof(*r));
  vg_event_engine_t *e = NULL;
  assert_int_equal(vg_event_engine_new(cfg, &cbs, r, &e), 0);
  return e;
}

/* ---- engine ---- */

static void test_grouping_and_end(void **state) {
  (void)state;
  vg_event_config_t cfg;
  vg_event_config_defaults(&cfg);
  cfg.group_window_us = 5 * SEC;
  rec_t r;
  vg_event_engine_t *e = engine(&cfg, &r);
  /* Three triggers of one object within the window: one event. */
  meta(e, 7, 0.8f, BOX_A, T0);
  vg_analytics_trigger_t t = trig("zone1", "enter", 7, T0);
  vg_event_engine_trigger(e, &t);
  t = trig("line1", "line_cross", 7, T0 + 2 * SEC);
  vg_event_engine_trigger(e, &t);
  t = trig("zone1", "exit", 7, T0 + 6 * SEC);
  vg_event_engine_trigger(e, &t);
  assert_int_equal(r.starts, 1);
  assert_int_equal(r.updates, 2);
  assert_string_equal(r.started[0].kind, "enter");
  vg_event_engine_tick(e, T0 + 10 * SEC);
  assert_int_equal(r.ends, 0); /* 4 s after the last trigger: still open */
  vg_event_engine_tick(e, T0 + 11 * SEC + 1);
  assert_int_equal(r.ends, 1);
  assert_int_equal(r.ended[0].triggers, 3);
  assert_int_equal(r.ended[0].end_utc_us, T0 + 6 * SEC);
  /* Past the window, the same object makes a new event. */
  meta(e, 7, 0.8f, BOX_A, T0 + 20 * SEC);
  t = trig("zone1", "enter", 7, T0 + 20 * SEC);
  vg_event_engine_trigger(e, &t);
  assert_int_equal(r.starts, 2);
  /* Triggers without an object group by sensor; another sensor is another event. */
  t = trig("tamper", "tamper", 0, T0 + 21 * SEC);
  vg_event_engine_trigger(e, &t);
  t = trig("tamper", "tamper", 0, T0 + 22 * SEC);
  vg_event_engine_trigger(e, &t);
  t = trig("zone2", "occupancy", 0, T0 + 22 * SEC);
  vg_event_engine_trigger(e, &t);
  assert_int_equal(r.starts, 4);
  vg_event_engine_free(&e);
}

static void test_sightings_keep_event_open(void **state) {
  (void)state;
  vg_event_config_t cfg;
  vg_event_config_defaults(&cfg);
  cfg.group_window_us = 3 * SEC;
  rec_t r;
  vg_event_engine_t *e = engine(&cfg, &r);
  vg_analytics_trigger_t t = trig("zone1", "enter", 9, T0);
  vg_event_engine_trigger(e, &t);
  /* The object stays in view for 10 s after one trigger. */
  for (int i = 0; i <= 10; i++) {
    meta(e, 9, 0.7f, BOX_A, T0 + i * SEC);
    vg_event_engine_tick(e, T0 + i * SEC);
  }
  assert_int_equal(r.ends, 0);
  vg_event_engine_tick(e, T0 + 14 * SEC);
  assert_int_equal(r.ends, 1);
  assert_int_equal(r.ended[0].end_utc_us, T0 + 10 * SEC);
  /* An object whose frame's metadata never comes is decided without its
   * box after two seconds. */
  t = trig("zone1", "enter", 42, T0 + 20 * SEC);
  vg_event_engine_trigger(e, &t);
  vg_event_engine_tick(e, T0 + 21 * SEC);
  assert_int_equal(r.starts, 1);
  vg_event_engine_tick(e, T0 + 22 * SEC + 1);
  assert_int_equal(r.starts, 2);
  vg_event_engine_free(&e);
}

static void test_cooldown(void **state) {
  (void)state;
  vg_event_config_t cfg;
  vg_event_config_defaults(&cfg);
  cfg.group_window_us = 2 * SEC;
  cfg.cooldown_us = 30 * SEC;
  rec_t r;
  vg_event_engine_t *e = engine(&cfg, &r);
  meta(e, 1, 0.8f, BOX_A, T0);
  vg_analytics_trigger_t t = trig("line1", "line_cross", 1, T0);
  vg_event_engine_trigger(e, &t);
  vg_event_engine_tick(e, T0 + 3 * SEC);
  assert_int_equal(r.ends, 1);
  /* Another object on the same line and class 10 s later: cooling down. */
  meta(e, 2, 0.8f, BOX_A, T0 + 10 * SEC);
  t = trig("line1", "line_cross", 2, T0 + 10 * SEC);
  vg_event_engine_trigger(e, &t);
  assert_int_equal(r.starts, 1);
  assert_int_equal(r.suppressed, 1);
  assert_string_equal(r.last_reason, "cooldown");
  /* Another sensor is not cooling down. */
  meta(e, 3, 0.8f, BOX_B, T0 + 10 * SEC);
  t = trig("zone1", "enter", 3, T0 + 10 * SEC);
  vg_event_engine_trigger(e, &t);
  assert_int_equal(r.starts, 2);
  /* After the cool-down (from the end at T0), the line starts events again. */
  meta(e, 4, 0.8f, BOX_A, T0 + 31 * SEC);
  t = trig("line1", "line_cross", 4, T0 + 31 * SEC);
  vg_event_engine_trigger(e, &t);
  assert_int_equal(r.starts, 3);
  vg_event_engine_free(&e);
}

static vg_event_rule_t rule_with(float min_conf, int64_t min_dur) {
  vg_event_rule_t rule;
  memset(&rule, 0, sizeof(rule));
  rule.min_confidence = min_conf;
  rule.min_duration_us = min_dur;
  rule.severity = VG_EVENT_SEVERITY_HIGH;
  snprintf(rule.labels, sizeof(rule.labels), "perimeter,night");
  return rule;
}

static void test_median_confidence(void **state) {
  (void)state;
  vg_event_config_t cfg;
  vg_event_config_defaults(&cfg);
  cfg.group_window_us = 2 * SEC;
  vg_event_rule_t rule = rule_with(0.6f, 0);
  cfg.rules = &rule;
  cfg.rule_count = 1;
  rec_t r;
  vg_event_engine_t *e = engine(&cfg, &r);
  /* One frame at 0.95 among many at 0.3: the median is low, no event. */
  float scores[] = {0.3f, 0.95f, 0.3f, 0.32f, 0.28f};
  for (int i = 0; i < 5; i++)
    meta(e, 5, scores[i], BOX_A, T0 + i * 200000);
  vg_analytics_trigger_t t = trig("zone1", "enter", 5, T0 + SEC);
  vg_event_engine_trigger(e, &t);
  assert_int_equal(r.starts, 0);
  vg_event_engine_tick(e, T0 + 4 * SEC);
  assert_int_equal(r.starts, 0);
  assert_int_equal(r.suppressed, 1);
  assert_string_equal(r.last_reason, "confidence");
  /* A steady 0.7 with one bad frame: the median passes. */
  float good[] = {0.7f, 0.72f, 0.1f, 0.69f, 0.71f};
  for (int i = 0; i < 5; i++)
    meta(e, 6, good[i], BOX_A, T0 + 5 * SEC + i * 200000);
  t = trig("zone1", "enter", 6, T0 + 5 * SEC + 800000); /* the last frame's trigger */
  vg_event_engine_trigger(e, &t);
  assert_int_equal(r.starts, 1);
  assert_true(r.started[0].median_score > 0.69f && r.started[0].median_score < 0.71f);
  assert_true(r.started[0].best_score > 0.71f);
  assert_int_equal(r.started[0].severity, VG_EVENT_SEVERITY_HIGH);
  assert_string_equal(r.started[0].labels, "perimeter,night");
  /* A candidate becomes an event once its median rises. */
  meta(e, 8, 0.4f, BOX_A, T0 + 10 * SEC);
  t = trig("zone1", "enter", 8, T0 + 10 * SEC);
  vg_event_engine_trigger(e, &t);
  assert_int_equal(r.starts, 1);
  meta(e, 8, 0.8f, BOX_A, T0 + 10 * SEC + 200000);
  meta(e, 8, 0.8f, BOX_A, T0 + 10 * SEC + 400000);
  assert_int_equal(r.starts, 2);
  assert_int_equal(r.started[1].start_utc_us, T0 + 10 * SEC); /* from its first trigger */
  assert_true(vg_event_median((float[]){3, 1, 2}, 3) == 2);
  assert_true(vg_event_median((float[]){4, 1, 2, 3}, 4) == 2.5f);
  vg_event_engine_free(&e);
}

static void test_min_duration(void **state) {
  (void)state;
  vg_event_config_t cfg;
  vg_event_config_defaults(&cfg);
  cfg.group_window_us = 2 * SEC;
  vg_event_rule_t rule = rule_with(0, 3 * SEC);
  cfg.rules = &rule;
  cfg.rule_count = 1;
  rec_t r;
  vg_event_engine_t *e = engine(&cfg, &r);
  /* Seen for 1 s only: dropped for its duration. */
  vg_analytics_trigger_t t = trig("zone1", "enter", 3, T0);
  vg_event_engine_trigger(e, &t);
  meta(e, 3, 0.9f, BOX_A, T0 + SEC);
  vg_event_engine_tick(e, T0 + 4 * SEC);
  assert_int_equal(r.starts, 0);
  assert_string_equal(r.last_reason, "duration");
  /* Seen for 3 s: an event, starting at the trigger. */
  t = trig("zone1", "enter", 4, T0 + 10 * SEC);
  vg_event_engine_trigger(e, &t);
  for (int i = 1; i <= 3; i++)
    meta(e, 4, 0.9f, BOX_A, T0 + 10 * SEC + i * SEC);
  assert_int_equal(r.starts, 1);
  assert_int_equal(r.started[0].start_utc_us, T0 + 10 * SEC);
  assert_true(r.snapshots >= 1);
  vg_event_engine_free(&e);
}

static void test_schedule(void **state) {
  (void)state;
  vg_event_config_t cfg;
  vg_event_config_defaults(&cfg);
  vg_event_rule_t rule = rule_with(0, 0);
  /* Active 22:00-06:00 UTC every day. */
  snprintf(rule.schedule.tz, sizeof(rule.schedule.tz), "UTC");
  rule.schedule.n = 1;
  rule.schedule.ranges[0] = (vg_time_range_t){0x7f, 22 * 60, 6 * 60};
  cfg.rules = &rule;
  cfg.rule_count = 1;
  rec_t r;
  vg_event_engine_t *e = engine(&cfg, &r);
  int64_t midnight = T0 - T0 % (86400 * SEC);
  vg_analytics_trigger_t t = trig("zone1", "enter", 0, midnight + 12 * 3600 * SEC); /* noon: off */
  vg_event_engine_trigger(e, &t);
  assert_int_equal(r.starts, 0);
  t = trig("zone1", "enter", 0, midnight + 23 * 3600 * SEC); /* 23:00: on */
  vg_event_engine_trigger(e, &t);
  t = trig("zone2", "enter", 0, midnight + 86400 * SEC + 5 * 3600 * SEC); /* 05:00 next day: on */
  vg_event_engine_trigger(e, &t);
  assert_int_equal(r.starts, 2);
  vg_event_engine_free(&e);
}

static void test_manual_events(void **state) {
  (void)state;
  vg_event_config_t cfg;
  vg_event_config_defaults(&cfg);
  rec_t r;
  vg_event_engine_t *e = engine(&cfg, &r);
  vg_event_t ev;
  /* In the future: active until its end. */
  assert_int_equal(vg_event_engine_manual(e, "cam1", "doorbell", 1, "front", T0, T0 + 30 * SEC, T0, &ev), 0);
  assert_true(ev.active && ev.manual && ev.id == 1);
  assert_string_equal(ev.kind, "manual");
  vg_event_engine_tick(e, T0 + 29 * SEC);
  assert_int_equal(r.ends, 0);
  assert_int_equal(vg_event_engine_get(e, 1, &ev), 0);
  vg_event_engine_tick(e, T0 + 30 * SEC);
  assert_int_equal(r.ends, 1);
  assert_int_equal(r.ended[0].end_utc_us, T0 + 30 * SEC);
  /* In the past: stored as ended, never active, no end callback. */
  assert_int_equal(vg_event_engine_manual(e, "cam1", "note", 0, "", T0 - 60 * SEC, T0 - 50 * SEC, T0, &ev),
                   0);
  assert_false(ev.active);
  assert_int_equal(ev.end_utc_us, T0 - 50 * SEC);
  vg_event_engine_tick(e, T0 + 100 * SEC);
  assert_int_equal(r.ends, 1);
  assert_int_equal(vg_event_engine_manual(e, "cam1", "x", 0, "", T0, T0, T0, &ev), VG_EINVAL);
  assert_int_equal(vg_event_engine_manual(e, "", "x", 0, "", T0, T0 + 1, T0, &ev), VG_EINVAL);
  vg_event_engine_free(&e);
}

/* What the service thread sleeps until: nothing on a fresh engine, a manual
 * event's end, the analytics' cadence while a candidate is open, and a
 * track's expiry after that. */
static void test_next_due(void **state) {
  (void)state;
  vg_event_config_t cfg;
  vg_event_config_defaults(&cfg);
  cfg.group_window_us = 5 * SEC;
  rec_t r;
  vg_event_engine_t *e = engine(&cfg, &r);
  assert_true(vg_event_engine_next_due(e) == INT64_MAX);
  vg_event_t ev;
  assert_int_equal(vg_event_engine_manual(e, "cam1", "doorbell", 1, "", T0, T0 + 30 * SEC, T0, &ev), 0);
  assert_true(vg_event_engine_next_due(e) == T0 + 30 * SEC);
  vg_event_engine_tick(e, T0 + 30 * SEC);
  assert_int_equal(r.ends, 1);
  assert_true(vg_event_engine_next_due(e) == INT64_MAX);
  /* An object seen: its track expires TRACK_TTL (120 s) after it was last seen. */
  meta(e, 7, 0.8f, BOX_A, T0 + 40 * SEC);
  assert_true(vg_event_engine_next_due(e) == T0 + 160 * SEC + 1);
  /* A trigger opens a candidate: tick at the caller's cadence. */
  vg_analytics_trigger_t t = trig("zone1", "enter", 7, T0 + 40 * SEC);
  vg_event_engine_trigger(e, &t);
  assert_int_equal(r.starts, 2); /* the manual event and this one */
  assert_true(vg_event_engine_next_due(e) == INT64_MIN);
  vg_event_engine_tick(e, T0 + 46 * SEC);
  assert_int_equal(r.ends, 2);
  assert_true(vg_event_engine_next_due(e) == T0 + 160 * SEC + 1);
  vg_event_engine_tick(e, T0 + 160 * SEC);
  assert_true(vg_event_engine_next_due(e) == T0 + 160 * SEC + 1);
  vg_event_engine_tick(e, T0 + 160 * SEC + 1);
  assert_true(vg_event_engine_next_due(e) == INT64_MAX);
  vg_event_engine_free(&e);
}

/* ---- false-positive masks ---- */

static void test_fpmask_decay(void **state) {
  (void)state;
  vg_fpmask_set_t *s = NULL;
  int64_t half = 3600 * SEC;
  assert_int_equal(vg_fpmask_set_new(16, half, &s), 0);
  assert_int_equal(vg_fpmask_add(s, "cam1", "person", BOX_A, T0), 0);
  float here = vg_fpmask_score(s, "cam1", "person", BOX_A, T0);
  assert_true(here > 0.9f && here <= 1.0f);
  /* Elsewhere, another class, another camera: nothing. */
  assert_true(vg_fpmask_score(s, "cam1", "person", BOX_B, T0) == 0);
  assert_true(vg_fpmask_score(s, "cam1", "car", BOX_A, T0) == 0);
  assert_true(vg_fpmask_score(s, "cam2", "person", BOX_A, T0) == 0);
  /* Half after one half-life, a quarter after two. */
  float h1 = vg_fpmask_score(s, "cam1", "person", BOX_A, T0 + half);
  float h2 = vg_fpmask_score(s, "cam1", "person", BOX_A, T0 + 2 * half);
  assert_true(h1 / here > 0.49f && h1 / here < 0.51f);
  assert_true(h2 / here > 0.24f && h2 / here < 0.26f);
  /* A box half over the marked place scores about half. */
  float shifted[4] = {0.45f, 0.30f, 0.55f, 0.70f};
  float part = vg_fpmask_score(s, "cam1", "person", shifted, T0);
  assert_true(part > 0.3f && part < 0.7f);
  /* Marking again after decay brings the place back up; never above 1. */
  assert_int_equal(vg_fpmask_add(s, "cam1", "person", BOX_A, T0 + half), 0);
  float again = vg_fpmask_score(s, "cam1", "person", BOX_A, T0 + half);
  assert_true(again > 0.9f && again <= 1.0f);
  /* A mark older than the mask (replayed at start) counts with its own decay. */
  assert_int_equal(vg_fpmask_add(s, "cam1", "person", BOX_B, T0), 0);
  float old = vg_fpmask_score(s, "cam1", "person", BOX_B, T0 + half);
  assert_true(old > 0.4f && old < 0.51f);
  float empty[4] = {0.5f, 0.5f, 0.5f, 0.6f};
  assert_int_equal(vg_fpmask_add(s, "cam1", "person", empty, T0), VG_EINVAL);
  assert_int_equal(vg_fpmask_count(s), 1);
  vg_fpmask_set_free(&s);
}

/* The scene: a person crosses line1 at BOX_A every 20 s (a flag waving in
 * the wind, say), and another crosses elsewhere (BOX_B) every 20 s. Ten
 * loops before and ten after the operator marks the first BOX_A event a
 * false positive; with a half-life of a day the mask holds for the
 * second half. Counts: events per place before and after. */
static void run_scene(vg_event_engine_t *e, rec_t *r, int64_t from, int loops, int *events_a, int *events_b) {
  *events_a = *events_b = 0;
  static uint32_t next_track = 100;
  for (int i = 0; i < loops; i++) {
    int64_t t0 = from + i * 20 * SEC;
    int before = r->starts;
    uint32_t ta = next_track++, tb = next_track++;
    for (int k = 0; k < 4; k++) {
      meta(e, ta, 0.6f, BOX_A, t0 + k * 200000);
      meta(e, tb, 0.6f, BOX_B, t0 + k * 200000);
    }
    /* Each trigger comes from a frame before that frame's metadata, whose
     * box decides. */
    vg_analytics_trigger_t t = trig("line1", "line_cross", ta, t0 + 800000);
    vg_event_engine_trigger(e, &t);
    t = trig("line2", "line_cross", tb, t0 + 800000);
    vg_event_engine_trigger(e, &t);
    assert_int_equal(r->starts, before);
    meta(e, ta, 0.6f, BOX_A, t0 + 800000);
    *events_a += r->starts - before;
    before = r->starts;
    meta(e, tb, 0.6f, BOX_B, t0 + 800000);
    *events_b += r->starts - before;
    vg_event_engine_tick(e, t0 + 15 * SEC);
  }
}

static void test_false_positive_suppresses_scene(void **state) {
  (void)state;
  vg_event_config_t cfg;
  vg_event_config_defaults(&cfg);
  cfg.group_window_us = 5 * SEC;
  cfg.fp_half_life_us = 86400 * SEC;
  rec_t r;
  vg_event_engine_t *e = engine(&cfg, &r);
  int a1, b1, a2, b2;
  run_scene(e, &r, T0, 10, &a1, &b1);
  assert_int_equal(a1, 10);
  assert_int_equal(b1, 10);
  /* The operator marks the first line1 event. */
  const vg_event_t *fp = NULL;
  for (int i = 0; i < r.ends && !fp; i++)
    if (!strcmp(r.ended[i].sensor, "line1")) fp = &r.ended[i];
  assert_non_null(fp);
  assert_int_equal(vg_event_engine_learn_false_positive(e, "cam1", "person", fp->trigger_box, T0 + 200 * SEC),
                   0);
  int suppressed_before = r.suppressed;
  run_scene(e, &r, T0 + 200 * SEC, 10, &a2, &b2);
  assert_int_equal(a2, 0);
  assert_int_equal(b2, 10);
  assert_int_equal(r.suppressed - suppressed_before, 10);
  assert_string_equal(r.last_reason, "false_positive");
  print_message("false-positive scene: line1 %d -> %d events, line2 %d -> %d, %d suppressed\n", a1, a2, b1,
                b2, r.suppressed - suppressed_before);
  /* A week later (7 half-lives) the mask has faded: events again. */
  run_scene(e, &r, T0 + 7 * 86400 * SEC, 1, &a2, &b2);
  assert_int_equal(a2, 1);
  vg_event_engine_free(&e);
}

/* ---- configuration ---- */

static void test_config_rules(void **state) {
  (void)state;
  const char *text = "{\"events\": {\"group_window_s\": 4, \"cooldown_s\": 2.5, \"overlay\": \"crop\", "
                     "\"fp_half_life_h\": 2,"
                     " \"rules\": [{\"kinds\": [\"tamper\"], \"severity\": \"critical\"}]},"
                     " \"cameras\": [{\"id\": \"cam1\", \"events\": {\"rules\": [{\"sensors\": [\"gate\"], "
                     "\"classes\": [\"person\"],"
                     "   \"min_confidence\": 0.6, \"min_duration_s\": 1.5, \"severity\": \"high\", "
                     "\"labels\": [\"a\", \"b\"],"
                     "   \"schedule\": {\"tz\": \"UTC\", \"ranges\": [{\"days\": [\"mon\"], \"start\": "
                     "\"22:00\", \"end\": \"06:00\"}]}},"
                     "  {\"classes\": [\"cat\"], \"ignore\": true}]}},"
                     "  {\"id\": \"cam2\"}]}";
  vg_cfg_t c;
  memset(&c, 0, sizeof(c));
  json_t *root = NULL;
  assert_int_equal(vg_cfg_load_string(&c, text, &root), 0);
  vg_event_config_t cfg;
  assert_int_equal(
      vg_event_config_parse(&c, json_object_get(root, "events"), json_object_get(root, "cameras"), &cfg), 0);
  assert_int_equal(cfg.group_window_us, 4 * SEC);
  assert_int_equal(cfg.cooldown_us, 2500000);
  assert_int_equal(cfg.overlay, VG_EVENT_OVERLAY_CROP);
  assert_int_equal(cfg.fp_half_life_us, 2 * 3600 * SEC);
  assert_int_equal(cfg.camera_count, 1);
  /* The camera object no longer holds "events" (the camera parser would refuse it). */
  assert_null(json_object_get(json_array_get(json_object_get(root, "cameras"), 0), "events"));
  const vg_event_rule_t *r = vg_event_rule_find(&cfg, "cam1", "gate", "line_cross", "person");
  assert_non_null(r);
  assert_int_equal(r->severity, VG_EVENT_SEVERITY_HIGH);
  assert_true(r->min_confidence > 0.59f && r->min_confidence < 0.61f);
  assert_int_equal(r->min_duration_us, 1500000);
  assert_string_equal(r->labels, "a,b");
  assert_int_equal(r->schedule.n, 1);
  assert_true(vg_event_rule_find(&cfg, "cam1", "gate", "enter", "cat")->ignore);
  /* cam1, another sensor: the node's rules; only tamper. */
  assert_null(vg_event_rule_find(&cfg, "cam1", "yard", "enter", "person"));
  assert_int_equal(vg_event_rule_find(&cfg, "cam2", "tamper", "tamper", "")->severity,
                   VG_EVENT_SEVERITY_CRITICAL);
  vg_event_config_free(&cfg);
  json_decref(root);

  /* Errors name the field. */
  const char *bad[] = {
      "{\"events\": {\"rules\": [{\"severity\": \"urgent\"}]}}",
      "{\"events\": {\"group_window_s\": 0}}",
      "{\"events\": {\"bogus\": 1}}",
      "{\"cameras\": [{\"id\": \"c\", \"events\": {\"rules\": [{\"min_confidence\": 2}]}}]}",
      "{\"events\": {\"rules\": [{\"schedule\": {\"tz\": \"Mars/Olympus\"}}]}}",
  };
  const char *where[] = {"severity", "group_window_s", "bogus", "min_confidence", "tz"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    memset(&c, 0, sizeof(c));
    assert_int_equal(vg_cfg_load_string(&c, bad[i], &root), 0);
    assert_int_equal(
        vg_event_config_parse(&c, json_object_get(root, "events"), json_object_get(root, "cameras"), &cfg),
        VG_ECONFIG);
    if (!strstr(c.err_path, where[i])) fail_msg("%s: %s %s", bad[i], c.err_path, c.err_reason);
    vg_event_config_free(&cfg);
    json_decref(root);
  }
  /* Without any rule, everything is a candidate of severity medium. */
  vg_event_config_defaults(&cfg);
  assert_int_equal(vg_event_rule_find(&cfg, "x", "y", "enter", "dog")->severity, VG_EVENT_SEVERITY_MEDIUM);
}

/* ---- storage ---- */

typedef struct {
  int64_t ids[64];
  int n;
} ids_t;

static int collect(void *o, const vg_event_t *ev, const vg_event_files_t *f) {
  (void)f;
  ids_t *l = o;
  if (l->n < 64) l->ids[l->n++] = ev->id;
  return 0;
}

static void test_store_query(void **state) {
  (void)state;
  vg_db_t *db = NULL;
  vg_event_store_t *st = NULL;
  assert_int_equal(vg_db_open(":memory:", &db), 0);
  assert_int_equal(vg_event_store_open(db, &st), 0);
  /* 20 events: cam1/cam2 alternating, a second apart, every fifth high. */
  for (int i = 0; i < 20; i++) {
    vg_event_t ev;
    memset(&ev, 0, sizeof(ev));
    snprintf(ev.camera, sizeof(ev.camera), "cam%d", 1 + i % 2);
    snprintf(ev.sensor, sizeof(ev.sensor), i < 10 ? "gate" : "yard");
    snprintf(ev.kind, sizeof(ev.kind), "enter");
    snprintf(ev.label, sizeof(ev.label), i % 3 ? "person" : "car");
    snprintf(ev.labels, sizeof(ev.labels), i == 7 ? "front_door,50%%off" : "");
    ev.severity = i % 5 == 0 ? VG_EVENT_SEVERITY_HIGH : VG_EVENT_SEVERITY_LOW;
    ev.start_utc_us = T0 + i * SEC;
    ev.end_utc_us = T0 + i * SEC + 500000;
    ev.box[2] = ev.box[3] = 0.5f;
    ev.trigger_box[2] = ev.trigger_box[3] = 0.25f;
    assert_int_equal(vg_event_store_insert(st, &ev), 0);
    assert_int_equal(ev.id, i + 1);
  }
  vg_event_query_t q;
  ids_t l = {.n = 0};
  int64_t total = 0;
  vg_event_query_init(&q);
  assert_int_equal(vg_event_store_query(st, &q, collect, &l, &total), 20);
  assert_int_equal(total, 20);
  assert_int_equal(l.ids[0], 20); /* newest first */
  /* Camera, class, sensor, severity, time range. */
  vg_event_query_init(&q);
  snprintf(q.camera, sizeof(q.camera), "cam1");
  snprintf(q.label, sizeof(q.label), "car");
  l.n = 0;
  assert_int_equal(vg_event_store_query(st, &q, collect, &l, &total), 4); /* 0, 6, 12, 18 */
  assert_int_equal(total, 4);
  vg_event_query_init(&q);
  snprintf(q.sensor, sizeof(q.sensor), "yard");
  q.min_severity = VG_EVENT_SEVERITY_HIGH;
  l.n = 0;
  assert_int_equal(vg_event_store_query(st, &q, collect, &l, &total), 2); /* 10, 15 */
  assert_int_equal(l.ids[0], 16);
  assert_int_equal(l.ids[1], 11);
  vg_event_query_init(&q);
  q.start_us = T0 + 5 * SEC + 600000; /* after event 6 (index 5) ended */
  q.end_us = T0 + 8 * SEC;            /* before index 8 starts */
  l.n = 0;
  assert_int_equal(vg_event_store_query(st, &q, collect, &l, &total), 2); /* indexes 6, 7 */
  /* Free text, with LIKE's wildcards taken literally. */
  vg_event_query_init(&q);
  snprintf(q.text, sizeof(q.text), "door");
  l.n = 0;
  assert_int_equal(vg_event_store_query(st, &q, collect, &l, &total), 1);
  assert_int_equal(l.ids[0], 8);
  snprintf(q.text, sizeof(q.text), "50%%");
  assert_int_equal(vg_event_store_query(st, &q, collect, &l, &total), 1);
  snprintf(q.text, sizeof(q.text), "_");
  assert_int_equal(vg_event_store_query(st, &q, collect, &l, &total), 1); /* front_door only */
  /* Pages by cursor cover everything once, in order; offset too. */
  vg_event_query_init(&q);
  q.limit = 6;
  int64_t seen = 0, last = 1000;
  for (int page = 0; page < 10; page++) {
    l.n = 0;
    int n = vg_event_store_query(st, &q, collect, &l, &total);
    assert_int_equal(total, 20);
    for (int i = 0; i < l.n; i++) {
      assert_true(l.ids[i] < last);
      last = l.ids[i];
    }
    seen += n;
    if (n < q.limit) break;
    vg_event_t ev;
    assert_int_equal(vg_event_store_get(st, last, &ev, NULL), 0);
    q.has_cursor = true;
    q.cursor_start_us = ev.start_utc_us;
    q.cursor_id = ev.id;
  }
  assert_int_equal(seen, 20);
  vg_event_query_init(&q);
  q.limit = 5;
  q.offset = 18;
  l.n = 0;
  assert_int_equal(vg_event_store_query(st, &q, collect, &l, &total), 2);
  assert_int_equal(l.ids[1], 1);
  /* A camera set (a user's cameras). */
  const char *mine[] = {"cam2", "cam9"};
  vg_event_query_init(&q);
  q.cameras = mine;
  q.camera_count = 2;
  assert_int_equal(vg_event_store_query(st, &q, collect, &l, &total), 10);
  q.camera_count = 0;
  assert_int_equal(vg_event_store_query(st, &q, collect, &l, &total), 0);
  /* Flags, files, lock, round trip, expiry, delete. */
  assert_int_equal(vg_event_store_set_flags(st, 3, 1, 1, T0 + 99 * SEC), 0);
  assert_int_equal(vg_event_store_set_files(st, 3, "cam1/3.jpg", "cam1/3-thumb.jpg"), 0);
  assert_int_equal(vg_event_store_set_lock(st, 3, 42), 0);
  vg_event_t ev;
  vg_event_files_t files;
  assert_int_equal(vg_event_store_get(st, 3, &ev, &files), 0);
  assert_true(ev.false_positive && ev.retained && ev.snapshot);
  assert_true(ev.box[2] == 0.5f && ev.trigger_box[3] == 0.25f);
  assert_string_equal(files.thumbnail, "cam1/3-thumb.jpg");
  assert_int_equal(files.lock_id, 42);
  assert_int_equal(files.fp_utc_us, T0 + 99 * SEC);
  l.n = 0;
  assert_int_equal(vg_event_store_false_positives(st, T0, collect, &l), 1);
  l.n = 0;
  /* Ended before T0 + 5 s and not retained: 1, 2, 4, 5 (3 is retained). */
  assert_int_equal(vg_event_store_expired(st, T0 + 5 * SEC, 100, collect, &l), 4);
  assert_int_equal(l.ids[2], 4);
  assert_int_equal(vg_event_store_delete(st, 4), 0);
  assert_int_equal(vg_event_store_get(st, 4, &ev, NULL), VG_ENOENT);
  assert_int_equal(vg_event_store_delete(st, 4), VG_ENOENT);
  ev.id = 999;
  assert_int_equal(vg_event_store_update(st, &ev), VG_ENOENT);
  vg_event_store_close(&st);
  vg_db_close(&db);
}

static void test_store_closes_stale(void **state) {
  (void)state;
  vg_db_t *db = NULL;
  vg_event_store_t *st = NULL;
  assert_int_equal(vg_db_open(":memory:", &db), 0);
  assert_int_equal(vg_event_store_open(db, &st), 0);
  vg_event_t ev;
  memset(&ev, 0, sizeof(ev));
  snprintf(ev.camera, sizeof(ev.camera), "cam1");
  snprintf(ev.kind, sizeof(ev.kind), "enter");
  ev.active = true;
  ev.start_utc_us = T0;
  ev.update_utc_us = T0 + 4 * SEC;
  assert_int_equal(vg_event_store_insert(st, &ev), 0);
  assert_int_equal(vg_event_store_close_stale(st), 1);
  assert_int_equal(vg_event_store_get(st, ev.id, &ev, NULL), 0);
  assert_false(ev.active);
  assert_int_equal(ev.end_utc_us, T0 + 4 * SEC);
  vg_event_store_close(&st);
  vg_db_close(&db);
}

/* ---- pictures ---- */

static void test_jpeg_size_search(void **state) {
  (void)state;
  /* A noisy 640x360 picture compresses badly: the limit forces a lower quality. */
  vg_rgb_image_t img = {640, 360, 640 * 3, malloc(640 * 360 * 3)};
  uint32_t x = 12345;
  for (int i = 0; i < 640 * 360 * 3; i++) {
    x = x * 1103515245u + 12345u;
    img.rgb[i] = (uint8_t)(x >> 24);
  }
  uint8_t *jpg = NULL;
  size_t len = 0, free_len;
  int q = 0;
  assert_int_equal(vg_evidence_jpeg(&img, 90, 0, &jpg, &free_len, &q), 0);
  assert_int_equal(q, 90);
  assert_true(jpg[0] == 0xff && jpg[1] == 0xd8);
  free(jpg);
  size_t limit = free_len / 3;
  assert_int_equal(vg_evidence_jpeg(&img, 90, limit, &jpg, &len, &q), 0);
  assert_true(len <= limit);
  assert_true(q < 90 && q >= 10);
  free(jpg);
  /* The box is drawn in its colour on the edge, not inside. */
  float box[4] = {0.25f, 0.25f, 0.75f, 0.75f};
  vg_evidence_draw_box(&img, box);
  const uint8_t *edge = img.rgb + (size_t)90 * img.stride + 160 * 3;
  assert_true(edge[0] == 255 && edge[1] == 48 && edge[2] == 0);
  vg_evidence_opts_t o = {VG_EVENT_OVERLAY_CROP, 80, 0, 100};
  uint8_t *snap, *thumb;
  size_t snap_len, thumb_len;
  assert_int_equal(vg_evidence_render(&img, box, &o, &snap, &snap_len, &thumb, &thumb_len), 0);
  assert_true(snap_len > 0 && thumb_len > 0 && thumb_len < snap_len);
  free(snap);
  free(thumb);
  vg_rgb_image_free(&img);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_grouping_and_end),   cmocka_unit_test(test_sightings_keep_event_open),
      cmocka_unit_test(test_cooldown),           cmocka_unit_test(test_median_confidence),
      cmocka_unit_test(test_min_duration),       cmocka_unit_test(test_schedule),
      cmocka_unit_test(test_manual_events),      cmocka_unit_test(test_next_due),
      cmocka_unit_test(test_fpmask_decay),       cmocka_unit_test(test_false_positive_suppresses_scene),
      cmocka_unit_test(test_config_rules),       cmocka_unit_test(test_store_query),
      cmocka_unit_test(test_store_closes_stale), cmocka_unit_test(test_jpeg_size_search),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
