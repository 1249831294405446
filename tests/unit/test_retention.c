/* Unit tests for retention and triggers: which segments a pass deletes (by
 * age, with footage around events kept longer, locked ranges never, by
 * quota between the high and low water marks, by free space), that the row
 * and the file both go, that a pass stays within its batch, and the
 * trigger state (manual, events with post-roll) with its marks. The index
 * is an in-memory database; the files live in a temporary directory. */
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
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/time.h"
#include "db/db.h"
#include "record/index.h"
#include "record/retention.h"
#include "record/trigger.h"

#define SEC 1000000LL
#define HOUR (3600 * SEC)
#define NOW (1800000000 * SEC)

typedef struct {
  vg_db_t *db;
  vg_rec_index_t *ix;
  char root[64];
} fixture_t;

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof(*f));
  if (!f || vg_db_open(":memory:", &f->db) != 0 || vg_rec_index_open(f->db, &f->ix) != 0) return -1;
  snprintf(f->root, sizeof(f->root), "/tmp/vg_retention_XXXXXX");
  if (!mkdtemp(f->root)) return -1;
  vg_rec_policies_reset();
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
  assert_int_equal(system(cmd), 0);
  vg_rec_index_close(&f->ix);
  vg_db_close(&f->db);
  vg_rec_policies_reset();
  free(f);
  return 0;
}

/* A closed segment of camera from start for dur with a real file of bytes. */
static int64_t segment(fixture_t *f, const char *camera, int64_t start, int64_t dur, uint64_t bytes) {
  vg_rec_segment_t s = {0};
  snprintf(s.camera, sizeof(s.camera), "%s", camera);
  snprintf(s.root, sizeof(s.root), "%s", f->root);
  snprintf(s.path, sizeof(s.path), "%s-%lld.mp4", camera, (long long)(start / SEC));
  s.start_us = start;
  s.end_us = start + dur;
  s.bytes = bytes;
  s.closed = true;
  assert_int_equal(vg_rec_index_add_segment(f->ix, &s), 0);
  char file[256];
  snprintf(file, sizeof(file), "%s/%s", f->root, s.path);
  FILE *fp = fopen(file, "w");
  assert_non_null(fp);
  fclose(fp);
  return s.id;
}

/* Whether segment id still has its row, and its file still exists (both or neither). */
static bool exists(fixture_t *f, int64_t id) {
  vg_rec_segment_t s;
  if (vg_rec_index_get_segment(f->ix, id, &s) != 0) return false;
  char file[256];
  snprintf(file, sizeof(file), "%s/%s", f->root, s.path);
  assert_int_equal(access(file, F_OK), 0);
  return true;
}

static bool file_exists(fixture_t *f, const char *camera, int64_t start) {
  char file[256];
  snprintf(file, sizeof(file), "%s/%s-%lld.mp4", f->root, camera, (long long)(start / SEC));
  return access(file, F_OK) == 0;
}

static vg_retention_t *engine(fixture_t *f, uint64_t quota, int batch) {
  vg_retention_config_t cfg = {.root_count = 1, .batch = batch};
  vg_retention_root_default(&cfg.roots[0], f->root);
  cfg.roots[0].quota_bytes = quota;
  cfg.roots[0].low_water = 90;
  vg_retention_t *r;
  assert_int_equal(vg_retention_create(&cfg, &r), 0);
  return r;
}

static void policy(const char *camera, int64_t max_age_s, int64_t event_max_age_s) {
  vg_rec_policy_t p;
  vg_rec_policy_default(&p);
  p.max_age_s = max_age_s;
  p.event_max_age_s = event_max_age_s;
  assert_int_equal(vg_rec_policy_set(camera, &p), 0);
}

/* Ample space, so that only the rule under test deletes. */
static int space_ample(const char *path, vg_fs_space_t *out) {
  (void)path;
  out->total_bytes = 1ull << 40;
  out->free_bytes = 1ull << 39;
  return 0;
}

static void test_age_events_and_locks(void **state) {
  fixture_t *f = *state;
  policy("a", 24 * 3600, 7 * 24 * 3600);
  policy("b", 0, 0); /* no max age: kept */
  /* Camera a: one 1-hour segment per hour, 48 hours back. */
  int64_t ids[48];
  for (int h = 0; h < 48; h++)
    ids[h] = segment(f, "a", NOW - (48 - h) * HOUR, HOUR, 1000);
  int64_t b_old = segment(f, "b", NOW - 100 * HOUR, HOUR, 1000);
  /* An event in the segment of hour 5; a lock over hours 10-11. */
  vg_rec_mark_t m = {.camera = "a",
                     .start_us = NOW - 43 * HOUR + 60 * SEC,
                     .end_us = NOW - 43 * HOUR + 120 * SEC,
                     .kind = VG_REC_MARK_EVENT};
  assert_int_equal(vg_rec_index_add_mark(f->ix, &m), 0);
  vg_rec_lock_t l = {.camera = "a", .start_us = NOW - 38 * HOUR + SEC, .end_us = NOW - 36 * HOUR - SEC};
  snprintf(l.reason, sizeof(l.reason), "case 42");
  assert_int_equal(vg_rec_index_add_lock(f->ix, &l), 0);

  vg_retention_t *r = engine(f, 0, 8);
  vg_retention_set_space_fn(r, space_ample);
  vg_retention_report_t rep;
  /* Segments ending at or before NOW - 24 h: hours 0..23 (24 of them), less
   * the event's and the two locked ones. Batches of 8. */
  int total = 0, passes = 0;
  do {
    assert_int_equal(vg_retention_pass(r, f->ix, NOW, &rep), 0);
    assert_true(rep.deleted <= 8);
    total += rep.deleted;
    assert_int_equal(rep.by_age, rep.deleted);
    passes++;
  } while (rep.more && passes < 10);
  assert_int_equal(total, 24 - 1 - 2);
  assert_true(passes >= 3);
  for (int h = 0; h < 48; h++) {
    bool kept = h == 5 || h == 10 || h == 11 || h > 23;
    assert_int_equal(exists(f, ids[h]), kept);
    assert_int_equal(file_exists(f, "a", NOW - (48 - h) * HOUR), kept);
  }
  assert_true(exists(f, b_old));
  assert_true(rep.kept_for_events >= 1);
  uint64_t segs, bytes;
  vg_retention_camera_totals(r, "a", &segs, &bytes);
  assert_int_equal(segs, 21);
  assert_int_equal(bytes, 21000);

  /* Eight days later the event's footage has aged out too; the lock holds. */
  for (int i = 0; i < 10; i++)
    assert_int_equal(vg_retention_pass(r, f->ix, NOW + 8 * 24 * HOUR, &rep), 0);
  assert_false(exists(f, ids[5]));
  assert_true(exists(f, ids[10]));
  assert_true(exists(f, ids[11]));
  /* Once the lock is gone, so is its footage. */
  assert_int_equal(vg_rec_index_delete_lock(f->ix, l.id), 0);
  assert_int_equal(vg_retention_pass(r, f->ix, NOW + 8 * 24 * HOUR, &rep), 0);
  assert_false(exists(f, ids[10]));
  assert_false(exists(f, ids[11]));
  vg_retention_free(&r);
}

static void test_quota_water_marks(void **state) {
  fixture_t *f = *state;
  /* 100 segments of 10 kB across two cameras: 1 MB; quota 1.0 MB: at 95% high water. */
  int64_t ids[100];
  for (int i = 0; i < 100; i++)
    ids[i] = segment(f, i % 2 ? "x" : "y", NOW - (100 - i) * 60 * SEC, 60 * SEC, 10000);
  vg_rec_lock_t l = {.camera = "y", .start_us = NOW - 100 * 60 * SEC, .end_us = NOW - 99 * 60 * SEC};
  assert_int_equal(vg_rec_index_add_lock(f->ix, &l), 0);
  vg_retention_t *r = engine(f, 1000000, 4);
  vg_retention_set_space_fn(r, space_ample);
  vg_retention_report_t rep;
  /* 1 MB > 950 kB: deletes until <= 900 kB, i.e. 10 segments, the oldest
   * unlocked ones (1..10; 0 is locked), four per pass. */
  int total = 0;
  for (int i = 0; i < 5; i++) {
    assert_int_equal(vg_retention_pass(r, f->ix, NOW, &rep), 0);
    assert_true(rep.deleted <= 4);
    assert_int_equal(rep.by_quota, rep.deleted);
    total += rep.deleted;
  }
  assert_int_equal(total, 10);
  assert_true(exists(f, ids[0]));
  for (int i = 1; i <= 10; i++)
    assert_false(exists(f, ids[i]));
  assert_true(exists(f, ids[11]));
  uint64_t used;
  assert_int_equal(vg_rec_index_root_bytes(f->ix, f->root, &used), 0);
  assert_int_equal(used, 900000);
  /* Between the marks nothing happens: 940 kB after four more segments. */
  for (int i = 0; i < 4; i++)
    segment(f, "x", NOW + i * 60 * SEC, 60 * SEC, 10000);
  assert_int_equal(vg_retention_pass(r, f->ix, NOW, &rep), 0);
  assert_int_equal(rep.deleted, 0);
  /* Above high water again (960 kB): back down to 900 kB. */
  segment(f, "x", NOW + 10 * 60 * SEC, 60 * SEC, 20000);
  for (int i = 0; i < 5; i++)
    vg_retention_pass(r, f->ix, NOW, &rep);
  assert_int_equal(vg_rec_index_root_bytes(f->ix, f->root, &used), 0);
  assert_int_equal(used, 900000);
  assert_true(exists(f, ids[0]));
  vg_retention_free(&r);
}

/* A file system of 100 MB whose free space is what the test says, growing
 * by each file deleted (10 MB a segment). */
static uint64_t fake_free;
static int space_fake(const char *path, vg_fs_space_t *out) {
  (void)path;
  out->total_bytes = 100ull << 20;
  out->free_bytes = fake_free;
  return 0;
}

static void test_disk_full(void **state) {
  fixture_t *f = *state;
  int64_t ids[8];
  for (int i = 0; i < 8; i++)
    ids[i] = segment(f, "z", NOW - (8 - i) * 60 * SEC, 60 * SEC, 10 << 20);
  vg_retention_t *r = engine(f, 0, 2);
  vg_retention_set_space_fn(r, space_fake);
  vg_retention_report_t rep;
  /* Above the floor (1% = 1 MB): nothing. */
  fake_free = 1100 << 10;
  assert_int_equal(vg_retention_pass(r, f->ix, NOW, &rep), 0);
  assert_int_equal(rep.deleted, 0);
  /* Below it: deletes until twice the floor is free. The fake does not see
   * deletions, so the batch bounds the pass and the next pass, seeing space
   * again, stops. */
  fake_free = 500 << 10;
  assert_int_equal(vg_retention_pass(r, f->ix, NOW, &rep), 0);
  assert_int_equal(rep.deleted, 2);
  assert_int_equal(rep.by_space, 2);
  assert_true(rep.more);
  assert_false(exists(f, ids[0]));
  assert_false(exists(f, ids[1]));
  fake_free = 3 << 20;
  assert_int_equal(vg_retention_pass(r, f->ix, NOW, &rep), 0);
  assert_int_equal(rep.deleted, 0);
  assert_true(exists(f, ids[2]));
  vg_retention_free(&r);
}

static void test_config_checks(void **state) {
  (void)state;
  vg_retention_config_t cfg = {.root_count = 1};
  vg_retention_root_default(&cfg.roots[0], "/x");
  cfg.roots[0].low_water = 96;
  vg_retention_t *r;
  assert_int_equal(vg_retention_create(&cfg, &r), VG_EINVAL);
  vg_retention_root_default(&cfg.roots[0], "");
  assert_int_equal(vg_retention_create(&cfg, &r), VG_EINVAL);
  cfg.root_count = VG_RETENTION_MAX_ROOTS + 1;
  assert_int_equal(vg_retention_create(&cfg, &r), VG_EINVAL);
}

/* --- triggers --- */

typedef struct {
  vg_rec_mark_t marks[8];
  int n;
} marks_t;

static int got_mark(void *opaque, const vg_rec_mark_t *m) {
  marks_t *ms = opaque;
  if (ms->n < 8) ms->marks[ms->n++] = *m;
  return 0;
}

static void test_triggers(void **state) {
  (void)state;
  char db[] = "/tmp/vg_trigger_XXXXXX";
  int fd = mkstemp(db);
  assert_true(fd >= 0);
  close(fd);
  vg_rec_policy_t node;
  vg_rec_policy_default(&node);
  node.pre_roll_s = 2;
  node.post_roll_s = 3;
  assert_int_equal(vg_rec_policies_init(db, &node), 0);

  int64_t t0 = vg_time_utc_us(), until = 0;
  assert_false(vg_record_active("cam", t0));
  assert_int_equal(vg_record_trigger("cam", 0, "x", &until), VG_EINVAL);
  assert_int_equal(vg_record_trigger("cam", VG_RECORD_TRIGGER_MAX_S + 1, "x", &until), VG_EINVAL);
  assert_int_equal(vg_record_trigger("cam", 10, "test", &until), 0);
  assert_true(until >= t0 + 10 * SEC && until < t0 + 12 * SEC);
  assert_true(vg_record_active("cam", t0 + 9 * SEC));
  /* Then the post-roll (3 s). */
  assert_true(vg_record_active("cam", until + 2 * SEC));
  assert_false(vg_record_active("cam", until + 3 * SEC));
  /* A shorter trigger does not cut a longer one. */
  int64_t until2;
  assert_int_equal(vg_record_trigger("cam", 1, NULL, &until2), 0);
  assert_int_equal(until2, until);

  /* Events: counted, then post-roll. */
  assert_int_equal(vg_record_event_end("ev"), VG_EINVAL);
  assert_int_equal(vg_record_event_begin("ev", "motion"), 0);
  assert_int_equal(vg_record_event_begin("ev", "person"), 0);
  assert_true(vg_record_active("ev", t0 + 1000 * SEC));
  assert_int_equal(vg_record_event_end("ev"), 0);
  assert_true(vg_record_active("ev", t0 + 1000 * SEC));
  assert_int_equal(vg_record_event_end("ev"), 0);
  int64_t t1 = vg_time_utc_us();
  assert_true(vg_record_active("ev", t1 + 2 * SEC));
  assert_false(vg_record_active("ev", t1 + 4 * SEC));

  /* Marks: the manual one from its pre-roll to the end of its post-roll; the event's. */
  vg_rec_index_t *ix = vg_record_thread_index();
  assert_non_null(ix);
  /* Queued until the retention thread (here: the test) stores them. */
  marks_t none = {0};
  assert_int_equal(vg_rec_index_marks(ix, "cam", 0, INT64_MAX, got_mark, &none), 0);
  assert_int_equal(vg_record_flush_marks(ix), 5);
  assert_int_equal(vg_record_flush_marks(ix), 0);
  marks_t ms = {0};
  assert_true(vg_rec_index_marks(ix, "cam", 0, INT64_MAX, got_mark, &ms) >= 1);
  assert_int_equal(ms.marks[0].kind, VG_REC_MARK_MANUAL);
  assert_true(ms.marks[0].start_us <= t0 - 2 * SEC + SEC && ms.marks[0].end_us == until + 3 * SEC);
  memset(&ms, 0, sizeof(ms));
  assert_true(vg_rec_index_marks(ix, "ev", 0, INT64_MAX, got_mark, &ms) >= 2);
  assert_int_equal(ms.marks[ms.n - 1].kind, VG_REC_MARK_EVENT);
  bool covers_end = false;
  for (int i = 0; i < ms.n; i++)
    if (ms.marks[i].end_us >= t1 + 3 * SEC - SEC) covers_end = true;
  assert_true(covers_end);

  /* Policies: the node's by default, a camera's own when set. */
  vg_rec_policy_t p;
  vg_rec_policy_get("other", &p);
  assert_int_equal(p.post_roll_s, 3);
  p.mode = VG_REC_MODE_INTELLIGENT;
  vg_rec_policy_set("other", &p);
  vg_rec_policy_get("other", &p);
  assert_int_equal(p.mode, VG_REC_MODE_INTELLIGENT);
  assert_int_equal(vg_rec_policy_mode_at(&p, t0), VG_REC_MODE_INTELLIGENT);

  vg_record_thread_index_close();
  vg_rec_policies_reset();
  unlink(db);
  char side[64];
  snprintf(side, sizeof(side), "%s-wal", db);
  unlink(side);
  snprintf(side, sizeof(side), "%s-shm", db);
  unlink(side);
}

static double cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* What a pass costs over a large index that is under its quota: it must
 * not grow with the number of segments (the running totals answer "how
 * much does this root hold" without reading them). The index is a file
 * database like a node's; VG_RETENTION_BENCH_ROWS sets its size (default
 * 20,000; docs/BENCHMARKS.md used 1,000,000) and the timings are printed. */
static void test_pass_cost_large_index(void **state) {
  fixture_t *f = *state;
  const char *env = getenv("VG_RETENTION_BENCH_ROWS");
  long rows = env ? atol(env) : 20000;
  if (rows < 1000) rows = 1000;
  char path[128];
  snprintf(path, sizeof(path), "%s/index.db", f->root);
  vg_db_t *db;
  vg_rec_index_t *ix;
  assert_int_equal(vg_db_open(path, &db), 0);
  assert_int_equal(vg_rec_index_open(db, &ix), 0);
  /* Eight cameras of 60 s segments of 4 MB, the newest ending now. */
  double t0 = cpu_ms();
  assert_int_equal(vg_rec_index_begin(ix), 0);
  uint64_t total = 0;
  for (long i = 0; i < rows; i++) {
    vg_rec_segment_t s = {0};
    snprintf(s.camera, sizeof(s.camera), "cam%ld", i % 8);
    snprintf(s.root, sizeof(s.root), "%s", f->root);
    snprintf(s.path, sizeof(s.path), "cam%ld/%ld.mp4", i % 8, i);
    s.start_us = NOW - (rows / 8 - i / 8) * 60 * SEC;
    s.end_us = s.start_us + 60 * SEC;
    s.bytes = 4000000;
    s.closed = true;
    total += s.bytes;
    assert_int_equal(vg_rec_index_add_segment(ix, &s), 0);
  }
  assert_int_equal(vg_rec_index_commit(ix), 0);
  double fill_ms = cpu_ms() - t0;
  for (int c = 0; c < 8; c++) {
    char cam[16];
    snprintf(cam, sizeof(cam), "cam%d", c);
    policy(cam, 10 * 365 * 86400LL, 0); /* nothing is old enough */
  }
  /* Under the high-water mark: 2x the footage. */
  vg_retention_t *r = engine(f, total * 2, 32);
  vg_retention_set_space_fn(r, space_ample);
  vg_retention_report_t rep;
  const int passes = 20;
  t0 = cpu_ms();
  for (int i = 0; i < passes; i++) {
    assert_int_equal(vg_retention_pass(r, ix, NOW, &rep), 0);
    assert_int_equal(rep.deleted, 0);
  }
  double pass_ms = (cpu_ms() - t0) / passes;
  uint64_t used = 0;
  t0 = cpu_ms();
  for (int i = 0; i < passes; i++)
    assert_int_equal(vg_rec_index_root_bytes(ix, f->root, &used), 0);
  double bytes_ms = (cpu_ms() - t0) / passes;
  assert_int_equal(used, total);
  /* Over the quota: a pass deletes its batch and the total follows. */
  vg_retention_free(&r);
  r = engine(f, total / 2, 32);
  vg_retention_set_space_fn(r, space_ample);
  t0 = cpu_ms();
  assert_int_equal(vg_retention_pass(r, ix, NOW, &rep), 0);
  double reclaim_ms = cpu_ms() - t0;
  assert_int_equal(rep.deleted, 32);
  assert_int_equal(rep.by_quota, 32);
  assert_int_equal(vg_rec_index_root_bytes(ix, f->root, &used), 0);
  assert_int_equal(used, total - 32 * 4000000ull);
  /* What keeping the totals costs the writer: fragments appended (one
   * transaction per 50, as the writer batches them) with the triggers, then
   * without them, side by side. */
  double append_us[2];
  for (int with = 1; with >= 0; with--) {
    if (!with)
      assert_int_equal(vg_db_exec(db, "DROP TRIGGER rec_usage_insert; DROP TRIGGER rec_usage_grow;"
                                      "DROP TRIGGER rec_usage_move; "
                                      "DROP TRIGGER rec_usage_delete;"),
                       0);
    vg_rec_segment_t s = {0};
    snprintf(s.camera, sizeof(s.camera), "cam0");
    snprintf(s.root, sizeof(s.root), "%s", f->root);
    snprintf(s.path, sizeof(s.path), "append-%d.mp4", with);
    s.start_us = s.end_us = NOW;
    assert_int_equal(vg_rec_index_add_segment(ix, &s), 0);
    const int frags = 20000;
    t0 = cpu_ms();
    for (int i = 0; i < frags; i++) {
      if (i % 50 == 0) assert_int_equal(vg_rec_index_begin(ix), 0);
      vg_rec_fragment_t fr = {.segment_id = s.id,
                              .offset = 1000 + (uint64_t)i * 10000,
                              .size = 10000,
                              .start_us = NOW + i * SEC,
                              .duration_us = SEC,
                              .key = true,
                              .samples = 25};
      assert_int_equal(vg_rec_index_append_fragment(ix, &fr), 0);
      if (i % 50 == 49) assert_int_equal(vg_rec_index_commit(ix), 0);
    }
    append_us[with] = (cpu_ms() - t0) * 1000 / frags;
  }
  print_message("retention over %ld segments: fill %.0f ms CPU; pass under quota %.3f ms CPU; "
                "root bytes %.3f ms CPU; pass deleting 32 by quota %.3f ms CPU; fragment append %.2f us CPU "
                "with the totals' triggers, %.2f us without\n",
                rows, fill_ms, pass_ms, bytes_ms, reclaim_ms, append_us[1], append_us[0]);
  vg_retention_free(&r);
  vg_rec_index_close(&ix);
  vg_db_close(&db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_age_events_and_locks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_quota_water_marks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pass_cost_large_index, setup, teardown),
      cmocka_unit_test(test_config_checks),
      cmocka_unit_test(test_triggers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
