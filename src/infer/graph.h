/*
 * graph.h: the inference engine's graph IR.
 *
 * A graph is a list of values (tensors with a name; constants carry their
 * data) and a list of nodes (an operator, its attributes, input and output
 * value indices). Loaders (tfjs.c, onnx.c) translate a file's operators into
 * these vg_op_t operators; everything after loading (shape inference,
 * constant folding, fusion, memory planning, execution) works on this IR
 * only, so a new file format or a new backend touches one side.
 *
 * Layout is explicit: a convolution or pooling node states the layout of its
 * activations (NHWC as TensorFlow, NCHW as ONNX) and of its filter (HWIO,
 * HWCM for depthwise, OIHW); tensors themselves are plain row-major arrays.
 *
 * The graph owns its names and constant data. Built by one thread; after
 * vg_model_load() returns it is read-only and may be shared.
 */
#ifndef VG_INFER_GRAPH_H
#define VG_INFER_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "infer/tensor.h"

/* XX(ENUM, "name") */
#define VG_OPS(XX)                                                                                           \
  XX(IDENTITY, "Identity")                                                                                   \
  XX(CONV, "Conv")                                                                                           \
  XX(MAXPOOL, "MaxPool")                                                                                     \
  XX(AVGPOOL, "AveragePool")                                                                                 \
  XX(ADD, "Add")                                                                                             \
  XX(SUB, "Sub")                                                                                             \
  XX(MUL, "Mul")                                                                                             \
  XX(DIV, "Div")                                                                                             \
  XX(FLOORDIV, "FloorDiv")                                                                                   \
  XX(FLOORMOD, "FloorMod")                                                                                   \
  XX(EQUAL, "Equal")                                                                                         \
  XX(MAXIMUM, "Max")                                                                                         \
  XX(MINIMUM, "Min")                                                                                         \
  XX(POW, "Pow")                                                                                             \
  XX(RELU, "Relu")                                                                                           \
  XX(RELU6, "Relu6")                                                                                         \
  XX(LEAKYRELU, "LeakyRelu")                                                                                 \
  XX(SIGMOID, "Sigmoid")                                                                                     \
  XX(CLIP, "Clip")                                                                                           \
  XX(HARDSIGMOID, "HardSigmoid")                                                                             \
  XX(HARDSWISH, "HardSwish")                                                                                 \
  XX(TANH, "Tanh")                                                                                           \
  XX(EXP, "Exp")                                                                                             \
  XX(NEG, "Neg")                                                                                             \
  XX(SQRT, "Sqrt")                                                                                           \
  XX(TRANSPOSE, "Transpose")                                                                                 \
  XX(PAD, "Pad")                                                                                             \
  XX(CONCAT, "Concat")                                                                                       \
  XX(RESHAPE, "Reshape")                                                                                     \
  XX(RESIZE, "Resize")                                                                                       \
  XX(SPLIT, "Split")                                                                                         \
  XX(SPARSE_TO_DENSE, "SparseToDense")                                                                       \
  XX(MEAN, "Mean")                                                                                           \
  XX(CAST, "Cast")                                                                                           \
  XX(STRIDED_SLICE, "StridedSlice")                                                                          \
  XX(TOPK, "TopK")                                                                                           \
  XX(GATHER, "Gather")                                                                                       \
  XX(SOFTMAX, "Softmax")                                                                                     \
  XX(MATMUL, "MatMul")                                                                                       \
  XX(GEMM, "Gemm")                                                                                           \
  XX(BATCHNORM, "BatchNormalization")                                                                        \
  XX(SHAPE, "Shape")                                                                                         \
  XX(GLOBALAVGPOOL, "GlobalAveragePool")                                                                     \
  XX(EXPAND_DIMS, "ExpandDims")                                                                              \
  XX(SQUEEZE, "Squeeze")                                                                                     \
  XX(UNSQUEEZE, "Unsqueeze")                                                                                 \
  XX(FLATTEN, "Flatten")                                                                                     \
  XX(SLICE, "Slice")

typedef enum {
#define VG__OP_ENUM(e, s) VG_OP_##e,
  VG_OPS(VG__OP_ENUM)
#undef VG__OP_ENUM
      VG_OP_COUNT
} vg_op_t;

const char *vg_op_name(vg_op_t op);
/* One input, one output of the same shape, each element mapped on its own
 * (Relu, Sigmoid, Clip, ...): what shape inference, transpose sinking,
 * in-place planning and the kernels treat alike. */
int vg_op_is_unary_elementwise(vg_op_t op);

typedef enum { VG_LAYOUT_NHWC = 0, VG_LAYOUT_NCHW } vg_layout_t;
/* Filter layouts: HWIO (TF Conv2D), HWCM (TF depthwise: channel, multiplier),
 * OIHW (ONNX, grouped when group > 1), and PACKED: the CPU backend's GEMM
 * panels (only its own kernels read those). */
typedef enum { VG_FILTER_HWIO = 0, VG_FILTER_HWCM, VG_FILTER_OIHW, VG_FILTER_PACKED } vg_filter_layout_t;
/* SAME pads so that out = ceil(in / stride), the extra pixel at the end
 * (TensorFlow, ONNX SAME_UPPER) or at the start (SAME_LOWER). */
typedef enum { VG_PAD_EXPLICIT = 0, VG_PAD_VALID, VG_PAD_SAME_UPPER, VG_PAD_SAME_LOWER } vg_pad_mode_t;
/* Activations a convolution (or the optimizer) fuses into its output. */
typedef enum {
  VG_ACT_NONE = 0,
  VG_ACT_RELU,
  VG_ACT_RELU6,
  VG_ACT_LEAKY,
  VG_ACT_SIGMOID,
  VG_ACT_CLIP,
  VG_ACT_HARDSWISH, /* x * relu6(x + alpha) * beta (alpha 3, beta 1/6 as the graph says) */
} vg_act_t;
/* Resize coordinate transformations. */
typedef enum { VG_RESIZE_ASYMMETRIC = 0, VG_RESIZE_HALF_PIXEL, VG_RESIZE_ALIGN_CORNERS } vg_resize_coord_t;

#define VG_NODE_MAX_IN 64

#define VG_FDW_EXPAND 1
#define VG_FDW_PROJECT 2
#define VG_NODE_MAX_OUT 8

typedef struct {
  vg_layout_t layout;
  vg_filter_layout_t filter_layout;
  vg_pad_mode_t pad_mode;
  int64_t strides[2], dilations[2], ksize[2];
  int64_t pads[4]; /* top, left, bottom, right */
  int64_t group;
  int count_include_pad;
  int ceil_mode;
  vg_act_t act;
  float alpha, beta; /* LeakyRelu slope; Clip min/max; HardSigmoid alpha/beta; Gemm scales */
  float epsilon;
  int64_t axis;
  int keep_dims;
  int trans_a, trans_b;
  vg_resize_coord_t coord;
  int nearest;
  int64_t begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask;
  vg_dtype_t to;
  float pad_value;
  int pad_reflect;
  int64_t k;
  /* ONNX semantics where they differ from TensorFlow's (Reshape: a 0 copies
   * the input's dimension; Pad: begins then ends). */
  int onnx;
  /* Set by the CPU backend: a 3x3 stride-1 convolution run as Winograd
   * with transformed, packed weights (2: F(2x2, 3x3), 4: F(4x4, 3x3)). */
  int winograd;
  /* Set by the int8 pass (quant.h) on a convolution it quantized: inputs
   * are x, the packed s8 weights, bias, per-channel weight scales and
   * per-channel weight sums. */
  int quant;
  /* Set by the CPU backend on a 1x1 convolution with a depthwise
   * convolution fused into it: inputs 3 and 4 are the depthwise filter
   * (HWCM) and bias (-1: none), fdw its window and activation. EXPAND: the
   * depthwise one reads this node's result and the node outputs the
   * depthwise output; PROJECT: the depthwise one reads input 0 and this
   * node's 1x1 reads its result. The tensor between the two never exists
   * whole (see cpu.c). */
  /* Set by the memory planner on a node whose backend kernel writes
   * pitched output (vg_backend_t.writes_pitched): its output's innermost
   * rows are out_pitch elements apart, because the output is a slice of a
   * concatenation's buffer. 0: dense. */
  int64_t out_pitch;
  struct {
    int on; /* 0, VG_FDW_EXPAND or VG_FDW_PROJECT */
    int64_t ksize[2], strides[2], pads[4], dilations[2];
    vg_act_t act;
    float alpha, beta;
  } fdw;
  /* Integer lists given as attributes (ONNX perm/axes/split/shape); TF passes
   * these as constant inputs instead. n_ints < 0: none given. */
  int n_ints;
  int64_t ints[2 * VG_TENSOR_MAX_DIMS];
  int n_ints2;
  int64_t ints2[2 * VG_TENSOR_MAX_DIMS];
} vg_attrs_t;

typedef struct {
  vg_op_t op;
  char *name;   /* the file's node name */
  char *src_op; /* the file's operator name, e.g. "FusedDepthwiseConv2dNative" */
  int n_in, n_out;
  int in[VG_NODE_MAX_IN]; /* value indices; -1 for an omitted optional input */
  int out[VG_NODE_MAX_OUT];
  vg_attrs_t a;
  int dead; /* removed by an optimization pass */
} vg_node_t;

typedef struct {
  char *name;
  vg_tensor_t t; /* shape and dtype after inference; data when constant */
  int is_const;
  int producer; /* node index, -1 for inputs and constants */
  int is_input, is_output;
  int n_uses;
  /* memory planner: [first, last] node positions and the arena offset */
  int first, last;
  size_t offset;
} vg_value_t;

typedef struct {
  vg_value_t *values;
  int n_values, cap_values;
  vg_node_t *nodes;
  int n_nodes, cap_nodes;
  int inputs[8], n_inputs;
  int outputs[16], n_outputs;
  char err[512]; /* the last error, naming the node and operator */
} vg_graph_t;

void vg_graph_init(vg_graph_t *g);
void vg_graph_free(vg_graph_t *g);
/* Returns the index of the value named name, or -1. Linear in size but only
 * used while loading. */
int vg_graph_find_value(const vg_graph_t *g, const char *name);
/* Adds a value (name copied); returns its index or a negative VG_E* code. */
int vg_graph_add_value(vg_graph_t *g, const char *name);
/* Returns the value named name, adding it when missing. */
int vg_graph_value(vg_graph_t *g, const char *name);
/* Adds a node of op with no inputs or outputs yet; returns its index. */
int vg_graph_add_node(vg_graph_t *g, vg_op_t op, const char *name, const char *src_op);
void vg_attrs_init(vg_attrs_t *a);
/* Records an error message in g->err and returns err. */
int vg_graph_fail(vg_graph_t *g, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
