/*
 * record_api.h: the recording-control routes (manual triggers, evidence
 * locks), listed once in api.c's route_groups, and their body parsers. See record_api.c for the
 * routes and docs/openapi.json for their schemas.
 *
 * Threads: handlers run on the HTTP server's thread.
 */
#ifndef VG_API_RECORD_API_H
#define VG_API_RECORD_API_H

#include <stddef.h>

#include "api/router.h"
#include "record/index.h"

extern const vg_http_route_t vg_record_api_routes[];
extern const size_t vg_record_api_route_count;

/* The request bodies, parsed without I/O (bounded: jansson parses the
 * body, every string is length-checked). On bad input they return
 * VG_EINVAL with a message naming the field in err. */

/* {"duration_s": 1..86400, "reason"?: string}; reason defaults to "api". */
int vg_record_api_parse_trigger(const char *body, size_t len, int *duration_s, char *reason,
                                size_t reason_size, char *err, size_t err_size);
/* {"start", "end", "reason", "until"?} into out's times and reason (the
 * camera is left to the caller). */
int vg_record_api_parse_lock(const char *body, size_t len, vg_rec_lock_t *out, char *err, size_t err_size);
/* An RFC 3339 time ("2026-11-21T12:00:00Z", "...:00.5+01:00") into
 * microseconds since the epoch; years 1970..9999. */
int vg_record_api_parse_time(const char *s, int64_t *out);

#endif
