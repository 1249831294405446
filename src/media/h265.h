/*
 * h265.h: H.265/HEVC (ITU-T H.265) sequence parameter set parsing.
 *
 * Same purpose as h264.h: displayed size (conformance window applied),
 * frame rate from VUI timing info, profile/tier/level. Input is one SPS NAL
 * unit including its 2-byte header, still escaped. Bounded and pure; any
 * thread.
 */
#ifndef VG_MEDIA_H265_H
#define VG_MEDIA_H265_H

#include <stddef.h>
#include <stdint.h>

enum {
  VG_H265_NAL_BLA_W_LP = 16,
  VG_H265_NAL_IDR_W_RADL = 19,
  VG_H265_NAL_IDR_N_LP = 20,
  VG_H265_NAL_CRA = 21,
  VG_H265_NAL_VPS = 32,
  VG_H265_NAL_SPS = 33,
  VG_H265_NAL_PPS = 34,
  VG_H265_NAL_AUD = 35,
  VG_H265_NAL_SEI_PREFIX = 39,
  VG_H265_NAL_AP = 48, /* RTP aggregation packet (RFC 7798) */
  VG_H265_NAL_FU = 49, /* RTP fragmentation unit */
};

#define VG_H265_MAX_SPS_SIZE 2048

typedef struct {
  uint8_t profile_space, tier_flag, profile_idc;
  uint32_t profile_compat_flags;
  uint8_t level_idc; /* level * 30, e.g. 93 for 3.1 */
  uint32_t sps_id;
  uint32_t chroma_format_idc;
  uint32_t bit_depth_luma;
  int width, height; /* displayed size: conformance window applied */
  int has_timing;    /* VUI timing info present */
  uint32_t num_units_in_tick, time_scale;
  double fps; /* time_scale / num_units_in_tick */
} vg_h265_sps_t;

/* Parses an SPS NAL unit (2-byte header included). Returns 0, VG_EINVAL when
 * the NAL is not an SPS, VG_ETOOBIG, VG_EPROTO when truncated or out of
 * range, VG_EUNSUPPORTED for sizes beyond 16384x16384. A stream whose VUI is
 * cut short still yields the size with has_timing = 0. */
int vg_h265_parse_sps(const uint8_t *nal, size_t len, vg_h265_sps_t *out);

#endif
