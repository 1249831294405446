#include "base/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

#define STRBUF_DEFAULT_MAX (16u << 20)

void vg_strbuf_init(vg_strbuf_t *sb, size_t max) {
  memset(sb, 0, sizeof(*sb));
  sb->max = max ? max : STRBUF_DEFAULT_MAX;
}

void vg_strbuf_free(vg_strbuf_t *sb) {
  size_t max = sb->max;
  free(sb->data);
  vg_strbuf_init(sb, max);
}

/* Makes room for need more bytes plus the NUL. */
static int reserve(vg_strbuf_t *sb, size_t need) {
  if (sb->error) return sb->error;
  if (need > sb->max - sb->len) return sb->error = VG_ETOOBIG;
  if (sb->len + need + 1 <= sb->cap) return 0;
  size_t cap = sb->cap ? sb->cap : 256;
  while (cap < sb->len + need + 1)
    cap *= 2;
  if (cap > sb->max + 1) cap = sb->max + 1;
  char *grown = realloc(sb->data, cap);
  if (!grown) return sb->error = VG_ENOMEM;
  sb->data = grown;
  sb->cap = cap;
  return 0;
}

int vg_strbuf_append(vg_strbuf_t *sb, const char *data, size_t len) {
  int err = reserve(sb, len);
  if (err) return err;
  if (len) memcpy(sb->data + sb->len, data, len);
  sb->len += len;
  sb->data[sb->len] = '\0';
  return 0;
}

int vg_strbuf_puts(vg_strbuf_t *sb, const char *s) { return vg_strbuf_append(sb, s, strlen(s)); }

int vg_strbuf_vprintf(vg_strbuf_t *sb, const char *fmt, va_list ap) {
  if (sb->error) return sb->error;
  va_list copy;
  va_copy(copy, ap);
  int n = vsnprintf(NULL, 0, fmt, copy);
  va_end(copy);
  if (n < 0) return sb->error = VG_EINVAL;
  int err = reserve(sb, (size_t)n);
  if (err) return err;
  vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
  sb->len += (size_t)n;
  return 0;
}

int vg_strbuf_printf(vg_strbuf_t *sb, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int err = vg_strbuf_vprintf(sb, fmt, ap);
  va_end(ap);
  return err;
}

char *vg_strbuf_steal(vg_strbuf_t *sb, size_t *len) {
  char *text = sb->error ? NULL : sb->data;
  if (len) *len = text ? sb->len : 0;
  if (!text) free(sb->data);
  size_t max = sb->max;
  vg_strbuf_init(sb, max);
  return text;
}
