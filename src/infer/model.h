/*
 * model.h: a loaded, planned, runnable model: vigil's inference runtime.
 *
 *   vg_model_t *m;
 *   vg_model_opts_t o = {.backend = VG_BACKEND_CPU, .threads = 2};
 *   if (vg_model_load(&m, "models/nanodet.json", &o, err, sizeof(err)) == 0) {
 *     vg_model_run(m, &input, 1);
 *     const vg_tensor_t *out = vg_model_output(m, 0);
 *     ...
 *     vg_model_free(&m);
 *   }
 *
 * Loading parses the file (TF.js graph model, or ONNX), infers shapes for
 * the declared input shape, folds constants, lets the backend rewrite the
 * graph (fusion, batch-norm folding, weight packing), drops dead nodes and
 * plans the inputs, activations and outputs into one arena with buffers
 * reused once their last reader has run (outputs stay until the next run; a
 * concatenation's inputs may be written straight into its buffer). A run
 * allocates nothing.
 *
 * Backends are function tables (vg_backend_t): the reference backend (plain
 * C, the correctness oracle) and the optimized CPU backend (SIMD with run-time
 * dispatch, threads); GPU and NPU backends plug in the same way.
 *
 * Threading: a model runs one inference at a time (vg_model_run is not
 * reentrant); use one model per worker, or serialize. Its thread pool is its
 * own. Output tensors stay valid until the next run or vg_model_free.
 */
#ifndef VG_INFER_MODEL_H
#define VG_INFER_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "infer/graph.h"
#include "infer/ops.h"
#include "infer/tensor.h"

typedef enum { VG_BACKEND_REF = 0, VG_BACKEND_CPU } vg_backend_kind_t;
/* Arithmetic of the convolutions: f32, or int8 (quant.h: falls back to f32
 * on a CPU without AVX-512 VNNI). */
typedef enum { VG_PRECISION_F32 = 0, VG_PRECISION_INT8 } vg_precision_t;

typedef struct {
  vg_backend_kind_t backend;
  int threads; /* worker threads for the CPU backend; <= 1 runs on the caller */
  /* Largest tensor a model may have, in bytes (0: 1 GiB). A file that
   * declares more fails with VG_ETOOBIG instead of exhausting memory. */
  size_t max_tensor_bytes;
  vg_precision_t precision;
} vg_model_opts_t;

/* A backend: rewrites the graph for itself and picks a kernel per node. */
typedef struct {
  const char *name;
  /* Graph rewriting after constant folding (may be NULL). Must keep every
   * value's inferred shape correct. */
  int (*prepare)(vg_graph_t *g);
  /* The kernel for a node of g, or NULL to fall back to the reference kernel. */
  vg_kernel_fn (*kernel)(const vg_graph_t *g, const vg_node_t *n);
  /* Whether node n's kernel honours n->a.out_pitch (may be NULL: none do).
   * The planner then lets n write its output straight into its channel
   * slice of a concatenation's buffer, and the concatenation copies nothing
   * for it. */
  int (*writes_pitched)(const vg_graph_t *g, const vg_node_t *n);
  /* The scratch bytes one thread of node n's kernel may use (may be NULL:
   * none). The planner then places threads times that in the arena, alive
   * at n only (vg_exec_ctx_t.scratch), where that costs less than each
   * thread's own scratch beside the arena. */
  size_t (*scratch_bytes)(const vg_graph_t *g, const vg_node_t *n);
} vg_backend_t;

extern const vg_backend_t vg_backend_ref;
extern const vg_backend_t vg_backend_cpu;

typedef struct vg_model vg_model_t;

/* Loads a model file: "*.json" is a TF.js graph model (its weights files are
 * found next to it), "*.onnx" an ONNX model. On failure *out is NULL and,
 * when err is given, it holds a message naming the node and the operator. */
int vg_model_load(vg_model_t **out, const char *path, const vg_model_opts_t *opts, char *err, size_t errlen);
/* Builds a model from a graph already loaded; takes the graph's contents
 * (g is left empty) whether or not it succeeds. */
int vg_model_from_graph(vg_model_t **out, vg_graph_t *g, const vg_model_opts_t *opts, char *err,
                        size_t errlen);
void vg_model_free(vg_model_t **m);

int vg_model_input_count(const vg_model_t *m);
/* The input's dtype and shape. */
const vg_tensor_t *vg_model_input(const vg_model_t *m, int i);
/* The input's own buffer in the arena, for a caller that builds the input
 * in place (vg_model_run with inputs NULL) instead of copying it in; NULL
 * where the input has no buffer of its own (one that is also an output).
 * The buffer is reused for activations once the input's readers have run:
 * its contents are lost with every run and must be written again before
 * the next. */
vg_tensor_t *vg_model_input_buffer(vg_model_t *m, int i);
const char *vg_model_input_name(const vg_model_t *m, int i);
int vg_model_output_count(const vg_model_t *m);
const vg_tensor_t *vg_model_output(const vg_model_t *m, int i);
const char *vg_model_output_name(const vg_model_t *m, int i);
/* The index of the output named name, or -1. */
int vg_model_find_output(const vg_model_t *m, const char *name);

/* Runs the model on n inputs whose shapes must equal vg_model_input()'s,
 * copied into its input buffers; with inputs NULL (n still the input count)
 * on what the caller wrote into vg_model_input_buffer(). Either way the
 * input buffers' contents are consumed. Returns 0 or a negative code
 * (VG_EINVAL on a shape mismatch). */
int vg_model_run(vg_model_t *m, const vg_tensor_t *inputs, int n);

typedef struct {
  size_t weight_bytes;      /* constants kept for running (packed, transformed) */
  size_t file_weight_bytes; /* constants as the file gives them, widened to f32: "the weights" */
  size_t arena_bytes;       /* planned memory: inputs, activations and outputs */
  size_t unplanned_bytes;   /* the same if every tensor had its own buffer */
  size_t peak_live_bytes;   /* most planned bytes alive at one time: the arena's lower bound */
  double flops;             /* per run; a multiply-add counts 2 */
  int nodes;                /* nodes executed per run */
  const char *backend;
} vg_model_stats_t;
void vg_model_get_stats(const vg_model_t *m, vg_model_stats_t *st);

/* The tensor of the value named name (an input, an output or an
 * intermediate), or NULL. An intermediate's data points into the arena and
 * holds its result only from its producer to its last reader; a slice of a
 * concatenation (see vg_backend_t.writes_pitched) is not dense. For tests
 * and debugging. */
const vg_tensor_t *vg_model_value(const vg_model_t *m, const char *name);
/* Checks the memory plan: no two values alive at the same time share a
 * byte unless one is stored inside the other (a view, an in-place result, a
 * concatenation input written into its slice), and every value lies within
 * the arena. Returns 0 or VG_ESTATE. */
int vg_model_check_plan(const vg_model_t *m);

/* Per-node timing, collected while profiling is on (off by default; it adds
 * two clock reads per node). */
typedef struct {
  const char *name, *op;
  double ms; /* summed over runs since profiling was switched on */
  double flops;
} vg_model_prof_t;
void vg_model_set_profiling(vg_model_t *m, int on);
/* Copies up to max entries (execution order); returns the node count. */
int vg_model_profile(const vg_model_t *m, vg_model_prof_t *out, int max);

/* The TF.js and ONNX loaders: fill an empty graph from a file. */
int vg_tfjs_load(vg_graph_t *g, const char *json_path);
/* Parses model.json text with the weights given as one concatenated blob
 * (the manifest's files in order). Bounded: never reads past either. */
int vg_tfjs_parse(vg_graph_t *g, const char *json, size_t json_len, const uint8_t *weights,
                  size_t weights_len);
int vg_onnx_load(vg_graph_t *g, const char *path);
int vg_onnx_parse(vg_graph_t *g, const uint8_t *data, size_t len);
/* Decodes one serialized ONNX TensorProto (the backend tests' .pb files). */
int vg_onnx_tensor(const uint8_t *data, size_t len, vg_tensor_t *t, char **name);

/* Thread pool used by kernels (pool.c). */
vg_thread_pool_t *vg_thread_pool_create(int threads);
void vg_thread_pool_destroy(vg_thread_pool_t *p);
int vg_thread_pool_size(const vg_thread_pool_t *p);
/* The calling thread's index among the threads of the pool it works for:
 * 1 to size - 1 for a worker, 0 for any other thread (the caller of
 * vg_parallel_for). */
int vg_thread_pool_index(void);
/* Calls fn(arg, i) for i in [0, count), spread over the pool's threads and the
 * caller; returns when all calls have returned. pool may be NULL. */
void vg_parallel_for(vg_thread_pool_t *p, int64_t count, void (*fn)(void *arg, int64_t i), void *arg);

#endif
