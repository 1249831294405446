/*
 * service.h: the node's event service: the engine (engine.h) fed from the
 * bus, events stored (store.h) and published ("event.*", event.h),
 * recording driven (record/trigger.h: full quality while an event is
 * active), evidence kept (snapshots, evidence.h; clips locked against
 * retention, record/index.h locks) and old events expired.
 *
 * One thread of its own runs the engine: the bus delivers analytics
 * messages to it (vg_bus_sub_opts_t.post), it ticks the engine four times
 * a second, grabs snapshots (decoding, outside the lock) and deletes
 * events older than max_age_days that are not retained, with their files
 * and locks. The functions below serve the API on the HTTP thread; they
 * take the service's lock and use its database connection, so a call may
 * wait for one engine step.
 *
 * Lock rule: an event's clip range [start - pre_capture, end +
 * post_capture] (an active event: up to start + max_event) is locked while
 * the event is kept, unless it is marked a false positive and neither
 * retained nor lock_false_positives is set. Deleting the event (expiry or
 * the API) releases the lock and removes its pictures.
 *
 * Metrics: vigil_events_total{camera,kind,label},
 * vigil_events_suppressed_total{camera,reason}, vigil_event_snapshots_total,
 * vigil_event_snapshot_failures_total, vigil_events_active.
 *
 * Threads: start/stop on the main thread (after analytics and recording
 * start, before the API; stopped after the API); the rest from any thread.
 */
#ifndef VG_EVENT_SERVICE_H
#define VG_EVENT_SERVICE_H

#include <stdbool.h>

#include "base/bus.h"
#include "event/rules.h"
#include "event/store.h"

/* cfg must outlive the service. db_path: the node's database (required).
 * bus may be NULL (only manual events then). Does nothing when
 * cfg->enabled is false. */
int vg_event_service_start(const vg_event_config_t *cfg, const char *db_path, vg_bus_t *bus);
void vg_event_service_stop(void);
/* The running service's configuration, or NULL when it is not running. */
const vg_event_config_t *vg_event_service_config(void);

/* The API's operations. All return VG_ESTATE when the service is not
 * running and VG_ENOENT for an unknown id. */
int vg_event_service_manual(const char *camera, const char *label, int severity, const char *labels,
                            int64_t start_us, int64_t end_us, vg_event_t *out);
int vg_event_service_get(int64_t id, vg_event_t *out, vg_event_files_t *files);
int vg_event_service_query(const vg_event_query_t *q, vg_event_cb cb, void *opaque, int64_t *total);
/* Marks the event a false positive: learns its box into the mask. */
int vg_event_service_false_positive(int64_t id, vg_event_t *out);
int vg_event_service_retain(int64_t id, bool retain, vg_event_t *out);
int vg_event_service_delete(int64_t id);

/* The clip range of ev (see the lock rule above), at now_us for an active event. */
void vg_event_clip_range(const vg_event_config_t *cfg, const vg_event_t *ev, int64_t now_us,
                         int64_t *start_us, int64_t *end_us);

#endif
