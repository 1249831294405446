/* test_infer.c: the inference engine without the big models: loaders'
 * error messages, toy graphs of every TF.js op the detectors use (the fuzz
 * seeds written by tests/infer/make_tfjs_seeds.py) run on both backends,
 * the optimizer's rewrites, half floats, NMS and the ISA variants. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/error.h"
#include "infer/cpu_simd.h"
#include "infer/detect.h"
#include "infer/model.h"

static char root[1024];

static uint8_t *slurp(const char *rel, size_t *len) {
  char path[1200];
  snprintf(path, sizeof(path), "%s/%s", root, rel);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n + 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return b;
}

/* Parses a fuzz seed: u32 json length, json, weights. */
static int parse_seed(const char *name, vg_graph_t *g) {
  char rel[256];
  snprintf(rel, sizeof(rel), "tests/fuzz/corpus/fuzz_tfjs/%s", name);
  size_t len;
  uint8_t *b = slurp(rel, &len);
  assert_non_null(b);
  uint32_t jl = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
  assert_true(jl + 4 <= len);
  vg_graph_init(g);
  int err = vg_tfjs_parse(g, (const char *)b + 4, jl, b + 4 + jl, len - 4 - jl);
  free(b);
  return err;
}

static void fill_input(vg_tensor_t *t, const vg_tensor_t *shape) {
  memset(t, 0, sizeof(*t));
  assert_int_equal(vg_tensor_set_shape(t, shape->dtype, shape->ndim, shape->dims), 0);
  assert_int_equal(vg_tensor_alloc(t), 0);
  float *d = t->data;
  for (int64_t i = 0; i < vg_tensor_numel(t); i++)
    d[i] = (float)sin((double)i * 0.7) * 2.0f;
}

/* Runs a seed model on both backends and requires equal outputs. */
static void seed_both_backends(const char *name, int expect_transposes_gone) {
  vg_graph_t g1, g2;
  assert_int_equal(parse_seed(name, &g1), 0);
  assert_int_equal(parse_seed(name, &g2), 0);
  vg_model_t *ref, *cpu;
  char err[512] = "";
  vg_model_opts_t ro = {.backend = VG_BACKEND_REF, .threads = 1},
                  co = {.backend = VG_BACKEND_CPU, .threads = 2};
  int rc = vg_model_from_graph(&ref, &g1, &ro, err, sizeof(err));
  if (rc) print_message("%s\n", err);
  assert_int_equal(rc, 0);
  assert_int_equal(vg_model_from_graph(&cpu, &g2, &co, err, sizeof(err)), 0);
  vg_tensor_t in;
  fill_input(&in, vg_model_input(ref, 0));
  assert_int_equal(vg_model_run(ref, &in, 1), 0);
  assert_int_equal(vg_model_run(cpu, &in, 1), 0);
  assert_int_equal(vg_model_output_count(ref), vg_model_output_count(cpu));
  for (int i = 0; i < vg_model_output_count(ref); i++) {
    const vg_tensor_t *a = vg_model_output(ref, i), *b = vg_model_output(cpu, i);
    assert_true(vg_tensor_same_shape(a, b));
    assert_int_equal(a->dtype, b->dtype);
    for (int64_t k = 0; k < vg_tensor_numel(a); k++) {
      double x = a->dtype == VG_DT_F32 ? ((float *)a->data)[k] : ((int32_t *)a->data)[k];
      double y = b->dtype == VG_DT_F32 ? ((float *)b->data)[k] : ((int32_t *)b->data)[k];
      assert_true(fabs(x - y) <= 1e-4 * (1 + fabs(x)));
    }
  }
  if (expect_transposes_gone) {
    /* The optimizer cancels the NCHW<->NHWC transposes around the conv. */
    vg_model_prof_t pr[64];
    int n = vg_model_profile(cpu, pr, 64), transposes = 0, pads = 0;
    for (int i = 0; i < n && i < 64; i++) {
      transposes += !strcmp(pr[i].op, "Transpose");
      pads += !strcmp(pr[i].op, "Pad");
    }
    assert_true(transposes <= 2);
    assert_int_equal(pads, 0);
  }
  vg_tensor_clear(&in);
  vg_model_free(&ref);
  vg_model_free(&cpu);
}

static void nanodet_like_graph(void **s) { seed_both_backends("nanodet_like", 1), (void)s; }
static void centernet_like_graph(void **s) { seed_both_backends("centernet_like", 0), (void)s; }

static void unsupported_op_names_node(void **s) {
  vg_graph_t g;
  assert_int_equal(parse_seed("unknown_op", &g), VG_EUNSUPPORTED);
  assert_non_null(strstr(g.err, "node 'y' (op NoSuchOp)"));
  vg_graph_free(&g);
  (void)s;
}

static void short_weights_is_an_error(void **s) {
  vg_graph_t g;
  assert_int_equal(parse_seed("short_weights", &g), VG_EPROTO);
  assert_non_null(strstr(g.err, "weight 'c'"));
  vg_graph_free(&g);
  (void)s;
}

static void malformed_json(void **s) {
  vg_graph_t g;
  vg_graph_init(&g);
  assert_int_equal(vg_tfjs_parse(&g, "{\"modelTopology\":", 17, NULL, 0), VG_EPROTO);
  vg_graph_free(&g);
  vg_graph_init(&g);
  const char *j = "{\"modelTopology\":{\"node\":[]},\"weightsManifest\":[]}";
  assert_int_equal(vg_tfjs_parse(&g, j, strlen(j), NULL, 0), VG_EPROTO); /* no input */
  vg_graph_free(&g);
  (void)s;
}

static void onnx_garbage_is_an_error(void **s) {
  static const uint8_t junk[] = {0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
  vg_graph_t g;
  vg_graph_init(&g);
  assert_int_equal(vg_onnx_parse(&g, junk, sizeof(junk)), VG_EPROTO);
  vg_graph_free(&g);
  (void)s;
}

static void onnx_model_loads_and_runs(void **s) {
  size_t len;
  uint8_t *b = slurp("tests/fuzz/corpus/fuzz_onnx/relu.onnx", &len);
  assert_non_null(b);
  vg_graph_t g;
  vg_graph_init(&g);
  assert_int_equal(vg_onnx_parse(&g, b, len), 0);
  free(b);
  vg_model_t *m;
  char err[256];
  assert_int_equal(vg_model_from_graph(&m, &g, NULL, err, sizeof(err)), 0);
  vg_tensor_t in;
  fill_input(&in, vg_model_input(m, 0));
  assert_int_equal(vg_model_run(m, &in, 1), 0);
  const vg_tensor_t *o = vg_model_output(m, 0);
  for (int64_t i = 0; i < vg_tensor_numel(o); i++)
    assert_true(((float *)o->data)[i] == fmaxf(0.0f, ((float *)in.data)[i]));
  vg_tensor_t wrong = in;
  wrong.dims[0] += 1;
  assert_int_equal(vg_model_run(m, &wrong, 1), VG_EINVAL);
  vg_tensor_clear(&in);
  vg_model_free(&m);
  (void)s;
}

static void half_floats(void **s) {
  assert_true(vg_f16_to_f32(0x3c00) == 1.0f);
  assert_true(vg_f16_to_f32(0xc000) == -2.0f);
  assert_true(vg_f16_to_f32(0x7bff) == 65504.0f);
  assert_true(vg_f16_to_f32(0x0001) == ldexpf(1.0f, -24)); /* smallest subnormal */
  assert_true(isinf(vg_f16_to_f32(0x7c00)));
  assert_true(isnan(vg_f16_to_f32(0x7e00)));
  (void)s;
}

static void nms_keeps_best_per_class(void **s) {
  vg_detection_t d[4] = {
      {0, 0, 10, 10, 0.5f, 0}, {1, 1, 11, 11, 0.9f, 0}, {1, 1, 11, 11, 0.8f, 1}, {50, 50, 60, 60, 0.3f, 0}};
  int n = vg_nms(d, 4, 0.5f);
  assert_int_equal(n, 3);
  assert_true(d[0].score == 0.9f && d[0].label == 0);
  assert_true(d[1].score == 0.8f && d[1].label == 1);
  assert_true(d[2].score == 0.3f);
  assert_string_equal(vg_coco_label(0), "person");
  (void)s;
}

/* Every ISA variant's GEMM panel against a plain triple loop. */
static void simd_variants_agree(void **s) {
  const vg_cpu_simd_t *vs[] = {&vg_cpu_simd_generic, vg_cpu_simd()};
  for (int v = 0; v < 6; v++) {
    /* Full panels, and half-used ones (the one-vector path). */
    const vg_cpu_simd_t *x = vs[v % 2];
    int nr = x->nr, M = 7, K = 13, ncols = v < 2 ? nr - 3 : v < 4 ? nr / 2 : 3;
    float *A = malloc(sizeof(float) * (size_t)(M * K)), *B = calloc((size_t)(K * nr), sizeof(float));
    float *C = calloc((size_t)(M * nr), sizeof(float)), *bias = calloc((size_t)nr, sizeof(float));
    for (int i = 0; i < M * K; i++)
      A[i] = (float)((i * 37) % 11) - 5.0f;
    for (int k = 0; k < K; k++)
      for (int j = 0; j < ncols; j++)
        B[k * nr + j] = (float)((k * 7 + j * 3) % 5) - 2.0f;
    for (int j = 0; j < ncols; j++)
      bias[j] = (float)j;
    x->gemm_panel(M, K, A, K, B, bias, C, nr, ncols, VG_ACT_RELU, 0, 0);
    for (int i = 0; i < M; i++)
      for (int j = 0; j < nr; j++) {
        float want = bias[j < ncols ? j : 0] * (j < ncols);
        for (int k = 0; k < K; k++)
          want += A[i * K + k] * B[k * nr + j];
        want = want > 0 ? want : 0;
        if (j < ncols)
          assert_true(C[i * nr + j] == want);
        else
          assert_true(C[i * nr + j] == 0.0f); /* never written */
      }
    float e[5] = {-100, -1, 0, 1, 20}, r[5];
    memcpy(r, e, sizeof(r));
    x->act(r, 5, VG_ACT_SIGMOID, 0, 0);
    for (int i = 0; i < 5; i++)
      assert_true(fabs(r[i] - 1.0 / (1.0 + exp(-e[i]))) < 1e-6);
    free(A), free(B), free(C), free(bias);
  }
  (void)s;
}

/* A 3x3 convolution built through the graph API, with odd sizes and more
 * output channels than one panel: the CPU backend runs it as Winograd
 * F(4x4,3x3) or F(2x2,3x3) (or im2col + GEMM with VIGIL_NO_WINOGRAD), the
 * reference directly. */
static void build_conv(vg_graph_t *g, int cin, int cout, int h, int w, vg_pad_mode_t pad) {
  vg_graph_init(g);
  int x = vg_graph_add_value(g, "x"), wt = vg_graph_add_value(g, "w"), b = vg_graph_add_value(g, "b");
  int y = vg_graph_add_value(g, "y");
  int64_t xd[4] = {1, h, w, cin}, wd[4] = {3, 3, cin, cout}, bd[1] = {cout};
  vg_tensor_set_shape(&g->values[x].t, VG_DT_F32, 4, xd);
  g->values[x].is_input = 1;
  g->inputs[g->n_inputs++] = x;
  vg_tensor_set_shape(&g->values[wt].t, VG_DT_F32, 4, wd);
  vg_tensor_alloc(&g->values[wt].t);
  g->values[wt].is_const = 1;
  for (int64_t i = 0; i < vg_tensor_numel(&g->values[wt].t); i++)
    ((float *)g->values[wt].t.data)[i] = (float)cos((double)i * 0.37) * 0.2f;
  vg_tensor_set_shape(&g->values[b].t, VG_DT_F32, 1, bd);
  vg_tensor_alloc(&g->values[b].t);
  g->values[b].is_const = 1;
  for (int i = 0; i < cout; i++)
    ((float *)g->values[b].t.data)[i] = 0.01f * (float)i - 0.1f;
  g->values[y].is_output = 1;
  g->outputs[g->n_outputs++] = y;
  int n = vg_graph_add_node(g, VG_OP_CONV, "conv", "Conv2D");
  vg_node_t *c = &g->nodes[n];
  c->n_in = 3, c->in[0] = x, c->in[1] = wt, c->in[2] = b;
  c->n_out = 1, c->out[0] = y;
  c->a.pad_mode = pad;
  c->a.act = VG_ACT_LEAKY;
  c->a.alpha = 0.1f;
}

static void winograd_matches_reference(void **s) {
  static const struct {
    int cin, cout, h, w;
    vg_pad_mode_t pad;
  } cases[] = {
      {16, 40, 7, 9, VG_PAD_SAME_UPPER}, {8, 33, 6, 5, VG_PAD_VALID}, {24, 64, 10, 3, VG_PAD_SAME_UPPER}};
  /* Each case as F(4x4,3x3), as F(2x2,3x3) and as the backend chooses,
   * unless VIGIL_WINOGRAD is set from outside. */
  static const char *const modes[3] = {"4", "2", NULL};
  int outer = getenv("VIGIL_WINOGRAD") != NULL;
  for (size_t k = 0; k < 3 * sizeof(cases) / sizeof(cases[0]); k++) {
    if (!outer && modes[k % 3])
      setenv("VIGIL_WINOGRAD", modes[k % 3], 1);
    else if (!outer)
      unsetenv("VIGIL_WINOGRAD");
    vg_graph_t g1, g2;
    build_conv(&g1, cases[k / 3].cin, cases[k / 3].cout, cases[k / 3].h, cases[k / 3].w, cases[k / 3].pad);
    build_conv(&g2, cases[k / 3].cin, cases[k / 3].cout, cases[k / 3].h, cases[k / 3].w, cases[k / 3].pad);
    vg_model_t *ref, *cpu;
    char err[256];
    vg_model_opts_t ro = {.backend = VG_BACKEND_REF, .threads = 1},
                    co = {.backend = VG_BACKEND_CPU, .threads = 2};
    assert_int_equal(vg_model_from_graph(&ref, &g1, &ro, err, sizeof(err)), 0);
    assert_int_equal(vg_model_from_graph(&cpu, &g2, &co, err, sizeof(err)), 0);
    vg_tensor_t in;
    fill_input(&in, vg_model_input(ref, 0));
    assert_int_equal(vg_model_run(ref, &in, 1), 0);
    assert_int_equal(vg_model_run(cpu, &in, 1), 0);
    const vg_tensor_t *a = vg_model_output(ref, 0), *b = vg_model_output(cpu, 0);
    assert_true(vg_tensor_same_shape(a, b));
    for (int64_t i = 0; i < vg_tensor_numel(a); i++)
      assert_true(fabs(((float *)a->data)[i] - ((float *)b->data)[i]) <=
                  1e-4 * (1 + fabs(((float *)a->data)[i])));
    vg_tensor_clear(&in);
    vg_model_free(&ref);
    vg_model_free(&cpu);
  }
  (void)s;
}

/* A convolution node appended to g: HWIO (or HWCM when depthwise, multiplier
 * 1) filter of deterministic values, a bias, SAME padding; returns its
 * output value. */
static int add_conv(vg_graph_t *g, const char *name, int x, int k, int cin, int cout, int depthwise,
                    int stride, vg_act_t act) {
  char nm[64];
  snprintf(nm, sizeof(nm), "%s/w", name);
  int wt = vg_graph_add_value(g, nm);
  snprintf(nm, sizeof(nm), "%s/b", name);
  int b = vg_graph_add_value(g, nm);
  snprintf(nm, sizeof(nm), "%s/y", name);
  int y = vg_graph_add_value(g, nm);
  int64_t wd[4] = {k, k, cin, depthwise ? 1 : cout}, bd[1] = {cout};
  vg_tensor_set_shape(&g->values[wt].t, VG_DT_F32, 4, wd);
  vg_tensor_alloc(&g->values[wt].t);
  g->values[wt].is_const = 1;
  for (int64_t i = 0; i < vg_tensor_numel(&g->values[wt].t); i++)
    ((float *)g->values[wt].t.data)[i] = (float)cos((double)i * 0.37 + cin) * 0.3f;
  vg_tensor_set_shape(&g->values[b].t, VG_DT_F32, 1, bd);
  vg_tensor_alloc(&g->values[b].t);
  g->values[b].is_const = 1;
  for (int i = 0; i < cout; i++)
    ((float *)g->values[b].t.data)[i] = 0.02f * (float)(i % 7) - 0.05f;
  int n = vg_graph_add_node(g, VG_OP_CONV, name, depthwise ? "DepthwiseConv2dNative" : "Conv2D");
  vg_node_t *c = &g->nodes[n];
  c->n_in = 3, c->in[0] = x, c->in[1] = wt, c->in[2] = b;
  c->n_out = 1, c->out[0] = y;
  c->a.pad_mode = VG_PAD_SAME_UPPER;
  c->a.strides[0] = c->a.strides[1] = stride;
  c->a.filter_layout = depthwise ? VG_FILTER_HWCM : VG_FILTER_HWIO;
  c->a.act = act;
  return y;
}

/* Inverted-residual pieces large enough (over 1 MiB between the two
 * convolutions) for the CPU backend to fuse: 1x1 expansion + depthwise
 * (stride 1 and 2) and depthwise + 1x1 projection. The fused graph runs
 * fewer nodes and must match the reference. */
static void fused_dw_matches_reference(void **s) {
  static const struct {
    int h, w, cin, e, stride, project;
  } cases[] = {
      {67, 61, 16, 72, 1, 0}, {66, 59, 24, 72, 2, 0}, {65, 63, 72, 40, 1, 1}, {130, 121, 72, 24, 2, 1}};
  for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    vg_graph_t gs[2];
    for (int v = 0; v < 2; v++) {
      vg_graph_t *g = &gs[v];
      vg_graph_init(g);
      int x = vg_graph_add_value(g, "x");
      int64_t xd[4] = {1, cases[k].h, cases[k].w, cases[k].cin};
      vg_tensor_set_shape(&g->values[x].t, VG_DT_F32, 4, xd);
      g->values[x].is_input = 1;
      g->inputs[g->n_inputs++] = x;
      int y;
      if (!cases[k].project) {
        y = add_conv(g, "expand", x, 1, cases[k].cin, cases[k].e, 0, 1, VG_ACT_RELU6);
        y = add_conv(g, "dw", y, 3, cases[k].e, cases[k].e, 1, cases[k].stride, VG_ACT_RELU);
      } else {
        y = add_conv(g, "dw", x, 3, cases[k].cin, cases[k].cin, 1, cases[k].stride, VG_ACT_RELU6);
        y = add_conv(g, "project", y, 1, cases[k].cin, cases[k].e, 0, 1, VG_ACT_NONE);
      }
      g->values[y].is_output = 1;
      g->outputs[g->n_outputs++] = y;
    }
    vg_model_t *ref, *cpu;
    char err[256];
    vg_model_opts_t ro = {.backend = VG_BACKEND_REF, .threads = 1},
                    co = {.backend = VG_BACKEND_CPU, .threads = 2};
    assert_int_equal(vg_model_from_graph(&ref, &gs[0], &ro, err, sizeof(err)), 0);
    assert_int_equal(vg_model_from_graph(&cpu, &gs[1], &co, err, sizeof(err)), 0);
    vg_model_stats_t rs, cs;
    vg_model_get_stats(ref, &rs);
    vg_model_get_stats(cpu, &cs);
    assert_int_equal(rs.nodes, 2);
    if (!getenv("VIGIL_NO_FUSE_DW")) {
      assert_int_equal(cs.nodes, 1);
      /* Only the output's buffer: nothing between the two convolutions. */
      assert_true(cs.arena_bytes < rs.arena_bytes);
    }
    assert_true(fabs(cs.flops - rs.flops) < 1e-6 * rs.flops);
    vg_tensor_t in;
    fill_input(&in, vg_model_input(ref, 0));
    assert_int_equal(vg_model_run(ref, &in, 1), 0);
    assert_int_equal(vg_model_run(cpu, &in, 1), 0);
    const vg_tensor_t *a = vg_model_output(ref, 0), *b = vg_model_output(cpu, 0);
    assert_true(vg_tensor_same_shape(a, b));
    for (int64_t i = 0; i < vg_tensor_numel(a); i++)
      assert_true(fabs(((float *)a->data)[i] - ((float *)b->data)[i]) <=
                  1e-4 * (1 + fabs(((float *)a->data)[i])));
    vg_tensor_clear(&in);
    vg_model_free(&ref);
    vg_model_free(&cpu);
  }
  (void)s;
}

static int setup(void **state) {
  snprintf(root, sizeof(root), "%s", __FILE__);
  char *cut = strstr(root, "/tests/unit/");
  if (cut) *cut = 0;
  (void)state;
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(nanodet_like_graph),
      cmocka_unit_test(centernet_like_graph),
      cmocka_unit_test(unsupported_op_names_node),
      cmocka_unit_test(short_weights_is_an_error),
      cmocka_unit_test(malformed_json),
      cmocka_unit_test(onnx_garbage_is_an_error),
      cmocka_unit_test(onnx_model_loads_and_runs),
      cmocka_unit_test(half_floats),
      cmocka_unit_test(nms_keeps_best_per_class),
      cmocka_unit_test(simd_variants_agree),
      cmocka_unit_test(winograd_matches_reference),
      cmocka_unit_test(fused_dw_matches_reference),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
