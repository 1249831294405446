/* Fuzzes what a client controls in the API layer: the method and path that
 * reach the route table and the dispatcher (404/405/handlers, with no
 * cameras registered), and label escaping for /metrics.
 * Input: METHOD '\n' PATH. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/metrics.h"
#include "ingest/camera.h"
#include "net/worker.h"

static void idle_start(vg_camera_t *cam) {}
static void idle_stop(vg_camera_t *cam, void (*done)(vg_camera_t *cam)) { done(cam); }
static const vg_source_ops_t idle_ops = {"idle", idle_start, idle_stop};

/* One disabled camera, so that camera routes have something to find (and
 * because vg_cameras_foreach() on an empty registry passes NULL to memcpy,
 * reported to ingest/camera.c's owner). */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  vg_source_register(VG_SOURCE_RTSP, &idle_ops);
  if (vg_workers_start(1) != 0) abort();
  vg_camera_config_t cfg = {.kind = VG_SOURCE_RTSP, .enabled = false};
  strcpy(cfg.id, "cam1");
  strcpy(cfg.name, "cam1");
  strcpy(cfg.url, "rtsp://u:p@10.0.0.1/x");
  if (vg_camera_add(&cfg, NULL) != 0) abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 8192) return 0;
  char *text = malloc(size + 1);
  memcpy(text, data, size);
  text[size] = '\0';
  char *nl = strchr(text, '\n');
  const char *method = "GET", *path = text;
  if (nl) {
    *nl = '\0';
    method = text;
    path = nl + 1;
  }
  /* /metrics renders process figures from /proc: slow, and not what is fuzzed. */
  if (strcmp(path, "/metrics") != 0) {
    vg_http_request_t req = {.method = method, .path = path, .query = ""};
    vg_http_response_t res;
    vg_http_response_init(&res);
    vg_api_dispatch(&req, &res);
    if (res.status < 200 || res.status > 599 || !res.body.data) abort();
    vg_http_response_free(&res);
  }
  vg_strbuf_t sb;
  vg_strbuf_init(&sb, 0);
  const char *labels[] = {"camera", path, NULL};
  vg_metrics_sample_u64(&sb, "vigil_fuzz", labels, 1);
  /* The escaped value has no raw newline: one sample stays one line. */
  if (sb.data && strchr(sb.data, '\n') != sb.data + sb.len - 1) abort();
  vg_strbuf_free(&sb);
  free(text);
  return 0;
}
