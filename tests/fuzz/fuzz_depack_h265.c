/* Fuzzes the H.265 depacketizer (and, through round trips, the packetizer);
 * see depack_fuzz.h for the input format. The first byte picks the options. */
#include "depack_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const vg_track_t track = {.codec = VG_CODEC_H265, .clock_rate = 90000};
  static const char *const fmtps[4] = {NULL, "sprop-max-don-diff=1",
                                       "sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwAelZQJ", "sprop-max-don-diff=0"};
  const char *fmtp = fmtps[data[0] & 3];
  return fz_run(&track, fmtp, NULL, (data[0] >> 2) & 1, (data[0] & 8) ? 600 : 0, data + 1, size - 1);
}
