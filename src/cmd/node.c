#include "cmd/node.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <ctype.h>
#include <string.h>

#include "api/api.h"
#include "api/cameras_api.h"
#include "api/config_store.h"
#include "api/http_server.h"
#include "base/error.h"
#include "base/secret.h"
#include "base/log.h"
#include "base/time.h"
#include "base/metrics.h"
#include "event/service.h"
#include "api/api.h"
#include "ingest/http_source.h"
#include "live/ws_live.h"
#include "ingest/onvif_client.h"
#include "ingest/rtmp_source.h"
#include "ingest/rtsp_source.h"
#include "ingest/srt_ingest.h"
#include "net/worker.h"
#include "notify/notify.h"
#include "record/index.h"
#include "record/playback.h"
#include "record/recovery.h"
#include "record/retention.h"
#include "record/roots.h"
#include "record/trigger.h"

struct vg_node {
  int started_workers;
  vg_config_store_t *config_store; /* the cameras created through the API */
  int recording;
  vg_users_t *http_users, *rtsp_users; /* one database connection each */
  int started_srt;
  vg_rtsp_server_t *rtsp;
  vg_rtmp_server_t *rtmp;
  vg_http_server_t *http;
  vg_bus_t *bus;
  vg_bus_sub_t *meta_sub; /* analytics metadata to live viewers */
};

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace", NULL};

/* Parses the top-level object key with fn(c, obj, out), obj NULL when the
 * key is absent, errors named under key. */
#define PARSE_SECTION(c, root, key, fn, out)                                                                 \
  do {                                                                                                       \
    json_t *obj_ = vg_cfg_object(c, root, key, 0);                                                           \
    vg_cfg_enter(c, key);                                                                                    \
    fn(c, obj_, out);                                                                                        \
    vg_cfg_leave(c);                                                                                         \
  } while (0)

/* "onvif": {"discovery_interface": IPv4 address}; iface holds 64 bytes. */
static int parse_onvif(vg_cfg_t *c, json_t *obj, char *iface) {
  struct in_addr addr;
  if (obj) vg_cfg_check_keys(c, obj, (const char *const[]){"discovery_interface", NULL});
  vg_cfg_str(c, obj, "discovery_interface", "0.0.0.0", iface, 64);
  if (!c->failed && inet_pton(AF_INET, iface, &addr) != 1)
    vg_cfg_fail(c, "discovery_interface", "must be an IPv4 address (the interface to probe from)");
  return c->failed ? VG_ECONFIG : 0;
}

int vg_node_config_load(vg_cfg_t *c, const char *file, vg_node_config_t *out) {
  static const char *const keys[] = {"log_level",  "workers",   "cameras", "rtsp_server", "rtmp_server",
                                     "srt_server", "http",      "record",  "database",    "onvif",
                                     "auth",       "analytics", "events",  "mqtt",        "webhooks",
                                     "notify",     NULL};
  json_t *root;
  long long v;
  memset(out, 0, sizeof(*out));
  if (vg_cfg_load_file(c, file, &root)) return VG_ECONFIG;
  if (!json_is_object(root)) {
    json_decref(root);
    return vg_cfg_fail(c, NULL, "the configuration must be a JSON object");
  }
  /* A copy as the file says, before parsers take members out of it. */
  out->doc = json_deep_copy(root);
  vg_cfg_check_keys(c, root, keys);
  vg_cfg_enum(c, root, "log_level", level_names, VG_LOG_INFO, &out->log_level);
  vg_cfg_int(c, root, "workers", 0, 0, 256, &v);
  out->workers = (int)v;

  PARSE_SECTION(c, root, "rtsp_server", vg_rtsp_server_config_parse, &out->rtsp_server);
  PARSE_SECTION(c, root, "rtmp_server", vg_rtmp_server_config_parse, &out->rtmp_server);
  PARSE_SECTION(c, root, "srt_server", vg_srt_server_config_parse, &out->srt_server);
  PARSE_SECTION(c, root, "http", vg_http_config_parse, &out->http);
  PARSE_SECTION(c, root, "record", vg_rec_node_config_parse, &out->record);
  PARSE_SECTION(c, root, "database", vg_db_config_parse, &out->database);
  PARSE_SECTION(c, root, "onvif", parse_onvif, out->onvif_discovery_interface);
  PARSE_SECTION(c, root, "auth", vg_auth_config_parse, &out->auth);
  /* The recorder's writer indexes into the node's database. */
  snprintf(out->record.db_path, sizeof(out->record.db_path), "%s", out->database.path);
  vg_notify_config_parse(c, root, &out->notify);
  /* Sealed notification secrets open under the node key. */
  snprintf(out->notify.secret_key_file, sizeof(out->notify.secret_key_file), "%s", out->auth.secret_key_file);
  /* cameras[].record settings are remembered per camera by the record
   * module while the cameras are parsed. */
  vg_record_camera_configs_clear();

  json_t *cams = vg_cfg_array(c, root, "cameras", 0);
  /* Takes each camera's "analytics" object out before the cameras are read. */
  json_t *analytics = vg_cfg_object(c, root, "analytics", 0);
  int aerr = vg_analytics_node_config_parse(c, analytics, cams, &out->analytics);
  /* Likewise each camera's "events" object (the event rules). */
  if (!aerr) aerr = vg_event_config_parse(c, vg_cfg_object(c, root, "events", 0), cams, &out->events);
  if (aerr) {
    json_decref(root);
    return aerr;
  }
  size_t n = cams ? json_array_size(cams) : 0;
  out->cameras = calloc(n ? n : 1, sizeof(*out->cameras));
  if (!out->cameras) {
    json_decref(root);
    return VG_ENOMEM;
  }
  vg_cfg_enter(c, "cameras");
  for (size_t i = 0; i < n && !c->failed; i++) {
    vg_cfg_enter_index(c, i);
    if (vg_camera_config_parse(c, json_array_get(cams, i), &out->cameras[i]) == 0) {
      for (size_t j = 0; j < i; j++)
        if (strcmp(out->cameras[j].id, out->cameras[i].id) == 0)
          vg_cfg_fail(c, "id", "duplicate camera id \"%s\" (also cameras[%zu])", out->cameras[i].id, j);
    }
    vg_cfg_leave(c);
  }
  vg_cfg_leave(c);
  out->camera_count = (int)n;
  json_decref(root);
  if (c->failed) {
    vg_node_config_free(out);
    return VG_ECONFIG;
  }
  return 0;
}

void vg_node_config_free(vg_node_config_t *cfg) {
  vg_analytics_node_config_free(&cfg->analytics);
  json_decref(cfg->doc);
  cfg->doc = NULL;
  vg_event_config_free(&cfg->events);
  free(cfg->cameras);
  cfg->cameras = NULL;
  cfg->camera_count = 0;
}

/* The RTSP server's figures on /metrics. */
static void collect_rtsp_metrics(void *opaque, vg_strbuf_t *out) {
  vg_rtsp_server_t *srv = opaque;
  vg_rtsp_server_stats_t st;
  vg_rtsp_server_get_stats(srv, &st);
  vg_metrics_single_u64(out, "vigil_rtsp_sessions", "gauge",
                        "Open RTSP server connections (readers and publishers).", st.sessions);
  vg_metrics_single_u64(out, "vigil_rtsp_sessions_total", "counter", "RTSP server connections accepted.",
                        st.sessions_total);
  vg_metrics_single_u64(out, "vigil_rtsp_publishers", "gauge", "Publishers pushing a stream in.",
                        st.publishers);
  vg_metrics_single_u64(out, "vigil_rtsp_sent_bytes_total", "counter", "Bytes the RTSP server sent.",
                        st.bytes_out);
  vg_metrics_single_u64(out, "vigil_rtsp_auth_failures_total", "counter", "Rejected RTSP credentials.",
                        st.auth_failures);
  double p50, p99;
  if (vg_rtsp_server_latency(srv, &p50, &p99) == 0) {
    vg_metrics_family(out, "vigil_rtsp_egress_latency_seconds", "summary",
                      "Time from a frame's arrival to its egress write.");
    vg_metrics_sample(out, "vigil_rtsp_egress_latency_seconds",
                      (const char *const[]){"quantile", "0.5", NULL}, p50 / 1e6);
    vg_metrics_sample(out, "vigil_rtsp_egress_latency_seconds",
                      (const char *const[]){"quantile", "0.99", NULL}, p99 / 1e6);
  }
}

/* The RTMP server's figures on /metrics. */
static void collect_rtmp_metrics(void *opaque, vg_strbuf_t *out) {
  vg_rtmp_server_stats_t st;
  vg_rtmp_server_get_stats(opaque, &st);
  vg_metrics_single_u64(out, "vigil_rtmp_connections", "gauge", "Open RTMP server connections.",
                        st.connections);
  vg_metrics_single_u64(out, "vigil_rtmp_connections_total", "counter", "RTMP server connections accepted.",
                        st.connections_total);
  vg_metrics_single_u64(out, "vigil_rtmp_publishers", "gauge", "RTMP publishers pushing a stream in.",
                        st.publishers);
  vg_metrics_single_u64(out, "vigil_rtmp_received_bytes_total", "counter", "Bytes the RTMP server received.",
                        st.bytes_in);
  vg_metrics_single_u64(out, "vigil_rtmp_errors_total", "counter",
                        "RTMP connections closed for malformed input.", st.errors);
  vg_metrics_single_u64(out, "vigil_rtmp_auth_failures_total", "counter",
                        "Refused RTMP publisher credentials.", st.auth_failures);
}

/* SRT connections and MPEG-TS errors on /metrics. */
static void collect_srt_metrics(void *opaque, vg_strbuf_t *out) {
  vg_srt_stats_t st;
  vg_srt_get_stats(&st);
  vg_metrics_single_u64(out, "vigil_srt_connections", "gauge",
                        "Open SRT connections (publishers and callers).", st.connections);
  vg_metrics_single_u64(out, "vigil_srt_connections_total", "counter", "SRT connections established.",
                        st.connections_total);
  vg_metrics_single_u64(out, "vigil_srt_rejected_total", "counter",
                        "SRT publishers refused (bad or busy stream id, not MPEG-TS).", st.rejected_total);
  vg_metrics_single_u64(out, "vigil_srt_received_bytes_total", "counter", "MPEG-TS bytes received over SRT.",
                        st.bytes_total);
  vg_metrics_single_u64(out, "vigil_mpegts_errors_total", "counter",
                        "MPEG-TS errors: lost sync, continuity gaps, bad CRCs, malformed PES.",
                        st.ts_errors_total);
}

/* Reconciles the index with the files of every root before anything
 * records (recovery.h), on a connection of its own. */
static void recover_recordings(const vg_node_config_t *cfg, vg_log_ctx_t *lg) {
  vg_db_t *db = NULL;
  vg_rec_index_t *ix = NULL;
  /* Each connection to ":memory:" is a database of its own: nothing to
   * reconcile with. */
  if (strcmp(cfg->database.path, ":memory:") == 0) return;
  if (vg_db_open(cfg->database.path, &db) != 0 || vg_rec_index_open(db, &ix) != 0) {
    vg_log_error(lg, "recovery skipped: the database %s cannot be used", cfg->database.path);
    vg_db_close(&db);
    return;
  }
  vg_rec_recovery_stats_t st = {0};
  for (int i = 0; i < cfg->record.root_count; i++) {
    int err = vg_rec_recover_root(ix, cfg->record.roots[i].path, &st);
    if (err) vg_log_error(lg, "recovery of %s stopped: %s", cfg->record.roots[i].path, vg_strerror(err));
  }
  vg_rec_index_close(&ix);
  vg_db_close(&db);
}

/* Per-camera consumers follow the cameras, including those the API adds
 * and removes and the push cameras publishers create while running:
 * recording of every camera, analytics of those with an "analytics"
 * object (the file's or the API's). Push cameras are added on the
 * publisher's worker, the others on the main or the HTTP thread. */
static void camera_added(vg_camera_t *cam, void *opaque) {
  vg_node_t *node = opaque;
  if (node->recording) {
    int err = vg_recorder_add(cam->cfg.id, cam->hub, cam->worker);
    if (err) vg_log_error(&cam->log, "not recorded: %s", vg_strerror(err));
  }
  /* A camera the API creates or replaces gets its new object right after
   * (vg_cameras_api_on_analytics); this covers one that comes back. */
  json_t *analytics = vg_cameras_api_analytics(cam->cfg.id);
  if (analytics) vg_analytics_camera_set(cam->cfg.id, analytics);
  json_decref(analytics);
}

static void camera_removed(vg_camera_t *cam, void *opaque) {
  vg_node_t *node = opaque;
  if (node->recording) vg_recorder_remove(cam->cfg.id);
  vg_analytics_camera_remove(cam->cfg.id);
}

/* PUT .../analytics, create, replace, import, delete: the pipeline follows
 * at once (on the HTTP server's thread). */
static void analytics_changed(const char *camera, json_t *analytics, void *opaque) {
  (void)opaque;
  vg_analytics_camera_set(camera, analytics);
}

static void collect_camera_id(const vg_camera_info_t *info, void *opaque) {
  json_array_append_new(opaque, json_string(info->id));
}

/* Analytics for the cameras the file does not configure (those created
 * through the API and kept in the database, whose add preceded their
 * configuration), and from now on for every change. */
static void follow_analytics(void) {
  vg_cameras_api_on_analytics(analytics_changed, NULL);
  json_t *ids = json_array();
  if (!ids) return;
  vg_cameras_foreach(collect_camera_id, ids);
  size_t i;
  json_t *id;
  json_array_foreach(ids, i, id) {
    json_t *analytics = vg_cameras_api_analytics(json_string_value(id));
    if (analytics) vg_analytics_camera_set(json_string_value(id), analytics);
    json_decref(analytics);
  }
  json_decref(ids);
}

static void start_recording(vg_node_t *node, const vg_node_config_t *cfg, vg_log_ctx_t *lg) {
  recover_recordings(cfg, lg);
  vg_retention_start_node(&cfg->record, cfg->database.path);
  int err = vg_recorders_start(&cfg->record);
  if (err) {
    vg_log_error(lg, "recording not started: %s", vg_strerror(err));
    return;
  }
  node->recording = 1;
  vg_system_api_set_storage(cfg->record.root);
}

/* The configuration file's cameras, then those created through the API
 * (kept in the database). */
static void start_cameras(vg_node_t *node, const vg_node_config_t *cfg, vg_log_ctx_t *lg) {
  json_t *file_cams = json_object_get(cfg->doc, "cameras");
  int err = vg_config_store_open(cfg->database.path, cfg->auth.secret_key_file, &node->config_store);
  if (err)
    vg_log_error(lg, "cameras created through the API not loaded (their database): %s", vg_strerror(err));
  vg_cameras_api_init(node->config_store, cfg->doc);
  for (int i = 0; i < cfg->camera_count; i++) {
    err = vg_camera_add(&cfg->cameras[i], NULL);
    if (err) vg_log_error(lg, "camera %s not started: %s", cfg->cameras[i].id, vg_strerror(err));
    vg_cameras_api_add_file_camera(&cfg->cameras[i], json_array_get(file_cams, (size_t)i));
  }
  int n = vg_cameras_api_load_store();
  if (n < 0)
    vg_log_error(lg, "cameras created through the API not loaded: %s", vg_strerror(n));
  else if (n > 0)
    vg_log_info(lg, "%d cameras created through the API started", n);
}

/* The RTSP server's users are the API's: Basic credentials against the
 * users database, "live" on the path to read, operator or admin to publish. */
static int rtsp_user_check(void *opaque, const char *name, const char *password, const char *path,
                           const char *peer, int publish) {
  vg_user_t user;
  int err = vg_users_check_password(opaque, name, password, peer, &user, NULL);
  if (err) return VG_EAUTH;
  int ok = publish ? user.role >= VG_ROLE_OPERATOR : vg_user_allowed(&user, path, VG_PERM_LIVE);
  vg_user_clear(&user);
  return ok ? 0 : VG_ENOTFOUND;
}

/* Users, sessions and the audit log; the node key for sealed camera
 * credentials. With auth disabled every API request counts as an admin's. */
static int start_auth(vg_node_t *node, const vg_node_config_t *cfg, vg_rtsp_server_config_t *rtsp,
                      vg_log_ctx_t *lg) {
  if (!cfg->auth.enabled) {
    vg_log_warn(lg, "auth is disabled: every HTTP request is treated as an admin's and the RTSP server "
                    "knows only rtsp_server.read_users; use this only on a trusted network");
    vg_api_set_auth(NULL, &cfg->auth, false, cfg->http.metrics_public);
    return 0;
  }
  int err = vg_users_open(cfg->database.path, &cfg->auth, &node->http_users);
  if (!err) err = vg_users_open(cfg->database.path, &cfg->auth, &node->rtsp_users);
  if (!err) {
    int created = vg_users_bootstrap(node->http_users);
    err = created < 0 ? created : 0;
  }
  uint8_t key[VG_SECRET_KEY_LEN];
  if (!err) err = vg_secret_key_load(cfg->auth.secret_key_file, key);
  sodium_memzero(key, sizeof(key)); /* loaded here so that a bad key file stops the start */
  if (err) {
    vg_log_error(lg, "access control not started: %s", vg_strerror(err));
    return err;
  }
  rtsp->user_check = rtsp_user_check;
  rtsp->user_check_opaque = node->rtsp_users;
  vg_api_set_auth(node->http_users, &cfg->auth, cfg->http.tls_cert[0] != 0, cfg->http.metrics_public);
  return 0;
}

/* A camera's own events (ONVIF PullPoint notifications) become triggers like
 * the analytics pipeline's, so that the event engine's rules, grouping and
 * evidence apply to them: sensor "onvif", kind "onvif", the topic's last
 * part as the label ("motion" for .../CellMotionDetector/Motion), cleared
 * when the notification's data is false. Runs on the camera's event thread. */
static void onvif_to_trigger(void *opaque, const char *camera, const vg_onvif_event_t *ev) {
  vg_bus_t *bus = opaque;
  vg_analytics_trigger_t *t = calloc(1, sizeof(*t));
  if (!t) return;
  snprintf(t->camera, sizeof(t->camera), "%s", camera);
  snprintf(t->sensor, sizeof(t->sensor), "onvif");
  snprintf(t->kind, sizeof(t->kind), "onvif");
  const char *tail = strrchr(ev->topic, '/');
  tail = tail ? tail + 1 : ev->topic;
  size_t i = 0;
  for (; tail[i] && i + 1 < sizeof(t->class_name); i++)
    t->class_name[i] = (char)tolower((unsigned char)tail[i]);
  t->class_name[i] = '\0';
  t->label = -1;
  t->cleared = !strcasecmp(ev->data_value, "false") || !strcmp(ev->data_value, "0");
  /* The device's clock may be off: the arrival time is the trustworthy one. */
  t->utc_us = t->frame_utc_us = vg_time_utc_us();
  vg_bus_publish(bus, VG_ANALYTICS_TOPIC_TRIGGER, t, free);
}

/* Analytics metadata (one message per analysed frame) to the camera's live
 * viewers, as {"utc_ms", "motion", "objects": [{"id", "class", "score",
 * "box": [x1, y1, x2, y2] (0..1), "stationary"}]}. Runs on the bus's
 * dispatcher thread; cheap when nobody watches the camera. */
static void forward_meta(void *opaque, const vg_bus_msg_t *msg) {
  (void)opaque;
  const vg_analytics_meta_t *m = msg->data;
  json_t *objects = json_array();
  for (int i = 0; objects && i < m->n_objects; i++) {
    const vg_analytics_object_t *o = &m->objects[i];
    if (!o->confirmed) continue;
    json_array_append_new(objects, json_pack("{s:I,s:s,s:f,s:[f,f,f,f],s:b}", "id", (json_int_t)o->track_id,
                                             "class", o->class_name, "score", (double)o->score, "box",
                                             (double)o->x1, (double)o->y1, (double)o->x2, (double)o->y2,
                                             "stationary", o->stationary));
  }
  json_t *meta = json_pack("{s:I,s:b,s:o}", "utc_ms", (json_int_t)(m->utc_us / 1000), "motion", m->motion,
                           "objects", objects);
  if (meta) vg_live_meta_publish(m->camera, meta);
  json_decref(meta);
}

/* Notifications (MQTT, webhooks, the event stream) from the event bus. */
static int start_notify(const vg_node_config_t *cfg, vg_bus_t *bus) {
  const char **ids = calloc((size_t)cfg->camera_count + 1, sizeof(*ids));
  if (!ids) return VG_ENOMEM;
  for (int i = 0; i < cfg->camera_count; i++)
    ids[i] = cfg->cameras[i].id;
  int err = vg_notify_start(&cfg->notify, cfg->database.path, bus, ids, cfg->camera_count);
  free(ids);
  return err;
}

int vg_node_start(const vg_node_config_t *cfg, vg_node_t **out) {
  vg_log_ctx_t lg = VG_LOG_CTX("vigil", NULL);
  vg_node_t *node = calloc(1, sizeof(*node));
  if (!node) return VG_ENOMEM;
  vg_log_set_level((vg_log_level_t)cfg->log_level);
  int err = vg_workers_start(cfg->workers);
  if (err) {
    free(node);
    return err;
  }
  node->started_workers = 1;
  if ((err = vg_bus_new(&node->bus))) {
    vg_node_stop(&node);
    return err;
  }
  vg_source_register(VG_SOURCE_RTSP, &vg_rtsp_source_ops);
  vg_source_register(VG_SOURCE_SNAPSHOT, &vg_snapshot_source_ops);
  vg_source_register(VG_SOURCE_MJPEG, &vg_mjpeg_source_ops);
  vg_source_register(VG_SOURCE_RTMP, &vg_rtmp_source_ops);
  vg_source_register(VG_SOURCE_ONVIF, &vg_onvif_source_ops);
  vg_onvif_api_set_discovery_interface(cfg->onvif_discovery_interface);
  vg_source_register(VG_SOURCE_SRT, &vg_srt_source_ops);
  /* Before the cameras: srt cameras hand their connections to its thread. */
  err = vg_srt_start(&cfg->srt_server);
  if (err) {
    vg_log_error(&lg, "SRT not started: %s", vg_strerror(err));
    vg_node_stop(&node);
    return err;
  }
  node->started_srt = 1;
  vg_metrics_register("srt", collect_srt_metrics, NULL);
  if (cfg->record.enabled) start_recording(node, cfg, &lg);
  vg_camera_hooks_add(&(vg_camera_hooks_t){camera_added, camera_removed, node});
  start_cameras(node, cfg, &lg);
  vg_onvif_set_event_sink(onvif_to_trigger, node->bus);
  if ((err = vg_onvif_events_start(cfg->cameras, cfg->camera_count)) != 0)
    vg_log_error(&lg, "ONVIF events not started: %s", vg_strerror(err));
  if (vg_bus_subscribe(node->bus, VG_ANALYTICS_TOPIC_META, NULL, forward_meta, NULL, &node->meta_sub) != 0)
    vg_log_warn(&lg, "analytics metadata will not reach live viewers");
  if ((err = vg_analytics_start(&cfg->analytics, node->bus)) ||
      (err = vg_event_service_start(&cfg->events, cfg->database.path, node->bus))) {
    vg_node_stop(&node);
    return err;
  }
  follow_analytics();
  vg_rtsp_server_config_t rtsp_cfg = cfg->rtsp_server;
  err = start_auth(node, cfg, &rtsp_cfg, &lg);
  if (err) {
    vg_node_stop(&node);
    return err;
  }
  if ((err = start_notify(cfg, node->bus))) {
    vg_node_stop(&node);
    return err;
  }
  err = vg_rtsp_server_start(&rtsp_cfg, &node->rtsp);
  if (!err) {
    vg_metrics_register("rtsp_server", collect_rtsp_metrics, node->rtsp);
    if (cfg->rtmp_server.enabled && (err = vg_rtmp_server_start(&cfg->rtmp_server, &node->rtmp)) == 0)
      vg_metrics_register("rtmp_server", collect_rtmp_metrics, node->rtmp);
  }
  if (!err) {
    vg_playback_set_database(cfg->database.path);
    err = vg_http_server_start(&cfg->http, &node->http);
  }
  if (err) {
    vg_node_stop(&node);
    return err;
  }
  vg_log_info(&lg, "vigil %s running: %d workers, %d cameras", VG_VERSION, vg_workers_count(),
              (int)vg_cameras_count());
  *out = node;
  return 0;
}

void vg_node_stop(vg_node_t **np) {
  vg_node_t *node = *np;
  if (!node) return;
  *np = NULL;
  vg_http_server_stop(&node->http);
  vg_notify_stop();
  vg_event_service_stop();
  vg_metrics_unregister("rtsp_server");
  if (node->rtmp) {
    vg_metrics_unregister("rtmp_server");
    vg_rtmp_server_stop(&node->rtmp);
  }
  vg_rtsp_server_stop(&node->rtsp);
  vg_recorders_stop();
  vg_onvif_events_stop();
  vg_onvif_set_event_sink(NULL, NULL);
  vg_retention_stop();
  vg_cameras_api_on_analytics(NULL, NULL);
  vg_analytics_stop();
  vg_camera_hooks_clear();
  vg_cameras_stop_all();
  vg_cameras_api_shutdown();
  vg_config_store_close(&node->config_store);
  if (node->started_srt) {
    vg_metrics_unregister("srt");
    vg_srt_stop();
  }
  if (node->started_workers) vg_workers_stop();
  vg_api_set_auth(NULL, NULL, false, false);
  vg_users_close(&node->rtsp_users);
  vg_users_close(&node->http_users);
  vg_bus_unsubscribe(&node->meta_sub);
  vg_bus_free(&node->bus);
  vg_buf_pool_trim();
  free(node);
}

vg_bus_t *vg_node_bus(vg_node_t *node) { return node->bus; }
