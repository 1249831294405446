/*
 * onvif_api.c: the ONVIF routes of the API: discovery, probing a device
 * before adding it, PTZ of ONVIF cameras and their event subscriptions.
 *
 * These handlers talk to devices with blocking SOAP calls bounded by a
 * timeout (at most a few seconds), on the HTTP server's thread: an API
 * request that probes a slow device delays other API requests by that
 * long. Moving them to a worker pool with asynchronous answers is noted in
 * docs/ONVIF.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/users.h"
#include "base/error.h"
#include "ingest/onvif_client.h"
#include "proto/url.h"

#define PROBE_TIMEOUT_MS 4000

static char discovery_iface[64] = "0.0.0.0";

void vg_onvif_api_set_discovery_interface(const char *iface) {
  snprintf(discovery_iface, sizeof(discovery_iface), "%s", iface && *iface ? iface : "0.0.0.0");
}

static json_t *text(const char *s) {
  json_t *j = json_string(s);
  return j ? j : json_string("(invalid UTF-8)");
}

/* The name a device gives itself in its scopes (".../name/<x>"), or "". */
static void scope_name(const char *scopes, char *out, size_t size) {
  out[0] = '\0';
  const char *p = strstr(scopes, "onvif://www.onvif.org/name/");
  if (!p) return;
  p += strlen("onvif://www.onvif.org/name/");
  size_t n = strcspn(p, " ");
  snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), p);
}

static int get_discover(const vg_http_request_t *req, vg_http_response_t *res) {
  char v[32];
  int timeout_ms = 2000;
  if (vg_http_query(req, "timeout_ms", v, sizeof(v)) > 0) {
    char *end;
    long t = strtol(v, &end, 10);
    if (*end || t < 100 || t > 10000)
      return vg_http_reply_error(res, 400, "invalid", "timeout_ms must be 100..10000");
    timeout_ms = (int)t;
  }
  vg_wsd_match_t *m = calloc(64, sizeof(*m));
  if (!m) return VG_ENOMEM;
  int n = vg_onvif_discover(discovery_iface, timeout_ms, m, 64);
  if (n < 0) {
    free(m);
    return vg_http_reply_error(res, 502, "discovery_failed", "WS-Discovery failed: %s", vg_strerror(n));
  }
  json_t *list = json_array();
  for (int i = 0; i < n; i++) {
    char name[128], first[512];
    scope_name(m[i].scopes, name, sizeof(name));
    size_t k = strcspn(m[i].xaddrs, " ");
    snprintf(first, sizeof(first), "%.*s", (int)k, m[i].xaddrs);
    json_array_append_new(list, json_pack("{s:o,s:o,s:o,s:o,s:o}", "endpoint", text(m[i].endpoint), "url",
                                          text(first), "xaddrs", text(m[i].xaddrs), "name", text(name),
                                          "scopes", text(m[i].scopes)));
  }
  free(m);
  return vg_http_reply_json(res, 200, json_pack("{s:o}", "devices", list));
}

/* Writes uri without credentials. */
static void safe_uri(const char *uri, char *out, size_t size) {
  vg_url_t u;
  if (vg_url_parse(uri, &u) != 0 || vg_url_print(&u, out, size) < 0) snprintf(out, size, "%s", "");
}

static int post_probe(const vg_http_request_t *req, vg_http_response_t *res) {
  json_error_t jerr;
  json_t *body = req->body ? json_loadb(req->body, req->body_len, 0, &jerr) : NULL;
  if (!json_is_object(body)) {
    json_decref(body);
    return vg_http_reply_error(res, 400, "invalid", "the body must be a JSON object with \"url\"");
  }
  const char *url = json_string_value(json_object_get(body, "url"));
  const char *user = json_string_value(json_object_get(body, "username"));
  const char *password = json_string_value(json_object_get(body, "password"));
  if (!url || !*url) {
    json_decref(body);
    return vg_http_reply_error(res, 400, "invalid", "url: required (the device service address)");
  }
  vg_onvif_dev_t *dev = calloc(1, sizeof(*dev));
  vg_onvif_profile_t *p = calloc(VG_ONVIF_MAX_PROFILES, sizeof(*p));
  if (!dev || !p) {
    free(dev);
    free(p);
    json_decref(body);
    return VG_ENOMEM;
  }
  int err = vg_onvif_connect(dev, url, user, password, PROBE_TIMEOUT_MS);
  json_decref(body);
  int n = err ? err : vg_onvif_profiles(dev, p, VG_ONVIF_MAX_PROFILES);
  if (n < 0) {
    int status = n == VG_EAUTH ? 401 : n == VG_EINVAL ? 400 : 502;
    int rc = vg_http_reply_error(res, status,
                                 n == VG_EAUTH    ? "device_auth"
                                 : n == VG_EINVAL ? "invalid"
                                                  : "device_error",
                                 "%s", dev->last_error[0] ? dev->last_error : vg_strerror(n));
    free(dev);
    free(p);
    return rc;
  }
  json_t *profiles = json_array();
  for (int i = 0; i < n; i++) {
    char uri[1024] = "", snap[1024] = "", safe[1024];
    json_t *jp = json_pack("{s:o,s:o,s:o,s:i,s:i,s:f,s:b}", "token", text(p[i].token), "name",
                           text(p[i].name), "encoding", text(p[i].encoding), "width", p[i].width, "height",
                           p[i].height, "fps", p[i].fps, "ptz", p[i].has_ptz);
    if (vg_onvif_stream_uri(dev, p[i].token, uri, sizeof(uri)) == 0) {
      safe_uri(uri, safe, sizeof(safe));
      json_object_set_new(jp, "stream_uri", text(safe));
    }
    if (vg_onvif_snapshot_uri(dev, p[i].token, snap, sizeof(snap)) == 0) {
      safe_uri(snap, safe, sizeof(safe));
      json_object_set_new(jp, "snapshot_uri", text(safe));
    }
    json_array_append_new(profiles, jp);
  }
  json_t *out =
      json_pack("{s:o,s:{s:o,s:o,s:o,s:o,s:o},s:I,s:{s:b,s:b,s:b,s:b},s:o}", "url", text(dev->url), "device",
                "manufacturer", text(dev->info.manufacturer), "model", text(dev->info.model), "firmware",
                text(dev->info.firmware), "serial", text(dev->info.serial), "hardware",
                text(dev->info.hardware), "clock_offset_s", (json_int_t)dev->clock_offset_s, "services",
                "media", dev->services.media[0] != 0, "media2", dev->services.media2[0] != 0, "ptz",
                dev->services.ptz[0] != 0, "events", dev->services.events[0] != 0, "profiles", profiles);
  free(dev);
  free(p);
  return vg_http_reply_json(res, 200, out);
}

static int ptz_error(vg_http_response_t *res, const char *camera, int err, const char *error) {
  if (err == VG_ENOTFOUND && !*error)
    return vg_http_reply_error(res, 404, "not_found", "no camera '%s'", camera);
  if (err == VG_EUNSUPPORTED) return vg_http_reply_error(res, 409, "not_ptz", "%s", error);
  return vg_http_reply_error(res, 502, "device_error", "%s", *error ? error : vg_strerror(err));
}

static double number_in(json_t *obj, const char *key, double def, double lo, double hi, int *bad) {
  json_t *v = json_object_get(obj, key);
  if (!v) return def;
  if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi) {
    *bad = 1;
    return def;
  }
  return json_number_value(v);
}

/* A camera the user may not see is not there (404); one they see but may
 * not steer is forbidden (403). Returns 0 when allowed, else the reply's
 * result. */
static int camera_gate(const vg_http_request_t *req, vg_http_response_t *res, vg_perm_t perm, int *denied) {
  const char *camera = vg_http_param(req, "id");
  *denied = 1;
  if (!vg_api_camera_allowed(req, camera, VG_PERM_LIVE))
    return vg_http_reply_error(res, 404, "not_found", "no camera '%s'", camera);
  if (perm != VG_PERM_LIVE && !vg_api_camera_allowed(req, camera, perm))
    return vg_http_reply_error(res, 403, "forbidden", "no %s permission on camera '%s'", vg_perm_name(perm),
                               camera);
  *denied = 0;
  return 0;
}

static int post_ptz(const vg_http_request_t *req, vg_http_response_t *res) {
  int denied, rc = camera_gate(req, res, VG_PERM_PTZ, &denied);
  if (denied) return rc;
  static const struct {
    const char *name;
    vg_ptz_op_t op;
  } actions[] = {{"continuous", VG_PTZ_CONTINUOUS},   {"relative", VG_PTZ_RELATIVE},
                 {"absolute", VG_PTZ_ABSOLUTE},       {"stop", VG_PTZ_STOP},
                 {"goto_preset", VG_PTZ_GOTO_PRESET}, {"set_preset", VG_PTZ_SET_PRESET}};
  const char *camera = vg_http_param(req, "id");
  json_error_t jerr;
  json_t *body = req->body ? json_loadb(req->body, req->body_len, 0, &jerr) : NULL;
  const char *action = json_string_value(json_object_get(body, "action"));
  vg_ptz_cmd_t cmd = {0};
  int found = 0;
  for (size_t i = 0; action && i < sizeof(actions) / sizeof(actions[0]); i++)
    if (strcmp(action, actions[i].name) == 0) {
      cmd.op = actions[i].op;
      found = 1;
    }
  if (!json_is_object(body) || !found) {
    json_decref(body);
    return vg_http_reply_error(
        res, 400, "invalid", "action: one of continuous, relative, absolute, stop, goto_preset, set_preset");
  }
  int bad = 0;
  double lo = cmd.op == VG_PTZ_ABSOLUTE ? -1 : cmd.op == VG_PTZ_RELATIVE ? -2 : -1;
  double hi = cmd.op == VG_PTZ_RELATIVE ? 2 : 1;
  cmd.pan = number_in(body, "pan", 0, lo, hi, &bad);
  cmd.tilt = number_in(body, "tilt", 0, lo, hi, &bad);
  cmd.zoom = number_in(body, "zoom", 0, cmd.op == VG_PTZ_ABSOLUTE ? 0 : lo, hi, &bad);
  cmd.timeout_ms = (int)number_in(body, "timeout_ms", 0, 0, 600000, &bad);
  const char *preset = json_string_value(json_object_get(body, "preset"));
  if (preset) snprintf(cmd.preset, sizeof(cmd.preset), "%s", preset);
  if ((cmd.op == VG_PTZ_GOTO_PRESET || cmd.op == VG_PTZ_SET_PRESET) && (!preset || !*preset)) bad = 2;
  json_decref(body);
  if (bad == 2) return vg_http_reply_error(res, 400, "invalid", "preset: required for %s", action);
  if (bad)
    return vg_http_reply_error(res, 400, "invalid",
                               "pan, tilt and zoom must be numbers in range (-1..1; zoom 0..1 for absolute; "
                               "-2..2 for relative), timeout_ms 0..600000");
  char error[256];
  int err = vg_onvif_camera_ptz(camera, &cmd, NULL, 0, NULL, error, sizeof(error));
  if (err < 0) return ptz_error(res, camera, err, error);
  json_t *out = json_pack("{s:b}", "ok", 1);
  if (cmd.op == VG_PTZ_SET_PRESET) json_object_set_new(out, "preset", text(cmd.preset));
  return vg_http_reply_json(res, 200, out);
}

static int get_ptz(const vg_http_request_t *req, vg_http_response_t *res) {
  int denied, rc = camera_gate(req, res, VG_PERM_LIVE, &denied);
  if (denied) return rc;
  const char *camera = vg_http_param(req, "id");
  char error[256];
  double st[3] = {0};
  vg_ptz_cmd_t cmd = {.op = VG_PTZ_GET_STATUS};
  int err = vg_onvif_camera_ptz(camera, &cmd, NULL, 0, st, error, sizeof(error));
  if (err < 0) return ptz_error(res, camera, err, error);
  vg_onvif_preset_t presets[32];
  cmd.op = VG_PTZ_GET_PRESETS;
  int n = vg_onvif_camera_ptz(camera, &cmd, presets, 32, NULL, error, sizeof(error));
  if (n < 0) return ptz_error(res, camera, n, error);
  json_t *list = json_array();
  for (int i = 0; i < n; i++)
    json_array_append_new(
        list, json_pack("{s:o,s:o}", "token", text(presets[i].token), "name", text(presets[i].name)));
  return vg_http_reply_json(res, 200,
                            json_pack("{s:{s:f,s:f,s:f},s:o}", "position", "pan", st[0], "tilt", st[1],
                                      "zoom", st[2], "presets", list));
}

static int get_onvif_events(const vg_http_request_t *req, vg_http_response_t *res) {
  int denied, rc = camera_gate(req, res, VG_PERM_LIVE, &denied);
  if (denied) return rc;
  const char *camera = vg_http_param(req, "id");
  vg_onvif_event_stats_t st;
  if (vg_onvif_event_stats(camera, &st) != 0)
    return vg_http_reply_error(res, 404, "not_found", "camera '%s' has no ONVIF event subscription", camera);
  char when[32] = "";
  if (st.last.utc_s) vg_onvif_format_time(st.last.utc_s, when, sizeof(when));
  return vg_http_reply_json(res, 200,
                            json_pack("{s:b,s:I,s:I,s:{s:o,s:o,s:o,s:o,s:o}}", "subscribed", st.subscribed,
                                      "events", (json_int_t)st.events, "errors", (json_int_t)st.errors,
                                      "last", "topic", text(st.last.topic), "time", text(when), "source",
                                      text(st.last.source), "name", text(st.last.data_name), "value",
                                      text(st.last.data_value)));
}

const vg_http_route_t vg_api_onvif_routes[] = {
    {"GET", "/api/v1/onvif/discover", get_discover, "ONVIF devices answering a WS-Discovery probe",
     VG_ACCESS_ADMIN, VG_ROUTE_SLOW},
    {"POST", "/api/v1/onvif/probe", post_probe, "an ONVIF device's information, profiles and stream URIs",
     VG_ACCESS_ADMIN, VG_ROUTE_SLOW},
    {"GET", "/api/v1/cameras/{id}/ptz", get_ptz, "PTZ position and presets of an ONVIF camera",
     VG_ACCESS_USER, VG_ROUTE_SLOW},
    {"POST", "/api/v1/cameras/{id}/ptz", post_ptz, "move an ONVIF camera's PTZ head or use its presets",
     VG_ACCESS_USER, VG_ROUTE_SLOW},
    {"GET", "/api/v1/cameras/{id}/onvif/events", get_onvif_events, "an ONVIF camera's event subscription"},
};
const size_t vg_api_onvif_route_count = sizeof(vg_api_onvif_routes) / sizeof(vg_api_onvif_routes[0]);
