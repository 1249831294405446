#include "record/roots.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/strbuf.h"
#include "base/time.h"

#define MAX_CAMERAS 1024

/* --- configuration --- */

static int parse_one_root(vg_cfg_t *c, json_t *obj, vg_record_root_config_t *out) {
  static const char *const keys[] = {"path", "quota_bytes", "quota_percent", "high_water", "low_water", NULL};
  long long v;
  memset(out, 0, sizeof(*out));
  if (!json_is_object(obj)) return vg_cfg_fail(c, NULL, "must be an object with a \"path\"");
  vg_cfg_check_keys(c, obj, keys);
  vg_cfg_str(c, obj, "path", NULL, out->path, sizeof(out->path));
  if (!c->failed && !out->path[0]) vg_cfg_fail(c, "path", "must not be empty");
  vg_cfg_int(c, obj, "quota_bytes", 0, 0, LLONG_MAX, &v), out->quota_bytes = (uint64_t)v;
  vg_cfg_int(c, obj, "quota_percent", 0, 0, 100, &v), out->quota_percent = (int)v;
  if (!c->failed && out->quota_bytes && out->quota_percent)
    vg_cfg_fail(c, "quota_percent", "give either quota_bytes or quota_percent, not both");
  vg_cfg_int(c, obj, "high_water", 95, 1, 100, &v), out->high_water = (int)v;
  vg_cfg_int(c, obj, "low_water", 85, 0, 100, &v), out->low_water = (int)v;
  if (!c->failed && out->low_water >= out->high_water)
    vg_cfg_fail(c, "low_water", "must be below high_water");
  /* Trailing slashes would make "/a" and "/a/" two roots of one directory. */
  size_t n = strlen(out->path);
  while (n > 1 && out->path[n - 1] == '/')
    out->path[--n] = '\0';
  return c->failed ? VG_ECONFIG : 0;
}

int vg_record_roots_parse(vg_cfg_t *c, json_t *obj, vg_record_root_config_t *roots, int *count) {
  *count = 0;
  json_t *list = obj ? json_object_get(obj, "roots") : NULL;
  if (!list) {
    memset(&roots[0], 0, sizeof(roots[0]));
    vg_cfg_str(c, obj, "root", "var/recordings", roots[0].path, sizeof(roots[0].path));
    if (!c->failed && roots[0].path[0] == '\0') vg_cfg_fail(c, "root", "must not be empty");
    roots[0].high_water = 95;
    roots[0].low_water = 85;
    size_t n = strlen(roots[0].path);
    while (n > 1 && roots[0].path[n - 1] == '/')
      roots[0].path[--n] = '\0';
    *count = c->failed ? 0 : 1;
    return c->failed ? VG_ECONFIG : 0;
  }
  if (json_object_get(obj, "root")) return vg_cfg_fail(c, "root", "give either root or roots, not both");
  if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > VG_RECORD_MAX_ROOTS)
    return vg_cfg_fail(c, "roots", "must be a list of 1 to %d storage roots", VG_RECORD_MAX_ROOTS);
  vg_cfg_enter(c, "roots");
  int n = (int)json_array_size(list);
  for (int i = 0; i < n && !c->failed; i++) {
    vg_cfg_enter_index(c, (size_t)i);
    if (parse_one_root(c, json_array_get(list, (size_t)i), &roots[i]) == 0)
      for (int j = 0; j < i; j++)
        if (strcmp(roots[j].path, roots[i].path) == 0) vg_cfg_fail(c, "path", "the same root twice");
    vg_cfg_leave(c);
  }
  vg_cfg_leave(c);
  if (c->failed) return VG_ECONFIG;
  *count = n;
  return 0;
}

/* --- per-camera settings --- */

typedef struct {
  char camera[64];
  char root[VG_RECORD_ROOT_PATH_MAX];
} camera_root_t;

static struct {
  pthread_mutex_t lock;
  camera_root_t entries[MAX_CAMERAS];
  int count;
} cams = {.lock = PTHREAD_MUTEX_INITIALIZER};

int vg_record_camera_config_parse(vg_cfg_t *c, json_t *obj, const char *camera) {
  if (!obj) return 0;
  if (!json_is_object(obj)) return vg_cfg_fail(c, "record", "must be an object");
  vg_cfg_enter(c, "record");
  char root[VG_RECORD_ROOT_PATH_MAX];
  vg_cfg_str(c, obj, "root", "", root, sizeof(root));
  vg_cfg_leave(c);
  if (c->failed) return VG_ECONFIG;
  size_t n = strlen(root);
  while (n > 1 && root[n - 1] == '/')
    root[--n] = '\0';
  if (!root[0]) return 0;
  pthread_mutex_lock(&cams.lock);
  int i;
  for (i = 0; i < cams.count; i++)
    if (strcmp(cams.entries[i].camera, camera) == 0) break;
  if (i == cams.count && cams.count < MAX_CAMERAS) cams.count++;
  if (i < cams.count) {
    snprintf(cams.entries[i].camera, sizeof(cams.entries[i].camera), "%s", camera);
    snprintf(cams.entries[i].root, sizeof(cams.entries[i].root), "%s", root);
  }
  pthread_mutex_unlock(&cams.lock);
  return 0;
}

void vg_record_camera_root(const char *camera, char *root, size_t size) {
  root[0] = '\0';
  pthread_mutex_lock(&cams.lock);
  for (int i = 0; i < cams.count; i++)
    if (strcmp(cams.entries[i].camera, camera) == 0) snprintf(root, size, "%s", cams.entries[i].root);
  pthread_mutex_unlock(&cams.lock);
}

void vg_record_camera_configs_clear(void) {
  pthread_mutex_lock(&cams.lock);
  cams.count = 0;
  pthread_mutex_unlock(&cams.lock);
}

/* --- runtime state --- */

typedef struct {
  vg_record_root_config_t cfg;
  bool up, full;
  bool dev_known;
  dev_t dev;
  int64_t retry_at_us;
  uint64_t free_bytes, total_bytes, used_bytes;
  uint64_t failures, full_episodes;
} root_t;

typedef struct {
  char camera[64];
  int root;
} camera_on_t;

static struct {
  pthread_mutex_t lock;
  bool started;
  root_t roots[VG_RECORD_MAX_ROOTS];
  int count;
  int retry_s;
  camera_on_t on[MAX_CAMERAS];
  int on_count;
} R = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const vg_log_ctx_t lg = {"storage", NULL};

/* mkdir -p; only at start, so that a vanished mount point is never
 * recreated on the filesystem underneath it later. */
static int make_dirs(const char *path) {
  char dir[PATH_MAX];
  if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) return VG_ETOOBIG;
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return vg_err_from_errno();
    *p = '/';
  }
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) return vg_err_from_errno();
  return 0;
}

/* Whether path is a mount point: on another device than its parent. */
static bool is_mount_point(const char *path, const struct stat *st) {
  char parent[PATH_MAX];
  if (snprintf(parent, sizeof(parent), "%s/..", path) >= (int)sizeof(parent)) return false;
  struct stat pst;
  return stat(parent, &pst) == 0 && pst.st_dev != st->st_dev;
}

/* Refreshes the free space of r (lock held). */
static void refresh_space(root_t *r) {
  struct statvfs vfs;
  if (statvfs(r->cfg.path, &vfs) != 0) return;
  r->free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
  r->total_bytes = (uint64_t)vfs.f_blocks * vfs.f_frsize;
}

static uint64_t full_threshold(const root_t *r) {
  uint64_t t = VG_ROOT_FREE_MIN;
  if (r->total_bytes && r->total_bytes / 8 < t) t = r->total_bytes / 8;
  return t;
}

static void mark_down(root_t *r, const char *why, int err) {
  r->retry_at_us = vg_time_mono_us() + (int64_t)R.retry_s * 1000000;
  if (!r->up) return;
  r->up = false;
  r->failures++;
  vg_log_error(&lg,
               "storage root %s failed (%s: %s): recording moves to the other roots; retrying every %d s",
               r->cfg.path, why, vg_strerror(err), R.retry_s);
}

/* Tries to bring root r up (lock held). */
static void probe(root_t *r) {
  struct stat st;
  if (stat(r->cfg.path, &st) != 0) {
    mark_down(r, "stat", vg_err_from_errno());
    return;
  }
  if (!S_ISDIR(st.st_mode)) {
    mark_down(r, "not a directory", VG_EIO);
    return;
  }
  if (r->dev_known && st.st_dev != r->dev && !is_mount_point(r->cfg.path, &st)) {
    mark_down(r, "no longer on its device", VG_EIO);
    return;
  }
  if (access(r->cfg.path, W_OK) != 0) {
    mark_down(r, "not writable", vg_err_from_errno());
    return;
  }
  r->dev = st.st_dev;
  r->dev_known = true;
  if (!r->up) vg_log_info(&lg, "storage root %s is up", r->cfg.path);
  r->up = true;
  refresh_space(r);
}

static void collect(void *opaque, vg_strbuf_t *out);

int vg_roots_start(const vg_record_root_config_t *roots, int count, int retry_s) {
  if (count < 1 || count > VG_RECORD_MAX_ROOTS) return VG_EINVAL;
  pthread_mutex_lock(&R.lock);
  if (R.started) {
    pthread_mutex_unlock(&R.lock);
    return VG_EBUSY;
  }
  memset(R.roots, 0, sizeof(R.roots));
  R.count = count;
  R.retry_s = retry_s > 0 ? retry_s : 30;
  R.on_count = 0;
  for (int i = 0; i < count; i++) {
    root_t *r = &R.roots[i];
    r->cfg = roots[i];
    r->up = true; /* so that a failure at start is logged */
    int err = make_dirs(r->cfg.path);
    if (err) {
      mark_down(r, "mkdir", err);
      continue;
    }
    probe(r);
  }
  R.started = true;
  pthread_mutex_unlock(&R.lock);
  vg_metrics_register("storage", collect, NULL);
  return 0;
}

void vg_roots_stop(void) {
  vg_metrics_unregister("storage");
  pthread_mutex_lock(&R.lock);
  R.started = false;
  R.count = 0;
  R.on_count = 0;
  pthread_mutex_unlock(&R.lock);
}

int vg_roots_count(void) {
  pthread_mutex_lock(&R.lock);
  int n = R.count;
  pthread_mutex_unlock(&R.lock);
  return n;
}

const char *vg_roots_path(int i) { return i >= 0 && i < R.count ? R.roots[i].cfg.path : ""; }

int vg_roots_find(const char *path) {
  for (int i = 0; i < R.count; i++)
    if (strcmp(R.roots[i].cfg.path, path) == 0) return i;
  return -1;
}

static int cameras_on(int root, const char *except) {
  int n = 0;
  for (int i = 0; i < R.on_count; i++)
    if (R.on[i].root == root && strcmp(R.on[i].camera, except) != 0) n++;
  return n;
}

int vg_roots_pick(const char *camera, unsigned skip_mask) {
  char pinned_path[VG_RECORD_ROOT_PATH_MAX];
  vg_record_camera_root(camera, pinned_path, sizeof(pinned_path));
  pthread_mutex_lock(&R.lock);
  int pinned = pinned_path[0] ? vg_roots_find(pinned_path) : -1;
  int best = -1, fallback = -1;
  double best_score = -1;
  for (int i = 0; i < R.count; i++) {
    root_t *r = &R.roots[i];
    if (!r->up || (skip_mask & (1u << i))) continue;
    if (r->full) {
      if (fallback < 0 || i == pinned) fallback = i;
      continue;
    }
    if (i == pinned) {
      best = i;
      break;
    }
    double score = (double)r->free_bytes / (double)(1 + cameras_on(i, camera));
    if (score > best_score) best = i, best_score = score;
  }
  pthread_mutex_unlock(&R.lock);
  if (best >= 0) return best;
  return fallback >= 0 ? fallback : VG_EIO;
}

void vg_roots_camera_on(const char *camera, int root) {
  pthread_mutex_lock(&R.lock);
  int i;
  for (i = 0; i < R.on_count; i++)
    if (strcmp(R.on[i].camera, camera) == 0) break;
  if (i == R.on_count && R.on_count < MAX_CAMERAS) {
    snprintf(R.on[i].camera, sizeof(R.on[i].camera), "%s", camera);
    R.on_count++;
  }
  if (i < R.on_count) R.on[i].root = root;
  pthread_mutex_unlock(&R.lock);
}

int vg_roots_verify(int i) {
  pthread_mutex_lock(&R.lock);
  int ret = 0;
  if (i < 0 || i >= R.count) {
    ret = VG_EINVAL;
  } else {
    root_t *r = &R.roots[i];
    struct stat st;
    if (stat(r->cfg.path, &st) != 0) {
      ret = vg_err_from_errno();
      mark_down(r, "stat", ret);
    } else if (r->dev_known && st.st_dev != r->dev) {
      ret = VG_EIO;
      mark_down(r, "no longer on its device", ret);
    } else if (!r->up) {
      ret = VG_EIO;
    }
  }
  pthread_mutex_unlock(&R.lock);
  return ret;
}

static bool is_device_error(int err) {
  return err == VG_EIO || err == VG_ENOENT || err == -ENODEV || err == -EROFS || err == -ENOTDIR ||
         err == -EACCES || err == -ENXIO || err == -ESTALE;
}

int vg_roots_report_error(int i, int err, const char *what) {
  if (i < 0 || i >= R.count) return 1;
  pthread_mutex_lock(&R.lock);
  root_t *r = &R.roots[i];
  int fresh = 1;
  if (err == VG_ENOSPC || err == -EDQUOT) {
    fresh = !r->full;
    if (!r->full) {
      r->full = true;
      r->full_episodes++;
      refresh_space(r);
      vg_log_error(&lg, "storage root %s is full (%s): new segments go to other roots when they have space",
                   r->cfg.path, what);
    }
  } else if (is_device_error(err)) {
    fresh = r->up;
    mark_down(r, what, err);
  }
  pthread_mutex_unlock(&R.lock);
  return fresh;
}

void vg_roots_report_ok(int i) {
  if (i < 0 || i >= R.count) return;
  pthread_mutex_lock(&R.lock);
  root_t *r = &R.roots[i];
  if (r->full) {
    r->full = false;
    vg_log_info(&lg, "storage root %s accepts writes again", r->cfg.path);
  }
  pthread_mutex_unlock(&R.lock);
}

bool vg_roots_up(int i) {
  pthread_mutex_lock(&R.lock);
  bool up = i >= 0 && i < R.count && R.roots[i].up;
  pthread_mutex_unlock(&R.lock);
  return up;
}

bool vg_roots_full(int i) {
  pthread_mutex_lock(&R.lock);
  bool full = i >= 0 && i < R.count && R.roots[i].full;
  pthread_mutex_unlock(&R.lock);
  return full;
}

void vg_roots_set_used(int i, uint64_t bytes) {
  pthread_mutex_lock(&R.lock);
  if (i >= 0 && i < R.count) R.roots[i].used_bytes = bytes;
  pthread_mutex_unlock(&R.lock);
}

void vg_roots_add_used(int i, uint64_t bytes) {
  pthread_mutex_lock(&R.lock);
  if (i >= 0 && i < R.count) R.roots[i].used_bytes += bytes;
  pthread_mutex_unlock(&R.lock);
}

void vg_roots_tick(void) {
  int64_t now = vg_time_mono_us();
  pthread_mutex_lock(&R.lock);
  for (int i = 0; i < R.count; i++) {
    root_t *r = &R.roots[i];
    if (!r->up) {
      if (now >= r->retry_at_us) probe(r);
      continue;
    }
    refresh_space(r);
    if (r->full && r->free_bytes > full_threshold(r)) {
      r->full = false;
      vg_log_info(&lg, "storage root %s has space again", r->cfg.path);
    }
  }
  pthread_mutex_unlock(&R.lock);
}

static void collect(void *opaque, vg_strbuf_t *out) {
  (void)opaque;
  pthread_mutex_lock(&R.lock);
  vg_metrics_family(out, "vigil_storage_free_bytes", "gauge", "Free bytes on the storage root's filesystem.");
  for (int i = 0; i < R.count; i++)
    vg_metrics_sample_u64(out, "vigil_storage_free_bytes",
                          (const char *const[]){"root", R.roots[i].cfg.path, NULL}, R.roots[i].free_bytes);
  vg_metrics_family(out, "vigil_storage_used_bytes", "gauge", "Bytes of recordings on the storage root.");
  for (int i = 0; i < R.count; i++)
    vg_metrics_sample_u64(out, "vigil_storage_used_bytes",
                          (const char *const[]){"root", R.roots[i].cfg.path, NULL}, R.roots[i].used_bytes);
  vg_metrics_family(out, "vigil_storage_root_up", "gauge",
                    "1 while the storage root answers, 0 after it failed.");
  for (int i = 0; i < R.count; i++)
    vg_metrics_sample_u64(out, "vigil_storage_root_up",
                          (const char *const[]){"root", R.roots[i].cfg.path, NULL}, R.roots[i].up ? 1 : 0);
  vg_metrics_family(out, "vigil_storage_root_full", "gauge", "1 while the storage root is out of space.");
  for (int i = 0; i < R.count; i++)
    vg_metrics_sample_u64(out, "vigil_storage_root_full",
                          (const char *const[]){"root", R.roots[i].cfg.path, NULL}, R.roots[i].full ? 1 : 0);
  vg_metrics_family(out, "vigil_storage_root_failures_total", "counter",
                    "Failures of the storage root (gone, I/O error, not on its device).");
  for (int i = 0; i < R.count; i++)
    vg_metrics_sample_u64(out, "vigil_storage_root_failures_total",
                          (const char *const[]){"root", R.roots[i].cfg.path, NULL}, R.roots[i].failures);
  pthread_mutex_unlock(&R.lock);
}
