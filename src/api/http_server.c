/*
 * http_server.c: libwebsockets in a thread of its own (see http_server.h).
 *
 * One lws context with lws's default poll loop, serviced by one thread.
 * A request is read into a vg_http_request_t, answered by api.c or from
 * the web root, and its response is written from the WRITEABLE callback in
 * chunks so that a large /metrics page never blocks the loop. lws itself
 * bounds the headers (max_http_header_data), times out idle and half-sent
 * requests (timeout_secs) and answers malformed request lines with an
 * error and a close; request bodies are capped here.
 */
#include "api/http_server.h"

#include <ctype.h>
#include <libwebsockets.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/metrics.h"
#include "base/error.h"
#include "base/log.h"
#include "base/time.h"
#include "live/ws_live.h"

#define HTTP_MAX_BODY (1u << 20) /* request bodies: JSON documents only */
#define HTTP_MAX_QUERY 2048
#define HTTP_WRITE_CHUNK 16384 /* body bytes handed to lws per WRITEABLE */
#define HTTP_STOP_WAIT_MS 5000 /* how long stop waits for the server's thread to end */
#define SLOW_THREADS 4         /* threads for slow routes (router.h's VG_ROUTE_SLOW) */
#define SLOW_MAX_PENDING 64    /* slow requests queued or running before 503 */

static const vg_log_ctx_t lg = {"http", NULL};

/* ---- configuration ---- */

void vg_http_config_defaults(vg_http_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  snprintf(cfg->bind, sizeof(cfg->bind), "0.0.0.0");
  cfg->port = 8080;
  cfg->enabled = true;
}

int vg_http_config_parse(vg_cfg_t *c, json_t *obj, vg_http_config_t *out) {
  static const char *const keys[] = {"bind",     "port",    "web_root",       "enabled",
                                     "tls_cert", "tls_key", "metrics_public", NULL};
  long long port;
  vg_http_config_defaults(out);
  if (obj && !json_is_object(obj)) return vg_cfg_fail(c, NULL, "must be an object");
  vg_cfg_check_keys(c, obj, keys);
  vg_cfg_str(c, obj, "bind", "0.0.0.0", out->bind, sizeof(out->bind));
  vg_cfg_int(c, obj, "port", 8080, 1, 65535, &port);
  out->port = (int)port;
  vg_cfg_str(c, obj, "web_root", "", out->web_root, sizeof(out->web_root));
  vg_cfg_bool(c, obj, "enabled", true, &out->enabled);
  vg_cfg_str(c, obj, "tls_cert", "", out->tls_cert, sizeof(out->tls_cert));
  vg_cfg_str(c, obj, "tls_key", "", out->tls_key, sizeof(out->tls_key));
  vg_cfg_bool(c, obj, "metrics_public", false, &out->metrics_public);
  if (!c->failed && !out->tls_cert[0] != !out->tls_key[0])
    vg_cfg_fail(c, out->tls_cert[0] ? "tls_key" : "tls_cert", "tls_cert and tls_key go together");
  return c->failed ? VG_ECONFIG : 0;
}

/* ---- the server ---- */

struct vg_http_server {
  vg_http_config_t cfg;
  char web_root[PATH_MAX]; /* resolved, "" when there is none */
  struct lws_context *context;
  pthread_t thread;
  atomic_int stopping;
  /* requests answered, by status code, for /metrics */
  atomic_uint_fast64_t requests[600];
  /* Waiting streams: open-ended ones (router.h's VG_HTTP_STREAM_OPEN)
   * and deferred answers (VG_HTTP_STREAM_DEFERRED), touched only on the
   * server's thread; wake_lock keeps a stream's wake from another thread
   * off the context while it is being destroyed. */
  struct http_session *open_streams;
  pthread_mutex_t wake_lock;
  int context_alive;
  /* Slow requests: queued for the slow threads, then done for the server's
   * thread to send; both lists and every job's session under slow_lock. */
  pthread_mutex_t slow_lock;
  pthread_cond_t slow_cond;
  struct slow_job *slow_queue, *slow_done;
  int slow_pending, slow_stop, slow_threads;
  pthread_t slow_thread[SLOW_THREADS];
};

/* Per-connection state; lws zeroes it. */
typedef struct http_session {
  char method[8];
  char *path, *query; /* kept while a request body arrives */
  vg_strbuf_t body_in;
  int body_started, body_too_big;
  char *out; /* response body being written */
  size_t out_len, out_off;
  vg_http_stream_t *stream; /* or a streamed body, of out_len bytes */
  int status;
  void *live; /* a live-view WebSocket's viewer (live/ws_live.h) */
  /* An open-ended stream or a deferred answer: linked into
   * srv->open_streams while it waits. A deferred answer keeps the
   * handler's header lines and whether only the head was asked for. */
  int open_ended, deferred, linked;
  int head_only;
  vg_strbuf_t held_headers;
  struct lws *wsi;
  vg_http_server_t *srv;
  struct http_session *next_open;
  struct slow_job *slow; /* a request running on a slow thread */
} http_session_t;

/* A request on a slow route with everything it points to, owned by the
 * job: the connection may go away while it runs (session is then NULL). */
typedef struct slow_job {
  struct slow_job *next;
  http_session_t *session;
  struct lws *wsi;
  int head_only;
  char method[8];
  char *path, *query, *body;
  size_t body_len;
  char header_buf[8192];
  vg_http_request_t req;
  vg_http_response_t res;
} slow_job_t;

static void slow_job_free(slow_job_t *job) {
  vg_http_response_free(&job->res);
  free(job->path);
  free(job->query);
  free(job->body);
  free(job);
}

/* The connection of a running slow job closed: the job finds no session. */
static void slow_detach(http_session_t *s) {
  if (!s->slow) return;
  pthread_mutex_lock(&s->srv->slow_lock);
  s->slow->session = NULL;
  pthread_mutex_unlock(&s->srv->slow_lock);
  s->slow = NULL;
}

static void unlink_open_stream(http_session_t *s) {
  if (!s->linked) return;
  for (http_session_t **p = &s->srv->open_streams; *p; p = &(*p)->next_open)
    if (*p == s) {
      *p = s->next_open;
      break;
    }
  s->linked = 0;
}

static void session_reset(http_session_t *s) {
  void *live = s->live;
  slow_detach(s);
  unlink_open_stream(s);
  free(s->path);
  free(s->query);
  free(s->out);
  if (s->stream) s->stream->close(s->stream);
  vg_strbuf_free(&s->body_in);
  vg_strbuf_free(&s->held_headers);
  memset(s, 0, sizeof(*s));
  s->live = live;
}

/* The request method: h1 tells it by which URI token it filled, h2 by the
 * :method pseudo-header. */
static void request_method(struct lws *wsi, char *out, size_t size) {
  static const struct {
    enum lws_token_indexes token;
    const char *name;
  } methods[] = {
      {WSI_TOKEN_GET_URI, "GET"},         {WSI_TOKEN_POST_URI, "POST"},   {WSI_TOKEN_HEAD_URI, "HEAD"},
      {WSI_TOKEN_PUT_URI, "PUT"},         {WSI_TOKEN_PATCH_URI, "PATCH"}, {WSI_TOKEN_DELETE_URI, "DELETE"},
      {WSI_TOKEN_OPTIONS_URI, "OPTIONS"}, {WSI_TOKEN_CONNECT, "CONNECT"},
  };
  out[0] = '\0';
  if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COLON_METHOD) > 0 &&
      lws_hdr_copy(wsi, out, (int)size, WSI_TOKEN_HTTP_COLON_METHOD) > 0)
    return;
  for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
    if (lws_hdr_total_length(wsi, methods[i].token) > 0) {
      snprintf(out, size, "%s", methods[i].name);
      return;
    }
  }
  snprintf(out, size, "?");
}

static void count_status(vg_http_server_t *srv, int status) {
  if (status >= 100 && status < 600) atomic_fetch_add(&srv->requests[status], 1);
}

/* Adds the handler's header lines ("name: value\r\n", validated by
 * vg_http_add_header) to the response head. */
static int add_extra_headers(struct lws *wsi, const vg_strbuf_t *headers, uint8_t **p, uint8_t *end) {
  const char *line = headers->data;
  while (line && *line) {
    const char *colon = strchr(line, ':'), *eol = strstr(line, "\r\n");
    if (!colon || !eol || colon > eol) return -1;
    char name[128];
    size_t name_len = (size_t)(colon - line);
    if (name_len + 2 > sizeof(name)) return -1;
    for (size_t i = 0; i < name_len; i++)
      name[i] = (char)tolower((unsigned char)line[i]);
    name[name_len] = ':';
    name[name_len + 1] = '\0';
    const char *value = colon + 2;
    if (lws_add_http_header_by_name(wsi, (const uint8_t *)name, (const uint8_t *)value, (int)(eol - value), p,
                                    end))
      return -1;
    line = eol + 2;
  }
  return 0;
}

/* The security headers of every answer: the set lws sends with
 * LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE, with a
 * policy that also lets the web app play video from blob: URLs (Media
 * Source Extensions), run hls.js's blob: worker and read its manifest. */
static const struct {
  const char *name, *value;
} security_headers[] = {
    {"content-security-policy:",
     "default-src 'none'; img-src 'self' data: blob:; script-src 'self'; font-src 'self'; style-src 'self'; "
     "connect-src 'self' ws: wss:; media-src 'self' blob:; worker-src 'self' blob:; manifest-src 'self'; "
     "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"},
    {"x-content-type-options:", "nosniff"},
    {"x-xss-protection:", "1; mode=block"},
    {"x-frame-options:", "deny"},
    {"referrer-policy:", "no-referrer"},
};

static int add_security_headers(struct lws *wsi, uint8_t **p, uint8_t *end) {
  for (size_t i = 0; i < sizeof(security_headers) / sizeof(security_headers[0]); i++)
    if (lws_add_http_header_by_name(wsi, (const uint8_t *)security_headers[i].name,
                                    (const uint8_t *)security_headers[i].value,
                                    (int)strlen(security_headers[i].value), p, end))
      return -1;
  return 0;
}

#define OPEN_STREAM_POLL_US (5 * 1000000)              /* an open stream's read runs at least this often */
#define SETTLE_POLL_US (VG_HTTP_SETTLE_POLL_MS * 1000) /* and a deferred answer's settle */

/* Called by an open stream from any thread: the server's thread then
 * asks every open stream for bytes (EVENT_WAIT_CANCELLED). */
static void wake_server(void *opaque) {
  vg_http_server_t *srv = opaque;
  pthread_mutex_lock(&srv->wake_lock);
  if (srv->context_alive) lws_cancel_service(srv->context);
  pthread_mutex_unlock(&srv->wake_lock);
}

/* An open-ended stream or a deferred answer waits: no idle timeout, a
 * poll timer (keep-alives, deadlines), and the wake function. */
static void start_waiting(struct lws *wsi, vg_http_server_t *srv, http_session_t *s, lws_usec_t poll_us) {
  s->linked = 1;
  s->wsi = wsi;
  s->srv = srv;
  s->next_open = srv->open_streams;
  srv->open_streams = s;
  s->out_len = 0;
  lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
  lws_set_timer_usecs(wsi, poll_us);
  if (s->stream->set_wake) s->stream->set_wake(s->stream, wake_server, srv);
}

/* A deferred answer (router.h's VG_HTTP_STREAM_DEFERRED): nothing goes
 * out until its settle says what to send (settle_deferred). Returns 0, or
 * -1 to close the connection. */
static int defer_response(struct lws *wsi, vg_http_server_t *srv, http_session_t *s, vg_http_response_t *res,
                          int head_only) {
  vg_http_stream_t *st = res->stream;
  res->stream = NULL;
  if (!st->settle) {
    st->close(st);
    return -1;
  }
  free(s->out);
  s->out = NULL;
  if (s->stream) s->stream->close(s->stream);
  s->stream = st;
  s->deferred = 1;
  s->head_only = head_only;
  vg_strbuf_free(&s->held_headers);
  s->held_headers = res->headers; /* moved: res keeps an empty one */
  vg_strbuf_init(&res->headers, 8192);
  start_waiting(wsi, srv, s, SETTLE_POLL_US);
  lws_callback_on_writable(wsi); /* it may be ready at once */
  return 0;
}

/* Writes the status line and headers and queues the body for WRITEABLE.
 * Returns 0, or -1 to close the connection. */
static int send_response(struct lws *wsi, vg_http_server_t *srv, http_session_t *s, vg_http_response_t *res,
                         int head_only, int cacheable) {
  if (res->stream && res->stream->length == VG_HTTP_STREAM_DEFERRED)
    return defer_response(wsi, srv, s, res, head_only);
  uint8_t buf[LWS_PRE + 8192], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
  size_t len = 0;
  char *body = res->stream ? NULL : vg_strbuf_steal(&res->body, &len);
  int open_ended = res->stream && res->stream->length == VG_HTTP_STREAM_OPEN && !head_only;
  /* An open stream has no length, also when HEAD only asks for its headers. */
  if (res->stream)
    len = res->stream->length == VG_HTTP_STREAM_OPEN ? LWS_ILLEGAL_HTTP_CONTENT_LEN : res->stream->length;
  if (lws_add_http_common_headers(wsi, (unsigned)res->status, res->content_type, len, &p, end) ||
      add_security_headers(wsi, &p, end) || add_extra_headers(wsi, &res->headers, &p, end) ||
      (res->allow[0] &&
       lws_add_http_header_by_name(wsi, (const uint8_t *)"allow:", (const uint8_t *)res->allow,
                                   (int)strlen(res->allow), &p, end)) ||
      (!cacheable && lws_add_http_header_by_name(
                         wsi, (const uint8_t *)"cache-control:", (const uint8_t *)"no-store", 8, &p, end)) ||
      lws_finalize_write_http_header(wsi, start, &p, end)) {
    free(body);
    return -1;
  }
  count_status(srv, res->status);
  s->status = res->status;
  free(s->out);
  s->out = body;
  s->out_len = head_only ? 0 : len;
  s->out_off = 0;
  if (s->stream) s->stream->close(s->stream);
  s->stream = NULL;
  if (res->stream && !head_only)
    s->stream = res->stream;
  else if (res->stream)
    res->stream->close(res->stream);
  res->stream = NULL;
  if (open_ended) {
    s->open_ended = 1;
    start_waiting(wsi, srv, s, OPEN_STREAM_POLL_US);
  }
  lws_callback_on_writable(wsi);
  return 0;
}

static int send_error(struct lws *wsi, vg_http_server_t *srv, http_session_t *s, int status, const char *code,
                      const char *message, int head_only) {
  vg_http_response_t res;
  vg_http_response_init(&res);
  vg_http_reply_error(&res, status, code, "%s", message);
  int rc = send_response(wsi, srv, s, &res, head_only, 0);
  vg_http_response_free(&res);
  return rc;
}

/* ---- static files ---- */

static const char *mime_type(const char *path) {
  static const struct {
    const char *ext, *type;
  } types[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".wasm", "application/wasm"},
      {".txt", "text/plain; charset=utf-8"},
      {".map", "application/json"},
  };
  const char *dot = strrchr(path, '.');
  if (dot && !strchr(dot, '/'))
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
      if (strcmp(dot, types[i].ext) == 0) return types[i].type;
  return "application/octet-stream";
}

/* Maps a URL path to a regular file inside the web root, or fails. Paths
 * with a segment starting with '.' (so "..", and dotfiles) are refused
 * before touching the file system, and the resolved path must still lie
 * inside the root (symbolic links pointing out of it are refused too). */
static int resolve_static(const vg_http_server_t *srv, const char *path, char *out, size_t size) {
  if (!srv->web_root[0] || path[0] != '/' || strstr(path, "/.") || strchr(path, '\\')) return VG_ENOTFOUND;
  char joined[PATH_MAX];
  size_t n = strlen(path);
  int w =
      snprintf(joined, sizeof(joined), "%s%s%s", srv->web_root, path, path[n - 1] == '/' ? "index.html" : "");
  if (w < 0 || (size_t)w >= sizeof(joined)) return VG_ENOTFOUND;
  char real[PATH_MAX];
  if (!realpath(joined, real)) return VG_ENOTFOUND;
  size_t root_len = strlen(srv->web_root);
  if (strncmp(real, srv->web_root, root_len) != 0 || real[root_len] != '/') return VG_ENOTFOUND;
  struct stat st;
  if (stat(real, &st) != 0 || !S_ISREG(st.st_mode)) return VG_ENOTFOUND;
  snprintf(out, size, "%s", real);
  return 0;
}

static int serve_static(struct lws *wsi, vg_http_server_t *srv, http_session_t *s, const char *method,
                        const char *path) {
  int head_only = strcmp(method, "HEAD") == 0;
  if (strcmp(method, "GET") != 0 && !head_only) {
    vg_http_response_t res;
    vg_http_response_init(&res);
    snprintf(res.allow, sizeof(res.allow), "GET, HEAD");
    vg_http_reply_error(&res, 405, "method_not_allowed", "%s is not allowed on static files", method);
    int rc = send_response(wsi, srv, s, &res, 0, 0);
    vg_http_response_free(&res);
    return rc;
  }
  char file[PATH_MAX];
  if (resolve_static(srv, path, file, sizeof(file)) != 0)
    return send_error(wsi, srv, s, 404, "not_found", "no such file", head_only);
  if (head_only) {
    /* lws_serve_http_file always sends the body; HEAD gets the headers of
     * an empty answer with the file's type. */
    vg_http_response_t res;
    vg_http_response_init(&res);
    res.content_type = mime_type(file);
    int rc = send_response(wsi, srv, s, &res, 1, 1);
    vg_http_response_free(&res);
    return rc;
  }
  count_status(srv, 200);
  s->status = 200;
  uint8_t headers[1024], *hp = headers;
  if (add_security_headers(wsi, &hp, headers + sizeof(headers))) return -1;
  int n = lws_serve_http_file(wsi, file, mime_type(file), (const char *)headers, (int)(hp - headers));
  if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi))) return -1;
  return 0;
}

/* ---- requests ---- */

/* The request headers the API may read (router.h's vg_http_header_t), in
 * its order. Copied into one buffer owned by the caller. */
static void copy_request_headers(struct lws *wsi, vg_http_request_t *req, char *buf, size_t size) {
  static const enum lws_token_indexes tokens[VG_HTTP_HDR__COUNT] = {
      [VG_HTTP_HDR_AUTHORIZATION] = WSI_TOKEN_HTTP_AUTHORIZATION,
      [VG_HTTP_HDR_COOKIE] = WSI_TOKEN_HTTP_COOKIE,
      [VG_HTTP_HDR_RANGE] = WSI_TOKEN_HTTP_RANGE,
      [VG_HTTP_HDR_IF_RANGE] = WSI_TOKEN_HTTP_IF_RANGE,
      [VG_HTTP_HDR_IF_NONE_MATCH] = WSI_TOKEN_HTTP_IF_NONE_MATCH,
      [VG_HTTP_HDR_CONTENT_TYPE] = WSI_TOKEN_HTTP_CONTENT_TYPE,
      [VG_HTTP_HDR_USER_AGENT] = WSI_TOKEN_HTTP_USER_AGENT,
      [VG_HTTP_HDR_ORIGIN] = WSI_TOKEN_ORIGIN,
  };
  size_t used = 0;
  for (int h = 0; h < VG_HTTP_HDR__COUNT; h++) {
    if (h == VG_HTTP_HDR_LAST_EVENT_ID) {
      /* Not one of lws's known tokens: a custom header. */
      static const char name[] = "last-event-id:";
      int n = lws_hdr_custom_length(wsi, name, (int)sizeof(name) - 1);
      if (n <= 0 || used + (size_t)n + 1 > size) continue;
      if (lws_hdr_custom_copy(wsi, buf + used, (int)(size - used), name, (int)sizeof(name) - 1) < 0) continue;
      req->headers[h] = buf + used;
      used += strlen(buf + used) + 1;
      continue;
    }
    int n = lws_hdr_total_length(wsi, tokens[h]);
    if (n <= 0 || used + (size_t)n + 1 > size) continue;
    if (lws_hdr_copy(wsi, buf + used, (int)(size - used), tokens[h]) < 0) continue;
    req->headers[h] = buf + used;
    used += strlen(buf + used) + 1;
  }
  lws_get_peer_simple(wsi, req->peer, sizeof(req->peer));
}

/* ---- slow routes ---- */

static char *dup_or_empty(const char *text) { return strdup(text ? text : ""); }

/* Queues a request on a slow route for the slow threads; the answer goes
 * out from complete_slow_jobs(). */
static int start_slow(struct lws *wsi, vg_http_server_t *srv, http_session_t *s, const char *method,
                      const char *path, const char *query) {
  slow_job_t *job = calloc(1, sizeof(*job));
  if (!job) return send_error(wsi, srv, s, 503, "unavailable", "out of memory", 0);
  snprintf(job->method, sizeof(job->method), "%s", method);
  job->path = dup_or_empty(path);
  job->query = dup_or_empty(query);
  job->body_len = s->body_in.len;
  job->body = malloc(job->body_len + 1);
  if (!job->path || !job->query || !job->body) {
    slow_job_free(job);
    return send_error(wsi, srv, s, 503, "unavailable", "out of memory", 0);
  }
  if (job->body_len) memcpy(job->body, s->body_in.data, job->body_len);
  job->body[job->body_len] = '\0';
  job->req = (vg_http_request_t){.method = job->method,
                                 .path = job->path,
                                 .query = job->query,
                                 .body = job->body_len ? job->body : NULL,
                                 .body_len = job->body_len};
  copy_request_headers(wsi, &job->req, job->header_buf, sizeof(job->header_buf));
  vg_http_response_init(&job->res);
  job->head_only = strcmp(method, "HEAD") == 0;
  job->wsi = wsi;
  pthread_mutex_lock(&srv->slow_lock);
  int full = srv->slow_pending >= SLOW_MAX_PENDING || !srv->slow_threads;
  if (!full) {
    job->session = s;
    s->slow = job;
    s->srv = srv;
    job->next = srv->slow_queue;
    srv->slow_queue = job;
    srv->slow_pending++;
    pthread_cond_signal(&srv->slow_cond);
  }
  pthread_mutex_unlock(&srv->slow_lock);
  if (full) {
    slow_job_free(job);
    return send_error(wsi, srv, s, 503, "busy", "too many slow requests (camera probes, PTZ) at once", 0);
  }
  /* The answer may take a camera's timeout: lws's request timeout must not
   * close the connection meanwhile. */
  lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
  return 0;
}

static void *slow_thread(void *arg) {
  vg_http_server_t *srv = arg;
  pthread_mutex_lock(&srv->slow_lock);
  for (;;) {
    while (!srv->slow_queue && !srv->slow_stop)
      pthread_cond_wait(&srv->slow_cond, &srv->slow_lock);
    if (srv->slow_stop) break;
    /* Oldest first: the queue is pushed at its head. */
    slow_job_t **last = &srv->slow_queue;
    while ((*last)->next)
      last = &(*last)->next;
    slow_job_t *job = *last;
    *last = NULL;
    pthread_mutex_unlock(&srv->slow_lock);
    vg_api_dispatch(&job->req, &job->res);
    pthread_mutex_lock(&srv->slow_lock);
    job->next = srv->slow_done;
    srv->slow_done = job;
    wake_server(srv);
  }
  pthread_mutex_unlock(&srv->slow_lock);
  return NULL;
}

/* On the server's thread: sends the answers of finished slow jobs whose
 * connections are still there. */
static void complete_slow_jobs(vg_http_server_t *srv) {
  pthread_mutex_lock(&srv->slow_lock);
  slow_job_t *done = srv->slow_done;
  srv->slow_done = NULL;
  for (slow_job_t *j = done; j; j = j->next) {
    srv->slow_pending--;
    if (j->session) j->session->slow = NULL;
  }
  pthread_mutex_unlock(&srv->slow_lock);
  while (done) {
    slow_job_t *job = done;
    done = job->next;
    if (job->session) {
      vg_log_debug(&lg, "%s %s -> %d (slow route)", job->method, job->path, job->res.status);
      if (send_response(job->wsi, srv, job->session, &job->res, job->head_only, 0) != 0)
        lws_set_timeout(job->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
    slow_job_free(job);
  }
}

static void slow_threads_start(vg_http_server_t *srv) {
  pthread_mutex_init(&srv->slow_lock, NULL);
  pthread_cond_init(&srv->slow_cond, NULL);
  for (int i = 0; i < SLOW_THREADS; i++)
    if (pthread_create(&srv->slow_thread[srv->slow_threads], NULL, slow_thread, srv) == 0)
      srv->slow_threads++;
}

/* After the server's thread has ended: a slow thread finishes the request
 * it is running (at most a camera's timeout), queued ones are dropped. */
static void slow_threads_stop(vg_http_server_t *srv) {
  pthread_mutex_lock(&srv->slow_lock);
  srv->slow_stop = 1;
  pthread_cond_broadcast(&srv->slow_cond);
  pthread_mutex_unlock(&srv->slow_lock);
  for (int i = 0; i < srv->slow_threads; i++)
    pthread_join(srv->slow_thread[i], NULL);
  for (slow_job_t *lists[2] = {srv->slow_queue, srv->slow_done}, **l = lists; l < lists + 2; l++)
    while (*l) {
      slow_job_t *job = *l;
      *l = job->next;
      slow_job_free(job);
    }
  pthread_cond_destroy(&srv->slow_cond);
  pthread_mutex_destroy(&srv->slow_lock);
}

static int answer(struct lws *wsi, vg_http_server_t *srv, http_session_t *s, const char *method,
                  const char *path, const char *query) {
  if (!vg_api_owns_path(path)) return serve_static(wsi, srv, s, method, path);
  if (vg_api_route_slow(method, path)) return start_slow(wsi, srv, s, method, path, query);
  vg_http_request_t req = {
      .method = method,
      .path = path,
      .query = query ? query : "",
      .body = s->body_in.data,
      .body_len = s->body_in.len,
  };
  char header_buf[8192];
  copy_request_headers(wsi, &req, header_buf, sizeof(header_buf));
  vg_http_response_t res;
  vg_http_response_init(&res);
  vg_api_dispatch(&req, &res);
  vg_log_debug(&lg, "%s %s -> %d (%zu bytes)", method, path, res.status, res.body.len);
  int rc = send_response(wsi, srv, s, &res, strcmp(method, "HEAD") == 0, 0);
  vg_http_response_free(&res);
  return rc;
}

/* The query string for vg_http_query(). lws keeps each "name=value" as a
 * fragment of its own and has already percent-decoded it (and turned '+'
 * into a space), so the fragments are joined with '&' here and the
 * characters that vg_http_query() would read as syntax ('%', '&', '+') are
 * escaped again: "a=1%26b" stays one parameter and "%2541" is not decoded
 * twice. Returns the length, or -1 when it does not fit. */
static int copy_query(struct lws *wsi, char *out, size_t size) {
  char frag[HTTP_MAX_QUERY];
  size_t used = 0;
  out[0] = '\0';
  for (int i = 0; lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i) > 0; i++) {
    int n = lws_hdr_copy_fragment(wsi, frag, (int)sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
    if (n < 0) return -1;
    if (used && used + 1 < size) out[used++] = '&';
    for (int k = 0; k < n; k++) {
      char c = frag[k];
      if (used + 4 > size) return -1;
      if (c == '%' || c == '&' || c == '+')
        used += (size_t)snprintf(out + used, size - used, "%%%02X", (unsigned char)c);
      else
        out[used++] = c;
    }
  }
  out[used] = '\0';
  return (int)used;
}

static int on_http(struct lws *wsi, vg_http_server_t *srv, http_session_t *s, const char *path) {
  session_reset(s);
  request_method(wsi, s->method, sizeof(s->method));
  char query[HTTP_MAX_QUERY] = "";
  if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS) >= (int)sizeof(query) ||
      copy_query(wsi, query, sizeof(query)) < 0)
    return send_error(wsi, srv, s, 414, "uri_too_long", "the query string is too long", 0);
  /* "Content-Length: 0" is no body: lws sends no body callbacks for it
   * (Python's http.client sends it with a bodiless PATCH). */
  char length[24] = "";
  int has_length = lws_hdr_copy(wsi, length, sizeof(length), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
  int has_body = (has_length && strtoull(length, NULL, 10) > 0) ||
                 lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
  if (has_body && vg_api_owns_path(path) &&
      (!strcmp(s->method, "POST") || !strcmp(s->method, "PUT") || !strcmp(s->method, "PATCH"))) {
    if (has_length && strtoull(length, NULL, 10) > HTTP_MAX_BODY)
      return send_error(wsi, srv, s, 413, "too_large", "the request body is too large", 0);
    /* The body arrives in HTTP_BODY callbacks; answer when it is complete. */
    s->path = strdup(path);
    s->query = strdup(query);
    vg_strbuf_init(&s->body_in, HTTP_MAX_BODY);
    s->body_started = 1;
    if (!s->path || !s->query) return -1;
    return 0;
  }
  return answer(wsi, srv, s, s->method, path, query);
}

/* An open stream's turn: as much as read gives now, in chunks. */
static int write_open_stream(struct lws *wsi, http_session_t *s) {
  uint8_t chunk[LWS_PRE + HTTP_WRITE_CHUNK];
  long got = s->stream->read(s->stream, chunk + LWS_PRE, HTTP_WRITE_CHUNK);
  if (got < 0) return -1; /* the stream ended: close the connection */
  if (got == 0) return 0;
  if (lws_write(wsi, chunk + LWS_PRE, (size_t)got, LWS_WRITE_HTTP) != (int)got) return -1;
  lws_callback_on_writable(wsi);
  return 0;
}

/* A deferred answer's turn: once settle has it, the response goes out as
 * a plain one (headers now, the body on the next WRITEABLE). */
static int settle_deferred(struct lws *wsi, vg_http_server_t *srv, http_session_t *s) {
  int status = 200;
  const char *type = "text/plain; charset=utf-8";
  int rc = s->stream->settle(s->stream, &status, &type);
  if (rc < 0) return -1;
  if (rc == 0) return 0;
  uint64_t length = s->stream->length;
  if (length == VG_HTTP_STREAM_DEFERRED || length == VG_HTTP_STREAM_OPEN) return -1;
  unlink_open_stream(s);
  s->deferred = 0;
  lws_set_timer_usecs(wsi, LWS_SET_TIMER_USEC_CANCEL);
  vg_http_response_t res;
  vg_http_response_init(&res);
  res.status = status;
  res.content_type = type;
  res.stream = s->stream;
  s->stream = NULL;
  vg_strbuf_free(&res.headers);
  res.headers = s->held_headers;
  memset(&s->held_headers, 0, sizeof(s->held_headers));
  rc = send_response(wsi, srv, s, &res, s->head_only, 0);
  vg_http_response_free(&res);
  return rc;
}

static int on_writeable(struct lws *wsi, vg_http_server_t *srv, http_session_t *s) {
  if (s->deferred && s->stream) return settle_deferred(wsi, srv, s);
  if (s->open_ended && s->stream) return write_open_stream(wsi, s);
  if (!s->out && !s->stream && s->out_len) return 0;
  size_t left = s->out_len - s->out_off;
  if (left > 0) {
    uint8_t chunk[LWS_PRE + HTTP_WRITE_CHUNK];
    size_t n = left < HTTP_WRITE_CHUNK ? left : HTTP_WRITE_CHUNK;
    if (s->stream) {
      long got = s->stream->read(s->stream, chunk + LWS_PRE, n);
      if (got <= 0) {
        vg_log_warn(&lg, "a streamed response ended after %zu of %zu bytes: %s", s->out_off, s->out_len,
                    got < 0 ? vg_strerror((int)got) : "no more data");
        return -1;
      }
      n = (size_t)got;
    } else {
      memcpy(chunk + LWS_PRE, s->out + s->out_off, n);
    }
    int final = n == left;
    if (lws_write(wsi, chunk + LWS_PRE, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
      return -1;
    s->out_off += n;
    if (!final) {
      lws_callback_on_writable(wsi);
      return 0;
    }
  }
  free(s->out);
  s->out = NULL;
  if (s->stream) s->stream->close(s->stream);
  s->stream = NULL;
  s->out_len = s->out_off = 0;
  if (lws_http_transaction_completed(wsi)) return -1;
  return 0;
}

/* A WebSocket upgrade (the live view, docs/LIVE.md): authorized like an
 * API request by ws_live.c; a refusal is answered here as a whole HTTP
 * response (small JSON), and lws completes the transaction. Returns lws's
 * CONFIRM_UPGRADE answer: 0 to go on, 1 when refused. */
static int confirm_upgrade(struct lws *wsi, vg_http_server_t *srv, const char *upgrade) {
  if (!upgrade || strcasecmp(upgrade, "websocket") != 0) return 0;
  char path[512] = "", query[HTTP_MAX_QUERY] = "", header_buf[8192];
  if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0) path[0] = '\0';
  if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS) >= (int)sizeof(query) ||
      copy_query(wsi, query, sizeof(query)) < 0)
    query[0] = '\0';
  vg_http_request_t req = {.method = "GET", .path = path, .query = query};
  copy_request_headers(wsi, &req, header_buf, sizeof(header_buf));
  vg_http_response_t res;
  vg_http_response_init(&res);
  char camera[VG_HTTP_PARAM_MAX];
  int audio = 1;
  if (path[0] && vg_live_ws_authorize(&req, &res, camera, sizeof(camera), &audio) == 0) {
    vg_http_response_free(&res);
    vg_live_ws_accepted(wsi, camera, audio);
    count_status(srv, 101);
    return 0;
  }
  if (res.status == 200) vg_http_reply_error(&res, 403, "forbidden", "upgrade refused");
  uint8_t buf[LWS_PRE + 8192], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
  size_t len = 0;
  char *body = vg_strbuf_steal(&res.body, &len);
  int rc = 1;
  if (lws_add_http_common_headers(wsi, (unsigned)res.status, res.content_type, len, &p, end) ||
      add_security_headers(wsi, &p, end) || add_extra_headers(wsi, &res.headers, &p, end) ||
      lws_add_http_header_by_name(wsi, (const uint8_t *)"cache-control:", (const uint8_t *)"no-store", 8, &p,
                                  end) ||
      lws_finalize_write_http_header(wsi, start, &p, end))
    rc = -1;
  else if (len > 0 && len <= 4096) {
    uint8_t out[LWS_PRE + 4096];
    memcpy(out + LWS_PRE, body, len);
    if (lws_write(wsi, out + LWS_PRE, len, LWS_WRITE_HTTP_FINAL) != (int)len) rc = -1;
  }
  count_status(srv, res.status);
  free(body);
  vg_http_response_free(&res);
  return rc;
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len) {
  http_session_t *s = user;
  struct lws_context *ctx = lws_get_context(wsi);
  vg_http_server_t *srv = ctx ? lws_context_user(ctx) : NULL;

  switch (reason) {
  case LWS_CALLBACK_HTTP: return on_http(wsi, srv, s, in ? (const char *)in : "/");

  case LWS_CALLBACK_HTTP_BODY:
    if (!s->body_started) return 0;
    if (!s->body_too_big && vg_strbuf_append(&s->body_in, in, len) != 0) s->body_too_big = 1;
    return 0;

  case LWS_CALLBACK_HTTP_BODY_COMPLETION:
    if (!s->body_started) return 0;
    s->body_started = 0;
    if (s->body_too_big) return send_error(wsi, srv, s, 413, "too_large", "the request body is too large", 0);
    return answer(wsi, srv, s, s->method, s->path, s->query);

  case LWS_CALLBACK_HTTP_WRITEABLE: return on_writeable(wsi, srv, s);

  case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
    if (srv) complete_slow_jobs(srv);
    /* A stream's wake: every open stream gets a turn to read. */
    for (http_session_t *o = srv ? srv->open_streams : NULL; o; o = o->next_open)
      lws_callback_on_writable(o->wsi);
    /* And the live view's muxing workers' wake-ups. */
    return vg_live_ws_callback(wsi, (int)reason, s ? &s->live : NULL, in, len);

  case LWS_CALLBACK_TIMER:
    if (s && (s->open_ended || s->deferred)) {
      lws_callback_on_writable(wsi);
      lws_set_timer_usecs(wsi, s->deferred ? SETTLE_POLL_US : OPEN_STREAM_POLL_US);
    }
    return 0;

  case LWS_CALLBACK_HTTP_FILE_COMPLETION:
    if (lws_http_transaction_completed(wsi)) return -1;
    return 0;

  case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: return confirm_upgrade(wsi, srv, in);

  /* The live view's WebSockets, upgraded from this protocol (no
   * subprotocol), and the wake-ups of their muxing workers. */
  case LWS_CALLBACK_ESTABLISHED:
  case LWS_CALLBACK_SERVER_WRITEABLE:
  case LWS_CALLBACK_RECEIVE:
  case LWS_CALLBACK_CLOSED: return vg_live_ws_callback(wsi, (int)reason, s ? &s->live : NULL, in, len);

  case LWS_CALLBACK_CLOSED_HTTP:
  case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    if (s) session_reset(s);
    return 0;

  default: break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"http", http_callback, sizeof(http_session_t), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- lws logging into vigil's log ---- */

static void lws_log_emit(int level, const char *line) {
  /* lws lines end in a newline and, for errors, often describe a client's
   * bad request: they are warnings for us, the rest is debug detail. */
  size_t n = strlen(line);
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    n--;
  vg_log_level_t lv = (level & LLL_ERR) ? VG_LOG_WARN : VG_LOG_DEBUG;
  vg_log_at(lv, &lg, "lws: %.*s", (int)n, line);
}

/* ---- /metrics collector ---- */

static void collect_http_metrics(void *opaque, vg_strbuf_t *out) {
  vg_http_server_t *srv = opaque;
  vg_metrics_family(out, "vigil_http_requests_total", "counter", "HTTP requests answered, by status code.");
  for (int code = 100; code < 600; code++) {
    uint64_t n = atomic_load(&srv->requests[code]);
    if (!n) continue;
    char code_text[8];
    snprintf(code_text, sizeof(code_text), "%d", code);
    const char *labels[] = {"code", code_text, NULL};
    vg_metrics_sample_u64(out, "vigil_http_requests_total", labels, n);
  }
}

/* ---- start / stop ---- */

static int is_any_address(const char *bind) {
  return !bind[0] || strcmp(bind, "0.0.0.0") == 0 || strcmp(bind, "::") == 0 || strcmp(bind, "*") == 0;
}

/* The server's thread: lws's own poll loop until stop is asked, then the
 * context is destroyed here, on the thread that serviced it. */
static void *serve_thread(void *arg) {
  vg_http_server_t *srv = arg;
  while (!atomic_load(&srv->stopping))
    if (lws_service(srv->context, 0) < 0) break;
  pthread_mutex_lock(&srv->wake_lock);
  srv->context_alive = 0;
  pthread_mutex_unlock(&srv->wake_lock);
  lws_context_destroy(srv->context);
  srv->context = NULL;
  return NULL;
}

static struct lws_context *create_context(vg_http_server_t *srv) {
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof(info));
  info.port = srv->cfg.port;
  info.protocols = protocols;
  info.options = LWS_SERVER_OPTION_VALIDATE_UTF8; /* security headers: add_security_headers() */
  /* An IPv4 address can only be bound by an IPv4 socket; every other
   * choice keeps lws's dual-stack IPv6 socket. */
  if (!is_any_address(srv->cfg.bind)) {
    info.iface = srv->cfg.bind;
    if (!strchr(srv->cfg.bind, ':')) info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
  }
  if (srv->cfg.tls_cert[0]) {
    /* HTTPS only on this port: lws then refuses plain HTTP, so a session
     * cookie marked Secure is never sent in the clear. */
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.ssl_cert_filepath = srv->cfg.tls_cert;
    info.ssl_private_key_filepath = srv->cfg.tls_key;
  }
  info.user = srv;
  info.vhost_name = "vigil";
  info.server_string = "vigil";
  info.max_http_header_data = 4096;
  info.max_http_header_pool = 64;
  info.timeout_secs = 15;
  info.keepalive_timeout = 30;
  return lws_create_context(&info);
}

/* The first candidate directory that holds an index.html. */
static void find_web_root(const vg_http_config_t *cfg, char *out, size_t size) {
  char exe[PATH_MAX] = "", candidates[6][PATH_MAX];
  int count = 0;
  out[0] = '\0';
  if (cfg->web_root[0]) {
    if (!realpath(cfg->web_root, out)) {
      vg_log_warn(&lg, "web_root %s: %s; static files are not served", cfg->web_root,
                  vg_strerror(vg_err_from_errno()));
      out[0] = '\0';
    }
    return;
  }
  /* web/dist is the built app (make builds it from web/src); web/ itself
   * serves an install that copied the built files there. */
  snprintf(candidates[count++], PATH_MAX, "web/dist");
  snprintf(candidates[count++], PATH_MAX, "web");
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    snprintf(candidates[count++], PATH_MAX, "%.*s/web", PATH_MAX - 8, exe);
    snprintf(candidates[count++], PATH_MAX, "%.*s/../web/dist", PATH_MAX - 24, exe);
    snprintf(candidates[count++], PATH_MAX, "%.*s/../web", PATH_MAX - 16, exe);
    snprintf(candidates[count++], PATH_MAX, "%.*s/../share/vigil/web", PATH_MAX - 24, exe);
  }
  for (int i = 0; i < count; i++) {
    char index[PATH_MAX + 16], real[PATH_MAX];
    snprintf(index, sizeof(index), "%s/index.html", candidates[i]);
    if (access(index, R_OK) == 0 && realpath(candidates[i], real)) {
      snprintf(out, size, "%s", real);
      return;
    }
  }
  vg_log_warn(&lg, "no web/ directory found (set http.web_root); static files are not served");
}

int vg_http_server_start(const vg_http_config_t *cfg, vg_http_server_t **out) {
  *out = NULL;
  if (!cfg->enabled) return 0;
  vg_http_server_t *srv = calloc(1, sizeof(*srv));
  if (!srv) return VG_ENOMEM;
  srv->cfg = *cfg;
  pthread_mutex_init(&srv->wake_lock, NULL);
  find_web_root(cfg, srv->web_root, sizeof(srv->web_root));
  lws_set_log_level(LLL_ERR | LLL_WARN | (vg_log_enabled(VG_LOG_DEBUG) ? LLL_NOTICE : 0), lws_log_emit);
  srv->context = create_context(srv);
  if (!srv->context) {
    vg_log_error(&lg,
                 "cannot serve HTTP on %s port %d (address in use or not local, or a bad tls_cert/tls_key?)",
                 cfg->bind, cfg->port);
    free(srv);
    return VG_EIO;
  }
  srv->context_alive = 1;
  slow_threads_start(srv);
  int err = pthread_create(&srv->thread, NULL, serve_thread, srv);
  if (err) {
    slow_threads_stop(srv);
    lws_context_destroy(srv->context);
    free(srv);
    return -err;
  }
  vg_metrics_register("http_server", collect_http_metrics, srv);
  vg_live_start();
  vg_log_info(&lg, "listening on %s port %d (%s)%s%s",
              is_any_address(cfg->bind) ? "all addresses" : cfg->bind, cfg->port,
              cfg->tls_cert[0] ? "HTTPS" : "HTTP", srv->web_root[0] ? ", web files from " : "",
              srv->web_root);
  *out = srv;
  return 0;
}

void vg_http_server_stop(vg_http_server_t **psrv) {
  vg_http_server_t *srv = psrv ? *psrv : NULL;
  if (!srv) return;
  *psrv = NULL;
  vg_metrics_unregister("http_server");
  atomic_store(&srv->stopping, 1);
  /* Wakes the thread out of its poll; it sees stopping and leaves. */
  wake_server(srv);
  /* A thread that does not come back (lws spinning inside one service
   * call) must not keep the node from stopping: it is left behind with
   * everything it uses (the context, srv, the slow threads' lock), and the
   * process exits around it. */
  struct timespec deadline = vg_time_deadline(CLOCK_REALTIME, HTTP_STOP_WAIT_MS * 1000LL);
  if (pthread_timedjoin_np(srv->thread, NULL, &deadline) != 0) {
    vg_log_error(&lg, "the HTTP server's thread did not stop within %d ms; leaving it behind",
                 HTTP_STOP_WAIT_MS);
    pthread_detach(srv->thread);
    return;
  }
  slow_threads_stop(srv);
  vg_live_stop();
  pthread_mutex_destroy(&srv->wake_lock);
  free(srv);
}
