/*
 * rtsp_source.h: the RTSP client that ingests IP cameras (RFC 2326).
 *
 * One session per camera, on the camera's worker: OPTIONS, DESCRIBE
 * (redirects followed up to 5 hops; 401 answered once with Basic or Digest
 * credentials from the URL, again on a stale Digest nonce), SETUP of the
 * first supported video and the first supported audio track, PLAY, then
 * keep-alives (GET_PARAMETER when the server lists it, else OPTIONS) at
 * half the session timeout and TEARDOWN on stop.
 *
 * Transport from cfg.transport: "tcp" interleaves RTP/RTCP on the RTSP
 * connection; "udp" binds an RTP/RTCP port pair per track on the worker
 * loop, reorders datagrams and sends RTCP receiver reports every 5 s;
 * "auto" tries UDP and falls back to TCP when no RTP arrives within 3 s.
 *
 * Access units are depacketized (proto/rtp_payload.h) into pooled buffers,
 * timestamped (recv_us on arrival; utc_us from RTCP sender reports when the
 * camera sends them, else the arrival wall clock) and pushed into the
 * camera's hub; the track's size and rate come from the SPS.
 *
 * Errors: a malformed RTP packet is dropped and counted (errors) and the
 * session goes on; broken RTSP framing, a bad SDP, an oversized message, a
 * failed request or no media for cfg.read_timeout_ms end the session with a
 * reason (vg_camera_source_failed) and the camera retries with backoff.
 */
#ifndef VG_INGEST_RTSP_SOURCE_H
#define VG_INGEST_RTSP_SOURCE_H

#include "ingest/camera.h"

extern const vg_source_ops_t vg_rtsp_source_ops;

#endif
