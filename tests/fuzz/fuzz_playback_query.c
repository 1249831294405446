/* Fuzzes what a client sends to the playback routes (api/playback_api.h):
 * the start/end time parameters of recordings, vod.m3u8 and clip.mp4, and
 * the Range header of file.mp4 and clip.mp4. Input: TIME '\n' RANGE, the
 * range applied to bodies of several sizes. A satisfiable range must lie
 * inside the body; a parsed time must lie between year 0 and 10^15 ms
 * (the largest unix time of 15 digits). */
#include <stdlib.h>
#include <string.h>

#include "api/playback_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0;
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  char *range = strchr(text, '\n');
  if (range) *range++ = '\0';

  int64_t us;
  if (vg_playback_api_parse_time(text, &us) == 0 && (us < -62200000000000000LL || us > 1000000000000000000LL))
    abort();

  const char *header = range ? range : text;
  static const uint64_t sizes[] = {0, 1, 1000, UINT64_MAX};
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    uint64_t first = 0, last = 0;
    int k = vg_playback_api_parse_range(header, sizes[i], &first, &last);
    if (k == 1 && (first > last || last >= sizes[i])) abort();
    if (k < -1 || k > 1) abort();
  }
  free(text);
  return 0;
}
