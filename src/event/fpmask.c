#include "event/fpmask.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

#define MAX_MASKS 4096

typedef struct {
  char camera[64];
  char label[64];
  int64_t updated_us; /* the time the weights are valid at */
  float *w;           /* grid * grid */
} mask_t;

struct vg_fpmask_set {
  int grid;
  double half_life_us;
  mask_t *masks;
  int count, cap;
};

int vg_fpmask_set_new(int grid, int64_t half_life_us, vg_fpmask_set_t **out) {
  if (grid < 2 || grid > 64 || half_life_us <= 0) return VG_EINVAL;
  vg_fpmask_set_t *s = calloc(1, sizeof(*s));
  if (!s) return VG_ENOMEM;
  s->grid = grid;
  s->half_life_us = (double)half_life_us;
  *out = s;
  return 0;
}

void vg_fpmask_set_free(vg_fpmask_set_t **sp) {
  vg_fpmask_set_t *s = *sp;
  if (!s) return;
  *sp = NULL;
  for (int i = 0; i < s->count; i++)
    free(s->masks[i].w);
  free(s->masks);
  free(s);
}

int vg_fpmask_count(const vg_fpmask_set_t *set) { return set->count; }

static mask_t *find(const vg_fpmask_set_t *s, const char *camera, const char *label) {
  for (int i = 0; i < s->count; i++)
    if (strcmp(s->masks[i].camera, camera) == 0 && strcmp(s->masks[i].label, label) == 0) return &s->masks[i];
  return NULL;
}

static double decay(const vg_fpmask_set_t *s, int64_t from_us, int64_t to_us) {
  if (to_us <= from_us) return 1.0;
  return exp2(-(double)(to_us - from_us) / s->half_life_us);
}

static float clamp01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

/* Calls fn for each cell the box touches with the fraction of the cell
 * it covers. */
static void for_cells(int grid, const float box[4], void (*fn)(void *opaque, int cell, double cover),
                      void *opaque) {
  float x1 = clamp01(box[0]), y1 = clamp01(box[1]), x2 = clamp01(box[2]), y2 = clamp01(box[3]);
  int cx1 = (int)(x1 * grid), cy1 = (int)(y1 * grid), cx2 = (int)ceilf(x2 * grid),
      cy2 = (int)ceilf(y2 * grid);
  if (cx2 > grid) cx2 = grid;
  if (cy2 > grid) cy2 = grid;
  double cell = 1.0 / grid;
  for (int cy = cy1; cy < cy2; cy++) {
    double oy = fmin(y2, (cy + 1) * cell) - fmax(y1, cy * cell);
    if (oy <= 0) continue;
    for (int cx = cx1; cx < cx2; cx++) {
      double ox = fmin(x2, (cx + 1) * cell) - fmax(x1, cx * cell);
      if (ox <= 0) continue;
      fn(opaque, cy * grid + cx, ox * oy / (cell * cell));
    }
  }
}

/* A cell at least half covered by the marked box gets a whole mark, one
 * less covered a share: so the marked box itself scores close to 1, and a
 * detection whose box overlaps half of it about half. */
static void add_cell(void *opaque, int cell, double cover) {
  ((float *)opaque)[cell] += (float)(cover >= 0.5 ? 1.0 : 2.0 * cover);
}

int vg_fpmask_add(vg_fpmask_set_t *s, const char *camera, const char *label, const float box[4],
                  int64_t utc_us) {
  if (!(box[2] > box[0] && box[3] > box[1])) return VG_EINVAL;
  mask_t *m = find(s, camera, label);
  if (!m) {
    if (s->count == MAX_MASKS) {
      /* Forget the mask marked longest ago. */
      int oldest = 0;
      for (int i = 1; i < s->count; i++)
        if (s->masks[i].updated_us < s->masks[oldest].updated_us) oldest = i;
      free(s->masks[oldest].w);
      s->masks[oldest] = s->masks[--s->count];
    }
    if (s->count == s->cap) {
      int cap = s->cap ? s->cap * 2 : 8;
      mask_t *n = realloc(s->masks, (size_t)cap * sizeof(*n));
      if (!n) return VG_ENOMEM;
      s->masks = n;
      s->cap = cap;
    }
    m = &s->masks[s->count];
    memset(m, 0, sizeof(*m));
    if (!(m->w = calloc((size_t)s->grid * (size_t)s->grid, sizeof(float)))) return VG_ENOMEM;
    snprintf(m->camera, sizeof(m->camera), "%s", camera);
    snprintf(m->label, sizeof(m->label), "%s", label);
    m->updated_us = utc_us;
    s->count++;
  }
  /* Bring the weights to utc_us, then add the box. A mark older than the
   * mask's time (a replay at start) is added with its own decay instead. */
  if (utc_us > m->updated_us) {
    float k = (float)decay(s, m->updated_us, utc_us);
    for (int i = 0; i < s->grid * s->grid; i++)
      m->w[i] *= k;
    m->updated_us = utc_us;
    for_cells(s->grid, box, add_cell, m->w);
  } else {
    float *tmp = calloc((size_t)s->grid * (size_t)s->grid, sizeof(float));
    if (!tmp) return VG_ENOMEM;
    for_cells(s->grid, box, add_cell, tmp);
    float k = (float)decay(s, utc_us, m->updated_us);
    for (int i = 0; i < s->grid * s->grid; i++)
      m->w[i] += tmp[i] * k;
    free(tmp);
  }
  return 0;
}

typedef struct {
  const float *w;
  double sum, area;
} score_acc_t;

static void score_cell(void *opaque, int cell, double cover) {
  score_acc_t *a = opaque;
  double w = a->w[cell];
  if (w > 1.0) w = 1.0; /* repeated marks make a place certain, not more than certain */
  a->sum += w * cover;
  a->area += cover;
}

float vg_fpmask_score(const vg_fpmask_set_t *s, const char *camera, const char *label, const float box[4],
                      int64_t utc_us) {
  const mask_t *m = find(s, camera, label);
  if (!m || !(box[2] > box[0] && box[3] > box[1])) return 0;
  score_acc_t a = {m->w, 0, 0};
  for_cells(s->grid, box, score_cell, &a);
  if (a.area <= 0) return 0;
  return (float)(a.sum / a.area * decay(s, m->updated_us, utc_us));
}
