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

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "base/time.h"
#include "ingest/camera.h"
#include "record/trigger.h"

#define SEC 1000000LL

/* Parses an RFC 3339 time (UTC "Z" or a numeric offset) into
 * microseconds since the epoch. Returns 0 or VG_EINVAL. */
static int parse_rfc3339(const char *s, int64_t *out) {
  int y, mo, d, h, mi, sec, n = 0;
  if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
    return VG_EINVAL;
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return VG_EINVAL;
  const char *p = s + n;
  int64_t frac = 0, scale = 100000;
  if (*p == '.') {
    p++;
    if (!isdigit((unsigned char)*p)) return VG_EINVAL;
    for (; isdigit((unsigned char)*p); p++) {
      frac += (*p - '0') * scale;
      scale /= 10;
    }
  }
  int64_t offset_s = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om, m = 0;
    if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m != 5 || oh > 23 || om > 59) return VG_EINVAL;
    offset_s = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
    p += 6;
  } else {
    return VG_EINVAL;
  }
  if (*p) return VG_EINVAL;
  struct tm tm = {
      .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec};
  time_t t = timegm(&tm);
  if (t == (time_t)-1) return VG_EINVAL;
  *out = ((int64_t)t - offset_s) * SEC + frac;
  return 0;
}

/* A time field: an RFC 3339 string or epoch seconds. */
static int json_time(json_t *v, int64_t *out) {
  if (json_is_string(v)) return parse_rfc3339(json_string_value(v), out);
  if (json_is_number(v)) {
    double s = json_number_value(v);
    if (s < 0 || s > 4e10) return VG_EINVAL;
    *out = (int64_t)(s * 1e6);
    return 0;
  }
  return VG_EINVAL;
}

static json_t *time_json(int64_t us) {
  char buf[40];
  vg_time_format_utc(us, buf, sizeof(buf));
  return json_string(buf);
}

/* The request body as a JSON object, or a 400 already written. */
static json_t *body_object(const vg_http_request_t *req, vg_http_response_t *res) {
  json_error_t e;
  json_t *body = req->body ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e) : NULL;
  if (!json_is_object(body)) {
    json_decref(body);
    vg_http_reply_error(res, 400, "bad_request", "the body must be a JSON object");
    return NULL;
  }
  return body;
}

/* Whether the camera exists; otherwise a 404 is written. */
static bool known_camera(const char *id, vg_http_response_t *res) {
  if (vg_camera_find(id)) return true;
  vg_http_reply_error(res, 404, "not_found", "no camera '%s'", id);
  return false;
}

/* ---- POST /api/v1/cameras/{id}/record ---- */

static int post_record(const vg_http_request_t *req, vg_http_response_t *res) {
  const char *id = vg_http_param(req, "id");
  if (!known_camera(id, res)) return 0;
  json_t *body = body_object(req, res);
  if (!body) return 0;
  json_t *d = json_object_get(body, "duration_s");
  json_t *reason = json_object_get(body, "reason");
  if (!json_is_integer(d) || json_integer_value(d) < 1 || json_integer_value(d) > VG_RECORD_TRIGGER_MAX_S) {
    json_decref(body);
    return vg_http_reply_error(res, 400, "bad_request", "duration_s must be an integer from 1 to %d",
                               VG_RECORD_TRIGGER_MAX_S);
  }
  if (reason && (!json_is_string(reason) || strlen(json_string_value(reason)) >= VG_REC_REASON_MAX)) {
    json_decref(body);
    return vg_http_reply_error(res, 400, "bad_request", "reason must be a string of at most %d bytes",
                               VG_REC_REASON_MAX - 1);
  }
  int duration = (int)json_integer_value(d);
  int64_t until = 0;
  /* A failed mark write leaves the trigger in force; the footage is then
   * only kept for max_age, which the log says. */
  int err = vg_record_trigger(id, duration, reason ? json_string_value(reason) : "api", &until);
  json_decref(body);
  if (err == VG_EINVAL || err == VG_ENOMEM) return err;
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

/* Reads field key of body as a time into *out; a 400 naming it otherwise. */
static int time_field(json_t *body, const char *key, bool required, int64_t *out, vg_http_response_t *res) {
  json_t *v = json_object_get(body, key);
  if (!v || json_is_null(v)) {
    if (!required) return 0;
    return vg_http_reply_error(res, 400, "bad_request", "%s is required (RFC 3339 or epoch seconds)", key)
               ?: 1;
  }
  if (json_time(v, out) != 0)
    return vg_http_reply_error(res, 400, "bad_request", "%s must be an RFC 3339 time or epoch seconds", key)
               ?: 1;
  return 0;
}

static int post_lock(const vg_http_request_t *req, vg_http_response_t *res) {
  const char *id = vg_http_param(req, "id");
  if (!known_camera(id, res)) return 0;
  json_t *body = body_object(req, res);
  if (!body) return 0;
  vg_rec_lock_t l = {0};
  snprintf(l.camera, sizeof(l.camera), "%s", id);
  int bad = time_field(body, "start", true, &l.start_us, res);
  if (!bad) bad = time_field(body, "end", true, &l.end_us, res);
  if (!bad) bad = time_field(body, "until", false, &l.until_us, res);
  json_t *reason = json_object_get(body, "reason");
  if (!bad && l.end_us <= l.start_us)
    bad = vg_http_reply_error(res, 400, "bad_request", "end must be after start") ?: 1;
  if (!bad && (!json_is_string(reason) || !json_string_value(reason)[0] ||
               strlen(json_string_value(reason)) >= sizeof(l.reason)))
    bad = vg_http_reply_error(res, 400, "bad_request",
                              "reason must be a non-empty string of at most %zu bytes", sizeof(l.reason) - 1)
              ?: 1;
  if (!bad) snprintf(l.reason, sizeof(l.reason), "%s", json_string_value(reason));
  json_decref(body);
  if (bad) return bad < 0 ? bad : 0;
  vg_rec_index_t *ix = index_or_503(res);
  if (!ix) return 0;
  int err = vg_rec_index_add_lock(ix, &l);
  if (err) return err;
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
  if (!known_camera(id, res)) return 0;
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
    {"POST", "/api/v1/cameras/{id}/record", post_record, "record at full quality for duration_s seconds"},
    {"POST", "/api/v1/cameras/{id}/locks", post_lock, "lock a range of footage against deletion"},
    {"GET", "/api/v1/cameras/{id}/locks", get_locks, "the camera's evidence locks"},
    {"DELETE", "/api/v1/locks/{lock_id}", delete_lock, "remove an evidence lock"},
};
const size_t vg_record_api_route_count = sizeof(vg_record_api_routes) / sizeof(vg_record_api_routes[0]);
