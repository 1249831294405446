/*
 * fmp4.h: a fragmented-MP4 (ISO BMFF) muxer, sans-I/O, no re-encoding.
 *
 * The recorder turns a camera's access units (frame.h, track.h byte formats)
 * into an fMP4 file: one init segment (ftyp + moov with empty sample tables
 * and mvex/trex), then fragments (moof + mdat) for as long as it records.
 * This module only produces bytes; writing them is the caller's job.
 *
 * Zero copy: vg_fmp4_add_frame() keeps a reference to the frame's buffer;
 * vg_fmp4_flush_fragment() builds the moof and the mdat header in a small
 * buffer and returns an iovec list whose first entry is that header and
 * whose other entries point at the queued frames' bytes, ready for writev().
 * The fragment owns those references until vg_fmp4_fragment_release(), so
 * the caller may write it later (on another thread) while muxing goes on.
 *
 * Timing: each track's timescale is its clock_rate (90000 for video, the
 * sample rate for audio). A sample lasts until the next sample of its track;
 * the last sample of a fragment gets the duration of the sample before it,
 * or the track's nominal duration (1/fps, 1024 AAC samples, 20 ms of Opus,
 * the G.711 frame's own length) when it is alone, unless the caller says
 * where it ends (vg_fmp4_set_end: e.g. a keyframes-only recording, whose
 * keyframes each last until the next one). The decode timeline of
 * each track starts at 0 at its first frame; a track that starts later than
 * the first one is placed at its wall-clock offset (vg_frame_t.utc_us) when
 * both frames carry one. tfdt is pts minus that origin, so it continues
 * across fragments whatever their boundaries. Decode order must equal
 * presentation order (no B-frames), as for every camera vigil ingests.
 *
 * Fragment boundaries are the caller's choice (every keyframe, every
 * second...); a fragment may start with a non-key frame. Limits: at most
 * VG_FMP4_MAX_SAMPLES queued samples and VG_FMP4_MAX_FRAGMENT_BYTES of
 * payload per fragment; vg_fmp4_add_frame() answers VG_ETOOBIG when a frame
 * would exceed them (flush first).
 *
 * Codecs: H.264 (avc1 + avcC), H.265 (hvc1 + hvcC), AAC (mp4a + esds),
 * Opus (Opus + dOps), G.711 mu-law / A-law ('ulaw' / 'alaw' sample entries,
 * QuickTime-style: FFmpeg reads them, browsers' MSE does not).
 *
 * Producer reference time: vg_fmp4_prft() writes a 'prft' box that a
 * caller may put before a fragment's moof to tie that fragment's media time
 * to the wall clock (the live view does, see docs/LIVE.md). It is
 * independent of any muxer.
 *
 * Threads: a muxer is used by one thread at a time. A flushed fragment is
 * independent of its muxer. vg_fmp4_prft() is pure.
 */
#ifndef VG_MEDIA_FMP4_H
#define VG_MEDIA_FMP4_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/buf.h"
#include "media/frame.h"
#include "media/track.h"

/* Samples per fragment, all tracks together (about 40 s of 25 fps video with audio). */
#define VG_FMP4_MAX_SAMPLES 4096
/* Payload (mdat) bytes per fragment. */
#define VG_FMP4_MAX_FRAGMENT_BYTES (512u << 20)
/* Largest parameter-set blob or AudioSpecificConfig accepted as extradata. */
#define VG_FMP4_MAX_EXTRADATA 4096

typedef struct vg_fmp4 vg_fmp4_t;

typedef struct {
  vg_buf_t *header;  /* owned: moof + mdat header, iov[0] points into it */
  struct iovec *iov; /* iov_count entries in file order, for writev() */
  int iov_count;     /* 1 + sample_count */
  uint64_t size;     /* sum of the iov lengths: the fragment's size in the file */
  uint32_t sequence; /* mfhd sequence number: 1, 2, 3... */
  int sample_count;
  /* Timing of the first track that has samples in this fragment (usually
   * the video), in its clock: decode time of its first sample and the sum of
   * its sample durations. */
  int track;
  uint64_t start_time;
  uint64_t duration;
  vg_frame_t *frames; /* owned references keeping iov[1..] alive, in file order */
} vg_fmp4_fragment_t;

/* Creates a muxer for tracks[0..track_count) (1..VG_MAX_TRACKS; typically one
 * video track and optionally one audio track). vg_frame_t.track indexes this
 * list; tracks are numbered 1.. in the file in the same order. The tracks are
 * copied (extradata shared by reference). H.264/H.265 tracks need their
 * parameter sets as extradata, AAC its AudioSpecificConfig. Returns 0 and
 * *out, VG_EINVAL (bad argument, missing extradata or clock rate),
 * VG_EUNSUPPORTED (a codec MP4 cannot carry here, e.g. JPEG), VG_EPROTO
 * (unparseable parameter sets), VG_ETOOBIG or VG_ENOMEM. */
int vg_fmp4_create(const vg_track_t *tracks, int track_count, vg_fmp4_t **out);
/* Frees the muxer, dropping queued frames; *m = NULL. Fragments already
 * flushed stay valid. */
void vg_fmp4_free(vg_fmp4_t **m);

/* Appends the init segment (ftyp + moov) to *out, allocating a buffer when
 * *out is NULL (*out may move as it grows). Returns the number of bytes
 * appended, or VG_ENOMEM (then *out holds what it held before, possibly in a
 * different buffer). May be called at any time, e.g. for each new file. */
int vg_fmp4_init_segment(vg_fmp4_t *m, vg_buf_t **out);

/* Queues a frame for the next fragment, taking its own reference (the
 * caller keeps its own). Returns 0, VG_EINVAL (unknown track, empty frame,
 * pts going backwards or jumping by more than 2^32 ticks) or VG_ETOOBIG
 * (the fragment is full: flush, then add again). On failure nothing is
 * queued. */
int vg_fmp4_add_frame(vg_fmp4_t *m, const vg_frame_t *frame);
/* Says that the last sample of track queued for the next fragment lasts
 * until end_pts (in the track's clock; ignored unless after that sample's
 * pts and within 2^32 ticks of it). Holds for the next flush only. Returns
 * 0 or VG_EINVAL. */
int vg_fmp4_set_end(vg_fmp4_t *m, int track, int64_t end_pts);
/* Number of frames queued for the next fragment. */
int vg_fmp4_queued(const vg_fmp4_t *m);

/* Turns the queued frames into one fragment: *out receives the moof + mdat
 * header and the iovec list (see above); the queue is emptied. Returns 0,
 * VG_ENODATA when nothing is queued, or VG_ENOMEM (the queue is kept). Call
 * vg_fmp4_fragment_release() when the bytes are written. */
int vg_fmp4_flush_fragment(vg_fmp4_t *m, vg_fmp4_fragment_t *out);
/* Drops the fragment's references and zeroes it. Safe on a zeroed fragment. */
void vg_fmp4_fragment_release(vg_fmp4_fragment_t *f);

/* Size of the ProducerReferenceTimeBox that vg_fmp4_prft() writes. */
#define VG_FMP4_PRFT_SIZE 32

/* Writes a version-1 ProducerReferenceTimeBox ('prft', ISO/IEC 14496-12
 * 8.16.5) into out: reference_track_ID track_id (the muxer's track index
 * plus 1), utc_us (microseconds since the Unix epoch) as a 64-bit NTP
 * timestamp, and media_time in that track's timescale (a fragment's
 * start_time for the track). flags are 0: the wall-clock time belongs to
 * the sample at media_time. Returns VG_FMP4_PRFT_SIZE, or VG_EINVAL
 * (no output, track 0, or a time before 1970). */
int vg_fmp4_prft(uint8_t out[VG_FMP4_PRFT_SIZE], uint32_t track_id, int64_t utc_us, uint64_t media_time);

#endif
