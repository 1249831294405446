/* tfjs.c: the TensorFlow.js graph-model loader (model.json + weights).
 *
 * model.json holds a TensorFlow GraphDef in JSON (modelTopology.node: name,
 * op, input, attr) and a weights manifest: groups of binary files whose
 * concatenation holds every constant in manifest order, possibly quantized
 * (float16, or affine uint8/uint16). Each TF op maps onto one vg_op_t; an op
 * outside the table is an error naming the node. Everything read from the
 * files is bounded and checked: the parser never reads past the JSON text or
 * the weights blob. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "infer/model.h"

#define TFJS_MAX_JSON (64u << 20)
#define TFJS_MAX_WEIGHTS (1024u << 20)
#define TFJS_MAX_FILES 64

static int fail_node(vg_graph_t *g, const char *name, const char *op, int err, const char *why) {
  return vg_graph_fail(g, err, "node '%s' (op %s): %s", name, op, why);
}

/* ---- attributes --------------------------------------------------------------- */

static json_t *attr(json_t *node, const char *key) {
  json_t *a = json_object_get(node, "attr");
  return json_is_object(a) ? json_object_get(a, key) : NULL;
}

/* Integers arrive as JSON strings ("1") or numbers. */
static int json_to_i64(json_t *v, int64_t *out) {
  if (json_is_integer(v)) {
    *out = json_integer_value(v);
    return 0;
  }
  if (json_is_string(v)) {
    char *end;
    const char *s = json_string_value(v);
    long long x = strtoll(s, &end, 10);
    if (end == s || *end) return VG_EPROTO;
    *out = x;
    return 0;
  }
  return VG_EPROTO;
}

static int attr_int(json_t *node, const char *key, int64_t *out) {
  json_t *a = attr(node, key);
  if (!a) return VG_ENOENT;
  return json_to_i64(json_object_get(a, "i"), out);
}

static float attr_float(json_t *node, const char *key, float def) {
  json_t *a = attr(node, key);
  json_t *f = a ? json_object_get(a, "f") : NULL;
  return json_is_number(f) ? (float)json_number_value(f) : def;
}

static int attr_bool(json_t *node, const char *key) {
  json_t *a = attr(node, key);
  return a && json_is_true(json_object_get(a, "b"));
}

/* Decodes a base64 string attribute into buf (NUL-terminated). */
static int b64_char(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

static int decode_b64(const char *s, char *buf, size_t len) {
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (; *s && *s != '='; s++) {
    int v = b64_char(*s);
    if (v < 0) return VG_EPROTO;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o + 1 >= len) return VG_ETOOBIG;
      buf[o++] = (char)((acc >> bits) & 0xff);
    }
  }
  buf[o] = 0;
  return 0;
}

static int attr_str(json_t *node, const char *key, char *buf, size_t len) {
  json_t *a = attr(node, key);
  json_t *s = a ? json_object_get(a, "s") : NULL;
  if (!json_is_string(s)) return VG_ENOENT;
  return decode_b64(json_string_value(s), buf, len);
}

static int attr_int_list(json_t *node, const char *key, int64_t *v, int max) {
  json_t *a = attr(node, key);
  json_t *l = a ? json_object_get(a, "list") : NULL;
  json_t *i = json_is_object(l) ? json_object_get(l, "i") : NULL;
  if (!i) return a ? 0 : VG_ENOENT;
  if (!json_is_array(i) || (int)json_array_size(i) > max) return VG_EPROTO;
  for (size_t k = 0; k < json_array_size(i); k++)
    if (json_to_i64(json_array_get(i, k), &v[k])) return VG_EPROTO;
  return (int)json_array_size(i);
}

static int dtype_from_tf(const char *s, vg_dtype_t *dt) {
  if (!s) return VG_EPROTO;
  if (!strcmp(s, "DT_FLOAT"))
    *dt = VG_DT_F32;
  else if (!strcmp(s, "DT_INT32") || !strcmp(s, "DT_INT64"))
    *dt = VG_DT_I32;
  else if (!strcmp(s, "DT_BOOL"))
    *dt = VG_DT_BOOL;
  else
    return VG_EUNSUPPORTED;
  return 0;
}

/* ---- weights ------------------------------------------------------------------ */

static int weight_value(vg_graph_t *g, json_t *w, const uint8_t *blob, size_t blob_len, size_t *off) {
  const char *name = json_string_value(json_object_get(w, "name"));
  const char *dts = json_string_value(json_object_get(w, "dtype"));
  json_t *shape = json_object_get(w, "shape");
  if (!name || !dts || !json_is_array(shape) || json_array_size(shape) > VG_TENSOR_MAX_DIMS)
    return vg_graph_fail(g, VG_EPROTO, "weights manifest: an entry lacks name, dtype or shape");
  int64_t dims[VG_TENSOR_MAX_DIMS];
  int nd = (int)json_array_size(shape);
  for (int i = 0; i < nd; i++)
    if (json_to_i64(json_array_get(shape, (size_t)i), &dims[i]))
      return vg_graph_fail(g, VG_EPROTO, "weight '%s': bad shape", name);
  vg_dtype_t dt;
  if (!strcmp(dts, "float32"))
    dt = VG_DT_F32;
  else if (!strcmp(dts, "int32"))
    dt = VG_DT_I32;
  else if (!strcmp(dts, "bool"))
    dt = VG_DT_BOOL;
  else
    return vg_graph_fail(g, VG_EUNSUPPORTED, "weight '%s': dtype %s not supported", name, dts);
  int vi = vg_graph_value(g, name);
  if (vi < 0) return vi;
  vg_value_t *v = &g->values[vi];
  if (v->is_const) return vg_graph_fail(g, VG_EPROTO, "weight '%s' appears twice", name);
  int err = vg_tensor_set_shape(&v->t, dt, nd, dims);
  if (err) return vg_graph_fail(g, err, "weight '%s': bad shape", name);
  int64_t cnt = vg_tensor_numel(&v->t);
  json_t *q = json_object_get(w, "quantization");
  const char *qdt = q ? json_string_value(json_object_get(q, "dtype")) : NULL;
  size_t esz = qdt ? (!strcmp(qdt, "float16") || !strcmp(qdt, "uint16") ? 2
                      : !strcmp(qdt, "uint8")                           ? 1
                                                                        : 0)
                   : vg_dtype_size(dt);
  if (!esz) return vg_graph_fail(g, VG_EUNSUPPORTED, "weight '%s': quantization %s", name, qdt);
  if (*off > blob_len || (size_t)cnt > (blob_len - *off) / esz)
    return vg_graph_fail(g, VG_EPROTO, "weight '%s' lies past the end of the weights files", name);
  if ((err = vg_tensor_alloc(&v->t))) return err;
  const uint8_t *p = blob + *off;
  if (!qdt) {
    memcpy(v->t.data, p, (size_t)cnt * esz);
  } else if (!strcmp(qdt, "float16")) {
    if (dt != VG_DT_F32) return vg_graph_fail(g, VG_EPROTO, "weight '%s': float16 for a non-float", name);
    float *f = v->t.data;
    for (int64_t i = 0; i < cnt; i++)
      f[i] = vg_f16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
  } else {
    /* Affine quantization: value = q * scale + min. */
    json_t *js = json_object_get(q, "scale"), *jm = json_object_get(q, "min");
    float scale = json_is_number(js) ? (float)json_number_value(js) : 1.0f;
    float mn = json_is_number(jm) ? (float)json_number_value(jm) : 0.0f;
    for (int64_t i = 0; i < cnt; i++) {
      uint32_t qv = esz == 1 ? p[i] : (uint32_t)(p[2 * i] | (p[2 * i + 1] << 8));
      float val = (float)qv * scale + mn;
      if (dt == VG_DT_F32)
        ((float *)v->t.data)[i] = val;
      else if (dt == VG_DT_I32)
        ((int32_t *)v->t.data)[i] = (int32_t)val;
      else
        ((uint8_t *)v->t.data)[i] = val != 0;
    }
  }
  *off += (size_t)cnt * esz;
  v->is_const = 1;
  return 0;
}

/* ---- nodes -------------------------------------------------------------------- */

typedef struct {
  const char *tf;
  vg_op_t op;
} op_map_t;

static const op_map_t simple_ops[] = {
    {"Identity", VG_OP_IDENTITY},
    {"Add", VG_OP_ADD},
    {"AddV2", VG_OP_ADD},
    {"BiasAdd", VG_OP_ADD},
    {"Sub", VG_OP_SUB},
    {"Mul", VG_OP_MUL},
    {"RealDiv", VG_OP_DIV},
    {"Div", VG_OP_DIV},
    {"FloorDiv", VG_OP_FLOORDIV},
    {"FloorMod", VG_OP_FLOORMOD},
    {"Equal", VG_OP_EQUAL},
    {"Maximum", VG_OP_MAXIMUM},
    {"Minimum", VG_OP_MINIMUM},
    {"Pow", VG_OP_POW},
    {"Relu", VG_OP_RELU},
    {"Relu6", VG_OP_RELU6},
    {"LeakyRelu", VG_OP_LEAKYRELU},
    {"Sigmoid", VG_OP_SIGMOID},
    {"Tanh", VG_OP_TANH},
    {"Exp", VG_OP_EXP},
    {"Neg", VG_OP_NEG},
    {"Sqrt", VG_OP_SQRT},
    {"Transpose", VG_OP_TRANSPOSE},
    {"Pad", VG_OP_PAD},
    {"PadV2", VG_OP_PAD},
    {"MirrorPad", VG_OP_PAD},
    {"ConcatV2", VG_OP_CONCAT},
    {"Reshape", VG_OP_RESHAPE},
    {"ExpandDims", VG_OP_EXPAND_DIMS},
    {"Squeeze", VG_OP_SQUEEZE},
    {"ResizeBilinear", VG_OP_RESIZE},
    {"ResizeNearestNeighbor", VG_OP_RESIZE},
    {"SplitV", VG_OP_SPLIT},
    {"SparseToDense", VG_OP_SPARSE_TO_DENSE},
    {"Mean", VG_OP_MEAN},
    {"Cast", VG_OP_CAST},
    {"StridedSlice", VG_OP_STRIDED_SLICE},
    {"TopKV2", VG_OP_TOPK},
    {"GatherV2", VG_OP_GATHER},
    {"Softmax", VG_OP_SOFTMAX},
    {"Conv2D", VG_OP_CONV},
    {"_FusedConv2D", VG_OP_CONV},
    {"DepthwiseConv2dNative", VG_OP_CONV},
    {"FusedDepthwiseConv2dNative", VG_OP_CONV},
    {"MaxPool", VG_OP_MAXPOOL},
    {"AvgPool", VG_OP_AVGPOOL},
};

/* Strips ":0" and reports the output index of a "name:k" reference. */
static int parse_ref(const char *ref, char *name, size_t len, int *index) {
  size_t n = strlen(ref);
  *index = 0;
  const char *colon = strrchr(ref, ':');
  if (colon) {
    char *end;
    long k = strtol(colon + 1, &end, 10);
    if (end != colon + 1 && !*end && k >= 0 && k < VG_NODE_MAX_OUT) {
      *index = (int)k;
      n = (size_t)(colon - ref);
    }
  }
  if (n + 1 > len) return VG_ETOOBIG;
  memcpy(name, ref, n);
  name[n] = 0;
  return 0;
}

static int value_for_ref(vg_graph_t *g, const char *ref) {
  char name[512];
  int k;
  if (parse_ref(ref, name, sizeof(name), &k)) return VG_ETOOBIG;
  if (k == 0) return vg_graph_value(g, name);
  char full[540];
  snprintf(full, sizeof(full), "%s:%d", name, k);
  return vg_graph_value(g, full);
}

/* Convolution and pooling attributes in the TF encoding. */
static int conv_attrs(vg_graph_t *g, json_t *jn, vg_node_t *n) {
  char buf[64];
  int64_t v[8];
  if (attr_str(jn, "data_format", buf, sizeof(buf)) == 0 && !strcmp(buf, "NCHW"))
    n->a.layout = VG_LAYOUT_NCHW;
  int hw = n->a.layout == VG_LAYOUT_NHWC ? 1 : 2;
  if (attr_str(jn, "padding", buf, sizeof(buf)) != 0)
    return fail_node(g, n->name, n->src_op, VG_EPROTO, "missing padding");
  if (!strcmp(buf, "SAME")) {
    n->a.pad_mode = VG_PAD_SAME_UPPER;
  } else if (!strcmp(buf, "VALID")) {
    n->a.pad_mode = VG_PAD_VALID;
  } else if (!strcmp(buf, "EXPLICIT")) {
    n->a.pad_mode = VG_PAD_EXPLICIT;
    if (attr_int_list(jn, "explicit_paddings", v, 8) != 8)
      return fail_node(g, n->name, n->src_op, VG_EPROTO, "bad explicit_paddings");
    n->a.pads[0] = v[2 * hw];
    n->a.pads[2] = v[2 * hw + 1];
    n->a.pads[1] = v[2 * hw + 2];
    n->a.pads[3] = v[2 * hw + 3];
  } else {
    return fail_node(g, n->name, n->src_op, VG_EUNSUPPORTED, "unknown padding");
  }
  if (attr_int_list(jn, "strides", v, 8) == 4) n->a.strides[0] = v[hw], n->a.strides[1] = v[hw + 1];
  if (attr_int_list(jn, "dilations", v, 8) == 4) n->a.dilations[0] = v[hw], n->a.dilations[1] = v[hw + 1];
  if (attr_int_list(jn, "ksize", v, 8) == 4) n->a.ksize[0] = v[hw], n->a.ksize[1] = v[hw + 1];
  return 0;
}

/* Fused convolutions carry their bias and activation as fused_ops. */
static int fused_attrs(vg_graph_t *g, json_t *jn, vg_node_t *n, int *n_inputs) {
  json_t *a = attr(jn, "fused_ops");
  json_t *l = a ? json_object_get(a, "list") : NULL;
  json_t *s = json_is_object(l) ? json_object_get(l, "s") : NULL;
  if (!json_is_array(s)) return 0;
  int has_bias = 0;
  for (size_t i = 0; i < json_array_size(s); i++) {
    char op[64];
    if (!json_is_string(json_array_get(s, i)) ||
        decode_b64(json_string_value(json_array_get(s, i)), op, sizeof(op)))
      return fail_node(g, n->name, n->src_op, VG_EPROTO, "bad fused_ops");
    if (!strcmp(op, "BiasAdd"))
      has_bias = 1;
    else if (!strcmp(op, "Relu"))
      n->a.act = VG_ACT_RELU;
    else if (!strcmp(op, "Relu6"))
      n->a.act = VG_ACT_RELU6;
    else if (!strcmp(op, "LeakyRelu"))
      n->a.act = VG_ACT_LEAKY, n->a.alpha = attr_float(jn, "leakyrelu_alpha", 0.2f);
    else if (!strcmp(op, "Sigmoid"))
      n->a.act = VG_ACT_SIGMOID;
    else {
      char why[128];
      snprintf(why, sizeof(why), "fused operation %s not supported", op);
      return fail_node(g, n->name, n->src_op, VG_EUNSUPPORTED, why);
    }
  }
  if (*n_inputs > 3 || (*n_inputs == 3 && !has_bias) || (has_bias && *n_inputs != 3))
    return fail_node(g, n->name, n->src_op, VG_EUNSUPPORTED, "fused arguments other than one bias");
  return 0;
}

static int add_node(vg_graph_t *g, json_t *jn) {
  const char *name = json_string_value(json_object_get(jn, "name"));
  const char *op = json_string_value(json_object_get(jn, "op"));
  if (!name || !op) return vg_graph_fail(g, VG_EPROTO, "a node lacks its name or op");
  json_t *inputs = json_object_get(jn, "input");
  if (inputs && !json_is_array(inputs)) return fail_node(g, name, op, VG_EPROTO, "input is not a list");
  if (!strcmp(op, "Const")) {
    int vi = vg_graph_value(g, name);
    if (vi < 0) return vi;
    if (!g->values[vi].is_const) return fail_node(g, name, op, VG_EPROTO, "constant has no weights entry");
    return 0;
  }
  if (!strcmp(op, "Placeholder")) {
    int vi = vg_graph_value(g, name);
    if (vi < 0) return vi;
    vg_value_t *v = &g->values[vi];
    json_t *sa = attr(jn, "shape");
    json_t *sh = sa ? json_object_get(sa, "shape") : NULL;
    json_t *dim = json_is_object(sh) ? json_object_get(sh, "dim") : NULL;
    if (!json_is_array(dim) || json_array_size(dim) > VG_TENSOR_MAX_DIMS)
      return fail_node(g, name, op, VG_EUNSUPPORTED, "input without a static shape");
    int64_t d[VG_TENSOR_MAX_DIMS];
    int nd = (int)json_array_size(dim);
    for (int i = 0; i < nd; i++) {
      if (json_to_i64(json_object_get(json_array_get(dim, (size_t)i), "size"), &d[i]))
        return fail_node(g, name, op, VG_EPROTO, "bad input shape");
      /* A free batch dimension becomes 1; other free dimensions are unknown. */
      if (d[i] == -1 && i == 0) d[i] = 1;
      if (d[i] <= 0) return fail_node(g, name, op, VG_EUNSUPPORTED, "input without a static shape");
    }
    vg_dtype_t dt = VG_DT_F32;
    json_t *ta = attr(jn, "dtype");
    if (ta && dtype_from_tf(json_string_value(json_object_get(ta, "type")), &dt))
      return fail_node(g, name, op, VG_EUNSUPPORTED, "input dtype");
    int err = vg_tensor_set_shape(&v->t, dt, nd, d);
    if (err) return fail_node(g, name, op, err, "bad input shape");
    if (v->is_input || v->is_const) return fail_node(g, name, op, VG_EPROTO, "duplicate input");
    if (g->n_inputs >= (int)(sizeof(g->inputs) / sizeof(g->inputs[0])))
      return fail_node(g, name, op, VG_ETOOBIG, "too many inputs");
    v->is_input = 1;
    g->inputs[g->n_inputs++] = vi;
    return 0;
  }
  vg_op_t vop = VG_OP_COUNT;
  for (size_t i = 0; i < sizeof(simple_ops) / sizeof(simple_ops[0]); i++)
    if (!strcmp(op, simple_ops[i].tf)) vop = simple_ops[i].op;
  if (vop == VG_OP_COUNT) return fail_node(g, name, op, VG_EUNSUPPORTED, "operator not supported");
  int ni = vg_graph_add_node(g, vop, name, op);
  if (ni < 0) return ni;
  int n_in = 0;
  int in_idx[VG_NODE_MAX_IN];
  for (size_t i = 0; inputs && i < json_array_size(inputs); i++) {
    const char *ref = json_string_value(json_array_get(inputs, i));
    if (!ref) return fail_node(g, name, op, VG_EPROTO, "input is not a string");
    if (ref[0] == '^') continue; /* a control dependency orders nothing here */
    if (n_in >= VG_NODE_MAX_IN) return fail_node(g, name, op, VG_ETOOBIG, "too many inputs");
    int vi = value_for_ref(g, ref);
    if (vi < 0) return fail_node(g, name, op, vi, "bad input reference");
    in_idx[n_in++] = vi;
  }
  vg_node_t *n = &g->nodes[ni];
  n->n_in = n_in;
  memcpy(n->in, in_idx, sizeof(int) * (size_t)n_in);
  int n_out = 1;
  int64_t iv;
  if (vop == VG_OP_SPLIT) {
    if (attr_int(jn, "num_split", &iv) || iv < 1 || iv > VG_NODE_MAX_OUT)
      return fail_node(g, name, op, VG_EUNSUPPORTED, "bad num_split");
    n_out = (int)iv;
  } else if (vop == VG_OP_TOPK) {
    n_out = 2;
  }
  for (int k = 0; k < n_out; k++) {
    char full[540];
    if (k)
      snprintf(full, sizeof(full), "%s:%d", name, k);
    else
      snprintf(full, sizeof(full), "%s", name);
    int vi = vg_graph_value(g, full);
    if (vi < 0) return vi;
    n = &g->nodes[ni];
    n->out[k] = vi;
  }
  n->n_out = n_out;
  int err = 0;
  switch (vop) {
  case VG_OP_CONV:
    n->a.filter_layout = strstr(op, "Depthwise") ? VG_FILTER_HWCM : VG_FILTER_HWIO;
    if ((err = conv_attrs(g, jn, n))) return err;
    if (op[0] == '_' || !strncmp(op, "Fused", 5))
      err = fused_attrs(g, jn, n, &n->n_in);
    else if (n->n_in != 2)
      err = fail_node(g, name, op, VG_EPROTO, "a convolution takes 2 inputs");
    break;
  case VG_OP_MAXPOOL:
  case VG_OP_AVGPOOL: err = conv_attrs(g, jn, n); break;
  case VG_OP_LEAKYRELU: n->a.alpha = attr_float(jn, "alpha", 0.2f); break;
  case VG_OP_CONCAT: n->a.n_ints = -2; break;
  case VG_OP_PAD:
    if (!strcmp(op, "MirrorPad")) {
      char mode[32];
      if (attr_str(jn, "mode", mode, sizeof(mode)) || strcmp(mode, "REFLECT"))
        return fail_node(g, name, op, VG_EUNSUPPORTED, "only REFLECT mirror padding");
      n->a.pad_reflect = 1;
    }
    break;
  case VG_OP_SQUEEZE: {
    int64_t ax[VG_TENSOR_MAX_DIMS];
    int c = attr_int_list(jn, "squeeze_dims", ax, VG_TENSOR_MAX_DIMS);
    if (c < 0 && c != VG_ENOENT) return fail_node(g, name, op, VG_EPROTO, "bad squeeze_dims");
    if (c > 0) {
      n->a.n_ints = c;
      memcpy(n->a.ints, ax, sizeof(int64_t) * (size_t)c);
    }
    break;
  }
  case VG_OP_RESIZE:
    n->a.layout = VG_LAYOUT_NHWC;
    n->a.nearest = !strcmp(op, "ResizeNearestNeighbor");
    n->a.coord = attr_bool(jn, "align_corners")        ? VG_RESIZE_ALIGN_CORNERS
                 : attr_bool(jn, "half_pixel_centers") ? VG_RESIZE_HALF_PIXEL
                                                       : VG_RESIZE_ASYMMETRIC;
    if (n->a.nearest && n->a.coord != VG_RESIZE_ASYMMETRIC)
      return fail_node(g, name, op, VG_EUNSUPPORTED, "nearest resize with corner options");
    break;
  case VG_OP_MEAN: n->a.keep_dims = attr_bool(jn, "keep_dims"); break;
  case VG_OP_CAST: {
    json_t *ta = attr(jn, "DstT");
    if (!ta || dtype_from_tf(json_string_value(json_object_get(ta, "type")), &n->a.to))
      return fail_node(g, name, op, VG_EUNSUPPORTED, "cast target dtype");
    break;
  }
  case VG_OP_STRIDED_SLICE:
    attr_int(jn, "begin_mask", &n->a.begin_mask);
    attr_int(jn, "end_mask", &n->a.end_mask);
    attr_int(jn, "ellipsis_mask", &n->a.ellipsis_mask);
    attr_int(jn, "new_axis_mask", &n->a.new_axis_mask);
    attr_int(jn, "shrink_axis_mask", &n->a.shrink_axis_mask);
    break;
  case VG_OP_GATHER:
    if (attr_int(jn, "batch_dims", &iv) == 0 && iv != 0)
      return fail_node(g, name, op, VG_EUNSUPPORTED, "batch_dims other than 0");
    break;
  case VG_OP_SOFTMAX: n->a.axis = -1; break;
  default: break;
  }
  return err;
}

int vg_tfjs_parse(vg_graph_t *g, const char *text, size_t text_len, const uint8_t *blob, size_t blob_len) {
  json_error_t je;
  json_t *root = json_loadb(text, text_len, JSON_REJECT_DUPLICATES, &je);
  if (!root) return vg_graph_fail(g, VG_EPROTO, "model.json: %s (line %d)", je.text, je.line);
  int err = 0;
  json_t *topo = json_object_get(root, "modelTopology");
  json_t *nodes = json_is_object(topo) ? json_object_get(topo, "node") : NULL;
  json_t *manifest = json_object_get(root, "weightsManifest");
  if (!json_is_array(nodes) || !json_is_array(manifest)) {
    err = vg_graph_fail(g, VG_EPROTO, "model.json: not a graph model (modelTopology.node, weightsManifest)");
    goto out;
  }
  size_t off = 0;
  for (size_t gi = 0; gi < json_array_size(manifest) && !err; gi++) {
    json_t *ws = json_object_get(json_array_get(manifest, gi), "weights");
    if (!json_is_array(ws)) {
      err = vg_graph_fail(g, VG_EPROTO, "weights manifest: a group without weights");
      break;
    }
    for (size_t wi = 0; wi < json_array_size(ws) && !err; wi++)
      err = weight_value(g, json_array_get(ws, wi), blob, blob_len, &off);
  }
  for (size_t i = 0; i < json_array_size(nodes) && !err; i++) {
    json_t *jn = json_array_get(nodes, i);
    if (!json_is_object(jn))
      err = vg_graph_fail(g, VG_EPROTO, "a node is not an object");
    else
      err = add_node(g, jn);
  }
  if (err) goto out;
  if (g->n_inputs == 0) {
    err = vg_graph_fail(g, VG_EPROTO, "model.json: the graph has no input (Placeholder)");
    goto out;
  }
  /* Outputs: the signature's, in its order; else every unread node output. */
  json_t *sig = json_object_get(root, "signature");
  json_t *outs = json_is_object(sig) ? json_object_get(sig, "outputs") : NULL;
  if (json_is_object(outs) && json_object_size(outs) > 0) {
    const char *key;
    json_t *val;
    json_object_foreach(outs, key, val) {
      const char *ref = json_string_value(json_object_get(val, "name"));
      int vi = vg_graph_find_value(g, ref ? ref : key);
      if (vi < 0) {
        char nm[512];
        int k;
        if (!parse_ref(ref ? ref : key, nm, sizeof(nm), &k)) {
          char full[540];
          if (k)
            snprintf(full, sizeof(full), "%s:%d", nm, k);
          else
            snprintf(full, sizeof(full), "%s", nm);
          vi = vg_graph_find_value(g, full);
        }
      }
      if (vi < 0 || g->n_outputs >= (int)(sizeof(g->outputs) / sizeof(g->outputs[0]))) {
        err = vg_graph_fail(g, VG_EPROTO, "signature output '%s' is not in the graph", key);
        goto out;
      }
      /* Keep outputs sorted by name so that order never depends on the JSON
       * object's key order. */
      int p = g->n_outputs++;
      while (p > 0 && strcmp(g->values[g->outputs[p - 1]].name, g->values[vi].name) > 0) {
        g->outputs[p] = g->outputs[p - 1];
        p--;
      }
      g->outputs[p] = vi;
      g->values[vi].is_output = 1;
    }
  } else {
    for (int i = 0; i < g->n_nodes; i++) {
      for (int k = 0; k < g->nodes[i].n_out; k++) {
        int vi = g->nodes[i].out[k], used = 0;
        for (int j = 0; j < g->n_nodes && !used; j++)
          for (int q = 0; q < g->nodes[j].n_in; q++)
            used |= g->nodes[j].in[q] == vi;
        if (!used && g->n_outputs < (int)(sizeof(g->outputs) / sizeof(g->outputs[0]))) {
          g->outputs[g->n_outputs++] = vi;
          g->values[vi].is_output = 1;
        }
      }
    }
  }
  if (g->n_outputs == 0) err = vg_graph_fail(g, VG_EPROTO, "model.json: the graph has no outputs");
out:
  json_decref(root);
  return err;
}

static int read_file(const char *path, size_t max, uint8_t **data, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return vg_err_from_errno();
  uint8_t *buf = NULL;
  size_t n = 0, cap = 0;
  int sized = 0;
  /* A regular file's size is known: one buffer of exactly that size (plus
   * the terminating NUL) instead of doubling, which would leave up to twice
   * the file resident while loading. The loop below still bounds the read
   * should the file grow meanwhile. */
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size < max) {
    cap = (size_t)st.st_size;
    sized = 1;
    buf = malloc(cap + 1);
    if (!buf) {
      fclose(f);
      return VG_ENOMEM;
    }
  }
  for (;;) {
    if (n == cap && sized) {
      /* Filled as sized: done unless the file grew. */
      int c = fgetc(f);
      if (c == EOF) break;
      ungetc(c, f);
      sized = 0;
    }
    if (n == cap) {
      if (cap >= max) {
        free(buf);
        fclose(f);
        return VG_ETOOBIG;
      }
      cap = cap ? cap * 2 : 1 << 16;
      if (cap > max) cap = max;
      uint8_t *nb = realloc(buf, cap + 1);
      if (!nb) {
        free(buf);
        fclose(f);
        return VG_ENOMEM;
      }
      buf = nb;
    }
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (r == 0) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    return VG_EIO;
  }
  if (!buf) buf = malloc(1);
  if (!buf) return VG_ENOMEM;
  buf[n] = 0;
  *data = buf;
  *len = n;
  return 0;
}

int vg_tfjs_load(vg_graph_t *g, const char *json_path) {
  uint8_t *text = NULL, *blob = NULL;
  size_t text_len, blob_len = 0;
  int err = read_file(json_path, TFJS_MAX_JSON, &text, &text_len);
  if (err) return vg_graph_fail(g, err, "cannot read %s: %s", json_path, vg_strerror(err));
  /* Collect the weights files named by the manifest, relative to model.json. */
  json_t *root = json_loadb((const char *)text, text_len, 0, NULL);
  json_t *manifest = root ? json_object_get(root, "weightsManifest") : NULL;
  char dir[1024];
  const char *slash = strrchr(json_path, '/');
  size_t dl = slash ? (size_t)(slash - json_path) + 1 : 0;
  if (dl >= sizeof(dir)) dl = 0;
  memcpy(dir, json_path, dl);
  dir[dl] = 0;
  int files = 0;
  for (size_t gi = 0; json_is_array(manifest) && gi < json_array_size(manifest) && !err; gi++) {
    json_t *paths = json_object_get(json_array_get(manifest, gi), "paths");
    for (size_t pi = 0; json_is_array(paths) && pi < json_array_size(paths) && !err; pi++) {
      const char *p = json_string_value(json_array_get(paths, pi));
      if (!p || strstr(p, "..") || p[0] == '/' || ++files > TFJS_MAX_FILES) {
        err = vg_graph_fail(g, VG_EPROTO, "weights manifest: bad path");
        break;
      }
      char full[2048];
      snprintf(full, sizeof(full), "%s%s", dir, p);
      uint8_t *part;
      size_t plen;
      if ((err = read_file(full, TFJS_MAX_WEIGHTS, &part, &plen))) {
        vg_graph_fail(g, err, "cannot read %s: %s", full, vg_strerror(err));
        break;
      }
      if (blob_len + plen > TFJS_MAX_WEIGHTS) {
        free(part);
        err = vg_graph_fail(g, VG_ETOOBIG, "weights too large");
        break;
      }
      if (!blob) {
        /* The first (often the only) file is the blob: no copy. */
        blob = part;
        blob_len = plen;
        continue;
      }
      uint8_t *nb = realloc(blob, blob_len + plen + 1);
      if (!nb) {
        free(part);
        err = VG_ENOMEM;
        break;
      }
      blob = nb;
      memcpy(blob + blob_len, part, plen);
      blob_len += plen;
      free(part);
    }
  }
  json_decref(root);
  if (!err) err = vg_tfjs_parse(g, (const char *)text, text_len, blob ? blob : (const uint8_t *)"", blob_len);
  free(text);
  free(blob);
  return err;
}
