/* fuzz_onnx.c: the ONNX loader's protobuf decoding on untrusted bytes, then
 * shape inference, constant folding and planning of whatever it accepts, on
 * both backends. */
#include <stddef.h>
#include <stdint.h>

#include "infer/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  for (int backend = 0; backend < 2; backend++) {
    vg_graph_t g;
    vg_graph_init(&g);
    if (vg_onnx_parse(&g, data, size) == 0) {
      vg_model_opts_t opts = {
          .backend = backend ? VG_BACKEND_CPU : VG_BACKEND_REF, .threads = 1, .max_tensor_bytes = 1 << 20};
      vg_model_t *m = NULL;
      char err[256];
      if (vg_model_from_graph(&m, &g, &opts, err, sizeof(err)) == 0) {
        /* The memory plan never lets two live buffers overlap. */
        if (vg_model_check_plan(m) != 0) __builtin_trap();
        vg_model_free(&m);
      }
    }
    vg_graph_free(&g);
  }
  vg_tensor_t t;
  if (vg_onnx_tensor(data, size, &t, NULL) == 0) vg_tensor_clear(&t);
  return 0;
}
