#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/metrics.h"
#include "base/error.h"
#include "base/log.h"
#include "base/time.h"
#include "ingest/camera.h"

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

/* ---- cameras ---- */

/* A string for JSON: jansson accepts only valid UTF-8, and camera names and
 * error texts come from configuration and from peers. Invalid text is
 * replaced rather than failing the whole answer. */
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

static json_t *camera_json(const vg_camera_info_t *info) {
  char since[40];
  vg_time_format_utc(info->state_since_us, since, sizeof(since));
  json_t *tracks = json_array();
  for (int i = 0; tracks && i < info->track_count; i++)
    json_array_append_new(tracks, track_json(&info->tracks[i]));
  return json_pack("{s:o,s:o,s:s,s:o,s:s,s:o,s:o,s:s,s:o,s:{s:I,s:I,s:I,s:I,s:I,s:I}}", "id",
                   json_text(info->id), "name", json_text(info->name), "type",
                   vg_source_kind_name(info->kind), "url", json_text(info->url), "state",
                   vg_camera_state_name(info->state), "reason", json_text_or_null(info->reason), "last_error",
                   json_text_or_null(info->last_error), "state_since", since, "tracks", tracks, "counters",
                   "frames", (json_int_t)info->frames, "bytes", (json_int_t)info->bytes, "rtp_packets",
                   (json_int_t)info->rtp_packets, "rtp_lost", (json_int_t)info->rtp_lost, "reconnects",
                   (json_int_t)info->reconnects, "errors", (json_int_t)info->errors);
}

typedef struct {
  json_t *list;
  int failed;
} camera_list_t;

static void append_camera(const vg_camera_info_t *info, void *opaque) {
  camera_list_t *cl = opaque;
  json_t *cam = camera_json(info);
  if (!cam || json_array_append_new(cl->list, cam) != 0) cl->failed = 1;
}

static int get_cameras(const vg_http_request_t *req, vg_http_response_t *res) {
  camera_list_t cl = {json_array(), 0};
  if (!cl.list) return VG_ENOMEM;
  vg_cameras_foreach(append_camera, &cl);
  if (cl.failed) {
    json_decref(cl.list);
    return VG_ENOMEM;
  }
  return vg_http_reply_json(res, 200, json_pack("{s:o}", "cameras", cl.list));
}

static int get_camera(const vg_http_request_t *req, vg_http_response_t *res) {
  const char *id = vg_http_param(req, "id");
  vg_camera_info_t *info = malloc(sizeof(*info));
  if (!info) return VG_ENOMEM;
  int err = vg_camera_get_info(id, info);
  if (err == VG_ENOTFOUND) {
    free(info);
    return vg_http_reply_error(res, 404, "not_found", "no camera '%s'", id);
  }
  if (err) {
    free(info);
    return err;
  }
  json_t *cam = camera_json(info);
  vg_camera_info_clear(info);
  free(info);
  return vg_http_reply_json(res, 200, cam);
}

/* ---- GET /metrics ---- */

static int get_metrics(const vg_http_request_t *req, vg_http_response_t *res) {
  res->status = 200;
  res->content_type = "text/plain; version=0.0.4; charset=utf-8";
  return vg_metrics_render(&res->body);
}

/* ---- the table ---- */

const vg_http_route_t vg_api_routes[] = {
    {"GET", "/api/v1/health", get_health, "liveness, version, uptime and camera counts"},
    {"GET", "/api/v1/cameras", get_cameras, "every camera with its state, tracks and counters"},
    {"GET", "/api/v1/cameras/{id}", get_camera, "one camera"},
    {"GET", "/metrics", get_metrics, "Prometheus metrics"},
};
const size_t vg_api_route_count = sizeof(vg_api_routes) / sizeof(vg_api_routes[0]);

int vg_api_owns_path(const char *path) {
  return strcmp(path, "/api") == 0 || strncmp(path, "/api/", 5) == 0 || strcmp(path, "/metrics") == 0;
}

/* Route tables by area: a module's routes live in a file of their own
 * (api/<area>.c) and are listed here once. */
extern const vg_http_route_t vg_api_playback_routes[]; /* api/playback.c */
extern const size_t vg_api_playback_route_count;
static const struct {
  const vg_http_route_t *routes;
  const size_t *count;
} route_groups[] = {
    {vg_api_routes, &vg_api_route_count},
    {vg_api_playback_routes, &vg_api_playback_route_count},
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
  err = route->fn(req, res);
  if (err == 0 && res->body.error) err = res->body.error;
  if (err) {
    vg_log_warn(&lg, "%s %s failed: %s", method, route->pattern, vg_strerror(err));
    vg_strbuf_free(&res->body);
    vg_http_reply_error(res, 500, "internal", "%s", vg_strerror(err));
  }
}
