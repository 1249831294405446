/* run.c: `vigil run -c FILE`: a vigil node on one machine. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "base/config.h"
#include "base/error.h"
#include "base/log.h"
#include "cmd/commands.h"
#include "cmd/node.h"

static void usage(FILE *out) {
  fprintf(out, "usage: vigil run -c FILE [--check]\n\n"
               "Runs a vigil node: ingests the configured cameras, restreams them over RTSP\n"
               "and serves the HTTP API. Stops cleanly on SIGINT or SIGTERM.\n\n"
               "  -c, --config FILE   JSON configuration (see docs/CONFIG.md)\n"
               "      --check         validate the configuration and exit\n"
               "  -h, --help          this help\n");
}

int vg_cmd_run(int argc, char **argv) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"check", no_argument, NULL, 'k'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *file = NULL;
  int check_only = 0, ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
    switch (ch) {
    case 'c': file = optarg; break;
    case 'k': check_only = 1; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (!file) {
    usage(stderr);
    return 2;
  }
  vg_node_config_t cfg;
  vg_cfg_t c = {0};
  if (vg_node_config_load(&c, file, &cfg) != 0) {
    fprintf(stderr, "vigil: %s: config error at %s: %s\n", file, c.err_path, c.err_reason);
    return 1;
  }
  if (check_only) {
    printf("%s: configuration is valid (%d cameras)\n", file, cfg.camera_count);
    vg_node_config_free(&cfg);
    return 0;
  }

  /* Signals are taken synchronously by the main thread; workers block them. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  vg_node_t *node;
  int err = vg_node_start(&cfg, &node);
  if (err) {
    fprintf(stderr, "vigil: cannot start: %s\n", vg_strerror(err));
    vg_node_config_free(&cfg);
    return 1;
  }
  int sig = 0;
  sigwait(&set, &sig);
  vg_log_info(&VG_LOG_CTX("vigil", NULL), "%s received, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
  vg_node_stop(&node);
  vg_node_config_free(&cfg);
  return 0;
}
