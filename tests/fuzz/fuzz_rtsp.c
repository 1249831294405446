/* Fuzzes the RTSP stream parser: messages and interleaved frames in one
 * byte stream, fed as a client would (whole buffer, then consumed prefixes),
 * and every header helper on each message parsed. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/error.h"
#include "proto/rtsp.h"

static void exercise_message(const vg_rtsp_msg_t *m) {
  uint32_t cseq;
  vg_rtsp_msg_cseq(m, &cseq);
  vg_rtsp_session_t s;
  vg_rtsp_msg_session(m, &s);
  vg_rtsp_str_t base;
  vg_rtsp_msg_content_base(m, &base);
  const vg_rtsp_str_t *v = vg_rtsp_msg_header(m, "Transport");
  if (v) {
    vg_rtsp_transport_t t[4];
    int n = vg_rtsp_transport_parse(*v, t, 4);
    char out[256];
    for (int i = 0; i < n; i++)
      vg_rtsp_transport_format(&t[i], out, sizeof(out));
  }
  if ((v = vg_rtsp_msg_header(m, "RTP-Info"))) {
    vg_rtsp_rtp_info_t ri[8];
    vg_rtsp_rtp_info_parse(*v, ri, 8);
  }
  if ((v = vg_rtsp_msg_header(m, "Public"))) vg_rtsp_public_parse(*v);
  if (!m->is_response) vg_rtsp_method_bit(m->method);
  /* Touch every byte the message points at, so ASan checks the spans. */
  volatile uint8_t sink = 0;
  for (int i = 0; i < m->n_headers; i++) {
    for (size_t k = 0; k < m->headers[i].name.len; k++)
      sink ^= (uint8_t)m->headers[i].name.p[k];
    for (size_t k = 0; k < m->headers[i].value.len; k++)
      sink ^= (uint8_t)m->headers[i].value.p[k];
  }
  for (size_t k = 0; k < m->body_len; k++)
    sink ^= m->body[k];
  (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* The first byte picks tight or default limits, to reach the limit paths. */
  vg_rtsp_limits_t tight = {.max_header_bytes = 256, .max_headers = 4, .max_body = 64};
  const vg_rtsp_limits_t *lim = (size && (data[0] & 1)) ? &tight : NULL;
  size_t off = 0;
  while (off < size) {
    vg_rtsp_msg_t m;
    vg_rtsp_frame_t f;
    size_t used = 0;
    int r = vg_rtsp_parse(data + off, size - off, lim, &m, &f, &used);
    if (r < 0) break;
    if (used == 0 || used > size - off) __builtin_trap();
    if (r == VG_RTSP_MESSAGE) {
      exercise_message(&m);
    } else {
      if (f.data + f.len > data + size) __builtin_trap();
    }
    off += used;
  }
  return 0;
}
