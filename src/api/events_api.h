/*
 * events_api.h: the events routes (api/events_api.c), listed once in
 * api.c's route_groups, and their parsers of untrusted input:
 *   GET    /api/v1/events                      list with filters and pagination
 *   POST   /api/v1/events                      a manual event
 *   GET    /api/v1/events/{id}                 one event
 *   DELETE /api/v1/events/{id}                 delete it, its pictures and its lock
 *   GET    /api/v1/events/{id}/snapshot.jpg    the best snapshot ("recordings")
 *   GET    /api/v1/events/{id}/thumbnail.jpg   its thumbnail ("recordings")
 *   GET    /api/v1/events/{id}/clip.mp4        pre-capture to post-capture ("export"), Range
 *   POST   /api/v1/events/{id}/false_positive  mark it; teaches the suppression mask
 *   PUT    /api/v1/events/{id}/retain          {"retain": true|false}
 * Events of cameras a user may not see are answered 404 and never listed.
 *
 * Threads: handlers run on the HTTP server's thread.
 */
#ifndef VG_API_EVENTS_API_H
#define VG_API_EVENTS_API_H

#include <stddef.h>

#include "api/router.h"
#include "event/store.h"

extern const vg_http_route_t vg_events_api_routes[];
extern const size_t vg_events_api_route_count;

/* The list's query parameters into q (vg_event_query_init first): camera,
 * start, end (RFC 3339 or unix seconds / milliseconds), class (or label),
 * sensor, kind, severity (the least severity), false_positive (true/false),
 * q (text), limit (1..1000, default 50), cursor ("<start_us>.<id>", from a
 * previous answer's next_cursor) or offset. Returns 0, or VG_EINVAL with a
 * message that starts with the parameter's name in err. Bounded: every
 * value is length-checked. */
int vg_events_api_parse_query(const vg_http_request_t *req, vg_event_query_t *q, char *err, size_t err_size);

typedef struct {
  char camera[64];
  char label[64];
  int severity;
  char labels[VG_EVENT_LABELS_MAX];
  int64_t start_us, end_us;
} vg_manual_event_t;

/* POST /api/v1/events: {"camera", "label"? ("manual"), "severity"?
 * ("medium"), "labels"? [strings], and "duration_s" (from "start" or now)
 * or "start"/"end"}; without a duration or an end the event lasts 10 s.
 * now_us is "now". Returns 0 or VG_EINVAL with err naming the field. */
int vg_events_api_parse_manual(const char *body, size_t len, int64_t now_us, vg_manual_event_t *out,
                               char *err, size_t err_size);

#endif
