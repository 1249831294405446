/* Fuzzes the WWW-Authenticate and Authorization parsers, the client's
 * answer to whatever challenge parsed, and the server's verification. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/error.h"
#include "proto/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  vg_auth_client_t c;
  vg_auth_client_init(&c);
  if (vg_auth_client_offer(&c, text, size) == 0) {
    char out[2048];
    vg_auth_digest_authorization(&c.challenge, "DESCRIBE", "rtsp://cam/live", "admin", "pass", "0a4f113b", 1,
                                 out, sizeof(out));
    int n = vg_auth_client_authorization(&c, "SETUP", "rtsp://cam/live/trackID=0", "admin", "pass", out,
                                         sizeof(out));
    vg_auth_credentials_t cred;
    /* Our own answer must parse and check out. */
    if (n > 0) {
      if (vg_auth_parse_credentials(out, (size_t)n, &cred) != 0) __builtin_trap();
      if (vg_auth_check_password(&cred, "SETUP", "pass") != 0) __builtin_trap();
    }
  }
  vg_auth_credentials_t cred;
  if (vg_auth_parse_credentials(text, size, &cred) == 0) vg_auth_check_password(&cred, "PLAY", "secret");
  static vg_auth_server_t s;
  static int init;
  if (!init) {
    vg_auth_server_init(&s, "vigil", (const uint8_t *)"k", 1);
    s.allow_basic = 1;
    init = 1;
  }
  const vg_auth_user_t users[] = {{"admin", "secret"}};
  int stale;
  vg_auth_server_verify(&s, "PLAY", "rtsp://cam/live", text, size, users, 1, 1000, &stale);
  return 0;
}
