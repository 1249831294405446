/*
 * rtsp_server.h: vigil's RTSP server: restreams every registered stream hub
 * at rtsp://HOST:PORT/<hub name> and accepts publishers.
 *
 * Readers: OPTIONS, DESCRIBE (SDP from the hub's tracks), SETUP (RTP over
 * the RTSP connection, "interleaved", or UDP unicast with server ports from
 * rtp_port_min..rtp_port_max), PLAY, PAUSE, GET_PARAMETER/SET_PARAMETER
 * (keep-alive) and TEARDOWN. Media leaves zero-copy: each session reads
 * its own hub reader, packetizes every frame into RTP headers plus slices of
 * the frame's buffer and writes them with iovecs that point into it.
 *
 * Publishers (when allow_publish): ANNOUNCE (SDP), SETUP with mode=record,
 * RECORD; the path names a VG_SOURCE_PUSH camera (created on first publish,
 * reused later) whose hub the publisher's RTP feeds. When the publisher goes
 * away the camera goes offline.
 *
 * Placement: every worker runs its own listener on the same port
 * (SO_REUSEPORT), so the kernel spreads new connections across workers
 * and a connection never moves; a session lives on the worker that
 * accepted its connection. One RTSP session per connection: it ends when
 * its connection closes (or on TEARDOWN, or session_timeout_s without a
 * request or RTCP for UDP sessions).
 *
 * Threads: start/stop from the main thread, with the workers running;
 * get_stats, set_faults and latency from any thread.
 */
#ifndef VG_LIVE_RTSP_SERVER_H
#define VG_LIVE_RTSP_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"

typedef struct {
  char user[64];
  char pass[128];
} vg_rtsp_cred_t;

/* A user check the embedder installs (vigil's node: the users database,
 * api/users.h). Called on the connection's worker thread for Basic
 * credentials, with the request's path (the hub name) and the peer's
 * address, for reading (publish 0) or publishing (1). Returns 0 to allow,
 * VG_EAUTH for wrong credentials (or a locked-out user: 401 either way), or
 * VG_ENOTFOUND when the user may not use the path (404, so that cameras a
 * user may not see stay invisible). May block for one password hash. */
typedef int (*vg_rtsp_user_check_fn)(void *opaque, const char *user, const char *password, const char *path,
                                     const char *peer, int publish);

typedef struct {
  char bind[64];                  /* default "0.0.0.0" */
  int port;                       /* default 8554 */
  int rtp_port_min, rtp_port_max; /* UDP server ports, default 20000..29999 */
  bool allow_publish;             /* default true in vigil, false in camsim */
  char realm[64];                 /* default "vigil" */
  vg_rtsp_cred_t read_users[16];
  int read_user_count; /* none = open */
  vg_rtsp_cred_t publish_users[16];
  int publish_user_count; /* none = open */
  int session_timeout_s;  /* default 60 */
  /* Not from the file: set by the embedder before start. With a user check
   * every reader and publisher must authenticate: Basic credentials go to
   * the check, Digest ones to read_users/publish_users (Digest needs the
   * plain password, which a password hash cannot give). */
  vg_rtsp_user_check_fn user_check;
  void *user_check_opaque;
} vg_rtsp_server_config_t;

void vg_rtsp_server_config_defaults(vg_rtsp_server_config_t *cfg);
/* Parses the "rtsp_server" object (obj may be NULL: defaults); unknown keys
 * are errors. Keys: bind, port, rtp_port_min, rtp_port_max, allow_publish,
 * realm, session_timeout_s, read_users and publish_users (arrays of
 * {"user": "...", "pass": "..."}). Returns 0 or VG_ECONFIG (see config.h). */
int vg_rtsp_server_config_parse(vg_cfg_t *c, json_t *obj, vg_rtsp_server_config_t *out);

typedef struct vg_rtsp_server vg_rtsp_server_t;

/* Binds the listeners and starts serving. The workers must be running.
 * Returns 0 and *out, or a negative error (e.g. EADDRINUSE) with nothing
 * left open. */
int vg_rtsp_server_start(const vg_rtsp_server_config_t *cfg, vg_rtsp_server_t **out);
/* Closes the listeners and every connection (publishers' cameras go
 * offline), blocks until all is closed, frees the server, sets *srv = NULL. */
void vg_rtsp_server_stop(vg_rtsp_server_t **srv);

typedef struct {
  uint64_t sessions;       /* open connections */
  uint64_t sessions_total; /* connections accepted since start */
  uint64_t bytes_out;      /* media and RTSP bytes handed to sockets */
  uint64_t publishers;     /* connections publishing now */
  uint64_t auth_failures;  /* requests answered 401 with wrong credentials */
} vg_rtsp_server_stats_t;
/* Any thread. */
void vg_rtsp_server_get_stats(vg_rtsp_server_t *srv, vg_rtsp_server_stats_t *out);

/* Fault injection for camsim's tests, per path (NULL path = all paths
 * without their own entry). Applies to connections and sessions that begin
 * after the call. */
typedef struct {
  bool refuse; /* accept then close connections for this path at once (after reading the first request) */
  bool require_auth;
  vg_rtsp_cred_t cred; /* Digest auth on this path only */
  int drop_after_ms;   /* close each PLAY session this long after PLAY (0 = never) */
  int stall_after_ms;  /* stop sending media this long after PLAY but keep the connection (0 = never) */
  int malformed_every; /* corrupt every Nth RTP packet (garbage payload-format header / bad length) (0 =
                          never) */
} vg_rtsp_path_faults_t;
/* Sets (or, with f NULL, clears) the faults of a path. Any thread. Returns
 * 0, VG_EINVAL or VG_ENOMEM. */
int vg_rtsp_server_set_faults(vg_rtsp_server_t *srv, const char *path, const vg_rtsp_path_faults_t *f);

/* Median and 99th percentile latency between frame arrival
 * (vg_frame_t.recv_us) and the egress write, in microseconds, over all
 * frames sent since start. Returns 0, or VG_ENODATA when none was sent. */
int vg_rtsp_server_latency(vg_rtsp_server_t *srv, double *p50_us, double *p99_us);

#endif
