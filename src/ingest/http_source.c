#include "ingest/http_source.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/time.h"
#include "ingest/pull.h"
#include "proto/auth.h"
#include "proto/http1.h"
#include "proto/url.h"

#define MAX_REDIRECTS 5
#define MAX_HEAD 16384
#define READ_BUF_MAX (VG_HTTP_SOURCE_MAX_JPEG + 64 * 1024)

typedef enum { PHASE_WAIT = 0, PHASE_CONNECTING, PHASE_HEAD, PHASE_BODY } phase_t;

typedef struct {
  /* The connection and the timer (WAIT: the next poll; otherwise: the read
   * timeout); how the attempt ends. */
  vg_pull_t pull;
  vg_camera_t *cam;
  int mjpeg;
  vg_url_t url; /* the current one, after redirects */
  phase_t phase;
  vg_http1_body_t body;
  size_t decoded; /* de-chunked body bytes at the front of conn->buf */
  char boundary[VG_HTTP1_MAX_BOUNDARY + 1];
  int redirects;
  vg_auth_client_t auth;
  int auth_sent; /* requests sent with the current challenge */
  int online, tracks_set, width, height;
  int64_t t0_us, request_start_us;
} http_src_t;

/* ---- JPEG ------------------------------------------------------------- */

int vg_jpeg_size(const uint8_t *d, size_t len, int *width, int *height) {
  if (len < 4 || d[0] != 0xFF || d[1] != 0xD8) return VG_EPROTO;
  size_t pos = 2;
  while (pos + 4 <= len) {
    if (d[pos] != 0xFF) return VG_ENOTFOUND;
    uint8_t marker = d[pos + 1];
    if (marker == 0xFF) { /* fill byte */
      pos++;
      continue;
    }
    if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {
      pos += 2;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) return VG_ENOTFOUND; /* scan data or end: no SOF */
    size_t seg = (size_t)d[pos + 2] << 8 | d[pos + 3];
    if (seg < 2 || pos + 2 + seg > len) return VG_ENOTFOUND;
    /* SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC). */
    if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
      if (seg < 7) return VG_EPROTO;
      *height = d[pos + 5] << 8 | d[pos + 6];
      *width = d[pos + 7] << 8 | d[pos + 8];
      return 0;
    }
    pos += 2 + seg;
  }
  return VG_ENOTFOUND;
}

/* ---- life cycle ------------------------------------------------------- */

static void release(vg_pull_t *p) { free(p->owner); }

static const vg_pull_ops_t pull_ops = {NULL, release, NULL};

#define fail(s, ...) vg_pull_fail(&(s)->pull, __VA_ARGS__)

/* ---- requests --------------------------------------------------------- */

static void on_connected(void *owner);
static void on_read(vg_tcp_client_t *c, int status);
static void on_timer(uv_timer_t *t);

static void begin_request(http_src_t *s) {
  if (strcmp(s->url.scheme, "http") != 0) {
    fail(s, VG_EUNSUPPORTED, "%s:// is not supported (use http://)", s->url.scheme);
    return;
  }
  s->phase = PHASE_CONNECTING;
  s->request_start_us = vg_time_mono_us();
  uv_timer_stop(&s->pull.timer);
  vg_pull_connect(&s->pull, s->url.host, s->url.port, READ_BUF_MAX, on_connected, on_read);
}

/* Drops the current connection and starts the request again (after a 401
 * or a redirect). */
static void restart_request(http_src_t *s) {
  vg_pull_drop_conn(&s->pull);
  begin_request(s);
}

static void send_request(http_src_t *s) {
  char req[4096], authz[1024] = "";
  if (s->auth.challenge.scheme != VG_AUTH_NONE) {
    int r = vg_auth_client_authorization(&s->auth, "GET", s->url.path, s->url.user, s->url.password, authz,
                                         sizeof(authz));
    if (r < 0) {
      fail(s, VG_EAUTH, "cannot build credentials: %s", vg_strerror(r));
      return;
    }
    s->auth_sent++;
  }
  int host_v6 = s->url.host_is_ipv6;
  char host[VG_URL_MAX_HOST + 16];
  snprintf(host, sizeof(host), "%s%s%s", host_v6 ? "[" : "", s->url.host, host_v6 ? "]" : "");
  if (s->url.port != 80) snprintf(host + strlen(host), sizeof(host) - strlen(host), ":%u", s->url.port);
  int n = snprintf(req, sizeof(req),
                   "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: vigil/" VG_VERSION "\r\nAccept: %s\r\n"
                   "Connection: close\r\n%s%s%s\r\n",
                   s->url.path, host, s->mjpeg ? "multipart/x-mixed-replace, */*" : "image/jpeg, */*",
                   *authz ? "Authorization: " : "", authz, *authz ? "\r\n" : "");
  if (n < 0 || (size_t)n >= sizeof(req)) {
    fail(s, VG_ETOOBIG, "request too long");
    return;
  }
  int r = vg_tcp_client_write(s->pull.conn, req, (size_t)n);
  if (r < 0) fail(s, r, "write failed: %s", vg_strerror(r));
}

static void on_connected(void *owner) {
  http_src_t *s = owner;
  s->phase = PHASE_HEAD;
  uv_timer_start(&s->pull.timer, on_timer, (uint64_t)s->cam->cfg.read_timeout_ms, 0);
  send_request(s);
}

static void on_timer(uv_timer_t *t) {
  http_src_t *s = t->data;
  if (s->phase == PHASE_WAIT) {
    begin_request(s);
    return;
  }
  fail(s, VG_ENODATA, "no media for %d ms", s->cam->cfg.read_timeout_ms);
}

/* ---- frames ----------------------------------------------------------- */

static void deliver_jpeg(http_src_t *s, const uint8_t *data, size_t len) {
  vg_camera_t *cam = s->cam;
  int w = 0, h = 0;
  int r = vg_jpeg_size(data, len, &w, &h);
  if (r == VG_EPROTO) {
    atomic_fetch_add(&cam->counters.errors, 1);
    if (!s->mjpeg)
      fail(s, VG_EPROTO, "snapshot is not a JPEG (%zu bytes)", len);
    else
      vg_log_debug(&cam->log, "dropped an MJPEG part that is not a JPEG (%zu bytes)", len);
    return;
  }
  vg_track_t track = {.codec = VG_CODEC_JPEG, .clock_rate = 90000, .width = w, .height = h};
  if (!s->tracks_set) {
    vg_hub_set_tracks(cam->hub, &track, 1);
    s->tracks_set = 1;
    s->width = w, s->height = h;
  } else if (w != s->width || h != s->height) {
    vg_hub_update_track(cam->hub, 0, &track);
    s->width = w, s->height = h;
  }
  /* The one copy: out of the read buffer into a pooled, shareable buffer. */
  vg_buf_t *b = vg_buf_from(data, len);
  if (!b) {
    fail(s, VG_ENOMEM, "out of memory");
    return;
  }
  int64_t now = vg_time_mono_us();
  vg_frame_t f = {.buf = b,
                  .data = b->data,
                  .len = (uint32_t)len,
                  .flags = VG_FRAME_KEY,
                  .track = 0,
                  .pts = (now - s->t0_us) * 9 / 100,
                  .recv_us = now,
                  .utc_us = vg_time_utc_us()};
  vg_hub_push(cam->hub, &f);
  vg_buf_unref(&b);
  atomic_fetch_add(&cam->counters.frames, 1);
  atomic_fetch_add(&cam->counters.bytes, len);
  if (!s->online) {
    s->online = 1;
    vg_camera_source_online(cam);
  }
}

/* ---- response handling ------------------------------------------------ */

static void handle_401(http_src_t *s, const vg_http1_response_t *resp) {
  if (!s->url.has_credentials) {
    fail(s, VG_EAUTH, "authentication required (401) and the URL has no credentials");
    return;
  }
  vg_auth_client_t fresh;
  vg_auth_client_init(&fresh);
  for (int i = 0; i < resp->n_headers; i++)
    if (vg_http1_str_eq(resp->headers[i].name, "WWW-Authenticate"))
      vg_auth_client_offer(&fresh, resp->headers[i].value.p, resp->headers[i].value.len);
  if (fresh.challenge.scheme == VG_AUTH_NONE) {
    fail(s, VG_EAUTH, "authentication required (401) with no supported challenge");
    return;
  }
  /* Retry once per challenge; a stale Digest nonce earns another try. */
  if (s->auth_sent > 0 && !fresh.challenge.stale) {
    fail(s, VG_EAUTH, "authentication failed (401): wrong user or password");
    return;
  }
  s->auth = fresh;
  s->auth_sent = 0;
  restart_request(s);
}

static void handle_redirect(http_src_t *s, const vg_http1_response_t *resp) {
  const vg_http1_str_t *loc = vg_http1_header(resp, "Location");
  if (!loc || loc->len == 0 || loc->len >= VG_URL_MAX_PATH) {
    fail(s, VG_EPROTO, "HTTP %d without a usable Location", resp->status);
    return;
  }
  if (++s->redirects > MAX_REDIRECTS) {
    fail(s, VG_EPROTO, "more than %d redirects", MAX_REDIRECTS);
    return;
  }
  char ref[VG_URL_MAX_PATH], base[VG_URL_MAX_PATH + 512], next[VG_URL_MAX_PATH + 512];
  memcpy(ref, loc->p, loc->len);
  ref[loc->len] = 0;
  vg_url_t u;
  if (vg_url_print_with_credentials(&s->url, base, sizeof(base)) < 0 ||
      vg_url_resolve(base, ref, next, sizeof(next)) < 0 || vg_url_parse(next, &u) != 0) {
    fail(s, VG_EPROTO, "bad redirect Location");
    return;
  }
  /* Credentials stay with the host they were given for. */
  if (!u.has_credentials && strcmp(u.host, s->url.host) == 0) {
    memcpy(u.user, s->url.user, sizeof(u.user));
    memcpy(u.password, s->url.password, sizeof(u.password));
    u.has_credentials = s->url.has_credentials;
  }
  s->url = u;
  vg_log_info(&s->cam->log, "redirected (%d)", resp->status);
  restart_request(s);
}

/* Handles a complete response head. Returns 1 to go on with the body. */
static int handle_head(http_src_t *s, const vg_http1_response_t *resp) {
  int st = resp->status;
  if (st == 401) {
    handle_401(s, resp);
    return 0;
  }
  if (st == 301 || st == 302 || st == 303 || st == 307 || st == 308) {
    handle_redirect(s, resp);
    return 0;
  }
  if (st != 200) {
    fail(s, st == 403 ? VG_EAUTH : VG_EPROTO, "HTTP %d %.*s", st, (int)resp->reason.len, resp->reason.p);
    return 0;
  }
  const vg_http1_str_t *ct = vg_http1_header(resp, "Content-Type");
  if (s->mjpeg) {
    vg_http1_str_t none = {"", 0};
    int r = vg_http1_multipart_boundary(ct ? *ct : none, s->boundary, sizeof(s->boundary));
    if (r < 0) {
      fail(s, r == VG_EUNSUPPORTED ? VG_EUNSUPPORTED : VG_EPROTO, "not an MJPEG stream (Content-Type: %.*s)",
           ct ? (int)ct->len : 0, ct ? ct->p : "");
      return 0;
    }
  }
  int r = vg_http1_body_init(&s->body, resp, s->mjpeg ? 0 : VG_HTTP_SOURCE_MAX_JPEG);
  if (r < 0) {
    fail(s, r, "snapshot too large (Content-Length %lld)", (long long)resp->content_length);
    return 0;
  }
  return 1;
}

/* De-chunks what arrived, in place: decoded body bytes gather at the front
 * of the buffer. Returns 1 when the body is complete, 0 for more, or fails. */
static int decode_body(http_src_t *s, int eof) {
  vg_tcp_client_t *c = s->pull.conn;
  size_t raw = s->decoded;
  int done = 0;
  while (!done) {
    const uint8_t *d;
    size_t dl, used;
    int r = vg_http1_body_decode(&s->body, c->buf + raw, c->len - raw, &d, &dl, &used);
    if (r < 0 && r != VG_EINCOMPLETE) {
      fail(s, r, r == VG_ETOOBIG ? "body too large" : "malformed HTTP body");
      return -1;
    }
    if (dl) {
      memmove(c->buf + s->decoded, d, dl);
      s->decoded += dl;
    }
    raw += used;
    if (r == 1) done = 1;
    if (r == VG_EINCOMPLETE) break;
  }
  /* Close the gap between decoded and raw bytes. */
  if (raw > s->decoded) {
    memmove(c->buf + s->decoded, c->buf + raw, c->len - raw);
    c->len -= raw - s->decoded;
  }
  if (!done && eof) {
    if (vg_http1_body_eof(&s->body) == 1) return 1;
    fail(s, VG_ECLOSED, "connection closed in the middle of a %s", s->mjpeg ? "stream" : "snapshot");
    return -1;
  }
  return done;
}

static void snapshot_body(http_src_t *s, int eof) {
  int r = decode_body(s, eof);
  if (r <= 0) return;
  deliver_jpeg(s, s->pull.conn->buf, s->decoded);
  if (!vg_pull_running(&s->pull)) return;
  vg_pull_drop_conn(&s->pull);
  s->phase = PHASE_WAIT;
  int64_t elapsed_ms = (vg_time_mono_us() - s->request_start_us) / 1000;
  int64_t wait = s->cam->cfg.snapshot_interval_ms - elapsed_ms;
  uv_timer_start(&s->pull.timer, on_timer, wait > 0 ? (uint64_t)wait : 0, 0);
}

static void mjpeg_body(http_src_t *s, int eof) {
  int r = decode_body(s, eof);
  if (r < 0) return;
  for (;;) {
    vg_http1_part_t part;
    size_t used = 0;
    int pr = vg_http1_multipart_next(s->pull.conn->buf, s->decoded, s->boundary, VG_HTTP_SOURCE_MAX_JPEG,
                                     &part, &used);
    if (pr == 1) {
      deliver_jpeg(s, part.body, part.body_len);
      if (!vg_pull_running(&s->pull)) return;
      uv_timer_start(&s->pull.timer, on_timer, (uint64_t)s->cam->cfg.read_timeout_ms, 0);
    }
    vg_tcp_client_consume(s->pull.conn, used);
    s->decoded -= used;
    if (pr == 1) continue;
    if (pr == 0)
      fail(s, VG_ECLOSED, "the camera ended the MJPEG stream");
    else if (pr != VG_EINCOMPLETE)
      fail(s, pr, "malformed MJPEG part (%s)", vg_strerror(pr));
    else if (r == 1)
      fail(s, VG_ECLOSED, "the camera ended the MJPEG stream");
    return;
  }
}

static void on_read(vg_tcp_client_t *c, int status) {
  http_src_t *s = vg_pull_owner(c);
  if (!vg_pull_running(&s->pull) || c != s->pull.conn) return;
  int eof = status == VG_ECLOSED;
  if (status < 0 && !eof) {
    fail(s, status, "%s: %s", status == VG_ETOOBIG ? "response too large" : "read failed",
         vg_strerror(status));
    return;
  }
  if (s->phase == PHASE_HEAD) {
    vg_http1_response_t *resp = malloc(sizeof(*resp));
    size_t used = 0;
    int r = resp ? vg_http1_parse_response(c->buf, c->len, MAX_HEAD, resp, &used) : VG_ENOMEM;
    if (r == VG_EINCOMPLETE && !eof) {
      free(resp);
      return;
    }
    if (r < 0) {
      free(resp);
      if (r == VG_EINCOMPLETE)
        fail(s, VG_ECLOSED, "connection closed before a response");
      else
        fail(s, r, "malformed HTTP response (%s)", vg_strerror(r));
      return;
    }
    int go_on = handle_head(s, resp);
    free(resp);
    if (!go_on) return;
    vg_tcp_client_consume(c, used);
    s->decoded = 0;
    s->phase = PHASE_BODY;
  }
  if (s->mjpeg)
    mjpeg_body(s, eof);
  else
    snapshot_body(s, eof);
}

/* ---- ops -------------------------------------------------------------- */

static void source_start(vg_camera_t *cam, int mjpeg) {
  http_src_t *s = calloc(1, sizeof(*s));
  if (!s) {
    vg_camera_source_failed(cam, VG_ENOMEM, "out of memory");
    return;
  }
  s->cam = cam;
  s->mjpeg = mjpeg;
  int r = vg_url_parse(cam->cfg.url, &s->url);
  if (r < 0) {
    free(s);
    vg_camera_source_failed(cam, r, "bad URL: %s", vg_strerror(r));
    return;
  }
  vg_auth_client_init(&s->auth);
  vg_pull_init(&s->pull, cam, vg_worker_loop(cam->worker), s, &pull_ops);
  s->t0_us = vg_time_mono_us();
  cam->source = s;
  begin_request(s);
}

static void source_stop(vg_camera_t *cam, void (*done)(vg_camera_t *cam)) {
  http_src_t *s = cam->source;
  if (!s) {
    done(cam);
    return;
  }
  /* A failure already under way turns into a stop: done, not failed. */
  vg_pull_stop(&s->pull, done);
}

static void snapshot_start(vg_camera_t *cam) { source_start(cam, 0); }
static void mjpeg_start(vg_camera_t *cam) { source_start(cam, 1); }

const vg_source_ops_t vg_snapshot_source_ops = {"snapshot", snapshot_start, source_stop};
const vg_source_ops_t vg_mjpeg_source_ops = {"mjpeg", mjpeg_start, source_stop};
