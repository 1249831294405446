/* system_api.c: GET /api/v1/system, the node's health at a glance: version,
 * uptime, the process's CPU and memory, the workers, a per-camera health
 * summary and the recording storage. See cameras_api.h. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "api/api.h"
#include "api/cameras_api.h"
#include "base/error.h"
#include "base/metrics.h"
#include "net/worker.h"
#include "record/roots.h"

static pthread_mutex_t storage_lock = PTHREAD_MUTEX_INITIALIZER;
static char storage_root[512];

void vg_system_api_set_storage(const char *record_root) {
  pthread_mutex_lock(&storage_lock);
  snprintf(storage_root, sizeof(storage_root), "%s", record_root ? record_root : "");
  pthread_mutex_unlock(&storage_lock);
}

typedef struct {
  const vg_http_request_t *req;
  json_t *list;
  int by_state[VG_CAM_DISABLED + 1];
  int total;
} health_t;

static void add_health(const vg_camera_info_t *info, void *opaque) {
  health_t *h = opaque;
  if (!vg_api_camera_allowed(h->req, info->id, 0)) return;
  h->total++;
  if (info->state <= VG_CAM_DISABLED) h->by_state[info->state]++;
  json_t *reason = info->reason[0] ? json_string(info->reason) : json_null();
  json_array_append_new(h->list, json_pack("{s:s,s:s,s:o,s:I,s:I}", "id", info->id, "state",
                                           vg_camera_state_name(info->state), "reason",
                                           reason ? reason : json_null(), "frames", (json_int_t)info->frames,
                                           "reconnects", (json_int_t)info->reconnects));
}

/* One root: its state and the free and used bytes of its file system. */
static json_t *root_json(const char *path, int index) {
  json_t *r = json_pack("{s:s}", "path", path);
  if (!r) return NULL;
  if (index >= 0) {
    json_object_set_new(r, "up", json_boolean(vg_roots_up(index)));
    json_object_set_new(r, "full", json_boolean(vg_roots_full(index)));
  }
  struct statvfs sv;
  if (statvfs(path, &sv) != 0) {
    json_object_set_new(r, "error", json_string(strerror(errno)));
    return r;
  }
  json_int_t total = (json_int_t)sv.f_blocks * (json_int_t)sv.f_frsize;
  json_int_t avail = (json_int_t)sv.f_bavail * (json_int_t)sv.f_frsize;
  json_int_t free_b = (json_int_t)sv.f_bfree * (json_int_t)sv.f_frsize;
  json_object_set_new(r, "total_bytes", json_integer(total));
  json_object_set_new(r, "free_bytes", json_integer(avail));
  json_object_set_new(r, "used_bytes", json_integer(total - free_b));
  return r;
}

/* The recording roots (record/roots.h) while recording runs; null when not
 * recording. */
static json_t *storage_json(void) {
  char root[512];
  pthread_mutex_lock(&storage_lock);
  snprintf(root, sizeof(root), "%s", storage_root);
  pthread_mutex_unlock(&storage_lock);
  if (!root[0]) return json_null();
  json_t *roots = json_array();
  int n = vg_roots_count();
  for (int i = 0; roots && i < n; i++)
    json_array_append_new(roots, root_json(vg_roots_path(i), i));
  /* Before the roots module runs (or without it) the configured root. */
  if (roots && n == 0) json_array_append_new(roots, root_json(root, -1));
  return roots ? json_pack("{s:o}", "roots", roots) : json_null();
}

static int get_system(const vg_http_request_t *req, vg_http_response_t *res) {
  vg_process_stats_t ps;
  vg_process_get_stats(&ps);
  health_t h = {.req = req, .list = json_array()};
  if (!h.list) return VG_ENOMEM;
  vg_cameras_foreach(add_health, &h);
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  return vg_http_reply_json(
      res, 200,
      json_pack("{s:s,s:f,s:{s:f,s:I,s:i,s:i},s:{s:i,s:i},s:{s:i,s:i,s:i,s:i,s:i,s:o},s:o}", "version",
                VG_VERSION, "uptime_s", ps.uptime_s, "process", "cpu_seconds", ps.cpu_seconds,
                "resident_bytes", (json_int_t)ps.resident_bytes, "open_fds", ps.open_fds, "cores", (int)cores,
                "workers", "count", vg_workers_count(), "cores", (int)cores, "cameras", "total", h.total,
                "online", h.by_state[VG_CAM_ONLINE], "connecting", h.by_state[VG_CAM_CONNECTING], "offline",
                h.by_state[VG_CAM_OFFLINE], "disabled", h.by_state[VG_CAM_DISABLED], "list", h.list,
                "storage", storage_json()));
}

const vg_http_route_t vg_api_system_routes[] = {
    {"GET", "/api/v1/system", get_system,
     "version, uptime, CPU and memory, workers, camera health and recording storage", VG_ACCESS_OPERATOR},
};
const size_t vg_api_system_route_count = sizeof(vg_api_system_routes) / sizeof(vg_api_system_routes[0]);
