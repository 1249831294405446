/*
 * users.c: users, sessions, tokens, the login limiter and the audit log
 * (see users.h).
 */
#include "api/users.h"

#include <argon2.h>
#include <ctype.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/log.h"
#include "base/time.h"
#include "db/db.h"

static const vg_log_ctx_t lg = {"users", NULL};

#define SALT_LEN 16
#define HASH_LEN 32
#define ENCODED_MAX 192
#define CACHE_SLOTS 64
#define LIMIT_SLOTS 256
#define AUDIT_PRUNE_EVERY 1000 /* audit rows between two prunes */
#define PEER_FACTOR 4          /* a peer address may be shared: it gets this many times max_failures */

/* ---- small helpers ---- */

static int64_t test_clock_offset_us;

void vg_users_test_advance_clock(int64_t us) { test_clock_offset_us += us; }

static int64_t now_utc(void) { return vg_time_utc_us() + test_clock_offset_us; }
static int64_t now_mono(void) { return vg_time_mono_us() + test_clock_offset_us; }

static const char *const role_names[] = {"viewer", "operator", "admin"};
static const char *const perm_names[] = {"live", "recordings", "export", "ptz"};

const char *vg_role_name(vg_role_t r) {
  return (unsigned)r < sizeof(role_names) / sizeof(role_names[0]) ? role_names[r] : "viewer";
}

int vg_role_parse(const char *name, vg_role_t *out) {
  for (int i = 0; i < 3; i++)
    if (name && strcmp(name, role_names[i]) == 0) {
      *out = (vg_role_t)i;
      return 0;
    }
  return VG_EINVAL;
}

unsigned vg_perm_parse(const char *name) {
  for (int i = 0; i < 4; i++)
    if (name && strcmp(name, perm_names[i]) == 0) return 1u << i;
  return 0;
}

const char *vg_perm_name(vg_perm_t p) {
  for (int i = 0; i < 4; i++)
    if ((unsigned)p == 1u << i) return perm_names[i];
  return "?";
}

void vg_user_clear(vg_user_t *u) {
  free(u->perms);
  memset(u, 0, sizeof(*u));
}

bool vg_user_allowed(const vg_user_t *u, const char *camera, vg_perm_t perm) {
  if (!u) return false;
  if (u->role == VG_ROLE_ADMIN) return true;
  for (int i = 0; i < u->perm_count; i++)
    if ((strcmp(u->perms[i].camera, "*") == 0 || (camera && strcmp(u->perms[i].camera, camera) == 0)) &&
        (u->perms[i].mask & (unsigned)perm) == (unsigned)perm)
      return true;
  return false;
}

/* ---- configuration ---- */

void vg_auth_config_defaults(vg_auth_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->enabled = true;
  cfg->session_ttl_s = 7 * 24 * 3600;
  cfg->idle_timeout_s = 3600;
  cfg->max_failures = 5;
  cfg->lockout_s = 300;
  cfg->argon2_t_cost = 2;
  cfg->argon2_m_kib = 19456;
  snprintf(cfg->secret_key_file, sizeof(cfg->secret_key_file), "var/secret.key");
  cfg->audit_max_age_days = 365;
  cfg->audit_max_rows = 1000000;
}

int vg_auth_config_parse(vg_cfg_t *c, json_t *obj, vg_auth_config_t *out) {
  static const char *const keys[] = {
      "enabled",      "session_ttl_s",   "idle_timeout_s",     "max_failures",   "lockout_s", "argon2_t_cost",
      "argon2_m_kib", "secret_key_file", "audit_max_age_days", "audit_max_rows", NULL};
  long long v;
  vg_auth_config_defaults(out);
  if (obj && !json_is_object(obj)) return vg_cfg_fail(c, NULL, "must be an object");
  vg_cfg_check_keys(c, obj, keys);
  vg_cfg_bool(c, obj, "enabled", true, &out->enabled);
  vg_cfg_int(c, obj, "session_ttl_s", out->session_ttl_s, 60, 365LL * 24 * 3600, &v);
  out->session_ttl_s = (int)v;
  vg_cfg_int(c, obj, "idle_timeout_s", out->idle_timeout_s, 60, 365LL * 24 * 3600, &v);
  out->idle_timeout_s = (int)v;
  vg_cfg_int(c, obj, "max_failures", out->max_failures, 1, 1000, &v);
  out->max_failures = (int)v;
  vg_cfg_int(c, obj, "lockout_s", out->lockout_s, 1, 24 * 3600, &v);
  out->lockout_s = (int)v;
  vg_cfg_int(c, obj, "argon2_t_cost", out->argon2_t_cost, 1, 16, &v);
  out->argon2_t_cost = (int)v;
  vg_cfg_int(c, obj, "argon2_m_kib", out->argon2_m_kib, 64, 4 * 1024 * 1024, &v);
  out->argon2_m_kib = (int)v;
  vg_cfg_str(c, obj, "secret_key_file", "var/secret.key", out->secret_key_file, sizeof(out->secret_key_file));
  vg_cfg_int(c, obj, "audit_max_age_days", out->audit_max_age_days, 1, 100 * 365, &v);
  out->audit_max_age_days = (int)v;
  vg_cfg_int(c, obj, "audit_max_rows", out->audit_max_rows, 100, 1000000000, &v);
  out->audit_max_rows = (int)v;
  return c->failed ? VG_ECONFIG : 0;
}

/* ---- the process-wide limiter and verification cache ---- */

typedef struct {
  char key[VG_USER_NAME_MAX + 72]; /* "u:NAME" or "p:PEER"; "" = free */
  int failures;
  int64_t last_us, locked_until_us;
} limit_slot_t;

typedef struct {
  uint8_t key[32];    /* keyed hash of name and password */
  uint8_t stored[32]; /* SHA-256 of the stored hash it was verified against */
  int64_t expires_us; /* 0 = free */
} cache_slot_t;

static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;
static limit_slot_t limits[LIMIT_SLOTS];
static cache_slot_t cache[CACHE_SLOTS];
static uint8_t cache_key[crypto_generichash_KEYBYTES];
static int cache_key_ready;

void vg_users_reset_limits(void) {
  pthread_mutex_lock(&limit_lock);
  memset(limits, 0, sizeof(limits));
  memset(cache, 0, sizeof(cache));
  pthread_mutex_unlock(&limit_lock);
}

/* The slot for key (created, evicting the least recently used, when
 * create); NULL otherwise. Called with limit_lock held. */
static limit_slot_t *limit_slot(const char *kind, const char *name, int create) {
  char key[sizeof(limits[0].key)];
  snprintf(key, sizeof(key), "%s:%s", kind, name ? name : "");
  limit_slot_t *oldest = &limits[0];
  for (int i = 0; i < LIMIT_SLOTS; i++) {
    if (limits[i].key[0] && strcmp(limits[i].key, key) == 0) return &limits[i];
    if (!limits[i].key[0] || limits[i].last_us < oldest->last_us) oldest = &limits[i];
  }
  if (!create) return NULL;
  memset(oldest, 0, sizeof(*oldest));
  snprintf(oldest->key, sizeof(oldest->key), "%s", key);
  return oldest;
}

/* Seconds left of a lockout on name or peer, 0 when none. */
static int locked_for(const char *name, const char *peer) {
  int64_t now = now_mono(), left = 0;
  pthread_mutex_lock(&limit_lock);
  limit_slot_t *s = limit_slot("u", name, 0);
  if (s && s->locked_until_us > now) left = s->locked_until_us - now;
  if (peer && peer[0] && (s = limit_slot("p", peer, 0)) && s->locked_until_us - now > left)
    left = s->locked_until_us - now;
  pthread_mutex_unlock(&limit_lock);
  return left > 0 ? (int)((left + 999999) / 1000000) : 0;
}

static void count_failure_in(limit_slot_t *s, int max, int lockout_s, int64_t now) {
  /* Failures spaced further apart than a lockout are forgotten. */
  if (s->last_us && now - s->last_us > (int64_t)lockout_s * 1000000) s->failures = 0;
  s->last_us = now;
  if (++s->failures >= max) {
    s->failures = 0;
    s->locked_until_us = now + (int64_t)lockout_s * 1000000;
  }
}

static void count_failure(const vg_auth_config_t *cfg, const char *name, const char *peer) {
  int64_t now = now_mono();
  pthread_mutex_lock(&limit_lock);
  count_failure_in(limit_slot("u", name, 1), cfg->max_failures, cfg->lockout_s, now);
  if (peer && peer[0])
    count_failure_in(limit_slot("p", peer, 1), cfg->max_failures * PEER_FACTOR, cfg->lockout_s, now);
  pthread_mutex_unlock(&limit_lock);
}

static void count_success(const char *name) {
  pthread_mutex_lock(&limit_lock);
  limit_slot_t *s = limit_slot("u", name, 0);
  if (s) memset(s, 0, sizeof(*s));
  pthread_mutex_unlock(&limit_lock);
}

static void cache_key_of(const char *name, const char *password, uint8_t out[32]) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, cache_key, sizeof(cache_key), 32);
  crypto_generichash_update(&st, (const uint8_t *)name, strlen(name) + 1);
  crypto_generichash_update(&st, (const uint8_t *)password, strlen(password));
  crypto_generichash_final(&st, out, 32);
}

static int cache_hit(const uint8_t key[32], const uint8_t stored[32]) {
  int hit = 0;
  int64_t now = now_mono();
  pthread_mutex_lock(&limit_lock);
  for (int i = 0; i < CACHE_SLOTS && !hit; i++)
    hit = cache[i].expires_us > now && sodium_memcmp(cache[i].key, key, 32) == 0 &&
          sodium_memcmp(cache[i].stored, stored, 32) == 0;
  pthread_mutex_unlock(&limit_lock);
  return hit;
}

static void cache_put(const uint8_t key[32], const uint8_t stored[32]) {
  int64_t now = now_mono();
  pthread_mutex_lock(&limit_lock);
  cache_slot_t *slot = &cache[0];
  for (int i = 0; i < CACHE_SLOTS; i++) {
    if (sodium_memcmp(cache[i].key, key, 32) == 0) {
      slot = &cache[i];
      break;
    }
    if (cache[i].expires_us < slot->expires_us) slot = &cache[i];
  }
  memcpy(slot->key, key, 32);
  memcpy(slot->stored, stored, 32);
  slot->expires_us = now + (int64_t)VG_USERS_CACHE_S * 1000000;
  pthread_mutex_unlock(&limit_lock);
}

/* ---- the store ---- */

struct vg_users {
  vg_db_t *db;
  vg_auth_config_t cfg;
  pthread_mutex_t lock;
  char dummy_hash[ENCODED_MAX]; /* verified against for unknown users, to take as long */
  unsigned audit_since_prune;   /* rows written since the last prune (under lock) */
  atomic_uint generation;       /* vg_users_generation */
};

static const vg_db_migration_t migrations[] = {
    {1, "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL,"
        " pw_hash TEXT NOT NULL, created_us INTEGER NOT NULL, updated_us INTEGER NOT NULL);"
        "CREATE TABLE user_perms(user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
        " camera TEXT NOT NULL, mask INTEGER NOT NULL, PRIMARY KEY(user_id, camera));"
        "CREATE TABLE sessions(id_hash BLOB PRIMARY KEY,"
        " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
        " created_us INTEGER NOT NULL, expires_us INTEGER NOT NULL, last_used_us INTEGER NOT NULL);"
        "CREATE INDEX sessions_user ON sessions(user_id);"
        "CREATE TABLE tokens(id INTEGER PRIMARY KEY,"
        " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE, name TEXT NOT NULL,"
        " hash BLOB NOT NULL UNIQUE, created_us INTEGER NOT NULL, last_used_us INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE audit(id INTEGER PRIMARY KEY, time_us INTEGER NOT NULL, user TEXT NOT NULL,"
        " peer TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL);"},
};

static int hash_password(const vg_auth_config_t *cfg, const char *password, char *out, size_t size) {
  uint8_t salt[SALT_LEN];
  randombytes_buf(salt, sizeof(salt));
  int r = argon2id_hash_encoded((uint32_t)cfg->argon2_t_cost, (uint32_t)cfg->argon2_m_kib, 1, password,
                                strlen(password), salt, sizeof(salt), HASH_LEN, out, size);
  if (r != ARGON2_OK) {
    vg_log_error(&lg, "argon2id: %s", argon2_error_message(r));
    return r == ARGON2_MEMORY_ALLOCATION_ERROR ? VG_ENOMEM : VG_EINVAL;
  }
  return 0;
}

int vg_users_open(const char *db_path, const vg_auth_config_t *cfg, vg_users_t **out) {
  *out = NULL;
  if (sodium_init() < 0) return VG_ENOMEM;
  pthread_mutex_lock(&limit_lock);
  if (!cache_key_ready) {
    crypto_generichash_keygen(cache_key);
    cache_key_ready = 1;
  }
  pthread_mutex_unlock(&limit_lock);
  vg_users_t *u = calloc(1, sizeof(*u));
  if (!u) return VG_ENOMEM;
  u->cfg = *cfg;
  pthread_mutex_init(&u->lock, NULL);
  int err = vg_db_open(db_path, &u->db);
  if (!err) err = vg_db_migrate(u->db, "users", migrations, sizeof(migrations) / sizeof(migrations[0]));
  if (!err) {
    /* Random password: nobody can log in with the dummy. */
    char random[33];
    uint8_t raw[16];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(random, sizeof(random), raw, sizeof(raw));
    err = hash_password(&u->cfg, random, u->dummy_hash, sizeof(u->dummy_hash));
  }
  if (!err) vg_audit_prune(u, now_utc());
  if (err) {
    vg_users_close(&u);
    return err;
  }
  *out = u;
  return 0;
}

void vg_users_close(vg_users_t **pu) {
  vg_users_t *u = *pu;
  if (!u) return;
  *pu = NULL;
  vg_db_close(&u->db);
  pthread_mutex_destroy(&u->lock);
  free(u);
}

/* Statement helpers: prepare with the text bound in order; "s" text, "i"
 * int64, "b" 32-byte blob. */
static sqlite3_stmt *prepare(vg_users_t *u, const char *sql, const char *types, ...) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(vg_db_sqlite(u->db), sql, -1, &st, NULL) != SQLITE_OK) {
    vg_db_fail(u->db, sql);
    return NULL;
  }
  va_list ap;
  va_start(ap, types);
  for (int i = 0; types[i]; i++) {
    int rc = SQLITE_OK;
    if (types[i] == 's') rc = sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
    if (types[i] == 'i') rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
    if (types[i] == 'b') rc = sqlite3_bind_blob(st, i + 1, va_arg(ap, const uint8_t *), 32, SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) {
      va_end(ap);
      sqlite3_finalize(st);
      vg_db_fail(u->db, "bind");
      return NULL;
    }
  }
  va_end(ap);
  return st;
}

/* Runs a statement that returns no rows; returns the rows changed or VG_EDB. */
static int run(vg_users_t *u, sqlite3_stmt *st) {
  if (!st) return VG_EDB;
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return vg_db_fail(u->db, "step");
  return sqlite3_changes(vg_db_sqlite(u->db));
}

static const char *col_text(sqlite3_stmt *st, int i) {
  const char *s = (const char *)sqlite3_column_text(st, i);
  return s ? s : "";
}

static int load_perms(vg_users_t *u, vg_user_t *user) {
  sqlite3_stmt *st =
      prepare(u, "SELECT camera, mask FROM user_perms WHERE user_id = ? ORDER BY camera", "i", user->id);
  if (!st) return VG_EDB;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    vg_user_perm_t *p = realloc(user->perms, sizeof(*p) * (size_t)(user->perm_count + 1));
    if (!p) {
      sqlite3_finalize(st);
      return VG_ENOMEM;
    }
    user->perms = p;
    snprintf(p[user->perm_count].camera, sizeof(p->camera), "%s", col_text(st, 0));
    p[user->perm_count].mask = (unsigned)sqlite3_column_int(st, 1);
    user->perm_count++;
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : vg_db_fail(u->db, "user_perms");
}

/* Fills *out from a row "id, name, role, created_us" at column base. */
static int user_from_row(vg_users_t *u, sqlite3_stmt *st, int base, vg_user_t *out) {
  memset(out, 0, sizeof(*out));
  out->id = sqlite3_column_int64(st, base);
  snprintf(out->name, sizeof(out->name), "%s", col_text(st, base + 1));
  if (vg_role_parse(col_text(st, base + 2), &out->role) != 0) out->role = VG_ROLE_VIEWER;
  out->created_us = sqlite3_column_int64(st, base + 3);
  int err = load_perms(u, out);
  if (err) vg_user_clear(out);
  return err;
}

int vg_users_valid_name(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n >= VG_USER_NAME_MAX) return VG_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)name[i]) && !strchr("._@-", name[i])) return VG_EINVAL;
  return 0;
}

int vg_users_valid_password(const char *password) {
  size_t n = password ? strlen(password) : 0;
  return n >= 8 && n < VG_USER_PASSWORD_MAX ? 0 : VG_EINVAL;
}

static int valid_perms(const vg_user_perm_t *perms, int count) {
  for (int i = 0; i < count; i++) {
    size_t n = strnlen(perms[i].camera, sizeof(perms[i].camera));
    if (n == 0 || n == sizeof(perms[i].camera) || (perms[i].mask & ~(unsigned)VG_PERM_ALL)) return VG_EINVAL;
  }
  return 0;
}

static int store_perms(vg_users_t *u, int64_t user_id, const vg_user_perm_t *perms, int count) {
  int err = run(u, prepare(u, "DELETE FROM user_perms WHERE user_id = ?", "i", user_id));
  for (int i = 0; err >= 0 && i < count; i++)
    if (perms[i].mask)
      err = run(u, prepare(u, "INSERT OR REPLACE INTO user_perms(user_id, camera, mask) VALUES(?, ?, ?)",
                           "isi", user_id, perms[i].camera, (int64_t)perms[i].mask));
  return err < 0 ? err : 0;
}

int vg_users_create(vg_users_t *u, const char *name, const char *password, vg_role_t role,
                    const vg_user_perm_t *perms, int perm_count) {
  if (vg_users_valid_name(name) || vg_users_valid_password(password) || valid_perms(perms, perm_count) ||
      (unsigned)role > VG_ROLE_ADMIN)
    return VG_EINVAL;
  char hash[ENCODED_MAX];
  int err = hash_password(&u->cfg, password, hash, sizeof(hash));
  if (err) return err;
  pthread_mutex_lock(&u->lock);
  err = vg_db_begin(u->db);
  if (!err) {
    int64_t now = now_utc();
    sqlite3_stmt *st = prepare(u,
                               "INSERT INTO users(name, role, pw_hash, created_us, updated_us) "
                               "VALUES(?, ?, ?, ?, ?)",
                               "sssii", name, vg_role_name(role), hash, now, now);
    int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
    if (st) sqlite3_finalize(st);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
      err = VG_EEXIST;
    else if (rc != SQLITE_DONE)
      err = vg_db_fail(u->db, "insert user");
    if (!err) err = store_perms(u, sqlite3_last_insert_rowid(vg_db_sqlite(u->db)), perms, perm_count);
    if (!err)
      err = vg_db_commit(u->db);
    else
      vg_db_rollback(u->db);
  }
  pthread_mutex_unlock(&u->lock);
  sodium_memzero(hash, sizeof(hash));
  return err;
}

static int64_t user_id_locked(vg_users_t *u, const char *name) {
  sqlite3_stmt *st = prepare(u, "SELECT id FROM users WHERE name = ?", "s", name);
  if (!st) return VG_EDB;
  int64_t id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : VG_ENOTFOUND;
  sqlite3_finalize(st);
  return id;
}

static int admin_count_locked(vg_users_t *u) {
  sqlite3_stmt *st = prepare(u, "SELECT count(*) FROM users WHERE role = 'admin'", "");
  if (!st) return VG_EDB;
  int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
  sqlite3_finalize(st);
  return n;
}

int vg_users_update(vg_users_t *u, const char *name, const vg_role_t *role, const vg_user_perm_t *perms,
                    int perm_count, const char *password) {
  if ((password && vg_users_valid_password(password)) || (role && (unsigned)*role > VG_ROLE_ADMIN) ||
      (perm_count > 0 && valid_perms(perms, perm_count)))
    return VG_EINVAL;
  char hash[ENCODED_MAX] = "";
  int err = password ? hash_password(&u->cfg, password, hash, sizeof(hash)) : 0;
  if (err) return err;
  pthread_mutex_lock(&u->lock);
  err = vg_db_begin(u->db);
  if (!err) {
    int64_t id = user_id_locked(u, name);
    int64_t now = now_utc();
    err = id < 0 ? (int)id : 0;
    if (!err && role && *role != VG_ROLE_ADMIN) {
      /* Demoting the last admin would lock everyone out of user management. */
      sqlite3_stmt *st = prepare(u, "SELECT role FROM users WHERE id = ?", "i", id);
      int was_admin = st && sqlite3_step(st) == SQLITE_ROW && strcmp(col_text(st, 0), "admin") == 0;
      if (st) sqlite3_finalize(st);
      if (was_admin && admin_count_locked(u) <= 1) err = VG_ESTATE;
    }
    if (!err && role)
      err = run(u, prepare(u, "UPDATE users SET role = ?, updated_us = ? WHERE id = ?", "sii",
                           vg_role_name(*role), now, id));
    if (err >= 0 && perm_count >= 0) err = store_perms(u, id, perms, perm_count);
    if (err >= 0 && password) {
      err = run(
          u, prepare(u, "UPDATE users SET pw_hash = ?, updated_us = ? WHERE id = ?", "sii", hash, now, id));
      if (err >= 0) err = run(u, prepare(u, "DELETE FROM sessions WHERE user_id = ?", "i", id));
    }
    if (err >= 0)
      err = vg_db_commit(u->db);
    else
      vg_db_rollback(u->db);
  }
  if (err >= 0) atomic_fetch_add(&u->generation, 1);
  pthread_mutex_unlock(&u->lock);
  sodium_memzero(hash, sizeof(hash));
  return err;
}

int vg_users_delete(vg_users_t *u, const char *name) {
  pthread_mutex_lock(&u->lock);
  int err = vg_db_begin(u->db);
  if (!err) {
    sqlite3_stmt *st = prepare(u, "SELECT role FROM users WHERE name = ?", "s", name);
    int found = st && sqlite3_step(st) == SQLITE_ROW;
    int is_admin = found && strcmp(col_text(st, 0), "admin") == 0;
    if (st) sqlite3_finalize(st);
    if (!found)
      err = VG_ENOTFOUND;
    else if (is_admin && admin_count_locked(u) <= 1)
      err = VG_ESTATE;
    else
      err = run(u, prepare(u, "DELETE FROM users WHERE name = ?", "s", name));
    if (err >= 0)
      err = vg_db_commit(u->db);
    else
      vg_db_rollback(u->db);
  }
  if (err >= 0) atomic_fetch_add(&u->generation, 1);
  pthread_mutex_unlock(&u->lock);
  return err;
}

unsigned vg_users_generation(vg_users_t *u) { return atomic_load(&u->generation); }

int vg_users_get(vg_users_t *u, const char *name, vg_user_t *out) {
  memset(out, 0, sizeof(*out));
  pthread_mutex_lock(&u->lock);
  sqlite3_stmt *st = prepare(u, "SELECT id, name, role, created_us FROM users WHERE name = ?", "s", name);
  int err = VG_EDB;
  if (st) {
    int rc = sqlite3_step(st);
    err = rc == SQLITE_ROW ? user_from_row(u, st, 0, out) : rc == SQLITE_DONE ? VG_ENOTFOUND : VG_EDB;
    sqlite3_finalize(st);
  }
  pthread_mutex_unlock(&u->lock);
  return err;
}

int vg_users_foreach(vg_users_t *u, void (*fn)(const vg_user_t *user, void *opaque), void *opaque) {
  pthread_mutex_lock(&u->lock);
  sqlite3_stmt *st = prepare(u, "SELECT id, name, role, created_us FROM users ORDER BY name", "");
  int n = st ? 0 : VG_EDB, rc = SQLITE_DONE;
  while (st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    vg_user_t user;
    if ((n = user_from_row(u, st, 0, &user)) < 0) break;
    fn(&user, opaque);
    vg_user_clear(&user);
    n++;
  }
  if (st) sqlite3_finalize(st);
  if (n >= 0 && rc != SQLITE_DONE && rc != SQLITE_ROW) n = vg_db_fail(u->db, "users");
  pthread_mutex_unlock(&u->lock);
  return n;
}

int vg_users_count(vg_users_t *u) {
  pthread_mutex_lock(&u->lock);
  sqlite3_stmt *st = prepare(u, "SELECT count(*) FROM users", "");
  int n = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : VG_EDB;
  if (st) sqlite3_finalize(st);
  pthread_mutex_unlock(&u->lock);
  return n;
}

int vg_users_bootstrap(vg_users_t *u) {
  int n = vg_users_count(u);
  if (n != 0) return n < 0 ? n : 0;
  const char *env = getenv("VIGIL_ADMIN_PASSWORD");
  char password[VG_USER_PASSWORD_MAX];
  if (env && env[0]) {
    if (vg_users_valid_password(env)) {
      vg_log_error(&lg, "VIGIL_ADMIN_PASSWORD must hold 8 to 255 bytes");
      return VG_EINVAL;
    }
    snprintf(password, sizeof(password), "%s", env);
  } else {
    /* 18 random bytes in URL-safe base64: 24 characters, 144 bits. */
    uint8_t raw[18];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(password, sizeof(password), raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  }
  int err = vg_users_create(u, "admin", password, VG_ROLE_ADMIN, NULL, 0);
  if (!err && !(env && env[0])) /* Printed once, on stderr only: the log never holds it. */
    fprintf(stderr,
            "\n*** vigil: first start: created user \"admin\" with password %s\n"
            "*** (shown only this once; change it with PUT /api/v1/me/password)\n\n",
            password);
  else if (!err)
    vg_log_info(&lg, "first start: created user \"admin\" with the password from VIGIL_ADMIN_PASSWORD");
  sodium_memzero(password, sizeof(password));
  if (!err) vg_audit_log(u, "", "", "user.create", "admin", "first start");
  return err ? err : 1;
}

/* ---- passwords ---- */

int vg_users_check_password(vg_users_t *u, const char *name, const char *password, const char *peer,
                            vg_user_t *out, int *retry_after_s) {
  if (out) memset(out, 0, sizeof(*out));
  if (!name || !password) return VG_EAUTH;
  int left = locked_for(name, peer);
  /* No stored password is that long: refuse before hashing a megabyte. */
  if (!left && strlen(password) >= VG_USER_PASSWORD_MAX) {
    count_failure(&u->cfg, name, peer);
    return VG_EAUTH;
  }
  if (left > 0) {
    if (retry_after_s) *retry_after_s = left;
    return VG_EBUSY;
  }
  char stored[ENCODED_MAX] = "";
  int64_t id = VG_ENOTFOUND;
  pthread_mutex_lock(&u->lock);
  sqlite3_stmt *st = prepare(u, "SELECT id, pw_hash FROM users WHERE name = ?", "s", name);
  if (st && sqlite3_step(st) == SQLITE_ROW) {
    id = sqlite3_column_int64(st, 0);
    snprintf(stored, sizeof(stored), "%s", col_text(st, 1));
  }
  if (st) sqlite3_finalize(st);
  pthread_mutex_unlock(&u->lock);

  uint8_t key[32], stored_digest[32];
  cache_key_of(name, password, key);
  crypto_hash_sha256(stored_digest, (const uint8_t *)stored, strlen(stored));
  int ok;
  if (id >= 0 && cache_hit(key, stored_digest)) {
    ok = 1;
  } else {
    /* Unknown users cost an argon2 too, so timing does not tell names apart. */
    ok =
        argon2id_verify(id >= 0 ? stored : u->dummy_hash, password, strlen(password)) == ARGON2_OK && id >= 0;
    if (ok) cache_put(key, stored_digest);
  }
  sodium_memzero(key, sizeof(key));
  if (!ok) {
    count_failure(&u->cfg, name, peer);
    return VG_EAUTH;
  }
  count_success(name);
  return out ? vg_users_get(u, name, out) : 0;
}

/* ---- sessions and tokens ---- */

/* A fresh secret "PREFIX" + 64 hex digits, and its SHA-256. */
static int new_secret(const char *prefix, char *out, size_t size, uint8_t hash[32]) {
  if (size < VG_SECRET_TOKEN_LEN + 1) return VG_ETOOBIG;
  uint8_t raw[32];
  randombytes_buf(raw, sizeof(raw));
  memcpy(out, prefix, 4);
  sodium_bin2hex(out + 4, size - 4, raw, sizeof(raw));
  sodium_memzero(raw, sizeof(raw));
  crypto_hash_sha256(hash, (const uint8_t *)out, VG_SECRET_TOKEN_LEN);
  return 0;
}

/* SHA-256 of a secret presented by a client, after a shape check. */
static int secret_hash(const char *prefix, const char *secret, uint8_t hash[32]) {
  if (!secret || strlen(secret) != VG_SECRET_TOKEN_LEN || memcmp(secret, prefix, 4) != 0) return VG_EAUTH;
  for (int i = 4; i < VG_SECRET_TOKEN_LEN; i++)
    if (!isxdigit((unsigned char)secret[i])) return VG_EAUTH;
  crypto_hash_sha256(hash, (const uint8_t *)secret, VG_SECRET_TOKEN_LEN);
  return 0;
}

int vg_users_session_create(vg_users_t *u, int64_t user_id, char *id, size_t id_size) {
  uint8_t hash[32];
  int err = new_secret("vgs_", id, id_size, hash);
  if (err) return err;
  int64_t now = now_utc();
  pthread_mutex_lock(&u->lock);
  /* Expired sessions are swept here, so the table does not grow forever. */
  run(u, prepare(u, "DELETE FROM sessions WHERE expires_us < ? OR last_used_us < ?", "ii", now,
                 now - (int64_t)u->cfg.idle_timeout_s * 1000000));
  err = run(u, prepare(u,
                       "INSERT INTO sessions(id_hash, user_id, created_us, expires_us, last_used_us) "
                       "VALUES(?, ?, ?, ?, ?)",
                       "biiii", hash, user_id, now, now + (int64_t)u->cfg.session_ttl_s * 1000000, now));
  pthread_mutex_unlock(&u->lock);
  return err < 0 ? err : 0;
}

int vg_users_session_get(vg_users_t *u, const char *id, vg_user_t *out) {
  memset(out, 0, sizeof(*out));
  uint8_t hash[32];
  if (secret_hash("vgs_", id, hash)) return VG_EAUTH;
  int64_t now = now_utc();
  pthread_mutex_lock(&u->lock);
  sqlite3_stmt *st = prepare(u,
                             "SELECT u.id, u.name, u.role, u.created_us, s.expires_us, s.last_used_us "
                             "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?",
                             "b", hash);
  int err = VG_EAUTH, expired = 0;
  if (!st) err = VG_EDB;
  if (st && sqlite3_step(st) == SQLITE_ROW) {
    int64_t expires = sqlite3_column_int64(st, 4), last = sqlite3_column_int64(st, 5);
    expired = expires <= now || last + (int64_t)u->cfg.idle_timeout_s * 1000000 <= now;
    if (!expired) err = user_from_row(u, st, 0, out);
  }
  if (st) sqlite3_finalize(st);
  if (expired) run(u, prepare(u, "DELETE FROM sessions WHERE id_hash = ?", "b", hash));
  /* The last use is written at most every 10 s: a page polling the API does not write on every request. */
  if (!err)
    run(u, prepare(u, "UPDATE sessions SET last_used_us = ? WHERE id_hash = ? AND last_used_us < ?", "ibi",
                   now, hash, now - 10000000));
  pthread_mutex_unlock(&u->lock);
  return err;
}

int vg_users_session_delete(vg_users_t *u, const char *id) {
  uint8_t hash[32];
  if (secret_hash("vgs_", id, hash)) return 0;
  pthread_mutex_lock(&u->lock);
  int err = run(u, prepare(u, "DELETE FROM sessions WHERE id_hash = ?", "b", hash));
  pthread_mutex_unlock(&u->lock);
  return err < 0 ? err : 0;
}

int vg_users_token_create(vg_users_t *u, int64_t user_id, const char *name, char *token, size_t token_size,
                          int64_t *id) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n >= sizeof(((vg_token_info_t *)0)->name)) return VG_EINVAL;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) return VG_EINVAL;
  uint8_t hash[32];
  int err = new_secret("vgt_", token, token_size, hash);
  if (err) return err;
  pthread_mutex_lock(&u->lock);
  err = run(u, prepare(u, "INSERT INTO tokens(user_id, name, hash, created_us) VALUES(?, ?, ?, ?)", "isbi",
                       user_id, name, hash, now_utc()));
  if (err >= 0 && id) *id = sqlite3_last_insert_rowid(vg_db_sqlite(u->db));
  pthread_mutex_unlock(&u->lock);
  if (err < 0) sodium_memzero(token, token_size);
  return err < 0 ? err : 0;
}

int vg_users_token_get(vg_users_t *u, const char *token, vg_user_t *out) {
  memset(out, 0, sizeof(*out));
  uint8_t hash[32];
  if (secret_hash("vgt_", token, hash)) return VG_EAUTH;
  int64_t now = now_utc();
  pthread_mutex_lock(&u->lock);
  sqlite3_stmt *st = prepare(u,
                             "SELECT u.id, u.name, u.role, u.created_us, t.id FROM tokens t "
                             "JOIN users u ON u.id = t.user_id WHERE t.hash = ?",
                             "b", hash);
  int err = st ? VG_EAUTH : VG_EDB;
  int64_t token_id = 0;
  if (st && sqlite3_step(st) == SQLITE_ROW) {
    token_id = sqlite3_column_int64(st, 4);
    err = user_from_row(u, st, 0, out);
  }
  if (st) sqlite3_finalize(st);
  if (!err)
    run(u, prepare(u, "UPDATE tokens SET last_used_us = ? WHERE id = ? AND last_used_us < ?", "iii", now,
                   token_id, now - 10000000));
  pthread_mutex_unlock(&u->lock);
  return err;
}

int vg_users_token_revoke(vg_users_t *u, int64_t user_id, int64_t id) {
  pthread_mutex_lock(&u->lock);
  int n = user_id < 0
              ? run(u, prepare(u, "DELETE FROM tokens WHERE id = ?", "i", id))
              : run(u, prepare(u, "DELETE FROM tokens WHERE id = ? AND user_id = ?", "ii", id, user_id));
  pthread_mutex_unlock(&u->lock);
  return n < 0 ? n : n == 0 ? VG_ENOTFOUND : 0;
}

int vg_users_token_foreach(vg_users_t *u, int64_t user_id, void (*fn)(const vg_token_info_t *t, void *opaque),
                           void *opaque) {
  pthread_mutex_lock(&u->lock);
  sqlite3_stmt *st = prepare(u,
                             "SELECT id, name, created_us, last_used_us FROM tokens "
                             "WHERE ? < 0 OR user_id = ? ORDER BY id",
                             "ii", user_id, user_id);
  int n = st ? 0 : VG_EDB;
  while (st && sqlite3_step(st) == SQLITE_ROW) {
    vg_token_info_t t = {.id = sqlite3_column_int64(st, 0),
                         .created_us = sqlite3_column_int64(st, 2),
                         .last_used_us = sqlite3_column_int64(st, 3)};
    snprintf(t.name, sizeof(t.name), "%s", col_text(st, 1));
    fn(&t, opaque);
    n++;
  }
  if (st) sqlite3_finalize(st);
  pthread_mutex_unlock(&u->lock);
  return n;
}

/* ---- audit ---- */

int vg_audit_log(vg_users_t *u, const char *user, const char *peer, const char *action, const char *target,
                 const char *fmt, ...) {
  char detail[256] = "";
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
  }
  user = user ? user : "";
  peer = peer ? peer : "";
  target = target ? target : "";
  vg_log_info(&lg, "audit: %s by %s%s%s on %s%s%s", action, user[0] ? user : "-", peer[0] ? " from " : "",
              peer, target[0] ? target : "-", detail[0] ? ": " : "", detail);
  if (!u) return 0;
  pthread_mutex_lock(&u->lock);
  int err = run(u, prepare(u,
                           "INSERT INTO audit(time_us, user, peer, action, target, detail) "
                           "VALUES(?, ?, ?, ?, ?, ?)",
                           "isssss", now_utc(), user, peer, action, target, detail));
  int prune = ++u->audit_since_prune >= AUDIT_PRUNE_EVERY;
  pthread_mutex_unlock(&u->lock);
  if (prune) vg_audit_prune(u, now_utc());
  return err < 0 ? err : 0;
}

/* Rows are appended in time order, so both limits delete a prefix of ids:
 * the scan stops at the first row that stays. */
int vg_audit_prune(vg_users_t *u, int64_t now_us) {
  int64_t cutoff = now_us - (int64_t)u->cfg.audit_max_age_days * 24 * 3600 * 1000000;
  pthread_mutex_lock(&u->lock);
  u->audit_since_prune = 0;
  int gone = run(u, prepare(u,
                            "DELETE FROM audit WHERE id < COALESCE((SELECT id FROM audit WHERE time_us >= ? "
                            "ORDER BY id LIMIT 1), (SELECT MAX(id) + 1 FROM audit)) "
                            "OR id <= (SELECT MAX(id) FROM audit) - ?",
                            "ii", cutoff, (int64_t)u->cfg.audit_max_rows));
  pthread_mutex_unlock(&u->lock);
  if (gone > 0) vg_log_info(&lg, "audit: pruned %d old rows", gone);
  return gone;
}

int vg_audit_foreach(vg_users_t *u, int64_t before_id, int limit, int offset,
                     void (*fn)(const vg_audit_row_t *row, void *opaque), void *opaque) {
  pthread_mutex_lock(&u->lock);
  sqlite3_stmt *st = prepare(u,
                             "SELECT id, time_us, user, peer, action, target, detail FROM audit "
                             "WHERE ? <= 0 OR id < ? ORDER BY id DESC LIMIT ? OFFSET ?",
                             "iiii", before_id, before_id, (int64_t)limit, (int64_t)offset);
  int n = st ? 0 : VG_EDB;
  while (st && sqlite3_step(st) == SQLITE_ROW) {
    vg_audit_row_t row = {.id = sqlite3_column_int64(st, 0), .time_us = sqlite3_column_int64(st, 1)};
    snprintf(row.user, sizeof(row.user), "%s", col_text(st, 2));
    snprintf(row.peer, sizeof(row.peer), "%s", col_text(st, 3));
    snprintf(row.action, sizeof(row.action), "%s", col_text(st, 4));
    snprintf(row.target, sizeof(row.target), "%s", col_text(st, 5));
    snprintf(row.detail, sizeof(row.detail), "%s", col_text(st, 6));
    fn(&row, opaque);
    n++;
  }
  if (st) sqlite3_finalize(st);
  pthread_mutex_unlock(&u->lock);
  return n;
}
