/*
 * users.h: vigil's users, sessions, API tokens, login rate limiting and the
 * audit log, stored in the database (module "users", see db/db.h).
 *
 * Roles: admin may do everything on every camera; operator and viewer act on
 * the cameras their per-camera permissions name (live, recordings, export,
 * ptz; the camera "*" stands for all cameras). The role also gates routes
 * (api.h's vg_access_t): operators may read /metrics and future operational
 * routes, viewers only look.
 *
 * Secrets at rest:
 *   - passwords: argon2id in PHC form ("$argon2id$v=19$m=..,t=..,p=1$salt$hash"),
 *     so a change of cost parameters applies to new hashes and old ones
 *     still verify. Defaults t=2, m=19456 KiB (19 MiB), p=1: the OWASP
 *     minimum for argon2id, about 30-60 ms on this class of machine, which a
 *     login can afford; tests lower m to keep the suite fast.
 *   - session ids and API tokens: 256 random bits (libsodium), given to the
 *     client once, stored only as SHA-256 (a stolen database does not yield
 *     usable sessions or tokens; the ids are random, so a salt adds nothing).
 *
 * Password checks are rate limited per user name and per peer address
 * (vg_users_check_password): after max_failures consecutive failures for a
 * user (4 x max_failures for one peer address, which may be a NAT shared by
 * many users) further attempts are refused with VG_EBUSY for lockout_s,
 * without looking at the password. The limiter is shared by every vg_users_t
 * of the process, so the HTTP API and the RTSP server count together.
 *
 * Successful password checks are cached for VG_USERS_CACHE_S, keyed by a
 * keyed hash of the user name and password and tied to the stored hash, so
 * an RTSP client reconnecting with Basic credentials (or a script using
 * Basic on every request) costs one argon2 per minute, not one per request.
 * A password change or a deleted user misses the cache at once.
 *
 * Threads: a vg_users_t owns its own database connection and serializes its
 * use with a mutex, so it may be called from any thread; open one per
 * subsystem (the HTTP server, the RTSP server) to keep their connections
 * apart. Password hashing runs outside the mutex.
 */
#ifndef VG_API_USERS_H
#define VG_API_USERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"

typedef enum {
  VG_ROLE_VIEWER = 0,
  VG_ROLE_OPERATOR = 1,
  VG_ROLE_ADMIN = 2,
} vg_role_t;

/* Per-camera permissions, a bit mask. */
typedef enum {
  VG_PERM_LIVE = 1,
  VG_PERM_RECORDINGS = 2,
  VG_PERM_EXPORT = 4,
  VG_PERM_PTZ = 8,
  VG_PERM_ALL = 15,
} vg_perm_t;

#define VG_USER_NAME_MAX 64
#define VG_USER_PASSWORD_MAX 256
#define VG_CAMERA_ID_MAX 64
#define VG_USERS_CACHE_S 60
/* "vgs_" or "vgt_" and 64 hex digits (256 bits). */
#define VG_SECRET_TOKEN_LEN 68

typedef struct {
  char camera[VG_CAMERA_ID_MAX]; /* a camera id or "*" */
  unsigned mask;                 /* vg_perm_t bits */
} vg_user_perm_t;

/* A user as the API sees it (never with its password hash). */
typedef struct vg_user_s {
  int64_t id; /* 0 for the built-in admin of an auth-disabled node */
  char name[VG_USER_NAME_MAX];
  vg_role_t role;
  vg_user_perm_t *perms; /* owned; freed by vg_user_clear */
  int perm_count;
  int64_t created_us;
} vg_user_t;

void vg_user_clear(vg_user_t *u);
/* Whether u may do perm on camera: admins always, others by their
 * permissions on the camera or on "*". */
bool vg_user_allowed(const vg_user_t *u, const char *camera, vg_perm_t perm);

const char *vg_role_name(vg_role_t r);
/* Returns 0 and *out, or VG_EINVAL. */
int vg_role_parse(const char *name, vg_role_t *out);
/* "live", "recordings", "export", "ptz" -> bit; 0 when unknown. */
unsigned vg_perm_parse(const char *name);
const char *vg_perm_name(vg_perm_t p);

/* The "auth" object of the node's configuration. */
typedef struct {
  bool enabled;              /* default true */
  int session_ttl_s;         /* absolute session lifetime, default 7 days */
  int idle_timeout_s;        /* session ends after this long unused, default 1 hour */
  int max_failures;          /* failures before a lockout, default 5 */
  int lockout_s;             /* default 300 */
  int argon2_t_cost;         /* default 2 */
  int argon2_m_kib;          /* default 19456 */
  char secret_key_file[512]; /* default "var/secret.key" (base/secret.h) */
  int audit_max_age_days;    /* audit rows older than this are deleted, default 365 */
  int audit_max_rows;        /* and beyond this many, the oldest, default 1,000,000 */
} vg_auth_config_t;

void vg_auth_config_defaults(vg_auth_config_t *cfg);
/* Parses the top-level "auth" object (obj may be NULL: defaults). */
int vg_auth_config_parse(vg_cfg_t *c, json_t *obj, vg_auth_config_t *out);

typedef struct vg_users vg_users_t;

/* Opens the users module on its own connection to the database at db_path
 * (":memory:" gives a private in-memory database) and applies its
 * migrations. Returns 0, VG_EDB, VG_ENOMEM. */
int vg_users_open(const char *db_path, const vg_auth_config_t *cfg, vg_users_t **out);
void vg_users_close(vg_users_t **u);
/* First start: when there are no users, creates "admin" with the password
 * from env VIGIL_ADMIN_PASSWORD or a random one, which is written to
 * stderr this once (never to the log). Returns 1 when it created the
 * admin, 0 when users existed, or an error. */
int vg_users_bootstrap(vg_users_t *u);

/* ---- users ---- */

/* Validation of names ([A-Za-z0-9._@-], 1..63 bytes) and passwords (8..255
 * bytes). Return 0 or VG_EINVAL. */
int vg_users_valid_name(const char *name);
int vg_users_valid_password(const char *password);

/* Creates a user. VG_EEXIST when the name is taken, VG_EINVAL for a bad
 * name or password. */
int vg_users_create(vg_users_t *u, const char *name, const char *password, vg_role_t role,
                    const vg_user_perm_t *perms, int perm_count);
/* Updates role and/or permissions (perms NULL and perm_count < 0: leave
 * them) and/or the password (NULL: leave it). Changing the password ends
 * the user's sessions. VG_ENOTFOUND, VG_EINVAL. */
int vg_users_update(vg_users_t *u, const char *name, const vg_role_t *role, const vg_user_perm_t *perms,
                    int perm_count, const char *password);
/* Deletes a user with their sessions and tokens. VG_ENOTFOUND; VG_ESTATE when
 * it is the last admin. */
int vg_users_delete(vg_users_t *u, const char *name);
/* A number that changes whenever a user is updated or deleted, for holders
 * of a user copy (an open event stream) to know when to reload it. */
unsigned vg_users_generation(vg_users_t *u);
/* Fills *out (clear it with vg_user_clear). VG_ENOTFOUND. */
int vg_users_get(vg_users_t *u, const char *name, vg_user_t *out);
/* Calls fn for each user, by name. Returns the count or an error. */
int vg_users_foreach(vg_users_t *u, void (*fn)(const vg_user_t *user, void *opaque), void *opaque);
int vg_users_count(vg_users_t *u);

/* Checks a user's password, rate limited per user and per peer (peer may be
 * "" or NULL). Returns 0 and fills *out (may be NULL), VG_EAUTH for a wrong
 * user or password (the two are not told apart), VG_EBUSY while locked out
 * (*retry_after_s set when not NULL). */
int vg_users_check_password(vg_users_t *u, const char *name, const char *password, const char *peer,
                            vg_user_t *out, int *retry_after_s);
/* Clears every lockout and failure counter and the verification cache (tests). */
void vg_users_reset_limits(void);
/* Moves this module's clocks forward (tests of expiry and lockouts). */
void vg_users_test_advance_clock(int64_t us);

/* ---- sessions ---- */

/* Creates a session for user_id; writes its id ("vgs_" + 64 hex digits) to
 * id (VG_SECRET_TOKEN_LEN + 1 bytes). */
int vg_users_session_create(vg_users_t *u, int64_t user_id, char *id, size_t id_size);
/* Resolves a session id: 0 with *out, VG_EAUTH when unknown, expired or idle
 * for too long (then it is deleted). Refreshes its last use. */
int vg_users_session_get(vg_users_t *u, const char *id, vg_user_t *out);
/* Ends a session (unknown ids are fine). */
int vg_users_session_delete(vg_users_t *u, const char *id);

/* ---- API tokens ---- */

typedef struct {
  int64_t id;
  char name[64];
  int64_t created_us, last_used_us; /* last_used 0: never */
} vg_token_info_t;

/* Creates a token for user_id named name (1..63 printable bytes); writes
 * the token ("vgt_" + 64 hex digits) to token, shown once, and its id. */
int vg_users_token_create(vg_users_t *u, int64_t user_id, const char *name, char *token, size_t token_size,
                          int64_t *id);
/* Resolves a token: 0 with *out and its last use updated, or VG_EAUTH. */
int vg_users_token_get(vg_users_t *u, const char *token, vg_user_t *out);
/* Revokes (deletes) token id of user_id (user_id < 0: of any user).
 * VG_ENOTFOUND. */
int vg_users_token_revoke(vg_users_t *u, int64_t user_id, int64_t id);
/* Calls fn for each token of user_id (< 0: all). Returns the count. */
int vg_users_token_foreach(vg_users_t *u, int64_t user_id, void (*fn)(const vg_token_info_t *t, void *opaque),
                           void *opaque);

/* ---- audit log ---- */

typedef struct {
  int64_t id;
  int64_t time_us; /* UTC */
  char user[VG_USER_NAME_MAX];
  char peer[64];
  char action[48];
  char target[128];
  char detail[256];
} vg_audit_row_t;

/* Appends a row: who (user, "" when unknown), from where (peer), did what
 * (action, e.g. "login.failure", "user.create", "config.change",
 * "export"), to what (target) and any detail (a short formatted text, never
 * a secret). Also logged at info level. Returns 0 or VG_EDB. */
int vg_audit_log(vg_users_t *u, const char *user, const char *peer, const char *action, const char *target,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Deletes the rows older than the configured age and the oldest beyond the
 * configured count (vg_audit_log also does this every 1,000 rows and the
 * open at start). Returns how many rows went, or VG_EDB. */
int vg_audit_prune(vg_users_t *u, int64_t now_us);
/* Rows newest first, with id < before_id (0: from the newest), at most
 * limit rows after skipping offset. Calls fn per row; returns the count. */
int vg_audit_foreach(vg_users_t *u, int64_t before_id, int limit, int offset,
                     void (*fn)(const vg_audit_row_t *row, void *opaque), void *opaque);

#endif
