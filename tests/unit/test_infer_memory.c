/* test_infer_memory.c: the inference engine's memory planner. A
 * concatenation's inputs are written by their producers straight into
 * their slices of its buffer (no copy, no buffers of their own), no two
 * buffers alive at the same time overlap, and, where the models are
 * installed (scripts/setup-models.sh, as the parity tests find them),
 * NanoDet-416 and CenterNet-512 run in at most 3 times their weights:
 * weights as kept for running plus the planned arena (inputs, activations
 * and outputs) against the file's weights as f32. CenterNet's upsampled
 * input of its last concatenation is written into it by the resize, and a
 * detector builds its input in the model's arena (no buffer of its own),
 * which a run consumes; with two threads, the kernels' scratch planned into
 * the arena leaves the outputs bit for bit those of one thread.
 *
 * The whole process's peak (what bench/infer.sh reports) is not asserted
 * here: in a test program it depends on what earlier tests left in the
 * heap and, under ASan, on the sanitizer's allocator. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/error.h"
#include "infer/detect.h"
#include "infer/model.h"

static int add_f32(vg_graph_t *g, const char *name, int ndim, const int64_t *dims, int is_const) {
  int v = vg_graph_add_value(g, name);
  assert_true(v >= 0);
  vg_tensor_t *t = &g->values[v].t;
  assert_int_equal(vg_tensor_set_shape(t, VG_DT_F32, ndim, dims), 0);
  if (is_const) {
    assert_int_equal(vg_tensor_alloc(t), 0);
    float *d = t->data;
    for (int64_t i = 0; i < vg_tensor_numel(t); i++)
      d[i] = (float)cos((double)(i + v) * 0.37) * 0.5f;
    g->values[v].is_const = 1;
  }
  return v;
}

static int add_conv(vg_graph_t *g, const char *name, int x, int k, int cin, int cout) {
  char wn[64], bn[64];
  snprintf(wn, sizeof(wn), "%s/w", name);
  snprintf(bn, sizeof(bn), "%s/b", name);
  int64_t wd[4] = {k, k, cin, cout}, bd[1] = {cout};
  int w = add_f32(g, wn, 4, wd, 1), b = add_f32(g, bn, 1, bd, 1);
  int y = vg_graph_add_value(g, name);
  int n = vg_graph_add_node(g, VG_OP_CONV, name, "Conv2D");
  assert_true(y >= 0 && n >= 0);
  vg_node_t *nd = &g->nodes[n];
  nd->a.layout = VG_LAYOUT_NHWC;
  nd->a.filter_layout = VG_FILTER_HWIO;
  nd->a.pad_mode = VG_PAD_SAME_UPPER;
  nd->in[0] = x, nd->in[1] = w, nd->in[2] = b, nd->n_in = 3;
  nd->out[0] = y, nd->n_out = 1;
  return y;
}

/* x[1,6,6,8] -> a = conv3x3 (16 channels, Winograd on the CPU backend),
 * b = conv1x1 (8), c = concat(a, b) on channels, y = relu(c). */
static void build(vg_graph_t *g) {
  vg_graph_init(g);
  int64_t xd[4] = {1, 6, 6, 8};
  int x = add_f32(g, "x", 4, xd, 0);
  g->values[x].is_input = 1;
  g->inputs[g->n_inputs++] = x;
  int a = add_conv(g, "a", x, 3, 8, 16), b = add_conv(g, "b", x, 1, 8, 8);
  int c = vg_graph_add_value(g, "c"), n = vg_graph_add_node(g, VG_OP_CONCAT, "c", "ConcatV2");
  assert_true(c >= 0 && n >= 0);
  g->nodes[n].a.axis = 3;
  g->nodes[n].in[0] = a, g->nodes[n].in[1] = b, g->nodes[n].n_in = 2;
  g->nodes[n].out[0] = c, g->nodes[n].n_out = 1;
  int y = vg_graph_add_value(g, "y");
  n = vg_graph_add_node(g, VG_OP_RELU, "y", "Relu");
  assert_true(y >= 0 && n >= 0);
  g->nodes[n].in[0] = c, g->nodes[n].n_in = 1;
  g->nodes[n].out[0] = y, g->nodes[n].n_out = 1;
  g->values[y].is_output = 1;
  g->outputs[g->n_outputs++] = y;
}

static vg_model_t *make(vg_backend_kind_t kind) {
  vg_graph_t g;
  build(&g);
  vg_model_t *m = NULL;
  char err[512] = "";
  vg_model_opts_t o = {.backend = kind, .threads = 1};
  int rc = vg_model_from_graph(&m, &g, &o, err, sizeof(err));
  if (rc) print_message("%s\n", err);
  assert_int_equal(rc, 0);
  return m;
}

static void concat_inputs_alias_its_output(void **s) {
  vg_model_t *cpu = make(VG_BACKEND_CPU), *ref = make(VG_BACKEND_REF);
  /* The CPU backend's convolutions write through a pitch: both inputs live
   * inside the concatenation's buffer, a at channel 0 and b at channel 16. */
  const vg_tensor_t *a = vg_model_value(cpu, "a"), *b = vg_model_value(cpu, "b"),
                    *c = vg_model_value(cpu, "c");
  assert_non_null(a);
  assert_non_null(b);
  assert_non_null(c);
  assert_ptr_equal(a->data, c->data);
  assert_ptr_equal(b->data, (float *)c->data + 16);
  assert_int_equal(vg_model_check_plan(cpu), 0);
  assert_int_equal(vg_model_check_plan(ref), 0);
  /* Both arenas hold the same values; the CPU one needs no room for a and b
   * of their own. */
  vg_model_stats_t sc, sr;
  vg_model_get_stats(cpu, &sc);
  vg_model_get_stats(ref, &sr);
  assert_true(sc.arena_bytes < sr.arena_bytes);

  vg_tensor_t in = {0};
  assert_int_equal(vg_tensor_set_shape(&in, VG_DT_F32, 4, (int64_t[]){1, 6, 6, 8}), 0);
  assert_int_equal(vg_tensor_alloc(&in), 0);
  for (int i = 0; i < 6 * 6 * 8; i++)
    ((float *)in.data)[i] = (float)sin(i * 0.3);
  /* Twice: a second run must not read what the first left behind. */
  for (int run = 0; run < 2; run++) {
    assert_int_equal(vg_model_run(cpu, &in, 1), 0);
    assert_int_equal(vg_model_run(ref, &in, 1), 0);
    const float *yc = vg_model_output(cpu, 0)->data, *yr = vg_model_output(ref, 0)->data;
    int positives = 0;
    for (int i = 0; i < 6 * 6 * 24; i++) {
      assert_true(fabsf(yc[i] - yr[i]) <= 1e-4f * (1 + fabsf(yr[i])));
      positives += yr[i] > 0;
    }
    assert_true(positives > 100); /* not all clipped to zero */
  }
  vg_tensor_clear(&in);
  vg_model_free(&cpu);
  vg_model_free(&ref);
  (void)s;
}

static char root[1024];

static void model_within_3x(const char *name) {
  char path[1200], err[512] = "";
  snprintf(path, sizeof(path), "%s/models/%s.json", root, name);
  if (access(path, R_OK) != 0) {
    print_message("%s missing (run scripts/setup-models.sh): skipping\n", path);
    skip();
  }
  vg_model_t *m = NULL;
  vg_model_opts_t o = {.backend = VG_BACKEND_CPU, .threads = 1};
  int rc = vg_model_load(&m, path, &o, err, sizeof(err));
  if (rc) print_message("%s\n", err);
  assert_int_equal(rc, 0);
  assert_int_equal(vg_model_check_plan(m), 0);
  vg_model_stats_t st;
  vg_model_get_stats(m, &st);
  double total = (double)(st.weight_bytes + st.arena_bytes), ratio = total / (double)st.file_weight_bytes;
  print_message("%s: weights %.2f MiB (file %.2f MiB), arena %.2f MiB (lower bound %.2f): %.2fx\n", name,
                (double)st.weight_bytes / 1048576.0, (double)st.file_weight_bytes / 1048576.0,
                (double)st.arena_bytes / 1048576.0, (double)st.peak_live_bytes / 1048576.0, ratio);
  assert_true(st.file_weight_bytes > 1 << 20);
  assert_true(ratio <= 3.0);
  vg_model_free(&m);
}

static int have_model(const char *name, char *path, size_t len) {
  snprintf(path, len, "%s/models/%s.json", root, name);
  if (access(path, R_OK) == 0) return 1;
  print_message("%s missing (run scripts/setup-models.sh): skipping\n", path);
  return 0;
}

/* CenterNet's concat_2 joins a skip connection computed early in the
 * backbone with the upsampled head: only the upsampled half is written in
 * place (by the resize, through a pitch), since the skip half in place would
 * keep the whole 8 MiB buffer alive through the backbone. */
static void centernet_resize_writes_into_concat(void **s) {
  char path[1200], err[512] = "";
  if (!have_model("centernet", path, sizeof(path))) skip();
  vg_model_t *m = NULL;
  vg_model_opts_t o = {.backend = VG_BACKEND_CPU, .threads = 1};
  assert_int_equal(vg_model_load(&m, path, &o, err, sizeof(err)), 0);
  const vg_tensor_t *cat = vg_model_value(m, "tower_0/CenternetHead/concat_2"),
                    *up =
                        vg_model_value(m, "tower_0/CenternetHead/c3_upsample/up_sampling2d_2/ResizeBilinear"),
                    *skip_in =
                        vg_model_value(m, "tower_0/CenternetHead/c2_reverse/3x3/BatchNorm/FusedBatchNorm");
  assert_non_null(cat);
  assert_non_null(up);
  assert_non_null(skip_in);
  assert_int_equal(cat->dims[3], skip_in->dims[3] + up->dims[3]);
  assert_ptr_equal(up->data, (const float *)cat->data + skip_in->dims[3]);
  const float *c0 = cat->data, *c1 = c0 + vg_tensor_numel(cat), *sk = skip_in->data;
  assert_true(sk + vg_tensor_numel(skip_in) <= c0 || sk >= c1);
  assert_int_equal(vg_model_check_plan(m), 0);
  vg_model_free(&m);
  (void)s;
}

/* The detector's input is the model's input buffer; a run consumes it, and
 * running again needs it written again (and then gives the same result). */
static void detector_input_is_in_the_arena(void **s) {
  char path[1200], err[512] = "";
  if (!have_model("centernet", path, sizeof(path))) skip();
  vg_image_t img;
  if (vg_image_load(&img, "/usr/share/doc/opencv-doc/examples/data/messi5.jpg", 0)) {
    print_message("messi5.jpg missing (opencv-doc): skipping\n");
    skip();
  }
  vg_model_opts_t o = {.backend = VG_BACKEND_CPU, .threads = 1};
  vg_detector_t d;
  assert_int_equal(vg_detector_open(&d, path, NULL, &o, err, sizeof(err)), 0);
  vg_tensor_t *buf = vg_model_input_buffer(d.model, 0);
  assert_non_null(buf);
  assert_ptr_equal(d.input.data, buf->data);
  assert_int_equal(d.input.owned, 0);
  assert_int_equal(vg_tensor_bytes(&d.input), 512 * 512 * 3 * sizeof(float));
  assert_int_equal(vg_detector_run(&d), VG_ESTATE); /* nothing written yet */

  vg_detection_t a[100], b[100];
  assert_int_equal(vg_detector_preprocess(&d, &img), 0);
  assert_int_equal(vg_detector_run(&d), 0);
  int na = vg_detector_decode(&d, img.width, img.height, a, 100);
  assert_true(na > 0);
  assert_int_equal(vg_detector_run(&d), VG_ESTATE); /* consumed */
  assert_int_equal(vg_detector_preprocess(&d, &img), 0);
  assert_int_equal(vg_detector_run(&d), 0);
  int nb = vg_detector_decode(&d, img.width, img.height, b, 100);
  assert_int_equal(na, nb);
  assert_memory_equal(a, b, sizeof(a[0]) * (size_t)na);
  vg_detector_close(&d);
  vg_image_free(&img);
  (void)s;
}

/* With two threads the fused kernels' band scratch lies in the arena
 * (vg_backend_t.scratch_bytes), shared by the threads, beside values that
 * are alive: the outputs must be bit for bit those of one thread (whose
 * results do not depend on how rows are split), twice in a row. */
static void centernet_two_threads_same_outputs(void **s) {
  char path[1200], err[512] = "";
  if (!have_model("centernet", path, sizeof(path))) skip();
  vg_model_t *m1 = NULL, *m2 = NULL;
  vg_model_opts_t o1 = {.backend = VG_BACKEND_CPU, .threads = 1},
                  o2 = {.backend = VG_BACKEND_CPU, .threads = 2};
  assert_int_equal(vg_model_load(&m1, path, &o1, err, sizeof(err)), 0);
  assert_int_equal(vg_model_load(&m2, path, &o2, err, sizeof(err)), 0);
  assert_int_equal(vg_model_check_plan(m2), 0);
  for (int run = 0; run < 2; run++) {
    vg_tensor_t *a = vg_model_input_buffer(m1, 0), *b = vg_model_input_buffer(m2, 0);
    assert_non_null(a);
    assert_non_null(b);
    float *ad = a->data, *bd = b->data;
    for (int64_t i = 0; i < vg_tensor_numel(a); i++)
      ad[i] = bd[i] = (float)((i * 7 + run * 13) % 256);
    assert_int_equal(vg_model_run(m1, NULL, 1), 0);
    assert_int_equal(vg_model_run(m2, NULL, 1), 0);
    assert_int_equal(vg_model_output_count(m1), vg_model_output_count(m2));
    for (int k = 0; k < vg_model_output_count(m1); k++) {
      const vg_tensor_t *y1 = vg_model_output(m1, k), *y2 = vg_model_output(m2, k);
      assert_int_equal(vg_tensor_bytes(y1), vg_tensor_bytes(y2));
      assert_memory_equal(y1->data, y2->data, vg_tensor_bytes(y1));
    }
  }
  vg_model_free(&m1);
  vg_model_free(&m2);
  (void)s;
}

static void nanodet_within_3x(void **s) { model_within_3x("nanodet"), (void)s; }
static void centernet_within_3x(void **s) { model_within_3x("centernet"), (void)s; }

int main(void) {
  /* The repository root, from this file's path as compiled in. */
  snprintf(root, sizeof(root), "%s", __FILE__);
  char *cut = strstr(root, "/tests/unit/");
  if (cut)
    *cut = 0;
  else
    snprintf(root, sizeof(root), ".");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(concat_inputs_alias_its_output),
      cmocka_unit_test(nanodet_within_3x),
      cmocka_unit_test(centernet_within_3x),
      cmocka_unit_test(centernet_resize_writes_into_concat),
      cmocka_unit_test(detector_input_is_in_the_arena),
      cmocka_unit_test(centernet_two_threads_same_outputs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
