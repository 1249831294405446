/*
 * pull.h: the life cycle shared by the pull sources (rtsp_source.c,
 * rtmp_source.c, http_source.c), so that each of them keeps only its
 * protocol. A vg_pull_t is embedded in the source's state and owns:
 *
 *  - the source's timer (a tick or a one-shot; the source starts it and
 *    reads its own state back from timer->data, the owner);
 *  - the current TCP connection (tcp_client.h) and the count of
 *    connections still closing; the connect timeout is the camera's
 *    connect_timeout_ms, and a failed connect fails the attempt with
 *    "connect to host:port failed: ...";
 *  - a count of the source's other handles still closing (RTSP's UDP
 *    sockets), which it closes in ops->close_extra;
 *  - how the attempt ends: failed with an error and a reason (one reason
 *    per attempt, the first; VG_EPROTO and VG_ETOOBIG also count in the
 *    camera's errors), stopped, or restarted.
 *
 * Ending closes everything; once the last handle's close callback has run,
 * cam->source is cleared, ops->release frees the source (vg_pull_t
 * included), and then exactly one of: the stop's done(cam),
 * vg_camera_source_failed(cam, err, reason) (the camera logs it, goes
 * offline and retries with backoff, camera.c), or ops->restart(cam). So no
 * handle of a source outlives its memory, and the camera hears of the end
 * only when the source holds nothing.
 *
 * Threads: everything on the camera's worker loop.
 */
#ifndef VG_INGEST_PULL_H
#define VG_INGEST_PULL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ingest/camera.h"
#include "ingest/tcp_client.h"

typedef enum { VG_PULL_RUNNING = 0, VG_PULL_FAILING, VG_PULL_STOPPING, VG_PULL_RESTARTING } vg_pull_end_t;

typedef struct vg_pull vg_pull_t;

typedef struct {
  /* Optional: closes the source's own handles, each counted in
   * handles_open until vg_pull_handle_closed(). Runs first when ending. */
  void (*close_extra)(vg_pull_t *p);
  /* Frees the source's state, p included. */
  void (*release)(vg_pull_t *p);
  /* Optional: for VG_PULL_RESTARTING, starts a new attempt at once. */
  void (*restart)(vg_camera_t *cam);
} vg_pull_ops_t;

/* What every read checks (conn, end) comes first. */
struct vg_pull {
  vg_tcp_client_t *conn; /* the current connection, or NULL */
  vg_pull_end_t end;
  int timer_open, conns_open, handles_open;
  vg_camera_t *cam;
  void *owner; /* the source's state; the timer's data */
  const vg_pull_ops_t *ops;
  uv_timer_t timer;
  int fail_err;
  char reason[256];
  void (*done)(vg_camera_t *cam);
  void (*on_connected)(void *owner);
  const char *host; /* of the current connection, for its reason */
  uint16_t port;
};

/* Sets up p (zeroed by the caller) and its timer on loop. */
void vg_pull_init(vg_pull_t *p, vg_camera_t *cam, uv_loop_t *loop, void *owner, const vg_pull_ops_t *ops);
/* The source's state from a connection's callback. */
static inline void *vg_pull_owner(vg_tcp_client_t *c) { return ((vg_pull_t *)c->opaque)->owner; }
static inline int vg_pull_running(const vg_pull_t *p) { return p->end == VG_PULL_RUNNING; }
/* Connects p->conn to host:port. on_connected(owner) follows a successful
 * connect; on_read is the source's reader. Returns 0, or fails the attempt
 * and returns the error. */
int vg_pull_connect(vg_pull_t *p, const char *host, uint16_t port, size_t max_buf,
                    void (*on_connected)(void *owner), void (*on_read)(vg_tcp_client_t *c, int status));
/* Closes the current connection (its close is still waited for). */
void vg_pull_drop_conn(vg_pull_t *p);
/* Ends a running attempt with err and a reason; later calls do nothing. */
void vg_pull_fail(vg_pull_t *p, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Ends the attempt so that ops->restart follows (unless stopping). */
void vg_pull_restart(vg_pull_t *p);
/* The source's stop: ends with done(cam), whatever came before. */
void vg_pull_stop(vg_pull_t *p, void (*done)(vg_camera_t *cam));
/* For the source's handles counted in handles_open: call from their close
 * callbacks. */
void vg_pull_handle_closed(vg_pull_t *p);

#endif
