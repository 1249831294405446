/* onnx.c: the ONNX model loader (placeholder until the protobuf decoder lands). */
#include "base/error.h"
#include "infer/model.h"

int vg_onnx_parse(vg_graph_t *g, const uint8_t *data, size_t len) {
  (void)data, (void)len;
  return vg_graph_fail(g, VG_EUNSUPPORTED, "ONNX models are not supported yet");
}

int vg_onnx_load(vg_graph_t *g, const char *path) {
  (void)path;
  return vg_onnx_parse(g, NULL, 0);
}
