/*
 * geom.h: the small geometry the vision modules share: points and polygons
 * in normalized image coordinates (0..1, x to the right, y down, so that a
 * configuration works for every resolution of a camera), integer pixel
 * rectangles, point-in-polygon, segment intersection and polygon
 * rasterization.
 *
 * Plain values, no allocation, no state: callable from any thread.
 */
#ifndef VG_VISION_GEOM_H
#define VG_VISION_GEOM_H

#include <stdbool.h>
#include <stdint.h>

/* The most vertices a configured polygon may have. */
#define VG_POLYGON_MAX_POINTS 32

/* A point; in normalized coordinates unless a comment says pixels. */
typedef struct {
  float x, y;
} vg_point_t;

/* A simple polygon (at least 3 vertices), normalized coordinates. */
typedef struct {
  int n;
  vg_point_t pts[VG_POLYGON_MAX_POINTS];
} vg_polygon_t;

/* A pixel rectangle: x1,y1 inclusive, x2,y2 exclusive (so w = x2 - x1). */
typedef struct {
  int x1, y1, x2, y2;
} vg_rect_t;

/* A floating-point box in pixels (the form detections and tracks use). */
typedef struct {
  float x1, y1, x2, y2;
} vg_box_t;

/* Even-odd rule; a point exactly on an edge may land on either side. */
bool vg_polygon_contains(const vg_polygon_t *poly, vg_point_t p);

/* True when segments p1-p2 and q1-q2 intersect (touching counts). */
bool vg_segments_intersect(vg_point_t p1, vg_point_t p2, vg_point_t q1, vg_point_t q2);

/* Signed side of p relative to the directed line a->b: the 2D cross product
 * (b - a) x (p - a). In image coordinates (y down) a positive value means p
 * lies to the right of a->b as seen on screen. */
float vg_line_side(vg_point_t a, vg_point_t b, vg_point_t p);

/* Sets mask[y * stride + x] = value for every pixel of a width x height
 * grid whose centre lies inside poly (scaled from normalized coordinates);
 * other pixels are left unchanged. */
void vg_polygon_rasterize(const vg_polygon_t *poly, uint8_t *mask, int width, int height, int stride,
                          uint8_t value);

/* Intersection over union of two boxes; 0 when either is empty. */
float vg_box_iou(const vg_box_t *a, const vg_box_t *b);

/* The bottom centre of a box in normalized coordinates of a frame of
 * width x height pixels: where an object touches the ground. */
vg_point_t vg_box_foot(const vg_box_t *b, int width, int height);

#endif
