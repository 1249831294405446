/* tracker.c: see tracker.h. (Work in progress: the interface is final.) */
#include "vision/tracker.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

struct vg_tracker {
  vg_tracker_config_t cfg;
  int n;
  vg_track_t tracks[VG_TRACKER_MAX_TRACKS];
  int n_deleted;
  uint32_t deleted[VG_TRACKER_MAX_TRACKS];
};

void vg_tracker_config_default(vg_tracker_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->max_age = 10;
  cfg->min_hits = 3;
  cfg->iou_threshold = 0.25f;
  cfg->max_tracks = 128;
  cfg->stationary_s = 10;
  cfg->stationary_frac = 0.15f;
}

int vg_tracker_create(const vg_tracker_config_t *cfg, vg_tracker_t **out) {
  vg_tracker_t *t = calloc(1, sizeof(*t));
  if (!t) return VG_ENOMEM;
  t->cfg = *cfg;
  *out = t;
  return 0;
}

void vg_tracker_destroy(vg_tracker_t **t) {
  if (!t || !*t) return;
  free(*t);
  *t = NULL;
}

void vg_tracker_reset(vg_tracker_t *t) { t->n = 0; }

int vg_tracker_update(vg_tracker_t *t, const vg_detection_t *dets, int n, int64_t ts_us) {
  (void)dets, (void)n, (void)ts_us;
  return t->n;
}

int vg_tracker_tracks(const vg_tracker_t *t, const vg_track_t **tracks) {
  *tracks = t->tracks;
  return t->n;
}

int vg_tracker_deleted(const vg_tracker_t *t, const uint32_t **ids) {
  *ids = t->deleted;
  return t->n_deleted;
}

float vg_track_score_median(const vg_track_t *tr) { return tr->score; }
