/* Unit tests for the virtual sensors: tripwires (exact counts, directions,
 * jitter on the line, crossings beside the segment, per-class counters),
 * zones (enter, exit, loiter and occupancy times against the frames where
 * the truth happened, inertia, overcrowding), areas of interest and
 * exclusions, activation rules and tamper triggers. Tracks are either
 * written directly (to control every position) or come from the real
 * tracker fed with synthetic detections. */
/* cmocka needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "vision/sensors.h"

#define PERSON 0
#define CAR 2
#define W 640
#define H 360
#define FRAME_US 200000

static vg_polygon_t rect_poly(float x1, float y1, float x2, float y2) {
  vg_polygon_t p = {4, {{x1, y1}, {x2, y1}, {x2, y2}, {x1, y2}}};
  return p;
}

/* A confirmed, matched track whose bottom centre is at normalized (fx, fy). */
static vg_vtrack_t foot_track(uint32_t id, int label, float fx, float fy) {
  vg_vtrack_t t;
  memset(&t, 0, sizeof(t));
  t.id = id;
  t.label = label;
  float w = 40, h = 90;
  t.box.x1 = fx * W - w / 2;
  t.box.x2 = fx * W + w / 2;
  t.box.y2 = fy * H;
  t.box.y1 = t.box.y2 - h;
  t.score = 0.9f;
  t.scores[0] = 0.9f;
  t.n_scores = 1;
  t.score_head = 1;
  t.confirmed = true;
  t.matched = true;
  return t;
}

static vg_sensors_config_t *wire_config(vg_direction_t dir) {
  static vg_sensors_config_t cfg;
  vg_sensors_config_default(&cfg);
  cfg.n_tripwires = 1;
  vg_tripwire_config_t *w = &cfg.tripwires[0];
  snprintf(w->id, sizeof(w->id), "door");
  w->a = (vg_point_t){0.2f, 0.5f};
  w->b = (vg_point_t){0.8f, 0.5f};
  w->direction = dir;
  w->margin = 0.01f;
  return &cfg;
}

/* Runs one object along ys (normalized foot y, x fixed) and collects the
 * line crossings. */
static int run_path(vg_sensors_t *s, float x, const float *ys, int n, vg_trigger_t *crossings, int max) {
  int found = 0;
  for (int f = 0; f < n; f++) {
    vg_vtrack_t t = foot_track(7, PERSON, x, ys[f]);
    vg_trigger_t out[8];
    int k = vg_sensors_update(s, &t, 1, W, H, (int64_t)f * FRAME_US, out, 8);
    assert_true(k >= 0);
    for (int i = 0; i < k; i++)
      if (out[i].kind == VG_TRIGGER_LINE_CROSS && found < max) crossings[found++] = out[i];
  }
  return found;
}

static void test_tripwire_direction_and_time(void **state) {
  (void)state;
  vg_sensors_t *s = NULL;
  assert_int_equal(vg_sensors_create(wire_config(VG_DIR_BOTH), &s), 0);
  /* Walking down the picture across a left-to-right line: a_to_b. The foot
   * passes y = 0.5 between frames 4 (0.46) and 5 (0.52), two thirds of the
   * way: the crossing time is interpolated there. */
  float down[] = {0.30f, 0.34f, 0.38f, 0.42f, 0.46f, 0.52f, 0.56f, 0.60f};
  vg_trigger_t c[4];
  assert_int_equal(run_path(s, 0.5f, down, 8, c, 4), 1);
  assert_int_equal(c[0].direction, VG_DIR_A_TO_B);
  assert_true(llabs(c[0].ts_us - (4 * FRAME_US + 2 * FRAME_US / 3)) < 10);
  assert_int_equal(c[0].frame_ts_us, 5 * FRAME_US);
  assert_int_equal(c[0].track_id, 7);
  assert_int_equal(c[0].label, PERSON);
  assert_int_equal(c[0].count, 1);
  assert_string_equal(c[0].sensor_id, "door");
  vg_sensors_destroy(&s);

  /* And back up: b_to_a. */
  assert_int_equal(vg_sensors_create(wire_config(VG_DIR_BOTH), &s), 0);
  float up[] = {0.60f, 0.56f, 0.52f, 0.505f, 0.495f, 0.46f, 0.40f};
  assert_int_equal(run_path(s, 0.5f, up, 7, c, 4), 1);
  assert_int_equal(c[0].direction, VG_DIR_B_TO_A);
  /* The line is passed half way between frames 3 (0.505) and 4 (0.495),
   * both inside the dead band; the established side flips at frame 5. */
  assert_true(llabs(c[0].ts_us - (3 * FRAME_US + FRAME_US / 2)) < 10);
  assert_int_equal(c[0].frame_ts_us, 5 * FRAME_US);
  assert_int_equal(vg_sensors_tripwire_count(s, 0, -1, VG_DIR_B_TO_A), 1);
  assert_int_equal(vg_sensors_tripwire_count(s, 0, -1, VG_DIR_A_TO_B), 0);
  vg_sensors_destroy(&s);
}

static void test_tripwire_jitter_counts_once(void **state) {
  (void)state;
  vg_sensors_t *s = NULL;
  assert_int_equal(vg_sensors_create(wire_config(VG_DIR_BOTH), &s), 0);
  /* Someone waits on the line, swaying across it, then walks on. */
  float path[] = {0.40f,  0.45f,  0.49f, 0.503f, 0.497f, 0.506f, 0.494f, 0.508f,
                  0.492f, 0.505f, 0.53f, 0.507f, 0.50f,  0.56f,  0.62f};
  vg_trigger_t c[8];
  assert_int_equal(run_path(s, 0.5f, path, 15, c, 8), 1);
  assert_int_equal(c[0].direction, VG_DIR_A_TO_B);
  vg_sensors_destroy(&s);

  /* Swaying on the line and going back where it came from: nothing. */
  assert_int_equal(vg_sensors_create(wire_config(VG_DIR_BOTH), &s), 0);
  float back[] = {0.40f, 0.47f, 0.495f, 0.505f, 0.495f, 0.508f, 0.48f, 0.40f};
  assert_int_equal(run_path(s, 0.5f, back, 8, c, 8), 0);
  vg_sensors_destroy(&s);

  /* Across and back for real: two crossings, one each way. */
  assert_int_equal(vg_sensors_create(wire_config(VG_DIR_BOTH), &s), 0);
  float both[] = {0.40f, 0.45f, 0.55f, 0.60f, 0.55f, 0.45f, 0.40f};
  assert_int_equal(run_path(s, 0.5f, both, 7, c, 8), 2);
  assert_int_equal(c[0].direction, VG_DIR_A_TO_B);
  assert_int_equal(c[1].direction, VG_DIR_B_TO_A);
  vg_sensors_destroy(&s);
}

static void test_tripwire_beside_segment_and_direction_filter(void **state) {
  (void)state;
  vg_sensors_t *s = NULL;
  assert_int_equal(vg_sensors_create(wire_config(VG_DIR_BOTH), &s), 0);
  float down[] = {0.40f, 0.45f, 0.55f, 0.60f};
  vg_trigger_t c[4];
  /* x = 0.9 passes the line's extension, not the segment (0.2..0.8). */
  assert_int_equal(run_path(s, 0.9f, down, 4, c, 4), 0);
  assert_int_equal(vg_sensors_tripwire_count(s, 0, -1, VG_DIR_BOTH), 0);
  vg_sensors_destroy(&s);

  /* A b_to_a-only wire ignores a_to_b crossings for triggers but counts them. */
  assert_int_equal(vg_sensors_create(wire_config(VG_DIR_B_TO_A), &s), 0);
  assert_int_equal(run_path(s, 0.5f, down, 4, c, 4), 0);
  assert_int_equal(vg_sensors_tripwire_count(s, 0, PERSON, VG_DIR_A_TO_B), 1);
  vg_sensors_destroy(&s);
}

/* The real tracker between detections and sensors: people and cars at
 * different speeds, each crossing exactly once, counted per class. */
static void test_tripwire_through_tracker_counts_per_class(void **state) {
  (void)state;
  vg_tracker_config_t tc;
  vg_tracker_config_default(&tc);
  vg_tracker_t *trk = NULL;
  assert_int_equal(vg_tracker_create(&tc, &trk), 0);
  vg_sensors_t *s = NULL;
  vg_sensors_config_t *cfg = wire_config(VG_DIR_BOTH);
  cfg->tripwires[0].a = (vg_point_t){0.0f, 0.5f};
  cfg->tripwires[0].b = (vg_point_t){1.0f, 0.5f};
  assert_int_equal(vg_sensors_create(cfg, &s), 0);
  /* Foot y in pixels over time: two people walking down at 6 and 9 px per
   * frame, a car driving up at 15 px per frame. */
  int a_to_b = 0, b_to_a = 0;
  for (int f = 0; f < 40; f++) {
    vg_detection_t d[3] = {
        {80, 60 + 6.0f * f, 120, 150 + 6.0f * f, 0.9f, PERSON},
        {300, 40 + 9.0f * f, 340, 130 + 9.0f * f, 0.8f, PERSON},
        {450, 300 - 15.0f * f, 600, 360 - 15.0f * f, 0.9f, CAR},
    };
    int nd = f < 24 ? 3 : 2; /* the car leaves the picture */
    vg_tracker_update(trk, d, nd, (int64_t)f * FRAME_US);
    const vg_vtrack_t *tracks;
    int n = vg_tracker_tracks(trk, &tracks);
    vg_trigger_t out[16];
    int k = vg_sensors_update(s, tracks, n, W, H, (int64_t)f * FRAME_US, out, 16);
    for (int i = 0; i < k; i++) {
      if (out[i].kind != VG_TRIGGER_LINE_CROSS) continue;
      if (out[i].direction == VG_DIR_A_TO_B) {
        a_to_b++;
        assert_int_equal(out[i].label, PERSON);
      } else {
        b_to_a++;
        assert_int_equal(out[i].label, CAR);
      }
    }
  }
  assert_int_equal(a_to_b, 2);
  assert_int_equal(b_to_a, 1);
  assert_int_equal(vg_sensors_tripwire_count(s, 0, PERSON, VG_DIR_BOTH), 2);
  assert_int_equal(vg_sensors_tripwire_count(s, 0, CAR, VG_DIR_BOTH), 1);
  assert_int_equal(vg_sensors_tripwire_count(s, 0, -1, VG_DIR_BOTH), 3);
  vg_sensors_destroy(&s);
  vg_tracker_destroy(&trk);
}

static vg_sensors_config_t *zone_config(void) {
  static vg_sensors_config_t cfg;
  vg_sensors_config_default(&cfg);
  cfg.n_zones = 1;
  vg_zone_config_t *z = &cfg.zones[0];
  snprintf(z->id, sizeof(z->id), "yard");
  z->polygon = rect_poly(0.3f, 0.3f, 0.7f, 0.7f);
  z->inertia = 3;
  z->max_area = 1;
  z->loiter_s = 2;
  z->occupancy_events = true;
  return &cfg;
}

static int find(const vg_trigger_t *t, int n, vg_trigger_kind_t kind) {
  for (int i = 0; i < n; i++)
    if (t[i].kind == kind) return i;
  return -1;
}

static void test_zone_enter_loiter_exit_times(void **state) {
  (void)state;
  vg_sensors_t *s = NULL;
  assert_int_equal(vg_sensors_create(zone_config(), &s), 0);
  /* The foot enters at frame 5, stays until frame 24, is outside from 25. */
  int64_t enter_us = -1, exit_us = -1, loiter_us = -1, enter_decided = -1;
  int occupancy_events = 0, last_occupancy = -1;
  for (int f = 0; f < 35; f++) {
    float x = f < 5 ? 0.1f + 0.04f * f : f < 25 ? 0.5f : 0.8f;
    vg_vtrack_t t = foot_track(3, PERSON, x, 0.5f);
    vg_trigger_t out[8];
    int64_t ts = (int64_t)f * FRAME_US;
    int k = vg_sensors_update(s, &t, 1, W, H, ts, out, 8);
    int i;
    if ((i = find(out, k, VG_TRIGGER_ENTER)) >= 0) {
      enter_us = out[i].ts_us;
      enter_decided = out[i].frame_ts_us;
      assert_int_equal(out[i].count, 1);
      assert_int_equal(out[i].track_id, 3);
    }
    if ((i = find(out, k, VG_TRIGGER_EXIT)) >= 0) exit_us = out[i].ts_us;
    if ((i = find(out, k, VG_TRIGGER_LOITER)) >= 0) {
      loiter_us = out[i].ts_us;
      assert_true(out[i].frame_ts_us >= loiter_us && out[i].frame_ts_us < loiter_us + FRAME_US);
    }
    if ((i = find(out, k, VG_TRIGGER_OCCUPANCY)) >= 0) {
      occupancy_events++;
      last_occupancy = out[i].count;
    }
    if (f == 10) {
      assert_int_equal(vg_sensors_zone_occupancy(s, 0), 1);
      assert_int_equal(vg_sensors_track_zones(s, 3), 1);
    }
  }
  /* The foot went from x 0.26 (frame 4) to 0.5 (frame 5) over the edge at
   * 0.3: a sixth of the way, at frame 4 + 1/6. Out from 0.5 (frame 24) to
   * 0.8 (frame 25) over the edge at 0.7: frame 24 + 2/3. */
  assert_true(llabs(enter_us - (4 * FRAME_US + FRAME_US / 6)) < 100);
  assert_int_equal(enter_decided, 7 * FRAME_US); /* after 3 frames of inertia */
  assert_int_equal(loiter_us, enter_us + 2000000);
  assert_true(llabs(exit_us - (24 * FRAME_US + 2 * FRAME_US / 3)) < 100);
  assert_int_equal(occupancy_events, 2);
  assert_int_equal(last_occupancy, 0);
  assert_int_equal(vg_sensors_zone_occupancy(s, 0), 0);
  vg_sensors_destroy(&s);
}

static void test_zone_inertia_ignores_flicker_and_track_end_exits(void **state) {
  (void)state;
  vg_sensors_t *s = NULL;
  assert_int_equal(vg_sensors_create(zone_config(), &s), 0);
  vg_trigger_t out[8];
  /* On the edge, in and out every frame: never entered. */
  for (int f = 0; f < 10; f++) {
    vg_vtrack_t t = foot_track(1, PERSON, f % 2 ? 0.31f : 0.29f, 0.5f);
    assert_int_equal(vg_sensors_update(s, &t, 1, W, H, (int64_t)f * FRAME_US, out, 8), 0);
  }
  /* Settles inside; a missed detection (predicted position outside) moves
   * nothing; then the track ends: exit at its last sighting. */
  int64_t ts = 10 * FRAME_US;
  for (int f = 0; f < 5; f++, ts += FRAME_US) {
    vg_vtrack_t t = foot_track(1, PERSON, 0.5f, 0.5f);
    vg_sensors_update(s, &t, 1, W, H, ts, out, 8);
  }
  int64_t last_seen = ts - FRAME_US;
  vg_vtrack_t missed = foot_track(1, PERSON, 0.9f, 0.9f);
  missed.matched = false;
  assert_int_equal(vg_sensors_update(s, &missed, 1, W, H, ts, out, 8), 0);
  assert_int_equal(vg_sensors_zone_occupancy(s, 0), 1);
  ts += FRAME_US;
  int k = vg_sensors_update(s, NULL, 0, W, H, ts, out, 8);
  int i = find(out, k, VG_TRIGGER_EXIT);
  assert_true(i >= 0);
  assert_int_equal(out[i].ts_us, last_seen);
  assert_int_equal(vg_sensors_zone_occupancy(s, 0), 0);
  vg_sensors_destroy(&s);
}

/* Someone walks into the picture inside the zone: the tracker confirms the
 * track two frames after its first detection, and the entry dates from
 * that first detection. */
static void test_zone_entry_of_an_object_appearing_inside(void **state) {
  (void)state;
  vg_sensors_t *s = NULL;
  assert_int_equal(vg_sensors_create(zone_config(), &s), 0);
  int64_t enter_us = -1;
  for (int f = 2; f < 8; f++) {
    vg_vtrack_t t = foot_track(5, PERSON, 0.5f, 0.5f);
    t.first_seen_us = 0;
    vg_trigger_t out[8];
    int k = vg_sensors_update(s, &t, 1, W, H, (int64_t)f * FRAME_US, out, 8);
    int i = find(out, k, VG_TRIGGER_ENTER);
    if (i >= 0) enter_us = out[i].ts_us;
  }
  assert_int_equal(enter_us, 0);
  vg_sensors_destroy(&s);
}

/* A tentative sighting: what the tracker reports before min_hits. */
static vg_vtrack_t tentative_track(uint32_t id, float fx, float fy) {
  vg_vtrack_t t = foot_track(id, PERSON, fx, fy);
  t.confirmed = false;
  return t;
}

/* The tracker confirms a walker only on its third detection, by then past
 * the line and inside the zone: the crossing and the entry made while it
 * was tentative still count, once, with their interpolated times. */
static void test_tentative_history_counts_once_confirmed(void **state) {
  (void)state;
  static vg_sensors_config_t cfg;
  vg_sensors_config_default(&cfg);
  cfg.n_tripwires = 1;
  vg_tripwire_config_t *w = &cfg.tripwires[0];
  snprintf(w->id, sizeof(w->id), "gate");
  w->a = (vg_point_t){0.4f, 0.1f};
  w->b = (vg_point_t){0.4f, 0.9f};
  w->margin = 0.01f;
  cfg.n_zones = 1;
  vg_zone_config_t *z = &cfg.zones[0];
  snprintf(z->id, sizeof(z->id), "inner");
  z->polygon = rect_poly(0.45f, 0.2f, 0.9f, 0.8f);
  z->inertia = 1;
  z->max_area = 1;
  vg_sensors_t *s = NULL;
  assert_int_equal(vg_sensors_create(&cfg, &s), 0);
  vg_trigger_t out[8];
  /* Frames 0, 1 tentative at x 0.3 and 0.5: over the line at 0.4 half way,
   * into the zone at 0.45 three quarters of the way. */
  vg_vtrack_t t = tentative_track(9, 0.3f, 0.5f);
  assert_int_equal(vg_sensors_update(s, &t, 1, W, H, 0, out, 8), 0);
  t = tentative_track(9, 0.5f, 0.5f);
  assert_int_equal(vg_sensors_update(s, &t, 1, W, H, FRAME_US, out, 8), 0);
  assert_int_equal(vg_sensors_zone_occupancy(s, 0), 0);
  t = foot_track(9, PERSON, 0.6f, 0.5f); /* confirmed */
  int k = vg_sensors_update(s, &t, 1, W, H, 2 * FRAME_US, out, 8);
  int ic = find(out, k, VG_TRIGGER_LINE_CROSS), ie = find(out, k, VG_TRIGGER_ENTER);
  assert_true(ic >= 0 && ie >= 0);
  /* Crossing left to right over a top-to-bottom line: b_to_a. */
  assert_int_equal(out[ic].direction, VG_DIR_B_TO_A);
  assert_true(llabs(out[ic].ts_us - FRAME_US / 2) < 10);
  assert_int_equal(out[ic].frame_ts_us, 2 * FRAME_US);
  assert_true(llabs(out[ie].ts_us - 3 * FRAME_US / 4) < 100);
  assert_int_equal(out[ie].frame_ts_us, 2 * FRAME_US);
  assert_int_equal(vg_sensors_tripwire_count(s, 0, -1, VG_DIR_BOTH), 1);
  /* Walking on inside: nothing more. */
  t = foot_track(9, PERSON, 0.7f, 0.5f);
  assert_int_equal(vg_sensors_update(s, &t, 1, W, H, 3 * FRAME_US, out, 8), 0);
  assert_int_equal(vg_sensors_tripwire_count(s, 0, -1, VG_DIR_BOTH), 1);
  assert_int_equal(vg_sensors_zone_occupancy(s, 0), 1);

  /* A track that is never confirmed (a false detection sweeping across)
   * triggers nothing, and its end triggers nothing either. */
  t = tentative_track(10, 0.3f, 0.4f);
  vg_vtrack_t both[2] = {foot_track(9, PERSON, 0.7f, 0.5f), t};
  assert_int_equal(vg_sensors_update(s, both, 2, W, H, 4 * FRAME_US, out, 8), 0);
  both[1] = tentative_track(10, 0.6f, 0.4f);
  assert_int_equal(vg_sensors_update(s, both, 2, W, H, 5 * FRAME_US, out, 8), 0);
  assert_int_equal(vg_sensors_update(s, both, 1, W, H, 6 * FRAME_US, out, 8), 0);
  assert_int_equal(vg_sensors_tripwire_count(s, 0, -1, VG_DIR_BOTH), 1);
  assert_int_equal(vg_sensors_zone_occupancy(s, 0), 1);
  vg_sensors_destroy(&s);
}

static void test_zone_overcrowd_and_class_filter(void **state) {
  (void)state;
  vg_sensors_config_t *cfg = zone_config();
  cfg->zones[0].overcrowd = 2;
  cfg->zones[0].inertia = 1;
  vg_class_set_add(&cfg->zones[0].classes, PERSON);
  vg_sensors_t *s = NULL;
  assert_int_equal(vg_sensors_create(cfg, &s), 0);
  vg_trigger_t out[16];
  vg_vtrack_t t[4] = {foot_track(1, PERSON, 0.4f, 0.5f), foot_track(2, PERSON, 0.5f, 0.5f),
                      foot_track(3, CAR, 0.6f, 0.5f), foot_track(4, PERSON, 0.6f, 0.6f)};
  assert_true(vg_sensors_update(s, t, 3, W, H, 0, out, 16) >= 2);
  assert_int_equal(vg_sensors_zone_occupancy(s, 0), 2); /* the car does not count */
  int k = vg_sensors_update(s, t, 4, W, H, FRAME_US, out, 16);
  int i = find(out, k, VG_TRIGGER_OVERCROWD);
  assert_true(i >= 0);
  assert_false(out[i].cleared);
  assert_int_equal(out[i].count, 3);
  k = vg_sensors_update(s, t, 2, W, H, 2 * FRAME_US, out, 16);
  i = find(out, k, VG_TRIGGER_OVERCROWD);
  assert_true(i >= 0);
  assert_true(out[i].cleared);
  vg_sensors_destroy(&s);
}

static void test_aoi_and_exclusions(void **state) {
  (void)state;
  vg_sensors_config_t *cfg = zone_config();
  cfg->zones[0].inertia = 1;
  cfg->n_aoi = 1;
  cfg->aoi[0] = rect_poly(0, 0, 0.6f, 1);
  cfg->n_exclusions = 1;
  cfg->exclusions[0] = rect_poly(0.3f, 0.3f, 0.4f, 0.4f);
  vg_sensors_t *s = NULL;
  assert_int_equal(vg_sensors_create(cfg, &s), 0);
  vg_trigger_t out[8];
  vg_vtrack_t t[3] = {foot_track(1, PERSON, 0.65f, 0.5f),  /* in the zone, outside the AOI */
                      foot_track(2, PERSON, 0.35f, 0.35f), /* in the zone, excluded */
                      foot_track(3, PERSON, 0.5f, 0.5f)};  /* counts */
  vg_sensors_update(s, t, 3, W, H, 0, out, 8);
  assert_int_equal(vg_sensors_zone_occupancy(s, 0), 1);
  assert_int_equal(vg_sensors_track_zones(s, 3), 1);
  assert_int_equal(vg_sensors_track_zones(s, 1), 0);
  vg_sensors_destroy(&s);
}

static void test_rules_arm_schedule_and_filters(void **state) {
  (void)state;
  vg_sensors_config_t *cfg = zone_config();
  cfg->zones[0].inertia = 1;
  cfg->zones[0].loiter_s = 0;
  cfg->n_rules = 1;
  vg_rule_config_t *r = &cfg->rules[0];
  memset(r, 0, sizeof(*r));
  snprintf(r->id, sizeof(r->id), "night");
  r->n_sensors = 1;
  snprintf(r->sensors[0], VG_SENSOR_ID_MAX, "yard");
  r->armed = false;
  r->min_area = 0.001f;
  vg_sensors_t *s = NULL;
  assert_int_equal(vg_sensors_create(cfg, &s), 0);
  vg_trigger_t out[8];
  /* Disarmed: counted, but silent. */
  vg_vtrack_t t = foot_track(1, PERSON, 0.5f, 0.5f);
  assert_int_equal(vg_sensors_update(s, &t, 1, W, H, 0, out, 8), 0);
  assert_int_equal(vg_sensors_zone_occupancy(s, 0), 1);
  /* Armed: a second person entering is reported. */
  vg_sensors_set_armed(s, "yard", true);
  vg_vtrack_t two[2] = {t, foot_track(2, PERSON, 0.6f, 0.5f)};
  int k = vg_sensors_update(s, two, 2, W, H, FRAME_US, out, 8);
  assert_true(find(out, k, VG_TRIGGER_ENTER) >= 0);
  /* Too small for the rule's min_area: ignored. */
  vg_vtrack_t tiny[3] = {two[0], two[1], foot_track(3, PERSON, 0.4f, 0.5f)};
  tiny[2].box.x1 = tiny[2].box.x2 - 5;
  tiny[2].box.y1 = tiny[2].box.y2 - 5;
  k = vg_sensors_update(s, tiny, 3, W, H, 2 * FRAME_US, out, 8);
  assert_int_equal(find(out, k, VG_TRIGGER_ENTER), -1);
  vg_sensors_destroy(&s);

  /* A schedule: Mondays 09:00-17:00 UTC. 2026-11-23 is a Monday. */
  cfg->rules[0].armed = true;
  cfg->rules[0].min_area = 0;
  cfg->rules[0].schedule.n = 1;
  cfg->rules[0].schedule.ranges[0] = (vg_time_range_t){1 << 1, 9 * 60, 17 * 60};
  assert_int_equal(vg_sensors_create(cfg, &s), 0);
  int64_t monday = 1795392000LL * 1000000; /* 2026-11-23T00:00:00Z */
  k = vg_sensors_update(s, &t, 1, W, H, monday + 8LL * 3600 * 1000000, out, 8);
  assert_int_equal(find(out, k, VG_TRIGGER_ENTER), -1);
  vg_vtrack_t later = foot_track(2, PERSON, 0.5f, 0.5f);
  k = vg_sensors_update(s, &later, 1, W, H, monday + 10LL * 3600 * 1000000, out, 8);
  assert_true(find(out, k, VG_TRIGGER_ENTER) >= 0);
  vg_sensors_destroy(&s);
}

static void test_tamper_triggers_and_output_bound(void **state) {
  (void)state;
  vg_sensors_config_t *cfg = zone_config();
  cfg->zones[0].inertia = 1;
  vg_sensors_t *s = NULL;
  assert_int_equal(vg_sensors_create(cfg, &s), 0);
  vg_tamper_result_t r;
  memset(&r, 0, sizeof(r));
  r.n_events = 1;
  r.events[0] = (vg_tamper_event_t){VG_TAMPER_COVERED, true, 42};
  vg_trigger_t out[4];
  assert_int_equal(vg_sensors_tamper(s, &r, 42, out, 4), 1);
  assert_int_equal(out[0].kind, VG_TRIGGER_TAMPER);
  assert_int_equal(out[0].tamper, VG_TAMPER_COVERED);
  assert_string_equal(out[0].sensor_id, "tamper");
  assert_false(out[0].cleared);
  /* Three people enter at once: 3 enters + 1 occupancy, room for 2. */
  vg_vtrack_t t[3] = {foot_track(1, PERSON, 0.4f, 0.5f), foot_track(2, PERSON, 0.5f, 0.5f),
                      foot_track(3, PERSON, 0.6f, 0.5f)};
  assert_int_equal(vg_sensors_update(s, t, 3, W, H, 0, out, 2), 2);
  assert_int_equal(vg_sensors_dropped(s), 2);
  assert_int_equal(vg_sensors_zone_occupancy(s, 0), 3);
  vg_sensors_destroy(&s);
}

static void test_invalid_configs(void **state) {
  (void)state;
  vg_sensors_t *s = NULL;
  vg_sensors_config_t *cfg = zone_config();
  cfg->zones[0].polygon.n = 2;
  assert_int_equal(vg_sensors_create(cfg, &s), VG_EINVAL);
  cfg = wire_config(VG_DIR_BOTH);
  cfg->tripwires[0].b = cfg->tripwires[0].a;
  assert_int_equal(vg_sensors_create(cfg, &s), VG_EINVAL);
  cfg = wire_config(VG_DIR_BOTH);
  cfg->n_rules = 1;
  memset(&cfg->rules[0], 0, sizeof(cfg->rules[0]));
  cfg->rules[0].n_sensors = 1;
  snprintf(cfg->rules[0].sensors[0], VG_SENSOR_ID_MAX, "nope");
  assert_int_equal(vg_sensors_create(cfg, &s), VG_EINVAL);
  assert_string_equal(vg_trigger_kind_name(VG_TRIGGER_LINE_CROSS), "line_cross");
  assert_string_equal(vg_direction_name(VG_DIR_A_TO_B), "a_to_b");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tripwire_direction_and_time),
      cmocka_unit_test(test_tripwire_jitter_counts_once),
      cmocka_unit_test(test_tripwire_beside_segment_and_direction_filter),
      cmocka_unit_test(test_tripwire_through_tracker_counts_per_class),
      cmocka_unit_test(test_zone_enter_loiter_exit_times),
      cmocka_unit_test(test_zone_inertia_ignores_flicker_and_track_end_exits),
      cmocka_unit_test(test_zone_entry_of_an_object_appearing_inside),
      cmocka_unit_test(test_tentative_history_counts_once_confirmed),
      cmocka_unit_test(test_zone_overcrowd_and_class_filter),
      cmocka_unit_test(test_aoi_and_exclusions),
      cmocka_unit_test(test_rules_arm_schedule_and_filters),
      cmocka_unit_test(test_tamper_triggers_and_output_bound),
      cmocka_unit_test(test_invalid_configs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
