/*
 * hub.h: the stream hub, one per camera stream.
 *
 * A producer (a camera source, a publisher, camsim's player) pushes access
 * units; any number of readers (the RTSP server's sessions, the recorder,
 * the decoder) each get every frame through their own bounded queue. Frames
 * are shared by reference: pushing takes one buffer reference per reader,
 * never a copy of the bytes.
 *
 * - A new reader starts clean: it first receives the cached frames since the
 *   last video keyframe (the GOP cache), so a viewer's first picture decodes.
 * - A reader that falls behind (its queue is full) loses what is queued and
 *   then skips everything up to the next keyframe; each lost frame is
 *   counted in its stats. Other readers are not affected.
 * - When the producer changes the tracks (a camera reconnects with another
 *   SDP) or ends, readers see it through vg_hub_read()'s return value.
 *
 * Threads: the producer calls vg_hub_set_tracks/push/end from one thread at
 * a time; readers may live on any thread. The notify callback runs on the
 * producer's thread, with the hub's lock held: it must only wake the
 * reader's own thread (uv_async_send, vg_worker_post) and never call back
 * into the hub.
 */
#ifndef VG_STREAM_HUB_H
#define VG_STREAM_HUB_H

#include <stdint.h>

#include "media/frame.h"
#include "media/track.h"

typedef struct vg_hub vg_hub_t;
typedef struct vg_hub_reader vg_hub_reader_t;

/* A new hub with one reference, no tracks, not live. name is copied. */
vg_hub_t *vg_hub_new(const char *name);
vg_hub_t *vg_hub_ref(vg_hub_t *hub);
void vg_hub_unref(vg_hub_t **hub);
const char *vg_hub_name(const vg_hub_t *hub);

/* --- producer --- */

/* Starts a new generation with these tracks (copied; extradata shared by
 * reference): drops the GOP cache and tells every reader. The hub is live
 * from now until vg_hub_end(). */
int vg_hub_set_tracks(vg_hub_t *hub, const vg_track_t *tracks, int count);
/* Replaces one track's description within the current generation, e.g.
 * when in-band parameter sets arrive; readers are not reset. */
int vg_hub_update_track(vg_hub_t *hub, int index, const vg_track_t *track);
/* Hands a frame to every reader and the GOP cache. The hub takes its own
 * references; the caller keeps its reference to frame->buf. */
void vg_hub_push(vg_hub_t *hub, const vg_frame_t *frame);
/* The producer has stopped (camera offline, publisher gone). */
void vg_hub_end(vg_hub_t *hub);

/* --- readers --- */

typedef void (*vg_hub_notify_fn)(void *opaque);

typedef struct {
  uint32_t queue_frames;   /* queue capacity in frames (default 256) */
  vg_hub_notify_fn notify; /* see the threads note above; may be NULL (poll) */
  void *opaque;
  int skip_gop_cache; /* start at the next keyframe instead of the cached GOP */
} vg_hub_reader_opts_t;

typedef struct {
  uint64_t frames;  /* frames handed to this reader */
  uint64_t dropped; /* frames it lost by falling behind */
  uint64_t skips;   /* times it fell behind and skipped to a keyframe */
} vg_hub_reader_stats_t;

/* Opens a reader. Returns 0 and *out, or VG_ENOMEM. */
int vg_hub_open_reader(vg_hub_t *hub, const vg_hub_reader_opts_t *opts, vg_hub_reader_t **out);
/* Takes the next frame (the caller owns its reference; vg_frame_unref it).
 * Returns 0, VG_EAGAIN when the queue is empty, VG_ESTATE when the tracks
 * changed since this reader last called vg_hub_reader_tracks() (read them
 * again; the queue then continues with the new generation), or VG_ECLOSED
 * once the producer has ended and the queue is drained. */
int vg_hub_read(vg_hub_reader_t *r, vg_frame_t *out);
/* Copies the current tracks (each needs vg_track_clear later) and marks the
 * reader as up to date. Returns the number of tracks (0: none yet). */
int vg_hub_reader_tracks(vg_hub_reader_t *r, vg_track_t *out, int max);
void vg_hub_reader_stats(vg_hub_reader_t *r, vg_hub_reader_stats_t *out);
/* Closes the reader (drops its queued frames) and sets *r = NULL. After it
 * returns, notify is never called again for it. */
void vg_hub_close_reader(vg_hub_reader_t **r);

/* --- introspection --- */

typedef struct {
  int live;
  int readers;
  uint32_t generation;
  uint64_t frames_in;
  uint64_t bytes_in;
  uint64_t reader_drops; /* all readers' dropped frames, including closed ones */
} vg_hub_stats_t;
void vg_hub_stats(vg_hub_t *hub, vg_hub_stats_t *out);
/* Copies the current tracks; returns their number. */
int vg_hub_tracks(vg_hub_t *hub, vg_track_t *out, int max);

/* --- registry: hubs by path name ("cam1"), for the RTSP server and the API --- */

/* Registers hub under its name. VG_EEXIST if the name is taken. Takes a reference. */
int vg_hub_register(vg_hub_t *hub);
/* Removes hub (if it is the one registered under its name) and drops the
 * registry's reference. */
void vg_hub_unregister(vg_hub_t *hub);
/* Returns a new reference to the hub named name, or NULL. */
vg_hub_t *vg_hub_find(const char *name);

#endif
