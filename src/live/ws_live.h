/*
 * ws_live.h: low-latency live view for browsers: fMP4 over WebSocket for
 * Media Source Extensions (docs/LIVE.md is the protocol), the HLS fallback's
 * routes (hls_live.h), one-time live tickets, the analytics metadata hook
 * and the live-view metrics.
 *
 * Who does what:
 *  - The HTTP server (http_server.c, lws's own thread) authorizes the
 *    upgrade request with vg_live_ws_authorize(), and forwards the
 *    WebSocket callbacks of its connections to vg_live_ws_callback().
 *  - The viewers of one camera stream that want the same tracks form a
 *    group (vg_live_group_t) with one stream hub reader drained on the
 *    camera's worker: the worker muxes one fMP4 fragment per video frame
 *    (media/fmp4.h), puts a prft box with the frame's arrival (wall clock)
 *    in front of it, assembles it once into a message buffer (the only copy
 *    of the media), queues a reference to that same buffer on each member's
 *    bounded queue and wakes the lws thread with lws_cancel_service(). The
 *    worker never blocks on a viewer. The group keeps the current GOP's
 *    fragments: a viewer that joins gets the codec message, the init
 *    segment and those fragments (from the keyframe on), then the shared
 *    fragments as they come.
 *  - The lws thread writes queued messages when the socket is writeable.
 *    A viewer whose queue holds more than VG_LIVE_WS_QUEUE_BYTES (or whose
 *    oldest queued frame is older than VG_LIVE_WS_QUEUE_AGE_MS) loses its
 *    queued fragments and skips to the next keyframe; the skip is counted
 *    and announced with a {"type":"skip"} text message. A skip is the
 *    viewer's own: the group's fragments and the other members go on.
 *
 * Threads: vg_live_ws_authorize and vg_live_ws_callback run on the HTTP
 * server's thread; vg_live_meta_publish on any thread; vg_live_start/stop
 * from the thread that starts and stops the HTTP server.
 */
#ifndef VG_LIVE_WS_LIVE_H
#define VG_LIVE_WS_LIVE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "api/router.h"
#include "base/buf.h"
#include "media/frame.h"
#include "media/track.h"

/* A viewer's queue bound: bytes waiting for its socket, and the age of the
 * oldest queued frame. Beyond either, the viewer skips to the next keyframe. */
#define VG_LIVE_WS_QUEUE_BYTES (1u << 20)
#define VG_LIVE_WS_QUEUE_AGE_MS 2000
/* Kernel send buffer asked for each viewer's socket: small, so that a slow
 * viewer is noticed (and skipped) within seconds instead of piling up
 * megabytes of old video in the kernel. */
#define VG_LIVE_WS_SNDBUF (256 * 1024)
/* Tickets: "vlt_" + 32 hex digits, valid this long, at most this many live. */
#define VG_LIVE_TICKET_LEN 36
#define VG_LIVE_TICKET_TTL_S 30
#define VG_LIVE_TICKET_MAX 256

/* The live routes (WebSocket upgrade target, tickets, HLS), listed in
 * api.c's route_groups. */
extern const vg_http_route_t vg_live_routes[];
extern const size_t vg_live_route_count;

/* Registers the live metrics collector; stop closes the HLS sessions and
 * unregisters it. */
void vg_live_start(void);
void vg_live_stop(void);

/* Decides on a WebSocket upgrade request (req filled from the upgrade's
 * headers: method "GET", path, query, headers, peer). Returns 0 when the
 * viewer may connect, with the camera id in camera and whether it wants
 * audio in *audio; otherwise a negative error with res filled with the
 * HTTP answer to send instead (401, 404, 426 ...). Authentication: a
 * ticket= or token= query parameter, else the API's own (cookie, Bearer,
 * Basic) through vg_api_dispatch(). */
int vg_live_ws_authorize(vg_http_request_t *req, vg_http_response_t *res, char *camera, size_t camera_size,
                         int *audio);

/* Remembers that the upgrade of connection conn was authorized for camera,
 * until its WebSocket is established (vg_live_ws_callback's ESTABLISHED). */
void vg_live_ws_accepted(void *conn, const char *camera, int audio);

/* The WebSocket side of an lws connection (struct lws *), with slot the
 * per-connection pointer the viewer is kept in (zeroed by lws). reason and
 * the return value are lws's (LWS_CALLBACK_ESTABLISHED, SERVER_WRITEABLE,
 * RECEIVE, CLOSED, EVENT_WAIT_CANCELLED); other reasons return 0. */
int vg_live_ws_callback(void *wsi, int reason, void **slot, void *in, size_t len);

/* Analytics metadata for camera's viewers: meta must be a JSON object; each
 * viewer of the camera gets it as a text message with "type":"meta" and
 * "camera" added. The caller keeps its reference. Cheap when nobody
 * watches. Returns the number of viewers it was queued for, or VG_EINVAL. */
int vg_live_meta_publish(const char *camera, json_t *meta);

/* The RFC 6381 codec string for MSE of a track ("avc1.64001f",
 * "hvc1.1.6.L93.B0", "mp4a.40.2", "opus") from its extradata. Returns its
 * length, VG_EUNSUPPORTED (a codec MSE does not take: G.711, JPEG) or
 * VG_EPROTO (missing or bad parameter sets). */
int vg_live_codec_string(const vg_track_t *track, char *out, size_t size);

/* Makes a video track fit for the fMP4 muxer: its size from the SPS when
 * missing, and a frame rate outside 1..300 dropped (unknown). */
void vg_live_complete_video_info(vg_track_t *t);

/* The latency histogram's bucket bounds in seconds (for tests and docs),
 * and adding an observation (microseconds). */
#define VG_LIVE_LATENCY_BUCKETS 12
extern const double vg_live_latency_bounds[VG_LIVE_LATENCY_BUCKETS];
void vg_live_latency_observe(int64_t us);
/* The q-quantile (0..1) of the observations so far in seconds, estimated
 * by linear interpolation within the buckets; 0 when there are none. */
double vg_live_latency_quantile(double q);

/* ---- the viewer core, without sockets (unit tests use it directly) ---- */

/* A message for the viewer's socket: payload at data + VG_LIVE_PRE. */
#define VG_LIVE_PRE 16 /* >= LWS_PRE, checked in ws_live.c */
typedef struct vg_live_msg {
  struct vg_live_msg *next;
  struct vg_buf *buf; /* a reference of its own; the buffer may be shared by other
                       * viewers' messages (read-only). Payload [VG_LIVE_PRE, len) */
  int text;           /* text (JSON) or binary (fMP4) */
  int media;          /* a media fragment: dropped when the viewer skips */
  int close_after;    /* close the connection once this is written */
  int64_t recv_us;    /* arrival of its frame (latency); 0: none, or a GOP-cache frame */
  int64_t age_us;     /* when its frame became due for this viewer (queue age) */
} vg_live_msg_t;

typedef struct vg_live_viewer vg_live_viewer_t;
typedef struct vg_live_group vg_live_group_t;

/* A viewer of camera without an lws connection: wake is called (any
 * thread) when messages are queued. Frames come from vg_live_viewer_feed
 * (which makes the viewer a group of its own) or from a group it joined
 * (the worker's job in the server). */
vg_live_viewer_t *vg_live_viewer_new(const char *camera, int audio, void (*wake)(void *opaque), void *opaque);
/* Handles a new generation of tracks (codec message + init segment). */
int vg_live_viewer_set_tracks(vg_live_viewer_t *v, const vg_track_t *tracks, int count);
/* Handles one frame from the hub (the caller keeps its reference). */
void vg_live_viewer_feed(vg_live_viewer_t *v, const vg_frame_t *frame);
/* The producer ended. */
void vg_live_viewer_ended(vg_live_viewer_t *v);
/* Takes the next queued message (free it with vg_live_msg_free), or NULL. */
vg_live_msg_t *vg_live_viewer_pop(vg_live_viewer_t *v);
void vg_live_msg_free(vg_live_msg_t *m);
typedef struct {
  uint64_t fragments, bytes_queued, skips, dropped_frames;
  size_t queued_bytes;
  int queued_msgs;
} vg_live_viewer_stats_t;
void vg_live_viewer_stats(vg_live_viewer_t *v, vg_live_viewer_stats_t *out);
void vg_live_viewer_free(vg_live_viewer_t **v); /* leaves its group first */

/* A group: the viewers of one stream with the same options (audio wanted
 * or not), fed once; each fragment is built once and its buffer shared by
 * every member's queue. All group calls run on one thread at a time (the
 * camera's worker in the server). */
vg_live_group_t *vg_live_group_new(const char *camera, int audio);
/* Frees the group; members still in it leave first. *g = NULL. */
void vg_live_group_free(vg_live_group_t **g);
/* Adds v (in no group yet): it gets this generation's codec message and
 * init segment, then the kept fragments of the current GOP from its
 * keyframe (or it waits for the next keyframe when the GOP was too long to
 * keep), then the group's fragments as they are built. Returns 0 or
 * VG_EINVAL. */
int vg_live_group_join(vg_live_group_t *g, vg_live_viewer_t *v);
void vg_live_group_leave(vg_live_group_t *g, vg_live_viewer_t *v);
int vg_live_group_members(const vg_live_group_t *g);
/* As the viewer calls above, for every member at once. */
int vg_live_group_set_tracks(vg_live_group_t *g, const vg_track_t *tracks, int count);
void vg_live_group_feed(vg_live_group_t *g, const vg_frame_t *frame);
void vg_live_group_ended(vg_live_group_t *g);

#endif
