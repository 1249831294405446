/*
 * metrics.h: the Prometheus text page served at GET /metrics: per-camera
 * state and counters, process memory and CPU, buffer pool statistics, then
 * every collector registered with src/base/metrics.h. Any thread.
 */
#ifndef VG_API_METRICS_H
#define VG_API_METRICS_H

#include "base/metrics.h"

/* Builds the whole page into out. Returns 0, or out's error. */
int vg_metrics_render(struct vg_strbuf *out);

#endif
