/* Unit tests for the analytics pipeline's pieces: the decode stage on a
 * real H.264 clip (full and keyframe-only) and the configuration (top level
 * and per camera, errors that name the field). The analyser's tests are
 * in test_analytics_analyser.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libavutil/log.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analytics/analytics.h"
#include "analytics/runner.h"
#include "infer/model.h"
#include "base/time.h"
#include "stream/hub.h"
#include "base/error.h"
#include "media/vdec.h"
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
  assert_int_equal(vg_vdec_open(&clip->tracks[0], NULL, &d), 0);
  assert_string_equal(vg_vdec_backend(d), "software");
  assert_string_equal(vg_vdec_fallback(d), "");
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
    assert_int_equal(vg_vdec_picture(d, 160, &rgb.width, &rgb.height, &rgb.rgb, &luma), 0);
    rgb.stride = rgb.width * 3;
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
  vg_vdec_opts_t none = {.hwaccel = VG_HWACCEL_NONE, .fast = true};
  assert_int_equal(vg_vdec_open(&clip->tracks[0], &none, &d), 0);
  int w, h;
  uint8_t *px;
  /* Nothing to scale before the first picture. */
  assert_int_equal(vg_vdec_picture(d, 640, &w, &h, &px, NULL), VG_ENODATA);
  int pictures = 0;
  for (size_t i = 0; i < clip->frame_count; i++) {
    if (!(clip->frames[i].frame.flags & VG_FRAME_KEY)) continue;
    int r = vg_vdec_decode(d, &clip->frames[i].frame);
    assert_int_equal(r, 1);
    vg_image_t rgb;
    const uint8_t *luma;
    assert_int_equal(vg_vdec_picture(d, 640, &rgb.width, &rgb.height, &rgb.rgb, &luma), 0);
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
  assert_int_equal(vg_vdec_open(&aac, &none, &d), VG_EUNSUPPORTED);
  vg_clip_free(&clip);
}

/* Decodes every unit of clip with hwaccel h; returns the pictures that
 * came out and scaled, and leaves the decoder open in *out. */
static int decode_with(vg_clip_t *clip, vg_hwaccel_t h, vg_vdec_t **out) {
  vg_vdec_opts_t opts = {.hwaccel = h, .fast = true};
  assert_int_equal(vg_vdec_open(&clip->tracks[0], &opts, out), 0);
  int pictures = 0;
  for (size_t i = 0; i < clip->frame_count; i++) {
    if (vg_vdec_decode(*out, &clip->frames[i].frame) != 1) continue;
    int w, h2;
    uint8_t *px;
    const uint8_t *luma;
    assert_int_equal(vg_vdec_picture(*out, 160, &w, &h2, &px, &luma), 0);
    assert_int_equal(w, 160);
    free(px);
    pictures++;
  }
  return pictures;
}

/* The hwaccel choices by name, and hardware that cannot be had: this
 * machine (and CI) has no VAAPI render node, no CUDA driver and no V4L2
 * decoder, so every request falls back to software, still decodes every
 * picture, and says why. Where a device exists the backend is the
 * hardware's and the fallback empty: both outcomes are checked honestly. */
static void test_decode_hwaccel_fallback(void **state) {
  (void)state;
  vg_hwaccel_t h;
  assert_int_equal(vg_hwaccel_parse("cuda", &h), 0);
  assert_int_equal(h, VG_HWACCEL_CUDA);
  assert_int_equal(vg_hwaccel_parse("v4l2m2m", &h), 0);
  assert_string_equal(vg_hwaccel_name(h), "v4l2m2m");
  assert_int_equal(vg_hwaccel_parse("nvdec", &h), VG_EINVAL);
  assert_int_equal(vg_hwaccel_parse(NULL, &h), VG_EINVAL);
  av_log_set_level(AV_LOG_QUIET);
  vg_clip_t *clip = pattern_clip(320, 240, 5);
  static const struct {
    vg_hwaccel_t h;
    const char *name;
  } asks[] = {{VG_HWACCEL_VAAPI, "vaapi"},
              {VG_HWACCEL_CUDA, "cuda"},
              {VG_HWACCEL_V4L2M2M, "v4l2m2m"},
              {VG_HWACCEL_AUTO, "vaapi"}};
  for (size_t i = 0; i < sizeof(asks) / sizeof(asks[0]); i++) {
    vg_vdec_t *d;
    int pictures = decode_with(clip, asks[i].h, &d);
    assert_int_equal(pictures, clip->video_frames);
    const char *backend = vg_vdec_backend(d), *why = vg_vdec_fallback(d);
    if (strcmp(backend, "software") == 0) {
      /* The reason names the hardware tried first. */
      assert_non_null(strstr(why, asks[i].name));
      if (asks[i].h == VG_HWACCEL_AUTO) {
        assert_non_null(strstr(why, "cuda"));
        assert_non_null(strstr(why, "v4l2m2m"));
      }
    } else {
      assert_string_equal(why, "");
    }
    vg_vdec_close(&d);
  }
  /* Software when asked: no reason to give. */
  vg_vdec_t *d;
  assert_int_equal(decode_with(clip, VG_HWACCEL_NONE, &d), clip->video_frames);
  assert_string_equal(vg_vdec_backend(d), "software");
  assert_string_equal(vg_vdec_fallback(d), "");
  vg_vdec_close(&d);
  vg_clip_free(&clip);
  av_log_set_level(AV_LOG_ERROR);
}

static int parse(const char *text, vg_analytics_node_config_t *out, vg_cfg_t *c, json_t **root) {
  memset(c, 0, sizeof(*c));
  assert_int_equal(vg_cfg_load_string(c, text, root), 0);
  json_t *top = json_object_get(*root, "analytics");
  return vg_analytics_node_config_parse(c, top, json_object_get(*root, "cameras"), out);
}

/* detect_threads: "auto" (the default) is one worker per online CPU, an
 * explicit count stays as given, anything else names the field. */
static void test_detect_threads(void **state) {
  (void)state;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int want_auto = cpus < 1 ? 1 : cpus > 64 ? 64 : (int)cpus;
  static const struct {
    const char *text;
    int want; /* -1: "auto", 0: refused */
  } cases[] = {
      {"{}", -1},
      {"{\"analytics\": {}}", -1},
      {"{\"analytics\": {\"detect_threads\": \"auto\"}}", -1},
      {"{\"analytics\": {\"detect_threads\": 1}}", 1},
      {"{\"analytics\": {\"detect_threads\": 3}}", 3},
      {"{\"analytics\": {\"detect_threads\": 64}}", 64},
      {"{\"analytics\": {\"detect_threads\": 0}}", 0},
      {"{\"analytics\": {\"detect_threads\": 65}}", 0},
      {"{\"analytics\": {\"detect_threads\": -2}}", 0},
      {"{\"analytics\": {\"detect_threads\": \"AUTO\"}}", 0},
      {"{\"analytics\": {\"detect_threads\": \"4\"}}", 0},
      {"{\"analytics\": {\"detect_threads\": 2.5}}", 0},
      {"{\"analytics\": {\"detect_threads\": true}}", 0},
      {"{\"analytics\": {\"detect_threads\": null}}", 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    vg_analytics_node_config_t cfg;
    vg_cfg_t c;
    json_t *root;
    int err = parse(cases[i].text, &cfg, &c, &root);
    if (cases[i].want == 0) {
      assert_int_equal(err, VG_ECONFIG);
      assert_non_null(strstr(c.err_path, "detect_threads"));
    } else {
      assert_int_equal(err, 0);
      assert_int_equal(cfg.detect_threads, cases[i].want < 0 ? want_auto : cases[i].want);
      vg_analytics_node_config_free(&cfg);
    }
    json_decref(root);
  }
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
  assert_int_equal(cfg.stationary_interval_s, 2);
  assert_int_equal(cfg.precision, VG_PRECISION_F32);
  assert_string_equal(cfg.hwaccel, "auto");
  assert_int_equal(cfg.camera_count, 0);
  vg_analytics_node_config_free(&cfg);
  json_decref(root);

  assert_int_equal(
      parse("{\"analytics\": {\"enabled\": true, \"detect_fps\": 2, \"threads\": 3, \"model\": "
            "\"centernet\", \"trigger_log\": \"/tmp/t.jsonl\", \"precision\": \"int8\", "
            "\"stationary_interval_s\": 5},"
            " \"cameras\": [{\"id\": \"a\", \"url\": \"rtsp://x/a\"},"
            "  {\"id\": \"b\", \"url\": \"rtsp://x/b\", \"analytics\": {\"substream\": \"b_sub\", "
            "\"detect_width\": 320, \"hwaccel\": \"vaapi\", \"stationary_interval_s\": 0, \"zones\": "
            "[{\"id\": \"z\", \"polygon\": "
            "[[0,0],[1,0],[1,1]]}]}}]}",
            &cfg, &c, &root),
      0);
  assert_true(cfg.enabled);
  assert_int_equal(cfg.detect_fps, 2);
  assert_int_equal(cfg.threads, 3);
  assert_string_equal(cfg.model, "centernet");
  assert_string_equal(cfg.trigger_log, "/tmp/t.jsonl");
  assert_int_equal(cfg.precision, VG_PRECISION_INT8);
  assert_int_equal(cfg.camera_count, 1);
  assert_string_equal(cfg.cameras[0].camera, "b");
  assert_true(cfg.cameras[0].enabled);
  assert_string_equal(cfg.cameras[0].substream, "b_sub");
  assert_int_equal(cfg.cameras[0].detect_width, 320);
  assert_string_equal(cfg.cameras[0].hwaccel, "vaapi");
  assert_int_equal(cfg.stationary_interval_s, 5);
  assert_int_equal(cfg.cameras[0].stationary_interval_s, 0);
  assert_non_null(cfg.cameras[0].vision);
  /* Taken out of the camera object, so that the camera parser accepts it. */
  assert_null(json_object_get(json_array_get(json_object_get(root, "cameras"), 1), "analytics"));
  vg_analytics_node_config_free(&cfg);
  json_decref(root);

  assert_int_equal(parse("{\"analytics\": {\"stationary_interval_s\": -1}}", &cfg, &c, &root), VG_ECONFIG);
  assert_string_equal(c.err_path, "analytics.stationary_interval_s");
  json_decref(root);
  assert_int_equal(parse("{\"analytics\": {\"precision\": \"f16\"}}", &cfg, &c, &root), VG_ECONFIG);
  assert_string_equal(c.err_path, "analytics.precision");
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
  assert_int_equal(parse("{\"analytics\": {\"hwaccel\": \"nvdec\"}}", &cfg, &c, &root), VG_ECONFIG);
  assert_string_equal(c.err_path, "analytics.hwaccel");
  json_decref(root);
  assert_int_equal(
      parse("{\"cameras\": [{\"id\": \"a\", \"analytics\": {\"hwaccel\": 1}}]}", &cfg, &c, &root),
      VG_ECONFIG);
  assert_string_equal(c.err_path, "cameras[0].analytics.hwaccel");
  json_decref(root);
}

/* A detector that sees a person in the middle of every picture. */
static atomic_int fake_calls;
static void *fake_instantiate(void *ctx, char *err, size_t errlen) {
  (void)err, (void)errlen;
  return ctx;
}
static int fake_detect(void *inst, const vg_image_t *img, vg_detection_t *dets, int max) {
  (void)inst;
  atomic_fetch_add(&fake_calls, 1);
  if (max < 1) return 0;
  dets[0] = (vg_detection_t){(float)img->width * 0.3f,
                             (float)img->height * 0.2f,
                             (float)img->width * 0.6f,
                             (float)img->height * 0.9f,
                             0.9f,
                             0};
  return 1;
}
static void fake_release(void *inst) { (void)inst; }
static const vg_infer_runner_t fake_runner = {fake_instantiate, fake_detect, fake_release};

static atomic_int metas, confirmed_metas;
static void on_meta(void *opaque, const vg_bus_msg_t *msg) {
  (void)opaque;
  const vg_analytics_meta_t *m = msg->data;
  atomic_fetch_add(&metas, 1);
  if (m->n_objects == 1 && m->objects[0].confirmed && strcmp(m->objects[0].class_name, "person") == 0 &&
      strcmp(m->camera, "pcam") == 0)
    atomic_fetch_add(&confirmed_metas, 1);
}

/* Pushes the clip's frames as a camera would (pause_us apart), as if they
 * had arrived age_us ago. */
static void push_clip(vg_hub_t *hub, const vg_clip_t *clip, int64_t pts_base, int64_t utc_base,
                      int64_t age_us, int pause_us) {
  for (size_t i = 0; i < clip->frame_count; i++) {
    vg_frame_t f;
    vg_frame_ref(&f, &clip->frames[i].frame);
    f.pts += pts_base;
    f.utc_us = utc_base + clip->frames[i].time_us;
    f.recv_us = vg_time_mono_us() - age_us;
    vg_hub_push(hub, &f);
    vg_frame_unref(&f);
    usleep((useconds_t)pause_us);
  }
}

/* The whole pipeline on a real clip: hub -> pool -> decode -> motion ->
 * detector (scripted) -> tracker -> bus; then frames that arrive too late
 * are skipped and counted. */
static void test_pipeline_end_to_end(void **state) {
  (void)state;
  vg_clip_t *clip = pattern_clip(320, 240, 10);
  vg_hub_t *hub = vg_hub_new("pcam");
  assert_int_equal(vg_hub_register(hub), 0);
  assert_int_equal(vg_hub_set_tracks(hub, clip->tracks, 1), 0);
  vg_bus_t *bus;
  assert_int_equal(vg_bus_new(&bus), 0);
  vg_bus_sub_t *sub;
  assert_int_equal(vg_bus_subscribe(bus, VG_ANALYTICS_TOPIC_META, NULL, on_meta, NULL, &sub), 0);

  vg_analytics_node_config_t cfg;
  vg_cfg_t c;
  json_t *root;
  assert_int_equal(parse("{\"analytics\": {\"enabled\": true, \"threads\": 1, \"model\": \"fake\","
                         " \"full_frame_interval_s\": 0, \"max_lag_ms\": 500},"
                         " \"cameras\": [{\"id\": \"pcam\", \"analytics\": {\"hwaccel\": \"cuda\"}}]}",
                         &cfg, &c, &root),
                   0);
  assert_int_equal(vg_analytics_start_with_runner(&cfg, bus, &fake_runner, &fake_calls), 0);
  int64_t utc = vg_time_utc_us();
  push_clip(hub, clip, 0, utc, 0, 100000); /* real time: 10 fps */
  for (int i = 0; i < 300 && atomic_load(&confirmed_metas) < 2; i++)
    usleep(10000);
  assert_true(atomic_load(&confirmed_metas) >= 2);
  vg_analytics_camera_stats_t st;
  assert_int_equal(vg_analytics_camera_stats("pcam", &st), 0);
  assert_true(st.decoded >= (uint64_t)clip->video_frames / 2);
  /* 10 fps analysed at 5: every other frame at most. */
  assert_true(st.analysed >= 3 && st.analysed <= (uint64_t)clip->video_frames / 2 + 1);
  assert_true(st.detected >= 3 && st.detected <= st.analysed);
  assert_true(atomic_load(&fake_calls) >= 3);
  assert_int_equal(st.skipped, 0);
  assert_int_equal(st.tracked, 1);
  json_t *j = vg_analytics_camera_json("pcam");
  assert_non_null(j);
  assert_int_equal(json_array_size(json_object_get(j, "objects")), 1);
  /* CUDA was asked for: without an NVIDIA driver (here, CI) the camera
   * decodes in software, says why, and still analyses every frame above. */
  const char *decoder = json_string_value(json_object_get(j, "decoder"));
  const char *why = json_string_value(json_object_get(j, "decoder_fallback"));
  assert_non_null(decoder);
  assert_non_null(why);
  assert_string_equal(decoder, st.decoder);
  if (strcmp(decoder, "software") == 0)
    assert_non_null(strstr(why, "cuda: "));
  else
    assert_string_equal(decoder, "cuda");
  json_decref(j);
  assert_null(vg_analytics_camera_json("nope"));

  /* The same clip again, but every frame arrived 2 s ago: all but the
   * keyframes are skipped as lag. */
  push_clip(hub, clip, clip->period_pts[0], utc + clip->period_us, 2000000, 10000);
  for (int i = 0; i < 300; i++) {
    vg_analytics_camera_stats("pcam", &st);
    if (st.skipped >= (uint64_t)(clip->video_frames - clip->video_frames / 10)) break;
    usleep(10000);
  }
  assert_int_equal(st.skipped, clip->video_frames - clip->video_frames / 10);

  vg_analytics_stop();
  assert_int_equal(vg_analytics_camera_stats("pcam", &st), VG_ENOTFOUND);
  vg_analytics_node_config_free(&cfg);
  json_decref(root);
  vg_bus_unsubscribe(&sub);
  vg_bus_free(&bus);
  vg_hub_end(hub);
  vg_hub_unregister(hub);
  vg_hub_unref(&hub);
  vg_clip_free(&clip);
}

int main(void) {
  av_log_set_level(AV_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decode_scales_every_frame),
      cmocka_unit_test(test_decode_keyframes_only_and_bad_input),
      cmocka_unit_test(test_decode_hwaccel_fallback),
      cmocka_unit_test(test_config),
      cmocka_unit_test(test_detect_threads),
      cmocka_unit_test(test_pipeline_end_to_end),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
