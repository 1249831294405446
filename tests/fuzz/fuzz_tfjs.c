/* fuzz_tfjs.c: the TF.js graph-model loader on untrusted model.json and
 * weights bytes, then shape inference, constant folding and planning.
 *
 * Input layout: a 4-byte little-endian length L, L bytes of model.json, and
 * the rest as the concatenated weights files. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "infer/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4) return 0;
  uint32_t jl =
      (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
  data += 4;
  size -= 4;
  if (jl > size) jl = (uint32_t)size;
  vg_graph_t g;
  vg_graph_init(&g);
  if (vg_tfjs_parse(&g, (const char *)data, jl, data + jl, size - jl) == 0) {
    /* Small tensors only, so a file that declares a huge one is rejected
     * quickly instead of exhausting the fuzzer's memory. */
    vg_model_opts_t opts = {.backend = VG_BACKEND_REF, .threads = 1, .max_tensor_bytes = 1 << 20};
    vg_model_t *m = NULL;
    char err[256];
    if (vg_model_from_graph(&m, &g, &opts, err, sizeof(err)) == 0) {
      /* The memory plan never lets two live buffers overlap. */
      if (vg_model_check_plan(m) != 0) __builtin_trap();
      vg_model_free(&m);
    }
  }
  vg_graph_free(&g);
  return 0;
}
