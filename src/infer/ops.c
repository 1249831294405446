/* ops.c: shape inference and reference kernels of every operator. */
#include "infer/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/* ---- helpers ----------------------------------------------------------- */

#define IN(i) (n->in[i] >= 0 ? &g->values[n->in[i]].t : NULL)
#define OUTV(i) (&g->values[n->out[i]].t)

static int fail(vg_graph_t *g, const vg_node_t *n, int err, const char *why) {
  return vg_graph_fail(g, err, "node '%s' (op %s): %s", n->name, n->src_op, why);
}

static int need_inputs(vg_graph_t *g, const vg_node_t *n, int min, int max) {
  if (n->n_in < min || n->n_in > max) return fail(g, n, VG_EPROTO, "wrong number of inputs");
  for (int i = 0; i < min; i++)
    if (n->in[i] < 0) return fail(g, n, VG_EPROTO, "a required input is missing");
  return 0;
}

/* Reads a constant integer tensor input into v (at most max entries). */
static int const_ints(vg_graph_t *g, const vg_node_t *n, int idx, int64_t *v, int max, int *count) {
  if (idx < 0 || idx >= n->n_in || n->in[idx] < 0)
    return fail(g, n, VG_EPROTO, "a constant input is missing");
  const vg_value_t *val = &g->values[n->in[idx]];
  if (!val->is_const) return fail(g, n, VG_EUNSUPPORTED, "a shape/axis input is not constant");
  int64_t cnt = vg_tensor_numel(&val->t);
  if (cnt > max) return fail(g, n, VG_ETOOBIG, "a constant integer input is too long");
  for (int64_t i = 0; i < cnt; i++) {
    if (val->t.dtype == VG_DT_I32)
      v[i] = ((const int32_t *)val->t.data)[i];
    else if (val->t.dtype == VG_DT_F32)
      v[i] = (int64_t)((const float *)val->t.data)[i];
    else
      return fail(g, n, VG_EPROTO, "an integer input has a bad dtype");
  }
  *count = (int)cnt;
  return 0;
}

/* The integer list an op takes either as its second input or as an
 * attribute (axes, perm, shape: ONNX moved several from one to the other).
 * *count is -1 when neither is given, for the caller's default. */
static int ints_operand(vg_graph_t *g, const vg_node_t *n, int64_t *v, int *count) {
  if (n->n_in > 1) return const_ints(g, n, 1, v, VG_TENSOR_MAX_DIMS, count);
  *count = n->a.n_ints < 0 ? -1 : n->a.n_ints;
  if (*count > VG_TENSOR_MAX_DIMS) return fail(g, n, VG_EINVAL, "too many values");
  if (*count > 0) memcpy(v, n->a.ints, sizeof(int64_t) * (size_t)*count);
  return 0;
}

static int set_out(vg_graph_t *g, const vg_node_t *n, int i, vg_dtype_t dt, int ndim, const int64_t *dims) {
  int err = vg_tensor_set_shape(OUTV(i), dt, ndim, dims);
  return err ? fail(g, n, err, "invalid output shape") : 0;
}

static int norm_axis(int64_t *axis, int rank) {
  if (*axis < 0) *axis += rank;
  return *axis >= 0 && *axis < rank ? 0 : VG_EINVAL;
}

int64_t vg_conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t pad_total) {
  int64_t eff = (k - 1) * dil + 1;
  if (in + pad_total < eff || stride <= 0) return -1;
  return (in + pad_total - eff) / stride + 1;
}

/* Turns SAME/VALID padding into explicit pads for one spatial dimension. */
static void resolve_pads(vg_attrs_t *a, int d, int64_t in, int64_t k) {
  if (a->pad_mode == VG_PAD_VALID) {
    a->pads[d] = a->pads[d + 2] = 0;
  } else if (a->pad_mode == VG_PAD_SAME_UPPER || a->pad_mode == VG_PAD_SAME_LOWER) {
    int64_t out = (in + a->strides[d] - 1) / a->strides[d];
    int64_t total = (out - 1) * a->strides[d] + (k - 1) * a->dilations[d] + 1 - in;
    if (total < 0) total = 0;
    int64_t small = total / 2;
    a->pads[d] = a->pad_mode == VG_PAD_SAME_UPPER ? small : total - small;
    a->pads[d + 2] = total - a->pads[d];
  }
}

/* ---- shape inference ------------------------------------------------------ */

static int infer_conv_like(vg_graph_t *g, vg_node_t *n, int is_pool) {
  int err = need_inputs(g, n, is_pool ? 1 : 2, is_pool ? 1 : 3);
  if (err) return err;
  vg_tensor_t *x = IN(0);
  if (x->dtype != VG_DT_F32) return fail(g, n, VG_EUNSUPPORTED, "only f32 inputs");
  if (x->ndim != 4) return fail(g, n, VG_EUNSUPPORTED, "only 2-d images (4-d tensors)");
  int nhwc = n->a.layout == VG_LAYOUT_NHWC;
  int64_t N = x->dims[0], C = nhwc ? x->dims[3] : x->dims[1];
  int64_t H = nhwc ? x->dims[1] : x->dims[2], W = nhwc ? x->dims[2] : x->dims[3];
  int64_t KH, KW, Cout;
  vg_attrs_t *a = &n->a;
  if (is_pool) {
    KH = a->ksize[0];
    KW = a->ksize[1];
    Cout = C;
  } else {
    vg_tensor_t *w = IN(1);
    if (w->ndim != 4) return fail(g, n, VG_EINVAL, "filter must be 4-d");
    if (a->filter_layout == VG_FILTER_OIHW) {
      Cout = w->dims[0];
      KH = w->dims[2];
      KW = w->dims[3];
      if (a->group <= 0 || w->dims[1] * a->group != C || Cout % a->group)
        return fail(g, n, VG_EINVAL, "filter channels do not match the input");
    } else if (a->filter_layout == VG_FILTER_HWCM) {
      KH = w->dims[0];
      KW = w->dims[1];
      if (w->dims[2] != C) return fail(g, n, VG_EINVAL, "depthwise filter channels do not match the input");
      Cout = C * w->dims[3];
      a->group = C;
    } else {
      KH = w->dims[0];
      KW = w->dims[1];
      Cout = w->dims[3];
      if (w->dims[2] <= 0 || C % w->dims[2])
        return fail(g, n, VG_EINVAL, "filter channels do not match the input");
      a->group = C / w->dims[2];
      if (Cout % a->group) return fail(g, n, VG_EINVAL, "output channels not divisible by groups");
    }
    a->ksize[0] = KH;
    a->ksize[1] = KW;
    if (n->n_in > 2 && n->in[2] >= 0) {
      vg_tensor_t *b = IN(2);
      if (vg_tensor_numel(b) != Cout)
        return fail(g, n, VG_EINVAL, "bias length differs from output channels");
    }
  }
  if (KH <= 0 || KW <= 0 || a->strides[0] <= 0 || a->strides[1] <= 0 || a->dilations[0] <= 0 ||
      a->dilations[1] <= 0)
    return fail(g, n, VG_EINVAL, "bad kernel size, stride or dilation");
  resolve_pads(a, 0, H, KH);
  resolve_pads(a, 1, W, KW);
  a->pad_mode = VG_PAD_EXPLICIT;
  for (int i = 0; i < 4; i++)
    if (a->pads[i] < 0 || a->pads[i] > 1024) return fail(g, n, VG_EINVAL, "bad padding");
  int64_t ph = a->pads[0] + a->pads[2], pw = a->pads[1] + a->pads[3];
  if (a->ceil_mode) {
    /* ONNX ceil_mode: extend the end padding so the last partial window counts. */
    int64_t eh = (KH - 1) * a->dilations[0] + 1, ew = (KW - 1) * a->dilations[1] + 1;
    int64_t oh = (H + ph - eh + a->strides[0] - 1) / a->strides[0] + 1;
    int64_t ow = (W + pw - ew + a->strides[1] - 1) / a->strides[1] + 1;
    if ((oh - 1) * a->strides[0] >= H + a->pads[0]) oh--;
    if ((ow - 1) * a->strides[1] >= W + a->pads[1]) ow--;
    a->pads[2] += (oh - 1) * a->strides[0] + eh - (H + ph);
    a->pads[3] += (ow - 1) * a->strides[1] + ew - (W + pw);
    if (a->pads[2] < 0) a->pads[2] = 0;
    if (a->pads[3] < 0) a->pads[3] = 0;
    a->ceil_mode = 0;
    /* Pads added by ceil_mode never count as elements of an average. */
    ph = a->pads[0] + a->pads[2];
    pw = a->pads[1] + a->pads[3];
  }
  int64_t OH = vg_conv_out_size(H, KH, a->strides[0], a->dilations[0], ph);
  int64_t OW = vg_conv_out_size(W, KW, a->strides[1], a->dilations[1], pw);
  if (OH <= 0 || OW <= 0) return fail(g, n, VG_EINVAL, "kernel larger than the padded input");
  int64_t d[4] = {N, nhwc ? OH : Cout, nhwc ? OW : OH, nhwc ? Cout : OW};
  return set_out(g, n, 0, VG_DT_F32, 4, d);
}

static int broadcast_shape(const vg_tensor_t *a, const vg_tensor_t *b, int *ndim, int64_t *dims) {
  int r = a->ndim > b->ndim ? a->ndim : b->ndim;
  for (int i = 0; i < r; i++) {
    int ia = a->ndim - r + i, ib = b->ndim - r + i;
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    if (da != db && da != 1 && db != 1) return VG_EINVAL;
    dims[i] = da == 1 ? db : da;
  }
  *ndim = r;
  return 0;
}

static int infer_binary(vg_graph_t *g, vg_node_t *n) {
  int err = need_inputs(g, n, 2, 2);
  if (err) return err;
  vg_tensor_t *a = IN(0), *b = IN(1);
  if (a->dtype != b->dtype || a->dtype == VG_DT_BOOL)
    return fail(g, n, VG_EUNSUPPORTED, "operand dtypes differ or are not numeric");
  int nd;
  int64_t d[VG_TENSOR_MAX_DIMS];
  if (broadcast_shape(a, b, &nd, d)) return fail(g, n, VG_EINVAL, "operand shapes do not broadcast");
  return set_out(g, n, 0, n->op == VG_OP_EQUAL ? VG_DT_BOOL : a->dtype, nd, d);
}

static int infer_unary(vg_graph_t *g, vg_node_t *n) {
  int err = need_inputs(g, n, 1, 3);
  if (err) return err;
  vg_tensor_t *x = IN(0);
  if (x->dtype != VG_DT_F32 && n->op != VG_OP_IDENTITY && n->op != VG_OP_NEG)
    return fail(g, n, VG_EUNSUPPORTED, "input must be f32");
  if (n->op == VG_OP_CLIP) {
    /* ONNX Clip (opset 11+) takes min and max as optional inputs. */
    if (n->n_in > 1 && n->in[1] >= 0) {
      if (!g->values[n->in[1]].is_const) return fail(g, n, VG_EUNSUPPORTED, "min must be constant");
      n->a.alpha = *(const float *)g->values[n->in[1]].t.data;
    }
    if (n->n_in > 2 && n->in[2] >= 0) {
      if (!g->values[n->in[2]].is_const) return fail(g, n, VG_EUNSUPPORTED, "max must be constant");
      n->a.beta = *(const float *)g->values[n->in[2]].t.data;
    }
  }
  return set_out(g, n, 0, x->dtype, x->ndim, x->dims);
}

static int infer_transpose(vg_graph_t *g, vg_node_t *n) {
  int err = need_inputs(g, n, 1, 2);
  if (err) return err;
  vg_tensor_t *x = IN(0);
  int64_t perm[VG_TENSOR_MAX_DIMS];
  int np;
  if ((err = ints_operand(g, n, perm, &np))) return err;
  if (np < 0) {
    np = x->ndim;
    for (int i = 0; i < np; i++)
      perm[i] = np - 1 - i;
  }
  if (np != x->ndim) return fail(g, n, VG_EINVAL, "permutation length differs from rank");
  int seen = 0;
  int64_t d[VG_TENSOR_MAX_DIMS];
  for (int i = 0; i < np; i++) {
    if (perm[i] < 0) perm[i] += np;
    if (perm[i] < 0 || perm[i] >= np || (seen & (1 << perm[i])))
      return fail(g, n, VG_EINVAL, "bad permutation");
    seen |= 1 << perm[i];
    d[i] = x->dims[perm[i]];
    n->a.ints[i] = perm[i];
  }
  n->a.n_ints = np;
  return set_out(g, n, 0, x->dtype, x->ndim, d);
}

static int infer_pad(vg_graph_t *g, vg_node_t *n) {
  int err = need_inputs(g, n, 1, 4);
  if (err) return err;
  vg_tensor_t *x = IN(0);
  int64_t p[2 * VG_TENSOR_MAX_DIMS];
  int np = 0;
  if (n->n_in > 1 && n->in[1] >= 0) {
    if ((err = const_ints(g, n, 1, p, 2 * VG_TENSOR_MAX_DIMS, &np))) return err;
  } else if (n->a.n_ints >= 0) {
    np = n->a.n_ints;
    memcpy(p, n->a.ints, sizeof(int64_t) * (size_t)np);
  }
  if (np != 2 * x->ndim) return fail(g, n, VG_EINVAL, "paddings do not match the rank");
  if (n->n_in > 2 && n->in[2] >= 0) {
    const vg_value_t *cv = &g->values[n->in[2]];
    if (!cv->is_const || vg_tensor_numel(&cv->t) < 1)
      return fail(g, n, VG_EUNSUPPORTED, "pad value not constant");
    n->a.pad_value =
        cv->t.dtype == VG_DT_F32 ? *(const float *)cv->t.data : (float)*(const int32_t *)cv->t.data;
  }
  int64_t d[VG_TENSOR_MAX_DIMS];
  for (int i = 0; i < x->ndim; i++) {
    /* TensorFlow gives [[begin, end] per dim]; ONNX all begins, then all ends. */
    int64_t b = n->a.onnx ? p[i] : p[2 * i], e = n->a.onnx ? p[x->ndim + i] : p[2 * i + 1];
    if (b < 0 || e < 0 || b > 4096 || e > 4096)
      return fail(g, n, VG_EUNSUPPORTED, "negative or huge padding");
    n->a.ints[i] = b;
    n->a.ints2[i] = e;
    d[i] = x->dims[i] + b + e;
  }
  n->a.n_ints = n->a.n_ints2 = x->ndim;
  if (n->a.pad_reflect)
    for (int i = 0; i < x->ndim; i++)
      if (n->a.ints[i] >= x->dims[i] || n->a.ints2[i] >= x->dims[i])
        return fail(g, n, VG_EINVAL, "reflect padding wider than the input");
  return set_out(g, n, 0, x->dtype, x->ndim, d);
}

static int infer_concat(vg_graph_t *g, vg_node_t *n) {
  int nin = n->n_in;
  int err;
  if (n->a.n_ints == -2) {
    /* TensorFlow ConcatV2: the axis is the last input. */
    int64_t ax;
    int cnt;
    if ((err = const_ints(g, n, n->n_in - 1, &ax, 1, &cnt))) return err;
    if (cnt != 1) return fail(g, n, VG_EINVAL, "axis must be a scalar");
    n->a.axis = ax;
    nin--;
  }
  if (nin < 1) return fail(g, n, VG_EPROTO, "no inputs");
  for (int i = 0; i < nin; i++)
    if (n->in[i] < 0) return fail(g, n, VG_EPROTO, "missing input");
  vg_tensor_t *x = IN(0);
  if (norm_axis(&n->a.axis, x->ndim)) return fail(g, n, VG_EINVAL, "axis out of range");
  int64_t d[VG_TENSOR_MAX_DIMS];
  memcpy(d, x->dims, sizeof(d));
  d[n->a.axis] = 0;
  for (int i = 0; i < nin; i++) {
    vg_tensor_t *t = IN(i);
    if (t->ndim != x->ndim || t->dtype != x->dtype)
      return fail(g, n, VG_EINVAL, "inputs differ in rank or dtype");
    for (int k = 0; k < x->ndim; k++)
      if (k != n->a.axis && t->dims[k] != x->dims[k]) return fail(g, n, VG_EINVAL, "inputs differ in shape");
    d[n->a.axis] += t->dims[n->a.axis];
  }
  n->a.k = nin; /* the number of data inputs */
  return set_out(g, n, 0, x->dtype, x->ndim, d);
}

static int infer_reshape(vg_graph_t *g, vg_node_t *n) {
  int err = need_inputs(g, n, 1, 2);
  if (err) return err;
  vg_tensor_t *x = IN(0);
  int64_t s[VG_TENSOR_MAX_DIMS];
  int ns;
  if ((err = ints_operand(g, n, s, &ns))) return err;
  if (ns < 0) return fail(g, n, VG_EINVAL, "no shape");
  int64_t known = 1, total = vg_tensor_numel(x);
  int infer_at = -1;
  for (int i = 0; i < ns; i++) {
    if (s[i] == 0 && n->a.onnx) {
      if (i >= x->ndim) return fail(g, n, VG_EINVAL, "0 refers past the input rank");
      s[i] = x->dims[i];
    }
    if (s[i] == -1) {
      if (infer_at >= 0) return fail(g, n, VG_EINVAL, "more than one -1");
      infer_at = i;
    } else if (s[i] < 0) {
      return fail(g, n, VG_EINVAL, "negative dimension");
    } else {
      known *= s[i];
      if (known > (INT64_C(1) << 31)) return fail(g, n, VG_ETOOBIG, "shape too large");
    }
  }
  if (infer_at >= 0) {
    if (known == 0 || total % known) return fail(g, n, VG_EINVAL, "cannot infer -1");
    s[infer_at] = total / known;
  } else if (known != total) {
    return fail(g, n, VG_EINVAL, "element count differs");
  }
  return set_out(g, n, 0, x->dtype, ns, s);
}

static int infer_expand_squeeze(vg_graph_t *g, vg_node_t *n) {
  int err = need_inputs(g, n, 1, 2);
  if (err) return err;
  vg_tensor_t *x = IN(0);
  int64_t ax[VG_TENSOR_MAX_DIMS];
  int na;
  if ((err = ints_operand(g, n, ax, &na))) return err;
  if (na < 0) na = 0;
  int64_t d[VG_TENSOR_MAX_DIMS];
  int nd = 0;
  if (n->op == VG_OP_FLATTEN) {
    int64_t axis = n->a.axis;
    if (axis < 0) axis += x->ndim;
    if (axis < 0 || axis > x->ndim) return fail(g, n, VG_EINVAL, "axis out of range");
    d[0] = d[1] = 1;
    for (int i = 0; i < x->ndim; i++)
      d[i < axis ? 0 : 1] *= x->dims[i];
    return set_out(g, n, 0, x->dtype, 2, d);
  }
  if (n->op == VG_OP_SQUEEZE) {
    int drop = 0;
    for (int i = 0; i < na; i++) {
      if (norm_axis(&ax[i], x->ndim) || x->dims[ax[i]] != 1) return fail(g, n, VG_EINVAL, "bad squeeze axis");
      drop |= 1 << ax[i];
    }
    for (int i = 0; i < x->ndim; i++)
      if (na ? !(drop & (1 << i)) : x->dims[i] != 1) d[nd++] = x->dims[i];
    return set_out(g, n, 0, x->dtype, nd, d);
  }
  /* ExpandDims (one axis) and Unsqueeze (several, in the output's rank). */
  int r = x->ndim + na;
  if (na < 1 || r > VG_TENSOR_MAX_DIMS) return fail(g, n, VG_EINVAL, "bad axes");
  int ins = 0;
  for (int i = 0; i < na; i++) {
    if (norm_axis(&ax[i], r) || (ins & (1 << ax[i]))) return fail(g, n, VG_EINVAL, "bad axis");
    ins |= 1 << ax[i];
  }
  for (int i = 0, k = 0; i < r; i++)
    d[i] = (ins & (1 << i)) ? 1 : x->dims[k++];
  return set_out(g, n, 0, x->dtype, r, d);
}

static int infer_resize(vg_graph_t *g, vg_node_t *n) {
  int err = need_inputs(g, n, 1, 4);
  if (err) return err;
  vg_tensor_t *x = IN(0);
  if (x->ndim != 4 || x->dtype != VG_DT_F32) return fail(g, n, VG_EINVAL, "input must be 4-d f32");
  int nhwc = n->a.layout == VG_LAYOUT_NHWC;
  int64_t H = nhwc ? x->dims[1] : x->dims[2], W = nhwc ? x->dims[2] : x->dims[3];
  int64_t oh, ow;
  if (!n->a.onnx) {
    int64_t s[2];
    int ns;
    if ((err = const_ints(g, n, 1, s, 2, &ns))) return err;
    if (ns != 2) return fail(g, n, VG_EINVAL, "size must have 2 entries");
    oh = s[0];
    ow = s[1];
  } else {
    /* ONNX Resize(X, roi, scales, sizes): sizes wins when present. */
    if (n->n_in > 3 && n->in[3] >= 0 && vg_tensor_numel(IN(3)) > 0) {
      int64_t s[4];
      int ns;
      if ((err = const_ints(g, n, 3, s, 4, &ns))) return err;
      if (ns != 4 || s[0] != x->dims[0] || s[1] != x->dims[1])
        return fail(g, n, VG_EUNSUPPORTED, "only spatial sizes");
      oh = s[2];
      ow = s[3];
    } else if (n->n_in > 2 && n->in[2] >= 0) {
      const vg_value_t *sv = &g->values[n->in[2]];
      if (!sv->is_const || vg_tensor_numel(&sv->t) != 4 || sv->t.dtype != VG_DT_F32)
        return fail(g, n, VG_EUNSUPPORTED, "scales must be 4 constant floats");
      const float *sc = sv->t.data;
      if (sc[0] != 1.0f || sc[1] != 1.0f) return fail(g, n, VG_EUNSUPPORTED, "only spatial scales");
      oh = (int64_t)floorf((float)H * sc[2]);
      ow = (int64_t)floorf((float)W * sc[3]);
      n->a.alpha = sc[2];
      n->a.beta = sc[3];
    } else {
      return fail(g, n, VG_EINVAL, "neither scales nor sizes");
    }
  }
  if (oh <= 0 || ow <= 0 || oh > 16384 || ow > 16384) return fail(g, n, VG_EINVAL, "bad output size");
  int64_t d[4] = {x->dims[0], nhwc ? oh : x->dims[1], nhwc ? ow : oh, nhwc ? x->dims[3] : ow};
  return set_out(g, n, 0, VG_DT_F32, 4, d);
}

static int infer_split(vg_graph_t *g, vg_node_t *n) {
  int err;
  vg_tensor_t *x;
  int64_t sizes[VG_NODE_MAX_OUT];
  int ns = 0;
  if (!n->a.onnx) {
    /* TensorFlow SplitV(value, size_splits, split_dim). */
    if ((err = need_inputs(g, n, 3, 3))) return err;
    int64_t ax;
    int c;
    if ((err = const_ints(g, n, 2, &ax, 1, &c))) return err;
    n->a.axis = ax;
    if ((err = const_ints(g, n, 1, sizes, VG_NODE_MAX_OUT, &ns))) return err;
  } else {
    if ((err = need_inputs(g, n, 1, 2))) return err;
    if (n->n_in > 1 && n->in[1] >= 0) {
      if ((err = const_ints(g, n, 1, sizes, VG_NODE_MAX_OUT, &ns))) return err;
    } else if (n->a.n_ints > 0) {
      ns = n->a.n_ints > VG_NODE_MAX_OUT ? VG_NODE_MAX_OUT : n->a.n_ints;
      memcpy(sizes, n->a.ints, sizeof(int64_t) * (size_t)ns);
    }
  }
  x = IN(0);
  if (norm_axis(&n->a.axis, x->ndim)) return fail(g, n, VG_EINVAL, "axis out of range");
  int64_t dim = x->dims[n->a.axis];
  if (ns == 0) {
    ns = n->n_out;
    if (ns <= 0 || dim % ns) return fail(g, n, VG_EINVAL, "cannot split evenly");
    for (int i = 0; i < ns; i++)
      sizes[i] = dim / ns;
  }
  if (ns != n->n_out) return fail(g, n, VG_EINVAL, "split count differs from outputs");
  int64_t sum = 0;
  int infer_at = -1;
  for (int i = 0; i < ns; i++) {
    if (sizes[i] == -1 && infer_at < 0)
      infer_at = i;
    else if (sizes[i] < 0)
      return fail(g, n, VG_EINVAL, "bad split size");
    else
      sum += sizes[i];
  }
  if (infer_at >= 0) sizes[infer_at] = dim - sum, sum = dim;
  if (sum != dim || (infer_at >= 0 && sizes[infer_at] < 0))
    return fail(g, n, VG_EINVAL, "split sizes do not add up");
  for (int i = 0; i < ns; i++) {
    int64_t d[VG_TENSOR_MAX_DIMS];
    memcpy(d, x->dims, sizeof(d));
    d[n->a.axis] = sizes[i];
    n->a.ints[i] = sizes[i];
    if ((err = set_out(g, n, i, x->dtype, x->ndim, d))) return err;
  }
  n->a.n_ints = ns;
  return 0;
}

static int infer_sparse_to_dense(vg_graph_t *g, vg_node_t *n) {
  int err = need_inputs(g, n, 4, 4);
  if (err) return err;
  int64_t s[VG_TENSOR_MAX_DIMS];
  int ns;
  if ((err = const_ints(g, n, 1, s, VG_TENSOR_MAX_DIMS, &ns))) return err;
  vg_tensor_t *idx = IN(0), *vals = IN(2), *def = IN(3);
  if (idx->dtype != VG_DT_I32 || vals->dtype != def->dtype || vg_tensor_numel(def) != 1)
    return fail(g, n, VG_EINVAL, "bad indices, values or default");
  return set_out(g, n, 0, vals->dtype, ns, s);
}

static int infer_mean(vg_graph_t *g, vg_node_t *n) {
  int err = need_inputs(g, n, 1, 2);
  if (err) return err;
  vg_tensor_t *x = IN(0);
  int64_t ax[VG_TENSOR_MAX_DIMS];
  int na;
  if ((err = ints_operand(g, n, ax, &na))) return err;
  if (na < 0) {
    na = x->ndim;
    for (int i = 0; i < na; i++)
      ax[i] = i;
  }
  if (x->dtype != VG_DT_F32) return fail(g, n, VG_EUNSUPPORTED, "input must be f32");
  int mask = 0;
  for (int i = 0; i < na; i++) {
    if (norm_axis(&ax[i], x->ndim)) return fail(g, n, VG_EINVAL, "axis out of range");
    mask |= 1 << ax[i];
  }
  int64_t d[VG_TENSOR_MAX_DIMS];
  int nd = 0;
  for (int i = 0; i < x->ndim; i++) {
    if (mask & (1 << i)) {
      if (n->a.keep_dims) d[nd++] = 1;
    } else {
      d[nd++] = x->dims[i];
    }
  }
  n->a.k = mask;
  return set_out(g, n, 0, VG_DT_F32, nd, d);
}

static int infer_cast(vg_graph_t *g, vg_node_t *n) {
  int err = need_inputs(g, n, 1, 1);
  if (err) return err;
  vg_tensor_t *x = IN(0);
  return set_out(g, n, 0, n->a.to, x->ndim, x->dims);
}

/* StridedSlice (TF) and Slice (ONNX) both normalize to a begin and a step per
 * dimension (a.ints, a.ints2) and an output shape before the shrink. */
static int infer_slice(vg_graph_t *g, vg_node_t *n) {
  int err;
  vg_tensor_t *x;
  int64_t b[VG_TENSOR_MAX_DIMS], e[VG_TENSOR_MAX_DIMS], st[VG_TENSOR_MAX_DIMS];
  int nb, ne, nst, r;
  int64_t od[VG_TENSOR_MAX_DIMS];
  if (n->op == VG_OP_STRIDED_SLICE) {
    if ((err = need_inputs(g, n, 4, 4))) return err;
    x = IN(0);
    r = x->ndim;
    if ((err = const_ints(g, n, 1, b, VG_TENSOR_MAX_DIMS, &nb)) ||
        (err = const_ints(g, n, 2, e, VG_TENSOR_MAX_DIMS, &ne)) ||
        (err = const_ints(g, n, 3, st, VG_TENSOR_MAX_DIMS, &nst)))
      return err;
    if (nb != ne || nb != nst || nb > r) return fail(g, n, VG_EINVAL, "begin/end/strides lengths differ");
    if (n->a.ellipsis_mask || n->a.new_axis_mask)
      return fail(g, n, VG_EUNSUPPORTED, "ellipsis/new-axis masks");
    for (int i = nb; i < r; i++)
      b[i] = 0, e[i] = x->dims[i], st[i] = 1;
    for (int i = 0; i < r; i++) {
      int64_t dim = x->dims[i], s = st[i];
      if (s == 0) return fail(g, n, VG_EINVAL, "zero stride");
      int bm = i < nb && (n->a.begin_mask >> i) & 1, em = i < nb && (n->a.end_mask >> i) & 1;
      int shrink = i < nb && (n->a.shrink_axis_mask >> i) & 1;
      int64_t bb = b[i], ee = e[i];
      if (bb < 0) bb += dim;
      if (ee < 0) ee += dim;
      if (shrink) {
        if (bb < 0 || bb >= dim) return fail(g, n, VG_EINVAL, "shrink index out of range");
        ee = bb + 1;
        s = 1;
      } else if (s > 0) {
        bb = bm ? 0 : (bb < 0 ? 0 : bb > dim ? dim : bb);
        ee = em ? dim : (ee < 0 ? 0 : ee > dim ? dim : ee);
      } else {
        bb = bm ? dim - 1 : (bb < -1 ? -1 : bb > dim - 1 ? dim - 1 : bb);
        ee = em ? -1 : (ee < -1 ? -1 : ee > dim - 1 ? dim - 1 : ee);
      }
      int64_t len = s > 0 ? (ee - bb + s - 1) / s : (bb - ee - s - 1) / -s;
      od[i] = len < 0 ? 0 : len;
      n->a.ints[i] = bb;
      n->a.ints2[i] = s;
    }
  } else {
    if ((err = need_inputs(g, n, 3, 5))) return err;
    x = IN(0);
    r = x->ndim;
    int64_t ax[VG_TENSOR_MAX_DIMS];
    int na;
    if ((err = const_ints(g, n, 1, b, VG_TENSOR_MAX_DIMS, &nb)) ||
        (err = const_ints(g, n, 2, e, VG_TENSOR_MAX_DIMS, &ne)))
      return err;
    if (nb != ne) return fail(g, n, VG_EINVAL, "starts/ends lengths differ");
    if (n->n_in > 3 && n->in[3] >= 0) {
      if ((err = const_ints(g, n, 3, ax, VG_TENSOR_MAX_DIMS, &na))) return err;
      if (na != nb) return fail(g, n, VG_EINVAL, "axes length differs");
    } else {
      for (int i = 0; i < nb; i++)
        ax[i] = i;
    }
    if (n->n_in > 4 && n->in[4] >= 0) {
      if ((err = const_ints(g, n, 4, st, VG_TENSOR_MAX_DIMS, &nst))) return err;
      if (nst != nb) return fail(g, n, VG_EINVAL, "steps length differs");
    } else {
      for (int i = 0; i < nb; i++)
        st[i] = 1;
    }
    for (int i = 0; i < r; i++)
      od[i] = x->dims[i], n->a.ints[i] = 0, n->a.ints2[i] = 1;
    for (int i = 0; i < nb; i++) {
      if (norm_axis(&ax[i], r)) return fail(g, n, VG_EINVAL, "axis out of range");
      int64_t dim = x->dims[ax[i]], s = st[i], bb = b[i], ee = e[i];
      if (s == 0) return fail(g, n, VG_EINVAL, "zero step");
      if (bb < 0) bb += dim;
      if (ee < 0) ee += dim;
      if (s > 0) {
        bb = bb < 0 ? 0 : bb > dim ? dim : bb;
        ee = ee < 0 ? 0 : ee > dim ? dim : ee;
      } else {
        bb = bb < 0 ? -1 : bb > dim - 1 ? dim - 1 : bb;
        ee = ee < -1 ? -1 : ee > dim - 1 ? dim - 1 : ee;
      }
      int64_t len = s > 0 ? (ee - bb + s - 1) / s : (bb - ee - s - 1) / -s;
      od[ax[i]] = len < 0 ? 0 : len;
      n->a.ints[ax[i]] = bb;
      n->a.ints2[ax[i]] = s;
    }
  }
  n->a.n_ints = n->a.n_ints2 = r;
  /* The kernel walks the unshrunk shape; the output drops shrunk axes. */
  memcpy(n->a.ints + VG_TENSOR_MAX_DIMS, od, sizeof(int64_t) * (size_t)r);
  int64_t d[VG_TENSOR_MAX_DIMS];
  int nd = 0;
  for (int i = 0; i < r; i++)
    if (!(n->op == VG_OP_STRIDED_SLICE && ((n->a.shrink_axis_mask >> i) & 1))) d[nd++] = od[i];
  return set_out(g, n, 0, x->dtype, nd, d);
}

static int infer_topk(vg_graph_t *g, vg_node_t *n) {
  int err = need_inputs(g, n, 1, 2);
  if (err) return err;
  vg_tensor_t *x = IN(0);
  if (n->n_in > 1) {
    int64_t k;
    int c;
    if ((err = const_ints(g, n, 1, &k, 1, &c))) return err;
    n->a.k = k;
  }
  if (x->ndim < 1 || x->dtype != VG_DT_F32 || n->n_out != 2)
    return fail(g, n, VG_EINVAL, "bad input or outputs");
  if (n->a.k < 0 || n->a.k > x->dims[x->ndim - 1]) return fail(g, n, VG_EINVAL, "k out of range");
  int64_t d[VG_TENSOR_MAX_DIMS];
  memcpy(d, x->dims, sizeof(d));
  d[x->ndim - 1] = n->a.k;
  if ((err = set_out(g, n, 0, VG_DT_F32, x->ndim, d))) return err;
  return set_out(g, n, 1, VG_DT_I32, x->ndim, d);
}

static int infer_gather(vg_graph_t *g, vg_node_t *n) {
  int err = need_inputs(g, n, 2, 3);
  if (err) return err;
  vg_tensor_t *x = IN(0), *idx = IN(1);
  if (n->n_in > 2) {
    int64_t ax;
    int c;
    if ((err = const_ints(g, n, 2, &ax, 1, &c))) return err;
    n->a.axis = ax;
  }
  if (idx->dtype != VG_DT_I32) return fail(g, n, VG_EINVAL, "indices must be integers");
  if (norm_axis(&n->a.axis, x->ndim)) return fail(g, n, VG_EINVAL, "axis out of range");
  int r = x->ndim - 1 + idx->ndim;
  if (r > VG_TENSOR_MAX_DIMS) return fail(g, n, VG_EINVAL, "result rank too large");
  int64_t d[VG_TENSOR_MAX_DIMS];
  int k = 0;
  for (int i = 0; i < n->a.axis; i++)
    d[k++] = x->dims[i];
  for (int i = 0; i < idx->ndim; i++)
    d[k++] = idx->dims[i];
  for (int i = (int)n->a.axis + 1; i < x->ndim; i++)
    d[k++] = x->dims[i];
  return set_out(g, n, 0, x->dtype, r, d);
}

static int infer_softmax(vg_graph_t *g, vg_node_t *n) {
  int err = need_inputs(g, n, 1, 1);
  if (err) return err;
  vg_tensor_t *x = IN(0);
  if (x->dtype != VG_DT_F32 || norm_axis(&n->a.axis, x->ndim))
    return fail(g, n, VG_EINVAL, "bad input or axis");
  return set_out(g, n, 0, VG_DT_F32, x->ndim, x->dims);
}

static int infer_matmul(vg_graph_t *g, vg_node_t *n) {
  int err = need_inputs(g, n, 2, 3);
  if (err) return err;
  vg_tensor_t *a = IN(0), *b = IN(1);
  if (a->dtype != VG_DT_F32 || b->dtype != VG_DT_F32) return fail(g, n, VG_EUNSUPPORTED, "f32 only");
  if (n->op == VG_OP_GEMM) {
    if (a->ndim != 2 || b->ndim != 2) return fail(g, n, VG_EINVAL, "Gemm needs 2-d inputs");
    int64_t M = n->a.trans_a ? a->dims[1] : a->dims[0], K = n->a.trans_a ? a->dims[0] : a->dims[1];
    int64_t K2 = n->a.trans_b ? b->dims[1] : b->dims[0], N = n->a.trans_b ? b->dims[0] : b->dims[1];
    if (K != K2) return fail(g, n, VG_EINVAL, "inner dimensions differ");
    int64_t d[2] = {M, N};
    if (n->n_in > 2 && n->in[2] >= 0) {
      int nd;
      int64_t bd[VG_TENSOR_MAX_DIMS];
      vg_tensor_t o = {.ndim = 2, .dims = {M, N}};
      if (broadcast_shape(&o, IN(2), &nd, bd) || nd != 2 || bd[0] != M || bd[1] != N)
        return fail(g, n, VG_EINVAL, "C does not broadcast to the result");
    }
    return set_out(g, n, 0, VG_DT_F32, 2, d);
  }
  if (a->ndim < 1 || b->ndim < 1) return fail(g, n, VG_EINVAL, "scalars");
  /* numpy matmul: 1-d operands get a dimension added and removed again. */
  vg_tensor_t aa = *a, bb = *b;
  aa.data = bb.data = NULL;
  aa.owned = bb.owned = 0;
  if (a->ndim == 1) aa.ndim = 2, aa.dims[0] = 1, aa.dims[1] = a->dims[0];
  if (b->ndim == 1) bb.ndim = 2, bb.dims[0] = b->dims[0], bb.dims[1] = 1;
  if (aa.dims[aa.ndim - 1] != bb.dims[bb.ndim - 2]) return fail(g, n, VG_EINVAL, "inner dimensions differ");
  vg_tensor_t ba = aa, bbb = bb;
  ba.ndim -= 2;
  bbb.ndim -= 2;
  int nd;
  int64_t d[VG_TENSOR_MAX_DIMS];
  if (broadcast_shape(&ba, &bbb, &nd, d)) return fail(g, n, VG_EINVAL, "batch dimensions do not broadcast");
  if (nd + 2 > VG_TENSOR_MAX_DIMS) return fail(g, n, VG_EINVAL, "rank too large");
  if (a->ndim > 1) d[nd++] = aa.dims[aa.ndim - 2];
  if (b->ndim > 1) d[nd++] = bb.dims[bb.ndim - 1];
  return set_out(g, n, 0, VG_DT_F32, nd, d);
}

static int infer_batchnorm(vg_graph_t *g, vg_node_t *n) {
  int err = need_inputs(g, n, 5, 5);
  if (err) return err;
  vg_tensor_t *x = IN(0);
  if (x->ndim < 2 || x->dtype != VG_DT_F32) return fail(g, n, VG_EINVAL, "input must be f32 with channels");
  for (int i = 1; i < 5; i++)
    if (vg_tensor_numel(IN(i)) != x->dims[1])
      return fail(g, n, VG_EINVAL, "parameter length differs from channels");
  return set_out(g, n, 0, VG_DT_F32, x->ndim, x->dims);
}

static int infer_shape_op(vg_graph_t *g, vg_node_t *n) {
  int err = need_inputs(g, n, 1, 1);
  if (err) return err;
  /* ONNX 15 start/end (a.ints[0..1]; a.n_ints says which were given),
   * clamped like a slice. */
  int64_t r = IN(0)->ndim, b = n->a.n_ints >= 1 ? n->a.ints[0] : 0, e = n->a.n_ints >= 2 ? n->a.ints[1] : r;
  if (b < 0) b += r;
  if (e < 0) e += r;
  b = b < 0 ? 0 : b > r ? r : b;
  e = e < 0 ? 0 : e > r ? r : e;
  n->a.k = b;
  int64_t d[1] = {e > b ? e - b : 0};
  return set_out(g, n, 0, VG_DT_I32, 1, d);
}

static int infer_global_pool(vg_graph_t *g, vg_node_t *n) {
  int err = need_inputs(g, n, 1, 1);
  if (err) return err;
  vg_tensor_t *x = IN(0);
  if (x->ndim < 3 || x->dtype != VG_DT_F32) return fail(g, n, VG_EINVAL, "input must be f32 NC...");
  int64_t d[VG_TENSOR_MAX_DIMS];
  for (int i = 0; i < x->ndim; i++)
    d[i] = i < 2 ? x->dims[i] : 1;
  return set_out(g, n, 0, VG_DT_F32, x->ndim, d);
}

int vg_op_infer(vg_graph_t *g, int ni) {
  vg_node_t *n = &g->nodes[ni];
  for (int i = 0; i < n->n_out; i++)
    if (n->out[i] < 0) return fail(g, n, VG_EPROTO, "missing output");
  switch (n->op) {
  case VG_OP_CONV: return infer_conv_like(g, n, 0);
  case VG_OP_MAXPOOL:
  case VG_OP_AVGPOOL: return infer_conv_like(g, n, 1);
  case VG_OP_ADD:
  case VG_OP_SUB:
  case VG_OP_MUL:
  case VG_OP_DIV:
  case VG_OP_FLOORDIV:
  case VG_OP_FLOORMOD:
  case VG_OP_EQUAL:
  case VG_OP_MAXIMUM:
  case VG_OP_MINIMUM:
  case VG_OP_POW: return infer_binary(g, n);
  case VG_OP_IDENTITY:
  case VG_OP_RELU:
  case VG_OP_RELU6:
  case VG_OP_LEAKYRELU:
  case VG_OP_SIGMOID:
  case VG_OP_CLIP:
  case VG_OP_HARDSIGMOID:
  case VG_OP_HARDSWISH:
  case VG_OP_TANH:
  case VG_OP_EXP:
  case VG_OP_NEG:
  case VG_OP_SQRT: return infer_unary(g, n);
  case VG_OP_TRANSPOSE: return infer_transpose(g, n);
  case VG_OP_PAD: return infer_pad(g, n);
  case VG_OP_CONCAT: return infer_concat(g, n);
  case VG_OP_RESHAPE: return infer_reshape(g, n);
  case VG_OP_EXPAND_DIMS:
  case VG_OP_SQUEEZE:
  case VG_OP_UNSQUEEZE:
  case VG_OP_FLATTEN: return infer_expand_squeeze(g, n);
  case VG_OP_RESIZE: return infer_resize(g, n);
  case VG_OP_SPLIT: return infer_split(g, n);
  case VG_OP_SPARSE_TO_DENSE: return infer_sparse_to_dense(g, n);
  case VG_OP_MEAN: return infer_mean(g, n);
  case VG_OP_CAST: return infer_cast(g, n);
  case VG_OP_STRIDED_SLICE:
  case VG_OP_SLICE: return infer_slice(g, n);
  case VG_OP_TOPK: return infer_topk(g, n);
  case VG_OP_GATHER: return infer_gather(g, n);
  case VG_OP_SOFTMAX: return infer_softmax(g, n);
  case VG_OP_MATMUL:
  case VG_OP_GEMM: return infer_matmul(g, n);
  case VG_OP_BATCHNORM: return infer_batchnorm(g, n);
  case VG_OP_SHAPE: return infer_shape_op(g, n);
  case VG_OP_GLOBALAVGPOOL: return infer_global_pool(g, n);
  case VG_OP_COUNT: break;
  }
  return fail(g, n, VG_EUNSUPPORTED, "operator not supported");
}

/* ---- reference kernels ------------------------------------------------------ */

void vg_apply_act(float *x, int64_t n, vg_act_t act, float alpha, float beta) {
  switch (act) {
  case VG_ACT_NONE: break;
  case VG_ACT_RELU:
    for (int64_t i = 0; i < n; i++)
      x[i] = x[i] > 0 ? x[i] : 0;
    break;
  case VG_ACT_RELU6:
    for (int64_t i = 0; i < n; i++)
      x[i] = x[i] < 0 ? 0 : x[i] > 6 ? 6 : x[i];
    break;
  case VG_ACT_LEAKY:
    for (int64_t i = 0; i < n; i++)
      x[i] = x[i] < 0 ? x[i] * alpha : x[i];
    break;
  case VG_ACT_SIGMOID:
    for (int64_t i = 0; i < n; i++)
      x[i] = 1.0f / (1.0f + expf(-x[i]));
    break;
  case VG_ACT_CLIP:
    for (int64_t i = 0; i < n; i++)
      x[i] = x[i] < alpha ? alpha : x[i] > beta ? beta : x[i];
    break;
  case VG_ACT_HARDSWISH:
    for (int64_t i = 0; i < n; i++) {
      float r = x[i] + alpha;
      r = r < 0 ? 0 : r > 6 ? 6 : r;
      x[i] = x[i] * beta * r;
    }
    break;
  }
}

static int k_conv(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out, vg_exec_ctx_t *ctx) {
  const vg_attrs_t *a = &n->a;
  const vg_tensor_t *x = in[0], *w = in[1], *bias = n->n_in > 2 ? in[2] : NULL;
  vg_tensor_t *y = out[0];
  int nhwc = a->layout == VG_LAYOUT_NHWC;
  int64_t N = x->dims[0], C = nhwc ? x->dims[3] : x->dims[1];
  int64_t H = nhwc ? x->dims[1] : x->dims[2], W = nhwc ? x->dims[2] : x->dims[3];
  int64_t OH = nhwc ? y->dims[1] : y->dims[2], OW = nhwc ? y->dims[2] : y->dims[3];
  int64_t CO = nhwc ? y->dims[3] : y->dims[1];
  int64_t KH = a->ksize[0], KW = a->ksize[1], G = a->group, CIG = C / G, COG = CO / G;
  /* Element strides of the activations and the filter in each layout. */
  int64_t xsN = C * H * W, xsC = nhwc ? 1 : H * W, xsH = nhwc ? W * C : W, xsW = nhwc ? C : 1;
  int64_t ysN = CO * OH * OW, ysC = nhwc ? 1 : OH * OW, ysH = nhwc ? OW * CO : OW, ysW = nhwc ? CO : 1;
  int64_t wsO, wsI, wsY, wsX;
  if (a->filter_layout == VG_FILTER_OIHW) {
    wsO = CIG * KH * KW, wsI = KH * KW, wsY = KW, wsX = 1;
  } else {
    /* HWIO, and HWCM which is HWIO with one input channel per group. */
    wsO = 1, wsI = CO, wsX = CIG * CO, wsY = KW * CIG * CO;
  }
  const float *xd = x->data, *wd = w->data, *bd = bias ? bias->data : NULL;
  float *yd = y->data;
  for (int64_t b = 0; b < N; b++)
    for (int64_t oy = 0; oy < OH; oy++)
      for (int64_t ox = 0; ox < OW; ox++) {
        float *yp = yd + b * ysN + oy * ysH + ox * ysW;
        for (int64_t co = 0; co < CO; co++)
          yp[co * ysC] = bd ? bd[co] : 0.0f;
        for (int64_t ky = 0; ky < KH; ky++) {
          int64_t iy = oy * a->strides[0] - a->pads[0] + ky * a->dilations[0];
          if (iy < 0 || iy >= H) continue;
          for (int64_t kx = 0; kx < KW; kx++) {
            int64_t ix = ox * a->strides[1] - a->pads[1] + kx * a->dilations[1];
            if (ix < 0 || ix >= W) continue;
            const float *xp = xd + b * xsN + iy * xsH + ix * xsW;
            const float *wp = wd + ky * wsY + kx * wsX;
            for (int64_t ci = 0; ci < C; ci++) {
              float xv = xp[ci * xsC];
              int64_t gi = ci / CIG, cl = ci % CIG;
              const float *wq = wp + cl * wsI;
              for (int64_t co = gi * COG; co < (gi + 1) * COG; co++)
                yp[co * ysC] += xv * wq[co * wsO];
            }
          }
        }
        if (a->act != VG_ACT_NONE)
          for (int64_t co = 0; co < CO; co++)
            vg_apply_act(&yp[co * ysC], 1, a->act, a->alpha, a->beta);
      }
  (void)ctx;
  return 0;
}

static int k_pool(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out, vg_exec_ctx_t *ctx) {
  const vg_attrs_t *a = &n->a;
  const vg_tensor_t *x = in[0];
  vg_tensor_t *y = out[0];
  int nhwc = a->layout == VG_LAYOUT_NHWC;
  int64_t N = x->dims[0], C = nhwc ? x->dims[3] : x->dims[1];
  int64_t H = nhwc ? x->dims[1] : x->dims[2], W = nhwc ? x->dims[2] : x->dims[3];
  int64_t OH = nhwc ? y->dims[1] : y->dims[2], OW = nhwc ? y->dims[2] : y->dims[3];
  int64_t xsC = nhwc ? 1 : H * W, xsH = nhwc ? W * C : W, xsW = nhwc ? C : 1;
  /* NHWC output pixels may be out_pitch elements apart: a channel slice of
   * a concatenation's buffer (vg_backend_t.writes_pitched). */
  int64_t P = nhwc && n->a.out_pitch > 0 ? n->a.out_pitch : C;
  int64_t ysC = nhwc ? 1 : OH * OW, ysH = nhwc ? OW * P : OW, ysW = nhwc ? P : 1;
  int is_max = n->op == VG_OP_MAXPOOL;
  const float *xd = x->data;
  float *yd = y->data;
  for (int64_t b = 0; b < N; b++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t oy = 0; oy < OH; oy++)
        for (int64_t ox = 0; ox < OW; ox++) {
          float acc = is_max ? -INFINITY : 0.0f;
          int64_t cnt = 0;
          for (int64_t ky = 0; ky < a->ksize[0]; ky++) {
            int64_t iy = oy * a->strides[0] - a->pads[0] + ky * a->dilations[0];
            for (int64_t kx = 0; kx < a->ksize[1]; kx++) {
              int64_t ix = ox * a->strides[1] - a->pads[1] + kx * a->dilations[1];
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) {
                /* Explicit pads count as zeros for ONNX count_include_pad, but
                 * only within the declared pads, never ceil_mode's extension. */
                if (!is_max && a->count_include_pad && iy >= -a->pads[0] && iy < H + a->pads[2] &&
                    ix >= -a->pads[1] && ix < W + a->pads[3])
                  cnt++;
                continue;
              }
              float v = xd[b * C * H * W + c * xsC + iy * xsH + ix * xsW];
              if (is_max)
                acc = v > acc ? v : acc;
              else
                acc += v;
              cnt++;
            }
          }
          yd[b * C * OH * OW + c * ysC + oy * ysH + ox * ysW] =
              is_max ? acc : (cnt ? acc / (float)cnt : 0.0f);
        }
  (void)ctx;
  return 0;
}

static int k_global_pool(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out,
                         vg_exec_ctx_t *ctx) {
  const vg_tensor_t *x = in[0];
  int64_t NC = x->dims[0] * x->dims[1], S = vg_tensor_numel(x) / (NC ? NC : 1);
  const float *xd = x->data;
  float *yd = out[0]->data;
  for (int64_t i = 0; i < NC; i++) {
    double s = 0;
    for (int64_t k = 0; k < S; k++)
      s += xd[i * S + k];
    yd[i] = (float)(s / (double)S);
  }
  (void)n, (void)ctx;
  return 0;
}

/* Broadcast strides of t against an output of rank r and dims od. */
static void bcast_strides(const vg_tensor_t *t, int r, const int64_t *od, int64_t *st) {
  int64_t s = 1;
  for (int i = r - 1; i >= 0; i--) {
    int ti = t->ndim - r + i;
    int64_t d = ti >= 0 ? t->dims[ti] : 1;
    st[i] = d == 1 && od[i] != 1 ? 0 : s;
    s *= d;
  }
}

static float f_floordiv(float a, float b) { return floorf(a / b); }
static float f_floormod(float a, float b) {
  float m = fmodf(a, b);
  return (m != 0 && ((m < 0) != (b < 0))) ? m + b : m;
}
static int32_t i_floordiv(int32_t a, int32_t b) {
  if (b == 0) return 0;
  int32_t q = a / b;
  return (q * b != a && ((a < 0) != (b < 0))) ? q - 1 : q;
}
static int32_t i_floormod(int32_t a, int32_t b) {
  if (b == 0) return 0;
  int32_t m = a % b;
  return (m != 0 && ((m < 0) != (b < 0))) ? m + b : m;
}

static inline float bin_f(vg_op_t op, float a, float b) {
  switch (op) {
  case VG_OP_ADD: return a + b;
  case VG_OP_SUB: return a - b;
  case VG_OP_MUL: return a * b;
  case VG_OP_DIV: return a / b;
  case VG_OP_FLOORDIV: return f_floordiv(a, b);
  case VG_OP_FLOORMOD: return f_floormod(a, b);
  case VG_OP_MAXIMUM: return a > b ? a : b;
  case VG_OP_MINIMUM: return a < b ? a : b;
  case VG_OP_POW: return powf(a, b);
  default: return 0;
  }
}

static inline int32_t bin_i(vg_op_t op, int32_t a, int32_t b) {
  /* Wrapping arithmetic: integer tensors come from untrusted files too. */
  switch (op) {
  case VG_OP_ADD: return (int32_t)((uint32_t)a + (uint32_t)b);
  case VG_OP_SUB: return (int32_t)((uint32_t)a - (uint32_t)b);
  case VG_OP_MUL: return (int32_t)((uint32_t)a * (uint32_t)b);
  case VG_OP_DIV: return b == 0 || (a == INT32_MIN && b == -1) ? 0 : a / b;
  case VG_OP_FLOORDIV: return b == -1 && a == INT32_MIN ? 0 : i_floordiv(a, b);
  case VG_OP_FLOORMOD: return b == -1 ? 0 : i_floormod(a, b);
  case VG_OP_MAXIMUM: return a > b ? a : b;
  case VG_OP_MINIMUM: return a < b ? a : b;
  case VG_OP_POW: return (int32_t)pow(a, b);
  default: return 0;
  }
}

static int k_binary(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out, vg_exec_ctx_t *ctx) {
  const vg_tensor_t *A = in[0], *B = in[1];
  vg_tensor_t *Y = out[0];
  int r = Y->ndim;
  int64_t sa[VG_TENSOR_MAX_DIMS], sb[VG_TENSOR_MAX_DIMS], idx[VG_TENSOR_MAX_DIMS] = {0};
  bcast_strides(A, r, Y->dims, sa);
  bcast_strides(B, r, Y->dims, sb);
  int64_t inner = r ? Y->dims[r - 1] : 1, total = vg_tensor_numel(Y);
  int64_t ia = r ? sa[r - 1] : 0, ib = r ? sb[r - 1] : 0;
  int is_f = A->dtype == VG_DT_F32;
  if (inner == 0 || total == 0) return 0;
  for (int64_t o = 0; o < total; o += inner) {
    int64_t oa = 0, ob = 0;
    for (int i = 0; i < r - 1; i++)
      oa += idx[i] * sa[i], ob += idx[i] * sb[i];
    if (is_f) {
      const float *pa = (const float *)A->data + oa, *pb = (const float *)B->data + ob;
      if (n->op == VG_OP_EQUAL) {
        uint8_t *py = (uint8_t *)Y->data + o;
        for (int64_t k = 0; k < inner; k++)
          py[k] = pa[k * ia] == pb[k * ib];
      } else {
        float *py = (float *)Y->data + o;
        for (int64_t k = 0; k < inner; k++)
          py[k] = bin_f(n->op, pa[k * ia], pb[k * ib]);
      }
    } else {
      const int32_t *pa = (const int32_t *)A->data + oa, *pb = (const int32_t *)B->data + ob;
      if (n->op == VG_OP_EQUAL) {
        uint8_t *py = (uint8_t *)Y->data + o;
        for (int64_t k = 0; k < inner; k++)
          py[k] = pa[k * ia] == pb[k * ib];
      } else {
        int32_t *py = (int32_t *)Y->data + o;
        for (int64_t k = 0; k < inner; k++)
          py[k] = bin_i(n->op, pa[k * ia], pb[k * ib]);
      }
    }
    for (int i = r - 2; i >= 0; i--) {
      if (++idx[i] < Y->dims[i]) break;
      idx[i] = 0;
    }
  }
  (void)ctx;
  return 0;
}

static int k_unary(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out, vg_exec_ctx_t *ctx) {
  int64_t cnt = vg_tensor_numel(in[0]);
  if (n->op == VG_OP_IDENTITY) {
    if (out[0]->data != in[0]->data) memcpy(out[0]->data, in[0]->data, vg_tensor_bytes(in[0]));
    return 0;
  }
  if (in[0]->dtype == VG_DT_I32) {
    const int32_t *x = in[0]->data;
    int32_t *y = out[0]->data;
    for (int64_t i = 0; i < cnt; i++)
      y[i] = (int32_t)(0u - (uint32_t)x[i]);
    return 0;
  }
  const float *x = in[0]->data;
  float *y = out[0]->data;
  float al = n->a.alpha, be = n->a.beta;
  for (int64_t i = 0; i < cnt; i++) {
    float v = x[i];
    switch (n->op) {
    case VG_OP_RELU: v = v > 0 ? v : 0; break;
    case VG_OP_RELU6: v = v < 0 ? 0 : v > 6 ? 6 : v; break;
    case VG_OP_LEAKYRELU: v = v < 0 ? v * al : v; break;
    case VG_OP_SIGMOID: v = 1.0f / (1.0f + expf(-v)); break;
    case VG_OP_CLIP: v = v < al ? al : v > be ? be : v; break;
    case VG_OP_HARDSIGMOID: v = fmaxf(0.0f, fminf(1.0f, al * v + be)); break;
    case VG_OP_HARDSWISH: v = v * fmaxf(0.0f, fminf(1.0f, v / 6.0f + 0.5f)); break;
    case VG_OP_TANH: v = tanhf(v); break;
    case VG_OP_EXP: v = expf(v); break;
    case VG_OP_NEG: v = -v; break;
    case VG_OP_SQRT: v = sqrtf(v); break;
    default: break;
    }
    y[i] = v;
  }
  (void)ctx;
  return 0;
}

static int k_copy(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out, vg_exec_ctx_t *ctx) {
  if (out[0]->data != in[0]->data) memcpy(out[0]->data, in[0]->data, vg_tensor_bytes(out[0]));
  (void)n, (void)ctx;
  return 0;
}

static int k_transpose(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out,
                       vg_exec_ctx_t *ctx) {
  const vg_tensor_t *x = in[0];
  vg_tensor_t *y = out[0];
  int r = x->ndim;
  size_t es = vg_dtype_size(x->dtype);
  int64_t xs[VG_TENSOR_MAX_DIMS], st[VG_TENSOR_MAX_DIMS], idx[VG_TENSOR_MAX_DIMS] = {0};
  int64_t s = 1;
  for (int i = r - 1; i >= 0; i--)
    xs[i] = s, s *= x->dims[i];
  for (int i = 0; i < r; i++)
    st[i] = xs[n->a.ints[i]];
  int64_t total = vg_tensor_numel(y);
  const char *xd = x->data;
  char *yd = y->data;
  for (int64_t o = 0; o < total; o++) {
    int64_t off = 0;
    for (int i = 0; i < r; i++)
      off += idx[i] * st[i];
    memcpy(yd + o * (int64_t)es, xd + off * (int64_t)es, es);
    for (int i = r - 1; i >= 0; i--) {
      if (++idx[i] < y->dims[i]) break;
      idx[i] = 0;
    }
  }
  (void)ctx;
  return 0;
}

static int k_pad(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out, vg_exec_ctx_t *ctx) {
  const vg_tensor_t *x = in[0];
  vg_tensor_t *y = out[0];
  int r = x->ndim;
  size_t es = vg_dtype_size(x->dtype);
  int64_t total = vg_tensor_numel(y), idx[VG_TENSOR_MAX_DIMS] = {0}, xs[VG_TENSOR_MAX_DIMS];
  int64_t s = 1;
  for (int i = r - 1; i >= 0; i--)
    xs[i] = s, s *= x->dims[i];
  float fv = n->a.pad_value;
  int32_t iv = (int32_t)n->a.pad_value;
  for (int64_t o = 0; o < total; o++) {
    int64_t off = 0;
    int inside = 1;
    for (int i = 0; i < r; i++) {
      int64_t c = idx[i] - n->a.ints[i];
      if (c < 0 || c >= x->dims[i]) {
        if (!n->a.pad_reflect) {
          inside = 0;
          break;
        }
        c = c < 0 ? -c : 2 * (x->dims[i] - 1) - c;
      }
      off += c * xs[i];
    }
    char *dst = (char *)y->data + o * (int64_t)es;
    if (inside)
      memcpy(dst, (const char *)x->data + off * (int64_t)es, es);
    else if (x->dtype == VG_DT_F32)
      memcpy(dst, &fv, 4);
    else if (x->dtype == VG_DT_I32)
      memcpy(dst, &iv, 4);
    else
      *dst = 0;
    for (int i = r - 1; i >= 0; i--) {
      if (++idx[i] < y->dims[i]) break;
      idx[i] = 0;
    }
  }
  (void)ctx;
  return 0;
}

static int k_concat(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out, vg_exec_ctx_t *ctx) {
  vg_tensor_t *y = out[0];
  int64_t ax = n->a.axis, outer = 1, inner = 1;
  size_t es = vg_dtype_size(y->dtype);
  for (int i = 0; i < ax; i++)
    outer *= y->dims[i];
  for (int i = (int)ax + 1; i < y->ndim; i++)
    inner *= y->dims[i];
  int64_t yrow = y->dims[ax] * inner, off = 0;
  for (int k = 0; k < n->a.k; k++) {
    int64_t rowk = in[k]->dims[ax] * inner;
    /* The memory planner may have had this input's producer write it in
     * place, as a slice of y (see model.c): nothing to copy. */
    if ((const char *)in[k]->data == (const char *)y->data + off * (int64_t)es) {
      off += rowk;
      continue;
    }
    for (int64_t o = 0; o < outer; o++)
      memcpy((char *)y->data + (o * yrow + off) * (int64_t)es,
             (const char *)in[k]->data + o * rowk * (int64_t)es, (size_t)rowk * es);
    off += rowk;
  }
  (void)ctx;
  return 0;
}

static int k_split(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out, vg_exec_ctx_t *ctx) {
  const vg_tensor_t *x = in[0];
  int64_t ax = n->a.axis, outer = 1, inner = 1;
  size_t es = vg_dtype_size(x->dtype);
  for (int i = 0; i < ax; i++)
    outer *= x->dims[i];
  for (int i = (int)ax + 1; i < x->ndim; i++)
    inner *= x->dims[i];
  int64_t xrow = x->dims[ax] * inner, off = 0;
  for (int k = 0; k < n->n_out; k++) {
    int64_t rowk = n->a.ints[k] * inner;
    for (int64_t o = 0; o < outer; o++)
      memcpy((char *)out[k]->data + o * rowk * (int64_t)es,
             (const char *)x->data + (o * xrow + off) * (int64_t)es, (size_t)rowk * es);
    off += rowk;
  }
  (void)ctx;
  return 0;
}

/* Bilinear (or nearest) resize, NHWC or NCHW, TensorFlow's and ONNX's
 * coordinate conventions. TF.js computes the source coordinate exactly like
 * this, which is what parity needs. */
static int k_resize(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out, vg_exec_ctx_t *ctx) {
  const vg_tensor_t *x = in[0];
  vg_tensor_t *y = out[0];
  int nhwc = n->a.layout == VG_LAYOUT_NHWC;
  int64_t N = x->dims[0], C = nhwc ? x->dims[3] : x->dims[1];
  int64_t H = nhwc ? x->dims[1] : x->dims[2], W = nhwc ? x->dims[2] : x->dims[3];
  int64_t OH = nhwc ? y->dims[1] : y->dims[2], OW = nhwc ? y->dims[2] : y->dims[3];
  int64_t xsC = nhwc ? 1 : H * W, xsH = nhwc ? W * C : W, xsW = nhwc ? C : 1;
  /* NHWC output pixels may be out_pitch elements apart: a channel slice of
   * a concatenation's buffer (vg_backend_t.writes_pitched). */
  int64_t P = nhwc && n->a.out_pitch > 0 ? n->a.out_pitch : C;
  int64_t ysC = nhwc ? 1 : OH * OW, ysH = nhwc ? OW * P : OW, ysW = nhwc ? P : 1;
  float rh, rw;
  if (n->a.coord == VG_RESIZE_ALIGN_CORNERS && n->a.onnx && n->a.alpha > 0) {
    /* ONNX with scales: the resized length is in * scale, unrounded. */
    float lh = (float)H * n->a.alpha - 1.0f, lw = (float)W * n->a.beta - 1.0f;
    rh = lh > 0 ? (float)(H - 1) / lh : 0.0f;
    rw = lw > 0 ? (float)(W - 1) / lw : 0.0f;
  } else if (n->a.coord == VG_RESIZE_ALIGN_CORNERS) {
    rh = OH > 1 ? (float)(H - 1) / (float)(OH - 1) : 0.0f;
    rw = OW > 1 ? (float)(W - 1) / (float)(OW - 1) : 0.0f;
  } else if (n->a.onnx && n->a.alpha > 0) {
    rh = 1.0f / n->a.alpha;
    rw = 1.0f / n->a.beta;
  } else {
    rh = (float)H / (float)OH;
    rw = (float)W / (float)OW;
  }
  const float *xd = x->data;
  float *yd = y->data;
  for (int64_t b = 0; b < N; b++)
    for (int64_t oy = 0; oy < OH; oy++) {
      float fy = n->a.coord == VG_RESIZE_HALF_PIXEL ? ((float)oy + 0.5f) * rh - 0.5f : (float)oy * rh;
      for (int64_t ox = 0; ox < OW; ox++) {
        float fx = n->a.coord == VG_RESIZE_HALF_PIXEL ? ((float)ox + 0.5f) * rw - 0.5f : (float)ox * rw;
        const float *xb = xd + b * C * H * W;
        float *yp = yd + b * (nhwc ? P : C) * OH * OW + oy * ysH + ox * ysW;
        if (n->a.nearest) {
          int64_t iy = (int64_t)floorf(fy), ix = (int64_t)floorf(fx);
          iy = iy < 0 ? 0 : iy >= H ? H - 1 : iy;
          ix = ix < 0 ? 0 : ix >= W ? W - 1 : ix;
          for (int64_t c = 0; c < C; c++)
            yp[c * ysC] = xb[c * xsC + iy * xsH + ix * xsW];
          continue;
        }
        float fly = floorf(fy), flx = floorf(fx);
        int64_t y0 = (int64_t)fly, x0 = (int64_t)flx;
        float ly = fy - fly, lx = fx - flx;
        int64_t y1 = y0 + 1 > H - 1 ? H - 1 : y0 + 1, x1 = x0 + 1 > W - 1 ? W - 1 : x0 + 1;
        if (y0 < 0) y0 = 0;
        if (x0 < 0) x0 = 0;
        if (y0 > H - 1) y0 = H - 1;
        if (x0 > W - 1) x0 = W - 1;
        if (y1 < 0) y1 = 0;
        if (x1 < 0) x1 = 0;
        for (int64_t c = 0; c < C; c++) {
          const float *p = xb + c * xsC;
          float tl = p[y0 * xsH + x0 * xsW], tr = p[y0 * xsH + x1 * xsW];
          float bl = p[y1 * xsH + x0 * xsW], br = p[y1 * xsH + x1 * xsW];
          float top = tl + (tr - tl) * lx, bot = bl + (br - bl) * lx;
          yp[c * ysC] = top + (bot - top) * ly;
        }
      }
    }
  (void)ctx;
  return 0;
}

static int k_sparse_to_dense(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out,
                             vg_exec_ctx_t *ctx) {
  const vg_tensor_t *idx = in[0], *vals = in[2], *def = in[3];
  vg_tensor_t *y = out[0];
  size_t es = vg_dtype_size(y->dtype);
  int64_t total = vg_tensor_numel(y);
  for (int64_t i = 0; i < total; i++)
    memcpy((char *)y->data + i * (int64_t)es, def->data, es);
  int64_t nidx = idx->ndim == 0 ? 1 : idx->dims[0];
  int64_t rank = idx->ndim == 2 ? idx->dims[1] : 1;
  if (rank != y->ndim && !(idx->ndim <= 1 && y->ndim == 1)) return VG_EINVAL;
  int64_t nvals = vg_tensor_numel(vals);
  for (int64_t i = 0; i < nidx; i++) {
    int64_t off = 0;
    for (int64_t k = 0; k < rank; k++) {
      int64_t c = ((const int32_t *)idx->data)[i * rank + k];
      if (c < 0 || c >= y->dims[k]) return VG_EINVAL;
      off = off * y->dims[k] + c;
    }
    const char *src = (const char *)vals->data + (nvals == 1 ? 0 : (i < nvals ? i : 0)) * (int64_t)es;
    memcpy((char *)y->data + off * (int64_t)es, src, es);
  }
  (void)n, (void)ctx;
  return 0;
}

static int k_mean(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out, vg_exec_ctx_t *ctx) {
  const vg_tensor_t *x = in[0];
  int r = x->ndim, mask = (int)n->a.k;
  int64_t ys[VG_TENSOR_MAX_DIMS], s = 1, idx[VG_TENSOR_MAX_DIMS] = {0}, cnt = 1;
  /* Output strides in the input's rank (reduced axes have stride 0). */
  for (int i = r - 1; i >= 0; i--) {
    if (mask & (1 << i)) {
      ys[i] = 0;
      cnt *= x->dims[i];
    } else {
      ys[i] = s;
      s *= x->dims[i];
    }
  }
  int64_t ny = vg_tensor_numel(out[0]), total = vg_tensor_numel(x);
  double *acc = calloc((size_t)(ny ? ny : 1), sizeof(double));
  if (!acc) return VG_ENOMEM;
  const float *xd = x->data;
  for (int64_t o = 0; o < total; o++) {
    int64_t off = 0;
    for (int i = 0; i < r; i++)
      off += idx[i] * ys[i];
    acc[off] += xd[o];
    for (int i = r - 1; i >= 0; i--) {
      if (++idx[i] < x->dims[i]) break;
      idx[i] = 0;
    }
  }
  float *yd = out[0]->data;
  for (int64_t i = 0; i < ny; i++)
    yd[i] = cnt ? (float)(acc[i] / (double)cnt) : NAN;
  free(acc);
  (void)ctx;
  return 0;
}

static int k_cast(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out, vg_exec_ctx_t *ctx) {
  const vg_tensor_t *x = in[0];
  vg_tensor_t *y = out[0];
  int64_t cnt = vg_tensor_numel(x);
  for (int64_t i = 0; i < cnt; i++) {
    double v;
    switch (x->dtype) {
    case VG_DT_F32: v = ((const float *)x->data)[i]; break;
    case VG_DT_I32: v = ((const int32_t *)x->data)[i]; break;
    default: v = ((const uint8_t *)x->data)[i]; break;
    }
    switch (y->dtype) {
    case VG_DT_F32: ((float *)y->data)[i] = (float)v; break;
    case VG_DT_I32:
      /* Out-of-range float to int conversion is undefined in C: saturate. */
      ((int32_t *)y->data)[i] = v != v               ? 0
                                : v >= 2147483647.0  ? INT32_MAX
                                : v <= -2147483648.0 ? INT32_MIN
                                                     : (int32_t)v;
      break;
    default: ((uint8_t *)y->data)[i] = v != 0; break;
    }
  }
  (void)n, (void)ctx;
  return 0;
}

static int k_slice(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out, vg_exec_ctx_t *ctx) {
  const vg_tensor_t *x = in[0];
  int r = x->ndim;
  size_t es = vg_dtype_size(x->dtype);
  const int64_t *od = n->a.ints + VG_TENSOR_MAX_DIMS;
  int64_t xs[VG_TENSOR_MAX_DIMS], s = 1, idx[VG_TENSOR_MAX_DIMS] = {0}, total = 1;
  for (int i = r - 1; i >= 0; i--)
    xs[i] = s, s *= x->dims[i];
  for (int i = 0; i < r; i++)
    total *= od[i];
  for (int64_t o = 0; o < total; o++) {
    int64_t off = 0;
    for (int i = 0; i < r; i++)
      off += (n->a.ints[i] + idx[i] * n->a.ints2[i]) * xs[i];
    memcpy((char *)out[0]->data + o * (int64_t)es, (const char *)x->data + off * (int64_t)es, es);
    for (int i = r - 1; i >= 0; i--) {
      if (++idx[i] < od[i]) break;
      idx[i] = 0;
    }
  }
  (void)ctx;
  return 0;
}

static int k_topk(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out, vg_exec_ctx_t *ctx) {
  const vg_tensor_t *x = in[0];
  int64_t L = x->dims[x->ndim - 1], rows = L ? vg_tensor_numel(x) / L : 0, k = n->a.k;
  const float *xd = x->data;
  float *vd = out[0]->data;
  int32_t *id = out[1]->data;
  for (int64_t r = 0; r < rows; r++) {
    const float *row = xd + r * L;
    /* k is small (100 for CenterNet): keep a sorted list by insertion. Ties
     * go to the lower index, as TensorFlow's stable sort does. */
    int64_t m = 0;
    for (int64_t i = 0; i < L; i++) {
      float v = row[i];
      if (m == k && !(v > vd[r * k + k - 1])) continue;
      int64_t p = m < k ? m : k - 1;
      while (p > 0 && v > vd[r * k + p - 1]) {
        vd[r * k + p] = vd[r * k + p - 1];
        id[r * k + p] = id[r * k + p - 1];
        p--;
      }
      vd[r * k + p] = v;
      id[r * k + p] = (int32_t)i;
      if (m < k) m++;
    }
  }
  (void)ctx;
  return 0;
}

static int k_gather(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out, vg_exec_ctx_t *ctx) {
  const vg_tensor_t *x = in[0], *idx = in[1];
  int64_t ax = n->a.axis, outer = 1, inner = 1, nidx = vg_tensor_numel(idx), dim = x->dims[ax];
  size_t es = vg_dtype_size(x->dtype);
  for (int i = 0; i < ax; i++)
    outer *= x->dims[i];
  for (int i = (int)ax + 1; i < x->ndim; i++)
    inner *= x->dims[i];
  const int32_t *id = idx->data;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < nidx; j++) {
      int64_t c = id[j];
      if (c < 0) c += dim;
      if (c < 0 || c >= dim) return VG_EINVAL;
      memcpy((char *)out[0]->data + ((o * nidx + j) * inner) * (int64_t)es,
             (const char *)x->data + ((o * dim + c) * inner) * (int64_t)es, (size_t)inner * es);
    }
  (void)ctx;
  return 0;
}

static int k_softmax(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out,
                     vg_exec_ctx_t *ctx) {
  const vg_tensor_t *x = in[0];
  int64_t ax = n->a.axis, outer = 1, inner = 1, L = x->dims[ax];
  for (int i = 0; i < ax; i++)
    outer *= x->dims[i];
  for (int i = (int)ax + 1; i < x->ndim; i++)
    inner *= x->dims[i];
  if (n->a.trans_a) {
    /* ONNX before opset 13: softmax over dims [axis:] flattened. */
    L *= inner;
    inner = 1;
  }
  const float *xd = x->data;
  float *yd = out[0]->data;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      const float *p = xd + o * L * inner + i;
      float *q = yd + o * L * inner + i;
      float mx = -INFINITY, sum = 0;
      for (int64_t k = 0; k < L; k++)
        mx = p[k * inner] > mx ? p[k * inner] : mx;
      for (int64_t k = 0; k < L; k++)
        sum += q[k * inner] = expf(p[k * inner] - mx);
      for (int64_t k = 0; k < L; k++)
        q[k * inner] /= sum;
    }
  (void)ctx;
  return 0;
}

static int k_matmul(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out, vg_exec_ctx_t *ctx) {
  const vg_tensor_t *A = in[0], *B = in[1];
  vg_tensor_t *Y = out[0];
  const float *ad = A->data, *bd = B->data;
  float *yd = Y->data;
  if (n->op == VG_OP_GEMM) {
    int64_t M = Y->dims[0], N = Y->dims[1], K = n->a.trans_a ? A->dims[0] : A->dims[1];
    const vg_tensor_t *C = n->n_in > 2 ? in[2] : NULL;
    int64_t sc[2] = {0, 0};
    if (C) bcast_strides(C, 2, Y->dims, sc);
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        float acc = 0;
        for (int64_t k = 0; k < K; k++) {
          float av = n->a.trans_a ? ad[k * M + i] : ad[i * K + k];
          float bv = n->a.trans_b ? bd[j * K + k] : bd[k * N + j];
          acc += av * bv;
        }
        acc *= n->a.alpha;
        if (C) acc += n->a.beta * ((const float *)C->data)[i * sc[0] + j * sc[1]];
        yd[i * N + j] = acc;
      }
    return 0;
  }
  int64_t K = A->dims[A->ndim - 1];
  int64_t M = A->ndim > 1 ? A->dims[A->ndim - 2] : 1, N = B->ndim > 1 ? B->dims[B->ndim - 1] : 1;
  /* Batch strides by broadcasting over the leading dimensions. */
  int br = Y->ndim - (A->ndim > 1) - (B->ndim > 1);
  vg_tensor_t ab = *A, bb = *B;
  ab.ndim = A->ndim > 1 ? A->ndim - 2 : 0;
  bb.ndim = B->ndim > 1 ? B->ndim - 2 : 0;
  int64_t sa[VG_TENSOR_MAX_DIMS], sb[VG_TENSOR_MAX_DIMS], idx[VG_TENSOR_MAX_DIMS] = {0}, nb = 1;
  bcast_strides(&ab, br, Y->dims, sa);
  bcast_strides(&bb, br, Y->dims, sb);
  for (int i = 0; i < br; i++)
    nb *= Y->dims[i];
  for (int64_t bi = 0; bi < nb; bi++) {
    int64_t oa = 0, ob = 0;
    for (int i = 0; i < br; i++)
      oa += idx[i] * sa[i], ob += idx[i] * sb[i];
    const float *pa = ad + oa * M * K, *pb = bd + ob * K * N;
    float *py = yd + bi * M * N;
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        float acc = 0;
        for (int64_t k = 0; k < K; k++)
          acc += pa[i * K + k] * pb[k * N + j];
        py[i * N + j] = acc;
      }
    for (int i = br - 1; i >= 0; i--) {
      if (++idx[i] < Y->dims[i]) break;
      idx[i] = 0;
    }
  }
  (void)ctx;
  return 0;
}

static int k_batchnorm(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out,
                       vg_exec_ctx_t *ctx) {
  const vg_tensor_t *x = in[0];
  const float *sc = in[1]->data, *bi = in[2]->data, *mean = in[3]->data, *var = in[4]->data;
  int64_t N = x->dims[0], C = x->dims[1], S = N * C > 0 ? vg_tensor_numel(x) / (N * C) : 0;
  const float *xd = x->data;
  float *yd = out[0]->data;
  for (int64_t b = 0; b < N; b++)
    for (int64_t c = 0; c < C; c++) {
      float m = sc[c] / sqrtf(var[c] + n->a.epsilon), a = bi[c] - mean[c] * m;
      for (int64_t s = 0; s < S; s++)
        yd[(b * C + c) * S + s] = xd[(b * C + c) * S + s] * m + a;
    }
  (void)ctx;
  return 0;
}

static int k_shape(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out, vg_exec_ctx_t *ctx) {
  for (int64_t i = 0; i < out[0]->dims[0]; i++)
    ((int32_t *)out[0]->data)[i] = (int32_t)in[0]->dims[n->a.k + i];
  (void)n, (void)ctx;
  return 0;
}

vg_kernel_fn vg_ref_kernel(vg_op_t op) {
  switch (op) {
  case VG_OP_CONV: return k_conv;
  case VG_OP_MAXPOOL:
  case VG_OP_AVGPOOL: return k_pool;
  case VG_OP_GLOBALAVGPOOL: return k_global_pool;
  case VG_OP_ADD:
  case VG_OP_SUB:
  case VG_OP_MUL:
  case VG_OP_DIV:
  case VG_OP_FLOORDIV:
  case VG_OP_FLOORMOD:
  case VG_OP_EQUAL:
  case VG_OP_MAXIMUM:
  case VG_OP_MINIMUM:
  case VG_OP_POW: return k_binary;
  case VG_OP_IDENTITY:
  case VG_OP_RELU:
  case VG_OP_RELU6:
  case VG_OP_LEAKYRELU:
  case VG_OP_SIGMOID:
  case VG_OP_CLIP:
  case VG_OP_HARDSIGMOID:
  case VG_OP_HARDSWISH:
  case VG_OP_TANH:
  case VG_OP_EXP:
  case VG_OP_NEG:
  case VG_OP_SQRT: return k_unary;
  case VG_OP_RESHAPE:
  case VG_OP_EXPAND_DIMS:
  case VG_OP_SQUEEZE:
  case VG_OP_UNSQUEEZE:
  case VG_OP_FLATTEN: return k_copy;
  case VG_OP_TRANSPOSE: return k_transpose;
  case VG_OP_PAD: return k_pad;
  case VG_OP_CONCAT: return k_concat;
  case VG_OP_SPLIT: return k_split;
  case VG_OP_RESIZE: return k_resize;
  case VG_OP_SPARSE_TO_DENSE: return k_sparse_to_dense;
  case VG_OP_MEAN: return k_mean;
  case VG_OP_CAST: return k_cast;
  case VG_OP_STRIDED_SLICE:
  case VG_OP_SLICE: return k_slice;
  case VG_OP_TOPK: return k_topk;
  case VG_OP_GATHER: return k_gather;
  case VG_OP_SOFTMAX: return k_softmax;
  case VG_OP_MATMUL:
  case VG_OP_GEMM: return k_matmul;
  case VG_OP_BATCHNORM: return k_batchnorm;
  case VG_OP_SHAPE: return k_shape;
  case VG_OP_COUNT: break;
  }
  return NULL;
}
