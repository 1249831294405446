/* motion.c: see motion.h. */
#include "vision/motion.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

struct vg_motion {
  vg_motion_config_t cfg;
  /* Sized for the current source size; reallocated only when it changes. */
  int src_w, src_h; /* 0 before the first frame */
  int ww, wh;       /* working grid */
  int *x0;          /* ww + 1 source column boundaries */
  int *y0;          /* wh + 1 source row boundaries */
  uint8_t *small;   /* the downscaled, blurred frame */
  uint8_t *tmp;
  uint16_t *bg;    /* background, 8.8 fixed point */
  uint8_t *prev;   /* the previous frame's small picture */
  uint16_t *still; /* consecutive frames a cell was foreground and unchanged */
  uint8_t *fg;     /* foreground after cleaning: 255 moving */
  uint8_t *ignore; /* 1 where a motion mask covers the grid */
  int *queue;      /* flood fill work list */
  int unmasked;    /* grid cells outside every mask */
  int frames;
  bool active;
  int on_run, off_run;
};

void vg_motion_config_default(vg_motion_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->work_width = 256;
  cfg->threshold = 18;
  cfg->learn_rate = 0.04f;
  cfg->min_area = 0.0008f;
  cfg->merge_gap = 0.03f;
  cfg->region_pad = 0.15f;
  cfg->lighting_fraction = 0.55f;
  cfg->on_fraction = 0.002f;
  cfg->off_fraction = 0.001f;
  cfg->on_frames = 2;
  cfg->off_frames = 10;
  cfg->absorb_frames = 25;
}

static bool config_valid(const vg_motion_config_t *c) {
  return c->work_width >= 64 && c->work_width <= 640 && c->threshold >= 1 && c->threshold <= 255 &&
         c->learn_rate >= 0.001f && c->learn_rate <= 1 && c->min_area >= 0 && c->min_area <= 1 &&
         c->merge_gap >= 0 && c->region_pad >= 0 && c->lighting_fraction > 0 && c->lighting_fraction <= 1 &&
         c->on_fraction >= 0 && c->off_fraction >= 0 && c->off_fraction <= c->on_fraction &&
         c->on_frames >= 1 && c->off_frames >= 1 && c->n_masks >= 0 && c->n_masks <= VG_MOTION_MAX_MASKS &&
         c->absorb_frames >= 0 && c->absorb_frames <= 60000;
}

int vg_motion_create(const vg_motion_config_t *cfg, vg_motion_t **out) {
  if (!cfg || !out || !config_valid(cfg)) return VG_EINVAL;
  vg_motion_t *m = calloc(1, sizeof(*m));
  if (!m) return VG_ENOMEM;
  m->cfg = *cfg;
  *out = m;
  return 0;
}

static void free_buffers(vg_motion_t *m) {
  free(m->x0);
  free(m->y0);
  free(m->small);
  free(m->tmp);
  free(m->bg);
  free(m->prev);
  free(m->still);
  free(m->fg);
  free(m->ignore);
  free(m->queue);
  m->x0 = m->y0 = NULL;
  m->small = m->tmp = m->fg = m->ignore = m->prev = NULL;
  m->still = NULL;
  m->bg = NULL;
  m->queue = NULL;
  m->src_w = m->src_h = 0;
}

void vg_motion_destroy(vg_motion_t **m) {
  if (!m || !*m) return;
  free_buffers(*m);
  free(*m);
  *m = NULL;
}

void vg_motion_reset(vg_motion_t *m) {
  m->frames = 0;
  m->active = false;
  m->on_run = m->off_run = 0;
}

static int alloc_buffers(vg_motion_t *m, int width, int height) {
  free_buffers(m);
  int ww = m->cfg.work_width < width ? m->cfg.work_width : width;
  int wh = (int)(((int64_t)height * ww + width / 2) / width);
  if (wh < 4) wh = 4;
  size_t cells = (size_t)ww * (size_t)wh;
  m->x0 = malloc(sizeof(int) * (size_t)(ww + 1));
  m->y0 = malloc(sizeof(int) * (size_t)(wh + 1));
  m->small = malloc(cells);
  m->tmp = malloc(cells);
  m->bg = malloc(cells * sizeof(uint16_t));
  m->prev = malloc(cells);
  m->still = calloc(cells, sizeof(uint16_t));
  m->fg = calloc(cells, 1);
  m->ignore = calloc(cells, 1);
  m->queue = malloc(cells * sizeof(int));
  if (!m->x0 || !m->y0 || !m->small || !m->tmp || !m->bg || !m->prev || !m->still || !m->fg || !m->ignore ||
      !m->queue) {
    free_buffers(m);
    return VG_ENOMEM;
  }
  for (int x = 0; x <= ww; x++)
    m->x0[x] = (int)((int64_t)x * width / ww);
  for (int y = 0; y <= wh; y++)
    m->y0[y] = (int)((int64_t)y * height / wh);
  /* The masks are rasterized once per size, not per frame. */
  for (int i = 0; i < m->cfg.n_masks; i++)
    vg_polygon_rasterize(&m->cfg.masks[i], m->ignore, ww, wh, ww, 1);
  m->unmasked = 0;
  for (size_t i = 0; i < cells; i++)
    m->unmasked += !m->ignore[i];
  m->ww = ww;
  m->wh = wh;
  m->src_w = width;
  m->src_h = height;
  vg_motion_reset(m);
  return 0;
}

/* Box-averages the source into the grid, then a 3x3 box blur: together
 * they take sensor noise far below any useful threshold. */
static void downscale(vg_motion_t *m, const uint8_t *luma, int stride) {
  for (int y = 0; y < m->wh; y++) {
    for (int x = 0; x < m->ww; x++) {
      uint32_t sum = 0;
      int sy0 = m->y0[y], sy1 = m->y0[y + 1], sx0 = m->x0[x], sx1 = m->x0[x + 1];
      for (int sy = sy0; sy < sy1; sy++) {
        const uint8_t *row = luma + (size_t)sy * stride;
        for (int sx = sx0; sx < sx1; sx++)
          sum += row[sx];
      }
      uint32_t n = (uint32_t)((sy1 - sy0) * (sx1 - sx0));
      m->tmp[y * m->ww + x] = (uint8_t)((sum + n / 2) / n);
    }
  }
  for (int y = 0; y < m->wh; y++) {
    for (int x = 0; x < m->ww; x++) {
      int sum = 0, n = 0;
      for (int dy = -1; dy <= 1; dy++) {
        int yy = y + dy;
        if (yy < 0 || yy >= m->wh) continue;
        for (int dx = -1; dx <= 1; dx++) {
          int xx = x + dx;
          if (xx < 0 || xx >= m->ww) continue;
          sum += m->tmp[yy * m->ww + xx];
          n++;
        }
      }
      m->small[y * m->ww + x] = (uint8_t)((sum + n / 2) / n);
    }
  }
}

/* The median of (frame - background) over unmasked cells: a uniform
 * brightness shift that the threshold then no longer sees. */
static int global_shift(const vg_motion_t *m) {
  uint32_t hist[511] = {0};
  int cells = m->ww * m->wh;
  for (int i = 0; i < cells; i++)
    if (!m->ignore[i]) hist[m->small[i] - ((m->bg[i] + 128) >> 8) + 255]++;
  uint32_t half = (uint32_t)m->unmasked / 2, acc = 0;
  for (int v = 0; v < 511; v++) {
    acc += hist[v];
    if (acc > half) return v - 255;
  }
  return 0;
}

/* 3x3 erosion (want = 255: a cell stays set only if all its neighbours
 * are) or dilation (want = 0: it becomes set if any neighbour is), from
 * src into dst. Cells beyond the border count as unset for erosion's sake
 * only where they are inside the grid. */
static void morph(const vg_motion_t *m, const uint8_t *src, uint8_t *dst, bool erode) {
  for (int y = 0; y < m->wh; y++) {
    for (int x = 0; x < m->ww; x++) {
      bool all = true, any = false;
      for (int dy = -1; dy <= 1; dy++) {
        int yy = y + dy;
        if (yy < 0 || yy >= m->wh) continue;
        for (int dx = -1; dx <= 1; dx++) {
          int xx = x + dx;
          if (xx < 0 || xx >= m->ww) continue;
          bool set = src[yy * m->ww + xx] != 0;
          all = all && set;
          any = any || set;
        }
      }
      dst[y * m->ww + x] = (erode ? all : any) ? 255 : 0;
    }
  }
}

static void learn_background(vg_motion_t *m, bool use_fg) {
  int rate = (int)(m->cfg.learn_rate * 256 + 0.5f);
  if (rate < 1) rate = 1;
  /* Moving cells learn eight times slower: a passer-by leaves no ghost,
   * but an object that stays for good joins the background eventually. */
  int slow = rate / 8 > 0 ? rate / 8 : 1;
  int cells = m->ww * m->wh;
  /* A cell that has been foreground without changing for absorb_frames
   * frames is not something moving but a difference from a wrong
   * background: the ghost of a person who stood there when the model was
   * seeded and has left, or an object that arrived and stays. It is taken
   * into the background at once, instead of fading over hundreds of
   * frames at the slow rate. "Unchanged" allows half the threshold of
   * noise between two frames; anything moving over the cell resets it. */
  int steady = m->cfg.threshold / 2 > 2 ? m->cfg.threshold / 2 : 2;
  for (int i = 0; i < cells; i++) {
    int step = (int)m->small[i] - (int)m->prev[i];
    m->prev[i] = m->small[i];
    if (use_fg && m->fg[i] && m->cfg.absorb_frames > 0 && step <= steady && step >= -steady) {
      if (++m->still[i] >= m->cfg.absorb_frames) {
        m->bg[i] = (uint16_t)(m->small[i] << 8);
        m->still[i] = 0;
        continue;
      }
    } else {
      m->still[i] = 0;
    }
    int r = use_fg && m->fg[i] ? slow : rate;
    int cur = m->bg[i];
    int diff = ((int)m->small[i] << 8) - cur;
    m->bg[i] = (uint16_t)(cur + diff * r / 256);
  }
}

static void seed_background(vg_motion_t *m) {
  int cells = m->ww * m->wh;
  for (int i = 0; i < cells; i++)
    m->bg[i] = (uint16_t)(m->small[i] << 8);
  memcpy(m->prev, m->small, (size_t)cells);
  memset(m->still, 0, (size_t)cells * sizeof(uint16_t));
}

static vg_rect_t to_source(const vg_motion_t *m, int x1, int y1, int x2, int y2) {
  vg_rect_t r = {m->x0[x1], m->y0[y1], m->x0[x2], m->y0[y2]};
  return r;
}

static int rect_area(const vg_rect_t *r) { return (r->x2 - r->x1) * (r->y2 - r->y1); }

/* Keeps the largest boxes when there are more blobs than room. */
static void add_box(vg_motion_result_t *out, vg_rect_t box) {
  int a = rect_area(&box);
  int n = out->n_boxes;
  if (n == VG_MOTION_MAX_BOXES) {
    if (a <= rect_area(&out->boxes[n - 1])) return;
    n--;
  }
  int i = n;
  for (; i > 0 && rect_area(&out->boxes[i - 1]) < a; i--)
    out->boxes[i] = out->boxes[i - 1];
  out->boxes[i] = box;
  out->n_boxes = n + 1;
}

/* 8-connected components of fg, by flood fill; blobs of at least min_cells
 * cells become boxes. */
static void extract_blobs(vg_motion_t *m, vg_motion_result_t *out, int min_cells) {
  int cells = m->ww * m->wh;
  memcpy(m->tmp, m->fg, (size_t)cells); /* visited cells are cleared in tmp */
  for (int start = 0; start < cells; start++) {
    if (!m->tmp[start]) continue;
    int head = 0, tail = 0, count = 0;
    int x1 = m->ww, y1 = m->wh, x2 = 0, y2 = 0;
    m->queue[tail++] = start;
    m->tmp[start] = 0;
    while (head < tail) {
      int i = m->queue[head++], x = i % m->ww, y = i / m->ww;
      count++;
      if (x < x1) x1 = x;
      if (x > x2) x2 = x;
      if (y < y1) y1 = y;
      if (y > y2) y2 = y;
      for (int dy = -1; dy <= 1; dy++) {
        int yy = y + dy;
        if (yy < 0 || yy >= m->wh) continue;
        for (int dx = -1; dx <= 1; dx++) {
          int xx = x + dx;
          if (xx < 0 || xx >= m->ww) continue;
          int j = yy * m->ww + xx;
          if (m->tmp[j]) {
            m->tmp[j] = 0;
            m->queue[tail++] = j;
          }
        }
      }
    }
    if (count >= min_cells) add_box(out, to_source(m, x1, y1, x2 + 1, y2 + 1));
  }
}

/* The gap between two rectangles (0 when they touch or overlap), the
 * larger of the horizontal and vertical gaps. */
static int rect_gap(const vg_rect_t *a, const vg_rect_t *b) {
  int gx = a->x1 > b->x2 ? a->x1 - b->x2 : b->x1 > a->x2 ? b->x1 - a->x2 : 0;
  int gy = a->y1 > b->y2 ? a->y1 - b->y2 : b->y1 > a->y2 ? b->y1 - a->y2 : 0;
  return gx > gy ? gx : gy;
}

static void rect_union(vg_rect_t *a, const vg_rect_t *b) {
  if (b->x1 < a->x1) a->x1 = b->x1;
  if (b->y1 < a->y1) a->y1 = b->y1;
  if (b->x2 > a->x2) a->x2 = b->x2;
  if (b->y2 > a->y2) a->y2 = b->y2;
}

static void remove_at(vg_rect_t *r, int *n, int i) {
  for (int k = i; k + 1 < *n; k++)
    r[k] = r[k + 1];
  (*n)--;
}

/* Merges boxes closer than merge_gap, pads and clamps them into regions,
 * merges what padding made overlap, and if there are still too many,
 * merges the closest pairs until they fit. */
static void build_regions(const vg_motion_t *m, vg_motion_result_t *out) {
  vg_rect_t r[VG_MOTION_MAX_BOXES];
  int n = out->n_boxes;
  memcpy(r, out->boxes, sizeof(vg_rect_t) * (size_t)n);
  int gap = (int)(m->cfg.merge_gap * (float)m->src_w + 0.5f);
  for (int pass = 0; pass < 2; pass++) {
    bool merged = true;
    while (merged) {
      merged = false;
      for (int i = 0; i < n && !merged; i++)
        for (int k = i + 1; k < n && !merged; k++)
          if (rect_gap(&r[i], &r[k]) <= gap) {
            rect_union(&r[i], &r[k]);
            remove_at(r, &n, k);
            merged = true;
          }
    }
    if (pass == 0) {
      for (int i = 0; i < n; i++) {
        int px = (int)((float)(r[i].x2 - r[i].x1) * m->cfg.region_pad + 0.5f);
        int py = (int)((float)(r[i].y2 - r[i].y1) * m->cfg.region_pad + 0.5f);
        r[i].x1 = r[i].x1 - px < 0 ? 0 : r[i].x1 - px;
        r[i].y1 = r[i].y1 - py < 0 ? 0 : r[i].y1 - py;
        r[i].x2 = r[i].x2 + px > m->src_w ? m->src_w : r[i].x2 + px;
        r[i].y2 = r[i].y2 + py > m->src_h ? m->src_h : r[i].y2 + py;
      }
      gap = 0;
    }
  }
  while (n > VG_MOTION_MAX_REGIONS) {
    int bi = 0, bk = 1, best = -1;
    for (int i = 0; i < n; i++)
      for (int k = i + 1; k < n; k++) {
        int g = rect_gap(&r[i], &r[k]);
        if (best < 0 || g < best) best = g, bi = i, bk = k;
      }
    rect_union(&r[bi], &r[bk]);
    remove_at(r, &n, bk);
  }
  out->n_regions = n;
  memcpy(out->regions, r, sizeof(vg_rect_t) * (size_t)n);
}

static void update_activity(vg_motion_t *m, float fraction) {
  if (fraction >= m->cfg.on_fraction && fraction > 0) {
    m->off_run = 0;
    if (++m->on_run >= m->cfg.on_frames) m->active = true;
  } else if (fraction < m->cfg.off_fraction || fraction == 0) {
    m->on_run = 0;
    if (++m->off_run >= m->cfg.off_frames) m->active = false;
  } else {
    m->on_run = m->off_run = 0;
  }
}

static int lighting_reset(vg_motion_t *m, vg_motion_result_t *out) {
  memset(m->fg, 0, (size_t)(m->ww * m->wh));
  seed_background(m);
  out->lighting_change = true;
  out->active = m->active;
  return 0;
}

int vg_motion_process(vg_motion_t *m, const uint8_t *luma, int width, int height, int stride,
                      vg_motion_result_t *out) {
  if (!m || !luma || !out || width < 16 || height < 16 || stride < width) return VG_EINVAL;
  memset(out, 0, sizeof(*out));
  if (width != m->src_w || height != m->src_h) {
    int r = alloc_buffers(m, width, height);
    if (r) return r;
  }
  downscale(m, luma, stride);
  if (m->frames++ == 0) {
    seed_background(m);
    out->warming_up = true;
    out->active = m->active;
    return 0;
  }
  /* Most of the picture changed at once in the same direction (brighter,
   * or darker): a light switched, the exposure or the IR filter jumped.
   * Not motion; the background starts again from this frame. */
  int cells = m->ww * m->wh, brighter = 0, darker = 0;
  for (int i = 0; i < cells; i++) {
    if (m->ignore[i]) continue;
    int d = m->small[i] - ((m->bg[i] + 128) >> 8);
    brighter += d > m->cfg.threshold;
    darker += d < -m->cfg.threshold;
  }
  float global = m->cfg.lighting_fraction * (float)m->unmasked;
  int same_way = brighter > darker ? brighter : darker;
  if (m->unmasked > 0 && (float)same_way >= global && same_way >= 4 * (brighter + darker - same_way))
    return lighting_reset(m, out);
  /* Smaller uniform shifts are subtracted, so they never show. */
  int shift = global_shift(m), changed = 0;
  for (int i = 0; i < cells; i++) {
    int d = m->small[i] - ((m->bg[i] + 128) >> 8) - shift;
    bool on = !m->ignore[i] && (d > m->cfg.threshold || d < -m->cfg.threshold);
    m->fg[i] = on ? 255 : 0;
    changed += on;
  }
  /* Even after that, most of the frame differs: not something moving in
   * the scene but the scene itself changing (a gain step, a reflection). */
  if (m->unmasked > 0 && (float)changed >= global) return lighting_reset(m, out);
  out->lighting_change = shift > m->cfg.threshold || shift < -m->cfg.threshold;
  morph(m, m->fg, m->tmp, true);
  morph(m, m->tmp, m->fg, false);
  int moving = 0;
  for (int i = 0; i < cells; i++)
    moving += m->fg[i] != 0;
  out->fraction = m->unmasked > 0 ? (float)moving / (float)m->unmasked : 0;
  int min_cells = (int)(m->cfg.min_area * (float)cells + 0.5f);
  if (min_cells < 1) min_cells = 1;
  extract_blobs(m, out, min_cells);
  build_regions(m, out);
  /* The compensated shift is learned too, so the background follows slow
   * exposure drift. */
  learn_background(m, true);
  update_activity(m, out->fraction);
  out->active = m->active;
  return 0;
}

const uint8_t *vg_motion_mask(const vg_motion_t *m, int *w, int *h) {
  *w = m->src_w ? m->ww : 0;
  *h = m->src_w ? m->wh : 0;
  return m->src_w ? m->fg : NULL;
}
