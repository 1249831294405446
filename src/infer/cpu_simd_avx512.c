/* cpu_simd_avx512.c: the CPU backend's kernels for avx512 (see cpu_simd.inc). */
#define SIMD_NAME avx512
#define SIMD_STR "avx512"
#define VL 16
/* 32 vector registers: 12 rows x 2 vectors of accumulators. */
#define MR 12
#include "infer/cpu_simd.inc"
