/* Unit tests for the H.265 RTP payload format (src/proto/rtp_h265.c) against
 * real packets from ffmpeg's RTP muxer (tests/data/rtp/h265.*). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "base/error.h"
#include "media/nal.h"
#include "proto/rtp.h"
#include "proto/rtp_payload.h"
#include "rtp_testdata.h"

#define H265_FMTP                                                                                            \
  "sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwAelZQJ; "                                                             \
  "sprop-sps=QgEBAWAAAAMAkAAAAwAAAwAeoBQgIHy5ZWVKTC8BaAgAAAMACAAAAwDIQA==; sprop-pps=RAHAc8GJ"

static const vg_track_t h265_track = {.codec = VG_CODEC_H265, .clock_rate = 90000};

static vg_depack_t *new_depack(td_frames_t *out, const char *fmtp) {
  vg_depack_sink_t sink = {.on_frame = td_on_frame, .on_params = td_on_params, .opaque = out};
  vg_depack_t *d = NULL;
  assert_int_equal(vg_depack_new(&h265_track, fmtp, &sink, &d), 0);
  return d;
}

static void push_bytes(vg_depack_t *d, const uint8_t *data, size_t len) {
  vg_rtp_packet_t pkt;
  assert_int_equal(vg_rtp_parse(data, len, &pkt), 0);
  assert_int_equal(vg_depack_push(d, &pkt, 0), 0);
}

static void push_capture(vg_depack_t *d, const td_capture_t *c, long skip) {
  for (size_t i = 0; i < c->n; i++)
    if (c->rec[i].channel == 0 && (long)i != skip) push_bytes(d, c->rec[i].data, c->rec[i].len);
}

static void test_real_capture_reproduces_encoder_nals(void **state) {
  td_capture_t c;
  assert_int_equal(td_capture_load("rtp/h265.rtp", &c), 0);
  td_frames_t out = {0};
  vg_depack_t *d = new_depack(&out, H265_FMTP);
  push_capture(d, &c, -1);
  assert_int_equal(out.n, 10);
  /* Every NAL unit of the encoder's stream comes out, in order, as sent. */
  size_t len = 0;
  uint8_t *raw = td_load("rtp/h265.h265", &len);
  assert_non_null(raw);
  size_t epos = 0, en;
  const uint8_t *enal;
  for (size_t i = 0; i < out.n; i++) {
    size_t pos = 0, n;
    const uint8_t *nal;
    while (vg_nal_lp_next(out.frames[i].data, out.frames[i].len, &pos, &nal, &n) == 1) {
      assert_int_equal(vg_nal_annexb_next(raw, len, &epos, &enal, &en), 1);
      /* ffmpeg's HEVC RTP muxer keeps the zero_byte of a following 4-byte
       * start code on one NAL; a NAL never ends in 0x00 (7.4.2), so that
       * byte is not the encoder's. */
      while (n > en && nal[n - 1] == 0)
        n--;
      assert_int_equal(n, en);
      assert_memory_equal(nal, enal, n);
    }
    assert_int_equal(!!(out.frames[i].flags & VG_FRAME_KEY), i % 5 == 0);
    /* ffmpeg stamps raw HEVC input with few distinct timestamps, so the
     * marker bit alone separates these access units. */
    if (i) assert_true(out.frames[i].pts >= out.frames[i - 1].pts);
  }
  assert_int_equal(vg_nal_annexb_next(raw, len, &epos, &enal, &en), 0);
  free(raw);
  assert_int_equal(out.n_params, 0);
  vg_track_t t = {.codec = VG_CODEC_H265};
  assert_int_equal(vg_fmtp_extradata(VG_CODEC_H265, H265_FMTP, &t.extradata), 0);
  assert_int_equal(vg_track_update_video_info(&t, NULL, 0), 0);
  assert_int_equal(t.width, 160);
  assert_int_equal(t.height, 120);
  assert_true(fabs(t.fps - 25) < 1e-9);
  char fmtp[512];
  assert_true(vg_sdp_fmtp(&t, fmtp, sizeof(fmtp)) > 0);
  assert_string_equal(fmtp, "sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwAelZQJ;"
                            "sprop-sps=QgEBAWAAAAMAkAAAAwAAAwAeoBQgIHy5ZWVKTC8BaAgAAAMACAAAAwDIQA==;"
                            "sprop-pps=RAHAc8GJ");
  vg_track_clear(&t);
  td_frames_clear(&out);
  vg_depack_free(&d);
  td_capture_free(&c);
}

static void test_params_without_sdp_and_loss(void **state) {
  td_capture_t c;
  assert_int_equal(td_capture_load("rtp/h265.rtp", &c), 0);
  td_frames_t out = {0};
  vg_depack_t *d = new_depack(&out, NULL);
  /* Record 4 is a middle FU of the first IRAP picture. */
  push_capture(d, &c, 4);
  assert_int_equal(out.n_params, 1);
  vg_buf_t *sdp = NULL;
  assert_int_equal(vg_fmtp_extradata(VG_CODEC_H265, H265_FMTP, &sdp), 0);
  assert_int_equal(out.params[0]->len, sdp->len);
  assert_memory_equal(out.params[0]->data, sdp->data, sdp->len);
  vg_buf_unref(&sdp);
  vg_depack_stats_t st;
  vg_depack_get_stats(d, &st);
  assert_int_equal(st.lost, 1);
  assert_int_equal(out.n, 5);
  assert_true(out.frames[0].flags & VG_FRAME_KEY);
  td_frames_clear(&out);
  vg_depack_free(&d);
  td_capture_free(&c);
}

static void test_round_trip_and_aggregation(void **state) {
  td_capture_t c;
  assert_int_equal(td_capture_load("rtp/h265.rtp", &c), 0);
  td_frames_t orig = {0}, back = {0};
  vg_depack_t *d = new_depack(&orig, H265_FMTP);
  push_capture(d, &c, -1);
  vg_depack_free(&d);
  vg_pack_t *p = NULL;
  assert_int_equal(vg_pack_new(&h265_track, 97, 100, &p), 0);
  d = new_depack(&back, NULL);
  uint16_t seq = 65530;
  for (size_t i = 0; i < orig.n; i++) {
    const vg_pack_pkt_t *pk;
    size_t n;
    assert_int_equal(vg_pack_frame(p, &orig.frames[i], &pk, &n), 0);
    for (size_t k = 0; k < n; k++) {
      uint8_t wire[2048];
      memcpy(wire, pk[k].hdr, pk[k].hdr_len);
      vg_rtp_header_patch(wire, seq++, vg_rtp_header_ts(pk[k].hdr) + 0x7fffffffu, 1);
      memcpy(wire + pk[k].hdr_len, pk[k].payload, pk[k].payload_len);
      assert_true(pk[k].hdr_len + pk[k].payload_len <= 112);
      push_bytes(d, wire, pk[k].hdr_len + pk[k].payload_len);
    }
  }
  assert_int_equal(back.n, orig.n);
  for (size_t i = 0; i < orig.n; i++) {
    assert_int_equal(back.frames[i].len, orig.frames[i].len);
    assert_memory_equal(back.frames[i].data, orig.frames[i].data, orig.frames[i].len);
  }
  vg_pack_free(&p);
  td_frames_clear(&back);
  vg_depack_free(&d);

  /* An aggregation packet with DONL/DOND (sprop-max-don-diff > 0) and a
   * PACI packet that is counted as unsupported. */
  d = new_depack(&back, "sprop-max-don-diff=2");
  const uint8_t ap[] = {0x80, 0xe0, 0, 1,    0,    0,    0,    9, 0, 0, 0, 1, 0x60, 0x01, /* AP */
                        0,    0,    0, 3,    0x40, 0x01, 0xaa,                            /* DONL, VPS */
                        1,    0,    4, 0x26, 0x01, 0xbb, 0xcc};                           /* DOND, IDR */
  push_bytes(d, ap, sizeof(ap));
  const uint8_t paci[] = {0x80, 0xe0, 0, 2, 0, 0, 0, 10, 0, 0, 0, 1, 0x64, 0x01, 0, 0};
  push_bytes(d, paci, sizeof(paci));
  assert_int_equal(back.n, 1);
  const uint8_t want[] = {0, 0, 0, 3, 0x40, 0x01, 0xaa, 0, 0, 0, 4, 0x26, 0x01, 0xbb, 0xcc};
  assert_int_equal(back.frames[0].len, sizeof(want));
  assert_memory_equal(back.frames[0].data, want, sizeof(want));
  assert_true(back.frames[0].flags & VG_FRAME_KEY);
  vg_depack_stats_t st;
  vg_depack_get_stats(d, &st);
  assert_int_equal(st.unsupported, 1);
  td_frames_clear(&back);
  vg_depack_free(&d);
  td_frames_clear(&orig);
  td_capture_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_real_capture_reproduces_encoder_nals),
      cmocka_unit_test(test_params_without_sdp_and_loss),
      cmocka_unit_test(test_round_trip_and_aggregation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
