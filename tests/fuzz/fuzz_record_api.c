/* Fuzz target: the recording-control request bodies (manual trigger and
 * evidence lock) and the RFC 3339 time parser, which read untrusted bytes
 * from HTTP clients. The first byte picks the parser; the rest is the body
 * (or, for the time parser, a NUL-terminated copy of it). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/record_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *body = (const char *)data + 1;
  size_t len = size - 1;
  char err[160];
  switch (data[0] % 3) {
  case 0: {
    int duration = 0;
    char reason[VG_REC_REASON_MAX];
    if (vg_record_api_parse_trigger(body, len, &duration, reason, sizeof(reason), err, sizeof(err)) == 0 &&
        (duration < 1 || duration > 86400 || strlen(reason) >= sizeof(reason)))
      abort();
    break;
  }
  case 1: {
    vg_rec_lock_t l = {0};
    if (vg_record_api_parse_lock(body, len, &l, err, sizeof(err)) == 0 &&
        (l.end_us <= l.start_us || !l.reason[0]))
      abort();
    break;
  }
  default: {
    char *s = malloc(len + 1);
    if (!s) return 0;
    memcpy(s, body, len);
    s[len] = '\0';
    int64_t t;
    vg_record_api_parse_time(s, &t);
    free(s);
    break;
  }
  }
  return 0;
}
