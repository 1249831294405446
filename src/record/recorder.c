#include "record/recorder.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "base/metrics.h"
#include "media/fmp4.h"

/* The hub queue of a recorder: deep, because recording must not lose frames
 * while its worker is busy for a moment. */
#define REC_QUEUE_FRAMES 2048
/* Bounds of the writer's queue; beyond them fragments are dropped (and
 * counted) rather than letting memory grow while a disk stalls. */
#define WRITER_MAX_JOBS 4096
#define WRITER_MAX_BYTES (256u << 20)
#define MAX_RECORDERS 1024

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

typedef struct vg_recorder vg_recorder_t;

/* One segment file; created by the recorder (OPEN job), owned by the writer
 * from then on and freed by it on the CLOSE job. */
typedef struct {
  vg_recorder_t *rec;
  char path[1024];
  int fd;     /* -1 when not open or after an error */
  int failed; /* a write failed: later fragments of this file are dropped */
} segment_t;

enum { JOB_OPEN, JOB_FRAGMENT, JOB_CLOSE };

typedef struct job {
  struct job *next;
  int kind;
  segment_t *seg;
  vg_buf_t *init;              /* JOB_OPEN: the init segment */
  vg_fmp4_fragment_t fragment; /* JOB_FRAGMENT */
  uint64_t bytes;
} job_t;

struct vg_recorder {
  char camera[64];
  vg_log_ctx_t log;
  vg_hub_t *hub;
  vg_worker_t *worker;
  vg_hub_reader_t *reader; /* worker thread only */
  atomic_int scheduled;    /* a drain task is posted */

  /* Worker thread only. */
  vg_track_t tracks[VG_MAX_TRACKS];
  int track_count;
  int key_track; /* the first video track, or 0 */
  int usable;    /* the muxer accepts these tracks */
  vg_fmp4_t *mux;
  segment_t *seg;
  int64_t seg_start_pts, frag_start_pts;
  unsigned seen_error_epoch;
  uint64_t own_drops;

  /* Read by the metrics collector on another thread. */
  atomic_uint_fast64_t segments, bytes, write_errors, dropped;
  atomic_uint error_epoch; /* bumped by the writer on each failed file */

  /* Stop handshake. */
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int stopped;
};

static struct {
  int started;
  vg_record_config_t cfg;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  job_t *head, *tail;
  size_t jobs;
  uint64_t bytes;
  int quit;
  vg_recorder_t *recs[MAX_RECORDERS];
  int rec_count;
} W = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* --- configuration and paths --- */

int vg_record_config_parse(vg_cfg_t *c, json_t *obj, vg_record_config_t *out) {
  static const char *const keys[] = {"enabled", "root", "segment_s", "fragment_ms", NULL};
  long long v;
  memset(out, 0, sizeof(*out));
  if (obj) vg_cfg_check_keys(c, obj, keys);
  vg_cfg_bool(c, obj, "enabled", false, &out->enabled);
  vg_cfg_str(c, obj, "root", "var/recordings", out->root, sizeof(out->root));
  if (!c->failed && out->root[0] == '\0') vg_cfg_fail(c, "root", "must not be empty");
  vg_cfg_int(c, obj, "segment_s", 60, 1, 3600, &v);
  out->segment_s = (int)v;
  vg_cfg_int(c, obj, "fragment_ms", 1000, 100, 10000, &v);
  out->fragment_ms = (int)v;
  return c->failed ? VG_ECONFIG : 0;
}

int vg_record_segment_path(const char *root, const char *camera, int64_t utc_us, char *out, size_t out_size) {
  if (!root || !camera || !camera[0] || strchr(camera, '/') || strcmp(camera, ".") == 0 ||
      strcmp(camera, "..") == 0)
    return VG_EINVAL;
  /* Floor division, so that times before 1970 still name their own second. */
  time_t secs = (time_t)(utc_us >= 0 ? utc_us / 1000000 : -((-utc_us + 999999) / 1000000));
  struct tm tm;
  if (!gmtime_r(&secs, &tm)) return VG_EINVAL;
  int n = snprintf(out, out_size, "%s/%s/%04d/%02d/%02d/%02d/%s-%04d%02d%02dT%02d%02d%02dZ.mp4", root, camera,
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, camera, tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (n < 0 || (size_t)n >= out_size) return VG_ETOOBIG;
  return n;
}

/* --- the writer thread --- */

static void job_free(job_t *j) {
  vg_buf_unref(&j->init);
  vg_fmp4_fragment_release(&j->fragment);
  free(j);
}

/* Queues a job; fragments are refused (VG_EAGAIN) when the queue is full,
 * opens and closes never, so that every segment gets closed. */
static int writer_push(job_t *j) {
  pthread_mutex_lock(&W.lock);
  if (j->kind == JOB_FRAGMENT && (W.jobs >= WRITER_MAX_JOBS || W.bytes + j->bytes > WRITER_MAX_BYTES)) {
    pthread_mutex_unlock(&W.lock);
    return VG_EAGAIN;
  }
  j->next = NULL;
  if (W.tail)
    W.tail->next = j;
  else
    W.head = j;
  W.tail = j;
  W.jobs++;
  W.bytes += j->bytes;
  pthread_cond_signal(&W.cond);
  pthread_mutex_unlock(&W.lock);
  return 0;
}

/* mkdir -p of path's directory. */
static int make_parent_dirs(const char *path) {
  char dir[1024];
  snprintf(dir, sizeof(dir), "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash) return 0;
  *slash = '\0';
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return -errno;
    *p = '/';
  }
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) return -errno;
  return 0;
}

static void segment_fail(segment_t *s, const char *what, int err) {
  vg_recorder_t *rec = s->rec;
  atomic_fetch_add(&rec->write_errors, 1);
  vg_log_error(&rec->log, "recording %s failed (%s): %s; a new file starts at the next keyframe", s->path,
               what, vg_strerror(err));
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
  s->failed = 1;
  atomic_fetch_add(&rec->error_epoch, 1);
}

/* Writes all of iov, in IOV_MAX pieces and across short writes. */
static int write_all(int fd, struct iovec *iov, int count) {
  while (count > 0) {
    ssize_t n = writev(fd, iov, count < IOV_MAX ? count : IOV_MAX);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) return VG_EIO;
    while (count > 0 && (size_t)n >= iov->iov_len) {
      n -= (ssize_t)iov->iov_len;
      iov++;
      count--;
    }
    if (count > 0 && n > 0) {
      iov->iov_base = (uint8_t *)iov->iov_base + n;
      iov->iov_len -= (size_t)n;
    }
  }
  return 0;
}

static void run_job(job_t *j) {
  segment_t *s = j->seg;
  vg_recorder_t *rec = s->rec;
  int err;
  switch (j->kind) {
  case JOB_OPEN: {
    err = make_parent_dirs(s->path);
    if (err) {
      segment_fail(s, "mkdir", err);
      break;
    }
    /* Two segments may start within one second (a track change): the later
     * one gets a "-N" suffix rather than overwriting footage. */
    char base[1024];
    snprintf(base, sizeof(base), "%s", s->path);
    size_t blen = strlen(base);
    for (int n = 1; n < 100; n++) {
      s->fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (s->fd >= 0 || errno != EEXIST) break;
      snprintf(s->path, sizeof(s->path), "%.*s-%d.mp4", (int)(blen - 4), base, n);
    }
    if (s->fd < 0) {
      segment_fail(s, "open", -errno);
      break;
    }
    struct iovec iov = {j->init->data, j->init->len};
    err = write_all(s->fd, &iov, 1);
    if (err) {
      segment_fail(s, "write", err);
      break;
    }
    atomic_fetch_add(&rec->segments, 1);
    atomic_fetch_add(&rec->bytes, j->init->len);
    vg_log_debug(&rec->log, "segment %s opened", s->path);
    break;
  }
  case JOB_FRAGMENT:
    if (s->fd < 0) break;
    err = write_all(s->fd, j->fragment.iov, j->fragment.iov_count);
    if (err) {
      segment_fail(s, "write", err);
      break;
    }
    atomic_fetch_add(&rec->bytes, j->fragment.size);
    break;
  case JOB_CLOSE:
    /* Durability point of a segment: its data is on disk once closed. */
    if (s->fd >= 0 && fdatasync(s->fd) != 0) segment_fail(s, "fdatasync", -errno);
    if (s->fd >= 0) close(s->fd);
    free(s);
    break;
  }
}

static void *writer_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&W.lock);
  for (;;) {
    while (!W.head && !W.quit)
      pthread_cond_wait(&W.cond, &W.lock);
    if (!W.head) break;
    job_t *j = W.head;
    W.head = j->next;
    if (!W.head) W.tail = NULL;
    W.jobs--;
    W.bytes -= j->bytes;
    pthread_mutex_unlock(&W.lock);
    run_job(j);
    job_free(j);
    pthread_mutex_lock(&W.lock);
  }
  pthread_mutex_unlock(&W.lock);
  return NULL;
}

/* --- muxing, on the camera's worker --- */

static void drop_frames(vg_recorder_t *rec, uint64_t n) { rec->own_drops += n; }

static void flush_fragment(vg_recorder_t *rec) {
  if (!rec->seg || !rec->mux || vg_fmp4_queued(rec->mux) == 0) return;
  job_t *j = calloc(1, sizeof(*j));
  if (!j) {
    drop_frames(rec, (uint64_t)vg_fmp4_queued(rec->mux));
    vg_fmp4_free(&rec->mux); /* the next segment recreates it */
    return;
  }
  j->kind = JOB_FRAGMENT;
  j->seg = rec->seg;
  int err = vg_fmp4_flush_fragment(rec->mux, &j->fragment);
  if (err) {
    free(j);
    return;
  }
  j->bytes = j->fragment.size;
  if (writer_push(j) != 0) {
    drop_frames(rec, (uint64_t)j->fragment.sample_count);
    job_free(j);
  }
}

static void end_segment(vg_recorder_t *rec) {
  if (!rec->seg) return;
  flush_fragment(rec);
  job_t *j = calloc(1, sizeof(*j));
  if (j) {
    j->kind = JOB_CLOSE;
    j->seg = rec->seg;
    writer_push(j);
  } else {
    /* Without memory for the job, the writer never learns that the file ended; keep the fd
     * open rather than freeing the segment under it (rare, and only a leak). */
  }
  rec->seg = NULL;
  vg_fmp4_free(&rec->mux);
}

static int start_segment(vg_recorder_t *rec, const vg_frame_t *f) {
  segment_t *s = calloc(1, sizeof(*s));
  job_t *j = calloc(1, sizeof(*j));
  int err = VG_ENOMEM;
  if (!s || !j) goto fail;
  s->rec = rec;
  s->fd = -1;
  int64_t utc = f->utc_us;
  if (utc <= 0) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    utc = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
  }
  err = vg_record_segment_path(W.cfg.root, rec->camera, utc, s->path, sizeof(s->path));
  if (err < 0) goto fail;
  err = vg_fmp4_create(rec->tracks, rec->track_count, &rec->mux);
  if (err) goto fail;
  err = vg_fmp4_init_segment(rec->mux, &j->init);
  if (err < 0) goto fail;
  j->kind = JOB_OPEN;
  j->seg = s;
  j->bytes = j->init->len;
  writer_push(j);
  rec->seg = s;
  rec->seg_start_pts = rec->frag_start_pts = f->pts;
  rec->seen_error_epoch = atomic_load(&rec->error_epoch);
  return 0;
fail:
  vg_log_warn(&rec->log, "cannot start a segment: %s", vg_strerror(err));
  vg_fmp4_free(&rec->mux);
  if (j) job_free(j);
  free(s);
  return err;
}

/* The tracks changed (or the first ones arrived): a new generation. */
static void load_tracks(vg_recorder_t *rec) {
  end_segment(rec);
  for (int i = 0; i < rec->track_count; i++)
    vg_track_clear(&rec->tracks[i]);
  rec->track_count = vg_hub_reader_tracks(rec->reader, rec->tracks, VG_MAX_TRACKS);
  rec->key_track = 0;
  for (int i = rec->track_count - 1; i >= 0; i--)
    if (vg_codec_is_video(rec->tracks[i].codec)) rec->key_track = i;
  /* Try the tracks once now so that an unrecordable stream (e.g. JPEG) is
   * reported once rather than at every keyframe. */
  vg_fmp4_t *probe = NULL;
  int err = rec->track_count > 0 ? vg_fmp4_create(rec->tracks, rec->track_count, &probe) : VG_EINVAL;
  vg_fmp4_free(&probe);
  rec->usable = err == 0;
  if (err && rec->track_count > 0)
    vg_log_warn(&rec->log, "this stream cannot be recorded (%s): %s", vg_codec_name(rec->tracks[0].codec),
                vg_strerror(err));
}

static void on_frame(vg_recorder_t *rec, vg_frame_t *f) {
  if (!rec->usable || f->track >= rec->track_count) return;
  const vg_track_t *kt = &rec->tracks[rec->key_track];
  int is_key = f->track == rec->key_track && (f->flags & VG_FRAME_KEY);
  uint32_t clock = kt->clock_rate ? kt->clock_rate : 90000;
  if (rec->seg && rec->seen_error_epoch != atomic_load(&rec->error_epoch)) end_segment(rec);
  if (rec->seg && is_key && f->pts - rec->seg_start_pts >= (int64_t)W.cfg.segment_s * clock) end_segment(rec);
  if (!rec->seg) {
    if (!is_key || start_segment(rec, f) != 0) return;
  } else if (f->track == rec->key_track &&
             f->pts - rec->frag_start_pts >= (int64_t)W.cfg.fragment_ms * clock / 1000) {
    flush_fragment(rec);
    rec->frag_start_pts = f->pts;
  }
  int err = vg_fmp4_add_frame(rec->mux, f);
  if (err == VG_ETOOBIG) {
    flush_fragment(rec);
    rec->frag_start_pts = f->pts;
    err = vg_fmp4_add_frame(rec->mux, f);
  }
  if (err) {
    /* A timestamp jump: start over with a new file at the next keyframe. */
    vg_log_warn(&rec->log, "frame not recorded: %s; a new segment starts at the next keyframe",
                vg_strerror(err));
    drop_frames(rec, 1);
    end_segment(rec);
  }
}

static void drain(void *arg) {
  vg_recorder_t *rec = arg;
  atomic_store(&rec->scheduled, 0);
  if (!rec->reader) return;
  for (;;) {
    vg_frame_t f;
    int r = vg_hub_read(rec->reader, &f);
    if (r == VG_EAGAIN) break;
    if (r == VG_ESTATE) {
      load_tracks(rec);
      continue;
    }
    if (r == VG_ECLOSED) {
      end_segment(rec);
      break;
    }
    if (r < 0) break;
    on_frame(rec, &f);
    vg_frame_unref(&f);
  }
  vg_hub_reader_stats_t st;
  vg_hub_reader_stats(rec->reader, &st);
  atomic_store(&rec->dropped, st.dropped + rec->own_drops);
}

/* Runs on the producer's thread under the hub's lock: only wake the worker. */
static void on_notify(void *opaque) {
  vg_recorder_t *rec = opaque;
  if (!atomic_exchange(&rec->scheduled, 1)) vg_worker_post(rec->worker, drain, rec);
}

static void open_task(void *arg) {
  vg_recorder_t *rec = arg;
  vg_hub_reader_opts_t o = {.queue_frames = REC_QUEUE_FRAMES, .notify = on_notify, .opaque = rec};
  int err = vg_hub_open_reader(rec->hub, &o, &rec->reader);
  if (err)
    vg_log_error(&rec->log, "cannot read the stream: %s", vg_strerror(err));
  else
    drain(rec);
}

static void signal_stopped(void *arg) {
  vg_recorder_t *rec = arg;
  pthread_mutex_lock(&rec->lock);
  rec->stopped = 1;
  pthread_cond_signal(&rec->cond);
  pthread_mutex_unlock(&rec->lock);
}

static void stop_task(void *arg) {
  vg_recorder_t *rec = arg;
  end_segment(rec);
  vg_hub_close_reader(&rec->reader);
  /* A drain posted before the reader closed is queued ahead of this task. */
  if (vg_worker_post(rec->worker, signal_stopped, rec) != 0) signal_stopped(rec);
}

/* --- metrics --- */

static void collect(void *opaque, vg_strbuf_t *out) {
  (void)opaque;
  static const struct {
    const char *name, *help;
    size_t offset;
  } fams[] = {
      {"vigil_record_segments_total", "Segment files the recorder created.",
       offsetof(vg_recorder_t, segments)},
      {"vigil_record_bytes_total", "Bytes the recorder wrote.", offsetof(vg_recorder_t, bytes)},
      {"vigil_record_write_errors_total", "Failed opens, writes and syncs of segment files.",
       offsetof(vg_recorder_t, write_errors)},
      {"vigil_record_dropped_frames_total", "Frames the recorder lost (fell behind, queue full, mux errors).",
       offsetof(vg_recorder_t, dropped)},
  };
  pthread_mutex_lock(&W.lock);
  for (size_t k = 0; k < sizeof(fams) / sizeof(fams[0]); k++) {
    vg_metrics_family(out, fams[k].name, "counter", fams[k].help);
    for (int i = 0; i < W.rec_count; i++) {
      vg_recorder_t *rec = W.recs[i];
      atomic_uint_fast64_t *v = (atomic_uint_fast64_t *)((char *)rec + fams[k].offset);
      vg_metrics_sample_u64(out, fams[k].name, (const char *const[]){"camera", rec->camera, NULL},
                            atomic_load(v));
    }
  }
  pthread_mutex_unlock(&W.lock);
}

int vg_recorder_get_stats(const char *camera, vg_recorder_stats_t *out) {
  int ret = VG_ENOENT;
  pthread_mutex_lock(&W.lock);
  for (int i = 0; i < W.rec_count; i++) {
    vg_recorder_t *rec = W.recs[i];
    if (strcmp(rec->camera, camera) != 0) continue;
    out->segments = atomic_load(&rec->segments);
    out->bytes = atomic_load(&rec->bytes);
    out->write_errors = atomic_load(&rec->write_errors);
    out->dropped = atomic_load(&rec->dropped);
    ret = 0;
  }
  pthread_mutex_unlock(&W.lock);
  return ret;
}

/* --- lifecycle --- */

int vg_recorders_start(const vg_record_config_t *cfg) {
  if (W.started) return VG_EBUSY;
  W.cfg = *cfg;
  W.quit = 0;
  int err = pthread_create(&W.thread, NULL, writer_main, NULL);
  if (err) return -err;
  W.started = 1;
  vg_metrics_register("record", collect, NULL);
  return 0;
}

int vg_recorder_add(const char *camera, vg_hub_t *hub, vg_worker_t *worker) {
  if (!W.started) return VG_EINVAL;
  if (!camera || strlen(camera) >= sizeof(((vg_recorder_t *)0)->camera) || !hub || !worker) return VG_EINVAL;
  char probe[8];
  if (vg_record_segment_path("", camera, 0, probe, sizeof(probe)) == VG_EINVAL) return VG_EINVAL;
  vg_recorder_t *rec = calloc(1, sizeof(*rec));
  if (!rec) return VG_ENOMEM;
  snprintf(rec->camera, sizeof(rec->camera), "%s", camera);
  rec->log = VG_LOG_CTX("record", rec->camera);
  rec->hub = vg_hub_ref(hub);
  rec->worker = worker;
  pthread_mutex_init(&rec->lock, NULL);
  pthread_cond_init(&rec->cond, NULL);
  pthread_mutex_lock(&W.lock);
  if (W.rec_count >= MAX_RECORDERS) {
    pthread_mutex_unlock(&W.lock);
    vg_hub_unref(&rec->hub);
    free(rec);
    return VG_ETOOBIG;
  }
  W.recs[W.rec_count++] = rec;
  pthread_mutex_unlock(&W.lock);
  int err = vg_worker_post(worker, open_task, rec);
  if (err) {
    /* The recorder stays listed (and is freed at stop) with no reader. */
    rec->stopped = 1;
    return err;
  }
  vg_log_info(&rec->log, "recording into %s/%s", W.cfg.root, rec->camera);
  return 0;
}

void vg_recorders_stop(void) {
  if (!W.started) return;
  vg_metrics_unregister("record");
  for (int i = 0; i < W.rec_count; i++) {
    vg_recorder_t *rec = W.recs[i];
    if (!rec->stopped && vg_worker_post(rec->worker, stop_task, rec) != 0) rec->stopped = 1;
  }
  for (int i = 0; i < W.rec_count; i++) {
    vg_recorder_t *rec = W.recs[i];
    pthread_mutex_lock(&rec->lock);
    while (!rec->stopped)
      pthread_cond_wait(&rec->cond, &rec->lock);
    pthread_mutex_unlock(&rec->lock);
  }
  pthread_mutex_lock(&W.lock);
  W.quit = 1;
  pthread_cond_signal(&W.cond);
  pthread_mutex_unlock(&W.lock);
  pthread_join(W.thread, NULL);
  pthread_mutex_lock(&W.lock);
  for (int i = 0; i < W.rec_count; i++) {
    vg_recorder_t *rec = W.recs[i];
    for (int t = 0; t < rec->track_count; t++)
      vg_track_clear(&rec->tracks[t]);
    vg_fmp4_free(&rec->mux);
    vg_hub_unref(&rec->hub);
    pthread_mutex_destroy(&rec->lock);
    pthread_cond_destroy(&rec->cond);
    free(rec);
    W.recs[i] = NULL;
  }
  W.rec_count = 0;
  W.started = 0;
  pthread_mutex_unlock(&W.lock);
}
