#include "event/rules.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

static const char *const overlay_names[] = {"box", "none", "crop", NULL};

void vg_event_config_defaults(vg_event_config_t *out) {
  memset(out, 0, sizeof(*out));
  out->enabled = true;
  out->group_window_us = 10000000;
  out->cooldown_us = 0;
  out->max_event_us = 600000000;
  out->min_gap_snap_us = 1000000;
  snprintf(out->evidence_dir, sizeof(out->evidence_dir), "%s", "var/evidence");
  out->pre_capture_s = 5;
  out->post_capture_s = 10;
  out->thumbnail_width = 320;
  out->jpeg_quality = 85;
  out->snapshot_max_kb = 0;
  out->overlay = VG_EVENT_OVERLAY_BOX;
  out->max_age_days = 30;
  out->fp_grid = 16;
  out->fp_half_life_us = 7LL * 24 * 3600 * 1000000;
  out->fp_threshold = 0.7f;
}

/* A list of short strings ("sensors", "kinds", "classes"). */
static void read_names(vg_cfg_t *c, json_t *obj, const char *key, char *items, size_t item_size, int *count) {
  *count = 0;
  json_t *arr = vg_cfg_array(c, obj, key, 0);
  if (!arr) return;
  vg_cfg_enter(c, key);
  if (json_array_size(arr) > VG_EVENT_RULE_MAX_ITEMS)
    vg_cfg_fail(c, NULL, "at most %d items", VG_EVENT_RULE_MAX_ITEMS);
  for (size_t i = 0; i < json_array_size(arr) && !c->failed; i++) {
    json_t *v = json_array_get(arr, i);
    vg_cfg_enter_index(c, i);
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= item_size)
      vg_cfg_fail(c, NULL, "must be a non-empty string of at most %zu bytes", item_size - 1);
    else
      snprintf(items + (size_t)(*count)++ * item_size, item_size, "%s", json_string_value(v));
    vg_cfg_leave(c);
  }
  vg_cfg_leave(c);
}

static double read_number(vg_cfg_t *c, json_t *obj, const char *key, double def, double min, double max) {
  json_t *v = obj ? json_object_get(obj, key) : NULL;
  if (!v) return def;
  if (!json_is_number(v) || json_number_value(v) < min || json_number_value(v) > max) {
    vg_cfg_fail(c, key, "must be a number from %g to %g", min, max);
    return def;
  }
  return json_number_value(v);
}

static void read_range(vg_cfg_t *c, json_t *obj, vg_time_range_t *r) {
  static const char *const keys[] = {"days", "start", "end", NULL};
  memset(r, 0, sizeof(*r));
  if (!json_is_object(obj)) {
    vg_cfg_fail(c, NULL, "must be an object {\"days\", \"start\", \"end\"}");
    return;
  }
  vg_cfg_check_keys(c, obj, keys);
  json_t *days = vg_cfg_array(c, obj, "days", 0);
  r->days = days ? 0 : 0x7f;
  for (size_t i = 0; days && i < json_array_size(days) && !c->failed; i++) {
    json_t *v = json_array_get(days, i);
    int d = json_is_string(v) ? vg_parse_weekday(json_string_value(v)) : VG_EINVAL;
    if (d < 0)
      vg_cfg_fail(c, "days", "must be weekdays: \"mon\" .. \"sun\"");
    else
      r->days |= (uint8_t)(1u << d);
  }
  if (!c->failed && !r->days) vg_cfg_fail(c, "days", "must name at least one day");
  const char *ends[2] = {"start", "end"};
  int *mins[2] = {&r->start_min, &r->end_min};
  for (int i = 0; i < 2 && !c->failed; i++) {
    char text[16];
    if (vg_cfg_str(c, obj, ends[i], i == 0 ? "00:00" : "24:00", text, sizeof(text))) break;
    if (vg_parse_hhmm(text, mins[i]) != 0)
      vg_cfg_fail(c, ends[i], "must be a time \"HH:MM\" (00:00 to 24:00)");
  }
  if (!c->failed && r->start_min == 1440) vg_cfg_fail(c, "start", "must be before 24:00");
  if (!c->failed && r->start_min == r->end_min) vg_cfg_fail(c, "end", "must differ from start");
}

/* {"tz": "Europe/Berlin", "ranges": [...]}, as in cameras[].analytics.rules. */
static void read_schedule(vg_cfg_t *c, json_t *obj, vg_schedule_t *s) {
  static const char *const keys[] = {"tz", "ranges", NULL};
  memset(s, 0, sizeof(*s));
  json_t *sched = vg_cfg_object(c, obj, "schedule", 0);
  if (!sched) return;
  vg_cfg_enter(c, "schedule");
  vg_cfg_check_keys(c, sched, keys);
  if (vg_cfg_str(c, sched, "tz", "UTC", s->tz, sizeof(s->tz)) == 0 && !vg_tz_valid(s->tz))
    vg_cfg_fail(c, "tz", "unknown time zone \"%s\"", s->tz);
  json_t *ranges = vg_cfg_array(c, sched, "ranges", 0);
  if (ranges) {
    vg_cfg_enter(c, "ranges");
    if (json_array_size(ranges) == 0 || json_array_size(ranges) > VG_SCHEDULE_MAX_RANGES)
      vg_cfg_fail(c, NULL, "must hold 1 to %d ranges", VG_SCHEDULE_MAX_RANGES);
    for (size_t i = 0; i < json_array_size(ranges) && !c->failed; i++) {
      vg_cfg_enter_index(c, i);
      read_range(c, json_array_get(ranges, i), &s->ranges[s->n++]);
      vg_cfg_leave(c);
    }
    vg_cfg_leave(c);
  }
  vg_cfg_leave(c);
}

static void read_rule(vg_cfg_t *c, json_t *obj, vg_event_rule_t *r) {
  static const char *const keys[] = {
      "id",       "sensors", "kinds",  "classes", "min_confidence", "min_duration_s", "schedule",
      "severity", "labels",  "ignore", NULL};
  memset(r, 0, sizeof(*r));
  r->severity = VG_EVENT_SEVERITY_MEDIUM;
  if (!json_is_object(obj)) {
    vg_cfg_fail(c, NULL, "must be an object");
    return;
  }
  vg_cfg_check_keys(c, obj, keys);
  vg_cfg_str(c, obj, "id", "", r->id, sizeof(r->id));
  read_names(c, obj, "sensors", &r->sensors[0][0], sizeof(r->sensors[0]), &r->sensor_count);
  read_names(c, obj, "kinds", &r->kinds[0][0], sizeof(r->kinds[0]), &r->kind_count);
  read_names(c, obj, "classes", &r->classes[0][0], sizeof(r->classes[0]), &r->class_count);
  r->min_confidence = (float)read_number(c, obj, "min_confidence", 0, 0, 1);
  r->min_duration_us = (int64_t)(read_number(c, obj, "min_duration_s", 0, 0, 3600) * 1e6);
  read_schedule(c, obj, &r->schedule);
  char sev[16];
  if (vg_cfg_str(c, obj, "severity", "medium", sev, sizeof(sev)) == 0) {
    int s = vg_event_severity_parse(sev);
    if (s < 0)
      vg_cfg_fail(c, "severity", "must be info, low, medium, high or critical");
    else
      r->severity = s;
  }
  char labels[VG_EVENT_RULE_MAX_ITEMS][32];
  int n = 0;
  read_names(c, obj, "labels", &labels[0][0], sizeof(labels[0]), &n);
  for (int i = 0; i < n; i++) {
    if (strchr(labels[i], ',')) vg_cfg_fail(c, "labels", "a label must not contain ','");
    size_t len = strlen(r->labels);
    snprintf(r->labels + len, sizeof(r->labels) - len, "%s%s", len ? "," : "", labels[i]);
  }
  vg_cfg_bool(c, obj, "ignore", false, &r->ignore);
}

static int read_rules(vg_cfg_t *c, json_t *obj, vg_event_rule_t **out, int *count) {
  *out = NULL;
  *count = 0;
  json_t *arr = vg_cfg_array(c, obj, "rules", 0);
  if (!arr || c->failed) return c->failed ? VG_ECONFIG : 0;
  vg_cfg_enter(c, "rules");
  if (json_array_size(arr) > VG_EVENT_MAX_RULES) vg_cfg_fail(c, NULL, "at most %d rules", VG_EVENT_MAX_RULES);
  size_t n = json_array_size(arr);
  if (!c->failed && n) {
    *out = calloc(n, sizeof(**out));
    if (!*out) {
      vg_cfg_leave(c);
      return VG_ENOMEM;
    }
  }
  for (size_t i = 0; i < n && !c->failed; i++) {
    vg_cfg_enter_index(c, i);
    read_rule(c, json_array_get(arr, i), &(*out)[i]);
    (*count)++;
    vg_cfg_leave(c);
  }
  vg_cfg_leave(c);
  return c->failed ? VG_ECONFIG : 0;
}

static void read_top(vg_cfg_t *c, json_t *top, vg_event_config_t *out) {
  static const char *const keys[] = {"enabled",
                                     "group_window_s",
                                     "cooldown_s",
                                     "max_event_s",
                                     "snapshot_interval_ms",
                                     "evidence_dir",
                                     "pre_capture_s",
                                     "post_capture_s",
                                     "thumbnail_width",
                                     "jpeg_quality",
                                     "snapshot_max_kb",
                                     "overlay",
                                     "max_age_days",
                                     "fp_grid",
                                     "fp_half_life_h",
                                     "fp_threshold",
                                     "lock_false_positives",
                                     "rules",
                                     NULL};
  long long v;
  if (top) vg_cfg_check_keys(c, top, keys);
  vg_cfg_bool(c, top, "enabled", true, &out->enabled);
  out->group_window_us = (int64_t)(read_number(c, top, "group_window_s", 10, 0.1, 3600) * 1e6);
  out->cooldown_us = (int64_t)(read_number(c, top, "cooldown_s", 0, 0, 86400) * 1e6);
  if (!vg_cfg_int(c, top, "max_event_s", 600, 1, 86400, &v)) out->max_event_us = v * 1000000;
  if (!vg_cfg_int(c, top, "snapshot_interval_ms", 1000, 0, 60000, &v)) out->min_gap_snap_us = v * 1000;
  vg_cfg_str(c, top, "evidence_dir", "var/evidence", out->evidence_dir, sizeof(out->evidence_dir));
  if (!vg_cfg_int(c, top, "pre_capture_s", 5, 0, 300, &v)) out->pre_capture_s = (int)v;
  if (!vg_cfg_int(c, top, "post_capture_s", 10, 0, 300, &v)) out->post_capture_s = (int)v;
  if (!vg_cfg_int(c, top, "thumbnail_width", 320, 32, 1920, &v)) out->thumbnail_width = (int)v;
  if (!vg_cfg_int(c, top, "jpeg_quality", 85, 10, 100, &v)) out->jpeg_quality = (int)v;
  if (!vg_cfg_int(c, top, "snapshot_max_kb", 0, 0, 100000, &v)) out->snapshot_max_kb = (int)v;
  vg_cfg_enum(c, top, "overlay", overlay_names, VG_EVENT_OVERLAY_BOX, &out->overlay);
  if (!vg_cfg_int(c, top, "max_age_days", 30, 0, 36500, &v)) out->max_age_days = (int)v;
  if (!vg_cfg_int(c, top, "fp_grid", 16, 2, 64, &v)) out->fp_grid = (int)v;
  out->fp_half_life_us = (int64_t)(read_number(c, top, "fp_half_life_h", 168, 0.001, 87600) * 3600e6);
  out->fp_threshold = (float)read_number(c, top, "fp_threshold", 0.7, 0.01, 10);
  vg_cfg_bool(c, top, "lock_false_positives", false, &out->lock_false_positives);
}

int vg_event_config_parse(vg_cfg_t *c, json_t *top, json_t *cameras, vg_event_config_t *out) {
  vg_event_config_defaults(out);
  vg_cfg_enter(c, "events");
  read_top(c, top, out);
  int err = read_rules(c, top, &out->rules, &out->rule_count);
  vg_cfg_leave(c);
  if (err) return err;
  size_t n = json_is_array(cameras) ? json_array_size(cameras) : 0;
  if (n && !(out->cameras = calloc(n, sizeof(*out->cameras)))) return VG_ENOMEM;
  vg_cfg_enter(c, "cameras");
  for (size_t i = 0; i < n && !c->failed; i++) {
    json_t *cam = json_array_get(cameras, i);
    json_t *ev = json_is_object(cam) ? json_object_get(cam, "events") : NULL;
    if (!ev) continue;
    vg_cfg_enter_index(c, i);
    vg_cfg_enter(c, "events");
    vg_event_camera_rules_t *cr = &out->cameras[out->camera_count];
    json_t *id = json_object_get(cam, "id");
    snprintf(cr->camera, sizeof(cr->camera), "%s", json_is_string(id) ? json_string_value(id) : "");
    if (!json_is_object(ev)) {
      vg_cfg_fail(c, NULL, "must be an object {\"rules\": [...]}");
    } else {
      vg_cfg_check_keys(c, ev, (const char *const[]){"rules", NULL});
      err = read_rules(c, ev, &cr->rules, &cr->rule_count);
      out->camera_count++;
    }
    vg_cfg_leave(c);
    vg_cfg_leave(c);
    if (!c->failed) json_object_del(cam, "events");
    if (err == VG_ENOMEM) break;
  }
  vg_cfg_leave(c);
  if (err == VG_ENOMEM) return err;
  return c->failed ? VG_ECONFIG : 0;
}

void vg_event_config_free(vg_event_config_t *cfg) {
  free(cfg->rules);
  for (int i = 0; i < cfg->camera_count; i++)
    free(cfg->cameras[i].rules);
  free(cfg->cameras);
  cfg->rules = NULL;
  cfg->cameras = NULL;
  cfg->rule_count = cfg->camera_count = 0;
}

static bool in_list(const char *items, size_t item_size, int count, const char *value) {
  if (count == 0) return true;
  for (int i = 0; i < count; i++)
    if (strcmp(items + (size_t)i * item_size, value) == 0) return true;
  return false;
}

static const vg_event_rule_t *first_match(const vg_event_rule_t *rules, int n, const char *sensor,
                                          const char *kind, const char *label) {
  for (int i = 0; i < n; i++) {
    const vg_event_rule_t *r = &rules[i];
    if (in_list(&r->sensors[0][0], sizeof(r->sensors[0]), r->sensor_count, sensor) &&
        in_list(&r->kinds[0][0], sizeof(r->kinds[0]), r->kind_count, kind) &&
        in_list(&r->classes[0][0], sizeof(r->classes[0]), r->class_count, label))
      return r;
  }
  return NULL;
}

const vg_event_rule_t *vg_event_rule_find(const vg_event_config_t *cfg, const char *camera,
                                          const char *sensor, const char *kind, const char *label) {
  static const vg_event_rule_t fallback = {.severity = VG_EVENT_SEVERITY_MEDIUM};
  bool any = cfg->rule_count > 0;
  for (int i = 0; i < cfg->camera_count; i++) {
    if (strcmp(cfg->cameras[i].camera, camera) != 0) continue;
    if (cfg->cameras[i].rule_count) any = true;
    const vg_event_rule_t *r =
        first_match(cfg->cameras[i].rules, cfg->cameras[i].rule_count, sensor, kind, label);
    if (r) return r;
  }
  const vg_event_rule_t *r = first_match(cfg->rules, cfg->rule_count, sensor, kind, label);
  if (r) return r;
  return any ? NULL : &fallback;
}
