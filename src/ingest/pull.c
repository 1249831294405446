#include "ingest/pull.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"

/* Once nothing is open any more, frees the source and tells how it ended. */
static void maybe_finish(vg_pull_t *p) {
  if (p->end == VG_PULL_RUNNING || p->timer_open || p->conns_open > 0 || p->handles_open > 0) return;
  /* What the outcome needs is copied out first: release frees p. */
  vg_camera_t *cam = p->cam;
  vg_pull_end_t end = p->end;
  int err = p->fail_err;
  char reason[sizeof(p->reason)];
  memcpy(reason, p->reason, sizeof(reason));
  void (*done)(vg_camera_t *) = p->done;
  void (*restart)(vg_camera_t *) = p->ops->restart;
  cam->source = NULL;
  p->ops->release(p);
  if (end == VG_PULL_STOPPING)
    done(cam);
  else if (end == VG_PULL_RESTARTING && restart)
    restart(cam);
  else
    vg_camera_source_failed(cam, err, "%s", reason);
}

static void timer_closed(uv_handle_t *h) {
  vg_pull_t *p = (vg_pull_t *)((char *)h - offsetof(vg_pull_t, timer));
  p->timer_open = 0;
  maybe_finish(p);
}

static void close_all(vg_pull_t *p) {
  if (p->ops->close_extra) p->ops->close_extra(p);
  vg_pull_drop_conn(p);
  if (p->timer_open && !uv_is_closing((uv_handle_t *)&p->timer))
    uv_close((uv_handle_t *)&p->timer, timer_closed);
}

void vg_pull_init(vg_pull_t *p, vg_camera_t *cam, uv_loop_t *loop, void *owner, const vg_pull_ops_t *ops) {
  p->cam = cam;
  p->owner = owner;
  p->ops = ops;
  uv_timer_init(loop, &p->timer);
  p->timer.data = owner;
  p->timer_open = 1;
}

static void on_conn_closed(vg_tcp_client_t *c) {
  vg_pull_t *p = c->opaque;
  p->conns_open--;
  maybe_finish(p);
}

static void on_connect(vg_tcp_client_t *c, int status) {
  vg_pull_t *p = c->opaque;
  if (status < 0) {
    vg_pull_fail(p, status, "connect to %s:%u failed: %s", p->host, p->port, vg_strerror(status));
    return;
  }
  p->on_connected(p->owner);
}

int vg_pull_connect(vg_pull_t *p, const char *host, uint16_t port, size_t max_buf,
                    void (*on_connected)(void *owner), void (*on_read)(vg_tcp_client_t *c, int status)) {
  vg_tcp_client_cbs_t cbs = {on_connect, on_read, on_conn_closed};
  p->on_connected = on_connected;
  p->host = host;
  p->port = port;
  int r = vg_tcp_client_connect(p->timer.loop, host, port, p->cam->cfg.connect_timeout_ms, max_buf, &cbs, p,
                                &p->conn);
  if (r < 0) {
    p->conn = NULL;
    vg_pull_fail(p, r, "cannot connect to %s: %s", host, vg_strerror(r));
    return r;
  }
  p->conns_open++;
  return 0;
}

void vg_pull_drop_conn(vg_pull_t *p) {
  if (p->conn) vg_tcp_client_close(p->conn), p->conn = NULL;
}

void vg_pull_fail(vg_pull_t *p, int err, const char *fmt, ...) {
  if (p->end != VG_PULL_RUNNING) return;
  p->end = VG_PULL_FAILING;
  p->fail_err = err;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->reason, sizeof(p->reason), fmt, ap);
  va_end(ap);
  if (err == VG_EPROTO || err == VG_ETOOBIG) atomic_fetch_add(&p->cam->counters.errors, 1);
  close_all(p);
}

void vg_pull_restart(vg_pull_t *p) {
  if (p->end == VG_PULL_STOPPING) return;
  p->end = VG_PULL_RESTARTING;
  close_all(p);
}

void vg_pull_stop(vg_pull_t *p, void (*done)(vg_camera_t *cam)) {
  p->end = VG_PULL_STOPPING;
  p->done = done;
  close_all(p);
  maybe_finish(p);
}

void vg_pull_handle_closed(vg_pull_t *p) {
  p->handles_open--;
  maybe_finish(p);
}
