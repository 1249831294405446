/* Unit tests for the audio RTP payload formats: AAC (RFC 3640), G.711 and
 * Opus, against real packets from ffmpeg (tests/data/rtp/{aac,pcmu,opus}.*)
 * and hand-built multi-AU and fragmented AAC packets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "base/error.h"
#include "proto/rtp.h"
#include "proto/rtp_payload.h"
#include "rtp_testdata.h"

#define AAC_FMTP "profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; config=1408"

static vg_depack_t *new_depack(const vg_track_t *t, const char *fmtp, td_frames_t *out) {
  vg_depack_sink_t sink = {.on_frame = td_on_frame, .opaque = out};
  vg_depack_t *d = NULL;
  assert_int_equal(vg_depack_new(t, fmtp, &sink, &d), 0);
  return d;
}

static void push_bytes(vg_depack_t *d, const uint8_t *data, size_t len) {
  vg_rtp_packet_t pkt;
  assert_int_equal(vg_rtp_parse(data, len, &pkt), 0);
  assert_int_equal(vg_depack_push(d, &pkt, 0), 0);
}

static void test_aac_real_capture_matches_adts_payloads(void **state) {
  td_capture_t c;
  assert_int_equal(td_capture_load("rtp/aac.rtp", &c), 0);
  vg_track_t t = {.codec = VG_CODEC_AAC, .clock_rate = 16000, .sample_rate = 16000, .channels = 1};
  td_frames_t out = {0};
  vg_depack_t *d = new_depack(&t, AAC_FMTP, &out);
  for (size_t i = 0; i < c.n; i++)
    if (c.rec[i].channel == 0) push_bytes(d, c.rec[i].data, c.rec[i].len);
  /* The ADTS file holds the same access units behind 7-byte headers. */
  size_t len = 0, pos = 0, k = 0;
  uint8_t *adts = td_load("rtp/aac.adts", &len);
  assert_non_null(adts);
  /* The third packet aggregates two AUs; ffmpeg never sent the ninth. */
  assert_int_equal(out.n, 8);
  while (pos + 7 <= len && k < out.n) {
    size_t flen = ((size_t)(adts[pos + 3] & 3) << 11) | ((size_t)adts[pos + 4] << 3) | (adts[pos + 5] >> 5);
    size_t hlen = (adts[pos + 1] & 1) ? 7 : 9;
    assert_true(k < out.n);
    assert_int_equal(out.frames[k].len, flen - hlen);
    assert_memory_equal(out.frames[k].data, adts + pos + hlen, flen - hlen);
    assert_true(out.frames[k].flags & VG_FRAME_KEY);
    if (k) assert_int_equal(out.frames[k].pts - out.frames[k - 1].pts, 1024);
    pos += flen;
    k++;
  }
  free(adts);
  assert_int_equal(k, out.n);
  vg_buf_t *asc = NULL;
  assert_int_equal(vg_fmtp_extradata(VG_CODEC_AAC, AAC_FMTP, &asc), 0);
  assert_int_equal(asc->len, 2);
  assert_int_equal(asc->data[0], 0x14);
  assert_int_equal(asc->data[1], 0x08);
  t.extradata = asc;
  char fmtp[256];
  assert_true(vg_sdp_fmtp(&t, fmtp, sizeof(fmtp)) > 0);
  assert_string_equal(fmtp, "streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;"
                            "indexdeltalength=3;config=1408");
  assert_int_equal(vg_sdp_rtpmap(&t, fmtp, sizeof(fmtp)), 21);
  assert_string_equal(fmtp, "MPEG4-GENERIC/16000/1");
  vg_track_clear(&t);
  td_frames_clear(&out);
  vg_depack_free(&d);
  td_capture_free(&c);
}

/* Builds an RTP packet with an AAC-hbr AU-header section for n AUs of the
 * given sizes (declared sizes, data bytes may be fewer for fragments). */
static size_t build_hbr(uint8_t *p, uint16_t seq, uint32_t ts, int marker, const uint16_t *sizes, int n,
                        const uint8_t *data, size_t data_len) {
  vg_rtp_packet_t h = {.marker = (uint8_t)marker, .payload_type = 97, .seq = seq, .timestamp = ts, .ssrc = 7};
  vg_rtp_write_header(&h, p);
  size_t o = 12;
  p[o++] = 0;
  p[o++] = (uint8_t)(16 * n);
  for (int i = 0; i < n; i++) {
    p[o++] = (uint8_t)(sizes[i] >> 5);
    p[o++] = (uint8_t)((sizes[i] & 0x1f) << 3); /* index / index-delta 0 */
  }
  memcpy(p + o, data, data_len);
  return o + data_len;
}

static void test_aac_several_aus_per_packet_and_fragments(void **state) {
  vg_track_t t = {.codec = VG_CODEC_AAC, .clock_rate = 48000};
  td_frames_t out = {0};
  vg_depack_t *d = new_depack(&t, "mode=AAC-hbr", &out); /* lengths from the mode's defaults */
  uint8_t data[3000], pkt[4000];
  for (size_t i = 0; i < sizeof(data); i++)
    data[i] = (uint8_t)(i * 13);
  uint16_t three[3] = {100, 1, 250};
  push_bytes(d, pkt, build_hbr(pkt, 10, 4294966000u, 1, three, 3, data, 351));
  /* One AU of 2500 bytes in three fragments, marker on the last. */
  uint16_t big[1] = {2500};
  push_bytes(d, pkt, build_hbr(pkt, 11, 4294966000u + 3072, 0, big, 1, data, 1000));
  push_bytes(d, pkt, build_hbr(pkt, 12, 4294966000u + 3072, 0, big, 1, data + 1000, 1000));
  push_bytes(d, pkt, build_hbr(pkt, 13, 4294966000u + 3072, 1, big, 1, data + 2000, 500));
  assert_int_equal(out.n, 4);
  assert_int_equal(out.frames[0].len, 100);
  assert_int_equal(out.frames[1].len, 1);
  assert_int_equal(out.frames[2].len, 250);
  assert_memory_equal(out.frames[2].data, data + 101, 250);
  assert_int_equal(out.frames[1].pts - out.frames[0].pts, 1024);
  assert_int_equal(out.frames[2].pts - out.frames[0].pts, 2048);
  assert_int_equal(out.frames[3].len, 2500);
  assert_memory_equal(out.frames[3].data, data, 2500);
  assert_int_equal(out.frames[3].pts - out.frames[0].pts, 3072); /* across the 2^32 wrap */
  td_frames_clear(&out);

  /* Losing the middle fragment drops that AU only. */
  push_bytes(d, pkt, build_hbr(pkt, 14, 10000, 0, big, 1, data, 1000));
  push_bytes(d, pkt, build_hbr(pkt, 16, 10000, 1, big, 1, data + 2000, 500));
  push_bytes(d, pkt, build_hbr(pkt, 17, 11024, 1, three, 1, data, 100));
  vg_depack_stats_t st;
  vg_depack_get_stats(d, &st);
  assert_int_equal(st.lost, 1);
  assert_int_equal(st.frames_dropped_loss, 1);
  assert_int_equal(out.n, 1);
  assert_int_equal(out.frames[0].len, 100);
  td_frames_clear(&out);
  vg_depack_free(&d);

  /* AAC-lbr: 6-bit sizes, 2-bit index; one byte per header. */
  d = new_depack(&t, "mode=AAC-lbr;sizelength=6;indexlength=2;indexdeltalength=2", &out);
  uint8_t lbr[] = {0x80, 0xe1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 16, (3 << 2), (2 << 2), 1, 2, 3, 4, 5};
  push_bytes(d, lbr, sizeof(lbr));
  assert_int_equal(out.n, 2);
  assert_int_equal(out.frames[0].len, 3);
  assert_int_equal(out.frames[1].len, 2);
  assert_int_equal(out.frames[1].data[0], 4);
  td_frames_clear(&out);
  vg_depack_free(&d);
  vg_depack_t *bad = NULL;
  vg_depack_sink_t sink = {.on_frame = td_on_frame, .opaque = &out};
  assert_int_equal(vg_depack_new(&t, "mode=foo", &sink, &bad), VG_EINVAL);
  assert_null(bad);
}

static void test_aac_pack_round_trip(void **state) {
  vg_track_t t = {.codec = VG_CODEC_AAC, .clock_rate = 48000};
  uint8_t data[3000];
  for (size_t i = 0; i < sizeof(data); i++)
    data[i] = (uint8_t)(i ^ 0x5a);
  vg_pack_t *p = NULL;
  assert_int_equal(vg_pack_new(&t, 97, 1400, &p), 0);
  td_frames_t out = {0};
  vg_depack_t *d = new_depack(&t, "mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3", &out);
  size_t lens[3] = {300, 1, 3000};
  uint16_t seq = 65534;
  for (int i = 0; i < 3; i++) {
    vg_frame_t f = {.data = data, .len = (uint32_t)lens[i], .pts = 1024 * i};
    const vg_pack_pkt_t *pk;
    size_t n;
    assert_int_equal(vg_pack_frame(p, &f, &pk, &n), 0);
    assert_int_equal(n, lens[i] > 1396 ? 3 : 1);
    for (size_t k = 0; k < n; k++) {
      uint8_t wire[1500];
      memcpy(wire, pk[k].hdr, pk[k].hdr_len);
      vg_rtp_header_patch(wire, seq++, vg_rtp_header_ts(wire), 1);
      memcpy(wire + pk[k].hdr_len, pk[k].payload, pk[k].payload_len);
      push_bytes(d, wire, pk[k].hdr_len + pk[k].payload_len);
    }
  }
  assert_int_equal(out.n, 3);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(out.frames[i].len, lens[i]);
    assert_memory_equal(out.frames[i].data, data, lens[i]);
    assert_int_equal(out.frames[i].pts, 1024 * i);
  }
  vg_frame_t huge = {.data = data, .len = 8192};
  const vg_pack_pkt_t *pk;
  size_t n;
  assert_int_equal(vg_pack_frame(p, &huge, &pk, &n), VG_ETOOBIG);
  assert_int_equal(n, 0);
  td_frames_clear(&out);
  vg_depack_free(&d);
  vg_pack_free(&p);
}

/* G.711 and Opus: each packet's payload is one frame, as the capture shows. */
static void check_one_frame_per_packet(const char *rel, vg_codec_t codec, uint32_t rate, int64_t step) {
  td_capture_t c;
  assert_int_equal(td_capture_load(rel, &c), 0);
  vg_track_t t = {.codec = codec, .clock_rate = rate};
  td_frames_t out = {0};
  vg_depack_t *d = new_depack(&t, NULL, &out);
  size_t k = 0;
  for (size_t i = 0; i < c.n; i++) {
    if (c.rec[i].channel != 0) continue;
    push_bytes(d, c.rec[i].data, c.rec[i].len);
    assert_int_equal(out.n, k + 1);
    assert_int_equal(out.frames[k].len, c.rec[i].len - 12);
    assert_memory_equal(out.frames[k].data, c.rec[i].data + 12, c.rec[i].len - 12);
    if (k) assert_int_equal(out.frames[k].pts - out.frames[k - 1].pts, step);
    k++;
  }
  assert_true(k >= 5);
  /* Round trip through the packetizer, small MTU for G.711 splitting. */
  vg_pack_t *p = NULL;
  assert_int_equal(vg_pack_new(&t, 0, 128, &p), 0);
  td_frames_t back = {0};
  vg_depack_t *d2 = new_depack(&t, NULL, &back);
  uint16_t seq = 0;
  for (size_t i = 0; i < out.n; i++) {
    const vg_pack_pkt_t *pk;
    size_t n;
    int r = vg_pack_frame(p, &out.frames[i], &pk, &n);
    if (codec == VG_CODEC_OPUS && out.frames[i].len > 128) {
      assert_int_equal(r, VG_ETOOBIG);
      continue;
    }
    assert_int_equal(r, 0);
    for (size_t j = 0; j < n; j++) {
      uint8_t wire[256];
      memcpy(wire, pk[j].hdr, pk[j].hdr_len);
      vg_rtp_header_patch(wire, seq++, vg_rtp_header_ts(wire), 9);
      memcpy(wire + pk[j].hdr_len, pk[j].payload, pk[j].payload_len);
      push_bytes(d2, wire, pk[j].hdr_len + pk[j].payload_len);
    }
  }
  if (codec != VG_CODEC_OPUS) {
    /* 320 samples split into 128 + 128 + 64: timestamps advance per sample. */
    assert_int_equal(back.n, out.n * 3);
    assert_int_equal(back.frames[1].pts - back.frames[0].pts, 128);
    assert_memory_equal(back.frames[1].data, out.frames[0].data + 128, 128);
  } else {
    assert_true(back.n > 0);
    assert_memory_equal(back.frames[0].data, out.frames[0].data, out.frames[0].len);
  }
  td_frames_clear(&back);
  vg_depack_free(&d2);
  vg_pack_free(&p);
  td_frames_clear(&out);
  vg_depack_free(&d);
  td_capture_free(&c);
}

static void test_pcmu_real_capture(void **state) {
  check_one_frame_per_packet("rtp/pcmu.rtp", VG_CODEC_PCMU, 8000, 320);
}

static void test_opus_real_capture(void **state) {
  check_one_frame_per_packet("rtp/opus.rtp", VG_CODEC_OPUS, 48000, 960);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_aac_real_capture_matches_adts_payloads),
      cmocka_unit_test(test_aac_several_aus_per_packet_and_fragments),
      cmocka_unit_test(test_aac_pack_round_trip),
      cmocka_unit_test(test_pcmu_real_capture),
      cmocka_unit_test(test_opus_real_capture),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
