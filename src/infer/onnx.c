/* onnx.c: the ONNX model loader, with a small bounded protobuf decoder.
 *
 * ONNX files are protocol buffers (onnx.proto). Rather than generating C
 * from the schema, this file decodes the wire format directly for the few
 * messages a model needs (ModelProto, GraphProto, NodeProto, AttributeProto,
 * TensorProto, ValueInfoProto): fewer moving parts, no build-time code
 * generator, and one place where every length is checked against the bytes
 * that remain. A malformed file is VG_EPROTO; an operator or variant we do
 * not implement is VG_EUNSUPPORTED naming the node and the operator. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "infer/model.h"

#define ONNX_MAX_FILE (512u << 20)
#define ONNX_MAX_DEPTH 8

/* ---- wire format ---------------------------------------------------------------- */

typedef struct {
  const uint8_t *p, *end;
} pb_t;

typedef struct {
  uint32_t field;
  uint32_t wire;
  uint64_t v;          /* varint or fixed value */
  const uint8_t *data; /* length-delimited payload */
  size_t len;
} pb_field_t;

static int pb_varint(pb_t *b, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (b->p >= b->end) return VG_EPROTO;
    uint8_t c = *b->p++;
    v |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) {
      *out = v;
      return 0;
    }
  }
  return VG_EPROTO;
}

/* Reads the next field; returns 1 on a field, 0 at the end, <0 on error. */
static int pb_next(pb_t *b, pb_field_t *f) {
  if (b->p >= b->end) return 0;
  uint64_t key;
  if (pb_varint(b, &key)) return VG_EPROTO;
  f->field = (uint32_t)(key >> 3);
  f->wire = (uint32_t)(key & 7);
  f->data = NULL;
  f->len = 0;
  switch (f->wire) {
  case 0: return pb_varint(b, &f->v) ? VG_EPROTO : 1;
  case 1:
    if (b->end - b->p < 8) return VG_EPROTO;
    memcpy(&f->v, b->p, 8);
    b->p += 8;
    return 1;
  case 5: {
    if (b->end - b->p < 4) return VG_EPROTO;
    uint32_t x;
    memcpy(&x, b->p, 4);
    f->v = x;
    b->p += 4;
    return 1;
  }
  case 2: {
    uint64_t len;
    if (pb_varint(b, &len) || len > (uint64_t)(b->end - b->p)) return VG_EPROTO;
    f->data = b->p;
    f->len = (size_t)len;
    b->p += len;
    return 1;
  }
  default: return VG_EPROTO; /* groups (3, 4) are not used by ONNX */
  }
}

static pb_t pb_sub(const pb_field_t *f) {
  return f->data ? (pb_t){f->data, f->data + f->len} : (pb_t){NULL, NULL};
}

static float pb_float(uint64_t v) {
  uint32_t x = (uint32_t)v;
  float fl;
  memcpy(&fl, &x, 4);
  return fl;
}

/* Copies a string field into a fresh NUL-terminated buffer. */
static char *pb_strdup(const pb_field_t *f) {
  if (f->wire != 2) return NULL;
  char *s = malloc(f->len + 1);
  if (!s) return NULL;
  memcpy(s, f->data, f->len);
  s[f->len] = 0;
  return s;
}

/* Appends the integers of a repeated int64 field (packed or not). */
static int pb_ints(const pb_field_t *f, int64_t *v, int *n, int max) {
  if (f->wire == 0) {
    if (*n >= max) return VG_ETOOBIG;
    v[(*n)++] = (int64_t)f->v;
    return 0;
  }
  if (f->wire != 2) return VG_EPROTO;
  pb_t b = pb_sub(f);
  while (b.p < b.end) {
    uint64_t x;
    if (pb_varint(&b, &x)) return VG_EPROTO;
    if (*n >= max) return VG_ETOOBIG;
    v[(*n)++] = (int64_t)x;
  }
  return 0;
}

static int pb_floats(const pb_field_t *f, float *v, int *n, int max) {
  if (f->wire == 5) {
    if (*n >= max) return VG_ETOOBIG;
    v[(*n)++] = pb_float(f->v);
    return 0;
  }
  if (f->wire != 2 || f->len % 4) return VG_EPROTO;
  for (size_t i = 0; i < f->len; i += 4) {
    if (*n >= max) return VG_ETOOBIG;
    uint32_t x;
    memcpy(&x, f->data + i, 4);
    v[(*n)++] = pb_float(x);
  }
  return 0;
}

/* ---- tensors ---------------------------------------------------------------------- */

enum {
  ONNX_FLOAT = 1,
  ONNX_UINT8 = 2,
  ONNX_INT8 = 3,
  ONNX_INT32 = 6,
  ONNX_INT64 = 7,
  ONNX_BOOL = 9,
  ONNX_FLOAT16 = 10,
  ONNX_DOUBLE = 11
};

static int dtype_from_onnx(int64_t t, vg_dtype_t *dt) {
  switch (t) {
  case ONNX_FLOAT:
  case ONNX_FLOAT16:
  case ONNX_DOUBLE: *dt = VG_DT_F32; return 0;
  case ONNX_INT32:
  case ONNX_INT64:
  case ONNX_UINT8:
  case ONNX_INT8: *dt = VG_DT_I32; return 0;
  case ONNX_BOOL: *dt = VG_DT_BOOL; return 0;
  default: return VG_EUNSUPPORTED;
  }
}

static int32_t clamp_i32(int64_t v) {
  return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
}

/* Decodes a TensorProto into t (owned data); name, when asked, is strdup'd.
 * int64 narrows to int32 (saturating: shapes and indices fit), double and
 * float16 widen or narrow to float. */
int vg_onnx_tensor(const uint8_t *data, size_t len, vg_tensor_t *t, char **name) {
  pb_t b = {data, data ? data + len : NULL};
  pb_field_t f;
  int64_t dims[VG_TENSOR_MAX_DIMS + 1];
  int nd = 0, rc;
  int64_t type = 0;
  const uint8_t *raw = NULL;
  size_t raw_len = 0;
  pb_field_t typed[4];
  int n_typed = 0;
  memset(t, 0, sizeof(*t));
  if (name) *name = NULL;
  while ((rc = pb_next(&b, &f)) == 1) {
    switch (f.field) {
    case 1:
      if (pb_ints(&f, dims, &nd, VG_TENSOR_MAX_DIMS)) return VG_EUNSUPPORTED;
      break;
    case 2: type = (int64_t)f.v; break;
    case 8:
      if (name && !*name && !(*name = pb_strdup(&f))) return VG_ENOMEM;
      break;
    case 9:
      raw = f.data;
      raw_len = f.len;
      break;
    case 4:
    case 5:
    case 7:
    case 10:
      if (n_typed < 4) typed[n_typed++] = f;
      break;
    case 13:
    case 14:
      if (f.field == 14 && f.v == 0) break;
      return VG_EUNSUPPORTED; /* external data */
    default: break;
    }
  }
  if (rc < 0) return rc;
  vg_dtype_t dt;
  if (dtype_from_onnx(type, &dt)) return VG_EUNSUPPORTED;
  int err = vg_tensor_set_shape(t, dt, nd, dims);
  if (err) return err;
  int64_t n = vg_tensor_numel(t);
  /* Every element takes at least one byte of the message: a tensor that
   * claims more elements than that cannot be complete, so it is rejected
   * before anything is allocated for it. */
  if ((uint64_t)n > (uint64_t)len) return VG_EPROTO;
  if ((err = vg_tensor_alloc(t))) return err;
  size_t esz = type == ONNX_DOUBLE || type == ONNX_INT64                      ? 8
               : type == ONNX_FLOAT16                                         ? 2
               : type == ONNX_UINT8 || type == ONNX_INT8 || type == ONNX_BOOL ? 1
                                                                              : 4;
  if (raw) {
    if (raw_len != (size_t)n * esz) goto bad;
    for (int64_t i = 0; i < n; i++) {
      const uint8_t *p = raw + (size_t)i * esz;
      switch (type) {
      case ONNX_FLOAT: memcpy((float *)t->data + i, p, 4); break;
      case ONNX_DOUBLE: {
        double d;
        memcpy(&d, p, 8);
        ((float *)t->data)[i] = (float)d;
        break;
      }
      case ONNX_FLOAT16: ((float *)t->data)[i] = vg_f16_to_f32((uint16_t)(p[0] | (p[1] << 8))); break;
      case ONNX_INT32: memcpy((int32_t *)t->data + i, p, 4); break;
      case ONNX_INT64: {
        int64_t v;
        memcpy(&v, p, 8);
        ((int32_t *)t->data)[i] = clamp_i32(v);
        break;
      }
      case ONNX_UINT8: ((int32_t *)t->data)[i] = p[0]; break;
      case ONNX_INT8: ((int32_t *)t->data)[i] = (int8_t)p[0]; break;
      case ONNX_BOOL: ((uint8_t *)t->data)[i] = p[0] != 0; break;
      }
    }
    return 0;
  }
  /* Typed repeated fields: float_data (4), int32_data (5, also bool, int8,
   * uint8, float16 bits), int64_data (7), double_data (10). */
  int64_t got = 0;
  for (int k = 0; k < n_typed; k++) {
    pb_field_t *tf = &typed[k];
    pb_t s = pb_sub(tf);
    if (tf->wire != 2) {
      /* A single unpacked element. */
      if (got >= n) goto bad;
      uint64_t v = tf->v;
      int float_field = tf->field == 4 || tf->field == 10;
      if (float_field != (dt == VG_DT_F32 && type != ONNX_FLOAT16)) goto bad;
      if (tf->field == 4)
        ((float *)t->data)[got++] = pb_float(v);
      else if (tf->field == 10) {
        double d;
        memcpy(&d, &v, 8);
        ((float *)t->data)[got++] = (float)d;
      } else if (dt == VG_DT_BOOL)
        ((uint8_t *)t->data)[got++] = v != 0;
      else if (type == ONNX_FLOAT16)
        ((float *)t->data)[got++] = vg_f16_to_f32((uint16_t)v);
      else
        ((int32_t *)t->data)[got++] = clamp_i32((int64_t)v);
      continue;
    }
    while (s.p < s.end) {
      if (got >= n) goto bad;
      if (tf->field == 4) {
        if (s.end - s.p < 4) goto bad;
        uint32_t x;
        memcpy(&x, s.p, 4);
        s.p += 4;
        if (dt != VG_DT_F32) goto bad;
        ((float *)t->data)[got++] = pb_float(x);
      } else if (tf->field == 10) {
        if (s.end - s.p < 8) goto bad;
        double d;
        memcpy(&d, s.p, 8);
        s.p += 8;
        if (dt != VG_DT_F32) goto bad;
        ((float *)t->data)[got++] = (float)d;
      } else {
        uint64_t v;
        if (pb_varint(&s, &v)) goto bad;
        if (dt == VG_DT_BOOL)
          ((uint8_t *)t->data)[got++] = v != 0;
        else if (type == ONNX_FLOAT16)
          ((float *)t->data)[got++] = vg_f16_to_f32((uint16_t)v);
        else if (dt == VG_DT_I32)
          ((int32_t *)t->data)[got++] = clamp_i32((int64_t)v);
        else
          goto bad;
      }
    }
  }
  if (got != n) goto bad;
  return 0;
bad:
  vg_tensor_clear(t);
  return VG_EPROTO;
}

/* ---- nodes -------------------------------------------------------------------------- */

#define MAX_LIST 16

typedef struct {
  char name[64];
  int64_t i;
  float f;
  char s[64];
  int64_t ints[MAX_LIST];
  int n_ints;
  float floats[MAX_LIST];
  int n_floats;
  int has_i, has_f, has_s, has_ints, has_floats, has_t;
  vg_tensor_t t;
} attr_t;

static void attr_free(attr_t *a, int n) {
  for (int i = 0; i < n; i++)
    vg_tensor_clear(&a[i].t);
}

static int parse_attr(const pb_field_t *af, attr_t *a) {
  memset(a, 0, sizeof(*a));
  pb_t b = pb_sub(af);
  pb_field_t f;
  int rc;
  while ((rc = pb_next(&b, &f)) == 1) {
    switch (f.field) {
    case 1:
      if (f.wire != 2 || f.len >= sizeof(a->name)) return VG_EUNSUPPORTED;
      memcpy(a->name, f.data, f.len);
      a->name[f.len] = 0;
      break;
    case 2: a->f = pb_float(f.v), a->has_f = 1; break;
    case 3: a->i = (int64_t)f.v, a->has_i = 1; break;
    case 4:
      if (f.wire != 2) return VG_EPROTO;
      if (f.len < sizeof(a->s)) {
        memcpy(a->s, f.data, f.len);
        a->s[f.len] = 0;
        a->has_s = 1;
      }
      break;
    case 5: {
      if (f.wire != 2 || a->has_t) return VG_EPROTO;
      int err = vg_onnx_tensor(f.data, f.len, &a->t, NULL);
      if (err) return err;
      a->has_t = 1;
      break;
    }
    case 7:
      if (pb_floats(&f, a->floats, &a->n_floats, MAX_LIST)) return VG_EUNSUPPORTED;
      a->has_floats = 1;
      break;
    case 8:
      if (pb_ints(&f, a->ints, &a->n_ints, MAX_LIST)) return VG_EUNSUPPORTED;
      a->has_ints = 1;
      break;
    default: break;
    }
  }
  return rc < 0 ? rc : 0;
}

static const attr_t *find_attr(const attr_t *a, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (!strcmp(a[i].name, name)) return &a[i];
  return NULL;
}

static int64_t attr_i(const attr_t *a, int n, const char *name, int64_t def) {
  const attr_t *x = find_attr(a, n, name);
  return x && x->has_i ? x->i : def;
}

static float attr_f(const attr_t *a, int n, const char *name, float def) {
  const attr_t *x = find_attr(a, n, name);
  return x && x->has_f ? x->f : def;
}

static const char *attr_s(const attr_t *a, int n, const char *name, const char *def) {
  const attr_t *x = find_attr(a, n, name);
  return x && x->has_s ? x->s : def;
}

typedef struct {
  const char *onnx;
  vg_op_t op;
} onnx_op_t;

static const onnx_op_t onnx_ops[] = {
    {"Conv", VG_OP_CONV},
    {"MaxPool", VG_OP_MAXPOOL},
    {"AveragePool", VG_OP_AVGPOOL},
    {"GlobalAveragePool", VG_OP_GLOBALAVGPOOL},
    {"Relu", VG_OP_RELU},
    {"LeakyRelu", VG_OP_LEAKYRELU},
    {"Clip", VG_OP_CLIP},
    {"Sigmoid", VG_OP_SIGMOID},
    {"HardSigmoid", VG_OP_HARDSIGMOID},
    {"HardSwish", VG_OP_HARDSWISH},
    {"Tanh", VG_OP_TANH},
    {"Exp", VG_OP_EXP},
    {"Neg", VG_OP_NEG},
    {"Sqrt", VG_OP_SQRT},
    {"Identity", VG_OP_IDENTITY},
    {"Add", VG_OP_ADD},
    {"Sub", VG_OP_SUB},
    {"Mul", VG_OP_MUL},
    {"Div", VG_OP_DIV},
    {"Pow", VG_OP_POW},
    {"Max", VG_OP_MAXIMUM},
    {"Min", VG_OP_MINIMUM},
    {"Equal", VG_OP_EQUAL},
    {"Concat", VG_OP_CONCAT},
    {"Reshape", VG_OP_RESHAPE},
    {"Transpose", VG_OP_TRANSPOSE},
    {"Resize", VG_OP_RESIZE},
    {"Slice", VG_OP_SLICE},
    {"Split", VG_OP_SPLIT},
    {"Softmax", VG_OP_SOFTMAX},
    {"Gather", VG_OP_GATHER},
    {"Squeeze", VG_OP_SQUEEZE},
    {"Unsqueeze", VG_OP_UNSQUEEZE},
    {"MatMul", VG_OP_MATMUL},
    {"Gemm", VG_OP_GEMM},
    {"BatchNormalization", VG_OP_BATCHNORM},
    {"Pad", VG_OP_PAD},
    {"Shape", VG_OP_SHAPE},
    {"Cast", VG_OP_CAST},
    {"Flatten", VG_OP_FLATTEN},
    {"ReduceMean", VG_OP_MEAN},
};

static int fail_node(vg_graph_t *g, const char *name, const char *op, int err, const char *why) {
  return vg_graph_fail(g, err, "node '%s' (op %s): %s", name, op, why);
}

/* Adds a constant int32 value holding v[0..n) for attributes that newer
 * opsets pass as inputs (Slice's starts/ends/axes, Split's sizes...). */
static int const_ints_value(vg_graph_t *g, const char *node, const char *what, const int64_t *v, int n) {
  char name[300];
  snprintf(name, sizeof(name), "%s/%s/attr%d", node, what, g->n_values);
  int vi = vg_graph_add_value(g, name);
  if (vi < 0) return vi;
  vg_tensor_t *t = &g->values[vi].t;
  int64_t d[1] = {n};
  int err = vg_tensor_set_shape(t, VG_DT_I32, 1, d);
  if (!err) err = vg_tensor_alloc(t);
  if (err) return err;
  for (int i = 0; i < n; i++)
    ((int32_t *)t->data)[i] = clamp_i32(v[i]);
  g->values[vi].is_const = 1;
  return vi;
}

static int conv_pool_attrs(vg_graph_t *g, vg_node_t *n, const attr_t *a, int na, int is_conv) {
  const char *ap = attr_s(a, na, "auto_pad", "NOTSET");
  n->a.layout = VG_LAYOUT_NCHW;
  n->a.filter_layout = VG_FILTER_OIHW;
  if (!strcmp(ap, "SAME_UPPER"))
    n->a.pad_mode = VG_PAD_SAME_UPPER;
  else if (!strcmp(ap, "SAME_LOWER"))
    n->a.pad_mode = VG_PAD_SAME_LOWER;
  else if (!strcmp(ap, "VALID"))
    n->a.pad_mode = VG_PAD_VALID;
  else if (!strcmp(ap, "NOTSET"))
    n->a.pad_mode = VG_PAD_EXPLICIT;
  else
    return fail_node(g, n->name, n->src_op, VG_EUNSUPPORTED, "unknown auto_pad");
  const attr_t *x;
  if ((x = find_attr(a, na, "kernel_shape"))) {
    if (x->n_ints != 2) return fail_node(g, n->name, n->src_op, VG_EUNSUPPORTED, "only 2-d kernels");
    n->a.ksize[0] = x->ints[0], n->a.ksize[1] = x->ints[1];
  } else if (!is_conv) {
    return fail_node(g, n->name, n->src_op, VG_EPROTO, "kernel_shape missing");
  }
  if ((x = find_attr(a, na, "strides"))) {
    if (x->n_ints != 2) return fail_node(g, n->name, n->src_op, VG_EUNSUPPORTED, "only 2-d strides");
    n->a.strides[0] = x->ints[0], n->a.strides[1] = x->ints[1];
  }
  if ((x = find_attr(a, na, "dilations"))) {
    if (x->n_ints != 2) return fail_node(g, n->name, n->src_op, VG_EUNSUPPORTED, "only 2-d dilations");
    n->a.dilations[0] = x->ints[0], n->a.dilations[1] = x->ints[1];
  }
  if ((x = find_attr(a, na, "pads"))) {
    if (x->n_ints != 4) return fail_node(g, n->name, n->src_op, VG_EUNSUPPORTED, "only 2-d pads");
    n->a.pads[0] = x->ints[0], n->a.pads[1] = x->ints[1], n->a.pads[2] = x->ints[2],
    n->a.pads[3] = x->ints[3];
  }
  n->a.group = attr_i(a, na, "group", 1);
  n->a.ceil_mode = (int)attr_i(a, na, "ceil_mode", 0);
  n->a.count_include_pad = (int)attr_i(a, na, "count_include_pad", 0);
  if (attr_i(a, na, "storage_order", 0))
    return fail_node(g, n->name, n->src_op, VG_EUNSUPPORTED, "storage_order");
  return 0;
}

static int add_node(vg_graph_t *g, const pb_field_t *nf, int opset) {
  pb_t b = pb_sub(nf);
  pb_field_t f;
  int rc;
  char name[256] = "", op[64] = "", domain[64] = "";
  const uint8_t *ins[VG_NODE_MAX_IN], *outs[VG_NODE_MAX_OUT];
  size_t in_len[VG_NODE_MAX_IN], out_len[VG_NODE_MAX_OUT];
  int n_in = 0, n_out = 0, na = 0;
  attr_t attrs[24];
  while ((rc = pb_next(&b, &f)) == 1) {
    if (f.wire != 2) continue;
    switch (f.field) {
    case 1:
      if (n_in >= VG_NODE_MAX_IN) return vg_graph_fail(g, VG_EUNSUPPORTED, "a node has too many inputs");
      ins[n_in] = f.data, in_len[n_in++] = f.len;
      break;
    case 2:
      if (n_out >= VG_NODE_MAX_OUT) return vg_graph_fail(g, VG_EUNSUPPORTED, "a node has too many outputs");
      outs[n_out] = f.data, out_len[n_out++] = f.len;
      break;
    case 3:
      snprintf(name, sizeof(name), "%.*s", (int)(f.len < 255 ? f.len : 255), (const char *)f.data);
      break;
    case 4: snprintf(op, sizeof(op), "%.*s", (int)(f.len < 63 ? f.len : 63), (const char *)f.data); break;
    case 7:
      snprintf(domain, sizeof(domain), "%.*s", (int)(f.len < 63 ? f.len : 63), (const char *)f.data);
      break;
    default: break;
    }
  }
  if (rc < 0) return vg_graph_fail(g, rc, "malformed node");
  if (!op[0]) return vg_graph_fail(g, VG_EPROTO, "a node without op_type");
  if (!name[0] && n_out > 0)
    snprintf(name, sizeof(name), "%.*s", (int)(out_len[0] < 255 ? out_len[0] : 255), (const char *)outs[0]);
  if (domain[0] && strcmp(domain, "ai.onnx"))
    return fail_node(g, name, op, VG_EUNSUPPORTED, "operator domain not supported");
  /* Second pass for attributes, now that the node's name is known. */
  b = pb_sub(nf);
  while ((rc = pb_next(&b, &f)) == 1) {
    if (f.field != 5 || f.wire != 2) continue;
    if (na >= (int)(sizeof(attrs) / sizeof(attrs[0]))) {
      attr_free(attrs, na);
      return fail_node(g, name, op, VG_EUNSUPPORTED, "too many attributes");
    }
    int err = parse_attr(&f, &attrs[na]);
    if (err) {
      attr_free(attrs, na + 1);
      return fail_node(g, name, op, err, "bad attribute");
    }
    na++;
  }
  int err = 0;
  if (!strcmp(op, "Constant")) {
    const attr_t *v = find_attr(attrs, na, "value");
    const attr_t *vf = find_attr(attrs, na, "value_float"), *vi = find_attr(attrs, na, "value_int");
    const attr_t *vfs = find_attr(attrs, na, "value_floats"), *vis = find_attr(attrs, na, "value_ints");
    if (n_out != 1) err = fail_node(g, name, op, VG_EPROTO, "needs one output");
    char oname[512];
    snprintf(oname, sizeof(oname), "%.*s", (int)(out_len[0] < 511 ? out_len[0] : 511), (const char *)outs[0]);
    int o = err ? -1 : vg_graph_value(g, oname);
    if (!err && o < 0) err = o;
    if (!err && (g->values[o].is_const || g->values[o].is_input))
      err = fail_node(g, name, op, VG_EPROTO, "output defined twice");
    if (!err) {
      vg_tensor_t *t = &g->values[o].t;
      if (v && v->has_t) {
        *t = attrs[v - attrs].t;
        memset(&attrs[v - attrs].t, 0, sizeof(vg_tensor_t));
      } else if (vf || vi) {
        int64_t d0[1];
        vg_tensor_set_shape(t, vf ? VG_DT_F32 : VG_DT_I32, 0, d0);
        if (!(err = vg_tensor_alloc(t))) {
          if (vf)
            *(float *)t->data = vf->f;
          else
            *(int32_t *)t->data = clamp_i32(vi->i);
        }
      } else if (vfs || vis) {
        int64_t d1[1] = {vfs ? vfs->n_floats : vis->n_ints};
        vg_tensor_set_shape(t, vfs ? VG_DT_F32 : VG_DT_I32, 1, d1);
        if (!(err = vg_tensor_alloc(t)))
          for (int i = 0; i < d1[0]; i++) {
            if (vfs)
              ((float *)t->data)[i] = vfs->floats[i];
            else
              ((int32_t *)t->data)[i] = clamp_i32(vis->ints[i]);
          }
      } else {
        err = fail_node(g, name, op, VG_EUNSUPPORTED, "constant kind not supported");
      }
      if (!err) g->values[o].is_const = 1;
    }
    attr_free(attrs, na);
    return err;
  }
  vg_op_t vop = VG_OP_COUNT;
  for (size_t i = 0; i < sizeof(onnx_ops) / sizeof(onnx_ops[0]); i++)
    if (!strcmp(op, onnx_ops[i].onnx)) vop = onnx_ops[i].op;
  if (vop == VG_OP_COUNT) {
    attr_free(attrs, na);
    return fail_node(g, name, op, VG_EUNSUPPORTED, "operator not supported");
  }
  int ni = vg_graph_add_node(g, vop, name, op);
  if (ni < 0) {
    attr_free(attrs, na);
    return ni;
  }
  vg_node_t *n = &g->nodes[ni];
  n->a.onnx = 1;
  /* Inputs: an empty name is an omitted optional input. */
  int in_idx[VG_NODE_MAX_IN], out_idx[VG_NODE_MAX_OUT];
  for (int i = 0; i < n_in && !err; i++) {
    if (in_len[i] == 0) {
      in_idx[i] = -1;
      continue;
    }
    char vname[512];
    snprintf(vname, sizeof(vname), "%.*s", (int)(in_len[i] < 511 ? in_len[i] : 511), (const char *)ins[i]);
    in_idx[i] = vg_graph_value(g, vname);
    if (in_idx[i] < 0) err = in_idx[i];
  }
  for (int i = 0; i < n_out && !err; i++) {
    char vname[512];
    snprintf(vname, sizeof(vname), "%.*s", (int)(out_len[i] < 511 ? out_len[i] : 511), (const char *)outs[i]);
    out_idx[i] = vg_graph_value(g, vname);
    if (out_idx[i] < 0) err = out_idx[i];
  }
  if (err) {
    attr_free(attrs, na);
    return err;
  }
  n = &g->nodes[ni];
  n->n_in = n_in;
  memcpy(n->in, in_idx, sizeof(int) * (size_t)n_in);
  n->n_out = n_out;
  memcpy(n->out, out_idx, sizeof(int) * (size_t)n_out);
  const attr_t *x;
  switch (vop) {
  case VG_OP_CONV: err = conv_pool_attrs(g, n, attrs, na, 1); break;
  case VG_OP_MAXPOOL:
  case VG_OP_AVGPOOL:
    if (n_out != 1)
      err = fail_node(g, name, op, VG_EUNSUPPORTED, "the Indices output");
    else
      err = conv_pool_attrs(g, n, attrs, na, 0);
    break;
  case VG_OP_LEAKYRELU: n->a.alpha = attr_f(attrs, na, "alpha", 0.01f); break;
  case VG_OP_HARDSIGMOID:
    n->a.alpha = attr_f(attrs, na, "alpha", 0.2f);
    n->a.beta = attr_f(attrs, na, "beta", 0.5f);
    break;
  case VG_OP_CLIP:
    n->a.alpha = attr_f(attrs, na, "min", -INFINITY);
    n->a.beta = attr_f(attrs, na, "max", INFINITY);
    break;
  case VG_OP_MAXIMUM:
  case VG_OP_MINIMUM:
    if (n_in != 2) err = fail_node(g, name, op, VG_EUNSUPPORTED, "only two operands");
    break;
  case VG_OP_CONCAT:
  case VG_OP_GATHER:
  case VG_OP_FLATTEN:
    n->a.axis = attr_i(attrs, na, "axis", vop == VG_OP_FLATTEN ? 1 : 0);
    if (vop == VG_OP_CONCAT) n->a.k = n_in;
    break;
  case VG_OP_SOFTMAX:
    n->a.axis = attr_i(attrs, na, "axis", opset >= 13 ? -1 : 1);
    /* Before opset 13 Softmax flattened [axis:] into one dimension. */
    n->a.trans_a = opset < 13;
    break;
  case VG_OP_RESHAPE:
    if (attr_i(attrs, na, "allowzero", 0)) err = fail_node(g, name, op, VG_EUNSUPPORTED, "allowzero");
    if (n_in < 2 && (x = find_attr(attrs, na, "shape"))) {
      n->a.n_ints = x->n_ints;
      memcpy(n->a.ints, x->ints, sizeof(int64_t) * (size_t)x->n_ints);
    }
    break;
  case VG_OP_TRANSPOSE:
    if ((x = find_attr(attrs, na, "perm"))) {
      if (x->n_ints > VG_TENSOR_MAX_DIMS) err = fail_node(g, name, op, VG_EUNSUPPORTED, "rank");
      n->a.n_ints = x->n_ints;
      memcpy(n->a.ints, x->ints, sizeof(int64_t) * (size_t)(x->n_ints < 12 ? x->n_ints : 12));
    }
    break;
  case VG_OP_SQUEEZE:
  case VG_OP_UNSQUEEZE:
  case VG_OP_MEAN:
    if ((x = find_attr(attrs, na, "axes"))) {
      if (x->n_ints > VG_TENSOR_MAX_DIMS) err = fail_node(g, name, op, VG_EUNSUPPORTED, "axes");
      n->a.n_ints = x->n_ints;
      memcpy(n->a.ints, x->ints, sizeof(int64_t) * (size_t)(x->n_ints < 12 ? x->n_ints : 12));
    }
    if (vop == VG_OP_MEAN) {
      n->a.keep_dims = (int)attr_i(attrs, na, "keepdims", 1);
      if (n_in > 1 || attr_i(attrs, na, "noop_with_empty_axes", 0))
        err = fail_node(g, name, op, VG_EUNSUPPORTED, "axes as an input");
    }
    break;
  case VG_OP_SPLIT:
    n->a.axis = attr_i(attrs, na, "axis", 0);
    if ((x = find_attr(attrs, na, "split"))) {
      n->a.n_ints = x->n_ints;
      memcpy(n->a.ints, x->ints, sizeof(int64_t) * (size_t)(x->n_ints < 12 ? x->n_ints : 12));
    }
    break;
  case VG_OP_SLICE:
    if (n_in == 1) {
      /* Opset 1: starts/ends/axes are attributes; make them inputs. */
      const attr_t *s = find_attr(attrs, na, "starts"), *e = find_attr(attrs, na, "ends");
      const attr_t *ax = find_attr(attrs, na, "axes");
      if (!s || !e) {
        err = fail_node(g, name, op, VG_EPROTO, "starts/ends missing");
        break;
      }
      int vs = const_ints_value(g, name, "starts", s->ints, s->n_ints);
      int ve = vs < 0 ? vs : const_ints_value(g, name, "ends", e->ints, e->n_ints);
      int va = ve < 0 || !ax ? -1 : const_ints_value(g, name, "axes", ax->ints, ax->n_ints);
      if (vs < 0 || ve < 0 || (ax && va < 0)) {
        err = VG_ENOMEM;
        break;
      }
      n = &g->nodes[ni];
      n->in[1] = vs;
      n->in[2] = ve;
      n->in[3] = va;
      n->n_in = ax ? 4 : 3;
    }
    break;
  case VG_OP_SHAPE: {
    const attr_t *st = find_attr(attrs, na, "start"), *en = find_attr(attrs, na, "end");
    n->a.n_ints = en ? 2 : st ? 1 : 0;
    n->a.ints[0] = st ? st->i : 0;
    n->a.ints[1] = en ? en->i : 0;
    break;
  }
  case VG_OP_GEMM:
    n->a.alpha = attr_f(attrs, na, "alpha", 1.0f);
    n->a.beta = attr_f(attrs, na, "beta", 1.0f);
    n->a.trans_a = (int)attr_i(attrs, na, "transA", 0);
    n->a.trans_b = (int)attr_i(attrs, na, "transB", 0);
    break;
  case VG_OP_BATCHNORM:
    n->a.epsilon = attr_f(attrs, na, "epsilon", 1e-5f);
    if (n_out != 1 || attr_i(attrs, na, "training_mode", 0))
      err = fail_node(g, name, op, VG_EUNSUPPORTED, "training mode");
    break;
  case VG_OP_PAD: {
    const char *mode = attr_s(attrs, na, "mode", "constant");
    if (!strcmp(mode, "reflect"))
      n->a.pad_reflect = 1;
    else if (strcmp(mode, "constant"))
      err = fail_node(g, name, op, VG_EUNSUPPORTED, "pad mode");
    n->a.pad_value = attr_f(attrs, na, "value", 0.0f);
    if ((x = find_attr(attrs, na, "pads"))) {
      n->a.n_ints = x->n_ints;
      memcpy(n->a.ints, x->ints, sizeof(int64_t) * (size_t)(x->n_ints < 12 ? x->n_ints : 12));
    }
    if (n_in > 3) err = fail_node(g, name, op, VG_EUNSUPPORTED, "axes input");
    break;
  }
  case VG_OP_CAST: {
    int64_t to = attr_i(attrs, na, "to", 0);
    if (to == ONNX_FLOAT16 || to == ONNX_DOUBLE || dtype_from_onnx(to, &n->a.to))
      err = fail_node(g, name, op, VG_EUNSUPPORTED, "cast target type");
    break;
  }
  case VG_OP_RESIZE: {
    const char *mode = attr_s(attrs, na, "mode", "nearest");
    const char *ct = attr_s(attrs, na, "coordinate_transformation_mode", "half_pixel");
    const char *nm = attr_s(attrs, na, "nearest_mode", "round_prefer_floor");
    n->a.layout = VG_LAYOUT_NCHW;
    if (opset < 11)
      err = fail_node(g, name, op, VG_EUNSUPPORTED, "Resize before opset 11");
    else if (!strcmp(mode, "linear"))
      n->a.nearest = 0;
    else if (!strcmp(mode, "nearest") && !strcmp(nm, "floor"))
      n->a.nearest = 1;
    else
      err = fail_node(g, name, op, VG_EUNSUPPORTED, "resize mode");
    if (attr_i(attrs, na, "antialias", 0) || find_attr(attrs, na, "axes") ||
        strcmp(attr_s(attrs, na, "keep_aspect_ratio_policy", "stretch"), "stretch"))
      err = fail_node(g, name, op, VG_EUNSUPPORTED, "resize options");
    if (!strcmp(ct, "half_pixel") && !n->a.nearest)
      n->a.coord = VG_RESIZE_HALF_PIXEL;
    else if (!strcmp(ct, "asymmetric"))
      n->a.coord = VG_RESIZE_ASYMMETRIC;
    else if (!strcmp(ct, "align_corners") && !n->a.nearest)
      n->a.coord = VG_RESIZE_ALIGN_CORNERS;
    else
      err = fail_node(g, name, op, VG_EUNSUPPORTED, "coordinate transformation mode");
    break;
  }
  default: break;
  }
  attr_free(attrs, na);
  return err;
}

/* ValueInfoProto: name and, for inputs, a static tensor shape. */
static int value_info(vg_graph_t *g, const pb_field_t *vf, int as_input) {
  pb_t b = pb_sub(vf);
  pb_field_t f;
  int rc;
  char name[512] = "";
  const uint8_t *type = NULL;
  size_t type_len = 0;
  while ((rc = pb_next(&b, &f)) == 1) {
    if (f.field == 1 && f.wire == 2)
      snprintf(name, sizeof(name), "%.*s", (int)(f.len < 511 ? f.len : 511), (const char *)f.data);
    if (f.field == 2 && f.wire == 2) type = f.data, type_len = f.len;
  }
  if (rc < 0 || !name[0]) return vg_graph_fail(g, VG_EPROTO, "malformed graph input or output");
  int v = vg_graph_value(g, name);
  if (v < 0) return v;
  if (!as_input) {
    if (g->values[v].is_output) return 0;
    if (g->n_outputs >= (int)(sizeof(g->outputs) / sizeof(g->outputs[0])))
      return vg_graph_fail(g, VG_EUNSUPPORTED, "too many outputs");
    g->outputs[g->n_outputs++] = v;
    g->values[v].is_output = 1;
    return 0;
  }
  if (g->values[v].is_const) return 0; /* an initializer listed as an input */
  /* TypeProto.tensor_type (1) -> elem_type (1), shape (2) -> dim (1) ->
   * dim_value (1) | dim_param (2). */
  int64_t elem = ONNX_FLOAT, dims[VG_TENSOR_MAX_DIMS];
  int nd = 0, dynamic = 0;
  pb_t tb = {type, type ? type + type_len : NULL};
  while (type && (rc = pb_next(&tb, &f)) == 1) {
    if (f.wire == 2 && f.field != 1 && f.field != 6)
      return vg_graph_fail(g, VG_EUNSUPPORTED, "input '%s': not a tensor (sequence, map or optional)", name);
    if (f.field != 1 || f.wire != 2) continue;
    pb_t tt = pb_sub(&f);
    pb_field_t g2;
    while ((rc = pb_next(&tt, &g2)) == 1) {
      if (g2.field == 1 && g2.wire == 0) elem = (int64_t)g2.v;
      if (g2.field != 2 || g2.wire != 2) continue;
      pb_t sb = pb_sub(&g2);
      pb_field_t d;
      while ((rc = pb_next(&sb, &d)) == 1) {
        if (d.field != 1 || d.wire != 2) continue;
        if (nd >= VG_TENSOR_MAX_DIMS) return vg_graph_fail(g, VG_EUNSUPPORTED, "input '%s': rank", name);
        pb_t db = pb_sub(&d);
        pb_field_t dv = {0};
        int64_t val = -1;
        while ((rc = pb_next(&db, &dv)) == 1)
          if (dv.field == 1 && dv.wire == 0) val = (int64_t)dv.v;
        if (rc < 0) break;
        if (val < 0) dynamic = 1, val = 1;
        dims[nd++] = val;
      }
      if (rc < 0) break;
    }
    if (rc < 0) break;
  }
  if (rc < 0) return vg_graph_fail(g, VG_EPROTO, "input '%s': malformed type", name);
  vg_dtype_t dt;
  if (dtype_from_onnx(elem, &dt)) return vg_graph_fail(g, VG_EUNSUPPORTED, "input '%s': element type", name);
  if (g->values[v].is_input) return 0;
  if (g->n_inputs >= (int)(sizeof(g->inputs) / sizeof(g->inputs[0])))
    return vg_graph_fail(g, VG_EUNSUPPORTED, "too many inputs");
  int err = vg_tensor_set_shape(&g->values[v].t, dt, nd, dims);
  if (err) return vg_graph_fail(g, err, "input '%s': bad shape", name);
  /* Free dimensions become 1; a caller may set the real shape before
   * building the model (vg_model_from_graph). */
  (void)dynamic;
  g->values[v].is_input = 1;
  g->inputs[g->n_inputs++] = v;
  return 0;
}

static int parse_graph(vg_graph_t *g, const pb_field_t *gf, int opset) {
  pb_t b = pb_sub(gf);
  pb_field_t f;
  int rc, err = 0;
  /* Initializers first (field 5), so that inputs that are also initializers
   * (older exporters) are recognized as constants. */
  while (!err && (rc = pb_next(&b, &f)) == 1) {
    if (f.field != 5 || f.wire != 2) continue;
    vg_tensor_t t;
    char *name = NULL;
    err = vg_onnx_tensor(f.data, f.len, &t, &name);
    if (err) {
      free(name);
      return vg_graph_fail(g, err, "initializer: %s",
                           err == VG_EUNSUPPORTED ? "unsupported type" : "malformed");
    }
    int v = name ? vg_graph_value(g, name) : VG_EPROTO;
    free(name);
    if (v < 0 || g->values[v].is_const) {
      vg_tensor_clear(&t);
      return vg_graph_fail(g, VG_EPROTO, "initializer without a name or defined twice");
    }
    g->values[v].t = t;
    g->values[v].is_const = 1;
  }
  if (rc < 0) return vg_graph_fail(g, VG_EPROTO, "malformed graph");
  b = pb_sub(gf);
  while (!err && (rc = pb_next(&b, &f)) == 1) {
    if (f.wire != 2) continue;
    if (f.field == 11)
      err = value_info(g, &f, 1);
    else if (f.field == 1)
      err = add_node(g, &f, opset);
    else if (f.field == 12)
      err = value_info(g, &f, 0);
    else if (f.field == 15)
      err = vg_graph_fail(g, VG_EUNSUPPORTED, "sparse initializers");
  }
  if (!err && rc < 0) err = vg_graph_fail(g, VG_EPROTO, "malformed graph");
  if (!err && g->n_outputs == 0) err = vg_graph_fail(g, VG_EPROTO, "the graph has no outputs");
  return err;
}

int vg_onnx_parse(vg_graph_t *g, const uint8_t *data, size_t len) {
  pb_t b = {data, data ? data + len : NULL};
  pb_field_t f, graph = {0};
  int rc, have_graph = 0, opset = 0;
  while ((rc = pb_next(&b, &f)) == 1) {
    if (f.field == 7 && f.wire == 2) {
      graph = f;
      have_graph = 1;
    } else if (f.field == 8 && f.wire == 2) {
      /* OperatorSetIdProto: domain (1), version (2); the default domain's. */
      pb_t ob = pb_sub(&f);
      pb_field_t o;
      int default_domain = 1;
      int64_t version = 0;
      while ((rc = pb_next(&ob, &o)) == 1) {
        if (o.field == 1 && o.wire == 2 && o.len > 0 && !(o.len == 7 && !memcmp(o.data, "ai.onnx", 7)))
          default_domain = 0;
        if (o.field == 2 && o.wire == 0) version = (int64_t)o.v;
      }
      if (rc < 0) break;
      if (default_domain && version > 0 && version < 1000) opset = (int)version;
    }
  }
  if (rc < 0) return vg_graph_fail(g, VG_EPROTO, "not an ONNX model (malformed protobuf)");
  if (!have_graph) return vg_graph_fail(g, VG_EPROTO, "not an ONNX model (no graph)");
  if (opset == 0) opset = 1;
  return parse_graph(g, &graph, opset);
}

int vg_onnx_load(vg_graph_t *g, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return vg_graph_fail(g, vg_err_from_errno(), "cannot open %s", path);
  uint8_t *buf = NULL;
  size_t n = 0, cap = 0;
  int err = 0;
  for (;;) {
    if (n == cap) {
      if (cap >= ONNX_MAX_FILE) {
        err = VG_ETOOBIG;
        break;
      }
      cap = cap ? cap * 2 : 1 << 16;
      uint8_t *nb = realloc(buf, cap);
      if (!nb) {
        err = VG_ENOMEM;
        break;
      }
      buf = nb;
    }
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (r == 0) break;
  }
  fclose(f);
  if (!err)
    err = vg_onnx_parse(g, buf ? buf : (const uint8_t *)"", n);
  else
    vg_graph_fail(g, err, "cannot read %s", path);
  free(buf);
  return err;
}
