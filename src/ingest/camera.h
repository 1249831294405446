/*
 * camera.h: cameras, their life cycle and their health.
 *
 * A camera has a configuration, a stream hub (named by its id) that its
 * source feeds, a worker it lives on, a state and counters. The source
 * (RTSP, HTTP snapshot, MJPEG, or a publisher pushing into the RTSP server)
 * only moves media; this module owns the life cycle around it:
 *
 *   start -> CONNECTING --source_online--> ONLINE
 *               ^  |                          |
 *               |  +--source_failed--+        |
 *               |                    v        v
 *               +--- backoff timer --- OFFLINE (reason)
 *
 * Reconnect delays grow exponentially from backoff_min_ms to backoff_max_ms
 * with +-25% jitter, and reset once a connection has delivered media.
 *
 * Threads: a camera's source callbacks and vg_camera_source_* calls run on
 * the camera's worker. Counters are atomics and the state is behind a
 * small lock, so the API reads both from any thread.
 */
#ifndef VG_INGEST_CAMERA_H
#define VG_INGEST_CAMERA_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "base/log.h"
#include "net/worker.h"
#include "stream/hub.h"

typedef enum {
  VG_CAM_CONNECTING = 0,
  VG_CAM_ONLINE,
  VG_CAM_OFFLINE,
  VG_CAM_DISABLED,
} vg_camera_state_t;

typedef enum {
  VG_SOURCE_RTSP = 0,
  VG_SOURCE_SNAPSHOT, /* JPEG snapshot URL polled at an interval */
  VG_SOURCE_MJPEG,    /* multipart MJPEG over HTTP */
  VG_SOURCE_PUSH,     /* a publisher pushes in (RTSP ANNOUNCE/RECORD, RTMP publish) */
  VG_SOURCE_ONVIF,    /* an ONVIF device: its stream URI is resolved, then read over RTSP */
  VG_SOURCE_RTMP,     /* rtmp:// URL played from an RTMP server */
  VG_SOURCE_SRT,      /* MPEG-TS over SRT from an srt:// URL (vigil calls) */
  VG_SOURCE__COUNT
} vg_source_kind_t;

typedef enum { VG_TRANSPORT_TCP = 0, VG_TRANSPORT_UDP, VG_TRANSPORT_AUTO } vg_transport_t;

typedef struct {
  char id[64];    /* [A-Za-z0-9_-], the path in rtsp://host:8554/<id> */
  char name[128]; /* display name */
  char url[1024]; /* may hold credentials: never log or show it, see vg_camera_safe_url */
  vg_source_kind_t kind;
  vg_transport_t transport; /* RTSP: tcp (default), udp, or auto (udp, then tcp if nothing arrives) */
  bool enabled;
  int connect_timeout_ms;   /* default 5000 */
  int read_timeout_ms;      /* default 10000: no media for this long = offline */
  int snapshot_interval_ms; /* snapshot sources, default 1000 */
  int backoff_min_ms;       /* default 500 */
  int backoff_max_ms;       /* default 30000 */
  char profile[64];         /* ONVIF: the media profile token; "" = the first H.264/H.265 one */
  bool onvif_events;        /* ONVIF: subscribe to the device's events (default true) */
} vg_camera_config_t;

typedef struct {
  atomic_uint_fast64_t frames;
  atomic_uint_fast64_t bytes;
  atomic_uint_fast64_t rtp_packets;
  atomic_uint_fast64_t rtp_lost;
  atomic_uint_fast64_t reconnects;
  atomic_uint_fast64_t errors; /* bad input dropped: malformed packets, protocol errors */
} vg_camera_counters_t;

typedef struct vg_camera vg_camera_t;

/* A source kind's operations, called on the camera's worker thread. */
typedef struct {
  const char *name;
  /* Begins connecting (NULL for kinds that are driven from outside, such as
   * PUSH: those go offline on failure and are not retried). The source later calls vg_camera_source_online()
   * when media flows, and vg_camera_source_failed() when the attempt or the
   * session ends; after failed() it must hold no handles. */
  void (*start)(vg_camera_t *cam);
  /* Stops at once: closes handles, then calls done(cam) (possibly later,
   * after libuv close callbacks). Never followed by source_failed. */
  void (*stop)(vg_camera_t *cam, void (*done)(vg_camera_t *cam));
} vg_source_ops_t;

struct vg_camera {
  vg_camera_config_t cfg;
  vg_hub_t *hub;
  vg_worker_t *worker;
  vg_log_ctx_t log;
  vg_camera_counters_t counters;
  void *source; /* the source's private state */
  /* For sources that resolve the media URL first (ONVIF), on the camera's
   * worker: the pending resolution, and the URL the RTSP source reads
   * instead of cfg.url when set. */
  void *resolver;
  char media_url[1024];
  /* private */
  struct vg_camera_private *priv;
};

/* Parses one camera object (the path in c says where it is). */
int vg_camera_config_parse(vg_cfg_t *c, json_t *obj, vg_camera_config_t *out);

/* Registers the operations of one source kind (done once at start-up). */
void vg_source_register(vg_source_kind_t kind, const vg_source_ops_t *ops);

/* Creates a camera, registers it and its hub, and starts it on a worker.
 * VG_EEXIST if the id is taken. */
int vg_camera_add(const vg_camera_config_t *cfg, vg_camera_t **out);
/* The camera with this id, or NULL. A camera lives until vg_camera_remove()
 * or vg_cameras_stop_all(); both run on the HTTP server's or the main
 * thread, so a pointer found there stays valid until that thread removes
 * the camera (other threads use the snapshots below). */
vg_camera_t *vg_camera_find(const char *id);
/* The camera with this id with a reference the caller owns, or NULL: for
 * threads other than the remover's (a publisher's worker). The camera's
 * memory stays valid until vg_camera_put(), even if it is removed
 * meanwhile (it is then stopped: cam->priv says so to the camera module). */
vg_camera_t *vg_camera_get(const char *id);
/* Another reference to a camera the caller already holds one of. */
vg_camera_t *vg_camera_hold(vg_camera_t *cam);
void vg_camera_put(vg_camera_t *cam);
/* How many cameras there are. */
size_t vg_cameras_count(void);
/* Stops one camera and removes it: its on_removed hooks run first (so that
 * consumers close their hub readers), then its source is stopped on its
 * worker (blocks until it is), its hub is ended (readers still holding a
 * reference see the end and keep a valid hub until they unref it) and
 * unregistered, so that the id may be added again at once. Not on a
 * worker thread. Returns 0 or VG_ENOTFOUND. */
int vg_camera_remove(const char *id);
/* Stops and removes every camera (blocks until their sources are stopped).
 * The on_removed hooks are not called: the node stops its consumers first. */
void vg_cameras_stop_all(void);

/* Camera life-cycle hooks, for the node's per-camera consumers (recorder,
 * analytics): on_added runs after vg_camera_add() has registered and
 * started a camera (its hub and worker are set), on_removed at the start of
 * vg_camera_remove(). Both run on the thread that adds or removes (the main
 * thread at start, the HTTP server's for API changes, a worker for a
 * publisher's push camera: check cam->cfg.kind). At most 8 hooks;
 * VG_ETOOBIG beyond. Register before the cameras are added. */
typedef struct {
  void (*on_added)(vg_camera_t *cam, void *opaque);
  void (*on_removed)(vg_camera_t *cam, void *opaque);
  void *opaque;
} vg_camera_hooks_t;
int vg_camera_hooks_add(const vg_camera_hooks_t *hooks);
void vg_camera_hooks_clear(void);

/* What a one-shot connection to a URL found (POST /api/v1/cameras/probe). */
typedef struct {
  int online;                       /* media arrived */
  vg_track_t tracks[VG_MAX_TRACKS]; /* vg_track_clear() each when done */
  int track_count;
  char error[256]; /* why not, when it failed */
} vg_camera_probe_result_t;
/* Connects to cfg's source once, on a worker, as a camera that is not
 * registered (no hub name, no hooks, no retry): waits until media flows
 * and the video tracks have their size and rate (an RTSP DESCRIBE gives
 * them from the SDP's parameter sets; otherwise PLAY runs until the first
 * SPS, at most 2 s more), or until timeout_ms. Blocks the calling thread
 * (not a worker). Returns 0 with out filled, VG_EIO (out->error says why),
 * VG_ETIMEDOUT, VG_EUNSUPPORTED for a kind that cannot be probed. */
int vg_camera_probe(const vg_camera_config_t *cfg, int timeout_ms, vg_camera_probe_result_t *out);

/* The configuration as a camera object that vg_camera_config_parse reads
 * back; with_secrets false writes the URL without credentials (for the API
 * and exports). Returns a new reference or NULL. */
json_t *vg_camera_config_json(const vg_camera_config_t *cfg, bool with_secrets);

/* For sources, on the camera's worker: */
void vg_camera_source_online(vg_camera_t *cam);
void vg_camera_source_failed(vg_camera_t *cam, int err, const char *reason_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A snapshot of one camera for the API and /metrics. */
typedef struct {
  char id[64];
  char name[128];
  char url[1024]; /* without credentials */
  vg_source_kind_t kind;
  vg_camera_state_t state;
  char reason[256];     /* why offline, or empty */
  char last_error[256]; /* the latest error, kept after recovery */
  int64_t state_since_us;
  uint64_t frames, bytes, rtp_packets, rtp_lost, reconnects, errors;
  vg_track_t tracks[VG_MAX_TRACKS]; /* vg_camera_info_clear() drops their extradata */
  int track_count;
} vg_camera_info_t;

/* Calls fn for each camera, in id order, with a snapshot. */
void vg_cameras_foreach(void (*fn)(const vg_camera_info_t *info, void *opaque), void *opaque);
/* Fills info for the camera with this id; VG_ENOTFOUND if none. */
int vg_camera_get_info(const char *id, vg_camera_info_t *info);
void vg_camera_info_clear(vg_camera_info_t *info);

const char *vg_camera_state_name(vg_camera_state_t s);
const char *vg_source_kind_name(vg_source_kind_t k);
/* Writes url without user:password@ into out. */
void vg_camera_safe_url(const char *url, char *out, size_t size);

#endif
