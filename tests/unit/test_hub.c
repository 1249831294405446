/* Unit tests for the stream hub: sharing, GOP cache, slow readers, generations. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/error.h"
#include "stream/hub.h"

static vg_hub_t *video_hub(void) {
  vg_hub_t *h = vg_hub_new("cam1");
  vg_track_t t = {.codec = VG_CODEC_H264, .clock_rate = 90000};
  assert_int_equal(vg_hub_set_tracks(h, &t, 1), 0);
  return h;
}

static void push(vg_hub_t *h, int64_t pts, int key) {
  vg_frame_t f = {0};
  f.buf = vg_buf_alloc(64);
  f.buf->len = 64;
  f.data = f.buf->data;
  f.len = 64;
  f.pts = pts;
  f.flags = key ? VG_FRAME_KEY : 0;
  memset(f.buf->data, (int)pts, 64);
  vg_hub_push(h, &f);
  vg_buf_unref(&f.buf);
}

static void sync_tracks(vg_hub_reader_t *r) {
  vg_frame_t f;
  vg_track_t t[VG_MAX_TRACKS];
  assert_int_equal(vg_hub_read(r, &f), VG_ESTATE);
  int n = vg_hub_reader_tracks(r, t, VG_MAX_TRACKS);
  assert_int_equal(n, 1);
  assert_int_equal(t[0].codec, VG_CODEC_H264);
  vg_track_clear(&t[0]);
}

static void test_frames_are_shared_not_copied(void **state) {
  vg_hub_t *h = video_hub();
  vg_hub_reader_t *a, *b;
  assert_int_equal(vg_hub_open_reader(h, NULL, &a), 0);
  assert_int_equal(vg_hub_open_reader(h, NULL, &b), 0);
  sync_tracks(a);
  sync_tracks(b);
  push(h, 1, 1);
  vg_frame_t fa, fb, none;
  assert_int_equal(vg_hub_read(a, &fa), 0);
  assert_int_equal(vg_hub_read(b, &fb), 0);
  assert_ptr_equal(fa.buf, fb.buf);
  assert_ptr_equal(fa.data, fb.data);
  assert_int_equal(vg_hub_read(a, &none), VG_EAGAIN);
  vg_frame_unref(&fa);
  vg_frame_unref(&fb);
  vg_hub_close_reader(&a);
  vg_hub_close_reader(&b);
  vg_hub_unref(&h);
}

static void test_new_reader_starts_at_cached_keyframe(void **state) {
  vg_hub_t *h = video_hub();
  push(h, 1, 0); /* before any keyframe: not cached */
  push(h, 2, 1);
  push(h, 3, 0);
  push(h, 4, 0);
  vg_hub_reader_t *r;
  assert_int_equal(vg_hub_open_reader(h, NULL, &r), 0);
  sync_tracks(r);
  vg_frame_t f;
  for (int64_t want = 2; want <= 4; want++) {
    assert_int_equal(vg_hub_read(r, &f), 0);
    assert_int_equal(f.pts, want);
    vg_frame_unref(&f);
  }
  assert_int_equal(vg_hub_read(r, &f), VG_EAGAIN);
  vg_hub_close_reader(&r);
  vg_hub_unref(&h);
}

static void test_slow_reader_skips_to_next_keyframe(void **state) {
  vg_hub_t *h = video_hub();
  vg_hub_reader_t *slow, *fast;
  vg_hub_reader_opts_t small = {.queue_frames = 4};
  assert_int_equal(vg_hub_open_reader(h, &small, &slow), 0);
  assert_int_equal(vg_hub_open_reader(h, NULL, &fast), 0);
  sync_tracks(slow);
  sync_tracks(fast);
  push(h, 1, 1);
  for (int i = 2; i <= 6; i++)
    push(h, i, 0); /* slow overflows at frame 5 */
  push(h, 7, 0);
  push(h, 8, 1); /* it resumes here */
  push(h, 9, 0);
  vg_frame_t f;
  assert_int_equal(vg_hub_read(slow, &f), 0);
  assert_int_equal(f.pts, 8);
  vg_frame_unref(&f);
  assert_int_equal(vg_hub_read(slow, &f), 0);
  assert_int_equal(f.pts, 9);
  vg_frame_unref(&f);
  vg_hub_reader_stats_t st;
  vg_hub_reader_stats(slow, &st);
  assert_int_equal(st.skips, 1);
  assert_int_equal(st.dropped, 7); /* 1..4 queued, 5, 6, 7 skipped */
  /* The fast reader lost nothing. */
  for (int64_t want = 1; want <= 9; want++) {
    assert_int_equal(vg_hub_read(fast, &f), 0);
    assert_int_equal(f.pts, want);
    vg_frame_unref(&f);
  }
  vg_hub_close_reader(&slow);
  vg_hub_close_reader(&fast);
  vg_hub_unref(&h);
}

static void test_track_change_and_end_reach_readers(void **state) {
  vg_hub_t *h = video_hub();
  vg_hub_reader_t *r;
  assert_int_equal(vg_hub_open_reader(h, NULL, &r), 0);
  sync_tracks(r);
  push(h, 1, 1);
  vg_track_t t = {.codec = VG_CODEC_H264, .clock_rate = 90000, .width = 640};
  vg_hub_set_tracks(h, &t, 1); /* reconnect with new parameters */
  sync_tracks(r);
  vg_frame_t f;
  assert_int_equal(vg_hub_read(r, &f), VG_EAGAIN); /* old generation flushed */
  vg_hub_end(h);
  assert_int_equal(vg_hub_read(r, &f), VG_ECLOSED);
  vg_hub_close_reader(&r);
  vg_hub_unref(&h);
}

static void test_registry_by_name(void **state) {
  vg_hub_t *h = vg_hub_new("door");
  assert_int_equal(vg_hub_register(h), 0);
  vg_hub_t *dup = vg_hub_new("door");
  assert_int_equal(vg_hub_register(dup), VG_EEXIST);
  vg_hub_t *found = vg_hub_find("door");
  assert_ptr_equal(found, h);
  assert_null(vg_hub_find("yard"));
  vg_hub_unref(&found);
  vg_hub_unregister(h);
  assert_null(vg_hub_find("door"));
  vg_hub_unref(&dup);
  vg_hub_unref(&h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_frames_are_shared_not_copied),
      cmocka_unit_test(test_new_reader_starts_at_cached_keyframe),
      cmocka_unit_test(test_slow_reader_skips_to_next_keyframe),
      cmocka_unit_test(test_track_change_and_end_reach_readers),
      cmocka_unit_test(test_registry_by_name),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
