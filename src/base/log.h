/*
 * log.h: levelled logging with a per-module context.
 *
 * Library code never prints; it logs through a context naming the module
 * and, where there is one, the object (a camera id, a client address):
 *
 *   vg_log_ctx_t lg = VG_LOG_CTX("ingest", cam->id);
 *   vg_log_warn(&lg, "connection closed: %s", vg_strerror(err));
 *   -> 2026-11-21T12:00:00.123Z WARN  ingest[cam1] connection closed: ...
 *
 * A line is formatted into one buffer and written with one write(2) to
 * stderr, so lines from several threads never interleave. Thread-safe.
 */
#ifndef VG_BASE_LOG_H
#define VG_BASE_LOG_H

typedef enum {
  VG_LOG_ERROR = 0,
  VG_LOG_WARN,
  VG_LOG_INFO,
  VG_LOG_DEBUG,
  VG_LOG_TRACE,
} vg_log_level_t;

typedef struct {
  const char *module; /* static string, e.g. "rtsp" */
  const char *id;     /* object id or NULL; must outlive the context */
} vg_log_ctx_t;

#define VG_LOG_CTX(module, id) ((vg_log_ctx_t){(module), (id)})

void vg_log_set_level(vg_log_level_t level);
vg_log_level_t vg_log_get_level(void);
/* Parses "error|warn|info|debug|trace". Returns 0 or VG_EINVAL. */
int vg_log_parse_level(const char *s, vg_log_level_t *out);
static inline int vg_log_enabled(vg_log_level_t level) { return level <= vg_log_get_level(); }

void vg_log_write(vg_log_level_t level, const vg_log_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define vg_log_at(level, ctx, ...)                                                                           \
  do {                                                                                                       \
    if (vg_log_enabled(level)) vg_log_write((level), (ctx), __VA_ARGS__);                                    \
  } while (0)
#define vg_log_error(ctx, ...) vg_log_at(VG_LOG_ERROR, ctx, __VA_ARGS__)
#define vg_log_warn(ctx, ...) vg_log_at(VG_LOG_WARN, ctx, __VA_ARGS__)
#define vg_log_info(ctx, ...) vg_log_at(VG_LOG_INFO, ctx, __VA_ARGS__)
#define vg_log_debug(ctx, ...) vg_log_at(VG_LOG_DEBUG, ctx, __VA_ARGS__)
#define vg_log_trace(ctx, ...) vg_log_at(VG_LOG_TRACE, ctx, __VA_ARGS__)

#endif
