/*
 * playback.h: recorded footage read back: spans and gaps of a camera, HLS
 * VOD playlists over the stored files, and progressive MP4 clips exported
 * without re-encoding.
 *
 * Everything is computed from the recording index (record/index.h) and, for
 * clips, the files' moov and moof boxes (media/mp4_reader.h). Media bytes
 * are never loaded whole: a playlist points at byte ranges of the segment
 * files (served by segment id, see the file route in api/playback.c), and
 * a clip is a header built in memory (ftyp + moov + mdat header, whose size
 * is known in advance) followed by a list of byte ranges of segment files
 * that vg_playback_clip_read() copies piece by piece.
 *
 * Times are UTC wall clock in microseconds; ranges are [start, end).
 *
 * Clip rules (docs/RECORDING.md, "Playback"): the clip starts at the last
 * video keyframe at or before start (the first one after start when start
 * falls in a gap) and holds every sample that starts before end. It spans
 * as many segment files as the range covers; when a file's tracks differ
 * from the first file's (another codec, resolution or parameter sets), the
 * clip ends before that file and says so (vg_playback_clip_t.cut_us and
 * cut_reason). Between files, the last sample before the boundary is
 * lengthened up to the next file's first sample, so the clip's timeline
 * follows the wall clock across short gaps; gaps longer than
 * VG_PLAYBACK_MAX_STRETCH_US are cut out of the timeline instead. Every
 * track has an edit list that places its first sample at its time after
 * the clip's first keyframe.
 *
 * Threads: a clip or playlist belongs to the thread that built it (the HTTP
 * server's thread); the index passed in is that thread's own connection.
 * vg_playback_set_database() is called once by the node before the HTTP
 * server starts.
 */
#ifndef VG_RECORD_PLAYBACK_H
#define VG_RECORD_PLAYBACK_H

#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"
#include "record/index.h"

/* Segments one request may cover (about 55 hours of 10 s segments). */
#define VG_PLAYBACK_MAX_SEGMENTS 20000
/* Samples of all tracks in one clip (about 6 hours of 25 fps video with audio). */
#define VG_PLAYBACK_MAX_CLIP_SAMPLES (1u << 21)
/* Default gap below which two segments count as one span (a fragment or two). */
#define VG_PLAYBACK_SPAN_TOLERANCE_US 1500000
/* Longest gap between files that a clip bridges by lengthening a sample. */
#define VG_PLAYBACK_MAX_STRETCH_US 10000000
/* Largest piece vg_playback_clip_read() and the file route read at once. */
#define VG_PLAYBACK_READ_CHUNK (256u << 10)

/* The database file the HTTP thread opens for playback queries (the node's
 * "database.path"); "" or never set: playback answers 503. Copied. */
void vg_playback_set_database(const char *path);
/* The path set above ("" when none). */
const char *vg_playback_database(void);

typedef struct {
  int64_t start_us, end_us;
} vg_playback_range_t;

typedef struct {
  vg_playback_range_t *spans; /* recorded, in time order, clipped to the query */
  int span_count;
  vg_playback_range_t *gaps; /* the rest of the query range, in time order */
  int gap_count;
} vg_playback_spans_t;

/* Merges ranges (sorted by start, as the index gives them; overlaps
 * allowed) into spans where the gap between one range's end and the next
 * one's start is below tolerance_us, clipped to [start_us, end_us), and
 * lists the gaps. Pure. Returns 0, VG_EINVAL (end <= start) or VG_ENOMEM.
 * Free with vg_playback_spans_clear(). */
int vg_playback_merge(const vg_playback_range_t *ranges, int count, int64_t start_us, int64_t end_us,
                      int64_t tolerance_us, vg_playback_spans_t *out);
/* The spans and gaps of camera in [start_us, end_us), from the index. */
int vg_playback_spans(vg_rec_index_t *ix, const char *camera, int64_t start_us, int64_t end_us,
                      int64_t tolerance_us, vg_playback_spans_t *out);
void vg_playback_spans_clear(vg_playback_spans_t *s);

/* Appends to out an HLS VOD playlist (version 7, fMP4) of camera's footage
 * in [start_us, end_us): per segment file an EXT-X-MAP (its init segment,
 * the bytes before its first fragment) and media segments that each start
 * on a fragment beginning with a keyframe and run to the next such
 * fragment, as EXT-X-BYTERANGEs of uri_prefix + "<segment id>" + uri_suffix;
 * EXT-X-DISCONTINUITY between files, EXT-X-PROGRAM-DATE-TIME on every media
 * segment. Returns the number of media segments, VG_ENOTFOUND when there is
 * no footage in the range, VG_ETOOBIG (too many segments), or an index
 * error. */
int vg_playback_playlist(vg_rec_index_t *ix, const char *camera, int64_t start_us, int64_t end_us,
                         const char *uri_prefix, const char *uri_suffix, int shift_timeline,
                         vg_strbuf_t *out);

/* ---- segment files for the file route ---- */

/* Each file's timeline starts at 0, so consecutive files of a playlist
 * would go back in time at every EXT-X-DISCONTINUITY; hls.js copes, but
 * FFmpeg's HLS demuxer drops the first fragment after such a jump. With
 * shift_timeline, a playlist's media segment URIs carry "?shift_us=N" (N =
 * the file's start minus the first file's start), and the file route
 * serves the file with every tfdt moved N microseconds later (in each
 * track's timescale): the same bytes otherwise, the same length, so byte
 * ranges stay valid, and the playlist plays on one continuous timeline. */
typedef struct vg_playback_file vg_playback_file_t;

/* Opens segment id's file for serving, its tfdt shifted by shift_us (>= 0;
 * 0: the file as it is). Its servable size is the file's size, or only the
 * indexed bytes while the segment is still being written. Returns 0,
 * VG_ENOENT (no such segment, or its file is gone), VG_ERANGE. */
int vg_playback_file_open(vg_rec_index_t *ix, int64_t segment_id, int64_t shift_us, vg_playback_file_t **out);
uint64_t vg_playback_file_size(const vg_playback_file_t *f);
/* A strong validator of the bytes served (file, size, mtime and shift), quoted. */
const char *vg_playback_file_etag(const vg_playback_file_t *f);
/* Prepares the shift for the fragments that overlap bytes [first, end)
 * (those reads may then return): call once before reading; a no-op
 * without a shift. Returns 0, VG_ERANGE (a 32-bit tfdt would overflow), or
 * a read/parse error. */
int vg_playback_file_prepare(vg_playback_file_t *f, vg_rec_index_t *ix, uint64_t first, uint64_t end);
/* Copies up to cap bytes (at most VG_PLAYBACK_READ_CHUNK) from offset.
 * Returns the count (0 at the servable end) or VG_EIO when the file is
 * shorter than it was. */
long vg_playback_file_read(vg_playback_file_t *f, uint64_t offset, uint8_t *dst, size_t cap);
void vg_playback_file_free(vg_playback_file_t **f);

/* ---- clip export ---- */

typedef struct vg_playback_clip vg_playback_clip_t;

typedef struct {
  uint64_t size;          /* total bytes of the MP4 */
  int64_t start_us;       /* UTC of the first keyframe (the clip's time zero) */
  int64_t end_us;         /* UTC where its last sample ends */
  int64_t cut_us;         /* 0, or where the clip was cut short (track change, missing file) */
  const char *cut_reason; /* static text when cut_us != 0 */
  int files;              /* segment files it reads */
  uint32_t samples;       /* samples of all tracks */
  char etag[40];          /* a strong validator of the clip's exact bytes, quoted */
} vg_playback_clip_info_t;

/* Plans a clip of camera's footage in [start_us, end_us): reads the index,
 * each segment file's moov and the moofs of the fragments in range, and
 * builds the header. Returns 0 and *out; VG_ENOTFOUND when there is no
 * keyframe and footage in the range; VG_ETOOBIG over the limits above;
 * VG_EIO or a parse error when a needed file is unreadable (a file
 * missing at the start of the range is skipped, later the clip is cut). */
int vg_playback_clip_open(vg_rec_index_t *ix, const char *camera, int64_t start_us, int64_t end_us,
                          vg_playback_clip_t **out);
const vg_playback_clip_info_t *vg_playback_clip_info(const vg_playback_clip_t *clip);
/* Copies up to cap bytes of the clip from byte offset into dst, reading at
 * most VG_PLAYBACK_READ_CHUNK bytes from a file per call. Returns the count
 * (> 0; 0 at the end), or VG_EIO/VG_EPROTO when a file changed under it
 * (shorter than indexed, deleted). */
long vg_playback_clip_read(vg_playback_clip_t *clip, uint64_t offset, uint8_t *dst, size_t cap);
/* Closes the clip's files and frees it; *clip = NULL. */
void vg_playback_clip_free(vg_playback_clip_t **clip);

/* Joins root and path (relative, no ".." component, no leading '/') into
 * out. Returns the length, VG_EINVAL for an unsafe path, VG_ETOOBIG. */
int vg_playback_file_path(const char *root, const char *path, char *out, size_t size);

#endif
