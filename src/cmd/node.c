#include "cmd/node.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/log.h"
#include "net/worker.h"

struct vg_node {
  int started_workers;
  vg_rtsp_server_t *rtsp;
};

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace", NULL};

int vg_node_config_load(vg_cfg_t *c, const char *file, vg_node_config_t *out) {
  static const char *const keys[] = {"log_level", "workers", "cameras", "rtsp_server", NULL};
  json_t *root;
  long long v;
  memset(out, 0, sizeof(*out));
  if (vg_cfg_load_file(c, file, &root)) return VG_ECONFIG;
  if (!json_is_object(root)) {
    json_decref(root);
    return vg_cfg_fail(c, NULL, "the configuration must be a JSON object");
  }
  vg_cfg_check_keys(c, root, keys);
  vg_cfg_enum(c, root, "log_level", level_names, VG_LOG_INFO, &out->log_level);
  vg_cfg_int(c, root, "workers", 0, 0, 256, &v);
  out->workers = (int)v;

  json_t *rtsp = vg_cfg_object(c, root, "rtsp_server", 0);
  vg_cfg_enter(c, "rtsp_server");
  vg_rtsp_server_config_parse(c, rtsp, &out->rtsp_server);
  vg_cfg_leave(c);

  json_t *cams = vg_cfg_array(c, root, "cameras", 0);
  size_t n = cams ? json_array_size(cams) : 0;
  out->cameras = calloc(n ? n : 1, sizeof(*out->cameras));
  if (!out->cameras) {
    json_decref(root);
    return VG_ENOMEM;
  }
  vg_cfg_enter(c, "cameras");
  for (size_t i = 0; i < n && !c->failed; i++) {
    vg_cfg_enter_index(c, i);
    if (vg_camera_config_parse(c, json_array_get(cams, i), &out->cameras[i]) == 0) {
      for (size_t j = 0; j < i; j++)
        if (strcmp(out->cameras[j].id, out->cameras[i].id) == 0)
          vg_cfg_fail(c, "id", "duplicate camera id \"%s\" (also cameras[%zu])", out->cameras[i].id, j);
    }
    vg_cfg_leave(c);
  }
  vg_cfg_leave(c);
  out->camera_count = (int)n;
  json_decref(root);
  if (c->failed) {
    vg_node_config_free(out);
    return VG_ECONFIG;
  }
  return 0;
}

void vg_node_config_free(vg_node_config_t *cfg) {
  free(cfg->cameras);
  cfg->cameras = NULL;
  cfg->camera_count = 0;
}

int vg_node_start(const vg_node_config_t *cfg, vg_node_t **out) {
  vg_log_ctx_t lg = VG_LOG_CTX("vigil", NULL);
  vg_node_t *node = calloc(1, sizeof(*node));
  if (!node) return VG_ENOMEM;
  vg_log_set_level((vg_log_level_t)cfg->log_level);
  int err = vg_workers_start(cfg->workers);
  if (err) {
    free(node);
    return err;
  }
  node->started_workers = 1;
  for (int i = 0; i < cfg->camera_count; i++) {
    err = vg_camera_add(&cfg->cameras[i], NULL);
    if (err)
      vg_log_error(&lg, "camera %s not started: %s", cfg->cameras[i].id, vg_strerror(err));
  }
  err = vg_rtsp_server_start(&cfg->rtsp_server, &node->rtsp);
  if (err) {
    vg_node_stop(&node);
    return err;
  }
  vg_log_info(&lg, "vigil %s running: %d workers, %d cameras", VG_VERSION, vg_workers_count(),
              cfg->camera_count);
  *out = node;
  return 0;
}

void vg_node_stop(vg_node_t **np) {
  vg_node_t *node = *np;
  if (!node) return;
  *np = NULL;
  vg_rtsp_server_stop(&node->rtsp);
  vg_cameras_stop_all();
  if (node->started_workers) vg_workers_stop();
  vg_buf_pool_trim();
  free(node);
}
