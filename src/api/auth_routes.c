/*
 * auth_routes.c: the access-control API: login and logout, the current
 * user, user management, API tokens and the audit log (see api.h and
 * docs/openapi.json). Handlers run on the HTTP server's thread and use the
 * users store installed by vg_api_set_auth().
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/users.h"
#include "base/error.h"
#include "base/time.h"

#define MAX_PERMS 4096 /* permission entries in one request */

/* ---- JSON helpers ---- */

static json_t *time_or_null(int64_t us) {
  if (us <= 0) return json_null();
  char text[40];
  vg_time_format_utc(us, text, sizeof(text));
  return json_string(text);
}

static json_t *user_json(const vg_user_t *u) {
  json_t *perms = json_object();
  for (int i = 0; perms && i < u->perm_count; i++) {
    json_t *list = json_array();
    for (unsigned bit = 1; list && bit <= VG_PERM_PTZ; bit <<= 1)
      if (u->perms[i].mask & bit) json_array_append_new(list, json_string(vg_perm_name((vg_perm_t)bit)));
    json_object_set_new(perms, u->perms[i].camera, list);
  }
  return json_pack("{s:s,s:s,s:o,s:o}", "name", u->name, "role", vg_role_name(u->role), "permissions", perms,
                   "created", time_or_null(u->created_us));
}

/* The request body as a JSON object, or a 400 written to res (returns NULL). */
static json_t *body_object(const vg_http_request_t *req, vg_http_response_t *res) {
  json_error_t jerr;
  json_t *j = req->body && req->body_len ? json_loadb(req->body, req->body_len, 0, &jerr) : NULL;
  if (!j || !json_is_object(j)) {
    json_decref(j);
    vg_http_reply_error(res, 400, "invalid_json", "the body must be a JSON object");
    return NULL;
  }
  return j;
}

/* A string member: 1 and *out when present and a string, 0 when absent (or
 * null), -1 with a 400 answered when it is something else. */
static int member_string(json_t *obj, const char *key, const char **out, vg_http_response_t *res) {
  json_t *v = json_object_get(obj, key);
  *out = NULL;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_string(v)) {
    vg_http_reply_error(res, 400, "invalid_field", "%s: must be a string", key);
    return -1;
  }
  *out = json_string_value(v);
  return 1;
}

static int require_string(json_t *obj, const char *key, const char **out, vg_http_response_t *res) {
  int r = member_string(obj, key, out, res);
  if (r == 0) vg_http_reply_error(res, 400, "missing_field", "%s: is required", key);
  return r == 1 ? 0 : -1;
}

/* "permissions": {"cam1": ["live", "recordings"], "*": ["live"]} into an
 * array. Returns the count, or -1 with a 400 answered. */
static int parse_perms(json_t *obj, vg_user_perm_t **out, vg_http_response_t *res) {
  *out = NULL;
  if (!json_is_object(obj)) {
    vg_http_reply_error(res, 400, "invalid_field",
                        "permissions: must be an object of camera -> [permissions]");
    return -1;
  }
  size_t n = json_object_size(obj);
  if (n > MAX_PERMS) {
    vg_http_reply_error(res, 400, "invalid_field", "permissions: at most %d cameras", MAX_PERMS);
    return -1;
  }
  vg_user_perm_t *perms = calloc(n ? n : 1, sizeof(*perms));
  if (!perms) {
    vg_http_reply_error(res, 500, "internal", "out of memory");
    return -1;
  }
  int count = 0;
  const char *camera;
  json_t *list;
  json_object_foreach(obj, camera, list) {
    size_t len = strlen(camera);
    if (len == 0 || len >= VG_CAMERA_ID_MAX) {
      vg_http_reply_error(res, 400, "invalid_field", "permissions: camera ids hold 1 to %d bytes",
                          VG_CAMERA_ID_MAX - 1);
      goto fail;
    }
    if (!json_is_array(list)) {
      vg_http_reply_error(res, 400, "invalid_field", "permissions.%s: must be an array", camera);
      goto fail;
    }
    unsigned mask = 0;
    size_t i;
    json_t *p;
    json_array_foreach(list, i, p) {
      unsigned bit = json_is_string(p) ? vg_perm_parse(json_string_value(p)) : 0;
      if (!bit) {
        vg_http_reply_error(res, 400, "invalid_field",
                            "permissions.%s[%zu]: must be one of live, recordings, export, ptz", camera, i);
        goto fail;
      }
      mask |= bit;
    }
    snprintf(perms[count].camera, sizeof(perms[count].camera), "%s", camera);
    perms[count++].mask = mask;
  }
  *out = perms;
  return count;
fail:
  free(perms);
  return -1;
}

static int need_users(vg_http_response_t *res) {
  if (vg_api_users()) return 1;
  vg_http_reply_error(res, 503, "unavailable", "the users database is not available");
  return 0;
}

/* The request's user as stored (not the stand-in admin of an auth-disabled node). */
static int need_stored_user(const vg_http_request_t *req, vg_http_response_t *res) {
  if (!need_users(res)) return 0;
  if (req->user && req->user->id > 0) return 1;
  vg_http_reply_error(res, 400, "auth_disabled", "this needs a logged-in user (auth is disabled)");
  return 0;
}

/* ---- login, logout, me ---- */

static int post_login(const vg_http_request_t *req, vg_http_response_t *res) {
  if (!need_users(res)) return 0;
  json_t *body = body_object(req, res);
  if (!body) return 0;
  const char *name, *password;
  if (require_string(body, "username", &name, res) || require_string(body, "password", &password, res)) {
    json_decref(body);
    return 0;
  }
  vg_users_t *users = vg_api_users();
  vg_user_t user;
  int retry = 0;
  int err = vg_users_check_password(users, name, password, req->peer, &user, &retry);
  if (err == VG_EBUSY) {
    vg_audit_log(users, name, req->peer, "login.locked", name, "refused while locked out");
    vg_http_add_header(res, "Retry-After", "%d", retry);
    vg_http_reply_error(res, 429, "locked_out", "too many failed logins; retry in %d s", retry);
  } else if (err == VG_EAUTH) {
    vg_audit_log(users, name, req->peer, "login.failure", name, "password");
    vg_http_reply_error(res, 401, "unauthorized", "wrong username or password");
  } else if (err == 0) {
    char sid[VG_SECRET_TOKEN_LEN + 1];
    err = vg_users_session_create(users, user.id, sid, sizeof(sid));
    if (!err) {
      vg_api_set_session_cookie(res, sid);
      vg_audit_log(users, user.name, req->peer, "login.success", user.name, "session");
      err = vg_http_reply_json(res, 200, json_pack("{s:o}", "user", user_json(&user)));
    }
    vg_user_clear(&user);
  }
  json_decref(body);
  return err == VG_EBUSY || err == VG_EAUTH ? 0 : err;
}

static int post_logout(const vg_http_request_t *req, vg_http_response_t *res) {
  char sid[VG_SECRET_TOKEN_LEN + 1];
  if (vg_api_users() && req->via_session && vg_api_session_cookie(req, sid, sizeof(sid)) == 0)
    vg_users_session_delete(vg_api_users(), sid);
  vg_api_set_session_cookie(res, NULL);
  vg_api_audit(req, "logout", req->user ? req->user->name : "", "%s", req->via_session ? "session" : "");
  return vg_http_reply_json(res, 200, json_pack("{s:b}", "logged_out", 1));
}

static int get_me(const vg_http_request_t *req, vg_http_response_t *res) {
  return vg_http_reply_json(res, 200, json_pack("{s:o}", "user", user_json(req->user)));
}

static int put_my_password(const vg_http_request_t *req, vg_http_response_t *res) {
  if (!need_stored_user(req, res)) return 0;
  json_t *body = body_object(req, res);
  if (!body) return 0;
  const char *old_pw, *new_pw;
  int err = 0;
  if (require_string(body, "old_password", &old_pw, res) ||
      require_string(body, "new_password", &new_pw, res))
    goto done;
  if (vg_users_valid_password(new_pw)) {
    vg_http_reply_error(res, 400, "invalid_field", "new_password: must hold 8 to 255 bytes");
    goto done;
  }
  int retry = 0;
  err = vg_users_check_password(vg_api_users(), req->user->name, old_pw, req->peer, NULL, &retry);
  if (err == VG_EBUSY) {
    vg_http_add_header(res, "Retry-After", "%d", retry);
    vg_http_reply_error(res, 429, "locked_out", "too many failed attempts; retry in %d s", retry);
    err = 0;
    goto done;
  }
  if (err == VG_EAUTH) {
    vg_api_audit(req, "user.password.failure", req->user->name, "wrong old password");
    vg_http_reply_error(res, 400, "invalid_field", "old_password: is wrong");
    err = 0;
    goto done;
  }
  if (!err) err = vg_users_update(vg_api_users(), req->user->name, NULL, NULL, -1, new_pw);
  if (!err) {
    /* Every session ended with the change; this one gets a fresh session. */
    char sid[VG_SECRET_TOKEN_LEN + 1];
    if (req->via_session && vg_users_session_create(vg_api_users(), req->user->id, sid, sizeof(sid)) == 0)
      vg_api_set_session_cookie(res, sid);
    vg_api_audit(req, "user.password", req->user->name, "changed by the user");
    err = vg_http_reply_json(res, 200, json_pack("{s:b}", "changed", 1));
  }
done:
  json_decref(body);
  return err;
}

/* ---- users ---- */

static void append_user(const vg_user_t *u, void *opaque) { json_array_append_new(opaque, user_json(u)); }

static int get_users(const vg_http_request_t *req, vg_http_response_t *res) {
  if (!need_users(res)) return 0;
  json_t *list = json_array();
  if (!list) return VG_ENOMEM;
  int n = vg_users_foreach(vg_api_users(), append_user, list);
  if (n < 0) {
    json_decref(list);
    return n;
  }
  return vg_http_reply_json(res, 200, json_pack("{s:o}", "users", list));
}

static int reply_user(vg_http_response_t *res, int status, const char *name) {
  vg_user_t u;
  int err = vg_users_get(vg_api_users(), name, &u);
  if (err == VG_ENOTFOUND) return vg_http_reply_error(res, 404, "not_found", "no user '%s'", name);
  if (err) return err;
  err = vg_http_reply_json(res, status, user_json(&u));
  vg_user_clear(&u);
  return err;
}

/* Reads "role" and "permissions" of a user body. Returns 0, or -1 with a
 * 400 answered. *perm_count -1 when absent. */
static int parse_role_perms(json_t *body, vg_role_t *role, int *has_role, vg_user_perm_t **perms,
                            int *perm_count, vg_http_response_t *res) {
  const char *role_name;
  *has_role = 0;
  *perms = NULL;
  *perm_count = -1;
  int r = member_string(body, "role", &role_name, res);
  if (r < 0) return -1;
  if (r == 1) {
    if (vg_role_parse(role_name, role)) {
      vg_http_reply_error(res, 400, "invalid_field", "role: must be admin, operator or viewer");
      return -1;
    }
    *has_role = 1;
  }
  json_t *p = json_object_get(body, "permissions");
  if (p && (*perm_count = parse_perms(p, perms, res)) < 0) return -1;
  return 0;
}

static int check_known_keys(json_t *body, const char *const *keys, vg_http_response_t *res) {
  const char *key;
  json_t *v;
  json_object_foreach(body, key, v) {
    int known = 0;
    for (int i = 0; keys[i] && !known; i++)
      known = strcmp(key, keys[i]) == 0;
    if (!known) {
      vg_http_reply_error(res, 400, "unknown_field", "%.64s: is not a known field", key);
      return -1;
    }
  }
  return 0;
}

static int post_users(const vg_http_request_t *req, vg_http_response_t *res) {
  static const char *const keys[] = {"name", "password", "role", "permissions", NULL};
  if (!need_users(res)) return 0;
  json_t *body = body_object(req, res);
  if (!body) return 0;
  const char *name, *password;
  vg_role_t role = VG_ROLE_VIEWER;
  int has_role, perm_count, err = 0;
  vg_user_perm_t *perms = NULL;
  if (check_known_keys(body, keys, res) || require_string(body, "name", &name, res) ||
      require_string(body, "password", &password, res) ||
      parse_role_perms(body, &role, &has_role, &perms, &perm_count, res))
    goto done;
  if (vg_users_valid_name(name)) {
    vg_http_reply_error(res, 400, "invalid_field", "name: 1 to 63 of A-Z a-z 0-9 . _ @ -");
    goto done;
  }
  if (vg_users_valid_password(password)) {
    vg_http_reply_error(res, 400, "invalid_field", "password: must hold 8 to 255 bytes");
    goto done;
  }
  err = vg_users_create(vg_api_users(), name, password, role, perms, perm_count < 0 ? 0 : perm_count);
  if (err == VG_EEXIST) {
    vg_http_reply_error(res, 409, "conflict", "name: user '%s' exists", name);
    err = 0;
  } else if (!err) {
    vg_api_audit(req, "user.create", name, "role %s, %d camera permissions", vg_role_name(role),
                 perm_count < 0 ? 0 : perm_count);
    err = reply_user(res, 201, name);
  }
done:
  free(perms);
  json_decref(body);
  return err;
}

static int get_user(const vg_http_request_t *req, vg_http_response_t *res) {
  if (!need_users(res)) return 0;
  return reply_user(res, 200, vg_http_param(req, "name"));
}

static int put_user(const vg_http_request_t *req, vg_http_response_t *res) {
  static const char *const keys[] = {"role", "permissions", "password", NULL};
  if (!need_users(res)) return 0;
  const char *name = vg_http_param(req, "name");
  json_t *body = body_object(req, res);
  if (!body) return 0;
  const char *password = NULL;
  vg_role_t role = VG_ROLE_VIEWER;
  int has_role, perm_count, err = 0;
  vg_user_perm_t *perms = NULL;
  if (check_known_keys(body, keys, res) || member_string(body, "password", &password, res) < 0 ||
      parse_role_perms(body, &role, &has_role, &perms, &perm_count, res))
    goto done;
  if (password && vg_users_valid_password(password)) {
    vg_http_reply_error(res, 400, "invalid_field", "password: must hold 8 to 255 bytes");
    goto done;
  }
  err = vg_users_update(vg_api_users(), name, has_role ? &role : NULL, perms, perm_count, password);
  if (err == VG_ENOTFOUND) {
    vg_http_reply_error(res, 404, "not_found", "no user '%s'", name);
    err = 0;
  } else if (err == VG_ESTATE) {
    vg_http_reply_error(res, 409, "conflict", "role: '%s' is the last admin", name);
    err = 0;
  } else if (!err) {
    vg_api_audit(req, "user.update", name, "%s%s%s", has_role ? "role " : "",
                 perm_count >= 0 ? "permissions " : "", password ? "password" : "");
    err = reply_user(res, 200, name);
  }
done:
  free(perms);
  json_decref(body);
  return err;
}

static int delete_user(const vg_http_request_t *req, vg_http_response_t *res) {
  if (!need_users(res)) return 0;
  const char *name = vg_http_param(req, "name");
  int err = vg_users_delete(vg_api_users(), name);
  if (err == VG_ENOTFOUND) return vg_http_reply_error(res, 404, "not_found", "no user '%s'", name);
  if (err == VG_ESTATE) return vg_http_reply_error(res, 409, "conflict", "'%s' is the last admin", name);
  if (err) return err;
  vg_api_audit(req, "user.delete", name, NULL);
  return vg_http_reply_json(res, 200, json_pack("{s:s}", "deleted", name));
}

/* ---- tokens ---- */

static void append_token(const vg_token_info_t *t, void *opaque) {
  json_array_append_new(opaque,
                        json_pack("{s:I,s:s,s:o,s:o}", "id", (json_int_t)t->id, "name", t->name, "created",
                                  time_or_null(t->created_us), "last_used", time_or_null(t->last_used_us)));
}

static int get_tokens(const vg_http_request_t *req, vg_http_response_t *res) {
  if (!need_stored_user(req, res)) return 0;
  json_t *list = json_array();
  if (!list) return VG_ENOMEM;
  int n = vg_users_token_foreach(vg_api_users(), req->user->id, append_token, list);
  if (n < 0) {
    json_decref(list);
    return n;
  }
  return vg_http_reply_json(res, 200, json_pack("{s:o}", "tokens", list));
}

static int post_tokens(const vg_http_request_t *req, vg_http_response_t *res) {
  if (!need_stored_user(req, res)) return 0;
  json_t *body = body_object(req, res);
  if (!body) return 0;
  const char *name;
  int err = 0;
  if (require_string(body, "name", &name, res)) goto done;
  char token[VG_SECRET_TOKEN_LEN + 1];
  int64_t id = 0;
  err = vg_users_token_create(vg_api_users(), req->user->id, name, token, sizeof(token), &id);
  if (err == VG_EINVAL) {
    vg_http_reply_error(res, 400, "invalid_field", "name: 1 to 63 printable bytes");
    err = 0;
    goto done;
  }
  if (err) goto done;
  vg_api_audit(req, "token.create", name, "id %" PRId64, id);
  /* The token is shown here once; only its hash is kept. */
  err = vg_http_reply_json(res, 201,
                           json_pack("{s:I,s:s,s:s}", "id", (json_int_t)id, "name", name, "token", token));
  sodium_memzero(token, sizeof(token));
done:
  json_decref(body);
  return err;
}

static int delete_token(const vg_http_request_t *req, vg_http_response_t *res) {
  if (!need_stored_user(req, res)) return 0;
  const char *text = vg_http_param(req, "id");
  char *end;
  long long id = strtoll(text, &end, 10);
  if (*end || id <= 0) return vg_http_reply_error(res, 404, "not_found", "no token '%s'", text);
  /* Admins may revoke anyone's token; others only their own. */
  int64_t owner = req->user->role == VG_ROLE_ADMIN ? -1 : req->user->id;
  int err = vg_users_token_revoke(vg_api_users(), owner, id);
  if (err == VG_ENOTFOUND) return vg_http_reply_error(res, 404, "not_found", "no token '%s'", text);
  if (err) return err;
  vg_api_audit(req, "token.revoke", text, NULL);
  return vg_http_reply_json(res, 200, json_pack("{s:I}", "revoked", (json_int_t)id));
}

/* ---- audit ---- */

static void append_audit(const vg_audit_row_t *row, void *opaque) {
  json_t **list = opaque;
  json_t *r = json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o}", "id", (json_int_t)row->id, "time",
                        time_or_null(row->time_us), "user", json_string(row->user), "peer",
                        json_string(row->peer), "action", json_string(row->action), "target",
                        json_string(row->target), "detail", json_string(row->detail));
  /* Rows hold client-chosen text (user names tried at login); json_string
   * refuses invalid UTF-8, so such a row is shown without it. */
  if (!r) r = json_pack("{s:I,s:s}", "id", (json_int_t)row->id, "action", "(not valid UTF-8)");
  json_array_append_new(list[0], r);
}

/* A non-negative integer query parameter in [0, max], or def when absent.
 * Returns -1 with a 400 answered when malformed. */
static long long query_int(const vg_http_request_t *req, const char *name, long long def, long long max,
                           vg_http_response_t *res) {
  char text[24];
  int n = vg_http_query(req, name, text, sizeof(text));
  if (n == VG_ENOTFOUND) return def;
  char *end;
  long long v = n > 0 ? strtoll(text, &end, 10) : -1;
  if (n <= 0 || *end || v < 0 || v > max) {
    vg_http_reply_error(res, 400, "invalid_query", "%s: must be an integer from 0 to %lld", name, max);
    return -1;
  }
  return v;
}

static int get_audit(const vg_http_request_t *req, vg_http_response_t *res) {
  if (!need_users(res)) return 0;
  long long limit = query_int(req, "limit", 100, 1000, res);
  if (limit < 0) return 0;
  long long offset = query_int(req, "offset", 0, 1000000000, res);
  if (offset < 0) return 0;
  long long before = query_int(req, "before", 0, INT64_MAX, res);
  if (before < 0) return 0;
  json_t *list[1] = {json_array()};
  if (!list[0]) return VG_ENOMEM;
  int n = vg_audit_foreach(vg_api_users(), before, (int)limit, (int)offset, append_audit, list);
  if (n < 0) {
    json_decref(list[0]);
    return n;
  }
  /* The cursor: pass it as ?before= for the next (older) page. */
  size_t count = json_array_size(list[0]);
  json_t *next =
      count == (size_t)limit && count > 0 ? json_object_get(json_array_get(list[0], count - 1), "id") : NULL;
  return vg_http_reply_json(
      res, 200, json_pack("{s:o,s:O}", "entries", list[0], "next_before", next ? next : json_null()));
}

/* ---- the table ---- */

const vg_http_route_t vg_auth_routes[] = {
    {"POST", "/api/v1/login", post_login, "log in with a username and password: sets the session cookie",
     VG_ACCESS_PUBLIC},
    {"POST", "/api/v1/logout", post_logout, "end the session"},
    {"GET", "/api/v1/me", get_me, "the logged-in user"},
    {"PUT", "/api/v1/me/password", put_my_password, "change one's own password (needs the old one)"},
    {"GET", "/api/v1/users", get_users, "every user", VG_ACCESS_ADMIN},
    {"POST", "/api/v1/users", post_users, "create a user", VG_ACCESS_ADMIN},
    {"GET", "/api/v1/users/{name}", get_user, "one user", VG_ACCESS_ADMIN},
    {"PUT", "/api/v1/users/{name}", put_user, "change a user's role, permissions or password",
     VG_ACCESS_ADMIN},
    {"DELETE", "/api/v1/users/{name}", delete_user, "delete a user", VG_ACCESS_ADMIN},
    {"GET", "/api/v1/tokens", get_tokens, "the user's API tokens (never the tokens themselves)"},
    {"POST", "/api/v1/tokens", post_tokens, "create an API token, shown once"},
    {"DELETE", "/api/v1/tokens/{id}", delete_token, "revoke an API token"},
    {"GET", "/api/v1/audit", get_audit, "the audit log, newest first (limit, offset, before)",
     VG_ACCESS_ADMIN},
};
const size_t vg_auth_route_count = sizeof(vg_auth_routes) / sizeof(vg_auth_routes[0]);
