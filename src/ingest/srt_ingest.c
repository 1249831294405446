/*
 * srt_ingest.c: the SRT service thread, the listener's publishers and the
 * caller source.
 *
 * Ownership: the service thread owns every SRT socket and every
 * connection's demuxer; nothing else touches them. Workers talk to it
 * through a locked command queue (connect, close) that the thread drains
 * between epoll waits (every 20 ms at most).
 *
 * A caller connection (srt_conn_t) is shared with its camera: the camera
 * holds it in cam->source, the service thread in its list, and tasks
 * posted to the camera's worker each hold a reference. cam->source and
 * conn->cam are set and cleared under conn_lock, so that the camera's stop
 * (its worker) and the service thread (counters, events) never race. A
 * publisher's camera link is handled by ingest/push.h.
 */
#include "ingest/srt_ingest.h"

#include <netdb.h>
#include <pthread.h>
#include <srt/access_control.h>
#include <srt/srt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/error.h"
#include "base/log.h"
#include "base/time.h"
#include "ingest/push.h"
#include "media/mpegts.h"

/* A connection whose bytes do not look like MPEG-TS is closed: more than
 * this many bytes skipped looking for sync (and a quarter of all). */
#define GARBAGE_BYTES (64 * 1024)
#define NO_PROGRAM_US (10 * 1000000LL)
#define WAIT_MS 20
#define MAX_EVENTS 64
/* Messages read from one socket per wake-up, so one busy sender cannot
 * starve the others. */
#define RECV_BURST 256

typedef enum { CONN_PUBLISHER, CONN_CALLER } conn_kind_t;

typedef struct srt_conn {
  conn_kind_t kind;
  atomic_int refs;
  SRTSOCKET sock; /* SRT_INVALID_SOCK when closed */
  char name[64];  /* camera id */
  vg_log_ctx_t log;
  vg_ts_demux_t *demux;
  int in_list; /* service thread only */
  struct srt_conn *next;
  int connected;
  int64_t start_us, last_rx_us;
  uint64_t errors_reported; /* demuxer errors already counted on the camera */
  /* pts rebasing: one origin (90 kHz) for all tracks keeps them in sync */
  int have_origin;
  int64_t origin90;
  int64_t utc0_us;
  uint32_t clock_rates[VG_MAX_TRACKS];
  int track_count;
  /* publisher */
  vg_push_t *push;
  /* caller */
  vg_camera_t *cam; /* under conn_lock; NULL once the camera detached */
  vg_worker_t *worker;
  vg_hub_t *hub;
  vg_srt_url_t url;
  int read_timeout_ms, connect_timeout_ms;
  int got_media;
} srt_conn_t;

typedef enum { CMD_CONNECT, CMD_CLOSE } cmd_kind_t;
typedef struct cmd {
  cmd_kind_t kind;
  srt_conn_t *conn; /* the command holds a reference */
  struct cmd *next;
} cmd_t;

static struct {
  pthread_mutex_t lock; /* guards cmds and running */
  pthread_cond_t cmds_posted;
  cmd_t *cmds, **cmds_tail;
  int running;
  atomic_int stop;
  pthread_t thread;
  int eid;
  SRTSOCKET listener;
  vg_srt_server_config_t cfg;
  srt_conn_t *conns; /* service thread only */
  vg_log_ctx_t log;
  atomic_uint_fast64_t connections, connections_total, rejected, bytes, ts_errors;
} svc = {.lock = PTHREAD_MUTEX_INITIALIZER,
         .cmds_posted = PTHREAD_COND_INITIALIZER,
         .eid = -1,
         .listener = SRT_INVALID_SOCK};

static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- configuration -------------------------------------------------------------- */

void vg_srt_server_config_defaults(vg_srt_server_config_t *out) {
  memset(out, 0, sizeof(*out));
  out->enabled = false;
  snprintf(out->bind, sizeof(out->bind), "0.0.0.0");
  out->port = 8890;
  out->latency_ms = 120;
}

int vg_srt_server_config_parse(vg_cfg_t *c, json_t *obj, vg_srt_server_config_t *out) {
  static const char *const keys[] = {"enabled", "bind", "port", "passphrase", "latency_ms", NULL};
  vg_srt_server_config_t d;
  vg_srt_server_config_defaults(&d);
  *out = d;
  if (!obj) return c->failed ? VG_ECONFIG : 0;
  if (!json_is_object(obj)) return vg_cfg_fail(c, NULL, "must be an object");
  long long v;
  vg_cfg_check_keys(c, obj, keys);
  vg_cfg_bool(c, obj, "enabled", d.enabled, &out->enabled);
  vg_cfg_str(c, obj, "bind", d.bind, out->bind, sizeof(out->bind));
  vg_cfg_int(c, obj, "port", d.port, 1, 65535, &v), out->port = (int)v;
  vg_cfg_str(c, obj, "passphrase", "", out->passphrase, sizeof(out->passphrase));
  size_t n = strlen(out->passphrase);
  if (!c->failed && n && (n < 10 || n > 79))
    vg_cfg_fail(c, "passphrase", "must be empty or 10 to 79 characters");
  vg_cfg_int(c, obj, "latency_ms", d.latency_ms, 0, 60000, &v), out->latency_ms = (int)v;
  return c->failed ? VG_ECONFIG : 0;
}

void vg_srt_get_stats(vg_srt_stats_t *out) {
  out->connections = atomic_load(&svc.connections);
  out->connections_total = atomic_load(&svc.connections_total);
  out->rejected_total = atomic_load(&svc.rejected);
  out->bytes_total = atomic_load(&svc.bytes);
  out->ts_errors_total = atomic_load(&svc.ts_errors);
}

/* ---- connections ---------------------------------------------------------------- */

static srt_conn_t *conn_ref(srt_conn_t *c) {
  atomic_fetch_add(&c->refs, 1);
  return c;
}

static void conn_unref(srt_conn_t **cp) {
  srt_conn_t *c = *cp;
  *cp = NULL;
  if (!c || atomic_fetch_sub(&c->refs, 1) != 1) return;
  vg_ts_demux_free(&c->demux);
  vg_push_close(&c->push, "closed");
  vg_hub_unref(&c->hub);
  free(c);
}

static void post_cmd(cmd_kind_t kind, srt_conn_t *conn) {
  cmd_t *cmd = calloc(1, sizeof(*cmd));
  if (!cmd) {
    conn_unref(&conn);
    return;
  }
  cmd->kind = kind;
  cmd->conn = conn;
  pthread_mutex_lock(&svc.lock);
  if (!svc.cmds_tail) svc.cmds_tail = &svc.cmds;
  *svc.cmds_tail = cmd;
  svc.cmds_tail = &cmd->next;
  pthread_cond_signal(&svc.cmds_posted);
  pthread_mutex_unlock(&svc.lock);
}

/* -- camera events of callers, run on the camera's worker -- */

typedef struct {
  srt_conn_t *conn;
  int err;
  char reason[200];
} conn_event_t;

static void caller_online_task(void *arg) {
  conn_event_t *e = arg;
  pthread_mutex_lock(&conn_lock);
  vg_camera_t *cam = e->conn->cam;
  pthread_mutex_unlock(&conn_lock);
  if (cam) vg_camera_source_online(cam);
  conn_unref(&e->conn);
  free(e);
}

static void caller_failed_task(void *arg) {
  conn_event_t *e = arg;
  srt_conn_t *c = e->conn;
  pthread_mutex_lock(&conn_lock);
  vg_camera_t *cam = c->cam;
  int owned = cam && cam->source == c;
  if (cam) {
    c->cam = NULL;
    if (owned) cam->source = NULL;
  }
  pthread_mutex_unlock(&conn_lock);
  if (owned) {
    srt_conn_t *ref = c;
    conn_unref(&ref); /* the camera's reference */
  }
  if (cam) vg_camera_source_failed(cam, e->err, "%s", e->reason);
  conn_unref(&e->conn);
  free(e);
}

static void post_caller_event(srt_conn_t *c, int online, int err, const char *reason) {
  conn_event_t *e = calloc(1, sizeof(*e));
  if (!e) return;
  e->conn = conn_ref(c);
  e->err = err;
  snprintf(e->reason, sizeof(e->reason), "%s", reason ? reason : "");
  if (vg_worker_post(c->worker, online ? caller_online_task : caller_failed_task, e) != 0) {
    conn_unref(&e->conn);
    free(e);
  }
}

/* Adds to the camera's counters (callers; publishers go through push.h). */
static void caller_count(srt_conn_t *c, uint64_t frames, uint64_t bytes, uint64_t errors) {
  pthread_mutex_lock(&conn_lock);
  vg_camera_t *cam = c->cam;
  if (cam) {
    if (frames) atomic_fetch_add(&cam->counters.frames, frames);
    if (bytes) atomic_fetch_add(&cam->counters.bytes, bytes);
    if (errors) atomic_fetch_add(&cam->counters.errors, errors);
  }
  pthread_mutex_unlock(&conn_lock);
}

/* -- demuxer output (service thread) -- */

static void on_ts_tracks(void *opaque, const vg_track_t *tracks, int count, int update_index) {
  srt_conn_t *c = opaque;
  if (update_index < 0) {
    c->track_count = count;
    for (int i = 0; i < count; i++)
      c->clock_rates[i] = tracks[i].clock_rate;
    vg_log_info(&c->log, "%d track(s): %s%s%s", count, vg_codec_name(tracks[0].codec), count > 1 ? ", " : "",
                count > 1 ? vg_codec_name(tracks[1].codec) : "");
    if (c->push)
      vg_push_set_tracks(c->push, tracks, count);
    else if (c->hub)
      vg_hub_set_tracks(c->hub, tracks, count);
  } else {
    c->clock_rates[update_index] = tracks[update_index].clock_rate;
    if (c->push)
      vg_push_update_track(c->push, update_index, &tracks[update_index]);
    else if (c->hub)
      vg_hub_update_track(c->hub, update_index, &tracks[update_index]);
  }
}

static void on_ts_frame(void *opaque, vg_frame_t *f) {
  srt_conn_t *c = opaque;
  uint32_t rate = f->track < c->track_count ? c->clock_rates[f->track] : 90000;
  if (!rate) rate = 90000;
  /* One origin for all tracks (the first frame's time, in 90 kHz) keeps
   * audio and video aligned; earlier frames of other tracks clamp to 0. */
  int64_t pts90 = f->pts * 90000 / (int64_t)rate;
  if (!c->have_origin) {
    c->have_origin = 1;
    c->origin90 = pts90;
    c->utc0_us = vg_time_utc_us();
  }
  f->pts -= c->origin90 * (int64_t)rate / 90000;
  if (f->pts < 0) f->pts = 0;
  f->utc_us = c->utc0_us + f->pts * 1000000 / (int64_t)rate;
  if (c->push) {
    vg_push_frame(c->push, f);
  } else if (c->hub) {
    vg_hub_push(c->hub, f);
    caller_count(c, 1, f->len, 0);
    if (!c->got_media) {
      c->got_media = 1;
      post_caller_event(c, 1, 0, NULL);
    }
  }
  vg_frame_unref(f);
}

static int conn_new_demux(srt_conn_t *c) {
  vg_ts_sink_t sink = {.on_frame = on_ts_frame, .on_tracks = on_ts_tracks, .opaque = c};
  c->demux = vg_ts_demux_new(&sink);
  return c->demux ? 0 : VG_ENOMEM;
}

/* -- the service thread's list -- */

static void list_add(srt_conn_t *c) {
  c->next = svc.conns;
  svc.conns = c;
  c->in_list = 1;
}

static void list_remove(srt_conn_t *c) {
  for (srt_conn_t **pp = &svc.conns; *pp; pp = &(*pp)->next) {
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  }
  c->next = NULL;
  c->in_list = 0;
}

static void close_socket(srt_conn_t *c) {
  if (c->sock == SRT_INVALID_SOCK) return;
  srt_epoll_remove_usock(svc.eid, c->sock);
  srt_close(c->sock);
  c->sock = SRT_INVALID_SOCK;
  if (c->connected) atomic_fetch_sub(&svc.connections, 1);
  c->connected = 0;
}

/* Ends a connection (service thread): closes it, tells the camera, drops
 * the list's reference. */
static void conn_end(srt_conn_t *c, int err, const char *why) {
  if (!c->in_list) return;
  list_remove(c);
  close_socket(c);
  if (c->kind == CONN_PUBLISHER) {
    vg_log_info(&c->log, "publisher left: %s", why);
    vg_push_close(&c->push, why);
  } else {
    vg_log_info(&c->log, "%s", why);
    post_caller_event(c, 0, err, why); /* the camera ends the hub */
  }
  conn_unref(&c);
}

/* ---- the listener ------------------------------------------------------------- */

/* Runs on a libsrt thread during the handshake: refuses bad or busy stream
 * ids before the connection is accepted. */
static int on_listen(void *opaque, SRTSOCKET ns, int hsversion, const struct sockaddr *peer,
                     const char *sid) {
  char name[64];
  int r = vg_srt_streamid_name(sid, name, sizeof(name));
  if (r == 0) r = vg_push_check(name);
  if (r == 0) return 0;
  atomic_fetch_add(&svc.rejected, 1);
  vg_log_info(&svc.log, "refusing publisher with stream id \"%.80s\": %s", sid ? sid : "", vg_strerror(r));
  srt_setrejectreason(ns, r == VG_EBUSY          ? SRT_REJX_CONFLICT
                          : r == VG_EUNSUPPORTED ? SRT_REJX_BAD_MODE
                                                 : SRT_REJX_BAD_REQUEST);
  return -1;
}

static void accept_publisher(void) {
  struct sockaddr_storage addr;
  int alen = sizeof(addr);
  SRTSOCKET s = srt_accept(svc.listener, (struct sockaddr *)&addr, &alen);
  if (s == SRT_INVALID_SOCK) return;
  char sid[600] = "";
  int sid_len = sizeof(sid) - 1;
  if (srt_getsockflag(s, SRTO_STREAMID, sid, &sid_len) != 0) sid_len = 0;
  sid[sid_len < 0 ? 0 : sid_len] = 0;
  srt_conn_t *c = calloc(1, sizeof(*c));
  char name[64];
  int r = c ? vg_srt_streamid_name(sid, name, sizeof(name)) : VG_ENOMEM;
  if (r == 0) {
    snprintf(c->name, sizeof(c->name), "%s", name);
    char url[128];
    snprintf(url, sizeof(url), "srt://publisher/%s", name);
    r = vg_push_open(name, url, &c->push);
  }
  if (r == 0) r = conn_new_demux(c);
  if (r != 0) {
    atomic_fetch_add(&svc.rejected, 1);
    vg_log_info(&svc.log, "publisher with stream id \"%.80s\" refused: %s", sid, vg_strerror(r));
    srt_close(s);
    if (c) {
      vg_push_close(&c->push, "refused");
      free(c);
    }
    return;
  }
  c->kind = CONN_PUBLISHER;
  atomic_init(&c->refs, 1);
  c->sock = s;
  c->log = VG_LOG_CTX("srt", c->name);
  c->connected = 1;
  c->start_us = c->last_rx_us = vg_time_mono_us();
  int events = SRT_EPOLL_IN | SRT_EPOLL_ERR;
  bool no = false;
  srt_setsockflag(s, SRTO_RCVSYN, &no, sizeof(no));
  srt_epoll_add_usock(svc.eid, s, &events);
  list_add(c);
  atomic_fetch_add(&svc.connections, 1);
  atomic_fetch_add(&svc.connections_total, 1);
  vg_log_info(&c->log, "publisher connected");
}

static int open_listener(const vg_srt_server_config_t *cfg) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM, .ai_flags = AI_PASSIVE}, *ai;
  char port[16];
  snprintf(port, sizeof(port), "%d", cfg->port);
  if (getaddrinfo(cfg->bind, port, &hints, &ai) != 0) return VG_EINVAL;
  SRTSOCKET s = srt_create_socket();
  int r = 0;
  if (s == SRT_INVALID_SOCK) r = VG_EIO;
  int live = SRTT_LIVE, latency = cfg->latency_ms;
  bool no = false;
  if (!r) {
    srt_setsockflag(s, SRTO_TRANSTYPE, &live, sizeof(live));
    srt_setsockflag(s, SRTO_RCVSYN, &no, sizeof(no));
    srt_setsockflag(s, SRTO_LATENCY, &latency, sizeof(latency));
    if (cfg->passphrase[0] &&
        srt_setsockflag(s, SRTO_PASSPHRASE, cfg->passphrase, (int)strlen(cfg->passphrase)) != 0)
      r = VG_EINVAL;
  }
  if (!r && srt_bind(s, ai->ai_addr, (int)ai->ai_addrlen) != 0) {
    vg_log_error(&svc.log, "cannot bind %s:%d: %s", cfg->bind, cfg->port, srt_getlasterror_str());
    r = VG_EBUSY;
  }
  freeaddrinfo(ai);
  if (!r && srt_listen_callback(s, on_listen, NULL) != 0) r = VG_EIO;
  if (!r && srt_listen(s, 16) != 0) r = VG_EIO;
  if (r) {
    if (s != SRT_INVALID_SOCK) srt_close(s);
    return r;
  }
  int events = SRT_EPOLL_IN | SRT_EPOLL_ERR;
  srt_epoll_add_usock(svc.eid, s, &events);
  svc.listener = s;
  vg_log_info(&svc.log, "listening on srt://%s:%d%s", cfg->bind, cfg->port,
              cfg->passphrase[0] ? " (encrypted)" : "");
  return 0;
}

/* ---- callers ------------------------------------------------------------------ */

static void caller_connect(srt_conn_t *c) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *ai;
  char port[16];
  snprintf(port, sizeof(port), "%d", c->url.port);
  list_add(c);
  int gr = getaddrinfo(c->url.host, port, &hints, &ai);
  if (gr != 0) {
    char why[300];
    snprintf(why, sizeof(why), "cannot resolve %s: %s", c->url.host, gai_strerror(gr));
    conn_end(c, VG_ENOENT, why);
    return;
  }
  SRTSOCKET s = srt_create_socket();
  if (s == SRT_INVALID_SOCK) {
    freeaddrinfo(ai);
    conn_end(c, VG_EIO, "cannot create an SRT socket");
    return;
  }
  int live = SRTT_LIVE, timeout = c->connect_timeout_ms;
  bool no = false;
  srt_setsockflag(s, SRTO_TRANSTYPE, &live, sizeof(live));
  srt_setsockflag(s, SRTO_RCVSYN, &no, sizeof(no));
  srt_setsockflag(s, SRTO_SNDSYN, &no, sizeof(no));
  srt_setsockflag(s, SRTO_CONNTIMEO, &timeout, sizeof(timeout));
  if (c->url.latency_ms >= 0) srt_setsockflag(s, SRTO_LATENCY, &c->url.latency_ms, sizeof(int));
  if (c->url.streamid[0]) srt_setsockflag(s, SRTO_STREAMID, c->url.streamid, (int)strlen(c->url.streamid));
  if (c->url.passphrase[0])
    srt_setsockflag(s, SRTO_PASSPHRASE, c->url.passphrase, (int)strlen(c->url.passphrase));
  c->sock = s;
  int events = SRT_EPOLL_IN | SRT_EPOLL_OUT | SRT_EPOLL_ERR;
  srt_epoll_add_usock(svc.eid, s, &events);
  c->start_us = c->last_rx_us = vg_time_mono_us();
  int r = srt_connect(s, ai->ai_addr, (int)ai->ai_addrlen);
  freeaddrinfo(ai);
  if (r == SRT_ERROR) {
    char why[300];
    snprintf(why, sizeof(why), "connect: %s", srt_getlasterror_str());
    conn_end(c, VG_ECONNREFUSED, why);
  }
}

/* The socket became writable or reported an error while connecting. */
static void caller_progress(srt_conn_t *c) {
  SRT_SOCKSTATUS st = srt_getsockstate(c->sock);
  if (st == SRTS_CONNECTED) {
    c->connected = 1;
    atomic_fetch_add(&svc.connections, 1);
    atomic_fetch_add(&svc.connections_total, 1);
    int events = SRT_EPOLL_IN | SRT_EPOLL_ERR;
    srt_epoll_update_usock(svc.eid, c->sock, &events);
    c->last_rx_us = vg_time_mono_us();
    vg_log_info(&c->log, "connected to %s:%d", c->url.host, c->url.port);
  } else if (st >= SRTS_BROKEN) {
    int reason = srt_getrejectreason(c->sock);
    char why[300];
    snprintf(why, sizeof(why), "connection failed: %s", srt_rejectreason_str(reason));
    conn_end(c, reason == SRT_REJ_BADSECRET || reason == SRT_REJ_UNSECURE ? VG_EAUTH : VG_ECONNREFUSED, why);
  }
}

static void start_task_cmd(srt_conn_t *c) {
  if (c->kind == CONN_CALLER) caller_connect(c);
}

/* ---- source operations (camera worker) ------------------------------------------ */

static void srt_source_start(vg_camera_t *cam) {
  srt_conn_t *c = calloc(1, sizeof(*c));
  if (!c) {
    vg_camera_source_failed(cam, VG_ENOMEM, "out of memory");
    return;
  }
  if (vg_srt_url_parse(cam->cfg.url, &c->url) != 0) {
    free(c);
    vg_camera_source_failed(cam, VG_EINVAL, "invalid srt:// URL");
    return;
  }
  if (conn_new_demux(c) != 0) {
    free(c);
    vg_camera_source_failed(cam, VG_ENOMEM, "out of memory");
    return;
  }
  c->kind = CONN_CALLER;
  atomic_init(&c->refs, 2); /* the camera's and the service's */
  c->sock = SRT_INVALID_SOCK;
  snprintf(c->name, sizeof(c->name), "%s", cam->cfg.id);
  c->log = VG_LOG_CTX("srt", c->name);
  c->worker = cam->worker;
  c->hub = vg_hub_ref(cam->hub);
  c->read_timeout_ms = cam->cfg.read_timeout_ms;
  c->connect_timeout_ms = cam->cfg.connect_timeout_ms;
  pthread_mutex_lock(&conn_lock);
  c->cam = cam;
  cam->source = c;
  pthread_mutex_unlock(&conn_lock);
  post_cmd(CMD_CONNECT, c);
}

static void srt_source_stop(vg_camera_t *cam, void (*done)(vg_camera_t *cam)) {
  pthread_mutex_lock(&conn_lock);
  srt_conn_t *c = cam->source;
  cam->source = NULL;
  if (c) c->cam = NULL;
  pthread_mutex_unlock(&conn_lock);
  if (c) post_cmd(CMD_CLOSE, c); /* hands the camera's reference to the command */
  done(cam);
}

const vg_source_ops_t vg_srt_source_ops = {"srt", srt_source_start, srt_source_stop};

/* ---- the service thread --------------------------------------------------------- */

static void run_commands(void) {
  pthread_mutex_lock(&svc.lock);
  cmd_t *list = svc.cmds;
  svc.cmds = NULL;
  svc.cmds_tail = &svc.cmds;
  pthread_mutex_unlock(&svc.lock);
  while (list) {
    cmd_t *cmd = list;
    list = cmd->next;
    if (cmd->kind == CMD_CONNECT) {
      start_task_cmd(cmd->conn); /* the command's reference becomes the list's */
    } else {
      srt_conn_t *c = cmd->conn;
      if (c->in_list) {
        list_remove(c);
        close_socket(c);
        srt_conn_t *ref = c;
        conn_unref(&ref); /* the list's */
      }
      conn_unref(&cmd->conn);
    }
    free(cmd);
  }
}

/* Reads what a socket has; returns 0, or an error that ends it. */
static int conn_read(srt_conn_t *c, const char **why) {
  char buf[1500];
  uint64_t got = 0;
  for (int i = 0; i < RECV_BURST; i++) {
    int n = srt_recvmsg(c->sock, buf, sizeof(buf));
    if (n == SRT_ERROR) {
      if (srt_getlasterror(NULL) == SRT_EASYNCRCV) break;
      *why = "connection closed";
      return VG_ECLOSED;
    }
    if (n <= 0) break;
    got += (uint64_t)n;
    vg_ts_demux_push(c->demux, (const uint8_t *)buf, (size_t)n, vg_time_mono_us());
  }
  if (!got) return 0;
  c->last_rx_us = vg_time_mono_us();
  atomic_fetch_add(&svc.bytes, got);
  vg_ts_stats_t st;
  vg_ts_demux_stats(c->demux, &st);
  uint64_t errors = vg_ts_stats_errors(&st);
  uint64_t new_errors = errors - c->errors_reported;
  c->errors_reported = errors;
  if (new_errors) {
    atomic_fetch_add(&svc.ts_errors, new_errors);
    if (c->push)
      vg_push_count(c->push, 0, new_errors);
    else
      caller_count(c, 0, 0, new_errors);
  }
  /* A real stream loses sync now and then; one where a quarter of the
   * bytes are thrown away is not MPEG-TS. */
  if (st.skipped_bytes > GARBAGE_BYTES && st.skipped_bytes > st.bytes / 4) {
    *why = "not MPEG-TS: no sync byte";
    return VG_EPROTO;
  }
  return 0;
}

static void check_timeouts(int64_t now) {
  srt_conn_t *next;
  for (srt_conn_t *c = svc.conns; c; c = next) {
    next = c->next;
    if (!c->connected) continue;
    vg_ts_stats_t st;
    vg_ts_demux_stats(c->demux, &st);
    if (!st.have_pmt && now - c->start_us > NO_PROGRAM_US) {
      if (c->kind == CONN_PUBLISHER) atomic_fetch_add(&svc.rejected, 1);
      conn_end(c, VG_EPROTO, "no MPEG-TS program received");
    } else if (c->kind == CONN_CALLER && now - c->last_rx_us > (int64_t)c->read_timeout_ms * 1000) {
      conn_end(c, VG_ENODATA, "no data received");
    }
  }
}

static srt_conn_t *find_conn(SRTSOCKET s) {
  for (srt_conn_t *c = svc.conns; c; c = c->next)
    if (c->sock == s) return c;
  return NULL;
}

static void *service_main(void *arg) {
  SRT_EPOLL_EVENT events[MAX_EVENTS];
  int64_t last_check = 0;
  while (!atomic_load(&svc.stop)) {
    run_commands();
    if (!svc.conns && svc.listener == SRT_INVALID_SOCK) {
      /* Nothing SRT to serve (no listener, no srt:// camera): sleep until
       * a command or the stop arrives instead of polling libsrt, whose
       * wait wakes up every few milliseconds (about 4% of a node's CPU
       * when ingesting 200 RTSP cameras, docs/BENCHMARKS.md). */
      pthread_mutex_lock(&svc.lock);
      while (!svc.cmds && !atomic_load(&svc.stop))
        pthread_cond_wait(&svc.cmds_posted, &svc.lock);
      pthread_mutex_unlock(&svc.lock);
      continue;
    }
    int n = srt_epoll_uwait(svc.eid, events, MAX_EVENTS, WAIT_MS);
    for (int i = 0; i < n; i++) {
      SRTSOCKET s = events[i].fd;
      if (s == svc.listener) {
        if (events[i].events & SRT_EPOLL_IN) accept_publisher();
        continue;
      }
      srt_conn_t *c = find_conn(s);
      if (!c) continue;
      if (c->kind == CONN_CALLER && !c->connected) {
        caller_progress(c);
        continue;
      }
      const char *why = NULL;
      int r = 0;
      if (events[i].events & SRT_EPOLL_IN) r = conn_read(c, &why);
      if (!r && (events[i].events & SRT_EPOLL_ERR)) {
        r = VG_ECLOSED;
        why = "connection closed";
      }
      if (!r && srt_getsockstate(s) >= SRTS_BROKEN) {
        r = VG_ECLOSED;
        why = "connection broken";
      }
      if (r) conn_end(c, r, why);
    }
    int64_t now = vg_time_mono_us();
    if (now - last_check > 200000) {
      last_check = now;
      check_timeouts(now);
    }
  }
  run_commands();
  while (svc.conns)
    conn_end(svc.conns, VG_ECANCELED, "shutting down");
  return NULL;
}

/* libsrt's own log lines (rejections, retransmissions) go to our log at
 * debug level: our messages already say what matters. */
static void on_srt_log(void *opaque, int level, const char *file, int line, const char *area,
                       const char *msg) {
  vg_log_ctx_t lg = VG_LOG_CTX("libsrt", NULL);
  size_t n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
    n--;
  vg_log_debug(&lg, "%.*s", (int)n, msg);
}

int vg_srt_start(const vg_srt_server_config_t *cfg) {
  svc.log = VG_LOG_CTX("srt", NULL);
  svc.cfg = *cfg;
  if (srt_startup() < 0) return VG_EIO;
  srt_setloghandler(NULL, on_srt_log);
  srt_setlogflags(SRT_LOGF_DISABLE_TIME | SRT_LOGF_DISABLE_THREADNAME | SRT_LOGF_DISABLE_SEVERITY |
                  SRT_LOGF_DISABLE_EOL);
  svc.eid = srt_epoll_create();
  if (svc.eid < 0) {
    srt_cleanup();
    return VG_EIO;
  }
  srt_epoll_set(svc.eid, SRT_EPOLL_ENABLE_EMPTY);
  vg_push_register_source();
  int r = cfg->enabled ? open_listener(cfg) : 0;
  if (r == 0) {
    atomic_store(&svc.stop, 0);
    if (pthread_create(&svc.thread, NULL, service_main, NULL) != 0) r = VG_ENOMEM;
  }
  if (r) {
    if (svc.listener != SRT_INVALID_SOCK) srt_close(svc.listener);
    svc.listener = SRT_INVALID_SOCK;
    srt_epoll_release(svc.eid);
    svc.eid = -1;
    srt_cleanup();
    return r;
  }
  pthread_mutex_lock(&svc.lock);
  svc.running = 1;
  pthread_mutex_unlock(&svc.lock);
  return 0;
}

void vg_srt_stop(void) {
  pthread_mutex_lock(&svc.lock);
  int running = svc.running;
  svc.running = 0;
  pthread_mutex_unlock(&svc.lock);
  if (!running) return;
  pthread_mutex_lock(&svc.lock);
  atomic_store(&svc.stop, 1);
  pthread_cond_signal(&svc.cmds_posted);
  pthread_mutex_unlock(&svc.lock);
  pthread_join(svc.thread, NULL);
  if (svc.listener != SRT_INVALID_SOCK) srt_close(svc.listener);
  svc.listener = SRT_INVALID_SOCK;
  srt_epoll_release(svc.eid);
  svc.eid = -1;
  srt_cleanup();
}
