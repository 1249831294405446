/* Fuzzes the MP4 reader with whole files: recovery walks segment files
 * that a crash or a full disk may have cut or garbled, and playback reads
 * files that could have been replaced on disk. The input is the file: the
 * init segment is parsed from bytes and through the read callback, then
 * every fragment is walked, and every sample must lie inside the file. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "media/mp4_reader.h"

#include "../mp4_mem_source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  vg_mp4_init_t init;
  if (vg_mp4_parse_init(data, size, &init) == 0) vg_mp4_init_clear(&init);

  memfile_t mf = {(uint8_t *)data, size};
  vg_mp4_source_t src = {read_mem, &mf, size};
  if (vg_mp4_read_init(&src, &init) != 0) {
    /* A moof alone still exercises the fragment parser. */
    vg_mp4_fragment_t fr;
    memset(&init, 0, sizeof(init));
    if (vg_mp4_parse_moof(&init, data, size, 0, &fr) == 0) vg_mp4_fragment_clear(&fr);
    return 0;
  }
  uint64_t offset = init.moov_end;
  vg_mp4_fragment_t fr;
  for (int i = 0; i < 100000; i++) {
    uint64_t before = offset;
    int err = vg_mp4_next_fragment(&src, &init, &offset, &fr);
    if (err) {
      if (offset > size) abort();
      break;
    }
    /* A whole fragment's samples lie inside it, and the walk moves on. */
    if (fr.data_end > offset || offset <= before || fr.offset + fr.size != offset) abort();
    vg_mp4_fragment_clear(&fr);
  }
  vg_mp4_init_clear(&init);
  return 0;
}
