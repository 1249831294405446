/*
 * rtp_payload.c: the codec-independent half of the depacketizer (sequence
 * checks, access-unit assembly, loss policy, parameter-set reporting), the
 * fmtp and SDP helpers, and the packetizer dispatch.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base64.h"
#include "base/error.h"
#include "media/nal.h"
#include "proto/rtp_payload_priv.h"

/* A backward jump larger than this is a restarted source, not a late packet. */
#define MAX_MISORDER 100

static void write_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

const vg__payload_ops_t *vg__payload_ops(vg_codec_t codec) {
  switch (codec) {
  case VG_CODEC_H264: return &vg__payload_h264;
  case VG_CODEC_H265: return &vg__payload_h265;
  case VG_CODEC_AAC: return &vg__payload_aac;
  case VG_CODEC_PCMU:
  case VG_CODEC_PCMA: return &vg__payload_g711;
  case VG_CODEC_OPUS: return &vg__payload_opus;
  default: return NULL;
  }
}

/* ---- depacketizer core ------------------------------------------------ */

int vg_depack_new(const vg_track_t *track, const char *fmtp, const vg_depack_sink_t *sink,
                  vg_depack_t **out) {
  *out = NULL;
  if (!sink || !sink->on_frame) return VG_EINVAL;
  const vg__payload_ops_t *ops = vg__payload_ops(track->codec);
  if (!ops) return VG_EUNSUPPORTED;
  vg_depack_t *d = calloc(1, sizeof(*d));
  if (!d) return VG_ENOMEM;
  d->ops = ops;
  d->sink = *sink;
  if (d->sink.max_au_size == 0 || d->sink.max_au_size > VG_DEPACK_MAX_AU)
    d->sink.max_au_size = VG_DEPACK_MAX_AU;
  d->codec = track->codec;
  d->video = vg_codec_is_video(track->codec);
  vg_rtp_unwrap_init(&d->ts_unwrap, 32);
  d->au_size_hint = d->video ? 16384 : 1024;
  if (d->video) {
    d->params = vg_buf_ref(track->extradata);
    vg_buf_t *from_fmtp = NULL;
    if (!d->params && fmtp && vg_fmtp_extradata(track->codec, fmtp, &from_fmtp) == 0) d->params = from_fmtp;
  }
  int r = ops->init(d, fmtp);
  if (r < 0) {
    vg_depack_free(&d);
    return r;
  }
  *out = d;
  return 0;
}

void vg_depack_free(vg_depack_t **dp) {
  vg_depack_t *d = *dp;
  if (!d) return;
  vg_buf_unref(&d->au);
  vg_buf_unref(&d->params);
  free(d);
  *dp = NULL;
}

void vg_depack_get_stats(const vg_depack_t *d, vg_depack_stats_t *out) { *out = d->stats; }

void vg_depack_reset(vg_depack_t *d) {
  vg__au_abandon(d);
  d->have_seq = 0;
  d->loss_pending = 0;
  d->waiting_key = 0;
  vg_rtp_unwrap_init(&d->ts_unwrap, 32);
}

void vg_depack_flush(vg_depack_t *d) { vg__au_end(d); }

/* Records a gap of lost packets before pkt: the open access unit is broken
 * if pkt continues it, and in any case if it never got its end; an access
 * unit starting after the gap may have lost its head. */
static void note_gap(vg_depack_t *d, const vg_rtp_packet_t *pkt, uint64_t lost) {
  d->stats.lost += lost;
  if (d->au_active) d->au_broken = 1;
  if (!d->au_active || pkt->timestamp != d->au_ts) d->loss_pending = 1;
  if (d->video && !d->sink.keep_corrupt) d->waiting_key = 1;
}

int vg_depack_push(vg_depack_t *d, const vg_rtp_packet_t *pkt, int64_t recv_us) {
  if (d->have_seq) {
    int16_t diff = (int16_t)(uint16_t)(pkt->seq - d->last_seq);
    if (diff <= 0 && diff > -MAX_MISORDER) {
      d->stats.late++;
      return 0;
    }
    if (diff != 1) note_gap(d, pkt, diff > 1 ? (uint64_t)(diff - 1) : 0);
  }
  d->have_seq = 1;
  d->last_seq = pkt->seq;
  d->recv_us = recv_us;
  d->stats.packets++;
  int64_t pts = vg_rtp_unwrap(&d->ts_unwrap, pkt->timestamp);
  d->ops->push(d, pkt, pts);
  return 0;
}

void vg__au_begin(vg_depack_t *d, uint32_t ts, int64_t pts) {
  if (d->au_active) return;
  d->au_active = 1;
  d->au_ts = ts;
  d->au_pts = pts;
  d->au_broken = d->loss_pending;
  d->loss_pending = 0;
  d->au_too_big = 0;
  d->frag_active = 0;
}

void vg__au_append(vg_depack_t *d, const void *data, size_t len) {
  if (!d->au_active || d->au_too_big) return;
  size_t have = d->au ? d->au->len : 0;
  if (len > d->sink.max_au_size - have) {
    d->au_too_big = 1;
    vg_buf_unref(&d->au);
    return;
  }
  if (!d->au) {
    /* Size the buffer for a typical access unit so that growth (a copy)
     * is rare. */
    size_t cap = d->au_size_hint > len ? d->au_size_hint : len;
    d->au = vg_buf_alloc(cap);
    if (!d->au) {
      d->au_broken = 1;
      return;
    }
  }
  if (vg_buf_append(&d->au, data, len) < 0) d->au_broken = 1;
}

void vg__au_append_nal(vg_depack_t *d, const uint8_t *nal, size_t len) {
  uint8_t prefix[4];
  write_be32(prefix, (uint32_t)len);
  vg__au_append(d, prefix, 4);
  vg__au_append(d, nal, len);
}

void vg__au_nal_open(vg_depack_t *d, const uint8_t *hdr, size_t hdr_len) {
  static const uint8_t placeholder[4] = {0, 0, 0, 0};
  vg__au_nal_discard(d); /* the previous one never ended */
  vg__au_append(d, placeholder, 4);
  if (!d->au || d->au_too_big) return;
  d->frag_off = d->au->len - 4;
  d->frag_active = 1;
  vg__au_append(d, hdr, hdr_len);
}

void vg__au_nal_discard(vg_depack_t *d) {
  if (!d->frag_active) return;
  d->frag_active = 0;
  d->au_broken = 1;
  if (d->au && d->frag_off <= d->au->len) d->au->len = d->frag_off;
}

void vg__au_nal_close(vg_depack_t *d) {
  if (!d->frag_active) return;
  d->frag_active = 0;
  if (!d->au || d->au_too_big) return;
  write_be32(d->au->data + d->frag_off, (uint32_t)(d->au->len - d->frag_off - 4));
}

void vg__au_abandon(vg_depack_t *d) {
  vg_buf_unref(&d->au);
  d->au_active = 0;
  d->frag_active = 0;
}

static void deliver(vg_depack_t *d, vg_buf_t *buf, int64_t pts, uint32_t flags) {
  vg_frame_t f = {0};
  f.buf = buf;
  f.data = buf->data;
  f.len = (uint32_t)buf->len;
  f.flags = flags;
  f.track = d->sink.track_index;
  f.pts = pts;
  f.recv_us = d->recv_us;
  d->stats.frames++;
  d->stats.bytes += buf->len;
  if (flags & VG_FRAME_CORRUPT) d->stats.frames_corrupt++;
  d->sink.on_frame(d->sink.opaque, &f);
}

/* Reports in-band parameter sets that differ from the known ones. */
static void check_params(vg_depack_t *d, const uint8_t *au, size_t len) {
  vg_buf_t *found = NULL;
  if (vg_nal_extradata_from_au(d->codec, au, len, &found) != 1) return;
  if (d->params && d->params->len == found->len && memcmp(d->params->data, found->data, found->len) == 0) {
    vg_buf_unref(&found);
    return;
  }
  vg_buf_unref(&d->params);
  d->params = found;
  d->stats.param_changes++;
  if (d->sink.on_params) d->sink.on_params(d->sink.opaque, vg_buf_ref(found));
}

void vg__au_end(vg_depack_t *d) {
  if (!d->au_active) return;
  vg__au_nal_discard(d); /* a fragmented NAL never ended */
  vg_buf_t *au = d->au;
  d->au = NULL;
  d->au_active = 0;
  d->frag_active = 0;
  int64_t pts = d->au_pts;
  if (d->au_too_big) {
    d->stats.too_big++;
    if (d->video && !d->sink.keep_corrupt) d->waiting_key = 1;
    vg_buf_unref(&au);
    return;
  }
  if (!au || au->len == 0) {
    vg_buf_unref(&au);
    return;
  }
  d->au_size_hint = au->len + au->len / 4;
  if (d->au_size_hint > d->sink.max_au_size) d->au_size_hint = d->sink.max_au_size;
  if (d->au_broken && !(d->video && d->sink.keep_corrupt)) {
    d->stats.frames_dropped_loss++;
    if (d->video) d->waiting_key = 1;
    vg_buf_unref(&au);
    return;
  }
  if (!d->video) {
    deliver(d, au, pts, VG_FRAME_KEY);
    return;
  }
  /* A length walk that fails means a malformed NAL length from the sender's
   * aggregation packet; the AU is already bounded, deliver what parsed. */
  uint32_t flags = 0;
  if (vg_nal_au_is_keyframe(d->codec, au->data, au->len)) flags |= VG_FRAME_KEY;
  if (d->au_broken) flags |= VG_FRAME_CORRUPT;
  if (d->waiting_key) {
    if (!(flags & VG_FRAME_KEY) || (flags & VG_FRAME_CORRUPT)) {
      d->stats.frames_dropped_waiting_key++;
      vg_buf_unref(&au);
      return;
    }
    d->waiting_key = 0;
  }
  check_params(d, au->data, au->len);
  deliver(d, au, pts, flags);
}

void vg__emit_audio(vg_depack_t *d, const uint8_t *data, size_t len, int64_t pts) {
  if (len == 0) return;
  if (len > d->sink.max_au_size) {
    d->stats.too_big++;
    return;
  }
  vg_buf_t *b = vg_buf_from(data, len);
  if (!b) {
    d->stats.frames_dropped_loss++;
    return;
  }
  deliver(d, b, pts, VG_FRAME_KEY);
}

/* ---- packetizer core ------------------------------------------------- */

/* Packets one frame may produce at most: the largest access unit in the
 * smallest payloads. */
#define MAX_PACKETS_PER_FRAME (VG_DEPACK_MAX_AU / 32 + 16)

int vg_pack_new(const vg_track_t *track, uint8_t payload_type, size_t mtu, vg_pack_t **out) {
  *out = NULL;
  const vg__payload_ops_t *ops = vg__payload_ops(track->codec);
  if (!ops) return VG_EUNSUPPORTED;
  if (mtu == 0) mtu = VG_PACK_DEFAULT_MTU;
  if (mtu < 64 || mtu > VG_RTP_MAX_PACKET - 64 || payload_type > 127) return VG_EINVAL;
  vg_pack_t *p = calloc(1, sizeof(*p));
  if (!p) return VG_ENOMEM;
  p->ops = ops;
  p->codec = track->codec;
  p->payload_type = payload_type;
  p->mtu = mtu;
  *out = p;
  return 0;
}

void vg_pack_free(vg_pack_t **pp) {
  vg_pack_t *p = *pp;
  if (!p) return;
  free(p->pkts);
  free(p);
  *pp = NULL;
}

int vg__pack_add(vg_pack_t *p, int marker, uint32_t ts, const uint8_t *fmt_hdr, size_t fmt_len,
                 const uint8_t *payload, size_t len) {
  if (fmt_len > VG_PACK_MAX_HDR - VG_RTP_HEADER_SIZE) return VG_EINVAL;
  if (p->n == p->cap) {
    if (p->cap >= MAX_PACKETS_PER_FRAME) return VG_ETOOBIG;
    size_t cap = p->cap ? p->cap * 2 : 64;
    vg_pack_pkt_t *grown = realloc(p->pkts, cap * sizeof(*grown));
    if (!grown) return VG_ENOMEM;
    p->pkts = grown;
    p->cap = cap;
  }
  vg_pack_pkt_t *k = &p->pkts[p->n++];
  vg_rtp_packet_t h = {
      .marker = (uint8_t)(marker != 0), .payload_type = p->payload_type, .seq = p->seq++, .timestamp = ts};
  vg_rtp_write_header(&h, k->hdr);
  if (fmt_len) memcpy(k->hdr + VG_RTP_HEADER_SIZE, fmt_hdr, fmt_len);
  k->hdr_len = (uint8_t)(VG_RTP_HEADER_SIZE + fmt_len);
  k->payload = payload;
  k->payload_len = (uint32_t)len;
  return 0;
}

/* GCC 12 at -O3 believes fu[fu_len - 1] may lie outside fu although fu_len
 * is checked to be 2..4 below (a -Wstringop-overflow false positive). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
int vg__pack_nal_units(vg_pack_t *p, const vg_frame_t *f, size_t nal_hdr_len, vg__fu_header_fn fu_header) {
  size_t pos = 0, n;
  const uint8_t *nal;
  int r;
  uint32_t ts = (uint32_t)f->pts;
  /* Find the last NAL first: it carries the marker. */
  size_t last_start = SIZE_MAX;
  while ((r = vg_nal_lp_next(f->data, f->len, &pos, &nal, &n)) == 1)
    last_start = (size_t)(nal - f->data);
  if (r < 0) return r;
  if (last_start == SIZE_MAX) return VG_EINVAL;
  const size_t fu_len = nal_hdr_len + 1;
  /* H.264 FU-A headers are 2 bytes, H.265 FUs 3 (the buffer below holds 4;
   * the FU header proper, S, E and type, is the last byte); a fragment
   * needs room for at least one payload byte. */
  if (nal_hdr_len < 1 || fu_len > 4 || p->mtu <= fu_len) return VG_EINVAL;
  pos = 0;
  while (vg_nal_lp_next(f->data, f->len, &pos, &nal, &n) == 1) {
    int last_nal = (size_t)(nal - f->data) == last_start;
    if (n <= p->mtu) {
      if ((r = vg__pack_add(p, last_nal, ts, NULL, 0, nal, n)) < 0) return r;
      continue;
    }
    if (n <= nal_hdr_len) return VG_EPROTO;
    uint8_t fu[4];
    fu_header(nal, fu);
    fu[fu_len - 1] |= 0x80; /* S: only the first fragment */
    size_t chunk = p->mtu - fu_len;
    for (size_t off = nal_hdr_len; off < n; off += chunk) {
      size_t take = n - off < chunk ? n - off : chunk;
      int end = off + take == n;
      if (end) fu[fu_len - 1] |= 0x40;
      if ((r = vg__pack_add(p, end && last_nal, ts, fu, fu_len, nal + off, take)) < 0) return r;
      fu[fu_len - 1] &= 0x7f;
    }
  }
  return 0;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

int vg_pack_frame(vg_pack_t *p, const vg_frame_t *frame, const vg_pack_pkt_t **pkts, size_t *n) {
  *n = 0;
  *pkts = NULL;
  if (!frame->data || frame->len == 0) return VG_EINVAL;
  if (frame->len > VG_DEPACK_MAX_AU) return VG_ETOOBIG;
  uint16_t seq = p->seq;
  p->n = 0;
  int r = p->ops->pack(p, frame);
  if (r < 0) {
    p->n = 0;
    p->seq = seq;
    return r;
  }
  *pkts = p->pkts;
  *n = p->n;
  return 0;
}

/* ---- fmtp ------------------------------------------------------------- */

int vg_fmtp_get(const char *fmtp, const char *key, char *out, size_t size) {
  if (!fmtp) return VG_ENOTFOUND;
  size_t klen = strlen(key);
  const char *p = fmtp;
  while (*p) {
    while (*p == ' ' || *p == ';' || *p == '\t')
      p++;
    const char *item = p;
    while (*p && *p != ';')
      p++;
    const char *eq = memchr(item, '=', (size_t)(p - item));
    if (!eq) continue;
    const char *kend = eq;
    while (kend > item && (kend[-1] == ' ' || kend[-1] == '\t'))
      kend--;
    if ((size_t)(kend - item) != klen || strncasecmp(item, key, klen) != 0) continue;
    const char *v = eq + 1, *vend = p;
    while (v < vend && (*v == ' ' || *v == '\t'))
      v++;
    while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t' || vend[-1] == '\r' || vend[-1] == '\n'))
      vend--;
    size_t n = (size_t)(vend - v);
    if (n + 1 > size) return VG_ETOOBIG;
    memcpy(out, v, n);
    out[n] = 0;
    return (int)n;
  }
  return VG_ENOTFOUND;
}

#define MAX_FMTP_VALUE 4096

/* Appends base64-decoded comma-separated parameter sets as length-prefixed
 * NAL units. */
static int append_b64_list(const char *list, vg_buf_t **b) {
  const char *p = list;
  while (*p) {
    const char *end = strchr(p, ',');
    if (!end) end = p + strlen(p);
    size_t n = (size_t)(end - p);
    if (n > 0) {
      uint8_t nal[MAX_FMTP_VALUE];
      int r = vg_base64_decode(p, n, nal, sizeof(nal));
      if (r < 0) return VG_EPROTO;
      if (r > 0) {
        uint8_t prefix[4];
        write_be32(prefix, (uint32_t)r);
        if (vg_buf_append(b, prefix, 4) < 0 || vg_buf_append(b, nal, (size_t)r) < 0) return VG_ENOMEM;
      }
    }
    p = *end ? end + 1 : end;
  }
  return 0;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = (char)tolower((unsigned char)c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

int vg_fmtp_extradata(vg_codec_t codec, const char *fmtp, vg_buf_t **out) {
  *out = NULL;
  char value[MAX_FMTP_VALUE];
  vg_buf_t *b = vg_buf_alloc(256);
  if (!b) return VG_ENOMEM;
  int r = VG_ENOTFOUND, found = 0;
  if (codec == VG_CODEC_H264) {
    if (vg_fmtp_get(fmtp, "sprop-parameter-sets", value, sizeof(value)) >= 0) {
      found = 1;
      r = append_b64_list(value, &b);
    }
  } else if (codec == VG_CODEC_H265) {
    static const char *const keys[3] = {"sprop-vps", "sprop-sps", "sprop-pps"};
    r = 0;
    for (int i = 0; i < 3 && r == 0; i++) {
      if (vg_fmtp_get(fmtp, keys[i], value, sizeof(value)) < 0) continue;
      found = 1;
      r = append_b64_list(value, &b);
    }
  } else if (codec == VG_CODEC_AAC) {
    int n = vg_fmtp_get(fmtp, "config", value, sizeof(value));
    if (n >= 0) {
      found = 1;
      r = (n % 2 == 0 && n > 0) ? 0 : VG_EPROTO;
      for (int i = 0; i + 1 < n && r == 0; i += 2) {
        int hi = hex_value(value[i]), lo = hex_value(value[i + 1]);
        if (hi < 0 || lo < 0) {
          r = VG_EPROTO;
          break;
        }
        uint8_t byte = (uint8_t)(hi << 4 | lo);
        r = vg_buf_append(&b, &byte, 1);
      }
    }
  }
  if (!found && r == 0) r = VG_ENOTFOUND;
  if (r == 0 && b->len == 0) r = VG_ENOTFOUND;
  if (r < 0) {
    vg_buf_unref(&b);
    return r;
  }
  *out = b;
  return 0;
}

/* ---- SDP helpers ------------------------------------------------------ */

static int put(char *out, size_t size, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int put(char *out, size_t size, size_t *off, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out + *off, size - *off, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= size - *off) return VG_ETOOBIG;
  *off += (size_t)n;
  return 0;
}

int vg_sdp_rtpmap(const vg_track_t *t, char *out, size_t size) {
  size_t off = 0;
  int r;
  if (size == 0) return VG_ETOOBIG;
  switch (t->codec) {
  case VG_CODEC_H264: r = put(out, size, &off, "H264/90000"); break;
  case VG_CODEC_H265: r = put(out, size, &off, "H265/90000"); break;
  case VG_CODEC_AAC:
    r = put(out, size, &off, "MPEG4-GENERIC/%u/%d", t->clock_rate, t->channels > 0 ? t->channels : 1);
    break;
  case VG_CODEC_PCMU: r = put(out, size, &off, "PCMU/%u", t->clock_rate ? t->clock_rate : 8000); break;
  case VG_CODEC_PCMA: r = put(out, size, &off, "PCMA/%u", t->clock_rate ? t->clock_rate : 8000); break;
  case VG_CODEC_OPUS: r = put(out, size, &off, "opus/48000/2"); break;
  default: return VG_EUNSUPPORTED;
  }
  return r < 0 ? r : (int)off;
}

/* Appends ";name=b64,b64,..." with the parameter sets of type_a, then those
 * of type_b (-1: none), from the track's extradata. */
static int put_sprop(char *out, size_t size, size_t *off, const vg_track_t *t, const char *name, int type_a,
                     int type_b) {
  const vg_buf_t *x = t->extradata;
  int first = 1;
  for (int pass = 0; pass < 2; pass++) {
    int type = pass == 0 ? type_a : type_b;
    size_t pos = 0, n;
    const uint8_t *nal;
    while (type >= 0 && vg_nal_lp_next(x->data, x->len, &pos, &nal, &n) == 1) {
      if (vg_nal_type(t->codec, nal, n) != type) continue;
      char b64[MAX_FMTP_VALUE];
      if (vg_base64_encode(nal, n, b64, sizeof(b64)) < 0) return VG_ETOOBIG;
      int r = first ? put(out, size, off, "%s%s=%s", *off ? ";" : "", name, b64)
                    : put(out, size, off, ",%s", b64);
      if (r < 0) return r;
      first = 0;
    }
  }
  return 0;
}

int vg_sdp_fmtp(const vg_track_t *t, char *out, size_t size) {
  size_t off = 0;
  int r = 0;
  if (size == 0) return VG_ETOOBIG;
  out[0] = 0;
  const vg_buf_t *x = t->extradata;
  switch (t->codec) {
  case VG_CODEC_H264:
    r = put(out, size, &off, "packetization-mode=1");
    if (r == 0 && x) {
      size_t pos = 0, n;
      const uint8_t *nal;
      while (vg_nal_lp_next(x->data, x->len, &pos, &nal, &n) == 1) {
        if (vg_nal_type(t->codec, nal, n) == 7 && n >= 4) {
          r = put(out, size, &off, ";profile-level-id=%02X%02X%02X", nal[1], nal[2], nal[3]);
          break;
        }
      }
      if (r == 0) r = put_sprop(out, size, &off, t, "sprop-parameter-sets", 7, 8);
    }
    break;
  case VG_CODEC_H265:
    if (x) {
      r = put_sprop(out, size, &off, t, "sprop-vps", 32, -1);
      if (r == 0) r = put_sprop(out, size, &off, t, "sprop-sps", 33, -1);
      if (r == 0) r = put_sprop(out, size, &off, t, "sprop-pps", 34, -1);
    }
    break;
  case VG_CODEC_AAC:
    r = put(out, size, &off,
            "streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3");
    if (r == 0 && x && x->len > 0) {
      r = put(out, size, &off, ";config=");
      for (size_t i = 0; i < x->len && r == 0; i++)
        r = put(out, size, &off, "%02X", x->data[i]);
    }
    break;
  case VG_CODEC_PCMU:
  case VG_CODEC_PCMA: break;
  case VG_CODEC_OPUS: r = put(out, size, &off, "sprop-stereo=%d", t->channels == 2 ? 1 : 0); break;
  default: return VG_EUNSUPPORTED;
  }
  return r < 0 ? r : (int)off;
}
