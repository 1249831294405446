/*
 * rtp_g711.c: G.711 mu-law (PCMU) and A-law (PCMA) over RTP (RFC 3551 4.5.14).
 *
 * One byte per sample, so a packet is simply a frame of samples. The
 * packetizer splits a frame longer than the MTU into several packets whose
 * timestamps advance by the samples before them. The marker bit (start of a
 * talkspurt) is never set.
 */
#include "base/error.h"
#include "proto/rtp_payload_priv.h"

static int g711_init(vg_depack_t *d, const char *fmtp) { return 0; }

static void g711_push(vg_depack_t *d, const vg_rtp_packet_t *pkt, int64_t pts) {
  if (pkt->payload_len == 0) {
    d->stats.malformed++;
    return;
  }
  vg__emit_audio(d, pkt->payload, pkt->payload_len, pts);
}

static int g711_pack(vg_pack_t *p, const vg_frame_t *f) {
  for (size_t off = 0; off < f->len; off += p->mtu) {
    size_t take = f->len - off < p->mtu ? f->len - off : p->mtu;
    int r = vg__pack_add(p, 0, (uint32_t)f->pts + (uint32_t)off, NULL, 0, f->data + off, take);
    if (r < 0) return r;
  }
  return 0;
}

const vg__payload_ops_t vg__payload_g711 = {g711_init, g711_push, g711_pack};
