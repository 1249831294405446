/*
 * rtp_aac.c: AAC over RTP as MPEG4-GENERIC (RFC 3640), modes AAC-hbr and
 * AAC-lbr (and any mode that spells out its AU-header layout in the fmtp).
 *
 * A packet carries an AU-header section (one header per access unit: size,
 * index or index delta, optional CTS/DTS deltas, RAP flag, stream state),
 * an optional auxiliary section that is skipped, then the access units.
 * Several AUs in one packet each get their own pts: ts + index * duration
 * (1024 samples unless constantDuration says otherwise), where the index
 * accumulates AU-index-delta + 1 so interleaved senders also come out
 * right. One AU larger than a packet is fragmented: every fragment repeats
 * the full AU-size, the marker ends it; it is reassembled in one buffer.
 *
 * Packetizer: AAC-hbr (13/3/3), one AU per packet, fragmented as above when
 * it does not fit.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"
#include "media/nal.h"
#include "proto/rtp_payload_priv.h"

#define MAX_AUS_PER_PACKET 64

static int fmtp_int(const char *fmtp, const char *key, int def) {
  char v[16];
  if (vg_fmtp_get(fmtp, key, v, sizeof(v)) <= 0) return def;
  return atoi(v);
}

static int aac_init(vg_depack_t *d, const char *fmtp) {
  vg__aac_state_t *a = &d->aac;
  char mode[32] = "";
  vg_fmtp_get(fmtp, "mode", mode, sizeof(mode));
  /* Defaults from the modes' definitions (RFC 3640 3.3.5, 3.3.6) for SDPs
   * that name the mode but omit the lengths. */
  int hbr = strcasecmp(mode, "AAC-hbr") == 0, lbr = strcasecmp(mode, "AAC-lbr") == 0;
  a->size_length = fmtp_int(fmtp, "sizelength", hbr ? 13 : lbr ? 6 : 0);
  a->index_length = fmtp_int(fmtp, "indexlength", hbr ? 3 : lbr ? 2 : 0);
  a->index_delta_length = fmtp_int(fmtp, "indexdeltalength", hbr ? 3 : lbr ? 2 : 0);
  a->cts_delta_length = fmtp_int(fmtp, "ctsdeltalength", 0);
  a->dts_delta_length = fmtp_int(fmtp, "dtsdeltalength", 0);
  a->random_access_indication = fmtp_int(fmtp, "randomaccessindication", 0);
  a->stream_state_indication = fmtp_int(fmtp, "streamstateindication", 0);
  a->auxiliary_data_size_length = fmtp_int(fmtp, "auxiliarydatasizelength", 0);
  int duration = fmtp_int(fmtp, "constantduration", 1024);
  /* Constant-size AUs (sizelength 0) are a video/system-stream feature no
   * AAC camera uses. */
  if (a->size_length <= 0 || a->size_length > 16 || a->index_length < 0 || a->index_length > 8 ||
      a->index_delta_length < 0 || a->index_delta_length > 8 || a->cts_delta_length < 0 ||
      a->cts_delta_length > 32 || a->dts_delta_length < 0 || a->dts_delta_length > 32 ||
      a->random_access_indication < 0 || a->random_access_indication > 1 || a->stream_state_indication < 0 ||
      a->stream_state_indication > 32 || a->auxiliary_data_size_length < 0 ||
      a->auxiliary_data_size_length > 32 || duration <= 0 || duration > 65536)
    return VG_EINVAL;
  a->duration = (uint32_t)duration;
  return 0;
}

typedef struct {
  uint32_t size;
  uint32_t index; /* accumulated AU index within the packet */
} au_header_t;

static int parse_au_headers(const vg__aac_state_t *a, const uint8_t *p, size_t bits, au_header_t *out) {
  vg_bitreader_t br;
  vg_br_init(&br, p, (bits + 7) / 8);
  br.size_bits = bits;
  int n = 0;
  uint32_t index = 0;
  while (br.pos < bits && n < MAX_AUS_PER_PACKET) {
    out[n].size = vg_br_bits(&br, a->size_length);
    if (n == 0) index = vg_br_bits(&br, a->index_length);
    else index += vg_br_bits(&br, a->index_delta_length) + 1;
    if (a->cts_delta_length && vg_br_bit(&br)) vg_br_skip(&br, (size_t)a->cts_delta_length);
    if (a->dts_delta_length && vg_br_bit(&br)) vg_br_skip(&br, (size_t)a->dts_delta_length);
    if (a->random_access_indication) vg_br_skip(&br, 1);
    if (a->stream_state_indication) vg_br_skip(&br, (size_t)a->stream_state_indication);
    if (br.overrun) break;
    out[n].index = index;
    n++;
  }
  return n;
}

/* Continues or starts a fragmented AU. */
static void push_fragment(vg_depack_t *d, const vg_rtp_packet_t *pkt, int64_t pts, uint32_t total,
                          const uint8_t *data, size_t len, int after_gap) {
  vg__aac_state_t *a = &d->aac;
  if (d->au_active && (pkt->timestamp != d->au_ts || total != a->fragment_total)) {
    d->au_broken = 1; /* a different AU started before this one completed */
    vg__au_end(d);
  }
  if (!d->au_active) {
    d->loss_pending = after_gap;
    vg__au_begin(d, pkt->timestamp, pts);
    a->fragment_total = total;
  }
  vg__au_append(d, data, len);
  size_t have = d->au ? d->au->len : 0;
  if (have > total) d->au_broken = 1;
  if (have >= total || pkt->marker || d->au_too_big) {
    if (have < total) d->au_broken = 1;
    vg__au_end(d);
  }
}

static void aac_push(vg_depack_t *d, const vg_rtp_packet_t *pkt, int64_t pts) {
  const vg__aac_state_t *a = &d->aac;
  const uint8_t *p = pkt->payload;
  size_t len = pkt->payload_len;
  int after_gap = d->loss_pending;
  d->loss_pending = 0;
  if (len < 2) {
    d->stats.malformed++;
    return;
  }
  size_t header_bits = vg__rd16(p);
  size_t off = 2 + (header_bits + 7) / 8;
  if (header_bits == 0 || off > len) {
    d->stats.malformed++;
    return;
  }
  au_header_t aus[MAX_AUS_PER_PACKET];
  int n = parse_au_headers(a, p + 2, header_bits, aus);
  if (a->auxiliary_data_size_length) {
    if (off + 4 > len) {
      d->stats.malformed++;
      return;
    }
    vg_bitreader_t br;
    vg_br_init(&br, p + off, len - off);
    size_t aux_bits = vg_br_bits(&br, a->auxiliary_data_size_length);
    size_t aux_bytes = ((size_t)a->auxiliary_data_size_length + aux_bits + 7) / 8;
    if (aux_bytes > len - off) {
      d->stats.malformed++;
      return;
    }
    off += aux_bytes;
  }
  if (n == 0) {
    d->stats.malformed++;
    return;
  }
  size_t avail = len - off;
  if (n == 1 && (aus[0].size > avail || d->au_active)) {
    push_fragment(d, pkt, pts, aus[0].size, p + off, avail, after_gap);
    return;
  }
  if (d->au_active) {
    d->au_broken = 1; /* an unfinished fragmented AU */
    vg__au_end(d);
  }
  for (int i = 0; i < n; i++) {
    if (aus[i].size > len - off) {
      d->stats.malformed++;
      return;
    }
    vg__emit_audio(d, p + off, aus[i].size, pts + (int64_t)aus[i].index * a->duration);
    off += aus[i].size;
  }
}

static int aac_pack(vg_pack_t *p, const vg_frame_t *f) {
  /* AU-header section: 16 bits of headers, one header of 13-bit size and
   * 3-bit index 0. */
  if (f->len >= 8192) return VG_ETOOBIG;
  uint8_t hdr[4] = {0x00, 0x10, (uint8_t)(f->len >> 5), (uint8_t)((f->len & 0x1f) << 3)};
  size_t chunk = p->mtu - sizeof(hdr);
  uint32_t ts = (uint32_t)f->pts;
  for (size_t off = 0; off < f->len; off += chunk) {
    size_t take = f->len - off < chunk ? f->len - off : chunk;
    int r = vg__pack_add(p, off + take == f->len, ts, hdr, sizeof(hdr), f->data + off, take);
    if (r < 0) return r;
  }
  return 0;
}

const vg__payload_ops_t vg__payload_aac = {aac_init, aac_push, aac_pack};
