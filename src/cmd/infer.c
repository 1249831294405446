/* infer.c: `vigil infer`: run a detection model on an image.
 *
 *   vigil infer --model nanodet --image messi5.jpg [--json] [--threads N] [--bench]
 *
 * Also the tool behind the parity tests and benchmarks: --dump-input writes
 * the preprocessed input tensor, --input reads one instead of an image, and
 * --dump-outputs writes every raw output tensor (little-endian f32). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "cmd/commands.h"
#include "infer/detect.h"
#include "infer/quant.h"

static void usage(FILE *out) {
  fprintf(out, "usage: vigil infer --model NAME|PATH --image FILE [options]\n"
               "  --model NAME|PATH    nanodet, centernet, or a model.json path\n"
               "  --image FILE         image (or video: see --frame) to detect objects in\n"
               "  --frame N            video frame to use (default 0)\n"
               "  --json               print detections as JSON\n"
               "  --threads N          worker threads (default 1)\n"
               "  --backend ref|cpu    kernels: plain C reference or optimized (default cpu)\n"
               "  --precision f32|int8 convolution arithmetic (default f32; int8 needs AVX-512\n"
               "                       VNNI on the cpu backend, else runs f32)\n"
               "  --bench [RUNS]       time RUNS inferences (default 20): median, p99, GFLOP/s\n"
               "  --preprocess P       rgb01 | bgrnorm | rgb255 | bgr255 (default: the model's)\n"
               "  --score T            minimum score (default: the model's)\n"
               "  --models-dir DIR     where NAME.json lives (default $VIGIL_MODELS or ./models)\n"
               "  --input FILE         raw f32 input tensor instead of --image\n"
               "  --dump-input FILE    write the preprocessed input tensor (raw f32)\n"
               "  --dump-outputs DIR   write each output as DIR/<index>.f32\n");
}

/* A /proc/self/status field in KiB (VmRSS:, VmHWM:), or -1. */
static long proc_status_kib(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  size_t kl = strlen(key);
  while (f && fgets(line, sizeof(line), f))
    if (!strncmp(line, key, kl)) v = atol(line + kl);
  if (f) fclose(f);
  return v;
}

/* Resets the peak resident set (VmHWM) to the current one (Linux 4.0 and
 * later); returns 1 when it did. */
static int reset_peak_rss(void) {
  FILE *f = fopen("/proc/self/clear_refs", "w");
  if (!f) return 0;
  int ok = fputs("5", f) >= 0;
  return fclose(f) == 0 && ok;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int write_raw(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = fwrite(data, 1, len, f);
  return fclose(f) == 0 && w == len ? 0 : -1;
}

static int read_raw(const char *path, void *data, size_t len) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t r = fread(data, 1, len, f);
  int extra = fgetc(f);
  fclose(f);
  return r == len && extra == EOF ? 0 : -1;
}

int vg_cmd_infer(int argc, char **argv) {
  const char *model = NULL, *image = NULL, *pre = NULL, *dump_in = NULL, *dump_out = NULL, *raw_in = NULL;
  const char *models_dir = getenv("VIGIL_MODELS");
  int json = 0, threads = 1, bench = 0, frame = 0, rc0;
  float score = -1;
  vg_model_opts_t opts = {.backend = VG_BACKEND_CPU, .threads = 1};
  static const struct option longopts[] = {{"model", required_argument, 0, 'm'},
                                           {"image", required_argument, 0, 'i'},
                                           {"json", no_argument, 0, 'j'},
                                           {"threads", required_argument, 0, 't'},
                                           {"bench", optional_argument, 0, 'b'},
                                           {"backend", required_argument, 0, 'B'},
                                           {"preprocess", required_argument, 0, 'p'},
                                           {"score", required_argument, 0, 's'},
                                           {"models-dir", required_argument, 0, 'M'},
                                           {"dump-input", required_argument, 0, 'D'},
                                           {"dump-outputs", required_argument, 0, 'O'},
                                           {"input", required_argument, 0, 'I'},
                                           {"frame", required_argument, 0, 'f'},
                                           {"precision", required_argument, 0, 'P'},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "m:i:jt:b::B:p:s:M:D:O:I:f:P:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'm': model = optarg; break;
    case 'i': image = optarg; break;
    case 'j': json = 1; break;
    case 't': threads = atoi(optarg); break;
    case 'b':
      bench = 20;
      if (optarg)
        bench = atoi(optarg);
      else if (optind < argc && argv[optind][0] >= '0' && argv[optind][0] <= '9')
        bench = atoi(argv[optind++]);
      break;
    case 'B':
      if (!strcmp(optarg, "ref"))
        opts.backend = VG_BACKEND_REF;
      else if (!strcmp(optarg, "cpu"))
        opts.backend = VG_BACKEND_CPU;
      else {
        usage(stderr);
        return 2;
      }
      break;
    case 'p': pre = optarg; break;
    case 's': score = (float)atof(optarg); break;
    case 'M': models_dir = optarg; break;
    case 'D': dump_in = optarg; break;
    case 'O': dump_out = optarg; break;
    case 'I': raw_in = optarg; break;
    case 'f': frame = atoi(optarg); break;
    case 'P':
      if (vg_precision_parse(optarg, &opts.precision)) {
        usage(stderr);
        return 2;
      }
      break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (!model || (!image && !raw_in) || threads < 1 || threads > 256 || bench < 0) {
    usage(stderr);
    return 2;
  }
  opts.threads = threads;
  char err[1024] = "";
  vg_detector_t d;
  /* The image is decoded before the model is loaded, so that the memory
   * figures of --bench (the peak resident set from here on, less the
   * resident set here) count the model and its detector only. */
  vg_image_t img = {0};
  if (!raw_in && (rc0 = vg_image_load(&img, image, frame))) {
    fprintf(stderr, "vigil infer: cannot decode %s: %s\n", image, vg_strerror(rc0));
    return 1;
  }
  long rss_base = proc_status_kib("VmRSS:");
  int hwm_reset = reset_peak_rss();
  double t0 = now_ms();
  int rc = vg_detector_open(&d, model, models_dir, &opts, err, sizeof(err));
  if (rc) {
    fprintf(stderr, "vigil infer: %s\n", err[0] ? err : vg_strerror(rc));
    vg_image_free(&img);
    return 1;
  }
  double load_ms = now_ms() - t0;
  if (pre) {
    if (!strcmp(pre, "rgb01"))
      d.pre = VG_PRE_RGB_UNIT;
    else if (!strcmp(pre, "bgrnorm"))
      d.pre = VG_PRE_BGR_MEANSTD;
    else if (!strcmp(pre, "rgb255"))
      d.pre = VG_PRE_RGB_BYTE;
    else if (!strcmp(pre, "bgr255"))
      d.pre = VG_PRE_BGR_BYTE;
    else {
      fprintf(stderr, "vigil infer: unknown preprocessing '%s'\n", pre);
      vg_detector_close(&d);
      vg_image_free(&img);
      return 2;
    }
  }
  if (score >= 0) d.score_threshold = score;
  if (raw_in) {
    if (read_raw(raw_in, vg_detector_input(&d), vg_tensor_bytes(&d.input))) {
      fprintf(stderr, "vigil infer: %s is not a raw f32 tensor of the model's input size\n", raw_in);
      vg_detector_close(&d);
      return 1;
    }
    img.width = d.in_w;
    img.height = d.in_h;
  } else {
    rc = vg_detector_preprocess(&d, &img);
  }
  if (dump_in && write_raw(dump_in, d.input.data, vg_tensor_bytes(&d.input))) {
    fprintf(stderr, "vigil infer: cannot write %s\n", dump_in);
    rc = VG_EIO;
  }
  if (!rc) rc = vg_detector_run(&d);
  if (rc) {
    fprintf(stderr, "vigil infer: run failed: %s\n", vg_strerror(rc));
    vg_image_free(&img);
    vg_detector_close(&d);
    return 1;
  }
  if (dump_out) {
    for (int i = 0; i < vg_model_output_count(d.model); i++) {
      const vg_tensor_t *t = vg_model_output(d.model, i);
      char path[1200];
      snprintf(path, sizeof(path), "%s/%d.f32", dump_out, i);
      if (write_raw(path, t->data, vg_tensor_bytes(t))) {
        fprintf(stderr, "vigil infer: cannot write %s\n", path);
        rc = VG_EIO;
      }
    }
  }
  vg_detection_t dets[100];
  int n = vg_detector_decode(&d, img.width, img.height, dets, 100);
  if (bench > 0) {
    vg_model_stats_t st;
    vg_model_get_stats(d.model, &st);
    int profile = getenv("VIGIL_PROFILE") != NULL;
    if (profile) vg_model_set_profiling(d.model, 1);
    double *ms = calloc((size_t)bench, sizeof(double));
    /* A run consumes its input (the detector builds it in the model's
     * arena), so each one gets it written again, outside the timing: the
     * image preprocessed (as the inference server does for every frame),
     * or the raw tensor read again. */
    double *pre_ms = calloc((size_t)bench, sizeof(double));
    for (int i = 0; ms && pre_ms && i < bench; i++) {
      double s = now_ms();
      if (raw_in ? read_raw(raw_in, vg_detector_input(&d), vg_tensor_bytes(&d.input))
                 : vg_detector_preprocess(&d, &img))
        break;
      pre_ms[i] = now_ms() - s;
      s = now_ms();
      vg_detector_run(&d);
      ms[i] = now_ms() - s;
    }
    if (ms && pre_ms) {
      qsort(ms, (size_t)bench, sizeof(double), cmp_double);
      qsort(pre_ms, (size_t)bench, sizeof(double), cmp_double);
      double med = ms[bench / 2], p99 = ms[(int)((bench - 1) * 0.99 + 0.5)];
      long rss_peak = proc_status_kib("VmHWM:");
      long rss_added = hwm_reset && rss_peak >= rss_base ? rss_peak - rss_base : -1;
      if (json)
        printf("{\"model\":\"%s\",\"backend\":\"%s\",\"threads\":%d,\"runs\":%d,\"median_ms\":%.3f,\"p99_"
               "ms\":%.3f,"
               "\"min_ms\":%.3f,\"gflop\":%.4f,\"gflops\":%.2f,\"weights_bytes\":%zu,\"arena_bytes\":%zu,"
               "\"unplanned_bytes\":%zu,\"file_weights_bytes\":%zu,\"rss_base_kib\":%ld,\"rss_peak_kib\":%ld,"
               "\"rss_added_kib\":%ld,\"load_ms\":%.1f,\"input_ms\":%.3f}\n",
               model, st.backend, threads, bench, med, p99, ms[0], st.flops / 1e9, st.flops / 1e6 / med,
               st.weight_bytes, st.arena_bytes, st.unplanned_bytes, st.file_weight_bytes, rss_base, rss_peak,
               rss_added, load_ms, pre_ms[bench / 2]);
      else
        printf("%s (%s, %d thread%s): median %.2f ms, p99 %.2f ms, min %.2f ms over %d runs; %.3f GFLOP per "
               "run, "
               "%.1f GFLOP/s; weights %.1f MiB, activations %.1f MiB (peak live %.1f, %.1f MiB unplanned); "
               "load %.0f ms\n",
               model, st.backend, threads, threads == 1 ? "" : "s", med, p99, ms[0], bench, st.flops / 1e9,
               st.flops / 1e6 / med, (double)st.weight_bytes / 1048576.0, (double)st.arena_bytes / 1048576.0,
               (double)st.peak_live_bytes / 1048576.0, (double)st.unplanned_bytes / 1048576.0, load_ms);
    }
    free(ms);
    free(pre_ms);
    if (profile) {
      /* The slowest nodes, for finding what to optimize next. */
      int nn = vg_model_profile(d.model, NULL, 0);
      vg_model_prof_t *pr = calloc((size_t)nn + 1, sizeof(*pr));
      if (pr) {
        vg_model_profile(d.model, pr, nn);
        for (int k = 0; k < 25 && k < nn; k++) {
          int best = k;
          for (int q = k + 1; q < nn; q++)
            if (pr[q].ms > pr[best].ms) best = q;
          vg_model_prof_t t = pr[k];
          pr[k] = pr[best];
          pr[best] = t;
          fprintf(stderr, "%8.2f ms  %6.1f GFLOP/s  %-12s %s\n", pr[k].ms / bench,
                  pr[k].ms > 0 ? pr[k].flops * bench / pr[k].ms / 1e6 : 0.0, pr[k].op, pr[k].name);
        }
        free(pr);
      }
    }
  } else if (json) {
    printf("{\"model\":\"%s\",\"width\":%d,\"height\":%d,\"detections\":[", model, img.width, img.height);
    for (int i = 0; i < n; i++)
      printf("%s{\"label\":\"%s\",\"class\":%d,\"score\":%.4f,\"box\":[%.1f,%.1f,%.1f,%.1f]}", i ? "," : "",
             vg_coco_label(dets[i].label), dets[i].label, dets[i].score, dets[i].x1, dets[i].y1, dets[i].x2,
             dets[i].y2);
    printf("]}\n");
  } else {
    for (int i = 0; i < n; i++)
      printf("%-14s %.3f  x1=%.0f y1=%.0f x2=%.0f y2=%.0f\n", vg_coco_label(dets[i].label), dets[i].score,
             dets[i].x1, dets[i].y1, dets[i].x2, dets[i].y2);
    if (n == 0) printf("no detections\n");
  }
  vg_image_free(&img);
  vg_detector_close(&d);
  return rc || n < 0 ? 1 : 0;
}
