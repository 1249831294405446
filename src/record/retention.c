#include "record/retention.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/strbuf.h"
#include "base/time.h"
#include "record/trigger.h"

/* Rows of one camera looked at per pass for the age rule: footage kept for
 * its events is skipped, and this bounds how much of it one pass reads. */
#define AGE_SCAN_ROWS 4096
/* Cameras the age rule looks at per pass (far more than a node serves). */
#define MAX_AGE_CAMERAS 4096
/* Cameras with their own counters on /metrics. */
#define MAX_COUNTED_CAMERAS 1024
/* The pause after a pass that stopped at its batch limit. */
#define BUSY_INTERVAL_MS 200
/* Directories are removed only when their footage is this old, so that the
 * writer never sees its fresh hour directory vanish between mkdir and open. */
#define RMDIR_MIN_AGE_US (2LL * 3600 * 1000000)

typedef struct {
  char camera[VG_REC_CAMERA_MAX];
  uint64_t segments, bytes;
} camera_count_t;

struct vg_retention {
  vg_retention_config_t cfg;
  vg_fs_space_fn space;
  bool reclaiming[VG_RETENTION_MAX_ROOTS]; /* above high water, until below low water */
  bool warned_stuck[VG_RETENTION_MAX_ROOTS];
  vg_log_ctx_t log;

  pthread_mutex_t lock; /* the counters, read by the metrics collector */
  camera_count_t counts[MAX_COUNTED_CAMERAS];
  int count_n;
};

static int statvfs_space(const char *path, vg_fs_space_t *out) {
  struct statvfs st;
  if (statvfs(path, &st) != 0) return -errno;
  out->total_bytes = (uint64_t)st.f_blocks * st.f_frsize;
  out->free_bytes = (uint64_t)st.f_bavail * st.f_frsize;
  return 0;
}

void vg_retention_root_default(vg_retention_root_t *root, const char *path) {
  memset(root, 0, sizeof(*root));
  snprintf(root->path, sizeof(root->path), "%s", path ? path : "");
  root->high_water = 95;
  root->low_water = 85;
}

int vg_retention_create(const vg_retention_config_t *cfg, vg_retention_t **out) {
  *out = NULL;
  if (!cfg || cfg->root_count < 0 || cfg->root_count > VG_RETENTION_MAX_ROOTS) return VG_EINVAL;
  for (int i = 0; i < cfg->root_count; i++) {
    const vg_retention_root_t *rt = &cfg->roots[i];
    if (!rt->path[0] || rt->quota_percent < 0 || rt->quota_percent > 100 || rt->low_water < 0 ||
        rt->high_water > 100 || rt->low_water > rt->high_water)
      return VG_EINVAL;
  }
  vg_retention_t *r = calloc(1, sizeof(*r));
  if (!r) return VG_ENOMEM;
  r->cfg = *cfg;
  if (r->cfg.interval_ms <= 0) r->cfg.interval_ms = 5000;
  if (r->cfg.batch <= 0) r->cfg.batch = 32;
  r->space = statvfs_space;
  r->log = VG_LOG_CTX("retention", "");
  pthread_mutex_init(&r->lock, NULL);
  *out = r;
  return 0;
}

void vg_retention_free(vg_retention_t **r) {
  if (!*r) return;
  pthread_mutex_destroy(&(*r)->lock);
  free(*r);
  *r = NULL;
}

void vg_retention_set_space_fn(vg_retention_t *r, vg_fs_space_fn fn) { r->space = fn ? fn : statvfs_space; }

static void count_deletion(vg_retention_t *r, const char *camera, uint64_t bytes) {
  pthread_mutex_lock(&r->lock);
  camera_count_t *c = NULL;
  for (int i = 0; i < r->count_n && !c; i++)
    if (strcmp(r->counts[i].camera, camera) == 0) c = &r->counts[i];
  if (!c && r->count_n < MAX_COUNTED_CAMERAS) {
    c = &r->counts[r->count_n++];
    snprintf(c->camera, sizeof(c->camera), "%s", camera);
  }
  if (c) {
    c->segments++;
    c->bytes += bytes;
  }
  pthread_mutex_unlock(&r->lock);
}

void vg_retention_camera_totals(vg_retention_t *r, const char *camera, uint64_t *segments, uint64_t *bytes) {
  *segments = *bytes = 0;
  pthread_mutex_lock(&r->lock);
  for (int i = 0; i < r->count_n; i++)
    if (strcmp(r->counts[i].camera, camera) == 0) {
      *segments = r->counts[i].segments;
      *bytes = r->counts[i].bytes;
    }
  pthread_mutex_unlock(&r->lock);
}

/* Removes the segment's now empty directories (hour, day, month, year)
 * below root/<camera>; a directory that still holds files stays. */
static void remove_empty_dirs(const char *file) {
  char dir[VG_REC_ROOT_MAX + VG_REC_PATH_MAX + 2];
  snprintf(dir, sizeof(dir), "%s", file);
  for (int level = 0; level < 4; level++) {
    char *slash = strrchr(dir, '/');
    if (!slash) return;
    *slash = '\0';
    if (rmdir(dir) != 0) return;
  }
}

/* Deletes one segment: the row in its own transaction first, then the file
 * (see the header for why in that order). A row already gone is not an
 * error (someone else deleted it). */
static int delete_segment(vg_retention_t *r, vg_rec_index_t *ix, const vg_rec_segment_t *seg, int64_t now_us,
                          vg_retention_report_t *rep) {
  int err = vg_rec_index_delete_segment(ix, seg->id);
  if (err == VG_ENOENT) return 0;
  if (err) return err;
  char file[VG_REC_ROOT_MAX + VG_REC_PATH_MAX + 2];
  snprintf(file, sizeof(file), "%s/%s", seg->root, seg->path);
  if (unlink(file) != 0 && errno != ENOENT)
    vg_log_warn(&r->log, "%s: its row is deleted but the file is not (%s); recovery removes it later", file,
                strerror(errno));
  else if (now_us - seg->end_us >= RMDIR_MIN_AGE_US)
    remove_empty_dirs(file);
  count_deletion(r, seg->camera, seg->bytes);
  rep->deleted++;
  rep->bytes += seg->bytes;
  return 1;
}

/* --- the age rule --- */

typedef struct {
  vg_retention_t *r;
  vg_rec_index_t *ix;
  vg_rec_policy_t policy;
  int64_t now_us;
  vg_rec_segment_t *found; /* up to room rows to delete */
  int n, room;
  vg_retention_report_t *rep;
} age_scan_t;

static int count_mark(void *opaque, const vg_rec_mark_t *m) {
  (void)m;
  (*(int *)opaque)++;
  return 1; /* one is enough */
}

static int age_candidate(void *opaque, const vg_rec_segment_t *seg) {
  age_scan_t *a = opaque;
  const vg_rec_policy_t *p = &a->policy;
  if (p->event_max_age_s > p->max_age_s && seg->end_us > a->now_us - p->event_max_age_s * 1000000) {
    int marks = 0;
    int err =
        vg_rec_index_marks(a->ix, seg->camera, seg->start_us,
                           seg->end_us > seg->start_us ? seg->end_us : seg->start_us + 1, count_mark, &marks);
    if (err < 0) return err;
    if (marks > 0) {
      a->rep->kept_for_events++;
      return 0;
    }
  }
  a->found[a->n++] = *seg;
  return a->n >= a->room ? 1 : 0;
}

/* Deletes camera's segments older than its policy allows, at most *budget. */
static int age_camera(vg_retention_t *r, vg_rec_index_t *ix, const char *camera, int64_t now_us, int *budget,
                      vg_retention_report_t *rep) {
  age_scan_t a = {.r = r, .ix = ix, .now_us = now_us, .rep = rep, .room = *budget};
  vg_rec_policy_get(camera, &a.policy);
  if (a.policy.max_age_s <= 0 || *budget <= 0) return 0;
  a.found = calloc((size_t)a.room, sizeof(*a.found));
  if (!a.found) return VG_ENOMEM;
  int err = vg_rec_index_deletable(ix, NULL, camera, now_us - a.policy.max_age_s * 1000000, now_us,
                                   AGE_SCAN_ROWS, age_candidate, &a);
  for (int i = 0; err >= 0 && i < a.n; i++) {
    int d = delete_segment(r, ix, &a.found[i], now_us, rep);
    if (d < 0) err = d;
    if (d > 0) {
      rep->by_age++;
      (*budget)--;
    }
  }
  free(a.found);
  if (err >= 0) {
    /* Marks older than anything they could still protect. */
    int64_t keep_s =
        a.policy.event_max_age_s > a.policy.max_age_s ? a.policy.event_max_age_s : a.policy.max_age_s;
    vg_rec_index_delete_marks_before(ix, camera, now_us - keep_s * 1000000);
  }
  return err < 0 ? err : 0;
}

/* --- the quota and free-space rules --- */

typedef struct {
  vg_rec_segment_t *found;
  int n, room;
} oldest_t;

static int collect(void *opaque, const vg_rec_segment_t *seg) {
  oldest_t *o = opaque;
  o->found[o->n++] = *seg;
  return o->n >= o->room ? 1 : 0;
}

static uint64_t space_floor(const vg_retention_root_t *rt, const vg_fs_space_t *fs) {
  if (rt->min_free_bytes) return rt->min_free_bytes;
  /* Small enough that a quota (the planned way of keeping space) acts
   * first, large enough that footage goes before the disk is full. */
  uint64_t one_percent = fs->total_bytes / 100, cap = 256ull << 20;
  return one_percent < cap ? one_percent : cap;
}

static uint64_t quota_of(const vg_retention_root_t *rt, const vg_fs_space_t *fs, bool have_fs) {
  if (rt->quota_bytes) return rt->quota_bytes;
  if (rt->quota_percent && have_fs) return fs->total_bytes / 100 * (uint64_t)rt->quota_percent;
  return 0;
}

/* Deletes the oldest deletable footage of root i while over its quota's
 * high water (until low water) or below its free-space floor. */
static int reclaim_root(vg_retention_t *r, vg_rec_index_t *ix, int i, int64_t now_us, int *budget,
                        vg_retention_report_t *rep) {
  const vg_retention_root_t *rt = &r->cfg.roots[i];
  vg_fs_space_t fs = {0};
  bool have_fs = r->space(rt->path, &fs) == 0;
  uint64_t used = 0;
  int err = vg_rec_index_root_bytes(ix, rt->path, &used);
  if (err < 0) return err;
  uint64_t quota = quota_of(rt, &fs, have_fs);
  uint64_t floor_bytes = have_fs ? space_floor(rt, &fs) : 0;
  if (quota && used > quota / 100 * (uint64_t)rt->high_water) r->reclaiming[i] = true;
  bool low_space = have_fs && fs.free_bytes < floor_bytes;
  if (!r->reclaiming[i] && !low_space) return 0;

  oldest_t o = {.room = *budget};
  if (o.room <= 0) {
    rep->more = true;
    return 0;
  }
  o.found = calloc((size_t)o.room, sizeof(*o.found));
  if (!o.found) return VG_ENOMEM;
  err = vg_rec_index_deletable(ix, rt->path, NULL, INT64_MAX, now_us, o.room, collect, &o);
  if (err >= 0 && o.n == 0 && !r->warned_stuck[i]) {
    vg_log_warn(&r->log,
                "%s is over its quota or low on space but nothing there can be deleted (locked, or "
                "recording only)",
                rt->path);
    r->warned_stuck[i] = true;
  }
  for (int k = 0; err >= 0 && k < o.n; k++) {
    bool over_quota = r->reclaiming[i] && quota && used > quota / 100 * (uint64_t)rt->low_water;
    /* Free space is the file system's word, so measure it again; once
     * below the floor, deleting goes on up to twice the floor, so that
     * recording does not hit the floor again a moment later. */
    if (have_fs && r->space(rt->path, &fs) != 0) have_fs = false;
    bool short_of_space = low_space && have_fs && fs.free_bytes < floor_bytes * 2;
    if (!over_quota && !short_of_space) break;
    int d = delete_segment(r, ix, &o.found[k], now_us, rep);
    if (d < 0) err = d;
    if (d > 0) {
      r->warned_stuck[i] = false;
      used = used > o.found[k].bytes ? used - o.found[k].bytes : 0;
      (*budget)--;
      if (over_quota)
        rep->by_quota++;
      else
        rep->by_space++;
    }
  }
  if (quota && used <= quota / 100 * (uint64_t)rt->low_water) r->reclaiming[i] = false;
  if ((r->reclaiming[i] || low_space) && *budget <= 0) rep->more = true;
  free(o.found);
  return err < 0 ? err : 0;
}

/* --- a pass --- */

typedef struct {
  char (*names)[VG_REC_CAMERA_MAX];
  int n, cap;
} camera_list_t;

static int add_camera(void *opaque, const char *camera) {
  camera_list_t *l = opaque;
  if (l->n >= l->cap) return 1;
  snprintf(l->names[l->n++], VG_REC_CAMERA_MAX, "%s", camera);
  return 0;
}

int vg_retention_pass(vg_retention_t *r, vg_rec_index_t *ix, int64_t now_us, vg_retention_report_t *report) {
  vg_retention_report_t local;
  vg_retention_report_t *rep = report ? report : &local;
  memset(rep, 0, sizeof(*rep));
  int budget = r->cfg.batch, err = 0;

  /* Space first: a full disk stops recording, old footage only costs
   * space. Then quota, then age. */
  for (int i = 0; err == 0 && i < r->cfg.root_count; i++)
    err = reclaim_root(r, ix, i, now_us, &budget, rep);

  /* Every camera with footage (one index seek each, so a pass with
   * nothing to delete does not read the segments), up to MAX_AGE_CAMERAS. */
  camera_list_t cams = {.cap = MAX_AGE_CAMERAS};
  cams.names = calloc((size_t)cams.cap, sizeof(*cams.names));
  if (!cams.names) return VG_ENOMEM;
  if (err == 0) {
    int n = vg_rec_index_cameras(ix, add_camera, &cams);
    if (n < 0) err = n;
  }
  for (int i = 0; err == 0 && i < cams.n && budget > 0; i++)
    err = age_camera(r, ix, cams.names[i], now_us, &budget, rep);
  free(cams.names);
  if (budget <= 0) rep->more = true;
  return err;
}

/* --- the thread --- */

static struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  pthread_t thread;
  bool started, quit, wake;
  vg_retention_t *r;
} R = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void log_pass(vg_retention_t *r, const vg_retention_report_t *rep) {
  if (rep->deleted == 0) return;
  vg_log_info(
      &r->log,
      "deleted %d segments (%llu bytes): %d by age, %d by quota, %d for free space; %d kept for their "
      "events%s",
      rep->deleted, (unsigned long long)rep->bytes, rep->by_age, rep->by_quota, rep->by_space,
      rep->kept_for_events, rep->more ? "; more to do" : "");
}

static void *retention_main(void *arg) {
  vg_retention_t *r = arg;
  /* The running totals per root are kept by the database itself; checking
   * them once at start catches a database edited or restored by hand. */
  vg_rec_index_t *start_ix = vg_record_thread_index();
  int drift = start_ix ? vg_rec_index_reconcile_totals(start_ix) : 0;
  if (drift < 0) vg_log_warn(&r->log, "the storage totals were not checked: %s", vg_strerror(drift));
  if (drift > 0) vg_log_warn(&r->log, "the storage totals of %d root(s) were off; recomputed", drift);
  pthread_mutex_lock(&R.lock);
  while (!R.quit) {
    pthread_mutex_unlock(&R.lock);
    vg_retention_report_t rep = {0};
    vg_rec_index_t *ix = vg_record_thread_index();
    /* Marks first: the pass that follows may need them. */
    if (ix) vg_record_flush_marks(ix);
    int err = ix ? vg_retention_pass(r, ix, vg_time_utc_us(), &rep) : VG_EDB;
    if (err) vg_log_warn(&r->log, "pass failed: %s", vg_strerror(err));
    log_pass(r, &rep);
    int wait_ms = rep.more ? BUSY_INTERVAL_MS : r->cfg.interval_ms;
    struct timespec until = vg_time_deadline(CLOCK_REALTIME, wait_ms * 1000LL);
    pthread_mutex_lock(&R.lock);
    while (!R.quit && !R.wake)
      if (pthread_cond_timedwait(&R.cond, &R.lock, &until) != 0) break;
    R.wake = false;
  }
  pthread_mutex_unlock(&R.lock);
  /* Marks of the last moments before stopping. */
  vg_rec_index_t *ix = vg_record_thread_index();
  if (ix) vg_record_flush_marks(ix);
  return NULL;
}

static void collect_metrics(void *opaque, vg_strbuf_t *out) {
  vg_retention_t *r = opaque;
  vg_metrics_family(out, "vigil_retention_deleted_segments_total", "counter",
                    "Segments retention deleted (age, quota, free space).");
  pthread_mutex_lock(&r->lock);
  for (int i = 0; i < r->count_n; i++)
    vg_metrics_sample_u64(out, "vigil_retention_deleted_segments_total",
                          (const char *const[]){"camera", r->counts[i].camera, NULL}, r->counts[i].segments);
  pthread_mutex_unlock(&r->lock);
  vg_metrics_family(out, "vigil_retention_deleted_bytes_total", "counter",
                    "Bytes of the segments retention deleted.");
  pthread_mutex_lock(&r->lock);
  for (int i = 0; i < r->count_n; i++)
    vg_metrics_sample_u64(out, "vigil_retention_deleted_bytes_total",
                          (const char *const[]){"camera", r->counts[i].camera, NULL}, r->counts[i].bytes);
  pthread_mutex_unlock(&r->lock);
}

int vg_retention_start(const vg_retention_config_t *cfg) {
  if (R.started) return VG_EBUSY;
  int err = vg_retention_create(cfg, &R.r);
  if (err) return err;
  R.quit = R.wake = false;
  err = pthread_create(&R.thread, NULL, retention_main, R.r);
  if (err) {
    vg_retention_free(&R.r);
    return -err;
  }
  R.started = true;
  vg_record_set_mark_waker(vg_retention_wake);
  vg_metrics_register("retention", collect_metrics, R.r);
  return 0;
}

void vg_retention_wake(void) {
  pthread_mutex_lock(&R.lock);
  R.wake = true;
  pthread_cond_signal(&R.cond);
  pthread_mutex_unlock(&R.lock);
}

void vg_retention_stop(void) {
  if (!R.started) return;
  vg_metrics_unregister("retention");
  vg_record_set_mark_waker(NULL);
  pthread_mutex_lock(&R.lock);
  R.quit = true;
  pthread_cond_signal(&R.cond);
  pthread_mutex_unlock(&R.lock);
  pthread_join(R.thread, NULL);
  vg_retention_free(&R.r);
  R.started = false;
}

int vg_retention_start_node(const vg_record_config_t *rec, const char *db_path) {
  vg_log_ctx_t lg = VG_LOG_CTX("retention", "");
  vg_rec_policies_init(db_path, NULL);
  if (!db_path || !db_path[0]) {
    vg_log_warn(&lg, "no database: retention, marks and locks are off");
    return 0;
  }
  vg_retention_config_t cfg = {.interval_ms = vg_rec_retention_interval_s() * 1000};
  for (int i = 0; i < rec->root_count && i < VG_RETENTION_MAX_ROOTS; i++) {
    vg_retention_root_t *rt = &cfg.roots[cfg.root_count++];
    vg_retention_root_default(rt, rec->roots[i].path);
    rt->quota_bytes = rec->roots[i].quota_bytes;
    rt->quota_percent = rec->roots[i].quota_percent;
    /* Parsed roots always carry both marks (low_water may be 0). */
    if (rec->roots[i].high_water) {
      rt->high_water = rec->roots[i].high_water;
      rt->low_water = rec->roots[i].low_water;
    }
  }
  if (cfg.root_count == 0) vg_retention_root_default(&cfg.roots[cfg.root_count++], rec->root);
  int err = vg_retention_start(&cfg);
  if (err) vg_log_error(&lg, "retention not started: %s", vg_strerror(err));
  return err;
}
