/*
 * server.h: the inference server: detection requests from many cameras,
 * scheduled over a pool of worker threads on devices.
 *
 *  - A request names a camera, a frame (its RGB image, whose ownership
 *    passes to the server), an optional region of it, and a model.
 *  - Bounded queue, newest wins: each (camera, model) pair holds at most one
 *    waiting request. A newer frame replaces the waiting one, whose callback
 *    is called with VG_ECANCELED; such drops are counted per model.
 *  - Fairness: waiting cameras are served round-robin, so a camera sending
 *    30 fps cannot starve one sending 1 fps.
 *  - Devices: each has a kind, a capacity (concurrent jobs = its workers)
 *    and the models it can run. A job goes to the least-loaded capable device
 *    (running / capacity). The CPU device exists now; GPU and NPU devices
 *    slot in by registering their own model runners.
 *  - Several models at once; each device worker has its own instance of each
 *    model it runs (a vg_model_t runs one inference at a time).
 *  - Metrics per model: requests, completed, failed, dropped, a latency
 *    histogram (queue wait + run) and the run time, as Prometheus text.
 *
 * Batching is not done: both models take batch 1 and on CPU one image per
 * thread keeps every core busy without it; a GPU device would batch inside
 * its runner.
 *
 * Threads: any thread may submit; result callbacks run on a worker thread and
 * must not block for long. vg_infer_server_stop() waits for running jobs and
 * cancels waiting ones (callback with VG_ECANCELED).
 */
#ifndef VG_INFER_SERVER_H
#define VG_INFER_SERVER_H

#include <stdint.h>

#include "infer/detect.h"

typedef struct vg_infer_server vg_infer_server_t;

/* What a device needs to run a model: make one instance per worker, run it
 * on an image (giving detections in that image's pixels), free it. */
typedef struct {
  void *(*instantiate)(void *model_ctx, char *err, size_t errlen);
  int (*detect)(void *instance, const vg_image_t *img, vg_detection_t *dets, int max);
  void (*release)(void *instance);
} vg_infer_runner_t;

/* The runner for vigil's own detectors on the CPU: model_ctx is a
 * vg_infer_cpu_model_t naming the model (nanodet, centernet or a path). */
extern const vg_infer_runner_t vg_infer_cpu_runner;
typedef struct {
  const char *name_or_path;
  const char *models_dir;
  int threads_per_instance; /* kernel threads inside one inference */
  int precision;            /* vg_precision_t (model.h): f32 or int8 */
} vg_infer_cpu_model_t;

typedef struct {
  int status; /* 0, VG_ECANCELED (replaced by a newer frame, or stopping), or an error */
  uint32_t camera;
  uint64_t frame;
  const char *model;
  const vg_detection_t *dets; /* in full-frame pixels, also for a region */
  int n_dets;
  double queue_ms, run_ms;
  const char *device;
} vg_infer_result_t;

typedef void (*vg_infer_done_fn)(void *opaque, const vg_infer_result_t *res);

typedef struct {
  uint32_t camera;
  uint64_t frame;
  const char *model;
  vg_image_t image;   /* owned by the server once submitted, whatever happens */
  int rx, ry, rw, rh; /* region of interest; rw == 0: the whole frame */
  vg_infer_done_fn done;
  void *opaque;
} vg_infer_request_t;

int vg_infer_server_create(vg_infer_server_t **out);
/* Adds a device with `workers` worker threads; returns its index. */
int vg_infer_server_add_device(vg_infer_server_t *s, const char *name, int workers);
/* Makes model `name` runnable on device `dev` with runner and its context
 * (which must outlive the server). Instances are made now, one per worker:
 * failures (a missing model file) are reported here, with err. */
int vg_infer_server_add_model(vg_infer_server_t *s, int dev, const char *name,
                              const vg_infer_runner_t *runner, void *model_ctx, char *err, size_t errlen);
/* Starts the workers. */
int vg_infer_server_start(vg_infer_server_t *s);
/* Queues a request. On error (unknown model, stopped server) the image is
 * freed, the callback is not called and the error is returned. */
int vg_infer_server_submit(vg_infer_server_t *s, vg_infer_request_t *req);
/* Writes Prometheus text metrics into buf; returns the length (truncated
 * to len - 1) or a negative error. */
int vg_infer_server_metrics(vg_infer_server_t *s, char *buf, size_t len);
/* Stops the workers (see above) and frees everything. */
void vg_infer_server_destroy(vg_infer_server_t **s);

#endif
