/*
 * The ingest harness: runs camera sources the way `vigil run` will, and
 * reports what they do, for the black-box tests in tests/integration
 * (test_ingest.py, test_http_sources.py) until `vigil run` has its API.
 *
 *   test_rtsp_source_harness --harness [--dump ID=FILE]... CAMERA_JSON...
 *
 * starts two workers, adds each camera (a JSON object as in the config's
 * "cameras" array), reads every camera's hub, and prints one JSON line per
 * camera every 100 ms: state, reason, counters, tracks, and what the hub
 * reader saw (frames, key frames, malformed access units). --dump writes
 * the camera's video track to FILE as an elementary stream (Annex B for
 * H.264/H.265, concatenated JPEGs for JPEG) so a test can decode it with
 * ffprobe. It runs until stdin closes or SIGTERM.
 *
 * Without --harness it is a cmocka unit test of the life cycle around the
 * sources: a camera whose port refuses goes offline with a reason and
 * retries, and one that never answers times out; both stop cleanly.
 */
/* cmocka needs these first, in this order. */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "ingest/camera.h"
#include "ingest/http_source.h"
#include "ingest/rtsp_source.h"
#include "media/nal.h"
#include "net/worker.h"

#define MAX_CAMS 16

typedef struct {
  char id[64];
  vg_hub_t *hub;
  vg_hub_reader_t *reader;
  vg_track_t tracks[VG_MAX_TRACKS];
  int n_tracks;
  uint64_t read_frames, read_keys, bad_au;
  FILE *dump;
} watched_t;

static watched_t cams[MAX_CAMS];
static int n_cams;
static volatile sig_atomic_t quit;

static void on_signal(int sig) { quit = 1; }

static void register_sources(void) {
  vg_source_register(VG_SOURCE_RTSP, &vg_rtsp_source_ops);
  vg_source_register(VG_SOURCE_SNAPSHOT, &vg_snapshot_source_ops);
  vg_source_register(VG_SOURCE_MJPEG, &vg_mjpeg_source_ops);
}

static int add_camera_json(const char *text) {
  vg_cfg_t c = {0};
  json_t *root = NULL;
  vg_camera_config_t cfg;
  if (vg_cfg_load_string(&c, text, &root) != 0 || vg_camera_config_parse(&c, root, &cfg) != 0) {
    fprintf(stderr, "bad camera %s: %s\n", c.err_path, c.err_reason);
    json_decref(root);
    return -1;
  }
  json_decref(root);
  int r = vg_camera_add(&cfg, NULL);
  if (r < 0) return r;
  if (n_cams < MAX_CAMS) snprintf(cams[n_cams++].id, sizeof(cams[0].id), "%s", cfg.id);
  return 0;
}

static void dump_frame(watched_t *w, const vg_frame_t *f) {
  if (!w->dump || f->track >= w->n_tracks) return;
  const vg_track_t *t = &w->tracks[f->track];
  if (t->codec == VG_CODEC_JPEG) {
    fwrite(f->data, 1, f->len, w->dump);
  } else if (vg_codec_is_video(t->codec)) {
    vg_buf_t *annexb = NULL;
    if (t->extradata && (f->flags & VG_FRAME_KEY) &&
        vg_nal_lp_to_annexb(t->extradata->data, t->extradata->len, &annexb) == 0) {
      fwrite(annexb->data, 1, annexb->len, w->dump);
      vg_buf_unref(&annexb);
    }
    if (vg_nal_lp_to_annexb(f->data, f->len, &annexb) == 0) {
      fwrite(annexb->data, 1, annexb->len, w->dump);
      vg_buf_unref(&annexb);
    }
  }
  fflush(w->dump);
}

static void check_frame(watched_t *w, const vg_frame_t *f) {
  w->read_frames++;
  if (f->flags & VG_FRAME_KEY) w->read_keys++;
  if (f->track < w->n_tracks && vg_codec_is_video(w->tracks[f->track].codec)) {
    /* Access units must be well-formed length-prefixed NAL units. */
    size_t pos = 0;
    const uint8_t *nal;
    size_t nal_len;
    int r, n = 0;
    while ((r = vg_nal_lp_next(f->data, f->len, &pos, &nal, &nal_len)) == 1)
      n++;
    if (r < 0 || n == 0) w->bad_au++;
  }
  dump_frame(w, f);
}

static void drain(watched_t *w) {
  if (!w->hub) w->hub = vg_hub_find(w->id);
  if (!w->hub) return;
  if (!w->reader &&
      vg_hub_open_reader(w->hub, &(vg_hub_reader_opts_t){.queue_frames = 1024}, &w->reader) != 0)
    return;
  for (;;) {
    vg_frame_t f;
    int r = vg_hub_read(w->reader, &f);
    if (r == VG_ESTATE) {
      for (int i = 0; i < w->n_tracks; i++)
        vg_track_clear(&w->tracks[i]);
      w->n_tracks = vg_hub_reader_tracks(w->reader, w->tracks, VG_MAX_TRACKS);
      continue;
    }
    if (r != 0) break;
    check_frame(w, &f);
    vg_frame_unref(&f);
  }
}

static void print_camera(const vg_camera_info_t *info, void *opaque) {
  watched_t *w = NULL;
  for (int i = 0; i < n_cams; i++)
    if (strcmp(cams[i].id, info->id) == 0) w = &cams[i];
  json_t *tracks = json_array();
  for (int i = 0; i < info->track_count; i++) {
    const vg_track_t *t = &info->tracks[i];
    json_array_append_new(tracks,
                          json_pack("{s:s, s:i, s:i, s:f, s:i, s:i, s:i}", "codec", vg_codec_name(t->codec),
                                    "width", t->width, "height", t->height, "fps", t->fps, "clock_rate",
                                    (int)t->clock_rate, "sample_rate", t->sample_rate, "extradata",
                                    t->extradata ? (int)t->extradata->len : 0));
  }
  json_t *o =
      json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:I}", "id", info->id,
                "state", vg_camera_state_name(info->state), "reason", info->reason, "last_error",
                info->last_error, "frames", (json_int_t)info->frames, "bytes", (json_int_t)info->bytes,
                "rtp_packets", (json_int_t)info->rtp_packets, "rtp_lost", (json_int_t)info->rtp_lost,
                "reconnects", (json_int_t)info->reconnects, "errors", (json_int_t)info->errors, "tracks",
                tracks, "read_frames", (json_int_t)(w ? w->read_frames : 0), "read_keys",
                (json_int_t)(w ? w->read_keys : 0), "bad_au", (json_int_t)(w ? w->bad_au : 0));
  char *s = json_dumps(o, JSON_COMPACT);
  printf("%s\n", s);
  free(s);
  json_decref(o);
}

static int run_harness(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  const char *level = getenv("VG_LOG_LEVEL");
  vg_log_level_t lv;
  if (level && vg_log_parse_level(level, &lv) == 0) vg_log_set_level(lv);
  register_sources();
  vg_workers_start(2);
  const char *dumps[MAX_CAMS][2];
  int n_dumps = 0;
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc) {
      char *eq = strchr(argv[++i], '=');
      if (eq && n_dumps < MAX_CAMS) {
        *eq = 0;
        dumps[n_dumps][0] = argv[i];
        dumps[n_dumps++][1] = eq + 1;
      }
      continue;
    }
    if (add_camera_json(argv[i]) != 0) return 2;
  }
  for (int d = 0; d < n_dumps; d++)
    for (int i = 0; i < n_cams; i++)
      if (strcmp(cams[i].id, dumps[d][0]) == 0) cams[i].dump = fopen(dumps[d][1], "wb");
  setvbuf(stdout, NULL, _IOLBF, 0);
  while (!quit) {
    struct pollfd p = {.fd = 0, .events = POLLIN};
    if (poll(&p, 1, 100) > 0) {
      char b[64];
      if (read(0, b, sizeof(b)) <= 0) break;
    }
    for (int i = 0; i < n_cams; i++)
      drain(&cams[i]);
    vg_cameras_foreach(print_camera, NULL);
  }
  vg_cameras_stop_all();
  for (int i = 0; i < n_cams; i++) {
    vg_hub_close_reader(&cams[i].reader);
    vg_hub_unref(&cams[i].hub);
    for (int t = 0; t < cams[i].n_tracks; t++)
      vg_track_clear(&cams[i].tracks[t]);
    if (cams[i].dump) fclose(cams[i].dump);
  }
  vg_workers_stop();
  printf("{\"stopped\":true}\n");
  return 0;
}

/* ---- unit tests --------------------------------------------------------- */

static int wait_state(const char *id, vg_camera_state_t want, int ms, vg_camera_info_t *info) {
  for (int t = 0; t < ms; t += 10) {
    if (vg_camera_get_info(id, info) == 0) {
      int ok = info->state == want && (want != VG_CAM_OFFLINE || info->reason[0]);
      if (ok) return 0;
      vg_camera_info_clear(info);
    }
    usleep(10000);
  }
  return -1;
}

/* A listening socket that never accepts: connects complete in the kernel
 * backlog, but nothing is ever sent back. */
static int silent_listener(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  bind(fd, (struct sockaddr *)&a, sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, (struct sockaddr *)&a, &len);
  listen(fd, 8);
  *port = ntohs(a.sin_port);
  return fd;
}

static int closed_port(void) {
  int fd, port;
  fd = silent_listener(&port);
  close(fd);
  return port;
}

static void add(const char *fmt, ...) {
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  assert_int_equal(add_camera_json(text), 0);
}

static void test_refused_and_silent_cameras(void **state) {
  int silent_port, refused = closed_port();
  int silent_fd = silent_listener(&silent_port);
  vg_log_set_level(VG_LOG_ERROR);
  register_sources();
  assert_int_equal(vg_workers_start(2), 0);
  add("{\"id\":\"refused\",\"url\":\"rtsp://127.0.0.1:%d/x\",\"backoff_min_ms\":50,\"backoff_max_ms\":100}",
      refused);
  add("{\"id\":\"silent\",\"url\":\"rtsp://127.0.0.1:%d/"
      "x\",\"read_timeout_ms\":300,\"connect_timeout_ms\":300}",
      silent_port);
  add("{\"id\":\"snap\",\"type\":\"snapshot\",\"url\":\"http://127.0.0.1:%d/a.jpg\",\"read_timeout_ms\":300}",
      silent_port);
  add("{\"id\":\"tls\",\"type\":\"mjpeg\",\"url\":\"https://127.0.0.1:%d/\"}", refused);
  vg_camera_info_t info;
  assert_int_equal(wait_state("refused", VG_CAM_OFFLINE, 3000, &info), 0);
  assert_non_null(strstr(info.reason, "refused"));
  vg_camera_info_clear(&info);
  /* It keeps retrying. */
  for (int t = 0; t < 300 && (vg_camera_get_info("refused", &info), info.reconnects < 2); t++)
    usleep(10000);
  assert_true(info.reconnects >= 2);
  assert_int_equal(wait_state("silent", VG_CAM_OFFLINE, 3000, &info), 0);
  assert_non_null(strstr(info.reason, "ms"));
  vg_camera_info_clear(&info);
  assert_int_equal(wait_state("snap", VG_CAM_OFFLINE, 3000, &info), 0);
  assert_non_null(strstr(info.reason, "no media for 300 ms"));
  assert_int_equal(wait_state("tls", VG_CAM_OFFLINE, 3000, &info), 0);
  assert_non_null(strstr(info.reason, "https"));
  vg_cameras_stop_all();
  vg_workers_stop();
  close(silent_fd);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--harness") == 0) return run_harness(argc, argv);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_refused_and_silent_cameras)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
