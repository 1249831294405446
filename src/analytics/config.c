/* config.c: the "analytics" configuration (docs/CONFIG.md): the node's
 * top-level object here, and per camera our keys plus vision's parser for
 * motion, tracker, filters, tamper and sensors. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analytics/analytics.h"
#include "base/error.h"
#include "infer/quant.h"
#include "media/vdec.h"
#include "vision/analytics_config.h"

/* The pipeline's keys in a camera's "analytics" object; vision reads the rest. */
static const char *const camera_keys[] = {
    "substream", "detect_fps", "detect_width", "hwaccel", "stationary_interval_s", NULL};

/* Reads "hwaccel" into out (def when absent); names the field when it is no decoder choice. */
static void parse_hwaccel(vg_cfg_t *c, json_t *obj, const char *def, char *out, size_t size) {
  vg_cfg_str(c, obj, "hwaccel", def, out, size);
  vg_hwaccel_t h;
  if (*out && vg_hwaccel_parse(out, &h) != 0)
    vg_cfg_fail(c, "hwaccel", "must be auto, none, vaapi, cuda or v4l2m2m");
}

/* Inference workers: "auto" (the default) is one per online CPU, since
 * each worker runs one detection at a time on one core and a single worker
 * made a handful of cameras wait on each other; an integer 1..64 as it is. */
static int parse_detect_threads(vg_cfg_t *c, json_t *top) {
  json_t *v = top ? json_object_get(top, "detect_threads") : NULL;
  if (v && !json_is_string(v)) {
    long long n = 1;
    vg_cfg_int(c, top, "detect_threads", 1, 1, VG_ANALYTICS_MAX_DETECT_THREADS, &n);
    return (int)n;
  }
  if (v && strcmp(json_string_value(v), "auto") != 0) {
    vg_cfg_fail(c, "detect_threads", "must be \"auto\" or an integer 1..%d", VG_ANALYTICS_MAX_DETECT_THREADS);
    return 1;
  }
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  return cpus < 1 ? 1 : cpus > VG_ANALYTICS_MAX_DETECT_THREADS ? VG_ANALYTICS_MAX_DETECT_THREADS : (int)cpus;
}

static void parse_top(vg_cfg_t *c, json_t *top, vg_analytics_node_config_t *out) {
  static const char *const keys[] = {"enabled",
                                     "detect_fps",
                                     "detect_width",
                                     "model",
                                     "models_dir",
                                     "threads",
                                     "detect_threads",
                                     "full_frame_interval_s",
                                     "max_lag_ms",
                                     "queue_frames",
                                     "trigger_log",
                                     "precision",
                                     "hwaccel",
                                     "stationary_interval_s",
                                     NULL};
  long long v;
  if (top) vg_cfg_check_keys(c, top, keys);
  vg_cfg_bool(c, top, "enabled", false, &out->enabled);
  vg_cfg_int(c, top, "detect_fps", 5, 1, 30, &v);
  out->detect_fps = (int)v;
  vg_cfg_int(c, top, "detect_width", 640, 64, 1920, &v);
  out->detect_width = (int)v;
  parse_hwaccel(c, top, "auto", out->hwaccel, sizeof(out->hwaccel));
  vg_cfg_str(c, top, "model", "nanodet", out->model, sizeof(out->model));
  const char *env = getenv("VIGIL_MODELS");
  vg_cfg_str(c, top, "models_dir", env && *env ? env : "models", out->models_dir, sizeof(out->models_dir));
  vg_cfg_int(c, top, "threads", 0, 0, 256, &v);
  out->threads = (int)v;
  out->detect_threads = parse_detect_threads(c, top);
  vg_cfg_int(c, top, "full_frame_interval_s", 5, 0, 3600, &v);
  out->full_frame_interval_s = (int)v;
  vg_cfg_int(c, top, "stationary_interval_s", 2, 0, 3600, &v);
  out->stationary_interval_s = (int)v;
  vg_cfg_int(c, top, "max_lag_ms", 1000, 100, 60000, &v);
  out->max_lag_ms = (int)v;
  vg_cfg_int(c, top, "queue_frames", 128, 16, 4096, &v);
  out->queue_frames = (int)v;
  vg_cfg_str(c, top, "trigger_log", "", out->trigger_log, sizeof(out->trigger_log));
  char prec[16];
  vg_cfg_str(c, top, "precision", "f32", prec, sizeof(prec));
  vg_precision_t p = VG_PRECISION_F32;
  if (vg_precision_parse(prec, &p)) vg_cfg_fail(c, "precision", "must be \"f32\" or \"int8\"");
  out->precision = (int)p;
}

static void parse_camera_object(vg_cfg_t *c, const char *id, json_t *obj, vg_analytics_camera_config_t *out) {
  snprintf(out->camera, sizeof(out->camera), "%s", id);
  vg_analytics_config_t *v = malloc(sizeof(*v));
  if (!v) {
    vg_cfg_fail(c, NULL, "out of memory");
    return;
  }
  out->vision = v;
  vg_analytics_config_parse(c, obj, camera_keys, v);
  out->enabled = v->enabled;
  long long n;
  vg_cfg_str(c, obj, "substream", "", out->substream, sizeof(out->substream));
  vg_cfg_int(c, obj, "detect_fps", 0, 0, 30, &n);
  out->detect_fps = (int)n;
  vg_cfg_int(c, obj, "detect_width", 0, 0, 1920, &n);
  out->detect_width = (int)n;
  vg_cfg_int(c, obj, "stationary_interval_s", -1, -1, 3600, &n);
  out->stationary_interval_s = (int)n;
  if (out->detect_width && out->detect_width < 64) vg_cfg_fail(c, "detect_width", "must be 0 or 64..1920");
  parse_hwaccel(c, obj, "", out->hwaccel, sizeof(out->hwaccel));
}

static void parse_camera(vg_cfg_t *c, json_t *cam, json_t *obj, vg_analytics_camera_config_t *out) {
  json_t *id = json_object_get(cam, "id");
  parse_camera_object(c, json_is_string(id) ? json_string_value(id) : "", obj, out);
}

int vg_analytics_camera_config_parse(vg_cfg_t *c, const char *camera, json_t *obj,
                                     vg_analytics_camera_config_t *out) {
  memset(out, 0, sizeof(*out));
  if (!json_is_object(obj)) return vg_cfg_fail(c, NULL, "must be an object");
  parse_camera_object(c, camera, obj, out);
  if (c->failed) {
    vg_analytics_camera_config_clear(out);
    return VG_ECONFIG;
  }
  return 0;
}

int vg_analytics_camera_config_copy(vg_analytics_camera_config_t *dst,
                                    const vg_analytics_camera_config_t *src) {
  *dst = *src;
  dst->vision = NULL;
  if (!src->vision) return 0;
  if (!(dst->vision = malloc(sizeof(vg_analytics_config_t)))) return VG_ENOMEM;
  memcpy(dst->vision, src->vision, sizeof(vg_analytics_config_t));
  return 0;
}

bool vg_analytics_camera_config_equal(const vg_analytics_camera_config_t *a,
                                      const vg_analytics_camera_config_t *b) {
  if (a->enabled != b->enabled || strcmp(a->camera, b->camera) != 0 ||
      strcmp(a->substream, b->substream) != 0 || a->detect_fps != b->detect_fps ||
      a->detect_width != b->detect_width || a->stationary_interval_s != b->stationary_interval_s ||
      strcmp(a->hwaccel, b->hwaccel) != 0)
    return false;
  if (!a->vision || !b->vision) return a->vision == b->vision;
  /* Both come from the parser, which starts from memset defaults, so
   * padding compares equal too. */
  return memcmp(a->vision, b->vision, sizeof(vg_analytics_config_t)) == 0;
}

void vg_analytics_camera_config_clear(vg_analytics_camera_config_t *cc) {
  free(cc->vision);
  cc->vision = NULL;
}

int vg_analytics_node_config_parse(vg_cfg_t *c, json_t *top, json_t *cameras,
                                   vg_analytics_node_config_t *out) {
  memset(out, 0, sizeof(*out));
  vg_cfg_enter(c, "analytics");
  parse_top(c, top, out);
  vg_cfg_leave(c);
  size_t n = json_is_array(cameras) ? json_array_size(cameras) : 0;
  out->cameras = calloc(n ? n : 1, sizeof(*out->cameras));
  if (!out->cameras) return VG_ENOMEM;
  vg_cfg_enter(c, "cameras");
  for (size_t i = 0; i < n && !c->failed; i++) {
    json_t *cam = json_array_get(cameras, i);
    json_t *obj = json_is_object(cam) ? json_object_get(cam, "analytics") : NULL;
    if (!obj) continue;
    vg_cfg_enter_index(c, i);
    vg_cfg_enter(c, "analytics");
    if (!json_is_object(obj))
      vg_cfg_fail(c, NULL, "must be an object");
    else
      parse_camera(c, cam, obj, &out->cameras[out->camera_count++]);
    vg_cfg_leave(c);
    vg_cfg_leave(c);
    /* The camera parser does not know this key. */
    json_object_del(cam, "analytics");
  }
  vg_cfg_leave(c);
  if (c->failed) {
    vg_analytics_node_config_free(out);
    return VG_ECONFIG;
  }
  return 0;
}

void vg_analytics_node_config_free(vg_analytics_node_config_t *cfg) {
  for (int i = 0; i < cfg->camera_count; i++)
    free(cfg->cameras[i].vision);
  free(cfg->cameras);
  cfg->cameras = NULL;
  cfg->camera_count = 0;
}
