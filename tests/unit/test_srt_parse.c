/* Unit tests for the SRT stream id and srt:// URL parsers and the
 * srt_server configuration (src/ingest/srt_parse.c, srt_ingest.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "base/error.h"
#include "ingest/camera.h"
#include "ingest/srt_ingest.h"

static void test_streamid(void **state) {
  (void)state;
  char name[64];
  assert_int_equal(vg_srt_streamid_name("cam1", name, sizeof(name)), 0);
  assert_string_equal(name, "cam1");
  assert_int_equal(vg_srt_streamid_name("#!::r=door,m=publish", name, sizeof(name)), 0);
  assert_string_equal(name, "door");
  assert_int_equal(vg_srt_streamid_name("#!::u=admin,r=yard", name, sizeof(name)), 0);
  assert_string_equal(name, "yard");
  assert_int_equal(vg_srt_streamid_name("%23%21%3A%3Ar%3Dgate%2Cm%3Dpublish", name, sizeof(name)), 0);
  assert_string_equal(name, "gate");
  assert_int_equal(vg_srt_streamid_name("#!::r=door,m=request", name, sizeof(name)), VG_EUNSUPPORTED);
  assert_int_equal(vg_srt_streamid_name("#!::m=publish", name, sizeof(name)), VG_EINVAL);
  assert_int_equal(vg_srt_streamid_name("#!::r=", name, sizeof(name)), VG_EINVAL);
  assert_int_equal(vg_srt_streamid_name("#!::garbage", name, sizeof(name)), VG_EINVAL);
  assert_int_equal(vg_srt_streamid_name("", name, sizeof(name)), VG_EINVAL);
  assert_int_equal(vg_srt_streamid_name(NULL, name, sizeof(name)), VG_EINVAL);
  assert_int_equal(vg_srt_streamid_name("%2", name, sizeof(name)), VG_EINVAL);
  assert_int_equal(vg_srt_streamid_name("%00x", name, sizeof(name)), VG_EINVAL);
  char longid[200];
  memset(longid, 'a', sizeof(longid) - 1);
  longid[sizeof(longid) - 1] = 0;
  assert_int_equal(vg_srt_streamid_name(longid, name, sizeof(name)), VG_EINVAL);
}

static void test_url(void **state) {
  (void)state;
  vg_srt_url_t u;
  assert_int_equal(vg_srt_url_parse("srt://10.0.0.5:9000", &u), 0);
  assert_string_equal(u.host, "10.0.0.5");
  assert_int_equal(u.port, 9000);
  assert_string_equal(u.streamid, "");
  assert_int_equal(u.latency_ms, -1);
  assert_int_equal(
      vg_srt_url_parse(
          "srt://cam.local:8890?streamid=%23%21%3A%3Ar%3Dcam1&passphrase=0123456789ab&latency=200", &u),
      0);
  assert_string_equal(u.host, "cam.local");
  assert_string_equal(u.streamid, "#!::r=cam1");
  assert_string_equal(u.passphrase, "0123456789ab");
  assert_int_equal(u.latency_ms, 200);
  assert_int_equal(vg_srt_url_parse("srt://[::1]:7000/?mode=caller&streamid=x", &u), 0);
  assert_string_equal(u.host, "::1");
  assert_int_equal(u.port, 7000);
  assert_string_equal(u.streamid, "x");
  assert_int_equal(vg_srt_url_parse("srt://host", &u), VG_EINVAL);
  assert_int_equal(vg_srt_url_parse("srt://:9000", &u), VG_EINVAL);
  assert_int_equal(vg_srt_url_parse("srt://host:0", &u), VG_EINVAL);
  assert_int_equal(vg_srt_url_parse("srt://host:70000", &u), VG_EINVAL);
  assert_int_equal(vg_srt_url_parse("srt://host:12x", &u), VG_EINVAL);
  assert_int_equal(vg_srt_url_parse("rtsp://host:554", &u), VG_EINVAL);
  assert_int_equal(vg_srt_url_parse("srt://host:1?passphrase=short", &u), VG_EINVAL);
  assert_int_equal(vg_srt_url_parse("srt://host:1?latency=-5", &u), VG_EINVAL);
  assert_int_equal(vg_srt_url_parse("srt://host:1?streamid=%zz", &u), VG_EINVAL);
  assert_int_equal(vg_srt_url_parse("srt://user@host:1", &u), VG_EINVAL);
}

static void test_safe_url_masks_passphrase(void **state) {
  (void)state;
  char out[256];
  vg_camera_safe_url("srt://h:1?streamid=a&passphrase=0123456789&latency=5", out, sizeof(out));
  assert_string_equal(out, "srt://h:1?streamid=a&passphrase=***&latency=5");
  vg_camera_safe_url("srt://h:1?passphrase=0123456789", out, sizeof(out));
  assert_string_equal(out, "srt://h:1?passphrase=***");
  vg_camera_safe_url("srt://h:1", out, sizeof(out));
  assert_string_equal(out, "srt://h:1");
}

static int parse_cfg(const char *text, vg_srt_server_config_t *out) {
  vg_cfg_t c;
  memset(&c, 0, sizeof(c));
  json_t *root;
  if (vg_cfg_load_string(&c, text, &root)) return VG_ECONFIG;
  int r = vg_srt_server_config_parse(&c, root, out);
  json_decref(root);
  return r;
}

static void test_config(void **state) {
  (void)state;
  vg_srt_server_config_t cfg;
  vg_cfg_t c;
  memset(&c, 0, sizeof(c));
  assert_int_equal(vg_srt_server_config_parse(&c, NULL, &cfg), 0);
  assert_false(cfg.enabled);
  assert_string_equal(cfg.bind, "0.0.0.0");
  assert_int_equal(cfg.port, 8890);
  assert_int_equal(cfg.latency_ms, 120);
  assert_string_equal(cfg.passphrase, "");
  assert_int_equal(
      parse_cfg("{\"enabled\": true, \"port\": 9000, \"passphrase\": \"0123456789\", \"latency_ms\": 50}",
                &cfg),
      0);
  assert_true(cfg.enabled);
  assert_int_equal(cfg.port, 9000);
  assert_string_equal(cfg.passphrase, "0123456789");
  assert_int_equal(cfg.latency_ms, 50);
  assert_int_equal(parse_cfg("{\"passphrase\": \"short\"}", &cfg), VG_ECONFIG);
  assert_int_equal(parse_cfg("{\"port\": 0}", &cfg), VG_ECONFIG);
  assert_int_equal(parse_cfg("{\"colour\": 1}", &cfg), VG_ECONFIG);
}

static void test_camera_config_srt(void **state) {
  (void)state;
  vg_cfg_t c;
  memset(&c, 0, sizeof(c));
  json_t *root;
  vg_camera_config_t cam;
  assert_int_equal(vg_cfg_load_string(&c, "{\"id\": \"s1\", \"url\": \"srt://10.0.0.9:9000\"}", &root), 0);
  assert_int_equal(vg_camera_config_parse(&c, root, &cam), 0);
  assert_int_equal(cam.kind, VG_SOURCE_SRT);
  assert_string_equal(vg_source_kind_name(cam.kind), "srt");
  json_decref(root);
  memset(&c, 0, sizeof(c));
  assert_int_equal(
      vg_cfg_load_string(&c, "{\"id\": \"s2\", \"type\": \"srt\", \"url\": \"rtsp://x/y\"}", &root), 0);
  assert_int_equal(vg_camera_config_parse(&c, root, &cam), VG_ECONFIG);
  json_decref(root);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_streamid),
      cmocka_unit_test(test_url),
      cmocka_unit_test(test_safe_url_masks_passphrase),
      cmocka_unit_test(test_config),
      cmocka_unit_test(test_camera_config_srt),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
