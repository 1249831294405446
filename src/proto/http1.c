#include "proto/http1.h"

#include <string.h>
#include <strings.h>

#include "base/error.h"

#define MAX_CHUNK_LINE 1024
#define MAX_PART_HEAD 8192
#define MAX_LEADING_BLANK_LINES 4

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

int vg_http1_str_eq(vg_http1_str_t s, const char *c) {
  size_t n = strlen(c);
  return s.len == n && strncasecmp(s.p, c, n) == 0;
}

int vg_http1_str_startswith(vg_http1_str_t s, const char *prefix) {
  size_t n = strlen(prefix);
  return s.len >= n && strncasecmp(s.p, prefix, n) == 0;
}

const vg_http1_str_t *vg_http1_header(const vg_http1_response_t *resp, const char *name) {
  for (int i = 0; i < resp->n_headers; i++)
    if (vg_http1_str_eq(resp->headers[i].name, name)) return &resp->headers[i].value;
  return NULL;
}

static int is_tchar(int c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static vg_http1_str_t trim(const char *p, size_t len) {
  while (len && (*p == ' ' || *p == '\t'))
    p++, len--;
  while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r'))
    len--;
  return (vg_http1_str_t){p, len};
}

/* Finds the end of a head ending with an empty line. Returns the index just
 * past it, or 0 when it is not in data[0..len). */
static size_t find_head_end(const uint8_t *data, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (data[i] != '\n') continue;
    if (i + 1 < len && data[i + 1] == '\n') return i + 2;
    if (i + 2 < len && data[i + 1] == '\r' && data[i + 2] == '\n') return i + 3;
  }
  return 0;
}

/* Splits head[0..len) (without its final empty line) into header lines;
 * obs-folded continuation lines extend the previous value. */
static int parse_header_lines(const char *p, const char *end, vg_http1_header_t *headers, int max,
                              int *count) {
  int n = 0;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *line_end = nl ? nl : end;
    size_t line_len = (size_t)(line_end - p);
    if (line_len && p[line_len - 1] == '\r') line_len--;
    if (line_len == 0) break;
    if (*p == ' ' || *p == '\t') {
      /* obs-fold: the value continues; keep the span over both lines. */
      if (n == 0) return VG_EPROTO;
      vg_http1_str_t *v = &headers[n - 1].value;
      const char *vstart = v->len ? v->p : p;
      *v = trim(vstart, (size_t)(p + line_len - vstart));
    } else {
      const char *colon = memchr(p, ':', line_len);
      if (!colon || colon == p) return VG_EPROTO;
      for (const char *q = p; q < colon; q++)
        if (!is_tchar((unsigned char)*q)) return VG_EPROTO;
      if (n == max) return VG_ETOOBIG;
      headers[n].name = (vg_http1_str_t){p, (size_t)(colon - p)};
      headers[n].value = trim(colon + 1, (size_t)(p + line_len - colon - 1));
      n++;
    }
    for (const char *q = p; q < p + line_len; q++)
      if ((unsigned char)*q < 0x20 && *q != '\t' && *q != '\r' && *q != '\n') return VG_EPROTO;
    p = nl ? nl + 1 : end;
  }
  *count = n;
  return 0;
}

static int parse_decimal(vg_http1_str_t s, int64_t *out) {
  if (s.len == 0 || s.len > 18) return VG_EPROTO;
  int64_t v = 0;
  for (size_t i = 0; i < s.len; i++) {
    if (s.p[i] < '0' || s.p[i] > '9') return VG_EPROTO;
    v = v * 10 + (s.p[i] - '0');
  }
  *out = v;
  return 0;
}

/* Whether a comma-separated header value holds token (only_last: as its last token). */
static int has_token(vg_http1_str_t value, const char *token, int only_last) {
  const char *p = value.p, *end = value.p + value.len;
  int found = 0;
  while (p <= end) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *tok_end = comma ? comma : end;
    vg_http1_str_t t = trim(p, (size_t)(tok_end - p));
    int match = vg_http1_str_eq(t, token);
    if (only_last)
      found = match;
    else if (match)
      found = 1;
    if (!comma) break;
    p = comma + 1;
  }
  return found;
}

static int derive_framing(vg_http1_response_t *r) {
  r->content_length = -1;
  r->chunked = 0;
  r->keep_alive = r->version_minor >= 1;
  for (int i = 0; i < r->n_headers; i++) {
    vg_http1_header_t *h = &r->headers[i];
    if (vg_http1_str_eq(h->name, "Content-Length")) {
      int64_t v;
      if (parse_decimal(h->value, &v) != 0) return VG_EPROTO;
      if (r->content_length >= 0 && r->content_length != v) return VG_EPROTO;
      r->content_length = v;
    } else if (vg_http1_str_eq(h->name, "Transfer-Encoding")) {
      if (has_token(h->value, "chunked", 1))
        r->chunked = 1;
      else if (!has_token(h->value, "identity", 0))
        return VG_EPROTO;
    } else if (vg_http1_str_eq(h->name, "Connection")) {
      if (has_token(h->value, "close", 0)) r->keep_alive = 0;
      if (has_token(h->value, "keep-alive", 0)) r->keep_alive = 1;
    }
  }
  /* RFC 7230 §3.3.3: chunked wins, and the length must then be ignored. */
  if (r->chunked) r->content_length = -1;
  if (!r->chunked && r->content_length < 0) r->keep_alive = 0;
  return 0;
}

int vg_http1_parse_response(const uint8_t *data, size_t len, size_t max_header_bytes,
                            vg_http1_response_t *out, size_t *consumed) {
  size_t max = max_header_bytes ? max_header_bytes : VG_HTTP1_DEFAULT_MAX_HEADER_BYTES;
  size_t start = 0;
  *consumed = 0;
  /* Tolerate stray blank lines left over from a previous message. */
  for (int i = 0; i < MAX_LEADING_BLANK_LINES && start < len; i++) {
    if (data[start] == '\n')
      start++;
    else if (data[start] == '\r' && start + 1 < len && data[start + 1] == '\n')
      start += 2;
    else
      break;
  }
  size_t avail = len - start < max ? len - start : max;
  size_t head_len = find_head_end(data + start, avail);
  if (!head_len) {
    if (avail >= 5 && memcmp(data + start, "HTTP/", 5) != 0) return VG_EPROTO;
    for (size_t i = 0; i < avail && i < 5; i++)
      if (data[start + i] != "HTTP/"[i]) return VG_EPROTO;
    return len - start >= max ? VG_ETOOBIG : VG_EINCOMPLETE;
  }
  const char *p = (const char *)data + start;
  const char *end = p + head_len;
  memset(out, 0, sizeof(*out));
  /* Status line: HTTP/1.x SP 3DIGIT [SP reason] */
  const char *nl = memchr(p, '\n', head_len);
  size_t line_len = (size_t)(nl - p);
  if (line_len && p[line_len - 1] == '\r') line_len--;
  if (line_len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' || p[7] > '9' || p[8] != ' ')
    return VG_EPROTO;
  out->version_minor = p[7] - '0';
  for (int i = 9; i < 12; i++)
    if (p[i] < '0' || p[i] > '9') return VG_EPROTO;
  out->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
  if (out->status < 100) return VG_EPROTO;
  if (line_len > 12 && p[12] != ' ') return VG_EPROTO;
  out->reason = line_len > 13 ? trim(p + 13, line_len - 13) : (vg_http1_str_t){p + line_len, 0};
  int r = parse_header_lines(nl + 1, end, out->headers, VG_HTTP1_MAX_HEADERS, &out->n_headers);
  if (r < 0) return r;
  r = derive_framing(out);
  if (r < 0) return r;
  *consumed = start + head_len;
  return 0;
}

/* ---- bodies ------------------------------------------------------------- */

enum { CHUNK_SIZE = 0, CHUNK_DATA, CHUNK_DATA_END, CHUNK_TRAILER };

void vg_http1_body_init_none(vg_http1_body_t *b) {
  memset(b, 0, sizeof(*b));
  b->mode = VG_HTTP1_BODY_NONE;
  b->done = 1;
}

int vg_http1_body_init(vg_http1_body_t *b, const vg_http1_response_t *resp, uint64_t max_body) {
  memset(b, 0, sizeof(*b));
  b->max_body = max_body;
  if ((resp->status >= 100 && resp->status < 200) || resp->status == 204 || resp->status == 304) {
    vg_http1_body_init_none(b);
    return 0;
  }
  if (resp->chunked) {
    b->mode = VG_HTTP1_BODY_CHUNKED;
    b->chunk_state = CHUNK_SIZE;
  } else if (resp->content_length >= 0) {
    if (max_body && (uint64_t)resp->content_length > max_body) return VG_ETOOBIG;
    b->mode = VG_HTTP1_BODY_LENGTH;
    b->remaining = (uint64_t)resp->content_length;
    b->done = b->remaining == 0;
  } else {
    b->mode = VG_HTTP1_BODY_EOF;
  }
  return 0;
}

/* Hands out up to `remaining` bytes of in as body data. */
static int take_data(vg_http1_body_t *b, const uint8_t *in, size_t len, uint64_t limit, const uint8_t **data,
                     size_t *data_len, size_t *consumed) {
  size_t n = limit < len ? (size_t)limit : len;
  if (b->max_body && b->received + n > b->max_body) return VG_ETOOBIG;
  *data = in;
  *data_len = n;
  *consumed = n;
  b->received += n;
  return 0;
}

/* One line (without its CRLF) from the front of in, bounded. Returns the
 * bytes it spans including the line end, 0 when incomplete, VG_ETOOBIG. */
static int take_line(const uint8_t *in, size_t len, size_t max, size_t *line_len) {
  size_t scan = len < max ? len : max;
  const uint8_t *nl = memchr(in, '\n', scan);
  if (!nl) return len >= max ? VG_ETOOBIG : 0;
  size_t n = (size_t)(nl - in);
  *line_len = n && in[n - 1] == '\r' ? n - 1 : n;
  return (int)(n + 1);
}

static int parse_chunk_size(const uint8_t *p, size_t len, uint64_t *out) {
  uint64_t v = 0;
  size_t i = 0;
  for (; i < len; i++) {
    int c = lower(p[i]), d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else
      break;
    if (i >= 15) return VG_EPROTO; /* more than 60 bits: nonsense */
    v = v * 16 + (uint64_t)d;
  }
  if (i == 0) return VG_EPROTO;
  /* What follows the digits may only be whitespace and chunk extensions. */
  while (i < len && (p[i] == ' ' || p[i] == '\t'))
    i++;
  if (i < len && p[i] != ';') return VG_EPROTO;
  *out = v;
  return 0;
}

static int decode_chunked(vg_http1_body_t *b, const uint8_t *in, size_t len, const uint8_t **data,
                          size_t *data_len, size_t *consumed) {
  size_t line_len = 0;
  int n;
  switch (b->chunk_state) {
  case CHUNK_SIZE:
    n = take_line(in, len, MAX_CHUNK_LINE, &line_len);
    if (n < 0) return VG_EPROTO;
    if (n == 0) return VG_EINCOMPLETE;
    if (parse_chunk_size(in, line_len, &b->remaining) != 0) return VG_EPROTO;
    if (b->max_body && b->received + b->remaining > b->max_body) return VG_ETOOBIG;
    b->chunk_state = b->remaining ? CHUNK_DATA : CHUNK_TRAILER;
    *consumed = (size_t)n;
    return 0;
  case CHUNK_DATA:
    if (len == 0) return VG_EINCOMPLETE;
    n = take_data(b, in, len, b->remaining, data, data_len, consumed);
    if (n < 0) return n;
    b->remaining -= *data_len;
    if (b->remaining == 0) b->chunk_state = CHUNK_DATA_END;
    return 0;
  case CHUNK_DATA_END:
    if (len == 0) return VG_EINCOMPLETE;
    if (in[0] != '\r' && in[0] != '\n') return VG_EPROTO;
    n = take_line(in, len, 3, &line_len);
    if (n == 0) return VG_EINCOMPLETE;
    if (n < 0 || line_len != 0) return VG_EPROTO;
    b->chunk_state = CHUNK_SIZE;
    *consumed = (size_t)n;
    return 0;
  default: /* CHUNK_TRAILER: header lines until an empty one */
    n = take_line(in, len, MAX_PART_HEAD, &line_len);
    if (n < 0) return VG_ETOOBIG;
    if (n == 0) return VG_EINCOMPLETE;
    *consumed = (size_t)n;
    if (line_len == 0) {
      b->done = 1;
      return 1;
    }
    return 0;
  }
}

int vg_http1_body_decode(vg_http1_body_t *b, const uint8_t *in, size_t len, const uint8_t **data,
                         size_t *data_len, size_t *consumed) {
  *data = NULL;
  *data_len = 0;
  *consumed = 0;
  if (b->done) return 1;
  int r;
  switch (b->mode) {
  case VG_HTTP1_BODY_LENGTH:
    if (len == 0) return VG_EINCOMPLETE;
    r = take_data(b, in, len, b->remaining, data, data_len, consumed);
    if (r < 0) return r;
    b->remaining -= *data_len;
    if (b->remaining == 0) b->done = 1;
    return b->done ? 1 : 0;
  case VG_HTTP1_BODY_EOF:
    if (len == 0) return VG_EINCOMPLETE;
    return take_data(b, in, len, len, data, data_len, consumed);
  case VG_HTTP1_BODY_CHUNKED: return decode_chunked(b, in, len, data, data_len, consumed);
  default: b->done = 1; return 1;
  }
}

int vg_http1_body_eof(vg_http1_body_t *b) {
  if (b->done) return 1;
  if (b->mode == VG_HTTP1_BODY_EOF) {
    b->done = 1;
    return 1;
  }
  return VG_EPROTO;
}

/* ---- multipart ---------------------------------------------------------- */

int vg_http1_multipart_boundary(vg_http1_str_t ct, char *out, size_t out_size) {
  if (!vg_http1_str_startswith(ct, "multipart/")) return VG_EUNSUPPORTED;
  const char *p = ct.p, *end = ct.p + ct.len;
  while (p < end) {
    const char *semi = memchr(p, ';', (size_t)(end - p));
    if (!semi) break;
    p = semi + 1;
    while (p < end && (*p == ' ' || *p == '\t'))
      p++;
    if ((size_t)(end - p) < 9 || strncasecmp(p, "boundary=", 9) != 0) continue;
    p += 9;
    const char *v = p, *v_end;
    if (p < end && *p == '"') {
      v = ++p;
      v_end = memchr(p, '"', (size_t)(end - p));
      if (!v_end) return VG_EPROTO;
    } else {
      v_end = p;
      while (v_end < end && *v_end != ';' && *v_end != ' ' && *v_end != '\t')
        v_end++;
    }
    /* Some cameras put the delimiter's "--" into the parameter too. */
    if (v_end - v >= 2 && v[0] == '-' && v[1] == '-') v += 2;
    size_t n = (size_t)(v_end - v);
    if (n == 0) return VG_EPROTO;
    if (n > VG_HTTP1_MAX_BOUNDARY || n + 1 > out_size) return VG_ETOOBIG;
    for (size_t i = 0; i < n; i++)
      if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) return VG_EPROTO;
    memcpy(out, v, n);
    out[n] = 0;
    return (int)n;
  }
  return VG_EPROTO;
}

/* The first "--boundary" at the start of a line in data[from..len), or -1. */
static long find_delimiter(const uint8_t *data, size_t len, size_t from, const char *boundary, size_t blen) {
  for (size_t i = from; i + 2 + blen <= len; i++) {
    if (data[i] != '-' || data[i + 1] != '-') continue;
    if (i > 0 && data[i - 1] != '\n') continue;
    if (memcmp(data + i + 2, boundary, blen) == 0) return (long)i;
  }
  return -1;
}

int vg_http1_multipart_next(const uint8_t *data, size_t len, const char *boundary, size_t max_part,
                            vg_http1_part_t *part, size_t *consumed) {
  size_t blen = strlen(boundary);
  *consumed = 0;
  if (blen == 0 || blen > VG_HTTP1_MAX_BOUNDARY) return VG_EINVAL;
  long d = find_delimiter(data, len, 0, boundary, blen);
  if (d < 0) {
    /* Keep a tail that might be the start of a delimiter; the rest is
     * preamble or the trailing CRLF of the previous part. */
    if (len > max_part) return VG_ETOOBIG;
    return VG_EINCOMPLETE;
  }
  size_t pos = (size_t)d + 2 + blen;
  *consumed = (size_t)d;
  if (pos + 2 > len) return VG_EINCOMPLETE;
  if (data[pos] == '-' && data[pos + 1] == '-') {
    *consumed = pos + 2;
    return 0;
  }
  /* Transport padding, then the line end. */
  while (pos < len && (data[pos] == ' ' || data[pos] == '\t'))
    pos++;
  if (pos < len && data[pos] == '\r') pos++;
  if (pos >= len) return VG_EINCOMPLETE;
  if (data[pos] != '\n') return VG_EPROTO;
  pos++;
  /* Part headers up to an empty line (which may come at once). */
  size_t head_start = pos, head_end;
  size_t avail = len - pos < MAX_PART_HEAD ? len - pos : MAX_PART_HEAD;
  if (avail >= 1 && data[pos] == '\n')
    head_end = pos + 1;
  else if (avail >= 2 && data[pos] == '\r' && data[pos + 1] == '\n')
    head_end = pos + 2;
  else {
    size_t h = find_head_end(data + pos, avail);
    if (!h) return len - pos >= MAX_PART_HEAD ? VG_ETOOBIG : VG_EINCOMPLETE;
    head_end = pos + h;
  }
  memset(part, 0, sizeof(*part));
  int r = parse_header_lines((const char *)data + head_start, (const char *)data + head_end, part->headers,
                             (int)(sizeof(part->headers) / sizeof(part->headers[0])), &part->n_headers);
  if (r < 0) return r;
  int64_t content_length = -1;
  for (int i = 0; i < part->n_headers; i++) {
    if (vg_http1_str_eq(part->headers[i].name, "Content-Type")) part->content_type = part->headers[i].value;
    if (vg_http1_str_eq(part->headers[i].name, "Content-Length")) {
      if (parse_decimal(part->headers[i].value, &content_length) != 0) return VG_EPROTO;
    }
  }
  if (content_length >= 0) {
    if ((uint64_t)content_length > max_part) return VG_ETOOBIG;
    if (len - head_end < (uint64_t)content_length) return VG_EINCOMPLETE;
    part->body = data + head_end;
    part->body_len = (size_t)content_length;
    *consumed = head_end + (size_t)content_length;
    return 1;
  }
  long next = find_delimiter(data, len, head_end, boundary, blen);
  if (next < 0) return len - head_end > max_part ? VG_ETOOBIG : VG_EINCOMPLETE;
  /* The CRLF before the delimiter belongs to the delimiter (RFC 2046). */
  size_t body_end = (size_t)next;
  if (body_end > head_end && data[body_end - 1] == '\n') body_end--;
  if (body_end > head_end && data[body_end - 1] == '\r') body_end--;
  part->body = data + head_end;
  part->body_len = body_end - head_end;
  *consumed = (size_t)next;
  return 1;
}
