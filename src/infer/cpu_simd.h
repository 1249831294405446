/*
 * cpu_simd.h: the optimized CPU backend's inner kernels, compiled once per
 * instruction set (cpu_simd_generic.c, cpu_simd_avx2.c, cpu_simd_avx512.c
 * include cpu_simd.inc with different compiler flags) and picked at run time
 * by vg_cpu_simd(), so the binary runs on any x86-64 (or other) CPU and uses
 * what the CPU has. Pure functions over caller-owned memory; thread-safe.
 */
#ifndef VG_INFER_CPU_SIMD_H
#define VG_INFER_CPU_SIMD_H

#include <stdint.h>

#include "infer/graph.h"

/* Rows of the GEMM micro-kernel by default (AVX-512 uses 12); the panel
 * width (columns) is per ISA. Blocks of rows passed in are any size. */
#define VG_GEMM_MR 6

typedef struct {
  const char *name;
  int nr; /* GEMM panel width in floats: weights are packed in panels of nr */
  /* C[m, 0..ncols) = act(A[m, :] . Bp[:, 0..ncols) + bias) for m < M, where
   * Bp is one packed panel (K rows of nr floats, zero beyond ncols). */
  void (*gemm_panel)(int64_t M, int64_t K, const float *A, int64_t lda, const float *Bp, const float *bias,
                     float *C, int64_t ldc, int ncols, vg_act_t act, float alpha, float beta);
  /* One output row of a depthwise NHWC convolution (multiplier 1):
   * out[ox, c] for ox < OW over all C channels. rows[ky] is the input row
   * for filter row ky or NULL when outside the image (zero padding). */
  void (*dwconv_row)(const float *const *rows, int64_t W, int64_t C, const float *w, int64_t KH, int64_t KW,
                     int64_t stride, int64_t pad_left, int64_t dil, const float *bias, float *out, int64_t OW,
                     vg_act_t act, float alpha, float beta);
  /* One output row of a direct NHWC convolution with few input channels
   * (HWIO filter, dilation 1): out[ox, 0..CO) for ox < OW. */
  void (*conv_small_row)(const float *const *rows, int64_t W, int64_t C, const float *w, int64_t KW,
                         int64_t KH, int64_t stride, int64_t pad_left, const float *bias, float *out,
                         int64_t OW, int64_t CO, vg_act_t act, float alpha, float beta);
  /* y = a op b elementwise (n each), or with b of length nb repeated. */
  void (*binary)(vg_op_t op, const float *a, const float *b, float *y, int64_t n, int64_t nb);
  void (*act)(float *x, int64_t n, vg_act_t act, float alpha, float beta);
  /* Winograd F(2x2,3x3) transforms along channels. Input: rows[y*4+x] is
   * the channel vector of patch pixel (y, x) or NULL (zero); writes V_k at
   * V + k * kstride. Output: m[k] are the 16 GEMM results; out[y*2+x] the
   * output pixels (NULL: outside the image); adds bias, applies act. */
  void (*wino_input)(const float *const *rows, int64_t C, float *V, int64_t kstride);
  void (*wino_output)(const float *const *m, int64_t CO, const float *bias, float *const *out, vg_act_t act,
                      float alpha, float beta);
  /* The same for Winograd F(4x4,3x3): a 6x6 input patch (rows[y*6+x]) into
   * 36 matrices, and 36 GEMM results into a 4x4 output tile (out[y*4+x]). */
  void (*wino4_input)(const float *const *rows, int64_t C, float *V, int64_t kstride);
  void (*wino4_output)(const float *const *m, int64_t CO, const float *bias, float *const *out, vg_act_t act,
                       float alpha, float beta);
  /* acc[i] = max(acc[i], x[i]) and acc[i] += x[i], for pooling rows. */
  void (*max_into)(float *acc, const float *x, int64_t n);
  void (*add_into)(float *acc, const float *x, int64_t n);
} vg_cpu_simd_t;

extern const vg_cpu_simd_t vg_cpu_simd_generic;
extern const vg_cpu_simd_t vg_cpu_simd_avx2;
extern const vg_cpu_simd_t vg_cpu_simd_avx512;

/* The best variant this CPU supports; VIGIL_SIMD=generic|avx2|avx512 in the
 * environment forces one (for tests and benchmarks). */
const vg_cpu_simd_t *vg_cpu_simd(void);

#endif
