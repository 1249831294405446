#include "base/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "base/time.h"

static atomic_int current_level = VG_LOG_INFO;
static const char *level_names[] = {"ERROR", "WARN ", "INFO ", "DEBUG", "TRACE"};

void vg_log_set_level(vg_log_level_t level) { atomic_store(&current_level, (int)level); }
vg_log_level_t vg_log_get_level(void) { return (vg_log_level_t)atomic_load(&current_level); }

static const char *api_level_names[] = {"error", "warn", "info", "debug", "trace"};

const char *vg_log_level_name(vg_log_level_t level) {
  return (unsigned)level <= VG_LOG_TRACE ? api_level_names[level] : "unknown";
}

int vg_log_parse_level(const char *s, vg_log_level_t *out) {
  const char *const *names = api_level_names;
  for (int i = 0; i < 5; i++) {
    if (strcmp(s, names[i]) == 0) {
      *out = (vg_log_level_t)i;
      return 0;
    }
  }
  return VG_EINVAL;
}

/* The ring: a fixed array written round-robin under one mutex. The lock is
 * held only to copy one line in (about half a kilobyte), so a writer waits
 * at most for another writer's copy or for a reader's scan of the array. */
static struct {
  pthread_mutex_t lock;
  uint64_t next_seq; /* the sequence number of the next line; 1 at first */
  vg_log_entry_t lines[VG_LOG_RING_LINES];
} ring = {.lock = PTHREAD_MUTEX_INITIALIZER, .next_seq = 1};

/* Copies src into dst (size bytes), cut at size - 1; never splits a UTF-8
 * sequence, so a cut message stays valid text. */
static void copy_cut(char *dst, size_t size, const char *src, size_t len) {
  if (len >= size) {
    len = size - 1;
    while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80)
      len--;
  }
  memcpy(dst, src, len);
  dst[len] = '\0';
}

static void ring_push(int64_t time_us, vg_log_level_t level, const vg_log_ctx_t *ctx, const char *msg,
                      size_t msg_len) {
  pthread_mutex_lock(&ring.lock);
  vg_log_entry_t *e = &ring.lines[(ring.next_seq - 1) % VG_LOG_RING_LINES];
  e->seq = ring.next_seq++;
  e->time_us = time_us;
  e->level = level;
  const char *module = ctx && ctx->module ? ctx->module : "vigil";
  copy_cut(e->module, sizeof(e->module), module, strlen(module));
  const char *id = ctx && ctx->id ? ctx->id : "";
  copy_cut(e->id, sizeof(e->id), id, strlen(id));
  if (msg_len >= sizeof(e->message)) {
    copy_cut(e->message, sizeof(e->message) - 3, msg, msg_len);
    strcat(e->message, "...");
  } else {
    copy_cut(e->message, sizeof(e->message), msg, msg_len);
  }
  pthread_mutex_unlock(&ring.lock);
}

static int entry_matches(const vg_log_entry_t *e, const vg_log_filter_t *f) {
  if (e->level > f->max_level) return 0;
  if (e->time_us < f->since_us) return 0;
  if (f->module && f->module[0] && strcmp(e->module, f->module) != 0) return 0;
  return 1;
}

int vg_log_ring_read(const vg_log_filter_t *filter, vg_log_entry_t *out, int max, uint64_t *last_seq) {
  int n = 0;
  pthread_mutex_lock(&ring.lock);
  uint64_t newest = ring.next_seq - 1;
  uint64_t oldest = newest >= VG_LOG_RING_LINES ? newest - VG_LOG_RING_LINES + 1 : 1;
  if (filter->after_seq + 1 > oldest) oldest = filter->after_seq + 1;
  /* Newest first into out, then reversed: the newest max matching lines. */
  for (uint64_t seq = newest; seq >= oldest && seq > 0 && n < max; seq--) {
    const vg_log_entry_t *e = &ring.lines[(seq - 1) % VG_LOG_RING_LINES];
    if (entry_matches(e, filter)) out[n++] = *e;
  }
  pthread_mutex_unlock(&ring.lock);
  for (int i = 0, j = n - 1; i < j; i++, j--) {
    vg_log_entry_t t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  if (last_seq) *last_seq = newest;
  return n;
}

void vg_log_write(vg_log_level_t level, const vg_log_ctx_t *ctx, const char *fmt, ...) {
  char line[2048];
  char ts[32];
  int64_t now_us = vg_time_utc_us();
  vg_time_format_utc(now_us, ts, sizeof(ts));
  int n;
  if (ctx && ctx->id)
    n = snprintf(line, sizeof(line), "%s %s %s[%s] ", ts, level_names[level], ctx->module, ctx->id);
  else
    n = snprintf(line, sizeof(line), "%s %s %s ", ts, level_names[level], ctx ? ctx->module : "vigil");
  if (n < 0) return;
  if ((size_t)n >= sizeof(line) - 2) n = sizeof(line) - 2;
  int prefix = n;
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
  va_end(ap);
  if (m < 0) m = 0;
  n += m;
  if ((size_t)n > sizeof(line) - 2) n = sizeof(line) - 2;
  /* Control characters from the network never reach the terminal raw. */
  for (int i = 0; i < n; i++)
    if ((unsigned char)line[i] < 0x20) line[i] = ' ';
  ring_push(now_us, level, ctx, line + prefix, (size_t)(n - prefix));
  line[n++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, (size_t)n);
  (void)w;
}
