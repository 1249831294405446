/* filter.c: see filter.h. */
#include "vision/filter.h"

#include <string.h>

#include "base/error.h"

void vg_class_set_add(vg_class_set_t *s, int label) {
  if (label >= 0 && label < VG_CLASS_MAX) s->bits[label / 64] |= (uint64_t)1 << (label % 64);
}

bool vg_class_set_empty(const vg_class_set_t *s) {
  for (int i = 0; i < VG_CLASS_MAX / 64; i++)
    if (s->bits[i]) return false;
  return true;
}

bool vg_class_set_allows(const vg_class_set_t *s, int label) {
  if (vg_class_set_empty(s)) return true;
  if (label < 0 || label >= VG_CLASS_MAX) return false;
  return (s->bits[label / 64] >> (label % 64)) & 1;
}

int vg_class_from_name(const char *name) {
  for (int i = 0; i < 80; i++) {
    const char *l = vg_coco_label(i);
    if (l && strcmp(l, name) == 0) return i;
  }
  return VG_ENOTFOUND;
}

void vg_detection_filter_default(vg_detection_filter_t *f) {
  memset(f, 0, sizeof(*f));
  f->defaults.min_score = 0.4f;
  f->defaults.min_area = 0;
  f->defaults.max_area = 1;
}

const vg_class_limits_t *vg_detection_filter_limits(const vg_detection_filter_t *f, int label) {
  for (int i = 0; i < f->n; i++)
    if (f->label[i] == label) return &f->limits[i];
  return &f->defaults;
}

bool vg_detection_filter_pass(const vg_detection_filter_t *f, const vg_detection_t *det, int frame_w,
                              int frame_h) {
  if (!vg_class_set_allows(&f->classes, det->label)) return false;
  const vg_class_limits_t *l = vg_detection_filter_limits(f, det->label);
  if (det->score < l->min_score) return false;
  float w = det->x2 - det->x1, h = det->y2 - det->y1;
  if (w <= 0 || h <= 0 || frame_w <= 0 || frame_h <= 0) return false;
  float area = w * h / ((float)frame_w * (float)frame_h);
  if (area < l->min_area || area > l->max_area) return false;
  float aspect = w / h;
  if (l->min_aspect > 0 && aspect < l->min_aspect) return false;
  if (l->max_aspect > 0 && aspect > l->max_aspect) return false;
  return true;
}

int vg_detection_filter_apply(const vg_detection_filter_t *f, vg_detection_t *dets, int n, int frame_w,
                              int frame_h) {
  int kept = 0;
  for (int i = 0; i < n; i++)
    if (vg_detection_filter_pass(f, &dets[i], frame_w, frame_h)) dets[kept++] = dets[i];
  return kept;
}
