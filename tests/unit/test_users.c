/* Unit tests for access control: password hashing and checks, sessions
 * (expiry and idle timeout), API tokens, the login limiter, the audit log,
 * roles and per-camera permissions, and dispatch with auth on (an in-memory
 * database), plus sealed secrets (base/secret.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/api.h"
#include "api/users.h"
#include "base/base64.h"
#include "base/error.h"
#include "base/secret.h"
#include "base/time.h"

static vg_auth_config_t test_config(void) {
  vg_auth_config_t cfg;
  vg_auth_config_defaults(&cfg);
  /* Cheap hashes: the cost is configuration, the code path is the same. */
  cfg.argon2_t_cost = 1;
  cfg.argon2_m_kib = 256;
  cfg.max_failures = 3;
  cfg.lockout_s = 60;
  cfg.session_ttl_s = 3600;
  cfg.idle_timeout_s = 600;
  return cfg;
}

static int setup(void **state) {
  vg_auth_config_t cfg = test_config();
  vg_users_t *u;
  vg_users_reset_limits();
  if (vg_users_open(":memory:", &cfg, &u) != 0) return -1;
  *state = u;
  return 0;
}

static int teardown(void **state) {
  vg_users_t *u = *state;
  vg_api_set_auth(NULL, NULL, false, false);
  vg_users_close(&u);
  return 0;
}

static void test_hash_and_check(void **state) {
  vg_users_t *u = *state;
  assert_int_equal(vg_users_create(u, "alice", "correct horse", VG_ROLE_VIEWER, NULL, 0), 0);
  assert_int_equal(vg_users_create(u, "alice", "other password", VG_ROLE_VIEWER, NULL, 0), VG_EEXIST);
  assert_int_equal(vg_users_create(u, "bad name", "correct horse", VG_ROLE_VIEWER, NULL, 0), VG_EINVAL);
  assert_int_equal(vg_users_create(u, "bob", "short", VG_ROLE_VIEWER, NULL, 0), VG_EINVAL);
  vg_user_t user;
  assert_int_equal(vg_users_check_password(u, "alice", "correct horse", "10.0.0.1", &user, NULL), 0);
  assert_string_equal(user.name, "alice");
  assert_int_equal(user.role, VG_ROLE_VIEWER);
  assert_true(user.id > 0);
  vg_user_clear(&user);
  assert_int_equal(vg_users_check_password(u, "alice", "wrong horse", "10.0.0.1", NULL, NULL), VG_EAUTH);
  assert_int_equal(vg_users_check_password(u, "nobody", "correct horse", "10.0.0.1", NULL, NULL), VG_EAUTH);
  /* A password change ends the cached verification at once. */
  assert_int_equal(vg_users_update(u, "alice", NULL, NULL, -1, "new password 1"), 0);
  assert_int_equal(vg_users_check_password(u, "alice", "correct horse", "", NULL, NULL), VG_EAUTH);
  assert_int_equal(vg_users_check_password(u, "alice", "new password 1", "", NULL, NULL), 0);
}

static void test_sessions_expire(void **state) {
  vg_users_t *u = *state;
  assert_int_equal(vg_users_create(u, "carol", "password 123", VG_ROLE_OPERATOR, NULL, 0), 0);
  vg_user_t user;
  assert_int_equal(vg_users_get(u, "carol", &user), 0);
  int64_t id = user.id;
  vg_user_clear(&user);
  char sid[VG_SECRET_TOKEN_LEN + 1], sid2[VG_SECRET_TOKEN_LEN + 1];
  assert_int_equal(vg_users_session_create(u, id, sid, sizeof(sid)), 0);
  assert_int_equal(strlen(sid), VG_SECRET_TOKEN_LEN);
  assert_memory_equal(sid, "vgs_", 4);
  assert_int_equal(vg_users_session_get(u, sid, &user), 0);
  assert_string_equal(user.name, "carol");
  vg_user_clear(&user);
  /* Idle timeout: 600 s without use. */
  vg_users_test_advance_clock(601LL * 1000000);
  assert_int_equal(vg_users_session_get(u, sid, &user), VG_EAUTH);
  /* Used regularly, a session still ends at its absolute lifetime. */
  assert_int_equal(vg_users_session_create(u, id, sid2, sizeof(sid2)), 0);
  for (int i = 0; i < 6; i++) {
    vg_users_test_advance_clock(500LL * 1000000);
    assert_int_equal(vg_users_session_get(u, sid2, &user), 0);
    vg_user_clear(&user);
  }
  vg_users_test_advance_clock(700LL * 1000000);
  assert_int_equal(vg_users_session_get(u, sid2, &user), VG_EAUTH);
  /* Deleted sessions and malformed ids do not resolve. */
  assert_int_equal(vg_users_session_create(u, id, sid, sizeof(sid)), 0);
  assert_int_equal(vg_users_session_delete(u, sid), 0);
  assert_int_equal(vg_users_session_get(u, sid, &user), VG_EAUTH);
  assert_int_equal(vg_users_session_get(u, "vgs_zz", &user), VG_EAUTH);
  assert_int_equal(vg_users_session_get(u, "", &user), VG_EAUTH);
  /* A password change ends every session of the user. */
  assert_int_equal(vg_users_session_create(u, id, sid, sizeof(sid)), 0);
  assert_int_equal(vg_users_update(u, "carol", NULL, NULL, -1, "password 456"), 0);
  assert_int_equal(vg_users_session_get(u, sid, &user), VG_EAUTH);
}

typedef struct {
  int count;
  int64_t last_id;
  char last_name[64];
} token_list_t;

static void count_token(const vg_token_info_t *t, void *opaque) {
  token_list_t *l = opaque;
  l->count++;
  l->last_id = t->id;
  snprintf(l->last_name, sizeof(l->last_name), "%s", t->name);
}

static void test_tokens_revoke(void **state) {
  vg_users_t *u = *state;
  assert_int_equal(vg_users_create(u, "dave", "password 123", VG_ROLE_VIEWER, NULL, 0), 0);
  assert_int_equal(vg_users_create(u, "erin", "password 123", VG_ROLE_VIEWER, NULL, 0), 0);
  vg_user_t dave, erin;
  assert_int_equal(vg_users_get(u, "dave", &dave), 0);
  assert_int_equal(vg_users_get(u, "erin", &erin), 0);
  char token[VG_SECRET_TOKEN_LEN + 1];
  int64_t tid;
  assert_int_equal(vg_users_token_create(u, dave.id, "backup script", token, sizeof(token), &tid), 0);
  assert_memory_equal(token, "vgt_", 4);
  assert_int_equal(vg_users_token_create(u, dave.id, "", token, sizeof(token), NULL), VG_EINVAL);
  vg_user_t who;
  assert_int_equal(vg_users_token_get(u, token, &who), 0);
  assert_string_equal(who.name, "dave");
  vg_user_clear(&who);
  token_list_t list = {0};
  assert_int_equal(vg_users_token_foreach(u, dave.id, count_token, &list), 1);
  assert_string_equal(list.last_name, "backup script");
  assert_int_equal(list.last_id, tid);
  /* Only the owner (or an admin, user -1) revokes. */
  assert_int_equal(vg_users_token_revoke(u, erin.id, tid), VG_ENOTFOUND);
  assert_int_equal(vg_users_token_revoke(u, dave.id, tid), 0);
  assert_int_equal(vg_users_token_get(u, token, &who), VG_EAUTH);
  assert_int_equal(vg_users_token_revoke(u, -1, tid), VG_ENOTFOUND);
  /* A token with one changed digit is another token. */
  assert_int_equal(vg_users_token_create(u, dave.id, "t2", token, sizeof(token), &tid), 0);
  token[10] = token[10] == 'a' ? 'b' : 'a';
  assert_int_equal(vg_users_token_get(u, token, &who), VG_EAUTH);
  /* Deleting the user takes the tokens along. */
  token[10] = 0;
  assert_int_equal(vg_users_delete(u, "dave"), 0);
  list.count = 0;
  assert_int_equal(vg_users_token_foreach(u, dave.id, count_token, &list), 0);
  vg_user_clear(&dave);
  vg_user_clear(&erin);
}

static void test_lockout(void **state) {
  vg_users_t *u = *state;
  assert_int_equal(vg_users_create(u, "frank", "password 123", VG_ROLE_VIEWER, NULL, 0), 0);
  int retry = 0;
  for (int i = 0; i < 3; i++)
    assert_int_equal(vg_users_check_password(u, "frank", "nope nope", "10.0.0.9", NULL, &retry), VG_EAUTH);
  /* Locked: even the right password is refused, without a check. */
  assert_int_equal(vg_users_check_password(u, "frank", "password 123", "10.0.0.8", NULL, &retry), VG_EBUSY);
  assert_true(retry > 0 && retry <= 60);
  vg_users_test_advance_clock(61LL * 1000000);
  assert_int_equal(vg_users_check_password(u, "frank", "password 123", "10.0.0.8", NULL, &retry), 0);
  /* Per peer: 4 x max_failures over many names locks the address. */
  for (int i = 0; i < 12; i++) {
    char name[16];
    snprintf(name, sizeof(name), "guess%d", i);
    assert_int_equal(vg_users_check_password(u, name, "x", "192.0.2.7", NULL, NULL), VG_EAUTH);
  }
  assert_int_equal(vg_users_check_password(u, "frank", "password 123", "192.0.2.7", NULL, &retry), VG_EBUSY);
  assert_int_equal(vg_users_check_password(u, "frank", "password 123", "192.0.2.8", NULL, &retry), 0);
}

typedef struct {
  int count;
  vg_audit_row_t rows[8];
} audit_list_t;

static void collect_audit(const vg_audit_row_t *row, void *opaque) {
  audit_list_t *l = opaque;
  if (l->count < 8) l->rows[l->count] = *row;
  l->count++;
}

static void test_audit_rows(void **state) {
  vg_users_t *u = *state;
  assert_int_equal(vg_audit_log(u, "alice", "10.0.0.1", "login.success", "alice", "session"), 0);
  assert_int_equal(vg_audit_log(u, "alice", "10.0.0.1", "config.change", "cameras.door", "url %s", "changed"),
                   0);
  assert_int_equal(vg_audit_log(u, "bob", "10.0.0.2", "export", "door", NULL), 0);
  audit_list_t l = {0};
  assert_int_equal(vg_audit_foreach(u, 0, 10, 0, collect_audit, &l), 3);
  assert_string_equal(l.rows[0].action, "export"); /* newest first */
  assert_string_equal(l.rows[0].user, "bob");
  assert_string_equal(l.rows[1].detail, "url changed");
  assert_string_equal(l.rows[2].peer, "10.0.0.1");
  assert_true(l.rows[2].time_us > 0);
  /* Pages: by offset and by cursor. */
  audit_list_t p = {0};
  assert_int_equal(vg_audit_foreach(u, 0, 1, 1, collect_audit, &p), 1);
  assert_string_equal(p.rows[0].action, "config.change");
  p.count = 0;
  assert_int_equal(vg_audit_foreach(u, l.rows[1].id, 10, 0, collect_audit, &p), 1);
  assert_string_equal(p.rows[0].action, "login.success");
}

static void test_audit_prune(void **state) {
  (void)state;
  vg_auth_config_t cfg = test_config();
  cfg.audit_max_rows = 100;
  cfg.audit_max_age_days = 30;
  vg_users_t *u;
  assert_int_equal(vg_users_open(":memory:", &cfg, &u), 0);
  for (int i = 0; i < 250; i++)
    assert_int_equal(vg_audit_log(u, "alice", "", "login.success", "alice", "%d", i), 0);
  /* By count: the oldest 150 go, the newest 100 stay. */
  assert_int_equal(vg_audit_prune(u, vg_time_utc_us()), 150);
  audit_list_t l = {0};
  assert_int_equal(vg_audit_foreach(u, 0, 1000, 0, collect_audit, &l), 100);
  assert_string_equal(l.rows[0].detail, "249");
  assert_int_equal(vg_audit_prune(u, vg_time_utc_us()), 0);
  /* By age: 31 days on, every row is too old. */
  assert_int_equal(vg_audit_prune(u, vg_time_utc_us() + 31LL * 24 * 3600 * 1000000), 100);
  l.count = 0;
  assert_int_equal(vg_audit_foreach(u, 0, 1000, 0, collect_audit, &l), 0);
  vg_users_close(&u);
}

static void test_roles_and_permissions(void **state) {
  vg_users_t *u = *state;
  vg_user_perm_t perms[] = {{"door", VG_PERM_LIVE | VG_PERM_RECORDINGS}, {"yard", VG_PERM_LIVE}};
  assert_int_equal(vg_users_create(u, "gina", "password 123", VG_ROLE_VIEWER, perms, 2), 0);
  vg_user_t g;
  assert_int_equal(vg_users_get(u, "gina", &g), 0);
  assert_int_equal(g.perm_count, 2);
  assert_true(vg_user_allowed(&g, "door", VG_PERM_RECORDINGS));
  assert_true(vg_user_allowed(&g, "yard", VG_PERM_LIVE));
  assert_true(vg_user_allowed(&g, "yard", 0));
  assert_false(vg_user_allowed(&g, "yard", VG_PERM_EXPORT));
  assert_false(vg_user_allowed(&g, "attic", 0));
  vg_user_clear(&g);
  vg_user_perm_t all[] = {{"*", VG_PERM_LIVE}};
  vg_role_t op = VG_ROLE_OPERATOR;
  assert_int_equal(vg_users_update(u, "gina", &op, all, 1, NULL), 0);
  assert_int_equal(vg_users_get(u, "gina", &g), 0);
  assert_int_equal(g.role, VG_ROLE_OPERATOR);
  assert_true(vg_user_allowed(&g, "attic", VG_PERM_LIVE));
  assert_false(vg_user_allowed(&g, "attic", VG_PERM_PTZ));
  vg_user_clear(&g);
  vg_user_t admin = {.role = VG_ROLE_ADMIN};
  assert_true(vg_user_allowed(&admin, "anything", VG_PERM_PTZ));
  /* The last admin can be neither deleted nor demoted. */
  assert_int_equal(vg_users_create(u, "root", "password 123", VG_ROLE_ADMIN, NULL, 0), 0);
  vg_role_t viewer = VG_ROLE_VIEWER;
  assert_int_equal(vg_users_update(u, "root", &viewer, NULL, -1, NULL), VG_ESTATE);
  assert_int_equal(vg_users_delete(u, "root"), VG_ESTATE);
  assert_int_equal(vg_users_delete(u, "nobody"), VG_ENOTFOUND);
  vg_role_t r;
  assert_int_equal(vg_role_parse("operator", &r), 0);
  assert_int_equal(r, VG_ROLE_OPERATOR);
  assert_int_equal(vg_role_parse("root", &r), VG_EINVAL);
  assert_int_equal(vg_perm_parse("ptz"), VG_PERM_PTZ);
  assert_int_equal(vg_perm_parse("fly"), 0);
}

static void test_bootstrap(void **state) {
  vg_users_t *u = *state;
  setenv("VIGIL_ADMIN_PASSWORD", "from the env 1", 1);
  assert_int_equal(vg_users_bootstrap(u), 1);
  assert_int_equal(vg_users_bootstrap(u), 0); /* once only */
  unsetenv("VIGIL_ADMIN_PASSWORD");
  vg_user_t a;
  assert_int_equal(vg_users_check_password(u, "admin", "from the env 1", "", &a, NULL), 0);
  assert_int_equal(a.role, VG_ROLE_ADMIN);
  vg_user_clear(&a);
}

/* ---- dispatch with auth on ---- */

typedef struct {
  int status;
  char headers[1024];
  json_t *body;
} reply_t;

static reply_t call(const char *method, const char *path, const char *authz, const char *cookie,
                    const char *body) {
  vg_http_request_t req = {
      .method = method, .path = path, .query = "", .body = body, .body_len = body ? strlen(body) : 0};
  req.headers[VG_HTTP_HDR_AUTHORIZATION] = authz;
  req.headers[VG_HTTP_HDR_COOKIE] = cookie;
  snprintf(req.peer, sizeof(req.peer), "127.0.0.1");
  vg_http_response_t res;
  vg_http_response_init(&res);
  vg_api_dispatch(&req, &res);
  reply_t r = {.status = res.status};
  snprintf(r.headers, sizeof(r.headers), "%s", res.headers.data ? res.headers.data : "");
  json_error_t err;
  r.body = json_loadb(res.body.data ? res.body.data : "", res.body.len, 0, &err);
  vg_http_response_free(&res);
  return r;
}

static void basic(const char *user, const char *pass, char *out, size_t size) {
  char raw[256];
  snprintf(raw, sizeof(raw), "%s:%s", user, pass);
  int n = snprintf(out, size, "Basic ");
  assert_true(vg_base64_encode((const uint8_t *)raw, strlen(raw), out + n, size - (size_t)n) > 0);
}

static void test_dispatch_access(void **state) {
  vg_users_t *u = *state;
  vg_auth_config_t cfg = test_config();
  vg_api_set_auth(u, &cfg, false, false);
  assert_int_equal(vg_users_create(u, "boss", "password 123", VG_ROLE_ADMIN, NULL, 0), 0);
  assert_int_equal(vg_users_create(u, "vic", "password 123", VG_ROLE_VIEWER, NULL, 0), 0);

  reply_t r = call("GET", "/api/v1/health", NULL, NULL, NULL);
  assert_int_equal(r.status, 200);
  json_decref(r.body);
  r = call("GET", "/api/v1/me", NULL, NULL, NULL);
  assert_int_equal(r.status, 401);
  assert_non_null(strstr(r.headers, "WWW-Authenticate: Bearer"));
  json_decref(r.body);
  r = call("GET", "/metrics", NULL, NULL, NULL);
  assert_int_equal(r.status, 401);
  json_decref(r.body);

  /* Login: the cookie is HttpOnly and SameSite=Strict. */
  r = call("POST", "/api/v1/login", NULL, NULL, "{\"username\":\"vic\",\"password\":\"password 123\"}");
  assert_int_equal(r.status, 200);
  char *set = strstr(r.headers, "Set-Cookie: vigil_session=");
  assert_non_null(set);
  assert_non_null(strstr(set, "HttpOnly"));
  assert_non_null(strstr(set, "SameSite=Strict"));
  assert_null(strstr(set, "Secure"));
  char cookie[128];
  snprintf(cookie, sizeof(cookie), "theme=dark; vigil_session=%.*s", VG_SECRET_TOKEN_LEN,
           set + strlen("Set-Cookie: vigil_session="));
  json_decref(r.body);
  r = call("GET", "/api/v1/me", NULL, cookie, NULL);
  assert_int_equal(r.status, 200);
  assert_string_equal(json_string_value(json_object_get(json_object_get(r.body, "user"), "role")), "viewer");
  json_decref(r.body);
  /* Viewers may not manage users nor read metrics. */
  r = call("GET", "/api/v1/users", NULL, cookie, NULL);
  assert_int_equal(r.status, 403);
  json_decref(r.body);
  r = call("GET", "/metrics", NULL, cookie, NULL);
  assert_int_equal(r.status, 403);
  json_decref(r.body);
  /* Logout ends the session. */
  r = call("POST", "/api/v1/logout", NULL, cookie, NULL);
  assert_int_equal(r.status, 200);
  json_decref(r.body);
  r = call("GET", "/api/v1/me", NULL, cookie, NULL);
  assert_int_equal(r.status, 401);
  json_decref(r.body);

  /* Basic for scripts; admin creates a user; validation names the field. */
  char authz[256];
  basic("boss", "password 123", authz, sizeof(authz));
  r = call("POST", "/api/v1/users", authz, NULL,
           "{\"name\":\"x\",\"password\":\"password 1\",\"role\":\"king\"}");
  assert_int_equal(r.status, 400);
  assert_non_null(
      strstr(json_string_value(json_object_get(json_object_get(r.body, "error"), "message")), "role"));
  json_decref(r.body);
  r = call("POST", "/api/v1/users", authz, NULL,
           "{\"name\":\"x\",\"password\":\"password 1\",\"permissions\":{\"door\":[\"live\",\"fly\"]}}");
  assert_int_equal(r.status, 400);
  assert_non_null(strstr(json_string_value(json_object_get(json_object_get(r.body, "error"), "message")),
                         "permissions.door[1]"));
  json_decref(r.body);
  r = call("POST", "/api/v1/users", authz, NULL,
           "{\"name\":\"x\",\"password\":\"password 1\",\"permissions\":{\"door\":[\"live\"]}}");
  assert_int_equal(r.status, 201);
  json_decref(r.body);
  basic("boss", "wrong password", authz, sizeof(authz));
  r = call("GET", "/api/v1/users", authz, NULL, NULL);
  assert_int_equal(r.status, 401);
  assert_non_null(strstr(r.headers, "WWW-Authenticate: Basic"));
  json_decref(r.body);

  /* Tokens: created once, usable, revocable. */
  basic("vic", "password 123", authz, sizeof(authz));
  r = call("POST", "/api/v1/tokens", authz, NULL, "{\"name\":\"cli\"}");
  assert_int_equal(r.status, 201);
  char bearer[128];
  snprintf(bearer, sizeof(bearer), "Bearer %s", json_string_value(json_object_get(r.body, "token")));
  json_int_t tid = json_integer_value(json_object_get(r.body, "id"));
  json_decref(r.body);
  r = call("GET", "/api/v1/me", bearer, NULL, NULL);
  assert_int_equal(r.status, 200);
  json_decref(r.body);
  char path[64];
  snprintf(path, sizeof(path), "/api/v1/tokens/%lld", (long long)tid);
  r = call("DELETE", path, bearer, NULL, NULL);
  assert_int_equal(r.status, 200);
  json_decref(r.body);
  r = call("GET", "/api/v1/me", bearer, NULL, NULL);
  assert_int_equal(r.status, 401);
  assert_non_null(strstr(r.headers, "invalid_token"));
  json_decref(r.body);

  /* Lockout through login: 429 with Retry-After. */
  for (int i = 0; i < 3; i++) {
    r = call("POST", "/api/v1/login", NULL, NULL, "{\"username\":\"vic\",\"password\":\"bad password\"}");
    assert_int_equal(r.status, 401);
    json_decref(r.body);
  }
  r = call("POST", "/api/v1/login", NULL, NULL, "{\"username\":\"vic\",\"password\":\"password 123\"}");
  assert_int_equal(r.status, 429);
  assert_non_null(strstr(r.headers, "Retry-After: "));
  json_decref(r.body);
  r = call("POST", "/api/v1/login", NULL, NULL, "{\"username\":\"vic\"}");
  assert_int_equal(r.status, 400);
  assert_non_null(
      strstr(json_string_value(json_object_get(json_object_get(r.body, "error"), "message")), "password"));
  json_decref(r.body);
}

/* Every route of every group that is not marked public answers 401 to a
 * request without credentials, before its handler runs. */
typedef struct {
  int checked, public_count;
} route_check_t;

static void check_route(const vg_http_route_t *route, void *opaque) {
  route_check_t *rc = opaque;
  if (route->access == VG_ACCESS_PUBLIC) {
    rc->public_count++;
    return;
  }
  char path[256];
  size_t n = 0;
  for (const char *p = route->pattern; *p && n + 3 < sizeof(path); p++) {
    if (*p == '{') {
      path[n++] = 'x';
      path[n++] = '1';
      while (*p && *p != '}')
        p++;
    } else {
      path[n++] = *p;
    }
  }
  path[n] = '\0';
  reply_t r = call(route->method, path, NULL, NULL, "{}");
  if (r.status != 401)
    fail_msg("%s %s answered %d without credentials", route->method, route->pattern, r.status);
  json_decref(r.body);
  rc->checked++;
}

static void test_every_route_needs_auth(void **state) {
  vg_users_t *u = *state;
  vg_auth_config_t cfg = test_config();
  vg_api_set_auth(u, &cfg, false, false);
  route_check_t rc = {0};
  vg_api_foreach_route(check_route, &rc);
  assert_true(rc.checked >= 14);
  assert_int_equal(rc.public_count, 2); /* health and login */
  /* With metrics_public, /metrics needs nothing. */
  vg_api_set_auth(u, &cfg, false, true);
  reply_t r = call("GET", "/metrics", NULL, NULL, NULL);
  assert_int_equal(r.status, 200);
  json_decref(r.body);
  r = call("GET", "/api/v1/me", NULL, NULL, NULL);
  assert_int_equal(r.status, 401);
  json_decref(r.body);
}

/* ---- sealed secrets ---- */

static void test_secret_seal_open(void **state) {
  uint8_t key[VG_SECRET_KEY_LEN], other[VG_SECRET_KEY_LEN];
  char path[] = "/tmp/vigil-test-secret-XXXXXX";
  assert_non_null(mkdtemp(path));
  char file[64];
  snprintf(file, sizeof(file), "%s/sub/secret.key", path);
  assert_int_equal(vg_secret_key_load(file, key), 0);
  struct stat st;
  assert_int_equal(stat(file, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(vg_secret_key_load(file, other), 0); /* the same key again */
  assert_memory_equal(key, other, sizeof(key));
  char sealed[256], plain[64];
  int n = vg_secret_seal(key, "s3cr3t", 6, sealed, sizeof(sealed));
  assert_true(n > 4);
  assert_true(vg_secret_is_sealed(sealed));
  assert_null(strstr(sealed, "s3cr3t"));
  assert_int_equal(vg_secret_open(key, sealed, plain, sizeof(plain)), 6);
  assert_string_equal(plain, "s3cr3t");
  /* Two seals of one value differ (random nonces). */
  char sealed2[256];
  vg_secret_seal(key, "s3cr3t", 6, sealed2, sizeof(sealed2));
  assert_string_not_equal(sealed, sealed2);
  /* Tampering and a foreign key are detected. */
  sealed[10] = sealed[10] == 'A' ? 'B' : 'A';
  assert_int_equal(vg_secret_open(key, sealed, plain, sizeof(plain)), VG_EAUTH);
  other[0] ^= 1;
  assert_int_equal(vg_secret_open(other, sealed2, plain, sizeof(plain)), VG_EAUTH);
  assert_int_equal(vg_secret_open(key, "s3cr3t", plain, sizeof(plain)), VG_EINVAL);
  assert_int_equal(vg_secret_open(key, "sb1:!!!", plain, sizeof(plain)), VG_EINVAL);
  assert_int_equal(vg_secret_open(key, sealed2, plain, 4), VG_ETOOBIG);
  assert_int_equal(vg_secret_seal(key, "s3cr3t", 6, sealed, 20), VG_ETOOBIG);
  /* A malformed key file is refused, not replaced. */
  FILE *f = fopen(file, "w");
  fputs("not a key\n", f);
  fclose(f);
  assert_int_equal(vg_secret_key_load(file, key), VG_EINVAL);
  unlink(file);
  snprintf(file, sizeof(file), "%s/sub", path);
  rmdir(file);
  rmdir(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_hash_and_check, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sessions_expire, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tokens_revoke, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lockout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_audit_rows, setup, teardown),
      cmocka_unit_test(test_audit_prune),
      cmocka_unit_test_setup_teardown(test_roles_and_permissions, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bootstrap, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dispatch_access, setup, teardown),
      cmocka_unit_test_setup_teardown(test_every_route_needs_auth, setup, teardown),
      cmocka_unit_test(test_secret_seal_open),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
