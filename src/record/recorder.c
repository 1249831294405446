#include "record/recorder.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
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
#include "base/time.h"
#include "db/db.h"
#include "media/fmp4.h"
#include "record/index.h"
#include "record/roots.h"
#include "record/trigger.h"

/* The hub queue of a recorder: deep, because recording must not lose frames
 * while its worker is busy for a moment. */
#define REC_QUEUE_FRAMES 2048
/* Bounds of the writers' queues (the bytes shared out among the writers);
 * beyond them fragments are dropped (and counted) rather than letting memory
 * grow while a disk stalls. */
#define WRITER_MAX_JOBS 4096
#define WRITER_MAX_BYTES (256u << 20)
#define MAX_WRITERS 32
#define MAX_RECORDERS 1024
/* Jobs handled per wake-up of the writer, all their index rows in one
 * transaction: bounds how long one transaction holds the write lock. */
#define WRITER_MAX_BATCH 1024
/* Defaults of record.direct_io, record.preallocate_mb and
 * record.index_interval_ms (docs/BENCHMARKS.md, "Recording", has the
 * measurements behind them). */
#define DIRECT_IO_DEFAULT true
#define PREALLOCATE_MB_DEFAULT 4
#define INDEX_INTERVAL_MS_DEFAULT 0
/* O_DIRECT writes: the block size their offsets, lengths and buffers are
 * aligned to (at least the logical block size of common disks and the
 * page size), and the staging buffer a write is copied through. */
#define DIRECT_BLOCK 4096u
#define DIRECT_STAGE_BYTES (1u << 20)
/* A writer woken by a job waits this long for more before it writes them,
 * unless the queue fills faster (WRITER_BATCH_JOBS): one wake-up and one
 * index transaction per batch instead of per fragment. It adds at most
 * this much to the time from a fragment's completion to its write. */
#define WRITER_BATCH_US 100000
#define WRITER_BATCH_JOBS 256
/* How often the writer refreshes per-root usage from the index. */
#define USED_REFRESH_US (10 * 1000000LL)
#define LATENCY_BUCKETS 128
/* How often a recorder drains its hub reader on its worker. */
#define DRAIN_INTERVAL_MS 250
/* A substream silent for this long is taken for gone: idle footage falls
 * back to the main stream's keyframes. */
#define SUB_STALE_US 3000000

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

typedef struct vg_recorder vg_recorder_t;

/* A stream a recorder writes segments of: its tracks, as its hub gave them. */
typedef struct {
  vg_track_t tracks[VG_MAX_TRACKS];
  int track_count;
  int key_track; /* the first video track, or 0 */
  int usable;    /* the muxer accepts these tracks */
} rec_source_t;
typedef struct job job_t;

/* One writer thread and the queue of the cameras assigned to it. A camera's
 * jobs all go to one writer, so they are written in the order queued. */
typedef struct {
  int index;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  job_t *head, *tail;
  size_t jobs;
  uint64_t bytes, max_bytes;
  int waiting; /* asleep on cond: a push must wake it */
  int quit;
  /* Its thread only (handed over at start, taken back after the join). */
  vg_db_t *db;
  vg_rec_index_t *ix;
  int64_t used_refresh_at;
  int no_root_logged; /* "no storage root can take a segment" was logged */
  job_t *current;     /* the job whose file work runs now */
  /* Jobs whose bytes are written and whose index rows wait for the next
   * index transaction (record.index_interval_ms), in queue order. */
  job_t *ix_head, *ix_tail;
  int ix_jobs;
  int64_t ix_due; /* when they are committed at the latest */
  uint8_t *stage; /* O_DIRECT staging buffer: DIRECT_STAGE_BYTES + 2 blocks, aligned */
} writer_t;

/* The writer running on this thread (NULL elsewhere). */
static __thread writer_t *WR;

/* One segment file; created by the recorder (OPEN job), owned by the writer
 * from then on and freed by it on the CLOSE job. */
typedef struct {
  vg_recorder_t *rec;
  char path[1024];          /* full path, set by the writer when it opens the file */
  int root;                 /* index of its storage root, -1 before the open */
  int fd;                   /* -1 when not open or after an error */
  int failed;               /* a write failed: later fragments of this file are dropped */
  int64_t start_us;         /* UTC of the first frame: the wall-clock anchor */
  vg_rec_quality_t quality; /* what the recorder puts in it */
  /* Writer thread only. */
  int64_t id;         /* index row, 0 when it has none */
  int64_t end_us;     /* end of the last complete fragment */
  uint64_t offset;    /* bytes written: the end of the last complete fragment */
  uint32_t fragments; /* complete fragments written */
  int index_closed;   /* the row was marked closed */
  /* Blocks reserved ahead of the end (fallocate, record.preallocate_mb):
   * the file's extents are reserved up to alloc_end; prealloc_off when the
   * filesystem cannot (or is full), then the file grows write by write. */
  uint64_t alloc_end;
  int prealloc_off;
  /* Written with O_DIRECT (record.direct_io): whole blocks from the
   * writer's aligned staging buffer. The file's last partial block is
   * written padded with a 'free' box up to the block's end and rewritten,
   * with what follows, by the next write; tail holds its bytes (offset %
   * DIRECT_BLOCK of them). The padding is cut off when the file closes. */
  int direct;
  uint8_t *tail;
  uint64_t file_end; /* direct: the file's size, padding included */
} segment_t;

enum { JOB_OPEN, JOB_FRAGMENT, JOB_CLOSE };

struct job {
  struct job *next;
  int kind;
  segment_t *seg;
  vg_buf_t *init;              /* JOB_OPEN: the init segment */
  vg_fmp4_fragment_t fragment; /* JOB_FRAGMENT */
  int64_t frag_start_us;       /* JOB_FRAGMENT: UTC start, from the segment's anchor and media time */
  int64_t frag_duration_us;
  bool frag_key;     /* its first video sample is a keyframe */
  int64_t queued_us; /* when the recorder handed it to the writer */
  uint64_t bytes;
  /* Writer thread: the index work the job's file work left for the batch's
   * transaction (run after every file write of the batch). */
  bool ix_add;      /* add the segment's row */
  bool ix_fragment; /* add frag_row (segment_id filled then) */
  bool ix_finish;   /* close (or delete) the segment's row */
  vg_rec_fragment_t frag_row;
};

struct vg_recorder {
  char camera[64];
  vg_log_ctx_t log;
  vg_hub_t *hub;
  vg_worker_t *worker;
  writer_t *writer;        /* the writer thread its segments go to */
  vg_hub_reader_t *reader; /* worker thread only */
  uv_timer_t drain_timer;  /* worker thread: drains the reader every DRAIN_INTERVAL_MS */
  int timer_started;

  /* Worker thread only. */
  rec_source_t main;
  /* Intelligent mode with a substream (policy.substream): the substream
   * camera's stream, recorded instead of the main stream's keyframes while
   * idle. sub_delay holds its frames for pre_roll_s, as the main stream's
   * pre-roll does, so that what it writes and the full-quality footage
   * that follows (pre-roll first) do not overlap in time. */
  rec_source_t sub;
  vg_hub_t *sub_hub;
  vg_hub_reader_t *sub_reader;
  vg_preroll_t sub_delay;
  int64_t sub_seen_us;   /* vg_time_mono_us() of the last substream frame */
  int64_t sub_lookup_us; /* when the substream's hub was last looked for */
  int sub_misses;        /* lookups in a row that did not find it */
  rec_source_t *cur;     /* the source of the segment being written */
  vg_fmp4_t *mux;
  segment_t *seg;
  int64_t seg_start_pts, frag_start_pts;
  int64_t prev_key_pts;     /* pts of the previous frame of the key track */
  int64_t prev_key_gap;     /* from the frame of the key track before it, 0 if none */
  int64_t seg_anchor_utc;   /* the wall clock of the segment's first frame as the camera gave it */
  int clock_jumped;         /* the wall clock jumped: cut at the next keyframe */
  int64_t last_end_us;      /* UTC reached by the last recorded frame: segments never go back before it */
  vg_rec_quality_t quality; /* of the segments started from now on */
  vg_rec_gate_t gate;       /* recording mode, triggers and pre-roll (mode.h) */
  unsigned seen_error_epoch;
  uint64_t own_drops;

  /* Read by the metrics collector on another thread. */
  atomic_uint_fast64_t segments, bytes, write_errors, dropped, clock_jumps;
  atomic_uint error_epoch; /* bumped by the writer on each failed file */

  /* Stop handshake. */
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int stopped;
  int removed; /* vg_recorder_remove: stays listed (freed at stop), out of the figures; W.lock */
};

static struct {
  int started;
  vg_record_config_t cfg;
  pthread_mutex_t lock; /* the list of recorders */
  writer_t writers[MAX_WRITERS];
  int writer_count;
  vg_recorder_t *recs[MAX_RECORDERS];
  int rec_count;
  /* Read by the collector. */
  atomic_uint_fast64_t index_writes, index_errors, frames_written;
  atomic_uint_fast64_t latency_hist[LATENCY_BUCKETS];
  atomic_uint_fast64_t queue_hist[LATENCY_BUCKETS]; /* fragment handed to the writer -> written */
} W = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const vg_log_ctx_t record_log = {"record", NULL};

/* --- configuration and paths --- */

int vg_record_config_parse(vg_cfg_t *c, json_t *obj, vg_record_config_t *out) {
  static const char *const keys[] = {
      "enabled",     "root",           "roots",          "root_retry_s",      "segment_s",
      "fragment_ms", "writer_threads", "preallocate_mb", "index_interval_ms", "direct_io",
      NULL};
  long long v;
  memset(out, 0, sizeof(*out));
  if (obj) vg_cfg_check_keys(c, obj, keys);
  vg_cfg_bool(c, obj, "enabled", false, &out->enabled);
  vg_record_roots_parse(c, obj, out->roots, &out->root_count);
  if (out->root_count > 0) snprintf(out->root, sizeof(out->root), "%s", out->roots[0].path);
  vg_cfg_int(c, obj, "root_retry_s", 30, 1, 3600, &v);
  out->root_retry_s = (int)v;
  vg_cfg_int(c, obj, "segment_s", 60, 1, 3600, &v);
  out->segment_s = (int)v;
  vg_cfg_int(c, obj, "fragment_ms", 1000, 100, 10000, &v);
  out->fragment_ms = (int)v;
  vg_cfg_int(c, obj, "writer_threads", 0, 0, MAX_WRITERS, &v);
  out->writer_threads = (int)v;
  vg_cfg_int(c, obj, "preallocate_mb", PREALLOCATE_MB_DEFAULT, 0, 1024, &v);
  out->preallocate_mb = (int)v;
  vg_cfg_int(c, obj, "index_interval_ms", INDEX_INTERVAL_MS_DEFAULT, 0, 10000, &v);
  out->index_interval_ms = (int)v;
  vg_cfg_bool(c, obj, "direct_io", DIRECT_IO_DEFAULT, &out->direct_io);
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
  writer_t *w = j->seg->rec->writer;
  pthread_mutex_lock(&w->lock);
  if (j->kind == JOB_FRAGMENT && (w->jobs >= WRITER_MAX_JOBS || w->bytes + j->bytes > w->max_bytes)) {
    pthread_mutex_unlock(&w->lock);
    return VG_EAGAIN;
  }
  j->next = NULL;
  if (!j->queued_us) j->queued_us = vg_time_mono_us();
  if (w->tail)
    w->tail->next = j;
  else
    w->head = j;
  w->tail = j;
  w->jobs++;
  w->bytes += j->bytes;
  /* A writer that is busy, or already gathering a batch, takes this job
   * with its next batch: only the first job into an empty queue costs a
   * wake-up. */
  if ((w->waiting && w->jobs == 1) || w->jobs == WRITER_BATCH_JOBS) pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&w->lock);
  return 0;
}

/* mkdir -p of path's directory, below the root (which must exist: a
 * vanished mount point is never recreated here). */
static int make_parent_dirs(const char *path, size_t root_len) {
  char dir[1024];
  snprintf(dir, sizeof(dir), "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash) return 0;
  *slash = '\0';
  for (char *p = dir + root_len + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return -errno;
    *p = '/';
  }
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) return -errno;
  return 0;
}

static void index_error(void) { atomic_fetch_add(&W.index_errors, 1); }

static void latency_record(atomic_uint_fast64_t *hist, int64_t us) {
  if (us < 1) us = 1;
  /* Quarter-octave buckets: percentiles within about 19%. */
  int b = (int)(4.0 * log2((double)us));
  if (b < 0) b = 0;
  if (b >= LATENCY_BUCKETS) b = LATENCY_BUCKETS - 1;
  atomic_fetch_add_explicit(&hist[b], 1, memory_order_relaxed);
}

/* The segment's file is done with (closed, or failed): its row is closed
 * at the last complete fragment by the batch's transaction. A segment
 * without any complete fragment has nothing to play: its file goes now and
 * its row with the transaction. */
static void segment_finish_index(segment_t *s) {
  if (s->index_closed) return;
  s->index_closed = 1;
  if (s->fragments == 0 && s->path[0] && s->root >= 0) unlink(s->path);
  WR->current->ix_finish = true;
}

/* Reserves the file's blocks in steps of record.preallocate_mb ahead of
 * where this write ends, without changing the file's size
 * (FALLOC_FL_KEEP_SIZE: readers and recovery see the same bytes as
 * without it). Writes into reserved blocks skip ext4's per-page delayed
 * allocation work, and a segment's file gets a few large extents. Any
 * failure (a filesystem without fallocate, a full disk) turns it off for
 * this file: the write that follows reports a real error by itself. */
static void preallocate(segment_t *s, uint64_t write_end) {
  uint64_t step = (uint64_t)W.cfg.preallocate_mb << 20;
  if (!step || s->prealloc_off || write_end <= s->alloc_end) return;
  uint64_t from = s->alloc_end > s->offset ? s->alloc_end : s->offset;
  uint64_t to = (write_end / step + 1) * step;
  if (fallocate(s->fd, FALLOC_FL_KEEP_SIZE, (off_t)from, (off_t)(to - from)) != 0) {
    s->prealloc_off = 1;
    return;
  }
  s->alloc_end = to;
}

/* Cuts a direct file's padding and gives back the blocks reserved past the
 * file's end. On ext4 a truncate to the current size frees them (a hole
 * punched past the end does not); other filesystems free them with the
 * punched hole. */
static void release_preallocation(segment_t *s) {
  if (s->fd < 0 || (s->alloc_end <= s->offset && !s->direct)) return;
  if (ftruncate(s->fd, (off_t)s->offset) != 0) { /* the punch below may still free them */
  }
  uint64_t from = (s->offset + DIRECT_BLOCK - 1) / DIRECT_BLOCK * DIRECT_BLOCK;
  if (from < s->alloc_end && fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)from,
                                       (off_t)(s->alloc_end - from)) != 0) {
    /* Not supported there: the truncate above was the way. */
  }
  s->alloc_end = 0;
}

/* A write to the file failed: the file is cut back to its last complete
 * fragment (a half-written one would be a corrupt tail), closed in the
 * index, and the recorder told to start a new file. The root learns about
 * the error (full or failed); the error is logged once per episode. */
static void segment_fail(segment_t *s, const char *what, int err) {
  vg_recorder_t *rec = s->rec;
  atomic_fetch_add(&rec->write_errors, 1);
  int fresh = vg_roots_report_error(s->root, err, what);
  if (fresh)
    vg_log_error(&rec->log, "recording %s failed (%s): %s; a new file starts at the next keyframe", s->path,
                 what, vg_strerror(err));
  if (s->fd >= 0) {
    if (ftruncate(s->fd, (off_t)s->offset) != 0) { /* the reader stops at the torn fragment anyway */
    }
    release_preallocation(s);
    close(s->fd);
  }
  s->fd = -1;
  s->failed = 1;
  segment_finish_index(s);
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

/* Writes all of buf at off (O_DIRECT: whole blocks). */
static int pwrite_all(int fd, const uint8_t *buf, size_t len, uint64_t off) {
  while (len > 0) {
    ssize_t n = pwrite(fd, buf, len, (off_t)off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    /* A short direct write stops at a block boundary; anything else
     * cannot be resumed aligned. */
    if (n == 0 || (size_t)n % DIRECT_BLOCK != 0) return VG_EIO;
    buf += n;
    len -= (size_t)n;
    off += (uint64_t)n;
  }
  return 0;
}

/* Writes iov at s->offset with O_DIRECT: the tail block's
 * bytes and iov are copied into the writer's staging buffer and written as
 * whole blocks from the tail block's start; the last partial block is
 * padded with a 'free' box (at least its 8-byte header: a block more when
 * fewer bytes are left), so that the file stays a valid ISO BMFF file to
 * any reader at any time. Returns 0 or the error of the write. */
static int direct_write(segment_t *s, const struct iovec *iov, int count) {
  uint8_t *stage = WR->stage;
  uint32_t tail_len = (uint32_t)(s->offset % DIRECT_BLOCK);
  uint64_t pos = s->offset - tail_len;
  size_t fill = tail_len;
  if (tail_len) memcpy(stage, s->tail, tail_len);
  for (int k = 0; k < count; k++) {
    const uint8_t *src = iov[k].iov_base;
    size_t left = iov[k].iov_len;
    while (left > 0) {
      size_t n = DIRECT_STAGE_BYTES - fill < left ? DIRECT_STAGE_BYTES - fill : left;
      memcpy(stage + fill, src, n);
      fill += n;
      src += n;
      left -= n;
      if (fill == DIRECT_STAGE_BYTES) {
        int err = pwrite_all(s->fd, stage, fill, pos);
        if (err) return err;
        pos += fill;
        fill = 0;
      }
    }
  }
  if (fill == 0) {
    if (pos > s->file_end) s->file_end = pos;
    return 0;
  }
  size_t end = (fill + DIRECT_BLOCK - 1) / DIRECT_BLOCK * DIRECT_BLOCK;
  if (end - fill > 0 && end - fill < 8) end += DIRECT_BLOCK;
  /* The padding also covers the previous write's, should that reach
   * further (a small write after a padding of more than a block), so that
   * nothing stale follows it. That is at most a block more than above. */
  if (s->file_end > pos + end && s->file_end - pos <= DIRECT_STAGE_BYTES + 2 * DIRECT_BLOCK)
    end = (size_t)(s->file_end - pos);
  if (end > fill) {
    uint32_t pad = (uint32_t)(end - fill);
    uint8_t *box = stage + fill;
    box[0] = (uint8_t)(pad >> 24);
    box[1] = (uint8_t)(pad >> 16);
    box[2] = (uint8_t)(pad >> 8);
    box[3] = (uint8_t)pad;
    memcpy(box + 4, "free", 4);
    memset(box + 8, 0, pad - 8);
  }
  int err = pwrite_all(s->fd, stage, end, pos);
  if (err) return err;
  if (pos + end > s->file_end) s->file_end = pos + end;
  size_t whole = fill / DIRECT_BLOCK * DIRECT_BLOCK;
  memcpy(s->tail, stage + whole, fill - whole);
  return 0;
}

/* Appends iov at s->offset, with O_DIRECT when the
 * segment is direct. A filesystem that refuses the direct write (EINVAL:
 * alignment it needs beyond ours, or no O_DIRECT at all) gets this file
 * written the buffered way from here on. */
static int segment_write(segment_t *s, struct iovec *iov, int count) {
  if (s->direct) {
    int err = direct_write(s, iov, count);
    if (err != VG_EINVAL) return err;
    s->direct = 0;
    int flags = fcntl(s->fd, F_GETFL);
    if (flags < 0 || fcntl(s->fd, F_SETFL, flags & ~O_DIRECT) != 0 ||
        ftruncate(s->fd, (off_t)s->offset) != 0 || lseek(s->fd, (off_t)s->offset, SEEK_SET) < 0)
      return vg_err_from_errno();
  }
  return write_all(s->fd, iov, count);
}

/* Whether err says something about the root (so that another root may
 * take the segment) rather than about this one file. */
static bool root_level_error(int err) {
  return err == VG_ENOSPC || err == -EDQUOT || err == VG_EIO || err == VG_ENOENT || err == -ENODEV ||
         err == -EROFS || err == -ENOTDIR || err == -EACCES || err == -ENXIO || err == -ESTALE;
}

/* Creates the file of s on root (mkdir, open O_EXCL with a "-N" suffix
 * when two segments start within one second, init segment). Returns 0 or
 * the error, with nothing left behind on failure. */
static int open_on_root(segment_t *s, int root, const vg_buf_t *init) {
  const char *root_path = vg_roots_path(root);
  int err = vg_roots_verify(root);
  if (err) return err;
  int n = vg_record_segment_path(root_path, s->rec->camera, s->start_us, s->path, sizeof(s->path));
  if (n < 0) return n;
  char base[1024];
  snprintf(base, sizeof(base), "%s", s->path);
  size_t blen = strlen(base);
  s->direct = WR->stage && s->tail;
  /* Retention removes directories it emptied; one may vanish between our
   * mkdir and open. That is retried here rather than taken for a failed
   * root (the root itself was just checked). */
  for (int tries = 0; tries < 3; tries++) {
    err = make_parent_dirs(s->path, strlen(root_path));
    if (err == VG_ENOENT && tries < 2) continue;
    if (err) return err;
    for (int k = 1; k < 100; k++) {
      s->fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | (s->direct ? O_DIRECT : 0), 0644);
      if (s->fd < 0 && errno == EINVAL && s->direct) {
        /* A filesystem without O_DIRECT refuses it after creating the
         * file: that file goes, and the open is made again without. */
        unlink(s->path);
        s->direct = 0;
        k--;
        continue;
      }
      if (s->fd >= 0 || errno != EEXIST) break;
      snprintf(s->path, sizeof(s->path), "%.*s-%d.mp4", (int)(blen - 4), base, k);
    }
    if (s->fd >= 0 || errno != ENOENT) break;
    snprintf(s->path, sizeof(s->path), "%s", base);
  }
  if (s->fd < 0) return -errno;
  struct iovec iov = {init->data, init->len};
  s->offset = 0;
  s->file_end = 0;
  err = segment_write(s, &iov, 1);
  if (err) {
    close(s->fd);
    s->fd = -1;
    unlink(s->path);
    return err;
  }
  s->root = root;
  s->offset = init->len;
  s->end_us = s->start_us;
  return 0;
}

static void run_open(job_t *j) {
  segment_t *s = j->seg;
  vg_recorder_t *rec = s->rec;
  unsigned skip = 0;
  int err = VG_EIO;
  if (WR->stage && !s->tail) s->tail = malloc(DIRECT_BLOCK); /* without it: buffered */
  /* A root that fails (gone, full) is skipped and the next one tried at
   * once, so that a camera loses no footage to a dead disk. */
  for (int attempt = 0; attempt < VG_RECORD_MAX_ROOTS; attempt++) {
    int root = vg_roots_pick(rec->camera, skip);
    if (root < 0) break;
    err = open_on_root(s, root, j->init);
    if (!err) break;
    int fresh = vg_roots_report_error(root, err, "open");
    if (fresh) vg_log_warn(&rec->log, "cannot record into %s: %s", vg_roots_path(root), vg_strerror(err));
    skip |= 1u << root;
    if (!root_level_error(err)) break;
  }
  if (s->fd < 0) {
    atomic_fetch_add(&rec->write_errors, 1);
    if (!WR->no_root_logged)
      vg_log_error(&rec->log, "no storage root can take a segment (%s); retrying at the next keyframes",
                   vg_strerror(err));
    WR->no_root_logged = 1;
    s->failed = 1;
    s->index_closed = 1;
    atomic_fetch_add(&rec->error_epoch, 1);
    return;
  }
  WR->no_root_logged = 0;
  vg_roots_camera_on(rec->camera, s->root);
  vg_roots_add_used(s->root, s->offset);
  atomic_fetch_add(&rec->segments, 1);
  atomic_fetch_add(&rec->bytes, s->offset);
  j->ix_add = true;
  vg_log_debug(&rec->log, "segment %s opened", s->path);
}

static void run_fragment(job_t *j) {
  segment_t *s = j->seg;
  vg_recorder_t *rec = s->rec;
  if (s->fd < 0) return;
  preallocate(s, s->offset + j->fragment.size);
  int err = segment_write(s, j->fragment.iov, j->fragment.iov_count);
  if (err) {
    segment_fail(s, "write", err);
    return;
  }
  int64_t now = vg_time_mono_us();
  for (int k = 0; k < j->fragment.sample_count; k++)
    if (j->fragment.frames[k].recv_us > 0)
      latency_record(W.latency_hist, now - j->fragment.frames[k].recv_us);
  latency_record(W.queue_hist, now - j->queued_us);
  atomic_fetch_add(&W.frames_written, (uint64_t)j->fragment.sample_count);
  vg_roots_report_ok(s->root);
  vg_roots_add_used(s->root, j->fragment.size);
  atomic_fetch_add(&rec->bytes, j->fragment.size);
  /* The row follows the bytes (in the batch's transaction, after every
   * write of the batch): a crash may leave bytes without a row (recovery
   * indexes them), never a row without bytes. */
  j->frag_row = (vg_rec_fragment_t){.offset = s->offset,
                                    .size = j->fragment.size,
                                    .start_us = j->frag_start_us,
                                    .duration_us = j->frag_duration_us,
                                    .key = j->frag_key,
                                    .samples = (uint32_t)j->fragment.sample_count};
  j->ix_fragment = true;
  s->offset += j->fragment.size;
  s->fragments++;
  if (j->frag_start_us + j->frag_duration_us > s->end_us) s->end_us = j->frag_start_us + j->frag_duration_us;
}

static void run_close(job_t *j) {
  segment_t *s = j->seg;
  /* Durability point of a segment: its data is on disk once closed. */
  release_preallocation(s);
  if (s->fd >= 0 && fdatasync(s->fd) != 0) segment_fail(s, "fdatasync", -errno);
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
  segment_finish_index(s);
  /* The segment is freed once the batch's index work is done. */
}

static void run_job(job_t *j) {
  switch (j->kind) {
  case JOB_OPEN: run_open(j); break;
  case JOB_FRAGMENT: run_fragment(j); break;
  case JOB_CLOSE: run_close(j); break;
  }
}

static int set_used(void *opaque, const vg_rec_root_total_t *t) {
  (void)opaque;
  int i = vg_roots_find(t->root);
  if (i >= 0) vg_roots_set_used(i, t->bytes);
  return 0;
}

/* Once a second: roots (retries, free space) and, less often, per-root
 * usage from the index (retention deletes through its own connection). */
static void writer_tick(void) {
  /* Shared state: the first writer keeps it up to date for all. */
  if (WR->index != 0) return;
  vg_roots_tick();
  int64_t now = vg_time_mono_us();
  if (WR->ix && now >= WR->used_refresh_at) {
    WR->used_refresh_at = now + USED_REFRESH_US;
    for (int i = 0; i < vg_roots_count(); i++)
      vg_roots_set_used(i, 0);
    if (vg_rec_index_root_totals(WR->ix, set_used, NULL) < 0) index_error();
  }
}

/* The index work of a job, in the batch's transaction. */
static void index_job(job_t *j) {
  segment_t *s = j->seg;
  vg_rec_index_t *ix = WR->ix;
  if (ix && j->ix_add) {
    vg_rec_segment_t row = {
        .start_us = s->start_us, .end_us = s->start_us, .bytes = j->init->len, .quality = s->quality};
    snprintf(row.camera, sizeof(row.camera), "%s", s->rec->camera);
    snprintf(row.root, sizeof(row.root), "%s", vg_roots_path(s->root));
    snprintf(row.path, sizeof(row.path), "%s", s->path + strlen(row.root) + 1);
    if (vg_rec_index_add_segment(ix, &row) == 0)
      s->id = row.id;
    else
      index_error();
  }
  if (ix && j->ix_fragment && s->id) {
    j->frag_row.segment_id = s->id;
    if (vg_rec_index_append_fragment(ix, &j->frag_row) != 0) index_error();
  }
  if (ix && j->ix_finish && s->id) {
    int err = s->fragments == 0 ? vg_rec_index_delete_segment(ix, s->id)
                                : vg_rec_index_close_segment(ix, s->id, s->end_us, s->offset);
    if (err != 0) index_error();
  }
  if (j->kind == JOB_CLOSE) {
    free(s->tail);
    free(s);
  }
}

/* Commits the index rows of the written jobs waiting for it (all of them
 * when force, else once they are due), in one transaction. The transaction
 * (which holds the database's write lock, shared by all writers) is never
 * open across a write or an fdatasync(), so writers do not wait on each
 * other's disks. */
static void index_pending(bool force) {
  if (!WR->ix_head || (!force && vg_time_mono_us() < WR->ix_due)) return;
  job_t *list = WR->ix_head;
  WR->ix_head = WR->ix_tail = NULL;
  WR->ix_jobs = 0;
  int batched = 0;
  if (WR->ix) {
    if (vg_rec_index_begin(WR->ix) == 0)
      batched = 1;
    else
      index_error();
  }
  uint64_t before = WR->ix ? vg_rec_index_writes(WR->ix) : 0;
  while (list) {
    job_t *j = list;
    list = j->next;
    index_job(j);
    job_free(j);
  }
  if (batched && vg_rec_index_commit(WR->ix) != 0) index_error();
  if (WR->ix) atomic_fetch_add(&W.index_writes, vg_rec_index_writes(WR->ix) - before);
}

/* Runs a batch of jobs: every file write, then their index rows join the
 * pending ones, committed together once record.index_interval_ms has
 * passed since the oldest (at once when it is 0, or when many wait). */
static void run_batch(job_t *list) {
  job_t *last = NULL;
  int n = 0;
  for (job_t *j = list; j; j = j->next) {
    WR->current = j;
    run_job(j);
    /* The bytes are in the kernel: the frames' buffers can go back now. */
    vg_fmp4_fragment_release(&j->fragment);
    last = j;
    n++;
  }
  WR->current = NULL;
  if (!last) return;
  if (WR->ix_tail)
    WR->ix_tail->next = list;
  else {
    WR->ix_head = list;
    WR->ix_due = vg_time_mono_us() + (int64_t)W.cfg.index_interval_ms * 1000;
  }
  WR->ix_tail = last;
  WR->ix_jobs += n;
  index_pending(W.cfg.index_interval_ms <= 0 || WR->ix_jobs >= WRITER_MAX_BATCH);
}

static void *writer_main(void *arg) {
  writer_t *w = arg;
  WR = w;
  if (W.cfg.direct_io &&
      posix_memalign((void **)&w->stage, DIRECT_BLOCK, DIRECT_STAGE_BYTES + 2 * DIRECT_BLOCK) != 0)
    w->stage = NULL; /* buffered writes then */
  int64_t next_tick = vg_time_mono_us();
  pthread_mutex_lock(&w->lock);
  for (;;) {
    while (!w->head && !w->quit && vg_time_mono_us() < next_tick &&
           !(w->ix_head && vg_time_mono_us() >= w->ix_due)) {
      /* Asleep until the tick, or until the pending index rows are due. */
      int64_t wake = next_tick;
      if (w->ix_head && w->ix_due < wake) wake = w->ix_due;
      int64_t left = wake - vg_time_mono_us();
      if (left < 1000) left = 1000;
      struct timespec ts = vg_time_deadline(CLOCK_REALTIME, left);
      w->waiting = 1;
      pthread_cond_timedwait(&w->cond, &w->lock, &ts);
      w->waiting = 0;
    }
    /* Gather a batch: wait for more jobs after the first one. */
    if (w->head && !w->quit && w->jobs < WRITER_BATCH_JOBS) {
      int64_t until = w->head->queued_us + WRITER_BATCH_US;
      while (w->head && !w->quit && w->jobs < WRITER_BATCH_JOBS && vg_time_mono_us() < until) {
        struct timespec ts = vg_time_deadline(CLOCK_REALTIME, until - vg_time_mono_us());
        pthread_cond_timedwait(&w->cond, &w->lock, &ts);
      }
    }
    /* Take up to WRITER_MAX_BATCH jobs at once. */
    job_t *list = w->head, *last = NULL;
    int n = 0;
    for (job_t *j = w->head; j && n < WRITER_MAX_BATCH; j = j->next, n++) {
      w->jobs--;
      w->bytes -= j->bytes;
      last = j;
    }
    if (last) {
      w->head = last->next;
      if (!w->head) w->tail = NULL;
      last->next = NULL;
    } else {
      list = NULL;
    }
    int quit = w->quit && !w->head;
    pthread_mutex_unlock(&w->lock);
    if (list) run_batch(list);
    index_pending(quit);
    if (vg_time_mono_us() >= next_tick) {
      writer_tick();
      /* Only the first writer has work in writer_tick(); the others would
       * wake once a second for nothing on an idle node, so they come back
       * only hourly (their jobs and index rows still wake them). */
      next_tick = vg_time_mono_us() + (w->index == 0 ? 1000000 : 3600LL * 1000000);
    }
    pthread_mutex_lock(&w->lock);
    if (quit && !w->head) break;
  }
  pthread_mutex_unlock(&w->lock);
  free(w->stage);
  w->stage = NULL;
  return NULL;
}

/* --- muxing, on the camera's worker --- */

static void drop_frames(vg_recorder_t *rec, uint64_t n) { rec->own_drops += n; }

/* Microseconds of t ticks of a clock_rate clock. */
static int64_t ticks_to_us(int64_t t, uint32_t clock_rate) {
  if (!clock_rate) clock_rate = 90000;
  return (int64_t)((__int128)t * 1000000 / clock_rate);
}

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
  j->queued_us = vg_time_mono_us();
  /* Index times: the segment's wall-clock anchor plus media time. */
  uint32_t clock =
      j->fragment.track < rec->cur->track_count ? rec->cur->tracks[j->fragment.track].clock_rate : 90000;
  j->frag_start_us = rec->seg->start_us + ticks_to_us((int64_t)j->fragment.start_time, clock);
  j->frag_duration_us = ticks_to_us((int64_t)j->fragment.duration, clock);
  for (int k = 0; k < j->fragment.sample_count; k++) {
    if (j->fragment.frames[k].track != rec->cur->key_track) continue;
    j->frag_key = (j->fragment.frames[k].flags & VG_FRAME_KEY) != 0;
    break;
  }
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

/* Ends the segment before next (a frame of the same stream that will not be
 * in it, or NULL). The last video sample lasts until next's pts; without
 * one, a keyframes-only segment's last keyframe lasts as long as the gap
 * before it, so that idle footage plays in real time up to its end. */
static void end_segment_before(vg_recorder_t *rec, const vg_frame_t *next) {
  if (!rec->seg || !rec->mux) {
    end_segment(rec);
    return;
  }
  if (next && next->track == rec->cur->key_track)
    vg_fmp4_set_end(rec->mux, rec->cur->key_track, next->pts);
  else if (!next && rec->seg->quality == VG_REC_QUALITY_KEYFRAMES && rec->prev_key_gap > 0)
    vg_fmp4_set_end(rec->mux, rec->cur->key_track, rec->prev_key_pts + rec->prev_key_gap);
  end_segment(rec);
}

static int start_segment(vg_recorder_t *rec, const vg_frame_t *f) {
  segment_t *s = calloc(1, sizeof(*s));
  job_t *j = calloc(1, sizeof(*j));
  int err = VG_ENOMEM;
  if (!s || !j) goto fail;
  s->rec = rec;
  s->fd = -1;
  s->root = -1;
  s->quality = rec->quality;
  /* The wall-clock anchor of the segment; media time counts from here. */
  s->start_us = f->utc_us > 0 ? f->utc_us : vg_time_utc_us();
  rec->seg_anchor_utc = s->start_us;
  /* Real time only moves forward: a camera clock that jumped back must not
   * make this segment overlap the previous one in the index. */
  if (s->start_us < rec->last_end_us) s->start_us = rec->last_end_us;
  err = vg_fmp4_create(rec->cur->tracks, rec->cur->track_count, &rec->mux);
  if (err) goto fail;
  err = vg_fmp4_init_segment(rec->mux, &j->init);
  if (err < 0) goto fail;
  j->kind = JOB_OPEN;
  j->seg = s;
  j->bytes = j->init->len;
  writer_push(j);
  rec->seg = s;
  rec->seg_start_pts = rec->frag_start_pts = f->pts;
  /* The previous segment may be of another stream, with another clock. */
  rec->prev_key_pts = INT64_MIN;
  rec->prev_key_gap = 0;
  rec->clock_jumped = 0;
  rec->seen_error_epoch = atomic_load(&rec->error_epoch);
  return 0;
fail:
  vg_log_warn(&rec->log, "cannot start a segment: %s", vg_strerror(err));
  vg_fmp4_free(&rec->mux);
  if (j) job_free(j);
  free(s);
  return err;
}

/* The tracks of src changed (or the first ones arrived): a new generation. */
static void load_source(vg_recorder_t *rec, rec_source_t *src, vg_hub_reader_t *reader, const char *what) {
  if (rec->cur == src) end_segment(rec);
  for (int i = 0; i < src->track_count; i++)
    vg_track_clear(&src->tracks[i]);
  src->track_count = vg_hub_reader_tracks(reader, src->tracks, VG_MAX_TRACKS);
  src->key_track = 0;
  for (int i = src->track_count - 1; i >= 0; i--)
    if (vg_codec_is_video(src->tracks[i].codec)) src->key_track = i;
  /* Try the tracks once now so that an unrecordable stream (e.g. JPEG) is
   * reported once rather than at every keyframe. */
  vg_fmp4_t *probe = NULL;
  int err = src->track_count > 0 ? vg_fmp4_create(src->tracks, src->track_count, &probe) : VG_EINVAL;
  vg_fmp4_free(&probe);
  src->usable = err == 0;
  if (err && src->track_count > 0)
    vg_log_warn(&rec->log, "this %s cannot be recorded (%s): %s", what, vg_codec_name(src->tracks[0].codec),
                vg_strerror(err));
}

static void load_tracks(vg_recorder_t *rec) {
  load_source(rec, &rec->main, rec->reader, "stream");
  vg_rec_gate_reset(&rec->gate, rec->main.key_track);
}

/* The segment keeps its wall-clock anchor and counts media time from it;
 * when the camera's wall clock (the anchor source: RTCP sender reports, or
 * our clock) moves away from that by more than VG_RECORD_CLOCK_JUMP_US, the
 * segment is cut at the next keyframe and the next one anchors anew, so
 * index times never overlap or drift. */
static void check_clock(vg_recorder_t *rec, const vg_frame_t *f, uint32_t clock) {
  if (rec->clock_jumped || f->utc_us <= 0) return;
  /* Against the camera's own clock at the segment's start, not the index
   * start (which may have been moved forward past the previous segment). */
  int64_t expected = rec->seg_anchor_utc + ticks_to_us(f->pts - rec->seg_start_pts, clock);
  int64_t off = f->utc_us - expected;
  if (off > VG_RECORD_CLOCK_JUMP_US || off < -VG_RECORD_CLOCK_JUMP_US) {
    rec->clock_jumped = 1;
    atomic_fetch_add(&rec->clock_jumps, 1);
    vg_log_warn(&rec->log,
                "the camera's wall clock jumped by %.1f s; a new segment starts at the next keyframe",
                (double)off / 1e6);
  }
}

static void on_frame(vg_recorder_t *rec, vg_frame_t *f) {
  if (!rec->cur->usable || f->track >= rec->cur->track_count) return;
  const vg_track_t *kt = &rec->cur->tracks[rec->cur->key_track];
  int is_key = f->track == rec->cur->key_track && (f->flags & VG_FRAME_KEY);
  uint32_t clock = kt->clock_rate ? kt->clock_rate : 90000;
  if (rec->seg && rec->seen_error_epoch != atomic_load(&rec->error_epoch)) end_segment(rec);
  if (rec->seg && f->track == rec->cur->key_track) check_clock(rec, f, clock);
  if (rec->seg && is_key &&
      (rec->clock_jumped || f->pts - rec->seg_start_pts >= (int64_t)W.cfg.segment_s * clock))
    end_segment_before(rec, rec->clock_jumped ? NULL : f);
  if (!rec->seg) {
    if (!is_key || start_segment(rec, f) != 0) return;
  } else if (f->track == rec->cur->key_track &&
             f->pts - rec->frag_start_pts >= (int64_t)W.cfg.fragment_ms * clock / 1000) {
    /* The fragment's last video frame lasts until this one. */
    vg_fmp4_set_end(rec->mux, rec->cur->key_track, f->pts);
    flush_fragment(rec);
    rec->frag_start_pts = f->pts;
  }
  if (f->track == rec->cur->key_track) {
    /* Where this frame ends in the index: like the muxer, a frame lasts as
     * long as the one before it. */
    int64_t at = rec->seg->start_us + ticks_to_us(f->pts - rec->seg_start_pts, clock);
    int64_t dur = f->pts > rec->prev_key_pts && rec->prev_key_pts >= rec->seg_start_pts
                      ? ticks_to_us(f->pts - rec->prev_key_pts, clock)
                      : 0;
    rec->last_end_us = at + dur;
    rec->prev_key_gap = f->pts > rec->prev_key_pts && rec->prev_key_pts >= rec->seg_start_pts
                            ? f->pts - rec->prev_key_pts
                            : 0;
    rec->prev_key_pts = f->pts;
  }
  int err = vg_fmp4_add_frame(rec->mux, f);
  if (err == VG_ETOOBIG) {
    if (f->track == rec->cur->key_track) vg_fmp4_set_end(rec->mux, rec->cur->key_track, f->pts);
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

/* Whether the substream delivered a frame lately: while it does, idle
 * footage comes from it, otherwise from the main stream's keyframes. */
static bool sub_live(const vg_recorder_t *rec) {
  return rec->sub_reader && rec->sub.usable && vg_time_mono_us() - rec->sub_seen_us < SUB_STALE_US;
}

/* The gate's output (record/mode.h): a frame to write at a quality, or the
 * end of what was being written. Each segment holds one quality, so a change
 * of quality ends the segment; the next one starts at the frame, which the
 * gate makes a keyframe (the head of the pre-roll, or an idle keyframe).
 * Idle keyframes are not written while a live substream is recorded
 * instead. */
static void write_gated(void *opaque, vg_frame_t *f, vg_rec_action_t action) {
  vg_recorder_t *rec = opaque;
  if (f && action == VG_REC_KEYFRAMES && sub_live(rec)) return;
  vg_rec_quality_t q = action == VG_REC_KEYFRAMES ? VG_REC_QUALITY_KEYFRAMES : VG_REC_QUALITY_FULL;
  if (!f || q != rec->quality || rec->cur != &rec->main)
    end_segment_before(rec, f && rec->cur == &rec->main ? f : NULL);
  if (!f) return;
  rec->quality = q;
  rec->cur = &rec->main;
  on_frame(rec, f);
}

/* A substream frame leaving its delay buffer: written while the camera is
 * idle in intelligent mode, from its first keyframe after the last footage
 * written (the main stream's full quality ends there). */
static void write_sub(vg_recorder_t *rec, vg_frame_t *f) {
  bool idle =
      rec->gate.mode == VG_REC_MODE_INTELLIGENT && !rec->gate.active && rec->gate.writing != VG_REC_FULL;
  bool writing_sub = rec->seg && rec->cur == &rec->sub;
  if (!idle || !rec->sub.usable) {
    if (writing_sub) end_segment(rec);
    return;
  }
  if (!writing_sub) {
    if (f->track != rec->sub.key_track || !(f->flags & VG_FRAME_KEY) || f->utc_us < rec->last_end_us) return;
    end_segment(rec);
  }
  rec->quality = VG_REC_QUALITY_SUBSTREAM;
  rec->cur = &rec->sub;
  on_frame(rec, f);
}

/* Opens the substream's reader once its camera's hub exists (looked for
 * once a second: cameras start in any order, and come and go). */
static void sub_open(vg_recorder_t *rec) {
  int64_t now = vg_time_mono_us();
  if (rec->sub_reader || !rec->gate.policy.substream[0] || now - rec->sub_lookup_us < 1000000) return;
  rec->sub_lookup_us = now;
  if (!rec->sub_hub) rec->sub_hub = vg_hub_find(rec->gate.policy.substream);
  if (!rec->sub_hub) {
    if (++rec->sub_misses == 10)
      vg_log_warn(&rec->log, "substream \"%s\" is not a running camera: idle footage keeps the keyframes",
                  rec->gate.policy.substream);
    return;
  }
  rec->sub_misses = 0;
  vg_hub_reader_opts_t o = {.queue_frames = REC_QUEUE_FRAMES, .notify = NULL, .opaque = rec};
  if (vg_hub_open_reader(rec->sub_hub, &o, &rec->sub_reader) != 0) {
    vg_hub_unref(&rec->sub_hub);
    return;
  }
  vg_log_info(&rec->log, "idle footage comes from the substream %s", rec->gate.policy.substream);
}

static void sub_close(vg_recorder_t *rec) {
  if (rec->cur == &rec->sub) end_segment(rec);
  vg_hub_close_reader(&rec->sub_reader);
  vg_hub_unref(&rec->sub_hub);
  vg_preroll_free(&rec->sub_delay);
  rec->sub.usable = 0;
}

static void drain_sub(vg_recorder_t *rec) {
  sub_open(rec);
  while (rec->sub_reader) {
    vg_frame_t f, held;
    int r = vg_hub_read(rec->sub_reader, &f);
    if (r == VG_EAGAIN) break;
    if (r == VG_ESTATE) {
      load_source(rec, &rec->sub, rec->sub_reader, "substream");
      vg_preroll_free(&rec->sub_delay);
      vg_preroll_init(&rec->sub_delay, (int64_t)rec->gate.policy.pre_roll_s * 1000000, rec->sub.key_track);
      continue;
    }
    if (r < 0) {
      /* The substream's camera went away: looked for again later. */
      sub_close(rec);
      break;
    }
    rec->sub_seen_us = vg_time_mono_us();
    if (rec->sub.usable && vg_preroll_push(&rec->sub_delay, &f) < 0) vg_preroll_clear(&rec->sub_delay);
    vg_frame_unref(&f);
    while (vg_preroll_evict(&rec->sub_delay, &held)) {
      write_sub(rec, &held);
      vg_frame_unref(&held);
    }
  }
}

static void drain(void *arg) {
  vg_recorder_t *rec = arg;
  if (!rec->reader) return;
  vg_rec_gate_update(&rec->gate, vg_time_utc_us());
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
    vg_rec_gate_frame(&rec->gate, &f, write_gated, rec);
    vg_frame_unref(&f);
  }
  if (rec->gate.policy.substream[0]) drain_sub(rec);
  vg_hub_reader_stats_t st;
  vg_hub_reader_stats(rec->reader, &st);
  atomic_store(&rec->dropped, st.dropped + rec->own_drops);
}

static void on_drain_timer(uv_timer_t *t) { drain(t->data); }

/* The reader is polled by a timer of the camera's worker rather than woken
 * per frame: a wake-up per frame (an async send through the worker's loop)
 * cost about as much CPU as the rest of recording, while fragments are
 * written once per fragment_ms anyway. */
static void open_task(void *arg) {
  vg_recorder_t *rec = arg;
  vg_rec_gate_open(&rec->gate, rec->camera, 0);
  vg_hub_reader_opts_t o = {.queue_frames = REC_QUEUE_FRAMES, .notify = NULL, .opaque = rec};
  int err = vg_hub_open_reader(rec->hub, &o, &rec->reader);
  if (err) {
    vg_log_error(&rec->log, "cannot read the stream: %s", vg_strerror(err));
    return;
  }
  uv_timer_init(vg_worker_loop(rec->worker), &rec->drain_timer);
  rec->drain_timer.data = rec;
  uv_timer_start(&rec->drain_timer, on_drain_timer, DRAIN_INTERVAL_MS, DRAIN_INTERVAL_MS);
  rec->timer_started = 1;
  drain(rec);
}

static void signal_stopped(void *arg) {
  vg_recorder_t *rec = arg;
  pthread_mutex_lock(&rec->lock);
  rec->stopped = 1;
  pthread_cond_signal(&rec->cond);
  pthread_mutex_unlock(&rec->lock);
}

static void on_timer_closed(uv_handle_t *h) { signal_stopped(h->data); }

static void stop_task(void *arg) {
  vg_recorder_t *rec = arg;
  /* What the reader still holds is recorded before the segment ends. */
  if (rec->reader) drain(rec);
  end_segment_before(rec, NULL);
  sub_close(rec);
  vg_hub_close_reader(&rec->reader);
  if (rec->timer_started) {
    /* The recorder is freed only once the loop has let go of its timer. */
    rec->timer_started = 0;
    uv_timer_stop(&rec->drain_timer);
    uv_close((uv_handle_t *)&rec->drain_timer, on_timer_closed);
    return;
  }
  signal_stopped(rec);
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
      {"vigil_record_clock_jumps_total", "Segments cut because the camera's wall clock jumped.",
       offsetof(vg_recorder_t, clock_jumps)},
  };
  pthread_mutex_lock(&W.lock);
  for (size_t k = 0; k < sizeof(fams) / sizeof(fams[0]); k++) {
    vg_metrics_family(out, fams[k].name, "counter", fams[k].help);
    for (int i = 0; i < W.rec_count; i++) {
      vg_recorder_t *rec = W.recs[i];
      if (rec->removed) continue;
      atomic_uint_fast64_t *v = (atomic_uint_fast64_t *)((char *)rec + fams[k].offset);
      vg_metrics_sample_u64(out, fams[k].name, (const char *const[]){"camera", rec->camera, NULL},
                            atomic_load(v));
    }
  }
  pthread_mutex_unlock(&W.lock);
  vg_recorder_writer_stats_t ws;
  vg_recorder_get_writer_stats(&ws);
  vg_metrics_single_u64(out, "vigil_record_index_writes_total", "counter",
                        "Rows the recorder wrote to the index.", ws.index_writes);
  vg_metrics_single_u64(out, "vigil_record_index_errors_total", "counter",
                        "Failed writes to the recording index.", ws.index_errors);
  if (ws.frames_written) {
    vg_metrics_family(out, "vigil_record_write_latency_seconds", "summary",
                      "Time from a frame's arrival to its bytes handed to the kernel.");
    vg_metrics_sample(out, "vigil_record_write_latency_seconds",
                      (const char *const[]){"quantile", "0.5", NULL}, ws.write_latency_p50_us / 1e6);
    vg_metrics_sample(out, "vigil_record_write_latency_seconds",
                      (const char *const[]){"quantile", "0.99", NULL}, ws.write_latency_p99_us / 1e6);
    vg_metrics_family(
        out, "vigil_record_writer_queue_seconds", "summary",
        "Time from a complete fragment handed to the writer to its bytes handed to the kernel.");
    vg_metrics_sample(out, "vigil_record_writer_queue_seconds",
                      (const char *const[]){"quantile", "0.5", NULL}, ws.queue_latency_p50_us / 1e6);
    vg_metrics_sample(out, "vigil_record_writer_queue_seconds",
                      (const char *const[]){"quantile", "0.99", NULL}, ws.queue_latency_p99_us / 1e6);
  }
}

/* p50 and p99 of a histogram, at the buckets' geometric middles. */
static void percentiles(atomic_uint_fast64_t *hist, double *p50, double *p99) {
  uint64_t counts[LATENCY_BUCKETS], total = 0;
  for (int i = 0; i < LATENCY_BUCKETS; i++)
    total += counts[i] = atomic_load(&hist[i]);
  *p50 = *p99 = 0;
  if (!total) return;
  const double want[2] = {0.50, 0.99};
  double *res[2] = {p50, p99};
  for (int k = 0; k < 2; k++) {
    uint64_t target = (uint64_t)ceil(want[k] * (double)total), seen = 0;
    for (int i = 0; i < LATENCY_BUCKETS; i++) {
      seen += counts[i];
      if (seen >= target) {
        *res[k] = pow(2.0, (i + 0.5) / 4.0);
        break;
      }
    }
  }
}

void vg_recorder_get_writer_stats(vg_recorder_writer_stats_t *out) {
  memset(out, 0, sizeof(*out));
  out->index_writes = atomic_load(&W.index_writes);
  out->index_errors = atomic_load(&W.index_errors);
  out->frames_written = atomic_load(&W.frames_written);
  percentiles(W.latency_hist, &out->write_latency_p50_us, &out->write_latency_p99_us);
  percentiles(W.queue_hist, &out->queue_latency_p50_us, &out->queue_latency_p99_us);
}

int vg_recorder_get_stats(const char *camera, vg_recorder_stats_t *out) {
  int ret = VG_ENOENT;
  pthread_mutex_lock(&W.lock);
  for (int i = 0; i < W.rec_count; i++) {
    vg_recorder_t *rec = W.recs[i];
    if (rec->removed || strcmp(rec->camera, camera) != 0) continue;
    out->segments = atomic_load(&rec->segments);
    out->bytes = atomic_load(&rec->bytes);
    out->write_errors = atomic_load(&rec->write_errors);
    out->dropped = atomic_load(&rec->dropped);
    out->clock_jumps = atomic_load(&rec->clock_jumps);
    ret = 0;
  }
  pthread_mutex_unlock(&W.lock);
  return ret;
}

/* --- lifecycle --- */

/* Lets every writer drain its queue, joins it and closes its index. */
static void writers_join(void) {
  for (int i = 0; i < W.writer_count; i++) {
    writer_t *w = &W.writers[i];
    pthread_mutex_lock(&w->lock);
    w->quit = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    vg_rec_index_close(&w->ix);
    vg_db_close(&w->db);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
  }
  W.writer_count = 0;
}

int vg_recorders_start(const vg_record_config_t *cfg) {
  if (W.started) return VG_EBUSY;
  W.cfg = *cfg;
  if (W.cfg.root_count == 0) {
    /* A caller that filled only the single root. */
    memset(&W.cfg.roots[0], 0, sizeof(W.cfg.roots[0]));
    snprintf(W.cfg.roots[0].path, sizeof(W.cfg.roots[0].path), "%s", W.cfg.root);
    W.cfg.root_count = 1;
  }
  int err = vg_roots_start(W.cfg.roots, W.cfg.root_count, W.cfg.root_retry_s);
  if (err) return err;
  atomic_store(&W.index_writes, 0);
  atomic_store(&W.index_errors, 0);
  atomic_store(&W.frames_written, 0);
  for (int i = 0; i < LATENCY_BUCKETS; i++) {
    atomic_store(&W.latency_hist[i], 0);
    atomic_store(&W.queue_hist[i], 0);
  }
  /* One writer per root (the disks are written in parallel), at least two
   * (one camera's slow fdatasync does not hold up the others). */
  int count = W.cfg.writer_threads > 0 ? W.cfg.writer_threads : W.cfg.root_count;
  if (W.cfg.writer_threads <= 0 && count < 2) count = 2;
  if (count > MAX_WRITERS) count = MAX_WRITERS;
  W.writer_count = 0;
  for (int i = 0; i < count && !err; i++) {
    writer_t *w = &W.writers[i];
    memset(w, 0, sizeof(*w));
    w->index = i;
    w->max_bytes = WRITER_MAX_BYTES / (unsigned)count;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    /* Each writer's own connection, handed to its thread: SQLite's WAL
     * serialises their short transactions. */
    if (W.cfg.db_path[0] &&
        (vg_db_open(W.cfg.db_path, &w->db) != 0 || vg_rec_index_open(w->db, &w->ix) != 0)) {
      vg_log_error(&record_log, "the recording index at %s cannot be used: recording goes on without it",
                   W.cfg.db_path);
      vg_rec_index_close(&w->ix);
      vg_db_close(&w->db);
    }
    err = -pthread_create(&w->thread, NULL, writer_main, w);
    if (err) {
      vg_rec_index_close(&w->ix);
      vg_db_close(&w->db);
      pthread_mutex_destroy(&w->lock);
      pthread_cond_destroy(&w->cond);
      break;
    }
    char name[16];
    snprintf(name, sizeof(name), "rec-writer-%d", i);
    pthread_setname_np(w->thread, name); /* for top and perf */
    W.writer_count++;
  }
  if (err) {
    writers_join();
    vg_roots_stop();
    return err;
  }
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
  rec->cur = &rec->main;
  pthread_mutex_init(&rec->lock, NULL);
  pthread_cond_init(&rec->cond, NULL);
  char pinned[VG_RECORD_ROOT_PATH_MAX];
  vg_record_camera_root(rec->camera, pinned, sizeof(pinned));
  int pinned_root = pinned[0] ? vg_roots_find(pinned) : -1;
  pthread_mutex_lock(&W.lock);
  if (W.rec_count >= MAX_RECORDERS) {
    pthread_mutex_unlock(&W.lock);
    vg_hub_unref(&rec->hub);
    free(rec);
    return VG_ETOOBIG;
  }
  /* A camera pinned to a root goes to that root's writer (with one writer
   * per root, a slow disk then holds up only its own cameras); the others
   * are dealt out to the writers in turn. */
  rec->writer = &W.writers[(pinned_root >= 0 ? pinned_root : W.rec_count) % W.writer_count];
  W.recs[W.rec_count++] = rec;
  pthread_mutex_unlock(&W.lock);
  int err = vg_worker_post(worker, open_task, rec);
  if (err) {
    /* The recorder stays listed (and is freed at stop) with no reader. */
    rec->stopped = 1;
    return err;
  }
  if (pinned[0] && pinned_root < 0)
    vg_log_warn(&rec->log,
                "record.root \"%s\" is not one of record.roots: the camera is spread like the others",
                pinned);
  vg_log_info(&rec->log, "recording (%d storage root%s)", W.cfg.root_count, W.cfg.root_count == 1 ? "" : "s");
  return 0;
}

int vg_recorder_remove(const char *camera) {
  vg_recorder_t *rec = NULL;
  pthread_mutex_lock(&W.lock);
  for (int i = 0; W.started && i < W.rec_count && !rec; i++)
    if (!W.recs[i]->removed && strcmp(W.recs[i]->camera, camera) == 0) rec = W.recs[i];
  if (rec) rec->removed = 1;
  pthread_mutex_unlock(&W.lock);
  if (!rec) return VG_ENOENT;
  /* The recorder lives on its camera's worker: its segment is closed there.
   * Called on that worker itself, the stop runs now and finishes when the
   * loop lets go of the timer; elsewhere, wait for it. */
  if (vg_worker_current() == rec->worker) {
    if (!rec->stopped) stop_task(rec);
    return 0;
  }
  if (!rec->stopped && vg_worker_post(rec->worker, stop_task, rec) != 0) rec->stopped = 1;
  pthread_mutex_lock(&rec->lock);
  while (!rec->stopped)
    pthread_cond_wait(&rec->cond, &rec->lock);
  pthread_mutex_unlock(&rec->lock);
  vg_log_info(&rec->log, "no longer recorded");
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
  writers_join();
  vg_roots_stop();
  pthread_mutex_lock(&W.lock);
  for (int i = 0; i < W.rec_count; i++) {
    vg_recorder_t *rec = W.recs[i];
    for (int t = 0; t < rec->main.track_count; t++)
      vg_track_clear(&rec->main.tracks[t]);
    for (int t = 0; t < rec->sub.track_count; t++)
      vg_track_clear(&rec->sub.tracks[t]);
    vg_fmp4_free(&rec->mux);
    vg_rec_gate_free(&rec->gate);
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
