/*
 * quant.h: the inference engine's int8 path: dense convolutions with 8-bit
 * weights and activations, behind vg_model_opts_t.precision.
 *
 * What is quantized: every dense NHWC convolution (group 1, dilation 1,
 * constant f32 HWIO filter), the RGB input layer included, except 1x1
 * convolutions that the CPU backend fuses with a depthwise one to save
 * memory; depthwise convolutions and everything else stay f32. Weights are
 * symmetric s8 with one scale per output channel, computed at load time.
 * Activations are quantized at run time per tensor (dynamic: the input's
 * min and max, always including 0 so that zero padding is exact) to u8 with
 * a zero point. Products are summed in s32 (u8 x s8, the shape of x86's
 * VPDPBUSD), then the epilogue removes the zero point's share
 * (zp * sum of the channel's weights), scales, adds the bias and applies the
 * fused activation in f32, so each quantized layer reads and writes f32
 * tensors and the rest of the graph is untouched.
 *
 * Two kernels compute the same integers: a portable reference in plain C
 * (the oracle, used by the reference backend at int8) and an AVX-512 VNNI
 * one (the CPU backend at int8). Where the CPU lacks VNNI, int8 falls back
 * to the f32 CPU backend (vg_int8_backend says which).
 *
 * Everything here runs at load time or inside a kernel; the kernels are
 * thread-safe like every other kernel.
 */
#ifndef VG_INFER_QUANT_H
#define VG_INFER_QUANT_H

#include <stdint.h>

#include "infer/graph.h"
#include "infer/model.h"

/* Packed weights: output channels in panels of VG_Q8_NR; inside a panel,
 * for each group of 4 consecutive K indices, VG_Q8_NR int32 words each
 * holding the 4 s8 weights of one output channel (K padded to a multiple
 * of 4 with zeros): one VPDPBUSD operand per group. */
#define VG_Q8_NR 16

/* The backend to use for base at int8: an int8 variant of the reference
 * or CPU backend, or base itself when the CPU lacks VNNI (f32 fallback). */
const vg_backend_t *vg_int8_backend(const vg_backend_t *base);
/* "f32" or "int8" into *out; VG_EINVAL for anything else. */
int vg_precision_parse(const char *name, vg_precision_t *out);
/* 1 when this CPU runs the VNNI kernel (VIGIL_NO_VNNI=1 pretends not). */
int vg_int8_vnni_available(void);

/* The graph pass: quantizes the eligible convolutions of g in place (node
 * attribute a.quant set, inputs rewritten to the packed form). Called by
 * the int8 backends' prepare, after fusion and before f32 weight packing.
 * VIGIL_INT8_SKIP=name1,name2 keeps the named convolutions f32. */
int vg_int8_quantize_graph(vg_graph_t *g);

/* The CPU backend's own pipeline with the quantization pass in it. */
int vg_cpu_prepare_int8(vg_graph_t *g);

/* Per-tensor dynamic quantization parameters: q = clamp(rint(x * inv) + zp). */
typedef struct {
  float scale, inv;
  int32_t zp;
} vg_q8_params_t;
void vg_q8_params(float lo, float hi, vg_q8_params_t *p);

/* The AVX-512 VNNI pieces (cpu_int8_vnni.c; absent off x86-64). */
void vg_q8_minmax_vnni(const float *x, int64_t n, float *lo, float *hi);
void vg_q8_quantize_vnni(const float *x, int64_t n, float inv, int32_t zp, uint8_t *dst);
/* C[m, 0..ncols) = act((A[m,:] . B - zp * colsum) * mscale + bias) for m < M
 * (act: NONE, RELU, RELU6, LEAKY or CLIP; the caller applies the others):
 * A is u8 (K4 bytes per row, lda apart), B np (1 or 2) consecutive packed
 * panels (pstride int32 words apart), ncols <= np * VG_Q8_NR. */
void vg_q8_gemm_vnni(int64_t M, int64_t K4, const uint8_t *A, int64_t lda, const int32_t *B, int64_t pstride,
                     int np, int32_t zp, const int32_t *colsum, const float *mscale, const float *bias,
                     float *C, int64_t ldc, int ncols, vg_act_t act, float alpha, float beta);

#endif
