/* Unit tests for the analytics pipeline's pieces: the decode stage on a
 * real H.264 clip (full and keyframe-only) and the configuration (top level
 * and per camera, errors that name the field). The analyser has its own
 * program (test_analytics_analyser.c): vision's tracker.h and media's
 * track.h both define vg_track_t today. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libavutil/log.h>
#include <stdlib.h>
#include <string.h>

#include "analytics/analytics.h"
#include "analytics/decode.h"
#include "base/error.h"
#include "sim/clip.h"

static vg_clip_t *pattern_clip(int w, int h, int gop) {
  vg_clip_params_t p;
  vg_clip_params_defaults(&p);
  p.width = w;
  p.height = h;
  p.fps = 10;
  p.gop = gop;
  p.duration_s = 2;
  p.bitrate_kbps = 300;
  vg_clip_t *clip = NULL;
  assert_int_equal(vg_clip_encode(&p, &clip), 0);
  return clip;
}

static void test_decode_scales_every_frame(void **state) {
  (void)state;
  vg_clip_t *clip = pattern_clip(320, 240, 5);
  vg_vdec_t *d;
  assert_int_equal(vg_vdec_open(&clip->tracks[0], 160, &d), 0);
  int pictures = 0;
  uint64_t prev_sum = 0;
  int changed = 0;
  for (size_t i = 0; i < clip->frame_count; i++) {
    int r = vg_vdec_decode(d, &clip->frames[i].frame);
    assert_true(r >= 0);
    if (r == 0) continue;
    pictures++;
    vg_image_t rgb;
    const uint8_t *luma;
    assert_int_equal(vg_vdec_picture(d, &rgb, &luma), 0);
    /* Scaled to the detect width, aspect kept. */
    assert_int_equal(rgb.width, 160);
    assert_int_equal(rgb.height, 120);
    assert_int_equal(rgb.stride, 480);
    uint64_t sum = 0;
    for (int k = 0; k < 160 * 120; k++)
      sum += luma[k];
    /* The pattern moves: consecutive pictures differ. */
    if (pictures > 1 && sum != prev_sum) changed++;
    prev_sum = sum;
    vg_image_free(&rgb);
  }
  /* Low delay: one picture per access unit, at once. */
  assert_int_equal(pictures, clip->video_frames);
  assert_true(changed > pictures / 2);
  vg_vdec_close(&d);
  assert_null(d);
  vg_clip_free(&clip);
}

static void test_decode_keyframes_only_and_bad_input(void **state) {
  (void)state;
  vg_clip_t *clip = pattern_clip(320, 180, 5);
  vg_vdec_t *d;
  assert_int_equal(vg_vdec_open(&clip->tracks[0], 640, &d), 0);
  int pictures = 0;
  for (size_t i = 0; i < clip->frame_count; i++) {
    if (!(clip->frames[i].frame.flags & VG_FRAME_KEY)) continue;
    int r = vg_vdec_decode(d, &clip->frames[i].frame);
    assert_int_equal(r, 1);
    vg_image_t rgb;
    const uint8_t *luma;
    assert_int_equal(vg_vdec_picture(d, &rgb, &luma), 0);
    /* Never scaled up. */
    assert_int_equal(rgb.width, 320);
    assert_int_equal(rgb.height, 180);
    vg_image_free(&rgb);
    pictures++;
  }
  assert_int_equal(pictures, clip->video_frames / 5);
  /* A unit whose NAL lengths overrun it is refused, not read past. */
  uint8_t bad[8] = {0, 0, 1, 0, 0x65, 0x88, 0x84, 0x00};
  vg_frame_t f = {.data = bad, .len = sizeof(bad), .flags = 0};
  assert_int_equal(vg_vdec_decode(d, &f), VG_EPROTO);
  vg_vdec_flush(d);
  vg_vdec_close(&d);
  /* Audio is not decoded here. */
  vg_track_t aac = {.codec = VG_CODEC_AAC, .clock_rate = 16000};
  assert_int_equal(vg_vdec_open(&aac, 640, &d), VG_EUNSUPPORTED);
  vg_clip_free(&clip);
}

static int parse(const char *text, vg_analytics_node_config_t *out, vg_cfg_t *c, json_t **root) {
  memset(c, 0, sizeof(*c));
  assert_int_equal(vg_cfg_load_string(c, text, root), 0);
  json_t *top = json_object_get(*root, "analytics");
  return vg_analytics_node_config_parse(c, top, json_object_get(*root, "cameras"), out);
}

static void test_config(void **state) {
  (void)state;
  vg_analytics_node_config_t cfg;
  vg_cfg_t c;
  json_t *root;
  assert_int_equal(parse("{}", &cfg, &c, &root), 0);
  assert_false(cfg.enabled);
  assert_int_equal(cfg.detect_fps, 5);
  assert_int_equal(cfg.detect_width, 640);
  assert_string_equal(cfg.model, "nanodet");
  assert_int_equal(cfg.full_frame_interval_s, 5);
  assert_int_equal(cfg.camera_count, 0);
  vg_analytics_node_config_free(&cfg);
  json_decref(root);

  assert_int_equal(
      parse("{\"analytics\": {\"enabled\": true, \"detect_fps\": 2, \"threads\": 3, \"model\": "
            "\"centernet\", \"trigger_log\": \"/tmp/t.jsonl\"},"
            " \"cameras\": [{\"id\": \"a\", \"url\": \"rtsp://x/a\"},"
            "  {\"id\": \"b\", \"url\": \"rtsp://x/b\", \"analytics\": {\"substream\": \"b_sub\", "
            "\"detect_width\": 320, \"zones\": [{\"id\": \"z\", \"polygon\": [[0,0],[1,0],[1,1]]}]}}]}",
            &cfg, &c, &root),
      0);
  assert_true(cfg.enabled);
  assert_int_equal(cfg.detect_fps, 2);
  assert_int_equal(cfg.threads, 3);
  assert_string_equal(cfg.model, "centernet");
  assert_string_equal(cfg.trigger_log, "/tmp/t.jsonl");
  assert_int_equal(cfg.camera_count, 1);
  assert_string_equal(cfg.cameras[0].camera, "b");
  assert_true(cfg.cameras[0].enabled);
  assert_string_equal(cfg.cameras[0].substream, "b_sub");
  assert_int_equal(cfg.cameras[0].detect_width, 320);
  assert_non_null(cfg.cameras[0].vision);
  /* Taken out of the camera object, so that the camera parser accepts it. */
  assert_null(json_object_get(json_array_get(json_object_get(root, "cameras"), 1), "analytics"));
  vg_analytics_node_config_free(&cfg);
  json_decref(root);

  assert_int_equal(parse("{\"analytics\": {\"detect_fps\": 0}}", &cfg, &c, &root), VG_ECONFIG);
  assert_string_equal(c.err_path, "analytics.detect_fps");
  json_decref(root);
  assert_int_equal(parse("{\"analytics\": {\"detect_fsp\": 5}}", &cfg, &c, &root), VG_ECONFIG);
  json_decref(root);
  assert_int_equal(
      parse("{\"cameras\": [{\"id\": \"a\", \"analytics\": {\"detect_width\": 10}}]}", &cfg, &c, &root),
      VG_ECONFIG);
  assert_string_equal(c.err_path, "cameras[0].analytics.detect_width");
  json_decref(root);
  assert_int_equal(parse("{\"cameras\": [{\"id\": \"a\", \"analytics\": 3}]}", &cfg, &c, &root), VG_ECONFIG);
  json_decref(root);
}

int main(void) {
  av_log_set_level(AV_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decode_scales_every_frame),
      cmocka_unit_test(test_decode_keyframes_only_and_bad_input),
      cmocka_unit_test(test_config),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
