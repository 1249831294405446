/*
 * rtp_h264.c: H.264 over RTP (RFC 6184).
 *
 * Depacketizer: single NAL unit packets (types 1..23), STAP-A (24) and
 * FU-A (28), which cover packetization modes 0 and 1. STAP-B, MTAP16/24 and
 * FU-B (25, 26, 27, 29) belong to the interleaved mode 2 that cameras do not
 * use: they are dropped and counted, and the access unit they belonged to is
 * treated as broken.
 * Packetizer: single NAL unit packets, and FU-A for NAL units larger than
 * the MTU. No STAP-A: aggregating would need the payload copied next to the
 * 2-byte sizes, which the one-slice-per-packet zero-copy output avoids.
 */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "media/h264.h"
#include "media/nal.h"
#include "proto/rtp_payload_priv.h"

enum { STAP_A = 24, STAP_B = 25, MTAP16 = 26, MTAP24 = 27, FU_A = 28, FU_B = 29 };

static int h264_init(vg_depack_t *d, const char *fmtp) {
  char v[16];
  d->h264_mode = 0;
  if (vg_fmtp_get(fmtp, "packetization-mode", v, sizeof(v)) > 0) d->h264_mode = atoi(v);
  /* Mode 2 (interleaved) needs decoding-order reassembly vigil does not do. */
  if (d->h264_mode < 0 || d->h264_mode > 2) return VG_EINVAL;
  return 0;
}

static void push_stap_a(vg_depack_t *d, const uint8_t *p, size_t len) {
  size_t off = 1;
  while (off < len) {
    if (len - off < 2) break; /* trailing padding byte: tolerated */
    size_t n = vg__rd16(p + off);
    off += 2;
    if (n == 0 || n > len - off) {
      d->stats.malformed++;
      d->au_broken = 1;
      return;
    }
    vg__au_append_nal(d, p + off, n);
    off += n;
  }
}

static void push_fu_a(vg_depack_t *d, const uint8_t *p, size_t len) {
  if (len < 3) {
    d->stats.malformed++;
    d->au_broken = 1;
    return;
  }
  uint8_t fu_hdr = p[1];
  int start = fu_hdr >> 7, end = (fu_hdr >> 6) & 1;
  if (start) {
    /* The NAL header comes back from the indicator's F/NRI and the type. */
    uint8_t nal_hdr = (uint8_t)((p[0] & 0xe0) | (fu_hdr & 0x1f));
    vg__au_nal_open(d, &nal_hdr, 1);
  } else if (!d->frag_active) {
    d->au_broken = 1; /* its start was lost */
    return;
  }
  vg__au_append(d, p + 2, len - 2);
  if (end) vg__au_nal_close(d);
}

static void h264_push(vg_depack_t *d, const vg_rtp_packet_t *pkt, int64_t pts) {
  const uint8_t *p = pkt->payload;
  size_t len = pkt->payload_len;
  if (d->au_active && pkt->timestamp != d->au_ts) vg__au_end(d); /* the marker was lost or never set */
  if (len < 1) {
    d->stats.malformed++;
    return;
  }
  vg__au_begin(d, pkt->timestamp, pts);
  int type = p[0] & 0x1f;
  if (type != FU_A) vg__au_nal_discard(d); /* a fragmented NAL was cut short */
  switch (type) {
  case STAP_A: push_stap_a(d, p, len); break;
  case FU_A: push_fu_a(d, p, len); break;
  case STAP_B:
  case MTAP16:
  case MTAP24:
  case FU_B:
    d->stats.unsupported++;
    d->au_broken = 1;
    break;
  case 0:
  case 30:
  case 31: d->stats.malformed++; break;
  default: vg__au_append_nal(d, p, len); break;
  }
  if (pkt->marker) vg__au_end(d);
}

/* FU-A (RFC 6184 5.8): indicator with the NAL's F and NRI, header with its type. */
static void h264_fu_header(const uint8_t *nal, uint8_t *fu) {
  fu[0] = (uint8_t)((nal[0] & 0xe0) | FU_A);
  fu[1] = (uint8_t)(nal[0] & 0x1f);
}

static int h264_pack(vg_pack_t *p, const vg_frame_t *f) { return vg__pack_nal_units(p, f, 1, h264_fu_header); }

const vg__payload_ops_t vg__payload_h264 = {h264_init, h264_push, h264_pack};
