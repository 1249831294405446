/* cpu_int8_vnni.c: the int8 path's AVX-512 VNNI kernels (see quant.h).
 * Compiled with per-function target attributes so the rest of the build
 * keeps the baseline ISA; callers check vg_int8_vnni_available() first. */
#include <string.h>

#include "infer/quant.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

VNNI void vg_q8_minmax_vnni(const float *x, int64_t n, float *lo, float *hi) {
  __m512 mn = _mm512_set1_ps(0.0f), mx = _mm512_set1_ps(0.0f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 v = _mm512_loadu_ps(x + i);
    mn = _mm512_min_ps(mn, v);
    mx = _mm512_max_ps(mx, v);
  }
  if (i < n) {
    __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
    __m512 v = _mm512_maskz_loadu_ps(k, x + i);
    mn = _mm512_min_ps(mn, v);
    mx = _mm512_max_ps(mx, v);
  }
  *lo = _mm512_reduce_min_ps(mn);
  *hi = _mm512_reduce_max_ps(mx);
}

VNNI void vg_q8_quantize_vnni(const float *x, int64_t n, float inv, int32_t zp, uint8_t *dst) {
  __m512 vinv = _mm512_set1_ps(inv);
  __m512i vzp = _mm512_set1_epi32(zp), lo = _mm512_setzero_si512(), hi = _mm512_set1_epi32(255);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + i), vinv)), vzp);
    q = _mm512_min_epi32(_mm512_max_epi32(q, lo), hi);
    _mm_storeu_si128((__m128i *)(dst + i), _mm512_cvtepi32_epi8(q));
  }
  if (i < n) {
    __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
    __m512i q =
        _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), vinv)), vzp);
    q = _mm512_min_epi32(_mm512_max_epi32(q, lo), hi);
    _mm512_mask_cvtepi32_storeu_epi8(dst + i, k, q);
  }
}

/* MR rows by NP panels of accumulators (12 x 2 = 24 of the 32 registers);
 * per group of 4 K values: NP panel loads, MR broadcasts, MR * NP VPDPBUSD. */
static inline __attribute__((always_inline)) VNNI void
q8_tile(const int MR, const int NP, int64_t K4, const uint8_t *A, int64_t lda, const int32_t *B,
        int64_t pstride, int32_t zp, const int32_t *colsum, const float *mscale, const float *bias, float *C,
        int64_t ldc, int ncols, vg_act_t act, float alpha, float beta) {
  __m512i acc[12][2];
  for (int r = 0; r < MR; r++)
    for (int p = 0; p < NP; p++)
      acc[r][p] = _mm512_setzero_si512();
  int64_t groups = K4 / 4;
  for (int64_t g = 0; g < groups; g++) {
    __m512i b0 = _mm512_loadu_si512(B + g * VG_Q8_NR), b1 = b0;
    if (NP > 1) b1 = _mm512_loadu_si512(B + pstride + g * VG_Q8_NR);
    for (int r = 0; r < MR; r++) {
      int32_t a4;
      memcpy(&a4, A + r * lda + g * 4, 4);
      __m512i a = _mm512_set1_epi32(a4);
      acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], a, b0);
      if (NP > 1) acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], a, b1);
    }
  }
  __m512i vzp = _mm512_set1_epi32(zp);
  for (int p = 0; p < NP; p++) {
    int left = ncols - p * VG_Q8_NR;
    if (left <= 0) break;
    __mmask16 k = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
    __m512i corr = _mm512_mullo_epi32(vzp, _mm512_loadu_si512(colsum + p * VG_Q8_NR));
    __m512 ms = _mm512_loadu_ps(mscale + p * VG_Q8_NR), bs = _mm512_loadu_ps(bias + p * VG_Q8_NR);
    for (int r = 0; r < MR; r++) {
      __m512 v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][p], corr)), ms, bs);
      if (act == VG_ACT_RELU)
        v = _mm512_max_ps(v, _mm512_setzero_ps());
      else if (act == VG_ACT_LEAKY)
        v = _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v,
                               _mm512_set1_ps(alpha));
      else if (act == VG_ACT_RELU6)
        v = _mm512_min_ps(_mm512_max_ps(v, _mm512_setzero_ps()), _mm512_set1_ps(6.0f));
      else if (act == VG_ACT_CLIP)
        v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(alpha)), _mm512_set1_ps(beta));
      _mm512_mask_storeu_ps(C + r * ldc + p * VG_Q8_NR, k, v);
    }
  }
}

#define Q8_CASE(mr)                                                                                          \
  case mr:                                                                                                   \
    if (np > 1)                                                                                              \
      q8_tile(mr, 2, K4, a, lda, B, pstride, zp, colsum, mscale, bias, c, ldc, ncols, act, alpha, beta);     \
    else                                                                                                     \
      q8_tile(mr, 1, K4, a, lda, B, pstride, zp, colsum, mscale, bias, c, ldc, ncols, act, alpha, beta);     \
    break;

VNNI void vg_q8_gemm_vnni(int64_t M, int64_t K4, const uint8_t *A, int64_t lda, const int32_t *B,
                          int64_t pstride, int np, int32_t zp, const int32_t *colsum, const float *mscale,
                          const float *bias, float *C, int64_t ldc, int ncols, vg_act_t act, float alpha,
                          float beta) {
  for (int64_t m = 0; m < M; m += 12) {
    int mr = M - m < 12 ? (int)(M - m) : 12;
    const uint8_t *a = A + m * lda;
    float *c = C + m * ldc;
    switch (mr) {
      Q8_CASE(12)
      Q8_CASE(11)
      Q8_CASE(10)
      Q8_CASE(9)
      Q8_CASE(8)
      Q8_CASE(7)
      Q8_CASE(6)
      Q8_CASE(5)
      Q8_CASE(4)
      Q8_CASE(3)
      Q8_CASE(2)
      Q8_CASE(1)
    }
  }
}
#undef Q8_CASE

#else

void vg_q8_minmax_vnni(const float *x, int64_t n, float *lo, float *hi) { (void)x, (void)n, *lo = *hi = 0; }
void vg_q8_quantize_vnni(const float *x, int64_t n, float inv, int32_t zp, uint8_t *dst) {
  (void)x, (void)n, (void)inv, (void)zp, (void)dst;
}
void vg_q8_gemm_vnni(int64_t M, int64_t K4, const uint8_t *A, int64_t lda, const int32_t *B, int64_t pstride,
                     int np, int32_t zp, const int32_t *colsum, const float *mscale, const float *bias,
                     float *C, int64_t ldc, int ncols, vg_act_t act, float alpha, float beta) {
  (void)act, (void)alpha, (void)beta, (void)M, (void)K4, (void)A, (void)lda, (void)B, (void)pstride, (void)np,
      (void)zp, (void)colsum, (void)mscale, (void)bias, (void)C, (void)ldc, (void)ncols;
}

#endif
