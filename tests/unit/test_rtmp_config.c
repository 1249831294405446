/* Unit tests for the RTMP configuration: the "rtmp_server" object and the
 * "rtmp" camera type (explicit, or inferred from an rtmp:// URL). */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <string.h>

#include "base/error.h"
#include "ingest/camera.h"
#include "ingest/rtmp_server.h"

static int parse_server(const char *text, vg_rtmp_server_config_t *out, vg_cfg_t *c) {
  json_t *root = NULL;
  memset(c, 0, sizeof(*c));
  if (text && vg_cfg_load_string(c, text, &root)) return VG_ECONFIG;
  vg_cfg_enter(c, "rtmp_server");
  int r = vg_rtmp_server_config_parse(c, root, out);
  vg_cfg_leave(c);
  json_decref(root);
  return r;
}

static void test_server_config(void **state) {
  vg_rtmp_server_config_t cfg;
  vg_cfg_t c;
  assert_int_equal(parse_server(NULL, &cfg, &c), 0);
  assert_false(cfg.enabled);
  assert_string_equal(cfg.bind, "0.0.0.0");
  assert_int_equal(cfg.port, 1935);
  assert_int_equal(cfg.publish_user_count, 0);
  assert_int_equal(parse_server("{\"enabled\": true, \"port\": 19350, \"bind\": \"127.0.0.1\", "
                                "\"publish_users\": [{\"user\": \"a\", \"pass\": \"b\"}]}",
                                &cfg, &c),
                   0);
  assert_true(cfg.enabled);
  assert_int_equal(cfg.port, 19350);
  assert_int_equal(cfg.publish_user_count, 1);
  assert_string_equal(cfg.publish_users[0].pass, "b");
  assert_int_equal(parse_server("{\"port\": 70000}", &cfg, &c), VG_ECONFIG);
  assert_string_equal(c.err_path, "rtmp_server.port");
  assert_int_equal(parse_server("{\"prot\": 1}", &cfg, &c), VG_ECONFIG);
  assert_int_equal(parse_server("{\"publish_users\": [{\"user\": \"\", \"pass\": \"x\"}]}", &cfg, &c),
                   VG_ECONFIG);
  assert_int_equal(parse_server("{\"publish_users\": [\"a:b\"]}", &cfg, &c), VG_ECONFIG);
}

static int parse_camera(const char *text, vg_camera_config_t *cam, vg_cfg_t *c) {
  json_t *root;
  memset(c, 0, sizeof(*c));
  if (vg_cfg_load_string(c, text, &root)) return VG_ECONFIG;
  int r = vg_camera_config_parse(c, root, cam);
  json_decref(root);
  return r;
}

static void test_camera_type(void **state) {
  vg_camera_config_t cam;
  vg_cfg_t c;
  assert_int_equal(parse_camera("{\"id\": \"a\", \"url\": \"rtmp://h/live/a\"}", &cam, &c), 0);
  assert_int_equal(cam.kind, VG_SOURCE_RTMP);
  assert_string_equal(vg_source_kind_name(cam.kind), "rtmp");
  assert_int_equal(
      parse_camera("{\"id\": \"a\", \"type\": \"rtmp\", \"url\": \"rtmp://h/live/a\"}", &cam, &c), 0);
  assert_int_equal(cam.kind, VG_SOURCE_RTMP);
  assert_int_equal(parse_camera("{\"id\": \"a\", \"type\": \"rtmp\", \"url\": \"rtsp://h/a\"}", &cam, &c),
                   VG_ECONFIG);
  assert_string_equal(c.err_reason, "must start with rtmp:// for a camera of type \"rtmp\"");
  assert_int_equal(
      parse_camera("{\"id\": \"a\", \"type\": \"rtsp\", \"url\": \"rtmp://h/live/a\"}", &cam, &c),
      VG_ECONFIG);
  assert_int_equal(parse_camera("{\"id\": \"a\", \"type\": \"rtmp\", \"url\": \"https://h/a\"}", &cam, &c),
                   VG_ECONFIG);
  /* Other kinds keep their rules. */
  assert_int_equal(parse_camera("{\"id\": \"a\", \"url\": \"rtsp://h/a\"}", &cam, &c), 0);
  assert_int_equal(cam.kind, VG_SOURCE_RTSP);
  assert_int_equal(parse_camera("{\"id\": \"a\", \"type\": \"mjpeg\", \"url\": \"https://h/a\"}", &cam, &c),
                   0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_server_config),
      cmocka_unit_test(test_camera_type),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
