/* Unit tests for the recorder's write paths: O_DIRECT segment writes
 * (record.direct_io) with blocks reserved ahead (record.preallocate_mb) and
 * index rows committed per interval (record.index_interval_ms) give files
 * byte for byte identical to the buffered path, with index rows that match
 * them and no blocks left reserved past their end; a direct-written file
 * cut short by a crash (its padding, or a torn fragment after it) is
 * recovered to its complete fragments. */
/* cmocka needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "db/db.h"
#include "net/worker.h"
#include "record/index.h"
#include "record/recorder.h"
#include "record/recovery.h"
#include "sim/clip.h"

#define CAMERA "cam1"
#define SEGMENTS 3

static char tmpdir[64];

static const char *const names[SEGMENTS] = {
    "cam1/2024/02/29/23/cam1-20240229T235958Z.mp4",
    "cam1/2024/02/29/23/cam1-20240229T235959Z.mp4",
    "cam1/2024/03/01/00/cam1-20240301T000000Z.mp4",
};

/* A 3 s clip (GOP 1 s) of a 1.5 Mbit/s stream, so that 200 ms fragments
 * span several blocks and end anywhere within one. Encoded once per test:
 * two encodings need not give the same bytes. */
static vg_clip_t *encode_clip(void) {
  vg_clip_params_t p;
  vg_clip_params_defaults(&p);
  p.codec = VG_CODEC_H264;
  p.width = 320;
  p.height = 240;
  p.fps = 25;
  p.gop = 25;
  p.duration_s = 3;
  p.bitrate_kbps = 1500;
  vg_clip_t *clip = NULL;
  assert_int_equal(vg_clip_encode(&p, &clip), 0);
  return clip;
}

/* Records clip with 1 s segments and 200 ms fragments into root with the
 * given write path. */
static void record_clip(const vg_clip_t *clip, const char *root, const char *db, bool direct, int prealloc_mb,
                        int index_ms) {
  assert_int_equal(vg_workers_start(1), 0);
  vg_record_config_t cfg = {.enabled = true,
                            .segment_s = 1,
                            .fragment_ms = 200,
                            .direct_io = direct,
                            .preallocate_mb = prealloc_mb,
                            .index_interval_ms = index_ms};
  snprintf(cfg.root, sizeof cfg.root, "%s", root);
  if (db) snprintf(cfg.db_path, sizeof cfg.db_path, "%s", db);
  assert_int_equal(vg_recorders_start(&cfg), 0);
  vg_hub_t *hub = vg_hub_new(CAMERA);
  assert_int_equal(vg_recorder_add(CAMERA, hub, vg_worker_at(0)), 0);
  assert_int_equal(vg_hub_set_tracks(hub, clip->tracks, clip->track_count), 0);
  usleep(50000); /* the reader opens on the worker */
  for (size_t i = 0; i < clip->frame_count; i++) {
    vg_frame_t f = clip->frames[i].frame;
    f.utc_us = 1709251198000000LL + clip->frames[i].time_us;
    vg_hub_push(hub, &f);
    if (i % 10 == 0) usleep(2000);
  }
  vg_hub_end(hub);
  vg_recorder_stats_t st;
  for (int i = 0; i < 100; i++) {
    usleep(20000);
    assert_int_equal(vg_recorder_get_stats(CAMERA, &st), 0);
    if (st.segments >= SEGMENTS) break;
  }
  usleep(100000);
  assert_int_equal(vg_recorder_get_stats(CAMERA, &st), 0);
  assert_int_equal(st.segments, SEGMENTS);
  assert_int_equal(st.write_errors, 0);
  assert_int_equal(st.dropped, 0);
  vg_recorders_stop(); /* closes the segments and commits what is pending */
  vg_workers_stop();
  vg_hub_unref(&hub);
}

static unsigned char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)n + 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return b;
}

static void test_direct_matches_buffered(void **state) {
  (void)state;
  char buffered[128], direct[128], db[128];
  snprintf(buffered, sizeof buffered, "%s/buffered", tmpdir);
  snprintf(direct, sizeof direct, "%s/direct", tmpdir);
  snprintf(db, sizeof db, "%s/vigil.db", tmpdir);
  vg_clip_t *clip = encode_clip();
  record_clip(clip, buffered, NULL, false, 0, 0);
  record_clip(clip, direct, db, true, 1, 1000);
  vg_clip_free(&clip);

  vg_db_t *d = NULL;
  vg_rec_index_t *ix = NULL;
  assert_int_equal(vg_db_open(db, &d), 0);
  assert_int_equal(vg_rec_index_open(d, &ix), 0);
  for (int i = 0; i < SEGMENTS; i++) {
    char a[256], b[256];
    snprintf(a, sizeof a, "%s/%s", buffered, names[i]);
    snprintf(b, sizeof b, "%s/%s", direct, names[i]);
    size_t alen, blen;
    unsigned char *abytes = slurp(a, &alen), *bbytes = slurp(b, &blen);
    assert_true(alen > 20000); /* several blocks: whole-block writes and a tail */
    assert_int_equal(alen, blen);
    assert_memory_equal(abytes, bbytes, alen);
    free(abytes);
    free(bbytes);
    /* No blocks stay reserved past the end once the file is closed. */
    struct stat sb;
    assert_int_equal(stat(b, &sb), 0);
    assert_true((uint64_t)sb.st_blocks * 512 <= ((uint64_t)sb.st_size + 4095) / 4096 * 4096 + 4096);
    /* The index rows, committed per interval, were all written at stop. */
    vg_rec_segment_t row;
    assert_int_equal(vg_rec_index_find_segment(ix, direct, names[i], &row), 0);
    assert_true(row.closed);
    assert_int_equal(row.bytes, (uint64_t)sb.st_size);
  }
  vg_rec_index_close(&ix);
  vg_db_close(&d);
}

static void append(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "ab");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  fclose(f);
}

/* What a crash leaves of a direct-written file: its last fragment followed
 * by the 'free' box that pads it to a block, and in the second file a torn
 * fragment after that (a crash in the middle of a write). Recovery indexes
 * both and cuts them back to exactly the bytes of their complete fragments. */
static void test_crash_recovery(void **state) {
  (void)state;
  char root[128], db[128];
  snprintf(root, sizeof root, "%s/rec", tmpdir);
  snprintf(db, sizeof db, "%s/vigil.db", tmpdir);
  vg_clip_t *clip = encode_clip();
  record_clip(clip, root, NULL, true, 0, 0);
  vg_clip_free(&clip);
  size_t sizes[2];
  for (int i = 0; i < 2; i++) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", root, names[i]);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    sizes[i] = (size_t)sb.st_size;
    size_t pad = (sizes[i] + 4095) / 4096 * 4096 - sizes[i];
    if (pad < 8) pad += 4096;
    unsigned char box[8192] = {(unsigned char)(pad >> 24),
                               (unsigned char)(pad >> 16),
                               (unsigned char)(pad >> 8),
                               (unsigned char)pad,
                               'f',
                               'r',
                               'e',
                               'e'};
    append(p, box, pad);
    if (i == 1) {
      static const unsigned char torn[16] = {0, 0, 0x13, 0x88, 'm', 'o', 'o', 'f'};
      append(p, torn, sizeof torn);
    }
  }
  vg_db_t *d = NULL;
  vg_rec_index_t *ix = NULL;
  assert_int_equal(vg_db_open(db, &d), 0);
  assert_int_equal(vg_rec_index_open(d, &ix), 0);
  vg_rec_recovery_stats_t st = {0};
  assert_int_equal(vg_rec_recover_root(ix, root, &st), 0);
  assert_int_equal(st.orphans_indexed, SEGMENTS);
  assert_int_equal(st.trimmed, 2);
  for (int i = 0; i < 2; i++) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", root, names[i]);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal((size_t)sb.st_size, sizes[i]);
    vg_rec_segment_t row;
    assert_int_equal(vg_rec_index_find_segment(ix, root, names[i], &row), 0);
    assert_int_equal(row.bytes, sizes[i]);
  }
  vg_rec_index_close(&ix);
  vg_db_close(&d);
}

static int setup(void **state) {
  (void)state;
  strcpy(tmpdir, "/tmp/vg_recd_XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}
static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_direct_matches_buffered, setup, teardown),
      cmocka_unit_test_setup_teardown(test_crash_recovery, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
