#include "event/evidence.h"

#include <errno.h>
#include <fcntl.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "base/error.h"
#include "media/vdec.h"
#include "event/rules.h"
#include "stream/hub.h"

/* A picture later than the analysed frame by more than this shows another
 * moment (a frame and a half at 12.5 fps). */
#define GRAB_STALE_US 120000

/* Frames a grab reads at most: a long GOP at a high frame rate. */
#define GRAB_MAX_FRAMES 1024

void vg_rgb_image_free(vg_rgb_image_t *img) {
  free(img->rgb);
  memset(img, 0, sizeof(*img));
}

/* ---- grabbing ---- */

/* The newest decoded picture as full-size RGB. Snapshots are rare and one
 * GOP long: software decoding (hwaccel "none") spares a device's set-up. */
static int to_rgb(vg_vdec_t *d, vg_rgb_image_t *out) {
  int w, h;
  uint8_t *rgb;
  int err = vg_vdec_picture(d, 0, &w, &h, &rgb, NULL);
  if (err) return err == VG_ENODATA ? VG_ENOTFOUND : err;
  *out = (vg_rgb_image_t){.width = w, .height = h, .stride = w * 3, .rgb = rgb};
  return 0;
}

int vg_evidence_grab(const char *camera, int64_t frame_utc_us, vg_rgb_image_t *out) {
  memset(out, 0, sizeof(*out));
  vg_hub_t *hub = vg_hub_find(camera);
  if (!hub) return VG_ENOTFOUND;
  vg_hub_reader_opts_t opts = {.queue_frames = GRAB_MAX_FRAMES};
  vg_hub_reader_t *r = NULL;
  int err = vg_hub_open_reader(hub, &opts, &r);
  vg_hub_unref(&hub);
  if (err) return err;
  vg_track_t tracks[VG_MAX_TRACKS];
  int n = vg_hub_reader_tracks(r, tracks, VG_MAX_TRACKS);
  int video = -1;
  for (int i = 0; i < n; i++)
    if (video < 0 && vg_codec_is_video(tracks[i].codec)) video = i;
  vg_vdec_t *d = NULL;
  vg_vdec_opts_t dopts = {.hwaccel = VG_HWACCEL_NONE};
  err = video < 0 ? VG_ENOTFOUND : vg_vdec_open(&tracks[video], &dopts, &d);
  for (int i = 0; i < n; i++)
    vg_track_clear(&tracks[i]);
  if (err) {
    vg_hub_close_reader(&r);
    return err;
  }
  /* The cached GOP first, then whatever arrived meanwhile: keep decoding
   * while pictures are not later than the analysed frame. */
  int have = 0, frames = 0;
  int64_t pic_utc_us = 0;
  vg_frame_t f;
  while (frames++ < GRAB_MAX_FRAMES && vg_hub_read(r, &f) == 0) {
    int later = have && f.utc_us > frame_utc_us;
    if (f.track == video && !later) {
      if (vg_vdec_decode(d, &f) == 1) {
        have = 1;
        pic_utc_us = f.utc_us;
      }
    }
    vg_frame_unref(&f);
    if (later) break;
  }
  vg_hub_close_reader(&r);
  /* The analysed frame is older than the cached GOP (analytics lagged past
   * a keyframe): the picture would show another moment than the object's
   * box, so there is none to give. */
  if (have && pic_utc_us > frame_utc_us + GRAB_STALE_US)
    have = 0, err = VG_ENODATA;
  else
    err = have ? to_rgb(d, out) : VG_ENOTFOUND;
  vg_vdec_close(&d);
  return err;
}

/* ---- pictures ---- */

void vg_evidence_draw_box(vg_rgb_image_t *img, const float box[4]) {
  if (!(box[2] > box[0] && box[3] > box[1])) return;
  int w = img->width, h = img->height;
  int x1 = (int)(box[0] * w), y1 = (int)(box[1] * h), x2 = (int)(box[2] * w), y2 = (int)(box[3] * h);
  x1 = x1 < 0 ? 0 : x1 >= w ? w - 1 : x1;
  x2 = x2 < 0 ? 0 : x2 >= w ? w - 1 : x2;
  y1 = y1 < 0 ? 0 : y1 >= h ? h - 1 : y1;
  y2 = y2 < 0 ? 0 : y2 >= h ? h - 1 : y2;
  /* About 0.4% of the width, so the line shows on the thumbnail too. */
  int t = w / 240 > 2 ? w / 240 : 2;
  static const uint8_t color[3] = {255, 48, 0};
  for (int y = y1; y <= y2; y++) {
    for (int x = x1; x <= x2; x++) {
      bool edge = x - x1 < t || x2 - x < t || y - y1 < t || y2 - y < t;
      if (!edge) {
        x = x2 - t; /* skip the inside */
        continue;
      }
      memcpy(img->rgb + (size_t)y * img->stride + (size_t)x * 3, color, 3);
    }
  }
}

static int encode(tjhandle tj, const vg_rgb_image_t *img, int quality, uint8_t **buf, unsigned long *size) {
  *buf = NULL;
  *size = 0;
  if (tjCompress2(tj, img->rgb, img->width, img->stride, img->height, TJPF_RGB, buf, size, TJSAMP_420,
                  quality, TJFLAG_FASTDCT) != 0) {
    tjFree(*buf);
    *buf = NULL;
    return VG_EIO;
  }
  return 0;
}

int vg_evidence_jpeg(const vg_rgb_image_t *img, int quality, size_t max_bytes, uint8_t **out, size_t *len,
                     int *quality_used) {
  if (!img->rgb || img->width <= 0 || img->height <= 0) return VG_EINVAL;
  if (quality < 10) quality = 10;
  if (quality > 100) quality = 100;
  tjhandle tj = tjInitCompress();
  if (!tj) return VG_ENOMEM;
  uint8_t *best = NULL;
  unsigned long best_size = 0;
  int best_q = quality;
  int err = encode(tj, img, quality, &best, &best_size);
  if (!err && max_bytes && best_size > max_bytes) {
    /* The highest quality in [10, quality) whose file fits; the lowest
     * tried when none does. */
    int lo = 10, hi = quality - 1;
    uint8_t *fit = NULL;
    unsigned long fit_size = 0;
    int fit_q = 0;
    while (lo <= hi && !err) {
      int q = (lo + hi) / 2;
      uint8_t *buf;
      unsigned long size;
      if ((err = encode(tj, img, q, &buf, &size))) break;
      if (size <= max_bytes) {
        tjFree(fit);
        fit = buf, fit_size = size, fit_q = q;
        lo = q + 1;
      } else {
        tjFree(buf);
        hi = q - 1;
      }
    }
    if (!err && !fit) err = encode(tj, img, 10, &fit, &fit_size), fit_q = 10;
    if (!err) {
      tjFree(best);
      best = fit, best_size = fit_size, best_q = fit_q;
    } else {
      tjFree(fit);
    }
  }
  tjDestroy(tj);
  if (err) {
    tjFree(best);
    return err;
  }
  *out = malloc(best_size);
  if (!*out) {
    tjFree(best);
    return VG_ENOMEM;
  }
  memcpy(*out, best, best_size);
  tjFree(best);
  *len = best_size;
  if (quality_used) *quality_used = best_q;
  return 0;
}

static int scale(const vg_rgb_image_t *src, int width, vg_rgb_image_t *dst) {
  memset(dst, 0, sizeof(*dst));
  if (width > src->width) width = src->width;
  int height = (int)((int64_t)src->height * width / src->width);
  if (height < 1) height = 1;
  struct SwsContext *sws = sws_getContext(src->width, src->height, AV_PIX_FMT_RGB24, width, height,
                                          AV_PIX_FMT_RGB24, SWS_AREA, NULL, NULL, NULL);
  if (!sws) return VG_EUNSUPPORTED;
  dst->width = width;
  dst->height = height;
  dst->stride = width * 3;
  if (!(dst->rgb = malloc((size_t)dst->stride * (size_t)height))) {
    sws_freeContext(sws);
    return VG_ENOMEM;
  }
  const uint8_t *sp[4] = {src->rgb, NULL, NULL, NULL};
  int ss[4] = {src->stride, 0, 0, 0};
  uint8_t *dp[4] = {dst->rgb, NULL, NULL, NULL};
  int ds[4] = {dst->stride, 0, 0, 0};
  sws_scale(sws, sp, ss, 0, src->height, dp, ds);
  sws_freeContext(sws);
  return 0;
}

/* The box with a margin of a quarter of its size on each side, at least
 * 64 pixels, as a view into pic (no copy: the stride stays). */
static vg_rgb_image_t crop_view(const vg_rgb_image_t *pic, const float box[4]) {
  int w = pic->width, h = pic->height;
  float bw = box[2] - box[0], bh = box[3] - box[1];
  int x1 = (int)((box[0] - bw / 4) * w), x2 = (int)((box[2] + bw / 4) * w);
  int y1 = (int)((box[1] - bh / 4) * h), y2 = (int)((box[3] + bh / 4) * h);
  if (x2 - x1 < 64) x1 -= (64 - (x2 - x1)) / 2, x2 = x1 + 64;
  if (y2 - y1 < 64) y1 -= (64 - (y2 - y1)) / 2, y2 = y1 + 64;
  x1 = x1 < 0 ? 0 : x1;
  y1 = y1 < 0 ? 0 : y1;
  x2 = x2 > w ? w : x2;
  y2 = y2 > h ? h : y2;
  if (x2 - x1 < 16 || y2 - y1 < 16) return *pic;
  return (vg_rgb_image_t){x2 - x1, y2 - y1, pic->stride,
                          pic->rgb + (size_t)y1 * pic->stride + (size_t)x1 * 3};
}

int vg_evidence_render(vg_rgb_image_t *pic, const float box[4], const vg_evidence_opts_t *o, uint8_t **snap,
                       size_t *snap_len, uint8_t **thumb, size_t *thumb_len) {
  *snap = *thumb = NULL;
  bool has_box = box && box[2] > box[0] && box[3] > box[1];
  vg_rgb_image_t view = *pic;
  if (has_box && o->overlay == VG_EVENT_OVERLAY_BOX) vg_evidence_draw_box(pic, box);
  if (has_box && o->overlay == VG_EVENT_OVERLAY_CROP) view = crop_view(pic, box);
  int err = vg_evidence_jpeg(&view, o->quality, o->max_bytes, snap, snap_len, NULL);
  if (err) return err;
  vg_rgb_image_t small;
  err = scale(&view, o->thumbnail_width, &small);
  if (!err) err = vg_evidence_jpeg(&small, 75, 0, thumb, thumb_len, NULL);
  vg_rgb_image_free(&small);
  if (err) {
    free(*snap);
    *snap = NULL;
  }
  return err;
}

/* ---- files ---- */

static int make_dirs(char *path) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    int rc = mkdir(path, 0755);
    *p = '/';
    if (rc != 0 && errno != EEXIST) return vg_err_from_errno();
  }
  return 0;
}

int vg_evidence_write(const char *dir, const char *rel, const uint8_t *data, size_t len) {
  char path[1024], tmp[1100];
  if (snprintf(path, sizeof(path), "%s/%s", dir, rel) >= (int)sizeof(path)) return VG_ETOOBIG;
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  int err = make_dirs(path);
  if (err) return err;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return vg_err_from_errno();
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(fd, data + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = vg_err_from_errno();
      break;
    }
    done += (size_t)n;
  }
  if (close(fd) != 0 && !err) err = vg_err_from_errno();
  if (!err && rename(tmp, path) != 0) err = vg_err_from_errno();
  if (err) unlink(tmp);
  return err;
}

int vg_evidence_remove(const char *dir, const char *rel) {
  if (!rel || !*rel) return 0;
  char path[1024];
  if (snprintf(path, sizeof(path), "%s/%s", dir, rel) >= (int)sizeof(path)) return VG_ETOOBIG;
  if (unlink(path) != 0 && errno != ENOENT) return vg_err_from_errno();
  return 0;
}
