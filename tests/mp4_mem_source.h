/* A vg_mp4_source_t over bytes in memory, for the tests and fuzz targets of
 * the MP4 walker and the recording recovery scan, which read files through
 * a callback. */
#ifndef VG_TESTS_MP4_MEM_SOURCE_H
#define VG_TESTS_MP4_MEM_SOURCE_H

#include <stdint.h>
#include <string.h>

#include "media/mp4_reader.h"

typedef struct {
  uint8_t *data; /* read only by read_mem; tests may edit their copy */
  size_t size;
} memfile_t;

static inline long read_mem(void *opaque, uint64_t offset, uint8_t *dst, size_t len) {
  const memfile_t *f = opaque;
  if (offset >= f->size) return 0;
  size_t n = f->size - offset < len ? (size_t)(f->size - offset) : len;
  memcpy(dst, f->data + offset, n);
  return (long)n;
}

#endif
