#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <libavcodec/avcodec.h>
#include <libwebsockets.h>
#include <uv.h>

#include "cmd/commands.h"

int vg_cmd_version(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    printf("usage: vigil version\n\nPrints vigil's version and the versions of the libraries it runs on.\n");
    return 0;
  }
  printf("vigil %s\n", VG_VERSION);
  printf("libuv %s, libwebsockets %s, jansson %s, libavcodec %u.%u.%u\n", uv_version_string(),
         lws_get_library_version(), JANSSON_VERSION, LIBAVCODEC_VERSION_MAJOR, LIBAVCODEC_VERSION_MINOR,
         LIBAVCODEC_VERSION_MICRO);
  return 0;
}
