/* Unit tests for recording modes: the per-frame decision, schedules, the
 * policy config and the pre-roll buffer (its window, its GOP alignment and
 * its bounds). */
/* cmocka needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "base/error.h"
#include "record/mode.h"

/* --- the decision --- */

static vg_rec_action_t decide(vg_rec_mode_t mode, bool active, bool leaving, bool key) {
  vg_rec_frame_input_t in = {.mode = mode, .active = active, .leaving_buffer = leaving, .video_key = key};
  return vg_rec_decide(&in);
}

static void test_decide_continuous_and_off(void **state) {
  (void)state;
  for (int active = 0; active < 2; active++)
    for (int key = 0; key < 2; key++) {
      assert_int_equal(decide(VG_REC_MODE_CONTINUOUS, active, false, key), VG_REC_FULL);
      assert_int_equal(decide(VG_REC_MODE_OFF, active, false, key), VG_REC_DROP);
    }
  assert_false(vg_rec_mode_uses_preroll(VG_REC_MODE_CONTINUOUS));
  assert_false(vg_rec_mode_uses_preroll(VG_REC_MODE_OFF));
}

static void test_decide_events(void **state) {
  (void)state;
  assert_true(vg_rec_mode_uses_preroll(VG_REC_MODE_EVENTS));
  assert_int_equal(decide(VG_REC_MODE_EVENTS, true, false, false), VG_REC_FULL);
  assert_int_equal(decide(VG_REC_MODE_EVENTS, true, true, true), VG_REC_FULL);
  assert_int_equal(decide(VG_REC_MODE_EVENTS, false, false, true), VG_REC_HOLD);
  assert_int_equal(decide(VG_REC_MODE_EVENTS, false, false, false), VG_REC_HOLD);
  /* Idle footage that ages out of the pre-roll is not kept, keyframe or not. */
  assert_int_equal(decide(VG_REC_MODE_EVENTS, false, true, true), VG_REC_DROP);
  assert_int_equal(decide(VG_REC_MODE_EVENTS, false, true, false), VG_REC_DROP);
}

static void test_decide_intelligent(void **state) {
  (void)state;
  assert_true(vg_rec_mode_uses_preroll(VG_REC_MODE_INTELLIGENT));
  assert_int_equal(decide(VG_REC_MODE_INTELLIGENT, true, false, false), VG_REC_FULL);
  assert_int_equal(decide(VG_REC_MODE_INTELLIGENT, false, false, true), VG_REC_HOLD);
  assert_int_equal(decide(VG_REC_MODE_INTELLIGENT, false, true, true), VG_REC_KEYFRAMES);
  assert_int_equal(decide(VG_REC_MODE_INTELLIGENT, false, true, false), VG_REC_DROP);
}

/* --- schedules --- */

static void test_schedule(void **state) {
  (void)state;
  /* Weekdays 08:00-18:00 continuous; every night 22:00-06:00 events. */
  vg_rec_schedule_entry_t s[] = {
      {.weekdays = 0x3e, .start_min = 8 * 60, .end_min = 18 * 60, .mode = VG_REC_MODE_CONTINUOUS},
      {.weekdays = 0x7f, .start_min = 22 * 60, .end_min = 6 * 60, .mode = VG_REC_MODE_EVENTS},
  };
  vg_rec_mode_t fb = VG_REC_MODE_INTELLIGENT;
  assert_int_equal(vg_rec_schedule_mode(s, 2, fb, 1, 8 * 60), VG_REC_MODE_CONTINUOUS);   /* Monday 08:00 */
  assert_int_equal(vg_rec_schedule_mode(s, 2, fb, 1, 18 * 60), VG_REC_MODE_INTELLIGENT); /* end excluded */
  assert_int_equal(vg_rec_schedule_mode(s, 2, fb, 0, 12 * 60), VG_REC_MODE_INTELLIGENT); /* Sunday noon */
  assert_int_equal(vg_rec_schedule_mode(s, 2, fb, 6, 23 * 60), VG_REC_MODE_EVENTS);      /* Sat night */
  assert_int_equal(vg_rec_schedule_mode(s, 2, fb, 0, 5 * 60), VG_REC_MODE_EVENTS);       /* Sun morning */
  assert_int_equal(vg_rec_schedule_mode(s, 2, fb, 0, 6 * 60), VG_REC_MODE_INTELLIGENT);
  assert_int_equal(vg_rec_schedule_mode(s, 0, fb, 1, 9 * 60), VG_REC_MODE_INTELLIGENT);
  assert_int_equal(vg_rec_schedule_mode(s, 2, fb, 7, 9 * 60), VG_REC_MODE_INTELLIGENT); /* bad weekday */
  /* A night entry on Friday only covers Saturday's early hours, not Friday's. */
  vg_rec_schedule_entry_t fri = {
      .weekdays = 1u << 5, .start_min = 22 * 60, .end_min = 2 * 60, .mode = VG_REC_MODE_OFF};
  assert_int_equal(vg_rec_schedule_mode(&fri, 1, fb, 5, 60), fb);
  assert_int_equal(vg_rec_schedule_mode(&fri, 1, fb, 6, 60), VG_REC_MODE_OFF);
  assert_int_equal(vg_rec_schedule_mode(&fri, 1, fb, 5, 23 * 60), VG_REC_MODE_OFF);
}

/* --- config --- */

static int parse(const char *text, vg_rec_policy_t *out, vg_cfg_t *c) {
  json_t *root;
  memset(c, 0, sizeof(*c));
  vg_rec_policy_default(out);
  if (vg_cfg_load_string(c, text, &root)) return VG_ECONFIG;
  vg_cfg_enter(c, "record");
  int r = vg_rec_policy_parse(c, root, out);
  vg_cfg_leave(c);
  json_decref(root);
  return r;
}

static void test_policy_config(void **state) {
  (void)state;
  vg_rec_policy_t p;
  vg_cfg_t c;
  assert_int_equal(parse("{}", &p, &c), 0);
  assert_int_equal(p.mode, VG_REC_MODE_CONTINUOUS);
  assert_int_equal(p.pre_roll_s, 5);
  assert_int_equal(p.max_age_s, 0);
  assert_int_equal(parse("{\"mode\":\"intelligent\",\"pre_roll_s\":3,\"post_roll_s\":10,\"max_age_days\":7,"
                         "\"event_max_age_hours\":720,\"schedule\":[{\"days\":[\"sat\",\"sun\"],\"start\":"
                         "\"00:00\",\"end\":\"24:00\",\"mode\":\"off\"}]}",
                         &p, &c),
                   0);
  assert_int_equal(p.mode, VG_REC_MODE_INTELLIGENT);
  assert_int_equal(p.pre_roll_s, 3);
  assert_int_equal(p.post_roll_s, 10);
  assert_int_equal(p.max_age_s, 7 * 86400);
  assert_int_equal(p.event_max_age_s, 720 * 3600);
  assert_int_equal(p.schedule_count, 1);
  assert_int_equal(p.schedule[0].weekdays, 0x41);
  assert_int_equal(p.schedule[0].end_min, 1440);
  assert_int_equal(p.schedule[0].mode, VG_REC_MODE_OFF);
  assert_int_equal(parse("{\"max_age_s\":30}", &p, &c), 0);
  assert_int_equal(p.max_age_s, 30);

  assert_int_equal(parse("{\"mode\":\"sometimes\"}", &p, &c), VG_ECONFIG);
  assert_string_equal(c.err_path, "record.mode");
  assert_int_equal(parse("{\"max_age_days\":1,\"max_age_hours\":2}", &p, &c), VG_ECONFIG);
  assert_int_equal(parse("{\"pre_roll_s\":-1}", &p, &c), VG_ECONFIG);
  assert_string_equal(c.err_path, "record.pre_roll_s");
  assert_int_equal(parse("{\"schedule\":[{\"start\":\"25:00\",\"mode\":\"off\"}]}", &p, &c), VG_ECONFIG);
  assert_string_equal(c.err_path, "record.schedule[0].start");
  assert_int_equal(parse("{\"schedule\":[{\"days\":[\"funday\"],\"mode\":\"off\"}]}", &p, &c), VG_ECONFIG);
  assert_int_equal(parse("{\"schedule\":[{\"start\":\"08:00\"}]}", &p, &c), VG_ECONFIG);
  assert_string_equal(c.err_path, "record.schedule[0].mode");
  assert_int_equal(parse("{\"schedule\":[{\"mode\":\"off\",\"color\":1}]}", &p, &c), VG_ECONFIG);
}

/* --- the pre-roll buffer --- */

static uint8_t payload[64];

static vg_frame_t frame(int track, bool key, int64_t t_us, uint32_t len) {
  vg_frame_t f = {.buf = vg_buf_from(payload, sizeof(payload)), .track = (uint8_t)track, .recv_us = t_us};
  f.data = f.buf->data;
  f.len = len;
  f.flags = key ? VG_FRAME_KEY : 0;
  return f;
}

static int push(vg_preroll_t *p, int track, bool key, int64_t t_us, uint32_t len) {
  vg_frame_t f = frame(track, key, t_us, len);
  int r = vg_preroll_push(p, &f);
  vg_frame_unref(&f);
  return r;
}

/* Evicts what is due; returns how many frames left and how many of them were keyframes. */
static int evict_all(vg_preroll_t *p, int *keys) {
  int n = 0;
  vg_frame_t f;
  while (vg_preroll_evict(p, &f)) {
    n++;
    if (keys && (f.flags & VG_FRAME_KEY)) (*keys)++;
    vg_frame_unref(&f);
  }
  return n;
}

static void test_preroll_window(void **state) {
  (void)state;
  vg_preroll_t p;
  assert_int_equal(vg_preroll_init(&p, 5000000, 0), 0);
  /* Frames before the first keyframe cannot start a recording. */
  assert_int_equal(push(&p, 0, false, 0, 10), 0);
  assert_int_equal(p.count, 0);
  /* 25 fps video with a keyframe every second (25 frames), 20 s. Audio on
   * track 1 between the pictures. */
  int evicted = 0, keys = 0;
  for (int i = 0; i < 500; i++) {
    int64_t t = (int64_t)i * 40000;
    assert_int_equal(push(&p, 0, i % 25 == 0, t, 100), 1);
    assert_int_equal(push(&p, 1, true, t + 20000, 10), 1);
    evicted += evict_all(&p, &keys);
    /* The buffer starts with a keyframe at least 5 s old: between 5 and 6 s held. */
    vg_frame_t *head = &p.frames[p.head];
    assert_true(head->track == 0 && (head->flags & VG_FRAME_KEY));
    if (i >= 150) {
      int64_t span = t + 20000 - head->recv_us;
      assert_true(span >= 5000000);
      assert_true(span < 6000000 + 20000);
    }
  }
  /* Evicted: every frame older than the window's GOP, in order. */
  assert_int_equal(evicted + p.count, 1000);
  /* Evicted keyframes: the video GOP starts plus every audio frame. */
  assert_true(keys > 0);
  /* Popping gives everything in arrival order, starting at a keyframe. */
  vg_frame_t f;
  int64_t last = -1;
  int popped = 0;
  while (vg_preroll_pop(&p, &f)) {
    if (popped++ == 0) assert_true(f.flags & VG_FRAME_KEY);
    assert_true(f.recv_us > last);
    last = f.recv_us;
    vg_frame_unref(&f);
  }
  assert_int_equal(p.count, 0);
  assert_int_equal(p.bytes, 0);
  vg_preroll_free(&p);
}

static void test_preroll_zero_window_keeps_current_gop(void **state) {
  (void)state;
  vg_preroll_t p;
  vg_preroll_init(&p, 0, 0);
  for (int i = 0; i < 60; i++) {
    push(&p, 0, i % 25 == 0, (int64_t)i * 40000, 100);
    evict_all(&p, NULL);
  }
  /* Frames 50..59: the GOP in progress. */
  assert_int_equal(p.count, 10);
  assert_true(p.frames[p.head].flags & VG_FRAME_KEY);
  vg_preroll_free(&p);
}

static void test_preroll_bounds(void **state) {
  (void)state;
  vg_preroll_t p;
  /* A huge window: only the bounds evict. 1 MiB frames, a keyframe every 10. */
  vg_preroll_init(&p, INT64_MAX / 4, 0);
  for (int i = 0; i < 200; i++) {
    push(&p, 0, i % 10 == 0, (int64_t)i * 40000, 1u << 20);
    evict_all(&p, NULL);
    assert_true(p.bytes <= VG_PREROLL_MAX_BYTES + (10u << 20));
    assert_true(p.frames[p.head].flags & VG_FRAME_KEY);
  }
  vg_preroll_free(&p);

  /* No keyframe after the first one: the frame bound empties the buffer,
   * which starts again at the next keyframe. */
  vg_preroll_init(&p, INT64_MAX / 4, 0);
  for (int i = 0; i < VG_PREROLL_MAX_FRAMES + 100; i++) {
    push(&p, 0, i == 0, (int64_t)i * 1000, 1);
    assert_true(p.count <= VG_PREROLL_MAX_FRAMES);
  }
  assert_int_equal(p.count, 0);
  assert_int_equal(push(&p, 0, true, 999999999, 1), 1);
  assert_int_equal(p.count, 1);
  vg_preroll_free(&p);
}

/* --- the gate --- */

typedef struct {
  int full, keyframes, ends;
  int64_t first_full_us, last_keyframe_us;
  int nonkey_in_keyframes;
  int64_t last_written_us; /* writes are in time order */
  bool out_of_order;
} emitted_t;

static void on_emit(void *opaque, vg_frame_t *f, vg_rec_action_t action) {
  emitted_t *e = opaque;
  if (!f) {
    e->ends++;
    return;
  }
  if (f->recv_us < e->last_written_us) e->out_of_order = true;
  e->last_written_us = f->recv_us;
  if (action == VG_REC_FULL) {
    if (e->full++ == 0) e->first_full_us = f->recv_us;
  } else if (action == VG_REC_KEYFRAMES) {
    e->keyframes++;
    e->last_keyframe_us = f->recv_us;
    if (!(f->flags & VG_FRAME_KEY) || f->track != 0) e->nonkey_in_keyframes++;
  }
}

/* Feeds frames [from, to) of a 25 fps stream (keyframe every 25) plus audio. */
static void feed(vg_rec_gate_t *g, int from, int to, emitted_t *e) {
  for (int i = from; i < to; i++) {
    vg_frame_t v = frame(0, i % 25 == 0, (int64_t)i * 40000, 100);
    vg_rec_gate_frame(g, &v, on_emit, e);
    vg_frame_unref(&v);
    vg_frame_t a = frame(1, true, (int64_t)i * 40000 + 20000, 10);
    vg_rec_gate_frame(g, &a, on_emit, e);
    vg_frame_unref(&a);
  }
}

static void test_gate_intelligent(void **state) {
  (void)state;
  vg_rec_gate_t g;
  assert_int_equal(vg_rec_gate_init(&g, 2000000, 0), 0);
  g.mode = VG_REC_MODE_INTELLIGENT;
  emitted_t e = {0};
  /* 10 s idle: keyframes only, written about 2 s (the pre-roll) late. */
  feed(&g, 0, 250, &e);
  assert_int_equal(e.full, 0);
  assert_int_equal(e.nonkey_in_keyframes, 0);
  assert_true(e.keyframes >= 6 && e.keyframes <= 8);
  assert_true(e.last_keyframe_us <= 250 * 40000 - 2000000);
  int64_t last_idle_key = e.last_keyframe_us;
  /* A trigger at 10 s: the pre-roll from its keyframe, then everything. */
  g.active = true;
  feed(&g, 250, 500, &e);
  assert_true(e.first_full_us > last_idle_key);
  assert_true(e.first_full_us <= 250 * 40000 - 2000000);
  assert_int_equal(e.first_full_us % 1000000, 0); /* a keyframe */
  /* Every frame from there on: video and audio. */
  int64_t expected = (500 * 40000 - e.first_full_us) / 40000 * 2;
  assert_true(e.full >= expected - 1 && e.full <= expected + 1);
  /* The trigger ends: the full segment ends at once, idle keyframes follow later. */
  g.active = false;
  int ends = e.ends, keys = e.keyframes;
  feed(&g, 500, 501, &e);
  assert_int_equal(e.ends, ends + 1);
  feed(&g, 501, 600, &e);
  assert_true(e.keyframes > keys);
  assert_false(e.out_of_order);
  vg_rec_gate_free(&g);
}

static void test_gate_events_and_off(void **state) {
  (void)state;
  vg_rec_gate_t g;
  vg_rec_gate_init(&g, 1000000, 0);
  g.mode = VG_REC_MODE_EVENTS;
  emitted_t e = {0};
  feed(&g, 0, 100, &e);
  assert_int_equal(e.full + e.keyframes + e.ends, 0);
  g.active = true;
  feed(&g, 100, 150, &e);
  /* Pre-roll: from the keyframe at 2 s (the last one at least 1 s before 4 s). */
  assert_int_equal(e.first_full_us, 2000000);
  g.active = false;
  feed(&g, 150, 200, &e);
  assert_int_equal(e.ends, 1);
  assert_int_equal(e.keyframes, 0);
  /* Off: nothing, and the buffer is dropped. */
  g.mode = VG_REC_MODE_OFF;
  feed(&g, 200, 210, &e);
  assert_int_equal(g.preroll.count, 0);
  /* Continuous: everything at once, no pre-roll needed. */
  g.mode = VG_REC_MODE_CONTINUOUS;
  int full = e.full;
  feed(&g, 210, 220, &e);
  assert_int_equal(e.full, full + 20);
  /* New tracks: the buffer starts over. */
  g.mode = VG_REC_MODE_EVENTS;
  feed(&g, 225, 240, &e);
  assert_true(g.preroll.count > 0);
  vg_rec_gate_reset(&g, 0);
  assert_int_equal(g.preroll.count, 0);
  vg_rec_gate_free(&g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decide_continuous_and_off),
      cmocka_unit_test(test_decide_events),
      cmocka_unit_test(test_decide_intelligent),
      cmocka_unit_test(test_schedule),
      cmocka_unit_test(test_policy_config),
      cmocka_unit_test(test_preroll_window),
      cmocka_unit_test(test_preroll_zero_window_keeps_current_gop),
      cmocka_unit_test(test_preroll_bounds),
      cmocka_unit_test(test_gate_intelligent),
      cmocka_unit_test(test_gate_events_and_off),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
