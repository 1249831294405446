/* Unit tests for the database layer: migrations apply once and in order,
 * a failed step leaves the schema where it was, a newer database is refused,
 * and a file database is in WAL mode. */
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

static int count_rows(vg_db_t *db, const char *table) {
  char sql[128];
  sqlite3_stmt *st;
  snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
  if (sqlite3_prepare_v2(vg_db_sqlite(db), sql, -1, &st, NULL) != SQLITE_OK) return -1;
  int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
  sqlite3_finalize(st);
  return n;
}

static void test_migrations_apply_once(void **state) {
  (void)state;
  vg_db_t *db;
  assert_int_equal(vg_db_open(":memory:", &db), 0);
  const vg_db_migration_t v1[] = {{1, "CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1);"}};
  assert_int_equal(vg_db_migrate(db, "m", v1, 1), 0);
  assert_int_equal(vg_db_migrate(db, "m", v1, 1), 0); /* again: nothing happens */
  assert_int_equal(count_rows(db, "t"), 1);
  const vg_db_migration_t v2[] = {v1[0], {2, "INSERT INTO t VALUES (2);"}};
  assert_int_equal(vg_db_migrate(db, "m", v2, 2), 0);
  assert_int_equal(count_rows(db, "t"), 2);
  /* Another module has its own versions. */
  const vg_db_migration_t other[] = {{1, "CREATE TABLE u (b TEXT);"}};
  assert_int_equal(vg_db_migrate(db, "other", other, 1), 0);
  assert_int_equal(count_rows(db, "u"), 0);
  /* The code knows only version 1 of m but the database has 2. */
  assert_int_equal(vg_db_migrate(db, "m", v1, 1), VG_EUNSUPPORTED);
  vg_db_close(&db);
  assert_null(db);
}

static void test_failed_step_rolls_back(void **state) {
  (void)state;
  vg_db_t *db;
  assert_int_equal(vg_db_open(":memory:", &db), 0);
  const vg_db_migration_t steps[] = {{1, "CREATE TABLE t (a INTEGER);"},
                                     {2, "INSERT INTO t VALUES (7); INSERT INTO nowhere VALUES (1);"}};
  assert_int_equal(vg_db_migrate(db, "m", steps, 2), VG_EDB);
  assert_int_equal(count_rows(db, "t"), 0); /* step 2's first insert was rolled back */
  const vg_db_migration_t fixed[] = {steps[0], {2, "INSERT INTO t VALUES (7);"}};
  assert_int_equal(vg_db_migrate(db, "m", fixed, 2), 0);
  assert_int_equal(count_rows(db, "t"), 1);
  const vg_db_migration_t misnumbered[] = {{1, "SELECT 1;"}, {3, "SELECT 1;"}};
  assert_int_equal(vg_db_migrate(db, "x", misnumbered, 2), VG_EINVAL);
  vg_db_close(&db);
}

static void test_file_database_wal(void **state) {
  (void)state;
  char dir[] = "/tmp/vg_db_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[256];
  snprintf(path, sizeof(path), "%s/sub/dir/vigil.db", dir);
  vg_db_t *a, *b;
  assert_int_equal(vg_db_open(path, &a), 0); /* creates sub/dir */
  assert_int_equal(vg_db_open(path, &b), 0);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(vg_db_sqlite(a), "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
  sqlite3_finalize(st);
  /* A second connection sees what the first committed. */
  assert_int_equal(vg_db_exec(a, "CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1);"), 0);
  assert_int_equal(count_rows(b, "t"), 1);
  assert_int_equal(vg_db_exec(a, "this is not sql"), VG_EDB);
  vg_db_close(&a);
  vg_db_close(&b);
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

static void test_config(void **state) {
  (void)state;
  vg_cfg_t c;
  json_t *root;
  vg_db_config_t cfg;
  memset(&c, 0, sizeof(c));
  assert_int_equal(vg_db_config_parse(&c, NULL, &cfg), 0);
  assert_string_equal(cfg.path, "var/vigil.db");
  memset(&c, 0, sizeof(c));
  assert_int_equal(vg_cfg_load_string(&c, "{\"path\": 5}", &root), 0);
  assert_int_equal(vg_db_config_parse(&c, root, &cfg), VG_ECONFIG);
  assert_string_equal(c.err_path, "path");
  json_decref(root);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_migrations_apply_once),
      cmocka_unit_test(test_failed_step_rolls_back),
      cmocka_unit_test(test_file_database_wal),
      cmocka_unit_test(test_config),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
