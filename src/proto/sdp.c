#include "proto/sdp.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base64.h"
#include "base/buf.h"
#include "base/error.h"
#include "proto/url.h"

/* ---- Parsing ------------------------------------------------------------ */

typedef struct {
  const char *p;
  size_t len;
} text_t;

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

static text_t trim(text_t t) {
  while (t.len && is_blank(t.p[0])) t.p++, t.len--;
  while (t.len && is_blank(t.p[t.len - 1])) t.len--;
  return t;
}

static int copy_text(text_t t, char *out, size_t out_size) {
  if (t.len + 1 > out_size) return VG_ETOOBIG;
  memcpy(out, t.p, t.len);
  out[t.len] = 0;
  return 0;
}

/* The next blank-separated word of *t, advancing past it. */
static text_t next_word(text_t *t) {
  *t = trim(*t);
  size_t n = 0;
  while (n < t->len && !is_blank(t->p[n])) n++;
  text_t w = {t->p, n};
  t->p += n;
  t->len -= n;
  return w;
}

static int parse_number(text_t t, long max, long *out) {
  if (t.len == 0 || t.len > 10) return VG_EPROTO;
  long v = 0;
  for (size_t i = 0; i < t.len; i++) {
    if (t.p[i] < '0' || t.p[i] > '9') return VG_EPROTO;
    v = v * 10 + (t.p[i] - '0');
  }
  if (v > max) return VG_EPROTO;
  *out = v;
  return 0;
}

static bool text_is(text_t t, const char *s) { return strlen(s) == t.len && strncasecmp(t.p, s, t.len) == 0; }

/* "m=<media> <port>[/<n>] <proto> <fmt> ..." */
static int parse_m_line(text_t v, vg_sdp_media_t *m) {
  text_t media = next_word(&v), port = next_word(&v), proto = next_word(&v);
  if (media.len == 0 || port.len == 0 || proto.len == 0) return VG_EPROTO;
  if (copy_text(media, m->media, sizeof(m->media)) < 0 || copy_text(proto, m->proto, sizeof(m->proto)) < 0)
    return VG_ETOOBIG;
  if (text_is(media, "video")) m->type = VG_SDP_MEDIA_VIDEO;
  else if (text_is(media, "audio")) m->type = VG_SDP_MEDIA_AUDIO;
  else if (text_is(media, "application")) m->type = VG_SDP_MEDIA_APPLICATION;
  const char *slash = memchr(port.p, '/', port.len);
  if (slash) port.len = (size_t)(slash - port.p);
  long n;
  if (parse_number(port, 65535, &n) < 0) return VG_EPROTO;
  m->port = (uint16_t)n;
  m->payload_type = -1;
  for (text_t fmt = next_word(&v); fmt.len; fmt = next_word(&v)) {
    /* Non-RTP formats (e.g. "*") carry no payload type; skip them. */
    if (parse_number(fmt, 127, &n) < 0) continue;
    if (m->n_formats < VG_SDP_MAX_FORMATS) m->formats[m->n_formats++] = (int)n;
  }
  if (m->n_formats) m->payload_type = m->formats[0];
  m->channels = m->type == VG_SDP_MEDIA_AUDIO ? 1 : 0;
  return 0;
}

/* Splits "<pt> <rest>" of rtpmap/fmtp; returns the pt or -1. */
static int split_pt(text_t v, text_t *rest) {
  text_t pt = next_word(&v);
  long n;
  if (parse_number(pt, 127, &n) < 0) return -1;
  *rest = trim(v);
  return (int)n;
}

/* "<pt> <encoding>/<clock>[/<channels>]" */
static int parse_rtpmap(text_t v, vg_sdp_media_t *m) {
  text_t rest;
  int pt = split_pt(v, &rest);
  if (pt < 0) return VG_EPROTO;
  if (pt != m->payload_type) return 0;
  const char *slash = memchr(rest.p, '/', rest.len);
  if (!slash || slash == rest.p) return VG_EPROTO;
  text_t enc = {rest.p, (size_t)(slash - rest.p)};
  text_t tail = {slash + 1, rest.len - enc.len - 1};
  const char *slash2 = memchr(tail.p, '/', tail.len);
  text_t clock = {tail.p, slash2 ? (size_t)(slash2 - tail.p) : tail.len};
  long n;
  if (copy_text(trim(enc), m->encoding, sizeof(m->encoding)) < 0) return VG_ETOOBIG;
  if (parse_number(trim(clock), 10000000, &n) < 0 || n == 0) return VG_EPROTO;
  m->clock_rate = (uint32_t)n;
  if (slash2) {
    text_t ch = {slash2 + 1, tail.len - clock.len - 1};
    if (parse_number(trim(ch), 255, &n) < 0 || n == 0) return VG_EPROTO;
    m->channels = (int)n;
  }
  return 0;
}

/* "<pt> key=value;key=value": the raw string is kept and indexed. */
static int parse_fmtp(text_t v, vg_sdp_media_t *m) {
  text_t rest;
  int pt = split_pt(v, &rest);
  if (pt < 0) return VG_EPROTO;
  if (pt != m->payload_type) return 0;
  if (copy_text(rest, m->fmtp, sizeof(m->fmtp)) < 0) return VG_ETOOBIG;
  m->n_fmtp_params = 0;
  size_t pos = 0, len = rest.len;
  while (pos < len && m->n_fmtp_params < VG_SDP_MAX_FMTP_PARAMS) {
    size_t end = pos;
    while (end < len && m->fmtp[end] != ';') end++;
    text_t item = trim((text_t){m->fmtp + pos, end - pos});
    pos = end + 1;
    if (item.len == 0) continue;
    /* The value may hold '=' itself (base64 padding): split at the first. */
    const char *eq = memchr(item.p, '=', item.len);
    text_t key = trim((text_t){item.p, eq ? (size_t)(eq - item.p) : item.len});
    text_t value = eq ? trim((text_t){eq + 1, item.len - (size_t)(eq - item.p) - 1}) : (text_t){item.p + item.len, 0};
    vg_sdp_fmtp_param_t *p = &m->fmtp_params[m->n_fmtp_params++];
    p->key_off = (uint16_t)(key.p - m->fmtp);
    p->key_len = (uint16_t)key.len;
    p->value_off = (uint16_t)(value.p - m->fmtp);
    p->value_len = (uint16_t)value.len;
  }
  return 0;
}

static bool parse_direction(text_t attr, vg_sdp_direction_t *d) {
  if (text_is(attr, "sendrecv")) *d = VG_SDP_SENDRECV;
  else if (text_is(attr, "sendonly")) *d = VG_SDP_SENDONLY;
  else if (text_is(attr, "recvonly")) *d = VG_SDP_RECVONLY;
  else if (text_is(attr, "inactive")) *d = VG_SDP_INACTIVE;
  else return false;
  return true;
}

/* "IN IP4 <address>[/ttl]" */
static int parse_connection(text_t v, char *out, size_t out_size) {
  next_word(&v);
  next_word(&v);
  text_t addr = next_word(&v);
  const char *slash = memchr(addr.p, '/', addr.len);
  if (slash) addr.len = (size_t)(slash - addr.p);
  return copy_text(addr, out, out_size) < 0 ? VG_ETOOBIG : 0;
}

static int parse_attribute(text_t v, vg_sdp_t *s, vg_sdp_media_t *m) {
  const char *colon = memchr(v.p, ':', v.len);
  text_t name = trim((text_t){v.p, colon ? (size_t)(colon - v.p) : v.len});
  text_t value = colon ? trim((text_t){colon + 1, v.len - (size_t)(colon - v.p) - 1}) : (text_t){v.p + v.len, 0};
  vg_sdp_direction_t dir;
  if (parse_direction(name, &dir)) {
    if (m) {
      m->direction = dir;
      m->has_direction = 1;
    } else {
      s->direction = dir;
    }
    return 0;
  }
  if (text_is(name, "control")) {
    char *dst = m ? m->control : s->control;
    return copy_text(value, dst, VG_SDP_MAX_CONTROL) < 0 ? VG_ETOOBIG : 0;
  }
  if (!m) {
    if (text_is(name, "range")) return copy_text(value, s->range, sizeof(s->range)) < 0 ? VG_ETOOBIG : 0;
    return 0;
  }
  if (text_is(name, "rtpmap")) return parse_rtpmap(value, m);
  if (text_is(name, "fmtp")) return parse_fmtp(value, m);
  if (text_is(name, "framerate")) {
    char num[32];
    if (copy_text(value, num, sizeof(num)) == 0) m->framerate = strtod(num, NULL);
    if (!(m->framerate >= 0 && m->framerate < 1000)) m->framerate = 0;
  }
  return 0;
}

/* RFC 3551 static payload types vigil knows, for m= lines without rtpmap. */
static void apply_static_payload_type(vg_sdp_media_t *m) {
  if (m->encoding[0] || m->clock_rate) return;
  if (m->payload_type == 0 || m->payload_type == 8) {
    m->clock_rate = 8000;
    m->channels = 1;
  }
}

static int parse_line(char type, text_t v, vg_sdp_t *s, vg_sdp_media_t **m, bool *skipping) {
  if (type == 'm') {
    *skipping = s->n_media >= VG_SDP_MAX_MEDIA;
    if (*skipping) {
      *m = NULL;
      return 0;
    }
    *m = &s->media[s->n_media++];
    return parse_m_line(v, *m);
  }
  if (*skipping) return 0;
  switch (type) {
  case 's':
    if (!*m) return copy_text(v, s->name, sizeof(s->name)) < 0 ? VG_ETOOBIG : 0;
    return 0;
  case 'o': {
    for (int i = 0; i < 5; i++) next_word(&v);
    return copy_text(next_word(&v), s->origin_address, sizeof(s->origin_address)) < 0 ? VG_ETOOBIG : 0;
  }
  case 'c':
    return parse_connection(v, *m ? (*m)->connection : s->connection, sizeof(s->connection));
  case 'a':
    return parse_attribute(v, s, *m);
  default:
    return 0; /* v, t, b, i, u, e, p, z, k, r: nothing vigil needs */
  }
}

static int parse_sdp(const char *text, size_t len, vg_sdp_t *s) {
  if (len > VG_SDP_MAX_INPUT) return VG_ETOOBIG;
  if (memchr(text, 0, len)) return VG_EPROTO;
  vg_sdp_media_t *m = NULL;
  bool skipping = false;
  size_t pos = 0;
  while (pos < len) {
    const char *nl = memchr(text + pos, '\n', len - pos);
    size_t end = nl ? (size_t)(nl - text) : len;
    text_t line = trim((text_t){text + pos, end - pos});
    pos = end + 1;
    if (line.len == 0) continue;
    if (line.len < 2 || line.p[1] != '=' || !((line.p[0] >= 'a' && line.p[0] <= 'z') ||
                                               (line.p[0] >= 'A' && line.p[0] <= 'Z')))
      return VG_EPROTO;
    int r = parse_line(line.p[0], (text_t){line.p + 2, line.len - 2}, s, &m, &skipping);
    if (r < 0) return r;
  }
  for (int i = 0; i < s->n_media; i++) {
    vg_sdp_media_t *mm = &s->media[i];
    apply_static_payload_type(mm);
    if (!mm->has_direction) mm->direction = s->direction;
    if (!mm->connection[0]) memcpy(mm->connection, s->connection, sizeof(mm->connection));
  }
  return 0;
}

int vg_sdp_parse(const char *text, size_t len, vg_sdp_t *out) {
  memset(out, 0, sizeof(*out));
  int r = parse_sdp(text, len, out);
  if (r < 0) memset(out, 0, sizeof(*out));
  return r;
}

const char *vg_sdp_fmtp_get(const vg_sdp_media_t *m, const char *key, size_t *len) {
  size_t key_len = strlen(key);
  for (int i = 0; i < m->n_fmtp_params; i++) {
    const vg_sdp_fmtp_param_t *p = &m->fmtp_params[i];
    if (p->key_len == key_len && strncasecmp(m->fmtp + p->key_off, key, key_len) == 0) {
      *len = p->value_len;
      return m->fmtp + p->value_off;
    }
  }
  *len = 0;
  return NULL;
}

/* ---- Control URLs ------------------------------------------------------- */

static bool is_absolute_url(const char *s) {
  size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
  return n > 0 && strncmp(s + n, "://", 3) == 0;
}

static int copy_out(const char *s, char *out, size_t out_size) {
  size_t n = strlen(s);
  if (n + 1 > out_size) {
    if (out_size) out[0] = 0;
    return VG_ETOOBIG;
  }
  memcpy(out, s, n + 1);
  return (int)n;
}

/* Applies one control attribute to a base (see sdp.h for the rule). */
static int apply_control(const char *base, const char *control, char *out, size_t out_size) {
  if (!control[0] || strcmp(control, "*") == 0) return copy_out(base, out, out_size);
  if (is_absolute_url(control)) return copy_out(control, out, out_size);
  if (control[0] == '/') return vg_url_resolve(base, control, out, out_size);
  size_t base_len = strlen(base);
  bool slash = base_len && base[base_len - 1] == '/';
  int n = snprintf(out, out_size, "%s%s%s", base, slash ? "" : "/", control);
  if (n < 0 || (size_t)n >= out_size) {
    if (out_size) out[0] = 0;
    return VG_ETOOBIG;
  }
  return n;
}

int vg_sdp_session_control(const vg_sdp_t *sdp, const char *base, char *out, size_t out_size) {
  return apply_control(base, sdp->control, out, out_size);
}

int vg_sdp_resolve_control(const vg_sdp_t *sdp, int index, const char *base, char *out, size_t out_size) {
  if (index < 0 || index >= sdp->n_media) return VG_EINVAL;
  if (is_absolute_url(sdp->control)) base = sdp->control;
  return apply_control(base, sdp->media[index].control, out, out_size);
}

int vg_sdp_control_track_index(const char *url) {
  static const char *const keys[] = {"trackID=", "streamid="};
  const char *best = NULL;
  for (size_t k = 0; k < 2; k++) {
    for (const char *p = strcasestr(url, keys[k]); p; p = strcasestr(p + 1, keys[k])) {
      const char *digits = p + strlen(keys[k]);
      if (!best || digits > best) best = digits;
    }
  }
  if (!best || *best < '0' || *best > '9') return VG_ENOTFOUND;
  long v = 0;
  for (const char *d = best; *d >= '0' && *d <= '9'; d++) {
    v = v * 10 + (*d - '0');
    if (v > 1000000) return VG_ENOTFOUND;
  }
  return (int)v;
}

/* ---- Tracks from media -------------------------------------------------- */

/* Appends the base64 NAL units of a comma-separated sprop list to *extra,
 * each with a 4-byte big-endian length. */
static int append_sprop(vg_buf_t **extra, const char *value, size_t len) {
  size_t pos = 0;
  uint8_t nal[VG_SDP_MAX_FMTP];
  while (pos < len) {
    size_t end = pos;
    while (end < len && value[end] != ',') end++;
    size_t n = end - pos;
    const char *b64 = value + pos;
    pos = end + 1;
    while (n && (b64[0] == ' ')) b64++, n--;
    while (n && b64[n - 1] == ' ') n--;
    if (n == 0) continue;
    int k = vg_base64_decode(b64, n, nal, sizeof(nal));
    if (k <= 0) return VG_EPROTO;
    if (!*extra && !(*extra = vg_buf_alloc(256))) return VG_ENOMEM;
    uint8_t prefix[4] = {(uint8_t)(k >> 24), (uint8_t)(k >> 16), (uint8_t)(k >> 8), (uint8_t)k};
    if (vg_buf_append(extra, prefix, 4) < 0 || vg_buf_append(extra, nal, (size_t)k) < 0) return VG_ENOMEM;
  }
  return 0;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static const uint32_t aac_rates[] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                                      22050, 16000, 12000, 11025, 8000,  7350};

/* A two-byte AAC-LC AudioSpecificConfig for a standard rate, or -1. */
static int aac_lc_config(uint32_t rate, int channels, uint8_t asc[2]) {
  for (int i = 0; i < 13; i++) {
    if (aac_rates[i] != rate) continue;
    if (channels < 1 || channels > 7) return -1;
    asc[0] = (uint8_t)(2 << 3 | i >> 1);
    asc[1] = (uint8_t)((i & 1) << 7 | channels << 3);
    return 0;
  }
  return -1;
}

static int aac_track(const vg_sdp_media_t *m, vg_track_t *t) {
  size_t len;
  const char *mode = vg_sdp_fmtp_get(m, "mode", &len);
  if (!mode || !((len == 7 && !strncasecmp(mode, "AAC-hbr", 7)) || (len == 7 && !strncasecmp(mode, "AAC-lbr", 7))))
    return VG_EUNSUPPORTED;
  t->codec = VG_CODEC_AAC;
  t->sample_rate = (int)t->clock_rate;
  t->channels = m->channels > 0 ? m->channels : 1;
  const char *config = vg_sdp_fmtp_get(m, "config", &len);
  uint8_t asc[64];
  size_t asc_len = 0;
  if (config && len) {
    if (len % 2 || len / 2 > sizeof(asc)) return VG_EPROTO;
    for (size_t i = 0; i < len / 2; i++) {
      int hi = hex_digit(config[2 * i]), lo = hex_digit(config[2 * i + 1]);
      if (hi < 0 || lo < 0) return VG_EPROTO;
      asc[i] = (uint8_t)(hi << 4 | lo);
    }
    asc_len = len / 2;
  } else {
    /* RFC 3640 makes config mandatory, but a camera that omits it still
     * sends plain AAC-LC at its rtpmap rate; describe that. */
    if (aac_lc_config(t->clock_rate, t->channels, asc) < 0) return VG_EPROTO;
    asc_len = 2;
  }
  t->extradata = vg_buf_from(asc, asc_len);
  return t->extradata ? 0 : VG_ENOMEM;
}

static int media_to_track(const vg_sdp_media_t *m, vg_track_t *t) {
  const char *enc = m->encoding;
  size_t len;
  const char *v;
  t->clock_rate = m->clock_rate;
  if (m->type == VG_SDP_MEDIA_VIDEO && !strcasecmp(enc, "H264")) {
    t->codec = VG_CODEC_H264;
    if ((v = vg_sdp_fmtp_get(m, "sprop-parameter-sets", &len))) return append_sprop(&t->extradata, v, len);
    return 0;
  }
  if (m->type == VG_SDP_MEDIA_VIDEO && (!strcasecmp(enc, "H265") || !strcasecmp(enc, "HEVC"))) {
    t->codec = VG_CODEC_H265;
    static const char *const keys[] = {"sprop-vps", "sprop-sps", "sprop-pps"};
    for (int i = 0; i < 3; i++) {
      if (!(v = vg_sdp_fmtp_get(m, keys[i], &len))) continue;
      int r = append_sprop(&t->extradata, v, len);
      if (r < 0) return r;
    }
    return 0;
  }
  if (m->type != VG_SDP_MEDIA_AUDIO) return VG_EUNSUPPORTED;
  if (!strcasecmp(enc, "MPEG4-GENERIC")) return aac_track(m, t);
  bool pcmu = !strcasecmp(enc, "PCMU") || (!enc[0] && m->payload_type == 0);
  bool pcma = !strcasecmp(enc, "PCMA") || (!enc[0] && m->payload_type == 8);
  if (pcmu || pcma) {
    t->codec = pcmu ? VG_CODEC_PCMU : VG_CODEC_PCMA;
    if (!t->clock_rate) t->clock_rate = 8000;
    t->sample_rate = (int)t->clock_rate;
    t->channels = m->channels > 0 ? m->channels : 1;
    return 0;
  }
  if (!strcasecmp(enc, "OPUS")) {
    /* RFC 7587: the rtpmap always says 48000/2; sprop-stereo says whether
     * the sender actually sends stereo (default: no). */
    t->codec = VG_CODEC_OPUS;
    t->clock_rate = 48000;
    t->sample_rate = 48000;
    v = vg_sdp_fmtp_get(m, "sprop-stereo", &len);
    t->channels = (v && len == 1 && v[0] == '1') ? 2 : 1;
    return 0;
  }
  return VG_EUNSUPPORTED;
}

int vg_sdp_media_to_track(const vg_sdp_media_t *m, vg_track_t *track) {
  memset(track, 0, sizeof(*track));
  int r = m->clock_rate || m->payload_type == 0 || m->payload_type == 8 ? media_to_track(m, track)
                                                                          : VG_EUNSUPPORTED;
  if (r < 0) vg_track_clear(track);
  return r;
}

/* ---- Writing ------------------------------------------------------------ */

typedef struct {
  char *buf;
  size_t cap, len;
  int err;
} sdp_writer_t;

static void w_fmt(sdp_writer_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void w_fmt(sdp_writer_t *w, const char *fmt, ...) {
  if (w->err) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(w->buf + w->len, w->cap - w->len, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= w->cap - w->len) {
    w->buf[w->len] = 0;
    w->err = VG_ETOOBIG;
    return;
  }
  w->len += (size_t)n;
}

static void w_base64(sdp_writer_t *w, const uint8_t *data, size_t len) {
  if (w->err) return;
  int n = vg_base64_encode(data, len, w->buf + w->len, w->cap - w->len);
  if (n < 0) {
    w->buf[w->len] = 0;
    w->err = VG_ETOOBIG;
    return;
  }
  w->len += (size_t)n;
}

/* Walks the length-prefixed NAL units of extradata: returns the next one
 * at *pos, or NULL at the end or on a truncated unit. */
static const uint8_t *next_nal(const vg_buf_t *extra, size_t *pos, size_t *nal_len) {
  if (!extra || *pos + 4 > extra->len) return NULL;
  const uint8_t *p = extra->data + *pos;
  size_t n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
  if (n == 0 || n > extra->len - *pos - 4) return NULL;
  *pos += 4 + n;
  *nal_len = n;
  return p + 4;
}

static int count_nals(const vg_buf_t *extra, bool h265, int type) {
  size_t pos = 0, n;
  int count = 0;
  for (const uint8_t *nal; (nal = next_nal(extra, &pos, &n));)
    count += (h265 ? (nal[0] >> 1) & 0x3f : nal[0] & 0x1f) == type;
  return count;
}

/* Writes the base64 of the NAL units of one type, each preceded by sep
 * when *first is false (sets *first = false after the first). */
static void w_sprop(sdp_writer_t *w, const vg_buf_t *extra, bool h265, int type, bool *first) {
  size_t pos = 0, n;
  for (const uint8_t *nal; (nal = next_nal(extra, &pos, &n));) {
    int t = h265 ? (nal[0] >> 1) & 0x3f : nal[0] & 0x1f;
    if (t != type) continue;
    if (!*first) w_fmt(w, ",");
    *first = false;
    w_base64(w, nal, n);
  }
}

static void write_h264(sdp_writer_t *w, const vg_track_t *t, int pt) {
  w_fmt(w, "a=rtpmap:%d H264/90000\r\na=fmtp:%d packetization-mode=1", pt, pt);
  size_t pos = 0, n;
  for (const uint8_t *nal; (nal = next_nal(t->extradata, &pos, &n));) {
    if ((nal[0] & 0x1f) == 7 && n >= 4) {
      w_fmt(w, ";profile-level-id=%02X%02X%02X", nal[1], nal[2], nal[3]);
      break;
    }
  }
  if (count_nals(t->extradata, false, 7) + count_nals(t->extradata, false, 8) > 0) {
    bool first = true;
    w_fmt(w, ";sprop-parameter-sets=");
    w_sprop(w, t->extradata, false, 7, &first);
    w_sprop(w, t->extradata, false, 8, &first);
  }
  w_fmt(w, "\r\n");
}

static void write_h265(sdp_writer_t *w, const vg_track_t *t, int pt) {
  w_fmt(w, "a=rtpmap:%d H265/90000\r\n", pt);
  static const char *const keys[] = {"sprop-vps", "sprop-sps", "sprop-pps"};
  bool any = false;
  for (int i = 0; i < 3; i++) {
    if (count_nals(t->extradata, true, 32 + i) == 0) continue;
    if (any) w_fmt(w, ";%s=", keys[i]);
    else w_fmt(w, "a=fmtp:%d %s=", pt, keys[i]);
    any = true;
    bool first = true;
    w_sprop(w, t->extradata, true, 32 + i, &first);
  }
  if (any) w_fmt(w, "\r\n");
}

static int write_aac(sdp_writer_t *w, const vg_track_t *t, int pt) {
  uint32_t rate = t->sample_rate > 0 ? (uint32_t)t->sample_rate : t->clock_rate;
  int channels = t->channels > 0 ? t->channels : 1;
  uint8_t lc[2];
  const uint8_t *asc = t->extradata ? t->extradata->data : NULL;
  size_t asc_len = t->extradata ? t->extradata->len : 0;
  if (!asc_len) {
    if (aac_lc_config(rate, channels, lc) < 0) return VG_EUNSUPPORTED;
    asc = lc;
    asc_len = 2;
  }
  w_fmt(w, "a=rtpmap:%d MPEG4-GENERIC/%u/%d\r\n", pt, (unsigned)t->clock_rate, channels);
  w_fmt(w,
        "a=fmtp:%d streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;"
        "indexdeltalength=3;config=",
        pt);
  for (size_t i = 0; i < asc_len; i++) w_fmt(w, "%02X", asc[i]);
  w_fmt(w, "\r\n");
  return 0;
}

static int write_media(sdp_writer_t *w, const vg_track_t *t, int pt, int index) {
  bool video = vg_codec_is_video(t->codec);
  w_fmt(w, "m=%s 0 RTP/AVP %d\r\n", video ? "video" : "audio", pt);
  switch (t->codec) {
  case VG_CODEC_H264: write_h264(w, t, pt); break;
  case VG_CODEC_H265: write_h265(w, t, pt); break;
  case VG_CODEC_AAC: {
    int r = write_aac(w, t, pt);
    if (r < 0) return r;
    break;
  }
  case VG_CODEC_PCMU:
  case VG_CODEC_PCMA: {
    unsigned rate = t->clock_rate ? t->clock_rate : 8000;
    w_fmt(w, "a=rtpmap:%d %s/%u", pt, t->codec == VG_CODEC_PCMU ? "PCMU" : "PCMA", rate);
    if (t->channels > 1) w_fmt(w, "/%d", t->channels);
    w_fmt(w, "\r\n");
    break;
  }
  case VG_CODEC_OPUS:
    w_fmt(w, "a=rtpmap:%d opus/48000/2\r\na=fmtp:%d sprop-stereo=%d\r\n", pt, pt, t->channels == 2);
    break;
  default: return VG_EUNSUPPORTED;
  }
  w_fmt(w, "a=control:trackID=%d\r\n", index);
  return 0;
}

int vg_sdp_write(const vg_track_t *tracks, const int *payload_types, int n, const vg_sdp_write_opts_t *opts,
                 char *out, size_t out_size) {
  if (out_size == 0) return VG_ETOOBIG;
  out[0] = 0;
  if (n < 0 || n > VG_SDP_MAX_MEDIA || (n && (!tracks || !payload_types))) return VG_EINVAL;
  vg_sdp_write_opts_t o = opts ? *opts : (vg_sdp_write_opts_t){0};
  const char *name = o.session_name && o.session_name[0] ? o.session_name : "vigil";
  const char *addr = o.origin_address && o.origin_address[0] ? o.origin_address : "0.0.0.0";
  const char *range = o.range && o.range[0] ? o.range : "npt=0-";
  if (strpbrk(name, "\r\n") || strpbrk(addr, "\r\n ") || strpbrk(range, "\r\n")) return VG_EINVAL;
  const char *family = strchr(addr, ':') ? "IP6" : "IP4";
  sdp_writer_t w = {out, out_size, 0, 0};
  w_fmt(&w, "v=0\r\no=- %llu %llu IN %s %s\r\ns=%s\r\nc=IN %s %s\r\nt=0 0\r\n", (unsigned long long)o.session_id,
        (unsigned long long)o.session_id, family, addr, name, family, addr);
  w_fmt(&w, "a=tool:vigil\r\na=control:*\r\na=range:%s\r\n", range);
  for (int i = 0; i < n; i++) {
    if (payload_types[i] < 0 || payload_types[i] > 127) return VG_EINVAL;
    int r = write_media(&w, &tracks[i], payload_types[i], i);
    if (r < 0) {
      out[0] = 0;
      return r;
    }
  }
  if (w.err) {
    out[0] = 0;
    return w.err;
  }
  return (int)w.len;
}
