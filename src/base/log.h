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
 *
 * Every line written is also kept in an in-memory ring of the last
 * VG_LOG_RING_LINES lines (time, level, module, object id, message), each
 * with a sequence number, so the HTTP API can show the recent log
 * (GET /api/v1/system/logs) and a page can poll for lines after the last it
 * saw. The ring costs one short mutex hold and a copy of the line per write;
 * readers copy lines out and never hold the lock while the caller works.
 * What is logged is what the ring holds: camera credentials are never
 * logged (URLs are logged through vg_url_redact), so never kept either.
 */
#ifndef VG_BASE_LOG_H
#define VG_BASE_LOG_H

#include <stddef.h>
#include <stdint.h>

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

/* ---- the ring of recent lines ---- */

#define VG_LOG_RING_LINES 2000
#define VG_LOG_RING_MODULE 24   /* module name, truncated */
#define VG_LOG_RING_ID 64       /* object id, truncated */
#define VG_LOG_RING_MESSAGE 480 /* message, truncated (a longer line ends in "...") */

typedef struct {
  uint64_t seq;    /* 1, 2, 3 ... in write order, never reused */
  int64_t time_us; /* UTC, as on the stderr line */
  vg_log_level_t level;
  char module[VG_LOG_RING_MODULE];
  char id[VG_LOG_RING_ID]; /* "" when the line names no object */
  char message[VG_LOG_RING_MESSAGE];
} vg_log_entry_t;

typedef struct {
  vg_log_level_t max_level; /* lines of this level or more severe */
  const char *module;       /* exact module name, or NULL for every module */
  uint64_t after_seq;       /* only lines with seq > after_seq (0: all) */
  int64_t since_us;         /* only lines with time_us >= since_us (0: all) */
} vg_log_filter_t;

/* Copies the newest (at most max) lines that pass the filter into out,
 * oldest first. Stores in *last_seq (if not NULL) the sequence number of
 * the newest line written so far, matching or not: a poller passes it as
 * after_seq next time. Returns the number of lines copied. Any thread. */
int vg_log_ring_read(const vg_log_filter_t *filter, vg_log_entry_t *out, int max, uint64_t *last_seq);

/* The name of a level as the API spells it ("error", "warn", ...). */
const char *vg_log_level_name(vg_log_level_t level);

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
