/*
 * sensors.h: virtual sensors evaluated on the tracker's output, frame by
 * frame, producing triggers for the event bus.
 *
 *  - Zones: polygons. An object is inside when the bottom centre of its box
 *    (where it touches the ground) is inside. Entry counts after `inertia`
 *    consecutive analysed frames inside, exit after `inertia` frames outside
 *    (or when its track ends); the trigger's ts_us is when the run began:
 *    the moment the straight path between the last sighting before the
 *    run and its first one crossed the polygon's edge, interpolated (an
 *    object inside at its first sighting dates from the track's
 *    first_seen_us, since it came into the picture there). Triggers:
 *    enter, exit, loiter (inside for loiter_s, once per visit), occupancy
 *    (the count of objects inside changed), overcrowd (occupancy rose above
 *    `overcrowd`; cleared when it falls back to it or below).
 *  - Tripwires: segments A->B. The object's bottom centre is given a side
 *    once it is more than `margin` (normalized) from the line; a crossing
 *    counts when the established side flips and the path between the two
 *    established positions intersects the segment. Jitter within the margin
 *    never counts, and one crossing counts once. Its ts_us is interpolated
 *    where the path between the two sightings either side of the line
 *    meets it. Direction: a_to_b is a
 *    crossing from the left of A->B to its right as seen on screen (for A
 *    on the left and B on the right of a horizontal line: moving down).
 *    Counters per class and direction.
 *  - Areas of interest and exclusions: an object whose bottom centre lies
 *    outside every AOI (when there are any) or inside an exclusion is
 *    ignored by every sensor, as if absent.
 *  - Rules: each names sensors (none: all, "tamper" for tamper) and
 *    restricts them: armed, schedule, classes, min_score, min_area. Class,
 *    score and size restrictions decide whether an object counts for the
 *    sensor at all; armed and schedule only gate the triggers (zones keep
 *    counting while disarmed, so occupancy is right when re-armed). Every
 *    rule naming a sensor must allow.
 *
 * Only frames where the track matched a detection move an object; a missed
 * frame keeps its last state. A tentative track's sightings are kept (the
 * last 32) and evaluated in order when it is confirmed, so an entry or a
 * crossing made before confirmation counts, with its own time; a track
 * that is never confirmed triggers nothing. A trigger's frame_ts_us is the
 * frame that decided it; rules and schedules are checked at that time.
 *
 * One vg_sensors_t per camera, used by one thread at a time. Memory is
 * allocated at creation; updates allocate nothing.
 */
#ifndef VG_VISION_SENSORS_H
#define VG_VISION_SENSORS_H

#include <stdbool.h>
#include <stdint.h>

#include "vision/filter.h"
#include "vision/geom.h"
#include "vision/schedule.h"
#include "vision/tamper.h"
#include "vision/tracker.h"

#define VG_SENSOR_ID_MAX 64
#define VG_SENSORS_MAX_ZONES 16
#define VG_SENSORS_MAX_TRIPWIRES 16
#define VG_SENSORS_MAX_AOI 8
#define VG_SENSORS_MAX_EXCLUSIONS 8
#define VG_SENSORS_MAX_RULES 16
#define VG_RULE_MAX_SENSORS 16
/* The sensor id under which tamper triggers appear and rules name them. */
#define VG_TAMPER_SENSOR_ID "tamper"

typedef struct {
  char id[VG_SENSOR_ID_MAX];
  vg_polygon_t polygon;
  vg_class_set_t classes;   /* empty: every class */
  float min_score;          /* the track's score median must reach it (default 0) */
  float min_area, max_area; /* fractions of the frame (default 0 and 1) */
  int inertia;              /* frames, 1..1000 (default 3) */
  float loiter_s;           /* 0: no loiter trigger (default 0) */
  int overcrowd;            /* occupancy above this triggers; 0: off (default 0) */
  bool occupancy_events;    /* emit occupancy triggers (default true) */
} vg_zone_config_t;

typedef enum { VG_DIR_BOTH = 0, VG_DIR_A_TO_B, VG_DIR_B_TO_A } vg_direction_t;

typedef struct {
  char id[VG_SENSOR_ID_MAX];
  vg_point_t a, b;          /* normalized */
  vg_direction_t direction; /* which crossings trigger and count (default both) */
  vg_class_set_t classes;
  float min_score;
  float margin; /* dead band each side of the line, normalized (default 0.01) */
} vg_tripwire_config_t;

typedef struct {
  char id[VG_SENSOR_ID_MAX];
  int n_sensors; /* 0: every sensor */
  char sensors[VG_RULE_MAX_SENSORS][VG_SENSOR_ID_MAX];
  bool armed; /* default true */
  vg_schedule_t schedule;
  vg_class_set_t classes;
  float min_score;
  float min_area; /* fraction of the frame */
} vg_rule_config_t;

typedef struct {
  int n_zones;
  vg_zone_config_t zones[VG_SENSORS_MAX_ZONES];
  int n_tripwires;
  vg_tripwire_config_t tripwires[VG_SENSORS_MAX_TRIPWIRES];
  int n_aoi;
  vg_polygon_t aoi[VG_SENSORS_MAX_AOI];
  int n_exclusions;
  vg_polygon_t exclusions[VG_SENSORS_MAX_EXCLUSIONS];
  int n_rules;
  vg_rule_config_t rules[VG_SENSORS_MAX_RULES];
} vg_sensors_config_t;

typedef enum {
  VG_TRIGGER_ENTER = 0,
  VG_TRIGGER_EXIT,
  VG_TRIGGER_LOITER,
  VG_TRIGGER_OCCUPANCY,
  VG_TRIGGER_OVERCROWD,
  VG_TRIGGER_LINE_CROSS,
  VG_TRIGGER_TAMPER,
} vg_trigger_kind_t;

typedef struct {
  vg_trigger_kind_t kind;
  char sensor_id[VG_SENSOR_ID_MAX];
  int sensor_index;         /* zone or tripwire index; -1 for tamper */
  uint32_t track_id;        /* 0 when not about one object */
  int label;                /* the object's class, -1 when none */
  vg_direction_t direction; /* line_cross: A_TO_B or B_TO_A */
  /* enter/exit/occupancy/overcrowd: the zone's occupancy after the event;
   * line_cross: the wire's count for this class and direction after it;
   * loiter: whole seconds inside; tamper: 1 raised, 0 cleared. */
  int count;
  bool cleared;            /* overcrowd or tamper condition ended */
  vg_tamper_kind_t tamper; /* tamper: which condition */
  int64_t ts_us;           /* when it happened (see above) */
  int64_t frame_ts_us;     /* the frame that decided it */
} vg_trigger_t;

typedef struct vg_sensors vg_sensors_t;

/* Empty configuration (no sensors). */
void vg_sensors_config_default(vg_sensors_config_t *cfg);
/* Copies cfg. VG_EINVAL when it is inconsistent (bad polygon, duplicate
 * id), VG_ENOMEM. */
int vg_sensors_create(const vg_sensors_config_t *cfg, vg_sensors_t **out);
void vg_sensors_destroy(vg_sensors_t **s);

/* Evaluates one analysed frame: tracks as given by vg_tracker_tracks()
 * (pixels of a frame_w x frame_h frame), ts_us its UTC time. Writes at most
 * max_out triggers, in order of decision; further ones are counted as
 * dropped. Returns the number written, or VG_EINVAL. */
int vg_sensors_update(vg_sensors_t *s, const vg_vtrack_t *tracks, int n_tracks, int frame_w, int frame_h,
                      int64_t ts_us, vg_trigger_t *out, int max_out);
/* Turns tamper changes into triggers (gated by the rules naming "tamper").
 * Returns the number written. */
int vg_sensors_tamper(vg_sensors_t *s, const vg_tamper_result_t *r, int64_t ts_us, vg_trigger_t *out,
                      int max_out);

/* Arms or disarms every rule naming sensor_id (or every rule when NULL). */
void vg_sensors_set_armed(vg_sensors_t *s, const char *sensor_id, bool armed);

int vg_sensors_zone_occupancy(const vg_sensors_t *s, int zone);
/* Crossings of a tripwire so far; label -1 = every class, direction
 * VG_DIR_BOTH = both directions. */
int64_t vg_sensors_tripwire_count(const vg_sensors_t *s, int wire, int label, vg_direction_t direction);
/* Bit z set when the object is counted inside zone z (for the per-frame
 * metadata); 0 for unknown tracks. */
uint32_t vg_sensors_track_zones(const vg_sensors_t *s, uint32_t track_id);
/* Triggers lost because out was full. */
uint64_t vg_sensors_dropped(const vg_sensors_t *s);

const char *vg_trigger_kind_name(vg_trigger_kind_t kind); /* "enter", "line_cross", ... */
const char *vg_direction_name(vg_direction_t dir);        /* "both", "a_to_b", "b_to_a" */

#endif
