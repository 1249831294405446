/*
 * flv.h: FLV tag payloads, as RTMP audio (8) and video (9) messages carry
 * them, into vigil's track and frame formats (media/track.h).
 *
 * Video: H.264 (codec id 7: AVCPacketType 0 sequence header carrying an
 * AVCDecoderConfigurationRecord, 1 NAL units with a composition time, 2 end
 * of sequence) and H.265 through enhanced RTMP (the ExVideoTagHeader with
 * FourCC 'hvc1': PacketType SequenceStart with an
 * HEVCDecoderConfigurationRecord, CodedFrames with a composition time,
 * CodedFramesX without, SequenceEnd). Also the non-standard codec id 12
 * that some encoders use for H.265 in legacy tags.
 * Audio: AAC (sound format 10: AACPacketType 0 AudioSpecificConfig, 1 raw
 * frame).
 *
 * Pure functions over caller memory (results point into the input): any
 * thread. Every length is checked: malformed input is VG_EPROTO.
 */
#ifndef VG_MEDIA_FLV_H
#define VG_MEDIA_FLV_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "media/track.h"

typedef enum {
  VG_FLV_CONFIG = 0, /* a sequence header: data is the decoder configuration record / ASC */
  VG_FLV_FRAME,      /* a coded frame: data is length-prefixed NAL units, or a raw AAC frame */
  VG_FLV_END,        /* end of sequence */
  VG_FLV_OTHER,      /* metadata or a packet type we do not use: ignore */
} vg_flv_kind_t;

typedef struct {
  vg_codec_t codec; /* VG_CODEC_H264, VG_CODEC_H265, VG_CODEC_AAC, or VG_CODEC_NONE (unsupported) */
  vg_flv_kind_t kind;
  int key;     /* video: a keyframe (FLV frame type 1) */
  int32_t cts; /* video: composition time offset, milliseconds */
  const uint8_t *data;
  size_t len;
  /* audio, from the tag header (AAC's real values are in the ASC) */
  int sound_rate, sound_stereo;
} vg_flv_packet_t;

/* Parses a video tag payload. Returns 0, VG_EPROTO (malformed) or
 * VG_EUNSUPPORTED (another codec: packet->codec is VG_CODEC_NONE). */
int vg_flv_parse_video(const uint8_t *p, size_t len, vg_flv_packet_t *out);
/* Parses an audio tag payload, likewise. */
int vg_flv_parse_audio(const uint8_t *p, size_t len, vg_flv_packet_t *out);

/* An AVCDecoderConfigurationRecord (ISO 14496-15 5.2.4.1) into extradata
 * (length-prefixed SPS and PPS, track.h) and the NAL length size of the
 * frames (1, 2 or 4). Returns 0, VG_EPROTO or VG_ENOMEM. */
int vg_flv_avcc_to_extradata(const uint8_t *p, size_t len, vg_buf_t **extradata, int *nal_length_size);
/* An HEVCDecoderConfigurationRecord (ISO 14496-15 8.3.3.1) likewise: VPS,
 * SPS and PPS. */
int vg_flv_hvcc_to_extradata(const uint8_t *p, size_t len, vg_buf_t **extradata, int *nal_length_size);

/* A frame's NAL units with nal_length_size-byte lengths into an access unit
 * with 4-byte lengths. When nal_length_size is 4 nothing is copied: the
 * lengths are only checked and *out is a new reference to src (with *data
 * and *len pointing into it); otherwise a new buffer. Returns 0, VG_EPROTO
 * (a length runs past the end, or no NAL unit) or VG_ENOMEM. */
int vg_flv_nalus_to_au(vg_buf_t *src, const uint8_t *p, size_t len, int nal_length_size, vg_buf_t **out,
                       const uint8_t **data, size_t *out_len);

/* The AAC sample rate and channel count from an AudioSpecificConfig.
 * Returns 0 or VG_EPROTO. */
int vg_flv_aac_config(const uint8_t *asc, size_t len, int *sample_rate, int *channels);

#endif
