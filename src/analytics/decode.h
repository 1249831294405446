/*
 * decode.h: the analytics decode stage: one camera's video access units
 * decoded with libavcodec (software, one thread per decoder: the pool runs
 * many cameras in parallel instead) and scaled with libswscale to the
 * detect size, as RGB for the detector and a luma plane for motion and
 * tamper detection.
 *
 * Internal to src/analytics. A decoder belongs to one camera and is used by
 * one thread at a time (the pool thread running that camera).
 */
#ifndef VG_ANALYTICS_DECODE_H
#define VG_ANALYTICS_DECODE_H

#include <stdint.h>

#include "infer/detect.h"
#include "media/frame.h"
#include "media/track.h"

typedef struct vg_vdec vg_vdec_t;

/* Opens a decoder for a video track (H.264, H.265 or JPEG; its extradata is
 * copied) whose pictures are scaled to detect_width (never up; the height
 * keeps the aspect ratio, both even). VG_EUNSUPPORTED for other codecs. */
int vg_vdec_open(const vg_track_t *track, int detect_width, vg_vdec_t **out);
void vg_vdec_close(vg_vdec_t **d);

/* Decodes one access unit (vigil's length-prefixed form). Returns 1 when a
 * picture is ready for vg_vdec_picture(), 0 when none came out, or a
 * negative error for a broken unit (the caller resynchronizes at the next
 * keyframe). */
int vg_vdec_decode(vg_vdec_t *d, const vg_frame_t *f);
/* Forgets references (after skipped frames); the next unit should be a keyframe. */
void vg_vdec_flush(vg_vdec_t *d);

/* Scales the last picture: rgb is a new image (the caller owns it; for the
 * inference server) and *luma points to the decoder's own plane of the same
 * size (stride = width), valid until the next call. */
int vg_vdec_picture(vg_vdec_t *d, vg_image_t *rgb, const uint8_t **luma);

#endif
