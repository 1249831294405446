/* Unit tests for camsim's scripted scenes: parsing and its errors, the
 * ground truth of line crossings and zone visits, rendering (the sprite is
 * where its path says, nothing is drawn off stage), and the encoded clip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libavutil/log.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "sim/scene.h"

#define IMAGE VG_SCENE_DATA_DIR "/messi5.jpg"

/* A 10 s scene: one sprite walks left to right along y = 0.8 from t = 1 to
 * t = 9 (x -0.1 -> 1.1), across a vertical line at x = 0.5 and through a
 * zone x 0.6..0.78. */
static const char *scene_text(void) {
  return "{\"width\": 160, \"height\": 90, \"fps\": 10, \"gop\": 10, \"duration_s\": 10,"
         " \"background\": {\"color\": [0, 0, 0]},"
         " \"sprites\": [{\"id\": \"p\", \"image\": \"" IMAGE
         "\", \"crop\": [200, 60, 120, 200], \"mask\": \"rect\","
         "   \"height\": 40, \"path\": [{\"t\": 1, \"x\": -0.1, \"y\": 0.8}, {\"t\": 9, \"x\": 1.1, \"y\": "
         "0.8}]}],"
         " \"tripwires\": [{\"id\": \"l\", \"a\": [0.5, 0.0], \"b\": [0.5, 1.0]}],"
         " \"zones\": [{\"id\": \"z\", \"polygon\": [[0.6, 0.5], [0.78, 0.5], [0.78, 1.0], [0.6, 1.0]]}]}";
}

static int have_image(void) {
  if (access(IMAGE, R_OK) == 0) return 1;
  print_message("%s missing (opencv-doc): skipping\n", IMAGE);
  return 0;
}

static void test_ground_truth(void **state) {
  (void)state;
  if (!have_image()) return;
  vg_scene_t *s;
  char err[256];
  assert_int_equal(vg_scene_parse(scene_text(), NULL, &s, err, sizeof(err)), 0);
  assert_int_equal(vg_scene_frame_count(s), 100);
  json_t *gt = vg_scene_ground_truth(s);
  json_t *ev = json_object_get(gt, "events");
  assert_int_equal(json_array_size(ev), 3);
  /* x(t) = -0.1 + 0.15 (t - 1): the line at t = 5, the zone from 5.67 to 6.87. */
  json_t *cross = json_array_get(ev, 0), *enter = json_array_get(ev, 1), *exit = json_array_get(ev, 2);
  assert_string_equal(json_string_value(json_object_get(cross, "kind")), "line_cross");
  assert_string_equal(json_string_value(json_object_get(cross, "direction")), "b_to_a");
  assert_true(fabs(json_real_value(json_object_get(cross, "t")) - 5.0) < 0.01);
  assert_string_equal(json_string_value(json_object_get(enter, "kind")), "enter");
  /* Frame times: the first frame inside. */
  assert_true(fabs(json_real_value(json_object_get(enter, "t")) - 5.7) < 0.01);
  assert_string_equal(json_string_value(json_object_get(exit, "kind")), "exit");
  assert_true(fabs(json_real_value(json_object_get(exit, "t")) - 6.9) < 0.01);
  assert_true(fabs(json_real_value(json_object_get(gt, "period_s")) - 10.0) < 1e-9);
  json_decref(gt);
  vg_scene_free(&s);
  assert_null(s);
}

static void test_render_and_encode(void **state) {
  (void)state;
  if (!have_image()) return;
  vg_scene_t *s;
  char err[256];
  assert_int_equal(vg_scene_parse(scene_text(), NULL, &s, err, sizeof(err)), 0);
  uint8_t *buf = malloc(160 * 90 * 3 / 2);
  uint8_t *const planes[3] = {buf, buf + 160 * 90, buf + 160 * 90 * 5 / 4};
  const int strides[3] = {160, 80, 80};
  /* Off stage: only the black background (luma 16). */
  vg_scene_render(s, 0, planes, strides);
  for (int i = 0; i < 160 * 90; i++)
    assert_int_equal(buf[i], 16);
  /* t = 5: the sprite's foot at (80, 72), 40 px tall: its pixels there. */
  vg_scene_render(s, 50, planes, strides);
  int lit = 0;
  for (int y = 34; y < 72; y++)
    for (int x = 72; x < 88; x++)
      lit += buf[y * 160 + x] > 16;
  assert_true(lit > 16 * 38 / 2);
  assert_int_equal(buf[20 * 160 + 10], 16);
  assert_int_equal(buf[80 * 160 + 150], 16);
  free(buf);
  vg_clip_params_t p;
  vg_clip_params_defaults(&p);
  p.bitrate_kbps = 200;
  vg_clip_t *clip;
  assert_int_equal(vg_scene_encode(s, &p, &clip), 0);
  assert_int_equal(clip->video_frames, 100);
  assert_int_equal(clip->tracks[0].width, 160);
  assert_int_equal(clip->period_us, 10000000);
  vg_clip_free(&clip);
  vg_scene_free(&s);
}

static void test_errors(void **state) {
  (void)state;
  static const char *const bad[] = {
      "nope",
      "[]",
      "{\"width\": 161}",
      "{\"fps\": 0}",
      "{\"background\": {\"color\": [0, 0, 300]}}",
      "{\"sprites\": [{\"image\": \"x.png\"}]}",
      "{\"sprites\": [{\"id\": \"a\", \"image\": \"x.png\", \"path\": [{\"t\": 1, \"x\": 0, \"y\": 0}]}]}",
      "{\"sprites\": [{\"id\": \"a\", \"image\": \"x.png\", \"path\": [{\"t\": 2, \"x\": 0, \"y\": 0},"
      " {\"t\": 1, \"x\": 0, \"y\": 0}]}]}",
      "{\"tripwires\": [{\"id\": \"l\", \"a\": [0.5, 0.0]}]}",
      "{\"tripwires\": [{\"id\": \"l\", \"a\": [0.5, 0.0], \"b\": [9, 1]}]}",
      "{\"zones\": [{\"id\": \"z\", \"polygon\": [[0, 0], [1, 1]]}]}",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    vg_scene_t *s = NULL;
    char err[256] = "";
    assert_int_equal(vg_scene_parse(bad[i], NULL, &s, err, sizeof(err)), VG_EINVAL);
    assert_null(s);
    assert_true(err[0] != 0);
  }
  if (!have_image()) return;
  vg_scene_t *s = NULL;
  char err[256] = "";
  /* A crop outside the picture, and an image that does not exist. */
  char text[512];
  snprintf(text, sizeof(text),
           "{\"sprites\": [{\"id\": \"a\", \"image\": \"%s\", \"crop\": [500, 0, 100, 10],"
           " \"path\": [{\"t\": 0, \"x\": 0, \"y\": 0}, {\"t\": 1, \"x\": 1, \"y\": 1}]}]}",
           IMAGE);
  assert_int_equal(vg_scene_parse(text, NULL, &s, err, sizeof(err)), VG_EINVAL);
  assert_non_null(strstr(err, "crop"));
  assert_int_equal(
      vg_scene_parse("{\"background\": {\"image\": \"/nonexistent/x.png\"}}", NULL, &s, err, sizeof(err)),
      VG_ENOENT);
}

/* Plain coloured sprites need no picture: two of them, the second in front. */
static void test_solid_sprites_and_occlusion(void **state) {
  (void)state;
  const char *text =
      "{\"width\": 64, \"height\": 48, \"fps\": 5, \"duration_s\": 2,"
      " \"background\": {\"color\": [0, 0, 0]},"
      " \"sprites\": [{\"id\": \"a\", \"color\": [255, 255, 255], \"mask\": \"rect\", \"height\": 20,"
      "   \"aspect\": 0.5, \"path\": [{\"t\": 0, \"x\": 0.5, \"y\": 0.75}, {\"t\": 2, \"x\": 0.5, \"y\": "
      "0.75}]},"
      "  {\"id\": \"b\", \"color\": [0, 0, 0], \"mask\": \"rect\", \"height\": 10, \"aspect\": 0.4,"
      "   \"path\": [{\"t\": 0, \"x\": 0.5, \"y\": 0.75}, {\"t\": 2, \"x\": 0.5, \"y\": 0.75}]}]}";
  vg_scene_t *s;
  char err[256];
  assert_int_equal(vg_scene_parse(text, NULL, &s, err, sizeof(err)), 0);
  uint8_t buf[64 * 48 * 3 / 2];
  uint8_t *const planes[3] = {buf, buf + 64 * 48, buf + 64 * 48 * 5 / 4};
  const int strides[3] = {64, 32, 32};
  vg_scene_render(s, 3, planes, strides);
  /* a: 10x20 white ending at y = 36; b: 4x10 black in front, at its foot. */
  assert_int_equal(buf[20 * 64 + 30], 235);
  assert_int_equal(buf[33 * 64 + 32], 16);
  assert_int_equal(buf[20 * 64 + 10], 16);
  json_t *gt = vg_scene_ground_truth(s);
  assert_int_equal(json_array_size(json_object_get(gt, "events")), 0);
  json_decref(gt);
  vg_scene_free(&s);
}

int main(void) {
  av_log_set_level(AV_LOG_QUIET);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ground_truth),
      cmocka_unit_test(test_render_and_encode),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_solid_sprites_and_occlusion),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
