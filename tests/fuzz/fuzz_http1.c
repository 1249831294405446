/* Fuzzes the HTTP/1.1 client codec: a response head, its body (decoded in
 * small steps, as bytes trickle in) and, for multipart bodies, the parts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "proto/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  vg_http1_response_t resp;
  size_t used;
  if (vg_http1_parse_response(data, size, 4096, &resp, &used) != 0) return 0;
  char boundary[VG_HTTP1_MAX_BOUNDARY + 1] = {0};
  const vg_http1_str_t *ct = vg_http1_header(&resp, "Content-Type");
  int multipart = ct && vg_http1_multipart_boundary(*ct, boundary, sizeof(boundary)) > 0;
  vg_http1_body_t body;
  if (vg_http1_body_init(&body, &resp, 1 << 16) != 0) return 0;
  /* Decode into a separate buffer; the step size comes from the input so
   * that chunk lines get split at every position. */
  uint8_t *decoded = malloc(size + 1);
  size_t decoded_len = 0, pos = used, step = 1 + (size ? data[size - 1] % 7 : 0), avail = pos;
  for (int guard = 0; guard < 1 << 20; guard++) {
    const uint8_t *d;
    size_t dl, n;
    int r = vg_http1_body_decode(&body, data + pos, avail - pos, &d, &dl, &n);
    if (dl) {
      memcpy(decoded + decoded_len, d, dl);
      decoded_len += dl;
    }
    pos += n;
    if (r == 1 || (r < 0 && r != VG_EINCOMPLETE)) break;
    if (r == VG_EINCOMPLETE) {
      if (avail == size) {
        vg_http1_body_eof(&body);
        break;
      }
      avail = avail + step < size ? avail + step : size;
    }
  }
  if (multipart) {
    size_t at = 0;
    for (;;) {
      vg_http1_part_t part;
      int r = vg_http1_multipart_next(decoded + at, decoded_len - at, boundary, 1 << 14, &part, &used);
      /* Read every byte of the part so that ASan checks its bounds. */
      volatile uint8_t sum = 0;
      for (size_t i = 0; r == 1 && i < part.body_len; i++)
        sum += part.body[i];
      (void)sum;
      at += used;
      if (r != 1) break;
    }
  }
  free(decoded);
  return 0;
}
