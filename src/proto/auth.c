#include "proto/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/base64.h"
#include "base/error.h"

/* ---- Header lexing (RFC 2617 §1.2: auth-scheme 1#auth-param) ------------- */

typedef struct {
  const char *p;
  size_t len, pos;
} lexer_t;

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static bool is_token_char(unsigned char c) {
  if (c <= 0x20 || c >= 0x7f) return false;
  return strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

static void skip_blanks_and_commas(lexer_t *lx) {
  while (lx->pos < lx->len && (is_blank(lx->p[lx->pos]) || lx->p[lx->pos] == ',')) lx->pos++;
}

static void skip_blanks(lexer_t *lx) {
  while (lx->pos < lx->len && is_blank(lx->p[lx->pos])) lx->pos++;
}

static size_t lex_token(lexer_t *lx, const char **tok) {
  *tok = lx->p + lx->pos;
  size_t start = lx->pos;
  while (lx->pos < lx->len && is_token_char((unsigned char)lx->p[lx->pos])) lx->pos++;
  return lx->pos - start;
}

/* A token or a quoted-string (backslash escapes resolved) into out. */
static int lex_value(lexer_t *lx, char *out, size_t out_size) {
  size_t o = 0;
  if (lx->pos < lx->len && lx->p[lx->pos] == '"') {
    lx->pos++;
    for (;;) {
      if (lx->pos >= lx->len) return VG_EPROTO;
      char c = lx->p[lx->pos++];
      if (c == '"') break;
      if (c == '\\') {
        if (lx->pos >= lx->len) return VG_EPROTO;
        c = lx->p[lx->pos++];
      }
      if (c == 0) return VG_EPROTO;
      if (o + 1 >= out_size) return VG_EPROTO;
      out[o++] = c;
    }
  } else {
    const char *tok;
    size_t n = lex_token(lx, &tok);
    if (n + 1 > out_size) return VG_EPROTO;
    memcpy(out, tok, n);
    o = n;
  }
  out[o] = 0;
  return 0;
}

/* Reads "name = value" if one follows; returns 1 with the name span and
 * the value in value[], 0 (position unchanged) if what follows is not a
 * parameter (the next scheme, or the end), or VG_EPROTO. */
static int lex_param(lexer_t *lx, const char **name, size_t *name_len, char *value, size_t value_size) {
  size_t saved = lx->pos;
  skip_blanks_and_commas(lx);
  *name_len = lex_token(lx, name);
  skip_blanks(lx);
  if (*name_len == 0 || lx->pos >= lx->len || lx->p[lx->pos] != '=') {
    lx->pos = saved;
    return 0;
  }
  lx->pos++;
  skip_blanks(lx);
  int r = lex_value(lx, value, value_size);
  return r < 0 ? r : 1;
}

static bool name_is(const char *name, size_t len, const char *want) {
  return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

static void copy_str(char *dst, size_t size, const char *src) {
  size_t n = strnlen(src, size - 1);
  memcpy(dst, src, n);
  dst[n] = 0;
}

/* Whether a comma-separated list (e.g. qop="auth,auth-int") names item. */
static bool list_has(const char *list, const char *item) {
  size_t n = strlen(item);
  const char *p = list;
  while (*p) {
    while (*p == ' ' || *p == ',' || *p == '\t') p++;
    size_t len = strcspn(p, ", \t");
    if (len == n && strncasecmp(p, item, n) == 0) return true;
    p += len;
  }
  return false;
}

/* ---- Challenges --------------------------------------------------------- */

/* Parses the parameters of one challenge into *ch. Returns 1 if vigil can
 * answer it, 0 if not, VG_EPROTO if malformed. */
static int parse_challenge_params(lexer_t *lx, vg_auth_challenge_t *ch) {
  char value[VG_AUTH_MAX_PARAM * 2];
  bool algorithm_ok = true, has_nonce = false, qop_offered = false;
  for (;;) {
    const char *name;
    size_t name_len;
    int r = lex_param(lx, &name, &name_len, value, sizeof(value));
    if (r < 0) return r;
    if (r == 0) break;
    if (strlen(value) >= VG_AUTH_MAX_PARAM) return VG_EPROTO;
    if (name_is(name, name_len, "realm")) {
      copy_str(ch->realm, sizeof(ch->realm), value);
    } else if (name_is(name, name_len, "nonce")) {
      copy_str(ch->nonce, sizeof(ch->nonce), value);
      has_nonce = true;
    } else if (name_is(name, name_len, "opaque")) {
      copy_str(ch->opaque, sizeof(ch->opaque), value);
      ch->has_opaque = 1;
    } else if (name_is(name, name_len, "algorithm")) {
      algorithm_ok = strcasecmp(value, "MD5") == 0;
      ch->algorithm_given = 1;
    } else if (name_is(name, name_len, "qop")) {
      qop_offered = true;
      ch->qop_auth = list_has(value, "auth");
    } else if (name_is(name, name_len, "stale")) {
      ch->stale = strcasecmp(value, "true") == 0;
    }
  }
  if (ch->scheme == VG_AUTH_BASIC) return 1;
  /* qop offered without "auth" (auth-int only) cannot be answered. */
  return has_nonce && algorithm_ok && (!qop_offered || ch->qop_auth);
}

int vg_auth_parse_challenge(const char *value, size_t len, vg_auth_challenge_t *best) {
  lexer_t lx = {value, len, 0};
  bool usable = false;
  for (;;) {
    skip_blanks_and_commas(&lx);
    if (lx.pos >= lx.len) break;
    const char *scheme;
    size_t scheme_len = lex_token(&lx, &scheme);
    if (scheme_len == 0) return VG_EPROTO;
    vg_auth_challenge_t cand;
    memset(&cand, 0, sizeof(cand));
    if (name_is(scheme, scheme_len, "Digest")) cand.scheme = VG_AUTH_DIGEST;
    else if (name_is(scheme, scheme_len, "Basic")) cand.scheme = VG_AUTH_BASIC;
    int r = parse_challenge_params(&lx, &cand);
    if (r < 0) return r;
    if (cand.scheme == VG_AUTH_NONE || r == 0) continue;
    usable = true;
    if (cand.scheme >= best->scheme) *best = cand;
  }
  return usable ? 0 : VG_EUNSUPPORTED;
}

/* ---- Digest arithmetic -------------------------------------------------- */

/* Lower-case hex MD5 of the parts joined with ':' (RFC 2617 §3.2.2). */
static void md5_hex_joined(const char *const *parts, int n, char out[33]) {
  uint8_t md[16];
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
  for (int i = 0; ok && i < n; i++) {
    if (i) ok = EVP_DigestUpdate(ctx, ":", 1);
    if (ok) ok = EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]));
  }
  unsigned md_len = 0;
  if (ok) ok = EVP_DigestFinal_ex(ctx, md, &md_len);
  EVP_MD_CTX_free(ctx);
  if (!ok) memset(md, 0, sizeof(md)); /* cannot authenticate: a wrong hash fails closed */
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < 16; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[32] = 0;
}

static void digest_response(const char *user, const char *realm, const char *password, const char *method,
                            const char *uri, const char *nonce, const char *nc, const char *cnonce,
                            const char *qop, char out[33]) {
  char ha1[33], ha2[33];
  md5_hex_joined((const char *[]){user, realm, password}, 3, ha1);
  md5_hex_joined((const char *[]){method, uri}, 2, ha2);
  if (qop && qop[0]) md5_hex_joined((const char *[]){ha1, nonce, nc, cnonce, qop, ha2}, 6, out);
  else md5_hex_joined((const char *[]){ha1, nonce, ha2}, 3, out);
  OPENSSL_cleanse(ha1, sizeof(ha1));
}

/* ---- Client ------------------------------------------------------------- */

void vg_auth_client_init(vg_auth_client_t *c) { memset(c, 0, sizeof(*c)); }

int vg_auth_client_offer(vg_auth_client_t *c, const char *value, size_t len) {
  char old_nonce[VG_AUTH_MAX_PARAM];
  copy_str(old_nonce, sizeof(old_nonce), c->challenge.nonce);
  int r = vg_auth_parse_challenge(value, len, &c->challenge);
  if (strcmp(old_nonce, c->challenge.nonce) != 0) c->nc = 0;
  return r;
}

static bool quotable(const char *s) { return !strpbrk(s, "\"\r\n\\"); }

static int basic_authorization(const char *user, const char *password, char *out, size_t out_size) {
  char plain[2 * VG_AUTH_MAX_PARAM + 2];
  if (strchr(user, ':') || strpbrk(user, "\r\n") || strpbrk(password, "\r\n")) return VG_EINVAL;
  int n = snprintf(plain, sizeof(plain), "%s:%s", user, password);
  if (n < 0 || (size_t)n >= sizeof(plain)) return VG_ETOOBIG;
  if (out_size < 6) return VG_ETOOBIG;
  memcpy(out, "Basic ", 6);
  int k = vg_base64_encode((const uint8_t *)plain, (size_t)n, out + 6, out_size - 6);
  OPENSSL_cleanse(plain, sizeof(plain));
  if (k < 0) {
    out[0] = 0;
    return k;
  }
  return k + 6;
}

int vg_auth_digest_authorization(const vg_auth_challenge_t *ch, const char *method, const char *uri,
                                 const char *user, const char *password, const char *cnonce, uint32_t nc,
                                 char *out, size_t out_size) {
  if (!quotable(user) || !quotable(uri) || strpbrk(password, "\r\n") || strpbrk(method, " \r\n"))
    return VG_EINVAL;
  char nc_hex[9], response[33];
  snprintf(nc_hex, sizeof(nc_hex), "%08x", nc);
  const char *qop = ch->qop_auth ? "auth" : NULL;
  digest_response(user, ch->realm, password, method, uri, ch->nonce, nc_hex, cnonce, qop, response);
  int n = snprintf(out, out_size, "Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", response=\"%s\"",
                   user, ch->realm, ch->nonce, uri, response);
  if (n >= 0 && (size_t)n < out_size && ch->algorithm_given)
    n += snprintf(out + n, out_size - (size_t)n, ", algorithm=MD5");
  if (n >= 0 && (size_t)n < out_size && ch->has_opaque)
    n += snprintf(out + n, out_size - (size_t)n, ", opaque=\"%s\"", ch->opaque);
  if (n >= 0 && (size_t)n < out_size && qop)
    n += snprintf(out + n, out_size - (size_t)n, ", qop=auth, nc=%s, cnonce=\"%s\"", nc_hex, cnonce);
  if (n < 0 || (size_t)n >= out_size) {
    if (out_size) out[0] = 0;
    return VG_ETOOBIG;
  }
  return n;
}

int vg_auth_client_authorization(vg_auth_client_t *c, const char *method, const char *uri, const char *user,
                                 const char *password, char *out, size_t out_size) {
  if (c->challenge.scheme == VG_AUTH_BASIC) return basic_authorization(user, password, out, out_size);
  if (c->challenge.scheme != VG_AUTH_DIGEST) return VG_ESTATE;
  uint8_t rnd[8];
  char cnonce[17];
  if (RAND_bytes(rnd, sizeof(rnd)) != 1) return VG_EIO;
  for (int i = 0; i < 8; i++) snprintf(cnonce + 2 * i, 3, "%02x", rnd[i]);
  c->nc++;
  return vg_auth_digest_authorization(&c->challenge, method, uri, user, password, cnonce, c->nc, out,
                                      out_size);
}

/* ---- Credentials -------------------------------------------------------- */

static int parse_basic_credentials(lexer_t *lx, vg_auth_credentials_t *out) {
  skip_blanks(lx);
  size_t start = lx->pos;
  while (lx->pos < lx->len && !is_blank(lx->p[lx->pos])) lx->pos++;
  size_t n = lx->pos - start;
  skip_blanks(lx);
  if (n == 0 || lx->pos != lx->len) return VG_EPROTO;
  uint8_t plain[2 * VG_AUTH_MAX_PARAM];
  int k = vg_base64_decode(lx->p + start, n, plain, sizeof(plain) - 1);
  if (k < 0) return VG_EPROTO;
  plain[k] = 0;
  if (memchr(plain, 0, (size_t)k)) return VG_EPROTO;
  char *colon = strchr((char *)plain, ':');
  if (!colon) return VG_EPROTO;
  *colon = 0;
  if (strlen((char *)plain) >= sizeof(out->username) || strlen(colon + 1) >= sizeof(out->password))
    return VG_EPROTO;
  copy_str(out->username, sizeof(out->username), (char *)plain);
  copy_str(out->password, sizeof(out->password), colon + 1);
  OPENSSL_cleanse(plain, sizeof(plain));
  return 0;
}

static int parse_digest_credentials(lexer_t *lx, vg_auth_credentials_t *out) {
  struct {
    const char *name;
    char *dst;
    size_t size;
  } fields[] = {
      {"username", out->username, sizeof(out->username)}, {"realm", out->realm, sizeof(out->realm)},
      {"nonce", out->nonce, sizeof(out->nonce)},          {"uri", out->uri, sizeof(out->uri)},
      {"response", out->response, sizeof(out->response)}, {"cnonce", out->cnonce, sizeof(out->cnonce)},
      {"nc", out->nc, sizeof(out->nc)},                   {"qop", out->qop, sizeof(out->qop)},
      {"opaque", out->opaque, sizeof(out->opaque)},       {"algorithm", out->algorithm, sizeof(out->algorithm)},
  };
  char value[1024];
  for (;;) {
    const char *name;
    size_t name_len;
    int r = lex_param(lx, &name, &name_len, value, sizeof(value));
    if (r < 0) return r;
    if (r == 0) break;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
      if (!name_is(name, name_len, fields[i].name)) continue;
      if (strlen(value) >= fields[i].size) return VG_EPROTO;
      copy_str(fields[i].dst, fields[i].size, value);
    }
  }
  skip_blanks_and_commas(lx);
  if (lx->pos != lx->len) return VG_EPROTO;
  if (!out->username[0] || !out->nonce[0] || !out->uri[0] || !out->response[0]) return VG_EPROTO;
  if (out->qop[0] && (!out->cnonce[0] || !out->nc[0])) return VG_EPROTO;
  return 0;
}

int vg_auth_parse_credentials(const char *value, size_t len, vg_auth_credentials_t *out) {
  memset(out, 0, sizeof(*out));
  lexer_t lx = {value, len, 0};
  skip_blanks(&lx);
  const char *scheme;
  size_t scheme_len = lex_token(&lx, &scheme);
  int r;
  if (name_is(scheme, scheme_len, "Basic")) {
    out->scheme = VG_AUTH_BASIC;
    r = parse_basic_credentials(&lx, out);
  } else if (name_is(scheme, scheme_len, "Digest")) {
    out->scheme = VG_AUTH_DIGEST;
    r = parse_digest_credentials(&lx, out);
  } else {
    r = VG_EUNSUPPORTED;
  }
  if (r < 0) {
    OPENSSL_cleanse(out, sizeof(*out));
    memset(out, 0, sizeof(*out));
  }
  return r;
}

/* Compares two strings without leaking, through timing, where they differ
 * or how long the secret is: both are hashed first. */
static bool secret_equal(const char *a, const char *b) {
  uint8_t ha[32], hb[32];
  unsigned la = 0, lb = 0;
  if (!EVP_Digest(a, strlen(a), ha, &la, EVP_sha256(), NULL)) return false;
  if (!EVP_Digest(b, strlen(b), hb, &lb, EVP_sha256(), NULL)) return false;
  return CRYPTO_memcmp(ha, hb, sizeof(ha)) == 0;
}

int vg_auth_check_password(const vg_auth_credentials_t *cred, const char *method, const char *password) {
  if (cred->scheme == VG_AUTH_BASIC) return secret_equal(cred->password, password) ? 0 : VG_EAUTH;
  if (cred->scheme != VG_AUTH_DIGEST) return VG_EAUTH;
  if (cred->algorithm[0] && strcasecmp(cred->algorithm, "MD5") != 0) return VG_EAUTH;
  if (cred->qop[0] && strcasecmp(cred->qop, "auth") != 0) return VG_EAUTH;
  char expected[33], given[33];
  digest_response(cred->username, cred->realm, password, method, cred->uri, cred->nonce, cred->nc,
                  cred->cnonce, cred->qop, expected);
  /* Clients write the hex in either case; compare it lower-cased. */
  if (strlen(cred->response) != 32) return VG_EAUTH;
  for (int i = 0; i < 33; i++) {
    char c = cred->response[i];
    given[i] = (c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c;
  }
  return CRYPTO_memcmp(expected, given, 32) == 0 ? 0 : VG_EAUTH;
}

/* ---- Server ------------------------------------------------------------- */

int vg_auth_server_init(vg_auth_server_t *s, const char *realm, const uint8_t *secret, size_t secret_len) {
  memset(s, 0, sizeof(*s));
  if (!quotable(realm) || strlen(realm) >= sizeof(s->realm)) return VG_EINVAL;
  copy_str(s->realm, sizeof(s->realm), realm);
  s->nonce_lifetime_s = 300;
  if (secret && secret_len) {
    /* Any length of secret is folded into the 32-byte HMAC key. */
    unsigned n = 0;
    if (!EVP_Digest(secret, secret_len, s->secret, &n, EVP_sha256(), NULL)) return VG_EIO;
  } else if (RAND_bytes(s->secret, sizeof(s->secret)) != 1) {
    return VG_EIO;
  }
  return 0;
}

#define NONCE_TIME_HEX 16
#define NONCE_MAC_BYTES 16
#define NONCE_LEN (NONCE_TIME_HEX + 2 * NONCE_MAC_BYTES)

/* nonce = 16 hex digits of the time, then 32 hex digits of
 * HMAC-SHA256(secret, time || realm) truncated to 128 bits. */
static void make_nonce(const vg_auth_server_t *s, uint64_t t, char out[NONCE_LEN + 1]) {
  uint8_t msg[8 + sizeof(s->realm)];
  for (int i = 0; i < 8; i++) msg[i] = (uint8_t)(t >> (56 - 8 * i));
  size_t realm_len = strlen(s->realm);
  memcpy(msg + 8, s->realm, realm_len);
  uint8_t mac[32];
  unsigned mac_len = 0;
  if (!HMAC(EVP_sha256(), s->secret, sizeof(s->secret), msg, 8 + realm_len, mac, &mac_len))
    memset(mac, 0, sizeof(mac));
  snprintf(out, NONCE_TIME_HEX + 1, "%016llx", (unsigned long long)t);
  for (int i = 0; i < NONCE_MAC_BYTES; i++) snprintf(out + NONCE_TIME_HEX + 2 * i, 3, "%02x", mac[i]);
}

int vg_auth_server_challenge(const vg_auth_server_t *s, int64_t now_s, int stale, char *out, size_t out_size) {
  char nonce[NONCE_LEN + 1];
  make_nonce(s, (uint64_t)now_s, nonce);
  int n = snprintf(out, out_size, "Digest realm=\"%s\", nonce=\"%s\", algorithm=MD5, qop=\"auth\"%s", s->realm,
                   nonce, stale ? ", stale=true" : "");
  if (n < 0 || (size_t)n >= out_size) {
    if (out_size) out[0] = 0;
    return VG_ETOOBIG;
  }
  return n;
}

int vg_auth_server_basic_challenge(const vg_auth_server_t *s, char *out, size_t out_size) {
  int n = snprintf(out, out_size, "Basic realm=\"%s\"", s->realm);
  if (n < 0 || (size_t)n >= out_size) {
    if (out_size) out[0] = 0;
    return VG_ETOOBIG;
  }
  return n;
}

/* 1: ours and fresh; 0: ours but expired; VG_EAUTH: not ours. */
static int check_nonce(const vg_auth_server_t *s, const char *nonce, int64_t now_s) {
  if (strlen(nonce) != NONCE_LEN) return VG_EAUTH;
  uint64_t t = 0;
  for (int i = 0; i < NONCE_TIME_HEX; i++) {
    char c = nonce[i];
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) return VG_EAUTH;
    t = t << 4 | (uint64_t)d;
  }
  char expected[NONCE_LEN + 1];
  make_nonce(s, t, expected);
  if (CRYPTO_memcmp(expected, nonce, NONCE_LEN) != 0) return VG_EAUTH;
  int64_t age = now_s - (int64_t)t;
  /* A nonce from the future is only possible if the caller's clock moved
   * back; treat it as expired rather than valid forever. */
  return age >= 0 && age <= s->nonce_lifetime_s;
}

static const vg_auth_user_t *find_user(const vg_auth_user_t *users, int n, const char *name, int *index) {
  for (int i = 0; i < n; i++) {
    if (users[i].user && strcmp(users[i].user, name) == 0) {
      *index = i;
      return &users[i];
    }
  }
  return NULL;
}

int vg_auth_server_verify(const vg_auth_server_t *s, const char *method, const char *uri,
                          const char *authorization, size_t len, const vg_auth_user_t *users, int n_users,
                          int64_t now_s, int *stale) {
  if (stale) *stale = 0;
  vg_auth_credentials_t cred;
  if (vg_auth_parse_credentials(authorization, len, &cred) < 0) return VG_EAUTH;
  int index = -1, result = VG_EAUTH;
  const vg_auth_user_t *user = find_user(users, n_users, cred.username, &index);
  if (cred.scheme == VG_AUTH_BASIC) {
    if (s->allow_basic && user && user->password && vg_auth_check_password(&cred, method, user->password) == 0)
      result = index;
  } else if (strcmp(cred.realm, s->realm) == 0 && strcmp(cred.uri, uri) == 0) {
    int fresh = check_nonce(s, cred.nonce, now_s);
    bool password_ok = user && user->password && vg_auth_check_password(&cred, method, user->password) == 0;
    if (fresh == 1 && password_ok) result = index;
    else if (fresh == 0 && password_ok && stale) *stale = 1;
  }
  OPENSSL_cleanse(&cred, sizeof(cred));
  return result;
}
