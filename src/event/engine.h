/*
 * engine.h: the event engine's decisions, without I/O: sensor triggers and
 * per-frame metadata in, event life cycles out (through callbacks).
 *
 * - Each trigger is matched to a rule (rules.h): no rule, an "ignore" rule
 *   or a rule whose schedule is off at the trigger's time drops it.
 * - Grouping: a trigger about an object (track id) joins the open event of
 *   that object on its camera; one without an object joins the open event
 *   of its camera and sensor. "Open" means its last activity (a trigger, or
 *   a sighting of its object in the metadata) is at most group_window old.
 * - A new candidate starts pending. It becomes an event (start callback)
 *   once the median of its object's detection scores over the object's life
 *   reaches the rule's min_confidence and it has lasted min_duration (from
 *   its first trigger to the object's last sighting). A pending candidate
 *   whose window closes first is dropped (counted, reason "confidence" or
 *   "duration"). Triggers without an object have no score: only the duration
 *   applies.
 * - Suppression: a candidate whose object's box lies on the learned
 *   false-positive mask of its camera and class (fpmask.h) is dropped,
 *   reason "false_positive"; after an event ends, candidates of the same
 *   camera, sensor and class are dropped for cooldown (reason "cooldown").
 * - An event ends group_window after its last activity, or after
 *   max_event (end callback). Manual events have a fixed end (or none
 *   given: a duration) and end at it.
 * - While an event is active, each improvement of its object's score asks
 *   for a snapshot (snapshot callback), at most once per min_gap_snap.
 *
 * Times are UTC microseconds taken from the messages (tick() gives the
 * present), so tests drive the engine with scripted times.
 *
 * Threads: an engine belongs to one thread at a time; callbacks run on it
 * synchronously.
 */
#ifndef VG_EVENT_ENGINE_H
#define VG_EVENT_ENGINE_H

#include "analytics/analytics.h"
#include "event/event.h"
#include "event/fpmask.h"
#include "event/rules.h"

typedef struct vg_event_engine vg_event_engine_t;

typedef struct {
  /* A new event: store it and set ev->id (> 0). A non-zero return drops it. */
  int (*start)(void *opaque, vg_event_t *ev);
  void (*update)(void *opaque, const vg_event_t *ev);
  void (*end)(void *opaque, const vg_event_t *ev);
  /* The event's object scored better in the frame at frame_utc_us; box in
   * ev->box. */
  void (*snapshot)(void *opaque, const vg_event_t *ev, int64_t frame_utc_us);
  /* A candidate was dropped; reason: "false_positive", "cooldown",
   * "confidence", "duration". */
  void (*suppressed)(void *opaque, const char *camera, const char *reason);
} vg_event_engine_cbs_t;

/* cfg must outlive the engine. Returns 0, VG_EINVAL or VG_ENOMEM. */
int vg_event_engine_new(const vg_event_config_t *cfg, const vg_event_engine_cbs_t *cbs, void *opaque,
                        vg_event_engine_t **out);
void vg_event_engine_free(vg_event_engine_t **e);

/* Feeds one analysed frame's metadata: the objects' scores (when the
 * detector ran), boxes and sightings. */
void vg_event_engine_meta(vg_event_engine_t *e, const vg_analytics_meta_t *m);
/* Feeds one sensor trigger. */
void vg_event_engine_trigger(vg_event_engine_t *e, const vg_analytics_trigger_t *t);
/* Ends what has gone quiet and decides pending candidates at now_us. */
void vg_event_engine_tick(vg_event_engine_t *e, int64_t now_us);
/* When tick() next has something to do: INT64_MIN while a candidate from
 * the analytics is pending or open (its deadlines move with every message:
 * tick it at the caller's cadence), else the earliest end of a manual event
 * or expiry of a track, or INT64_MAX when there is nothing at all. */
int64_t vg_event_engine_next_due(const vg_event_engine_t *e);
/* The snapshot asked for event id could not be taken (its moment is gone
 * from the stream's cache): the next one is asked for at the object's
 * latest analysed frame, with that frame's box. */
void vg_event_engine_snapshot_failed(vg_event_engine_t *e, int64_t id);

/* A manual event of camera with label, severity, labels (comma-separated,
 * may be ""), from start_us to end_us (> start_us); an end in the future
 * keeps it active until then. Sets *out (may be NULL) to the event as
 * started. Returns 0, VG_EINVAL, or the start callback's error. */
int vg_event_engine_manual(vg_event_engine_t *e, const char *camera, const char *label, int severity,
                           const char *labels, int64_t start_us, int64_t end_us, int64_t now_us,
                           vg_event_t *out);

/* Marks event id a false positive: its box (when it has one) goes into
 * the mask at utc_us. Returns 0, or VG_EINVAL when box is empty. */
int vg_event_engine_learn_false_positive(vg_event_engine_t *e, const char *camera, const char *label,
                                         const float box[4], int64_t utc_us);
/* Flags of an active event changed elsewhere (the API): its copy is
 * updated so that later messages carry them. */
void vg_event_engine_set_flags(vg_event_engine_t *e, int64_t id, int snapshot, int false_positive,
                               int retained);
/* A copy of active event id; VG_ENOTFOUND when it is not active. */
int vg_event_engine_get(vg_event_engine_t *e, int64_t id, vg_event_t *out);

/* The mask set (read-only use: scores for tests and introspection). */
const vg_fpmask_set_t *vg_event_engine_fpmask(const vg_event_engine_t *e);

/* The median of n scores (sorted into a copy); 0 for n == 0. */
float vg_event_median(const float *scores, int n);

#endif
