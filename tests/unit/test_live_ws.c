/*
 * test_live_ws.c: the live view's pieces without sockets: MSE codec strings
 * from real encoder output, a viewer's message sequence (codec, init,
 * one fragment per frame), skipping a viewer that falls behind, viewers of
 * one group sharing every fragment (a late joiner and a slow one), the
 * analytics metadata hook, the latency quantiles and the upgrade's
 * authorization with auth off.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "base/error.h"
#include "base/time.h"
#include "live/ws_live.h"
#include "sim/clip.h"
#include "stream/hub.h"

/* libx265 leaks a few small allocations per encoder (x265 3.5); see
 * test_sim_clip.c. Unused without sanitizers. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libx265.so\n"; }

void vg_live_test_register(vg_live_viewer_t *v);
void vg_live_test_unregister(vg_live_viewer_t *v);

static vg_clip_t *encode(vg_codec_t codec, vg_codec_t audio) {
  vg_clip_params_t p;
  vg_clip_params_defaults(&p);
  p.codec = codec;
  p.width = 320;
  p.height = 240;
  p.fps = 25;
  p.gop = 25;
  p.duration_s = 2;
  p.bitrate_kbps = 300;
  p.audio = audio;
  vg_clip_t *clip = NULL;
  assert_int_equal(vg_clip_encode(&p, &clip), 0);
  return clip;
}

static const uint8_t *payload(const vg_live_msg_t *m) { return m->buf->data + VG_LIVE_PRE; }
static size_t payload_len(const vg_live_msg_t *m) { return m->buf->len - VG_LIVE_PRE; }

/* The next message must be text; returns it parsed. */
static json_t *pop_json(vg_live_viewer_t *v) {
  vg_live_msg_t *m = vg_live_viewer_pop(v);
  assert_non_null(m);
  assert_true(m->text);
  json_error_t e;
  json_t *j = json_loadb((const char *)payload(m), payload_len(m), 0, &e);
  vg_live_msg_free(m);
  assert_non_null(j);
  return j;
}

static void test_codec_strings(void **state) {
  (void)state;
  char s[64];
  vg_clip_t *clip = encode(VG_CODEC_H264, VG_CODEC_AAC);
  int n = vg_live_codec_string(&clip->tracks[0], s, sizeof(s));
  assert_int_equal(n, 11);
  /* The SPS's profile, constraint flags and level, as hex: camsim's clip
   * encoder uses Constrained Baseline (66, set0+set1) at level 1.3. */
  assert_string_equal(s, "avc1.42c00d");
  assert_int_equal(vg_live_codec_string(&clip->tracks[1], s, sizeof(s)), 9);
  assert_string_equal(s, "mp4a.40.2");
  assert_int_equal(vg_live_codec_string(&clip->tracks[0], s, 8), VG_ETOOBIG);
  vg_clip_free(&clip);

  clip = encode(VG_CODEC_H265, VG_CODEC_NONE);
  assert_true(vg_live_codec_string(&clip->tracks[0], s, sizeof(s)) > 0);
  /* Main profile (1), compatible with profiles 1 and 2 (reversed bits: 6),
   * main tier, level 2 (60), then the constraint flags byte: progressive
   * and frame-only (0x90). */
  assert_memory_equal(s, "hvc1.1.6.L", 10);
  assert_string_equal(s, "hvc1.1.6.L60.90");
  vg_clip_free(&clip);

  vg_track_t t = {.codec = VG_CODEC_PCMU, .clock_rate = 8000};
  assert_int_equal(vg_live_codec_string(&t, s, sizeof(s)), VG_EUNSUPPORTED);
  t = (vg_track_t){.codec = VG_CODEC_H264, .clock_rate = 90000};
  assert_int_equal(vg_live_codec_string(&t, s, sizeof(s)), VG_EPROTO);
  t = (vg_track_t){.codec = VG_CODEC_OPUS, .clock_rate = 48000};
  assert_int_equal(vg_live_codec_string(&t, s, sizeof(s)), 4);
}

static int wakes;
static void count_wake(void *opaque) {
  (void)opaque;
  wakes++;
}

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) << 32 | rd32(p + 4); }

static int is_box(const vg_live_msg_t *m, const char *type) {
  return !m->text && payload_len(m) >= 8 && memcmp(payload(m) + 4, type, 4) == 0;
}

static void test_viewer_sequence(void **state) {
  (void)state;
  vg_clip_t *clip = encode(VG_CODEC_H264, VG_CODEC_AAC);
  vg_live_viewer_t *v = vg_live_viewer_new("camX", 1, count_wake, NULL);
  wakes = 0;
  assert_int_equal(vg_live_viewer_set_tracks(v, clip->tracks, clip->track_count), 0);
  json_t *codec = pop_json(v);
  assert_string_equal(json_string_value(json_object_get(codec, "type")), "codec");
  const char *codecs = json_string_value(json_object_get(codec, "codecs"));
  assert_non_null(strstr(codecs, "avc1.42c00d"));
  assert_non_null(strstr(codecs, ",mp4a.40.2"));
  char mime[200];
  snprintf(mime, sizeof(mime), "video/mp4; codecs=\"%s\"", codecs);
  assert_string_equal(json_string_value(json_object_get(codec, "mime")), mime);
  json_t *video = json_array_get(json_object_get(codec, "tracks"), 0);
  assert_int_equal(json_integer_value(json_object_get(video, "width")), 320);
  assert_int_equal(json_integer_value(json_object_get(video, "height")), 240);
  assert_int_equal(json_array_size(json_object_get(codec, "tracks")), 2);
  json_decref(codec);
  vg_live_msg_t *init = vg_live_viewer_pop(v);
  assert_true(is_box(init, "ftyp"));
  vg_live_msg_free(init);

  /* Frames from the middle of a GOP are not sent until a keyframe. */
  int video_frames = 0, first_key = -1;
  for (int i = 0; i < (int)clip->frame_count; i++)
    if (clip->frames[i].frame.track == 0 && (clip->frames[i].frame.flags & VG_FRAME_KEY) && i > 0) {
      first_key = i;
      break;
    }
  assert_true(first_key > 0);
  int64_t now = vg_time_mono_us();
  for (int i = 1; i < (int)clip->frame_count; i++) {
    vg_frame_t f = clip->frames[i].frame;
    f.recv_us = now;
    vg_live_viewer_feed(v, &f);
    if (i >= first_key && f.track == 0) video_frames++;
  }
  vg_live_viewer_stats_t st;
  vg_live_viewer_stats(v, &st);
  assert_int_equal(st.fragments, video_frames);
  assert_int_equal(st.skips, 0);
  int frags = 0;
  vg_live_msg_t *m;
  int64_t now_utc = vg_time_utc_us();
  while ((m = vg_live_viewer_pop(v))) {
    /* prft (the frame's arrival on the wall clock, its decode time), then
     * the moof. */
    assert_true(is_box(m, "prft"));
    const uint8_t *p = payload(m);
    assert_true(payload_len(m) > 40);
    assert_int_equal(rd32(p), 32);
    assert_int_equal(p[8], 1);         /* version 1 */
    assert_int_equal(rd32(p + 12), 1); /* the video track */
    uint64_t ntp = rd64(p + 16);
    int64_t arrived_us = ((int64_t)(ntp >> 32) - INT64_C(2208988800)) * 1000000 +
                         (int64_t)(((ntp & 0xffffffffu) * 1000000) >> 32);
    assert_true(arrived_us <= now_utc + 1000 && arrived_us > now_utc - 5000000);
    /* One video frame per fragment: decode times go on at 1/25 s. */
    assert_int_equal(rd64(p + 24), (uint64_t)frags * 3600);
    assert_memory_equal(p + 36, "moof", 4);
    assert_true(m->media);
    assert_true(m->recv_us == now);
    frags++;
    vg_live_msg_free(m);
  }
  assert_int_equal(frags, video_frames);
  assert_true(wakes >= frags + 2);

  /* New tracks: a reset, then a codec message and an init segment again. */
  assert_int_equal(vg_live_viewer_set_tracks(v, clip->tracks, 1), 0);
  json_t *reset = pop_json(v);
  assert_string_equal(json_string_value(json_object_get(reset, "type")), "reset");
  json_decref(reset);
  codec = pop_json(v);
  assert_null(strchr(json_string_value(json_object_get(codec, "codecs")), ','));
  json_decref(codec);
  init = vg_live_viewer_pop(v);
  assert_true(is_box(init, "ftyp"));
  vg_live_msg_free(init);
  vg_live_viewer_ended(v);
  json_t *end = pop_json(v);
  assert_string_equal(json_string_value(json_object_get(end, "type")), "end");
  json_decref(end);
  vg_live_viewer_free(&v);

  /* Audio left out on request; no video at all is an error message. */
  v = vg_live_viewer_new("camX", 0, NULL, NULL);
  assert_int_equal(vg_live_viewer_set_tracks(v, clip->tracks, clip->track_count), 0);
  codec = pop_json(v);
  assert_int_equal(json_array_size(json_object_get(codec, "tracks")), 1);
  json_decref(codec);
  vg_live_viewer_free(&v);
  v = vg_live_viewer_new("camX", 1, NULL, NULL);
  assert_int_equal(vg_live_viewer_set_tracks(v, &clip->tracks[1], 1), VG_EUNSUPPORTED);
  vg_live_msg_t *em = vg_live_viewer_pop(v);
  assert_true(em->text && em->close_after); /* the socket closes after it */
  assert_non_null(memmem(payload(em), payload_len(em), "\"type\":\"error\"", 14));
  vg_live_msg_free(em);
  vg_live_viewer_free(&v);
  vg_clip_free(&clip);
}

/* A viewer that does not drain its queue: once more than
 * VG_LIVE_WS_QUEUE_BYTES wait, the queued fragments go, frames are dropped
 * up to the next keyframe, and a skip message announces the gap. (The
 * other limit, the age of the oldest queued frame, works the same way.) */
static void test_viewer_skips(void **state) {
  (void)state;
  vg_clip_t *clip = encode(VG_CODEC_H264, VG_CODEC_NONE);
  vg_live_viewer_t *v = vg_live_viewer_new("camSkip", 1, NULL, NULL);
  assert_int_equal(vg_live_viewer_set_tracks(v, clip->tracks, clip->track_count), 0);
  vg_live_msg_free(vg_live_viewer_pop(v));
  vg_live_msg_free(vg_live_viewer_pop(v));
  vg_live_viewer_stats_t st;
  int queued_before = 0, fed_after = 0, loops = 0;
  int64_t loop_pts = 2 * 90000; /* the clip lasts 2 s */
  /* Play the clip over and over (timestamps moving on) until the skip,
   * then until a keyframe has been fed since (the stream resumes there;
   * where the skip falls in the GOP depends on the fragments' sizes). */
  int resumed = 0;
  for (loops = 0; loops < 40 && !resumed; loops++) {
    for (size_t i = 0; i < clip->frame_count && !resumed; i++) {
      vg_frame_t f = clip->frames[i].frame;
      f.pts += loops * loop_pts;
      f.recv_us = vg_time_mono_us();
      vg_live_viewer_stats(v, &st);
      if (st.skips == 0) queued_before = st.queued_msgs;
      vg_live_viewer_feed(v, &f);
      vg_live_viewer_stats(v, &st);
      if (st.skips == 1) {
        fed_after++;
        resumed = (f.flags & VG_FRAME_KEY) != 0;
      }
    }
  }
  assert_true(resumed);
  assert_int_equal(st.skips, 1);
  assert_true(queued_before * 1400 > (int)VG_LIVE_WS_QUEUE_BYTES / 2);
  /* The queued fragments and the frames up to the next keyframe went. */
  assert_true(st.dropped_frames > (uint64_t)queued_before);
  json_t *skip = pop_json(v);
  assert_string_equal(json_string_value(json_object_get(skip, "type")), "skip");
  assert_int_equal(json_integer_value(json_object_get(skip, "frames")), (json_int_t)st.dropped_frames);
  assert_int_equal(json_integer_value(json_object_get(skip, "skips")), 1);
  json_decref(skip);
  /* Then the stream goes on from a keyframe: the GOP's frames since. */
  vg_live_msg_t *m = vg_live_viewer_pop(v);
  assert_true(is_box(m, "prft"));
  assert_memory_equal(payload(m) + 36, "moof", 4);
  vg_live_msg_free(m);
  vg_live_viewer_stats(v, &st);
  assert_int_equal((uint64_t)st.queued_msgs + 1 + st.dropped_frames - (uint64_t)queued_before,
                   (uint64_t)fed_after);
  vg_live_viewer_free(&v);
  vg_clip_free(&clip);
}

static void test_meta_publish(void **state) {
  (void)state;
  vg_live_viewer_t *a = vg_live_viewer_new("door", 1, NULL, NULL);
  vg_live_viewer_t *b = vg_live_viewer_new("yard", 1, NULL, NULL);
  vg_live_test_register(a);
  vg_live_test_register(b);
  json_t *meta = json_pack("{s:I,s:[{s:i,s:s,s:[f,f,f,f]}]}", "pts", (json_int_t)90000, "objects", "track", 7,
                           "class", "person", "box", 0.1, 0.2, 0.3, 0.4);
  assert_int_equal(vg_live_meta_publish("door", meta), 1);
  assert_int_equal(vg_live_meta_publish("garage", meta), 0);
  assert_int_equal(vg_live_meta_publish("door", NULL), VG_EINVAL);
  json_t *arr = json_array();
  assert_int_equal(vg_live_meta_publish("door", arr), VG_EINVAL);
  json_decref(arr);
  /* The caller's object is not changed. */
  assert_null(json_object_get(meta, "type"));
  json_decref(meta);
  json_t *got = pop_json(a);
  assert_string_equal(json_string_value(json_object_get(got, "type")), "meta");
  assert_string_equal(json_string_value(json_object_get(got, "camera")), "door");
  assert_int_equal(json_integer_value(json_object_get(got, "pts")), 90000);
  json_t *obj = json_array_get(json_object_get(got, "objects"), 0);
  assert_string_equal(json_string_value(json_object_get(obj, "class")), "person");
  json_decref(got);
  assert_null(vg_live_viewer_pop(a));
  assert_null(vg_live_viewer_pop(b));
  /* Bounded: a viewer that never reads keeps at most a fixed number. */
  json_t *small = json_pack("{s:i}", "n", 1);
  for (int i = 0; i < 1000; i++)
    vg_live_meta_publish("yard", small);
  json_decref(small);
  vg_live_viewer_stats_t st;
  vg_live_viewer_stats(b, &st);
  assert_true(st.queued_msgs > 0 && st.queued_msgs <= 256);
  vg_live_test_unregister(a);
  vg_live_test_unregister(b);
  vg_live_viewer_free(&a);
  vg_live_viewer_free(&b);
}

/* ---- a group: viewers of one camera share every fragment ---- */

#define SHARED_MAX 2048
static vg_buf_t *seen[SHARED_MAX]; /* the fast viewer's fragments, in order (references) */
static int seen_key[SHARED_MAX];   /* whether each starts a GOP */
static int seen_count;

/* The index of buf among the fragments seen, or -1. */
static int seen_index(const vg_buf_t *buf) {
  for (int i = seen_count - 1; i >= 0; i--)
    if (seen[i] == buf) return i;
  return -1;
}

/* Pops a viewer's queue: every media message must be the next of the
 * fragments the reference viewer got (*next), the same shared buffer and
 * the same bytes. Returns the number popped. */
static int drain_in_step(vg_live_viewer_t *v, int *next, int64_t *first_recv) {
  vg_live_msg_t *m;
  int n = 0;
  while ((m = vg_live_viewer_pop(v))) {
    assert_true(m->media);
    assert_true(*next < seen_count);
    assert_ptr_equal(m->buf, seen[*next]);
    assert_memory_equal(payload(m), seen[*next]->data + VG_LIVE_PRE, payload_len(m));
    if (first_recv && n == 0) *first_recv = m->recv_us;
    (*next)++;
    n++;
    vg_live_msg_free(m);
  }
  return n;
}

/* A video wall: a and b join at the start, c in the middle of a GOP, and
 * slow never reads. a, b and c get the same buffers (byte-identical
 * fragments, built once) from their start on; c starts at the GOP's
 * keyframe; slow skips to a keyframe on its own without a, b or c losing a
 * fragment. */
static void test_group_shares(void **state) {
  (void)state;
  vg_clip_t *clip = encode(VG_CODEC_H264, VG_CODEC_AAC);
  vg_live_group_t *g = vg_live_group_new("camWall", 1);
  assert_non_null(g);
  vg_live_viewer_t *a = vg_live_viewer_new("camWall", 1, NULL, NULL),
                   *b = vg_live_viewer_new("camWall", 1, NULL, NULL),
                   *slow = vg_live_viewer_new("camWall", 1, NULL, NULL), *c = NULL;
  assert_int_equal(vg_live_group_join(g, a), 0);
  assert_int_equal(vg_live_group_join(g, b), 0);
  assert_int_equal(vg_live_group_join(g, slow), 0);
  assert_int_equal(vg_live_group_join(g, a), VG_EINVAL); /* already a member */
  assert_int_equal(vg_live_group_members(g), 3);
  assert_int_equal(vg_live_group_set_tracks(g, clip->tracks, clip->track_count), 0);
  /* One codec message and one init segment for all. */
  vg_live_msg_t *ca = vg_live_viewer_pop(a), *cb = vg_live_viewer_pop(b);
  assert_true(ca->text && cb->text);
  assert_ptr_equal(ca->buf, cb->buf);
  vg_live_msg_t *ia = vg_live_viewer_pop(a), *ib = vg_live_viewer_pop(b);
  assert_true(is_box(ia, "ftyp"));
  assert_ptr_equal(ia->buf, ib->buf);
  vg_buf_t *codec_bytes = vg_buf_from(payload(ca), payload_len(ca)),
           *init_bytes = vg_buf_from(payload(ia), payload_len(ia));
  vg_live_msg_free(ca);
  vg_live_msg_free(cb);
  vg_live_msg_free(ia);
  vg_live_msg_free(ib);

  seen_count = 0;
  int b_next = 0, c_next = 0, c_start = -1, video_after_key = 0;
  int64_t loop_pts = 2 * 90000, c_first_recv = -1, c_live_recv = 0;
  int c_live_checked = 0;
  vg_live_viewer_stats_t st;
  uint64_t slow_mark = UINT64_MAX;
  int done = 0;
  for (int loop = 0; loop < 40 && !done && seen_count < SHARED_MAX - 64; loop++) {
    for (size_t i = 0; i < clip->frame_count && !done; i++) {
      vg_frame_t f = clip->frames[i].frame;
      f.pts += loop * loop_pts;
      f.recv_us = vg_time_mono_us();
      int video = f.track == 0, key = video && (f.flags & VG_FRAME_KEY);
      vg_live_group_feed(g, &f);
      /* a reads everything and is the reference. */
      vg_live_msg_t *m;
      while ((m = vg_live_viewer_pop(a))) {
        assert_true(m->media && is_box(m, "prft"));
        assert_true(m->recv_us > 0);
        seen_key[seen_count] = key;
        seen[seen_count++] = vg_buf_ref(m->buf);
        vg_live_msg_free(m);
      }
      drain_in_step(b, &b_next, NULL);
      if (video) video_after_key = key ? 0 : video_after_key + 1;
      /* c arrives in the second GOP, 10 frames past its keyframe. */
      if (!c && loop == 1 && video && video_after_key == 10) {
        c = vg_live_viewer_new("camWall", 1, NULL, NULL);
        assert_int_equal(vg_live_group_join(g, c), 0);
        vg_live_msg_t *codec = vg_live_viewer_pop(c);
        assert_true(codec->text);
        assert_int_equal(payload_len(codec), codec_bytes->len);
        assert_memory_equal(payload(codec), codec_bytes->data, codec_bytes->len);
        vg_live_msg_free(codec);
        vg_live_msg_t *init = vg_live_viewer_pop(c);
        assert_int_equal(payload_len(init), init_bytes->len);
        assert_memory_equal(payload(init), init_bytes->data, init_bytes->len);
        vg_live_msg_free(init);
        /* The kept GOP: from its keyframe on, the buffers a got. */
        c_start = seen_count - 1 - video_after_key;
        assert_true(seen_key[c_start]);
        c_next = c_start;
        assert_int_equal(drain_in_step(c, &c_next, &c_first_recv), 11);
        assert_int_equal(c_next, seen_count);
        assert_int_equal(c_first_recv, 0); /* cached: no latency measure */
        continue;
      }
      if (c) {
        int64_t recv = -1;
        if (drain_in_step(c, &c_next, &recv) && !c_live_checked) {
          c_live_recv = recv;
          c_live_checked = 1;
        }
      }
      /* Until slow has skipped and got a few fragments again. */
      vg_live_viewer_stats(slow, &st);
      if (st.skips > 0 && slow_mark == UINT64_MAX) slow_mark = st.fragments;
      if (slow_mark != UINT64_MAX && st.fragments >= slow_mark + 5) done = 1;
    }
  }
  assert_true(done);
  assert_non_null(c);
  assert_true(c_live_checked && c_live_recv > 0);
  assert_int_equal(b_next, seen_count);
  assert_int_equal(c_next, seen_count);
  /* The fast viewers never skipped nor lost a fragment. */
  vg_live_viewer_t *fast[] = {a, b, c};
  for (int i = 0; i < 3; i++) {
    vg_live_viewer_stats(fast[i], &st);
    assert_int_equal(st.skips, 0);
    assert_int_equal(st.dropped_frames, 0);
    assert_int_equal(st.fragments, (uint64_t)(i == 2 ? seen_count - c_start : seen_count));
  }
  /* slow skipped: its codec message and init segment stay, then the skip,
   * then fragments from a keyframe, the same buffers as everybody's. */
  vg_live_viewer_stats(slow, &st);
  assert_true(st.skips >= 1);
  assert_true(st.dropped_frames > 0);
  json_t *j = pop_json(slow);
  assert_string_equal(json_string_value(json_object_get(j, "type")), "codec");
  json_decref(j);
  vg_live_msg_t *m = vg_live_viewer_pop(slow);
  assert_true(is_box(m, "ftyp"));
  vg_live_msg_free(m);
  j = pop_json(slow);
  assert_string_equal(json_string_value(json_object_get(j, "type")), "skip");
  json_decref(j);
  m = vg_live_viewer_pop(slow);
  assert_non_null(m);
  int at = seen_index(m->buf);
  assert_true(at >= 0 && seen_key[at]);
  vg_live_msg_free(m);
  int next = at + 1;
  assert_true(drain_in_step(slow, &next, NULL) >= 4);
  assert_int_equal(next, seen_count);
  /* Leaving is the leaver's business; the group goes on with the rest. */
  vg_live_group_leave(g, slow);
  assert_int_equal(vg_live_group_members(g), 3);
  vg_live_viewer_free(&slow);
  vg_live_viewer_free(&a); /* leaves the group */
  assert_int_equal(vg_live_group_members(g), 2);
  vg_live_group_ended(g);
  j = pop_json(b);
  assert_string_equal(json_string_value(json_object_get(j, "type")), "end");
  json_decref(j);
  vg_live_group_free(&g); /* b and c leave */
  vg_live_viewer_free(&b);
  vg_live_viewer_free(&c);
  for (int i = 0; i < seen_count; i++)
    vg_buf_unref(&seen[i]);
  vg_buf_unref(&codec_bytes);
  vg_buf_unref(&init_bytes);
  vg_clip_free(&clip);
}

static void test_latency_quantiles(void **state) {
  (void)state;
  for (int i = 0; i < 90; i++)
    vg_live_latency_observe(3000); /* 3 ms: the (2, 5] ms bucket */
  for (int i = 0; i < 10; i++)
    vg_live_latency_observe(300000); /* 300 ms: (200, 500] */
  double p50 = vg_live_latency_quantile(0.5), p99 = vg_live_latency_quantile(0.99);
  assert_true(p50 > 0.002 && p50 <= 0.005);
  assert_true(p99 > 0.2 && p99 <= 0.5);
}

static void test_authorize_auth_off(void **state) {
  (void)state;
  vg_hub_t *hub = vg_hub_new("camA");
  assert_int_equal(vg_hub_register(hub), 0);
  char camera[64];
  int audio = -1;
  vg_http_request_t req = {.method = "GET", .path = "/api/v1/cameras/camA/live.ws", .query = ""};
  vg_http_response_t res;
  vg_http_response_init(&res);
  assert_int_equal(vg_live_ws_authorize(&req, &res, camera, sizeof(camera), &audio), 0);
  assert_string_equal(camera, "camA");
  assert_int_equal(audio, 1);
  vg_http_response_free(&res);

  req.query = "audio=0";
  vg_http_response_init(&res);
  assert_int_equal(vg_live_ws_authorize(&req, &res, camera, sizeof(camera), &audio), 0);
  assert_int_equal(audio, 0);
  vg_http_response_free(&res);

  const char *bad[] = {"/api/v1/cameras/nope/live.ws", "/api/v1/cameras/camA/live.wss",
                       "/api/v1/cameras//live.ws", "/api/v1/cameras/camA", "/other"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    vg_http_request_t r = {.method = "GET", .path = bad[i], .query = ""};
    vg_http_response_init(&res);
    assert_true(vg_live_ws_authorize(&r, &res, camera, sizeof(camera), &audio) < 0);
    assert_int_equal(res.status, 404);
    vg_http_response_free(&res);
  }

  /* Without the upgrade, the route answers 426; tickets are issued. */
  vg_http_request_t get = {.method = "GET", .path = "/api/v1/cameras/camA/live.ws", .query = ""};
  vg_http_response_init(&res);
  vg_api_dispatch(&get, &res);
  assert_int_equal(res.status, 426);
  vg_http_response_free(&res);
  vg_http_request_t post = {.method = "POST", .path = "/api/v1/cameras/camA/live-ticket", .query = ""};
  vg_http_response_init(&res);
  vg_api_dispatch(&post, &res);
  assert_int_equal(res.status, 200);
  json_t *t = json_loadb(res.body.data, res.body.len, 0, NULL);
  assert_int_equal(strlen(json_string_value(json_object_get(t, "ticket"))), VG_LIVE_TICKET_LEN);
  json_decref(t);
  vg_http_response_free(&res);
  post.path = "/api/v1/cameras/nope/live-ticket";
  vg_http_response_init(&res);
  vg_api_dispatch(&post, &res);
  assert_int_equal(res.status, 404);
  vg_http_response_free(&res);

  vg_hub_unregister(hub);
  vg_hub_unref(&hub);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_codec_strings),     cmocka_unit_test(test_viewer_sequence),
      cmocka_unit_test(test_viewer_skips),      cmocka_unit_test(test_meta_publish),
      cmocka_unit_test(test_latency_quantiles), cmocka_unit_test(test_authorize_auth_off),
      cmocka_unit_test(test_group_shares),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
