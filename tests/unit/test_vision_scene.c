/* A scripted scene through the whole vision chain: frames rendered here
 * (people as bright rectangles walking along waypoints over a noisy
 * checkerboard), motion regions, a stand-in detector that reports the true
 * boxes (with jitter) of objects inside a motion region or near a live
 * track, the class filter, the tracker and the sensors. The scene knows its
 * ground truth (which line is crossed when and which way, zone entry and
 * exit moments) and the test compares: tripwire counts exact, times within
 * a quarter of a frame (the sensors interpolate between frames). */
/* cmocka needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vision/filter.h"
#include "vision/motion.h"
#include "vision/sensors.h"
#include "vision/tracker.h"

/* Counting allocations: the library promises none per frame after the
 * first. glibc's own entry points stay reachable as __libc_*, so the test
 * can interpose malloc and count. Sanitizers interpose malloc themselves,
 * so the count is only taken in normal builds. */
#if defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef COUNT_ALLOCATIONS
#define COUNT_ALLOCATIONS 1
#endif

static long allocations;

#if COUNT_ALLOCATIONS
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
void *malloc(size_t size) {
  allocations++;
  return __libc_malloc(size);
}
void *calloc(size_t n, size_t size) {
  allocations++;
  return __libc_calloc(n, size);
}
void *realloc(void *p, size_t size) {
  allocations++;
  return __libc_realloc(p, size);
}
#endif

#define W 640
#define H 360
#define FPS 5
#define FRAME_US (1000000 / FPS)
#define FRAMES 75
#define PERSON 0
#define LINE_Y 180 /* the tripwire, pixels */

typedef struct {
  int start, end;       /* frames present */
  float x0, y0, vx, vy; /* foot position at start (px) and px per frame */
  int w, h, luma;
  int hidden_from, hidden_to; /* frames the detector misses it (occlusion) */
} walker_t;

/* Three people: one walks down across the line (and is missed by the
 * detector for the two frames around its crossing, so it is seen on the
 * far side one frame late), one walks up across it, one walks left through
 * the zone along the bottom without touching the line. */
static const walker_t walkers[] = {
    {0, 40, 150, 70, 0, 7.5f, 30, 80, 230, 14, 16},
    {20, 70, 470, 330, -1.0f, -6.0f, 34, 84, 20, 0, 0},
    {5, 70, 620, 320, -8.5f, 0.5f, 30, 76, 240, 0, 0},
};
#define N_WALKERS (int)(sizeof(walkers) / sizeof(walkers[0]))

static void foot_at(const walker_t *w, int f, float *x, float *y) {
  *x = w->x0 + w->vx * (float)(f - w->start);
  *y = w->y0 + w->vy * (float)(f - w->start);
}

static uint32_t rng = 7;
static int jitter(int amount) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return (int)(rng % (2 * amount + 1)) - amount;
}

static uint8_t pix[W * H];

static void render(int f) {
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      pix[y * W + x] = (uint8_t)(((x / 40 + y / 40) % 2 ? 110 : 70) + jitter(5));
  for (int i = 0; i < N_WALKERS; i++) {
    const walker_t *w = &walkers[i];
    if (f < w->start || f >= w->end) continue;
    float fx, fy;
    foot_at(w, f, &fx, &fy);
    for (int y = (int)fy - w->h; y < (int)fy; y++)
      for (int x = (int)fx - w->w / 2; x < (int)fx + w->w / 2; x++)
        if (x >= 0 && x < W && y >= 0 && y < H) pix[y * W + x] = (uint8_t)w->luma;
  }
}

static bool overlaps(const vg_rect_t *r, float x1, float y1, float x2, float y2) {
  return x1 < (float)r->x2 && x2 > (float)r->x1 && y1 < (float)r->y2 && y2 > (float)r->y1;
}

/* The stand-in detector runs on motion regions and around tracked objects,
 * as the pipeline's detector does. */
static int detect(int f, const vg_motion_result_t *mr, const vg_vtrack_t *tracks, int n_tracks,
                  vg_detection_t *out) {
  int n = 0;
  for (int i = 0; i < N_WALKERS; i++) {
    const walker_t *w = &walkers[i];
    if (f < w->start || f >= w->end || (f >= w->hidden_from && f < w->hidden_to)) continue;
    float fx, fy;
    foot_at(w, f, &fx, &fy);
    float x1 = fx - (float)w->w / 2, x2 = fx + (float)w->w / 2, y1 = fy - (float)w->h, y2 = fy;
    bool looked = false;
    for (int r = 0; r < mr->n_regions && !looked; r++)
      looked = overlaps(&mr->regions[r], x1, y1, x2, y2);
    for (int k = 0; k < n_tracks && !looked; k++) {
      vg_rect_t tb = {(int)tracks[k].box.x1 - 20, (int)tracks[k].box.y1 - 20, (int)tracks[k].box.x2 + 20,
                      (int)tracks[k].box.y2 + 20};
      looked = overlaps(&tb, x1, y1, x2, y2);
    }
    if (!looked) continue;
    out[n++] = (vg_detection_t){x1 + (float)jitter(2),
                                y1 + (float)jitter(2),
                                x2 + (float)jitter(2),
                                y2 + (float)jitter(1),
                                0.7f + 0.01f * (float)jitter(10),
                                PERSON};
  }
  /* A false detection of a class nobody wants: the filter removes it. */
  out[n++] = (vg_detection_t){10, 10, 60, 40, 0.9f, 58 /* potted plant */};
  return n;
}

static void test_scripted_scene(void **state) {
  (void)state;
  vg_motion_config_t mc;
  vg_motion_config_default(&mc);
  vg_tracker_config_t tc;
  vg_tracker_config_default(&tc);
  vg_detection_filter_t filter;
  vg_detection_filter_default(&filter);
  vg_class_set_add(&filter.classes, PERSON);
  static vg_sensors_config_t sc;
  vg_sensors_config_default(&sc);
  sc.n_tripwires = 1;
  snprintf(sc.tripwires[0].id, VG_SENSOR_ID_MAX, "line");
  sc.tripwires[0].a = (vg_point_t){0.05f, (float)LINE_Y / H};
  sc.tripwires[0].b = (vg_point_t){0.95f, (float)LINE_Y / H};
  sc.tripwires[0].margin = 0.01f;
  sc.n_zones = 1;
  vg_zone_config_t *z = &sc.zones[0];
  snprintf(z->id, VG_SENSOR_ID_MAX, "lawn");
  z->polygon = (vg_polygon_t){4, {{0.3f, 0.75f}, {0.6f, 0.75f}, {0.6f, 1}, {0.3f, 1}}};
  z->inertia = 3;
  z->max_area = 1;
  z->occupancy_events = true;

  vg_motion_t *motion = NULL;
  vg_tracker_t *tracker = NULL;
  vg_sensors_t *sensors = NULL;
  assert_int_equal(vg_motion_create(&mc, &motion), 0);
  assert_int_equal(vg_tracker_create(&tc, &tracker), 0);
  assert_int_equal(vg_sensors_create(&sc, &sensors), 0);

  int down = 0, up = 0, enters = 0, exits = 0;
  int64_t down_us = -1, up_us = -1, enter_us = -1, exit_us = -1;
  uint32_t ids_seen[16];
  int n_ids = 0;
  long allocations_after_warmup = 0;
  for (int f = 0; f < FRAMES; f++) {
    int64_t ts = (int64_t)f * FRAME_US;
    if (f == 2) allocations_after_warmup = allocations;
    render(f);
    vg_motion_result_t mr;
    assert_int_equal(vg_motion_process(motion, pix, W, H, W, &mr), 0);
    const vg_vtrack_t *tracks;
    int n_tracks = vg_tracker_tracks(tracker, &tracks);
    vg_detection_t dets[8];
    int nd = detect(f, &mr, tracks, n_tracks, dets);
    nd = vg_detection_filter_apply(&filter, dets, nd, W, H);
    vg_tracker_update(tracker, dets, nd, ts);
    n_tracks = vg_tracker_tracks(tracker, &tracks);
    for (int k = 0; k < n_tracks; k++) {
      if (!tracks[k].confirmed) continue;
      bool known = false;
      for (int i = 0; i < n_ids; i++)
        known = known || ids_seen[i] == tracks[k].id;
      if (!known && n_ids < 16) ids_seen[n_ids++] = tracks[k].id;
    }
    vg_trigger_t out[16];
    int n = vg_sensors_update(sensors, tracks, n_tracks, W, H, ts, out, 16);
    for (int i = 0; i < n; i++) {
      if (out[i].kind == VG_TRIGGER_LINE_CROSS && out[i].direction == VG_DIR_A_TO_B)
        down++, down_us = out[i].ts_us;
      if (out[i].kind == VG_TRIGGER_LINE_CROSS && out[i].direction == VG_DIR_B_TO_A)
        up++, up_us = out[i].ts_us;
      if (out[i].kind == VG_TRIGGER_ENTER) enters++, enter_us = out[i].ts_us;
      if (out[i].kind == VG_TRIGGER_EXIT) exits++, exit_us = out[i].ts_us;
    }
  }
  if (COUNT_ALLOCATIONS) {
    assert_true(allocations_after_warmup > 0); /* the counter sees the library's allocations */
    assert_int_equal(allocations - allocations_after_warmup, 0);
  }
  /* Ground truth from the script, at the true moments (the sensors
   * interpolate between analysed frames): walker 0's foot passes y = 180 at
   * frame 14 + (180 - 175) / 7.5 = 14.67; walker 1's is at 180 on frame 45;
   * walker 2 enters x < 384 at frame 5 + (620 - 384) / 8.5 = 32.76 and
   * leaves over x = 192 at frame 5 + (620 - 192) / 8.5 = 55.35. The boxes
   * jitter by a few pixels: within a quarter of a frame. */
  assert_int_equal(n_ids, 3); /* one id per person: the occlusion kept walker 0's */
  assert_int_equal(down, 1);
  assert_int_equal(up, 1);
  assert_true(llabs(down_us - (int64_t)(14.667 * FRAME_US)) <= FRAME_US / 4);
  assert_true(llabs(up_us - 45 * FRAME_US) <= FRAME_US / 4);
  assert_int_equal(enters, 1);
  assert_int_equal(exits, 1);
  assert_true(llabs(enter_us - (int64_t)(32.765 * FRAME_US)) <= FRAME_US / 4);
  assert_true(llabs(exit_us - (int64_t)(55.353 * FRAME_US)) <= FRAME_US / 4);
  vg_motion_destroy(&motion);
  vg_tracker_destroy(&tracker);
  vg_sensors_destroy(&sensors);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scripted_scene),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
