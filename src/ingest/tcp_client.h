/*
 * tcp_client.h: one outbound TCP connection of a camera source, on the
 * camera's worker loop: name resolution (uv_getaddrinfo), connect with a
 * timeout, a bounded read buffer the source's parser consumes in place, and
 * copied writes. Shared by the RTSP and HTTP sources (owned by ingest).
 *
 * Life cycle: vg_tcp_client_connect() -> on_connect(status) once ->
 * on_read() any number of times -> vg_tcp_client_close() -> on_closed()
 * once, after which the client is freed. After close() no other callback
 * runs. A failed connect (on_connect with status < 0) still needs close().
 *
 * The read buffer: buf[0..len) holds the bytes received and not yet
 * consumed. The owner may consume from the front (vg_tcp_client_consume),
 * and may also rearrange buf[0..len) in place and lower len (used to
 * de-chunk HTTP bodies without a second buffer). The buffer starts small and
 * grows up to max_buf; a peer that fills it without the owner consuming
 * gets on_read(VG_ETOOBIG).
 *
 * Threads: everything on the loop's thread.
 */
#ifndef VG_INGEST_TCP_CLIENT_H
#define VG_INGEST_TCP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct vg_tcp_client vg_tcp_client_t;

typedef struct {
  /* status 0: connected; else the error (VG_ETIMEDOUT after timeout_ms). */
  void (*on_connect)(vg_tcp_client_t *c, int status);
  /* status 0: buf/len has new bytes; VG_ECLOSED: the peer closed (buf may
   * still hold bytes); another negative code: a read error or VG_ETOOBIG. */
  void (*on_read)(vg_tcp_client_t *c, int status);
  void (*on_closed)(vg_tcp_client_t *c);
} vg_tcp_client_cbs_t;

struct vg_tcp_client {
  /* public, read-only except as described above */
  uint8_t *buf;
  size_t len;
  void *opaque;
  char peer[64]; /* "ip:port" once connected */
  /* private */
  size_t cap, max_buf;
  uv_loop_t *loop;
  vg_tcp_client_cbs_t cbs;
  uv_getaddrinfo_t gai;
  uv_connect_t connect_req;
  uv_tcp_t tcp;
  uv_timer_t timer;
  uint16_t port;
  int timeout_ms;
  int resolving, connecting, reading, closing, timed_out, handles_open;
};

/* Starts resolving host and connecting to port. Returns 0 (on_connect will
 * be called) or a negative code (nothing to close, no callback). */
int vg_tcp_client_connect(uv_loop_t *loop, const char *host, uint16_t port, int timeout_ms, size_t max_buf,
                          const vg_tcp_client_cbs_t *cbs, void *opaque, vg_tcp_client_t **out);
/* Queues a copy of data[0..len). Returns 0 or a negative code. */
int vg_tcp_client_write(vg_tcp_client_t *c, const void *data, size_t len);
/* Drops n bytes from the front of the read buffer. */
void vg_tcp_client_consume(vg_tcp_client_t *c, size_t n);
/* Hands the connection's reading to someone else (the worker's io_uring,
 * net/uring.h): stops reading into the buffer and gives the socket. Writes
 * and close stay with the client; what the buffer holds stays there for the
 * caller to take. Returns 0 or a negative error. */
int vg_tcp_client_stop_reading(vg_tcp_client_t *c, int *fd);
/* Closes everything; on_closed follows. Idempotent. */
void vg_tcp_client_close(vg_tcp_client_t *c);
/* The local and remote addresses (for UDP transport setup). 0 or an error. */
int vg_tcp_client_sockname(vg_tcp_client_t *c, struct sockaddr_storage *local,
                           struct sockaddr_storage *remote);

#endif
