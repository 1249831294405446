#include "api/config_store.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/log.h"
#include "base/secret.h"
#include "base/time.h"
#include "db/db.h"
#include "ingest/camera.h"

static const vg_log_ctx_t lg = {"config", NULL};

static const vg_db_migration_t migrations[] = {
    {1, "CREATE TABLE config_cameras ("
        "  id TEXT PRIMARY KEY,"
        "  config TEXT NOT NULL," /* the camera object; url safe, url_sealed when it had secrets */
        "  updated_us INTEGER NOT NULL"
        ");"},
};

struct vg_config_store {
  pthread_mutex_t lock;
  vg_db_t *db;
  char key_file[512];
  uint8_t key[VG_SECRET_KEY_LEN];
  int key_loaded;
};

int vg_config_store_open(const char *db_path, const char *key_file, vg_config_store_t **out) {
  *out = NULL;
  vg_config_store_t *s = calloc(1, sizeof(*s));
  if (!s) return VG_ENOMEM;
  pthread_mutex_init(&s->lock, NULL);
  snprintf(s->key_file, sizeof(s->key_file), "%s", key_file);
  int err = vg_db_open(db_path, &s->db);
  if (!err) err = vg_db_migrate(s->db, "config", migrations, sizeof(migrations) / sizeof(migrations[0]));
  if (err) {
    vg_config_store_close(&s);
    return err;
  }
  *out = s;
  return 0;
}

void vg_config_store_close(vg_config_store_t **sp) {
  vg_config_store_t *s = *sp;
  if (!s) return;
  *sp = NULL;
  vg_db_close(&s->db);
  sodium_memzero(s->key, sizeof(s->key));
  pthread_mutex_destroy(&s->lock);
  free(s);
}

/* Loads the node key on first use; under s->lock. */
static int need_key(vg_config_store_t *s) {
  if (s->key_loaded) return 0;
  int err = vg_secret_key_load(s->key_file, s->key);
  if (err) {
    vg_log_error(&lg, "the node key %s cannot be loaded: %s", s->key_file, vg_strerror(err));
    return err;
  }
  s->key_loaded = 1;
  return 0;
}

/* The row's text: camera with its url made safe and, when that changed it,
 * sealed in url_sealed. Returns a malloc'ed string or NULL (*err set). */
static char *row_text(vg_config_store_t *s, json_t *camera, int *err) {
  json_t *copy = json_deep_copy(camera);
  if (!copy) {
    *err = VG_ENOMEM;
    return NULL;
  }
  json_object_del(copy, "url_sealed");
  const char *url = json_string_value(json_object_get(copy, "url"));
  *err = 0;
  if (url) {
    char safe[1024];
    vg_camera_safe_url(url, safe, sizeof(safe));
    if (strcmp(safe, url) != 0) {
      char *sealed = malloc(4096);
      *err = sealed ? need_key(s) : VG_ENOMEM;
      int n = *err ? *err : vg_secret_seal(s->key, url, strlen(url), sealed, 4096);
      if (n < 0) *err = n;
      if (!*err) json_object_set_new(copy, "url_sealed", json_string(sealed));
      if (sealed) sodium_memzero(sealed, 4096);
      free(sealed);
      json_object_set_new(copy, "url", json_string(safe));
    }
  }
  char *text = *err ? NULL : json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
  if (!text && !*err) *err = VG_ENOMEM;
  json_decref(copy);
  return text;
}

int vg_config_store_put(vg_config_store_t *s, const char *id, json_t *camera) {
  pthread_mutex_lock(&s->lock);
  int err;
  char *text = row_text(s, camera, &err);
  if (!err) {
    sqlite3 *db = vg_db_sqlite(s->db);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO config_cameras(id, config, updated_us) VALUES(?1, ?2, ?3) "
                           "ON CONFLICT(id) DO UPDATE SET config = ?2, updated_us = ?3",
                           -1, &st, NULL) != SQLITE_OK)
      err = vg_db_fail(s->db, "prepare camera insert");
    if (!err) {
      sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
      sqlite3_bind_int64(st, 3, vg_time_utc_us());
      if (sqlite3_step(st) != SQLITE_DONE) err = vg_db_fail(s->db, "store camera");
    }
    sqlite3_finalize(st);
  }
  free(text);
  pthread_mutex_unlock(&s->lock);
  return err;
}

int vg_config_store_delete(vg_config_store_t *s, const char *id) {
  pthread_mutex_lock(&s->lock);
  sqlite3 *db = vg_db_sqlite(s->db);
  sqlite3_stmt *st = NULL;
  int err = 0;
  if (sqlite3_prepare_v2(db, "DELETE FROM config_cameras WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
    err = vg_db_fail(s->db, "prepare camera delete");
  if (!err) {
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
      err = vg_db_fail(s->db, "delete camera");
    else if (sqlite3_changes(db) == 0)
      err = VG_ENOTFOUND;
  }
  sqlite3_finalize(st);
  pthread_mutex_unlock(&s->lock);
  return err;
}

/* Puts the sealed URL back into camera's "url"; under s->lock. */
static int open_url(vg_config_store_t *s, json_t *camera) {
  const char *sealed = json_string_value(json_object_get(camera, "url_sealed"));
  if (!sealed) return 0;
  char url[1024];
  int err = need_key(s);
  int n = err ? err : vg_secret_open(s->key, sealed, url, sizeof(url));
  if (n < 0) return n;
  json_object_set_new(camera, "url", json_string(url));
  json_object_del(camera, "url_sealed");
  sodium_memzero(url, sizeof(url));
  return 0;
}

int vg_config_store_foreach(vg_config_store_t *s, void (*fn)(const char *id, json_t *camera, void *opaque),
                            void *opaque) {
  pthread_mutex_lock(&s->lock);
  sqlite3 *db = vg_db_sqlite(s->db);
  sqlite3_stmt *st = NULL;
  int count = 0, rc;
  if (sqlite3_prepare_v2(db, "SELECT id, config FROM config_cameras ORDER BY id", -1, &st, NULL) !=
      SQLITE_OK) {
    int err = vg_db_fail(s->db, "prepare camera list");
    pthread_mutex_unlock(&s->lock);
    return err;
  }
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(st, 0);
    const char *text = (const char *)sqlite3_column_text(st, 1);
    json_error_t jerr;
    json_t *camera = text ? json_loads(text, 0, &jerr) : NULL;
    int err = json_is_object(camera) ? open_url(s, camera) : VG_EPROTO;
    if (err) {
      vg_log_error(&lg, "stored camera %s skipped: %s", id ? id : "?", vg_strerror(err));
    } else {
      fn(id ? id : "", camera, opaque);
      count++;
    }
    json_decref(camera);
  }
  if (rc != SQLITE_DONE) count = vg_db_fail(s->db, "list cameras");
  sqlite3_finalize(st);
  pthread_mutex_unlock(&s->lock);
  return count;
}
