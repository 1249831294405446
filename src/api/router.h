/*
 * router.h: HTTP requests and responses as plain structs, and a route table
 * that maps a method and a path pattern to a handler.
 *
 * The router does no I/O: the HTTP server (http_server.c) turns what
 * libwebsockets parsed into a vg_http_request_t, calls the handler the table
 * names, and sends the vg_http_response_t it filled. That keeps every route
 * testable without a socket (tests/unit/test_api.c).
 *
 * A pattern is a path whose segments are either literal or "{name}"; a
 * parameter matches one non-empty segment of at most VG_HTTP_PARAM_MAX - 1
 * bytes, e.g. "/api/v1/cameras/{id}" matches "/api/v1/cameras/cam1" with
 * id = "cam1". Matching is exact otherwise (no trailing-slash folding).
 *
 * Threads: route tables are constant; a request and its response belong to
 * the thread that serves the connection.
 */
#ifndef VG_API_ROUTER_H
#define VG_API_ROUTER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"

#define VG_HTTP_MAX_PARAMS 4
#define VG_HTTP_PARAM_MAX 128

typedef struct {
  const char *name; /* points into the route's pattern: not NUL-terminated at '}' */
  size_t name_len;
  char value[VG_HTTP_PARAM_MAX];
} vg_http_param_t;

/* The request headers handlers may look at; the server copies these (and
 * no others) from the connection. */
typedef enum {
  VG_HTTP_HDR_AUTHORIZATION = 0,
  VG_HTTP_HDR_COOKIE,
  VG_HTTP_HDR_RANGE,
  VG_HTTP_HDR_IF_RANGE,
  VG_HTTP_HDR_IF_NONE_MATCH,
  VG_HTTP_HDR_CONTENT_TYPE,
  VG_HTTP_HDR_USER_AGENT,
  VG_HTTP_HDR_ORIGIN,
  VG_HTTP_HDR_LAST_EVENT_ID, /* Server-Sent Events reconnects */
  VG_HTTP_HDR__COUNT
} vg_http_header_t;

struct vg_user_s;

typedef struct {
  const char *method; /* "GET", "POST", ... (HEAD is routed as GET) */
  const char *path;   /* decoded path, no query string */
  const char *query;  /* raw query string without '?', or "" */
  const char *body;   /* request body or NULL */
  size_t body_len;
  const char *headers[VG_HTTP_HDR__COUNT]; /* NULL when absent; see vg_http_header() */
  char peer[64];                           /* the client's address, "" when unknown */
  vg_http_param_t params[VG_HTTP_MAX_PARAMS];
  int param_count;
  /* Who asks: set by vg_api_dispatch before a handler runs (NULL for public
   * routes); see api.h's vg_api_camera_allowed(). */
  const struct vg_user_s *user;
  int via_session; /* authenticated by the session cookie (logout ends it) */
} vg_http_request_t;

/* A response body produced piece by piece (a file range, an MP4 clip being
 * assembled), for bodies too large to hold in memory. The server calls
 * read until it has sent length bytes, then close (also when the client
 * goes away early). read fills at most cap bytes of dst and returns how
 * many (> 0), or a negative error, which closes the connection: the status
 * line has gone out already, so a failing stream must not be answered with
 * a JSON error. Called on the HTTP server's thread. */
/* length VG_HTTP_STREAM_OPEN makes an open-ended stream (Server-Sent
 * Events): no Content-Length, the connection closes when the stream ends.
 * Its read may return 0 for "nothing now"; the server calls set_wake once,
 * before the first read, with a function the stream calls (from any
 * thread) when read has bytes again. The server also calls read every few
 * seconds, so the stream can send keep-alives. */
#define VG_HTTP_STREAM_OPEN UINT64_MAX
/* length VG_HTTP_STREAM_DEFERRED makes a deferred answer: one whose status
 * and body are not known yet (an LL-HLS blocking reload waits for the next
 * part). The server sends nothing at first and keeps the connection; it
 * calls set_wake once (as for an open stream), then settle on each wake
 * and at least every VG_HTTP_SETTLE_POLL_MS, so deadlines are kept without
 * a wake. settle returns 0 while the answer is not ready; 1 once it is,
 * after setting *status, *content_type (a static string) and st->length
 * (the body's exact length); or a negative error, which closes the
 * connection. The handler's res->status and content_type are not used. After 1
 * the stream is a plain one of that length: the server sends a normal
 * response with Content-Length (the handler's extra headers included),
 * the body from read, and keeps the connection alive for the next request.
 * HEAD also waits for settle, then sends the headers only. A client that
 * goes away while the answer is held gets close, as any stream. settle and
 * read run on the HTTP server's thread and must not block. */
#define VG_HTTP_STREAM_DEFERRED (UINT64_MAX - 1)
#define VG_HTTP_SETTLE_POLL_MS 250
typedef struct vg_http_stream {
  uint64_t length; /* exact body length, sent as Content-Length, or VG_HTTP_STREAM_OPEN/_DEFERRED */
  long (*read)(struct vg_http_stream *st, uint8_t *dst, size_t cap);
  void (*close)(struct vg_http_stream *st);
  void (*set_wake)(struct vg_http_stream *st, void (*wake)(void *), void *wake_opaque); /* open, deferred */
  int (*settle)(struct vg_http_stream *st, int *status, const char **content_type);     /* deferred */
} vg_http_stream_t;

typedef struct {
  int status;               /* 200 unless a handler says otherwise */
  const char *content_type; /* a static string */
  vg_strbuf_t body;
  char allow[64];           /* for 405: the methods the path accepts */
  vg_strbuf_t headers;      /* extra header lines "name: value\r\n", see vg_http_add_header() */
  vg_http_stream_t *stream; /* when set, the body is streamed and body is ignored */
} vg_http_response_t;

/* A handler fills res (status, content type, body) and returns 0; a
 * negative return makes the server answer 500 with a JSON error. */
typedef int (*vg_http_handler_fn)(const vg_http_request_t *req, vg_http_response_t *res);

/* The access a route needs. Zero, the default of a 4-field initializer, is
 * "any authenticated user": a route is public only when it says so. */
typedef enum {
  VG_ACCESS_USER = 0,     /* any authenticated user (viewer and up) */
  VG_ACCESS_PUBLIC = 1,   /* no credentials needed */
  VG_ACCESS_OPERATOR = 2, /* operator or admin */
  VG_ACCESS_ADMIN = 3,    /* admin only */
} vg_access_t;

/* Route tables are written as positional initializers, and most rows leave
 * out the trailing access field (zero: any authenticated user). -Wextra's
 * missing-field-initializers would flag every such row, so it is off for
 * the files that include this header (on purpose: the zero is the default). */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* Route flags. VG_ROUTE_SLOW: the handler may wait on the network for
 * seconds (it talks to a camera); the server runs the whole request,
 * authentication included, on a thread of its own instead of the HTTP
 * thread, which keeps serving everyone else. Such a handler must not rely
 * on running on the HTTP thread (use vg_camera_get, not vg_camera_find). */
#define VG_ROUTE_SLOW 1u

typedef struct {
  const char *method;
  const char *pattern;
  vg_http_handler_fn fn;
  const char *summary; /* one line, for docs and logs */
  vg_access_t access;  /* who may call it; see vg_access_t */
  unsigned flags;      /* VG_ROUTE_* */
} vg_http_route_t;

/* Finds the route for req->method and req->path and fills req->params.
 * Returns 0 and sets *out; VG_ENOTFOUND when no pattern matches the path;
 * VG_EUNSUPPORTED when patterns match the path but not the method, with
 * the methods that would be accepted written to allow ("GET, HEAD"). */
int vg_http_route_match(const vg_http_route_t *routes, size_t count, vg_http_request_t *req,
                        const vg_http_route_t **out, char *allow, size_t allow_size);
/* The value of a path parameter, or NULL. */
const char *vg_http_param(const vg_http_request_t *req, const char *name);
/* The value of a request header, or NULL when the request has none. */
const char *vg_http_header(const vg_http_request_t *req, vg_http_header_t h);
/* Copies the value of query parameter name (percent- and '+'-decoded) into
 * out. Returns its length, VG_ENOTFOUND when absent, VG_ETOOBIG when it does
 * not fit, VG_EINVAL for a bad escape. */
int vg_http_query(const vg_http_request_t *req, const char *name, char *out, size_t size);

void vg_http_response_init(vg_http_response_t *res);
/* Frees the body and headers, and closes a stream the server did not take. */
void vg_http_response_free(vg_http_response_t *res);
/* Adds a response header line. name must be a valid token; the value is
 * formatted and must not hold CR or LF (it is refused with VG_EINVAL). */
int vg_http_add_header(vg_http_response_t *res, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets status and a JSON body; steals the reference to body. Returns 0 or
 * VG_ENOMEM. */
int vg_http_reply_json(vg_http_response_t *res, int status, json_t *body);
/* {"error":{"code":code,"message":...}} with the given status. */
int vg_http_reply_error(vg_http_response_t *res, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The reason phrase of a status code ("Not Found"). */
const char *vg_http_status_text(int status);

#endif
