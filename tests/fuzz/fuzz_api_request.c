/* Fuzzes the request handling the API owns, with auth on and an in-memory
 * users database: route matching, query parsing, credentials (session
 * cookie, Bearer, Basic) and the JSON bodies of login, users and tokens,
 * all through vg_api_dispatch.
 *
 * Input: METHOD '\n' PATH ['?' QUERY] '\n' AUTHORIZATION '\n' COOKIE '\n' BODY.
 * A header given as "@admin" is replaced by valid admin credentials (Basic),
 * so that admin-only handlers are reached too. Every answer must be a
 * status in 200..599 with a JSON body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/users.h"
#include "base/log.h"
#include "ingest/camera.h"
#include "net/worker.h"

static vg_users_t *users;

static void idle_start(vg_camera_t *cam) {}
static void idle_stop(vg_camera_t *cam, void (*done)(vg_camera_t *cam)) { done(cam); }
static const vg_source_ops_t idle_ops = {"idle", idle_start, idle_stop};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  vg_log_set_level(VG_LOG_ERROR); /* the audit log writes an info line per login */
  vg_source_register(VG_SOURCE_RTSP, &idle_ops);
  if (vg_workers_start(1) != 0) abort();
  vg_camera_config_t cam = {.kind = VG_SOURCE_RTSP, .enabled = false};
  strcpy(cam.id, "cam1");
  strcpy(cam.name, "cam1");
  strcpy(cam.url, "rtsp://u:p@10.0.0.1/x");
  if (vg_camera_add(&cam, NULL) != 0) abort();
  vg_auth_config_t cfg;
  vg_auth_config_defaults(&cfg);
  /* The cheapest hashes argon2 allows: the fuzzer wants many runs a second. */
  cfg.argon2_t_cost = 1;
  cfg.argon2_m_kib = 64;
  cfg.max_failures = 1000000;
  if (vg_users_open(":memory:", &cfg, &users) != 0) abort();
  if (vg_users_create(users, "admin", "admin password", VG_ROLE_ADMIN, NULL, 0) != 0) abort();
  vg_user_perm_t perms[] = {{"cam1", VG_PERM_LIVE}};
  if (vg_users_create(users, "viewer", "viewer password", VG_ROLE_VIEWER, perms, 1) != 0) abort();
  vg_api_set_auth(users, &cfg, false, false);
  return 0;
}

/* The next '\n'-terminated field of text, NUL-terminated in place. */
static char *field(char **p) {
  char *start = *p, *nl = strchr(start, '\n');
  if (nl) {
    *nl = '\0';
    *p = nl + 1;
  } else {
    *p = start + strlen(start);
  }
  return start;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 16384) return 0;
  char *text = malloc(size + 1);
  memcpy(text, data, size);
  text[size] = '\0';
  char *p = text;
  char *method = field(&p), *path = field(&p), *authz = field(&p), *cookie = field(&p);
  const char *body = p;
  size_t body_len = size - (size_t)(p - text);
  char *q = strchr(path, '?');
  if (q) *q++ = '\0';
  /* /metrics renders process figures from /proc: slow, and not what is fuzzed. */
  if (strcmp(path, "/metrics") != 0) {
    vg_http_request_t req = {
        .method = method, .path = path, .query = q ? q : "", .body = body, .body_len = body_len};
    if (strcmp(authz, "@admin") == 0)
      req.headers[VG_HTTP_HDR_AUTHORIZATION] =
          "Basic YWRtaW46YWRtaW4gcGFzc3dvcmQ="; /* admin:admin password */
    else if (*authz)
      req.headers[VG_HTTP_HDR_AUTHORIZATION] = authz;
    if (*cookie) req.headers[VG_HTTP_HDR_COOKIE] = cookie;
    strcpy(req.peer, "192.0.2.1");
    vg_http_response_t res;
    vg_http_response_init(&res);
    vg_api_dispatch(&req, &res);
    if (res.status < 200 || res.status > 599 || !res.body.data || res.body.data[0] != '{') abort();
    if (req.user) abort(); /* dispatch hands no user pointer beyond the request */
    vg_http_response_free(&res);
  }
  free(text);
  return 0;
}
