/*
 * motion.h: motion detection on a camera's luma plane.
 *
 * Each frame is box-averaged down to a small working grid (work_width
 * columns, the height keeping the aspect ratio) and blurred, compared with a
 * background model (a running average, in 8.8 fixed point), thresholded,
 * cleaned by a morphological opening (removes isolated noise pixels),
 * masked, and cut into connected components (blobs). Blobs of at least
 * min_area become motion boxes in source pixels; boxes closer than
 * merge_gap are merged and padded into regions for the detector.
 *
 * Ghosts: where the background was learned with an object in it (vigil
 * started while a person stood in the picture), the object's absence is a
 * difference that never moves. A per-cell counter of consecutive
 * foreground frames without change absorbs such cells into the background
 * after absorb_frames frames.
 *
 * A global lighting change is not motion. A uniform brightness shift (the
 * median difference to the background) is subtracted before thresholding,
 * so it never shows; when even so at least lighting_fraction of the frame
 * changed at once (a light switched, the exposure jumped), the frame gives
 * no boxes and the background is re-learned from it. Both are reported as
 * lighting_change.
 *
 * active has hysteresis: it turns on after on_frames consecutive frames with
 * at least on_fraction of the unmasked area moving, and off after off_frames
 * frames below off_fraction.
 *
 * A vg_motion_t belongs to one camera and is used by one thread at a time.
 * Its buffers are allocated at the first frame (and again only if the
 * frame size changes); later frames allocate nothing. Deterministic.
 */
#ifndef VG_VISION_MOTION_H
#define VG_VISION_MOTION_H

#include <stdbool.h>
#include <stdint.h>

#include "vision/geom.h"

#define VG_MOTION_MAX_MASKS 16
#define VG_MOTION_MAX_BOXES 64
#define VG_MOTION_MAX_REGIONS 16

typedef struct {
  int work_width;          /* working grid width, 64..640 (default 256) */
  int threshold;           /* luma difference (0..255) that counts as change (default 18) */
  float learn_rate;        /* background running-average weight per frame, 0.001..1 (default 0.04) */
  float min_area;          /* smallest blob kept, fraction of the frame area (default 0.0008) */
  float merge_gap;         /* boxes closer than this fraction of the frame width merge (default 0.03) */
  float region_pad;        /* regions grow by this fraction of their size on each side (default 0.15) */
  float lighting_fraction; /* at least this fraction changed, uniformly, = lighting (default 0.55) */
  float on_fraction;       /* moving fraction that counts toward active (default 0.002) */
  float off_fraction;      /* below this counts toward inactive (default 0.001) */
  int on_frames;           /* default 2 */
  int off_frames;          /* default 10 */
  /* Foreground that stays unchanged for this many frames joins the
   * background at once (a ghost of what stood there when the background
   * was learned, or an object that stays); 0 = only the slow learning.
   * 0..60000 (default 25: five seconds at 5 fps). */
  int absorb_frames;
  int n_masks; /* polygons (normalized) where motion is ignored */
  vg_polygon_t masks[VG_MOTION_MAX_MASKS];
} vg_motion_config_t;

typedef struct {
  int n_boxes; /* blobs, in source pixels, largest first */
  vg_rect_t boxes[VG_MOTION_MAX_BOXES];
  int n_regions; /* merged, padded, clamped boxes for the detector */
  vg_rect_t regions[VG_MOTION_MAX_REGIONS];
  float fraction;       /* fraction of the unmasked area that changed, after cleaning */
  bool active;          /* with hysteresis */
  bool lighting_change; /* a global change: a compensated shift, or a reset (no boxes) */
  bool warming_up;      /* the background is still being learned (first frames, no boxes) */
} vg_motion_result_t;

typedef struct vg_motion vg_motion_t;

void vg_motion_config_default(vg_motion_config_t *cfg);

/* Creates a detector with a copy of cfg. VG_EINVAL on out-of-range values. */
int vg_motion_create(const vg_motion_config_t *cfg, vg_motion_t **out);
/* Frees *m and sets it to NULL; NULL is fine. */
void vg_motion_destroy(vg_motion_t **m);
/* Forgets the background (e.g. after a camera reconnects). */
void vg_motion_reset(vg_motion_t *m);

/* Analyses one 8-bit luma plane of width x height pixels (stride bytes per
 * row, width >= 16, height >= 16). The first frames only learn the
 * background. Returns 0, VG_EINVAL, or VG_ENOMEM (first frame or a new
 * size). */
int vg_motion_process(vg_motion_t *m, const uint8_t *luma, int width, int height, int stride,
                      vg_motion_result_t *out);

/* The working grid's last foreground mask (255 = moving), for debugging and
 * tests: *w, *h receive its size. NULL before the first frame. */
const uint8_t *vg_motion_mask(const vg_motion_t *m, int *w, int *h);

#endif
