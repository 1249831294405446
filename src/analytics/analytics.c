/* analytics.c: the pipeline's cameras, its thread pool and scheduling, the
 * detector hand-off, bus publishing and metrics. See analytics.h. */
#include "analytics/analytics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analytics/analyser.h"
#include "analytics/runner.h"
#include "base/error.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/time.h"
#include "infer/server.h"
#include "media/vdec.h"
#include "stream/hub.h"

/* Frames one pool turn takes from a camera before the next camera's turn. */
#define BATCH_FRAMES 8
#define MAX_DETS 100
#define MAX_TRIGGER_COUNTERS 64
#define MAX_TRACK_BOXES 64

static const vg_log_ctx_t lg = {"analytics", NULL};

typedef struct {
  char sensor[64];
  char kind[16];
  uint64_t count;
} trigger_counter_t;

/* A detector request with what the result needs to be applied. */
typedef struct {
  vg_infer_request_t req;
  int64_t ts, pts;
  bool motion, full;
  /* Parked stationary tracks this job does not look for (the tracker
   * holds them); none: the job is also their stationary check. */
  int n_held;
  uint32_t held[MAX_TRACK_BOXES];
} detect_job_t;

typedef struct acam acam_t;
struct acam {
  char id[64];
  char hub_name[64]; /* the camera's own, or its substream's */
  uint32_t index;    /* the inference server's camera number */
  int detect_fps, detect_width;
  int64_t stationary_us; /* re-detection interval of parked stationary tracks; 0: every frame */
  vg_hwaccel_t hwaccel;
  vg_hub_t *hub;
  vg_hub_reader_t *reader;
  vg_analyser_t *an;
  vg_log_ctx_t log;

  /* Pool scheduling, under the pool's lock. removed: being stopped, never
   * queued again. */
  acam_t *next;
  bool queued, running, rerun, removed;

  /* Owned by the pool thread running the camera. */
  vg_vdec_t *dec;
  int video_track;
  uint32_t clock_rate;
  bool need_key;
  bool active;
  bool analysed_once;
  int64_t last_analysis_pts;
  int64_t last_full_us;
  int64_t last_check_us; /* the last detection that looked for every track */
  int64_t last_ts;
  uint64_t reader_drops_seen;
  /* The newest frame that wanted the detector while it was busy; sent as
   * soon as the running one returns, so the detector never idles between
   * results (newest wins: an older waiting frame is dropped). */
  detect_job_t waiting;
  bool has_waiting;

  /* The detection in flight and its result, under lock; done_cond is
   * signalled when a result arrives (a camera being stopped waits for it). */
  pthread_mutex_t lock;
  pthread_cond_t done_cond;
  bool in_flight, result_ready;
  int result_status;
  int64_t det_ts, det_pts;
  int det_w, det_h;
  bool det_motion;
  int det_n_held;
  uint32_t det_held[MAX_TRACK_BOXES];
  int n_dets;
  vg_detection_t dets[MAX_DETS];
  /* A new configuration, under lock: built by vg_analytics_camera_set(),
   * swapped in by the camera's next pool turn, between frames. */
  vg_analyser_t *next_an;
  int next_detect_fps;
  int64_t next_stationary_us;

  /* Counters for metrics and the API. */
  atomic_uint_fast64_t decoded, analysed, detected, skipped, idle_skipped, stationary_skipped, superseded,
      triggers;
  atomic_bool motion;
  atomic_int tracked;

  /* The latest metadata and sensor figures, and the decoder in use (its
   * backend and why it is not the one asked for), under snap_lock. */
  pthread_mutex_t snap_lock;
  const char *decoder; /* a static name; NULL before the first decoder */
  char decoder_why[256];
  vg_analytics_meta_t last_meta;
  json_t *sensors;
  trigger_counter_t counters[MAX_TRIGGER_COUNTERS];
  int n_counters;
};

/* A camera's wanted configuration, kept whether or not it runs. json is
 * what it was set from (NULL: the configuration file's). */
typedef struct {
  json_t *json;
  vg_analytics_camera_config_t cc;
} wanted_t;

static struct {
  bool running;
  /* Serializes start, stop and live changes; guards wanted and the
   * changes of cams (cams_lock covers the readers of cams). */
  pthread_mutex_t ctl_lock;
  wanted_t *wanted;
  int n_wanted;
  int cams_cap;
  pthread_cond_t idle_cond;       /* a camera's pool turn ended (pool_lock) */
  vg_analytics_node_config_t cfg; /* scalars only; cameras not kept */
  vg_bus_t *bus;
  vg_infer_server_t *infer;
  vg_infer_cpu_model_t model_ctx;
  const vg_infer_runner_t *runner; /* NULL: the CPU detector */
  void *runner_ctx;
  acam_t **cams;
  int cam_count;
  pthread_mutex_t cams_lock; /* readers of cams from other threads (metrics, API) */
  /* the pool */
  pthread_mutex_t pool_lock;
  pthread_cond_t pool_cond;
  acam_t *head, *tail;
  bool stop;
  pthread_t *threads;
  int thread_count;
  /* the trigger log */
  vg_bus_sub_t *log_sub;
  FILE *log_file;
} g = {.ctl_lock = PTHREAD_MUTEX_INITIALIZER,
       .cams_lock = PTHREAD_MUTEX_INITIALIZER,
       .pool_lock = PTHREAD_MUTEX_INITIALIZER,
       .pool_cond = PTHREAD_COND_INITIALIZER,
       .idle_cond = PTHREAD_COND_INITIALIZER};

/* ---- the pool ------------------------------------------------------------ */

/* A camera's stationary re-detection interval: its own, else the node's. */
static int64_t stationary_interval_us(const vg_analytics_camera_config_t *cc) {
  int s = cc->stationary_interval_s >= 0 ? cc->stationary_interval_s : g.cfg.stationary_interval_s;
  return (int64_t)s * 1000000;
}

/* Puts cam at the back of the pool's queue unless it is queued already; a
 * camera being run is marked to run again. Any thread; also the hub's
 * notify, which holds the hub's lock: this only takes the pool's lock. */
static void pool_schedule(acam_t *cam) {
  pthread_mutex_lock(&g.pool_lock);
  if (!g.stop && !cam->removed) {
    if (cam->running) {
      cam->rerun = true;
    } else if (!cam->queued) {
      cam->queued = true;
      cam->next = NULL;
      if (g.tail)
        g.tail->next = cam;
      else
        g.head = cam;
      g.tail = cam;
      pthread_cond_signal(&g.pool_cond);
    }
  }
  pthread_mutex_unlock(&g.pool_lock);
}

static void hub_notify(void *opaque) { pool_schedule(opaque); }

static bool cam_run(acam_t *cam);

static void *pool_main(void *arg) {
  (void)arg;
  /* For top, perf and bench/analytics.py, which splits vigil's CPU by thread. */
  pthread_setname_np(pthread_self(), "vg-analytics");
  pthread_mutex_lock(&g.pool_lock);
  while (!g.stop) {
    acam_t *cam = g.head;
    if (!cam) {
      pthread_cond_wait(&g.pool_cond, &g.pool_lock);
      continue;
    }
    g.head = cam->next;
    if (!g.head) g.tail = NULL;
    cam->queued = false;
    cam->running = true;
    cam->rerun = false;
    pthread_mutex_unlock(&g.pool_lock);
    bool more = cam_run(cam);
    pthread_mutex_lock(&g.pool_lock);
    cam->running = false;
    pthread_cond_broadcast(&g.idle_cond);
    /* Back of the queue: every waiting camera gets its turn first. */
    if ((more || cam->rerun) && !g.stop && !cam->removed) {
      cam->rerun = false;
      cam->queued = true;
      cam->next = NULL;
      if (g.tail)
        g.tail->next = cam;
      else
        g.head = cam;
      g.tail = cam;
    }
  }
  pthread_mutex_unlock(&g.pool_lock);
  return NULL;
}

/* ---- publishing ---------------------------------------------------------- */

static void count_trigger(acam_t *cam, const vg_analytics_trigger_t *t) {
  atomic_fetch_add(&cam->triggers, 1);
  pthread_mutex_lock(&cam->snap_lock);
  int i;
  for (i = 0; i < cam->n_counters; i++)
    if (strcmp(cam->counters[i].sensor, t->sensor) == 0 && strcmp(cam->counters[i].kind, t->kind) == 0) break;
  if (i == cam->n_counters && i < MAX_TRIGGER_COUNTERS) {
    snprintf(cam->counters[i].sensor, sizeof(cam->counters[i].sensor), "%s", t->sensor);
    snprintf(cam->counters[i].kind, sizeof(cam->counters[i].kind), "%s", t->kind);
    cam->counters[i].count = 0;
    cam->n_counters++;
  }
  if (i < cam->n_counters) cam->counters[i].count++;
  pthread_mutex_unlock(&cam->snap_lock);
}

static void publish_triggers(acam_t *cam) {
  vg_analytics_trigger_t t[16];
  int n;
  while ((n = vg_analyser_take_triggers(cam->an, t, 16)) > 0) {
    for (int i = 0; i < n; i++) {
      count_trigger(cam, &t[i]);
      vg_log_debug(&cam->log, "trigger %s %s %s track %u", t[i].sensor, t[i].kind, t[i].direction,
                   (unsigned)t[i].track_id);
      if (!g.bus) continue;
      vg_analytics_trigger_t *copy = malloc(sizeof(*copy));
      if (!copy) continue;
      *copy = t[i];
      vg_bus_publish(g.bus, VG_ANALYTICS_TOPIC_TRIGGER, copy, free);
    }
  }
}

/* ---- detection ----------------------------------------------------------- */

/* The inference server's callback, on one of its threads: park the result
 * and let the camera's pool turn apply it, in frame order. */
static void detection_done(void *opaque, const vg_infer_result_t *res) {
  acam_t *cam = opaque;
  pthread_mutex_lock(&cam->lock);
  cam->result_status = res->status;
  cam->n_dets = res->status == 0 ? (res->n_dets < MAX_DETS ? res->n_dets : MAX_DETS) : 0;
  if (cam->n_dets) memcpy(cam->dets, res->dets, (size_t)cam->n_dets * sizeof(cam->dets[0]));
  cam->result_ready = true;
  pthread_cond_broadcast(&cam->done_cond);
  /* Still under the camera's lock: once it is released, a camera being
   * stopped may be freed (lock order: camera, then pool). */
  pool_schedule(cam);
  pthread_mutex_unlock(&cam->lock);
}

static void submit_job(acam_t *cam, detect_job_t *job) {
  pthread_mutex_lock(&cam->lock);
  cam->in_flight = true;
  cam->det_ts = job->ts;
  cam->det_pts = job->pts;
  cam->det_w = job->req.image.width;
  cam->det_h = job->req.image.height;
  cam->det_motion = job->motion;
  cam->det_n_held = job->n_held;
  memcpy(cam->det_held, job->held, (size_t)job->n_held * sizeof(job->held[0]));
  pthread_mutex_unlock(&cam->lock);
  if (job->full) cam->last_full_us = job->ts;
  vg_log_debug(&cam->log, "t=%lld detect %s region %d,%d %dx%d", (long long)job->ts,
               job->full ? "full" : "part", job->req.rx, job->req.ry, job->req.rw, job->req.rh);
  /* The server owns the image from here, whatever happens. */
  if (vg_infer_server_submit(g.infer, &job->req) != 0) {
    pthread_mutex_lock(&cam->lock);
    cam->in_flight = false;
    pthread_mutex_unlock(&cam->lock);
    return;
  }
  atomic_fetch_add(&cam->detected, 1);
}

static void apply_detections(acam_t *cam, vg_detection_t *dets, int n, int w, int h, int64_t ts, int64_t pts,
                             bool motion, const uint32_t *held, int n_held);

static void apply_result(acam_t *cam) {
  vg_detection_t dets[MAX_DETS];
  uint32_t held[MAX_TRACK_BOXES];
  pthread_mutex_lock(&cam->lock);
  if (!cam->result_ready) {
    pthread_mutex_unlock(&cam->lock);
    return;
  }
  int status = cam->result_status, n = cam->n_dets, w = cam->det_w, h = cam->det_h;
  int64_t ts = cam->det_ts, pts = cam->det_pts;
  bool motion = cam->det_motion;
  int n_held = cam->det_n_held;
  memcpy(dets, cam->dets, (size_t)n * sizeof(dets[0]));
  memcpy(held, cam->det_held, (size_t)n_held * sizeof(held[0]));
  cam->result_ready = false;
  cam->in_flight = false;
  pthread_mutex_unlock(&cam->lock);
  if (cam->has_waiting) {
    cam->has_waiting = false;
    submit_job(cam, &cam->waiting);
  }
  if (status) {
    if (status != VG_ECANCELED) vg_log_warn(&cam->log, "detection failed: %s", vg_strerror(status));
    return;
  }
  apply_detections(cam, dets, n, w, h, ts, pts, motion, held, n_held);
}

/* A detector result (or, with n = 0 and every track held, a frame the
 * detector was spared) through the tracker and the sensors, then out on
 * the bus. */
static void apply_detections(acam_t *cam, vg_detection_t *dets, int n, int w, int h, int64_t ts, int64_t pts,
                             bool motion, const uint32_t *held, int n_held) {
  vg_analytics_meta_t *meta = calloc(1, sizeof(*meta));
  if (!meta) return;
  snprintf(meta->camera, sizeof(meta->camera), "%s", cam->id);
  meta->pts = pts;
  meta->utc_us = ts;
  meta->motion = motion;
  if (vg_analyser_detections_held(cam->an, dets, n, w, h, ts, held, n_held, meta) != 0) {
    free(meta);
    return;
  }
  atomic_store(&cam->tracked, vg_analyser_confirmed(cam->an));
  for (int i = 0; i < meta->n_objects; i++) {
    const vg_analytics_object_t *o = &meta->objects[i];
    vg_log_debug(&cam->log, "t=%lld det=%d obj %u %s%s %.2f [%.3f %.3f %.3f %.3f]", (long long)ts, n,
                 (unsigned)o->track_id, o->class_name, o->confirmed ? "" : "?", (double)o->score,
                 (double)o->x1, (double)o->y1, (double)o->x2, (double)o->y2);
  }
  for (int i = 0; i < n; i++)
    vg_log_trace(&cam->log, "t=%lld raw %s %.2f [%.0f %.0f %.0f %.0f]", (long long)ts,
                 vg_coco_label(dets[i].label), (double)dets[i].score, (double)dets[i].x1, (double)dets[i].y1,
                 (double)dets[i].x2, (double)dets[i].y2);
  json_t *sensors = vg_analyser_sensors_json(cam->an);
  pthread_mutex_lock(&cam->snap_lock);
  cam->last_meta = *meta;
  json_decref(cam->sensors);
  cam->sensors = sensors;
  pthread_mutex_unlock(&cam->snap_lock);
  publish_triggers(cam);
  if (g.bus)
    vg_bus_publish(g.bus, VG_ANALYTICS_TOPIC_META, meta, free);
  else
    free(meta);
}

/* The part of the picture the detector looks at: the union of the motion
 * regions and the tracked boxes (padded), or the whole picture when that
 * is most of it or a full-frame check is due. Returns 1 for the full frame. */
static int detection_region(const vg_analyser_motion_t *m, const vg_box_t *boxes, int nb, int w, int h,
                            int *rx, int *ry, int *rw, int *rh) {
  float x1 = (float)w, y1 = (float)h, x2 = 0, y2 = 0;
  for (int i = 0; i < m->n_regions; i++) {
    const vg_rect_t *r = &m->regions[i];
    x1 = r->x1 < x1 ? (float)r->x1 : x1;
    y1 = r->y1 < y1 ? (float)r->y1 : y1;
    x2 = r->x2 > x2 ? (float)r->x2 : x2;
    y2 = r->y2 > y2 ? (float)r->y2 : y2;
  }
  for (int i = 0; i < nb; i++) {
    /* A track predicted out of the picture (its object left) adds nothing. */
    float vis_w = (boxes[i].x2 < (float)w ? boxes[i].x2 : (float)w) - (boxes[i].x1 > 0 ? boxes[i].x1 : 0);
    float vis_h = (boxes[i].y2 < (float)h ? boxes[i].y2 : (float)h) - (boxes[i].y1 > 0 ? boxes[i].y1 : 0);
    if (vis_w < 8 || vis_h < 8) continue;
    /* A tracked object moves on before the next result: leave it room. */
    float pw = (boxes[i].x2 - boxes[i].x1) * 0.15f, ph = (boxes[i].y2 - boxes[i].y1) * 0.15f;
    x1 = boxes[i].x1 - pw < x1 ? boxes[i].x1 - pw : x1;
    y1 = boxes[i].y1 - ph < y1 ? boxes[i].y1 - ph : y1;
    x2 = boxes[i].x2 + pw > x2 ? boxes[i].x2 + pw : x2;
    y2 = boxes[i].y2 + ph > y2 ? boxes[i].y2 + ph : y2;
  }
  if (x2 <= x1 || y2 <= y1) return 1;
  /* The detector stretches a region to its square input: keep the region
   * from being much narrower or flatter than the picture. */
  float cw = x2 - x1, ch = y2 - y1;
  float min_w = ch * (float)w / (float)h * 0.5f, min_h = cw * (float)h / (float)w * 0.5f;
  if (cw < min_w) x1 -= (min_w - cw) / 2, x2 += (min_w - cw) / 2;
  if (ch < min_h) y1 -= (min_h - ch) / 2, y2 += (min_h - ch) / 2;
  /* Small objects need context, and the model a minimum of pixels. */
  if (x2 - x1 < 96) x1 -= (96 - (x2 - x1)) / 2, x2 = x1 + 96;
  if (y2 - y1 < 96) y1 -= (96 - (y2 - y1)) / 2, y2 = y1 + 96;
  x1 = x1 < 0 ? 0 : x1;
  y1 = y1 < 0 ? 0 : y1;
  x2 = x2 > (float)w ? (float)w : x2;
  y2 = y2 > (float)h ? (float)h : y2;
  if ((x2 - x1) * (y2 - y1) > 0.6f * (float)w * (float)h) return 1;
  *rx = (int)x1;
  *ry = (int)y1;
  *rw = (int)(x2 - x1);
  *rh = (int)(y2 - y1);
  return *rw < 16 || *rh < 16;
}

/* ---- per frame ----------------------------------------------------------- */

/* Whether a motion region touches a track's box (padded a little: a
 * standing person who starts to walk moves at its edge first). */
static bool motion_on(const vg_analyser_motion_t *m, const vg_box_t *b) {
  float pw = (b->x2 - b->x1) * 0.1f, ph = (b->y2 - b->y1) * 0.1f;
  for (int i = 0; i < m->n_regions; i++) {
    const vg_rect_t *r = &m->regions[i];
    if ((float)r->x1 < b->x2 + pw && (float)r->x2 > b->x1 - pw && (float)r->y1 < b->y2 + ph &&
        (float)r->y2 > b->y1 - ph)
      return true;
  }
  return false;
}

static int64_t frame_time(acam_t *cam, const vg_frame_t *f) {
  int64_t ts = f->utc_us ? f->utc_us : vg_time_utc_us();
  /* The tracker needs time to move forward. */
  if (ts <= cam->last_ts) ts = cam->last_ts + 1;
  cam->last_ts = ts;
  return ts;
}

static void analyse(acam_t *cam, const vg_frame_t *f) {
  vg_image_t rgb;
  const uint8_t *luma;
  if (vg_vdec_picture(cam->dec, cam->detect_width, &rgb.width, &rgb.height, &rgb.rgb, &luma) != 0) return;
  rgb.stride = rgb.width * 3;
  int64_t ts = frame_time(cam, f);
  vg_analyser_motion_t m;
  if (vg_analyser_frame(cam->an, luma, rgb.width, rgb.height, ts, &m) != 0) {
    vg_image_free(&rgb);
    return;
  }
  atomic_fetch_add(&cam->analysed, 1);
  atomic_store(&cam->motion, m.active);
  publish_triggers(cam); /* tamper */

  vg_box_t boxes[MAX_TRACK_BOXES];
  uint32_t ids[MAX_TRACK_BOXES];
  bool parkable[MAX_TRACK_BOXES];
  int nt = vg_analyser_track_list(cam->an, boxes, ids, parkable, MAX_TRACK_BOXES);
  int64_t full_us = (int64_t)g.cfg.full_frame_interval_s * 1000000;
  /* A full-frame check finds what motion misses (objects standing still),
   * but at the detector's input size it also misses small objects that a
   * region shows large, and a miss costs the tracker a frame. So while
   * something moves or is tracked it waits, up to three intervals. */
  bool busy_scene = m.moving || nt > 0;
  bool full_due = !cam->analysed_once || ts - cam->last_full_us >= (busy_scene ? 3 * full_us : full_us);
  cam->analysed_once = true;
  pthread_mutex_lock(&cam->lock);
  bool busy = cam->in_flight;
  pthread_mutex_unlock(&cam->lock);
  /* Stationary gating: a stationary track with no motion on it is parked,
   * left out of the detector's region and held by the tracker, until its
   * check is due; motion on it brings it back at once. A waiting check
   * that a newer frame replaces stays a check. */
  bool check_due = full_due || cam->stationary_us <= 0 || ts - cam->last_check_us >= cam->stationary_us ||
                   (cam->has_waiting && cam->waiting.n_held == 0);
  uint32_t held[MAX_TRACK_BOXES];
  int nb = 0, n_held = 0;
  for (int i = 0; i < nt; i++) {
    if (!check_due && parkable[i] && !motion_on(&m, &boxes[i]))
      held[n_held++] = ids[i];
    else
      boxes[nb++] = boxes[i];
  }
  /* Motion still "active" by hysteresis but without boxes has nothing to show the detector. */
  bool want = m.moving || nb > 0 || full_due;
  /* Parked tracks keep the camera decoding every frame: keyframes only
   * would see an object that starts moving up to a GOP late (see
   * docs/ANALYTICS.md, "Stationary objects"). */
  cam->active = m.active || m.moving || nt > 0 || busy;
  if (!want) {
    int w = rgb.width, h = rgb.height;
    vg_image_free(&rgb);
    if (n_held > 0) {
      atomic_fetch_add(&cam->stationary_skipped, 1);
      /* The tracker and the sensors still see this frame, with every
       * object held where it stands (a loiter time runs out on time). A
       * result on its way will update them instead. */
      if (!busy) apply_detections(cam, NULL, 0, w, h, ts, f->pts, m.active, held, n_held);
    }
    return;
  }
  cam->active = true;
  detect_job_t job = {.req = {.camera = cam->index,
                              .frame = (uint64_t)f->pts,
                              .model = g.cfg.model,
                              .image = rgb,
                              .done = detection_done,
                              .opaque = cam},
                      .ts = ts,
                      .pts = f->pts,
                      .motion = m.active,
                      .n_held = n_held};
  memcpy(job.held, held, (size_t)n_held * sizeof(held[0]));
  if (n_held == 0) cam->last_check_us = ts;
  job.full = full_due || detection_region(&m, boxes, nb, rgb.width, rgb.height, &job.req.rx, &job.req.ry,
                                          &job.req.rw, &job.req.rh);
  if (job.full) job.req.rx = job.req.ry = job.req.rw = job.req.rh = 0;
  if (!busy) {
    submit_job(cam, &job);
    return;
  }
  /* The tracker moves only with detector results, in frame order: this
   * frame waits for the running one, replacing (and counting) a frame
   * already waiting: the detector is slower than this camera's rate. */
  if (cam->has_waiting) {
    vg_image_free(&cam->waiting.req.image);
    atomic_fetch_add(&cam->superseded, 1);
  }
  cam->waiting = job;
  cam->has_waiting = true;
}

/* Shows the decoder's backend in the status and the metrics; one log line
 * when it changes (the first decoder, or hardware given up on its first
 * unit), naming why the hwaccel asked for is not in use. */
static void note_decoder(acam_t *cam) {
  const char *backend = vg_vdec_backend(cam->dec), *why = vg_vdec_fallback(cam->dec);
  pthread_mutex_lock(&cam->snap_lock);
  bool same = cam->decoder == backend && strcmp(cam->decoder_why, why) == 0;
  cam->decoder = backend;
  snprintf(cam->decoder_why, sizeof(cam->decoder_why), "%s", why);
  pthread_mutex_unlock(&cam->snap_lock);
  if (same) return;
  if (!*why)
    vg_log_info(&cam->log, "decoding with %s (hwaccel %s)", backend, vg_hwaccel_name(cam->hwaccel));
  else if (cam->hwaccel == VG_HWACCEL_AUTO)
    vg_log_info(&cam->log, "decoding with %s (hwaccel auto): %s", backend, why);
  else
    vg_log_warn(&cam->log, "decoding with %s, not %s: %s", backend, vg_hwaccel_name(cam->hwaccel), why);
}

static void open_decoder(acam_t *cam) {
  vg_track_t tracks[VG_MAX_TRACKS];
  int n = vg_hub_reader_tracks(cam->reader, tracks, VG_MAX_TRACKS);
  vg_vdec_close(&cam->dec);
  cam->video_track = -1;
  for (int i = 0; i < n; i++) {
    if (cam->video_track < 0 && vg_codec_is_video(tracks[i].codec)) {
      vg_vdec_opts_t opts = {.hwaccel = cam->hwaccel, .fast = true};
      int err = vg_vdec_open(&tracks[i], &opts, &cam->dec);
      if (err) {
        vg_log_warn(&cam->log, "cannot decode %s: %s", vg_codec_name(tracks[i].codec), vg_strerror(err));
      } else {
        cam->video_track = i, cam->clock_rate = tracks[i].clock_rate ? tracks[i].clock_rate : 90000;
        note_decoder(cam);
      }
    }
    vg_track_clear(&tracks[i]);
  }
  cam->need_key = true;
  cam->analysed_once = false;
  vg_analyser_reset(cam->an);
}

static void handle_frame(acam_t *cam, const vg_frame_t *f) {
  if (f->track != cam->video_track || !cam->dec) return;
  bool key = f->flags & VG_FRAME_KEY;
  int64_t lag = f->recv_us ? vg_time_mono_us() - f->recv_us : 0;
  if (lag > (int64_t)g.cfg.max_lag_ms * 1000 && !key) {
    /* The pool is behind: catch up at the next keyframe. */
    atomic_fetch_add(&cam->skipped, 1);
    cam->need_key = true;
    return;
  }
  if (!key && (cam->need_key || !cam->active)) {
    if (cam->need_key && cam->active)
      atomic_fetch_add(&cam->skipped, 1);
    else
      atomic_fetch_add(&cam->idle_skipped, 1);
    cam->need_key = true;
    return;
  }
  cam->need_key = false;
  const char *backend = vg_vdec_backend(cam->dec);
  int got = vg_vdec_decode(cam->dec, f);
  /* Hardware that opened may give up on the first unit. */
  if (vg_vdec_backend(cam->dec) != backend) note_decoder(cam);
  if (got < 0) {
    vg_vdec_flush(cam->dec);
    cam->need_key = true;
    return;
  }
  atomic_fetch_add(&cam->decoded, 1);
  if (!got) return;
  int64_t interval = (int64_t)cam->clock_rate / cam->detect_fps;
  /* A little slack so that 25 fps at 5 fps analyses every 5th frame, not
   * every 6th when timestamps jitter. */
  if (cam->analysed_once && f->pts - cam->last_analysis_pts < interval - interval / 8 &&
      !(key && !cam->active))
    return;
  cam->last_analysis_pts = f->pts;
  analyse(cam, f);
}

/* Swaps in a configuration set by vg_analytics_camera_set(), between two
 * frames, on the pool thread that owns the analyser. */
static void take_new_config(acam_t *cam) {
  pthread_mutex_lock(&cam->lock);
  vg_analyser_t *an = cam->next_an;
  int fps = cam->next_detect_fps;
  int64_t stationary_us = cam->next_stationary_us;
  cam->next_an = NULL;
  pthread_mutex_unlock(&cam->lock);
  if (!an) return;
  vg_analyser_adopt(an, cam->an);
  vg_analyser_destroy(&cam->an);
  cam->an = an;
  cam->detect_fps = fps;
  cam->stationary_us = stationary_us;
  atomic_store(&cam->tracked, vg_analyser_confirmed(an));
  json_t *sensors = vg_analyser_sensors_json(an);
  pthread_mutex_lock(&cam->snap_lock);
  json_decref(cam->sensors);
  cam->sensors = sensors;
  pthread_mutex_unlock(&cam->snap_lock);
  vg_log_info(&cam->log, "new analytics configuration in use");
}

/* One pool turn for a camera: a new configuration and a pending detector
 * result first, then up to BATCH_FRAMES frames. Returns true when frames
 * may be left. */
static bool cam_run(acam_t *cam) {
  take_new_config(cam);
  apply_result(cam);
  vg_hub_reader_stats_t st;
  vg_hub_reader_stats(cam->reader, &st);
  if (st.dropped > cam->reader_drops_seen) {
    atomic_fetch_add(&cam->skipped, st.dropped - cam->reader_drops_seen);
    cam->reader_drops_seen = st.dropped;
    cam->need_key = true;
  }
  for (int i = 0; i < BATCH_FRAMES; i++) {
    vg_frame_t f;
    int r = vg_hub_read(cam->reader, &f);
    if (r == VG_ESTATE) {
      open_decoder(cam);
      continue;
    }
    if (r) return false; /* empty, or the camera is offline: its notify brings us back */
    handle_frame(cam, &f);
    vg_frame_unref(&f);
  }
  return true;
}

/* ---- metrics ------------------------------------------------------------- */

static void metric_u64(vg_strbuf_t *out, const char *name, const char *type, const char *help,
                       size_t offset) {
  vg_metrics_family(out, name, type, help);
  for (int i = 0; i < g.cam_count; i++) {
    acam_t *c = g.cams[i];
    uint64_t v = atomic_load((atomic_uint_fast64_t *)((char *)c + offset));
    vg_metrics_sample_u64(out, name, (const char *const[]){"camera", c->id, NULL}, v);
  }
}

static void collect_metrics(void *opaque, vg_strbuf_t *out) {
  (void)opaque;
  pthread_mutex_lock(&g.cams_lock);
  metric_u64(out, "vigil_decode_frames_total", "counter", "Frames decoded for analytics.",
             offsetof(acam_t, decoded));
  metric_u64(out, "vigil_analytics_frames_total", "counter", "Frames scaled and analysed (motion, tamper).",
             offsetof(acam_t, analysed));
  metric_u64(out, "vigil_detect_frames_total", "counter", "Frames sent to the object detector.",
             offsetof(acam_t, detected));
  metric_u64(out, "vigil_analytics_skipped_frames_total", "counter",
             "Frames analytics skipped because it was behind (saturated pool or full hub queue).",
             offsetof(acam_t, skipped));
  metric_u64(out, "vigil_analytics_idle_frames_total", "counter",
             "Non-key frames not decoded while the camera was idle.", offsetof(acam_t, idle_skipped));
  metric_u64(out, "vigil_analytics_stationary_skipped_frames_total", "counter",
             "Analysed frames not sent to the detector because their only objects were stationary, between "
             "their checks.",
             offsetof(acam_t, stationary_skipped));
  metric_u64(out, "vigil_analytics_superseded_frames_total", "counter",
             "Analysed frames replaced by a newer one while the camera's previous frame was being detected.",
             offsetof(acam_t, superseded));
  vg_metrics_family(out, "vigil_motion_active", "gauge", "Whether the camera sees motion (1) or not (0).");
  for (int i = 0; i < g.cam_count; i++)
    vg_metrics_sample_u64(out, "vigil_motion_active", (const char *const[]){"camera", g.cams[i]->id, NULL},
                          atomic_load(&g.cams[i]->motion));
  vg_metrics_family(out, "vigil_tracked_objects", "gauge", "Confirmed tracked objects now.");
  for (int i = 0; i < g.cam_count; i++)
    vg_metrics_sample_u64(out, "vigil_tracked_objects", (const char *const[]){"camera", g.cams[i]->id, NULL},
                          (uint64_t)atomic_load(&g.cams[i]->tracked));
  vg_metrics_family(out, "vigil_analytics_decoder", "gauge",
                    "The decoder a camera's analytics uses (label decoder: software, vaapi, cuda, v4l2m2m); "
                    "always 1.");
  for (int i = 0; i < g.cam_count; i++) {
    acam_t *c = g.cams[i];
    pthread_mutex_lock(&c->snap_lock);
    if (c->decoder)
      vg_metrics_sample_u64(out, "vigil_analytics_decoder",
                            (const char *const[]){"camera", c->id, "decoder", c->decoder, NULL}, 1);
    pthread_mutex_unlock(&c->snap_lock);
  }
  vg_metrics_family(out, "vigil_sensor_triggers_total", "counter", "Virtual sensor triggers.");
  for (int i = 0; i < g.cam_count; i++) {
    acam_t *c = g.cams[i];
    pthread_mutex_lock(&c->snap_lock);
    for (int k = 0; k < c->n_counters; k++)
      vg_metrics_sample_u64(out, "vigil_sensor_triggers_total",
                            (const char *const[]){"camera", c->id, "sensor", c->counters[k].sensor, "kind",
                                                  c->counters[k].kind, NULL},
                            c->counters[k].count);
    pthread_mutex_unlock(&c->snap_lock);
  }
  pthread_mutex_unlock(&g.cams_lock);
  if (g.infer) {
    char buf[8192];
    int n = vg_infer_server_metrics(g.infer, buf, sizeof(buf));
    if (n > 0) vg_strbuf_append(out, buf, (size_t)n);
  }
}

/* ---- the trigger log ----------------------------------------------------- */

static void log_trigger(void *opaque, const vg_bus_msg_t *msg) {
  (void)opaque;
  const vg_analytics_trigger_t *t = msg->data;
  json_t *o =
      json_pack("{sssssssssssIsisssisbsIsI}", "camera", t->camera, "sensor", t->sensor, "kind", t->kind,
                "direction", t->direction, "tamper", t->tamper, "track", (json_int_t)t->track_id, "label",
                t->label, "class", t->class_name, "count", t->count, "cleared", t->cleared, "utc_us",
                (json_int_t)t->utc_us, "frame_utc_us", (json_int_t)t->frame_utc_us);
  char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
  if (line) {
    fprintf(g.log_file, "%s\n", line);
    fflush(g.log_file);
  }
  free(line);
  json_decref(o);
}

/* ---- life cycle ---------------------------------------------------------- */

static void cam_free(acam_t *cam) {
  if (!cam) return;
  vg_hub_close_reader(&cam->reader);
  vg_hub_unref(&cam->hub);
  vg_vdec_close(&cam->dec);
  vg_analyser_destroy(&cam->an);
  vg_analyser_destroy(&cam->next_an);
  if (cam->has_waiting) vg_image_free(&cam->waiting.req.image);
  json_decref(cam->sensors);
  pthread_cond_destroy(&cam->done_cond);
  pthread_mutex_destroy(&cam->lock);
  pthread_mutex_destroy(&cam->snap_lock);
  free(cam);
}

static int cam_new(const vg_analytics_camera_config_t *cc, uint32_t index, acam_t **out) {
  const char *hub_name = cc->substream[0] ? cc->substream : cc->camera;
  vg_hub_t *hub = vg_hub_find(hub_name);
  if (!hub) return VG_ENOTFOUND;
  acam_t *cam = calloc(1, sizeof(*cam));
  if (!cam) {
    vg_hub_unref(&hub);
    return VG_ENOMEM;
  }
  pthread_mutex_init(&cam->lock, NULL);
  pthread_cond_init(&cam->done_cond, NULL);
  pthread_mutex_init(&cam->snap_lock, NULL);
  snprintf(cam->id, sizeof(cam->id), "%s", cc->camera);
  snprintf(cam->hub_name, sizeof(cam->hub_name), "%s", hub_name);
  cam->log = (vg_log_ctx_t){"analytics", cam->id};
  cam->hub = hub;
  cam->index = index;
  cam->video_track = -1;
  cam->detect_fps = cc->detect_fps ? cc->detect_fps : g.cfg.detect_fps;
  cam->detect_width = cc->detect_width ? cc->detect_width : g.cfg.detect_width;
  cam->stationary_us = stationary_interval_us(cc);
  cam->hwaccel = VG_HWACCEL_AUTO;
  vg_hwaccel_parse(cc->hwaccel[0] ? cc->hwaccel : g.cfg.hwaccel, &cam->hwaccel);
  int err = vg_analyser_create(cam->id, cc->vision, &cam->an);
  if (err) {
    cam_free(cam);
    return err;
  }
  /* The status shows the configured sensors from the start. */
  cam->sensors = vg_analyser_sensors_json(cam->an);
  *out = cam;
  return 0;
}

static int start_infer(void) {
  char err[256] = "";
  g.model_ctx = (vg_infer_cpu_model_t){.name_or_path = g.cfg.model,
                                       .models_dir = g.cfg.models_dir,
                                       .threads_per_instance = 1,
                                       .precision = g.cfg.precision};
  int ret = vg_infer_server_create(&g.infer);
  if (ret) return ret;
  int dev = vg_infer_server_add_device(g.infer, "cpu", g.cfg.detect_threads);
  if (dev < 0) return dev;
  const vg_infer_runner_t *runner = g.runner ? g.runner : &vg_infer_cpu_runner;
  void *ctx = g.runner ? g.runner_ctx : &g.model_ctx;
  ret = vg_infer_server_add_model(g.infer, dev, g.cfg.model, runner, ctx, err, sizeof(err));
  if (ret) {
    vg_log_error(&lg, "cannot load model %s from %s: %s", g.cfg.model, g.cfg.models_dir, err);
    return ret;
  }
  return vg_infer_server_start(g.infer);
}

int vg_analytics_start(const vg_analytics_node_config_t *cfg, vg_bus_t *bus) {
  return vg_analytics_start_with_runner(cfg, bus, NULL, NULL);
}

static acam_t *find_cam(const char *id) {
  for (int i = 0; i < g.cam_count; i++)
    if (strcmp(g.cams[i]->id, id) == 0) return g.cams[i];
  return NULL;
}

/* ---- cameras coming and going (under ctl_lock) ---------------------------- */

static wanted_t *find_wanted(const char *id) {
  for (int i = 0; i < g.n_wanted; i++)
    if (strcmp(g.wanted[i].cc.camera, id) == 0) return &g.wanted[i];
  return NULL;
}

static void forget_wanted(const char *id) {
  wanted_t *w = find_wanted(id);
  if (!w) return;
  json_decref(w->json);
  vg_analytics_camera_config_clear(&w->cc);
  *w = g.wanted[--g.n_wanted];
}

/* Keeps cc (taking its vision configuration) and json (taking the
 * reference) as id's wanted configuration. */
static int keep_wanted(vg_analytics_camera_config_t *cc, json_t *json) {
  wanted_t *w = find_wanted(cc->camera);
  if (!w) {
    wanted_t *grown = realloc(g.wanted, (size_t)(g.n_wanted + 1) * sizeof(*g.wanted));
    if (!grown) {
      vg_analytics_camera_config_clear(cc);
      json_decref(json);
      return VG_ENOMEM;
    }
    g.wanted = grown;
    w = &g.wanted[g.n_wanted++];
  } else {
    json_decref(w->json);
    vg_analytics_camera_config_clear(&w->cc);
  }
  w->cc = *cc;
  w->json = json;
  cc->vision = NULL;
  return 0;
}

static void forget_all_wanted(void) {
  for (int i = 0; i < g.n_wanted; i++) {
    json_decref(g.wanted[i].json);
    vg_analytics_camera_config_clear(&g.wanted[i].cc);
  }
  free(g.wanted);
  g.wanted = NULL;
  g.n_wanted = 0;
}

/* The smallest inference-server camera number no running camera uses: the
 * server keeps a slot per number, so numbers are reused, not grown. */
static uint32_t free_index(void) {
  for (uint32_t idx = 1;; idx++) {
    int used = 0;
    for (int i = 0; i < g.cam_count && !used; i++)
      used = g.cams[i]->index == idx;
    if (!used) return idx;
  }
}

/* Starts a pipeline for cc (running, enabled). VG_ENOTFOUND when its hub
 * does not exist (yet). */
static int start_cam(const vg_analytics_camera_config_t *cc) {
  if (g.cam_count == g.cams_cap) {
    int cap = g.cams_cap ? g.cams_cap * 2 : 8;
    pthread_mutex_lock(&g.cams_lock);
    acam_t **grown = realloc(g.cams, (size_t)cap * sizeof(*g.cams));
    if (grown) g.cams = grown, g.cams_cap = cap;
    pthread_mutex_unlock(&g.cams_lock);
    if (!grown) return VG_ENOMEM;
  }
  acam_t *cam;
  int err = cam_new(cc, free_index(), &cam);
  if (err) return err;
  pthread_mutex_lock(&g.cams_lock);
  g.cams[g.cam_count++] = cam;
  pthread_mutex_unlock(&g.cams_lock);
  /* Analytics needs no instant picture: starting at the next keyframe
   * keeps old cached frames from counting as lag. */
  vg_hub_reader_opts_t ro = {
      .queue_frames = (uint32_t)g.cfg.queue_frames, .notify = hub_notify, .opaque = cam, .skip_gop_cache = 1};
  if (vg_hub_open_reader(cam->hub, &ro, &cam->reader) == 0) pool_schedule(cam);
  return 0;
}

/* Stops one camera's pipeline and frees it, with frames flowing: no pool
 * turn, hub notify or detector callback touches it afterwards. */
static void stop_cam(acam_t *cam) {
  pthread_mutex_lock(&g.cams_lock);
  for (int i = 0; i < g.cam_count; i++)
    if (g.cams[i] == cam) {
      g.cams[i] = g.cams[--g.cam_count];
      break;
    }
  pthread_mutex_unlock(&g.cams_lock);
  /* Out of the queue, and its running turn (if any) over. */
  pthread_mutex_lock(&g.pool_lock);
  cam->removed = true;
  if (cam->queued) {
    acam_t **pp = &g.head, *prev = NULL;
    while (*pp && *pp != cam)
      prev = *pp, pp = &(*pp)->next;
    if (*pp) {
      *pp = cam->next;
      if (g.tail == cam) g.tail = prev;
    }
    cam->queued = false;
  }
  while (cam->running)
    pthread_cond_wait(&g.idle_cond, &g.pool_lock);
  pthread_mutex_unlock(&g.pool_lock);
  /* No notify runs once this returns. */
  vg_hub_close_reader(&cam->reader);
  /* The detector's callback for a request in flight must have run. */
  pthread_mutex_lock(&cam->lock);
  while (cam->in_flight && !cam->result_ready)
    pthread_cond_wait(&cam->done_cond, &cam->lock);
  pthread_mutex_unlock(&cam->lock);
  vg_log_info(&cam->log, "analytics stopped");
  cam_free(cam);
}

/* Brings what runs for w in line with it (running). */
static int apply_wanted(const wanted_t *w) {
  const vg_analytics_camera_config_t *cc = &w->cc;
  acam_t *cam = find_cam(cc->camera);
  const char *hub_name = cc->substream[0] ? cc->substream : cc->camera;
  int width = cc->detect_width ? cc->detect_width : g.cfg.detect_width;
  vg_hwaccel_t hwaccel = VG_HWACCEL_AUTO;
  vg_hwaccel_parse(cc->hwaccel[0] ? cc->hwaccel : g.cfg.hwaccel, &hwaccel);
  if (cam && (!cc->enabled || strcmp(cam->hub_name, hub_name) != 0 || cam->detect_width != width ||
              cam->hwaccel != hwaccel)) {
    stop_cam(cam);
    cam = NULL;
  }
  if (!cc->enabled) return 0;
  if (!cam) {
    int err = start_cam(cc);
    if (err == VG_ENOTFOUND)
      vg_log_info(&lg, "camera %s: analytics waits for its stream %s", cc->camera, hub_name);
    else if (err)
      vg_log_error(&lg, "camera %s: no analytics: %s", cc->camera, vg_strerror(err));
    else
      vg_log_info(&lg, "camera %s: analytics started", cc->camera);
    return err == VG_ENOTFOUND ? 0 : err;
  }
  /* Built here, swapped in by the camera's next pool turn. */
  vg_analyser_t *an;
  int err = vg_analyser_create(cc->camera, cc->vision, &an);
  if (err) return err;
  pthread_mutex_lock(&cam->lock);
  vg_analyser_destroy(&cam->next_an); /* an older change not taken yet */
  cam->next_an = an;
  cam->next_detect_fps = cc->detect_fps ? cc->detect_fps : g.cfg.detect_fps;
  cam->next_stationary_us = stationary_interval_us(cc);
  pthread_mutex_unlock(&cam->lock);
  pool_schedule(cam);
  return 0;
}

int vg_analytics_camera_set(const char *camera, const json_t *obj) {
  vg_analytics_camera_config_t cc = {0};
  json_t *copy = NULL;
  if (obj && !json_is_null(obj)) {
    if (!(copy = json_deep_copy(obj))) return VG_ENOMEM;
    vg_cfg_t c = {0};
    vg_cfg_enter(&c, "analytics");
    int err = vg_analytics_camera_config_parse(&c, camera, copy, &cc);
    if (err) {
      vg_log_warn(&lg, "camera %s: analytics configuration refused: %s: %s", camera, c.err_path,
                  c.err_reason);
      json_decref(copy);
      return err;
    }
  }
  pthread_mutex_lock(&g.ctl_lock);
  int err = 0;
  if (!cc.enabled) {
    forget_wanted(camera);
    acam_t *cam = g.running ? find_cam(camera) : NULL;
    if (cam) stop_cam(cam);
    vg_analytics_camera_config_clear(&cc);
    json_decref(copy);
  } else {
    wanted_t *w = find_wanted(camera);
    bool same = w && vg_analytics_camera_config_equal(&w->cc, &cc);
    if (same) {
      vg_analytics_camera_config_clear(&cc);
      json_decref(copy);
    } else {
      err = keep_wanted(&cc, copy);
      w = err ? NULL : find_wanted(camera);
    }
    /* Also when nothing changed: the camera may have just come (back). */
    if (w && g.running && !(same && find_cam(camera))) err = apply_wanted(w);
  }
  pthread_mutex_unlock(&g.ctl_lock);
  return err;
}

int vg_analytics_camera_remove(const char *camera) {
  pthread_mutex_lock(&g.ctl_lock);
  forget_wanted(camera);
  for (int i = 0; g.running && i < g.cam_count;) {
    acam_t *cam = g.cams[i];
    if (strcmp(cam->id, camera) == 0 || strcmp(cam->hub_name, camera) == 0)
      stop_cam(cam); /* the last camera moves to i */
    else
      i++;
  }
  pthread_mutex_unlock(&g.ctl_lock);
  return 0;
}

/* ---- start and stop ------------------------------------------------------- */

int vg_analytics_start_with_runner(const vg_analytics_node_config_t *cfg, vg_bus_t *bus,
                                   const vg_infer_runner_t *runner, void *runner_ctx) {
  pthread_mutex_lock(&g.ctl_lock);
  int err = 0;
  /* The file's cameras are wanted even when analytics does not run. */
  for (int i = 0; i < cfg->camera_count && !err; i++) {
    if (!cfg->cameras[i].enabled) continue;
    vg_analytics_camera_config_t cc;
    err = vg_analytics_camera_config_copy(&cc, &cfg->cameras[i]);
    if (!err) err = keep_wanted(&cc, NULL);
  }
  if (err || !cfg->enabled || g.running) {
    pthread_mutex_unlock(&g.ctl_lock);
    return err;
  }
  g.runner = runner;
  g.runner_ctx = runner_ctx;
  g.cfg = *cfg;
  g.cfg.cameras = NULL;
  g.cfg.camera_count = 0;
  g.bus = bus;
  g.stop = false;
  g.running = true;
  if ((err = start_infer())) goto fail;
  if (cfg->trigger_log[0]) {
    if (!(g.log_file = fopen(cfg->trigger_log, "a"))) {
      err = vg_err_from_errno();
      vg_log_error(&lg, "cannot open %s: %s", cfg->trigger_log, vg_strerror(err));
      goto fail;
    }
    if (bus) vg_bus_subscribe(bus, VG_ANALYTICS_TOPIC_TRIGGER, NULL, log_trigger, NULL, &g.log_sub);
  }
  int n = cfg->threads > 0 ? cfg->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
  g.threads = calloc((size_t)(n > 0 ? n : 1), sizeof(*g.threads));
  if (!g.threads) {
    err = VG_ENOMEM;
    goto fail;
  }
  for (int i = 0; i < n; i++) {
    if (pthread_create(&g.threads[i], NULL, pool_main, NULL) != 0) break;
    g.thread_count++;
  }
  /* Readers open as pipelines start: from then on frames flow into the pool. */
  for (int i = 0; i < g.n_wanted; i++)
    apply_wanted(&g.wanted[i]);
  vg_metrics_register("analytics", collect_metrics, NULL);
  vg_log_info(&lg, "analysing %d cameras at %d fps, %d px wide, model %s, %d threads", g.cam_count,
              cfg->detect_fps, cfg->detect_width, cfg->model, g.thread_count);
  pthread_mutex_unlock(&g.ctl_lock);
  return 0;
fail:
  pthread_mutex_unlock(&g.ctl_lock);
  vg_analytics_stop();
  return err;
}

void vg_analytics_stop(void) {
  pthread_mutex_lock(&g.ctl_lock);
  forget_all_wanted();
  if (!g.running) {
    pthread_mutex_unlock(&g.ctl_lock);
    return;
  }
  vg_metrics_unregister("analytics");
  pthread_mutex_lock(&g.pool_lock);
  g.stop = true;
  pthread_cond_broadcast(&g.pool_cond);
  pthread_mutex_unlock(&g.pool_lock);
  for (int i = 0; i < g.thread_count; i++)
    pthread_join(g.threads[i], NULL);
  free(g.threads);
  g.threads = NULL;
  g.thread_count = 0;
  /* Waits for running detections; their callbacks find the pool stopped. */
  vg_infer_server_destroy(&g.infer);
  vg_bus_unsubscribe(&g.log_sub);
  if (g.log_file) fclose(g.log_file);
  g.log_file = NULL;
  pthread_mutex_lock(&g.cams_lock);
  for (int i = 0; i < g.cam_count; i++)
    cam_free(g.cams[i]);
  free(g.cams);
  g.cams = NULL;
  g.cam_count = 0;
  g.cams_cap = 0;
  pthread_mutex_unlock(&g.cams_lock);
  g.head = g.tail = NULL;
  g.bus = NULL;
  g.running = false;
  pthread_mutex_unlock(&g.ctl_lock);
}

/* ---- introspection ------------------------------------------------------- */

int vg_analytics_camera_stats(const char *camera, vg_analytics_camera_stats_t *out) {
  pthread_mutex_lock(&g.cams_lock);
  acam_t *c = find_cam(camera);
  if (c)
    *out = (vg_analytics_camera_stats_t){.decoded = atomic_load(&c->decoded),
                                         .analysed = atomic_load(&c->analysed),
                                         .detected = atomic_load(&c->detected),
                                         .skipped = atomic_load(&c->skipped),
                                         .idle_skipped = atomic_load(&c->idle_skipped),
                                         .stationary_skipped = atomic_load(&c->stationary_skipped),
                                         .superseded = atomic_load(&c->superseded),
                                         .triggers = atomic_load(&c->triggers),
                                         .motion = atomic_load(&c->motion),
                                         .tracked = atomic_load(&c->tracked)};
  if (c) {
    pthread_mutex_lock(&c->snap_lock);
    snprintf(out->decoder, sizeof(out->decoder), "%s", c->decoder ? c->decoder : "");
    snprintf(out->decoder_why, sizeof(out->decoder_why), "%s", c->decoder_why);
    pthread_mutex_unlock(&c->snap_lock);
  }
  pthread_mutex_unlock(&g.cams_lock);
  return c ? 0 : VG_ENOTFOUND;
}

static json_t *object_json(const vg_analytics_object_t *o) {
  return json_pack("{sIsisssfs[ffff]sbsbsI}", "track", (json_int_t)o->track_id, "label", o->label, "class",
                   o->class_name, "score", (double)o->score, "box", (double)o->x1, (double)o->y1,
                   (double)o->x2, (double)o->y2, "confirmed", o->confirmed, "stationary", o->stationary,
                   "zones", (json_int_t)o->zones);
}

json_t *vg_analytics_camera_json(const char *camera) {
  vg_analytics_camera_stats_t st;
  if (vg_analytics_camera_stats(camera, &st)) return NULL;
  json_t *root =
      json_pack("{sssIsIsIsIsIsIsbsi}", "camera", camera, "decoded_frames", (json_int_t)st.decoded,
                "analysed_frames", (json_int_t)st.analysed, "detect_frames", (json_int_t)st.detected,
                "skipped_frames", (json_int_t)st.skipped, "idle_frames", (json_int_t)st.idle_skipped,
                "triggers", (json_int_t)st.triggers, "motion", st.motion, "tracked_objects", st.tracked);
  if (!root) return NULL;
  json_object_set_new(root, "stationary_skipped_frames", json_integer((json_int_t)st.stationary_skipped));
  json_object_set_new(root, "superseded_frames", json_integer((json_int_t)st.superseded));
  json_object_set_new(root, "decoder", json_string(st.decoder));
  json_object_set_new(root, "decoder_fallback", json_string(st.decoder_why));
  pthread_mutex_lock(&g.cams_lock);
  acam_t *c = find_cam(camera);
  if (c) {
    pthread_mutex_lock(&c->snap_lock);
    json_t *objs = json_array(), *counts = json_object();
    for (int i = 0; i < c->last_meta.n_objects; i++)
      json_array_append_new(objs, object_json(&c->last_meta.objects[i]));
    json_object_set_new(root, "utc_us", json_integer(c->last_meta.utc_us));
    json_object_set_new(root, "objects", objs);
    for (int k = 0; k < c->n_counters; k++) {
      json_t *s = json_object_get(counts, c->counters[k].sensor);
      if (!s) json_object_set_new(counts, c->counters[k].sensor, s = json_object());
      json_object_set_new(s, c->counters[k].kind, json_integer((json_int_t)c->counters[k].count));
    }
    json_object_set_new(root, "trigger_counts", counts);
    /* A copy: the pool thread replaces (and frees) its own at any time. */
    if (c->sensors) json_object_set_new(root, "sensors", json_deep_copy(c->sensors));
    pthread_mutex_unlock(&c->snap_lock);
  }
  pthread_mutex_unlock(&g.cams_lock);
  return root;
}
