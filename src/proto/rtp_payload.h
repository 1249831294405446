/*
 * rtp_payload.h: RTP payload formats: depacketizers (camera -> frames) and
 * packetizers (frames -> RTP for restreaming), one implementation per codec
 * behind one small interface.
 *
 *   codec  | depacketize                                  | packetize
 *   -------+----------------------------------------------+---------------------------
 *   H.264  | RFC 6184 single NAL, STAP-A, FU-A; modes 0/1 | single NAL, FU-A
 *   H.265  | RFC 7798 single NAL, AP, FU (DONL skipped)   | single NAL, FU
 *   AAC    | RFC 3640 AAC-hbr / AAC-lbr, many AUs per     | AAC-hbr 13/3/3, one AU per
 *          | packet, one AU fragmented over packets       | packet (fragmented if big)
 *   G.711  | RFC 3551 PCMU/PCMA: a packet is a frame      | one frame per packet
 *   Opus   | RFC 7587: a packet is an Opus packet         | one frame per packet
 *
 * DEPACKETIZER (RTSP client). One per track, owned by the camera's I/O
 * thread. Feed it RTP packets in sequence order (after vg_rtp_reorder_t for
 * UDP; TCP-interleaved is already ordered) parsed with vg_rtp_parse(). It
 * calls sink.on_frame once per complete access unit:
 *  - frame->buf is a new pooled buffer holding exactly that access unit; the
 *    callee owns the reference. That is the one copy out of the socket
 *    buffer; nothing downstream copies again.
 *  - Byte format as track.h says: H.264/H.265 are 4-byte length-prefixed
 *    NAL units (in-band SPS/PPS/VPS stay in the access unit); AAC a raw
 *    access unit; G.711 the samples; Opus one Opus packet.
 *  - pts is the RTP timestamp unwrapped to 64 bits: its low 32 bits equal
 *    the wire timestamp, so it can be mapped to wall time with an RTCP SR
 *    (vg_rtcp_sr_utc_us) or RTP-Info. The first value is the first packet's
 *    timestamp, not 0. Video pts follow the sender's timestamps, which are
 *    in presentation order (not monotonic with B-frames). AAC access units k of a packet get ts + k * 1024
 *    (or the fmtp constantDuration).
 *  - flags: VG_FRAME_KEY for H.264 IDR / H.265 IRAP access units and for
 *    every audio frame.
 *  - recv_us is the recv_us of the packet that completed it; utc_us is 0
 *    (the caller knows the RTCP/RTP-Info mapping); track = sink.track_index.
 * Video access units end at the RTP marker bit or when the timestamp
 * changes (for senders that forget the marker).
 *
 * Loss: a sequence gap breaks the access unit being assembled (and, for
 * video, the one after it, whose first packets may be the lost ones). By
 * default a broken video access unit is dropped and so is every following
 * one until the next clean key frame, because a decoder shows garbage until
 * then: that is what viewers and recorders want. Counted in
 * stats.frames_dropped_loss / frames_dropped_waiting_key. With
 * sink.keep_corrupt set, broken access units are delivered flagged
 * VG_FRAME_CORRUPT instead and nothing waits for a key frame. A broken
 * audio access unit is always dropped; the others are unaffected.
 *
 * Parameter sets: when an access unit carries VPS/SPS/PPS that differ from
 * the last known ones (initially track->extradata, or sprop-* in the fmtp),
 * sink.on_params (if set) gets a new extradata buffer (length-prefixed, as
 * track.h) before on_frame gets that access unit, so the caller can update
 * the track (vg_track_update_video_info() fills its size and rate).
 *
 * Limits: an access unit larger than sink.max_au_size (default
 * VG_DEPACK_MAX_AU, 8 MiB) is dropped and counted (stats.too_big). Packets
 * in formats the sender may use but vigil does not take (H.264 STAP-B,
 * MTAP, FU-B; H.265 PACI) are dropped and counted (stats.unsupported).
 * Malformed payloads are counted, never fatal. A callback must not call
 * back into the same depacketizer.
 *
 * PACKETIZER (RTSP server). One per outgoing track; packetize each frame
 * once, then send the result to every client:
 *
 *   const vg_pack_pkt_t *pkts; size_t n;
 *   vg_pack_frame(pack, frame, &pkts, &n);
 *   for each client: for i < n:
 *     uint8_t hdr[VG_PACK_MAX_HDR]; memcpy(hdr, pkts[i].hdr, pkts[i].hdr_len);
 *     vg_rtp_header_patch(hdr, client->seq++, vg_rtp_header_ts(hdr) + client->ts_offset, client->ssrc);
 *     writev({hdr, pkts[i].hdr_len}, {pkts[i].payload, pkts[i].payload_len})
 *
 * payload points into frame->data: it is valid while the caller holds the
 * frame's buffer reference. The packets' own seq numbers count up from 0
 * per packetizer and their timestamp is (uint32_t)frame->pts (G.711 frames
 * split over several packets advance it by the samples before); SSRC 0.
 * The marker bit is set on the last packet of a video access unit and of an
 * AAC access unit; never for G.711 and Opus (RFC 3551 talkspurt meaning).
 * The packet array belongs to the packetizer and is valid until the next
 * vg_pack_frame() or vg_pack_free().
 */
#ifndef VG_PROTO_RTP_PAYLOAD_H
#define VG_PROTO_RTP_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "media/frame.h"
#include "media/track.h"
#include "proto/rtp.h"

/* ---- depacketizer ----------------------------------------------------- */
/* The first frames are delivered as they come, key frame or not: starting a
 * consumer at a key frame is the stream hub's job. */

#define VG_DEPACK_MAX_AU (8u << 20)

typedef void (*vg_depack_frame_fn)(void *opaque, vg_frame_t *frame);
typedef void (*vg_depack_params_fn)(void *opaque, vg_buf_t *extradata);

typedef struct {
  vg_depack_frame_fn on_frame;   /* required; owns frame->buf */
  vg_depack_params_fn on_params; /* optional; owns extradata */
  void *opaque;
  uint8_t track_index;  /* copied to vg_frame_t.track */
  uint8_t keep_corrupt; /* deliver broken AUs flagged VG_FRAME_CORRUPT instead of dropping */
  uint32_t max_au_size; /* 0: VG_DEPACK_MAX_AU */
} vg_depack_sink_t;

typedef struct {
  uint64_t packets;                    /* pushed and accepted */
  uint64_t frames;                     /* delivered */
  uint64_t bytes;                      /* delivered */
  uint64_t lost;                       /* sequence numbers missing */
  uint64_t late;                       /* repeats and packets older than the previous one (dropped) */
  uint64_t frames_dropped_loss;        /* broken by loss */
  uint64_t frames_dropped_waiting_key; /* complete but after a loss, before a key frame */
  uint64_t frames_corrupt;             /* delivered flagged VG_FRAME_CORRUPT */
  uint64_t too_big;                    /* access units over max_au_size */
  uint64_t unsupported;                /* packets of an unsupported packetization type */
  uint64_t malformed;                  /* packets that could not be parsed */
  uint64_t param_changes;              /* on_params calls */
} vg_depack_stats_t;

typedef struct vg_depack vg_depack_t;

/* A depacketizer for track->codec (clock_rate and extradata are used).
 * fmtp is the SDP a=fmtp parameter string after the payload type ("a;b=c;
 * ..."), or NULL: H.264 reads sprop-parameter-sets and packetization-mode,
 * H.265 sprop-vps/sps/pps and sprop-max-don-diff, AAC mode, sizelength,
 * indexlength, indexdeltalength, ctsdeltalength, dtsdeltalength,
 * randomaccessindication, streamstateindication, auxiliarydatasizelength,
 * constantduration. Returns 0, VG_EUNSUPPORTED (codec), VG_EINVAL (fmtp
 * values out of range, AAC without sizelength) or VG_ENOMEM. */
int vg_depack_new(const vg_track_t *track, const char *fmtp, const vg_depack_sink_t *sink, vg_depack_t **out);
/* Feeds one parsed RTP packet, in sequence order, received at recv_us. May
 * call the sink. Returns 0; problems with the packet are counted in the
 * stats, not returned. */
int vg_depack_push(vg_depack_t *d, const vg_rtp_packet_t *pkt, int64_t recv_us);
/* Delivers a pending access unit that has no marker yet (end of stream). */
void vg_depack_flush(vg_depack_t *d);
/* Forgets the sequence, the timestamp origin and the pending access unit
 * (dropped, not delivered), e.g. after a reconnect or an SSRC change; the
 * next packet starts afresh as the first one did. Stats are kept. */
void vg_depack_reset(vg_depack_t *d);
void vg_depack_get_stats(const vg_depack_t *d, vg_depack_stats_t *out);
/* Frees without delivering; sets *d to NULL. */
void vg_depack_free(vg_depack_t **d);

/* ---- packetizer ------------------------------------------------------- */

#define VG_PACK_DEFAULT_MTU 1400 /* RTP payload bytes per packet */
#define VG_PACK_MAX_HDR 20       /* RTP header + payload-format header */

typedef struct {
  uint8_t hdr[VG_PACK_MAX_HDR]; /* 12-byte RTP header + FU header / AU-header section */
  uint8_t hdr_len;
  const uint8_t *payload; /* slice of the frame's data */
  uint32_t payload_len;
} vg_pack_pkt_t;

typedef struct vg_pack vg_pack_t;

/* A packetizer for track->codec with the given RTP payload type and the
 * largest RTP payload (payload-format header included) per packet,
 * 0 = VG_PACK_DEFAULT_MTU; at least 64. Returns 0, VG_EUNSUPPORTED,
 * VG_EINVAL or VG_ENOMEM. */
int vg_pack_new(const vg_track_t *track, uint8_t payload_type, size_t mtu, vg_pack_t **out);
/* Splits one frame into packets (see above). Returns 0, VG_EPROTO for a
 * malformed video access unit, VG_EINVAL for an empty one, VG_ETOOBIG above
 * VG_DEPACK_MAX_AU, or VG_ENOMEM; on failure *n is 0. */
int vg_pack_frame(vg_pack_t *p, const vg_frame_t *frame, const vg_pack_pkt_t **pkts, size_t *n);
void vg_pack_free(vg_pack_t **p);

/* ---- SDP helpers ------------------------------------------------------ */

/* Value of key in an fmtp string (case-insensitive key, ';'-separated,
 * spaces around items ignored) copied NUL-terminated into out. Returns the
 * value length, VG_ENOTFOUND, or VG_ETOOBIG when it does not fit. */
int vg_fmtp_get(const char *fmtp, const char *key, char *out, size_t size);

/* Extradata (track.h form) from an fmtp: H.264 sprop-parameter-sets, H.265
 * sprop-vps/sps/pps, AAC config (hex AudioSpecificConfig). Returns 0 and
 * sets *out, VG_ENOTFOUND when the fmtp has none, VG_EPROTO for bad
 * base64/hex, VG_ENOMEM. */
int vg_fmtp_extradata(vg_codec_t codec, const char *fmtp, vg_buf_t **out);

/* The a=rtpmap encoding ("H264/90000", "MPEG4-GENERIC/48000/2", ...) and
 * the a=fmtp parameters (without "a=fmtp:PT ") a server announces for a
 * track it packetizes with vg_pack_t; fmtp may come out empty. Return the
 * length written or VG_ETOOBIG. */
int vg_sdp_rtpmap(const vg_track_t *track, char *out, size_t size);
int vg_sdp_fmtp(const vg_track_t *track, char *out, size_t size);

#endif
