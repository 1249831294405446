/*
 * event.h: events, the unit of "something happened" that operators see,
 * notifications announce and evidence is kept for.
 *
 * An event is born from an analytics sensor trigger (analytics.h,
 * "analytics.trigger") that passes the camera's business rules
 * (event/rules.h), or from an operator (POST /api/v1/events). It has a life
 * cycle: it starts, is updated while its object or sensor keeps triggering
 * (time grouping) and while its object's score improves, and ends after a
 * quiet window (or at once for a manual event with a fixed duration).
 *
 * Bus messages (src/base/bus.h), published by the event engine
 * (event/engine.h) on the node's bus, payload a heap vg_event_t (read-only
 * for subscribers; the bus frees it with free()):
 *   VG_EVENT_TOPIC_START   "event.start"   once, when the event is stored
 *   VG_EVENT_TOPIC_UPDATE  "event.update"  a new trigger was grouped in, the
 *                                          best score or snapshot improved,
 *                                          or an operator changed it (false
 *                                          positive, retain)
 *   VG_EVENT_TOPIC_END     "event.end"     once, end_utc_us is set
 * Subscribe with "event.*" for all three. Every message carries the whole
 * event as it is then (not a delta), so a subscriber may act on any one.
 *
 * vg_event_to_json() gives the one JSON form of an event (the API's and the
 * notifications'); vg_event_severity_name() the severity's name.
 *
 * Threads: the functions here are pure and may be called from any thread.
 */
#ifndef VG_EVENT_EVENT_H
#define VG_EVENT_EVENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define VG_EVENT_TOPIC_START "event.start"
#define VG_EVENT_TOPIC_UPDATE "event.update"
#define VG_EVENT_TOPIC_END "event.end"

typedef enum {
  VG_EVENT_SEVERITY_INFO = 0,
  VG_EVENT_SEVERITY_LOW = 1,
  VG_EVENT_SEVERITY_MEDIUM = 2,
  VG_EVENT_SEVERITY_HIGH = 3,
  VG_EVENT_SEVERITY_CRITICAL = 4,
} vg_event_severity_t;

#define VG_EVENT_LABELS_MAX 256

typedef struct {
  int64_t id;                       /* the database id (> 0), stable for the event's life */
  char camera[64];                  /* camera id */
  char sensor[64];                  /* zone or tripwire id, "tamper", or "" (manual events) */
  char kind[16];                    /* the trigger kind (enter, exit, loiter, occupancy,
                                       overcrowd, line_cross, tamper) or "manual" */
  char label[64];                   /* the object's class ("person", "car") or the manual event's label */
  char direction[8];                /* line_cross: a_to_b or b_to_a; else "" */
  int severity;                     /* vg_event_severity_t */
  char labels[VG_EVENT_LABELS_MAX]; /* operator tags from the rules, comma-separated ("" none) */
  int64_t start_utc_us;
  int64_t end_utc_us;    /* 0 while the event is active */
  int64_t update_utc_us; /* the last trigger grouped into it */
  float best_score;      /* the object's best detection score, 0 when unknown */
  float median_score;    /* the median of the object's scores over its life */
  float box[4];          /* x1, y1, x2, y2 of the object at its best score, normalized 0..1 */
  uint32_t track_id;     /* the analytics track, 0 when not about one object */
  uint32_t triggers;     /* sensor triggers grouped into the event */
  bool active;           /* started and not ended */
  bool snapshot;         /* a snapshot and a thumbnail are available */
  bool false_positive;   /* an operator marked it */
  bool retained;         /* its evidence is locked against retention */
  bool manual;           /* created by an operator or the API */
  float trigger_box[4];  /* the object's box when it first triggered (where it happened), normalized */
} vg_event_t;

/* "info", "low", "medium", "high", "critical"; "unknown" out of range. */
const char *vg_event_severity_name(int severity);
/* The severity named by name; VG_EINVAL when none. */
int vg_event_severity_parse(const char *name);

/* The event as JSON: {"id", "camera", "sensor", "kind", "label", "direction",
 * "severity" (name), "labels" (array of strings), "start" / "end" (RFC 3339
 * UTC with milliseconds; "end" null while active), "start_ms" / "end_ms"
 * (unix ms), "active", "best_score", "median_score", "box" ([x1,y1,x2,y2]
 * or null), "trigger_box" (likewise), "track_id", "triggers", "snapshot", "false_positive",
 * "retained", "manual"}. Returns a new reference or NULL (no memory). */
json_t *vg_event_to_json(const vg_event_t *ev);

#endif
