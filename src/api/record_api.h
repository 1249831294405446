/*
 * record_api.h: the recording-control routes (manual triggers, evidence
 * locks), listed once in api.c's route_groups. See record_api.c for the
 * routes and docs/openapi.json for their schemas.
 *
 * Threads: handlers run on the HTTP server's thread.
 */
#ifndef VG_API_RECORD_API_H
#define VG_API_RECORD_API_H

#include <stddef.h>

#include "api/router.h"

extern const vg_http_route_t vg_record_api_routes[];
extern const size_t vg_record_api_route_count;

#endif
