/*
 * store.h: events in the database (db/db.h, module "events").
 *
 * One row per event (table events): the vg_event_t fields, the evidence
 * files (paths relative to the evidence directory), the id of the
 * recording lock that keeps its clip (record/index.h), and when it was
 * marked a false positive. Queries filter by camera (or a set of cameras
 * the user may see), time range (events overlapping it), class, sensor,
 * kind, minimum severity, false-positive flag and free text on the labels,
 * class and sensor; newest first, paginated by a cursor (the last row's
 * start and id) or an offset, with the total count of matching rows.
 *
 * Threads: a store wraps one vg_db_t and belongs to its thread.
 */
#ifndef VG_EVENT_STORE_H
#define VG_EVENT_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "event/event.h"

#define VG_EVENT_QUERY_MAX_LIMIT 1000
#define VG_EVENT_QUERY_MAX_CAMERAS 512

typedef struct vg_event_store vg_event_store_t;

/* What is kept with an event besides vg_event_t. */
typedef struct {
  char snapshot[256];  /* relative path, "" when none */
  char thumbnail[256]; /* relative path, "" when none */
  int64_t lock_id;     /* the recording lock, 0 when none */
  int64_t fp_utc_us;   /* when it was marked a false positive, 0 when not */
} vg_event_files_t;

typedef struct {
  char camera[64]; /* "" any */
  char label[64];  /* class or manual label, "" any */
  char sensor[64];
  char kind[16];
  int min_severity;         /* -1 any */
  int false_positive;       /* -1 any, 0 or 1 */
  char text[128];           /* substring of labels, label or sensor, "" any */
  int64_t start_us, end_us; /* events overlapping [start, end); 0: open */
  int limit;                /* 1..VG_EVENT_QUERY_MAX_LIMIT */
  int64_t offset;           /* rows to skip (not with a cursor) */
  bool has_cursor;          /* only rows after (older than) the cursor */
  int64_t cursor_start_us, cursor_id;
  /* When cameras is not NULL, only these cameras (the user's). */
  const char *const *cameras;
  int camera_count;
} vg_event_query_t;

void vg_event_query_init(vg_event_query_t *q);

typedef int (*vg_event_cb)(void *opaque, const vg_event_t *ev, const vg_event_files_t *files);

/* Migrates db and prepares the statements. db must outlive the store. */
int vg_event_store_open(vg_db_t *db, vg_event_store_t **out);
void vg_event_store_close(vg_event_store_t **st);

/* Inserts ev (its id is ignored) and sets ev->id. */
int vg_event_store_insert(vg_event_store_t *st, vg_event_t *ev);
/* Writes every field of ev to its row. VG_ENOENT when there is none. */
int vg_event_store_update(vg_event_store_t *st, const vg_event_t *ev);
int vg_event_store_set_files(vg_event_store_t *st, int64_t id, const char *snapshot, const char *thumbnail);
int vg_event_store_set_lock(vg_event_store_t *st, int64_t id, int64_t lock_id);
/* Sets the flags (-1: leave); false_positive 1 stamps fp_utc_us. */
int vg_event_store_set_flags(vg_event_store_t *st, int64_t id, int false_positive, int retained,
                             int64_t utc_us);
/* VG_ENOENT when there is no such event. files may be NULL. */
int vg_event_store_get(vg_event_store_t *st, int64_t id, vg_event_t *out, vg_event_files_t *files);
int vg_event_store_delete(vg_event_store_t *st, int64_t id);

/* Calls cb for each matching row, newest first (start, then id), at most
 * q->limit; *total (may be NULL) gets the count of all matching rows
 * (cursor and offset aside). Returns the number delivered. */
int vg_event_store_query(vg_event_store_t *st, const vg_event_query_t *q, vg_event_cb cb, void *opaque,
                         int64_t *total);
/* Events that ended before before_us and are not retained, oldest first,
 * at most limit. */
int vg_event_store_expired(vg_event_store_t *st, int64_t before_us, int limit, vg_event_cb cb, void *opaque);
/* Events marked false positive since since_us (for the masks at start). */
int vg_event_store_false_positives(vg_event_store_t *st, int64_t since_us, vg_event_cb cb, void *opaque);
/* Events left active by a previous run (a crash): they are ended at their
 * last update. Returns how many. */
int vg_event_store_close_stale(vg_event_store_t *st);

#endif
