#include "proto/rtsp.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"

static void writer_fmt(vg_rtsp_writer_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- Small span helpers ------------------------------------------------- */

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static vg_rtsp_str_t trim(vg_rtsp_str_t s) {
  while (s.len && is_space(s.p[0])) s.p++, s.len--;
  while (s.len && is_space(s.p[s.len - 1])) s.len--;
  return s;
}

static vg_rtsp_str_t span(const char *p, size_t len) { return (vg_rtsp_str_t){p, len}; }

int vg_rtsp_str_eq(vg_rtsp_str_t s, const char *c) {
  size_t n = strlen(c);
  return s.len == n && strncasecmp(s.p, c, n) == 0;
}

int vg_rtsp_str_copy(vg_rtsp_str_t s, char *out, size_t out_size) {
  if (s.len + 1 > out_size) {
    if (out_size) out[0] = 0;
    return VG_ETOOBIG;
  }
  if (s.len) memcpy(out, s.p, s.len);
  out[s.len] = 0;
  return (int)s.len;
}

/* Splits the next element off *rest at separator sep: returns it trimmed
 * and advances *rest past the separator. */
static vg_rtsp_str_t next_item(vg_rtsp_str_t *rest, char sep) {
  const char *end = memchr(rest->p, sep, rest->len);
  size_t n = end ? (size_t)(end - rest->p) : rest->len;
  vg_rtsp_str_t item = trim(span(rest->p, n));
  rest->p += end ? n + 1 : n;
  rest->len -= end ? n + 1 : n;
  return item;
}

/* Splits "name=value" (spaces around '=' allowed, quotes around the value
 * removed). The value is empty when there is no '='. */
static void split_param(vg_rtsp_str_t item, vg_rtsp_str_t *name, vg_rtsp_str_t *value) {
  const char *eq = memchr(item.p, '=', item.len);
  if (!eq) {
    *name = item;
    *value = span(item.p + item.len, 0);
    return;
  }
  *name = trim(span(item.p, (size_t)(eq - item.p)));
  *value = trim(span(eq + 1, item.len - (size_t)(eq - item.p) - 1));
  if (value->len >= 2 && value->p[0] == '"' && value->p[value->len - 1] == '"') {
    value->p++;
    value->len -= 2;
  }
}

/* An unsigned decimal number no larger than max. */
static int parse_uint(vg_rtsp_str_t s, uint64_t max, uint64_t *out) {
  s = trim(s);
  if (s.len == 0) return VG_EPROTO;
  uint64_t v = 0;
  for (size_t i = 0; i < s.len; i++) {
    if (s.p[i] < '0' || s.p[i] > '9') return VG_EPROTO;
    v = v * 10 + (uint64_t)(s.p[i] - '0');
    if (v > max) return VG_ETOOBIG;
  }
  *out = v;
  return 0;
}

/* ---- Message parsing ---------------------------------------------------- */

static bool is_tchar(unsigned char c) {
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= '0' && c <= '9') return true;
  return strchr("!#$%&'*+-.^_`|~", c) != NULL && c != 0;
}

/* The next line of text at data[pos..end): sets *line (without its CR LF or
 * LF) and returns the position after it, or 0 if no full line is there. */
static size_t next_line(const char *data, size_t pos, size_t end, vg_rtsp_str_t *line) {
  const char *nl = memchr(data + pos, '\n', end - pos);
  if (!nl) return 0;
  size_t n = (size_t)(nl - (data + pos));
  if (n && data[pos + n - 1] == '\r') n--;
  *line = span(data + pos, n);
  return (size_t)(nl - data) + 1;
}

static int parse_version(vg_rtsp_str_t v, vg_rtsp_msg_t *msg) {
  if (v.len != 8 || strncmp(v.p, "RTSP/", 5) != 0) return VG_EPROTO;
  if (v.p[5] < '0' || v.p[5] > '9' || v.p[6] != '.' || v.p[7] < '0' || v.p[7] > '9') return VG_EPROTO;
  msg->version_major = v.p[5] - '0';
  msg->version_minor = v.p[7] - '0';
  return msg->version_major == 1 ? 0 : VG_EPROTO;
}

/* Splits off the next run of non-blank characters of a start line. */
static vg_rtsp_str_t next_word(vg_rtsp_str_t *rest) {
  while (rest->len && (rest->p[0] == ' ' || rest->p[0] == '\t')) rest->p++, rest->len--;
  size_t n = 0;
  while (n < rest->len && rest->p[n] != ' ' && rest->p[n] != '\t') n++;
  vg_rtsp_str_t w = span(rest->p, n);
  rest->p += n;
  rest->len -= n;
  return w;
}

static int parse_start_line(vg_rtsp_str_t line, vg_rtsp_msg_t *msg) {
  vg_rtsp_str_t rest = line;
  vg_rtsp_str_t first = next_word(&rest);
  if (first.len >= 5 && strncmp(first.p, "RTSP/", 5) == 0) {
    msg->is_response = 1;
    if (parse_version(first, msg) < 0) return VG_EPROTO;
    vg_rtsp_str_t code = next_word(&rest);
    if (code.len != 3) return VG_EPROTO;
    uint64_t status;
    if (parse_uint(code, 999, &status) < 0 || status < 100) return VG_EPROTO;
    msg->status = (int)status;
    msg->reason = trim(rest);
    return 0;
  }
  if (first.len == 0) return VG_EPROTO;
  for (size_t i = 0; i < first.len; i++)
    if (!is_tchar((unsigned char)first.p[i])) return VG_EPROTO;
  msg->method = first;
  msg->uri = next_word(&rest);
  vg_rtsp_str_t version = next_word(&rest);
  if (msg->uri.len == 0 || trim(rest).len != 0) return VG_EPROTO;
  return parse_version(version, msg);
}

static int parse_header_line(vg_rtsp_str_t line, const vg_rtsp_limits_t *lim, vg_rtsp_msg_t *msg) {
  if (line.p[0] == ' ' || line.p[0] == '\t') {
    /* A folded continuation (RFC 2616 §2.2 LWS): extend the previous value
     * over it. The span then holds the line break, which readers treat as
     * whitespace. */
    if (msg->n_headers == 0) return VG_EPROTO;
    vg_rtsp_header_t *h = &msg->headers[msg->n_headers - 1];
    vg_rtsp_str_t more = trim(line);
    if (more.len == 0) return 0;
    if (h->value.len == 0) h->value = more;
    else h->value.len = (size_t)(more.p + more.len - h->value.p);
    return 0;
  }
  const char *colon = memchr(line.p, ':', line.len);
  if (!colon) return VG_EPROTO;
  vg_rtsp_str_t name = span(line.p, (size_t)(colon - line.p));
  /* Some cameras write "CSeq : 2"; tolerate blanks before the colon. */
  while (name.len && (name.p[name.len - 1] == ' ' || name.p[name.len - 1] == '\t')) name.len--;
  if (name.len == 0) return VG_EPROTO;
  for (size_t i = 0; i < name.len; i++)
    if (!is_tchar((unsigned char)name.p[i])) return VG_EPROTO;
  if (msg->n_headers >= lim->max_headers) return VG_ETOOBIG;
  vg_rtsp_header_t *h = &msg->headers[msg->n_headers++];
  h->name = name;
  h->value = trim(span(colon + 1, line.len - (size_t)(colon + 1 - line.p)));
  return 0;
}

/* Control bytes other than HT, CR and LF never appear in a message head;
 * they mean binary garbage (e.g. a stream that lost its framing). */
static int check_head_bytes(const uint8_t *data, size_t from, size_t to) {
  for (size_t i = from; i < to; i++) {
    uint8_t c = data[i];
    if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f) return VG_EPROTO;
    if (c == '\r' && i + 1 < to && data[i + 1] != '\n') return VG_EPROTO;
  }
  return 0;
}

/* The position just after the blank line that ends the head, or `end` if
 * that line is not within data[pos..end). Only the head is checked for
 * stray bytes: the body and any following frames are binary. */
static size_t find_head_end(const uint8_t *data, size_t pos, size_t end) {
  for (const uint8_t *nl = memchr(data + pos, '\n', end - pos); nl;
       nl = memchr(nl + 1, '\n', (size_t)(data + end - nl - 1))) {
    size_t i = (size_t)(nl - data) + 1;
    if (i < end && data[i] == '\n') return i + 1;
    if (i + 1 < end && data[i] == '\r' && data[i + 1] == '\n') return i + 2;
  }
  return end;
}

static int parse_content_length(const vg_rtsp_msg_t *msg, const vg_rtsp_limits_t *lim, size_t *out) {
  *out = 0;
  bool seen = false;
  for (int i = 0; i < msg->n_headers; i++) {
    if (!vg_rtsp_str_eq(msg->headers[i].name, "Content-Length")) continue;
    vg_rtsp_str_t v = msg->headers[i].value;
    if (v.len && v.p[0] == '-') return VG_ETOOBIG;
    if (v.len && v.p[0] == '+') v.p++, v.len--;
    uint64_t n;
    int r = parse_uint(v, lim->max_body, &n);
    if (r < 0) return r;
    /* Two different lengths would let two parsers frame the stream
     * differently (request smuggling); refuse them. */
    if (seen && n != *out) return VG_EPROTO;
    seen = true;
    *out = (size_t)n;
  }
  return 0;
}

static int parse_frame(const uint8_t *data, size_t pos, size_t len, vg_rtsp_frame_t *frame,
                       size_t *consumed) {
  if (len - pos < 4) return VG_EINCOMPLETE;
  size_t n = (size_t)data[pos + 2] << 8 | data[pos + 3];
  if (len - pos - 4 < n) return VG_EINCOMPLETE;
  frame->channel = data[pos + 1];
  frame->data = data + pos + 4;
  frame->len = n;
  *consumed = pos + 4 + n;
  return VG_RTSP_FRAME;
}

static int parse_message(const uint8_t *data, size_t pos, size_t len, const vg_rtsp_limits_t *lim,
                         vg_rtsp_msg_t *msg, size_t *consumed) {
  const char *text = (const char *)data;
  size_t head_limit = pos + lim->max_header_bytes;
  size_t scan_end = len < head_limit ? len : head_limit;
  int r = check_head_bytes(data, pos, find_head_end(data, pos, scan_end));
  if (r < 0) return r;
  if (!is_tchar(data[pos])) return VG_EPROTO;

  memset(msg, 0, sizeof(*msg));
  vg_rtsp_str_t line;
  size_t next = next_line(text, pos, scan_end, &line);
  if (!next) return len >= head_limit ? VG_ETOOBIG : VG_EINCOMPLETE;
  /* The start line is judged as soon as it is complete, so that garbage is
   * refused at once rather than after 16 KiB of it. */
  r = parse_start_line(line, msg);
  if (r < 0) return r;
  for (;;) {
    size_t after = next_line(text, next, scan_end, &line);
    if (!after) return len >= head_limit ? VG_ETOOBIG : VG_EINCOMPLETE;
    next = after;
    if (line.len == 0) break;
    r = parse_header_line(line, lim, msg);
    if (r < 0) return r;
  }
  size_t body_len;
  r = parse_content_length(msg, lim, &body_len);
  if (r < 0) return r;
  if (len - next < body_len) return VG_EINCOMPLETE;
  msg->body = body_len ? data + next : NULL;
  msg->body_len = body_len;
  *consumed = next + body_len;
  return VG_RTSP_MESSAGE;
}

int vg_rtsp_parse(const uint8_t *data, size_t len, const vg_rtsp_limits_t *limits, vg_rtsp_msg_t *msg,
                  vg_rtsp_frame_t *frame, size_t *consumed) {
  vg_rtsp_limits_t lim = {VG_RTSP_DEFAULT_MAX_HEADER_BYTES, VG_RTSP_MAX_HEADERS, VG_RTSP_DEFAULT_MAX_BODY};
  if (limits) {
    if (limits->max_header_bytes) lim.max_header_bytes = limits->max_header_bytes;
    if (limits->max_headers > 0 && limits->max_headers < VG_RTSP_MAX_HEADERS)
      lim.max_headers = limits->max_headers;
    lim.max_body = limits->max_body;
  }
  *consumed = 0;
  /* Blank lines between messages (a keep-alive CRLF, a body's stray line
   * end) are skipped, within the header budget. */
  size_t pos = 0;
  while (pos < len && (data[pos] == '\r' || data[pos] == '\n')) {
    if (++pos > lim.max_header_bytes) return VG_ETOOBIG;
  }
  if (pos == len) return VG_EINCOMPLETE;
  if (data[pos] == '$') return parse_frame(data, pos, len, frame, consumed);
  return parse_message(data, pos, len, &lim, msg, consumed);
}

/* ---- Message accessors -------------------------------------------------- */

const vg_rtsp_str_t *vg_rtsp_msg_header(const vg_rtsp_msg_t *msg, const char *name) {
  for (int i = 0; i < msg->n_headers; i++)
    if (vg_rtsp_str_eq(msg->headers[i].name, name)) return &msg->headers[i].value;
  return NULL;
}

int vg_rtsp_msg_is(const vg_rtsp_msg_t *msg, const char *method) {
  size_t n = strlen(method);
  return !msg->is_response && msg->method.len == n && memcmp(msg->method.p, method, n) == 0;
}

int vg_rtsp_msg_cseq(const vg_rtsp_msg_t *msg, uint32_t *cseq) {
  const vg_rtsp_str_t *v = vg_rtsp_msg_header(msg, "CSeq");
  if (!v) return VG_ENOTFOUND;
  uint64_t n;
  if (parse_uint(*v, UINT32_MAX, &n) < 0) return VG_EPROTO;
  *cseq = (uint32_t)n;
  return 0;
}

int vg_rtsp_msg_session(const vg_rtsp_msg_t *msg, vg_rtsp_session_t *out) {
  memset(out, 0, sizeof(*out));
  out->timeout_s = 60;
  const vg_rtsp_str_t *v = vg_rtsp_msg_header(msg, "Session");
  if (!v) return VG_ENOTFOUND;
  vg_rtsp_str_t rest = *v;
  out->id = next_item(&rest, ';');
  if (out->id.len == 0) return VG_EPROTO;
  while (rest.len) {
    vg_rtsp_str_t name, value;
    split_param(next_item(&rest, ';'), &name, &value);
    if (!vg_rtsp_str_eq(name, "timeout")) continue;
    uint64_t t;
    if (parse_uint(value, 86400, &t) < 0 || t == 0) return VG_EPROTO;
    out->timeout_s = (int)t;
    out->has_timeout = 1;
  }
  return 0;
}

int vg_rtsp_msg_content_base(const vg_rtsp_msg_t *msg, vg_rtsp_str_t *out) {
  const vg_rtsp_str_t *v = vg_rtsp_msg_header(msg, "Content-Base");
  if (!v || v->len == 0) v = vg_rtsp_msg_header(msg, "Content-Location");
  if (!v || v->len == 0) return VG_ENOTFOUND;
  *out = *v;
  return 0;
}

/* ---- Transport ---------------------------------------------------------- */

/* "a" or "a-b"; a single value b defaults to a + 1 (the RTCP port/channel). */
static int parse_pair(vg_rtsp_str_t v, uint64_t max, uint64_t pair[2]) {
  const char *dash = memchr(v.p, '-', v.len);
  size_t first_len = dash ? (size_t)(dash - v.p) : v.len;
  int r = parse_uint(span(v.p, first_len), max, &pair[0]);
  if (r < 0) return VG_EPROTO;
  if (!dash) {
    pair[1] = pair[0] + 1 <= max ? pair[0] + 1 : pair[0];
    return 0;
  }
  r = parse_uint(span(dash + 1, v.len - first_len - 1), max, &pair[1]);
  return r < 0 ? VG_EPROTO : 0;
}

static int parse_hex32(vg_rtsp_str_t v, uint32_t *out) {
  if (v.len == 0 || v.len > 8) return VG_EPROTO;
  uint32_t x = 0;
  for (size_t i = 0; i < v.len; i++) {
    char c = v.p[i];
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
    if (d < 0) return VG_EPROTO;
    x = x << 4 | (uint32_t)d;
  }
  *out = x;
  return 0;
}

static int transport_param(vg_rtsp_str_t name, vg_rtsp_str_t value, vg_rtsp_transport_t *t) {
  uint64_t pair[2];
  if (vg_rtsp_str_eq(name, "unicast")) {
    t->unicast = 1;
  } else if (vg_rtsp_str_eq(name, "multicast")) {
    t->unicast = 0;
  } else if (vg_rtsp_str_eq(name, "client_port") || vg_rtsp_str_eq(name, "server_port")) {
    if (parse_pair(value, 65535, pair) < 0) return VG_EPROTO;
    bool client = vg_rtsp_str_eq(name, "client_port");
    uint16_t *ports = client ? t->client_port : t->server_port;
    ports[0] = (uint16_t)pair[0];
    ports[1] = (uint16_t)pair[1];
    *(client ? &t->has_client_port : &t->has_server_port) = 1;
  } else if (vg_rtsp_str_eq(name, "interleaved")) {
    if (parse_pair(value, 255, pair) < 0) return VG_EPROTO;
    t->interleaved[0] = (uint8_t)pair[0];
    t->interleaved[1] = (uint8_t)pair[1];
    t->has_interleaved = 1;
  } else if (vg_rtsp_str_eq(name, "ssrc")) {
    /* Cameras write odd SSRCs (decimal, too long); an unreadable one is
     * dropped, since the RTP stream itself says which SSRC it uses. */
    t->has_ssrc = parse_hex32(value, &t->ssrc) == 0;
  } else if (vg_rtsp_str_eq(name, "ttl")) {
    uint64_t ttl;
    if (parse_uint(value, 255, &ttl) < 0) return VG_EPROTO;
    t->ttl = (int)ttl;
    t->has_ttl = 1;
  } else if (vg_rtsp_str_eq(name, "mode")) {
    if (vg_rtsp_str_eq(value, "record") || vg_rtsp_str_eq(value, "receive")) t->mode = VG_RTSP_MODE_RECORD;
    else t->mode = VG_RTSP_MODE_PLAY;
  } else if (vg_rtsp_str_eq(name, "destination")) {
    if (vg_rtsp_str_copy(value, t->destination, sizeof(t->destination)) < 0) return VG_EPROTO;
  } else if (vg_rtsp_str_eq(name, "source")) {
    if (vg_rtsp_str_copy(value, t->source, sizeof(t->source)) < 0) return VG_EPROTO;
  }
  /* Other parameters (layers, append, port) do not concern vigil. */
  return 0;
}

static int transport_spec(vg_rtsp_str_t spec, vg_rtsp_transport_t *t) {
  memset(t, 0, sizeof(*t));
  vg_rtsp_str_t rest = spec;
  vg_rtsp_str_t proto = next_item(&rest, ';');
  if (vg_rtsp_str_eq(proto, "RTP/AVP") || vg_rtsp_str_eq(proto, "RTP/AVP/UDP")) {
    t->lower = VG_RTSP_LOWER_UDP;
  } else if (vg_rtsp_str_eq(proto, "RTP/AVP/TCP")) {
    t->lower = VG_RTSP_LOWER_TCP;
    t->unicast = 1;
  } else {
    return VG_EUNSUPPORTED;
  }
  while (rest.len) {
    vg_rtsp_str_t name, value;
    vg_rtsp_str_t item = next_item(&rest, ';');
    if (item.len == 0) continue;
    split_param(item, &name, &value);
    int r = transport_param(name, value, t);
    if (r < 0) return r;
  }
  return 0;
}

int vg_rtsp_transport_parse(vg_rtsp_str_t value, vg_rtsp_transport_t *out, int max) {
  int n = 0;
  vg_rtsp_str_t rest = value;
  while (rest.len && n < max) {
    vg_rtsp_str_t spec = next_item(&rest, ',');
    if (spec.len == 0) continue;
    int r = transport_spec(spec, &out[n]);
    if (r == VG_EUNSUPPORTED) continue;
    if (r < 0) return r;
    n++;
  }
  return n ? n : VG_EUNSUPPORTED;
}

int vg_rtsp_transport_format(const vg_rtsp_transport_t *t, char *out, size_t out_size) {
  vg_rtsp_writer_t w;
  vg_rtsp_writer_init(&w, out, out_size);
  writer_fmt(&w, "%s;%s", t->lower == VG_RTSP_LOWER_TCP ? "RTP/AVP/TCP" : "RTP/AVP",
             t->unicast ? "unicast" : "multicast");
  if (t->destination[0]) writer_fmt(&w, ";destination=%s", t->destination);
  if (t->source[0]) writer_fmt(&w, ";source=%s", t->source);
  if (t->has_interleaved) writer_fmt(&w, ";interleaved=%u-%u", t->interleaved[0], t->interleaved[1]);
  if (t->has_ttl) writer_fmt(&w, ";ttl=%d", t->ttl);
  if (t->has_client_port) writer_fmt(&w, ";client_port=%u-%u", t->client_port[0], t->client_port[1]);
  if (t->has_server_port) writer_fmt(&w, ";server_port=%u-%u", t->server_port[0], t->server_port[1]);
  if (t->has_ssrc) writer_fmt(&w, ";ssrc=%08X", (unsigned)t->ssrc);
  if (t->mode == VG_RTSP_MODE_RECORD) writer_fmt(&w, ";mode=record");
  if (w.err) {
    if (out_size) out[0] = 0;
    return w.err;
  }
  return (int)w.len;
}

/* ---- RTP-Info and Public ------------------------------------------------ */

/* Whether s (after blanks) starts with "url=": the start of an RTP-Info
 * entry. Entries are split only there, so a ',' inside a URL survives. */
static bool starts_entry(const char *p, size_t len) {
  while (len && is_space(*p)) p++, len--;
  return len >= 4 && strncasecmp(p, "url=", 4) == 0;
}

int vg_rtsp_rtp_info_parse(vg_rtsp_str_t value, vg_rtsp_rtp_info_t *out, int max) {
  int n = 0;
  size_t pos = 0;
  while (pos < value.len && n < max) {
    size_t end = pos;
    while (end < value.len && !(value.p[end] == ',' && starts_entry(value.p + end + 1, value.len - end - 1)))
      end++;
    vg_rtsp_str_t rest = trim(span(value.p + pos, end - pos));
    pos = end + 1;
    if (rest.len == 0) continue;
    vg_rtsp_rtp_info_t *e = &out[n];
    memset(e, 0, sizeof(*e));
    bool has_url = false;
    while (rest.len) {
      vg_rtsp_str_t name, v;
      split_param(next_item(&rest, ';'), &name, &v);
      uint64_t x;
      if (vg_rtsp_str_eq(name, "url")) {
        e->url = v;
        has_url = true;
      } else if (vg_rtsp_str_eq(name, "seq")) {
        if (parse_uint(v, 65535, &x) < 0) return VG_EPROTO;
        e->seq = (uint16_t)x;
        e->has_seq = 1;
      } else if (vg_rtsp_str_eq(name, "rtptime")) {
        if (parse_uint(v, UINT32_MAX, &x) < 0) return VG_EPROTO;
        e->rtptime = (uint32_t)x;
        e->has_rtptime = 1;
      }
    }
    if (!has_url) return VG_EPROTO;
    n++;
  }
  return n;
}

static const char *const method_names[] = {"OPTIONS", "DESCRIBE", "ANNOUNCE",      "SETUP",
                                           "PLAY",    "PAUSE",    "RECORD",        "TEARDOWN",
                                           "GET_PARAMETER", "SET_PARAMETER", "REDIRECT"};

unsigned vg_rtsp_method_bit(vg_rtsp_str_t method) {
  for (size_t i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++)
    if (vg_rtsp_str_eq(method, method_names[i])) return 1u << i;
  return 0;
}

unsigned vg_rtsp_public_parse(vg_rtsp_str_t value) {
  unsigned bits = 0;
  vg_rtsp_str_t rest = value;
  while (rest.len) bits |= vg_rtsp_method_bit(next_item(&rest, ','));
  return bits;
}

/* ---- Writing ------------------------------------------------------------ */

void vg_rtsp_writer_init(vg_rtsp_writer_t *w, char *buf, size_t cap) {
  w->buf = buf;
  w->cap = cap;
  w->len = 0;
  w->err = cap ? 0 : VG_ETOOBIG;
  if (cap) buf[0] = 0;
}

static void writer_append(vg_rtsp_writer_t *w, const void *data, size_t n) {
  if (w->err) return;
  if (w->len + n + 1 > w->cap) {
    w->err = VG_ETOOBIG;
    return;
  }
  if (n) memcpy(w->buf + w->len, data, n);
  w->len += n;
  w->buf[w->len] = 0;
}

static void writer_printf(vg_rtsp_writer_t *w, const char *fmt, va_list ap) {
  if (w->err) return;
  size_t room = w->cap - w->len;
  int n = vsnprintf(w->buf + w->len, room, fmt, ap);
  if (n < 0 || (size_t)n >= room) {
    w->buf[w->len] = 0;
    w->err = VG_ETOOBIG;
    return;
  }
  w->len += (size_t)n;
}

static void writer_fmt(vg_rtsp_writer_t *w, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  writer_printf(w, fmt, ap);
  va_end(ap);
}

static bool has_line_break(const char *s, size_t n) { return memchr(s, '\r', n) || memchr(s, '\n', n); }

void vg_rtsp_write_request_line(vg_rtsp_writer_t *w, const char *method, const char *uri) {
  if (w->err) return;
  if (has_line_break(method, strlen(method)) || has_line_break(uri, strlen(uri)) || strchr(uri, ' ')) {
    w->err = VG_EINVAL;
    return;
  }
  writer_fmt(w, "%s %s RTSP/1.0\r\n", method, uri);
}

void vg_rtsp_write_status_line(vg_rtsp_writer_t *w, int status, const char *reason) {
  if (w->err) return;
  if (status < 100 || status > 999 || (reason && has_line_break(reason, strlen(reason)))) {
    w->err = VG_EINVAL;
    return;
  }
  writer_fmt(w, "RTSP/1.0 %d %s\r\n", status, reason ? reason : vg_rtsp_reason(status));
}

void vg_rtsp_write_headerv(vg_rtsp_writer_t *w, const char *name, const char *fmt, va_list ap) {
  if (w->err) return;
  size_t start = w->len;
  writer_fmt(w, "%s: ", name);
  size_t value_start = w->len;
  writer_printf(w, fmt, ap);
  if (w->err) return;
  if (has_line_break(name, strlen(name)) || has_line_break(w->buf + value_start, w->len - value_start)) {
    w->len = start;
    w->buf[start] = 0;
    w->err = VG_EINVAL;
    return;
  }
  writer_append(w, "\r\n", 2);
}

void vg_rtsp_write_header(vg_rtsp_writer_t *w, const char *name, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vg_rtsp_write_headerv(w, name, fmt, ap);
  va_end(ap);
}

int vg_rtsp_write_end(vg_rtsp_writer_t *w, const void *body, size_t body_len) {
  if (body_len) writer_fmt(w, "Content-Length: %zu\r\n", body_len);
  writer_append(w, "\r\n", 2);
  writer_append(w, body, body_len);
  return w->err ? w->err : (int)w->len;
}

const char *vg_rtsp_reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 200: return "OK";
  case 201: return "Created";
  case 250: return "Low on Storage Space";
  case 300: return "Multiple Choices";
  case 301: return "Moved Permanently";
  case 302: return "Moved Temporarily";
  case 303: return "See Other";
  case 305: return "Use Proxy";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 402: return "Payment Required";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 406: return "Not Acceptable";
  case 407: return "Proxy Authentication Required";
  case 408: return "Request Timeout";
  case 410: return "Gone";
  case 411: return "Length Required";
  case 412: return "Precondition Failed";
  case 413: return "Request Entity Too Large";
  case 414: return "Request-URI Too Long";
  case 415: return "Unsupported Media Type";
  case 451: return "Parameter Not Understood";
  case 452: return "Conference Not Found";
  case 453: return "Not Enough Bandwidth";
  case 454: return "Session Not Found";
  case 455: return "Method Not Valid in This State";
  case 456: return "Header Field Not Valid for Resource";
  case 457: return "Invalid Range";
  case 458: return "Parameter Is Read-Only";
  case 459: return "Aggregate Operation Not Allowed";
  case 460: return "Only Aggregate Operation Allowed";
  case 461: return "Unsupported Transport";
  case 462: return "Destination Unreachable";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "RTSP Version Not Supported";
  case 551: return "Option Not Supported";
  default: return "Unknown";
  }
}
