/* test_infer_int8.c: the int8 path (src/infer/quant.h). Toy convolutions:
 * the VNNI kernel against the portable reference kernel (the same integers,
 * so equal up to the last bits of the f32 epilogue) and both against f32
 * within the quantization error. NanoDet on the opencv-doc images: int8
 * detections against f32's (same classes, boxes within a few pixels,
 * scores within 0.05), with the raw output tensors' error printed; and
 * the whole model on the int8 reference backend against the int8 CPU
 * backend. The models come from scripts/setup-models.sh; those cases are
 * skipped, saying why, when they are absent. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "base/error.h"
#include "infer/detect.h"
#include "infer/model.h"
#include "infer/quant.h"

#if defined(__SANITIZE_ADDRESS__)
#define VG_TEST_LIGHT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VG_TEST_LIGHT 1
#endif
#endif
#ifndef VG_TEST_LIGHT
#define VG_TEST_LIGHT 0
#endif

#define IMAGES "/usr/share/doc/opencv-doc/examples/data/"

static char root[1024];

static int setup(void **state) {
  snprintf(root, sizeof(root), "%s", __FILE__);
  char *cut = strstr(root, "/tests/unit/");
  if (cut)
    *cut = 0;
  else
    snprintf(root, sizeof(root), ".");
  (void)state;
  return 0;
}

/* One convolution (HWIO filter, bias, leaky ReLU) built through the graph
 * API. */
static void build_conv(vg_graph_t *g, int cin, int cout, int h, int w, int k, int stride, vg_pad_mode_t pad) {
  vg_graph_init(g);
  int x = vg_graph_add_value(g, "x"), wt = vg_graph_add_value(g, "w"), b = vg_graph_add_value(g, "b");
  int y = vg_graph_add_value(g, "y");
  int64_t xd[4] = {1, h, w, cin}, wd[4] = {k, k, cin, cout}, bd[1] = {cout};
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
  c->a.strides[0] = c->a.strides[1] = stride;
  c->a.act = VG_ACT_LEAKY;
  c->a.alpha = 0.1f;
}

static vg_model_t *conv_model(int cin, int cout, int h, int w, int k, int stride, vg_pad_mode_t pad,
                              vg_backend_kind_t be, vg_precision_t prec) {
  vg_graph_t g;
  build_conv(&g, cin, cout, h, w, k, stride, pad);
  vg_model_t *m = NULL;
  char err[256];
  vg_model_opts_t o = {.backend = be, .threads = 2, .precision = prec};
  assert_int_equal(vg_model_from_graph(&m, &g, &o, err, sizeof(err)), 0);
  return m;
}

static void conv_int8_matches_reference(void **s) {
  static const struct {
    int cin, cout, h, w, k, stride;
    vg_pad_mode_t pad;
  } cases[] = {
      {16, 40, 7, 9, 3, 1, VG_PAD_SAME_UPPER}, /* 3 panels, the last partial */
      {8, 33, 6, 5, 3, 1, VG_PAD_VALID},        {24, 64, 10, 13, 3, 2, VG_PAD_SAME_UPPER},
      {32, 20, 9, 9, 1, 1, VG_PAD_VALID},       /* 1x1: the quantized input is A itself */
      {6, 17, 8, 7, 1, 1, VG_PAD_VALID},        /* C not a multiple of 4 */
      {3, 32, 17, 19, 3, 2, VG_PAD_SAME_UPPER}, /* an RGB input layer, K = 27 */
  };
  for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    vg_model_t *ref = conv_model(cases[k].cin, cases[k].cout, cases[k].h, cases[k].w, cases[k].k,
                                 cases[k].stride, cases[k].pad, VG_BACKEND_REF, VG_PRECISION_INT8);
    vg_model_t *cpu = conv_model(cases[k].cin, cases[k].cout, cases[k].h, cases[k].w, cases[k].k,
                                 cases[k].stride, cases[k].pad, VG_BACKEND_CPU, VG_PRECISION_INT8);
    vg_model_t *f32 = conv_model(cases[k].cin, cases[k].cout, cases[k].h, cases[k].w, cases[k].k,
                                 cases[k].stride, cases[k].pad, VG_BACKEND_REF, VG_PRECISION_F32);
    vg_model_stats_t st;
    vg_model_get_stats(ref, &st);
    assert_string_equal(st.backend, "ref-int8");
    vg_model_get_stats(cpu, &st);
    int vnni = vg_int8_vnni_available();
    assert_string_equal(st.backend, vnni ? "cpu-int8" : "cpu");
    vg_tensor_t in;
    memset(&in, 0, sizeof(in));
    const vg_tensor_t *shape = vg_model_input(ref, 0);
    assert_int_equal(vg_tensor_set_shape(&in, shape->dtype, shape->ndim, shape->dims), 0);
    assert_int_equal(vg_tensor_alloc(&in), 0);
    for (int64_t i = 0; i < vg_tensor_numel(&in); i++)
      ((float *)in.data)[i] = (float)sin((double)i * 0.7) * 2.0f + 0.5f;
    assert_int_equal(vg_model_run(ref, &in, 1), 0);
    assert_int_equal(vg_model_run(cpu, &in, 1), 0);
    assert_int_equal(vg_model_run(f32, &in, 1), 0);
    const float *a = vg_model_output(ref, 0)->data, *b = vg_model_output(cpu, 0)->data,
                *c = vg_model_output(f32, 0)->data;
    int64_t n = vg_tensor_numel(vg_model_output(ref, 0));
    double peak = 0, worst_q = 0, worst_k = 0;
    for (int64_t i = 0; i < n; i++)
      peak = fmax(peak, fabs(c[i]));
    for (int64_t i = 0; i < n; i++) {
      worst_k = fmax(worst_k, fabs(a[i] - b[i]) / (1 + fabs(a[i])));
      worst_q = fmax(worst_q, fabs(a[i] - c[i]) / peak);
    }
    print_message("conv %dx%d s%d %d->%d: int8 vnni vs ref %.1e, int8 vs f32 %.1e of the peak\n", cases[k].k,
                  cases[k].k, cases[k].stride, cases[k].cin, cases[k].cout, worst_k, worst_q);
    /* The same integers on both sides; only the epilogue's f32 rounding
     * may differ. Without VNNI the CPU backend runs f32, which is within
     * the quantization error of the reference. */
    assert_true(worst_k <= (vnni ? 1e-5 : 3e-2));
    /* 8-bit activations and weights: well within a few percent. */
    assert_true(worst_q <= 5e-2);
    vg_tensor_clear(&in);
    vg_model_free(&ref);
    vg_model_free(&cpu);
    vg_model_free(&f32);
  }
  (void)s;
}

/* Without VNNI (or pretending: VIGIL_NO_VNNI), int8 on the CPU backend
 * falls back to f32; the reference backend always runs int8. */
static void int8_falls_back_without_vnni(void **s) {
  setenv("VIGIL_NO_VNNI", "1", 1);
  assert_int_equal(vg_int8_vnni_available(), 0);
  assert_ptr_equal(vg_int8_backend(&vg_backend_cpu), &vg_backend_cpu);
  vg_model_t *m = conv_model(16, 16, 5, 5, 3, 1, VG_PAD_SAME_UPPER, VG_BACKEND_CPU, VG_PRECISION_INT8);
  vg_model_stats_t st;
  vg_model_get_stats(m, &st);
  assert_string_equal(st.backend, "cpu");
  vg_model_free(&m);
  assert_ptr_not_equal(vg_int8_backend(&vg_backend_ref), &vg_backend_ref);
  unsetenv("VIGIL_NO_VNNI");
  vg_precision_t p;
  assert_int_equal(vg_precision_parse("int8", &p), 0);
  assert_int_equal(p, VG_PRECISION_INT8);
  assert_int_equal(vg_precision_parse("f32", &p), 0);
  assert_int_equal(p, VG_PRECISION_F32);
  assert_int_equal(vg_precision_parse("f16", &p), VG_EINVAL);
  (void)s;
}

static int have_model(void) {
  char p[1200];
  struct stat st;
  snprintf(p, sizeof(p), "%s/models/nanodet.json", root);
  return stat(p, &st) == 0;
}

/* The relative error of a against b as the parity tests count it:
 * |a - b| / max(|b|, 1e-2 * max|b|). */
static double rel_error(const float *a, const float *b, size_t n, double *max_abs) {
  double scale = 0, worst = 0;
  for (size_t i = 0; i < n; i++)
    scale = fmax(scale, fabs(b[i]));
  *max_abs = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - b[i]);
    *max_abs = fmax(*max_abs, d);
    worst = fmax(worst, d / fmax(fabs(b[i]), fmax(1e-2 * scale, 1e-30)));
  }
  return worst;
}

static int matches(const vg_detection_t *a, const vg_detection_t *b) {
  /* A few pixels, or 3% of the box's size for large boxes. */
  float tol_x = fmaxf(4.0f, 0.03f * (b->x2 - b->x1)), tol_y = fmaxf(4.0f, 0.03f * (b->y2 - b->y1));
  return a->label == b->label && fabsf(a->score - b->score) <= 0.05f && fabsf(a->x1 - b->x1) <= tol_x &&
         fabsf(a->x2 - b->x2) <= tol_x && fabsf(a->y1 - b->y1) <= tol_y && fabsf(a->y2 - b->y2) <= tol_y;
}

/* Every detection of one side that is clearly over the threshold (by
 * margin) has a match on the other side. */
static void all_matched(const vg_detection_t *a, int na, const vg_detection_t *b, int nb, float min_score,
                        const char *what) {
  for (int i = 0; i < na; i++) {
    if (a[i].score < min_score) continue;
    int found = 0;
    for (int k = 0; k < nb && !found; k++)
      found = matches(&b[k], &a[i]);
    if (!found)
      print_message("%s: %s %.3f [%.1f %.1f %.1f %.1f] unmatched\n", what, vg_coco_label(a[i].label),
                    a[i].score, a[i].x1, a[i].y1, a[i].x2, a[i].y2);
    assert_true(found);
  }
}

static void nanodet_int8_case(const char *image, int frame, int expect_some) {
  if (!have_model()) {
    print_message("models missing (run scripts/setup-models.sh): skipping\n");
    skip();
  }
  char path[1200], err[512] = "";
  snprintf(path, sizeof(path), "%s/models/nanodet.json", root);
  vg_model_opts_t fo = {.backend = VG_BACKEND_CPU, .threads = 2},
                  qo = {.backend = VG_BACKEND_CPU, .threads = 2, .precision = VG_PRECISION_INT8};
  vg_detector_t f, q;
  assert_int_equal(vg_detector_open(&f, path, NULL, &fo, err, sizeof(err)), 0);
  assert_int_equal(vg_detector_open(&q, path, NULL, &qo, err, sizeof(err)), 0);
  vg_image_t img;
  snprintf(path, sizeof(path), IMAGES "%s", image);
  assert_int_equal(vg_image_load(&img, path, frame), 0);
  assert_int_equal(vg_detector_preprocess(&f, &img), 0);
  memcpy(vg_detector_input(&q), f.input.data, vg_tensor_bytes(&f.input));
  assert_int_equal(vg_detector_run(&f), 0);
  assert_int_equal(vg_detector_run(&q), 0);
  for (int i = 0; i < vg_model_output_count(f.model); i++) {
    const vg_tensor_t *a = vg_model_output(q.model, i), *b = vg_model_output(f.model, i);
    double abs_err, e = rel_error(a->data, b->data, (size_t)vg_tensor_numel(b), &abs_err);
    print_message("nanodet %s[%d] %s: int8 vs f32 rel %.2e (abs %.2e)\n", image, frame,
                  vg_model_output_name(f.model, i), e, abs_err);
  }
  vg_detection_t fd[100], qd[100];
  int nf = vg_detector_decode(&f, img.width, img.height, fd, 100);
  int nq = vg_detector_decode(&q, img.width, img.height, qd, 100);
  for (int i = 0; i < nf || i < nq; i++)
    print_message("  f32 %s %.3f [%.1f %.1f %.1f %.1f]   int8 %s %.3f [%.1f %.1f %.1f %.1f]\n",
                  i < nf ? vg_coco_label(fd[i].label) : "-", i < nf ? fd[i].score : 0, i < nf ? fd[i].x1 : 0,
                  i < nf ? fd[i].y1 : 0, i < nf ? fd[i].x2 : 0, i < nf ? fd[i].y2 : 0,
                  i < nq ? vg_coco_label(qd[i].label) : "-", i < nq ? qd[i].score : 0, i < nq ? qd[i].x1 : 0,
                  i < nq ? qd[i].y1 : 0, i < nq ? qd[i].x2 : 0, i < nq ? qd[i].y2 : 0);
  if (expect_some) assert_true(nf > 0);
  /* Detections near the threshold may come and go with any change of
   * arithmetic; those clearly over it must agree both ways. */
  float margin = f.score_threshold + 0.1f;
  all_matched(fd, nf, qd, nq, margin, "f32 detection without an int8 match");
  all_matched(qd, nq, fd, nf, margin, "int8 detection without an f32 match");
  vg_image_free(&img);
  vg_detector_close(&f);
  vg_detector_close(&q);
}

static void nanodet_int8_messi(void **s) { nanodet_int8_case("messi5.jpg", 0, 1), (void)s; }
static void nanodet_int8_basketball(void **s) { nanodet_int8_case("basketball1.png", 0, 1), (void)s; }
static void nanodet_int8_plate(void **s) { nanodet_int8_case("licenseplate_motion.jpg", 0, 0), (void)s; }
static void nanodet_int8_vtest(void **s) { nanodet_int8_case("vtest.avi", 30, 1), (void)s; }

/* The whole model at int8 on the reference backend (portable kernel,
 * unfused graph) against the CPU backend: the quantized layers see the
 * same ranges up to f32 rounding upstream, so the outputs agree closely
 * but not to the bit. */
static void nanodet_int8_ref_vs_cpu(void **s) {
  if (!have_model() || !vg_int8_vnni_available()) skip();
  char path[1200], err[512] = "";
  snprintf(path, sizeof(path), "%s/models/nanodet.json", root);
  vg_model_opts_t ro = {.backend = VG_BACKEND_REF, .threads = 1, .precision = VG_PRECISION_INT8},
                  co = {.backend = VG_BACKEND_CPU, .threads = 2, .precision = VG_PRECISION_INT8};
  vg_detector_t r, c;
  assert_int_equal(vg_detector_open(&r, path, NULL, &ro, err, sizeof(err)), 0);
  assert_int_equal(vg_detector_open(&c, path, NULL, &co, err, sizeof(err)), 0);
  vg_image_t img;
  assert_int_equal(vg_image_load(&img, IMAGES "messi5.jpg", 0), 0);
  assert_int_equal(vg_detector_preprocess(&r, &img), 0);
  memcpy(vg_detector_input(&c), r.input.data, vg_tensor_bytes(&r.input));
  assert_int_equal(vg_detector_run(&r), 0);
  assert_int_equal(vg_detector_run(&c), 0);
  for (int i = 0; i < vg_model_output_count(r.model); i++) {
    const vg_tensor_t *a = vg_model_output(c.model, i), *b = vg_model_output(r.model, i);
    double abs_err, e = rel_error(a->data, b->data, (size_t)vg_tensor_numel(b), &abs_err);
    print_message("nanodet int8 cpu vs int8 ref %s: rel %.2e (abs %.2e)\n", vg_model_output_name(r.model, i),
                  e, abs_err);
    assert_true(abs_err <= 0.5);
  }
  vg_detection_t rd[100], cd[100];
  int nr = vg_detector_decode(&r, img.width, img.height, rd, 100);
  int nc = vg_detector_decode(&c, img.width, img.height, cd, 100);
  float margin = r.score_threshold + 0.1f;
  all_matched(rd, nr, cd, nc, margin, "int8 ref detection without an int8 cpu match");
  all_matched(cd, nc, rd, nr, margin, "int8 cpu detection without an int8 ref match");
  vg_image_free(&img);
  vg_detector_close(&r);
  vg_detector_close(&c);
}

int main(void) {
  const struct CMUnitTest full[] = {
      cmocka_unit_test(conv_int8_matches_reference), cmocka_unit_test(int8_falls_back_without_vnni),
      cmocka_unit_test(nanodet_int8_messi),          cmocka_unit_test(nanodet_int8_basketball),
      cmocka_unit_test(nanodet_int8_plate),          cmocka_unit_test(nanodet_int8_vtest),
      cmocka_unit_test(nanodet_int8_ref_vs_cpu),
  };
  const struct CMUnitTest light[] = {
      cmocka_unit_test(conv_int8_matches_reference),
      cmocka_unit_test(int8_falls_back_without_vnni),
      cmocka_unit_test(nanodet_int8_messi),
  };
  return VG_TEST_LIGHT ? cmocka_run_group_tests(light, setup, NULL)
                       : cmocka_run_group_tests(full, setup, NULL);
}
