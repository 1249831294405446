/* Fuzz target: what the events API reads from HTTP clients: the list's
 * query string (filters, times, limit, cursor, offset) and the manual
 * event body. The first byte picks the parser; the rest is the input (the
 * query as a NUL-terminated string). Successful parses must respect the
 * documented bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/events_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *rest = (const char *)data + 1;
  size_t len = size - 1;
  char err[160];
  if (data[0] % 2 == 0) {
    char *query = malloc(len + 1);
    if (!query) return 0;
    memcpy(query, rest, len);
    query[len] = '\0';
    vg_http_request_t req;
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.path = "/api/v1/events";
    req.query = query;
    vg_event_query_t q;
    vg_event_query_init(&q);
    if (vg_events_api_parse_query(&req, &q, err, sizeof(err)) == 0) {
      if (q.limit < 1 || q.limit > VG_EVENT_QUERY_MAX_LIMIT || q.offset < 0) abort();
      if (q.has_cursor && (q.offset || q.cursor_id < 1)) abort();
      if (q.start_us && q.end_us && q.end_us <= q.start_us) abort();
      if (q.min_severity > 4 || q.false_positive > 1) abort();
      if (strnlen(q.text, sizeof(q.text)) == sizeof(q.text) ||
          strnlen(q.camera, sizeof(q.camera)) == sizeof(q.camera))
        abort();
    }
    free(query);
  } else {
    vg_manual_event_t m;
    if (vg_events_api_parse_manual(rest, len, 1795000000000000LL, &m, err, sizeof(err)) == 0) {
      if (!m.camera[0] || !m.label[0] || m.end_us <= m.start_us || m.end_us - m.start_us > 86400000000LL)
        abort();
      if (m.severity < 0 || m.severity > 4) abort();
    }
  }
  return 0;
}
