#include "base/metrics.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/error.h"
#include "base/time.h"

/* ---- collectors ---- */

typedef struct {
  char name[64];
  vg_metrics_collect_fn fn;
  void *opaque;
} collector_t;

static pthread_mutex_t collectors_lock = PTHREAD_MUTEX_INITIALIZER;
static collector_t *collectors;
static size_t collector_count;

int vg_metrics_register(const char *name, vg_metrics_collect_fn fn, void *opaque) {
  int err = 0;
  pthread_mutex_lock(&collectors_lock);
  size_t i = 0;
  while (i < collector_count && strcmp(collectors[i].name, name) != 0)
    i++;
  if (i == collector_count) {
    collector_t *grown = realloc(collectors, (collector_count + 1) * sizeof(*collectors));
    if (!grown) {
      err = VG_ENOMEM;
      goto out;
    }
    collectors = grown;
    collector_count++;
  }
  snprintf(collectors[i].name, sizeof(collectors[i].name), "%s", name);
  collectors[i].fn = fn;
  collectors[i].opaque = opaque;
out:
  pthread_mutex_unlock(&collectors_lock);
  return err;
}

void vg_metrics_unregister(const char *name) {
  pthread_mutex_lock(&collectors_lock);
  for (size_t i = 0; i < collector_count; i++) {
    if (strcmp(collectors[i].name, name) != 0) continue;
    memmove(&collectors[i], &collectors[i + 1], (collector_count - i - 1) * sizeof(*collectors));
    collector_count--;
    break;
  }
  if (collector_count == 0) {
    free(collectors);
    collectors = NULL;
  }
  pthread_mutex_unlock(&collectors_lock);
}

/* ---- formatting ---- */

/* HELP text escapes only backslash and newline; label values also quotes. */
static void append_escaped(vg_strbuf_t *out, const char *s, int escape_quotes) {
  const char *run = s;
  for (; *s; s++) {
    const char *rep = NULL;
    if (*s == '\\')
      rep = "\\\\";
    else if (*s == '\n')
      rep = "\\n";
    else if (*s == '"' && escape_quotes)
      rep = "\\\"";
    if (!rep) continue;
    vg_strbuf_append(out, run, (size_t)(s - run));
    vg_strbuf_puts(out, rep);
    run = s + 1;
  }
  vg_strbuf_append(out, run, (size_t)(s - run));
}

void vg_metrics_escape_label(vg_strbuf_t *out, const char *value) { append_escaped(out, value, 1); }

void vg_metrics_family(vg_strbuf_t *out, const char *name, const char *type, const char *help) {
  vg_strbuf_printf(out, "# HELP %s ", name);
  append_escaped(out, help, 0);
  vg_strbuf_printf(out, "\n# TYPE %s %s\n", name, type);
}

void vg_metrics_single_u64(vg_strbuf_t *out, const char *name, const char *type, const char *help,
                           uint64_t value) {
  vg_metrics_family(out, name, type, help);
  vg_metrics_sample_u64(out, name, NULL, value);
}

static void append_labels(vg_strbuf_t *out, const char *const *labels) {
  if (!labels || !labels[0]) return;
  vg_strbuf_puts(out, "{");
  for (size_t i = 0; labels[i] && labels[i + 1]; i += 2) {
    vg_strbuf_printf(out, "%s%s=\"", i ? "," : "", labels[i]);
    vg_metrics_escape_label(out, labels[i + 1]);
    vg_strbuf_puts(out, "\"");
  }
  vg_strbuf_puts(out, "}");
}

/* The shortest of %.15g and %.17g that reads back as the same double:
 * 0.1 stays "0.1" instead of "0.10000000000000001". */
static const char *shortest_double(double value, char *text, size_t size) {
  snprintf(text, size, "%.15g", value);
  if (strtod(text, NULL) != value) snprintf(text, size, "%.17g", value);
  return text;
}

void vg_metrics_sample(vg_strbuf_t *out, const char *name, const char *const *labels, double value) {
  char text[40];
  vg_strbuf_puts(out, name);
  append_labels(out, labels);
  if (isnan(value))
    vg_strbuf_puts(out, " NaN\n");
  else if (isinf(value))
    vg_strbuf_puts(out, value > 0 ? " +Inf\n" : " -Inf\n");
  else
    vg_strbuf_printf(out, " %s\n", shortest_double(value, text, sizeof(text)));
}

void vg_metrics_sample_u64(vg_strbuf_t *out, const char *name, const char *const *labels, uint64_t value) {
  vg_strbuf_puts(out, name);
  append_labels(out, labels);
  vg_strbuf_printf(out, " %llu\n", (unsigned long long)value);
}

/* ---- process figures ---- */

/* Reads the start time of this process from /proc: its start in clock ticks
 * after boot (field 22 of /proc/self/stat) plus the boot time (btime in
 * /proc/stat). Falls back to the first call's time when /proc is missing. */
static double read_start_time(void) {
  double btime = -1, start_ticks = -1;
  FILE *f = fopen("/proc/stat", "r");
  if (f) {
    char line[256];
    while (fgets(line, sizeof(line), f))
      if (strncmp(line, "btime ", 6) == 0) btime = strtod(line + 6, NULL);
    fclose(f);
  }
  f = fopen("/proc/self/stat", "r");
  if (f) {
    char stat[1024];
    size_t n = fread(stat, 1, sizeof(stat) - 1, f);
    stat[n] = '\0';
    fclose(f);
    /* The command name (field 2) may hold spaces and parentheses: count the
     * fields after its last ')'. That is field 3, starttime is field 22. */
    char *p = strrchr(stat, ')');
    for (int field = 2; p && field < 22; field++)
      p = strchr(p + 1, ' ');
    if (p) start_ticks = strtod(p + 1, NULL);
  }
  long hz = sysconf(_SC_CLK_TCK);
  if (btime < 0 || start_ticks < 0 || hz <= 0) return (double)vg_time_utc_us() / 1e6;
  return btime + start_ticks / (double)hz;
}

static pthread_once_t start_once = PTHREAD_ONCE_INIT;
static double process_start_s;
static void init_start_time(void) { process_start_s = read_start_time(); }

static int count_open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1; /* the directory stream's own descriptor */
}

void vg_process_get_stats(vg_process_stats_t *out) {
  pthread_once(&start_once, init_start_time);
  memset(out, 0, sizeof(*out));
  out->start_time_s = process_start_s;
  out->uptime_s = (double)vg_time_utc_us() / 1e6 - process_start_s;
  if (out->uptime_s < 0) out->uptime_s = 0;
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    out->cpu_seconds = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f) {
    unsigned long long size_pages = 0, resident_pages = 0;
    if (fscanf(f, "%llu %llu", &size_pages, &resident_pages) == 2)
      out->resident_bytes = resident_pages * (unsigned long long)sysconf(_SC_PAGESIZE);
    fclose(f);
  }
  out->open_fds = count_open_fds();
}

void vg_metrics_run_collectors(vg_strbuf_t *out) {
  pthread_mutex_lock(&collectors_lock);
  for (size_t i = 0; i < collector_count; i++)
    collectors[i].fn(collectors[i].opaque, out);
  pthread_mutex_unlock(&collectors_lock);
}
