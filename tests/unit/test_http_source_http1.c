/* Unit tests for the sans-I/O HTTP/1.1 client codec (proto/http1.h) used by
 * the HTTP camera sources: response heads, bodies, multipart MJPEG. */
/* cmocka needs these first, in this order. */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <string.h>

#include "base/error.h"
#include "proto/http1.h"

#define U8(s) ((const uint8_t *)(s))

static void test_response_head(void **state) {
  const char *m = "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length:  1234 \r\n\r\nBODY";
  vg_http1_response_t r;
  size_t used;
  assert_int_equal(vg_http1_parse_response(U8(m), strlen(m), 0, &r, &used), 0);
  assert_int_equal(used, strlen(m) - 4);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.version_minor, 1);
  assert_true(vg_http1_str_eq(r.reason, "OK"));
  assert_int_equal(r.content_length, 1234);
  assert_false(r.chunked);
  assert_true(r.keep_alive);
  assert_true(vg_http1_str_eq(*vg_http1_header(&r, "content-type"), "image/jpeg"));
  assert_null(vg_http1_header(&r, "X-None"));
  /* Every prefix is incomplete, never an error. */
  for (size_t n = 0; n < used; n++)
    assert_int_equal(vg_http1_parse_response(U8(m), n, 0, &r, &used), VG_EINCOMPLETE);
}

static void test_response_errors(void **state) {
  vg_http1_response_t r;
  size_t used;
  const char *bad[] = {
      "RTSP/1.0 200 OK\r\n\r\n",
      "HTTP/2.0 200 OK\r\n\r\n",
      "HTTP/1.1 20 OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
      "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
      "GARBAGE",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(vg_http1_parse_response(U8(bad[i]), strlen(bad[i]), 0, &r, &used), VG_EPROTO);
  /* A head that never ends is bounded. */
  char big[600];
  memset(big, 'a', sizeof(big));
  memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
  assert_int_equal(vg_http1_parse_response(U8(big), sizeof(big), 512, &r, &used), VG_ETOOBIG);
  /* A huge Content-Length is refused by the body bound. */
  const char *huge = "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n";
  assert_int_equal(vg_http1_parse_response(U8(huge), strlen(huge), 0, &r, &used), 0);
  vg_http1_body_t b;
  assert_int_equal(vg_http1_body_init(&b, &r, 1 << 20), VG_ETOOBIG);
}

static void test_http10_and_close(void **state) {
  vg_http1_response_t r;
  size_t used;
  const char *m = "HTTP/1.0 401 Unauthorized\nWWW-Authenticate: Basic realm=\"cam\"\n\n";
  assert_int_equal(vg_http1_parse_response(U8(m), strlen(m), 0, &r, &used), 0);
  assert_int_equal(r.status, 401);
  assert_false(r.keep_alive);
  assert_int_equal(r.content_length, -1);
  vg_http1_body_t b;
  assert_int_equal(vg_http1_body_init(&b, &r, 100), 0);
  assert_int_equal(b.mode, VG_HTTP1_BODY_EOF);
  assert_int_equal(vg_http1_body_eof(&b), 1);
}

/* Decodes a whole body fed in pieces of `step` bytes; returns its length. */
static int decode_all(vg_http1_body_t *b, const char *in, size_t len, size_t step, char *out) {
  char buf[256];
  size_t have = 0, fed = 0, out_len = 0;
  for (;;) {
    size_t n = len - fed < step ? len - fed : step;
    memcpy(buf + have, in + fed, n);
    have += n, fed += n;
    for (;;) {
      const uint8_t *d;
      size_t dl, used;
      int r = vg_http1_body_decode(b, U8(buf), have, &d, &dl, &used);
      if (r < 0 && r != VG_EINCOMPLETE) return r;
      if (dl) memcpy(out + out_len, d, dl);
      out_len += dl;
      memmove(buf, buf + used, have - used);
      have -= used;
      if (r == 1) return (int)out_len;
      if (r == VG_EINCOMPLETE) break;
    }
    if (fed == len) return VG_EINCOMPLETE;
  }
}

static void test_chunked_body(void **state) {
  const char *head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n";
  const char *body = "5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n";
  vg_http1_response_t r;
  size_t used;
  assert_int_equal(vg_http1_parse_response(U8(head), strlen(head), 0, &r, &used), 0);
  assert_true(r.chunked);
  assert_int_equal(r.content_length, -1);
  for (size_t step = 1; step < 12; step++) {
    vg_http1_body_t b;
    char out[64] = {0};
    assert_int_equal(vg_http1_body_init(&b, &r, 0), 0);
    assert_int_equal(decode_all(&b, body, strlen(body), step, out), 12);
    assert_string_equal(out, "hello, world");
  }
  /* Bad chunk sizes and a missing CRLF after the data are errors. */
  const char *bad[] = {"zz\r\n", "5\r\nhelloXX", "fffffffffffffffff\r\n"};
  for (size_t i = 0; i < 3; i++) {
    vg_http1_body_t b;
    char out[64];
    vg_http1_body_init(&b, &r, 0);
    assert_int_equal(decode_all(&b, bad[i], strlen(bad[i]), 64, out), VG_EPROTO);
  }
  /* A chunk beyond the body bound. */
  vg_http1_body_t b;
  char out[64];
  vg_http1_body_init(&b, &r, 4);
  assert_int_equal(decode_all(&b, body, strlen(body), 64, out), VG_ETOOBIG);
}

static void test_length_body(void **state) {
  vg_http1_response_t r = {.status = 200, .content_length = 5};
  vg_http1_body_t b;
  char out[16] = {0};
  assert_int_equal(vg_http1_body_init(&b, &r, 0), 0);
  assert_int_equal(decode_all(&b, "helloEXTRA", 10, 3, out), 5);
  assert_memory_equal(out, "hello", 5);
  vg_http1_body_init(&b, &r, 0);
  assert_int_equal(vg_http1_body_eof(&b), VG_EPROTO); /* truncated */
  r.status = 204;
  vg_http1_body_init(&b, &r, 0);
  assert_int_equal(vg_http1_body_eof(&b), 1);
}

static void test_boundary(void **state) {
  char out[80];
  vg_http1_str_t ct = {"multipart/x-mixed-replace; boundary=myframe", 43};
  assert_int_equal(vg_http1_multipart_boundary(ct, out, sizeof(out)), 7);
  assert_string_equal(out, "myframe");
  const char *q = "multipart/x-mixed-replace;boundary=\"--ab cd\"; charset=x";
  assert_int_equal(vg_http1_multipart_boundary((vg_http1_str_t){q, strlen(q)}, out, sizeof(out)), 5);
  assert_string_equal(out, "ab cd");
  const char *j = "image/jpeg";
  assert_int_equal(vg_http1_multipart_boundary((vg_http1_str_t){j, strlen(j)}, out, sizeof(out)),
                   VG_EUNSUPPORTED);
  const char *none = "multipart/x-mixed-replace";
  assert_int_equal(vg_http1_multipart_boundary((vg_http1_str_t){none, strlen(none)}, out, sizeof(out)),
                   VG_EPROTO);
}

static void test_multipart_parts(void **state) {
  /* Part 1 with Content-Length (which may contain the delimiter text),
   * part 2 without (ends at the next delimiter), then the close. */
  const char *s = "preamble\r\n--fr\r\nContent-Type: image/jpeg\r\nContent-Length: 8\r\n\r\nab\n--frcd\r\n"
                  "--fr\r\nContent-Type: image/jpeg\r\n\r\nXYZ\r\n--fr--\r\n";
  size_t len = strlen(s), pos = 0, used;
  vg_http1_part_t p;
  assert_int_equal(vg_http1_multipart_next(U8(s), len, "fr", 1000, &p, &used), 1);
  assert_int_equal(p.body_len, 8);
  assert_memory_equal(p.body, "ab\n--frcd", 8);
  assert_true(vg_http1_str_eq(p.content_type, "image/jpeg"));
  pos += used;
  assert_int_equal(vg_http1_multipart_next(U8(s + pos), len - pos, "fr", 1000, &p, &used), 1);
  assert_int_equal(p.body_len, 3);
  assert_memory_equal(p.body, "XYZ", 3);
  pos += used;
  assert_int_equal(vg_http1_multipart_next(U8(s + pos), len - pos, "fr", 1000, &p, &used), 0);
  /* Each prefix of the first part is incomplete. */
  for (size_t n = 0; n < 71; n++) {
    int r = vg_http1_multipart_next(U8(s), n, "fr", 1000, &p, &used);
    assert_int_equal(r, VG_EINCOMPLETE);
  }
  /* Bounds: a part larger than max_part, and no delimiter at all. */
  assert_int_equal(vg_http1_multipart_next(U8(s), len, "fr", 4, &p, &used), VG_ETOOBIG);
  char junk[200];
  memset(junk, 'j', sizeof(junk));
  assert_int_equal(vg_http1_multipart_next(U8(junk), sizeof(junk), "fr", 100, &p, &used), VG_ETOOBIG);
  const char *badhead = "--fr\r\nno colon\r\n\r\nx";
  assert_int_equal(vg_http1_multipart_next(U8(badhead), strlen(badhead), "fr", 100, &p, &used), VG_EPROTO);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_response_head),    cmocka_unit_test(test_response_errors),
      cmocka_unit_test(test_http10_and_close), cmocka_unit_test(test_chunked_body),
      cmocka_unit_test(test_length_body),      cmocka_unit_test(test_boundary),
      cmocka_unit_test(test_multipart_parts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
