/* Unit tests for tamper detection: a textured scene rendered here, then
 * covered (dark, bright), blurred (defocused), shifted (moved) and dimmed,
 * at 5 frames per second; conditions must be raised after the persistence
 * time, cleared after the clear time, and never raised by a dimmer light
 * or a short cover. */
/* cmocka needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "vision/tamper.h"

#define W 320
#define H 180
#define FRAME_US 200000

static uint8_t scene_tile[64][64];
static uint8_t frame[H * W];
static uint8_t tmp[H * W];
static uint32_t rng = 99;

static uint32_t next_random(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

static int clamp8(int v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

/* Random grey blocks of 12 px (a wall of shelves, say), seen through a view
 * shifted by dx pixels, scaled by gain, with +-3 noise. */
static void render_scene(int dx, float gain) {
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      int sx = x + dx;
      int v = scene_tile[(y / 12) % 64][((sx < 0 ? sx + 64 * 12 : sx) / 12) % 64];
      frame[y * W + x] = (uint8_t)clamp8((int)(v * gain) + (int)(next_random() % 7) - 3);
    }
}

static void render_flat(int value) {
  for (int i = 0; i < W * H; i++)
    frame[i] = (uint8_t)clamp8(value + (int)(next_random() % 7) - 3);
}

/* A separable box blur of radius r: a lens out of focus. */
static void blur(int r) {
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      int s = 0, n = 0;
      for (int k = -r; k <= r; k++)
        if (x + k >= 0 && x + k < W) s += frame[y * W + x + k], n++;
      tmp[y * W + x] = (uint8_t)(s / n);
    }
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      int s = 0, n = 0;
      for (int k = -r; k <= r; k++)
        if (y + k >= 0 && y + k < H) s += tmp[(y + k) * W + x], n++;
      frame[y * W + x] = (uint8_t)(s / n);
    }
}

typedef enum { NORMAL, COVERED_DARK, COVERED_BRIGHT, BLURRED, SHIFTED, DIMMED } view_t;

static void render(view_t v) {
  switch (v) {
  case NORMAL: render_scene(0, 1); break;
  case COVERED_DARK: render_flat(12); break;
  case COVERED_BRIGHT: render_flat(245); break;
  case BLURRED:
    render_scene(0, 1);
    blur(4);
    break;
  case SHIFTED: render_scene(100, 1); break;
  case DIMMED: render_scene(0, 0.5f); break;
  }
}

typedef struct {
  int64_t raised_us[VG_TAMPER_KINDS], cleared_us[VG_TAMPER_KINDS];
  int raised[VG_TAMPER_KINDS], cleared[VG_TAMPER_KINDS];
} log_t;

/* Feeds frames of view v from *ts for seconds; records the events. */
static void run(vg_tamper_t *t, view_t v, double seconds, int64_t *ts, log_t *log) {
  int frames = (int)(seconds * 5 + 0.5);
  for (int i = 0; i < frames; i++, *ts += FRAME_US) {
    render(v);
    vg_tamper_result_t r;
    assert_int_equal(vg_tamper_process(t, frame, W, H, W, *ts, &r), 0);
    for (int e = 0; e < r.n_events; e++) {
      vg_tamper_kind_t k = r.events[e].kind;
      if (r.events[e].raised) {
        log->raised[k]++;
        log->raised_us[k] = r.events[e].ts_us;
      } else {
        log->cleared[k]++;
        log->cleared_us[k] = r.events[e].ts_us;
      }
      assert_int_equal(r.events[e].ts_us, *ts);
    }
  }
}

static vg_tamper_t *make(int64_t *ts, log_t *log) {
  for (int y = 0; y < 64; y++)
    for (int x = 0; x < 64; x++)
      scene_tile[y][x] = (uint8_t)(40 + next_random() % 180);
  vg_tamper_config_t cfg;
  vg_tamper_config_default(&cfg);
  vg_tamper_t *t = NULL;
  assert_int_equal(vg_tamper_create(&cfg, &t), 0);
  memset(log, 0, sizeof(*log));
  *ts = 1000000000;
  run(t, NORMAL, 10, ts, log); /* warm-up (3 s) and a quiet period */
  for (int k = 0; k < VG_TAMPER_KINDS; k++)
    assert_int_equal(log->raised[k], 0);
  return t;
}

static void test_quiet_scene_and_dimmer_light(void **state) {
  (void)state;
  int64_t ts;
  log_t log;
  vg_tamper_t *t = make(&ts, &log);
  run(t, DIMMED, 20, &ts, &log);
  run(t, NORMAL, 10, &ts, &log);
  for (int k = 0; k < VG_TAMPER_KINDS; k++)
    assert_int_equal(log.raised[k], 0);
  vg_tamper_destroy(&t);
  assert_null(t);
}

static void test_covered_raised_after_persistence_and_cleared(void **state) {
  (void)state;
  view_t views[] = {COVERED_DARK, COVERED_BRIGHT};
  for (int i = 0; i < 2; i++) {
    int64_t ts;
    log_t log;
    vg_tamper_t *t = make(&ts, &log);
    int64_t start = ts;
    run(t, views[i], 8, &ts, &log);
    assert_int_equal(log.raised[VG_TAMPER_COVERED], 1);
    assert_int_equal(log.raised_us[VG_TAMPER_COVERED], start + 5000000); /* persist_s */
    assert_int_equal(log.raised[VG_TAMPER_DEFOCUSED], 0);
    assert_int_equal(log.raised[VG_TAMPER_MOVED], 0);
    int64_t back = ts;
    run(t, NORMAL, 5, &ts, &log);
    assert_int_equal(log.cleared[VG_TAMPER_COVERED], 1);
    assert_int_equal(log.cleared_us[VG_TAMPER_COVERED], back + 3000000); /* clear_s */
    vg_tamper_destroy(&t);
  }
}

static void test_short_cover_is_ignored(void **state) {
  (void)state;
  int64_t ts;
  log_t log;
  vg_tamper_t *t = make(&ts, &log);
  run(t, COVERED_DARK, 3, &ts, &log); /* someone walks right past the lens */
  run(t, NORMAL, 10, &ts, &log);
  for (int k = 0; k < VG_TAMPER_KINDS; k++)
    assert_int_equal(log.raised[k], 0);
  vg_tamper_destroy(&t);
}

static void test_defocused(void **state) {
  (void)state;
  int64_t ts;
  log_t log;
  vg_tamper_t *t = make(&ts, &log);
  int64_t start = ts;
  run(t, BLURRED, 8, &ts, &log);
  assert_int_equal(log.raised[VG_TAMPER_DEFOCUSED], 1);
  assert_int_equal(log.raised_us[VG_TAMPER_DEFOCUSED], start + 5000000);
  assert_int_equal(log.raised[VG_TAMPER_COVERED], 0);
  assert_int_equal(log.raised[VG_TAMPER_MOVED], 0);
  run(t, NORMAL, 5, &ts, &log);
  assert_int_equal(log.cleared[VG_TAMPER_DEFOCUSED], 1);
  vg_tamper_destroy(&t);
}

static void test_moved_and_relearned(void **state) {
  (void)state;
  int64_t ts;
  log_t log;
  vg_tamper_t *t = make(&ts, &log);
  int64_t start = ts;
  run(t, SHIFTED, 8, &ts, &log);
  assert_int_equal(log.raised[VG_TAMPER_MOVED], 1);
  assert_int_equal(log.raised_us[VG_TAMPER_MOVED], start + 5000000);
  assert_int_equal(log.raised[VG_TAMPER_COVERED], 0);
  assert_int_equal(log.raised[VG_TAMPER_DEFOCUSED], 0);
  vg_tamper_destroy(&t);

  /* With relearn_s, a camera turned on purpose becomes the new normal. */
  vg_tamper_config_t cfg;
  vg_tamper_config_default(&cfg);
  cfg.relearn_s = 30;
  assert_int_equal(vg_tamper_create(&cfg, &t), 0);
  memset(&log, 0, sizeof(log));
  run(t, NORMAL, 10, &ts, &log);
  start = ts;
  run(t, SHIFTED, 40, &ts, &log);
  assert_int_equal(log.raised[VG_TAMPER_MOVED], 1);
  assert_int_equal(log.cleared[VG_TAMPER_MOVED], 1);
  assert_int_equal(log.cleared_us[VG_TAMPER_MOVED], start + 30000000);
  vg_tamper_destroy(&t);
}

static void test_invalid_arguments(void **state) {
  (void)state;
  vg_tamper_config_t cfg;
  vg_tamper_config_default(&cfg);
  cfg.work_width = 8;
  vg_tamper_t *t = NULL;
  assert_int_equal(vg_tamper_create(&cfg, &t), VG_EINVAL);
  vg_tamper_config_default(&cfg);
  assert_int_equal(vg_tamper_create(&cfg, &t), 0);
  vg_tamper_result_t r;
  assert_int_equal(vg_tamper_process(t, frame, 10, 10, 10, 0, &r), VG_EINVAL);
  assert_string_equal(vg_tamper_kind_name(VG_TAMPER_DEFOCUSED), "defocused");
  vg_tamper_destroy(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_quiet_scene_and_dimmer_light),
      cmocka_unit_test(test_covered_raised_after_persistence_and_cleared),
      cmocka_unit_test(test_short_cover_is_ignored),
      cmocka_unit_test(test_defocused),
      cmocka_unit_test(test_moved_and_relearned),
      cmocka_unit_test(test_invalid_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
