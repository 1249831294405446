/*
 * rtsp_publish.c: publishers: ANNOUNCE (SDP), SETUP with mode=record,
 * RECORD, then RTP in (interleaved or UDP) -> depacketizers -> the hub of a
 * VG_SOURCE_PUSH camera named by the path.
 *
 * The push camera itself (creating or claiming it, counting, online and
 * offline events on the camera's worker, detaching when either side stops)
 * is ingest/push.h's; the connection holds the handle in c->push while it
 * publishes, and frames go to the hub through it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/time.h"
#include "ingest/push.h"
#include "live/rtsp_server_internal.h"
#include "media/nal.h"
#include "proto/rtp.h"
#include "proto/rtp_payload.h"
#include "proto/sdp.h"

/* Publishers share the push-camera glue with the other ingest protocols. */
void rtsp_publish_register_source(void) { vg_push_register_source(); }

/* ---- ingest --------------------------------------------------------------------- */

static void on_depack_frame(void *opaque, vg_frame_t *f) {
  rtsp_track_out_t *o = opaque;
  rtsp_conn_t *c = o->conn;
  if (!c->push || o->hub_track < 0) {
    vg_frame_unref(f);
    return;
  }
  const vg_track_t *t = &c->tracks[o - c->out];
  /* Publishers' timestamps start anywhere and differ per track; rebase each
   * track so that its first frame sits at its arrival time since RECORD,
   * which keeps audio and video roughly aligned without RTCP. */
  if (!o->have_pts_base) {
    int64_t since_us = f->recv_us - c->play_us;
    if (since_us < 0) since_us = 0;
    o->pts_base = f->pts - since_us * (int64_t)t->clock_rate / 1000000;
    o->have_pts_base = 1;
  }
  f->pts -= o->pts_base;
  if (f->pts < 0) f->pts = 0;
  f->track = (uint8_t)o->hub_track;
  f->utc_us = c->last_sr_us + (t->clock_rate ? f->pts * 1000000 / (int64_t)t->clock_rate : 0);
  vg_push_frame(c->push, f);
  vg_frame_unref(f);
}

static void on_depack_params(void *opaque, vg_buf_t *extradata) {
  rtsp_track_out_t *o = opaque;
  rtsp_conn_t *c = o->conn;
  vg_track_t *t = &c->tracks[o - c->out];
  vg_buf_unref(&t->extradata);
  t->extradata = extradata;
  vg_track_update_video_info(t, NULL, 0);
  if (c->push && o->hub_track >= 0) vg_push_update_track(c->push, o->hub_track, t);
}

static void push_rtp(rtsp_conn_t *c, rtsp_track_out_t *o, const uint8_t *data, size_t len) {
  vg_rtp_packet_t pkt;
  c->last_activity_us = vg_time_mono_us();
  if (vg_rtp_parse(data, len, &pkt) != 0) {
    if (c->push) vg_push_count(c->push, 0, 1);
    return;
  }
  if (c->push) vg_push_count(c->push, 1, 0);
  if (o->depack && c->state == CONN_RECORDING) vg_depack_push(o->depack, &pkt, vg_time_mono_us());
}

void rtsp_publish_interleaved(rtsp_conn_t *c, uint8_t channel, const uint8_t *data, size_t len) {
  for (int i = 0; i < c->track_count; i++) {
    rtsp_track_out_t *o = &c->out[i];
    if (!o->setup || o->udp) continue;
    if (channel == o->channel[0]) {
      push_rtp(c, o, data, len);
      return;
    }
    if (channel == o->channel[1]) return; /* sender reports: not used */
  }
}

static _Thread_local uint8_t udp_in[65536];

void rtsp_udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  *buf = uv_buf_init((char *)udp_in, sizeof(udp_in));
}

static void on_publisher_rtp(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                             unsigned flags) {
  rtsp_conn_t *c = h->data;
  if (nread <= 0 || c->closing) return;
  for (int i = 0; i < c->track_count; i++)
    if (c->out[i].rtp_open && &c->out[i].rtp_sock == h)
      push_rtp(c, &c->out[i], (const uint8_t *)buf->base, (size_t)nread);
}

static void on_publisher_rtcp(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                              unsigned flags) {
  rtsp_conn_t *c = h->data;
  if (nread > 0) c->last_activity_us = vg_time_mono_us();
}

/* ---- requests ------------------------------------------------------------------- */

/* Whether path may be published now: a free name, or a push camera that
 * nobody is publishing. Answers the request when not (returns 0). */
static int path_available(rtsp_conn_t *c, const vg_rtsp_msg_t *req) {
  int r = vg_push_check(c->path);
  if (r == VG_EINVAL) {
    vg_log_info(&c->log, "refusing to publish to \"%s\": invalid name", c->path);
    rtsp_conn_respond(c, req, 400, NULL, NULL, NULL, 0);
    return 0;
  }
  if (r < 0) {
    vg_log_info(&c->log, "refusing to publish to %s: the path is in use", c->path);
    rtsp_conn_respond(c, req, 403, NULL, NULL, NULL, 0);
    return 0;
  }
  return 1;
}

void rtsp_publish_announce(rtsp_conn_t *c, const vg_rtsp_msg_t *req) {
  if (!req->body || !req->body_len) {
    rtsp_conn_respond(c, req, 400, NULL, NULL, NULL, 0);
    return;
  }
  if (!path_available(c, req)) return;
  vg_sdp_t *sdp = malloc(sizeof(*sdp));
  if (!sdp) {
    rtsp_conn_respond(c, req, 500, NULL, NULL, NULL, 0);
    return;
  }
  int r = vg_sdp_parse((const char *)req->body, req->body_len, sdp);
  if (r < 0) {
    vg_log_warn(&c->log, "ANNOUNCE %s: bad SDP: %s", c->path, vg_strerror(r));
    free(sdp);
    rtsp_conn_respond(c, req, 400, NULL, NULL, NULL, 0);
    return;
  }
  int n = 0, usable = 0;
  for (int i = 0; i < sdp->n_media && n < VG_MAX_TRACKS; i++, n++) {
    rtsp_track_out_t *o = &c->out[n];
    o->conn = c;
    o->hub_track = -1;
    snprintf(o->control, sizeof(o->control), "%s", sdp->media[i].control);
    if (vg_sdp_media_to_track(&sdp->media[i], &c->tracks[n]) < 0) {
      vg_log_info(&c->log, "ANNOUNCE %s: media %d (%s %s) is not supported, ignored", c->path, i,
                  sdp->media[i].media, sdp->media[i].encoding);
      continue;
    }
    if (vg_codec_is_video(c->tracks[n].codec)) vg_track_update_video_info(&c->tracks[n], NULL, 0);
    vg_depack_sink_t sink = {.on_frame = on_depack_frame, .on_params = on_depack_params, .opaque = o};
    if (vg_depack_new(&c->tracks[n], sdp->media[i].fmtp, &sink, &o->depack) < 0) {
      vg_track_clear(&c->tracks[n]);
      continue;
    }
    o->hub_track = usable++;
  }
  c->track_count = n;
  free(sdp);
  if (!usable) {
    rtsp_conn_respond(c, req, 415, NULL, NULL, NULL, 0);
    return;
  }
  c->announce_sdp = malloc(req->body_len);
  if (c->announce_sdp) memcpy(c->announce_sdp, req->body, req->body_len);
  c->announce_sdp_len = req->body_len;
  if (!c->session_id[0])
    snprintf(c->session_id, sizeof(c->session_id), "%08X%08X", (uint32_t)mrand48(), (uint32_t)mrand48());
  vg_log_info(&c->log, "ANNOUNCE %s: %d track(s)", c->path, usable);
  rtsp_conn_respond(c, req, 200, NULL, NULL, NULL, 0);
}

/* Which announced media a SETUP URL names: by its a=control, else by a
 * trailing number, else the first one not set up yet. */
static int match_media(rtsp_conn_t *c, const vg_rtsp_msg_t *req, const char *last) {
  for (int i = 0; i < c->track_count; i++) {
    const char *ctl = c->out[i].control;
    const char *slash = strrchr(ctl, '/');
    if (slash) ctl = slash + 1;
    if (ctl[0] && last[0] && strcmp(ctl, last) == 0) return i;
  }
  char uri[1024];
  if (vg_rtsp_str_copy(req->uri, uri, sizeof(uri)) >= 0) {
    int k = vg_sdp_control_track_index(uri);
    if (k >= 0 && k < c->track_count) return k;
  }
  for (int i = 0; i < c->track_count; i++)
    if (!c->out[i].setup) return i;
  return -1;
}

void rtsp_publish_setup(rtsp_conn_t *c, const vg_rtsp_msg_t *req, const vg_rtsp_transport_t *tr,
                        const char *last) {
  if (!c->announce_sdp) {
    rtsp_conn_respond(c, req, 455, NULL, NULL, NULL, 0);
    return;
  }
  int i = match_media(c, req, last);
  if (i < 0 || c->out[i].setup) {
    rtsp_conn_respond(c, req, i < 0 ? 404 : 459, NULL, NULL, NULL, 0);
    return;
  }
  rtsp_track_out_t *o = &c->out[i];
  char transport[256];
  if (tr->lower == VG_RTSP_LOWER_TCP) {
    o->channel[0] = tr->has_interleaved ? tr->interleaved[0] : (uint8_t)(2 * i);
    o->channel[1] = tr->has_interleaved ? tr->interleaved[1] : (uint8_t)(2 * i + 1);
    snprintf(transport, sizeof(transport), "RTP/AVP/TCP;unicast;interleaved=%u-%u;mode=record", o->channel[0],
             o->channel[1]);
  } else {
    int r = rtsp_udp_open_pair(c, o, on_publisher_rtp, on_publisher_rtcp);
    if (r < 0) {
      rtsp_conn_respond(c, req, 453, NULL, NULL, NULL, 0);
      return;
    }
    o->udp = 1;
    snprintf(transport, sizeof(transport), "RTP/AVP;unicast;client_port=%u-%u;server_port=%u-%u;mode=record",
             tr->client_port[0], tr->client_port[1], o->server_port, o->server_port + 1);
  }
  o->setup = 1;
  c->state = CONN_READY;
  rtsp_hdr_t h[] = {{"Transport", transport}, {NULL, NULL}};
  rtsp_conn_respond(c, req, 200, h, NULL, NULL, 0);
}

void rtsp_publish_record(rtsp_conn_t *c, const vg_rtsp_msg_t *req) {
  if (!c->announce_sdp || c->state != CONN_READY) {
    rtsp_conn_respond(c, req, 455, NULL, NULL, NULL, 0);
    return;
  }
  char url[200];
  snprintf(url, sizeof(url), "rtsp://publisher/%s", c->path);
  int r = vg_push_open(c->path, url, &c->push);
  if (r < 0) {
    vg_log_warn(&c->log, "RECORD %s: cannot publish: %s", c->path, vg_strerror(r));
    rtsp_conn_respond(c, req, r == VG_EBUSY || r == VG_EINVAL ? 403 : 500, NULL, NULL, NULL, 0);
    return;
  }
  vg_track_t hub_tracks[VG_MAX_TRACKS];
  int n = 0;
  for (int i = 0; i < c->track_count; i++)
    if (c->out[i].hub_track >= 0) hub_tracks[n++] = c->tracks[i]; /* shallow: set_tracks copies */
  vg_push_set_tracks(c->push, hub_tracks, n);
  c->state = CONN_RECORDING;
  c->publishing = 1;
  c->play_us = vg_time_mono_us();
  c->last_sr_us = vg_time_utc_us(); /* the wall time of pts 0 */
  atomic_fetch_add(&c->srv->publishers, 1);
  vg_log_info(&c->log, "RECORD %s: publishing", c->path);
  rtsp_conn_respond(c, req, 200, NULL, NULL, NULL, 0);
}

void rtsp_publish_stop(rtsp_conn_t *c, const char *why) {
  for (int i = 0; i < VG_MAX_TRACKS; i++) {
    if (c->out[i].depack) vg_depack_free(&c->out[i].depack);
  }
  if (!c->publishing) {
    free(c->announce_sdp);
    c->announce_sdp = NULL;
    return;
  }
  c->publishing = 0;
  atomic_fetch_sub(&c->srv->publishers, 1);
  vg_push_close(&c->push, why);
  free(c->announce_sdp);
  c->announce_sdp = NULL;
  vg_log_info(&c->log, "publisher of %s left: %s", c->path, why);
}
