#include "api/metrics.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/error.h"
#include "base/time.h"
#include "ingest/camera.h"

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

/* ---- vigil's own families ---- */

/* What /metrics needs of one camera; vg_camera_info_t is large, so the
 * snapshot keeps only this. */
typedef struct {
  char id[64];
  vg_camera_state_t state;
  uint64_t frames, bytes, rtp_packets, rtp_lost, reconnects, errors;
} camera_sample_t;

typedef struct {
  camera_sample_t *list;
  size_t count, cap;
  int failed;
} camera_samples_t;

static void collect_camera(const vg_camera_info_t *info, void *opaque) {
  camera_samples_t *s = opaque;
  if (s->failed) return;
  if (s->count == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    camera_sample_t *grown = realloc(s->list, cap * sizeof(*grown));
    if (!grown) {
      s->failed = 1;
      return;
    }
    s->list = grown;
    s->cap = cap;
  }
  camera_sample_t *c = &s->list[s->count++];
  snprintf(c->id, sizeof(c->id), "%s", info->id);
  c->state = info->state;
  c->frames = info->frames;
  c->bytes = info->bytes;
  c->rtp_packets = info->rtp_packets;
  c->rtp_lost = info->rtp_lost;
  c->reconnects = info->reconnects;
  c->errors = info->errors;
}

typedef struct {
  const char *name, *type, *help;
  size_t offset; /* of a uint64_t in camera_sample_t */
} camera_family_t;

static const camera_family_t camera_families[] = {
    {"vigil_camera_frames_total", "counter", "Access units received from the camera.",
     offsetof(camera_sample_t, frames)},
    {"vigil_camera_bytes_total", "counter", "Media payload bytes received from the camera.",
     offsetof(camera_sample_t, bytes)},
    {"vigil_camera_rtp_packets_total", "counter", "RTP packets received from the camera.",
     offsetof(camera_sample_t, rtp_packets)},
    {"vigil_camera_rtp_packets_lost_total", "counter", "RTP packets lost, from sequence number gaps.",
     offsetof(camera_sample_t, rtp_lost)},
    {"vigil_camera_reconnects_total", "counter", "Reconnection attempts after the camera went offline.",
     offsetof(camera_sample_t, reconnects)},
    {"vigil_camera_errors_total", "counter", "Malformed input from the camera that was dropped.",
     offsetof(camera_sample_t, errors)},
};

static void render_cameras(vg_strbuf_t *out) {
  camera_samples_t s = {0};
  vg_cameras_foreach(collect_camera, &s);

  size_t by_state[VG_CAM_DISABLED + 1] = {0};
  for (size_t i = 0; i < s.count; i++)
    if (s.list[i].state <= VG_CAM_DISABLED) by_state[s.list[i].state]++;
  vg_metrics_family(out, "vigil_cameras", "gauge", "Configured cameras by state.");
  for (int st = VG_CAM_CONNECTING; st <= VG_CAM_DISABLED; st++) {
    const char *labels[] = {"state", vg_camera_state_name((vg_camera_state_t)st), NULL};
    vg_metrics_sample_u64(out, "vigil_cameras", labels, by_state[st]);
  }

  vg_metrics_family(out, "vigil_camera_up", "gauge", "Whether the camera is online (1) or not (0).");
  for (size_t i = 0; i < s.count; i++) {
    const char *labels[] = {"camera", s.list[i].id, NULL};
    vg_metrics_sample_u64(out, "vigil_camera_up", labels, s.list[i].state == VG_CAM_ONLINE);
  }
  for (size_t f = 0; f < sizeof(camera_families) / sizeof(camera_families[0]); f++) {
    const camera_family_t *fam = &camera_families[f];
    vg_metrics_family(out, fam->name, fam->type, fam->help);
    for (size_t i = 0; i < s.count; i++) {
      const char *labels[] = {"camera", s.list[i].id, NULL};
      uint64_t v;
      memcpy(&v, (const char *)&s.list[i] + fam->offset, sizeof(v));
      vg_metrics_sample_u64(out, fam->name, labels, v);
    }
  }
  free(s.list);
}

static void render_process(vg_strbuf_t *out) {
  vg_process_stats_t ps;
  vg_process_get_stats(&ps);
  vg_metrics_family(out, "vigil_process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  vg_metrics_sample_u64(out, "vigil_process_resident_memory_bytes", NULL, ps.resident_bytes);
  vg_metrics_family(out, "vigil_process_cpu_seconds_total", "counter", "User and system CPU time spent.");
  vg_metrics_sample(out, "vigil_process_cpu_seconds_total", NULL, ps.cpu_seconds);
  vg_metrics_family(out, "vigil_process_start_time_seconds", "gauge",
                    "Start time of the process, Unix time.");
  vg_metrics_sample(out, "vigil_process_start_time_seconds", NULL, ps.start_time_s);
  if (ps.open_fds >= 0) {
    vg_metrics_family(out, "vigil_process_open_fds", "gauge", "Open file descriptors.");
    vg_metrics_sample_u64(out, "vigil_process_open_fds", NULL, (uint64_t)ps.open_fds);
  }
  vg_metrics_family(out, "vigil_build_info", "gauge", "Always 1; the version label names the build.");
  const char *labels[] = {"version", VG_VERSION, NULL};
  vg_metrics_sample_u64(out, "vigil_build_info", labels, 1);
}

static void render_buffers(vg_strbuf_t *out) {
  vg_buf_stats_t bs;
  vg_buf_get_stats(&bs);
  vg_metrics_family(out, "vigil_buffer_allocs_total", "counter", "Media buffers allocated.");
  vg_metrics_sample_u64(out, "vigil_buffer_allocs_total", NULL, bs.allocs);
  vg_metrics_family(out, "vigil_buffer_pool_hits_total", "counter",
                    "Media buffer allocations served from a pool's free list.");
  vg_metrics_sample_u64(out, "vigil_buffer_pool_hits_total", NULL, bs.pool_hits);
  vg_metrics_family(out, "vigil_buffer_live_bytes", "gauge", "Capacity of media buffers in use.");
  vg_metrics_sample_u64(out, "vigil_buffer_live_bytes", NULL, bs.bytes_live);
  vg_metrics_family(out, "vigil_buffer_pooled_bytes", "gauge",
                    "Capacity of free media buffers kept in pools.");
  vg_metrics_sample_u64(out, "vigil_buffer_pooled_bytes", NULL, bs.bytes_pooled);
}

int vg_metrics_render(vg_strbuf_t *out) {
  render_cameras(out);
  render_process(out);
  render_buffers(out);
  pthread_mutex_lock(&collectors_lock);
  for (size_t i = 0; i < collector_count; i++)
    collectors[i].fn(collectors[i].opaque, out);
  pthread_mutex_unlock(&collectors_lock);
  return out->error;
}
