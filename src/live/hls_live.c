/*
 * hls_live.c: live HLS with fMP4 segments of one GOP (see hls_live.h).
 */
#include "live/hls_live.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "base/buf.h"
#include "base/error.h"
#include "base/log.h"
#include "base/time.h"
#include "ingest/camera.h"
#include "live/ws_live.h"
#include "media/fmp4.h"
#include "net/worker.h"
#include "stream/hub.h"

static const vg_log_ctx_t lg = {"hls", NULL};

#define HLS_HUB_QUEUE 512
/* A GOP longer than this is cut anyway, so that players keep going. */
#define HLS_MAX_SEGMENT_S 10

typedef struct {
  uint64_t seq;
  vg_buf_t *data; /* moof + mdat */
  double duration_s;
  int discontinuity; /* first segment after new tracks */
} hls_segment_t;

typedef struct hls_session {
  char camera[64];
  atomic_int refs;
  vg_hub_t *hub;
  vg_worker_t *worker;
  struct hls_session *next; /* the sessions list, under sessions_lock */

  /* The worker's part. */
  vg_hub_reader_t *reader;
  atomic_int scheduled;
  vg_fmp4_t *mux;
  int map[VG_MAX_TRACKS];
  int video;
  uint32_t video_clock;
  int64_t seg_start_pts;
  int next_discontinuity;

  /* Shared with the handlers, under lock. */
  pthread_mutex_t lock;
  pthread_cond_t cond;
  vg_buf_t *init;
  hls_segment_t segs[VG_HLS_WINDOW];
  int nsegs;
  uint64_t next_seq;
  int64_t last_access_us;
  int stopped;
} hls_session_t;

static pthread_mutex_t sessions_lock = PTHREAD_MUTEX_INITIALIZER;
static hls_session_t *sessions;

static void session_unref(hls_session_t *s) {
  if (atomic_fetch_sub(&s->refs, 1) != 1) return;
  vg_fmp4_free(&s->mux);
  vg_buf_unref(&s->init);
  for (int i = 0; i < s->nsegs; i++)
    vg_buf_unref(&s->segs[i].data);
  vg_hub_unref(&s->hub);
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->cond);
  free(s);
}

/* ---- the worker's part ---- */

static void publish_segment(hls_session_t *s) {
  vg_fmp4_fragment_t frag;
  if (!s->mux || vg_fmp4_flush_fragment(s->mux, &frag) != 0) return;
  vg_buf_t *b = vg_buf_alloc((size_t)frag.size);
  if (b) {
    for (int i = 0; i < frag.iov_count; i++) {
      memcpy(b->data + b->len, frag.iov[i].iov_base, frag.iov[i].iov_len);
      b->len += frag.iov[i].iov_len;
    }
  }
  double dur = frag.track == 0 && s->video_clock ? (double)frag.duration / s->video_clock : 0;
  vg_fmp4_fragment_release(&frag);
  if (!b) return;
  pthread_mutex_lock(&s->lock);
  if (s->nsegs == VG_HLS_WINDOW) {
    vg_buf_unref(&s->segs[0].data);
    memmove(&s->segs[0], &s->segs[1], sizeof(s->segs[0]) * (VG_HLS_WINDOW - 1));
    s->nsegs--;
  }
  s->segs[s->nsegs++] = (hls_segment_t){s->next_seq++, b, dur > 0 ? dur : 1.0, s->next_discontinuity};
  s->next_discontinuity = 0;
  pthread_cond_broadcast(&s->cond);
  pthread_mutex_unlock(&s->lock);
}

static void set_tracks(hls_session_t *s, const vg_track_t *tracks, int count) {
  vg_fmp4_free(&s->mux);
  s->video = -1;
  for (int i = 0; i < VG_MAX_TRACKS; i++)
    s->map[i] = -1;
  vg_track_t chosen[2] = {{0}};
  char cs[64];
  int n = 0;
  for (int i = 0; i < count && i < VG_MAX_TRACKS && s->video < 0; i++)
    if ((tracks[i].codec == VG_CODEC_H264 || tracks[i].codec == VG_CODEC_H265) &&
        vg_live_codec_string(&tracks[i], cs, sizeof(cs)) > 0) {
      s->video = i;
      vg_track_copy(&chosen[n], &tracks[i]);
      vg_live_complete_video_info(&chosen[n++]);
    }
  if (s->video < 0) return;
  s->video_clock = tracks[s->video].clock_rate;
  int audio = -1;
  for (int i = 0; i < count && i < VG_MAX_TRACKS && audio < 0; i++)
    if ((tracks[i].codec == VG_CODEC_AAC || tracks[i].codec == VG_CODEC_OPUS) &&
        vg_live_codec_string(&tracks[i], cs, sizeof(cs)) > 0) {
      audio = i;
      vg_track_copy(&chosen[n++], &tracks[i]);
    }
  int err = vg_fmp4_create(chosen, n, &s->mux);
  if (err && audio >= 0) {
    vg_track_clear(&chosen[--n]);
    audio = -1;
    err = vg_fmp4_create(chosen, n, &s->mux);
  }
  for (int i = 0; i < n; i++)
    vg_track_clear(&chosen[i]);
  if (err) {
    vg_log_warn(&lg, "%s: cannot mux the stream: %s", s->camera, vg_strerror(err));
    s->video = -1;
    return;
  }
  s->map[s->video] = 0;
  if (audio >= 0) s->map[audio] = 1;
  vg_buf_t *init = NULL;
  if (vg_fmp4_init_segment(s->mux, &init) < 0) return;
  pthread_mutex_lock(&s->lock);
  /* Old segments do not fit the new init segment. */
  for (int i = 0; i < s->nsegs; i++)
    vg_buf_unref(&s->segs[i].data);
  s->nsegs = 0;
  vg_buf_unref(&s->init);
  s->init = init;
  pthread_mutex_unlock(&s->lock);
  s->next_discontinuity = s->next_seq > 0;
  s->seg_start_pts = -1;
}

static void feed(hls_session_t *s, const vg_frame_t *f) {
  if (!s->mux || f->track >= VG_MAX_TRACKS || s->map[f->track] < 0) return;
  int is_video = f->track == s->video;
  if (s->seg_start_pts < 0) {
    /* The first segment starts at a keyframe (the GOP cache begins with one). */
    if (!is_video || !(f->flags & VG_FRAME_KEY)) return;
    s->seg_start_pts = f->pts;
  } else if (is_video && vg_fmp4_queued(s->mux) > 0 &&
             ((f->flags & VG_FRAME_KEY) ||
              f->pts - s->seg_start_pts > (int64_t)HLS_MAX_SEGMENT_S * s->video_clock)) {
    publish_segment(s);
    s->seg_start_pts = f->pts;
  }
  vg_frame_t mf = *f;
  mf.track = (uint8_t)s->map[f->track];
  int err = vg_fmp4_add_frame(s->mux, &mf);
  if (err == VG_ETOOBIG) {
    publish_segment(s);
    err = vg_fmp4_add_frame(s->mux, &mf);
  }
  if (err) vg_log_debug(&lg, "%s: frame left out: %s", s->camera, vg_strerror(err));
}

static void close_reader_task(void *arg);

static void drain(void *arg) {
  hls_session_t *s = arg;
  atomic_store(&s->scheduled, 0);
  if (!s->reader) return;
  for (;;) {
    vg_frame_t f;
    int r = vg_hub_read(s->reader, &f);
    if (r == VG_EAGAIN || r == VG_ECLOSED || (r < 0 && r != VG_ESTATE)) break;
    if (r == VG_ESTATE) {
      vg_track_t tracks[VG_MAX_TRACKS] = {{0}};
      int n = vg_hub_reader_tracks(s->reader, tracks, VG_MAX_TRACKS);
      set_tracks(s, tracks, n);
      for (int i = 0; i < n; i++)
        vg_track_clear(&tracks[i]);
      continue;
    }
    feed(s, &f);
    vg_frame_unref(&f);
  }
  /* Caught up: the first segment ends here, so that a player can start now
   * instead of a GOP later. */
  pthread_mutex_lock(&s->lock);
  int first = s->nsegs == 0 && s->next_seq == 0;
  int64_t idle_us = vg_time_mono_us() - s->last_access_us;
  pthread_mutex_unlock(&s->lock);
  if (first && s->mux && vg_fmp4_queued(s->mux) > 0) publish_segment(s);
  if (idle_us > (int64_t)VG_HLS_IDLE_S * 1000000) {
    int mine = 0;
    pthread_mutex_lock(&sessions_lock);
    for (hls_session_t **pp = &sessions; *pp; pp = &(*pp)->next)
      if (*pp == s) {
        *pp = s->next;
        mine = 1;
        break;
      }
    pthread_mutex_unlock(&sessions_lock);
    if (mine) {
      vg_log_info(&lg, "%s: HLS session idle, stopped", s->camera);
      close_reader_task(s);
    }
  }
}

static void on_notify(void *opaque) {
  hls_session_t *s = opaque;
  if (!atomic_exchange(&s->scheduled, 1)) vg_worker_post(s->worker, drain, s);
}

static void open_task(void *arg) {
  hls_session_t *s = arg;
  vg_hub_reader_opts_t o = {.queue_frames = HLS_HUB_QUEUE, .notify = on_notify, .opaque = s};
  if (vg_hub_open_reader(s->hub, &o, &s->reader) != 0) return;
  drain(s);
}

static void release_task(void *arg) { session_unref(arg); }

/* On the worker: no notify after the reader is closed; the session's list
 * reference goes in a task behind any drain already posted. */
static void close_reader_task(void *arg) {
  hls_session_t *s = arg;
  vg_hub_close_reader(&s->reader);
  pthread_mutex_lock(&s->lock);
  s->stopped = 1;
  pthread_cond_broadcast(&s->cond);
  pthread_mutex_unlock(&s->lock);
  if (vg_worker_post(s->worker, release_task, s) != 0) session_unref(s);
}

/* ---- the handlers' part ---- */

/* The session of camera with a new reference, started when start is set. */
static hls_session_t *get_session(const char *camera, int start, int *created) {
  *created = 0;
  pthread_mutex_lock(&sessions_lock);
  hls_session_t *s = sessions;
  while (s && strcmp(s->camera, camera) != 0)
    s = s->next;
  if (s) atomic_fetch_add(&s->refs, 1);
  pthread_mutex_unlock(&sessions_lock);
  if (s || !start) return s;
  vg_hub_t *hub = vg_hub_find(camera);
  if (!hub) return NULL;
  s = calloc(1, sizeof(*s));
  if (!s) {
    vg_hub_unref(&hub);
    return NULL;
  }
  snprintf(s->camera, sizeof(s->camera), "%s", camera);
  s->hub = hub;
  vg_camera_t *cam = vg_camera_find(camera);
  s->worker = cam && cam->worker ? cam->worker : vg_workers_count() > 0 ? vg_worker_next() : NULL;
  s->video = -1;
  s->seg_start_pts = -1;
  for (int i = 0; i < VG_MAX_TRACKS; i++)
    s->map[i] = -1;
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->cond, NULL);
  s->last_access_us = vg_time_mono_us();
  atomic_init(&s->refs, 2); /* the list's (the worker's) and the caller's */
  if (!s->worker || vg_worker_post(s->worker, open_task, s) != 0) {
    atomic_store(&s->refs, 1);
    session_unref(s);
    return NULL;
  }
  pthread_mutex_lock(&sessions_lock);
  s->next = sessions;
  sessions = s;
  pthread_mutex_unlock(&sessions_lock);
  *created = 1;
  vg_log_info(&lg, "%s: HLS session started", camera);
  return s;
}

/* A response body streamed out of a segment's buffer (no copy up front). */
typedef struct {
  vg_http_stream_t st;
  vg_buf_t *buf;
  size_t off;
} buf_stream_t;

static long buf_stream_read(vg_http_stream_t *st, uint8_t *dst, size_t cap) {
  buf_stream_t *bs = (buf_stream_t *)st;
  size_t n = bs->buf->len - bs->off;
  if (n > cap) n = cap;
  if (n == 0) return VG_EIO;
  memcpy(dst, bs->buf->data + bs->off, n);
  bs->off += n;
  return (long)n;
}

static void buf_stream_close(vg_http_stream_t *st) {
  buf_stream_t *bs = (buf_stream_t *)st;
  vg_buf_unref(&bs->buf);
  free(bs);
}

static int reply_buf(vg_http_response_t *res, vg_buf_t *b, const char *type) {
  buf_stream_t *bs = calloc(1, sizeof(*bs));
  if (!bs) {
    vg_buf_unref(&b);
    return VG_ENOMEM;
  }
  bs->st.length = b->len;
  bs->st.read = buf_stream_read;
  bs->st.close = buf_stream_close;
  bs->buf = b;
  res->status = 200;
  res->content_type = type;
  res->stream = &bs->st;
  return 0;
}

static int check_camera(const vg_http_request_t *req, vg_http_response_t *res, const char **id) {
  *id = vg_http_param(req, "id");
  vg_hub_t *hub = vg_api_camera_allowed(req, *id, VG_PERM_LIVE) ? vg_hub_find(*id) : NULL;
  if (!hub) {
    vg_http_reply_error(res, 404, "not_found", "no camera '%s'", *id);
    return VG_ENOTFOUND;
  }
  vg_hub_unref(&hub);
  return 0;
}

int vg_hls_get_playlist(const vg_http_request_t *req, vg_http_response_t *res) {
  const char *id;
  if (check_camera(req, res, &id) != 0) return 0;
  int created;
  hls_session_t *s = get_session(id, 1, &created);
  if (!s) return vg_http_reply_error(res, 503, "unavailable", "cannot start HLS for '%s'", id);
  vg_hub_stats_t hs;
  vg_hub_stats(s->hub, &hs);
  pthread_mutex_lock(&s->lock);
  s->last_access_us = vg_time_mono_us();
  if (s->nsegs == 0 && hs.live && !s->stopped) {
    /* A new session has its first segment within milliseconds (the GOP
     * cache); waiting here saves the player an empty playlist. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)VG_HLS_FIRST_WAIT_MS * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    while (s->nsegs == 0 && !s->stopped)
      if (pthread_cond_timedwait(&s->cond, &s->lock, &until) == ETIMEDOUT) break;
  }
  double target = 1;
  for (int i = 0; i < s->nsegs; i++)
    if (s->segs[i].duration_s > target) target = s->segs[i].duration_s;
  vg_strbuf_t *b = &res->body;
  vg_strbuf_printf(b, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:%llu\n",
                   (int)(target + 0.999), (unsigned long long)(s->nsegs ? s->segs[0].seq : s->next_seq));
  if (s->init) vg_strbuf_printf(b, "#EXT-X-MAP:URI=\"live/init.mp4\"\n");
  for (int i = 0; i < s->nsegs; i++) {
    if (s->segs[i].discontinuity && i > 0) vg_strbuf_printf(b, "#EXT-X-DISCONTINUITY\n");
    vg_strbuf_printf(b, "#EXTINF:%.3f,\nlive/%llu.m4s\n", s->segs[i].duration_s,
                     (unsigned long long)s->segs[i].seq);
  }
  pthread_mutex_unlock(&s->lock);
  session_unref(s);
  res->status = 200;
  res->content_type = "application/vnd.apple.mpegurl";
  return 0;
}

int vg_hls_get_file(const vg_http_request_t *req, vg_http_response_t *res) {
  const char *id;
  if (check_camera(req, res, &id) != 0) return 0;
  const char *file = vg_http_param(req, "file");
  int created;
  hls_session_t *s = get_session(id, 0, &created);
  vg_buf_t *found = NULL;
  if (s) {
    pthread_mutex_lock(&s->lock);
    s->last_access_us = vg_time_mono_us();
    if (strcmp(file, "init.mp4") == 0) {
      found = vg_buf_ref(s->init);
    } else {
      char *end;
      unsigned long long seq = strtoull(file, &end, 10);
      if (end != file && strcmp(end, ".m4s") == 0)
        for (int i = 0; i < s->nsegs; i++)
          if (s->segs[i].seq == seq) found = vg_buf_ref(s->segs[i].data);
    }
    pthread_mutex_unlock(&s->lock);
    session_unref(s);
  }
  if (!found)
    return vg_http_reply_error(res, 404, "not_found", "no live HLS file '%s' for camera '%s'", file, id);
  return reply_buf(res, found, "video/mp4");
}

void vg_hls_stop_all(void) {
  pthread_mutex_lock(&sessions_lock);
  hls_session_t *list = sessions;
  sessions = NULL;
  pthread_mutex_unlock(&sessions_lock);
  while (list) {
    hls_session_t *s = list;
    list = s->next;
    if (vg_worker_post(s->worker, close_reader_task, s) != 0) {
      vg_hub_close_reader(&s->reader);
      session_unref(s);
    }
  }
}
