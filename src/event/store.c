#include "event/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/strbuf.h"

static const vg_db_migration_t migrations[] = {
    {1, "CREATE TABLE events ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " camera TEXT NOT NULL, sensor TEXT NOT NULL DEFAULT '', kind TEXT NOT NULL,"
        " label TEXT NOT NULL DEFAULT '', direction TEXT NOT NULL DEFAULT '',"
        " severity INTEGER NOT NULL, labels TEXT NOT NULL DEFAULT '',"
        " start_us INTEGER NOT NULL, end_us INTEGER NOT NULL DEFAULT 0, update_us INTEGER NOT NULL DEFAULT 0,"
        " best_score REAL NOT NULL DEFAULT 0, median_score REAL NOT NULL DEFAULT 0,"
        " x1 REAL NOT NULL DEFAULT 0, y1 REAL NOT NULL DEFAULT 0, x2 REAL NOT NULL DEFAULT 0,"
        " y2 REAL NOT NULL DEFAULT 0,"
        " track_id INTEGER NOT NULL DEFAULT 0, triggers INTEGER NOT NULL DEFAULT 0,"
        " active INTEGER NOT NULL DEFAULT 0, manual INTEGER NOT NULL DEFAULT 0,"
        " snapshot TEXT NOT NULL DEFAULT '', thumbnail TEXT NOT NULL DEFAULT '',"
        " false_positive INTEGER NOT NULL DEFAULT 0, fp_us INTEGER NOT NULL DEFAULT 0,"
        " retained INTEGER NOT NULL DEFAULT 0, lock_id INTEGER NOT NULL DEFAULT 0,"
        " tx1 REAL NOT NULL DEFAULT 0, ty1 REAL NOT NULL DEFAULT 0, tx2 REAL NOT NULL DEFAULT 0,"
        " ty2 REAL NOT NULL DEFAULT 0);"
        "CREATE INDEX events_start ON events(start_us, id);"
        "CREATE INDEX events_camera_start ON events(camera, start_us);"
        "CREATE INDEX events_end ON events(end_us);"},
};

#define COLUMNS                                                                                              \
  "id, camera, sensor, kind, label, direction, severity, labels, start_us, end_us, update_us, best_score,"   \
  " median_score, x1, y1, x2, y2, track_id, triggers, active, manual, snapshot, thumbnail, false_positive, " \
  "fp_us,"                                                                                                   \
  " retained, lock_id, tx1, ty1, tx2, ty2"

struct vg_event_store {
  vg_db_t *db;
  sqlite3_stmt *insert, *update, *get;
};

int vg_event_store_open(vg_db_t *db, vg_event_store_t **out) {
  int err = vg_db_migrate(db, "events", migrations, (int)(sizeof(migrations) / sizeof(migrations[0])));
  if (err) return err;
  vg_event_store_t *st = calloc(1, sizeof(*st));
  if (!st) return VG_ENOMEM;
  st->db = db;
  sqlite3 *s = vg_db_sqlite(db);
  if (sqlite3_prepare_v2(
          s,
          "INSERT INTO events (camera, sensor, kind, label, direction, severity, labels, start_us,"
          " end_us, update_us, best_score, median_score, x1, y1, x2, y2, track_id, triggers,"
          " active, manual, false_positive, retained, tx1, ty1, tx2, ty2)"
          " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
          -1, &st->insert, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(
          s,
          "UPDATE events SET camera=?, sensor=?, kind=?, label=?, direction=?, severity=?, labels=?,"
          " start_us=?, end_us=?, update_us=?, best_score=?, median_score=?, x1=?, y1=?, x2=?,"
          " y2=?, track_id=?, triggers=?, active=?, manual=?, false_positive=?, retained=?, tx1=?, ty1=?,"
          " tx2=?, ty2=?"
          " WHERE id=?",
          -1, &st->update, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(s, "SELECT " COLUMNS " FROM events WHERE id=?", -1, &st->get, NULL) != SQLITE_OK) {
    err = vg_db_fail(db, "events: prepare");
    vg_event_store_close(&st);
    return err;
  }
  *out = st;
  return 0;
}

void vg_event_store_close(vg_event_store_t **stp) {
  vg_event_store_t *st = *stp;
  if (!st) return;
  *stp = NULL;
  sqlite3_finalize(st->insert);
  sqlite3_finalize(st->update);
  sqlite3_finalize(st->get);
  free(st);
}

void vg_event_query_init(vg_event_query_t *q) {
  memset(q, 0, sizeof(*q));
  q->min_severity = -1;
  q->false_positive = -1;
  q->limit = 50;
}

/* Binds the 26 writable fields in the order of the INSERT and UPDATE. */
static void bind_fields(sqlite3_stmt *s, const vg_event_t *ev) {
  int i = 1;
  sqlite3_bind_text(s, i++, ev->camera, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, i++, ev->sensor, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, i++, ev->kind, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, i++, ev->label, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, i++, ev->direction, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(s, i++, ev->severity);
  sqlite3_bind_text(s, i++, ev->labels, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(s, i++, ev->start_utc_us);
  sqlite3_bind_int64(s, i++, ev->end_utc_us);
  sqlite3_bind_int64(s, i++, ev->update_utc_us);
  sqlite3_bind_double(s, i++, ev->best_score);
  sqlite3_bind_double(s, i++, ev->median_score);
  for (int k = 0; k < 4; k++)
    sqlite3_bind_double(s, i++, ev->box[k]);
  sqlite3_bind_int64(s, i++, ev->track_id);
  sqlite3_bind_int64(s, i++, ev->triggers);
  sqlite3_bind_int(s, i++, ev->active);
  sqlite3_bind_int(s, i++, ev->manual);
  sqlite3_bind_int(s, i++, ev->false_positive);
  sqlite3_bind_int(s, i++, ev->retained);
  for (int k = 0; k < 4; k++)
    sqlite3_bind_double(s, i++, ev->trigger_box[k]);
}

static void text_col(sqlite3_stmt *s, int col, char *out, size_t size) {
  const unsigned char *t = sqlite3_column_text(s, col);
  snprintf(out, size, "%s", t ? (const char *)t : "");
}

/* Reads a row of COLUMNS. */
static void read_row(sqlite3_stmt *s, vg_event_t *ev, vg_event_files_t *files) {
  memset(ev, 0, sizeof(*ev));
  int i = 0;
  ev->id = sqlite3_column_int64(s, i++);
  text_col(s, i++, ev->camera, sizeof(ev->camera));
  text_col(s, i++, ev->sensor, sizeof(ev->sensor));
  text_col(s, i++, ev->kind, sizeof(ev->kind));
  text_col(s, i++, ev->label, sizeof(ev->label));
  text_col(s, i++, ev->direction, sizeof(ev->direction));
  ev->severity = sqlite3_column_int(s, i++);
  text_col(s, i++, ev->labels, sizeof(ev->labels));
  ev->start_utc_us = sqlite3_column_int64(s, i++);
  ev->end_utc_us = sqlite3_column_int64(s, i++);
  ev->update_utc_us = sqlite3_column_int64(s, i++);
  ev->best_score = (float)sqlite3_column_double(s, i++);
  ev->median_score = (float)sqlite3_column_double(s, i++);
  for (int k = 0; k < 4; k++)
    ev->box[k] = (float)sqlite3_column_double(s, i++);
  ev->track_id = (uint32_t)sqlite3_column_int64(s, i++);
  ev->triggers = (uint32_t)sqlite3_column_int64(s, i++);
  ev->active = sqlite3_column_int(s, i++) != 0;
  ev->manual = sqlite3_column_int(s, i++) != 0;
  vg_event_files_t f = {0};
  text_col(s, i++, f.snapshot, sizeof(f.snapshot));
  text_col(s, i++, f.thumbnail, sizeof(f.thumbnail));
  ev->false_positive = sqlite3_column_int(s, i++) != 0;
  f.fp_utc_us = sqlite3_column_int64(s, i++);
  ev->retained = sqlite3_column_int(s, i++) != 0;
  f.lock_id = sqlite3_column_int64(s, i++);
  for (int k = 0; k < 4; k++)
    ev->trigger_box[k] = (float)sqlite3_column_double(s, i++);
  ev->snapshot = f.snapshot[0] != 0;
  if (files) *files = f;
}

static int step_done(vg_event_store_t *st, sqlite3_stmt *s, const char *what) {
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return rc == SQLITE_DONE ? 0 : vg_db_fail(st->db, what);
}

int vg_event_store_insert(vg_event_store_t *st, vg_event_t *ev) {
  bind_fields(st->insert, ev);
  int err = step_done(st, st->insert, "events: insert");
  if (!err) ev->id = sqlite3_last_insert_rowid(vg_db_sqlite(st->db));
  return err;
}

static int changed(vg_event_store_t *st, int err) {
  if (err) return err;
  return sqlite3_changes(vg_db_sqlite(st->db)) > 0 ? 0 : VG_ENOENT;
}

int vg_event_store_update(vg_event_store_t *st, const vg_event_t *ev) {
  bind_fields(st->update, ev);
  sqlite3_bind_int64(st->update, 27, ev->id);
  return changed(st, step_done(st, st->update, "events: update"));
}

/* A one-off statement: prepare, bind (fmt: 'i' int64, 't' text), step. */
static int exec_bound(vg_event_store_t *st, const char *sql, const char *fmt, ...) {
  sqlite3_stmt *s;
  if (sqlite3_prepare_v2(vg_db_sqlite(st->db), sql, -1, &s, NULL) != SQLITE_OK)
    return vg_db_fail(st->db, "events: prepare");
  va_list ap;
  va_start(ap, fmt);
  for (int i = 0; fmt[i]; i++) {
    if (fmt[i] == 'i')
      sqlite3_bind_int64(s, i + 1, va_arg(ap, int64_t));
    else
      sqlite3_bind_text(s, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
  }
  va_end(ap);
  int rc = sqlite3_step(s);
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return vg_db_fail(st->db, sql);
  return sqlite3_changes(vg_db_sqlite(st->db)) > 0 ? 0 : VG_ENOENT;
}

int vg_event_store_set_files(vg_event_store_t *st, int64_t id, const char *snapshot, const char *thumbnail) {
  return exec_bound(st, "UPDATE events SET snapshot=?, thumbnail=? WHERE id=?", "tti", snapshot, thumbnail,
                    id);
}

int vg_event_store_set_lock(vg_event_store_t *st, int64_t id, int64_t lock_id) {
  return exec_bound(st, "UPDATE events SET lock_id=? WHERE id=?", "ii", lock_id, id);
}

int vg_event_store_set_flags(vg_event_store_t *st, int64_t id, int false_positive, int retained,
                             int64_t utc_us) {
  int err = 0;
  if (false_positive >= 0)
    err = exec_bound(st, "UPDATE events SET false_positive=?, fp_us=? WHERE id=?", "iii",
                     (int64_t)false_positive, false_positive ? utc_us : (int64_t)0, id);
  if (!err && retained >= 0)
    err = exec_bound(st, "UPDATE events SET retained=? WHERE id=?", "ii", (int64_t)retained, id);
  return err;
}

int vg_event_store_get(vg_event_store_t *st, int64_t id, vg_event_t *out, vg_event_files_t *files) {
  sqlite3_bind_int64(st->get, 1, id);
  int rc = sqlite3_step(st->get);
  int err = 0;
  if (rc == SQLITE_ROW)
    read_row(st->get, out, files);
  else
    err = rc == SQLITE_DONE ? VG_ENOENT : vg_db_fail(st->db, "events: get");
  sqlite3_reset(st->get);
  return err;
}

int vg_event_store_delete(vg_event_store_t *st, int64_t id) {
  return exec_bound(st, "DELETE FROM events WHERE id=?", "i", id);
}

/* ---- queries ---- */

typedef struct {
  char type; /* 'i' or 't' */
  int64_t i;
  const char *t;
} bind_t;

#define MAX_BINDS (16 + VG_EVENT_QUERY_MAX_CAMERAS)

typedef struct {
  vg_strbuf_t where;
  bind_t binds[MAX_BINDS];
  int n;
} filter_t;

static void add_int(filter_t *f, const char *cond, int64_t v) {
  vg_strbuf_printf(&f->where, " AND %s", cond);
  f->binds[f->n++] = (bind_t){'i', v, NULL};
}

static void add_text(filter_t *f, const char *cond, const char *v) {
  vg_strbuf_printf(&f->where, " AND %s", cond);
  f->binds[f->n++] = (bind_t){'t', 0, v};
}

/* The LIKE pattern "%text%" with %, _ and \ escaped by \. */
static void like_pattern(const char *text, char *out, size_t size) {
  size_t n = 0;
  out[n++] = '%';
  for (const char *p = text; *p && n + 3 < size; p++) {
    if (*p == '%' || *p == '_' || *p == '\\') out[n++] = '\\';
    out[n++] = *p;
  }
  out[n++] = '%';
  out[n] = 0;
}

static void build_filter(const vg_event_query_t *q, filter_t *f, char *like, size_t like_size) {
  vg_strbuf_init(&f->where, 64 * 1024);
  f->n = 0;
  vg_strbuf_puts(&f->where, "1");
  if (q->camera[0]) add_text(f, "camera = ?", q->camera);
  if (q->cameras) {
    vg_strbuf_puts(&f->where, " AND camera IN (''");
    for (int i = 0; i < q->camera_count && i < VG_EVENT_QUERY_MAX_CAMERAS; i++) {
      vg_strbuf_puts(&f->where, ",?");
      f->binds[f->n++] = (bind_t){'t', 0, q->cameras[i]};
    }
    vg_strbuf_puts(&f->where, ")");
  }
  if (q->label[0]) add_text(f, "label = ?", q->label);
  if (q->sensor[0]) add_text(f, "sensor = ?", q->sensor);
  if (q->kind[0]) add_text(f, "kind = ?", q->kind);
  if (q->min_severity >= 0) add_int(f, "severity >= ?", q->min_severity);
  if (q->false_positive >= 0) add_int(f, "false_positive = ?", q->false_positive);
  if (q->end_us) add_int(f, "start_us < ?", q->end_us);
  if (q->start_us) add_int(f, "(end_us = 0 OR end_us >= ?)", q->start_us);
  if (q->text[0]) {
    like_pattern(q->text, like, like_size);
    vg_strbuf_puts(
        &f->where,
        " AND (labels LIKE ? ESCAPE '\\' OR label LIKE ? ESCAPE '\\' OR sensor LIKE ? ESCAPE '\\')");
    for (int i = 0; i < 3; i++)
      f->binds[f->n++] = (bind_t){'t', 0, like};
  }
}

static void bind_all(sqlite3_stmt *s, const filter_t *f) {
  for (int i = 0; i < f->n; i++) {
    if (f->binds[i].type == 'i')
      sqlite3_bind_int64(s, i + 1, f->binds[i].i);
    else
      sqlite3_bind_text(s, i + 1, f->binds[i].t, -1, SQLITE_TRANSIENT);
  }
}

int vg_event_store_query(vg_event_store_t *st, const vg_event_query_t *q, vg_event_cb cb, void *opaque,
                         int64_t *total) {
  filter_t f;
  char like[300];
  build_filter(q, &f, like, sizeof(like));
  if (f.where.error) {
    vg_strbuf_free(&f.where);
    return f.where.error;
  }
  sqlite3 *db = vg_db_sqlite(st->db);
  sqlite3_stmt *s = NULL;
  int err = 0, delivered = 0;
  vg_strbuf_t sql;
  vg_strbuf_init(&sql, 128 * 1024);
  if (total) {
    vg_strbuf_printf(&sql, "SELECT COUNT(*) FROM events WHERE %s", f.where.data);
    if (sqlite3_prepare_v2(db, sql.data, -1, &s, NULL) != SQLITE_OK) {
      err = vg_db_fail(st->db, "events: count");
      goto out;
    }
    bind_all(s, &f);
    *total = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    s = NULL;
  }
  int limit = q->limit < 1 ? 1 : q->limit > VG_EVENT_QUERY_MAX_LIMIT ? VG_EVENT_QUERY_MAX_LIMIT : q->limit;
  if (q->has_cursor) {
    vg_strbuf_puts(&f.where, " AND (start_us < ? OR (start_us = ? AND id < ?))");
    f.binds[f.n++] = (bind_t){'i', q->cursor_start_us, NULL};
    f.binds[f.n++] = (bind_t){'i', q->cursor_start_us, NULL};
    f.binds[f.n++] = (bind_t){'i', q->cursor_id, NULL};
  }
  sql.len = 0;
  vg_strbuf_printf(
      &sql, "SELECT " COLUMNS " FROM events WHERE %s ORDER BY start_us DESC, id DESC LIMIT %d OFFSET %lld",
      f.where.data, limit, q->has_cursor ? 0LL : (long long)(q->offset > 0 ? q->offset : 0));
  if (sql.error || sqlite3_prepare_v2(db, sql.data, -1, &s, NULL) != SQLITE_OK) {
    err = sql.error ? sql.error : vg_db_fail(st->db, "events: query");
    goto out;
  }
  bind_all(s, &f);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    vg_event_t ev;
    vg_event_files_t files;
    read_row(s, &ev, &files);
    delivered++;
    int r = cb(opaque, &ev, &files);
    if (r < 0) err = r;
    if (r) break;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) err = vg_db_fail(st->db, "events: query");
out:
  sqlite3_finalize(s);
  vg_strbuf_free(&sql);
  vg_strbuf_free(&f.where);
  return err ? err : delivered;
}

static int each_row(vg_event_store_t *st, const char *sql, int64_t a, int64_t b, vg_event_cb cb,
                    void *opaque) {
  sqlite3_stmt *s;
  if (sqlite3_prepare_v2(vg_db_sqlite(st->db), sql, -1, &s, NULL) != SQLITE_OK)
    return vg_db_fail(st->db, "events: prepare");
  sqlite3_bind_int64(s, 1, a);
  sqlite3_bind_int64(s, 2, b);
  int rc, n = 0, err = 0;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    vg_event_t ev;
    vg_event_files_t files;
    read_row(s, &ev, &files);
    n++;
    int r = cb(opaque, &ev, &files);
    if (r < 0) err = r;
    if (r) break;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) err = vg_db_fail(st->db, "events: rows");
  sqlite3_finalize(s);
  return err ? err : n;
}

int vg_event_store_expired(vg_event_store_t *st, int64_t before_us, int limit, vg_event_cb cb, void *opaque) {
  return each_row(st,
                  "SELECT " COLUMNS " FROM events WHERE end_us > 0 AND end_us < ? AND retained = 0"
                  " ORDER BY end_us LIMIT ?",
                  before_us, limit, cb, opaque);
}

int vg_event_store_false_positives(vg_event_store_t *st, int64_t since_us, vg_event_cb cb, void *opaque) {
  return each_row(st,
                  "SELECT " COLUMNS " FROM events WHERE false_positive = 1 AND fp_us >= ?"
                  " ORDER BY fp_us LIMIT ?",
                  since_us, 100000, cb, opaque);
}

int vg_event_store_close_stale(vg_event_store_t *st) {
  sqlite3 *db = vg_db_sqlite(st->db);
  if (sqlite3_exec(db,
                   "UPDATE events SET active = 0,"
                   " end_us = CASE WHEN update_us > start_us THEN update_us ELSE start_us + 1 END"
                   " WHERE active = 1",
                   NULL, NULL, NULL) != SQLITE_OK)
    return vg_db_fail(st->db, "events: close stale");
  return sqlite3_changes(db);
}
