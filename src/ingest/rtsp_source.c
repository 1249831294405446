#include "ingest/rtsp_source.h"

#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/error.h"
#include "base/time.h"
#include "ingest/pull.h"
#include "media/nal.h"
#include "net/uring.h"
#include "proto/auth.h"
#include "proto/rtcp.h"
#include "proto/rtp.h"
#include "proto/rtp_payload.h"
#include "proto/rtsp.h"
#include "proto/sdp.h"
#include "proto/url.h"

#define READ_BUF_MAX (256 * 1024) /* a 64 KiB body or interleaved frame fits with room to spare */
#define MAX_REDIRECTS 5
#define TICK_MS 100      /* UDP: the reorder buffer's deadlines need this resolution */
#define TICK_MAX_MS 1000 /* TCP: timeouts are checked 4 times per read timeout, at most once a second */
#define RR_INTERVAL_US 5000000
#define AUTO_UDP_WAIT_US 3000000
#define REORDER_WINDOW 64
#define REORDER_DELAY_US 200000
#define URL_MAX (VG_URL_MAX_PATH + 512)

typedef enum { ST_OPTIONS = 0, ST_DESCRIBE, ST_SETUP, ST_PLAY, ST_PLAYING } rtsp_state_t;

typedef struct rtsp_src rtsp_src_t;

/* Field order: what every packet and frame touches comes first, the large
 * text fields last, so that a frame of one of many cameras touches few
 * cold cache lines (a profile at N=500 showed most of the source's own time
 * in cache misses on per-camera state). */
typedef struct {
  rtsp_src_t *s;
  int index; /* in the hub */
  int payload_type;
  uint8_t channel[2]; /* interleaved RTP, RTCP */
  int has_sr;
  vg_depack_t *depack;
  vg_rtp_stats_t stats;
  int64_t lost_reported;
  uint64_t bad_reported; /* depacketizer's malformed + too big + unsupported, as counted so far */
  vg_rtcp_sr_t sr;
  vg_rtp_reorder_t *reorder;
  vg_track_t track;
  /* UDP */
  uv_udp_t sock[2]; /* RTP, RTCP */
  int socks_open;
  uint16_t client_port[2], server_port[2];
  char fmtp[VG_SDP_MAX_FMTP];
  char control_url[URL_MAX];
} track_t;

struct rtsp_src {
  vg_camera_t *cam;
  rtsp_state_t state;
  int udp; /* this attempt uses UDP */
  int n_tracks, setup_index;
  int got_rtp, online;
  /* The time of the read (or datagram, or tick) being handled: one clock
   * read serves every packet in it. */
  int64_t now_us;
  /* Counts of the packets and frames handled since the last flush into the
   * camera's atomic counters (once per read: an atomic add per packet was
   * a tenth of the ingest CPU at N=500). */
  uint64_t unflushed_packets, unflushed_frames, unflushed_bytes;
  int64_t play_us, last_media_us, last_keepalive_us, last_rr_us;
  /* Receive through the worker's io_uring once playing over TCP (see
   * switch_to_ring): the bytes of a message that a receive buffer ended in
   * the middle of wait in the stash until the next buffer completes it. */
  vg_uring_sock_t *ring_sock;
  int want_ring;
  uint8_t *stash;
  size_t stash_len, stash_cap;
  track_t tracks[VG_MAX_TRACKS];
  vg_url_t url;
  char request_url[URL_MAX]; /* without credentials */
  uint32_t cseq, pending_cseq;
  char pending_method[16];
  int64_t pending_since_us;
  vg_auth_client_t auth;
  int auth_sent;
  int redirects;
  unsigned public_methods;
  char session[256];
  int session_timeout_s;
  char base_url[URL_MAX], aggregate_url[URL_MAX];
  vg_rtsp_msg_t msg; /* large: kept off the stack */
  uint32_t own_ssrc;
  /* The connection, the tick, the UDP sockets still closing (handles_open)
   * and how the session ends (restarting: over TCP). */
  vg_pull_t pull;
};

static void begin_connect(rtsp_src_t *s);
static void session_start(vg_camera_t *cam, int force_tcp);

/* ---- life cycle ------------------------------------------------------- */

static void free_tracks(rtsp_src_t *s) {
  for (int i = 0; i < s->n_tracks; i++) {
    track_t *t = &s->tracks[i];
    vg_depack_free(&t->depack);
    vg_rtp_reorder_free(&t->reorder);
    vg_track_clear(&t->track);
  }
  s->n_tracks = 0;
}

static void release(vg_pull_t *p) {
  rtsp_src_t *s = p->owner;
  free_tracks(s);
  free(s->stash);
  free(s);
}

static void udp_closed(uv_handle_t *h) {
  rtsp_src_t *s = h->data;
  vg_pull_handle_closed(&s->pull);
}

static void close_udp(rtsp_src_t *s) {
  for (int i = 0; i < s->n_tracks; i++) {
    track_t *t = &s->tracks[i];
    for (int k = 0; k < 2; k++) {
      if (!(t->socks_open & (1 << k))) continue;
      t->socks_open &= ~(1 << k);
      uv_close((uv_handle_t *)&t->sock[k], udp_closed);
    }
  }
}

/* Runs before the connection closes: the ring's receive is cancelled before
 * the socket is closed. */
static void close_extra(vg_pull_t *p) {
  rtsp_src_t *s = p->owner;
  vg_uring_recv_stop(s->ring_sock);
  s->ring_sock = NULL;
  close_udp(s);
}

static void restart_over_tcp(vg_camera_t *cam) { session_start(cam, 1); }

static const vg_pull_ops_t pull_ops = {close_extra, release, restart_over_tcp};

#define fail(s, ...) vg_pull_fail(&(s)->pull, __VA_ARGS__)

/* ---- requests --------------------------------------------------------- */

static void send_bytes(rtsp_src_t *s, const void *data, size_t len) {
  if (!s->pull.conn) return;
  int r = vg_tcp_client_write(s->pull.conn, data, len);
  if (r < 0) fail(s, r, "write failed: %s", vg_strerror(r));
}

/* Sends a request; extra is "Name: value\r\n" lines or NULL. */
static void send_request(rtsp_src_t *s, const char *method, const char *uri, const char *extra) {
  char out[4096], authz[1024];
  vg_rtsp_writer_t w;
  vg_rtsp_writer_init(&w, out, sizeof(out));
  vg_rtsp_write_request_line(&w, method, uri);
  vg_rtsp_write_header(&w, "CSeq", "%u", ++s->cseq);
  vg_rtsp_write_header(&w, "User-Agent", "vigil/%s", VG_VERSION);
  if (s->auth.challenge.scheme != VG_AUTH_NONE) {
    int r = vg_auth_client_authorization(&s->auth, method, uri, s->url.user, s->url.password, authz,
                                         sizeof(authz));
    if (r < 0) {
      fail(s, VG_EAUTH, "cannot build credentials: %s", vg_strerror(r));
      return;
    }
    vg_rtsp_write_header(&w, "Authorization", "%s", authz);
  }
  if (s->session[0]) vg_rtsp_write_header(&w, "Session", "%s", s->session);
  int n = vg_rtsp_write_end(&w, NULL, 0);
  if (n < 0) {
    fail(s, n, "cannot write %s: %s", method, vg_strerror(n));
    return;
  }
  /* The extra headers go before the blank line the writer ended with. */
  size_t extra_len = extra ? strlen(extra) : 0;
  if (extra_len) {
    if ((size_t)n + extra_len >= sizeof(out)) {
      fail(s, VG_ETOOBIG, "%s request too long", method);
      return;
    }
    memmove(out + n - 2 + extra_len, out + n - 2, 2);
    memcpy(out + n - 2, extra, extra_len);
    n += (int)extra_len;
  }
  s->pending_cseq = s->cseq;
  snprintf(s->pending_method, sizeof(s->pending_method), "%s", method);
  s->pending_since_us = vg_time_mono_us();
  send_bytes(s, out, (size_t)n);
}

static void send_options(rtsp_src_t *s) {
  s->state = ST_OPTIONS;
  send_request(s, "OPTIONS", s->request_url, NULL);
}

static void send_describe(rtsp_src_t *s) {
  s->state = ST_DESCRIBE;
  send_request(s, "DESCRIBE", s->request_url, "Accept: application/sdp\r\n");
}

/* Binds an RTP/RTCP pair of UDP sockets: RTP on an even port, RTCP on the
 * next one (RFC 3550 §11). */
static int bind_udp_pair(rtsp_src_t *s, track_t *t, int family) {
  uv_loop_t *loop = vg_worker_loop(s->cam->worker);
  for (int attempt = 0; attempt < 50; attempt++) {
    uint16_t port = (uint16_t)(20000 + 2 * (rand() % 20000));
    int fds[2] = {-1, -1}, ok = 1;
    for (int k = 0; k < 2 && ok; k++) {
      fds[k] = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      struct sockaddr_storage a = {0};
      socklen_t alen;
      if (family == AF_INET6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&a;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)(port + k));
        alen = sizeof(*a6);
      } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&a;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)(port + k));
        alen = sizeof(*a4);
      }
      ok = fds[k] >= 0 && bind(fds[k], (struct sockaddr *)&a, alen) == 0;
    }
    if (!ok) {
      for (int k = 0; k < 2; k++)
        if (fds[k] >= 0) close(fds[k]);
      continue;
    }
    for (int k = 0; k < 2; k++) {
      uv_udp_init(loop, &t->sock[k]);
      t->sock[k].data = s;
      uv_udp_open(&t->sock[k], fds[k]);
      t->socks_open |= 1 << k;
      s->pull.handles_open++;
    }
    int size = 2 << 20; /* room for a key frame burst */
    uv_recv_buffer_size((uv_handle_t *)&t->sock[0], &size);
    t->client_port[0] = port;
    t->client_port[1] = (uint16_t)(port + 1);
    return 0;
  }
  return VG_EBUSY;
}

static void on_udp_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *from,
                        unsigned flags);
static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out);

static void send_setup(rtsp_src_t *s) {
  track_t *t = &s->tracks[s->setup_index];
  char transport[160], extra[200];
  vg_rtsp_transport_t tr = {.unicast = 1};
  if (s->udp) {
    if (!t->socks_open) {
      struct sockaddr_storage local, remote;
      int family = AF_INET;
      if (s->pull.conn && vg_tcp_client_sockname(s->pull.conn, &local, &remote) == 0)
        family = local.ss_family;
      int r = bind_udp_pair(s, t, family);
      if (r < 0) {
        fail(s, r, "cannot bind a UDP port pair");
        return;
      }
      for (int k = 0; k < 2; k++)
        uv_udp_recv_start(&t->sock[k], udp_alloc, on_udp_recv);
    }
    tr.lower = VG_RTSP_LOWER_UDP;
    tr.has_client_port = 1;
    tr.client_port[0] = t->client_port[0];
    tr.client_port[1] = t->client_port[1];
  } else {
    tr.lower = VG_RTSP_LOWER_TCP;
    tr.has_interleaved = 1;
    tr.interleaved[0] = (uint8_t)(2 * s->setup_index);
    tr.interleaved[1] = (uint8_t)(2 * s->setup_index + 1);
  }
  if (vg_rtsp_transport_format(&tr, transport, sizeof(transport)) < 0) {
    fail(s, VG_ETOOBIG, "cannot format Transport");
    return;
  }
  snprintf(extra, sizeof(extra), "Transport: %s\r\n", transport);
  s->state = ST_SETUP;
  send_request(s, "SETUP", t->control_url, extra);
}

static void send_play(rtsp_src_t *s) {
  s->state = ST_PLAY;
  send_request(s, "PLAY", s->aggregate_url, "Range: npt=0.000-\r\n");
}

static void send_keepalive(rtsp_src_t *s) {
  s->last_keepalive_us = vg_time_mono_us();
  send_request(s, (s->public_methods & VG_RTSP_M_GET_PARAMETER) ? "GET_PARAMETER" : "OPTIONS",
               s->aggregate_url, NULL);
}

/* ---- media ------------------------------------------------------------ */

static void update_lost(rtsp_src_t *s, track_t *t) {
  int64_t lost = vg_rtp_stats_lost(&t->stats);
  if (lost > t->lost_reported) {
    atomic_fetch_add(&s->cam->counters.rtp_lost, (uint64_t)(lost - t->lost_reported));
    t->lost_reported = lost;
  }
}

/* Adds what was counted since the last call to the camera's counters. */
static void flush_counters(rtsp_src_t *s) {
  vg_camera_counters_t *c = &s->cam->counters;
  if (s->unflushed_packets)
    atomic_fetch_add_explicit(&c->rtp_packets, s->unflushed_packets, memory_order_relaxed);
  if (s->unflushed_frames) atomic_fetch_add_explicit(&c->frames, s->unflushed_frames, memory_order_relaxed);
  if (s->unflushed_bytes) atomic_fetch_add_explicit(&c->bytes, s->unflushed_bytes, memory_order_relaxed);
  s->unflushed_packets = s->unflushed_frames = s->unflushed_bytes = 0;
}

static void on_frame(void *opaque, vg_frame_t *f) {
  track_t *t = opaque;
  rtsp_src_t *s = t->s;
  vg_camera_t *cam = s->cam;
  f->utc_us = t->has_sr ? vg_rtcp_sr_utc_us(&t->sr, t->track.clock_rate, (uint32_t)f->pts) : vg_time_utc_us();
  vg_hub_push(cam->hub, f);
  s->unflushed_frames++;
  s->unflushed_bytes += f->len;
  vg_buf_unref(&f->buf);
  if (!s->online) {
    s->online = 1;
    flush_counters(s); /* the first frame shows at once */
    vg_camera_source_online(cam);
  }
}

static void on_params(void *opaque, vg_buf_t *extradata) {
  track_t *t = opaque;
  vg_buf_unref(&t->track.extradata);
  t->track.extradata = extradata;
  vg_track_update_video_info(&t->track, NULL, 0);
  vg_hub_update_track(t->s->cam->hub, t->index, &t->track);
}

static void handle_rtp(rtsp_src_t *s, track_t *t, const uint8_t *data, size_t len) {
  vg_rtp_packet_t pkt;
  int64_t now = s->now_us;
  if (vg_rtp_parse(data, len, &pkt) != 0 || pkt.payload_type != t->payload_type) {
    /* One bad packet is not worth a reconnect: drop it and count it. */
    atomic_fetch_add(&s->cam->counters.errors, 1);
    vg_log_debug(&s->cam->log, "dropped a malformed RTP packet (%zu bytes) on track %d", len, t->index);
    return;
  }
  s->unflushed_packets++;
  s->last_media_us = now;
  s->got_rtp = 1;
  vg_rtp_stats_update(&t->stats, pkt.seq, pkt.timestamp, now);
  update_lost(s, t);
  vg_depack_push(t->depack, &pkt, now);
}

/* A payload the depacketizer could not use is bad input from the camera,
 * counted like a packet whose header is broken. Read on every tick rather
 * than per packet. */
static void report_bad_payloads(rtsp_src_t *s) {
  for (int i = 0; i < s->n_tracks; i++) {
    track_t *t = &s->tracks[i];
    if (!t->depack) continue;
    vg_depack_stats_t ds;
    vg_depack_get_stats(t->depack, &ds);
    uint64_t bad = ds.malformed + ds.too_big + ds.unsupported;
    if (bad != t->bad_reported) {
      atomic_fetch_add(&s->cam->counters.errors, bad - t->bad_reported);
      t->bad_reported = bad;
    }
  }
}

static void handle_rtcp(rtsp_src_t *s, track_t *t, const uint8_t *data, size_t len) {
  vg_rtcp_info_t *info = malloc(sizeof(*info));
  if (!info) return;
  if (vg_rtcp_parse(data, len, info) == 0 && info->has_sr) {
    t->sr = info->sr;
    t->has_sr = 1;
    vg_rtcp_note_sr(&t->stats, &info->sr, vg_time_mono_us());
  }
  free(info);
}

static void reorder_release(void *opaque, vg_buf_t *pkt, int64_t ext_seq) {
  track_t *t = opaque;
  handle_rtp(t->s, t, pkt->data, pkt->len);
  vg_buf_unref(&pkt);
}

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out) {
  static __thread char scratch[65536];
  *out = uv_buf_init(scratch, sizeof(scratch));
}

static int same_host(const struct sockaddr *a, const struct sockaddr_storage *b) {
  if (a->sa_family != b->ss_family) return 0;
  if (a->sa_family == AF_INET)
    return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
           ((const struct sockaddr_in *)b)->sin_addr.s_addr;
  return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr,
                16) == 0;
}

static void on_udp_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *from,
                        unsigned flags) {
  rtsp_src_t *s = h->data;
  if (n <= 0 || !from || !vg_pull_running(&s->pull) || !s->pull.conn) return;
  s->now_us = vg_time_mono_us();
  /* Only the camera's host may feed this session. */
  struct sockaddr_storage local, remote;
  if (vg_tcp_client_sockname(s->pull.conn, &local, &remote) != 0 || !same_host(from, &remote)) return;
  for (int i = 0; i < s->n_tracks; i++) {
    track_t *t = &s->tracks[i];
    if (h == &t->sock[1]) {
      handle_rtcp(s, t, (const uint8_t *)b->base, (size_t)n);
      return;
    }
    if (h == &t->sock[0]) {
      vg_buf_t *pkt = vg_buf_from(b->base, (size_t)n);
      if (pkt) vg_rtp_reorder_push(t->reorder, pkt, s->now_us);
      flush_counters(s);
      return;
    }
  }
}

static void send_receiver_reports(rtsp_src_t *s, int64_t now) {
  struct sockaddr_storage local, remote;
  if (s->udp && (!s->pull.conn || vg_tcp_client_sockname(s->pull.conn, &local, &remote) != 0)) return;
  for (int i = 0; i < s->n_tracks; i++) {
    track_t *t = &s->tracks[i];
    if (t->stats.received == 0) continue;
    vg_rtcp_report_block_t block;
    vg_rtcp_report_block_from_stats(&t->stats, now, &block);
    uint8_t pkt[4 + 512];
    int n = vg_rtcp_build_rr(s->own_ssrc, &block, 1, "vigil", pkt + 4, sizeof(pkt) - 4);
    if (n < 0) continue;
    if (s->udp) {
      if (remote.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&remote)->sin6_port = htons(t->server_port[1]);
      else
        ((struct sockaddr_in *)&remote)->sin_port = htons(t->server_port[1]);
      uv_buf_t b = uv_buf_init((char *)pkt + 4, (unsigned)n);
      if (t->server_port[1]) uv_udp_try_send(&t->sock[1], &b, 1, (struct sockaddr *)&remote);
    } else {
      pkt[0] = '$';
      pkt[1] = t->channel[1];
      pkt[2] = (uint8_t)(n >> 8);
      pkt[3] = (uint8_t)n;
      send_bytes(s, pkt, (size_t)n + 4);
    }
  }
}

/* ---- responses -------------------------------------------------------- */

static const vg_rtsp_str_t *header(rtsp_src_t *s, const char *name) {
  return vg_rtsp_msg_header(&s->msg, name);
}

static void copy_header(rtsp_src_t *s, const char *name, char *out, size_t size) {
  const vg_rtsp_str_t *v = header(s, name);
  out[0] = 0;
  if (v) vg_rtsp_str_copy(*v, out, size);
}

static int handle_401(rtsp_src_t *s) {
  if (!s->url.has_credentials) {
    fail(s, VG_EAUTH, "%s: authentication required (401) and the URL has no credentials", s->pending_method);
    return -1;
  }
  vg_auth_client_t fresh;
  vg_auth_client_init(&fresh);
  for (int i = 0; i < s->msg.n_headers; i++)
    if (vg_rtsp_str_eq(s->msg.headers[i].name, "WWW-Authenticate"))
      vg_auth_client_offer(&fresh, s->msg.headers[i].value.p, s->msg.headers[i].value.len);
  if (fresh.challenge.scheme == VG_AUTH_NONE) {
    fail(s, VG_EAUTH, "%s: authentication required (401) with no supported challenge", s->pending_method);
    return -1;
  }
  if (s->auth_sent && !fresh.challenge.stale) {
    fail(s, VG_EAUTH, "%s: authentication failed (401): wrong user or password", s->pending_method);
    return -1;
  }
  s->auth = fresh;
  s->auth_sent = 1;
  return 0;
}

/* Resends the request that got a 401, now with credentials. */
static void retry_pending(rtsp_src_t *s) {
  switch (s->state) {
  case ST_OPTIONS: send_options(s); break;
  case ST_DESCRIBE: send_describe(s); break;
  case ST_SETUP: send_setup(s); break;
  case ST_PLAY: send_play(s); break;
  default: break;
  }
}

static void handle_redirect(rtsp_src_t *s) {
  char loc[URL_MAX];
  copy_header(s, "Location", loc, sizeof(loc));
  if (!loc[0]) {
    fail(s, VG_EPROTO, "%s: redirect (%d) without Location", s->pending_method, s->msg.status);
    return;
  }
  if (++s->redirects > MAX_REDIRECTS) {
    fail(s, VG_EPROTO, "more than %d redirects", MAX_REDIRECTS);
    return;
  }
  vg_url_t u;
  if (vg_url_parse(loc, &u) != 0 || (strcmp(u.scheme, "rtsp") != 0)) {
    fail(s, VG_EPROTO, "%s: bad redirect Location", s->pending_method);
    return;
  }
  /* Credentials stay with the URL's user; carry them unless the new URL has its own. */
  if (!u.has_credentials && s->url.has_credentials) {
    memcpy(u.user, s->url.user, sizeof(u.user));
    memcpy(u.password, s->url.password, sizeof(u.password));
    u.has_credentials = 1;
  }
  s->url = u;
  vg_url_print(&s->url, s->request_url, sizeof(s->request_url));
  vg_log_info(&s->cam->log, "redirected (%d) to %s", s->msg.status, s->request_url);
  vg_pull_drop_conn(&s->pull);
  s->session[0] = 0;
  s->auth_sent = 0;
  vg_auth_client_init(&s->auth);
  begin_connect(s);
}

static int choose_tracks(rtsp_src_t *s, const vg_sdp_t *sdp) {
  int have_video = 0, have_audio = 0;
  for (int i = 0; i < sdp->n_media && s->n_tracks < VG_MAX_TRACKS; i++) {
    const vg_sdp_media_t *m = &sdp->media[i];
    int video = m->type == VG_SDP_MEDIA_VIDEO, audio = m->type == VG_SDP_MEDIA_AUDIO;
    if ((!video && !audio) || (video && have_video) || (audio && have_audio)) continue;
    track_t *t = &s->tracks[s->n_tracks];
    memset(t, 0, sizeof(*t));
    if (vg_sdp_media_to_track(m, &t->track) != 0) {
      vg_log_info(&s->cam->log, "skipping unsupported %s track (%s)", m->media, m->encoding);
      continue;
    }
    if (vg_sdp_resolve_control(sdp, i, s->base_url, t->control_url, sizeof(t->control_url)) < 0) {
      vg_track_clear(&t->track);
      continue;
    }
    t->s = s;
    t->index = s->n_tracks;
    t->payload_type = m->payload_type;
    snprintf(t->fmtp, sizeof(t->fmtp), "%s", m->fmtp);
    if (vg_codec_is_video(t->track.codec)) vg_track_update_video_info(&t->track, NULL, 0);
    vg_depack_sink_t sink = {
        .on_frame = on_frame, .on_params = on_params, .opaque = t, .track_index = (uint8_t)t->index};
    if (vg_depack_new(&t->track, t->fmtp[0] ? t->fmtp : NULL, &sink, &t->depack) != 0) {
      vg_track_clear(&t->track);
      vg_log_info(&s->cam->log, "skipping %s track: unusable fmtp", m->media);
      continue;
    }
    vg_rtp_stats_init(&t->stats, t->track.clock_rate);
    if (video)
      have_video = 1;
    else
      have_audio = 1;
    s->n_tracks++;
  }
  return s->n_tracks;
}

static void handle_describe(rtsp_src_t *s) {
  if (!s->msg.body || s->msg.body_len == 0) {
    fail(s, VG_EPROTO, "DESCRIBE: answer without an SDP body");
    return;
  }
  vg_rtsp_str_t base;
  if (vg_rtsp_msg_content_base(&s->msg, &base) != 0 ||
      vg_rtsp_str_copy(base, s->base_url, sizeof(s->base_url)) < 0)
    snprintf(s->base_url, sizeof(s->base_url), "%s", s->request_url);
  vg_sdp_t *sdp = malloc(sizeof(*sdp));
  if (!sdp) {
    fail(s, VG_ENOMEM, "out of memory");
    return;
  }
  int r = vg_sdp_parse((const char *)s->msg.body, s->msg.body_len, sdp);
  if (r < 0) {
    free(sdp);
    fail(s, VG_EPROTO, "DESCRIBE: malformed SDP (%s)", vg_strerror(r));
    return;
  }
  vg_sdp_session_control(sdp, s->base_url, s->aggregate_url, sizeof(s->aggregate_url));
  int n = choose_tracks(s, sdp);
  free(sdp);
  if (n == 0) {
    fail(s, VG_EUNSUPPORTED, "DESCRIBE: no supported track in the SDP");
    return;
  }
  s->setup_index = 0;
  send_setup(s);
}

static void handle_setup(rtsp_src_t *s) {
  track_t *t = &s->tracks[s->setup_index];
  vg_rtsp_session_t sess;
  if (vg_rtsp_msg_session(&s->msg, &sess) == 0) {
    vg_rtsp_str_copy(sess.id, s->session, sizeof(s->session));
    s->session_timeout_s = sess.timeout_s > 0 ? sess.timeout_s : 60;
  } else if (!s->session[0]) {
    fail(s, VG_EPROTO, "SETUP: answer without a Session");
    return;
  }
  const vg_rtsp_str_t *th = header(s, "Transport");
  vg_rtsp_transport_t tr;
  if (!th || vg_rtsp_transport_parse(*th, &tr, 1) < 1) {
    fail(s, VG_EPROTO, "SETUP: answer without a usable Transport");
    return;
  }
  if (s->udp) {
    if (tr.lower != VG_RTSP_LOWER_UDP) {
      fail(s, VG_EPROTO, "SETUP: asked for UDP, the camera answered TCP");
      return;
    }
    if (tr.has_server_port) memcpy(t->server_port, tr.server_port, sizeof(t->server_port));
    if (vg_rtp_reorder_new(REORDER_WINDOW, REORDER_DELAY_US, reorder_release, t, &t->reorder) != 0) {
      fail(s, VG_ENOMEM, "out of memory");
      return;
    }
  } else {
    if (tr.lower != VG_RTSP_LOWER_TCP) {
      fail(s, VG_EPROTO, "SETUP: asked for TCP, the camera answered UDP");
      return;
    }
    if (tr.has_interleaved)
      memcpy(t->channel, tr.interleaved, 2);
    else
      t->channel[0] = (uint8_t)(2 * s->setup_index), t->channel[1] = (uint8_t)(2 * s->setup_index + 1);
  }
  if (++s->setup_index < s->n_tracks)
    send_setup(s);
  else
    send_play(s);
}

static void handle_play(rtsp_src_t *s) {
  vg_track_t tracks[VG_MAX_TRACKS];
  for (int i = 0; i < s->n_tracks; i++)
    tracks[i] = s->tracks[i].track;
  vg_hub_set_tracks(s->cam->hub, tracks, s->n_tracks);
  s->state = ST_PLAYING;
  s->want_ring = !s->udp;
  s->play_us = s->last_media_us = s->last_keepalive_us = s->last_rr_us = vg_time_mono_us();
  vg_log_info(&s->cam->log, "playing %d track(s) over %s", s->n_tracks, s->udp ? "UDP" : "TCP");
}

static void handle_response(rtsp_src_t *s) {
  uint32_t cseq;
  if (vg_rtsp_msg_cseq(&s->msg, &cseq) != 0 || cseq != s->pending_cseq) return; /* a stray or late answer */
  s->pending_cseq = 0;
  int st = s->msg.status;
  if (s->state == ST_PLAYING) return; /* keep-alive answers: any answer will do */
  if (st == 401) {
    if (handle_401(s) == 0) retry_pending(s);
    return;
  }
  if ((st == 301 || st == 302) && s->state <= ST_DESCRIBE) {
    handle_redirect(s);
    return;
  }
  if (st == 461 && s->state == ST_SETUP && s->udp && s->cam->cfg.transport == VG_TRANSPORT_AUTO) {
    vg_log_info(&s->cam->log, "the camera refuses UDP; falling back to TCP");
    vg_pull_restart(&s->pull);
    return;
  }
  if (st < 200 || st > 299) {
    /* Some cameras answer OPTIONS with an error and still DESCRIBE. */
    if (s->state == ST_OPTIONS && st != 404) {
      send_describe(s);
      return;
    }
    fail(s, st == 403 ? VG_EAUTH : (st == 404 ? VG_ENOTFOUND : VG_EPROTO), "%s: %d %.*s", s->pending_method,
         st, (int)s->msg.reason.len, s->msg.reason.p);
    return;
  }
  switch (s->state) {
  case ST_OPTIONS: {
    const vg_rtsp_str_t *pub = header(s, "Public");
    s->public_methods = pub ? vg_rtsp_public_parse(*pub) : 0;
    send_describe(s);
    break;
  }
  case ST_DESCRIBE: handle_describe(s); break;
  case ST_SETUP: handle_setup(s); break;
  case ST_PLAY: handle_play(s); break;
  default: break;
  }
}

/* Servers may send requests too (OPTIONS as a keep-alive, ANNOUNCE...). */
static void answer_request(rtsp_src_t *s) {
  uint32_t cseq = 0;
  vg_rtsp_msg_cseq(&s->msg, &cseq);
  int ok = vg_rtsp_msg_is(&s->msg, "OPTIONS") || vg_rtsp_msg_is(&s->msg, "GET_PARAMETER");
  char out[256];
  vg_rtsp_writer_t w;
  vg_rtsp_writer_init(&w, out, sizeof(out));
  vg_rtsp_write_status_line(&w, ok ? 200 : 501, NULL);
  vg_rtsp_write_header(&w, "CSeq", "%u", cseq);
  int n = vg_rtsp_write_end(&w, NULL, 0);
  if (n > 0) send_bytes(s, out, (size_t)n);
}

static void handle_frame(rtsp_src_t *s, const vg_rtsp_frame_t *f) {
  for (int i = 0; i < s->n_tracks; i++) {
    track_t *t = &s->tracks[i];
    if (s->udp) break;
    if (f->channel == t->channel[0]) {
      if (vg_rtp_is_rtcp(f->data, f->len))
        handle_rtcp(s, t, f->data, f->len);
      else
        handle_rtp(s, t, f->data, f->len);
      return;
    }
    if (f->channel == t->channel[1]) {
      handle_rtcp(s, t, f->data, f->len);
      return;
    }
  }
  /* A channel nobody set up: ignore it, as RFC 2326 §10.12 allows. */
}

/* Handles the complete messages and interleaved frames in data[0..len)
 * and sets *used to the bytes they took (a partial one at the end is left).
 * Returns -1 when the source stopped or failed meanwhile (the caller
 * returns at once), else 0. */
static int parse_units(rtsp_src_t *s, const uint8_t *data, size_t len, size_t *used) {
  vg_tcp_client_t *conn = s->pull.conn;
  size_t off = 0;
  while (off < len) {
    vg_rtsp_frame_t frame;
    size_t n = 0;
    int r = vg_rtsp_parse(data + off, len - off, NULL, &s->msg, &frame, &n);
    if (r == VG_EINCOMPLETE) break;
    if (r < 0) {
      flush_counters(s);
      fail(s, r, "%s from the camera (%s)",
           r == VG_ETOOBIG ? "oversized RTSP message" : "malformed RTSP data", vg_strerror(r));
      return -1;
    }
    if (r == VG_RTSP_FRAME)
      handle_frame(s, &frame);
    else if (s->msg.is_response)
      handle_response(s);
    else
      answer_request(s);
    if (!vg_pull_running(&s->pull) || conn != s->pull.conn) {
      flush_counters(s);
      return -1;
    }
    off += n;
  }
  *used = off;
  return 0;
}

static int stash_append(rtsp_src_t *s, const uint8_t *data, size_t len) {
  if (s->stash_len + len > s->stash_cap) {
    size_t cap = s->stash_cap ? s->stash_cap : 4096;
    while (cap < s->stash_len + len)
      cap *= 2;
    if (cap > READ_BUF_MAX) {
      if (s->stash_len + len > READ_BUF_MAX) return VG_ETOOBIG;
      cap = READ_BUF_MAX;
    }
    uint8_t *grown = realloc(s->stash, cap);
    if (!grown) return VG_ENOMEM;
    s->stash = grown;
    s->stash_cap = cap;
  }
  memcpy(s->stash + s->stash_len, data, len);
  s->stash_len += len;
  return 0;
}

/* How many more bytes the stash's first unit needs at most: the rest of an
 * interleaved frame ('$', channel, 16-bit length, RFC 2326 §10.12), or, for
 * an RTSP message, whose end only the parser finds, all there is. */
static size_t stash_need(const rtsp_src_t *s, size_t avail) {
  if (s->stash[0] != '$') return avail;
  if (s->stash_len < 4) return 4 - s->stash_len;
  size_t total = 4 + (((size_t)s->stash[2] << 8) | s->stash[3]);
  return total > s->stash_len ? total - s->stash_len : 0;
}

/* Bytes from a receive buffer of the ring: complete the stashed partial
 * unit with as few bytes as it needs, parse the rest in place, and stash
 * what the buffer ends with, so only the pieces that straddle two buffers
 * are copied. */
static void feed(rtsp_src_t *s, const uint8_t *data, size_t len) {
  while (len > 0 && s->stash_len > 0) {
    size_t take = stash_need(s, len);
    if (take > len) take = len;
    int r = stash_append(s, data, take);
    if (r < 0) {
      fail(s, r, "oversized RTSP message from the camera (%s)", vg_strerror(r));
      return;
    }
    data += take;
    len -= take;
    size_t used = 0;
    if (parse_units(s, s->stash, s->stash_len, &used) < 0) return;
    if (used == s->stash_len)
      s->stash_len = 0;
    else if (used > 0) {
      memmove(s->stash, s->stash + used, s->stash_len - used);
      s->stash_len -= used;
    } else if (take == 0) {
      /* Nothing taken and nothing parsed: cannot happen for a frame whose
       * length is known; guard against a loop anyway. */
      break;
    }
  }
  if (len == 0) return;
  size_t used = 0;
  if (parse_units(s, data, len, &used) < 0) return;
  if (used < len) {
    int r = stash_append(s, data + used, len - used);
    if (r < 0) fail(s, r, "oversized RTSP message from the camera (%s)", vg_strerror(r));
  }
}

static void on_ring_data(void *opaque, const uint8_t *data, size_t len, int status) {
  rtsp_src_t *s = opaque;
  if (!vg_pull_running(&s->pull)) return;
  s->now_us = vg_time_mono_us();
  if (len) feed(s, data, len);
  flush_counters(s);
  if (!vg_pull_running(&s->pull)) return;
  if (status == VG_ECLOSED)
    fail(s, VG_ECLOSED, "the camera closed the connection");
  else if (status < 0)
    fail(s, status, "read failed: %s", vg_strerror(status));
}

/* Once playing over TCP, the connection's reads move from libuv to the
 * worker's io_uring (net/uring.h): one wake-up then receives the data of
 * many cameras without a read() each. Requests (keep-alives, receiver
 * reports, TEARDOWN) are still written through the TCP client. What the
 * client's buffer still holds (a partial frame) goes to the stash. */
static void switch_to_ring(rtsp_src_t *s) {
  vg_tcp_client_t *c = s->pull.conn;
  s->want_ring = 0;
  if (!vg_uring_usable(s->cam->worker)) return;
  if (c->len > 0 && stash_append(s, c->buf, c->len) < 0) return;
  int fd;
  if (vg_tcp_client_stop_reading(c, &fd) != 0) return;
  vg_tcp_client_consume(c, c->len);
  int r = vg_uring_recv_start(s->cam->worker, fd, on_ring_data, s, &s->ring_sock);
  if (r < 0) {
    s->ring_sock = NULL;
    fail(s, r, "cannot receive through io_uring: %s", vg_strerror(r));
  }
}

static void on_read(vg_tcp_client_t *c, int status) {
  rtsp_src_t *s = vg_pull_owner(c);
  if (!vg_pull_running(&s->pull) || c != s->pull.conn) return;
  s->now_us = vg_time_mono_us();
  size_t used = 0;
  if (parse_units(s, c->buf, c->len, &used) < 0) return;
  flush_counters(s);
  vg_tcp_client_consume(c, used);
  if (status == VG_ECLOSED)
    fail(s, VG_ECLOSED, "the camera closed the connection");
  else if (status < 0)
    fail(s, status, "read failed: %s", vg_strerror(status));
  else if (s->want_ring)
    switch_to_ring(s);
}

/* ---- timers and connection -------------------------------------------- */

static void on_tick(uv_timer_t *timer) {
  rtsp_src_t *s = timer->data;
  if (!vg_pull_running(&s->pull)) return;
  int64_t now = vg_time_mono_us();
  s->now_us = now;
  int64_t read_timeout = (int64_t)s->cam->cfg.read_timeout_ms * 1000;
  if (s->state != ST_PLAYING) {
    if (s->pending_cseq && s->pull.conn && now - s->pending_since_us > read_timeout)
      fail(s, VG_ETIMEDOUT, "%s: no answer within %d ms", s->pending_method, s->cam->cfg.read_timeout_ms);
    return;
  }
  for (int i = 0; i < s->n_tracks; i++)
    if (s->tracks[i].reorder) vg_rtp_reorder_poll(s->tracks[i].reorder, now);
  flush_counters(s);
  report_bad_payloads(s);
  if (s->udp && !s->got_rtp && s->cam->cfg.transport == VG_TRANSPORT_AUTO &&
      now - s->play_us > AUTO_UDP_WAIT_US) {
    vg_log_warn(&s->cam->log, "no RTP over UDP within %d ms; falling back to TCP", AUTO_UDP_WAIT_US / 1000);
    send_request(s, "TEARDOWN", s->aggregate_url, NULL);
    vg_pull_restart(&s->pull);
    return;
  }
  if (now - s->last_media_us > read_timeout) {
    fail(s, VG_ENODATA, "no media for %d ms", s->cam->cfg.read_timeout_ms);
    return;
  }
  if (now - s->last_keepalive_us > (int64_t)s->session_timeout_s * 500000) send_keepalive(s);
  if (now - s->last_rr_us > RR_INTERVAL_US) {
    s->last_rr_us = now;
    send_receiver_reports(s, now);
  }
}

static void on_connected(void *owner) {
  rtsp_src_t *s = owner;
  send_options(s);
}

static void begin_connect(rtsp_src_t *s) {
  if (strcmp(s->url.scheme, "rtsp") != 0) {
    fail(s, VG_EUNSUPPORTED, "%s:// is not supported (use rtsp://)", s->url.scheme);
    return;
  }
  vg_pull_connect(&s->pull, s->url.host, s->url.port, READ_BUF_MAX, on_connected, on_read);
}

static void session_start(vg_camera_t *cam, int force_tcp) {
  rtsp_src_t *s = calloc(1, sizeof(*s));
  if (!s) {
    vg_camera_source_failed(cam, VG_ENOMEM, "out of memory");
    return;
  }
  s->cam = cam;
  int r = vg_url_parse(cam->media_url[0] ? cam->media_url : cam->cfg.url, &s->url);
  if (r < 0) {
    free(s);
    vg_camera_source_failed(cam, r, "bad URL: %s", vg_strerror(r));
    return;
  }
  vg_url_print(&s->url, s->request_url, sizeof(s->request_url));
  vg_auth_client_init(&s->auth);
  s->udp = !force_tcp && cam->cfg.transport != VG_TRANSPORT_TCP;
  s->session_timeout_s = 60;
  s->own_ssrc = (uint32_t)rand() ^ ((uint32_t)rand() << 16);
  vg_pull_init(&s->pull, cam, vg_worker_loop(cam->worker), s, &pull_ops);
  /* A thousand cameras ticking ten times a second would wake the loop ten
   * thousand times a second for nothing: over TCP, checking the timeouts a
   * few times per read timeout is enough. */
  uint64_t tick_ms = TICK_MS;
  if (!s->udp) {
    tick_ms = (uint64_t)cam->cfg.read_timeout_ms / 4;
    if (tick_ms < TICK_MS) tick_ms = TICK_MS;
    if (tick_ms > TICK_MAX_MS) tick_ms = TICK_MAX_MS;
  }
  uv_timer_start(&s->pull.timer, on_tick, tick_ms, tick_ms);
  cam->source = s;
  begin_connect(s);
}

static void rtsp_start(vg_camera_t *cam) { session_start(cam, 0); }

static void rtsp_stop(vg_camera_t *cam, void (*done)(vg_camera_t *cam)) {
  rtsp_src_t *s = cam->source;
  if (!s) {
    done(cam);
    return;
  }
  if (vg_pull_running(&s->pull) && s->session[0] && s->pull.conn)
    send_request(s, "TEARDOWN", s->aggregate_url, NULL);
  vg_pull_stop(&s->pull, done);
}

const vg_source_ops_t vg_rtsp_source_ops = {"rtsp", rtsp_start, rtsp_stop};
