/*
 * tamper.h: camera tamper detection from the luma plane.
 *
 * Each frame is box-averaged to a small grid (work_width columns). Three
 * conditions are tested, each must hold for persist_s before it is raised
 * and must be absent for clear_s before it is cleared:
 *  - covered:   the picture is nearly uniform (standard deviation below
 *               covered_stddev), whatever its brightness: a hand, tape,
 *               spray paint, a lens cap or a blinding light.
 *  - defocused: sharpness (the variance of the Laplacian) falls below
 *               defocus_ratio times its learned baseline.
 *  - moved:     the scene differs from a slowly learned reference: the
 *               normalized correlation of the grid's edge-magnitude
 *               signatures falls below 1 - moved_threshold.
 * The baseline sharpness and the reference learn only while no condition
 * is pending or raised, so a tampered view is never learned as normal
 * unless it lasts relearn_s (then it becomes the new normal and the
 * condition clears: a camera moved on purpose stops alarming).
 *
 * One vg_tamper_t per camera, used by one thread at a time. Buffers are
 * allocated at the first frame (or a new size). Deterministic.
 */
#ifndef VG_VISION_TAMPER_H
#define VG_VISION_TAMPER_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
  VG_TAMPER_COVERED = 0,
  VG_TAMPER_DEFOCUSED,
  VG_TAMPER_MOVED,
  VG_TAMPER_KINDS
} vg_tamper_kind_t;

typedef struct {
  bool enabled;          /* default true */
  int work_width;        /* 32..320 (default 96) */
  float covered_stddev;  /* luma standard deviation below which the view is covered (default 6) */
  float defocus_ratio;   /* sharpness below this fraction of the baseline = defocused (default 0.3) */
  float moved_threshold; /* 1 - correlation above this = moved (default 0.5) */
  float learn_s;         /* time constant of the baseline and reference, seconds (default 60) */
  float warmup_s;        /* learning time before any test runs (default 3) */
  float persist_s;       /* a condition must hold this long to be raised (default 5) */
  float clear_s;         /* and be absent this long to be cleared (default 3) */
  float relearn_s; /* a raised moved/defocused condition lasting this long becomes normal; 0 = never (default
                      0) */
} vg_tamper_config_t;

/* A change of one condition. */
typedef struct {
  vg_tamper_kind_t kind;
  bool raised; /* true: raised, false: cleared */
  int64_t ts_us;
} vg_tamper_event_t;

typedef struct {
  bool state[VG_TAMPER_KINDS]; /* currently raised */
  int n_events;                /* changes in this frame */
  vg_tamper_event_t events[VG_TAMPER_KINDS * 2];
  /* Measurements, for tuning and tests. */
  float stddev, sharpness, baseline_sharpness, correlation;
  bool warming_up;
} vg_tamper_result_t;

typedef struct vg_tamper vg_tamper_t;

void vg_tamper_config_default(vg_tamper_config_t *cfg);
int vg_tamper_create(const vg_tamper_config_t *cfg, vg_tamper_t **out);
void vg_tamper_destroy(vg_tamper_t **t);
void vg_tamper_reset(vg_tamper_t *t);
/* Analyses one luma plane taken at ts_us. Returns 0, VG_EINVAL, VG_ENOMEM. */
int vg_tamper_process(vg_tamper_t *t, const uint8_t *luma, int width, int height, int stride, int64_t ts_us,
                      vg_tamper_result_t *out);

/* "covered", "defocused", "moved". */
const char *vg_tamper_kind_name(vg_tamper_kind_t kind);

#endif
