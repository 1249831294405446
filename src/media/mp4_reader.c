#include "media/mp4_reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"

#define FOURCC VG_MP4_FOURCC

/* Top-level boxes skipped before the moov before the walker gives up: a
 * real file has a handful (ftyp, free, uuid...). */
#define MAX_BOXES_BEFORE_MOOV 1024
/* Bytes read for a box header: 8 + 8 (largesize) + 16 (uuid). */
#define HEADER_READ 32

/* ---- a bounded cursor over bytes ---- */

typedef struct {
  const uint8_t *p;
  size_t len;
  size_t pos;
  int bad; /* set when a read went past len; values read then are 0 */
} cursor_t;

static cursor_t cursor(const uint8_t *p, size_t len) { return (cursor_t){p, len, 0, 0}; }

static size_t cur_left(const cursor_t *c) { return c->len - c->pos; }

static int cur_need(cursor_t *c, size_t n) {
  if (c->bad || n > cur_left(c)) {
    c->bad = 1;
    return 0;
  }
  return 1;
}

static void cur_skip(cursor_t *c, size_t n) {
  if (cur_need(c, n)) c->pos += n;
}

static uint8_t cur_u8(cursor_t *c) { return cur_need(c, 1) ? c->p[c->pos++] : 0; }

static uint16_t cur_u16(cursor_t *c) {
  if (!cur_need(c, 2)) return 0;
  uint16_t v = (uint16_t)(c->p[c->pos] << 8 | c->p[c->pos + 1]);
  c->pos += 2;
  return v;
}

static uint32_t cur_u24(cursor_t *c) {
  if (!cur_need(c, 3)) return 0;
  uint32_t v = (uint32_t)c->p[c->pos] << 16 | (uint32_t)c->p[c->pos + 1] << 8 | c->p[c->pos + 2];
  c->pos += 3;
  return v;
}

static uint32_t cur_u32(cursor_t *c) {
  if (!cur_need(c, 4)) return 0;
  const uint8_t *p = c->p + c->pos;
  c->pos += 4;
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t cur_u64(cursor_t *c) {
  uint64_t hi = cur_u32(c);
  return hi << 32 | cur_u32(c);
}

/* version (8 bits) and flags (24 bits) of a full box */
static void cur_full(cursor_t *c, int *version, uint32_t *flags) {
  *version = cur_u8(c);
  *flags = cur_u24(c);
}

/* ---- boxes ---- */

int vg_mp4_box_header(const uint8_t *p, size_t len, uint64_t avail, vg_mp4_box_t *out) {
  memset(out, 0, sizeof(*out));
  if (len < 8) return VG_EINCOMPLETE;
  uint64_t size = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
  out->type = FOURCC(p[4], p[5], p[6], p[7]);
  out->header = 8;
  if (size == 1) {
    if (len < 16) return VG_EINCOMPLETE;
    size = 0;
    for (int i = 8; i < 16; i++)
      size = size << 8 | p[i];
    out->header = 16;
  } else if (size == 0) {
    out->to_end = 1;
    size = avail;
  }
  if (out->type == FOURCC('u', 'u', 'i', 'd')) {
    if (len < (size_t)out->header + 16) return VG_EINCOMPLETE;
    memcpy(out->uuid, p + out->header, 16);
    out->header += 16;
  }
  if (size < out->header) return VG_EPROTO;
  out->size = size;
  return 0;
}

/* Iterates the child boxes of a container body: *box and the child's body
 * (payload without header). Returns 1 for a child, 0 at the end, or
 * VG_EPROTO when a child does not fit in its parent. */
static int next_child(cursor_t *parent, vg_mp4_box_t *box, cursor_t *body) {
  if (parent->bad) return VG_EPROTO;
  size_t left = cur_left(parent);
  if (left == 0) return 0;
  int err = vg_mp4_box_header(parent->p + parent->pos, left, left, box);
  if (err == VG_EINCOMPLETE) return VG_EPROTO;
  if (err) return err;
  if (box->size > left) return VG_EPROTO;
  *body = cursor(parent->p + parent->pos + box->header, (size_t)box->size - box->header);
  parent->pos += (size_t)box->size;
  return 1;
}

/* ---- moov ---- */

typedef struct {
  uint32_t track_id, duration, size, flags;
} trex_t;

/* Parse state shared by the moov's helpers. */
typedef struct {
  vg_mp4_init_t *init;
  uint64_t table_samples; /* samples allocated over all tracks, for the limit */
  trex_t trex[VG_MP4_MAX_TRACKS];
  int trex_count;
} moov_state_t;

static int parse_mvhd(cursor_t *c, vg_mp4_init_t *init) {
  int v;
  uint32_t flags;
  cur_full(c, &v, &flags);
  if (v == 1) {
    cur_skip(c, 16);
    init->movie_timescale = cur_u32(c);
    init->movie_duration = cur_u64(c);
  } else {
    cur_skip(c, 8);
    init->movie_timescale = cur_u32(c);
    init->movie_duration = cur_u32(c);
  }
  return c->bad ? VG_EPROTO : 0;
}

static int parse_tkhd(cursor_t *c, vg_mp4_track_t *t) {
  int v;
  uint32_t flags;
  cur_full(c, &v, &flags);
  cur_skip(c, v == 1 ? 16 : 8);
  t->track_id = cur_u32(c);
  return c->bad ? VG_EPROTO : 0;
}

static int parse_mdhd(cursor_t *c, vg_mp4_track_t *t) {
  int v;
  uint32_t flags;
  cur_full(c, &v, &flags);
  if (v == 1) {
    cur_skip(c, 16);
    t->timescale = cur_u32(c);
    t->duration = cur_u64(c);
  } else {
    cur_skip(c, 8);
    t->timescale = cur_u32(c);
    t->duration = cur_u32(c);
  }
  return c->bad ? VG_EPROTO : 0;
}

static int parse_elst(cursor_t *c, vg_mp4_track_t *t) {
  int v;
  uint32_t flags;
  cur_full(c, &v, &flags);
  uint32_t count = cur_u32(c);
  size_t entry = v == 1 ? 20 : 12;
  if (c->bad || count > cur_left(c) / entry) return VG_EPROTO;
  /* The first edit that shows media; a leading empty edit only delays it. */
  for (uint32_t i = 0; i < count; i++) {
    uint64_t duration = v == 1 ? cur_u64(c) : cur_u32(c);
    int64_t media_time = v == 1 ? (int64_t)cur_u64(c) : (int64_t)(int32_t)cur_u32(c);
    cur_skip(c, 4); /* media rate */
    if (media_time >= 0) {
      t->has_edit = 1;
      t->edit_media_time = media_time;
      t->edit_duration = duration;
      break;
    }
  }
  return c->bad ? VG_EPROTO : 0;
}

/* Reads an MPEG-4 descriptor header (tag, expandable length) and bounds
 * the descriptor's body. */
static int read_descriptor(cursor_t *c, uint8_t *tag, cursor_t *body) {
  *tag = cur_u8(c);
  uint32_t len = 0;
  for (int i = 0; i < 4; i++) {
    uint8_t b = cur_u8(c);
    len = len << 7 | (b & 0x7f);
    if (!(b & 0x80)) break;
  }
  if (c->bad || len > cur_left(c)) return VG_EPROTO;
  *body = cursor(c->p + c->pos, len);
  c->pos += len;
  return 0;
}

/* esds: ES_Descriptor > DecoderConfigDescriptor > DecoderSpecificInfo,
 * whose bytes are the AAC AudioSpecificConfig. */
static int parse_esds(cursor_t *c, const uint8_t **asc, size_t *asc_len) {
  cur_skip(c, 4);
  uint8_t tag;
  cursor_t es;
  if (read_descriptor(c, &tag, &es) || tag != 3) return VG_EPROTO;
  cur_skip(&es, 2);
  uint8_t es_flags = cur_u8(&es);
  if (es_flags & 0x80) cur_skip(&es, 2);
  if (es_flags & 0x40) cur_skip(&es, cur_u8(&es));
  if (es_flags & 0x20) cur_skip(&es, 2);
  cursor_t dcd;
  while (!es.bad && cur_left(&es) > 0) {
    if (read_descriptor(&es, &tag, &dcd)) return VG_EPROTO;
    if (tag != 4) continue;
    cur_skip(&dcd, 13);
    cursor_t dsi;
    while (!dcd.bad && cur_left(&dcd) > 0) {
      if (read_descriptor(&dcd, &tag, &dsi)) return VG_EPROTO;
      if (tag == 5) {
        *asc = dsi.p;
        *asc_len = dsi.len;
        return 0;
      }
    }
    return dcd.bad ? VG_EPROTO : 0;
  }
  return es.bad ? VG_EPROTO : 0;
}

static int copy_bytes(uint8_t **dst, size_t *dst_len, const uint8_t *src, size_t len) {
  *dst = malloc(len ? len : 1);
  if (!*dst) return VG_ENOMEM;
  memcpy(*dst, src, len);
  *dst_len = len;
  return 0;
}

static vg_codec_t codec_of(uint32_t fourcc) {
  switch (fourcc) {
  case FOURCC('a', 'v', 'c', '1'):
  case FOURCC('a', 'v', 'c', '3'): return VG_CODEC_H264;
  case FOURCC('h', 'v', 'c', '1'):
  case FOURCC('h', 'e', 'v', '1'): return VG_CODEC_H265;
  case FOURCC('m', 'p', '4', 'a'): return VG_CODEC_AAC;
  case FOURCC('O', 'p', 'u', 's'): return VG_CODEC_OPUS;
  case FOURCC('u', 'l', 'a', 'w'): return VG_CODEC_PCMU;
  case FOURCC('a', 'l', 'a', 'w'): return VG_CODEC_PCMA;
  default: return VG_CODEC_NONE;
  }
}

/* The first stsd entry: copied whole, and its codec configuration found. */
static int parse_sample_entry(const vg_mp4_box_t *box, const uint8_t *start, cursor_t *c, vg_mp4_track_t *t) {
  if (box->size > VG_MP4_MAX_SAMPLE_ENTRY_BYTES) return VG_ETOOBIG;
  int err = copy_bytes(&t->sample_entry, &t->sample_entry_size, start, (size_t)box->size);
  if (err) return err;
  t->fourcc = box->type;
  t->codec = codec_of(box->type);
  cur_skip(c, 8); /* reserved, data_reference_index */
  uint32_t config_type = 0;
  if (t->handler == FOURCC('v', 'i', 'd', 'e')) {
    cur_skip(c, 16);
    t->width = cur_u16(c);
    t->height = cur_u16(c);
    cur_skip(c, 50);
    config_type = t->codec == VG_CODEC_H264   ? FOURCC('a', 'v', 'c', 'C')
                  : t->codec == VG_CODEC_H265 ? FOURCC('h', 'v', 'c', 'C')
                                              : 0;
  } else if (t->handler == FOURCC('s', 'o', 'u', 'n')) {
    uint16_t qt_version = cur_u16(c);
    cur_skip(c, 6);
    t->channels = cur_u16(c);
    cur_skip(c, 6);
    t->sample_rate = (int)(cur_u32(c) >> 16);
    /* QuickTime sound descriptions version 1 and 2 carry extra fields. */
    if (qt_version == 1) cur_skip(c, 16);
    if (qt_version == 2) cur_skip(c, 36);
    config_type = t->codec == VG_CODEC_AAC    ? FOURCC('e', 's', 'd', 's')
                  : t->codec == VG_CODEC_OPUS ? FOURCC('d', 'O', 'p', 's')
                                              : 0;
  } else {
    return 0;
  }
  if (c->bad) return VG_EPROTO;
  vg_mp4_box_t child;
  cursor_t body;
  int more;
  while ((more = next_child(c, &child, &body)) == 1) {
    if (child.type != config_type || !config_type) continue;
    const uint8_t *cfg = body.p;
    size_t cfg_len = body.len;
    if (config_type == FOURCC('e', 's', 'd', 's')) {
      cfg = NULL;
      cfg_len = 0;
      err = parse_esds(&body, &cfg, &cfg_len);
      if (err) return err;
      if (!cfg) return 0;
    }
    return copy_bytes(&t->config, &t->config_size, cfg, cfg_len);
  }
  /* Trailing bytes that are not boxes are tolerated in sample entries:
   * some writers pad them, and the entry is copied whole anyway. */
  return 0;
}

static int parse_stsd(cursor_t *c, vg_mp4_track_t *t) {
  int v;
  uint32_t flags;
  cur_full(c, &v, &flags);
  uint32_t count = cur_u32(c);
  if (c->bad) return VG_EPROTO;
  if (count == 0) return 0;
  const uint8_t *start = c->p + c->pos;
  vg_mp4_box_t box;
  cursor_t body;
  int more = next_child(c, &box, &body);
  if (more <= 0) return more < 0 ? more : VG_EPROTO;
  return parse_sample_entry(&box, start, &body, t);
}

/* The raw sample tables of one stbl, bounded by the moov's bytes. */
typedef struct {
  cursor_t stts, ctts, stss, stsz, stsc, stco;
  int has_stts, has_ctts, has_stss, has_stsz, has_stsc, has_stco;
  int ctts_version, stco_64;
} tables_t;

static int fill_sizes(tables_t *tb, moov_state_t *st, vg_mp4_track_t *t) {
  int v;
  uint32_t flags;
  cur_full(&tb->stsz, &v, &flags);
  uint32_t constant = cur_u32(&tb->stsz);
  uint32_t count = cur_u32(&tb->stsz);
  if (tb->stsz.bad) return VG_EPROTO;
  if (count == 0) return 0;
  if (constant == 0 && count > cur_left(&tb->stsz) / 4) return VG_EPROTO;
  if (count > VG_MP4_MAX_TABLE_SAMPLES - st->table_samples) return VG_ETOOBIG;
  t->samples = calloc(count, sizeof(*t->samples));
  if (!t->samples) return VG_ENOMEM;
  t->sample_count = count;
  st->table_samples += count;
  for (uint32_t i = 0; i < count; i++)
    t->samples[i].size = constant ? constant : cur_u32(&tb->stsz);
  return 0;
}

static int fill_times(tables_t *tb, vg_mp4_track_t *t) {
  cursor_t *c = &tb->stts;
  cur_skip(c, 4);
  uint32_t entries = cur_u32(c);
  if (c->bad || entries > cur_left(c) / 8) return VG_EPROTO;
  uint32_t n = 0;
  uint64_t dts = 0;
  for (uint32_t e = 0; e < entries; e++) {
    uint32_t count = cur_u32(c), delta = cur_u32(c);
    if (count > t->sample_count - n) return VG_EPROTO;
    for (uint32_t i = 0; i < count; i++, n++) {
      t->samples[n].decode_time = dts;
      t->samples[n].duration = delta;
      dts += delta;
    }
  }
  if (n != t->sample_count) return VG_EPROTO;
  if (tb->has_ctts) {
    c = &tb->ctts;
    int v;
    uint32_t flags;
    cur_full(c, &v, &flags);
    entries = cur_u32(c);
    if (c->bad || entries > cur_left(c) / 8) return VG_EPROTO;
    n = 0;
    for (uint32_t e = 0; e < entries; e++) {
      uint32_t count = cur_u32(c), offset = cur_u32(c);
      if (count > t->sample_count - n) return VG_EPROTO;
      /* Version 0 offsets are unsigned in the spec, but writers put
       * negative values there too; reading both as signed is what players do. */
      for (uint32_t i = 0; i < count; i++, n++)
        t->samples[n].composition_offset = (int32_t)offset;
    }
  }
  return 0;
}

static int fill_sync(tables_t *tb, vg_mp4_track_t *t) {
  if (!tb->has_stss) {
    for (uint32_t i = 0; i < t->sample_count; i++)
      t->samples[i].sync = 1;
    return 0;
  }
  cursor_t *c = &tb->stss;
  cur_skip(c, 4);
  uint32_t entries = cur_u32(c);
  if (c->bad || entries > cur_left(c) / 4) return VG_EPROTO;
  for (uint32_t e = 0; e < entries; e++) {
    uint32_t number = cur_u32(c);
    if (number == 0 || number > t->sample_count) return VG_EPROTO;
    t->samples[number - 1].sync = 1;
  }
  return 0;
}

static int fill_offsets(tables_t *tb, vg_mp4_track_t *t) {
  cursor_t *sc = &tb->stsc, *co = &tb->stco;
  cur_skip(sc, 4);
  uint32_t stsc_entries = cur_u32(sc);
  cur_skip(co, 4);
  uint32_t chunks = cur_u32(co);
  size_t offset_size = tb->stco_64 ? 8 : 4;
  if (sc->bad || co->bad || stsc_entries > cur_left(sc) / 12 || chunks > cur_left(co) / offset_size)
    return VG_EPROTO;
  const uint8_t *stsc_table = sc->p + sc->pos;
  uint32_t n = 0, entry = 0;
  for (uint32_t chunk = 1; chunk <= chunks && n < t->sample_count; chunk++) {
    /* Advance to the stsc run that covers this chunk. */
    while (entry + 1 < stsc_entries) {
      cursor_t next = cursor(stsc_table + (size_t)(entry + 1) * 12, 4);
      if (cur_u32(&next) > chunk) break;
      entry++;
    }
    if (stsc_entries == 0) return VG_EPROTO;
    cursor_t run = cursor(stsc_table + (size_t)entry * 12, 12);
    uint32_t first_chunk = cur_u32(&run), per_chunk = cur_u32(&run);
    if (first_chunk > chunk || first_chunk == 0) return VG_EPROTO;
    uint64_t offset = tb->stco_64 ? cur_u64(co) : cur_u32(co);
    for (uint32_t i = 0; i < per_chunk && n < t->sample_count; i++, n++) {
      t->samples[n].offset = offset;
      offset += t->samples[n].size;
    }
  }
  return n == t->sample_count ? 0 : VG_EPROTO;
}

static int parse_stbl(cursor_t *c, moov_state_t *st, vg_mp4_track_t *t) {
  tables_t tb;
  memset(&tb, 0, sizeof(tb));
  vg_mp4_box_t box;
  cursor_t body;
  int more, err;
  while ((more = next_child(c, &box, &body)) == 1) {
    switch (box.type) {
    case FOURCC('s', 't', 's', 'd'):
      if (t->sample_entry) break;
      if ((err = parse_stsd(&body, t))) return err;
      break;
    case FOURCC('s', 't', 't', 's'): tb.stts = body, tb.has_stts = 1; break;
    case FOURCC('c', 't', 't', 's'): tb.ctts = body, tb.has_ctts = 1; break;
    case FOURCC('s', 't', 's', 's'): tb.stss = body, tb.has_stss = 1; break;
    case FOURCC('s', 't', 's', 'z'): tb.stsz = body, tb.has_stsz = 1; break;
    case FOURCC('s', 't', 's', 'c'): tb.stsc = body, tb.has_stsc = 1; break;
    case FOURCC('s', 't', 'c', 'o'): tb.stco = body, tb.has_stco = 1, tb.stco_64 = 0; break;
    case FOURCC('c', 'o', '6', '4'): tb.stco = body, tb.has_stco = 1, tb.stco_64 = 1; break;
    default: break;
    }
  }
  if (more < 0) return more;
  if (!tb.has_stsz || t->samples) return 0;
  if ((err = fill_sizes(&tb, st, t))) return err;
  if (t->sample_count == 0) return 0;
  if (!tb.has_stts || !tb.has_stsc || !tb.has_stco) return VG_EPROTO;
  if ((err = fill_times(&tb, t)) || (err = fill_sync(&tb, t)) || (err = fill_offsets(&tb, t))) return err;
  return 0;
}

static int parse_container(cursor_t *c, moov_state_t *st, vg_mp4_track_t *t, int depth);

static int parse_hdlr(cursor_t *c, vg_mp4_track_t *t) {
  cur_skip(c, 8);
  t->handler = cur_u32(c);
  return c->bad ? VG_EPROTO : 0;
}

/* trak > mdia > minf > stbl, and edts > elst: descends only into the
 * containers a track needs, at most VG_MP4_MAX_DEPTH deep. */
static int parse_container(cursor_t *c, moov_state_t *st, vg_mp4_track_t *t, int depth) {
  if (depth > VG_MP4_MAX_DEPTH) return VG_ETOOBIG;
  vg_mp4_box_t box;
  cursor_t body;
  int more, err = 0;
  while ((more = next_child(c, &box, &body)) == 1) {
    switch (box.type) {
    case FOURCC('t', 'k', 'h', 'd'): err = parse_tkhd(&body, t); break;
    case FOURCC('m', 'd', 'h', 'd'): err = parse_mdhd(&body, t); break;
    case FOURCC('h', 'd', 'l', 'r'): err = parse_hdlr(&body, t); break;
    case FOURCC('e', 'l', 's', 't'): err = parse_elst(&body, t); break;
    case FOURCC('s', 't', 'b', 'l'): err = parse_stbl(&body, st, t); break;
    case FOURCC('m', 'd', 'i', 'a'):
    case FOURCC('m', 'i', 'n', 'f'):
    case FOURCC('e', 'd', 't', 's'): err = parse_container(&body, st, t, depth + 1); break;
    default: break;
    }
    if (err) return err;
  }
  return more;
}

static int parse_mvex(cursor_t *c, moov_state_t *st) {
  vg_mp4_box_t box;
  cursor_t body;
  int more;
  while ((more = next_child(c, &box, &body)) == 1) {
    if (box.type != FOURCC('t', 'r', 'e', 'x')) continue;
    if (st->trex_count == VG_MP4_MAX_TRACKS) return VG_ETOOBIG;
    trex_t *x = &st->trex[st->trex_count++];
    cur_skip(&body, 4);
    x->track_id = cur_u32(&body);
    cur_skip(&body, 4); /* default_sample_description_index */
    x->duration = cur_u32(&body);
    x->size = cur_u32(&body);
    x->flags = cur_u32(&body);
    if (body.bad) return VG_EPROTO;
  }
  return more;
}

static int parse_moov(cursor_t *c, vg_mp4_init_t *init) {
  moov_state_t st;
  memset(&st, 0, sizeof(st));
  st.init = init;
  vg_mp4_box_t box;
  cursor_t body;
  int more, err = 0;
  while ((more = next_child(c, &box, &body)) == 1) {
    switch (box.type) {
    case FOURCC('m', 'v', 'h', 'd'): err = parse_mvhd(&body, init); break;
    case FOURCC('m', 'v', 'e', 'x'):
      init->fragmented = 1;
      err = parse_mvex(&body, &st);
      break;
    case FOURCC('t', 'r', 'a', 'k'):
      if (init->track_count == VG_MP4_MAX_TRACKS) return VG_ETOOBIG;
      /* Counted before parsing so that a failure frees what it allocated. */
      err = parse_container(&body, &st, &init->tracks[init->track_count++], 2);
      break;
    default: break;
    }
    if (err) return err;
  }
  if (more < 0) return more;
  for (int i = 0; i < st.trex_count; i++) {
    int k = vg_mp4_track_index(init, st.trex[i].track_id);
    if (k < 0) continue;
    init->tracks[k].default_sample_duration = st.trex[i].duration;
    init->tracks[k].default_sample_size = st.trex[i].size;
    init->tracks[k].default_sample_flags = st.trex[i].flags;
  }
  return 0;
}

void vg_mp4_init_clear(vg_mp4_init_t *init) {
  if (!init) return;
  for (int i = 0; i < init->track_count; i++) {
    free(init->tracks[i].sample_entry);
    free(init->tracks[i].config);
    free(init->tracks[i].samples);
  }
  memset(init, 0, sizeof(*init));
}

static int parse_moov_bytes(const uint8_t *body, size_t len, vg_mp4_init_t *init) {
  cursor_t c = cursor(body, len);
  int err = parse_moov(&c, init);
  if (err) {
    uint32_t brand = init->major_brand;
    vg_mp4_init_clear(init);
    init->major_brand = brand;
  }
  return err;
}

static uint32_t ftyp_brand(const uint8_t *body, size_t len) {
  cursor_t c = cursor(body, len);
  return cur_u32(&c);
}

int vg_mp4_parse_init(const uint8_t *data, size_t len, vg_mp4_init_t *out) {
  memset(out, 0, sizeof(*out));
  size_t pos = 0;
  while (pos < len) {
    vg_mp4_box_t box;
    int err = vg_mp4_box_header(data + pos, len - pos, len - pos, &box);
    if (err) return err;
    if (box.type == FOURCC('m', 'o', 'o', 'f') || box.type == FOURCC('m', 'd', 'a', 't')) return VG_ENOTFOUND;
    if (box.size > len - pos) return VG_EINCOMPLETE;
    const uint8_t *body = data + pos + box.header;
    size_t body_len = (size_t)box.size - box.header;
    if (box.type == FOURCC('f', 't', 'y', 'p')) out->major_brand = ftyp_brand(body, body_len);
    if (box.type == FOURCC('m', 'o', 'o', 'v')) {
      if (box.size > VG_MP4_MAX_MOOV_BYTES) return VG_ETOOBIG;
      out->moov_offset = pos;
      out->moov_end = pos + box.size;
      return parse_moov_bytes(body, body_len, out);
    }
    pos += (size_t)box.size;
  }
  return VG_EINCOMPLETE;
}

/* ---- moof ---- */

#define TFHD_BASE_DATA_OFFSET 0x1
#define TFHD_SAMPLE_DESCRIPTION 0x2
#define TFHD_DEFAULT_DURATION 0x8
#define TFHD_DEFAULT_SIZE 0x10
#define TFHD_DEFAULT_FLAGS 0x20
#define TFHD_DEFAULT_BASE_IS_MOOF 0x20000

#define TRUN_DATA_OFFSET 0x1
#define TRUN_FIRST_FLAGS 0x4
#define TRUN_DURATION 0x100
#define TRUN_SIZE 0x200
#define TRUN_FLAGS 0x400
#define TRUN_CTO 0x800

#define SAMPLE_NON_SYNC 0x10000

typedef struct {
  const vg_mp4_init_t *init;
  uint64_t moof_offset;
  vg_mp4_sample_t *samples;
  uint32_t count, cap;
  uint32_t traf_first[VG_MP4_MAX_TRACKS];
  uint64_t prev_traf_end; /* where the previous traf's data ended, for the implicit base */
  const uint8_t *moof;    /* the moof's first byte, for the tfdt's position */
} moof_state_t;

typedef struct {
  uint32_t track_id, duration, size, flags;
  uint64_t base;
  uint64_t decode_time;
  uint64_t next_data; /* where a trun without data offset starts */
  int has_tfhd;
  uint64_t tfdt;        /* base decode time as written */
  uint64_t tfdt_offset; /* of its value in the file, 0 when absent */
  uint8_t tfdt_size;
} traf_state_t;

static int grow_samples(moof_state_t *m, uint32_t more) {
  if (more > VG_MP4_MAX_FRAGMENT_SAMPLES - m->count) return VG_ETOOBIG;
  uint32_t need = m->count + more;
  if (need <= m->cap) return 0;
  uint32_t cap = m->cap ? m->cap : 64;
  while (cap < need)
    cap *= 2;
  vg_mp4_sample_t *s = realloc(m->samples, (size_t)cap * sizeof(*s));
  if (!s) return VG_ENOMEM;
  m->samples = s;
  m->cap = cap;
  return 0;
}

static int parse_tfhd(cursor_t *c, moof_state_t *m, traf_state_t *ts) {
  int v;
  uint32_t flags;
  cur_full(c, &v, &flags);
  ts->track_id = cur_u32(c);
  int k = vg_mp4_track_index(m->init, ts->track_id);
  if (k >= 0) {
    ts->duration = m->init->tracks[k].default_sample_duration;
    ts->size = m->init->tracks[k].default_sample_size;
    ts->flags = m->init->tracks[k].default_sample_flags;
  }
  /* The data base: explicit, the moof, or (ISO/IEC 14496-12 8.8.7.1) the
   * first traf at the moof and later ones where the previous one ended. */
  ts->base = m->prev_traf_end;
  if (flags & TFHD_BASE_DATA_OFFSET) ts->base = cur_u64(c);
  if (flags & TFHD_SAMPLE_DESCRIPTION) cur_skip(c, 4);
  if (flags & TFHD_DEFAULT_DURATION) ts->duration = cur_u32(c);
  if (flags & TFHD_DEFAULT_SIZE) ts->size = cur_u32(c);
  if (flags & TFHD_DEFAULT_FLAGS) ts->flags = cur_u32(c);
  if (!(flags & TFHD_BASE_DATA_OFFSET) && (flags & TFHD_DEFAULT_BASE_IS_MOOF)) ts->base = m->moof_offset;
  ts->next_data = ts->base;
  ts->has_tfhd = 1;
  return c->bad ? VG_EPROTO : 0;
}

static int parse_tfdt(cursor_t *c, const moof_state_t *m, traf_state_t *ts) {
  int v;
  uint32_t flags;
  cur_full(c, &v, &flags);
  ts->tfdt_offset = m->moof_offset + (uint64_t)(c->p + c->pos - m->moof);
  ts->tfdt_size = v == 1 ? 8 : 4;
  ts->decode_time = v == 1 ? cur_u64(c) : cur_u32(c);
  ts->tfdt = ts->decode_time;
  return c->bad ? VG_EPROTO : 0;
}

static int parse_trun(cursor_t *c, moof_state_t *m, traf_state_t *ts) {
  if (!ts->has_tfhd) return VG_EPROTO;
  int v;
  uint32_t flags;
  cur_full(c, &v, &flags);
  uint32_t count = cur_u32(c);
  uint64_t data = ts->next_data;
  if (flags & TRUN_DATA_OFFSET) data = ts->base + (uint64_t)(int64_t)(int32_t)cur_u32(c);
  int has_first_flags = (flags & TRUN_FIRST_FLAGS) != 0;
  uint32_t first_flags = has_first_flags ? cur_u32(c) : 0;
  size_t entry = 4 * (size_t)(!!(flags & TRUN_DURATION) + !!(flags & TRUN_SIZE) + !!(flags & TRUN_FLAGS) +
                              !!(flags & TRUN_CTO));
  if (c->bad) return VG_EPROTO;
  if (entry && count > cur_left(c) / entry) return VG_EPROTO;
  int err = grow_samples(m, count);
  if (err) return err;
  for (uint32_t i = 0; i < count; i++) {
    vg_mp4_sample_t *s = &m->samples[m->count++];
    s->duration = (flags & TRUN_DURATION) ? cur_u32(c) : ts->duration;
    s->size = (flags & TRUN_SIZE) ? cur_u32(c) : ts->size;
    uint32_t sample_flags = (flags & TRUN_FLAGS) ? cur_u32(c) : ts->flags;
    if (i == 0 && has_first_flags) sample_flags = first_flags;
    s->composition_offset = (flags & TRUN_CTO) ? (int32_t)cur_u32(c) : 0;
    s->sync = !(sample_flags & SAMPLE_NON_SYNC);
    s->decode_time = ts->decode_time;
    s->offset = data;
    ts->decode_time += s->duration;
    if (data > UINT64_MAX - s->size) return VG_EPROTO;
    data += s->size;
  }
  ts->next_data = data;
  return c->bad ? VG_EPROTO : 0;
}

static int parse_traf(cursor_t *c, moof_state_t *m, vg_mp4_traf_t *out) {
  traf_state_t ts;
  memset(&ts, 0, sizeof(ts));
  vg_mp4_box_t box;
  cursor_t body;
  int more, err = 0;
  while ((more = next_child(c, &box, &body)) == 1) {
    switch (box.type) {
    case FOURCC('t', 'f', 'h', 'd'): err = parse_tfhd(&body, m, &ts); break;
    case FOURCC('t', 'f', 'd', 't'): err = parse_tfdt(&body, m, &ts); break;
    case FOURCC('t', 'r', 'u', 'n'): err = parse_trun(&body, m, &ts); break;
    default: break;
    }
    if (err) return err;
  }
  if (more < 0) return more;
  if (!ts.has_tfhd) return VG_EPROTO;
  m->prev_traf_end = ts.next_data;
  out->track_id = ts.track_id;
  out->base_decode_time = ts.tfdt;
  out->tfdt_offset = ts.tfdt_offset;
  out->tfdt_size = ts.tfdt_size;
  return 0;
}

void vg_mp4_fragment_clear(vg_mp4_fragment_t *f) {
  if (!f) return;
  free(f->samples);
  memset(f, 0, sizeof(*f));
}

static void summarize(const vg_mp4_init_t *init, vg_mp4_fragment_t *f) {
  f->main_traf = -1;
  for (int i = 0; i < f->traf_count && f->main_traf < 0; i++) {
    int k = f->trafs[i].track;
    if (f->trafs[i].sample_count && k >= 0 && init->tracks[k].handler == FOURCC('v', 'i', 'd', 'e'))
      f->main_traf = i;
  }
  for (int i = 0; i < f->traf_count && f->main_traf < 0; i++)
    if (f->trafs[i].sample_count) f->main_traf = i;
  for (uint32_t i = 0; i < f->sample_count; i++)
    if (f->samples[i].offset + f->samples[i].size > f->data_end)
      f->data_end = f->samples[i].offset + f->samples[i].size;
  if (f->main_traf < 0) return;
  const vg_mp4_traf_t *t = &f->trafs[f->main_traf];
  f->timescale = t->track >= 0 ? init->tracks[t->track].timescale : 0;
  f->start_time = t->samples[0].decode_time;
  f->keyframe = t->samples[0].sync;
  for (uint32_t i = 0; i < t->sample_count; i++)
    f->duration += t->samples[i].duration;
}

int vg_mp4_parse_moof(const vg_mp4_init_t *init, const uint8_t *moof, size_t len, uint64_t moof_offset,
                      vg_mp4_fragment_t *out) {
  memset(out, 0, sizeof(*out));
  vg_mp4_box_t box;
  int err = vg_mp4_box_header(moof, len, len, &box);
  if (err) return err;
  if (box.type != FOURCC('m', 'o', 'o', 'f')) return VG_EPROTO;
  if (box.size > len) return VG_EINCOMPLETE;
  if (box.size > VG_MP4_MAX_MOOF_BYTES) return VG_ETOOBIG;
  moof_state_t m;
  memset(&m, 0, sizeof(m));
  m.init = init;
  m.moof_offset = moof_offset;
  m.prev_traf_end = moof_offset;
  m.moof = moof;
  cursor_t c = cursor(moof + box.header, (size_t)box.size - box.header);
  cursor_t body;
  vg_mp4_box_t child;
  int more;
  while ((more = next_child(&c, &child, &body)) == 1) {
    if (child.type == FOURCC('m', 'f', 'h', 'd')) {
      cur_skip(&body, 4);
      out->sequence = cur_u32(&body);
      if (body.bad) err = VG_EPROTO;
    } else if (child.type == FOURCC('t', 'r', 'a', 'f')) {
      if (out->traf_count == VG_MP4_MAX_TRACKS) {
        err = VG_ETOOBIG;
      } else {
        m.traf_first[out->traf_count] = m.count;
        vg_mp4_traf_t *t = &out->trafs[out->traf_count];
        err = parse_traf(&body, &m, t);
        if (!err) {
          t->track = vg_mp4_track_index(init, t->track_id);
          t->sample_count = m.count - m.traf_first[out->traf_count];
          out->traf_count++;
        }
      }
    }
    if (err) break;
  }
  if (!err && more < 0) err = more;
  if (err) {
    free(m.samples);
    memset(out, 0, sizeof(*out));
    return err;
  }
  out->samples = m.samples;
  out->sample_count = m.count;
  for (int i = 0; i < out->traf_count; i++) {
    out->trafs[i].samples = out->sample_count ? out->samples + m.traf_first[i] : NULL;
  }
  out->offset = moof_offset;
  out->moof_size = box.size;
  out->size = box.size;
  summarize(init, out);
  return 0;
}

/* ---- the walker ---- */

long vg_mp4_read_fd(void *opaque, uint64_t offset, uint8_t *dst, size_t len) {
  int fd = *(const int *)opaque;
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, dst + got, len - got, (off_t)(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return vg_err_from_errno();
    }
    if (n == 0) break;
    got += (size_t)n;
  }
  return (long)got;
}

/* Reads exactly len bytes at offset; VG_EINCOMPLETE when the file is shorter. */
static int read_exact(const vg_mp4_source_t *src, uint64_t offset, uint8_t *dst, size_t len) {
  long n = src->read(src->opaque, offset, dst, len);
  if (n < 0) return (int)n;
  return (size_t)n == len ? 0 : VG_EINCOMPLETE;
}

/* Reads the header of the top-level box at offset. */
static int read_header(const vg_mp4_source_t *src, uint64_t offset, vg_mp4_box_t *box) {
  if (offset >= src->size) return VG_ENODATA;
  uint64_t left = src->size - offset;
  uint8_t head[HEADER_READ];
  size_t want = left < HEADER_READ ? (size_t)left : HEADER_READ;
  int err = read_exact(src, offset, head, want);
  if (err) return err;
  return vg_mp4_box_header(head, want, left, box);
}

/* Reads a whole top-level box into a new buffer. */
static int read_box(const vg_mp4_source_t *src, uint64_t offset, const vg_mp4_box_t *box, uint8_t **out) {
  uint8_t *buf = malloc((size_t)box->size);
  if (!buf) return VG_ENOMEM;
  int err = read_exact(src, offset, buf, (size_t)box->size);
  if (err) {
    free(buf);
    return err;
  }
  *out = buf;
  return 0;
}

int vg_mp4_read_init(const vg_mp4_source_t *src, vg_mp4_init_t *out) {
  memset(out, 0, sizeof(*out));
  uint64_t offset = 0;
  for (int boxes = 0; boxes < MAX_BOXES_BEFORE_MOOV; boxes++) {
    vg_mp4_box_t box;
    int err = read_header(src, offset, &box);
    if (err == VG_ENODATA) return VG_EINCOMPLETE;
    if (err) return err;
    if (box.type == FOURCC('m', 'o', 'o', 'f') || box.type == FOURCC('m', 'd', 'a', 't')) return VG_ENOTFOUND;
    if (box.size > src->size - offset) return VG_EINCOMPLETE;
    if (box.type == FOURCC('f', 't', 'y', 'p') && box.size <= 4096) {
      uint8_t *buf;
      if ((err = read_box(src, offset, &box, &buf))) return err;
      out->major_brand = ftyp_brand(buf + box.header, (size_t)box.size - box.header);
      free(buf);
    } else if (box.type == FOURCC('m', 'o', 'o', 'v')) {
      if (box.size > VG_MP4_MAX_MOOV_BYTES) return VG_ETOOBIG;
      uint8_t *buf;
      if ((err = read_box(src, offset, &box, &buf))) return err;
      err = parse_moov_bytes(buf + box.header, (size_t)box.size - box.header, out);
      free(buf);
      if (err) return err;
      out->moov_offset = offset;
      out->moov_end = offset + box.size;
      return 0;
    }
    offset += box.size;
  }
  return VG_EPROTO;
}

/* Walks the boxes after a moof up to the next moof or the end; *end is
 * where the fragment stops. VG_EINCOMPLETE when one of them is cut. */
static int walk_fragment_tail(const vg_mp4_source_t *src, uint64_t offset, uint64_t *end) {
  for (;;) {
    vg_mp4_box_t box;
    int err = read_header(src, offset, &box);
    if (err == VG_ENODATA) break;
    /* A few stray bytes at the end are a cut header; the fragment before
     * them may still be whole, which its data_end check decides. */
    if (err == VG_EINCOMPLETE) break;
    if (err) return err;
    if (box.type == FOURCC('m', 'o', 'o', 'f')) break;
    if (box.size > src->size - offset) return VG_EINCOMPLETE;
    offset += box.size;
  }
  *end = offset;
  return 0;
}

int vg_mp4_next_fragment(const vg_mp4_source_t *src, const vg_mp4_init_t *init, uint64_t *offset,
                         vg_mp4_fragment_t *out) {
  memset(out, 0, sizeof(*out));
  uint64_t at = *offset;
  vg_mp4_box_t box;
  for (;;) {
    int err = read_header(src, at, &box);
    if (err) {
      *offset = at;
      return err;
    }
    if (box.size > src->size - at) {
      *offset = at;
      return VG_EINCOMPLETE;
    }
    if (box.type == FOURCC('m', 'o', 'o', 'f')) break;
    at += box.size;
  }
  *offset = at;
  if (box.size > VG_MP4_MAX_MOOF_BYTES) return VG_ETOOBIG;
  uint8_t *buf;
  int err = read_box(src, at, &box, &buf);
  if (err) return err;
  err = vg_mp4_parse_moof(init, buf, (size_t)box.size, at, out);
  free(buf);
  if (err) return err;
  uint64_t end;
  err = walk_fragment_tail(src, at + box.size, &end);
  if (!err && out->data_end > src->size) err = VG_EINCOMPLETE;
  if (!err && out->data_end > end) err = VG_EPROTO;
  if (err) {
    vg_mp4_fragment_clear(out);
    return err;
  }
  out->size = end - at;
  *offset = end;
  return 0;
}

int vg_mp4_track_index(const vg_mp4_init_t *init, uint32_t track_id) {
  for (int i = 0; i < init->track_count; i++)
    if (init->tracks[i].track_id == track_id) return i;
  return -1;
}

int vg_mp4_video_track(const vg_mp4_init_t *init) {
  for (int i = 0; i < init->track_count; i++)
    if (init->tracks[i].handler == FOURCC('v', 'i', 'd', 'e')) return i;
  return -1;
}
