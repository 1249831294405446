/*
 * url.h: parsing and printing of camera and stream URLs
 * (rtsp://, rtsps://, http://, https://), RFC 3986 syntax.
 *
 *   vg_url_t u;
 *   if (vg_url_parse("rtsp://admin:p%40ss@[fe80::1]:8554/ch1?sub=0", &u) == 0)
 *     // u.scheme "rtsp", u.user "admin", u.password "p@ss", u.host "fe80::1",
 *     // u.port 8554, u.path "/ch1?sub=0"
 *
 * Credentials: a parsed vg_url_t holds the user and password in clear (they
 * are needed to authenticate). Anything that goes to a log, the API or a
 * database row meant for display must be printed with vg_url_print() or
 * vg_url_redact(), which never write credentials.
 *
 * Pure functions over caller memory, no allocation: any thread.
 */
#ifndef VG_PROTO_URL_H
#define VG_PROTO_URL_H

#include <stddef.h>
#include <stdint.h>

#define VG_URL_MAX_SCHEME 16
#define VG_URL_MAX_USER 128
#define VG_URL_MAX_PASSWORD 128
#define VG_URL_MAX_HOST 256
#define VG_URL_MAX_PATH 2048

typedef struct {
  char scheme[VG_URL_MAX_SCHEME];     /* lower case: "rtsp", "rtsps", "http", "https" */
  char user[VG_URL_MAX_USER];         /* percent-decoded; "" when absent */
  char password[VG_URL_MAX_PASSWORD]; /* percent-decoded; "" when absent */
  int has_credentials;                /* a userinfo part ("user[:password]@") was present */
  char host[VG_URL_MAX_HOST];         /* without the [] of an IPv6 literal */
  int host_is_ipv6;                   /* host was written as [v6 literal] */
  uint16_t port;                      /* explicit, or the scheme's default */
  int port_explicit;                  /* the URL named the port */
  char path[VG_URL_MAX_PATH];         /* path and query as written (not decoded), "/" when empty */
} vg_url_t;

/* The default port of a scheme: 554 rtsp, 322 rtsps, 80 http, 443 https;
 * 0 for any other scheme. The comparison ignores case. */
uint16_t vg_url_default_port(const char *scheme);

/* Parses a NUL-terminated absolute URL with one of the schemes above.
 * Fragments ("#...") are dropped. Returns 0, VG_EINVAL on a malformed URL
 * (no "scheme://", bad port, bad percent escape, control characters,
 * unbalanced []), VG_EUNSUPPORTED for another scheme, or VG_ETOOBIG when a
 * part exceeds its field. On failure *out is zeroed. */
int vg_url_parse(const char *url, vg_url_t *out);

/* Prints "scheme://host[:port]/path" WITHOUT credentials: the form for logs
 * and the API. IPv6 hosts get their brackets back; the port is printed only
 * when it was explicit. Returns the length written (NUL-terminated), or
 * VG_ETOOBIG if out_size is too small. */
int vg_url_print(const vg_url_t *u, char *out, size_t out_size);

/* Like vg_url_print() but also writes the credentials, percent-encoded:
 * the form a URL is stored in for reconnecting. Never log its output. */
int vg_url_print_with_credentials(const vg_url_t *u, char *out, size_t out_size);

/* Copies a URL string with its "user:password@" part removed, without
 * needing it to parse (it also works on URLs vigil cannot use). Returns the
 * length written, or VG_ETOOBIG. */
int vg_url_redact(const char *url, char *out, size_t out_size);

/* Resolves reference `ref` against the absolute URL `base` per RFC 3986
 * §5.2 (with dot-segment removal): an absolute ref is returned as is, "//h/p"
 * takes the base scheme, "/p" the base authority, "p" is merged with the
 * base path's directory, "?q" replaces the query, "" gives the base.
 * Credentials in base are carried over as written. Returns the length
 * written, VG_EINVAL if base has no scheme, or VG_ETOOBIG.
 *
 * Note: RTSP control attributes are NOT resolved this way by real peers;
 * see vg_sdp_resolve_control() in sdp.h. */
int vg_url_resolve(const char *base, const char *ref, char *out, size_t out_size);

#endif
