/*
 * rtp_h265.c: H.265 over RTP (RFC 7798).
 *
 * Depacketizer: single NAL unit packets, aggregation packets (48) and
 * fragmentation units (49). When the SDP announces sprop-max-don-diff > 0
 * the DONL/DOND fields are skipped and NAL units are kept in transmission
 * order (cameras send in decoding order). PACI (50) is dropped and counted.
 * Packetizer: single NAL unit packets, and FUs for larger NAL units; no
 * DONL (sprop-max-don-diff = 0).
 */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "media/h265.h"
#include "media/nal.h"
#include "proto/rtp_payload_priv.h"

enum { AP = 48, FU = 49, PACI = 50 };

static int h265_init(vg_depack_t *d, const char *fmtp) {
  char v[16];
  d->h265_donl = 0;
  if (vg_fmtp_get(fmtp, "sprop-max-don-diff", v, sizeof(v)) > 0) d->h265_donl = atoi(v) > 0;
  return 0;
}

static void push_ap(vg_depack_t *d, const uint8_t *p, size_t len) {
  size_t off = 2;
  for (int first = 1; off < len; first = 0) {
    if (d->h265_donl) off += first ? 2 : 1; /* DONL, then DOND */
    if (off + 2 > len) break;
    size_t n = vg__rd16(p + off);
    off += 2;
    if (n < 2 || n > len - off) {
      d->stats.malformed++;
      d->au_broken = 1;
      return;
    }
    vg__au_append_nal(d, p + off, n);
    off += n;
  }
}

static void push_fu(vg_depack_t *d, const uint8_t *p, size_t len) {
  size_t off = 3;
  uint8_t fu_hdr = len > 2 ? p[2] : 0;
  int start = fu_hdr >> 7, end = (fu_hdr >> 6) & 1;
  if (start && d->h265_donl) off += 2;
  if (len <= off) {
    d->stats.malformed++;
    d->au_broken = 1;
    return;
  }
  if (start) {
    /* Payload header with the type replaced by the FU header's type. */
    uint8_t nal_hdr[2] = {(uint8_t)((p[0] & 0x81) | ((fu_hdr & 0x3f) << 1)), p[1]};
    vg__au_nal_open(d, nal_hdr, 2);
  } else if (!d->frag_active) {
    d->au_broken = 1;
    return;
  }
  vg__au_append(d, p + off, len - off);
  if (end) vg__au_nal_close(d);
}

static void h265_push(vg_depack_t *d, const vg_rtp_packet_t *pkt, int64_t pts) {
  const uint8_t *p = pkt->payload;
  size_t len = pkt->payload_len;
  if (d->au_active && pkt->timestamp != d->au_ts) vg__au_end(d);
  if (len < 2) { /* a bare NAL header (EOS, EOB) is the smallest NAL unit */
    d->stats.malformed++;
    return;
  }
  vg__au_begin(d, pkt->timestamp, pts);
  int type = (p[0] >> 1) & 0x3f;
  if (type != FU) vg__au_nal_discard(d); /* a fragmented NAL was cut short */
  if (type == AP) {
    push_ap(d, p, len);
  } else if (type == FU) {
    push_fu(d, p, len);
  } else if (type >= PACI) {
    d->stats.unsupported++;
    d->au_broken = 1;
  } else if (d->h265_donl) {
    /* Single NAL unit packet: header, DONL, then the rest of the NAL. */
    if (len < 5) {
      d->stats.malformed++;
    } else {
      vg__au_nal_open(d, p, 2);
      vg__au_append(d, p + 4, len - 4);
      vg__au_nal_close(d);
    }
  } else {
    vg__au_append_nal(d, p, len);
  }
  if (pkt->marker) vg__au_end(d);
}

/* FU (RFC 7798 4.4.3): payload header of type 49 with the NAL's F, layer
 * and TID, then the FU header with its type. */
static void h265_fu_header(const uint8_t *nal, uint8_t *fu) {
  fu[0] = (uint8_t)((nal[0] & 0x81) | (FU << 1));
  fu[1] = nal[1];
  fu[2] = (uint8_t)((nal[0] >> 1) & 0x3f);
}

static int h265_pack(vg_pack_t *p, const vg_frame_t *f) { return vg__pack_nal_units(p, f, 2, h265_fu_header); }

const vg__payload_ops_t vg__payload_h265 = {h265_init, h265_push, h265_pack};
