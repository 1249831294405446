#include "ingest/push.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "ingest/camera.h"

struct vg_push {
  vg_camera_t *cam; /* our reference; NULL once the camera detached us (under push_lock) */
  vg_hub_t *hub;    /* our own reference: frames keep flowing even if the camera detaches */
  int got_media;
};

/* Guards every cam->source of a push camera and every vg_push_t.cam. */
static pthread_mutex_t push_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- camera life cycle (camera worker) ---------------------------------------- */

typedef struct {
  vg_camera_t *cam;
  int err;
  char reason[200];
} cam_event_t;

/* The task holds a reference: the camera may be removed before it runs
 * (then its state changes on a stopped camera, which nobody sees). */
static void cam_online_task(void *arg) {
  cam_event_t *e = arg;
  vg_camera_source_online(e->cam);
  vg_camera_put(e->cam);
  free(e);
}

static void cam_failed_task(void *arg) {
  cam_event_t *e = arg;
  vg_camera_source_failed(e->cam, e->err, "%s", e->reason);
  vg_camera_put(e->cam);
  free(e);
}

static void post_cam_event(vg_camera_t *cam, int online, int err, const char *reason) {
  cam_event_t *e = calloc(1, sizeof(*e));
  if (!e) return;
  e->cam = vg_camera_hold(cam);
  e->err = err;
  snprintf(e->reason, sizeof(e->reason), "%s", reason ? reason : "");
  if (vg_worker_post(cam->worker, online ? cam_online_task : cam_failed_task, e) != 0) {
    vg_camera_put(cam);
    free(e);
  }
}

/* The camera module stops a PUSH camera: detach its publisher, which keeps
 * feeding its own hub reference until it leaves but no longer touches the
 * camera. */
static void push_source_stop(vg_camera_t *cam, void (*done)(vg_camera_t *cam)) {
  pthread_mutex_lock(&push_lock);
  vg_push_t *p = cam->source;
  cam->source = NULL;
  if (p) p->cam = NULL;
  pthread_mutex_unlock(&push_lock);
  done(cam);
  if (p) vg_camera_put(cam); /* the publisher's reference; the stopper holds its own */
}

static const vg_source_ops_t push_ops = {"push", NULL, push_source_stop};

void vg_push_register_source(void) { vg_source_register(VG_SOURCE_PUSH, &push_ops); }

/* ---- publishers ----------------------------------------------------------------- */

static int valid_path(const char *p) {
  if (!*p || strlen(p) >= sizeof(((vg_camera_config_t *)0)->id)) return 0;
  if (strcmp(p, ".") == 0 || strcmp(p, "..") == 0) return 0;
  for (; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
          *p == '-' || *p == '.'))
      return 0;
  return 1;
}

int vg_push_check(const char *path) {
  if (!valid_path(path)) return VG_EINVAL;
  vg_camera_t *cam = vg_camera_get(path);
  int ok = 1;
  if (cam) {
    pthread_mutex_lock(&push_lock);
    ok = cam->cfg.kind == VG_SOURCE_PUSH && cam->source == NULL;
    pthread_mutex_unlock(&push_lock);
    vg_camera_put(cam);
  } else {
    vg_hub_t *hub = vg_hub_find(path);
    if (hub) ok = 0; /* a stream that is not a camera (camsim's) */
    vg_hub_unref(&hub);
  }
  return ok ? 0 : VG_EBUSY;
}

int vg_push_open(const char *path, const char *url, vg_push_t **out) {
  *out = NULL;
  if (!valid_path(path)) return VG_EINVAL;
  vg_push_t *p = calloc(1, sizeof(*p));
  if (!p) return VG_ENOMEM;
  /* Publishers run on workers, where a camera found by id may be removed
   * by the API at any moment: hold a reference for as long as we use it. */
  vg_camera_t *cam = vg_camera_get(path);
  if (!cam) {
    vg_camera_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.id, sizeof(cfg.id), "%s", path);
    snprintf(cfg.name, sizeof(cfg.name), "%s", path);
    snprintf(cfg.url, sizeof(cfg.url), "%s", url);
    cfg.kind = VG_SOURCE_PUSH;
    cfg.transport = VG_TRANSPORT_TCP;
    cfg.enabled = true;
    cfg.connect_timeout_ms = 5000;
    cfg.read_timeout_ms = 10000;
    cfg.snapshot_interval_ms = 1000;
    cfg.backoff_min_ms = 500;
    cfg.backoff_max_ms = 30000;
    int r = vg_camera_add(&cfg, NULL);
    /* Another publisher may have created it in the meantime; the claim
     * below then decides. A name taken by a stream that is not a camera
     * also answers VG_EEXIST, and finds no camera. */
    if (r == 0 || r == VG_EEXIST) cam = vg_camera_get(path);
    if (!cam) {
      free(p);
      return r == 0 || r == VG_EEXIST ? VG_EBUSY : r;
    }
  }
  pthread_mutex_lock(&push_lock);
  int ok = cam->cfg.kind == VG_SOURCE_PUSH && cam->source == NULL;
  if (ok) {
    cam->source = p;
    p->cam = cam;
  }
  pthread_mutex_unlock(&push_lock);
  if (!ok) {
    vg_camera_put(cam);
    free(p);
    return VG_EBUSY;
  }
  p->hub = vg_hub_ref(cam->hub);
  *out = p;
  return 0;
}

vg_hub_t *vg_push_hub(vg_push_t *p) { return p->hub; }

int vg_push_set_tracks(vg_push_t *p, const vg_track_t *tracks, int count) {
  return vg_hub_set_tracks(p->hub, tracks, count);
}

int vg_push_update_track(vg_push_t *p, int index, const vg_track_t *track) {
  return vg_hub_update_track(p->hub, index, track);
}

static void count_cam(vg_push_t *p, uint64_t frames, uint64_t bytes, uint64_t packets, uint64_t errors) {
  pthread_mutex_lock(&push_lock);
  vg_camera_t *cam = p->cam;
  if (cam) {
    if (frames) atomic_fetch_add(&cam->counters.frames, frames);
    if (bytes) atomic_fetch_add(&cam->counters.bytes, bytes);
    if (packets) atomic_fetch_add(&cam->counters.rtp_packets, packets);
    if (errors) atomic_fetch_add(&cam->counters.errors, errors);
    if (frames && !p->got_media) post_cam_event(cam, 1, 0, NULL);
  }
  pthread_mutex_unlock(&push_lock);
  if (frames) p->got_media = 1;
}

void vg_push_frame(vg_push_t *p, const vg_frame_t *frame) {
  vg_hub_push(p->hub, frame);
  count_cam(p, 1, frame->len, 0, 0);
}

void vg_push_count(vg_push_t *p, uint64_t packets, uint64_t errors) { count_cam(p, 0, 0, packets, errors); }

void vg_push_close(vg_push_t **pp, const char *why) {
  vg_push_t *p = *pp;
  if (!p) return;
  *pp = NULL;
  pthread_mutex_lock(&push_lock);
  vg_camera_t *cam = p->cam;
  if (cam) {
    cam->source = NULL;
    p->cam = NULL;
    post_cam_event(cam, 0, VG_ECLOSED, why);
  }
  pthread_mutex_unlock(&push_lock);
  vg_camera_put(cam);
  vg_hub_unref(&p->hub);
  free(p);
}
