/* Fuzzes the JPEG header scan of the HTTP source (ingest/http_source.h,
 * vg_jpeg_size): every snapshot and every MJPEG part a camera sends is
 * walked for its SOF to learn the picture size. The input is the JPEG. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "ingest/http_source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A copy of exactly size bytes, so that ASan sees a read past the end. */
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy) return 0;
  memcpy(copy, data, size);
  int w = -1, h = -1;
  int r = vg_jpeg_size(copy, size, &w, &h);
  if (r == 0 && (w < 0 || w > 65535 || h < 0 || h > 65535)) abort();
  free(copy);
  return 0;
}
