/*
 * hls_live.h: the HLS fallback of the live view, for browsers without Media
 * Source Extensions (docs/LIVE.md).
 *
 * Per camera, on demand: the first request for a camera's playlist starts an
 * HLS session, a hub reader drained on the camera's worker that muxes fMP4
 * (media/fmp4.h) and cuts a segment at every video keyframe (one GOP per
 * segment; the first segment is the cached GOP up to the live point, so a
 * player can start at once). The last VG_HLS_WINDOW segments are kept in
 * memory and served zero-copy (the response streams from the segment's
 * buffer). A session stops VG_HLS_IDLE_S after its last request. Plain HLS
 * (version 7, EXT-X-MAP), not LL-HLS: no partial segments.
 *
 * Threads: the handlers run on the HTTP server's thread (router.h); the
 * muxing runs on the camera's worker; they share each session's segment
 * list under its lock. vg_hls_stop_all from the thread that stops the HTTP
 * server, after it has stopped serving.
 */
#ifndef VG_LIVE_HLS_LIVE_H
#define VG_LIVE_HLS_LIVE_H

#include "api/router.h"

#define VG_HLS_WINDOW 6
#define VG_HLS_IDLE_S 30
/* How long the first playlist request of a session waits for its first
 * segment (it is normally there within milliseconds: the GOP cache). */
#define VG_HLS_FIRST_WAIT_MS 1500

/* GET /api/v1/cameras/{id}/live.m3u8 */
int vg_hls_get_playlist(const vg_http_request_t *req, vg_http_response_t *res);
/* GET /api/v1/cameras/{id}/live/{file}: "init.mp4" or "<sequence>.m4s". */
int vg_hls_get_file(const vg_http_request_t *req, vg_http_response_t *res);
/* Stops every session (their readers close on their workers). */
void vg_hls_stop_all(void);

#endif
