/* tamper.c: see tamper.h. */
#include "vision/tamper.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/* At most this many Laplacian samples per frame: enough for a stable
 * variance, cheap on any resolution. */
#define SHARPNESS_SAMPLES 40000

typedef struct {
  bool raised;
  bool pending;
  int64_t pending_since_us;
  int64_t clear_since_us; /* 0: not clearing */
} condition_t;

struct vg_tamper {
  vg_tamper_config_t cfg;
  int src_w, src_h, ww, wh;
  int *x0, *y0;     /* grid boundaries in source pixels */
  float *grid;      /* the downscaled frame */
  float *signature; /* its edge magnitudes */
  float *reference; /* the slowly learned signature */
  int frames;
  int64_t start_us, last_us;
  float baseline_sharpness;
  condition_t cond[VG_TAMPER_KINDS];
};

void vg_tamper_config_default(vg_tamper_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->enabled = true;
  cfg->work_width = 96;
  cfg->covered_stddev = 6;
  cfg->defocus_ratio = 0.3f;
  cfg->moved_threshold = 0.5f;
  cfg->learn_s = 60;
  cfg->warmup_s = 3;
  cfg->persist_s = 5;
  cfg->clear_s = 3;
  cfg->relearn_s = 0;
}

static bool config_valid(const vg_tamper_config_t *c) {
  return c->work_width >= 32 && c->work_width <= 320 && c->covered_stddev >= 0 && c->defocus_ratio >= 0 &&
         c->defocus_ratio <= 1 && c->moved_threshold >= 0 && c->learn_s > 0 && c->warmup_s >= 0 &&
         c->persist_s >= 0 && c->clear_s >= 0 && c->relearn_s >= 0;
}

int vg_tamper_create(const vg_tamper_config_t *cfg, vg_tamper_t **out) {
  if (!cfg || !out || !config_valid(cfg)) return VG_EINVAL;
  vg_tamper_t *t = calloc(1, sizeof(*t));
  if (!t) return VG_ENOMEM;
  t->cfg = *cfg;
  *out = t;
  return 0;
}

static void free_buffers(vg_tamper_t *t) {
  free(t->x0);
  free(t->y0);
  free(t->grid);
  free(t->signature);
  free(t->reference);
  t->x0 = t->y0 = NULL;
  t->grid = t->signature = t->reference = NULL;
  t->src_w = t->src_h = 0;
}

void vg_tamper_destroy(vg_tamper_t **t) {
  if (!t || !*t) return;
  free_buffers(*t);
  free(*t);
  *t = NULL;
}

void vg_tamper_reset(vg_tamper_t *t) {
  t->frames = 0;
  t->baseline_sharpness = 0;
  memset(t->cond, 0, sizeof(t->cond));
}

static int alloc_buffers(vg_tamper_t *t, int width, int height) {
  free_buffers(t);
  int ww = t->cfg.work_width < width ? t->cfg.work_width : width;
  int wh = (int)(((int64_t)height * ww + width / 2) / width);
  if (wh < 8) wh = 8;
  size_t cells = (size_t)ww * (size_t)wh;
  t->x0 = malloc(sizeof(int) * (size_t)(ww + 1));
  t->y0 = malloc(sizeof(int) * (size_t)(wh + 1));
  t->grid = malloc(sizeof(float) * cells);
  t->signature = malloc(sizeof(float) * cells);
  t->reference = malloc(sizeof(float) * cells);
  if (!t->x0 || !t->y0 || !t->grid || !t->signature || !t->reference) {
    free_buffers(t);
    return VG_ENOMEM;
  }
  for (int x = 0; x <= ww; x++)
    t->x0[x] = (int)((int64_t)x * width / ww);
  for (int y = 0; y <= wh; y++)
    t->y0[y] = (int)((int64_t)y * height / wh);
  t->ww = ww;
  t->wh = wh;
  t->src_w = width;
  t->src_h = height;
  vg_tamper_reset(t);
  return 0;
}

static void downscale(vg_tamper_t *t, const uint8_t *luma, int stride) {
  for (int y = 0; y < t->wh; y++)
    for (int x = 0; x < t->ww; x++) {
      uint32_t sum = 0;
      for (int sy = t->y0[y]; sy < t->y0[y + 1]; sy++)
        for (int sx = t->x0[x]; sx < t->x0[x + 1]; sx++)
          sum += luma[(size_t)sy * stride + sx];
      t->grid[y * t->ww + x] = (float)sum / (float)((t->y0[y + 1] - t->y0[y]) * (t->x0[x + 1] - t->x0[x]));
    }
}

static void grid_stats(const vg_tamper_t *t, float *mean, float *stddev) {
  int n = t->ww * t->wh;
  double s = 0, s2 = 0;
  for (int i = 0; i < n; i++) {
    s += t->grid[i];
    s2 += (double)t->grid[i] * t->grid[i];
  }
  double m = s / n, v = s2 / n - m * m;
  *mean = (float)m;
  *stddev = (float)sqrt(v > 0 ? v : 0);
}

/* Fine detail: the variance of the 4-neighbour Laplacian of the frame at
 * half resolution (2x2 averages halve the sensor noise, and a defocus blur
 * of a few source pixels still flattens it), sampled on a sparse lattice. */
static float laplacian_variance(const uint8_t *luma, int width, int height, int stride) {
  int hw = width / 2, hh = height / 2;
  if (hw < 3 || hh < 3) return 0;
  int step = 1;
  while ((int64_t)((hw - 2) / step) * ((hh - 2) / step) > SHARPNESS_SAMPLES)
    step++;
#define HALF(x, y)                                                                                           \
  ((int)luma[(size_t)(2 * (y)) * stride + 2 * (x)] + luma[(size_t)(2 * (y)) * stride + 2 * (x) + 1] +        \
   luma[(size_t)(2 * (y) + 1) * stride + 2 * (x)] + luma[(size_t)(2 * (y) + 1) * stride + 2 * (x) + 1])
  double s = 0, s2 = 0;
  int64_t n = 0;
  for (int y = 1; y < hh - 1; y += step)
    for (int x = 1; x < hw - 1; x += step) {
      double l = (4.0 * HALF(x, y) - HALF(x - 1, y) - HALF(x + 1, y) - HALF(x, y - 1) - HALF(x, y + 1)) / 4.0;
      s += l;
      s2 += l * l;
      n++;
    }
#undef HALF
  double m = s / (double)n, v = s2 / (double)n - m * m;
  return (float)(v > 0 ? v : 0);
}

/* Edge magnitudes of the grid: they survive lighting changes, and a moved
 * camera shifts them. */
static void edge_signature(vg_tamper_t *t) {
  for (int y = 0; y < t->wh; y++)
    for (int x = 0; x < t->ww; x++) {
      int xl = x > 0 ? x - 1 : x, xr = x < t->ww - 1 ? x + 1 : x;
      int yu = y > 0 ? y - 1 : y, yd = y < t->wh - 1 ? y + 1 : y;
      float gx = t->grid[y * t->ww + xr] - t->grid[y * t->ww + xl];
      float gy = t->grid[yd * t->ww + x] - t->grid[yu * t->ww + x];
      t->signature[y * t->ww + x] = fabsf(gx) + fabsf(gy);
    }
}

/* Pearson correlation of the signature with the reference; 1 when either
 * is flat (nothing to compare: the covered test covers that). */
static float correlation(const vg_tamper_t *t) {
  int n = t->ww * t->wh;
  double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  for (int i = 0; i < n; i++) {
    double a = t->signature[i], b = t->reference[i];
    sa += a;
    sb += b;
    saa += a * a;
    sbb += b * b;
    sab += a * b;
  }
  double va = saa - sa * sa / n, vb = sbb - sb * sb / n, cov = sab - sa * sb / n;
  if (va <= 1e-6 || vb <= 1e-6) return 1;
  return (float)(cov / sqrt(va * vb));
}

static void push_event(vg_tamper_result_t *out, vg_tamper_kind_t kind, bool raised, int64_t ts_us) {
  vg_tamper_event_t *e = &out->events[out->n_events++];
  e->kind = kind;
  e->raised = raised;
  e->ts_us = ts_us;
}

static void step_condition(vg_tamper_t *t, vg_tamper_kind_t kind, bool now, int64_t ts_us,
                           vg_tamper_result_t *out) {
  condition_t *c = &t->cond[kind];
  int64_t persist = (int64_t)(t->cfg.persist_s * 1e6f), clear = (int64_t)(t->cfg.clear_s * 1e6f);
  if (now) {
    c->clear_since_us = 0;
    if (!c->pending) {
      c->pending = true;
      c->pending_since_us = ts_us;
    }
    if (!c->raised && ts_us - c->pending_since_us >= persist) {
      c->raised = true;
      push_event(out, kind, true, ts_us);
    }
  } else {
    c->pending = false;
    if (c->raised) {
      if (c->clear_since_us == 0) c->clear_since_us = ts_us;
      if (ts_us - c->clear_since_us >= clear) {
        c->raised = false;
        c->clear_since_us = 0;
        push_event(out, kind, false, ts_us);
      }
    }
  }
}

static void learn(vg_tamper_t *t, float sharpness, float alpha) {
  int n = t->ww * t->wh;
  t->baseline_sharpness += alpha * (sharpness - t->baseline_sharpness);
  for (int i = 0; i < n; i++)
    t->reference[i] += alpha * (t->signature[i] - t->reference[i]);
}

int vg_tamper_process(vg_tamper_t *t, const uint8_t *luma, int width, int height, int stride, int64_t ts_us,
                      vg_tamper_result_t *out) {
  if (!t || !luma || !out || width < 16 || height < 16 || stride < width) return VG_EINVAL;
  memset(out, 0, sizeof(*out));
  if (!t->cfg.enabled) return 0;
  if (width != t->src_w || height != t->src_h) {
    int r = alloc_buffers(t, width, height);
    if (r) return r;
  }
  downscale(t, luma, stride);
  edge_signature(t);
  float mean, stddev;
  grid_stats(t, &mean, &stddev);
  /* Sharpness relative to the scene's coarse contrast, so that dusk or a
   * dimmer light does not look like a blur. */
  float sharpness = laplacian_variance(luma, width, height, stride) / (stddev * stddev + 1);
  out->stddev = stddev;
  out->sharpness = sharpness;

  if (t->frames++ == 0) {
    t->start_us = ts_us;
    t->baseline_sharpness = sharpness;
    memcpy(t->reference, t->signature, sizeof(float) * (size_t)(t->ww * t->wh));
  }
  float dt = t->frames > 1 ? (float)(ts_us - t->last_us) / 1e6f : 0;
  if (dt < 0) dt = 0;
  t->last_us = ts_us;
  float corr = correlation(t);
  out->correlation = corr;
  if ((float)(ts_us - t->start_us) < t->cfg.warmup_s * 1e6f) {
    /* Warming up: a plain average of the frames so far. */
    learn(t, sharpness, 1.0f / (float)t->frames);
    out->warming_up = true;
    out->baseline_sharpness = t->baseline_sharpness;
    return 0;
  }

  /* A covered view has neither detail nor edges: the other two tests
   * would only echo it. A blur lowers the edges too: moved waits. */
  bool covered = stddev < t->cfg.covered_stddev;
  bool defocused = !covered && sharpness < t->cfg.defocus_ratio * t->baseline_sharpness;
  bool moved = !covered && !defocused && 1 - corr > t->cfg.moved_threshold;
  step_condition(t, VG_TAMPER_COVERED, covered, ts_us, out);
  step_condition(t, VG_TAMPER_DEFOCUSED, defocused, ts_us, out);
  step_condition(t, VG_TAMPER_MOVED, moved, ts_us, out);

  /* A change that lasts relearn_s is the new normal. */
  int64_t relearn = (int64_t)(t->cfg.relearn_s * 1e6f);
  bool relearned = false;
  for (int k = VG_TAMPER_DEFOCUSED; k <= VG_TAMPER_MOVED && relearn > 0; k++) {
    condition_t *c = &t->cond[k];
    if (c->raised && c->pending && ts_us - c->pending_since_us >= relearn) {
      memset(c, 0, sizeof(*c));
      push_event(out, (vg_tamper_kind_t)k, false, ts_us);
      relearned = true;
    }
  }
  if (relearned) {
    t->baseline_sharpness = sharpness;
    memcpy(t->reference, t->signature, sizeof(float) * (size_t)(t->ww * t->wh));
  }

  bool quiet = true;
  for (int k = 0; k < VG_TAMPER_KINDS; k++)
    quiet = quiet && !t->cond[k].raised && !t->cond[k].pending;
  if (quiet && !relearned) {
    float alpha = dt / t->cfg.learn_s;
    learn(t, sharpness, alpha > 1 ? 1 : alpha);
  }
  for (int k = 0; k < VG_TAMPER_KINDS; k++)
    out->state[k] = t->cond[k].raised;
  out->baseline_sharpness = t->baseline_sharpness;
  return 0;
}

const char *vg_tamper_kind_name(vg_tamper_kind_t kind) {
  switch (kind) {
  case VG_TAMPER_COVERED: return "covered";
  case VG_TAMPER_DEFOCUSED: return "defocused";
  case VG_TAMPER_MOVED: return "moved";
  default: return "?";
  }
}
