/*
 * queue.c: the webhook deliveries waiting to go out, one table of the
 * node's database (module "notify"). A row is written, in its own
 * transaction, before anything is sent, and deleted only once the endpoint
 * answered 2xx or the delivery was given up: a crash or a restart in
 * between sends it again (at least once; the delivery id lets the receiver
 * drop the duplicate). SQLite's WAL makes each insert atomic, so a crash
 * never leaves half a row.
 */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "db/db.h"
#include "notify/notify_internal.h"

struct vg__notify_queue {
  vg_db_t *db;
};

static const vg_db_migration_t migrations[] = {
    {1, "CREATE TABLE notify_webhook_queue ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " endpoint TEXT NOT NULL,"
        " delivery TEXT NOT NULL,"
        " type TEXT NOT NULL,"
        " body BLOB NOT NULL,"
        " attempts INTEGER NOT NULL DEFAULT 0,"
        " next_us INTEGER NOT NULL,"
        " created_us INTEGER NOT NULL);"
        "CREATE INDEX notify_webhook_queue_endpoint ON notify_webhook_queue (endpoint, id);"},
};

int vg__queue_open(const char *db_path, vg__notify_queue_t **out) {
  vg__notify_queue_t *q = calloc(1, sizeof(*q));
  if (!q) return VG_ENOMEM;
  int err = vg_db_open(db_path, &q->db);
  if (!err) err = vg_db_migrate(q->db, "notify", migrations, 1);
  if (err) {
    vg_db_close(&q->db);
    free(q);
    return err;
  }
  *out = q;
  return 0;
}

void vg__queue_close(vg__notify_queue_t **q) {
  if (!*q) return;
  vg_db_close(&(*q)->db);
  free(*q);
  *q = NULL;
}

/* Prepares sql, or logs and returns NULL. */
static sqlite3_stmt *prepare(vg__notify_queue_t *q, const char *sql) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(vg_db_sqlite(q->db), sql, -1, &st, NULL) != SQLITE_OK) {
    vg_db_fail(q->db, sql);
    return NULL;
  }
  return st;
}

/* Steps a statement that returns no rows and finalizes it. */
static int run(vg__notify_queue_t *q, sqlite3_stmt *st, const char *what) {
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : vg_db_fail(q->db, what);
}

int vg__queue_push(vg__notify_queue_t *q, const char *endpoint, const char *delivery, const char *type,
                   const char *body, size_t len, int64_t now_us) {
  sqlite3_stmt *st = prepare(q, "INSERT INTO notify_webhook_queue (endpoint, delivery, type, body, attempts, "
                                "next_us, created_us) VALUES (?, ?, ?, ?, 0, ?, ?)");
  if (!st) return VG_EDB;
  sqlite3_bind_text(st, 1, endpoint, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, delivery, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 4, body, (int)len, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, now_us);
  sqlite3_bind_int64(st, 6, now_us);
  return run(q, st, "queueing a webhook delivery");
}

int vg__queue_peek(vg__notify_queue_t *q, const char *endpoint, vg__notify_item_t *out) {
  memset(out, 0, sizeof(*out));
  sqlite3_stmt *st =
      prepare(q, "SELECT id, delivery, type, body, attempts, next_us FROM notify_webhook_queue "
                 "WHERE endpoint = ? ORDER BY id LIMIT 1");
  if (!st) return VG_EDB;
  sqlite3_bind_text(st, 1, endpoint, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st), err = 0;
  if (rc == SQLITE_ROW) {
    out->row = sqlite3_column_int64(st, 0);
    snprintf(out->delivery, sizeof(out->delivery), "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(out->type, sizeof(out->type), "%s", (const char *)sqlite3_column_text(st, 2));
    int n = sqlite3_column_bytes(st, 3);
    out->body = malloc((size_t)n + 1);
    if (!out->body) {
      err = VG_ENOMEM;
    } else {
      if (n) memcpy(out->body, sqlite3_column_blob(st, 3), (size_t)n);
      out->body[n] = '\0';
      out->len = (size_t)n;
    }
    out->attempts = sqlite3_column_int(st, 4);
    out->next_us = sqlite3_column_int64(st, 5);
  } else if (rc == SQLITE_DONE) {
    err = VG_ENOTFOUND;
  } else {
    err = vg_db_fail(q->db, "reading the webhook queue");
  }
  sqlite3_finalize(st);
  return err;
}

int vg__queue_done(vg__notify_queue_t *q, int64_t row) {
  sqlite3_stmt *st = prepare(q, "DELETE FROM notify_webhook_queue WHERE id = ?");
  if (!st) return VG_EDB;
  sqlite3_bind_int64(st, 1, row);
  return run(q, st, "removing a webhook delivery");
}

int vg__queue_retry(vg__notify_queue_t *q, int64_t row, int attempts, int64_t next_us) {
  sqlite3_stmt *st = prepare(q, "UPDATE notify_webhook_queue SET attempts = ?, next_us = ? WHERE id = ?");
  if (!st) return VG_EDB;
  sqlite3_bind_int(st, 1, attempts);
  sqlite3_bind_int64(st, 2, next_us);
  sqlite3_bind_int64(st, 3, row);
  return run(q, st, "rescheduling a webhook delivery");
}

long vg__queue_count(vg__notify_queue_t *q, const char *endpoint) {
  sqlite3_stmt *st = prepare(q, "SELECT COUNT(*) FROM notify_webhook_queue WHERE endpoint = ?");
  if (!st) return VG_EDB;
  sqlite3_bind_text(st, 1, endpoint, -1, SQLITE_STATIC);
  long n = sqlite3_step(st) == SQLITE_ROW ? (long)sqlite3_column_int64(st, 0) : VG_EDB;
  sqlite3_finalize(st);
  return n;
}
