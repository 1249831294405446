/* Unit tests for the fragmented-MP4 muxer: real H.264/H.265/AAC/G.711 from
 * camsim's encoder are muxed into a file with writev(), then FFmpeg's
 * ffprobe and decoder (real peers) read it back; the box structure is also
 * checked byte by byte. */
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
#include "proto/rtcp.h"
#include "sim/clip.h"

/* libx265 leaks a few small allocations per encoder (x265 3.5); see
 * test_sim_clip.c. Unused without sanitizers. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libx265.so\n"; }

static vg_clip_t *encode(vg_codec_t codec, int gop, double dur, vg_codec_t audio) {
  vg_clip_params_t p;
  vg_clip_params_defaults(&p);
  p.codec = codec;
  p.width = 320;
  p.height = 240;
  p.fps = 25;
  p.gop = gop;
  p.duration_s = dur;
  p.bitrate_kbps = 300;
  p.audio = audio;
  vg_clip_t *clip = NULL;
  assert_int_equal(vg_clip_encode(&p, &clip), 0);
  return clip;
}

static char tmpdir[64];

static int setup(void **state) {
  strcpy(tmpdir, "/tmp/vg_fmp4_XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}
static int teardown(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

static void write_all(int fd, const struct iovec *iov, int count) {
  /* writev takes at most IOV_MAX entries per call; go in chunks. */
  for (int i = 0; i < count; i += 512) {
    int n = count - i < 512 ? count - i : 512;
    size_t want = 0;
    for (int k = 0; k < n; k++)
      want += iov[i + k].iov_len;
    assert_int_equal(writev(fd, iov + i, n), (ssize_t)want);
  }
}

/* Muxes a whole clip into path: a fragment starts at every video keyframe,
 * or every `every` video frames when every > 0. Returns the fragment count. */
static int mux_clip(const vg_clip_t *clip, const char *path, int every) {
  vg_fmp4_t *m = NULL;
  assert_int_equal(vg_fmp4_create(clip->tracks, clip->track_count, &m), 0);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  vg_buf_t *init = NULL;
  int n = vg_fmp4_init_segment(m, &init);
  assert_true(n > 0);
  assert_int_equal(write(fd, init->data, init->len), (ssize_t)init->len);
  vg_buf_unref(&init);
  int fragments = 0, video = 0;
  for (size_t i = 0; i < clip->frame_count; i++) {
    const vg_frame_t *f = &clip->frames[i].frame;
    if (f->track == 0) {
      int boundary = every > 0 ? video % every == 0 : (f->flags & VG_FRAME_KEY) != 0;
      if (boundary && vg_fmp4_queued(m) > 0) {
        vg_fmp4_fragment_t frag;
        assert_int_equal(vg_fmp4_flush_fragment(m, &frag), 0);
        write_all(fd, frag.iov, frag.iov_count);
        vg_fmp4_fragment_release(&frag);
        fragments++;
      }
      video++;
    }
    assert_int_equal(vg_fmp4_add_frame(m, f), 0);
  }
  vg_fmp4_fragment_t frag;
  assert_int_equal(vg_fmp4_flush_fragment(m, &frag), 0);
  write_all(fd, frag.iov, frag.iov_count);
  vg_fmp4_fragment_release(&frag);
  fragments++;
  assert_int_equal(vg_fmp4_flush_fragment(m, &frag), VG_ENODATA);
  close(fd);
  vg_fmp4_free(&m);
  return fragments;
}

/* ---- byte-level structure ------------------------------------------------ */

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) << 32 | rd32(p + 4); }

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *data = malloc(*len);
  assert_int_equal(fread(data, 1, *len, f), *len);
  fclose(f);
  return data;
}

/* Finds the child box of a type in [p, end); NULL when absent. Asserts that
 * the children's sizes tile the parent exactly. */
static const uint8_t *child(const uint8_t *p, const uint8_t *end, const char *type) {
  const uint8_t *found = NULL;
  while (p < end) {
    assert_true(end - p >= 8);
    uint32_t size = rd32(p);
    assert_true(size >= 8 && size <= (size_t)(end - p));
    if (!found && memcmp(p + 4, type, 4) == 0) found = p;
    p += size;
  }
  assert_ptr_equal(p, end);
  return found;
}

typedef struct {
  int fragments;
  int samples[VG_MAX_TRACKS];
  int nonkey_starts; /* video fragments whose first sample is not a sync sample */
} structure_t;

/* Walks a muxed file: ftyp, moov (with a trex per track), then moof + mdat
 * pairs whose sequence numbers count up from 1, whose trun data offsets and
 * sizes fill the mdat exactly, and whose tfdt continues where the previous
 * fragment of the track ended. */
static structure_t check_structure(const char *path, int tracks) {
  size_t len;
  uint8_t *data = read_file(path, &len);
  const uint8_t *end = data + len;
  structure_t st = {0};
  child(data, end, "ftyp"); /* sizes tile the file */
  assert_memory_equal(data + 4, "ftyp", 4);
  const uint8_t *moov = data + rd32(data);
  assert_memory_equal(moov + 4, "moov", 4);
  const uint8_t *mvex = child(moov + 8, moov + rd32(moov), "mvex");
  assert_non_null(mvex);
  assert_int_equal(rd32(mvex), 8 + tracks * 32);
  uint64_t next_time[VG_MAX_TRACKS] = {0};
  int started[VG_MAX_TRACKS] = {0};
  const uint8_t *p = moov + rd32(moov);
  while (p < end) {
    const uint8_t *moof = p, *moof_end = p + rd32(p);
    assert_memory_equal(moof + 4, "moof", 4);
    const uint8_t *mdat = moof_end;
    assert_memory_equal(mdat + 4, "mdat", 4);
    uint32_t mdat_size = rd32(mdat);
    const uint8_t *mfhd = child(moof + 8, moof_end, "mfhd");
    assert_int_equal(rd32(mfhd + 12), (uint32_t)st.fragments + 1);
    uint64_t payload = 0;
    for (const uint8_t *traf = moof + 8; traf < moof_end; traf += rd32(traf)) {
      if (memcmp(traf + 4, "traf", 4) != 0) continue;
      const uint8_t *traf_end = traf + rd32(traf);
      const uint8_t *tfhd = child(traf + 8, traf_end, "tfhd");
      const uint8_t *tfdt = child(traf + 8, traf_end, "tfdt");
      const uint8_t *trun = child(traf + 8, traf_end, "trun");
      assert_true(tfhd && tfdt && trun);
      assert_int_equal(rd32(tfhd + 8) & 0xffffff, 0x020000); /* default-base-is-moof */
      int track = (int)rd32(tfhd + 12) - 1;
      assert_true(track >= 0 && track < tracks);
      assert_int_equal(tfdt[8], 1); /* 64-bit decode time */
      uint64_t time = rd64(tfdt + 12);
      if (started[track]) assert_int_equal(time, next_time[track]);
      started[track] = 1;
      uint32_t count = rd32(trun + 12);
      uint32_t offset = rd32(trun + 16);
      assert_int_equal(offset, rd32(moof) + 8 + payload); /* tracks follow each other in mdat */
      assert_int_equal(rd32(trun), 20 + 12 * count);
      for (uint32_t i = 0; i < count; i++) {
        const uint8_t *s = trun + 20 + 12 * i;
        next_time[track] = time += rd32(s);
        payload += rd32(s + 4);
        if (track == 0 && i == 0 && rd32(s + 8) != 0x02000000) st.nonkey_starts++;
      }
      st.samples[track] += (int)count;
    }
    assert_int_equal(mdat_size, 8 + payload);
    p = mdat + mdat_size;
    assert_true(p <= end);
    st.fragments++;
  }
  free(data);
  return st;
}

/* ---- FFmpeg as the peer -------------------------------------------------- */

typedef struct {
  char codec[32], tag[16];
  int width, height, frames;
  double duration;
} probe_stream_t;

/* Runs ffprobe on the file and reads back stream `index`. */
static probe_stream_t probe(const char *path, int index) {
  char cmd[512], line[256];
  snprintf(cmd, sizeof cmd,
           "ffprobe -v error -count_frames -select_streams %d -show_entries "
           "stream=codec_name,codec_tag_string,width,height,nb_read_frames,duration -of default=nw=1 %s",
           index, path);
  FILE *f = popen(cmd, "r");
  assert_non_null(f);
  probe_stream_t s = {0};
  while (fgets(line, sizeof line, f)) {
    sscanf(line, "codec_name=%31s", s.codec);
    sscanf(line, "codec_tag_string=%15s", s.tag);
    sscanf(line, "width=%d", &s.width);
    sscanf(line, "height=%d", &s.height);
    sscanf(line, "nb_read_frames=%d", &s.frames);
    sscanf(line, "duration=%lf", &s.duration);
  }
  assert_int_equal(pclose(f), 0);
  return s;
}

/* The whole file decodes with no error message at all. */
static void assert_decodes(const char *path) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -v error -i %s -f null - 2>&1", path);
  FILE *f = popen(cmd, "r");
  assert_non_null(f);
  char out[512] = {0};
  size_t n = fread(out, 1, sizeof out - 1, f);
  int rc = pclose(f);
  if (n > 0) fprintf(stderr, "ffmpeg said: %s\n", out);
  assert_int_equal(n, 0);
  assert_int_equal(rc, 0);
}

static void check_video(const char *path, const char *codec, const char *tag, int frames) {
  probe_stream_t v = probe(path, 0);
  assert_string_equal(v.codec, codec);
  assert_string_equal(v.tag, tag);
  assert_int_equal(v.width, 320);
  assert_int_equal(v.height, 240);
  assert_int_equal(v.frames, frames);
  assert_true(v.duration > frames / 25.0 - 0.001 && v.duration < frames / 25.0 + 0.001);
  assert_decodes(path);
}

static void test_h264_keyframe_fragments(void **state) {
  vg_clip_t *clip = encode(VG_CODEC_H264, 25, 2.0, VG_CODEC_NONE);
  char path[128];
  snprintf(path, sizeof path, "%s/h264.mp4", tmpdir);
  assert_int_equal(mux_clip(clip, path, 0), 2);
  structure_t st = check_structure(path, 1);
  assert_int_equal(st.fragments, 2);
  assert_int_equal(st.samples[0], 50);
  assert_int_equal(st.nonkey_starts, 0);
  check_video(path, "h264", "avc1", 50);
  vg_clip_free(&clip);
}

/* Keyframes alone in their fragments (as intelligent recording writes them
 * while idle): vg_fmp4_set_end makes each last until the next keyframe
 * instead of one frame time, and holds for one flush only. */
static void test_set_end_keyframes(void **state) {
  vg_clip_t *clip = encode(VG_CODEC_H264, 25, 3.0, VG_CODEC_NONE);
  vg_fmp4_t *m = NULL;
  assert_int_equal(vg_fmp4_create(clip->tracks, clip->track_count, &m), 0);
  assert_int_equal(vg_fmp4_set_end(m, 5, 0), VG_EINVAL);
  const vg_frame_t *keys[3];
  int nkeys = 0;
  for (size_t i = 0; i < clip->frame_count && nkeys < 3; i++)
    if (clip->frames[i].frame.track == 0 && (clip->frames[i].frame.flags & VG_FRAME_KEY))
      keys[nkeys++] = &clip->frames[i].frame;
  assert_int_equal(nkeys, 3);
  uint32_t durations[3];
  for (int k = 0; k < 3; k++) {
    assert_int_equal(vg_fmp4_add_frame(m, keys[k]), 0);
    /* The last one gets no end: one frame time (90000 / 25). */
    if (k < 2) assert_int_equal(vg_fmp4_set_end(m, 0, keys[k + 1]->pts), 0);
    vg_fmp4_fragment_t frag;
    assert_int_equal(vg_fmp4_flush_fragment(m, &frag), 0);
    const uint8_t *moof = frag.header->data;
    const uint8_t *traf = child(moof + 8, moof + rd32(moof), "traf");
    assert_non_null(traf);
    const uint8_t *trun = child(traf + 8, traf + rd32(traf), "trun");
    assert_non_null(trun);
    assert_int_equal(rd32(trun + 12), 1);
    durations[k] = rd32(trun + 20);
    assert_int_equal(frag.duration, durations[k]);
    vg_fmp4_fragment_release(&frag);
  }
  assert_int_equal(durations[0], (uint32_t)(keys[1]->pts - keys[0]->pts));
  assert_int_equal(durations[0], 90000);
  assert_int_equal(durations[1], 90000);
  assert_int_equal(durations[2], 3600);
  vg_fmp4_free(&m);
  vg_clip_free(&clip);
}

static void test_h265(void **state) {
  vg_clip_t *clip = encode(VG_CODEC_H265, 25, 2.0, VG_CODEC_NONE);
  char path[128];
  snprintf(path, sizeof path, "%s/h265.mp4", tmpdir);
  assert_int_equal(mux_clip(clip, path, 0), 2);
  structure_t st = check_structure(path, 1);
  assert_int_equal(st.samples[0], 50);
  check_video(path, "hevc", "hvc1", 50);
  vg_clip_free(&clip);
}

/* Fragments every 10 frames with a GOP of 25: most fragments start mid-GOP. */
static void test_h264_mid_gop_fragments(void **state) {
  vg_clip_t *clip = encode(VG_CODEC_H264, 25, 2.0, VG_CODEC_NONE);
  char path[128];
  snprintf(path, sizeof path, "%s/midgop.mp4", tmpdir);
  assert_int_equal(mux_clip(clip, path, 10), 5);
  structure_t st = check_structure(path, 1);
  assert_int_equal(st.fragments, 5);
  assert_int_equal(st.nonkey_starts, 4); /* at frames 10, 20, 30 and 40; keyframes are 0 and 25 */
  check_video(path, "h264", "avc1", 50);
  vg_clip_free(&clip);
}

static void test_h264_aac(void **state) {
  vg_clip_t *clip = encode(VG_CODEC_H264, 25, 2.0, VG_CODEC_AAC);
  assert_int_equal(clip->track_count, 2);
  char path[128];
  snprintf(path, sizeof path, "%s/aac.mp4", tmpdir);
  mux_clip(clip, path, 0);
  structure_t st = check_structure(path, 2);
  int audio_frames = 0;
  for (size_t i = 0; i < clip->frame_count; i++)
    audio_frames += clip->frames[i].frame.track == 1;
  assert_int_equal(st.samples[1], audio_frames);
  check_video(path, "h264", "avc1", 50);
  probe_stream_t a = probe(path, 1);
  assert_string_equal(a.codec, "aac");
  assert_string_equal(a.tag, "mp4a");
  assert_int_equal(a.frames, audio_frames);
  assert_true(a.duration > 1.9 && a.duration < 2.2);
  vg_clip_free(&clip);
}

/* G.711 mu-law in a QuickTime-style 'ulaw' sample entry: FFmpeg reads it. */
static void test_h264_pcmu(void **state) {
  vg_clip_t *clip = encode(VG_CODEC_H264, 25, 2.0, VG_CODEC_PCMU);
  assert_int_equal(clip->track_count, 2);
  char path[128];
  snprintf(path, sizeof path, "%s/pcmu.mp4", tmpdir);
  mux_clip(clip, path, 0);
  check_structure(path, 2);
  probe_stream_t a = probe(path, 1);
  assert_string_equal(a.codec, "pcm_mulaw");
  assert_true(a.duration > 1.9 && a.duration < 2.2);
  assert_decodes(path);
  vg_clip_free(&clip);
}

/* Errors: bad tracks, pts going back, empty flush, full fragments. */
static void test_errors(void **state) {
  vg_clip_t *clip = encode(VG_CODEC_H264, 25, 1.0, VG_CODEC_NONE);
  vg_fmp4_t *m = NULL;
  vg_track_t bad = {.codec = VG_CODEC_JPEG, .clock_rate = 90000};
  assert_int_equal(vg_fmp4_create(&bad, 1, &m), VG_EUNSUPPORTED);
  bad = (vg_track_t){.codec = VG_CODEC_H264, .clock_rate = 90000};
  assert_int_equal(vg_fmp4_create(&bad, 1, &m), VG_EINVAL); /* no parameter sets */
  bad.extradata = vg_buf_from("\0\0\0\2\x68\x01", 6);       /* a PPS but no SPS */
  assert_int_equal(vg_fmp4_create(&bad, 1, &m), VG_EPROTO);
  vg_track_clear(&bad);
  assert_int_equal(vg_fmp4_create(clip->tracks, 0, &m), VG_EINVAL);
  assert_null(m);

  assert_int_equal(vg_fmp4_create(clip->tracks, 1, &m), 0);
  vg_fmp4_fragment_t frag;
  assert_int_equal(vg_fmp4_flush_fragment(m, &frag), VG_ENODATA);
  vg_frame_t f = clip->frames[1].frame;
  assert_int_equal(vg_fmp4_add_frame(m, &f), 0);
  f = clip->frames[0].frame; /* earlier pts */
  assert_int_equal(vg_fmp4_add_frame(m, &f), VG_EINVAL);
  f.track = 1;
  assert_int_equal(vg_fmp4_add_frame(m, &f), VG_EINVAL);
  /* The fragment fills up at VG_FMP4_MAX_SAMPLES; nothing is lost. */
  f = clip->frames[1].frame;
  int added = 1;
  while (vg_fmp4_add_frame(m, &f) == 0)
    added++;
  assert_int_equal(added, VG_FMP4_MAX_SAMPLES);
  assert_int_equal(vg_fmp4_add_frame(m, &f), VG_ETOOBIG);
  assert_int_equal(vg_fmp4_flush_fragment(m, &frag), 0);
  assert_int_equal(frag.sample_count, VG_FMP4_MAX_SAMPLES);
  assert_int_equal(frag.iov_count, VG_FMP4_MAX_SAMPLES + 1);
  uint64_t sum = 0;
  for (int i = 0; i < frag.iov_count; i++)
    sum += frag.iov[i].iov_len;
  assert_int_equal(sum, frag.size);
  assert_int_equal(frag.sequence, 1);
  assert_int_equal(vg_fmp4_add_frame(m, &f), 0);
  /* The fragment outlives its muxer. */
  vg_fmp4_free(&m);
  assert_null(m);
  assert_int_equal(memcmp(frag.iov[1].iov_base, f.data, f.len), 0);
  vg_fmp4_fragment_release(&frag);
  vg_fmp4_fragment_release(&frag); /* safe twice */
  vg_clip_free(&clip);
}

/* The prft box byte by byte: a known wall-clock time and media time. */
static void test_prft_bytes(void **state) {
  (void)state;
  uint8_t box[VG_FMP4_PRFT_SIZE];
  int64_t utc_us = INT64_C(1763683200123456); /* 2025-11-21T00:00:00.123456Z */
  assert_int_equal(vg_fmp4_prft(box, 1, utc_us, UINT64_C(0x123456789)), VG_FMP4_PRFT_SIZE);
  static const uint8_t want[VG_FMP4_PRFT_SIZE] = {
      0x00, 0x00, 0x00, 0x20, 'p',  'r',  'f',  't',  /* size 32, type */
      0x01, 0x00, 0x00, 0x00,                         /* version 1, flags 0 */
      0x00, 0x00, 0x00, 0x01,                         /* reference_track_ID */
      0xec, 0xca, 0x2a, 0x00, 0x1f, 0x9a, 0xcf, 0xfa, /* NTP: 3972672000 s + 0.123456 s */
      0x00, 0x00, 0x00, 0x01, 0x23, 0x45, 0x67, 0x89, /* media_time, 64 bits */
  };
  assert_memory_equal(box, want, sizeof want);
  /* The same NTP timestamp as RTCP's sender reports carry. */
  assert_int_equal(rd64(box + 16), vg_ntp_from_utc_us(utc_us));
  assert_int_equal(vg_fmp4_prft(box, 2, 0, 0), VG_FMP4_PRFT_SIZE);
  assert_int_equal(rd32(box + 12), 2);
  assert_int_equal(rd64(box + 16), UINT64_C(2208988800) << 32);
  assert_int_equal(vg_fmp4_prft(box, 0, utc_us, 0), VG_EINVAL);
  assert_int_equal(vg_fmp4_prft(box, 1, -1, 0), VG_EINVAL);
  assert_int_equal(vg_fmp4_prft(NULL, 1, utc_us, 0), VG_EINVAL);
}

/* A prft before every fragment (one per video frame, as the live view
 * sends them) leaves the file readable: FFmpeg decodes all of it. */
static void test_prft_in_file(void **state) {
  vg_clip_t *clip = encode(VG_CODEC_H264, 25, 1.0, VG_CODEC_NONE);
  char path[128];
  snprintf(path, sizeof path, "%s/prft.mp4", tmpdir);
  vg_fmp4_t *m = NULL;
  assert_int_equal(vg_fmp4_create(clip->tracks, clip->track_count, &m), 0);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  vg_buf_t *init = NULL;
  assert_true(vg_fmp4_init_segment(m, &init) > 0);
  assert_int_equal(write(fd, init->data, init->len), (ssize_t)init->len);
  vg_buf_unref(&init);
  for (size_t i = 0; i < clip->frame_count; i++) {
    assert_int_equal(vg_fmp4_add_frame(m, &clip->frames[i].frame), 0);
    vg_fmp4_fragment_t frag;
    assert_int_equal(vg_fmp4_flush_fragment(m, &frag), 0);
    assert_int_equal(frag.track, 0);
    assert_int_equal(frag.start_time, (uint64_t)(clip->frames[i].frame.pts - clip->frames[0].frame.pts));
    uint8_t box[VG_FMP4_PRFT_SIZE];
    assert_int_equal(vg_fmp4_prft(box, 1, INT64_C(1763683200000000) + (int64_t)i * 40000, frag.start_time),
                     VG_FMP4_PRFT_SIZE);
    assert_int_equal(write(fd, box, sizeof box), (ssize_t)sizeof box);
    write_all(fd, frag.iov, frag.iov_count);
    vg_fmp4_fragment_release(&frag);
  }
  close(fd);
  vg_fmp4_free(&m);
  check_video(path, "h264", "avc1", (int)clip->frame_count);
  vg_clip_free(&clip);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_h264_keyframe_fragments),
      cmocka_unit_test(test_h265),
      cmocka_unit_test(test_set_end_keyframes),
      cmocka_unit_test(test_h264_mid_gop_fragments),
      cmocka_unit_test(test_h264_aac),
      cmocka_unit_test(test_h264_pcmu),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_prft_bytes),
      cmocka_unit_test(test_prft_in_file),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
