/* base64.h: RFC 4648 base64 (standard alphabet, with padding). Pure functions. */
#ifndef VG_BASE_BASE64_H
#define VG_BASE_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Bytes needed to encode len bytes, including the terminating NUL. */
static inline size_t vg_base64_encoded_size(size_t len) { return (len + 2) / 3 * 4 + 1; }
/* Encodes into out (NUL-terminated). Returns the string length, or VG_ETOOBIG
 * if out_size is too small. */
int vg_base64_encode(const uint8_t *in, size_t len, char *out, size_t out_size);
/* Decodes len characters (padding optional, no whitespace) into out.
 * Returns the decoded length, VG_EINVAL on a bad character or VG_ETOOBIG if
 * out_size is too small. */
int vg_base64_decode(const char *in, size_t len, uint8_t *out, size_t out_size);

#endif
