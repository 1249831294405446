/*
 * vdec.h: the one libavcodec video decoder wrapper, shared by analytics
 * (every camera's analysed stream) and event evidence (a snapshot's
 * picture): vigil's length-prefixed access units in, pictures out in
 * system memory, scaled to RGB24 (and a luma plane) with libswscale.
 *
 * Hardware decoding: a decoder is opened with an hwaccel choice. "none"
 * decodes in software; "vaapi" and "cuda" open a libavutil hardware device
 * (av_hwdevice_ctx_create) for libavcodec's own decoder; "v4l2m2m" uses the
 * *_v4l2m2m decoders; "auto" tries vaapi, cuda and v4l2m2m in that order.
 * Whatever cannot be had (no device, no driver, a codec or profile the
 * hardware lacks, a failure on the first unit) falls back to software, and
 * the decoder says which backend it uses and why it is not the one asked
 * for (vg_vdec_backend, vg_vdec_fallback): the caller logs it. Hardware
 * pictures are copied to system memory (av_hwframe_transfer_data) only when
 * one is scaled, not for every decoded unit.
 *
 * A decoder belongs to its caller and is used by one thread at a time; the
 * functions without a decoder (vg_hwaccel_*) are pure and any thread's.
 */
#ifndef VG_MEDIA_VDEC_H
#define VG_MEDIA_VDEC_H

#include <stdbool.h>
#include <stdint.h>

#include "media/frame.h"
#include "media/track.h"

typedef enum {
  VG_HWACCEL_AUTO = 0, /* vaapi, cuda, v4l2m2m, then software */
  VG_HWACCEL_NONE,     /* software only */
  VG_HWACCEL_VAAPI,
  VG_HWACCEL_CUDA, /* NVDEC through libavcodec's CUDA hwaccel */
  VG_HWACCEL_V4L2M2M,
} vg_hwaccel_t;

/* "auto", "none", "vaapi", "cuda", "v4l2m2m" to the enum; VG_EINVAL for
 * anything else. */
int vg_hwaccel_parse(const char *name, vg_hwaccel_t *out);
const char *vg_hwaccel_name(vg_hwaccel_t h);

typedef struct vg_vdec vg_vdec_t;

typedef struct {
  vg_hwaccel_t hwaccel;
  bool fast; /* libavcodec's non-spec-compliant speedups (AV_CODEC_FLAG2_FAST) */
} vg_vdec_opts_t;

/* Opens a decoder for a video track (H.264, H.265 or JPEG; its extradata
 * is copied). opts NULL: software, no speedups. VG_EUNSUPPORTED for other
 * codecs or when not even the software decoder opens. */
int vg_vdec_open(const vg_track_t *track, const vg_vdec_opts_t *opts, vg_vdec_t **out);
void vg_vdec_close(vg_vdec_t **d);

/* The backend in use: "software", "vaapi", "cuda" or "v4l2m2m". */
const char *vg_vdec_backend(const vg_vdec_t *d);
/* Why the asked-for hardware is not in use ("" when it is, or when none
 * was asked), e.g. "vaapi: No such file or directory". */
const char *vg_vdec_fallback(const vg_vdec_t *d);

/* Decodes one access unit (vigil's length-prefixed form). Returns 1 when a
 * picture is ready for vg_vdec_picture(), 0 when none came out, or a
 * negative error for a broken unit (the caller resynchronizes at the next
 * keyframe). */
int vg_vdec_decode(vg_vdec_t *d, const vg_frame_t *f);
/* Forgets references (after skipped frames); the next unit should be a keyframe. */
void vg_vdec_flush(vg_vdec_t *d);

/* Scales the newest picture to at most max_width (0: its own size; never
 * up; a smaller height keeps the aspect ratio, both even) as RGB24: *rgb is
 * new memory the caller frees, stride 3 * width. When luma is not NULL,
 * *luma points to the decoder's own BT.601 luma plane of the same size
 * (stride = width), valid until the next call. VG_ENODATA when no picture
 * came out yet, VG_EPROTO for a picture too small or too large (over
 * 8192 x 8192). */
int vg_vdec_picture(vg_vdec_t *d, int max_width, int *width, int *height, uint8_t **rgb,
                    const uint8_t **luma);

#endif
