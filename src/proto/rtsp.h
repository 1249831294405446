/*
 * rtsp.h: RTSP 1.0 (RFC 2326) message codec, sans I/O.
 *
 * Used by both ends of vigil's RTSP: the client that ingests cameras and the
 * server that restreams and accepts publishers (ANNOUNCE/RECORD). It parses
 * requests AND responses from one byte stream, in which RTP/RTCP may be
 * interleaved as '$' frames (RFC 2326 §10.12), and it formats messages into
 * caller buffers. It owns no memory and does no I/O; any thread may call
 * it, on its own data.
 *
 * Zero copy: a parsed vg_rtsp_msg_t and a vg_rtsp_frame_t point INTO the
 * caller's input buffer. They stay valid until the caller discards or
 * overwrites those bytes (typically: right after handling them, when it
 * drops `consumed` bytes from the front of its buffer). Copy what must live
 * longer (the session id, the SDP body...).
 *
 * The client loop (the server's is the same with requests):
 *
 *   // conn->buf holds conn->len bytes read from the socket so far.
 *   for (;;) {
 *     vg_rtsp_msg_t msg;
 *     vg_rtsp_frame_t frame;
 *     size_t used = 0;
 *     int r = vg_rtsp_parse(conn->buf, conn->len, NULL, &msg, &frame, &used);
 *     if (r == VG_EINCOMPLETE) break;            // read more, then call again
 *     if (r < 0) return close_connection(conn, r); // VG_EPROTO or VG_ETOOBIG
 *     if (r == VG_RTSP_FRAME)
 *       on_rtp_or_rtcp(conn, frame.channel, frame.data, frame.len);
 *     else if (msg.is_response) {
 *       uint32_t cseq;
 *       if (vg_rtsp_msg_cseq(&msg, &cseq) == 0) on_response(conn, cseq, &msg);
 *     } else
 *       on_request(conn, &msg);                  // servers may send OPTIONS/GET_PARAMETER too
 *     discard_front(conn, used);                 // msg/frame are invalid from here on
 *   }
 *
 * and to send a request:
 *
 *   char out[2048];
 *   vg_rtsp_writer_t w;
 *   vg_rtsp_writer_init(&w, out, sizeof(out));
 *   vg_rtsp_write_request_line(&w, "SETUP", track_url);
 *   vg_rtsp_write_header(&w, "CSeq", "%u", ++conn->cseq);
 *   char transport[128];
 *   vg_rtsp_transport_t t = {.lower = VG_RTSP_LOWER_TCP, .unicast = 1,
 *                            .interleaved = {0, 1}, .has_interleaved = 1};
 *   vg_rtsp_transport_format(&t, transport, sizeof(transport));
 *   vg_rtsp_write_header(&w, "Transport", "%s", transport);
 *   int n = vg_rtsp_write_end(&w, NULL, 0);  // n bytes in out, or VG_ETOOBIG / VG_EINVAL
 */
#ifndef VG_PROTO_RTSP_H
#define VG_PROTO_RTSP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Parsing ------------------------------------------------------------ */

/* A span of bytes inside the input buffer. Not NUL-terminated. */
typedef struct {
  const char *p;
  size_t len;
} vg_rtsp_str_t;

#define VG_RTSP_MAX_HEADERS 64

/* Parser limits. Pass NULL to vg_rtsp_parse() for the defaults below;
 * each field may only lower the default's hard maximum where noted. */
typedef struct {
  size_t max_header_bytes; /* start line + headers + blank line; default 16 KiB */
  int max_headers;         /* default and hard maximum VG_RTSP_MAX_HEADERS */
  size_t max_body;         /* Content-Length; default 64 KiB */
} vg_rtsp_limits_t;

#define VG_RTSP_DEFAULT_MAX_HEADER_BYTES (16 * 1024)
#define VG_RTSP_DEFAULT_MAX_BODY (64 * 1024)

typedef struct {
  vg_rtsp_str_t name;  /* as written */
  vg_rtsp_str_t value; /* trimmed; a folded value spans its continuation lines
                          verbatim (CR/LF/SP/HT inside), which every helper
                          below treats as whitespace */
} vg_rtsp_header_t;

typedef struct {
  int is_response;
  /* request: "DESCRIBE rtsp://cam/ RTSP/1.0" */
  vg_rtsp_str_t method;
  vg_rtsp_str_t uri;
  /* response: "RTSP/1.0 200 OK" */
  int status;          /* 100..999 */
  vg_rtsp_str_t reason; /* may be empty */
  int version_major, version_minor;
  vg_rtsp_header_t headers[VG_RTSP_MAX_HEADERS];
  int n_headers;
  const uint8_t *body; /* Content-Length bytes, NULL when there is none */
  size_t body_len;
} vg_rtsp_msg_t;

/* An interleaved binary frame: '$', channel, 16-bit big-endian length. */
typedef struct {
  uint8_t channel;
  const uint8_t *data; /* into the input */
  size_t len;          /* 0..65535 */
} vg_rtsp_frame_t;

enum {
  VG_RTSP_MESSAGE = 1, /* *msg holds a request or response */
  VG_RTSP_FRAME = 2,   /* *frame holds an interleaved frame */
};

/* Looks at data[0..len) and extracts exactly one item from its front.
 * Returns:
 *   VG_RTSP_MESSAGE / VG_RTSP_FRAME, with *consumed = the bytes it spans
 *       (leading blank lines before a message are counted in it);
 *   VG_EINCOMPLETE: the item is not all there yet, *consumed = 0;
 *   VG_EPROTO: not RTSP (garbage, a malformed start line or header, a bad
 *       Content-Length), *consumed = 0; the connection should be dropped;
 *   VG_ETOOBIG: a limit was exceeded (header section, header count,
 *       Content-Length, including negative ones), *consumed = 0.
 * msg and frame may not be NULL; only the one named by the return is set.
 * Requests and responses are both accepted; versions other than RTSP/1.x are
 * VG_EPROTO. CRLF and bare LF line ends are both accepted. Stateless: call it
 * again over the whole buffer when more bytes arrive. */
int vg_rtsp_parse(const uint8_t *data, size_t len, const vg_rtsp_limits_t *limits, vg_rtsp_msg_t *msg,
                  vg_rtsp_frame_t *frame, size_t *consumed);

/* The first header called `name` (case-insensitive), or NULL. */
const vg_rtsp_str_t *vg_rtsp_msg_header(const vg_rtsp_msg_t *msg, const char *name);
/* 1 if the method (case-sensitive, as RFC 2326 says) equals `method`. */
int vg_rtsp_msg_is(const vg_rtsp_msg_t *msg, const char *method);
/* CSeq as a number: 0, VG_ENOTFOUND, or VG_EPROTO if not a 32-bit number. */
int vg_rtsp_msg_cseq(const vg_rtsp_msg_t *msg, uint32_t *cseq);

typedef struct {
  vg_rtsp_str_t id;  /* the session id, without parameters */
  int timeout_s;     /* the timeout parameter, or 60 (RFC 2326 §12.37) */
  int has_timeout;   /* the peer sent one */
} vg_rtsp_session_t;

/* Session header: 0, VG_ENOTFOUND, or VG_EPROTO (empty id, bad timeout). */
int vg_rtsp_msg_session(const vg_rtsp_msg_t *msg, vg_rtsp_session_t *out);
/* Content-Base, else Content-Location: the base for relative SDP control
 * URLs (RFC 2326 §C.1.1). 0 or VG_ENOTFOUND (then use the request URL). */
int vg_rtsp_msg_content_base(const vg_rtsp_msg_t *msg, vg_rtsp_str_t *out);

/* Case-insensitive comparison of a span with a C string. */
int vg_rtsp_str_eq(vg_rtsp_str_t s, const char *c);
/* Copies a span into a C string. Returns the length, or VG_ETOOBIG. */
int vg_rtsp_str_copy(vg_rtsp_str_t s, char *out, size_t out_size);

/* ---- Transport (RFC 2326 §12.39) ---------------------------------------- */

typedef enum {
  VG_RTSP_LOWER_UDP = 0, /* RTP/AVP or RTP/AVP/UDP */
  VG_RTSP_LOWER_TCP,     /* RTP/AVP/TCP: interleaved on the RTSP connection */
} vg_rtsp_lower_t;

typedef enum {
  VG_RTSP_MODE_PLAY = 0, /* the default */
  VG_RTSP_MODE_RECORD,
} vg_rtsp_mode_t;

typedef struct {
  vg_rtsp_lower_t lower;
  int unicast;   /* 1 unicast, 0 multicast (RFC default: multicast) */
  int has_client_port, has_server_port, has_interleaved, has_ssrc, has_ttl;
  uint16_t client_port[2]; /* RTP, RTCP; a single port gives p, p+1 */
  uint16_t server_port[2];
  uint8_t interleaved[2];  /* channels; a single channel gives c, c+1 */
  uint32_t ssrc;           /* hex in the header */
  int ttl;
  vg_rtsp_mode_t mode;
  char destination[64]; /* empty when absent */
  char source[64];
} vg_rtsp_transport_t;

/* Parses a Transport header value holding one or more comma-separated
 * specs into out[0..max). Specs with a transport other than RTP/AVP[/UDP|TCP]
 * are skipped. Returns the number parsed (>= 1), VG_EUNSUPPORTED if none was
 * usable, or VG_EPROTO on a malformed parameter. */
int vg_rtsp_transport_parse(vg_rtsp_str_t value, vg_rtsp_transport_t *out, int max);
/* Formats one spec, e.g. "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record".
 * Only the fields marked present are written; mode is written only for
 * RECORD. Returns the length (NUL-terminated), or VG_ETOOBIG. */
int vg_rtsp_transport_format(const vg_rtsp_transport_t *t, char *out, size_t out_size);

/* ---- RTP-Info (RFC 2326 §12.33) and Public ------------------------------ */

typedef struct {
  vg_rtsp_str_t url;
  int has_seq, has_rtptime;
  uint16_t seq;
  uint32_t rtptime;
} vg_rtsp_rtp_info_t;

/* Parses "url=...;seq=..;rtptime=..,url=..." into out[0..max). Returns the
 * count, or VG_EPROTO on an entry without url or with a bad number. */
int vg_rtsp_rtp_info_parse(vg_rtsp_str_t value, vg_rtsp_rtp_info_t *out, int max);

/* Method bits, for Public / Allow. */
enum {
  VG_RTSP_M_OPTIONS = 1 << 0,
  VG_RTSP_M_DESCRIBE = 1 << 1,
  VG_RTSP_M_ANNOUNCE = 1 << 2,
  VG_RTSP_M_SETUP = 1 << 3,
  VG_RTSP_M_PLAY = 1 << 4,
  VG_RTSP_M_PAUSE = 1 << 5,
  VG_RTSP_M_RECORD = 1 << 6,
  VG_RTSP_M_TEARDOWN = 1 << 7,
  VG_RTSP_M_GET_PARAMETER = 1 << 8,
  VG_RTSP_M_SET_PARAMETER = 1 << 9,
  VG_RTSP_M_REDIRECT = 1 << 10,
};
/* The bits of the methods named in a Public header value (unknown names
 * are ignored). */
unsigned vg_rtsp_public_parse(vg_rtsp_str_t value);
/* The bit for one method name, or 0. */
unsigned vg_rtsp_method_bit(vg_rtsp_str_t method);

/* ---- Writing ------------------------------------------------------------ */

/* A bounded message builder over a caller buffer. Errors are sticky: after
 * the first one, later calls do nothing and vg_rtsp_write_end() reports it. */
typedef struct {
  char *buf;
  size_t cap, len;
  int err; /* 0, VG_ETOOBIG, or VG_EINVAL (CR/LF in a header, bad status) */
} vg_rtsp_writer_t;

void vg_rtsp_writer_init(vg_rtsp_writer_t *w, char *buf, size_t cap);
/* "METHOD uri RTSP/1.0" */
void vg_rtsp_write_request_line(vg_rtsp_writer_t *w, const char *method, const char *uri);
/* "RTSP/1.0 code reason"; reason NULL gives the standard phrase. */
void vg_rtsp_write_status_line(vg_rtsp_writer_t *w, int status, const char *reason);
/* "Name: value" with printf formatting. A value containing CR or LF is
 * refused (VG_EINVAL) so peer-supplied text cannot inject headers. */
void vg_rtsp_write_header(vg_rtsp_writer_t *w, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void vg_rtsp_write_headerv(vg_rtsp_writer_t *w, const char *name, const char *fmt, va_list ap);
/* Adds Content-Length when body_len > 0, the blank line and the body.
 * Returns the total length in buf, or the sticky error. */
int vg_rtsp_write_end(vg_rtsp_writer_t *w, const void *body, size_t body_len);

/* The standard reason phrase of an RTSP status code ("Unknown" otherwise). */
const char *vg_rtsp_reason(int status);

#endif
