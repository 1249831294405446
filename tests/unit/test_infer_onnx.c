/* test_infer_onnx.c: ONNX's backend node tests from Debian's
 * libonnx-testdata (/usr/share/libonnx-testdata/data/node/test_* with
 * model.onnx and test_data_set_0/{input,output}_N.pb).
 *
 * Each case is loaded, run on both backends and compared with the expected
 * outputs (ONNX's tolerance: rtol 1e-3, plus a small atol). A case whose
 * operator or variant vigil does not implement is SKIPPED (the loader says
 * VG_EUNSUPPORTED); anything else that goes wrong is FAILED. The engine needs
 * static shapes, so every input except the first becomes a constant holding
 * the test's data (shape inputs of Reshape, Slice, Pad... must be constant).
 * Prints one line per case and a summary; fails when any case fails.
 *
 * VG_ONNX_FILTER=substring runs only matching cases. */
#include <dirent.h>
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
#include "infer/model.h"

#define NODE_DIR "/usr/share/libonnx-testdata/data/node"

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return b;
}

static int load_pb(const char *dir, const char *kind, int i, vg_tensor_t *t) {
  char path[1024];
  snprintf(path, sizeof(path), "%s/test_data_set_0/%s_%d.pb", dir, kind, i);
  size_t len;
  uint8_t *b = slurp(path, &len);
  if (!b) return VG_ENOENT;
  int err = vg_onnx_tensor(b, len, t, NULL);
  free(b);
  return err;
}

static int close_enough(const vg_tensor_t *got, const vg_tensor_t *want, char *why, size_t wl) {
  if (!vg_tensor_same_shape(got, want)) {
    char a[128], b[128];
    snprintf(why, wl, "shape %s, expected %s", vg_tensor_describe(got, a, sizeof(a)),
             vg_tensor_describe(want, b, sizeof(b)));
    return 0;
  }
  if (got->dtype != want->dtype) {
    snprintf(why, wl, "dtype %s, expected %s", vg_dtype_name(got->dtype), vg_dtype_name(want->dtype));
    return 0;
  }
  int64_t n = vg_tensor_numel(got);
  for (int64_t i = 0; i < n; i++) {
    double a, b;
    switch (got->dtype) {
    case VG_DT_F32: a = ((const float *)got->data)[i], b = ((const float *)want->data)[i]; break;
    case VG_DT_I32: a = ((const int32_t *)got->data)[i], b = ((const int32_t *)want->data)[i]; break;
    default: a = ((const uint8_t *)got->data)[i], b = ((const uint8_t *)want->data)[i]; break;
    }
    if (isnan(a) && isnan(b)) continue;
    if (isinf(a) && isinf(b) && (a > 0) == (b > 0)) continue;
    if (!(fabs(a - b) <= 1e-5 + 1e-3 * fabs(b))) {
      snprintf(why, wl, "element %lld: %g, expected %g", (long long)i, a, b);
      return 0;
    }
  }
  return 1;
}

enum { PASS, FAIL, SKIP };

/* Runs one case on one backend; why says what went wrong. */
static int run_case(const char *dir, vg_backend_kind_t backend, char *why, size_t wl) {
  char path[1024];
  snprintf(path, sizeof(path), "%s/model.onnx", dir);
  size_t len;
  uint8_t *buf = slurp(path, &len);
  if (!buf) {
    snprintf(why, wl, "cannot read model.onnx");
    return FAIL;
  }
  vg_graph_t g;
  vg_graph_init(&g);
  int err = vg_onnx_parse(&g, buf, len);
  free(buf);
  if (err) {
    snprintf(why, wl, "%s", g.err);
    vg_graph_free(&g);
    return err == VG_EUNSUPPORTED ? SKIP : FAIL;
  }
  /* Bind the test's inputs: shapes from the data, constants past the first. */
  int first_runtime = -1;
  vg_tensor_t run_in = {0};
  for (int i = 0; i < g.n_inputs; i++) {
    vg_tensor_t t;
    if ((err = load_pb(dir, "input", i, &t))) {
      snprintf(why, wl, "input_%d.pb: %s", i, vg_strerror(err));
      vg_graph_free(&g);
      return err == VG_EUNSUPPORTED ? SKIP : FAIL;
    }
    vg_value_t *v = &g.values[g.inputs[i]];
    vg_tensor_clear(&v->t);
    if (i == 0 && t.dtype == VG_DT_F32) {
      vg_tensor_set_shape(&v->t, t.dtype, t.ndim, t.dims);
      run_in = t;
      first_runtime = g.inputs[0];
    } else {
      v->t = t;
      v->is_const = 1;
      v->is_input = 0;
    }
  }
  int k = 0;
  for (int i = 0; i < g.n_inputs; i++)
    if (g.inputs[i] == first_runtime) g.inputs[k++] = g.inputs[i];
  g.n_inputs = k;
  vg_model_t *m = NULL;
  vg_model_opts_t opts = {.backend = backend, .threads = 1};
  char err_text[512] = "";
  err = vg_model_from_graph(&m, &g, &opts, err_text, sizeof(err_text));
  if (err) {
    snprintf(why, wl, "%s", err_text);
    vg_tensor_clear(&run_in);
    return err == VG_EUNSUPPORTED ? SKIP : FAIL;
  }
  int result = PASS;
  err = vg_model_run(m, &run_in, k);
  if (err) {
    snprintf(why, wl, "run: %s", vg_strerror(err));
    result = FAIL;
  }
  for (int i = 0; result == PASS && i < vg_model_output_count(m); i++) {
    vg_tensor_t want;
    if ((err = load_pb(dir, "output", i, &want))) {
      snprintf(why, wl, "output_%d.pb: %s", i, vg_strerror(err));
      result = err == VG_EUNSUPPORTED ? SKIP : FAIL;
      break;
    }
    if (!close_enough(vg_model_output(m, i), &want, why, wl)) result = FAIL;
    vg_tensor_clear(&want);
  }
  vg_tensor_clear(&run_in);
  vg_model_free(&m);
  return result;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void onnx_node_tests(void **state) {
  DIR *d = opendir(NODE_DIR);
  if (!d) {
    print_message("%s missing (apt-get install libonnx-testdata): skipping\n", NODE_DIR);
    skip();
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  const char *filter = getenv("VG_ONNX_FILTER");
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, "test_", 5) || (filter && !strstr(e->d_name, filter))) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 256;
      names = realloc(names, cap * sizeof(char *));
      assert_non_null(names);
    }
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof(char *), by_name);
  int counts[3] = {0, 0, 0};
  for (size_t i = 0; i < n; i++) {
    char dir[1024], why[700] = "", why_cpu[600] = "";
    snprintf(dir, sizeof(dir), "%s/%s", NODE_DIR, names[i]);
    int r = run_case(dir, VG_BACKEND_REF, why, sizeof(why));
    if (r == PASS) {
      int c = run_case(dir, VG_BACKEND_CPU, why_cpu, sizeof(why_cpu));
      if (c != PASS) {
        r = FAIL;
        snprintf(why, sizeof(why), "cpu backend: %s", why_cpu);
      }
    }
    counts[r]++;
    print_message("%-6s %s%s%s\n",
                  r == PASS   ? "PASS"
                  : r == FAIL ? "FAIL"
                              : "SKIP",
                  names[i], why[0] ? ": " : "", why);
    free(names[i]);
  }
  free(names);
  print_message("onnx node tests: %d passed, %d failed, %d skipped\n", counts[PASS], counts[FAIL],
                counts[SKIP]);
  assert_int_equal(counts[FAIL], 0);
  assert_true(counts[PASS] > 0 || filter);
  (void)state;
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(onnx_node_tests)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
