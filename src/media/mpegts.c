#include "media/mpegts.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "media/nal.h"

#define PID_PAT 0x0000
#define PID_NULL 0x1FFF
#define SECTION_MAX 1024 /* section_length is at most 1021 for PAT/PMT */
#define MAX_STREAMS VG_MAX_TRACKS
/* Tracks that lack their configuration are announced without it after this
 * much media time (90 kHz), so one silent stream cannot hold the rest back. */
#define READY_TIMEOUT_90K (2 * 90000)
#define WRAP33 (1LL << 33)
/* Frames of ready streams held back until the tracks are announced (a
 * muxer may send a second of video before the first audio packet). */
#define PENDING_MAX 512

typedef struct {
  uint16_t pid;
  uint8_t stream_type;
  vg_codec_t codec;
  vg_track_t desc; /* the current description; owns its extradata */
  int ready;       /* configuration known */
  int track;       /* index among the announced tracks, or -1 */
  int cc;          /* last continuity counter, -1 unknown */
  /* PES assembly */
  vg_buf_t *pes;
  size_t pes_expected; /* bytes of the PES packet in total, 0 = unbounded (video) */
  int pes_corrupt;
  int pes_rai; /* random access indicator on the packet that started it */
  vg_ts_clock_t clock;
  int64_t first_pts; /* unwrapped 90 kHz pts of the first PES, -1 none */
  int64_t last_pts;
  /* AAC: pts (sample units) of the next frame when a PES carries several */
  int64_t aac_next;
  int have_aac_next;
  int seen_key; /* video: a keyframe has been emitted since announcement */
} ts_stream_t;

typedef struct {
  uint8_t data[SECTION_MAX + 3];
  size_t len;
  int active;
  int cc;
} ts_section_t;

struct vg_ts_demux {
  vg_ts_sink_t sink;
  uint8_t carry[VG_TS_PACKET_SIZE];
  size_t carry_len;
  int in_sync;
  ts_section_t pat_sec, pmt_sec;
  int pmt_pid; /* -1 until the PAT names one */
  int program; /* program_number in use */
  int pmt_version;
  ts_stream_t streams[MAX_STREAMS];
  int stream_count;
  int announced;
  vg_track_t announced_tracks[MAX_STREAMS]; /* shallow copies handed to on_tracks */
  int announced_count;
  int64_t recv_us;
  vg_ts_stats_t st;
  struct {
    int stream;
    vg_frame_t f;
  } pending[PENDING_MAX];
  int pending_count;
};

/* ---- helpers ------------------------------------------------------------------ */

uint32_t vg_ts_crc32(const uint8_t *data, size_t len) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < len; i++) {
    crc ^= (uint32_t)data[i] << 24;
    for (int b = 0; b < 8; b++)
      crc = (crc & 0x80000000u) ? (crc << 1) ^ 0x04C11DB7u : crc << 1;
  }
  return crc;
}

int64_t vg_ts_unwrap(vg_ts_clock_t *c, uint64_t raw33) {
  int64_t raw = (int64_t)(raw33 & (WRAP33 - 1));
  if (!c->have) {
    c->have = 1;
    c->last = raw;
    c->epoch = 0;
    return raw;
  }
  int64_t diff = raw - c->last;
  if (diff < -(WRAP33 / 2)) {
    /* Moved forward across the wrap. */
    c->epoch += WRAP33;
  } else if (diff > WRAP33 / 2) {
    /* A value from just before the wrap, after we crossed it. */
    return c->epoch - WRAP33 + raw;
  } else if (diff < 0) {
    return c->epoch + raw; /* reordered (B-frames): do not move last back */
  }
  c->last = raw;
  return c->epoch + raw;
}

uint64_t vg_ts_stats_errors(const vg_ts_stats_t *st) {
  return st->sync_losses + st->cc_lost + st->crc_errors + st->bad_packets + st->pes_errors;
}

static void stream_reset_pes(ts_stream_t *s) {
  vg_buf_unref(&s->pes);
  s->pes_expected = 0;
  s->pes_corrupt = 0;
  s->pes_rai = 0;
}

static void pending_drop(vg_ts_demux_t *d) {
  for (int i = 0; i < d->pending_count; i++) {
    vg_frame_unref(&d->pending[i].f);
    d->st.frames_dropped++;
  }
  d->pending_count = 0;
}

static void streams_clear(vg_ts_demux_t *d) {
  pending_drop(d);
  for (int i = 0; i < d->stream_count; i++) {
    stream_reset_pes(&d->streams[i]);
    vg_track_clear(&d->streams[i].desc);
  }
  memset(d->streams, 0, sizeof(d->streams));
  d->stream_count = 0;
  d->announced = 0;
  d->announced_count = 0;
}

vg_ts_demux_t *vg_ts_demux_new(const vg_ts_sink_t *sink) {
  vg_ts_demux_t *d = calloc(1, sizeof(*d));
  if (!d) return NULL;
  d->sink = *sink;
  d->pmt_pid = -1;
  d->pmt_version = -1;
  d->pat_sec.cc = d->pmt_sec.cc = -1;
  d->st.last_pcr = -1;
  return d;
}

void vg_ts_demux_free(vg_ts_demux_t **dp) {
  vg_ts_demux_t *d = *dp;
  if (!d) return;
  *dp = NULL;
  streams_clear(d);
  free(d);
}

void vg_ts_demux_stats(const vg_ts_demux_t *d, vg_ts_stats_t *out) { *out = d->st; }

static void deliver(vg_ts_demux_t *d, ts_stream_t *s, vg_frame_t *f);

/* ---- tracks ------------------------------------------------------------------- */

static void announce(vg_ts_demux_t *d) {
  int n = 0;
  for (int i = 0; i < d->stream_count; i++) {
    ts_stream_t *s = &d->streams[i];
    s->track = -1;
    s->seen_key = 0;
    if (!s->ready) continue;
    s->track = n;
    d->announced_tracks[n++] = s->desc;
  }
  if (!n) return;
  d->announced = 1;
  d->announced_count = n;
  if (d->sink.on_tracks) d->sink.on_tracks(d->sink.opaque, d->announced_tracks, n, -1);
  for (int i = 0; i < d->pending_count; i++)
    deliver(d, &d->streams[d->pending[i].stream], &d->pending[i].f);
  d->pending_count = 0;
}

/* Announces the tracks when every stream is ready, or when one has waited
 * too long; re-announces when a stream left out becomes ready. */
static void maybe_announce(vg_ts_demux_t *d, const ts_stream_t *progress) {
  int ready = 0, all = 1, late = 0;
  for (int i = 0; i < d->stream_count; i++) {
    const ts_stream_t *s = &d->streams[i];
    if (s->ready)
      ready++;
    else
      all = 0;
    if (s->ready && s->track < 0 && d->announced) late = 1;
  }
  if (!ready) return;
  if (d->announced) {
    if (late) announce(d);
    return;
  }
  int timed_out = (progress && progress->first_pts >= 0 &&
                   progress->last_pts - progress->first_pts > READY_TIMEOUT_90K) ||
                  d->pending_count == PENDING_MAX;
  if (all || timed_out) announce(d);
}

static void track_updated(vg_ts_demux_t *d, ts_stream_t *s) {
  if (!d->announced || s->track < 0) return;
  vg_track_t *t = &d->announced_tracks[s->track];
  *t = s->desc;
  if (d->sink.on_tracks) d->sink.on_tracks(d->sink.opaque, d->announced_tracks, d->announced_count, s->track);
}

static void deliver(vg_ts_demux_t *d, ts_stream_t *s, vg_frame_t *f) {
  if (s->track < 0) {
    d->st.frames_dropped++;
    vg_frame_unref(f);
    return;
  }
  if (vg_codec_is_video(s->codec) && !s->seen_key) {
    /* Nothing before the first keyframe decodes. */
    if (!(f->flags & VG_FRAME_KEY)) {
      d->st.frames_dropped++;
      vg_frame_unref(f);
      return;
    }
    s->seen_key = 1;
  }
  f->track = (uint8_t)s->track;
  d->st.frames++;
  if (d->sink.on_frame)
    d->sink.on_frame(d->sink.opaque, f);
  else
    vg_frame_unref(f);
}

static void emit(vg_ts_demux_t *d, ts_stream_t *s, vg_buf_t *buf, uint32_t flags, int64_t pts) {
  vg_frame_t f = {
      .buf = buf,
      .data = buf->data,
      .len = (uint32_t)buf->len,
      .flags = flags,
      .pts = pts,
      .recv_us = d->recv_us,
  };
  if (d->announced) {
    deliver(d, s, &f);
    return;
  }
  if (!s->ready || d->pending_count == PENDING_MAX) {
    d->st.frames_dropped++;
    vg_frame_unref(&f);
    return;
  }
  d->pending[d->pending_count].stream = (int)(s - d->streams);
  d->pending[d->pending_count].f = f;
  d->pending_count++;
}

/* ---- elementary streams ------------------------------------------------------- */

static int is_aud(vg_codec_t codec, int type) { return codec == VG_CODEC_H264 ? type == 9 : type == 35; }

static void video_au(vg_ts_demux_t *d, ts_stream_t *s, const uint8_t *es, size_t len, int64_t pts) {
  vg_buf_t *au = vg_buf_alloc(len + 64);
  if (!au) return;
  size_t pos = 0, nal_len;
  const uint8_t *nal;
  /* Each Annex B start code (3 or 4 bytes) becomes a 4-byte length, so the
   * output can outgrow the input by one byte per NAL unit. */
  while (vg_nal_annexb_next(es, len, &pos, &nal, &nal_len) == 1) {
    int type = vg_nal_type(s->codec, nal, nal_len);
    if (type < 0 || is_aud(s->codec, type)) continue;
    if (vg_buf_reserve(&au, nal_len + 4) != 0) {
      vg_buf_unref(&au);
      return;
    }
    uint8_t *p = au->data + au->len;
    p[0] = (uint8_t)(nal_len >> 24), p[1] = (uint8_t)(nal_len >> 16), p[2] = (uint8_t)(nal_len >> 8),
    p[3] = (uint8_t)nal_len;
    memcpy(p + 4, nal, nal_len);
    au->len += nal_len + 4;
  }
  if (!au->len) {
    d->st.pes_errors++;
    vg_buf_unref(&au);
    return;
  }
  vg_buf_t *extra = NULL;
  int has_params = vg_nal_extradata_from_au(s->codec, au->data, au->len, &extra);
  if (has_params == 1) {
    const vg_buf_t *old = s->desc.extradata;
    if (!old || old->len != extra->len || memcmp(old->data, extra->data, extra->len) != 0) {
      vg_buf_unref(&s->desc.extradata);
      s->desc.extradata = extra;
      extra = NULL;
      vg_track_update_video_info(&s->desc, NULL, 0);
      if (!s->ready) {
        s->ready = 1;
        maybe_announce(d, s);
      } else {
        track_updated(d, s);
      }
    }
    vg_buf_unref(&extra);
  }
  uint32_t flags = 0;
  if (vg_nal_au_is_keyframe(s->codec, au->data, au->len) || (s->pes_rai && has_params == 1))
    flags |= VG_FRAME_KEY;
  if (s->pes_corrupt) flags |= VG_FRAME_CORRUPT;
  emit(d, s, au, flags, pts);
}

static const int adts_rates[16] = {96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050,
                                   16000, 12000, 11025, 8000,  7350,  0,     0,     0};

static void aac_pes(vg_ts_demux_t *d, ts_stream_t *s, const uint8_t *es, size_t len, int64_t pts90,
                    int has_pts) {
  size_t pos = 0;
  while (pos + 7 <= len) {
    const uint8_t *h = es + pos;
    if (h[0] != 0xFF || (h[1] & 0xF6) != 0xF0) {
      d->st.pes_errors++; /* lost ADTS sync: the rest of this PES is unusable */
      return;
    }
    int protection_absent = h[1] & 1;
    int object_type = ((h[2] >> 6) & 3) + 1;
    int rate_index = (h[2] >> 2) & 0xF;
    int channels = ((h[2] & 1) << 2) | (h[3] >> 6);
    size_t frame_len = ((size_t)(h[3] & 3) << 11) | ((size_t)h[4] << 3) | (h[5] >> 5);
    int blocks = (h[6] & 3) + 1;
    size_t header_len = protection_absent ? 7 : 9;
    int rate = adts_rates[rate_index];
    if (frame_len <= header_len || pos + frame_len > len || !rate) {
      d->st.pes_errors++;
      return;
    }
    uint8_t asc[2] = {(uint8_t)((object_type << 3) | (rate_index >> 1)),
                      (uint8_t)(((rate_index & 1) << 7) | (channels << 3))};
    const vg_buf_t *old = s->desc.extradata;
    if (!old || old->len != 2 || memcmp(old->data, asc, 2) != 0) {
      vg_buf_t *extra = vg_buf_from(asc, 2);
      if (!extra) return;
      vg_buf_unref(&s->desc.extradata);
      s->desc.extradata = extra;
      s->desc.sample_rate = rate;
      s->desc.clock_rate = (uint32_t)rate;
      s->desc.channels = channels;
      s->have_aac_next = 0;
      if (!s->ready) {
        s->ready = 1;
        maybe_announce(d, s);
      } else {
        track_updated(d, s);
      }
    }
    /* The PES pts belongs to the first frame that starts in it; the others
     * follow at 1024 samples per raw data block. */
    if (has_pts && pos == 0) {
      s->aac_next = pts90 * rate / 90000;
      s->have_aac_next = 1;
    }
    if (s->have_aac_next) {
      vg_buf_t *b = vg_buf_from(h + header_len, frame_len - header_len);
      if (!b) return;
      emit(d, s, b, VG_FRAME_KEY | (s->pes_corrupt ? VG_FRAME_CORRUPT : 0), s->aac_next);
      s->aac_next += 1024 * blocks;
    }
    pos += frame_len;
  }
  if (pos != len) d->st.pes_errors++;
}

static int64_t read_ts(const uint8_t *p) {
  return ((int64_t)(p[0] & 0x0E) << 29) | ((int64_t)p[1] << 22) | ((int64_t)(p[2] & 0xFE) << 14) |
         ((int64_t)p[3] << 7) | (p[4] >> 1);
}

/* A complete PES packet: parse its header and hand the payload on. */
static void pes_done(vg_ts_demux_t *d, ts_stream_t *s) {
  vg_buf_t *pes = s->pes;
  s->pes = NULL;
  if (!pes) return;
  const uint8_t *p = pes->data;
  size_t len = pes->len;
  if (len < 9 || p[0] != 0 || p[1] != 0 || p[2] != 1 || (p[6] & 0xC0) != 0x80) {
    d->st.pes_errors++;
    goto out;
  }
  size_t hdr_len = 9 + (size_t)p[8];
  if (s->pes_expected && len < s->pes_expected) {
    /* Cut short by the next packet's start: something was lost. */
    d->st.pes_errors++;
    s->pes_corrupt = 1;
  }
  if (s->pes_expected && len > s->pes_expected) len = s->pes_expected;
  if (hdr_len > len) {
    d->st.pes_errors++;
    goto out;
  }
  int pts_dts = p[7] >> 6;
  int has_pts = 0;
  int64_t pts = 0;
  if (pts_dts & 2) {
    if (p[8] < (pts_dts == 3 ? 10 : 5)) {
      d->st.pes_errors++;
      goto out;
    }
    pts = vg_ts_unwrap(&s->clock, (uint64_t)read_ts(p + 9));
    has_pts = 1;
    if (s->first_pts < 0) s->first_pts = pts;
    if (pts > s->last_pts) s->last_pts = pts;
  }
  size_t body_len = len - hdr_len;
  if (s->codec == VG_CODEC_AAC) {
    aac_pes(d, s, p + hdr_len, body_len, pts, has_pts);
  } else if (body_len) {
    if (!has_pts) pts = s->last_pts >= 0 ? s->last_pts : 0;
    video_au(d, s, p + hdr_len, body_len, pts);
  }
  if (!d->announced) maybe_announce(d, s);
out:
  vg_buf_unref(&pes);
  s->pes_expected = 0;
  s->pes_corrupt = 0;
  s->pes_rai = 0;
}

static void es_payload(vg_ts_demux_t *d, ts_stream_t *s, int pusi, int rai, const uint8_t *p, size_t n) {
  if (pusi) {
    if (s->pes) pes_done(d, s);
    s->pes = vg_buf_alloc(n > 4096 ? n : 4096);
    if (!s->pes) return;
    s->pes_rai = rai;
    if (n >= 6) {
      size_t plen = ((size_t)p[4] << 8) | p[5];
      s->pes_expected = plen ? plen + 6 : 0;
    }
  } else if (!s->pes) {
    return; /* the middle of a PES whose start we missed */
  }
  if (s->pes->len + n > VG_TS_MAX_PES) {
    d->st.pes_errors++;
    stream_reset_pes(s);
    return;
  }
  if (vg_buf_append(&s->pes, p, n) != 0) {
    stream_reset_pes(s);
    return;
  }
  if (s->pes_expected && s->pes->len >= s->pes_expected) pes_done(d, s);
}

/* ---- PSI ---------------------------------------------------------------------- */

static void parse_pat(vg_ts_demux_t *d, const uint8_t *sec, size_t len) {
  /* table_id 0; 8 header bytes, then 4-byte entries, then the CRC. */
  if (sec[0] != 0x00 || len < 12) {
    d->st.bad_packets++;
    return;
  }
  if (!(sec[5] & 1)) return; /* not yet applicable */
  for (size_t i = 8; i + 4 <= len - 4; i += 4) {
    int program = (sec[i] << 8) | sec[i + 1];
    int pid = ((sec[i + 2] & 0x1F) << 8) | sec[i + 3];
    if (program == 0) continue; /* the network PID */
    if (pid != d->pmt_pid || program != d->program) {
      d->pmt_pid = pid;
      d->program = program;
      d->pmt_version = -1;
      d->pmt_sec.active = 0;
      d->pmt_sec.cc = -1;
    }
    return;
  }
}

static vg_codec_t codec_of(uint8_t stream_type) {
  switch (stream_type) {
  case 0x1B: return VG_CODEC_H264;
  case 0x24: return VG_CODEC_H265;
  case 0x0F: return VG_CODEC_AAC;
  default: return VG_CODEC_NONE;
  }
}

static void parse_pmt(vg_ts_demux_t *d, const uint8_t *sec, size_t len) {
  if (sec[0] != 0x02 || len < 16) {
    d->st.bad_packets++;
    return;
  }
  int program = (sec[3] << 8) | sec[4];
  if (program != d->program || !(sec[5] & 1)) return;
  int version = (sec[5] >> 1) & 0x1F;
  size_t info_len = ((size_t)(sec[10] & 0x0F) << 8) | sec[11];
  size_t pos = 12 + info_len;
  size_t end = len - 4; /* the CRC */
  if (pos > end) {
    d->st.bad_packets++;
    return;
  }
  ts_stream_t found[MAX_STREAMS];
  int n = 0;
  while (pos + 5 <= end) {
    uint8_t type = sec[pos];
    int pid = ((sec[pos + 1] & 0x1F) << 8) | sec[pos + 2];
    size_t es_info = ((size_t)(sec[pos + 3] & 0x0F) << 8) | sec[pos + 4];
    pos += 5 + es_info;
    if (pos > end) {
      d->st.bad_packets++;
      return;
    }
    vg_codec_t codec = codec_of(type);
    if (codec == VG_CODEC_NONE || n == MAX_STREAMS || pid == PID_PAT || pid == PID_NULL || pid == d->pmt_pid)
      continue;
    int dup = 0;
    for (int i = 0; i < n; i++)
      dup |= found[i].pid == pid;
    if (dup) continue;
    memset(&found[n], 0, sizeof(found[n]));
    found[n].pid = (uint16_t)pid;
    found[n].stream_type = type;
    found[n].codec = codec;
    n++;
  }
  /* The same streams with a new version number keep their state. */
  int same = n == d->stream_count;
  for (int i = 0; same && i < n; i++)
    same = found[i].pid == d->streams[i].pid && found[i].stream_type == d->streams[i].stream_type;
  d->st.have_pmt = 1;
  d->pmt_version = version;
  if (same) return;
  streams_clear(d);
  for (int i = 0; i < n; i++) {
    ts_stream_t *s = &d->streams[i];
    *s = found[i];
    s->track = -1;
    s->cc = -1;
    s->first_pts = -1;
    s->last_pts = -1;
    s->desc.codec = s->codec;
    s->desc.clock_rate = 90000;
  }
  d->stream_count = n;
}

/* Appends section bytes and parses each section as it completes. */
static void section_feed(vg_ts_demux_t *d, ts_section_t *sec, int is_pat, const uint8_t *p, size_t n) {
  while (n > 0 && sec->active) {
    if (sec->len == 0 && p[0] == 0xFF) {
      sec->active = 0; /* stuffing until the next section start */
      return;
    }
    size_t need = 3 - sec->len;
    size_t sec_len = 0;
    if (sec->len >= 3) {
      sec_len = (((size_t)(sec->data[1] & 0x0F) << 8) | sec->data[2]) + 3;
      need = sec_len - sec->len;
    }
    size_t take = need < n ? need : n;
    memcpy(sec->data + sec->len, p, take);
    sec->len += take;
    p += take;
    n -= take;
    if (sec->len == 3) {
      sec_len = (((size_t)(sec->data[1] & 0x0F) << 8) | sec->data[2]) + 3;
      if (sec_len > sizeof(sec->data) || sec_len < 12 || !(sec->data[1] & 0x80)) {
        d->st.bad_packets++;
        sec->active = 0;
        return;
      }
      continue;
    }
    if (sec->len < 3 || sec->len < sec_len) continue;
    if (vg_ts_crc32(sec->data, sec_len) != 0)
      d->st.crc_errors++;
    else if (is_pat)
      parse_pat(d, sec->data, sec_len);
    else
      parse_pmt(d, sec->data, sec_len);
    sec->len = 0; /* another section may follow in the same packet */
  }
}

/* Section assembly: a section may start anywhere in a packet (after the
 * pointer field) and run over several packets. */
static void psi_payload(vg_ts_demux_t *d, ts_section_t *sec, int is_pat, int pusi, const uint8_t *p,
                        size_t n) {
  if (!pusi) {
    section_feed(d, sec, is_pat, p, n);
    return;
  }
  size_t pointer = p[0];
  if (pointer > n - 1) {
    d->st.bad_packets++;
    sec->active = 0;
    return;
  }
  /* The bytes before the new section finish the previous one. */
  if (pointer) section_feed(d, sec, is_pat, p + 1, pointer);
  sec->active = 1;
  sec->len = 0;
  section_feed(d, sec, is_pat, p + 1 + pointer, n - 1 - pointer);
}

/* ---- packets ------------------------------------------------------------------ */

/* Continuity: returns 1 when the packet is a duplicate to ignore. */
static int check_cc(vg_ts_demux_t *d, int *last, int cc, int has_payload, int discontinuity, int *lost) {
  *lost = 0;
  if (!has_payload) return 0;
  if (*last < 0 || discontinuity) {
    *last = cc;
    return 0;
  }
  if (cc == *last) return 1; /* a duplicate packet may be sent once */
  int expected = (*last + 1) & 0xF;
  if (cc != expected) {
    *lost = (cc - expected) & 0xF;
    d->st.cc_lost += (uint64_t)*lost;
  }
  *last = cc;
  return 0;
}

static void packet(vg_ts_demux_t *d, const uint8_t *pkt) {
  d->st.packets++;
  if (pkt[1] & 0x80) { /* transport_error_indicator */
    d->st.bad_packets++;
    return;
  }
  int pusi = (pkt[1] >> 6) & 1;
  int pid = ((pkt[1] & 0x1F) << 8) | pkt[2];
  int afc = (pkt[3] >> 4) & 3;
  int cc = pkt[3] & 0xF;
  if (pid == PID_NULL) return;
  if (afc == 0) {
    d->st.bad_packets++;
    return;
  }
  size_t pos = 4;
  int discontinuity = 0, rai = 0;
  if (afc & 2) {
    size_t af_len = pkt[4];
    pos = 5 + af_len;
    if (pos > VG_TS_PACKET_SIZE) {
      d->st.bad_packets++;
      return;
    }
    if (af_len >= 1) {
      uint8_t flags = pkt[5];
      discontinuity = (flags >> 7) & 1;
      rai = (flags >> 6) & 1;
      if ((flags & 0x10) && af_len >= 7) {
        const uint8_t *c = pkt + 6;
        int64_t base = ((int64_t)c[0] << 25) | ((int64_t)c[1] << 17) | ((int64_t)c[2] << 9) |
                       ((int64_t)c[3] << 1) | (c[4] >> 7);
        int ext = ((c[4] & 1) << 8) | c[5];
        d->st.last_pcr = base * 300 + ext;
      }
    }
  }
  int has_payload = afc & 1;
  const uint8_t *payload = pkt + pos;
  size_t n = has_payload ? VG_TS_PACKET_SIZE - pos : 0;
  int lost;
  if (pid == PID_PAT || pid == d->pmt_pid) {
    ts_section_t *sec = pid == PID_PAT ? &d->pat_sec : &d->pmt_sec;
    if (check_cc(d, &sec->cc, cc, has_payload, discontinuity, &lost)) return;
    if (lost && !pusi) sec->active = 0;
    if (n) psi_payload(d, sec, pid == PID_PAT, pusi, payload, n);
    return;
  }
  for (int i = 0; i < d->stream_count; i++) {
    ts_stream_t *s = &d->streams[i];
    if (s->pid != pid) continue;
    if (check_cc(d, &s->cc, cc, has_payload, discontinuity, &lost)) return;
    if (lost) s->pes_corrupt = 1;
    if (n)
      es_payload(d, s, pusi, rai, payload, n);
    else if (pusi)
      d->st.bad_packets++;
    return;
  }
}

int vg_ts_demux_push(vg_ts_demux_t *d, const uint8_t *data, size_t len, int64_t recv_us) {
  d->recv_us = recv_us;
  d->st.bytes += len;
  if (d->carry_len) {
    size_t take = VG_TS_PACKET_SIZE - d->carry_len;
    if (take > len) take = len;
    memcpy(d->carry + d->carry_len, data, take);
    d->carry_len += take;
    data += take;
    len -= take;
    if (d->carry_len < VG_TS_PACKET_SIZE) return 0;
    d->carry_len = 0;
    d->st.unsynced_run = 0;
    packet(d, d->carry);
  }
  while (len >= VG_TS_PACKET_SIZE) {
    /* In sync: the next byte is 0x47. After a loss, a 0x47 must be followed
     * by another one a packet later (when we can see it) to count. */
    if (data[0] == 0x47 && (d->in_sync || len < 2 * VG_TS_PACKET_SIZE || data[VG_TS_PACKET_SIZE] == 0x47)) {
      d->in_sync = 1;
      d->st.unsynced_run = 0;
      packet(d, data);
      data += VG_TS_PACKET_SIZE;
      len -= VG_TS_PACKET_SIZE;
      continue;
    }
    if (d->in_sync) d->st.sync_losses++;
    d->in_sync = 0;
    const uint8_t *next = memchr(data + 1, 0x47, len - 1);
    size_t skip = next ? (size_t)(next - data) : len;
    d->st.skipped_bytes += skip;
    d->st.unsynced_run += skip;
    data += skip;
    len -= skip;
  }
  if (len) {
    if (data[0] != 0x47) {
      const uint8_t *next = memchr(data, 0x47, len);
      size_t skip = next ? (size_t)(next - data) : len;
      if (d->in_sync) d->st.sync_losses++;
      d->in_sync = 0;
      d->st.skipped_bytes += skip;
      d->st.unsynced_run += skip;
      data += skip;
      len -= skip;
    }
    memcpy(d->carry, data, len);
    d->carry_len = len;
  }
  return 0;
}

void vg_ts_demux_flush(vg_ts_demux_t *d, int64_t recv_us) {
  d->recv_us = recv_us;
  for (int i = 0; i < d->stream_count; i++)
    if (d->streams[i].pes) pes_done(d, &d->streams[i]);
  /* No more input: what is ready is all there will be. */
  if (!d->announced) announce(d);
}
