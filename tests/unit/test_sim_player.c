/* Unit tests for camsim's player: pacing, timestamps across loops, phases,
 * stalls, and the real-time timer on a worker. */
/* cmocka needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libavutil/log.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "base/time.h"
#include "net/worker.h"
#include "sim/clip.h"
#include "sim/player.h"
#include "stream/hub.h"

/* 10 frames at 25 fps (GOP 5): a 400 ms loop, plus PCMU audio in 20 ms packets. */
static vg_clip_t *clip;

static int setup(void **state) {
  av_log_set_level(AV_LOG_ERROR);
  vg_clip_params_t p;
  vg_clip_params_defaults(&p);
  p.width = 160;
  p.height = 120;
  p.fps = 25;
  p.gop = 5;
  p.duration_s = 0.4;
  p.bitrate_kbps = 200;
  p.audio = VG_CODEC_PCMU;
  return vg_clip_encode(&p, &clip);
}

static int teardown(void **state) {
  vg_clip_free(&clip);
  return 0;
}

static vg_hub_reader_t *open_reader(vg_hub_t *hub) {
  vg_hub_reader_opts_t o = {.queue_frames = 4096};
  vg_hub_reader_t *r;
  assert_int_equal(vg_hub_open_reader(hub, &o, &r), 0);
  return r;
}

typedef struct {
  int video, audio;
  int64_t first_pts[2], last_pts[2];
  int keys;
  int64_t first_key_pts;
} seen_t;

/* Reads everything queued, checking every frame against the clip's rules. */
static void drain(vg_hub_reader_t *r, seen_t *s) {
  vg_frame_t f;
  int ret;
  while ((ret = vg_hub_read(r, &f)) != VG_EAGAIN && ret != VG_ECLOSED) {
    if (ret == VG_ESTATE) {
      vg_track_t t[VG_MAX_TRACKS];
      int n = vg_hub_reader_tracks(r, t, VG_MAX_TRACKS);
      assert_int_equal(n, 2);
      assert_int_equal(t[0].codec, VG_CODEC_H264);
      assert_int_equal(t[1].codec, VG_CODEC_PCMU);
      for (int i = 0; i < n; i++)
        vg_track_clear(&t[i]);
      continue;
    }
    assert_int_equal(ret, 0);
    int k = f.track;
    assert_true(k == 0 || k == 1);
    int *count = k == 0 ? &s->video : &s->audio;
    if (*count == 0) {
      s->first_pts[k] = f.pts;
    } else {
      /* Every step is exactly one frame, also where the clip wraps. */
      if (f.pts - s->last_pts[k] != (k == 0 ? 3600 : 160))
        fail_msg("track %d: pts %lld after %lld", k, (long long)f.pts, (long long)s->last_pts[k]);
    }
    if (k == 0 && (f.flags & VG_FRAME_KEY)) {
      if (s->keys++ == 0) s->first_key_pts = f.pts;
      assert_int_equal((f.pts - s->first_key_pts) % (5 * 3600), 0);
    }
    s->last_pts[k] = f.pts;
    (*count)++;
    /* The bytes are the clip's own, shared, not copied. */
    int found = 0;
    for (size_t i = 0; i < clip->frame_count && !found; i++)
      found = clip->frames[i].frame.buf == f.buf;
    assert_true(found);
    vg_frame_unref(&f);
  }
}

static void test_timestamps_monotonic_across_loops(void **state) {
  vg_hub_t *hub = vg_hub_new("cam1");
  vg_hub_reader_t *r = open_reader(hub);
  vg_sim_player_t *p;
  assert_int_equal(vg_sim_player_new(clip, &p), 0);
  assert_int_equal(vg_sim_player_add(p, hub, 0), 0);
  seen_t s = {0};
  int64_t t0 = 1000000000;
  /* 2.5 loops, ticking every 5 ms. */
  for (int64_t t = t0; t <= t0 + 1000000; t += 5000) {
    int64_t next = vg_sim_player_tick(p, t);
    assert_true(next > t);
    assert_true(next <= t + 40000);
    drain(r, &s);
  }
  /* Frames due in [0, 1 s]: 26 video (0, 40, ..., 1000 ms), 51 audio. */
  assert_int_equal(s.video, 26);
  assert_int_equal(s.audio, 51);
  assert_int_equal(s.first_pts[0], 0);
  assert_int_equal(s.last_pts[0], 25 * 3600);
  assert_int_equal(s.keys, 6);
  vg_sim_player_stats_t st;
  vg_sim_player_stats(p, &st);
  assert_int_equal(st.frames, 77);
  assert_int_equal(st.loops, 2);
  assert_int_equal(st.resyncs, 0);
  vg_hub_close_reader(&r);
  vg_sim_player_free(&p);
  vg_hub_stats_t hs;
  vg_hub_stats(hub, &hs);
  assert_false(hs.live); /* the player ended it */
  vg_hub_unref(&hub);
}

static void test_phases_spread_keyframes(void **state) {
  vg_hub_t *a = vg_hub_new("cam1"), *b = vg_hub_new("cam2");
  vg_hub_reader_t *ra = open_reader(a), *rb = open_reader(b);
  vg_sim_player_t *p;
  assert_int_equal(vg_sim_player_new(clip, &p), 0);
  assert_int_equal(vg_sim_player_add(p, a, 0), 0);
  /* 120 ms into the loop, and a phase beyond a period wraps (400 + 120). */
  assert_int_equal(vg_sim_player_add(p, b, 520000), 0);
  seen_t sa = {0}, sb = {0};
  vg_sim_player_tick(p, 0);
  vg_sim_player_stats_t st;
  vg_sim_player_stats(p, &st);
  /* a starts with its frame 0 and audio 0; b with its frame 3 and audio 6 (120 ms). */
  assert_int_equal(st.frames, 4);
  for (int64_t t = 0; t <= 400000; t += 10000) {
    vg_sim_player_tick(p, t);
    drain(ra, &sa);
    drain(rb, &sb);
  }
  /* Both run at the same rate: 11 frames each in 400 ms. b's reader
   * skipped b's frames 3 and 4, which precede its first keyframe (5, due
   * 80 ms into the run, while a's keyframes are due at 0, 200, 400 ms). */
  vg_sim_player_stats(p, &st);
  assert_int_equal(st.frames, 2 * (11 + 21));
  assert_int_equal(sa.video, 11);
  assert_int_equal(sa.first_key_pts, 0);
  assert_int_equal(sb.video, 9);
  assert_int_equal(sb.first_pts[0], 5 * 3600);
  assert_int_equal(sb.first_key_pts, 5 * 3600);
  vg_hub_close_reader(&ra);
  vg_hub_close_reader(&rb);
  vg_sim_player_free(&p);
  vg_hub_unref(&a);
  vg_hub_unref(&b);
}

static void test_stall_resyncs_without_burst(void **state) {
  vg_hub_t *hub = vg_hub_new("cam1");
  vg_hub_reader_t *r = open_reader(hub);
  vg_sim_player_t *p;
  assert_int_equal(vg_sim_player_new(clip, &p), 0);
  assert_int_equal(vg_sim_player_add(p, hub, 0), 0);
  seen_t s = {0};
  vg_sim_player_tick(p, 0);
  drain(r, &s);
  assert_int_equal(s.video, 1);
  /* Five seconds pass without a tick: the camera goes on where it was. */
  vg_sim_player_tick(p, 5000000);
  drain(r, &s);
  vg_sim_player_stats_t st;
  vg_sim_player_stats(p, &st);
  assert_int_equal(st.resyncs, 1);
  /* Only the next frame (audio at 20 ms) went out, not 5 s worth. */
  assert_int_equal(st.frames, 3);
  /* From there on the camera runs at its normal rate: 200 ms is 5 frames
   * (its next video frame is due 20 ms after the resync). */
  for (int64_t t = 5010000; t <= 5200000; t += 10000)
    vg_sim_player_tick(p, t);
  drain(r, &s);
  assert_int_equal(s.video, 6);
  vg_sim_player_stats(p, &st);
  assert_int_equal(st.resyncs, 1);
  vg_hub_close_reader(&r);
  vg_sim_player_free(&p);
  vg_hub_unref(&hub);
}

static void test_add_after_start_refused(void **state) {
  assert_int_equal(vg_workers_start(1), 0);
  vg_hub_t *hub = vg_hub_new("cam1");
  vg_sim_player_t *p;
  assert_int_equal(vg_sim_player_new(clip, &p), 0);
  assert_int_equal(vg_sim_player_start(p, vg_worker_at(0)), 0);
  assert_int_equal(vg_sim_player_add(p, hub, 0), VG_ESTATE);
  vg_sim_player_free(&p);
  vg_workers_stop();
  vg_hub_unref(&hub);
}

static void test_real_time_on_worker(void **state) {
  assert_int_equal(vg_workers_start(1), 0);
  enum { CAMS = 50 };
  vg_hub_t *hubs[CAMS];
  vg_sim_player_t *p;
  assert_int_equal(vg_sim_player_new(clip, &p), 0);
  for (int i = 0; i < CAMS; i++) {
    char name[16];
    snprintf(name, sizeof(name), "cam%d", i + 1);
    hubs[i] = vg_hub_new(name);
    assert_int_equal(vg_sim_player_add(p, hubs[i], (int64_t)i * 400000 / CAMS), 0);
  }
  vg_hub_reader_t *r = open_reader(hubs[7]);
  int64_t t0 = vg_time_mono_us();
  assert_int_equal(vg_sim_player_start(p, vg_worker_at(0)), 0);
  usleep(1000000);
  vg_sim_player_stats_t st;
  vg_sim_player_stats(p, &st);
  int64_t elapsed = vg_time_mono_us() - t0;
  vg_sim_player_free(&p);
  vg_workers_stop();
  /* 25 video + 50 audio frames per second per camera, within a few frames;
   * one timer serves all of them, so far fewer ticks than frames. */
  double expect = 75.0 * CAMS * (double)elapsed / 1e6;
  assert_true(st.frames > expect * 0.85 && st.frames < expect * 1.1);
  assert_true(st.ticks < st.frames / 4);
  assert_int_equal(st.resyncs, 0);
  seen_t s = {0};
  drain(r, &s);
  assert_true(s.video >= 21 && s.video <= 28);
  vg_frame_t f;
  assert_int_equal(vg_hub_read(r, &f), VG_ECLOSED);
  vg_hub_close_reader(&r);
  for (int i = 0; i < CAMS; i++)
    vg_hub_unref(&hubs[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_timestamps_monotonic_across_loops),
      cmocka_unit_test(test_phases_spread_keyframes),
      cmocka_unit_test(test_stall_resyncs_without_burst),
      cmocka_unit_test(test_add_after_start_refused),
      cmocka_unit_test(test_real_time_on_worker),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
