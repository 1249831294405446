/*
 * depack_fuzz.h: shared driver for the depacketizer fuzzers.
 *
 * The input is cut into RTP packets: each starts with a control byte
 * (bit 0 marker, bits 1-2 sequence step: 1, 1, 2 (one lost) or 0 (repeat),
 * bits 3-4 timestamp step: 0, +3000, -100, +2^31, bit 5 reset, bit 6
 * flush) and a length byte, followed by that many payload bytes. Every
 * frame delivered is checked for well-formedness and, when its content can
 * be sent unambiguously, packetized again and depacketized by a second
 * instance, which must give back the same bytes.
 */
#ifndef VG_FUZZ_DEPACK_FUZZ_H
#define VG_FUZZ_DEPACK_FUZZ_H

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "media/nal.h"
#include "proto/rtp.h"
#include "proto/rtp_payload.h"

typedef struct {
  const vg_track_t *track;
  const char *fmtp;
  vg_pack_t *pack;
  vg_depack_t *echo; /* depacketizes the repacketized frames */
  vg_buf_t *echoed;  /* the echo frames' bytes, concatenated */
  int echo_frames;
  uint16_t echo_seq;
} fz_state_t;

/* Whether packetize -> depacketize must reproduce this frame exactly. */
static int fz_round_trippable(const vg_track_t *t, const vg_frame_t *f) {
  if (!vg_codec_is_video(t->codec)) return t->codec != VG_CODEC_AAC || f->len < 8192;
  size_t pos = 0, n;
  const uint8_t *nal;
  int r;
  while ((r = vg_nal_lp_next(f->data, f->len, &pos, &nal, &n)) == 1) {
    int type = vg_nal_type(t->codec, nal, n);
    if (t->codec == VG_CODEC_H264 && (type < 1 || type > 23)) return 0;
    if (t->codec == VG_CODEC_H265 && (type >= 48 || n < 2)) return 0;
  }
  return r == 0;
}

static void fz_on_echo(void *opaque, vg_frame_t *f) {
  fz_state_t *s = opaque;
  if (!s->echoed) s->echoed = vg_buf_alloc(f->len);
  if (vg_buf_append(&s->echoed, f->data, f->len) != 0) abort();
  s->echo_frames++;
  vg_frame_unref(f);
}

static void fz_on_params(void *opaque, vg_buf_t *x) { vg_buf_unref(&x); }

static void fz_on_frame(void *opaque, vg_frame_t *f) {
  fz_state_t *s = opaque;
  if (!f->buf || f->data != f->buf->data || f->len != f->buf->len || f->len == 0) abort();
  if (vg_codec_is_video(s->track->codec)) {
    size_t pos = 0, n;
    const uint8_t *nal;
    int r;
    while ((r = vg_nal_lp_next(f->data, f->len, &pos, &nal, &n)) == 1) {
    }
    if (r < 0) abort(); /* the depacketizer must emit well-formed AUs */
  }
  if (fz_round_trippable(s->track, f)) {
    const vg_pack_pkt_t *pk;
    size_t n;
    int r = vg_pack_frame(s->pack, f, &pk, &n);
    if (r == 0) {
      for (size_t i = 0; i < n; i++) {
        static uint8_t wire[VG_RTP_MAX_PACKET];
        memcpy(wire, pk[i].hdr, pk[i].hdr_len);
        vg_rtp_header_patch(wire, s->echo_seq++, vg_rtp_header_ts(wire), 1);
        memcpy(wire + pk[i].hdr_len, pk[i].payload, pk[i].payload_len);
        vg_rtp_packet_t p;
        if (vg_rtp_parse(wire, pk[i].hdr_len + pk[i].payload_len, &p) != 0) abort();
        vg_depack_push(s->echo, &p, 0);
      }
      vg_depack_flush(s->echo);
      /* One frame comes back, or for G.711 one per packet, same bytes. */
      int g711 = s->track->codec == VG_CODEC_PCMU || s->track->codec == VG_CODEC_PCMA;
      if (s->echo_frames != (g711 ? (int)n : 1)) abort();
      if (!s->echoed || s->echoed->len != f->len || memcmp(s->echoed->data, f->data, f->len) != 0) abort();
      vg_buf_unref(&s->echoed);
      s->echo_frames = 0;
    } else if (r != VG_ETOOBIG) {
      abort();
    }
  }
  vg_frame_unref(f);
}

/* fmtp configures the depacketizer under test, echo_fmtp the one reading
 * vigil's own packetizer output (which never uses DONL, say). */
static int fz_run(const vg_track_t *track, const char *fmtp, const char *echo_fmtp, int keep_corrupt,
                  uint32_t max_au, const uint8_t *data, size_t size) {
  fz_state_t s = {.track = track, .fmtp = fmtp};
  vg_depack_sink_t sink = {.on_frame = fz_on_frame,
                           .on_params = fz_on_params,
                           .opaque = &s,
                           .keep_corrupt = (uint8_t)keep_corrupt,
                           .max_au_size = max_au};
  vg_depack_sink_t echo_sink = {.on_frame = fz_on_echo, .opaque = &s};
  vg_depack_t *d = NULL;
  if (vg_depack_new(track, fmtp, &sink, &d) != 0) return 0;
  if (vg_pack_new(track, 96, 64 + (size % 200), &s.pack) != 0) abort();
  if (vg_depack_new(track, echo_fmtp, &echo_sink, &s.echo) != 0) abort();
  uint16_t seq = 65530;
  uint32_t ts = 0xfffff000u;
  size_t off = 0;
  static uint8_t pkt[12 + 256];
  while (off + 2 <= size) {
    uint8_t ctl = data[off], len = data[off + 1];
    off += 2;
    if (len > size - off) len = (uint8_t)(size - off);
    static const uint16_t seq_step[4] = {1, 1, 2, 0};
    static const uint32_t ts_step[4] = {0, 3000, (uint32_t)-100, 0x80000000u};
    seq = (uint16_t)(seq + seq_step[(ctl >> 1) & 3]);
    ts += ts_step[(ctl >> 3) & 3];
    vg_rtp_packet_t h = {.marker = ctl & 1, .payload_type = 96, .seq = seq, .timestamp = ts, .ssrc = 1};
    vg_rtp_write_header(&h, pkt);
    memcpy(pkt + 12, data + off, len);
    off += len;
    vg_rtp_packet_t p;
    if (vg_rtp_parse(pkt, 12 + (size_t)len, &p) != 0) abort();
    vg_depack_push(d, &p, 0);
    if (ctl & 0x20) vg_depack_reset(d);
    if (ctl & 0x40) vg_depack_flush(d);
  }
  vg_depack_flush(d);
  vg_depack_free(&d);
  vg_depack_free(&s.echo);
  vg_pack_free(&s.pack);
  return 0;
}

#endif
