#include "ingest/rtmp_server.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base/error.h"
#include "base/log.h"
#include "base/time.h"
#include "ingest/push.h"
#include "ingest/rtmp_ingest.h"
#include "net/worker.h"
#include "proto/rtmp.h"

/* The largest message we take (a 4K keyframe fits with room to spare). */
#define RTMP_MAX_MESSAGE (8u << 20)
/* The input buffer holds at most one chunk plus what arrived after it. */
#define RTMP_IN_MIN (64 * 1024)
#define RTMP_IN_MAX (VG_RTMP_MAX_CHUNK_SIZE + 64 * 1024)
/* Our chunk size and acknowledgement window. */
#define RTMP_OUT_CHUNK 4096
#define RTMP_WINDOW 2500000
#define RTMP_IDLE_TIMEOUT_US (30 * 1000000LL)

static const vg_log_ctx_t server_log = {"rtmp-server", NULL};

typedef enum { HS_C0C1 = 0, HS_C2, READY } conn_state_t;

typedef struct rtmp_conn rtmp_conn_t;

struct vg_rtmp_server {
  vg_rtmp_server_config_t cfg;
  vg_worker_t *worker;
  uv_tcp_t listener;
  int listener_open;
  rtmp_conn_t *conns;
  int handles_open; /* listener and each connection */
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int started, result, closed;
  atomic_uint_fast64_t connections, connections_total, publishers, bytes_in, errors, auth_failures;
};

struct rtmp_conn {
  vg_rtmp_server_t *srv;
  uv_tcp_t tcp;
  uv_timer_t timer;
  int handles_open;
  int closing;
  rtmp_conn_t *prev, *next;
  char peer[64];
  vg_log_ctx_t log;
  uint8_t *in;
  size_t in_len, in_cap;
  conn_state_t state;
  vg_rtmp_reader_t rd;
  vg_rtmp_writer_t wr;
  vg_rtmp_command_t *cmd; /* large: kept off the stack */
  int connected;
  char name[64];
  vg_push_t *push;
  vg_rtmp_ingest_t ing;
  int64_t last_activity_us;
};

void vg_rtmp_server_config_defaults(vg_rtmp_server_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  snprintf(cfg->bind, sizeof(cfg->bind), "0.0.0.0");
  cfg->port = 1935;
}

/* "publish_users": [{"user": "...", "pass": "..."}], as the RTSP server's. */
static void parse_users(vg_cfg_t *c, json_t *obj, vg_rtmp_server_config_t *out) {
  static const char *const keys[] = {"user", "pass", NULL};
  json_t *arr = vg_cfg_array(c, obj, "publish_users", 0);
  if (!arr) return;
  vg_cfg_enter(c, "publish_users");
  if (json_array_size(arr) > 16) vg_cfg_fail(c, NULL, "at most 16 users");
  for (size_t i = 0; i < json_array_size(arr) && i < 16 && !c->failed; i++) {
    json_t *u = json_array_get(arr, i);
    vg_rtmp_cred_t *cr = &out->publish_users[i];
    vg_cfg_enter_index(c, i);
    if (!json_is_object(u)) {
      vg_cfg_fail(c, NULL, "must be an object {\"user\": ..., \"pass\": ...}");
    } else {
      vg_cfg_check_keys(c, u, keys);
      vg_cfg_str(c, u, "user", NULL, cr->user, sizeof(cr->user));
      vg_cfg_str(c, u, "pass", NULL, cr->pass, sizeof(cr->pass));
      if (!c->failed && !cr->user[0]) vg_cfg_fail(c, "user", "must not be empty");
    }
    vg_cfg_leave(c);
    out->publish_user_count++;
  }
  vg_cfg_leave(c);
}

int vg_rtmp_server_config_parse(vg_cfg_t *c, json_t *obj, vg_rtmp_server_config_t *out) {
  static const char *const keys[] = {"enabled", "bind", "port", "publish_users", NULL};
  vg_rtmp_server_config_t d;
  vg_rtmp_server_config_defaults(&d);
  *out = d;
  if (!obj) return c->failed ? VG_ECONFIG : 0;
  if (!json_is_object(obj)) return vg_cfg_fail(c, NULL, "must be an object");
  long long v;
  vg_cfg_check_keys(c, obj, keys);
  vg_cfg_bool(c, obj, "enabled", d.enabled, &out->enabled);
  vg_cfg_str(c, obj, "bind", d.bind, out->bind, sizeof(out->bind));
  vg_cfg_int(c, obj, "port", d.port, 0, 65535, &v), out->port = (int)v;
  parse_users(c, obj, out);
  return c->failed ? VG_ECONFIG : 0;
}

void vg_rtmp_server_get_stats(vg_rtmp_server_t *srv, vg_rtmp_server_stats_t *out) {
  out->connections = atomic_load(&srv->connections);
  out->connections_total = atomic_load(&srv->connections_total);
  out->publishers = atomic_load(&srv->publishers);
  out->bytes_in = atomic_load(&srv->bytes_in);
  out->errors = atomic_load(&srv->errors);
  out->auth_failures = atomic_load(&srv->auth_failures);
}

int vg_rtmp_server_port(const vg_rtmp_server_t *srv) { return srv->cfg.port; }

/* ---- connections ---------------------------------------------------------------- */

static void server_handle_done(vg_rtmp_server_t *srv) {
  if (--srv->handles_open > 0) return;
  pthread_mutex_lock(&srv->lock);
  srv->closed = 1;
  pthread_cond_broadcast(&srv->cond);
  pthread_mutex_unlock(&srv->lock);
}

static void conn_handle_closed(uv_handle_t *h) {
  rtmp_conn_t *c = h->data;
  if (--c->handles_open > 0) return;
  vg_rtmp_server_t *srv = c->srv;
  if (c->prev)
    c->prev->next = c->next;
  else
    srv->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  vg_rtmp_reader_free(&c->rd);
  vg_rtmp_ingest_clear(&c->ing);
  free(c->cmd);
  free(c->in);
  free(c);
  server_handle_done(srv);
}

static void stop_publishing(rtmp_conn_t *c, const char *why) {
  if (!c->push) return;
  vg_push_close(&c->push, why);
  atomic_fetch_sub(&c->srv->publishers, 1);
  vg_log_info(&c->log, "publisher of %s left: %s", c->name, why);
}

static void conn_close(rtmp_conn_t *c, const char *why) {
  if (c->closing) return;
  c->closing = 1;
  if (c->connected)
    vg_log_info(&c->log, "closing: %s", why);
  else
    vg_log_debug(&c->log, "closing: %s", why);
  stop_publishing(c, why);
  atomic_fetch_sub(&c->srv->connections, 1);
  uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
  uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
}

static void on_write_done(uv_write_t *req, int status) { free(req); }

static void conn_send(rtmp_conn_t *c, const void *data, size_t len) {
  if (c->closing || !len) return;
  uv_write_t *req = malloc(sizeof(*req) + len);
  if (!req) {
    conn_close(c, "out of memory");
    return;
  }
  memcpy(req + 1, data, len);
  uv_buf_t b = uv_buf_init((char *)(req + 1), (unsigned)len);
  int r = uv_write(req, (uv_stream_t *)&c->tcp, &b, 1, on_write_done);
  if (r < 0) {
    free(req);
    conn_close(c, uv_strerror(r));
  }
}

/* Sends an AMF0 command built by the caller into aw. */
static void send_command(rtmp_conn_t *c, uint32_t stream_id, const vg_amf0_writer_t *aw) {
  uint8_t out[2048];
  if (aw->err) return;
  int n = vg_rtmp_write(&c->wr, VG_RTMP_CSID_COMMAND, VG_RTMP_MSG_COMMAND_AMF0, stream_id, 0, aw->data,
                        aw->len, out, sizeof(out));
  if (n > 0) conn_send(c, out, (size_t)n);
}

static void send_status(rtmp_conn_t *c, uint32_t stream_id, const char *level, const char *code,
                        const char *description) {
  uint8_t amf[512];
  vg_amf0_writer_t aw;
  vg_amf0_writer_init(&aw, amf, sizeof(amf));
  vg_rtmp_amf_on_status(&aw, level, code, description);
  send_command(c, stream_id, &aw);
}

/* ---- ingest sink ---------------------------------------------------------------- */

static void sink_set_tracks(void *opaque, const vg_track_t *tracks, int count) {
  rtmp_conn_t *c = opaque;
  if (c->push) vg_push_set_tracks(c->push, tracks, count);
}

static void sink_update_track(void *opaque, int index, const vg_track_t *track) {
  rtmp_conn_t *c = opaque;
  if (c->push) vg_push_update_track(c->push, index, track);
}

static void sink_frame(void *opaque, const vg_frame_t *f) {
  rtmp_conn_t *c = opaque;
  if (c->push) vg_push_frame(c->push, f);
}

/* ---- commands ------------------------------------------------------------------- */

static void handle_connect(rtmp_conn_t *c, const vg_rtmp_command_t *cmd) {
  char app[128];
  vg_amf0_str(vg_amf0_get(&cmd->doc, cmd->obj, "app"), app, sizeof(app));
  app[strcspn(app, "?")] = 0; /* "live?token=..." */
  size_t n = strlen(app);
  while (n && app[n - 1] == '/')
    app[--n] = 0;
  uint8_t amf[1024], out[2048];
  vg_amf0_writer_t aw;
  vg_amf0_writer_init(&aw, amf, sizeof(amf));
  if (strcmp(app, "live") != 0) {
    vg_log_info(&c->log, "refusing connect to app \"%s\" (only \"live\")", app);
    vg_rtmp_amf_error(&aw, cmd->txn, "NetConnection.Connect.Rejected", "unknown application");
    send_command(c, 0, &aw);
    conn_close(c, "unknown application");
    return;
  }
  size_t off = 0;
  int r = vg_rtmp_write_control(&c->wr, VG_RTMP_MSG_WINDOW_ACK_SIZE, RTMP_WINDOW, out, sizeof(out));
  off += r > 0 ? (size_t)r : 0;
  r = vg_rtmp_write_peer_bw(&c->wr, RTMP_WINDOW, 2, out + off, sizeof(out) - off);
  off += r > 0 ? (size_t)r : 0;
  r = vg_rtmp_write_control(&c->wr, VG_RTMP_MSG_SET_CHUNK_SIZE, RTMP_OUT_CHUNK, out + off, sizeof(out) - off);
  off += r > 0 ? (size_t)r : 0;
  conn_send(c, out, off);
  vg_rtmp_amf_connect_result(&aw, cmd->txn);
  send_command(c, 0, &aw);
  c->connected = 1;
}

/* Compares without an early exit, so that timing does not tell how much of a secret matched. */
static int secret_equal(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  unsigned diff = (unsigned)(la ^ lb);
  for (size_t i = 0; i < la; i++)
    diff |= (unsigned)(a[i] ^ b[i % (lb ? lb : 1)]);
  return diff == 0;
}

static int publisher_allowed(const vg_rtmp_server_config_t *cfg, const char *query) {
  if (!cfg->publish_user_count) return 1;
  char user[64], pass[128];
  vg_rtmp_query_value(query, "user", user, sizeof(user));
  vg_rtmp_query_value(query, "pass", pass, sizeof(pass));
  int ok = 0;
  for (int i = 0; i < cfg->publish_user_count; i++)
    if (strcmp(cfg->publish_users[i].user, user) == 0) ok |= secret_equal(cfg->publish_users[i].pass, pass);
  return ok;
}

/* The stream key names the camera; a "?query" (tokens some encoders add) is not part of it. */
static void handle_publish(rtmp_conn_t *c, const vg_rtmp_msg_t *msg, const vg_rtmp_command_t *cmd) {
  char key[256];
  if (c->push) {
    send_status(c, msg->stream_id, "error", "NetStream.Publish.BadConnection", "already publishing");
    return;
  }
  if (!c->connected || cmd->nargs < 1 || vg_amf0_str(cmd->arg[0], key, sizeof(key)) < 0) {
    send_status(c, msg->stream_id, "error", "NetStream.Publish.BadName", "no stream name");
    conn_close(c, "publish without a name");
    return;
  }
  char *query = strchr(key, '?');
  if (query) *query++ = 0;
  snprintf(c->name, sizeof(c->name), "%s", key);
  if (!publisher_allowed(&c->srv->cfg, query)) {
    atomic_fetch_add(&c->srv->auth_failures, 1);
    vg_log_info(&c->log, "refusing to publish to \"%s\": bad or missing credentials", c->name);
    send_status(c, msg->stream_id, "error", "NetStream.Publish.Denied", "authentication failed");
    conn_close(c, "publish refused");
    return;
  }
  char url[160];
  snprintf(url, sizeof(url), "rtmp://publisher/live/%s", c->name);
  int r = strlen(key) < sizeof(c->name) ? vg_push_open(c->name, url, &c->push) : VG_EINVAL;
  if (r < 0) {
    vg_log_info(&c->log, "refusing to publish to \"%s\": %s", c->name,
                r == VG_EBUSY ? "the path is in use" : vg_strerror(r));
    send_status(c, msg->stream_id, "error", "NetStream.Publish.BadName",
                r == VG_EBUSY ? "stream is in use" : "invalid stream name");
    conn_close(c, "publish refused");
    return;
  }
  atomic_fetch_add(&c->srv->publishers, 1);
  static const vg_rtmp_ingest_sink_t sink = {sink_set_tracks, sink_update_track, sink_frame, NULL};
  vg_rtmp_ingest_sink_t s = sink;
  s.opaque = c;
  vg_rtmp_ingest_clear(&c->ing);
  vg_rtmp_ingest_init(&c->ing, &s);
  uint8_t out[64];
  int n = vg_rtmp_write_user_control(&c->wr, VG_RTMP_UC_STREAM_BEGIN, msg->stream_id, 0, out, sizeof(out));
  if (n > 0) conn_send(c, out, (size_t)n);
  send_status(c, msg->stream_id, "status", "NetStream.Publish.Start", "publishing");
  vg_log_info(&c->log, "publishing %s", c->name);
}

static void handle_command(rtmp_conn_t *c, const vg_rtmp_msg_t *msg) {
  const uint8_t *p = msg->buf->data;
  size_t len = msg->buf->len;
  /* An AMF3 command message starts with a 0 byte, then AMF0 values. */
  if (msg->type == VG_RTMP_MSG_COMMAND_AMF3 && len > 0) p++, len--;
  if (!c->cmd && !(c->cmd = malloc(sizeof(*c->cmd)))) {
    conn_close(c, "out of memory");
    return;
  }
  vg_rtmp_command_t *cmd = c->cmd;
  int r = vg_rtmp_command_parse(p, len, 0, cmd);
  if (r < 0) {
    atomic_fetch_add(&c->srv->errors, 1);
    vg_log_warn(&c->log, "bad command message (%s), closing", vg_strerror(r));
    conn_close(c, "bad command");
    return;
  }
  uint8_t amf[512];
  vg_amf0_writer_t aw;
  vg_amf0_writer_init(&aw, amf, sizeof(amf));
  const char *name = cmd->name;
  if (strcmp(name, "connect") == 0) {
    handle_connect(c, cmd);
  } else if (strcmp(name, "createStream") == 0) {
    vg_rtmp_amf_result(&aw, cmd->txn, 1, 1);
    send_command(c, 0, &aw);
  } else if (strcmp(name, "releaseStream") == 0 || strcmp(name, "FCPublish") == 0 ||
             strcmp(name, "FCUnpublish") == 0) {
    if (strcmp(name, "FCUnpublish") == 0) stop_publishing(c, "unpublished");
    if (cmd->txn > 0) {
      vg_rtmp_amf_result(&aw, cmd->txn, 0, 0);
      send_command(c, 0, &aw);
    }
  } else if (strcmp(name, "publish") == 0) {
    handle_publish(c, msg, cmd);
  } else if (strcmp(name, "deleteStream") == 0 || strcmp(name, "closeStream") == 0) {
    stop_publishing(c, "stream deleted");
  } else if (strcmp(name, "play") == 0) {
    send_status(c, msg->stream_id, "error", "NetStream.Play.Failed",
                "this server takes publishers only; play over RTSP");
    conn_close(c, "play refused");
  } else if (cmd->txn > 0) {
    /* Unknown calls that expect an answer get an empty one. */
    vg_rtmp_amf_result(&aw, cmd->txn, 0, 0);
    send_command(c, 0, &aw);
  }
}

static void handle_message(rtmp_conn_t *c, const vg_rtmp_msg_t *msg) {
  switch (msg->type) {
  case VG_RTMP_MSG_USER_CONTROL: {
    uint8_t out[64];
    int n = vg_rtmp_answer_ping(&c->wr, msg, out, sizeof(out));
    if (n > 0) conn_send(c, out, (size_t)n);
    break;
  }
  case VG_RTMP_MSG_COMMAND_AMF0:
  case VG_RTMP_MSG_COMMAND_AMF3: handle_command(c, msg); break;
  case VG_RTMP_MSG_DATA_AMF0:
  case VG_RTMP_MSG_AUDIO:
  case VG_RTMP_MSG_VIDEO:
    if (c->push) {
      int r = vg_rtmp_ingest_message(&c->ing, msg, vg_time_mono_us(), vg_time_utc_us());
      if (r < 0) {
        vg_push_count(c->push, 0, 1);
        vg_log_debug(&c->log, "dropped a malformed media message: %s", vg_strerror(r));
      }
    }
    break;
  default: break;
  }
}

/* ---- input ---------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  rtmp_conn_t *c = h->data;
  if (c->in_len == c->in_cap && c->in_cap < RTMP_IN_MAX) {
    size_t cap = c->in_cap ? c->in_cap * 2 : RTMP_IN_MIN;
    if (cap > RTMP_IN_MAX) cap = RTMP_IN_MAX;
    uint8_t *grown = realloc(c->in, cap);
    if (grown) {
      c->in = grown;
      c->in_cap = cap;
    }
  }
  if (!c->in || c->in_len >= c->in_cap) {
    *buf = uv_buf_init(NULL, 0);
    return;
  }
  *buf = uv_buf_init((char *)c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

/* Consumes what it can of the input; returns the bytes used. */
static size_t process(rtmp_conn_t *c) {
  size_t off = 0;
  while (!c->closing && off < c->in_len) {
    const uint8_t *p = c->in + off;
    size_t len = c->in_len - off;
    if (c->state == HS_C0C1) {
      uint8_t out[1 + 2 * VG_RTMP_HANDSHAKE_SIZE];
      int r = vg_rtmp_handshake_server(p, len, (uint32_t)vg_time_mono_us(), out, sizeof(out));
      if (r == VG_EINCOMPLETE) break;
      if (r < 0) {
        atomic_fetch_add(&c->srv->errors, 1);
        conn_close(c, "not an RTMP handshake");
        break;
      }
      conn_send(c, out, (size_t)r);
      off += 1 + VG_RTMP_HANDSHAKE_SIZE;
      c->state = HS_C2;
      continue;
    }
    if (c->state == HS_C2) {
      if (len < VG_RTMP_HANDSHAKE_SIZE) break;
      off += VG_RTMP_HANDSHAKE_SIZE;
      c->state = READY;
      continue;
    }
    vg_rtmp_msg_t msg;
    size_t used = 0;
    int r = vg_rtmp_read(&c->rd, p, len, &used, &msg);
    if (r == VG_EINCOMPLETE) break;
    if (r < 0) {
      atomic_fetch_add(&c->srv->errors, 1);
      vg_log_warn(&c->log, "bad RTMP input (%s), closing", vg_strerror(r));
      conn_close(c, "bad input");
      break;
    }
    off += used;
    if (r == 1) {
      handle_message(c, &msg);
      vg_buf_unref(&msg.buf);
    }
    uint32_t seq;
    if (!c->closing && vg_rtmp_reader_ack_due(&c->rd, &seq)) {
      uint8_t out[32];
      int n = vg_rtmp_write_control(&c->wr, VG_RTMP_MSG_ACK, seq, out, sizeof(out));
      if (n > 0) conn_send(c, out, (size_t)n);
    }
  }
  return off;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  rtmp_conn_t *c = s->data;
  if (c->closing) return;
  if (nread == UV_ENOBUFS) {
    atomic_fetch_add(&c->srv->errors, 1);
    conn_close(c, c->in ? "chunk exceeds the input buffer" : "out of memory");
    return;
  }
  if (nread < 0) {
    conn_close(c, nread == UV_EOF ? "closed by peer" : uv_strerror((int)nread));
    return;
  }
  c->in_len += (size_t)nread;
  atomic_fetch_add_explicit(&c->srv->bytes_in, (uint64_t)nread, memory_order_relaxed);
  c->last_activity_us = vg_time_mono_us();
  size_t off = process(c);
  if (c->closing) return;
  if (off) {
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
  }
}

static void on_tick(uv_timer_t *t) {
  rtmp_conn_t *c = t->data;
  if (vg_time_mono_us() - c->last_activity_us > RTMP_IDLE_TIMEOUT_US) conn_close(c, "timed out");
}

static void on_connection(uv_stream_t *server, int status) {
  vg_rtmp_server_t *srv = server->data;
  if (status < 0) {
    vg_log_warn(&server_log, "accept error: %s", uv_strerror(status));
    return;
  }
  rtmp_conn_t *c = calloc(1, sizeof(*c));
  if (!c) return;
  uv_loop_t *loop = vg_worker_loop(srv->worker);
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c;
  c->srv = srv;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
    return;
  }
  c->handles_open = 2;
  srv->handles_open++;
  c->next = srv->conns;
  if (srv->conns) srv->conns->prev = c;
  srv->conns = c;
  atomic_fetch_add(&srv->connections, 1);
  atomic_fetch_add(&srv->connections_total, 1);
  struct sockaddr_storage addr;
  int alen = sizeof(addr);
  char ip[48] = "?";
  int port = 0;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&addr, &alen) == 0) {
    if (addr.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&addr, ip, sizeof(ip));
      port = ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    } else {
      uv_ip4_name((struct sockaddr_in *)&addr, ip, sizeof(ip));
      port = ntohs(((struct sockaddr_in *)&addr)->sin_port);
    }
  }
  snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, port);
  c->log = VG_LOG_CTX("rtmp-server", c->peer);
  vg_rtmp_reader_init(&c->rd, RTMP_MAX_MESSAGE);
  vg_rtmp_writer_init(&c->wr);
  c->ing.video.index = c->ing.audio.index = -1;
  c->last_activity_us = vg_time_mono_us();
  uv_tcp_nodelay(&c->tcp, 1);
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  uv_timer_start(&c->timer, on_tick, 1000, 1000);
  int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (r < 0) conn_close(c, uv_strerror(r));
}

/* ---- start and stop ------------------------------------------------------------- */

static void listener_closed(uv_handle_t *h) { server_handle_done(h->data); }

static void start_task(void *arg) {
  vg_rtmp_server_t *srv = arg;
  uv_loop_t *loop = vg_worker_loop(srv->worker);
  struct sockaddr_storage addr;
  memset(&addr, 0, sizeof(addr));
  int r = 0;
  if (uv_ip4_addr(srv->cfg.bind, srv->cfg.port, (struct sockaddr_in *)&addr) != 0 &&
      uv_ip6_addr(srv->cfg.bind, srv->cfg.port, (struct sockaddr_in6 *)&addr) != 0)
    r = VG_EINVAL;
  if (r == 0) {
    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    srv->listener_open = 1;
    srv->handles_open = 1;
    r = uv_tcp_bind(&srv->listener, (struct sockaddr *)&addr, 0);
    if (r == 0) r = uv_listen((uv_stream_t *)&srv->listener, 128, on_connection);
    if (r == 0) {
      struct sockaddr_storage bound;
      int len = sizeof(bound);
      uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &len);
      srv->cfg.port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                        : ((struct sockaddr_in *)&bound)->sin_port);
    } else {
      srv->listener_open = 0;
      uv_close((uv_handle_t *)&srv->listener, listener_closed);
    }
  }
  pthread_mutex_lock(&srv->lock);
  srv->result = r;
  srv->started = 1;
  pthread_cond_broadcast(&srv->cond);
  pthread_mutex_unlock(&srv->lock);
}

static void close_task(void *arg) {
  vg_rtmp_server_t *srv = arg;
  for (rtmp_conn_t *c = srv->conns; c; c = c->next)
    conn_close(c, "server stopping");
  if (srv->listener_open) uv_close((uv_handle_t *)&srv->listener, listener_closed);
  srv->listener_open = 0;
}

static void wait_closed(vg_rtmp_server_t *srv) {
  pthread_mutex_lock(&srv->lock);
  while (!srv->closed)
    pthread_cond_wait(&srv->cond, &srv->lock);
  pthread_mutex_unlock(&srv->lock);
}

static void server_free(vg_rtmp_server_t *srv) {
  pthread_mutex_destroy(&srv->lock);
  pthread_cond_destroy(&srv->cond);
  free(srv);
}

int vg_rtmp_server_start(const vg_rtmp_server_config_t *cfg, vg_rtmp_server_t **out) {
  if (vg_workers_count() <= 0) return VG_ESTATE;
  vg_rtmp_server_t *srv = calloc(1, sizeof(*srv));
  if (!srv) return VG_ENOMEM;
  srv->cfg = *cfg;
  pthread_mutex_init(&srv->lock, NULL);
  pthread_cond_init(&srv->cond, NULL);
  vg_push_register_source();
  srv->worker = vg_worker_next();
  if (vg_worker_post(srv->worker, start_task, srv) != 0) {
    server_free(srv);
    return VG_ECANCELED;
  }
  pthread_mutex_lock(&srv->lock);
  while (!srv->started)
    pthread_cond_wait(&srv->cond, &srv->lock);
  pthread_mutex_unlock(&srv->lock);
  int r = srv->result;
  if (r != 0) {
    vg_log_error(&server_log, "cannot listen on %s:%d: %s", cfg->bind, cfg->port, vg_strerror(r));
    if (srv->handles_open > 0) wait_closed(srv);
    server_free(srv);
    return r;
  }
  vg_log_info(&server_log, "listening on rtmp://%s:%d/live/", cfg->bind, srv->cfg.port);
  *out = srv;
  return 0;
}

void vg_rtmp_server_stop(vg_rtmp_server_t **srvp) {
  vg_rtmp_server_t *srv = *srvp;
  if (!srv) return;
  *srvp = NULL;
  if (vg_worker_post(srv->worker, close_task, srv) != 0)
    vg_log_error(&server_log, "workers stopped before the RTMP server");
  else
    wait_closed(srv);
  server_free(srv);
}
