/*
 * ops.h: operator semantics: shape inference and the reference kernels.
 *
 * vg_op_infer() computes a node's output dtypes and shapes from its inputs'
 * (reading constant inputs such as a Reshape's shape or a Pad's paddings)
 * and normalizes its attributes (SAME padding becomes explicit pads,
 * negative axes become positive), so that every kernel sees one canonical
 * form. The reference kernels are plain, portable C written for clarity:
 * they are the correctness oracle that optimized backends are checked
 * against, and they run constant folding at load time.
 *
 * Kernels receive tensors whose shapes are already set and whose data points
 * at storage of the right size; they never allocate. A kernel may be called
 * from any thread; it only touches its own node and tensors.
 */
#ifndef VG_INFER_OPS_H
#define VG_INFER_OPS_H

#include "infer/graph.h"
#include "infer/tensor.h"

typedef struct vg_thread_pool vg_thread_pool_t;

/* What a kernel may use while running: the pool to spread work over, and
 * the scratch the planner gave this node in the arena (NULL and 0 where it
 * gave none; vg_backend_t.scratch_bytes), shared by the pool's threads. */
typedef struct {
  vg_thread_pool_t *pool; /* NULL: run on the calling thread */
  float *scratch;
  size_t scratch_floats;
  /* Whether the planner placed scratch (then a node without any gets none
   * in the arena because it would have made the arena grow: its kernel
   * should keep its own scratch small). */
  int scratch_planned;
} vg_exec_ctx_t;

typedef int (*vg_kernel_fn)(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out,
                            vg_exec_ctx_t *ctx);

/* Infers node ni's outputs in g (shapes and dtypes of g->values[out]).
 * Returns 0, or a negative code with g->err naming the node and op. */
int vg_op_infer(vg_graph_t *g, int ni);
/* The reference kernel of an op (never NULL for an op vg_op_infer accepts). */
vg_kernel_fn vg_ref_kernel(vg_op_t op);

/* Applies a fused activation to n floats in place. */
void vg_apply_act(float *x, int64_t n, vg_act_t act, float alpha, float beta);

/* Helpers shared with backends. */
int64_t vg_conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t pad_total);

#endif
