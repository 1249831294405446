/* Fuzzes the H.264 and H.265 SPS parsers, the Annex B <-> length-prefixed
 * conversions and track info extraction. The first byte picks the codec. */
#include <stdlib.h>
#include <string.h>

#include "media/h264.h"
#include "media/h265.h"
#include "media/nal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int hevc = data[0] & 1;
  data++;
  size--;
  /* As an SPS NAL unit with the right header. */
  uint8_t nal[4096];
  size_t n = size < sizeof(nal) - 2 ? size : sizeof(nal) - 2;
  if (hevc) {
    nal[0] = 0x42, nal[1] = 0x01;
    memcpy(nal + 2, data, n);
    vg_h265_sps_t s;
    if (vg_h265_parse_sps(nal, n + 2, &s) == 0 && (s.width <= 0 || s.height <= 0 || s.width > 16384)) abort();
  } else {
    nal[0] = 0x67;
    memcpy(nal + 1, data, n);
    vg_h264_sps_t s;
    if (vg_h264_parse_sps(nal, n + 1, &s) == 0 && (s.width <= 0 || s.height <= 0 || s.width > 16384)) abort();
  }
  /* As Annex B: converting to length-prefixed and back is stable. */
  vg_buf_t *lp = NULL, *ab = NULL, *lp2 = NULL;
  if (vg_nal_annexb_to_lp(data, size, &lp) == 0) {
    if (vg_nal_lp_to_annexb(lp->data, lp->len, &ab) != 0) abort();
    if (vg_nal_annexb_to_lp(ab->data, ab->len, &lp2) != 0) abort();
    if (lp2->len != lp->len || memcmp(lp2->data, lp->data, lp->len) != 0) abort();
    vg_track_t t = {.codec = hevc ? VG_CODEC_H265 : VG_CODEC_H264};
    vg_track_update_video_info(&t, lp->data, lp->len);
    vg_buf_t *x = NULL;
    if (vg_nal_extradata_from_au(t.codec, lp->data, lp->len, &x) == 1) {
      t.extradata = x;
      vg_track_update_video_info(&t, NULL, 0);
    }
    vg_track_clear(&t);
  }
  /* As a length-prefixed access unit. */
  vg_nal_au_is_keyframe(hevc ? VG_CODEC_H265 : VG_CODEC_H264, data, size);
  vg_buf_unref(&lp);
  vg_buf_unref(&ab);
  vg_buf_unref(&lp2);
  return 0;
}
