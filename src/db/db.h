/*
 * db.h: vigil's database, SQLite on the embedded default.
 *
 * One file (config "database.path", default var/vigil.db) holds every
 * module's tables: the recording index, events, users. Each module owns its
 * tables and brings its schema as numbered migrations, applied once and in
 * order at start (vg_db_migrate); the versions applied are kept per module
 * in the table vg_schema, so modules evolve independently.
 *
 * Connections are opened with WAL journaling (readers never wait for the
 * writer, a crash never corrupts the file), synchronous=NORMAL (a commit is
 * durable once the WAL is checkpointed; a power cut may lose the last
 * commits but never leaves a half-written one), foreign keys on and a busy
 * timeout, so several connections to one file (one per thread that needs
 * it) take turns instead of failing with SQLITE_BUSY.
 *
 * A PostgreSQL driver comes with the scale-out work; modules keep their SQL
 * to the subset both engines share.
 *
 * Threads: a vg_db_t belongs to one thread at a time. Open one per thread
 * that uses the database; they may all point at the same file.
 */
#ifndef VG_DB_DB_H
#define VG_DB_DB_H

#include <jansson.h>
#include <sqlite3.h>

#include "base/config.h"

typedef struct {
  char path[512]; /* default "var/vigil.db"; ":memory:" for tests */
} vg_db_config_t;

/* Parses the top-level "database" object (obj may be NULL: defaults). */
int vg_db_config_parse(vg_cfg_t *c, json_t *obj, vg_db_config_t *out);

typedef struct vg_db vg_db_t;

/* Opens (creating it and its parent directory when missing) the database
 * at path. Returns 0 or VG_EDB / VG_EIO with the reason logged. */
int vg_db_open(const char *path, vg_db_t **out);
void vg_db_close(vg_db_t **db);
/* The SQLite connection, for prepared statements. */
sqlite3 *vg_db_sqlite(vg_db_t *db);

/* One step of a module's schema: version numbers start at 1 and grow by
 * one; sql may hold several statements. */
typedef struct {
  int version;
  const char *sql;
} vg_db_migration_t;

/* Applies, each in its own transaction, the steps of module newer than the
 * version the database has. A database newer than the code (a downgrade)
 * is refused with VG_EUNSUPPORTED rather than misread. */
int vg_db_migrate(vg_db_t *db, const char *module, const vg_db_migration_t *steps, int count);

/* Runs sql (no results). Returns 0 or VG_EDB with the error logged. */
int vg_db_exec(vg_db_t *db, const char *sql);
/* Transactions: BEGIN IMMEDIATE (takes the write lock at once, so a
 * transaction never fails half-way on a lock), COMMIT, ROLLBACK. */
int vg_db_begin(vg_db_t *db);
int vg_db_commit(vg_db_t *db);
void vg_db_rollback(vg_db_t *db);
/* Logs the connection's last error with what (a short description) and
 * returns VG_EDB; for callers checking their own sqlite3_* results. */
int vg_db_fail(vg_db_t *db, const char *what);

#endif
