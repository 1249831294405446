/* Unit tests for the recorder: configuration, the file layout, and a real
 * H.264 clip (camsim's encoder) pushed through a hub into segment files,
 * including write errors that are counted while recording goes on. */
/* cmocka needs these first. */
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
#include "net/worker.h"
#include "record/recorder.h"
#include "sim/clip.h"

static int parse(const char *text, vg_record_config_t *out, vg_cfg_t *c) {
  json_t *root;
  memset(c, 0, sizeof(*c));
  if (vg_cfg_load_string(c, text, &root)) return VG_ECONFIG;
  vg_cfg_enter(c, "record");
  int r = vg_record_config_parse(c, root, out);
  vg_cfg_leave(c);
  json_decref(root);
  return r;
}

static void test_config(void **state) {
  (void)state;
  vg_record_config_t rc;
  vg_cfg_t c = {0};
  assert_int_equal(vg_record_config_parse(&c, NULL, &rc), 0);
  assert_false(rc.enabled);
  assert_string_equal(rc.root, "var/recordings");
  assert_int_equal(rc.segment_s, 60);
  assert_int_equal(rc.fragment_ms, 1000);
  assert_int_equal(rc.writer_threads, 0); /* one per root, at least 2 */
  assert_int_equal(parse("{\"writer_threads\":4}", &rc, &c), 0);
  assert_int_equal(rc.writer_threads, 4);
  assert_int_equal(parse("{\"writer_threads\":33}", &rc, &c), VG_ECONFIG);
  assert_string_equal(c.err_path, "record.writer_threads");
  assert_int_equal(
      parse("{\"enabled\":true,\"root\":\"/srv/rec\",\"segment_s\":2,\"fragment_ms\":500}", &rc, &c), 0);
  assert_true(rc.enabled);
  assert_string_equal(rc.root, "/srv/rec");
  assert_int_equal(rc.segment_s, 2);
  assert_int_equal(rc.fragment_ms, 500);
  assert_int_equal(parse("{\"enabled\":true,\"segments\":2}", &rc, &c), VG_ECONFIG);
  assert_string_equal(c.err_path, "record.segments");
  assert_int_equal(parse("{\"segment_s\":0}", &rc, &c), VG_ECONFIG);
  assert_string_equal(c.err_path, "record.segment_s");
  assert_int_equal(parse("{\"fragment_ms\":\"1s\"}", &rc, &c), VG_ECONFIG);
  assert_string_equal(c.err_path, "record.fragment_ms");
  assert_int_equal(parse("{\"root\":\"\"}", &rc, &c), VG_ECONFIG);
  assert_string_equal(c.err_path, "record.root");
  assert_int_equal(parse("{\"enabled\":1}", &rc, &c), VG_ECONFIG);
  assert_string_equal(c.err_path, "record.enabled");
  /* The direct write path's keys: defaults, values, bad values. */
  memset(&c, 0, sizeof(c));
  assert_int_equal(vg_record_config_parse(&c, NULL, &rc), 0);
  assert_true(rc.direct_io);
  assert_int_equal(rc.preallocate_mb, 4);
  assert_int_equal(rc.index_interval_ms, 0);
  assert_int_equal(parse("{\"direct_io\":false,\"preallocate_mb\":0,\"index_interval_ms\":1000}", &rc, &c),
                   0);
  assert_false(rc.direct_io);
  assert_int_equal(rc.preallocate_mb, 0);
  assert_int_equal(rc.index_interval_ms, 1000);
  assert_int_equal(parse("{\"direct_io\":1}", &rc, &c), VG_ECONFIG);
  assert_string_equal(c.err_path, "record.direct_io");
  assert_int_equal(parse("{\"preallocate_mb\":1025}", &rc, &c), VG_ECONFIG);
  assert_string_equal(c.err_path, "record.preallocate_mb");
  assert_int_equal(parse("{\"index_interval_ms\":-1}", &rc, &c), VG_ECONFIG);
  assert_string_equal(c.err_path, "record.index_interval_ms");
}

static void test_path(void **state) {
  (void)state;
  char p[256];
  /* 2024-02-29 23:59:58.999999 UTC */
  int64_t t = 1709251198999999LL;
  const char *want = "/r/cam1/2024/02/29/23/cam1-20240229T235958Z.mp4";
  assert_int_equal(vg_record_segment_path("/r", "cam1", t, p, sizeof p), (int)strlen(want));
  assert_string_equal(p, want);
  assert_true(vg_record_segment_path("var/rec", "a.b-c_d", 0, p, sizeof p) > 0);
  assert_string_equal(p, "var/rec/a.b-c_d/1970/01/01/00/a.b-c_d-19700101T000000Z.mp4");
  assert_int_equal(vg_record_segment_path("/r", "cam1", t, p, 20), VG_ETOOBIG);
  assert_int_equal(vg_record_segment_path("/r", "..", t, p, sizeof p), VG_EINVAL);
  assert_int_equal(vg_record_segment_path("/r", ".", t, p, sizeof p), VG_EINVAL);
  assert_int_equal(vg_record_segment_path("/r", "a/b", t, p, sizeof p), VG_EINVAL);
  assert_int_equal(vg_record_segment_path("/r", "", t, p, sizeof p), VG_EINVAL);
}

static char tmpdir[64];

/* Pushes a 3 s clip (GOP 1 s) through a hub recorded with 1 s segments. */
static void record_clip(const char *root, const char *camera, vg_recorder_stats_t *st) {
  vg_clip_params_t p;
  vg_clip_params_defaults(&p);
  p.codec = VG_CODEC_H264;
  p.width = 320;
  p.height = 240;
  p.fps = 25;
  p.gop = 25;
  p.duration_s = 3;
  p.bitrate_kbps = 300;
  vg_clip_t *clip = NULL;
  assert_int_equal(vg_clip_encode(&p, &clip), 0);
  assert_int_equal(vg_workers_start(1), 0);
  vg_record_config_t cfg = {.enabled = true, .segment_s = 1, .fragment_ms = 200};
  snprintf(cfg.root, sizeof cfg.root, "%s", root);
  assert_int_equal(vg_recorders_start(&cfg), 0);
  vg_hub_t *hub = vg_hub_new(camera);
  assert_int_equal(vg_recorder_add(camera, hub, vg_worker_at(0)), 0);
  assert_int_equal(vg_recorder_add("..", hub, vg_worker_at(0)), VG_EINVAL);
  assert_int_equal(vg_hub_set_tracks(hub, clip->tracks, clip->track_count), 0);
  usleep(50000); /* the reader opens on the worker; it starts at a keyframe anyway */
  for (size_t i = 0; i < clip->frame_count; i++) {
    vg_frame_t f = clip->frames[i].frame;
    f.utc_us = 1709251198000000LL + clip->frames[i].time_us;
    vg_hub_push(hub, &f);
    if (i % 10 == 0) usleep(2000);
  }
  vg_hub_end(hub);
  /* The stream ended: the last segment is closed; wait for the writer. */
  for (int i = 0; i < 100; i++) {
    usleep(20000);
    assert_int_equal(vg_recorder_get_stats(camera, st), 0);
    if (st->segments + st->write_errors >= 3) break;
  }
  usleep(100000);
  assert_int_equal(vg_recorder_get_stats(camera, st), 0);
  vg_recorders_stop();
  vg_recorder_stats_t gone;
  assert_int_equal(vg_recorder_get_stats(camera, &gone), VG_ENOENT); /* gone after stop */
  vg_workers_stop();
  vg_hub_unref(&hub);
  vg_clip_free(&clip);
}

/* Sums the sizes of the regular files under dir; counts them. */
static long long du(const char *dir, int *files) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "find %s -type f -name '*.mp4' -printf '%%s\\n'", dir);
  FILE *f = popen(cmd, "r");
  long long total = 0, n;
  *files = 0;
  while (f && fscanf(f, "%lld", &n) == 1) {
    total += n;
    (*files)++;
  }
  if (f) pclose(f);
  return total;
}

static void test_records_segments(void **state) {
  (void)state;
  vg_recorder_stats_t st;
  char root[128];
  snprintf(root, sizeof root, "%s/rec", tmpdir);
  record_clip(root, "cam1", &st);
  int files = 0;
  long long bytes = du(root, &files);
  assert_int_equal(files, 3);
  assert_true(bytes > 3000);
  struct stat sb;
  char p[256];
  snprintf(p, sizeof p, "%s/cam1/2024/02/29/23/cam1-20240229T235958Z.mp4", root);
  assert_int_equal(stat(p, &sb), 0);
  snprintf(p, sizeof p, "%s/cam1/2024/02/29/23/cam1-20240229T235959Z.mp4", root);
  assert_int_equal(stat(p, &sb), 0);
  snprintf(p, sizeof p, "%s/cam1/2024/03/01/00/cam1-20240301T000000Z.mp4", root);
  assert_int_equal(stat(p, &sb), 0);
  char cmd[512];
  snprintf(cmd, sizeof cmd,
           "ffmpeg -nostdin -v error -xerror -i %s -f null - 2>&1 | grep -q . && exit 1 || exit 0", p);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(st.segments, 3);
  assert_int_equal(st.write_errors, 0);
  assert_int_equal(st.dropped, 0);
  assert_true(st.bytes > 3000 && (long long)st.bytes <= bytes);
}

static void test_write_errors_counted(void **state) {
  (void)state;
  char root[128];
  /* The root is a regular file: every mkdir fails with ENOTDIR. */
  snprintf(root, sizeof root, "%s/not-a-dir", tmpdir);
  FILE *f = fopen(root, "w");
  assert_non_null(f);
  fclose(f);
  vg_recorder_stats_t st;
  record_clip(root, "cam2", &st);
  int files = 0;
  du(tmpdir, &files);
  assert_int_equal(files, 0);
  /* One failed attempt per keyframe: the recorder retried with a new file each time. */
  assert_true(st.write_errors >= 2);
  assert_int_equal(st.segments, 0);
  assert_int_equal(st.bytes, 0);
}

static int setup(void **state) {
  (void)state;
  strcpy(tmpdir, "/tmp/vg_rec_XXXXXX");
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
      cmocka_unit_test(test_config),
      cmocka_unit_test(test_path),
      cmocka_unit_test_setup_teardown(test_records_segments, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_errors_counted, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
