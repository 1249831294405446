/*
 * strbuf.h: a growable text buffer with a hard size limit.
 *
 * Response bodies and the /metrics page are assembled in one of these. Every
 * buffer has a maximum size (as curl's dynbuf does): an append that would
 * pass it, or a failed allocation, marks the buffer failed and later appends
 * do nothing, so a writer can append a whole document and check once at the
 * end. The text is always NUL-terminated once anything was appended.
 *
 * A buffer belongs to one thread at a time; no locking.
 */
#ifndef VG_BASE_STRBUF_H
#define VG_BASE_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct vg_strbuf {
  char *data; /* NUL-terminated text, or NULL while empty */
  size_t len; /* bytes before the NUL */
  size_t cap; /* bytes allocated at data */
  size_t max; /* the most bytes len may reach */
  int error;  /* 0, or the first VG_ENOMEM / VG_ETOOBIG */
} vg_strbuf_t;

/* An empty buffer that may grow to max bytes (0: 16 MiB). */
void vg_strbuf_init(vg_strbuf_t *sb, size_t max);
/* Frees the text and empties the buffer (it may be used again). */
void vg_strbuf_free(vg_strbuf_t *sb);
int vg_strbuf_append(vg_strbuf_t *sb, const char *data, size_t len);
int vg_strbuf_puts(vg_strbuf_t *sb, const char *s);
int vg_strbuf_printf(vg_strbuf_t *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int vg_strbuf_vprintf(vg_strbuf_t *sb, const char *fmt, va_list ap);
/* Takes the text out (the caller frees it) and empties the buffer. NULL if
 * nothing was appended or the buffer failed. */
char *vg_strbuf_steal(vg_strbuf_t *sb, size_t *len);

#endif
