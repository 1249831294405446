/*
 * h264.h: H.264 (ITU-T H.264) sequence parameter set parsing.
 *
 * Gives what a VMS needs to describe a stream: picture size after cropping,
 * frame rate when the encoder wrote VUI timing info, profile and level.
 * Input is one SPS NAL unit including its 1-byte header, still escaped
 * (emulation-prevention bytes are removed here). Bounded and pure; any
 * thread.
 */
#ifndef VG_MEDIA_H264_H
#define VG_MEDIA_H264_H

#include <stddef.h>
#include <stdint.h>

enum {
  VG_H264_NAL_SLICE = 1,
  VG_H264_NAL_IDR = 5,
  VG_H264_NAL_SEI = 6,
  VG_H264_NAL_SPS = 7,
  VG_H264_NAL_PPS = 8,
  VG_H264_NAL_AUD = 9,
};

/* Largest SPS accepted (real ones are tens of bytes). */
#define VG_H264_MAX_SPS_SIZE 1024

typedef struct {
  uint8_t profile_idc;
  uint8_t constraint_flags; /* constraint_set0..5 flags, as the byte after profile_idc */
  uint8_t level_idc;        /* level * 10, e.g. 31 for 3.1 */
  uint32_t sps_id;
  uint32_t chroma_format_idc; /* 1 = 4:2:0 */
  uint32_t bit_depth_luma;
  int frame_mbs_only;
  int width, height; /* displayed size: coded size minus the cropping window */
  /* VUI timing; has_timing is 0 when absent, and then fps is 0. */
  int has_timing;
  uint32_t num_units_in_tick, time_scale;
  int fixed_frame_rate;
  double fps; /* time_scale / (2 * num_units_in_tick) */
  uint16_t sar_num, sar_den; /* 0 when not signalled */
} vg_h264_sps_t;

/* Parses an SPS NAL unit (header byte included). Returns 0, VG_EINVAL when
 * the NAL is not an SPS, VG_ETOOBIG, VG_EPROTO when truncated or out of
 * range, VG_EUNSUPPORTED for sizes beyond 16384x16384. */
int vg_h264_parse_sps(const uint8_t *nal, size_t len, vg_h264_sps_t *out);

#endif
