/*
 * frame.h: an access unit (one video picture or one audio frame) as it
 * moves through vigil.
 *
 * The bytes live in a refcounted buffer; a frame owns one reference.
 * Copying a vg_frame_t struct needs vg_frame_ref() to take its own
 * reference; the bytes are never copied. See track.h for byte formats.
 */
#ifndef VG_MEDIA_FRAME_H
#define VG_MEDIA_FRAME_H

#include <stdint.h>

#include "base/buf.h"

enum {
  VG_FRAME_KEY = 1u << 0,     /* random access point: IDR/IRAP, or any audio frame */
  VG_FRAME_CORRUPT = 1u << 1, /* packets were lost while assembling it */
};

typedef struct {
  vg_buf_t *buf;       /* owned reference */
  const uint8_t *data; /* within buf */
  uint32_t len;
  uint32_t flags;  /* VG_FRAME_* */
  uint8_t track;   /* index into the stream's tracks */
  int64_t pts;     /* presentation time in the track's clock_rate, unwrapped, monotonic per track */
  int64_t recv_us; /* vg_time_mono_us() when its last byte arrived (latency measurement) */
  int64_t utc_us;  /* wall-clock time of the frame, microseconds since the Unix epoch */
} vg_frame_t;

/* dst = src with its own buffer reference. */
static inline void vg_frame_ref(vg_frame_t *dst, const vg_frame_t *src) {
  *dst = *src;
  dst->buf = vg_buf_ref(src->buf);
}
/* Drops the buffer reference; the struct is zeroed. */
static inline void vg_frame_unref(vg_frame_t *f) {
  vg_buf_unref(&f->buf);
  *f = (vg_frame_t){0};
}

#endif
