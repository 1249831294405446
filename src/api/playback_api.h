/*
 * playback_api.h: the parsers of the playback routes (api/playback.c) for
 * what a client sends: the start/end time parameters and the Range header.
 * The routes themselves are listed in api.c's route groups; these are
 * declared for tests and fuzzing (tests/fuzz/fuzz_playback_query.c).
 *
 * Pure functions: any thread.
 */
#ifndef VG_API_PLAYBACK_API_H
#define VG_API_PLAYBACK_API_H

#include <stdint.h>

/* An RFC 3339 time ("2026-11-21T15:04:05Z", fractions and numeric offsets
 * allowed) or unix time as up to 15 digits (seconds below 10^11,
 * milliseconds from there on) into microseconds. Returns 0 or VG_EINVAL. */
int vg_playback_api_parse_time(const char *s, int64_t *us);

/* A Range header (NULL when absent) against a body of size bytes. Returns
 * 1 with the inclusive *first..*last for one satisfiable range, 0 to send
 * the whole body (no header, another unit, several ranges, or a malformed
 * one: RFC 9110 14.2 lets a server ignore those), or -1 when unsatisfiable
 * (416). */
int vg_playback_api_parse_range(const char *header, uint64_t size, uint64_t *first, uint64_t *last);

#endif
