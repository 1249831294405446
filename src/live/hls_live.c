/*
 * hls_live.c: live LL-HLS with fMP4 parts and segments of one GOP (see
 * hls_live.h).
 */
#include "live/hls_live.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
/* How far ahead of the newest part a blocking reload may ask (RFC 8216bis
 * 6.2.5.2's Advance Part Limit: three seconds' worth of parts). */
#define HLS_ADVANCE_PARTS (3000 / VG_HLS_PART_TARGET_MS)
#define HLS_PART_HOLD_BACK_S (3.0 * VG_HLS_PART_TARGET_MS / 1000.0)

typedef struct {
  vg_buf_t *data; /* moof + mdat */
  double duration_s;
  int independent; /* starts with a video keyframe */
} hls_part_t;

typedef struct {
  uint64_t seq; /* the media sequence number */
  hls_part_t parts[VG_HLS_MAX_PARTS];
  int nparts;
  double duration_s; /* the sum of the parts' */
  int64_t utc_us;    /* wall clock of its first frame, for EXT-X-PROGRAM-DATE-TIME */
  int discontinuity; /* first segment after new tracks */
} hls_segment_t;

typedef struct hls_wait hls_wait_t;

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
  int64_t seg_start_pts;  /* -1: waiting for a keyframe to start from */
  int seg_open;           /* cur has started (a video frame went in) */
  int64_t part_start_pts; /* first video frame of the part being built, or -1 */
  int part_key;
  int64_t last_video_pts;
  int64_t frame_ticks; /* the last video frame interval, for a part's end */
  int next_discontinuity;
  int first_done; /* the first segment (the cached GOP) was closed */

  /* Shared with the handlers, under lock. */
  pthread_mutex_t lock;
  vg_buf_t *init;
  hls_segment_t segs[VG_HLS_WINDOW]; /* complete segments, oldest first */
  int nsegs;
  hls_segment_t cur; /* the segment being built: its parts so far */
  double max_seg_s;  /* for EXT-X-TARGETDURATION, which must not shrink */
  hls_wait_t *waiters;
  int64_t last_access_us;
  int stopped;
} hls_session_t;

/* A held request: a blocking playlist reload, the first playlist of a
 * session, or the hinted part. A deferred response (router.h's
 * VG_HTTP_STREAM_DEFERRED): settle decides the status and renders the
 * body, read sends it. */
enum { WAIT_PLAYLIST, WAIT_PART };

struct hls_wait {
  vg_http_stream_t st;
  hls_session_t *s; /* a reference */
  int kind;
  int64_t msn; /* WAIT_PLAYLIST: -1 for "any segment" (the first request) */
  int part;    /* -1 for "the whole segment" */
  int64_t deadline_us;
  void (*wake)(void *);
  void *wake_opaque;
  hls_wait_t *next; /* the session's waiters, under its lock */
  int linked, ready;
  const char *type; /* the content type of a 200 */
  vg_strbuf_t text; /* the playlist or the JSON error to send */
  vg_buf_t *buf;    /* or the part */
  size_t off;
};

static pthread_mutex_t sessions_lock = PTHREAD_MUTEX_INITIALIZER;
static hls_session_t *sessions;

static void segment_clear(hls_segment_t *seg) {
  for (int i = 0; i < seg->nparts; i++)
    vg_buf_unref(&seg->parts[i].data);
  seg->nparts = 0;
  seg->duration_s = 0;
}

static void session_unref(hls_session_t *s) {
  if (atomic_fetch_sub(&s->refs, 1) != 1) return;
  vg_fmp4_free(&s->mux);
  vg_buf_unref(&s->init);
  for (int i = 0; i < s->nsegs; i++)
    segment_clear(&s->segs[i]);
  segment_clear(&s->cur);
  vg_hub_unref(&s->hub);
  pthread_mutex_destroy(&s->lock);
  free(s);
}

/* Under s->lock: the held requests re-check what they wait for. Every
 * waiter of one HTTP server has the same wake, so one call per run of
 * equal ones is enough. */
static void notify_waiters(hls_session_t *s) {
  void (*last)(void *) = NULL;
  void *last_opaque = NULL;
  for (hls_wait_t *w = s->waiters; w; w = w->next)
    if (w->wake && (w->wake != last || w->wake_opaque != last_opaque)) {
      w->wake(w->wake_opaque);
      last = w->wake;
      last_opaque = w->wake_opaque;
    }
}

/* ---- the worker's part ---- */

static void begin_segment(hls_session_t *s, const vg_frame_t *f) {
  s->seg_open = 1;
  s->seg_start_pts = f->pts;
  pthread_mutex_lock(&s->lock);
  s->cur.utc_us = f->utc_us > 0 ? f->utc_us : vg_time_utc_us();
  s->cur.discontinuity = s->next_discontinuity;
  pthread_mutex_unlock(&s->lock);
  s->next_discontinuity = 0;
}

/* Closes the segment being built (a no-op when it has no part). */
static void end_segment(hls_session_t *s) {
  s->seg_open = 0;
  pthread_mutex_lock(&s->lock);
  if (s->cur.nparts > 0) {
    if (s->nsegs == VG_HLS_WINDOW) {
      segment_clear(&s->segs[0]);
      memmove(&s->segs[0], &s->segs[1], sizeof(s->segs[0]) * (VG_HLS_WINDOW - 1));
      s->nsegs--;
    }
    s->segs[s->nsegs++] = s->cur;
    if (s->cur.duration_s > s->max_seg_s) s->max_seg_s = s->cur.duration_s;
    uint64_t next = s->cur.seq + 1;
    memset(&s->cur, 0, sizeof(s->cur));
    s->cur.seq = next;
    s->first_done = 1;
    notify_waiters(s);
  }
  pthread_mutex_unlock(&s->lock);
}

/* Publishes the queued frames as the next part, which ends at end_pts (the
 * video clock). */
static void end_part(hls_session_t *s, int64_t end_pts) {
  vg_fmp4_fragment_t frag;
  if (!s->mux || vg_fmp4_queued(s->mux) == 0 || vg_fmp4_flush_fragment(s->mux, &frag) != 0) return;
  vg_buf_t *b = vg_buf_alloc((size_t)frag.size);
  if (b) {
    for (int i = 0; i < frag.iov_count; i++) {
      memcpy(b->data + b->len, frag.iov[i].iov_base, frag.iov[i].iov_len);
      b->len += frag.iov[i].iov_len;
    }
  }
  vg_fmp4_fragment_release(&frag);
  int64_t ticks =
      s->part_start_pts >= 0 && end_pts > s->part_start_pts ? end_pts - s->part_start_pts : s->frame_ticks;
  double dur = s->video_clock ? (double)ticks / s->video_clock : 0.04;
  int independent = s->part_start_pts >= 0 && s->part_key;
  s->part_start_pts = -1;
  if (!b) return;
  pthread_mutex_lock(&s->lock);
  int full = 0;
  if (s->cur.nparts < VG_HLS_MAX_PARTS) {
    s->cur.parts[s->cur.nparts++] = (hls_part_t){b, dur, independent};
    s->cur.duration_s += dur;
    full = s->cur.nparts == VG_HLS_MAX_PARTS;
    notify_waiters(s);
  } else {
    vg_buf_unref(&b);
  }
  pthread_mutex_unlock(&s->lock);
  if (full) end_segment(s);
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
  /* Old segments and parts do not fit the new init segment; the sequence
   * numbers go on, so that no URI a player saw names other bytes. */
  int had = s->nsegs > 0 || s->cur.nparts > 0;
  for (int i = 0; i < s->nsegs; i++)
    segment_clear(&s->segs[i]);
  s->nsegs = 0;
  if (s->cur.nparts > 0) s->cur.seq++;
  segment_clear(&s->cur);
  vg_buf_unref(&s->init);
  s->init = init;
  pthread_mutex_unlock(&s->lock);
  s->next_discontinuity = had;
  s->seg_start_pts = -1;
  s->seg_open = 0;
  s->part_start_pts = -1;
  s->last_video_pts = -1;
  s->frame_ticks = s->video_clock ? s->video_clock / 25 : 3600;
}

static void feed(hls_session_t *s, const vg_frame_t *f) {
  if (!s->mux || f->track >= VG_MAX_TRACKS || s->map[f->track] < 0) return;
  int is_video = f->track == s->video;
  int key = is_video && (f->flags & VG_FRAME_KEY);
  if (s->seg_start_pts < 0 && !key) return; /* the first segment starts at a keyframe */
  if (is_video) {
    if (!s->seg_open) {
      begin_segment(s, f);
    } else if (key || f->pts - s->seg_start_pts > (int64_t)HLS_MAX_SEGMENT_S * s->video_clock) {
      if (s->part_start_pts >= 0) end_part(s, f->pts);
      end_segment(s);
      begin_segment(s, f);
    }
    if (s->last_video_pts >= 0 && f->pts > s->last_video_pts && f->pts - s->last_video_pts <= s->video_clock)
      s->frame_ticks = f->pts - s->last_video_pts;
    s->last_video_pts = f->pts;
    if (s->part_start_pts < 0) {
      s->part_start_pts = f->pts;
      s->part_key = key;
    }
  }
  vg_frame_t mf = *f;
  mf.track = (uint8_t)s->map[f->track];
  int err = vg_fmp4_add_frame(s->mux, &mf);
  if (err == VG_ETOOBIG) {
    end_part(s, f->pts);
    if (is_video) {
      s->part_start_pts = f->pts;
      s->part_key = key;
    }
    err = vg_fmp4_add_frame(s->mux, &mf);
  }
  if (err) vg_log_debug(&lg, "%s: frame left out: %s", s->camera, vg_strerror(err));
  if (!is_video || err) return;
  /* The part ends with this frame when the next one would not fit in the
   * part target: published now rather than when the next frame comes. */
  int64_t end = f->pts + s->frame_ticks;
  if (end + s->frame_ticks - s->part_start_pts > (int64_t)VG_HLS_PART_TARGET_MS * s->video_clock / 1000)
    end_part(s, end);
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
  /* Caught up: the first segment (the cached GOP) ends here, so that a
   * player can start now instead of a GOP later. */
  pthread_mutex_lock(&s->lock);
  int first = !s->first_done;
  int64_t idle_us = vg_time_mono_us() - s->last_access_us;
  pthread_mutex_unlock(&s->lock);
  if (first && s->seg_open) {
    if (s->part_start_pts >= 0) end_part(s, s->last_video_pts + s->frame_ticks);
    end_segment(s);
  }
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
  if (vg_hub_open_reader(s->hub, &o, &s->reader) != 0) {
    pthread_mutex_lock(&s->lock);
    s->stopped = 1;
    notify_waiters(s);
    pthread_mutex_unlock(&s->lock);
    return;
  }
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
  notify_waiters(s);
  pthread_mutex_unlock(&s->lock);
  if (vg_worker_post(s->worker, release_task, s) != 0) session_unref(s);
}

/* ---- the playlist ---- */

/* Under s->lock: the playlist as it stands. */
static void render_playlist(hls_session_t *s, vg_strbuf_t *b) {
  double longest = s->max_seg_s > s->cur.duration_s ? s->max_seg_s : s->cur.duration_s;
  int target = (int)(longest + 0.999);
  if (target < 1) target = 1;
  vg_strbuf_printf(b,
                   "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:%d\n"
                   "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=%.3f\n"
                   "#EXT-X-PART-INF:PART-TARGET=%.3f\n#EXT-X-MEDIA-SEQUENCE:%llu\n",
                   target, HLS_PART_HOLD_BACK_S, VG_HLS_PART_TARGET_MS / 1000.0,
                   (unsigned long long)(s->nsegs ? s->segs[0].seq : s->cur.seq));
  if (s->init) vg_strbuf_printf(b, "#EXT-X-MAP:URI=\"live/init.mp4\"\n");
  /* Parts are listed for the segments of the last three target durations
   * (RFC 8216bis 4.4.4.9), older segments only whole. */
  int parts_from = s->nsegs;
  double tail = s->cur.duration_s;
  while (parts_from > 0 && tail < 3.0 * target) {
    parts_from--;
    tail += s->segs[parts_from].duration_s;
  }
  char when[40];
  for (int i = 0; i <= s->nsegs; i++) {
    const hls_segment_t *seg = i < s->nsegs ? &s->segs[i] : &s->cur;
    if (seg->nparts == 0) break;
    if (seg->discontinuity && i > 0) vg_strbuf_printf(b, "#EXT-X-DISCONTINUITY\n");
    vg_time_format_utc(seg->utc_us, when, sizeof(when));
    vg_strbuf_printf(b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", when);
    if (i >= parts_from)
      for (int p = 0; p < seg->nparts; p++)
        vg_strbuf_printf(b, "#EXT-X-PART:DURATION=%.5f,URI=\"live/%llu.%d.m4s\"%s\n",
                         seg->parts[p].duration_s, (unsigned long long)seg->seq, p,
                         seg->parts[p].independent ? ",INDEPENDENT=YES" : "");
    if (i < s->nsegs)
      vg_strbuf_printf(b, "#EXTINF:%.5f,\nlive/%llu.m4s\n", seg->duration_s, (unsigned long long)seg->seq);
  }
  if (s->init && (s->nsegs > 0 || s->cur.nparts > 0))
    vg_strbuf_printf(b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"live/%llu.%d.m4s\"\n",
                     (unsigned long long)s->cur.seq, s->cur.nparts);
}

/* Under s->lock: whether the playlist holds what a request waits for. */
static int playlist_has(const hls_session_t *s, int64_t msn, int part) {
  if (msn < 0) return s->nsegs > 0;
  if (msn < (int64_t)s->cur.seq) return 1;
  return part >= 0 && msn == (int64_t)s->cur.seq && part < s->cur.nparts;
}

/* Under s->lock: a blocking reload too far ahead to wait for. */
static int too_far_ahead(const hls_session_t *s, int64_t msn, int part) {
  int64_t last = s->cur.nparts > 0 ? (int64_t)s->cur.seq : (int64_t)s->cur.seq - 1;
  if (msn > last + 2) return 1;
  if (part < 0 || msn < (int64_t)s->cur.seq) return 0;
  int64_t ahead = msn == (int64_t)s->cur.seq ? part - (s->cur.nparts - 1) : part + 1;
  return ahead > HLS_ADVANCE_PARTS;
}

/* Under s->lock: the part, with a new reference, or NULL. */
static vg_buf_t *find_part(hls_session_t *s, uint64_t msn, int part) {
  for (int i = 0; i <= s->nsegs; i++) {
    hls_segment_t *seg = i < s->nsegs ? &s->segs[i] : &s->cur;
    if (seg->seq == msn && part >= 0 && part < seg->nparts) return vg_buf_ref(seg->parts[part].data);
  }
  return NULL;
}

/* ---- held requests ---- */

static void wait_unlink(hls_wait_t *w) {
  if (!w->linked) return;
  for (hls_wait_t **p = &w->s->waiters; *p; p = &(*p)->next)
    if (*p == w) {
      *p = w->next;
      break;
    }
  w->linked = 0;
}

/* The answer of a request that cannot be met: a JSON error as
 * vg_http_reply_error() writes it (the messages hold no quotes). */
static void wait_error(hls_wait_t *w, int status, const char *code, const char *message, int *out_status,
                       const char **type) {
  vg_strbuf_printf(&w->text, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, message);
  *out_status = status;
  *type = "application/json";
}

/* Called by the HTTP server on each wake and every VG_HTTP_SETTLE_POLL_MS:
 * whether what the request waits for is there, or its deadline has
 * passed. A blocking reload or a hinted part that cannot be served in
 * time is answered 503, as RFC 8216bis 6.2.5.2 asks of a server that
 * cannot satisfy a blocking request; a hinted part whose segment ended
 * before it (it will never exist) is 404. The first playlist of a session
 * is no blocking request: after its wait it gets the playlist as it is. */
static int wait_settle(vg_http_stream_t *st, int *status, const char **type) {
  hls_wait_t *w = (hls_wait_t *)st;
  if (w->ready) return 1;
  hls_session_t *s = w->s;
  pthread_mutex_lock(&s->lock);
  int expired = vg_time_mono_us() >= w->deadline_us;
  if (w->kind == WAIT_PLAYLIST) {
    if (playlist_has(s, w->msn, w->part) || (w->msn < 0 && (s->stopped || expired))) {
      render_playlist(s, &w->text);
      *status = 200;
      *type = w->type;
      w->ready = 1;
    } else if (s->stopped || expired) {
      wait_error(w, 503, "unavailable", "the playlist did not reach the requested segment or part in time",
                 status, type);
      w->ready = 1;
    }
  } else {
    w->buf = find_part(s, (uint64_t)w->msn, w->part);
    if (w->buf) {
      *status = 200;
      *type = w->type;
      w->ready = 1;
    } else if ((uint64_t)w->msn < s->cur.seq || s->stopped) {
      /* Gone by: the segment ended before the hinted part. */
      wait_error(w, 404, "not_found", "the hinted part was not made: its segment ended before it", status,
                 type);
      w->ready = 1;
    } else if (expired) {
      wait_error(w, 503, "unavailable", "the hinted part was not published in time", status, type);
      w->ready = 1;
    }
  }
  if (w->ready) {
    s->last_access_us = vg_time_mono_us();
    wait_unlink(w);
  }
  pthread_mutex_unlock(&s->lock);
  if (!w->ready) return 0;
  st->length = w->buf ? w->buf->len : w->text.len;
  return 1;
}

/* After settle: the body, of exactly st->length bytes. */
static long wait_read(vg_http_stream_t *st, uint8_t *dst, size_t cap) {
  hls_wait_t *w = (hls_wait_t *)st;
  if (!w->ready) return VG_EINVAL;
  const uint8_t *src = w->buf ? w->buf->data : (const uint8_t *)w->text.data;
  size_t len = w->buf ? w->buf->len : w->text.len;
  if (w->off >= len) return VG_ECLOSED;
  size_t n = len - w->off < cap ? len - w->off : cap;
  memcpy(dst, src + w->off, n);
  w->off += n;
  return (long)n;
}

static void wait_set_wake(vg_http_stream_t *st, void (*wake)(void *), void *wake_opaque) {
  hls_wait_t *w = (hls_wait_t *)st;
  pthread_mutex_lock(&w->s->lock);
  w->wake = wake;
  w->wake_opaque = wake_opaque;
  pthread_mutex_unlock(&w->s->lock);
}

static void wait_close(vg_http_stream_t *st) {
  hls_wait_t *w = (hls_wait_t *)st;
  pthread_mutex_lock(&w->s->lock);
  wait_unlink(w);
  pthread_mutex_unlock(&w->s->lock);
  session_unref(w->s);
  vg_strbuf_free(&w->text);
  vg_buf_unref(&w->buf);
  free(w);
}

/* Under s->lock: answers res with a held request that takes over the
 * caller's reference to s. */
static int hold(hls_session_t *s, vg_http_response_t *res, int kind, int64_t msn, int part, int wait_ms,
                const char *type) {
  hls_wait_t *w = calloc(1, sizeof(*w));
  if (!w) return VG_ENOMEM;
  w->st.length = VG_HTTP_STREAM_DEFERRED;
  w->st.read = wait_read;
  w->st.close = wait_close;
  w->st.set_wake = wait_set_wake;
  w->st.settle = wait_settle;
  w->type = type;
  w->s = s;
  w->kind = kind;
  w->msn = msn;
  w->part = part;
  w->deadline_us = vg_time_mono_us() + (int64_t)wait_ms * 1000;
  vg_strbuf_init(&w->text, 1 << 20);
  w->next = s->waiters;
  s->waiters = w;
  w->linked = 1;
  res->status = 200;
  res->content_type = type;
  res->stream = &w->st;
  return 0;
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
  s->part_start_pts = -1;
  s->last_video_pts = -1;
  s->frame_ticks = 3600;
  for (int i = 0; i < VG_MAX_TRACKS; i++)
    s->map[i] = -1;
  pthread_mutex_init(&s->lock, NULL);
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

/* A response body streamed out of buffers (a part, or a segment's parts
 * one after the other), no copy up front. */
typedef struct {
  vg_http_stream_t st;
  vg_buf_t *bufs[VG_HLS_MAX_PARTS];
  int n, at;
  size_t off;
} buf_stream_t;

static long buf_stream_read(vg_http_stream_t *st, uint8_t *dst, size_t cap) {
  buf_stream_t *bs = (buf_stream_t *)st;
  while (bs->at < bs->n && bs->off == bs->bufs[bs->at]->len) {
    bs->at++;
    bs->off = 0;
  }
  if (bs->at == bs->n) return VG_EIO;
  vg_buf_t *b = bs->bufs[bs->at];
  size_t n = b->len - bs->off;
  if (n > cap) n = cap;
  memcpy(dst, b->data + bs->off, n);
  bs->off += n;
  return (long)n;
}

static void buf_stream_close(vg_http_stream_t *st) {
  buf_stream_t *bs = (buf_stream_t *)st;
  for (int i = 0; i < bs->n; i++)
    vg_buf_unref(&bs->bufs[i]);
  free(bs);
}

/* Answers res with the buffers, taking over the n references. */
static int reply_bufs(vg_http_response_t *res, vg_buf_t **bufs, int n, const char *type) {
  buf_stream_t *bs = calloc(1, sizeof(*bs));
  if (!bs) {
    for (int i = 0; i < n; i++)
      vg_buf_unref(&bufs[i]);
    return VG_ENOMEM;
  }
  for (int i = 0; i < n; i++) {
    bs->bufs[i] = bufs[i];
    bs->st.length += bufs[i]->len;
  }
  bs->n = n;
  bs->st.read = buf_stream_read;
  bs->st.close = buf_stream_close;
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

/* A query parameter that must be a decimal number up to max: its value,
 * -1 when absent, VG_EINVAL when malformed. */
static int64_t query_number(const vg_http_request_t *req, const char *name, int64_t max) {
  char text[24];
  int n = vg_http_query(req, name, text, sizeof(text));
  if (n == VG_ENOTFOUND) return -1;
  if (n <= 0 || n > 18) return VG_EINVAL;
  int64_t v = 0;
  for (int i = 0; i < n; i++) {
    if (text[i] < '0' || text[i] > '9') return VG_EINVAL;
    v = v * 10 + (text[i] - '0');
  }
  return v <= max ? v : VG_EINVAL;
}

int vg_hls_get_playlist(const vg_http_request_t *req, vg_http_response_t *res) {
  const char *id;
  if (check_camera(req, res, &id) != 0) return 0;
  int64_t msn = query_number(req, "_HLS_msn", INT64_MAX / 2);
  int64_t part = query_number(req, "_HLS_part", VG_HLS_MAX_PARTS * 4);
  if (msn == VG_EINVAL || part == VG_EINVAL || (part >= 0 && msn < 0))
    return vg_http_reply_error(
        res, 400, "bad_request",
        "_HLS_msn must be a segment number, _HLS_part a part number that goes with it");
  int created;
  hls_session_t *s = get_session(id, 1, &created);
  if (!s) return vg_http_reply_error(res, 503, "unavailable", "cannot start HLS for '%s'", id);
  vg_hub_stats_t hs;
  vg_hub_stats(s->hub, &hs);
  pthread_mutex_lock(&s->lock);
  s->last_access_us = vg_time_mono_us();
  if (msn >= 0 && too_far_ahead(s, msn, (int)part)) {
    uint64_t next = s->cur.seq;
    pthread_mutex_unlock(&s->lock);
    session_unref(s);
    return vg_http_reply_error(res, 400, "bad_request",
                               "_HLS_msn %lld is too far ahead (the next segment is %llu)", (long long)msn,
                               (unsigned long long)next);
  }
  /* The first request of a session waits for its first segment (the GOP
   * cache makes it within milliseconds) rather than send an empty list. */
  int64_t want = msn >= 0 ? msn : -1;
  int wait = !s->stopped && !playlist_has(s, want, (int)part) && (msn >= 0 || hs.live);
  if (wait) {
    int err = hold(s, res, WAIT_PLAYLIST, want, (int)part,
                   msn >= 0 ? VG_HLS_BLOCK_MAX_MS : VG_HLS_FIRST_WAIT_MS, "application/vnd.apple.mpegurl");
    pthread_mutex_unlock(&s->lock);
    if (err) session_unref(s);
    return err;
  }
  render_playlist(s, &res->body);
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
  vg_buf_t *found[VG_HLS_MAX_PARTS];
  int nfound = 0;
  if (s) {
    pthread_mutex_lock(&s->lock);
    s->last_access_us = vg_time_mono_us();
    if (strcmp(file, "init.mp4") == 0) {
      if (s->init) found[nfound++] = vg_buf_ref(s->init);
    } else {
      char *end;
      unsigned long long seq = strtoull(file, &end, 10);
      if (end != file && *end == '.' && end[1] >= '0' && end[1] <= '9') {
        char *pend;
        long part = strtol(end + 1, &pend, 10);
        if (strcmp(pend, ".m4s") == 0 && part >= 0 && part < VG_HLS_MAX_PARTS) {
          found[0] = find_part(s, seq, (int)part);
          nfound = found[0] != NULL;
          /* The hinted part (or the first of the next segment) is held
           * until it is published. */
          int hinted = (seq == s->cur.seq && part == s->cur.nparts) || (seq == s->cur.seq + 1 && part == 0);
          if (!nfound && hinted && !s->stopped) {
            int err = hold(s, res, WAIT_PART, (int64_t)seq, (int)part, VG_HLS_BLOCK_MAX_MS, "video/mp4");
            pthread_mutex_unlock(&s->lock);
            if (err) session_unref(s);
            return err;
          }
        }
      } else if (end != file && strcmp(end, ".m4s") == 0) {
        for (int i = 0; i < s->nsegs; i++)
          if (s->segs[i].seq == seq)
            for (int p = 0; p < s->segs[i].nparts; p++)
              found[nfound++] = vg_buf_ref(s->segs[i].parts[p].data);
      }
    }
    pthread_mutex_unlock(&s->lock);
    session_unref(s);
  }
  if (!nfound)
    return vg_http_reply_error(res, 404, "not_found", "no live HLS file '%s' for camera '%s'", file, id);
  return reply_bufs(res, found, nfound, "video/mp4");
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
