#include "proto/rtcp.h"

#include <string.h>

#include "base/error.h"

/* Seconds from 1900-01-01 (NTP era 0) to 1970-01-01. */
#define NTP_UNIX_OFFSET 2208988800ull

static uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static uint32_t rd32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static void wr16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static void wr32(uint8_t *p, uint32_t v) {
  wr16(p, (uint16_t)(v >> 16));
  wr16(p + 2, (uint16_t)v);
}

static void parse_report_blocks(const uint8_t *p, size_t count, vg_rtcp_info_t *out) {
  for (size_t i = 0; i < count && out->report_count < VG_RTCP_MAX_REPORTS; i++, p += 24) {
    vg_rtcp_report_block_t *b = &out->reports[out->report_count++];
    b->ssrc = rd32(p);
    b->fraction_lost = p[4];
    /* Sign-extend the 24-bit cumulative count. */
    int32_t lost = (int32_t)(((uint32_t)p[5] << 16) | ((uint32_t)p[6] << 8) | p[7]);
    if (lost & 0x800000) lost -= 0x1000000;
    b->cumulative_lost = lost;
    b->ext_max_seq = rd32(p + 8);
    b->jitter = rd32(p + 12);
    b->lsr = rd32(p + 16);
    b->dlsr = rd32(p + 20);
  }
}

static void parse_sdes(const uint8_t *p, size_t len, unsigned chunks, vg_rtcp_info_t *out) {
  size_t off = 0;
  for (unsigned c = 0; c < chunks && off + 4 <= len; c++) {
    uint32_t ssrc = rd32(p + off);
    off += 4;
    /* Items until a zero type; the chunk then pads to a 32-bit boundary. */
    while (off < len && p[off] != 0) {
      if (len - off < 2) return;
      uint8_t type = p[off], n = p[off + 1];
      if (len - off - 2 < n) return;
      if (type == 1 && !out->has_cname) {
        out->has_cname = 1;
        out->cname_ssrc = ssrc;
        memcpy(out->cname, p + off + 2, n);
        out->cname[n] = 0;
      }
      off += 2 + (size_t)n;
    }
    off = (off + 4) & ~(size_t)3; /* past the null item and padding */
  }
}

int vg_rtcp_parse(const uint8_t *data, size_t len, vg_rtcp_info_t *out) {
  memset(out, 0, sizeof(*out));
  size_t off = 0;
  while (off < len) {
    if (len - off < 4) return VG_EPROTO;
    const uint8_t *h = data + off;
    if ((h[0] >> 6) != 2) return VG_EPROTO;
    unsigned count = h[0] & 0x1f;
    uint8_t pt = h[1];
    size_t plen = ((size_t)rd16(h + 2) + 1) * 4;
    if (plen > len - off) return VG_EPROTO;
    const uint8_t *body = h + 4;
    size_t blen = plen - 4;
    if ((h[0] >> 5) & 1) { /* padding: last octet counts it */
      uint8_t pad = h[plen - 1];
      if (pad == 0 || pad > blen) return VG_EPROTO;
      blen -= pad;
    }
    switch (pt) {
    case VG_RTCP_SR:
      if (blen < 24 + (size_t)count * 24) return VG_EPROTO;
      if (!out->has_sr) {
        out->has_sr = 1;
        out->sr.ssrc = rd32(body);
        out->sr.ntp = ((uint64_t)rd32(body + 4) << 32) | rd32(body + 8);
        out->sr.rtp_ts = rd32(body + 12);
        out->sr.packet_count = rd32(body + 16);
        out->sr.octet_count = rd32(body + 20);
      }
      parse_report_blocks(body + 24, count, out);
      break;
    case VG_RTCP_RR:
      if (blen < 4 + (size_t)count * 24) return VG_EPROTO;
      if (!out->rr_ssrc) out->rr_ssrc = rd32(body);
      parse_report_blocks(body + 4, count, out);
      break;
    case VG_RTCP_SDES: parse_sdes(body, blen, count, out); break;
    case VG_RTCP_BYE:
      if (blen < (size_t)count * 4) return VG_EPROTO;
      for (unsigned i = 0; i < count && out->bye_count < VG_RTCP_MAX_BYE; i++)
        out->bye_ssrc[out->bye_count++] = rd32(body + i * 4);
      break;
    default:
      if (pt < 192 || pt > 223) {
        if (off == 0) return VG_EPROTO; /* not RTCP at all */
      }
      out->unknown_packets++;
      break;
    }
    off += plen;
  }
  return 0;
}

uint64_t vg_ntp_from_utc_us(int64_t utc_us) {
  uint64_t sec = (uint64_t)(utc_us / 1000000) + NTP_UNIX_OFFSET;
  uint64_t frac = ((uint64_t)(utc_us % 1000000) << 32) / 1000000;
  return (sec << 32) | frac;
}

int64_t vg_ntp_to_utc_us(uint64_t ntp) {
  int64_t sec = (int64_t)(ntp >> 32) - (int64_t)NTP_UNIX_OFFSET;
  int64_t us = (int64_t)(((ntp & 0xffffffffu) * 1000000 + (1u << 31)) >> 32);
  return sec * 1000000 + us;
}

int64_t vg_rtcp_sr_utc_us(const vg_rtcp_sr_t *sr, uint32_t clock_rate, uint32_t rtp_ts) {
  int64_t base = vg_ntp_to_utc_us(sr->ntp);
  if (clock_rate == 0) return base;
  int64_t diff = (int32_t)(rtp_ts - sr->rtp_ts);
  return base + diff * 1000000 / clock_rate;
}

void vg_rtcp_note_sr(vg_rtp_stats_t *s, const vg_rtcp_sr_t *sr, int64_t now_us) {
  s->last_sr_ntp_mid = (uint32_t)(sr->ntp >> 16);
  s->last_sr_recv_us = now_us;
}

void vg_rtcp_report_block_from_stats(vg_rtp_stats_t *s, int64_t now_us, vg_rtcp_report_block_t *out) {
  memset(out, 0, sizeof(*out));
  out->ssrc = s->ssrc;
  if (!s->started) return;
  int64_t expected = vg_rtp_stats_expected(s);
  int64_t lost = expected - (int64_t)s->received;
  /* The field is 24-bit signed: clamp rather than wrap (A.3). */
  if (lost > 0x7fffff) lost = 0x7fffff;
  if (lost < -0x800000) lost = -0x800000;
  out->cumulative_lost = (int32_t)lost;
  int64_t expected_interval = expected - (int64_t)s->expected_prior;
  int64_t received_interval = (int64_t)s->received - (int64_t)s->received_prior;
  int64_t lost_interval = expected_interval - received_interval;
  s->expected_prior = (uint64_t)expected;
  s->received_prior = s->received;
  if (expected_interval > 0 && lost_interval > 0) {
    int64_t fraction = (lost_interval << 8) / expected_interval;
    out->fraction_lost = (uint8_t)(fraction > 255 ? 255 : fraction);
  }
  out->ext_max_seq = (uint32_t)s->max_seq;
  out->jitter = (uint32_t)s->jitter;
  if (s->last_sr_recv_us) {
    out->lsr = s->last_sr_ntp_mid;
    int64_t delay = now_us - s->last_sr_recv_us;
    if (delay < 0) delay = 0;
    out->dlsr = (uint32_t)((delay << 16) / 1000000);
  }
}

static int write_sdes_cname(uint32_t ssrc, const char *cname, uint8_t *out, size_t cap) {
  size_t n = cname ? strlen(cname) : 0;
  if (n > VG_RTCP_MAX_CNAME) return VG_EINVAL;
  /* header 4 + ssrc 4 + item (2 + n) + null item, padded to 4 */
  size_t len = (8 + 2 + n + 1 + 3) & ~(size_t)3;
  if (cap < len) return VG_ETOOBIG;
  memset(out, 0, len);
  out[0] = 0x81;
  out[1] = VG_RTCP_SDES;
  wr16(out + 2, (uint16_t)(len / 4 - 1));
  wr32(out + 4, ssrc);
  out[8] = 1; /* CNAME */
  out[9] = (uint8_t)n;
  if (n) memcpy(out + 10, cname, n);
  return (int)len;
}

static void write_report_block(uint8_t *p, const vg_rtcp_report_block_t *b) {
  wr32(p, b->ssrc);
  uint32_t lost = (uint32_t)b->cumulative_lost & 0xffffff;
  wr32(p + 4, ((uint32_t)b->fraction_lost << 24) | lost);
  wr32(p + 8, b->ext_max_seq);
  wr32(p + 12, b->jitter);
  wr32(p + 16, b->lsr);
  wr32(p + 20, b->dlsr);
}

int vg_rtcp_build_rr(uint32_t own_ssrc, const vg_rtcp_report_block_t *blocks, size_t n, const char *cname,
                     uint8_t *out, size_t cap) {
  if (n > 31) return VG_EINVAL;
  size_t len = 8 + n * 24;
  if (cap < len) return VG_ETOOBIG;
  out[0] = (uint8_t)(0x80 | n);
  out[1] = VG_RTCP_RR;
  wr16(out + 2, (uint16_t)(len / 4 - 1));
  wr32(out + 4, own_ssrc);
  for (size_t i = 0; i < n; i++) write_report_block(out + 8 + i * 24, &blocks[i]);
  int r = write_sdes_cname(own_ssrc, cname, out + len, cap - len);
  return r < 0 ? r : (int)len + r;
}

void vg_rtcp_sr_fill(vg_rtcp_sr_t *sr, uint32_t ssrc, int64_t now_utc_us, uint32_t ref_rtp_ts,
                     int64_t ref_utc_us, uint32_t clock_rate, uint32_t packet_count, uint32_t octet_count) {
  sr->ssrc = ssrc;
  sr->ntp = vg_ntp_from_utc_us(now_utc_us);
  int64_t elapsed_us = now_utc_us - ref_utc_us;
  int64_t ticks = (elapsed_us / 1000000) * clock_rate + (elapsed_us % 1000000) * clock_rate / 1000000;
  sr->rtp_ts = ref_rtp_ts + (uint32_t)ticks;
  sr->packet_count = packet_count;
  sr->octet_count = octet_count;
}

int vg_rtcp_build_sr(const vg_rtcp_sr_t *sr, const char *cname, uint8_t *out, size_t cap) {
  if (cap < 28) return VG_ETOOBIG;
  out[0] = 0x80;
  out[1] = VG_RTCP_SR;
  wr16(out + 2, 6);
  wr32(out + 4, sr->ssrc);
  wr32(out + 8, (uint32_t)(sr->ntp >> 32));
  wr32(out + 12, (uint32_t)sr->ntp);
  wr32(out + 16, sr->rtp_ts);
  wr32(out + 20, sr->packet_count);
  wr32(out + 24, sr->octet_count);
  int r = write_sdes_cname(sr->ssrc, cname, out + 28, cap - 28);
  return r < 0 ? r : 28 + r;
}

int vg_rtcp_build_bye(uint32_t ssrc, uint8_t *out, size_t cap) {
  if (cap < 8) return VG_ETOOBIG;
  out[0] = 0x81;
  out[1] = VG_RTCP_BYE;
  wr16(out + 2, 1);
  wr32(out + 4, ssrc);
  return 8;
}
