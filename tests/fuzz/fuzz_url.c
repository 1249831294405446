/* Fuzzes URL parsing, printing, redaction and resolution (proto/url.h):
 * camera URLs come from the API, and the HTTP source resolves a camera's
 * Location header against the URL it asked (a redirect is the camera's
 * bytes). The input is "base\nref": base is parsed, printed and redacted,
 * ref is resolved against it and the result parsed as a redirect would be.
 * What parses must print and parse again to the same fields, and the
 * form printed for logs must parse without credentials. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "proto/url.h"

static void check_round_trip(const vg_url_t *u) {
  char text[VG_URL_MAX_PATH + 1024];
  vg_url_t again;
  if (vg_url_print_with_credentials(u, text, sizeof(text)) >= 0 && vg_url_parse(text, &again) == 0) {
    if (strcmp(again.host, u->host) != 0 || again.port != u->port || strcmp(again.user, u->user) != 0 ||
        strcmp(again.password, u->password) != 0 || strcmp(again.scheme, u->scheme) != 0)
      abort();
  }
  if (vg_url_print(u, text, sizeof(text)) >= 0 && vg_url_parse(text, &again) == 0 && again.has_credentials)
    abort();
  char tiny[8];
  vg_url_print(u, tiny, sizeof(tiny));
  vg_url_print_with_credentials(u, tiny, sizeof(tiny));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 8192) return 0;
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  char *ref = memchr(text, '\n', size);
  if (ref) *ref++ = '\0';

  vg_url_t u;
  if (vg_url_parse(text, &u) == 0) check_round_trip(&u);
  char out[4096];
  vg_url_redact(text, out, sizeof(out));
  char small[16];
  vg_url_redact(text, small, sizeof(small));
  vg_url_default_port(text);

  if (ref) {
    char next[4096];
    if (vg_url_resolve(text, ref, next, sizeof(next)) >= 0 && vg_url_parse(next, &u) == 0)
      check_round_trip(&u);
    vg_url_resolve(text, ref, small, sizeof(small));
  }
  free(text);
  return 0;
}
