/*
 * tensor.h: the inference engine's tensors: a dtype, a shape and a flat,
 * row-major (C order) buffer.
 *
 * A tensor carries no layout of its own: NCHW versus NHWC is a property of
 * the operator that reads it (a convolution's data_format), and converting
 * between them is an explicit Transpose node in the graph. f32 is the
 * compute type; int32 carries shapes and indices; bool is one byte per
 * element; f16 exists only as a storage format of weights and is widened at
 * load time. The design admits f16 and int8 compute later as new dtypes.
 *
 * A tensor either owns its data (owned != 0, freed by vg_tensor_clear) or
 * points into memory owned by someone else (a model's arena or its weights).
 * Tensors are plain values: not thread-safe, owned by one thread at a time.
 */
#ifndef VG_INFER_TENSOR_H
#define VG_INFER_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define VG_TENSOR_MAX_DIMS 6

typedef enum {
  VG_DT_F32 = 0,
  VG_DT_I32,
  VG_DT_BOOL,
} vg_dtype_t;

typedef struct {
  vg_dtype_t dtype;
  int ndim;
  int64_t dims[VG_TENSOR_MAX_DIMS];
  void *data;
  int owned;
} vg_tensor_t;

/* Bytes per element of a dtype. */
size_t vg_dtype_size(vg_dtype_t dt);
const char *vg_dtype_name(vg_dtype_t dt);

/* Number of elements (1 for a scalar, ndim == 0). */
int64_t vg_tensor_numel(const vg_tensor_t *t);
static inline size_t vg_tensor_bytes(const vg_tensor_t *t) {
  return (size_t)vg_tensor_numel(t) * vg_dtype_size(t->dtype);
}
/* Sets dtype and shape; data is untouched. Returns VG_EINVAL when ndim is out
 * of range or a dimension is negative, VG_ETOOBIG past 2^31 elements. */
int vg_tensor_set_shape(vg_tensor_t *t, vg_dtype_t dt, int ndim, const int64_t *dims);
/* Allocates zeroed owned storage for the current shape. */
int vg_tensor_alloc(vg_tensor_t *t);
/* Frees owned storage and resets the tensor to an empty f32 scalar. */
void vg_tensor_clear(vg_tensor_t *t);
/* Deep copy into dst (which must be empty or cleared). */
int vg_tensor_copy(vg_tensor_t *dst, const vg_tensor_t *src);
int vg_tensor_same_shape(const vg_tensor_t *a, const vg_tensor_t *b);
/* Formats "f32[1,3,416,416]" into buf; returns buf. */
const char *vg_tensor_describe(const vg_tensor_t *t, char *buf, size_t len);

/* IEEE half to single precision (exact). */
float vg_f16_to_f32(uint16_t h);

#endif
