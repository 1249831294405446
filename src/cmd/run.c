/* run.c: `vigil run -c FILE`.
 *
 * Interim version on the api branch, for testing the HTTP server end to end
 * before the lead's run.c (node start-up) lands; on merge, keep the lead's
 * and add vg_http_config_parse / vg_http_server_start / _stop to it. Kinds
 * of camera source that no module registers yet get a placeholder that
 * reports them offline, so that cameras appear in the API. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http_server.h"
#include "base/config.h"
#include "base/error.h"
#include "base/log.h"
#include "cmd/commands.h"
#include "ingest/camera.h"
#include "net/worker.h"

static void placeholder_start(vg_camera_t *cam) {
  vg_camera_source_failed(cam, VG_EUNSUPPORTED, "no %s source in this build",
                          vg_source_kind_name(cam->cfg.kind));
}
static void placeholder_stop(vg_camera_t *cam, void (*done)(vg_camera_t *cam)) { done(cam); }
static const vg_source_ops_t placeholder_ops = {"placeholder", placeholder_start, placeholder_stop};

int vg_cmd_run(int argc, char **argv) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  const char *file = NULL;
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
    if (ch == 'c')
      file = optarg;
    else {
      fprintf(ch == 'h' ? stdout : stderr, "usage: vigil run -c FILE\n");
      return ch == 'h' ? 0 : 2;
    }
  }
  if (!file) {
    fprintf(stderr, "usage: vigil run -c FILE\n");
    return 2;
  }
  vg_cfg_t c = {0};
  json_t *root = NULL;
  if (vg_cfg_load_file(&c, file, &root) != 0) {
    fprintf(stderr, "vigil: %s: %s\n", c.err_path, c.err_reason);
    return 1;
  }
  static const char *const keys[] = {"log_level", "workers", "http", "rtsp_server", "cameras", NULL};
  vg_cfg_check_keys(&c, root, keys);
  char level[16];
  vg_log_level_t lv = VG_LOG_INFO;
  vg_cfg_str(&c, root, "log_level", "info", level, sizeof(level));
  if (!c.failed && vg_log_parse_level(level, &lv) != 0) vg_cfg_fail(&c, "log_level", "unknown level");
  long long workers;
  vg_cfg_int(&c, root, "workers", 0, 0, 256, &workers);
  vg_http_config_t http;
  vg_cfg_enter(&c, "http");
  vg_http_config_parse(&c, vg_cfg_object(&c, root, "http", 0), &http);
  vg_cfg_leave(&c);
  json_t *cams = vg_cfg_array(&c, root, "cameras", 0);
  size_t ncams = cams ? json_array_size(cams) : 0;
  vg_camera_config_t *cam_cfg = calloc(ncams ? ncams : 1, sizeof(*cam_cfg));
  vg_cfg_enter(&c, "cameras");
  for (size_t i = 0; i < ncams; i++) {
    vg_cfg_enter_index(&c, i);
    vg_camera_config_parse(&c, json_array_get(cams, i), &cam_cfg[i]);
    vg_cfg_leave(&c);
  }
  vg_cfg_leave(&c);
  json_decref(root);
  if (c.failed) {
    fprintf(stderr, "vigil: %s: config error at %s: %s\n", file, c.err_path, c.err_reason);
    free(cam_cfg);
    return 1;
  }
  vg_log_set_level(lv);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  for (int k = 0; k < VG_SOURCE__COUNT; k++)
    vg_source_register((vg_source_kind_t)k, &placeholder_ops);
  int err = vg_workers_start((int)workers);
  if (err) {
    fprintf(stderr, "vigil: cannot start workers: %s\n", vg_strerror(err));
    free(cam_cfg);
    return 1;
  }
  for (size_t i = 0; i < ncams; i++) {
    err = vg_camera_add(&cam_cfg[i], NULL);
    if (err) fprintf(stderr, "vigil: camera %s: %s\n", cam_cfg[i].id, vg_strerror(err));
  }
  free(cam_cfg);
  vg_http_server_t *srv = NULL;
  err = vg_http_server_start(&http, &srv);
  if (err) {
    vg_cameras_stop_all();
    vg_workers_stop();
    return 1;
  }
  int sig = 0;
  sigwait(&set, &sig);
  vg_log_info(&VG_LOG_CTX("vigil", NULL), "%s received, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
  vg_http_server_stop(&srv);
  vg_cameras_stop_all();
  vg_workers_stop();
  return 0;
}
