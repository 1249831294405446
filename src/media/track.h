/*
 * track.h: what a stream carries, codec by codec.
 *
 * A camera stream has one or more tracks (typically one video, maybe one
 * audio). The track description travels from the SDP (or a publisher's
 * ANNOUNCE, or camsim's encoder) through the stream hub to every consumer.
 *
 * Conventions shared by all of vigil:
 *  - H.264 / H.265 access units are a sequence of NAL units, each preceded by
 *    a 4-byte big-endian length (the MP4 "length-prefixed" form, no start
 *    codes). That is what fMP4 stores and what a packetizer walks.
 *  - track.extradata, for H.264/H.265, is the parameter sets (VPS, SPS, PPS)
 *    in that same length-prefixed form; for AAC it is the
 *    AudioSpecificConfig; otherwise NULL.
 *  - Audio access units are raw frames: an AAC raw_data_block (no ADTS), a
 *    run of G.711 samples, one Opus packet.
 */
#ifndef VG_MEDIA_TRACK_H
#define VG_MEDIA_TRACK_H

#include <stdint.h>

#include "base/buf.h"

typedef enum {
  VG_CODEC_NONE = 0,
  VG_CODEC_H264,
  VG_CODEC_H265,
  VG_CODEC_AAC,
  VG_CODEC_PCMU,
  VG_CODEC_PCMA,
  VG_CODEC_OPUS,
  VG_CODEC_JPEG, /* one baseline/progressive JPEG picture per frame (snapshot and MJPEG cameras) */
} vg_codec_t;

#define VG_MAX_TRACKS 4

typedef struct {
  vg_codec_t codec;
  uint32_t clock_rate; /* units of vg_frame_t.pts: 90000 for video, else sample rate */
  /* video; 0 when unknown */
  int width, height;
  double fps;
  /* audio; 0 when unknown */
  int sample_rate, channels;
  vg_buf_t *extradata; /* owned reference, see above; may be NULL */
} vg_track_t;

static inline int vg_codec_is_video(vg_codec_t c) {
  return c == VG_CODEC_H264 || c == VG_CODEC_H265 || c == VG_CODEC_JPEG;
}
/* "H264", "H265", "AAC", "PCMU", "PCMA", "OPUS" or "NONE". */
const char *vg_codec_name(vg_codec_t c);

/* dst becomes a copy of src sharing its extradata (a new reference).
 * dst must be empty (zeroed or cleared). */
void vg_track_copy(vg_track_t *dst, const vg_track_t *src);
/* Drops the extradata reference and zeroes the track. */
void vg_track_clear(vg_track_t *t);

#endif
