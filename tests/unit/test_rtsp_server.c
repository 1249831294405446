/* Unit tests for the RTSP server: configuration, and an in-process session
 * (hub -> DESCRIBE/SETUP/PLAY over a real socket -> interleaved RTP), plus
 * fault injection and the latency histogram. */
// clang-format off: cmocka needs these first, in this order.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_ports.h"
// clang-format on
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/error.h"
#include "base/time.h"
#include "live/rtsp_server.h"
#include "net/worker.h"
#include "stream/hub.h"

static void test_config(void **state) {
  vg_rtsp_server_config_t cfg;
  vg_cfg_t c = {0};
  assert_int_equal(vg_rtsp_server_config_parse(&c, NULL, &cfg), 0);
  assert_int_equal(cfg.port, 8554);
  assert_int_equal(cfg.rtp_port_min, 20000);
  assert_true(cfg.allow_publish);
  assert_string_equal(cfg.realm, "vigil");

  json_t *root;
  memset(&c, 0, sizeof(c));
  assert_int_equal(vg_cfg_load_string(&c,
                                      "{\"port\": 9554, \"allow_publish\": false, \"read_users\": "
                                      "[{\"user\": \"a\", \"pass\": \"b\"}], \"session_timeout_s\": 30}",
                                      &root),
                   0);
  assert_int_equal(vg_rtsp_server_config_parse(&c, root, &cfg), 0);
  assert_int_equal(cfg.port, 9554);
  assert_false(cfg.allow_publish);
  assert_int_equal(cfg.read_user_count, 1);
  assert_string_equal(cfg.read_users[0].pass, "b");
  assert_int_equal(cfg.publish_user_count, 0);
  json_decref(root);

  memset(&c, 0, sizeof(c));
  vg_cfg_enter(&c, "rtsp_server");
  assert_int_equal(vg_cfg_load_string(&c, "{\"prot\": 1}", &root), 0);
  assert_int_equal(vg_rtsp_server_config_parse(&c, root, &cfg), VG_ECONFIG);
  assert_non_null(strstr(c.err_path, "prot"));
  json_decref(root);

  memset(&c, 0, sizeof(c));
  assert_int_equal(vg_cfg_load_string(&c, "{\"read_users\": [{\"user\": \"a:b\", \"pass\": \"x\"}]}", &root),
                   0);
  assert_int_equal(vg_rtsp_server_config_parse(&c, root, &cfg), VG_ECONFIG);
  json_decref(root);
}

static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {
      .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

/* Sends a request and reads the response head (and body) into out. Returns the status. */
static int request(int fd, const char *text, char *out, size_t size) {
  assert_int_equal(send(fd, text, strlen(text), 0), (ssize_t)strlen(text));
  size_t len = 0;
  out[0] = 0;
  while (len < size - 1) {
    ssize_t n = recv(fd, out + len, 1, 0);
    if (n <= 0) break;
    len += (size_t)n;
    out[len] = 0;
    if (len >= 4 && memcmp(out + len - 4, "\r\n\r\n", 4) == 0) break;
  }
  const char *cl = strcasestr(out, "Content-Length:");
  if (cl) {
    int body = atoi(cl + 15);
    while (body > 0 && len < size - 1) {
      ssize_t n = recv(fd, out + len, 1, 0);
      if (n <= 0) break;
      len += (size_t)n;
      body--;
    }
    out[len] = 0;
  }
  int status = 0;
  sscanf(out, "RTSP/1.0 %d", &status);
  return status;
}

static void push_pcmu(vg_hub_t *hub, int64_t pts, uint8_t fill) {
  vg_frame_t f = {0};
  f.buf = vg_buf_alloc(160);
  f.buf->len = 160;
  memset(f.buf->data, fill, 160);
  f.data = f.buf->data;
  f.len = 160;
  f.pts = pts;
  f.flags = VG_FRAME_KEY;
  f.recv_us = vg_time_mono_us();
  vg_hub_push(hub, &f);
  vg_buf_unref(&f.buf);
}

static int read_full(int fd, uint8_t *p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = recv(fd, p + got, n - got, 0);
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

static void test_session(void **state) {
  assert_int_equal(vg_workers_start(2), 0);
  vg_hub_t *hub = vg_hub_new("unit1");
  vg_track_t t = {.codec = VG_CODEC_PCMU, .clock_rate = 8000, .sample_rate = 8000, .channels = 1};
  assert_int_equal(vg_hub_set_tracks(hub, &t, 1), 0);
  assert_int_equal(vg_hub_register(hub), 0);
  push_pcmu(hub, 0, 1);

  vg_rtsp_server_config_t cfg;
  vg_rtsp_server_config_defaults(&cfg);
  snprintf(cfg.bind, sizeof(cfg.bind), "127.0.0.1");
  cfg.allow_publish = false;
  vg_rtsp_server_t *srv;
  int rc = -1;
  for (int i = 0; i < 20 && rc != 0; i++) cfg.port = vg_test_port(), rc = vg_rtsp_server_start(&cfg, &srv);
  assert_int_equal(rc, 0);
  double p50, p99;
  assert_int_equal(vg_rtsp_server_latency(srv, &p50, &p99), VG_ENODATA);

  char url[128], req[512], resp[8192];
  snprintf(url, sizeof(url), "rtsp://127.0.0.1:%d/unit1", cfg.port);
  int fd = connect_to(cfg.port);
  snprintf(req, sizeof(req), "DESCRIBE %s RTSP/1.0\r\nCSeq: 1\r\n\r\n", url);
  assert_int_equal(request(fd, req, resp, sizeof(resp)), 200);
  assert_non_null(strstr(resp, "m=audio 0 RTP/AVP 0"));
  assert_non_null(strstr(resp, "a=control:trackID=0"));
  snprintf(req, sizeof(req),
           "SETUP %s/trackID=0 RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP/TCP;unicast;interleaved=4-5\r\n\r\n",
           url);
  assert_int_equal(request(fd, req, resp, sizeof(resp)), 200);
  assert_non_null(strstr(resp, "interleaved=4-5"));
  char session[32] = {0};
  const char *s = strcasestr(resp, "Session: ");
  assert_non_null(s);
  sscanf(s + 9, "%31[^;\r]", session);
  snprintf(req, sizeof(req), "PLAY %s RTSP/1.0\r\nCSeq: 3\r\nSession: %s\r\n\r\n", url, session);
  assert_int_equal(request(fd, req, resp, sizeof(resp)), 200);
  assert_non_null(strstr(resp, "RTP-Info: url="));
  assert_non_null(strstr(resp, "rtptime="));

  /* The cached frame, then two live ones, in order with consecutive seq. */
  push_pcmu(hub, 160, 2);
  push_pcmu(hub, 320, 3);
  int seq0 = -1;
  uint32_t ts0 = 0;
  for (int i = 0; i < 3; i++) {
    uint8_t h[4], pkt[2048];
    assert_int_equal(read_full(fd, h, 4), 0);
    if (h[0] != '$') fail_msg("expected an interleaved frame, got 0x%02x", h[0]);
    size_t len = (size_t)h[2] << 8 | h[3];
    assert_int_equal(read_full(fd, pkt, len), 0);
    if (h[1] == 5) { /* RTCP */
      i--;
      continue;
    }
    assert_int_equal(h[1], 4);
    assert_int_equal(len, 12 + 160);
    assert_int_equal(pkt[0] >> 6, 2);
    assert_int_equal(pkt[1] & 0x7f, 0);
    int seq = pkt[2] << 8 | pkt[3];
    uint32_t ts = (uint32_t)pkt[4] << 24 | (uint32_t)pkt[5] << 16 | (uint32_t)pkt[6] << 8 | pkt[7];
    if (seq0 < 0) {
      seq0 = seq;
      ts0 = ts;
    }
    assert_int_equal(seq, (seq0 + i) & 0xffff);
    assert_int_equal(ts - ts0, (uint32_t)(160 * i));
    assert_int_equal(pkt[12], i + 1);
  }
  assert_int_equal(vg_rtsp_server_latency(srv, &p50, &p99), 0);
  assert_true(p50 > 0 && p99 >= p50);
  vg_rtsp_server_stats_t st;
  vg_rtsp_server_get_stats(srv, &st);
  assert_int_equal(st.sessions, 1);
  assert_true(st.bytes_out > 3 * 172);

  /* ANNOUNCE is refused with publishing off; garbage closes only that connection. */
  int fd2 = connect_to(cfg.port);
  snprintf(req, sizeof(req), "ANNOUNCE %s RTSP/1.0\r\nCSeq: 1\r\n\r\n", url);
  assert_int_equal(request(fd2, req, resp, sizeof(resp)), 405);
  assert_int_equal(send(fd2, "\x01garbage\r\n\r\n", 12, 0), 12);
  assert_true(recv(fd2, resp, sizeof(resp), 0) <= 0);
  close(fd2);

  /* Fault injection: refused path. */
  vg_rtsp_path_faults_t f = {.refuse = true};
  assert_int_equal(vg_rtsp_server_set_faults(srv, "unit1", &f), 0);
  fd2 = connect_to(cfg.port);
  snprintf(req, sizeof(req), "DESCRIBE %s RTSP/1.0\r\nCSeq: 1\r\n\r\n", url);
  assert_int_equal(request(fd2, req, resp, sizeof(resp)), 0);
  close(fd2);
  /* require_auth on the path. */
  f = (vg_rtsp_path_faults_t){.require_auth = true};
  snprintf(f.cred.user, sizeof(f.cred.user), "u");
  snprintf(f.cred.pass, sizeof(f.cred.pass), "p");
  assert_int_equal(vg_rtsp_server_set_faults(srv, "unit1", &f), 0);
  fd2 = connect_to(cfg.port);
  assert_int_equal(request(fd2, req, resp, sizeof(resp)), 401);
  assert_non_null(strstr(resp, "WWW-Authenticate: Digest"));
  close(fd2);
  assert_int_equal(vg_rtsp_server_set_faults(srv, "unit1", NULL), 0);

  vg_rtsp_server_stop(&srv);
  assert_null(srv);
  /* The server closed the session. */
  assert_true(recv(fd, resp, sizeof(resp), 0) >= 0);
  close(fd);
  vg_hub_unregister(hub);
  vg_hub_unref(&hub);
  vg_workers_stop();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config),
      cmocka_unit_test(test_session),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
