/*
 * auth.h: HTTP-style authentication for RTSP (and HTTP): Basic and Digest
 * (RFC 2617, MD5, optional qop=auth), client and server side. Sans I/O.
 *
 * Client (camera ingest), on a 401:
 *
 *   vg_auth_client_t ac;
 *   vg_auth_client_init(&ac);
 *   for each "WWW-Authenticate" header value v of the response:
 *     vg_auth_client_offer(&ac, v.p, v.len);   // keeps the strongest usable one
 *   if (ac.challenge.scheme == VG_AUTH_NONE) -> give up (VG_EUNSUPPORTED)
 *   // then on every later request (Digest counts nc up per request):
 *   char authz[1024];
 *   vg_auth_client_authorization(&ac, "DESCRIBE", uri, user, pass, authz, sizeof authz);
 *   -> header "Authorization: <authz>"
 * A later 401 with stale=true means: same password, new nonce; offer again
 * and retry once.
 *
 * Server (restream, publishing): vg_auth_server_init() once with a realm and
 * a secret; answer an unauthenticated request with 401 and the value of
 * vg_auth_server_challenge() in WWW-Authenticate; check a request's
 * Authorization value with vg_auth_server_verify(). Nonces are stateless:
 * "<time>:<HMAC-SHA256(secret, time realm)>", valid for a lifetime. The
 * server keeps no nonce table, so a captured request can be replayed within
 * the nonce lifetime (nc is not tracked); keep the lifetime short.
 *
 * Secrets are compared in constant time. Passwords are never logged here.
 * Plain data and pure functions: any thread, on its own objects.
 */
#ifndef VG_PROTO_AUTH_H
#define VG_PROTO_AUTH_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
  VG_AUTH_NONE = 0,
  VG_AUTH_BASIC = 1,
  VG_AUTH_DIGEST = 2, /* stronger: chosen over Basic */
} vg_auth_scheme_t;

#define VG_AUTH_MAX_PARAM 256

/* A WWW-Authenticate challenge. */
typedef struct {
  vg_auth_scheme_t scheme;
  char realm[VG_AUTH_MAX_PARAM];
  char nonce[VG_AUTH_MAX_PARAM];  /* Digest */
  char opaque[VG_AUTH_MAX_PARAM]; /* Digest; echoed back when present */
  int has_opaque;
  int algorithm_given; /* the challenge named algorithm=MD5 (echoed back) */
  int qop_auth;        /* the server offered qop "auth" */
  int stale;           /* stale=true: the nonce expired, the password was right */
} vg_auth_challenge_t;

/* Parses one WWW-Authenticate header value, which may hold several
 * challenges ("Digest realm=.., nonce=.., Basic realm=.."), and keeps the
 * strongest one vigil supports in *best if it beats what *best already holds
 * (zero *best before the first call; a Digest challenge replaces an earlier
 * Digest). Unsupported schemes and Digest algorithms other than MD5 (e.g.
 * SHA-256, MD5-sess) are skipped. Returns 0 if this value offered a usable
 * challenge, VG_EUNSUPPORTED if not, VG_EPROTO if malformed. */
int vg_auth_parse_challenge(const char *value, size_t len, vg_auth_challenge_t *best);

/* ---- Client ------------------------------------------------------------- */

typedef struct {
  vg_auth_challenge_t challenge;
  uint32_t nc; /* requests sent with the current nonce */
} vg_auth_client_t;

void vg_auth_client_init(vg_auth_client_t *c);
/* vg_auth_parse_challenge() into c->challenge; a new nonce restarts nc. */
int vg_auth_client_offer(vg_auth_client_t *c, const char *value, size_t len);
/* Writes the Authorization header value for one request (NUL-terminated).
 * With qop=auth a fresh random cnonce is used and nc counts up. Returns the
 * length, VG_ESTATE if no challenge was offered, VG_EINVAL if user or
 * password hold a character that cannot be sent (CR, LF, '"' in Digest,
 * ':' in a Basic user), or VG_ETOOBIG. */
int vg_auth_client_authorization(vg_auth_client_t *c, const char *method, const char *uri, const char *user,
                                 const char *password, char *out, size_t out_size);

/* The Digest Authorization value with a given cnonce and nc (for tests and
 * for callers that need deterministic output). cnonce is ignored without
 * qop. Same returns as above. */
int vg_auth_digest_authorization(const vg_auth_challenge_t *ch, const char *method, const char *uri,
                                 const char *user, const char *password, const char *cnonce, uint32_t nc,
                                 char *out, size_t out_size);

/* ---- Credentials (the Authorization header) ----------------------------- */

typedef struct {
  vg_auth_scheme_t scheme;
  char username[VG_AUTH_MAX_PARAM];
  char password[VG_AUTH_MAX_PARAM]; /* Basic only */
  /* Digest */
  char realm[VG_AUTH_MAX_PARAM], nonce[VG_AUTH_MAX_PARAM], uri[1024], response[64];
  char cnonce[VG_AUTH_MAX_PARAM], nc[16], qop[16], opaque[VG_AUTH_MAX_PARAM], algorithm[16];
} vg_auth_credentials_t;

/* Parses an Authorization header value. Returns 0, VG_EUNSUPPORTED for
 * another scheme, VG_EPROTO if malformed or missing a required field. */
int vg_auth_parse_credentials(const char *value, size_t len, vg_auth_credentials_t *out);
/* Whether parsed credentials prove knowledge of `password` for a request
 * with `method` (Basic: the password; Digest: the response hash, computed
 * from the credentials' own realm/nonce/uri). Constant-time. Does NOT check
 * that the nonce is fresh or the uri matches: vg_auth_server_verify() does.
 * Returns 0 or VG_EAUTH. */
int vg_auth_check_password(const vg_auth_credentials_t *cred, const char *method, const char *password);

/* ---- Server ------------------------------------------------------------- */

typedef struct {
  const char *user;
  const char *password;
} vg_auth_user_t;

typedef struct {
  char realm[128];
  uint8_t secret[32];
  int64_t nonce_lifetime_s; /* default 300 */
  int allow_basic;          /* accept Basic too (only sane over TLS); default 0 */
} vg_auth_server_t;

/* secret NULL: a random one (nonces then die with the process). Returns 0,
 * VG_EINVAL (realm with '"', CR or LF, or too long). */
int vg_auth_server_init(vg_auth_server_t *s, const char *realm, const uint8_t *secret, size_t secret_len);
/* The WWW-Authenticate value of a Digest challenge whose nonce is minted at
 * `now_s` (seconds, any monotonic or wall clock the caller keeps using);
 * stale = 1 after a stale verify. Returns the length or VG_ETOOBIG. */
int vg_auth_server_challenge(const vg_auth_server_t *s, int64_t now_s, int stale, char *out, size_t out_size);
/* The Basic challenge value, 'Basic realm="..."', for a second
 * WWW-Authenticate header when allow_basic is set. */
int vg_auth_server_basic_challenge(const vg_auth_server_t *s, char *out, size_t out_size);

/* Verifies an Authorization value for a request (method, request URI as
 * sent in the request line) against users[0..n_users). Returns the index of
 * the matching user (>= 0), or VG_EAUTH: unknown user, wrong password,
 * foreign or expired nonce (then *stale = 1 if the password was right, so
 * the caller re-challenges with stale=true), realm or uri mismatch, or a
 * scheme not allowed. stale may be NULL. */
int vg_auth_server_verify(const vg_auth_server_t *s, const char *method, const char *uri,
                          const char *authorization, size_t len, const vg_auth_user_t *users, int n_users,
                          int64_t now_s, int *stale);

#endif
