/* Unit tests for src/media/flv and src/ingest/rtmp_ingest: the tags of a
 * real ffmpeg FLV (H.264 with B-frames + AAC, tests/data/rtmp/h264_aac.flv),
 * H.265 through enhanced RTMP built around a real HEVCDecoderConfigurationRecord
 * from libx265 (tests/data/rtmp/hvcc.bin; Debian's ffmpeg 5.1 cannot write
 * H.265 into FLV), NAL length conversion, and malformed payloads. */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "ingest/rtmp_ingest.h"
#include "media/flv.h"
#include "media/nal.h"

static uint8_t *read_data(const char *name, size_t *len) {
  char path[1024];
  const char *dir = getenv("VG_TEST_DATA");
  snprintf(path, sizeof(path), "%s/rtmp/%s", dir ? dir : "tests/data", name);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  uint8_t *buf = malloc(1 << 20);
  *len = fread(buf, 1, 1 << 20, f);
  fclose(f);
  return buf;
}

typedef struct {
  uint8_t type;
  uint32_t ts;
  const uint8_t *data;
  size_t len;
} tag_t;

/* Splits an FLV file into its tags (header 9 + 4, then 11-byte tag headers). */
static int flv_tags(const uint8_t *f, size_t len, tag_t *tags, int max) {
  assert_memory_equal(f, "FLV", 3);
  size_t off = 13;
  int n = 0;
  while (off + 11 <= len && n < max) {
    size_t sz = (size_t)f[off + 1] << 16 | (size_t)f[off + 2] << 8 | f[off + 3];
    uint32_t ts =
        (uint32_t)f[off + 4] << 16 | (uint32_t)f[off + 5] << 8 | f[off + 6] | (uint32_t)f[off + 7] << 24;
    assert_true(off + 11 + sz <= len);
    tags[n++] = (tag_t){f[off], ts, f + off + 11, sz};
    off += 11 + sz + 4;
  }
  return n;
}

static void test_real_h264_aac_tags(void **state) {
  size_t len;
  uint8_t *f = read_data("h264_aac.flv", &len);
  tag_t tags[64];
  int n = flv_tags(f, len, tags, 64);
  assert_true(n > 6);
  int configs = 0, video_frames = 0, keyframes = 0, reordered = 0, aac_frames = 0;
  for (int i = 0; i < n; i++) {
    vg_flv_packet_t p;
    if (tags[i].type == 9) {
      assert_int_equal(vg_flv_parse_video(tags[i].data, tags[i].len, &p), 0);
      assert_int_equal(p.codec, VG_CODEC_H264);
      if (p.kind == VG_FLV_CONFIG) {
        vg_track_t t = {.codec = VG_CODEC_H264, .clock_rate = 90000};
        int nls = 0;
        assert_int_equal(vg_flv_avcc_to_extradata(p.data, p.len, &t.extradata, &nls), 0);
        assert_int_equal(nls, 4);
        assert_int_equal(vg_track_update_video_info(&t, NULL, 0), 0);
        assert_int_equal(t.width, 160);
        assert_int_equal(t.height, 120);
        /* Truncations of the record up to its last PPS are errors (the 4
         * bytes after it are the High profile extension, which is not used). */
        for (size_t k = 0; k < p.len - 4; k++) {
          vg_buf_t *ex = (vg_buf_t *)1;
          assert_int_equal(vg_flv_avcc_to_extradata(p.data, k, &ex, &nls), VG_EPROTO);
          assert_null(ex);
        }
        vg_track_clear(&t);
        configs++;
      } else if (p.kind == VG_FLV_FRAME) {
        vg_buf_t *src = vg_buf_from(tags[i].data, tags[i].len), *au = NULL;
        const uint8_t *d;
        size_t dl;
        size_t off = (size_t)(p.data - tags[i].data);
        assert_int_equal(vg_flv_nalus_to_au(src, src->data + off, p.len, 4, &au, &d, &dl), 0);
        assert_ptr_equal(au, src); /* 4-byte lengths: no copy */
        assert_int_equal(vg_nal_au_is_keyframe(VG_CODEC_H264, d, dl), p.key);
        vg_buf_unref(&au);
        vg_buf_unref(&src);
        video_frames++;
        keyframes += p.key;
        reordered += p.cts != 0;
      }
    } else if (tags[i].type == 8) {
      assert_int_equal(vg_flv_parse_audio(tags[i].data, tags[i].len, &p), 0);
      assert_int_equal(p.codec, VG_CODEC_AAC);
      if (p.kind == VG_FLV_CONFIG) {
        int rate = 0, ch = 0;
        assert_int_equal(vg_flv_aac_config(p.data, p.len, &rate, &ch), 0);
        assert_int_equal(rate, 44100);
        assert_int_equal(ch, 1);
        configs++;
      } else {
        aac_frames++;
      }
    }
  }
  assert_int_equal(configs, 2);
  assert_int_equal(video_frames, 5);
  assert_int_equal(keyframes, 1);
  assert_true(reordered > 0); /* B-frames: composition offsets */
  assert_true(aac_frames > 3);
  free(f);
}

/* ---- the ingest path over the same file ---- */

typedef struct {
  int set_calls, update_calls, frames, keys;
  vg_track_t tracks[4];
  int count;
  int64_t min_video_pts, first_utc, max_video_pts;
} sink_state_t;

static void sink_set(void *o, const vg_track_t *t, int n) {
  sink_state_t *s = o;
  for (int i = 0; i < s->count; i++)
    vg_track_clear(&s->tracks[i]);
  for (int i = 0; i < n; i++)
    vg_track_copy(&s->tracks[i], &t[i]);
  s->count = n;
  s->set_calls++;
}
static void sink_update(void *o, int i, const vg_track_t *t) { ((sink_state_t *)o)->update_calls++; }
static void sink_frame(void *o, const vg_frame_t *f) {
  sink_state_t *s = o;
  s->frames++;
  if (f->track == 0) {
    s->keys += (f->flags & VG_FRAME_KEY) != 0;
    if (f->pts > s->max_video_pts) s->max_video_pts = f->pts;
    if (f->pts < s->min_video_pts) s->min_video_pts = f->pts;
    assert_int_equal(vg_nal_au_is_keyframe(VG_CODEC_H264, f->data, f->len), (f->flags & VG_FRAME_KEY) != 0);
  }
  if (s->frames == 1) s->first_utc = f->utc_us;
  assert_true(f->utc_us >= 5000000);
  assert_int_equal(f->recv_us, 77);
}

static void sink_frame_h265(void *o, const vg_frame_t *f) {
  sink_state_t *s = o;
  s->frames++;
  s->keys += (f->flags & VG_FRAME_KEY) != 0;
  assert_int_equal(f->len, 7);
}

static void sink_count(void *o, const vg_frame_t *f) {
  (void)f;
  ((sink_state_t *)o)->frames++;
}

/* Feeds one tag to the ingest as the RTMP message that carries it. */
static int send_tag(vg_rtmp_ingest_t *ing, const tag_t *tag, uint32_t timestamp) {
  vg_rtmp_msg_t m = {.type = tag->type, .stream_id = 1, .timestamp = timestamp, .csid = 4};
  m.buf = vg_buf_from(tag->data, tag->len);
  m.buf->len = tag->len;
  int r = vg_rtmp_ingest_message(ing, &m, 77, 5000000);
  vg_buf_unref(&m.buf);
  return r;
}

static void test_ingest_real_file(void **state) {
  size_t len;
  uint8_t *f = read_data("h264_aac.flv", &len);
  tag_t tags[64];
  int n = flv_tags(f, len, tags, 64);
  sink_state_t s;
  memset(&s, 0, sizeof(s));
  s.min_video_pts = INT64_MAX;
  vg_rtmp_ingest_sink_t sink = {sink_set, sink_update, sink_frame, &s};
  vg_rtmp_ingest_t ing;
  vg_rtmp_ingest_init(&ing, &sink);
  int media = 0;
  for (int i = 0; i < n; i++) {
    int r = send_tag(&ing, &tags[i], tags[i].ts + 1000);
    assert_true(r >= 0);
    media += r;
  }
  /* Both sequence headers come before the first frame: one track list. */
  assert_int_equal(s.set_calls, 1);
  assert_int_equal(s.count, 2);
  assert_int_equal(s.tracks[0].codec, VG_CODEC_H264);
  assert_int_equal(s.tracks[0].clock_rate, 90000);
  assert_int_equal(s.tracks[0].width, 160);
  assert_true(s.tracks[0].fps == 25);
  assert_int_equal(s.tracks[1].codec, VG_CODEC_AAC);
  assert_int_equal(s.tracks[1].clock_rate, 44100);
  assert_int_equal(s.frames, media);
  assert_int_equal(s.keys, 1);
  assert_int_equal(s.first_utc, 5000000);
  /* 5 frames at 25 fps: presentation times span 4 * 40 ms (90 kHz); the
   * first is the B-frame delay (a composition offset of 2 frames) after 0. */
  assert_int_equal(s.min_video_pts, 2 * 3600);
  assert_int_equal(s.max_video_pts - s.min_video_pts, 4 * 3600);
  assert_int_equal(ing.errors, 0);
  /* A repeated video sequence header updates the track in place. */
  vg_rtmp_msg_t m = {.type = 9, .stream_id = 1, .timestamp = 5000};
  for (int i = 0; i < n; i++)
    if (tags[i].type == 9 && tags[i].data[1] == 0) {
      m.buf = vg_buf_from(tags[i].data, tags[i].len);
      m.buf->len = tags[i].len;
    }
  assert_int_equal(vg_rtmp_ingest_message(&ing, &m, 77, 5000000), 0);
  vg_buf_unref(&m.buf);
  assert_int_equal(s.update_calls, 1);
  assert_int_equal(s.set_calls, 1);
  /* A malformed video frame is an error, counted, and the stream goes on. */
  const uint8_t bad[] = {0x27, 0x01, 0, 0, 0, 0, 0, 0, 9, 1};
  m.buf = vg_buf_from(bad, sizeof(bad));
  m.buf->len = sizeof(bad);
  assert_int_equal(vg_rtmp_ingest_message(&ing, &m, 77, 5000000), VG_EPROTO);
  vg_buf_unref(&m.buf);
  assert_int_equal(ing.errors, 1);
  vg_rtmp_ingest_clear(&ing);
  for (int i = 0; i < s.count; i++)
    vg_track_clear(&s.tracks[i]);
  free(f);
}

/* A relay (nginx-rtmp) sends each codec's sequence header with its first
 * frame, so a player joining before the encoder's first video frame gets
 * metadata, then audio, then video: the audio waits for the video that
 * the metadata announced, and readers see one track list with both. */
static void test_audio_waits_for_announced_video(void **state) {
  (void)state;
  size_t len;
  uint8_t *f = read_data("h264_aac.flv", &len);
  tag_t tags[64];
  int n = flv_tags(f, len, tags, 64);
  sink_state_t s;
  memset(&s, 0, sizeof(s));
  s.min_video_pts = INT64_MAX;
  vg_rtmp_ingest_sink_t sink = {sink_set, sink_update, sink_frame, &s};
  vg_rtmp_ingest_t ing;
  vg_rtmp_ingest_init(&ing, &sink);
  int audio_sent = 0, video_frames = 0;
  for (int pass = 0; pass < 3; pass++) /* metadata, then audio, then video */
    for (int i = 0; i < n; i++) {
      int type = tags[i].type;
      if ((pass == 0 && type != 18) || (pass == 1 && type != 8) || (pass == 2 && type != 9)) continue;
      int r = send_tag(&ing, &tags[i], tags[i].ts + 1000);
      assert_true(r >= 0);
      audio_sent += pass == 1;
      video_frames += pass == 2 && r > 0;
    }
  assert_true(ing.meta_video);
  assert_true(audio_sent > 3);
  assert_int_equal(s.set_calls, 1);
  assert_int_equal(s.count, 2);
  assert_int_equal(s.tracks[0].codec, VG_CODEC_H264);
  assert_int_equal(s.tracks[1].codec, VG_CODEC_AAC);
  assert_int_equal(s.frames, video_frames); /* the audio that came first was not published */
  assert_int_equal(video_frames, 5);
  vg_rtmp_ingest_clear(&ing);
  for (int i = 0; i < s.count; i++)
    vg_track_clear(&s.tracks[i]);

  /* Video announced but never sent: after 3 s of audio, audio alone. */
  memset(&s, 0, sizeof(s));
  vg_rtmp_ingest_sink_t audio_sink = {sink_set, sink_update, sink_count, &s};
  vg_rtmp_ingest_init(&ing, &audio_sink);
  for (int t = 0; t <= 4000; t += 500)
    for (int i = 0; i < n; i++) {
      if (tags[i].type == 9 || (t > 0 && tags[i].type == 18)) continue;
      assert_true(send_tag(&ing, &tags[i], tags[i].ts + (uint32_t)t) >= 0);
      if (t < 3000) assert_int_equal(s.set_calls, 0);
    }
  assert_int_equal(s.set_calls, 1);
  assert_int_equal(s.count, 1);
  assert_int_equal(s.tracks[0].codec, VG_CODEC_AAC);
  assert_true(s.frames > 0);
  vg_rtmp_ingest_clear(&ing);
  vg_track_clear(&s.tracks[0]);
  free(f);
}

static void test_enhanced_rtmp_h265(void **state) {
  size_t hlen;
  uint8_t *hvcc = read_data("hvcc.bin", &hlen);
  uint8_t *tag = malloc(hlen + 5);
  tag[0] = 0x80 | 1 << 4 | 0; /* IsExHeader, keyframe, SequenceStart */
  memcpy(tag + 1, "hvc1", 4);
  memcpy(tag + 5, hvcc, hlen);
  vg_flv_packet_t p;
  assert_int_equal(vg_flv_parse_video(tag, hlen + 5, &p), 0);
  assert_int_equal(p.codec, VG_CODEC_H265);
  assert_int_equal(p.kind, VG_FLV_CONFIG);
  vg_track_t t = {.codec = VG_CODEC_H265, .clock_rate = 90000};
  int nls = 0;
  assert_int_equal(vg_flv_hvcc_to_extradata(p.data, p.len, &t.extradata, &nls), 0);
  assert_int_equal(nls, 4);
  /* VPS, SPS and PPS in the length-prefixed form. */
  size_t pos = 0;
  const uint8_t *nal;
  size_t nl;
  int types = 0;
  while (vg_nal_lp_next(t.extradata->data, t.extradata->len, &pos, &nal, &nl) == 1)
    types |= 1 << (vg_nal_type(VG_CODEC_H265, nal, nl) - 32);
  assert_int_equal(types & 7, 7);
  assert_int_equal(vg_track_update_video_info(&t, NULL, 0), 0);
  assert_int_equal(t.width, 192);
  assert_int_equal(t.height, 108);
  vg_track_clear(&t);
  for (size_t k = 0; k < hlen; k += 7) {
    vg_buf_t *ex = NULL;
    assert_int_equal(vg_flv_hvcc_to_extradata(hvcc, k, &ex, &nls), VG_EPROTO);
  }

  /* CodedFrames carries a composition time, CodedFramesX does not. */
  const uint8_t coded[] = {0xa1, 'h', 'v', 'c', '1', 0xff, 0xff, 0xd8, 0, 0, 0, 3, 0x02, 0x01, 0xd0};
  assert_int_equal(vg_flv_parse_video(coded, sizeof(coded), &p), 0);
  assert_int_equal(p.kind, VG_FLV_FRAME);
  assert_int_equal(p.key, 0);
  assert_int_equal(p.cts, -40);
  assert_int_equal(p.len, 7);
  const uint8_t coded_x[] = {0x93, 'h', 'v', 'c', '1', 0, 0, 0, 3, 0x26, 0x01, 0xaf};
  assert_int_equal(vg_flv_parse_video(coded_x, sizeof(coded_x), &p), 0);
  assert_int_equal(p.kind, VG_FLV_FRAME);
  assert_int_equal(p.key, 1);
  assert_int_equal(p.cts, 0);
  assert_int_equal(p.len, 7);
  /* Another FourCC (AV1) is not ours; a truncated header is malformed. */
  const uint8_t av1[] = {0x90, 'a', 'v', '0', '1', 0};
  assert_int_equal(vg_flv_parse_video(av1, sizeof(av1), &p), VG_EUNSUPPORTED);
  assert_int_equal(vg_flv_parse_video(coded, 4, &p), VG_EPROTO);
  assert_int_equal(vg_flv_parse_video(coded, 7, &p), VG_EPROTO);

  /* Through the ingest path: a track list with the H.265 track. */
  sink_state_t s;
  memset(&s, 0, sizeof(s));
  vg_rtmp_ingest_sink_t sink = {sink_set, sink_update, sink_frame_h265, &s};
  vg_rtmp_ingest_t ing;
  vg_rtmp_ingest_init(&ing, &sink);
  vg_rtmp_msg_t m = {.type = 9, .timestamp = 0};
  m.buf = vg_buf_from(tag, hlen + 5);
  m.buf->len = hlen + 5;
  assert_int_equal(vg_rtmp_ingest_message(&ing, &m, 77, 5000000), 0);
  vg_buf_unref(&m.buf);
  m.buf = vg_buf_from(coded_x, sizeof(coded_x));
  m.buf->len = sizeof(coded_x);
  m.timestamp = 40;
  assert_int_equal(vg_rtmp_ingest_message(&ing, &m, 77, 5000000), 1);
  assert_int_equal(s.set_calls, 1);
  assert_int_equal(s.count, 1);
  assert_int_equal(s.tracks[0].codec, VG_CODEC_H265);
  assert_int_equal(s.tracks[0].width, 192);
  assert_int_equal(s.frames, 1);
  assert_int_equal(s.keys, 1);
  vg_buf_unref(&m.buf);
  vg_rtmp_ingest_clear(&ing);
  for (int i = 0; i < s.count; i++)
    vg_track_clear(&s.tracks[i]);
  free(tag);
  free(hvcc);
}

static void test_nal_length_conversion_and_malformed(void **state) {
  /* Two NAL units with 2-byte lengths become 4-byte lengths (copied). */
  const uint8_t two[] = {0, 2, 0x65, 0x88, 0, 1, 0x41};
  vg_buf_t *src = vg_buf_from(two, sizeof(two)), *au = NULL;
  const uint8_t *d;
  size_t dl;
  assert_int_equal(vg_flv_nalus_to_au(src, src->data, sizeof(two), 2, &au, &d, &dl), 0);
  assert_ptr_not_equal(au, src);
  const uint8_t want[] = {0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 1, 0x41};
  assert_int_equal(dl, sizeof(want));
  assert_memory_equal(d, want, sizeof(want));
  vg_buf_unref(&au);
  /* A length past the end, a partial length, an empty frame, size 3. */
  assert_int_equal(vg_flv_nalus_to_au(src, src->data, 6, 2, &au, &d, &dl), VG_EPROTO);
  assert_int_equal(vg_flv_nalus_to_au(src, src->data, 5, 2, &au, &d, &dl), VG_EPROTO);
  assert_int_equal(vg_flv_nalus_to_au(src, src->data, 0, 4, &au, &d, &dl), VG_EPROTO);
  assert_int_equal(vg_flv_nalus_to_au(src, src->data, sizeof(two), 3, &au, &d, &dl), VG_EPROTO);
  assert_null(au);
  vg_buf_unref(&src);
  vg_flv_packet_t p;
  assert_int_equal(vg_flv_parse_video((const uint8_t *)"\x17", 1, &p), VG_EPROTO);
  assert_int_equal(vg_flv_parse_video((const uint8_t *)"\x17\x05\0\0\0", 5, &p), VG_EPROTO);
  assert_int_equal(vg_flv_parse_video((const uint8_t *)"\x12\x00", 2, &p), VG_EUNSUPPORTED); /* Sorenson */
  assert_int_equal(vg_flv_parse_audio((const uint8_t *)"\xaf", 1, &p), VG_EPROTO);
  assert_int_equal(vg_flv_parse_audio((const uint8_t *)"\x2f\x00", 2, &p), VG_EUNSUPPORTED); /* MP3 */
  int rate, ch;
  assert_int_equal(vg_flv_aac_config((const uint8_t *)"\x12", 1, &rate, &ch), VG_EPROTO);
  assert_int_equal(vg_flv_aac_config((const uint8_t *)"\x16\x88", 2, &rate, &ch), VG_EPROTO); /* index 13 */
  assert_int_equal(vg_flv_aac_config((const uint8_t *)"\x11\x90", 2, &rate, &ch), 0); /* 48 kHz stereo */
  assert_int_equal(rate, 48000);
  assert_int_equal(ch, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_real_h264_aac_tags),
      cmocka_unit_test(test_ingest_real_file),
      cmocka_unit_test(test_audio_waits_for_announced_video),
      cmocka_unit_test(test_enhanced_rtmp_h265),
      cmocka_unit_test(test_nal_length_conversion_and_malformed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
