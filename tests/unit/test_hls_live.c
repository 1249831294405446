/*
 * test_hls_live.c: the LL-HLS live view without sockets, on a real encoded
 * clip with audio (H.264 + AAC) pushed into a registered hub: parts within
 * the part target that add up to their segment in duration and bytes, the
 * playlist's LL-HLS tags, a blocking reload held as a deferred answer
 * until the worker publishes the part (and wakes the server), the hinted
 * part held the same way, and the 400s of requests too far ahead. Then the
 * same through the real HTTP server on a socket: held reloads answered
 * with a Content-Length one after another on one kept-alive connection,
 * HEAD, and a client that goes away while its request is held.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api.h"
#include "api/http_server.h"
#include "base/error.h"
#include "base/time.h"
#include "live/hls_live.h"
#include "net/worker.h"
#include "sim/clip.h"
#include "stream/hub.h"

#define CAM "camH"

static vg_clip_t *clip;
static vg_hub_t *hub;
static int pushed; /* frames of the looped clip pushed so far */
static atomic_int wakes;

static void count_wake(void *opaque) {
  (void)opaque;
  atomic_fetch_add(&wakes, 1);
}

/* Pushes the next n frames of the clip, looped, at their due time's pace
 * compressed to nothing (the hub does not care about wall time). */
static void push(int n) {
  for (int i = 0; i < n; i++, pushed++) {
    size_t k = (size_t)pushed % clip->frame_count;
    int64_t loop = pushed / (int64_t)clip->frame_count;
    vg_frame_t f = clip->frames[k].frame;
    f.pts += loop * clip->period_pts[f.track];
    f.utc_us = vg_time_utc_us();
    vg_hub_push(hub, &f);
  }
}

/* GET path?query through the API's router; the body as text (a streamed
 * body read to its end), the status in *status. */
static char *get(const char *path, const char *query, int *status, size_t *len) {
  vg_http_request_t req = {.method = "GET", .path = path, .query = query ? query : ""};
  vg_http_response_t res;
  vg_http_response_init(&res);
  vg_api_dispatch(&req, &res);
  *status = res.status;
  size_t cap = 1 << 20, n = 0;
  char *out = malloc(cap + 1);
  assert_non_null(out);
  if (res.stream && res.stream->length == VG_HTTP_STREAM_DEFERRED) {
    /* A held request (the first playlist of a session): settled as the
     * server would after a wake, then read as a plain stream. */
    int ready = 0;
    for (int i = 0; i < 3000 && !ready; i++) {
      ready = res.stream->settle(res.stream, status, &res.content_type);
      if (!ready) usleep(1000);
    }
    assert_int_equal(ready, 1);
  }
  if (res.stream) {
    long got;
    while (n < res.stream->length && (got = res.stream->read(res.stream, (uint8_t *)out + n, cap - n)) > 0)
      n += (size_t)got;
    assert_int_equal(n, res.stream->length);
  } else {
    memcpy(out, res.body.data ? res.body.data : "", res.body.len);
    n = res.body.len;
  }
  out[n] = '\0';
  if (len) *len = n;
  vg_http_response_free(&res);
  return out;
}

/* Waits (up to 5 s) until the playlist holds text. */
static char *playlist_with(const char *text) {
  for (int i = 0; i < 500; i++) {
    int status;
    char *p = get("/api/v1/cameras/" CAM "/live.m3u8", NULL, &status, NULL);
    assert_int_equal(status, 200);
    if (strstr(p, text)) return p;
    free(p);
    usleep(10000);
  }
  fail_msg("the playlist never held %s", text);
  return NULL;
}

/* The playlist once the worker has muxed everything pushed (two reads
 * 50 ms apart agree). */
static char *settled_playlist(void) {
  int status;
  char *p = get("/api/v1/cameras/" CAM "/live.m3u8", NULL, &status, NULL);
  for (int i = 0; i < 100; i++) {
    usleep(50000);
    char *again = get("/api/v1/cameras/" CAM "/live.m3u8", NULL, &status, NULL);
    int same = strcmp(p, again) == 0;
    free(p);
    p = again;
    if (same && strstr(p, "#EXT-X-PRELOAD-HINT")) return p;
  }
  fail_msg("the playlist did not settle");
  return NULL;
}

/* The hint's msn and part. */
static void hint_of(const char *playlist, unsigned long long *msn, int *part) {
  const char *h = strstr(playlist, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"live/");
  assert_non_null(h);
  assert_int_equal(sscanf(h + strlen("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"live/"), "%llu.%d", msn, part), 2);
}

static void test_parts_add_up(void **state) {
  (void)state;
  push(40); /* the first keyframe and most of a GOP: the first segment */
  char *p = playlist_with("#EXTINF:");
  assert_non_null(strstr(p, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600\n"));
  assert_non_null(strstr(p, "#EXT-X-PART-INF:PART-TARGET=0.200\n"));
  assert_non_null(strstr(p, "#EXT-X-MAP:URI=\"live/init.mp4\"\n"));
  assert_non_null(strstr(p, "#EXT-X-PROGRAM-DATE-TIME:"));
  free(p);
  push(220); /* about three more GOPs of 1 s with their audio */
  p = playlist_with("live/3.m4s");
  /* Every complete segment listed with its parts: durations within the
   * target, their sum the segment's; its bytes its parts' bytes. */
  int checked = 0;
  for (const char *seg = strstr(p, "#EXT-X-PART:"); seg; seg = strstr(seg, "#EXT-X-PART:")) {
    double sum = 0;
    unsigned long long msn = 0;
    int parts = 0;
    size_t joined_len = 0;
    char *joined = malloc(1 << 20);
    while (strncmp(seg, "#EXT-X-PART:", 12) == 0) {
      double d;
      int part;
      assert_int_equal(sscanf(seg, "#EXT-X-PART:DURATION=%lf,URI=\"live/%llu.%d.m4s\"", &d, &msn, &part), 3);
      assert_int_equal(part, parts);
      assert_true(d > 0 && d <= 0.2 + 1e-9);
      sum += d;
      char path[128];
      snprintf(path, sizeof(path), "/api/v1/cameras/" CAM "/live/%llu.%d.m4s", msn, part);
      int status;
      size_t n;
      char *b = get(path, NULL, &status, &n);
      assert_int_equal(status, 200);
      assert_memory_equal(b + 4, "moof", 4);
      memcpy(joined + joined_len, b, n);
      joined_len += n;
      free(b);
      parts++;
      seg = strchr(seg, '\n') + 1;
    }
    if (strncmp(seg, "#EXTINF:", 8) == 0) {
      double extinf = atof(seg + 8);
      assert_true(extinf - sum < 1e-4 && sum - extinf < 1e-4);
      char path[128];
      snprintf(path, sizeof(path), "/api/v1/cameras/" CAM "/live/%llu.m4s", msn);
      int status;
      size_t n;
      char *whole = get(path, NULL, &status, &n);
      assert_int_equal(status, 200);
      assert_int_equal(n, joined_len);
      assert_memory_equal(whole, joined, n);
      free(whole);
      checked++;
    }
    free(joined);
  }
  assert_true(checked >= 2);
  free(p);
}

static void test_blocking_reload(void **state) {
  (void)state;
  char *p = settled_playlist();
  unsigned long long msn;
  int part;
  hint_of(p, &msn, &part);
  free(p);
  /* Asking for the hinted part: a deferred answer that is not ready until
   * the part is published. */
  char query[64];
  snprintf(query, sizeof(query), "_HLS_msn=%llu&_HLS_part=%d", msn, part);
  vg_http_request_t req = {.method = "GET", .path = "/api/v1/cameras/" CAM "/live.m3u8", .query = query};
  vg_http_response_t res;
  vg_http_response_init(&res);
  vg_api_dispatch(&req, &res);
  assert_non_null(res.stream);
  assert_true(res.stream->length == VG_HTTP_STREAM_DEFERRED);
  atomic_store(&wakes, 0);
  res.stream->set_wake(res.stream, count_wake, NULL);
  uint8_t buf[16384];
  int status = 0;
  const char *type = NULL;
  assert_int_equal(res.stream->settle(res.stream, &status, &type), 0);
  /* The hinted part itself, held the same way. */
  char path[128];
  snprintf(path, sizeof(path), "/api/v1/cameras/" CAM "/live/%llu.%d.m4s", msn, part);
  vg_http_request_t preq = {.method = "GET", .path = path, .query = ""};
  vg_http_response_t pres;
  vg_http_response_init(&pres);
  vg_api_dispatch(&preq, &pres);
  assert_non_null(pres.stream);
  assert_true(pres.stream->length == VG_HTTP_STREAM_DEFERRED);
  pres.stream->set_wake(pres.stream, count_wake, NULL);
  assert_int_equal(pres.stream->settle(pres.stream, &status, &type), 0);
  /* Frames come: the worker wakes the server, and settle answers 200 with
   * the playlist's exact length. */
  int ready = 0;
  for (int i = 0; i < 500 && !ready; i++) {
    push(2);
    usleep(10000);
    if (atomic_load(&wakes) > 0) ready = res.stream->settle(res.stream, &status, &type);
  }
  assert_int_equal(ready, 1);
  assert_int_equal(status, 200);
  assert_string_equal(type, "application/vnd.apple.mpegurl");
  assert_true(res.stream->length > 0 && res.stream->length < sizeof(buf));
  long got = res.stream->read(res.stream, buf, sizeof(buf) - 1);
  assert_int_equal(got, (long)res.stream->length);
  buf[got] = 0;
  char want[64];
  snprintf(want, sizeof(want), "URI=\"live/%llu.%d.m4s\"", msn, part);
  char next[64];
  snprintf(next, sizeof(next), "live/%llu.m4s\n", msn);
  assert_true(strstr((char *)buf, want) || strstr((char *)buf, next));
  vg_http_response_free(&res);
  /* The part: its bytes, or 404 when its segment ended before it. */
  for (int i = 0; i < 500 && !(ready = pres.stream->settle(pres.stream, &status, &type)); i++) {
    push(1);
    usleep(10000);
  }
  assert_int_equal(ready, 1);
  got = pres.stream->read(pres.stream, buf, sizeof(buf));
  assert_int_equal(got, (long)pres.stream->length);
  if (status == 200)
    assert_memory_equal(buf + 4, "moof", 4);
  else
    assert_int_equal(status, 404);
  vg_http_response_free(&pres);

  /* A client that goes away while held: closing the stream unregisters it. */
  p = settled_playlist();
  hint_of(p, &msn, &part);
  free(p);
  snprintf(query, sizeof(query), "_HLS_msn=%llu&_HLS_part=%d", msn + 1, part);
  vg_http_response_init(&res);
  vg_api_dispatch(&req, &res);
  assert_non_null(res.stream);
  vg_http_response_free(&res);
  push(10);
}

static void test_bad_requests(void **state) {
  (void)state;
  char *p = settled_playlist();
  unsigned long long msn;
  int part;
  hint_of(p, &msn, &part);
  free(p);
  char far_msn[64], far_part[64];
  snprintf(far_msn, sizeof(far_msn), "_HLS_msn=%llu", msn + 3);
  snprintf(far_part, sizeof(far_part), "_HLS_msn=%llu&_HLS_part=%d", msn, part + 16);
  const char *bad[] = {far_msn,
                       far_part,
                       "_HLS_part=1",
                       "_HLS_msn=x",
                       "_HLS_msn=1&_HLS_part=-2",
                       "_HLS_msn=99999999999999999999"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int status;
    free(get("/api/v1/cameras/" CAM "/live.m3u8", bad[i], &status, NULL));
    assert_int_equal(status, 400);
  }
  /* An old segment asked for answers at once with the playlist. */
  int status;
  p = get("/api/v1/cameras/" CAM "/live.m3u8", "_HLS_msn=0&_HLS_part=0", &status, NULL);
  assert_int_equal(status, 200);
  assert_non_null(strstr(p, "#EXTM3U"));
  free(p);
  const char *missing[] = {"live/999.0.m4s", "live/0.x.m4s", "live/7", "live/1.9999.m4s", "live/abc.m4s"};
  for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/cameras/" CAM "/%s", missing[i]);
    free(get(path, NULL, &status, NULL));
    assert_int_equal(status, 404);
  }
  free(get("/api/v1/cameras/nope/live.m3u8", NULL, &status, NULL));
  assert_int_equal(status, 404);
}

static int setup(void **state) {
  (void)state;
  vg_clip_params_t p;
  vg_clip_params_defaults(&p);
  p.width = 320;
  p.height = 240;
  p.fps = 25;
  p.gop = 25;
  p.duration_s = 2;
  p.bitrate_kbps = 300;
  p.audio = VG_CODEC_AAC;
  assert_int_equal(vg_clip_encode(&p, &clip), 0);
  assert_int_equal(vg_workers_start(1), 0);
  hub = vg_hub_new(CAM);
  assert_int_equal(vg_hub_register(hub), 0);
  assert_int_equal(vg_hub_set_tracks(hub, clip->tracks, clip->track_count), 0);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  vg_hls_stop_all();
  vg_workers_stop();
  vg_hub_unregister(hub);
  vg_hub_unref(&hub);
  vg_clip_free(&clip);
  return 0;
}

/* ---- through the HTTP server ---- */

static atomic_int feeding;

/* The camera: a frame every 40 ms, as at 25 fps. */
static void *feeder(void *arg) {
  (void)arg;
  while (atomic_load(&feeding)) {
    push(1);
    usleep(40000);
  }
  return NULL;
}

static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  struct timeval tv = {.tv_sec = 10};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

/* Sends a request on fd and reads its response: the status, and the body
 * of exactly Content-Length bytes (which the response must have; none is
 * read for HEAD) into body. Returns the Content-Length. */
static long http_exchange(int fd, const char *method, const char *target, int *status, char *body,
                          size_t cap) {
  char req[512];
  int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: localhost\r\n\r\n", method, target);
  assert_int_equal(write(fd, req, (size_t)n), n);
  char head[8192];
  size_t got = 0;
  char *end = NULL;
  while (!end) {
    assert_true(got < sizeof(head) - 1);
    ssize_t r = read(fd, head + got, 1); /* byte by byte: nothing of the body is taken */
    assert_true(r == 1);
    got++;
    head[got] = '\0';
    end = got >= 4 ? strstr(head, "\r\n\r\n") : NULL;
  }
  assert_int_equal(sscanf(head, "HTTP/1.1 %d", status), 1);
  const char *cl = strcasestr(head, "\r\ncontent-length:");
  assert_non_null(cl);
  assert_null(strcasestr(head, "connection: close"));
  long length = strtol(cl + strlen("\r\ncontent-length:"), NULL, 10);
  if (strcmp(method, "HEAD") == 0) return length;
  assert_true(length >= 0 && (size_t)length < cap);
  for (long off = 0; off < length;) {
    ssize_t r = read(fd, body + off, (size_t)(length - off));
    assert_true(r > 0);
    off += r;
  }
  body[length] = '\0';
  return length;
}

static void test_deferred_over_http(void **state) {
  (void)state;
  vg_http_config_t cfg;
  vg_http_config_defaults(&cfg);
  snprintf(cfg.bind, sizeof(cfg.bind), "127.0.0.1");
  snprintf(cfg.web_root, sizeof(cfg.web_root), "/nonexistent-web-root");
  vg_http_server_t *srv = NULL;
  int rc = -1;
  for (int i = 0; i < 20 && rc != 0; i++) cfg.port = vg_test_port(), rc = vg_http_server_start(&cfg, &srv);
  assert_int_equal(rc, 0);
  atomic_store(&feeding, 1);
  pthread_t feed_thread;
  assert_int_equal(pthread_create(&feed_thread, NULL, feeder, NULL), 0);

  static char body[1 << 20];
  int status, fd = connect_to(cfg.port);
  http_exchange(fd, "GET", "/api/v1/cameras/" CAM "/live.m3u8", &status, body, sizeof(body));
  assert_int_equal(status, 200);
  unsigned long long msn;
  int part;
  hint_of(body, &msn, &part);
  /* Held reloads one after the other on the one connection: each is a
   * whole response with a Content-Length, holding the part asked for. */
  for (int i = 0; i < 3; i++) {
    char target[160], want[64], whole[64];
    snprintf(target, sizeof(target), "/api/v1/cameras/" CAM "/live.m3u8?_HLS_msn=%llu&_HLS_part=%d", msn,
             part);
    int64_t t0 = vg_time_mono_us();
    long len = http_exchange(fd, "GET", target, &status, body, sizeof(body));
    int64_t took_ms = (vg_time_mono_us() - t0) / 1000;
    assert_int_equal(status, 200);
    assert_true(len > 0 && took_ms < 2000);
    snprintf(want, sizeof(want), "URI=\"live/%llu.%d.m4s\"", msn, part);
    snprintf(whole, sizeof(whole), "live/%llu.m4s\n", msn);
    assert_true(strstr(body, want) || strstr(body, whole));
    hint_of(body, &msn, &part);
  }
  /* HEAD waits as GET does and sends the head only; the connection then
   * serves the next request. */
  char target[160];
  snprintf(target, sizeof(target), "/api/v1/cameras/" CAM "/live.m3u8?_HLS_msn=%llu&_HLS_part=%d", msn, part);
  assert_true(http_exchange(fd, "HEAD", target, &status, body, sizeof(body)) > 0);
  assert_int_equal(status, 200);
  http_exchange(fd, "GET", "/api/v1/cameras/" CAM "/live.m3u8", &status, body, sizeof(body));
  assert_int_equal(status, 200);
  assert_non_null(strstr(body, "#EXT-X-PRELOAD-HINT"));
  hint_of(body, &msn, &part);
  /* The hinted part on the same connection: its bytes with their length. */
  snprintf(target, sizeof(target), "/api/v1/cameras/" CAM "/live/%llu.%d.m4s", msn, part);
  long len = http_exchange(fd, "GET", target, &status, body, sizeof(body));
  assert_true(status == 200 || status == 404);
  if (status == 200) assert_true(len > 8 && memcmp(body + 4, "moof", 4) == 0);
  close(fd);

  /* Clients that go away while their requests are held: the server closes
   * their streams (the parts they wait for come later and find no one). */
  for (int i = 0; i < 3; i++) {
    fd = connect_to(cfg.port);
    snprintf(target, sizeof(target), "/api/v1/cameras/" CAM "/live.m3u8?_HLS_msn=%llu", msn + 1);
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", target);
    assert_int_equal(write(fd, req, (size_t)n), n);
    usleep(50000);
    close(fd);
  }
  usleep(1500000); /* the segment comes, and a few settle polls */
  fd = connect_to(cfg.port);
  http_exchange(fd, "GET", "/api/v1/cameras/" CAM "/live.m3u8", &status, body, sizeof(body));
  assert_int_equal(status, 200);
  close(fd);

  atomic_store(&feeding, 0);
  pthread_join(feed_thread, NULL);
  vg_http_server_stop(&srv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parts_add_up),
      cmocka_unit_test(test_blocking_reload),
      cmocka_unit_test(test_bad_requests),
      cmocka_unit_test(test_deferred_over_http),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
