/* Unit tests for live analytics configuration changes
 * (vg_analytics_camera_set / vg_analytics_camera_remove): a camera's
 * pipeline starts, takes a new configuration between frames (keeping its
 * tracks when the tracker's parameters stay, starting them afresh when they
 * change), stops, and survives many changes while frames flow. The
 * detector is scripted: it sees one person whose position the test moves
 * across the picture. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libavutil/log.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analytics/analytics.h"
#include "analytics/runner.h"
#include "base/error.h"
#include "base/time.h"
#include "sim/clip.h"
#include "stream/hub.h"

/* ---- the scripted detector ---- */

/* The person's foot x in thousandths of the width, and whether it is out
 * of the picture. */
static atomic_int person_x = 200;
static atomic_bool person_away;
static atomic_bool person_still; /* the feeder leaves person_x alone */
static atomic_int detect_sleep_us;
static atomic_int detect_calls;

static void *fake_instantiate(void *ctx, char *err, size_t errlen) {
  (void)err, (void)errlen;
  return ctx;
}

static int fake_detect(void *inst, const vg_image_t *img, vg_detection_t *dets, int max) {
  (void)inst;
  atomic_fetch_add(&detect_calls, 1);
  int us = atomic_load(&detect_sleep_us);
  if (us) usleep((useconds_t)us);
  int x = atomic_load(&person_x);
  if (atomic_load(&person_away) || max < 1) return 0;
  float cx = (float)x / 1000.0f * (float)img->width, w = (float)img->width * 0.2f;
  dets[0] =
      (vg_detection_t){cx - w / 2, (float)img->height * 0.2f, cx + w / 2, (float)img->height * 0.9f, 0.9f, 0};
  return 1;
}

static void fake_release(void *inst) { (void)inst; }
static const vg_infer_runner_t fake_runner = {fake_instantiate, fake_detect, fake_release};

/* ---- what the bus carries ---- */

static atomic_uint last_track; /* the track id of the latest confirmed object */
static atomic_uint min_track;  /* the smallest confirmed track id since reset */
static atomic_int triggers_seen;
static atomic_uint last_trigger_track;

static void on_meta(void *opaque, const vg_bus_msg_t *msg) {
  (void)opaque;
  const vg_analytics_meta_t *m = msg->data;
  for (int i = 0; i < m->n_objects; i++) {
    if (!m->objects[i].confirmed) continue;
    unsigned id = m->objects[i].track_id, min = atomic_load(&min_track);
    atomic_store(&last_track, id);
    while (id < min && !atomic_compare_exchange_weak(&min_track, &min, id)) {
    }
  }
}

static void on_trigger(void *opaque, const vg_bus_msg_t *msg) {
  (void)opaque;
  const vg_analytics_trigger_t *t = msg->data;
  if (strcmp(t->kind, "line_cross") == 0) {
    atomic_fetch_add(&triggers_seen, 1);
    atomic_store(&last_trigger_track, t->track_id);
  }
}

/* ---- a camera whose frames flow, and a person walking to and fro ---- */

typedef struct {
  vg_hub_t *hub;
  vg_clip_t *clip;
  atomic_bool stop;
  pthread_t thread;
} feeder_t;

static vg_clip_t *pattern_clip(void) {
  vg_clip_params_t p;
  vg_clip_params_defaults(&p);
  p.width = 320;
  p.height = 240;
  p.fps = 20;
  p.gop = 10;
  p.duration_s = 2;
  p.bitrate_kbps = 300;
  vg_clip_t *clip = NULL;
  assert_int_equal(vg_clip_encode(&p, &clip), 0);
  return clip;
}

/* 20 fps, pts and times increasing across loops of the clip; the person
 * crosses the middle of the picture every 80 frames (4 s), slowly enough
 * that a slow (sanitized) pipeline keeps its track. */
static void *feed_main(void *arg) {
  feeder_t *fd = arg;
  int64_t utc = vg_time_utc_us(), n = 0;
  for (int loop = 0; !atomic_load(&fd->stop); loop++) {
    for (size_t i = 0; i < fd->clip->frame_count && !atomic_load(&fd->stop); i++, n++) {
      vg_frame_t f;
      vg_frame_ref(&f, &fd->clip->frames[i].frame);
      f.pts += (int64_t)loop * fd->clip->period_pts[0];
      f.utc_us = utc + n * 50000;
      f.recv_us = vg_time_mono_us();
      vg_hub_push(fd->hub, &f);
      vg_frame_unref(&f);
      int phase = (int)(n % 160);
      if (!atomic_load(&person_still))
        atomic_store(&person_x, phase < 80 ? 150 + phase * 9 : 870 - (phase - 80) * 9);
      usleep(50000);
    }
  }
  return NULL;
}

static void feeder_start(feeder_t *fd, const char *name) {
  memset(fd, 0, sizeof(*fd));
  fd->clip = pattern_clip();
  fd->hub = vg_hub_new(name);
  assert_int_equal(vg_hub_register(fd->hub), 0);
  assert_int_equal(vg_hub_set_tracks(fd->hub, fd->clip->tracks, 1), 0);
  assert_int_equal(pthread_create(&fd->thread, NULL, feed_main, fd), 0);
}

static void feeder_stop(feeder_t *fd) {
  atomic_store(&fd->stop, true);
  pthread_join(fd->thread, NULL);
  vg_hub_end(fd->hub);
  vg_hub_unregister(fd->hub);
  vg_hub_unref(&fd->hub);
  vg_clip_free(&fd->clip);
}

static int start_analytics_json(vg_bus_t *bus, const char *text) {
  vg_analytics_node_config_t cfg;
  vg_cfg_t c = {0};
  json_t *root;
  assert_int_equal(vg_cfg_load_string(&c, text, &root), 0);
  assert_int_equal(vg_analytics_node_config_parse(&c, root, NULL, &cfg), 0);
  int err = vg_analytics_start_with_runner(&cfg, bus, &fake_runner, &detect_calls);
  vg_analytics_node_config_free(&cfg);
  json_decref(root);
  return err;
}

static int start_analytics(vg_bus_t *bus, bool enabled) {
  return start_analytics_json(bus, enabled ? "{\"enabled\": true, \"threads\": 1, \"model\": \"fake\", "
                                             "\"full_frame_interval_s\": 0, \"max_lag_ms\": 2000}"
                                           : "{}");
}

static int set_json(const char *camera, const char *text) {
  if (!text) return vg_analytics_camera_set(camera, NULL);
  json_error_t je;
  json_t *obj = json_loads(text, 0, &je);
  assert_non_null(obj);
  int err = vg_analytics_camera_set(camera, obj);
  json_decref(obj);
  return err;
}

/* Whether the camera's API snapshot lists tripwire id (want) or not. */
static bool has_wire(const char *camera, const char *id) {
  json_t *j = vg_analytics_camera_json(camera);
  bool has = j && json_object_get(json_object_get(json_object_get(j, "sensors"), "tripwires"), id);
  json_decref(j);
  return has;
}

static bool wait_for(bool (*cond)(void), int ms) {
  for (int i = 0; i < ms / 10; i++) {
    if (cond()) return true;
    usleep(10000);
  }
  return cond();
}

static bool wire_in_use(void) { return has_wire("lcam", "wire"); }
static bool wire2_in_use(void) { return has_wire("lcam", "wire2"); }
static bool wire2_gone(void) {
  json_t *j = vg_analytics_camera_json("lcam");
  bool gone = j && json_object_get(j, "sensors") && !has_wire("lcam", "wire2");
  json_decref(j);
  return gone;
}
static bool tracking(void) { return atomic_load(&last_track) != 0; }
static bool two_crossings(void) { return atomic_load(&triggers_seen) >= 2; }
static bool second_track(void) { return atomic_load(&last_track) >= 2; }

#define TRACKER "\"tracker\": {\"min_hits\": 2, \"max_age\": 2, \"iou_threshold\": 0.1}"
#define TRACKER2 "\"tracker\": {\"min_hits\": 3, \"max_age\": 2, \"iou_threshold\": 0.1}"
#define WIRE "\"tripwires\": [{\"id\": \"wire\", \"a\": [0.5, 0.0], \"b\": [0.5, 1.0]}]"
#define WIRE2 "\"tripwires\": [{\"id\": \"wire2\", \"a\": [0.5, 0.0], \"b\": [0.5, 1.0]}]"

/* Not running (not started, or analytics.enabled false): a change is kept
 * and nothing runs; an invalid one is refused. */
static void test_stored_when_not_running(void **state) {
  (void)state;
  vg_analytics_camera_stats_t st;
  assert_int_equal(set_json("idle", "{" WIRE "}"), 0);
  assert_int_equal(vg_analytics_camera_stats("idle", &st), VG_ENOTFOUND);
  assert_int_equal(set_json("idle", "{\"tripwires\": 3}"), VG_ECONFIG);
  assert_int_equal(start_analytics(NULL, false), 0);
  assert_int_equal(set_json("idle", "{}"), 0);
  assert_int_equal(vg_analytics_camera_stats("idle", &st), VG_ENOTFOUND);
  assert_int_equal(vg_analytics_camera_remove("idle"), 0);
  vg_analytics_stop();
}

/* A camera without analytics at start gets a pipeline, then a tripwire
 * (its tracks kept: the same track crosses it), loses the tripwire, gets a
 * new tracker (tracks start afresh), and stops. */
static void test_set_replace_remove(void **state) {
  (void)state;
  vg_bus_t *bus;
  assert_int_equal(vg_bus_new(&bus), 0);
  vg_bus_sub_t *msub, *tsub;
  assert_int_equal(vg_bus_subscribe(bus, VG_ANALYTICS_TOPIC_META, NULL, on_meta, NULL, &msub), 0);
  assert_int_equal(vg_bus_subscribe(bus, VG_ANALYTICS_TOPIC_TRIGGER, NULL, on_trigger, NULL, &tsub), 0);
  feeder_t fd;
  feeder_start(&fd, "lcam");
  assert_int_equal(start_analytics(bus, true), 0);
  vg_analytics_camera_stats_t st;
  assert_int_equal(vg_analytics_camera_stats("lcam", &st), VG_ENOTFOUND);

  /* No tripwire: tracked, no trigger. */
  assert_int_equal(set_json("lcam", "{" TRACKER "}"), 0);
  assert_int_equal(vg_analytics_camera_stats("lcam", &st), 0);
  assert_true(wait_for(tracking, 10000));
  /* The person leaves and comes back: a second track. */
  atomic_store(&person_away, true);
  usleep(1500000);
  atomic_store(&person_away, false);
  assert_true(wait_for(second_track, 10000));
  assert_int_equal(atomic_load(&triggers_seen), 0);

  /* A tripwire across the path, same tracker: the tracks go on (track 1
   * ended before the change; a new tracker would start from 1 again) and
   * cross. */
  assert_int_equal(set_json("lcam", "{" TRACKER ", " WIRE "}"), 0);
  assert_true(wait_for(wire_in_use, 5000));
  atomic_store(&min_track, UINT32_MAX);
  assert_true(wait_for(two_crossings, 20000));
  assert_true(atomic_load(&last_trigger_track) >= 2);
  assert_true(atomic_load(&min_track) >= 2);
  json_t *j = vg_analytics_camera_json("lcam");
  assert_true(json_integer_value(json_object_get(
                  json_object_get(json_object_get(j, "trigger_counts"), "wire"), "line_cross")) >= 2);
  json_decref(j);

  /* The same configuration again changes nothing. */
  assert_int_equal(set_json("lcam", "{" TRACKER ", " WIRE "}"), 0);
  assert_true(has_wire("lcam", "wire"));

  /* Another tracker: tracks start again from id 1. */
  assert_int_equal(set_json("lcam", "{" TRACKER2 ", " WIRE2 "}"), 0);
  assert_true(wait_for(wire2_in_use, 5000));
  atomic_store(&min_track, UINT32_MAX);
  usleep(2000000);
  assert_int_equal(atomic_load(&min_track), 1);

  /* The tripwire removed: no more triggers. */
  assert_int_equal(set_json("lcam", "{" TRACKER2 "}"), 0);
  assert_true(wait_for(wire2_gone, 5000));
  usleep(300000); /* triggers already on the bus */
  int before = atomic_load(&triggers_seen);
  vg_analytics_camera_stats("lcam", &st);
  uint64_t counted = st.triggers;
  usleep(4500000); /* more than one crossing's time */
  assert_int_equal(atomic_load(&triggers_seen), before);
  vg_analytics_camera_stats("lcam", &st);
  assert_int_equal(st.triggers, counted);
  assert_true(st.analysed > 0);

  /* enabled false stops it at once; a set starts it again; removed stops it. */
  assert_int_equal(set_json("lcam", "{\"enabled\": false}"), 0);
  assert_int_equal(vg_analytics_camera_stats("lcam", &st), VG_ENOTFOUND);
  assert_int_equal(set_json("lcam", "{" WIRE "}"), 0);
  assert_int_equal(vg_analytics_camera_stats("lcam", &st), 0);
  assert_int_equal(vg_analytics_camera_remove("lcam"), 0);
  assert_int_equal(vg_analytics_camera_stats("lcam", &st), VG_ENOTFOUND);
  assert_null(vg_analytics_camera_json("lcam"));

  /* A camera whose stream is not there yet starts with its next set. */
  assert_int_equal(set_json("later", "{}"), 0);
  assert_int_equal(vg_analytics_camera_stats("later", &st), VG_ENOTFOUND);
  feeder_t fd2;
  feeder_start(&fd2, "later");
  assert_int_equal(set_json("later", "{}"), 0);
  assert_int_equal(vg_analytics_camera_stats("later", &st), 0);
  /* A camera reading another's stream as substream stops with that camera. */
  assert_int_equal(set_json("sub", "{\"substream\": \"later\"}"), 0);
  assert_int_equal(vg_analytics_camera_stats("sub", &st), 0);
  assert_int_equal(vg_analytics_camera_remove("later"), 0);
  assert_int_equal(vg_analytics_camera_stats("later", &st), VG_ENOTFOUND);
  assert_int_equal(vg_analytics_camera_stats("sub", &st), VG_ENOTFOUND);

  vg_analytics_stop();
  feeder_stop(&fd2);
  feeder_stop(&fd);
  vg_bus_unsubscribe(&msub);
  vg_bus_unsubscribe(&tsub);
  vg_bus_free(&bus);
}

/* ---- many changes while frames flow and the API reads ---- */

static atomic_bool readers_stop;
static void *api_reader(void *arg) {
  (void)arg;
  while (!atomic_load(&readers_stop)) {
    json_t *j = vg_analytics_camera_json("churn");
    json_decref(j);
    vg_analytics_camera_stats_t st;
    vg_analytics_camera_stats("churn", &st);
    usleep(1000);
  }
  return NULL;
}

static void test_changes_while_frames_flow(void **state) {
  (void)state;
  atomic_store(&detect_sleep_us, 20000); /* detections in flight when things change */
  feeder_t fd;
  feeder_start(&fd, "churn");
  assert_int_equal(start_analytics(NULL, true), 0);
  pthread_t reader;
  atomic_store(&readers_stop, false);
  assert_int_equal(pthread_create(&reader, NULL, api_reader, NULL), 0);
  static const char *const configs[] = {
      "{" TRACKER "}",
      "{" TRACKER ", " WIRE "}",
      "{" TRACKER2 ", " WIRE ", \"detect_fps\": 10}",
      "{" TRACKER ", \"detect_width\": 160}",
      "{\"zones\": [{\"id\": \"z\", \"polygon\": [[0, 0], [1, 0], [1, 1]]}]}",
      NULL,
  };
  int calls_before = atomic_load(&detect_calls);
  for (int i = 0; i < 60; i++) {
    if (i % 13 == 12)
      assert_int_equal(vg_analytics_camera_remove("churn"), 0);
    else
      assert_int_equal(set_json("churn", configs[i % 6]), 0);
    usleep((useconds_t)(i % 4) * 40000);
  }
  assert_int_equal(set_json("churn", configs[1]), 0);
  usleep(500000);
  vg_analytics_camera_stats_t st;
  assert_int_equal(vg_analytics_camera_stats("churn", &st), 0);
  /* The pipeline did work in between. */
  assert_true(atomic_load(&detect_calls) > calls_before);
  atomic_store(&readers_stop, true);
  pthread_join(reader, NULL);
  vg_analytics_stop();
  assert_int_equal(vg_analytics_camera_stats("churn", &st), VG_ENOTFOUND);
  atomic_store(&detect_sleep_us, 0);
  feeder_stop(&fd);
}

/* Stationary gating through the whole pipeline: a person standing still
 * (stationary after 1 s here) is looked for once a second
 * (stationary_interval_s 1) instead of on every analysed frame, keeps its
 * track id, and the metadata keeps coming on the frames in between. The
 * test pattern moves, so motion is masked out: only the checks see the
 * person start to walk, and from then on every frame goes to the detector
 * again. */
static void test_stationary_person_checked_every_interval(void **state) {
  (void)state;
  vg_bus_t *bus;
  assert_int_equal(vg_bus_new(&bus), 0);
  vg_bus_sub_t *msub;
  assert_int_equal(vg_bus_subscribe(bus, VG_ANALYTICS_TOPIC_META, NULL, on_meta, NULL, &msub), 0);
  atomic_store(&person_still, true);
  atomic_store(&person_away, false);
  atomic_store(&person_x, 500);
  atomic_store(&last_track, 0);
  feeder_t fd;
  feeder_start(&fd, "scam");
  assert_int_equal(start_analytics_json(bus, "{\"enabled\": true, \"threads\": 1, \"model\": \"fake\", "
                                             "\"full_frame_interval_s\": 3600, \"max_lag_ms\": 2000}"),
                   0);
  assert_int_equal(set_json("scam", "{\"tracker\": {\"min_hits\": 2, \"max_age\": 2, \"stationary_s\": 1}, "
                                    "\"stationary_interval_s\": 1, "
                                    "\"motion\": {\"masks\": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}}"),
                   0);
  assert_true(wait_for(tracking, 10000));
  usleep(2500000); /* stationary by now */
  unsigned id = atomic_load(&last_track);
  vg_analytics_camera_stats_t a, b;
  assert_int_equal(vg_analytics_camera_stats("scam", &a), 0);
  atomic_store(&last_track, 0);
  usleep(4000000);
  assert_int_equal(vg_analytics_camera_stats("scam", &b), 0);
  uint64_t analysed = b.analysed - a.analysed, detected = b.detected - a.detected;
  uint64_t parked = b.stationary_skipped - a.stationary_skipped;
  print_message("standing 4 s: %llu analysed, %llu detected, %llu parked\n", (unsigned long long)analysed,
                (unsigned long long)detected, (unsigned long long)parked);
  /* At most one check a second (a fifth when the window catches both
   * ends), where every analysed frame went to the detector before. */
  assert_true(analysed >= 6);
  assert_true(detected <= 4 + 2);
  assert_true(parked >= 2 && parked + detected + 1 >= analysed);
  /* The frames in between published the same, held track. */
  assert_int_equal(atomic_load(&last_track), id);

  /* It walks: a check finds it moved, and every frame is looked at again. */
  atomic_store(&person_still, false);
  usleep(2000000);
  assert_int_equal(vg_analytics_camera_stats("scam", &a), 0);
  usleep(2000000);
  assert_int_equal(vg_analytics_camera_stats("scam", &b), 0);
  analysed = b.analysed - a.analysed, detected = b.detected - a.detected;
  uint64_t superseded = b.superseded - a.superseded;
  print_message("walking 2 s: %llu analysed, %llu detected, %llu superseded\n", (unsigned long long)analysed,
                (unsigned long long)detected, (unsigned long long)superseded);
  /* Every analysed frame goes to the detector, but for those a newer frame
   * replaced while the detector was busy (a slow, sanitized build). */
  assert_true(detected + superseded + 2 >= analysed);
  assert_int_equal(b.stationary_skipped, a.stationary_skipped);

  vg_analytics_stop();
  feeder_stop(&fd);
  vg_bus_unsubscribe(&msub);
  vg_bus_free(&bus);
}

int main(void) {
  av_log_set_level(AV_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stored_when_not_running),
      cmocka_unit_test(test_set_replace_remove),
      cmocka_unit_test(test_changes_while_frames_flow),
      cmocka_unit_test(test_stationary_person_checked_every_interval),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
