/*
 * analyser.h: one camera's picture analysis: motion and tamper on the luma
 * plane, then detections -> per-class filter -> tracker -> virtual sensors,
 * giving frame metadata and triggers in the bus's plain forms
 * (analytics.h). This is the one file that binds src/vision; the rest of
 * the pipeline (decode, scheduling, the hub) never sees vision types.
 *
 * Internal to src/analytics. One analyser per camera, used by one thread at
 * a time (the pool thread running the camera).
 */
#ifndef VG_ANALYTICS_ANALYSER_H
#define VG_ANALYTICS_ANALYSER_H

#include <stdbool.h>
#include <stdint.h>

#include "analytics/analytics.h"
#include "infer/detect.h"
#include "vision/geom.h"

typedef struct vg_analyser vg_analyser_t;

#define VG_ANALYSER_MAX_REGIONS 16

typedef struct {
  bool active;    /* motion, with hysteresis */
  bool moving;    /* this frame has motion boxes */
  float fraction; /* moving fraction of the picture */
  int n_regions;  /* merged motion regions, pixels of the analysed picture */
  vg_rect_t regions[VG_ANALYSER_MAX_REGIONS];
} vg_analyser_motion_t;

/* vision_cfg: the camera's vg_analytics_config_t from vision's parser (NULL:
 * defaults). Returns 0, VG_EINVAL (inconsistent sensors) or VG_ENOMEM. */
int vg_analyser_create(const char *camera, const void *vision_cfg, vg_analyser_t **out);
void vg_analyser_destroy(vg_analyser_t **a);
/* A configuration change: a (new, not used yet) takes over from's motion,
 * tamper and tracker state wherever their parameters are the same in both,
 * so background, baselines and tracks (their ids) survive; the sensors
 * stay a's own, fresh. from is then only fit for destroying. */
void vg_analyser_adopt(vg_analyser_t *a, vg_analyser_t *from);
/* A new stream (reconnect, new tracks): forget the background. */
void vg_analyser_reset(vg_analyser_t *a);

/* Motion and tamper on one luma plane (stride = w) taken at ts_us (UTC).
 * Tamper changes become pending triggers. */
int vg_analyser_frame(vg_analyser_t *a, const uint8_t *luma, int w, int h, int64_t ts_us,
                      vg_analyser_motion_t *out);
/* Live tracks (confirmed or not), and their boxes in pixels (boxes NULL:
 * just the count). */
int vg_analyser_tracks(const vg_analyser_t *a, vg_box_t *boxes, int max);
int vg_analyser_confirmed(const vg_analyser_t *a);
/* The same boxes with each track's id and whether it may be parked
 * between stationary checks: confirmed, stationary and seen in the last
 * frame that looked for it (a stationary track that missed a check is
 * looked for on every frame until it is found again or ages out). */
int vg_analyser_track_list(const vg_analyser_t *a, vg_box_t *boxes, uint32_t *ids, bool *parkable, int max);

/* One detector result for the picture of w x h pixels taken at ts_us:
 * filters dets (in place), updates the tracker and the sensors, fills meta
 * (all but camera/pts/utc/motion, which the caller knows) and queues the
 * triggers. Returns 0 or a negative error. */
int vg_analyser_detections(vg_analyser_t *a, vg_detection_t *dets, int n, int w, int h, int64_t ts_us,
                           vg_analytics_meta_t *meta);
/* The same where the n_held tracks in held (parked stationary objects) were
 * not looked for: the tracker holds them where they stand without a miss,
 * and the sensors see them there (a stationary object is where it was), so
 * zone presence and loitering go on between checks. With n = 0 and every
 * track held this is the update of a frame the detector did not run on. */
int vg_analyser_detections_held(vg_analyser_t *a, vg_detection_t *dets, int n, int w, int h, int64_t ts_us,
                                const uint32_t *held, int n_held, vg_analytics_meta_t *meta);
/* Moves up to max pending triggers into out; returns their number. */
int vg_analyser_take_triggers(vg_analyser_t *a, vg_analytics_trigger_t *out, int max);

/* Sensor figures for the API: {"zones":{id:occupancy},"tripwires":{id:{"a_to_b":n,"b_to_a":n}}}. */
json_t *vg_analyser_sensors_json(const vg_analyser_t *a);

#endif
