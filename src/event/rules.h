/*
 * rules.h: the events configuration: node-wide settings (grouping, evidence,
 * false-positive learning) and the business rules that decide which sensor
 * triggers become events, per camera and sensor (docs/EVENTS.md, docs/CONFIG.md
 * "events").
 *
 * A rule matches a trigger by camera (its place in the config), sensor, kind
 * and class; the first matching rule of the camera's own list
 * (cameras[].events.rules), then of the node's list (events.rules) decides.
 * When neither the camera nor the node has rules, every trigger is a
 * candidate with severity "medium".
 * A rule with "ignore": true drops what it matches.
 *
 * Threads: parsing on the configuration thread; the parsed structs are
 * read-only afterwards (vg_event_rule_find may be called from any thread,
 * except that a rule's schedule cache is only touched by the engine's).
 */
#ifndef VG_EVENT_RULES_H
#define VG_EVENT_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "event/event.h"
#include "vision/schedule.h"

#define VG_EVENT_RULE_MAX_ITEMS 16
#define VG_EVENT_MAX_RULES 32

typedef struct {
  char id[64];
  char sensors[VG_EVENT_RULE_MAX_ITEMS][64]; /* none: any sensor */
  int sensor_count;
  char kinds[VG_EVENT_RULE_MAX_ITEMS][16]; /* none: any kind */
  int kind_count;
  char classes[VG_EVENT_RULE_MAX_ITEMS][24]; /* none: any class */
  int class_count;
  float min_confidence;    /* on the median of the object's scores over its life */
  int64_t min_duration_us; /* from the first trigger to the object's last sighting */
  vg_schedule_t schedule;  /* no ranges: always */
  int severity;            /* vg_event_severity_t */
  char labels[VG_EVENT_LABELS_MAX];
  bool ignore; /* matching triggers make no event */
} vg_event_rule_t;

typedef struct {
  char camera[64];
  vg_event_rule_t *rules;
  int rule_count;
} vg_event_camera_rules_t;

typedef enum {
  VG_EVENT_OVERLAY_BOX = 0,
  VG_EVENT_OVERLAY_NONE = 1,
  VG_EVENT_OVERLAY_CROP = 2
} vg_event_overlay_t;

typedef struct {
  bool enabled;              /* default true */
  int64_t group_window_us;   /* triggers of one object or sensor this close are one event (10 s) */
  int64_t cooldown_us;       /* after an event ends, none of the same camera, sensor and class (0) */
  int64_t max_event_us;      /* an event longer than this is ended (10 min) */
  int64_t min_gap_snap_us;   /* at most one snapshot per event this often (1 s) */
  char evidence_dir[512];    /* "var/evidence" */
  int pre_capture_s;         /* clip before the start (5) */
  int post_capture_s;        /* clip after the end (10) */
  int thumbnail_width;       /* 320 */
  int jpeg_quality;          /* the first quality tried (85) */
  int snapshot_max_kb;       /* the snapshot is compressed to stay under this (0: no limit) */
  int overlay;               /* vg_event_overlay_t */
  int max_age_days;          /* events older than this are deleted unless retained (30; 0: never) */
  int fp_grid;               /* the false-positive mask's cells per side (16) */
  int64_t fp_half_life_us;   /* a mark's weight halves this often (7 days) */
  float fp_threshold;        /* a box overlapping the mask this much is suppressed (0.7) */
  bool lock_false_positives; /* keep the clip locked for events marked false positive (false) */
  vg_event_rule_t *rules;    /* the node's rules, for every camera */
  int rule_count;
  vg_event_camera_rules_t *cameras; /* one per camera with an "events" object */
  int camera_count;
} vg_event_config_t;

/* Reads the top-level "events" object (top; NULL: defaults) and every
 * camera's "events" object from the "cameras" array (may be NULL), which it
 * removes from the camera objects so that the camera parser does not see
 * it. Call it at the document's root path. Returns 0 or VG_ECONFIG. */
int vg_event_config_parse(vg_cfg_t *c, json_t *top, json_t *cameras, vg_event_config_t *out);
/* Defaults without any rule (tests). */
void vg_event_config_defaults(vg_event_config_t *out);
void vg_event_config_free(vg_event_config_t *cfg);

/* The rule that decides a trigger of camera, or NULL when none matches.
 * When neither the camera nor the node has rules, a built-in rule (any
 * trigger, severity medium) is returned. */
const vg_event_rule_t *vg_event_rule_find(const vg_event_config_t *cfg, const char *camera,
                                          const char *sensor, const char *kind, const char *label);

#endif
