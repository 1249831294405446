/* tensor.c: tensor shapes and storage. */
#include "infer/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

size_t vg_dtype_size(vg_dtype_t dt) {
  switch (dt) {
  case VG_DT_F32: return 4;
  case VG_DT_I32: return 4;
  case VG_DT_BOOL: return 1;
  }
  return 4;
}

const char *vg_dtype_name(vg_dtype_t dt) {
  switch (dt) {
  case VG_DT_F32: return "f32";
  case VG_DT_I32: return "i32";
  case VG_DT_BOOL: return "bool";
  }
  return "?";
}

int64_t vg_tensor_numel(const vg_tensor_t *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++)
    n *= t->dims[i];
  return n;
}

int vg_tensor_set_shape(vg_tensor_t *t, vg_dtype_t dt, int ndim, const int64_t *dims) {
  if (ndim < 0 || ndim > VG_TENSOR_MAX_DIMS) return VG_EINVAL;
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (dims[i] < 0) return VG_EINVAL;
    /* Bounding every dimension before multiplying keeps the product from
     * overflowing whatever a malformed model file claims. */
    if (dims[i] > (INT64_C(1) << 31)) return VG_ETOOBIG;
    n *= dims[i];
    if (n > (INT64_C(1) << 31)) return VG_ETOOBIG;
  }
  t->dtype = dt;
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++)
    t->dims[i] = dims[i];
  for (int i = ndim; i < VG_TENSOR_MAX_DIMS; i++)
    t->dims[i] = 0;
  return 0;
}

int vg_tensor_alloc(vg_tensor_t *t) {
  size_t bytes = vg_tensor_bytes(t);
  void *p = calloc(1, bytes ? bytes : 1);
  if (!p) return VG_ENOMEM;
  if (t->owned) free(t->data);
  t->data = p;
  t->owned = 1;
  return 0;
}

void vg_tensor_clear(vg_tensor_t *t) {
  if (t->owned) free(t->data);
  memset(t, 0, sizeof(*t));
}

int vg_tensor_copy(vg_tensor_t *dst, const vg_tensor_t *src) {
  memset(dst, 0, sizeof(*dst));
  int err = vg_tensor_set_shape(dst, src->dtype, src->ndim, src->dims);
  if (err) return err;
  if ((err = vg_tensor_alloc(dst))) return err;
  if (vg_tensor_bytes(src)) memcpy(dst->data, src->data, vg_tensor_bytes(src));
  return 0;
}

int vg_tensor_same_shape(const vg_tensor_t *a, const vg_tensor_t *b) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->dims[i] != b->dims[i]) return 0;
  return 1;
}

const char *vg_tensor_describe(const vg_tensor_t *t, char *buf, size_t len) {
  size_t off = 0;
  int n = snprintf(buf, len, "%s[", vg_dtype_name(t->dtype));
  off = n > 0 ? (size_t)n : 0;
  for (int i = 0; i < t->ndim && off < len; i++) {
    n = snprintf(buf + off, len - off, "%s%lld", i ? "," : "", (long long)t->dims[i]);
    if (n > 0) off += (size_t)n;
  }
  if (off < len) snprintf(buf + off, len - off, "]");
  return buf;
}

float vg_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {
      /* A subnormal half becomes a normal float: shift the mantissa up until
       * its leading one reaches the implicit bit. */
      int e = -1;
      do {
        e++;
        mant <<= 1;
      } while (!(mant & 0x400));
      bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  memcpy(&f, &bits, sizeof(f));
  return f;
}
