/*
 * fpmask.h: learned false-positive suppression masks, one per camera and
 * class.
 *
 * When an operator marks an event a false positive, its object's box is
 * added to the mask of its camera and class: a coarse grid (grid x grid
 * cells over the normalized frame) whose cells hold weights. Each cell the
 * box covers at least half gains a weight of 1, a cell it covers less in
 * proportion.
 * Weights decay exponentially with a half-life, so a place that stops
 * producing false alarms is forgotten.
 *
 * A later detection of that class is suppressed when the decayed weight
 * under its box, averaged over the box's area, reaches the threshold: one
 * mark over the same place gives about 1.0, so the default threshold 0.7
 * means "mostly over a place marked recently" (after one half-life a
 * single mark no longer suppresses; two marks there still do).
 *
 * Threads: a vg_fpmask_set_t belongs to one thread at a time (the event
 * engine's lock).
 */
#ifndef VG_EVENT_FPMASK_H
#define VG_EVENT_FPMASK_H

#include <stdint.h>

typedef struct vg_fpmask_set vg_fpmask_set_t;

/* grid: cells per side (2..64); half_life_us > 0. */
int vg_fpmask_set_new(int grid, int64_t half_life_us, vg_fpmask_set_t **out);
void vg_fpmask_set_free(vg_fpmask_set_t **set);

/* Adds a false-positive box (normalized x1, y1, x2, y2) of camera and
 * class, marked at utc_us. Returns 0, VG_EINVAL (an empty box) or
 * VG_ENOMEM. At most 4096 masks are kept (the least recently marked go). */
int vg_fpmask_add(vg_fpmask_set_t *set, const char *camera, const char *label, const float box[4],
                  int64_t utc_us);

/* The decayed weight under box averaged over its area, at utc_us: 0 when
 * the camera and class have no mask. */
float vg_fpmask_score(const vg_fpmask_set_t *set, const char *camera, const char *label, const float box[4],
                      int64_t utc_us);

/* How many masks there are (tests, introspection). */
int vg_fpmask_count(const vg_fpmask_set_t *set);

#endif
