/*
 * events_api.c: the events routes (see events_api.h). The event service
 * (event/service.h) does the work; clips are built by the playback clip
 * route (api/playback.c) over the event's range, so Range, ETag and
 * Content-Disposition behave the same.
 */
#include "api/events_api.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "api/record_api.h"
#include "base/error.h"
#include "base/log.h"
#include "base/time.h"
#include "event/service.h"
#include "ingest/camera.h"

extern const vg_http_route_t vg_api_playback_routes[]; /* api/playback.c */
extern const size_t vg_api_playback_route_count;

static const vg_log_ctx_t lg = {"events-api", NULL};

/* Pictures larger than this are not served from memory (they never are). */
#define MAX_PICTURE_BYTES (16u << 20)
#define MANUAL_DEFAULT_US (10LL * 1000000)
#define MANUAL_MAX_US (86400LL * 1000000)

/* ---- parsing ---- */

static int fail(char *err, size_t size, const char *fmt, const char *name) {
  snprintf(err, size, fmt, name);
  return VG_EINVAL;
}

/* RFC 3339, or unix time: seconds below 10^11, milliseconds from there. */
static int parse_time(const char *s, int64_t *us) {
  if (!*s) return VG_EINVAL;
  bool numeric = true;
  for (const char *p = s; *p; p++)
    if (!((*p >= '0' && *p <= '9') || *p == '.')) numeric = false;
  if (!numeric) return vg_record_api_parse_time(s, us);
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (*end || errno || v < 0 || v > 1e15) return VG_EINVAL;
  *us = v < 1e11 ? (int64_t)(v * 1e6) : (int64_t)(v * 1e3);
  return 0;
}

static int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out) {
  if (!*s) return VG_EINVAL;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (*end || errno || v < min || v > max) return VG_EINVAL;
  *out = v;
  return 0;
}

/* Copies query parameter name; 1 when present, 0 when absent, <0 bad. */
static int param(const vg_http_request_t *req, const char *name, char *out, size_t size, char *err,
                 size_t err_size) {
  int n = vg_http_query(req, name, out, size);
  if (n == VG_ENOTFOUND) return 0;
  if (n < 0) return fail(err, err_size, "%s: malformed or too long", name);
  return 1;
}

int vg_events_api_parse_query(const vg_http_request_t *req, vg_event_query_t *q, char *err, size_t err_size) {
  char v[160];
  int r;
  struct {
    const char *name;
    char *dst;
    size_t size;
  } texts[] = {
      {"camera", q->camera, sizeof(q->camera)}, {"class", q->label, sizeof(q->label)},
      {"label", q->label, sizeof(q->label)},    {"sensor", q->sensor, sizeof(q->sensor)},
      {"kind", q->kind, sizeof(q->kind)},       {"q", q->text, sizeof(q->text)},
  };
  for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
    if ((r = param(req, texts[i].name, v, sizeof(v), err, err_size)) < 0) return r;
    if (!r) continue;
    if (strlen(v) >= texts[i].size) return fail(err, err_size, "%s: too long", texts[i].name);
    snprintf(texts[i].dst, texts[i].size, "%s", v);
  }
  if ((r = param(req, "start", v, sizeof(v), err, err_size)) < 0) return r;
  if (r && parse_time(v, &q->start_us))
    return fail(err, err_size, "%s: expected RFC 3339 or unix time", "start");
  if ((r = param(req, "end", v, sizeof(v), err, err_size)) < 0) return r;
  if (r && parse_time(v, &q->end_us)) return fail(err, err_size, "%s: expected RFC 3339 or unix time", "end");
  if (q->start_us && q->end_us && q->end_us <= q->start_us)
    return fail(err, err_size, "%s: must be after start", "end");
  if ((r = param(req, "severity", v, sizeof(v), err, err_size)) < 0) return r;
  if (r && (q->min_severity = vg_event_severity_parse(v)) < 0)
    return fail(err, err_size, "%s: expected info, low, medium, high or critical", "severity");
  if ((r = param(req, "false_positive", v, sizeof(v), err, err_size)) < 0) return r;
  if (r) {
    if (!strcmp(v, "true") || !strcmp(v, "1"))
      q->false_positive = 1;
    else if (!strcmp(v, "false") || !strcmp(v, "0"))
      q->false_positive = 0;
    else
      return fail(err, err_size, "%s: expected true or false", "false_positive");
  }
  int64_t n;
  if ((r = param(req, "limit", v, sizeof(v), err, err_size)) < 0) return r;
  if (r) {
    if (parse_int64(v, 1, VG_EVENT_QUERY_MAX_LIMIT, &n))
      return fail(err, err_size, "%s: expected 1..1000", "limit");
    q->limit = (int)n;
  }
  if ((r = param(req, "offset", v, sizeof(v), err, err_size)) < 0) return r;
  if (r && parse_int64(v, 0, 1000000000, &q->offset))
    return fail(err, err_size, "%s: expected 0 or more", "offset");
  if ((r = param(req, "cursor", v, sizeof(v), err, err_size)) < 0) return r;
  if (r) {
    char *dot = strchr(v, '.');
    if (!dot) return fail(err, err_size, "%s: expected a next_cursor of an earlier answer", "cursor");
    *dot = 0;
    if (parse_int64(v, 0, INT64_MAX / 2, &q->cursor_start_us) ||
        parse_int64(dot + 1, 1, INT64_MAX / 2, &q->cursor_id))
      return fail(err, err_size, "%s: expected a next_cursor of an earlier answer", "cursor");
    if (q->offset) return fail(err, err_size, "%s: give a cursor or an offset, not both", "offset");
    q->has_cursor = true;
  }
  return 0;
}

static int json_time(json_t *v, int64_t *us) {
  if (json_is_string(v)) return parse_time(json_string_value(v), us);
  if (json_is_number(v)) {
    double d = json_number_value(v);
    if (d < 0 || d > 1e15) return VG_EINVAL;
    *us = d < 1e11 ? (int64_t)(d * 1e6) : (int64_t)(d * 1e3);
    return 0;
  }
  return VG_EINVAL;
}

static int manual_fail(json_t *root, char *err, size_t size, const char *fmt, const char *name) {
  json_decref(root);
  return fail(err, size, fmt, name);
}

int vg_events_api_parse_manual(const char *body, size_t len, int64_t now_us, vg_manual_event_t *out,
                               char *err, size_t err_size) {
  static const char *const keys[] = {"camera",     "label", "severity", "labels",
                                     "duration_s", "start", "end",      NULL};
  memset(out, 0, sizeof(*out));
  json_error_t jerr;
  json_t *root = body && len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
  if (!json_is_object(root)) return manual_fail(root, err, err_size, "%s: expected a JSON object", "body");
  const char *key;
  json_t *v;
  json_object_foreach(root, key, v) {
    bool known = false;
    for (int i = 0; keys[i]; i++)
      known |= !strcmp(key, keys[i]);
    if (!known) {
      snprintf(err, err_size, "%.64s: unknown field", key);
      json_decref(root);
      return VG_EINVAL;
    }
  }
  v = json_object_get(root, "camera");
  if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) >= sizeof(out->camera))
    return manual_fail(root, err, err_size, "%s: required, a camera id", "camera");
  snprintf(out->camera, sizeof(out->camera), "%s", json_string_value(v));
  v = json_object_get(root, "label");
  if (v && (!json_is_string(v) || !json_string_length(v) || json_string_length(v) >= sizeof(out->label)))
    return manual_fail(root, err, err_size, "%s: a string of 1 to 63 bytes", "label");
  snprintf(out->label, sizeof(out->label), "%s", v ? json_string_value(v) : "manual");
  v = json_object_get(root, "severity");
  out->severity = VG_EVENT_SEVERITY_MEDIUM;
  if (v && (!json_is_string(v) || (out->severity = vg_event_severity_parse(json_string_value(v))) < 0))
    return manual_fail(root, err, err_size, "%s: info, low, medium, high or critical", "severity");
  v = json_object_get(root, "labels");
  if (v) {
    if (!json_is_array(v) || json_array_size(v) > 16)
      return manual_fail(root, err, err_size, "%s: an array of at most 16 strings", "labels");
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
      if (!json_is_string(item) || !json_string_length(item) || json_string_length(item) > 31 ||
          strchr(json_string_value(item), ','))
        return manual_fail(root, err, err_size, "%s: strings of 1 to 31 bytes without ','", "labels");
      size_t l = strlen(out->labels);
      snprintf(out->labels + l, sizeof(out->labels) - l, "%s%s", l ? "," : "", json_string_value(item));
    }
  }
  out->start_us = now_us;
  v = json_object_get(root, "start");
  if (v && json_time(v, &out->start_us))
    return manual_fail(root, err, err_size, "%s: RFC 3339 or unix time", "start");
  json_t *dur = json_object_get(root, "duration_s"), *end = json_object_get(root, "end");
  if (dur && end) return manual_fail(root, err, err_size, "%s: give duration_s or end, not both", "end");
  out->end_us = out->start_us + MANUAL_DEFAULT_US;
  if (dur) {
    if (!json_is_number(dur) || json_number_value(dur) <= 0 || json_number_value(dur) > 86400)
      return manual_fail(root, err, err_size, "%s: a number of seconds, 0 to 86400", "duration_s");
    out->end_us = out->start_us + (int64_t)(json_number_value(dur) * 1e6);
  }
  if (end && json_time(end, &out->end_us))
    return manual_fail(root, err, err_size, "%s: RFC 3339 or unix time", "end");
  if (out->end_us <= out->start_us) return manual_fail(root, err, err_size, "%s: must be after start", "end");
  if (out->end_us - out->start_us > MANUAL_MAX_US)
    return manual_fail(root, err, err_size, "%s: at most a day after start", "end");
  json_decref(root);
  return 0;
}

/* ---- helpers ---- */

static int unavailable(vg_http_response_t *res) {
  return vg_http_reply_error(res, 503, "unavailable", "events are not enabled on this node");
}

static json_t *event_json(const vg_event_t *ev) {
  json_t *j = vg_event_to_json(ev);
  if (!j) return NULL;
  char url[96];
  snprintf(url, sizeof(url), "/api/v1/events/%lld", (long long)ev->id);
  json_object_set_new(j, "url", json_string(url));
  if (ev->snapshot) {
    snprintf(url, sizeof(url), "/api/v1/events/%lld/snapshot.jpg", (long long)ev->id);
    json_object_set_new(j, "snapshot_url", json_string(url));
    snprintf(url, sizeof(url), "/api/v1/events/%lld/thumbnail.jpg", (long long)ev->id);
    json_object_set_new(j, "thumbnail_url", json_string(url));
  } else {
    json_object_set_new(j, "snapshot_url", json_null());
    json_object_set_new(j, "thumbnail_url", json_null());
  }
  snprintf(url, sizeof(url), "/api/v1/events/%lld/clip.mp4", (long long)ev->id);
  json_object_set_new(j, "clip_url", json_string(url));
  /* The clip's range as clip.mp4 builds it now (the node's pre_capture_s and
   * post_capture_s), so a page can place the event in the clip without
   * assuming the defaults. An active event's clip ends at the request time. */
  const vg_event_config_t *cfg = vg_event_service_config();
  if (cfg) {
    int64_t clip_start_us, clip_end_us;
    vg_event_clip_range(cfg, ev, vg_time_utc_us(), &clip_start_us, &clip_end_us);
    json_object_set_new(j, "clip_start_ms", json_integer(clip_start_us / 1000));
    json_object_set_new(j, "clip_end_ms", json_integer(clip_end_us / 1000));
    json_object_set_new(j, "pre_capture_s", json_integer(cfg->pre_capture_s));
    json_object_set_new(j, "post_capture_s", json_integer(cfg->post_capture_s));
  }
  return j;
}

/* Finds the event of the {id} parameter that the user may see (perm 0) and
 * then checks perm: 404 when absent or not visible, 403 without perm.
 * Returns 0 with *ev, or 1 after answering. */
static int load_event(const vg_http_request_t *req, vg_http_response_t *res, vg_perm_t perm, vg_event_t *ev,
                      vg_event_files_t *files) {
  const char *text = vg_http_param(req, "id");
  int64_t id;
  if (!vg_event_service_config()) return unavailable(res), 1;
  if (parse_int64(text, 1, INT64_MAX / 2, &id))
    return vg_http_reply_error(res, 404, "not_found", "no event '%s'", text), 1;
  int err = vg_event_service_get(id, ev, files);
  if (err || !vg_api_camera_allowed(req, ev->camera, 0)) {
    if (err && err != VG_ENOENT) vg_log_warn(&lg, "event %lld: %s", (long long)id, vg_strerror(err));
    return vg_http_reply_error(res, 404, "not_found", "no event %lld", (long long)id), 1;
  }
  if (perm && !vg_api_camera_allowed(req, ev->camera, perm))
    return vg_http_reply_error(res, 403, "forbidden", "needs the '%s' permission on camera '%s'",
                               vg_perm_name(perm), ev->camera),
           1;
  return 0;
}

/* ---- GET /api/v1/events ---- */

typedef struct {
  json_t *list;
  vg_event_t last;
  int n;
} list_acc_t;

static int append_event(void *opaque, const vg_event_t *ev, const vg_event_files_t *files) {
  (void)files;
  list_acc_t *a = opaque;
  json_t *j = event_json(ev);
  if (!j || json_array_append_new(a->list, j)) return VG_ENOMEM;
  a->last = *ev;
  a->n++;
  return 0;
}

/* The cameras of a user who may not see every camera: those its
 * permissions name. NULL (no restriction) for admins, an auth-less node
 * and users with a "*" permission. */
static const char **visible_cameras(const vg_http_request_t *req, int *count) {
  *count = 0;
  if (!vg_api_auth_enabled() || !req->user || req->user->role == VG_ROLE_ADMIN) return NULL;
  const vg_user_t *u = req->user;
  for (int i = 0; i < u->perm_count; i++)
    if (!strcmp(u->perms[i].camera, "*") && u->perms[i].mask) return NULL;
  const char **list = calloc((size_t)u->perm_count + 1, sizeof(*list));
  if (!list) return NULL;
  for (int i = 0; i < u->perm_count && *count < VG_EVENT_QUERY_MAX_CAMERAS; i++)
    if (u->perms[i].mask) list[(*count)++] = u->perms[i].camera;
  return list;
}

static int get_events(const vg_http_request_t *req, vg_http_response_t *res) {
  if (!vg_event_service_config()) return unavailable(res);
  vg_event_query_t q;
  vg_event_query_init(&q);
  char err[160];
  if (vg_events_api_parse_query(req, &q, err, sizeof(err)))
    return vg_http_reply_error(res, 400, "invalid_parameter", "%s", err);
  if (q.camera[0] && !vg_api_camera_allowed(req, q.camera, 0))
    return vg_http_reply_error(res, 404, "not_found", "no camera '%s'", q.camera);
  int camera_count = 0;
  const char **cameras = q.camera[0] ? NULL : visible_cameras(req, &camera_count);
  q.cameras = cameras;
  q.camera_count = camera_count;
  list_acc_t a = {json_array(), {0}, 0};
  int64_t total = 0;
  int n = a.list ? vg_event_service_query(&q, append_event, &a, &total) : VG_ENOMEM;
  free(cameras);
  if (n < 0) {
    json_decref(a.list);
    return n;
  }
  json_t *next = json_null();
  int64_t skipped = q.has_cursor ? 0 : q.offset;
  if (a.n == q.limit && (q.has_cursor || skipped + a.n < total)) {
    char cursor[64];
    snprintf(cursor, sizeof(cursor), "%lld.%lld", (long long)a.last.start_utc_us, (long long)a.last.id);
    next = json_string(cursor);
  }
  return vg_http_reply_json(res, 200,
                            json_pack("{s:o,s:I,s:i,s:I,s:o}", "events", a.list, "total", (json_int_t)total,
                                      "limit", q.limit, "offset", (json_int_t)skipped, "next_cursor", next));
}

/* ---- POST /api/v1/events ---- */

static int post_event(const vg_http_request_t *req, vg_http_response_t *res) {
  if (!vg_event_service_config()) return unavailable(res);
  vg_manual_event_t m;
  char err[160];
  if (vg_events_api_parse_manual(req->body, req->body_len, vg_time_utc_us(), &m, err, sizeof(err)))
    return vg_http_reply_error(res, 400, "invalid_field", "%s", err);
  if (!vg_api_camera_allowed(req, m.camera, 0) || !vg_camera_find(m.camera))
    return vg_http_reply_error(res, 404, "not_found", "no camera '%s'", m.camera);
  vg_event_t ev;
  int e = vg_event_service_manual(m.camera, m.label, m.severity, m.labels, m.start_us, m.end_us, &ev);
  if (e) return e;
  vg_api_audit(req, "event.create", m.camera, "event %lld: %s", (long long)ev.id, m.label);
  vg_http_add_header(res, "Location", "/api/v1/events/%lld", (long long)ev.id);
  return vg_http_reply_json(res, 201, event_json(&ev));
}

/* ---- GET/DELETE /api/v1/events/{id} ---- */

static int get_event(const vg_http_request_t *req, vg_http_response_t *res) {
  vg_event_t ev;
  if (load_event(req, res, 0, &ev, NULL)) return 0;
  return vg_http_reply_json(res, 200, event_json(&ev));
}

static int delete_event(const vg_http_request_t *req, vg_http_response_t *res) {
  vg_event_t ev;
  if (load_event(req, res, VG_PERM_RECORDINGS, &ev, NULL)) return 0;
  int err = vg_event_service_delete(ev.id);
  if (err == VG_EBUSY)
    return vg_http_reply_error(res, 409, "conflict", "event %lld is still active", (long long)ev.id);
  if (err) return err;
  vg_api_audit(req, "event.delete", ev.camera, "event %lld", (long long)ev.id);
  res->status = 204;
  return 0;
}

/* ---- pictures ---- */

static int send_picture(const vg_http_request_t *req, vg_http_response_t *res, bool thumbnail) {
  vg_event_t ev;
  vg_event_files_t files;
  if (load_event(req, res, VG_PERM_RECORDINGS, &ev, &files)) return 0;
  const char *rel = thumbnail ? files.thumbnail : files.snapshot;
  if (!rel[0])
    return vg_http_reply_error(res, 404, "not_found", "event %lld has no snapshot yet", (long long)ev.id);
  const vg_event_config_t *cfg = vg_event_service_config();
  char path[1024];
  snprintf(path, sizeof(path), "%s/%s", cfg->evidence_dir, rel);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || st.st_size <= 0 || (uint64_t)st.st_size > MAX_PICTURE_BYTES) {
    if (fd >= 0) close(fd);
    return vg_http_reply_error(res, 404, "not_found", "the snapshot of event %lld is gone", (long long)ev.id);
  }
  char *buf = malloc((size_t)st.st_size);
  ssize_t got = buf ? read(fd, buf, (size_t)st.st_size) : -1;
  close(fd);
  int err = got == st.st_size ? vg_strbuf_append(&res->body, buf, (size_t)got) : VG_EIO;
  free(buf);
  if (err) return err;
  res->status = 200;
  res->content_type = "image/jpeg";
  vg_http_add_header(res, "Cache-Control", "private, max-age=60");
  return 0;
}

static int get_snapshot(const vg_http_request_t *req, vg_http_response_t *res) {
  return send_picture(req, res, false);
}
static int get_thumbnail(const vg_http_request_t *req, vg_http_response_t *res) {
  return send_picture(req, res, true);
}

/* ---- GET /api/v1/events/{id}/clip.mp4 ---- */

static vg_http_handler_fn playback_clip_handler(void) {
  for (size_t i = 0; i < vg_api_playback_route_count; i++)
    if (!strcmp(vg_api_playback_routes[i].pattern, "/api/v1/cameras/{id}/clip.mp4"))
      return vg_api_playback_routes[i].fn;
  return NULL;
}

static int get_clip(const vg_http_request_t *req, vg_http_response_t *res) {
  vg_event_t ev;
  if (load_event(req, res, VG_PERM_EXPORT, &ev, NULL)) return 0;
  vg_http_handler_fn clip = playback_clip_handler();
  if (!clip) return vg_http_reply_error(res, 503, "unavailable", "playback is not available");
  int64_t start_us, end_us;
  vg_event_clip_range(vg_event_service_config(), &ev, vg_time_utc_us(), &start_us, &end_us);
  /* The playback route reads the camera from {id} and the range from the
   * query (milliseconds); Range and If-Range headers pass through. */
  vg_http_request_t sub = *req;
  char query[96];
  snprintf(query, sizeof(query), "start=%lld&end=%lld", (long long)(start_us / 1000),
           (long long)((end_us + 999) / 1000));
  sub.query = query;
  sub.param_count = 1;
  memset(&sub.params[0], 0, sizeof(sub.params[0]));
  sub.params[0].name = "id";
  sub.params[0].name_len = 2;
  snprintf(sub.params[0].value, sizeof(sub.params[0].value), "%s", ev.camera);
  vg_api_audit(req, "export", ev.camera, "event %lld clip", (long long)ev.id);
  return clip(&sub, res);
}

/* ---- flags ---- */

static int post_false_positive(const vg_http_request_t *req, vg_http_response_t *res) {
  vg_event_t ev;
  if (load_event(req, res, 0, &ev, NULL)) return 0;
  int err = vg_event_service_false_positive(ev.id, &ev);
  if (err) return err;
  vg_api_audit(req, "event.false_positive", ev.camera, "event %lld", (long long)ev.id);
  return vg_http_reply_json(res, 200, event_json(&ev));
}

static int put_retain(const vg_http_request_t *req, vg_http_response_t *res) {
  vg_event_t ev;
  if (load_event(req, res, VG_PERM_RECORDINGS, &ev, NULL)) return 0;
  json_error_t jerr;
  json_t *root = req->body && req->body_len ? json_loadb(req->body, req->body_len, 0, &jerr) : NULL;
  json_t *v = json_is_object(root) ? json_object_get(root, "retain") : NULL;
  bool ok = json_is_boolean(v) && json_object_size(root) == 1;
  bool retain = ok && json_is_true(v);
  json_decref(root);
  if (!ok) return vg_http_reply_error(res, 400, "invalid_field", "retain: expected {\"retain\": true|false}");
  int err = vg_event_service_retain(ev.id, retain, &ev);
  if (err) return err;
  vg_api_audit(req, "event.retain", ev.camera, "event %lld: %s", (long long)ev.id,
               retain ? "retain" : "release");
  return vg_http_reply_json(res, 200, event_json(&ev));
}

const vg_http_route_t vg_events_api_routes[] = {
    {"GET", "/api/v1/events", get_events, "events with filters and pagination"},
    {"POST", "/api/v1/events", post_event, "create a manual event", VG_ACCESS_OPERATOR},
    {"GET", "/api/v1/events/{id}", get_event, "one event"},
    {"DELETE", "/api/v1/events/{id}", delete_event, "delete an event, its pictures and its lock",
     VG_ACCESS_OPERATOR},
    {"GET", "/api/v1/events/{id}/snapshot.jpg", get_snapshot, "the event's best snapshot"},
    {"GET", "/api/v1/events/{id}/thumbnail.jpg", get_thumbnail, "the snapshot's thumbnail"},
    {"GET", "/api/v1/events/{id}/clip.mp4", get_clip, "the event's clip, pre-capture to post-capture"},
    {"POST", "/api/v1/events/{id}/false_positive", post_false_positive, "mark a false positive",
     VG_ACCESS_OPERATOR},
    {"PUT", "/api/v1/events/{id}/retain", put_retain, "keep an event (and its clip) past max_age_days",
     VG_ACCESS_OPERATOR},
};
const size_t vg_events_api_route_count = sizeof(vg_events_api_routes) / sizeof(vg_events_api_routes[0]);
