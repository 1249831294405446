/* Unit tests for motion detection: frames rendered here (a textured, noisy
 * background with moving rectangles), checked for boxes that cover the
 * moving objects, regions, masks, the minimum area, hysteresis, and global
 * lighting changes that must not count as motion. */
/* cmocka needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "vision/motion.h"

#define W 640
#define H 360
#define STRIDE 704 /* wider than the picture, as decoders give */

typedef struct {
  uint8_t *pix;
  uint32_t rng;
} frame_t;

static uint32_t next_random(uint32_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return *s;
}

static int clamp8(int v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

/* A checkerboard of 32-pixel tiles in two grey levels, scaled by gain and
 * shifted by offset (lighting), plus uniform noise of +-noise. */
static void render_background(frame_t *f, float gain, int offset, int noise) {
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      int base = ((x / 32 + y / 32) % 2) ? 120 : 80;
      int n = noise ? (int)(next_random(&f->rng) % (2 * noise + 1)) - noise : 0;
      f->pix[y * STRIDE + x] = (uint8_t)clamp8((int)(base * gain) + offset + n);
    }
}

static void render_rect(frame_t *f, int x1, int y1, int x2, int y2, int value) {
  for (int y = y1; y < y2; y++)
    for (int x = x1; x < x2; x++)
      if (x >= 0 && x < W && y >= 0 && y < H) f->pix[y * STRIDE + x] = (uint8_t)value;
}

static frame_t *frame_new(void) {
  frame_t *f = calloc(1, sizeof(*f));
  f->pix = calloc((size_t)STRIDE * H, 1);
  f->rng = 12345;
  return f;
}

static void frame_free(frame_t *f) {
  free(f->pix);
  free(f);
}

static vg_motion_t *make(const vg_motion_config_t *cfg) {
  vg_motion_config_t d;
  vg_motion_config_default(&d);
  vg_motion_t *m = NULL;
  assert_int_equal(vg_motion_create(cfg ? cfg : &d, &m), 0);
  return m;
}

static bool covers(const vg_rect_t *outer, int x1, int y1, int x2, int y2, int slack) {
  return outer->x1 <= x1 + slack && outer->y1 <= y1 + slack && outer->x2 >= x2 - slack &&
         outer->y2 >= y2 - slack;
}

static vg_motion_result_t warm_up(vg_motion_t *m, frame_t *f, int frames) {
  vg_motion_result_t r;
  for (int i = 0; i < frames; i++) {
    render_background(f, 1, 0, 6);
    assert_int_equal(vg_motion_process(m, f->pix, W, H, STRIDE, &r), 0);
    if (i == 0) assert_true(r.warming_up);
  }
  return r;
}

static void test_static_noisy_scene_has_no_motion(void **state) {
  (void)state;
  frame_t *f = frame_new();
  vg_motion_t *m = make(NULL);
  vg_motion_result_t r = warm_up(m, f, 30);
  assert_int_equal(r.n_boxes, 0);
  assert_int_equal(r.n_regions, 0);
  assert_false(r.active);
  assert_true(r.fraction < 0.0005f);
  vg_motion_destroy(&m);
  assert_null(m);
  frame_free(f);
}

static void test_moving_rectangle_gives_box_and_region(void **state) {
  (void)state;
  frame_t *f = frame_new();
  vg_motion_t *m = make(NULL);
  warm_up(m, f, 10);
  vg_motion_result_t r;
  int activated_at = -1;
  for (int i = 0; i < 20; i++) {
    int x = 100 + 12 * i;
    render_background(f, 1, 0, 6);
    render_rect(f, x, 150, x + 40, 250, 220);
    assert_int_equal(vg_motion_process(m, f->pix, W, H, STRIDE, &r), 0);
    assert_int_equal(r.n_boxes, 1);
    /* The box holds the object, within a working-grid cell or two. */
    assert_true(covers(&r.boxes[0], x, 150, x + 40, 250, 6));
    assert_true(r.boxes[0].x2 - r.boxes[0].x1 < 40 + 30);
    assert_int_equal(r.n_regions, 1);
    assert_true(covers(&r.regions[0], x, 150, x + 40, 250, 0));
    assert_false(r.lighting_change);
    if (r.active && activated_at < 0) activated_at = i;
  }
  assert_int_equal(activated_at, 1); /* on_frames = 2 */
  /* Quiet again: active drops after off_frames (10) frames. */
  int deactivated_at = -1;
  for (int i = 0; i < 15; i++) {
    render_background(f, 1, 0, 6);
    vg_motion_process(m, f->pix, W, H, STRIDE, &r);
    assert_int_equal(r.n_boxes, 0);
    if (!r.active && deactivated_at < 0) deactivated_at = i;
  }
  assert_int_equal(deactivated_at, 9);
  vg_motion_destroy(&m);
  frame_free(f);
}

static void test_far_objects_give_two_regions_near_objects_one(void **state) {
  (void)state;
  frame_t *f = frame_new();
  vg_motion_t *m = make(NULL);
  warm_up(m, f, 5);
  vg_motion_result_t r;
  render_background(f, 1, 0, 6);
  render_rect(f, 50, 50, 100, 150, 230);
  render_rect(f, 450, 200, 520, 300, 20);
  vg_motion_process(m, f->pix, W, H, STRIDE, &r);
  assert_int_equal(r.n_boxes, 2);
  assert_int_equal(r.n_regions, 2);
  vg_motion_reset(m);
  warm_up(m, f, 5);
  render_background(f, 1, 0, 6);
  render_rect(f, 200, 100, 240, 200, 230);
  render_rect(f, 250, 100, 290, 200, 230); /* 10 px apart: one person, two blobs */
  vg_motion_process(m, f->pix, W, H, STRIDE, &r);
  assert_int_equal(r.n_boxes, 2);
  assert_int_equal(r.n_regions, 1);
  assert_true(covers(&r.regions[0], 200, 100, 290, 200, 0));
  vg_motion_destroy(&m);
  frame_free(f);
}

static void test_small_blobs_and_masks_are_ignored(void **state) {
  (void)state;
  frame_t *f = frame_new();
  vg_motion_config_t cfg;
  vg_motion_config_default(&cfg);
  cfg.n_masks = 1;
  /* The right third of the picture (a road, a tree in the wind). */
  cfg.masks[0] = (vg_polygon_t){4, {{0.66f, 0}, {1, 0}, {1, 1}, {0.66f, 1}}};
  vg_motion_t *m = make(&cfg);
  warm_up(m, f, 5);
  vg_motion_result_t r;
  for (int i = 0; i < 5; i++) {
    render_background(f, 1, 0, 6);
    render_rect(f, 500 + 10 * i, 100, 560 + 10 * i, 220, 230); /* masked */
    render_rect(f, 100 + 3 * i, 100, 104 + 3 * i, 104, 250);   /* 4x4 px: below min_area */
    vg_motion_process(m, f->pix, W, H, STRIDE, &r);
    assert_int_equal(r.n_boxes, 0);
  }
  int w, h;
  const uint8_t *mask = vg_motion_mask(m, &w, &h);
  assert_non_null(mask);
  assert_int_equal(w, 256);
  assert_int_equal(h, 144);
  vg_motion_destroy(&m);
  frame_free(f);
}

static void test_lighting_changes_are_not_motion(void **state) {
  (void)state;
  frame_t *f = frame_new();
  vg_motion_t *m = make(NULL);
  warm_up(m, f, 10);
  vg_motion_result_t r;
  /* An exposure creeping up by less than the threshold, while someone
   * walks: the shift is subtracted, only the person moves. */
  render_background(f, 1, 14, 6);
  render_rect(f, 100, 100, 140, 200, 230);
  vg_motion_process(m, f->pix, W, H, STRIDE, &r);
  assert_int_equal(r.n_boxes, 1);
  assert_true(covers(&r.boxes[0], 100, 100, 140, 200, 6));
  /* A uniform step: the background starts over, no motion at all. */
  render_background(f, 1, 40, 6);
  vg_motion_process(m, f->pix, W, H, STRIDE, &r);
  assert_int_equal(r.n_boxes, 0);
  assert_true(r.lighting_change);
  /* The lights go half out (a gain, not a shift): the background resets. */
  render_background(f, 0.5f, 0, 6);
  vg_motion_process(m, f->pix, W, H, STRIDE, &r);
  assert_true(r.lighting_change);
  assert_int_equal(r.n_boxes, 0);
  /* And motion is seen again in the new light. */
  for (int i = 0; i < 3; i++) {
    render_background(f, 0.5f, 0, 6);
    render_rect(f, 300 + 10 * i, 100, 340 + 10 * i, 200, 200);
    vg_motion_process(m, f->pix, W, H, STRIDE, &r);
    assert_false(r.lighting_change);
    assert_int_equal(r.n_boxes, 1);
  }
  vg_motion_destroy(&m);
  frame_free(f);
}

/* vigil started while a person stood in the picture, who then left: the
 * background learned from the first frame holds the person, and the empty
 * floor where they stood differs from it without moving. That ghost is
 * absorbed after absorb_frames frames; without absorption it lingers. A
 * person walking about never is. Returns the first frame after the person
 * left without a motion box, or -1 within 60 frames. */
static int ghost_gone_after(int absorb_frames) {
  frame_t *f = frame_new();
  vg_motion_config_t cfg;
  vg_motion_config_default(&cfg);
  cfg.absorb_frames = absorb_frames;
  vg_motion_t *m = make(&cfg);
  vg_motion_result_t r;
  render_background(f, 1, 0, 6);
  render_rect(f, 300, 120, 340, 240, 220);
  assert_int_equal(vg_motion_process(m, f->pix, W, H, STRIDE, &r), 0);
  assert_true(r.warming_up);
  int gone = -1;
  for (int i = 0; i < 60 && gone < 0; i++) {
    render_background(f, 1, 0, 6);
    /* Someone else walks about at the left the whole time. */
    int x = 40 + 6 * i;
    render_rect(f, x, 200, x + 30, 300, 230);
    assert_int_equal(vg_motion_process(m, f->pix, W, H, STRIDE, &r), 0);
    bool ghost = false, walker = false;
    for (int b = 0; b < r.n_boxes; b++) {
      ghost |= covers(&r.boxes[b], 310, 130, 330, 230, 0);
      walker |= covers(&r.boxes[b], x + 5, 205, x + 25, 295, 0);
    }
    assert_true(walker);
    if (!ghost) gone = i;
  }
  vg_motion_destroy(&m);
  frame_free(f);
  return gone;
}

static void test_ghost_of_the_first_frame_is_absorbed(void **state) {
  (void)state;
  int gone = ghost_gone_after(25);
  /* Absorbed after 25 steady frames (the first comparison is frame 0). */
  assert_true(gone >= 24 && gone <= 26);
  assert_int_equal(ghost_gone_after(10) <= 11, true);
  assert_int_equal(ghost_gone_after(0), -1);
}

static void test_size_change_and_invalid_arguments(void **state) {
  (void)state;
  frame_t *f = frame_new();
  vg_motion_t *m = make(NULL);
  vg_motion_result_t r;
  render_background(f, 1, 0, 6);
  assert_int_equal(vg_motion_process(m, f->pix, W, H, STRIDE, &r), 0);
  /* A new size starts over (the camera's stream changed). */
  assert_int_equal(vg_motion_process(m, f->pix, 320, 180, STRIDE, &r), 0);
  assert_true(r.warming_up);
  assert_int_equal(vg_motion_process(m, f->pix, 8, 8, STRIDE, &r), VG_EINVAL);
  assert_int_equal(vg_motion_process(m, f->pix, W, H, W - 1, &r), VG_EINVAL);
  vg_motion_config_t cfg;
  vg_motion_config_default(&cfg);
  cfg.work_width = 10;
  vg_motion_t *bad = NULL;
  assert_int_equal(vg_motion_create(&cfg, &bad), VG_EINVAL);
  vg_motion_destroy(&m);
  frame_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_static_noisy_scene_has_no_motion),
      cmocka_unit_test(test_moving_rectangle_gives_box_and_region),
      cmocka_unit_test(test_far_objects_give_two_regions_near_objects_one),
      cmocka_unit_test(test_small_blobs_and_masks_are_ignored),
      cmocka_unit_test(test_lighting_changes_are_not_motion),
      cmocka_unit_test(test_ghost_of_the_first_frame_is_absorbed),
      cmocka_unit_test(test_size_change_and_invalid_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
