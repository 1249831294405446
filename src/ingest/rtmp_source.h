/*
 * rtmp_source.h: cameras with an rtmp:// URL (type "rtmp", or no type and
 * an rtmp:// URL): vigil plays the stream from an RTMP server (nginx-rtmp,
 * SRS, a camera's own RTMP service) and feeds the camera's hub.
 *
 * One session per camera, on the camera's worker, over tcp_client.h: the
 * plain handshake, connect (app = the URL's first path segment),
 * createStream, play (the rest of the path), then FLV audio/video tags into
 * the hub (ingest/rtmp_ingest.h; H.264, H.265 via enhanced RTMP, AAC).
 * Acknowledgements follow the server's window; pings are answered.
 *
 * Errors end the session through vg_camera_source_failed() with a reason,
 * and the camera retries with backoff: a refused connect or play (an
 * onStatus or _error at level "error"), malformed chunks, the server
 * closing, no answer or no media for cfg.read_timeout_ms. A malformed media
 * message is dropped and counted (errors); the session goes on.
 */
#ifndef VG_INGEST_RTMP_SOURCE_H
#define VG_INGEST_RTMP_SOURCE_H

#include "ingest/camera.h"

extern const vg_source_ops_t vg_rtmp_source_ops;

#endif
