/* Fragmented-MP4 muxer: see fmp4.h. Box layouts follow ISO/IEC 14496-12
 * (ISO BMFF) and 14496-15 (avcC, hvcC); dOps follows the Opus-in-ISOBMFF
 * encapsulation spec. */
#include "media/fmp4.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "media/h264.h"
#include "media/h265.h"
#include "media/nal.h"

/* ---- a bounded box writer over a growable vg_buf_t ---------------------- */

#define BOX_MAX_DEPTH 12

typedef struct {
  vg_buf_t **buf;
  int err; /* sticky: the first failure; later writes do nothing */
  size_t open[BOX_MAX_DEPTH];
  int depth;
} box_writer_t;

static void put(box_writer_t *w, const void *data, size_t len) {
  if (w->err) return;
  int rc = vg_buf_append(w->buf, data, len);
  if (rc < 0) w->err = rc;
}
static void put8(box_writer_t *w, uint8_t v) { put(w, &v, 1); }
static void put16(box_writer_t *w, uint16_t v) {
  uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
  put(w, b, 2);
}
static void put24(box_writer_t *w, uint32_t v) {
  uint8_t b[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  put(w, b, 3);
}
static void put32(box_writer_t *w, uint32_t v) {
  uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  put(w, b, 4);
}
static void put64(box_writer_t *w, uint64_t v) {
  put32(w, (uint32_t)(v >> 32));
  put32(w, (uint32_t)v);
}
static void put_zeros(box_writer_t *w, size_t n) {
  static const uint8_t zeros[32];
  while (n > 0 && !w->err) {
    size_t k = n < sizeof zeros ? n : sizeof zeros;
    put(w, zeros, k);
    n -= k;
  }
}
static void write_be32_at(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Opens a box whose size is patched by box_end(). */
static void box_begin(box_writer_t *w, const char type[4]) {
  if (w->err) return;
  if (w->depth >= BOX_MAX_DEPTH) {
    w->err = VG_EINVAL;
    return;
  }
  w->open[w->depth++] = (*w->buf)->len;
  put32(w, 0);
  put(w, type, 4);
}
static void fullbox_begin(box_writer_t *w, const char type[4], uint8_t version, uint32_t flags) {
  box_begin(w, type);
  put8(w, version);
  put24(w, flags);
}
static void box_end(box_writer_t *w) {
  if (w->err) return;
  size_t start = w->open[--w->depth];
  size_t size = (*w->buf)->len - start;
  if (size > UINT32_MAX) {
    w->err = VG_ETOOBIG;
    return;
  }
  write_be32_at((*w->buf)->data + start, (uint32_t)size);
}

/* ---- the muxer ---------------------------------------------------------- */

typedef struct {
  vg_track_t info;
  int width, height; /* video: from the track or else its SPS */
  uint32_t nominal;  /* duration of a lone sample, in the clock */
  int started;       /* origin is set */
  int64_t origin;    /* pts at decode time 0 */
  int64_t last_pts;  /* of the last frame added */
  int has_last;
  int64_t end_pts; /* vg_fmp4_set_end: where the last queued sample ends */
  int has_end;
} mux_track_t;

struct vg_fmp4 {
  mux_track_t tracks[VG_MAX_TRACKS];
  int track_count;
  vg_frame_t *queue; /* in arrival order */
  int queued, queue_cap;
  uint64_t queued_bytes;
  uint32_t sequence;
  int64_t first_utc_us; /* utc_us of the first frame of any track, 0 if unknown */
  int any_started;
};

/* Finds the first NAL unit of a type in length-prefixed extradata. */
static int find_param_set(vg_codec_t codec, const vg_buf_t *extra, int type, const uint8_t **nal,
                          size_t *nal_len) {
  size_t pos = 0;
  while (vg_nal_lp_next(extra->data, extra->len, &pos, nal, nal_len) == 1)
    if (vg_nal_type(codec, *nal, *nal_len) == type) return 0;
  return VG_EPROTO;
}

/* The first H265_SPS_HEAD bytes of an H.265 SPS without emulation
 * prevention: the 2-byte NAL header, one byte (VPS id,
 * max_sub_layers_minus1, temporal_id_nesting) and the 12 bytes of the
 * general profile_tier_level, which hvcC repeats as they are. */
#define H265_SPS_HEAD 15
static int h265_sps_head(const uint8_t *sps, size_t len, uint8_t out[H265_SPS_HEAD]) {
  uint8_t raw[32];
  int n = vg_nal_unescape(sps, len < 20 ? len : 20, raw, sizeof raw);
  if (n < H265_SPS_HEAD) return VG_EPROTO;
  memcpy(out, raw, H265_SPS_HEAD);
  return 0;
}

static int check_video_track(mux_track_t *t) {
  const vg_track_t *info = &t->info;
  if (!info->extradata || info->extradata->len == 0) return VG_EINVAL;
  if (info->extradata->len > VG_FMP4_MAX_EXTRADATA) return VG_ETOOBIG;
  const uint8_t *sps;
  size_t sps_len;
  int w = 0, h = 0, rc;
  if (info->codec == VG_CODEC_H264) {
    vg_h264_sps_t s;
    if (find_param_set(VG_CODEC_H264, info->extradata, VG_H264_NAL_PPS, &sps, &sps_len) < 0) return VG_EPROTO;
    if ((rc = find_param_set(VG_CODEC_H264, info->extradata, VG_H264_NAL_SPS, &sps, &sps_len)) < 0) return rc;
    if (sps_len < 4 || (rc = vg_h264_parse_sps(sps, sps_len, &s)) < 0) return VG_EPROTO;
    w = s.width, h = s.height;
  } else {
    vg_h265_sps_t s;
    if (find_param_set(VG_CODEC_H265, info->extradata, VG_H265_NAL_VPS, &sps, &sps_len) < 0 ||
        find_param_set(VG_CODEC_H265, info->extradata, VG_H265_NAL_PPS, &sps, &sps_len) < 0)
      return VG_EPROTO;
    if ((rc = find_param_set(VG_CODEC_H265, info->extradata, VG_H265_NAL_SPS, &sps, &sps_len)) < 0) return rc;
    uint8_t head[H265_SPS_HEAD];
    if (vg_h265_parse_sps(sps, sps_len, &s) < 0 || h265_sps_head(sps, sps_len, head) < 0) return VG_EPROTO;
    w = s.width, h = s.height;
  }
  t->width = info->width > 0 ? info->width : w;
  t->height = info->height > 0 ? info->height : h;
  if (t->width <= 0 || t->height <= 0 || t->width > 65535 || t->height > 65535) return VG_EPROTO;
  /* A frame rate from an SPS or SDP is untrusted: outside 1..300 fps it is
   * taken as 25 rather than turned into an absurd duration. */
  double fps = info->fps >= 1 && info->fps <= 300 ? info->fps : 25.0;
  t->nominal = (uint32_t)(info->clock_rate / fps + 0.5);
  if (t->nominal == 0) t->nominal = 1;
  return 0;
}

static int check_track(mux_track_t *t) {
  const vg_track_t *info = &t->info;
  if (info->clock_rate == 0) return VG_EINVAL;
  switch (info->codec) {
  case VG_CODEC_H264:
  case VG_CODEC_H265: return check_video_track(t);
  case VG_CODEC_AAC:
    /* The ESDS lengths below are written as single bytes. */
    if (!info->extradata || info->extradata->len < 2) return VG_EINVAL;
    if (info->extradata->len > 64) return VG_ETOOBIG;
    t->nominal = 1024;
    return 0;
  case VG_CODEC_OPUS: t->nominal = info->clock_rate / 50; return 0;
  case VG_CODEC_PCMU:
  case VG_CODEC_PCMA: t->nominal = info->clock_rate / 50; return 0;
  default: return VG_EUNSUPPORTED;
  }
}

int vg_fmp4_create(const vg_track_t *tracks, int track_count, vg_fmp4_t **out) {
  *out = NULL;
  if (!tracks || track_count < 1 || track_count > VG_MAX_TRACKS) return VG_EINVAL;
  vg_fmp4_t *m = calloc(1, sizeof *m);
  if (!m) return VG_ENOMEM;
  m->track_count = track_count;
  for (int i = 0; i < track_count; i++) {
    vg_track_copy(&m->tracks[i].info, &tracks[i]);
    int rc = check_track(&m->tracks[i]);
    if (rc < 0) {
      vg_fmp4_free(&m);
      return rc;
    }
  }
  *out = m;
  return 0;
}

static void drop_queue(vg_fmp4_t *m) {
  for (int i = 0; i < m->queued; i++)
    vg_frame_unref(&m->queue[i]);
  m->queued = 0;
  m->queued_bytes = 0;
}

void vg_fmp4_free(vg_fmp4_t **mp) {
  vg_fmp4_t *m = *mp;
  if (!m) return;
  drop_queue(m);
  free(m->queue);
  for (int i = 0; i < m->track_count; i++)
    vg_track_clear(&m->tracks[i].info);
  free(m);
  *mp = NULL;
}

/* ---- init segment ------------------------------------------------------- */

static const uint32_t unity_matrix[9] = {0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000};

static void put_matrix(box_writer_t *w) {
  for (int i = 0; i < 9; i++)
    put32(w, unity_matrix[i]);
}

static void write_mvhd(box_writer_t *w, const vg_fmp4_t *m) {
  fullbox_begin(w, "mvhd", 0, 0);
  put32(w, 0);          /* creation_time */
  put32(w, 0);          /* modification_time */
  put32(w, 1000);       /* timescale: only durations in mvhd use it, and they are 0 */
  put32(w, 0);          /* duration: unknown, fragments follow */
  put32(w, 0x00010000); /* rate 1.0 */
  put16(w, 0x0100);     /* volume 1.0 */
  put_zeros(w, 10);     /* reserved */
  put_matrix(w);
  put_zeros(w, 24);                       /* pre_defined */
  put32(w, (uint32_t)m->track_count + 1); /* next_track_ID */
  box_end(w);
}

static void write_tkhd(box_writer_t *w, const mux_track_t *t, int id) {
  int video = vg_codec_is_video(t->info.codec);
  fullbox_begin(w, "tkhd", 0, 0x3); /* enabled, in movie */
  put32(w, 0);
  put32(w, 0);
  put32(w, (uint32_t)id);
  put32(w, 0); /* reserved */
  put32(w, 0); /* duration */
  put_zeros(w, 8);
  put16(w, 0);                  /* layer */
  put16(w, video ? 0 : 1);      /* alternate_group: audio tracks are alternatives of each other */
  put16(w, video ? 0 : 0x0100); /* volume */
  put16(w, 0);
  put_matrix(w);
  put32(w, video ? (uint32_t)t->width << 16 : 0);
  put32(w, video ? (uint32_t)t->height << 16 : 0);
  box_end(w);
}

static void write_mdhd_hdlr(box_writer_t *w, const mux_track_t *t) {
  int video = vg_codec_is_video(t->info.codec);
  fullbox_begin(w, "mdhd", 0, 0);
  put32(w, 0);
  put32(w, 0);
  put32(w, t->info.clock_rate);
  put32(w, 0);
  put16(w, 0x55c4); /* language "und", packed ISO-639-2/T */
  put16(w, 0);
  box_end(w);
  fullbox_begin(w, "hdlr", 0, 0);
  put32(w, 0);
  put(w, video ? "vide" : "soun", 4);
  put_zeros(w, 12);
  const char *name = video ? "VideoHandler" : "SoundHandler";
  put(w, name, strlen(name) + 1);
  box_end(w);
}

static void write_avcc(box_writer_t *w, const vg_buf_t *extra) {
  const uint8_t *nal;
  size_t len, pos = 0;
  const uint8_t *sps = NULL;
  size_t sps_len = 0;
  int nsps = 0, npps = 0;
  while (vg_nal_lp_next(extra->data, extra->len, &pos, &nal, &len) == 1) {
    int type = vg_nal_type(VG_CODEC_H264, nal, len);
    if (type == VG_H264_NAL_SPS && nsps < 31) {
      if (!sps) sps = nal, sps_len = len;
      nsps++;
    } else if (type == VG_H264_NAL_PPS && npps < 255) {
      npps++;
    }
  }
  vg_h264_sps_t s;
  int parsed = vg_h264_parse_sps(sps, sps_len, &s) == 0;
  box_begin(w, "avcC");
  put8(w, 1);      /* configurationVersion */
  put8(w, sps[1]); /* profile_idc, constraint flags, level_idc as in the SPS */
  put8(w, sps[2]);
  put8(w, sps[3]);
  put8(w, 0xfc | 3); /* lengthSizeMinusOne: 4-byte lengths, as vigil carries them */
  put8(w, 0xe0 | (uint8_t)nsps);
  for (int pass = 0; pass < 2; pass++) {
    int want = pass == 0 ? VG_H264_NAL_SPS : VG_H264_NAL_PPS;
    if (pass == 1) put8(w, (uint8_t)npps);
    int written = 0, limit = pass == 0 ? nsps : npps;
    pos = 0;
    while (written < limit && vg_nal_lp_next(extra->data, extra->len, &pos, &nal, &len) == 1) {
      if (vg_nal_type(VG_CODEC_H264, nal, len) != want) continue;
      put16(w, (uint16_t)len);
      put(w, nal, len);
      written++;
    }
  }
  /* High profiles carry chroma format and bit depths (14496-15 5.3.3.1.2). */
  uint8_t profile = sps[1];
  if (parsed && (profile == 100 || profile == 110 || profile == 122 || profile == 144)) {
    put8(w, 0xfc | (uint8_t)(s.chroma_format_idc & 3));
    put8(w, 0xf8 | (uint8_t)((s.bit_depth_luma - 8) & 7));
    put8(w, 0xf8 | (uint8_t)((s.bit_depth_luma - 8) &
                             7)); /* chroma depth is not parsed; cameras use equal depths */
    put8(w, 0);                   /* numOfSequenceParameterSetExt */
  }
  box_end(w);
}

static void write_hvcc(box_writer_t *w, const vg_buf_t *extra) {
  const uint8_t *sps;
  size_t sps_len;
  find_param_set(VG_CODEC_H265, extra, VG_H265_NAL_SPS, &sps, &sps_len); /* checked at create */
  uint8_t raw[H265_SPS_HEAD];
  h265_sps_head(sps, sps_len, raw); /* checked at create */
  vg_h265_sps_t s;
  memset(&s, 0, sizeof s);
  vg_h265_parse_sps(sps, sps_len, &s);
  uint8_t sub_layers = (uint8_t)(((raw[2] >> 1) & 7) + 1);
  uint8_t nesting = raw[2] & 1;

  box_begin(w, "hvcC");
  put8(w, 1);
  put(w, raw + 3, 12); /* general_profile_space..general_level_idc */
  put16(w, 0xf000);    /* min_spatial_segmentation_idc 0 */
  put8(w, 0xfc);       /* parallelismType 0 (unknown) */
  put8(w, 0xfc | (uint8_t)(s.chroma_format_idc & 3));
  put8(w, 0xf8 | (uint8_t)((s.bit_depth_luma ? s.bit_depth_luma - 8 : 0) & 7));
  put8(w, 0xf8 | (uint8_t)((s.bit_depth_luma ? s.bit_depth_luma - 8 : 0) & 7));
  put16(w, 0); /* avgFrameRate unknown */
  put8(w, (uint8_t)((sub_layers << 3) | (nesting << 2) | 3));
  static const int types[3] = {VG_H265_NAL_VPS, VG_H265_NAL_SPS, VG_H265_NAL_PPS};
  put8(w, 3); /* numOfArrays */
  for (int i = 0; i < 3; i++) {
    const uint8_t *nal;
    size_t len, pos = 0;
    uint16_t count = 0;
    while (vg_nal_lp_next(extra->data, extra->len, &pos, &nal, &len) == 1)
      count += vg_nal_type(VG_CODEC_H265, nal, len) == types[i];
    put8(w, 0x80 | (uint8_t)types[i]); /* array_completeness: all sets are here */
    put16(w, count);
    pos = 0;
    while (vg_nal_lp_next(extra->data, extra->len, &pos, &nal, &len) == 1) {
      if (vg_nal_type(VG_CODEC_H265, nal, len) != types[i]) continue;
      put16(w, (uint16_t)len);
      put(w, nal, len);
    }
  }
  box_end(w);
}

static void write_visual_entry(box_writer_t *w, const mux_track_t *t) {
  int avc = t->info.codec == VG_CODEC_H264;
  box_begin(w, avc ? "avc1" : "hvc1");
  put_zeros(w, 6);
  put16(w, 1); /* data_reference_index */
  put_zeros(w, 16);
  put16(w, (uint16_t)t->width);
  put16(w, (uint16_t)t->height);
  put32(w, 0x00480000); /* 72 dpi */
  put32(w, 0x00480000);
  put32(w, 0);
  put16(w, 1);      /* frame_count */
  put_zeros(w, 32); /* compressorname */
  put16(w, 0x0018); /* depth */
  put16(w, 0xffff); /* pre_defined -1 */
  if (avc)
    write_avcc(w, t->info.extradata);
  else
    write_hvcc(w, t->info.extradata);
  box_end(w);
}

static void begin_audio_entry(box_writer_t *w, const char type[4], int channels, uint32_t rate) {
  box_begin(w, type);
  put_zeros(w, 6);
  put16(w, 1);
  put_zeros(w, 8);
  put16(w, (uint16_t)channels);
  put16(w, 16); /* samplesize */
  put32(w, 0);
  put32(w, rate <= 0xffff ? rate << 16 : 0);
}

static void write_esds(box_writer_t *w, const vg_buf_t *asc) {
  uint8_t asc_len = (uint8_t)asc->len; /* <= 64, checked at create */
  fullbox_begin(w, "esds", 0, 0);
  put8(w, 0x03); /* ES_Descriptor */
  put8(w, (uint8_t)(3 + 2 + 13 + 2 + asc_len + 3));
  put16(w, 0);   /* ES_ID */
  put8(w, 0);    /* no stream dependence, URL or OCR */
  put8(w, 0x04); /* DecoderConfigDescriptor */
  put8(w, (uint8_t)(13 + 2 + asc_len));
  put8(w, 0x40); /* objectTypeIndication: MPEG-4 Audio */
  put8(w, 0x15); /* streamType audio (5) << 2 | reserved 1 */
  put24(w, 0);   /* bufferSizeDB */
  put32(w, 0);   /* maxBitrate */
  put32(w, 0);   /* avgBitrate */
  put8(w, 0x05); /* DecoderSpecificInfo: the AudioSpecificConfig */
  put8(w, asc_len);
  put(w, asc->data, asc_len);
  put8(w, 0x06); /* SLConfigDescriptor, predefined 2 (MP4) */
  put8(w, 1);
  put8(w, 0x02);
  box_end(w);
}

static void write_audio_entry(box_writer_t *w, const mux_track_t *t) {
  const vg_track_t *info = &t->info;
  int channels = info->channels > 0 ? info->channels : (info->codec == VG_CODEC_OPUS ? 2 : 1);
  uint32_t rate = info->sample_rate > 0 ? (uint32_t)info->sample_rate : info->clock_rate;
  switch (info->codec) {
  case VG_CODEC_AAC:
    begin_audio_entry(w, "mp4a", channels, rate);
    write_esds(w, info->extradata);
    break;
  case VG_CODEC_OPUS:
    begin_audio_entry(w, "Opus", channels, 48000);
    box_begin(w, "dOps");
    put8(w, 0); /* Version */
    put8(w, (uint8_t)channels);
    put16(w, 0); /* PreSkip: unknown for a live stream */
    put32(w, rate);
    put16(w, 0); /* OutputGain */
    put8(w, 0);  /* ChannelMappingFamily 0: mono or stereo */
    box_end(w);
    break;
  default: begin_audio_entry(w, info->codec == VG_CODEC_PCMU ? "ulaw" : "alaw", channels, rate); break;
  }
  box_end(w);
}

static void write_empty_tables(box_writer_t *w) {
  static const char *const tables[] = {"stts", "stsc", "stco"};
  for (int i = 0; i < 3; i++) {
    fullbox_begin(w, tables[i], 0, 0);
    put32(w, 0);
    box_end(w);
  }
  fullbox_begin(w, "stsz", 0, 0);
  put32(w, 0); /* sample_size */
  put32(w, 0); /* sample_count */
  box_end(w);
}

static void write_trak(box_writer_t *w, const mux_track_t *t, int id) {
  int video = vg_codec_is_video(t->info.codec);
  box_begin(w, "trak");
  write_tkhd(w, t, id);
  box_begin(w, "mdia");
  write_mdhd_hdlr(w, t);
  box_begin(w, "minf");
  if (video) {
    fullbox_begin(w, "vmhd", 0, 1);
    put_zeros(w, 8);
  } else {
    fullbox_begin(w, "smhd", 0, 0);
    put_zeros(w, 4);
  }
  box_end(w);
  box_begin(w, "dinf");
  fullbox_begin(w, "dref", 0, 0);
  put32(w, 1);
  fullbox_begin(w, "url ", 0, 1); /* media in this file */
  box_end(w);
  box_end(w);
  box_end(w);
  box_begin(w, "stbl");
  fullbox_begin(w, "stsd", 0, 0);
  put32(w, 1);
  if (video)
    write_visual_entry(w, t);
  else
    write_audio_entry(w, t);
  box_end(w);
  write_empty_tables(w);
  box_end(w); /* stbl */
  box_end(w); /* minf */
  box_end(w); /* mdia */
  box_end(w); /* trak */
}

int vg_fmp4_init_segment(vg_fmp4_t *m, vg_buf_t **out) {
  if (!m || !out) return VG_EINVAL;
  if (!*out && !(*out = vg_buf_alloc(1024))) return VG_ENOMEM;
  size_t start = (*out)->len;
  box_writer_t w = {.buf = out};
  box_begin(&w, "ftyp");
  put(&w, "iso5", 4);
  put32(&w, 0x200);
  put(&w, "iso5iso6mp41", 12);
  int has_avc = 0;
  for (int i = 0; i < m->track_count; i++)
    has_avc |= m->tracks[i].info.codec == VG_CODEC_H264;
  if (has_avc) put(&w, "avc1", 4);
  box_end(&w);
  box_begin(&w, "moov");
  write_mvhd(&w, m);
  for (int i = 0; i < m->track_count; i++)
    write_trak(&w, &m->tracks[i], i + 1);
  box_begin(&w, "mvex");
  for (int i = 0; i < m->track_count; i++) {
    fullbox_begin(&w, "trex", 0, 0);
    put32(&w, (uint32_t)i + 1);
    put32(&w, 1); /* default_sample_description_index */
    put32(&w, 0);
    put32(&w, 0);
    put32(&w, 0);
    box_end(&w);
  }
  box_end(&w);
  box_end(&w);
  if (w.err) {
    if (*out) (*out)->len = start;
    return w.err;
  }
  return (int)((*out)->len - start);
}

/* ---- fragments ---------------------------------------------------------- */

int vg_fmp4_set_end(vg_fmp4_t *m, int track, int64_t end_pts) {
  if (!m || track < 0 || track >= m->track_count) return VG_EINVAL;
  m->tracks[track].end_pts = end_pts;
  m->tracks[track].has_end = 1;
  return 0;
}

int vg_fmp4_queued(const vg_fmp4_t *m) { return m ? m->queued : 0; }

/* The decode-time origin of a track's first frame: 0 for the first track to
 * start, its wall-clock offset from that one for the others. */
static void start_track(vg_fmp4_t *m, mux_track_t *t, const vg_frame_t *f) {
  int64_t offset = 0;
  if (!m->any_started) {
    m->any_started = 1;
    m->first_utc_us = f->utc_us;
  } else if (m->first_utc_us > 0 && f->utc_us > m->first_utc_us) {
    int64_t delta_us = f->utc_us - m->first_utc_us;
    if (delta_us < 3600 * INT64_C(1000000)) offset = delta_us * (int64_t)t->info.clock_rate / 1000000;
  }
  t->origin = f->pts - offset;
  t->started = 1;
}

int vg_fmp4_add_frame(vg_fmp4_t *m, const vg_frame_t *f) {
  if (!m || !f || f->track >= m->track_count || !f->buf || !f->data || f->len == 0) return VG_EINVAL;
  mux_track_t *t = &m->tracks[f->track];
  if (t->has_last && (f->pts < t->last_pts || f->pts - t->last_pts > (int64_t)UINT32_MAX)) return VG_EINVAL;
  if (m->queued >= VG_FMP4_MAX_SAMPLES || m->queued_bytes + f->len > VG_FMP4_MAX_FRAGMENT_BYTES)
    return VG_ETOOBIG;
  if (m->queued == m->queue_cap) {
    int cap = m->queue_cap ? m->queue_cap * 2 : 64;
    if (cap > VG_FMP4_MAX_SAMPLES) cap = VG_FMP4_MAX_SAMPLES;
    vg_frame_t *q = realloc(m->queue, (size_t)cap * sizeof *q);
    if (!q) return VG_ENOMEM;
    m->queue = q;
    m->queue_cap = cap;
  }
  if (!t->started) start_track(m, t, f);
  /* A frame before the origin (a clock that moved under us) would need a
   * negative decode time; refuse it rather than wrap. */
  if (f->pts < t->origin) return VG_EINVAL;
  vg_frame_ref(&m->queue[m->queued++], f);
  m->queued_bytes += f->len;
  t->last_pts = f->pts;
  t->has_last = 1;
  return 0;
}

enum {
  SAMPLE_SYNC = 0x02000000,     /* sample_depends_on = 2: depends on no other sample */
  SAMPLE_NON_SYNC = 0x01010000, /* depends on others, sample_is_non_sync_sample */
  TRUN_FLAGS = 0x000001 | 0x000100 | 0x000200 | 0x000400, /* data offset, duration, size, flags */
};

static uint32_t sample_flags(const mux_track_t *t, const vg_frame_t *f) {
  if (!vg_codec_is_video(t->info.codec)) return SAMPLE_SYNC;
  return (f->flags & VG_FRAME_KEY) ? SAMPLE_SYNC : SAMPLE_NON_SYNC;
}

/* Durations of a track's samples in this fragment (see fmp4.h). */
static uint32_t sample_duration(const mux_track_t *t, vg_frame_t *const *s, int i, int n) {
  if (i + 1 < n) return (uint32_t)(s[i + 1]->pts - s[i]->pts);
  if (t->has_end && t->end_pts > s[i]->pts && t->end_pts - s[i]->pts <= (int64_t)UINT32_MAX)
    return (uint32_t)(t->end_pts - s[i]->pts);
  if (n >= 2) return (uint32_t)(s[n - 1]->pts - s[n - 2]->pts);
  if (t->info.codec == VG_CODEC_PCMU || t->info.codec == VG_CODEC_PCMA)
    return s[i]->len / (uint32_t)(t->info.channels > 1 ? t->info.channels : 1);
  return t->nominal;
}

/* Writes one traf and returns where its trun data_offset field sits. */
static size_t write_traf(box_writer_t *w, const mux_track_t *t, int id, uint64_t decode_time,
                         vg_frame_t *const *s, int n, uint64_t *duration) {
  box_begin(w, "traf");
  fullbox_begin(w, "tfhd", 0, 0x020000); /* default-base-is-moof */
  put32(w, (uint32_t)id);
  box_end(w);
  fullbox_begin(w, "tfdt", 1, 0);
  put64(w, decode_time);
  box_end(w);
  fullbox_begin(w, "trun", 0, TRUN_FLAGS);
  put32(w, (uint32_t)n);
  size_t offset_at = w->err ? 0 : (*w->buf)->len;
  put32(w, 0); /* data_offset, patched once the moof size is known */
  *duration = 0;
  for (int i = 0; i < n; i++) {
    uint32_t d = sample_duration(t, s, i, n);
    *duration += d;
    put32(w, d);
    put32(w, s[i]->len);
    put32(w, sample_flags(t, s[i]));
  }
  box_end(w);
  box_end(w);
  return offset_at;
}

void vg_fmp4_fragment_release(vg_fmp4_fragment_t *f) {
  if (!f) return;
  for (int i = 0; i < f->sample_count && f->frames; i++)
    vg_frame_unref(&f->frames[i]);
  free(f->frames);
  free(f->iov);
  vg_buf_unref(&f->header);
  memset(f, 0, sizeof *f);
}

/* Puts the queued frames in file order (track by track, each in arrival
 * order) into order[], and counts them per track. */
static void order_samples(const vg_fmp4_t *m, vg_frame_t **order, int counts[VG_MAX_TRACKS]) {
  int k = 0;
  for (int t = 0; t < m->track_count; t++) {
    counts[t] = 0;
    for (int i = 0; i < m->queued; i++)
      if (m->queue[i].track == t) order[k++] = &m->queue[i], counts[t]++;
  }
}

int vg_fmp4_flush_fragment(vg_fmp4_t *m, vg_fmp4_fragment_t *out) {
  if (!m || !out) return VG_EINVAL;
  memset(out, 0, sizeof *out);
  if (m->queued == 0) return VG_ENODATA;
  int n = m->queued;
  vg_frame_t **order = malloc((size_t)n * sizeof *order);
  out->frames = malloc((size_t)n * sizeof *out->frames);
  out->iov = malloc((size_t)(n + 1) * sizeof *out->iov);
  out->header = vg_buf_alloc(256 + (size_t)n * 12 + 64 * (size_t)m->track_count);
  if (!order || !out->frames || !out->iov || !out->header) {
    free(order);
    vg_fmp4_fragment_release(out);
    return VG_ENOMEM;
  }
  int counts[VG_MAX_TRACKS];
  order_samples(m, order, counts);

  box_writer_t w = {.buf = &out->header};
  size_t offset_fields[VG_MAX_TRACKS] = {0};
  uint64_t track_bytes[VG_MAX_TRACKS] = {0};
  uint32_t sequence = m->sequence + 1;
  box_begin(&w, "moof");
  fullbox_begin(&w, "mfhd", 0, 0);
  put32(&w, sequence);
  box_end(&w);
  int first = 0;
  out->track = -1;
  for (int t = 0; t < m->track_count; t++) {
    if (counts[t] == 0) continue;
    vg_frame_t *const *s = order + first;
    uint64_t decode_time = (uint64_t)(s[0]->pts - m->tracks[t].origin), duration;
    offset_fields[t] = write_traf(&w, &m->tracks[t], t + 1, decode_time, s, counts[t], &duration);
    for (int i = 0; i < counts[t]; i++)
      track_bytes[t] += s[i]->len;
    if (out->track < 0) out->track = t, out->start_time = decode_time, out->duration = duration;
    first += counts[t];
  }
  box_end(&w);
  size_t moof_size = w.err ? 0 : out->header->len;
  put32(&w, (uint32_t)(8 + m->queued_bytes)); /* fits: VG_FMP4_MAX_FRAGMENT_BYTES */
  put(&w, "mdat", 4);
  if (w.err) {
    free(order);
    vg_fmp4_fragment_release(out);
    return w.err;
  }
  /* Each trun's data starts after the moof, the mdat header and the
   * samples of the tracks before it. */
  uint64_t data_offset = moof_size + 8;
  for (int t = 0; t < m->track_count; t++) {
    if (counts[t] == 0) continue;
    write_be32_at(out->header->data + offset_fields[t], (uint32_t)data_offset);
    data_offset += track_bytes[t];
  }

  out->iov[0] = (struct iovec){.iov_base = out->header->data, .iov_len = out->header->len};
  out->size = out->header->len;
  for (int i = 0; i < n; i++) {
    out->frames[i] = *order[i]; /* the queue's reference moves to the fragment */
    out->iov[i + 1] = (struct iovec){.iov_base = (void *)out->frames[i].data, .iov_len = out->frames[i].len};
    out->size += out->frames[i].len;
  }
  free(order);
  out->iov_count = n + 1;
  out->sample_count = n;
  out->sequence = sequence;
  m->sequence = sequence;
  for (int t = 0; t < m->track_count; t++)
    m->tracks[t].has_end = 0;
  m->queued = 0;
  m->queued_bytes = 0;
  return 0;
}

/* ---- producer reference time -------------------------------------------- */

/* Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01). */
#define NTP_UNIX_OFFSET_S UINT64_C(2208988800)

int vg_fmp4_prft(uint8_t out[VG_FMP4_PRFT_SIZE], uint32_t track_id, int64_t utc_us, uint64_t media_time) {
  if (!out || track_id == 0 || utc_us < 0) return VG_EINVAL;
  /* NTP: whole seconds in the upper 32 bits, the fraction of a second in
   * units of 2^-32 s in the lower 32 (RFC 5905's timestamp format). */
  uint64_t seconds = (uint64_t)(utc_us / 1000000) + NTP_UNIX_OFFSET_S;
  uint64_t fraction = ((uint64_t)(utc_us % 1000000) << 32) / 1000000;
  uint64_t ntp = seconds << 32 | fraction;
  write_be32_at(out, VG_FMP4_PRFT_SIZE);
  memcpy(out + 4, "prft", 4);
  write_be32_at(out + 8, UINT32_C(1) << 24); /* version 1 (64-bit media_time), flags 0 */
  write_be32_at(out + 12, track_id);
  write_be32_at(out + 16, (uint32_t)(ntp >> 32));
  write_be32_at(out + 20, (uint32_t)ntp);
  write_be32_at(out + 24, (uint32_t)(media_time >> 32));
  write_be32_at(out + 28, (uint32_t)media_time);
  return VG_FMP4_PRFT_SIZE;
}
