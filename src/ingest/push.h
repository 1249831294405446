/*
 * push.h: the glue between a publisher that pushes a stream in (an RTSP
 * ANNOUNCE/RECORD session, an RTMP or SRT publisher) and a VG_SOURCE_PUSH
 * camera named by the publish path.
 *
 * vg_push_open() creates the camera on first publish (or claims an existing
 * push camera that nobody publishes to), and gives the publisher a handle
 * holding its own reference to the camera's hub. The publisher then sets
 * the hub's tracks and pushes frames through the handle, which counts them
 * on the camera and tells the camera it is online at the first frame.
 * vg_push_close() detaches the publisher and tells the camera it went
 * offline.
 *
 * Ownership across threads: the camera lives on its own worker, the
 * publisher on whichever thread its connection lives on. The handle and
 * the camera point at each other (cam->source, handle->cam) while one
 * publishes; both links are set and cleared under one process-wide lock, so
 * that the camera module's stop operation (camera worker) and the
 * publisher's close (its own thread) can each detach safely. Life-cycle
 * calls (online, failed) are posted to the camera's worker as camera.h
 * requires. The handle itself is owned by the publisher: every vg_push_*
 * call on one handle comes from the publisher's thread; vg_push_check and
 * vg_push_register_source may be called from any thread.
 */
#ifndef VG_INGEST_PUSH_H
#define VG_INGEST_PUSH_H

#include <stdint.h>

#include "media/frame.h"
#include "media/track.h"
#include "stream/hub.h"

typedef struct vg_push vg_push_t;

/* Registers the VG_SOURCE_PUSH source kind with the camera module. Call it
 * once at start-up before any vg_push_open (repeating it is harmless). */
void vg_push_register_source(void);

/* Whether path may be published now: 0 if it is a free name or a push
 * camera that nobody publishes to, VG_EINVAL if it is not a valid camera id,
 * VG_EBUSY if it is in use (a configured camera, a publisher, a stream that
 * is not a camera). */
int vg_push_check(const char *path);

/* Creates or claims the push camera named path. url is what the API shows
 * as the camera's URL when it is created (e.g. "rtmp://publisher/cam1").
 * Returns 0 and *out, VG_EINVAL (bad name), VG_EBUSY (in use),
 * VG_EUNSUPPORTED (push source not registered) or VG_ENOMEM. */
int vg_push_open(const char *path, const char *url, vg_push_t **out);

/* The camera's hub (the handle holds a reference while open). */
vg_hub_t *vg_push_hub(vg_push_t *p);

/* Starts a new hub generation with these tracks (see vg_hub_set_tracks). */
int vg_push_set_tracks(vg_push_t *p, const vg_track_t *tracks, int count);
/* Replaces one hub track's description (see vg_hub_update_track). */
int vg_push_update_track(vg_push_t *p, int index, const vg_track_t *track);

/* Pushes a frame to the hub (the caller keeps its reference) and counts it
 * on the camera; the first frame brings the camera online. */
void vg_push_frame(vg_push_t *p, const vg_frame_t *frame);
/* Adds to the camera's packet and error counters (packets of the transport,
 * e.g. RTP packets; errors: malformed input dropped). */
void vg_push_count(vg_push_t *p, uint64_t packets, uint64_t errors);

/* Detaches from the camera (which goes offline with reason why), drops the
 * hub reference and frees the handle; *p becomes NULL. NULL is fine. */
void vg_push_close(vg_push_t **p, const char *why);

#endif
