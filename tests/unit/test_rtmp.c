/* Unit tests for src/proto/rtmp: the handshake, the chunk stream reader on
 * real ffmpeg publish traffic (tests/data/rtmp/publish_chunks.bin) fed
 * whole and byte by byte, writer -> reader round trips (chunk stream ids of
 * every header size, extended timestamps, header compression, chunk size
 * changes), abort, acknowledgements, malformed input, commands and URLs. */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "proto/rtmp.h"

static vg_rtmp_command_t cmd;

static uint8_t *read_data(const char *name, size_t *len) {
  char path[1024];
  const char *dir = getenv("VG_TEST_DATA");
  snprintf(path, sizeof(path), "%s/rtmp/%s", dir ? dir : "tests/data", name);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  uint8_t *buf = malloc(1 << 20);
  *len = fread(buf, 1, 1 << 20, f);
  fclose(f);
  return buf;
}

static void test_handshake(void **state) {
  uint8_t c0c1[1 + VG_RTMP_HANDSHAKE_SIZE], s012[1 + 2 * VG_RTMP_HANDSHAKE_SIZE], c2[VG_RTMP_HANDSHAKE_SIZE];
  assert_int_equal(vg_rtmp_handshake_client_hello(7, c0c1, sizeof(c0c1)), sizeof(c0c1));
  assert_int_equal(c0c1[0], 3);
  assert_int_equal(vg_rtmp_handshake_server(c0c1, sizeof(c0c1) - 1, 9, s012, sizeof(s012)), VG_EINCOMPLETE);
  assert_int_equal(vg_rtmp_handshake_server(c0c1, sizeof(c0c1), 9, s012, sizeof(s012)), sizeof(s012));
  assert_int_equal(s012[0], 3);
  /* S2 echoes C1's time and random bytes. */
  assert_memory_equal(s012 + 1 + VG_RTMP_HANDSHAKE_SIZE, c0c1 + 1, 4);
  assert_memory_equal(s012 + 1 + VG_RTMP_HANDSHAKE_SIZE + 8, c0c1 + 9, VG_RTMP_HANDSHAKE_SIZE - 8);
  assert_int_equal(vg_rtmp_handshake_client_reply(s012, sizeof(s012) - 1, c2, sizeof(c2)), VG_EINCOMPLETE);
  assert_int_equal(vg_rtmp_handshake_client_reply(s012, sizeof(s012), c2, sizeof(c2)),
                   VG_RTMP_HANDSHAKE_SIZE);
  assert_memory_equal(c2, s012 + 1, VG_RTMP_HANDSHAKE_SIZE);
  /* Version 6 (RTMPE) or an HTTP request is not taken. */
  c0c1[0] = 6;
  assert_int_equal(vg_rtmp_handshake_server(c0c1, sizeof(c0c1), 9, s012, sizeof(s012)), VG_EUNSUPPORTED);
  memcpy(c0c1, "GET / HTTP/1.1\r\n", 16);
  assert_int_equal(vg_rtmp_handshake_server(c0c1, sizeof(c0c1), 9, s012, sizeof(s012)), VG_EUNSUPPORTED);
}

typedef struct {
  uint8_t type;
  uint32_t stream_id, len, timestamp;
  char name[32];
} seen_t;

/* Reads everything from data fed in steps of `step` bytes; returns the number of messages. */
static int read_all(const uint8_t *data, size_t len, size_t step, seen_t *seen, int max,
                    uint32_t *chunk_size) {
  vg_rtmp_reader_t rd;
  vg_rtmp_reader_init(&rd, 1 << 20);
  uint8_t *buf = malloc(len);
  size_t have = 0, fed = 0;
  int n = 0;
  while (fed < len) {
    size_t k = len - fed < step ? len - fed : step;
    memcpy(buf + have, data + fed, k);
    have += k, fed += k;
    size_t off = 0;
    for (;;) {
      vg_rtmp_msg_t m;
      size_t used;
      int r = vg_rtmp_read(&rd, buf + off, have - off, &used, &m);
      if (r == VG_EINCOMPLETE) {
        assert_int_equal(used, 0);
        break;
      }
      assert_true(r >= 0);
      off += used;
      if (r == 1 && n < max) {
        seen_t *s = &seen[n++];
        s->type = m.type;
        s->stream_id = m.stream_id;
        s->len = (uint32_t)m.buf->len;
        s->timestamp = m.timestamp;
        s->name[0] = 0;
        if (m.type == VG_RTMP_MSG_COMMAND_AMF0 || m.type == VG_RTMP_MSG_DATA_AMF0) {
          assert_int_equal(
              vg_rtmp_command_parse(m.buf->data, m.buf->len, m.type == VG_RTMP_MSG_DATA_AMF0, &cmd), 0);
          snprintf(s->name, sizeof(s->name), "%s", cmd.name);
          if (strcmp(cmd.name, "connect") == 0) {
            assert_true(vg_amf0_str_eq(vg_amf0_get(&cmd.doc, cmd.obj, "app"), "live"));
            assert_true(cmd.txn == 1);
          }
          if (strcmp(cmd.name, "publish") == 0) {
            assert_true(vg_amf0_str_eq(cmd.arg[0], "cap"));
            assert_true(vg_amf0_str_eq(cmd.arg[1], "live"));
          }
        }
      } else if (r == 1) {
        n++;
      }
      if (r == 1) vg_buf_unref(&m.buf);
    }
    memmove(buf, buf + off, have - off);
    have -= off;
  }
  *chunk_size = rd.chunk_size;
  free(buf);
  vg_rtmp_reader_free(&rd);
  return n;
}

static void test_real_publish_session(void **state) {
  size_t len;
  uint8_t *data = read_data("publish_chunks.bin", &len);
  seen_t whole[64], bytewise[64];
  uint32_t cs1, cs2;
  memset(whole, 0, sizeof(whole)); /* compared with memcmp: padding too */
  memset(bytewise, 0, sizeof(bytewise));
  int n = read_all(data, len, len, whole, 64, &cs1);
  int m = read_all(data, len, 1, bytewise, 64, &cs2);
  assert_int_equal(n, m);
  assert_memory_equal(whole, bytewise, sizeof(seen_t) * (size_t)(n < 64 ? n : 64));
  assert_int_equal(cs1, 4096); /* ffmpeg raises its chunk size after connect */
  /* The order ffmpeg publishes in. */
  const char *want[] = {"connect", "releaseStream", "FCPublish", "createStream", "publish"};
  int k = 0, saw_meta = 0, saw_avc_header = 0, saw_aac_header = 0;
  for (int i = 0; i < n && i < 64; i++) {
    if (whole[i].type == VG_RTMP_MSG_COMMAND_AMF0 && k < 5) assert_string_equal(whole[i].name, want[k++]);
    if (whole[i].type == VG_RTMP_MSG_DATA_AMF0 && strcmp(whole[i].name, "@setDataFrame") == 0) saw_meta = 1;
    if (whole[i].type == VG_RTMP_MSG_VIDEO) {
      assert_int_equal(whole[i].stream_id, 1);
      saw_avc_header = 1;
    }
    if (whole[i].type == VG_RTMP_MSG_AUDIO) saw_aac_header = 1;
  }
  assert_int_equal(k, 5);
  assert_true(saw_meta && saw_avc_header && saw_aac_header);
  free(data);
}

static void test_write_read_round_trip(void **state) {
  static const uint32_t csids[] = {2, 3, 63, 64, 319, 320, 65599};
  static const uint32_t stamps[] = {0, 40, 0xfffffe, 0xffffff, 0x12345678, 0x12345678 + 40};
  static uint8_t payload[10000], out[1 << 16];
  for (size_t i = 0; i < sizeof(payload); i++)
    payload[i] = (uint8_t)(i * 7);
  vg_rtmp_writer_t w;
  vg_rtmp_reader_t r;
  vg_rtmp_writer_init(&w);
  vg_rtmp_reader_init(&r, 1 << 20);
  for (size_t ci = 0; ci < sizeof(csids) / sizeof(csids[0]); ci++) {
    for (size_t ti = 0; ti < sizeof(stamps) / sizeof(stamps[0]); ti++) {
      size_t len = (ci * 997 + ti * 1231) % sizeof(payload);
      if (ti == 3) {
        /* Change the chunk size in the middle: the reader follows. */
        int n = vg_rtmp_write_control(&w, VG_RTMP_MSG_SET_CHUNK_SIZE, ci % 2 ? 128 : 1000, out, sizeof(out));
        size_t used;
        vg_rtmp_msg_t m;
        assert_int_equal(vg_rtmp_read(&r, out, (size_t)n, &used, &m), 1);
        assert_int_equal(used, n);
        vg_buf_unref(&m.buf);
        assert_int_equal(r.chunk_size, w.chunk_size);
      }
      int n = vg_rtmp_write(&w, csids[ci], VG_RTMP_MSG_VIDEO, 1, stamps[ti], payload, len, out, sizeof(out));
      assert_true(n > 0);
      assert_true((size_t)n <= vg_rtmp_write_bound(&w, len));
      size_t off = 0;
      int got = 0;
      while (off < (size_t)n) {
        size_t used;
        vg_rtmp_msg_t m;
        int rr = vg_rtmp_read(&r, out + off, (size_t)n - off, &used, &m);
        assert_true(rr == 0 || rr == 1);
        off += used;
        if (rr == 1) {
          got = 1;
          assert_int_equal(m.csid, csids[ci]);
          assert_int_equal(m.type, VG_RTMP_MSG_VIDEO);
          assert_int_equal(m.stream_id, 1);
          assert_int_equal(m.timestamp, stamps[ti]);
          assert_int_equal(m.buf->len, len);
          assert_memory_equal(m.buf->data, payload, len);
          vg_buf_unref(&m.buf);
        }
      }
      assert_true(got);
    }
  }
  /* Header compression: a second message of the same length and type on
   * the same chunk stream is fmt 2 (a 3-byte delta). */
  vg_rtmp_writer_init(&w);
  int a = vg_rtmp_write(&w, 4, VG_RTMP_MSG_AUDIO, 1, 100, payload, 20, out, sizeof(out));
  int b = vg_rtmp_write(&w, 4, VG_RTMP_MSG_AUDIO, 1, 123, payload, 20, out + a, sizeof(out) - (size_t)a);
  assert_int_equal(a, 12 + 20);
  assert_int_equal(b, 4 + 20);
  assert_int_equal(out[a] >> 6, 2);
  assert_int_equal(vg_rtmp_write(&w, 4, VG_RTMP_MSG_AUDIO, 1, 0, payload, 20, out, 10), VG_ETOOBIG);
  assert_int_equal(vg_rtmp_write(&w, 1, VG_RTMP_MSG_AUDIO, 1, 0, payload, 20, out, sizeof(out)), VG_EINVAL);
  vg_rtmp_reader_free(&r);
}

static void test_fmt3_new_message_and_abort(void **state) {
  vg_rtmp_reader_t r;
  vg_rtmp_reader_init(&r, 1 << 20);
  /* fmt 0, ts 1000, len 3, type 8, stream 1; then fmt 3 = another message, ts 2000. */
  const uint8_t in[] = {0x04, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x03, 0x08, 0x01, 0x00,
                        0x00, 0x00, 'a',  'b',  'c',  0xc4, 'd',  'e',  'f'};
  size_t used;
  vg_rtmp_msg_t m;
  assert_int_equal(vg_rtmp_read(&r, in, sizeof(in), &used, &m), 1);
  assert_int_equal(m.timestamp, 1000);
  vg_buf_unref(&m.buf);
  assert_int_equal(vg_rtmp_read(&r, in + used, sizeof(in) - used, &used, &m), 1);
  assert_int_equal(m.timestamp, 2000);
  assert_memory_equal(m.buf->data, "def", 3);
  vg_buf_unref(&m.buf);
  /* A 300-byte message cut after its first chunk, then Abort (csid 4), then a fresh one. */
  uint8_t big[12 + 128];
  memset(big, 0, sizeof(big));
  big[0] = 0x04, big[5] = 0x01, big[6] = 0x2c, big[7] = 0x09;
  assert_int_equal(vg_rtmp_read(&r, big, sizeof(big), &used, &m), 0);
  const uint8_t abort_msg[] = {0x02, 0, 0, 0, 0, 0, 4, 0x02, 0, 0, 0, 0, 0, 0, 0, 4};
  assert_int_equal(vg_rtmp_read(&r, abort_msg, sizeof(abort_msg), &used, &m), 1);
  assert_int_equal(m.type, VG_RTMP_MSG_ABORT);
  vg_buf_unref(&m.buf);
  const uint8_t fresh[] = {0x04, 0, 0, 0, 0, 0, 1, 0x08, 1, 0, 0, 0, 'z'};
  assert_int_equal(vg_rtmp_read(&r, fresh, sizeof(fresh), &used, &m), 1);
  assert_int_equal(m.buf->len, 1);
  vg_buf_unref(&m.buf);
  vg_rtmp_reader_free(&r);
}

static void test_acknowledgement_window(void **state) {
  vg_rtmp_reader_t r;
  vg_rtmp_reader_init(&r, 1 << 20);
  uint32_t seq;
  const uint8_t win[] = {0x02, 0, 0, 0, 0, 0, 4, 0x05, 0, 0, 0, 0, 0, 0, 0, 100};
  size_t used;
  vg_rtmp_msg_t m;
  assert_int_equal(vg_rtmp_read(&r, win, sizeof(win), &used, &m), 1);
  vg_buf_unref(&m.buf);
  assert_int_equal(r.window, 100);
  assert_int_equal(vg_rtmp_reader_ack_due(&r, &seq), 0);
  uint8_t msg[12 + 100];
  memset(msg, 0, sizeof(msg));
  msg[0] = 0x04, msg[6] = 100, msg[7] = 0x08;
  assert_int_equal(vg_rtmp_read(&r, msg, sizeof(msg), &used, &m), 1);
  vg_buf_unref(&m.buf);
  assert_int_equal(vg_rtmp_reader_ack_due(&r, &seq), 1);
  assert_int_equal(seq, sizeof(win) + sizeof(msg));
  assert_int_equal(vg_rtmp_reader_ack_due(&r, &seq), 0);
  vg_rtmp_reader_free(&r);
}

static void test_malformed_chunks(void **state) {
  vg_rtmp_reader_t r;
  size_t used;
  vg_rtmp_msg_t m;
  vg_rtmp_reader_init(&r, 1000);
  /* fmt 1 on a chunk stream that never had a header. */
  const uint8_t orphan[] = {0x43, 0, 0, 0, 0, 0, 1, 8, 'x'};
  assert_int_equal(vg_rtmp_read(&r, orphan, sizeof(orphan), &used, &m), VG_EPROTO);
  /* A message over the limit. */
  const uint8_t huge[] = {0x04, 0, 0, 0, 0x01, 0, 0, 8, 0, 0, 0, 0};
  assert_int_equal(vg_rtmp_read(&r, huge, sizeof(huge), &used, &m), VG_ETOOBIG);
  /* Set Chunk Size 0. */
  const uint8_t zero_chunk[] = {0x02, 0, 0, 0, 0, 0, 4, 0x01, 0, 0, 0, 0, 0, 0, 0, 0};
  assert_int_equal(vg_rtmp_read(&r, zero_chunk, sizeof(zero_chunk), &used, &m), VG_EPROTO);
  /* A new fmt 0 header in the middle of a message. */
  vg_rtmp_reader_free(&r);
  vg_rtmp_reader_init(&r, 1000);
  uint8_t part[12 + 128];
  memset(part, 0, sizeof(part));
  part[0] = 0x05, part[6] = 200, part[7] = 9;
  assert_int_equal(vg_rtmp_read(&r, part, sizeof(part), &used, &m), 0);
  assert_int_equal(vg_rtmp_read(&r, part, sizeof(part), &used, &m), VG_EPROTO);
  /* More chunk streams than the reader keeps. */
  vg_rtmp_reader_free(&r);
  vg_rtmp_reader_init(&r, 1000);
  int r2 = 0;
  for (int cs = 3; cs < 3 + VG_RTMP_MAX_CHUNK_STREAMS + 1 && r2 >= 0; cs++) {
    uint8_t h[12] = {(uint8_t)cs, 0, 0, 0, 0, 0, 5, 8, 0, 0, 0, 0};
    r2 = vg_rtmp_read(&r, h, sizeof(h), &used, &m); /* a header, no payload yet */
    assert_true(r2 == VG_EINCOMPLETE || r2 == VG_ETOOBIG);
    if (r2 == VG_EINCOMPLETE) {
      uint8_t full[17] = {(uint8_t)cs, 0, 0, 0, 0, 0, 5, 8, 0, 0, 0, 0, 1, 2};
      r2 = vg_rtmp_read(&r, full, 14, &used, &m); /* 2 of 5 payload bytes: still incomplete */
      assert_int_equal(r2, VG_EINCOMPLETE);
      r2 = vg_rtmp_read(&r, full, 12 + 5, &used, &m);
      if (r2 == 1) vg_buf_unref(&m.buf);
    }
  }
  assert_int_equal(r2, VG_ETOOBIG);
  vg_rtmp_reader_free(&r);
  /* Truncations of a valid extended-timestamp chunk: always incomplete, never more. */
  vg_rtmp_writer_t w;
  vg_rtmp_writer_init(&w);
  uint8_t out[256];
  int n =
      vg_rtmp_write(&w, 300, VG_RTMP_MSG_AUDIO, 1, 0x1000000, (const uint8_t *)"hello", 5, out, sizeof(out));
  for (int k = 0; k < n; k++) {
    vg_rtmp_reader_init(&r, 1000);
    assert_int_equal(vg_rtmp_read(&r, out, (size_t)k, &used, &m), VG_EINCOMPLETE);
    vg_rtmp_reader_free(&r);
  }
}

static void test_commands(void **state) {
  uint8_t buf[1024];
  vg_amf0_writer_t aw;
  vg_amf0_writer_init(&aw, buf, sizeof(buf));
  vg_rtmp_amf_connect(&aw, 1, "live", "rtmp://h/live");
  assert_int_equal(vg_rtmp_command_parse(buf, aw.len, 0, &cmd), 0);
  assert_string_equal(cmd.name, "connect");
  assert_true(cmd.txn == 1);
  assert_true(vg_amf0_str_eq(vg_amf0_get(&cmd.doc, cmd.obj, "tcUrl"), "rtmp://h/live"));
  const vg_amf0_value_t *fourcc = vg_amf0_get(&cmd.doc, cmd.obj, "fourCcList");
  assert_true(vg_amf0_str_eq(vg_amf0_child(&cmd.doc, fourcc, 1), "hvc1"));

  vg_amf0_writer_init(&aw, buf, sizeof(buf));
  vg_rtmp_amf_publish(&aw, 5, "cam1", "live");
  assert_int_equal(vg_rtmp_command_parse(buf, aw.len, 0, &cmd), 0);
  assert_string_equal(cmd.name, "publish");
  assert_int_equal(cmd.obj->type, VG_AMF0_NULL);
  assert_int_equal(cmd.nargs, 2);
  assert_true(vg_amf0_str_eq(cmd.arg[0], "cam1"));

  vg_amf0_writer_init(&aw, buf, sizeof(buf));
  vg_rtmp_amf_on_status(&aw, "error", "NetStream.Publish.BadName", "in use");
  assert_int_equal(vg_rtmp_command_parse(buf, aw.len, 0, &cmd), 0);
  assert_true(vg_amf0_str_eq(vg_amf0_get(&cmd.doc, cmd.arg[0], "code"), "NetStream.Publish.BadName"));

  vg_amf0_writer_init(&aw, buf, sizeof(buf));
  vg_rtmp_amf_result(&aw, 4, 1, 1);
  assert_int_equal(vg_rtmp_command_parse(buf, aw.len, 0, &cmd), 0);
  assert_true(vg_amf0_num(cmd.arg[0], 0) == 1);
  /* No name, or no transaction id. */
  assert_int_equal(vg_rtmp_command_parse(buf + 10, aw.len - 10, 0, &cmd), VG_EPROTO);
  const uint8_t name_only[] = {0x02, 0x00, 0x01, 'x'};
  assert_int_equal(vg_rtmp_command_parse(name_only, sizeof(name_only), 0, &cmd), VG_EPROTO);
  assert_int_equal(vg_rtmp_command_parse(name_only, sizeof(name_only), 1, &cmd), 0);
}

/* The credentials of a publisher's stream key query (rtmp_server's
 * publish_users). A value is decoded exactly, never cut to fit, and an
 * escaped NUL is refused: either would let a prefix of a password match. */
static void test_query_value(void **state) {
  (void)state;
  char v[8];
  assert_int_equal(vg_rtmp_query_value("user=cam&pass=s%40c%2", "pass", v, sizeof(v)), 5);
  assert_string_equal(v, "s@c%2");
  assert_int_equal(vg_rtmp_query_value("user=cam&pass=x", "user", v, sizeof(v)), 3);
  assert_string_equal(v, "cam");
  assert_int_equal(vg_rtmp_query_value("xuser=a&user=", "user", v, sizeof(v)), 0);
  assert_string_equal(v, "");
  assert_int_equal(vg_rtmp_query_value("pass=%zz", "pass", v, sizeof(v)), 3);
  assert_string_equal(v, "%zz");
  /* sscanf's %x skipped spaces: "% 4 1" decoded to 'A'. */
  assert_int_equal(vg_rtmp_query_value("pass=% 4 1", "pass", v, sizeof(v)), 5);
  assert_string_equal(v, "% 4 1");
  assert_int_equal(vg_rtmp_query_value("pass=abc%00def", "pass", v, sizeof(v)), VG_EINVAL);
  assert_string_equal(v, "");
  assert_int_equal(vg_rtmp_query_value("pass=1234567", "pass", v, sizeof(v)), 7);
  assert_int_equal(vg_rtmp_query_value("pass=12345678", "pass", v, sizeof(v)), VG_ETOOBIG);
  assert_string_equal(v, "");
  assert_int_equal(vg_rtmp_query_value("user=cam", "pass", v, sizeof(v)), VG_ENOTFOUND);
  assert_int_equal(vg_rtmp_query_value(NULL, "pass", v, sizeof(v)), VG_ENOTFOUND);
  assert_int_equal(vg_rtmp_query_value("pass=%4", "pass", v, sizeof(v)), 2);
  assert_string_equal(v, "%4");
}

static void test_urls(void **state) {
  vg_rtmp_url_t u;
  assert_int_equal(vg_rtmp_url_parse("rtmp://127.0.0.1:1936/live/cam1", &u), 0);
  assert_string_equal(u.host, "127.0.0.1");
  assert_int_equal(u.port, 1936);
  assert_string_equal(u.app, "live");
  assert_string_equal(u.stream, "cam1");
  assert_string_equal(u.tc_url, "rtmp://127.0.0.1:1936/live");
  assert_int_equal(vg_rtmp_url_parse("rtmp://example.com/app/a/b?k=v", &u), 0);
  assert_int_equal(u.port, 1935);
  assert_string_equal(u.stream, "a/b?k=v");
  assert_int_equal(vg_rtmp_url_parse("rtmp://[::1]:99/live/x", &u), 0);
  assert_string_equal(u.host, "::1");
  assert_int_equal(u.port, 99);
  const char *bad[] = {"rtsp://h/live/x", "rtmp://h/live",      "rtmp://h/live/",   "rtmp:///live/x",
                       "rtmp://h:0/a/b",  "rtmp://h:70000/a/b", "rtmp://u:p@h/a/b", "rtmp://h/a/b c",
                       "rtmp://h:/a/b",   "rtmp://[::1/a/b"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(vg_rtmp_url_parse(bad[i], &u), VG_EINVAL);
}

static void test_answer_ping(void **state) {
  (void)state;
  vg_rtmp_writer_t w;
  vg_rtmp_writer_init(&w);
  vg_buf_t *b = vg_buf_alloc(6);
  static const uint8_t ping[6] = {0, VG_RTMP_UC_PING_REQUEST, 0, 0, 1, 42};
  memcpy(b->data, ping, 6);
  b->len = 6;
  vg_rtmp_msg_t msg = {.type = VG_RTMP_MSG_USER_CONTROL, .buf = b};
  uint8_t out[64];
  int n = vg_rtmp_answer_ping(&w, &msg, out, sizeof(out));
  assert_true(n > 6);
  static const uint8_t pong[6] = {0, VG_RTMP_UC_PING_RESPONSE, 0, 0, 1, 42};
  assert_memory_equal(out + n - 6, pong, 6);
  b->data[1] = 3; /* Set Buffer Length: nothing to answer */
  assert_int_equal(vg_rtmp_answer_ping(&w, &msg, out, sizeof(out)), 0);
  msg.type = VG_RTMP_MSG_AUDIO;
  assert_int_equal(vg_rtmp_answer_ping(&w, &msg, out, sizeof(out)), 0);
  vg_buf_unref(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handshake),
      cmocka_unit_test(test_answer_ping),
      cmocka_unit_test(test_real_publish_session),
      cmocka_unit_test(test_write_read_round_trip),
      cmocka_unit_test(test_fmt3_new_message_and_abort),
      cmocka_unit_test(test_acknowledgement_window),
      cmocka_unit_test(test_malformed_chunks),
      cmocka_unit_test(test_commands),
      cmocka_unit_test(test_urls),
      cmocka_unit_test(test_query_value),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
