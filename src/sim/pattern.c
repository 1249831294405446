#include "sim/pattern.h"

#include <stdio.h>
#include <string.h>

/* A 5x7 bitmap font for the characters the overlay needs: one byte per
 * row, the low 5 bits are the pixels, most significant bit on the left. */
static const char font_chars[] = "0123456789:.";
static const uint8_t font_rows[][7] = {
    {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e}, /* 0 */
    {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e}, /* 1 */
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f}, /* 2 */
    {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e}, /* 3 */
    {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02}, /* 4 */
    {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e}, /* 5 */
    {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e}, /* 6 */
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}, /* 7 */
    {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e}, /* 8 */
    {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c}, /* 9 */
    {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00}, /* : */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c}, /* . */
};

static void fill_rect(const vg_yuv_picture_t *p, int x, int y, int w, int h, uint8_t yv, uint8_t u,
                      uint8_t v) {
  if (x < 0) w += x, x = 0;
  if (y < 0) h += y, y = 0;
  if (x + w > p->width) w = p->width - x;
  if (y + h > p->height) h = p->height - y;
  if (w <= 0 || h <= 0) return;
  for (int row = y; row < y + h; row++)
    memset(p->plane[0] + (size_t)row * p->stride[0] + x, yv, (size_t)w);
  /* Chroma covers 2x2 luma pixels; round the rectangle inwards to whole pairs. */
  int cx = (x + 1) / 2, cy = (y + 1) / 2, cw = (x + w) / 2 - cx, ch = (y + h) / 2 - cy;
  for (int row = cy; cw > 0 && row < cy + ch; row++) {
    memset(p->plane[1] + (size_t)row * p->stride[1] + cx, u, (size_t)cw);
    memset(p->plane[2] + (size_t)row * p->stride[2] + cx, v, (size_t)cw);
  }
}

static void draw_glyph(const vg_yuv_picture_t *p, char c, int x, int y, int scale) {
  const char *at = strchr(font_chars, c);
  if (!at || c == '\0') return;
  const uint8_t *rows = font_rows[at - font_chars];
  for (int r = 0; r < 7; r++)
    for (int col = 0; col < 5; col++)
      if (rows[r] & (0x10 >> col)) fill_rect(p, x + col * scale, y + r * scale, scale, scale, 235, 128, 128);
}

/* Draws text on a black plate so it stays legible over the gradient. */
static void draw_text(const vg_yuv_picture_t *p, const char *text, int x, int y, int scale) {
  int n = (int)strlen(text);
  fill_rect(p, x - scale, y - scale, n * 6 * scale + scale, 9 * scale, 16, 128, 128);
  for (int i = 0; i < n; i++)
    draw_glyph(p, text[i], x + i * 6 * scale, y, scale);
}

static void draw_background(const vg_yuv_picture_t *p, int64_t index) {
  /* A diagonal ramp that scrolls by 4 levels per frame: per-column and
   * per-row terms are computed once, so a 1080p picture costs a few ms. */
  uint8_t column[8192], levels[256];
  int shift = (int)(index * 4 % 256);
  for (int v = 0; v < 256; v++)
    levels[v] = (uint8_t)(16 + v * 219 / 255);
  for (int x = 0; x < p->width; x++)
    column[x] = (uint8_t)(x * 256 / p->width);
  for (int y = 0; y < p->height; y++) {
    uint8_t *row = p->plane[0] + (size_t)y * p->stride[0];
    uint8_t offset = (uint8_t)(y * 64 / p->height + shift);
    for (int x = 0; x < p->width; x++)
      row[x] = levels[(uint8_t)(column[x] + offset)];
  }
  for (int y = 0; y < p->height / 2; y++) {
    uint8_t *u = p->plane[1] + (size_t)y * p->stride[1];
    uint8_t *v = p->plane[2] + (size_t)y * p->stride[2];
    memset(u, 64 + y * 128 / (p->height / 2), (size_t)(p->width / 2));
    for (int x = 0; x < p->width / 2; x++)
      v[x] = (uint8_t)(64 + x * 128 / (p->width / 2));
  }
}

/* Position along a track of length span that bounces back and forth. */
static int bounce(int64_t t, int span) {
  if (span <= 0) return 0;
  int64_t m = t % (2 * (int64_t)span);
  return (int)(m < span ? m : 2 * span - m);
}

void vg_pattern_draw(const vg_yuv_picture_t *pic, int64_t index, int fps) {
  if (fps <= 0) fps = 1;
  draw_background(pic, index);

  int box = pic->height / 6 > 8 ? pic->height / 6 : 8;
  int speed = pic->width / (2 * fps) > 1 ? pic->width / (2 * fps) : 1; /* crosses half the width per second */
  int bx = bounce(index * speed, pic->width - box);
  int by = bounce(index * speed / 2, pic->height - box);
  fill_rect(pic, bx, by, box, box, 235, 128, 128);
  fill_rect(pic, bx + box / 4, by + box / 4, box / 2, box / 2, 82, 90, 240); /* red core */

  int scale = pic->height / 60 > 1 ? pic->height / 60 : 1;
  char text[48];
  snprintf(text, sizeof(text), "%06lld", (long long)index);
  draw_text(pic, text, 2 * scale, 2 * scale, scale);
  int64_t centis = index * 100 / fps;
  snprintf(text, sizeof(text), "%02lld:%02lld.%02lld", (long long)(centis / 6000 % 100),
           (long long)(centis / 100 % 60), (long long)(centis % 100));
  draw_text(pic, text, 2 * scale, 12 * scale, scale);
}
