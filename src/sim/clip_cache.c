/* clip_cache.c: camsim's encoded clip saved to and read back from a file,
 * so that starting camsim again with the same parameters skips encoding.
 *
 * The file is a plain serialization in host byte order (it never leaves the
 * machine). It lives in a shared directory such as /tmp, so reading treats
 * it as untrusted: every count and length is bounded and checked against
 * the bytes present, and a file that does not match exactly is ignored. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "media/nal.h"
#include "sim/clip.h"

static const char CACHE_MAGIC[8] = {'v', 'g', 'c', 'l', 'i', 'p', '0', '1'};
/* Bounds for reading: far above anything camsim writes (10 min at 1 Gb/s
 * is 75 GB, refused by vg_clip_encode long before). */
#define CACHE_MAX_KEY 1024
#define CACHE_MAX_EXTRADATA 65536
#define CACHE_MAX_FRAMES 1000000
#define CACHE_MAX_FILE (1u << 30)

typedef struct {
  const uint8_t *p, *end;
  int bad;
} reader_t;

static int take(reader_t *r, void *out, size_t n) {
  if (r->bad || (size_t)(r->end - r->p) < n) {
    r->bad = 1;
    if (out) memset(out, 0, n);
    return VG_EPROTO;
  }
  if (out) memcpy(out, r->p, n);
  r->p += n;
  return 0;
}

static uint32_t take_u32(reader_t *r) {
  uint32_t v;
  take(r, &v, sizeof(v));
  return v;
}

static int64_t take_i64(reader_t *r) {
  int64_t v;
  take(r, &v, sizeof(v));
  return v;
}

static int parse_track(reader_t *r, vg_track_t *t) {
  uint32_t codec = take_u32(r), clock_rate = take_u32(r);
  int32_t w = (int32_t)take_u32(r), h = (int32_t)take_u32(r);
  uint32_t fps_milli = take_u32(r), sample_rate = take_u32(r), channels = take_u32(r), ex_len = take_u32(r);
  if (r->bad || codec > VG_CODEC_OPUS || clock_rate == 0 || clock_rate > 1000000 || w < 0 || h < 0 ||
      w > 16384 || h > 16384 || fps_milli > 1000000 || sample_rate > 1000000 || channels > 64 ||
      ex_len > CACHE_MAX_EXTRADATA || (size_t)(r->end - r->p) < ex_len)
    return VG_EPROTO;
  *t = (vg_track_t){.codec = (vg_codec_t)codec,
                    .clock_rate = clock_rate,
                    .width = w,
                    .height = h,
                    .fps = fps_milli / 1000.0,
                    .sample_rate = (int)sample_rate,
                    .channels = (int)channels};
  if (ex_len) {
    if (!(t->extradata = vg_buf_from(r->p, ex_len))) return VG_ENOMEM;
    r->p += ex_len;
  }
  return 0;
}

static int parse_frames(reader_t *r, vg_clip_t *clip) {
  uint64_t count;
  take(r, &count, sizeof(count));
  /* Each frame needs at least its 25-byte header: no allocation beyond
   * what the input could describe. */
  if (r->bad || count == 0 || count > CACHE_MAX_FRAMES || count > (uint64_t)(r->end - r->p) / 25)
    return VG_EPROTO;
  clip->frames = calloc((size_t)count, sizeof(*clip->frames));
  if (!clip->frames) return VG_ENOMEM;
  int64_t last_time = 0;
  int video = 0;
  for (uint64_t i = 0; i < count; i++) {
    uint8_t track;
    take(r, &track, 1);
    uint32_t flags = take_u32(r);
    int64_t pts = take_i64(r), time_us = take_i64(r);
    uint32_t len = take_u32(r);
    if (r->bad || track >= clip->track_count || pts < 0 || time_us < last_time ||
        time_us >= clip->period_us || pts >= clip->period_pts[track] || len == 0 ||
        len > VG_NAL_MAX_AU_SIZE || (size_t)(r->end - r->p) < len)
      return VG_EPROTO;
    vg_buf_t *buf = vg_buf_from(r->p, len);
    if (!buf) return VG_ENOMEM;
    r->p += len;
    clip->frames[clip->frame_count++] = (vg_clip_frame_t){.frame = {.buf = buf,
                                                                    .data = buf->data,
                                                                    .len = len,
                                                                    .flags = flags & VG_FRAME_KEY,
                                                                    .track = track,
                                                                    .pts = pts},
                                                          .time_us = time_us};
    clip->bytes += len;
    last_time = time_us;
    if (track == 0) video++;
  }
  if (video != clip->video_frames || !(clip->frames[0].frame.flags & VG_FRAME_KEY) ||
      clip->frames[0].frame.track != 0)
    return VG_EPROTO;
  return 0;
}

int vg_clip_parse(const uint8_t *data, size_t len, const char *key, vg_clip_t **out) {
  *out = NULL;
  reader_t r = {data, data + len, 0};
  char magic[8];
  take(&r, magic, sizeof(magic));
  uint32_t key_len = take_u32(&r);
  if (r.bad || memcmp(magic, CACHE_MAGIC, sizeof(magic)) != 0 || key_len > CACHE_MAX_KEY ||
      (size_t)(r.end - r.p) < key_len)
    return VG_EPROTO;
  /* The key spells out the parameters: a file for other ones is not ours. */
  if (key && (key_len != strlen(key) || memcmp(r.p, key, key_len) != 0)) return VG_ENOENT;
  r.p += key_len;

  vg_clip_t *clip = calloc(1, sizeof(*clip));
  if (!clip) return VG_ENOMEM;
  int ret = VG_EPROTO;
  uint32_t tracks = take_u32(&r);
  if (r.bad || tracks < 1 || tracks > 2) goto fail;
  clip->track_count = (int)tracks;
  for (int i = 0; i < clip->track_count; i++)
    if ((ret = parse_track(&r, &clip->tracks[i]))) goto fail;
  ret = VG_EPROTO;
  if (!vg_codec_is_video(clip->tracks[0].codec) || !clip->tracks[0].extradata) goto fail;
  if (tracks == 2 && clip->tracks[1].codec != VG_CODEC_AAC && clip->tracks[1].codec != VG_CODEC_PCMU)
    goto fail;
  clip->period_us = take_i64(&r);
  for (int i = 0; i < VG_MAX_TRACKS; i++)
    clip->period_pts[i] = take_i64(&r);
  clip->video_frames = (int)take_u32(&r);
  if (r.bad || clip->period_us <= 0 || clip->video_frames <= 0) goto fail;
  for (int i = 0; i < clip->track_count; i++)
    if (clip->period_pts[i] <= 0) goto fail;
  if ((ret = parse_frames(&r, clip))) goto fail;
  if (r.p != r.end) {
    ret = VG_EPROTO;
    goto fail;
  }
  *out = clip;
  return 0;
fail:
  vg_clip_free(&clip);
  return ret;
}

static int put(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n ? 0 : VG_EIO; }
static int put_u32(FILE *f, uint32_t v) { return put(f, &v, sizeof(v)); }
static int put_i64(FILE *f, int64_t v) { return put(f, &v, sizeof(v)); }

static int write_clip(FILE *f, const vg_clip_t *clip, const char *key) {
  int err = put(f, CACHE_MAGIC, sizeof(CACHE_MAGIC));
  err |= put_u32(f, (uint32_t)strlen(key)) | put(f, key, strlen(key));
  err |= put_u32(f, (uint32_t)clip->track_count);
  for (int i = 0; i < clip->track_count; i++) {
    const vg_track_t *t = &clip->tracks[i];
    uint32_t ex_len = t->extradata ? (uint32_t)t->extradata->len : 0;
    err |= put_u32(f, t->codec) | put_u32(f, t->clock_rate) | put_u32(f, (uint32_t)t->width) |
           put_u32(f, (uint32_t)t->height) | put_u32(f, (uint32_t)(t->fps * 1000 + 0.5)) |
           put_u32(f, (uint32_t)t->sample_rate) | put_u32(f, (uint32_t)t->channels) | put_u32(f, ex_len);
    if (ex_len) err |= put(f, t->extradata->data, ex_len);
  }
  err |= put_i64(f, clip->period_us);
  for (int i = 0; i < VG_MAX_TRACKS; i++)
    err |= put_i64(f, clip->period_pts[i]);
  err |= put_u32(f, (uint32_t)clip->video_frames);
  uint64_t count = clip->frame_count;
  err |= put(f, &count, sizeof(count));
  for (size_t i = 0; i < clip->frame_count && !err; i++) {
    const vg_clip_frame_t *cf = &clip->frames[i];
    err |= put(f, &cf->frame.track, 1) | put_u32(f, cf->frame.flags) | put_i64(f, cf->frame.pts) |
           put_i64(f, cf->time_us) | put_u32(f, cf->frame.len) | put(f, cf->frame.data, cf->frame.len);
  }
  return err ? VG_EIO : 0;
}

int vg_clip_save(const vg_clip_t *clip, const char *path, const char *key) {
  /* Written under a temporary name and renamed, so a reader never sees a
   * half-written file and two camsims starting at once do not collide. */
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid()) >= (int)sizeof(tmp)) return VG_EINVAL;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return vg_err_from_errno();
  FILE *f = fdopen(fd, "wb");
  if (!f) {
    close(fd);
    unlink(tmp);
    return VG_ENOMEM;
  }
  int err = write_clip(f, clip, key);
  if (fclose(f) != 0 && !err) err = VG_EIO;
  if (!err && rename(tmp, path) != 0) err = vg_err_from_errno();
  if (err) unlink(tmp);
  return err;
}

int vg_clip_load(const char *path, const char *key, vg_clip_t **out) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_NOFOLLOW);
  if (fd < 0) return vg_err_from_errno();
  struct stat st;
  int ret = VG_EPROTO;
  /* Only a regular file of our own: another user's file in /tmp is not trusted. */
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_size <= 0 ||
      (uint64_t)st.st_size > CACHE_MAX_FILE) {
    close(fd);
    return ret;
  }
  uint8_t *data = malloc((size_t)st.st_size);
  if (!data) {
    close(fd);
    return VG_ENOMEM;
  }
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  if (got == (size_t)st.st_size) ret = vg_clip_parse(data, got, key, out);
  free(data);
  return ret;
}
