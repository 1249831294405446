/* Unit tests for src/proto/auth: challenges, RFC 2617 digests, headers
 * produced by real ffmpeg, and the stateless-nonce server. */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <string.h>

#include "base/error.h"
#include "proto/auth.h"

static int offer(vg_auth_challenge_t *ch, const char *v) { return vg_auth_parse_challenge(v, strlen(v), ch); }

static void test_parse_challenges_pick_strongest(void **state) {
  vg_auth_challenge_t ch = {0};
  /* Hikvision sends Basic and Digest as two headers, Basic first. */
  assert_int_equal(offer(&ch, "Basic realm=\"IP Camera(C1234)\""), 0);
  assert_int_equal(ch.scheme, VG_AUTH_BASIC);
  assert_int_equal(offer(&ch, "Digest realm=\"IP Camera(C1234)\", nonce=\"a1b2c3d4e5f60718\", qop=\"auth\", "
                              "algorithm=\"MD5\", stale=\"FALSE\""),
                   0);
  assert_int_equal(ch.scheme, VG_AUTH_DIGEST);
  assert_string_equal(ch.realm, "IP Camera(C1234)");
  assert_string_equal(ch.nonce, "a1b2c3d4e5f60718");
  assert_true(ch.qop_auth);
  assert_true(ch.algorithm_given);
  assert_false(ch.stale);
  /* A later Basic does not downgrade. */
  assert_int_equal(offer(&ch, "Basic realm=\"x\""), 0);
  assert_int_equal(ch.scheme, VG_AUTH_DIGEST);

  /* Several challenges in one value, with an escaped quote and stale=true. */
  vg_auth_challenge_t c2 = {0};
  assert_int_equal(offer(&c2, "Basic realm=\"a\", Digest realm=\"cam \\\"x\\\"\",nonce=abc,opaque=\"op\","
                              "qop=\"auth-int, auth\",stale=TRUE"),
                   0);
  assert_int_equal(c2.scheme, VG_AUTH_DIGEST);
  assert_string_equal(c2.realm, "cam \"x\"");
  assert_string_equal(c2.opaque, "op");
  assert_true(c2.has_opaque);
  assert_true(c2.qop_auth);
  assert_true(c2.stale);
  /* The quotes in the realm are escaped again when echoed, and the answer checks out. */
  char out[1024];
  int n = vg_auth_digest_authorization(&c2, "PLAY", "rtsp://cam/", "u", "p", "c0ffee", 1, out, sizeof(out));
  assert_non_null(strstr(out, "realm=\"cam \\\"x\\\"\""));
  vg_auth_credentials_t cred;
  assert_int_equal(vg_auth_parse_credentials(out, (size_t)n, &cred), 0);
  assert_string_equal(cred.realm, "cam \"x\"");
  assert_int_equal(vg_auth_check_password(&cred, "PLAY", "p"), 0);
  /* A folded header's line break inside a quoted value is refused. */
  vg_auth_challenge_t c4 = {0};
  assert_int_equal(offer(&c4, "Digest realm=\"a\r\n Injected: 1\", nonce=\"n\""), VG_EPROTO);

  /* Unsupported: SHA-256 digest, auth-int only, NTLM. */
  vg_auth_challenge_t c3 = {0};
  assert_int_equal(offer(&c3, "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256"), VG_EUNSUPPORTED);
  assert_int_equal(offer(&c3, "Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\""), VG_EUNSUPPORTED);
  assert_int_equal(offer(&c3, "NTLM"), VG_EUNSUPPORTED);
  assert_int_equal(offer(&c3, "Digest realm=\"r\", nonce="), VG_EUNSUPPORTED);
  assert_int_equal(c3.scheme, VG_AUTH_NONE);
  assert_int_equal(offer(&c3, "Digest realm=\"unterminated"), VG_EPROTO);
}

/* RFC 2617 §3.5's worked example. */
static void test_rfc2617_example(void **state) {
  vg_auth_challenge_t ch = {0};
  assert_int_equal(
      offer(&ch, "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", "
                 "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""),
      0);
  char out[1024];
  int n = vg_auth_digest_authorization(&ch, "GET", "/dir/index.html", "Mufasa", "Circle Of Life", "0a4f113b",
                                       1, out, sizeof(out));
  assert_true(n > 0);
  assert_non_null(strstr(out, "response=\"6629fae49393a05397450978507c4ef1\""));
  assert_non_null(strstr(out, "qop=auth, nc=00000001, cnonce=\"0a4f113b\""));
  assert_non_null(strstr(out, "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));

  /* What we write we can check. */
  vg_auth_credentials_t cred;
  assert_int_equal(vg_auth_parse_credentials(out, (size_t)n, &cred), 0);
  assert_int_equal(vg_auth_check_password(&cred, "GET", "Circle Of Life"), 0);
  assert_int_equal(vg_auth_check_password(&cred, "GET", "Circle of Life"), VG_EAUTH);
  assert_int_equal(vg_auth_check_password(&cred, "POST", "Circle Of Life"), VG_EAUTH);
}

/* Authorization headers captured from ffmpeg 5.1 against a fake camera. */
static void test_real_ffmpeg_credentials(void **state) {
  const char *qop =
      "Digest username=\"admin\", realm=\"IP Camera(C1234)\", nonce=\"a1b2c3d4e5f60718\", "
      "uri=\"rtsp://127.0.0.1:8555/Streaming/Channels/101\", response=\"c441e9b086f5d8a3a3d26c8e5bb21a2e\", "
      "algorithm=\"MD5\", qop=\"auth\", cnonce=\"0df3ce49f308e2ea\", nc=00000001";
  vg_auth_credentials_t cred;
  assert_int_equal(vg_auth_parse_credentials(qop, strlen(qop), &cred), 0);
  assert_string_equal(cred.username, "admin");
  assert_string_equal(cred.nc, "00000001");
  assert_int_equal(vg_auth_check_password(&cred, "DESCRIBE", "pa@ss"), 0);
  assert_int_equal(vg_auth_check_password(&cred, "DESCRIBE", "pa%40ss"), VG_EAUTH);

  const char *plain =
      "Digest username=\"admin\", realm=\"LIVE555 Streaming Media\", nonce=\"47f1bd5e2f8c6a2b\", "
      "uri=\"rtsp://127.0.0.1:8556/cam/realmonitor?channel=1&subtype=0\", "
      "response=\"c05702a415c7b55929fab00f5e622666\"";
  assert_int_equal(vg_auth_parse_credentials(plain, strlen(plain), &cred), 0);
  assert_int_equal(vg_auth_check_password(&cred, "DESCRIBE", "12345"), 0);

  /* And our client computes the very same response as ffmpeg. */
  vg_auth_challenge_t ch = {0};
  assert_int_equal(offer(&ch, "Digest realm=\"LIVE555 Streaming Media\", nonce=\"47f1bd5e2f8c6a2b\""), 0);
  char out[1024];
  assert_true(vg_auth_digest_authorization(&ch, "DESCRIBE",
                                           "rtsp://127.0.0.1:8556/cam/realmonitor?channel=1&subtype=0",
                                           "admin", "12345", "ignored", 1, out, sizeof(out)) > 0);
  assert_string_equal(out, plain);

  const char *basic = "Basic cm9vdDpwYXNz";
  assert_int_equal(vg_auth_parse_credentials(basic, strlen(basic), &cred), 0);
  assert_int_equal(cred.scheme, VG_AUTH_BASIC);
  assert_string_equal(cred.username, "root");
  assert_int_equal(vg_auth_check_password(&cred, "DESCRIBE", "pass"), 0);
  assert_int_equal(vg_auth_check_password(&cred, "DESCRIBE", "pass2"), VG_EAUTH);
}

static void test_client_flow(void **state) {
  vg_auth_client_t c;
  vg_auth_client_init(&c);
  char out[1024];
  assert_int_equal(vg_auth_client_authorization(&c, "DESCRIBE", "rtsp://cam/", "u", "p", out, sizeof(out)),
                   VG_ESTATE);
  const char *basic = "Basic realm=\"AXIS_ACCC8E000000\"";
  assert_int_equal(vg_auth_client_offer(&c, basic, strlen(basic)), 0);
  int n = vg_auth_client_authorization(&c, "DESCRIBE", "rtsp://cam/", "root", "pass", out, sizeof(out));
  assert_int_equal(n, (int)strlen("Basic cm9vdDpwYXNz"));
  assert_string_equal(out, "Basic cm9vdDpwYXNz");
  assert_int_equal(
      vg_auth_client_authorization(&c, "DESCRIBE", "rtsp://cam/", "ro:ot", "pass", out, sizeof(out)),
      VG_EINVAL);

  const char *digest = "Digest realm=\"r\", nonce=\"n1\", qop=\"auth\"";
  assert_int_equal(vg_auth_client_offer(&c, digest, strlen(digest)), 0);
  vg_auth_client_authorization(&c, "DESCRIBE", "rtsp://cam/", "u", "p", out, sizeof(out));
  assert_non_null(strstr(out, "nc=00000001"));
  vg_auth_client_authorization(&c, "SETUP", "rtsp://cam/trackID=1", "u", "p", out, sizeof(out));
  assert_non_null(strstr(out, "nc=00000002"));
  vg_auth_credentials_t cred;
  assert_int_equal(vg_auth_parse_credentials(out, strlen(out), &cred), 0);
  assert_int_equal(strlen(cred.cnonce), 16);
  assert_int_equal(vg_auth_check_password(&cred, "SETUP", "p"), 0);
  /* A stale re-challenge with a new nonce restarts the count. */
  const char *stale = "Digest realm=\"r\", nonce=\"n2\", qop=\"auth\", stale=true";
  assert_int_equal(vg_auth_client_offer(&c, stale, strlen(stale)), 0);
  vg_auth_client_authorization(&c, "PLAY", "rtsp://cam/", "u", "p", out, sizeof(out));
  assert_non_null(strstr(out, "nc=00000001"));
  assert_int_equal(vg_auth_client_authorization(&c, "PLAY", "rtsp://cam/", "u\"", "p", out, sizeof(out)),
                   VG_EINVAL);
  assert_int_equal(vg_auth_client_authorization(&c, "PLAY", "rtsp://cam/", "u", "p", out, 40), VG_ETOOBIG);
}

static void test_malformed_credentials(void **state) {
  vg_auth_credentials_t cred;
  const char *cases[] = {
      "Basic",
      "Basic !!!!",
      "Basic dXNlcg==",                                /* "user": no colon */
      "Digest username=\"u\", nonce=\"n\", uri=\"/\"", /* no response */
      "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"x\", qop=auth", /* no cnonce/nc
                                                                                               */
      "Digest username=\"u",
      "Digest username=\"u\" junk",
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    assert_int_equal(vg_auth_parse_credentials(cases[i], strlen(cases[i]), &cred), VG_EPROTO);
  assert_int_equal(vg_auth_parse_credentials("Bearer x", 8, &cred), VG_EUNSUPPORTED);
}

static const vg_auth_user_t users[] = {{"viewer", "v1ewer!"}, {"admin", "s3cret"}};

static int server_verify(vg_auth_server_t *s, const char *method, const char *uri, const char *authz,
                         int64_t now, int *stale) {
  return vg_auth_server_verify(s, method, uri, authz, strlen(authz), users, 2, now, stale);
}

static void test_server_digest_roundtrip(void **state) {
  vg_auth_server_t s;
  const uint8_t secret[] = "server secret for tests";
  assert_int_equal(vg_auth_server_init(&s, "vigil", secret, sizeof(secret)), 0);
  char challenge[512];
  assert_true(vg_auth_server_challenge(&s, 1000, 0, challenge, sizeof(challenge)) > 0);

  /* Our client answers our server. */
  vg_auth_client_t c;
  vg_auth_client_init(&c);
  assert_int_equal(vg_auth_client_offer(&c, challenge, strlen(challenge)), 0);
  assert_true(c.challenge.qop_auth);
  char authz[1024];
  const char *uri = "rtsp://10.0.0.1:8554/cam1";
  vg_auth_client_authorization(&c, "DESCRIBE", uri, "admin", "s3cret", authz, sizeof(authz));
  int stale = 7;
  assert_int_equal(server_verify(&s, "DESCRIBE", uri, authz, 1010, &stale), 1);
  assert_int_equal(stale, 0);
  /* Wrong method, uri, password, user; expired; forged; another server's nonce. */
  assert_int_equal(server_verify(&s, "PLAY", uri, authz, 1010, &stale), VG_EAUTH);
  assert_int_equal(server_verify(&s, "DESCRIBE", "rtsp://10.0.0.1:8554/cam2", authz, 1010, &stale), VG_EAUTH);
  assert_int_equal(server_verify(&s, "DESCRIBE", uri, authz, 1000 + 301, &stale), VG_EAUTH);
  assert_int_equal(stale, 1);
  assert_int_equal(server_verify(&s, "DESCRIBE", uri, authz, 999, &stale), VG_EAUTH); /* clock went back */
  vg_auth_client_authorization(&c, "DESCRIBE", uri, "admin", "wrong", authz, sizeof(authz));
  assert_int_equal(server_verify(&s, "DESCRIBE", uri, authz, 1010, &stale), VG_EAUTH);
  assert_int_equal(stale, 0);
  vg_auth_client_authorization(&c, "DESCRIBE", uri, "nobody", "s3cret", authz, sizeof(authz));
  assert_int_equal(server_verify(&s, "DESCRIBE", uri, authz, 1010, &stale), VG_EAUTH);

  vg_auth_server_t other;
  assert_int_equal(vg_auth_server_init(&other, "vigil", NULL, 0), 0);
  vg_auth_client_authorization(&c, "DESCRIBE", uri, "viewer", "v1ewer!", authz, sizeof(authz));
  assert_int_equal(server_verify(&s, "DESCRIBE", uri, authz, 1010, &stale), 0);
  assert_int_equal(server_verify(&other, "DESCRIBE", uri, authz, 1010, &stale), VG_EAUTH);

  /* A nonce with its time edited keeps the old MAC and fails. */
  vg_auth_challenge_t forged = c.challenge;
  forged.nonce[15] = forged.nonce[15] == '0' ? '1' : '0';
  vg_auth_digest_authorization(&forged, "DESCRIBE", uri, "viewer", "v1ewer!", "abcd", 1, authz,
                               sizeof(authz));
  assert_int_equal(server_verify(&s, "DESCRIBE", uri, authz, 1010, &stale), VG_EAUTH);
  assert_int_equal(stale, 0);

  /* Stale challenge text. */
  vg_auth_server_challenge(&s, 2000, 1, challenge, sizeof(challenge));
  assert_non_null(strstr(challenge, "stale=true"));
}

static void test_server_basic_only_when_allowed(void **state) {
  vg_auth_server_t s;
  assert_int_equal(vg_auth_server_init(&s, "vigil", NULL, 0), 0);
  const char *authz = "Basic YWRtaW46czNjcmV0"; /* admin:s3cret */
  assert_int_equal(server_verify(&s, "DESCRIBE", "rtsp://x/", authz, 0, NULL), VG_EAUTH);
  s.allow_basic = 1;
  assert_int_equal(server_verify(&s, "DESCRIBE", "rtsp://x/", authz, 0, NULL), 1);
  assert_int_equal(server_verify(&s, "DESCRIBE", "rtsp://x/", "Basic YWRtaW46czNjcmV1", 0, NULL), VG_EAUTH);
  char out[64];
  assert_int_equal(vg_auth_server_basic_challenge(&s, out, sizeof(out)),
                   (int)strlen("Basic realm=\"vigil\""));
  assert_int_equal(vg_auth_server_init(&s, "bad\"realm", NULL, 0), VG_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_challenges_pick_strongest), cmocka_unit_test(test_rfc2617_example),
      cmocka_unit_test(test_real_ffmpeg_credentials),         cmocka_unit_test(test_client_flow),
      cmocka_unit_test(test_malformed_credentials),           cmocka_unit_test(test_server_digest_roundtrip),
      cmocka_unit_test(test_server_basic_only_when_allowed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
