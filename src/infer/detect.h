/*
 * detect.h: object detection on top of the runtime: image loading, the
 * preprocessing each model expects, and its post-processing into boxes in
 * source-image pixels with COCO labels and scores.
 *
 * Known models (vg_detector_open by name or by path):
 *  - nanodet:   NanoDet-m, input 1x3x416x416 NCHW; per stride 8/16/32 it
 *               gives 80 class scores (after sigmoid) and 4x11 distribution
 *               bins per anchor; decoded by softmax expectation, then
 *               class-wise NMS.
 *  - centernet: MobileNetV3 CenterNet, input 1x512x512x3 NHWC; a 128x128
 *               heatmap of 80 classes (peaks = 3x3 local maxima) and a
 *               per-cell box (distances to the four sides, in input pixels).
 *
 * A detector owns its model; like the model, it runs one image at a time.
 * It has no input buffer of its own: preprocessing writes straight into the
 * model's input buffer in its arena (vg_model_input_buffer), which a run
 * consumes, so every run needs its input written again (preprocess, or
 * vg_detector_input and a caller's own values); vg_detector_run refuses to
 * run on a consumed input.
 */
#ifndef VG_INFER_DETECT_H
#define VG_INFER_DETECT_H

#include <stddef.h>
#include <stdint.h>

#include "infer/model.h"

/* An 8-bit RGB image, rows of stride bytes. */
typedef struct {
  int width, height, stride;
  uint8_t *rgb;
} vg_image_t;

/* Decodes a still image (JPEG, PNG, ...) or frame number `frame` of a video
 * with libavformat/libavcodec. */
int vg_image_load(vg_image_t *img, const char *path, int frame);
void vg_image_free(vg_image_t *img);

typedef enum { VG_DET_NANODET = 0, VG_DET_CENTERNET } vg_det_kind_t;

/* How pixels become the input tensor; measured in docs/INFERENCE.md. */
typedef enum {
  VG_PRE_RGB_UNIT = 0, /* RGB / 255 */
  VG_PRE_BGR_MEANSTD,  /* (BGR - mean) / std, NanoDet's training normalization */
  VG_PRE_RGB_BYTE,     /* RGB 0..255 as floats */
  VG_PRE_BGR_BYTE,     /* BGR 0..255 as floats */
} vg_preprocess_t;

typedef struct {
  float x1, y1, x2, y2; /* source-image pixels */
  float score;
  int label; /* COCO class index, 0..79 */
} vg_detection_t;

typedef struct {
  vg_det_kind_t kind;
  vg_model_t *model;
  vg_preprocess_t pre;
  int in_w, in_h;
  float score_threshold, iou_threshold;
  int max_detections;
  /* The model's input buffer (a view into its arena, not owned): the
   * input's shape, and data valid from preprocessing to the next run. */
  vg_tensor_t input;
  int input_ready; /* written since the last run */
} vg_detector_t;

/* Opens "nanodet" or "centernet" (looked up as models/<name>.json under
 * models_dir), or a model.json path whose file name starts with either. */
int vg_detector_open(vg_detector_t *d, const char *name_or_path, const char *models_dir,
                     const vg_model_opts_t *opts, char *err, size_t errlen);
void vg_detector_close(vg_detector_t *d);
/* Fills d->input from img: bilinear resize to the model's input (the way
 * tf.image.resizeBilinear does, no letterbox) and normalization. */
int vg_detector_preprocess(vg_detector_t *d, const vg_image_t *img);
/* The input buffer (d->input's data, vg_tensor_bytes(&d->input) bytes),
 * for a caller that writes the input tensor itself; counts as written. */
float *vg_detector_input(vg_detector_t *d);
/* Runs the model on the input written since the last run, and consumes it
 * (the next run needs it written again). VG_ESTATE when none was. */
int vg_detector_run(vg_detector_t *d);
/* Decodes the last run's outputs into at most max detections, best first,
 * in the pixels of an image of src_w x src_h. Returns the count. */
int vg_detector_decode(vg_detector_t *d, int src_w, int src_h, vg_detection_t *dets, int max);

const char *vg_coco_label(int label);

/* Class-wise non-maximum suppression, in place; returns the kept count. */
int vg_nms(vg_detection_t *dets, int n, float iou_threshold);

#endif
