/* detect.c: model presets, preprocessing and detection decoding. */
#include "infer/detect.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

static const char *const coco[80] = {"person",        "bicycle",      "car",
                                     "motorcycle",    "airplane",     "bus",
                                     "train",         "truck",        "boat",
                                     "traffic light", "fire hydrant", "stop sign",
                                     "parking meter", "bench",        "bird",
                                     "cat",           "dog",          "horse",
                                     "sheep",         "cow",          "elephant",
                                     "bear",          "zebra",        "giraffe",
                                     "backpack",      "umbrella",     "handbag",
                                     "tie",           "suitcase",     "frisbee",
                                     "skis",          "snowboard",    "sports ball",
                                     "kite",          "baseball bat", "baseball glove",
                                     "skateboard",    "surfboard",    "tennis racket",
                                     "bottle",        "wine glass",   "cup",
                                     "fork",          "knife",        "spoon",
                                     "bowl",          "banana",       "apple",
                                     "sandwich",      "orange",       "broccoli",
                                     "carrot",        "hot dog",      "pizza",
                                     "donut",         "cake",         "chair",
                                     "couch",         "potted plant", "bed",
                                     "dining table",  "toilet",       "tv",
                                     "laptop",        "mouse",        "remote",
                                     "keyboard",      "cell phone",   "microwave",
                                     "oven",          "toaster",      "sink",
                                     "refrigerator",  "book",         "clock",
                                     "vase",          "scissors",     "teddy bear",
                                     "hair drier",    "toothbrush"};

const char *vg_coco_label(int label) { return label >= 0 && label < 80 ? coco[label] : "?"; }

int vg_detector_open(vg_detector_t *d, const char *name_or_path, const char *models_dir,
                     const vg_model_opts_t *opts, char *err, size_t errlen) {
  memset(d, 0, sizeof(*d));
  char path[1024];
  const char *base = strrchr(name_or_path, '/');
  base = base ? base + 1 : name_or_path;
  if (strchr(name_or_path, '/') || strstr(name_or_path, ".json") || strstr(name_or_path, ".onnx"))
    snprintf(path, sizeof(path), "%s", name_or_path);
  else
    snprintf(path, sizeof(path), "%s/%s.json", models_dir ? models_dir : "models", name_or_path);
  if (!strncmp(base, "nanodet", 7)) {
    d->kind = VG_DET_NANODET;
    d->pre = VG_PRE_BGR_MEANSTD;
    d->score_threshold = 0.35f;
    d->iou_threshold = 0.5f;
  } else if (!strncmp(base, "centernet", 9)) {
    d->kind = VG_DET_CENTERNET;
    d->pre = VG_PRE_RGB_BYTE;
    d->score_threshold = 0.3f;
    d->iou_threshold = 0.5f;
  } else {
    if (err) snprintf(err, errlen, "%s: unknown detector (nanodet or centernet)", name_or_path);
    return VG_EUNSUPPORTED;
  }
  d->max_detections = 100;
  int rc = vg_model_load(&d->model, path, opts, err, errlen);
  if (rc) return rc;
  const vg_tensor_t *in = vg_model_input(d->model, 0);
  if (vg_model_input_count(d->model) != 1 || in->ndim != 4 || in->dims[0] != 1) {
    if (err) snprintf(err, errlen, "%s: expected one 1xHxWx3 or 1x3xHxW input", path);
    vg_model_free(&d->model);
    return VG_EUNSUPPORTED;
  }
  int nchw = d->kind == VG_DET_NANODET;
  d->in_h = (int)(nchw ? in->dims[2] : in->dims[1]);
  d->in_w = (int)(nchw ? in->dims[3] : in->dims[2]);
  /* The input is built in the model's own buffer rather than in one of the
   * detector's that a run would copy in: one input-sized buffer less (3 MiB
   * for CenterNet-512) alive beside the arena. */
  vg_tensor_t *buf = vg_model_input_buffer(d->model, 0);
  if (!buf || buf->dtype != VG_DT_F32) {
    if (err) snprintf(err, errlen, "%s: the input has no f32 buffer of its own", path);
    vg_model_free(&d->model);
    return VG_EUNSUPPORTED;
  }
  d->input = *buf;
  d->input.owned = 0;
  return 0;
}

void vg_detector_close(vg_detector_t *d) {
  vg_model_free(&d->model);
  memset(&d->input, 0, sizeof(d->input));
  d->input_ready = 0;
}

float *vg_detector_input(vg_detector_t *d) {
  d->input_ready = 1;
  return d->input.data;
}

int vg_detector_preprocess(vg_detector_t *d, const vg_image_t *img) {
  static const float mean_bgr[3] = {103.53f, 116.28f, 123.675f}, std_bgr[3] = {57.375f, 57.12f, 58.395f};
  int W = d->in_w, H = d->in_h, nchw = d->kind == VG_DET_NANODET;
  if (!img || !img->rgb || img->width < 1 || img->height < 1 || img->stride < img->width * 3)
    return VG_EINVAL;
  float *out = vg_detector_input(d);
  /* The source columns and weights of every output column, once per image
   * rather than once per row, and one resized row at a time before the
   * normalization: the same arithmetic as per element, in loops without
   * branches. */
  typedef struct {
    int x0, x1;
    float lx;
  } column_t;
  column_t *cols = malloc((sizeof(*cols) + 3 * sizeof(float)) * (size_t)W);
  if (!cols) {
    d->input_ready = 0;
    return VG_ENOMEM;
  }
  float *row = (float *)(cols + W);
  /* tf.image.resizeBilinear(image, size) with align_corners = false and
   * half_pixel_centers = false: source = dest * (in / out). */
  float ry = (float)img->height / (float)H, rx = (float)img->width / (float)W;
  for (int x = 0; x < W; x++) {
    float fx = (float)x * rx;
    int x0 = (int)fx;
    cols[x] = (column_t){x0, x0 + 1 < img->width ? x0 + 1 : img->width - 1, fx - (float)x0};
  }
  int bgr = d->pre == VG_PRE_BGR_BYTE || d->pre == VG_PRE_BGR_MEANSTD;
  size_t plane = (size_t)W * (size_t)H;
  for (int y = 0; y < H; y++) {
    float fy = (float)y * ry;
    int y0 = (int)fy, y1 = y0 + 1 < img->height ? y0 + 1 : img->height - 1;
    float ly = fy - (float)y0;
    const uint8_t *r0 = img->rgb + (size_t)y0 * (size_t)img->stride,
                  *r1 = img->rgb + (size_t)y1 * (size_t)img->stride;
    for (int x = 0; x < W; x++) {
      const uint8_t *a0 = r0 + cols[x].x0 * 3, *a1 = r0 + cols[x].x1 * 3, *b0 = r1 + cols[x].x0 * 3,
                    *b1 = r1 + cols[x].x1 * 3;
      float lx = cols[x].lx;
      for (int c = 0; c < 3; c++) {
        float tl = a0[c], tr = a1[c], bl = b0[c], br = b1[c];
        float top = tl + (tr - tl) * lx, bot = bl + (br - bl) * lx;
        row[x * 3 + c] = top + (bot - top) * ly;
      }
    }
    for (int c = 0; c < 3; c++) {
      int oc = bgr ? 2 - c : c;
      /* Where channel c goes: its plane's row (NCHW) or every third float
       * of the output row (NHWC). */
      float *o =
          nchw ? out + (size_t)oc * plane + (size_t)y * (size_t)W : out + (size_t)y * (size_t)W * 3 + oc;
      size_t step = nchw ? 1 : 3;
      const float *v = row + c;
      switch (d->pre) {
      case VG_PRE_RGB_UNIT:
        for (int x = 0; x < W; x++)
          o[(size_t)x * step] = v[x * 3] / 255.0f;
        break;
      case VG_PRE_RGB_BYTE:
      case VG_PRE_BGR_BYTE:
        for (int x = 0; x < W; x++)
          o[(size_t)x * step] = v[x * 3];
        break;
      case VG_PRE_BGR_MEANSTD:
        for (int x = 0; x < W; x++)
          o[(size_t)x * step] = (v[x * 3] - mean_bgr[oc]) / std_bgr[oc];
        break;
      }
    }
  }
  free(cols);
  return 0;
}

int vg_detector_run(vg_detector_t *d) {
  if (!d->input_ready) return VG_ESTATE;
  d->input_ready = 0;
  return vg_model_run(d->model, NULL, 1);
}

static float iou(const vg_detection_t *a, const vg_detection_t *b) {
  float ix = fminf(a->x2, b->x2) - fmaxf(a->x1, b->x1), iy = fminf(a->y2, b->y2) - fmaxf(a->y1, b->y1);
  if (ix <= 0 || iy <= 0) return 0;
  float inter = ix * iy;
  float ua = (a->x2 - a->x1) * (a->y2 - a->y1) + (b->x2 - b->x1) * (b->y2 - b->y1) - inter;
  return ua > 0 ? inter / ua : 0;
}

static int by_score(const void *pa, const void *pb) {
  const vg_detection_t *a = pa, *b = pb;
  return a->score < b->score ? 1 : a->score > b->score ? -1 : 0;
}

int vg_nms(vg_detection_t *dets, int n, float iou_threshold) {
  /* qsort with a NULL array is undefined even for 0 elements (a picture
   * with no candidate). */
  if (n > 1) qsort(dets, (size_t)n, sizeof(*dets), by_score);
  int kept = 0;
  for (int i = 0; i < n; i++) {
    int keep = 1;
    for (int k = 0; k < kept && keep; k++)
      if (dets[k].label == dets[i].label && iou(&dets[k], &dets[i]) > iou_threshold) keep = 0;
    if (keep) dets[kept++] = dets[i];
  }
  return kept;
}

/* Appends a candidate, keeping at most cap (the best scores win later). */
typedef struct {
  vg_detection_t *v;
  int n, cap;
} cand_t;

static int cand_push(cand_t *c, vg_detection_t d) {
  if (c->n == c->cap) {
    int cap = c->cap ? c->cap * 2 : 256;
    if (cap > 1 << 20) return VG_ETOOBIG;
    vg_detection_t *v = realloc(c->v, sizeof(*v) * (size_t)cap);
    if (!v) return VG_ENOMEM;
    c->v = v;
    c->cap = cap;
  }
  c->v[c->n++] = d;
  return 0;
}

/* NanoDet: for each stride, the class scores [N,80] and the box distribution
 * [N,4*(R+1)] of anchors in row-major grid order; the box is the softmax
 * expectation of each side's distance (l, t, r, b) times the stride, around
 * the anchor's centre ((x + 0.5) * stride). */
static int decode_nanodet(vg_detector_t *d, cand_t *c) {
  int nout = vg_model_output_count(d->model);
  for (int i = 0; i < nout; i++) {
    const vg_tensor_t *cls = vg_model_output(d->model, i);
    if (cls->ndim != 3 || cls->dims[2] != 80) continue;
    const vg_tensor_t *box = NULL;
    for (int k = 0; k < nout; k++) {
      const vg_tensor_t *t = vg_model_output(d->model, k);
      if (t->ndim == 3 && t->dims[1] == cls->dims[1] && t->dims[2] != 80 && t->dims[2] % 4 == 0) box = t;
    }
    if (!box) return VG_EUNSUPPORTED;
    int64_t N = cls->dims[1];
    int grid = (int)lround(sqrt((double)N));
    if ((int64_t)grid * grid != N || grid == 0) return VG_EUNSUPPORTED;
    int bins = (int)(box->dims[2] / 4);
    if (bins > 64) return VG_EUNSUPPORTED;
    float stride = (float)d->in_w / (float)grid;
    const float *cd = cls->data, *bd = box->data;
    for (int64_t a = 0; a < N; a++) {
      int best = 0;
      for (int k = 1; k < 80; k++)
        if (cd[a * 80 + k] > cd[a * 80 + best]) best = k;
      float score = cd[a * 80 + best];
      if (score < d->score_threshold) continue;
      float dist[4];
      for (int s = 0; s < 4; s++) {
        const float *p = bd + a * 4 * bins + s * bins;
        float mx = p[0], sum = 0, acc = 0;
        for (int k = 1; k < bins; k++)
          mx = p[k] > mx ? p[k] : mx;
        for (int k = 0; k < bins; k++) {
          float e = expf(p[k] - mx);
          sum += e;
          acc += e * (float)k;
        }
        dist[s] = acc / sum * stride;
      }
      float cx = ((float)(a % grid) + 0.5f) * stride, cy = ((float)(a / grid) + 0.5f) * stride;
      vg_detection_t det = {cx - dist[0], cy - dist[1], cx + dist[2], cy + dist[3], score, best};
      int err = cand_push(c, det);
      if (err) return err;
    }
  }
  return 0;
}

/* CenterNet: peaks of the 80-class heatmap (a cell equal to the maximum of
 * its 3x3 neighbourhood) with the box distances at that cell. The model's own
 * in-graph decoder does the same; the tests check that both agree. */
static int decode_centernet(vg_detector_t *d, cand_t *c) {
  int hk = vg_model_find_output(d->model, "tower_0/keypoints"),
      hw = vg_model_find_output(d->model, "tower_0/wh");
  if (hk < 0 || hw < 0) return VG_EUNSUPPORTED;
  const vg_tensor_t *kp = vg_model_output(d->model, hk), *wh = vg_model_output(d->model, hw);
  if (kp->ndim != 4 || wh->ndim != 4 || wh->dims[3] != 4 || kp->dims[1] != wh->dims[1] ||
      kp->dims[2] != wh->dims[2])
    return VG_EUNSUPPORTED;
  int H = (int)kp->dims[1], W = (int)kp->dims[2], C = (int)kp->dims[3];
  float stride = (float)d->in_w / (float)W;
  const float *k = kp->data, *b = wh->data;
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      for (int cl = 0; cl < C; cl++) {
        float v = k[((size_t)y * W + x) * C + cl];
        if (v < d->score_threshold) continue;
        int peak = 1;
        for (int dy = -1; dy <= 1 && peak; dy++)
          for (int dx = -1; dx <= 1 && peak; dx++) {
            int yy = y + dy, xx = x + dx;
            if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
            if (k[((size_t)yy * W + xx) * C + cl] > v) peak = 0;
          }
        if (!peak) continue;
        const float *bb = b + ((size_t)y * W + x) * 4;
        float cx = (float)x * stride, cy = (float)y * stride;
        vg_detection_t det = {cx - bb[0], cy - bb[1], cx + bb[2], cy + bb[3], v, cl};
        int err = cand_push(c, det);
        if (err) return err;
      }
  return 0;
}

int vg_detector_decode(vg_detector_t *d, int src_w, int src_h, vg_detection_t *dets, int max) {
  cand_t c = {0};
  int err = d->kind == VG_DET_NANODET ? decode_nanodet(d, &c) : decode_centernet(d, &c);
  if (err) {
    free(c.v);
    return err;
  }
  int n = vg_nms(c.v, c.n, d->iou_threshold);
  if (n > d->max_detections) n = d->max_detections;
  if (n > max) n = max;
  float sx = (float)src_w / (float)d->in_w, sy = (float)src_h / (float)d->in_h;
  for (int i = 0; i < n; i++) {
    vg_detection_t t = c.v[i];
    t.x1 = fmaxf(0.0f, fminf((float)src_w, t.x1 * sx));
    t.x2 = fmaxf(0.0f, fminf((float)src_w, t.x2 * sx));
    t.y1 = fmaxf(0.0f, fminf((float)src_h, t.y1 * sy));
    t.y2 = fmaxf(0.0f, fminf((float)src_h, t.y2 * sy));
    dets[i] = t;
  }
  free(c.v);
  return n;
}
