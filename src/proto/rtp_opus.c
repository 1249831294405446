/*
 * rtp_opus.c: Opus over RTP (RFC 7587).
 *
 * A packet's payload is exactly one Opus packet, and so is a frame; the
 * clock is always 48 kHz whatever the coded bandwidth. An Opus packet is at
 * most 120 ms of audio and, in practice, far below any MTU: a frame that
 * does not fit is refused (VG_ETOOBIG), since Opus has no fragmentation.
 */
#include "base/error.h"
#include "proto/rtp_payload_priv.h"

static int opus_init(vg_depack_t *d, const char *fmtp) { return 0; }

static void opus_push(vg_depack_t *d, const vg_rtp_packet_t *pkt, int64_t pts) {
  /* An empty payload is not an Opus packet (RFC 6716 3.1 needs the TOC). */
  if (pkt->payload_len == 0) {
    d->stats.malformed++;
    return;
  }
  vg__emit_audio(d, pkt->payload, pkt->payload_len, pts);
}

static int opus_pack(vg_pack_t *p, const vg_frame_t *f) {
  if (f->len > p->mtu) return VG_ETOOBIG;
  return vg__pack_add(p, 0, (uint32_t)f->pts, NULL, 0, f->data, f->len);
}

const vg__payload_ops_t vg__payload_opus = {opus_init, opus_push, opus_pack};
