/* test_infer_parity.c: raw output tensors of NanoDet and CenterNet against
 * TensorFlow.js (its cpu backend in node, run by tests/infer/reference.js on
 * the very input tensor vigil computed), and the optimized backend against
 * the reference backend, on real images from Debian's opencv-doc.
 *
 * Needs the models and TF.js from scripts/setup-models.sh (make deps); the
 * test is skipped, saying why, when they are absent. Under AddressSanitizer
 * it runs one image per model to keep the suite's time modest. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "infer/detect.h"

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

static char root[1024]; /* the repository */
static char tmpdir[256];

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

static int setup(void **state) {
  /* The repository root, from this file's path (CMake compiles it by its
   * absolute path); VG_TEST_DATA's folder need not exist. */
  snprintf(root, sizeof(root), "%s", __FILE__);
  char *cut = strstr(root, "/tests/unit/");
  if (cut)
    *cut = 0;
  else
    snprintf(root, sizeof(root), ".");
  snprintf(tmpdir, sizeof(tmpdir), "/tmp/vg_infer_parity.XXXXXX");
  if (!mkdtemp(tmpdir)) return -1;
  (void)state;
  return 0;
}

static int teardown(void **state) {
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) return -1;
  (void)state;
  return 0;
}

static int have_reference(const char *model) {
  char p[1200];
  snprintf(p, sizeof(p), "%s/models/%s.json", root, model);
  if (!exists(p)) return 0;
  snprintf(p, sizeof(p), "%s/tests/infer/node_modules/@tensorflow/tfjs-backend-cpu", root);
  return exists(p) && system("node --version >/dev/null 2>&1") == 0;
}

static float *read_f32(const char *path, size_t n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  float *v = malloc(n * sizeof(float) + 1);
  size_t r = v ? fread(v, sizeof(float), n, f) : 0;
  int extra = fgetc(f);
  fclose(f);
  if (r != n || extra != EOF) {
    free(v);
    return NULL;
  }
  return v;
}

/* The relative error of a against the reference b: element-wise
 * |a - b| / max(|b|, floor), where floor = 1e-2 * max|b| keeps elements that
 * are zero up to rounding (a sigmoid's 1e-7 tail) from dividing by nothing. */
static double rel_error(const float *a, const float *b, size_t n, double *max_abs) {
  double scale = 0, worst = 0;
  for (size_t i = 0; i < n; i++)
    scale = fmax(scale, fabs(b[i]));
  double floor_ = 1e-2 * scale;
  *max_abs = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - b[i]);
    *max_abs = fmax(*max_abs, d);
    worst = fmax(worst, d / fmax(fabs(b[i]), floor_ > 0 ? floor_ : 1e-30));
    if (a[i] != a[i]) worst = INFINITY;
  }
  return worst;
}

/* CenterNet's in-graph decoder emits its top 100 peaks in score order; two
 * nearly equal scores may swap places between implementations, so rows are
 * matched as a set: every row of a must equal some row of b. */
static double rows_error(const float *a, const float *b, size_t rows, size_t cols) {
  double worst = 0;
  for (size_t i = 0; i < rows; i++) {
    double best = INFINITY;
    for (size_t j = 0; j < rows; j++) {
      double e = 0;
      for (size_t k = 0; k < cols; k++)
        e = fmax(e, fabs((double)a[i * cols + k] - b[j * cols + k]) / fmax(fabs(b[j * cols + k]), 1.0));
      best = fmin(best, e);
    }
    worst = fmax(worst, best);
  }
  return worst;
}

/* Runs one model on one image with both backends and TF.js; compares. */
static void parity_case(const char *model, const char *image, int frame) {
  if (!have_reference(model)) {
    print_message("models or TF.js missing (run scripts/setup-models.sh): skipping %s\n", model);
    skip();
  }
  char path[1200], err[512] = "";
  snprintf(path, sizeof(path), "%s/models/%s.json", root, model);
  vg_model_opts_t ref_opts = {.backend = VG_BACKEND_REF, .threads = 1},
                  cpu_opts = {.backend = VG_BACKEND_CPU, .threads = 2};
  vg_detector_t ref, cpu;
  assert_int_equal(vg_detector_open(&ref, path, NULL, &ref_opts, err, sizeof(err)), 0);
  assert_int_equal(vg_detector_open(&cpu, path, NULL, &cpu_opts, err, sizeof(err)), 0);
  vg_image_t img;
  snprintf(path, sizeof(path), IMAGES "%s", image);
  assert_int_equal(vg_image_load(&img, path, frame), 0);
  assert_int_equal(vg_detector_preprocess(&ref, &img), 0);
  memcpy(vg_detector_input(&cpu), ref.input.data, vg_tensor_bytes(&ref.input));

  /* The input is saved before the runs, which consume it. */
  char in_path[512], out_dir[512], cmd[4096];
  snprintf(in_path, sizeof(in_path), "%s/%s.in", tmpdir, model);
  snprintf(out_dir, sizeof(out_dir), "%s/%s.out", tmpdir, model);
  FILE *f = fopen(in_path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(ref.input.data, 1, vg_tensor_bytes(&ref.input), f), vg_tensor_bytes(&ref.input));
  fclose(f);
  assert_int_equal(vg_detector_run(&ref), 0);
  assert_int_equal(vg_detector_run(&cpu), 0);
  snprintf(cmd, sizeof(cmd),
           "cd '%s/tests/infer' && node reference.js --model '%s/models/%s.json' --input '%s' --out '%s' "
           ">/dev/null 2>'%s/node.err' || cat '%s/node.err' >&2",
           root, root, model, in_path, out_dir, tmpdir, tmpdir);
  assert_int_equal(system(cmd), 0);

  int nout = vg_model_output_count(ref.model);
  for (int i = 0; i < nout; i++) {
    const vg_tensor_t *r = vg_model_output(ref.model, i), *c = vg_model_output(cpu.model, i);
    size_t n = (size_t)vg_tensor_numel(r);
    snprintf(path, sizeof(path), "%s/%d.f32", out_dir, i);
    float *tf = read_f32(path, n);
    assert_non_null(tf);
    double abs_tf, abs_cpu;
    double e_tf = rel_error(r->data, tf, n, &abs_tf);
    double e_cpu = rel_error(c->data, r->data, n, &abs_cpu);
    if (strstr(vg_model_output_name(ref.model, i), "detections") && r->ndim == 3) {
      size_t rows = (size_t)r->dims[1], cols = (size_t)r->dims[2];
      e_tf = rows_error(r->data, tf, rows, cols);
      e_cpu = rows_error(c->data, r->data, rows, cols);
    }
    print_message("%s %s[%d] %s: ref vs tfjs rel %.2e (abs %.2e); cpu vs ref rel %.2e (abs %.2e)\n", model,
                  image, frame, vg_model_output_name(ref.model, i), e_tf, abs_tf, e_cpu, abs_cpu);
    assert_true(e_tf <= 1e-3);
    assert_true(e_cpu <= 1e-3);
    free(tf);
  }
  vg_image_free(&img);
  vg_detector_close(&ref);
  vg_detector_close(&cpu);
}

/* vigil's NanoDet detections (optimized backend, vigil's decoder) against an
 * independent decoder in reference.js on TF.js's outputs: the same objects,
 * boxes within 2 source pixels. */
static void nanodet_boxes_case(const char *image, int frame) {
  if (!have_reference("nanodet")) skip();
  char path[1200], err[512] = "", cmd[4096], in_path[512];
  snprintf(path, sizeof(path), "%s/models/nanodet.json", root);
  vg_model_opts_t opts = {.backend = VG_BACKEND_CPU, .threads = 1};
  vg_detector_t d;
  assert_int_equal(vg_detector_open(&d, path, NULL, &opts, err, sizeof(err)), 0);
  vg_image_t img;
  snprintf(path, sizeof(path), IMAGES "%s", image);
  assert_int_equal(vg_image_load(&img, path, frame), 0);
  assert_int_equal(vg_detector_preprocess(&d, &img), 0);
  snprintf(in_path, sizeof(in_path), "%s/boxes.in", tmpdir);
  FILE *f = fopen(in_path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(d.input.data, 1, vg_tensor_bytes(&d.input), f), vg_tensor_bytes(&d.input));
  fclose(f);
  assert_int_equal(vg_detector_run(&d), 0);
  vg_detection_t dets[100];
  int n = vg_detector_decode(&d, img.width, img.height, dets, 100);
  assert_true(n > 0);
  snprintf(cmd, sizeof(cmd),
           "cd '%s/tests/infer' && node reference.js --model '%s/models/nanodet.json' --input '%s' --decode "
           "nanodet "
           "--src-w %d --src-h %d --score %g --iou %g 2>/dev/null | tail -1",
           root, root, in_path, img.width, img.height, (double)d.score_threshold, (double)d.iou_threshold);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  static char out[1 << 16];
  size_t len = fread(out, 1, sizeof(out) - 1, p);
  out[len] = 0;
  assert_int_equal(pclose(p), 0);
  json_error_t je;
  json_t *root_js = json_loads(out, 0, &je);
  assert_non_null(root_js);
  json_t *arr = json_object_get(root_js, "detections");
  assert_true(json_is_array(arr));
  assert_int_equal((int)json_array_size(arr), n);
  for (int i = 0; i < n; i++) {
    json_t *o = json_array_get(arr, (size_t)i), *box = json_object_get(o, "box");
    int label = (int)json_integer_value(json_object_get(o, "class"));
    double score = json_number_value(json_object_get(o, "score"));
    print_message("%s: %s %.3f [%.1f %.1f %.1f %.1f] vs tfjs %.3f [%.1f %.1f %.1f %.1f]\n", image,
                  vg_coco_label(dets[i].label), dets[i].score, dets[i].x1, dets[i].y1, dets[i].x2, dets[i].y2,
                  score, json_number_value(json_array_get(box, 0)), json_number_value(json_array_get(box, 1)),
                  json_number_value(json_array_get(box, 2)), json_number_value(json_array_get(box, 3)));
    assert_int_equal(dets[i].label, label);
    assert_true(fabs(dets[i].score - score) < 1e-3);
    float mine[4] = {dets[i].x1, dets[i].y1, dets[i].x2, dets[i].y2};
    for (int k = 0; k < 4; k++)
      assert_true(fabs(mine[k] - json_number_value(json_array_get(box, (size_t)k))) <= 2.0);
  }
  json_decref(root_js);
  vg_image_free(&img);
  vg_detector_close(&d);
}

static void nanodet_boxes_messi(void **s) {
  nanodet_boxes_case("messi5.jpg", 0);
  (void)s;
}
static void nanodet_boxes_vtest(void **s) {
  nanodet_boxes_case("vtest.avi", 30);
  (void)s;
}

/* vigil's CenterNet decoder (heatmap peaks + box distances) against the
 * model's own in-graph decoder (its `detections` output): every detection
 * over the threshold must be one of ours, same class, same box. */
static void centernet_decoder_matches_graph(void **s) {
  char path[1200], err[512] = "";
  snprintf(path, sizeof(path), "%s/models/centernet.json", root);
  if (!have_reference("centernet")) skip();
  vg_model_opts_t opts = {.backend = VG_BACKEND_CPU, .threads = 1};
  vg_detector_t d;
  assert_int_equal(vg_detector_open(&d, path, NULL, &opts, err, sizeof(err)), 0);
  vg_image_t img;
  assert_int_equal(vg_image_load(&img, IMAGES "basketball1.png", 0), 0);
  assert_int_equal(vg_detector_preprocess(&d, &img), 0);
  assert_int_equal(vg_detector_run(&d), 0);
  d.iou_threshold = 1.5f; /* keep every peak: the graph does no NMS */
  vg_detection_t dets[100];
  int n = vg_detector_decode(&d, d.in_w, d.in_h, dets, 100);
  const vg_tensor_t *g = vg_model_output(d.model, vg_model_find_output(d.model, "tower_0/detections"));
  const float *row = g->data;
  int checked = 0;
  for (int64_t i = 0; i < g->dims[1]; i++, row += 6) {
    if (row[4] < d.score_threshold) continue;
    /* vigil clamps boxes to the image; the graph does not. */
    float b[4];
    for (int k = 0; k < 4; k++)
      b[k] = fmaxf(0.0f, fminf((float)d.in_w, row[k]));
    int found = 0;
    for (int k = 0; k < n && !found; k++)
      found = dets[k].label == (int)row[5] && fabsf(dets[k].score - row[4]) < 1e-6f &&
              fabsf(dets[k].x1 - b[0]) < 0.01f && fabsf(dets[k].y1 - b[1]) < 0.01f &&
              fabsf(dets[k].x2 - b[2]) < 0.01f && fabsf(dets[k].y2 - b[3]) < 0.01f;
    assert_true(found);
    checked++;
  }
  assert_true(checked > 0);
  vg_image_free(&img);
  vg_detector_close(&d);
  (void)s;
}

static void nanodet_messi(void **s) { parity_case("nanodet", "messi5.jpg", 0), (void)s; }
static void centernet_messi(void **s) { parity_case("centernet", "messi5.jpg", 0), (void)s; }
static void nanodet_basketball(void **s) { parity_case("nanodet", "basketball1.png", 0), (void)s; }
static void centernet_basketball(void **s) { parity_case("centernet", "basketball1.png", 0), (void)s; }
static void nanodet_plate(void **s) { parity_case("nanodet", "licenseplate_motion.jpg", 0), (void)s; }
static void centernet_plate(void **s) { parity_case("centernet", "licenseplate_motion.jpg", 0), (void)s; }
static void nanodet_vtest(void **s) { parity_case("nanodet", "vtest.avi", 30), (void)s; }
static void centernet_vtest(void **s) { parity_case("centernet", "vtest.avi", 30), (void)s; }

int main(void) {
  const struct CMUnitTest full[] = {
      cmocka_unit_test(nanodet_messi),
      cmocka_unit_test(centernet_messi),
      cmocka_unit_test(nanodet_basketball),
      cmocka_unit_test(centernet_basketball),
      cmocka_unit_test(nanodet_plate),
      cmocka_unit_test(centernet_plate),
      cmocka_unit_test(nanodet_vtest),
      cmocka_unit_test(centernet_vtest),
      cmocka_unit_test(nanodet_boxes_messi),
      cmocka_unit_test(nanodet_boxes_vtest),
      cmocka_unit_test(centernet_decoder_matches_graph),
  };
  const struct CMUnitTest light[] = {
      cmocka_unit_test(nanodet_messi),
      cmocka_unit_test(centernet_vtest),
      cmocka_unit_test(nanodet_boxes_messi),
  };
  if (VG_TEST_LIGHT) return cmocka_run_group_tests(light, setup, teardown);
  return cmocka_run_group_tests(full, setup, teardown);
}
