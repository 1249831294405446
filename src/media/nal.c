#include "media/nal.h"

#include <string.h>

#include "base/error.h"
#include "media/h264.h"
#include "media/h265.h"

static uint32_t read_be32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static void write_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

int vg_nal_lp_next(const uint8_t *au, size_t len, size_t *pos, const uint8_t **nal, size_t *nal_len) {
  while (*pos < len) {
    if (len - *pos < 4) {
      *pos = len;
      return VG_EPROTO;
    }
    uint32_t n = read_be32(au + *pos);
    if (n > len - *pos - 4) {
      *pos = len;
      return VG_EPROTO;
    }
    *pos += 4;
    if (n == 0) continue;
    *nal = au + *pos;
    *nal_len = n;
    *pos += n;
    return 1;
  }
  return 0;
}

/* Offset of the first byte after the next 00 00 01 at or after pos, or
 * SIZE_MAX when there is none. */
static size_t find_start_code_end(const uint8_t *d, size_t len, size_t pos) {
  for (size_t i = pos; i + 2 < len; i++) {
    if (d[i + 2] > 1) {
      i += 2; /* neither of the next two positions can start a start code */
      continue;
    }
    if (d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1) return i + 3;
  }
  return SIZE_MAX;
}

int vg_nal_annexb_next(const uint8_t *data, size_t len, size_t *pos, const uint8_t **nal, size_t *nal_len) {
  for (;;) {
    size_t start = (*pos == 0) ? find_start_code_end(data, len, 0) : *pos;
    if (start >= len) {
      *pos = len;
      return 0;
    }
    size_t next = find_start_code_end(data, len, start);
    size_t end = next == SIZE_MAX ? len : next - 3;
    *pos = next == SIZE_MAX ? len : next;
    /* Trailing zeros belong to a 4-byte start code or trailing_zero_8bits. */
    while (end > start && data[end - 1] == 0)
      end--;
    if (end == start) continue;
    *nal = data + start;
    *nal_len = end - start;
    return 1;
  }
}

int vg_nal_annexb_to_lp(const uint8_t *data, size_t len, vg_buf_t **out) {
  *out = NULL;
  if (len > VG_NAL_MAX_AU_SIZE) return VG_ETOOBIG;
  size_t pos = 0, need = 0, count = 0, n;
  const uint8_t *nal;
  while (vg_nal_annexb_next(data, len, &pos, &nal, &n) == 1) {
    need += 4 + n;
    count++;
  }
  if (count == 0) return VG_EINVAL;
  vg_buf_t *b = vg_buf_alloc(need);
  if (!b) return VG_ENOMEM;
  pos = 0;
  while (vg_nal_annexb_next(data, len, &pos, &nal, &n) == 1) {
    write_be32(b->data + b->len, (uint32_t)n);
    memcpy(b->data + b->len + 4, nal, n);
    b->len += 4 + n;
  }
  *out = b;
  return 0;
}

int vg_nal_lp_to_annexb(const uint8_t *au, size_t len, vg_buf_t **out) {
  *out = NULL;
  if (len > VG_NAL_MAX_AU_SIZE) return VG_ETOOBIG;
  size_t pos = 0, n;
  const uint8_t *nal;
  int r;
  while ((r = vg_nal_lp_next(au, len, &pos, &nal, &n)) == 1) {
  }
  if (r < 0) return r;
  /* Same size: each 4-byte length becomes a 4-byte start code. */
  vg_buf_t *b = vg_buf_alloc(len ? len : 1);
  if (!b) return VG_ENOMEM;
  pos = 0;
  while (vg_nal_lp_next(au, len, &pos, &nal, &n) == 1) {
    static const uint8_t sc[4] = {0, 0, 0, 1};
    memcpy(b->data + b->len, sc, 4);
    memcpy(b->data + b->len + 4, nal, n);
    b->len += 4 + n;
  }
  *out = b;
  return 0;
}

int vg_nal_lp_to_annexb_into(const uint8_t *au, size_t len, uint8_t *dst) {
  size_t pos = 0;
  while (len - pos >= 4) {
    size_t n = read_be32(au + pos);
    if (n > len - pos - 4) return VG_EPROTO;
    memcpy(dst + pos, "\0\0\0\1", 4);
    memcpy(dst + pos + 4, au + pos + 4, n);
    pos += 4 + n;
  }
  return pos == len ? 0 : VG_EPROTO;
}

int vg_nal_unescape(const uint8_t *src, size_t len, uint8_t *dst, size_t cap) {
  size_t o = 0;
  int zeros = 0;
  if (len > (size_t)INT32_MAX) return VG_ETOOBIG;
  for (size_t i = 0; i < len; i++) {
    if (zeros >= 2 && src[i] == 3) {
      zeros = 0;
      continue;
    }
    if (o >= cap) return VG_ETOOBIG;
    dst[o++] = src[i];
    zeros = src[i] == 0 ? zeros + 1 : 0;
  }
  return (int)o;
}

int vg_nal_type(vg_codec_t codec, const uint8_t *nal, size_t len) {
  if (len < 1) return -1;
  if (codec == VG_CODEC_H264) return nal[0] & 0x1f;
  if (codec == VG_CODEC_H265) return (nal[0] >> 1) & 0x3f;
  return -1;
}

int vg_nal_is_keyframe_type(vg_codec_t codec, int type) {
  if (codec == VG_CODEC_H264) return type == VG_H264_NAL_IDR;
  if (codec == VG_CODEC_H265) return type >= VG_H265_NAL_BLA_W_LP && type <= VG_H265_NAL_CRA;
  return 0;
}

int vg_nal_is_param_set_type(vg_codec_t codec, int type) {
  if (codec == VG_CODEC_H264) return type == VG_H264_NAL_SPS || type == VG_H264_NAL_PPS;
  if (codec == VG_CODEC_H265) return type >= VG_H265_NAL_VPS && type <= VG_H265_NAL_PPS;
  return 0;
}

int vg_nal_au_is_keyframe(vg_codec_t codec, const uint8_t *au, size_t len) {
  size_t pos = 0, n;
  const uint8_t *nal;
  while (vg_nal_lp_next(au, len, &pos, &nal, &n) == 1)
    if (vg_nal_is_keyframe_type(codec, vg_nal_type(codec, nal, n))) return 1;
  return 0;
}

/* Parameter-set rank in extradata order: VPS 0, SPS 1, PPS 2; -1 otherwise. */
static int param_rank(vg_codec_t codec, int type) {
  if (codec == VG_CODEC_H264) return type == VG_H264_NAL_SPS ? 1 : type == VG_H264_NAL_PPS ? 2 : -1;
  if (codec == VG_CODEC_H265 && type >= VG_H265_NAL_VPS && type <= VG_H265_NAL_PPS)
    return type - VG_H265_NAL_VPS;
  return -1;
}

int vg_nal_extradata_from_au(vg_codec_t codec, const uint8_t *au, size_t len, vg_buf_t **out) {
  *out = NULL;
  size_t pos = 0, n, need = 0;
  const uint8_t *nal;
  int seen[3] = {0, 0, 0};
  while (vg_nal_lp_next(au, len, &pos, &nal, &n) == 1) {
    int rank = param_rank(codec, vg_nal_type(codec, nal, n));
    if (rank < 0) continue;
    seen[rank] = 1;
    need += 4 + n;
  }
  if (!seen[1] || !seen[2] || (codec == VG_CODEC_H265 && !seen[0])) return 0;
  vg_buf_t *b = vg_buf_alloc(need);
  if (!b) return VG_ENOMEM;
  for (int rank = 0; rank < 3; rank++) {
    pos = 0;
    while (vg_nal_lp_next(au, len, &pos, &nal, &n) == 1) {
      if (param_rank(codec, vg_nal_type(codec, nal, n)) != rank) continue;
      write_be32(b->data + b->len, (uint32_t)n);
      memcpy(b->data + b->len + 4, nal, n);
      b->len += 4 + n;
    }
  }
  *out = b;
  return 1;
}

static int apply_sps(vg_track_t *track, const uint8_t *nal, size_t n) {
  if (track->codec == VG_CODEC_H264) {
    vg_h264_sps_t sps;
    int r = vg_h264_parse_sps(nal, n, &sps);
    if (r < 0) return r;
    track->width = sps.width;
    track->height = sps.height;
    if (sps.has_timing) track->fps = sps.fps;
    return 0;
  }
  vg_h265_sps_t sps;
  int r = vg_h265_parse_sps(nal, n, &sps);
  if (r < 0) return r;
  track->width = sps.width;
  track->height = sps.height;
  if (sps.has_timing) track->fps = sps.fps;
  return 0;
}

static int find_sps(vg_codec_t codec, const uint8_t *au, size_t len, const uint8_t **sps, size_t *sps_len) {
  size_t pos = 0;
  int want = codec == VG_CODEC_H264 ? VG_H264_NAL_SPS : VG_H265_NAL_SPS;
  while (vg_nal_lp_next(au, len, &pos, sps, sps_len) == 1)
    if (vg_nal_type(codec, *sps, *sps_len) == want) return 1;
  return 0;
}

int vg_track_update_video_info(vg_track_t *track, const uint8_t *au, size_t len) {
  if (!vg_codec_is_video(track->codec)) return VG_EUNSUPPORTED;
  const uint8_t *sps;
  size_t n;
  if (au && find_sps(track->codec, au, len, &sps, &n)) return apply_sps(track, sps, n);
  if (track->extradata && find_sps(track->codec, track->extradata->data, track->extradata->len, &sps, &n))
    return apply_sps(track, sps, n);
  return VG_ENOTFOUND;
}

uint32_t vg_br_bits(vg_bitreader_t *br, int n) {
  uint32_t v = 0;
  for (int i = 0; i < n; i++)
    v = (v << 1) | vg_br_bit(br);
  return v;
}

void vg_br_skip(vg_bitreader_t *br, size_t n) {
  if (n > br->size_bits - br->pos) {
    br->pos = br->size_bits;
    br->overrun = 1;
    return;
  }
  br->pos += n;
}

uint32_t vg_br_ue(vg_bitreader_t *br) {
  int zeros = 0;
  while (vg_br_bit(br) == 0) {
    if (br->overrun || ++zeros > 31) {
      br->overrun = 1;
      return 0;
    }
  }
  if (zeros == 0) return 0;
  uint64_t v = ((uint64_t)1 << zeros) - 1 + vg_br_bits(br, zeros);
  if (v > UINT32_MAX) {
    br->overrun = 1;
    return 0;
  }
  return (uint32_t)v;
}

int32_t vg_br_se(vg_bitreader_t *br) {
  uint32_t k = vg_br_ue(br);
  /* k = 2|v| - (v > 0): odd codes are positive. */
  if (k & 1) return (int32_t)((k >> 1) + 1);
  return -(int32_t)(k >> 1);
}
