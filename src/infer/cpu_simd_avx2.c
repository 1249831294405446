/* cpu_simd_avx2.c: the CPU backend's kernels for avx2 (see cpu_simd.inc). */
#define SIMD_NAME avx2
#define SIMD_STR "avx2"
#define VL 8
#include "infer/cpu_simd.inc"
