/* Unit tests for src/proto/sdp: SDPs written by ffmpeg and in the style of
 * common IP cameras, control URL resolution, tracks, and the writer. */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "proto/sdp.h"

static vg_sdp_t *load(const char *name) {
  char path[1024];
  const char *dir = getenv("VG_TEST_DATA");
  snprintf(path, sizeof(path), "%s/proto/%s", dir ? dir : "tests/data", name);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  static char text[VG_SDP_MAX_INPUT];
  size_t n = fread(text, 1, sizeof(text), f);
  fclose(f);
  vg_sdp_t *sdp = malloc(sizeof(*sdp));
  assert_int_equal(vg_sdp_parse(text, n, sdp), 0);
  return sdp;
}

/* The i-th length-prefixed NAL unit of extradata, or NULL. */
static const uint8_t *nal_at(const vg_buf_t *x, int index, size_t *len) {
  size_t pos = 0;
  for (int i = 0; x && pos + 4 <= x->len; i++) {
    size_t n = (size_t)x->data[pos] << 24 | (size_t)x->data[pos + 1] << 16 | x->data[pos + 2] << 8 |
               x->data[pos + 3];
    if (i == index) {
      *len = n;
      return x->data + pos + 4;
    }
    pos += 4 + n;
  }
  return NULL;
}

static void test_ffmpeg_h264(void **state) {
  vg_sdp_t *sdp = load("ffmpeg_h264.sdp");
  assert_int_equal(sdp->n_media, 1);
  vg_sdp_media_t *m = &sdp->media[0];
  assert_int_equal(m->type, VG_SDP_MEDIA_VIDEO);
  assert_int_equal(m->port, 5004);
  assert_string_equal(m->proto, "RTP/AVP");
  assert_int_equal(m->payload_type, 96);
  assert_string_equal(m->encoding, "H264");
  assert_int_equal(m->clock_rate, 90000);
  assert_string_equal(m->connection, "127.0.0.1");
  assert_string_equal(sdp->name, "No Name");
  size_t len;
  const char *v = vg_sdp_fmtp_get(m, "Profile-Level-Id", &len);
  assert_non_null(v);
  assert_int_equal(len, 6);
  assert_memory_equal(v, "F4000D", 6);
  assert_null(vg_sdp_fmtp_get(m, "sprop-vps", &len));

  vg_track_t t;
  assert_int_equal(vg_sdp_media_to_track(m, &t), 0);
  assert_int_equal(t.codec, VG_CODEC_H264);
  assert_int_equal(t.clock_rate, 90000);
  assert_int_equal(t.width, 0);
  const uint8_t *sps = nal_at(t.extradata, 0, &len);
  assert_non_null(sps);
  assert_int_equal(len, 25);
  assert_int_equal(sps[0], 0x67);
  assert_int_equal(sps[1], 0xf4); /* High 4:4:4, what -profile-level-id says */
  const uint8_t *pps = nal_at(t.extradata, 1, &len);
  assert_non_null(pps);
  assert_int_equal(len, 6);
  assert_int_equal(pps[0], 0x68);
  assert_null(nal_at(t.extradata, 2, &len));
  vg_track_clear(&t);
  free(sdp);
}

static void test_ffmpeg_h265(void **state) {
  vg_sdp_t *sdp = load("ffmpeg_h265.sdp");
  vg_track_t t;
  assert_int_equal(vg_sdp_media_to_track(&sdp->media[0], &t), 0);
  assert_int_equal(t.codec, VG_CODEC_H265);
  int types[3];
  for (int i = 0; i < 3; i++) {
    size_t len;
    const uint8_t *nal = nal_at(t.extradata, i, &len);
    assert_non_null(nal);
    types[i] = (nal[0] >> 1) & 0x3f;
  }
  assert_int_equal(types[0], 32);
  assert_int_equal(types[1], 33);
  assert_int_equal(types[2], 34);
  vg_track_clear(&t);
  free(sdp);
}

static void test_ffmpeg_audio(void **state) {
  vg_sdp_t *sdp = load("ffmpeg_aac.sdp");
  vg_track_t t;
  assert_int_equal(vg_sdp_media_to_track(&sdp->media[0], &t), 0);
  assert_int_equal(t.codec, VG_CODEC_AAC);
  assert_int_equal(t.clock_rate, 44100);
  assert_int_equal(t.sample_rate, 44100);
  assert_int_equal(t.channels, 2);
  assert_int_equal(t.extradata->len, 5);
  assert_memory_equal(t.extradata->data, "\x12\x10\x56\xe5\x00", 5);
  vg_track_clear(&t);
  free(sdp);

  sdp = load("ffmpeg_pcmu.sdp"); /* static payload type 0, no rtpmap */
  assert_string_equal(sdp->media[0].encoding, "");
  assert_int_equal(vg_sdp_media_to_track(&sdp->media[0], &t), 0);
  assert_int_equal(t.codec, VG_CODEC_PCMU);
  assert_int_equal(t.clock_rate, 8000);
  assert_int_equal(t.channels, 1);
  assert_null(t.extradata);
  free(sdp);
  sdp = load("ffmpeg_pcma.sdp");
  assert_int_equal(vg_sdp_media_to_track(&sdp->media[0], &t), 0);
  assert_int_equal(t.codec, VG_CODEC_PCMA);
  assert_int_equal(t.sample_rate, 8000);
  free(sdp);

  sdp = load("ffmpeg_opus.sdp");
  assert_int_equal(vg_sdp_media_to_track(&sdp->media[0], &t), 0);
  assert_int_equal(t.codec, VG_CODEC_OPUS);
  assert_int_equal(t.clock_rate, 48000);
  assert_int_equal(t.channels, 1); /* no sprop-stereo: mono (RFC 7587) */
  free(sdp);
}

static void check_control(const vg_sdp_t *sdp, int i, const char *base, const char *want) {
  char url[1024];
  int n = vg_sdp_resolve_control(sdp, i, base, url, sizeof(url));
  assert_int_equal(n, (int)strlen(want));
  assert_string_equal(url, want);
}

static void test_hikvision_style(void **state) {
  vg_sdp_t *sdp = load("hikvision.sdp");
  assert_int_equal(sdp->n_media, 2);
  assert_string_equal(sdp->name, "Media Presentation");
  assert_string_equal(sdp->origin_address, "192.168.1.64");
  assert_int_equal(sdp->media[0].direction, VG_SDP_RECVONLY);
  /* Absolute controls win over any base. */
  check_control(sdp, 0, "rtsp://192.168.1.64/Streaming/Channels/101",
                "rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1?transportmode=unicast");
  char url[256];
  vg_sdp_session_control(sdp, "rtsp://ignored/", url, sizeof(url));
  assert_string_equal(url, "rtsp://192.168.1.64:554/Streaming/Channels/101/?transportmode=unicast");
  vg_track_t t;
  assert_int_equal(vg_sdp_media_to_track(&sdp->media[0], &t), 0);
  size_t len;
  const uint8_t *sps = nal_at(t.extradata, 0, &len);
  assert_int_equal(len, 24);
  assert_int_equal(sps[1], 0x4d); /* Main profile */
  vg_track_clear(&t);
  assert_int_equal(vg_sdp_media_to_track(&sdp->media[1], &t), 0);
  assert_int_equal(t.codec, VG_CODEC_PCMA);
  assert_int_equal(vg_sdp_control_track_index(sdp->media[1].control), 2);
  free(sdp);
}

static void test_axis_style(void **state) {
  vg_sdp_t *sdp = load("axis.sdp");
  assert_int_equal(sdp->n_media, 3);
  assert_string_equal(sdp->range, "npt=now-");
  assert_true(sdp->media[0].framerate > 24.9 && sdp->media[0].framerate < 25.1);
  vg_track_t t;
  assert_int_equal(vg_sdp_media_to_track(&sdp->media[0], &t), 0);
  assert_int_equal(t.codec, VG_CODEC_H265);
  vg_track_clear(&t);
  assert_int_equal(vg_sdp_media_to_track(&sdp->media[1], &t), 0);
  assert_int_equal(t.codec, VG_CODEC_AAC);
  assert_int_equal(t.sample_rate, 16000);
  assert_int_equal(t.channels, 1);
  assert_memory_equal(t.extradata->data, "\x14\x08", 2);
  size_t len;
  assert_non_null(vg_sdp_fmtp_get(&sdp->media[1], "sizelength", &len)); /* written sizeLength */
  vg_track_clear(&t);
  assert_int_equal(sdp->media[2].type, VG_SDP_MEDIA_APPLICATION);
  assert_int_equal(vg_sdp_media_to_track(&sdp->media[2], &t), VG_EUNSUPPORTED);
  assert_int_equal(t.codec, VG_CODEC_NONE);
  free(sdp);
}

static void test_dahua_style_relative_controls(void **state) {
  vg_sdp_t *sdp = load("dahua_lf.sdp"); /* LF-only line ends */
  assert_int_equal(sdp->n_media, 2);
  assert_string_equal(sdp->control, "*");
  assert_string_equal(sdp->media[1].encoding, "");
  vg_track_t t;
  assert_int_equal(vg_sdp_media_to_track(&sdp->media[1], &t), 0);
  assert_int_equal(t.codec, VG_CODEC_PCMU);
  /* Content-Base with a trailing slash, without one, and with a query. */
  check_control(sdp, 0, "rtsp://10.0.0.7:554/cam/realmonitor?channel=1&subtype=0/",
                "rtsp://10.0.0.7:554/cam/realmonitor?channel=1&subtype=0/trackID=0");
  check_control(sdp, 1, "rtsp://10.0.0.7/live", "rtsp://10.0.0.7/live/trackID=1");
  check_control(sdp, 1, "rtsp://10.0.0.7/live/", "rtsp://10.0.0.7/live/trackID=1");
  char url[64];
  vg_sdp_session_control(sdp, "rtsp://10.0.0.7/live/", url, sizeof(url));
  assert_string_equal(url, "rtsp://10.0.0.7/live/");
  assert_int_equal(vg_sdp_resolve_control(sdp, 2, "rtsp://x/", url, sizeof(url)), VG_EINVAL);
  assert_int_equal(vg_sdp_resolve_control(sdp, 0, "rtsp://10.0.0.7/a/very/long/base/", url, 20), VG_ETOOBIG);
  free(sdp);

  /* "*" and missing controls mean the base itself; "/x" replaces the path. */
  const char *text = "v=0\r\ns=-\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:*\r\n"
                     "m=video 0 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n"
                     "m=video 0 RTP/AVP 98\r\na=rtpmap:98 H264/90000\r\na=control:/other/track3\r\n";
  vg_sdp_t *s2 = malloc(sizeof(*s2));
  assert_int_equal(vg_sdp_parse(text, strlen(text), s2), 0);
  check_control(s2, 0, "rtsp://cam/stream", "rtsp://cam/stream");
  check_control(s2, 1, "rtsp://cam/stream", "rtsp://cam/stream");
  check_control(s2, 2, "rtsp://cam/stream/", "rtsp://cam/other/track3");
  free(s2);
}

static void test_control_track_index(void **state) {
  assert_int_equal(vg_sdp_control_track_index("rtsp://h:8554/live/cam1/trackID=1"), 1);
  assert_int_equal(vg_sdp_control_track_index("rtsp://h/live/cam1/streamid=0"), 0);
  assert_int_equal(vg_sdp_control_track_index("trackID=12?x=1"), 12);
  assert_int_equal(vg_sdp_control_track_index("rtsp://h/trackID=3/trackid=4"), 4);
  assert_int_equal(vg_sdp_control_track_index("rtsp://h/live"), VG_ENOTFOUND);
  assert_int_equal(vg_sdp_control_track_index("rtsp://h/trackID=x"), VG_ENOTFOUND);
}

static void test_malformed(void **state) {
  vg_sdp_t *s = malloc(sizeof(*s));
  const char *bad[] = {
      "v=0\r\nthis is not sdp\r\n",
      "v=0\r\nm=video\r\n",
      "v=0\r\nm=video abc RTP/AVP 96\r\n",
      "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264\r\n",
      "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/0\r\n",
      "v=0\r\nm=audio 0 RTP/AVP 96\r\na=rtpmap:96 opus/48000/0\r\n",
      "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:x H264/90000\r\n",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(vg_sdp_parse(bad[i], strlen(bad[i]), s), VG_EPROTO);
    assert_int_equal(s->n_media, 0);
  }
  char *big = malloc(4000);
  int n = sprintf(big, "v=0\r\nm=video 0 RTP/AVP 96\r\na=fmtp:96 sprop-parameter-sets=");
  memset(big + n, 'A', 3000);
  strcpy(big + n + 3000, "\r\n");
  assert_int_equal(vg_sdp_parse(big, strlen(big), s), VG_ETOOBIG);
  free(big);
  assert_int_equal(vg_sdp_parse("v=0\0\r\n", 6, s), VG_EPROTO);

  /* Bad base64 and hex in codec parameters fail the track, not the parse. */
  const char *b64 =
      "m=video 0 RTP/AVP 96\na=rtpmap:96 H264/90000\na=fmtp:96 sprop-parameter-sets=Z0*A,aO48gA==\n";
  assert_int_equal(vg_sdp_parse(b64, strlen(b64), s), 0);
  vg_track_t t;
  assert_int_equal(vg_sdp_media_to_track(&s->media[0], &t), VG_EPROTO);
  assert_null(t.extradata);
  const char *hex =
      "m=audio 0 RTP/AVP 97\na=rtpmap:97 mpeg4-generic/48000/2\na=fmtp:97 mode=AAC-hbr;config=11G0\n";
  assert_int_equal(vg_sdp_parse(hex, strlen(hex), s), 0);
  assert_int_equal(vg_sdp_media_to_track(&s->media[0], &t), VG_EPROTO);
  const char *celp = "m=audio 0 RTP/AVP 97\na=rtpmap:97 mpeg4-generic/48000/2\na=fmtp:97 mode=CELP-cbr\n";
  assert_int_equal(vg_sdp_parse(celp, strlen(celp), s), 0);
  assert_int_equal(vg_sdp_media_to_track(&s->media[0], &t), VG_EUNSUPPORTED);
  const char *jpeg = "m=video 0 RTP/AVP 26\n";
  assert_int_equal(vg_sdp_parse(jpeg, strlen(jpeg), s), 0);
  assert_int_equal(vg_sdp_media_to_track(&s->media[0], &t), VG_EUNSUPPORTED);
  /* AAC without config: AAC-LC derived from the rtpmap. */
  const char *noconf =
      "m=audio 0 RTP/AVP 97\na=rtpmap:97 MPEG4-GENERIC/8000/1\na=fmtp:97 mode=AAC-hbr;sizelength=13\n";
  assert_int_equal(vg_sdp_parse(noconf, strlen(noconf), s), 0);
  assert_int_equal(vg_sdp_media_to_track(&s->media[0], &t), 0);
  assert_memory_equal(t.extradata->data, "\x15\x88", 2);
  vg_track_clear(&t);

  /* More media than fit: the extra ones are ignored. */
  char many[2000] = "v=0\r\n";
  for (int i = 0; i < 10; i++)
    sprintf(many + strlen(many), "m=audio 0 RTP/AVP 0\r\na=control:trackID=%d\r\n", i);
  assert_int_equal(vg_sdp_parse(many, strlen(many), s), 0);
  assert_int_equal(s->n_media, VG_SDP_MAX_MEDIA);
  assert_string_equal(s->media[7].control, "trackID=7");
  free(s);
}

static void assert_same_track(const vg_track_t *a, const vg_track_t *b) {
  assert_int_equal(a->codec, b->codec);
  assert_int_equal(a->clock_rate, b->clock_rate);
  assert_int_equal(a->sample_rate, b->sample_rate);
  assert_int_equal(a->channels, b->channels);
  assert_int_equal(!!a->extradata, !!b->extradata);
  if (a->extradata) {
    assert_int_equal(a->extradata->len, b->extradata->len);
    assert_memory_equal(a->extradata->data, b->extradata->data, a->extradata->len);
  }
}

static void test_write_then_parse_roundtrip(void **state) {
  const char *files[] = {"ffmpeg_h264.sdp", "ffmpeg_h265.sdp", "ffmpeg_aac.sdp", "ffmpeg_pcmu.sdp",
                         "ffmpeg_pcma.sdp"};
  vg_track_t tracks[6];
  int pts[6] = {96, 97, 98, 0, 8, 111};
  for (int i = 0; i < 5; i++) {
    vg_sdp_t *sdp = load(files[i]);
    assert_int_equal(vg_sdp_media_to_track(&sdp->media[0], &tracks[i]), 0);
    free(sdp);
  }
  tracks[5] = (vg_track_t){.codec = VG_CODEC_OPUS, .clock_rate = 48000, .sample_rate = 48000, .channels = 2};

  static char out[8192];
  vg_sdp_write_opts_t opts = {.session_name = "cam1", .origin_address = "192.168.1.10", .session_id = 42};
  int n = vg_sdp_write(tracks, pts, 6, &opts, out, sizeof(out));
  assert_true(n > 0);
  assert_int_equal(n, (int)strlen(out));
  assert_non_null(strstr(out, "a=control:*\r\n"));
  assert_non_null(strstr(out, "a=fmtp:96 packetization-mode=1;profile-level-id=F4000D;sprop-parameter-sets="
                              "Z/QADZGbKCg/YCIAAAMAAgAAAwBkHihTLA==,aOvjxEhE\r\n"));
  assert_non_null(strstr(out, "a=rtpmap:98 MPEG4-GENERIC/44100/2\r\n"));
  assert_non_null(
      strstr(out, "mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=121056E500\r\n"));
  assert_non_null(strstr(out, "a=rtpmap:111 opus/48000/2\r\n"));
  assert_non_null(strstr(out, "a=control:trackID=5\r\n"));

  vg_sdp_t *back = malloc(sizeof(*back));
  assert_int_equal(vg_sdp_parse(out, (size_t)n, back), 0);
  assert_int_equal(back->n_media, 6);
  assert_string_equal(back->name, "cam1");
  for (int i = 0; i < 6; i++) {
    vg_track_t t;
    assert_int_equal(back->media[i].payload_type, pts[i]);
    assert_int_equal(vg_sdp_media_to_track(&back->media[i], &t), 0);
    assert_same_track(&tracks[i], &t);
    assert_int_equal(vg_sdp_control_track_index(back->media[i].control), i);
    vg_track_clear(&t);
  }
  assert_int_equal(vg_sdp_write(tracks, pts, 6, &opts, out, 300), VG_ETOOBIG);
  vg_track_t bad = {.codec = VG_CODEC_NONE};
  assert_int_equal(vg_sdp_write(&bad, pts, 1, NULL, out, sizeof(out)), VG_EUNSUPPORTED);
  int bad_pt = 128;
  assert_int_equal(vg_sdp_write(tracks, &bad_pt, 1, NULL, out, sizeof(out)), VG_EINVAL);

  /* A video track whose parameter sets come in-band: no sprop at all. */
  vg_track_t bare = {.codec = VG_CODEC_H264, .clock_rate = 90000};
  n = vg_sdp_write(&bare, pts, 1, NULL, out, sizeof(out));
  assert_true(n > 0);
  assert_null(strstr(out, "sprop"));
  assert_non_null(strstr(out, "c=IN IP4 0.0.0.0\r\n"));
  for (int i = 0; i < 6; i++)
    vg_track_clear(&tracks[i]);
  free(back);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ffmpeg_h264),
      cmocka_unit_test(test_ffmpeg_h265),
      cmocka_unit_test(test_ffmpeg_audio),
      cmocka_unit_test(test_hikvision_style),
      cmocka_unit_test(test_axis_style),
      cmocka_unit_test(test_dahua_style_relative_controls),
      cmocka_unit_test(test_control_track_index),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_write_then_parse_roundtrip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
