/*
 * rtp.h: RTP (RFC 3550) packets, sequence/timestamp unwrapping, receiver
 * statistics and a reorder buffer for RTP over UDP.
 *
 * Sans-I/O: bytes in, structs out. The caller owns sockets and clocks and
 * passes arrival times in (microseconds from vg_time_mono_us()).
 *
 * Typical receive path (RTSP client, one per track):
 *
 *   datagram (vg_buf_t) -> vg_rtp_reorder_push()    [UDP only; TCP is ordered]
 *     -> release callback -> vg_rtp_parse() -> vg_rtp_stats_update()
 *     -> vg_depack_push() (rtp_payload.h) -> frames
 *
 * Send path (RTSP server): rtp_payload.h's packetizer writes headers with
 * vg_rtp_write_header(); each client patches its own seq/ts/SSRC into a copy
 * with vg_rtp_header_patch().
 *
 * Objects here belong to one thread (the camera's or client's I/O worker);
 * none is locked. Pure functions are safe anywhere.
 */
#ifndef VG_PROTO_RTP_H
#define VG_PROTO_RTP_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define VG_RTP_HEADER_SIZE 12 /* fixed header, no CSRC, no extension */
#define VG_RTP_MAX_PACKET 65535

/* ---- packets ---------------------------------------------------------- */

/* A parsed packet. Pointers point into the caller's bytes and live as long
 * as they do. */
typedef struct {
  uint8_t marker;
  uint8_t payload_type;
  uint16_t seq;
  uint32_t timestamp;
  uint32_t ssrc;
  uint8_t csrc_count;
  uint32_t csrc[15];
  uint8_t has_extension;
  uint16_t ext_profile;    /* "defined by profile" field when has_extension */
  const uint8_t *ext_data; /* extension words, ext_len bytes (multiple of 4) */
  size_t ext_len;
  const uint8_t *payload; /* after CSRCs and extension, padding removed */
  size_t payload_len;     /* may be 0 */
} vg_rtp_packet_t;

/* Parses one RTP packet. Returns 0, or VG_EPROTO for a version other than 2,
 * a truncated header/extension or bad padding. out is unspecified on
 * failure. */
int vg_rtp_parse(const uint8_t *data, size_t len, vg_rtp_packet_t *out);

/* 1 when the bytes look like RTCP rather than RTP (version 2 and packet
 * type 192..223, RFC 5761 4), for demultiplexing an interleaved channel or
 * a muxed port. */
int vg_rtp_is_rtcp(const uint8_t *data, size_t len);

/* Writes the 12-byte fixed header (version 2, no padding, no extension, no
 * CSRC) from marker, payload_type, seq, timestamp and ssrc of h. out must
 * hold VG_RTP_HEADER_SIZE bytes. */
void vg_rtp_write_header(const vg_rtp_packet_t *h, uint8_t *out);

/* Rewrites seq, timestamp and SSRC of a header written by
 * vg_rtp_write_header() (or any RTP header), leaving marker and payload
 * type. This is how a server shares one packetization among clients. */
static inline void vg_rtp_header_patch(uint8_t *hdr, uint16_t seq, uint32_t ts, uint32_t ssrc) {
  hdr[2] = (uint8_t)(seq >> 8);
  hdr[3] = (uint8_t)seq;
  hdr[4] = (uint8_t)(ts >> 24);
  hdr[5] = (uint8_t)(ts >> 16);
  hdr[6] = (uint8_t)(ts >> 8);
  hdr[7] = (uint8_t)ts;
  hdr[8] = (uint8_t)(ssrc >> 24);
  hdr[9] = (uint8_t)(ssrc >> 16);
  hdr[10] = (uint8_t)(ssrc >> 8);
  hdr[11] = (uint8_t)ssrc;
}

/* The timestamp field of an RTP header. */
static inline uint32_t vg_rtp_header_ts(const uint8_t *hdr) {
  return ((uint32_t)hdr[4] << 24) | ((uint32_t)hdr[5] << 16) | ((uint32_t)hdr[6] << 8) | hdr[7];
}

/* ---- unwrapping ------------------------------------------------------- */

/* Extends a wrapping counter (16-bit seq, 32-bit timestamp) to 64 bits. The
 * first value is taken as is (so the result is congruent to the wire value
 * modulo 2^bits); later values are placed nearest to the previous one, so a
 * late packet from before a wrap gets a smaller value, not a huge one. Zero
 * the struct and set bits (16 or 32) to start. */
typedef struct {
  int bits;
  int started;
  int64_t last;
} vg_rtp_unwrap_t;

static inline void vg_rtp_unwrap_init(vg_rtp_unwrap_t *u, int bits) {
  u->bits = bits;
  u->started = 0;
  u->last = 0;
}
int64_t vg_rtp_unwrap(vg_rtp_unwrap_t *u, uint32_t value);

/* ---- receiver statistics (RFC 3550 A.1, A.3, A.8) --------------------- */

typedef struct {
  uint32_t ssrc;           /* of the last packet counted */
  uint32_t clock_rate;     /* RTP timestamp units per second */
  uint64_t received;       /* packets counted (duplicates included, as in A.3) */
  int64_t base_seq;        /* extended seq of the first packet */
  int64_t max_seq;         /* highest extended seq seen */
  uint64_t expected_prior; /* at the last report block */
  uint64_t received_prior;
  uint64_t resyncs; /* restarts after a large seq jump (source restarted) */
  double jitter;    /* interarrival jitter in timestamp units (A.8) */
  /* private */
  int started;
  uint32_t bad_seq; /* 0x10000: none */
  int have_transit;
  int64_t transit;
  /* from the last sender report, for LSR/DLSR in receiver reports */
  uint32_t last_sr_ntp_mid;
  int64_t last_sr_recv_us;
} vg_rtp_stats_t;

void vg_rtp_stats_init(vg_rtp_stats_t *s, uint32_t clock_rate);
/* Counts one packet in arrival order. A jump of more than 3000 ahead or 100
 * behind is ignored unless the next packet follows it, in which case the
 * statistics restart there (A.1: the source restarted). Returns 0, or
 * VG_EAGAIN when the packet was set aside as a possible restart. */
int vg_rtp_stats_update(vg_rtp_stats_t *s, uint16_t seq, uint32_t rtp_ts, int64_t arrival_us);
/* Packets expected (max - base + 1) and lost (expected - received; may be
 * negative with duplicates, as in RFC 3550). */
int64_t vg_rtp_stats_expected(const vg_rtp_stats_t *s);
int64_t vg_rtp_stats_lost(const vg_rtp_stats_t *s);

/* ---- reorder buffer (RTP over UDP) ------------------------------------ */

/* Holds out-of-order datagrams and releases them in sequence order. A
 * missing packet is given up (counted lost) when the window is full or, if
 * max_delay_us > 0, when the packet after the gap has waited that long.
 * Packets older than the next one to release are dropped as late, repeats
 * as duplicates. The first packet pushed sets the starting number and is
 * released at once (no start-up delay), so a packet sent before it but
 * arriving after it counts as late. A jump of more than 3000 either way is taken as a source
 * restart: what is held is released and the buffer restarts at the new
 * number.
 *
 * Ownership: push takes the caller's reference to the datagram buffer in
 * every case (dropped ones are unreferenced). The release callback receives
 * the reference and must unref it. The callback may not call back into the
 * same reorder buffer. */
typedef struct vg_rtp_reorder vg_rtp_reorder_t;
typedef void (*vg_rtp_release_fn)(void *opaque, vg_buf_t *pkt, int64_t ext_seq);

typedef struct {
  uint64_t released;
  uint64_t lost;       /* sequence numbers given up */
  uint64_t late;       /* arrived after their slot was released or given up */
  uint64_t duplicates; /* same seq already held */
  uint64_t malformed;  /* not parseable as RTP */
  uint64_t resyncs;
} vg_rtp_reorder_stats_t;

#define VG_RTP_REORDER_MAX_WINDOW 1024

/* window: packets held at most (1..VG_RTP_REORDER_MAX_WINDOW, e.g. 64);
 * max_delay_us: how long a gap may hold back later packets (0: no time
 * limit, only the window). Returns 0, VG_EINVAL or VG_ENOMEM. */
int vg_rtp_reorder_new(unsigned window, int64_t max_delay_us, vg_rtp_release_fn release, void *opaque,
                       vg_rtp_reorder_t **out);
/* Frees held packets without releasing them; sets *r to NULL. */
void vg_rtp_reorder_free(vg_rtp_reorder_t **r);
/* Takes a datagram (one RTP packet in pkt->data[0..len)) that arrived at
 * now_us; releases whatever became in order. Returns 0. */
int vg_rtp_reorder_push(vg_rtp_reorder_t *r, vg_buf_t *pkt, int64_t now_us);
/* Gives up gaps whose wait exceeded max_delay_us and releases what follows
 * them. Call when the timer from vg_rtp_reorder_deadline() fires. */
void vg_rtp_reorder_poll(vg_rtp_reorder_t *r, int64_t now_us);
/* When poll should next be called, or INT64_MAX when nothing is held. */
int64_t vg_rtp_reorder_deadline(const vg_rtp_reorder_t *r);
/* Releases everything held, in order, gaps counted lost (end of stream). */
void vg_rtp_reorder_flush(vg_rtp_reorder_t *r);
void vg_rtp_reorder_get_stats(const vg_rtp_reorder_t *r, vg_rtp_reorder_stats_t *out);

#endif
