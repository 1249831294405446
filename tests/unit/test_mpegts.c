/* Unit tests for src/media/mpegts: real ffmpeg output (x264 + AAC, x265)
 * demuxed whole and in odd chunks, then damaged: lost packets, bad CRCs,
 * garbage between packets, truncation, random bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "media/mpegts.h"
#include "media/nal.h"

typedef struct {
  int sets;    /* on_tracks with -1 */
  int updates; /* on_tracks with an index */
  vg_track_t tracks[VG_MAX_TRACKS];
  int count;
  int frames[VG_MAX_TRACKS];
  int keys[VG_MAX_TRACKS];
  int corrupt;
  int64_t first_pts[VG_MAX_TRACKS];
  int64_t last_pts[VG_MAX_TRACKS];
  int bad_au; /* video frames that are not well-formed length-prefixed NAL units */
} sink_state_t;

static void on_tracks(void *opaque, const vg_track_t *tracks, int count, int update_index) {
  sink_state_t *s = opaque;
  if (update_index < 0) {
    s->sets++;
    for (int i = 0; i < s->count; i++)
      vg_track_clear(&s->tracks[i]);
    s->count = count;
    for (int i = 0; i < count; i++)
      vg_track_copy(&s->tracks[i], &tracks[i]);
  } else {
    s->updates++;
    vg_track_clear(&s->tracks[update_index]);
    vg_track_copy(&s->tracks[update_index], &tracks[update_index]);
  }
}

static void on_frame(void *opaque, vg_frame_t *f) {
  sink_state_t *s = opaque;
  assert_true(f->track < s->count);
  if (s->frames[f->track] == 0) s->first_pts[f->track] = f->pts;
  s->frames[f->track]++;
  s->last_pts[f->track] = f->pts;
  if (f->flags & VG_FRAME_KEY) s->keys[f->track]++;
  if (f->flags & VG_FRAME_CORRUPT) s->corrupt++;
  if (vg_codec_is_video(s->tracks[f->track].codec)) {
    size_t pos = 0, n;
    const uint8_t *nal;
    int r, nals = 0;
    while ((r = vg_nal_lp_next(f->data, f->len, &pos, &nal, &n)) == 1)
      nals++;
    if (r < 0 || !nals) s->bad_au++;
  }
  vg_frame_unref(f);
}

static void sink_clear(sink_state_t *s) {
  for (int i = 0; i < s->count; i++)
    vg_track_clear(&s->tracks[i]);
  memset(s, 0, sizeof(*s));
}

static uint8_t *load(const char *name, size_t *len) {
  char path[512];
  const char *dir = getenv("VG_TEST_DATA");
  snprintf(path, sizeof(path), "%s/mpegts/%s", dir ? dir : "tests/data", name);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  uint8_t *buf = malloc(1 << 20);
  *len = fread(buf, 1, 1 << 20, f);
  fclose(f);
  return buf;
}

/* Demuxes data in chunks of chunk bytes (0: all at once). */
static void demux(const uint8_t *data, size_t len, size_t chunk, sink_state_t *s, vg_ts_stats_t *st) {
  vg_ts_sink_t sink = {.on_frame = on_frame, .on_tracks = on_tracks, .opaque = s};
  vg_ts_demux_t *d = vg_ts_demux_new(&sink);
  assert_non_null(d);
  if (!chunk) chunk = len;
  for (size_t off = 0; off < len; off += chunk)
    assert_int_equal(vg_ts_demux_push(d, data + off, off + chunk <= len ? chunk : len - off, 1000), 0);
  vg_ts_demux_flush(d, 2000);
  vg_ts_demux_stats(d, st);
  vg_ts_demux_free(&d);
  assert_null(d);
}

static void check_h264_aac(const sink_state_t *s) {
  assert_int_equal(s->count, 2);
  assert_int_equal(s->tracks[0].codec, VG_CODEC_H264);
  assert_int_equal(s->tracks[0].clock_rate, 90000);
  assert_int_equal(s->tracks[0].width, 160);
  assert_int_equal(s->tracks[0].height, 120);
  assert_non_null(s->tracks[0].extradata);
  assert_int_equal(s->tracks[1].codec, VG_CODEC_AAC);
  assert_int_equal(s->tracks[1].sample_rate, 48000);
  assert_int_equal(s->tracks[1].clock_rate, 48000);
  assert_int_equal(s->tracks[1].channels, 1);
  assert_non_null(s->tracks[1].extradata);
  assert_int_equal(s->tracks[1].extradata->len, 2);
  /* AAC LC (2), 48 kHz (index 3), mono: 00010 0011 0001 000 */
  assert_int_equal(s->tracks[1].extradata->data[0], 0x11);
  assert_int_equal(s->tracks[1].extradata->data[1], 0x88);
  assert_int_equal(s->bad_au, 0);
}

static void test_h264_aac_whole(void **state) {
  (void)state;
  size_t len;
  uint8_t *data = load("h264_aac.ts", &len);
  sink_state_t s = {0};
  vg_ts_stats_t st;
  demux(data, len, 0, &s, &st);
  check_h264_aac(&s);
  assert_int_equal(s.sets, 1);
  /* ffprobe: 10 video frames (keyframes at 0 and 5), 20 AAC frames. The
   * audio frames before the first video keyframe (tracks not yet known)
   * are dropped. */
  assert_int_equal(s.frames[0], 10);
  assert_int_equal(s.keys[0], 2);
  assert_true(s.frames[1] >= 16 && s.frames[1] <= 20);
  assert_int_equal(s.keys[1], s.frames[1]);
  assert_int_equal(s.corrupt, 0);
  /* 25 fps: 9 frame intervals of 3600 ticks; AAC: 1024 samples per frame. */
  assert_int_equal(s.last_pts[0] - s.first_pts[0], 9 * 3600);
  assert_int_equal(s.last_pts[1] - s.first_pts[1], (int64_t)(s.frames[1] - 1) * 1024);
  assert_int_equal(vg_ts_stats_errors(&st), 0);
  assert_int_equal(st.packets, len / 188);
  assert_int_equal(st.have_pmt, 1);
  assert_true(st.last_pcr > 0);
  sink_clear(&s);
  free(data);
}

static void test_h264_aac_chunked(void **state) {
  (void)state;
  size_t len;
  uint8_t *data = load("h264_aac.ts", &len);
  static const size_t chunks[] = {1, 7, 187, 189, 1316};
  for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
    sink_state_t s = {0};
    vg_ts_stats_t st;
    demux(data, len, chunks[i], &s, &st);
    check_h264_aac(&s);
    assert_int_equal(s.frames[0], 10);
    assert_int_equal(vg_ts_stats_errors(&st), 0);
    sink_clear(&s);
  }
  free(data);
}

static void test_h265(void **state) {
  (void)state;
  size_t len;
  uint8_t *data = load("h265.ts", &len);
  sink_state_t s = {0};
  vg_ts_stats_t st;
  demux(data, len, 1316, &s, &st);
  assert_int_equal(s.count, 1);
  assert_int_equal(s.tracks[0].codec, VG_CODEC_H265);
  assert_int_equal(s.tracks[0].width, 176);
  assert_int_equal(s.tracks[0].height, 144);
  assert_non_null(s.tracks[0].extradata);
  /* VPS, SPS, PPS, each length-prefixed. */
  size_t pos = 0, n;
  const uint8_t *nal;
  int types[3] = {0}, k = 0;
  while (k < 3 &&
         vg_nal_lp_next(s.tracks[0].extradata->data, s.tracks[0].extradata->len, &pos, &nal, &n) == 1)
    types[k++] = vg_nal_type(VG_CODEC_H265, nal, n);
  assert_int_equal(types[0], 32);
  assert_int_equal(types[1], 33);
  assert_int_equal(types[2], 34);
  assert_int_equal(s.frames[0], 8);
  assert_int_equal(s.keys[0], 2);
  assert_int_equal(s.bad_au, 0);
  /* B-frames: the pts of the last frame in decode order (154800) lies
   * before that of the one before it; relative to the first (133200). */
  assert_int_equal(s.last_pts[0] - s.first_pts[0], 154800 - 133200);
  assert_int_equal(vg_ts_stats_errors(&st), 0);
  sink_clear(&s);
  free(data);
}

static int pid_of(const uint8_t *pkt) { return ((pkt[1] & 0x1F) << 8) | pkt[2]; }

/* The PID of the H.264 stream: the one of the biggest PES. */
static int video_pid(const uint8_t *data, size_t len) {
  int counts[0x2000] = {0};
  int best = -1;
  for (size_t off = 0; off + 188 <= len; off += 188) {
    int pid = pid_of(data + off);
    if (++counts[pid] > (best >= 0 ? counts[best] : 0) && pid != 0) best = pid;
  }
  return best;
}

static void test_cc_gap(void **state) {
  (void)state;
  size_t len;
  uint8_t *data = load("h264_aac.ts", &len);
  int vpid = video_pid(data, len);
  /* Remove the 10th video packet, then the 20th and 21st. */
  uint8_t *cut = malloc(len);
  size_t out = 0;
  int seen = 0;
  for (size_t off = 0; off + 188 <= len; off += 188) {
    if (pid_of(data + off) == vpid) {
      seen++;
      if (seen == 10 || seen == 20 || seen == 21) continue;
    }
    memcpy(cut + out, data + off, 188);
    out += 188;
  }
  sink_state_t s = {0};
  vg_ts_stats_t st;
  demux(cut, out, 1316, &s, &st);
  assert_int_equal(st.cc_lost, 3);
  assert_true(s.corrupt >= 1);
  assert_true(s.frames[0] >= 8);
  assert_int_equal(s.bad_au, 0);
  sink_clear(&s);
  free(cut);
  free(data);
}

static void test_duplicate_packet_ignored(void **state) {
  (void)state;
  size_t len;
  uint8_t *data = load("h264_aac.ts", &len);
  int vpid = video_pid(data, len);
  uint8_t *dup = malloc(len + 188);
  size_t out = 0;
  int done = 0;
  for (size_t off = 0; off + 188 <= len; off += 188) {
    memcpy(dup + out, data + off, 188);
    out += 188;
    if (!done && pid_of(data + off) == vpid && !(data[off + 1] & 0x40)) {
      memcpy(dup + out, data + off, 188); /* a retransmitted duplicate */
      out += 188;
      done = 1;
    }
  }
  sink_state_t s = {0};
  vg_ts_stats_t st;
  demux(dup, out, 0, &s, &st);
  assert_int_equal(vg_ts_stats_errors(&st), 0);
  assert_int_equal(s.frames[0], 10);
  assert_int_equal(s.bad_au, 0);
  sink_clear(&s);
  free(dup);
  free(data);
}

static void test_bad_crc_and_garbage(void **state) {
  (void)state;
  size_t len;
  uint8_t *data = load("h264_aac.ts", &len);
  /* Bad CRCs on every PAT: nothing is ever demuxed. */
  uint8_t *bad = malloc(len);
  memcpy(bad, data, len);
  for (size_t off = 0; off + 188 <= len; off += 188)
    if (pid_of(bad + off) == 0) bad[off + 12] ^= 0x55;
  sink_state_t s = {0};
  vg_ts_stats_t st;
  demux(bad, len, 0, &s, &st);
  assert_true(st.crc_errors >= 1);
  assert_int_equal(st.have_pmt, 0);
  assert_int_equal(s.count, 0);
  sink_clear(&s);

  /* Garbage (with fake sync bytes) between packets: we resynchronise. */
  size_t glen = len + 3 * 100;
  uint8_t *g = malloc(glen);
  size_t out = 0;
  for (size_t off = 0; off + 188 <= len; off += 188) {
    if (off == 188 * 20 || off == 188 * 40 || off == 188 * 41) {
      for (int i = 0; i < 100; i++)
        g[out++] = (uint8_t)(i % 3 == 0 ? 0x47 : i * 37);
    }
    memcpy(g + out, data + off, 188);
    out += 188;
  }
  demux(g, out, 1316, &s, &st);
  assert_true(st.sync_losses >= 1);
  assert_true(st.skipped_bytes >= 300);
  assert_int_equal(s.count, 2);
  assert_true(s.frames[0] >= 8);
  assert_int_equal(s.bad_au, 0);
  sink_clear(&s);
  free(g);
  free(bad);
  free(data);
}

static void test_truncated_and_flipped(void **state) {
  (void)state;
  size_t len;
  uint8_t *data = load("h265.ts", &len);
  /* Every prefix length up to a few packets, and a cut in the middle. */
  for (size_t cut = 0; cut < 188 * 12; cut += 61) {
    sink_state_t s = {0};
    vg_ts_stats_t st;
    demux(data, cut, 0, &s, &st);
    sink_clear(&s);
  }
  sink_state_t s = {0};
  vg_ts_stats_t st;
  demux(data, len / 2 + 77, 100, &s, &st);
  assert_int_equal(s.count, 1);
  assert_int_equal(s.bad_au, 0);
  sink_clear(&s);
  /* Flip bits all over (not the sync bytes): no crash, errors counted,
   * every frame still well-formed. */
  uint8_t *bad = malloc(len);
  memcpy(bad, data, len);
  srand(7);
  for (int i = 0; i < 400; i++) {
    size_t at = (size_t)rand() % len;
    if (at % 188) bad[at] ^= (uint8_t)(1u << (rand() % 8));
  }
  demux(bad, len, 1316, &s, &st);
  assert_int_equal(s.bad_au, 0);
  sink_clear(&s);
  /* Random bytes. */
  for (size_t i = 0; i < len; i++)
    bad[i] = (uint8_t)rand();
  demux(bad, len, 0, &s, &st);
  assert_int_equal(s.count, 0);
  assert_true(st.unsynced_run > 0 || st.bad_packets > 0 || st.packets < 10);
  sink_clear(&s);
  free(bad);
  free(data);
}

static void put_ts(uint8_t *p, int64_t v) {
  uint8_t prefix = p[0] & 0xF0;
  p[0] = (uint8_t)(prefix | ((v >> 29) & 0x0E) | 1);
  p[1] = (uint8_t)(v >> 22);
  p[2] = (uint8_t)(((v >> 14) & 0xFE) | 1);
  p[3] = (uint8_t)(v >> 7);
  p[4] = (uint8_t)(((v << 1) & 0xFE) | 1);
}

static int64_t get_ts(const uint8_t *p) {
  return ((int64_t)(p[0] & 0x0E) << 29) | ((int64_t)p[1] << 22) | ((int64_t)(p[2] & 0xFE) << 14) |
         ((int64_t)p[3] << 7) | (p[4] >> 1);
}

/* Moves every PTS/DTS of the file so that the 33-bit clock wraps in the
 * middle: the frames' pts keep growing across it. */
static void test_pts_wrap_in_stream(void **state) {
  (void)state;
  size_t len;
  uint8_t *data = load("h264_aac.ts", &len);
  const int64_t wrap = 1LL << 33;
  /* The first video pts is 126000 + 1800: place the wrap 0.2 s in. */
  const int64_t shift = wrap - 127800 - 18000;
  for (size_t off = 0; off + 188 <= len; off += 188) {
    uint8_t *pkt = data + off;
    if (!(pkt[1] & 0x40) || pid_of(pkt) == 0) continue;
    size_t pos = 4;
    if (pkt[3] & 0x20) pos = 5 + pkt[4];
    if (pos + 19 > 188) continue;
    uint8_t *pes = pkt + pos;
    if (pes[0] != 0 || pes[1] != 0 || pes[2] != 1 || pes[3] < 0xC0) continue;
    int flags = pes[7] >> 6;
    if (flags & 2) put_ts(pes + 9, (get_ts(pes + 9) + shift) % wrap);
    if (flags == 3) put_ts(pes + 14, (get_ts(pes + 14) + shift) % wrap);
  }
  sink_state_t s = {0};
  vg_ts_stats_t st;
  demux(data, len, 1316, &s, &st);
  check_h264_aac(&s);
  assert_int_equal(s.frames[0], 10);
  assert_true(s.first_pts[0] < wrap && s.last_pts[0] > wrap);
  assert_int_equal(s.last_pts[0] - s.first_pts[0], 9 * 3600);
  assert_int_equal(s.last_pts[1] - s.first_pts[1], (int64_t)(s.frames[1] - 1) * 1024);
  assert_int_equal(vg_ts_stats_errors(&st), 0);
  sink_clear(&s);
  free(data);
}

static void test_unwrap(void **state) {
  (void)state;
  const int64_t wrap = 1LL << 33;
  vg_ts_clock_t c = {0};
  assert_int_equal(vg_ts_unwrap(&c, (uint64_t)(wrap - 7200)), wrap - 7200);
  assert_int_equal(vg_ts_unwrap(&c, (uint64_t)(wrap - 3600)), wrap - 3600);
  assert_int_equal(vg_ts_unwrap(&c, 0), wrap);
  /* A B-frame from before the wrap stays before it. */
  assert_int_equal(vg_ts_unwrap(&c, (uint64_t)(wrap - 1800)), wrap - 1800);
  assert_int_equal(vg_ts_unwrap(&c, 3600), wrap + 3600);
  assert_int_equal(vg_ts_unwrap(&c, 1800), wrap + 1800);
  assert_int_equal(vg_ts_unwrap(&c, 7200), wrap + 7200);
  /* Bits above 33 are ignored. */
  assert_int_equal(vg_ts_unwrap(&c, (uint64_t)wrap + 10800), wrap + 10800);
}

static void test_crc32(void **state) {
  (void)state;
  /* The PAT ffmpeg writes: program 1 at PID 0x1000. */
  const uint8_t pat[] = {0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00,
                         0x00, 0x01, 0xf0, 0x00, 0x2a, 0xb1, 0x04, 0xb2};
  assert_int_equal(vg_ts_crc32(pat, sizeof(pat)), 0);
  assert_int_equal(vg_ts_crc32(pat, sizeof(pat) - 4), 0x2ab104b2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_h264_aac_whole),
      cmocka_unit_test(test_h264_aac_chunked),
      cmocka_unit_test(test_h265),
      cmocka_unit_test(test_cc_gap),
      cmocka_unit_test(test_duplicate_packet_ignored),
      cmocka_unit_test(test_bad_crc_and_garbage),
      cmocka_unit_test(test_truncated_and_flipped),
      cmocka_unit_test(test_unwrap),
      cmocka_unit_test(test_crc32),
      cmocka_unit_test(test_pts_wrap_in_stream),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
