/* libFuzzer target: the RTMP chunk stream reader fed in pieces, the
 * messages it completes parsed as commands, and audio/video/data messages
 * through the ingest path (FLV parsing, track building, frames). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "ingest/rtmp_ingest.h"
#include "proto/rtmp.h"

/* Reading every byte into this keeps the loads from being optimised away. */
static volatile uint8_t g_sink;

static void set_tracks(void *o, const vg_track_t *t, int n) { (void)o, (void)t, (void)n; }
static void update_track(void *o, int i, const vg_track_t *t) { (void)o, (void)i, (void)t; }
static void frame(void *o, const vg_frame_t *f) {
  /* Touch every byte so that a bad pointer or length shows. */
  for (uint32_t i = 0; i < f->len; i++)
    g_sink ^= f->data[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  /* The first byte chooses how the rest arrives: in pieces of 1..256 bytes. */
  size_t piece = (size_t)data[0] + 1;
  data++, size--;
  static vg_rtmp_command_t cmd;
  vg_rtmp_reader_t rd;
  vg_rtmp_reader_init(&rd, 256 * 1024);
  vg_rtmp_ingest_sink_t sink = {set_tracks, update_track, frame, NULL};
  vg_rtmp_ingest_t ing;
  vg_rtmp_ingest_init(&ing, &sink);
  uint8_t *buf = malloc(size + 1);
  size_t have = 0, fed = 0;
  int failed = 0;
  while (!failed && fed < size) {
    size_t n = size - fed < piece ? size - fed : piece;
    memcpy(buf + have, data + fed, n);
    have += n;
    fed += n;
    size_t off = 0;
    for (;;) {
      vg_rtmp_msg_t msg;
      size_t used = 0;
      int r = vg_rtmp_read(&rd, buf + off, have - off, &used, &msg);
      if (r == VG_EINCOMPLETE) break;
      if (r < 0) {
        failed = 1;
        break;
      }
      off += used;
      if (r == 1) {
        if (msg.type == VG_RTMP_MSG_COMMAND_AMF0) vg_rtmp_command_parse(msg.buf->data, msg.buf->len, 0, &cmd);
        vg_rtmp_ingest_message(&ing, &msg, 1000, 1000);
        vg_buf_unref(&msg.buf);
      }
      uint32_t seq;
      vg_rtmp_reader_ack_due(&rd, &seq);
    }
    memmove(buf, buf + off, have - off);
    have -= off;
  }
  free(buf);
  vg_rtmp_ingest_clear(&ing);
  vg_rtmp_reader_free(&rd);
  return 0;
}
