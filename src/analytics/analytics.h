/*
 * analytics.h: the video analytics pipeline, between ingest and the API.
 *
 * Per camera with analytics enabled, a reader of the camera's stream hub
 * (or of the hub of the camera named as its substream) feeds a pipeline
 * that runs on the analytics thread pool, never on an I/O worker:
 *
 *   hub reader (non-blocking, drop-to-keyframe) -> decode (libavcodec) ->
 *   scale to the detect size (libswscale; RGB + luma) -> motion + tamper
 *   (vision/motion.h, tamper.h) -> detector on motion / track regions plus
 *   a periodic full-frame check (the inference server, infer/server.h) ->
 *   per-class filter -> tracker (vision/tracker.h) -> virtual sensors
 *   (vision/sensors.h) -> metadata and triggers on the event bus.
 *
 * Decoding: every access unit is decoded while a camera is active (motion
 * or tracked objects: P-frames need their references), but only frames at
 * the detect rate are scaled and analysed. While a camera is idle, only
 * keyframes are decoded. A camera whose frames wait longer than max_lag_ms
 * (the pool is saturated) skips to its next keyframe; the pool serves
 * cameras round-robin in small batches, so skipping is spread fairly, and
 * every skipped frame is counted. Recording and live view have their own
 * hub readers and never wait for analytics.
 *
 * Bus messages (payloads of vg_bus_msg_t.data, read-only):
 *   VG_ANALYTICS_TOPIC_META     vg_analytics_meta_t, one per analysed frame
 *                               that updated the tracker
 *   VG_ANALYTICS_TOPIC_TRIGGER  vg_analytics_trigger_t, one per sensor trigger
 *
 * Threads: config parsing on the main thread; start/stop from the main
 * thread (after the cameras have started, before they stop); live changes
 * (vg_analytics_camera_set/remove) from any thread but a pool thread,
 * serialized by one lock; the snapshot and metrics functions from any
 * thread.
 */
#ifndef VG_ANALYTICS_ANALYTICS_H
#define VG_ANALYTICS_ANALYTICS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/bus.h"
#include "base/config.h"

#define VG_ANALYTICS_TOPIC_META "analytics.meta"
#define VG_ANALYTICS_TOPIC_TRIGGER "analytics.trigger"

/* One object of a frame's metadata. Coordinates are normalized to the
 * frame (0..1, x right, y down) so they hold for any stream resolution. */
typedef struct {
  uint32_t track_id; /* stable per camera; never reused */
  int label;         /* COCO class index */
  char class_name[24];
  float score; /* the last matched detection's score */
  float x1, y1, x2, y2;
  float vx, vy;   /* normalized units per second */
  bool confirmed; /* tentative tracks are included with false */
  bool stationary;
  uint32_t zones; /* bit z: counted inside the camera's zone z (config order) */
} vg_analytics_object_t;

#define VG_ANALYTICS_MAX_OBJECTS 64

/* "analytics.meta": what the pipeline saw in one analysed frame. */
typedef struct {
  char camera[64];
  int64_t pts;       /* the frame's pts in its track's clock */
  int64_t utc_us;    /* the frame's wall-clock time */
  int width, height; /* the analysed picture (detect size) */
  bool motion;       /* motion active (with hysteresis) */
  bool detected;     /* the detector ran on this frame */
  int n_objects;
  vg_analytics_object_t objects[VG_ANALYTICS_MAX_OBJECTS];
} vg_analytics_meta_t;

/* "analytics.trigger": one virtual sensor firing. */
typedef struct {
  char camera[64];
  char sensor[64];   /* zone or tripwire id, or "tamper" */
  char kind[16];     /* enter, exit, loiter, occupancy, overcrowd, line_cross, tamper */
  char direction[8]; /* line_cross: a_to_b or b_to_a; else "" */
  char tamper[16];   /* tamper: covered, defocused or moved; else "" */
  uint32_t track_id; /* 0 when not about one object */
  int label;         /* -1 when none */
  char class_name[24];
  int count;            /* see vision/sensors.h vg_trigger_t.count */
  bool cleared;         /* an overcrowd or tamper condition ended */
  int64_t utc_us;       /* when it happened */
  int64_t frame_utc_us; /* the frame that decided it */
} vg_analytics_trigger_t;

/* --- configuration --- */

typedef struct {
  char camera[64];
  bool enabled;
  char substream[64];        /* "": the camera's own stream; else the id of the camera to analyse instead */
  int detect_fps;            /* 0: the node's */
  int detect_width;          /* 0: the node's */
  int stationary_interval_s; /* -1: the node's; else as the node's key */
  char hwaccel[16];          /* "": the node's; else auto, none, vaapi, cuda or v4l2m2m (media/vdec.h) */
  void *vision;              /* the vision parser's vg_analytics_config_t (zones, tripwires, rules, ...) */
} vg_analytics_camera_config_t;

#define VG_ANALYTICS_MAX_DETECT_THREADS 64

typedef struct {
  bool enabled;              /* default false */
  int detect_fps;            /* analysed frames per second per camera, 1..30 (default 5) */
  int detect_width;          /* width of the analysed picture, 64..1920 (default 640) */
  char hwaccel[16];          /* decoder: auto (default), none, vaapi, cuda or v4l2m2m (media/vdec.h) */
  char model[256];           /* "nanodet" (default), "centernet" or a model.json path */
  char models_dir[256];      /* default: $VIGIL_MODELS, else "models" */
  int threads;               /* decode/analysis pool threads; 0: one per core */
  int detect_threads;        /* inference workers; "auto" (default): one per online CPU, at most 64 */
  int full_frame_interval_s; /* a full-frame detection at least this often, 0..3600 (default 5; 0: every
                                analysed frame) */
  int stationary_interval_s; /* parked stationary objects are re-detected this often, 0..3600 (default 2;
                                0: on every analysed frame) */
  int max_lag_ms;            /* older frames are skipped to the next keyframe, 100..60000 (default 1000) */
  int queue_frames;          /* hub reader queue, 16..4096 (default 128) */
  char trigger_log[512];     /* "": none; else a file that gets one JSON line per trigger */
  int precision;             /* the detector's vg_precision_t: "f32" (default) or "int8" */
  vg_analytics_camera_config_t *cameras; /* one per camera with an "analytics" object */
  int camera_count;
} vg_analytics_node_config_t;

/* Reads the top-level "analytics" object (top; NULL: defaults) and every
 * camera's "analytics" object from the "cameras" array (may be NULL); call
 * it at the document's root path (errors name "analytics.x" and
 * "cameras[i].analytics.x"). The
 * per-camera objects are removed from the camera objects, so that the
 * camera parser does not see them. Returns 0 or VG_ECONFIG (c says where). */
int vg_analytics_node_config_parse(vg_cfg_t *c, json_t *top, json_t *cameras,
                                   vg_analytics_node_config_t *out);
void vg_analytics_node_config_free(vg_analytics_node_config_t *cfg);

/* One camera's "analytics" object (obj, at c's current path) into out, as
 * vg_analytics_node_config_parse reads it from the file. Returns 0 or
 * VG_ECONFIG (c names the field). vg_analytics_camera_config_clear frees it. */
int vg_analytics_camera_config_parse(vg_cfg_t *c, const char *camera, json_t *obj,
                                     vg_analytics_camera_config_t *out);
int vg_analytics_camera_config_copy(vg_analytics_camera_config_t *dst,
                                    const vg_analytics_camera_config_t *src);
bool vg_analytics_camera_config_equal(const vg_analytics_camera_config_t *a,
                                      const vg_analytics_camera_config_t *b);
void vg_analytics_camera_config_clear(vg_analytics_camera_config_t *cc);

/* --- life cycle --- */

/* Starts the pool, the inference server and one pipeline per enabled
 * camera (cameras must be running: their hubs are registered). bus may be
 * NULL (nothing is published). Returns 0, or an error when the model cannot
 * be loaded (nothing is left running). Does nothing when cfg->enabled is
 * false. */
int vg_analytics_start(const vg_analytics_node_config_t *cfg, vg_bus_t *bus);
/* Stops everything and forgets every camera's configuration; safe when
 * not started. */
void vg_analytics_stop(void);

/* --- live configuration changes --- */

/* Sets one camera's analytics configuration while the node runs (its
 * "analytics" object as cameras[].analytics takes it; NULL or
 * "enabled": false: none). The configuration is kept in any case; what
 * runs follows it when the pipeline runs (vg_analytics_start, enabled):
 *  - no pipeline yet: one starts, reading the camera's hub (or its
 *    substream's); if that hub does not exist yet, it starts at the next
 *    call for this camera once it does (the node calls this from its
 *    camera-added hook);
 *  - a pipeline runs and only the vision configuration (zones, tripwires,
 *    rules, filters, motion, tamper, tracker) or detect_fps changed: the new
 *    configuration is built here and swapped in by the camera's next pool
 *    turn, between two frames; motion, tamper and the tracker keep what
 *    they learned (track ids, positions) when their own parameters did not
 *    change; the sensors always start afresh;
 *  - substream, detect_width or hwaccel changed: the pipeline restarts;
 *  - none: the pipeline stops.
 * When the node's analytics.enabled is false nothing runs: the
 * configuration is only kept. The same configuration again changes
 * nothing. Any thread but a pool thread (the HTTP server's, a worker's,
 * the main thread); it may wait for the camera's running pool turn and its
 * detection in flight. Returns 0, VG_ECONFIG (obj is invalid; nothing
 * changed) or VG_ENOMEM. */
int vg_analytics_camera_set(const char *camera, const json_t *obj);
/* A camera was removed: its pipeline stops and its configuration is
 * forgotten; pipelines that read its hub as their substream stop too (they
 * keep their configuration and start again at their next set). Same
 * threads as vg_analytics_camera_set. Returns 0. */
int vg_analytics_camera_remove(const char *camera);

/* --- introspection --- */

typedef struct {
  uint64_t decoded;      /* frames decoded */
  uint64_t analysed;     /* frames scaled and analysed (motion) */
  uint64_t detected;     /* frames sent to the detector */
  uint64_t skipped;      /* frames skipped because the pool was behind (or the hub reader dropped them) */
  uint64_t idle_skipped; /* non-key frames not decoded while idle */
  uint64_t
      stationary_skipped; /* analysed frames with no detector call because their only objects were parked */
  uint64_t superseded;    /* analysed frames replaced by a newer one while the detector was busy */
  uint64_t triggers;
  bool motion;
  int tracked;           /* confirmed tracks now */
  char decoder[16];      /* the decoder in use: software, vaapi, cuda or v4l2m2m; "" before the first */
  char decoder_why[256]; /* why the hwaccel asked for is not in use; "" when it is */
} vg_analytics_camera_stats_t;

/* VG_ENOTFOUND when the camera has no analytics. */
int vg_analytics_camera_stats(const char *camera, vg_analytics_camera_stats_t *out);
/* A JSON object for GET /api/v1/cameras/{id}/analytics/status: the decoder, counters, motion,
 * the latest tracks and the sensors' trigger counts. Returns a new
 * reference, or NULL when the camera has no analytics. */
json_t *vg_analytics_camera_json(const char *camera);

#endif
