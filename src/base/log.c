#include "base/log.h"

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

int vg_log_parse_level(const char *s, vg_log_level_t *out) {
  static const char *names[] = {"error", "warn", "info", "debug", "trace"};
  for (int i = 0; i < 5; i++) {
    if (strcmp(s, names[i]) == 0) {
      *out = (vg_log_level_t)i;
      return 0;
    }
  }
  return VG_EINVAL;
}

void vg_log_write(vg_log_level_t level, const vg_log_ctx_t *ctx, const char *fmt, ...) {
  char line[2048];
  char ts[32];
  vg_time_format_utc(vg_time_utc_us(), ts, sizeof(ts));
  int n;
  if (ctx && ctx->id)
    n = snprintf(line, sizeof(line), "%s %s %s[%s] ", ts, level_names[level], ctx->module, ctx->id);
  else
    n = snprintf(line, sizeof(line), "%s %s %s ", ts, level_names[level], ctx ? ctx->module : "vigil");
  if (n < 0) return;
  if ((size_t)n >= sizeof(line) - 2) n = sizeof(line) - 2;
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
  line[n++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, (size_t)n);
  (void)w;
}
