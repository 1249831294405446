/* Unit tests for src/base: errors, buffers, logging levels. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/base64.h"
#include "base/buf.h"
#include "base/error.h"
#include "base/log.h"

static void test_strerror_covers_all_spaces(void **state) {
  assert_string_equal(vg_strerror(0), "success");
  assert_string_equal(vg_strerror(VG_EPROTO), "protocol violation");
  assert_string_equal(vg_err_name(VG_EPROTO), "VG_EPROTO");
  assert_string_equal(vg_err_name(VG_ETIMEDOUT), "ETIMEDOUT");
  assert_non_null(strstr(vg_strerror(VG_ECONNREFUSED), "refused"));
}

static void test_buf_refcount_and_pool_reuse(void **state) {
  vg_buf_t *a = vg_buf_alloc(1000);
  assert_non_null(a);
  assert_true(a->cap >= 1000);
  assert_true(vg_buf_is_writable(a));
  vg_buf_t *b = vg_buf_ref(a);
  assert_false(vg_buf_is_writable(a));
  vg_buf_unref(&b);
  assert_null(b);
  assert_true(vg_buf_is_writable(a));
  uint8_t *mem = (uint8_t *)a;
  vg_buf_unref(&a);
  vg_buf_stats_t before, after;
  vg_buf_get_stats(&before);
  vg_buf_t *c = vg_buf_alloc(900); /* same size class: comes back from the pool */
  vg_buf_get_stats(&after);
  assert_ptr_equal((uint8_t *)c, mem);
  assert_int_equal(after.pool_hits, before.pool_hits + 1);
  vg_buf_unref(&c);
}

static void test_buf_append_grows(void **state) {
  vg_buf_t *b = vg_buf_alloc(4);
  char chunk[300];
  memset(chunk, 'x', sizeof(chunk));
  for (int i = 0; i < 100; i++)
    assert_int_equal(vg_buf_append(&b, chunk, sizeof(chunk)), 0);
  assert_int_equal(b->len, 30000);
  assert_int_equal(b->data[29999], 'x');
  vg_buf_unref(&b);
}

static int wrapped_freed;
static void wrapped_free(void *opaque, uint8_t *data) { wrapped_freed = (opaque == data); }

static void test_buf_wrap_calls_free_once(void **state) {
  static uint8_t mem[16];
  vg_buf_t *b = vg_buf_wrap(mem, sizeof(mem), wrapped_free, mem);
  vg_buf_t *r = vg_buf_ref(b);
  vg_buf_unref(&b);
  assert_int_equal(wrapped_freed, 0);
  vg_buf_unref(&r);
  assert_int_equal(wrapped_freed, 1);
}

static void test_log_level_parse(void **state) {
  vg_log_level_t l;
  assert_int_equal(vg_log_parse_level("debug", &l), 0);
  assert_int_equal(l, VG_LOG_DEBUG);
  assert_int_equal(vg_log_parse_level("loud", &l), VG_EINVAL);
}

static void test_base64_round_trip(void **state) {
  const uint8_t sps[] = {0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00};
  char enc[32];
  uint8_t dec[32];
  assert_int_equal(vg_base64_encode(sps, sizeof(sps), enc, sizeof(enc)), 8);
  assert_string_equal(enc, "Z0LAHtkA");
  assert_int_equal(vg_base64_decode(enc, strlen(enc), dec, sizeof(dec)), 6);
  assert_memory_equal(dec, sps, 6);
  assert_int_equal(vg_base64_decode("aGk=", 4, dec, sizeof(dec)), 2);
  assert_int_equal(vg_base64_decode("a*k=", 4, dec, sizeof(dec)), VG_EINVAL);
  assert_int_equal(vg_base64_decode("Z0LAHtkA", 8, dec, 3), VG_ETOOBIG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_strerror_covers_all_spaces),
      cmocka_unit_test(test_buf_refcount_and_pool_reuse),
      cmocka_unit_test(test_buf_append_grows),
      cmocka_unit_test(test_buf_wrap_calls_free_once),
      cmocka_unit_test(test_log_level_parse),
      cmocka_unit_test(test_base64_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
