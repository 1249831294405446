/*
 * record_api.c: recording control over HTTP: manual triggers (full quality
 * for a while) and evidence locks (footage retention never deletes).
 *
 *   POST   /api/v1/cameras/{id}/record  {"duration_s": N}          202
 *   POST   /api/v1/cameras/{id}/locks   {"start","end","reason","until"} 201
 *   GET    /api/v1/cameras/{id}/locks                              200
 *   DELETE /api/v1/locks/{lock_id}                                 204
 *
 * Times are RFC 3339 strings ("2026-11-21T12:00:00Z", an offset or
 * fractional seconds allowed) or numbers of seconds since the Unix epoch.
 * Handlers run on the HTTP server's thread and use that thread's own index
 * connection (record/trigger.h); a lock is one small SQLite write.
 */
#include "api/record_api.h"

#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "base/time.h"
#include "ingest/camera.h"
#include "record/trigger.h"

#define SEC 1000000LL

/* n decimal digits at s (no sign, no space), or -1. */
static int digits(const char *s, int n) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

int vg_record_api_parse_time(const char *s, int64_t *out) {
  /* "YYYY-MM-DDTHH:MM:SS" then optional fraction, then Z or +HH:MM / -HH:MM. */
  size_t len = strnlen(s, 64);
  if (len < 20 || len >= 64 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      s[13] != ':' || s[16] != ':')
    return VG_EINVAL;
  int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
  int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 ||
      sec > 60)
    return VG_EINVAL;
  const char *p = s + 19;
  int64_t frac = 0, scale = 100000;
  if (*p == '.') {
    p++;
    if (*p < '0' || *p > '9') return VG_EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
      frac += (*p - '0') * scale;
      scale /= 10;
    }
  }
  int64_t offset_s = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh = digits(p + 1, 2);
    /* p[3] exists when p[1] and p[2] are digits; p[4] only when p[3] is ':'. */
    if (oh < 0 || oh > 23 || p[3] != ':') return VG_EINVAL;
    int om = digits(p + 4, 2);
    if (om < 0 || om > 59) return VG_EINVAL;
    offset_s = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
    p += 6;
  } else {
    return VG_EINVAL;
  }
  if (*p) return VG_EINVAL;
  struct tm tm = {
      .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec};
  time_t t = timegm(&tm);
  /* timegm normalizes (February 31 becomes March 3): refuse such dates. */
  if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != mo - 1) return VG_EINVAL;
  *out = ((int64_t)t - offset_s) * SEC + frac;
  return 0;
}

/* A time field: an RFC 3339 string or epoch seconds (up to the year 3000). */
static int json_time(json_t *v, int64_t *out) {
  if (json_is_string(v)) return vg_record_api_parse_time(json_string_value(v), out);
  if (json_is_number(v)) {
    double s = json_number_value(v);
    if (!(s >= 0 && s <= 32503680000.0)) return VG_EINVAL;
    *out = (int64_t)(s * 1e6);
    return 0;
  }
  return VG_EINVAL;
}

/* The body as a JSON object, or NULL with err set. */
static json_t *load_object(const char *body, size_t len, char *err, size_t err_size) {
  json_error_t e;
  json_t *obj = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &e) : NULL;
  if (json_is_object(obj)) return obj;
  json_decref(obj);
  snprintf(err, err_size, "the body must be a JSON object");
  return NULL;
}

int vg_record_api_parse_trigger(const char *body, size_t len, int *duration_s, char *reason,
                                size_t reason_size, char *err, size_t err_size) {
  json_t *obj = load_object(body, len, err, err_size);
  if (!obj) return VG_EINVAL;
  int ret = VG_EINVAL;
  json_t *d = json_object_get(obj, "duration_s");
  json_t *r = json_object_get(obj, "reason");
  if (!json_is_integer(d) || json_integer_value(d) < 1 || json_integer_value(d) > VG_RECORD_TRIGGER_MAX_S)
    snprintf(err, err_size, "duration_s must be an integer from 1 to %d", VG_RECORD_TRIGGER_MAX_S);
  else if (r && (!json_is_string(r) || strlen(json_string_value(r)) >= reason_size))
    snprintf(err, err_size, "reason must be a string of at most %zu bytes", reason_size - 1);
  else {
    *duration_s = (int)json_integer_value(d);
    snprintf(reason, reason_size, "%s", r ? json_string_value(r) : "api");
    ret = 0;
  }
  json_decref(obj);
  return ret;
}

/* Reads field key of obj as a time; err names it when it is bad. */
static int time_field(json_t *obj, const char *key, bool required, int64_t *out, char *err, size_t err_size) {
  json_t *v = json_object_get(obj, key);
  if (!v || json_is_null(v)) {
    if (!required) return 0;
    snprintf(err, err_size, "%s is required (RFC 3339 or epoch seconds)", key);
    return VG_EINVAL;
  }
  if (json_time(v, out) == 0) return 0;
  snprintf(err, err_size, "%s must be an RFC 3339 time or epoch seconds", key);
  return VG_EINVAL;
}

int vg_record_api_parse_lock(const char *body, size_t len, vg_rec_lock_t *out, char *err, size_t err_size) {
  json_t *obj = load_object(body, len, err, err_size);
  if (!obj) return VG_EINVAL;
  int ret = time_field(obj, "start", true, &out->start_us, err, err_size);
  if (!ret) ret = time_field(obj, "end", true, &out->end_us, err, err_size);
  if (!ret) ret = time_field(obj, "until", false, &out->until_us, err, err_size);
  if (!ret && out->end_us <= out->start_us) {
    snprintf(err, err_size, "end must be after start");
    ret = VG_EINVAL;
  }
  json_t *r = json_object_get(obj, "reason");
  if (!ret && (!json_is_string(r) || !json_string_value(r)[0] ||
               strlen(json_string_value(r)) >= sizeof(out->reason))) {
    snprintf(err, err_size, "reason must be a non-empty string of at most %zu bytes",
             sizeof(out->reason) - 1);
    ret = VG_EINVAL;
  }
  if (!ret) snprintf(out->reason, sizeof(out->reason), "%s", json_string_value(r));
  json_decref(obj);
  return ret;
}

static json_t *time_json(int64_t us) {
  char buf[40];
  vg_time_format_utc(us, buf, sizeof(buf));
  return json_string(buf);
}

/* Whether the camera exists; otherwise a 404 is written. */
/* A camera that does not exist, or that the user may not see, is not
 * there. */
static bool known_camera(const vg_http_request_t *req, const char *id, vg_http_response_t *res) {
  if (vg_camera_find(id) && vg_api_camera_allowed(req, id, 0)) return true;
  vg_http_reply_error(res, 404, "not_found", "no camera '%s'", id);
  return false;
}

/* ---- POST /api/v1/cameras/{id}/record ---- */

static int post_record(const vg_http_request_t *req, vg_http_response_t *res) {
  const char *id = vg_http_param(req, "id");
  if (!known_camera(req, id, res)) return 0;
  int duration;
  char reason[VG_REC_REASON_MAX], err[160];
  if (vg_record_api_parse_trigger(req->body, req->body_len, &duration, reason, sizeof(reason), err,
                                  sizeof(err)))
    return vg_http_reply_error(res, 400, "bad_request", "%s", err);
  int64_t until = 0;
  /* A failed mark write leaves the trigger in force; the footage is then
   * only kept for max_age, which the log says. */
  int ret = vg_record_trigger(id, duration, reason, &until);
  if (ret == VG_EINVAL || ret == VG_ENOMEM) return ret;
  return vg_http_reply_json(
      res, 202, json_pack("{s:s,s:i,s:o}", "camera", id, "duration_s", duration, "until", time_json(until)));
}

/* ---- locks ---- */

static json_t *lock_json(const vg_rec_lock_t *l, int64_t now) {
  return json_pack("{s:I,s:s,s:o,s:o,s:o,s:s,s:b}", "id", (json_int_t)l->id, "camera", l->camera, "start",
                   time_json(l->start_us), "end", time_json(l->end_us), "until",
                   l->until_us ? time_json(l->until_us) : json_null(), "reason", l->reason, "active",
                   l->until_us == 0 || l->until_us > now);
}

static vg_rec_index_t *index_or_503(vg_http_response_t *res) {
  vg_rec_index_t *ix = vg_record_thread_index();
  if (!ix) vg_http_reply_error(res, 503, "unavailable", "the recording index is not available");
  return ix;
}

static int post_lock(const vg_http_request_t *req, vg_http_response_t *res) {
  const char *id = vg_http_param(req, "id");
  if (!known_camera(req, id, res)) return 0;
  vg_rec_lock_t l = {0};
  char err[160];
  if (vg_record_api_parse_lock(req->body, req->body_len, &l, err, sizeof(err)))
    return vg_http_reply_error(res, 400, "bad_request", "%s", err);
  snprintf(l.camera, sizeof(l.camera), "%s", id);
  vg_rec_index_t *ix = index_or_503(res);
  if (!ix) return 0;
  int ret = vg_rec_index_add_lock(ix, &l);
  if (ret) return ret;
  vg_http_add_header(res, "Location", "/api/v1/locks/%lld", (long long)l.id);
  return vg_http_reply_json(res, 201, lock_json(&l, vg_time_utc_us()));
}

typedef struct {
  json_t *list;
  int64_t now;
} lock_list_t;

static int append_lock(void *opaque, const vg_rec_lock_t *l) {
  lock_list_t *ll = opaque;
  json_t *j = lock_json(l, ll->now);
  return j && json_array_append_new(ll->list, j) == 0 ? 0 : VG_ENOMEM;
}

static int get_locks(const vg_http_request_t *req, vg_http_response_t *res) {
  const char *id = vg_http_param(req, "id");
  if (!known_camera(req, id, res)) return 0;
  vg_rec_index_t *ix = index_or_503(res);
  if (!ix) return 0;
  lock_list_t ll = {json_array(), vg_time_utc_us()};
  if (!ll.list) return VG_ENOMEM;
  /* Expired locks are listed too (active false): they say what was kept. */
  int n = vg_rec_index_locks(ix, id, 0, append_lock, &ll);
  if (n < 0) {
    json_decref(ll.list);
    return n;
  }
  return vg_http_reply_json(res, 200, json_pack("{s:o}", "locks", ll.list));
}

static int delete_lock(const vg_http_request_t *req, vg_http_response_t *res) {
  const char *text = vg_http_param(req, "lock_id");
  char *end;
  long long lock_id = strtoll(text, &end, 10);
  if (*end || lock_id <= 0) return vg_http_reply_error(res, 404, "not_found", "no lock '%s'", text);
  vg_rec_index_t *ix = index_or_503(res);
  if (!ix) return 0;
  int err = vg_rec_index_delete_lock(ix, lock_id);
  if (err == VG_ENOENT) return vg_http_reply_error(res, 404, "not_found", "no lock %lld", lock_id);
  if (err) return err;
  res->status = 204;
  return 0;
}

const vg_http_route_t vg_record_api_routes[] = {
    {"POST", "/api/v1/cameras/{id}/record", post_record, "record at full quality for duration_s seconds",
     VG_ACCESS_OPERATOR},
    {"POST", "/api/v1/cameras/{id}/locks", post_lock, "lock a range of footage against deletion",
     VG_ACCESS_OPERATOR},
    {"GET", "/api/v1/cameras/{id}/locks", get_locks, "the camera's evidence locks"},
    {"DELETE", "/api/v1/locks/{lock_id}", delete_lock, "remove an evidence lock", VG_ACCESS_OPERATOR},
};
const size_t vg_record_api_route_count = sizeof(vg_record_api_routes) / sizeof(vg_record_api_routes[0]);
