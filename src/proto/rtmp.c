#include "proto/rtmp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

static uint32_t rd24(const uint8_t *p) { return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]; }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | rd24(p + 1); }
static uint32_t rd32le(const uint8_t *p) {
  return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static void wr16(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static void wr24(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 16);
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)v;
}
static void wr32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  wr24(p + 1, v);
}

/* ---- handshake ---- */

/* The random part of C1/S1 only has to differ between sessions: a
 * xorshift stream is plenty. */
static void fill_random(uint8_t *p, size_t n, uint32_t seed) {
  uint32_t x = seed ? seed : 0x9e3779b9u;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (uint8_t)x;
  }
}

/* C1/S1: 4-byte time, 4 zero bytes (the plain handshake's "version"), 1528 random bytes. */
static void write_hello(uint8_t *p, uint32_t seed) {
  wr32(p, 0);
  wr32(p + 4, 0);
  fill_random(p + 8, VG_RTMP_HANDSHAKE_SIZE - 8, seed);
}

int vg_rtmp_handshake_server(const uint8_t *c0c1, size_t len, uint32_t seed, uint8_t *out, size_t cap) {
  if (len < 1 + VG_RTMP_HANDSHAKE_SIZE) return VG_EINCOMPLETE;
  if (c0c1[0] != 3) return VG_EUNSUPPORTED;
  if (cap < 1 + 2 * VG_RTMP_HANDSHAKE_SIZE) return VG_ETOOBIG;
  out[0] = 3;
  write_hello(out + 1, seed);
  /* S2 echoes C1, with our read time in its second word. */
  memcpy(out + 1 + VG_RTMP_HANDSHAKE_SIZE, c0c1 + 1, VG_RTMP_HANDSHAKE_SIZE);
  wr32(out + 1 + VG_RTMP_HANDSHAKE_SIZE + 4, 0);
  return 1 + 2 * VG_RTMP_HANDSHAKE_SIZE;
}

int vg_rtmp_handshake_client_hello(uint32_t seed, uint8_t *out, size_t cap) {
  if (cap < 1 + VG_RTMP_HANDSHAKE_SIZE) return VG_ETOOBIG;
  out[0] = 3;
  write_hello(out + 1, seed);
  return 1 + VG_RTMP_HANDSHAKE_SIZE;
}

int vg_rtmp_handshake_client_reply(const uint8_t *s0s1s2, size_t len, uint8_t *out, size_t cap) {
  if (len < 1 + 2 * VG_RTMP_HANDSHAKE_SIZE) return VG_EINCOMPLETE;
  if (s0s1s2[0] != 3) return VG_EUNSUPPORTED;
  if (cap < VG_RTMP_HANDSHAKE_SIZE) return VG_ETOOBIG;
  memcpy(out, s0s1s2 + 1, VG_RTMP_HANDSHAKE_SIZE);
  return VG_RTMP_HANDSHAKE_SIZE;
}

/* ---- reading ---- */

void vg_rtmp_reader_init(vg_rtmp_reader_t *r, uint32_t max_message) {
  memset(r, 0, sizeof(*r));
  r->chunk_size = VG_RTMP_DEFAULT_CHUNK_SIZE;
  r->max_message = max_message;
}

void vg_rtmp_reader_free(vg_rtmp_reader_t *r) {
  for (int i = 0; i < VG_RTMP_MAX_CHUNK_STREAMS; i++)
    vg_buf_unref(&r->cs[i].buf);
}

static vg_rtmp_cs_t *find_cs(vg_rtmp_reader_t *r, uint32_t csid, int create) {
  vg_rtmp_cs_t *free_slot = NULL;
  for (int i = 0; i < VG_RTMP_MAX_CHUNK_STREAMS; i++) {
    if (r->cs[i].open && r->cs[i].csid == csid) return &r->cs[i];
    if (!r->cs[i].open && !free_slot) free_slot = &r->cs[i];
  }
  return create ? free_slot : NULL;
}

/* Applies the chunk-layer control messages. */
static int apply_control(vg_rtmp_reader_t *r, const vg_rtmp_msg_t *m) {
  const uint8_t *p = m->buf->data;
  size_t n = m->buf->len;
  if (m->type == VG_RTMP_MSG_SET_CHUNK_SIZE || m->type == VG_RTMP_MSG_ABORT ||
      m->type == VG_RTMP_MSG_WINDOW_ACK_SIZE) {
    if (n < 4) return VG_EPROTO;
    uint32_t v = rd32(p);
    if (m->type == VG_RTMP_MSG_SET_CHUNK_SIZE) {
      v &= 0x7fffffffu; /* the top bit must be 0 */
      if (v < 1 || v > VG_RTMP_MAX_CHUNK_SIZE) return VG_EPROTO;
      r->chunk_size = v;
    } else if (m->type == VG_RTMP_MSG_ABORT) {
      vg_rtmp_cs_t *cs = find_cs(r, v, 0);
      if (cs) {
        vg_buf_unref(&cs->buf);
        cs->got = 0;
      }
    } else {
      r->window = v;
    }
  }
  return 0;
}

int vg_rtmp_read(vg_rtmp_reader_t *r, const uint8_t *data, size_t len, size_t *used, vg_rtmp_msg_t *msg) {
  *used = 0;
  if (len < 1) return VG_EINCOMPLETE;
  size_t off = 1;
  uint8_t fmt = data[0] >> 6;
  uint32_t csid = data[0] & 0x3f;
  if (csid == 0) {
    if (len < 2) return VG_EINCOMPLETE;
    csid = 64 + data[1];
    off = 2;
  } else if (csid == 1) {
    if (len < 3) return VG_EINCOMPLETE;
    csid = 64 + data[1] + (uint32_t)data[2] * 256;
    off = 3;
  }
  static const uint8_t header_len[4] = {11, 7, 3, 0};
  if (len - off < header_len[fmt]) return VG_EINCOMPLETE;
  vg_rtmp_cs_t *cs = find_cs(r, csid, fmt == 0);
  if (!cs) return fmt == 0 ? VG_ETOOBIG : VG_EPROTO; /* too many chunk streams, or no previous header */
  /* Work on a copy: nothing changes until the whole chunk is here. */
  vg_rtmp_cs_t n = *cs;
  const uint8_t *h = data + off;
  uint32_t ts_field = 0;
  int new_message = n.got == 0 || !n.open;
  if (fmt < 3 && !new_message) return VG_EPROTO; /* a new header in the middle of a message */
  if (fmt <= 2) ts_field = rd24(h);
  if (fmt <= 1) {
    n.length = rd24(h + 3);
    n.type = h[6];
  }
  if (fmt == 0) n.stream_id = rd32le(h + 7);
  off += header_len[fmt];
  int ext = fmt < 3 ? ts_field == 0xffffff : n.ext;
  uint32_t ext_ts = 0;
  if (ext) {
    if (len - off < 4) return VG_EINCOMPLETE;
    ext_ts = rd32(data + off);
    off += 4;
  }
  if (fmt < 3) {
    uint32_t v = ext ? ext_ts : ts_field;
    n.ext = (uint8_t)ext;
    if (fmt == 0) {
      n.timestamp = v;
      n.delta = v; /* a following fmt 3 message adds it again, as FFmpeg and librtmp do */
    } else {
      n.delta = v;
      n.timestamp += v;
    }
  } else if (new_message && n.open) {
    n.timestamp += n.delta;
  }
  if (n.length > r->max_message) return VG_ETOOBIG;
  uint32_t want = n.length - n.got;
  if (want > r->chunk_size) want = r->chunk_size;
  if (len - off < want) return VG_EINCOMPLETE;
  /* Commit. */
  n.open = 1;
  n.csid = csid;
  if (new_message) {
    /* Memory follows the bytes that actually arrive, not the length a
     * header claims: start small and grow. */
    vg_buf_unref(&cs->buf);
    n.buf = NULL;
    n.got = 0;
    n.buf = vg_buf_alloc(n.length < 65536 ? (n.length ? n.length : 1) : 65536);
    if (!n.buf) {
      cs->open = 0;
      return VG_ENOMEM;
    }
  }
  if (n.buf->cap - n.got < want && vg_buf_reserve(&n.buf, want) != 0) {
    if (new_message) vg_buf_unref(&n.buf);
    return VG_ENOMEM;
  }
  memcpy(n.buf->data + n.got, data + off, want);
  n.got += want;
  n.buf->len = n.got;
  off += want;
  *cs = n;
  *used = off;
  r->bytes += off;
  if (cs->got < cs->length) return 0;
  msg->type = cs->type;
  msg->stream_id = cs->stream_id;
  msg->timestamp = cs->timestamp;
  msg->csid = csid;
  msg->buf = cs->buf;
  cs->buf = NULL;
  cs->got = 0;
  if (msg->stream_id == 0 || msg->type <= VG_RTMP_MSG_SET_PEER_BW) {
    int e = apply_control(r, msg);
    if (e) {
      vg_buf_unref(&msg->buf);
      return e;
    }
  }
  return 1;
}

int vg_rtmp_reader_ack_due(vg_rtmp_reader_t *r, uint32_t *seq) {
  if (!r->window || r->bytes - r->acked < r->window) return 0;
  r->acked = r->bytes;
  *seq = (uint32_t)r->bytes;
  return 1;
}

/* ---- writing ---- */

void vg_rtmp_writer_init(vg_rtmp_writer_t *w) {
  memset(w, 0, sizeof(*w));
  w->chunk_size = VG_RTMP_DEFAULT_CHUNK_SIZE;
}

size_t vg_rtmp_write_bound(const vg_rtmp_writer_t *w, size_t len) {
  size_t chunks = len / w->chunk_size + 1;
  return len + chunks * VG_RTMP_MAX_CHUNK_HEADER;
}

static size_t basic_header(uint8_t *p, uint8_t fmt, uint32_t csid) {
  if (csid < 64) {
    p[0] = (uint8_t)(fmt << 6 | csid);
    return 1;
  }
  if (csid < 64 + 256) {
    p[0] = (uint8_t)(fmt << 6);
    p[1] = (uint8_t)(csid - 64);
    return 2;
  }
  p[0] = (uint8_t)(fmt << 6 | 1);
  p[1] = (uint8_t)((csid - 64) & 0xff);
  p[2] = (uint8_t)((csid - 64) >> 8);
  return 3;
}

int vg_rtmp_write(vg_rtmp_writer_t *w, uint32_t csid, uint8_t type, uint32_t stream_id, uint32_t timestamp,
                  const uint8_t *payload, size_t len, uint8_t *out, size_t cap) {
  if (csid < 2 || csid > 65599) return VG_EINVAL;
  if (len > 0xffffff) return VG_ETOOBIG;
  int slot = -1, free_slot = -1;
  for (int i = 0; i < 8; i++) {
    if (w->cs[i].valid && w->cs[i].csid == csid) slot = i;
    if (!w->cs[i].valid && free_slot < 0) free_slot = i;
  }
  if (slot < 0) slot = free_slot >= 0 ? free_slot : (int)(csid % 8);
  uint8_t fmt = 0;
  uint32_t field = timestamp;
  if (w->cs[slot].valid && w->cs[slot].csid == csid && w->cs[slot].stream_id == stream_id &&
      timestamp >= w->cs[slot].timestamp) {
    field = timestamp - w->cs[slot].timestamp;
    fmt = w->cs[slot].length == len && w->cs[slot].type == type ? 2 : 1;
  }
  int ext = field >= 0xffffff;
  size_t off = 0;
  size_t sent = 0;
  do {
    size_t n = len - sent;
    if (n > w->chunk_size) n = w->chunk_size;
    uint8_t f = sent ? 3 : fmt;
    if (cap - off < VG_RTMP_MAX_CHUNK_HEADER + n) return VG_ETOOBIG;
    off += basic_header(out + off, f, csid);
    if (f <= 2) {
      wr24(out + off, ext ? 0xffffff : field);
      off += 3;
    }
    if (f <= 1) {
      wr24(out + off, (uint32_t)len);
      out[off + 3] = type;
      off += 4;
    }
    if (f == 0) {
      /* The message stream id is the one little-endian field. */
      out[off] = (uint8_t)stream_id;
      out[off + 1] = (uint8_t)(stream_id >> 8);
      out[off + 2] = (uint8_t)(stream_id >> 16);
      out[off + 3] = (uint8_t)(stream_id >> 24);
      off += 4;
    }
    if (ext) {
      wr32(out + off, field);
      off += 4;
    }
    if (n) memcpy(out + off, payload + sent, n);
    off += n;
    sent += n;
  } while (sent < len);
  w->cs[slot].valid = 1;
  w->cs[slot].csid = csid;
  w->cs[slot].stream_id = stream_id;
  w->cs[slot].length = (uint32_t)len;
  w->cs[slot].type = type;
  w->cs[slot].timestamp = timestamp;
  w->cs[slot].delta = fmt ? field : 0;
  return (int)off;
}

int vg_rtmp_write_control(vg_rtmp_writer_t *w, uint8_t type, uint32_t value, uint8_t *out, size_t cap) {
  uint8_t p[4];
  wr32(p, value);
  int n = vg_rtmp_write(w, VG_RTMP_CSID_CONTROL, type, 0, 0, p, 4, out, cap);
  if (n > 0 && type == VG_RTMP_MSG_SET_CHUNK_SIZE && value >= 1 && value <= VG_RTMP_MAX_CHUNK_SIZE)
    w->chunk_size = value;
  return n;
}

int vg_rtmp_write_peer_bw(vg_rtmp_writer_t *w, uint32_t window, uint8_t limit, uint8_t *out, size_t cap) {
  uint8_t p[5];
  wr32(p, window);
  p[4] = limit;
  return vg_rtmp_write(w, VG_RTMP_CSID_CONTROL, VG_RTMP_MSG_SET_PEER_BW, 0, 0, p, 5, out, cap);
}

int vg_rtmp_write_user_control(vg_rtmp_writer_t *w, uint16_t event, uint32_t value, uint32_t value2,
                               uint8_t *out, size_t cap) {
  uint8_t p[10];
  wr16(p, event);
  wr32(p + 2, value);
  size_t n = 6;
  if (event == VG_RTMP_UC_SET_BUFFER_LENGTH) {
    wr32(p + 6, value2);
    n = 10;
  }
  return vg_rtmp_write(w, VG_RTMP_CSID_CONTROL, VG_RTMP_MSG_USER_CONTROL, 0, 0, p, n, out, cap);
}

int vg_rtmp_answer_ping(vg_rtmp_writer_t *w, const vg_rtmp_msg_t *msg, uint8_t *out, size_t cap) {
  if (msg->type != VG_RTMP_MSG_USER_CONTROL || msg->buf->len < 6 || msg->buf->data[0] != 0 ||
      msg->buf->data[1] != VG_RTMP_UC_PING_REQUEST)
    return 0;
  const uint8_t *d = msg->buf->data + 2;
  uint32_t v = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
  return vg_rtmp_write_user_control(w, VG_RTMP_UC_PING_RESPONSE, v, 0, out, cap);
}

/* ---- commands ---- */

int vg_rtmp_command_parse(const uint8_t *p, size_t len, int is_data, vg_rtmp_command_t *cmd) {
  cmd->name[0] = 0;
  cmd->txn = 0;
  cmd->obj = NULL;
  cmd->nargs = 0;
  int n = vg_amf0_decode(p, len, &cmd->doc);
  if (n < 0) return n;
  const vg_amf0_value_t *name = vg_amf0_top(&cmd->doc, 0);
  if (vg_amf0_str(name, cmd->name, sizeof(cmd->name)) < 0) return VG_EPROTO;
  int at = 1;
  if (!is_data) {
    const vg_amf0_value_t *txn = vg_amf0_top(&cmd->doc, 1);
    if (!txn || txn->type != VG_AMF0_NUMBER) return VG_EPROTO;
    cmd->txn = txn->number;
    cmd->obj = vg_amf0_top(&cmd->doc, 2);
    at = 3;
  }
  for (; at < n && cmd->nargs < 4; at++)
    cmd->arg[cmd->nargs++] = vg_amf0_top(&cmd->doc, at);
  return 0;
}

void vg_rtmp_amf_connect(vg_amf0_writer_t *aw, double txn, const char *app, const char *tc_url) {
  vg_amf0_put_string(aw, "connect");
  vg_amf0_put_number(aw, txn);
  vg_amf0_put_object_begin(aw);
  vg_amf0_put_prop_string(aw, "app", app);
  vg_amf0_put_prop_string(aw, "flashVer", "LNX 9,0,124,2");
  vg_amf0_put_prop_string(aw, "tcUrl", tc_url);
  vg_amf0_put_prop_bool(aw, "fpad", 0);
  vg_amf0_put_prop_number(aw, "capabilities", 15);
  vg_amf0_put_prop_number(aw, "audioCodecs", 4071);
  vg_amf0_put_prop_number(aw, "videoCodecs", 252);
  vg_amf0_put_prop_number(aw, "videoFunction", 1);
  /* Enhanced RTMP: we take H.265 as well. */
  vg_amf0_put_key(aw, "fourCcList");
  vg_amf0_put_strict_array_begin(aw, 2);
  vg_amf0_put_string(aw, "avc1");
  vg_amf0_put_string(aw, "hvc1");
  vg_amf0_put_object_end(aw);
}

void vg_rtmp_amf_connect_result(vg_amf0_writer_t *aw, double txn) {
  vg_amf0_put_string(aw, "_result");
  vg_amf0_put_number(aw, txn);
  vg_amf0_put_object_begin(aw);
  vg_amf0_put_prop_string(aw, "fmsVer", "FMS/3,0,1,123");
  vg_amf0_put_prop_number(aw, "capabilities", 31);
  vg_amf0_put_object_end(aw);
  vg_amf0_put_object_begin(aw);
  vg_amf0_put_prop_string(aw, "level", "status");
  vg_amf0_put_prop_string(aw, "code", "NetConnection.Connect.Success");
  vg_amf0_put_prop_string(aw, "description", "Connection succeeded.");
  vg_amf0_put_prop_number(aw, "objectEncoding", 0);
  vg_amf0_put_object_end(aw);
}

void vg_rtmp_amf_call(vg_amf0_writer_t *aw, const char *name, double txn, const char *str) {
  vg_amf0_put_string(aw, name);
  vg_amf0_put_number(aw, txn);
  vg_amf0_put_null(aw);
  if (str) vg_amf0_put_string(aw, str);
}

void vg_rtmp_amf_call_num(vg_amf0_writer_t *aw, const char *name, double txn, double num) {
  vg_amf0_put_string(aw, name);
  vg_amf0_put_number(aw, txn);
  vg_amf0_put_null(aw);
  vg_amf0_put_number(aw, num);
}

void vg_rtmp_amf_publish(vg_amf0_writer_t *aw, double txn, const char *stream, const char *type) {
  vg_rtmp_amf_call(aw, "publish", txn, stream);
  vg_amf0_put_string(aw, type);
}

void vg_rtmp_amf_play(vg_amf0_writer_t *aw, double txn, const char *stream) {
  vg_rtmp_amf_call(aw, "play", txn, stream);
  vg_amf0_put_number(aw, -2000); /* live, else recorded */
}

void vg_rtmp_amf_result(vg_amf0_writer_t *aw, double txn, int has_value, double value) {
  vg_amf0_put_string(aw, "_result");
  vg_amf0_put_number(aw, txn);
  vg_amf0_put_null(aw);
  if (has_value)
    vg_amf0_put_number(aw, value);
  else
    vg_amf0_put_undefined(aw);
}

static void status_object(vg_amf0_writer_t *aw, const char *level, const char *code,
                          const char *description) {
  vg_amf0_put_object_begin(aw);
  vg_amf0_put_prop_string(aw, "level", level);
  vg_amf0_put_prop_string(aw, "code", code);
  vg_amf0_put_prop_string(aw, "description", description);
  vg_amf0_put_object_end(aw);
}

void vg_rtmp_amf_error(vg_amf0_writer_t *aw, double txn, const char *code, const char *description) {
  vg_amf0_put_string(aw, "_error");
  vg_amf0_put_number(aw, txn);
  vg_amf0_put_null(aw);
  status_object(aw, "error", code, description);
}

void vg_rtmp_amf_on_status(vg_amf0_writer_t *aw, const char *level, const char *code,
                           const char *description) {
  vg_amf0_put_string(aw, "onStatus");
  vg_amf0_put_number(aw, 0);
  vg_amf0_put_null(aw);
  status_object(aw, level, code, description);
}

/* ---- URLs ---- */

int vg_rtmp_url_parse(const char *url, vg_rtmp_url_t *out) {
  memset(out, 0, sizeof(*out));
  if (strncmp(url, "rtmp://", 7) != 0) return VG_EINVAL;
  const char *host = url + 7;
  const char *slash = strchr(host, '/');
  if (!slash) return VG_EINVAL;
  const char *authority_end = slash;
  if (memchr(host, '@', (size_t)(slash - host))) return VG_EINVAL;
  const char *colon = NULL;
  const char *host_end = authority_end;
  if (*host == '[') {
    const char *close = memchr(host, ']', (size_t)(slash - host));
    if (!close) return VG_EINVAL;
    if (close + 1 < slash && close[1] == ':')
      colon = close + 1;
    else if (close + 1 != slash)
      return VG_EINVAL;
    host++;
    host_end = close;
  } else {
    colon = memchr(host, ':', (size_t)(slash - host));
    if (colon) host_end = colon;
  }
  if (host_end == host) return VG_EINVAL;
  if ((size_t)(host_end - host) >= sizeof(out->host)) return VG_ETOOBIG;
  memcpy(out->host, host, (size_t)(host_end - host));
  out->port = 1935;
  if (colon) {
    long port = 0;
    const char *p = colon + 1;
    if (p == slash) return VG_EINVAL;
    for (; p < slash; p++) {
      if (*p < '0' || *p > '9') return VG_EINVAL;
      port = port * 10 + (*p - '0');
      if (port > 65535) return VG_EINVAL;
    }
    if (port == 0) return VG_EINVAL;
    out->port = (uint16_t)port;
  }
  const char *app = slash + 1;
  const char *app_end = strchr(app, '/');
  if (!app_end || app_end == app || !app_end[1]) return VG_EINVAL;
  if ((size_t)(app_end - app) >= sizeof(out->app)) return VG_ETOOBIG;
  memcpy(out->app, app, (size_t)(app_end - app));
  if (strlen(app_end + 1) >= sizeof(out->stream)) return VG_ETOOBIG;
  strcpy(out->stream, app_end + 1);
  for (const char *p = url; *p; p++)
    if ((unsigned char)*p < 0x21 || *p == 0x7f) return VG_EINVAL;
  if ((size_t)(app_end - url) >= sizeof(out->tc_url)) return VG_ETOOBIG;
  memcpy(out->tc_url, url, (size_t)(app_end - url));
  return 0;
}

/* ---- stream key queries ---- */

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int vg_rtmp_query_value(const char *query, const char *key, char *out, size_t size) {
  if (size == 0) return VG_ETOOBIG;
  out[0] = 0;
  size_t kl = strlen(key);
  for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
    if (strncmp(p, key, kl) != 0 || p[kl] != '=') continue;
    size_t n = 0;
    for (const char *v = p + kl + 1; *v && *v != '&'; v++) {
      char c = *v;
      int hi = c == '%' ? hex_digit(v[1]) : -1, lo = hi >= 0 ? hex_digit(v[2]) : -1;
      if (lo >= 0) {
        c = (char)(hi << 4 | lo);
        v += 2;
      }
      /* An escaped NUL would end the value early, and a value cut to fit
       * could match a secret's prefix: both are refused. */
      if (c == 0 || n + 1 >= size) {
        out[0] = 0;
        return c == 0 ? VG_EINVAL : VG_ETOOBIG;
      }
      out[n++] = c;
    }
    out[n] = 0;
    return (int)n;
  }
  return VG_ENOTFOUND;
}
