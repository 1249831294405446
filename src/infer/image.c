/* image.c: decoding still images and video frames to RGB with libav*. */
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "infer/detect.h"

static int to_rgb(vg_image_t *img, const AVFrame *f) {
  if (f->width <= 0 || f->height <= 0 || f->width > 16384 || f->height > 16384) return VG_EUNSUPPORTED;
  struct SwsContext *sws =
      sws_getContext(f->width, f->height, f->format, f->width, f->height, AV_PIX_FMT_RGB24,
                     SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
  if (!sws) return VG_EUNSUPPORTED;
  img->width = f->width;
  img->height = f->height;
  img->stride = f->width * 3;
  img->rgb = malloc((size_t)img->stride * (size_t)f->height);
  if (!img->rgb) {
    sws_freeContext(sws);
    return VG_ENOMEM;
  }
  uint8_t *dst[4] = {img->rgb, NULL, NULL, NULL};
  int dst_stride[4] = {img->stride, 0, 0, 0};
  sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, dst_stride);
  sws_freeContext(sws);
  return 0;
}

int vg_image_load(vg_image_t *img, const char *path, int frame) {
  memset(img, 0, sizeof(*img));
  /* libav's own chatter (deprecated pixel formats of JPEGs) is not ours to
   * print; real failures come back as error codes. */
  if (av_log_get_level() > AV_LOG_ERROR) av_log_set_level(AV_LOG_ERROR);
  AVFormatContext *fmt = NULL;
  AVCodecContext *dec = NULL;
  AVPacket *pkt = av_packet_alloc();
  AVFrame *f = av_frame_alloc();
  int err = VG_EIO, got = -1;
  if (!pkt || !f) {
    err = VG_ENOMEM;
    goto out;
  }
  if (avformat_open_input(&fmt, path, NULL, NULL) < 0) {
    err = VG_ENOENT;
    goto out;
  }
  if (avformat_find_stream_info(fmt, NULL) < 0) goto out;
  int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
  if (si < 0) {
    err = VG_EUNSUPPORTED;
    goto out;
  }
  const AVCodec *codec = avcodec_find_decoder(fmt->streams[si]->codecpar->codec_id);
  if (!codec || !(dec = avcodec_alloc_context3(codec))) {
    err = VG_EUNSUPPORTED;
    goto out;
  }
  avcodec_parameters_to_context(dec, fmt->streams[si]->codecpar);
  dec->thread_count = 1;
  if (avcodec_open2(dec, codec, NULL) < 0) goto out;
  int seen = 0, eof = 0;
  while (got < 0) {
    if (!eof) {
      int r = av_read_frame(fmt, pkt);
      if (r < 0) {
        eof = 1;
        avcodec_send_packet(dec, NULL);
      } else {
        if (pkt->stream_index == si) avcodec_send_packet(dec, pkt);
        av_packet_unref(pkt);
      }
    }
    for (;;) {
      int r = avcodec_receive_frame(dec, f);
      if (r < 0) {
        if (eof) goto out; /* drained without reaching the frame */
        break;
      }
      if (seen++ == frame) {
        got = to_rgb(img, f);
        err = got;
        av_frame_unref(f);
        break;
      }
      av_frame_unref(f);
    }
  }
out:
  if (err && err != VG_ENOMEM && got < 0 && err == VG_EIO) err = VG_EIO;
  av_frame_free(&f);
  av_packet_free(&pkt);
  avcodec_free_context(&dec);
  avformat_close_input(&fmt);
  return got == 0 ? 0 : err;
}

void vg_image_free(vg_image_t *img) {
  free(img->rgb);
  memset(img, 0, sizeof(*img));
}
