/* vdec.c: the shared libavcodec video decoder; see vdec.h. */
#include "media/vdec.h"

#include <libavcodec/avcodec.h>
#include <libavutil/hwcontext.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "media/nal.h"

/* The largest picture scaled (a snapshot of an 8K camera fits). */
#define MAX_PIXELS (8192 * 8192)

struct vg_vdec {
  AVCodecContext *ctx;
  AVBufferRef *hw_dev;       /* the hardware device (vaapi, cuda), or NULL */
  enum AVPixelFormat hw_fmt; /* the device's picture format, or AV_PIX_FMT_NONE */
  vg_hwaccel_t backend;      /* VG_HWACCEL_NONE: software */
  bool hw_refused;           /* get_format found no hardware format offered */
  bool any_picture;          /* the decoder produced a picture since it opened */
  bool have_pic;             /* pic holds a picture */
  char fallback[256];        /* why the asked-for hardware is not in use */
  AVPacket *pkt;
  AVFrame *pic;  /* the newest picture (maybe in hardware memory) */
  AVFrame *recv; /* receive_frame's target: it unreferences its frame first, even when none comes */
  AVFrame *sw;   /* a hardware picture copied to system memory */
  struct SwsContext *sws;
  int sws_w, sws_h, sws_fmt, sws_out_w, sws_out_h; /* the geometry sws was made for */
  enum AVCodecID codec_id;
  vg_codec_t codec;
  bool fast;
  uint8_t *param_sets; /* extradata in Annex B, put before each keyframe */
  size_t param_len;
  uint8_t *luma;
  size_t luma_cap;
};

static const char *const hwaccel_names[] = {
    [VG_HWACCEL_AUTO] = "auto", [VG_HWACCEL_NONE] = "none",       [VG_HWACCEL_VAAPI] = "vaapi",
    [VG_HWACCEL_CUDA] = "cuda", [VG_HWACCEL_V4L2M2M] = "v4l2m2m",
};

int vg_hwaccel_parse(const char *name, vg_hwaccel_t *out) {
  for (size_t i = 0; i < sizeof(hwaccel_names) / sizeof(hwaccel_names[0]); i++)
    if (name && strcmp(name, hwaccel_names[i]) == 0) {
      *out = (vg_hwaccel_t)i;
      return 0;
    }
  return VG_EINVAL;
}

const char *vg_hwaccel_name(vg_hwaccel_t h) {
  return (unsigned)h < sizeof(hwaccel_names) / sizeof(hwaccel_names[0]) ? hwaccel_names[h] : "?";
}

const char *vg_vdec_backend(const vg_vdec_t *d) {
  return d->backend == VG_HWACCEL_NONE ? "software" : vg_hwaccel_name(d->backend);
}

const char *vg_vdec_fallback(const vg_vdec_t *d) { return d->fallback; }

/* Adds one reason to the fallback text ("; " between the tries of auto). */
__attribute__((format(printf, 2, 3))) static void note(vg_vdec_t *d, const char *fmt, ...) {
  size_t used = strlen(d->fallback);
  if (used && used + 2 < sizeof(d->fallback)) {
    memcpy(d->fallback + used, "; ", 3);
    used += 2;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d->fallback + used, sizeof(d->fallback) - used, fmt, ap);
  va_end(ap);
}

static void close_ctx(vg_vdec_t *d) {
  avcodec_free_context(&d->ctx);
  av_buffer_unref(&d->hw_dev);
  d->hw_fmt = AV_PIX_FMT_NONE;
  d->hw_refused = false;
  d->backend = VG_HWACCEL_NONE;
}

static int alloc_ctx(vg_vdec_t *d, const AVCodec *codec) {
  if (!(d->ctx = avcodec_alloc_context3(codec))) return VG_ENOMEM;
  /* Parallelism comes from decoding many cameras at once. */
  d->ctx->thread_count = 1;
  if (d->fast) d->ctx->flags2 |= AV_CODEC_FLAG2_FAST;
  /* Cameras send no B-frames: a picture comes out for each unit at once. */
  d->ctx->flags |= AV_CODEC_FLAG_LOW_DELAY;
  d->ctx->opaque = d;
  return 0;
}

/* libavcodec offers the formats it can decode this stream to: the
 * device's when the hardware takes the stream (codec, profile, size), else
 * only software ones, and then decoding goes on in software. */
static enum AVPixelFormat get_format(AVCodecContext *ctx, const enum AVPixelFormat *fmts) {
  vg_vdec_t *d = ctx->opaque;
  for (const enum AVPixelFormat *p = fmts; *p != AV_PIX_FMT_NONE; p++)
    if (*p == d->hw_fmt) return *p;
  d->hw_refused = true;
  for (const enum AVPixelFormat *p = fmts; *p != AV_PIX_FMT_NONE; p++) {
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(*p);
    if (desc && !(desc->flags & AV_PIX_FMT_FLAG_HWACCEL)) return *p;
  }
  return AV_PIX_FMT_NONE;
}

static int open_software(vg_vdec_t *d) {
  const AVCodec *codec = avcodec_find_decoder(d->codec_id);
  if (!codec) return VG_EUNSUPPORTED;
  int err = alloc_ctx(d, codec);
  if (err) return err;
  if (avcodec_open2(d->ctx, codec, NULL) < 0) {
    close_ctx(d);
    return VG_EUNSUPPORTED;
  }
  d->backend = VG_HWACCEL_NONE;
  return 0;
}

/* libavcodec's own decoder with a hardware device (vaapi, cuda). */
static int open_device(vg_vdec_t *d, vg_hwaccel_t which) {
  enum AVHWDeviceType type = which == VG_HWACCEL_VAAPI ? AV_HWDEVICE_TYPE_VAAPI : AV_HWDEVICE_TYPE_CUDA;
  const char *name = vg_hwaccel_name(which);
  const AVCodec *codec = avcodec_find_decoder(d->codec_id);
  if (!codec) return VG_EUNSUPPORTED;
  enum AVPixelFormat fmt = AV_PIX_FMT_NONE;
  for (int i = 0; fmt == AV_PIX_FMT_NONE; i++) {
    const AVCodecHWConfig *cfg = avcodec_get_hw_config(codec, i);
    if (!cfg) break;
    if ((cfg->methods & AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX) && cfg->device_type == type)
      fmt = cfg->pix_fmt;
  }
  if (fmt == AV_PIX_FMT_NONE) {
    note(d, "%s: libavcodec's %s decoder has no %s support", name, codec->name, name);
    return VG_EUNSUPPORTED;
  }
  int ret = av_hwdevice_ctx_create(&d->hw_dev, type, NULL, NULL, 0);
  if (ret < 0) {
    note(d, "%s: no device (%s)", name, av_err2str(ret));
    return VG_EUNSUPPORTED;
  }
  int err = alloc_ctx(d, codec);
  if (err) {
    close_ctx(d);
    return err;
  }
  d->ctx->hw_device_ctx = av_buffer_ref(d->hw_dev);
  d->ctx->get_format = get_format;
  d->hw_fmt = fmt;
  if (!d->ctx->hw_device_ctx || (ret = avcodec_open2(d->ctx, codec, NULL)) < 0) {
    note(d, "%s: cannot open the decoder (%s)", name, av_err2str(ret < 0 ? ret : AVERROR(ENOMEM)));
    close_ctx(d);
    return VG_EUNSUPPORTED;
  }
  d->backend = which;
  return 0;
}

/* A V4L2 memory-to-memory decoder (a SoC's video block); its pictures come
 * out in system memory. */
static int open_v4l2m2m(vg_vdec_t *d) {
  const char *name = d->codec_id == AV_CODEC_ID_H264   ? "h264_v4l2m2m"
                     : d->codec_id == AV_CODEC_ID_HEVC ? "hevc_v4l2m2m"
                                                       : NULL;
  const AVCodec *codec = name ? avcodec_find_decoder_by_name(name) : NULL;
  if (!codec) {
    note(d, "v4l2m2m: no %s decoder in this libavcodec", name ? name : "V4L2 JPEG");
    return VG_EUNSUPPORTED;
  }
  int err = alloc_ctx(d, codec);
  if (err) return err;
  int ret = avcodec_open2(d->ctx, codec, NULL);
  if (ret < 0) {
    note(d, "v4l2m2m: cannot open %s (%s)", name, av_err2str(ret));
    close_ctx(d);
    return VG_EUNSUPPORTED;
  }
  d->backend = VG_HWACCEL_V4L2M2M;
  return 0;
}

static int open_backend(vg_vdec_t *d, vg_hwaccel_t want) {
  static const vg_hwaccel_t auto_order[] = {VG_HWACCEL_VAAPI, VG_HWACCEL_CUDA, VG_HWACCEL_V4L2M2M};
  const vg_hwaccel_t *tries = want == VG_HWACCEL_AUTO ? auto_order : &want;
  size_t n = want == VG_HWACCEL_AUTO ? 3 : want == VG_HWACCEL_NONE ? 0 : 1;
  for (size_t i = 0; i < n; i++) {
    int err = tries[i] == VG_HWACCEL_V4L2M2M ? open_v4l2m2m(d) : open_device(d, tries[i]);
    if (err == 0) return 0;
    if (err == VG_ENOMEM) return err;
  }
  return open_software(d);
}

int vg_vdec_open(const vg_track_t *track, const vg_vdec_opts_t *opts, vg_vdec_t **out) {
  enum AVCodecID id;
  switch (track->codec) {
  case VG_CODEC_H264: id = AV_CODEC_ID_H264; break;
  case VG_CODEC_H265: id = AV_CODEC_ID_HEVC; break;
  case VG_CODEC_JPEG: id = AV_CODEC_ID_MJPEG; break;
  default: return VG_EUNSUPPORTED;
  }
  if (!avcodec_find_decoder(id)) return VG_EUNSUPPORTED;
  vg_vdec_t *d = calloc(1, sizeof(*d));
  if (!d) return VG_ENOMEM;
  d->codec = track->codec;
  d->codec_id = id;
  d->hw_fmt = AV_PIX_FMT_NONE;
  d->fast = opts && opts->fast;
  d->pkt = av_packet_alloc();
  d->pic = av_frame_alloc();
  d->recv = av_frame_alloc();
  d->sw = av_frame_alloc();
  int err = VG_ENOMEM;
  if (!d->pkt || !d->pic || !d->recv || !d->sw) goto fail;
  if (track->extradata && track->extradata->len && track->codec != VG_CODEC_JPEG) {
    d->param_len = track->extradata->len;
    if (!(d->param_sets = malloc(d->param_len))) goto fail;
    if (vg_nal_lp_to_annexb_into(track->extradata->data, d->param_len, d->param_sets)) {
      free(d->param_sets);
      d->param_sets = NULL;
      d->param_len = 0;
    }
  }
  if ((err = open_backend(d, opts ? opts->hwaccel : VG_HWACCEL_NONE)) != 0) goto fail;
  *out = d;
  return 0;
fail:
  vg_vdec_close(&d);
  return err;
}

void vg_vdec_close(vg_vdec_t **dp) {
  vg_vdec_t *d = *dp;
  if (!d) return;
  *dp = NULL;
  sws_freeContext(d->sws);
  av_frame_free(&d->pic);
  av_frame_free(&d->recv);
  av_frame_free(&d->sw);
  av_packet_free(&d->pkt);
  close_ctx(d);
  free(d->param_sets);
  free(d->luma);
  free(d);
}

void vg_vdec_flush(vg_vdec_t *d) { avcodec_flush_buffers(d->ctx); }

/* The hardware failed before it gave a single picture (a device that
 * opens but cannot decode this stream): software from here on. */
static int fall_back(vg_vdec_t *d, int averr) {
  note(d, "%s: decoding failed (%s)", vg_hwaccel_name(d->backend), av_err2str(averr));
  close_ctx(d);
  return open_software(d);
}

static int send_and_receive(vg_vdec_t *d) {
  int ret = avcodec_send_packet(d->ctx, d->pkt);
  if (ret < 0 && ret != AVERROR(EAGAIN)) return ret;
  int got = 0;
  /* Without B-frames and with one thread, each unit gives at most one
   * picture; keep only the newest if a decoder hands out more. */
  while ((ret = avcodec_receive_frame(d->ctx, d->recv)) == 0) {
    av_frame_unref(d->pic);
    av_frame_move_ref(d->pic, d->recv);
    got = 1;
  }
  if (ret != AVERROR(EAGAIN) && ret != AVERROR_EOF && !got) return ret;
  return got;
}

int vg_vdec_decode(vg_vdec_t *d, const vg_frame_t *f) {
  int key = (f->flags & VG_FRAME_KEY) != 0;
  size_t prefix = key && d->codec != VG_CODEC_JPEG ? d->param_len : 0;
  if (f->len > (1u << 28)) return VG_ETOOBIG;
  av_packet_unref(d->pkt);
  if (av_new_packet(d->pkt, (int)(prefix + f->len)) < 0) return VG_ENOMEM;
  if (prefix) memcpy(d->pkt->data, d->param_sets, prefix);
  if (d->codec == VG_CODEC_JPEG)
    memcpy(d->pkt->data, f->data, f->len);
  else if (vg_nal_lp_to_annexb_into(f->data, f->len, d->pkt->data + prefix))
    return VG_EPROTO;
  d->pkt->pts = f->pts;
  if (key) d->pkt->flags |= AV_PKT_FLAG_KEY;
  int got = send_and_receive(d);
  if (got < 0 && d->backend != VG_HWACCEL_NONE && !d->any_picture) {
    int err = fall_back(d, got);
    if (err) return err;
    got = send_and_receive(d);
  }
  if (got < 0) return VG_EPROTO;
  if (!got) return 0;
  d->have_pic = true;
  if (!d->any_picture) {
    d->any_picture = true;
    /* The device opened but libavcodec decodes this stream in software. */
    if (d->hw_refused && d->pic->format != d->hw_fmt) {
      note(d, "%s: the hardware does not take this stream (%s %dx%d)", vg_hwaccel_name(d->backend),
           avcodec_get_name(d->codec_id), d->pic->width, d->pic->height);
      d->backend = VG_HWACCEL_NONE;
    }
  }
  return 1;
}

static int ensure_sws(vg_vdec_t *d, const AVFrame *p, int w, int h) {
  if (d->sws && d->sws_w == p->width && d->sws_h == p->height && d->sws_fmt == p->format &&
      d->sws_out_w == w && d->sws_out_h == h)
    return 0;
  sws_freeContext(d->sws);
  d->sws =
      sws_getContext(p->width, p->height, p->format, w, h, AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
  if (!d->sws) return VG_EUNSUPPORTED;
  d->sws_w = p->width;
  d->sws_h = p->height;
  d->sws_fmt = p->format;
  d->sws_out_w = w;
  d->sws_out_h = h;
  return 0;
}

int vg_vdec_picture(vg_vdec_t *d, int max_width, int *width, int *height, uint8_t **rgb,
                    const uint8_t **luma) {
  if (!d->have_pic) return VG_ENODATA;
  const AVFrame *p = d->pic;
  if (d->hw_fmt != AV_PIX_FMT_NONE && p->format == d->hw_fmt) {
    /* Only analysed pictures pay for the copy out of the device. */
    av_frame_unref(d->sw);
    if (av_hwframe_transfer_data(d->sw, p, 0) < 0) return VG_EPROTO;
    p = d->sw;
  }
  if (p->width < 16 || p->height < 16 || (int64_t)p->width * p->height > MAX_PIXELS) return VG_EPROTO;
  int w = p->width, h = p->height;
  if (max_width > 0) {
    w = (max_width < p->width ? max_width : p->width) & ~1;
    h = (int)((int64_t)w * p->height / p->width) & ~1;
    if (h < 16) return VG_EPROTO;
  }
  int err = ensure_sws(d, p, w, h);
  if (err) return err;
  size_t n = (size_t)w * (size_t)h;
  if (luma && n > d->luma_cap) {
    uint8_t *l = realloc(d->luma, n);
    if (!l) return VG_ENOMEM;
    d->luma = l;
    d->luma_cap = n;
  }
  uint8_t *px = malloc(n * 3);
  if (!px) return VG_ENOMEM;
  uint8_t *dst[4] = {px, NULL, NULL, NULL};
  int dst_stride[4] = {w * 3, 0, 0, 0};
  sws_scale(d->sws, (const uint8_t *const *)p->data, p->linesize, 0, p->height, dst, dst_stride);
  if (luma) {
    /* BT.601 luma from the scaled RGB: cheaper than a second scaler, and
     * motion only needs a consistent brightness measure. */
    const uint8_t *s = px;
    for (size_t i = 0; i < n; i++, s += 3)
      d->luma[i] = (uint8_t)((77 * s[0] + 150 * s[1] + 29 * s[2]) >> 8);
    *luma = d->luma;
  }
  *width = w;
  *height = h;
  *rgb = px;
  return 0;
}
