/* Unit tests for src/proto/amf0: round trips of every supported type,
 * lookups, ffmpeg's real connect command, and malformed or hostile input
 * (truncation at every length, lying counts, deep nesting, node limits). */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "proto/amf0.h"

static vg_amf0_doc_t doc;

static void test_round_trip_all_types(void **state) {
  uint8_t buf[1 << 17];
  vg_amf0_writer_t w;
  vg_amf0_writer_init(&w, buf, sizeof(buf));
  vg_amf0_put_number(&w, 3.5);
  vg_amf0_put_bool(&w, 1);
  vg_amf0_put_string(&w, "hello");
  vg_amf0_put_object_begin(&w);
  vg_amf0_put_prop_string(&w, "app", "live");
  vg_amf0_put_prop_number(&w, "n", -2);
  vg_amf0_put_key(&w, "inner");
  vg_amf0_put_ecma_begin(&w, 1);
  vg_amf0_put_prop_bool(&w, "b", 0);
  vg_amf0_put_object_end(&w);
  vg_amf0_put_object_end(&w);
  vg_amf0_put_null(&w);
  vg_amf0_put_undefined(&w);
  vg_amf0_put_strict_array_begin(&w, 2);
  vg_amf0_put_number(&w, 1);
  vg_amf0_put_string(&w, "two");
  vg_amf0_put_date(&w, 1700000000000.0, 60);
  static char big[70000];
  memset(big, 'x', sizeof(big));
  vg_amf0_put_string_n(&w, big, sizeof(big)); /* becomes a long string */
  assert_int_equal(w.err, 0);

  assert_int_equal(vg_amf0_decode(buf, w.len, &doc), 9);
  assert_true(vg_amf0_top(&doc, 0)->number == 3.5);
  assert_int_equal(vg_amf0_top(&doc, 1)->boolean, 1);
  assert_true(vg_amf0_str_eq(vg_amf0_top(&doc, 2), "hello"));
  const vg_amf0_value_t *obj = vg_amf0_top(&doc, 3);
  assert_int_equal(obj->type, VG_AMF0_OBJECT);
  assert_int_equal(obj->count, 3);
  char s[16];
  assert_int_equal(vg_amf0_str(vg_amf0_get(&doc, obj, "app"), s, sizeof(s)), 4);
  assert_string_equal(s, "live");
  assert_true(vg_amf0_num(vg_amf0_get(&doc, obj, "n"), 0) == -2);
  const vg_amf0_value_t *inner = vg_amf0_get(&doc, obj, "inner");
  assert_int_equal(inner->type, VG_AMF0_ECMA_ARRAY);
  assert_int_equal(vg_amf0_get(&doc, inner, "b")->boolean, 0);
  assert_null(vg_amf0_get(&doc, obj, "missing"));
  assert_int_equal(vg_amf0_top(&doc, 4)->type, VG_AMF0_NULL);
  assert_int_equal(vg_amf0_top(&doc, 5)->type, VG_AMF0_UNDEFINED);
  const vg_amf0_value_t *arr = vg_amf0_top(&doc, 6);
  assert_int_equal(arr->count, 2);
  assert_true(vg_amf0_str_eq(vg_amf0_child(&doc, arr, 1), "two"));
  assert_null(vg_amf0_child(&doc, arr, 2));
  assert_true(vg_amf0_top(&doc, 7)->number == 1700000000000.0);
  assert_int_equal(vg_amf0_top(&doc, 7)->tz, 60);
  assert_int_equal(vg_amf0_top(&doc, 8)->type, VG_AMF0_LONG_STRING);
  assert_int_equal(vg_amf0_top(&doc, 8)->str_len, sizeof(big));
  assert_null(vg_amf0_top(&doc, 9));
  /* Too small for the string copy. */
  assert_int_equal(vg_amf0_str(vg_amf0_top(&doc, 2), s, 5), VG_ETOOBIG);
  assert_int_equal(vg_amf0_str(vg_amf0_top(&doc, 0), s, sizeof(s)), VG_EINVAL);
}

static void test_writer_overflow_is_sticky(void **state) {
  uint8_t buf[12];
  vg_amf0_writer_t w;
  vg_amf0_writer_init(&w, buf, sizeof(buf));
  vg_amf0_put_number(&w, 1); /* 9 bytes */
  vg_amf0_put_string(&w, "abcdef");
  assert_int_equal(w.err, VG_ETOOBIG);
  assert_true(w.len <= sizeof(buf));
  size_t len = w.len;
  vg_amf0_put_null(&w); /* would fit, but the error sticks */
  assert_int_equal(w.len, len);
  assert_int_equal(w.err, VG_ETOOBIG);
}

/* ffmpeg's connect command as it is laid out on the wire, with fewer
 * properties (the whole real one is in tests/data/rtmp/publish_chunks.bin). */
static const uint8_t ffmpeg_connect[] = {
    0x02, 0x00, 0x07, 'c',  'o',  'n',  'n',  'e',  'c',  't',  0x00, 0x3f, 0xf0, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x03, 0x00, 0x03, 'a',  'p',  'p',  0x02, 0x00, 0x04, 'l',  'i',  'v',  'e',
    0x00, 0x04, 't',  'y',  'p',  'e',  0x02, 0x00, 0x0a, 'n',  'o',  'n',  'p',  'r',  'i',  'v',
    'a',  't',  'e',  0x00, 0x05, 't',  'c',  'U',  'r',  'l',  0x02, 0x00, 0x10, 'r',  't',  'm',
    'p',  ':',  '/',  '/',  'h',  'o',  's',  't',  '/',  'l',  'i',  'v',  'e',  0x00, 0x00, 0x09};

static void test_real_connect(void **state) {
  assert_int_equal(vg_amf0_decode(ffmpeg_connect, sizeof(ffmpeg_connect), &doc), 3);
  assert_true(vg_amf0_str_eq(vg_amf0_top(&doc, 0), "connect"));
  assert_true(vg_amf0_num(vg_amf0_top(&doc, 1), 0) == 1);
  const vg_amf0_value_t *o = vg_amf0_top(&doc, 2);
  assert_true(vg_amf0_str_eq(vg_amf0_get(&doc, o, "app"), "live"));
  assert_true(vg_amf0_str_eq(vg_amf0_get(&doc, o, "tcUrl"), "rtmp://host/live"));
  /* Every truncation is an error, never a read past the end. */
  for (size_t n = 1; n < sizeof(ffmpeg_connect); n++) {
    uint8_t *cut = malloc(n);
    memcpy(cut, ffmpeg_connect, n);
    int r = vg_amf0_decode(cut, n, &doc);
    /* Cutting right after a complete value leaves fewer values, not an error. */
    if (n == 10 || n == 19)
      assert_true(r == 1 || r == 2);
    else
      assert_int_equal(r, VG_EPROTO);
    free(cut);
  }
}

static void test_malformed(void **state) {
  /* A strict array claiming more values than there are bytes. */
  const uint8_t lying[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x05};
  assert_int_equal(vg_amf0_decode(lying, sizeof(lying), &doc), VG_EPROTO);
  /* A string longer than the input. */
  const uint8_t long_str[] = {0x02, 0x10, 0x00, 'a'};
  assert_int_equal(vg_amf0_decode(long_str, sizeof(long_str), &doc), VG_EPROTO);
  /* Object end where a value should be. */
  const uint8_t stray_end[] = {0x09};
  assert_int_equal(vg_amf0_decode(stray_end, sizeof(stray_end), &doc), VG_EPROTO);
  /* AMF3 switch, references and typed objects are not taken. */
  const uint8_t amf3[] = {0x11, 0x01};
  assert_int_equal(vg_amf0_decode(amf3, sizeof(amf3), &doc), VG_EUNSUPPORTED);
  const uint8_t reference[] = {0x07, 0x00, 0x01};
  assert_int_equal(vg_amf0_decode(reference, sizeof(reference), &doc), VG_EUNSUPPORTED);
  /* An object without its end marker. */
  const uint8_t open_obj[] = {0x03, 0x00, 0x01, 'a', 0x05};
  assert_int_equal(vg_amf0_decode(open_obj, sizeof(open_obj), &doc), VG_EPROTO);
  /* Empty input: no values. */
  assert_int_equal(vg_amf0_decode(NULL, 0, &doc), 0);
}

static void test_limits(void **state) {
  /* Nesting deeper than VG_AMF0_MAX_DEPTH. */
  uint8_t deep[4 * 64];
  size_t n = 0;
  for (int i = 0; i < 40; i++) {
    deep[n++] = 0x0a; /* strict array of one value */
    deep[n++] = 0, deep[n++] = 0, deep[n++] = 0, deep[n++] = 1;
  }
  deep[n++] = 0x05;
  assert_int_equal(vg_amf0_decode(deep, n, &doc), VG_ETOOBIG);
  /* More values than nodes. */
  static uint8_t many[VG_AMF0_MAX_NODES + 10];
  memset(many, 0x05, sizeof(many));
  assert_int_equal(vg_amf0_decode(many, sizeof(many), &doc), VG_ETOOBIG);
  assert_int_equal(vg_amf0_decode(many, VG_AMF0_MAX_NODES, &doc), VG_AMF0_MAX_NODES);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip_all_types),
      cmocka_unit_test(test_writer_overflow_is_sticky),
      cmocka_unit_test(test_real_connect),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
