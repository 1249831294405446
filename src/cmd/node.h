/*
 * node.h: one vigil node, everything `vigil run` starts, in order:
 * workers, the event bus, camera sources, cameras, analytics, events,
 * notifications (MQTT, webhooks, the event stream), the RTSP server,
 * the RTMP server (when enabled), the HTTP API. Stopped
 * in reverse. The node's configuration is the whole JSON file.
 */
#ifndef VG_CMD_NODE_H
#define VG_CMD_NODE_H

#include "analytics/analytics.h"
#include "event/rules.h"
#include "api/http_server.h"
#include "api/users.h"
#include "base/config.h"
#include "db/db.h"
#include "ingest/camera.h"
#include "ingest/rtmp_server.h"
#include "ingest/srt_ingest.h"
#include "live/rtsp_server.h"
#include "notify/notify.h"
#include "record/recorder.h"

typedef struct {
  int log_level; /* vg_log_level_t */
  int workers;   /* 0: one per core */
  vg_camera_config_t *cameras;
  int camera_count;
  vg_rtsp_server_config_t rtsp_server;
  vg_rtmp_server_config_t rtmp_server;
  vg_http_config_t http;
  vg_record_config_t record;
  vg_db_config_t database;
  char onvif_discovery_interface[64]; /* "onvif.discovery_interface" */
  vg_auth_config_t auth;
  vg_srt_server_config_t srt_server;
  vg_analytics_node_config_t analytics;
  json_t *doc; /* the whole file as read (for the API's export and the cameras' "analytics") */
  vg_event_config_t events;
  vg_notify_config_t notify; /* "mqtt", "webhooks", "notify" */
} vg_node_config_t;

/* Loads and validates FILE. On error c names the field and the reason. */
int vg_node_config_load(vg_cfg_t *c, const char *file, vg_node_config_t *out);
void vg_node_config_free(vg_node_config_t *cfg);

typedef struct vg_node vg_node_t;
int vg_node_start(const vg_node_config_t *cfg, vg_node_t **out);
void vg_node_stop(vg_node_t **node);
/* The node's event bus (analytics metadata and triggers; see analytics.h). */
vg_bus_t *vg_node_bus(vg_node_t *node);

#endif
