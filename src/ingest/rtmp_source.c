#include "ingest/rtmp_source.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/time.h"
#include "ingest/rtmp_ingest.h"
#include "ingest/pull.h"
#include "proto/rtmp.h"

#define MAX_MESSAGE (8u << 20)
#define READ_BUF_MAX (VG_RTMP_MAX_CHUNK_SIZE + 64 * 1024)
#define OUT_CHUNK 4096
#define TICK_MS 250
enum { TXN_CONNECT = 1, TXN_CREATE_STREAM = 2, TXN_PLAY = 3 };

typedef enum { ST_HANDSHAKE = 0, ST_CONNECTING, ST_CREATING, ST_PLAYING } state_t;

typedef struct {
  vg_pull_t pull; /* the connection, the tick, how the session ends */
  vg_camera_t *cam;
  vg_rtmp_url_t url;
  state_t state;
  vg_rtmp_reader_t rd;
  vg_rtmp_writer_t wr;
  vg_rtmp_command_t cmd;
  vg_rtmp_ingest_t ing;
  uint32_t stream_id;
  int64_t state_since_us, last_media_us;
  int online;
} rtmp_src_t;

/* ---- life cycle ------------------------------------------------------- */

static void release(vg_pull_t *p) {
  rtmp_src_t *s = p->owner;
  vg_rtmp_reader_free(&s->rd);
  vg_rtmp_ingest_clear(&s->ing);
  free(s);
}

static const vg_pull_ops_t pull_ops = {NULL, release, NULL};

#define fail(s, ...) vg_pull_fail(&(s)->pull, __VA_ARGS__)

/* ---- output ----------------------------------------------------------- */

static void send_bytes(rtmp_src_t *s, const void *data, size_t len) {
  if (!s->pull.conn || !vg_pull_running(&s->pull)) return;
  int r = vg_tcp_client_write(s->pull.conn, data, len);
  if (r < 0) fail(s, r, "write failed: %s", vg_strerror(r));
}

static void send_amf(rtmp_src_t *s, uint32_t csid, uint32_t stream_id, const vg_amf0_writer_t *aw) {
  uint8_t out[4096];
  if (aw->err) {
    fail(s, aw->err, "command too large");
    return;
  }
  int n = vg_rtmp_write(&s->wr, csid, VG_RTMP_MSG_COMMAND_AMF0, stream_id, 0, aw->data, aw->len, out,
                        sizeof(out));
  if (n < 0) {
    fail(s, n, "cannot write a command: %s", vg_strerror(n));
    return;
  }
  send_bytes(s, out, (size_t)n);
}

static void set_state(rtmp_src_t *s, state_t st) {
  s->state = st;
  s->state_since_us = vg_time_mono_us();
}

static void send_connect(rtmp_src_t *s) {
  uint8_t out[64];
  int n = vg_rtmp_write_control(&s->wr, VG_RTMP_MSG_SET_CHUNK_SIZE, OUT_CHUNK, out, sizeof(out));
  if (n > 0) send_bytes(s, out, (size_t)n);
  uint8_t amf[1024];
  vg_amf0_writer_t aw;
  vg_amf0_writer_init(&aw, amf, sizeof(amf));
  vg_rtmp_amf_connect(&aw, TXN_CONNECT, s->url.app, s->url.tc_url);
  send_amf(s, VG_RTMP_CSID_COMMAND, 0, &aw);
  set_state(s, ST_CONNECTING);
}

static void send_create_stream(rtmp_src_t *s) {
  uint8_t out[64];
  int n = vg_rtmp_write_control(&s->wr, VG_RTMP_MSG_WINDOW_ACK_SIZE, 2500000, out, sizeof(out));
  if (n > 0) send_bytes(s, out, (size_t)n);
  uint8_t amf[256];
  vg_amf0_writer_t aw;
  vg_amf0_writer_init(&aw, amf, sizeof(amf));
  vg_rtmp_amf_call(&aw, "createStream", TXN_CREATE_STREAM, NULL);
  send_amf(s, VG_RTMP_CSID_COMMAND, 0, &aw);
  set_state(s, ST_CREATING);
}

static void send_play(rtmp_src_t *s) {
  uint8_t amf[1024];
  vg_amf0_writer_t aw;
  vg_amf0_writer_init(&aw, amf, sizeof(amf));
  vg_rtmp_amf_play(&aw, TXN_PLAY, s->url.stream);
  /* Commands on a message stream go on their own chunk stream, as players do. */
  send_amf(s, 8, s->stream_id, &aw);
  uint8_t out[64];
  int n =
      vg_rtmp_write_user_control(&s->wr, VG_RTMP_UC_SET_BUFFER_LENGTH, s->stream_id, 3000, out, sizeof(out));
  if (n > 0) send_bytes(s, out, (size_t)n);
  set_state(s, ST_PLAYING);
  s->last_media_us = vg_time_mono_us();
}

/* ---- ingest sink ------------------------------------------------------ */

static void sink_set_tracks(void *opaque, const vg_track_t *tracks, int count) {
  rtmp_src_t *s = opaque;
  vg_hub_set_tracks(s->cam->hub, tracks, count);
}

static void sink_update_track(void *opaque, int index, const vg_track_t *track) {
  rtmp_src_t *s = opaque;
  vg_hub_update_track(s->cam->hub, index, track);
}

static void sink_frame(void *opaque, const vg_frame_t *f) {
  rtmp_src_t *s = opaque;
  vg_camera_t *cam = s->cam;
  vg_hub_push(cam->hub, f);
  atomic_fetch_add(&cam->counters.frames, 1);
  atomic_fetch_add(&cam->counters.bytes, f->len);
  s->last_media_us = f->recv_us;
  if (!s->online) {
    s->online = 1;
    vg_camera_source_online(cam);
  }
}

/* ---- input ------------------------------------------------------------ */

/* A status object's level "error" ends the session. */
static int status_failed(rtmp_src_t *s, const vg_amf0_value_t *info) {
  const vg_amf0_value_t *level = vg_amf0_get(&s->cmd.doc, info, "level");
  if (!vg_amf0_str_eq(level, "error")) return 0;
  char code[128] = "", desc[128] = "";
  vg_amf0_str(vg_amf0_get(&s->cmd.doc, info, "code"), code, sizeof(code));
  vg_amf0_str(vg_amf0_get(&s->cmd.doc, info, "description"), desc, sizeof(desc));
  fail(s, VG_EPROTO, "the server refused: %s%s%s", code[0] ? code : "error", desc[0] ? " " : "", desc);
  return 1;
}

static void handle_command(rtmp_src_t *s, const vg_rtmp_msg_t *msg) {
  const uint8_t *p = msg->buf->data;
  size_t len = msg->buf->len;
  if (msg->type == VG_RTMP_MSG_COMMAND_AMF3 && len > 0) p++, len--;
  int r = vg_rtmp_command_parse(p, len, 0, &s->cmd);
  if (r < 0) {
    fail(s, VG_EPROTO, "bad command message from the server (%s)", vg_strerror(r));
    return;
  }
  vg_rtmp_command_t *cmd = &s->cmd;
  if (strcmp(cmd->name, "_result") == 0) {
    if (cmd->txn == TXN_CONNECT && s->state == ST_CONNECTING) {
      if (!status_failed(s, cmd->nargs ? cmd->arg[0] : NULL)) send_create_stream(s);
    } else if (cmd->txn == TXN_CREATE_STREAM && s->state == ST_CREATING) {
      double id = vg_amf0_num(cmd->nargs ? cmd->arg[0] : NULL, -1);
      if (id < 0 || id > 1e6) {
        fail(s, VG_EPROTO, "createStream: no stream id");
        return;
      }
      s->stream_id = (uint32_t)id;
      send_play(s);
    }
  } else if (strcmp(cmd->name, "_error") == 0) {
    if (!status_failed(s, cmd->nargs ? cmd->arg[0] : NULL))
      fail(s, VG_EPROTO, "the server answered %s with an error",
           cmd->txn == TXN_CONNECT ? "connect" : "a call");
  } else if (strcmp(cmd->name, "onStatus") == 0) {
    const vg_amf0_value_t *info = cmd->nargs ? cmd->arg[0] : NULL;
    if (status_failed(s, info)) return;
    const vg_amf0_value_t *code = vg_amf0_get(&cmd->doc, info, "code");
    if (vg_amf0_str_eq(code, "NetStream.Play.UnpublishNotify") || vg_amf0_str_eq(code, "NetStream.Play.Stop"))
      fail(s, VG_ECLOSED, "the stream ended");
  } else if (cmd->txn > 0) {
    /* A call from the server (onBWCheck and the like): answer it empty. */
    uint8_t amf[128];
    vg_amf0_writer_t aw;
    vg_amf0_writer_init(&aw, amf, sizeof(amf));
    vg_rtmp_amf_result(&aw, cmd->txn, 0, 0);
    send_amf(s, VG_RTMP_CSID_COMMAND, 0, &aw);
  }
}

static void handle_message(rtmp_src_t *s, const vg_rtmp_msg_t *msg) {
  switch (msg->type) {
  case VG_RTMP_MSG_USER_CONTROL: {
    uint8_t out[64];
    int n = vg_rtmp_answer_ping(&s->wr, msg, out, sizeof(out));
    if (n > 0) send_bytes(s, out, (size_t)n);
    break;
  }
  case VG_RTMP_MSG_COMMAND_AMF0:
  case VG_RTMP_MSG_COMMAND_AMF3: handle_command(s, msg); break;
  case VG_RTMP_MSG_DATA_AMF0:
  case VG_RTMP_MSG_AUDIO:
  case VG_RTMP_MSG_VIDEO:
    if (s->state == ST_PLAYING &&
        vg_rtmp_ingest_message(&s->ing, msg, vg_time_mono_us(), vg_time_utc_us()) < 0)
      atomic_fetch_add(&s->cam->counters.errors, 1);
    break;
  default: break;
  }
}

static void on_read(vg_tcp_client_t *c, int status) {
  rtmp_src_t *s = vg_pull_owner(c);
  if (!vg_pull_running(&s->pull) || c != s->pull.conn) return;
  size_t off = 0;
  while (off < c->len && vg_pull_running(&s->pull)) {
    const uint8_t *p = c->buf + off;
    size_t len = c->len - off;
    if (s->state == ST_HANDSHAKE) {
      uint8_t c2[VG_RTMP_HANDSHAKE_SIZE];
      int r = vg_rtmp_handshake_client_reply(p, len, c2, sizeof(c2));
      if (r == VG_EINCOMPLETE) break;
      if (r < 0) {
        fail(s, VG_EPROTO, "not an RTMP server (handshake version %u)", p[0]);
        return;
      }
      send_bytes(s, c2, (size_t)r);
      off += 1 + 2 * VG_RTMP_HANDSHAKE_SIZE;
      send_connect(s);
      continue;
    }
    vg_rtmp_msg_t msg;
    size_t used = 0;
    int r = vg_rtmp_read(&s->rd, p, len, &used, &msg);
    if (r == VG_EINCOMPLETE) break;
    if (r < 0) {
      fail(s, r, "malformed RTMP data from the server (%s)", vg_strerror(r));
      return;
    }
    off += used;
    if (r == 1) {
      handle_message(s, &msg);
      vg_buf_unref(&msg.buf);
    }
    uint32_t seq;
    if (vg_pull_running(&s->pull) && vg_rtmp_reader_ack_due(&s->rd, &seq)) {
      uint8_t out[32];
      int n = vg_rtmp_write_control(&s->wr, VG_RTMP_MSG_ACK, seq, out, sizeof(out));
      if (n > 0) send_bytes(s, out, (size_t)n);
    }
  }
  if (!vg_pull_running(&s->pull) || c != s->pull.conn) return;
  vg_tcp_client_consume(c, off);
  if (status == VG_ECLOSED)
    fail(s, VG_ECLOSED, "the server closed the connection");
  else if (status < 0)
    fail(s, status, "read failed: %s", vg_strerror(status));
}

static void on_tick(uv_timer_t *timer) {
  rtmp_src_t *s = timer->data;
  if (!vg_pull_running(&s->pull) || !s->pull.conn) return;
  int64_t now = vg_time_mono_us();
  int64_t limit = (int64_t)s->cam->cfg.read_timeout_ms * 1000;
  if (s->state != ST_PLAYING && s->pull.conns_open && s->state_since_us && now - s->state_since_us > limit)
    fail(s, VG_ETIMEDOUT, "no answer from the server within %d ms", s->cam->cfg.read_timeout_ms);
  else if (s->state == ST_PLAYING && now - s->last_media_us > limit)
    fail(s, VG_ENODATA, "no media for %d ms", s->cam->cfg.read_timeout_ms);
}

static void on_connected(void *owner) {
  rtmp_src_t *s = owner;
  uint8_t hello[1 + VG_RTMP_HANDSHAKE_SIZE];
  int n = vg_rtmp_handshake_client_hello((uint32_t)vg_time_mono_us(), hello, sizeof(hello));
  send_bytes(s, hello, (size_t)n);
  set_state(s, ST_HANDSHAKE);
}

static void rtmp_start(vg_camera_t *cam) {
  rtmp_src_t *s = calloc(1, sizeof(*s));
  if (!s) {
    vg_camera_source_failed(cam, VG_ENOMEM, "out of memory");
    return;
  }
  s->cam = cam;
  int r = vg_rtmp_url_parse(cam->cfg.url, &s->url);
  if (r < 0) {
    free(s);
    vg_camera_source_failed(cam, r, "bad URL (want rtmp://host[:port]/app/stream): %s", vg_strerror(r));
    return;
  }
  vg_rtmp_reader_init(&s->rd, MAX_MESSAGE);
  vg_rtmp_writer_init(&s->wr);
  static const vg_rtmp_ingest_sink_t sink = {sink_set_tracks, sink_update_track, sink_frame, NULL};
  vg_rtmp_ingest_sink_t sk = sink;
  sk.opaque = s;
  vg_rtmp_ingest_init(&s->ing, &sk);
  vg_pull_init(&s->pull, cam, vg_worker_loop(cam->worker), s, &pull_ops);
  uv_timer_start(&s->pull.timer, on_tick, TICK_MS, TICK_MS);
  cam->source = s;
  vg_pull_connect(&s->pull, s->url.host, s->url.port, READ_BUF_MAX, on_connected, on_read);
}

static void rtmp_stop(vg_camera_t *cam, void (*done)(vg_camera_t *cam)) {
  rtmp_src_t *s = cam->source;
  if (!s) {
    done(cam);
    return;
  }
  vg_pull_stop(&s->pull, done);
}

const vg_source_ops_t vg_rtmp_source_ops = {"rtmp", rtmp_start, rtmp_stop};
