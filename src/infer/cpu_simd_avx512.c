/* cpu_simd_avx512.c: the CPU backend's kernels for avx512 (see cpu_simd.inc). */
#define SIMD_NAME avx512
#define SIMD_STR "avx512"
#define VL 16
#include "infer/cpu_simd.inc"
