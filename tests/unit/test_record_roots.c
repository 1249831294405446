/* Unit tests for storage roots and the recovery helpers: the roots / root
 * configuration, per-camera pinning, the choice of a root (pinned, spread,
 * full, down), a root that vanishes and comes back, and segment file names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "record/recorder.h"
#include "record/recovery.h"
#include "record/roots.h"

static int parse(const char *text, vg_record_config_t *out, vg_cfg_t *c) {
  json_error_t e;
  json_t *root = json_loads(text, 0, &e);
  assert_non_null(root);
  memset(c, 0, sizeof(*c));
  vg_cfg_enter(c, "record");
  int r = vg_record_config_parse(c, root, out);
  json_decref(root);
  return r;
}

static void test_config(void **state) {
  (void)state;
  vg_record_config_t rc;
  vg_cfg_t c;
  /* The old single root is one root. */
  assert_int_equal(parse("{\"root\":\"/srv/rec/\"}", &rc, &c), 0);
  assert_int_equal(rc.root_count, 1);
  assert_string_equal(rc.roots[0].path, "/srv/rec");
  assert_string_equal(rc.root, "/srv/rec");
  assert_int_equal(rc.roots[0].high_water, 95);
  assert_int_equal(rc.root_retry_s, 30);
  assert_int_equal(parse("{\"roots\":[{\"path\":\"/a\",\"quota_bytes\":1000},"
                         "{\"path\":\"/b\",\"quota_percent\":80,\"high_water\":90,\"low_water\":70}]}",
                         &rc, &c),
                   0);
  assert_int_equal(rc.root_count, 2);
  assert_string_equal(rc.root, "/a");
  assert_int_equal(rc.roots[0].quota_bytes, 1000);
  assert_int_equal(rc.roots[1].quota_percent, 80);
  assert_int_equal(rc.roots[1].low_water, 70);
  /* Mistakes are named. */
  assert_int_equal(parse("{\"root\":\"/a\",\"roots\":[{\"path\":\"/b\"}]}", &rc, &c), VG_ECONFIG);
  assert_int_equal(parse("{\"roots\":[]}", &rc, &c), VG_ECONFIG);
  assert_int_equal(parse("{\"roots\":[{\"path\":\"/a\"},{\"path\":\"/a/\"}]}", &rc, &c), VG_ECONFIG);
  assert_int_equal(parse("{\"roots\":[{\"path\":\"/a\",\"low_water\":96}]}", &rc, &c), VG_ECONFIG);
  assert_string_equal(c.err_path, "record.roots[0].low_water");
  assert_int_equal(parse("{\"roots\":[{\"path\":\"/a\",\"quota_bytes\":1,\"quota_percent\":5}]}", &rc, &c),
                   VG_ECONFIG);
  assert_int_equal(parse("{\"roots\":[{\"pth\":\"/a\"}]}", &rc, &c), VG_ECONFIG);
}

static void test_camera_pinning(void **state) {
  (void)state;
  vg_cfg_t c = {0};
  json_t *obj = json_pack("{s:s}", "root", "/big/");
  assert_int_equal(vg_record_camera_config_parse(&c, obj, "cam1"), 0);
  json_decref(obj);
  char root[64];
  vg_record_camera_root("cam1", root, sizeof(root));
  assert_string_equal(root, "/big");
  vg_record_camera_root("cam2", root, sizeof(root));
  assert_string_equal(root, "");
  obj = json_pack("{s:i}", "root", 5);
  assert_int_equal(vg_record_camera_config_parse(&c, obj, "cam2"), VG_ECONFIG);
  json_decref(obj);
  vg_record_camera_configs_clear();
  vg_record_camera_root("cam1", root, sizeof(root));
  assert_string_equal(root, "");
}

static void test_pick_spread_full_and_down(void **state) {
  (void)state;
  char base[] = "/tmp/vg_roots_XXXXXX";
  assert_non_null(mkdtemp(base));
  vg_record_root_config_t roots[2] = {0};
  snprintf(roots[0].path, sizeof(roots[0].path), "%s/a", base);
  snprintf(roots[1].path, sizeof(roots[1].path), "%s/b", base);
  assert_int_equal(vg_roots_start(roots, 2, 1), 0);
  assert_true(vg_roots_up(0) && vg_roots_up(1));
  vg_roots_tick();

  /* Equal disks: the second camera goes where the first is not. */
  int r1 = vg_roots_pick("cam1", 0);
  assert_true(r1 == 0 || r1 == 1);
  vg_roots_camera_on("cam1", r1);
  int r2 = vg_roots_pick("cam2", 0);
  assert_int_equal(r2, 1 - r1);
  vg_roots_camera_on("cam2", r2);

  /* A pinned camera gets its root. */
  vg_cfg_t c = {0};
  json_t *obj = json_pack("{s:s}", "root", roots[1].path);
  assert_int_equal(vg_record_camera_config_parse(&c, obj, "cam3"), 0);
  json_decref(obj);
  assert_int_equal(vg_roots_pick("cam3", 0), 1);
  /* Skipped (it just failed) or full: another root. */
  assert_int_equal(vg_roots_pick("cam3", 1u << 1), 0);
  assert_int_equal(vg_roots_report_error(1, VG_ENOSPC, "write"), 1);
  assert_int_equal(vg_roots_report_error(1, VG_ENOSPC, "write"), 0); /* same episode */
  assert_true(vg_roots_full(1));
  assert_int_equal(vg_roots_pick("cam3", 0), 0);
  /* Every up root full: a full one is tried again. */
  vg_roots_report_error(0, VG_ENOSPC, "write");
  assert_true(vg_roots_pick("cam3", 0) >= 0);
  vg_roots_report_ok(0);
  vg_roots_report_ok(1);
  assert_false(vg_roots_full(1));

  /* Root b vanishes: down at the next verify, its camera moves, then back. */
  assert_int_equal(rmdir(roots[1].path), 0);
  assert_int_equal(vg_roots_verify(1), VG_ENOENT);
  assert_false(vg_roots_up(1));
  assert_int_equal(vg_roots_pick("cam3", 0), 0);
  assert_int_equal(vg_roots_pick("cam2", 1u << 0), VG_EIO);
  assert_int_equal(mkdir(roots[1].path, 0755), 0);
  vg_roots_tick(); /* too early: the retry waits root_retry_s */
  assert_false(vg_roots_up(1));
  usleep(1100 * 1000);
  vg_roots_tick();
  assert_true(vg_roots_up(1));
  assert_int_equal(vg_roots_pick("cam3", 0), 1);
  assert_int_equal(vg_roots_find(roots[0].path), 0);
  assert_int_equal(vg_roots_find("/nowhere"), -1);

  vg_roots_stop();
  vg_record_camera_configs_clear();
  rmdir(roots[0].path);
  rmdir(roots[1].path);
  rmdir(base);
}

static void test_segment_names(void **state) {
  (void)state;
  int64_t t;
  assert_int_equal(vg_rec_parse_segment_name("cam1-20261121T151623Z.mp4", "cam1", &t), 0);
  assert_int_equal(t, 1795274183LL * 1000000);
  assert_int_equal(vg_rec_parse_segment_name("cam1-20261121T151623Z-2.mp4", "cam1", &t), 0);
  assert_int_equal(t, 1795274183LL * 1000000);
  /* Round trip with the writer's own names. */
  char p[256];
  assert_true(vg_record_segment_path("/r", "a.b", 1795274183LL * 1000000 + 500000, p, sizeof(p)) > 0);
  assert_int_equal(vg_rec_parse_segment_name(strrchr(p, '/') + 1, "a.b", &t), 0);
  assert_int_equal(t, 1795274183LL * 1000000);
  assert_int_equal(vg_rec_parse_segment_name("cam1-20261121T151623Z.mp4", "cam2", &t), VG_EINVAL);
  assert_int_equal(vg_rec_parse_segment_name("cam1-20261121T151623.mp4", "cam1", &t), VG_EINVAL);
  assert_int_equal(vg_rec_parse_segment_name("cam1-20261321T151623Z.mp4", "cam1", &t), VG_EINVAL);
  assert_int_equal(vg_rec_parse_segment_name("cam1-20261121T151623Z-.mp4", "cam1", &t), VG_EINVAL);
  assert_int_equal(vg_rec_parse_segment_name("cam1-20261121T151623Z.mp4.tmp", "cam1", &t), VG_EINVAL);
  assert_int_equal(vg_rec_parse_segment_name("cam1-2026", "cam1", &t), VG_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config),
      cmocka_unit_test(test_camera_pinning),
      cmocka_unit_test(test_pick_spread_full_and_down),
      cmocka_unit_test(test_segment_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
