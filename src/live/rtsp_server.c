/*
 * rtsp_server.c: listeners, connections and request dispatch of the RTSP
 * server; see rtsp_server.h for the model and rtsp_server_internal.h for
 * how the files divide the work.
 */
#include "live/rtsp_server.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/error.h"
#include "base/time.h"
#include "live/rtsp_server_internal.h"
#include "proto/url.h"

static const vg_log_ctx_t server_log = {"rtsp-server", NULL};

/* ---- configuration ------------------------------------------------------ */

void vg_rtsp_server_config_defaults(vg_rtsp_server_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  snprintf(cfg->bind, sizeof(cfg->bind), "0.0.0.0");
  cfg->port = 8554;
  cfg->rtp_port_min = 20000;
  cfg->rtp_port_max = 29999;
  cfg->allow_publish = true;
  snprintf(cfg->realm, sizeof(cfg->realm), "vigil");
  cfg->session_timeout_s = 60;
}

static int parse_users(vg_cfg_t *c, json_t *obj, const char *key, vg_rtsp_cred_t *out, int *count) {
  static const char *const keys[] = {"user", "pass", NULL};
  json_t *arr = vg_cfg_array(c, obj, key, 0);
  *count = 0;
  if (!arr) return c->failed ? VG_ECONFIG : 0;
  vg_cfg_enter(c, key);
  if (json_array_size(arr) > 16) vg_cfg_fail(c, NULL, "at most 16 users");
  for (size_t i = 0; i < json_array_size(arr) && i < 16; i++) {
    json_t *u = json_array_get(arr, i);
    vg_cfg_enter_index(c, i);
    if (!json_is_object(u)) {
      vg_cfg_fail(c, NULL, "must be an object {\"user\": ..., \"pass\": ...}");
    } else {
      vg_cfg_check_keys(c, u, keys);
      vg_cfg_str(c, u, "user", NULL, out[i].user, sizeof(out[i].user));
      vg_cfg_str(c, u, "pass", NULL, out[i].pass, sizeof(out[i].pass));
      if (!c->failed && (!out[i].user[0] || strpbrk(out[i].user, ":\"\r\n")))
        vg_cfg_fail(c, "user", "must be non-empty and contain no ':', '\"', CR or LF");
    }
    vg_cfg_leave(c);
    (*count)++;
  }
  vg_cfg_leave(c);
  return c->failed ? VG_ECONFIG : 0;
}

int vg_rtsp_server_config_parse(vg_cfg_t *c, json_t *obj, vg_rtsp_server_config_t *out) {
  static const char *const keys[] = {"bind",          "port",  "rtp_port_min",      "rtp_port_max",
                                     "allow_publish", "realm", "session_timeout_s", "read_users",
                                     "publish_users", NULL};
  vg_rtsp_server_config_t d;
  vg_rtsp_server_config_defaults(&d);
  *out = d;
  if (!obj) return c->failed ? VG_ECONFIG : 0;
  if (!json_is_object(obj)) return vg_cfg_fail(c, NULL, "must be an object");
  long long v;
  vg_cfg_check_keys(c, obj, keys);
  vg_cfg_str(c, obj, "bind", d.bind, out->bind, sizeof(out->bind));
  vg_cfg_int(c, obj, "port", d.port, 0, 65535, &v), out->port = (int)v;
  vg_cfg_int(c, obj, "rtp_port_min", d.rtp_port_min, 1024, 65534, &v), out->rtp_port_min = (int)v;
  vg_cfg_int(c, obj, "rtp_port_max", d.rtp_port_max, 1025, 65535, &v), out->rtp_port_max = (int)v;
  if (!c->failed && out->rtp_port_max < out->rtp_port_min + 1)
    vg_cfg_fail(c, "rtp_port_max", "must be above rtp_port_min");
  vg_cfg_bool(c, obj, "allow_publish", d.allow_publish, &out->allow_publish);
  vg_cfg_str(c, obj, "realm", d.realm, out->realm, sizeof(out->realm));
  if (!c->failed && strpbrk(out->realm, "\"\r\n")) vg_cfg_fail(c, "realm", "must not contain '\"', CR or LF");
  vg_cfg_int(c, obj, "session_timeout_s", d.session_timeout_s, 5, 3600, &v), out->session_timeout_s = (int)v;
  parse_users(c, obj, "read_users", out->read_users, &out->read_user_count);
  parse_users(c, obj, "publish_users", out->publish_users, &out->publish_user_count);
  return c->failed ? VG_ECONFIG : 0;
}

/* ---- stats, latency and faults ------------------------------------------ */

void vg_rtsp_server_get_stats(vg_rtsp_server_t *srv, vg_rtsp_server_stats_t *out) {
  out->sessions = atomic_load(&srv->sessions);
  out->sessions_total = atomic_load(&srv->sessions_total);
  out->bytes_out = atomic_load(&srv->bytes_out);
  out->publishers = atomic_load(&srv->publishers);
  out->auth_failures = atomic_load(&srv->auth_failures);
}

void rtsp_latency_record(vg_rtsp_server_t *srv, int64_t us) {
  if (us < 1) us = 1;
  /* Quarter-octave buckets: 4 per doubling, so percentiles are within ~19%. */
  int b = (int)(4.0 * log2((double)us));
  if (b < 0) b = 0;
  if (b > 127) b = 127;
  atomic_fetch_add_explicit(&srv->latency_hist[b], 1, memory_order_relaxed);
}

int vg_rtsp_server_latency(vg_rtsp_server_t *srv, double *p50_us, double *p99_us) {
  uint64_t counts[128], total = 0;
  for (int i = 0; i < 128; i++)
    total += counts[i] = atomic_load(&srv->latency_hist[i]);
  if (!total) return VG_ENODATA;
  double want[2] = {0.50, 0.99};
  double *res[2] = {p50_us, p99_us};
  for (int k = 0; k < 2; k++) {
    uint64_t target = (uint64_t)ceil(want[k] * (double)total), seen = 0;
    for (int i = 0; i < 128; i++) {
      seen += counts[i];
      if (seen >= target) {
        /* The bucket's geometric middle. */
        if (res[k]) *res[k] = pow(2.0, (i + 0.5) / 4.0);
        break;
      }
    }
  }
  return 0;
}

int vg_rtsp_server_set_faults(vg_rtsp_server_t *srv, const char *path, const vg_rtsp_path_faults_t *f) {
  if (path && strlen(path) >= sizeof(((rtsp_fault_entry_t *)0)->path)) return VG_EINVAL;
  const char *key = path ? path : "";
  pthread_mutex_lock(&srv->lock);
  rtsp_fault_entry_t **pp = &srv->faults;
  while (*pp && strcmp((*pp)->path, key) != 0)
    pp = &(*pp)->next;
  if (!f) {
    if (*pp) {
      rtsp_fault_entry_t *e = *pp;
      *pp = e->next;
      free(e);
    }
    pthread_mutex_unlock(&srv->lock);
    return 0;
  }
  if (!*pp) {
    rtsp_fault_entry_t *e = calloc(1, sizeof(*e));
    if (!e) {
      pthread_mutex_unlock(&srv->lock);
      return VG_ENOMEM;
    }
    snprintf(e->path, sizeof(e->path), "%s", key);
    *pp = e;
  }
  (*pp)->f = *f;
  pthread_mutex_unlock(&srv->lock);
  return 0;
}

/* Copies the faults that apply to path (its own entry, else the catch-all). */
static int lookup_faults(vg_rtsp_server_t *srv, const char *path, vg_rtsp_path_faults_t *out) {
  int found = 0;
  pthread_mutex_lock(&srv->lock);
  const rtsp_fault_entry_t *all = NULL;
  for (const rtsp_fault_entry_t *e = srv->faults; e; e = e->next) {
    if (!e->path[0]) all = e;
    if (strcmp(e->path, path) == 0) {
      *out = e->f;
      found = 1;
    }
  }
  if (!found && all) {
    *out = all->f;
    found = 1;
  }
  pthread_mutex_unlock(&srv->lock);
  return found;
}

/* ---- connection life cycle ---------------------------------------------- */

static void shard_handle_done(rtsp_shard_t *sh);

void rtsp_conn_free(rtsp_conn_t *c) {
  for (int i = 0; i < c->track_count; i++)
    vg_track_clear(&c->tracks[i]);
  free(c->announce_sdp);
  free(c->in);
  free(c);
}

void rtsp_handle_opened(rtsp_conn_t *c) { c->handles_open++; }

void rtsp_handle_closed(uv_handle_t *h) {
  rtsp_conn_t *c = h->data;
  if (--c->handles_open > 0) return;
  rtsp_shard_t *sh = c->shard;
  if (c->prev)
    c->prev->next = c->next;
  else
    sh->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  /* A hub notification may still have this connection on the pending
   * stack; then the drain frees it. */
  if (!atomic_load(&c->queued)) rtsp_conn_free(c);
  shard_handle_done(sh);
}

static void close_handle(rtsp_conn_t *c, uv_handle_t *h) {
  if (!uv_is_closing(h)) uv_close(h, rtsp_handle_closed);
}

void rtsp_conn_close(rtsp_conn_t *c, const char *why) {
  if (c->closing) return;
  c->closing = 1;
  if (why) {
    if (c->state == CONN_PLAYING || c->state == CONN_RECORDING || c->requests > 0)
      vg_log_info(&c->log, "closing%s%s: %s", c->path[0] ? " " : "", c->path, why);
    else
      vg_log_debug(&c->log, "closing: %s", why);
  }
  rtsp_play_stop(c);
  rtsp_publish_stop(c, why ? why : "closed");
  atomic_fetch_sub(&c->srv->sessions, 1);
  for (int i = 0; i < VG_MAX_TRACKS; i++) {
    if (c->out[i].rtp_open) close_handle(c, (uv_handle_t *)&c->out[i].rtp_sock);
    if (c->out[i].rtcp_open) close_handle(c, (uv_handle_t *)&c->out[i].rtcp_sock);
  }
  close_handle(c, (uv_handle_t *)&c->timer);
  close_handle(c, (uv_handle_t *)&c->aux_timer);
  close_handle(c, (uv_handle_t *)&c->tcp);
}

static void on_write_copy(uv_write_t *req, int status) { free(req); }

int rtsp_conn_send_copy(rtsp_conn_t *c, const void *data, size_t len) {
  if (c->closing) return VG_ECLOSED;
  uv_write_t *req = malloc(sizeof(*req) + len);
  if (!req) return VG_ENOMEM;
  memcpy(req + 1, data, len);
  uv_buf_t b = uv_buf_init((char *)(req + 1), (unsigned)len);
  int r = uv_write(req, (uv_stream_t *)&c->tcp, &b, 1, on_write_copy);
  if (r < 0) {
    free(req);
    return r;
  }
  atomic_fetch_add_explicit(&c->srv->bytes_out, len, memory_order_relaxed);
  return 0;
}

void rtsp_conn_respond(rtsp_conn_t *c, const vg_rtsp_msg_t *req, int status, const rtsp_hdr_t *extra,
                       const char *ctype, const void *body, size_t body_len) {
  char head[4096];
  vg_rtsp_writer_t w;
  vg_rtsp_writer_init(&w, head, sizeof(head));
  vg_rtsp_write_status_line(&w, status, NULL);
  const vg_rtsp_str_t *cseq = req ? vg_rtsp_msg_header(req, "CSeq") : NULL;
  if (cseq && cseq->len < 16) vg_rtsp_write_header(&w, "CSeq", "%.*s", (int)cseq->len, cseq->p);
  vg_rtsp_write_header(&w, "Server", "vigil/%s", VG_VERSION);
  if (c->session_id[0])
    vg_rtsp_write_header(&w, "Session", "%s;timeout=%d", c->session_id, c->srv->cfg.session_timeout_s);
  for (const rtsp_hdr_t *h = extra; h && h->name; h++)
    vg_rtsp_write_header(&w, h->name, "%s", h->value);
  if (ctype) vg_rtsp_write_header(&w, "Content-Type", "%s", ctype);
  /* The body goes in a second write so that SDP size is not bounded by head. */
  int n = vg_rtsp_write_end(&w, NULL, 0);
  if (n < 0) {
    vg_log_warn(&c->log, "cannot format a %d response: %s", status, vg_strerror(n));
    rtsp_conn_close(c, "response too large");
    return;
  }
  if (body_len) {
    /* vg_rtsp_write_end() already wrote the blank line; insert Content-Length before it. */
    char *buf = malloc((size_t)n + 40 + body_len);
    if (!buf) {
      rtsp_conn_close(c, "out of memory");
      return;
    }
    int hl = n - 2;
    memcpy(buf, head, (size_t)hl);
    hl += snprintf(buf + hl, 40, "Content-Length: %zu\r\n\r\n", body_len);
    memcpy(buf + hl, body, body_len);
    rtsp_conn_send_copy(c, buf, (size_t)hl + body_len);
    free(buf);
  } else {
    rtsp_conn_send_copy(c, head, (size_t)n);
  }
}

/* ---- UDP ports ------------------------------------------------------------ */

static int bind_udp(int family, const char *bind_addr, int port) {
  struct sockaddr_storage a;
  memset(&a, 0, sizeof(a));
  socklen_t alen;
  if (family == AF_INET6) {
    uv_ip6_addr("::", port, (struct sockaddr_in6 *)&a);
    alen = sizeof(struct sockaddr_in6);
  } else {
    if (uv_ip4_addr(bind_addr, port, (struct sockaddr_in *)&a) != 0)
      uv_ip4_addr("0.0.0.0", port, (struct sockaddr_in *)&a);
    alen = sizeof(struct sockaddr_in);
  }
  int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return vg_err_from_errno();
  if (bind(fd, (struct sockaddr *)&a, alen) != 0) {
    int e = vg_err_from_errno();
    close(fd);
    return e;
  }
  return fd;
}

int rtsp_udp_open_pair(rtsp_conn_t *c, rtsp_track_out_t *t, uv_udp_recv_cb rtp_cb, uv_udp_recv_cb rtcp_cb) {
  vg_rtsp_server_t *srv = c->srv;
  uv_loop_t *loop = vg_worker_loop(c->shard->worker);
  int lo = srv->cfg.rtp_port_min + (srv->cfg.rtp_port_min & 1);
  int pairs = (srv->cfg.rtp_port_max - lo + 1) / 2;
  if (pairs <= 0) return VG_EINVAL;
  int family = c->peer_addr.ss_family == AF_INET6 ? AF_INET6 : AF_INET;
  /* Bind plain sockets first so that a taken port costs no libuv handle. */
  for (int attempt = 0; attempt < pairs && attempt < 200; attempt++) {
    unsigned k = atomic_fetch_add(&srv->next_udp_port, 1) % (unsigned)pairs;
    int port = lo + 2 * (int)k;
    int fd_rtp = bind_udp(family, srv->cfg.bind, port);
    if (fd_rtp < 0) continue;
    int fd_rtcp = bind_udp(family, srv->cfg.bind, port + 1);
    if (fd_rtcp < 0) {
      close(fd_rtp);
      continue;
    }
    uv_udp_init(loop, &t->rtp_sock);
    t->rtp_sock.data = c;
    t->rtp_open = 1;
    rtsp_handle_opened(c);
    uv_udp_init(loop, &t->rtcp_sock);
    t->rtcp_sock.data = c;
    t->rtcp_open = 1;
    rtsp_handle_opened(c);
    int r = uv_udp_open(&t->rtp_sock, fd_rtp);
    if (r < 0) close(fd_rtp);
    int r2 = uv_udp_open(&t->rtcp_sock, fd_rtcp);
    if (r2 < 0) close(fd_rtcp);
    if (r < 0 || r2 < 0) return r < 0 ? r : r2;
    t->server_port = (uint16_t)port;
    if (rtp_cb) uv_udp_recv_start(&t->rtp_sock, rtsp_udp_alloc, rtp_cb);
    if (rtcp_cb) uv_udp_recv_start(&t->rtcp_sock, rtsp_udp_alloc, rtcp_cb);
    return 0;
  }
  return VG_EBUSY;
}

/* ---- requests ------------------------------------------------------------- */

int rtsp_uri_path(const vg_rtsp_str_t *uri, char *path, size_t size, char *last, size_t last_size) {
  char raw[1024];
  if (vg_rtsp_str_copy(*uri, raw, sizeof(raw)) < 0) return VG_ETOOBIG;
  const char *p = raw;
  if (strncasecmp(p, "rtsp://", 7) == 0 || strncasecmp(p, "rtsps://", 8) == 0) {
    p = strstr(p, "://") + 3;
    p += strcspn(p, "/");
  }
  while (*p == '/')
    p++;
  size_t n = strcspn(p, "?#");
  while (n > 0 && p[n - 1] == '/')
    n--;
  if (n >= size) return VG_ETOOBIG;
  memcpy(path, p, n);
  path[n] = 0;
  if (last) {
    last[0] = 0;
    char *slash = strrchr(path, '/');
    if (slash && strlen(slash + 1) < last_size) {
      snprintf(last, last_size, "%s", slash + 1);
    }
  }
  return 0;
}

/* Basic credentials checked by the embedder's user check: 0, VG_EAUTH or
 * VG_ENOTFOUND (see vg_rtsp_user_check_fn). */
static int check_user_hook(rtsp_conn_t *c, const vg_rtsp_str_t *authz, int publish) {
  vg_auth_credentials_t *cred = calloc(1, sizeof(*cred));
  if (!cred) return VG_EAUTH;
  int r = VG_EAUTH;
  if (vg_auth_parse_credentials(authz->p, authz->len, cred) == 0 && cred->scheme == VG_AUTH_BASIC) {
    char peer[64] = "";
    if (c->peer_addr.ss_family == AF_INET)
      inet_ntop(AF_INET, &((struct sockaddr_in *)&c->peer_addr)->sin_addr, peer, sizeof(peer));
    else if (c->peer_addr.ss_family == AF_INET6)
      inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&c->peer_addr)->sin6_addr, peer, sizeof(peer));
    r = c->srv->cfg.user_check(c->srv->cfg.user_check_opaque, cred->username, cred->password, c->path, peer,
                               publish);
  }
  explicit_bzero(cred, sizeof(*cred));
  free(cred);
  return r;
}

/* Whether the request carries valid credentials for role (0 read, 1
 * publish) on this path; otherwise answers 401 and returns 0. */
static int check_auth(rtsp_conn_t *c, const vg_rtsp_msg_t *req, int publish) {
  vg_rtsp_server_t *srv = c->srv;
  const vg_auth_user_t *users = publish ? srv->publish_users : srv->read_users;
  int n = publish ? srv->cfg.publish_user_count : srv->cfg.read_user_count;
  vg_auth_user_t fault_user;
  if (c->has_faults && c->faults.require_auth) {
    fault_user.user = c->faults.cred.user;
    fault_user.password = c->faults.cred.pass;
    users = &fault_user;
    n = 1;
  }
  int hook = srv->cfg.user_check && users != &fault_user;
  if (n == 0 && !hook) return 1;
  int *authed = publish ? &c->authed_publish : &c->authed_read;
  const vg_rtsp_str_t *authz = vg_rtsp_msg_header(req, "Authorization");
  int stale = 0;
  if (authz) {
    char method[32], uri[1024];
    if (n > 0 && vg_rtsp_str_copy(req->method, method, sizeof(method)) >= 0 &&
        vg_rtsp_str_copy(req->uri, uri, sizeof(uri)) >= 0) {
      int64_t now_s = vg_time_mono_us() / 1000000;
      int r = vg_auth_server_verify(&srv->auth, method, uri, authz->p, authz->len, users, n, now_s, &stale);
      if (r >= 0) {
        *authed = 1;
        return 1;
      }
    }
    int r = hook && !stale ? check_user_hook(c, authz, publish) : VG_EAUTH;
    if (r == 0) {
      *authed = 1;
      return 1;
    }
    if (r == VG_ENOTFOUND) {
      rtsp_conn_respond(c, req, 404, NULL, NULL, NULL, 0);
      return 0;
    }
    if (!stale) {
      atomic_fetch_add(&srv->auth_failures, 1);
      vg_log_info(&c->log, "authentication failed for %s", c->path);
    }
  } else if (*authed) {
    /* Some clients authenticate once per connection. */
    return 1;
  }
  char digest[512], basic[256];
  rtsp_hdr_t hdrs[3] = {{NULL, NULL}};
  int k = 0;
  /* Digest only when there are Digest users: clients prefer it, and the
   * users database can only check Basic. */
  if (n > 0 &&
      vg_auth_server_challenge(&srv->auth, vg_time_mono_us() / 1000000, stale, digest, sizeof(digest)) >= 0)
    hdrs[k++] = (rtsp_hdr_t){"WWW-Authenticate", digest};
  if (srv->auth.allow_basic && vg_auth_server_basic_challenge(&srv->auth, basic, sizeof(basic)) >= 0)
    hdrs[k++] = (rtsp_hdr_t){"WWW-Authenticate", basic};
  rtsp_conn_respond(c, req, 401, hdrs, NULL, NULL, 0);
  return 0;
}

static void conn_set_path(rtsp_conn_t *c, const char *path) {
  if (!c->path[0]) {
    snprintf(c->path, sizeof(c->path), "%s", path);
    c->has_faults = lookup_faults(c->srv, path, &c->faults);
  }
}

static void handle_setup(rtsp_conn_t *c, const vg_rtsp_msg_t *req, const char *path, const char *last) {
  const vg_rtsp_str_t *th = vg_rtsp_msg_header(req, "Transport");
  vg_rtsp_transport_t tr[4];
  int nt = th ? vg_rtsp_transport_parse(*th, tr, 4) : VG_EPROTO;
  if (nt <= 0) {
    rtsp_conn_respond(c, req, 461, NULL, NULL, NULL, 0);
    return;
  }
  /* Pick the first spec we can serve: unicast UDP or interleaved TCP. */
  int pick = -1;
  for (int i = 0; i < nt && pick < 0; i++)
    if (tr[i].lower == VG_RTSP_LOWER_TCP || tr[i].unicast) pick = i;
  if (pick < 0) {
    rtsp_conn_respond(c, req, 461, NULL, NULL, NULL, 0);
    return;
  }
  if (c->state == CONN_RECORDING || c->state == CONN_PLAYING) {
    rtsp_conn_respond(c, req, 455, NULL, NULL, NULL, 0);
    return;
  }
  if (c->path[0] && strcmp(c->path, path) != 0 && strncmp(path, c->path, strlen(c->path)) != 0) {
    /* One session per connection: a second path is not aggregated. */
    rtsp_conn_respond(c, req, 459, NULL, NULL, NULL, 0);
    return;
  }
  if (tr[pick].mode == VG_RTSP_MODE_RECORD || c->announce_sdp) {
    if (!check_auth(c, req, 1)) return;
    rtsp_publish_setup(c, req, &tr[pick], last);
    return;
  }
  if (!check_auth(c, req, 0)) return;
  int track = 0;
  const char *eq = strrchr(last, '=');
  if (strncmp(last, "trackID=", 8) == 0 && eq) {
    char *end;
    long v = strtol(eq + 1, &end, 10);
    if (*end || v < 0 || v >= VG_MAX_TRACKS) {
      rtsp_conn_respond(c, req, 404, NULL, NULL, NULL, 0);
      return;
    }
    track = (int)v;
  }
  rtsp_play_setup(c, req, &tr[pick], track);
}

/* The stream path of a request: the URI's path without a trailing
 * "/trackID=N" (ours) or the control part of an announced SDP. */
static void request_path(rtsp_conn_t *c, const vg_rtsp_msg_t *req, char *path, size_t size, char *last,
                         size_t last_size) {
  if (rtsp_uri_path(&req->uri, path, size, last, last_size) < 0) {
    path[0] = last[0] = 0;
    return;
  }
  if (vg_rtsp_msg_is(req, "SETUP") && c->path[0] && strncmp(path, c->path, strlen(c->path)) == 0 &&
      (path[strlen(c->path)] == '/' || path[strlen(c->path)] == 0)) {
    /* A track URL under the session's path. */
    snprintf(last, last_size, "%s", path[strlen(c->path)] == '/' ? path + strlen(c->path) + 1 : "");
    path[strlen(c->path)] = 0;
    return;
  }
  char *slash = strrchr(path, '/');
  if (vg_rtsp_msg_is(req, "SETUP") && slash && !c->path[0]) {
    *slash = 0;
    return;
  }
  if (!vg_rtsp_msg_is(req, "SETUP")) last[0] = 0;
}

static void handle_request(rtsp_conn_t *c, const vg_rtsp_msg_t *req) {
  vg_rtsp_server_t *srv = c->srv;
  uint32_t cseq;
  c->requests++;
  c->last_activity_us = vg_time_mono_us();
  if (vg_rtsp_msg_cseq(req, &cseq) != 0) {
    rtsp_conn_respond(c, req, 400, NULL, NULL, NULL, 0);
    return;
  }
  char path[128], last[64];
  request_path(c, req, path, sizeof(path), last, sizeof(last));
  if (!vg_rtsp_msg_is(req, "OPTIONS") || c->requests == 1) {
    vg_rtsp_path_faults_t f;
    const char *fault_path = c->path[0] ? c->path : path;
    if (c->requests == 1 && lookup_faults(srv, fault_path, &f) && f.refuse) {
      vg_log_info(&c->log, "refusing %s (fault injection)", fault_path);
      rtsp_conn_close(c, NULL);
      return;
    }
  }
  /* The session id must match ours once there is one. */
  vg_rtsp_session_t sess;
  if (c->session_id[0] && vg_rtsp_msg_session(req, &sess) == 0 && !vg_rtsp_str_eq(sess.id, c->session_id)) {
    rtsp_conn_respond(c, req, 454, NULL, NULL, NULL, 0);
    return;
  }

  if (vg_rtsp_msg_is(req, "OPTIONS")) {
    const char *pub = srv->cfg.allow_publish
                          ? "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER, "
                            "ANNOUNCE, RECORD"
                          : "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER";
    rtsp_hdr_t h[] = {{"Public", pub}, {NULL, NULL}};
    rtsp_conn_respond(c, req, 200, h, NULL, NULL, 0);
  } else if (vg_rtsp_msg_is(req, "DESCRIBE")) {
    conn_set_path(c, path);
    if (c->state == CONN_RECORDING || c->announce_sdp) {
      rtsp_conn_respond(c, req, 455, NULL, NULL, NULL, 0);
      return;
    }
    if (!check_auth(c, req, 0)) return;
    rtsp_play_describe(c, req);
  } else if (vg_rtsp_msg_is(req, "ANNOUNCE")) {
    if (!srv->cfg.allow_publish) {
      rtsp_conn_respond(c, req, 405,
                        (rtsp_hdr_t[]){{"Allow", "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN"}, {0}}, NULL,
                        NULL, 0);
      return;
    }
    if (c->state != CONN_INIT || c->hub) {
      rtsp_conn_respond(c, req, 455, NULL, NULL, NULL, 0);
      return;
    }
    conn_set_path(c, path);
    if (!check_auth(c, req, 1)) return;
    rtsp_publish_announce(c, req);
  } else if (vg_rtsp_msg_is(req, "SETUP")) {
    conn_set_path(c, path);
    handle_setup(c, req, path, last);
  } else if (vg_rtsp_msg_is(req, "PLAY")) {
    if (!check_auth(c, req, 0)) return;
    rtsp_play_play(c, req);
  } else if (vg_rtsp_msg_is(req, "RECORD")) {
    if (!check_auth(c, req, 1)) return;
    rtsp_publish_record(c, req);
  } else if (vg_rtsp_msg_is(req, "PAUSE")) {
    rtsp_play_pause(c, req);
  } else if (vg_rtsp_msg_is(req, "TEARDOWN")) {
    rtsp_conn_respond(c, req, 200, NULL, NULL, NULL, 0);
    /* The session ends; the connection stays for the client to close (or
     * to start another session on). */
    rtsp_play_stop(c);
    rtsp_publish_stop(c, "TEARDOWN");
    c->state = CONN_INIT;
    c->session_id[0] = 0;
  } else if (vg_rtsp_msg_is(req, "GET_PARAMETER") || vg_rtsp_msg_is(req, "SET_PARAMETER")) {
    rtsp_conn_respond(c, req, 200, NULL, NULL, NULL, 0);
  } else {
    rtsp_conn_respond(c, req, 501, NULL, NULL, NULL, 0);
  }
}

/* RTCP from an interleaved reader (receiver reports) keeps the session
 * alive; RTP/RTCP from a publisher is media. */
static void handle_frame(rtsp_conn_t *c, const vg_rtsp_frame_t *f) {
  c->last_activity_us = vg_time_mono_us();
  if (c->state == CONN_RECORDING || c->announce_sdp) rtsp_publish_interleaved(c, f->channel, f->data, f->len);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  rtsp_conn_t *c = h->data;
  if (!c->in) c->in = malloc(RTSP_IN_MAX);
  if (!c->in || c->in_len >= RTSP_IN_MAX) {
    *buf = uv_buf_init(NULL, 0);
    return;
  }
  *buf = uv_buf_init((char *)c->in + c->in_len, (unsigned)(RTSP_IN_MAX - c->in_len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  rtsp_conn_t *c = s->data;
  if (nread == UV_ENOBUFS) {
    rtsp_conn_close(c, c->in ? "message exceeds the input buffer" : "out of memory");
    return;
  }
  if (nread < 0) {
    rtsp_conn_close(c, nread == UV_EOF ? "closed by peer" : uv_strerror((int)nread));
    return;
  }
  c->in_len += (size_t)nread;
  size_t off = 0;
  while (!c->closing && off < c->in_len) {
    vg_rtsp_msg_t msg;
    vg_rtsp_frame_t frame;
    size_t used = 0;
    int r = vg_rtsp_parse(c->in + off, c->in_len - off, NULL, &msg, &frame, &used);
    if (r == VG_EINCOMPLETE) break;
    if (r < 0) {
      vg_log_warn(&c->log, "bad input (%s), closing", vg_strerror(r));
      rtsp_conn_close(c, NULL);
      return;
    }
    if (r == VG_RTSP_FRAME)
      handle_frame(c, &frame);
    else if (msg.is_response)
      c->last_activity_us = vg_time_mono_us(); /* an answer to nothing we sent: ignore */
    else
      handle_request(c, &msg);
    off += used;
  }
  if (c->closing) return;
  if (off) {
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
  }
  if (c->in_len == RTSP_IN_MAX) {
    vg_log_warn(&c->log, "message exceeds %d bytes, closing", RTSP_IN_MAX);
    rtsp_conn_close(c, NULL);
  }
}

static void on_tick(uv_timer_t *t) {
  rtsp_conn_t *c = t->data;
  int64_t now = vg_time_mono_us();
  int64_t idle = now - c->last_activity_us;
  int64_t limit = (int64_t)c->srv->cfg.session_timeout_s * 1000000;
  /* Interleaved players are alive while their connection is; everyone else
   * must send requests, RTCP or media within the timeout. */
  int tcp_player = c->state == CONN_PLAYING && !c->out[0].udp;
  if (!tcp_player && idle > limit) {
    rtsp_conn_close(c, "session timed out");
    return;
  }
  rtsp_play_tick(c, now);
}

static void on_connection(uv_stream_t *server, int status) {
  rtsp_shard_t *sh = server->data;
  if (status < 0) {
    vg_log_warn(&server_log, "accept error: %s", uv_strerror(status));
    return;
  }
  rtsp_conn_t *c = calloc(1, sizeof(*c));
  if (!c) return;
  uv_loop_t *loop = vg_worker_loop(sh->worker);
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c;
  c->shard = sh;
  c->srv = sh->srv;
  c->handles_open = 1;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
    return;
  }
  sh->handles_open++;
  c->next = sh->conns;
  if (sh->conns) sh->conns->prev = c;
  sh->conns = c;
  atomic_fetch_add(&sh->srv->sessions, 1);
  atomic_fetch_add(&sh->srv->sessions_total, 1);
  int len = sizeof(c->peer_addr);
  uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer_addr, &len);
  if (c->peer_addr.ss_family == AF_INET6) {
    uv_ip6_name((struct sockaddr_in6 *)&c->peer_addr, c->peer_ip, sizeof(c->peer_ip));
    snprintf(c->peer, sizeof(c->peer), "[%s]:%d", c->peer_ip,
             ntohs(((struct sockaddr_in6 *)&c->peer_addr)->sin6_port));
  } else {
    uv_ip4_name((struct sockaddr_in *)&c->peer_addr, c->peer_ip, sizeof(c->peer_ip));
    snprintf(c->peer, sizeof(c->peer), "%s:%d", c->peer_ip,
             ntohs(((struct sockaddr_in *)&c->peer_addr)->sin_port));
  }
  c->log = VG_LOG_CTX("rtsp-server", c->peer);
  c->last_activity_us = vg_time_mono_us();
  uv_tcp_nodelay(&c->tcp, 1);
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  c->handles_open++;
  uv_timer_start(&c->timer, on_tick, 1000, 1000);
  uv_timer_init(loop, &c->aux_timer);
  c->aux_timer.data = c;
  c->handles_open++;
  int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (r < 0) rtsp_conn_close(c, uv_strerror(r));
}

/* ---- shards, start and stop ----------------------------------------------- */

static void shard_handle_done(rtsp_shard_t *sh) {
  if (--sh->handles_open > 0) return;
  vg_rtsp_server_t *srv = sh->srv;
  pthread_mutex_lock(&srv->lock);
  srv->shards_open--;
  pthread_cond_broadcast(&srv->cond);
  pthread_mutex_unlock(&srv->lock);
}

static void shard_listener_closed(uv_handle_t *h) { shard_handle_done(h->data); }

static void shard_wake_closed(uv_handle_t *h) {
  rtsp_shard_t *sh = h->data;
  /* Connections closed while queued were left for the drain: free them. */
  rtsp_conn_t *c = atomic_exchange(&sh->pending, NULL);
  while (c) {
    rtsp_conn_t *next = c->pending_next;
    atomic_store(&c->queued, 0);
    if (c->closing && c->handles_open == 0) rtsp_conn_free(c);
    c = next;
  }
  shard_handle_done(sh);
}

typedef struct {
  rtsp_shard_t *sh;
  int port;
  int result;
  int done;
} shard_start_t;

static int listen_socket(const vg_rtsp_server_config_t *cfg, int port, struct sockaddr_storage *addr) {
  memset(addr, 0, sizeof(*addr));
  int family = AF_INET;
  if (uv_ip4_addr(cfg->bind, port, (struct sockaddr_in *)addr) != 0) {
    if (uv_ip6_addr(cfg->bind, port, (struct sockaddr_in6 *)addr) != 0) return VG_EINVAL;
    family = AF_INET6;
  }
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return vg_err_from_errno();
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  /* One listener per worker on the same port: the kernel spreads
   * connections over them. */
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  socklen_t alen = family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  if (bind(fd, (struct sockaddr *)addr, alen) != 0) {
    int e = vg_err_from_errno();
    close(fd);
    return e;
  }
  return fd;
}

static void shard_start_task(void *arg) {
  shard_start_t *st = arg;
  rtsp_shard_t *sh = st->sh;
  vg_rtsp_server_t *srv = sh->srv;
  uv_loop_t *loop = vg_worker_loop(sh->worker);
  struct sockaddr_storage addr;
  int r = 0;
  int fd = listen_socket(&srv->cfg, st->port, &addr);
  if (fd < 0) r = fd;
  if (r == 0) {
    uv_tcp_init(loop, &sh->listener);
    sh->listener.data = sh;
    sh->listener_open = 1;
    sh->handles_open++;
    r = uv_tcp_open(&sh->listener, fd);
    if (r == 0) r = uv_listen((uv_stream_t *)&sh->listener, 511, on_connection);
    if (r == 0) {
      struct sockaddr_storage bound;
      int len = sizeof(bound);
      uv_tcp_getsockname(&sh->listener, (struct sockaddr *)&bound, &len);
      st->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                   : ((struct sockaddr_in *)&bound)->sin_port);
    }
  }
  if (r == 0) {
    uv_async_init(loop, &sh->wake, rtsp_shard_drain_pending);
    sh->wake.data = sh;
    sh->wake_open = 1;
    sh->handles_open++;
  }
  pthread_mutex_lock(&srv->lock);
  if (sh->handles_open > 0) srv->shards_open++;
  st->result = r;
  st->done = 1;
  pthread_cond_broadcast(&srv->cond);
  pthread_mutex_unlock(&srv->lock);
}

static void shard_close_task(void *arg) {
  rtsp_shard_t *sh = arg;
  sh->closing = 1;
  for (rtsp_conn_t *c = sh->conns; c; c = c->next)
    rtsp_conn_close(c, "server stopping");
  if (sh->listener_open) uv_close((uv_handle_t *)&sh->listener, shard_listener_closed);
  if (sh->wake_open) uv_close((uv_handle_t *)&sh->wake, shard_wake_closed);
  sh->listener_open = sh->wake_open = 0;
}

static void wait_shards_closed(vg_rtsp_server_t *srv) {
  for (int i = 0; i < srv->shard_count; i++) {
    if (vg_worker_post(srv->shards[i].worker, shard_close_task, &srv->shards[i]) != 0) {
      vg_log_error(&server_log, "workers stopped before the RTSP server");
    }
  }
  pthread_mutex_lock(&srv->lock);
  while (srv->shards_open > 0)
    pthread_cond_wait(&srv->cond, &srv->lock);
  pthread_mutex_unlock(&srv->lock);
}

static void server_free(vg_rtsp_server_t *srv) {
  while (srv->faults) {
    rtsp_fault_entry_t *e = srv->faults;
    srv->faults = e->next;
    free(e);
  }
  pthread_mutex_destroy(&srv->lock);
  pthread_cond_destroy(&srv->cond);
  free(srv->shards);
  free(srv);
}

int vg_rtsp_server_start(const vg_rtsp_server_config_t *cfg, vg_rtsp_server_t **out) {
  int n = vg_workers_count();
  if (n <= 0) return VG_ESTATE;
  vg_rtsp_server_t *srv = calloc(1, sizeof(*srv));
  if (!srv) return VG_ENOMEM;
  srv->cfg = *cfg;
  pthread_mutex_init(&srv->lock, NULL);
  pthread_cond_init(&srv->cond, NULL);
  int r = vg_auth_server_init(&srv->auth, cfg->realm[0] ? cfg->realm : "vigil", NULL, 0);
  if (r < 0) {
    server_free(srv);
    return r;
  }
  srv->auth.allow_basic = 1;
  for (int i = 0; i < cfg->read_user_count && i < 16; i++)
    srv->read_users[i] = (vg_auth_user_t){srv->cfg.read_users[i].user, srv->cfg.read_users[i].pass};
  for (int i = 0; i < cfg->publish_user_count && i < 16; i++)
    srv->publish_users[i] = (vg_auth_user_t){srv->cfg.publish_users[i].user, srv->cfg.publish_users[i].pass};
  srand48((long)vg_time_mono_us() ^ (long)getpid());
  atomic_store(&srv->next_udp_port, (unsigned)lrand48());
  srv->shards = calloc((size_t)n, sizeof(*srv->shards));
  if (!srv->shards) {
    server_free(srv);
    return VG_ENOMEM;
  }
  srv->shard_count = n;
  if (cfg->allow_publish) rtsp_publish_register_source();
  /* Shard 0 first: with port 0 it picks the port the others then share. */
  int port = cfg->port;
  for (int i = 0; i < n && r == 0; i++) {
    rtsp_shard_t *sh = &srv->shards[i];
    sh->srv = srv;
    sh->index = i;
    sh->worker = vg_worker_at(i);
    shard_start_t st = {sh, port, 0, 0};
    if (vg_worker_post(sh->worker, shard_start_task, &st) != 0) {
      r = VG_ECANCELED;
      break;
    }
    pthread_mutex_lock(&srv->lock);
    while (!st.done)
      pthread_cond_wait(&srv->cond, &srv->lock);
    pthread_mutex_unlock(&srv->lock);
    r = st.result;
    port = st.port;
  }
  if (r != 0) {
    vg_log_error(&server_log, "cannot listen on %s:%d: %s", cfg->bind, cfg->port, vg_strerror(r));
    wait_shards_closed(srv);
    server_free(srv);
    return r;
  }
  srv->cfg.port = port;
  vg_log_info(&server_log, "listening on rtsp://%s:%d/ (%d workers, publishing %s)", cfg->bind, port, n,
              cfg->allow_publish ? "allowed" : "off");
  *out = srv;
  return 0;
}

void vg_rtsp_server_stop(vg_rtsp_server_t **srvp) {
  vg_rtsp_server_t *srv = *srvp;
  if (!srv) return;
  *srvp = NULL;
  wait_shards_closed(srv);
  server_free(srv);
}
