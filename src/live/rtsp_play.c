/*
 * rtsp_play.c: the reader side of the RTSP server: DESCRIBE, SETUP, PLAY,
 * PAUSE, and the egress path from a hub reader to the client.
 *
 * Egress is zero-copy: a frame is packetized into RTP headers (a few bytes
 * each, written into the write request) and slices of the frame's own
 * buffer; one uv_write per frame carries them all as iovecs and holds a
 * reference to the frame's buffer until its callback. UDP sends go out at
 * once with uv_udp_try_send, so they need no reference.
 *
 * Wake-ups: the hub's notify callback (producer thread) pushes the
 * connection on its shard's lock-free pending stack and signals the shard's
 * one uv_async; the shard drains every pending connection on its own
 * thread. Many frames for many sessions cost one wake-up per loop turn.
 *
 * Back-pressure: while more than RTSP_OUT_HIGH_WATER bytes wait in the
 * socket's write queue the session stops reading its hub reader, whose
 * bounded queue then overflows and skips to the next keyframe; the write
 * callback resumes reading below RTSP_OUT_LOW_WATER.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/time.h"
#include "live/rtsp_server_internal.h"
#include "media/nal.h"
#include "proto/rtcp.h"
#include "proto/rtp.h"
#include "proto/rtp_payload.h"
#include "proto/sdp.h"

/* Frames sent per connection per drain before yielding to the loop. */
#define DRAIN_BATCH 64
#define READER_QUEUE_FRAMES 512
#define SR_INTERVAL_US 5000000

static uint32_t random32(void) { return (uint32_t)mrand48(); }

static uint8_t payload_type_for(const vg_track_t *t, int index) {
  if (t->codec == VG_CODEC_PCMU && t->clock_rate == 8000 && t->channels <= 1) return 0;
  if (t->codec == VG_CODEC_PCMA && t->clock_rate == 8000 && t->channels <= 1) return 8;
  return (uint8_t)(96 + index);
}

/* The request URI as a C string, for Content-Base and RTP-Info. */
static void request_base(const vg_rtsp_msg_t *req, char *out, size_t size) {
  if (vg_rtsp_str_copy(req->uri, out, size) < 0) out[0] = 0;
}

/* ---- DESCRIBE --------------------------------------------------------------- */

void rtsp_play_describe(rtsp_conn_t *c, const vg_rtsp_msg_t *req) {
  vg_hub_t *hub = vg_hub_find(c->path);
  if (!hub) {
    vg_log_info(&c->log, "DESCRIBE %s: no such stream", c->path);
    rtsp_conn_respond(c, req, 404, NULL, NULL, NULL, 0);
    return;
  }
  vg_track_t tracks[VG_MAX_TRACKS];
  memset(tracks, 0, sizeof(tracks));
  vg_hub_stats_t hs;
  vg_hub_stats(hub, &hs);
  int n = vg_hub_tracks(hub, tracks, VG_MAX_TRACKS);
  vg_hub_unref(&hub);
  if (n <= 0 || !hs.live) {
    for (int i = 0; i < n; i++)
      vg_track_clear(&tracks[i]);
    rtsp_conn_respond(c, req, 503, (rtsp_hdr_t[]){{"Retry-After", "2"}, {0}}, NULL, NULL, 0);
    return;
  }
  int pts[VG_MAX_TRACKS];
  for (int i = 0; i < n; i++)
    pts[i] = payload_type_for(&tracks[i], i);
  char sdp[16384];
  vg_sdp_write_opts_t opts = {
      .session_name = c->path, .origin_address = NULL, .session_id = (uint64_t)vg_time_utc_us() / 1000000};
  int len = vg_sdp_write(tracks, pts, n, &opts, sdp, sizeof(sdp));
  for (int i = 0; i < n; i++)
    vg_track_clear(&tracks[i]);
  if (len < 0) {
    vg_log_warn(&c->log, "DESCRIBE %s: cannot describe the stream: %s", c->path, vg_strerror(len));
    rtsp_conn_respond(c, req, 415, NULL, NULL, NULL, 0);
    return;
  }
  char base[1100];
  request_base(req, base, sizeof(base) - 2);
  if (base[0] && base[strlen(base) - 1] != '/') strcat(base, "/");
  rtsp_hdr_t h[] = {{"Content-Base", base}, {NULL, NULL}};
  rtsp_conn_respond(c, req, 200, base[0] ? h : NULL, "application/sdp", sdp, (size_t)len);
}

/* ---- SETUP ------------------------------------------------------------------ */

static void on_reader_rtcp(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                           unsigned flags) {
  rtsp_conn_t *c = h->data;
  /* Receiver reports keep a UDP session alive; their content is not used. */
  if (nread > 0) c->last_activity_us = vg_time_mono_us();
}

static void set_port(struct sockaddr_storage *dst, const struct sockaddr_storage *ip, uint16_t port) {
  *dst = *ip;
  if (dst->ss_family == AF_INET6)
    ((struct sockaddr_in6 *)dst)->sin6_port = htons(port);
  else
    ((struct sockaddr_in *)dst)->sin_port = htons(port);
}

void rtsp_play_setup(rtsp_conn_t *c, const vg_rtsp_msg_t *req, const vg_rtsp_transport_t *tr, int track) {
  if (!c->track_count) {
    vg_hub_t *hub = vg_hub_find(c->path);
    if (!hub) {
      rtsp_conn_respond(c, req, 404, NULL, NULL, NULL, 0);
      return;
    }
    c->track_count = vg_hub_tracks(hub, c->tracks, VG_MAX_TRACKS);
    vg_hub_unref(&hub);
    if (c->track_count <= 0) {
      c->track_count = 0;
      rtsp_conn_respond(c, req, 503, NULL, NULL, NULL, 0);
      return;
    }
  }
  if (track >= c->track_count) {
    rtsp_conn_respond(c, req, 404, NULL, NULL, NULL, 0);
    return;
  }
  rtsp_track_out_t *o = &c->out[track];
  if (o->setup) {
    rtsp_conn_respond(c, req, 459, NULL, NULL, NULL, 0);
    return;
  }
  o->payload_type = payload_type_for(&c->tracks[track], track);
  int r = vg_pack_new(&c->tracks[track], o->payload_type, RTSP_MAX_PAYLOAD, &o->pack);
  if (r < 0) {
    rtsp_conn_respond(c, req, 415, NULL, NULL, NULL, 0);
    return;
  }
  o->ssrc = random32();
  o->seq = (uint16_t)random32();
  o->ts_offset = random32();
  char transport[256];
  if (tr->lower == VG_RTSP_LOWER_TCP) {
    o->udp = 0;
    if (tr->has_interleaved) {
      o->channel[0] = tr->interleaved[0];
      o->channel[1] = tr->interleaved[1];
    } else {
      o->channel[0] = (uint8_t)(2 * track);
      o->channel[1] = (uint8_t)(2 * track + 1);
    }
    snprintf(transport, sizeof(transport), "RTP/AVP/TCP;unicast;interleaved=%u-%u;ssrc=%08X", o->channel[0],
             o->channel[1], o->ssrc);
  } else {
    if (!tr->has_client_port) {
      rtsp_conn_respond(c, req, 461, NULL, NULL, NULL, 0);
      return;
    }
    r = rtsp_udp_open_pair(c, o, NULL, on_reader_rtcp);
    if (r < 0) {
      vg_log_warn(&c->log, "no free UDP port pair: %s", vg_strerror(r));
      rtsp_conn_respond(c, req, 453, NULL, NULL, NULL, 0);
      vg_pack_free(&o->pack);
      return;
    }
    o->udp = 1;
    /* Media goes to the address the RTSP connection comes from, never to a
     * "destination" the client names (that would make us a DoS amplifier). */
    set_port(&o->peer_rtp, &c->peer_addr, tr->client_port[0]);
    set_port(&o->peer_rtcp, &c->peer_addr, tr->client_port[1]);
    snprintf(transport, sizeof(transport), "RTP/AVP;unicast;client_port=%u-%u;server_port=%u-%u;ssrc=%08X",
             tr->client_port[0], tr->client_port[1], o->server_port, o->server_port + 1, o->ssrc);
  }
  o->setup = 1;
  if (!c->session_id[0]) snprintf(c->session_id, sizeof(c->session_id), "%08X%08X", random32(), random32());
  c->state = CONN_READY;
  rtsp_hdr_t h[] = {{"Transport", transport}, {NULL, NULL}};
  rtsp_conn_respond(c, req, 200, h, NULL, NULL, 0);
}

/* ---- PLAY / PAUSE ------------------------------------------------------------- */

static void on_fault_timer(uv_timer_t *t);

static int same_codecs(const vg_track_t *a, int na, const vg_track_t *b, int nb) {
  if (na != nb) return 0;
  for (int i = 0; i < na; i++)
    if (a[i].codec != b[i].codec || a[i].clock_rate != b[i].clock_rate) return 0;
  return 1;
}

/* Takes the hub's current tracks: the same codecs keep the session (the new
 * extradata replaces the old); others end it. */
static int refresh_tracks(rtsp_conn_t *c) {
  vg_track_t t[VG_MAX_TRACKS];
  memset(t, 0, sizeof(t));
  int n = vg_hub_reader_tracks(c->reader, t, VG_MAX_TRACKS);
  int ok = same_codecs(t, n, c->tracks, c->track_count);
  for (int i = 0; i < n; i++) {
    if (ok) {
      vg_track_clear(&c->tracks[i]);
      c->tracks[i] = t[i];
      if (c->out[i].pack) {
        vg_pack_free(&c->out[i].pack);
        vg_pack_new(&c->tracks[i], c->out[i].payload_type, RTSP_MAX_PAYLOAD, &c->out[i].pack);
      }
    } else {
      vg_track_clear(&t[i]);
    }
  }
  return ok;
}

void rtsp_play_play(rtsp_conn_t *c, const vg_rtsp_msg_t *req) {
  if (c->state == CONN_RECORDING || c->state == CONN_INIT || c->announce_sdp) {
    rtsp_conn_respond(c, req, 455, NULL, NULL, NULL, 0);
    return;
  }
  int was_playing = c->state == CONN_PLAYING;
  if (!c->reader) {
    c->hub = vg_hub_find(c->path);
    if (!c->hub) {
      rtsp_conn_respond(c, req, 404, NULL, NULL, NULL, 0);
      return;
    }
    vg_hub_reader_opts_t ro = {.queue_frames = READER_QUEUE_FRAMES, .notify = rtsp_play_notify, .opaque = c};
    if (vg_hub_open_reader(c->hub, &ro, &c->reader) < 0) {
      vg_hub_unref(&c->hub);
      rtsp_conn_respond(c, req, 500, NULL, NULL, NULL, 0);
      return;
    }
    if (!refresh_tracks(c)) {
      rtsp_conn_respond(c, req, 503, NULL, NULL, NULL, 0);
      rtsp_conn_close(c, "the stream changed between SETUP and PLAY");
      return;
    }
    /* The first frame (from the GOP cache) gives RTP-Info its rtptime. */
    if (vg_hub_read(c->reader, &c->held) != 0) c->held = (vg_frame_t){0};
  }
  char base[1024], info[1024];
  request_base(req, base, sizeof(base));
  size_t bl = strlen(base);
  while (bl > 0 && base[bl - 1] == '/')
    base[--bl] = 0;
  size_t il = 0;
  info[0] = 0;
  for (int i = 0; i < c->track_count; i++) {
    rtsp_track_out_t *o = &c->out[i];
    if (!o->setup) continue;
    int n =
        snprintf(info + il, sizeof(info) - il, "%surl=%s/trackID=%d;seq=%u", il ? "," : "", base, i, o->seq);
    if (n < 0 || (size_t)n >= sizeof(info) - il) break;
    il += (size_t)n;
    if (c->held.buf && !was_playing) {
      const vg_track_t *ht = &c->tracks[c->held.track < c->track_count ? c->held.track : 0];
      int64_t pts = c->held.pts;
      if (c->held.track != i && ht->clock_rate)
        pts = pts * (int64_t)c->tracks[i].clock_rate / (int64_t)ht->clock_rate;
      n = snprintf(info + il, sizeof(info) - il, ";rtptime=%u", (uint32_t)pts + o->ts_offset);
      if (n < 0 || (size_t)n >= sizeof(info) - il) break;
      il += (size_t)n;
    }
  }
  rtsp_hdr_t h[] = {{"Range", "npt=0.000-"}, {"RTP-Info", info}, {NULL, NULL}};
  /* The start of play is taken before the answer goes out: a frame that
   * arrives once the client has its answer is live for this session. */
  if (!was_playing) c->play_us = vg_time_mono_us();
  rtsp_conn_respond(c, req, 200, h, NULL, NULL, 0);
  c->state = CONN_PLAYING;
  if (!was_playing) {
    int first_ms = 0;
    if (c->has_faults && c->faults.drop_after_ms > 0) first_ms = c->faults.drop_after_ms;
    if (c->has_faults && c->faults.stall_after_ms > 0 && (!first_ms || c->faults.stall_after_ms < first_ms))
      first_ms = c->faults.stall_after_ms;
    if (first_ms) uv_timer_start(&c->aux_timer, on_fault_timer, (uint64_t)first_ms, 0);
  }
  vg_log_info(&c->log, "PLAY %s (%s)", c->path, c->out[0].udp ? "udp" : "tcp");
  rtsp_play_drain(c);
}

void rtsp_play_pause(rtsp_conn_t *c, const vg_rtsp_msg_t *req) {
  if (c->state != CONN_PLAYING && c->state != CONN_READY) {
    rtsp_conn_respond(c, req, 455, NULL, NULL, NULL, 0);
    return;
  }
  /* The reader stays open: its queue overflows while paused and it resumes
   * at a keyframe, which is what a viewer wants from live video. */
  c->state = CONN_READY;
  rtsp_conn_respond(c, req, 200, NULL, NULL, NULL, 0);
}

/* The timer runs on libuv's cached loop time, which can lag the clock that
 * play_us was read from: a fault whose moment has not quite come yet
 * re-arms the timer for what is left, rather than being skipped. */
static void on_fault_timer(uv_timer_t *t) {
  rtsp_conn_t *c = t->data;
  int64_t since_ms = (vg_time_mono_us() - c->play_us) / 1000;
  int64_t next_ms = 0;
  if (c->faults.drop_after_ms > 0) {
    if (since_ms >= c->faults.drop_after_ms) {
      rtsp_conn_close(c, "dropped by fault injection");
      return;
    }
    next_ms = c->faults.drop_after_ms - since_ms;
  }
  if (c->faults.stall_after_ms > 0 && !c->stalled) {
    if (since_ms >= c->faults.stall_after_ms) {
      vg_log_info(&c->log, "fault injection: stalling %s", c->path);
      c->stalled = 1;
    } else if (!next_ms || c->faults.stall_after_ms - since_ms < next_ms) {
      next_ms = c->faults.stall_after_ms - since_ms;
    }
  }
  if (next_ms > 0) uv_timer_start(t, on_fault_timer, (uint64_t)next_ms, 0);
}

void rtsp_play_stop(rtsp_conn_t *c) {
  if (c->reader) vg_hub_close_reader(&c->reader);
  vg_hub_unref(&c->hub);
  vg_frame_unref(&c->held);
  for (int i = 0; i < VG_MAX_TRACKS; i++)
    vg_pack_free(&c->out[i].pack);
  if (uv_is_active((uv_handle_t *)&c->aux_timer)) uv_timer_stop(&c->aux_timer);
}

/* ---- egress ------------------------------------------------------------------- */

typedef struct {
  uv_write_t req;
  rtsp_conn_t *conn;
  vg_buf_t *frame_buf; /* keeps the payload slices alive */
  vg_buf_t *extra_buf; /* parameter sets sent before a keyframe */
  uv_buf_t *iov;
  unsigned niov;
  /* out_pkt_t[n], uv_buf_t[2n], then the packet headers */
  _Alignas(max_align_t) uint8_t tail[];
} media_write_t;

static void on_media_written(uv_write_t *req, int status) {
  media_write_t *w = (media_write_t *)req;
  rtsp_conn_t *c = w->conn;
  vg_buf_unref(&w->frame_buf);
  vg_buf_unref(&w->extra_buf);
  free(w);
  if (c->closing || !c->write_blocked) return;
  if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) < RTSP_OUT_LOW_WATER) {
    c->write_blocked = 0;
    rtsp_play_drain(c);
  }
}

/* 1 when a keyframe access unit carries no SPS: the client may have joined
 * without the SDP's sprop (or the parameters changed), so send them first. */
static int needs_param_sets(const vg_track_t *t, const vg_frame_t *f) {
  if (!vg_codec_is_video(t->codec) || !(f->flags & VG_FRAME_KEY) || !t->extradata) return 0;
  size_t pos = 0;
  const uint8_t *nal;
  size_t nl;
  while (vg_nal_lp_next(f->data, f->len, &pos, &nal, &nl) == 1)
    if (vg_nal_is_param_set_type(t->codec, vg_nal_type(t->codec, nal, nl))) return 0;
  return 1;
}

static const uint8_t garbage_payload[4] = {0xff, 0xff, 0xff, 0xff};

typedef struct {
  uint8_t *hdr;
  size_t hdr_len;
  const uint8_t *payload;
  size_t payload_len;
} out_pkt_t;

/* Turns packetizer output into this session's packets: patched headers
 * (with the interleave prefix for TCP) copied into hdr_space. */
static size_t add_packets(rtsp_conn_t *c, rtsp_track_out_t *o, const vg_pack_pkt_t *pkts, size_t n,
                          int clear_marker, uint8_t *hdr_space, out_pkt_t *out) {
  size_t bytes = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t *h = hdr_space + i * (4 + VG_PACK_MAX_HDR);
    uint8_t *rtp = h + 4;
    size_t hl = pkts[i].hdr_len;
    const uint8_t *payload = pkts[i].payload;
    size_t pl = pkts[i].payload_len;
    memcpy(rtp, pkts[i].hdr, hl);
    uint32_t ts = vg_rtp_header_ts(rtp) + o->ts_offset;
    vg_rtp_header_patch(rtp, o->seq++, ts, o->ssrc);
    if (clear_marker) rtp[1] &= 0x7f;
    if (c->has_faults && c->faults.malformed_every > 0 &&
        ++c->packet_counter % (uint64_t)c->faults.malformed_every == 0) {
      /* Keep the RTP header, replace the payload-format header and the
       * payload with bytes no depacketizer accepts. */
      hl = VG_RTP_HEADER_SIZE;
      payload = garbage_payload;
      pl = sizeof(garbage_payload);
    }
    size_t total = hl + pl;
    h[0] = '$';
    h[1] = o->channel[0];
    h[2] = (uint8_t)(total >> 8);
    h[3] = (uint8_t)total;
    out[i] = (out_pkt_t){o->udp ? rtp : h, o->udp ? hl : hl + 4, payload, pl};
    o->packets++;
    o->octets += (uint32_t)(total - VG_RTP_HEADER_SIZE);
    bytes += out[i].hdr_len + pl;
  }
  return bytes;
}

static void send_frame(rtsp_conn_t *c, const vg_frame_t *f) {
  if (f->track >= c->track_count) return;
  rtsp_track_out_t *o = &c->out[f->track];
  if (!o->setup || !o->pack) return;
  const vg_track_t *t = &c->tracks[f->track];
  /* Parameter sets first, when the keyframe lacks them. They are packed
   * as their own "access unit" without the marker bit. */
  const vg_pack_pkt_t *pp = NULL;
  size_t np = 0;
  vg_pack_pkt_t param_pkts[8];
  if (needs_param_sets(t, f)) {
    vg_frame_t pf = *f;
    pf.buf = t->extradata;
    pf.data = t->extradata->data;
    pf.len = (uint32_t)t->extradata->len;
    if (vg_pack_frame(o->pack, &pf, &pp, &np) == 0 && np <= 8) {
      memcpy(param_pkts, pp, np * sizeof(*pp));
    } else {
      np = 0;
    }
  }
  const vg_pack_pkt_t *pkts;
  size_t n;
  int r = vg_pack_frame(o->pack, f, &pkts, &n);
  if (r < 0 || n == 0) {
    vg_log_debug(&c->log, "cannot packetize a %s frame: %s", vg_codec_name(t->codec), vg_strerror(r));
    return;
  }
  size_t total_pkts = np + n;
  size_t hdr_bytes = total_pkts * (4 + VG_PACK_MAX_HDR);
  media_write_t *w = malloc(sizeof(*w) + hdr_bytes + total_pkts * (sizeof(out_pkt_t) + 2 * sizeof(uv_buf_t)));
  if (!w) return;
  out_pkt_t *op = (out_pkt_t *)w->tail;
  uv_buf_t *iov = (uv_buf_t *)(op + total_pkts);
  uint8_t *hdrs = (uint8_t *)(iov + 2 * total_pkts);
  size_t bytes = 0;
  if (np) bytes += add_packets(c, o, param_pkts, np, 1, hdrs, op);
  bytes += add_packets(c, o, pkts, n, 0, hdrs + np * (4 + VG_PACK_MAX_HDR), op + np);
  o->last_rtp_ts = (uint32_t)f->pts + o->ts_offset;
  o->last_utc_us = f->utc_us ? f->utc_us : vg_time_utc_us();
  o->last_pts = f->pts;
  o->sent_any = 1;
  int64_t now = vg_time_mono_us();
  /* Frames from the GOP cache arrived before this viewer did: their age is
   * by design, not latency the server added. */
  if (f->recv_us > 0 && f->recv_us >= c->play_us) rtsp_latency_record(c->srv, now - f->recv_us);
  atomic_fetch_add_explicit(&c->srv->bytes_out, bytes, memory_order_relaxed);
  if (o->udp) {
    for (size_t i = 0; i < total_pkts; i++) {
      uv_buf_t b[2] = {uv_buf_init((char *)op[i].hdr, (unsigned)op[i].hdr_len),
                       uv_buf_init((char *)op[i].payload, (unsigned)op[i].payload_len)};
      /* A full socket buffer drops the packet, as the network would. */
      uv_udp_try_send(&o->rtp_sock, b, 2, (const struct sockaddr *)&o->peer_rtp);
    }
    free(w);
    return;
  }
  unsigned k = 0;
  for (size_t i = 0; i < total_pkts; i++) {
    iov[k++] = uv_buf_init((char *)op[i].hdr, (unsigned)op[i].hdr_len);
    if (op[i].payload_len) iov[k++] = uv_buf_init((char *)op[i].payload, (unsigned)op[i].payload_len);
  }
  w->conn = c;
  w->frame_buf = vg_buf_ref(f->buf);
  w->extra_buf = np ? vg_buf_ref(t->extradata) : NULL;
  w->iov = iov;
  w->niov = k;
  r = uv_write(&w->req, (uv_stream_t *)&c->tcp, iov, k, on_media_written);
  if (r < 0) {
    vg_buf_unref(&w->frame_buf);
    vg_buf_unref(&w->extra_buf);
    free(w);
    rtsp_conn_close(c, uv_strerror(r));
  }
}

static int uses_tcp(const rtsp_conn_t *c) {
  for (int i = 0; i < c->track_count; i++)
    if (c->out[i].setup && !c->out[i].udp) return 1;
  return 0;
}

static void requeue(rtsp_conn_t *c);

void rtsp_play_drain(rtsp_conn_t *c) {
  if (c->closing || !c->reader || c->state != CONN_PLAYING) return;
  int tcp = uses_tcp(c);
  for (int sent = 0; sent < DRAIN_BATCH; sent++) {
    if (tcp && uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > RTSP_OUT_HIGH_WATER) {
      c->write_blocked = 1;
      return;
    }
    vg_frame_t f;
    int r;
    if (c->held.buf) {
      f = c->held;
      c->held = (vg_frame_t){0};
      r = 0;
    } else {
      r = vg_hub_read(c->reader, &f);
    }
    if (r == VG_EAGAIN) return;
    if (r == VG_ESTATE) {
      if (!refresh_tracks(c)) {
        rtsp_conn_close(c, "the stream's codecs changed");
        return;
      }
      continue;
    }
    if (r == VG_ECLOSED) {
      rtsp_conn_close(c, "the stream ended");
      return;
    }
    if (r < 0) return;
    if (!c->stalled) send_frame(c, &f);
    vg_frame_unref(&f);
    if (c->closing) return;
  }
  /* More may be waiting: come back on the next loop turn. */
  requeue(c);
}

static void push_pending(rtsp_conn_t *c) {
  rtsp_shard_t *sh = c->shard;
  if (atomic_exchange(&c->queued, 1)) return;
  rtsp_conn_t *head = atomic_load(&sh->pending);
  do {
    c->pending_next = head;
  } while (!atomic_compare_exchange_weak(&sh->pending, &head, c));
  uv_async_send(&sh->wake);
}

static void requeue(rtsp_conn_t *c) { push_pending(c); }

void rtsp_play_notify(void *opaque) { push_pending(opaque); }

void rtsp_shard_drain_pending(uv_async_t *a) {
  rtsp_shard_t *sh = a->data;
  rtsp_conn_t *list = atomic_exchange(&sh->pending, NULL);
  while (list) {
    rtsp_conn_t *c = list;
    list = c->pending_next;
    atomic_store(&c->queued, 0);
    if (c->closing) {
      /* Its handles closed while it was queued: the drain owns it now. */
      if (c->handles_open == 0) rtsp_conn_free(c);
      continue;
    }
    if (!c->write_blocked) rtsp_play_drain(c);
  }
}

/* ---- RTCP ----------------------------------------------------------------------- */

static void send_sr(rtsp_conn_t *c, rtsp_track_out_t *o, const vg_track_t *t) {
  uint8_t pkt[4 + 128];
  vg_rtcp_sr_t sr;
  vg_rtcp_sr_fill(&sr, o->ssrc, vg_time_utc_us(), o->last_rtp_ts, o->last_utc_us, t->clock_rate, o->packets,
                  o->octets);
  int n = vg_rtcp_build_sr(&sr, "vigil", pkt + 4, sizeof(pkt) - 4);
  if (n <= 0) return;
  if (o->udp) {
    uv_buf_t b = uv_buf_init((char *)pkt + 4, (unsigned)n);
    uv_udp_try_send(&o->rtcp_sock, &b, 1, (const struct sockaddr *)&o->peer_rtcp);
    return;
  }
  pkt[0] = '$';
  pkt[1] = o->channel[1];
  pkt[2] = (uint8_t)(n >> 8);
  pkt[3] = (uint8_t)n;
  rtsp_conn_send_copy(c, pkt, (size_t)n + 4);
}

void rtsp_play_tick(rtsp_conn_t *c, int64_t now_us) {
  if (c->state != CONN_PLAYING || c->stalled || now_us - c->last_sr_us < SR_INTERVAL_US) return;
  c->last_sr_us = now_us;
  for (int i = 0; i < c->track_count; i++)
    if (c->out[i].setup && c->out[i].sent_any) send_sr(c, &c->out[i], &c->tracks[i]);
}
