/* Unit tests for src/proto/rtsp: the message/interleaved parser, header
 * helpers and the writer, on real ffmpeg traffic and hand-made edge cases. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "proto/rtsp.h"

static int parse_str(const char *s, vg_rtsp_msg_t *msg, size_t *used) {
  vg_rtsp_frame_t frame;
  return vg_rtsp_parse((const uint8_t *)s, strlen(s), NULL, msg, &frame, used);
}

static uint8_t *read_data(const char *name, size_t *len) {
  char path[1024];
  const char *dir = getenv("VG_TEST_DATA");
  snprintf(path, sizeof(path), "%s/proto/%s", dir ? dir : "tests/data", name);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  uint8_t *buf = malloc(1 << 20);
  *len = fread(buf, 1, 1 << 20, f);
  fclose(f);
  return buf;
}

static void test_request_with_headers(void **state) {
  const char *s = "DESCRIBE rtsp://10.0.0.5/Streaming/Channels/101 RTSP/1.0\r\n"
                  "CSeq: 2\r\n"
                  "Accept: application/sdp\r\n"
                  "User-Agent: Lavf59.27.100\r\n\r\n";
  vg_rtsp_msg_t m;
  size_t used;
  assert_int_equal(parse_str(s, &m, &used), VG_RTSP_MESSAGE);
  assert_int_equal(used, strlen(s));
  assert_false(m.is_response);
  assert_true(vg_rtsp_msg_is(&m, "DESCRIBE"));
  assert_true(vg_rtsp_str_eq(m.uri, "rtsp://10.0.0.5/Streaming/Channels/101"));
  assert_int_equal(m.version_major, 1);
  assert_int_equal(m.version_minor, 0);
  assert_int_equal(m.n_headers, 3);
  const vg_rtsp_str_t *v = vg_rtsp_msg_header(&m, "accept");
  assert_non_null(v);
  assert_true(vg_rtsp_str_eq(*v, "application/sdp"));
  uint32_t cseq;
  assert_int_equal(vg_rtsp_msg_cseq(&m, &cseq), 0);
  assert_int_equal(cseq, 2);
  assert_null(m.body);
}

static void test_response_with_body_lf_only_and_folding(void **state) {
  const char *s = "RTSP/1.0 200 OK\n"
                  "CSeq : 3\n"
                  "Content-Base: rtsp://cam/live/\n"
                  "X-Folded: first\n"
                  "   second\n"
                  "Content-Type: application/sdp\n"
                  "Content-Length:\t5\n"
                  "\n"
                  "v=0\r\nRTSP/1.0";
  vg_rtsp_msg_t m;
  size_t used;
  assert_int_equal(parse_str(s, &m, &used), VG_RTSP_MESSAGE);
  assert_true(m.is_response);
  assert_int_equal(m.status, 200);
  assert_true(vg_rtsp_str_eq(m.reason, "OK"));
  assert_int_equal(m.body_len, 5);
  assert_memory_equal(m.body, "v=0\r\n", 5);
  assert_int_equal(used, strlen(s) - strlen("RTSP/1.0"));
  uint32_t cseq;
  assert_int_equal(vg_rtsp_msg_cseq(&m, &cseq), 0);
  assert_int_equal(cseq, 3);
  vg_rtsp_str_t base;
  assert_int_equal(vg_rtsp_msg_content_base(&m, &base), 0);
  assert_true(vg_rtsp_str_eq(base, "rtsp://cam/live/"));
  const vg_rtsp_str_t *f = vg_rtsp_msg_header(&m, "X-Folded");
  assert_non_null(f);
  assert_memory_equal(f->p, "first", 5);
  assert_memory_equal(f->p + f->len - 6, "second", 6);
}

static void test_status_line_variants(void **state) {
  vg_rtsp_msg_t m;
  size_t used;
  assert_int_equal(parse_str("RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\n\r\n", &m, &used), VG_RTSP_MESSAGE);
  assert_int_equal(m.status, 401);
  assert_int_equal(parse_str("RTSP/1.0 200\r\n\r\n", &m, &used), VG_RTSP_MESSAGE);
  assert_int_equal(m.reason.len, 0);
  assert_int_equal(parse_str("RTSP/1.0 454 Session Not Found\r\n\r\n", &m, &used), VG_RTSP_MESSAGE);
  assert_true(vg_rtsp_str_eq(m.reason, "Session Not Found"));
  assert_int_equal(parse_str("RTSP/2.0 200 OK\r\n\r\n", &m, &used), VG_EPROTO);
  assert_int_equal(parse_str("RTSP/1.0 20 OK\r\n\r\n", &m, &used), VG_EPROTO);
  assert_int_equal(parse_str("RTSP/1.0 abc OK\r\n\r\n", &m, &used), VG_EPROTO);
  assert_int_equal(parse_str("HTTP/1.1 200 OK\r\n\r\n", &m, &used), VG_EPROTO);
  assert_int_equal(parse_str("OPTIONS * RTSP/1.0 extra\r\n\r\n", &m, &used), VG_EPROTO);
  assert_int_equal(parse_str("OPTIONS *\r\n\r\n", &m, &used), VG_EPROTO);
}

static void test_incomplete_at_every_split(void **state) {
  const char *s = "ANNOUNCE rtsp://h/x RTSP/1.0\r\nCSeq: 2\r\nContent-Length: 10\r\n\r\n0123456789";
  size_t n = strlen(s);
  vg_rtsp_msg_t m;
  vg_rtsp_frame_t f;
  for (size_t i = 0; i < n; i++) {
    size_t used = 99;
    assert_int_equal(vg_rtsp_parse((const uint8_t *)s, i, NULL, &m, &f, &used), VG_EINCOMPLETE);
    assert_int_equal(used, 0);
  }
  size_t used;
  assert_int_equal(vg_rtsp_parse((const uint8_t *)s, n, NULL, &m, &f, &used), VG_RTSP_MESSAGE);
  assert_int_equal(used, n);
}

static void test_garbage_and_limits(void **state) {
  vg_rtsp_msg_t m;
  size_t used;
  assert_int_equal(parse_str("hello there\r\nOPTIONS * RTSP/1.0\r\n\r\n", &m, &used), VG_EPROTO);
  assert_int_equal(parse_str("\x80\x60\x12\x34 binary", &m, &used), VG_EPROTO);
  assert_int_equal(parse_str("OPT\x01IONS", &m, &used), VG_EPROTO); /* refused before the line ends */
  assert_int_equal(parse_str(" OPTIONS * RTSP/1.0\r\n\r\n", &m, &used), VG_EPROTO);
  assert_int_equal(parse_str("OPTIONS * RTSP/1.0\r\nNoColon\r\n\r\n", &m, &used), VG_EPROTO);
  assert_int_equal(parse_str("OPTIONS * RTSP/1.0\r\n folded-first\r\n\r\n", &m, &used), VG_EPROTO);
  assert_int_equal(parse_str("OPTIONS * RTSP/1.0\r\nBad Name: x\r\n\r\n", &m, &used), VG_EPROTO);
  assert_int_equal(parse_str("OPTIONS * RTSP/1.0\r\nContent-Length: -1\r\n\r\n", &m, &used), VG_ETOOBIG);
  assert_int_equal(parse_str("OPTIONS * RTSP/1.0\r\nContent-Length: 99999999999999999999999\r\n\r\n", &m, &used),
                   VG_ETOOBIG);
  assert_int_equal(parse_str("OPTIONS * RTSP/1.0\r\nContent-Length: 65537\r\n\r\n", &m, &used), VG_ETOOBIG);
  assert_int_equal(parse_str("OPTIONS * RTSP/1.0\r\nContent-Length: 12x\r\n\r\n", &m, &used), VG_EPROTO);
  assert_int_equal(parse_str("OPTIONS * RTSP/1.0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", &m, &used),
                   VG_EPROTO);

  /* 65 headers exceed the default count; 16 KiB without a blank line exceeds the head. */
  char *big = malloc(40000);
  size_t n = (size_t)sprintf(big, "OPTIONS * RTSP/1.0\r\n");
  for (int i = 0; i < 65; i++) n += (size_t)sprintf(big + n, "X-H%d: v\r\n", i);
  strcpy(big + n, "\r\n");
  assert_int_equal(parse_str(big, &m, &used), VG_ETOOBIG);
  n = (size_t)sprintf(big, "OPTIONS * RTSP/1.0\r\nX-Long: ");
  memset(big + n, 'a', 17000);
  big[n + 17000] = 0;
  assert_int_equal(parse_str(big, &m, &used), VG_ETOOBIG);
  memset(big, 'A', 17000); /* a start line that never ends */
  big[17000] = 0;
  assert_int_equal(parse_str(big, &m, &used), VG_ETOOBIG);
  free(big);

  /* Configured limits. */
  vg_rtsp_limits_t lim = {.max_header_bytes = 64, .max_headers = 2, .max_body = 4};
  vg_rtsp_frame_t f;
  const char *s = "SET_PARAMETER * RTSP/1.0\r\nContent-Length: 5\r\n\r\nhello";
  assert_int_equal(vg_rtsp_parse((const uint8_t *)s, strlen(s), &lim, &m, &f, &used), VG_ETOOBIG);
  s = "OPTIONS * RTSP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
  assert_int_equal(vg_rtsp_parse((const uint8_t *)s, strlen(s), &lim, &m, &f, &used), VG_ETOOBIG);
}

static void test_interleaved_frames_between_messages(void **state) {
  uint8_t buf[256];
  size_t n = 0;
  const char *keepalive = "\r\n";
  memcpy(buf + n, keepalive, 2);
  n += 2;
  uint8_t frame1[] = {'$', 0, 0, 4, 0x80, 0x60, 0x00, 0x01};
  memcpy(buf + n, frame1, sizeof(frame1));
  n += sizeof(frame1);
  uint8_t frame_empty[] = {'$', 3, 0, 0};
  memcpy(buf + n, frame_empty, sizeof(frame_empty));
  n += sizeof(frame_empty);
  const char *resp = "RTSP/1.0 200 OK\r\nCSeq: 7\r\n\r\n";
  memcpy(buf + n, resp, strlen(resp));
  n += strlen(resp);

  vg_rtsp_msg_t m;
  vg_rtsp_frame_t f;
  size_t used, off = 0;
  assert_int_equal(vg_rtsp_parse(buf, n, NULL, &m, &f, &used), VG_RTSP_FRAME);
  assert_int_equal(used, 2 + 8);
  assert_int_equal(f.channel, 0);
  assert_int_equal(f.len, 4);
  assert_ptr_equal(f.data, buf + 6); /* zero copy */
  off += used;
  assert_int_equal(vg_rtsp_parse(buf + off, n - off, NULL, &m, &f, &used), VG_RTSP_FRAME);
  assert_int_equal(f.channel, 3);
  assert_int_equal(f.len, 0);
  off += used;
  assert_int_equal(vg_rtsp_parse(buf + off, 3, NULL, &m, &f, &used), VG_EINCOMPLETE);
  assert_int_equal(vg_rtsp_parse(buf + off, n - off, NULL, &m, &f, &used), VG_RTSP_MESSAGE);
  assert_int_equal(off + used, n);
  assert_int_equal(m.status, 200);

  /* A frame header claiming 65535 bytes waits for all of them. */
  uint8_t big[4] = {'$', 1, 0xff, 0xff};
  assert_int_equal(vg_rtsp_parse(big, 4, NULL, &m, &f, &used), VG_EINCOMPLETE);
}

/* Replays a real ffmpeg publishing session (OPTIONS, ANNOUNCE with SDP,
 * SETUP x2, RECORD, then interleaved RTP/RTCP) fed in small random chunks. */
static void test_real_ffmpeg_publish_session(void **state) {
  size_t total;
  uint8_t *data = read_data("ffmpeg_publish.bin", &total);
  uint8_t *buf = malloc(total);
  size_t have = 0, fed = 0;
  int requests = 0, frames = 0, rtcp = 0;
  const char *methods[5] = {"OPTIONS", "ANNOUNCE", "SETUP", "SETUP", "RECORD"};
  srand(7);
  while (fed < total) {
    size_t chunk = 1 + (size_t)rand() % 200;
    if (chunk > total - fed) chunk = total - fed;
    memcpy(buf + have, data + fed, chunk);
    have += chunk;
    fed += chunk;
    for (;;) {
      vg_rtsp_msg_t m;
      vg_rtsp_frame_t f;
      size_t used;
      int r = vg_rtsp_parse(buf, have, NULL, &m, &f, &used);
      if (r == VG_EINCOMPLETE) break;
      assert_true(r > 0);
      if (r == VG_RTSP_MESSAGE) {
        assert_true(requests < 5);
        assert_true(vg_rtsp_msg_is(&m, methods[requests]));
        uint32_t cseq;
        assert_int_equal(vg_rtsp_msg_cseq(&m, &cseq), 0);
        assert_int_equal(cseq, (uint32_t)requests + 1);
        if (requests == 1) {
          assert_int_equal(m.body_len, 499);
          assert_memory_equal(m.body, "v=0\r\n", 5);
        }
        if (requests == 3) {
          const vg_rtsp_str_t *t = vg_rtsp_msg_header(&m, "Transport");
          vg_rtsp_transport_t tr;
          assert_int_equal(vg_rtsp_transport_parse(*t, &tr, 1), 1);
          assert_int_equal(tr.lower, VG_RTSP_LOWER_TCP);
          assert_int_equal(tr.mode, VG_RTSP_MODE_RECORD);
          assert_int_equal(tr.interleaved[0], 2);
          assert_int_equal(tr.interleaved[1], 3);
          vg_rtsp_session_t sess;
          assert_int_equal(vg_rtsp_msg_session(&m, &sess), 0);
          assert_true(vg_rtsp_str_eq(sess.id, "12345678"));
        }
        requests++;
      } else {
        assert_true(f.channel <= 3);
        frames++;
        if (f.channel & 1) rtcp++;
        else assert_int_equal(f.data[0] >> 6, 2); /* RTP version 2 */
      }
      memmove(buf, buf + used, have - used);
      have -= used;
    }
  }
  assert_int_equal(requests, 5);
  assert_int_equal(frames, 3); /* the capture ends inside the fourth frame */
  assert_true(have > 0);
  assert_true(rtcp >= 1);
  free(buf);
  free(data);
}

static void test_session_header(void **state) {
  vg_rtsp_msg_t m;
  size_t used;
  vg_rtsp_session_t s;
  assert_int_equal(parse_str("RTSP/1.0 200 OK\r\nSession: 47112344;timeout=30\r\n\r\n", &m, &used), VG_RTSP_MESSAGE);
  assert_int_equal(vg_rtsp_msg_session(&m, &s), 0);
  assert_true(vg_rtsp_str_eq(s.id, "47112344"));
  assert_int_equal(s.timeout_s, 30);
  assert_true(s.has_timeout);
  assert_int_equal(parse_str("RTSP/1.0 200 OK\r\nSession:   A1b2C3 ; timeout = 65 \r\n\r\n", &m, &used),
                   VG_RTSP_MESSAGE);
  assert_int_equal(vg_rtsp_msg_session(&m, &s), 0);
  assert_true(vg_rtsp_str_eq(s.id, "A1b2C3"));
  assert_int_equal(s.timeout_s, 65);
  assert_int_equal(parse_str("RTSP/1.0 200 OK\r\nSession: xyz\r\n\r\n", &m, &used), VG_RTSP_MESSAGE);
  assert_int_equal(vg_rtsp_msg_session(&m, &s), 0);
  assert_int_equal(s.timeout_s, 60);
  assert_false(s.has_timeout);
  assert_int_equal(parse_str("RTSP/1.0 200 OK\r\nSession: xyz;timeout=abc\r\n\r\n", &m, &used), VG_RTSP_MESSAGE);
  assert_int_equal(vg_rtsp_msg_session(&m, &s), VG_EPROTO);
  assert_int_equal(parse_str("RTSP/1.0 200 OK\r\n\r\n", &m, &used), VG_RTSP_MESSAGE);
  assert_int_equal(vg_rtsp_msg_session(&m, &s), VG_ENOTFOUND);
  vg_rtsp_str_t base;
  assert_int_equal(vg_rtsp_msg_content_base(&m, &base), VG_ENOTFOUND);
  uint32_t cseq;
  assert_int_equal(vg_rtsp_msg_cseq(&m, &cseq), VG_ENOTFOUND);
}

static vg_rtsp_str_t S(const char *s) { return (vg_rtsp_str_t){s, strlen(s)}; }

static void test_transport_parse(void **state) {
  vg_rtsp_transport_t t[4];
  assert_int_equal(vg_rtsp_transport_parse(
                       S("RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971;ssrc=1F2E3D4C;mode=\"PLAY\""), t, 4),
                   1);
  assert_int_equal(t[0].lower, VG_RTSP_LOWER_UDP);
  assert_true(t[0].unicast);
  assert_int_equal(t[0].client_port[0], 5000);
  assert_int_equal(t[0].client_port[1], 5001);
  assert_int_equal(t[0].server_port[0], 6970);
  assert_true(t[0].has_ssrc);
  assert_int_equal(t[0].ssrc, 0x1F2E3D4C);
  assert_int_equal(t[0].mode, VG_RTSP_MODE_PLAY);

  /* A client's offer list; the unknown one is skipped. */
  assert_int_equal(vg_rtsp_transport_parse(S("RTP/SAVP;unicast, RTP/AVP/TCP;unicast;interleaved=4-5 ,"
                                             "rtp/avp/udp;multicast;destination=239.1.1.1;ttl=16;client_port=7000"),
                                           t, 4),
                   2);
  assert_int_equal(t[0].lower, VG_RTSP_LOWER_TCP);
  assert_int_equal(t[0].interleaved[0], 4);
  assert_int_equal(t[0].interleaved[1], 5);
  assert_false(t[1].unicast);
  assert_string_equal(t[1].destination, "239.1.1.1");
  assert_int_equal(t[1].ttl, 16);
  assert_int_equal(t[1].client_port[1], 7001);

  /* Single interleaved channel; ssrc written in decimal by a camera is dropped. */
  assert_int_equal(vg_rtsp_transport_parse(S("RTP/AVP/TCP;interleaved=0;ssrc=12345678901;mode=record"), t, 4), 1);
  assert_int_equal(t[0].interleaved[1], 1);
  assert_false(t[0].has_ssrc);
  assert_int_equal(t[0].mode, VG_RTSP_MODE_RECORD);

  assert_int_equal(vg_rtsp_transport_parse(S("RTP/AVP;client_port=70000-70001"), t, 4), VG_EPROTO);
  assert_int_equal(vg_rtsp_transport_parse(S("RTP/AVP/TCP;interleaved=x-1"), t, 4), VG_EPROTO);
  assert_int_equal(vg_rtsp_transport_parse(S("MP2T/H2221/UDP;unicast"), t, 4), VG_EUNSUPPORTED);
}

static void test_transport_format_roundtrip(void **state) {
  vg_rtsp_transport_t t = {.lower = VG_RTSP_LOWER_TCP, .unicast = 1, .has_interleaved = 1, .interleaved = {2, 3},
                           .mode = VG_RTSP_MODE_RECORD};
  char out[128];
  int n = vg_rtsp_transport_format(&t, out, sizeof(out));
  assert_string_equal(out, "RTP/AVP/TCP;unicast;interleaved=2-3;mode=record");
  assert_int_equal(n, (int)strlen(out));
  vg_rtsp_transport_t u = {.unicast = 1, .has_client_port = 1, .client_port = {50000, 50001},
                           .has_server_port = 1, .server_port = {6970, 6971}, .has_ssrc = 1, .ssrc = 0xdeadbeef};
  vg_rtsp_transport_format(&u, out, sizeof(out));
  assert_string_equal(out, "RTP/AVP;unicast;client_port=50000-50001;server_port=6970-6971;ssrc=DEADBEEF");
  vg_rtsp_transport_t back;
  assert_int_equal(vg_rtsp_transport_parse(S(out), &back, 1), 1);
  assert_int_equal(back.ssrc, 0xdeadbeef);
  assert_int_equal(back.server_port[1], 6971);
  assert_int_equal(vg_rtsp_transport_format(&u, out, 20), VG_ETOOBIG);
  assert_string_equal(out, "");
}

static void test_rtp_info_and_public(void **state) {
  vg_rtsp_rtp_info_t ri[4];
  const char *v = "url=rtsp://10.0.0.5/live/trackID=1;seq=17165;rtptime=1510372046, "
                  "url=rtsp://10.0.0.5/live/trackID=2?a=1,b=2;seq=3;rtptime=4294967295";
  assert_int_equal(vg_rtsp_rtp_info_parse(S(v), ri, 4), 2);
  assert_true(vg_rtsp_str_eq(ri[0].url, "rtsp://10.0.0.5/live/trackID=1"));
  assert_int_equal(ri[0].seq, 17165);
  assert_int_equal(ri[0].rtptime, 1510372046u);
  assert_true(vg_rtsp_str_eq(ri[1].url, "rtsp://10.0.0.5/live/trackID=2?a=1,b=2"));
  assert_int_equal(ri[1].rtptime, 4294967295u);
  assert_int_equal(vg_rtsp_rtp_info_parse(S("url=x;seq=70000"), ri, 4), VG_EPROTO);
  assert_int_equal(vg_rtsp_rtp_info_parse(S("seq=1"), ri, 4), VG_EPROTO);

  unsigned bits = vg_rtsp_public_parse(S("OPTIONS, DESCRIBE, SETUP, TEARDOWN, PLAY, PAUSE, GET_PARAMETER, X-FOO"));
  assert_true(bits & VG_RTSP_M_GET_PARAMETER);
  assert_true(bits & VG_RTSP_M_PLAY);
  assert_false(bits & VG_RTSP_M_RECORD);
  assert_int_equal(vg_rtsp_method_bit(S("ANNOUNCE")), VG_RTSP_M_ANNOUNCE);
}

static void test_writer(void **state) {
  char out[512];
  vg_rtsp_writer_t w;
  vg_rtsp_writer_init(&w, out, sizeof(out));
  vg_rtsp_write_status_line(&w, 200, NULL);
  vg_rtsp_write_header(&w, "CSeq", "%u", 3u);
  vg_rtsp_write_header(&w, "Content-Type", "application/sdp");
  int n = vg_rtsp_write_end(&w, "v=0\r\n", 5);
  const char *want = "RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n";
  assert_int_equal(n, (int)strlen(want));
  assert_memory_equal(out, want, strlen(want));

  /* What it writes parses back. */
  vg_rtsp_msg_t m;
  vg_rtsp_frame_t f;
  size_t used;
  assert_int_equal(vg_rtsp_parse((uint8_t *)out, (size_t)n, NULL, &m, &f, &used), VG_RTSP_MESSAGE);
  assert_int_equal(m.body_len, 5);

  vg_rtsp_writer_init(&w, out, sizeof(out));
  vg_rtsp_write_request_line(&w, "OPTIONS", "rtsp://cam/");
  vg_rtsp_write_header(&w, "User-Agent", "%s", "evil\r\nInjected: yes");
  assert_int_equal(vg_rtsp_write_end(&w, NULL, 0), VG_EINVAL);
  vg_rtsp_writer_init(&w, out, sizeof(out));
  vg_rtsp_write_request_line(&w, "OPTIONS", "rtsp://cam/ x");
  assert_int_equal(vg_rtsp_write_end(&w, NULL, 0), VG_EINVAL);

  vg_rtsp_writer_init(&w, out, 30);
  vg_rtsp_write_request_line(&w, "OPTIONS", "rtsp://camera.example.com/live");
  assert_int_equal(vg_rtsp_write_end(&w, NULL, 0), VG_ETOOBIG);
  assert_string_equal(vg_rtsp_reason(461), "Unsupported Transport");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_request_with_headers),
      cmocka_unit_test(test_response_with_body_lf_only_and_folding),
      cmocka_unit_test(test_status_line_variants),
      cmocka_unit_test(test_incomplete_at_every_split),
      cmocka_unit_test(test_garbage_and_limits),
      cmocka_unit_test(test_interleaved_frames_between_messages),
      cmocka_unit_test(test_real_ffmpeg_publish_session),
      cmocka_unit_test(test_session_header),
      cmocka_unit_test(test_transport_parse),
      cmocka_unit_test(test_transport_format_roundtrip),
      cmocka_unit_test(test_rtp_info_and_public),
      cmocka_unit_test(test_writer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
