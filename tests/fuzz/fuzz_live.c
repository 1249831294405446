/* Fuzzes the live view's handling of what cameras and clients send: MSE
 * codec strings and a viewer's track set-up from arbitrary extradata
 * (parameter sets, AudioSpecificConfig), and the WebSocket upgrade's path
 * and query parsing. The first byte picks the mode. */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "live/ws_live.h"

static void drain_messages(vg_live_viewer_t *v) {
  vg_live_msg_t *m;
  while ((m = vg_live_viewer_pop(v)))
    vg_live_msg_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 8192) return 0;
  int mode = data[0] % 5;
  data++;
  size--;
  if (mode < 4) {
    static const vg_codec_t codecs[] = {VG_CODEC_H264, VG_CODEC_H265, VG_CODEC_AAC, VG_CODEC_OPUS};
    vg_track_t t[2] = {{.codec = codecs[mode], .clock_rate = mode < 2 ? 90000 : 48000, .channels = 1}};
    t[0].extradata = size ? vg_buf_from(data, size) : NULL;
    char s[64];
    int n = vg_live_codec_string(&t[0], s, sizeof(s));
    if (n > 0 && (size_t)n != strlen(s)) abort();
    /* A viewer set up with it (and a real-looking audio track) must answer
     * with messages or an error, never crash. */
    vg_live_viewer_t *v = vg_live_viewer_new("fuzz", 1, NULL, NULL);
    t[1] = (vg_track_t){.codec = VG_CODEC_AAC, .clock_rate = 16000, .sample_rate = 16000, .channels = 1};
    t[1].extradata = vg_buf_from("\x14\x08", 2);
    vg_live_viewer_set_tracks(v, t, 2);
    drain_messages(v);
    vg_live_viewer_free(&v);
    vg_buf_unref(&t[0].extradata);
    vg_buf_unref(&t[1].extradata);
    return 0;
  }
  /* "path\0query" */
  char text[1024];
  size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
  memcpy(text, data, n);
  text[n] = '\0';
  const char *query = n > strlen(text) ? text + strlen(text) + 1 : "";
  vg_http_request_t req = {.method = "GET", .path = text, .query = query};
  vg_http_response_t res;
  vg_http_response_init(&res);
  char camera[VG_HTTP_PARAM_MAX];
  int audio;
  if (vg_live_ws_authorize(&req, &res, camera, sizeof(camera), &audio) == 0 && strlen(camera) == 0) abort();
  vg_http_response_free(&res);
  return 0;
}
