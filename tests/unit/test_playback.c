/* Unit tests for playback: span merging; and, on real recordings (camsim's
 * H.264 + AAC muxed by vigil's fMP4 muxer into segment files, indexed in an
 * in-memory database the way the recorder indexes them), the HLS playlist
 * (played by FFmpeg from the files) and the exported clip, whose boxes are
 * read back with the MP4 reader, sample by sample, and decoded by FFmpeg. */
/* cmocka needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/playback_api.h"
#include "base/error.h"
#include "db/db.h"
#include "media/fmp4.h"
#include "media/mp4_reader.h"
#include "record/index.h"
#include "record/playback.h"
#include "sim/clip.h"

#define SEC 1000000LL
#define FOURCC VG_MP4_FOURCC
/* 2026-03-01T00:00:00Z */
#define T0 1772323200000000LL

/* ---- merging ---- */

static void test_merge(void **state) {
  vg_playback_spans_t s;
  /* Nothing recorded: one gap, the whole range. */
  assert_int_equal(vg_playback_merge(NULL, 0, 0, 100, 10, &s), 0);
  assert_int_equal(s.span_count, 0);
  assert_int_equal(s.gap_count, 1);
  assert_int_equal(s.gaps[0].start_us, 0);
  assert_int_equal(s.gaps[0].end_us, 100);
  vg_playback_spans_clear(&s);

  /* [5,20) and [25,40) are 5 apart: one span with tolerance 10, two with 5;
   * [38,45) overlaps; [70,200) is clipped to the range. */
  vg_playback_range_t r[] = {{5, 20}, {25, 40}, {38, 45}, {70, 200}};
  assert_int_equal(vg_playback_merge(r, 4, 0, 100, 10, &s), 0);
  assert_int_equal(s.span_count, 2);
  assert_int_equal(s.spans[0].start_us, 5);
  assert_int_equal(s.spans[0].end_us, 45);
  assert_int_equal(s.spans[1].start_us, 70);
  assert_int_equal(s.spans[1].end_us, 100);
  assert_int_equal(s.gap_count, 2);
  assert_int_equal(s.gaps[0].start_us, 0);
  assert_int_equal(s.gaps[0].end_us, 5);
  assert_int_equal(s.gaps[1].start_us, 45);
  assert_int_equal(s.gaps[1].end_us, 70);
  vg_playback_spans_clear(&s);

  assert_int_equal(vg_playback_merge(r, 4, 0, 100, 5, &s), 0);
  assert_int_equal(s.span_count, 3);
  assert_int_equal(s.gap_count, 3);
  vg_playback_spans_clear(&s);

  /* A range inside one segment is one span and no gap. */
  assert_int_equal(vg_playback_merge(r, 4, 10, 15, 0, &s), 0);
  assert_int_equal(s.span_count, 1);
  assert_int_equal(s.gap_count, 0);
  vg_playback_spans_clear(&s);

  assert_int_equal(vg_playback_merge(r, 4, 10, 10, 0, &s), VG_EINVAL);
}

static void test_file_path(void **state) {
  char out[64];
  assert_true(vg_playback_file_path("/rec", "cam/2026/a.mp4", out, sizeof(out)) > 0);
  assert_string_equal(out, "/rec/cam/2026/a.mp4");
  assert_int_equal(vg_playback_file_path("/rec", "../etc/passwd", out, sizeof(out)), VG_EINVAL);
  assert_int_equal(vg_playback_file_path("/rec", "cam/../../x", out, sizeof(out)), VG_EINVAL);
  assert_int_equal(vg_playback_file_path("/rec", "/etc/passwd", out, sizeof(out)), VG_EINVAL);
  assert_int_equal(vg_playback_file_path("/rec", "a//b", out, sizeof(out)), VG_EINVAL);
  assert_int_equal(vg_playback_file_path("/rec", "", out, sizeof(out)), VG_EINVAL);
  assert_int_equal(vg_playback_file_path("/rec", "cam/..x/y", out, sizeof(out)), 14);
}

/* ---- recordings ---- */

typedef struct {
  char dir[64];
  vg_db_t *db;
  vg_rec_index_t *ix;
  vg_clip_t *clip;  /* 320x240, 4 s, GOP 25, AAC */
  vg_clip_t *small; /* 160x120: other codec parameters */
  int64_t seg_id[4];
  int64_t seg_start[4];
} fixture_t;

static vg_clip_t *encode(int width, int height) {
  vg_clip_params_t p;
  vg_clip_params_defaults(&p);
  p.width = width;
  p.height = height;
  p.fps = 25;
  p.gop = 25;
  p.duration_s = 4;
  p.bitrate_kbps = 300;
  p.audio = VG_CODEC_AAC;
  vg_clip_t *clip = NULL;
  assert_int_equal(vg_clip_encode(&p, &clip), 0);
  return clip;
}

/* Muxes the clip's video frames [v0, v1) (and the audio between them) into
 * dir/name, a fragment every 5 video frames (so most fragments start
 * mid-GOP), stamping frames with utc = base + time; indexes the file. */
static int64_t record(fixture_t *f, const vg_clip_t *clip, int v0, int v1, int64_t base_us, const char *name,
                      int64_t *seg_start) {
  char path[160];
  snprintf(path, sizeof path, "%s/%s", f->dir, name);
  vg_fmp4_t *m = NULL;
  assert_int_equal(vg_fmp4_create(clip->tracks, clip->track_count, &m), 0);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  vg_buf_t *ib = NULL;
  assert_true(vg_fmp4_init_segment(m, &ib) > 0);
  assert_int_equal(write(fd, ib->data, ib->len), (ssize_t)ib->len);
  vg_buf_unref(&ib);
  int video = 0, in_fragment = 0;
  int64_t first_utc = -1;
  for (size_t i = 0; i <= clip->frame_count; i++) {
    const vg_clip_frame_t *cf = i < clip->frame_count ? &clip->frames[i] : NULL;
    int is_video = cf && cf->frame.track == 0;
    int done = !cf || (is_video && video >= v1);
    if ((done || (is_video && in_fragment == 5)) && vg_fmp4_queued(m) > 0) {
      vg_fmp4_fragment_t fr;
      assert_int_equal(vg_fmp4_flush_fragment(m, &fr), 0);
      for (int k = 0; k < fr.iov_count; k++)
        assert_int_equal(write(fd, fr.iov[k].iov_base, fr.iov[k].iov_len), (ssize_t)fr.iov[k].iov_len);
      vg_fmp4_fragment_release(&fr);
      in_fragment = 0;
    }
    if (done) break;
    if (is_video) video++;
    if ((is_video && video - 1 < v0) || (!is_video && (first_utc < 0))) continue;
    vg_frame_t frame = cf->frame;
    frame.utc_us = base_us + cf->time_us;
    if (first_utc < 0) first_utc = frame.utc_us;
    assert_int_equal(vg_fmp4_add_frame(m, &frame), 0);
    if (is_video) in_fragment++;
  }
  vg_fmp4_free(&m);

  /* Index it as the recorder does: the segment starts at its first frame;
   * each fragment's UTC is that plus its media time. */
  vg_rec_segment_t seg = {0};
  snprintf(seg.camera, sizeof seg.camera, "cam1");
  snprintf(seg.root, sizeof seg.root, "%s", f->dir);
  snprintf(seg.path, sizeof seg.path, "%s", name);
  seg.start_us = seg.end_us = first_utc;
  assert_int_equal(vg_rec_index_add_segment(f->ix, &seg), 0);
  struct stat st;
  assert_int_equal(fstat(fd, &st), 0);
  vg_mp4_source_t src = {vg_mp4_read_fd, &fd, (uint64_t)st.st_size};
  vg_mp4_init_t init;
  assert_int_equal(vg_mp4_read_init(&src, &init), 0);
  uint64_t off = init.moov_end;
  vg_mp4_fragment_t fr;
  int err;
  while ((err = vg_mp4_next_fragment(&src, &init, &off, &fr)) == 0) {
    vg_rec_fragment_t row = {.segment_id = seg.id,
                             .offset = fr.offset,
                             .size = fr.size,
                             .start_us = first_utc + (int64_t)(fr.start_time * SEC / fr.timescale),
                             .duration_us = (int64_t)(fr.duration * SEC / fr.timescale),
                             .key = fr.keyframe,
                             .samples = fr.sample_count};
    assert_int_equal(vg_rec_index_append_fragment(f->ix, &row), 0);
    vg_mp4_fragment_clear(&fr);
  }
  assert_int_equal(err, VG_ENODATA);
  vg_mp4_init_clear(&init);
  vg_rec_segment_t now;
  assert_int_equal(vg_rec_index_get_segment(f->ix, seg.id, &now), 0);
  assert_int_equal(vg_rec_index_close_segment(f->ix, seg.id, now.end_us, (uint64_t)st.st_size), 0);
  close(fd);
  *seg_start = first_utc;
  return seg.id;
}

/* Four files: A = frames 0..49 at T0, B = 50..99 right after (one span),
 * C = the clip again 5 s after B ends (a gap), D = another resolution right
 * after C (a track change). */
static int setup_recordings(void **state) {
  fixture_t *f = calloc(1, sizeof(*f));
  strcpy(f->dir, "/tmp/vg_playback_XXXXXX");
  if (!mkdtemp(f->dir)) return -1;
  if (vg_db_open(":memory:", &f->db) || vg_rec_index_open(f->db, &f->ix)) return -1;
  f->clip = encode(320, 240);
  f->small = encode(160, 120);
  f->seg_id[0] = record(f, f->clip, 0, 50, T0, "a.mp4", &f->seg_start[0]);
  f->seg_id[1] = record(f, f->clip, 50, 100, T0, "b.mp4", &f->seg_start[1]);
  f->seg_id[2] = record(f, f->clip, 0, 100, T0 + 9 * SEC, "c.mp4", &f->seg_start[2]);
  f->seg_id[3] = record(f, f->small, 0, 100, T0 + 13 * SEC, "d.mp4", &f->seg_start[3]);
  *state = f;
  return 0;
}

static int teardown_recordings(void **state) {
  fixture_t *f = *state;
  vg_rec_index_close(&f->ix);
  vg_db_close(&f->db);
  vg_clip_free(&f->clip);
  vg_clip_free(&f->small);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
  int rc = getenv("KEEP") ? 0 : system(cmd);
  free(f);
  return rc == 0 ? 0 : -1;
}

static void test_spans(void **state) {
  fixture_t *f = *state;
  assert_int_equal(f->seg_start[0], T0);
  assert_int_equal(f->seg_start[1], T0 + 2 * SEC);
  vg_playback_spans_t s;
  assert_int_equal(
      vg_playback_spans(f->ix, "cam1", T0 - 10 * SEC, T0 + 30 * SEC, VG_PLAYBACK_SPAN_TOLERANCE_US, &s), 0);
  /* A+B, then C+D (D follows C at once, tracks changing or not). */
  assert_int_equal(s.span_count, 2);
  assert_int_equal(s.spans[0].start_us, T0);
  assert_int_equal(s.spans[0].end_us, T0 + 4 * SEC);
  assert_int_equal(s.spans[1].start_us, T0 + 9 * SEC);
  assert_int_equal(s.spans[1].end_us, T0 + 17 * SEC);
  assert_int_equal(s.gap_count, 3);
  assert_int_equal(s.gaps[1].start_us, T0 + 4 * SEC);
  assert_int_equal(s.gaps[1].end_us, T0 + 9 * SEC);
  vg_playback_spans_clear(&s);
  /* Another camera has nothing. */
  assert_int_equal(vg_playback_spans(f->ix, "cam2", T0, T0 + 30 * SEC, 0, &s), 0);
  assert_int_equal(s.span_count, 0);
  assert_int_equal(s.gap_count, 1);
  vg_playback_spans_clear(&s);
}

static int count_lines(const char *text, const char *prefix) {
  int n = 0;
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (strncmp(p, prefix, strlen(prefix)) == 0) n++;
  return n;
}

/* Runs a command and returns its stdout (up to size bytes). */
static void run(const char *cmd, char *out, size_t size) {
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t n = fread(out, 1, size - 1, p);
  out[n] = 0;
  pclose(p);
}

/* Writes what the file route serves for segment id with shift_us to
 * dir/<id>.mp4?shift_us=<shift> (FFmpeg's file protocol takes the '?'
 * literally), and checks the shift: every tfdt moved, nothing else. */
static void serve_shifted(fixture_t *f, long long id, long long shift_us) {
  char path[200];
  snprintf(path, sizeof path, "%s/%lld.mp4?shift_us=%lld", f->dir, id, shift_us);
  if (access(path, F_OK) == 0) return;
  vg_playback_file_t *pf = NULL;
  assert_int_equal(vg_playback_file_open(f->ix, id, shift_us, &pf), 0);
  uint64_t size = vg_playback_file_size(pf);
  assert_int_equal(vg_playback_file_prepare(pf, f->ix, 0, size), 0);
  uint8_t *shifted = malloc(size);
  uint64_t at = 0;
  while (at < size) {
    long n = vg_playback_file_read(pf, at, shifted + at, 5000);
    assert_true(n > 0);
    at += (uint64_t)n;
  }
  vg_playback_file_free(&pf);
  /* Same bytes as the file except the tfdt values, each larger by the shift. */
  assert_int_equal(vg_playback_file_open(f->ix, id, 0, &pf), 0);
  uint8_t *plain = malloc(size);
  for (at = 0; at < size;)
    at += (uint64_t)vg_playback_file_read(pf, at, plain + at, size);
  vg_playback_file_free(&pf);
  vg_mp4_init_t init;
  assert_int_equal(vg_mp4_parse_init(plain, size, &init), 0);
  uint64_t off = init.moov_end;
  int patched = 0;
  while (off < size) {
    vg_mp4_box_t b;
    assert_int_equal(vg_mp4_box_header(plain + off, size - off, size - off, &b), 0);
    if (b.type == FOURCC('m', 'o', 'o', 'f')) {
      vg_mp4_fragment_t a, s;
      assert_int_equal(vg_mp4_parse_moof(&init, plain + off, b.size, off, &a), 0);
      assert_int_equal(vg_mp4_parse_moof(&init, shifted + off, b.size, off, &s), 0);
      for (int t = 0; t < a.traf_count; t++) {
        uint32_t ts = init.tracks[a.trafs[t].track].timescale;
        assert_int_equal(s.trafs[t].base_decode_time,
                         a.trafs[t].base_decode_time + (uint64_t)shift_us * ts / SEC);
        memcpy(shifted + a.trafs[t].tfdt_offset, plain + a.trafs[t].tfdt_offset, a.trafs[t].tfdt_size);
        patched++;
      }
      vg_mp4_fragment_clear(&a);
      vg_mp4_fragment_clear(&s);
    } else {
      /* Outside moofs, nothing changes. */
      assert_memory_equal(plain + off, shifted + off, b.size);
    }
    off += b.size;
  }
  assert_true(patched > 0);
  vg_mp4_init_clear(&init);
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  /* Write the shifted bytes: re-apply by reading once more. */
  assert_int_equal(vg_playback_file_open(f->ix, id, shift_us, &pf), 0);
  assert_int_equal(vg_playback_file_prepare(pf, f->ix, 0, size), 0);
  for (at = 0; at < size;) {
    long n = vg_playback_file_read(pf, at, shifted, size);
    assert_true(n > 0);
    fwrite(shifted, 1, (size_t)n, fp);
    at += (uint64_t)n;
  }
  fclose(fp);
  vg_playback_file_free(&pf);
  free(shifted);
  free(plain);
}

static void test_playlist(void **state) {
  fixture_t *f = *state;
  /* Files are reachable as dir/<id>.mp4 so that FFmpeg can play the
   * playlist from disk. */
  const char *names[] = {"a.mp4", "b.mp4", "c.mp4", "d.mp4"};
  for (int i = 0; i < 4; i++) {
    char link[160], target[160];
    snprintf(link, sizeof link, "%s/%lld.mp4", f->dir, (long long)f->seg_id[i]);
    snprintf(target, sizeof target, "%s/%s", f->dir, names[i]);
    assert_int_equal(symlink(target, link), 0);
  }
  char prefix[80];
  /* FFmpeg checks segment extensions in the URL path, which needs a scheme. */
  snprintf(prefix, sizeof prefix, "file:%s/", f->dir);
  vg_strbuf_t pl;
  vg_strbuf_init(&pl, 0);
  /* 1.5 s .. 10.5 s: B from the keyframe at 1 s, all of B, C up to 10.5 s. */
  int n = vg_playback_playlist(f->ix, "cam1", T0 + 1500000, T0 + 10500000, prefix, ".mp4", 1, &pl);
  assert_true(n > 0);
  const char *text = pl.data;
  assert_int_equal(strncmp(text, "#EXTM3U\n#EXT-X-VERSION:7\n", 25), 0);
  assert_non_null(strstr(text, "#EXT-X-PLAYLIST-TYPE:VOD\n"));
  assert_non_null(strstr(text, "#EXT-X-ENDLIST\n"));
  assert_int_equal(count_lines(text, "#EXT-X-MAP:"), 3);
  assert_int_equal(count_lines(text, "#EXT-X-DISCONTINUITY"), 2);
  assert_int_equal(count_lines(text, "#EXTINF:"), n);
  assert_int_equal(count_lines(text, "#EXT-X-PROGRAM-DATE-TIME:2026-03-01T00:00:01.000Z"), 1);
  /* Keyframes every second (GOP 25), fragments every 5 frames: media
   * segments run keyframe to keyframe: A [1,2), B [2,3) [3,4), C [9,10),
   * [10,10.6). */
  assert_int_equal(n, 5);
  /* Each media segment starts on a moof whose first video sample is a keyframe. */
  for (const char *p = strstr(text, "#EXT-X-BYTERANGE:"); p; p = strstr(p + 1, "#EXT-X-BYTERANGE:")) {
    unsigned long long len, off;
    long long id;
    assert_int_equal(sscanf(p, "#EXT-X-BYTERANGE:%llu@%llu\n", &len, &off), 2);
    /* The URI on the next line is prefix + id + ".mp4" [+ "?shift_us=N"]. */
    const char *uri = strchr(p, '\n') + 1;
    assert_int_equal(strncmp(uri, prefix, strlen(prefix)), 0);
    id = atoll(uri + strlen(prefix));
    const char *q = strstr(uri, "?shift_us=");
    long long shift = q && q < strchr(uri, '\n') ? atoll(q + 10) : 0;
    char path[160];
    snprintf(path, sizeof path, "%s/%lld.mp4", f->dir, id);
    if (shift) serve_shifted(f, id, shift);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    fstat(fd, &st);
    vg_mp4_source_t src = {vg_mp4_read_fd, &fd, (uint64_t)st.st_size};
    vg_mp4_init_t init;
    assert_int_equal(vg_mp4_read_init(&src, &init), 0);
    uint64_t at = off;
    vg_mp4_fragment_t fr;
    assert_int_equal(vg_mp4_next_fragment(&src, &init, &at, &fr), 0);
    assert_int_equal(fr.offset, off);
    assert_true(fr.keyframe);
    vg_mp4_fragment_clear(&fr);
    vg_mp4_init_clear(&init);
    close(fd);
  }
  char path[160], cmd[512], out[4096];
  snprintf(path, sizeof path, "%s/vod.m3u8", f->dir);
  FILE *fp = fopen(path, "w");
  fputs(text, fp);
  fclose(fp);
  snprintf(cmd, sizeof cmd,
           "ffmpeg -nostdin -v error -allowed_extensions ALL -i %s -map 0:v -vsync passthrough -f framemd5 - "
           "2>&1 | "
           "grep -c '^0,'",
           path);
  run(cmd, out, sizeof out);
  /* 1 s .. 4 s, 9 s .. 10.6 s (the last media segment stops after the
   * fragment holding 10.5 s): 115 frames, every one decoded. On one
   * timeline (shifted files), FFmpeg keeps the first fragment after each
   * discontinuity. */
  assert_int_equal(atoi(out), 115);
  snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -v error -allowed_extensions ALL -i %s -f null - 2>&1", path);
  run(cmd, out, sizeof out);
  assert_string_equal(out, "");
  vg_strbuf_free(&pl);

  /* Nothing in a gap. */
  vg_strbuf_init(&pl, 0);
  assert_int_equal(vg_playback_playlist(f->ix, "cam1", T0 + 5 * SEC, T0 + 8 * SEC, "/", "", 0, &pl),
                   VG_ENOTFOUND);
  vg_strbuf_free(&pl);
}

/* Reads the whole clip through vg_playback_clip_read in odd-sized pieces. */
static uint8_t *read_clip(vg_playback_clip_t *clip, size_t *len) {
  const vg_playback_clip_info_t *info = vg_playback_clip_info(clip);
  uint8_t *all = malloc(info->size);
  assert_non_null(all);
  uint64_t at = 0;
  while (at < info->size) {
    long n = vg_playback_clip_read(clip, at, all + at, 7777);
    assert_true(n > 0);
    at += (uint64_t)n;
  }
  assert_int_equal(vg_playback_clip_read(clip, at, all, 10), 0);
  *len = info->size;
  return all;
}

/* The video frames of the camsim clip at video index [from, to). */
static void check_samples(const vg_clip_t *clip, const vg_mp4_track_t *t, const uint8_t *file, int from) {
  int video = 0;
  uint32_t k = 0;
  for (size_t i = 0; i < clip->frame_count && k < t->sample_count; i++) {
    if (clip->frames[i].frame.track != 0) continue;
    if (video++ < from) continue;
    const vg_frame_t *fr = &clip->frames[i].frame;
    assert_int_equal(t->samples[k].size, fr->len);
    assert_memory_equal(file + t->samples[k].offset, fr->data, fr->len);
    assert_int_equal(t->samples[k].sync, (fr->flags & VG_FRAME_KEY) ? 1 : 0);
    k++;
  }
  assert_int_equal(k, t->sample_count);
}

static void test_clip(void **state) {
  fixture_t *f = *state;
  vg_playback_clip_t *clip = NULL;
  /* 1.5 s .. 3.3 s: from the keyframe at 1 s, across A and B. */
  assert_int_equal(vg_playback_clip_open(f->ix, "cam1", T0 + 1500000, T0 + 3300000, &clip), 0);
  const vg_playback_clip_info_t *info = vg_playback_clip_info(clip);
  assert_int_equal(info->start_us, T0 + SEC);
  assert_int_equal(info->cut_us, 0);
  assert_int_equal(info->files, 2);
  size_t len;
  uint8_t *all = read_clip(clip, &len);
  /* Boxes: ftyp, moov, mdat, in that order, tiling the file. */
  vg_mp4_box_t b;
  uint64_t at = 0;
  uint32_t order[3];
  for (int i = 0; i < 3; i++) {
    assert_int_equal(vg_mp4_box_header(all + at, len - at, len - at, &b), 0);
    order[i] = b.type;
    at += b.size;
  }
  assert_int_equal(at, len);
  assert_int_equal(order[0], FOURCC('f', 't', 'y', 'p'));
  assert_int_equal(order[1], FOURCC('m', 'o', 'o', 'v'));
  assert_int_equal(order[2], FOURCC('m', 'd', 'a', 't'));
  vg_mp4_init_t init;
  assert_int_equal(vg_mp4_parse_init(all, len, &init), 0);
  assert_false(init.fragmented);
  assert_int_equal(init.track_count, 2);
  const vg_mp4_track_t *v = &init.tracks[0], *a = &init.tracks[1];
  assert_int_equal(v->handler, FOURCC('v', 'i', 'd', 'e'));
  assert_int_equal(v->codec, VG_CODEC_H264);
  assert_int_equal(v->width, 320);
  assert_int_equal(a->codec, VG_CODEC_AAC);
  /* Video frames 25 (the keyframe at 1 s) to 82 (3.28 s < 3.3 s): 58. */
  assert_int_equal(v->sample_count, 58);
  check_samples(f->clip, v, all, 25);
  assert_int_equal(v->duration, 58 * 3600);
  assert_true(v->has_edit);
  assert_int_equal(v->edit_media_time, 0);
  /* Audio from 1 s to 3.3 s. */
  uint64_t audio_ticks = 0;
  for (uint32_t i = 0; i < a->sample_count; i++) {
    audio_ticks += a->samples[i].duration;
    assert_true(a->samples[i].offset + a->samples[i].size <= len);
  }
  assert_true(audio_ticks * 10 / a->timescale >= 21 && audio_ticks * 10 / a->timescale <= 24);
  vg_mp4_init_clear(&init);

  /* FFmpeg agrees: duration and clean decoding. */
  char path[160], cmd[512], out[4096];
  snprintf(path, sizeof path, "%s/clip.mp4", f->dir);
  FILE *fp = fopen(path, "wb");
  fwrite(all, 1, len, fp);
  fclose(fp);
  snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -v error -i %s -f null - 2>&1", path);
  run(cmd, out, sizeof out);
  assert_string_equal(out, "");
  snprintf(
      cmd, sizeof cmd,
      "ffprobe -v error -select_streams v -count_frames -show_entries stream=nb_read_frames,duration -of "
      "csv=p=0 %s",
      path);
  run(cmd, out, sizeof out);
  double dur = 0;
  int frames = 0;
  assert_int_equal(sscanf(out, "%lf,%d", &dur, &frames), 2);
  assert_int_equal(frames, 58);
  assert_true(dur > 2.31 && dur < 2.33);
  free(all);
  vg_playback_clip_free(&clip);
}

static void test_clip_across_gap_and_change(void **state) {
  fixture_t *f = *state;
  vg_playback_clip_t *clip = NULL;
  /* 3.5 s .. 15 s: B's last second, the gap, all of C, then D has other
   * parameters: the clip ends at D's start. */
  assert_int_equal(vg_playback_clip_open(f->ix, "cam1", T0 + 3500000, T0 + 15 * SEC, &clip), 0);
  const vg_playback_clip_info_t *info = vg_playback_clip_info(clip);
  assert_int_equal(info->start_us, T0 + 3 * SEC);
  assert_int_equal(info->cut_us, f->seg_start[3]);
  assert_non_null(info->cut_reason);
  assert_int_equal(info->end_us, T0 + 13 * SEC);
  size_t len;
  uint8_t *all = read_clip(clip, &len);
  vg_mp4_init_t init;
  assert_int_equal(vg_mp4_parse_init(all, len, &init), 0);
  const vg_mp4_track_t *v = &init.tracks[0];
  assert_int_equal(v->sample_count, 25 + 100);
  /* The gap (4 s .. 9 s) is bridged by the last frame before it: the
   * timeline keeps to the wall clock, 10 s in all. */
  assert_int_equal(v->samples[24].duration, (5 * SEC + 40000) * 90000 / SEC);
  assert_int_equal(v->duration, 10 * 90000);
  assert_true(v->samples[25].sync);
  vg_mp4_init_clear(&init);
  free(all);
  vg_playback_clip_free(&clip);

  /* A range starting in the gap begins at the next keyframe (C's start). */
  assert_int_equal(vg_playback_clip_open(f->ix, "cam1", T0 + 6 * SEC, T0 + 10 * SEC, &clip), 0);
  assert_int_equal(vg_playback_clip_info(clip)->start_us, T0 + 9 * SEC);
  vg_playback_clip_free(&clip);
  /* Nothing at all. */
  assert_int_equal(vg_playback_clip_open(f->ix, "cam1", T0 + 5 * SEC, T0 + 8 * SEC, &clip), VG_ENOTFOUND);
  assert_int_equal(vg_playback_clip_open(f->ix, "cam2", T0, T0 + 8 * SEC, &clip), VG_ENOTFOUND);
}

/* A file cut short after the clip was planned fails the read, never
 * returns other bytes. */
static void test_clip_file_changed(void **state) {
  fixture_t *f = *state;
  vg_playback_clip_t *clip = NULL;
  assert_int_equal(vg_playback_clip_open(f->ix, "cam1", T0 + 9 * SEC, T0 + 10 * SEC, &clip), 0);
  char path[160], cmd[400];
  snprintf(path, sizeof path, "%s/c.mp4", f->dir);
  snprintf(cmd, sizeof cmd, "cp %s %s.keep", path, path);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(truncate(path, 2000), 0);
  const vg_playback_clip_info_t *info = vg_playback_clip_info(clip);
  uint8_t *buf = malloc(info->size);
  uint64_t at = 0;
  long n = 0;
  while (at < info->size && (n = vg_playback_clip_read(clip, at, buf + at, 1 << 20)) > 0)
    at += (uint64_t)n;
  assert_int_equal(n, VG_EIO);
  free(buf);
  vg_playback_clip_free(&clip);
  snprintf(cmd, sizeof cmd, "mv %s.keep %s", path, path);
  assert_int_equal(system(cmd), 0);
}

/* The client's parameters of the playback routes (api/playback_api.h). */
static void test_api_parsers(void **state) {
  (void)state;
  int64_t us;
  assert_int_equal(vg_playback_api_parse_time("2026-11-21T15:04:05.5+01:00", &us), 0);
  assert_int_equal(us, 1795269845500000);
  assert_int_equal(vg_playback_api_parse_time("1763737445", &us), 0);
  assert_int_equal(us, 1763737445000000);
  assert_int_equal(vg_playback_api_parse_time("1763737445123", &us), 0);
  assert_int_equal(us, 1763737445123000);
  assert_int_equal(vg_playback_api_parse_time("2026-13-01T00:00:00Z", &us), VG_EINVAL);
  assert_int_equal(vg_playback_api_parse_time("2026-11-21T15:04:05+01", &us), VG_EINVAL);
  uint64_t first, last;
  assert_int_equal(vg_playback_api_parse_range("bytes=0-499", 1000, &first, &last), 1);
  assert_true(first == 0 && last == 499);
  assert_int_equal(vg_playback_api_parse_range("bytes=-300", 1000, &first, &last), 1);
  assert_true(first == 700 && last == 999);
  assert_int_equal(vg_playback_api_parse_range("bytes=900-5000", 1000, &first, &last), 1);
  assert_true(first == 900 && last == 999);
  assert_int_equal(vg_playback_api_parse_range("bytes=1000-", 1000, &first, &last), -1);
  assert_int_equal(vg_playback_api_parse_range("bytes=0-", 0, &first, &last), -1);
  assert_int_equal(vg_playback_api_parse_range("bytes=0-1,4-5", 1000, &first, &last), 0);
  assert_int_equal(vg_playback_api_parse_range("items=0-1", 1000, &first, &last), 0);
  assert_int_equal(vg_playback_api_parse_range(NULL, 1000, &first, &last), 0);
}

int main(void) {
  const struct CMUnitTest plain[] = {
      cmocka_unit_test(test_merge),
      cmocka_unit_test(test_api_parsers),
      cmocka_unit_test(test_file_path),
  };
  const struct CMUnitTest recorded[] = {
      cmocka_unit_test(test_spans),
      cmocka_unit_test(test_playlist),
      cmocka_unit_test(test_clip),
      cmocka_unit_test(test_clip_across_gap_and_change),
      cmocka_unit_test(test_clip_file_changed),
  };
  int failed = cmocka_run_group_tests_name("plain", plain, NULL, NULL);
  failed += cmocka_run_group_tests_name("recorded", recorded, setup_recordings, teardown_recordings);
  return failed;
}
