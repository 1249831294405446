/*
 * filter.h: object classes as sets, and the per-class detection filter the
 * analytics pipeline applies to detector output before tracking (minimum
 * score, minimum and maximum area, aspect ratio).
 *
 * Classes are the detector's COCO indices (infer/detect.h, 0..79) and are
 * named in configuration by vg_coco_label() ("person", "car", ...).
 * Areas are fractions of the frame area so that one configuration fits the
 * main stream and the substream. No allocation; any thread.
 */
#ifndef VG_VISION_FILTER_H
#define VG_VISION_FILTER_H

#include <stdbool.h>
#include <stdint.h>

#include "infer/detect.h"

#define VG_CLASS_MAX 128

/* A set of classes. The empty set means "every class" wherever a set
 * restricts what a sensor or rule looks at. */
typedef struct {
  uint64_t bits[VG_CLASS_MAX / 64];
} vg_class_set_t;

void vg_class_set_add(vg_class_set_t *s, int label);
bool vg_class_set_empty(const vg_class_set_t *s);
/* True when label is in s, or s is empty. */
bool vg_class_set_allows(const vg_class_set_t *s, int label);
/* The COCO index of a class name, or VG_ENOTFOUND. */
int vg_class_from_name(const char *name);

/* Limits for one class (or for all classes, as the default). */
typedef struct {
  float min_score;              /* 0..1; detections scoring less are dropped */
  float min_area, max_area;     /* fractions of the frame area; max 1 = no limit */
  float min_aspect, max_aspect; /* width / height; 0 and 0 = no limit */
} vg_class_limits_t;

#define VG_FILTER_MAX_CLASSES 16

typedef struct {
  vg_class_set_t classes;     /* classes kept at all (empty = every class) */
  vg_class_limits_t defaults; /* for classes without their own entry */
  int n;                      /* per-class entries in label[] / limits[] */
  int label[VG_FILTER_MAX_CLASSES];
  vg_class_limits_t limits[VG_FILTER_MAX_CLASSES];
} vg_detection_filter_t;

/* Defaults: every class, min_score 0.4, areas 0..1, no aspect limit. */
void vg_detection_filter_default(vg_detection_filter_t *f);
/* The limits that apply to label. */
const vg_class_limits_t *vg_detection_filter_limits(const vg_detection_filter_t *f, int label);
/* True when det (pixels of a frame_w x frame_h frame) passes. */
bool vg_detection_filter_pass(const vg_detection_filter_t *f, const vg_detection_t *det, int frame_w,
                              int frame_h);
/* Removes, in place and keeping order, the detections that fail; returns
 * how many remain. */
int vg_detection_filter_apply(const vg_detection_filter_t *f, vg_detection_t *dets, int n, int frame_w,
                              int frame_h);

#endif
