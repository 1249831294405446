/*
 * mp4_reader.h: a bounded, sans-I/O reader of ISO BMFF files: our own
 * fragmented MP4 segments (media/fmp4.h) and any other MP4 with the usual
 * boxes (ftyp, moov/trak/mdia/minf/stbl, mvex/trex, moof/mfhd/traf/tfhd/
 * tfdt/trun, mdat).
 *
 * Users: recovery (record/, rec-index) walks a segment file to find its
 * fragments and where a truncated fragment begins; playback (VOD playlists,
 * clip export) needs each fragment's samples (size, duration, composition
 * offset, sync flag, byte offset in the file) and each track's sample entry.
 *
 * Two layers:
 *  - Pure parsers over bytes the caller holds: vg_mp4_box_header() for one
 *    box header, vg_mp4_parse_init() for the init segment (a buffer holding
 *    ftyp/moov, i.e. the file's start up to the end of moov), and
 *    vg_mp4_parse_moof() for one whole moof box.
 *  - A walker over a read callback (vg_mp4_source_t): vg_mp4_read_init()
 *    and vg_mp4_next_fragment() read only box headers, the moov and each
 *    moof; mdat payloads are skipped, never read. A file of any length is
 *    thus walked with memory bounded by VG_MP4_MAX_MOOV_BYTES and
 *    VG_MP4_MAX_MOOF_BYTES, in reads of box size (headers are 16 bytes).
 *
 * Untrusted input: every box size (32-bit, 64-bit largesize, or 0 = "to
 * the end") is checked against its parent and the input; nesting is at most
 * VG_MP4_MAX_DEPTH deep; sample counts are limited (VG_MP4_MAX_FRAGMENT_SAMPLES
 * per fragment, VG_MP4_MAX_TABLE_SAMPLES in a progressive file's tables) and checked
 * against the bytes that would describe them before anything is allocated.
 * Errors: VG_EPROTO (malformed), VG_ETOOBIG (over a limit), VG_EINCOMPLETE
 * (the input ends inside a box), VG_EUNSUPPORTED (a feature we refuse, e.g.
 * an encrypted or unknown-version box we need), VG_ENOMEM, and the read
 * callback's own errors. Nothing is ever read past the input.
 *
 * Times are in the track's timescale (mdhd). Sample byte offsets are
 * absolute offsets in the file.
 *
 * Threads: no global state; a vg_mp4_init_t or vg_mp4_fragment_t belongs to
 * the thread that filled it (read-only sharing is fine).
 */
#ifndef VG_MEDIA_MP4_READER_H
#define VG_MEDIA_MP4_READER_H

#include <stddef.h>
#include <stdint.h>

#include "media/track.h"

#define VG_MP4_MAX_DEPTH 10                 /* box nesting levels */
#define VG_MP4_MAX_TRACKS 8                 /* tracks per file */
#define VG_MP4_MAX_MOOV_BYTES (64u << 20)   /* moov (progressive files carry sample tables) */
#define VG_MP4_MAX_MOOF_BYTES (8u << 20)    /* one moof */
#define VG_MP4_MAX_FRAGMENT_SAMPLES 65536   /* all trafs of one moof together */
#define VG_MP4_MAX_TABLE_SAMPLES (1u << 21) /* stbl sample tables of all tracks of a file together */
#define VG_MP4_MAX_SAMPLE_ENTRY_BYTES 65536 /* one stsd entry (avc1 + avcC ...) */

/* FourCC as a big-endian number: VG_MP4_FOURCC('m','o','o','v'). */
#define VG_MP4_FOURCC(a, b, c, d)                                                                            \
  (((uint32_t)(uint8_t)(a) << 24) | ((uint32_t)(uint8_t)(b) << 16) | ((uint32_t)(uint8_t)(c) << 8) |         \
   (uint8_t)(d))

/* One box header. */
typedef struct {
  uint32_t type;    /* FourCC */
  uint8_t uuid[16]; /* for type 'uuid' */
  uint32_t header;  /* bytes of the header: 8, 16 (largesize) or +16 for uuid */
  uint64_t size;    /* whole box including the header */
  int to_end;       /* size was 0: the box runs to the end of its container/file */
} vg_mp4_box_t;

/* One sample. */
typedef struct {
  uint64_t offset;      /* absolute byte offset of the sample's data in the file */
  uint64_t decode_time; /* in the track's timescale */
  uint32_t size;
  uint32_t duration;
  int32_t composition_offset; /* pts - dts */
  uint8_t sync;               /* a random access point (keyframe) */
} vg_mp4_sample_t;

/* One track of the moov. */
typedef struct {
  uint32_t track_id;
  uint32_t handler;          /* hdlr type: 'vide', 'soun', ... */
  vg_codec_t codec;          /* VG_CODEC_NONE when the sample entry is unknown to vigil */
  uint32_t fourcc;           /* sample entry type: 'avc1', 'hvc1', 'mp4a', ... */
  uint32_t timescale;        /* mdhd */
  uint64_t duration;         /* mdhd, in timescale (0 in fragmented files) */
  int width, height;         /* visual sample entry, 0 otherwise */
  int sample_rate, channels; /* audio sample entry, 0 otherwise */
  /* The whole stsd entry box (header included), to copy into another file's
   * stsd unchanged; and the codec configuration inside it: the avcC/hvcC
   * body, or the AAC AudioSpecificConfig from esds. Both owned. */
  uint8_t *sample_entry;
  size_t sample_entry_size;
  uint8_t *config;
  size_t config_size;
  /* trex defaults (fragmented files) */
  uint32_t default_sample_duration, default_sample_size, default_sample_flags;
  /* First edit of an elst, when present: media time where presentation
   * starts (-1 = empty edit) and its duration in the movie timescale. */
  int has_edit;
  int64_t edit_media_time;
  uint64_t edit_duration;
  /* Progressive files only: the samples the stbl tables describe (owned;
   * NULL/0 in fragmented files, whose stbl is empty). */
  vg_mp4_sample_t *samples;
  uint32_t sample_count;
} vg_mp4_track_t;

typedef struct {
  uint32_t major_brand;
  uint32_t movie_timescale; /* mvhd */
  uint64_t movie_duration;
  int fragmented; /* moov has mvex */
  int track_count;
  vg_mp4_track_t tracks[VG_MP4_MAX_TRACKS];
  /* Set by vg_mp4_read_init(): where the moov box ends in the file. The init
   * segment is bytes [0, moov_end) (ftyp + moov and anything between). */
  uint64_t moov_offset, moov_end;
} vg_mp4_init_t;

/* One track's run of samples in a fragment. */
typedef struct {
  uint32_t track_id;
  int track;                 /* index into vg_mp4_init_t.tracks, -1 when the moov does not know it */
  uint64_t base_decode_time; /* tfdt, or 0 when absent */
  /* Where the tfdt's baseMediaDecodeTime lies in the file (0 when the traf
   * has no tfdt) and its width, 4 or 8 bytes: playback rewrites it to put
   * files on one timeline. */
  uint64_t tfdt_offset;
  uint8_t tfdt_size;
  vg_mp4_sample_t *samples; /* points into vg_mp4_fragment_t.samples */
  uint32_t sample_count;
} vg_mp4_traf_t;

/* One fragment: a moof and the mdat(s) that follow it. */
typedef struct {
  uint64_t offset; /* of the moof in the file */
  uint64_t moof_size;
  uint64_t size;     /* moof + following boxes up to the next moof or the end (set by the walker) */
  uint32_t sequence; /* mfhd */
  int traf_count;
  vg_mp4_traf_t trafs[VG_MP4_MAX_TRACKS];
  vg_mp4_sample_t *samples; /* owned, all trafs in order */
  uint32_t sample_count;
  /* Summary of the main track (the first video traf, else the first traf):
   * what an index stores. Times in that track's timescale. */
  int main_traf;      /* index into trafs, -1 when no traf has samples */
  uint32_t timescale; /* of the main track, 0 when unknown */
  uint64_t start_time;
  uint64_t duration; /* sum of its sample durations */
  int keyframe;      /* its first sample is a sync sample */
  uint64_t data_end; /* end of the last sample's bytes (absolute) */
} vg_mp4_fragment_t;

/* Parses the box header at p[0..len). avail is how many bytes the box may
 * span from p (the rest of its parent or of the file); a size-0 box gets
 * size = avail. Returns 0; VG_EINCOMPLETE when len is too short for the
 * header; VG_EPROTO when the size is smaller than the header. A size larger
 * than avail is returned as is (the caller decides: VG_EPROTO inside a parent,
 * truncation at the top level of a file). */
int vg_mp4_box_header(const uint8_t *p, size_t len, uint64_t avail, vg_mp4_box_t *out);

/* Parses the top-level boxes in data[0..len) (normally the file's first
 * bytes up to the end of moov) and fills out from the moov. out is
 * overwritten (call vg_mp4_init_clear() after a success). Returns 0,
 * VG_EINCOMPLETE (moov not whole within data), VG_ENOTFOUND (no moov before a
 * moof/mdat or the end), VG_EPROTO, VG_ETOOBIG, VG_ENOMEM. On failure out
 * holds nothing to free. */
int vg_mp4_parse_init(const uint8_t *data, size_t len, vg_mp4_init_t *out);
void vg_mp4_init_clear(vg_mp4_init_t *init);

/* Parses one whole moof box at moof[0..len) that lies at file offset
 * moof_offset; init gives the trex defaults and timescales. Sample offsets
 * are made absolute. Returns 0, VG_EPROTO, VG_ETOOBIG, VG_EINCOMPLETE (len
 * shorter than the box), VG_ENOMEM. out->size is set to moof_size (the
 * walker extends it over the mdat). On failure out holds nothing to free. */
int vg_mp4_parse_moof(const vg_mp4_init_t *init, const uint8_t *moof, size_t len, uint64_t moof_offset,
                      vg_mp4_fragment_t *out);
void vg_mp4_fragment_clear(vg_mp4_fragment_t *f);

/* ---- walking a file through a read callback ---- */

/* Reads up to len bytes at offset into dst. Returns the number read (less
 * than len only at the end of the file), or a negative VG_E* error. */
typedef long (*vg_mp4_read_fn)(void *opaque, uint64_t offset, uint8_t *dst, size_t len);

typedef struct {
  vg_mp4_read_fn read;
  void *opaque;
  uint64_t size; /* the file's size in bytes */
} vg_mp4_source_t;

/* A vg_mp4_read_fn over a file descriptor (opaque points to an int fd):
 * pread() until len bytes or the end. For callers that hold an fd. */
long vg_mp4_read_fd(void *opaque, uint64_t offset, uint8_t *dst, size_t len);

/* Reads the top-level boxes from offset 0 until the moov and parses it;
 * sets out->moov_offset and out->moov_end. Returns 0, VG_EINCOMPLETE (the
 * file ends before the moov is whole), VG_ENOTFOUND, or a parse/read
 * error. */
int vg_mp4_read_init(const vg_mp4_source_t *src, vg_mp4_init_t *out);

/* Finds the next fragment at or after *offset (skipping styp, sidx, free,
 * and other non-moof boxes), reads and parses its moof, and walks the
 * boxes after it up to the next moof or the end of the file. On success
 * fills out (vg_mp4_fragment_clear() it later) and advances *offset past
 * the fragment. Returns:
 *   0               a whole fragment (every sample's bytes lie inside the file);
 *   VG_ENODATA      no more fragments: the file ends cleanly at *offset;
 *   VG_EINCOMPLETE  the file is truncated: *offset is where the incomplete
 *                   box (or the fragment whose samples run past the end)
 *                   begins, i.e. where a recovery would cut the file;
 *   VG_EPROTO, VG_ETOOBIG, VG_ENOMEM or the read callback's error, with
 *                   *offset at the offending box.
 * Start with *offset = init->moov_end. */
int vg_mp4_next_fragment(const vg_mp4_source_t *src, const vg_mp4_init_t *init, uint64_t *offset,
                         vg_mp4_fragment_t *out);

/* The track index (into init->tracks) with track_id, or -1. */
int vg_mp4_track_index(const vg_mp4_init_t *init, uint32_t track_id);
/* The index of the first video track ('vide' handler), or -1. */
int vg_mp4_video_track(const vg_mp4_init_t *init);

#endif
