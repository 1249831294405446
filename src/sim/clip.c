#include "sim/clip.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "base/time.h"
#include "media/nal.h"
#include "sim/pattern.h"

static const vg_log_ctx_t lg = {"camsim", NULL};

/* Longest clip accepted: a loop is held in memory in full. */
#define CLIP_MAX_SECONDS 600

void vg_clip_params_defaults(vg_clip_params_t *p) {
  *p = (vg_clip_params_t){
      .codec = VG_CODEC_H264,
      .width = 1920,
      .height = 1080,
      .fps = 25,
      .bitrate_kbps = 2000,
      .gop = 50,
      .duration_s = 4.0,
      .source = NULL,
      .audio = VG_CODEC_NONE,
  };
}

static int av_to_vg(int averr) {
  if (averr == AVERROR(ENOMEM)) return VG_ENOMEM;
  if (averr == AVERROR(ENOENT)) return VG_ENOENT;
  return VG_EIO;
}

static void log_av(const char *what, int averr) {
  char msg[AV_ERROR_MAX_STRING_SIZE];
  av_strerror(averr, msg, sizeof(msg));
  vg_log_error(&lg, "%s: %s", what, msg);
}

/* ---- growable frame list ---------------------------------------------- */

typedef struct {
  vg_clip_frame_t *items;
  size_t count, cap;
} frame_list_t;

static int list_push(frame_list_t *l, const vg_clip_frame_t *f) {
  if (l->count == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 256;
    vg_clip_frame_t *items = realloc(l->items, cap * sizeof(*items));
    if (!items) return VG_ENOMEM;
    l->items = items;
    l->cap = cap;
  }
  l->items[l->count++] = *f;
  return 0;
}

static void list_free(frame_list_t *l) {
  for (size_t i = 0; i < l->count; i++)
    vg_frame_unref(&l->items[i].frame);
  free(l->items);
  *l = (frame_list_t){0};
}

/* ---- video file source -------------------------------------------------- */

/* Decodes a file and hands out its pictures at the clip's frame rate: for
 * output time t, the last source picture shown at or before t (pictures are
 * repeated or skipped as the rates differ). */
typedef struct {
  AVFormatContext *fmt;
  AVCodecContext *dec;
  int stream;
  struct SwsContext *sws;
  AVPacket *pkt;
  AVFrame *pending; /* decoded, not yet due */
  int have_pending;
  double pending_s;
  double frame_s; /* one source frame's duration */
  double last_s;  /* time of the picture last scaled into the output */
  int have_current;
  int eof;
} file_source_t;

static void file_source_close(file_source_t *s) {
  sws_freeContext(s->sws);
  av_frame_free(&s->pending);
  av_packet_free(&s->pkt);
  avcodec_free_context(&s->dec);
  avformat_close_input(&s->fmt);
}

static int file_source_open(file_source_t *s, const char *path, int width, int height) {
  memset(s, 0, sizeof(*s));
  int ret = avformat_open_input(&s->fmt, path, NULL, NULL);
  if (ret < 0) {
    log_av(path, ret);
    return ret == AVERROR(ENOENT) ? VG_ENOENT : VG_EUNSUPPORTED;
  }
  if ((ret = avformat_find_stream_info(s->fmt, NULL)) < 0) goto unsupported;
  const AVCodec *codec = NULL;
  s->stream = av_find_best_stream(s->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (s->stream < 0 || !codec) goto unsupported;
  AVStream *st = s->fmt->streams[s->stream];
  s->dec = avcodec_alloc_context3(codec);
  if (!s->dec) goto nomem;
  if ((ret = avcodec_parameters_to_context(s->dec, st->codecpar)) < 0) goto unsupported;
  if ((ret = avcodec_open2(s->dec, codec, NULL)) < 0) goto unsupported;
  s->sws = sws_getContext(s->dec->width, s->dec->height, s->dec->pix_fmt, width, height, AV_PIX_FMT_YUV420P,
                          SWS_BILINEAR, NULL, NULL, NULL);
  s->pkt = av_packet_alloc();
  s->pending = av_frame_alloc();
  if (!s->sws || !s->pkt || !s->pending) goto nomem;
  AVRational rate = av_guess_frame_rate(s->fmt, st, NULL);
  s->frame_s = rate.num > 0 && rate.den > 0 ? av_q2d(av_inv_q(rate)) : 0.04;
  return 0;
unsupported:
  vg_log_error(&lg, "%s: no decodable video stream", path);
  file_source_close(s);
  return VG_EUNSUPPORTED;
nomem:
  file_source_close(s);
  return VG_ENOMEM;
}

/* Decodes the next picture into s->pending. Returns 0, or 1 at the end. */
static int file_source_decode(file_source_t *s) {
  for (;;) {
    int ret = avcodec_receive_frame(s->dec, s->pending);
    if (ret == 0) {
      AVStream *st = s->fmt->streams[s->stream];
      int64_t ts = s->pending->best_effort_timestamp;
      double t = ts == AV_NOPTS_VALUE ? s->last_s + s->frame_s : (double)ts * av_q2d(st->time_base);
      if (st->start_time != AV_NOPTS_VALUE) t -= (double)st->start_time * av_q2d(st->time_base);
      s->pending_s = t;
      s->have_pending = 1;
      return 0;
    }
    if (ret == AVERROR_EOF) return 1;
    if (ret != AVERROR(EAGAIN)) return 1; /* a broken file ends the clip here */
    ret = av_read_frame(s->fmt, s->pkt);
    if (ret < 0) {
      avcodec_send_packet(s->dec, NULL); /* drain */
      continue;
    }
    if (s->pkt->stream_index == s->stream) avcodec_send_packet(s->dec, s->pkt);
    av_packet_unref(s->pkt);
  }
}

/* Fills out with the picture due at t seconds. Returns 0, or 1 when the
 * file has nothing more to show at t. */
static int file_source_picture(file_source_t *s, double t, AVFrame *out) {
  for (;;) {
    if (!s->have_pending) {
      if (s->eof || file_source_decode(s)) {
        s->eof = 1;
        break;
      }
    }
    if (s->pending_s > t + 1e-6 && s->have_current) break;
    sws_scale(s->sws, (const uint8_t *const *)s->pending->data, s->pending->linesize, 0, s->dec->height,
              out->data, out->linesize);
    s->have_current = 1;
    s->last_s = s->pending_s;
    s->have_pending = 0;
    av_frame_unref(s->pending);
  }
  if (!s->have_current) return 1;
  if (s->eof && t >= s->last_s + s->frame_s) return 1;
  return 0;
}

/* ---- video encoding ----------------------------------------------------- */

static int open_video_encoder(const vg_clip_params_t *p, AVCodecContext **out) {
  const char *name = p->codec == VG_CODEC_H265 ? "libx265" : "libx264";
  const AVCodec *codec = avcodec_find_encoder_by_name(name);
  if (!codec) {
    vg_log_error(&lg, "encoder %s is not available", name);
    return VG_EUNSUPPORTED;
  }
  AVCodecContext *c = avcodec_alloc_context3(codec);
  if (!c) return VG_ENOMEM;
  c->width = p->width;
  c->height = p->height;
  c->pix_fmt = AV_PIX_FMT_YUV420P;
  c->time_base = (AVRational){1, p->fps};
  c->framerate = (AVRational){p->fps, 1};
  c->bit_rate = (int64_t)p->bitrate_kbps * 1000;
  /* A one-second VBV keeps the rate close to constant, as a camera's is. */
  c->rc_max_rate = c->bit_rate;
  c->rc_buffer_size = (int)c->bit_rate;
  c->gop_size = p->gop;
  c->keyint_min = p->gop;
  /* No B-frames: a camera stream's presentation order is its decode order. */
  c->max_b_frames = 0;
  c->thread_count = 0;
  av_opt_set(c->priv_data, "preset", "ultrafast", 0);
  av_opt_set(c->priv_data, "tune", "zerolatency", 0);
  av_opt_set_int(c->priv_data, "forced-idr", 1, 0);
  /* Keyframes exactly every GOP: no extra ones at scene cuts (the file
   * source has some, and the loop point is one). */
  if (p->codec == VG_CODEC_H265)
    av_opt_set(c->priv_data, "x265-params", "scenecut=0:log-level=error:repeat-headers=1", 0);
  else
    av_opt_set(c->priv_data, "x264-params", "scenecut=0", 0);
  int ret = avcodec_open2(c, codec, NULL);
  if (ret < 0) {
    log_av(name, ret);
    avcodec_free_context(&c);
    return av_to_vg(ret);
  }
  *out = c;
  return 0;
}

typedef struct {
  const vg_clip_params_t *p;
  vg_track_t *track;
  frame_list_t *list;
  int64_t next_index; /* expected pts of the next packet */
} video_sink_t;

/* Takes the encoder's packets (Annex B) into the list in vigil's form. */
static int drain_video(AVCodecContext *enc, AVPacket *pkt, video_sink_t *sink) {
  for (;;) {
    int ret = avcodec_receive_packet(enc, pkt);
    if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return 0;
    if (ret < 0) {
      log_av("encoding", ret);
      return av_to_vg(ret);
    }
    if (pkt->pts != sink->next_index) {
      vg_log_error(&lg, "encoder reordered frames (pts %lld, expected %lld)", (long long)pkt->pts,
                   (long long)sink->next_index);
      av_packet_unref(pkt);
      return VG_EIO;
    }
    vg_buf_t *buf = NULL;
    ret = vg_nal_annexb_to_lp(pkt->data, (size_t)pkt->size, &buf);
    av_packet_unref(pkt);
    if (ret) return ret;
    int key = vg_nal_au_is_keyframe(sink->p->codec, buf->data, buf->len);
    if (key && !sink->track->extradata) {
      vg_nal_extradata_from_au(sink->p->codec, buf->data, buf->len, &sink->track->extradata);
      vg_track_update_video_info(sink->track, buf->data, buf->len);
    }
    int64_t k = sink->next_index++;
    vg_clip_frame_t f = {
        .frame = {.buf = buf,
                  .data = buf->data,
                  .len = (uint32_t)buf->len,
                  .flags = key ? VG_FRAME_KEY : 0,
                  .track = 0,
                  .pts = k * 90000 / sink->p->fps},
        .time_us = k * 1000000 / sink->p->fps,
    };
    if ((ret = list_push(sink->list, &f))) {
      vg_buf_unref(&buf);
      return ret;
    }
  }
}

static int alloc_picture(AVFrame **out, int width, int height) {
  AVFrame *f = av_frame_alloc();
  if (!f) return VG_ENOMEM;
  f->format = AV_PIX_FMT_YUV420P;
  f->width = width;
  f->height = height;
  if (av_frame_get_buffer(f, 0) < 0) {
    av_frame_free(&f);
    return VG_ENOMEM;
  }
  *out = f;
  return 0;
}

static int encode_video(const vg_clip_params_t *p, vg_track_t *track, frame_list_t *list) {
  int use_file = p->source && strcmp(p->source, "pattern") != 0;
  int64_t wanted = (int64_t)ceil(p->duration_s * p->fps - 1e-9);
  if (wanted < 1) wanted = 1;
  wanted = (wanted + p->gop - 1) / p->gop * p->gop;

  file_source_t src;
  AVCodecContext *enc = NULL;
  AVFrame *pic = NULL;
  AVPacket *pkt = NULL;
  int ret = 0;
  if (use_file && (ret = file_source_open(&src, p->source, p->width, p->height))) return ret;
  if ((ret = open_video_encoder(p, &enc)) || (ret = alloc_picture(&pic, p->width, p->height))) goto out;
  if (!(pkt = av_packet_alloc())) {
    ret = VG_ENOMEM;
    goto out;
  }
  *track = (vg_track_t){
      .codec = p->codec, .clock_rate = 90000, .width = p->width, .height = p->height, .fps = p->fps};
  video_sink_t sink = {.p = p, .track = track, .list = list};
  for (int64_t k = 0; k < wanted; k++) {
    if ((ret = av_frame_make_writable(pic)) < 0) {
      ret = VG_ENOMEM;
      goto out;
    }
    if (use_file) {
      if (file_source_picture(&src, (double)k / p->fps, pic)) break;
    } else {
      vg_yuv_picture_t y = {.plane = {pic->data[0], pic->data[1], pic->data[2]},
                            .stride = {pic->linesize[0], pic->linesize[1], pic->linesize[2]},
                            .width = p->width,
                            .height = p->height};
      vg_pattern_draw(&y, k, p->fps);
    }
    pic->pts = k;
    pic->pict_type = k % p->gop == 0 ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
    if ((ret = avcodec_send_frame(enc, pic)) < 0) {
      log_av("encoding", ret);
      ret = av_to_vg(ret);
      goto out;
    }
    if ((ret = drain_video(enc, pkt, &sink))) goto out;
  }
  avcodec_send_frame(enc, NULL);
  if ((ret = drain_video(enc, pkt, &sink))) goto out;

  /* A file shorter than asked for ends where its last whole GOP does, so
   * that keyframes stay evenly spaced across the loop. */
  size_t keep = list->count >= (size_t)p->gop ? list->count / (size_t)p->gop * (size_t)p->gop : list->count;
  while (list->count > keep)
    vg_frame_unref(&list->items[--list->count].frame);
  if (list->count == 0 || !(list->items[0].frame.flags & VG_FRAME_KEY) || !track->extradata) {
    vg_log_error(&lg, "the encoder produced no usable keyframe");
    ret = VG_EIO;
  }
out:
  av_packet_free(&pkt);
  av_frame_free(&pic);
  avcodec_free_context(&enc);
  if (use_file) file_source_close(&src);
  return ret;
}

/* ---- audio -------------------------------------------------------------- */

/* A 440 Hz tone with a 1 kHz pip at the start of every second, so that
 * audio/video sync and loop points are audible. */
static float tone_sample(int64_t n, int rate) {
  double t = (double)n / rate;
  double frac = t - floor(t);
  double hz = frac < 0.1 ? 1000.0 : 440.0;
  return (float)(0.3 * sin(2.0 * M_PI * hz * t));
}

static int encode_audio(const vg_clip_params_t *p, int64_t period_us, vg_track_t *track, frame_list_t *list,
                        int64_t *period_pts) {
  int aac = p->audio == VG_CODEC_AAC;
  const AVCodec *codec = avcodec_find_encoder(aac ? AV_CODEC_ID_AAC : AV_CODEC_ID_PCM_MULAW);
  if (!codec) return VG_EUNSUPPORTED;
  AVCodecContext *c = avcodec_alloc_context3(codec);
  AVFrame *fr = av_frame_alloc();
  AVPacket *pkt = av_packet_alloc();
  int ret = 0;
  if (!c || !fr || !pkt) {
    ret = VG_ENOMEM;
    goto out;
  }
  int rate = aac ? 16000 : 8000;
  c->sample_rate = rate;
  c->sample_fmt = aac ? AV_SAMPLE_FMT_FLTP : AV_SAMPLE_FMT_S16;
  av_channel_layout_default(&c->ch_layout, 1);
  c->bit_rate = aac ? 32000 : 64000;
  c->time_base = (AVRational){1, rate};
  c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if ((ret = avcodec_open2(c, codec, NULL)) < 0) {
    log_av("audio encoder", ret);
    ret = av_to_vg(ret);
    goto out;
  }
  /* G.711 in 20 ms packets, the RTP norm; AAC in its fixed 1024 samples. */
  int frame_size = aac ? c->frame_size : rate / 50;
  int64_t total = period_us * rate / 1000000;
  *period_pts = total;
  *track = (vg_track_t){.codec = p->audio, .clock_rate = (uint32_t)rate, .sample_rate = rate, .channels = 1};
  if (aac) {
    if (!c->extradata || c->extradata_size <= 0 ||
        !(track->extradata = vg_buf_from(c->extradata, (size_t)c->extradata_size))) {
      ret = VG_EIO;
      goto out;
    }
  }
  fr->format = c->sample_fmt;
  fr->nb_samples = frame_size;
  fr->sample_rate = rate;
  av_channel_layout_copy(&fr->ch_layout, &c->ch_layout);
  if (av_frame_get_buffer(fr, 0) < 0) {
    ret = VG_ENOMEM;
    goto out;
  }
  int64_t out_index = 0;
  for (int64_t n = 0;; n += frame_size) {
    int flushing = n >= total;
    if (!flushing) {
      if (av_frame_make_writable(fr) < 0) {
        ret = VG_ENOMEM;
        goto out;
      }
      for (int i = 0; i < frame_size; i++) {
        float s = n + i < total ? tone_sample(n + i, rate) : 0.0f;
        if (aac)
          ((float *)fr->data[0])[i] = s;
        else
          ((int16_t *)fr->data[0])[i] = (int16_t)(s * 32767.0f);
      }
      fr->pts = n;
    }
    if ((ret = avcodec_send_frame(c, flushing ? NULL : fr)) < 0) {
      log_av("audio encoding", ret);
      ret = av_to_vg(ret);
      goto out;
    }
    for (;;) {
      ret = avcodec_receive_packet(c, pkt);
      if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) break;
      if (ret < 0) {
        log_av("audio encoding", ret);
        ret = av_to_vg(ret);
        goto out;
      }
      /* Packets are numbered in order, which hides the AAC encoder's
       * priming delay; whatever would overlap the next loop is dropped. */
      int64_t pts = out_index++ * frame_size;
      if (pts + frame_size <= total) {
        vg_buf_t *buf = vg_buf_from(pkt->data, (size_t)pkt->size);
        vg_clip_frame_t f = {
            .frame = {.buf = buf, .len = (uint32_t)pkt->size, .flags = VG_FRAME_KEY, .track = 1, .pts = pts},
            .time_us = pts * 1000000 / rate};
        if (!buf || list_push(list, &f)) {
          vg_buf_unref(&buf);
          av_packet_unref(pkt);
          ret = VG_ENOMEM;
          goto out;
        }
        list->items[list->count - 1].frame.data = buf->data;
      }
      av_packet_unref(pkt);
    }
    if (flushing) break;
  }
  ret = 0;
out:
  av_packet_free(&pkt);
  av_frame_free(&fr);
  avcodec_free_context(&c);
  return ret;
}

/* ---- the clip ----------------------------------------------------------- */

static int check_params(const vg_clip_params_t *p) {
  if (p->codec != VG_CODEC_H264 && p->codec != VG_CODEC_H265) return VG_EINVAL;
  if (p->width < 16 || p->height < 16 || p->width > 8192 || p->height > 8192 || (p->width | p->height) & 1)
    return VG_EINVAL;
  if (p->fps < 1 || p->fps > 120 || p->gop < 1 || p->bitrate_kbps < 10 || p->bitrate_kbps > 1000000)
    return VG_EINVAL;
  if (!(p->duration_s > 0) || p->duration_s > CLIP_MAX_SECONDS) return VG_EINVAL;
  if (p->audio != VG_CODEC_NONE && p->audio != VG_CODEC_AAC && p->audio != VG_CODEC_PCMU) return VG_EINVAL;
  return 0;
}

/* Merges the video and audio lists into one, ordered by due time (video
 * first on ties, so a keyframe leads its moment). */
static int merge(vg_clip_t *clip, frame_list_t *v, frame_list_t *a) {
  clip->frames = calloc(v->count + a->count + 1, sizeof(*clip->frames));
  if (!clip->frames) return VG_ENOMEM;
  size_t i = 0, j = 0, n = 0;
  while (i < v->count || j < a->count) {
    if (j == a->count || (i < v->count && v->items[i].time_us <= a->items[j].time_us))
      clip->frames[n++] = v->items[i++];
    else
      clip->frames[n++] = a->items[j++];
  }
  clip->frame_count = n;
  /* The references moved into the clip. */
  v->count = a->count = 0;
  return 0;
}

/* The cache key names every parameter that changes the bytes, and for a
 * file source the file's identity, so a stale clip is never reused. */
static int cache_key(const vg_clip_params_t *p, char *key, size_t size) {
  int use_file = p->source && strcmp(p->source, "pattern") != 0;
  struct stat st = {0};
  if (use_file && stat(p->source, &st) != 0) return vg_err_from_errno();
  int n = snprintf(
      key, size, "camsim clip 1 lavc=%u %s %dx%d fps=%d kbps=%d gop=%d dur=%.3f audio=%s source=%s",
      (unsigned)LIBAVCODEC_VERSION_INT, vg_codec_name(p->codec), p->width, p->height, p->fps, p->bitrate_kbps,
      p->gop, p->duration_s, vg_codec_name(p->audio), use_file ? p->source : "pattern");
  if (use_file)
    n += snprintf(key + n, n < (int)size ? size - (size_t)n : 0, " size=%lld mtime=%lld",
                  (long long)st.st_size, (long long)st.st_mtime);
  return n < (int)size ? 0 : VG_ETOOBIG;
}

static int cache_path(const vg_clip_params_t *p, const char *key, char *path, size_t size) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (const char *c = key; *c; c++)
    h = (h ^ (uint8_t)*c) * 1099511628211ull;
  int n = snprintf(path, size, "%s/vigil-camsim-%u-%016llx.clip", p->cache_dir, (unsigned)geteuid(),
                   (unsigned long long)h);
  return n < (int)size ? 0 : VG_ETOOBIG;
}

static int encode_clip(const vg_clip_params_t *p, vg_clip_t **out);

int vg_clip_encode(const vg_clip_params_t *p, vg_clip_t **out) {
  *out = NULL;
  int ret = check_params(p);
  if (ret || !p->cache_dir || !*p->cache_dir) return ret ? ret : encode_clip(p, out);
  char key[1024 + 256], path[PATH_MAX];
  if ((ret = cache_key(p, key, sizeof(key))) || (ret = cache_path(p, key, path, sizeof(path)))) {
    if (ret == VG_ENOENT) vg_log_error(&lg, "%s: %s", p->source, vg_strerror(ret));
    return ret == VG_ENOENT ? ret : encode_clip(p, out);
  }
  int64_t t0 = vg_time_mono_us();
  if (vg_clip_load(path, key, out) == 0) {
    (*out)->encode_s = (double)(vg_time_mono_us() - t0) / 1e6;
    (*out)->from_cache = 1;
    vg_log_debug(&lg, "clip read from %s", path);
    return 0;
  }
  if ((ret = encode_clip(p, out))) return ret;
  int err = vg_clip_save(*out, path, key);
  if (err) vg_log_warn(&lg, "cannot keep the clip in %s: %s", path, vg_strerror(err));
  return 0;
}

static int encode_clip(const vg_clip_params_t *p, vg_clip_t **out) {
  int ret;
  int64_t t0 = vg_time_mono_us();
  vg_clip_t *clip = calloc(1, sizeof(*clip));
  if (!clip) return VG_ENOMEM;
  frame_list_t video = {0}, audio = {0};
  if ((ret = encode_video(p, &clip->tracks[0], &video))) goto fail;
  clip->track_count = 1;
  clip->video_frames = (int)video.count;
  clip->period_us = (int64_t)video.count * 1000000 / p->fps;
  clip->period_pts[0] = (int64_t)video.count * 90000 / p->fps;
  if (p->audio != VG_CODEC_NONE) {
    if ((ret = encode_audio(p, clip->period_us, &clip->tracks[1], &audio, &clip->period_pts[1]))) goto fail;
    clip->track_count = 2;
  }
  if ((ret = merge(clip, &video, &audio))) goto fail;
  for (size_t i = 0; i < clip->frame_count; i++)
    clip->bytes += clip->frames[i].frame.len;
  list_free(&video);
  list_free(&audio);
  clip->encode_s = (double)(vg_time_mono_us() - t0) / 1e6;
  *out = clip;
  return 0;
fail:
  list_free(&video);
  list_free(&audio);
  vg_clip_free(&clip);
  return ret;
}

void vg_clip_free(vg_clip_t **cp) {
  vg_clip_t *clip = *cp;
  if (!clip) return;
  *cp = NULL;
  for (size_t i = 0; i < clip->frame_count; i++)
    vg_frame_unref(&clip->frames[i].frame);
  free(clip->frames);
  for (int i = 0; i < VG_MAX_TRACKS; i++)
    vg_track_clear(&clip->tracks[i]);
  free(clip);
}
