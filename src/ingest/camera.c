#include "ingest/camera.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "base/time.h"
#include "record/roots.h"
#include "record/trigger.h"

struct vg_camera_private {
  pthread_mutex_t lock;
  vg_camera_state_t state;
  char reason[256];
  char last_error[256];
  int64_t state_since_us;
  int backoff_ms;
  uv_timer_t retry_timer;
  int timer_open;
  int stopping;
  /* for vg_cameras_stop_all: signalled when the source has stopped */
  pthread_mutex_t *stop_lock;
  pthread_cond_t *stop_cond;
  int *stop_pending;
  /* References: the camera list holds one, snapshots and removers hold one
   * while they use the camera; the last one frees it. */
  atomic_int refs;
  /* A one-shot probe (vg_camera_probe): no retries after a failure. */
  int probe;
};

#define MAX_HOOKS 8
static vg_camera_hooks_t hooks[MAX_HOOKS];
static int hook_count;
static pthread_mutex_t hooks_lock = PTHREAD_MUTEX_INITIALIZER;

static const vg_source_ops_t *source_ops[VG_SOURCE__COUNT];
static pthread_mutex_t cameras_lock = PTHREAD_MUTEX_INITIALIZER;
static vg_camera_t **cameras;
static size_t camera_count;

static const char *const kind_names[] = {"rtsp", "snapshot", "mjpeg", "push", "onvif", "rtmp", "srt", NULL};
/* The URL schemes each kind takes (the first is the one an error names). */
static const char *const kind_schemes[VG_SOURCE__COUNT][3] = {
    [VG_SOURCE_RTSP] = {"rtsp://", "rtsps://"},
    [VG_SOURCE_SNAPSHOT] = {"http://", "https://"},
    [VG_SOURCE_MJPEG] = {"http://", "https://"},
    [VG_SOURCE_ONVIF] = {"http://", "https://"},
    [VG_SOURCE_RTMP] = {"rtmp://"},
    [VG_SOURCE_SRT] = {"srt://"},
};
static const char *const transport_names[] = {"tcp", "udp", "auto", NULL};

const char *vg_source_kind_name(vg_source_kind_t k) { return k < VG_SOURCE__COUNT ? kind_names[k] : "?"; }

const char *vg_camera_state_name(vg_camera_state_t s) {
  switch (s) {
  case VG_CAM_CONNECTING: return "connecting";
  case VG_CAM_ONLINE: return "online";
  case VG_CAM_OFFLINE: return "offline";
  case VG_CAM_DISABLED: return "disabled";
  }
  return "?";
}

static int valid_id(const char *id) {
  /* The id names a path in URLs and on disk: "." and ".." never. */
  if (!*id || strcmp(id, ".") == 0 || strcmp(id, "..") == 0) return 0;
  for (const char *p = id; *p; p++) {
    char ch = *p;
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
          ch == '-' || ch == '.'))
      return 0;
  }
  return 1;
}

int vg_camera_config_parse(vg_cfg_t *c, json_t *obj, vg_camera_config_t *out) {
  static const char *const keys[] = {"id",
                                     "name",
                                     "url",
                                     "type",
                                     "transport",
                                     "enabled",
                                     "connect_timeout_ms",
                                     "read_timeout_ms",
                                     "snapshot_interval_ms",
                                     "backoff_min_ms",
                                     "backoff_max_ms",
                                     "profile",
                                     "onvif_events",
                                     "record",
                                     NULL};
  long long v;
  int e;
  memset(out, 0, sizeof(*out));
  if (!json_is_object(obj)) return vg_cfg_fail(c, NULL, "must be an object");
  vg_cfg_check_keys(c, obj, keys);
  vg_cfg_str(c, obj, "id", NULL, out->id, sizeof(out->id));
  if (!c->failed && !valid_id(out->id))
    vg_cfg_fail(c, "id",
                "may contain only letters, digits, '_', '-' and '.', and may not be \".\" or \"..\"");
  vg_cfg_str(c, obj, "name", out->id, out->name, sizeof(out->name));
  /* Without a type, the URL's scheme says: rtmp:// and srt:// have kinds of
   * their own, anything else is RTSP. */
  json_t *url = json_object_get(obj, "url");
  const char *u = json_is_string(url) ? json_string_value(url) : "";
  vg_source_kind_t by_scheme = strncmp(u, "rtmp://", 7) == 0  ? VG_SOURCE_RTMP
                               : strncmp(u, "srt://", 6) == 0 ? VG_SOURCE_SRT
                                                              : VG_SOURCE_RTSP;
  vg_cfg_enum(c, obj, "type", kind_names, by_scheme, &e);
  out->kind = (vg_source_kind_t)e;
  if (!c->failed && out->kind == VG_SOURCE_PUSH)
    vg_cfg_fail(c, "type", "\"push\" cameras appear when a publisher connects; they are not configured");
  vg_cfg_str(c, obj, "url", NULL, out->url, sizeof(out->url));
  if (!c->failed) {
    const char *const *schemes = kind_schemes[out->kind];
    int ok = 0;
    for (int i = 0; i < 3 && schemes[i]; i++)
      ok |= strncmp(out->url, schemes[i], strlen(schemes[i])) == 0;
    const char *want = schemes[0] ? schemes[0] : "?";
    if (!ok)
      vg_cfg_fail(c, "url", "must start with %s for a camera of type \"%s\"", want, kind_names[out->kind]);
  }
  vg_cfg_str(c, obj, "profile", "", out->profile, sizeof(out->profile));
  vg_cfg_bool(c, obj, "onvif_events", true, &out->onvif_events);
  if (!c->failed && out->kind != VG_SOURCE_ONVIF && json_object_get(obj, "profile"))
    vg_cfg_fail(c, "profile", "applies to cameras of type \"onvif\" only");
  vg_cfg_enum(c, obj, "transport", transport_names, VG_TRANSPORT_TCP, &e);
  out->transport = (vg_transport_t)e;
  vg_cfg_bool(c, obj, "enabled", true, &out->enabled);
  vg_cfg_int(c, obj, "connect_timeout_ms", 5000, 100, 600000, &v), out->connect_timeout_ms = (int)v;
  vg_cfg_int(c, obj, "read_timeout_ms", 10000, 100, 600000, &v), out->read_timeout_ms = (int)v;
  vg_cfg_int(c, obj, "snapshot_interval_ms", 1000, 50, 3600000, &v), out->snapshot_interval_ms = (int)v;
  vg_cfg_int(c, obj, "backoff_min_ms", 500, 10, 600000, &v), out->backoff_min_ms = (int)v;
  vg_cfg_int(c, obj, "backoff_max_ms", 30000, 10, 3600000, &v), out->backoff_max_ms = (int)v;
  if (!c->failed && out->backoff_max_ms < out->backoff_min_ms)
    vg_cfg_fail(c, "backoff_max_ms", "must not be less than backoff_min_ms");
  if (!c->failed) vg_record_camera_config_parse(c, json_object_get(obj, "record"), out->id);
  if (!c->failed) vg_rec_camera_policy_parse(c, json_object_get(obj, "record"), out->id);
  return c->failed ? VG_ECONFIG : 0;
}

void vg_source_register(vg_source_kind_t kind, const vg_source_ops_t *ops) { source_ops[kind] = ops; }

/* SRT URLs carry their secret in the query: passphrase=... becomes ***. */
static void mask_passphrase(char *out, size_t size) {
  char *q = strchr(out, '?');
  for (char *p = q; p && *p;) {
    p++;
    size_t item = strcspn(p, "&");
    if (strncmp(p, "passphrase=", 11) == 0 && item > 11) {
      char *val = p + 11;
      size_t vlen = item - 11;
      size_t rest = strlen(val + vlen);
      if (vlen < 3 && 11 + 3 + rest + (size_t)(p - out) >= size) return;
      memmove(val + 3, val + vlen, rest + 1);
      memcpy(val, "***", 3);
      item = 14;
    }
    p += item;
  }
}

void vg_camera_safe_url(const char *url, char *out, size_t size) {
  if (strncmp(url, "srt://", 6) == 0) {
    snprintf(out, size, "%s", url);
    mask_passphrase(out, size);
    return;
  }
  const char *scheme_end = strstr(url, "://");
  if (!scheme_end) {
    snprintf(out, size, "%s", url);
    return;
  }
  const char *auth = scheme_end + 3;
  const char *path = auth + strcspn(auth, "/?#");
  const char *at = NULL;
  for (const char *p = auth; p < path; p++)
    if (*p == '@') at = p;
  if (!at) {
    snprintf(out, size, "%s", url);
    return;
  }
  snprintf(out, size, "%.*s%s", (int)(auth - url), url, at + 1);
}

static void set_state(vg_camera_t *cam, vg_camera_state_t st, const char *reason) {
  struct vg_camera_private *p = cam->priv;
  pthread_mutex_lock(&p->lock);
  if (p->state != st) p->state_since_us = vg_time_utc_us();
  p->state = st;
  snprintf(p->reason, sizeof(p->reason), "%s", reason ? reason : "");
  if (reason && *reason) snprintf(p->last_error, sizeof(p->last_error), "%s", reason);
  pthread_mutex_unlock(&p->lock);
}

static void start_source(vg_camera_t *cam) {
  set_state(cam, VG_CAM_CONNECTING, NULL);
  source_ops[cam->cfg.kind]->start(cam);
}

static void on_retry(uv_timer_t *t) {
  vg_camera_t *cam = t->data;
  if (cam->priv->stopping) return;
  atomic_fetch_add(&cam->counters.reconnects, 1);
  start_source(cam);
}

void vg_camera_source_online(vg_camera_t *cam) {
  cam->priv->backoff_ms = 0;
  set_state(cam, VG_CAM_ONLINE, NULL);
  vg_log_info(&cam->log, "online");
}

static int next_backoff(vg_camera_t *cam) {
  struct vg_camera_private *p = cam->priv;
  if (p->backoff_ms <= 0)
    p->backoff_ms = cam->cfg.backoff_min_ms;
  else if (p->backoff_ms < cam->cfg.backoff_max_ms / 2)
    p->backoff_ms *= 2;
  else
    p->backoff_ms = cam->cfg.backoff_max_ms;
  /* +-25% jitter so that cameras behind one failed switch do not all come
   * back in the same millisecond. */
  int spread = p->backoff_ms / 2;
  return p->backoff_ms - spread / 2 + (spread > 0 ? rand() % (spread + 1) : 0);
}

void vg_camera_source_failed(vg_camera_t *cam, int err, const char *fmt, ...) {
  char reason[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof(reason), fmt, ap);
  va_end(ap);
  struct vg_camera_private *p = cam->priv;
  set_state(cam, VG_CAM_OFFLINE, reason);
  vg_hub_end(cam->hub);
  if (p->stopping || p->probe) return;
  if (!source_ops[cam->cfg.kind] || !source_ops[cam->cfg.kind]->start) {
    vg_log_info(&cam->log, "offline: %s", reason);
    return;
  }
  int delay = next_backoff(cam);
  vg_log_warn(&cam->log, "offline: %s (%s); retrying in %d ms", reason, vg_err_name(err), delay);
  uv_timer_start(&p->retry_timer, on_retry, (uint64_t)delay, 0);
}

static void camera_start_task(void *arg) {
  vg_camera_t *cam = arg;
  uv_timer_init(vg_worker_loop(cam->worker), &cam->priv->retry_timer);
  cam->priv->retry_timer.data = cam;
  cam->priv->timer_open = 1;
  if (!cam->cfg.enabled) {
    set_state(cam, VG_CAM_DISABLED, NULL);
    return;
  }
  if (source_ops[cam->cfg.kind] && source_ops[cam->cfg.kind]->start) start_source(cam);
}

static void camera_ref(vg_camera_t *cam) { atomic_fetch_add(&cam->priv->refs, 1); }

/* Drops a reference; the last one frees the camera (its source has
 * stopped and its hub is unregistered by then). */
static void camera_unref(vg_camera_t *cam) {
  if (atomic_fetch_sub(&cam->priv->refs, 1) != 1) return;
  vg_hub_unref(&cam->hub);
  pthread_mutex_destroy(&cam->priv->lock);
  free(cam->priv);
  free(cam);
}

static vg_camera_t *camera_new(const vg_camera_config_t *cfg) {
  vg_camera_t *cam = calloc(1, sizeof(*cam));
  struct vg_camera_private *p = calloc(1, sizeof(*p));
  if (!cam || !p) {
    free(cam);
    free(p);
    return NULL;
  }
  cam->cfg = *cfg;
  cam->priv = p;
  pthread_mutex_init(&p->lock, NULL);
  atomic_init(&p->refs, 1);
  p->state = cfg->enabled ? VG_CAM_CONNECTING : VG_CAM_DISABLED;
  p->state_since_us = vg_time_utc_us();
  cam->log = VG_LOG_CTX("camera", cam->cfg.id);
  cam->hub = vg_hub_new(cfg->id);
  if (!cam->hub) {
    camera_unref(cam);
    return NULL;
  }
  return cam;
}

int vg_camera_hooks_add(const vg_camera_hooks_t *h) {
  pthread_mutex_lock(&hooks_lock);
  int err = hook_count < MAX_HOOKS ? 0 : VG_ETOOBIG;
  if (!err) hooks[hook_count++] = *h;
  pthread_mutex_unlock(&hooks_lock);
  return err;
}

void vg_camera_hooks_clear(void) {
  pthread_mutex_lock(&hooks_lock);
  hook_count = 0;
  pthread_mutex_unlock(&hooks_lock);
}

/* Calls every hook's on_added (added != 0) or on_removed. The hooks are
 * copied first, so that a hook may itself add cameras or hooks. */
static void run_hooks(vg_camera_t *cam, int added) {
  vg_camera_hooks_t copy[MAX_HOOKS];
  pthread_mutex_lock(&hooks_lock);
  int n = hook_count;
  memcpy(copy, hooks, sizeof(copy));
  pthread_mutex_unlock(&hooks_lock);
  for (int i = 0; i < n; i++) {
    if (added && copy[i].on_added) copy[i].on_added(cam, copy[i].opaque);
    if (!added && copy[i].on_removed) copy[i].on_removed(cam, copy[i].opaque);
  }
}

int vg_camera_add(const vg_camera_config_t *cfg, vg_camera_t **out) {
  if (!source_ops[cfg->kind]) return VG_EUNSUPPORTED;
  vg_camera_t *cam = camera_new(cfg);
  if (!cam) return VG_ENOMEM;
  pthread_mutex_lock(&cameras_lock);
  for (size_t i = 0; i < camera_count; i++) {
    if (strcmp(cameras[i]->cfg.id, cfg->id) == 0) {
      pthread_mutex_unlock(&cameras_lock);
      camera_unref(cam);
      return VG_EEXIST;
    }
  }
  vg_camera_t **grown = realloc(cameras, (camera_count + 1) * sizeof(*cameras));
  if (!grown || vg_hub_register(cam->hub) != 0) {
    pthread_mutex_unlock(&cameras_lock);
    if (grown) cameras = grown;
    camera_unref(cam);
    return grown ? VG_EEXIST : VG_ENOMEM;
  }
  cameras = grown;
  /* Keep the list sorted by id: the API lists cameras in a stable order. */
  size_t at = camera_count;
  while (at > 0 && strcmp(cameras[at - 1]->cfg.id, cfg->id) > 0) {
    cameras[at] = cameras[at - 1];
    at--;
  }
  cameras[at] = cam;
  camera_count++;
  pthread_mutex_unlock(&cameras_lock);
  cam->worker = vg_worker_next();
  vg_worker_post(cam->worker, camera_start_task, cam);
  run_hooks(cam, 1);
  if (out) *out = cam;
  return 0;
}

vg_camera_t *vg_camera_find(const char *id) {
  vg_camera_t *found = NULL;
  pthread_mutex_lock(&cameras_lock);
  for (size_t i = 0; i < camera_count; i++)
    if (strcmp(cameras[i]->cfg.id, id) == 0) found = cameras[i];
  pthread_mutex_unlock(&cameras_lock);
  return found;
}

size_t vg_cameras_count(void) {
  pthread_mutex_lock(&cameras_lock);
  size_t n = camera_count;
  pthread_mutex_unlock(&cameras_lock);
  return n;
}

static void fill_info(vg_camera_t *cam, vg_camera_info_t *info) {
  struct vg_camera_private *p = cam->priv;
  memset(info, 0, sizeof(*info));
  snprintf(info->id, sizeof(info->id), "%s", cam->cfg.id);
  snprintf(info->name, sizeof(info->name), "%s", cam->cfg.name);
  vg_camera_safe_url(cam->cfg.url, info->url, sizeof(info->url));
  info->kind = cam->cfg.kind;
  pthread_mutex_lock(&p->lock);
  info->state = p->state;
  memcpy(info->reason, p->reason, sizeof(info->reason));
  memcpy(info->last_error, p->last_error, sizeof(info->last_error));
  info->state_since_us = p->state_since_us;
  pthread_mutex_unlock(&p->lock);
  info->frames = atomic_load(&cam->counters.frames);
  info->bytes = atomic_load(&cam->counters.bytes);
  info->rtp_packets = atomic_load(&cam->counters.rtp_packets);
  info->rtp_lost = atomic_load(&cam->counters.rtp_lost);
  info->reconnects = atomic_load(&cam->counters.reconnects);
  info->errors = atomic_load(&cam->counters.errors);
  info->track_count = vg_hub_tracks(cam->hub, info->tracks, VG_MAX_TRACKS);
}

void vg_camera_info_clear(vg_camera_info_t *info) {
  for (int i = 0; i < info->track_count; i++)
    vg_track_clear(&info->tracks[i]);
  info->track_count = 0;
}

void vg_cameras_foreach(void (*fn)(const vg_camera_info_t *info, void *opaque), void *opaque) {
  /* The snapshot holds a reference to each camera, so that one removed
   * meanwhile stays readable until fn has seen it. */
  pthread_mutex_lock(&cameras_lock);
  size_t n = camera_count;
  vg_camera_t **list = malloc((n ? n : 1) * sizeof(*list));
  if (list && n) memcpy(list, cameras, n * sizeof(*list));
  for (size_t i = 0; list && i < n; i++)
    camera_ref(list[i]);
  pthread_mutex_unlock(&cameras_lock);
  if (!list) return;
  vg_camera_info_t *info = malloc(sizeof(*info));
  for (size_t i = 0; info && i < n; i++) {
    fill_info(list[i], info);
    fn(info, opaque);
    vg_camera_info_clear(info);
  }
  for (size_t i = 0; i < n; i++)
    camera_unref(list[i]);
  free(info);
  free(list);
}

vg_camera_t *vg_camera_get(const char *id) {
  vg_camera_t *cam = NULL;
  pthread_mutex_lock(&cameras_lock);
  for (size_t i = 0; i < camera_count && !cam; i++)
    if (strcmp(cameras[i]->cfg.id, id) == 0) cam = cameras[i];
  if (cam) camera_ref(cam);
  pthread_mutex_unlock(&cameras_lock);
  return cam;
}

vg_camera_t *vg_camera_hold(vg_camera_t *cam) {
  camera_ref(cam);
  return cam;
}

void vg_camera_put(vg_camera_t *cam) {
  if (cam) camera_unref(cam);
}

int vg_camera_get_info(const char *id, vg_camera_info_t *info) {
  vg_camera_t *cam = vg_camera_get(id);
  if (!cam) return VG_ENOTFOUND;
  fill_info(cam, info);
  camera_unref(cam);
  return 0;
}

static void stop_done(vg_camera_t *cam) {
  struct vg_camera_private *p = cam->priv;
  pthread_mutex_lock(p->stop_lock);
  (*p->stop_pending)--;
  pthread_cond_signal(p->stop_cond);
  pthread_mutex_unlock(p->stop_lock);
}

static void timer_closed(uv_handle_t *h) {
  vg_camera_t *cam = h->data;
  if (cam->cfg.kind < VG_SOURCE__COUNT && source_ops[cam->cfg.kind] && source_ops[cam->cfg.kind]->stop)
    source_ops[cam->cfg.kind]->stop(cam, stop_done);
  else
    stop_done(cam);
}

static void camera_stop_task(void *arg) {
  vg_camera_t *cam = arg;
  cam->priv->stopping = 1;
  if (cam->priv->timer_open)
    uv_close((uv_handle_t *)&cam->priv->retry_timer, timer_closed);
  else
    stop_done(cam);
}

/* Stops the sources of n cameras on their workers and waits until all have
 * stopped. Not on a worker thread (it would wait for itself). */
static void stop_sources(vg_camera_t **list, size_t n) {
  pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
  int pending = (int)n;
  for (size_t i = 0; i < n; i++) {
    vg_camera_t *cam = list[i];
    cam->priv->stop_lock = &lock;
    cam->priv->stop_cond = &cond;
    cam->priv->stop_pending = &pending;
    if (!cam->worker || vg_worker_post(cam->worker, camera_stop_task, cam) != 0) {
      pthread_mutex_lock(&lock);
      pending--;
      pthread_mutex_unlock(&lock);
    }
  }
  pthread_mutex_lock(&lock);
  while (pending > 0)
    pthread_cond_wait(&cond, &lock);
  pthread_mutex_unlock(&lock);
}

int vg_camera_remove(const char *id) {
  vg_camera_t *cam = NULL;
  pthread_mutex_lock(&cameras_lock);
  for (size_t i = 0; i < camera_count; i++) {
    if (strcmp(cameras[i]->cfg.id, id) == 0) {
      cam = cameras[i];
      memmove(&cameras[i], &cameras[i + 1], (camera_count - i - 1) * sizeof(*cameras));
      camera_count--;
      break;
    }
  }
  pthread_mutex_unlock(&cameras_lock);
  if (!cam) return VG_ENOTFOUND;
  /* Consumers first, so that they close their hub readers while the hub
   * still has its producer; then the source, then the hub's name is free
   * for a camera added under the same id. */
  run_hooks(cam, 0);
  stop_sources(&cam, 1);
  vg_hub_end(cam->hub);
  vg_hub_unregister(cam->hub);
  vg_log_info(&cam->log, "removed");
  camera_unref(cam);
  return 0;
}

void vg_cameras_stop_all(void) {
  pthread_mutex_lock(&cameras_lock);
  vg_camera_t **list = cameras;
  size_t n = camera_count;
  cameras = NULL;
  camera_count = 0;
  pthread_mutex_unlock(&cameras_lock);
  stop_sources(list, n);
  for (size_t i = 0; i < n; i++) {
    vg_camera_t *cam = list[i];
    vg_hub_end(cam->hub);
    vg_hub_unregister(cam->hub);
    camera_unref(cam);
  }
  free(list);
}

/* ---- probe ---- */

/* Whether every video track has its picture size and rate (from the SDP's
 * parameter sets or the first in-band SPS). */
static int tracks_complete(const vg_track_t *t, int n) {
  if (n == 0) return 0;
  for (int i = 0; i < n; i++)
    if (vg_codec_is_video(t[i].codec) && (t[i].width <= 0 || t[i].fps <= 0)) return 0;
  return 1;
}

int vg_camera_probe(const vg_camera_config_t *cfg, int timeout_ms, vg_camera_probe_result_t *out) {
  memset(out, 0, sizeof(*out));
  if (cfg->kind >= VG_SOURCE__COUNT || !source_ops[cfg->kind] || !source_ops[cfg->kind]->start)
    return VG_EUNSUPPORTED;
  vg_camera_config_t pc = *cfg;
  pc.enabled = true;
  vg_camera_t *cam = camera_new(&pc);
  if (!cam) return VG_ENOMEM;
  cam->priv->probe = 1;
  cam->log = VG_LOG_CTX("probe", NULL);
  cam->worker = vg_worker_next();
  int err = vg_worker_post(cam->worker, camera_start_task, cam);
  if (err) {
    camera_unref(cam);
    return err;
  }
  /* Polls the state: the source reports through the camera's state and
   * hub. Once online, waits a little more (at most 2 s) for an in-band SPS
   * or the frame rate when the SDP did not say them. */
  int64_t start = vg_time_mono_us(), deadline = start + (int64_t)timeout_ms * 1000, online_at = 0;
  err = VG_ETIMEDOUT;
  for (;;) {
    pthread_mutex_lock(&cam->priv->lock);
    vg_camera_state_t st = cam->priv->state;
    snprintf(out->error, sizeof(out->error), "%s", cam->priv->reason);
    pthread_mutex_unlock(&cam->priv->lock);
    int64_t now = vg_time_mono_us();
    if (st == VG_CAM_ONLINE && !online_at) online_at = now;
    if (online_at) {
      for (int i = 0; i < out->track_count; i++)
        vg_track_clear(&out->tracks[i]);
      out->track_count = vg_hub_tracks(cam->hub, out->tracks, VG_MAX_TRACKS);
      if (tracks_complete(out->tracks, out->track_count) || now - online_at > 2000000 || now > deadline) {
        out->online = 1;
        err = 0;
        break;
      }
    } else if (st == VG_CAM_OFFLINE) {
      err = VG_EIO;
      break;
    } else if (now > deadline) {
      snprintf(out->error, sizeof(out->error), "no answer within %d ms", timeout_ms);
      break;
    }
    struct timespec ts = {0, 50 * 1000000};
    nanosleep(&ts, NULL);
  }
  stop_sources(&cam, 1);
  vg_hub_end(cam->hub);
  camera_unref(cam);
  return err;
}

/* ---- configuration as JSON ---- */

json_t *vg_camera_config_json(const vg_camera_config_t *cfg, bool with_secrets) {
  char safe[sizeof(cfg->url)];
  if (with_secrets)
    snprintf(safe, sizeof(safe), "%s", cfg->url);
  else
    vg_camera_safe_url(cfg->url, safe, sizeof(safe));
  json_t *o = json_object();
  if (!o) return NULL;
  json_object_set_new(o, "id", json_string(cfg->id));
  json_t *name = json_string(cfg->name);
  json_object_set_new(o, "name", name ? name : json_string(cfg->id));
  json_t *url = json_string(safe);
  json_object_set_new(o, "url", url ? url : json_string(""));
  json_object_set_new(o, "type", json_string(vg_source_kind_name(cfg->kind)));
  json_object_set_new(o, "transport", json_string(transport_names[cfg->transport]));
  json_object_set_new(o, "enabled", json_boolean(cfg->enabled));
  json_object_set_new(o, "connect_timeout_ms", json_integer(cfg->connect_timeout_ms));
  json_object_set_new(o, "read_timeout_ms", json_integer(cfg->read_timeout_ms));
  json_object_set_new(o, "snapshot_interval_ms", json_integer(cfg->snapshot_interval_ms));
  json_object_set_new(o, "backoff_min_ms", json_integer(cfg->backoff_min_ms));
  json_object_set_new(o, "backoff_max_ms", json_integer(cfg->backoff_max_ms));
  if (cfg->kind == VG_SOURCE_ONVIF) json_object_set_new(o, "profile", json_string(cfg->profile));
  json_object_set_new(o, "onvif_events", json_boolean(cfg->onvif_events));
  return o;
}
