/*
 * playback.c: the playback routes of the HTTP API (record/playback.h does
 * the work):
 *   GET /api/v1/cameras/{id}/recordings?start=&end=   spans and gaps (JSON)
 *   GET /api/v1/cameras/{id}/vod.m3u8?start=&end=     HLS VOD playlist
 *   GET /api/v1/recordings/{segment_id}/file.mp4      a segment file, with Range
 *   GET /api/v1/cameras/{id}/clip.mp4?start=&end=     progressive MP4 export, with Range
 *
 * start and end are RFC 3339 times ("2026-11-21T15:04:05Z", fractions and
 * numeric offsets allowed) or unix time as a number: seconds below 10^11,
 * milliseconds from there on (10^11 s is the year 5138, 10^11 ms is 1973).
 *
 * Files are found by segment id through the index, never by a path from
 * the client. The file route's path ends in ".mp4" because FFmpeg's HLS
 * demuxer refuses segment URLs without a media extension. Its optional
 * shift_us parameter moves every tfdt (see record/playback.h) so that a
 * playlist's files form one timeline. Each request opens its own index connection (the handlers
 * run on the HTTP server's thread, and a vg_db_t belongs to one thread);
 * bodies from files are streamed in pieces of at most
 * VG_PLAYBACK_READ_CHUNK bytes per read.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/playback_api.h"
#include "api/users.h"
#include "base/error.h"
#include "base/log.h"
#include "base/time.h"
#include "db/db.h"
#include "media/mp4_reader.h"
#include "record/index.h"
#include "record/playback.h"

static const vg_log_ctx_t lg = {"playback", NULL};

/* Longest range a recordings or playlist query may cover. */
#define MAX_QUERY_US (31LL * 24 * 3600 * 1000000)
/* Default recordings range when start/end are absent: the last day. */
#define DEFAULT_SPAN_US (24LL * 3600 * 1000000)

/* ---- times ---- */

static int digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

/* RFC 3339: YYYY-MM-DD(T|t| )HH:MM:SS[.frac](Z|z|+HH:MM|-HH:MM). */
static int parse_rfc3339(const char *s, int64_t *us) {
  int year, mon, day, hour, min, sec;
  size_t len = strlen(s);
  if (len < 20 || digits(s, 4, &year) || s[4] != '-' || digits(s + 5, 2, &mon) || s[7] != '-' ||
      digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || digits(s + 11, 2, &hour) ||
      s[13] != ':' || digits(s + 14, 2, &min) || s[16] != ':' || digits(s + 17, 2, &sec))
    return VG_EINVAL;
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) return VG_EINVAL;
  const char *p = s + 19;
  int64_t frac_us = 0;
  if (*p == '.') {
    p++;
    int n = 0;
    int64_t scale = 100000;
    while (*p >= '0' && *p <= '9') {
      if (scale > 0) frac_us += (*p - '0') * scale;
      scale /= 10;
      p++;
      n++;
    }
    if (n == 0) return VG_EINVAL;
  }
  int offset_min = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om;
    if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59) return VG_EINVAL;
    offset_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
    p += 6;
  } else {
    return VG_EINVAL;
  }
  if (*p) return VG_EINVAL;
  struct tm tm = {.tm_year = year - 1900,
                  .tm_mon = mon - 1,
                  .tm_mday = day,
                  .tm_hour = hour,
                  .tm_min = min,
                  .tm_sec = sec};
  time_t t = timegm(&tm);
  *us = ((int64_t)t - (int64_t)offset_min * 60) * 1000000 + frac_us;
  return 0;
}

int vg_playback_api_parse_time(const char *s, int64_t *us) {
  size_t n = strlen(s);
  if (n > 0 && n <= 15 && strspn(s, "0123456789") == n) {
    int64_t v = strtoll(s, NULL, 10);
    *us = v < 100000000000LL ? v * 1000000 : v * 1000;
    return 0;
  }
  return parse_rfc3339(s, us);
}

/* vg_http_query() for this file's parameters. */
static int query_param(const vg_http_request_t *req, const char *name, char *out, size_t size) {
  return vg_http_query(req, name, out, size);
}

/* Whether the request's user may have perm on camera: a camera they may not
 * see is not there (404), one they see but may not use this way is
 * forbidden (403). Returns 1 when allowed, else 0 with res filled. */
static int camera_allowed(const vg_http_request_t *req, vg_http_response_t *res, const char *camera,
                          vg_perm_t perm) {
  if (!vg_api_camera_allowed(req, camera, 0)) {
    vg_http_reply_error(res, 404, "not_found", "no camera '%s'", camera);
    return 0;
  }
  if (!vg_api_camera_allowed(req, camera, perm)) {
    vg_http_reply_error(res, 403, "forbidden", "no %s permission on camera '%s'", vg_perm_name(perm), camera);
    return 0;
  }
  return 1;
}

/* Reads time parameter name: 1 when present and valid, 0 when absent,
 * or a negative error after answering 400. */
static int query_time(const vg_http_request_t *req, vg_http_response_t *res, const char *name, int64_t *us) {
  char value[64];
  int n = query_param(req, name, value, sizeof(value));
  if (n == VG_ENOTFOUND) return 0;
  if (n < 0 || vg_playback_api_parse_time(value, us) != 0) {
    vg_http_reply_error(res, 400, "invalid_parameter",
                        "%s: expected an RFC 3339 time (2026-11-21T15:04:05Z) or unix seconds/milliseconds",
                        name);
    return VG_EINVAL;
  }
  return 1;
}

/* start and end of the request; defaults apply when allowed (0: required).
 * Returns 0, or a negative error after answering 400. */
static int query_range(const vg_http_request_t *req, vg_http_response_t *res, int64_t default_span_us,
                       int64_t max_span_us, int64_t *start_us, int64_t *end_us) {
  int has_start = query_time(req, res, "start", start_us);
  if (has_start < 0) return has_start;
  int has_end = query_time(req, res, "end", end_us);
  if (has_end < 0) return has_end;
  if (!default_span_us && !has_start) {
    vg_http_reply_error(res, 400, "invalid_parameter", "start: required");
    return VG_EINVAL;
  }
  if (!default_span_us && !has_end) {
    vg_http_reply_error(res, 400, "invalid_parameter", "end: required");
    return VG_EINVAL;
  }
  if (!has_end) *end_us = has_start ? *start_us + default_span_us : vg_time_utc_us();
  if (!has_start) *start_us = *end_us - default_span_us;
  if (*end_us <= *start_us) {
    vg_http_reply_error(res, 400, "invalid_parameter", "end: must be after start");
    return VG_EINVAL;
  }
  if (max_span_us && *end_us - *start_us > max_span_us) {
    vg_http_reply_error(res, 400, "invalid_parameter", "end: the range may cover at most %lld hours",
                        (long long)(max_span_us / 3600000000LL));
    return VG_EINVAL;
  }
  return 0;
}

/* ---- the index, per request ---- */

typedef struct {
  vg_db_t *db;
  vg_rec_index_t *ix;
} index_conn_t;

static int index_open(vg_http_response_t *res, index_conn_t *c) {
  memset(c, 0, sizeof(*c));
  const char *path = vg_playback_database();
  if (!*path) {
    vg_http_reply_error(res, 503, "unavailable", "recordings are not indexed (no database)");
    return VG_ESTATE;
  }
  int err = vg_db_open(path, &c->db);
  if (!err) err = vg_rec_index_open(c->db, &c->ix);
  if (err) {
    vg_rec_index_close(&c->ix);
    vg_db_close(&c->db);
    vg_http_reply_error(res, 503, "unavailable", "the recording index cannot be opened: %s",
                        vg_strerror(err));
  }
  return err;
}

static void index_close(index_conn_t *c) {
  vg_rec_index_close(&c->ix);
  vg_db_close(&c->db);
}

/* ---- GET /api/v1/cameras/{id}/recordings ---- */

static json_t *range_json(const vg_playback_range_t *r) {
  char start[40], end[40];
  vg_time_format_utc(r->start_us, start, sizeof(start));
  vg_time_format_utc(r->end_us, end, sizeof(end));
  return json_pack("{s:s,s:s,s:I,s:I,s:f}", "start", start, "end", end, "start_ms",
                   (json_int_t)(r->start_us / 1000), "end_ms", (json_int_t)(r->end_us / 1000), "duration_s",
                   (double)(r->end_us - r->start_us) / 1e6);
}

static json_t *ranges_json(const vg_playback_range_t *r, int n) {
  json_t *a = json_array();
  for (int i = 0; a && i < n; i++)
    json_array_append_new(a, range_json(&r[i]));
  return a;
}

static int get_recordings(const vg_http_request_t *req, vg_http_response_t *res) {
  const char *camera = vg_http_param(req, "id");
  if (!camera_allowed(req, res, camera, VG_PERM_RECORDINGS)) return 0;
  int64_t start_us, end_us;
  if (query_range(req, res, DEFAULT_SPAN_US, MAX_QUERY_US, &start_us, &end_us)) return 0;
  int64_t tolerance_us = VG_PLAYBACK_SPAN_TOLERANCE_US;
  char tol[32];
  if (query_param(req, "tolerance_ms", tol, sizeof(tol)) >= 0) {
    char *endp;
    long long ms = strtoll(tol, &endp, 10);
    if (*endp || endp == tol || ms < 0 || ms > 3600000)
      return vg_http_reply_error(res, 400, "invalid_parameter", "tolerance_ms: expected 0..3600000");
    tolerance_us = ms * 1000;
  }
  index_conn_t c;
  if (index_open(res, &c)) return 0;
  vg_playback_spans_t sp;
  int err = vg_playback_spans(c.ix, camera, start_us, end_us, tolerance_us, &sp);
  index_close(&c);
  if (err == VG_ETOOBIG)
    return vg_http_reply_error(res, 400, "invalid_parameter", "end: too many segments in the range");
  if (err) return err;
  int64_t recorded = 0;
  for (int i = 0; i < sp.span_count; i++)
    recorded += sp.spans[i].end_us - sp.spans[i].start_us;
  vg_playback_range_t whole = {start_us, end_us};
  json_t *range = range_json(&whole);
  json_t *body = json_pack("{s:s,s:o,s:f,s:o,s:o}", "camera", camera, "range", range, "recorded_s",
                           (double)recorded / 1e6, "spans", ranges_json(sp.spans, sp.span_count), "gaps",
                           ranges_json(sp.gaps, sp.gap_count));
  vg_playback_spans_clear(&sp);
  if (!body) return VG_ENOMEM;
  return vg_http_reply_json(res, 200, body);
}

/* ---- GET /api/v1/cameras/{id}/vod.m3u8 ---- */

static int get_vod(const vg_http_request_t *req, vg_http_response_t *res) {
  const char *camera = vg_http_param(req, "id");
  if (!camera_allowed(req, res, camera, VG_PERM_RECORDINGS)) return 0;
  int64_t start_us, end_us;
  if (query_range(req, res, 0, MAX_QUERY_US, &start_us, &end_us)) return 0;
  index_conn_t c;
  if (index_open(res, &c)) return 0;
  vg_strbuf_t list;
  vg_strbuf_init(&list, 64u << 20);
  int n = vg_playback_playlist(c.ix, camera, start_us, end_us, "/api/v1/recordings/", "/file.mp4", 1, &list);
  index_close(&c);
  if (n < 0) {
    vg_strbuf_free(&list);
    if (n == VG_ENOTFOUND)
      return vg_http_reply_error(res, 404, "not_found", "no recordings of camera '%s' in the range", camera);
    if (n == VG_ETOOBIG)
      return vg_http_reply_error(res, 400, "invalid_parameter", "end: too many segments in the range");
    return n;
  }
  vg_strbuf_free(&res->body);
  res->body = list;
  res->status = 200;
  res->content_type = "application/vnd.apple.mpegurl";
  return 0;
}

/* ---- byte ranges ---- */

typedef struct {
  uint64_t first, last; /* inclusive */
} byte_range_t;

/* Parses a Range header against a body of size bytes. Returns 1 with *r
 * for one satisfiable range, 0 to send the whole body (no header, a unit
 * other than bytes, several ranges, or a malformed one: RFC 9110 14.2 lets
 * a server ignore those), or -1 when unsatisfiable (416). */
static int parse_range(const char *h, uint64_t size, byte_range_t *r) {
  if (!h) return 0;
  if (strncmp(h, "bytes=", 6) != 0) return 0;
  const char *p = h + 6;
  while (*p == ' ')
    p++;
  if (strchr(p, ',')) return 0;
  char *endp;
  if (*p == '-') {
    /* The last N bytes. */
    if (p[1] < '0' || p[1] > '9') return 0;
    unsigned long long n = strtoull(p + 1, &endp, 10);
    if (*endp && *endp != ' ') return 0;
    if (n == 0 || size == 0) return -1;
    r->first = n >= size ? 0 : size - n;
    r->last = size - 1;
    return 1;
  }
  if (*p < '0' || *p > '9') return 0;
  unsigned long long first = strtoull(p, &endp, 10);
  if (*endp != '-') return 0;
  p = endp + 1;
  unsigned long long last = size ? size - 1 : 0;
  if (*p >= '0' && *p <= '9') {
    last = strtoull(p, &endp, 10);
    if (*endp && *endp != ' ') return 0;
    if (last < first) return 0;
    if (last >= size) last = size - 1;
  } else if (*p && *p != ' ') {
    return 0;
  }
  if (first >= size) return -1;
  r->first = first;
  r->last = last;
  return 1;
}

int vg_playback_api_parse_range(const char *header, uint64_t size, uint64_t *first, uint64_t *last) {
  byte_range_t r = {0, 0};
  int k = parse_range(header, size, &r);
  *first = r.first;
  *last = r.last;
  return k;
}

/* Applies Range/If-Range to a body of size bytes with validator etag.
 * Returns 1 with *r (answer 206), 0 for the whole body (200), or -1
 * after answering 416. */
static int select_range(const vg_http_request_t *req, vg_http_response_t *res, uint64_t size,
                        const char *etag, byte_range_t *r) {
  const char *if_range = vg_http_header(req, VG_HTTP_HDR_IF_RANGE);
  /* A Range with an If-Range that does not match (another version, or a
   * date: we only give entity tags) is answered with the whole body. */
  if (if_range && strcmp(if_range, etag) != 0) return 0;
  int k = parse_range(vg_http_header(req, VG_HTTP_HDR_RANGE), size, r);
  if (k < 0) {
    vg_http_reply_error(res, 416, "range_not_satisfiable", "the range is outside the %llu bytes",
                        (unsigned long long)size);
    vg_http_add_header(res, "Content-Range", "bytes */%llu", (unsigned long long)size);
    return -1;
  }
  return k;
}

static void add_range_headers(vg_http_response_t *res, int partial, const byte_range_t *r, uint64_t size,
                              const char *etag) {
  vg_http_add_header(res, "Accept-Ranges", "bytes");
  vg_http_add_header(res, "ETag", "%s", etag);
  if (partial) {
    res->status = 206;
    vg_http_add_header(res, "Content-Range", "bytes %llu-%llu/%llu", (unsigned long long)r->first,
                       (unsigned long long)r->last, (unsigned long long)size);
  }
}

/* ---- GET /api/v1/recordings/{segment_id}/file ---- */

typedef struct {
  vg_http_stream_t base;
  vg_playback_file_t *file;
  uint64_t pos, end; /* [pos, end) of the file still to send */
} file_stream_t;

static long file_stream_read(vg_http_stream_t *st, uint8_t *dst, size_t cap) {
  file_stream_t *fs = (file_stream_t *)st;
  uint64_t n = fs->end - fs->pos;
  if (n > cap) n = cap;
  if (n == 0) return 0;
  long got = vg_playback_file_read(fs->file, fs->pos, dst, (size_t)n);
  if (got <= 0) return got < 0 ? got : VG_EIO;
  fs->pos += (uint64_t)got;
  return got;
}

static void file_stream_close(vg_http_stream_t *st) {
  file_stream_t *fs = (file_stream_t *)st;
  vg_playback_file_free(&fs->file);
  free(fs);
}

static int get_file(const vg_http_request_t *req, vg_http_response_t *res) {
  const char *id_text = vg_http_param(req, "segment_id");
  char *endp;
  long long id = strtoll(id_text, &endp, 10);
  if (*endp || id <= 0) return vg_http_reply_error(res, 404, "not_found", "no recording '%s'", id_text);
  long long shift_us = 0;
  char shift[32];
  if (query_param(req, "shift_us", shift, sizeof(shift)) >= 0) {
    shift_us = strtoll(shift, &endp, 10);
    /* Up to ten years: playlists cover at most a month. */
    if (*endp || endp == shift || shift_us < 0 || shift_us > 10LL * 366 * 24 * 3600 * 1000000)
      return vg_http_reply_error(res, 400, "invalid_parameter",
                                 "shift_us: expected 0..10 years in microseconds");
  }
  index_conn_t c;
  if (index_open(res, &c)) return 0;
  /* A segment belongs to a camera: the same permission as its recordings. */
  vg_rec_segment_t seg;
  if (vg_rec_index_get_segment(c.ix, id, &seg) != 0) {
    index_close(&c);
    return vg_http_reply_error(res, 404, "not_found", "no recording %lld", id);
  }
  if (!camera_allowed(req, res, seg.camera, VG_PERM_RECORDINGS)) {
    index_close(&c);
    return 0;
  }
  vg_playback_file_t *file = NULL;
  int err = vg_playback_file_open(c.ix, id, shift_us, &file);
  if (err) {
    index_close(&c);
    if (err == VG_ENOENT) return vg_http_reply_error(res, 404, "not_found", "no recording %lld", id);
    return err;
  }
  uint64_t size = vg_playback_file_size(file);
  byte_range_t r = {0, size ? size - 1 : 0};
  int partial = select_range(req, res, size, vg_playback_file_etag(file), &r);
  uint64_t first = partial > 0 ? r.first : 0, end = partial > 0 ? r.last + 1 : size;
  if (partial >= 0) err = vg_playback_file_prepare(file, c.ix, first, end);
  index_close(&c);
  if (err || partial < 0) {
    vg_playback_file_free(&file);
    if (err) vg_log_warn(&lg, "recording %lld: %s", id, vg_strerror(err));
    return err;
  }
  file_stream_t *fs = calloc(1, sizeof(*fs));
  if (!fs) {
    vg_playback_file_free(&file);
    return VG_ENOMEM;
  }
  fs->file = file;
  fs->pos = first;
  fs->end = end;
  fs->base.length = end - first;
  fs->base.read = file_stream_read;
  fs->base.close = file_stream_close;
  res->status = 200;
  res->content_type = "video/mp4";
  add_range_headers(res, partial, &r, size, vg_playback_file_etag(file));
  res->stream = &fs->base;
  return 0;
}

/* ---- GET /api/v1/cameras/{id}/clip.mp4 ---- */

typedef struct {
  vg_http_stream_t base;
  vg_playback_clip_t *clip;
  uint64_t pos, end;
} clip_stream_t;

static long clip_stream_read(vg_http_stream_t *st, uint8_t *dst, size_t cap) {
  clip_stream_t *cs = (clip_stream_t *)st;
  uint64_t n = cs->end - cs->pos;
  if (n > cap) n = cap;
  if (n == 0) return 0;
  long got = vg_playback_clip_read(cs->clip, cs->pos, dst, (size_t)n);
  if (got <= 0) return got < 0 ? got : VG_EIO;
  cs->pos += (uint64_t)got;
  return got;
}

static void clip_stream_close(vg_http_stream_t *st) {
  clip_stream_t *cs = (clip_stream_t *)st;
  vg_playback_clip_free(&cs->clip);
  free(cs);
}

/* A filename for Content-Disposition: the camera id with anything but
 * [A-Za-z0-9._-] replaced, and the clip's UTC start. */
static void clip_filename(const char *camera, int64_t start_us, char *out, size_t size) {
  char safe[VG_HTTP_PARAM_MAX];
  size_t n = 0;
  for (const char *p = camera; *p && n + 1 < sizeof(safe); p++) {
    char ch = *p;
    int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
             ch == '_' || ch == '-';
    safe[n++] = ok ? ch : '_';
  }
  safe[n] = 0;
  time_t t = (time_t)(start_us / 1000000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char when[32];
  strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm);
  snprintf(out, size, "%s-%s.mp4", safe, when);
}

static int get_clip(const vg_http_request_t *req, vg_http_response_t *res) {
  const char *camera = vg_http_param(req, "id");
  if (!camera_allowed(req, res, camera, VG_PERM_EXPORT)) return 0;
  int64_t start_us, end_us;
  if (query_range(req, res, 0, 0, &start_us, &end_us)) return 0;
  index_conn_t c;
  if (index_open(res, &c)) return 0;
  vg_playback_clip_t *clip = NULL;
  int err = vg_playback_clip_open(c.ix, camera, start_us, end_us, &clip);
  index_close(&c);
  if (err == VG_ENOTFOUND)
    return vg_http_reply_error(res, 404, "not_found", "no recordings of camera '%s' in the range", camera);
  if (err == VG_ETOOBIG)
    return vg_http_reply_error(res, 400, "invalid_parameter", "end: the clip would be too long");
  if (err) {
    vg_log_warn(&lg, "clip of %s: %s", camera, vg_strerror(err));
    return err;
  }
  const vg_playback_clip_info_t *info = vg_playback_clip_info(clip);
  byte_range_t r = {0, info->size - 1};
  int partial = select_range(req, res, info->size, info->etag, &r);
  if (partial < 0) {
    vg_playback_clip_free(&clip);
    return 0;
  }
  clip_stream_t *cs = calloc(1, sizeof(*cs));
  if (!cs) {
    vg_playback_clip_free(&clip);
    return VG_ENOMEM;
  }
  cs->clip = clip;
  cs->pos = partial ? r.first : 0;
  cs->end = partial ? r.last + 1 : info->size;
  cs->base.length = cs->end - cs->pos;
  cs->base.read = clip_stream_read;
  cs->base.close = clip_stream_close;
  res->status = 200;
  res->content_type = "video/mp4";
  add_range_headers(res, partial, &r, info->size, info->etag);
  char filename[200], start[40], end[40];
  clip_filename(camera, info->start_us, filename, sizeof(filename));
  vg_http_add_header(res, "Content-Disposition", "attachment; filename=\"%s\"", filename);
  vg_time_format_utc(info->start_us, start, sizeof(start));
  vg_time_format_utc(info->end_us, end, sizeof(end));
  vg_http_add_header(res, "X-Vigil-Clip-Start", "%s", start);
  vg_http_add_header(res, "X-Vigil-Clip-End", "%s", end);
  if (info->cut_us) {
    char cut[40];
    vg_time_format_utc(info->cut_us, cut, sizeof(cut));
    vg_http_add_header(res, "X-Vigil-Clip-Cut", "%s; %s", cut, info->cut_reason);
  }
  res->stream = &cs->base;
  return 0;
}

/* ---- the table ---- */

const vg_http_route_t vg_api_playback_routes[] = {
    {"GET", "/api/v1/cameras/{id}/recordings", get_recordings,
     "recorded spans and gaps of a camera in a range"},
    {"GET", "/api/v1/cameras/{id}/vod.m3u8", get_vod, "HLS VOD playlist (fMP4 byte ranges) of a range"},
    {"GET", "/api/v1/cameras/{id}/clip.mp4", get_clip,
     "progressive MP4 export of a range, with Range support"},
    {"GET", "/api/v1/recordings/{segment_id}/file.mp4", get_file,
     "a recorded segment file, with Range support"},
};
const size_t vg_api_playback_route_count = sizeof(vg_api_playback_routes) / sizeof(vg_api_playback_routes[0]);
