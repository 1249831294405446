/* cpu_int8.c: the int8 path (see quant.h): the weight quantization pass,
 * the portable reference kernel, the threaded VNNI convolution and the two
 * int8 backends. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "infer/cpu_simd.h"
#include "infer/quant.h"

/* Output channels a quantized convolution may have (the epilogue's scale
 * vector lives on the kernel's stack). */
#define Q8_MAX_CO 4096

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
static pthread_once_t vnni_once = PTHREAD_ONCE_INIT;
static int vnni_cpu;
static void probe_vnni(void) {
  __builtin_cpu_init();
  vnni_cpu = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}
#endif

int vg_int8_vnni_available(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  pthread_once(&vnni_once, probe_vnni);
  return vnni_cpu && !getenv("VIGIL_NO_VNNI");
#else
  return 0;
#endif
}

int vg_precision_parse(const char *name, vg_precision_t *out) {
  if (!strcmp(name, "f32"))
    *out = VG_PRECISION_F32;
  else if (!strcmp(name, "int8"))
    *out = VG_PRECISION_INT8;
  else
    return VG_EINVAL;
  return 0;
}

void vg_q8_params(float lo, float hi, vg_q8_params_t *p) {
  /* The range always holds 0, so that 0 (zero padding, a ReLU's floor)
   * quantizes exactly to the zero point. */
  if (lo > 0) lo = 0;
  if (hi < 0) hi = 0;
  float scale = (hi - lo) / 255.0f;
  if (!(scale > 0) || !isfinite(scale)) scale = 1.0f;
  p->scale = scale;
  p->inv = 1.0f / scale;
  long zp = lrintf(-lo * p->inv);
  p->zp = (int32_t)(zp < 0 ? 0 : zp > 255 ? 255 : zp);
}

static inline uint8_t quantize_one(float x, float inv, int32_t zp) {
  long q = lrintf(x * inv) + zp;
  return (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
}

/* ---- the graph pass ------------------------------------------------------------ */

static int new_const(vg_graph_t *g, const char *base, vg_dtype_t dt, int ndim, const int64_t *dims_in) {
  char name[600];
  snprintf(name, sizeof(name), "%s/q8_%d", base, g->n_values);
  int64_t dims[VG_TENSOR_MAX_DIMS];
  memcpy(dims, dims_in, sizeof(int64_t) * (size_t)ndim);
  int v = vg_graph_add_value(g, name);
  if (v < 0) return v;
  vg_value_t *val = &g->values[v];
  int err = vg_tensor_set_shape(&val->t, dt, ndim, dims);
  if (!err) err = vg_tensor_alloc(&val->t);
  if (err) return err;
  val->is_const = 1;
  return v;
}

static int is_const_f32(const vg_graph_t *g, int v) {
  return v >= 0 && g->values[v].is_const && g->values[v].t.dtype == VG_DT_F32 && g->values[v].t.data;
}

static int skipped(const char *name) {
  const char *list = getenv("VIGIL_INT8_SKIP");
  size_t len = strlen(name);
  for (const char *p = list; p && *p;) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n == len && strncmp(p, name, n) == 0) return 1;
    p = end ? end + 1 : NULL;
  }
  return 0;
}

static int is_depthwise_conv(const vg_graph_t *g, const vg_node_t *n) {
  return !n->dead && n->op == VG_OP_CONV && n->a.filter_layout == VG_FILTER_HWCM && n->n_in > 1 &&
         n->in[1] >= 0 && g->values[n->in[1]].t.ndim == 4 && g->values[n->in[1]].t.dims[3] == 1;
}

/* A 1x1 convolution next to a depthwise one over a large tensor: the CPU
 * backend fuses the pair so that the tensor between them never exists
 * whole (cpu.c, fuse_expand_dw; CenterNet's 16 MiB expansion), which a
 * quantized convolution would prevent, so those stay f32. */
static int fused_with_depthwise(const vg_graph_t *g, const vg_node_t *c) {
  const vg_tensor_t *w = &g->values[c->in[1]].t;
  if (w->dims[0] != 1 || w->dims[1] != 1) return 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const vg_node_t *d = &g->nodes[i];
    if (!is_depthwise_conv(g, d)) continue;
    if (d->in[0] == c->out[0] && vg_tensor_bytes(&g->values[c->out[0]].t) >= ((size_t)1 << 20)) return 1;
    if (d->out[0] == c->in[0] && vg_tensor_bytes(&g->values[c->in[0]].t) >= ((size_t)1 << 20)) return 1;
  }
  return 0;
}

static int quantizable(const vg_graph_t *g, const vg_node_t *c) {
  if (c->dead || c->op != VG_OP_CONV || c->a.quant || c->a.fdw.on || c->a.winograd) return 0;
  if (c->a.layout != VG_LAYOUT_NHWC || c->a.filter_layout != VG_FILTER_HWIO || c->a.group != 1 ||
      c->a.dilations[0] != 1 || c->a.dilations[1] != 1)
    return 0;
  if (!is_const_f32(g, c->in[1]) || (c->n_in > 2 && c->in[2] >= 0 && !is_const_f32(g, c->in[2]))) return 0;
  const vg_tensor_t *w = &g->values[c->in[1]].t, *x = &g->values[c->in[0]].t;
  /* 255 * 127 per product: s32 sums stay exact up to K = 2^16. */
  if (w->ndim == 4 && w->dims[0] * w->dims[1] * w->dims[2] > ((int64_t)1 << 16)) return 0;
  return w->ndim == 4 && x->ndim == 4 && x->dtype == VG_DT_F32 && w->dims[3] <= Q8_MAX_CO &&
         !skipped(c->name) && !fused_with_depthwise(g, c);
}

static int quantize_node(vg_graph_t *g, int i) {
  vg_node_t *c = &g->nodes[i];
  const vg_tensor_t *w = &g->values[c->in[1]].t;
  int64_t KH = w->dims[0], KW = w->dims[1], K = KH * KW * w->dims[2], N = w->dims[3];
  int64_t K4 = (K + 3) & ~(int64_t)3, P = (N + VG_Q8_NR - 1) / VG_Q8_NR;
  char base[512];
  snprintf(base, sizeof(base), "%s", g->values[c->in[1]].name);
  int64_t wd[3] = {P, K4 / 4, VG_Q8_NR}, nd[1] = {P * VG_Q8_NR};
  int wv = new_const(g, base, VG_DT_I32, 3, wd);
  int bv = wv < 0 ? wv : new_const(g, base, VG_DT_F32, 1, nd);
  int sv = bv < 0 ? bv : new_const(g, base, VG_DT_F32, 1, nd);
  int cv = sv < 0 ? sv : new_const(g, base, VG_DT_I32, 1, nd);
  if (cv < 0) return cv;
  c = &g->nodes[i];
  const float *src = g->values[c->in[1]].t.data;
  int8_t *dst = g->values[wv].t.data;
  float *scale = g->values[sv].t.data, *bias = g->values[bv].t.data;
  int32_t *colsum = g->values[cv].t.data;
  for (int64_t n = 0; n < N; n++) {
    float mx = 0;
    for (int64_t k = 0; k < K; k++)
      mx = fmaxf(mx, fabsf(src[k * N + n]));
    float s = mx > 0 ? mx / 127.0f : 1.0f, inv = 1.0f / s;
    int32_t sum = 0;
    for (int64_t k = 0; k < K; k++) {
      long q = lrintf(src[k * N + n] * inv);
      q = q < -127 ? -127 : q > 127 ? 127 : q;
      dst[((n / VG_Q8_NR * (K4 / 4) + k / 4) * VG_Q8_NR + n % VG_Q8_NR) * 4 + k % 4] = (int8_t)q;
      sum += (int32_t)q;
    }
    scale[n] = s;
    colsum[n] = sum;
  }
  if (c->n_in > 2 && c->in[2] >= 0) memcpy(bias, g->values[c->in[2]].t.data, sizeof(float) * (size_t)N);
  c->in[1] = wv;
  c->in[2] = bv;
  c->in[3] = sv;
  c->in[4] = cv;
  c->n_in = 5;
  c->a.ksize[0] = KH;
  c->a.ksize[1] = KW;
  c->a.filter_layout = VG_FILTER_PACKED;
  c->a.k = 0;
  c->a.quant = 1;
  return 0;
}

int vg_int8_quantize_graph(vg_graph_t *g) {
  for (int i = 0; i < g->n_nodes; i++) {
    if (!quantizable(g, &g->nodes[i])) continue;
    int err = quantize_node(g, i);
    if (err) return err;
  }
  return 0;
}

/* Shapes and pointers of one quantized convolution. */
typedef struct {
  const vg_node_t *n;
  const float *x, *bias, *wscale;
  const int32_t *wq, *colsum;
  float *y;
  int64_t B, H, W, C, OH, OW, CO, KH, KW, K, K4, M, P;
  vg_q8_params_t q;
} q8_conv_t;

static void q8_setup(q8_conv_t *j, const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out) {
  const vg_tensor_t *x = in[0], *y = out[0];
  memset(j, 0, sizeof(*j));
  j->n = n;
  j->x = x->data;
  j->wq = in[1]->data;
  j->bias = in[2]->data;
  j->wscale = in[3]->data;
  j->colsum = in[4]->data;
  j->y = y->data;
  j->B = x->dims[0], j->H = x->dims[1], j->W = x->dims[2], j->C = x->dims[3];
  j->OH = y->dims[1], j->OW = y->dims[2], j->CO = y->dims[3];
  j->KH = n->a.ksize[0], j->KW = n->a.ksize[1];
  j->K = j->KH * j->KW * j->C;
  j->K4 = (j->K + 3) & ~(int64_t)3;
  j->M = j->B * j->OH * j->OW;
  j->P = (j->CO + VG_Q8_NR - 1) / VG_Q8_NR;
}

/* ---- the portable reference kernel ---------------------------------------------- */

static int k_q8_conv_ref(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out,
                         vg_exec_ctx_t *ctx) {
  (void)ctx;
  q8_conv_t j;
  q8_setup(&j, n, in, out);
  const vg_attrs_t *a = &n->a;
  int64_t nx = vg_tensor_numel(in[0]);
  float lo = 0, hi = 0;
  for (int64_t i = 0; i < nx; i++) {
    lo = fminf(lo, j.x[i]);
    hi = fmaxf(hi, j.x[i]);
  }
  vg_q8_params(lo, hi, &j.q);
  const int8_t *wb = (const int8_t *)j.wq;
  for (int64_t pix = 0; pix < j.M; pix++) {
    int64_t b = pix / (j.OH * j.OW), oy = pix / j.OW % j.OH, ox = pix % j.OW;
    for (int64_t co = 0; co < j.CO; co++) {
      const int8_t *panel = wb + co / VG_Q8_NR * (j.K4 / 4) * VG_Q8_NR * 4 + co % VG_Q8_NR * 4;
      int32_t acc = 0;
      for (int64_t ky = 0; ky < j.KH; ky++)
        for (int64_t kx = 0; kx < j.KW; kx++) {
          int64_t iy = oy * a->strides[0] - a->pads[0] + ky, ix = ox * a->strides[1] - a->pads[1] + kx;
          int inside = iy >= 0 && iy < j.H && ix >= 0 && ix < j.W;
          const float *src = inside ? j.x + ((b * j.H + iy) * j.W + ix) * j.C : NULL;
          for (int64_t ci = 0; ci < j.C; ci++) {
            int64_t k = (ky * j.KW + kx) * j.C + ci;
            int32_t q = src ? quantize_one(src[ci], j.q.inv, j.q.zp) : j.q.zp;
            acc += q * panel[(k / 4) * VG_Q8_NR * 4 + k % 4];
          }
        }
      float m = j.q.scale * j.wscale[co];
      j.y[pix * j.CO + co] = fmaf((float)(acc - j.q.zp * j.colsum[co]), m, j.bias[co]);
    }
  }
  vg_apply_act(j.y, j.M * j.CO, a->act, a->alpha, a->beta);
  return 0;
}

/* ---- the VNNI kernel ------------------------------------------------------------ */

#define Q8_MB 48     /* output pixels per task */
#define Q8_CHUNKS 16 /* pieces of the min/max pass */

static pthread_key_t q8_key;
static pthread_once_t q8_once = PTHREAD_ONCE_INIT;
static void q8_free_slots(void *p);
static void q8_make_key(void) { pthread_key_create(&q8_key, q8_free_slots); }

/* Per-thread memory, grown on demand and freed when the thread ends: slot
 * 0 holds the quantized input (the calling thread's, shared with the
 * workers for one kernel call), slot 1 a task's im2col rows. */
static uint8_t *q8_scratch(int slot, size_t bytes) {
  pthread_once(&q8_once, q8_make_key);
  size_t **slots = pthread_getspecific(q8_key);
  if (!slots) {
    slots = calloc(3, sizeof(*slots));
    if (!slots) return NULL;
    pthread_setspecific(q8_key, slots);
  }
  size_t *s = slots[slot];
  if (!s || s[0] < bytes) {
    free(s);
    s = slots[slot] = malloc(sizeof(size_t) + bytes + 64);
    if (!s) return NULL;
    s[0] = bytes;
  }
  return (uint8_t *)(s + 1);
}

static void q8_free_slots(void *p) {
  size_t **slots = p;
  for (int i = 0; slots && i < 3; i++)
    free(slots[i]);
  free(slots);
}

typedef struct {
  q8_conv_t c;
  const vg_cpu_simd_t *s;
  uint8_t *xq; /* the whole input, quantized */
  float lo[Q8_CHUNKS], hi[Q8_CHUNKS];
  int64_t nx, chunk;
  int direct; /* 1x1, stride 1, no padding, C a multiple of 4: xq's rows are A's */
  float mscale[Q8_MAX_CO + VG_Q8_NR];
  int failed;
} q8_job_t;

static void minmax_task(void *arg, int64_t i) {
  q8_job_t *j = arg;
  int64_t s = i * j->chunk, len = j->nx - s < j->chunk ? j->nx - s : j->chunk;
  j->lo[i] = j->hi[i] = 0;
  if (len > 0) vg_q8_minmax_vnni(j->c.x + s, len, &j->lo[i], &j->hi[i]);
}

static void quantize_task(void *arg, int64_t i) {
  q8_job_t *j = arg;
  int64_t s = i * j->chunk, len = j->nx - s < j->chunk ? j->nx - s : j->chunk;
  if (len > 0) vg_q8_quantize_vnni(j->c.x + s, len, j->c.q.inv, j->c.q.zp, j->xq + s);
}

static void q8_task(void *arg, int64_t blk) {
  q8_job_t *j = arg;
  const q8_conv_t *c = &j->c;
  const vg_attrs_t *a = &c->n->a;
  int64_t m0 = blk * Q8_MB, mb = c->M - m0 < Q8_MB ? c->M - m0 : Q8_MB;
  const uint8_t *A = j->xq + m0 * c->C;
  if (!j->direct) {
    uint8_t *buf = q8_scratch(1, (size_t)(mb * c->K4));
    if (!buf) {
      j->failed = 1;
      return;
    }
    int zp = c->q.zp;
    size_t span = (size_t)(c->KW * c->C);
    for (int64_t m = 0; m < mb; m++) {
      int64_t pix = m0 + m, b = pix / (c->OH * c->OW), oy = pix / c->OW % c->OH, ox = pix % c->OW;
      int64_t ix0 = ox * a->strides[1] - a->pads[1];
      uint8_t *row = buf + m * c->K4;
      for (int64_t ky = 0; ky < c->KH; ky++) {
        int64_t iy = oy * a->strides[0] - a->pads[0] + ky;
        uint8_t *dst = row + ky * (int64_t)span;
        const uint8_t *src = j->xq + ((b * c->H + iy) * c->W + ix0) * c->C;
        if (iy < 0 || iy >= c->H)
          memset(dst, zp, span);
        else if (ix0 >= 0 && ix0 + c->KW <= c->W)
          memcpy(dst, src, span);
        else
          for (int64_t kx = 0; kx < c->KW; kx++) {
            int64_t ix = ix0 + kx;
            if (ix < 0 || ix >= c->W)
              memset(dst + kx * c->C, zp, (size_t)c->C);
            else
              memcpy(dst + kx * c->C, src + kx * c->C, (size_t)c->C);
          }
      }
      if (c->K4 > c->K) memset(row + c->K, zp, (size_t)(c->K4 - c->K));
    }
    A = buf;
  }
  int64_t pstride = c->K4 / 4 * VG_Q8_NR;
  /* The common activations are applied in the GEMM's epilogue, the rest
   * (sigmoid, hard-swish) on the block's rows after it. */
  int in_epilogue = a->act == VG_ACT_NONE || a->act == VG_ACT_RELU || a->act == VG_ACT_RELU6 ||
                    a->act == VG_ACT_LEAKY || a->act == VG_ACT_CLIP;
  for (int64_t p = 0; p < c->P; p += 2) {
    int np = c->P - p >= 2 ? 2 : 1;
    int64_t left = c->CO - p * VG_Q8_NR;
    int ncols = (int)(left < np * VG_Q8_NR ? left : np * VG_Q8_NR);
    vg_q8_gemm_vnni(mb, c->K4, A, c->K4, c->wq + p * pstride, pstride, np, c->q.zp, c->colsum + p * VG_Q8_NR,
                    j->mscale + p * VG_Q8_NR, c->bias + p * VG_Q8_NR, c->y + m0 * c->CO + p * VG_Q8_NR, c->CO,
                    ncols, in_epilogue ? a->act : VG_ACT_NONE, a->alpha, a->beta);
  }
  if (!in_epilogue) j->s->act(c->y + m0 * c->CO, mb * c->CO, a->act, a->alpha, a->beta);
}

static int k_q8_conv_vnni(const vg_node_t *n, vg_tensor_t *const *in, vg_tensor_t *const *out,
                          vg_exec_ctx_t *ctx) {
  q8_job_t j;
  q8_setup(&j.c, n, in, out);
  const vg_attrs_t *a = &n->a;
  j.s = vg_cpu_simd();
  j.failed = 0;
  j.nx = vg_tensor_numel(in[0]);
  j.chunk = (j.nx + Q8_CHUNKS - 1) / Q8_CHUNKS;
  if (j.chunk < 1) j.chunk = 1;
  j.direct = j.c.KH == 1 && j.c.KW == 1 && a->strides[0] == 1 && a->strides[1] == 1 && !a->pads[0] &&
             !a->pads[1] && !a->pads[2] && !a->pads[3] && j.c.C % 4 == 0;
  j.xq = q8_scratch(0, (size_t)j.nx);
  if (!j.xq) return VG_ENOMEM;
  vg_parallel_for(ctx->pool, Q8_CHUNKS, minmax_task, &j);
  float lo = 0, hi = 0;
  for (int i = 0; i < Q8_CHUNKS; i++) {
    lo = fminf(lo, j.lo[i]);
    hi = fmaxf(hi, j.hi[i]);
  }
  vg_q8_params(lo, hi, &j.c.q);
  vg_parallel_for(ctx->pool, Q8_CHUNKS, quantize_task, &j);
  for (int64_t co = 0; co < j.c.P * VG_Q8_NR; co++)
    j.mscale[co] = co < j.c.CO ? j.c.q.scale * j.c.wscale[co] : 0.0f;
  vg_parallel_for(ctx->pool, (j.c.M + Q8_MB - 1) / Q8_MB, q8_task, &j);
  return j.failed ? VG_ENOMEM : 0;
}

/* ---- backends -------------------------------------------------------------------- */

static vg_kernel_fn cpu_int8_kernel(const vg_graph_t *g, const vg_node_t *n) {
  if (n->op == VG_OP_CONV && n->a.quant) return k_q8_conv_vnni;
  return vg_backend_cpu.kernel(g, n);
}

static vg_kernel_fn ref_int8_kernel(const vg_graph_t *g, const vg_node_t *n) {
  (void)g;
  return n->op == VG_OP_CONV && n->a.quant ? k_q8_conv_ref : NULL;
}

/* The int8 convolution writes dense rows; the f32 kernels it leaves in
 * place write through a pitch as the CPU backend says (model.h). */
static int cpu_int8_writes_pitched(const vg_graph_t *g, const vg_node_t *n) {
  if (n->op == VG_OP_CONV && n->a.quant) return 0;
  return vg_backend_cpu.writes_pitched(g, n);
}

static const vg_backend_t backend_cpu_int8 = {.name = "cpu-int8",
                                              .prepare = vg_cpu_prepare_int8,
                                              .kernel = cpu_int8_kernel,
                                              .writes_pitched = cpu_int8_writes_pitched};
/* The reference backend writes every output dense. */
static const vg_backend_t backend_ref_int8 = {
    .name = "ref-int8", .prepare = vg_int8_quantize_graph, .kernel = ref_int8_kernel};

const vg_backend_t *vg_int8_backend(const vg_backend_t *base) {
  if (base == &vg_backend_ref) return &backend_ref_int8;
  if (base == &vg_backend_cpu && vg_int8_vnni_available()) return &backend_cpu_int8;
  return base;
}
