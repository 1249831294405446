/* graph.c: building and freeing the graph IR. */
#include "infer/graph.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

static const char *const op_names[] = {
#define VG__OP_NAME(e, s) s,
    VG_OPS(VG__OP_NAME)
#undef VG__OP_NAME
};

const char *vg_op_name(vg_op_t op) { return (unsigned)op < VG_OP_COUNT ? op_names[op] : "?"; }

int vg_op_is_unary_elementwise(vg_op_t op) {
  switch (op) {
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
  case VG_OP_SQRT: return 1;
  default: return 0;
  }
}

void vg_graph_init(vg_graph_t *g) { memset(g, 0, sizeof(*g)); }

void vg_graph_free(vg_graph_t *g) {
  for (int i = 0; i < g->n_values; i++) {
    free(g->values[i].name);
    vg_tensor_clear(&g->values[i].t);
  }
  for (int i = 0; i < g->n_nodes; i++) {
    free(g->nodes[i].name);
    free(g->nodes[i].src_op);
  }
  free(g->values);
  free(g->nodes);
  memset(g, 0, sizeof(*g));
}

int vg_graph_find_value(const vg_graph_t *g, const char *name) {
  for (int i = 0; i < g->n_values; i++)
    if (strcmp(g->values[i].name, name) == 0) return i;
  return -1;
}

int vg_graph_add_value(vg_graph_t *g, const char *name) {
  if (g->n_values == g->cap_values) {
    int cap = g->cap_values ? g->cap_values * 2 : 64;
    vg_value_t *v = realloc(g->values, (size_t)cap * sizeof(*v));
    if (!v) return VG_ENOMEM;
    g->values = v;
    g->cap_values = cap;
  }
  vg_value_t *v = &g->values[g->n_values];
  memset(v, 0, sizeof(*v));
  v->name = strdup(name);
  if (!v->name) return VG_ENOMEM;
  v->producer = -1;
  return g->n_values++;
}

int vg_graph_value(vg_graph_t *g, const char *name) {
  int i = vg_graph_find_value(g, name);
  return i >= 0 ? i : vg_graph_add_value(g, name);
}

void vg_attrs_init(vg_attrs_t *a) {
  memset(a, 0, sizeof(*a));
  a->strides[0] = a->strides[1] = 1;
  a->dilations[0] = a->dilations[1] = 1;
  a->group = 1;
  a->n_ints = -1;
  a->n_ints2 = -1;
  a->alpha = 0.2f;
  a->epsilon = 1e-5f;
  a->axis = 0;
  a->keep_dims = 1;
}

int vg_graph_add_node(vg_graph_t *g, vg_op_t op, const char *name, const char *src_op) {
  if (g->n_nodes == g->cap_nodes) {
    int cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
    vg_node_t *n = realloc(g->nodes, (size_t)cap * sizeof(*n));
    if (!n) return VG_ENOMEM;
    g->nodes = n;
    g->cap_nodes = cap;
  }
  vg_node_t *n = &g->nodes[g->n_nodes];
  memset(n, 0, sizeof(*n));
  n->op = op;
  vg_attrs_init(&n->a);
  n->name = strdup(name ? name : "");
  n->src_op = strdup(src_op ? src_op : vg_op_name(op));
  if (!n->name || !n->src_op) {
    free(n->name);
    free(n->src_op);
    return VG_ENOMEM;
  }
  return g->n_nodes++;
}

int vg_graph_fail(vg_graph_t *g, int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g->err, sizeof(g->err), fmt, ap);
  va_end(ap);
  return err;
}
