/* Fuzzes the G.711 and Opus depacketizers and packetizers; see
 * depack_fuzz.h for the input format. The first byte picks the codec. */
#include "depack_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const vg_track_t tracks[3] = {{.codec = VG_CODEC_PCMU, .clock_rate = 8000},
                                       {.codec = VG_CODEC_PCMA, .clock_rate = 8000},
                                       {.codec = VG_CODEC_OPUS, .clock_rate = 48000}};
  return fz_run(&tracks[data[0] % 3], NULL, NULL, 0, 0, data + 1, size - 1);
}
