/* main.c: the vigil binary dispatches to one subcommand. */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd/commands.h"

typedef struct {
  const char *name;
  int (*fn)(int argc, char **argv);
  const char *summary;
} command_t;

static const command_t commands[] = {
    {"run", vg_cmd_run, "run a vigil node: vigil run -c FILE"},
    {"camsim", vg_cmd_camsim, "serve simulated cameras over RTSP"},
    {"infer", vg_cmd_infer, "run a detection model on an image"},
    {"seal", vg_cmd_seal, "seal a secret for the configuration file (reads stdin)"},
    {"version", vg_cmd_version, "print the version"},
};

static void usage(FILE *out) {
  fprintf(out, "usage: vigil COMMAND [OPTIONS]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\n'vigil COMMAND --help' describes a command's options.\n");
}

/* LeakSanitizer reads this hook, under its own fixed name, in sanitizer
 * builds; it is unused otherwise. Leaks inside libraries we cannot fix are
 * named here so that their reports do not hide ours: libx265 leaks a few
 * small allocations per encoder (FrameFilter::init, x265 3.5), and
 * libwebsockets 4.1 one when a listener cannot bind. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libx265.so\nleak:libwebsockets.so\n"; }

int main(int argc, char **argv) {
  /* A peer that closes a socket mid-write must not kill the process. */
  signal(SIGPIPE, SIG_IGN);
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "--version") == 0) return vg_cmd_version(argc - 1, argv + 1);
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    if (strcmp(argv[1], commands[i].name) == 0) {
      /* libcurl's global state must be set up before any thread uses it. */
      curl_global_init(CURL_GLOBAL_DEFAULT);
      int rc = commands[i].fn(argc - 1, argv + 1);
      curl_global_cleanup();
      return rc;
    }
  fprintf(stderr, "vigil: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
