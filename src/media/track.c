#include "media/track.h"

#include <string.h>

const char *vg_codec_name(vg_codec_t c) {
  switch (c) {
  case VG_CODEC_H264: return "H264";
  case VG_CODEC_H265: return "H265";
  case VG_CODEC_AAC: return "AAC";
  case VG_CODEC_PCMU: return "PCMU";
  case VG_CODEC_PCMA: return "PCMA";
  case VG_CODEC_OPUS: return "OPUS";
  case VG_CODEC_JPEG: return "JPEG";
  default: return "NONE";
  }
}

void vg_track_copy(vg_track_t *dst, const vg_track_t *src) {
  *dst = *src;
  dst->extradata = vg_buf_ref(src->extradata);
}

void vg_track_clear(vg_track_t *t) {
  vg_buf_unref(&t->extradata);
  memset(t, 0, sizeof(*t));
}
