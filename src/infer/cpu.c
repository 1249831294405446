/* cpu.c: the optimized CPU backend. */
#include "infer/model.h"

const vg_backend_t vg_backend_cpu = {"cpu", NULL, NULL};
