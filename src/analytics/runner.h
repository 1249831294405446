/*
 * runner.h: starting analytics with another detector than vigil's CPU
 * detector: a GPU or NPU device's runner (infer/server.h), or a scripted
 * one in tests. A header of its own because infer's headers cannot be
 * included next to cmd/node.h (both name a type vg_node_t).
 *
 * Threads: as vg_analytics_start().
 */
#ifndef VG_ANALYTICS_RUNNER_H
#define VG_ANALYTICS_RUNNER_H

#include "analytics/analytics.h"
#include "infer/server.h"

/* vg_analytics_start() with runner and its context (which must outlive
 * vg_analytics_stop()) serving cfg->model. */
int vg_analytics_start_with_runner(const vg_analytics_node_config_t *cfg, vg_bus_t *bus,
                                   const vg_infer_runner_t *runner, void *runner_ctx);

#endif
