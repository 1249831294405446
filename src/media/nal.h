/*
 * nal.h: NAL unit helpers shared by H.264 and H.265.
 *
 * vigil carries video access units as 4-byte big-endian length-prefixed NAL
 * units (see track.h); encoders and raw files use Annex B start codes
 * (00 00 01 / 00 00 00 01). This module converts between the two, walks
 * either form, classifies NAL units (key frame, parameter set), strips
 * emulation-prevention bytes for the SPS parsers, and fills a track's
 * width/height/fps from its parameter sets.
 *
 * Everything here is pure computation on caller memory: bounded, never reads
 * past the input, safe to call from any thread.
 */
#ifndef VG_MEDIA_NAL_H
#define VG_MEDIA_NAL_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "media/track.h"

/* Largest NAL unit or access unit these helpers accept (sanity bound). */
#define VG_NAL_MAX_AU_SIZE (64u << 20)

/* ---- walking ---------------------------------------------------------- */

/* Walks a length-prefixed access unit. Start with *pos = 0; each call sets
 * *nal and *nal_len to the next NAL unit and advances *pos. Returns 1 when a NAL
 * was found, 0 at the end, VG_EPROTO when a length runs past the end (the
 * walk stops there). Zero-length NAL units are skipped. */
int vg_nal_lp_next(const uint8_t *au, size_t len, size_t *pos, const uint8_t **nal, size_t *nal_len);

/* Walks Annex B data the same way: *nal excludes the start code and any
 * trailing zero bytes. Bytes before the first start code are ignored.
 * Returns 1 or 0 (end). */
int vg_nal_annexb_next(const uint8_t *data, size_t len, size_t *pos, const uint8_t **nal, size_t *nal_len);

/* ---- conversion ------------------------------------------------------- */

/* Annex B -> length-prefixed, into a new buffer (*out, one reference).
 * Returns 0, VG_EINVAL (no NAL found), VG_ETOOBIG or VG_ENOMEM; on failure
 * *out is NULL. */
int vg_nal_annexb_to_lp(const uint8_t *data, size_t len, vg_buf_t **out);
/* Length-prefixed -> Annex B with 4-byte start codes, into a new buffer.
 * Returns 0, VG_EPROTO (bad lengths), VG_ETOOBIG or VG_ENOMEM. */
int vg_nal_lp_to_annexb(const uint8_t *au, size_t len, vg_buf_t **out);
/* The same into caller memory of len bytes, for decoders that fill their
 * own packets: each 4-byte length becomes a 4-byte start code, so the size
 * does not change (a zero-length unit leaves a bare start code). Returns 0
 * or VG_EPROTO (a length runs past the end). */
int vg_nal_lp_to_annexb_into(const uint8_t *au, size_t len, uint8_t *dst);

/* Removes emulation-prevention bytes (00 00 03 -> 00 00) from src into dst
 * (cap bytes; dst may not alias src). Returns the output length, or
 * VG_ETOOBIG when dst is too small. */
int vg_nal_unescape(const uint8_t *src, size_t len, uint8_t *dst, size_t cap);

/* ---- classification --------------------------------------------------- */

/* The NAL unit type (H.264: 5 bits, H.265: 6 bits), or -1 for an empty or
 * non-video NAL. */
int vg_nal_type(vg_codec_t codec, const uint8_t *nal, size_t len);
/* H.264 IDR (5) or H.265 IRAP (BLA/IDR/CRA, 16..21). */
int vg_nal_is_keyframe_type(vg_codec_t codec, int type);
/* SPS/PPS (H.264 7, 8) or VPS/SPS/PPS (H.265 32, 33, 34). */
int vg_nal_is_param_set_type(vg_codec_t codec, int type);
/* 1 when a length-prefixed access unit contains a key frame NAL unit. */
int vg_nal_au_is_keyframe(vg_codec_t codec, const uint8_t *au, size_t len);

/* Collects the parameter sets in a length-prefixed access unit into a new
 * extradata buffer in the track.h form: length-prefixed, all VPS first, then
 * all SPS, then all PPS, each group in the order found. Returns 1 and sets *out when the AU has an SPS (and
 * for H.265 a VPS) and a PPS, 0 when it has not (*out NULL), or VG_ENOMEM. */
int vg_nal_extradata_from_au(vg_codec_t codec, const uint8_t *au, size_t len, vg_buf_t **out);

/* Fills track->width, height and fps (fps only when the SPS has VUI timing)
 * from the first SPS found in au (length-prefixed, may be NULL) or, failing
 * that, in track->extradata. Leaves the fields unchanged and returns
 * VG_ENOTFOUND when there is no SPS, or the parser's error. Only for H.264
 * and H.265 tracks (VG_EUNSUPPORTED otherwise). */
int vg_track_update_video_info(vg_track_t *track, const uint8_t *au, size_t len);

/* ---- bit reader (for the SPS parsers) --------------------------------- */

/* Reads bits MSB first from already-unescaped RBSP bytes. Reading past the
 * end sets .overrun and yields zero bits, so a parser can read a whole
 * structure and check overrun once. */
typedef struct {
  const uint8_t *data;
  size_t size_bits;
  size_t pos; /* in bits */
  int overrun;
} vg_bitreader_t;

static inline void vg_br_init(vg_bitreader_t *br, const uint8_t *data, size_t len) {
  br->data = data;
  br->size_bits = len * 8;
  br->pos = 0;
  br->overrun = 0;
}
static inline uint32_t vg_br_bit(vg_bitreader_t *br) {
  if (br->pos >= br->size_bits) {
    br->overrun = 1;
    return 0;
  }
  uint32_t b = (br->data[br->pos >> 3] >> (7 - (br->pos & 7))) & 1;
  br->pos++;
  return b;
}
/* n <= 32 bits. */
uint32_t vg_br_bits(vg_bitreader_t *br, int n);
void vg_br_skip(vg_bitreader_t *br, size_t n);
/* Unsigned / signed exp-Golomb; values needing more than 32 bits set
 * overrun and return 0. */
uint32_t vg_br_ue(vg_bitreader_t *br);
int32_t vg_br_se(vg_bitreader_t *br);

#endif
