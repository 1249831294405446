/* server.c: the inference server (see server.h). One mutex guards the
 * queue, the devices' loads and the statistics; workers hold it only to pick
 * a job and to account for it, never while running a model. */
#include "infer/server.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"

#define MAX_DEVICES 8
#define MAX_MODELS 16
#define MAX_WORKERS 64
#define MAX_CAMERAS 4096
#define MAX_DETS 100

static const double bucket_s[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
#define N_BUCKETS (int)(sizeof(bucket_s) / sizeof(bucket_s[0]))

typedef struct {
  char name[64];
  uint64_t requests, completed, failed, dropped;
  uint64_t hist[N_BUCKETS + 1]; /* last: +Inf */
  double latency_sum_s, run_sum_s;
} model_t;

typedef struct {
  vg_infer_request_t req;
  int model;
  double submitted; /* seconds, monotonic */
} pending_t;

typedef struct {
  uint32_t id;
  uint64_t last_served;        /* the server's serve count when last picked; 0: never */
  pending_t *slot[MAX_MODELS]; /* the one waiting request per model */
} camera_t;

typedef struct {
  char name[64];
  int capacity, running;
  const vg_infer_runner_t *runner[MAX_MODELS]; /* NULL: model not on this device */
  void *ctx[MAX_MODELS];
} device_t;

typedef struct {
  vg_infer_server_t *s;
  int device;
  pthread_t thread;
  void *instance[MAX_MODELS];
} worker_t;

struct vg_infer_server {
  pthread_mutex_t mu;
  pthread_cond_t wake;
  int started, stopping;
  model_t models[MAX_MODELS];
  int n_models;
  device_t devices[MAX_DEVICES];
  int n_devices;
  worker_t workers[MAX_WORKERS];
  int n_workers;
  camera_t *cameras;
  int n_cameras, cap_cameras;
  uint64_t served; /* jobs picked so far: orders cameras by when they were served */
  int waiting;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int vg_infer_server_create(vg_infer_server_t **out) {
  vg_infer_server_t *s = calloc(1, sizeof(*s));
  if (!s) return VG_ENOMEM;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->wake, NULL);
  *out = s;
  return 0;
}

int vg_infer_server_add_device(vg_infer_server_t *s, const char *name, int workers) {
  if (s->started || s->n_devices >= MAX_DEVICES || workers < 1 || s->n_workers + workers > MAX_WORKERS)
    return VG_EINVAL;
  device_t *d = &s->devices[s->n_devices];
  snprintf(d->name, sizeof(d->name), "%s", name);
  d->capacity = workers;
  for (int i = 0; i < workers; i++) {
    worker_t *w = &s->workers[s->n_workers++];
    w->s = s;
    w->device = s->n_devices;
  }
  return s->n_devices++;
}

static int find_model(const vg_infer_server_t *s, const char *name) {
  for (int i = 0; i < s->n_models; i++)
    if (!strcmp(s->models[i].name, name)) return i;
  return -1;
}

int vg_infer_server_add_model(vg_infer_server_t *s, int dev, const char *name,
                              const vg_infer_runner_t *runner, void *model_ctx, char *err, size_t errlen) {
  if (s->started || dev < 0 || dev >= s->n_devices || !runner) return VG_EINVAL;
  int m = find_model(s, name);
  if (m < 0) {
    if (s->n_models >= MAX_MODELS) return VG_ETOOBIG;
    m = s->n_models++;
    snprintf(s->models[m].name, sizeof(s->models[m].name), "%s", name);
  }
  device_t *d = &s->devices[dev];
  if (d->runner[m]) return VG_EEXIST;
  for (int i = 0; i < s->n_workers; i++) {
    worker_t *w = &s->workers[i];
    if (w->device != dev) continue;
    w->instance[m] = runner->instantiate(model_ctx, err, errlen);
    if (!w->instance[m]) {
      for (int k = 0; k < i; k++)
        if (s->workers[k].device == dev && s->workers[k].instance[m]) {
          runner->release(s->workers[k].instance[m]);
          s->workers[k].instance[m] = NULL;
        }
      return VG_EINVAL;
    }
  }
  d->runner[m] = runner;
  d->ctx[m] = model_ctx;
  return 0;
}

/* True when device d should leave a job of model m to another capable device
 * that has a free worker and a lower load (running / capacity). */
static int better_device_exists(const vg_infer_server_t *s, int d, int m) {
  const device_t *me = &s->devices[d];
  for (int i = 0; i < s->n_devices; i++) {
    const device_t *o = &s->devices[i];
    if (i == d || !o->runner[m] || o->running >= o->capacity) continue;
    if ((double)o->running / o->capacity < (double)me->running / me->capacity) return 1;
  }
  return 0;
}

/* Takes the next job for a worker of device d: the camera served longest
 * ago (round-robin among cameras that have work, new cameras first), within a
 * camera the models in order. Called with the lock held. */
static pending_t *pick(vg_infer_server_t *s, int d) {
  device_t *dev = &s->devices[d];
  if (dev->running >= dev->capacity) return NULL;
  int best_c = -1, best_m = -1;
  for (int ci = 0; ci < s->n_cameras; ci++) {
    camera_t *c = &s->cameras[ci];
    if (best_c >= 0 && c->last_served >= s->cameras[best_c].last_served) continue;
    for (int m = 0; m < s->n_models; m++)
      if (c->slot[m] && dev->runner[m] && !better_device_exists(s, d, m)) {
        best_c = ci;
        best_m = m;
        break;
      }
  }
  if (best_c < 0) return NULL;
  camera_t *c = &s->cameras[best_c];
  pending_t *p = c->slot[best_m];
  c->slot[best_m] = NULL;
  c->last_served = ++s->served;
  s->waiting--;
  return p;
}

static void finish(pending_t *p, const vg_infer_result_t *res) {
  if (p->req.done) p->req.done(p->req.opaque, res);
  vg_image_free(&p->req.image);
  free(p);
}

static void cancel(vg_infer_server_t *s, pending_t *p) {
  vg_infer_result_t r = {.status = VG_ECANCELED,
                         .camera = p->req.camera,
                         .frame = p->req.frame,
                         .model = s->models[p->model].name};
  finish(p, &r);
}

static void run_job(worker_t *w, pending_t *p, double picked) {
  vg_infer_server_t *s = w->s;
  device_t *dev = &s->devices[w->device];
  vg_detection_t dets[MAX_DETS];
  vg_image_t view = p->req.image;
  int rx = 0, ry = 0;
  if (p->req.rw > 0 && p->req.rh > 0) {
    /* A region is a view into the frame: no copy. */
    rx = p->req.rx < 0 ? 0 : p->req.rx;
    ry = p->req.ry < 0 ? 0 : p->req.ry;
    if (rx >= view.width) rx = view.width - 1;
    if (ry >= view.height) ry = view.height - 1;
    view.width = rx + p->req.rw > view.width ? view.width - rx : p->req.rw;
    view.height = ry + p->req.rh > view.height ? view.height - ry : p->req.rh;
    view.rgb = p->req.image.rgb + (size_t)ry * (size_t)view.stride + (size_t)rx * 3;
  }
  double t0 = now_s();
  int n = view.rgb && view.width > 0 && view.height > 0
              ? dev->runner[p->model]->detect(w->instance[p->model], &view, dets, MAX_DETS)
              : VG_EINVAL;
  double t1 = now_s();
  for (int i = 0; i < n; i++) {
    dets[i].x1 += (float)rx, dets[i].x2 += (float)rx;
    dets[i].y1 += (float)ry, dets[i].y2 += (float)ry;
  }
  vg_infer_result_t r = {.status = n < 0 ? n : 0,
                         .camera = p->req.camera,
                         .frame = p->req.frame,
                         .model = s->models[p->model].name,
                         .dets = dets,
                         .n_dets = n < 0 ? 0 : n,
                         .queue_ms = (picked - p->submitted) * 1e3,
                         .run_ms = (t1 - t0) * 1e3,
                         .device = dev->name};
  int model = p->model;
  double latency = t1 - p->submitted;
  /* Account first, so a callback that reads the metrics sees its own job. */
  pthread_mutex_lock(&s->mu);
  model_t *mm = &s->models[model];
  if (n < 0) {
    mm->failed++;
  } else {
    mm->completed++;
    int b = 0;
    while (b < N_BUCKETS && latency > bucket_s[b])
      b++;
    mm->hist[b]++;
    mm->latency_sum_s += latency;
    mm->run_sum_s += t1 - t0;
  }
  dev->running--;
  /* A load change may let another device's worker take a job. */
  pthread_cond_broadcast(&s->wake);
  pthread_mutex_unlock(&s->mu);
  finish(p, &r);
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  vg_infer_server_t *s = w->s;
  pthread_mutex_lock(&s->mu);
  while (!s->stopping) {
    pending_t *p = pick(s, w->device);
    if (!p) {
      pthread_cond_wait(&s->wake, &s->mu);
      continue;
    }
    s->devices[w->device].running++;
    /* Workers that left a job to this device re-evaluate with its new load. */
    if (s->waiting > 0) pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->mu);
    run_job(w, p, now_s());
    pthread_mutex_lock(&s->mu);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

int vg_infer_server_start(vg_infer_server_t *s) {
  if (s->started || s->n_workers == 0) return VG_EINVAL;
  s->started = 1;
  for (int i = 0; i < s->n_workers; i++)
    if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) != 0) {
      pthread_mutex_lock(&s->mu);
      s->stopping = 1;
      pthread_cond_broadcast(&s->wake);
      pthread_mutex_unlock(&s->mu);
      for (int k = 0; k < i; k++)
        pthread_join(s->workers[k].thread, NULL);
      s->n_workers = i; /* only these had threads; instances are released in destroy */
      s->started = 0;
      return VG_ENOMEM;
    }
  return 0;
}

int vg_infer_server_submit(vg_infer_server_t *s, vg_infer_request_t *req) {
  pending_t *p = malloc(sizeof(*p));
  if (!p) {
    vg_image_free(&req->image);
    return VG_ENOMEM;
  }
  p->req = *req;
  memset(&req->image, 0, sizeof(req->image));
  p->submitted = now_s();
  pthread_mutex_lock(&s->mu);
  int err = 0;
  int m = req->model ? find_model(s, req->model) : -1;
  if (m < 0)
    err = VG_ENOENT;
  else if (!s->started || s->stopping)
    err = VG_ESTATE;
  int ci = -1;
  for (int i = 0; !err && i < s->n_cameras && ci < 0; i++)
    if (s->cameras[i].id == req->camera) ci = i;
  if (!err && ci < 0) {
    if (s->n_cameras >= MAX_CAMERAS) {
      err = VG_ETOOBIG;
    } else {
      if (s->n_cameras == s->cap_cameras) {
        int cap = s->cap_cameras ? s->cap_cameras * 2 : 16;
        camera_t *c = realloc(s->cameras, sizeof(*c) * (size_t)cap);
        if (!c)
          err = VG_ENOMEM;
        else
          s->cameras = c, s->cap_cameras = cap;
      }
      if (!err) {
        ci = s->n_cameras++;
        memset(&s->cameras[ci], 0, sizeof(camera_t));
        s->cameras[ci].id = req->camera;
      }
    }
  }
  pending_t *stale = NULL;
  if (!err) {
    p->model = m;
    s->models[m].requests++;
    stale = s->cameras[ci].slot[m];
    if (stale)
      s->models[m].dropped++;
    else
      s->waiting++;
    s->cameras[ci].slot[m] = p;
    pthread_cond_broadcast(&s->wake);
  }
  pthread_mutex_unlock(&s->mu);
  if (err) {
    vg_image_free(&p->req.image);
    free(p);
    return err;
  }
  if (stale) cancel(s, stale);
  return 0;
}

int vg_infer_server_metrics(vg_infer_server_t *s, char *buf, size_t len) {
  if (!len) return VG_EINVAL;
  size_t off = 0;
#define OUT(...)                                                                                             \
  do {                                                                                                       \
    int k_ = snprintf(buf + off, len - off, __VA_ARGS__);                                                    \
    if (k_ > 0) off = off + (size_t)k_ >= len ? len - 1 : off + (size_t)k_;                                  \
  } while (0)
  pthread_mutex_lock(&s->mu);
  static const char *const counters[][2] = {{"requests", "detection requests received"},
                                            {"completed", "detections completed"},
                                            {"failed", "detections that failed"},
                                            {"dropped", "requests replaced by a newer frame before running"}};
  for (int c = 0; c < 4; c++) {
    OUT("# HELP vigil_infer_%s_total %s\n# TYPE vigil_infer_%s_total counter\n", counters[c][0],
        counters[c][1], counters[c][0]);
    for (int m = 0; m < s->n_models; m++) {
      model_t *mm = &s->models[m];
      uint64_t v = c == 0 ? mm->requests : c == 1 ? mm->completed : c == 2 ? mm->failed : mm->dropped;
      OUT("vigil_infer_%s_total{model=\"%s\"} %llu\n", counters[c][0], mm->name, (unsigned long long)v);
    }
  }
  OUT("# HELP vigil_infer_latency_seconds submit to result, per model\n"
      "# TYPE vigil_infer_latency_seconds histogram\n");
  for (int m = 0; m < s->n_models; m++) {
    model_t *mm = &s->models[m];
    uint64_t cum = 0;
    for (int b = 0; b <= N_BUCKETS; b++) {
      cum += mm->hist[b];
      if (b < N_BUCKETS)
        OUT("vigil_infer_latency_seconds_bucket{model=\"%s\",le=\"%g\"} %llu\n", mm->name, bucket_s[b],
            (unsigned long long)cum);
      else
        OUT("vigil_infer_latency_seconds_bucket{model=\"%s\",le=\"+Inf\"} %llu\n", mm->name,
            (unsigned long long)cum);
    }
    OUT("vigil_infer_latency_seconds_sum{model=\"%s\"} %.6f\n", mm->name, mm->latency_sum_s);
    OUT("vigil_infer_latency_seconds_count{model=\"%s\"} %llu\n", mm->name,
        (unsigned long long)mm->completed);
  }
  OUT("# HELP vigil_infer_run_seconds_total time spent running models\n"
      "# TYPE vigil_infer_run_seconds_total counter\n");
  for (int m = 0; m < s->n_models; m++)
    OUT("vigil_infer_run_seconds_total{model=\"%s\"} %.6f\n", s->models[m].name, s->models[m].run_sum_s);
  OUT("# TYPE vigil_infer_device_running gauge\n");
  for (int d = 0; d < s->n_devices; d++)
    OUT("vigil_infer_device_running{device=\"%s\",capacity=\"%d\"} %d\n", s->devices[d].name,
        s->devices[d].capacity, s->devices[d].running);
  OUT("# TYPE vigil_infer_waiting gauge\nvigil_infer_waiting %d\n", s->waiting);
  pthread_mutex_unlock(&s->mu);
#undef OUT
  return (int)off;
}

void vg_infer_server_destroy(vg_infer_server_t **sp) {
  vg_infer_server_t *s = *sp;
  if (!s) return;
  pthread_mutex_lock(&s->mu);
  s->stopping = 1;
  pthread_cond_broadcast(&s->wake);
  pthread_mutex_unlock(&s->mu);
  if (s->started)
    for (int i = 0; i < s->n_workers; i++)
      pthread_join(s->workers[i].thread, NULL);
  for (int c = 0; c < s->n_cameras; c++)
    for (int m = 0; m < s->n_models; m++)
      if (s->cameras[c].slot[m]) cancel(s, s->cameras[c].slot[m]);
  for (int i = 0; i < MAX_WORKERS; i++) {
    worker_t *w = &s->workers[i];
    if (!w->s) continue;
    for (int m = 0; m < s->n_models; m++)
      if (w->instance[m]) s->devices[w->device].runner[m]->release(w->instance[m]);
  }
  free(s->cameras);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->wake);
  free(s);
  *sp = NULL;
}

/* ---- the CPU runner: vigil's detectors ------------------------------------------ */

static void *cpu_instantiate(void *ctx, char *err, size_t errlen) {
  const vg_infer_cpu_model_t *m = ctx;
  vg_detector_t *d = calloc(1, sizeof(*d));
  if (!d) return NULL;
  vg_model_opts_t opts = {.backend = VG_BACKEND_CPU,
                          .threads = m->threads_per_instance > 0 ? m->threads_per_instance : 1,
                          .precision = (vg_precision_t)m->precision};
  if (vg_detector_open(d, m->name_or_path, m->models_dir, &opts, err, errlen)) {
    free(d);
    return NULL;
  }
  return d;
}

static int cpu_detect(void *inst, const vg_image_t *img, vg_detection_t *dets, int max) {
  vg_detector_t *d = inst;
  int err = vg_detector_preprocess(d, img);
  if (!err) err = vg_detector_run(d);
  return err ? err : vg_detector_decode(d, img->width, img->height, dets, max);
}

static void cpu_release(void *inst) {
  vg_detector_close(inst);
  free(inst);
}

const vg_infer_runner_t vg_infer_cpu_runner = {cpu_instantiate, cpu_detect, cpu_release};
