/* sensors.c: see sensors.h. (Work in progress: the interface is final.) */
#include "vision/sensors.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

struct vg_sensors {
  vg_sensors_config_t cfg;
  uint64_t dropped;
};

void vg_sensors_config_default(vg_sensors_config_t *cfg) { memset(cfg, 0, sizeof(*cfg)); }

int vg_sensors_create(const vg_sensors_config_t *cfg, vg_sensors_t **out) {
  vg_sensors_t *s = calloc(1, sizeof(*s));
  if (!s) return VG_ENOMEM;
  s->cfg = *cfg;
  *out = s;
  return 0;
}

void vg_sensors_destroy(vg_sensors_t **s) {
  if (!s || !*s) return;
  free(*s);
  *s = NULL;
}

int vg_sensors_update(vg_sensors_t *s, const vg_track_t *tracks, int n_tracks, int frame_w, int frame_h,
                      int64_t ts_us, vg_trigger_t *out, int max_out) {
  (void)s, (void)tracks, (void)n_tracks, (void)frame_w, (void)frame_h, (void)ts_us, (void)out, (void)max_out;
  return 0;
}

int vg_sensors_tamper(vg_sensors_t *s, const vg_tamper_result_t *r, int64_t ts_us, vg_trigger_t *out,
                      int max_out) {
  (void)s, (void)r, (void)ts_us, (void)out, (void)max_out;
  return 0;
}

void vg_sensors_set_armed(vg_sensors_t *s, const char *sensor_id, bool armed) {
  (void)s, (void)sensor_id, (void)armed;
}

int vg_sensors_zone_occupancy(const vg_sensors_t *s, int zone) {
  (void)s, (void)zone;
  return 0;
}

int64_t vg_sensors_tripwire_count(const vg_sensors_t *s, int wire, int label, vg_direction_t direction) {
  (void)s, (void)wire, (void)label, (void)direction;
  return 0;
}

uint32_t vg_sensors_track_zones(const vg_sensors_t *s, uint32_t track_id) {
  (void)s, (void)track_id;
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
