/*
 * tracker.h: a SORT-like multi-object tracker.
 *
 * Each track has a constant-velocity Kalman filter on its box centre and
 * size (four independent position/velocity pairs: cx, cy, w, h), advanced
 * by the real time between frames. Per frame: every track is predicted to
 * the frame's time, detections are associated to tracks of the same class
 * by IoU (greedy, best pair first, at least iou_threshold; a detection
 * that overlaps a track less may still match it when its centre
 * is within center_gate track sizes of the predicted centre and its size
 * agrees, ranked after every overlap), matched tracks
 * are corrected, unmatched detections start tentative tracks, and tracks
 * missed for more than max_age consecutive frames are deleted. The second
 * hit of a track sets its velocity from the displacement since the first,
 * so that the third frame is already predicted where the object went. A track is
 * confirmed after min_hits matches (and stays confirmed); a tentative track
 * that misses a frame is deleted at once (a one-off false detection must
 * not linger). Ids are never reused (they count up from 1).
 *
 * Held tracks: the caller may name tracks it did not look for in a frame
 * (vg_tracker_update_held: a stationary object that the detector re-checks
 * only every few seconds). A held track that no detection matches keeps
 * its box where it was (it is not predicted: the object stands still) and
 * does not count a miss, so max_age counts the frames that looked for it;
 * a detection that matches it still corrects it as usual.
 *
 * A vg_tracker_t belongs to one camera and is used by one thread at a time.
 * All memory is allocated at creation; updates allocate nothing.
 * Deterministic: the same detections give the same tracks.
 */
#ifndef VG_VISION_TRACKER_H
#define VG_VISION_TRACKER_H

#include <stdbool.h>
#include <stdint.h>

#include "infer/detect.h"
#include "vision/geom.h"

#define VG_TRACKER_MAX_TRACKS 256
#define VG_VTRACK_SCORE_HISTORY 16
/* Detections beyond this many per update are ignored (detector output is
 * best first). */
#define VG_TRACKER_MAX_DETECTIONS 256

typedef struct {
  int max_age;           /* consecutive missed frames before deletion, 0..1000 (default 10) */
  int min_hits;          /* matches before a track is confirmed, 1..100 (default 3) */
  float iou_threshold;   /* smallest IoU that associates, 0.01..1 (default 0.25) */
  int max_tracks;        /* 1..VG_TRACKER_MAX_TRACKS (default 128); extra detections start nothing */
  float stationary_s;    /* seconds of little movement before a track is stationary (default 10) */
  float stationary_frac; /* "little": the centre stays within this fraction of the box diagonal (default 0.15)
                          */
  /* Fallback gate when a detection does not overlap a track: the largest
   * centre distance, per axis in track widths and heights, 0..10; 0 turns
   * the fallback off (default 1.5). */
  float center_gate;
} vg_tracker_config_t;

typedef struct {
  uint32_t id;  /* stable, never reused, >= 1 */
  int label;    /* detector class (COCO index) */
  vg_box_t box; /* filter's box in source pixels: corrected when matched, predicted when missed */
  float vx, vy; /* centre velocity, pixels per second */
  float score;  /* the last matched detection's score */
  /* The last VG_VTRACK_SCORE_HISTORY scores, a ring: scores[(score_head -
   * 1 - i) mod N] is the i-th most recent, n_scores are valid. */
  float scores[VG_VTRACK_SCORE_HISTORY];
  int n_scores, score_head;
  int64_t first_seen_us, last_seen_us; /* times of the first and last matched frame */
  int hits;                            /* matched frames in total */
  int misses;                          /* consecutive missed frames (0 when matched in the last update) */
  bool confirmed;                      /* hits reached min_hits once */
  bool matched;                        /* matched a detection in the last update */
  int det_index;                       /* that detection's index in the last update's array, or -1 */
  bool held;                           /* not looked for, and not matched, in the last update */
  bool stationary;
  /* Where the centre was when the current still period began (internal to
   * the stationary test, readable). */
  float still_cx, still_cy;
  int64_t still_since_us;
} vg_vtrack_t;

typedef struct vg_tracker vg_tracker_t;

void vg_tracker_config_default(vg_tracker_config_t *cfg);
/* VG_EINVAL on out-of-range values, VG_ENOMEM. */
int vg_tracker_create(const vg_tracker_config_t *cfg, vg_tracker_t **out);
void vg_tracker_destroy(vg_tracker_t **t);
/* Drops every track (ids keep counting). */
void vg_tracker_reset(vg_tracker_t *t);

/* One analysed frame at ts_us (microseconds; must not go backwards) with
 * its n detections (source pixels; n may be 0: every track misses). Call it
 * only for frames the detector ran on (over the motion regions and around
 * the live tracks): a frame it skipped is no evidence that objects left.
 * Returns the number of live tracks, or VG_EINVAL. */
int vg_tracker_update(vg_tracker_t *t, const vg_detection_t *dets, int n, int64_t ts_us);
/* The same, where the n_held tracks with ids in held were not looked for
 * (see "Held tracks" above; unknown ids are ignored). */
int vg_tracker_update_held(vg_tracker_t *t, const vg_detection_t *dets, int n, int64_t ts_us,
                           const uint32_t *held, int n_held);

/* The live tracks (tentative ones included; check confirmed), valid until
 * the next update or reset. Returns their count. */
int vg_tracker_tracks(const vg_tracker_t *t, const vg_vtrack_t **tracks);

/* Ids of the tracks deleted by the last update (they no longer appear in
 * vg_tracker_tracks); returns their count. Confirmed ones only. */
int vg_tracker_deleted(const vg_tracker_t *t, const uint32_t **ids);

/* The median of a track's score history (0 when it has none). */
float vg_vtrack_score_median(const vg_vtrack_t *tr);

#endif
