/*
 * rtcp.h: RTCP (RFC 3550 section 6): parse compound packets, build
 * receiver reports (client side) and sender reports (server side), and map
 * between NTP wall-clock time and RTP timestamps.
 *
 * Sans-I/O and allocation-free: parsing fills a caller struct, building
 * writes into a caller buffer. Functions taking a vg_rtp_stats_t belong to
 * that stats object's thread; the rest are pure.
 */
#ifndef VG_PROTO_RTCP_H
#define VG_PROTO_RTCP_H

#include <stddef.h>
#include <stdint.h>

#include "proto/rtp.h"

enum {
  VG_RTCP_SR = 200,
  VG_RTCP_RR = 201,
  VG_RTCP_SDES = 202,
  VG_RTCP_BYE = 203,
  VG_RTCP_APP = 204,
};

#define VG_RTCP_MAX_REPORTS 31 /* report blocks kept per compound packet */
#define VG_RTCP_MAX_BYE 31
#define VG_RTCP_MAX_CNAME 255

typedef struct {
  uint32_t ssrc;          /* the source reported on */
  uint8_t fraction_lost;  /* since the previous report, in 1/256 */
  int32_t cumulative_lost; /* 24-bit signed on the wire */
  uint32_t ext_max_seq;   /* cycles << 16 | highest seq */
  uint32_t jitter;        /* timestamp units */
  uint32_t lsr;           /* middle 32 bits of the last SR's NTP time, 0 if none */
  uint32_t dlsr;          /* delay since that SR in 1/65536 s */
} vg_rtcp_report_block_t;

typedef struct {
  uint32_t ssrc;
  uint64_t ntp;    /* NTP timestamp: seconds since 1900 << 32 | fraction */
  uint32_t rtp_ts; /* the same instant in RTP timestamp units */
  uint32_t packet_count;
  uint32_t octet_count;
} vg_rtcp_sr_t;

/* What a compound RTCP packet said. Unknown packet types (APP, XR, RTPFB,
 * ...) are skipped and counted. */
typedef struct {
  int has_sr;
  vg_rtcp_sr_t sr; /* the first SR */
  uint32_t rr_ssrc; /* sender of the first RR (0 if none) */
  size_t report_count;
  vg_rtcp_report_block_t reports[VG_RTCP_MAX_REPORTS]; /* from SR and RR packets */
  int has_cname;
  uint32_t cname_ssrc;
  char cname[VG_RTCP_MAX_CNAME + 1]; /* first CNAME, NUL-terminated */
  size_t bye_count;
  uint32_t bye_ssrc[VG_RTCP_MAX_BYE];
  unsigned unknown_packets;
} vg_rtcp_info_t;

/* Parses a compound RTCP packet (one datagram, or one interleaved frame).
 * Returns 0, or VG_EPROTO when the first header is not RTCP version 2 or a
 * length runs past the end; sub-packets parsed before an error stay in out.
 * Several reduced-size packets (RFC 5506) parse too: no SR/RR-first rule is
 * enforced. */
int vg_rtcp_parse(const uint8_t *data, size_t len, vg_rtcp_info_t *out);

/* ---- time ------------------------------------------------------------- */

/* Unix microseconds <-> 64-bit NTP timestamp. */
uint64_t vg_ntp_from_utc_us(int64_t utc_us);
int64_t vg_ntp_to_utc_us(uint64_t ntp);

/* Wall-clock time of an RTP timestamp given a sender report: the SR's
 * instant plus the 32-bit-wrapped difference in timestamps (which must be
 * within +-2^31 units, i.e. 6.6 hours at 90 kHz). For vg_frame_t.utc_us. */
int64_t vg_rtcp_sr_utc_us(const vg_rtcp_sr_t *sr, uint32_t clock_rate, uint32_t rtp_ts);

/* ---- receiver side ---------------------------------------------------- */

/* Remembers a received SR for the LSR/DLSR fields of later reports. */
void vg_rtcp_note_sr(vg_rtp_stats_t *s, const vg_rtcp_sr_t *sr, int64_t now_us);

/* Fills a report block from the statistics (RFC 3550 A.3) and starts a new
 * reporting interval. now_us is on the clock used for vg_rtcp_note_sr(). */
void vg_rtcp_report_block_from_stats(vg_rtp_stats_t *s, int64_t now_us, vg_rtcp_report_block_t *out);

/* Builds RR (with n blocks, n <= 31) + SDES CNAME into out. Returns the
 * length written, VG_ETOOBIG when cap is too small, VG_EINVAL for n > 31 or
 * a CNAME longer than 255 bytes. */
int vg_rtcp_build_rr(uint32_t own_ssrc, const vg_rtcp_report_block_t *blocks, size_t n, const char *cname,
                     uint8_t *out, size_t cap);

/* ---- sender side ------------------------------------------------------ */

/* Fills sr for the instant now_utc_us from a reference pair (the RTP
 * timestamp ref_rtp_ts was sent for wall time ref_utc_us, e.g. the last
 * frame's pts and utc_us), extrapolating at clock_rate. */
void vg_rtcp_sr_fill(vg_rtcp_sr_t *sr, uint32_t ssrc, int64_t now_utc_us, uint32_t ref_rtp_ts,
                     int64_t ref_utc_us, uint32_t clock_rate, uint32_t packet_count, uint32_t octet_count);

/* Builds SR (no report blocks) + SDES CNAME into out. Returns the length
 * written, VG_ETOOBIG or VG_EINVAL as vg_rtcp_build_rr(). */
int vg_rtcp_build_sr(const vg_rtcp_sr_t *sr, const char *cname, uint8_t *out, size_t cap);

/* Builds BYE for ssrc into out. Returns the length or VG_ETOOBIG. */
int vg_rtcp_build_bye(uint32_t ssrc, uint8_t *out, size_t cap);

#endif
