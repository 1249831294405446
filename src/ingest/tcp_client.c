#include "ingest/tcp_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

#define INITIAL_BUF (64 * 1024)

static void maybe_closed(vg_tcp_client_t *c) {
  if (!c->closing || c->handles_open > 0 || c->resolving || c->connecting) return;
  if (c->cbs.on_closed) c->cbs.on_closed(c);
  free(c->buf);
  free(c);
}

static void handle_closed(uv_handle_t *h) {
  vg_tcp_client_t *c = h->data;
  c->handles_open--;
  maybe_closed(c);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *out) {
  vg_tcp_client_t *c = h->data;
  if (c->len == c->cap && c->cap < c->max_buf) {
    size_t cap = c->cap * 2 < c->max_buf ? c->cap * 2 : c->max_buf;
    uint8_t *grown = realloc(c->buf, cap);
    if (grown) {
      c->buf = grown;
      c->cap = cap;
    }
  }
  *out = uv_buf_init((char *)c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  vg_tcp_client_t *c = s->data;
  if (c->closing) return;
  if (n > 0) {
    c->len += (size_t)n;
    c->cbs.on_read(c, 0);
    return;
  }
  if (n == 0) {
    /* libuv hands out the whole free space; zero means none was left. */
    if (b->len == 0) {
      uv_read_stop(s);
      c->reading = 0;
      c->cbs.on_read(c, VG_ETOOBIG);
    }
    return;
  }
  uv_read_stop(s);
  c->reading = 0;
  c->cbs.on_read(c, n == UV_EOF ? VG_ECLOSED : (int)n);
}

static void connect_cb(uv_connect_t *req, int status) {
  vg_tcp_client_t *c = req->data;
  c->connecting = 0;
  if (c->closing || c->timed_out) {
    maybe_closed(c);
    return;
  }
  uv_timer_stop(&c->timer);
  if (status == 0) {
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
      char ip[48] = "?";
      int port = 0;
      if (ss.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
      } else {
        uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
      }
      snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, port);
    }
    uv_tcp_nodelay(&c->tcp, 1);
    status = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    c->reading = status == 0;
  }
  c->cbs.on_connect(c, status);
}

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  vg_tcp_client_t *c = req->data;
  c->resolving = 0;
  if (c->closing || c->timed_out) {
    if (res) uv_freeaddrinfo(res);
    maybe_closed(c);
    return;
  }
  if (status < 0 || !res) {
    if (res) uv_freeaddrinfo(res);
    uv_timer_stop(&c->timer);
    c->cbs.on_connect(c, status < 0 ? status : VG_ENOTFOUND);
    return;
  }
  /* The first address: cameras rarely have more than one, and the retry
   * timer of the camera gives another chance. */
  struct sockaddr_storage addr;
  memcpy(&addr, res->ai_addr, res->ai_addrlen);
  uv_freeaddrinfo(res);
  if (addr.ss_family == AF_INET6)
    ((struct sockaddr_in6 *)&addr)->sin6_port = htons(c->port);
  else
    ((struct sockaddr_in *)&addr)->sin_port = htons(c->port);
  c->connect_req.data = c;
  int r = uv_tcp_connect(&c->connect_req, &c->tcp, (struct sockaddr *)&addr, connect_cb);
  if (r < 0) {
    uv_timer_stop(&c->timer);
    c->cbs.on_connect(c, r);
    return;
  }
  c->connecting = 1;
}

static void timeout_cb(uv_timer_t *t) {
  vg_tcp_client_t *c = t->data;
  if (c->closing) return;
  c->timed_out = 1;
  /* Abandon the attempt; the pending request completes (cancelled) later
   * and close() waits for it. */
  if (c->resolving) uv_cancel((uv_req_t *)&c->gai);
  c->cbs.on_connect(c, VG_ETIMEDOUT);
}

int vg_tcp_client_connect(uv_loop_t *loop, const char *host, uint16_t port, int timeout_ms, size_t max_buf,
                          const vg_tcp_client_cbs_t *cbs, void *opaque, vg_tcp_client_t **out) {
  vg_tcp_client_t *c = calloc(1, sizeof(*c));
  if (!c) return VG_ENOMEM;
  c->cap = INITIAL_BUF < max_buf ? INITIAL_BUF : max_buf;
  c->buf = malloc(c->cap);
  if (!c->buf) {
    free(c);
    return VG_ENOMEM;
  }
  c->max_buf = max_buf;
  c->loop = loop;
  c->cbs = *cbs;
  c->opaque = opaque;
  c->port = port;
  c->timeout_ms = timeout_ms;
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c;
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  c->handles_open = 2;
  c->gai.data = c;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
  int r = uv_getaddrinfo(loop, &c->gai, resolved_cb, host, NULL, &hints);
  if (r < 0) {
    /* Nothing was started: close the handles and free quietly. */
    c->cbs.on_closed = NULL;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, handle_closed);
    uv_close((uv_handle_t *)&c->timer, handle_closed);
    return r;
  }
  c->resolving = 1;
  uv_timer_start(&c->timer, timeout_cb, (uint64_t)timeout_ms, 0);
  *out = c;
  return 0;
}

static void write_cb(uv_write_t *req, int status) {
  free(req);
  (void)status; /* a failed write also shows up as a read error */
}

int vg_tcp_client_write(vg_tcp_client_t *c, const void *data, size_t len) {
  if (c->closing) return VG_ESTATE;
  uv_write_t *req = malloc(sizeof(*req) + len);
  if (!req) return VG_ENOMEM;
  char *copy = (char *)(req + 1);
  memcpy(copy, data, len);
  uv_buf_t b = uv_buf_init(copy, (unsigned)len);
  int r = uv_write(req, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
  if (r < 0) free(req);
  return r;
}

void vg_tcp_client_consume(vg_tcp_client_t *c, size_t n) {
  if (n >= c->len) {
    c->len = 0;
    return;
  }
  memmove(c->buf, c->buf + n, c->len - n);
  c->len -= n;
}

int vg_tcp_client_stop_reading(vg_tcp_client_t *c, int *fd) {
  uv_os_fd_t os_fd;
  if (uv_fileno((uv_handle_t *)&c->tcp, &os_fd) != 0) return VG_ESTATE;
  uv_read_stop((uv_stream_t *)&c->tcp);
  *fd = os_fd;
  return 0;
}

void vg_tcp_client_close(vg_tcp_client_t *c) {
  if (c->closing) return;
  c->closing = 1;
  if (c->resolving) uv_cancel((uv_req_t *)&c->gai);
  /* Closing the TCP handle cancels a pending connect (its callback runs
   * with ECANCELED before the close callback). */
  uv_close((uv_handle_t *)&c->tcp, handle_closed);
  uv_close((uv_handle_t *)&c->timer, handle_closed);
}

int vg_tcp_client_sockname(vg_tcp_client_t *c, struct sockaddr_storage *local,
                           struct sockaddr_storage *remote) {
  int len = sizeof(*local);
  int r = uv_tcp_getsockname(&c->tcp, (struct sockaddr *)local, &len);
  if (r < 0) return r;
  len = sizeof(*remote);
  return uv_tcp_getpeername(&c->tcp, (struct sockaddr *)remote, &len);
}
