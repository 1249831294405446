/* Fuzzes what a client controls in the API layer: the method and path that
 * reach the route table and the dispatcher (404/405/handlers, with no
 * cameras registered), and label escaping for /metrics.
 * Input: METHOD '\n' PATH. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 8192) return 0;
  char *text = malloc(size + 1);
  memcpy(text, data, size);
  text[size] = '\0';
  char *nl = strchr(text, '\n');
  const char *method = "GET", *path = text;
  if (nl) {
    *nl = '\0';
    method = text;
    path = nl + 1;
  }
  /* /metrics renders process figures from /proc: slow, and not what is fuzzed. */
  if (strcmp(path, "/metrics") != 0) {
    vg_http_request_t req = {.method = method, .path = path, .query = ""};
    vg_http_response_t res;
    vg_http_response_init(&res);
    vg_api_dispatch(&req, &res);
    if (res.status < 200 || res.status > 599 || !res.body.data) abort();
    vg_http_response_free(&res);
  }
  vg_strbuf_t sb;
  vg_strbuf_init(&sb, 0);
  const char *labels[] = {"camera", path, NULL};
  vg_metrics_sample_u64(&sb, "vigil_fuzz", labels, 1);
  /* The escaped value has no raw newline: one sample stays one line. */
  if (sb.data && strchr(sb.data, '\n') != sb.data + sb.len - 1) abort();
  vg_strbuf_free(&sb);
  free(text);
  return 0;
}
