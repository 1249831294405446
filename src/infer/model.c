/* model.c: from a loaded graph to a planned, runnable model. */
#include "infer/model.h"
#include "infer/quant.h"

#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>
#include <time.h>

#include "base/error.h"

#define ARENA_ALIGN 64
#define MAX_CONCAT_TRIES 256

struct vg_model {
  vg_graph_t g;
  const vg_backend_t *backend;
  int *order; /* live nodes in execution order */
  int n_order;
  vg_kernel_fn *kernels; /* per position in order */
  uint8_t *arena;
  size_t arena_bytes, unplanned_bytes, peak_live_bytes;
  int *alias;        /* per value: the value whose storage it shares, or itself */
  size_t *alias_off; /* per value: its byte offset in alias[v]'s storage */
  vg_thread_pool_t *pool;
  vg_exec_ctx_t ctx;
  double flops;
  size_t file_weight_bytes;
  int profiling;
  double *node_ms; /* per position in order, while profiling */
  int threads, scratch_on;
  /* Per position in order: the scratch its kernel gets in the arena (all
   * threads together; 0: none) and where. */
  size_t *scratch_need, *scratch_off;
};

static int is_inplace_op(vg_op_t op) {
  if (vg_op_is_unary_elementwise(op)) return 1;
  switch (op) {
  case VG_OP_ADD:
  case VG_OP_SUB:
  case VG_OP_MUL:
  case VG_OP_DIV:
  case VG_OP_MAXIMUM:
  case VG_OP_MINIMUM: return 1;
  default: return 0;
  }
}

static int is_view_op(vg_op_t op) {
  return op == VG_OP_RESHAPE || op == VG_OP_EXPAND_DIMS || op == VG_OP_SQUEEZE || op == VG_OP_UNSQUEEZE ||
         op == VG_OP_FLATTEN || op == VG_OP_IDENTITY;
}

/* Kahn's algorithm over live nodes; a cycle or a value with two producers is
 * a malformed file. */
static int toposort(vg_graph_t *g, int **order_out, int *n_out) {
  int nn = g->n_nodes, nv = g->n_values;
  int *indeg = calloc((size_t)nn + 1, sizeof(int));
  int *order = calloc((size_t)nn + 1, sizeof(int));
  int *ready_val = calloc((size_t)nv + 1, sizeof(int));
  if (!indeg || !order || !ready_val) {
    free(indeg);
    free(order);
    free(ready_val);
    return VG_ENOMEM;
  }
  for (int v = 0; v < nv; v++)
    g->values[v].producer = -1;
  int err = 0;
  for (int i = 0; i < nn && !err; i++) {
    vg_node_t *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->n_out; k++) {
      vg_value_t *v = &g->values[n->out[k]];
      if (v->producer >= 0 || v->is_const || v->is_input)
        err = vg_graph_fail(g, VG_EPROTO, "node '%s' (op %s): output '%s' is produced twice", n->name,
                            n->src_op, v->name);
      v->producer = i;
    }
  }
  for (int i = 0; i < nn && !err; i++) {
    vg_node_t *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->n_in; k++) {
      if (n->in[k] < 0) continue;
      vg_value_t *v = &g->values[n->in[k]];
      if (v->producer >= 0)
        indeg[i]++;
      else if (!v->is_const && !v->is_input)
        err = vg_graph_fail(g, VG_EPROTO, "node '%s' (op %s): input '%s' is never produced", n->name,
                            n->src_op, v->name);
    }
  }
  int head = 0, tail = 0;
  for (int i = 0; i < nn && !err; i++)
    if (!g->nodes[i].dead && indeg[i] == 0) order[tail++] = i;
  while (!err && head < tail) {
    int i = order[head++];
    vg_node_t *n = &g->nodes[i];
    for (int k = 0; k < n->n_out; k++)
      ready_val[n->out[k]] = 1;
    /* Consumers: a linear scan keeps this simple; graphs have a few hundred
     * nodes and this runs once per load. */
    for (int j = 0; j < nn; j++) {
      vg_node_t *m = &g->nodes[j];
      if (m->dead) continue;
      for (int k = 0; k < m->n_in; k++)
        for (int o = 0; o < n->n_out; o++)
          if (m->in[k] == n->out[o] && --indeg[j] == 0) order[tail++] = j;
    }
  }
  int live = 0;
  for (int i = 0; i < nn; i++)
    live += !g->nodes[i].dead;
  if (!err && tail != live) err = vg_graph_fail(g, VG_EPROTO, "the graph has a cycle");
  free(indeg);
  free(ready_val);
  if (err) {
    free(order);
    return err;
  }
  *order_out = order;
  *n_out = tail;
  return 0;
}

/* Runs one node with the reference kernel on owned outputs, making them
 * constants: load-time constant folding. */
static int fold_node(vg_graph_t *g, int ni) {
  vg_node_t *n = &g->nodes[ni];
  vg_tensor_t *in[VG_NODE_MAX_IN], *out[VG_NODE_MAX_OUT];
  for (int k = 0; k < n->n_in; k++)
    in[k] = n->in[k] >= 0 ? &g->values[n->in[k]].t : NULL;
  for (int k = 0; k < n->n_out; k++) {
    out[k] = &g->values[n->out[k]].t;
    int err = vg_tensor_alloc(out[k]);
    if (err) return err;
  }
  vg_exec_ctx_t ctx = {0};
  int err = vg_ref_kernel(n->op)(n, in, out, &ctx);
  if (err) return vg_graph_fail(g, err, "node '%s' (op %s): constant folding failed", n->name, n->src_op);
  for (int k = 0; k < n->n_out; k++)
    g->values[n->out[k]].is_const = 1;
  n->dead = 1;
  return 0;
}

static int infer_and_fold(vg_graph_t *g, size_t max_bytes) {
  int *order, n_order, err = toposort(g, &order, &n_order);
  if (err) return err;
  for (int i = 0; i < g->n_inputs && !err; i++)
    if (vg_tensor_bytes(&g->values[g->inputs[i]].t) > max_bytes)
      err = vg_graph_fail(g, VG_ETOOBIG, "input '%s' is too large", g->values[g->inputs[i]].name);
  for (int p = 0; p < n_order && !err; p++) {
    int ni = order[p];
    vg_node_t *n = &g->nodes[ni];
    if ((err = vg_op_infer(g, ni))) break;
    for (int k = 0; k < n->n_out && !err; k++)
      if (vg_tensor_bytes(&g->values[n->out[k]].t) > max_bytes)
        err = vg_graph_fail(g, VG_ETOOBIG, "node '%s' (op %s): output too large", n->name, n->src_op);
    if (err) break;
    int all_const = 1;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0 && !g->values[n->in[k]].is_const) all_const = 0;
    int is_output = 0;
    for (int k = 0; k < n->n_out; k++)
      is_output |= g->values[n->out[k]].is_output;
    if (all_const && !is_output) err = fold_node(g, ni);
  }
  free(order);
  return err;
}

/* Frees the data of constants no live node reads any more (folded into
 * other constants), before the backend makes its own copies. */
static void release_unread_consts(vg_graph_t *g) {
  char *read = calloc((size_t)g->n_values + 1, 1);
  if (!read) return;
  for (int i = 0; i < g->n_nodes; i++) {
    const vg_node_t *n = &g->nodes[i];
    for (int k = 0; !n->dead && k < n->n_in; k++)
      if (n->in[k] >= 0) read[n->in[k]] = 1;
  }
  for (int v = 0; v < g->n_values; v++) {
    vg_value_t *val = &g->values[v];
    if (val->is_const && !read[v] && !val->is_output && val->t.owned) {
      free(val->t.data);
      val->t.data = NULL;
      val->t.owned = 0;
    }
  }
  free(read);
}

/* Marks nodes that no graph output depends on as dead and counts uses. */
static void eliminate_dead(vg_graph_t *g) {
  int changed = 1;
  while (changed) {
    changed = 0;
    for (int v = 0; v < g->n_values; v++)
      g->values[v].n_uses = 0;
    for (int i = 0; i < g->n_nodes; i++) {
      vg_node_t *n = &g->nodes[i];
      if (n->dead) continue;
      for (int k = 0; k < n->n_in; k++)
        if (n->in[k] >= 0) g->values[n->in[k]].n_uses++;
    }
    for (int i = 0; i < g->n_nodes; i++) {
      vg_node_t *n = &g->nodes[i];
      if (n->dead) continue;
      int used = 0;
      for (int k = 0; k < n->n_out; k++)
        used |= g->values[n->out[k]].n_uses > 0 || g->values[n->out[k]].is_output;
      if (!used) n->dead = changed = 1;
    }
  }
  /* Constants nobody reads any more (folded away, or repacked by a backend)
   * release their memory. */
  for (int v = 0; v < g->n_values; v++) {
    vg_value_t *val = &g->values[v];
    if (val->is_const && val->n_uses == 0 && !val->is_output && val->t.owned) {
      free(val->t.data);
      val->t.data = NULL;
      val->t.owned = 0;
    }
  }
}

/* The value whose storage v lives in (its storage group's root), with v's
 * byte offset in it (non-zero for a slice of a concatenation). */
static int find_root(const vg_model_t *m, int v, size_t *at) {
  size_t off = 0;
  while (m->alias[v] != v) {
    off += m->alias_off[v];
    v = m->alias[v];
  }
  if (at) *at = off;
  return v;
}

/* Values the arena holds: every non-constant, inputs and outputs included (an
 * input is needed until its last reader, an output until the next run). A
 * value that is both an input and an output keeps its own buffer. */
static int is_planned(const vg_value_t *v) { return !v->is_const && !(v->is_input && v->is_output); }

/* A concatenation copies its inputs into its output; instead, an input whose
 * only reader is the concatenation can be written by its producer straight
 * into its slice of the output's buffer, and the concatenation then copies
 * nothing for it (the kernels skip an input already in place). Where every
 * dimension before the axis is 1 (batch 1, NCHW channels) a slice is one
 * contiguous block and any producer can do it; otherwise (NHWC channels) the
 * slice is strided and only a producer whose backend kernel writes through a
 * pitch (vg_backend_t.writes_pitched) can. Records the aliases. */
/* Whether concatenation n's input k can be written in place: only n reads
 * it, and its producer writes it whole, through a pitch where the slice is
 * strided (*pitch: the elements between its rows, 0 when dense). */
static int concat_slice_ok(const vg_model_t *m, const vg_node_t *n, int k, int64_t *pitch) {
  const vg_graph_t *g = &m->g;
  int x = n->in[k], y = n->out[0];
  const vg_tensor_t *yt = &g->values[y].t;
  if (n->n_out != 1 || x < 0 || x == y || !is_planned(&g->values[y]) || n->a.axis < 0 ||
      n->a.axis >= yt->ndim)
    return 0;
  const vg_value_t *xv = &g->values[x];
  if (xv->is_const || xv->is_input || xv->is_output || xv->n_uses != 1 || xv->producer < 0 ||
      xv->t.dtype != yt->dtype)
    return 0;
  const vg_node_t *pn = &g->nodes[xv->producer];
  if (pn->n_out != 1 || is_view_op(pn->op)) return 0;
  int64_t outer = 1;
  for (int i = 0; i < n->a.axis; i++)
    outer *= yt->dims[i];
  *pitch = 0;
  if (outer == 1) return 1;
  if (n->a.axis != yt->ndim - 1 || !m->backend->writes_pitched || !m->backend->writes_pitched(g, pn))
    return 0;
  *pitch = yt->dims[n->a.axis];
  return 1;
}

static void alias_concat_inputs(vg_model_t *m, const char *allow) {
  vg_graph_t *g = &m->g;
  for (int p = 0; p < m->n_order; p++) {
    vg_node_t *n = &g->nodes[m->order[p]];
    if (n->op != VG_OP_CONCAT || n->n_out != 1) continue;
    const vg_tensor_t *yt = &g->values[n->out[0]].t;
    if (n->a.axis < 0 || n->a.axis >= yt->ndim) continue;
    int64_t inner = 1, es = (int64_t)vg_dtype_size(yt->dtype), off = 0, pitch;
    for (int i = (int)n->a.axis + 1; i < yt->ndim; i++)
      inner *= yt->dims[i];
    for (int k = 0; k < n->a.k && k < n->n_in; off += g->values[n->in[k]].t.dims[n->a.axis] * inner, k++) {
      int x = n->in[k];
      if (x < 0 || !allow[x] || m->alias[x] != x || !concat_slice_ok(m, n, k, &pitch)) continue;
      if (pitch) g->nodes[g->values[x].producer].a.out_pitch = pitch;
      m->alias[x] = n->out[0];
      m->alias_off[x] = (size_t)(off * es);
    }
  }
}

/* Assigns arena offsets: each storage group lives from its first producer's
 * position to its last reader's (outputs: to the end of the run); groups
 * are placed largest first at the lowest offset that overlaps no
 * live-at-the-same-time group (greedy by size). Returns the arena size, or
 * a negative code. Concatenation inputs whose allow[] is set are written in
 * place where they can be (see alias_concat_inputs). */
/* A block to place: a value (e >= 0, its storage root) or the scratch of
 * the node at position -1 - e. */
static size_t entry_size(const vg_model_t *m, int e) {
  size_t b = e >= 0 ? vg_tensor_bytes(&m->g.values[e].t) : m->scratch_need[-1 - e];
  return (b + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}
static int entry_first(const vg_model_t *m, int e) { return e >= 0 ? m->g.values[e].first : -1 - e; }
static int entry_last(const vg_model_t *m, int e) { return e >= 0 ? m->g.values[e].last : -1 - e; }

static int64_t plan_offsets(vg_model_t *m, const char *allow, int with_scratch) {
  vg_graph_t *g = &m->g;
  int nv = g->n_values;
  size_t cnt = (size_t)(nv ? nv : 1) + (size_t)m->n_order;
  int *list = malloc(sizeof(int) * cnt);
  /* lastv: each value's last reader; group_last: the same for a storage
   * group (a value and the views and in-place results sharing it). */
  int *lastv = malloc(sizeof(int) * cnt), *group_last = malloc(sizeof(int) * cnt);
  if (!list || !lastv || !group_last) {
    free(lastv);
    free(group_last);
    free(list);
    return VG_ENOMEM;
  }
  for (int v = 0; v < nv; v++) {
    m->alias[v] = v;
    m->alias_off[v] = 0;
    g->values[v].first = g->values[v].is_input && is_planned(&g->values[v]) ? 0 : -1;
    g->values[v].last = -1;
    lastv[v] = -1;
  }
  for (int i = 0; i < g->n_nodes; i++)
    g->nodes[i].a.out_pitch = 0;
  for (int p = 0; p < m->n_order; p++) {
    vg_node_t *n = &g->nodes[m->order[p]];
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0) lastv[n->in[k]] = p;
  }
  for (int v = 0; v < nv; v++)
    group_last[v] = g->values[v].is_output ? m->n_order : lastv[v];
  alias_concat_inputs(m, allow);
  for (int p = 0; p < m->n_order; p++) {
    vg_node_t *n = &g->nodes[m->order[p]];
    int share = -1;
    /* A reshape-like node shares its input's storage: zero-copy views. */
    if (is_view_op(n->op) && n->in[0] >= 0) share = n->in[0];
    /* An element-wise node may write over an operand of its own shape that
     * nobody reads afterwards (kernels read and write index i together). */
    for (int k = 0; is_inplace_op(n->op) && share < 0 && k < n->n_in && k < 2; k++) {
      int x = n->in[k];
      if (x < 0) continue;
      vg_value_t *src = &g->values[x], *dst = &g->values[n->out[0]];
      if (src->t.dtype == dst->t.dtype && vg_tensor_same_shape(&src->t, &dst->t) &&
          group_last[find_root(m, x, NULL)] <= p)
        share = x;
    }
    /* A value already placed in a concatenation's buffer stays there. */
    if (share >= 0 && m->alias[n->out[0]] == n->out[0]) {
      vg_value_t *src = &g->values[share], *dst = &g->values[n->out[0]];
      size_t at;
      int r = find_root(m, share, &at);
      /* A graph output may take over the storage of the value it copies
       * (an Identity at the end of the graph) when nothing else needs it:
       * the root then lives to the end of the run. */
      if (is_planned(src) && is_planned(dst) && is_planned(&g->values[r]) && !g->values[r].is_output &&
          !(dst->is_output && (at != 0 || group_last[r] > p))) {
        m->alias[n->out[0]] = share;
        if (group_last[n->out[0]] > group_last[r]) group_last[r] = group_last[n->out[0]];
      }
    }
    for (int k = 0; k < n->n_out; k++) {
      int r = find_root(m, n->out[k], NULL);
      if (g->values[r].first < 0) g->values[r].first = p;
      if (g->values[r].last < p) g->values[r].last = p;
    }
    for (int k = 0; k < n->n_in; k++) {
      if (n->in[k] < 0) continue;
      int r = find_root(m, n->in[k], NULL);
      if (g->values[r].last < p) g->values[r].last = p;
    }
  }
  for (int v = 0; v < nv; v++) {
    vg_value_t *val = &g->values[v];
    int r = find_root(m, v, NULL);
    if (val->is_output && is_planned(val) && g->values[r].first >= 0) g->values[r].last = m->n_order;
    if (g->values[r].first >= 0 && g->values[r].last < g->values[r].first)
      g->values[r].last = g->values[r].first;
  }
  free(lastv);
  free(group_last);
  int nl = 0;
  m->unplanned_bytes = 0;
  for (int v = 0; v < nv; v++) {
    vg_value_t *val = &g->values[v];
    if (!is_planned(val) || val->first < 0) continue;
    m->unplanned_bytes += vg_tensor_bytes(&val->t);
    if (m->alias[v] == v) list[nl++] = v;
  }
  int nvl = nl;
  /* Kernels' scratch (entries -1 - p), alive at its node only. */
  for (int p = 0; with_scratch && p < m->n_order; p++)
    if (m->scratch_need[p]) list[nl++] = -1 - p;
  /* Sort by size, descending (insertion sort: a few hundred values). */
  for (int i = 1; i < nl; i++) {
    int x = list[i], j = i;
    size_t sx = entry_size(m, x);
    while (j > 0 && entry_size(m, list[j - 1]) < sx)
      list[j] = list[j - 1], j--;
    list[j] = x;
  }
  size_t total = 0;
  for (int i = 0; i < nl; i++) {
    int e = list[i], first = entry_first(m, e), last = entry_last(m, e);
    size_t size = entry_size(m, e);
    size_t off = 0;
    /* Repeatedly bump past any placed, overlapping-in-time block that
     * collides; placed blocks are few so the quadratic scan is fine. */
    int moved = 1;
    while (moved) {
      moved = 0;
      for (int j = 0; j < i; j++) {
        int o = list[j];
        if (entry_last(m, o) < first || last < entry_first(m, o)) continue;
        size_t osize = entry_size(m, o), ooff = o >= 0 ? g->values[o].offset : m->scratch_off[-1 - o];
        if (off < ooff + osize && ooff < off + size) {
          off = ooff + osize;
          moved = 1;
        }
      }
    }
    if (e >= 0)
      g->values[e].offset = off;
    else
      m->scratch_off[-1 - e] = off;
    if (off + size > total) total = off + size;
  }
  /* The lower bound any placement must reach: the most bytes alive at once. */
  m->peak_live_bytes = 0;
  for (int p = 0; p < m->n_order; p++) {
    size_t live = 0;
    for (int i = 0; i < nl; i++) {
      if (list[i] < 0) continue;
      vg_value_t *val = &g->values[list[i]];
      if (val->first <= p && p <= val->last) live += vg_tensor_bytes(&val->t);
    }
    if (live > m->peak_live_bytes) m->peak_live_bytes = live;
  }
  (void)nvl;
  free(list);
  return (int64_t)total;
}

/* The position in the execution order of value v's producer (-1: none);
 * pos maps node indices to positions. */
static int producer_pos(const vg_model_t *m, const int *pos, int v) {
  return v < 0 || m->g.values[v].producer < 0 ? -1 : pos[m->g.values[v].producer];
}

/* Writing a concatenation's input in place saves the copy and the input's
 * own buffer, but the concatenation's whole buffer then lives from that
 * input's producer on, which costs more than it saves where the input is a
 * long skip connection. So each candidate input is tried on its own, in
 * graph order, and kept where the arena does not grow (a greedy search: a
 * few plans of a few hundred values each). */
static int plan_memory(vg_model_t *m) {
  vg_graph_t *g = &m->g;
  int nv = g->n_values;
  m->alias = malloc(sizeof(int) * (size_t)(nv ? nv : 1));
  m->alias_off = malloc(sizeof(size_t) * (size_t)(nv ? nv : 1));
  char *allow = calloc((size_t)nv + 1, 1);
  int *pos = malloc(sizeof(int) * (size_t)(g->n_nodes + 1));
  m->scratch_need = calloc((size_t)m->n_order + 1, sizeof(size_t));
  m->scratch_off = calloc((size_t)m->n_order + 1, sizeof(size_t));
  if (!m->alias || !m->alias_off || !allow || !pos || !m->scratch_need || !m->scratch_off) {
    free(allow);
    free(pos);
    return VG_ENOMEM;
  }
  for (int p = 0; m->backend->scratch_bytes && p < m->n_order; p++)
    m->scratch_need[p] = m->backend->scratch_bytes(g, &g->nodes[m->order[p]]) * (size_t)m->threads;
  for (int i = 0; i < g->n_nodes; i++)
    pos[i] = -1;
  for (int p = 0; p < m->n_order; p++)
    pos[m->order[p]] = p;
  /* First only what makes the arena smaller, then what keeps it as it is
   * (which still saves a copy). */
  int64_t total = plan_offsets(m, allow, 0), pitch;
  /* Each try is a whole plan: a graph with very many candidates (a fuzzed
   * file) tries only the first MAX_CONCAT_TRIES. */
  int tries = 0;
  for (int pass = 0; pass < 2; pass++)
    for (int p = 0; total >= 0 && p < m->n_order; p++) {
      const vg_node_t *n = &g->nodes[m->order[p]];
      /* A concatenation's inputs from the one computed last to the one
       * computed first: the later an input's producer, the less writing it
       * in place stretches the concatenation's buffer's life, and once a
       * long skip connection is in place a later input saves nothing more
       * (CenterNet's concat_2: its upsampled input alone, 0.5 MiB less than
       * its skip input alone or both). */
      int ks[VG_NODE_MAX_IN], nk = 0;
      for (int k = 0; n->op == VG_OP_CONCAT && k < n->a.k && k < n->n_in && k < VG_NODE_MAX_IN; k++) {
        int at = nk++;
        for (; at > 0 && producer_pos(m, pos, n->in[ks[at - 1]]) < producer_pos(m, pos, n->in[k]); at--)
          ks[at] = ks[at - 1];
        ks[at] = k;
      }
      for (int q = 0; total >= 0 && q < nk; q++) {
        int k = ks[q];
        if (n->in[k] < 0 || allow[n->in[k]] || !concat_slice_ok(m, n, k, &pitch) ||
            ++tries > MAX_CONCAT_TRIES)
          continue;
        allow[n->in[k]] = 1;
        int64_t t = plan_offsets(m, allow, 0);
        if (t >= 0 && (pass ? t <= total : t < total) && m->alias[n->in[k]] != n->in[k])
          total = t;
        else
          allow[n->in[k]] = 0;
        if (t < 0) total = t;
      }
    }
  /* Then the kernels' scratch, node by node, kept in the arena where it
   * does not make the arena grow (elsewhere the kernel uses its threads'
   * own scratch). */
  m->scratch_on = 0;
  size_t *need = m->scratch_need;
  m->scratch_need = calloc((size_t)m->n_order + 1, sizeof(size_t));
  if (!m->scratch_need) total = VG_ENOMEM;
  for (int p = 0; total >= 0 && p < m->n_order && tries < MAX_CONCAT_TRIES; p++) {
    if (!need[p]) continue;
    tries++;
    m->scratch_need[p] = need[p];
    int64_t t = plan_offsets(m, allow, 1);
    if (t < 0) total = t;
    if (t != total) m->scratch_need[p] = 0;
  }
  free(need);
  /* Again with the final choice: the last plan tried may have been undone. */
  if (total >= 0) total = plan_offsets(m, allow, 1);
  m->scratch_on = m->backend->scratch_bytes != NULL;
  free(allow);
  free(pos);
  if (total < 0) return (int)total;
  m->arena_bytes = (size_t)total;
  m->arena = aligned_alloc(ARENA_ALIGN, total ? (size_t)total : ARENA_ALIGN);
  if (!m->arena) return VG_ENOMEM;
  for (int v = 0; v < nv; v++) {
    vg_value_t *val = &g->values[v];
    if (val->is_const) continue;
    if (!is_planned(val)) {
      int err = vg_tensor_alloc(&val->t);
      if (err) return err;
      continue;
    }
    size_t at;
    int r = find_root(m, v, &at);
    if (g->values[r].first < 0) continue;
    val->t.data = m->arena + g->values[r].offset + at;
    val->t.owned = 0;
  }
  return 0;
}

static double node_flops(const vg_graph_t *g, const vg_node_t *n) {
  const vg_tensor_t *y = &g->values[n->out[0]].t;
  if (n->op == VG_OP_CONV) {
    const vg_tensor_t *x = &g->values[n->in[0]].t;
    int64_t C = n->a.layout == VG_LAYOUT_NHWC ? x->dims[3] : x->dims[1];
    /* A depthwise convolution fused into this 1x1 one (CPU backend): before
     * it (x's pixels times C to y's channels, then the depthwise one on y)
     * or after it (the depthwise one on C channels at y's pixels). */
    double dw_taps = (double)(n->a.fdw.ksize[0] * n->a.fdw.ksize[1]);
    if (n->a.fdw.on == VG_FDW_EXPAND)
      return 2.0 * (double)(vg_tensor_numel(x) / C) * (double)(C * y->dims[3]) +
             2.0 * (double)vg_tensor_numel(y) * dw_taps;
    if (n->a.fdw.on == VG_FDW_PROJECT)
      return 2.0 * (double)(vg_tensor_numel(y) / y->dims[3]) * (double)C * ((double)y->dims[3] + dw_taps);
    return 2.0 * (double)vg_tensor_numel(y) * (double)(n->a.ksize[0] * n->a.ksize[1] * (C / n->a.group));
  }
  if (n->op == VG_OP_MATMUL || n->op == VG_OP_GEMM) {
    const vg_tensor_t *a = &g->values[n->in[0]].t;
    int64_t K = n->op == VG_OP_GEMM && n->a.trans_a ? a->dims[0] : a->dims[a->ndim - 1];
    return 2.0 * (double)vg_tensor_numel(y) * (double)K;
  }
  return 0;
}

int vg_model_from_graph(vg_model_t **out, vg_graph_t *g, const vg_model_opts_t *opts, char *err,
                        size_t errlen) {
  *out = NULL;
  vg_model_t *m = calloc(1, sizeof(*m));
  if (!m) {
    vg_graph_free(g);
    return VG_ENOMEM;
  }
  m->g = *g;
  memset(g, 0, sizeof(*g));
  vg_model_opts_t def = {VG_BACKEND_CPU, 1, 0, VG_PRECISION_F32};
  if (!opts) opts = &def;
  m->backend = opts->backend == VG_BACKEND_REF ? &vg_backend_ref : &vg_backend_cpu;
  if (opts->precision == VG_PRECISION_INT8) m->backend = vg_int8_backend(m->backend);
  for (int v = 0; v < m->g.n_values; v++)
    if (m->g.values[v].is_const && m->g.values[v].t.data)
      m->file_weight_bytes += vg_tensor_bytes(&m->g.values[v].t);
  int rc = infer_and_fold(&m->g, opts->max_tensor_bytes ? opts->max_tensor_bytes : (size_t)1 << 30);
  if (!rc) release_unread_consts(&m->g);
  if (!rc && m->backend->prepare) rc = m->backend->prepare(&m->g);
  if (!rc) eliminate_dead(&m->g);
  if (!rc) rc = toposort(&m->g, &m->order, &m->n_order);
  if (!rc) {
    m->kernels = calloc((size_t)m->n_order + 1, sizeof(vg_kernel_fn));
    if (!m->kernels) rc = VG_ENOMEM;
  }
  for (int p = 0; !rc && p < m->n_order; p++) {
    vg_node_t *n = &m->g.nodes[m->order[p]];
    vg_kernel_fn k = m->backend->kernel ? m->backend->kernel(&m->g, n) : NULL;
    m->kernels[p] = k ? k : vg_ref_kernel(n->op);
    if (!m->kernels[p])
      rc = vg_graph_fail(&m->g, VG_EUNSUPPORTED, "node '%s' (op %s): no kernel", n->name, n->src_op);
    m->flops += node_flops(&m->g, n);
  }
  m->threads = opts->threads > 1 && opts->backend != VG_BACKEND_REF ? opts->threads : 1;
  if (!rc) rc = plan_memory(m);
  if (!rc && opts->threads > 1 && opts->backend != VG_BACKEND_REF)
    m->pool = vg_thread_pool_create(opts->threads);
  m->ctx.pool = m->pool;
  if (rc) {
    if (err && errlen) snprintf(err, errlen, "%s", m->g.err[0] ? m->g.err : vg_strerror(rc));
    vg_model_free(&m);
    return rc;
  }
#ifdef __GLIBC__
  /* Loading freed the file's bytes, the parse tree and the weights that
   * packing replaced; glibc keeps freed heap pages resident unless asked. */
  malloc_trim(0);
#endif
  *out = m;
  return 0;
}

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

int vg_model_load(vg_model_t **out, const char *path, const vg_model_opts_t *opts, char *err, size_t errlen) {
  vg_graph_t g;
  vg_graph_init(&g);
  *out = NULL;
  int rc = ends_with(path, ".onnx") ? vg_onnx_load(&g, path) : vg_tfjs_load(&g, path);
  if (rc) {
    if (err && errlen) snprintf(err, errlen, "%s: %s", path, g.err[0] ? g.err : vg_strerror(rc));
    vg_graph_free(&g);
    return rc;
  }
  return vg_model_from_graph(out, &g, opts, err, errlen);
}

void vg_model_free(vg_model_t **mp) {
  vg_model_t *m = *mp;
  if (!m) return;
  vg_thread_pool_destroy(m->pool);
  /* Arena-backed tensors do not own their data; the graph frees the rest. */
  vg_graph_free(&m->g);
  free(m->arena);
  free(m->order);
  free(m->kernels);
  free(m->alias);
  free(m->alias_off);
  free(m->node_ms);
  free(m->scratch_need);
  free(m->scratch_off);
  free(m);
  *mp = NULL;
}

int vg_model_input_count(const vg_model_t *m) { return m->g.n_inputs; }
const vg_tensor_t *vg_model_input(const vg_model_t *m, int i) {
  return i >= 0 && i < m->g.n_inputs ? &m->g.values[m->g.inputs[i]].t : NULL;
}
vg_tensor_t *vg_model_input_buffer(vg_model_t *m, int i) {
  if (i < 0 || i >= m->g.n_inputs) return NULL;
  vg_tensor_t *t = &m->g.values[m->g.inputs[i]].t;
  return t->data ? t : NULL;
}
const char *vg_model_input_name(const vg_model_t *m, int i) {
  return i >= 0 && i < m->g.n_inputs ? m->g.values[m->g.inputs[i]].name : NULL;
}
int vg_model_output_count(const vg_model_t *m) { return m->g.n_outputs; }
const vg_tensor_t *vg_model_output(const vg_model_t *m, int i) {
  return i >= 0 && i < m->g.n_outputs ? &m->g.values[m->g.outputs[i]].t : NULL;
}
const char *vg_model_output_name(const vg_model_t *m, int i) {
  return i >= 0 && i < m->g.n_outputs ? m->g.values[m->g.outputs[i]].name : NULL;
}
int vg_model_find_output(const vg_model_t *m, const char *name) {
  for (int i = 0; i < m->g.n_outputs; i++)
    if (strcmp(m->g.values[m->g.outputs[i]].name, name) == 0) return i;
  return -1;
}

int vg_model_run(vg_model_t *m, const vg_tensor_t *inputs, int n) {
  vg_graph_t *g = &m->g;
  if (n != g->n_inputs) return VG_EINVAL;
  /* Without inputs the caller has written them into vg_model_input_buffer();
   * an input given in that very buffer needs no copy either. */
  for (int i = 0; inputs && i < n; i++) {
    vg_tensor_t *t = &g->values[g->inputs[i]].t;
    if (!vg_tensor_same_shape(t, &inputs[i]) || t->dtype != inputs[i].dtype) return VG_EINVAL;
    if (t->data && t->data != inputs[i].data) memcpy(t->data, inputs[i].data, vg_tensor_bytes(t));
  }
  vg_tensor_t *in[VG_NODE_MAX_IN], *out[VG_NODE_MAX_OUT];
  for (int p = 0; p < m->n_order; p++) {
    vg_node_t *nd = &g->nodes[m->order[p]];
    for (int k = 0; k < nd->n_in; k++)
      in[k] = nd->in[k] >= 0 ? &g->values[nd->in[k]].t : NULL;
    for (int k = 0; k < nd->n_out; k++)
      out[k] = &g->values[nd->out[k]].t;
    m->ctx.scratch_planned = m->scratch_on;
    m->ctx.scratch = m->scratch_on && m->scratch_need[p] ? (float *)(m->arena + m->scratch_off[p]) : NULL;
    m->ctx.scratch_floats = m->ctx.scratch ? m->scratch_need[p] / sizeof(float) : 0;
    struct timespec t0, t1;
    if (m->profiling) clock_gettime(CLOCK_MONOTONIC, &t0);
    int err = m->kernels[p](nd, in, out, &m->ctx);
    if (err) return err;
    if (m->profiling) {
      clock_gettime(CLOCK_MONOTONIC, &t1);
      m->node_ms[p] += (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    }
  }
  return 0;
}

void vg_model_get_stats(const vg_model_t *m, vg_model_stats_t *st) {
  memset(st, 0, sizeof(*st));
  for (int v = 0; v < m->g.n_values; v++) {
    const vg_value_t *val = &m->g.values[v];
    if (val->is_const && val->t.data) st->weight_bytes += vg_tensor_bytes(&val->t);
  }
  st->file_weight_bytes = m->file_weight_bytes;
  st->arena_bytes = m->arena_bytes;
  st->unplanned_bytes = m->unplanned_bytes;
  st->peak_live_bytes = m->peak_live_bytes;
  st->flops = m->flops;
  st->nodes = m->n_order;
  st->backend = m->backend->name;
}

const vg_tensor_t *vg_model_value(const vg_model_t *m, const char *name) {
  int v = vg_graph_find_value(&m->g, name);
  return v >= 0 ? &m->g.values[v].t : NULL;
}

static int is_ancestor(const vg_model_t *m, int anc, int v) {
  for (; m->alias[v] != v; v = m->alias[v])
    if (m->alias[v] == anc) return 1;
  return 0;
}

/* The bytes a value's data spans in the arena: dense, or every out_pitch
 * elements one row of its last dimension (a concatenation's slice). */
static void value_extent(const vg_model_t *m, int v, size_t *start, size_t *len, size_t *row, size_t *pitch) {
  const vg_value_t *val = &m->g.values[v];
  size_t es = vg_dtype_size(val->t.dtype);
  int64_t inner = val->t.ndim ? val->t.dims[val->t.ndim - 1] : 1;
  int64_t p = val->producer >= 0 ? m->g.nodes[val->producer].a.out_pitch : 0;
  *start = (size_t)((const uint8_t *)val->t.data - m->arena);
  *row = *pitch = 0;
  *len = vg_tensor_bytes(&val->t);
  if (p > 0 && inner > 0 && *len > 0) {
    int64_t rows = vg_tensor_numel(&val->t) / inner;
    *row = (size_t)inner * es;
    *pitch = (size_t)p * es;
    *len = (size_t)(rows - 1) * *pitch + *row;
  }
}

int vg_model_check_plan(const vg_model_t *m) {
  const vg_graph_t *g = &m->g;
  int nv = g->n_values, rc = 0;
  int *first = malloc(sizeof(int) * (size_t)(nv ? nv : 1)),
      *last = malloc(sizeof(int) * (size_t)(nv ? nv : 1));
  if (!first || !last) {
    free(first);
    free(last);
    return VG_ENOMEM;
  }
  for (int v = 0; v < nv; v++) {
    first[v] = g->values[v].is_input ? 0 : -1;
    last[v] = g->values[v].is_output ? m->n_order : -1;
  }
  for (int p = 0; p < m->n_order; p++) {
    const vg_node_t *n = &g->nodes[m->order[p]];
    for (int k = 0; k < n->n_out; k++)
      if (first[n->out[k]] < 0) first[n->out[k]] = p;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0 && last[n->in[k]] < p) last[n->in[k]] = p;
  }
  for (int u = 0; u < nv && !rc; u++) {
    const vg_value_t *a = &g->values[u];
    if (!is_planned(a) || first[u] < 0 || !a->t.data) continue;
    size_t as, al, ar, ap;
    value_extent(m, u, &as, &al, &ar, &ap);
    if ((const uint8_t *)a->t.data < m->arena || as + al > m->arena_bytes) rc = VG_ESTATE;
    int ul = last[u] < first[u] ? first[u] : last[u];
    for (int v = u + 1; v < nv && !rc; v++) {
      const vg_value_t *b = &g->values[v];
      if (!is_planned(b) || first[v] < 0 || !b->t.data) continue;
      int vl = last[v] < first[v] ? first[v] : last[v];
      if (vl < first[u] || ul < first[v]) continue;
      size_t bs, bl, br, bp;
      value_extent(m, v, &bs, &bl, &br, &bp);
      if (bs + bl <= as || as + al <= bs || is_ancestor(m, u, v) || is_ancestor(m, v, u)) continue;
      /* Two slices of one concatenation: interleaved, each its own
       * columns of the rows. */
      int ra = find_root(m, u, NULL), rb = find_root(m, v, NULL);
      if (ap && ap == bp && ra == rb) {
        size_t base = g->values[ra].offset, ca = (as - base) % ap, cb = (bs - base) % bp;
        if (ca + ar <= cb || cb + br <= ca) continue;
      }
      rc = VG_ESTATE;
    }
  }
  free(first);
  free(last);
  return rc;
}

void vg_model_set_profiling(vg_model_t *m, int on) {
  if (on && !m->node_ms) m->node_ms = calloc((size_t)m->n_order + 1, sizeof(double));
  m->profiling = on && m->node_ms;
}

int vg_model_profile(const vg_model_t *m, vg_model_prof_t *out, int max) {
  for (int p = 0; p < m->n_order && p < max; p++) {
    const vg_node_t *n = &m->g.nodes[m->order[p]];
    out[p].name = n->name;
    out[p].op = vg_op_name(n->op);
    out[p].ms = m->node_ms ? m->node_ms[p] : 0;
    out[p].flops = node_flops(&m->g, n);
  }
  return m->n_order;
}

const vg_backend_t vg_backend_ref = {.name = "ref"};
