#include "analytics/analyser.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "vision/analytics_config.h"
#include "vision/motion.h"
#include "vision/sensors.h"
#include "vision/tamper.h"
#include "vision/tracker.h"

#define PENDING_MAX 64

struct vg_analyser {
  char camera[64];
  vg_analytics_config_t *cfg; /* our copy */
  vg_motion_t *motion;
  vg_tamper_t *tamper;
  vg_tracker_t *tracker;
  vg_sensors_t *sensors;
  vg_trigger_t scratch[PENDING_MAX];
  vg_analytics_trigger_t pending[PENDING_MAX];
  int n_pending;
  uint64_t lost_triggers;
  /* The tracks as the sensors see them (held ones count as seen). */
  vg_vtrack_t sensor_view[VG_TRACKER_MAX_TRACKS];
};

int vg_analyser_create(const char *camera, const void *vision_cfg, vg_analyser_t **out) {
  vg_analyser_t *a = calloc(1, sizeof(*a));
  if (!a || !(a->cfg = malloc(sizeof(*a->cfg)))) {
    free(a);
    return VG_ENOMEM;
  }
  snprintf(a->camera, sizeof(a->camera), "%s", camera);
  if (vision_cfg)
    memcpy(a->cfg, vision_cfg, sizeof(*a->cfg));
  else
    vg_analytics_config_default(a->cfg);
  int err;
  if ((err = vg_motion_create(&a->cfg->motion, &a->motion)) ||
      (err = vg_tracker_create(&a->cfg->tracker, &a->tracker)) ||
      (err = vg_sensors_create(&a->cfg->sensors, &a->sensors)) ||
      (a->cfg->tamper.enabled && (err = vg_tamper_create(&a->cfg->tamper, &a->tamper)))) {
    vg_analyser_destroy(&a);
    return err;
  }
  *out = a;
  return 0;
}

void vg_analyser_destroy(vg_analyser_t **ap) {
  vg_analyser_t *a = *ap;
  if (!a) return;
  *ap = NULL;
  vg_motion_destroy(&a->motion);
  vg_tamper_destroy(&a->tamper);
  vg_tracker_destroy(&a->tracker);
  vg_sensors_destroy(&a->sensors);
  free(a->cfg);
  free(a);
}

void vg_analyser_reset(vg_analyser_t *a) {
  vg_motion_reset(a->motion);
  if (a->tamper) vg_tamper_reset(a->tamper);
}

static void queue_trigger(vg_analyser_t *a, const vg_trigger_t *t) {
  if (a->n_pending == PENDING_MAX) {
    a->lost_triggers++;
    return;
  }
  vg_analytics_trigger_t *o = &a->pending[a->n_pending++];
  memset(o, 0, sizeof(*o));
  memcpy(o->camera, a->camera, sizeof(o->camera));
  snprintf(o->sensor, sizeof(o->sensor), "%s", t->sensor_id);
  snprintf(o->kind, sizeof(o->kind), "%s", vg_trigger_kind_name(t->kind));
  if (t->kind == VG_TRIGGER_LINE_CROSS)
    snprintf(o->direction, sizeof(o->direction), "%s", vg_direction_name(t->direction));
  if (t->kind == VG_TRIGGER_TAMPER)
    snprintf(o->tamper, sizeof(o->tamper), "%s", vg_tamper_kind_name(t->tamper));
  o->track_id = t->track_id;
  o->label = t->label;
  if (t->label >= 0) snprintf(o->class_name, sizeof(o->class_name), "%s", vg_coco_label(t->label));
  o->count = t->count;
  o->cleared = t->cleared;
  o->utc_us = t->ts_us;
  o->frame_utc_us = t->frame_ts_us;
}

int vg_analyser_frame(vg_analyser_t *a, const uint8_t *luma, int w, int h, int64_t ts_us,
                      vg_analyser_motion_t *out) {
  vg_motion_result_t m;
  int err = vg_motion_process(a->motion, luma, w, h, w, &m);
  if (err) return err;
  memset(out, 0, sizeof(*out));
  out->active = m.active;
  out->moving = m.n_boxes > 0;
  out->fraction = m.fraction;
  out->n_regions = m.n_regions < VG_ANALYSER_MAX_REGIONS ? m.n_regions : VG_ANALYSER_MAX_REGIONS;
  memcpy(out->regions, m.regions, (size_t)out->n_regions * sizeof(out->regions[0]));
  if (a->tamper) {
    vg_tamper_result_t tr;
    if (vg_tamper_process(a->tamper, luma, w, h, w, ts_us, &tr) == 0 && tr.n_events) {
      int n = vg_sensors_tamper(a->sensors, &tr, ts_us, a->scratch, PENDING_MAX);
      for (int i = 0; i < n; i++)
        queue_trigger(a, &a->scratch[i]);
    }
  }
  return 0;
}

int vg_analyser_tracks(const vg_analyser_t *a, vg_box_t *boxes, int max) {
  const vg_vtrack_t *tracks;
  int n = vg_tracker_tracks(a->tracker, &tracks);
  if (!boxes) return n;
  for (int i = 0; i < n && i < max; i++)
    boxes[i] = tracks[i].box;
  return n < max ? n : max;
}

int vg_analyser_confirmed(const vg_analyser_t *a) {
  const vg_vtrack_t *tracks;
  int n = vg_tracker_tracks(a->tracker, &tracks), c = 0;
  for (int i = 0; i < n; i++)
    c += tracks[i].confirmed;
  return c;
}

int vg_analyser_track_list(const vg_analyser_t *a, vg_box_t *boxes, uint32_t *ids, bool *parkable, int max) {
  const vg_vtrack_t *tracks;
  int n = vg_tracker_tracks(a->tracker, &tracks);
  if (n > max) n = max;
  for (int i = 0; i < n; i++) {
    boxes[i] = tracks[i].box;
    ids[i] = tracks[i].id;
    parkable[i] = tracks[i].confirmed && tracks[i].stationary && tracks[i].misses == 0;
  }
  return n;
}

static float clamp01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

int vg_analyser_detections(vg_analyser_t *a, vg_detection_t *dets, int n, int w, int h, int64_t ts_us,
                           vg_analytics_meta_t *meta) {
  return vg_analyser_detections_held(a, dets, n, w, h, ts_us, NULL, 0, meta);
}

int vg_analyser_detections_held(vg_analyser_t *a, vg_detection_t *dets, int n, int w, int h, int64_t ts_us,
                                const uint32_t *held, int n_held, vg_analytics_meta_t *meta) {
  n = vg_detection_filter_apply(&a->cfg->filter, dets, n, w, h);
  int live = vg_tracker_update_held(a->tracker, dets, n, ts_us, held, n_held);
  if (live < 0) return live;
  const vg_vtrack_t *tracks;
  int nt = vg_tracker_tracks(a->tracker, &tracks);
  /* The sensors move an object only on a matched position; a held one is
   * a stationary object's real position, so it counts as seen there. */
  memcpy(a->sensor_view, tracks, (size_t)nt * sizeof(tracks[0]));
  for (int i = 0; i < nt; i++)
    if (a->sensor_view[i].held) a->sensor_view[i].matched = true;
  int nk = vg_sensors_update(a->sensors, a->sensor_view, nt, w, h, ts_us, a->scratch, PENDING_MAX);
  for (int i = 0; i < nk; i++)
    queue_trigger(a, &a->scratch[i]);
  meta->width = w;
  meta->height = h;
  meta->detected = true;
  meta->n_objects = 0;
  for (int i = 0; i < nt && meta->n_objects < VG_ANALYTICS_MAX_OBJECTS; i++) {
    const vg_vtrack_t *t = &tracks[i];
    vg_analytics_object_t *o = &meta->objects[meta->n_objects++];
    memset(o, 0, sizeof(*o));
    o->track_id = t->id;
    o->label = t->label;
    snprintf(o->class_name, sizeof(o->class_name), "%s", vg_coco_label(t->label));
    o->score = t->score;
    o->x1 = clamp01(t->box.x1 / (float)w);
    o->y1 = clamp01(t->box.y1 / (float)h);
    o->x2 = clamp01(t->box.x2 / (float)w);
    o->y2 = clamp01(t->box.y2 / (float)h);
    o->vx = t->vx / (float)w;
    o->vy = t->vy / (float)h;
    o->confirmed = t->confirmed;
    o->stationary = t->stationary;
    o->zones = vg_sensors_track_zones(a->sensors, t->id);
  }
  return 0;
}

int vg_analyser_take_triggers(vg_analyser_t *a, vg_analytics_trigger_t *out, int max) {
  int n = a->n_pending < max ? a->n_pending : max;
  memcpy(out, a->pending, (size_t)n * sizeof(*out));
  memmove(a->pending, a->pending + n, (size_t)(a->n_pending - n) * sizeof(*out));
  a->n_pending -= n;
  return n;
}

json_t *vg_analyser_sensors_json(const vg_analyser_t *a) {
  json_t *zones = json_object(), *wires = json_object();
  const vg_sensors_config_t *sc = &a->cfg->sensors;
  for (int z = 0; z < sc->n_zones; z++)
    json_object_set_new(zones, sc->zones[z].id, json_integer(vg_sensors_zone_occupancy(a->sensors, z)));
  for (int i = 0; i < sc->n_tripwires; i++)
    json_object_set_new(
        wires, sc->tripwires[i].id,
        json_pack("{sIsI}", "a_to_b", (json_int_t)vg_sensors_tripwire_count(a->sensors, i, -1, VG_DIR_A_TO_B),
                  "b_to_a", (json_int_t)vg_sensors_tripwire_count(a->sensors, i, -1, VG_DIR_B_TO_A)));
  return json_pack("{soso}", "zones", zones, "tripwires", wires);
}

void vg_analyser_adopt(vg_analyser_t *a, vg_analyser_t *from) {
  /* Configurations come from one parser (memset defaults), so memcmp is exact. */
#define ADOPT(part, field)                                                                                   \
  if (memcmp(&a->cfg->part, &from->cfg->part, sizeof(a->cfg->part)) == 0) {                                  \
    void *swap = a->field;                                                                                   \
    a->field = from->field;                                                                                  \
    from->field = swap;                                                                                      \
  }
  ADOPT(motion, motion)
  ADOPT(tamper, tamper)
  ADOPT(tracker, tracker)
#undef ADOPT
}
