/*
 * http_source.h: HTTP camera sources, over plain http:// (https is not
 * supported and fails with a clear reason).
 *
 *  - snapshot: GET the URL every cfg.snapshot_interval_ms; each JPEG answer
 *    becomes one frame (codec VG_CODEC_JPEG, 90 kHz pts from the arrival
 *    time, every frame a key frame).
 *  - mjpeg: one GET whose answer is multipart/x-mixed-replace; each part is
 *    one JPEG frame.
 *
 * Both follow up to 5 redirects, answer 401 with Basic or Digest
 * credentials from the URL (percent-decoded), and use a fresh TCP
 * connection per snapshot. Bad input (a malformed answer, a part over
 * 8 MiB, a body that is not a JPEG) fails the attempt with a reason; the
 * camera's life cycle (camera.h) retries. Owned by ingest; the ops run on
 * the camera's worker.
 */
#ifndef VG_INGEST_HTTP_SOURCE_H
#define VG_INGEST_HTTP_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/camera.h"

extern const vg_source_ops_t vg_snapshot_source_ops;
extern const vg_source_ops_t vg_mjpeg_source_ops;

/* Largest JPEG accepted, one snapshot or one MJPEG part. */
#define VG_HTTP_SOURCE_MAX_JPEG (8u << 20)

/* Reads the picture size from a JPEG's SOF marker. Returns 0, VG_EPROTO
 * when data is not a JPEG (no SOI) or VG_ENOTFOUND when no SOF comes
 * before the scan data. Bounded; for tests and for the sources. */
int vg_jpeg_size(const uint8_t *data, size_t len, int *width, int *height);

#endif
