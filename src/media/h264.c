#include "media/h264.h"

#include <string.h>

#include "base/error.h"
#include "media/nal.h"

/* Profiles whose SPS carries chroma_format_idc, bit depths and scaling
 * matrices (H.264 7.3.2.1.1). */
static int profile_has_chroma_info(uint8_t p) {
  switch (p) {
  case 100: case 110: case 122: case 244: case 44: case 83: case 86: case 118: case 128: case 138: case 139:
  case 134: case 135: return 1;
  default: return 0;
  }
}

static void skip_scaling_list(vg_bitreader_t *br, int size) {
  int last = 8, next = 8;
  for (int j = 0; j < size && !br->overrun; j++) {
    if (next != 0) next = (last + vg_br_se(br) + 256) % 256;
    if (next != 0) last = next;
  }
}

static void parse_vui(vg_bitreader_t *br, vg_h264_sps_t *s) {
  if (vg_br_bit(br)) { /* aspect_ratio_info_present_flag */
    uint32_t idc = vg_br_bits(br, 8);
    static const uint8_t sar[17][2] = {{0, 0},   {1, 1},   {12, 11}, {10, 11}, {16, 11}, {40, 33},
                                       {24, 11}, {20, 11}, {32, 11}, {80, 33}, {18, 11}, {15, 11},
                                       {64, 33}, {160, 99}, {4, 3},  {3, 2},   {2, 1}};
    if (idc == 255) {
      s->sar_num = (uint16_t)vg_br_bits(br, 16);
      s->sar_den = (uint16_t)vg_br_bits(br, 16);
    } else if (idc < 17) {
      s->sar_num = sar[idc][0];
      s->sar_den = sar[idc][1];
    }
  }
  if (vg_br_bit(br)) vg_br_skip(br, 1); /* overscan_info_present -> overscan_appropriate */
  if (vg_br_bit(br)) {                  /* video_signal_type_present_flag */
    vg_br_skip(br, 4);                  /* video_format, video_full_range_flag */
    if (vg_br_bit(br)) vg_br_skip(br, 24); /* colour primaries, transfer, matrix */
  }
  if (vg_br_bit(br)) { /* chroma_loc_info_present_flag */
    vg_br_ue(br);
    vg_br_ue(br);
  }
  if (vg_br_bit(br)) { /* timing_info_present_flag */
    s->num_units_in_tick = vg_br_bits(br, 32);
    s->time_scale = vg_br_bits(br, 32);
    s->fixed_frame_rate = (int)vg_br_bit(br);
    if (!br->overrun && s->num_units_in_tick && s->time_scale) {
      s->has_timing = 1;
      /* A tick is a field period: two ticks make a frame (E.2.1). */
      s->fps = (double)s->time_scale / (2.0 * s->num_units_in_tick);
    }
  }
}

int vg_h264_parse_sps(const uint8_t *nal, size_t len, vg_h264_sps_t *out) {
  memset(out, 0, sizeof(*out));
  if (len < 4 || (nal[0] & 0x1f) != VG_H264_NAL_SPS) return VG_EINVAL;
  if (len > VG_H264_MAX_SPS_SIZE) return VG_ETOOBIG;
  uint8_t rbsp[VG_H264_MAX_SPS_SIZE];
  int n = vg_nal_unescape(nal + 1, len - 1, rbsp, sizeof(rbsp));
  if (n < 0) return n;
  vg_bitreader_t br;
  vg_br_init(&br, rbsp, (size_t)n);
  vg_h264_sps_t *s = out;
  s->profile_idc = (uint8_t)vg_br_bits(&br, 8);
  s->constraint_flags = (uint8_t)vg_br_bits(&br, 8);
  s->level_idc = (uint8_t)vg_br_bits(&br, 8);
  s->sps_id = vg_br_ue(&br);
  s->chroma_format_idc = 1;
  s->bit_depth_luma = 8;
  int separate_colour_plane = 0;
  if (profile_has_chroma_info(s->profile_idc)) {
    s->chroma_format_idc = vg_br_ue(&br);
    if (s->chroma_format_idc > 3) return VG_EPROTO;
    if (s->chroma_format_idc == 3) separate_colour_plane = (int)vg_br_bit(&br);
    s->bit_depth_luma = vg_br_ue(&br) + 8;
    vg_br_ue(&br);     /* bit_depth_chroma_minus8 */
    vg_br_skip(&br, 1); /* qpprime_y_zero_transform_bypass_flag */
    if (vg_br_bit(&br)) { /* seq_scaling_matrix_present_flag */
      int lists = s->chroma_format_idc != 3 ? 8 : 12;
      for (int i = 0; i < lists && !br.overrun; i++)
        if (vg_br_bit(&br)) skip_scaling_list(&br, i < 6 ? 16 : 64);
    }
  }
  if (s->sps_id > 31 || s->bit_depth_luma > 14) return VG_EPROTO;
  vg_br_ue(&br); /* log2_max_frame_num_minus4 */
  uint32_t poc_type = vg_br_ue(&br);
  if (poc_type == 0) {
    vg_br_ue(&br); /* log2_max_pic_order_cnt_lsb_minus4 */
  } else if (poc_type == 1) {
    vg_br_skip(&br, 1); /* delta_pic_order_always_zero_flag */
    vg_br_se(&br);      /* offset_for_non_ref_pic */
    vg_br_se(&br);      /* offset_for_top_to_bottom_field */
    uint32_t cycle = vg_br_ue(&br);
    if (cycle > 255) return VG_EPROTO;
    for (uint32_t i = 0; i < cycle && !br.overrun; i++) vg_br_se(&br);
  } else if (poc_type != 2) {
    return VG_EPROTO;
  }
  vg_br_ue(&br);      /* max_num_ref_frames */
  vg_br_skip(&br, 1); /* gaps_in_frame_num_value_allowed_flag */
  uint32_t width_mbs = vg_br_ue(&br) + 1;
  uint32_t height_map_units = vg_br_ue(&br) + 1;
  s->frame_mbs_only = (int)vg_br_bit(&br);
  if (!s->frame_mbs_only) vg_br_skip(&br, 1); /* mb_adaptive_frame_field_flag */
  vg_br_skip(&br, 1);                         /* direct_8x8_inference_flag */
  uint32_t crop[4] = {0, 0, 0, 0};            /* left, right, top, bottom */
  if (vg_br_bit(&br))
    for (int i = 0; i < 4; i++) crop[i] = vg_br_ue(&br);
  if (br.overrun) return VG_EPROTO;
  if (width_mbs > 1024 || height_map_units > 1024) return VG_EUNSUPPORTED;

  /* Crop units (7.4.2.1.1): chroma subsampling horizontally, and vertically
   * doubled for field coding. Monochrome and 4:4:4 crop in luma samples. */
  uint32_t sub_w = 1, sub_h = 1;
  if (s->chroma_format_idc == 1) sub_w = sub_h = 2;
  if (s->chroma_format_idc == 2) sub_w = 2;
  if (separate_colour_plane) sub_w = sub_h = 1;
  uint32_t frame_factor = 2 - (uint32_t)s->frame_mbs_only;
  uint64_t w = (uint64_t)width_mbs * 16, h = (uint64_t)height_map_units * 16 * frame_factor;
  uint64_t crop_w = ((uint64_t)crop[0] + crop[1]) * sub_w;
  uint64_t crop_h = ((uint64_t)crop[2] + crop[3]) * sub_h * frame_factor;
  if (crop_w >= w || crop_h >= h) return VG_EPROTO;
  s->width = (int)(w - crop_w);
  s->height = (int)(h - crop_h);

  if (vg_br_bit(&br)) { /* vui_parameters_present_flag */
    vg_bitreader_t save = br;
    parse_vui(&br, s);
    /* A truncated VUI loses only the optional timing; the size stands. */
    if (br.overrun) {
      s->has_timing = 0;
      s->fps = 0;
      br = save;
    }
  }
  return 0;
}
