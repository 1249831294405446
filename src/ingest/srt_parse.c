/* srt_parse.c: SRT stream ids and srt:// URLs (pure string work, any thread). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "ingest/srt_ingest.h"

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes src[0..len) into out; VG_EINVAL on a bad escape or when
 * it does not fit. */
static int decode(const char *src, size_t len, char *out, size_t size) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    char ch = src[i];
    if (ch == '%') {
      if (i + 2 >= len) return VG_EINVAL;
      int hi = hexval(src[i + 1]), lo = hexval(src[i + 2]);
      if (hi < 0 || lo < 0) return VG_EINVAL;
      ch = (char)(hi * 16 + lo);
      i += 2;
    } else if (ch == '+') {
      ch = ' ';
    }
    if (ch == 0 || o + 1 >= size) return VG_EINVAL;
    out[o++] = ch;
  }
  out[o] = 0;
  return 0;
}

int vg_srt_streamid_name(const char *sid, char *out, size_t size) {
  if (!sid || !size) return VG_EINVAL;
  out[0] = 0;
  size_t len = strlen(sid);
  if (len == 0 || len > 512) return VG_EINVAL;
  /* Some callers send the stream id still percent-encoded from their URL
   * ("%23%21%3A%3Ar%3Dcam1"); camera names never contain '%'. */
  char decoded[513];
  if (strchr(sid, '%')) {
    if (decode(sid, len, decoded, sizeof(decoded)) < 0) return VG_EINVAL;
    sid = decoded;
    len = strlen(sid);
    if (len == 0) return VG_EINVAL;
  }
  if (strncmp(sid, "#!::", 4) != 0) {
    if (len >= size) return VG_EINVAL;
    memcpy(out, sid, len + 1);
    return 0;
  }
  /* The access-control syntax: comma-separated key=value pairs. */
  const char *p = sid + 4;
  int have_name = 0;
  while (*p) {
    const char *end = strchr(p, ',');
    size_t item = end ? (size_t)(end - p) : strlen(p);
    const char *eq = memchr(p, '=', item);
    if (!eq) return VG_EINVAL;
    size_t klen = (size_t)(eq - p), vlen = item - klen - 1;
    const char *val = eq + 1;
    if (klen == 1 && p[0] == 'r') {
      if (vlen == 0 || vlen >= size) return VG_EINVAL;
      memcpy(out, val, vlen);
      out[vlen] = 0;
      have_name = 1;
    } else if (klen == 1 && p[0] == 'm') {
      if (!(vlen == 7 && memcmp(val, "publish", 7) == 0)) return VG_EUNSUPPORTED;
    }
    p += item;
    if (*p == ',') p++;
  }
  return have_name ? 0 : VG_EINVAL;
}

int vg_srt_url_parse(const char *url, vg_srt_url_t *out) {
  memset(out, 0, sizeof(*out));
  out->latency_ms = -1;
  if (strncmp(url, "srt://", 6) != 0) return VG_EINVAL;
  const char *host = url + 6;
  const char *q = strchr(host, '?');
  const char *auth_end = q ? q : host + strlen(host);
  if (auth_end > host && auth_end[-1] == '/') auth_end--; /* srt://h:p/?... */
  const char *colon;
  const char *host_end;
  if (*host == '[') {
    const char *rb = memchr(host, ']', (size_t)(auth_end - host));
    if (!rb || rb[1] != ':') return VG_EINVAL;
    host_end = rb;
    host++;
    colon = rb + 1;
  } else {
    colon = NULL;
    for (const char *p = host; p < auth_end; p++)
      if (*p == ':') colon = p;
    if (!colon) return VG_EINVAL;
    host_end = colon;
  }
  size_t hlen = (size_t)(host_end - host);
  if (hlen == 0 || hlen >= sizeof(out->host) || memchr(host, '/', hlen) || memchr(host, '@', hlen))
    return VG_EINVAL;
  memcpy(out->host, host, hlen);
  char *end;
  const char *port = colon + 1;
  if (port >= auth_end || *port < '0' || *port > '9') return VG_EINVAL;
  long pv = strtol(port, &end, 10);
  if (end != auth_end || pv < 1 || pv > 65535) return VG_EINVAL;
  out->port = (int)pv;
  if (!q) return 0;
  const char *p = q + 1;
  while (*p) {
    size_t item = strcspn(p, "&");
    const char *eq = memchr(p, '=', item);
    if (eq) {
      size_t klen = (size_t)(eq - p), vlen = item - klen - 1;
      const char *val = eq + 1;
      if (klen == 8 && memcmp(p, "streamid", 8) == 0) {
        if (decode(val, vlen, out->streamid, sizeof(out->streamid)) < 0) return VG_EINVAL;
      } else if (klen == 10 && memcmp(p, "passphrase", 10) == 0) {
        if (decode(val, vlen, out->passphrase, sizeof(out->passphrase)) < 0) return VG_EINVAL;
        size_t n = strlen(out->passphrase);
        if (n && (n < 10 || n > 79)) return VG_EINVAL;
      } else if (klen == 7 && memcmp(p, "latency", 7) == 0) {
        char num[16];
        if (vlen == 0 || vlen >= sizeof(num)) return VG_EINVAL;
        memcpy(num, val, vlen);
        num[vlen] = 0;
        long lv = strtol(num, &end, 10);
        if (*end || lv < 0 || lv > 60000) return VG_EINVAL;
        out->latency_ms = (int)lv;
      }
      /* Other options (mode, pbkeylen, ...) are left to libsrt's defaults. */
    }
    p += item;
    if (*p == '&') p++;
  }
  return 0;
}
