/* Unit tests for the recording-control request parsers: RFC 3339 times
 * (offsets, fractions, impossible dates), trigger bodies and lock bodies,
 * with the error naming the bad field. The routes themselves run in
 * tests/integration/test_retention.py against a real node. */
/* cmocka needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "api/record_api.h"
#include "base/error.h"

#define SEC 1000000LL

static void test_time(void **state) {
  (void)state;
  int64_t t;
  assert_int_equal(vg_record_api_parse_time("1970-01-01T00:00:00Z", &t), 0);
  assert_int_equal(t, 0);
  assert_int_equal(vg_record_api_parse_time("2026-11-21T12:00:00Z", &t), 0);
  assert_int_equal(t, 1795262400 * SEC);
  assert_int_equal(vg_record_api_parse_time("2026-11-21T13:30:00.25+01:30", &t), 0);
  assert_int_equal(t, 1795262400 * SEC + 250000);
  assert_int_equal(vg_record_api_parse_time("2026-11-21t07:00:00-05:00", &t), 0);
  assert_int_equal(t, 1795262400 * SEC);
  assert_int_equal(vg_record_api_parse_time("2024-02-29T00:00:00Z", &t), 0);
  static const char *const bad[] = {
      "",
      "2026-11-21",
      "2026-11-21T12:00:00",
      "2026-11-21T12:00:00+01",
      "2026-11-21T12:00:00+0100",
      "2026-11-21T12:00:00.Z",
      "2026-11-21T24:00:00Z",
      "2026-13-01T00:00:00Z",
      "2026-02-31T00:00:00Z",
      "2025-02-29T00:00:00Z",
      "1969-12-31T23:59:59Z",
      "2026-+1-21T12:00:00Z",
      " 2026-11-21T12:00:00Z",
      "2026-11-21T12:00:00Zjunk",
      "yesterday",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(vg_record_api_parse_time(bad[i], &t), VG_EINVAL);
}

static int trigger(const char *body, int *d, char *reason, char *err) {
  return vg_record_api_parse_trigger(body, strlen(body), d, reason, 256, err, 160);
}

static void test_trigger_body(void **state) {
  (void)state;
  int d = 0;
  char reason[256], err[160];
  assert_int_equal(trigger("{\"duration_s\": 30}", &d, reason, err), 0);
  assert_int_equal(d, 30);
  assert_string_equal(reason, "api");
  assert_int_equal(trigger("{\"duration_s\": 86400, \"reason\": \"door\"}", &d, reason, err), 0);
  assert_string_equal(reason, "door");
  static const char *const bad[] = {"{}",
                                    "{\"duration_s\": 0}",
                                    "{\"duration_s\": 86401}",
                                    "{\"duration_s\": \"5\"}",
                                    "{\"duration_s\": 2.5}",
                                    "{\"duration_s\": null}"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(trigger(bad[i], &d, reason, err), VG_EINVAL);
    assert_non_null(strstr(err, "duration_s"));
  }
  assert_int_equal(trigger("{\"duration_s\": 5, \"reason\": 7}", &d, reason, err), VG_EINVAL);
  assert_non_null(strstr(err, "reason"));
  assert_int_equal(trigger("[5]", &d, reason, err), VG_EINVAL);
  assert_int_equal(trigger("{\"duration_s\": 5", &d, reason, err), VG_EINVAL);
  assert_int_equal(vg_record_api_parse_trigger(NULL, 0, &d, reason, 256, err, 160), VG_EINVAL);
  assert_int_equal(trigger("{\"duration_s\": 5, \"duration_s\": 6}", &d, reason, err), VG_EINVAL);
}

static int lock(const char *body, vg_rec_lock_t *l, char *err) {
  memset(l, 0, sizeof(*l));
  return vg_record_api_parse_lock(body, strlen(body), l, err, 160);
}

static void test_lock_body(void **state) {
  (void)state;
  vg_rec_lock_t l;
  char err[160];
  assert_int_equal(lock("{\"start\": 100, \"end\": 200.5, \"reason\": \"case 1\"}", &l, err), 0);
  assert_int_equal(l.start_us, 100 * SEC);
  assert_int_equal(l.end_us, 200 * SEC + 500000);
  assert_int_equal(l.until_us, 0);
  assert_string_equal(l.reason, "case 1");
  assert_int_equal(lock("{\"start\": \"2026-11-21T12:00:00Z\", \"end\": \"2026-11-21T12:05:00Z\", "
                        "\"until\": \"2027-01-01T00:00:00Z\", \"reason\": \"r\"}",
                        &l, err),
                   0);
  assert_int_equal(l.end_us - l.start_us, 300 * SEC);
  assert_true(l.until_us > l.end_us);
  struct {
    const char *body, *field;
  } bad[] = {
      {"{\"end\": 200, \"reason\": \"r\"}", "start"},
      {"{\"start\": \"noon\", \"end\": 200, \"reason\": \"r\"}", "start"},
      {"{\"start\": -5, \"end\": 200, \"reason\": \"r\"}", "start"},
      {"{\"start\": 100, \"reason\": \"r\"}", "end"},
      {"{\"start\": 100, \"end\": 100, \"reason\": \"r\"}", "end"},
      {"{\"start\": 100, \"end\": 200, \"until\": true, \"reason\": \"r\"}", "until"},
      {"{\"start\": 100, \"end\": 200}", "reason"},
      {"{\"start\": 100, \"end\": 200, \"reason\": \"\"}", "reason"},
      {"\"start\"", "JSON object"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(lock(bad[i].body, &l, err), VG_EINVAL);
    assert_non_null(strstr(err, bad[i].field));
  }
  char big[400];
  snprintf(big, sizeof(big), "{\"start\": 1, \"end\": 2, \"reason\": \"%0300d\"}", 0);
  assert_int_equal(lock(big, &l, err), VG_EINVAL);
  assert_non_null(strstr(err, "reason"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_time),
      cmocka_unit_test(test_trigger_body),
      cmocka_unit_test(test_lock_body),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
