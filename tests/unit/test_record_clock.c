/* Unit tests for the recorder's index and clock: a real H.264 clip pushed
 * through a hub is recorded with its rows in the database (closed, bytes
 * equal to the file's size, fragments and times from the wall-clock anchor
 * plus media time); a camera clock that jumps forward or back by 10 s cuts
 * the segment at the next keyframe, and segments never overlap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "db/db.h"
#include "net/worker.h"
#include "record/index.h"
#include "record/recorder.h"
#include "sim/clip.h"

#define BASE_UTC 1709251198000000LL
#define SEC 1000000LL

static char tmpdir[64];

/* Pushes a 6 s clip (GOP 1 s) into camera's recorder; from 3 s on, the
 * frames' wall clock is off by jump_us. */
static void record_with_jump(const char *camera, int64_t jump_us, vg_recorder_stats_t *st) {
  vg_clip_params_t p;
  vg_clip_params_defaults(&p);
  p.codec = VG_CODEC_H264;
  p.width = 160;
  p.height = 120;
  p.fps = 25;
  p.gop = 25;
  p.duration_s = 6;
  p.bitrate_kbps = 200;
  vg_clip_t *clip = NULL;
  assert_int_equal(vg_clip_encode(&p, &clip), 0);
  assert_int_equal(vg_workers_start(1), 0);
  vg_record_config_t cfg = {.enabled = true, .segment_s = 60, .fragment_ms = 500};
  snprintf(cfg.root, sizeof cfg.root, "%s/rec", tmpdir);
  snprintf(cfg.db_path, sizeof cfg.db_path, "%s/vigil.db", tmpdir);
  assert_int_equal(vg_recorders_start(&cfg), 0);
  vg_hub_t *hub = vg_hub_new(camera);
  assert_int_equal(vg_recorder_add(camera, hub, vg_worker_at(0)), 0);
  assert_int_equal(vg_hub_set_tracks(hub, clip->tracks, clip->track_count), 0);
  usleep(150000); /* the reader opens on the worker */
  for (size_t i = 0; i < clip->frame_count; i++) {
    vg_frame_t f = clip->frames[i].frame;
    int64_t t = clip->frames[i].time_us;
    f.utc_us = BASE_UTC + t + (t >= 3 * SEC ? jump_us : 0);
    vg_hub_push(hub, &f);
    if (i % 10 == 0) usleep(2000);
  }
  vg_hub_end(hub);
  usleep(400000);
  assert_int_equal(vg_recorder_get_stats(camera, st), 0);
  vg_recorders_stop();
  vg_workers_stop();
  vg_hub_unref(&hub);
  vg_clip_free(&clip);
}

typedef struct {
  int count;
  vg_rec_segment_t segs[8];
} segs_t;

static int keep(void *opaque, const vg_rec_segment_t *s) {
  segs_t *l = opaque;
  if (l->count < 8) l->segs[l->count] = *s;
  l->count++;
  return 0;
}

typedef struct {
  int count, keys;
  int64_t prev_end;
  int contiguous;
} frags_t;

static int check_fragment(void *opaque, const vg_rec_fragment_t *f) {
  frags_t *c = opaque;
  if (c->count && (f->start_us < c->prev_end - 1000 || f->start_us > c->prev_end + 1000)) c->contiguous = 0;
  c->prev_end = f->start_us + f->duration_us;
  c->count++;
  c->keys += f->key;
  return 0;
}

static void check_camera(const char *camera, int64_t jump_us) {
  vg_db_t *db;
  vg_rec_index_t *ix;
  char path[256];
  snprintf(path, sizeof path, "%s/vigil.db", tmpdir);
  assert_int_equal(vg_db_open(path, &db), 0);
  assert_int_equal(vg_rec_index_open(db, &ix), 0);
  segs_t l = {0};
  assert_int_equal(vg_rec_index_query(ix, camera, 0, INT64_MAX, keep, &l), 2);
  for (int i = 0; i < 2; i++) {
    vg_rec_segment_t *s = &l.segs[i];
    assert_true(s->closed);
    assert_true(s->fragments >= 2);
    char file[1024];
    struct stat sb;
    snprintf(file, sizeof file, "%s/%s", s->root, s->path);
    assert_int_equal(stat(file, &sb), 0);
    assert_int_equal((uint64_t)sb.st_size, s->bytes);
    frags_t c = {.contiguous = 1};
    assert_int_equal(vg_rec_index_fragments(ix, s->id, 0, INT64_MAX, check_fragment, &c), (int)s->fragments);
    assert_true(c.contiguous);
    assert_true(c.keys >= 1);
    assert_int_equal(c.prev_end, s->end_us);
  }
  /* The first segment: the anchor, then 3 s of media time. */
  assert_int_equal(l.segs[0].start_us, BASE_UTC);
  assert_true(l.segs[0].end_us >= BASE_UTC + 2900000 && l.segs[0].end_us <= BASE_UTC + 3 * SEC + 1000);
  /* The second starts at the keyframe at 3 s: anchored anew when the clock
   * went forward, right after the first when it went back. */
  if (jump_us > 0)
    assert_int_equal(l.segs[1].start_us, BASE_UTC + 3 * SEC + jump_us);
  else
    assert_true(l.segs[1].start_us >= l.segs[0].end_us && l.segs[1].start_us <= l.segs[0].end_us + 50000);
  assert_true(l.segs[1].end_us - l.segs[1].start_us >= 2900000);
  vg_rec_index_close(&ix);
  vg_db_close(&db);
}

static void test_clock_jump_forward(void **state) {
  (void)state;
  vg_recorder_stats_t st;
  record_with_jump("fwd", 10 * SEC, &st);
  assert_int_equal(st.clock_jumps, 1);
  assert_int_equal(st.segments, 2);
  assert_int_equal(st.write_errors, 0);
  check_camera("fwd", 10 * SEC);
}

static void test_clock_jump_back(void **state) {
  (void)state;
  vg_recorder_stats_t st;
  record_with_jump("back", -10 * SEC, &st);
  assert_int_equal(st.clock_jumps, 1);
  assert_int_equal(st.segments, 2);
  check_camera("back", -10 * SEC);
}

static int setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/vg_rec_clock_XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_clock_jump_forward),
      cmocka_unit_test(test_clock_jump_back),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
