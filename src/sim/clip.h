/*
 * clip.h: camsim's encoded clip, the media every simulated camera loops.
 *
 * A clip is encoded once at start-up (libavcodec: libx264 or libx265, no
 * B-frames so that presentation order is decode order), from camsim's own
 * test pattern or from a video file, plus an optional generated tone (AAC
 * or G.711 mu-law). The result stays in memory as a time-ordered list of
 * frames in vigil's byte formats (track.h): every camera pushes references
 * to the same buffers, so a thousand cameras cost one clip's memory.
 *
 * The clip's video starts with a keyframe and has one every `gop` frames;
 * its length is rounded up to whole GOPs so keyframes stay regular across a
 * loop. Every track has a loop period in its own clock (period_pts), which
 * is what a player adds per loop to keep timestamps increasing.
 *
 * With a cache directory, an encoded clip is saved there under a name
 * derived from its parameters (and the source file's size and time) and
 * read back by the next start with the same parameters instead of encoding
 * again. The file is checked like any untrusted input (vg_clip_parse).
 *
 * Ownership: vg_clip_encode() returns a clip the caller frees with
 * vg_clip_free() once no player uses it. A finished clip is read-only and
 * may be read from any thread. Encoding blocks for as long as it takes (a
 * second or so for 4 s of 1080p H.264); call it before the workers run.
 */
#ifndef VG_SIM_CLIP_H
#define VG_SIM_CLIP_H

#include <stddef.h>
#include <stdint.h>

#include "media/frame.h"
#include "media/track.h"

typedef struct {
  vg_codec_t codec;      /* VG_CODEC_H264 or VG_CODEC_H265 */
  int width, height;     /* even, 16..8192 */
  int fps;               /* 1..120 */
  int bitrate_kbps;      /* target video bitrate */
  int gop;               /* frames from one keyframe to the next, >= 1 */
  double duration_s;     /* clip length to encode (rounded up to whole GOPs) */
  const char *source;    /* NULL or "pattern": the test pattern; otherwise a video file */
  vg_codec_t audio;      /* VG_CODEC_NONE, VG_CODEC_AAC or VG_CODEC_PCMU */
  const char *cache_dir; /* NULL: no cache; else where encoded clips are kept */
} vg_clip_params_t;

/* 1920x1080 H.264, 25 fps, 2000 kb/s, GOP 50, 4 s, pattern, no audio, no cache. */
void vg_clip_params_defaults(vg_clip_params_t *p);

typedef struct {
  vg_frame_t frame; /* buf/data/len/flags/track; pts from the clip start in the track's clock */
  int64_t time_us;  /* when it is due, from the clip start */
} vg_clip_frame_t;

typedef struct {
  vg_track_t tracks[VG_MAX_TRACKS]; /* [0] video, [1] audio if any */
  int track_count;
  vg_clip_frame_t *frames; /* all tracks, ordered by time_us */
  size_t frame_count;
  int video_frames;
  int64_t period_us;                 /* loop length */
  int64_t period_pts[VG_MAX_TRACKS]; /* loop length in each track's clock */
  uint64_t bytes;                    /* all frames' bytes */
  double encode_s;                   /* how long encoding (or reading the cache) took */
  int from_cache;                    /* read from the cache directory */
} vg_clip_t;

/* Encodes a clip. Returns 0 and *out, VG_EINVAL for bad parameters,
 * VG_ENOENT / VG_EUNSUPPORTED when the source file cannot be opened or has
 * no video, VG_EUNSUPPORTED when an encoder is missing, VG_ENOMEM, or
 * VG_EIO for an encoder failure (logged). */
int vg_clip_encode(const vg_clip_params_t *p, vg_clip_t **out);
/* The cache: save writes path atomically (temporary file, then rename);
 * load reads a regular file owned by this user. key describes the
 * parameters; a file saved under another key is VG_ENOENT. Both return 0 or
 * a negative error; a malformed file is VG_EPROTO. */
int vg_clip_save(const vg_clip_t *clip, const char *path, const char *key);
int vg_clip_load(const char *path, const char *key, vg_clip_t **out);
/* Parses a saved clip from memory (bounded; for vg_clip_load and fuzzing).
 * key NULL accepts any key. */
int vg_clip_parse(const uint8_t *data, size_t len, const char *key, vg_clip_t **out);
/* Frees the clip (dropping its frame references) and sets *clip = NULL. */
void vg_clip_free(vg_clip_t **clip);

#endif
