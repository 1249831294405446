/*
 * retention.h: deleting recorded footage when policy says so.
 *
 * Retention deletes whole segments, oldest first, for three reasons:
 *   age    a segment that ended more than the camera's max_age ago, unless
 *          it overlaps an event or manual mark (trigger.h): then it is kept
 *          until event_max_age;
 *   quota  a storage root whose recordings (the index's running byte
 *          total, index.h: one row read, reconciled at start) exceed
 *          high_water percent of its quota (quota_bytes, or quota_percent of
 *          its filesystem): the oldest footage of every camera of that root
 *          goes until the total is below low_water percent;
 *   space  a filesystem whose free space falls below min_free_bytes (a real
 *          disk full, whoever filled it): the same, until free space is
 *          back above the floor.
 * Segments overlapping an active evidence lock (rec_locks) are never
 * deleted, whatever the reason; open segments neither.
 *
 * Order of a deletion: the index row goes first, in a transaction, then the
 * file is unlinked. Playback therefore never finds a row without its file;
 * a crash in between leaves a file without a row, which recovery (index /
 * recovery, rec-index) indexes again or removes.
 *
 * A pass with nothing to delete costs a few index seeks per root and per
 * camera, whatever the number of segments (docs/BENCHMARKS.md).
 *
 * Incremental: a pass deletes at most `batch` segments; when it had more to
 * do the next pass follows shortly, otherwise after interval_ms. A pass
 * runs on the retention thread with its own database connection, never on
 * an I/O loop nor on the writer thread.
 *
 * Metrics: vigil_retention_deleted_segments_total{camera},
 * vigil_retention_deleted_bytes_total{camera}. Each pass that deleted
 * something logs one summary line.
 *
 * Threads: vg_retention_start / _stop from the main thread; a vg_retention_t
 * made by vg_retention_create belongs to its caller's thread (tests).
 */
#ifndef VG_RECORD_RETENTION_H
#define VG_RECORD_RETENTION_H

#include <stdbool.h>
#include <stdint.h>

#include "record/index.h"
#include "record/recorder.h"

#define VG_RETENTION_MAX_ROOTS 16

typedef struct {
  char path[VG_REC_ROOT_MAX]; /* as configured: the index's root column */
  uint64_t quota_bytes;       /* 0: none (unless quota_percent) */
  int quota_percent;          /* of the filesystem's size, 0: none */
  int high_water;             /* percent of the quota that starts deleting, default 95 */
  int low_water;              /* percent of the quota where deleting stops, default 85 */
  uint64_t min_free_bytes;    /* free-space floor; 0: the smaller of 256 MiB and 1% of the filesystem */
} vg_retention_root_t;

typedef struct {
  vg_retention_root_t roots[VG_RETENTION_MAX_ROOTS];
  int root_count;
  int interval_ms; /* between passes with nothing more to do, default 5000 */
  int batch;       /* segments deleted per pass at most, default 32 */
} vg_retention_config_t;

/* Fills a root's defaults (high 95, low 85, no quota, default floor). */
void vg_retention_root_default(vg_retention_root_t *root, const char *path);

/* Size and free space of the filesystem holding path (statvfs by default;
 * tests substitute their own). */
typedef struct {
  uint64_t total_bytes, free_bytes;
} vg_fs_space_t;
typedef int (*vg_fs_space_fn)(const char *path, vg_fs_space_t *out);

/* What one pass did. */
typedef struct {
  int deleted;    /* segments deleted */
  uint64_t bytes; /* their bytes */
  int by_age, by_quota, by_space;
  int kept_for_events; /* old enough for max_age, kept for event_max_age */
  bool more;           /* stopped at the batch limit: run again soon */
} vg_retention_report_t;

typedef struct vg_retention vg_retention_t;

/* A retention engine over cfg (copied); policies come from trigger.h
 * (vg_rec_policy_get) by camera. Returns 0, VG_EINVAL or VG_ENOMEM. */
int vg_retention_create(const vg_retention_config_t *cfg, vg_retention_t **out);
void vg_retention_free(vg_retention_t **r);
/* Replaces statvfs (tests). */
void vg_retention_set_space_fn(vg_retention_t *r, vg_fs_space_fn fn);
/* One pass at now_us (UTC) over ix. Fills report (may be NULL). Returns 0
 * or an index error. */
int vg_retention_pass(vg_retention_t *r, vg_rec_index_t *ix, int64_t now_us, vg_retention_report_t *report);
/* Totals deleted so far for camera. */
void vg_retention_camera_totals(vg_retention_t *r, const char *camera, uint64_t *segments, uint64_t *bytes);

/* Starts the retention thread (its index: vg_record_thread_index, so
 * vg_rec_policies_init must have named the database) and registers the
 * metrics. Returns 0, VG_EBUSY when running, or an error. */
int vg_retention_start(const vg_retention_config_t *cfg);
/* What a node does when recording starts: names the database for the
 * policies and triggers (vg_rec_policies_init with the parsed node-wide
 * policy) and starts retention over rec's storage roots with their quotas
 * and water marks. Errors are logged; returns 0 or the error. */
int vg_retention_start_node(const vg_record_config_t *rec, const char *db_path);
/* Asks for a pass now (e.g. after a write failed with ENOSPC). Any thread. */
void vg_retention_wake(void);
/* Stops and joins the thread. Safe when not started. */
void vg_retention_stop(void);

#endif
