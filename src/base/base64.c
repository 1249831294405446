#include "base/base64.h"

#include "base/error.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int vg_base64_encode(const uint8_t *in, size_t len, char *out, size_t out_size) {
  if (out_size < vg_base64_encoded_size(len)) return VG_ETOOBIG;
  size_t o = 0;
  for (size_t i = 0; i < len; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < len) v |= (uint32_t)in[i + 1] << 8;
    if (i + 2 < len) v |= in[i + 2];
    out[o++] = alphabet[(v >> 18) & 63];
    out[o++] = alphabet[(v >> 12) & 63];
    out[o++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < len ? alphabet[v & 63] : '=';
  }
  out[o] = '\0';
  return (int)o;
}

static int value_of(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62; /* also accept the URL-safe alphabet */
  if (c == '/' || c == '_') return 63;
  return -1;
}

int vg_base64_decode(const char *in, size_t len, uint8_t *out, size_t out_size) {
  while (len > 0 && in[len - 1] == '=')
    len--;
  if (len % 4 == 1) return VG_EINVAL;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; i++) {
    int v = value_of(in[i]);
    if (v < 0) return VG_EINVAL;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o >= out_size) return VG_ETOOBIG;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  return (int)o;
}
