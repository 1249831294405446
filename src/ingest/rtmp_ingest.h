/*
 * rtmp_ingest.h: RTMP media messages (FLV audio/video tags, onMetaData)
 * into hub tracks and frames; shared by the RTMP server (publishers) and
 * the RTMP camera source (players).
 *
 * RTMP announces no track list: tracks come from the sequence headers
 * (AVC/HEVC decoder configuration records, the AAC AudioSpecificConfig),
 * which encoders send before their first coded frame. The track list is
 * therefore fixed at the first coded frame, with the tracks whose sequence
 * header has arrived (video first, then audio); a header for a new codec
 * later starts a new generation, a repeated header for a known track
 * updates it. Coded frames of a track without a header are dropped.
 *
 * Timestamps: RTMP's millisecond timestamps (32-bit, unwrapped here) are
 * rebased so that the first media message is 0, then converted to the
 * track clock (90 kHz video, the sample rate for AAC); video pts add the
 * composition time. utc_us is the arrival wall time of the first media
 * message plus the message's time since then; recv_us the arrival time.
 * Keyframe flags come from the FLV frame type.
 *
 * Threads: one ingest state per connection, used on its thread.
 */
#ifndef VG_INGEST_RTMP_INGEST_H
#define VG_INGEST_RTMP_INGEST_H

#include <stdint.h>

#include "media/frame.h"
#include "media/track.h"
#include "proto/rtmp.h"

typedef struct {
  /* A new track list (copied by the callee, extradata shared). */
  void (*set_tracks)(void *opaque, const vg_track_t *tracks, int count);
  void (*update_track)(void *opaque, int index, const vg_track_t *track);
  /* A frame (the callee takes its own references; the caller unrefs). */
  void (*frame)(void *opaque, const vg_frame_t *frame);
  void *opaque;
} vg_rtmp_ingest_sink_t;

typedef struct {
  vg_track_t track; /* codec NONE until its sequence header */
  int nal_length_size;
  int index; /* in the published track list, -1: not published */
  int have_last;
  uint32_t last_ts;
  int64_t ext_ts; /* unwrapped milliseconds */
} vg_rtmp_ingest_track_t;

typedef struct {
  vg_rtmp_ingest_sink_t sink;
  vg_rtmp_ingest_track_t video, audio;
  double meta_fps; /* from onMetaData, 0 if none */
  int meta_video;  /* onMetaData announced a video codec */
  int holding;     /* audio is waiting for that video's sequence header */
  int64_t hold_from_ms;
  int have_base;
  int64_t base_ms;     /* the first media message's timestamp */
  int64_t base_utc_us; /* its arrival wall time */
  int published;       /* set_tracks was called */
  uint64_t frames, errors;
} vg_rtmp_ingest_t;

void vg_rtmp_ingest_init(vg_rtmp_ingest_t *ing, const vg_rtmp_ingest_sink_t *sink);
void vg_rtmp_ingest_clear(vg_rtmp_ingest_t *ing);
/* Handles an audio, video or AMF0 data message (others are ignored).
 * Returns 1 when a frame went to the sink, 0 when none did, or a negative
 * code for a malformed message, which is dropped and counted in errors
 * (the stream goes on). */
int vg_rtmp_ingest_message(vg_rtmp_ingest_t *ing, const vg_rtmp_msg_t *msg, int64_t now_mono_us,
                           int64_t now_utc_us);

#endif
