/* Fuzzes the reader of camsim's clip cache files (they live in /tmp). */
#include <stddef.h>
#include <stdint.h>

#include "sim/clip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  vg_clip_t *clip = NULL;
  if (vg_clip_parse(data, size, NULL, &clip) == 0) {
    /* A clip that parses must be safe to walk the way the player does. */
    uint64_t sum = 0;
    for (size_t i = 0; i < clip->frame_count; i++)
      sum += clip->frames[i].frame.data[clip->frames[i].frame.len - 1];
    (void)sum;
    vg_clip_free(&clip);
  }
  return 0;
}
