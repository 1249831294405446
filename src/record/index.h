/*
 * index.h: the recording index, in the database (db/db.h, module "record").
 *
 * Every recorded segment file has a row in rec_segments (camera, storage
 * root, path relative to the root, UTC wall-clock start and end, bytes,
 * closed flag, quality, tier) and every complete fragment (moof + mdat) of
 * it a row in rec_fragments (byte offset and size in the file, start and
 * duration, keyframe flag, sample count). Playback finds footage through
 * it, retention deletes through it, recovery reconciles it with the files.
 * rec_locks holds evidence locks (ranges never deleted while active) and
 * rec_marks the event and manual-trigger ranges; rec-retention uses them.
 *
 * Consistency rule (the writer keeps it, recovery restores it): a fragment
 * row is written only after its bytes are in the file, so a crash can leave
 * bytes without a row but never a row without bytes. A segment row whose
 * closed flag is 0 after a restart is reconciled by recovery (recovery.h).
 *
 * Times are UTC wall clock in microseconds; a segment covers
 * [start_us, end_us). Paths are relative to the root (no leading '/').
 * The tier is "local" now; object storage later moves segments to another
 * tier without changing their identity.
 *
 * Ownership: an index wraps one vg_db_t (not owned: the caller closes it
 * after vg_rec_index_close). Threads: like vg_db_t, an index belongs to one
 * thread at a time; each thread opens its own on its own connection.
 *
 * Iteration: query functions call cb once per row in the documented order;
 * cb returns 0 to go on, a positive value to stop early (the function then
 * returns the number of rows delivered so far) or a negative error that is
 * returned as is. cb may call other index functions on the same index
 * (including writes), but must not close it.
 */
#ifndef VG_RECORD_INDEX_H
#define VG_RECORD_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

#define VG_REC_CAMERA_MAX 64
#define VG_REC_ROOT_MAX 512
#define VG_REC_PATH_MAX 256
#define VG_REC_TIER_MAX 16
#define VG_REC_REASON_MAX 256

/* What a segment holds: every frame, only the video keyframes
 * (intelligent retention while idle), or every frame of the camera's
 * low-resolution substream (intelligent retention while idle, with
 * cameras[].record.substream). Stored as "full" / "keyframes" /
 * "substream". */
typedef enum {
  VG_REC_QUALITY_FULL = 0,
  VG_REC_QUALITY_KEYFRAMES = 1,
  VG_REC_QUALITY_SUBSTREAM = 2
} vg_rec_quality_t;

typedef struct {
  int64_t id;                     /* set by vg_rec_index_add_segment */
  char camera[VG_REC_CAMERA_MAX]; /* camera id */
  char root[VG_REC_ROOT_MAX];     /* storage root's path as configured */
  char path[VG_REC_PATH_MAX];     /* file path relative to root */
  int64_t start_us;               /* UTC of the first frame */
  int64_t end_us;                 /* UTC end of the last indexed fragment (start_us when none) */
  uint64_t bytes;                 /* file size up to the end of the last indexed fragment */
  uint32_t fragments;             /* indexed fragments */
  bool closed;                    /* the writer finished the file (or recovery did) */
  vg_rec_quality_t quality;
  char tier[VG_REC_TIER_MAX]; /* "local" (default when empty on add) */
} vg_rec_segment_t;

typedef struct {
  int64_t segment_id;
  uint64_t offset;     /* byte offset of the moof in the file */
  uint64_t size;       /* moof + mdat bytes */
  int64_t start_us;    /* UTC of the fragment's first sample */
  int64_t duration_us; /* media duration of the fragment */
  bool key;            /* its first video sample is a keyframe (a seek point) */
  uint32_t samples;    /* samples of all tracks */
} vg_rec_fragment_t;

/* An evidence lock: footage of camera overlapping [start_us, end_us) is not
 * deletable while the lock is active (until_us == 0: forever; else until
 * that UTC time). */
typedef struct {
  int64_t id; /* set by vg_rec_index_add_lock */
  char camera[VG_REC_CAMERA_MAX];
  int64_t start_us, end_us;
  int64_t until_us; /* 0 = forever */
  char reason[VG_REC_REASON_MAX];
} vg_rec_lock_t;

typedef enum { VG_REC_MARK_EVENT = 0, VG_REC_MARK_MANUAL = 1 } vg_rec_mark_kind_t;

/* A range of footage around an event or a manual trigger (kept longer by
 * retention). Stored kind "event" / "manual". */
typedef struct {
  int64_t id; /* set by vg_rec_index_add_mark */
  char camera[VG_REC_CAMERA_MAX];
  int64_t start_us, end_us;
  vg_rec_mark_kind_t kind;
} vg_rec_mark_t;

/* Per-root sums over all segments of the index. */
typedef struct {
  char root[VG_REC_ROOT_MAX];
  uint64_t bytes;
  uint64_t segments;
} vg_rec_root_total_t;

typedef struct vg_rec_index vg_rec_index_t;

typedef int (*vg_rec_segment_cb)(void *opaque, const vg_rec_segment_t *seg);
typedef int (*vg_rec_fragment_cb)(void *opaque, const vg_rec_fragment_t *frag);
typedef int (*vg_rec_lock_cb)(void *opaque, const vg_rec_lock_t *lock);
typedef int (*vg_rec_mark_cb)(void *opaque, const vg_rec_mark_t *mark);
typedef int (*vg_rec_root_cb)(void *opaque, const vg_rec_root_total_t *total);

/* Applies the "record" module's migrations to db (idempotent). */
int vg_rec_index_migrate(vg_db_t *db);
/* Migrates db and prepares the index's statements. db must outlive the
 * index. Returns 0 or VG_EDB / VG_ENOMEM. */
int vg_rec_index_open(vg_db_t *db, vg_rec_index_t **out);
/* Finalizes the statements (rolls back an open batch). Safe on NULL. */
void vg_rec_index_close(vg_rec_index_t **ix);
vg_db_t *vg_rec_index_db(vg_rec_index_t *ix);

/* Batched writes: everything between begin and commit is one transaction
 * (the writer thread uses one per wake-up). Without a batch each write is
 * its own transaction. rollback discards the batch. */
int vg_rec_index_begin(vg_rec_index_t *ix);
int vg_rec_index_commit(vg_rec_index_t *ix);
void vg_rec_index_rollback(vg_rec_index_t *ix);
/* Rows written (segments added, fragments appended, segments closed or
 * deleted) since the index was opened, for vigil_record_index_writes_total. */
uint64_t vg_rec_index_writes(vg_rec_index_t *ix);

/* Adds seg (closed, bytes and end_us as given; fragments counted as 0) and
 * sets seg->id. VG_EEXIST when (root, path) already has a row, VG_EINVAL on
 * an empty camera/root/path. */
int vg_rec_index_add_segment(vg_rec_index_t *ix, vg_rec_segment_t *seg);
/* Adds a fragment row and moves its segment's end_us to
 * max(end_us, start_us + duration_us), bytes to max(bytes, offset + size)
 * and fragments up by one. VG_ENOENT when the segment has no row,
 * VG_EEXIST when the offset is already indexed. */
int vg_rec_index_append_fragment(vg_rec_index_t *ix, const vg_rec_fragment_t *frag);
/* Marks the segment closed with its final end_us and bytes (the values as
 * given; recovery uses it to trim). VG_ENOENT when there is no row. */
int vg_rec_index_close_segment(vg_rec_index_t *ix, int64_t id, int64_t end_us, uint64_t bytes);
/* Deletes the segment's row and its fragments (not the file). VG_ENOENT
 * when there is no row. */
int vg_rec_index_delete_segment(vg_rec_index_t *ix, int64_t id);
/* Deletes the fragment rows of segment id at offsets >= from_offset and
 * recounts the segment's fragments (recovery, after a truncation). Returns
 * the number of rows deleted. */
int vg_rec_index_trim_fragments(vg_rec_index_t *ix, int64_t id, uint64_t from_offset);

/* One segment by id, or by (root, path). VG_ENOENT when absent. */
int vg_rec_index_get_segment(vg_rec_index_t *ix, int64_t id, vg_rec_segment_t *out);
int vg_rec_index_find_segment(vg_rec_index_t *ix, const char *root, const char *path, vg_rec_segment_t *out);

/* Segments of camera overlapping [start_us, end_us) (start_us < end and
 * end_us > start; an open segment with no fragment yet counts from its
 * start), in start_us order. Returns the number delivered. */
int vg_rec_index_query(vg_rec_index_t *ix, const char *camera, int64_t start_us, int64_t end_us,
                       vg_rec_segment_cb cb, void *opaque);
/* Fragments of segment id, in offset order; with start_us < end_us given,
 * only those overlapping [start_us, end_us) (pass 0, INT64_MAX for all).
 * Returns the number delivered. */
int vg_rec_index_fragments(vg_rec_index_t *ix, int64_t segment_id, int64_t start_us, int64_t end_us,
                           vg_rec_fragment_cb cb, void *opaque);
/* Segments not closed, of root (NULL: every root), in id order (recovery). */
int vg_rec_index_unclosed(vg_rec_index_t *ix, const char *root, vg_rec_segment_cb cb, void *opaque);

/* Every segment of root, in id order (recovery checks their files). */
int vg_rec_index_root_segments(vg_rec_index_t *ix, const char *root, vg_rec_segment_cb cb, void *opaque);

/* Bytes and segment counts per root, in root order (roots with segments).
 * Both read running totals (table rec_root_usage) that triggers keep in
 * step with every change to rec_segments, in the same transaction, so
 * they cost one row read whatever the number of segments. */
int vg_rec_index_root_totals(vg_rec_index_t *ix, vg_rec_root_cb cb, void *opaque);
/* Bytes of one root (0 when it has no segments). */
int vg_rec_index_root_bytes(vg_rec_index_t *ix, const char *root, uint64_t *bytes);
/* Recomputes the running totals from the segments when they differ (a
 * database edited by hand or restored in part); retention does it at
 * start. Not inside a batch (VG_EBUSY). Returns the number of roots that
 * were off (0 normally) or an error. */
int vg_rec_index_reconcile_totals(vg_rec_index_t *ix);
/* The cameras that have segments, in name order (one index seek each).
 * cb as for the queries above. Returns the number delivered. */
int vg_rec_index_cameras(vg_rec_index_t *ix, int (*cb)(void *opaque, const char *camera), void *opaque);

/* Oldest closed segments first (start_us order), filtered by root and
 * camera when not NULL and to those ending at or before before_us
 * (INT64_MAX: any age), at most limit; segments overlapping a lock of their
 * camera that is active at now_us are never delivered. Returns the number
 * delivered. */
int vg_rec_index_deletable(vg_rec_index_t *ix, const char *root, const char *camera, int64_t before_us,
                           int64_t now_us, int limit, vg_rec_segment_cb cb, void *opaque);

/* Locks: add (sets lock->id; VG_EINVAL when end <= start), delete by id
 * (VG_ENOENT), list those of camera (NULL: all) active at now_us (0: all,
 * expired included), in start_us order. */
int vg_rec_index_add_lock(vg_rec_index_t *ix, vg_rec_lock_t *lock);
int vg_rec_index_delete_lock(vg_rec_index_t *ix, int64_t id);
int vg_rec_index_locks(vg_rec_index_t *ix, const char *camera, int64_t now_us, vg_rec_lock_cb cb,
                       void *opaque);

/* Marks: add (sets mark->id), list those of camera overlapping
 * [start_us, end_us) in start_us order, delete those ending before
 * before_us (returns the count deleted). */
int vg_rec_index_add_mark(vg_rec_index_t *ix, vg_rec_mark_t *mark);
int vg_rec_index_marks(vg_rec_index_t *ix, const char *camera, int64_t start_us, int64_t end_us,
                       vg_rec_mark_cb cb, void *opaque);
int vg_rec_index_delete_marks_before(vg_rec_index_t *ix, const char *camera, int64_t before_us);

/* "full" / "keyframes" and back (VG_EINVAL for another name). */
const char *vg_rec_quality_name(vg_rec_quality_t q);
int vg_rec_quality_parse(const char *name, vg_rec_quality_t *out);

#endif
