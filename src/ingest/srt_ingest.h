/*
 * srt_ingest.h: MPEG-TS over SRT into the stream hubs (libsrt).
 *
 * Two ways in, both demuxed by media/mpegts.h:
 *  - the listener ("srt_server" in the configuration): a caller publishes
 *    with a stream id naming the camera, either plain ("cam1") or in the
 *    SRT access-control syntax ("#!::r=cam1,m=publish"); the stream
 *    becomes a push camera (ingest/push.h), restreamed at
 *    rtsp://HOST:8554/cam1. One publisher per name; a busy or invalid name
 *    is rejected in the handshake. A passphrase, when set, is required.
 *  - the caller: cameras of type "srt" with a URL
 *    srt://host:port?streamid=ID&passphrase=SECRET&latency=MS connect out,
 *    read MPEG-TS and reconnect through the camera life cycle.
 *
 * libsrt runs its own threads; vigil adds one service thread that waits on
 * one srt_epoll for every SRT socket, moves received bytes through each
 * connection's demuxer and pushes frames into the hubs (hub pushes are
 * thread-safe). Camera life-cycle calls are posted to the camera's worker.
 * A connection that sends garbage (over 64 KiB and a quarter of its bytes
 * skipped looking for MPEG-TS sync, or no program within 10 s) is closed;
 * others are not affected.
 *
 * Threads: vg_srt_start/stop from the main thread; the source operations
 * from cameras' workers (as camera.h says); stats from any thread.
 */
#ifndef VG_INGEST_SRT_INGEST_H
#define VG_INGEST_SRT_INGEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "ingest/camera.h"

typedef struct {
  bool enabled;        /* default false */
  char bind[64];       /* default "0.0.0.0" */
  int port;            /* default 8890 */
  char passphrase[80]; /* "" (no encryption) or 10..79 characters */
  int latency_ms;      /* receiver latency, default 120 */
} vg_srt_server_config_t;

void vg_srt_server_config_defaults(vg_srt_server_config_t *out);
/* Parses the "srt_server" object (obj may be NULL: defaults). */
int vg_srt_server_config_parse(vg_cfg_t *c, json_t *obj, vg_srt_server_config_t *out);

/* Starts libsrt and the service thread, and the listener when enabled.
 * Callers (srt cameras) work whether or not the listener is enabled.
 * Returns 0 or an error (the listener's bind failure included). */
int vg_srt_start(const vg_srt_server_config_t *cfg);
/* Closes every SRT connection and the listener, stops the thread. Call it
 * after vg_cameras_stop_all(). */
void vg_srt_stop(void);

/* The caller source kind (VG_SOURCE_SRT). */
extern const vg_source_ops_t vg_srt_source_ops;

typedef struct {
  uint64_t connections;       /* open SRT connections (publishers and callers) */
  uint64_t connections_total; /* connections established */
  uint64_t rejected_total;    /* publishers refused (bad or busy stream id, garbage) */
  uint64_t bytes_total;       /* MPEG-TS bytes received */
  uint64_t ts_errors_total;   /* demuxer errors (sync, continuity, CRC, PES) */
} vg_srt_stats_t;
void vg_srt_get_stats(vg_srt_stats_t *out);

/* ---- parsing, exposed for tests ---- */

/* The camera name in a publisher's stream id: "cam1", or the r= value of
 * "#!::r=cam1,m=publish" (m, when present, must be "publish"). Returns 0,
 * or VG_EINVAL (empty, too long, bad syntax) or VG_EUNSUPPORTED (another
 * mode). */
int vg_srt_streamid_name(const char *streamid, char *out, size_t size);

typedef struct {
  char host[256];
  int port;
  char streamid[512];
  char passphrase[80];
  int latency_ms; /* -1: libsrt's default */
} vg_srt_url_t;

/* Parses srt://host:port[?streamid=..&passphrase=..&latency=ms] (values
 * percent-decoded; [v6] hosts allowed). VG_EINVAL on a malformed URL. */
int vg_srt_url_parse(const char *url, vg_srt_url_t *out);

#endif
