#include "media/h265.h"

#include <string.h>

#include "base/error.h"
#include "media/nal.h"

/* H.265 7.3.3: the general part is 88 bits of profile data and the level;
 * sub-layers add optional copies of both. */
static void parse_profile_tier_level(vg_bitreader_t *br, uint32_t max_sub_layers_minus1, vg_h265_sps_t *s) {
  s->profile_space = (uint8_t)vg_br_bits(br, 2);
  s->tier_flag = (uint8_t)vg_br_bit(br);
  s->profile_idc = (uint8_t)vg_br_bits(br, 5);
  s->profile_compat_flags = vg_br_bits(br, 32);
  vg_br_skip(br, 48); /* progressive/interlaced/non-packed/frame-only + 43 reserved + 1 */
  s->level_idc = (uint8_t)vg_br_bits(br, 8);
  int profile_present[8] = {0}, level_present[8] = {0};
  for (uint32_t i = 0; i < max_sub_layers_minus1; i++) {
    profile_present[i] = (int)vg_br_bit(br);
    level_present[i] = (int)vg_br_bit(br);
  }
  if (max_sub_layers_minus1 > 0)
    for (uint32_t i = max_sub_layers_minus1; i < 8; i++) vg_br_skip(br, 2);
  for (uint32_t i = 0; i < max_sub_layers_minus1; i++) {
    if (profile_present[i]) vg_br_skip(br, 88);
    if (level_present[i]) vg_br_skip(br, 8);
  }
}

static void skip_scaling_list_data(vg_bitreader_t *br) {
  for (int size_id = 0; size_id < 4; size_id++) {
    for (int matrix_id = 0; matrix_id < 6; matrix_id += (size_id == 3) ? 3 : 1) {
      if (!vg_br_bit(br)) { /* scaling_list_pred_mode_flag */
        vg_br_ue(br);       /* scaling_list_pred_matrix_id_delta */
        continue;
      }
      int coefs = 1 << (4 + (size_id << 1));
      if (coefs > 64) coefs = 64;
      if (size_id > 1) vg_br_se(br); /* scaling_list_dc_coef_minus8 */
      for (int i = 0; i < coefs && !br->overrun; i++) vg_br_se(br);
    }
  }
}

#define MAX_ST_RPS 64

/* st_ref_pic_set(idx) as it appears in an SPS (7.3.7). num_delta_pocs keeps
 * each set's size because inter-predicted sets refer to the previous one. */
static int skip_st_ref_pic_set(vg_bitreader_t *br, uint32_t idx, uint32_t *num_delta_pocs) {
  int inter = idx != 0 ? (int)vg_br_bit(br) : 0;
  if (inter) {
    /* In the SPS delta_idx_minus1 is absent: the reference is idx - 1. */
    vg_br_skip(br, 1); /* delta_rps_sign */
    vg_br_ue(br);      /* abs_delta_rps_minus1 */
    uint32_t ref = num_delta_pocs[idx - 1], count = 0;
    for (uint32_t j = 0; j <= ref && !br->overrun; j++) {
      int used = (int)vg_br_bit(br);
      int use_delta = used ? 1 : (int)vg_br_bit(br);
      if (use_delta) count++;
    }
    num_delta_pocs[idx] = count;
  } else {
    uint32_t neg = vg_br_ue(br), pos = vg_br_ue(br);
    if (neg > 16 || pos > 16) return VG_EPROTO;
    for (uint32_t j = 0; j < neg + pos && !br->overrun; j++) {
      vg_br_ue(br);      /* delta_poc_sX_minus1 */
      vg_br_skip(br, 1); /* used_by_curr_pic_sX_flag */
    }
    num_delta_pocs[idx] = neg + pos;
  }
  return br->overrun ? VG_EPROTO : 0;
}

/* VUI up to the timing info (E.2.1); everything after it is not needed. */
static void parse_vui_timing(vg_bitreader_t *br, vg_h265_sps_t *s) {
  if (vg_br_bit(br)) { /* aspect_ratio_info_present_flag */
    if (vg_br_bits(br, 8) == 255) vg_br_skip(br, 32);
  }
  if (vg_br_bit(br)) vg_br_skip(br, 1); /* overscan */
  if (vg_br_bit(br)) {                  /* video_signal_type_present_flag */
    vg_br_skip(br, 4);
    if (vg_br_bit(br)) vg_br_skip(br, 24);
  }
  if (vg_br_bit(br)) { /* chroma_loc_info_present_flag */
    vg_br_ue(br);
    vg_br_ue(br);
  }
  vg_br_skip(br, 3);   /* neutral_chroma_indication, field_seq, frame_field_info_present */
  if (vg_br_bit(br)) { /* default_display_window_flag */
    for (int i = 0; i < 4; i++) vg_br_ue(br);
  }
  if (vg_br_bit(br)) { /* vui_timing_info_present_flag */
    s->num_units_in_tick = vg_br_bits(br, 32);
    s->time_scale = vg_br_bits(br, 32);
    if (!br->overrun && s->num_units_in_tick && s->time_scale) {
      s->has_timing = 1;
      s->fps = (double)s->time_scale / s->num_units_in_tick;
    }
  }
}

int vg_h265_parse_sps(const uint8_t *nal, size_t len, vg_h265_sps_t *out) {
  memset(out, 0, sizeof(*out));
  if (len < 4 || ((nal[0] >> 1) & 0x3f) != VG_H265_NAL_SPS) return VG_EINVAL;
  if (len > VG_H265_MAX_SPS_SIZE) return VG_ETOOBIG;
  uint8_t rbsp[VG_H265_MAX_SPS_SIZE];
  int n = vg_nal_unescape(nal + 2, len - 2, rbsp, sizeof(rbsp));
  if (n < 0) return n;
  vg_bitreader_t br;
  vg_br_init(&br, rbsp, (size_t)n);
  vg_h265_sps_t *s = out;
  vg_br_skip(&br, 4); /* sps_video_parameter_set_id */
  uint32_t max_sub_layers_minus1 = vg_br_bits(&br, 3);
  if (max_sub_layers_minus1 > 6) return VG_EPROTO;
  vg_br_skip(&br, 1); /* sps_temporal_id_nesting_flag */
  parse_profile_tier_level(&br, max_sub_layers_minus1, s);
  s->sps_id = vg_br_ue(&br);
  s->chroma_format_idc = vg_br_ue(&br);
  if (s->sps_id > 15 || s->chroma_format_idc > 3) return VG_EPROTO;
  int separate_colour_plane = 0;
  if (s->chroma_format_idc == 3) separate_colour_plane = (int)vg_br_bit(&br);
  uint32_t w = vg_br_ue(&br), h = vg_br_ue(&br);
  uint32_t win[4] = {0, 0, 0, 0}; /* left, right, top, bottom */
  if (vg_br_bit(&br))             /* conformance_window_flag */
    for (int i = 0; i < 4; i++) win[i] = vg_br_ue(&br);
  s->bit_depth_luma = vg_br_ue(&br) + 8;
  if (br.overrun) return VG_EPROTO;
  if (w == 0 || h == 0 || s->bit_depth_luma > 16) return VG_EPROTO;
  if (w > 16384 || h > 16384) return VG_EUNSUPPORTED;
  uint32_t sub_w = 1, sub_h = 1;
  if (s->chroma_format_idc == 1) sub_w = sub_h = 2;
  if (s->chroma_format_idc == 2) sub_w = 2;
  if (separate_colour_plane) sub_w = sub_h = 1;
  uint64_t crop_w = ((uint64_t)win[0] + win[1]) * sub_w, crop_h = ((uint64_t)win[2] + win[3]) * sub_h;
  if (crop_w >= w || crop_h >= h) return VG_EPROTO;
  s->width = (int)(w - crop_w);
  s->height = (int)(h - crop_h);

  /* The rest matters only for the VUI timing info; a failure past this point
   * keeps the size and reports no timing. */
  vg_br_ue(&br); /* bit_depth_chroma_minus8 */
  uint32_t log2_max_poc_lsb = vg_br_ue(&br) + 4;
  if (log2_max_poc_lsb > 16) return 0;
  int ordering_all = (int)vg_br_bit(&br); /* sps_sub_layer_ordering_info_present_flag */
  for (uint32_t i = ordering_all ? 0 : max_sub_layers_minus1; i <= max_sub_layers_minus1; i++) {
    vg_br_ue(&br); /* max_dec_pic_buffering_minus1 */
    vg_br_ue(&br); /* max_num_reorder_pics */
    vg_br_ue(&br); /* max_latency_increase_plus1 */
  }
  for (int i = 0; i < 6; i++) vg_br_ue(&br); /* coding/transform block sizes and depths */
  if (vg_br_bit(&br)) {                      /* scaling_list_enabled_flag */
    if (vg_br_bit(&br)) skip_scaling_list_data(&br);
  }
  vg_br_skip(&br, 2);   /* amp_enabled_flag, sample_adaptive_offset_enabled_flag */
  if (vg_br_bit(&br)) { /* pcm_enabled_flag */
    vg_br_skip(&br, 8); /* pcm sample bit depths */
    vg_br_ue(&br);
    vg_br_ue(&br);
    vg_br_skip(&br, 1);
  }
  uint32_t num_st_rps = vg_br_ue(&br);
  if (num_st_rps > MAX_ST_RPS || br.overrun) return 0;
  uint32_t num_delta_pocs[MAX_ST_RPS] = {0};
  for (uint32_t i = 0; i < num_st_rps; i++)
    if (skip_st_ref_pic_set(&br, i, num_delta_pocs) < 0) return 0;
  if (vg_br_bit(&br)) { /* long_term_ref_pics_present_flag */
    uint32_t lt = vg_br_ue(&br);
    if (lt > 32) return 0;
    for (uint32_t i = 0; i < lt; i++) vg_br_skip(&br, log2_max_poc_lsb + 1);
  }
  vg_br_skip(&br, 2); /* sps_temporal_mvp_enabled_flag, strong_intra_smoothing_enabled_flag */
  if (br.overrun) return 0;
  if (vg_br_bit(&br)) { /* vui_parameters_present_flag */
    parse_vui_timing(&br, s);
    if (br.overrun) {
      s->has_timing = 0;
      s->fps = 0;
    }
  }
  return 0;
}
