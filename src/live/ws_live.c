/*
 * ws_live.c: fMP4 over WebSocket for browsers (see ws_live.h, docs/LIVE.md).
 *
 * A viewer has two halves. The muxing half is its group's: the viewers of
 * one hub that want the same tracks (audio or not) share one group, whose
 * hub reader is drained on the camera's worker. The group muxes each video
 * frame (with the audio frames before it) into one fMP4 fragment, copies it
 * once into a message buffer with room for lws's frame header in front, and
 * queues a reference to that buffer on each member's queue; what differs
 * between members (waiting for a keyframe after joining or falling behind,
 * the latency bookkeeping) is per member, in its queue entries. The group
 * keeps the fragments of the current GOP, so that a viewer joining mid-GOP
 * starts at its keyframe with the very buffers the others got.
 * The socket half runs on the HTTP server's lws thread: woken through
 * lws_cancel_service(), it asks for WRITEABLE on viewers with queued
 * messages and writes them. The queue (a mutex-guarded list) is the only
 * state the halves share; both hold a reference to the viewer.
 */
#include "live/ws_live.h"

#include <libwebsockets.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "api/api.h"
#include "base/buf.h"
#include "base/error.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/time.h"
#include "ingest/camera.h"
#include "live/hls_live.h"
#include "media/fmp4.h"
#include "media/nal.h"
#include "net/worker.h"
#include "stream/hub.h"

_Static_assert(VG_LIVE_PRE >= LWS_PRE, "message headroom must fit lws's frame header");

static const vg_log_ctx_t lg = {"live", NULL};

#define HUB_QUEUE_FRAMES 512 /* a GOP cache of long-GOP cameras fits */
#define PENDING_MAX 64       /* upgrades authorized, not yet established */
#define CAMERA_STATS_MAX 256
#define MAX_TEXT_QUEUED 256 /* text messages (metadata) queued per viewer at most */

/* ---- codec strings (RFC 6381, ISO/IEC 14496-15 annex E) ---- */

/* The first parameter set of NAL type `type` in length-prefixed extradata. */
static int find_param_set(vg_codec_t codec, const vg_buf_t *extra, int type, const uint8_t **nal,
                          size_t *nal_len) {
  if (!extra) return VG_EPROTO;
  size_t pos = 0;
  const uint8_t *n;
  size_t len;
  while (vg_nal_lp_next(extra->data, extra->len, &pos, &n, &len) > 0)
    if (vg_nal_type(codec, n, len) == type) {
      *nal = n;
      *nal_len = len;
      return 0;
    }
  return VG_EPROTO;
}

static uint32_t reverse_bits32(uint32_t v) {
  uint32_t r = 0;
  for (int i = 0; i < 32; i++, v >>= 1)
    r = (r << 1) | (v & 1);
  return r;
}

static int h265_codec_string(const vg_track_t *t, char *out, size_t size) {
  const uint8_t *nal;
  size_t len;
  if (find_param_set(VG_CODEC_H265, t->extradata, 33, &nal, &len) < 0) return VG_EPROTO;
  /* The profile_tier_level starts byte-aligned after the 2-byte header and
   * one byte of SPS fields; 15 bytes cover it up to general_level_idc. */
  uint8_t sps[32];
  int n = vg_nal_unescape(nal, len < sizeof(sps) ? len : sizeof(sps), sps, sizeof(sps));
  if (n < 15) return VG_EPROTO;
  int space = sps[3] >> 6, tier = (sps[3] >> 5) & 1, profile = sps[3] & 31;
  uint32_t compat = (uint32_t)sps[4] << 24 | (uint32_t)sps[5] << 16 | (uint32_t)sps[6] << 8 | sps[7];
  int w = snprintf(out, size, "hvc1.%s%d.%X.%c%d",
                   space ? (space == 1   ? "A"
                            : space == 2 ? "B"
                                         : "C")
                         : "",
                   profile, reverse_bits32(compat), tier ? 'H' : 'L', sps[14]);
  int last = 13;
  while (last >= 8 && sps[last] == 0)
    last--;
  for (int i = 8; i <= last && w > 0 && (size_t)w < size; i++)
    w += snprintf(out + w, size - (size_t)w, ".%02X", sps[i]);
  return w > 0 && (size_t)w < size ? w : VG_ETOOBIG;
}

int vg_live_codec_string(const vg_track_t *t, char *out, size_t size) {
  int w;
  switch (t->codec) {
  case VG_CODEC_H264: {
    const uint8_t *nal;
    size_t len;
    if (find_param_set(VG_CODEC_H264, t->extradata, 7, &nal, &len) < 0 || len < 4) return VG_EPROTO;
    w = snprintf(out, size, "avc1.%02x%02x%02x", nal[1], nal[2], nal[3]);
    break;
  }
  case VG_CODEC_H265: return h265_codec_string(t, out, size);
  case VG_CODEC_AAC: {
    if (!t->extradata || t->extradata->len < 1) return VG_EPROTO;
    const uint8_t *asc = t->extradata->data;
    int aot = asc[0] >> 3;
    if (aot == 31) {
      if (t->extradata->len < 2) return VG_EPROTO;
      aot = 32 + (((asc[0] & 7) << 3) | (asc[1] >> 5));
    }
    if (aot == 0) return VG_EPROTO;
    w = snprintf(out, size, "mp4a.40.%d", aot);
    break;
  }
  case VG_CODEC_OPUS: w = snprintf(out, size, "opus"); break;
  default: return VG_EUNSUPPORTED;
  }
  return w > 0 && (size_t)w < size ? w : VG_ETOOBIG;
}

/* ---- metrics: per camera, and the latency histogram ---- */

typedef struct {
  char camera[64];
  atomic_int viewers;
  atomic_uint_fast64_t bytes, skips, dropped;
} camera_stats_t;

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
/* Entries are never freed: a viewer's half on a worker may outlive the
 * server by a moment and still counts into its entry. */
static camera_stats_t camera_stats[CAMERA_STATS_MAX];
static int camera_stats_count;
static camera_stats_t other_stats = {.camera = "_other"};

static camera_stats_t *stats_for(const char *camera) {
  pthread_mutex_lock(&stats_lock);
  camera_stats_t *cs = &other_stats;
  for (int i = 0; i < camera_stats_count; i++)
    if (strcmp(camera_stats[i].camera, camera) == 0) {
      cs = &camera_stats[i];
      goto out;
    }
  if (camera_stats_count < CAMERA_STATS_MAX) {
    cs = &camera_stats[camera_stats_count];
    snprintf(cs->camera, sizeof(cs->camera), "%s", camera);
    camera_stats_count++;
  }
out:
  pthread_mutex_unlock(&stats_lock);
  return cs;
}

const double vg_live_latency_bounds[VG_LIVE_LATENCY_BUCKETS] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                                                0.1,   0.2,   0.5,   1,    2,    5};
static atomic_uint_fast64_t latency_buckets[VG_LIVE_LATENCY_BUCKETS + 1]; /* last: +Inf */
static atomic_uint_fast64_t latency_sum_us, latency_count;

void vg_live_latency_observe(int64_t us) {
  if (us < 0) us = 0;
  double s = (double)us / 1e6;
  int b = 0;
  while (b < VG_LIVE_LATENCY_BUCKETS && s > vg_live_latency_bounds[b])
    b++;
  atomic_fetch_add(&latency_buckets[b], 1);
  atomic_fetch_add(&latency_sum_us, (uint64_t)us);
  atomic_fetch_add(&latency_count, 1);
}

double vg_live_latency_quantile(double q) {
  uint64_t counts[VG_LIVE_LATENCY_BUCKETS + 1], total = 0;
  for (int b = 0; b <= VG_LIVE_LATENCY_BUCKETS; b++)
    total += counts[b] = atomic_load(&latency_buckets[b]);
  if (total == 0) return 0;
  double rank = q * (double)total, cum = 0;
  for (int b = 0; b <= VG_LIVE_LATENCY_BUCKETS; b++) {
    if (counts[b] && cum + (double)counts[b] >= rank) {
      /* Linear within the bucket; the open last bucket answers its lower bound. */
      double lo = b > 0 ? vg_live_latency_bounds[b - 1] : 0;
      if (b == VG_LIVE_LATENCY_BUCKETS) return lo;
      double hi = vg_live_latency_bounds[b];
      return lo + (hi - lo) * (rank - cum) / (double)counts[b];
    }
    cum += (double)counts[b];
  }
  return vg_live_latency_bounds[VG_LIVE_LATENCY_BUCKETS - 1];
}

static void collect_live_metrics(void *opaque, vg_strbuf_t *out) {
  (void)opaque;
  pthread_mutex_lock(&stats_lock);
  int n = camera_stats_count;
  pthread_mutex_unlock(&stats_lock);
  static const struct {
    const char *name, *type, *help;
  } fams[] = {
      {"vigil_live_viewers", "gauge", "Live-view WebSocket viewers connected."},
      {"vigil_live_bytes_total", "counter", "Bytes written to live-view WebSocket viewers."},
      {"vigil_live_skips_total", "counter",
       "Times a live-view viewer fell behind and skipped to a keyframe."},
      {"vigil_live_dropped_frames_total", "counter", "Frames live-view viewers lost by skipping."},
  };
  for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
    vg_metrics_family(out, fams[f].name, fams[f].type, fams[f].help);
    for (int i = 0; i <= n; i++) {
      camera_stats_t *cs = i < n ? &camera_stats[i] : &other_stats;
      if (i == n && !atomic_load(&cs->bytes) && !atomic_load(&cs->viewers)) continue;
      const char *labels[] = {"camera", cs->camera, NULL};
      uint64_t v = f == 0   ? (uint64_t)atomic_load(&cs->viewers)
                   : f == 1 ? atomic_load(&cs->bytes)
                   : f == 2 ? atomic_load(&cs->skips)
                            : atomic_load(&cs->dropped);
      vg_metrics_sample_u64(out, fams[f].name, labels, v);
    }
  }
  /* A summary (quantiles estimated from the histogram) like the RTSP
   * server's egress latency: the tests' exposition checks take no
   * _bucket/_sum/_count samples. */
  vg_metrics_family(out, "vigil_live_latency_seconds", "summary",
                    "Live-view latency added by vigil: a frame's arrival from the camera to its WebSocket "
                    "write (quantiles estimated from buckets).");
  static const char *const quantiles[] = {"0.5", "0.9", "0.99"};
  for (int q = 0; q < 3; q++) {
    const char *labels[] = {"quantile", quantiles[q], NULL};
    vg_metrics_sample(out, "vigil_live_latency_seconds", labels,
                      vg_live_latency_quantile(atof(quantiles[q])));
  }
  vg_metrics_single_u64(out, "vigil_live_latency_observations_total", "counter",
                        "Frames whose live-view latency was measured.", atomic_load(&latency_count));
}

/* ---- the viewer core ---- */

/* The GOP a group keeps for viewers that join mid-GOP: its fragments since
 * the last keyframe, up to these bounds (a longer GOP is not kept: a joiner
 * then waits for the next keyframe). */
#define GOP_KEEP_FRAGMENTS HUB_QUEUE_FRAMES
#define GOP_KEEP_BYTES (16u << 20)

static const char END_TEXT[] = "{\"type\":\"end\",\"reason\":\"the camera's stream ended\"}";

struct vg_live_viewer {
  char camera[64];
  int audio_wanted;
  void (*wake)(void *opaque);
  void *wake_opaque;
  camera_stats_t *cs;

  /* Its state in its group: the group's thread only (the camera's worker). */
  vg_live_group_t *group;     /* the group it is a member of, NULL when none */
  vg_live_group_t *own_group; /* made for the stand-alone API (unit tests) */
  struct vg_live_viewer *group_next;
  int codec_sent; /* a codec message went out (a new one is a reset) */
  int need_key;   /* dropping fragments until one that starts a GOP */
  int skipping;   /* ... because the viewer fell behind */
  int ended_sent;
  uint64_t skip_frames; /* frames dropped in the current skip */
  int64_t start_us;     /* frames that arrived before are the GOP cache's */

  /* The queue: under lock. */
  pthread_mutex_t lock;
  vg_live_msg_t *head, *tail;
  size_t queued_bytes;
  int queued_msgs, queued_text;
  int closed; /* the socket is gone: nothing is queued any more */

  atomic_uint_fast64_t fragments, bytes_queued, skips, dropped;

  /* The server's part (NULL/0 for viewers of unit tests). */
  atomic_int refs;
  struct lws *wsi;             /* lws thread only */
  struct lws_context *context; /* for lws_cancel_service, valid while !closed */
  vg_live_group_t *home;       /* the group it joins (set before its join task) */
  struct vg_live_viewer *next; /* the registry's list */
};

/* A fragment of the current GOP, kept for viewers that join. */
typedef struct {
  vg_buf_t *buf; /* a shared message buffer (VG_LIVE_PRE + prft + moof + mdat) */
  int64_t recv_us;
  int samples;
} kept_fragment_t;

struct vg_live_group {
  char camera[64];
  int audio_wanted;
  camera_stats_t *cs;

  /* The camera's worker only. */
  vg_fmp4_t *mux;
  int map[VG_MAX_TRACKS]; /* hub track -> muxer track, -1: not sent */
  int video;              /* hub index of the video track, -1: none */
  int need_key;           /* the muxer waits for a video keyframe */
  int ended;              /* the producer ended; cleared by the next fragment */
  /* This generation's messages, built once and shared by every member:
   * the codec message and the init segment, or an error (then no muxer). */
  vg_buf_t *codec_msg, *init_msg, *error_msg;
  int error_close;
  kept_fragment_t *gop;
  int gop_count, gop_cap, gop_valid;
  size_t gop_bytes;
  vg_live_viewer_t *members;
  int member_count;

  /* The server's part (NULL/0 for groups of unit tests). */
  int refs; /* viewers that picked this group (under reg_lock) */
  vg_worker_t *worker;
  vg_hub_t *hub;
  vg_hub_reader_t *reader; /* worker only */
  int opened;              /* worker only: the reader was opened (or failed to) */
  atomic_int scheduled;
  struct vg_live_group *next; /* the registry's list (under reg_lock) */
};

void vg_live_msg_free(vg_live_msg_t *m) {
  if (!m) return;
  vg_buf_unref(&m->buf);
  free(m);
}

static size_t msg_len(const vg_live_msg_t *m) { return m->buf->len - VG_LIVE_PRE; }

/* A message buffer: VG_LIVE_PRE bytes of headroom (zeroed), then room for
 * payload_cap bytes. */
static vg_buf_t *msg_buf(size_t payload_cap) {
  vg_buf_t *b = vg_buf_alloc(VG_LIVE_PRE + payload_cap);
  if (!b) return NULL;
  memset(b->data, 0, VG_LIVE_PRE);
  b->len = VG_LIVE_PRE;
  return b;
}

static vg_buf_t *text_buf(const char *text) {
  size_t n = strlen(text);
  vg_buf_t *b = msg_buf(n);
  if (!b) return NULL;
  memcpy(b->data + VG_LIVE_PRE, text, n);
  b->len += n;
  return b;
}

/* Takes obj's reference. */
static vg_buf_t *json_buf(json_t *obj) {
  char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
  json_decref(obj);
  vg_buf_t *b = s ? text_buf(s) : NULL;
  free(s);
  return b;
}

/* Queues a message with its own reference to buf (the caller keeps its
 * own) and wakes the socket half. The buffer may be shared by any number of
 * viewers' messages: nobody writes its payload once it is built. */
static void enqueue_buf(vg_live_viewer_t *v, vg_buf_t *buf, int text, int media, int close_after,
                        int64_t recv_us, int64_t age_us) {
  if (!buf) return;
  vg_live_msg_t *m = calloc(1, sizeof(*m));
  if (!m) return;
  m->buf = vg_buf_ref(buf);
  m->text = text;
  m->media = media;
  m->close_after = close_after;
  m->recv_us = recv_us;
  m->age_us = age_us;
  /* Once queued, m belongs to the socket's thread, which may write and free
   * it at once: nothing of it is read after the unlock. */
  size_t len = msg_len(m);
  pthread_mutex_lock(&v->lock);
  if (v->closed || (m->text && !m->media && v->queued_text >= MAX_TEXT_QUEUED)) {
    pthread_mutex_unlock(&v->lock);
    vg_live_msg_free(m);
    return;
  }
  if (v->tail)
    v->tail->next = m;
  else
    v->head = m;
  v->tail = m;
  v->queued_bytes += len;
  v->queued_msgs++;
  if (m->text) v->queued_text++;
  pthread_mutex_unlock(&v->lock);
  atomic_fetch_add(&v->bytes_queued, len);
  if (v->wake) v->wake(v->wake_opaque);
}

static void enqueue_text(vg_live_viewer_t *v, const char *text, int close_after) {
  vg_buf_t *b = text_buf(text);
  enqueue_buf(v, b, 1, 0, close_after, 0, 0);
  vg_buf_unref(&b);
}

static void enqueue_json(vg_live_viewer_t *v, json_t *obj, int close_after) {
  vg_buf_t *b = json_buf(obj);
  enqueue_buf(v, b, 1, 0, close_after, 0, 0);
  vg_buf_unref(&b);
}

vg_live_msg_t *vg_live_viewer_pop(vg_live_viewer_t *v) {
  pthread_mutex_lock(&v->lock);
  vg_live_msg_t *m = v->head;
  if (m) {
    v->head = m->next;
    if (!v->head) v->tail = NULL;
    v->queued_bytes -= msg_len(m);
    v->queued_msgs--;
    if (m->text) v->queued_text--;
    m->next = NULL;
  }
  pthread_mutex_unlock(&v->lock);
  return m;
}

/* Whether the viewer is too far behind: too many bytes queued, or its
 * oldest queued frame too old. Called by the muxing half. */
static int queue_over_limit(vg_live_viewer_t *v, int64_t now_us, size_t bytes_limit) {
  pthread_mutex_lock(&v->lock);
  int over = v->queued_bytes > bytes_limit;
  for (vg_live_msg_t *m = v->head; !over && m; m = m->next)
    if (m->media) {
      over = m->age_us > 0 && now_us - m->age_us > (int64_t)VG_LIVE_WS_QUEUE_AGE_MS * 1000;
      break;
    }
  pthread_mutex_unlock(&v->lock);
  return over;
}

/* Drops the queued media fragments (text messages stay); returns how many. */
static int drop_queued_media(vg_live_viewer_t *v) {
  int dropped = 0;
  pthread_mutex_lock(&v->lock);
  vg_live_msg_t **pp = &v->head, *last = NULL;
  while (*pp) {
    vg_live_msg_t *m = *pp;
    if (m->media) {
      *pp = m->next;
      v->queued_bytes -= msg_len(m);
      v->queued_msgs--;
      vg_live_msg_free(m);
      dropped++;
    } else {
      last = m;
      pp = &m->next;
    }
  }
  v->tail = last;
  pthread_mutex_unlock(&v->lock);
  return dropped;
}

vg_live_viewer_t *vg_live_viewer_new(const char *camera, int audio, void (*wake)(void *opaque),
                                     void *opaque) {
  vg_live_viewer_t *v = calloc(1, sizeof(*v));
  if (!v) return NULL;
  snprintf(v->camera, sizeof(v->camera), "%s", camera);
  v->audio_wanted = audio;
  v->start_us = vg_time_mono_us();
  v->wake = wake;
  v->wake_opaque = opaque;
  pthread_mutex_init(&v->lock, NULL);
  atomic_init(&v->refs, 1);
  v->cs = stats_for(camera);
  return v;
}

static void free_queue(vg_live_viewer_t *v) {
  vg_live_msg_t *m;
  while ((m = vg_live_viewer_pop(v)))
    vg_live_msg_free(m);
}

void vg_live_viewer_free(vg_live_viewer_t **pv) {
  vg_live_viewer_t *v = pv ? *pv : NULL;
  if (!v) return;
  *pv = NULL;
  if (v->group) vg_live_group_leave(v->group, v);
  vg_live_group_free(&v->own_group);
  free_queue(v);
  pthread_mutex_destroy(&v->lock);
  free(v);
}

void vg_live_viewer_stats(vg_live_viewer_t *v, vg_live_viewer_stats_t *out) {
  out->fragments = atomic_load(&v->fragments);
  out->bytes_queued = atomic_load(&v->bytes_queued);
  out->skips = atomic_load(&v->skips);
  out->dropped_frames = atomic_load(&v->dropped);
  pthread_mutex_lock(&v->lock);
  out->queued_bytes = v->queued_bytes;
  out->queued_msgs = v->queued_msgs;
  pthread_mutex_unlock(&v->lock);
}

static json_t *track_json(const vg_track_t *t, const char *codec_string) {
  json_t *o = json_pack("{s:s,s:s,s:s}", "kind", vg_codec_is_video(t->codec) ? "video" : "audio", "codec",
                        vg_codec_name(t->codec), "codec_string", codec_string);
  if (!o) return NULL;
  if (vg_codec_is_video(t->codec)) {
    if (t->width > 0) json_object_set_new(o, "width", json_integer(t->width));
    if (t->height > 0) json_object_set_new(o, "height", json_integer(t->height));
    if (t->fps > 0) json_object_set_new(o, "fps", json_real(t->fps));
  } else {
    if (t->sample_rate > 0) json_object_set_new(o, "sample_rate", json_integer(t->sample_rate));
    if (t->channels > 0) json_object_set_new(o, "channels", json_integer(t->channels));
  }
  return o;
}

/* Fills in a video track's size from its SPS when the source did not, and
 * leaves out a frame rate no camera has (from a broken VUI or SDP): the
 * muxer turns it into a default sample duration and cannot take absurd
 * values (fmp4.c converts clock_rate / fps to 32 bits unchecked). */
static void complete_size(vg_track_t *t);

void vg_live_complete_video_info(vg_track_t *t) {
  if (t->width <= 0 || t->height <= 0) complete_size(t);
  if (!(t->fps >= 1 && t->fps <= 300)) t->fps = 0;
}

static void complete_size(vg_track_t *t) {
  size_t pos = 0;
  const uint8_t *nal;
  size_t len;
  while (t->extradata && vg_nal_lp_next(t->extradata->data, t->extradata->len, &pos, &nal, &len) > 0) {
    vg_buf_t *au = vg_buf_alloc(len + 4);
    if (!au) return;
    au->data[0] = (uint8_t)(len >> 24), au->data[1] = (uint8_t)(len >> 16), au->data[2] = (uint8_t)(len >> 8),
    au->data[3] = (uint8_t)len;
    memcpy(au->data + 4, nal, len);
    vg_track_update_video_info(t, au->data, len + 4);
    vg_buf_unref(&au);
  }
}

/* ---- groups: one muxer per camera stream, fragments shared by its viewers ---- */

vg_live_group_t *vg_live_group_new(const char *camera, int audio) {
  vg_live_group_t *g = calloc(1, sizeof(*g));
  if (!g) return NULL;
  snprintf(g->camera, sizeof(g->camera), "%s", camera);
  g->audio_wanted = audio;
  g->cs = stats_for(camera);
  g->video = -1;
  for (int i = 0; i < VG_MAX_TRACKS; i++)
    g->map[i] = -1;
  return g;
}

static void gop_clear(vg_live_group_t *g) {
  for (int i = 0; i < g->gop_count; i++)
    vg_buf_unref(&g->gop[i].buf);
  g->gop_count = 0;
  g->gop_bytes = 0;
  g->gop_valid = 0;
}

void vg_live_group_free(vg_live_group_t **pg) {
  vg_live_group_t *g = pg ? *pg : NULL;
  if (!g) return;
  *pg = NULL;
  while (g->members)
    vg_live_group_leave(g, g->members);
  vg_fmp4_free(&g->mux);
  gop_clear(g);
  free(g->gop);
  vg_buf_unref(&g->codec_msg);
  vg_buf_unref(&g->init_msg);
  vg_buf_unref(&g->error_msg);
  vg_hub_close_reader(&g->reader);
  vg_hub_unref(&g->hub);
  free(g);
}

static void drop_frames(vg_live_viewer_t *v, uint64_t n) {
  atomic_fetch_add(&v->dropped, n);
  atomic_fetch_add(&v->cs->dropped, n);
  v->skip_frames += n;
}

/* Hands one shared fragment to one member, unless the member waits for a
 * keyframe (it joined without the GOP, or it fell behind). key: the
 * fragment holds a video keyframe, so a waiting member may start there.
 * This is where a slow viewer's queue is cut: its own state only, the
 * fragment and the other members are untouched. */
static void deliver_fragment(vg_live_viewer_t *v, vg_buf_t *buf, int64_t recv_us, int key, int samples,
                             int64_t now) {
  if (!v->codec_sent) return;
  if (!v->skipping && queue_over_limit(v, now, VG_LIVE_WS_QUEUE_BYTES)) {
    /* Behind: what is queued is stale; continue at the next keyframe. */
    v->skipping = 1;
    v->need_key = 1;
    v->skip_frames = 0;
    atomic_fetch_add(&v->skips, 1);
    atomic_fetch_add(&v->cs->skips, 1);
    drop_frames(v, (uint64_t)drop_queued_media(v));
  }
  if (v->need_key) {
    /* After a skip, resume only once the socket has caught up a little. */
    if (!key || (v->skipping && queue_over_limit(v, now, VG_LIVE_WS_QUEUE_BYTES / 2))) {
      if (v->skipping) drop_frames(v, (uint64_t)samples);
      return;
    }
    if (v->skipping) {
      json_t *msg = json_pack("{s:s,s:I,s:I}", "type", "skip", "frames", (json_int_t)v->skip_frames, "skips",
                              (json_int_t)atomic_load(&v->skips));
      enqueue_json(v, msg, 0);
    }
    v->need_key = 0;
    v->skipping = 0;
  }
  /* recv_us: when the fragment's video frame arrived from the camera. The
   * GOP cache's frames arrived before this viewer did: their age counts
   * from the viewer's start, and they are no measure of live latency. */
  int from_cache = recv_us > 0 && recv_us < v->start_us;
  atomic_fetch_add(&v->fragments, 1);
  enqueue_buf(v, buf, 0, 1, 0, from_cache ? 0 : recv_us, from_cache ? v->start_us : recv_us);
}

/* The codec message and the init segment of the group's generation. */
static void deliver_generation(vg_live_group_t *g, vg_live_viewer_t *v) {
  enqueue_buf(v, g->codec_msg, 1, 0, 0, 0, 0);
  enqueue_buf(v, g->init_msg, 0, 0, 0, 0, 0);
  v->codec_sent = 1;
  v->need_key = 1;
  v->skipping = 0;
}

int vg_live_group_join(vg_live_group_t *g, vg_live_viewer_t *v) {
  if (!g || !v || v->group) return VG_EINVAL;
  v->group = g;
  v->group_next = g->members;
  g->members = v;
  g->member_count++;
  if (g->error_msg) {
    enqueue_buf(v, g->error_msg, 1, 0, g->error_close, 0, 0);
    return 0;
  }
  if (!g->codec_msg) return 0; /* the tracks come later, to every member */
  deliver_generation(g, v);
  /* The current GOP, shared as it was built: the joiner starts clean at
   * its keyframe and is in step with the others from the next fragment. */
  int64_t now = vg_time_mono_us();
  for (int i = 0; g->gop_valid && i < g->gop_count; i++)
    deliver_fragment(v, g->gop[i].buf, g->gop[i].recv_us, i == 0, g->gop[i].samples, now);
  if (g->ended) {
    v->ended_sent = 1;
    enqueue_text(v, END_TEXT, 0);
  }
  return 0;
}

void vg_live_group_leave(vg_live_group_t *g, vg_live_viewer_t *v) {
  if (!g || !v || v->group != g) return;
  for (vg_live_viewer_t **pp = &g->members; *pp; pp = &(*pp)->group_next)
    if (*pp == v) {
      *pp = v->group_next;
      g->member_count--;
      break;
    }
  v->group_next = NULL;
  v->group = NULL;
}

int vg_live_group_members(const vg_live_group_t *g) { return g ? g->member_count : 0; }

/* Sets the group's error for this generation and tells every member. */
static void group_error(vg_live_group_t *g, json_t *err, int close_after) {
  vg_buf_unref(&g->error_msg);
  g->error_msg = json_buf(err);
  g->error_close = close_after;
  for (vg_live_viewer_t *v = g->members; v; v = v->group_next)
    enqueue_buf(v, g->error_msg, 1, 0, close_after, 0, 0);
}

int vg_live_group_set_tracks(vg_live_group_t *g, const vg_track_t *tracks, int count) {
  vg_fmp4_free(&g->mux);
  gop_clear(g);
  vg_buf_unref(&g->codec_msg);
  vg_buf_unref(&g->init_msg);
  vg_buf_unref(&g->error_msg);
  g->ended = 0;
  for (vg_live_viewer_t *v = g->members; v; v = v->group_next) {
    if (v->codec_sent) enqueue_text(v, "{\"type\":\"reset\"}", 0);
    v->ended_sent = 0;
  }
  g->video = -1;
  for (int i = 0; i < VG_MAX_TRACKS; i++)
    g->map[i] = -1;
  vg_track_t chosen[2] = {{0}};
  char codec_strings[2][64];
  int n = 0, audio = -1;
  for (int i = 0; i < count && i < VG_MAX_TRACKS; i++) {
    const vg_track_t *t = &tracks[i];
    if (g->video < 0 && (t->codec == VG_CODEC_H264 || t->codec == VG_CODEC_H265) &&
        vg_live_codec_string(t, codec_strings[0], sizeof(codec_strings[0])) > 0)
      g->video = i;
  }
  if (g->video < 0) {
    json_t *err = json_pack("{s:s,s:s}", "type", "error", "message",
                            count > 0 ? "the camera has no H.264 or H.265 video with parameter sets"
                                      : "the camera has no tracks");
    group_error(g, err, 1); /* then closed with 1003: nothing to play */
    return VG_EUNSUPPORTED;
  }
  vg_track_copy(&chosen[n++], &tracks[g->video]);
  vg_live_complete_video_info(&chosen[0]);
  for (int i = 0; g->audio_wanted && i < count && i < VG_MAX_TRACKS; i++) {
    const vg_track_t *t = &tracks[i];
    if ((t->codec == VG_CODEC_AAC || t->codec == VG_CODEC_OPUS) &&
        vg_live_codec_string(t, codec_strings[1], sizeof(codec_strings[1])) > 0) {
      audio = i;
      vg_track_copy(&chosen[n++], t);
      break;
    }
  }
  int err = vg_fmp4_create(chosen, n, &g->mux);
  if (err && audio >= 0) {
    /* An audio track the muxer refuses should not cost the picture. */
    vg_log_warn(&lg, "%s: audio left out of live view: %s", g->camera, vg_strerror(err));
    vg_track_clear(&chosen[--n]);
    audio = -1;
    err = vg_fmp4_create(chosen, n, &g->mux);
  }
  if (err) {
    for (int i = 0; i < n; i++)
      vg_track_clear(&chosen[i]);
    group_error(g, json_pack("{s:s,s:s}", "type", "error", "message", vg_strerror(err)), 0);
    return err;
  }
  g->map[g->video] = 0;
  if (audio >= 0) g->map[audio] = 1;

  char codecs[160];
  snprintf(codecs, sizeof(codecs), "%s%s%s", codec_strings[0], audio >= 0 ? "," : "",
           audio >= 0 ? codec_strings[1] : "");
  char mime[200];
  snprintf(mime, sizeof(mime), "video/mp4; codecs=\"%s\"", codecs);
  json_t *list = json_array();
  for (int i = 0; list && i < n; i++)
    json_array_append_new(list, track_json(&chosen[i], codec_strings[i]));
  for (int i = 0; i < n; i++)
    vg_track_clear(&chosen[i]);
  g->codec_msg = json_buf(json_pack("{s:s,s:s,s:s,s:s,s:o}", "type", "codec", "camera", g->camera, "mime",
                                    mime, "codecs", codecs, "tracks", list ? list : json_array()));
  g->init_msg = msg_buf(1024);
  err = g->codec_msg && g->init_msg ? vg_fmp4_init_segment(g->mux, &g->init_msg) : VG_ENOMEM;
  if (err < 0) {
    vg_fmp4_free(&g->mux);
    vg_buf_unref(&g->codec_msg);
    vg_buf_unref(&g->init_msg);
    return err;
  }
  for (vg_live_viewer_t *v = g->members; v; v = v->group_next)
    deliver_generation(g, v);
  g->need_key = 1;
  return 0;
}

/* Copies a flushed fragment into one message buffer: the one copy of the
 * media that a WebSocket message (one contiguous payload for lws_write)
 * needs, made once for all the group's viewers. prft (NULL: none) goes in
 * front of the moof. */
static vg_buf_t *fragment_buf(const vg_fmp4_fragment_t *frag, const uint8_t *prft) {
  size_t prft_len = prft ? VG_FMP4_PRFT_SIZE : 0;
  vg_buf_t *b = msg_buf(prft_len + (size_t)frag->size);
  if (!b) return NULL;
  uint8_t *p = b->data + VG_LIVE_PRE;
  if (prft) memcpy(p, prft, prft_len);
  p += prft_len;
  for (int i = 0; i < frag->iov_count; i++) {
    memcpy(p, frag->iov[i].iov_base, frag->iov[i].iov_len);
    p += frag->iov[i].iov_len;
  }
  b->len += prft_len + (size_t)frag->size;
  return b;
}

/* Keeps a fragment of the current GOP for viewers that join later. */
static void gop_keep(vg_live_group_t *g, vg_buf_t *b, int64_t recv_us, int key, int samples) {
  if (key) {
    gop_clear(g);
    g->gop_valid = 1;
  }
  if (!g->gop_valid) return;
  size_t len = b->len - VG_LIVE_PRE;
  if (g->gop_count >= GOP_KEEP_FRAGMENTS || g->gop_bytes + len > GOP_KEEP_BYTES) {
    gop_clear(g); /* too long a GOP: joiners wait for the next keyframe */
    return;
  }
  if (g->gop_count == g->gop_cap) {
    int cap = g->gop_cap ? 2 * g->gop_cap : 64;
    kept_fragment_t *more = realloc(g->gop, (size_t)cap * sizeof(*more));
    if (!more) {
      gop_clear(g);
      return;
    }
    g->gop = more;
    g->gop_cap = cap;
  }
  g->gop[g->gop_count++] = (kept_fragment_t){vg_buf_ref(b), recv_us, samples};
  g->gop_bytes += len;
}

/* Muxes the queued frames into one fragment, once, and hands it to every
 * member.
 *
 * A fragment with a video frame starts with a prft box: the UTC wall-clock
 * time at which vigil received that frame (recv_us, a monotonic time, moved
 * onto the wall clock now) and its decode time. The player reads it for
 * an honest latency estimate (web/src/live.js); MSE skips the box. The GOP
 * cache's frames carry their true arrival times too; so do the fragments
 * a joining viewer gets from the group's kept GOP. */
static void group_flush(vg_live_group_t *g, int64_t recv_us, int key) {
  vg_fmp4_fragment_t frag;
  if (vg_fmp4_flush_fragment(g->mux, &frag) != 0) return;
  uint8_t prft[VG_FMP4_PRFT_SIZE];
  int has_prft = 0;
  if (recv_us > 0 && frag.track == 0) { /* the muxer's track 0 is the video */
    int64_t arrived_utc_us = vg_time_utc_us() - (vg_time_mono_us() - recv_us);
    has_prft = vg_fmp4_prft(prft, 1, arrived_utc_us, frag.start_time) == VG_FMP4_PRFT_SIZE;
  }
  vg_buf_t *b = fragment_buf(&frag, has_prft ? prft : NULL);
  int samples = frag.sample_count;
  vg_fmp4_fragment_release(&frag);
  if (!b) return;
  g->ended = 0;
  gop_keep(g, b, recv_us, key, samples);
  int64_t now = vg_time_mono_us();
  for (vg_live_viewer_t *v = g->members; v; v = v->group_next)
    deliver_fragment(v, b, recv_us, key, samples, now);
  vg_buf_unref(&b);
}

/* The muxer for tracks announced without parameter sets is made once they
 * arrive in-band (the hub's tracks are updated within the generation). */
static void retry_tracks(vg_live_group_t *g) {
  if (!g->hub) return;
  vg_track_t tracks[VG_MAX_TRACKS] = {{0}};
  int n = vg_hub_tracks(g->hub, tracks, VG_MAX_TRACKS);
  int has_params = 0;
  for (int i = 0; i < n; i++)
    if ((tracks[i].codec == VG_CODEC_H264 || tracks[i].codec == VG_CODEC_H265) && tracks[i].extradata)
      has_params = 1;
  if (has_params) vg_live_group_set_tracks(g, tracks, n);
  for (int i = 0; i < n; i++)
    vg_track_clear(&tracks[i]);
}

void vg_live_group_feed(vg_live_group_t *g, const vg_frame_t *f) {
  int is_video = (int)f->track == g->video && g->video >= 0;
  int key = is_video && (f->flags & VG_FRAME_KEY);
  if (!g->mux) {
    if (key || g->video < 0) retry_tracks(g);
    if (!g->mux) return;
    is_video = (int)f->track == g->video;
    key = is_video && (f->flags & VG_FRAME_KEY);
  }
  if (f->track >= VG_MAX_TRACKS || g->map[f->track] < 0) return;
  if (g->need_key) {
    if (!key) return;
    g->need_key = 0;
  }
  vg_frame_t mf = *f;
  mf.track = (uint8_t)g->map[f->track];
  int err = vg_fmp4_add_frame(g->mux, &mf);
  if (err == VG_ETOOBIG) {
    group_flush(g, 0, 0);
    err = vg_fmp4_add_frame(g->mux, &mf);
  }
  if (err) {
    vg_log_debug(&lg, "%s: frame not sent: %s", g->camera, vg_strerror(err));
    return;
  }
  if (is_video) group_flush(g, f->recv_us, key);
}

void vg_live_group_ended(vg_live_group_t *g) {
  g->ended = 1;
  g->need_key = 1;
  gop_clear(g);
  for (vg_live_viewer_t *v = g->members; v; v = v->group_next) {
    if (v->ended_sent) continue;
    v->ended_sent = 1;
    v->need_key = 1;
    enqueue_text(v, END_TEXT, 0);
  }
}

/* The stand-alone viewer (unit tests): a group of its own, or the group it
 * was put in. */
static vg_live_group_t *viewer_group(vg_live_viewer_t *v) {
  if (v->group) return v->group;
  if (!v->own_group) {
    v->own_group = vg_live_group_new(v->camera, v->audio_wanted);
    if (v->own_group) vg_live_group_join(v->own_group, v);
  }
  return v->own_group;
}

int vg_live_viewer_set_tracks(vg_live_viewer_t *v, const vg_track_t *tracks, int count) {
  vg_live_group_t *g = viewer_group(v);
  return g ? vg_live_group_set_tracks(g, tracks, count) : VG_ENOMEM;
}

void vg_live_viewer_feed(vg_live_viewer_t *v, const vg_frame_t *frame) {
  vg_live_group_t *g = viewer_group(v);
  if (g) vg_live_group_feed(g, frame);
}

void vg_live_viewer_ended(vg_live_viewer_t *v) {
  vg_live_group_t *g = viewer_group(v);
  if (g) vg_live_group_ended(g);
}

/* ---- the server's viewers ---- */

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static vg_live_viewer_t *reg_head; /* established viewers */
static vg_live_group_t *groups;    /* their groups, one per hub and audio choice */
static struct {
  void *conn;
  char camera[64];
  int audio;
  int64_t at_us;
} pending[PENDING_MAX];

static void viewer_unref(vg_live_viewer_t *v) {
  if (atomic_fetch_sub(&v->refs, 1) == 1) vg_live_viewer_free(&v);
}

/* Wakes the lws thread (any thread). Under the viewer's lock so that it
 * never races with the socket's close, after which the context may go. */
static atomic_int wake_pending; /* a cancel is on its way to the lws thread */

static void ws_wake(void *opaque) {
  vg_live_viewer_t *v = opaque;
  pthread_mutex_lock(&v->lock);
  /* One wake-up per turn of the lws loop, however many viewers and frames:
   * on_wake() clears the flag before it looks at the queues, so a message
   * queued after that look sets it (and wakes the loop) again. */
  if (!v->closed && v->context && !atomic_exchange(&wake_pending, 1)) lws_cancel_service(v->context);
  pthread_mutex_unlock(&v->lock);
}

/* The group's hub reader, drained on its worker: every frame is muxed
 * once for all the group's viewers. */
static void drain(void *arg) {
  vg_live_group_t *g = arg;
  atomic_store(&g->scheduled, 0);
  if (!g->reader) return;
  for (;;) {
    vg_frame_t f;
    int r = vg_hub_read(g->reader, &f);
    if (r == VG_EAGAIN) break;
    if (r == VG_ESTATE) {
      vg_track_t tracks[VG_MAX_TRACKS] = {{0}};
      int n = vg_hub_reader_tracks(g->reader, tracks, VG_MAX_TRACKS);
      vg_live_group_set_tracks(g, tracks, n);
      for (int i = 0; i < n; i++)
        vg_track_clear(&tracks[i]);
      continue;
    }
    if (r == VG_ECLOSED) {
      vg_live_group_ended(g);
      break;
    }
    if (r < 0) break;
    vg_live_group_feed(g, &f);
    vg_frame_unref(&f);
  }
}

/* On the producer's thread, under the hub's lock: only wake the worker. */
static void on_notify(void *opaque) {
  vg_live_group_t *g = opaque;
  if (!atomic_exchange(&g->scheduled, 1)) vg_worker_post(g->worker, drain, g);
}

/* On the group's worker: its first viewer opens the reader (whose GOP cache
 * then arrives for everybody); a later one gets the kept GOP. */
static void join_task(void *arg) {
  vg_live_viewer_t *v = arg;
  vg_live_group_t *g = v->home;
  if (!g->opened) {
    g->opened = 1;
    vg_hub_reader_opts_t o = {.queue_frames = HUB_QUEUE_FRAMES, .notify = on_notify, .opaque = g};
    int err = vg_hub_open_reader(g->hub, &o, &g->reader);
    if (err) {
      vg_log_warn(&lg, "%s: cannot read the stream: %s", g->camera, vg_strerror(err));
      g->error_msg = text_buf("{\"type\":\"error\",\"message\":\"cannot read the stream\"}");
      g->error_close = 1;
    }
  }
  vg_live_group_join(g, v);
  drain(g);
}

static void free_group_task(void *arg) {
  vg_live_group_t *g = arg;
  vg_live_group_free(&g);
}

/* Drops a viewer's reference to its group. The last one takes the group
 * out of the registry (under the lock that finding it takes, so nobody
 * picks it up again), closes its reader (no notify after that) and frees
 * it in a task queued behind any drain posted before the close. On the
 * group's worker, or anywhere once the workers have stopped. */
static void group_release(vg_live_group_t *g) {
  pthread_mutex_lock(&reg_lock);
  int last = --g->refs == 0;
  if (last)
    for (vg_live_group_t **pp = &groups; *pp; pp = &(*pp)->next)
      if (*pp == g) {
        *pp = g->next;
        break;
      }
  pthread_mutex_unlock(&reg_lock);
  if (!last) return;
  if (g->reader) {
    vg_hub_reader_stats_t st;
    vg_hub_reader_stats(g->reader, &st);
    atomic_fetch_add(&g->cs->dropped, st.dropped);
    atomic_fetch_add(&g->cs->skips, st.skips);
  }
  vg_hub_close_reader(&g->reader);
  if (!g->worker || vg_worker_post(g->worker, free_group_task, g) != 0) vg_live_group_free(&g);
}

/* The worker's half of a viewer ends: it leaves its group, then the
 * worker's reference goes (nothing on the worker refers to it any more). */
static void close_task(void *arg) {
  vg_live_viewer_t *v = arg;
  vg_live_group_t *g = v->home;
  vg_live_group_leave(g, v);
  group_release(g);
  viewer_unref(v);
}

void vg_live_ws_accepted(void *conn, const char *camera, int audio) {
  int64_t now = vg_time_mono_us();
  pthread_mutex_lock(&reg_lock);
  int slot = -1;
  for (int i = 0; i < PENDING_MAX; i++) {
    /* A handshake that never completed leaves its entry behind: reuse it. */
    if (pending[i].conn && now - pending[i].at_us > 30 * 1000000LL) pending[i].conn = NULL;
    if (!pending[i].conn && slot < 0) slot = i;
    if (pending[i].conn == conn) slot = i;
  }
  if (slot >= 0) {
    pending[slot].conn = conn;
    snprintf(pending[slot].camera, sizeof(pending[slot].camera), "%s", camera);
    pending[slot].audio = audio;
    pending[slot].at_us = now;
  }
  pthread_mutex_unlock(&reg_lock);
}

static int take_pending(void *conn, char *camera, size_t size, int *audio) {
  int found = 0;
  pthread_mutex_lock(&reg_lock);
  for (int i = 0; i < PENDING_MAX && !found; i++)
    if (pending[i].conn == conn) {
      snprintf(camera, size, "%s", pending[i].camera);
      *audio = pending[i].audio;
      pending[i].conn = NULL;
      found = 1;
    }
  pthread_mutex_unlock(&reg_lock);
  return found;
}

/* The group of hub's viewers with this audio choice, made if there is none,
 * with a reference for the caller. Takes the caller's reference to hub. */
static vg_live_group_t *group_for(const char *camera, vg_hub_t *hub, int audio) {
  vg_camera_t *cam = vg_camera_find(camera);
  vg_worker_t *worker = cam && cam->worker ? cam->worker : vg_workers_count() > 0 ? vg_worker_next() : NULL;
  pthread_mutex_lock(&reg_lock);
  vg_live_group_t *g = groups;
  while (g && !(g->hub == hub && g->audio_wanted == audio))
    g = g->next;
  if (!g && worker && (g = vg_live_group_new(camera, audio))) {
    g->hub = hub;
    hub = NULL;
    g->worker = worker;
    g->next = groups;
    groups = g;
  }
  if (g) g->refs++;
  pthread_mutex_unlock(&reg_lock);
  vg_hub_unref(&hub);
  return g;
}

static int on_established(struct lws *wsi, void **slot) {
  char camera[64];
  int audio = 1;
  if (!take_pending(wsi, camera, sizeof(camera), &audio)) return -1;
  vg_hub_t *hub = vg_hub_find(camera);
  if (!hub) return -1;
  vg_live_viewer_t *v = vg_live_viewer_new(camera, audio, ws_wake, NULL);
  vg_live_group_t *g = v ? group_for(camera, hub, audio) : (vg_hub_unref(&hub), NULL);
  if (!g) {
    vg_live_viewer_free(&v);
    return -1;
  }
  v->wake_opaque = v;
  v->home = g;
  v->wsi = wsi;
  v->context = lws_get_context(wsi);
  atomic_store(&v->refs, 2); /* the socket's half and the worker's half */
  int fd = lws_get_socket_fd(wsi), sndbuf = VG_LIVE_WS_SNDBUF;
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  pthread_mutex_lock(&reg_lock);
  v->next = reg_head;
  reg_head = v;
  pthread_mutex_unlock(&reg_lock);
  atomic_fetch_add(&v->cs->viewers, 1);
  *slot = v;
  if (vg_worker_post(g->worker, join_task, v) != 0) {
    group_release(g); /* the worker's half never started */
    viewer_unref(v);
    return -1; /* CLOSED follows and drops the socket's half */
  }
  vg_log_info(&lg, "%s: live viewer connected", camera);
  return 0;
}

static void on_closed(void **slot) {
  vg_live_viewer_t *v = *slot;
  if (!v) return;
  *slot = NULL;
  pthread_mutex_lock(&v->lock);
  v->closed = 1;
  v->wsi = NULL;
  pthread_mutex_unlock(&v->lock);
  free_queue(v);
  pthread_mutex_lock(&reg_lock);
  for (vg_live_viewer_t **pp = &reg_head; *pp; pp = &(*pp)->next)
    if (*pp == v) {
      *pp = v->next;
      break;
    }
  pthread_mutex_unlock(&reg_lock);
  atomic_fetch_sub(&v->cs->viewers, 1);
  vg_live_viewer_stats_t st;
  vg_live_viewer_stats(v, &st);
  vg_log_info(&lg, "%s: live viewer left (%llu fragments, %llu skips)", v->camera,
              (unsigned long long)st.fragments, (unsigned long long)st.skips);
  int worker_half = atomic_load(&v->refs) > 1;
  if (worker_half && vg_worker_post(v->home->worker, close_task, v) != 0) {
    /* The workers have stopped: nothing runs on them any more. */
    close_task(v);
  }
  viewer_unref(v);
}

/* Keeps lws from reading a viewer's socket while it holds part of a
 * message that the socket did not take. lws 4.1.6 cannot close a
 * WebSocket whose peer has gone (a read of 0) while it still holds unsent
 * output: the close waits for the flush (LRS_FLUSHING_BEFORE_CLOSE), and
 * the service loop retries the same socket at once, reading 0 again and
 * again without ever polling: the HTTP server's thread spins, accepts
 * nobody and never sees a stop. With reading off, lws finds a peer that
 * has gone when it flushes (a send error) or from the poll's hang-up, and
 * then closes at once. lws_send_pipe_choked() is true whenever lws holds
 * unsent output (and when the kernel's buffer is merely full: reading is
 * then off until the next WRITEABLE, which is harmless, the viewer has
 * nothing to say). A choked viewer asks for WRITEABLE, which comes once
 * lws has flushed, so that reading is turned on again. */
static void read_only_when_flushed(struct lws *wsi) {
  int choked = lws_send_pipe_choked(wsi);
  lws_rx_flow_control(wsi, !choked);
  if (choked) lws_callback_on_writable(wsi);
}

static int on_writeable(struct lws *wsi, void **slot) {
  vg_live_viewer_t *v = *slot;
  if (!v) return 0;
  while (!lws_send_pipe_choked(wsi)) {
    vg_live_msg_t *m = vg_live_viewer_pop(v);
    if (!m) break;
    size_t len = msg_len(m);
    /* lws_write puts its frame header in the headroom in front of the
     * payload, which may be a buffer shared with other viewers: all writes
     * happen on this one thread, and lws is done with the headroom when
     * lws_write returns (what the socket did not take, it copies), so each
     * viewer's write may reuse it. The payload itself is never written. */
    int n = lws_write(wsi, m->buf->data + VG_LIVE_PRE, len, m->text ? LWS_WRITE_TEXT : LWS_WRITE_BINARY);
    int close_after = m->close_after;
    if (m->recv_us > 0) vg_live_latency_observe(vg_time_mono_us() - m->recv_us);
    vg_live_msg_free(m);
    if (n < (int)len) return -1;
    atomic_fetch_add(&v->cs->bytes, len);
    if (close_after) {
      /* lws flushes what it holds before it closes: not reading meanwhile. */
      read_only_when_flushed(wsi);
      lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, NULL, 0);
      return -1;
    }
  }
  read_only_when_flushed(wsi);
  pthread_mutex_lock(&v->lock);
  int more = v->head != NULL;
  pthread_mutex_unlock(&v->lock);
  if (more) lws_callback_on_writable(wsi);
  return 0;
}

/* Asks for WRITEABLE on every viewer with something queued. */
static void on_wake(void) {
  atomic_store(&wake_pending, 0);
  pthread_mutex_lock(&reg_lock);
  for (vg_live_viewer_t *v = reg_head; v; v = v->next) {
    pthread_mutex_lock(&v->lock);
    int has = v->head != NULL;
    pthread_mutex_unlock(&v->lock);
    if (has && v->wsi) lws_callback_on_writable(v->wsi);
  }
  pthread_mutex_unlock(&reg_lock);
}

int vg_live_ws_callback(void *wsi_ptr, int reason, void **slot, void *in, size_t len) {
  struct lws *wsi = wsi_ptr;
  (void)in;
  (void)len;
  switch (reason) {
  case LWS_CALLBACK_ESTABLISHED: return slot ? on_established(wsi, slot) : -1;
  case LWS_CALLBACK_SERVER_WRITEABLE: return slot ? on_writeable(wsi, slot) : 0;
  case LWS_CALLBACK_CLOSED:
    if (slot) on_closed(slot);
    return 0;
  case LWS_CALLBACK_EVENT_WAIT_CANCELLED: on_wake(); return 0;
  case LWS_CALLBACK_RECEIVE: return 0; /* the client has nothing to say */
  default: return 0;
  }
}

/* ---- analytics metadata ---- */

int vg_live_meta_publish(const char *camera, json_t *meta) {
  if (!camera || !json_is_object(meta)) return VG_EINVAL;
  int count = 0;
  vg_buf_t *text = NULL; /* built once, shared by the camera's viewers */
  pthread_mutex_lock(&reg_lock);
  for (vg_live_viewer_t *v = reg_head; v; v = v->next) {
    if (strcmp(v->camera, camera) != 0) continue;
    if (!text) {
      json_t *copy = json_copy(meta);
      if (!copy) break;
      json_object_set_new(copy, "type", json_string("meta"));
      json_object_set_new(copy, "camera", json_string(camera));
      text = json_buf(copy);
      if (!text) break;
    }
    enqueue_buf(v, text, 1, 0, 0, 0, 0);
    count++;
  }
  pthread_mutex_unlock(&reg_lock);
  vg_buf_unref(&text);
  return count;
}

/* For unit tests of the hook: the viewers of a test registered by hand. */
void vg_live_test_register(vg_live_viewer_t *v);
void vg_live_test_unregister(vg_live_viewer_t *v);
void vg_live_test_register(vg_live_viewer_t *v) {
  pthread_mutex_lock(&reg_lock);
  v->next = reg_head;
  reg_head = v;
  pthread_mutex_unlock(&reg_lock);
}
void vg_live_test_unregister(vg_live_viewer_t *v) {
  pthread_mutex_lock(&reg_lock);
  for (vg_live_viewer_t **pp = &reg_head; *pp; pp = &(*pp)->next)
    if (*pp == v) {
      *pp = v->next;
      break;
    }
  pthread_mutex_unlock(&reg_lock);
}

/* ---- tickets ---- */

static pthread_mutex_t ticket_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  char ticket[VG_LIVE_TICKET_LEN + 1];
  char camera[64];
  int64_t expires_us;
} tickets[VG_LIVE_TICKET_MAX];

static int ticket_create(const char *camera, char *out, size_t size) {
  uint8_t raw[16];
  randombytes_buf(raw, sizeof(raw));
  char hex[33];
  sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
  snprintf(out, size, "vlt_%s", hex);
  int64_t now = vg_time_mono_us();
  pthread_mutex_lock(&ticket_lock);
  int slot = 0;
  for (int i = 0; i < VG_LIVE_TICKET_MAX; i++) {
    if (!tickets[i].ticket[0] || tickets[i].expires_us < now) {
      slot = i;
      break;
    }
    if (tickets[i].expires_us < tickets[slot].expires_us) slot = i; /* full: the oldest goes */
  }
  snprintf(tickets[slot].ticket, sizeof(tickets[slot].ticket), "%s", out);
  snprintf(tickets[slot].camera, sizeof(tickets[slot].camera), "%s", camera);
  tickets[slot].expires_us = now + VG_LIVE_TICKET_TTL_S * 1000000LL;
  pthread_mutex_unlock(&ticket_lock);
  return 0;
}

/* Consumes a ticket for camera: 0, or VG_EAUTH (unknown, used, expired or
 * for another camera). */
static int ticket_consume(const char *ticket, const char *camera) {
  int64_t now = vg_time_mono_us();
  int ok = 0;
  pthread_mutex_lock(&ticket_lock);
  for (int i = 0; i < VG_LIVE_TICKET_MAX; i++) {
    if (!tickets[i].ticket[0] || sodium_memcmp(tickets[i].ticket, ticket, sizeof(tickets[i].ticket)) != 0)
      continue;
    ok = tickets[i].expires_us >= now && strcmp(tickets[i].camera, camera) == 0;
    memset(&tickets[i], 0, sizeof(tickets[i])); /* one use, right or wrong */
    break;
  }
  pthread_mutex_unlock(&ticket_lock);
  return ok ? 0 : VG_EAUTH;
}

/* ---- routes and the upgrade's authorization ---- */

static _Thread_local int tl_upgrading, tl_upgrade_ok;

static int camera_exists(const char *id) {
  vg_hub_t *hub = vg_hub_find(id);
  if (!hub) return 0;
  vg_hub_unref(&hub);
  return 1;
}

static int get_live_ws(const vg_http_request_t *req, vg_http_response_t *res) {
  const char *id = vg_http_param(req, "id");
  if (!vg_api_camera_allowed(req, id, VG_PERM_LIVE) || !camera_exists(id))
    return vg_http_reply_error(res, 404, "not_found", "no camera '%s'", id);
  if (!tl_upgrading) {
    vg_http_add_header(res, "Upgrade", "websocket");
    return vg_http_reply_error(res, 426, "upgrade_required",
                               "live.ws is a WebSocket endpoint (see docs/LIVE.md)");
  }
  tl_upgrade_ok = 1;
  return vg_http_reply_json(res, 200, json_object());
}

static int post_live_ticket(const vg_http_request_t *req, vg_http_response_t *res) {
  const char *id = vg_http_param(req, "id");
  if (!vg_api_camera_allowed(req, id, VG_PERM_LIVE) || !camera_exists(id))
    return vg_http_reply_error(res, 404, "not_found", "no camera '%s'", id);
  char ticket[VG_LIVE_TICKET_LEN + 1];
  ticket_create(id, ticket, sizeof(ticket));
  char url[256];
  snprintf(url, sizeof(url), "/api/v1/cameras/%s/live.ws?ticket=%s", id, ticket);
  return vg_http_reply_json(
      res, 200, json_pack("{s:s,s:i,s:s}", "ticket", ticket, "expires_in", VG_LIVE_TICKET_TTL_S, "url", url));
}

const vg_http_route_t vg_live_routes[] = {
    {"GET", "/api/v1/cameras/{id}/live.ws", get_live_ws,
     "live view: fMP4 over WebSocket (upgrade only; docs/LIVE.md)"},
    {"POST", "/api/v1/cameras/{id}/live-ticket", post_live_ticket,
     "a one-time ticket for the live WebSocket, valid 30 s"},
    {"GET", "/api/v1/cameras/{id}/live.m3u8", vg_hls_get_playlist, "live view: HLS playlist (fMP4 segments)"},
    {"GET", "/api/v1/cameras/{id}/live/{file}", vg_hls_get_file, "live view: HLS init segment or segment"},
};
const size_t vg_live_route_count = sizeof(vg_live_routes) / sizeof(vg_live_routes[0]);

/* The camera id of "/api/v1/cameras/{id}/live.ws", or an error. */
static int parse_ws_path(const char *path, char *camera, size_t size) {
  static const char prefix[] = "/api/v1/cameras/", suffix[] = "/live.ws";
  if (strncmp(path, prefix, sizeof(prefix) - 1) != 0) return VG_ENOTFOUND;
  const char *id = path + sizeof(prefix) - 1, *slash = strchr(id, '/');
  if (!slash || slash == id || strcmp(slash, suffix) != 0) return VG_ENOTFOUND;
  size_t n = (size_t)(slash - id);
  if (n >= size) return VG_ENOTFOUND;
  memcpy(camera, id, n);
  camera[n] = '\0';
  return 0;
}

int vg_live_ws_authorize(vg_http_request_t *req, vg_http_response_t *res, char *camera, size_t camera_size,
                         int *audio) {
  if (parse_ws_path(req->path, camera, camera_size) != 0) {
    vg_http_reply_error(res, 404, "not_found", "no WebSocket endpoint at %s", req->path);
    return VG_ENOTFOUND;
  }
  char value[128];
  *audio = !(vg_http_query(req, "audio", value, sizeof(value)) >= 0 && strcmp(value, "0") == 0);
  if (vg_api_auth_enabled() && vg_http_query(req, "ticket", value, sizeof(value)) >= 0) {
    if (ticket_consume(value, camera) != 0) {
      vg_http_reply_error(res, 401, "unauthorized", "invalid, used or expired live ticket");
      return VG_EAUTH;
    }
    if (!camera_exists(camera)) {
      vg_http_reply_error(res, 404, "not_found", "no camera '%s'", camera);
      return VG_ENOTFOUND;
    }
    return 0;
  }
  if (vg_api_auth_enabled() && vg_http_query(req, "token", value, sizeof(value)) >= 0) {
    vg_user_t user = {0};
    int err = vg_api_users() ? vg_users_token_get(vg_api_users(), value, &user) : VG_EAUTH;
    int allowed = err == 0 && vg_user_allowed(&user, camera, VG_PERM_LIVE);
    vg_user_clear(&user);
    if (err) {
      vg_http_reply_error(res, 401, "unauthorized", "invalid or expired credentials");
      return VG_EAUTH;
    }
    if (!allowed || !camera_exists(camera)) {
      vg_http_reply_error(res, 404, "not_found", "no camera '%s'", camera);
      return VG_ENOTFOUND;
    }
    return 0;
  }
  /* The API's own authentication and the route's permission check. */
  tl_upgrading = 1;
  tl_upgrade_ok = 0;
  vg_api_dispatch(req, res);
  tl_upgrading = 0;
  if (tl_upgrade_ok && res->status == 200) return 0;
  return VG_EAUTH;
}

/* ---- start / stop ---- */

void vg_live_start(void) { vg_metrics_register("live", collect_live_metrics, NULL); }

void vg_live_stop(void) {
  atomic_store(&wake_pending, 0);
  vg_hls_stop_all();
  vg_metrics_unregister("live");
}
