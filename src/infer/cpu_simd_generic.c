/* cpu_simd_generic.c: the CPU backend's kernels for generic (see cpu_simd.inc). */
#define SIMD_NAME generic
#define SIMD_STR "generic"
#define VL 4
#include "infer/cpu_simd.inc"
