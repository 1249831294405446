#include "proto/url.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"

uint16_t vg_url_default_port(const char *scheme) {
  if (!strcasecmp(scheme, "rtsp")) return 554;
  if (!strcasecmp(scheme, "rtsps")) return 322;
  if (!strcasecmp(scheme, "http")) return 80;
  if (!strcasecmp(scheme, "https")) return 443;
  return 0;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes s[0..len) into out (NUL-terminated). A decoded NUL byte is
 * refused because the result is used as a C string. */
static int percent_decode(const char *s, size_t len, char *out, size_t out_size) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= len) return VG_EINVAL;
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return VG_EINVAL;
      c = (char)(hi << 4 | lo);
      if (c == 0) return VG_EINVAL;
      i += 2;
    }
    if (o + 1 >= out_size) return VG_ETOOBIG;
    out[o++] = c;
  }
  out[o] = 0;
  return (int)o;
}

static int copy_span(const char *s, size_t len, char *out, size_t out_size) {
  if (len + 1 > out_size) return VG_ETOOBIG;
  memcpy(out, s, len);
  out[len] = 0;
  return (int)len;
}

static bool is_scheme_char(char c, bool first) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return !first && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.');
}

/* Length of the scheme if s starts with "scheme://", else 0. */
static size_t scheme_length(const char *s) {
  size_t i = 0;
  while (s[i] && is_scheme_char(s[i], i == 0)) i++;
  if (i == 0 || strncmp(s + i, "://", 3) != 0) return 0;
  return i;
}

static int parse_port(const char *s, size_t len, uint16_t *out) {
  if (len == 0 || len > 5) return VG_EINVAL;
  unsigned v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return VG_EINVAL;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  if (v == 0 || v > 65535) return VG_EINVAL;
  *out = (uint16_t)v;
  return 0;
}

static int parse_host_port(const char *s, size_t len, vg_url_t *u) {
  const char *host = s;
  size_t host_len;
  const char *rest;
  if (len > 0 && s[0] == '[') {
    const char *close = memchr(s, ']', len);
    if (!close) return VG_EINVAL;
    host = s + 1;
    host_len = (size_t)(close - host);
    for (size_t i = 0; i < host_len; i++) {
      char c = host[i];
      /* Hex groups, dots of an embedded IPv4, and a "%25zone" suffix. */
      bool alnum = (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
      if (!(alnum || c == ':' || c == '.' || c == '%' || c == '-' || c == '_')) return VG_EINVAL;
    }
    u->host_is_ipv6 = 1;
    rest = close + 1;
    if (rest < s + len && *rest != ':') return VG_EINVAL;
  } else {
    const char *colon = memchr(s, ':', len);
    host_len = colon ? (size_t)(colon - s) : len;
    if (memchr(s, '[', len) || memchr(s, ']', len)) return VG_EINVAL;
    if (colon && memchr(colon + 1, ':', len - host_len - 1)) return VG_EINVAL;
    rest = s + host_len;
  }
  if (host_len == 0) return VG_EINVAL;
  int r = copy_span(host, host_len, u->host, sizeof(u->host));
  if (r < 0) return r;
  size_t rest_len = (size_t)(s + len - rest);
  /* "host:" with an empty port means the default (RFC 3986 §3.2.3). */
  if (rest_len > 1) {
    r = parse_port(rest + 1, rest_len - 1, &u->port);
    if (r < 0) return r;
    u->port_explicit = 1;
  }
  return 0;
}

static int parse_userinfo(const char *s, size_t len, vg_url_t *u) {
  const char *colon = memchr(s, ':', len);
  size_t user_len = colon ? (size_t)(colon - s) : len;
  int r = percent_decode(s, user_len, u->user, sizeof(u->user));
  if (r < 0) return r;
  if (colon) {
    r = percent_decode(colon + 1, len - user_len - 1, u->password, sizeof(u->password));
    if (r < 0) return r;
  }
  u->has_credentials = 1;
  return 0;
}

static int parse_url(const char *url, vg_url_t *u) {
  for (const char *p = url; *p; p++)
    if ((unsigned char)*p <= 0x20 || *p == 0x7f) return VG_EINVAL;
  size_t scheme_len = scheme_length(url);
  if (scheme_len == 0) return VG_EINVAL;
  if (scheme_len + 1 > sizeof(u->scheme)) return VG_EUNSUPPORTED;
  for (size_t i = 0; i < scheme_len; i++) u->scheme[i] = (char)(url[i] | 0x20);
  u->port = vg_url_default_port(u->scheme);
  if (u->port == 0) return VG_EUNSUPPORTED;

  const char *auth = url + scheme_len + 3;
  size_t auth_len = strcspn(auth, "/?#");
  /* The last '@' ends the userinfo, so that a password holding a raw '@'
   * (common in pasted camera URLs) still parses. */
  const char *at = NULL;
  for (size_t i = 0; i < auth_len; i++)
    if (auth[i] == '@') at = auth + i;
  const char *hostport = auth;
  if (at) {
    int r = parse_userinfo(auth, (size_t)(at - auth), u);
    if (r < 0) return r;
    hostport = at + 1;
  }
  int r = parse_host_port(hostport, (size_t)(auth + auth_len - hostport), u);
  if (r < 0) return r;

  const char *path = auth + auth_len;
  size_t path_len = strcspn(path, "#");
  if (path_len == 0 || path[0] == '?') {
    if (path_len + 2 > sizeof(u->path)) return VG_ETOOBIG;
    u->path[0] = '/';
    memcpy(u->path + 1, path, path_len);
    u->path[path_len + 1] = 0;
    return 0;
  }
  r = copy_span(path, path_len, u->path, sizeof(u->path));
  return r < 0 ? r : 0;
}

int vg_url_parse(const char *url, vg_url_t *out) {
  memset(out, 0, sizeof(*out));
  int r = parse_url(url, out);
  if (r < 0) memset(out, 0, sizeof(*out));
  return r;
}

/* A tiny bounded appender used by the printers below. */
typedef struct {
  char *buf;
  size_t cap, len;
  bool overflow;
} out_t;

static void out_mem(out_t *o, const char *s, size_t n) {
  if (o->overflow || o->len + n + 1 > o->cap) {
    o->overflow = true;
    return;
  }
  memcpy(o->buf + o->len, s, n);
  o->len += n;
  o->buf[o->len] = 0;
}

static void out_str(out_t *o, const char *s) { out_mem(o, s, strlen(s)); }

static int out_finish(out_t *o) {
  if (o->overflow) {
    if (o->cap) o->buf[0] = 0;
    return VG_ETOOBIG;
  }
  return (int)o->len;
}

static void out_percent_encoded(out_t *o, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out_mem(o, (const char *)&c, 1);
    } else {
      char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
      out_mem(o, esc, 3);
    }
  }
}

static int print_url(const vg_url_t *u, bool with_credentials, char *out, size_t out_size) {
  out_t o = {out, out_size, 0, out_size == 0};
  if (out_size) out[0] = 0;
  out_str(&o, u->scheme);
  out_str(&o, "://");
  if (with_credentials && u->has_credentials) {
    out_percent_encoded(&o, u->user);
    if (u->password[0]) {
      out_str(&o, ":");
      out_percent_encoded(&o, u->password);
    }
    out_str(&o, "@");
  }
  if (u->host_is_ipv6) out_str(&o, "[");
  out_str(&o, u->host);
  if (u->host_is_ipv6) out_str(&o, "]");
  if (u->port_explicit) {
    char port[8];
    snprintf(port, sizeof(port), ":%u", (unsigned)u->port);
    out_str(&o, port);
  }
  out_str(&o, u->path);
  return out_finish(&o);
}

int vg_url_print(const vg_url_t *u, char *out, size_t out_size) { return print_url(u, false, out, out_size); }

int vg_url_print_with_credentials(const vg_url_t *u, char *out, size_t out_size) {
  return print_url(u, true, out, out_size);
}

int vg_url_redact(const char *url, char *out, size_t out_size) {
  out_t o = {out, out_size, 0, out_size == 0};
  if (out_size) out[0] = 0;
  const char *sep = strstr(url, "://");
  if (!sep || memchr(url, '/', (size_t)(sep - url))) {
    out_str(&o, url);
    return out_finish(&o);
  }
  const char *auth = sep + 3;
  size_t auth_len = strcspn(auth, "/?#");
  const char *host = auth;
  for (size_t i = 0; i < auth_len; i++)
    if (auth[i] == '@') host = auth + i + 1;
  out_mem(&o, url, (size_t)(auth - url));
  out_str(&o, host);
  return out_finish(&o);
}

/* RFC 3986 components of a URI reference, as spans of the original. */
typedef struct {
  const char *scheme, *authority, *path, *query;
  size_t scheme_len, authority_len, path_len, query_len;
  bool has_scheme, has_authority, has_query;
} uri_parts_t;

static void split_uri(const char *s, uri_parts_t *p) {
  memset(p, 0, sizeof(*p));
  size_t n = 0;
  while (s[n] && is_scheme_char(s[n], n == 0)) n++;
  if (n > 0 && s[n] == ':') {
    p->has_scheme = true;
    p->scheme = s;
    p->scheme_len = n;
    s += n + 1;
  }
  if (s[0] == '/' && s[1] == '/') {
    p->has_authority = true;
    p->authority = s + 2;
    p->authority_len = strcspn(s + 2, "/?#");
    s = p->authority + p->authority_len;
  }
  p->path = s;
  p->path_len = strcspn(s, "?#");
  s += p->path_len;
  if (*s == '?') {
    p->has_query = true;
    p->query = s + 1;
    p->query_len = strcspn(s + 1, "#");
  }
}

/* RFC 3986 §5.2.4, in place over a NUL-terminated path. */
static void remove_dot_segments(char *path) {
  char *in = path, *out = path;
  while (*in) {
    if (!strncmp(in, "../", 3)) {
      in += 3;
    } else if (!strncmp(in, "./", 2)) {
      in += 2;
    } else if (!strncmp(in, "/./", 3)) {
      in += 2;
    } else if (!strcmp(in, "/.")) {
      in[1] = 0;
    } else if (!strncmp(in, "/../", 4) || !strcmp(in, "/..")) {
      if (in[3] == '/') {
        in += 3;
      } else {
        in += 2;
        *in = '/';
      }
      while (out > path && *--out != '/') {
      }
    } else if (!strcmp(in, ".") || !strcmp(in, "..")) {
      in += strlen(in);
    } else {
      do {
        *out++ = *in++;
      } while (*in && *in != '/');
    }
  }
  *out = 0;
}

int vg_url_resolve(const char *base, const char *ref, char *out, size_t out_size) {
  uri_parts_t b, r;
  split_uri(base, &b);
  split_uri(ref, &r);
  if (out_size) out[0] = 0;
  if (!b.has_scheme) return VG_EINVAL;

  char path[2 * VG_URL_MAX_PATH];
  const uri_parts_t *authority_from = &b;
  const uri_parts_t *query_from = &r;
  const char *scheme = r.has_scheme ? r.scheme : b.scheme;
  size_t scheme_len = r.has_scheme ? r.scheme_len : b.scheme_len;
  if (r.path_len + b.path_len + 2 > sizeof(path)) return VG_ETOOBIG;

  if (r.has_scheme || r.has_authority) {
    authority_from = &r;
    copy_span(r.path, r.path_len, path, sizeof(path));
  } else if (r.path_len == 0) {
    copy_span(b.path, b.path_len, path, sizeof(path));
    if (!r.has_query) query_from = &b;
  } else if (r.path[0] == '/') {
    copy_span(r.path, r.path_len, path, sizeof(path));
  } else {
    /* Merge: the base path up to its last '/', then the reference. */
    size_t dir_len = 0;
    for (size_t i = 0; i < b.path_len; i++)
      if (b.path[i] == '/') dir_len = i + 1;
    if (b.has_authority && b.path_len == 0) {
      path[0] = '/';
      dir_len = 1;
    } else {
      memcpy(path, b.path, dir_len);
    }
    memcpy(path + dir_len, r.path, r.path_len);
    path[dir_len + r.path_len] = 0;
  }
  remove_dot_segments(path);

  out_t o = {out, out_size, 0, out_size == 0};
  out_mem(&o, scheme, scheme_len);
  out_str(&o, ":");
  if (authority_from->has_authority) {
    out_str(&o, "//");
    out_mem(&o, authority_from->authority, authority_from->authority_len);
  }
  out_str(&o, path);
  if (query_from->has_query) {
    out_str(&o, "?");
    out_mem(&o, query_from->query, query_from->query_len);
  }
  return out_finish(&o);
}
