/*
 * rtp_payload_priv.h: what the per-codec payload files (rtp_h264.c,
 * rtp_h265.c, rtp_aac.c, rtp_g711.c, rtp_opus.c) share with the common
 * depacketizer core in rtp_payload.c. Not a public API: include only from
 * those files.
 */
#ifndef VG_PROTO_RTP_PAYLOAD_PRIV_H
#define VG_PROTO_RTP_PAYLOAD_PRIV_H

#include "proto/rtp_payload.h"

/* One table per payload format. */
typedef struct {
  /* Depacketizer: parses the fmtp (may be NULL) into codec state. */
  int (*init)(vg_depack_t *d, const char *fmtp);
  /* Depacketizer: one packet, already checked for order; pts is its
   * unwrapped timestamp. */
  void (*push)(vg_depack_t *d, const vg_rtp_packet_t *pkt, int64_t pts);
  /* Packetizer: appends the frame's packets with vg__pack_add(). */
  int (*pack)(vg_pack_t *p, const vg_frame_t *f);
} vg__payload_ops_t;

struct vg_pack {
  const vg__payload_ops_t *ops;
  vg_codec_t codec;
  uint8_t payload_type;
  size_t mtu;
  uint16_t seq;
  vg_pack_pkt_t *pkts;
  size_t n, cap;
};

/* Appends one packet: RTP header + fmt_hdr (<= 8 bytes) + payload slice. */
int vg__pack_add(vg_pack_t *p, int marker, uint32_t ts, const uint8_t *fmt_hdr, size_t fmt_len,
                 const uint8_t *payload, size_t len);

/* Builds the fragmentation-unit header of one NAL unit with S and E clear;
 * its last byte is where S (0x80) and E (0x40) go. */
typedef void (*vg__fu_header_fn)(const uint8_t *nal, uint8_t *fu);
/* Packs a frame of length-prefixed NAL units: a NAL that fits the MTU goes
 * in a packet of its own, a larger one in fragmentation units whose header
 * is nal_hdr_len + 1 bytes (H.264 FU-A: 2, H.265 FU: 3) and which leave out
 * the NAL's own header. The marker goes on the frame's last packet. */
int vg__pack_nal_units(vg_pack_t *p, const vg_frame_t *f, size_t nal_hdr_len, vg__fu_header_fn fu_header);

/* AAC (RFC 3640) AU-header layout from the fmtp. */
typedef struct {
  int size_length, index_length, index_delta_length;
  int cts_delta_length, dts_delta_length;
  int random_access_indication, stream_state_indication;
  int auxiliary_data_size_length;
  uint32_t duration;       /* samples per AU */
  uint32_t fragment_total; /* AU-size of the fragmented AU being assembled */
} vg__aac_state_t;

struct vg_depack {
  const vg__payload_ops_t *ops;
  vg_depack_sink_t sink;
  vg_codec_t codec;
  int video;
  vg_depack_stats_t stats;
  vg_rtp_unwrap_t ts_unwrap;
  int have_seq;
  uint16_t last_seq;
  int64_t recv_us; /* of the packet being processed */

  /* The access unit being assembled (video, fragmented AAC). */
  vg_buf_t *au;
  int au_active;
  uint32_t au_ts;
  int64_t au_pts;
  int au_broken;       /* a packet of it was lost or unusable */
  int au_too_big;      /* it went past max_au_size */
  size_t au_size_hint; /* initial capacity: about the last AU's size */
  int frag_active;     /* a fragmented NAL unit is open at frag_off */
  size_t frag_off;
  int loss_pending; /* a gap before the next AU begins: it may lack its head */
  int waiting_key;  /* video: drop until a clean key frame */
  vg_buf_t *params; /* last known parameter sets (video) */

  int h264_mode; /* packetization-mode */
  int h265_donl; /* sprop-max-don-diff > 0: DONL/DOND fields present */
  vg__aac_state_t aac;
};

extern const vg__payload_ops_t vg__payload_h264, vg__payload_h265, vg__payload_aac, vg__payload_g711,
    vg__payload_opus;

/* The table for a codec, or NULL. */
const vg__payload_ops_t *vg__payload_ops(vg_codec_t codec);

/* Starts an access unit at ts/pts unless one is open. */
void vg__au_begin(vg_depack_t *d, uint32_t ts, int64_t pts);
/* Appends bytes to the open access unit (bounded by max_au_size). */
void vg__au_append(vg_depack_t *d, const void *data, size_t len);
/* Appends a whole NAL unit with its 4-byte length. */
void vg__au_append_nal(vg_depack_t *d, const uint8_t *nal, size_t len);
/* Opens a NAL unit whose bytes arrive in pieces (fragmentation units): a
 * placeholder length, then the reconstructed header bytes. */
void vg__au_nal_open(vg_depack_t *d, const uint8_t *hdr, size_t hdr_len);
/* Removes a fragmented NAL that will not be completed (its end or middle
 * was lost) so the access unit stays well-formed; marks the AU broken. */
void vg__au_nal_discard(vg_depack_t *d);
/* Closes the open fragmented NAL, writing its length. */
void vg__au_nal_close(vg_depack_t *d);
/* Finishes the open access unit: delivers it or drops it (and counts). */
void vg__au_end(vg_depack_t *d);
/* Drops the open access unit without counting it as delivered. */
void vg__au_abandon(vg_depack_t *d);
/* Delivers one audio frame copied from data (the one copy). */
void vg__emit_audio(vg_depack_t *d, const uint8_t *data, size_t len, int64_t pts);

static inline uint16_t vg__rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

#endif
