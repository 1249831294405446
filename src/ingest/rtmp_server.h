/*
 * rtmp_server.h: the RTMP ingest server. Publishers (OBS, FFmpeg, encoders)
 * push to rtmp://HOST:PORT/live/<name>; the stream becomes the VG_SOURCE_PUSH
 * camera <name> (ingest/push.h), restreamed by the RTSP server at
 * rtsp://HOST:8554/<name> and listed by the API like any camera.
 *
 * One listener on one I/O worker; its connections live on that worker.
 * Per connection: the plain RTMP handshake, connect (app "live" only),
 * releaseStream/FCPublish/createStream, publish (the stream key, without
 * any "?query", names the camera; the query carries user and pass when
 * publish_users are configured), then FLV audio/video tags into the hub
 * (ingest/rtmp_ingest.h). play is refused: viewers use RTSP. Malformed
 * input, an oversized message or 30 s of silence close that connection
 * only.
 *
 * Threads: start/stop from the main thread with the workers running;
 * get_stats from any thread.
 */
#ifndef VG_INGEST_RTMP_SERVER_H
#define VG_INGEST_RTMP_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"

typedef struct {
  char user[64];
  char pass[128];
} vg_rtmp_cred_t;

typedef struct {
  bool enabled;  /* default false */
  char bind[64]; /* default "0.0.0.0" */
  int port;      /* default 1935; 0 picks a free port */
  /* When not empty, a publisher must name one of these users in its stream
   * key: "<name>?user=USER&pass=PASS" (percent-encoding allowed). */
  vg_rtmp_cred_t publish_users[16];
  int publish_user_count;
} vg_rtmp_server_config_t;

void vg_rtmp_server_config_defaults(vg_rtmp_server_config_t *cfg);
/* Parses the "rtmp_server" object (obj may be NULL: defaults); unknown keys
 * are errors. Returns 0 or VG_ECONFIG. */
int vg_rtmp_server_config_parse(vg_cfg_t *c, json_t *obj, vg_rtmp_server_config_t *out);

typedef struct vg_rtmp_server vg_rtmp_server_t;

/* Binds the listener and starts serving. Returns 0 and *out, or a negative
 * error (e.g. EADDRINUSE) with nothing left open. */
int vg_rtmp_server_start(const vg_rtmp_server_config_t *cfg, vg_rtmp_server_t **out);
/* Closes the listener and every connection (publishers' cameras go
 * offline), blocks until all is closed, frees the server, sets *srv NULL. */
void vg_rtmp_server_stop(vg_rtmp_server_t **srv);
/* The port it listens on. */
int vg_rtmp_server_port(const vg_rtmp_server_t *srv);

typedef struct {
  uint64_t connections;       /* open now */
  uint64_t connections_total; /* accepted since start */
  uint64_t publishers;        /* publishing now */
  uint64_t bytes_in;          /* received */
  uint64_t errors;            /* connections closed for malformed input */
  uint64_t auth_failures;     /* publishers refused for missing or wrong credentials */
} vg_rtmp_server_stats_t;
void vg_rtmp_server_get_stats(vg_rtmp_server_t *srv, vg_rtmp_server_stats_t *out);

#endif
