/* Unit tests for the H.264 RTP payload format (src/proto/rtp_h264.c) against
 * real packets from ffmpeg's RTP muxer (tests/data/rtp/h264.*): the
 * depacketizer must reproduce the encoder's NAL units byte for byte, survive
 * loss, reordering and wrap-around, and round-trip with the packetizer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "base/error.h"
#include "media/nal.h"
#include "proto/rtp.h"
#include "proto/rtp_payload.h"
#include "rtp_testdata.h"

#define H264_FMTP                                                                                          \
  "packetization-mode=1; sprop-parameter-sets=Z0LAC9oKEflwEQAAAwABAAADADIPFCqg,aM4PyA==; "                \
  "profile-level-id=42C00B"

static const vg_track_t h264_track = {.codec = VG_CODEC_H264, .clock_rate = 90000};

static vg_depack_t *new_depack(td_frames_t *out, const char *fmtp, int keep_corrupt) {
  vg_depack_sink_t sink = {.on_frame = td_on_frame, .on_params = td_on_params, .opaque = out,
                           .track_index = 1, .keep_corrupt = (uint8_t)keep_corrupt};
  vg_depack_t *d = NULL;
  assert_int_equal(vg_depack_new(&h264_track, fmtp, &sink, &d), 0);
  return d;
}

static void push_bytes(vg_depack_t *d, const uint8_t *data, size_t len) {
  vg_rtp_packet_t pkt;
  assert_int_equal(vg_rtp_parse(data, len, &pkt), 0);
  assert_int_equal(vg_depack_push(d, &pkt, 1000), 0);
}

/* Pushes the RTP records of a capture, skipping record index skip (-1: none). */
static void push_capture(vg_depack_t *d, const td_capture_t *c, long skip) {
  for (size_t i = 0; i < c->n; i++)
    if (c->rec[i].channel == 0 && (long)i != skip) push_bytes(d, c->rec[i].data, c->rec[i].len);
}

/* All NAL units of the frames, concatenated as Annex B with 4-byte codes. */
static vg_buf_t *frames_to_annexb(const td_frames_t *t) {
  vg_buf_t *all = vg_buf_alloc(1);
  for (size_t i = 0; i < t->n; i++) {
    vg_buf_t *b = NULL;
    assert_int_equal(vg_nal_lp_to_annexb(t->frames[i].data, t->frames[i].len, &b), 0);
    assert_int_equal(vg_buf_append(&all, b->data, b->len), 0);
    vg_buf_unref(&b);
  }
  return all;
}

/* The elementary stream ffmpeg encoded, normalised to 4-byte start codes. */
static vg_buf_t *expected_annexb(const char *rel) {
  size_t len;
  uint8_t *raw = td_load(rel, &len);
  assert_non_null(raw);
  vg_buf_t *lp = NULL, *ab = NULL;
  assert_int_equal(vg_nal_annexb_to_lp(raw, len, &lp), 0);
  assert_int_equal(vg_nal_lp_to_annexb(lp->data, lp->len, &ab), 0);
  vg_buf_unref(&lp);
  free(raw);
  return ab;
}

static void test_real_capture_reproduces_encoder_nals(void **state) {
  td_capture_t c;
  assert_int_equal(td_capture_load("rtp/h264.rtp", &c), 0);
  td_frames_t out = {0};
  vg_depack_t *d = new_depack(&out, H264_FMTP, 0);
  push_capture(d, &c, -1);
  vg_depack_stats_t st;
  vg_depack_get_stats(d, &st);
  assert_int_equal(st.lost, 0); /* the capture wraps from 65535 to 0 */
  assert_int_equal(st.malformed + st.unsupported + st.late, 0);
  assert_int_equal(out.n, 10); /* 0.4 s at 25 fps */
  vg_buf_t *got = frames_to_annexb(&out), *want = expected_annexb("rtp/h264.h264");
  assert_int_equal(got->len, want->len);
  assert_memory_equal(got->data, want->data, want->len);
  /* GOP of 5: frames 0 and 5 are IDR; pts step 3600 (25 fps at 90 kHz). */
  for (size_t i = 0; i < out.n; i++) {
    assert_int_equal(!!(out.frames[i].flags & VG_FRAME_KEY), i % 5 == 0);
    assert_int_equal(out.frames[i].track, 1);
    assert_true(out.frames[i].buf != NULL && out.frames[i].data == out.frames[i].buf->data);
    if (i) assert_int_equal(out.frames[i].pts - out.frames[i - 1].pts, 3600);
  }
  assert_int_equal((uint32_t)out.frames[0].pts, 0x92f1d585u); /* low 32 bits = wire timestamp */
  /* In-band SPS/PPS equal the SDP's: no parameter change is reported. */
  assert_int_equal(out.n_params, 0);
  vg_track_t t = {.codec = VG_CODEC_H264};
  assert_int_equal(vg_track_update_video_info(&t, out.frames[0].data, out.frames[0].len), 0);
  assert_int_equal(t.width, 160);
  assert_int_equal(t.height, 120);
  assert_true(fabs(t.fps - 25) < 1e-9);
  vg_buf_unref(&got);
  vg_buf_unref(&want);
  td_frames_clear(&out);
  vg_depack_free(&d);
  assert_null(d);
  td_capture_free(&c);
}

static void test_in_band_params_reported_without_sdp(void **state) {
  td_capture_t c;
  assert_int_equal(td_capture_load("rtp/h264.rtp", &c), 0);
  td_frames_t out = {0};
  vg_depack_t *d = new_depack(&out, NULL, 0);
  push_capture(d, &c, -1);
  assert_int_equal(out.n_params, 1); /* the second IDR repeats the same sets */
  vg_buf_t *sdp = NULL;
  assert_int_equal(vg_fmtp_extradata(VG_CODEC_H264, H264_FMTP, &sdp), 0);
  assert_int_equal(out.params[0]->len, sdp->len);
  assert_memory_equal(out.params[0]->data, sdp->data, sdp->len);
  vg_buf_unref(&sdp);
  td_frames_clear(&out);
  vg_depack_free(&d);
  td_capture_free(&c);
}

/* Record 15 (seq 0x0008) is the STAP-A with SPS+PPS of the second GOP;
 * record 13 (seq 0x0006) is a whole P frame of the first. */
static void test_loss_drops_until_next_keyframe(void **state) {
  td_capture_t c;
  assert_int_equal(td_capture_load("rtp/h264.rtp", &c), 0);
  td_frames_t out = {0};
  vg_depack_t *d = new_depack(&out, H264_FMTP, 0);
  push_capture(d, &c, 13);
  vg_depack_stats_t st;
  vg_depack_get_stats(d, &st);
  assert_int_equal(st.lost, 1);
  /* Frames 0..2 delivered; 3 lost on the wire; 4 follows the gap (its head
   * may be lost) and is dropped; then the second GOP is clean. */
  assert_int_equal(out.n, 8);
  assert_int_equal(st.frames_dropped_loss, 1);
  assert_true(out.frames[3].flags & VG_FRAME_KEY);
  td_frames_clear(&out);
  vg_depack_free(&d);

  /* keep_corrupt: the frame after the gap comes out flagged, nothing waits. */
  d = new_depack(&out, H264_FMTP, 1);
  push_capture(d, &c, 13);
  assert_int_equal(out.n, 9);
  assert_true(out.frames[3].flags & VG_FRAME_CORRUPT);
  for (size_t i = 0; i < out.n; i++) assert_int_equal(!!(out.frames[i].flags & VG_FRAME_CORRUPT), i == 3);
  td_frames_clear(&out);
  vg_depack_free(&d);

  /* Losing a middle FU-A fragment of the first IDR drops the whole first
   * GOP (5 frames) and resumes at the second IDR. */
  d = new_depack(&out, H264_FMTP, 0);
  push_capture(d, &c, 5);
  vg_depack_get_stats(d, &st);
  assert_int_equal(out.n, 5);
  assert_true(out.frames[0].flags & VG_FRAME_KEY);
  assert_int_equal(st.frames_dropped_loss, 1);
  assert_int_equal(st.frames_dropped_waiting_key, 4);
  td_frames_clear(&out);
  vg_depack_free(&d);
  td_capture_free(&c);
}

static void release_to_depack(void *opaque, vg_buf_t *pkt, int64_t ext_seq) {
  push_bytes(opaque, pkt->data, pkt->len);
  vg_buf_unref(&pkt);
}

static void test_reordered_udp_through_reorder_buffer(void **state) {
  td_capture_t c;
  assert_int_equal(td_capture_load("rtp/h264.rtp", &c), 0);
  /* Swap neighbours pairwise (after the first, which sets the starting
   * number) and send one packet 5 places late. */
  size_t order[256], n = 0;
  for (size_t i = 0; i < c.n; i++)
    if (c.rec[i].channel == 0) order[n++] = i;
  for (size_t i = 1; i + 1 < n; i += 2) {
    size_t t = order[i];
    order[i] = order[i + 1];
    order[i + 1] = t;
  }
  size_t late = order[3];
  memmove(order + 3, order + 4, 5 * sizeof(order[0]));
  order[8] = late;
  td_frames_t out = {0};
  vg_depack_t *d = new_depack(&out, H264_FMTP, 0);
  vg_rtp_reorder_t *r = NULL;
  assert_int_equal(vg_rtp_reorder_new(64, 50000, release_to_depack, d, &r), 0);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(vg_rtp_reorder_push(r, vg_buf_from(c.rec[order[i]].data, c.rec[order[i]].len), 1000 + i), 0);
  vg_rtp_reorder_flush(r);
  vg_rtp_reorder_stats_t rs;
  vg_rtp_reorder_get_stats(r, &rs);
  assert_int_equal(rs.released, n);
  assert_int_equal(rs.lost + rs.late + rs.duplicates, 0);
  assert_int_equal(out.n, 10);
  vg_buf_t *got = frames_to_annexb(&out), *want = expected_annexb("rtp/h264.h264");
  assert_int_equal(got->len, want->len);
  assert_memory_equal(got->data, want->data, want->len);
  vg_buf_unref(&got);
  vg_buf_unref(&want);
  vg_rtp_reorder_free(&r);
  td_frames_clear(&out);
  vg_depack_free(&d);
  td_capture_free(&c);
}

/* Packetizes frames and feeds the packets back, as a client would see them. */
static void round_trip(const vg_frame_t *in, size_t n_in, size_t mtu, td_frames_t *out, uint16_t seq0,
                       uint32_t ts_offset) {
  vg_pack_t *p = NULL;
  assert_int_equal(vg_pack_new(&h264_track, 96, mtu, &p), 0);
  vg_depack_t *d = new_depack(out, NULL, 0);
  uint16_t seq = seq0;
  for (size_t i = 0; i < n_in; i++) {
    const vg_pack_pkt_t *pk;
    size_t n;
    assert_int_equal(vg_pack_frame(p, &in[i], &pk, &n), 0);
    for (size_t k = 0; k < n; k++) {
      uint8_t wire[VG_RTP_MAX_PACKET];
      assert_true(pk[k].hdr_len + pk[k].payload_len <= 12 + mtu);
      memcpy(wire, pk[k].hdr, pk[k].hdr_len);
      vg_rtp_header_patch(wire, seq++, vg_rtp_header_ts(pk[k].hdr) + ts_offset, 0xdeadbeef);
      memcpy(wire + pk[k].hdr_len, pk[k].payload, pk[k].payload_len);
      push_bytes(d, wire, pk[k].hdr_len + pk[k].payload_len);
    }
  }
  vg_depack_stats_t st;
  vg_depack_get_stats(d, &st);
  assert_int_equal(st.lost + st.malformed + st.late, 0);
  vg_depack_free(&d);
  vg_pack_free(&p);
}

static void test_pack_depack_round_trip_real_frames(void **state) {
  td_capture_t c;
  assert_int_equal(td_capture_load("rtp/h264.rtp", &c), 0);
  td_frames_t orig = {0}, back = {0};
  vg_depack_t *d = new_depack(&orig, H264_FMTP, 0);
  push_capture(d, &c, -1);
  vg_depack_free(&d);
  static const size_t mtus[] = {64, 300, 1400};
  for (size_t m = 0; m < 3; m++) {
    /* Across the 16-bit seq and 32-bit timestamp wraps. */
    round_trip(orig.frames, orig.n, mtus[m], &back, 65500, 0x6d0e2a7bu);
    assert_int_equal(back.n, orig.n);
    for (size_t i = 0; i < orig.n; i++) {
      assert_int_equal(back.frames[i].len, orig.frames[i].len);
      assert_memory_equal(back.frames[i].data, orig.frames[i].data, orig.frames[i].len);
      assert_int_equal(back.frames[i].flags, orig.frames[i].flags);
      if (i) assert_int_equal(back.frames[i].pts - back.frames[i - 1].pts, 3600);
    }
    td_frames_clear(&back);
  }
  td_frames_clear(&orig);
  td_capture_free(&c);
}

static void test_pack_big_and_tiny_nals(void **state) {
  /* One IDR NAL of 100 000 bytes, one of 1 byte and one exactly the MTU. */
  size_t big = 100000, mtu = 1400;
  vg_buf_t *b = vg_buf_alloc(big + mtu + 32);
  uint8_t *p = b->data;
  size_t o = 0;
  uint32_t sizes[3] = {(uint32_t)big, 1, (uint32_t)mtu};
  uint8_t types[3] = {0x65, 0x06, 0x41};
  for (int k = 0; k < 3; k++) {
    p[o++] = (uint8_t)(sizes[k] >> 24), p[o++] = (uint8_t)(sizes[k] >> 16), p[o++] = (uint8_t)(sizes[k] >> 8);
    p[o++] = (uint8_t)sizes[k];
    p[o] = types[k];
    for (uint32_t i = 1; i < sizes[k]; i++) p[o + i] = (uint8_t)(i * 7 + k);
    o += sizes[k];
  }
  b->len = o;
  vg_frame_t f = {.buf = b, .data = b->data, .len = (uint32_t)o, .pts = 0xfffff000u};
  vg_frame_t frames[2] = {f, f};
  frames[1].pts += 3600; /* crosses 2^32 */
  vg_pack_t *pk = NULL;
  assert_int_equal(vg_pack_new(&h264_track, 96, mtu, &pk), 0);
  const vg_pack_pkt_t *pkts;
  size_t n;
  assert_int_equal(vg_pack_frame(pk, &f, &pkts, &n), 0);
  assert_int_equal(n, (big - 1 + mtu - 3) / (mtu - 2) + 2);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(pkts[i].hdr[1] >> 7, i == n - 1); /* marker only at the end */
    assert_true(pkts[i].payload >= b->data && pkts[i].payload + pkts[i].payload_len <= b->data + b->len);
  }
  assert_int_equal(pkts[0].hdr_len, 14);
  assert_int_equal(pkts[0].hdr[12], 0x7c); /* FU indicator: NRI 3, type 28 */
  assert_int_equal(pkts[0].hdr[13], 0x85); /* S, type 5 */
  vg_pack_free(&pk);
  td_frames_t back = {0};
  round_trip(frames, 2, mtu, &back, 1, 0);
  assert_int_equal(back.n, 2);
  assert_int_equal(back.frames[1].pts - back.frames[0].pts, 3600);
  assert_int_equal(back.frames[0].len, o);
  assert_memory_equal(back.frames[0].data, b->data, o);
  assert_true(back.frames[0].flags & VG_FRAME_KEY);
  td_frames_clear(&back);
  vg_buf_unref(&b);
}

static void test_unsupported_and_oversize(void **state) {
  td_frames_t out = {0};
  vg_depack_sink_t sink = {.on_frame = td_on_frame, .opaque = &out, .max_au_size = 1000};
  vg_depack_t *d = NULL;
  assert_int_equal(vg_depack_new(&h264_track, NULL, &sink, &d), 0);
  uint8_t pkt[1400] = {0x80, 0xe0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1};
  pkt[12] = 25; /* STAP-B */
  push_bytes(d, pkt, 20);
  /* Two FU-A fragments of 900 bytes: the AU passes 1000 bytes. */
  pkt[1] = 0x60, pkt[3] = 2, pkt[7] = 2, pkt[12] = 0x7c, pkt[13] = 0x85;
  push_bytes(d, pkt, 914);
  pkt[1] = 0xe0, pkt[3] = 3, pkt[13] = 0x45;
  push_bytes(d, pkt, 914);
  /* A small frame afterwards still works once a key frame comes. */
  uint8_t idr[] = {0x80, 0xe0, 0, 4, 0, 0, 0, 3, 0, 0, 0, 1, 0x65, 1, 2, 3};
  push_bytes(d, idr, sizeof(idr));
  vg_depack_stats_t st;
  vg_depack_get_stats(d, &st);
  assert_int_equal(st.unsupported, 1);
  assert_int_equal(st.too_big, 1);
  assert_int_equal(out.n, 1);
  assert_int_equal(out.frames[0].len, 8);
  td_frames_clear(&out);
  vg_depack_free(&d);
}

static void test_sdp_helpers(void **state) {
  vg_track_t t = {.codec = VG_CODEC_H264, .clock_rate = 90000};
  assert_int_equal(vg_fmtp_extradata(VG_CODEC_H264, H264_FMTP, &t.extradata), 0);
  char buf[512];
  assert_true(vg_sdp_fmtp(&t, buf, sizeof(buf)) > 0);
  assert_string_equal(buf, "packetization-mode=1;profile-level-id=42C00B;sprop-parameter-sets="
                           "Z0LAC9oKEflwEQAAAwABAAADADIPFCqg,aM4PyA==");
  assert_int_equal(vg_sdp_rtpmap(&t, buf, sizeof(buf)), 10);
  assert_string_equal(buf, "H264/90000");
  assert_int_equal(vg_sdp_fmtp(&t, buf, 20), VG_ETOOBIG);
  char v[8];
  assert_int_equal(vg_fmtp_get(" a=1 ; Packetization-Mode = 1 ;b", "packetization-mode", v, sizeof(v)), 1);
  assert_string_equal(v, "1");
  assert_int_equal(vg_fmtp_get("a=1", "b", v, sizeof(v)), VG_ENOTFOUND);
  vg_track_clear(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_real_capture_reproduces_encoder_nals),
      cmocka_unit_test(test_in_band_params_reported_without_sdp),
      cmocka_unit_test(test_loss_drops_until_next_keyframe),
      cmocka_unit_test(test_reordered_udp_through_reorder_buffer),
      cmocka_unit_test(test_pack_depack_round_trip_real_frames),
      cmocka_unit_test(test_pack_big_and_tiny_nals),
      cmocka_unit_test(test_unsupported_and_oversize),
      cmocka_unit_test(test_sdp_helpers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
