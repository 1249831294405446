/* Unit tests for src/media/nal, h264, h265: SPS parsing of real x264/x265
 * output, Annex B <-> length-prefixed conversion, classification, and
 * filling a track from parameter sets. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "base/error.h"
#include "media/h264.h"
#include "media/h265.h"
#include "media/nal.h"

/* SPS NAL units written by x264 (High profile, VUI timing) and x265. */
static const uint8_t sps_264_1080p30[] = {0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02,
                                          0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04,
                                          0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58};
static const uint8_t sps_264_720p25[] = {0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05,
                                         0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00,
                                         0x00, 0x03, 0x03, 0x20, 0xf1, 0x83, 0x19, 0x60};
static const uint8_t sps_264_480p15[] = {0x67, 0x64, 0x00, 0x16, 0xac, 0xd9, 0x40, 0xa0, 0x3d,
                                         0xb0, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00,
                                         0x03, 0x00, 0x1e, 0x0f, 0x16, 0x2d, 0x96};
static const uint8_t sps_265_1080p30[] = {0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00,
                                          0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x78, 0xa0, 0x03, 0xc0, 0x80,
                                          0x10, 0xe5, 0x96, 0x56, 0x69, 0x24, 0xca, 0xf0, 0x16, 0x80, 0x80,
                                          0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x0f, 0x04};
static const uint8_t sps_265_720p50[] = {0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00,
                                         0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x78, 0xa0, 0x02, 0x80, 0x80,
                                         0x2d, 0x16, 0x59, 0x59, 0xa4, 0x93, 0x2b, 0xc0, 0x5a, 0x02, 0x00,
                                         0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x64, 0x10};

static void test_h264_sps_1080p_cropping_and_fps(void **state) {
  vg_h264_sps_t s;
  assert_int_equal(vg_h264_parse_sps(sps_264_1080p30, sizeof(sps_264_1080p30), &s), 0);
  assert_int_equal(s.width, 1920);
  assert_int_equal(s.height, 1080); /* coded 1088, cropped by 8 */
  assert_int_equal(s.profile_idc, 100);
  assert_int_equal(s.level_idc, 40);
  assert_true(s.has_timing);
  assert_true(fabs(s.fps - 30.0) < 1e-9);
}

static void test_h264_sps_720p_480p(void **state) {
  vg_h264_sps_t s;
  assert_int_equal(vg_h264_parse_sps(sps_264_720p25, sizeof(sps_264_720p25), &s), 0);
  assert_int_equal(s.width, 1280);
  assert_int_equal(s.height, 720);
  assert_true(fabs(s.fps - 25.0) < 1e-9);
  assert_int_equal(vg_h264_parse_sps(sps_264_480p15, sizeof(sps_264_480p15), &s), 0);
  assert_int_equal(s.width, 640);
  assert_int_equal(s.height, 480);
  assert_true(fabs(s.fps - 15.0) < 1e-9);
  assert_int_equal(s.level_idc, 22);
}

static void test_h264_sps_rejects_truncated_and_wrong_type(void **state) {
  vg_h264_sps_t s;
  for (size_t n = 0; n < 9; n++)
    assert_true(vg_h264_parse_sps(sps_264_1080p30, n, &s) < 0);
  uint8_t pps[] = {0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0};
  assert_int_equal(vg_h264_parse_sps(pps, sizeof(pps), &s), VG_EINVAL);
  /* Without the VUI tail the size is still known; timing is not. */
  assert_int_equal(vg_h264_parse_sps(sps_264_1080p30, 16, &s), 0);
  assert_int_equal(s.height, 1080);
  assert_false(s.has_timing);
}

static void test_h265_sps_1080p_conformance_window_and_fps(void **state) {
  vg_h265_sps_t s;
  assert_int_equal(vg_h265_parse_sps(sps_265_1080p30, sizeof(sps_265_1080p30), &s), 0);
  assert_int_equal(s.width, 1920);
  assert_int_equal(s.height, 1080);
  assert_int_equal(s.profile_idc, 1); /* Main */
  assert_int_equal(s.level_idc, 120);
  assert_true(s.has_timing);
  assert_true(fabs(s.fps - 30.0) < 1e-9);
  assert_int_equal(vg_h265_parse_sps(sps_265_720p50, sizeof(sps_265_720p50), &s), 0);
  assert_int_equal(s.width, 1280);
  assert_int_equal(s.height, 720);
  assert_true(fabs(s.fps - 50.0) < 1e-9);
  for (size_t n = 0; n < 20; n++)
    assert_true(vg_h265_parse_sps(sps_265_1080p30, n, &s) < 0);
}

static void test_annexb_lp_round_trip(void **state) {
  /* 4-byte and 3-byte start codes, a trailing zero, an emulation byte. */
  const uint8_t annexb[] = {0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 0, 0, 3, 1, 0, 0, 0, 0, 1, 0x65, 9, 9};
  vg_buf_t *lp = NULL, *back = NULL;
  assert_int_equal(vg_nal_annexb_to_lp(annexb, sizeof(annexb), &lp), 0);
  const uint8_t want[] = {0, 0, 0, 3, 0x67, 1, 2, 0, 0, 0, 5, 0x68, 0, 0, 3, 1, 0, 0, 0, 3, 0x65, 9, 9};
  assert_int_equal(lp->len, sizeof(want));
  assert_memory_equal(lp->data, want, sizeof(want));
  assert_int_equal(vg_nal_lp_to_annexb(lp->data, lp->len, &back), 0);
  const uint8_t want_b[] = {0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 0, 0, 3, 1, 0, 0, 0, 1, 0x65, 9, 9};
  assert_memory_equal(back->data, want_b, sizeof(want_b));
  uint8_t into[sizeof(want_b)];
  assert_int_equal(vg_nal_lp_to_annexb_into(lp->data, lp->len, into), 0);
  assert_memory_equal(into, want_b, sizeof(want_b));
  assert_int_equal(vg_nal_au_is_keyframe(VG_CODEC_H264, lp->data, lp->len), 1);
  vg_buf_unref(&lp);
  vg_buf_unref(&back);
  assert_int_equal(vg_nal_annexb_to_lp((const uint8_t *)"\1\2\3", 3, &lp), VG_EINVAL);
  const uint8_t bad_lp[] = {0, 0, 0, 9, 0x65};
  assert_int_equal(vg_nal_lp_to_annexb(bad_lp, sizeof(bad_lp), &back), VG_EPROTO);
  assert_null(back);
  uint8_t scratch[sizeof(bad_lp)];
  assert_int_equal(vg_nal_lp_to_annexb_into(bad_lp, sizeof(bad_lp), scratch), VG_EPROTO);
}

static void test_unescape(void **state) {
  const uint8_t in[] = {0, 0, 3, 0, 0, 0, 3, 3, 0, 0, 3};
  uint8_t out[16];
  int n = vg_nal_unescape(in, sizeof(in), out, sizeof(out));
  const uint8_t want[] = {0, 0, 0, 0, 0, 3, 0, 0};
  assert_int_equal(n, sizeof(want));
  assert_memory_equal(out, want, sizeof(want));
  assert_int_equal(vg_nal_unescape(in, sizeof(in), out, 3), VG_ETOOBIG);
}

static void test_track_info_from_extradata_and_au(void **state) {
  /* extradata: 720p SPS + a PPS; an AU with the 1080p SPS overrides it. */
  uint8_t x[64], au[64];
  size_t xn = 0, an = 0;
  x[xn++] = 0, x[xn++] = 0, x[xn++] = 0, x[xn++] = sizeof(sps_264_720p25);
  memcpy(x + xn, sps_264_720p25, sizeof(sps_264_720p25));
  xn += sizeof(sps_264_720p25);
  const uint8_t pps[] = {0, 0, 0, 4, 0x68, 0xeb, 0xe3, 0xcb};
  memcpy(x + xn, pps, sizeof(pps));
  xn += sizeof(pps);
  vg_track_t t = {.codec = VG_CODEC_H264, .clock_rate = 90000};
  assert_int_equal(vg_track_update_video_info(&t, NULL, 0), VG_ENOTFOUND);
  t.extradata = vg_buf_from(x, xn);
  assert_int_equal(vg_track_update_video_info(&t, NULL, 0), 0);
  assert_int_equal(t.width, 1280);
  assert_int_equal(t.height, 720);
  assert_true(fabs(t.fps - 25) < 1e-9);
  au[an++] = 0, au[an++] = 0, au[an++] = 0, au[an++] = sizeof(sps_264_1080p30);
  memcpy(au + an, sps_264_1080p30, sizeof(sps_264_1080p30));
  an += sizeof(sps_264_1080p30);
  assert_int_equal(vg_track_update_video_info(&t, au, an), 0);
  assert_int_equal(t.height, 1080);
  /* Extradata from an AU needs both SPS and PPS. */
  vg_buf_t *ex = NULL;
  assert_int_equal(vg_nal_extradata_from_au(VG_CODEC_H264, au, an, &ex), 0);
  assert_int_equal(vg_nal_extradata_from_au(VG_CODEC_H264, x, xn, &ex), 1);
  assert_int_equal(ex->len, xn);
  assert_memory_equal(ex->data, x, xn);
  vg_buf_unref(&ex);
  vg_track_clear(&t);
}

static void test_exp_golomb(void **state) {
  /* 1 | 010 | 011 | 00100 | 00101: ue 0,1,2,3 then se of code 4 = -2 */
  const uint8_t bits[] = {0xa6, 0x42, 0x80};
  vg_bitreader_t br;
  vg_br_init(&br, bits, sizeof(bits));
  assert_int_equal(vg_br_ue(&br), 0);
  assert_int_equal(vg_br_ue(&br), 1);
  assert_int_equal(vg_br_ue(&br), 2);
  assert_int_equal(vg_br_ue(&br), 3);
  assert_int_equal(vg_br_se(&br), -2);
  assert_false(br.overrun);
  vg_br_bits(&br, 32);
  assert_true(br.overrun);
  const uint8_t zeros[8] = {0};
  vg_br_init(&br, zeros, sizeof(zeros));
  assert_int_equal(vg_br_ue(&br), 0);
  assert_true(br.overrun);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_h264_sps_1080p_cropping_and_fps),
      cmocka_unit_test(test_h264_sps_720p_480p),
      cmocka_unit_test(test_h264_sps_rejects_truncated_and_wrong_type),
      cmocka_unit_test(test_h265_sps_1080p_conformance_window_and_fps),
      cmocka_unit_test(test_annexb_lp_round_trip),
      cmocka_unit_test(test_unescape),
      cmocka_unit_test(test_track_info_from_extradata_and_au),
      cmocka_unit_test(test_exp_golomb),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
