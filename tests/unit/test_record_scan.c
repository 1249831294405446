/* Unit tests for the recovery scan of segment files (vg_rec_scan in
 * src/record/recovery.c): where a file is cut (after its last complete
 * fragment, before a direct-written file's padding), and fragment times
 * from corrupt decode times, which must saturate, not overflow. The file is
 * a real fragmented MP4 of ffmpeg's (tests/data/record/h264_frag.mp4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "record/recovery.h"

#include "../mp4_mem_source.h"

/* The sample with room for extra bytes at its end. */
static memfile_t load_sample(size_t extra) {
  char path[1024];
  const char *dir = getenv("VG_TEST_DATA");
  snprintf(path, sizeof(path), "%s/record/h264_frag.mp4", dir ? dir : "tests/data");
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  memfile_t f = {malloc(65536 + extra), 0};
  assert_non_null(f.data);
  f.size = fread(f.data, 1, 65536, fp);
  fclose(fp);
  assert_true(f.size > 1000);
  return f;
}

static size_t find_box(const memfile_t *f, const char *type) {
  for (size_t i = 4; i + 4 <= f->size; i++)
    if (memcmp(f->data + i, type, 4) == 0) return i - 4;
  fail_msg("no %s box", type);
  return 0;
}

static void scan(memfile_t *f, int64_t start_us, vg_rec_scan_t *sc) {
  vg_mp4_source_t src = {read_mem, f, f->size};
  assert_int_equal(vg_rec_scan(&src, start_us, sc), 0);
}

static void test_whole_file(void **state) {
  (void)state;
  memfile_t f = load_sample(0);
  vg_rec_scan_t sc;
  scan(&f, 1000000, &sc);
  assert_true(sc.readable);
  assert_true(sc.count > 0);
  assert_int_equal(sc.good_end, f.size);
  assert_int_equal(sc.frags[0].start_us, 1000000);
  assert_true(sc.frags[0].key);
  vg_rec_scan_free(&sc);
  free(f.data);
}

/* A direct-written file ends in a 'free' box of padding, possibly followed
 * by a torn fragment: the cut goes before the padding. */
static void test_padding_is_cut(void **state) {
  (void)state;
  memfile_t f = load_sample(1024);
  size_t original = f.size;
  static const uint8_t free_hdr[8] = {0, 0, 2, 0, 'f', 'r', 'e', 'e'};
  memcpy(f.data + f.size, free_hdr, 8);
  memset(f.data + f.size + 8, 0, 512 - 8);
  f.size += 512;
  vg_rec_scan_t sc;
  scan(&f, 0, &sc);
  assert_true(sc.count > 0);
  assert_int_equal(sc.good_end, original);
  assert_int_equal(sc.frags[sc.count - 1].offset + sc.frags[sc.count - 1].size, original);
  vg_rec_scan_free(&sc);

  static const uint8_t torn[16] = {0, 0, 0x07, 0xd0, 'm', 'o', 'o', 'f'};
  memcpy(f.data + f.size, torn, sizeof(torn));
  f.size += sizeof(torn);
  scan(&f, 0, &sc);
  assert_int_equal(sc.good_end, original);
  vg_rec_scan_free(&sc);
  free(f.data);
}

/* A decode time near 2^63 microseconds on a start near year 9999 (the
 * latest a file name can say) overflowed int64 (UBSan: signed integer
 * overflow in the scan); the time now saturates. */
static void test_huge_decode_time_saturates(void **state) {
  (void)state;
  memfile_t f = load_sample(0);
  size_t tfdt = find_box(&f, "tfdt");
  assert_int_equal(f.data[tfdt + 8], 1); /* version 1: a 64-bit time */
  size_t mdhd = find_box(&f, "mdhd");
  uint32_t timescale = (uint32_t)f.data[mdhd + 20] << 24 | (uint32_t)f.data[mdhd + 21] << 16 |
                       (uint32_t)f.data[mdhd + 22] << 8 | f.data[mdhd + 23];
  assert_true(timescale > 0);
  /* 9.0e18 us in the track's ticks. */
  uint64_t ticks = (uint64_t)((unsigned __int128)9000000000000000000ull * timescale / 1000000);
  for (int i = 0; i < 8; i++)
    f.data[tfdt + 12 + i] = (uint8_t)(ticks >> (56 - 8 * i));
  vg_rec_scan_t sc;
  scan(&f, 253402300799000000, &sc);
  assert_true(sc.count > 0);
  assert_int_equal(sc.frags[0].start_us, INT64_MAX);
  vg_rec_scan_free(&sc);
  free(f.data);
}

static void test_garbage_is_unreadable(void **state) {
  (void)state;
  uint8_t junk[256];
  memset(junk, 0xab, sizeof(junk));
  memfile_t f = {junk, sizeof(junk)};
  vg_rec_scan_t sc;
  scan(&f, 0, &sc);
  assert_false(sc.readable);
  assert_int_equal(sc.count, 0);
  vg_rec_scan_free(&sc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_whole_file),
      cmocka_unit_test(test_padding_is_cut),
      cmocka_unit_test(test_huge_decode_time_saturates),
      cmocka_unit_test(test_garbage_is_unreadable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
