/* cameras_api.c: the camera and configuration routes; see cameras_api.h. */
#include "api/cameras_api.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "base/error.h"
#include "base/log.h"
#include "base/time.h"

static const vg_log_ctx_t lg = {"api", NULL};

#define PROBE_TIMEOUT_MS 5000
#define LIST_LIMIT_MAX 1000

/* One configured camera. */
typedef struct {
  char id[64];
  json_t *config;    /* normalized camera object, URL with its secrets, no "analytics" */
  json_t *analytics; /* the "analytics" object, or NULL */
  int from_file;     /* from the configuration file: read-only through the API */
} entry_t;

static struct {
  pthread_mutex_t lock;
  entry_t *v; /* sorted by id */
  size_t n;
  vg_config_store_t *store;
  json_t *file_doc;
  vg_analytics_changed_fn analytics_fn;
  void *analytics_opaque;
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- the registry (callers hold reg.lock) ---- */

/* The index of id, or -(insertion point) - 1. */
static long entry_search(const char *id) {
  size_t lo = 0, hi = reg.n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(reg.v[mid].id, id);
    if (c == 0) return (long)mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -(long)lo - 1;
}

static entry_t *entry_find(const char *id) {
  long i = entry_search(id);
  return i >= 0 ? &reg.v[i] : NULL;
}

/* Sets id's entry (creating it), taking the references to config and
 * analytics. */
static int entry_set(const char *id, json_t *config, json_t *analytics, int from_file) {
  long i = entry_search(id);
  if (i < 0) {
    entry_t *grown = realloc(reg.v, (reg.n + 1) * sizeof(*reg.v));
    if (!grown) {
      json_decref(config);
      json_decref(analytics);
      return VG_ENOMEM;
    }
    reg.v = grown;
    i = -i - 1;
    memmove(&reg.v[i + 1], &reg.v[i], (reg.n - (size_t)i) * sizeof(*reg.v));
    reg.n++;
    memset(&reg.v[i], 0, sizeof(reg.v[i]));
    snprintf(reg.v[i].id, sizeof(reg.v[i].id), "%s", id);
  }
  entry_t *e = &reg.v[i];
  json_decref(e->config);
  json_decref(e->analytics);
  e->config = config;
  e->analytics = analytics;
  e->from_file = from_file;
  return 0;
}

static void entry_remove(const char *id) {
  long i = entry_search(id);
  if (i < 0) return;
  json_decref(reg.v[i].config);
  json_decref(reg.v[i].analytics);
  memmove(&reg.v[i], &reg.v[i + 1], (reg.n - (size_t)i - 1) * sizeof(*reg.v));
  reg.n--;
}

/* The stored form of a camera: its normalized configuration (URL with its
 * secrets) plus the members other modules parse (record: its recording
 * policy and root), as they were sent. New reference or NULL. */
static json_t *config_object(const vg_camera_config_t *cfg, json_t *record) {
  json_t *config = vg_camera_config_json(cfg, true);
  if (config && record) json_object_set(config, "record", record);
  return config;
}

void vg_cameras_api_init(vg_config_store_t *store, json_t *file_doc) {
  pthread_mutex_lock(&reg.lock);
  reg.store = store;
  reg.file_doc = file_doc;
  pthread_mutex_unlock(&reg.lock);
}

int vg_cameras_api_add_file_camera(const vg_camera_config_t *cfg, json_t *file_obj) {
  json_t *analytics = json_object_get(file_obj, "analytics");
  json_t *config = config_object(cfg, json_object_get(file_obj, "record"));
  if (!config) return VG_ENOMEM;
  pthread_mutex_lock(&reg.lock);
  int err =
      entry_set(cfg->id, config, analytics && !json_is_null(analytics) ? json_deep_copy(analytics) : NULL, 1);
  pthread_mutex_unlock(&reg.lock);
  return err;
}

void vg_cameras_api_shutdown(void) {
  pthread_mutex_lock(&reg.lock);
  for (size_t i = 0; i < reg.n; i++) {
    json_decref(reg.v[i].config);
    json_decref(reg.v[i].analytics);
  }
  free(reg.v);
  reg.v = NULL;
  reg.n = 0;
  reg.store = NULL;
  reg.file_doc = NULL;
  reg.analytics_fn = NULL;
  pthread_mutex_unlock(&reg.lock);
}

void vg_cameras_api_on_analytics(vg_analytics_changed_fn fn, void *opaque) {
  pthread_mutex_lock(&reg.lock);
  reg.analytics_fn = fn;
  reg.analytics_opaque = opaque;
  pthread_mutex_unlock(&reg.lock);
}

json_t *vg_cameras_api_analytics(const char *camera) {
  pthread_mutex_lock(&reg.lock);
  entry_t *e = entry_find(camera);
  json_t *a = e && e->analytics ? json_deep_copy(e->analytics) : NULL;
  pthread_mutex_unlock(&reg.lock);
  return a;
}

static void notify_analytics(const char *camera, json_t *analytics) {
  pthread_mutex_lock(&reg.lock);
  vg_analytics_changed_fn fn = reg.analytics_fn;
  void *opaque = reg.analytics_opaque;
  pthread_mutex_unlock(&reg.lock);
  if (fn) fn(camera, analytics, opaque);
}

/* ---- validation ---- */

/* Checks a camera object (with an optional "analytics" member) at c's
 * current path: fills cfg, *analytics (a new reference, or NULL when
 * absent or null) and *record (its "record" member, borrowed from obj, or
 * NULL). Returns 0 or VG_ECONFIG. */
static int validate_camera(vg_cfg_t *c, json_t *obj, vg_camera_config_t *cfg, json_t **analytics,
                           json_t **record) {
  *analytics = NULL;
  *record = json_object_get(obj, "record");
  if (!json_is_object(obj)) return vg_cfg_fail(c, NULL, "must be an object");
  json_t *cam = json_copy(obj);
  if (!cam) return VG_ENOMEM;
  json_t *an = json_object_get(obj, "analytics");
  json_object_del(cam, "analytics");
  vg_camera_config_parse(c, cam, cfg);
  json_decref(cam);
  if (!c->failed && cfg->kind == VG_SOURCE_PUSH) vg_cfg_fail(c, "type", "push cameras are not configured");
  if (!c->failed && an && !json_is_null(an)) {
    if (!json_is_object(an)) return vg_cfg_fail(c, "analytics", "must be an object or null");
    vg_cfg_enter(c, "analytics");
    int err = vg_api_analytics_validate(c, an);
    vg_cfg_leave(c);
    if (err && err != VG_ECONFIG) return err;
    if (!c->failed) *analytics = json_deep_copy(an);
  }
  return c->failed ? VG_ECONFIG : 0;
}

/* A client that read a camera (its URL without credentials) and sends the
 * same URL back keeps the credentials it cannot see: when obj's url is the
 * safe form of old_url, old_url is put back into obj. */
static void keep_credentials(json_t *obj, const char *old_url) {
  const char *url = json_string_value(json_object_get(obj, "url"));
  if (!url || !old_url) return;
  char safe[1024];
  vg_camera_safe_url(old_url, safe, sizeof(safe));
  if (strcmp(safe, old_url) != 0 && strcmp(url, safe) == 0)
    json_object_set_new(obj, "url", json_string(old_url));
}

int vg_api_body_object(const vg_http_request_t *req, vg_http_response_t *res, json_t **out) {
  json_error_t e;
  *out = NULL;
  json_t *body =
      req->body && req->body_len ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e) : NULL;
  if (!body) {
    if (!req->body || !req->body_len)
      vg_http_reply_error(res, 400, "invalid_json", "the request needs a JSON body");
    else
      vg_http_reply_error(res, 400, "invalid_json", "line %d, column %d: %s", e.line, e.column, e.text);
    return 1;
  }
  if (!json_is_object(body)) {
    json_decref(body);
    vg_http_reply_error(res, 400, "invalid_json", "the body must be a JSON object");
    return 1;
  }
  *out = body;
  return 0;
}

int vg_api_reply_invalid(vg_http_response_t *res, const vg_cfg_t *c) {
  int err = vg_http_reply_error(res, 400, "invalid", "%s: %s", c->err_path[0] ? c->err_path : "(body)",
                                c->err_reason);
  /* The field also as a member of its own, for forms that mark it. */
  json_error_t e;
  json_t *doc = err ? NULL : json_loadb(res->body.data, res->body.len, 0, &e);
  json_t *field = json_string(c->err_path);
  if (doc && field) {
    json_object_set_new(json_object_get(doc, "error"), "field", field);
    return vg_http_reply_json(res, 400, doc);
  }
  json_decref(field);
  json_decref(doc);
  return err;
}

int vg_api_reply_etag(const vg_http_request_t *req, vg_http_response_t *res, json_t *body) {
  int err = vg_http_reply_json(res, 200, body);
  if (err) return err;
  uint8_t hash[12];
  crypto_generichash(hash, sizeof(hash), (const uint8_t *)res->body.data, res->body.len, NULL, 0);
  char tag[2 * sizeof(hash) + 3];
  tag[0] = '"';
  sodium_bin2hex(tag + 1, sizeof(tag) - 2, hash, sizeof(hash));
  strcat(tag, "\"");
  vg_http_add_header(res, "ETag", "%s", tag);
  const char *inm = vg_http_header(req, VG_HTTP_HDR_IF_NONE_MATCH);
  if (inm && (strstr(inm, tag) || strcmp(inm, "*") == 0)) {
    res->status = 304;
    vg_strbuf_free(&res->body);
  }
  return 0;
}

static long long query_int(const vg_http_request_t *req, const char *name, long long def, long long max,
                           vg_http_response_t *res) {
  char text[24];
  int n = vg_http_query(req, name, text, sizeof(text));
  if (n == VG_ENOTFOUND) return def;
  char *end = text;
  long long v = n > 0 ? strtoll(text, &end, 10) : -1;
  if (n <= 0 || *end || v < 0 || v > max) {
    vg_http_reply_error(res, 400, "invalid_query", "%s: must be an integer from 0 to %lld", name, max);
    return -1;
  }
  return v;
}

/* ---- camera JSON ---- */

/* A string for JSON: jansson accepts only valid UTF-8, and camera names and
 * error texts come from configuration and from peers. */
static json_t *json_text(const char *s) {
  json_t *j = json_string(s);
  return j ? j : json_string("(invalid UTF-8)");
}

static json_t *json_text_or_null(const char *s) { return *s ? json_text(s) : json_null(); }

static json_t *json_positive_or_null(double v) { return v > 0 ? json_real(v) : json_null(); }

static json_t *json_count_or_null(int v) { return v > 0 ? json_integer(v) : json_null(); }

static json_t *track_json(const vg_track_t *t) {
  int video = vg_codec_is_video(t->codec);
  return json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:o}", "codec", vg_codec_name(t->codec), "kind",
                   video ? "video" : "audio", "width", json_count_or_null(t->width), "height",
                   json_count_or_null(t->height), "fps", json_positive_or_null(t->fps), "sample_rate",
                   json_count_or_null(t->sample_rate), "channels", json_count_or_null(t->channels));
}

/* Where a camera's configuration comes from: "file", "api", or "push" for
 * one a publisher created. Under reg.lock. */
static const char *origin_of(const char *id) {
  entry_t *e = entry_find(id);
  return e ? (e->from_file ? "file" : "api") : "push";
}

static json_t *camera_json(const vg_camera_info_t *info, const char *origin) {
  char since[40];
  vg_time_format_utc(info->state_since_us, since, sizeof(since));
  json_t *tracks = json_array();
  for (int i = 0; tracks && i < info->track_count; i++)
    json_array_append_new(tracks, track_json(&info->tracks[i]));
  return json_pack("{s:o,s:o,s:s,s:o,s:s,s:o,s:o,s:s,s:o,s:s,s:{s:I,s:I,s:I,s:I,s:I,s:I}}", "id",
                   json_text(info->id), "name", json_text(info->name), "type",
                   vg_source_kind_name(info->kind), "url", json_text(info->url), "state",
                   vg_camera_state_name(info->state), "reason", json_text_or_null(info->reason), "last_error",
                   json_text_or_null(info->last_error), "state_since", since, "tracks", tracks, "origin",
                   origin, "counters", "frames", (json_int_t)info->frames, "bytes", (json_int_t)info->bytes,
                   "rtp_packets", (json_int_t)info->rtp_packets, "rtp_lost", (json_int_t)info->rtp_lost,
                   "reconnects", (json_int_t)info->reconnects, "errors", (json_int_t)info->errors);
}

/* The stored configuration as the API shows it: the URL without its
 * credentials. Under reg.lock. */
static json_t *safe_config(const entry_t *e) {
  json_t *c = json_deep_copy(e->config);
  const char *url = json_string_value(json_object_get(c, "url"));
  if (url) {
    char safe[1024];
    vg_camera_safe_url(url, safe, sizeof(safe));
    json_object_set_new(c, "url", json_text(safe));
  }
  if (c && e->analytics) json_object_set(c, "analytics", e->analytics);
  return c;
}

/* ---- GET /api/v1/cameras ---- */

typedef struct {
  json_t *list;
  int failed;
  long long total, offset, limit;
  const vg_http_request_t *req;
} camera_list_t;

static void append_camera(const vg_camera_info_t *info, void *opaque) {
  camera_list_t *cl = opaque;
  /* A camera the user holds no permission on is not listed (nor counted). */
  if (!vg_api_camera_allowed(cl->req, info->id, 0)) return;
  long long at = cl->total++;
  if (at < cl->offset || at >= cl->offset + cl->limit) return;
  pthread_mutex_lock(&reg.lock);
  json_t *cam = camera_json(info, origin_of(info->id));
  pthread_mutex_unlock(&reg.lock);
  if (!cam || json_array_append_new(cl->list, cam) != 0) cl->failed = 1;
}

static int get_cameras(const vg_http_request_t *req, vg_http_response_t *res) {
  long long limit = query_int(req, "limit", LIST_LIMIT_MAX, LIST_LIMIT_MAX, res);
  if (limit < 0) return 0;
  long long offset = query_int(req, "offset", 0, 1000000000, res);
  if (offset < 0) return 0;
  camera_list_t cl = {json_array(), 0, 0, offset, limit, req};
  if (!cl.list) return VG_ENOMEM;
  vg_cameras_foreach(append_camera, &cl);
  if (cl.failed) {
    json_decref(cl.list);
    return VG_ENOMEM;
  }
  return vg_api_reply_etag(req, res,
                           json_pack("{s:o,s:I,s:I,s:I}", "cameras", cl.list, "total", (json_int_t)cl.total,
                                     "offset", (json_int_t)offset, "limit", (json_int_t)limit));
}

/* ---- GET /api/v1/cameras/{id} ---- */

static int reply_no_camera(vg_http_response_t *res, const char *id) {
  return vg_http_reply_error(res, 404, "not_found", "no camera '%s'", id);
}

static int get_camera(const vg_http_request_t *req, vg_http_response_t *res) {
  const char *id = vg_http_param(req, "id");
  /* 404 rather than 403: a user must not learn which cameras exist. */
  if (!vg_api_camera_allowed(req, id, 0)) return reply_no_camera(res, id);
  vg_camera_info_t *info = malloc(sizeof(*info));
  if (!info) return VG_ENOMEM;
  int err = vg_camera_get_info(id, info);
  if (err) {
    free(info);
    return err == VG_ENOTFOUND ? reply_no_camera(res, id) : err;
  }
  pthread_mutex_lock(&reg.lock);
  json_t *cam = camera_json(info, origin_of(id));
  entry_t *e = entry_find(id);
  /* The configuration only for those who may change it. */
  if (cam && e && req->user && req->user->role == VG_ROLE_ADMIN)
    json_object_set_new(cam, "config", safe_config(e));
  pthread_mutex_unlock(&reg.lock);
  vg_camera_info_clear(info);
  free(info);
  return vg_http_reply_json(res, 200, cam);
}

/* ---- changes ---- */

/* Whether id may be changed through the API: 0, or answered (404 unknown,
 * 409 read-only) and 1. */
static int check_writable(vg_http_response_t *res, const char *id) {
  pthread_mutex_lock(&reg.lock);
  entry_t *e = entry_find(id);
  int from_file = e && e->from_file;
  pthread_mutex_unlock(&reg.lock);
  if (from_file) {
    vg_http_reply_error(res, 409, "read_only",
                        "camera '%s' comes from the configuration file and is read-only through the API; "
                        "change it in the file and restart",
                        id);
    return 1;
  }
  if (!e && vg_camera_find(id)) {
    vg_http_reply_error(res, 409, "read_only",
                        "camera '%s' was created by a publisher (type push) and is not configured", id);
    return 1;
  }
  if (!e) {
    reply_no_camera(res, id);
    return 1;
  }
  return 0;
}

/* Applies a validated camera: persists it, (re)starts it and keeps its
 * configuration. obj is the camera object as validated (borrowed). Returns
 * 0 or an error (nothing left half-changed in the registry). */
static int apply_camera(const vg_camera_config_t *cfg, json_t *analytics, json_t *record, int replace) {
  json_t *config = config_object(cfg, record);
  json_t *row = config ? json_deep_copy(config) : NULL;
  if (!row) {
    json_decref(config);
    return VG_ENOMEM;
  }
  if (analytics) json_object_set(row, "analytics", analytics);
  pthread_mutex_lock(&reg.lock);
  vg_config_store_t *store = reg.store;
  pthread_mutex_unlock(&reg.lock);
  int err = vg_config_store_put(store, cfg->id, row);
  json_decref(row);
  if (err) {
    json_decref(config);
    return err;
  }
  if (replace) vg_camera_remove(cfg->id);
  err = vg_camera_add(cfg, NULL);
  if (err) {
    /* The row stays: the camera comes back at the next start, and the
     * answer says why it is not running now. */
    vg_log_error(&lg, "camera %s stored but not started: %s", cfg->id, vg_strerror(err));
  }
  pthread_mutex_lock(&reg.lock);
  int set = entry_set(cfg->id, config, analytics ? json_incref(analytics) : NULL, 0);
  pthread_mutex_unlock(&reg.lock);
  notify_analytics(cfg->id, analytics);
  return err ? err : set;
}

static int need_store(vg_http_response_t *res) {
  pthread_mutex_lock(&reg.lock);
  int ok = reg.store != NULL;
  pthread_mutex_unlock(&reg.lock);
  if (!ok) vg_http_reply_error(res, 503, "unavailable", "the configuration database is not available");
  return ok;
}

/* Answers 200/201 with the camera's configuration (no secrets). */
static int reply_config(vg_http_response_t *res, int status, const char *id) {
  pthread_mutex_lock(&reg.lock);
  entry_t *e = entry_find(id);
  json_t *c = e ? safe_config(e) : NULL;
  pthread_mutex_unlock(&reg.lock);
  if (!c) return VG_ENOMEM;
  return vg_http_reply_json(res, status, c);
}

static int post_camera(const vg_http_request_t *req, vg_http_response_t *res) {
  if (!need_store(res)) return 0;
  json_t *body;
  if (vg_api_body_object(req, res, &body)) return 0;
  vg_cfg_t c = {0};
  vg_camera_config_t cfg;
  json_t *analytics = NULL, *record = NULL;
  int err = validate_camera(&c, body, &cfg, &analytics, &record);
  if (err) {
    json_decref(body);
    return err == VG_ECONFIG ? vg_api_reply_invalid(res, &c) : err;
  }
  pthread_mutex_lock(&reg.lock);
  int known = entry_find(cfg.id) != NULL;
  pthread_mutex_unlock(&reg.lock);
  vg_hub_t *hub = known ? NULL : vg_hub_find(cfg.id);
  int taken = known || hub || vg_camera_find(cfg.id);
  vg_hub_unref(&hub);
  if (taken) {
    json_decref(analytics);
    json_decref(body);
    return vg_http_reply_error(res, 409, "exists", "id: a camera or stream '%s' exists already", cfg.id);
  }
  err = apply_camera(&cfg, analytics, record, 0);
  json_decref(analytics);
  json_decref(body);
  vg_api_audit(req, "camera.create", cfg.id, "%s", err ? vg_strerror(err) : "ok");
  if (err) return err;
  vg_http_add_header(res, "Location", "/api/v1/cameras/%s", cfg.id);
  return reply_config(res, 201, cfg.id);
}

/* RFC 7396 JSON merge patch of patch into target (both objects). */
static void merge_patch(json_t *target, json_t *patch) {
  const char *key;
  json_t *value;
  json_object_foreach(patch, key, value) {
    json_t *cur = json_object_get(target, key);
    if (json_is_null(value))
      json_object_del(target, key);
    else if (json_is_object(value) && json_is_object(cur))
      merge_patch(cur, value);
    else
      json_object_set(target, key, value);
  }
}

/* PUT (replace) and PATCH (merge). */
static int change_camera(const vg_http_request_t *req, vg_http_response_t *res, int merge) {
  const char *id = vg_http_param(req, "id");
  if (!need_store(res)) return 0;
  if (check_writable(res, id)) return 0;
  json_t *body;
  if (vg_api_body_object(req, res, &body)) return 0;
  const char *body_id = json_string_value(json_object_get(body, "id"));
  if (json_object_get(body, "id") && (!body_id || strcmp(body_id, id) != 0)) {
    json_decref(body);
    vg_cfg_t c = {0};
    vg_cfg_fail(&c, "id", "must be \"%s\", the camera in the path (ids cannot change)", id);
    return vg_api_reply_invalid(res, &c);
  }
  json_object_set_new(body, "id", json_string(id));
  pthread_mutex_lock(&reg.lock);
  entry_t *e = entry_find(id);
  json_t *old = e ? json_deep_copy(e->config) : NULL;
  if (old && e->analytics) json_object_set(old, "analytics", e->analytics);
  pthread_mutex_unlock(&reg.lock);
  if (!old) {
    json_decref(body);
    return reply_no_camera(res, id);
  }
  json_t *old_url = json_incref(json_object_get(old, "url"));
  json_t *next = body;
  if (merge) {
    merge_patch(old, body);
    json_decref(body);
    next = json_incref(old);
  }
  keep_credentials(next, json_string_value(old_url));
  json_decref(old_url);
  json_decref(old);
  vg_cfg_t c = {0};
  vg_camera_config_t cfg;
  json_t *analytics = NULL, *record = NULL;
  int err = validate_camera(&c, next, &cfg, &analytics, &record);
  if (!err) err = apply_camera(&cfg, analytics, record, 1);
  json_decref(analytics);
  json_decref(next);
  if (err == VG_ECONFIG) return vg_api_reply_invalid(res, &c);
  vg_api_audit(req, merge ? "camera.patch" : "camera.replace", id, "%s", err ? vg_strerror(err) : "ok");
  if (err) return err;
  return reply_config(res, 200, id);
}

static int put_camera(const vg_http_request_t *req, vg_http_response_t *res) {
  return change_camera(req, res, 0);
}

static int patch_camera(const vg_http_request_t *req, vg_http_response_t *res) {
  return change_camera(req, res, 1);
}

static int delete_camera(const vg_http_request_t *req, vg_http_response_t *res) {
  const char *id = vg_http_param(req, "id");
  if (!need_store(res)) return 0;
  if (check_writable(res, id)) return 0;
  pthread_mutex_lock(&reg.lock);
  vg_config_store_t *store = reg.store;
  pthread_mutex_unlock(&reg.lock);
  int err = vg_config_store_delete(store, id);
  if (err && err != VG_ENOTFOUND) return err;
  vg_camera_remove(id);
  pthread_mutex_lock(&reg.lock);
  entry_remove(id);
  pthread_mutex_unlock(&reg.lock);
  notify_analytics(id, NULL);
  vg_api_audit(req, "camera.delete", id, NULL);
  res->status = 204;
  return 0;
}

/* ---- POST /api/v1/cameras/probe ---- */

static int post_probe(const vg_http_request_t *req, vg_http_response_t *res) {
  json_t *body;
  if (vg_api_body_object(req, res, &body)) return 0;
  /* The same keys as a camera, without an id. */
  if (json_object_get(body, "id")) {
    json_decref(body);
    vg_cfg_t c = {0};
    vg_cfg_fail(&c, "id", "a probe takes no id");
    return vg_api_reply_invalid(res, &c);
  }
  json_object_set_new(body, "id", json_string("probe"));
  json_object_del(body, "analytics");
  vg_cfg_t c = {0};
  vg_camera_config_t cfg;
  int err = vg_camera_config_parse(&c, body, &cfg);
  json_decref(body);
  if (err == VG_ECONFIG) return vg_api_reply_invalid(res, &c);
  if (err) return err;
  if (cfg.connect_timeout_ms > PROBE_TIMEOUT_MS) cfg.connect_timeout_ms = PROBE_TIMEOUT_MS;
  if (cfg.read_timeout_ms > PROBE_TIMEOUT_MS) cfg.read_timeout_ms = PROBE_TIMEOUT_MS;
  vg_camera_probe_result_t *r = malloc(sizeof(*r));
  if (!r) return VG_ENOMEM;
  char safe[1024];
  vg_camera_safe_url(cfg.url, safe, sizeof(safe));
  int64_t t0 = vg_time_mono_us();
  err = vg_camera_probe(&cfg, PROBE_TIMEOUT_MS, r);
  int64_t took_ms = (vg_time_mono_us() - t0) / 1000;
  vg_api_audit(req, "camera.probe", safe, "%s", err ? vg_strerror(err) : "ok");
  if (err == VG_EUNSUPPORTED) {
    free(r);
    return vg_http_reply_error(res, 400, "invalid", "type: cameras of type \"%s\" cannot be probed",
                               vg_source_kind_name(cfg.kind));
  }
  if (err) {
    int rc = vg_http_reply_error(res, err == VG_ETIMEDOUT ? 504 : 502, "unreachable", "%s: %s", safe,
                                 r->error[0] ? r->error : vg_strerror(err));
    free(r);
    return rc;
  }
  json_t *tracks = json_array(), *video = json_null(), *audio = json_null();
  for (int i = 0; i < r->track_count; i++) {
    json_t *t = track_json(&r->tracks[i]);
    if (vg_codec_is_video(r->tracks[i].codec) && json_is_null(video))
      video = json_deep_copy(t);
    else if (!vg_codec_is_video(r->tracks[i].codec) && json_is_null(audio))
      audio = json_deep_copy(t);
    json_array_append_new(tracks, t);
    vg_track_clear(&r->tracks[i]);
  }
  free(r);
  return vg_http_reply_json(res, 200,
                            json_pack("{s:o,s:s,s:o,s:o,s:o,s:I}", "url", json_text(safe), "type",
                                      vg_source_kind_name(cfg.kind), "video", video, "audio", audio, "tracks",
                                      tracks, "elapsed_ms", (json_int_t)took_ms));
}

/* ---- analytics ---- */

static int get_analytics(const vg_http_request_t *req, vg_http_response_t *res) {
  const char *id = vg_http_param(req, "id");
  if (!vg_api_camera_allowed(req, id, 0) || !vg_camera_find(id)) return reply_no_camera(res, id);
  json_t *a = vg_cameras_api_analytics(id);
  return vg_http_reply_json(res, 200, json_pack("{s:s,s:o}", "camera", id, "analytics", a ? a : json_null()));
}

static int put_analytics(const vg_http_request_t *req, vg_http_response_t *res) {
  const char *id = vg_http_param(req, "id");
  if (!need_store(res)) return 0;
  if (check_writable(res, id)) return 0;
  json_error_t je;
  json_t *an = req->body && req->body_len
                   ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je)
                   : NULL;
  if (!an || !(json_is_object(an) || json_is_null(an))) {
    json_decref(an);
    return vg_http_reply_error(res, 400, "invalid_json",
                               "the body must be the camera's analytics object (or null to remove it)");
  }
  pthread_mutex_lock(&reg.lock);
  entry_t *e = entry_find(id);
  json_t *obj = e ? json_deep_copy(e->config) : NULL;
  pthread_mutex_unlock(&reg.lock);
  if (!obj) {
    json_decref(an);
    return reply_no_camera(res, id);
  }
  json_object_set_new(obj, "analytics", an);
  vg_cfg_t c = {0};
  vg_camera_config_t cfg;
  json_t *analytics = NULL, *record = NULL;
  int err = validate_camera(&c, obj, &cfg, &analytics, &record);
  if (err) {
    json_decref(obj);
    return err == VG_ECONFIG ? vg_api_reply_invalid(res, &c) : err;
  }
  /* Only the analytics changed: the camera keeps streaming. */
  json_t *row = config_object(&cfg, record);
  json_decref(obj);
  if (row && analytics) json_object_set(row, "analytics", analytics);
  pthread_mutex_lock(&reg.lock);
  vg_config_store_t *store = reg.store;
  pthread_mutex_unlock(&reg.lock);
  err = row ? vg_config_store_put(store, id, row) : VG_ENOMEM;
  json_decref(row);
  if (!err) {
    pthread_mutex_lock(&reg.lock);
    e = entry_find(id);
    if (e) {
      json_decref(e->analytics);
      e->analytics = analytics ? json_incref(analytics) : NULL;
    }
    pthread_mutex_unlock(&reg.lock);
    notify_analytics(id, analytics);
  }
  vg_api_audit(req, "camera.analytics", id, "%s", err ? vg_strerror(err) : "ok");
  if (err) {
    json_decref(analytics);
    return err;
  }
  return vg_http_reply_json(
      res, 200, json_pack("{s:s,s:o}", "camera", id, "analytics", analytics ? analytics : json_null()));
}

/* ---- configuration export and import ---- */

/* Whether a member of the configuration names a secret, which the export
 * leaves out (passwords of rtsp_server.read_users, mqtt.password,
 * webhooks[].secret and the like): a secret that was set shows as
 * "<member>_set": true, so that an administrator sees it is there without
 * seeing it. Importing never changes these members (only cameras import). */
static const char *const secret_words[] = {"password", "passphrase", "secret", "token", NULL};

static int secret_key(const char *key) {
  for (int i = 0; secret_words[i]; i++)
    if (strstr(key, secret_words[i])) return 1;
  return 0;
}

/* Whether the member is the secret itself (its name ends with one of the
 * words), not something about one (auth.secret_key_file, a path): only
 * those get a "_set" marker. */
static int secret_value_key(const char *key) {
  size_t n = strlen(key);
  for (int i = 0; secret_words[i]; i++) {
    size_t w = strlen(secret_words[i]);
    if (n >= w && strcmp(key + n - w, secret_words[i]) == 0) return 1;
  }
  return 0;
}

static void strip_secrets(json_t *j) {
  if (json_is_object(j)) {
    const char *key;
    json_t *value;
    void *tmp;
    /* Markers are added after the walk: inserting while iterating is unsafe. */
    json_t *markers = json_object();
    json_object_foreach_safe(j, tmp, key, value) {
      if (secret_key(key) && json_is_string(value)) {
        char marker[128];
        snprintf(marker, sizeof(marker), "%s_set", key);
        if (markers && secret_value_key(key) && json_string_length(value) > 0)
          json_object_set_new(markers, marker, json_true());
        json_object_del(j, key);
      } else {
        strip_secrets(value);
      }
    }
    json_object_update(j, markers);
    json_decref(markers);
  } else if (json_is_array(j)) {
    for (size_t i = 0; i < json_array_size(j); i++)
      strip_secrets(json_array_get(j, i));
  } else if (json_is_string(j)) {
    /* URLs anywhere (cameras, peers) lose their credentials. */
    const char *s = json_string_value(j);
    if (strstr(s, "://")) {
      char safe[1024];
      vg_camera_safe_url(s, safe, sizeof(safe));
      if (strcmp(safe, s) != 0) json_string_set(j, safe);
    }
  }
}

static int get_config(const vg_http_request_t *req, vg_http_response_t *res) {
  pthread_mutex_lock(&reg.lock);
  json_t *doc = reg.file_doc ? json_deep_copy(reg.file_doc) : json_object();
  json_t *cams = json_array();
  for (size_t i = 0; doc && cams && i < reg.n; i++) {
    json_t *c = safe_config(&reg.v[i]);
    if (c) json_object_set_new(c, "origin", json_string(reg.v[i].from_file ? "file" : "api"));
    json_array_append_new(cams, c);
  }
  pthread_mutex_unlock(&reg.lock);
  if (!doc || !cams) {
    json_decref(doc);
    json_decref(cams);
    return VG_ENOMEM;
  }
  json_object_set_new(doc, "cameras", cams);
  strip_secrets(doc);
  vg_api_audit(req, "config.export", "", NULL);
  return vg_api_reply_etag(req, res, doc);
}

/* POST /api/v1/config: {"cameras": [...]} creates or replaces the API
 * cameras it names (all are validated before any applies); cameras of the
 * configuration file are skipped; other members are ignored (so that an
 * export can be imported as it is). */
static int post_config(const vg_http_request_t *req, vg_http_response_t *res) {
  if (!need_store(res)) return 0;
  json_t *body;
  if (vg_api_body_object(req, res, &body)) return 0;
  vg_cfg_t c = {0};
  json_t *cams = vg_cfg_array(&c, body, "cameras", 1);
  if (c.failed) {
    json_decref(body);
    return vg_api_reply_invalid(res, &c);
  }
  size_t n = json_array_size(cams);
  vg_camera_config_t *cfgs = calloc(n ? n : 1, sizeof(*cfgs));
  json_t **analytics = calloc(n ? n : 1, sizeof(*analytics));
  json_t **records = calloc(n ? n : 1, sizeof(*records));
  char *skip = calloc(n ? n : 1, 1), *replace = calloc(n ? n : 1, 1);
  int err = cfgs && analytics && records && skip && replace ? 0 : VG_ENOMEM;
  vg_cfg_enter(&c, "cameras");
  for (size_t i = 0; !err && i < n && !c.failed; i++) {
    json_t *cam = json_array_get(cams, i);
    /* An export marks each camera's origin; it is not a camera key. */
    if (json_is_object(cam)) json_object_del(cam, "origin");
    const char *cid = json_string_value(json_object_get(cam, "id"));
    pthread_mutex_lock(&reg.lock);
    entry_t *e = cid ? entry_find(cid) : NULL;
    if (e && e->from_file) skip[i] = 1;
    if (e && !e->from_file) {
      replace[i] = 1;
      keep_credentials(cam, json_string_value(json_object_get(e->config, "url")));
    }
    pthread_mutex_unlock(&reg.lock);
    if (skip[i]) continue;
    vg_cfg_enter_index(&c, i);
    err = validate_camera(&c, cam, &cfgs[i], &analytics[i], &records[i]);
    if (!c.failed && !replace[i] && vg_camera_find(cfgs[i].id))
      vg_cfg_fail(&c, "id", "a camera '%s' that is not configured (a publisher's) exists", cfgs[i].id);
    for (size_t j = 0; !c.failed && j < i; j++)
      if (!skip[j] && strcmp(cfgs[j].id, cfgs[i].id) == 0)
        vg_cfg_fail(&c, "id", "duplicate camera id \"%s\" (also cameras[%zu])", cfgs[i].id, j);
    vg_cfg_leave(&c);
    if (err == VG_ECONFIG) err = 0;
  }
  vg_cfg_leave(&c);
  json_t *created = json_array(), *updated = json_array(), *skipped = json_array();
  int answered = 0;
  if (!err && c.failed) {
    err = vg_api_reply_invalid(res, &c);
    answered = 1;
  }
  for (size_t i = 0; !err && !answered && i < n; i++) {
    if (skip[i]) {
      json_array_append(skipped, json_object_get(json_array_get(cams, i), "id"));
      continue;
    }
    err = apply_camera(&cfgs[i], analytics[i], records[i], replace[i]);
    json_array_append_new(replace[i] ? updated : created, json_string(cfgs[i].id));
  }
  for (size_t i = 0; analytics && i < n; i++)
    json_decref(analytics[i]);
  if (!answered)
    vg_api_audit(req, "config.import", "", "%zu created, %zu updated, %zu skipped: %s",
                 json_array_size(created), json_array_size(updated), json_array_size(skipped),
                 err ? vg_strerror(err) : "ok");
  if (!err && !answered)
    err = vg_http_reply_json(
        res, 200, json_pack("{s:O,s:O,s:O}", "created", created, "updated", updated, "skipped", skipped));
  json_decref(created);
  json_decref(updated);
  json_decref(skipped);
  free(cfgs);
  free(analytics);
  free(records);
  free(skip);
  free(replace);
  json_decref(body);
  return err;
}

/* ---- start-up ---- */

static void load_one(const char *id, json_t *camera, void *opaque) {
  int *started = opaque;
  vg_cfg_t c = {0};
  vg_camera_config_t cfg;
  json_t *analytics = NULL, *record = NULL;
  vg_cfg_enter(&c, "stored camera");
  if (validate_camera(&c, camera, &cfg, &analytics, &record) != 0 || strcmp(cfg.id, id) != 0) {
    vg_log_error(&lg, "stored camera %s not started: %s: %s", id, c.err_path, c.err_reason);
    json_decref(analytics);
    return;
  }
  pthread_mutex_lock(&reg.lock);
  int in_file = entry_find(id) != NULL;
  pthread_mutex_unlock(&reg.lock);
  if (in_file) {
    vg_log_warn(&lg, "stored camera %s skipped: the configuration file has a camera of that id", id);
    json_decref(analytics);
    return;
  }
  int err = vg_camera_add(&cfg, NULL);
  if (err) vg_log_error(&lg, "stored camera %s not started: %s", id, vg_strerror(err));
  json_t *config = config_object(&cfg, record);
  pthread_mutex_lock(&reg.lock);
  if (config) entry_set(id, config, analytics, 0);
  pthread_mutex_unlock(&reg.lock);
  if (!config) json_decref(analytics);
  if (!err) (*started)++;
}

int vg_cameras_api_load_store(void) {
  pthread_mutex_lock(&reg.lock);
  vg_config_store_t *store = reg.store;
  pthread_mutex_unlock(&reg.lock);
  if (!store) return 0;
  int started = 0;
  int err = vg_config_store_foreach(store, load_one, &started);
  return err < 0 ? err : started;
}

/* ---- the table ---- */

const vg_http_route_t vg_api_camera_routes[] = {
    {"GET", "/api/v1/cameras", get_cameras,
     "the cameras the user may see, with state, tracks and counters (limit, offset; ETag)"},
    {"POST", "/api/v1/cameras", post_camera, "create a camera (applied at once, persisted)", VG_ACCESS_ADMIN},
    {"POST", "/api/v1/cameras/probe", post_probe, "connect to a URL once and report its codecs",
     VG_ACCESS_ADMIN, VG_ROUTE_SLOW},
    {"GET", "/api/v1/cameras/{id}", get_camera, "one camera"},
    {"PUT", "/api/v1/cameras/{id}", put_camera, "replace a camera's configuration", VG_ACCESS_ADMIN},
    {"PATCH", "/api/v1/cameras/{id}", patch_camera, "change part of a camera's configuration (merge patch)",
     VG_ACCESS_ADMIN},
    {"DELETE", "/api/v1/cameras/{id}", delete_camera, "delete a camera", VG_ACCESS_ADMIN},
    {"GET", "/api/v1/cameras/{id}/analytics", get_analytics, "a camera's analytics configuration"},
    {"PUT", "/api/v1/cameras/{id}/analytics", put_analytics,
     "replace a camera's analytics configuration (zones, tripwires, rules)", VG_ACCESS_ADMIN},
    {"GET", "/api/v1/config", get_config, "the effective configuration, without secrets (ETag)",
     VG_ACCESS_ADMIN},
    {"POST", "/api/v1/config", post_config, "import cameras and their analytics", VG_ACCESS_ADMIN},
};
const size_t vg_api_camera_route_count = sizeof(vg_api_camera_routes) / sizeof(vg_api_camera_routes[0]);
