/* Fuzzes the recording recovery scan (record/recovery.h, vg_rec_scan): at
 * start, recovery walks every unclosed or unindexed segment file, which a
 * crash may have torn and anyone with access to the disk may have written,
 * then cuts it where the scan says, including before a direct-written
 * file's padding 'free' box. The input is the file. The scan must never
 * read past it, and what it reports must lie inside it: a cut beyond the
 * file's end or a fragment outside it would corrupt the index. A short
 * input is also taken for a file name found in a camera's directory
 * (vg_rec_parse_segment_name). */
#include <stdlib.h>
#include <string.h>

#include "record/recovery.h"

#include "../mp4_mem_source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  memfile_t mf = {(uint8_t *)data, size};
  vg_mp4_source_t src = {read_mem, &mf, size};
  /* A start near the far end of what a file name can say (year 9999), so
   * that decode times added to it reach the edge of int64. */
  const int64_t starts[2] = {1763683200000000, 253402300799000000};
  for (int k = 0; k < 2; k++) {
    vg_rec_scan_t sc;
    vg_rec_scan(&src, starts[k], &sc);
    if (sc.good_end > size) abort();
    uint64_t prev_end = 0;
    for (int i = 0; i < sc.count; i++) {
      const vg_rec_scan_fragment_t *f = &sc.frags[i];
      if (f->offset < prev_end || f->size == 0 || f->offset + f->size > size) abort();
      prev_end = f->offset + f->size;
    }
    if (sc.count > 0 && sc.good_end != prev_end) abort();
    vg_rec_scan_free(&sc);
  }
  if (size < 256) {
    char name[256];
    memcpy(name, data, size);
    name[size] = '\0';
    int64_t utc_us;
    vg_rec_parse_segment_name(name, "cam1", &utc_us);
  }
  return 0;
}
