/* Fuzzes the opening of sealed secrets (base/secret.h, "sb1:" + base64):
 * sealed camera passwords and notification secrets come back from the
 * database and from imported configurations, which others may have edited.
 * The input is the sealed text: it is opened into buffers of several sizes
 * under a fixed key. The input's bytes are also sealed and opened back, and
 * a sealed value altered in one character must not open. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/secret.h"

static const uint8_t key[VG_SECRET_KEY_LEN] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                               12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                               23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 100000) return 0;
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';

  static uint8_t plain[65537];
  int n = vg_secret_open(key, text, plain, sizeof(plain));
  if (n >= 0 && (size_t)n >= sizeof(plain)) abort();
  uint8_t small[4];
  n = vg_secret_open(key, text, small, sizeof(small));
  if (n >= (int)sizeof(small)) abort();
  vg_secret_is_sealed(text);

  /* Round trip of the input's bytes, and tamper detection. */
  if (size <= 4096) {
    char sealed[8192];
    n = vg_secret_seal(key, data, size, sealed, sizeof(sealed));
    if (n < 0) abort();
    int m = vg_secret_open(key, sealed, plain, sizeof(plain));
    if (m != (int)size || memcmp(plain, data, size) != 0) abort();
    size_t at = 4 + (size ? data[0] : 0) % (size_t)(n - 4);
    sealed[at] = sealed[at] == 'A' ? 'B' : 'A';
    if (vg_secret_open(key, sealed, plain, sizeof(plain)) >= 0) abort();
  }
  free(text);
  return 0;
}
