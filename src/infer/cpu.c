/* cpu.c: the optimized CPU backend.
 *
 * prepare() rewrites the graph after constant folding:
 *   1. transpose sinking: a Transpose is pushed down through element-wise
 *      ops, Pad, Concat and binary ops with constants until it meets its
 *      inverse and both vanish (TF.js models converted from ONNX, NanoDet's,
 *      wrap every convolution in NHWC<->NCHW transposes);
 *   2. zero Pad + convolution becomes a padded convolution;
 *   3. convolution + per-channel Mul (batch norm) + Add (bias) + activation
 *      (ReLU, ReLU6, LeakyReLU, and the x*relu6(x+3)/6 hard-swish pattern)
 *      become one convolution;
 *   4. dense NHWC convolution weights are packed into GEMM panels, 3x3
 *      stride-1 ones Winograd-transformed first.
 * The kernels: Winograd F(2x2,3x3) convolution, other convolutions as im2col
 * + a register-blocked GEMM (1x1 stride-1 ones read their input directly), a
 * direct kernel for input layers with few channels, depthwise convolution
 * along channels, vectorized element-wise ops, max pooling, spatial mean,
 * constant pad, blocked NHWC<->NCHW transposes; all spread over the model's
 * thread pool. Everything else uses the reference
 * kernels. The inner loops live in cpu_simd.inc, compiled per ISA. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "infer/cpu_simd.h"
#include "infer/model.h"
#include "infer/quant.h"

/* ---- ISA dispatch ------------------------------------------------------------ */

static const vg_cpu_simd_t *simd_choice;
static pthread_once_t simd_once = PTHREAD_ONCE_INIT;

static void pick_simd(void) {
  const char *force = getenv("VIGIL_SIMD");
  simd_choice = &vg_cpu_simd_generic;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
  if (avx512)
    simd_choice = &vg_cpu_simd_avx512;
  else if (avx2)
    simd_choice = &vg_cpu_simd_avx2;
  if (force && !strcmp(force, "avx2") && avx2) simd_choice = &vg_cpu_simd_avx2;
#endif
  if (force && !strcmp(force, "generic")) simd_choice = &vg_cpu_simd_generic;
}

const vg_cpu_simd_t *vg_cpu_simd(void) {
  pthread_once(&simd_once, pick_simd);
  return simd_choice;
}

/* ---- graph helpers ------------------------------------------------------------ */

static int consumers(const vg_graph_t *g, int v, int *list, int max) {
  int n = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const vg_node_t *nd = &g->nodes[i];
    if (nd->dead) continue;
    for (int k = 0; k < nd->n_in; k++)
      if (nd->in[k] == v) {
        if (n < max) list[n] = i;
        n++;
        break;
      }
  }
  return n;
}

static int producer(const vg_graph_t *g, int v) {
  for (int i = 0; i < g->n_nodes; i++) {
    const vg_node_t *nd = &g->nodes[i];
    if (nd->dead) continue;
    for (int k = 0; k < nd->n_out; k++)
      if (nd->out[k] == v) return i;
  }
  return -1;
}

/* A new value with a fresh name and the given shape (no data). base and
 * shape may point into g->values: they are copied before the array grows. */
static int new_value(vg_graph_t *g, const char *base, const vg_tensor_t *shape) {
  char name[600];
  snprintf(name, sizeof(name), "%s/cpu%d", base, g->n_values);
  vg_tensor_t copy = *shape;
  int v = vg_graph_add_value(g, name);
  if (v < 0) return v;
  vg_tensor_set_shape(&g->values[v].t, copy.dtype, copy.ndim, copy.dims);
  return v;
}

/* A new constant f32 value owning n floats (zeroed); the same care. */
static int new_const(vg_graph_t *g, const char *base, int ndim, const int64_t *dims_in) {
  char name[600];
  snprintf(name, sizeof(name), "%s/cpu%d", base, g->n_values);
  int64_t dims[VG_TENSOR_MAX_DIMS];
  memcpy(dims, dims_in, sizeof(int64_t) * (size_t)(ndim > 0 ? ndim : 0));
  int v = vg_graph_add_value(g, name);
  if (v < 0) return v;
  vg_value_t *val = &g->values[v];
  int err = vg_tensor_set_shape(&val->t, VG_DT_F32, ndim, dims);
  if (!err) err = vg_tensor_alloc(&val->t);
  if (err) return err;
  val->is_const = 1;
  return v;
}

/* Frees a constant's data once no live node reads it (a filter just packed
 * into another layout), so the original and its packed copy never both stay:
 * loading then peaks at the packed weights plus one layer's original rather
 * than at both sets. */
static void release_const(vg_graph_t *g, int v) {
  if (v < 0) return;
  vg_value_t *val = &g->values[v];
  if (!val->is_const || val->is_output || !val->t.owned || consumers(g, v, NULL, 0) > 0) return;
  free(val->t.data);
  val->t.data = NULL;
  val->t.owned = 0;
}

static int is_const_f32(const vg_graph_t *g, int v) {
  return v >= 0 && g->values[v].is_const && g->values[v].t.dtype == VG_DT_F32 && g->values[v].t.data;
}

/* ---- 1. transpose sinking ----------------------------------------------------- */

static int is_elementwise_binary(vg_op_t op) {
  return op == VG_OP_ADD || op == VG_OP_SUB || op == VG_OP_MUL || op == VG_OP_DIV || op == VG_OP_MAXIMUM ||
         op == VG_OP_MINIMUM;
}

/* Appends Transpose(perm) from value src to value dst. */
static int add_transpose(vg_graph_t *g, const char *base, int src, int dst, const int64_t *perm, int r) {
  char name[600];
  snprintf(name, sizeof(name), "%s/sunk%d", base, g->n_nodes);
  int ni = vg_graph_add_node(g, VG_OP_TRANSPOSE, name, "Transpose");
  if (ni < 0) return ni;
  vg_node_t *t = &g->nodes[ni];
  t->n_in = 1;
  t->in[0] = src;
  t->n_out = 1;
  t->out[0] = dst;
  t->a.n_ints = r;
  memcpy(t->a.ints, perm, sizeof(int64_t) * (size_t)r);
  return vg_op_infer(g, ni);
}

/* Transposes constant c (in the transposed layout) back: result dims
 * [perm[i]] = c.dims[i]. Returns the new constant's index. */
static int unpermute_const(vg_graph_t *g, int c, const int64_t *perm, int r) {
  const vg_tensor_t *src = &g->values[c].t;
  int64_t d[VG_TENSOR_MAX_DIMS];
  for (int i = 0; i < r; i++)
    d[perm[i]] = src->dims[i];
  int v = new_const(g, g->values[c].name, r, d);
  if (v < 0) return v;
  src = &g->values[c].t;
  vg_tensor_t *dst = &g->values[v].t;
  /* dst[idx with idx[perm[i]] = j_i] = src[j]: walk src in order. */
  int64_t ds[VG_TENSOR_MAX_DIMS], s = 1, idx[VG_TENSOR_MAX_DIMS] = {0};
  for (int i = r - 1; i >= 0; i--)
    ds[i] = s, s *= d[i];
  int64_t total = vg_tensor_numel(src);
  const float *sp = src->data;
  float *dp = dst->data;
  for (int64_t o = 0; o < total; o++) {
    int64_t off = 0;
    for (int i = 0; i < r; i++)
      off += idx[i] * ds[perm[i]];
    dp[off] = sp[o];
    for (int i = r - 1; i >= 0; i--) {
      if (++idx[i] < src->dims[i]) break;
      idx[i] = 0;
    }
  }
  return v;
}

static void replace_uses(vg_graph_t *g, int from, int to) {
  for (int i = 0; i < g->n_nodes; i++) {
    vg_node_t *nd = &g->nodes[i];
    if (nd->dead) continue;
    for (int k = 0; k < nd->n_in; k++)
      if (nd->in[k] == from) nd->in[k] = to;
  }
}

/* Tries to move transpose node ti below one of its consumers. Returns 1 when
 * the graph changed, 0 when not, or a negative error. */
static int sink_one(vg_graph_t *g, int ti) {
  int cons[64];
  vg_node_t *T = &g->nodes[ti];
  int x = T->in[0], t = T->out[0], r = T->a.n_ints;
  int64_t perm[VG_TENSOR_MAX_DIMS];
  memcpy(perm, T->a.ints, sizeof(perm));
  int nc = consumers(g, t, cons, 64);
  if (nc > 64) return 0;
  for (int ci = 0; ci < nc; ci++) {
    int ui = cons[ci];
    vg_node_t *U = &g->nodes[ui];
    int u = U->out[0];
    if (U->op == VG_OP_TRANSPOSE && U->in[0] == t && U->a.n_ints == r) {
      int ident = 1;
      for (int j = 0; j < r; j++)
        ident &= perm[U->a.ints[j]] == j;
      if (!ident || g->values[u].is_output) continue;
      replace_uses(g, u, x);
      U->dead = 1;
      return 1;
    }
    if (vg_op_is_unary_elementwise(U->op) && U->in[0] == t && (U->n_in == 1 || U->op == VG_OP_CLIP)) {
      int nv = new_value(g, g->values[u].name, &g->values[x].t);
      if (nv < 0) return nv;
      U = &g->nodes[ui];
      U->in[0] = x;
      U->out[0] = nv;
      int err = vg_op_infer(g, ui);
      if (!err) err = add_transpose(g, g->nodes[ui].name, nv, u, perm, r);
      return err ? err : 1;
    }
    if (U->op == VG_OP_PAD && U->in[0] == t && !U->a.pad_reflect && U->a.n_ints == r) {
      int64_t b[VG_TENSOR_MAX_DIMS], e[VG_TENSOR_MAX_DIMS];
      for (int i = 0; i < r; i++)
        b[perm[i]] = U->a.ints[i], e[perm[i]] = U->a.ints2[i];
      int nv = new_value(g, g->values[u].name, &g->values[x].t);
      if (nv < 0) return nv;
      U = &g->nodes[ui];
      U->in[0] = x;
      U->in[1] = -1;
      U->out[0] = nv;
      U->a.onnx = 0;
      U->a.n_ints = 2 * r;
      for (int i = 0; i < r; i++)
        U->a.ints[2 * i] = b[i], U->a.ints[2 * i + 1] = e[i];
      int err = vg_op_infer(g, ui);
      if (!err) err = add_transpose(g, g->nodes[ui].name, nv, u, perm, r);
      return err ? err : 1;
    }
    if (is_elementwise_binary(U->op) && U->n_in == 2) {
      int side = U->in[0] == t ? 1 : 0; /* the other operand */
      int other = U->in[side];
      if (other == t || !is_const_f32(g, other)) continue;
      const vg_tensor_t *ot = &g->values[other].t;
      if (!vg_tensor_same_shape(&g->values[u].t, &g->values[t].t)) continue;
      int nconst;
      if (vg_tensor_numel(ot) == 1)
        nconst = other;
      else if (ot->ndim == r)
        nconst = unpermute_const(g, other, perm, r);
      else
        continue;
      if (nconst < 0) return nconst;
      int nv = new_value(g, g->values[u].name, &g->values[x].t);
      if (nv < 0) return nv;
      U = &g->nodes[ui];
      U->in[1 - side] = x;
      U->in[side] = nconst;
      U->out[0] = nv;
      int err = vg_op_infer(g, ui);
      if (!err) err = add_transpose(g, g->nodes[ui].name, nv, u, perm, r);
      return err ? err : 1;
    }
    if (U->op == VG_OP_RESIZE && U->in[0] == t && r == 4) {
      /* A resize reads either layout: NHWC <- NCHW is perm [0,2,3,1]. */
      int to_nhwc = perm[0] == 0 && perm[1] == 2 && perm[2] == 3 && perm[3] == 1;
      int to_nchw = perm[0] == 0 && perm[1] == 3 && perm[2] == 1 && perm[3] == 2;
      if (!((to_nhwc && U->a.layout == VG_LAYOUT_NHWC) || (to_nchw && U->a.layout == VG_LAYOUT_NCHW)))
        continue;
      const vg_tensor_t *ut = &g->values[u].t;
      vg_tensor_t shape = *ut;
      for (int i = 0; i < 4; i++)
        shape.dims[perm[i]] = ut->dims[i];
      int nv = new_value(g, g->values[u].name, &shape);
      if (nv < 0) return nv;
      U = &g->nodes[ui];
      U->in[0] = x;
      U->out[0] = nv;
      U->a.layout = to_nhwc ? VG_LAYOUT_NCHW : VG_LAYOUT_NHWC;
      int err = vg_op_infer(g, ui);
      if (!err) err = add_transpose(g, g->nodes[ui].name, nv, u, perm, r);
      return err ? err : 1;
    }
    if (U->op == VG_OP_CONCAT) {
      int nin = (int)U->a.k, ok = nin > 0;
      int srcs[VG_NODE_MAX_IN];
      for (int k = 0; k < nin && ok; k++) {
        int p = producer(g, U->in[k]);
        ok = p >= 0 && g->nodes[p].op == VG_OP_TRANSPOSE && g->nodes[p].a.n_ints == r &&
             !memcmp(g->nodes[p].a.ints, perm, sizeof(int64_t) * (size_t)r);
        if (ok) srcs[k] = g->nodes[p].in[0];
      }
      if (!ok) continue;
      int nv = new_value(g, g->values[u].name, &g->values[u].t);
      if (nv < 0) return nv;
      U = &g->nodes[ui];
      int64_t axis = perm[U->a.axis];
      for (int k = 0; k < nin; k++)
        U->in[k] = srcs[k];
      U->n_in = nin;
      U->a.n_ints = -1;
      U->a.axis = axis;
      U->out[0] = nv;
      int err = vg_op_infer(g, ui);
      if (!err) err = add_transpose(g, g->nodes[ui].name, nv, u, perm, r);
      return err ? err : 1;
    }
  }
  return 0;
}

/* Pad then Transpose becomes Transpose then Pad, so that a pad applied to a
 * graph input in NCHW before the first NHWC convolution can be folded into
 * that convolution. */
static int hoist_transposes_over_pads(vg_graph_t *g) {
  for (int i = 0; i < g->n_nodes; i++) {
    vg_node_t *P = &g->nodes[i];
    if (P->dead || P->op != VG_OP_PAD || P->a.pad_reflect || P->a.n_ints < 1) continue;
    int p = P->out[0], c[2];
    if (g->values[p].is_output || consumers(g, p, c, 2) != 1) continue;
    vg_node_t *T = &g->nodes[c[0]];
    if (T->op != VG_OP_TRANSPOSE || T->in[0] != p || T->a.n_ints != P->a.n_ints) continue;
    int r = T->a.n_ints, x = P->in[0], t = T->out[0];
    const vg_tensor_t *xt = &g->values[x].t;
    vg_tensor_t shape = *xt;
    int64_t b[VG_TENSOR_MAX_DIMS], e[VG_TENSOR_MAX_DIMS];
    for (int k = 0; k < r; k++) {
      shape.dims[k] = xt->dims[T->a.ints[k]];
      b[k] = P->a.ints[T->a.ints[k]];
      e[k] = P->a.ints2[T->a.ints[k]];
    }
    int nv = new_value(g, g->values[t].name, &shape);
    if (nv < 0) return nv;
    P = &g->nodes[i];
    T = &g->nodes[c[0]];
    T->in[0] = x;
    T->out[0] = nv;
    P->in[0] = nv;
    P->in[1] = -1;
    P->out[0] = t;
    P->a.onnx = 0;
    P->a.n_ints = 2 * r;
    for (int k = 0; k < r; k++)
      P->a.ints[2 * k] = b[k], P->a.ints[2 * k + 1] = e[k];
    int err = vg_op_infer(g, c[0]);
    if (!err) err = vg_op_infer(g, i);
    if (err) return err;
  }
  return 0;
}

static int sink_transposes(vg_graph_t *g) {
  /* Each step moves one transpose one node down or removes a pair; the bound
   * keeps a pathological graph from looping. */
  for (int iter = 0; iter < 20000; iter++) {
    int changed = 0;
    for (int i = 0; i < g->n_nodes && !changed; i++) {
      vg_node_t *T = &g->nodes[i];
      if (T->dead || T->op != VG_OP_TRANSPOSE || T->a.n_ints < 1) continue;
      if (g->values[T->in[0]].is_const) continue;
      int rc = sink_one(g, i);
      if (rc < 0) return rc;
      changed = rc;
      /* A transpose nobody reads any more is gone. */
      int c;
      if (!g->values[g->nodes[i].out[0]].is_output && consumers(g, g->nodes[i].out[0], &c, 1) == 0)
        g->nodes[i].dead = 1;
    }
    if (!changed) return 0;
  }
  return 0;
}

/* ---- 2.-3. fusion ------------------------------------------------------------- */

static int conv_nhwc_channels(const vg_graph_t *g, const vg_node_t *n) {
  const vg_tensor_t *y = &g->values[n->out[0]].t;
  return n->a.layout == VG_LAYOUT_NHWC ? (int)y->dims[3] : -1;
}

/* Folds a zero Pad on H and W into the convolutions reading it. */
static int fold_pads(vg_graph_t *g) {
  for (int i = 0; i < g->n_nodes; i++) {
    vg_node_t *c = &g->nodes[i];
    if (c->dead || c->op != VG_OP_CONV || c->a.layout != VG_LAYOUT_NHWC) continue;
    int p = producer(g, c->in[0]);
    if (p < 0) continue;
    vg_node_t *pad = &g->nodes[p];
    if (pad->op != VG_OP_PAD || pad->a.pad_reflect || pad->a.pad_value != 0.0f || pad->a.n_ints != 4)
      continue;
    if (pad->a.ints[0] || pad->a.ints2[0] || pad->a.ints[3] || pad->a.ints2[3]) continue;
    c->a.pads[0] += pad->a.ints[1];
    c->a.pads[2] += pad->a.ints2[1];
    c->a.pads[1] += pad->a.ints[2];
    c->a.pads[3] += pad->a.ints2[2];
    c->in[0] = pad->in[0];
    /* A pad nobody reads any more is dead now, so that later passes see the
     * convolution as its input's only reader. */
    int none[1];
    if (!g->values[pad->out[0]].is_output && consumers(g, pad->out[0], none, 1) == 0) pad->dead = 1;
  }
  return 0;
}

/* Returns the per-channel constant (Cout floats) of value v, or NULL. */
static const float *channel_const(const vg_graph_t *g, int v, int cout, int *scalar) {
  if (!is_const_f32(g, v)) return NULL;
  const vg_tensor_t *t = &g->values[v].t;
  int64_t n = vg_tensor_numel(t);
  *scalar = n == 1;
  if (n == 1) return t->data;
  if (n != cout || t->ndim < 1 || t->dims[t->ndim - 1] != cout) return NULL;
  return t->data;
}

/* Gives conv i its own copy of its filter and bias so folding never edits a
 * constant shared with another node. */
static int own_params(vg_graph_t *g, int i) {
  vg_node_t *c = &g->nodes[i];
  int cout = conv_nhwc_channels(g, c);
  const vg_tensor_t *w = &g->values[c->in[1]].t;
  int wv = new_const(g, g->values[c->in[1]].name, w->ndim, w->dims);
  if (wv < 0) return wv;
  c = &g->nodes[i];
  memcpy(g->values[wv].t.data, g->values[c->in[1]].t.data, vg_tensor_bytes(&g->values[wv].t));
  int64_t d[1] = {cout};
  int bv = new_const(g, "bias", 1, d);
  if (bv < 0) return bv;
  c = &g->nodes[i];
  if (c->n_in > 2 && c->in[2] >= 0)
    memcpy(g->values[bv].t.data, g->values[c->in[2]].t.data, sizeof(float) * (size_t)cout);
  int old_w = c->in[1], old_b = c->n_in > 2 ? c->in[2] : -1;
  c->in[1] = wv;
  c->in[2] = bv;
  c->n_in = 3;
  release_const(g, old_w);
  release_const(g, old_b);
  return 0;
}

static int fuse_conv_chains(vg_graph_t *g) {
  for (int i = 0; i < g->n_nodes; i++) {
    vg_node_t *c = &g->nodes[i];
    if (c->dead || c->op != VG_OP_CONV || c->a.layout != VG_LAYOUT_NHWC ||
        c->a.filter_layout == VG_FILTER_OIHW)
      continue;
    int cout = conv_nhwc_channels(g, c);
    int owned = 0;
    for (;;) {
      c = &g->nodes[i];
      int y = c->out[0], cons[2];
      if (g->values[y].is_output || consumers(g, y, cons, 2) != 1) break;
      vg_node_t *u = &g->nodes[cons[0]];
      int ui = cons[0];
      int other = u->n_in == 2 ? (u->in[0] == y ? u->in[1] : u->in[0]) : -1;
      int scalar = 0;
      const float *k = other >= 0 ? channel_const(g, other, cout, &scalar) : NULL;
      if (c->a.act == VG_ACT_NONE && k && (u->op == VG_OP_ADD || (u->op == VG_OP_SUB && u->in[0] == y))) {
        if (!owned && own_params(g, i)) return VG_ENOMEM;
        owned = 1;
        c = &g->nodes[i];
        u = &g->nodes[ui];
        k = channel_const(g, other, cout, &scalar);
        float *b = g->values[c->in[2]].t.data;
        for (int j = 0; j < cout; j++)
          b[j] += (u->op == VG_OP_SUB ? -1.0f : 1.0f) * k[scalar ? 0 : j];
      } else if (c->a.act == VG_ACT_NONE && k && u->op == VG_OP_MUL &&
                 c->a.filter_layout != VG_FILTER_PACKED) {
        /* Batch norm's scale: the output channel is the filter's last axis in
         * both HWIO and HWCM (multiplier 1 or not, channel-major). */
        if (!owned && own_params(g, i)) return VG_ENOMEM;
        owned = 1;
        c = &g->nodes[i];
        k = channel_const(g, other, cout, &scalar);
        vg_tensor_t *w = &g->values[c->in[1]].t;
        float *wd = w->data, *b = g->values[c->in[2]].t.data;
        int64_t n = vg_tensor_numel(w);
        for (int64_t j = 0; j < n; j++)
          wd[j] *= k[scalar ? 0 : j % cout];
        for (int j = 0; j < cout; j++)
          b[j] *= k[scalar ? 0 : j];
      } else if (c->a.act == VG_ACT_NONE && u->n_in == 1 &&
                 (u->op == VG_OP_RELU || u->op == VG_OP_RELU6 || u->op == VG_OP_LEAKYRELU ||
                  u->op == VG_OP_SIGMOID)) {
        c->a.act = u->op == VG_OP_RELU      ? VG_ACT_RELU
                   : u->op == VG_OP_RELU6   ? VG_ACT_RELU6
                   : u->op == VG_OP_SIGMOID ? VG_ACT_SIGMOID
                                            : VG_ACT_LEAKY;
        c->a.alpha = u->a.alpha;
      } else {
        break;
      }
      /* The consumer's output is now the convolution's. */
      c = &g->nodes[i];
      u = &g->nodes[ui];
      c->out[0] = u->out[0];
      u->dead = 1;
    }
  }
  return 0;
}

/* x*s * relu6(x + a) after a convolution (MobileNetV3's hard-swish as TF
 * writes it) becomes the convolution's activation. */
static int fuse_hardswish(vg_graph_t *g) {
  for (int i = 0; i < g->n_nodes; i++) {
    vg_node_t *c = &g->nodes[i];
    if (c->dead || c->op != VG_OP_CONV || c->a.act != VG_ACT_NONE || c->a.layout != VG_LAYOUT_NHWC) continue;
    int y = c->out[0], cons[3];
    if (g->values[y].is_output || consumers(g, y, cons, 3) != 2) continue;
    int mi = -1, ai = -1;
    for (int k = 0; k < 2; k++) {
      vg_node_t *u = &g->nodes[cons[k]];
      int other = u->n_in == 2 ? (u->in[0] == y ? u->in[1] : u->in[0]) : -1;
      if (other < 0 || !is_const_f32(g, other) || vg_tensor_numel(&g->values[other].t) != 1) continue;
      if (u->op == VG_OP_MUL) mi = cons[k];
      if (u->op == VG_OP_ADD) ai = cons[k];
    }
    if (mi < 0 || ai < 0) continue;
    int r6c[2], fm[2];
    int add_out = g->nodes[ai].out[0], mul_out = g->nodes[mi].out[0];
    if (g->values[add_out].is_output || consumers(g, add_out, r6c, 2) != 1) continue;
    vg_node_t *r6 = &g->nodes[r6c[0]];
    if (r6->op != VG_OP_RELU6) continue;
    int r6_out = r6->out[0];
    if (g->values[r6_out].is_output || consumers(g, r6_out, fm, 2) != 1) continue;
    vg_node_t *fin = &g->nodes[fm[0]];
    if (fin->op != VG_OP_MUL || fin->n_in != 2 ||
        !((fin->in[0] == mul_out && fin->in[1] == r6_out) || (fin->in[1] == mul_out && fin->in[0] == r6_out)))
      continue;
    if (g->values[mul_out].is_output || consumers(g, mul_out, fm + 1, 1) != 1) continue;
    vg_node_t *mn = &g->nodes[mi], *an = &g->nodes[ai];
    float s = *(const float *)g->values[mn->in[0] == y ? mn->in[1] : mn->in[0]].t.data;
    float a = *(const float *)g->values[an->in[0] == y ? an->in[1] : an->in[0]].t.data;
    c->a.act = VG_ACT_HARDSWISH;
    c->a.alpha = a;
    c->a.beta = s;
    c->out[0] = fin->out[0];
    mn->dead = an->dead = r6->dead = fin->dead = 1;
  }
  return 0;
}

/* ---- 4. weight packing ---------------------------------------------------------- */

static int is_depthwise(const vg_graph_t *g, const vg_node_t *n) {
  const vg_tensor_t *w = &g->values[n->in[1]].t;
  return n->a.filter_layout == VG_FILTER_HWCM && w->dims[3] == 1;
}

static int is_dense_hwio(const vg_node_t *n) {
  return n->a.filter_layout == VG_FILTER_HWIO && n->a.group == 1 && n->a.layout == VG_LAYOUT_NHWC &&
         n->a.dilations[0] == 1 && n->a.dilations[1] == 1;
}

/* Winograd F(2x2, 3x3): a 2x2 output tile from a 4x4 input tile with 16
 * multiplies per (input, output channel) instead of 36. The filter is
 * transformed once, U = G g G^T, into 16 matrices of Cin x Cout packed as GEMM
 * panels: [16][panels][Cin][nr]. VIGIL_NO_WINOGRAD=1 turns it off. */
static int use_winograd(const vg_graph_t *g, const vg_node_t *c) {
  const vg_tensor_t *w = &g->values[c->in[1]].t;
  return !getenv("VIGIL_NO_WINOGRAD") && w->dims[0] == 3 && w->dims[1] == 3 && c->a.strides[0] == 1 &&
         c->a.strides[1] == 1 && w->dims[2] >= 8;
}

static void winograd_filter(const float *src, int64_t cin, int64_t cout, int64_t ci, int64_t co,
                            float u[16]) {
  float gk[3][3], t[4][3];
  for (int y = 0; y < 3; y++)
    for (int x = 0; x < 3; x++)
      gk[y][x] = src[((y * 3 + x) * cin + ci) * cout + co];
  for (int x = 0; x < 3; x++) {
    t[0][x] = gk[0][x];
    t[1][x] = 0.5f * (gk[0][x] + gk[1][x] + gk[2][x]);
    t[2][x] = 0.5f * (gk[0][x] - gk[1][x] + gk[2][x]);
    t[3][x] = gk[2][x];
  }
  for (int y = 0; y < 4; y++) {
    u[y * 4 + 0] = t[y][0];
    u[y * 4 + 1] = 0.5f * (t[y][0] + t[y][1] + t[y][2]);
    u[y * 4 + 2] = 0.5f * (t[y][0] - t[y][1] + t[y][2]);
    u[y * 4 + 3] = t[y][2];
  }
}

/* Winograd F(4x4, 3x3): a 4x4 output tile from a 6x6 input tile, 36
 * multiplies per (input, output channel) instead of 144 (2.25 per output
 * pixel against F(2x2)'s 4), with U = G g G^T for Lavin and Gray's points 0,
 * +-1, +-2 and infinity. Its transformed filter is 36/9 = 4 times the
 * original (F(2x2): 16/9), so it goes to the layers where it saves most per
 * weight byte (see choose_winograd). */
static void winograd4_filter(const float *src, int64_t cin, int64_t cout, int64_t ci, int64_t co,
                             float u[36]) {
  static const float G[6][3] = {{0.25f, 0, 0},
                                {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                                {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                                {1.0f / 24, 1.0f / 12, 1.0f / 6},
                                {1.0f / 24, -1.0f / 12, 1.0f / 6},
                                {0, 0, 1}};
  float gk[3][3], t[6][3];
  for (int y = 0; y < 3; y++)
    for (int x = 0; x < 3; x++)
      gk[y][x] = src[((y * 3 + x) * cin + ci) * cout + co];
  for (int r = 0; r < 6; r++)
    for (int x = 0; x < 3; x++)
      t[r][x] = G[r][0] * gk[0][x] + G[r][1] * gk[1][x] + G[r][2] * gk[2][x];
  for (int r = 0; r < 6; r++)
    for (int q = 0; q < 6; q++)
      u[r * 6 + q] = t[r][0] * G[q][0] + t[r][1] * G[q][1] + t[r][2] * G[q][2];
}

/* tile: 2 for F(2x2,3x3), 4 for F(4x4,3x3). */
static int pack_winograd(vg_graph_t *g, int i, int nr, int tile) {
  vg_node_t *c = &g->nodes[i];
  const vg_tensor_t *w = &g->values[c->in[1]].t;
  int nk = (tile + 2) * (tile + 2);
  int64_t cin = w->dims[2], N = w->dims[3], panels = (N + nr - 1) / nr;
  int64_t wd[4] = {nk, panels, cin, nr};
  int pv = new_const(g, g->values[c->in[1]].name, 4, wd);
  if (pv < 0) return pv;
  int64_t bd[1] = {panels * nr};
  int bv = new_const(g, "packed_bias", 1, bd);
  if (bv < 0) return bv;
  c = &g->nodes[i];
  const float *src = g->values[c->in[1]].t.data;
  float *dst = g->values[pv].t.data, u[36];
  for (int64_t ci = 0; ci < cin; ci++)
    for (int64_t co = 0; co < N; co++) {
      if (tile == 4)
        winograd4_filter(src, cin, N, ci, co, u);
      else
        winograd_filter(src, cin, N, ci, co, u);
      for (int k = 0; k < nk; k++)
        dst[((k * panels + co / nr) * cin + ci) * nr + co % nr] = u[k];
    }
  if (c->n_in > 2 && c->in[2] >= 0)
    memcpy(g->values[bv].t.data, g->values[c->in[2]].t.data, sizeof(float) * (size_t)N);
  int old_w = c->in[1], old_b = c->n_in > 2 ? c->in[2] : -1;
  c->in[1] = pv;
  c->in[2] = bv;
  c->n_in = 3;
  c->a.filter_layout = VG_FILTER_PACKED;
  c->a.k = nr;
  c->a.winograd = tile;
  release_const(g, old_w);
  release_const(g, old_b);
  return 0;
}

/* Which Winograd-eligible convolutions get F(4x4) and which F(2x2): F(4x4)
 * saves the most where there are many output pixels per weight, so the
 * convolutions go in order of output pixels, largest first, while the extra
 * filter memory ((36 - 16) / 9 of the original 3x3 weights) stays within
 * a quarter of the graph's constant bytes; the rest get F(2x2). A quarter
 * runs NanoDet as fast as a half did (the layers past it are at 13x13 and
 * 26x26, where F(4x4) gains little) with 3.1 MiB less, which keeps its
 * whole process within 3x its file weights (docs/BENCHMARKS.md).
 * VIGIL_WINOGRAD=2 or 4 forces one for all. Sets each chosen node's
 * a.winograd to the tile size. */
static void choose_winograd(vg_graph_t *g) {
  const char *force = getenv("VIGIL_WINOGRAD");
  /* The constants live nodes read (each once). */
  int64_t consts = 0;
  char *seen = calloc((size_t)g->n_values + 1, 1);
  for (int i = 0; seen && i < g->n_nodes; i++) {
    const vg_node_t *n = &g->nodes[i];
    for (int k = 0; !n->dead && k < n->n_in; k++) {
      int v = n->in[k];
      if (v >= 0 && !seen[v] && g->values[v].is_const) consts += (int64_t)vg_tensor_bytes(&g->values[v].t);
      if (v >= 0) seen[v] = 1;
    }
  }
  free(seen);
  int64_t budget = consts / 4;
  for (;;) {
    int best = -1;
    int64_t best_px = 0;
    for (int i = 0; i < g->n_nodes; i++) {
      vg_node_t *c = &g->nodes[i];
      if (c->dead || c->op != VG_OP_CONV || c->a.winograd || !is_dense_hwio(c) ||
          !is_const_f32(g, c->in[1]) || g->values[c->in[1]].t.dims[2] <= 4 || !use_winograd(g, c) ||
          (c->n_in > 2 && c->in[2] >= 0 && !is_const_f32(g, c->in[2])))
        continue;
      const vg_tensor_t *y = &g->values[c->out[0]].t;
      int64_t px = y->dims[0] * y->dims[1] * y->dims[2];
      if (best < 0 || px > best_px) best = i, best_px = px;
    }
    if (best < 0) break;
    vg_node_t *c = &g->nodes[best];
    const vg_tensor_t *w = &g->values[c->in[1]].t;
    int64_t extra = (int64_t)vg_tensor_bytes(w) * 20 / 9;
    int tile = force ? (atoi(force) == 4 ? 4 : 2) : extra <= budget ? 4 : 2;
    if (tile == 4) budget -= extra;
    c->a.winograd = tile;
  }
}

static int pack_weights(vg_graph_t *g) {
  int nr = vg_cpu_simd()->nr;
  choose_winograd(g);
  for (int i = 0; i < g->n_nodes; i++) {
    vg_node_t *c = &g->nodes[i];
    if (c->dead || c->op != VG_OP_CONV || !is_dense_hwio(c) || !is_const_f32(g, c->in[1])) continue;
    if (c->n_in > 2 && c->in[2] >= 0 && !is_const_f32(g, c->in[2])) continue;
    if (g->values[c->in[1]].t.dims[2] <= 4 && g->values[c->in[1]].t.dims[0] <= 16) {
      /* Few input channels (an RGB input layer): a direct kernel reads the
       * HWIO filter as it is; im2col would copy 12-byte pieces. */
      if (c->n_in < 3 || c->in[2] < 0) {
        int64_t bd[1] = {g->values[c->in[1]].t.dims[3]};
        int bv = new_const(g, "zero_bias", 1, bd);
        if (bv < 0) return bv;
        c = &g->nodes[i];
        c->in[2] = bv;
        c->n_in = 3;
      }
      c->a.k = -1; /* marks the direct small-channel path */
      continue;
    }
    if (c->a.winograd) {
      int err = pack_winograd(g, i, nr, c->a.winograd);
      if (err) return err;
      continue;
    }
    const vg_tensor_t *w = &g->values[c->in[1]].t;
    int64_t K = w->dims[0] * w->dims[1] * w->dims[2], N = w->dims[3], panels = (N + nr - 1) / nr;
    int64_t pd[3] = {panels, K, nr};
    int pv = new_const(g, g->values[c->in[1]].name, 3, pd);
    if (pv < 0) return pv;
    int64_t bd[1] = {panels * nr};
    int bv = new_const(g, "packed_bias", 1, bd);
    if (bv < 0) return bv;
    c = &g->nodes[i];
    const float *src = g->values[c->in[1]].t.data;
    float *dst = g->values[pv].t.data, *bias = g->values[bv].t.data;
    for (int64_t p = 0; p < panels; p++)
      for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < nr; j++) {
          int64_t col = p * nr + j;
          dst[(p * K + k) * nr + j] = col < N ? src[k * N + col] : 0.0f;
        }
    if (c->n_in > 2 && c->in[2] >= 0) memcpy(bias, g->values[c->in[2]].t.data, sizeof(float) * (size_t)N);
    int old_w = c->in[1], old_b = c->n_in > 2 ? c->in[2] : -1;
    c->in[1] = pv;
    c->in[2] = bv;
    c->n_in = 3;
    c->a.filter_layout = VG_FILTER_PACKED;
    c->a.k = nr;
    release_const(g, old_w);
    release_const(g, old_b);
  }
  return 0;
}

/* ---- 5. 1x1 expansion + depthwise fusion ------------------------------------------ */

/* An inverted-residual block expands its input with a 1x1 convolution to
 * several times the channels, then runs a depthwise convolution on that. At
 * high resolution the expanded tensor dominates the activation memory
 * (CenterNet: 256x256x64, 16 MiB). Fused, the kernel computes the expanded
 * rows one band at a time into per-thread scratch and runs the depthwise
 * convolution on the band, so only a few rows of it exist at once. The same
 * holds for a depthwise convolution followed by a 1x1 one (CenterNet's
 * separable head convolutions, 128x128x128 between them). Smaller
 * expansions stay unfused: they fit the caches anyway, and bands of a small
 * image would recompute a large share of their rows. */
#define FDW_MIN_BYTES ((int64_t)1 << 20)

static int is_plain_1x1(const vg_graph_t *g, const vg_node_t *c, int nr) {
  const vg_attrs_t *a = &c->a;
  return c->op == VG_OP_CONV && !c->dead && a->filter_layout == VG_FILTER_PACKED && !a->winograd &&
         a->k == nr && a->layout == VG_LAYOUT_NHWC && a->ksize[0] == 1 && a->ksize[1] == 1 &&
         a->strides[0] == 1 && a->strides[1] == 1 && !a->pads[0] && !a->pads[1] && !a->pads[2] &&
         !a->pads[3] && !a->fdw.on && g->values[c->in[0]].t.ndim == 4;
}

/* Depthwise filter and bias of conv d, and its window, into host c. */
static void take_dw(vg_node_t *c, const vg_node_t *d, int mode) {
  c->a.fdw.on = mode;
  memcpy(c->a.fdw.ksize, d->a.ksize, sizeof(d->a.ksize));
  memcpy(c->a.fdw.strides, d->a.strides, sizeof(d->a.strides));
  memcpy(c->a.fdw.pads, d->a.pads, sizeof(d->a.pads));
  memcpy(c->a.fdw.dilations, d->a.dilations, sizeof(d->a.dilations));
  c->a.fdw.act = d->a.act;
  c->a.fdw.alpha = d->a.alpha;
  c->a.fdw.beta = d->a.beta;
  c->in[3] = d->in[1];
  c->in[4] = d->n_in > 2 ? d->in[2] : -1;
  c->n_in = 5;
}

static int fusable_dw(const vg_graph_t *g, const vg_node_t *d) {
  return d->op == VG_OP_CONV && !d->dead && d->a.layout == VG_LAYOUT_NHWC && is_depthwise(g, d) &&
         d->a.ksize[0] <= 16 && is_const_f32(g, d->in[1]) &&
         !(d->n_in > 2 && d->in[2] >= 0 && !is_const_f32(g, d->in[2]));
}

static int fuse_expand_dw(vg_graph_t *g) {
  int nr = vg_cpu_simd()->nr;
  /* 1x1 expansion, then depthwise (VG_FDW_EXPAND). */
  for (int i = 0; i < g->n_nodes; i++) {
    vg_node_t *c = &g->nodes[i];
    if (!is_plain_1x1(g, c, nr)) continue;
    int y = c->out[0], cons[2];
    if (g->values[y].is_output || consumers(g, y, cons, 2) != 1) continue;
    if ((int64_t)vg_tensor_bytes(&g->values[y].t) < FDW_MIN_BYTES) continue;
    vg_node_t *d = &g->nodes[cons[0]];
    if (!fusable_dw(g, d) || d->in[0] != y) continue;
    take_dw(c, d, VG_FDW_EXPAND);
    c->out[0] = d->out[0];
    d->dead = 1;
  }
  /* Depthwise, then a 1x1 projection (a separable convolution,
   * VG_FDW_PROJECT): the 1x1 needs no neighbouring rows, so bands of the
   * depthwise output are computed once each. */
  for (int i = 0; i < g->n_nodes; i++) {
    vg_node_t *c = &g->nodes[i];
    if (!is_plain_1x1(g, c, nr)) continue;
    int p = producer(g, c->in[0]), cons[2];
    if (p < 0) continue;
    vg_node_t *d = &g->nodes[p];
    int y = d->out[0];
    if (!fusable_dw(g, d) || g->values[y].is_output || consumers(g, y, cons, 2) != 1) continue;
    if ((int64_t)vg_tensor_bytes(&g->values[y].t) < FDW_MIN_BYTES) continue;
    take_dw(c, d, VG_FDW_PROJECT);
    c->in[0] = d->in[0];
    d->dead = 1;
  }
  return 0;
}

static int cpu_prepare_with(vg_graph_t *g, int (*quantize)(vg_graph_t *g)) {
  int err = sink_transposes(g);
  /* After sinking (which would push these transposes back down). */
  if (!err) err = hoist_transposes_over_pads(g);
  if (!err) err = fold_pads(g);
  if (!err) err = fuse_conv_chains(g);
  if (!err) err = fuse_hardswish(g);
  if (!err && quantize) err = quantize(g);
  if (!err) err = pack_weights(g);
  if (!err && !getenv("VIGIL_NO_FUSE_DW")) err = fuse_expand_dw(g);
  return err;
}

static int cpu_prepare(vg_graph_t *g) { return cpu_prepare_with(g, NULL); }
int vg_cpu_prepare_int8(vg_graph_t *g) { return cpu_prepare_with(g, vg_int8_quantize_graph); }

/* ---- kernels ------------------------------------------------------------------ */

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

typedef struct {
  size_t cap;
  float data[];
} scratch_t;

static void make_key(void) { pthread_key_create(&scratch_key, free); }

/* Per-thread scratch memory for im2col, grown on demand and freed when the
 * thread ends. */
static float *thread_scratch(size_t floats) {
  pthread_once(&scratch_once, make_key);
  scratch_t *s = pthread_getspecific(scratch_key);
  if (!s || s->cap < floats) {
    free(s);
    s = malloc(sizeof(*s) + floats * sizeof(float));
    if (!s) {
      pthread_setspecific(scratch_key, NULL);
      return NULL;
    }
    s->cap = floats;
    pthread_setspecific(scratch_key, s);
  }
  return s->data;
}

/* A task's scratch: this thread's share of the node's scratch in the arena
 * where the planner gave it some and the share is large enough (then it
 * costs no memory beside the arena), else the thread's own. */
static float *task_scratch(const vg_exec_ctx_t *ctx, size_t floats) {
  int threads = vg_thread_pool_size(ctx->pool), idx = vg_thread_pool_index();
  size_t share = ctx->scratch_floats / (size_t)threads & ~(size_t)15;
  if (ctx->scratch && idx < threads && floats <= share) return ctx->scratch + (size_t)idx * share;
  return thread_scratch(floats);
}

#define CONV_MB 48 /* output pixels per task: a multiple of VG_GEMM_MR */

typedef struct {
  const vg_node_t *n;
  const vg_cpu_simd_t *s;
  const float *x, *wp, *bias;
  float *y;
  int64_t H, W, C, OH, OW, CO, KH, KW, K, M;
  int64_t ldy; /* elements from one output pixel to the next (CO, or a concatenation's width) */
  int direct, failed;
  const vg_exec_ctx_t *ctx;
} conv_job_t;

static void conv_task(void *arg, int64_t blk) {
  conv_job_t *j = arg;
  const vg_attrs_t *a = &j->n->a;
  int64_t m0 = blk * CONV_MB, mb = j->M - m0 < CONV_MB ? j->M - m0 : CONV_MB;
  const float *A;
  int64_t lda;
  if (j->direct) {
    A = j->x + m0 * j->C;
    lda = j->C;
  } else {
    float *buf = task_scratch(j->ctx, (size_t)(mb * j->K));
    if (!buf) {
      j->failed = 1;
      return;
    }
    for (int64_t m = 0; m < mb; m++) {
      int64_t pix = m0 + m, b = pix / (j->OH * j->OW), rem = pix % (j->OH * j->OW);
      int64_t oy = rem / j->OW, ox = rem % j->OW;
      float *row = buf + m * j->K;
      for (int64_t ky = 0; ky < j->KH; ky++) {
        int64_t iy = oy * a->strides[0] - a->pads[0] + ky;
        for (int64_t kx = 0; kx < j->KW; kx++) {
          int64_t ix = ox * a->strides[1] - a->pads[1] + kx;
          float *dst = row + (ky * j->KW + kx) * j->C;
          if (iy < 0 || iy >= j->H || ix < 0 || ix >= j->W)
            memset(dst, 0, sizeof(float) * (size_t)j->C);
          else
            memcpy(dst, j->x + ((b * j->H + iy) * j->W + ix) * j->C, sizeof(float) * (size_t)j->C);
        }
      }
    }
    A = buf;
    lda = j->K;
  }
  int nr = j->s->nr;
  for (int64_t p = 0; p * nr < j->CO; p++) {
    int ncols = (int)(j->CO - p * nr < nr ? j->CO - p * nr : nr);
    j->s->gemm_panel(mb, j->K, A, lda, j->wp + p * j->K * nr, j->bias + p * nr, j->y + m0 * j->ldy + p * nr,
                     j->ldy, ncols, a->act, a->alpha, a->beta);
  }
}

#define WINO_TILES 48 /* output tiles per task, F(2x2) */
#define WINO_SCRATCH_BYTES ((int64_t)1 << 20)
#ifndef WINO4_TILES
#define WINO4_TILES 24 /* F(4x4): 4x the pixels per tile, 2.25x the matrices */
#endif

typedef struct {
  const vg_node_t *n;
  const vg_cpu_simd_t *s;
  const float *x, *up, *bias;
  float *y;
  int64_t H, W, C, OH, OW, CO, TW, TH, T, per_task, ldy;
  int m, failed; /* m: output tile size, 2 or 4 */
  const vg_exec_ctx_t *ctx;
} wino_job_t;

/* One block of output tiles: input transform into n*n matrices V[k] (tiles
 * x C, n = m + 2), n*n GEMMs against the transformed filter into M[k] (tiles
 * x CO), output transform with bias and activation. */
static void wino_task(void *arg, int64_t blk) {
  wino_job_t *j = arg;
  const vg_attrs_t *a = &j->n->a;
  int m = j->m, tn = m + 2, nk = tn * tn;
  int64_t t0 = blk * j->per_task, nt = j->T - t0 < j->per_task ? j->T - t0 : j->per_task;
  int64_t C = j->C, CO = j->CO, nr = j->s->nr, panels = (CO + nr - 1) / nr;
  float *buf = task_scratch(j->ctx, (size_t)(nk * nt * C + nk * nt * CO));
  if (!buf) {
    j->failed = 1;
    return;
  }
  float *V = buf, *M = buf + nk * nt * C;
  int64_t tiles_per_img = j->TW * j->TH;
  for (int64_t t = 0; t < nt; t++) {
    int64_t tile = t0 + t, b = tile / tiles_per_img, r = tile % tiles_per_img;
    int64_t iy0 = (r / j->TW) * m - a->pads[0], ix0 = (r % j->TW) * m - a->pads[1];
    const float *rows[36];
    for (int yy = 0; yy < tn; yy++)
      for (int xx = 0; xx < tn; xx++) {
        int64_t iy = iy0 + yy, ix = ix0 + xx;
        rows[yy * tn + xx] =
            iy < 0 || iy >= j->H || ix < 0 || ix >= j->W ? NULL : j->x + ((b * j->H + iy) * j->W + ix) * C;
      }
    if (m == 4)
      j->s->wino4_input(rows, C, V + t * C, nt * C);
    else
      j->s->wino_input(rows, C, V + t * C, nt * C);
  }
  for (int k = 0; k < nk; k++)
    for (int64_t p = 0; p < panels; p++) {
      int ncols = (int)(CO - p * nr < nr ? CO - p * nr : nr);
      j->s->gemm_panel(nt, C, V + k * nt * C, C, j->up + (k * panels + p) * C * nr, NULL,
                       M + k * nt * CO + p * nr, CO, ncols, VG_ACT_NONE, 0, 0);
    }
  for (int64_t t = 0; t < nt; t++) {
    int64_t tile = t0 + t, b = tile / tiles_per_img, r = tile % tiles_per_img;
    int64_t oy0 = (r / j->TW) * m, ox0 = (r % j->TW) * m;
    const float *mk[36];
    for (int k = 0; k < nk; k++)
      mk[k] = M + (k * nt + t) * CO;
    float *o[16];
    for (int yy = 0; yy < m; yy++)
      for (int xx = 0; xx < m; xx++)
        o[yy * m + xx] = oy0 + yy < j->OH && ox0 + xx < j->OW
                             ? j->y + ((b * j->OH + oy0 + yy) * j->OW + ox0 + xx) * j->ldy
                             : NULL;
    if (m == 4)
      j->s->wino4_output(mk, CO, j->bias, o, a->act, a->alpha, a->beta);
    else
      j->s->wino_output(mk, CO, j->bias, o, a->act, a->alpha, a->beta);
  }
}

static int k_conv_winograd(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out,
                           vg_exec_ctx_t *ctx) {
  const vg_tensor_t *x = in[0], *y = out[0];
  wino_job_t j = {.n = n,
                  .s = vg_cpu_simd(),
                  .x = x->data,
                  .up = in[1]->data,
                  .bias = in[2]->data,
                  .y = y->data,
                  .ctx = ctx};
  j.m = n->a.winograd == 4 ? 4 : 2;
  j.H = x->dims[1], j.W = x->dims[2], j.C = x->dims[3];
  j.OH = y->dims[1], j.OW = y->dims[2], j.CO = y->dims[3];
  j.ldy = n->a.out_pitch ? n->a.out_pitch : j.CO;
  j.TW = (j.OW + j.m - 1) / j.m;
  j.TH = (j.OH + j.m - 1) / j.m;
  j.T = x->dims[0] * j.TW * j.TH;
  j.per_task = j.m == 4 ? WINO4_TILES : WINO_TILES;
  /* Each thread's scratch holds a task's transformed tiles in and out:
   * fewer tiles per task where the channels are many keeps it within
   * WINO_SCRATCH_BYTES (at 12 to 96 tiles per task the speed is the same). */
  int64_t per_tile = (int64_t)(j.m + 2) * (j.m + 2) * (j.C + j.CO) * (int64_t)sizeof(float);
  int64_t fit = WINO_SCRATCH_BYTES / (per_tile ? per_tile : 1);
  if (fit < 12) fit = 12;
  if (j.per_task > fit) j.per_task = fit;
  if (j.s->nr != n->a.k) return VG_ESTATE; /* packed for another ISA */
  vg_parallel_for(ctx->pool, (j.T + j.per_task - 1) / j.per_task, wino_task, &j);
  return j.failed ? VG_ENOMEM : 0;
}

static int k_conv_gemm(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out,
                       vg_exec_ctx_t *ctx) {
  const vg_tensor_t *x = in[0], *y = out[0];
  conv_job_t j = {.n = n,
                  .s = vg_cpu_simd(),
                  .x = x->data,
                  .wp = in[1]->data,
                  .bias = in[2]->data,
                  .y = y->data,
                  .ctx = ctx};
  j.H = x->dims[1], j.W = x->dims[2], j.C = x->dims[3];
  j.OH = y->dims[1], j.OW = y->dims[2], j.CO = y->dims[3];
  j.ldy = n->a.out_pitch ? n->a.out_pitch : j.CO;
  j.KH = n->a.ksize[0], j.KW = n->a.ksize[1];
  j.K = j.KH * j.KW * j.C;
  j.M = x->dims[0] * j.OH * j.OW;
  j.direct = j.KH == 1 && j.KW == 1 && n->a.strides[0] == 1 && n->a.strides[1] == 1 && !n->a.pads[0] &&
             !n->a.pads[1] && !n->a.pads[2] && !n->a.pads[3];
  if (j.s->nr != n->a.k) return VG_ESTATE; /* packed for another ISA */
  vg_parallel_for(ctx->pool, (j.M + CONV_MB - 1) / CONV_MB, conv_task, &j);
  return j.failed ? VG_ENOMEM : 0;
}

typedef struct {
  const vg_node_t *n;
  const vg_cpu_simd_t *s;
  const float *x, *wp, *bias, *wdw, *bdw;
  float *y;
  int64_t H, W, C, E, CO, OH, OW, band, bands, ldy;
  int failed;
  const vg_exec_ctx_t *ctx;
} fdw_job_t;

/* One band of output rows of a fused 1x1 expansion + depthwise convolution:
 * the expanded input rows the band needs (with bias and activation), then
 * the depthwise rows from them. Neighbouring bands recompute the few rows
 * they share. */
/* Project mode: a band of depthwise output rows into scratch, then the 1x1
 * GEMM from it straight into the output. */
static void fdw_project_task(void *arg, int64_t t) {
  fdw_job_t *j = arg;
  const vg_attrs_t *a = &j->n->a;
  int64_t b = t / j->bands, oy0 = (t % j->bands) * j->band;
  int64_t oy1 = oy0 + j->band < j->OH ? oy0 + j->band : j->OH, E = j->E, nr = j->s->nr;
  int64_t CO = j->CO, row = j->OW * E;
  float *buf = task_scratch(j->ctx, (size_t)((oy1 - oy0) * row));
  if (!buf) {
    j->failed = 1;
    return;
  }
  for (int64_t oy = oy0; oy < oy1; oy++) {
    const float *rows[16];
    for (int64_t ky = 0; ky < a->fdw.ksize[0]; ky++) {
      int64_t iy = oy * a->fdw.strides[0] - a->fdw.pads[0] + ky * a->fdw.dilations[0];
      rows[ky] = iy < 0 || iy >= j->H ? NULL : j->x + (b * j->H + iy) * j->W * E;
    }
    j->s->dwconv_row(rows, j->W, E, j->wdw, a->fdw.ksize[0], a->fdw.ksize[1], a->fdw.strides[1],
                     a->fdw.pads[1], a->fdw.dilations[1], j->bdw, buf + (oy - oy0) * row, j->OW, a->fdw.act,
                     a->fdw.alpha, a->fdw.beta);
  }
  for (int64_t p = 0; p * nr < CO; p++) {
    int ncols = (int)(CO - p * nr < nr ? CO - p * nr : nr);
    j->s->gemm_panel((oy1 - oy0) * j->OW, E, buf, E, j->wp + p * E * nr, j->bias + p * nr,
                     j->y + (b * j->OH + oy0) * j->OW * j->ldy + p * nr, j->ldy, ncols, a->act, a->alpha,
                     a->beta);
  }
}

static void fdw_task(void *arg, int64_t t) {
  fdw_job_t *j = arg;
  const vg_attrs_t *a = &j->n->a;
  int64_t b = t / j->bands, oy0 = (t % j->bands) * j->band;
  int64_t oy1 = oy0 + j->band < j->OH ? oy0 + j->band : j->OH;
  int64_t sy = a->fdw.strides[0], dy = a->fdw.dilations[0], KH = a->fdw.ksize[0];
  int64_t lo = oy0 * sy - a->fdw.pads[0], hi = (oy1 - 1) * sy - a->fdw.pads[0] + (KH - 1) * dy;
  if (lo < 0) lo = 0;
  if (hi > j->H - 1) hi = j->H - 1;
  int64_t nrows = hi >= lo ? hi - lo + 1 : 0, E = j->E, nr = j->s->nr;
  float *buf = task_scratch(j->ctx, (size_t)((nrows ? nrows : 1) * j->W * E));
  if (!buf) {
    j->failed = 1;
    return;
  }
  const float *A = j->x + (b * j->H + lo) * j->W * j->C;
  for (int64_t p = 0; p * nr < E && nrows; p++) {
    int ncols = (int)(E - p * nr < nr ? E - p * nr : nr);
    j->s->gemm_panel(nrows * j->W, j->C, A, j->C, j->wp + p * j->C * nr, j->bias + p * nr, buf + p * nr, E,
                     ncols, a->act, a->alpha, a->beta);
  }
  for (int64_t oy = oy0; oy < oy1; oy++) {
    const float *rows[16];
    for (int64_t ky = 0; ky < KH; ky++) {
      int64_t iy = oy * sy - a->fdw.pads[0] + ky * dy;
      rows[ky] = iy < lo || iy > hi ? NULL : buf + (iy - lo) * j->W * E;
    }
    j->s->dwconv_row(rows, j->W, E, j->wdw, KH, a->fdw.ksize[1], a->fdw.strides[1], a->fdw.pads[1],
                     a->fdw.dilations[1], j->bdw, j->y + (b * j->OH + oy) * j->OW * E, j->OW, a->fdw.act,
                     a->fdw.alpha, a->fdw.beta);
  }
}

/* Bands hold about FDW_BAND_BYTES of expanded rows per thread (L2-sized, so
 * the depthwise pass reads what the GEMM just wrote). */
#define FDW_BAND_BYTES ((int64_t)512 << 10)
/* The same for a thread's own scratch, where the arena has no room. */
#define FDW_OWN_BYTES ((int64_t)64 << 10)

/* The rows of a band of a fused 1x1 + depthwise node (*band) and the
 * channels of its scratch rows (*E); returns the most scratch floats a band
 * needs. */
static int64_t fdw_bands(const vg_node_t *n, const vg_tensor_t *x, const vg_tensor_t *y, int64_t *E,
                         int64_t *band) {
  int64_t H = x->dims[1], W = x->dims[2], OH = y->dims[1], OW = y->dims[2];
  int project = n->a.fdw.on == VG_FDW_PROJECT;
  int64_t span = (n->a.fdw.ksize[0] - 1) * n->a.fdw.dilations[0] + 1, sy = n->a.fdw.strides[0];
  *E = project ? x->dims[3] : y->dims[3];
  if (project) {
    int64_t rows = FDW_BAND_BYTES / (OW * *E * (int64_t)sizeof(float));
    *band = rows > 1 ? rows : 1;
  } else {
    int64_t rows = FDW_BAND_BYTES / (W * *E * (int64_t)sizeof(float));
    *band = rows > span ? (rows - span) / sy + 1 : 1;
  }
  if (*band > OH) *band = OH;
  if (project) return *band * OW * *E;
  int64_t nrows = (*band - 1) * sy + span;
  return (nrows < H ? nrows : H) * W * *E;
}

static int k_conv_1x1_dw(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out,
                         vg_exec_ctx_t *ctx) {
  const vg_tensor_t *x = in[0], *y = out[0];
  fdw_job_t j = {.n = n,
                 .s = vg_cpu_simd(),
                 .x = x->data,
                 .wp = in[1]->data,
                 .bias = in[2]->data,
                 .wdw = in[3]->data,
                 .bdw = n->in[4] >= 0 && in[4] ? in[4]->data : NULL,
                 .y = y->data,
                 .ctx = ctx};
  j.H = x->dims[1], j.W = x->dims[2], j.C = x->dims[3];
  j.CO = y->dims[3], j.OH = y->dims[1], j.OW = y->dims[2];
  j.ldy = n->a.out_pitch ? n->a.out_pitch : j.CO;
  if (j.s->nr != n->a.k) return VG_ESTATE; /* packed for another ISA */
  int project = n->a.fdw.on == VG_FDW_PROJECT;
  fdw_bands(n, x, y, &j.E, &j.band);
  /* A 1x1 after the depthwise one recomputes nothing between bands, so
   * where the arena had no room for its scratch (the node is at the arena's
   * peak) smaller bands keep the threads' own scratch small. */
  if (project && ctx->scratch_planned && !ctx->scratch) {
    int64_t rows = FDW_OWN_BYTES / (j.OW * j.E * (int64_t)sizeof(float));
    if (j.band > rows) j.band = rows > 1 ? rows : 1;
  }
  j.bands = (j.OH + j.band - 1) / j.band;
  vg_parallel_for(ctx->pool, x->dims[0] * j.bands, project ? fdw_project_task : fdw_task, &j);
  return j.failed ? VG_ENOMEM : 0;
}

typedef struct {
  const vg_node_t *n;
  const vg_cpu_simd_t *s;
  const float *x, *w, *bias;
  float *y;
  int64_t H, W, C, OH, OW, CO;
} dw_job_t;

static void dw_task(void *arg, int64_t row) {
  dw_job_t *j = arg;
  const vg_attrs_t *a = &j->n->a;
  int64_t b = row / j->OH, oy = row % j->OH;
  const float *rows[16];
  for (int64_t ky = 0; ky < a->ksize[0]; ky++) {
    int64_t iy = oy * a->strides[0] - a->pads[0] + ky * a->dilations[0];
    rows[ky] = iy < 0 || iy >= j->H ? NULL : j->x + ((b * j->H + iy) * j->W) * j->C;
  }
  j->s->dwconv_row(rows, j->W, j->C, j->w, a->ksize[0], a->ksize[1], a->strides[1], a->pads[1],
                   a->dilations[1], j->bias, j->y + (b * j->OH + oy) * j->OW * j->C, j->OW, a->act, a->alpha,
                   a->beta);
}

static void small_task(void *arg, int64_t row) {
  dw_job_t *j = arg;
  const vg_attrs_t *a = &j->n->a;
  int64_t b = row / j->OH, oy = row % j->OH;
  const float *rows[16];
  for (int64_t ky = 0; ky < a->ksize[0]; ky++) {
    int64_t iy = oy * a->strides[0] - a->pads[0] + ky;
    rows[ky] = iy < 0 || iy >= j->H ? NULL : j->x + ((b * j->H + iy) * j->W) * j->C;
  }
  j->s->conv_small_row(rows, j->W, j->C, j->w, a->ksize[1], a->ksize[0], a->strides[1], a->pads[1], j->bias,
                       j->y + (b * j->OH + oy) * j->OW * j->CO, j->OW, j->CO, a->act, a->alpha, a->beta);
}

static int k_conv_small(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out,
                        vg_exec_ctx_t *ctx) {
  const vg_tensor_t *x = in[0], *y = out[0];
  dw_job_t j = {
      .n = n, .s = vg_cpu_simd(), .x = x->data, .w = in[1]->data, .bias = in[2]->data, .y = y->data};
  j.H = x->dims[1], j.W = x->dims[2], j.C = x->dims[3], j.OH = y->dims[1], j.OW = y->dims[2],
  j.CO = y->dims[3];
  vg_parallel_for(ctx->pool, x->dims[0] * j.OH, small_task, &j);
  return 0;
}

static int k_conv_dw(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out,
                     vg_exec_ctx_t *ctx) {
  const vg_tensor_t *x = in[0], *y = out[0];
  dw_job_t j = {.n = n, .s = vg_cpu_simd(), .x = x->data, .w = in[1]->data, .y = y->data};
  j.bias = n->n_in > 2 && in[2] ? in[2]->data : NULL;
  j.H = x->dims[1], j.W = x->dims[2], j.C = x->dims[3], j.OH = y->dims[1], j.OW = y->dims[2];
  vg_parallel_for(ctx->pool, x->dims[0] * j.OH, dw_task, &j);
  return 0;
}

typedef struct {
  const vg_node_t *n;
  const vg_cpu_simd_t *s;
  const float *a, *b;
  float *y;
  int64_t n_el, nb, chunk;
  int unary;
} ew_job_t;

#define EW_CHUNK 16384

static void ew_task(void *arg, int64_t i) {
  ew_job_t *j = arg;
  int64_t o = i * j->chunk, len = j->n_el - o < j->chunk ? j->n_el - o : j->chunk;
  if (j->unary) {
    const vg_attrs_t *at = &j->n->a;
    vg_act_t act = j->n->op == VG_OP_RELU        ? VG_ACT_RELU
                   : j->n->op == VG_OP_RELU6     ? VG_ACT_RELU6
                   : j->n->op == VG_OP_LEAKYRELU ? VG_ACT_LEAKY
                   : j->n->op == VG_OP_SIGMOID   ? VG_ACT_SIGMOID
                                                 : VG_ACT_CLIP;
    if (j->y != j->a) memcpy(j->y + o, j->a + o, sizeof(float) * (size_t)len);
    j->s->act(j->y + o, len, act, at->alpha, at->beta);
  } else if (j->nb == j->n_el) {
    j->s->binary(j->n->op, j->a + o, j->b + o, j->y + o, len, len);
  } else {
    j->s->binary(j->n->op, j->a + o, j->b, j->y + o, len, j->nb);
  }
}

static int k_unary_fast(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out,
                        vg_exec_ctx_t *ctx) {
  ew_job_t j = {.n = n, .s = vg_cpu_simd(), .a = in[0]->data, .y = out[0]->data, .unary = 1};
  j.n_el = vg_tensor_numel(in[0]);
  j.chunk = EW_CHUNK;
  vg_parallel_for(ctx->pool, (j.n_el + j.chunk - 1) / j.chunk, ew_task, &j);
  return 0;
}

/* The shapes k_binary_fast handles: equal, b a scalar, or b repeating
 * along the last axes of a (a channel vector in NHWC). */
static int64_t fast_broadcast_len(const vg_tensor_t *a, const vg_tensor_t *b, const vg_tensor_t *y) {
  if (!vg_tensor_same_shape(a, y)) return -1;
  int64_t nb = vg_tensor_numel(b);
  if (vg_tensor_same_shape(a, b) || nb == 1) return nb;
  /* b's shape, without leading ones, must equal a's trailing dims. */
  int bi = 0;
  while (bi < b->ndim && b->dims[bi] == 1)
    bi++;
  int tail = b->ndim - bi;
  if (tail > a->ndim) return -1;
  for (int k = 0; k < tail; k++)
    if (b->dims[bi + k] != a->dims[a->ndim - tail + k]) return -1;
  return nb;
}

static int k_binary_fast(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out,
                         vg_exec_ctx_t *ctx) {
  int swap = 0;
  int64_t nb = fast_broadcast_len(in[0], in[1], out[0]);
  if (nb < 0 &&
      (n->op == VG_OP_ADD || n->op == VG_OP_MUL || n->op == VG_OP_MAXIMUM || n->op == VG_OP_MINIMUM)) {
    nb = fast_broadcast_len(in[1], in[0], out[0]);
    swap = 1;
  }
  if (nb < 0 || (nb != vg_tensor_numel(out[0]) && vg_tensor_numel(out[0]) % (nb ? nb : 1)))
    return vg_ref_kernel(n->op)(n, in, out, ctx);
  ew_job_t j = {.n = n, .s = vg_cpu_simd(), .a = in[swap]->data, .b = in[1 - swap]->data, .y = out[0]->data};
  j.n_el = vg_tensor_numel(out[0]);
  j.nb = nb;
  /* Chunks are whole repetitions of b so that each task sees b from its
   * start; equal shapes split anywhere. */
  j.chunk = nb == j.n_el ? EW_CHUNK : nb >= EW_CHUNK ? nb : (EW_CHUNK / nb) * nb;
  vg_parallel_for(ctx->pool, (j.n_el + j.chunk - 1) / j.chunk, ew_task, &j);
  return 0;
}

typedef struct {
  const float *x;
  float *y;
  int64_t rows, cols; /* per batch: x is rows x cols, y is cols x rows */
} tr_job_t;

/* One batch's 2-d transpose, in 32x32 tiles so both sides stay in cache. */
static void tr_task(void *arg, int64_t b) {
  tr_job_t *j = arg;
  const float *x = j->x + b * j->rows * j->cols;
  float *y = j->y + b * j->rows * j->cols;
  for (int64_t r0 = 0; r0 < j->rows; r0 += 32)
    for (int64_t c0 = 0; c0 < j->cols; c0 += 32) {
      int64_t r1 = r0 + 32 < j->rows ? r0 + 32 : j->rows, c1 = c0 + 32 < j->cols ? c0 + 32 : j->cols;
      for (int64_t r = r0; r < r1; r++)
        for (int64_t c = c0; c < c1; c++)
          y[c * j->rows + r] = x[r * j->cols + c];
    }
}

/* Perms that are a batched 2-d transpose: [0, 2, 3, 1] and [0, 3, 1, 2] on
 * 4-d, [0, 2, 1] on 3-d. */
static int k_transpose_fast(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out,
                            vg_exec_ctx_t *ctx) {
  const vg_tensor_t *x = in[0];
  const int64_t *p = n->a.ints;
  tr_job_t j = {.x = x->data, .y = out[0]->data};
  if (x->ndim == 4 && p[0] == 0 && p[1] == 2 && p[2] == 3 && p[3] == 1)
    j.rows = x->dims[1], j.cols = x->dims[2] * x->dims[3];
  else if (x->ndim == 4 && p[0] == 0 && p[1] == 3 && p[2] == 1 && p[3] == 2)
    j.rows = x->dims[1] * x->dims[2], j.cols = x->dims[3];
  else if (x->ndim == 3 && p[0] == 0 && p[1] == 2 && p[2] == 1)
    j.rows = x->dims[1], j.cols = x->dims[2];
  else
    return vg_ref_kernel(n->op)(n, in, out, ctx);
  vg_parallel_for(ctx->pool, x->dims[0], tr_task, &j);
  return 0;
}

/* Constant padding of any rank: fill, then copy the input's innermost rows. */
static int k_pad_fast(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out,
                      vg_exec_ctx_t *ctx) {
  const vg_tensor_t *x = in[0];
  vg_tensor_t *y = out[0];
  if (n->a.pad_reflect || x->dtype != VG_DT_F32 || x->ndim < 1) return vg_ref_kernel(n->op)(n, in, out, ctx);
  int r = x->ndim;
  float *yd = y->data, v = n->a.pad_value;
  int64_t total = vg_tensor_numel(y);
  for (int64_t i = 0; i < total; i++)
    yd[i] = v;
  int64_t ys[VG_TENSOR_MAX_DIMS], s = 1, idx[VG_TENSOR_MAX_DIMS] = {0};
  for (int i = r - 1; i >= 0; i--)
    ys[i] = s, s *= y->dims[i];
  int64_t row = x->dims[r - 1], rows = row ? vg_tensor_numel(x) / row : 0;
  const float *xd = x->data;
  for (int64_t q = 0; q < rows; q++) {
    int64_t off = n->a.ints[r - 1];
    for (int i = 0; i < r - 1; i++)
      off += (idx[i] + n->a.ints[i]) * ys[i];
    memcpy(yd + off, xd + q * row, sizeof(float) * (size_t)row);
    for (int i = r - 2; i >= 0; i--) {
      if (++idx[i] < x->dims[i]) break;
      idx[i] = 0;
    }
  }
  return 0;
}

typedef struct {
  const vg_node_t *n;
  const vg_cpu_simd_t *s;
  const float *x;
  float *y;
  int64_t H, W, C, OH, OW;
} pool_job_t;

/* One output row of an NHWC max pool; padding never wins a max. */
static void maxpool_task(void *arg, int64_t row) {
  pool_job_t *j = arg;
  const vg_attrs_t *a = &j->n->a;
  int64_t b = row / j->OH, oy = row % j->OH;
  for (int64_t ox = 0; ox < j->OW; ox++) {
    float *o = j->y + ((b * j->OH + oy) * j->OW + ox) * j->C;
    for (int64_t c = 0; c < j->C; c++)
      o[c] = -__builtin_inff();
    for (int64_t ky = 0; ky < a->ksize[0]; ky++) {
      int64_t iy = oy * a->strides[0] - a->pads[0] + ky * a->dilations[0];
      if (iy < 0 || iy >= j->H) continue;
      for (int64_t kx = 0; kx < a->ksize[1]; kx++) {
        int64_t ix = ox * a->strides[1] - a->pads[1] + kx * a->dilations[1];
        if (ix < 0 || ix >= j->W) continue;
        j->s->max_into(o, j->x + ((b * j->H + iy) * j->W + ix) * j->C, j->C);
      }
    }
  }
}

static int k_maxpool_nhwc(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out,
                          vg_exec_ctx_t *ctx) {
  const vg_tensor_t *x = in[0], *y = out[0];
  pool_job_t j = {.n = n, .s = vg_cpu_simd(), .x = x->data, .y = y->data};
  j.H = x->dims[1], j.W = x->dims[2], j.C = x->dims[3], j.OH = y->dims[1], j.OW = y->dims[2];
  vg_parallel_for(ctx->pool, x->dims[0] * j.OH, maxpool_task, &j);
  return 0;
}

/* Mean over H and W of an NHWC tensor (squeeze-and-excite, global pooling):
 * one pass, accumulating whole channel rows. */
static int k_mean_hw(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out,
                     vg_exec_ctx_t *ctx) {
  const vg_tensor_t *x = in[0];
  int64_t N = x->dims[0], HW = x->dims[1] * x->dims[2], C = x->dims[3];
  float *acc = calloc((size_t)C, sizeof(float));
  if (!acc) return VG_ENOMEM;
  for (int64_t b = 0; b < N; b++) {
    memset(acc, 0, sizeof(float) * (size_t)C);
    const float *p = (const float *)x->data + b * HW * C;
    for (int64_t i = 0; i < HW; i++, p += C)
      vg_cpu_simd()->add_into(acc, p, C);
    float *y = (float *)out[0]->data + b * C;
    for (int64_t c = 0; c < C; c++)
      y[c] = acc[c] / (float)HW;
  }
  free(acc);
  (void)n, (void)ctx;
  return 0;
}

/* Equal on same-shaped f32 tensors and Cast between bool and f32: CenterNet's
 * in-graph peak test runs these on its whole 128x128x80 heatmap. */
static int k_equal_same(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out,
                        vg_exec_ctx_t *ctx) {
  if (!vg_tensor_same_shape(in[0], in[1])) return vg_ref_kernel(n->op)(n, in, out, ctx);
  const float *a = in[0]->data, *b = in[1]->data;
  uint8_t *y = out[0]->data;
  int64_t cnt = vg_tensor_numel(out[0]);
  for (int64_t i = 0; i < cnt; i++)
    y[i] = a[i] == b[i];
  return 0;
}

static int k_cast_bool_f32(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out,
                           vg_exec_ctx_t *ctx) {
  const uint8_t *x = in[0]->data;
  float *y = out[0]->data;
  int64_t cnt = vg_tensor_numel(out[0]);
  for (int64_t i = 0; i < cnt; i++)
    y[i] = x[i] ? 1.0f : 0.0f;
  (void)n, (void)ctx;
  return 0;
}

static vg_kernel_fn cpu_kernel(const vg_graph_t *g, const vg_node_t *n) {
  vg_dtype_t dt = n->n_in > 0 && n->in[0] >= 0 ? g->values[n->in[0]].t.dtype : VG_DT_F32;
  if (n->op == VG_OP_CONV) {
    if (n->a.filter_layout == VG_FILTER_PACKED)
      return n->a.fdw.on ? k_conv_1x1_dw : n->a.winograd ? k_conv_winograd : k_conv_gemm;
    if (n->a.k == -1 && is_dense_hwio(n)) return k_conv_small;
    if (n->a.layout == VG_LAYOUT_NHWC && is_depthwise(g, n) && n->a.ksize[0] <= 16) return k_conv_dw;
    return NULL;
  }
  if (n->op == VG_OP_CAST && dt == VG_DT_BOOL && n->a.to == VG_DT_F32) return k_cast_bool_f32;
  if (dt != VG_DT_F32) return NULL;
  if (n->op == VG_OP_EQUAL) return k_equal_same;
  if (is_elementwise_binary(n->op)) return k_binary_fast;
  if (n->op == VG_OP_RELU || n->op == VG_OP_RELU6 || n->op == VG_OP_LEAKYRELU || n->op == VG_OP_SIGMOID)
    return k_unary_fast;
  if (n->op == VG_OP_TRANSPOSE) return k_transpose_fast;
  if (n->op == VG_OP_PAD) return k_pad_fast;
  if (n->op == VG_OP_MEAN && n->a.k == 6 && g->values[n->in[0]].t.ndim == 4) return k_mean_hw;
  if (n->op == VG_OP_MAXPOOL && n->a.layout == VG_LAYOUT_NHWC) return k_maxpool_nhwc;
  return NULL;
}

/* The packed convolutions (GEMM, Winograd, depthwise then 1x1) and the
 * reference NHWC resize write each output pixel's channels through a pitch,
 * so their result can be a channel slice of a concatenation's buffer; the
 * fused 1x1 then depthwise one and the other kernels write dense rows. Asked
 * of the kernel actually chosen, so that a new kernel for these nodes is not
 * assumed to honour the pitch. */
/* Scratch in the arena for the fused 1x1 + depthwise kernels, whose bands
 * are the largest scratch (FDW_BAND_BYTES a thread); the others keep their
 * threads' own. */
static size_t cpu_scratch_bytes(const vg_graph_t *g, const vg_node_t *n) {
  if (cpu_kernel(g, n) != k_conv_1x1_dw || n->n_out != 1 || n->in[0] < 0) return 0;
  const vg_tensor_t *x = &g->values[n->in[0]].t, *y = &g->values[n->out[0]].t;
  if (x->ndim != 4 || y->ndim != 4 || x->dims[2] < 1 || y->dims[2] < 1 || x->dims[3] < 1 || y->dims[3] < 1)
    return 0;
  int64_t E, band;
  return (size_t)fdw_bands(n, x, y, &E, &band) * sizeof(float);
}

static int cpu_writes_pitched(const vg_graph_t *g, const vg_node_t *n) {
  vg_kernel_fn k = cpu_kernel(g, n);
  return n->n_out == 1 &&
         (k == k_conv_gemm || k == k_conv_winograd || (k == k_conv_1x1_dw && n->a.fdw.on == VG_FDW_PROJECT) ||
          (!k && n->op == VG_OP_RESIZE && n->a.layout == VG_LAYOUT_NHWC));
}

const vg_backend_t vg_backend_cpu = {.name = "cpu",
                                     .prepare = cpu_prepare,
                                     .kernel = cpu_kernel,
                                     .writes_pitched = cpu_writes_pitched,
                                     .scratch_bytes = cpu_scratch_bytes};
