/* analytics_config.c: see analytics_config.h; every key is documented in
 * docs/CONFIG.md ("cameras[].analytics"). */
#include "vision/analytics_config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"

/* --- readers for what base/config.h has no reader for --- */

static int read_float(vg_cfg_t *c, json_t *obj, const char *key, double def, double min, double max,
                      float *out) {
  json_t *v = obj ? json_object_get(obj, key) : NULL;
  if (!v) {
    *out = (float)def;
    return 0;
  }
  if (!json_is_number(v)) return vg_cfg_fail(c, key, "must be a number");
  double x = json_number_value(v);
  if (!(x >= min && x <= max)) return vg_cfg_fail(c, key, "must be between %g and %g (got %g)", min, max, x);
  *out = (float)x;
  return 0;
}

static int read_int(vg_cfg_t *c, json_t *obj, const char *key, long long def, long long min, long long max,
                    int *out) {
  long long v = def;
  int r = vg_cfg_int(c, obj, key, def, min, max, &v);
  *out = r ? (int)def : (int)v;
  return r;
}

/* A point is [x, y], both in 0..1. Reports errors at the current path. */
static int read_point(vg_cfg_t *c, json_t *v, vg_point_t *out) {
  if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_number(json_array_get(v, 0)) ||
      !json_is_number(json_array_get(v, 1)))
    return vg_cfg_fail(c, NULL, "must be a point [x, y]");
  double x = json_number_value(json_array_get(v, 0)), y = json_number_value(json_array_get(v, 1));
  if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1))
    return vg_cfg_fail(c, NULL, "coordinates are fractions of the frame, 0 to 1 (got [%g, %g])", x, y);
  out->x = (float)x;
  out->y = (float)y;
  return 0;
}

/* A polygon is an array of 3..VG_POLYGON_MAX_POINTS points, with an area. */
static int read_polygon(vg_cfg_t *c, json_t *v, vg_polygon_t *out) {
  memset(out, 0, sizeof(*out));
  if (!json_is_array(v)) return vg_cfg_fail(c, NULL, "must be an array of points [[x, y], ...]");
  size_t n = json_array_size(v);
  if (n < 3 || n > VG_POLYGON_MAX_POINTS)
    return vg_cfg_fail(c, NULL, "must have 3 to %d points (got %zu)", VG_POLYGON_MAX_POINTS, n);
  for (size_t i = 0; i < n; i++) {
    vg_cfg_enter_index(c, i);
    int r = read_point(c, json_array_get(v, i), &out->pts[i]);
    vg_cfg_leave(c);
    if (r) return r;
  }
  out->n = (int)n;
  double area2 = 0;
  for (int i = 0, j = out->n - 1; i < out->n; j = i++)
    area2 += (double)out->pts[j].x * out->pts[i].y - (double)out->pts[i].x * out->pts[j].y;
  if (fabs(area2) < 1e-9) return vg_cfg_fail(c, NULL, "has no area (all points on one line)");
  return 0;
}

static int read_polygon_key(vg_cfg_t *c, json_t *obj, const char *key, vg_polygon_t *out) {
  json_t *v = json_object_get(obj, key);
  if (!v) return vg_cfg_fail(c, key, "required field is missing");
  vg_cfg_enter(c, key);
  int r = read_polygon(c, v, out);
  vg_cfg_leave(c);
  return r;
}

/* An array of polygons at key, at most max. */
static int read_polygons(vg_cfg_t *c, json_t *obj, const char *key, int max, vg_polygon_t *out, int *n_out) {
  *n_out = 0;
  json_t *arr = vg_cfg_array(c, obj, key, 0);
  if (!arr) return c->failed ? VG_ECONFIG : 0;
  if ((int)json_array_size(arr) > max) return vg_cfg_fail(c, key, "at most %d polygons", max);
  vg_cfg_enter(c, key);
  for (size_t i = 0; i < json_array_size(arr) && !c->failed; i++) {
    vg_cfg_enter_index(c, i);
    if (read_polygon(c, json_array_get(arr, i), &out[i]) == 0) (*n_out)++;
    vg_cfg_leave(c);
  }
  vg_cfg_leave(c);
  return c->failed ? VG_ECONFIG : 0;
}

/* An array of COCO class names. */
static int read_classes(vg_cfg_t *c, json_t *obj, const char *key, vg_class_set_t *out) {
  memset(out, 0, sizeof(*out));
  json_t *arr = vg_cfg_array(c, obj, key, 0);
  if (!arr) return c->failed ? VG_ECONFIG : 0;
  vg_cfg_enter(c, key);
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *v = json_array_get(arr, i);
    vg_cfg_enter_index(c, i);
    int label = json_is_string(v) ? vg_class_from_name(json_string_value(v)) : VG_EINVAL;
    if (!json_is_string(v))
      vg_cfg_fail(c, NULL, "must be a class name");
    else if (label < 0)
      vg_cfg_fail(c, NULL, "unknown class \"%s\" (COCO names such as \"person\", \"car\")",
                  json_string_value(v));
    else
      vg_class_set_add(out, label);
    vg_cfg_leave(c);
  }
  vg_cfg_leave(c);
  return c->failed ? VG_ECONFIG : 0;
}

/* Sensor ids: like camera ids, so that they are safe in metric labels and
 * URLs. */
static int read_id(vg_cfg_t *c, json_t *obj, char *out, size_t size) {
  if (vg_cfg_str(c, obj, "id", NULL, out, size)) return VG_ECONFIG;
  if (!out[0]) return vg_cfg_fail(c, "id", "must not be empty");
  for (const char *p = out; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          strchr("_-.", *p)))
      return vg_cfg_fail(c, "id", "may contain only letters, digits, '_', '-' and '.'");
  return 0;
}

/* Calls fn on each element (an object) of the array at key, at most max. */
typedef int (*element_fn)(vg_cfg_t *c, json_t *elem, void *out, int index);

static int read_each(vg_cfg_t *c, json_t *obj, const char *key, int max, element_fn fn, void *out,
                     int *n_out) {
  *n_out = 0;
  json_t *arr = vg_cfg_array(c, obj, key, 0);
  if (!arr) return c->failed ? VG_ECONFIG : 0;
  if ((int)json_array_size(arr) > max) return vg_cfg_fail(c, key, "at most %d entries", max);
  vg_cfg_enter(c, key);
  for (size_t i = 0; i < json_array_size(arr) && !c->failed; i++) {
    json_t *elem = json_array_get(arr, i);
    vg_cfg_enter_index(c, i);
    if (!json_is_object(elem))
      vg_cfg_fail(c, NULL, "must be an object");
    else if (fn(c, elem, out, (int)i) == 0)
      (*n_out)++;
    vg_cfg_leave(c);
  }
  vg_cfg_leave(c);
  return c->failed ? VG_ECONFIG : 0;
}

/* --- sections --- */

static void read_motion(vg_cfg_t *c, json_t *obj, vg_motion_config_t *m) {
  static const char *const keys[] = {"work_width",    "threshold",  "learn_rate",        "min_area",
                                     "merge_gap",     "region_pad", "lighting_fraction", "on_fraction",
                                     "off_fraction",  "on_frames",  "off_frames",        "masks",
                                     "absorb_frames", NULL};
  vg_motion_config_t d;
  vg_motion_config_default(&d);
  if (!obj) return;
  vg_cfg_enter(c, "motion");
  vg_cfg_check_keys(c, obj, keys);
  read_int(c, obj, "work_width", d.work_width, 64, 640, &m->work_width);
  read_int(c, obj, "threshold", d.threshold, 1, 255, &m->threshold);
  read_float(c, obj, "learn_rate", d.learn_rate, 0.001, 1, &m->learn_rate);
  read_float(c, obj, "min_area", d.min_area, 0, 1, &m->min_area);
  read_float(c, obj, "merge_gap", d.merge_gap, 0, 1, &m->merge_gap);
  read_float(c, obj, "region_pad", d.region_pad, 0, 2, &m->region_pad);
  read_float(c, obj, "lighting_fraction", d.lighting_fraction, 0.05, 1, &m->lighting_fraction);
  read_float(c, obj, "on_fraction", d.on_fraction, 0, 1, &m->on_fraction);
  read_float(c, obj, "off_fraction", d.off_fraction, 0, 1, &m->off_fraction);
  read_int(c, obj, "on_frames", d.on_frames, 1, 1000, &m->on_frames);
  read_int(c, obj, "off_frames", d.off_frames, 1, 10000, &m->off_frames);
  read_int(c, obj, "absorb_frames", d.absorb_frames, 0, 60000, &m->absorb_frames);
  if (!c->failed && m->off_fraction > m->on_fraction)
    vg_cfg_fail(c, "off_fraction", "must not exceed on_fraction");
  read_polygons(c, obj, "masks", VG_MOTION_MAX_MASKS, m->masks, &m->n_masks);
  vg_cfg_leave(c);
}

static void read_tracker(vg_cfg_t *c, json_t *obj, vg_tracker_config_t *t) {
  static const char *const keys[] = {"max_age",      "min_hits",        "iou_threshold", "max_tracks",
                                     "stationary_s", "stationary_frac", "center_gate",   NULL};
  vg_tracker_config_t d;
  vg_tracker_config_default(&d);
  if (!obj) return;
  vg_cfg_enter(c, "tracker");
  vg_cfg_check_keys(c, obj, keys);
  read_int(c, obj, "max_age", d.max_age, 0, 1000, &t->max_age);
  read_int(c, obj, "min_hits", d.min_hits, 1, 100, &t->min_hits);
  read_float(c, obj, "iou_threshold", d.iou_threshold, 0.01, 1, &t->iou_threshold);
  read_int(c, obj, "max_tracks", d.max_tracks, 1, VG_TRACKER_MAX_TRACKS, &t->max_tracks);
  read_float(c, obj, "stationary_s", d.stationary_s, 0.1, 86400, &t->stationary_s);
  read_float(c, obj, "stationary_frac", d.stationary_frac, 0, 10, &t->stationary_frac);
  read_float(c, obj, "center_gate", d.center_gate, 0, 10, &t->center_gate);
  vg_cfg_leave(c);
}

static void read_limits(vg_cfg_t *c, json_t *obj, const vg_class_limits_t *d, vg_class_limits_t *l) {
  static const char *const keys[] = {"min_score", "min_area", "max_area", "min_aspect", "max_aspect", NULL};
  vg_cfg_check_keys(c, obj, keys);
  read_float(c, obj, "min_score", d->min_score, 0, 1, &l->min_score);
  read_float(c, obj, "min_area", d->min_area, 0, 1, &l->min_area);
  read_float(c, obj, "max_area", d->max_area, 0, 1, &l->max_area);
  read_float(c, obj, "min_aspect", d->min_aspect, 0, 100, &l->min_aspect);
  read_float(c, obj, "max_aspect", d->max_aspect, 0, 100, &l->max_aspect);
  if (c->failed) return;
  if (l->max_area < l->min_area) vg_cfg_fail(c, "max_area", "must not be below min_area");
  if (l->max_aspect > 0 && l->max_aspect < l->min_aspect)
    vg_cfg_fail(c, "max_aspect", "must not be below min_aspect");
}

/* "filters": {"default": {...}, "person": {...}}: per-class entries start
 * from the default entry. */
static void read_filters(vg_cfg_t *c, json_t *obj, vg_detection_filter_t *f) {
  if (!obj) return;
  vg_cfg_enter(c, "filters");
  json_t *def = json_object_get(obj, "default");
  if (def) {
    vg_cfg_enter(c, "default");
    if (!json_is_object(def))
      vg_cfg_fail(c, NULL, "must be an object");
    else
      read_limits(c, def, &f->defaults, &f->defaults);
    vg_cfg_leave(c);
  }
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    if (c->failed) break;
    if (strcmp(key, "default") == 0) continue;
    int label = vg_class_from_name(key);
    if (label < 0) {
      vg_cfg_fail(c, key, "unknown class (use \"default\" or a COCO name such as \"person\")");
      break;
    }
    if (f->n == VG_FILTER_MAX_CLASSES) {
      vg_cfg_fail(c, key, "at most %d classes", VG_FILTER_MAX_CLASSES);
      break;
    }
    vg_cfg_enter(c, key);
    if (!json_is_object(v)) {
      vg_cfg_fail(c, NULL, "must be an object");
    } else {
      f->label[f->n] = label;
      read_limits(c, v, &f->defaults, &f->limits[f->n]);
      f->n++;
    }
    vg_cfg_leave(c);
  }
  vg_cfg_leave(c);
}

static void read_tamper(vg_cfg_t *c, json_t *obj, vg_tamper_config_t *t) {
  static const char *const keys[] = {
      "enabled", "work_width", "covered_stddev", "defocus_ratio", "moved_threshold",
      "learn_s", "warmup_s",   "persist_s",      "clear_s",       "relearn_s",
      NULL};
  vg_tamper_config_t d;
  vg_tamper_config_default(&d);
  if (!obj) return;
  vg_cfg_enter(c, "tamper");
  vg_cfg_check_keys(c, obj, keys);
  vg_cfg_bool(c, obj, "enabled", d.enabled, &t->enabled);
  read_int(c, obj, "work_width", d.work_width, 32, 320, &t->work_width);
  read_float(c, obj, "covered_stddev", d.covered_stddev, 0, 128, &t->covered_stddev);
  read_float(c, obj, "defocus_ratio", d.defocus_ratio, 0, 1, &t->defocus_ratio);
  read_float(c, obj, "moved_threshold", d.moved_threshold, 0, 2, &t->moved_threshold);
  read_float(c, obj, "learn_s", d.learn_s, 1, 86400, &t->learn_s);
  read_float(c, obj, "warmup_s", d.warmup_s, 0, 3600, &t->warmup_s);
  read_float(c, obj, "persist_s", d.persist_s, 0, 3600, &t->persist_s);
  read_float(c, obj, "clear_s", d.clear_s, 0, 3600, &t->clear_s);
  read_float(c, obj, "relearn_s", d.relearn_s, 0, 86400, &t->relearn_s);
  vg_cfg_leave(c);
}

static int read_zone(vg_cfg_t *c, json_t *obj, void *out, int index) {
  static const char *const keys[] = {"id",        "polygon",          "classes", "min_score",
                                     "min_area",  "max_area",         "inertia", "loiter_s",
                                     "overcrowd", "occupancy_events", NULL};
  vg_zone_config_t *z = &((vg_zone_config_t *)out)[index];
  memset(z, 0, sizeof(*z));
  vg_cfg_check_keys(c, obj, keys);
  read_id(c, obj, z->id, sizeof(z->id));
  read_polygon_key(c, obj, "polygon", &z->polygon);
  read_classes(c, obj, "classes", &z->classes);
  read_float(c, obj, "min_score", 0, 0, 1, &z->min_score);
  read_float(c, obj, "min_area", 0, 0, 1, &z->min_area);
  read_float(c, obj, "max_area", 1, 0, 1, &z->max_area);
  read_int(c, obj, "inertia", 3, 1, 1000, &z->inertia);
  read_float(c, obj, "loiter_s", 0, 0, 86400, &z->loiter_s);
  read_int(c, obj, "overcrowd", 0, 0, VG_TRACKER_MAX_TRACKS, &z->overcrowd);
  vg_cfg_bool(c, obj, "occupancy_events", true, &z->occupancy_events);
  if (!c->failed && z->max_area < z->min_area) vg_cfg_fail(c, "max_area", "must not be below min_area");
  return c->failed ? VG_ECONFIG : 0;
}

static int read_tripwire(vg_cfg_t *c, json_t *obj, void *out, int index) {
  static const char *const keys[] = {"id", "a", "b", "direction", "classes", "min_score", "margin", NULL};
  static const char *const dirs[] = {"both", "a_to_b", "b_to_a", NULL};
  vg_tripwire_config_t *w = &((vg_tripwire_config_t *)out)[index];
  memset(w, 0, sizeof(*w));
  vg_cfg_check_keys(c, obj, keys);
  read_id(c, obj, w->id, sizeof(w->id));
  const char *ends[2] = {"a", "b"};
  vg_point_t *pts[2] = {&w->a, &w->b};
  for (int i = 0; i < 2 && !c->failed; i++) {
    json_t *v = json_object_get(obj, ends[i]);
    if (!v) {
      vg_cfg_fail(c, ends[i], "required field is missing");
      break;
    }
    vg_cfg_enter(c, ends[i]);
    read_point(c, v, pts[i]);
    vg_cfg_leave(c);
  }
  if (!c->failed && w->a.x == w->b.x && w->a.y == w->b.y) vg_cfg_fail(c, "b", "must differ from a");
  int dir = 0;
  vg_cfg_enum(c, obj, "direction", dirs, 0, &dir);
  w->direction = (vg_direction_t)dir;
  read_classes(c, obj, "classes", &w->classes);
  read_float(c, obj, "min_score", 0, 0, 1, &w->min_score);
  read_float(c, obj, "margin", 0.01, 0, 0.5, &w->margin);
  return c->failed ? VG_ECONFIG : 0;
}

static int read_range(vg_cfg_t *c, json_t *obj, void *out, int index) {
  static const char *const keys[] = {"days", "start", "end", NULL};
  vg_time_range_t *r = &((vg_time_range_t *)out)[index];
  memset(r, 0, sizeof(*r));
  vg_cfg_check_keys(c, obj, keys);
  json_t *days = vg_cfg_array(c, obj, "days", 0);
  if (!days) {
    r->days = 0x7f; /* every day */
  } else {
    vg_cfg_enter(c, "days");
    for (size_t i = 0; i < json_array_size(days); i++) {
      json_t *v = json_array_get(days, i);
      int d = json_is_string(v) ? vg_parse_weekday(json_string_value(v)) : VG_EINVAL;
      vg_cfg_enter_index(c, i);
      if (d < 0)
        vg_cfg_fail(c, NULL, "must be a weekday: \"mon\" .. \"sun\"");
      else
        r->days |= (uint8_t)(1u << d);
      vg_cfg_leave(c);
    }
    vg_cfg_leave(c);
    if (!c->failed && r->days == 0) vg_cfg_fail(c, "days", "must name at least one day");
  }
  const char *ends[2] = {"start", "end"};
  int *mins[2] = {&r->start_min, &r->end_min};
  for (int i = 0; i < 2 && !c->failed; i++) {
    char text[16];
    if (vg_cfg_str(c, obj, ends[i], i == 0 ? "00:00" : "24:00", text, sizeof(text))) break;
    if (vg_parse_hhmm(text, mins[i]) != 0)
      vg_cfg_fail(c, ends[i], "must be a time \"HH:MM\" (00:00 to 24:00)");
  }
  if (!c->failed && r->start_min == 1440) vg_cfg_fail(c, "start", "must be before 24:00");
  if (!c->failed && r->start_min == r->end_min)
    vg_cfg_fail(c, "end", "must differ from start (use 00:00 to 24:00 for a whole day)");
  return c->failed ? VG_ECONFIG : 0;
}

static void read_schedule(vg_cfg_t *c, json_t *obj, vg_schedule_t *s) {
  static const char *const keys[] = {"tz", "ranges", NULL};
  memset(s, 0, sizeof(*s));
  json_t *sched = vg_cfg_object(c, obj, "schedule", 0);
  if (!sched) return;
  vg_cfg_enter(c, "schedule");
  vg_cfg_check_keys(c, sched, keys);
  if (vg_cfg_str(c, sched, "tz", "UTC", s->tz, sizeof(s->tz)) == 0 && !vg_tz_valid(s->tz))
    vg_cfg_fail(c, "tz",
                "unknown time zone \"%s\" (an IANA name such as \"Europe/Berlin\", \"UTC\" or \"UTC+05:30\")",
                s->tz);
  read_each(c, sched, "ranges", VG_SCHEDULE_MAX_RANGES, read_range, s->ranges, &s->n);
  if (!c->failed && json_object_get(sched, "ranges") && s->n == 0)
    vg_cfg_fail(c, "ranges", "must not be empty (leave the schedule out to be always active)");
  vg_cfg_leave(c);
}

static int read_rule(vg_cfg_t *c, json_t *obj, void *out, int index) {
  static const char *const keys[] = {"id",      "sensors",   "armed",    "schedule",
                                     "classes", "min_score", "min_area", NULL};
  vg_rule_config_t *r = &((vg_rule_config_t *)out)[index];
  memset(r, 0, sizeof(*r));
  vg_cfg_check_keys(c, obj, keys);
  read_id(c, obj, r->id, sizeof(r->id));
  json_t *sensors = vg_cfg_array(c, obj, "sensors", 0);
  if (sensors && (int)json_array_size(sensors) > VG_RULE_MAX_SENSORS) {
    vg_cfg_fail(c, "sensors", "at most %d sensors", VG_RULE_MAX_SENSORS);
  } else if (sensors) {
    vg_cfg_enter(c, "sensors");
    for (size_t i = 0; i < json_array_size(sensors) && !c->failed; i++) {
      json_t *v = json_array_get(sensors, i);
      vg_cfg_enter_index(c, i);
      if (!json_is_string(v) || strlen(json_string_value(v)) >= VG_SENSOR_ID_MAX)
        vg_cfg_fail(c, NULL, "must be a sensor id");
      else
        snprintf(r->sensors[r->n_sensors++], VG_SENSOR_ID_MAX, "%s", json_string_value(v));
      vg_cfg_leave(c);
    }
    vg_cfg_leave(c);
  }
  vg_cfg_bool(c, obj, "armed", true, &r->armed);
  read_schedule(c, obj, &r->schedule);
  read_classes(c, obj, "classes", &r->classes);
  read_float(c, obj, "min_score", 0, 0, 1, &r->min_score);
  read_float(c, obj, "min_area", 0, 0, 1, &r->min_area);
  return c->failed ? VG_ECONFIG : 0;
}

/* Ids are unique across zones and tripwires, "tamper" is reserved, and a
 * rule names only sensors that exist. */
static void check_ids(vg_cfg_t *c, const vg_sensors_config_t *s) {
  for (int i = 0; i < s->n_zones + s->n_tripwires && !c->failed; i++) {
    bool zone = i < s->n_zones;
    const char *id = zone ? s->zones[i].id : s->tripwires[i - s->n_zones].id;
    vg_cfg_enter(c, zone ? "zones" : "tripwires");
    vg_cfg_enter_index(c, (size_t)(zone ? i : i - s->n_zones));
    if (strcmp(id, VG_TAMPER_SENSOR_ID) == 0)
      vg_cfg_fail(c, "id", "\"tamper\" is reserved for tamper triggers");
    for (int k = 0; k < i && !c->failed; k++) {
      const char *other = k < s->n_zones ? s->zones[k].id : s->tripwires[k - s->n_zones].id;
      if (strcmp(id, other) == 0) vg_cfg_fail(c, "id", "\"%s\" is used by another zone or tripwire", id);
    }
    vg_cfg_leave(c);
    vg_cfg_leave(c);
  }
  for (int r = 0; r < s->n_rules && !c->failed; r++) {
    const vg_rule_config_t *rule = &s->rules[r];
    for (int k = 0; k < rule->n_sensors && !c->failed; k++) {
      bool found = strcmp(rule->sensors[k], VG_TAMPER_SENSOR_ID) == 0;
      for (int z = 0; z < s->n_zones; z++)
        found = found || strcmp(s->zones[z].id, rule->sensors[k]) == 0;
      for (int w = 0; w < s->n_tripwires; w++)
        found = found || strcmp(s->tripwires[w].id, rule->sensors[k]) == 0;
      if (found) continue;
      vg_cfg_enter(c, "rules");
      vg_cfg_enter_index(c, (size_t)r);
      vg_cfg_enter(c, "sensors");
      vg_cfg_enter_index(c, (size_t)k);
      vg_cfg_fail(c, NULL, "no zone or tripwire has the id \"%s\"", rule->sensors[k]);
      vg_cfg_leave(c);
      vg_cfg_leave(c);
      vg_cfg_leave(c);
      vg_cfg_leave(c);
    }
  }
}

void vg_analytics_config_default(vg_analytics_config_t *out) {
  memset(out, 0, sizeof(*out));
  vg_motion_config_default(&out->motion);
  vg_tracker_config_default(&out->tracker);
  vg_detection_filter_default(&out->filter);
  vg_tamper_config_default(&out->tamper);
  vg_sensors_config_default(&out->sensors);
}

static const char *const own_keys[] = {"enabled", "motion",    "tracker", "classes",    "filters", "tamper",
                                       "zones",   "tripwires", "aoi",     "exclusions", "rules",   NULL};

/* Unknown keys: neither ours nor the caller's. */
static void check_all_keys(vg_cfg_t *c, json_t *obj, const char *const *extra_keys) {
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    bool ok = false;
    for (const char *const *k = own_keys; *k && !ok; k++)
      ok = strcmp(*k, key) == 0;
    for (const char *const *k = extra_keys; k && *k && !ok; k++)
      ok = strcmp(*k, key) == 0;
    if (!ok) {
      vg_cfg_fail(c, key, "unknown field");
      return;
    }
  }
}

int vg_analytics_config_parse(vg_cfg_t *c, json_t *obj, const char *const *extra_keys,
                              vg_analytics_config_t *out) {
  vg_analytics_config_default(out);
  if (!obj) return c->failed ? VG_ECONFIG : 0;
  if (!json_is_object(obj)) return vg_cfg_fail(c, NULL, "must be an object");
  check_all_keys(c, obj, extra_keys);
  vg_cfg_bool(c, obj, "enabled", true, &out->enabled);
  read_motion(c, vg_cfg_object(c, obj, "motion", 0), &out->motion);
  read_tracker(c, vg_cfg_object(c, obj, "tracker", 0), &out->tracker);
  read_classes(c, obj, "classes", &out->filter.classes);
  read_filters(c, vg_cfg_object(c, obj, "filters", 0), &out->filter);
  read_tamper(c, vg_cfg_object(c, obj, "tamper", 0), &out->tamper);
  vg_sensors_config_t *s = &out->sensors;
  read_each(c, obj, "zones", VG_SENSORS_MAX_ZONES, read_zone, s->zones, &s->n_zones);
  read_each(c, obj, "tripwires", VG_SENSORS_MAX_TRIPWIRES, read_tripwire, s->tripwires, &s->n_tripwires);
  read_polygons(c, obj, "aoi", VG_SENSORS_MAX_AOI, s->aoi, &s->n_aoi);
  read_polygons(c, obj, "exclusions", VG_SENSORS_MAX_EXCLUSIONS, s->exclusions, &s->n_exclusions);
  read_each(c, obj, "rules", VG_SENSORS_MAX_RULES, read_rule, s->rules, &s->n_rules);
  if (!c->failed) check_ids(c, s);
  return c->failed ? VG_ECONFIG : 0;
}
