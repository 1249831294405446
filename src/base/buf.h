/*
 * buf.h: refcounted, pooled byte buffers: the unit in which media moves.
 *
 * A buffer is read once off the network (or assembled once by a
 * depacketizer) and then shared by reference: the stream hub, the recorder,
 * every viewer and the decoder each hold a reference and nobody copies the
 * bytes. Modelled on FFmpeg's AVBufferRef:
 *  - vg_buf_ref() adds a reference, vg_buf_unref(&b) drops one and sets b to
 *    NULL; the memory returns to its pool when the last reference goes.
 *  - A buffer may be written only while it has exactly one reference
 *    (vg_buf_is_writable()). Once shared, it is read-only by convention.
 *  - References may be taken and dropped from any thread.
 *
 * Allocation comes from process-wide size classes (256 B .. 8 MiB) with a
 * free list each, so steady-state streaming does not touch malloc. Larger
 * requests go to malloc directly.
 */
#ifndef VG_BASE_BUF_H
#define VG_BASE_BUF_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vg_buf vg_buf_t;
typedef void (*vg_buf_free_fn)(void *opaque, uint8_t *data);

struct vg_buf {
  /* public, read-only except for data[0..cap) while writable and len */
  uint8_t *data;
  size_t len; /* bytes in use, maintained by the writer */
  size_t cap; /* bytes available at data */
  /* private */
  atomic_int refs;
  int size_class; /* -1: not pooled */
  vg_buf_free_fn free_fn;
  void *opaque;
};

/* A new buffer with at least cap bytes, one reference, len 0. NULL on OOM. */
vg_buf_t *vg_buf_alloc(size_t cap);
/* Wraps caller memory; free_fn(opaque, data) runs when the last reference
 * goes. On failure (NULL) the memory stays owned by the caller. */
vg_buf_t *vg_buf_wrap(uint8_t *data, size_t len, vg_buf_free_fn free_fn, void *opaque);
/* A new buffer holding a copy of data[0..len). */
vg_buf_t *vg_buf_from(const void *data, size_t len);
/* Adds a reference and returns b. b may be NULL. */
vg_buf_t *vg_buf_ref(vg_buf_t *b);
/* Drops the reference in *b (if any) and sets *b = NULL. */
void vg_buf_unref(vg_buf_t **b);
static inline int vg_buf_is_writable(const vg_buf_t *b) {
  return atomic_load_explicit(&((vg_buf_t *)b)->refs, memory_order_acquire) == 1;
}
/* Makes sure a writable buffer can hold need more bytes after len, moving
 * it to a larger one if necessary (*b may change). Returns 0 or VG_ENOMEM;
 * on failure *b is unchanged. */
int vg_buf_reserve(vg_buf_t **b, size_t need);
/* Appends len bytes (vg_buf_reserve then memcpy). */
int vg_buf_append(vg_buf_t **b, const void *data, size_t len);

/* Pool statistics for /metrics. */
typedef struct {
  uint64_t allocs;       /* vg_buf_alloc calls */
  uint64_t pool_hits;    /* served from a free list */
  uint64_t bytes_live;   /* capacity of buffers currently referenced */
  uint64_t bytes_pooled; /* capacity parked on free lists */
} vg_buf_stats_t;
void vg_buf_get_stats(vg_buf_stats_t *out);
/* Releases all pooled (unreferenced) memory, e.g. at shutdown. */
void vg_buf_pool_trim(void);

#endif
