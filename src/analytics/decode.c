#include "analytics/decode.h"

#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "media/nal.h"

struct vg_vdec {
  AVCodecContext *ctx;
  AVPacket *pkt;
  AVFrame *pic;  /* the newest picture */
  AVFrame *recv; /* receive_frame's target: it unreferences its frame first, even when none comes */
  struct SwsContext *sws;
  int sws_w, sws_h, sws_fmt; /* the source geometry sws was made for */
  int detect_width;
  int out_w, out_h;
  vg_codec_t codec;
  uint8_t *param_sets; /* extradata in Annex B, put before each keyframe */
  size_t param_len;
  uint8_t *luma;
  size_t luma_cap;
};

int vg_vdec_open(const vg_track_t *track, int detect_width, vg_vdec_t **out) {
  enum AVCodecID id;
  switch (track->codec) {
  case VG_CODEC_H264: id = AV_CODEC_ID_H264; break;
  case VG_CODEC_H265: id = AV_CODEC_ID_HEVC; break;
  case VG_CODEC_JPEG: id = AV_CODEC_ID_MJPEG; break;
  default: return VG_EUNSUPPORTED;
  }
  const AVCodec *codec = avcodec_find_decoder(id);
  if (!codec) return VG_EUNSUPPORTED;
  vg_vdec_t *d = calloc(1, sizeof(*d));
  if (!d) return VG_ENOMEM;
  d->codec = track->codec;
  d->detect_width = detect_width;
  d->ctx = avcodec_alloc_context3(codec);
  d->pkt = av_packet_alloc();
  d->pic = av_frame_alloc();
  d->recv = av_frame_alloc();
  if (!d->ctx || !d->pkt || !d->pic || !d->recv) goto nomem;
  /* Parallelism comes from decoding many cameras at once on the pool. */
  d->ctx->thread_count = 1;
  d->ctx->flags2 |= AV_CODEC_FLAG2_FAST;
  /* Cameras send no B-frames: a picture comes out for each unit at once. */
  d->ctx->flags |= AV_CODEC_FLAG_LOW_DELAY;
  if (track->extradata && track->extradata->len && track->codec != VG_CODEC_JPEG) {
    d->param_len = track->extradata->len;
    if (!(d->param_sets = malloc(d->param_len))) goto nomem;
    if (vg_nal_lp_to_annexb_into(track->extradata->data, d->param_len, d->param_sets)) {
      free(d->param_sets);
      d->param_sets = NULL;
      d->param_len = 0;
    }
  }
  if (avcodec_open2(d->ctx, codec, NULL) < 0) {
    vg_vdec_close(&d);
    return VG_EUNSUPPORTED;
  }
  *out = d;
  return 0;
nomem:
  vg_vdec_close(&d);
  return VG_ENOMEM;
}

void vg_vdec_close(vg_vdec_t **dp) {
  vg_vdec_t *d = *dp;
  if (!d) return;
  *dp = NULL;
  sws_freeContext(d->sws);
  av_frame_free(&d->pic);
  av_frame_free(&d->recv);
  av_packet_free(&d->pkt);
  avcodec_free_context(&d->ctx);
  free(d->param_sets);
  free(d->luma);
  free(d);
}

void vg_vdec_flush(vg_vdec_t *d) { avcodec_flush_buffers(d->ctx); }

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
  int ret = avcodec_send_packet(d->ctx, d->pkt);
  if (ret < 0 && ret != AVERROR(EAGAIN)) return VG_EPROTO;
  int got = 0;
  /* Without B-frames and with one thread, each unit gives at most one
   * picture; keep only the newest if a decoder hands out more. */
  while ((ret = avcodec_receive_frame(d->ctx, d->recv)) == 0) {
    av_frame_unref(d->pic);
    av_frame_move_ref(d->pic, d->recv);
    got = 1;
  }
  if (ret != AVERROR(EAGAIN) && ret != AVERROR_EOF && !got) return VG_EPROTO;
  return got;
}

static int ensure_sws(vg_vdec_t *d) {
  AVFrame *p = d->pic;
  if (d->sws && d->sws_w == p->width && d->sws_h == p->height && d->sws_fmt == p->format) return 0;
  sws_freeContext(d->sws);
  d->sws = NULL;
  if (p->width < 16 || p->height < 16) return VG_EPROTO;
  int w = d->detect_width < p->width ? d->detect_width : p->width;
  w &= ~1;
  int h = (int)((int64_t)w * p->height / p->width) & ~1;
  if (h < 16) return VG_EPROTO;
  d->sws =
      sws_getContext(p->width, p->height, p->format, w, h, AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
  if (!d->sws) return VG_EUNSUPPORTED;
  d->sws_w = p->width;
  d->sws_h = p->height;
  d->sws_fmt = p->format;
  d->out_w = w;
  d->out_h = h;
  size_t need = (size_t)w * (size_t)h;
  if (need > d->luma_cap) {
    uint8_t *l = realloc(d->luma, need);
    if (!l) return VG_ENOMEM;
    d->luma = l;
    d->luma_cap = need;
  }
  return 0;
}

int vg_vdec_picture(vg_vdec_t *d, vg_image_t *rgb, const uint8_t **luma) {
  int err = ensure_sws(d);
  if (err) return err;
  int w = d->out_w, h = d->out_h;
  uint8_t *px = malloc((size_t)w * (size_t)h * 3);
  if (!px) return VG_ENOMEM;
  uint8_t *dst[4] = {px, NULL, NULL, NULL};
  int dst_stride[4] = {w * 3, 0, 0, 0};
  sws_scale(d->sws, (const uint8_t *const *)d->pic->data, d->pic->linesize, 0, d->pic->height, dst,
            dst_stride);
  /* BT.601 luma from the scaled RGB: cheaper than a second scaler, and
   * motion only needs a consistent brightness measure. */
  const uint8_t *s = px;
  for (size_t i = 0, n = (size_t)w * (size_t)h; i < n; i++, s += 3)
    d->luma[i] = (uint8_t)((77 * s[0] + 150 * s[1] + 29 * s[2]) >> 8);
  *rgb = (vg_image_t){.width = w, .height = h, .stride = w * 3, .rgb = px};
  *luma = d->luma;
  return 0;
}
