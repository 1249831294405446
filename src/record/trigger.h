/*
 * trigger.h: what makes a camera record at full quality (manual triggers
 * and events), the per-camera recording policies, and each thread's own
 * connection to the recording index.
 *
 * A manual trigger (POST /api/v1/cameras/{id}/record, vg_record_trigger)
 * forces full quality for a duration, then post_roll_s. Events (the events engine, later)
 * call vg_record_event_begin / vg_record_event_end; a camera is active
 * while any event of it is open and for post_roll_s after the last one
 * ends. Each trigger writes a mark (rec_marks, index.h) covering the
 * footage it made full quality, pre-roll and post-roll included, so that
 * retention keeps it for event_max_age instead of max_age. Marks are queued
 * and stored by the retention thread (vg_record_flush_marks), so that no
 * caller, on an I/O loop or not, waits for the database.
 *
 * Policies: vg_rec_policies_set gives the node-wide policy and each
 * camera's overrides (config "record" and cameras[].record); recorders and
 * retention read them by camera id.
 *
 * Threads: every function may be called from any thread (one mutex guards
 * the small tables); only vg_record_flush_marks and vg_record_thread_index
 * touch the database.
 */
#ifndef VG_RECORD_TRIGGER_H
#define VG_RECORD_TRIGGER_H

#include <stdbool.h>
#include <stdint.h>

#include "record/index.h"
#include "record/mode.h"
#include "record/recorder.h"

/* --- policies --- */

/* Parses the top-level "record" object: this module's keys
 * (vg_rec_policy_parse, and "retention_interval_s") into the node-wide
 * policy, kept for
 * vg_rec_policies_init, and the rest with vg_record_config_parse (the
 * recorder's keys). Returns 0 or VG_ECONFIG. Configuration thread. */
int vg_rec_node_config_parse(vg_cfg_t *c, json_t *obj, vg_record_config_t *out);
/* The "retention_interval_s" that vg_rec_node_config_parse read (seconds
 * between retention passes with nothing pending; default 5). */
int vg_rec_retention_interval_s(void);
/* Parses this module's keys of a camera's "record" object (cameras[].record;
 * obj may be NULL) and checks that it has no other key than those and
 * "root" (roots.h). The overrides apply on top of the node-wide policy at
 * vg_rec_policies_init. Returns 0 or VG_ECONFIG. Configuration thread. */
int vg_rec_camera_policy_parse(vg_cfg_t *c, json_t *obj, const char *camera);

/* Sets the database file the thread-local indexes open (config
 * "database.path"; NULL or "" disables marks, locks and retention) and the
 * node-wide policy (NULL: the one vg_rec_node_config_parse read, or the
 * defaults), then applies the cameras' parsed overrides. Called from the
 * main thread before recording starts; safe to call again (tests). */
int vg_rec_policies_init(const char *db_path, const vg_rec_policy_t *node_policy);
/* Sets camera's own policy (the node-wide one with its overrides applied). */
int vg_rec_policy_set(const char *camera, const vg_rec_policy_t *policy);
/* Copies camera's policy (the node-wide one when it has none) into out. */
void vg_rec_policy_get(const char *camera, vg_rec_policy_t *out);
/* Forgets every policy and trigger (vigil stops; tests). */
void vg_rec_policies_reset(void);

/* The mode of policy at utc_us: its schedule evaluated in the node's local
 * time, or its own mode. */
vg_rec_mode_t vg_rec_policy_mode_at(const vg_rec_policy_t *policy, int64_t utc_us);

/* --- triggers --- */

#define VG_RECORD_TRIGGER_MAX_S 86400

/* Forces full quality on camera from now (UTC) for duration_s
 * (1..VG_RECORD_TRIGGER_MAX_S) seconds, then post_roll_s more; a later end
 * than a running trigger extends it, an earlier one leaves it. Writes a
 * "manual" mark (pre-roll and post-roll included). Sets *until_us (may be
 * NULL) to the end of the trigger (without the post-roll). Returns 0,
 * VG_EINVAL or VG_ENOMEM. */
int vg_record_trigger(const char *camera, int duration_s, const char *reason, int64_t *until_us);

/* An event of camera starts / ends. Begins and ends are counted, so
 * overlapping events keep the camera active until the last one ends, and
 * then for post_roll_s. Each writes an "event" mark (from pre_roll_s before
 * the first begin to post_roll_s after the end). An end without a begin is
 * VG_EINVAL. */
int vg_record_event_begin(const char *camera, const char *reason);
int vg_record_event_end(const char *camera);

/* Whether camera records full quality at utc_us (a trigger, an open event
 * or a post-roll). */
bool vg_record_active(const char *camera, int64_t utc_us);

/* --- the recorder's gate (mode.h) --- */

/* Points g at camera's trigger state and policy (vg_rec_gate_init with the
 * policy's pre-roll). Recorder's worker thread. */
int vg_rec_gate_open(vg_rec_gate_t *g, const char *camera, int key_track);
/* Refreshes g's mode (the schedule, evaluated once a minute) and whether a
 * trigger is active, at utc_us. Call before a batch of frames. */
void vg_rec_gate_update(vg_rec_gate_t *g, int64_t utc_us);

/* --- marks --- */

/* Stores the marks that triggers queued (in order) on ix. The retention
 * thread calls it at each wake; returns how many were written. */
int vg_record_flush_marks(vg_rec_index_t *ix);
/* wake (may be NULL) is called, outside any lock, after a mark is queued:
 * the retention thread's way to be woken. */
void vg_record_set_mark_waker(void (*wake)(void));

/* --- the calling thread's index --- */

/* The calling thread's own index on the configured database, opened (and
 * migrated) on first use and closed when the thread exits. NULL when no
 * database is configured or it cannot be opened. */
vg_rec_index_t *vg_record_thread_index(void);
/* Closes the calling thread's index now (the main thread, whose
 * thread-exit destructors do not run when main returns). */
void vg_record_thread_index_close(void);

#endif
