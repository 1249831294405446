/* geom.c: see geom.h. */
#include "vision/geom.h"

#include <math.h>
#include <stddef.h>

bool vg_polygon_contains(const vg_polygon_t *poly, vg_point_t p) {
  bool inside = false;
  for (int i = 0, j = poly->n - 1; i < poly->n; j = i++) {
    vg_point_t a = poly->pts[i], b = poly->pts[j];
    if ((a.y > p.y) != (b.y > p.y)) {
      float x = a.x + (p.y - a.y) * (b.x - a.x) / (b.y - a.y);
      if (p.x < x) inside = !inside;
    }
  }
  return inside;
}

float vg_line_side(vg_point_t a, vg_point_t b, vg_point_t p) {
  return (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x);
}

static int sign_of(float v) { return v > 0 ? 1 : v < 0 ? -1 : 0; }

/* Whether q, known to be collinear with a-b, lies within their bounding box. */
static bool on_segment(vg_point_t a, vg_point_t b, vg_point_t q) {
  return fminf(a.x, b.x) <= q.x && q.x <= fmaxf(a.x, b.x) && fminf(a.y, b.y) <= q.y && q.y <= fmaxf(a.y, b.y);
}

bool vg_segments_intersect(vg_point_t p1, vg_point_t p2, vg_point_t q1, vg_point_t q2) {
  int d1 = sign_of(vg_line_side(q1, q2, p1)), d2 = sign_of(vg_line_side(q1, q2, p2));
  int d3 = sign_of(vg_line_side(p1, p2, q1)), d4 = sign_of(vg_line_side(p1, p2, q2));
  if (d1 * d2 < 0 && d3 * d4 < 0) return true;
  if (d1 == 0 && on_segment(q1, q2, p1)) return true;
  if (d2 == 0 && on_segment(q1, q2, p2)) return true;
  if (d3 == 0 && on_segment(p1, p2, q1)) return true;
  if (d4 == 0 && on_segment(p1, p2, q2)) return true;
  return false;
}

void vg_polygon_rasterize(const vg_polygon_t *poly, uint8_t *mask, int width, int height, int stride,
                          uint8_t value) {
  if (poly->n < 3) return;
  /* Scanline fill: for each row centre, the crossings of the polygon's
   * edges, sorted, pair up into inside spans. */
  float xs[VG_POLYGON_MAX_POINTS];
  for (int y = 0; y < height; y++) {
    float py = (y + 0.5f) / (float)height;
    int nx = 0;
    for (int i = 0, j = poly->n - 1; i < poly->n; j = i++) {
      vg_point_t a = poly->pts[i], b = poly->pts[j];
      if ((a.y > py) != (b.y > py)) xs[nx++] = (a.x + (py - a.y) * (b.x - a.x) / (b.y - a.y)) * (float)width;
    }
    for (int i = 1; i < nx; i++) { /* insertion sort: nx is small */
      float v = xs[i];
      int k = i - 1;
      for (; k >= 0 && xs[k] > v; k--)
        xs[k + 1] = xs[k];
      xs[k + 1] = v;
    }
    for (int i = 0; i + 1 < nx; i += 2) {
      /* Pixel x is inside when its centre x + 0.5 lies in [xs[i], xs[i+1]). */
      int x0 = (int)ceilf(xs[i] - 0.5f), x1 = (int)ceilf(xs[i + 1] - 0.5f);
      if (x0 < 0) x0 = 0;
      if (x1 > width) x1 = width;
      for (int x = x0; x < x1; x++)
        mask[(size_t)y * stride + x] = value;
    }
  }
}

float vg_box_iou(const vg_box_t *a, const vg_box_t *b) {
  float iw = fminf(a->x2, b->x2) - fmaxf(a->x1, b->x1);
  float ih = fminf(a->y2, b->y2) - fmaxf(a->y1, b->y1);
  if (iw <= 0 || ih <= 0) return 0;
  float inter = iw * ih;
  float ua = (a->x2 - a->x1) * (a->y2 - a->y1) + (b->x2 - b->x1) * (b->y2 - b->y1) - inter;
  return ua > 0 ? inter / ua : 0;
}

vg_point_t vg_box_foot(const vg_box_t *b, int width, int height) {
  vg_point_t p = {(b->x1 + b->x2) * 0.5f / (float)width, b->y2 / (float)height};
  return p;
}
