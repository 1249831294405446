/*
 * hls_live.h: the Low-Latency HLS fallback of the live view, for browsers
 * without Media Source Extensions over WebSocket (docs/LIVE.md).
 *
 * Per camera, on demand: the first request for a camera's playlist starts an
 * HLS session, a hub reader drained on the camera's worker that muxes fMP4
 * (media/fmp4.h). A segment starts at every video keyframe (one GOP per
 * segment; the first segment is the cached GOP up to the live point, so a
 * player can start at once) and is made of partial segments of at most
 * VG_HLS_PART_TARGET_MS, each one moof + mdat published as soon as its last
 * frame is in. A segment is the concatenation of its parts' bytes, so the
 * parts are the only copy kept: the last VG_HLS_WINDOW segments, at most
 * VG_HLS_MAX_PARTS parts each, are served zero-copy from memory. A session
 * stops VG_HLS_IDLE_S after its last request.
 *
 * The playlist is LL-HLS (RFC 8216bis): EXT-X-PART for the segments of the
 * last three target durations, EXT-X-PRELOAD-HINT for the next part,
 * EXT-X-SERVER-CONTROL with CAN-BLOCK-RELOAD, EXT-X-PROGRAM-DATE-TIME. A
 * blocking reload (_HLS_msn, _HLS_part) that the playlist cannot answer yet,
 * and a request for the hinted part, are answered with a deferred response
 * (router.h's VG_HTTP_STREAM_DEFERRED): the HTTP thread goes on serving,
 * and the stream's settle decides the answer once the worker has published
 * what it waits for (the worker wakes the server) or its deadline passes:
 * 200 with the playlist or the part, 503 past VG_HLS_BLOCK_MAX_MS, 404 for
 * a hinted part whose segment ended before it. The answer then goes out
 * with a Content-Length, on a connection that stays open.
 *
 * Threads: the handlers and the waiting streams run on the HTTP server's
 * thread (router.h); the muxing runs on the camera's worker; they share
 * each session's segments and waiters under its lock. vg_hls_stop_all from
 * the thread that stops the HTTP server, after it has stopped serving.
 */
#ifndef VG_LIVE_HLS_LIVE_H
#define VG_LIVE_HLS_LIVE_H

#include "api/router.h"

#define VG_HLS_WINDOW 6
#define VG_HLS_IDLE_S 30
/* The longest part (EXT-X-PART-INF's PART-TARGET): parts are cut at the
 * last frame that fits: 0.2 s at 10, 15, 25 or 30 fps. */
#define VG_HLS_PART_TARGET_MS 200
/* Parts per segment: a GOP longer than this many parts (or than 10 s) is
 * cut into several segments anyway. */
#define VG_HLS_MAX_PARTS 50
/* How long the first playlist request of a session waits for its first
 * segment (it is normally there within milliseconds: the GOP cache). */
#define VG_HLS_FIRST_WAIT_MS 1500
/* A blocking reload or a hinted part is held at most this long. */
#define VG_HLS_BLOCK_MAX_MS 6000

/* GET /api/v1/cameras/{id}/live.m3u8[?_HLS_msn=M[&_HLS_part=P]] */
int vg_hls_get_playlist(const vg_http_request_t *req, vg_http_response_t *res);
/* GET /api/v1/cameras/{id}/live/{file}: "init.mp4", "<msn>.m4s" (a whole
 * segment) or "<msn>.<part>.m4s" (one part). */
int vg_hls_get_file(const vg_http_request_t *req, vg_http_response_t *res);
/* Stops every session (their readers close on their workers). */
void vg_hls_stop_all(void);

#endif
