#include "record/index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/log.h"

/* The schema. Fragments go with their segment (ON DELETE CASCADE). A
 * segment is identified by (root, path) on disk, by id everywhere else. */
static const vg_db_migration_t migrations[] = {
    {1, "CREATE TABLE rec_segments ("
        " id INTEGER PRIMARY KEY,"
        " camera TEXT NOT NULL,"
        " root TEXT NOT NULL,"
        " path TEXT NOT NULL,"
        " start_us INTEGER NOT NULL,"
        " end_us INTEGER NOT NULL,"
        " bytes INTEGER NOT NULL DEFAULT 0,"
        " fragments INTEGER NOT NULL DEFAULT 0,"
        " closed INTEGER NOT NULL DEFAULT 0,"
        " quality TEXT NOT NULL DEFAULT 'full',"
        " tier TEXT NOT NULL DEFAULT 'local',"
        " UNIQUE (root, path));"
        "CREATE INDEX rec_segments_camera_start ON rec_segments (camera, start_us);"
        "CREATE INDEX rec_segments_start ON rec_segments (start_us);"
        "CREATE TABLE rec_fragments ("
        " segment_id INTEGER NOT NULL REFERENCES rec_segments (id) ON DELETE CASCADE,"
        " byte_offset INTEGER NOT NULL,"
        " byte_size INTEGER NOT NULL,"
        " start_us INTEGER NOT NULL,"
        " duration_us INTEGER NOT NULL,"
        " key INTEGER NOT NULL,"
        " samples INTEGER NOT NULL,"
        " PRIMARY KEY (segment_id, byte_offset));"
        "CREATE TABLE rec_locks ("
        " id INTEGER PRIMARY KEY,"
        " camera TEXT NOT NULL,"
        " start_us INTEGER NOT NULL,"
        " end_us INTEGER NOT NULL,"
        " until_us INTEGER NOT NULL DEFAULT 0,"
        " reason TEXT NOT NULL DEFAULT '');"
        "CREATE INDEX rec_locks_camera ON rec_locks (camera, start_us);"
        "CREATE TABLE rec_marks ("
        " id INTEGER PRIMARY KEY,"
        " camera TEXT NOT NULL,"
        " start_us INTEGER NOT NULL,"
        " end_us INTEGER NOT NULL,"
        " kind TEXT NOT NULL CHECK (kind IN ('event', 'manual')));"
        "CREATE INDEX rec_marks_camera ON rec_marks (camera, start_us);"},
    /* Running totals per root, kept by triggers in the transaction of every
     * change to rec_segments (whichever connection makes it), so that
     * "how much does this root hold" reads one row instead of summing
     * millions (retention asks every pass, the writer every minute).
     * vg_rec_index_reconcile_totals recomputes them at start. */
    {2, "CREATE TABLE rec_root_usage ("
        " root TEXT PRIMARY KEY,"
        " bytes INTEGER NOT NULL,"
        " segments INTEGER NOT NULL) WITHOUT ROWID;"
        "INSERT INTO rec_root_usage (root, bytes, segments)"
        " SELECT root, sum(bytes), count(*) FROM rec_segments GROUP BY root;"
        "CREATE TRIGGER rec_usage_insert AFTER INSERT ON rec_segments BEGIN"
        " INSERT INTO rec_root_usage (root, bytes, segments) VALUES (new.root, new.bytes, 1)"
        "  ON CONFLICT (root) DO UPDATE SET bytes = bytes + excluded.bytes, segments = segments + 1;"
        " END;"
        "CREATE TRIGGER rec_usage_delete AFTER DELETE ON rec_segments BEGIN"
        " UPDATE rec_root_usage SET bytes = bytes - old.bytes, segments = segments - 1 WHERE root = old.root;"
        " END;"
        /* The writer's case (a fragment appended) is one row update. */
        "CREATE TRIGGER rec_usage_grow AFTER UPDATE OF bytes ON rec_segments"
        " WHEN new.bytes != old.bytes AND new.root = old.root BEGIN"
        " UPDATE rec_root_usage SET bytes = bytes + new.bytes - old.bytes WHERE root = new.root;"
        " END;"
        "CREATE TRIGGER rec_usage_move AFTER UPDATE OF root ON rec_segments"
        " WHEN new.root != old.root BEGIN"
        " UPDATE rec_root_usage SET bytes = bytes - old.bytes, segments = segments - 1 WHERE root = old.root;"
        " INSERT INTO rec_root_usage (root, bytes, segments) VALUES (new.root, new.bytes, 1)"
        "  ON CONFLICT (root) DO UPDATE SET bytes = bytes + excluded.bytes, segments = segments + 1;"
        " END;"},
};

#define SEG_COLUMNS "id, camera, root, path, start_us, end_us, bytes, fragments, closed, quality, tier"

enum { ST_ADD_SEG, ST_ADD_FRAG, ST_UPDATE_SEG, ST_CLOSE_SEG, ST_COUNT };

static const char *const cached_sql[ST_COUNT] = {
    [ST_ADD_SEG] =
        "INSERT INTO rec_segments (camera, root, path, start_us, end_us, bytes, closed, quality, tier)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_ADD_FRAG] =
        "INSERT INTO rec_fragments (segment_id, byte_offset, byte_size, start_us, duration_us, key,"
        " samples) VALUES (?, ?, ?, ?, ?, ?, ?)",
    [ST_UPDATE_SEG] = "UPDATE rec_segments SET end_us = max(end_us, ?), bytes = max(bytes, ?),"
                      " fragments = fragments + 1 WHERE id = ?",
    [ST_CLOSE_SEG] = "UPDATE rec_segments SET closed = 1, end_us = ?, bytes = ? WHERE id = ?",
};

struct vg_rec_index {
  vg_db_t *db;
  sqlite3 *sq;
  sqlite3_stmt *st[ST_COUNT];
  int in_batch;
  uint64_t writes;
};

const char *vg_rec_quality_name(vg_rec_quality_t q) {
  return q == VG_REC_QUALITY_KEYFRAMES ? "keyframes" : q == VG_REC_QUALITY_SUBSTREAM ? "substream" : "full";
}

int vg_rec_quality_parse(const char *name, vg_rec_quality_t *out) {
  if (name && strcmp(name, "full") == 0)
    *out = VG_REC_QUALITY_FULL;
  else if (name && strcmp(name, "keyframes") == 0)
    *out = VG_REC_QUALITY_KEYFRAMES;
  else if (name && strcmp(name, "substream") == 0)
    *out = VG_REC_QUALITY_SUBSTREAM;
  else
    return VG_EINVAL;
  return 0;
}

int vg_rec_index_migrate(vg_db_t *db) {
  return vg_db_migrate(db, "record", migrations, (int)(sizeof(migrations) / sizeof(migrations[0])));
}

int vg_rec_index_open(vg_db_t *db, vg_rec_index_t **out) {
  *out = NULL;
  int err = vg_rec_index_migrate(db);
  if (err) return err;
  vg_rec_index_t *ix = calloc(1, sizeof(*ix));
  if (!ix) return VG_ENOMEM;
  ix->db = db;
  ix->sq = vg_db_sqlite(db);
  for (int i = 0; i < ST_COUNT; i++) {
    if (sqlite3_prepare_v3(ix->sq, cached_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &ix->st[i], NULL) !=
        SQLITE_OK) {
      err = vg_db_fail(db, "preparing the recording index");
      vg_rec_index_close(&ix);
      return err;
    }
  }
  *out = ix;
  return 0;
}

void vg_rec_index_close(vg_rec_index_t **ixp) {
  vg_rec_index_t *ix = *ixp;
  if (!ix) return;
  *ixp = NULL;
  if (ix->in_batch) vg_db_rollback(ix->db);
  for (int i = 0; i < ST_COUNT; i++)
    sqlite3_finalize(ix->st[i]);
  free(ix);
}

vg_db_t *vg_rec_index_db(vg_rec_index_t *ix) { return ix->db; }
uint64_t vg_rec_index_writes(vg_rec_index_t *ix) { return ix->writes; }

int vg_rec_index_begin(vg_rec_index_t *ix) {
  if (ix->in_batch) return VG_EBUSY;
  int err = vg_db_begin(ix->db);
  if (!err) ix->in_batch = 1;
  return err;
}

int vg_rec_index_commit(vg_rec_index_t *ix) {
  if (!ix->in_batch) return VG_EINVAL;
  int err = vg_db_commit(ix->db);
  if (err) vg_db_rollback(ix->db);
  ix->in_batch = 0;
  return err;
}

void vg_rec_index_rollback(vg_rec_index_t *ix) {
  if (ix->in_batch) vg_db_rollback(ix->db);
  ix->in_batch = 0;
}

/* Runs a cached statement to completion; resets it whatever happens. */
static int step_done(vg_rec_index_t *ix, sqlite3_stmt *st, const char *what) {
  int rc = sqlite3_step(st);
  int err = 0;
  if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
    err = VG_EEXIST;
  else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
    err = VG_ENOENT;
  else if (rc != SQLITE_DONE)
    err = vg_db_fail(ix->db, what);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return err;
}

static void copy_text(char *dst, size_t size, const unsigned char *src) {
  snprintf(dst, size, "%s", src ? (const char *)src : "");
}

/* Reads a row of SEG_COLUMNS. */
static void read_segment(sqlite3_stmt *st, vg_rec_segment_t *s) {
  memset(s, 0, sizeof(*s));
  s->id = sqlite3_column_int64(st, 0);
  copy_text(s->camera, sizeof(s->camera), sqlite3_column_text(st, 1));
  copy_text(s->root, sizeof(s->root), sqlite3_column_text(st, 2));
  copy_text(s->path, sizeof(s->path), sqlite3_column_text(st, 3));
  s->start_us = sqlite3_column_int64(st, 4);
  s->end_us = sqlite3_column_int64(st, 5);
  s->bytes = (uint64_t)sqlite3_column_int64(st, 6);
  s->fragments = (uint32_t)sqlite3_column_int64(st, 7);
  s->closed = sqlite3_column_int(st, 8) != 0;
  vg_rec_quality_parse((const char *)sqlite3_column_text(st, 9), &s->quality);
  copy_text(s->tier, sizeof(s->tier), sqlite3_column_text(st, 10));
}

static void read_fragment(sqlite3_stmt *st, vg_rec_fragment_t *f) {
  f->segment_id = sqlite3_column_int64(st, 0);
  f->offset = (uint64_t)sqlite3_column_int64(st, 1);
  f->size = (uint64_t)sqlite3_column_int64(st, 2);
  f->start_us = sqlite3_column_int64(st, 3);
  f->duration_us = sqlite3_column_int64(st, 4);
  f->key = sqlite3_column_int(st, 5) != 0;
  f->samples = (uint32_t)sqlite3_column_int64(st, 6);
}

static void read_lock(sqlite3_stmt *st, vg_rec_lock_t *l) {
  memset(l, 0, sizeof(*l));
  l->id = sqlite3_column_int64(st, 0);
  copy_text(l->camera, sizeof(l->camera), sqlite3_column_text(st, 1));
  l->start_us = sqlite3_column_int64(st, 2);
  l->end_us = sqlite3_column_int64(st, 3);
  l->until_us = sqlite3_column_int64(st, 4);
  copy_text(l->reason, sizeof(l->reason), sqlite3_column_text(st, 5));
}

static void read_mark(sqlite3_stmt *st, vg_rec_mark_t *m) {
  memset(m, 0, sizeof(*m));
  m->id = sqlite3_column_int64(st, 0);
  copy_text(m->camera, sizeof(m->camera), sqlite3_column_text(st, 1));
  m->start_us = sqlite3_column_int64(st, 2);
  m->end_us = sqlite3_column_int64(st, 3);
  const unsigned char *kind = sqlite3_column_text(st, 4);
  m->kind = kind && strcmp((const char *)kind, "manual") == 0 ? VG_REC_MARK_MANUAL : VG_REC_MARK_EVENT;
}

static void read_total(sqlite3_stmt *st, vg_rec_root_total_t *t) {
  memset(t, 0, sizeof(*t));
  copy_text(t->root, sizeof(t->root), sqlite3_column_text(st, 0));
  t->bytes = (uint64_t)sqlite3_column_int64(st, 1);
  t->segments = (uint64_t)sqlite3_column_int64(st, 2);
}

enum { ROW_SEGMENT, ROW_FRAGMENT, ROW_LOCK, ROW_MARK, ROW_TOTAL };

/* Steps a freshly prepared query (finalizing it) and hands each row to cb.
 * The statement is prepared per call rather than cached so that cb may call
 * back into the index. */
static int deliver(vg_rec_index_t *ix, sqlite3_stmt *st, int row_kind, void *cb, void *opaque) {
  int count = 0, ret = 0;
  for (;;) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      ret = vg_db_fail(ix->db, "reading the recording index");
      break;
    }
    int r = 0;
    switch (row_kind) {
    case ROW_SEGMENT: {
      vg_rec_segment_t s;
      read_segment(st, &s);
      r = ((vg_rec_segment_cb)cb)(opaque, &s);
      break;
    }
    case ROW_FRAGMENT: {
      vg_rec_fragment_t f;
      read_fragment(st, &f);
      r = ((vg_rec_fragment_cb)cb)(opaque, &f);
      break;
    }
    case ROW_LOCK: {
      vg_rec_lock_t l;
      read_lock(st, &l);
      r = ((vg_rec_lock_cb)cb)(opaque, &l);
      break;
    }
    case ROW_MARK: {
      vg_rec_mark_t m;
      read_mark(st, &m);
      r = ((vg_rec_mark_cb)cb)(opaque, &m);
      break;
    }
    default: {
      vg_rec_root_total_t t;
      read_total(st, &t);
      r = ((vg_rec_root_cb)cb)(opaque, &t);
      break;
    }
    }
    if (r < 0) {
      ret = r;
      break;
    }
    count++;
    if (r > 0) break;
  }
  sqlite3_finalize(st);
  return ret < 0 ? ret : count;
}

static int prepare(vg_rec_index_t *ix, const char *sql, sqlite3_stmt **st) {
  if (sqlite3_prepare_v2(ix->sq, sql, -1, st, NULL) != SQLITE_OK)
    return vg_db_fail(ix->db, "preparing a query");
  return 0;
}

/* Runs a one-off write statement; returns the rows changed. */
static int run_write(vg_rec_index_t *ix, sqlite3_stmt *st, const char *what) {
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return vg_db_fail(ix->db, what);
  return sqlite3_changes(ix->sq);
}

/* --- segments and fragments --- */

int vg_rec_index_add_segment(vg_rec_index_t *ix, vg_rec_segment_t *seg) {
  if (!seg->camera[0] || !seg->root[0] || !seg->path[0]) return VG_EINVAL;
  sqlite3_stmt *st = ix->st[ST_ADD_SEG];
  sqlite3_bind_text(st, 1, seg->camera, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, seg->root, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, seg->path, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, seg->start_us);
  sqlite3_bind_int64(st, 5, seg->end_us < seg->start_us ? seg->start_us : seg->end_us);
  sqlite3_bind_int64(st, 6, (sqlite3_int64)seg->bytes);
  sqlite3_bind_int(st, 7, seg->closed ? 1 : 0);
  sqlite3_bind_text(st, 8, vg_rec_quality_name(seg->quality), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 9, seg->tier[0] ? seg->tier : "local", -1, SQLITE_STATIC);
  int err = step_done(ix, st, "adding a segment");
  if (err) return err;
  seg->id = sqlite3_last_insert_rowid(ix->sq);
  seg->fragments = 0;
  ix->writes++;
  return 0;
}

int vg_rec_index_append_fragment(vg_rec_index_t *ix, const vg_rec_fragment_t *f) {
  sqlite3_stmt *st = ix->st[ST_ADD_FRAG];
  sqlite3_bind_int64(st, 1, f->segment_id);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)f->offset);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)f->size);
  sqlite3_bind_int64(st, 4, f->start_us);
  sqlite3_bind_int64(st, 5, f->duration_us);
  sqlite3_bind_int(st, 6, f->key ? 1 : 0);
  sqlite3_bind_int64(st, 7, f->samples);
  int err = step_done(ix, st, "adding a fragment");
  if (err) return err;
  st = ix->st[ST_UPDATE_SEG];
  sqlite3_bind_int64(st, 1, f->start_us + f->duration_us);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)(f->offset + f->size));
  sqlite3_bind_int64(st, 3, f->segment_id);
  err = step_done(ix, st, "updating a segment");
  if (err) return err;
  ix->writes++;
  return sqlite3_changes(ix->sq) == 1 ? 0 : VG_ENOENT;
}

int vg_rec_index_close_segment(vg_rec_index_t *ix, int64_t id, int64_t end_us, uint64_t bytes) {
  sqlite3_stmt *st = ix->st[ST_CLOSE_SEG];
  sqlite3_bind_int64(st, 1, end_us);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)bytes);
  sqlite3_bind_int64(st, 3, id);
  int err = step_done(ix, st, "closing a segment");
  if (err) return err;
  ix->writes++;
  return sqlite3_changes(ix->sq) == 1 ? 0 : VG_ENOENT;
}

int vg_rec_index_delete_segment(vg_rec_index_t *ix, int64_t id) {
  sqlite3_stmt *st;
  int err = prepare(ix, "DELETE FROM rec_segments WHERE id = ?", &st);
  if (err) return err;
  sqlite3_bind_int64(st, 1, id);
  int n = run_write(ix, st, "deleting a segment");
  if (n < 0) return n;
  ix->writes++;
  return n == 1 ? 0 : VG_ENOENT;
}

int vg_rec_index_trim_fragments(vg_rec_index_t *ix, int64_t id, uint64_t from_offset) {
  sqlite3_stmt *st;
  int err = prepare(ix, "DELETE FROM rec_fragments WHERE segment_id = ? AND byte_offset >= ?", &st);
  if (err) return err;
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)from_offset);
  int n = run_write(ix, st, "trimming fragments");
  if (n < 0) return n;
  err =
      prepare(ix,
              "UPDATE rec_segments SET fragments = (SELECT count(*) FROM rec_fragments WHERE segment_id = ?1)"
              " WHERE id = ?1",
              &st);
  if (err) return err;
  sqlite3_bind_int64(st, 1, id);
  int r = run_write(ix, st, "recounting fragments");
  return r < 0 ? r : n;
}

static int keep_first_segment(void *opaque, const vg_rec_segment_t *seg) {
  *(vg_rec_segment_t *)opaque = *seg;
  return 1;
}

int vg_rec_index_get_segment(vg_rec_index_t *ix, int64_t id, vg_rec_segment_t *out) {
  sqlite3_stmt *st;
  int err = prepare(ix, "SELECT " SEG_COLUMNS " FROM rec_segments WHERE id = ?", &st);
  if (err) return err;
  sqlite3_bind_int64(st, 1, id);
  int n = deliver(ix, st, ROW_SEGMENT, (void *)keep_first_segment, out);
  return n < 0 ? n : n == 0 ? VG_ENOENT : 0;
}

int vg_rec_index_find_segment(vg_rec_index_t *ix, const char *root, const char *path, vg_rec_segment_t *out) {
  sqlite3_stmt *st;
  int err = prepare(ix, "SELECT " SEG_COLUMNS " FROM rec_segments WHERE root = ? AND path = ?", &st);
  if (err) return err;
  sqlite3_bind_text(st, 1, root, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
  int n = deliver(ix, st, ROW_SEGMENT, (void *)keep_first_segment, out);
  return n < 0 ? n : n == 0 ? VG_ENOENT : 0;
}

int vg_rec_index_query(vg_rec_index_t *ix, const char *camera, int64_t start_us, int64_t end_us,
                       vg_rec_segment_cb cb, void *opaque) {
  sqlite3_stmt *st;
  /* An open segment without fragments has end_us == start_us; it still
   * overlaps a range that contains its start. */
  int err = prepare(ix,
                    "SELECT " SEG_COLUMNS " FROM rec_segments WHERE camera = ? AND start_us < ?"
                    " AND (end_us > ? OR (end_us = start_us AND start_us >= ?)) ORDER BY start_us, id",
                    &st);
  if (err) return err;
  sqlite3_bind_text(st, 1, camera, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, end_us);
  sqlite3_bind_int64(st, 3, start_us);
  sqlite3_bind_int64(st, 4, start_us);
  return deliver(ix, st, ROW_SEGMENT, (void *)cb, opaque);
}

int vg_rec_index_fragments(vg_rec_index_t *ix, int64_t segment_id, int64_t start_us, int64_t end_us,
                           vg_rec_fragment_cb cb, void *opaque) {
  sqlite3_stmt *st;
  int err = prepare(ix,
                    "SELECT segment_id, byte_offset, byte_size, start_us, duration_us, key, samples"
                    " FROM rec_fragments WHERE segment_id = ? AND start_us < ? AND start_us + duration_us > ?"
                    " ORDER BY byte_offset",
                    &st);
  if (err) return err;
  sqlite3_bind_int64(st, 1, segment_id);
  sqlite3_bind_int64(st, 2, end_us);
  sqlite3_bind_int64(st, 3, start_us);
  return deliver(ix, st, ROW_FRAGMENT, (void *)cb, opaque);
}

int vg_rec_index_unclosed(vg_rec_index_t *ix, const char *root, vg_rec_segment_cb cb, void *opaque) {
  sqlite3_stmt *st;
  int err = prepare(ix,
                    "SELECT " SEG_COLUMNS " FROM rec_segments WHERE closed = 0 AND (?1 IS NULL OR root = ?1)"
                    " ORDER BY id",
                    &st);
  if (err) return err;
  if (root) sqlite3_bind_text(st, 1, root, -1, SQLITE_STATIC);
  return deliver(ix, st, ROW_SEGMENT, (void *)cb, opaque);
}

int vg_rec_index_root_segments(vg_rec_index_t *ix, const char *root, vg_rec_segment_cb cb, void *opaque) {
  sqlite3_stmt *st;
  int err = prepare(ix, "SELECT " SEG_COLUMNS " FROM rec_segments WHERE root = ? ORDER BY id", &st);
  if (err) return err;
  sqlite3_bind_text(st, 1, root, -1, SQLITE_STATIC);
  return deliver(ix, st, ROW_SEGMENT, (void *)cb, opaque);
}

int vg_rec_index_root_totals(vg_rec_index_t *ix, vg_rec_root_cb cb, void *opaque) {
  sqlite3_stmt *st;
  int err =
      prepare(ix, "SELECT root, bytes, segments FROM rec_root_usage WHERE segments > 0 ORDER BY root", &st);
  if (err) return err;
  return deliver(ix, st, ROW_TOTAL, (void *)cb, opaque);
}

int vg_rec_index_root_bytes(vg_rec_index_t *ix, const char *root, uint64_t *bytes) {
  sqlite3_stmt *st;
  *bytes = 0;
  int err = prepare(ix, "SELECT bytes FROM rec_root_usage WHERE root = ? AND segments > 0", &st);
  if (err) return err;
  sqlite3_bind_text(st, 1, root, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) *bytes = (uint64_t)sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : vg_db_fail(ix->db, "reading a root's total");
}

int vg_rec_index_reconcile_totals(vg_rec_index_t *ix) {
  /* The roots whose kept total differs from the sum of their segments. */
  static const char *const drift_sql =
      "SELECT count(*) FROM (SELECT root, sum(bytes) AS b, count(*) AS n FROM rec_segments GROUP BY root) s"
      " FULL OUTER JOIN (SELECT * FROM rec_root_usage WHERE segments != 0 OR bytes != 0) u USING (root)"
      " WHERE s.b IS NOT u.bytes OR s.n IS NOT u.segments";
  if (ix->in_batch) return VG_EBUSY;
  int err = vg_db_begin(ix->db);
  if (err) return err;
  sqlite3_stmt *st;
  int drift = 0;
  err = prepare(ix, drift_sql, &st);
  if (!err) {
    if (sqlite3_step(st) == SQLITE_ROW)
      drift = sqlite3_column_int(st, 0);
    else
      err = vg_db_fail(ix->db, "checking the root totals");
    sqlite3_finalize(st);
  }
  if (!err && drift > 0) {
    err = prepare(ix, "DELETE FROM rec_root_usage", &st);
    if (!err) err = run_write(ix, st, "clearing the root totals");
    if (err >= 0)
      err = prepare(ix,
                    "INSERT INTO rec_root_usage (root, bytes, segments)"
                    " SELECT root, sum(bytes), count(*) FROM rec_segments GROUP BY root",
                    &st);
    if (err >= 0) err = run_write(ix, st, "recomputing the root totals");
  }
  if (err < 0) {
    vg_db_rollback(ix->db);
    return err;
  }
  err = vg_db_commit(ix->db);
  if (err) vg_db_rollback(ix->db);
  return err ? err : drift;
}

int vg_rec_index_cameras(vg_rec_index_t *ix, int (*cb)(void *opaque, const char *camera), void *opaque) {
  /* A skip scan of rec_segments_camera_start: one index seek per camera
   * instead of reading every segment. */
  sqlite3_stmt *st;
  int err = prepare(ix,
                    "WITH RECURSIVE c (name) AS (SELECT min(camera) FROM rec_segments"
                    " UNION ALL SELECT (SELECT min(camera) FROM rec_segments WHERE camera > c.name)"
                    " FROM c WHERE c.name IS NOT NULL)"
                    " SELECT name FROM c WHERE name IS NOT NULL",
                    &st);
  if (err) return err;
  int count = 0, rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int r = cb(opaque, (const char *)sqlite3_column_text(st, 0));
    if (r < 0) {
      sqlite3_finalize(st);
      return r;
    }
    count++;
    if (r > 0) break;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) count = vg_db_fail(ix->db, "listing the cameras");
  sqlite3_finalize(st);
  return count;
}

int vg_rec_index_deletable(vg_rec_index_t *ix, const char *root, const char *camera, int64_t before_us,
                           int64_t now_us, int limit, vg_rec_segment_cb cb, void *opaque) {
  sqlite3_stmt *st;
  /* With a camera, its index bounds the scan: a segment that ended by
   * before_us also started by then, so a camera with nothing old enough
   * costs one seek, not a walk over all its footage. */
  int err = prepare(ix,
                    camera ? "SELECT " SEG_COLUMNS " FROM rec_segments s INDEXED BY rec_segments_camera_start"
                             " WHERE closed = 1 AND (?1 IS NULL OR root = ?1) AND camera = ?2"
                             " AND start_us <= ?3 AND end_us <= ?3"
                             " AND NOT EXISTS (SELECT 1 FROM rec_locks l WHERE l.camera = s.camera"
                             "  AND l.start_us < s.end_us AND l.end_us > s.start_us"
                             "  AND (l.until_us = 0 OR l.until_us > ?4))"
                             " ORDER BY start_us, id LIMIT ?5"
                           : "SELECT " SEG_COLUMNS " FROM rec_segments s WHERE closed = 1"
                             " AND (?1 IS NULL OR root = ?1) AND (?2 IS NULL OR camera = ?2) AND end_us <= ?3"
                             " AND NOT EXISTS (SELECT 1 FROM rec_locks l WHERE l.camera = s.camera"
                             "  AND l.start_us < s.end_us AND l.end_us > s.start_us"
                             "  AND (l.until_us = 0 OR l.until_us > ?4))"
                             " ORDER BY start_us, id LIMIT ?5",
                    &st);
  if (err) return err;
  if (root) sqlite3_bind_text(st, 1, root, -1, SQLITE_STATIC);
  if (camera) sqlite3_bind_text(st, 2, camera, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, before_us);
  sqlite3_bind_int64(st, 4, now_us);
  sqlite3_bind_int(st, 5, limit < 0 ? 0 : limit);
  return deliver(ix, st, ROW_SEGMENT, (void *)cb, opaque);
}

/* --- locks and marks --- */

int vg_rec_index_add_lock(vg_rec_index_t *ix, vg_rec_lock_t *lock) {
  if (!lock->camera[0] || lock->end_us <= lock->start_us || lock->until_us < 0) return VG_EINVAL;
  sqlite3_stmt *st;
  int err = prepare(
      ix, "INSERT INTO rec_locks (camera, start_us, end_us, until_us, reason) VALUES (?, ?, ?, ?, ?)", &st);
  if (err) return err;
  sqlite3_bind_text(st, 1, lock->camera, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, lock->start_us);
  sqlite3_bind_int64(st, 3, lock->end_us);
  sqlite3_bind_int64(st, 4, lock->until_us);
  sqlite3_bind_text(st, 5, lock->reason, -1, SQLITE_STATIC);
  int n = run_write(ix, st, "adding a lock");
  if (n < 0) return n;
  lock->id = sqlite3_last_insert_rowid(ix->sq);
  return 0;
}

int vg_rec_index_delete_lock(vg_rec_index_t *ix, int64_t id) {
  sqlite3_stmt *st;
  int err = prepare(ix, "DELETE FROM rec_locks WHERE id = ?", &st);
  if (err) return err;
  sqlite3_bind_int64(st, 1, id);
  int n = run_write(ix, st, "deleting a lock");
  return n < 0 ? n : n == 1 ? 0 : VG_ENOENT;
}

int vg_rec_index_locks(vg_rec_index_t *ix, const char *camera, int64_t now_us, vg_rec_lock_cb cb,
                       void *opaque) {
  sqlite3_stmt *st;
  int err = prepare(ix,
                    "SELECT id, camera, start_us, end_us, until_us, reason FROM rec_locks"
                    " WHERE (?1 IS NULL OR camera = ?1) AND (?2 = 0 OR until_us = 0 OR until_us > ?2)"
                    " ORDER BY start_us, id",
                    &st);
  if (err) return err;
  if (camera) sqlite3_bind_text(st, 1, camera, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, now_us);
  return deliver(ix, st, ROW_LOCK, (void *)cb, opaque);
}

int vg_rec_index_add_mark(vg_rec_index_t *ix, vg_rec_mark_t *mark) {
  if (!mark->camera[0] || mark->end_us < mark->start_us) return VG_EINVAL;
  sqlite3_stmt *st;
  int err = prepare(ix, "INSERT INTO rec_marks (camera, start_us, end_us, kind) VALUES (?, ?, ?, ?)", &st);
  if (err) return err;
  sqlite3_bind_text(st, 1, mark->camera, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, mark->start_us);
  sqlite3_bind_int64(st, 3, mark->end_us);
  sqlite3_bind_text(st, 4, mark->kind == VG_REC_MARK_MANUAL ? "manual" : "event", -1, SQLITE_STATIC);
  int n = run_write(ix, st, "adding a mark");
  if (n < 0) return n;
  mark->id = sqlite3_last_insert_rowid(ix->sq);
  return 0;
}

int vg_rec_index_marks(vg_rec_index_t *ix, const char *camera, int64_t start_us, int64_t end_us,
                       vg_rec_mark_cb cb, void *opaque) {
  sqlite3_stmt *st;
  int err = prepare(ix,
                    "SELECT id, camera, start_us, end_us, kind FROM rec_marks WHERE camera = ?"
                    " AND start_us < ? AND (end_us > ? OR (end_us = start_us AND start_us >= ?))"
                    " ORDER BY start_us, id",
                    &st);
  if (err) return err;
  sqlite3_bind_text(st, 1, camera, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, end_us);
  sqlite3_bind_int64(st, 3, start_us);
  sqlite3_bind_int64(st, 4, start_us);
  return deliver(ix, st, ROW_MARK, (void *)cb, opaque);
}

int vg_rec_index_delete_marks_before(vg_rec_index_t *ix, const char *camera, int64_t before_us) {
  sqlite3_stmt *st;
  int err = prepare(ix, "DELETE FROM rec_marks WHERE (?1 IS NULL OR camera = ?1) AND end_us < ?2", &st);
  if (err) return err;
  if (camera) sqlite3_bind_text(st, 1, camera, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, before_us);
  return run_write(ix, st, "deleting marks");
}
