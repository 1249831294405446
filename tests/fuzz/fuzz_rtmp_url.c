/* Fuzzes RTMP URL parsing, stream key queries and the handshake
 * (proto/rtmp.h): RTMP camera URLs come from the API (vg_rtmp_url_parse,
 * which also builds the tcUrl sent in connect), a publisher's stream key
 * may carry "?user=..&pass=.." (vg_rtmp_query_value), and the handshake
 * answers C0+C1 from any publisher and S0+S1+S2 from any RTMP camera. The
 * input is used as the URL and the query (up to its first NUL) and, whole,
 * as both handshake messages. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "proto/rtmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 16384) return 0;
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  vg_rtmp_url_t u;
  if (vg_rtmp_url_parse(text, &u) == 0) {
    if (!u.host[0] || u.port == 0 || strnlen(u.tc_url, sizeof(u.tc_url)) == sizeof(u.tc_url) ||
        strnlen(u.app, sizeof(u.app)) == sizeof(u.app) ||
        strnlen(u.stream, sizeof(u.stream)) == sizeof(u.stream))
      abort();
  }
  char value[128];
  int n = vg_rtmp_query_value(text, "pass", value, sizeof(value));
  if (n >= (int)sizeof(value) || (n >= 0 && strlen(value) != (size_t)n) || (n < 0 && value[0])) abort();
  vg_rtmp_query_value(text, "user", value, 1);
  free(text);

  static uint8_t out[1 + 2 * VG_RTMP_HANDSHAKE_SIZE];
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy) return 0;
  memcpy(copy, data, size);
  vg_rtmp_handshake_server(copy, size, 7, out, sizeof(out));
  vg_rtmp_handshake_server(copy, size, 7, out, 100);
  vg_rtmp_handshake_client_reply(copy, size, out, sizeof(out));
  vg_rtmp_handshake_client_reply(copy, size, out, 100);
  free(copy);
  return 0;
}
