/* system_api.c: GET /api/v1/system, the node's health at a glance: version,
 * uptime, the process's CPU and memory, the workers, a per-camera health
 * summary and the recording storage; GET /api/v1/system/logs, the recent
 * lines of the process log (base/log.h's ring). See cameras_api.h. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "api/api.h"
#include "api/cameras_api.h"
#include "base/error.h"
#include "api/record_api.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/time.h"
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

/* A log message as a JSON string. Messages can quote bytes from the
 * network, which json_string refuses when they are not UTF-8; such bytes
 * are shown as '?'. */
static json_t *text_json(const char *text) {
  json_t *j = json_string(text);
  if (j) return j;
  char safe[VG_LOG_RING_MESSAGE];
  size_t i = 0;
  for (; text[i] && i < sizeof(safe) - 1; i++)
    safe[i] = (unsigned char)text[i] < 0x80 ? text[i] : '?';
  safe[i] = '\0';
  return json_string(safe);
}

static json_t *entry_json(const vg_log_entry_t *e) {
  char ts[40];
  vg_time_format_utc(e->time_us, ts, sizeof(ts));
  json_t *j = json_pack("{s:I,s:s,s:s,s:o,s:o}", "seq", (json_int_t)e->seq, "time", ts, "level",
                        vg_log_level_name(e->level), "module", text_json(e->module), "message",
                        text_json(e->message));
  if (j && e->id[0]) json_object_set_new(j, "id", text_json(e->id));
  return j;
}

#define LOGS_DEFAULT_LIMIT 200

/* GET /api/v1/system/logs?level=&module=&since=&limit=: the newest lines
 * (at most limit) that pass the filters, oldest first. since is either a
 * sequence number (lines after it: a page polls with the "last_seq" of its
 * previous answer) or an RFC 3339 time (lines at or after it). */
static int get_system_logs(const vg_http_request_t *req, vg_http_response_t *res) {
  vg_log_filter_t filter = {.max_level = VG_LOG_TRACE};
  char text[64];
  int n = vg_http_query(req, "level", text, sizeof(text));
  if (n != VG_ENOTFOUND && (n <= 0 || vg_log_parse_level(text, &filter.max_level) != 0))
    return vg_http_reply_error(res, 400, "invalid_query",
                               "level: must be one of error, warn, info, debug, trace");
  char module[VG_LOG_RING_MODULE];
  n = vg_http_query(req, "module", module, sizeof(module));
  if (n == VG_ENOTFOUND)
    module[0] = '\0';
  else if (n < 0)
    return vg_http_reply_error(res, 400, "invalid_query", "module: at most %d characters",
                               VG_LOG_RING_MODULE - 1);
  filter.module = module;
  n = vg_http_query(req, "since", text, sizeof(text));
  if (n != VG_ENOTFOUND) {
    char *end = NULL;
    errno = 0;
    unsigned long long seq = n > 0 && text[0] >= '0' && text[0] <= '9' ? strtoull(text, &end, 10) : 0;
    if (end && !*end && errno != ERANGE)
      filter.after_seq = seq;
    else if (n <= 0 || vg_record_api_parse_time(text, &filter.since_us) != 0)
      return vg_http_reply_error(res, 400, "invalid_query",
                                 "since: must be a sequence number or an RFC 3339 time");
  }
  long limit = LOGS_DEFAULT_LIMIT;
  n = vg_http_query(req, "limit", text, sizeof(text));
  if (n != VG_ENOTFOUND) {
    char *end = NULL;
    limit = n > 0 ? strtol(text, &end, 10) : -1;
    if (n <= 0 || *end || limit < 1 || limit > VG_LOG_RING_LINES)
      return vg_http_reply_error(res, 400, "invalid_query", "limit: must be an integer from 1 to %d",
                                 VG_LOG_RING_LINES);
  }
  vg_log_entry_t *lines = malloc(sizeof(*lines) * (size_t)limit);
  if (!lines) return VG_ENOMEM;
  uint64_t last_seq = 0;
  int count = vg_log_ring_read(&filter, lines, (int)limit, &last_seq);
  json_t *list = json_array();
  for (int i = 0; list && i < count; i++)
    json_array_append_new(list, entry_json(&lines[i]));
  free(lines);
  if (!list) return VG_ENOMEM;
  return vg_http_reply_json(res, 200,
                            json_pack("{s:o,s:I,s:i,s:s}", "lines", list, "last_seq", (json_int_t)last_seq,
                                      "capacity", VG_LOG_RING_LINES, "log_level",
                                      vg_log_level_name(vg_log_get_level())));
}

const vg_http_route_t vg_api_system_routes[] = {
    {"GET", "/api/v1/system", get_system,
     "version, uptime, CPU and memory, workers, camera health and recording storage", VG_ACCESS_OPERATOR},
    {"GET", "/api/v1/system/logs", get_system_logs,
     "the recent lines of the process log, oldest first (level, module, since, limit)", VG_ACCESS_ADMIN},
};
const size_t vg_api_system_route_count = sizeof(vg_api_system_routes) / sizeof(vg_api_system_routes[0]);
