/* Unit tests for the analytics configuration (every section read back,
 * errors that name the field) and for schedules: weekdays, ranges across
 * midnight, IANA time zones across daylight saving time, fixed offsets,
 * and the process's TZ left as it was. Also the per-class detection filter
 * and the geometry helpers the sensors rest on. */
/* cmocka needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "vision/analytics_config.h"
#include "vision/schedule.h"

static vg_analytics_config_t cfg; /* large: not on the stack */

static int parse(const char *text, vg_cfg_t *c, const char *const *extra) {
  json_t *root;
  memset(c, 0, sizeof(*c));
  if (vg_cfg_load_string(c, text, &root)) return VG_ECONFIG;
  vg_cfg_enter(c, "analytics");
  int r = vg_analytics_config_parse(c, root, extra, &cfg);
  vg_cfg_leave(c);
  json_decref(root);
  return r;
}

static const char *full_config =
    "{\"enabled\": true, \"detect_fps\": 5,"
    " \"motion\": {\"threshold\": 25, \"masks\": [[[0.9, 0], [1, 0], [1, 1], [0.9, 1]]]},"
    " \"tracker\": {\"max_age\": 20, \"min_hits\": 2, \"iou_threshold\": 0.3},"
    " \"classes\": [\"person\", \"car\"],"
    " \"filters\": {\"default\": {\"min_score\": 0.5}, \"car\": {\"min_area\": 0.01, \"max_aspect\": 4}},"
    " \"tamper\": {\"persist_s\": 10, \"enabled\": false},"
    " \"zones\": [{\"id\": \"yard\", \"polygon\": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]], \"classes\": "
    "[\"person\"],"
    "             \"inertia\": 4, \"loiter_s\": 30, \"overcrowd\": 5}],"
    " \"tripwires\": [{\"id\": \"gate\", \"a\": [0.2, 0.5], \"b\": [0.8, 0.5], \"direction\": \"b_to_a\"}],"
    " \"aoi\": [[[0, 0.2], [1, 0.2], [1, 1], [0, 1]]],"
    " \"exclusions\": [[[0.4, 0.4], [0.45, 0.4], [0.45, 0.45]]],"
    " \"rules\": [{\"id\": \"nights\", \"sensors\": [\"gate\", \"tamper\"], \"min_score\": 0.6,"
    "             \"schedule\": {\"tz\": \"Europe/Berlin\","
    "                          \"ranges\": [{\"days\": [\"fri\", \"sat\"], \"start\": \"22:00\", \"end\": "
    "\"06:00\"}]}}]}";

static void test_full_config(void **state) {
  (void)state;
  vg_cfg_t c;
  static const char *const extra[] = {"detect_fps", NULL};
  assert_int_equal(parse(full_config, &c, extra), 0);
  assert_true(cfg.enabled);
  assert_int_equal(cfg.motion.threshold, 25);
  assert_int_equal(cfg.motion.n_masks, 1);
  assert_int_equal(cfg.motion.work_width, 256); /* default */
  assert_int_equal(cfg.tracker.max_age, 20);
  assert_int_equal(cfg.tracker.min_hits, 2);
  assert_true(vg_class_set_allows(&cfg.filter.classes, 0));
  assert_false(vg_class_set_allows(&cfg.filter.classes, 1));
  assert_true(fabsf(cfg.filter.defaults.min_score - 0.5f) < 1e-6f);
  const vg_class_limits_t *car = vg_detection_filter_limits(&cfg.filter, 2);
  assert_true(fabsf(car->min_area - 0.01f) < 1e-6f);
  assert_true(fabsf(car->min_score - 0.5f) < 1e-6f); /* inherited from default */
  assert_false(cfg.tamper.enabled);
  assert_true(fabsf(cfg.tamper.persist_s - 10) < 1e-6f);
  const vg_sensors_config_t *s = &cfg.sensors;
  assert_int_equal(s->n_zones, 1);
  assert_string_equal(s->zones[0].id, "yard");
  assert_int_equal(s->zones[0].polygon.n, 3);
  assert_int_equal(s->zones[0].inertia, 4);
  assert_int_equal(s->zones[0].overcrowd, 5);
  assert_true(s->zones[0].occupancy_events);
  assert_int_equal(s->n_tripwires, 1);
  assert_int_equal(s->tripwires[0].direction, VG_DIR_B_TO_A);
  assert_int_equal(s->n_aoi, 1);
  assert_int_equal(s->n_exclusions, 1);
  assert_int_equal(s->n_rules, 1);
  assert_true(s->rules[0].armed);
  assert_int_equal(s->rules[0].n_sensors, 2);
  assert_string_equal(s->rules[0].schedule.tz, "Europe/Berlin");
  assert_int_equal(s->rules[0].schedule.n, 1);
  assert_int_equal(s->rules[0].schedule.ranges[0].days, (1 << 5) | (1 << 6));
  assert_int_equal(s->rules[0].schedule.ranges[0].start_min, 22 * 60);
  assert_int_equal(s->rules[0].schedule.ranges[0].end_min, 6 * 60);
  /* What the parser accepts, the modules accept. */
  vg_sensors_t *sensors = NULL;
  assert_int_equal(vg_sensors_create(&cfg.sensors, &sensors), 0);
  vg_sensors_destroy(&sensors);
  vg_motion_t *m = NULL;
  assert_int_equal(vg_motion_create(&cfg.motion, &m), 0);
  vg_motion_destroy(&m);
  vg_tracker_t *t = NULL;
  assert_int_equal(vg_tracker_create(&cfg.tracker, &t), 0);
  vg_tracker_destroy(&t);
  vg_tamper_t *tp = NULL;
  assert_int_equal(vg_tamper_create(&cfg.tamper, &tp), 0);
  vg_tamper_destroy(&tp);

  /* Absent: defaults, disabled. */
  memset(&c, 0, sizeof(c));
  assert_int_equal(vg_analytics_config_parse(&c, NULL, NULL, &cfg), 0);
  assert_false(cfg.enabled);
  assert_int_equal(cfg.tracker.max_age, 10);
}

static void expect_error(const char *text, const char *path, const char *reason_part) {
  vg_cfg_t c;
  assert_int_equal(parse(text, &c, NULL), VG_ECONFIG);
  if (strcmp(c.err_path, path) != 0 || !strstr(c.err_reason, reason_part)) {
    fprintf(stderr, "got %s: %s\n", c.err_path, c.err_reason);
    fail();
  }
}

static void test_errors_name_the_field(void **state) {
  (void)state;
  expect_error("{\"foo\": 1}", "analytics.foo", "unknown field");
  expect_error("{\"detect_fps\": 5}", "analytics.detect_fps", "unknown field"); /* not passed as extra */
  expect_error("{\"tracker\": {\"max_age\": -1}}", "analytics.tracker.max_age", "between");
  expect_error("{\"motion\": {\"learn_rate\": 2}}", "analytics.motion.learn_rate", "between");
  expect_error("{\"motion\": {\"masks\": [[[0, 0], [1, 1]]]}}", "analytics.motion.masks[0]",
               "3 to 32 points");
  expect_error("{\"zones\": [{\"id\": \"a\", \"polygon\": [[0, 0], [1, 0], [1, 1]]},"
               " {\"id\": \"b\", \"polygon\": [[0, 0], [1, 0], [1.5, 1]]}]}",
               "analytics.zones[1].polygon[2]", "0 to 1");
  expect_error("{\"zones\": [{\"id\": \"a\", \"polygon\": [[0, 0], [0.5, 0.5], [1, 1]]}]}",
               "analytics.zones[0].polygon", "no area");
  expect_error("{\"zones\": [{\"polygon\": [[0, 0], [1, 0], [1, 1]]}]}", "analytics.zones[0].id", "required");
  expect_error(
      "{\"zones\": [{\"id\": \"a\", \"polygon\": [[0, 0], [1, 0], [1, 1]], \"classes\": [\"persn\"]}]}",
      "analytics.zones[0].classes[0]", "unknown class");
  expect_error("{\"zones\": [{\"id\": \"a b\", \"polygon\": [[0, 0], [1, 0], [1, 1]]}]}",
               "analytics.zones[0].id", "letters");
  expect_error("{\"zones\": [{\"id\": \"a\", \"polygon\": [[0, 0], [1, 0], [1, 1]]}],"
               " \"tripwires\": [{\"id\": \"a\", \"a\": [0, 0], \"b\": [1, 1]}]}",
               "analytics.tripwires[0].id", "used by another");
  expect_error("{\"tripwires\": [{\"id\": \"w\", \"a\": [0, 0], \"b\": [1, 1], \"direction\": \"up\"}]}",
               "analytics.tripwires[0].direction", "must be one of");
  expect_error("{\"tripwires\": [{\"id\": \"w\", \"a\": [0.5, 0.5], \"b\": [0.5, 0.5]}]}",
               "analytics.tripwires[0].b", "differ");
  expect_error("{\"tripwires\": [{\"id\": \"w\", \"a\": [0.5], \"b\": [0.5, 0.5]}]}",
               "analytics.tripwires[0].a", "point");
  expect_error("{\"filters\": {\"persn\": {}}}", "analytics.filters.persn", "unknown class");
  expect_error("{\"filters\": {\"person\": {\"min_score\": 1.5}}}", "analytics.filters.person.min_score",
               "between");
  expect_error("{\"filters\": {\"person\": {\"min_area\": 0.5, \"max_area\": 0.1}}}",
               "analytics.filters.person.max_area", "below");
  expect_error("{\"tamper\": {\"persist\": 3}}", "analytics.tamper.persist", "unknown field");
  expect_error("{\"rules\": [{\"id\": \"r\", \"sensors\": [\"nope\"]}]}", "analytics.rules[0].sensors[0]",
               "no zone or tripwire");
  expect_error("{\"rules\": [{\"id\": \"r\", \"schedule\": {\"tz\": \"Mars/Olympus\"}}]}",
               "analytics.rules[0].schedule.tz", "unknown time zone");
  expect_error("{\"rules\": [{\"id\": \"r\", \"schedule\": {\"tz\": \"../../etc/passwd\"}}]}",
               "analytics.rules[0].schedule.tz", "unknown time zone");
  expect_error("{\"rules\": [{\"id\": \"r\", \"schedule\": {\"ranges\": [{\"start\": \"25:00\"}]}}]}",
               "analytics.rules[0].schedule.ranges[0].start", "HH:MM");
  expect_error(
      "{\"rules\": [{\"id\": \"r\", \"schedule\": {\"ranges\": [{\"days\": [\"mon\", \"someday\"]}]}}]}",
      "analytics.rules[0].schedule.ranges[0].days[1]", "weekday");
  expect_error("{\"rules\": [{\"id\": \"r\", \"schedule\": {\"ranges\": [{\"start\": \"08:00\", \"end\": "
               "\"08:00\"}]}}]}",
               "analytics.rules[0].schedule.ranges[0].end", "differ");
  expect_error("{\"zones\": [1]}", "analytics.zones[0]", "must be an object");
  expect_error("{\"zones\": {}}", "analytics.zones", "must be an array");
}

/* --- schedules --- */

static int64_t utc(int y, int mo, int d, int h, int mi) {
  struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
  return (int64_t)timegm(&tm) * 1000000;
}

static void test_schedule_across_midnight_utc(void **state) {
  (void)state;
  vg_schedule_t s;
  memset(&s, 0, sizeof(s));
  assert_true(vg_schedule_active(&s, 0)); /* no ranges: always */
  s.n = 1;
  /* Friday 22:00 until Saturday 06:00. 2026-11-20 is a Friday. */
  s.ranges[0] = (vg_time_range_t){1 << 5, 22 * 60, 6 * 60};
  assert_false(vg_schedule_active(&s, utc(2026, 11, 20, 21, 59)));
  assert_true(vg_schedule_active(&s, utc(2026, 11, 20, 22, 0)));
  assert_true(vg_schedule_active(&s, utc(2026, 11, 20, 23, 59)));
  assert_true(vg_schedule_active(&s, utc(2026, 11, 21, 0, 0)));
  assert_true(vg_schedule_active(&s, utc(2026, 11, 21, 5, 59)));
  assert_false(vg_schedule_active(&s, utc(2026, 11, 21, 6, 0)));
  assert_false(vg_schedule_active(&s, utc(2026, 11, 21, 22, 30))); /* Saturday night is not listed */
  assert_false(vg_schedule_active(&s, utc(2026, 11, 20, 3, 0)));   /* Friday morning belongs to Thursday */
  /* A whole day. */
  s.ranges[0] = (vg_time_range_t){1 << 0, 0, 24 * 60};
  assert_true(vg_schedule_active(&s, utc(2026, 11, 22, 23, 59)));
  assert_false(vg_schedule_active(&s, utc(2026, 11, 23, 0, 0)));
}

static void test_schedule_time_zones(void **state) {
  (void)state;
  int off;
  setenv("TZ", "Asia/Tokyo", 1);
  assert_int_equal(vg_tz_offset("Europe/Berlin", utc(2026, 1, 15, 12, 0) / 1000000, &off), 0);
  assert_int_equal(off, 3600);
  assert_int_equal(vg_tz_offset("Europe/Berlin", utc(2026, 7, 15, 12, 0) / 1000000, &off), 0);
  assert_int_equal(off, 7200);
  assert_int_equal(vg_tz_offset("Asia/Kolkata", 0, &off), 0);
  assert_int_equal(off, 19800);
  assert_int_equal(vg_tz_offset("UTC-03:00", 0, &off), 0);
  assert_int_equal(off, -3 * 3600);
  assert_int_equal(vg_tz_offset("UTC+0530", 0, &off), 0);
  assert_int_equal(off, 19800);
  assert_string_equal(getenv("TZ"), "Asia/Tokyo"); /* left as it was */
  unsetenv("TZ");
  assert_true(vg_tz_valid("America/New_York"));
  assert_true(vg_tz_valid("UTC"));
  assert_true(vg_tz_valid("UTC+14"));
  assert_false(vg_tz_valid("UTC+15"));
  assert_false(vg_tz_valid("Mars/Olympus"));
  assert_false(vg_tz_valid("/etc/passwd"));
  assert_false(vg_tz_valid("Europe/../../etc/passwd"));

  /* 09:00-10:00 Berlin time, every day: 08:30 UTC is inside in winter,
   * outside in summer. */
  vg_schedule_t s;
  memset(&s, 0, sizeof(s));
  snprintf(s.tz, sizeof(s.tz), "Europe/Berlin");
  s.n = 1;
  s.ranges[0] = (vg_time_range_t){0x7f, 9 * 60, 10 * 60};
  assert_true(vg_schedule_active(&s, utc(2026, 1, 15, 8, 30)));
  assert_false(vg_schedule_active(&s, utc(2026, 7, 15, 8, 30)));
  assert_true(vg_schedule_active(&s, utc(2026, 7, 15, 7, 30)));
  /* The night of the change to summer time (2026-03-29 02:00 -> 03:00). */
  assert_true(vg_schedule_active(&s, utc(2026, 3, 29, 7, 59)));
  assert_false(vg_schedule_active(&s, utc(2026, 3, 29, 8, 0)));

  /* Saturday 22:00 - 02:00 in New York: Sunday 03:30 UTC in January is
   * Saturday 22:30 there; Sunday 06:59 UTC is Sunday 01:59. */
  snprintf(s.tz, sizeof(s.tz), "America/New_York");
  s.ranges[0] = (vg_time_range_t){1 << 6, 22 * 60, 2 * 60};
  assert_true(vg_schedule_active(&s, utc(2026, 1, 18, 3, 30)));
  assert_true(vg_schedule_active(&s, utc(2026, 1, 18, 6, 59)));
  assert_false(vg_schedule_active(&s, utc(2026, 1, 18, 7, 0)));
  assert_false(vg_schedule_active(&s, utc(2026, 1, 17, 23, 0))); /* Saturday 18:00 there */
}

static void test_parse_helpers(void **state) {
  (void)state;
  int m;
  assert_int_equal(vg_parse_hhmm("00:00", &m), 0);
  assert_int_equal(m, 0);
  assert_int_equal(vg_parse_hhmm("24:00", &m), 0);
  assert_int_equal(m, 1440);
  assert_int_equal(vg_parse_hhmm("24:01", &m), VG_EINVAL);
  assert_int_equal(vg_parse_hhmm("7:30", &m), VG_EINVAL);
  assert_int_equal(vg_parse_hhmm("07:60", &m), VG_EINVAL);
  assert_int_equal(vg_parse_weekday("Mon"), 1);
  assert_int_equal(vg_parse_weekday("sunday"), 0);
  assert_int_equal(vg_parse_weekday("sa"), VG_EINVAL);
}

/* --- filter and geometry --- */

static void test_detection_filter(void **state) {
  (void)state;
  vg_detection_filter_t f;
  vg_detection_filter_default(&f);
  vg_class_set_add(&f.classes, 0);
  vg_class_set_add(&f.classes, 2);
  f.n = 1;
  f.label[0] = 2;
  f.limits[0] = (vg_class_limits_t){0.3f, 0.01f, 0.5f, 1.0f, 4.0f};
  vg_detection_t d[] = {
      {10, 10, 50, 100, 0.9f, 0},     /* person: kept */
      {10, 10, 50, 100, 0.3f, 0},     /* person below the default 0.4 */
      {10, 10, 50, 100, 0.9f, 1},     /* bicycle: not a wanted class */
      {100, 100, 200, 150, 0.35f, 2}, /* car, 2:1, 1/46 of the frame: kept */
      {100, 100, 110, 105, 0.9f, 2},  /* car too small */
      {100, 100, 150, 200, 0.9f, 2},  /* car taller than wide */
  };
  int n = vg_detection_filter_apply(&f, d, 6, 640, 360);
  assert_int_equal(n, 2);
  assert_int_equal(d[0].label, 0);
  assert_int_equal(d[1].label, 2);
  assert_int_equal(vg_class_from_name("person"), 0);
  assert_int_equal(vg_class_from_name("car"), 2);
  assert_int_equal(vg_class_from_name("unicorn"), VG_ENOTFOUND);
}

static void test_geometry(void **state) {
  (void)state;
  vg_polygon_t tri = {3, {{0.1f, 0.1f}, {0.9f, 0.1f}, {0.5f, 0.9f}}};
  assert_true(vg_polygon_contains(&tri, (vg_point_t){0.5f, 0.3f}));
  assert_false(vg_polygon_contains(&tri, (vg_point_t){0.15f, 0.8f}));
  uint8_t mask[10 * 10];
  memset(mask, 0, sizeof(mask));
  vg_polygon_t half = {4, {{0, 0}, {0.5f, 0}, {0.5f, 1}, {0, 1}}};
  vg_polygon_rasterize(&half, mask, 10, 10, 10, 7);
  int set = 0;
  for (int i = 0; i < 100; i++)
    set += mask[i] == 7;
  assert_int_equal(set, 50);
  assert_int_equal(mask[4], 7);
  assert_int_equal(mask[5], 0);
  assert_true(
      vg_segments_intersect((vg_point_t){0, 0}, (vg_point_t){1, 1}, (vg_point_t){0, 1}, (vg_point_t){1, 0}));
  assert_false(
      vg_segments_intersect((vg_point_t){0, 0}, (vg_point_t){1, 0}, (vg_point_t){0, 1}, (vg_point_t){1, 1}));
  assert_true(
      vg_segments_intersect((vg_point_t){0, 0}, (vg_point_t){1, 0}, (vg_point_t){1, 0}, (vg_point_t){1, 1}));
  vg_box_t a = {0, 0, 10, 10}, b = {5, 0, 15, 10};
  assert_true(fabsf(vg_box_iou(&a, &b) - 1.0f / 3) < 1e-6f);
  vg_point_t foot = vg_box_foot(&a, 20, 40);
  assert_true(fabsf(foot.x - 0.25f) < 1e-6f && fabsf(foot.y - 0.25f) < 1e-6f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_full_config),
      cmocka_unit_test(test_errors_name_the_field),
      cmocka_unit_test(test_schedule_across_midnight_utc),
      cmocka_unit_test(test_schedule_time_zones),
      cmocka_unit_test(test_parse_helpers),
      cmocka_unit_test(test_detection_filter),
      cmocka_unit_test(test_geometry),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
