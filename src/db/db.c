#include "db/db.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "base/log.h"

#define DB_BUSY_TIMEOUT_MS 5000

struct vg_db {
  sqlite3 *sq;
  vg_log_ctx_t log;
};

static const vg_log_ctx_t lg = {"db", NULL};

int vg_db_config_parse(vg_cfg_t *c, json_t *obj, vg_db_config_t *out) {
  static const char *const keys[] = {"path", NULL};
  memset(out, 0, sizeof(*out));
  if (obj && !json_is_object(obj)) return vg_cfg_fail(c, NULL, "must be an object");
  vg_cfg_check_keys(c, obj, keys);
  vg_cfg_str(c, obj, "path", "var/vigil.db", out->path, sizeof(out->path));
  if (!c->failed && !out->path[0]) vg_cfg_fail(c, "path", "must not be empty");
  return c->failed ? VG_ECONFIG : 0;
}

/* mkdir -p of the directory part of path. */
static int make_parent_dirs(const char *path) {
  char dir[PATH_MAX];
  if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) return VG_ETOOBIG;
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir) return 0;
  *slash = '\0';
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return vg_err_from_errno();
    *p = '/';
  }
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) return vg_err_from_errno();
  return 0;
}

int vg_db_fail(vg_db_t *db, const char *what) {
  vg_log_error(&db->log, "%s: %s", what, sqlite3_errmsg(db->sq));
  return VG_EDB;
}

int vg_db_exec(vg_db_t *db, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(db->sq, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
  vg_log_error(&db->log, "%s (in: %.60s%s)", msg ? msg : sqlite3_errmsg(db->sq), sql,
               strlen(sql) > 60 ? "..." : "");
  sqlite3_free(msg);
  return VG_EDB;
}

int vg_db_open(const char *path, vg_db_t **out) {
  *out = NULL;
  int memory = strcmp(path, ":memory:") == 0;
  if (!memory) {
    int err = make_parent_dirs(path);
    if (err) {
      vg_log_error(&lg, "cannot create the directory of %s: %s", path, vg_strerror(err));
      return err;
    }
  }
  vg_db_t *db = calloc(1, sizeof(*db));
  if (!db) return VG_ENOMEM;
  db->log = lg;
  int rc = sqlite3_open_v2(path, &db->sq, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           NULL);
  if (rc != SQLITE_OK) {
    vg_log_error(&lg, "cannot open %s: %s", path, db->sq ? sqlite3_errmsg(db->sq) : sqlite3_errstr(rc));
    sqlite3_close(db->sq);
    free(db);
    return VG_EDB;
  }
  sqlite3_busy_timeout(db->sq, DB_BUSY_TIMEOUT_MS);
  sqlite3_extended_result_codes(db->sq, 1);
  int err =
      vg_db_exec(db, memory ? "PRAGMA foreign_keys=ON;"
                            : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
  if (!err)
    err = vg_db_exec(
        db, "CREATE TABLE IF NOT EXISTS vg_schema (module TEXT PRIMARY KEY, version INTEGER NOT NULL)");
  if (err) {
    vg_db_close(&db);
    return err;
  }
  *out = db;
  return 0;
}

void vg_db_close(vg_db_t **dbp) {
  vg_db_t *db = *dbp;
  if (!db) return;
  *dbp = NULL;
  sqlite3_close(db->sq); /* unfinalized statements are the caller's bug: sqlite keeps the handle open */
  free(db);
}

sqlite3 *vg_db_sqlite(vg_db_t *db) { return db->sq; }

int vg_db_begin(vg_db_t *db) { return vg_db_exec(db, "BEGIN IMMEDIATE"); }
int vg_db_commit(vg_db_t *db) { return vg_db_exec(db, "COMMIT"); }
void vg_db_rollback(vg_db_t *db) {
  if (!sqlite3_get_autocommit(db->sq)) sqlite3_exec(db->sq, "ROLLBACK", NULL, NULL, NULL);
}

static int schema_version(vg_db_t *db, const char *module, int *version) {
  sqlite3_stmt *st;
  *version = 0;
  if (sqlite3_prepare_v2(db->sq, "SELECT version FROM vg_schema WHERE module = ?", -1, &st, NULL) !=
      SQLITE_OK)
    return vg_db_fail(db, "reading the schema version");
  sqlite3_bind_text(st, 1, module, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) *version = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : vg_db_fail(db, "reading the schema version");
}

static int set_schema_version(vg_db_t *db, const char *module, int version) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db->sq,
                         "INSERT INTO vg_schema (module, version) VALUES (?, ?) "
                         "ON CONFLICT(module) DO UPDATE SET version = excluded.version",
                         -1, &st, NULL) != SQLITE_OK)
    return vg_db_fail(db, "writing the schema version");
  sqlite3_bind_text(st, 1, module, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, version);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : vg_db_fail(db, "writing the schema version");
}

int vg_db_migrate(vg_db_t *db, const char *module, const vg_db_migration_t *steps, int count) {
  int have;
  int err = schema_version(db, module, &have);
  if (err) return err;
  int latest = count > 0 ? steps[count - 1].version : 0;
  if (have > latest) {
    vg_log_error(&db->log, "the %s tables are at version %d, newer than this vigil knows (%d)", module, have,
                 latest);
    return VG_EUNSUPPORTED;
  }
  for (int i = 0; i < count; i++) {
    if (steps[i].version != i + 1) {
      vg_log_error(&db->log, "%s: migration %d is numbered %d", module, i + 1, steps[i].version);
      return VG_EINVAL;
    }
    if (steps[i].version <= have) continue;
    if ((err = vg_db_begin(db)) != 0) return err;
    err = vg_db_exec(db, steps[i].sql);
    if (!err) err = set_schema_version(db, module, steps[i].version);
    if (!err) err = vg_db_commit(db);
    if (err) {
      vg_db_rollback(db);
      vg_log_error(&db->log, "%s: migration to version %d failed", module, steps[i].version);
      return err;
    }
    vg_log_info(&db->log, "%s: schema at version %d", module, steps[i].version);
  }
  return 0;
}
