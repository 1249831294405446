/*
 * mpegts.h: a sans-I/O MPEG transport stream demuxer (ISO/IEC 13818-1).
 *
 * Bytes in (any chunking; SRT delivers 1316-byte messages of 7 packets),
 * tracks and frames out through callbacks, in vigil's byte formats
 * (track.h): H.264 (stream_type 0x1B) and H.265 (0x24) access units become
 * length-prefixed NAL units with the in-band parameter sets as extradata;
 * AAC in ADTS (0x0F) becomes raw AAC frames with the AudioSpecificConfig as
 * extradata. The first program of the PAT is demuxed; other programs and
 * stream types are ignored.
 *
 * Tracks are announced (on_tracks with update_index -1) once every
 * supported stream of the PMT has its configuration (parameter sets, ADTS
 * header), or after two seconds of media with the ones that have; frames
 * before that are dropped. A later change of parameter sets is announced
 * with update_index set to the track that changed; a new PMT (other
 * streams) starts a new set.
 *
 * Timestamps: pts in the track's clock (90 kHz for video, the sample rate
 * for AAC), the 33-bit wrap unwrapped per stream; the origin is the
 * stream's own clock, so callers rebase (one common origin keeps tracks in
 * sync).
 *
 * Robustness: resynchronises on 0x47, checks each PSI section's CRC32,
 * counts packets lost by continuity counter (the frame being assembled is
 * then marked VG_FRAME_CORRUPT), bounds every buffer (VG_TS_MAX_PES) and
 * drops what is malformed, counting it in the stats. Never reads past the
 * input.
 *
 * Threads: a demuxer belongs to one thread at a time; callbacks run inside
 * vg_ts_demux_push()/flush() on that thread.
 */
#ifndef VG_MEDIA_MPEGTS_H
#define VG_MEDIA_MPEGTS_H

#include <stddef.h>
#include <stdint.h>

#include "media/frame.h"
#include "media/track.h"

#define VG_TS_PACKET_SIZE 188
/* Largest PES packet (one access unit) assembled; larger ones are dropped. */
#define VG_TS_MAX_PES (8u << 20)

typedef struct vg_ts_demux vg_ts_demux_t;

typedef struct {
  /* A frame (track index into the announced tracks). The callee owns f's
   * buffer reference and must vg_frame_unref() it. */
  void (*on_frame)(void *opaque, vg_frame_t *f);
  /* update_index -1: a new set of tracks (count of them); otherwise
   * tracks[update_index] changed (new parameter sets or size). The tracks
   * stay owned by the demuxer; copy what you keep (vg_track_copy). */
  void (*on_tracks)(void *opaque, const vg_track_t *tracks, int count, int update_index);
  void *opaque;
} vg_ts_sink_t;

typedef struct {
  uint64_t packets;        /* 188-byte packets processed */
  uint64_t bytes;          /* bytes pushed */
  uint64_t sync_losses;    /* times the 0x47 sync byte was lost and searched for */
  uint64_t skipped_bytes;  /* bytes thrown away while searching */
  uint64_t unsynced_run;   /* bytes skipped since the last packet in sync (garbage detection) */
  uint64_t cc_lost;        /* packets lost according to the continuity counters */
  uint64_t crc_errors;     /* PSI sections with a bad CRC32 */
  uint64_t bad_packets;    /* transport error flag, bad adaptation field, bad PSI */
  uint64_t pes_errors;     /* malformed or oversized PES packets, bad ADTS or NAL data */
  uint64_t frames;         /* frames handed to on_frame */
  uint64_t frames_dropped; /* frames dropped before the tracks were known */
  int64_t last_pcr;        /* the latest PCR (27 MHz), -1 when none */
  int have_pmt;            /* a PMT of the first program has been parsed */
} vg_ts_stats_t;

/* A new demuxer (NULL on OOM). sink is copied. */
vg_ts_demux_t *vg_ts_demux_new(const vg_ts_sink_t *sink);
void vg_ts_demux_free(vg_ts_demux_t **d);
/* Feeds bytes; recv_us is the arrival time stamped on frames completed by
 * them. Returns 0 or VG_ENOMEM (input errors are counted, not returned). */
int vg_ts_demux_push(vg_ts_demux_t *d, const uint8_t *data, size_t len, int64_t recv_us);
/* Completes the PES packets being assembled (end of input). */
void vg_ts_demux_flush(vg_ts_demux_t *d, int64_t recv_us);
void vg_ts_demux_stats(const vg_ts_demux_t *d, vg_ts_stats_t *out);
/* The sum of the error counters above (for a camera's error count). */
uint64_t vg_ts_stats_errors(const vg_ts_stats_t *st);

/* 33-bit timestamp unwrapping, exposed for tests: feed raw 33-bit values
 * in decode order, get 64-bit values that keep growing across the wrap
 * (a small step back across it, as B-frame pts make, stays behind). */
typedef struct {
  int have;
  int64_t last;  /* the last raw value that moved forward */
  int64_t epoch; /* multiple of 2^33 added to raw values */
} vg_ts_clock_t;
int64_t vg_ts_unwrap(vg_ts_clock_t *c, uint64_t raw33);

/* The MPEG-2 CRC32 of PSI sections (poly 0x04C11DB7, no reflection);
 * a section including its CRC gives 0. */
uint32_t vg_ts_crc32(const uint8_t *data, size_t len);

#endif
