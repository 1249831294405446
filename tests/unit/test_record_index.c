/* Unit tests for the recording index: segments and fragments are added,
 * appended, closed, trimmed and deleted; overlap queries find exactly the
 * segments touching a range; per-root totals add up; locked footage is
 * never offered for deletion; a batch is one transaction. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "db/db.h"
#include "record/index.h"

#define SEC 1000000LL

typedef struct {
  vg_db_t *db;
  vg_rec_index_t *ix;
} fixture_t;

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof(*f));
  if (!f || vg_db_open(":memory:", &f->db) != 0 || vg_rec_index_open(f->db, &f->ix) != 0) return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  vg_rec_index_close(&f->ix);
  vg_db_close(&f->db);
  free(f);
  return 0;
}

static int64_t add_segment(vg_rec_index_t *ix, const char *camera, const char *root, const char *path,
                           int64_t start_us) {
  vg_rec_segment_t s = {0};
  snprintf(s.camera, sizeof(s.camera), "%s", camera);
  snprintf(s.root, sizeof(s.root), "%s", root);
  snprintf(s.path, sizeof(s.path), "%s", path);
  s.start_us = s.end_us = start_us;
  s.bytes = 1000; /* the init segment */
  assert_int_equal(vg_rec_index_add_segment(ix, &s), 0);
  assert_true(s.id > 0);
  return s.id;
}

/* Appends n one-second fragments of 10000 bytes each after the init
 * segment, the first one a keyframe. */
static void add_fragments(vg_rec_index_t *ix, int64_t id, int64_t start_us, int n) {
  for (int i = 0; i < n; i++) {
    vg_rec_fragment_t fr = {.segment_id = id,
                            .offset = 1000 + (uint64_t)i * 10000,
                            .size = 10000,
                            .start_us = start_us + i * SEC,
                            .duration_us = SEC,
                            .key = i == 0,
                            .samples = 25};
    assert_int_equal(vg_rec_index_append_fragment(ix, &fr), 0);
  }
}

typedef struct {
  int count;
  int64_t ids[16];
  vg_rec_segment_t last;
} collected_t;

static int collect_segment(void *opaque, const vg_rec_segment_t *s) {
  collected_t *c = opaque;
  if (c->count < 16) c->ids[c->count] = s->id;
  c->count++;
  c->last = *s;
  return 0;
}

static int collect_fragment(void *opaque, const vg_rec_fragment_t *fr) {
  collected_t *c = opaque;
  if (c->count < 16) c->ids[c->count] = (int64_t)fr->offset;
  c->count++;
  return 0;
}

static void test_add_append_close(void **state) {
  fixture_t *f = *state;
  int64_t t0 = 1700000000 * SEC;
  int64_t id = add_segment(f->ix, "cam1", "/r1", "cam1/a.mp4", t0);
  add_fragments(f->ix, id, t0, 3);
  vg_rec_segment_t s;
  assert_int_equal(vg_rec_index_get_segment(f->ix, id, &s), 0);
  assert_string_equal(s.camera, "cam1");
  assert_string_equal(s.root, "/r1");
  assert_string_equal(s.path, "cam1/a.mp4");
  assert_string_equal(s.tier, "local");
  assert_int_equal(s.quality, VG_REC_QUALITY_FULL);
  assert_int_equal(s.start_us, t0);
  assert_int_equal(s.end_us, t0 + 3 * SEC);
  assert_int_equal(s.bytes, 31000);
  assert_int_equal(s.fragments, 3);
  assert_false(s.closed);

  /* The same offset twice is refused; a fragment of no segment too. */
  vg_rec_fragment_t dup = {.segment_id = id, .offset = 1000, .size = 1, .start_us = t0, .duration_us = 1};
  assert_int_equal(vg_rec_index_append_fragment(f->ix, &dup), VG_EEXIST);
  dup.segment_id = id + 100;
  assert_int_not_equal(vg_rec_index_append_fragment(f->ix, &dup), 0);
  /* The same file twice is refused. */
  vg_rec_segment_t again = {.start_us = t0};
  strcpy(again.camera, "cam1");
  strcpy(again.root, "/r1");
  strcpy(again.path, "cam1/a.mp4");
  assert_int_equal(vg_rec_index_add_segment(f->ix, &again), VG_EEXIST);

  assert_int_equal(vg_rec_index_close_segment(f->ix, id, t0 + 3 * SEC, 31000), 0);
  assert_int_equal(vg_rec_index_find_segment(f->ix, "/r1", "cam1/a.mp4", &s), 0);
  assert_int_equal(s.id, id);
  assert_true(s.closed);
  assert_int_equal(vg_rec_index_close_segment(f->ix, id + 100, 0, 0), VG_ENOENT);
  assert_int_equal(vg_rec_index_find_segment(f->ix, "/r2", "cam1/a.mp4", &s), VG_ENOENT);
  assert_true(vg_rec_index_writes(f->ix) >= 5);
}

static void test_fragments_and_trim(void **state) {
  fixture_t *f = *state;
  int64_t t0 = 1700000000 * SEC;
  int64_t id = add_segment(f->ix, "cam1", "/r1", "cam1/a.mp4", t0);
  add_fragments(f->ix, id, t0, 5);
  collected_t c = {0};
  assert_int_equal(vg_rec_index_fragments(f->ix, id, 0, INT64_MAX, collect_fragment, &c), 5);
  assert_int_equal(c.ids[0], 1000);
  assert_int_equal(c.ids[4], 41000);
  /* Fragments overlapping [t0 + 1.5 s, t0 + 3 s): the second and the third. */
  memset(&c, 0, sizeof(c));
  assert_int_equal(vg_rec_index_fragments(f->ix, id, t0 + 3 * SEC / 2, t0 + 3 * SEC, collect_fragment, &c),
                   2);
  assert_int_equal(c.ids[0], 11000);
  assert_int_equal(c.ids[1], 21000);
  /* Recovery trims from the fourth fragment on. */
  assert_int_equal(vg_rec_index_trim_fragments(f->ix, id, 31000), 2);
  vg_rec_segment_t s;
  assert_int_equal(vg_rec_index_get_segment(f->ix, id, &s), 0);
  assert_int_equal(s.fragments, 3);
  /* Deleting the segment takes its fragments along. */
  assert_int_equal(vg_rec_index_delete_segment(f->ix, id), 0);
  assert_int_equal(vg_rec_index_delete_segment(f->ix, id), VG_ENOENT);
  memset(&c, 0, sizeof(c));
  assert_int_equal(vg_rec_index_fragments(f->ix, id, 0, INT64_MAX, collect_fragment, &c), 0);
  assert_int_equal(vg_rec_index_get_segment(f->ix, id, &s), VG_ENOENT);
}

static void test_overlap_query(void **state) {
  fixture_t *f = *state;
  int64_t t0 = 1700000000 * SEC;
  /* cam1: [t0, t0+10), [t0+10, t0+20), [t0+30, t0+40); cam2: [t0, t0+40). */
  int64_t a = add_segment(f->ix, "cam1", "/r1", "a", t0);
  add_fragments(f->ix, a, t0, 10);
  int64_t b = add_segment(f->ix, "cam1", "/r1", "b", t0 + 10 * SEC);
  add_fragments(f->ix, b, t0 + 10 * SEC, 10);
  int64_t d = add_segment(f->ix, "cam1", "/r2", "d", t0 + 30 * SEC);
  add_fragments(f->ix, d, t0 + 30 * SEC, 10);
  int64_t other = add_segment(f->ix, "cam2", "/r1", "o", t0);
  add_fragments(f->ix, other, t0, 40);

  collected_t c = {0};
  assert_int_equal(vg_rec_index_query(f->ix, "cam1", t0 + 5 * SEC, t0 + 15 * SEC, collect_segment, &c), 2);
  assert_int_equal(c.ids[0], a);
  assert_int_equal(c.ids[1], b);
  /* Half-open ranges: a range ending where a segment starts does not touch it. */
  memset(&c, 0, sizeof(c));
  assert_int_equal(vg_rec_index_query(f->ix, "cam1", t0 + 20 * SEC, t0 + 30 * SEC, collect_segment, &c), 0);
  memset(&c, 0, sizeof(c));
  assert_int_equal(vg_rec_index_query(f->ix, "cam1", t0 + 19 * SEC, t0 + 31 * SEC, collect_segment, &c), 2);
  assert_int_equal(c.ids[0], b);
  assert_int_equal(c.ids[1], d);
  memset(&c, 0, sizeof(c));
  assert_int_equal(vg_rec_index_query(f->ix, "cam1", 0, INT64_MAX, collect_segment, &c), 3);
  /* An open segment with no fragment yet is found by a range holding its start. */
  int64_t e = add_segment(f->ix, "cam1", "/r1", "e", t0 + 50 * SEC);
  memset(&c, 0, sizeof(c));
  assert_int_equal(vg_rec_index_query(f->ix, "cam1", t0 + 45 * SEC, t0 + 55 * SEC, collect_segment, &c), 1);
  assert_int_equal(c.ids[0], e);
}

static int stop_after_one(void *opaque, const vg_rec_segment_t *s) {
  (void)s;
  (*(int *)opaque)++;
  return 1;
}

static int fail_cb(void *opaque, const vg_rec_segment_t *s) {
  (void)opaque;
  (void)s;
  return VG_ECANCELED;
}

static void test_callbacks_stop_and_fail(void **state) {
  fixture_t *f = *state;
  add_segment(f->ix, "cam1", "/r1", "a", 10 * SEC);
  add_segment(f->ix, "cam1", "/r1", "b", 20 * SEC);
  int n = 0;
  assert_int_equal(vg_rec_index_query(f->ix, "cam1", 0, INT64_MAX, stop_after_one, &n), 1);
  assert_int_equal(n, 1);
  assert_int_equal(vg_rec_index_query(f->ix, "cam1", 0, INT64_MAX, fail_cb, NULL), VG_ECANCELED);
}

static int collect_total(void *opaque, const vg_rec_root_total_t *t) {
  vg_rec_root_total_t *out = opaque;
  out[strcmp(t->root, "/r1") == 0 ? 0 : 1] = *t;
  return 0;
}

static void test_root_totals(void **state) {
  fixture_t *f = *state;
  int64_t a = add_segment(f->ix, "cam1", "/r1", "a", 0);
  add_fragments(f->ix, a, 0, 2); /* 21000 */
  int64_t b = add_segment(f->ix, "cam2", "/r1", "b", 0);
  add_fragments(f->ix, b, 0, 1); /* 11000 */
  int64_t c = add_segment(f->ix, "cam1", "/r2", "c", 0);
  add_fragments(f->ix, c, 0, 4); /* 41000 */
  vg_rec_root_total_t t[2];
  memset(t, 0, sizeof(t));
  assert_int_equal(vg_rec_index_root_totals(f->ix, collect_total, t), 2);
  assert_string_equal(t[0].root, "/r1");
  assert_int_equal(t[0].bytes, 32000);
  assert_int_equal(t[0].segments, 2);
  assert_string_equal(t[1].root, "/r2");
  assert_int_equal(t[1].bytes, 41000);
  uint64_t bytes;
  assert_int_equal(vg_rec_index_root_bytes(f->ix, "/r2", &bytes), 0);
  assert_int_equal(bytes, 41000);
  assert_int_equal(vg_rec_index_root_bytes(f->ix, "/none", &bytes), 0);
  assert_int_equal(bytes, 0);
}

/* The totals sum straight from the segments, to check the running ones. */
static uint64_t summed(fixture_t *f, const char *root, uint64_t *segments) {
  sqlite3_stmt *st;
  assert_int_equal(
      sqlite3_prepare_v2(vg_db_sqlite(f->db),
                         "SELECT coalesce(sum(bytes), 0), count(*) FROM rec_segments WHERE root = ?", -1, &st,
                         NULL),
      SQLITE_OK);
  sqlite3_bind_text(st, 1, root, -1, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  uint64_t bytes = (uint64_t)sqlite3_column_int64(st, 0);
  if (segments) *segments = (uint64_t)sqlite3_column_int64(st, 1);
  sqlite3_finalize(st);
  return bytes;
}

static void assert_total(fixture_t *f, const char *root, uint64_t want) {
  uint64_t bytes = 1;
  assert_int_equal(vg_rec_index_root_bytes(f->ix, root, &bytes), 0);
  assert_int_equal(bytes, want);
  assert_int_equal(summed(f, root, NULL), want);
}

/* The running totals follow every write (add, append, close, trim, delete;
 * in a batch and after a rollback), and reconciling repairs a total that
 * was changed behind the index's back. */
static void test_running_totals(void **state) {
  fixture_t *f = *state;
  int64_t a = add_segment(f->ix, "cam1", "/r1", "a", 0);
  assert_total(f, "/r1", 1000);
  add_fragments(f->ix, a, 0, 3);
  assert_total(f, "/r1", 31000);
  assert_int_equal(vg_rec_index_close_segment(f->ix, a, 3 * SEC, 25000), 0); /* trimmed by recovery */
  assert_total(f, "/r1", 25000);
  assert_int_equal(vg_rec_index_trim_fragments(f->ix, a, 21000), 1);
  assert_total(f, "/r1", 25000); /* trimming fragments leaves the segment's bytes to close_segment */

  assert_int_equal(vg_rec_index_begin(f->ix), 0);
  int64_t b = add_segment(f->ix, "cam2", "/r1", "b", 0);
  add_fragments(f->ix, b, 0, 1);
  vg_rec_index_rollback(f->ix);
  assert_total(f, "/r1", 25000);
  assert_int_equal(vg_rec_index_begin(f->ix), 0);
  b = add_segment(f->ix, "cam2", "/r1", "b", 0);
  add_fragments(f->ix, b, 0, 1);
  int64_t c = add_segment(f->ix, "cam1", "/r2", "c", 0);
  assert_int_equal(vg_rec_index_commit(f->ix), 0);
  assert_total(f, "/r1", 36000);
  assert_total(f, "/r2", 1000);

  assert_int_equal(vg_rec_index_delete_segment(f->ix, a), 0);
  assert_total(f, "/r1", 11000);
  assert_int_equal(vg_rec_index_delete_segment(f->ix, c), 0);
  assert_total(f, "/r2", 0);
  vg_rec_root_total_t t[2];
  memset(t, 0, sizeof(t));
  assert_int_equal(vg_rec_index_root_totals(f->ix, collect_total, t), 1); /* /r2 is empty */
  assert_int_equal(t[0].segments, 1);

  /* Nothing to repair, then a total edited by hand. */
  assert_int_equal(vg_rec_index_reconcile_totals(f->ix), 0);
  assert_int_equal(vg_db_exec(f->db, "UPDATE rec_root_usage SET bytes = 5 WHERE root = '/r1';"
                                     "INSERT INTO rec_root_usage VALUES ('/gone', 7, 1);"),
                   0);
  uint64_t bytes;
  assert_int_equal(vg_rec_index_root_bytes(f->ix, "/r1", &bytes), 0);
  assert_int_equal(bytes, 5);
  assert_int_equal(vg_rec_index_reconcile_totals(f->ix), 2);
  assert_total(f, "/r1", 11000);
  assert_total(f, "/gone", 0);
  assert_int_equal(vg_rec_index_reconcile_totals(f->ix), 0);
  /* Not inside a batch. */
  assert_int_equal(vg_rec_index_begin(f->ix), 0);
  assert_int_equal(vg_rec_index_reconcile_totals(f->ix), VG_EBUSY);
  vg_rec_index_rollback(f->ix);
}

static int collect_camera(void *opaque, const char *camera) {
  char *out = opaque;
  strcat(out, camera);
  strcat(out, ",");
  return strlen(out) > 12 ? 1 : 0;
}

static void test_cameras(void **state) {
  fixture_t *f = *state;
  char names[64] = "";
  assert_int_equal(vg_rec_index_cameras(f->ix, collect_camera, names), 0);
  add_segment(f->ix, "cam2", "/r1", "a", 0);
  add_segment(f->ix, "cam1", "/r1", "b", 0);
  add_segment(f->ix, "cam2", "/r2", "c", 0);
  add_segment(f->ix, "door", "/r1", "d", 0);
  assert_int_equal(vg_rec_index_cameras(f->ix, collect_camera, names), 3);
  assert_string_equal(names, "cam1,cam2,door,");
  /* cb stops early with a positive value. */
  names[0] = '\0';
  add_segment(f->ix, "a-long-camera-name", "/r1", "e", 0);
  assert_int_equal(vg_rec_index_cameras(f->ix, collect_camera, names), 1);
}

static void test_deletable_excludes_locks(void **state) {
  fixture_t *f = *state;
  int64_t ids[4];
  for (int i = 0; i < 4; i++) {
    char path[16];
    snprintf(path, sizeof(path), "s%d", i);
    ids[i] = add_segment(f->ix, "cam1", "/r1", path, i * 10 * SEC);
    add_fragments(f->ix, ids[i], i * 10 * SEC, 10);
    if (i < 3) assert_int_equal(vg_rec_index_close_segment(f->ix, ids[i], (i + 1) * 10 * SEC, 101000), 0);
  }
  /* Forever-lock on [12 s, 13 s) hides segment 1; an expired lock hides nothing. */
  vg_rec_lock_t lock = {.start_us = 12 * SEC, .end_us = 13 * SEC, .until_us = 0};
  strcpy(lock.camera, "cam1");
  strcpy(lock.reason, "evidence");
  assert_int_equal(vg_rec_index_add_lock(f->ix, &lock), 0);
  vg_rec_lock_t expired = {.start_us = 0, .end_us = 5 * SEC, .until_us = 100 * SEC};
  strcpy(expired.camera, "cam1");
  assert_int_equal(vg_rec_index_add_lock(f->ix, &expired), 0);
  /* A lock of another camera does not matter. */
  vg_rec_lock_t other = {.start_us = 0, .end_us = 100 * SEC};
  strcpy(other.camera, "cam2");
  assert_int_equal(vg_rec_index_add_lock(f->ix, &other), 0);

  collected_t c = {0};
  int64_t now = 200 * SEC;
  /* Segment 3 is open: never deletable. */
  assert_int_equal(vg_rec_index_deletable(f->ix, NULL, NULL, INT64_MAX, now, 10, collect_segment, &c), 2);
  assert_int_equal(c.ids[0], ids[0]);
  assert_int_equal(c.ids[1], ids[2]);
  /* While the second lock is active, segment 0 is held too. */
  memset(&c, 0, sizeof(c));
  assert_int_equal(vg_rec_index_deletable(f->ix, "/r1", "cam1", INT64_MAX, 50 * SEC, 10, collect_segment, &c),
                   1);
  assert_int_equal(c.ids[0], ids[2]);
  /* Age and limit filters. */
  memset(&c, 0, sizeof(c));
  assert_int_equal(vg_rec_index_deletable(f->ix, NULL, "cam1", 15 * SEC, now, 10, collect_segment, &c), 1);
  memset(&c, 0, sizeof(c));
  assert_int_equal(vg_rec_index_deletable(f->ix, NULL, NULL, INT64_MAX, now, 1, collect_segment, &c), 1);
  memset(&c, 0, sizeof(c));
  assert_int_equal(vg_rec_index_deletable(f->ix, "/r2", NULL, INT64_MAX, now, 10, collect_segment, &c), 0);

  /* Deleting the lock frees segment 1. */
  assert_int_equal(vg_rec_index_delete_lock(f->ix, lock.id), 0);
  assert_int_equal(vg_rec_index_delete_lock(f->ix, lock.id), VG_ENOENT);
  memset(&c, 0, sizeof(c));
  assert_int_equal(vg_rec_index_deletable(f->ix, NULL, NULL, INT64_MAX, now, 10, collect_segment, &c), 3);
  vg_rec_lock_t bad = {.start_us = 5, .end_us = 5};
  strcpy(bad.camera, "cam1");
  assert_int_equal(vg_rec_index_add_lock(f->ix, &bad), VG_EINVAL);
}

static int count_lock(void *opaque, const vg_rec_lock_t *l) {
  (void)l;
  (*(int *)opaque)++;
  return 0;
}

static int collect_mark(void *opaque, const vg_rec_mark_t *m) {
  vg_rec_mark_t *out = opaque;
  *out = *m;
  return 0;
}

static void test_locks_and_marks(void **state) {
  fixture_t *f = *state;
  vg_rec_lock_t l1 = {.start_us = 0, .end_us = 10, .until_us = 100};
  strcpy(l1.camera, "cam1");
  vg_rec_lock_t l2 = {.start_us = 0, .end_us = 10, .until_us = 0};
  strcpy(l2.camera, "cam1");
  assert_int_equal(vg_rec_index_add_lock(f->ix, &l1), 0);
  assert_int_equal(vg_rec_index_add_lock(f->ix, &l2), 0);
  int n = 0;
  assert_int_equal(vg_rec_index_locks(f->ix, "cam1", 0, count_lock, &n), 2);
  n = 0;
  assert_int_equal(vg_rec_index_locks(f->ix, "cam1", 200, count_lock, &n), 1);
  n = 0;
  assert_int_equal(vg_rec_index_locks(f->ix, "cam2", 0, count_lock, &n), 0);

  vg_rec_mark_t m = {.start_us = 100, .end_us = 200, .kind = VG_REC_MARK_MANUAL};
  strcpy(m.camera, "cam1");
  assert_int_equal(vg_rec_index_add_mark(f->ix, &m), 0);
  vg_rec_mark_t got = {0};
  assert_int_equal(vg_rec_index_marks(f->ix, "cam1", 150, 160, collect_mark, &got), 1);
  assert_int_equal(got.id, m.id);
  assert_int_equal(got.kind, VG_REC_MARK_MANUAL);
  assert_int_equal(vg_rec_index_marks(f->ix, "cam1", 200, 300, collect_mark, &got), 0);
  assert_int_equal(vg_rec_index_delete_marks_before(f->ix, "cam1", 150), 0);
  assert_int_equal(vg_rec_index_delete_marks_before(f->ix, NULL, 250), 1);
  assert_int_equal(vg_rec_index_marks(f->ix, "cam1", 0, INT64_MAX, collect_mark, &got), 0);
}

static int count_rows(vg_db_t *db, const char *sql) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(vg_db_sqlite(db), sql, -1, &st, NULL) != SQLITE_OK) return -1;
  int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
  sqlite3_finalize(st);
  return n;
}

/* A batch is one transaction: another connection sees none of it before
 * the commit and all of it after; a rollback leaves nothing. */
static void test_batched_writes(void **state) {
  (void)state;
  char path[] = "/tmp/vg_rec_index_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  unlink(path);
  vg_db_t *w, *r;
  vg_rec_index_t *ix;
  assert_int_equal(vg_db_open(path, &w), 0);
  assert_int_equal(vg_rec_index_open(w, &ix), 0);
  assert_int_equal(vg_db_open(path, &r), 0);

  int64_t id = add_segment(ix, "cam1", "/r1", "a", 0);
  assert_int_equal(vg_rec_index_begin(ix), 0);
  assert_int_equal(vg_rec_index_begin(ix), VG_EBUSY);
  add_fragments(ix, id, 0, 50);
  assert_int_equal(count_rows(r, "SELECT count(*) FROM rec_fragments"), 0);
  assert_int_equal(vg_rec_index_commit(ix), 0);
  assert_int_equal(count_rows(r, "SELECT count(*) FROM rec_fragments"), 50);
  assert_int_equal(count_rows(r, "SELECT fragments FROM rec_segments"), 50);

  assert_int_equal(vg_rec_index_begin(ix), 0);
  vg_rec_fragment_t fr = {.segment_id = id, .offset = 999999, .size = 1, .start_us = 0, .duration_us = 1};
  assert_int_equal(vg_rec_index_append_fragment(ix, &fr), 0);
  vg_rec_index_rollback(ix);
  assert_int_equal(count_rows(r, "SELECT count(*) FROM rec_fragments"), 50);
  assert_int_equal(vg_rec_index_commit(ix), VG_EINVAL);

  vg_db_close(&r);
  vg_rec_index_close(&ix);
  vg_db_close(&w);
  char side[600];
  unlink(path);
  snprintf(side, sizeof(side), "%s-wal", path);
  unlink(side);
  snprintf(side, sizeof(side), "%s-shm", path);
  unlink(side);
}

static void test_reopen_keeps_schema(void **state) {
  fixture_t *f = *state;
  int64_t id = add_segment(f->ix, "cam1", "/r1", "a", 0);
  vg_rec_index_close(&f->ix);
  assert_int_equal(vg_rec_index_open(f->db, &f->ix), 0);
  vg_rec_segment_t s;
  assert_int_equal(vg_rec_index_get_segment(f->ix, id, &s), 0);
  vg_rec_quality_t q;
  assert_int_equal(vg_rec_quality_parse("keyframes", &q), 0);
  assert_int_equal(q, VG_REC_QUALITY_KEYFRAMES);
  assert_int_equal(vg_rec_quality_parse("half", &q), VG_EINVAL);
  assert_string_equal(vg_rec_quality_name(VG_REC_QUALITY_KEYFRAMES), "keyframes");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_add_append_close, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fragments_and_trim, setup, teardown),
      cmocka_unit_test_setup_teardown(test_overlap_query, setup, teardown),
      cmocka_unit_test_setup_teardown(test_callbacks_stop_and_fail, setup, teardown),
      cmocka_unit_test_setup_teardown(test_root_totals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_running_totals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cameras, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deletable_excludes_locks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_locks_and_marks, setup, teardown),
      cmocka_unit_test(test_batched_writes),
      cmocka_unit_test_setup_teardown(test_reopen_keeps_schema, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
