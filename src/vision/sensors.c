/* sensors.c: see sensors.h. */
#include "vision/sensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/* What one object has done with respect to one zone. */
typedef struct {
  bool inside;             /* counted inside (after inertia) */
  int run;                 /* consecutive frames in the other state */
  int64_t run_start_us;    /* the first frame of that run */
  int64_t inside_since_us; /* entry time of the current visit */
  bool loitered;           /* the loiter trigger of this visit fired */
} zone_state_t;

/* What one object has done with respect to one tripwire. */
typedef struct {
  int side;            /* established side: -1 left, +1 right of A->B, 0 not yet */
  vg_point_t side_pos; /* the last position on that side beyond the margin */
  /* When the path last went from the established side to the other, the
   * time interpolated at the line; 0 = it has not (or came back). */
  int64_t cross_us;
  /* The last sighting off the line itself: its signed distance and time. */
  bool have_last;
  float last_dist;
  int64_t last_us;
} wire_state_t;

/* One matched position of an object, as the sensors use it. */
typedef struct {
  int label;
  vg_point_t foot;
  float area;  /* fraction of the frame */
  float score; /* the median of its recent scores: one low frame does not drop it */
  int64_t ts_us;
} sighting_t;

/* Sightings kept while a track is tentative, evaluated in order when it is
 * confirmed (min_hits above this keeps the latest ones). */
#define HISTORY_MAX 32

typedef struct {
  uint32_t id; /* 0: free slot */
  int label;
  bool seen;
  bool fresh;            /* no sighting of it evaluated yet */
  int64_t first_seen_us; /* the track's first detection */
  int64_t last_us;
  /* The last evaluated sighting's position and time: zone entries and
   * exits are interpolated between it and the next. */
  vg_point_t prev_foot;
  int64_t prev_us;
  int n_history;
  sighting_t history[HISTORY_MAX];
  zone_state_t zones[VG_SENSORS_MAX_ZONES];
  wire_state_t wires[VG_SENSORS_MAX_TRIPWIRES];
} object_t;

struct vg_sensors {
  vg_sensors_config_t cfg;
  uint32_t zone_rules[VG_SENSORS_MAX_ZONES]; /* bit r: rule r applies */
  uint32_t wire_rules[VG_SENSORS_MAX_TRIPWIRES];
  uint32_t tamper_rules;
  int occupancy[VG_SENSORS_MAX_ZONES];
  int reported_occupancy[VG_SENSORS_MAX_ZONES];
  bool overcrowded[VG_SENSORS_MAX_ZONES];
  int64_t counts[VG_SENSORS_MAX_TRIPWIRES][VG_CLASS_MAX][2]; /* [.][label][0 = a_to_b, 1 = b_to_a] */
  object_t objects[VG_TRACKER_MAX_TRACKS];
  uint64_t dropped;
  /* The output of the update in progress. */
  vg_trigger_t *out;
  int max_out, n_out;
};

void vg_sensors_config_default(vg_sensors_config_t *cfg) { memset(cfg, 0, sizeof(*cfg)); }

static bool rule_names(const vg_rule_config_t *r, const char *id) {
  if (r->n_sensors == 0) return true;
  for (int i = 0; i < r->n_sensors; i++)
    if (strcmp(r->sensors[i], id) == 0) return true;
  return false;
}

static bool sensor_exists(const vg_sensors_config_t *c, const char *id) {
  if (strcmp(id, VG_TAMPER_SENSOR_ID) == 0) return true;
  for (int i = 0; i < c->n_zones; i++)
    if (strcmp(c->zones[i].id, id) == 0) return true;
  for (int i = 0; i < c->n_tripwires; i++)
    if (strcmp(c->tripwires[i].id, id) == 0) return true;
  return false;
}

static bool config_valid(const vg_sensors_config_t *c) {
  if (c->n_zones < 0 || c->n_zones > VG_SENSORS_MAX_ZONES || c->n_tripwires < 0 ||
      c->n_tripwires > VG_SENSORS_MAX_TRIPWIRES || c->n_aoi < 0 || c->n_aoi > VG_SENSORS_MAX_AOI ||
      c->n_exclusions < 0 || c->n_exclusions > VG_SENSORS_MAX_EXCLUSIONS || c->n_rules < 0 ||
      c->n_rules > VG_SENSORS_MAX_RULES)
    return false;
  /* Ids are unique across zones and tripwires and never the tamper id. */
  const char *ids[VG_SENSORS_MAX_ZONES + VG_SENSORS_MAX_TRIPWIRES];
  int n_ids = 0;
  for (int i = 0; i < c->n_zones; i++) {
    const vg_zone_config_t *z = &c->zones[i];
    if (z->polygon.n < 3 || z->polygon.n > VG_POLYGON_MAX_POINTS || z->inertia < 1) return false;
    ids[n_ids++] = z->id;
  }
  for (int i = 0; i < c->n_tripwires; i++) {
    const vg_tripwire_config_t *w = &c->tripwires[i];
    if ((w->a.x == w->b.x && w->a.y == w->b.y) || w->margin < 0) return false;
    ids[n_ids++] = w->id;
  }
  for (int i = 0; i < n_ids; i++) {
    if (!ids[i][0] || strcmp(ids[i], VG_TAMPER_SENSOR_ID) == 0) return false;
    for (int k = 0; k < i; k++)
      if (strcmp(ids[i], ids[k]) == 0) return false;
  }
  for (int i = 0; i < c->n_aoi; i++)
    if (c->aoi[i].n < 3 || c->aoi[i].n > VG_POLYGON_MAX_POINTS) return false;
  for (int i = 0; i < c->n_exclusions; i++)
    if (c->exclusions[i].n < 3 || c->exclusions[i].n > VG_POLYGON_MAX_POINTS) return false;
  for (int i = 0; i < c->n_rules; i++) {
    const vg_rule_config_t *r = &c->rules[i];
    if (r->n_sensors < 0 || r->n_sensors > VG_RULE_MAX_SENSORS) return false;
    for (int k = 0; k < r->n_sensors; k++)
      if (!sensor_exists(c, r->sensors[k])) return false;
  }
  return true;
}

int vg_sensors_create(const vg_sensors_config_t *cfg, vg_sensors_t **out) {
  if (!cfg || !out || !config_valid(cfg)) return VG_EINVAL;
  vg_sensors_t *s = calloc(1, sizeof(*s));
  if (!s) return VG_ENOMEM;
  s->cfg = *cfg;
  for (int r = 0; r < cfg->n_rules; r++) {
    const vg_rule_config_t *rule = &cfg->rules[r];
    for (int z = 0; z < cfg->n_zones; z++)
      if (rule_names(rule, cfg->zones[z].id)) s->zone_rules[z] |= 1u << r;
    for (int w = 0; w < cfg->n_tripwires; w++)
      if (rule_names(rule, cfg->tripwires[w].id)) s->wire_rules[w] |= 1u << r;
    if (rule_names(rule, VG_TAMPER_SENSOR_ID)) s->tamper_rules |= 1u << r;
  }
  *out = s;
  return 0;
}

void vg_sensors_destroy(vg_sensors_t **s) {
  if (!s || !*s) return;
  free(*s);
  *s = NULL;
}

/* --- filters and gates --- */

static bool rules_allow_object(const vg_sensors_t *s, uint32_t rules, const sighting_t *o) {
  for (int r = 0; r < s->cfg.n_rules; r++) {
    if (!(rules >> r & 1)) continue;
    const vg_rule_config_t *rule = &s->cfg.rules[r];
    if (!vg_class_set_allows(&rule->classes, o->label) || o->score < rule->min_score ||
        o->area < rule->min_area)
      return false;
  }
  return true;
}

/* Triggers are emitted only while every rule naming the sensor is armed
 * and inside its schedule. */
static bool rules_allow_trigger(vg_sensors_t *s, uint32_t rules, int64_t ts_us) {
  for (int r = 0; r < s->cfg.n_rules; r++) {
    if (!(rules >> r & 1)) continue;
    vg_rule_config_t *rule = &s->cfg.rules[r];
    if (!rule->armed || !vg_schedule_active(&rule->schedule, ts_us)) return false;
  }
  return true;
}

static bool ignored_by_masks(const vg_sensors_t *s, vg_point_t foot) {
  if (s->cfg.n_aoi > 0) {
    bool in_aoi = false;
    for (int i = 0; i < s->cfg.n_aoi && !in_aoi; i++)
      in_aoi = vg_polygon_contains(&s->cfg.aoi[i], foot);
    if (!in_aoi) return true;
  }
  for (int i = 0; i < s->cfg.n_exclusions; i++)
    if (vg_polygon_contains(&s->cfg.exclusions[i], foot)) return true;
  return false;
}

static void emit(vg_sensors_t *s, const vg_trigger_t *t) {
  if (s->n_out < s->max_out)
    s->out[s->n_out++] = *t;
  else
    s->dropped++;
}

static vg_trigger_t trigger_new(vg_trigger_kind_t kind, const char *sensor_id, int index,
                                int64_t frame_ts_us) {
  vg_trigger_t t;
  memset(&t, 0, sizeof(t));
  t.kind = kind;
  snprintf(t.sensor_id, sizeof(t.sensor_id), "%s", sensor_id);
  t.sensor_index = index;
  t.label = -1;
  t.frame_ts_us = frame_ts_us;
  t.ts_us = frame_ts_us;
  return t;
}

/* --- zones --- */

static void zone_emit(vg_sensors_t *s, int z, vg_trigger_kind_t kind, const object_t *obj, int64_t ts_us,
                      int64_t frame_ts_us, int count) {
  if (!rules_allow_trigger(s, s->zone_rules[z], frame_ts_us)) return;
  vg_trigger_t t = trigger_new(kind, s->cfg.zones[z].id, z, frame_ts_us);
  t.track_id = obj->id;
  t.label = obj->label;
  t.ts_us = ts_us;
  t.count = count;
  emit(s, &t);
}

static bool zone_counts(const vg_sensors_t *s, int z, const sighting_t *o) {
  const vg_zone_config_t *zc = &s->cfg.zones[z];
  return vg_class_set_allows(&zc->classes, o->label) && o->score >= zc->min_score &&
         o->area >= zc->min_area && (zc->max_area <= 0 || o->area <= zc->max_area) &&
         rules_allow_object(s, s->zone_rules[z], o);
}

/* When the foot crossed the polygon's boundary on its way from p0 (at t0)
 * to p1 (at t1), moving in a straight line at constant speed between two
 * sightings: found by bisection on the containment test (exact to 1/4096
 * of the step, whatever the polygon's shape). t1 when both lie on the same
 * side (the state changed for another reason: class, score, size). */
static int64_t boundary_time(const vg_polygon_t *poly, vg_point_t p0, int64_t t0, vg_point_t p1, int64_t t1) {
  bool in1 = vg_polygon_contains(poly, p1);
  if (vg_polygon_contains(poly, p0) == in1 || t1 <= t0) return t1;
  float lo = 0, hi = 1; /* lo on p0's side, hi on p1's */
  for (int i = 0; i < 12; i++) {
    float mid = (lo + hi) / 2;
    vg_point_t q = {p0.x + (p1.x - p0.x) * mid, p0.y + (p1.y - p0.y) * mid};
    if (vg_polygon_contains(poly, q) == in1)
      hi = mid;
    else
      lo = mid;
  }
  return t0 + llround((double)(lo + hi) / 2 * (double)(t1 - t0));
}

static void zone_step(vg_sensors_t *s, int z, object_t *obj, bool inside_now, const sighting_t *o,
                      int64_t frame_ts_us) {
  const vg_zone_config_t *zc = &s->cfg.zones[z];
  zone_state_t *st = &obj->zones[z];
  int64_t ts_us = o->ts_us;
  if (inside_now != st->inside) {
    /* An object that is inside at its very first sighting (it came into
     * the picture there) has been inside since the tracker first saw it.
     * Otherwise the run starts where the path between the previous
     * sighting and this one crossed the zone's edge. */
    if (st->run == 0)
      st->run_start_us = obj->fresh
                             ? (inside_now ? obj->first_seen_us : ts_us)
                             : boundary_time(&zc->polygon, obj->prev_foot, obj->prev_us, o->foot, ts_us);
    if (++st->run >= zc->inertia) {
      st->inside = inside_now;
      st->run = 0;
      if (inside_now) {
        st->inside_since_us = st->run_start_us;
        st->loitered = false;
        zone_emit(s, z, VG_TRIGGER_ENTER, obj, st->run_start_us, frame_ts_us, ++s->occupancy[z]);
      } else {
        zone_emit(s, z, VG_TRIGGER_EXIT, obj, st->run_start_us, frame_ts_us, --s->occupancy[z]);
      }
    }
  } else {
    st->run = 0;
  }
  if (st->inside && zc->loiter_s > 0 && !st->loitered) {
    int64_t loiter_us = (int64_t)llround(zc->loiter_s * 1e6);
    if (ts_us - st->inside_since_us >= loiter_us) {
      st->loitered = true;
      zone_emit(s, z, VG_TRIGGER_LOITER, obj, st->inside_since_us + loiter_us, frame_ts_us,
                (int)((ts_us - st->inside_since_us) / 1000000));
    }
  }
}

static void zone_report_counts(vg_sensors_t *s, int z, int64_t ts_us) {
  const vg_zone_config_t *zc = &s->cfg.zones[z];
  int occ = s->occupancy[z];
  bool gate = rules_allow_trigger(s, s->zone_rules[z], ts_us);
  if (occ != s->reported_occupancy[z]) {
    s->reported_occupancy[z] = occ;
    if (zc->occupancy_events && gate) {
      vg_trigger_t t = trigger_new(VG_TRIGGER_OCCUPANCY, zc->id, z, ts_us);
      t.count = occ;
      emit(s, &t);
    }
  }
  if (zc->overcrowd > 0 && (occ > zc->overcrowd) != s->overcrowded[z]) {
    s->overcrowded[z] = occ > zc->overcrowd;
    if (gate) {
      vg_trigger_t t = trigger_new(VG_TRIGGER_OVERCROWD, zc->id, z, ts_us);
      t.count = occ;
      t.cleared = !s->overcrowded[z];
      emit(s, &t);
    }
  }
}

/* --- tripwires --- */

static bool wire_counts(const vg_sensors_t *s, int w, const sighting_t *o) {
  const vg_tripwire_config_t *wc = &s->cfg.tripwires[w];
  return vg_class_set_allows(&wc->classes, o->label) && o->score >= wc->min_score &&
         rules_allow_object(s, s->wire_rules[w], o);
}

static void wire_step(vg_sensors_t *s, int w, object_t *obj, vg_point_t foot, int64_t ts_us,
                      int64_t frame_ts_us) {
  const vg_tripwire_config_t *wc = &s->cfg.tripwires[w];
  wire_state_t *st = &obj->wires[w];
  float len = hypotf(wc->b.x - wc->a.x, wc->b.y - wc->a.y);
  float dist = vg_line_side(wc->a, wc->b, foot) / len;
  int raw = dist > 0 ? 1 : dist < 0 ? -1 : 0;
  /* The moment the path went over the line: between the last sighting
   * off the line and this one, where the signed distance (linear along a
   * straight path) reaches zero. Kept while the object stays on the far
   * side, forgotten when it comes back; the crossing counts only once it
   * is established beyond the margin. */
  if (raw != 0) {
    int last_raw = st->last_dist > 0 ? 1 : -1;
    if (st->side != 0 && st->have_last && raw != last_raw && raw == -st->side) {
      double f = (double)st->last_dist / ((double)st->last_dist - (double)dist);
      st->cross_us = st->last_us + llround(f * (double)(ts_us - st->last_us));
    }
    if (raw == st->side) st->cross_us = 0;
    st->have_last = true;
    st->last_dist = dist;
    st->last_us = ts_us;
  }
  if (fabsf(dist) <= wc->margin) return; /* in the dead band: jitter never counts */
  if (st->side == 0 || raw == st->side) {
    st->side = raw;
    st->side_pos = foot;
    st->cross_us = 0;
    return;
  }
  /* The established side flipped: a crossing if the path went through the
   * segment itself, not past one of its ends. */
  bool through = vg_segments_intersect(st->side_pos, foot, wc->a, wc->b);
  int64_t cross_us = st->cross_us ? st->cross_us : ts_us;
  vg_direction_t dir = st->side < 0 ? VG_DIR_A_TO_B : VG_DIR_B_TO_A;
  st->side = raw;
  st->side_pos = foot;
  st->cross_us = 0;
  if (!through) return;
  int label = obj->label >= 0 && obj->label < VG_CLASS_MAX ? obj->label : 0;
  int64_t count = ++s->counts[w][label][dir == VG_DIR_A_TO_B ? 0 : 1];
  if (wc->direction != VG_DIR_BOTH && wc->direction != dir) return;
  if (!rules_allow_trigger(s, s->wire_rules[w], frame_ts_us)) return;
  vg_trigger_t t = trigger_new(VG_TRIGGER_LINE_CROSS, wc->id, w, frame_ts_us);
  t.track_id = obj->id;
  t.label = obj->label;
  t.direction = dir;
  t.count = (int)count;
  t.ts_us = cross_us;
  emit(s, &t);
}

/* --- per frame --- */

static object_t *object_for(vg_sensors_t *s, const vg_vtrack_t *tr) {
  object_t *free_slot = NULL;
  for (int i = 0; i < VG_TRACKER_MAX_TRACKS; i++) {
    if (s->objects[i].id == tr->id) return &s->objects[i];
    if (!free_slot && s->objects[i].id == 0) free_slot = &s->objects[i];
  }
  if (free_slot) {
    memset(free_slot, 0, sizeof(*free_slot));
    free_slot->id = tr->id;
    free_slot->label = tr->label;
    free_slot->fresh = true;
    free_slot->first_seen_us = tr->first_seen_us;
  }
  return free_slot;
}

/* Moves one object through every sensor: sighting o (taken at o->ts_us,
 * earlier than the frame for a replayed tentative sighting) decided by
 * the frame at frame_ts_us. */
static void evaluate(vg_sensors_t *s, object_t *obj, const sighting_t *o, int64_t frame_ts_us) {
  obj->last_us = o->ts_us;
  bool ignored = ignored_by_masks(s, o->foot);
  for (int z = 0; z < s->cfg.n_zones; z++) {
    bool inside = !ignored && zone_counts(s, z, o) && vg_polygon_contains(&s->cfg.zones[z].polygon, o->foot);
    zone_step(s, z, obj, inside, o, frame_ts_us);
  }
  obj->fresh = false;
  obj->prev_foot = o->foot;
  obj->prev_us = o->ts_us;
  if (ignored) return;
  for (int w = 0; w < s->cfg.n_tripwires; w++)
    if (wire_counts(s, w, o)) wire_step(s, w, obj, o->foot, o->ts_us, frame_ts_us);
}

static void object_gone(vg_sensors_t *s, object_t *obj, int64_t ts_us) {
  /* It left at its last sighting, or where it crossed the zone's edge when
   * it was already seen outside (for fewer than inertia frames). */
  for (int z = 0; z < s->cfg.n_zones; z++) {
    const zone_state_t *st = &obj->zones[z];
    if (st->inside)
      zone_emit(s, z, VG_TRIGGER_EXIT, obj, st->run > 0 ? st->run_start_us : obj->last_us, ts_us,
                --s->occupancy[z]);
  }
  obj->id = 0;
}

int vg_sensors_update(vg_sensors_t *s, const vg_vtrack_t *tracks, int n_tracks, int frame_w, int frame_h,
                      int64_t ts_us, vg_trigger_t *out, int max_out) {
  if (!s || n_tracks < 0 || (n_tracks > 0 && !tracks) || frame_w <= 0 || frame_h <= 0 || max_out < 0 ||
      (max_out > 0 && !out))
    return VG_EINVAL;
  s->out = out;
  s->max_out = max_out;
  s->n_out = 0;
  for (int i = 0; i < VG_TRACKER_MAX_TRACKS; i++)
    s->objects[i].seen = false;

  for (int k = 0; k < n_tracks; k++) {
    const vg_vtrack_t *tr = &tracks[k];
    if (tr->id == 0) continue;
    object_t *obj = object_for(s, tr);
    if (!obj) continue;
    obj->seen = true;
    if (!tr->matched) continue; /* a predicted position moves nothing */
    obj->label = tr->label;
    sighting_t o = {.label = tr->label, .foot = vg_box_foot(&tr->box, frame_w, frame_h), .ts_us = ts_us};
    o.area = (tr->box.x2 - tr->box.x1) * (tr->box.y2 - tr->box.y1) / ((float)frame_w * (float)frame_h);
    o.score = vg_vtrack_score_median(tr);
    if (!tr->confirmed) {
      /* Not yet an object for the sensors (it may be a one-off false
       * detection), but what it did meanwhile counts once it is confirmed:
       * a person confirmed just past a line crossed it while tentative. */
      if (obj->n_history == HISTORY_MAX) {
        memmove(obj->history, obj->history + 1, sizeof(obj->history[0]) * (HISTORY_MAX - 1));
        obj->n_history--;
      }
      obj->history[obj->n_history++] = o;
      continue;
    }
    for (int i = 0; i < obj->n_history; i++) {
      obj->history[i].label = tr->label;
      evaluate(s, obj, &obj->history[i], ts_us);
    }
    obj->n_history = 0;
    evaluate(s, obj, &o, ts_us);
  }
  for (int i = 0; i < VG_TRACKER_MAX_TRACKS; i++)
    if (s->objects[i].id != 0 && !s->objects[i].seen) object_gone(s, &s->objects[i], ts_us);
  for (int z = 0; z < s->cfg.n_zones; z++)
    zone_report_counts(s, z, ts_us);
  s->out = NULL;
  return s->n_out;
}

int vg_sensors_tamper(vg_sensors_t *s, const vg_tamper_result_t *r, int64_t ts_us, vg_trigger_t *out,
                      int max_out) {
  if (!s || !r || max_out < 0 || (max_out > 0 && !out)) return VG_EINVAL;
  s->out = out;
  s->max_out = max_out;
  s->n_out = 0;
  if (rules_allow_trigger(s, s->tamper_rules, ts_us)) {
    for (int i = 0; i < r->n_events; i++) {
      vg_trigger_t t = trigger_new(VG_TRIGGER_TAMPER, VG_TAMPER_SENSOR_ID, -1, ts_us);
      t.tamper = r->events[i].kind;
      t.cleared = !r->events[i].raised;
      t.count = r->events[i].raised ? 1 : 0;
      t.ts_us = r->events[i].ts_us;
      emit(s, &t);
    }
  }
  s->out = NULL;
  return s->n_out;
}

void vg_sensors_set_armed(vg_sensors_t *s, const char *sensor_id, bool armed) {
  for (int r = 0; r < s->cfg.n_rules; r++)
    if (!sensor_id || rule_names(&s->cfg.rules[r], sensor_id)) s->cfg.rules[r].armed = armed;
}

int vg_sensors_zone_occupancy(const vg_sensors_t *s, int zone) {
  return zone >= 0 && zone < s->cfg.n_zones ? s->occupancy[zone] : VG_EINVAL;
}

int64_t vg_sensors_tripwire_count(const vg_sensors_t *s, int wire, int label, vg_direction_t direction) {
  if (wire < 0 || wire >= s->cfg.n_tripwires || label >= VG_CLASS_MAX) return VG_EINVAL;
  int64_t total = 0;
  for (int l = label < 0 ? 0 : label; l < (label < 0 ? VG_CLASS_MAX : label + 1); l++) {
    if (direction != VG_DIR_B_TO_A) total += s->counts[wire][l][0];
    if (direction != VG_DIR_A_TO_B) total += s->counts[wire][l][1];
  }
  return total;
}

uint32_t vg_sensors_track_zones(const vg_sensors_t *s, uint32_t track_id) {
  if (track_id == 0) return 0;
  for (int i = 0; i < VG_TRACKER_MAX_TRACKS; i++) {
    if (s->objects[i].id != track_id) continue;
    uint32_t bits = 0;
    for (int z = 0; z < s->cfg.n_zones; z++)
      if (s->objects[i].zones[z].inside) bits |= 1u << z;
    return bits;
  }
  return 0;
}

uint64_t vg_sensors_dropped(const vg_sensors_t *s) { return s->dropped; }

const char *vg_trigger_kind_name(vg_trigger_kind_t kind) {
  static const char *const names[] = {"enter",     "exit",       "loiter", "occupancy",
                                      "overcrowd", "line_cross", "tamper"};
  return (unsigned)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

const char *vg_direction_name(vg_direction_t dir) {
  switch (dir) {
  case VG_DIR_A_TO_B: return "a_to_b";
  case VG_DIR_B_TO_A: return "b_to_a";
  default: return "both";
  }
}
