/* seal.c: `vigil seal` seals a secret for the configuration file (the
 * MQTT password, a webhook secret) under the node key, so that the file
 * keeps it only sealed ("sb1:...", base/secret.h). The secret is read from
 * standard input, never from the command line (which other users can see). */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "base/secret.h"
#include "cmd/commands.h"

static void usage(FILE *out) {
  fprintf(out, "usage: vigil seal [--key-file PATH] < secret\n\n"
               "Seals one line of standard input (without its newline) under the node key\n"
               "(default var/secret.key, created when absent; use the node's auth.secret_key_file)\n"
               "and prints the sealed text for mqtt.password or webhooks[].secret.\n");
}

int vg_cmd_seal(int argc, char **argv) {
  const char *key_file = "var/secret.key";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    }
    if ((!strcmp(argv[i], "--key-file") || !strcmp(argv[i], "-k")) && i + 1 < argc) {
      key_file = argv[++i];
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (sodium_init() < 0) return 1;
  char plain[1024];
  size_t len = fread(plain, 1, sizeof(plain) - 1, stdin);
  plain[len] = '\0';
  while (len && (plain[len - 1] == '\n' || plain[len - 1] == '\r'))
    plain[--len] = '\0';
  if (!len || !feof(stdin)) {
    fprintf(stderr, "vigil seal: expected one secret of 1..%zu bytes on standard input\n", sizeof(plain) - 2);
    sodium_memzero(plain, sizeof(plain));
    return 2;
  }
  uint8_t key[VG_SECRET_KEY_LEN];
  char sealed[2048];
  int err = vg_secret_key_load(key_file, key);
  int n = err ? err : vg_secret_seal(key, plain, len, sealed, sizeof(sealed));
  sodium_memzero(key, sizeof(key));
  sodium_memzero(plain, sizeof(plain));
  if (n < 0) {
    fprintf(stderr, "vigil seal: %s: %s\n", key_file, vg_strerror(n));
    return 1;
  }
  printf("%s\n", sealed);
  return 0;
}
