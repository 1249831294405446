/* Fuzzes the H.264 depacketizer (and, through round trips, the packetizer);
 * see depack_fuzz.h for the input format. The first byte picks the options. */
#include "depack_fuzz.h"

#define SPROP "packetization-mode=1;sprop-parameter-sets=Z0LAC9oKEflwEQAAAwABAAADADIPFCqg,aM4PyA=="

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const vg_track_t track = {.codec = VG_CODEC_H264, .clock_rate = 90000};
  const char *fmtp = (data[0] & 1) ? SPROP : NULL;
  return fz_run(&track, fmtp, fmtp, (data[0] >> 1) & 1, (data[0] & 4) ? 600 : 0, data + 1, size - 1);
}
