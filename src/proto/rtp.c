#include "proto/rtp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/* RFC 3550 A.1: how far a sequence number may jump before it is taken as a
 * restart of the source rather than loss or reordering. */
#define MAX_DROPOUT 3000
#define MAX_MISORDER 100

static uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static uint32_t rd32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

int vg_rtp_parse(const uint8_t *data, size_t len, vg_rtp_packet_t *out) {
  if (len < VG_RTP_HEADER_SIZE || (data[0] >> 6) != 2) return VG_EPROTO;
  int padding = (data[0] >> 5) & 1;
  out->has_extension = (data[0] >> 4) & 1;
  out->csrc_count = data[0] & 0x0f;
  out->marker = data[1] >> 7;
  out->payload_type = data[1] & 0x7f;
  out->seq = rd16(data + 2);
  out->timestamp = rd32(data + 4);
  out->ssrc = rd32(data + 8);
  size_t off = VG_RTP_HEADER_SIZE;
  if (len - off < (size_t)out->csrc_count * 4) return VG_EPROTO;
  for (int i = 0; i < out->csrc_count; i++, off += 4) out->csrc[i] = rd32(data + off);
  out->ext_profile = 0;
  out->ext_data = NULL;
  out->ext_len = 0;
  if (out->has_extension) {
    if (len - off < 4) return VG_EPROTO;
    out->ext_profile = rd16(data + off);
    size_t words = rd16(data + off + 2);
    off += 4;
    if (len - off < words * 4) return VG_EPROTO;
    out->ext_data = data + off;
    out->ext_len = words * 4;
    off += words * 4;
  }
  size_t end = len;
  if (padding) {
    /* The last byte counts the padding, itself included (RFC 3550 5.1). */
    uint8_t pad = data[len - 1];
    if (pad == 0 || pad > len - off) return VG_EPROTO;
    end -= pad;
  }
  out->payload = data + off;
  out->payload_len = end - off;
  return 0;
}

int vg_rtp_is_rtcp(const uint8_t *data, size_t len) {
  return len >= 8 && (data[0] >> 6) == 2 && data[1] >= 192 && data[1] <= 223;
}

void vg_rtp_write_header(const vg_rtp_packet_t *h, uint8_t *out) {
  out[0] = 0x80;
  out[1] = (uint8_t)((h->marker ? 0x80 : 0) | (h->payload_type & 0x7f));
  vg_rtp_header_patch(out, h->seq, h->timestamp, h->ssrc);
}

int64_t vg_rtp_unwrap(vg_rtp_unwrap_t *u, uint32_t value) {
  int64_t mod = (int64_t)1 << u->bits;
  value &= (uint32_t)(mod - 1);
  if (!u->started) {
    u->started = 1;
    u->last = value;
    return value;
  }
  int64_t diff = (int64_t)value - (u->last & (mod - 1));
  if (diff >= mod / 2) diff -= mod;
  else if (diff < -mod / 2) diff += mod;
  int64_t v = u->last + diff;
  /* Track the highest value so a burst of late packets cannot drag the
   * reference backwards across a wrap. */
  if (v > u->last) u->last = v;
  return v;
}

/* ---- receiver statistics ---------------------------------------------- */

void vg_rtp_stats_init(vg_rtp_stats_t *s, uint32_t clock_rate) {
  memset(s, 0, sizeof(*s));
  s->clock_rate = clock_rate;
  s->bad_seq = 0x10000;
}

static void stats_restart(vg_rtp_stats_t *s, uint16_t seq) {
  s->base_seq = s->max_seq = seq;
  s->received = 0;
  s->expected_prior = s->received_prior = 0;
  s->bad_seq = 0x10000;
  s->have_transit = 0;
}

/* Arrival time in timestamp units without overflowing for any realistic
 * clock rate and uptime. */
static int64_t arrival_in_ts_units(int64_t arrival_us, uint32_t rate) {
  return (arrival_us / 1000000) * rate + (arrival_us % 1000000) * rate / 1000000;
}

int vg_rtp_stats_update(vg_rtp_stats_t *s, uint16_t seq, uint32_t rtp_ts, int64_t arrival_us) {
  if (!s->started) {
    s->started = 1;
    stats_restart(s, seq);
  } else {
    int64_t delta = (int16_t)(uint16_t)(seq - (uint16_t)s->max_seq);
    int64_t ext = s->max_seq + delta;
    if (delta > MAX_DROPOUT || delta < -MAX_MISORDER) {
      /* Unwrapped through int16 a jump is at most 32767 either way; a
       * restart is recognised by two consecutive packets (A.1). */
      if (seq != s->bad_seq) {
        s->bad_seq = (uint16_t)(seq + 1);
        return VG_EAGAIN;
      }
      stats_restart(s, seq);
      s->resyncs++;
    } else if (ext > s->max_seq) {
      s->max_seq = ext;
    }
  }
  s->received++;
  if (s->clock_rate) {
    int64_t transit = arrival_in_ts_units(arrival_us, s->clock_rate) - rtp_ts;
    if (s->have_transit) {
      /* Differences of transit times are taken modulo 2^32 so a timestamp
       * wrap does not look like a 4-billion-unit jump. */
      int32_t d = (int32_t)(uint32_t)(transit - s->transit);
      s->jitter += (fabs((double)d) - s->jitter) / 16.0;
    }
    s->transit = transit;
    s->have_transit = 1;
  }
  return 0;
}

int64_t vg_rtp_stats_expected(const vg_rtp_stats_t *s) {
  return s->started ? s->max_seq - s->base_seq + 1 : 0;
}

int64_t vg_rtp_stats_lost(const vg_rtp_stats_t *s) {
  return vg_rtp_stats_expected(s) - (int64_t)s->received;
}

/* ---- reorder buffer --------------------------------------------------- */

typedef struct {
  vg_buf_t *pkt;
  int64_t ext_seq;
  int64_t arrival_us;
} reorder_slot_t;

struct vg_rtp_reorder {
  unsigned window;
  int64_t max_delay_us;
  vg_rtp_release_fn release;
  void *opaque;
  reorder_slot_t *slots;
  unsigned held;
  int started;
  int64_t next; /* extended seq of the next packet to release */
  vg_rtp_reorder_stats_t stats;
};

int vg_rtp_reorder_new(unsigned window, int64_t max_delay_us, vg_rtp_release_fn release, void *opaque,
                       vg_rtp_reorder_t **out) {
  *out = NULL;
  if (window == 0 || window > VG_RTP_REORDER_MAX_WINDOW || !release || max_delay_us < 0) return VG_EINVAL;
  vg_rtp_reorder_t *r = calloc(1, sizeof(*r));
  if (!r) return VG_ENOMEM;
  r->slots = calloc(window, sizeof(*r->slots));
  if (!r->slots) {
    free(r);
    return VG_ENOMEM;
  }
  r->window = window;
  r->max_delay_us = max_delay_us;
  r->release = release;
  r->opaque = opaque;
  *out = r;
  return 0;
}

void vg_rtp_reorder_free(vg_rtp_reorder_t **rp) {
  vg_rtp_reorder_t *r = *rp;
  if (!r) return;
  for (unsigned i = 0; i < r->window; i++) vg_buf_unref(&r->slots[i].pkt);
  free(r->slots);
  free(r);
  *rp = NULL;
}

static reorder_slot_t *slot_of(vg_rtp_reorder_t *r, int64_t ext) {
  /* ext is never negative: it starts at a 16-bit value and only grows. */
  return &r->slots[(uint64_t)ext % r->window];
}

/* Releases the in-order run starting at next. */
static void release_ready(vg_rtp_reorder_t *r) {
  for (;;) {
    reorder_slot_t *s = slot_of(r, r->next);
    if (!s->pkt || s->ext_seq != r->next) return;
    vg_buf_t *pkt = s->pkt;
    s->pkt = NULL;
    r->held--;
    r->next++;
    r->stats.released++;
    r->release(r->opaque, pkt, s->ext_seq);
  }
}

/* The first held packet at or after next, or NULL. */
static reorder_slot_t *first_held(const vg_rtp_reorder_t *r) {
  if (r->held == 0) return NULL;
  for (unsigned i = 0; i < r->window; i++) {
    reorder_slot_t *s = slot_of((vg_rtp_reorder_t *)r, r->next + i);
    if (s->pkt) return s;
  }
  return NULL;
}

/* Gives up the gap before the first held packet and releases what follows. */
static void skip_gap(vg_rtp_reorder_t *r, reorder_slot_t *s) {
  r->stats.lost += (uint64_t)(s->ext_seq - r->next);
  r->next = s->ext_seq;
  release_ready(r);
}

void vg_rtp_reorder_flush(vg_rtp_reorder_t *r) {
  reorder_slot_t *s;
  while ((s = first_held(r)) != NULL) skip_gap(r, s);
}

void vg_rtp_reorder_poll(vg_rtp_reorder_t *r, int64_t now_us) {
  if (r->max_delay_us == 0) return;
  reorder_slot_t *s;
  while ((s = first_held(r)) != NULL && s->arrival_us + r->max_delay_us <= now_us) skip_gap(r, s);
}

int64_t vg_rtp_reorder_deadline(const vg_rtp_reorder_t *r) {
  if (r->max_delay_us == 0) return INT64_MAX;
  const reorder_slot_t *s = first_held(r);
  return s ? s->arrival_us + r->max_delay_us : INT64_MAX;
}

int vg_rtp_reorder_push(vg_rtp_reorder_t *r, vg_buf_t *pkt, int64_t now_us) {
  if (!pkt || pkt->len < VG_RTP_HEADER_SIZE || (pkt->data[0] >> 6) != 2) {
    r->stats.malformed++;
    vg_buf_unref(&pkt);
    return 0;
  }
  uint16_t seq = rd16(pkt->data + 2);
  if (!r->started) {
    r->started = 1;
    r->next = seq;
  }
  int64_t ext = r->next + (int16_t)(uint16_t)(seq - (uint16_t)r->next);
  if (ext < r->next - MAX_DROPOUT || ext > r->next + MAX_DROPOUT + r->window) {
    /* The source restarted: hand over what is held and continue from the
     * new number, always forward so extended numbers never go back. */
    vg_rtp_reorder_flush(r);
    r->next += (uint16_t)(seq - (uint16_t)r->next);
    ext = r->next;
    r->stats.resyncs++;
  } else if (ext < r->next) {
    r->stats.late++;
    vg_buf_unref(&pkt);
    vg_rtp_reorder_poll(r, now_us);
    return 0;
  }
  /* Make room: gaps that fall out of the window are given up. */
  while (ext - r->next >= (int64_t)r->window) {
    reorder_slot_t *s = slot_of(r, r->next);
    if (s->pkt && s->ext_seq == r->next) {
      release_ready(r);
    } else {
      r->stats.lost++;
      r->next++;
      release_ready(r);
    }
  }
  reorder_slot_t *s = slot_of(r, ext);
  if (s->pkt) {
    r->stats.duplicates++;
    vg_buf_unref(&pkt);
  } else {
    s->pkt = pkt;
    s->ext_seq = ext;
    s->arrival_us = now_us;
    r->held++;
    release_ready(r);
  }
  vg_rtp_reorder_poll(r, now_us);
  return 0;
}

void vg_rtp_reorder_get_stats(const vg_rtp_reorder_t *r, vg_rtp_reorder_stats_t *out) { *out = r->stats; }
