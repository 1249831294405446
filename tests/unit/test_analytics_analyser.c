/* Unit tests for the analytics analyser: detections -> filter -> tracker
 * -> sensors -> bus-shaped metadata and triggers, and motion on a luma
 * plane. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "analytics/analyser.h"
#include "analytics/analytics.h"
#include "base/error.h"
#include "vision/analytics_config.h"

static vg_analytics_config_t *vision_config(const char *text) {
  vg_cfg_t c = {0};
  json_t *obj;
  assert_int_equal(vg_cfg_load_string(&c, text, &obj), 0);
  vg_analytics_config_t *v = malloc(sizeof(*v));
  assert_int_equal(vg_analytics_config_parse(&c, obj, NULL, v), 0);
  json_decref(obj);
  return v;
}

/* A person walking left to right across a vertical tripwire at x = 0.5
 * and through a zone, at 5 analysed frames per second. */
static void test_analyser_tripwire_and_zone(void **state) {
  (void)state;
  vg_analytics_config_t *v = vision_config(
      "{\"classes\": [\"person\"], \"tripwires\": [{\"id\": \"door\", \"a\": [0.5, 0.0], \"b\": [0.5, 1.0]}],"
      " \"zones\": [{\"id\": \"lobby\", \"polygon\": [[0.6, 0.0], [0.9, 0.0], [0.9, 1.0], [0.6, 1.0]]}]}");
  vg_analyser_t *a;
  assert_int_equal(vg_analyser_create("cam1", v, &a), 0);
  free(v);
  vg_analytics_meta_t *meta = calloc(1, sizeof(*meta));
  int crossings = 0, enters = 0, exits = 0;
  int64_t t0 = 1700000000000000;
  for (int i = 0; i < 50; i++) {
    float cx = 40.0f + (float)i * 12; /* 60 px/s */
    vg_detection_t det[2] = {{cx - 20, 100, cx + 20, 260, 0.8f, 0},
                             {10, 10, 30, 30, 0.9f, 2}}; /* a car the class filter drops */
    int64_t ts = t0 + (int64_t)i * 200000;
    assert_int_equal(vg_analyser_detections(a, det, 2, 640, 360, ts, meta), 0);
    assert_true(meta->detected);
    assert_int_equal(meta->width, 640);
    for (int k = 0; k < meta->n_objects; k++) {
      assert_string_equal(meta->objects[k].class_name, "person");
      assert_true(meta->objects[k].x1 >= 0 && meta->objects[k].x2 <= 1);
    }
    vg_analytics_trigger_t t[8];
    int n = vg_analyser_take_triggers(a, t, 8);
    for (int k = 0; k < n; k++) {
      assert_string_equal(t[k].camera, "cam1");
      if (strcmp(t[k].kind, "line_cross") == 0) {
        crossings++;
        assert_string_equal(t[k].sensor, "door");
        /* Left to right across a line drawn downwards: from its right to its left. */
        assert_string_equal(t[k].direction, "b_to_a");
        assert_string_equal(t[k].class_name, "person");
        /* The crossing happens at x = 320: frame 23 (cx = 316) to 24 (cx = 328). */
        assert_true(t[k].utc_us >= t0 + 22 * 200000 && t[k].utc_us <= t0 + 25 * 200000);
      } else if (strcmp(t[k].kind, "enter") == 0) {
        enters++;
        assert_string_equal(t[k].sensor, "lobby");
      } else if (strcmp(t[k].kind, "exit") == 0) {
        exits++;
      }
    }
  }
  assert_int_equal(crossings, 1);
  assert_int_equal(enters, 1);
  assert_int_equal(exits, 1);
  assert_int_equal(vg_analyser_confirmed(a), 1);
  vg_box_t boxes[4];
  assert_int_equal(vg_analyser_tracks(a, boxes, 4), 1);
  json_t *j = vg_analyser_sensors_json(a);
  assert_int_equal(
      json_integer_value(json_object_get(json_object_get(json_object_get(j, "tripwires"), "door"), "b_to_a")),
      1);
  json_decref(j);
  free(meta);
  vg_analyser_destroy(&a);
  assert_null(a);
}

static void test_analyser_motion_on_luma(void **state) {
  (void)state;
  vg_analyser_t *a;
  assert_int_equal(vg_analyser_create("cam1", NULL, &a), 0);
  uint8_t *luma = malloc(320 * 180);
  vg_analyser_motion_t m;
  bool moved = false;
  for (int i = 0; i < 40; i++) {
    /* A textured still background, then a bright square moving across it. */
    for (int y = 0; y < 180; y++)
      for (int x = 0; x < 320; x++)
        luma[y * 320 + x] = (uint8_t)(60 + ((x / 8 + y / 8) & 1) * 20);
    if (i >= 20)
      for (int y = 60; y < 120; y++)
        for (int x = 20 + (i - 20) * 10; x < 60 + (i - 20) * 10; x++)
          luma[y * 320 + x] = 230;
    assert_int_equal(vg_analyser_frame(a, luma, 320, 180, 1000000 + i * 200000, &m), 0);
    if (i < 20) assert_false(m.moving);
    if (i >= 22 && m.moving) {
      moved = true;
      assert_true(m.n_regions >= 1);
      assert_true(m.regions[0].y1 <= 60 && m.regions[0].y2 >= 120);
    }
  }
  assert_true(moved);
  free(luma);
  vg_analyser_destroy(&a);
}

static void test_per_camera_config_reaches_vision(void **state) {
  (void)state;
  vg_cfg_t c = {0};
  json_t *root;
  assert_int_equal(vg_cfg_load_string(&c,
                                      "{\"cameras\": [{\"id\": \"b\", \"analytics\": {\"detect_fps\": 2, "
                                      "\"zones\": [{\"id\": \"z\", \"polygon\": [[0,0],[1,0],[1,1]]}]}}]}",
                                      &root),
                   0);
  vg_analytics_node_config_t cfg;
  assert_int_equal(vg_analytics_node_config_parse(&c, NULL, json_object_get(root, "cameras"), &cfg), 0);
  assert_int_equal(cfg.camera_count, 1);
  assert_int_equal(cfg.cameras[0].detect_fps, 2);
  const vg_analytics_config_t *v = cfg.cameras[0].vision;
  assert_true(v->enabled);
  assert_int_equal(v->sensors.n_zones, 1);
  assert_string_equal(v->sensors.zones[0].id, "z");
  vg_analytics_node_config_free(&cfg);
  json_decref(root);
}

/* A person walks into a zone, stands still (stationary after 1 s) and is
 * then held: only every 10th frame (2 s) gives the tracker a detection, the
 * others hold the track with no detection at all. The track keeps its id,
 * the zone keeps counting it, the loiter trigger fires on the first frame
 * past loiter_s (held or not) with the exact time, and when the person
 * walks out the exit comes as without holding. */
static void test_held_stationary_object_keeps_zone_and_loiters(void **state) {
  (void)state;
  vg_analytics_config_t *v = vision_config(
      "{\"classes\": [\"person\"], \"tracker\": {\"stationary_s\": 1},"
      " \"zones\": [{\"id\": \"spot\", \"polygon\": [[0.4, 0.0], [0.8, 0.0], [0.8, 1.0], [0.4, 1.0]],"
      " \"inertia\": 1, \"loiter_s\": 8}]}");
  vg_analyser_t *a;
  assert_int_equal(vg_analyser_create("cam1", v, &a), 0);
  free(v);
  vg_analytics_meta_t *meta = calloc(1, sizeof(*meta));
  int64_t t0 = 1700000000000000, entered = 0, loitered = 0, exited = 0, loiter_frame = 0;
  uint32_t id = 0;
  for (int i = 0; i < 120; i++) {
    /* Walks 60 px/s from x 200 to 380 (inside from 256, after frame 4), stands
     * from frame 15 to 95, then walks out to the right (exit at 512). */
    float cx = i < 15 ? 200.0f + (float)i * 12 : i < 95 ? 368 : 368.0f + (float)(i - 95) * 12;
    vg_detection_t det = {cx - 20, 100, cx + 20, 260, 0.8f, 0};
    int64_t ts = t0 + (int64_t)i * 200000;
    uint32_t ids[4];
    bool parkable[4];
    vg_box_t boxes[4];
    int nt = vg_analyser_track_list(a, boxes, ids, parkable, 4);
    bool hold = nt == 1 && parkable[0] && i < 95 && i % 10 != 0;
    if (hold)
      assert_int_equal(vg_analyser_detections_held(a, NULL, 0, 640, 360, ts, ids, 1, meta), 0);
    else
      assert_int_equal(vg_analyser_detections(a, &det, 1, 640, 360, ts, meta), 0);
    if (i == 41) assert_true(hold); /* stationary and held by then */
    assert_int_equal(meta->n_objects, 1);
    if (i >= 3) {
      if (!id) id = meta->objects[0].track_id;
      assert_int_equal(meta->objects[0].track_id, id);
    }
    vg_analytics_trigger_t t[8];
    int n = vg_analyser_take_triggers(a, t, 8);
    for (int k = 0; k < n; k++) {
      if (strcmp(t[k].kind, "enter") == 0) entered = t[k].utc_us;
      if (strcmp(t[k].kind, "loiter") == 0) loitered = t[k].utc_us, loiter_frame = i;
      if (strcmp(t[k].kind, "exit") == 0) exited = t[k].utc_us;
    }
  }
  assert_true(entered >= t0 + 4 * 200000 && entered <= t0 + 6 * 200000);
  assert_int_equal(loitered, entered + 8000000);
  /* Decided on the first analysed frame past it: a held one. */
  assert_int_equal(loiter_frame, (int)((loitered - t0 + 199999) / 200000));
  assert_true(loiter_frame % 10 != 0);
  assert_true(exited >= t0 + 106 * 200000 && exited <= t0 + 108 * 200000);
  free(meta);
  vg_analyser_destroy(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_analyser_tripwire_and_zone),
      cmocka_unit_test(test_analyser_motion_on_luma),
      cmocka_unit_test(test_per_camera_config_reaches_vision),
      cmocka_unit_test(test_held_stationary_object_keeps_zone_and_loiters),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
