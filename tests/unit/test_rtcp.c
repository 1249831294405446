/* Unit tests for src/proto/rtcp.c: parsing ffmpeg's real sender reports,
 * building RR/SR/BYE and reading them back, NTP time mapping and report
 * blocks computed from receiver statistics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "base/error.h"
#include "proto/rtcp.h"
#include "rtp_testdata.h"

static void test_parse_real_sender_report(void **state) {
  td_capture_t c;
  assert_int_equal(td_capture_load("rtp/h264.rtp", &c), 0);
  const td_record_t *rec = NULL;
  for (size_t i = 0; i < c.n && !rec; i++)
    if (c.rec[i].channel == 1) rec = &c.rec[i];
  assert_non_null(rec);
  assert_true(vg_rtp_is_rtcp(rec->data, rec->len));
  vg_rtcp_info_t info;
  assert_int_equal(vg_rtcp_parse(rec->data, rec->len, &info), 0);
  assert_true(info.has_sr);
  assert_int_equal(info.sr.ssrc, 0x12345678);
  assert_int_equal(info.sr.rtp_ts, 0x92f1d585u); /* the first RTP packet's timestamp */
  assert_true(info.has_cname);
  assert_string_equal(info.cname, "vigil-test");
  /* ffmpeg sent it in 2026: a sane wall clock. */
  int64_t utc = vg_ntp_to_utc_us(info.sr.ntp);
  assert_true(utc > 1700000000ll * 1000000 && utc < 2100000000ll * 1000000);
  assert_int_equal(vg_rtcp_sr_utc_us(&info.sr, 90000, info.sr.rtp_ts + 90000), utc + 1000000);
  assert_int_equal(vg_rtcp_sr_utc_us(&info.sr, 90000, info.sr.rtp_ts - 9000), utc - 100000);
  for (size_t n = 1; n < rec->len; n++) {
    int r = vg_rtcp_parse(rec->data, n, &info);
    assert_true(r == 0 || r == VG_EPROTO);
  }
  td_capture_free(&c);
}

static void test_ntp_conversion(void **state) {
  int64_t t = 1795000000123456ll;
  uint64_t ntp = vg_ntp_from_utc_us(t);
  assert_int_equal(ntp >> 32, 1795000000ull + 2208988800ull);
  assert_int_equal(vg_ntp_to_utc_us(ntp), t);
}

static void test_rr_from_stats_round_trip(void **state) {
  vg_rtp_stats_t s;
  vg_rtp_stats_init(&s, 90000);
  s.ssrc = 0x11223344;
  for (int i = 0; i < 100; i++)
    if (i % 10 != 3) vg_rtp_stats_update(&s, (uint16_t)(65500 + i), (uint32_t)i * 3600, (int64_t)i * 40000);
  vg_rtcp_sr_t sr = {.ssrc = 0x11223344, .ntp = vg_ntp_from_utc_us(1795000000000000ll)};
  vg_rtcp_note_sr(&s, &sr, 1000000);
  vg_rtcp_report_block_t b;
  vg_rtcp_report_block_from_stats(&s, 1500000, &b);
  assert_int_equal(b.ssrc, 0x11223344);
  assert_int_equal(b.cumulative_lost, 10);
  assert_int_equal(b.fraction_lost, 10 * 256 / 100);
  assert_int_equal(b.ext_max_seq, 65500 + 99); /* one cycle: 0x1xxxx */
  assert_int_equal(b.lsr, (uint32_t)(sr.ntp >> 16));
  assert_int_equal(b.dlsr, 32768); /* 0.5 s in 1/65536 s */
  uint8_t buf[256];
  int n = vg_rtcp_build_rr(0xabcdef01, &b, 1, "vigil@cam1", buf, sizeof(buf));
  assert_true(n > 0 && n % 4 == 0);
  vg_rtcp_info_t info;
  assert_int_equal(vg_rtcp_parse(buf, (size_t)n, &info), 0);
  assert_false(info.has_sr);
  assert_int_equal(info.rr_ssrc, 0xabcdef01);
  assert_int_equal(info.report_count, 1);
  assert_memory_equal(&info.reports[0], &b, sizeof(b));
  assert_string_equal(info.cname, "vigil@cam1");
  assert_int_equal(info.cname_ssrc, 0xabcdef01);
  /* A second interval with no loss reports fraction 0. */
  for (int i = 100; i < 110; i++)
    vg_rtp_stats_update(&s, (uint16_t)(65500 + i), 0, 0);
  vg_rtcp_report_block_from_stats(&s, 2000000, &b);
  assert_int_equal(b.fraction_lost, 0);
  assert_int_equal(b.cumulative_lost, 10);
  assert_int_equal(vg_rtcp_build_rr(1, &b, 1, "x", buf, 20), VG_ETOOBIG);
  /* Negative cumulative loss (duplicates) keeps its sign through 24 bits. */
  b.cumulative_lost = -5;
  n = vg_rtcp_build_rr(1, &b, 1, NULL, buf, sizeof(buf));
  assert_int_equal(vg_rtcp_parse(buf, (size_t)n, &info), 0);
  assert_int_equal(info.reports[0].cumulative_lost, -5);
}

static void test_sr_and_bye_build(void **state) {
  vg_rtcp_sr_t sr;
  /* The last frame (ts 1000) was sent at t; 0.5 s later the clock is 45000
   * units further on. */
  int64_t t = 1795000000000000ll;
  vg_rtcp_sr_fill(&sr, 77, t + 500000, 1000, t, 90000, 10, 12345);
  assert_int_equal(sr.rtp_ts, 46000);
  uint8_t buf[128];
  int n = vg_rtcp_build_sr(&sr, "vigil", buf, sizeof(buf));
  assert_true(n > 28);
  int m = vg_rtcp_build_bye(77, buf + n, sizeof(buf) - (size_t)n);
  assert_int_equal(m, 8);
  vg_rtcp_info_t info;
  assert_int_equal(vg_rtcp_parse(buf, (size_t)(n + m), &info), 0);
  assert_true(info.has_sr);
  assert_int_equal(info.sr.rtp_ts, 46000);
  assert_int_equal(info.sr.packet_count, 10);
  assert_int_equal(info.sr.octet_count, 12345);
  assert_int_equal(vg_ntp_to_utc_us(info.sr.ntp), t + 500000);
  assert_int_equal(info.bye_count, 1);
  assert_int_equal(info.bye_ssrc[0], 77);
  assert_string_equal(info.cname, "vigil");
  /* Unknown packet types are skipped, not fatal. */
  uint8_t app[12] = {0x80, 204, 0, 2, 0, 0, 0, 1, 'a', 'b', 'c', 'd'};
  assert_int_equal(vg_rtcp_parse(app, sizeof(app), &info), 0);
  assert_int_equal(info.unknown_packets, 1);
  uint8_t rtp[12] = {0x80, 96, 0, 0};
  assert_int_equal(vg_rtcp_parse(rtp, sizeof(rtp), &info), VG_EPROTO);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_real_sender_report),
      cmocka_unit_test(test_ntp_conversion),
      cmocka_unit_test(test_rr_from_stats_round_trip),
      cmocka_unit_test(test_sr_and_bye_build),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
