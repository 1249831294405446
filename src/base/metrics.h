/*
 * metrics.h: the metrics registry behind the Prometheus page at GET /metrics.
 *
 * The page (src/api/metrics.h) is built on request from vigil's own
 * families and the text of every registered collector. A module that owns other counters (the RTSP server's
 * sessions, the recorder's segments) registers a collector that appends its families with the helpers below,
 * so that every sample follows its # HELP and # TYPE lines and label values are escaped.
 *
 * Format: Prometheus text exposition 0.0.4: one family is a HELP line, a
 * TYPE line, then its samples, e.g.
 *   # HELP vigil_camera_up Whether the camera is online (1) or not (0).
 *   # TYPE vigil_camera_up gauge
 *   vigil_camera_up{camera="cam1"} 1
 *
 * Threads: register/unregister and vg_metrics_render may be called from any
 * thread. Collectors run on the thread that renders the page (the HTTP
 * server's worker), one at a time, under the registry's lock: they must be
 * quick, read only thread-safe state (atomics, or data under their own
 * lock), and never call register/unregister themselves. Once
 * vg_metrics_unregister() returns, the collector is not running and will
 * not run again, so its opaque may be freed.
 */
#ifndef VG_BASE_METRICS_H
#define VG_BASE_METRICS_H

#include <stdint.h>

#include "base/strbuf.h"

struct vg_strbuf;
typedef void (*vg_metrics_collect_fn)(void *opaque, struct vg_strbuf *out);

/* Adds a collector under a unique name (e.g. "rtsp_server"); registering a
 * name again replaces the earlier collector. Returns 0 or VG_ENOMEM. */
int vg_metrics_register(const char *name, vg_metrics_collect_fn fn, void *opaque);
/* Removes the collector with this name, if any. */
void vg_metrics_unregister(const char *name);

/* Writes the HELP and TYPE lines of one family. type: "counter", "gauge",
 * "summary" (quantile samples) or "untyped". */
void vg_metrics_family(struct vg_strbuf *out, const char *name, const char *type, const char *help);
/* Writes one sample. labels is NULL or a NULL-terminated list of
 * name, value, name, value, ...; values are escaped here. */
void vg_metrics_sample(struct vg_strbuf *out, const char *name, const char *const *labels, double value);
void vg_metrics_sample_u64(struct vg_strbuf *out, const char *name, const char *const *labels,
                           uint64_t value);
/* A family with one sample and no labels: its HELP and TYPE lines, then
 * the value. */
void vg_metrics_single_u64(struct vg_strbuf *out, const char *name, const char *type, const char *help,
                           uint64_t value);
/* Appends a label value with \, " and newline escaped. */
void vg_metrics_escape_label(struct vg_strbuf *out, const char *value);

/* Appends every registered collector's text, in registration order. */
void vg_metrics_run_collectors(struct vg_strbuf *out);

/* Process figures, also used by GET /api/v1/health. Thread-safe. */
typedef struct {
  double start_time_s; /* Unix time the process started */
  double uptime_s;
  double cpu_seconds; /* user + system */
  uint64_t resident_bytes;
  int open_fds; /* -1 if unknown */
} vg_process_stats_t;
void vg_process_get_stats(vg_process_stats_t *out);

#endif
