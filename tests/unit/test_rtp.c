/* Unit tests for src/proto/rtp.c: header parsing, unwrapping, RFC 3550
 * receiver statistics and the UDP reorder buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "base/error.h"
#include "proto/rtp.h"

static void test_parse_full_header(void **state) {
  /* V=2 P=1 X=1 CC=2, M=1 PT=96, CSRCs, one extension word, 2 padding bytes. */
  const uint8_t p[] = {0xb2, 0xe0, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03,
                       0x04, 0,    0,    0,    1,    0,    0,    0,    2,    0xbe, 0xde,
                       0x00, 0x01, 0x11, 0x22, 0x33, 0x44, 0xaa, 0xbb, 0x00, 0x02};
  vg_rtp_packet_t r;
  assert_int_equal(vg_rtp_parse(p, sizeof(p), &r), 0);
  assert_int_equal(r.marker, 1);
  assert_int_equal(r.payload_type, 96);
  assert_int_equal(r.seq, 0x1234);
  assert_int_equal(r.timestamp, 0xdeadbeef);
  assert_int_equal(r.ssrc, 0x01020304);
  assert_int_equal(r.csrc_count, 2);
  assert_int_equal(r.csrc[1], 2);
  assert_int_equal(r.ext_profile, 0xbede);
  assert_int_equal(r.ext_len, 4);
  assert_int_equal(r.payload_len, 2);
  assert_int_equal(r.payload[0], 0xaa);
  /* Every truncation fails cleanly. */
  for (size_t n = 0; n < 30; n++)
    assert_int_equal(vg_rtp_parse(p, n, &r), VG_EPROTO);
  uint8_t v1[12] = {0x40};
  assert_int_equal(vg_rtp_parse(v1, sizeof(v1), &r), VG_EPROTO);
  uint8_t badpad[13] = {0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5};
  assert_int_equal(vg_rtp_parse(badpad, sizeof(badpad), &r), VG_EPROTO);
}

static void test_write_and_patch(void **state) {
  vg_rtp_packet_t h = {.marker = 1, .payload_type = 97, .seq = 65535, .timestamp = 123456, .ssrc = 42};
  uint8_t b[12];
  vg_rtp_write_header(&h, b);
  vg_rtp_packet_t r;
  assert_int_equal(vg_rtp_parse(b, 12, &r), 0);
  assert_int_equal(r.seq, 65535);
  assert_int_equal(r.payload_len, 0);
  vg_rtp_header_patch(b, 7, 0xfffffffe, 0xcafebabe);
  assert_int_equal(vg_rtp_parse(b, 12, &r), 0);
  assert_int_equal(r.marker, 1);
  assert_int_equal(r.payload_type, 97);
  assert_int_equal(r.seq, 7);
  assert_int_equal(r.timestamp, 0xfffffffe);
  assert_int_equal(vg_rtp_header_ts(b), 0xfffffffe);
  assert_int_equal(r.ssrc, 0xcafebabe);
  const uint8_t rtcp[8] = {0x80, 200, 0, 6};
  assert_true(vg_rtp_is_rtcp(rtcp, 8));
  assert_false(vg_rtp_is_rtcp(b, 12));
}

static void test_unwrap_seq_and_ts(void **state) {
  vg_rtp_unwrap_t u;
  vg_rtp_unwrap_init(&u, 16);
  assert_int_equal(vg_rtp_unwrap(&u, 65534), 65534);
  assert_int_equal(vg_rtp_unwrap(&u, 65535), 65535);
  assert_int_equal(vg_rtp_unwrap(&u, 0), 65536);
  assert_int_equal(vg_rtp_unwrap(&u, 65535), 65535); /* late, from before the wrap */
  assert_int_equal(vg_rtp_unwrap(&u, 1), 65537);
  for (uint32_t i = 0; i < 3 * 65536; i += 1000)
    vg_rtp_unwrap(&u, (1 + i) & 0xffff);
  assert_true(vg_rtp_unwrap(&u, 5) > 3 * 65536);
  vg_rtp_unwrap_init(&u, 32);
  assert_int_equal(vg_rtp_unwrap(&u, 0xffffff00u), 0xffffff00ll);
  assert_int_equal(vg_rtp_unwrap(&u, 0x00000100u), 0x100000100ll);
  assert_int_equal(vg_rtp_unwrap(&u, 0xfffffff0u), 0xfffffff0ll); /* B-frame before the wrap */
  assert_int_equal(vg_rtp_unwrap(&u, 0x7fff0000u), 0x17fff0000ll);
  assert_int_equal(vg_rtp_unwrap(&u, 0xfffe0000u), 0x1fffe0000ll);
  assert_int_equal(vg_rtp_unwrap(&u, 0x10u), 0x200000010ll);
}

static void test_stats_loss_and_jitter(void **state) {
  vg_rtp_stats_t s;
  vg_rtp_stats_init(&s, 90000);
  /* 20 packets 65530.. with 3 lost and one duplicated, 40 ms apart, every
   * packet on time: jitter stays 0. */
  int64_t t0 = 1000000;
  for (int i = 0; i < 20; i++) {
    if (i == 4 || i == 5 || i == 11) continue;
    uint16_t seq = (uint16_t)(65530 + i);
    assert_int_equal(vg_rtp_stats_update(&s, seq, 1000u + 3600u * (uint32_t)i, t0 + 40000 * i), 0);
    if (i == 7) vg_rtp_stats_update(&s, seq, 1000u + 3600u * (uint32_t)i, t0 + 40000 * i);
  }
  assert_int_equal(vg_rtp_stats_expected(&s), 20);
  assert_int_equal(s.received, 18);
  assert_int_equal(vg_rtp_stats_lost(&s), 2);
  assert_int_equal(s.max_seq, 65530 + 19);
  assert_true(s.jitter < 1.0);
  /* A packet 10 ms late adds jitter of 900/16 units. */
  vg_rtp_stats_update(&s, (uint16_t)(65530 + 20), 1000u + 3600u * 20, t0 + 40000 * 20 + 10000);
  assert_true(s.jitter > 50 && s.jitter < 60);
}

static void test_stats_source_restart(void **state) {
  vg_rtp_stats_t s;
  vg_rtp_stats_init(&s, 8000);
  for (int i = 0; i < 10; i++)
    vg_rtp_stats_update(&s, (uint16_t)(100 + i), 0, 0);
  /* A lone far packet is set aside; two in a row restart the counts. */
  assert_int_equal(vg_rtp_stats_update(&s, 30000, 0, 0), VG_EAGAIN);
  assert_int_equal(vg_rtp_stats_update(&s, 110, 0, 0), 0);
  assert_int_equal(vg_rtp_stats_update(&s, 40000, 0, 0), VG_EAGAIN);
  assert_int_equal(vg_rtp_stats_update(&s, 40001, 0, 0), 0);
  assert_int_equal(s.resyncs, 1);
  assert_int_equal(vg_rtp_stats_expected(&s), 1);
  assert_int_equal(vg_rtp_stats_lost(&s), 0);
}

/* ---- reorder buffer --------------------------------------------------- */

typedef struct {
  int64_t seqs[512];
  size_t n;
} released_t;

static void on_release(void *opaque, vg_buf_t *pkt, int64_t ext_seq) {
  released_t *r = opaque;
  assert_int_equal((uint16_t)ext_seq, (pkt->data[2] << 8) | pkt->data[3]);
  r->seqs[r->n++] = ext_seq;
  vg_buf_unref(&pkt);
}

static vg_buf_t *pkt_with_seq(uint16_t seq) {
  uint8_t b[16] = {0x80, 96, (uint8_t)(seq >> 8), (uint8_t)seq};
  return vg_buf_from(b, sizeof(b));
}

static void test_reorder_releases_in_order_across_wrap(void **state) {
  released_t out = {0};
  vg_rtp_reorder_t *r = NULL;
  assert_int_equal(vg_rtp_reorder_new(8, 0, on_release, &out, &r), 0);
  const uint16_t order[] = {65533, 65535, 65534, 1, 0, 3, 2, 2, 65534};
  for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
    vg_rtp_reorder_push(r, pkt_with_seq(order[i]), 0);
  assert_int_equal(out.n, 7);
  for (size_t i = 0; i < out.n; i++)
    assert_int_equal(out.seqs[i], 65533 + (int64_t)i);
  vg_rtp_reorder_stats_t st;
  vg_rtp_reorder_get_stats(r, &st);
  assert_int_equal(st.late, 2); /* the second 2 and 65534 came after release */
  assert_int_equal(st.lost, 0);
  vg_rtp_reorder_push(r, vg_buf_from("x", 1), 0);
  vg_rtp_reorder_get_stats(r, &st);
  assert_int_equal(st.malformed, 1);
  vg_rtp_reorder_free(&r);
  assert_null(r);
}

static void test_reorder_gives_up_by_window_and_by_time(void **state) {
  released_t out = {0};
  vg_rtp_reorder_t *r = NULL;
  assert_int_equal(vg_rtp_reorder_new(4, 20000, on_release, &out, &r), 0);
  vg_rtp_reorder_push(r, pkt_with_seq(10), 0);
  /* 11 lost: 12..14 wait, 15 overflows the 4-packet window. */
  for (uint16_t s = 12; s <= 14; s++)
    vg_rtp_reorder_push(r, pkt_with_seq(s), 1000);
  assert_int_equal(out.n, 1);
  assert_int_equal(vg_rtp_reorder_deadline(r), 21000);
  vg_rtp_reorder_push(r, pkt_with_seq(15), 2000);
  assert_int_equal(out.n, 5);
  assert_int_equal(out.seqs[1], 12);
  /* 16 lost, 17 held until its 20 ms are up. */
  vg_rtp_reorder_push(r, pkt_with_seq(17), 3000);
  vg_rtp_reorder_poll(r, 22999);
  assert_int_equal(out.n, 5);
  vg_rtp_reorder_poll(r, 23000);
  assert_int_equal(out.n, 6);
  assert_int_equal(out.seqs[5], 17);
  assert_int_equal(vg_rtp_reorder_deadline(r), INT64_MAX);
  vg_rtp_reorder_stats_t st;
  vg_rtp_reorder_get_stats(r, &st);
  assert_int_equal(st.lost, 2);
  /* A source restart far away releases nothing lost and carries on. */
  vg_rtp_reorder_push(r, pkt_with_seq(40000), 4000);
  vg_rtp_reorder_push(r, pkt_with_seq(40001), 4000);
  vg_rtp_reorder_get_stats(r, &st);
  assert_int_equal(st.resyncs, 1);
  assert_int_equal(out.n, 8);
  assert_int_equal((uint16_t)out.seqs[7], 40001);
  assert_true(out.seqs[7] > out.seqs[5]);
  /* Flush hands over what is held. */
  vg_rtp_reorder_push(r, pkt_with_seq(40003), 5000);
  vg_rtp_reorder_flush(r);
  assert_int_equal(out.n, 9);
  vg_rtp_reorder_free(&r);
  assert_int_equal(vg_rtp_reorder_new(0, 0, on_release, &out, &r), VG_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_full_header),
      cmocka_unit_test(test_write_and_patch),
      cmocka_unit_test(test_unwrap_seq_and_ts),
      cmocka_unit_test(test_stats_loss_and_jitter),
      cmocka_unit_test(test_stats_source_restart),
      cmocka_unit_test(test_reorder_releases_in_order_across_wrap),
      cmocka_unit_test(test_reorder_gives_up_by_window_and_by_time),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
