/*
 * rtsp_server_internal.h: what the RTSP server's files share. Not a public
 * interface: only src/live/rtsp_*.c include it.
 *
 * rtsp_server.c   listeners, connections, request dispatch, auth, faults
 * rtsp_play.c     DESCRIBE/SETUP/PLAY for readers and the zero-copy egress
 * rtsp_publish.c  ANNOUNCE/SETUP/RECORD for publishers and the ingest path
 *
 * Every rtsp_conn_t lives on one shard (one worker) and is touched only on
 * that worker's thread, except for the `queued` flag and `pending_next`,
 * which the hub's notify callback uses from the producer's thread.
 */
#ifndef VG_LIVE_RTSP_SERVER_INTERNAL_H
#define VG_LIVE_RTSP_SERVER_INTERNAL_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>

#include "base/log.h"
#include "ingest/camera.h"
#include "live/rtsp_server.h"
#include "media/track.h"
#include "net/worker.h"
#include "proto/auth.h"
#include "proto/rtsp.h"
#include "stream/hub.h"

/* A connection's input buffer: the largest RTSP message (16 KiB of headers
 * and 64 KiB of body) or interleaved frame (4 + 65535 bytes) fits. */
#define RTSP_IN_MAX (96 * 1024)
/* Egress stops reading the hub while this much is queued on the socket;
 * the hub reader then falls behind and skips to the next keyframe. */
#define RTSP_OUT_HIGH_WATER (1024 * 1024)
#define RTSP_OUT_LOW_WATER (256 * 1024)
/* RTP payload budget per packet (fits a 1500-byte Ethernet MTU over UDP). */
#define RTSP_MAX_PAYLOAD 1400

typedef struct rtsp_shard rtsp_shard_t;
typedef struct rtsp_conn rtsp_conn_t;

typedef enum { CONN_INIT = 0, CONN_READY, CONN_PLAYING, CONN_RECORDING } rtsp_conn_state_t;

typedef struct rtsp_fault_entry {
  struct rtsp_fault_entry *next;
  char path[128]; /* "" = all */
  vg_rtsp_path_faults_t f;
} rtsp_fault_entry_t;

struct vg_rtsp_server {
  vg_rtsp_server_config_t cfg;
  vg_auth_server_t auth;
  vg_auth_user_t read_users[16], publish_users[16];
  rtsp_shard_t *shards;
  int shard_count;
  pthread_mutex_t lock; /* faults, stop bookkeeping */
  pthread_cond_t cond;
  int shards_open;
  rtsp_fault_entry_t *faults;
  atomic_uint next_udp_port;
  atomic_uint_fast64_t sessions, sessions_total, bytes_out, publishers, auth_failures;
  /* Latency histogram: bucket i counts latencies in [2^(i/4), 2^((i+1)/4)) us. */
  atomic_uint_fast64_t latency_hist[128];
};

struct rtsp_shard {
  vg_rtsp_server_t *srv;
  vg_worker_t *worker;
  int index;
  uv_tcp_t listener;
  uv_async_t wake; /* hub notifications: drains `pending` */
  int listener_open, wake_open;
  _Atomic(rtsp_conn_t *) pending; /* lock-free stack of connections with frames to send */
  rtsp_conn_t *conns;             /* all connections of this shard */
  int closing;
  int handles_open; /* listener, wake, and each connection */
};

/* One track of a session: where its packets go and its RTP state. */
typedef struct {
  int setup;
  int udp;                      /* 0: interleaved on the connection */
  uint8_t channel[2];           /* interleaved RTP and RTCP channels */
  uv_udp_t rtp_sock, rtcp_sock; /* udp: server ports */
  int rtp_open, rtcp_open;
  uint16_t server_port; /* RTP port; RTCP is +1 */
  struct sockaddr_storage peer_rtp, peer_rtcp;
  uint8_t payload_type;
  uint16_t seq;
  uint32_t ssrc, ts_offset;
  uint32_t packets, octets; /* for RTCP SR */
  int64_t last_pts;         /* of the last frame sent */
  int64_t last_send_us;
  int sent_any;
  struct vg_pack *pack; /* readers: this track's packetizer */
  uint32_t last_rtp_ts; /* of the last frame sent, for RTCP SR */
  int64_t last_utc_us;
  char control[64];         /* publishers: the a=control of this media */
  struct vg_depack *depack; /* publishers: the depacketizer */
  int hub_track;            /* publishers: index in the hub, -1: not forwarded */
  rtsp_conn_t *conn;        /* publishers: back-pointer for depacketizer callbacks */
  int64_t pts_base;         /* publishers: first timestamp seen */
  int have_pts_base;
  uint16_t last_seq;
  int have_seq;
} rtsp_track_out_t;

struct rtsp_conn {
  rtsp_shard_t *shard;
  vg_rtsp_server_t *srv;
  uv_tcp_t tcp;
  uv_timer_t timer;     /* 1 s tick: session timeout, RTCP SR */
  uv_timer_t aux_timer; /* one-shot: injected faults after PLAY */
  char peer[64];
  char peer_ip[48];
  struct sockaddr_storage peer_addr;
  vg_log_ctx_t log;
  rtsp_conn_t *prev, *next; /* in shard->conns */
  int closing;
  int handles_open; /* tcp, timer, udp sockets still to be closed */
  int requests;
  /* input */
  uint8_t *in;
  size_t in_len;
  /* RTSP session */
  rtsp_conn_state_t state;
  char path[128];
  char session_id[24];
  int64_t last_activity_us;
  int authed_read, authed_publish;
  vg_rtsp_path_faults_t faults;
  int has_faults;
  int64_t play_us; /* when PLAY was answered */
  int stalled;
  uint64_t packet_counter; /* for malformed_every */
  /* tracks */
  vg_track_t tracks[VG_MAX_TRACKS];
  int track_count;
  rtsp_track_out_t out[VG_MAX_TRACKS];
  int64_t last_sr_us;
  /* reader */
  vg_hub_t *hub;
  vg_hub_reader_t *reader;
  atomic_int queued; /* on shard->pending */
  rtsp_conn_t *pending_next;
  int write_blocked; /* stopped reading the hub: socket backed up */
  vg_frame_t held;   /* read at PLAY for RTP-Info, sent first */
  /* publisher */
  struct vg_push *push; /* ingest/push.h: the push camera while publishing */
  int publishing;       /* counted in stats.publishers */
  uint8_t *announce_sdp;
  size_t announce_sdp_len;
};

/* rtsp_server.c */
void rtsp_conn_free(rtsp_conn_t *c);
void rtsp_conn_close(rtsp_conn_t *c, const char *why);
/* Sends bytes that the callee copies (RTSP responses, RTCP). */
int rtsp_conn_send_copy(rtsp_conn_t *c, const void *data, size_t len);
/* An extra response header; lists end with a NULL name. */
typedef struct {
  const char *name;
  const char *value;
} rtsp_hdr_t;
/* Writes a response with the standard headers (CSeq, Server, Session when
 * set) plus extra headers (may be NULL) and a body (ctype NULL: none). */
void rtsp_conn_respond(rtsp_conn_t *c, const vg_rtsp_msg_t *req, int status, const rtsp_hdr_t *extra,
                       const char *ctype, const void *body, size_t body_len);
int rtsp_udp_open_pair(rtsp_conn_t *c, rtsp_track_out_t *t, uv_udp_recv_cb rtp_cb, uv_udp_recv_cb rtcp_cb);
/* A 2 KiB receive buffer for UDP sockets (RTCP, publishers' RTP). */
void rtsp_udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
void rtsp_handle_opened(rtsp_conn_t *c);
void rtsp_handle_closed(uv_handle_t *h);
void rtsp_latency_record(vg_rtsp_server_t *srv, int64_t us);
/* The path of a request URI ("/cam1/trackID=0" -> "cam1", track 0). */
int rtsp_uri_path(const vg_rtsp_str_t *uri, char *path, size_t size, char *last, size_t last_size);

/* rtsp_play.c */
void rtsp_play_describe(rtsp_conn_t *c, const vg_rtsp_msg_t *req);
void rtsp_play_setup(rtsp_conn_t *c, const vg_rtsp_msg_t *req, const vg_rtsp_transport_t *tr, int track);
void rtsp_play_play(rtsp_conn_t *c, const vg_rtsp_msg_t *req);
void rtsp_play_pause(rtsp_conn_t *c, const vg_rtsp_msg_t *req);
void rtsp_play_drain(rtsp_conn_t *c);
void rtsp_play_tick(rtsp_conn_t *c, int64_t now_us);
void rtsp_play_notify(void *opaque);
void rtsp_play_stop(rtsp_conn_t *c);
/* Called on the shard's thread when its wake async fires. */
void rtsp_shard_drain_pending(uv_async_t *a);
/* Builds the SDP of a session's tracks. Returns its length or an error. */
int rtsp_sdp_write(const vg_track_t *tracks, int count, const char *host, char *out, size_t size);

/* rtsp_publish.c */
void rtsp_publish_announce(rtsp_conn_t *c, const vg_rtsp_msg_t *req);
void rtsp_publish_setup(rtsp_conn_t *c, const vg_rtsp_msg_t *req, const vg_rtsp_transport_t *tr,
                        const char *last);
void rtsp_publish_record(rtsp_conn_t *c, const vg_rtsp_msg_t *req);
void rtsp_publish_interleaved(rtsp_conn_t *c, uint8_t channel, const uint8_t *data, size_t len);
void rtsp_publish_stop(rtsp_conn_t *c, const char *why);
void rtsp_publish_register_source(void);

#endif
