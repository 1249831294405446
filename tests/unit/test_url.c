/* Unit tests for src/proto/url: parsing, printing without credentials, resolution. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/error.h"
#include "proto/url.h"

static void test_parse_camera_url_with_credentials(void **state) {
  vg_url_t u;
  assert_int_equal(vg_url_parse("rtsp://admin:pa%40ss%3Aw@192.168.1.64:8554/Streaming/Channels/101?transportmode=unicast", &u), 0);
  assert_string_equal(u.scheme, "rtsp");
  assert_string_equal(u.user, "admin");
  assert_string_equal(u.password, "pa@ss:w");
  assert_true(u.has_credentials);
  assert_string_equal(u.host, "192.168.1.64");
  assert_int_equal(u.port, 8554);
  assert_true(u.port_explicit);
  assert_string_equal(u.path, "/Streaming/Channels/101?transportmode=unicast");
}

static void test_default_ports_and_empty_path(void **state) {
  vg_url_t u;
  assert_int_equal(vg_url_parse("rtsp://cam.local", &u), 0);
  assert_int_equal(u.port, 554);
  assert_false(u.port_explicit);
  assert_string_equal(u.path, "/");
  assert_false(u.has_credentials);
  assert_int_equal(vg_url_parse("RTSPS://cam.local/x", &u), 0);
  assert_string_equal(u.scheme, "rtsps");
  assert_int_equal(u.port, 322);
  assert_int_equal(vg_url_parse("http://cam.local?snap=1", &u), 0);
  assert_int_equal(u.port, 80);
  assert_string_equal(u.path, "/?snap=1");
  assert_int_equal(vg_url_parse("rtsp://cam:/live", &u), 0); /* empty port: default */
  assert_int_equal(u.port, 554);
}

static void test_ipv6_host(void **state) {
  vg_url_t u;
  assert_int_equal(vg_url_parse("rtsp://user@[fe80::1%25eth0]:10554/live#frag", &u), 0);
  assert_string_equal(u.host, "fe80::1%25eth0");
  assert_true(u.host_is_ipv6);
  assert_int_equal(u.port, 10554);
  assert_string_equal(u.user, "user");
  assert_string_equal(u.password, "");
  assert_string_equal(u.path, "/live");
  assert_int_equal(vg_url_parse("rtsp://[::1]/", &u), 0);
  assert_string_equal(u.host, "::1");
  assert_int_equal(u.port, 554);
}

static void test_rejects_malformed(void **state) {
  vg_url_t u;
  assert_int_equal(vg_url_parse("cam.local/live", &u), VG_EINVAL);
  assert_int_equal(vg_url_parse("rtsp://", &u), VG_EINVAL);
  assert_int_equal(vg_url_parse("rtsp://cam:99999/", &u), VG_EINVAL);
  assert_int_equal(vg_url_parse("rtsp://cam:12ab/", &u), VG_EINVAL);
  assert_int_equal(vg_url_parse("rtsp://[::1/", &u), VG_EINVAL);
  assert_int_equal(vg_url_parse("rtsp://a:b:c/", &u), VG_EINVAL);
  assert_int_equal(vg_url_parse("rtsp://u:p%4@cam/", &u), VG_EINVAL);
  assert_int_equal(vg_url_parse("rtsp://u:p%00@cam/", &u), VG_EINVAL);
  assert_int_equal(vg_url_parse("rtsp://cam/a b", &u), VG_EINVAL);
  assert_int_equal(vg_url_parse("ftp://cam/", &u), VG_EUNSUPPORTED);
  assert_string_equal(u.host, ""); /* zeroed on failure */
  char longhost[400];
  memset(longhost, 'a', sizeof(longhost));
  memcpy(longhost, "rtsp://", 7);
  longhost[sizeof(longhost) - 1] = 0;
  assert_int_equal(vg_url_parse(longhost, &u), VG_ETOOBIG);
}

static void test_raw_at_in_password_uses_last_at(void **state) {
  vg_url_t u;
  assert_int_equal(vg_url_parse("rtsp://admin:p@ss@10.0.0.2/h264", &u), 0);
  assert_string_equal(u.password, "p@ss");
  assert_string_equal(u.host, "10.0.0.2");
}

static void test_print_never_shows_credentials(void **state) {
  vg_url_t u;
  char out[256];
  assert_int_equal(vg_url_parse("rtsp://admin:secret@[2001:db8::7]:8554/live?x=1", &u), 0);
  int n = vg_url_print(&u, out, sizeof(out));
  assert_string_equal(out, "rtsp://[2001:db8::7]:8554/live?x=1");
  assert_int_equal(n, (int)strlen(out));
  assert_null(strstr(out, "secret"));
  n = vg_url_print_with_credentials(&u, out, sizeof(out));
  assert_int_equal(n, (int)strlen(out));
  assert_string_equal(out, "rtsp://admin:secret@[2001:db8::7]:8554/live?x=1");
  assert_int_equal(vg_url_parse("rtsp://a%20b:p%40ss@cam/", &u), 0);
  vg_url_print_with_credentials(&u, out, sizeof(out));
  assert_string_equal(out, "rtsp://a%20b:p%40ss@cam/");
  assert_int_equal(vg_url_print(&u, out, 8), VG_ETOOBIG);
  assert_string_equal(out, "");

  assert_int_equal(vg_url_redact("rtsp://admin:12345@10.1.1.1/cam/realmonitor?channel=1", out, sizeof(out)), 41);
  assert_string_equal(out, "rtsp://10.1.1.1/cam/realmonitor?channel=1");
  vg_url_redact("rtsp://admin:p@ss@10.1.1.1/x", out, sizeof(out));
  assert_string_equal(out, "rtsp://10.1.1.1/x");
  vg_url_redact("rtsp://cam/a@b", out, sizeof(out)); /* '@' in the path is not userinfo */
  assert_string_equal(out, "rtsp://cam/a@b");
}

static void check_resolve(const char *base, const char *ref, const char *want) {
  char out[512];
  int n = vg_url_resolve(base, ref, out, sizeof(out));
  assert_true(n >= 0);
  assert_string_equal(out, want);
}

static void test_resolve_rfc3986_examples(void **state) {
  const char *base = "http://a/b/c/d;p?q";
  check_resolve(base, "g", "http://a/b/c/g");
  check_resolve(base, "./g", "http://a/b/c/g");
  check_resolve(base, "g/", "http://a/b/c/g/");
  check_resolve(base, "/g", "http://a/g");
  check_resolve(base, "//g", "http://g");
  check_resolve(base, "?y", "http://a/b/c/d;p?y");
  check_resolve(base, "g?y", "http://a/b/c/g?y");
  check_resolve(base, "", "http://a/b/c/d;p?q");
  check_resolve(base, ".", "http://a/b/c/");
  check_resolve(base, "..", "http://a/b/");
  check_resolve(base, "../g", "http://a/b/g");
  check_resolve(base, "../../g", "http://a/g");
  check_resolve(base, "../../../g", "http://a/g");
  check_resolve(base, "/./g", "http://a/g");
  check_resolve(base, "g;x=1/../y", "http://a/b/c/y");
  check_resolve(base, "rtsp://other/x", "rtsp://other/x");
  check_resolve("rtsp://u:p@cam:554/live/", "trackID=1", "rtsp://u:p@cam:554/live/trackID=1");
  check_resolve("rtsp://cam", "track1", "rtsp://cam/track1");
  char out[8];
  assert_int_equal(vg_url_resolve("noscheme", "g", out, sizeof(out)), VG_EINVAL);
  assert_int_equal(vg_url_resolve("rtsp://cam/long/path", "g", out, sizeof(out)), VG_ETOOBIG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_camera_url_with_credentials),
      cmocka_unit_test(test_default_ports_and_empty_path),
      cmocka_unit_test(test_ipv6_host),
      cmocka_unit_test(test_rejects_malformed),
      cmocka_unit_test(test_raw_at_in_password_uses_last_at),
      cmocka_unit_test(test_print_never_shows_credentials),
      cmocka_unit_test(test_resolve_rfc3986_examples),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
