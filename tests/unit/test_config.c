/* Unit tests for configuration reading: errors name the field and the reason. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/config.h"
#include "base/error.h"
#include "ingest/camera.h"

static int parse_camera(const char *text, vg_camera_config_t *cam, vg_cfg_t *c) {
  json_t *root;
  memset(c, 0, sizeof(*c));
  if (vg_cfg_load_string(c, text, &root)) return VG_ECONFIG;
  json_t *arr = vg_cfg_array(c, root, "cameras", 1);
  vg_cfg_enter(c, "cameras");
  int r = VG_ECONFIG;
  for (size_t i = 0; arr && i < json_array_size(arr); i++) {
    vg_cfg_enter_index(c, i);
    r = vg_camera_config_parse(c, json_array_get(arr, i), cam);
    vg_cfg_leave(c);
  }
  vg_cfg_leave(c);
  json_decref(root);
  return r;
}

static void test_camera_defaults(void **state) {
  vg_camera_config_t cam;
  vg_cfg_t c;
  assert_int_equal(
      parse_camera("{\"cameras\":[{\"id\":\"door\",\"url\":\"rtsp://u:p@10.0.0.5/s\"}]}", &cam, &c), 0);
  assert_string_equal(cam.id, "door");
  assert_string_equal(cam.name, "door");
  assert_int_equal(cam.kind, VG_SOURCE_RTSP);
  assert_int_equal(cam.transport, VG_TRANSPORT_TCP);
  assert_int_equal(cam.connect_timeout_ms, 5000);
  assert_true(cam.enabled);
}

static void test_errors_name_path_and_reason(void **state) {
  vg_camera_config_t cam;
  vg_cfg_t c;
  assert_int_equal(parse_camera("{\"cameras\":[{\"id\":\"a\",\"url\":\"rtsp://x/\"},"
                                "{\"id\":\"b\",\"url\":\"rtsp://x/\",\"transport\":\"quic\"}]}",
                                &cam, &c),
                   VG_ECONFIG);
  assert_string_equal(c.err_path, "cameras[1].transport");
  assert_string_equal(c.err_reason, "must be one of \"tcp\", \"udp\", \"auto\"");

  assert_int_equal(parse_camera("{\"cameras\":[{\"id\":\"a\",\"url\":\"ftp://x/\"}]}", &cam, &c), VG_ECONFIG);
  assert_string_equal(c.err_path, "cameras[0].url");

  assert_int_equal(parse_camera("{\"cameras\":[{\"id\":\"a b\",\"url\":\"rtsp://x/\"}]}", &cam, &c),
                   VG_ECONFIG);
  assert_string_equal(c.err_path, "cameras[0].id");
  assert_int_equal(parse_camera("{\"cameras\":[{\"id\":\"..\",\"url\":\"rtsp://x/\"}]}", &cam, &c),
                   VG_ECONFIG);
  assert_string_equal(c.err_path, "cameras[0].id");

  assert_int_equal(
      parse_camera("{\"cameras\":[{\"id\":\"a\",\"url\":\"rtsp://x/\",\"conect_timeout_ms\":5}]}", &cam, &c),
      VG_ECONFIG);
  assert_string_equal(c.err_path, "cameras[0].conect_timeout_ms");
  assert_string_equal(c.err_reason, "unknown field");

  assert_int_equal(
      parse_camera("{\"cameras\":[{\"id\":\"a\",\"url\":\"rtsp://x/\",\"read_timeout_ms\":-1}]}", &cam, &c),
      VG_ECONFIG);
  assert_non_null(strstr(c.err_reason, "between 100 and"));

  assert_int_equal(parse_camera("{\"cameras\":[{\"url\":\"rtsp://x/\"}]}", &cam, &c), VG_ECONFIG);
  assert_string_equal(c.err_path, "cameras[0].id");
  assert_string_equal(c.err_reason, "required field is missing");

  assert_int_equal(parse_camera("{\"cameras\": [", &cam, &c), VG_ECONFIG);
  assert_non_null(strstr(c.err_path, "line 1"));
}

static void test_safe_url_hides_credentials(void **state) {
  char out[256];
  vg_camera_safe_url("rtsp://admin:s3cret@10.1.2.3:554/Streaming/101?x=a@b", out, sizeof(out));
  assert_string_equal(out, "rtsp://10.1.2.3:554/Streaming/101?x=a@b");
  vg_camera_safe_url("rtsp://10.1.2.3/live", out, sizeof(out));
  assert_string_equal(out, "rtsp://10.1.2.3/live");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_camera_defaults),
      cmocka_unit_test(test_errors_name_path_and_reason),
      cmocka_unit_test(test_safe_url_hides_credentials),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
