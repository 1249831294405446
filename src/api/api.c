#include "api/api.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/cameras_api.h"
#include "api/events_api.h"
#include "api/metrics.h"
#include "api/record_api.h"
#include "base/error.h"
#include "proto/auth.h"
#include "base/log.h"
#include "base/time.h"
#include "ingest/camera.h"
#include "live/ws_live.h"

/* ---- GET /api/v1/health ---- */

typedef struct {
  int total, online;
} camera_tally_t;

static void tally_camera(const vg_camera_info_t *info, void *opaque) {
  camera_tally_t *t = opaque;
  t->total++;
  if (info->state == VG_CAM_ONLINE) t->online++;
}

static int get_health(const vg_http_request_t *req, vg_http_response_t *res) {
  camera_tally_t tally = {0};
  vg_cameras_foreach(tally_camera, &tally);
  vg_process_stats_t ps;
  vg_process_get_stats(&ps);
  return vg_http_reply_json(res, 200,
                            json_pack("{s:s,s:s,s:I,s:{s:i,s:i}}", "status", "ok", "version", VG_VERSION,
                                      "uptime_s", (json_int_t)ps.uptime_s, "cameras", "total", tally.total,
                                      "online", tally.online));
}

/* ---- cameras: cameras_api.c ---- */

/* ---- GET /metrics ---- */

static int get_metrics(const vg_http_request_t *req, vg_http_response_t *res) {
  res->status = 200;
  res->content_type = "text/plain; version=0.0.4; charset=utf-8";
  return vg_metrics_render(&res->body);
}

/* ---- the table ---- */

const vg_http_route_t vg_api_routes[] = {
    {"GET", "/api/v1/health", get_health, "liveness, version, uptime and camera counts", VG_ACCESS_PUBLIC},
    /* Operators and admins, or anyone with http.metrics_public (see dispatch). */
    {"GET", "/metrics", get_metrics, "Prometheus metrics", VG_ACCESS_OPERATOR},
};
const size_t vg_api_route_count = sizeof(vg_api_routes) / sizeof(vg_api_routes[0]);

int vg_api_owns_path(const char *path) {
  return strcmp(path, "/api") == 0 || strncmp(path, "/api/", 5) == 0 || strcmp(path, "/metrics") == 0;
}

/* Route tables by area: a module's routes live in a file of their own
 * (api/<area>.c) and are listed here once. */
extern const vg_http_route_t vg_api_playback_routes[];  /* api/playback.c */
extern const vg_http_route_t vg_api_analytics_routes[]; /* api/analytics_api.c */
extern const size_t vg_api_analytics_route_count;
extern const size_t vg_api_playback_route_count;
extern const vg_http_route_t vg_events_stream_routes[]; /* api/events_stream.c */
extern const size_t vg_events_stream_route_count;

static const struct {
  const vg_http_route_t *routes;
  const size_t *count;
} route_groups[] = {
    {vg_api_routes, &vg_api_route_count},
    {vg_api_onvif_routes, &vg_api_onvif_route_count},
    {vg_auth_routes, &vg_auth_route_count},
    {vg_record_api_routes, &vg_record_api_route_count},
    {vg_api_playback_routes, &vg_api_playback_route_count},
    /* Before the events routes: "stream" would match /api/v1/events/{id}. */
    {vg_events_stream_routes, &vg_events_stream_route_count},
    {vg_events_api_routes, &vg_events_api_route_count},
    {vg_api_analytics_routes, &vg_api_analytics_route_count},
    {vg_live_routes, &vg_live_route_count},
    {vg_api_camera_routes, &vg_api_camera_route_count},
    {vg_api_system_routes, &vg_api_system_route_count},
};

void vg_api_foreach_route(void (*fn)(const vg_http_route_t *route, void *opaque), void *opaque) {
  for (size_t g = 0; g < sizeof(route_groups) / sizeof(route_groups[0]); g++)
    for (size_t i = 0; i < *route_groups[g].count; i++)
      fn(&route_groups[g].routes[i], opaque);
}

/* The route for req among all groups: 0, or VG_EUNSUPPORTED (with allow
 * filled) when some group knows the path but not the method, or
 * VG_ENOTFOUND. */
static int match_route(vg_http_request_t *req, const vg_http_route_t **route, char *allow,
                       size_t allow_size) {
  int result = VG_ENOTFOUND;
  for (size_t g = 0; g < sizeof(route_groups) / sizeof(route_groups[0]); g++) {
    char group_allow[64] = "";
    int err = vg_http_route_match(route_groups[g].routes, *route_groups[g].count, req, route, group_allow,
                                  sizeof(group_allow));
    if (err == 0) return 0;
    if (err == VG_EUNSUPPORTED && result == VG_ENOTFOUND) {
      result = err;
      snprintf(allow, allow_size, "%s", group_allow);
    }
  }
  return result;
}

int vg_api_route_slow(const char *method, const char *path) {
  vg_http_request_t req = {.method = strcmp(method, "HEAD") == 0 ? "GET" : method, .path = path};
  const vg_http_route_t *route = NULL;
  char allow[64];
  return match_route(&req, &route, allow, sizeof(allow)) == 0 && (route->flags & VG_ROUTE_SLOW);
}

/* ---- access control ---- */

static struct {
  int configured;
  vg_users_t *users;
  vg_auth_config_t cfg;
  bool tls, metrics_public;
} auth_state;

/* The user of every request when auth is off. */
static const vg_user_t anonymous_admin = {.id = 0, .name = "admin", .role = VG_ROLE_ADMIN};

void vg_api_set_auth(vg_users_t *users, const vg_auth_config_t *cfg, bool tls, bool metrics_public) {
  memset(&auth_state, 0, sizeof(auth_state));
  if (!cfg) return;
  auth_state.configured = 1;
  auth_state.users = users;
  auth_state.cfg = *cfg;
  auth_state.tls = tls;
  auth_state.metrics_public = metrics_public;
}

vg_users_t *vg_api_users(void) { return auth_state.users; }

bool vg_api_auth_enabled(void) { return auth_state.configured && auth_state.cfg.enabled; }

int vg_api_camera_allowed(const vg_http_request_t *req, const char *camera, vg_perm_t perm) {
  if (!vg_api_auth_enabled()) return 1;
  return req->user && vg_user_allowed(req->user, camera, perm);
}

int vg_api_audit(const vg_http_request_t *req, const char *action, const char *target, const char *fmt, ...) {
  char detail[256] = "";
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
  }
  return vg_audit_log(auth_state.users, req->user ? req->user->name : "", req->peer, action, target, "%s",
                      detail);
}

#define SESSION_COOKIE "vigil_session"

int vg_api_set_session_cookie(vg_http_response_t *res, const char *id) {
  return vg_http_add_header(
      res, "Set-Cookie", SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d%s", id ? id : "",
      id ? auth_state.cfg.session_ttl_s : 0, auth_state.tls ? "; Secure" : "");
}

int vg_api_session_cookie(const vg_http_request_t *req, char *out, size_t size) {
  const char *p = vg_http_header(req, VG_HTTP_HDR_COOKIE);
  const size_t name_len = strlen(SESSION_COOKIE);
  while (p && *p) {
    while (*p == ' ' || *p == ';')
      p++;
    const char *end = strchr(p, ';');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > name_len && strncmp(p, SESSION_COOKIE "=", name_len + 1) == 0) {
      size_t vlen = len - name_len - 1;
      while (vlen > 0 && p[name_len + 1 + vlen - 1] == ' ')
        vlen--;
      if (vlen >= size) return VG_ETOOBIG;
      memcpy(out, p + name_len + 1, vlen);
      out[vlen] = '\0';
      return 0;
    }
    p = end;
  }
  return VG_ENOTFOUND;
}

/* Which credentials the request carries, for the challenge of a 401. */
typedef enum { CRED_NONE, CRED_BEARER, CRED_BASIC, CRED_SESSION } cred_kind_t;

static int reply_unauthorized(vg_http_response_t *res, cred_kind_t kind) {
  if (kind == CRED_BASIC)
    vg_http_add_header(res, "WWW-Authenticate", "Basic realm=\"vigil\", charset=\"UTF-8\"");
  else if (kind == CRED_BEARER)
    vg_http_add_header(res, "WWW-Authenticate", "Bearer realm=\"vigil\", error=\"invalid_token\"");
  else
    /* Not Basic: a browser would pop up its own login dialog over the web app. */
    vg_http_add_header(res, "WWW-Authenticate", "Bearer realm=\"vigil\"");
  return vg_http_reply_error(res, 401, "unauthorized",
                             kind == CRED_NONE
                                 ? "authentication required (session cookie, Bearer token or Basic)"
                                 : "invalid or expired credentials");
}

/* Finds who sent req: 0 with *user filled, or a negative error with res
 * answered (401, 429, 500). */
static int authenticate(const vg_http_request_t *req, vg_http_response_t *res, vg_user_t *user,
                        int *via_session) {
  vg_users_t *users = auth_state.users;
  const char *authz = vg_http_header(req, VG_HTTP_HDR_AUTHORIZATION);
  *via_session = 0;
  if (!users) {
    vg_http_reply_error(res, 503, "unavailable", "the users database is not available");
    return VG_ESTATE;
  }
  if (authz && strncasecmp(authz, "Bearer ", 7) == 0) {
    const char *token = authz + 7;
    while (*token == ' ')
      token++;
    int err = vg_users_token_get(users, token, user);
    if (err == VG_EAUTH) reply_unauthorized(res, CRED_BEARER);
    return err;
  }
  if (authz && strncasecmp(authz, "Basic ", 6) == 0) {
    vg_auth_credentials_t *cred = calloc(1, sizeof(*cred));
    if (!cred) return VG_ENOMEM;
    int retry = 0, err = vg_auth_parse_credentials(authz, strlen(authz), cred);
    if (err == 0 && cred->scheme == VG_AUTH_BASIC)
      err = vg_users_check_password(users, cred->username, cred->password, req->peer, user, &retry);
    else
      err = VG_EAUTH;
    if (err == VG_EAUTH && cred->scheme != VG_AUTH_BASIC) cred->username[0] = '\0';
    if (err == VG_EBUSY) {
      vg_http_add_header(res, "Retry-After", "%d", retry);
      vg_http_reply_error(res, 429, "locked_out", "too many failed logins; retry in %d s", retry);
    } else if (err == VG_EAUTH) {
      vg_audit_log(users, cred->username, req->peer, "login.failure", cred->username, "basic");
      reply_unauthorized(res, CRED_BASIC);
    }
    sodium_memzero(cred, sizeof(*cred));
    free(cred);
    return err;
  }
  char sid[VG_SECRET_TOKEN_LEN + 1];
  if (vg_api_session_cookie(req, sid, sizeof(sid)) == 0) {
    int err = vg_users_session_get(users, sid, user);
    if (err == VG_EAUTH) {
      /* A stale cookie is cleared, so the browser stops sending it. */
      vg_api_set_session_cookie(res, NULL);
      reply_unauthorized(res, CRED_SESSION);
    }
    *via_session = err == 0;
    return err;
  }
  if (vg_api_session_cookie(req, sid, sizeof(sid)) == VG_ETOOBIG) {
    reply_unauthorized(res, CRED_SESSION);
    return VG_EAUTH;
  }
  reply_unauthorized(res, CRED_NONE);
  return VG_EAUTH;
}

static int role_satisfies(vg_role_t role, vg_access_t access) {
  switch (access) {
  case VG_ACCESS_PUBLIC:
  case VG_ACCESS_USER: return 1;
  case VG_ACCESS_OPERATOR: return role >= VG_ROLE_OPERATOR;
  case VG_ACCESS_ADMIN: return role >= VG_ROLE_ADMIN;
  }
  return 0;
}

void vg_api_dispatch(vg_http_request_t *req, vg_http_response_t *res) {
  static const vg_log_ctx_t lg = {"http", NULL};
  const char *method = req->method;
  if (strcmp(method, "HEAD") == 0) req->method = "GET";
  const vg_http_route_t *route = NULL;
  int err = match_route(req, &route, res->allow, sizeof(res->allow));
  req->method = method;
  if (err == VG_ENOTFOUND) {
    vg_http_reply_error(res, 404, "not_found", "no such API endpoint: %s", req->path);
    return;
  }
  if (err == VG_EUNSUPPORTED) {
    vg_http_reply_error(res, 405, "method_not_allowed", "%s is not allowed on %s (allowed: %s)", method,
                        req->path, res->allow);
    return;
  }
  vg_access_t access = route->access;
  if (strcmp(route->pattern, "/metrics") == 0 && auth_state.metrics_public) access = VG_ACCESS_PUBLIC;
  vg_user_t user = {0};
  req->user = NULL;
  req->via_session = 0;
  if (!vg_api_auth_enabled()) {
    req->user = &anonymous_admin;
  } else if (access != VG_ACCESS_PUBLIC) {
    err = authenticate(req, res, &user, &req->via_session);
    if (err) {
      vg_user_clear(&user);
      if (res->status == 200) {
        vg_log_warn(&lg, "%s %s: authentication failed: %s", method, route->pattern, vg_strerror(err));
        vg_strbuf_free(&res->body);
        vg_http_reply_error(res, 500, "internal", "%s", vg_strerror(err));
      }
      return;
    }
    req->user = &user;
    if (!role_satisfies(user.role, access)) {
      vg_http_reply_error(res, 403, "forbidden", "%s %s needs the %s role", method, route->pattern,
                          access == VG_ACCESS_ADMIN ? "admin" : "operator");
      vg_user_clear(&user);
      req->user = NULL;
      return;
    }
  }
  err = route->fn(req, res);
  if (err == 0 && res->body.error) err = res->body.error;
  if (err) {
    vg_log_warn(&lg, "%s %s failed: %s", method, route->pattern, vg_strerror(err));
    vg_strbuf_free(&res->body);
    vg_http_reply_error(res, 500, "internal", "%s", vg_strerror(err));
  }
  vg_user_clear(&user);
  req->user = NULL;
}
