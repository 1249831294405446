/* Unit tests for camsim's clip encoder: frame counts, keyframe spacing,
 * parameter sets, audio tracks, and that the bytes really decode. */
/* cmocka needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libavcodec/avcodec.h>
#include <libavutil/log.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "media/h264.h"
#include "media/h265.h"
#include "media/nal.h"
#include "sim/clip.h"

/* libx265 leaks a few small allocations per encoder (FrameFilter::init,
 * x265 3.5); LeakSanitizer reads this hook, under its own fixed name, so
 * that their report does not hide ours. Unused without sanitizers. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libx265.so\n"; }

static vg_clip_t *encode(vg_codec_t codec, int w, int h, int fps, int gop, double dur, vg_codec_t audio) {
  vg_clip_params_t p;
  vg_clip_params_defaults(&p);
  p.codec = codec;
  p.width = w;
  p.height = h;
  p.fps = fps;
  p.gop = gop;
  p.duration_s = dur;
  p.bitrate_kbps = 300;
  p.audio = audio;
  vg_clip_t *clip = NULL;
  assert_int_equal(vg_clip_encode(&p, &clip), 0);
  assert_non_null(clip);
  return clip;
}

/* Counts the parameter set NAL units (by type) in a length-prefixed blob. */
static void count_param_sets(vg_codec_t codec, const uint8_t *d, size_t len, int *vps, int *sps, int *pps,
                             const uint8_t **sps_nal, size_t *sps_len) {
  size_t pos = 0;
  const uint8_t *nal;
  size_t nal_len;
  *vps = *sps = *pps = 0;
  while (vg_nal_lp_next(d, len, &pos, &nal, &nal_len) == 1) {
    int t = vg_nal_type(codec, nal, nal_len);
    if (codec == VG_CODEC_H264) {
      if (t == VG_H264_NAL_SPS) (*sps)++, *sps_nal = nal, *sps_len = nal_len;
      if (t == VG_H264_NAL_PPS) (*pps)++;
    } else {
      if (t == VG_H265_NAL_VPS) (*vps)++;
      if (t == VG_H265_NAL_SPS) (*sps)++, *sps_nal = nal, *sps_len = nal_len;
      if (t == VG_H265_NAL_PPS) (*pps)++;
    }
  }
}

/* Decodes every video frame of the clip with libavcodec; returns how many
 * pictures came out, and checks their size and that they differ. */
static int decode_all(const vg_clip_t *clip) {
  const AVCodec *dec =
      avcodec_find_decoder(clip->tracks[0].codec == VG_CODEC_H264 ? AV_CODEC_ID_H264 : AV_CODEC_ID_HEVC);
  assert_non_null(dec);
  AVCodecContext *c = avcodec_alloc_context3(dec);
  c->err_recognition = AV_EF_EXPLODE;
  assert_int_equal(avcodec_open2(c, dec, NULL), 0);
  AVPacket *pkt = av_packet_alloc();
  AVFrame *fr = av_frame_alloc();
  int pictures = 0;
  uint32_t last_sum = 0;
  int changes = 0;
  for (size_t i = 0; i <= clip->frame_count; i++) {
    if (i < clip->frame_count) {
      const vg_frame_t *f = &clip->frames[i].frame;
      if (f->track != 0) continue;
      vg_buf_t *annexb = NULL;
      assert_int_equal(vg_nal_lp_to_annexb(f->data, f->len, &annexb), 0);
      assert_int_equal(av_new_packet(pkt, (int)annexb->len), 0);
      memcpy(pkt->data, annexb->data, annexb->len);
      vg_buf_unref(&annexb);
      assert_int_equal(avcodec_send_packet(c, pkt), 0);
      av_packet_unref(pkt);
    } else {
      avcodec_send_packet(c, NULL);
    }
    while (avcodec_receive_frame(c, fr) == 0) {
      assert_int_equal(fr->width, clip->tracks[0].width);
      assert_int_equal(fr->height, clip->tracks[0].height);
      uint32_t sum = 0;
      for (int y = 0; y < fr->height; y++)
        for (int x = 0; x < fr->width; x++)
          sum += fr->data[0][y * fr->linesize[0] + x];
      if (pictures > 0 && sum != last_sum) changes++;
      last_sum = sum;
      pictures++;
      av_frame_unref(fr);
    }
  }
  /* The pattern moves: consecutive pictures are not all the same. */
  assert_true(changes >= pictures / 2);
  av_frame_free(&fr);
  av_packet_free(&pkt);
  avcodec_free_context(&c);
  return pictures;
}

static void check_video(const vg_clip_t *clip, vg_codec_t codec, int w, int h, int fps, int gop, int frames) {
  assert_int_equal(clip->tracks[0].codec, codec);
  assert_int_equal(clip->tracks[0].clock_rate, 90000);
  assert_int_equal(clip->tracks[0].width, w);
  assert_int_equal(clip->tracks[0].height, h);
  assert_int_equal(clip->video_frames, frames);
  assert_int_equal(clip->period_us, (int64_t)frames * 1000000 / fps);
  assert_int_equal(clip->period_pts[0], (int64_t)frames * 90000 / fps);

  int vps, sps, pps;
  const uint8_t *sps_nal = NULL;
  size_t sps_len = 0;
  assert_non_null(clip->tracks[0].extradata);
  count_param_sets(codec, clip->tracks[0].extradata->data, clip->tracks[0].extradata->len, &vps, &sps, &pps,
                   &sps_nal, &sps_len);
  assert_int_equal(sps, 1);
  assert_int_equal(pps, 1);
  assert_int_equal(vps, codec == VG_CODEC_H265 ? 1 : 0);
  if (codec == VG_CODEC_H264) {
    vg_h264_sps_t s;
    assert_int_equal(vg_h264_parse_sps(sps_nal, sps_len, &s), 0);
    assert_int_equal(s.width, w);
    assert_int_equal(s.height, h);
  } else {
    vg_h265_sps_t s;
    assert_int_equal(vg_h265_parse_sps(sps_nal, sps_len, &s), 0);
    assert_int_equal(s.width, w);
    assert_int_equal(s.height, h);
  }

  int index = 0;
  int64_t last_time = -1;
  for (size_t i = 0; i < clip->frame_count; i++) {
    const vg_clip_frame_t *cf = &clip->frames[i];
    assert_true(cf->time_us >= last_time);
    last_time = cf->time_us;
    if (cf->frame.track != 0) continue;
    assert_int_equal(cf->frame.pts, (int64_t)index * 90000 / fps);
    assert_int_equal(cf->time_us, (int64_t)index * 1000000 / fps);
    assert_ptr_equal(cf->frame.data, cf->frame.buf->data);
    assert_int_equal(cf->frame.len, cf->frame.buf->len);
    int key = (cf->frame.flags & VG_FRAME_KEY) != 0;
    /* Keyframes exactly every GOP, and only there. */
    assert_int_equal(key, index % gop == 0);
    assert_int_equal(vg_nal_au_is_keyframe(codec, cf->frame.data, cf->frame.len), key);
    if (key) {
      /* Parameter sets also travel in-band, for clients that ignore the SDP. */
      count_param_sets(codec, cf->frame.data, cf->frame.len, &vps, &sps, &pps, &sps_nal, &sps_len);
      assert_int_equal(sps, 1);
      assert_int_equal(pps, 1);
    }
    index++;
  }
  assert_int_equal(index, frames);
  assert_int_equal(decode_all(clip), frames);
}

static void test_h264_pattern(void **state) {
  /* 1 s at 25 fps is 25 frames, rounded up to whole GOPs of 10: 30. */
  vg_clip_t *clip = encode(VG_CODEC_H264, 320, 240, 25, 10, 1.0, VG_CODEC_NONE);
  assert_int_equal(clip->track_count, 1);
  check_video(clip, VG_CODEC_H264, 320, 240, 25, 10, 30);
  /* Roughly at the bitrate asked for (300 kb/s over 1.2 s = 45 kB), with
   * room for the first keyframe's cost. */
  assert_true(clip->bytes > 5000 && clip->bytes < 150000);
  vg_clip_free(&clip);
  assert_null(clip);
}

static void test_h265_pattern(void **state) {
  vg_clip_t *clip = encode(VG_CODEC_H265, 352, 288, 30, 15, 1.0, VG_CODEC_NONE);
  check_video(clip, VG_CODEC_H265, 352, 288, 30, 15, 30);
  vg_clip_free(&clip);
}

static void test_aac_audio(void **state) {
  vg_clip_t *clip = encode(VG_CODEC_H264, 160, 120, 25, 25, 2.0, VG_CODEC_AAC);
  assert_int_equal(clip->track_count, 2);
  const vg_track_t *a = &clip->tracks[1];
  assert_int_equal(a->codec, VG_CODEC_AAC);
  assert_int_equal(a->clock_rate, 16000);
  assert_int_equal(a->channels, 1);
  /* AudioSpecificConfig: AAC-LC (2), 16 kHz (index 8), mono. */
  assert_non_null(a->extradata);
  assert_true(a->extradata->len >= 2);
  assert_int_equal(a->extradata->data[0], 0x14);
  assert_int_equal(a->extradata->data[1], 0x08);
  assert_int_equal(clip->period_pts[1], 32000);
  int n = 0;
  int64_t last = -1;
  for (size_t i = 0; i < clip->frame_count; i++) {
    const vg_frame_t *f = &clip->frames[i].frame;
    if (f->track != 1) continue;
    assert_int_equal(f->pts, (int64_t)n * 1024);
    assert_true(f->pts > last);
    assert_true(f->len > 0 && f->len < 2048);
    last = f->pts;
    n++;
  }
  /* Whole AAC frames that fit in the 2 s loop: 31 * 1024 <= 32000. */
  assert_int_equal(n, 31);
  vg_clip_free(&clip);
}

static void test_pcmu_audio(void **state) {
  vg_clip_t *clip = encode(VG_CODEC_H264, 160, 120, 25, 25, 1.0, VG_CODEC_PCMU);
  assert_int_equal(clip->tracks[1].codec, VG_CODEC_PCMU);
  assert_int_equal(clip->tracks[1].clock_rate, 8000);
  assert_null(clip->tracks[1].extradata);
  int n = 0;
  for (size_t i = 0; i < clip->frame_count; i++) {
    const vg_frame_t *f = &clip->frames[i].frame;
    if (f->track != 1) continue;
    assert_int_equal(f->len, 160); /* 20 ms of 8 kHz G.711 */
    assert_int_equal(f->pts, (int64_t)n * 160);
    assert_int_equal(clip->frames[i].time_us, (int64_t)n * 20000);
    n++;
  }
  assert_int_equal(n, 50);
  vg_clip_free(&clip);
}

static void test_file_source(void **state) {
  const char *path = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
  if (access(path, R_OK) != 0) skip();
  vg_clip_params_t p;
  vg_clip_params_defaults(&p);
  p.width = 384;
  p.height = 288;
  p.gop = 25;
  p.duration_s = 2.0;
  p.source = path;
  vg_clip_t *clip = NULL;
  assert_int_equal(vg_clip_encode(&p, &clip), 0);
  check_video(clip, VG_CODEC_H264, 384, 288, 25, 25, 50);
  vg_clip_free(&clip);
}

static void test_bad_params(void **state) {
  vg_clip_params_t p;
  vg_clip_t *clip = (vg_clip_t *)&p;
  vg_clip_params_defaults(&p);
  p.width = 321;
  assert_int_equal(vg_clip_encode(&p, &clip), VG_EINVAL);
  assert_null(clip);
  vg_clip_params_defaults(&p);
  p.gop = 0;
  assert_int_equal(vg_clip_encode(&p, &clip), VG_EINVAL);
  vg_clip_params_defaults(&p);
  p.codec = VG_CODEC_AAC;
  assert_int_equal(vg_clip_encode(&p, &clip), VG_EINVAL);
  vg_clip_params_defaults(&p);
  p.source = "/nonexistent/clip.mp4";
  p.width = 64;
  p.height = 64;
  assert_int_equal(vg_clip_encode(&p, &clip), VG_ENOENT);
  assert_null(clip);
}

static void assert_same_clip(const vg_clip_t *a, const vg_clip_t *b) {
  assert_int_equal(a->track_count, b->track_count);
  assert_int_equal(a->frame_count, b->frame_count);
  assert_int_equal(a->video_frames, b->video_frames);
  assert_int_equal(a->period_us, b->period_us);
  assert_int_equal(a->bytes, b->bytes);
  for (int i = 0; i < a->track_count; i++) {
    assert_int_equal(a->tracks[i].codec, b->tracks[i].codec);
    assert_int_equal(a->tracks[i].clock_rate, b->tracks[i].clock_rate);
    assert_int_equal(a->tracks[i].width, b->tracks[i].width);
    assert_int_equal(a->period_pts[i], b->period_pts[i]);
    assert_int_equal(!!a->tracks[i].extradata, !!b->tracks[i].extradata);
    if (a->tracks[i].extradata)
      assert_memory_equal(a->tracks[i].extradata->data, b->tracks[i].extradata->data,
                          a->tracks[i].extradata->len);
  }
  for (size_t i = 0; i < a->frame_count; i++) {
    const vg_clip_frame_t *x = &a->frames[i], *y = &b->frames[i];
    assert_int_equal(x->frame.track, y->frame.track);
    assert_int_equal(x->frame.flags, y->frame.flags);
    assert_int_equal(x->frame.pts, y->frame.pts);
    assert_int_equal(x->time_us, y->time_us);
    assert_int_equal(x->frame.len, y->frame.len);
    assert_memory_equal(x->frame.data, y->frame.data, x->frame.len);
  }
}

static void test_cache_round_trip(void **state) {
  char dir[] = "/tmp/vigil-test-clip-XXXXXX";
  assert_non_null(mkdtemp(dir));
  vg_clip_params_t p;
  vg_clip_params_defaults(&p);
  p.width = 96;
  p.height = 64;
  p.gop = 5;
  p.duration_s = 0.4;
  p.bitrate_kbps = 100;
  p.audio = VG_CODEC_PCMU;
  p.cache_dir = dir;
  vg_clip_t *first = NULL, *second = NULL, *other = NULL;
  assert_int_equal(vg_clip_encode(&p, &first), 0);
  /* The second start reads the file: the same clip, byte for byte. */
  assert_int_equal(vg_clip_encode(&p, &second), 0);
  assert_same_clip(first, second);
  /* Other parameters are another file. */
  p.gop = 10;
  assert_int_equal(vg_clip_encode(&p, &other), 0);
  int keys = 0;
  for (size_t i = 0; i < other->frame_count; i++)
    keys += other->frames[i].frame.flags & VG_FRAME_KEY && !other->frames[i].frame.track;
  assert_int_equal(keys, 1);

  char cmd[256], path[512];
  snprintf(cmd, sizeof(cmd), "ls %s/vigil-camsim-*.clip | head -1", dir);
  FILE *ls = popen(cmd, "r");
  assert_non_null(fgets(path, sizeof(path), ls));
  pclose(ls);
  path[strcspn(path, "\n")] = 0;
  vg_clip_t *c = NULL;
  assert_int_equal(vg_clip_load(path, "some other key", &c), VG_ENOENT);
  assert_null(c);

  /* Truncated or damaged files are refused, never trusted. */
  FILE *f = fopen(path, "rb");
  static uint8_t data[1 << 20];
  size_t len = fread(data, 1, sizeof(data), f);
  fclose(f);
  assert_true(len > 100 && len < sizeof(data));
  assert_int_equal(vg_clip_parse(data, len, NULL, &c), 0);
  vg_clip_free(&c);
  for (size_t cut = 0; cut < len; cut += 7) {
    assert_int_equal(vg_clip_parse(data, cut, NULL, &c), VG_EPROTO);
    assert_null(c);
  }
  for (size_t at = 8; at < 200; at++) {
    data[at] ^= 0xff;
    if (vg_clip_parse(data, len, NULL, &c) == 0) vg_clip_free(&c);
    data[at] ^= 0xff;
  }
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
  vg_clip_free(&first);
  vg_clip_free(&second);
  vg_clip_free(&other);
}

int main(void) {
  av_log_set_level(AV_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_h264_pattern),     cmocka_unit_test(test_h265_pattern),
      cmocka_unit_test(test_aac_audio),        cmocka_unit_test(test_pcmu_audio),
      cmocka_unit_test(test_file_source),      cmocka_unit_test(test_bad_params),
      cmocka_unit_test(test_cache_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
