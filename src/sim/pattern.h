/*
 * pattern.h: camsim's moving test picture, drawn straight into YUV 4:2:0.
 *
 * Each picture shows a colour gradient that scrolls, a box that bounces,
 * and the frame number and clip time in large digits, so that a viewer (or
 * a test) can see at a glance that frames move, arrive in order and decode.
 * Pure computation on caller memory; any thread.
 */
#ifndef VG_SIM_PATTERN_H
#define VG_SIM_PATTERN_H

#include <stdint.h>

typedef struct {
  uint8_t *plane[3]; /* Y, U, V */
  int stride[3];
  int width, height; /* even sizes; chroma planes are half in both directions */
} vg_yuv_picture_t;

/* Draws picture number index of a clip running at fps frames per second. */
void vg_pattern_draw(const vg_yuv_picture_t *pic, int64_t index, int fps);

#endif
