/* libFuzzer target: FLV audio/video tag payloads, decoder configuration
 * records, NAL unit length conversion and the AudioSpecificConfig. */
#include <stdint.h>

#include "base/buf.h"
#include "media/flv.h"

/* Reading every byte into this keeps the loads from being optimised away. */
static volatile uint8_t g_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  vg_buf_t *src = vg_buf_from(data, size);
  if (!src) return 0;
  src->len = size;
  vg_flv_packet_t pkt;
  for (int video = 0; video < 2; video++) {
    int r = video ? vg_flv_parse_video(src->data, size, &pkt) : vg_flv_parse_audio(src->data, size, &pkt);
    if (r != 0) continue;
    vg_buf_t *ex = NULL, *au = NULL;
    int nls = 0, rate, ch;
    if (pkt.kind == VG_FLV_CONFIG) {
      if (pkt.codec == VG_CODEC_H264) vg_flv_avcc_to_extradata(pkt.data, pkt.len, &ex, &nls);
      if (pkt.codec == VG_CODEC_H265) vg_flv_hvcc_to_extradata(pkt.data, pkt.len, &ex, &nls);
      if (pkt.codec == VG_CODEC_AAC) vg_flv_aac_config(pkt.data, pkt.len, &rate, &ch);
    } else if (pkt.kind == VG_FLV_FRAME && pkt.codec != VG_CODEC_AAC) {
      const uint8_t *d;
      size_t len;
      for (int s = 1; s <= 4; s++)
        if (vg_flv_nalus_to_au(src, pkt.data, pkt.len, s, &au, &d, &len) == 0) {
          for (size_t i = 0; i < len; i++)
            g_sink ^= d[i];
          vg_buf_unref(&au);
        }
    }
    vg_buf_unref(&ex);
  }
  /* The record parsers on the raw input too. */
  vg_buf_t *ex = NULL;
  int nls, rate, ch;
  if (vg_flv_avcc_to_extradata(data, size, &ex, &nls) == 0) vg_buf_unref(&ex);
  if (vg_flv_hvcc_to_extradata(data, size, &ex, &nls) == 0) vg_buf_unref(&ex);
  vg_flv_aac_config(data, size, &rate, &ch);
  vg_buf_unref(&src);
  return 0;
}
