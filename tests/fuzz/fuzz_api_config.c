/* Fuzzes the JSON bodies of the camera configuration API (cameras_api.c)
 * through vg_api_dispatch, auth off (every request is an admin's), with a
 * configuration store in a private in-memory database: create, replace,
 * merge patch, analytics, import, and the list's query and ETag.
 *
 * Input: one selector byte (which route), then the body (or the query for
 * the list). After each input every camera the API created is deleted
 * again (through the API), so the state stays small. Every answer must be a
 * status in 200..599, with a JSON object body unless 204 or 304. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/cameras_api.h"
#include "api/config_store.h"
#include "base/log.h"
#include "ingest/camera.h"
#include "net/worker.h"

static vg_config_store_t *store;

static void idle_start(vg_camera_t *cam) {}
static void idle_stop(vg_camera_t *cam, void (*done)(vg_camera_t *cam)) { done(cam); }
static const vg_source_ops_t idle_ops = {"idle", idle_start, idle_stop};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  vg_log_set_level(VG_LOG_ERROR);
  vg_source_register(VG_SOURCE_RTSP, &idle_ops);
  vg_source_register(VG_SOURCE_SNAPSHOT, &idle_ops);
  if (vg_workers_start(1) != 0) abort();
  char key[64];
  snprintf(key, sizeof(key), "/tmp/vg-fuzz-api-config-%d.key", (int)getpid());
  if (vg_config_store_open(":memory:", key, &store) != 0) abort();
  vg_cameras_api_init(store, NULL);
  vg_camera_config_t cam = {.kind = VG_SOURCE_RTSP, .enabled = false};
  strcpy(cam.id, "filecam");
  strcpy(cam.name, "filecam");
  strcpy(cam.url, "rtsp://u:p@10.0.0.1/x");
  if (vg_camera_add(&cam, NULL) != 0 || vg_cameras_api_add_file_camera(&cam, NULL) != 0) abort();
  /* One API camera that inputs may change. */
  vg_http_request_t req = {.method = "POST",
                           .path = "/api/v1/cameras",
                           .query = "",
                           .body = "{\"id\":\"c1\",\"url\":\"rtsp://a:b@10.0.0.2/\",\"enabled\":false}"};
  req.body_len = strlen(req.body);
  vg_http_response_t res;
  vg_http_response_init(&res);
  vg_api_dispatch(&req, &res);
  if (res.status != 201) abort();
  vg_http_response_free(&res);
  return 0;
}

static const struct {
  const char *method, *path;
} routes[] = {
    {"POST", "/api/v1/cameras"},        {"PUT", "/api/v1/cameras/c1"},
    {"PATCH", "/api/v1/cameras/c1"},    {"PUT", "/api/v1/cameras/c1/analytics"},
    {"POST", "/api/v1/config"},         {"GET", "/api/v1/cameras"},
    {"PUT", "/api/v1/cameras/filecam"}, {"GET", "/api/v1/config"},
};

static void answer(vg_http_request_t *req) {
  vg_http_response_t res;
  vg_http_response_init(&res);
  vg_api_dispatch(req, &res);
  if (res.status < 200 || res.status > 599) abort();
  if (res.status != 204 && res.status != 304 && (!res.body.data || res.body.data[0] != '{')) abort();
  vg_http_response_free(&res);
}

typedef struct {
  char ids[64][64];
  int n;
} id_list_t;

static void collect(const vg_camera_info_t *info, void *opaque) {
  id_list_t *l = opaque;
  if (l->n < 64 && strcmp(info->id, "filecam") != 0 && strcmp(info->id, "c1") != 0)
    snprintf(l->ids[l->n++], sizeof(l->ids[0]), "%s", info->id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 16384) return 0;
  int which = data[0] % (sizeof(routes) / sizeof(routes[0]));
  char *text = malloc(size);
  memcpy(text, data + 1, size - 1);
  text[size - 1] = '\0';
  vg_http_request_t req = {.method = routes[which].method, .path = routes[which].path, .query = ""};
  if (strcmp(req.method, "GET") == 0) {
    req.query = text; /* limit, offset */
    req.headers[VG_HTTP_HDR_IF_NONE_MATCH] = text;
  } else {
    req.body = text;
    req.body_len = size - 1;
  }
  answer(&req);
  free(text);
  /* Back to the starting state: only filecam and c1. */
  id_list_t *l = calloc(1, sizeof(*l));
  vg_cameras_foreach(collect, l);
  for (int i = 0; i < l->n; i++) {
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/cameras/%s", l->ids[i]);
    vg_http_request_t del = {.method = "DELETE", .path = path, .query = ""};
    answer(&del);
  }
  free(l);
  return 0;
}
