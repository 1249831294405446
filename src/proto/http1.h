/*
 * http1.h: a small HTTP/1.1 client-side codec, sans I/O: response heads,
 * message bodies (Content-Length, chunked, until close) and
 * multipart/x-mixed-replace parts. It is what the HTTP camera sources
 * (JPEG snapshots, MJPEG streams) need from HTTP and nothing more; vigil's
 * HTTP server side is libwebsockets and its outbound HTTPS is libcurl.
 *
 * Owned by the ingest developer. It owns no memory and does no I/O; any
 * thread may call it on its own data. Parsed spans point INTO the caller's
 * input and stay valid while those bytes do.
 *
 * A client reading one response:
 *
 *   vg_http1_response_t resp;
 *   size_t used;
 *   int r = vg_http1_parse_response(buf, len, 0, &resp, &used);
 *   // VG_EINCOMPLETE: read more; < 0: drop the connection
 *   vg_http1_body_t body;
 *   vg_http1_body_init(&body, &resp, max_body);
 *   discard_front(used);
 *   for (;;) {                                   // whenever bytes are buffered
 *     const uint8_t *d; size_t n, used;
 *     r = vg_http1_body_decode(&body, buf, len, &d, &n, &used);
 *     if (r < 0 && r != VG_EINCOMPLETE) fail; // VG_EPROTO / VG_ETOOBIG
 *     consume(d, n);  discard_front(used);
 *     if (r == 1) break;                        // body complete
 *     if (r == VG_EINCOMPLETE) read more (at EOF: vg_http1_body_eof())
 *   }
 */
#ifndef VG_PROTO_HTTP1_H
#define VG_PROTO_HTTP1_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  const char *p;
  size_t len;
} vg_http1_str_t;

#define VG_HTTP1_MAX_HEADERS 64
#define VG_HTTP1_DEFAULT_MAX_HEADER_BYTES (16 * 1024)

typedef struct {
  vg_http1_str_t name;
  vg_http1_str_t value; /* trimmed */
} vg_http1_header_t;

typedef struct {
  int version_minor; /* HTTP/1.x */
  int status;        /* 100..999 */
  vg_http1_str_t reason;
  vg_http1_header_t headers[VG_HTTP1_MAX_HEADERS];
  int n_headers;
  /* Derived from the headers: */
  int64_t content_length; /* -1 when absent */
  int chunked;            /* Transfer-Encoding ends in "chunked" (wins over Content-Length) */
  int keep_alive;         /* the connection may be reused after this response */
} vg_http1_response_t;

/* Parses a response head (status line, headers, blank line) from the front
 * of data[0..len). Returns 0 with *consumed = the head's length,
 * VG_EINCOMPLETE (consumed 0), VG_EPROTO (not HTTP/1.x, a malformed line,
 * a bad or conflicting Content-Length, an unknown transfer coding) or
 * VG_ETOOBIG (the head exceeds max_header_bytes, 0 = the default, or has
 * more than VG_HTTP1_MAX_HEADERS headers). CRLF and bare LF are accepted. */
int vg_http1_parse_response(const uint8_t *data, size_t len, size_t max_header_bytes,
                            vg_http1_response_t *out, size_t *consumed);

/* The first header called name (case-insensitive), or NULL. */
const vg_http1_str_t *vg_http1_header(const vg_http1_response_t *resp, const char *name);
/* Case-insensitive comparison of a span with a C string. */
int vg_http1_str_eq(vg_http1_str_t s, const char *c);
/* 1 when s starts with the C string prefix (case-insensitive). */
int vg_http1_str_startswith(vg_http1_str_t s, const char *prefix);

/* ---- bodies ------------------------------------------------------------- */

typedef enum {
  VG_HTTP1_BODY_NONE = 0, /* no body (1xx, 204, 304, or a HEAD request) */
  VG_HTTP1_BODY_LENGTH,   /* Content-Length bytes */
  VG_HTTP1_BODY_CHUNKED,
  VG_HTTP1_BODY_EOF, /* until the server closes the connection */
} vg_http1_body_mode_t;

typedef struct {
  vg_http1_body_mode_t mode;
  uint64_t remaining; /* LENGTH: bytes left; CHUNKED: left in the current chunk */
  uint64_t received;  /* body bytes delivered so far */
  uint64_t max_body;  /* 0: unlimited (an endless MJPEG stream) */
  int chunk_state;    /* private */
  int done;
} vg_http1_body_t;

/* Prepares to decode the body of resp. max_body bounds the whole body
 * (0 = no bound). Returns 0, or VG_ETOOBIG when Content-Length exceeds
 * max_body. */
int vg_http1_body_init(vg_http1_body_t *b, const vg_http1_response_t *resp, uint64_t max_body);
/* Like vg_http1_body_init for a response to HEAD or another bodiless case. */
void vg_http1_body_init_none(vg_http1_body_t *b);

/* Decodes from the front of in[0..len): sets data and data_len to a span
 * of body bytes within in (possibly empty) and consumed to the input bytes
 * used up (always >= the span's end). Call again with the rest while it
 * returns 0. Returns 1 when the body is complete, 0 after progress,
 * VG_EINCOMPLETE when it needs more input (nothing usable in `in`),
 * VG_EPROTO on a malformed chunk, VG_ETOOBIG past max_body. */
int vg_http1_body_decode(vg_http1_body_t *b, const uint8_t *in, size_t len, const uint8_t **data,
                         size_t *data_len, size_t *consumed);
/* The connection closed: 1 if that legitimately ends the body (EOF mode),
 * else VG_EPROTO (a truncated body). */
int vg_http1_body_eof(vg_http1_body_t *b);

/* ---- multipart/x-mixed-replace (MJPEG) ---------------------------------- */

#define VG_HTTP1_MAX_BOUNDARY 70 /* RFC 2046 §5.1.1 */

/* Extracts the boundary parameter of a multipart Content-Type value
 * ("multipart/x-mixed-replace; boundary=frame") into out without quotes and
 * without a leading "--" that some cameras wrongly include. Returns its
 * length, VG_EUNSUPPORTED when the type is not multipart, VG_EPROTO when
 * the boundary is missing or empty, VG_ETOOBIG when longer than 70. */
int vg_http1_multipart_boundary(vg_http1_str_t content_type, char *out, size_t out_size);

typedef struct {
  vg_http1_header_t headers[16];
  int n_headers;
  vg_http1_str_t content_type; /* empty when absent */
  const uint8_t *body;
  size_t body_len;
} vg_http1_part_t;

/* Finds the next complete part at the front of a decoded multipart body
 * data[0..len). Leading CRLFs and preamble before the first delimiter are
 * skipped. A part's end is its Content-Length when given (as most cameras
 * send), else the next delimiter. Returns 1 with *part and *consumed (up to
 * the part's end; the next call starts at its trailing CRLF/delimiter), 0
 * at the closing "--boundary--" (the stream ended), VG_EINCOMPLETE when the
 * part is not all there (consumed may still be > 0 for skipped preamble),
 * VG_EPROTO on malformed part headers, VG_ETOOBIG when a part's headers
 * exceed 8 KiB or its Content-Length exceeds max_part, or when no delimiter
 * shows up within max_part bytes. */
int vg_http1_multipart_next(const uint8_t *data, size_t len, const char *boundary, size_t max_part,
                            vg_http1_part_t *part, size_t *consumed);

#endif
