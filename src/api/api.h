/*
 * api.h: vigil's HTTP API, version 1: the route table and its handlers.
 *
 * Routes are rows of route tables (method, path pattern, handler): the core
 * table vg_api_routes here, and one table per area in a file of its own,
 * listed in api.c's route_groups. A new endpoint is one more row and one
 * handler, documented in docs/openapi.json.
 * Every API answer is JSON, errors included:
 *   {"error":{"code":"not_found","message":"no camera 'x'"}}
 * except GET /metrics, which is Prometheus text.
 *
 * Threads: handlers run on the HTTP server's worker and read cameras
 * through the thread-safe snapshots of ingest/camera.h.
 */
#ifndef VG_API_API_H
#define VG_API_API_H

#include "api/router.h"

extern const vg_http_route_t vg_api_routes[];
extern const size_t vg_api_route_count;

/* The route tables of the areas (src/api/<area>.c), listed in api.c. */
extern const vg_http_route_t vg_api_onvif_routes[];
extern const size_t vg_api_onvif_route_count;
/* The interface address WS-Discovery probes go out from ("0.0.0.0": the
 * default route's). */
void vg_onvif_api_set_discovery_interface(const char *iface);

/* Calls fn for every route of every group. */
void vg_api_foreach_route(void (*fn)(const vg_http_route_t *route, void *opaque), void *opaque);

/* Whether path belongs to the API (under /api/, or /metrics) rather than
 * to the static web files. */
int vg_api_owns_path(const char *path);
/* Answers an API request: a route's handler, or a JSON 404/405/500.
 * HEAD is answered as GET (the server drops the body). Always fills res. */
void vg_api_dispatch(vg_http_request_t *req, vg_http_response_t *res);

#endif
