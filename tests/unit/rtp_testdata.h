/*
 * rtp_testdata.h: shared by the RTP unit tests: loads the captures in
 * tests/data/rtp/ (written by tests/data/rtp/capture.py) and collects the
 * frames a depacketizer delivers.
 *
 * Capture container: records of u8 channel (0 RTP, 1 RTCP), u16 big-endian
 * length, then that many bytes (one datagram).
 */
#ifndef VG_TEST_RTP_TESTDATA_H
#define VG_TEST_RTP_TESTDATA_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "media/frame.h"

typedef struct {
  uint8_t channel;
  const uint8_t *data;
  size_t len;
} td_record_t;

typedef struct {
  uint8_t *bytes;
  size_t len;
  td_record_t rec[256];
  size_t n;
} td_capture_t;

/* Reads tests/data/<rel> (VG_TEST_DATA set by ctest) into a malloc'd buffer. */
static inline uint8_t *td_load(const char *rel, size_t *len) {
  const char *dir = getenv("VG_TEST_DATA");
  char path[1024];
  snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/data", rel);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return b;
}

/* Loads and splits a capture; returns 0 on success. */
static inline int td_capture_load(const char *rel, td_capture_t *c) {
  memset(c, 0, sizeof(*c));
  c->bytes = td_load(rel, &c->len);
  if (!c->bytes) return -1;
  size_t off = 0;
  while (off + 3 <= c->len && c->n < 256) {
    size_t n = ((size_t)c->bytes[off + 1] << 8) | c->bytes[off + 2];
    if (off + 3 + n > c->len) return -1;
    c->rec[c->n++] = (td_record_t){c->bytes[off], c->bytes + off + 3, n};
    off += 3 + n;
  }
  return off == c->len ? 0 : -1;
}

static inline void td_capture_free(td_capture_t *c) { free(c->bytes); }

/* Frame collector, usable as a vg_depack_sink_t's opaque. */
typedef struct {
  vg_frame_t frames[512];
  size_t n;
  vg_buf_t *params[8];
  size_t n_params;
} td_frames_t;

static inline void td_on_frame(void *opaque, vg_frame_t *f) {
  td_frames_t *t = opaque;
  if (t->n < 512) t->frames[t->n++] = *f;
  else vg_frame_unref(f);
}

static inline void td_on_params(void *opaque, vg_buf_t *x) {
  td_frames_t *t = opaque;
  if (t->n_params < 8) t->params[t->n_params++] = x;
  else vg_buf_unref(&x);
}

static inline void td_frames_clear(td_frames_t *t) {
  for (size_t i = 0; i < t->n; i++) vg_frame_unref(&t->frames[i]);
  for (size_t i = 0; i < t->n_params; i++) vg_buf_unref(&t->params[i]);
  t->n = t->n_params = 0;
}

#endif
