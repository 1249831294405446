#include "media/flv.h"

#include <string.h>

#include "base/error.h"

static int32_t rd_si24(const uint8_t *p) {
  int32_t v = (int32_t)((uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]);
  return v & 0x800000 ? v - 0x1000000 : v;
}
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

enum { EX_SEQUENCE_START = 0, EX_CODED_FRAMES = 1, EX_SEQUENCE_END = 2, EX_CODED_FRAMES_X = 3 };

int vg_flv_parse_video(const uint8_t *p, size_t len, vg_flv_packet_t *out) {
  memset(out, 0, sizeof(*out));
  if (len < 1) return VG_EPROTO;
  uint8_t b = p[0];
  if (b & 0x80) {
    /* Enhanced RTMP: IsExHeader, FrameType (3 bits), PacketType, FourCC. */
    int frame_type = (b >> 4) & 7;
    int packet_type = b & 0x0f;
    if (len < 5) return VG_EPROTO;
    if (memcmp(p + 1, "hvc1", 4) != 0) return VG_EUNSUPPORTED;
    out->codec = VG_CODEC_H265;
    out->key = frame_type == 1;
    size_t off = 5;
    switch (packet_type) {
    case EX_SEQUENCE_START: out->kind = VG_FLV_CONFIG; break;
    case EX_CODED_FRAMES:
      if (len < off + 3) return VG_EPROTO;
      out->cts = rd_si24(p + off);
      off += 3;
      out->kind = VG_FLV_FRAME;
      break;
    case EX_CODED_FRAMES_X: out->kind = VG_FLV_FRAME; break;
    case EX_SEQUENCE_END: out->kind = VG_FLV_END; break;
    default: out->kind = VG_FLV_OTHER; break;
    }
    /* A frame type of 5 is a command frame (no picture). */
    if (frame_type == 5) out->kind = VG_FLV_OTHER;
    out->data = p + off;
    out->len = len - off;
    return 0;
  }
  int frame_type = b >> 4;
  int codec_id = b & 0x0f;
  if (codec_id == 7)
    out->codec = VG_CODEC_H264;
  else if (codec_id == 12)
    out->codec = VG_CODEC_H265;
  else
    return VG_EUNSUPPORTED;
  out->key = frame_type == 1;
  if (len < 5) return VG_EPROTO;
  switch (p[1]) {
  case 0: out->kind = VG_FLV_CONFIG; break;
  case 1: out->kind = VG_FLV_FRAME; break;
  case 2: out->kind = VG_FLV_END; break;
  default: return VG_EPROTO;
  }
  if (frame_type == 5) out->kind = VG_FLV_OTHER;
  out->cts = rd_si24(p + 2);
  out->data = p + 5;
  out->len = len - 5;
  return 0;
}

int vg_flv_parse_audio(const uint8_t *p, size_t len, vg_flv_packet_t *out) {
  memset(out, 0, sizeof(*out));
  if (len < 1) return VG_EPROTO;
  int format = p[0] >> 4;
  static const int rates[4] = {5512, 11025, 22050, 44100};
  out->sound_rate = rates[(p[0] >> 2) & 3];
  out->sound_stereo = p[0] & 1;
  if (format != 10) return VG_EUNSUPPORTED;
  out->codec = VG_CODEC_AAC;
  out->key = 1;
  if (len < 2) return VG_EPROTO;
  if (p[1] == 0)
    out->kind = VG_FLV_CONFIG;
  else if (p[1] == 1)
    out->kind = VG_FLV_FRAME;
  else
    return VG_EPROTO;
  out->data = p + 2;
  out->len = len - 2;
  return 0;
}

/* Appends a 4-byte length and the NAL unit. */
static int append_nal(vg_buf_t **b, const uint8_t *nal, size_t n) {
  uint8_t hdr[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
  int e = vg_buf_append(b, hdr, 4);
  return e ? e : vg_buf_append(b, nal, n);
}

int vg_flv_avcc_to_extradata(const uint8_t *p, size_t len, vg_buf_t **extradata, int *nal_length_size) {
  *extradata = NULL;
  if (len < 6 || p[0] != 1) return VG_EPROTO;
  int size = (p[4] & 3) + 1;
  if (size == 3) return VG_EPROTO;
  vg_buf_t *b = vg_buf_alloc(len + 64);
  if (!b) return VG_ENOMEM;
  size_t off = 5;
  int e = 0;
  /* SPS (count in the low 5 bits), then PPS (a full byte of count). */
  for (int list = 0; list < 2 && !e; list++) {
    if (off >= len) {
      e = VG_EPROTO;
      break;
    }
    int count = list == 0 ? p[off] & 0x1f : p[off];
    off++;
    for (int i = 0; i < count && !e; i++) {
      if (len - off < 2) {
        e = VG_EPROTO;
        break;
      }
      size_t n = rd16(p + off);
      off += 2;
      if (n == 0 || len - off < n) {
        e = VG_EPROTO;
        break;
      }
      e = append_nal(&b, p + off, n);
      off += n;
    }
  }
  if (!e && b->len == 0) e = VG_EPROTO;
  if (e) {
    vg_buf_unref(&b);
    return e;
  }
  *extradata = b;
  *nal_length_size = size;
  return 0;
}

int vg_flv_hvcc_to_extradata(const uint8_t *p, size_t len, vg_buf_t **extradata, int *nal_length_size) {
  *extradata = NULL;
  if (len < 23 || p[0] != 1) return VG_EPROTO;
  int size = (p[21] & 3) + 1;
  if (size == 3) return VG_EPROTO;
  int arrays = p[22];
  size_t off = 23;
  vg_buf_t *b = vg_buf_alloc(len + 64);
  if (!b) return VG_ENOMEM;
  int e = 0;
  for (int a = 0; a < arrays && !e; a++) {
    if (len - off < 3) {
      e = VG_EPROTO;
      break;
    }
    int count = rd16(p + off + 1);
    off += 3;
    for (int i = 0; i < count && !e; i++) {
      if (len - off < 2) {
        e = VG_EPROTO;
        break;
      }
      size_t n = rd16(p + off);
      off += 2;
      if (n == 0 || len - off < n) {
        e = VG_EPROTO;
        break;
      }
      e = append_nal(&b, p + off, n);
      off += n;
    }
  }
  if (!e && b->len == 0) e = VG_EPROTO;
  if (e) {
    vg_buf_unref(&b);
    return e;
  }
  *extradata = b;
  *nal_length_size = size;
  return 0;
}

int vg_flv_nalus_to_au(vg_buf_t *src, const uint8_t *p, size_t len, int nal_length_size, vg_buf_t **out,
                       const uint8_t **data, size_t *out_len) {
  *out = NULL;
  if (nal_length_size != 1 && nal_length_size != 2 && nal_length_size != 4) return VG_EPROTO;
  /* Walk once to check every length. */
  size_t off = 0, nals = 0;
  while (off < len) {
    if (len - off < (size_t)nal_length_size) return VG_EPROTO;
    size_t n = 0;
    for (int i = 0; i < nal_length_size; i++)
      n = n << 8 | p[off + i];
    off += (size_t)nal_length_size;
    if (len - off < n) return VG_EPROTO;
    off += n;
    if (n) nals++;
  }
  if (!nals) return VG_EPROTO;
  if (nal_length_size == 4) {
    *out = vg_buf_ref(src);
    *data = p;
    *out_len = len;
    return 0;
  }
  vg_buf_t *b = vg_buf_alloc(len + nals * 4);
  if (!b) return VG_ENOMEM;
  for (off = 0; off < len;) {
    size_t n = 0;
    for (int i = 0; i < nal_length_size; i++)
      n = n << 8 | p[off + i];
    off += (size_t)nal_length_size;
    if (n && append_nal(&b, p + off, n) != 0) {
      vg_buf_unref(&b);
      return VG_ENOMEM;
    }
    off += n;
  }
  *out = b;
  *data = b->data;
  *out_len = b->len;
  return 0;
}

int vg_flv_aac_config(const uint8_t *asc, size_t len, int *sample_rate, int *channels) {
  static const int rates[13] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                                22050, 16000, 12000, 11025, 8000,  7350};
  if (len < 2) return VG_EPROTO;
  /* Bit reader over at most 5 bytes: object type (5, or 5+6), rate index (4, or 4+24), channels (4). */
  uint64_t bits = 0;
  size_t have = len < 8 ? len : 8;
  for (size_t i = 0; i < 8; i++)
    bits = bits << 8 | (i < have ? asc[i] : 0);
  int pos = 0;
  int object = (int)((bits >> (64 - 5)) & 31);
  pos = 5;
  if (object == 31) pos += 6;
  int index = (int)((bits >> (64 - pos - 4)) & 15);
  pos += 4;
  int rate;
  if (index == 15) {
    rate = (int)((bits >> (64 - pos - 24)) & 0xffffff);
    pos += 24;
  } else if (index < 13) {
    rate = rates[index];
  } else {
    return VG_EPROTO;
  }
  int ch = (int)((bits >> (64 - pos - 4)) & 15);
  pos += 4;
  if ((size_t)(pos + 7) / 8 > len || rate <= 0) return VG_EPROTO;
  *sample_rate = rate;
  *channels = ch;
  return 0;
}
