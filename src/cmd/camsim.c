/* camsim.c: `vigil camsim`: many simulated cameras served over RTSP.
 *
 * One clip is encoded at start-up (sim/clip.h) and every camera loops it
 * through its own stream hub, named cam1..camN, from one player per worker
 * (sim/player.h). vigil's RTSP server then serves those hubs like any other:
 * rtsp://HOST:PORT/cam1 .. camN. Fault specs make chosen cameras misbehave
 * the way real ones do (refuse, demand credentials, drop, stall, corrupt),
 * which is what ingest's tests need. With --onvif-port each camera is also
 * an ONVIF device (sim/onvif_device.h): discovery, media, PTZ, events. */
#include <getopt.h>
#include <jansson.h>
#include <libavutil/log.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/log.h"
#include "base/time.h"
#include "cmd/commands.h"
#include "live/rtsp_server.h"
#include "net/worker.h"
#include "sim/clip.h"
#include "sim/onvif_device.h"
#include "sim/player.h"
#include "sim/scene.h"
#include "stream/hub.h"

#define MAX_CAMERAS 100000
#define MAX_FAULT_PATHS 256

static const vg_log_ctx_t lg = {"camsim", NULL};

typedef struct {
  char path[32];
  vg_rtsp_path_faults_t faults;
} fault_entry_t;

typedef struct {
  vg_rtsp_server_config_t server;
  vg_clip_params_t clip;
  int cameras;
  int workers;
  fault_entry_t faults[MAX_FAULT_PATHS];
  int fault_count;
  vg_onvif_device_config_t onvif; /* port 0: no ONVIF devices */
  const char *scene;        /* a scene file instead of the pattern or a video */
  const char *ground_truth; /* where the scene's ground truth goes */
} camsim_options_t;

static void usage(FILE *out) {
  fprintf(out, "usage: vigil camsim [OPTIONS]\n\n"
               "Serves N simulated cameras over RTSP at rtsp://BIND:PORT/cam1 .. camN. One clip\n"
               "(a moving test pattern with a frame counter and clock, or a video file) is\n"
               "encoded once and looped by every camera, each starting at its own point in the\n"
               "clip so that keyframes are spread out. Timestamps keep increasing across loops.\n"
               "Prints 'camsim: serving ...' on stdout when ready; stops on SIGINT/SIGTERM.\n\n"
               "  -p, --port N           RTSP port (default 8554)\n"
               "  -b, --bind ADDR        address to listen on (default 127.0.0.1)\n"
               "  -n, --cameras N        number of cameras, cam1..camN (default 1)\n"
               "      --codec C          h264 or h265 (default h264)\n"
               "      --size WxH         picture size (default 1920x1080)\n"
               "      --fps N            frames per second (default 25)\n"
               "      --bitrate R        video bitrate: 2000k, 2M or bits/s (default 2000k)\n"
               "      --gop N            frames from keyframe to keyframe (default 50)\n"
               "      --source S         'pattern' (default) or a video file to loop\n"
               "      --duration-s S     clip length to encode and loop, rounded up to whole\n"
               "                         GOPs (default 4)\n"
               "      --audio A          none, aac (16 kHz mono tone) or pcmu (8 kHz G.711)\n"
               "                         (default none)\n"
               "      --cache-dir DIR    keep encoded clips there and reuse them on the next\n"
               "                         start with the same parameters; 'none' to always\n"
               "                         encode (default /tmp)\n"
               "      --workers N        I/O worker threads (default: one per CPU)\n"
               "      --fault SPEC       make one camera misbehave; repeatable, and several\n"
               "                         specs for one camera combine. SPEC is camK:FAULT with\n"
               "                         FAULT one of:\n"
               "                           refuse          close connections at once\n"
               "                           auth=USER:PASS  demand Digest credentials\n"
               "                           drop=MS         close each session MS after PLAY\n"
               "                           stall=MS        stop sending media MS after PLAY\n"
               "                           malformed=N     corrupt every Nth RTP packet\n"
               "      --onvif-port N     make each camera an ONVIF device: camK serves\n"
               "                         http://BIND:N+K-1/onvif/... (device, media 1/2, PTZ,\n"
               "                         events) and answers WS-Discovery probes\n"
               "      --onvif-user U:P   require a WS-UsernameToken with this user and password\n"
               "      --onvif-clock-offset S  the devices' clock runs S seconds off\n"
               "      --onvif-events S   raise a motion event every S seconds (default 10; 0: none)\n"
               "      --discovery-if A   interface address for WS-Discovery multicast (default:\n"
               "                         the bind address; 'none' to not answer)\n"
               "      --scene FILE       serve a scripted scene (docs/ANALYTICS.md): a background\n"
               "                         and sprites moving along waypoints, rendered and encoded\n"
               "                         once; its size, fps, GOP and length replace those above\n"
               "      --ground-truth F   write the scene's ground truth (line crossings, zone\n"
               "                         entries and exits, and when the loop started) to F\n"
               "      --log-level L      error, warn, info (default), debug, trace\n"
               "  -h, --help             this help\n\n"
               "example: vigil camsim --cameras 100 --size 1280x720 --fault cam3:refuse\n");
}

/* "2000k", "2M", "2.5M" or plain bits per second -> kbit/s. */
static int parse_bitrate(const char *s, int *kbps) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || !(v > 0)) return VG_EINVAL;
  if (*end == 'k' || *end == 'K')
    end++;
  else if (*end == 'm' || *end == 'M')
    v *= 1000, end++;
  else
    v /= 1000;
  if (*end || v < 10 || v > 1000000) return VG_EINVAL;
  *kbps = (int)lround(v);
  return 0;
}

static int parse_int(const char *s, int min, int max, int *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (end == s || *end || v < min || v > max) return VG_EINVAL;
  *out = (int)v;
  return 0;
}

static int parse_size(const char *s, int *w, int *h) {
  char *end;
  long a = strtol(s, &end, 10);
  if (end == s || (*end != 'x' && *end != 'X')) return VG_EINVAL;
  const char *hs = end + 1;
  long b = strtol(hs, &end, 10);
  if (end == hs || *end || a < 16 || b < 16 || a > 8192 || b > 8192 || (a | b) & 1) return VG_EINVAL;
  *w = (int)a;
  *h = (int)b;
  return 0;
}

static fault_entry_t *fault_entry(camsim_options_t *o, const char *path, size_t len) {
  for (int i = 0; i < o->fault_count; i++)
    if (strlen(o->faults[i].path) == len && memcmp(o->faults[i].path, path, len) == 0) return &o->faults[i];
  if (o->fault_count == MAX_FAULT_PATHS || len == 0 || len >= sizeof(o->faults[0].path)) return NULL;
  fault_entry_t *e = &o->faults[o->fault_count++];
  memset(e, 0, sizeof(*e));
  memcpy(e->path, path, len);
  return e;
}

/* camK:refuse | camK:auth=USER:PASS | camK:drop=MS | camK:stall=MS | camK:malformed=N */
static int parse_fault(camsim_options_t *o, const char *spec) {
  const char *colon = strchr(spec, ':');
  if (!colon) return VG_EINVAL;
  fault_entry_t *e = fault_entry(o, spec, (size_t)(colon - spec));
  if (!e) return VG_EINVAL;
  const char *what = colon + 1;
  const char *eq = strchr(what, '=');
  const char *arg = eq ? eq + 1 : NULL;
  size_t name_len = eq ? (size_t)(eq - what) : strlen(what);
#define IS(name) (name_len == strlen(name) && strncmp(what, name, name_len) == 0)
  if (IS("refuse") && !arg) {
    e->faults.refuse = true;
    return 0;
  }
  if (IS("auth") && arg) {
    const char *sep = strchr(arg, ':');
    if (!sep || sep == arg || (size_t)(sep - arg) >= sizeof(e->faults.cred.user) ||
        strlen(sep + 1) >= sizeof(e->faults.cred.pass))
      return VG_EINVAL;
    e->faults.require_auth = true;
    memset(&e->faults.cred, 0, sizeof(e->faults.cred));
    memcpy(e->faults.cred.user, arg, (size_t)(sep - arg));
    strcpy(e->faults.cred.pass, sep + 1);
    return 0;
  }
  if (IS("drop") && arg) return parse_int(arg, 1, 86400000, &e->faults.drop_after_ms);
  if (IS("stall") && arg) return parse_int(arg, 1, 86400000, &e->faults.stall_after_ms);
  if (IS("malformed") && arg) return parse_int(arg, 1, 1000000, &e->faults.malformed_every);
#undef IS
  return VG_EINVAL;
}

static int parse_options(int argc, char **argv, camsim_options_t *o) {
  enum {
    O_CODEC = 256,
    O_SIZE,
    O_FPS,
    O_BITRATE,
    O_GOP,
    O_SOURCE,
    O_DURATION,
    O_AUDIO,
    O_WORKERS,
    O_FAULT,
    O_LOG,
    O_CACHE,
    O_ONVIF_PORT,
    O_ONVIF_USER,
    O_ONVIF_CLOCK,
    O_ONVIF_EVENTS,
    O_DISCOVERY_IF,
    O_SCENE,
    O_TRUTH
  };
  static const struct option opts[] = {
      {"port", required_argument, NULL, 'p'},
      {"bind", required_argument, NULL, 'b'},
      {"cameras", required_argument, NULL, 'n'},
      {"codec", required_argument, NULL, O_CODEC},
      {"size", required_argument, NULL, O_SIZE},
      {"fps", required_argument, NULL, O_FPS},
      {"bitrate", required_argument, NULL, O_BITRATE},
      {"gop", required_argument, NULL, O_GOP},
      {"source", required_argument, NULL, O_SOURCE},
      {"duration-s", required_argument, NULL, O_DURATION},
      {"audio", required_argument, NULL, O_AUDIO},
      {"workers", required_argument, NULL, O_WORKERS},
      {"fault", required_argument, NULL, O_FAULT},
      {"log-level", required_argument, NULL, O_LOG},
      {"cache-dir", required_argument, NULL, O_CACHE},
      {"onvif-port", required_argument, NULL, O_ONVIF_PORT},
      {"onvif-user", required_argument, NULL, O_ONVIF_USER},
      {"onvif-clock-offset", required_argument, NULL, O_ONVIF_CLOCK},
      {"onvif-events", required_argument, NULL, O_ONVIF_EVENTS},
      {"discovery-if", required_argument, NULL, O_DISCOVERY_IF},
      {"scene", required_argument, NULL, O_SCENE},
      {"ground-truth", required_argument, NULL, O_TRUTH},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  memset(o, 0, sizeof(*o));
  vg_rtsp_server_config_defaults(&o->server);
  snprintf(o->server.bind, sizeof(o->server.bind), "127.0.0.1");
  o->server.port = 8554;
  o->server.allow_publish = false;
  snprintf(o->server.realm, sizeof(o->server.realm), "camsim");
  vg_clip_params_defaults(&o->clip);
  o->clip.cache_dir = "/tmp";
  o->cameras = 1;
  o->onvif.event_period_s = 10;
  const char *discovery_if = NULL;
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "p:b:n:h", opts, NULL)) != -1) {
    int bad = 0;
    switch (ch) {
    case 'p': bad = parse_int(optarg, 1, 65535, &o->server.port); break;
    case 'b':
      bad = strlen(optarg) >= sizeof(o->server.bind);
      if (!bad) snprintf(o->server.bind, sizeof(o->server.bind), "%s", optarg);
      break;
    case 'n': bad = parse_int(optarg, 1, MAX_CAMERAS, &o->cameras); break;
    case O_CODEC:
      if (strcmp(optarg, "h264") == 0)
        o->clip.codec = VG_CODEC_H264;
      else if (strcmp(optarg, "h265") == 0 || strcmp(optarg, "hevc") == 0)
        o->clip.codec = VG_CODEC_H265;
      else
        bad = 1;
      break;
    case O_SIZE: bad = parse_size(optarg, &o->clip.width, &o->clip.height); break;
    case O_FPS: bad = parse_int(optarg, 1, 120, &o->clip.fps); break;
    case O_BITRATE: bad = parse_bitrate(optarg, &o->clip.bitrate_kbps); break;
    case O_GOP: bad = parse_int(optarg, 1, 10000, &o->clip.gop); break;
    case O_SOURCE: o->clip.source = optarg; break;
    case O_DURATION: {
      char *end;
      o->clip.duration_s = strtod(optarg, &end);
      bad = end == optarg || *end || !(o->clip.duration_s > 0) || o->clip.duration_s > 600;
      break;
    }
    case O_AUDIO:
      if (strcmp(optarg, "none") == 0)
        o->clip.audio = VG_CODEC_NONE;
      else if (strcmp(optarg, "aac") == 0)
        o->clip.audio = VG_CODEC_AAC;
      else if (strcmp(optarg, "pcmu") == 0)
        o->clip.audio = VG_CODEC_PCMU;
      else
        bad = 1;
      break;
    case O_CACHE: o->clip.cache_dir = strcmp(optarg, "none") == 0 ? NULL : optarg; break;
    case O_WORKERS: bad = parse_int(optarg, 0, 256, &o->workers); break;
    case O_FAULT: bad = parse_fault(o, optarg); break;
    case O_ONVIF_PORT: bad = parse_int(optarg, 1, 65535, &o->onvif.port); break;
    case O_ONVIF_USER: {
      const char *colon = strchr(optarg, ':');
      bad = !colon || colon == optarg || (size_t)(colon - optarg) >= sizeof(o->onvif.username) ||
            strlen(colon + 1) >= sizeof(o->onvif.password);
      if (!bad) {
        snprintf(o->onvif.username, sizeof(o->onvif.username), "%.*s", (int)(colon - optarg), optarg);
        snprintf(o->onvif.password, sizeof(o->onvif.password), "%s", colon + 1);
      }
      break;
    }
    case O_ONVIF_CLOCK: bad = parse_int(optarg, -100000000, 100000000, &o->onvif.clock_offset_s); break;
    case O_ONVIF_EVENTS: bad = parse_int(optarg, 0, 86400, &o->onvif.event_period_s); break;
    case O_DISCOVERY_IF:
      bad = strlen(optarg) >= sizeof(o->onvif.discovery_if);
      discovery_if = optarg;
      break;
    case O_SCENE: o->scene = optarg; break;
    case O_TRUTH: o->ground_truth = optarg; break;
    case O_LOG: {
      vg_log_level_t level;
      bad = vg_log_parse_level(optarg, &level);
      if (!bad) vg_log_set_level(level);
      break;
    }
    case 'h': usage(stdout); return 1;
    default: usage(stderr); return 2;
    }
    if (bad) {
      const char *name = "?";
      for (const struct option *op = opts; op->name; op++)
        if (op->val == ch) name = op->name;
      fprintf(stderr, "vigil camsim: invalid value '%s' for --%s (see --help)\n", optarg, name);
      return 2;
    }
  }
  if (o->ground_truth && !o->scene) {
    fprintf(stderr, "vigil camsim: --ground-truth needs --scene\n");
    return 2;
  }
  if (optind < argc) {
    fprintf(stderr, "vigil camsim: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (o->onvif.port) {
    if (o->onvif.port + o->cameras - 1 > 65535) {
      fprintf(stderr, "vigil camsim: --onvif-port %d leaves no port for cam%d\n", o->onvif.port, o->cameras);
      return 2;
    }
    snprintf(o->onvif.bind, sizeof(o->onvif.bind), "%s", o->server.bind);
    if (!discovery_if) discovery_if = o->server.bind;
    snprintf(o->onvif.discovery_if, sizeof(o->onvif.discovery_if), "%s",
             strcmp(discovery_if, "none") == 0 ? "" : discovery_if);
    o->onvif.cameras = o->cameras;
    o->onvif.rtsp_port = o->server.port;
  }
  return 0;
}

/* Where camera i starts in the clip: the fractional parts of multiples of
 * the golden ratio spread any number of cameras evenly over the loop, and
 * with it their keyframes over the GOP. */
static int64_t camera_phase(int i, int64_t period_us) {
  double frac = fmod((double)i * 0.6180339887498949, 1.0);
  return (int64_t)(frac * (double)period_us);
}

typedef struct {
  vg_scene_t *scene;
  vg_clip_t *clip;
  vg_hub_t **hubs;
  int hub_count;
  vg_sim_player_t **players;
  int player_count;
  vg_rtsp_server_t *server;
  vg_onvif_devices_t *onvif;
  int workers_running;
} camsim_t;

static void camsim_stop(camsim_t *s) {
  vg_onvif_devices_stop(&s->onvif);
  vg_rtsp_server_stop(&s->server);
  uint64_t frames = 0, resyncs = 0;
  for (int i = 0; i < s->player_count; i++) {
    if (!s->players[i]) continue;
    vg_sim_player_stats_t st;
    vg_sim_player_stats(s->players[i], &st);
    frames += st.frames;
    resyncs += st.resyncs;
    vg_sim_player_free(&s->players[i]);
  }
  if (s->player_count)
    vg_log_info(&lg, "pushed %llu frames; %llu resyncs", (unsigned long long)frames,
                (unsigned long long)resyncs);
  for (int i = 0; i < s->hub_count; i++) {
    vg_hub_unregister(s->hubs[i]);
    vg_hub_unref(&s->hubs[i]);
  }
  if (s->workers_running) vg_workers_stop();
  free(s->players);
  free(s->hubs);
  vg_clip_free(&s->clip);
  vg_scene_free(&s->scene);
}

/* The clip: the scene rendered, or the pattern or a video file. */
static int make_clip(camsim_t *s, const camsim_options_t *o) {
  if (!o->scene) return vg_clip_encode(&o->clip, &s->clip);
  char err[512] = "";
  int ret = vg_scene_load(o->scene, &s->scene, err, sizeof(err));
  if (ret) {
    vg_log_error(&lg, "scene %s: %s", o->scene, err);
    return ret;
  }
  return vg_scene_encode(s->scene, &o->clip, &s->clip);
}

/* The ground truth of one loop, with the wall-clock time at which cam1's
 * first loop began and every camera's phase, so that a test can map the
 * time of any frame to scene time. */
static int write_ground_truth(const camsim_t *s, const camsim_options_t *o, int64_t start_utc_us) {
  json_t *gt = vg_scene_ground_truth(s->scene);
  if (!gt) return VG_ENOMEM;
  json_t *phases = json_object();
  for (int i = 0; i < o->cameras && i < 1000; i++) {
    char name[32];
    snprintf(name, sizeof(name), "cam%d", i + 1);
    json_object_set_new(phases, name, json_real((double)camera_phase(i, s->clip->period_us) / 1e6));
  }
  json_object_set_new(gt, "start_utc_us", json_integer(start_utc_us));
  json_object_set_new(gt, "phase_s", phases);
  json_object_set_new(gt, "scene", json_string(o->scene));
  char tmp[4096];
  snprintf(tmp, sizeof(tmp), "%s.tmp", o->ground_truth);
  int ret = json_dump_file(gt, tmp, JSON_INDENT(1)) == 0 && rename(tmp, o->ground_truth) == 0 ? 0 : VG_EIO;
  json_decref(gt);
  if (ret) vg_log_error(&lg, "cannot write %s", o->ground_truth);
  return ret;
}

static int camsim_start(camsim_t *s, const camsim_options_t *o) {
  int err = make_clip(s, o);
  if (err) {
    vg_log_error(&lg, "cannot encode the clip: %s", vg_strerror(err));
    return err;
  }
  vg_log_info(&lg, "%s %d %s frames %dx%d at %d fps (%.1f s, %.0f kB%s) in %.2f s",
              s->clip->from_cache ? "read the cached clip:" : "encoded", s->clip->video_frames,
              vg_codec_name(o->clip.codec), s->clip->tracks[0].width, s->clip->tracks[0].height,
              (int)s->clip->tracks[0].fps, (double)s->clip->period_us / 1e6, (double)s->clip->bytes / 1000,
              s->clip->track_count > 1 ? ", with audio" : "", s->clip->encode_s);

  if ((err = vg_workers_start(o->workers))) return err;
  s->workers_running = 1;
  int nworkers = vg_workers_count();
  s->hubs = calloc((size_t)o->cameras, sizeof(*s->hubs));
  s->players = calloc((size_t)nworkers, sizeof(*s->players));
  if (!s->hubs || !s->players) return VG_ENOMEM;
  s->player_count = nworkers;
  for (int w = 0; w < nworkers; w++)
    if ((err = vg_sim_player_new(s->clip, &s->players[w]))) return err;
  for (int i = 0; i < o->cameras; i++) {
    char name[32];
    snprintf(name, sizeof(name), "cam%d", i + 1);
    vg_hub_t *hub = vg_hub_new(name);
    if (!hub) return VG_ENOMEM;
    s->hubs[s->hub_count++] = hub;
    if ((err = vg_hub_register(hub))) return err;
    if ((err = vg_sim_player_add(s->players[i % nworkers], hub, camera_phase(i, s->clip->period_us))))
      return err;
  }
  /* Players start their cameras at their first tick, right after this. */
  int64_t start_utc_us = vg_time_utc_us();
  for (int w = 0; w < nworkers; w++)
    if ((err = vg_sim_player_start(s->players[w], vg_worker_at(w)))) return err;
  if (o->ground_truth && (err = write_ground_truth(s, o, start_utc_us))) return err;

  if ((err = vg_rtsp_server_start(&o->server, &s->server))) {
    vg_log_error(&lg, "cannot serve RTSP on %s:%d: %s", o->server.bind, o->server.port, vg_strerror(err));
    return err;
  }
  for (int i = 0; i < o->fault_count; i++) {
    if ((err = vg_rtsp_server_set_faults(s->server, o->faults[i].path, &o->faults[i].faults))) return err;
    vg_log_info(&lg, "fault on %s", o->faults[i].path);
  }
  if (o->onvif.port) {
    vg_onvif_device_config_t oc = o->onvif;
    oc.codec = o->clip.codec == VG_CODEC_H265 ? "H265" : "H264";
    oc.width = o->clip.width;
    oc.height = o->clip.height;
    oc.fps = o->clip.fps;
    if ((err = vg_onvif_devices_start(&oc, &s->onvif))) return err;
    vg_log_info(&lg, "ONVIF devices at http://%s:%d..%d/onvif/device_service%s", oc.bind, oc.port,
                oc.port + oc.cameras - 1, oc.discovery_if[0] ? ", answering WS-Discovery" : "");
  }
  return 0;
}

int vg_cmd_camsim(int argc, char **argv) {
  camsim_options_t *o = calloc(1, sizeof(*o));
  if (!o) return 1;
  int ret = parse_options(argc, argv, o);
  if (ret) {
    free(o);
    return ret == 1 ? 0 : ret;
  }
  /* libavcodec's encoders chat at info level; only their errors matter here. */
  av_log_set_level(AV_LOG_ERROR);

  /* Signals are taken synchronously by the main thread; workers inherit
   * the blocked mask. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  camsim_t s = {0};
  int err = camsim_start(&s, o);
  if (err) {
    fprintf(stderr, "vigil camsim: cannot start: %s\n", vg_strerror(err));
    camsim_stop(&s);
    free(o);
    return 1;
  }
  if (o->cameras == 1)
    printf("camsim: serving 1 camera at rtsp://%s:%d/cam1\n", o->server.bind, o->server.port);
  else
    printf("camsim: serving %d cameras at rtsp://%s:%d/cam1..cam%d\n", o->cameras, o->server.bind,
           o->server.port, o->cameras);
  fflush(stdout);

  int sig = 0;
  sigwait(&set, &sig);
  vg_log_info(&lg, "%s received, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
  camsim_stop(&s);
  free(o);
  return 0;
}
