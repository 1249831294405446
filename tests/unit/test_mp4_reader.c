/* Unit tests for the MP4 reader on real files: fragmented MP4 written by
 * FFmpeg (H.264 + AAC) and by vigil's own muxer (camsim clips), a
 * progressive MP4, truncated copies of them, and hand-made malformed boxes
 * that must be refused without reading past the input. */
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
#include <sys/uio.h>
#include <unistd.h>

#include "base/error.h"
#include "media/fmp4.h"
#include "media/mp4_reader.h"
#include "sim/clip.h"

#define FOURCC VG_MP4_FOURCC

static char tmpdir[64];

static int setup(void **state) {
  strcpy(tmpdir, "/tmp/vg_mp4r_XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}
static int teardown(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

static void tmp_path(char *out, size_t size, const char *name) { snprintf(out, size, "%s/%s", tmpdir, name); }

/* 3 s of 25 fps H.264 (GOP 25) with AAC, by FFmpeg. */
static void ffmpeg_make(const char *path, const char *movflags) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i "
           "sine=frequency=440:sample_rate=16000 -t 3 -c:v libx264 -g 25 -bf 0 -pix_fmt yuv420p -c:a aac "
           "%s %s",
           movflags, path);
  assert_int_equal(system(cmd), 0);
}

typedef struct {
  int fd;
  uint64_t size;
  vg_mp4_source_t src;
} file_t;

static void file_open(file_t *f, const char *path) {
  f->fd = open(path, O_RDONLY);
  assert_true(f->fd >= 0);
  struct stat st;
  assert_int_equal(fstat(f->fd, &st), 0);
  f->size = (uint64_t)st.st_size;
  f->src = (vg_mp4_source_t){vg_mp4_read_fd, &f->fd, f->size};
}

static void file_close(file_t *f) { close(f->fd); }

static void truncate_copy(const char *from, const char *to, uint64_t size) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "cp %s %s && truncate -s %llu %s", from, to, (unsigned long long)size, to);
  assert_int_equal(system(cmd), 0);
}

/* Walks every fragment; checks they tile the file and the video samples'
 * timing. Returns the fragment count, and the walker's final status. */
typedef struct {
  int fragments;
  uint32_t video_samples, audio_samples;
  uint64_t video_duration;
  int keyframe_fragments;
  uint64_t last_offset; /* where the walk stopped */
  int status;
} walk_t;

static walk_t walk(const file_t *f, const vg_mp4_init_t *init) {
  walk_t w = {0};
  uint64_t off = init->moov_end;
  int v = vg_mp4_video_track(init);
  uint64_t expect_dts = 0;
  vg_mp4_fragment_t fr;
  for (;;) {
    uint64_t before = off;
    int err = vg_mp4_next_fragment(&f->src, init, &off, &fr);
    if (err) {
      w.status = err;
      w.last_offset = off;
      break;
    }
    assert_true(fr.offset >= before);
    assert_int_equal(fr.offset + fr.size, off);
    assert_true(fr.data_end <= off);
    assert_true(fr.main_traf >= 0);
    w.fragments++;
    w.keyframe_fragments += fr.keyframe;
    for (int t = 0; t < fr.traf_count; t++) {
      const vg_mp4_traf_t *tr = &fr.trafs[t];
      if (tr->track == v) {
        assert_int_equal(tr->base_decode_time, expect_dts);
        for (uint32_t i = 0; i < tr->sample_count; i++) {
          assert_int_equal(tr->samples[i].decode_time, expect_dts);
          expect_dts += tr->samples[i].duration;
          /* Samples lie after the moof, inside the fragment. */
          assert_true(tr->samples[i].offset >= fr.offset + fr.moof_size);
        }
        w.video_samples += tr->sample_count;
        w.video_duration = expect_dts;
      } else {
        w.audio_samples += tr->sample_count;
      }
    }
    vg_mp4_fragment_clear(&fr);
  }
  return w;
}

static void test_ffmpeg_fragmented(void **state) {
  char path[128], cut[128];
  tmp_path(path, sizeof path, "frag.mp4");
  ffmpeg_make(path, "-movflags +frag_keyframe+empty_moov+default_base_moof");
  file_t f;
  file_open(&f, path);
  vg_mp4_init_t init;
  assert_int_equal(vg_mp4_read_init(&f.src, &init), 0);
  assert_int_equal(init.track_count, 2);
  assert_true(init.fragmented);
  int v = vg_mp4_video_track(&init);
  assert_true(v >= 0);
  const vg_mp4_track_t *vt = &init.tracks[v], *at = &init.tracks[1 - v];
  assert_int_equal(vt->codec, VG_CODEC_H264);
  assert_int_equal(vt->fourcc, FOURCC('a', 'v', 'c', '1'));
  assert_int_equal(vt->width, 320);
  assert_int_equal(vt->height, 240);
  assert_true(vt->config_size > 8);
  assert_int_equal(vt->config[0], 1); /* avcC configurationVersion */
  assert_true(vt->sample_entry_size > 86);
  assert_int_equal(FOURCC(vt->sample_entry[4], vt->sample_entry[5], vt->sample_entry[6], vt->sample_entry[7]),
                   FOURCC('a', 'v', 'c', '1'));
  assert_int_equal(at->codec, VG_CODEC_AAC);
  assert_int_equal(at->sample_rate, 16000);
  /* FFmpeg writes the ISO template's channelcount 2 in MP4 mode; the real
   * count is in the AudioSpecificConfig (AAC-LC, mono). */
  assert_true(at->channels == 1 || at->channels == 2);
  assert_true(at->config_size >= 2); /* FFmpeg adds a 3-byte sync extension */
  assert_int_equal(at->config[0] >> 3, 2);
  assert_int_equal((at->config[1] >> 3) & 15, 1);
  assert_int_equal(at->timescale, 16000);

  walk_t w = walk(&f, &init);
  assert_int_equal(w.status, VG_ENODATA);
  assert_int_equal(w.last_offset, f.size);
  assert_int_equal(w.video_samples, 75);
  assert_true(w.audio_samples >= 45);
  assert_int_equal(w.fragments, 3);
  assert_int_equal(w.keyframe_fragments, 3);
  /* 75 frames of 1/25 s; FFmpeg lengthens the first one by the AAC
   * priming delay (820/12800 s here). */
  assert_true(w.video_duration >= 3 * (uint64_t)vt->timescale);
  assert_true(w.video_duration < 3 * (uint64_t)vt->timescale + vt->timescale / 10);

  /* Cut the file inside its last fragment: the walk stops there with the
   * fragment's offset, after the whole ones. */
  uint64_t off = init.moov_end, last = 0;
  vg_mp4_fragment_t fr;
  while (vg_mp4_next_fragment(&f.src, &init, &off, &fr) == 0) {
    last = fr.offset;
    vg_mp4_fragment_clear(&fr);
  }
  tmp_path(cut, sizeof cut, "cut.mp4");
  uint64_t cut_sizes[] = {f.size - 1, last + 4, last + 100, (last + f.size) / 2};
  for (size_t i = 0; i < sizeof(cut_sizes) / sizeof(cut_sizes[0]); i++) {
    truncate_copy(path, cut, cut_sizes[i]);
    file_t c;
    file_open(&c, cut);
    vg_mp4_init_t ci;
    assert_int_equal(vg_mp4_read_init(&c.src, &ci), 0);
    walk_t cw = walk(&c, &ci);
    assert_int_equal(cw.status, VG_EINCOMPLETE);
    assert_int_equal(cw.last_offset, last);
    assert_int_equal(cw.fragments, 2);
    vg_mp4_init_clear(&ci);
    file_close(&c);
  }
  /* Cut inside the moov: no init. */
  truncate_copy(path, cut, init.moov_end - 10);
  file_t c;
  file_open(&c, cut);
  vg_mp4_init_t ci;
  assert_int_equal(vg_mp4_read_init(&c.src, &ci), VG_EINCOMPLETE);
  file_close(&c);

  vg_mp4_init_clear(&init);
  file_close(&f);
}

/* The parsers over a caller's bytes: the init from the file's first bytes,
 * and a moof given alone. */
static void test_bytes_api(void **state) {
  char path[128];
  tmp_path(path, sizeof path, "bytes.mp4");
  ffmpeg_make(path, "-movflags +frag_keyframe+empty_moov+default_base_moof");
  file_t f;
  file_open(&f, path);
  uint8_t *all = malloc(f.size);
  assert_non_null(all);
  assert_int_equal(vg_mp4_read_fd(&f.fd, 0, all, f.size), (long)f.size);
  vg_mp4_init_t init;
  assert_int_equal(vg_mp4_parse_init(all, f.size, &init), 0);
  uint64_t moov_end = init.moov_end;
  /* Every shorter prefix of the init segment is incomplete. */
  vg_mp4_init_t part;
  for (uint64_t n = 0; n < moov_end; n += 7)
    assert_int_equal(vg_mp4_parse_init(all, n, &part), VG_EINCOMPLETE);
  vg_mp4_box_t box;
  assert_int_equal(vg_mp4_box_header(all + moov_end, f.size - moov_end, f.size - moov_end, &box), 0);
  assert_int_equal(box.type, FOURCC('m', 'o', 'o', 'f'));
  vg_mp4_fragment_t fr;
  assert_int_equal(vg_mp4_parse_moof(&init, all + moov_end, box.size, moov_end, &fr), 0);
  assert_int_equal(fr.sequence, 1);
  assert_true(fr.keyframe);
  assert_int_equal(fr.timescale, init.tracks[vg_mp4_video_track(&init)].timescale);
  /* The tfdt position points at the base decode time as written. */
  for (int t = 0; t < fr.traf_count; t++) {
    assert_int_equal(fr.trafs[t].tfdt_size, 8);
    const uint8_t *q = all + fr.trafs[t].tfdt_offset;
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
      v = v << 8 | q[k];
    assert_int_equal(v, fr.trafs[t].base_decode_time);
  }
  /* The first video sample is an H.264 access unit in length-prefixed form. */
  const vg_mp4_sample_t *s = &fr.trafs[fr.main_traf].samples[0];
  const uint8_t *p = all + s->offset;
  uint32_t nal_len = (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
  assert_true(nal_len + 4 <= s->size);
  vg_mp4_fragment_clear(&fr);
  assert_int_equal(vg_mp4_parse_moof(&init, all + moov_end, box.size - 1, moov_end, &fr), VG_EINCOMPLETE);
  vg_mp4_init_clear(&init);
  free(all);
  file_close(&f);
}

static void test_progressive(void **state) {
  char path[128];
  tmp_path(path, sizeof path, "prog.mp4");
  ffmpeg_make(path, "-movflags +faststart");
  file_t f;
  file_open(&f, path);
  vg_mp4_init_t init;
  assert_int_equal(vg_mp4_read_init(&f.src, &init), 0);
  assert_false(init.fragmented);
  int v = vg_mp4_video_track(&init);
  const vg_mp4_track_t *vt = &init.tracks[v];
  assert_int_equal(vt->sample_count, 75);
  int syncs = 0;
  uint8_t head[4];
  for (uint32_t i = 0; i < vt->sample_count; i++) {
    syncs += vt->samples[i].sync;
    assert_true(vt->samples[i].offset + vt->samples[i].size <= f.size);
    assert_true(vt->samples[i].offset >= init.moov_end);
    assert_int_equal(vg_mp4_read_fd(&f.fd, vt->samples[i].offset, head, 4), 4);
    uint32_t nal_len = (uint32_t)head[0] << 24 | head[1] << 16 | head[2] << 8 | head[3];
    assert_true(nal_len + 4 <= vt->samples[i].size);
    if (i)
      assert_int_equal(vt->samples[i].decode_time,
                       vt->samples[i - 1].decode_time + vt->samples[i - 1].duration);
  }
  assert_int_equal(syncs, 3);
  assert_true(vt->samples[0].sync && vt->samples[25].sync && vt->samples[50].sync);
  assert_true(init.tracks[1 - v].sample_count >= 45);
  /* No fragments in a progressive file: the walk ends at once. */
  uint64_t off = init.moov_end;
  vg_mp4_fragment_t fr;
  assert_int_equal(vg_mp4_next_fragment(&f.src, &init, &off, &fr), VG_ENODATA);
  vg_mp4_init_clear(&init);
  file_close(&f);
}

/* vigil's own muxer: every sample the reader finds is the frame that was
 * muxed, byte for byte, at the offset the reader gives. */
static void test_own_muxer(void **state) {
  vg_clip_params_t p;
  vg_clip_params_defaults(&p);
  p.width = 320;
  p.height = 240;
  p.fps = 25;
  p.gop = 10;
  p.duration_s = 2;
  p.bitrate_kbps = 300;
  p.audio = VG_CODEC_AAC;
  vg_clip_t *clip = NULL;
  assert_int_equal(vg_clip_encode(&p, &clip), 0);
  vg_fmp4_t *m = NULL;
  assert_int_equal(vg_fmp4_create(clip->tracks, clip->track_count, &m), 0);
  char path[128];
  tmp_path(path, sizeof path, "own.mp4");
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  vg_buf_t *ib = NULL;
  assert_true(vg_fmp4_init_segment(m, &ib) > 0);
  assert_int_equal(write(fd, ib->data, ib->len), (ssize_t)ib->len);
  vg_buf_unref(&ib);
  /* Fragments of 7 video frames: some start mid-GOP. */
  int video_in_fragment = 0;
  for (size_t i = 0; i <= clip->frame_count; i++) {
    int flush = i == clip->frame_count || (clip->frames[i].frame.track == 0 && video_in_fragment == 7);
    if (flush) {
      vg_fmp4_fragment_t fr;
      assert_int_equal(vg_fmp4_flush_fragment(m, &fr), 0);
      for (int k = 0; k < fr.iov_count; k++)
        assert_int_equal(write(fd, fr.iov[k].iov_base, fr.iov[k].iov_len), (ssize_t)fr.iov[k].iov_len);
      vg_fmp4_fragment_release(&fr);
      video_in_fragment = 0;
    }
    if (i == clip->frame_count) break;
    assert_int_equal(vg_fmp4_add_frame(m, &clip->frames[i].frame), 0);
    if (clip->frames[i].frame.track == 0) video_in_fragment++;
  }
  vg_fmp4_free(&m);
  struct stat st;
  assert_int_equal(fstat(fd, &st), 0);
  vg_mp4_source_t src = {vg_mp4_read_fd, &fd, (uint64_t)st.st_size};
  vg_mp4_init_t init;
  assert_int_equal(vg_mp4_read_init(&src, &init), 0);
  assert_int_equal(init.track_count, 2);
  assert_int_equal(init.tracks[0].codec, VG_CODEC_H264);
  assert_int_equal(init.tracks[1].codec, VG_CODEC_AAC);
  assert_int_equal(init.tracks[0].timescale, 90000);
  /* Walk and compare each sample with the clip's frames of its track, in order. */
  size_t next[2] = {0, 0};
  uint64_t off = init.moov_end;
  vg_mp4_fragment_t fr;
  int fragments = 0, keyframe_fragments = 0, err;
  uint8_t *tmp = malloc(1 << 20);
  while ((err = vg_mp4_next_fragment(&src, &init, &off, &fr)) == 0) {
    fragments++;
    keyframe_fragments += fr.keyframe;
    for (int t = 0; t < fr.traf_count; t++) {
      int track = fr.trafs[t].track;
      assert_true(track == 0 || track == 1);
      for (uint32_t s = 0; s < fr.trafs[t].sample_count; s++) {
        const vg_mp4_sample_t *sm = &fr.trafs[t].samples[s];
        while (next[track] < clip->frame_count && clip->frames[next[track]].frame.track != track)
          next[track]++;
        assert_true(next[track] < clip->frame_count);
        const vg_frame_t *cf = &clip->frames[next[track]].frame;
        next[track]++;
        assert_int_equal(sm->size, cf->len);
        assert_int_equal(sm->sync, (cf->flags & VG_FRAME_KEY) ? 1 : 0);
        assert_int_equal(vg_mp4_read_fd(&fd, sm->offset, tmp, sm->size), (long)sm->size);
        assert_memory_equal(tmp, cf->data, sm->size);
      }
    }
    vg_mp4_fragment_clear(&fr);
  }
  assert_int_equal(err, VG_ENODATA);
  assert_int_equal(fragments, (clip->video_frames + 6) / 7);
  assert_int_equal(keyframe_fragments, (clip->video_frames + 69) / 70); /* lcm(7, 10) = 70 */
  free(tmp);
  vg_mp4_init_clear(&init);
  close(fd);
  vg_clip_free(&clip);
}

/* ---- malformed input ---- */

static size_t put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
  return 4;
}

static size_t box(uint8_t *p, uint32_t size, const char *type) {
  put32(p, size);
  memcpy(p + 4, type, 4);
  return 8;
}

/* moof > traf > tfhd (track 1, default-base-is-moof) + trun with count
 * samples declared and entries (duration 512, size 40) present. */
static size_t make_moof(uint8_t *b, uint32_t count, int entries) {
  size_t trun = 8 + 8 + entries * 8, traf = 8 + 16 + trun, moof = 8 + traf;
  size_t n = box(b, (uint32_t)moof, "moof");
  n += box(b + n, (uint32_t)traf, "traf");
  n += box(b + n, 16, "tfhd");
  n += put32(b + n, 0x20000);
  n += put32(b + n, 1);
  n += box(b + n, (uint32_t)trun, "trun");
  n += put32(b + n, 0x000300);
  n += put32(b + n, count);
  for (int i = 0; i < entries; i++) {
    n += put32(b + n, 512);
    n += put32(b + n, 40);
  }
  assert_int_equal(n, moof);
  return n;
}

static void test_malformed(void **state) {
  uint8_t b[256];
  vg_mp4_box_t bx;
  vg_mp4_init_t init;
  memset(&init, 0, sizeof(init));
  /* Size smaller than the header. */
  box(b, 4, "moov");
  assert_int_equal(vg_mp4_box_header(b, 8, 100, &bx), VG_EPROTO);
  /* 64-bit largesize: header 16 bytes, size beyond the input. */
  box(b, 1, "moov");
  put32(b + 8, 1);
  put32(b + 12, 0);
  assert_int_equal(vg_mp4_box_header(b, 12, 100, &bx), VG_EINCOMPLETE);
  assert_int_equal(vg_mp4_box_header(b, 16, 100, &bx), 0);
  assert_int_equal(bx.header, 16);
  assert_int_equal(bx.size, 1ull << 32);
  assert_int_equal(vg_mp4_parse_init(b, 16, &init), VG_EINCOMPLETE);
  /* Size 0 runs to the end. */
  box(b, 0, "free");
  assert_int_equal(vg_mp4_box_header(b, 8, 40, &bx), 0);
  assert_int_equal(bx.size, 40);
  assert_true(bx.to_end);
  /* A child larger than its parent. */
  size_t n = box(b, 24, "moov");
  n += box(b + n, 100, "trak");
  memset(b + n, 0, 8);
  assert_int_equal(vg_mp4_parse_init(b, 24, &init), VG_EPROTO);
  /* A moof before any moov. */
  box(b, 8, "moof");
  assert_int_equal(vg_mp4_parse_init(b, 8, &init), VG_ENOTFOUND);
  /* A trun claiming more samples than its bytes hold. */
  vg_mp4_fragment_t fr;
  n = make_moof(b, 1000000, 1);
  assert_int_equal(vg_mp4_parse_moof(&init, b, n, 0, &fr), VG_EPROTO);
  /* The same trun with one sample is fine; default-base-is-moof puts the
   * data at the moof. */
  n = make_moof(b, 1, 1);
  assert_int_equal(vg_mp4_parse_moof(&init, b, n, 1000, &fr), 0);
  assert_int_equal(fr.sample_count, 1);
  assert_int_equal(fr.samples[0].size, 40);
  assert_int_equal(fr.samples[0].duration, 512);
  assert_int_equal(fr.samples[0].offset, 1000);
  assert_int_equal(fr.trafs[0].track, -1);
  assert_int_equal(fr.moof_size, n);
  vg_mp4_fragment_clear(&fr);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ffmpeg_fragmented), cmocka_unit_test(test_bytes_api),
      cmocka_unit_test(test_progressive),       cmocka_unit_test(test_own_muxer),
      cmocka_unit_test(test_malformed),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
