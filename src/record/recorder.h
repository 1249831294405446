/*
 * recorder.h: continuous recording of cameras into fragmented MP4 files,
 * indexed in the database (record/index.h) and spread over storage roots
 * (record/roots.h).
 *
 * Per camera a recorder reads the camera's stream hub on the camera's
 * worker, muxes the frames with media/fmp4.h and hands the bytes to a
 * writer thread, so that disk writes never block an I/O loop. There are
 * several writers (record.writer_threads; by default one per storage root,
 * at least two); the cameras are dealt out among them, and each writes the
 * fragments of its cameras in batches, with one index transaction per
 * batch on its own database connection. Files are laid out as
 *   ROOT/<camera>/YYYY/MM/DD/HH/<camera>-YYYYMMDDTHHMMSSZ.mp4
 * (UTC of the segment's first frame); each holds an init segment and
 * fragments. A segment starts on a video keyframe, ends at the first
 * keyframe after segment_s, on a track change, on a jump of the camera's
 * wall clock of more than VG_RECORD_CLOCK_JUMP_US, or when the stream ends;
 * a fragment is flushed once fragment_ms of media has queued, so a crash
 * loses at most about that much. A video sample lasts until the next one;
 * in keyframes-only segments that is the next keyframe, so idle footage
 * plays in real time. In intelligent mode with a substream (mode.h), the
 * recorder also reads the substream camera's hub and, while idle, writes
 * its frames (segments of quality "substream", with that stream's own init
 * segment) instead of the main stream's keyframes.
 *
 * The writer picks the segment's root when it opens the file, adds the
 * segment's index row once the init segment is written, a fragment's row
 * once its bytes are written (all rows of one wake-up in one transaction),
 * and marks the segment closed, after fdatasync(), when it ends. By default
 * (record.direct_io) the files are written with O_DIRECT in whole blocks
 * from the writer's aligned staging buffer, so that the footage does not
 * pass through the page cache: the last partial block of a file is written
 * padded with a 'free' box (a valid MP4 to any reader at any time) and
 * rewritten by the next write, and the padding is cut off when the file
 * closes (recovery cuts it after a crash). Blocks are reserved a few MiB
 * ahead of the end (record.preallocate_mb) and given back at close. Times in
 * the index are UTC: the segment's first frame anchors the wall clock and
 * media time (pts) counts from there.
 *
 * Errors: a write error (EIO, ENOSPC) is counted and logged, the file is cut
 * back to its last complete fragment and closed in the index, the root is
 * marked failed or full (roots.h), and the recorder starts a new file, on
 * another root when one can take it, at the next keyframe; the camera keeps
 * streaming. See docs/RECORDING.md.
 *
 * Threads: vg_record_config_parse and vg_record_segment_path are pure.
 * vg_recorders_start, vg_recorder_add and vg_recorders_stop are called from
 * the main thread, with the workers running (stop before the cameras and the
 * workers stop). Each writer thread owns its own database connection.
 * Counters are published on /metrics by a collector.
 */
#ifndef VG_RECORD_RECORDER_H
#define VG_RECORD_RECORDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "record/roots.h"
#include "net/worker.h"
#include "stream/hub.h"

/* A jump of a camera's wall clock (relative to its media time) larger than
 * this starts a new segment. */
#define VG_RECORD_CLOCK_JUMP_US 2000000

typedef struct {
  bool enabled;   /* default false: without retention, recording is opt-in */
  char root[512]; /* the first root's path (the old single "root" key), default "var/recordings" */
  vg_record_root_config_t roots[VG_RECORD_MAX_ROOTS]; /* "roots", or "root" as one root */
  int root_count;   /* 0 (a caller that set only root): root is the one root */
  int root_retry_s; /* retry interval of a failed root, default 30 (1..3600) */
  int segment_s;    /* segment length target, default 60 (1..3600) */
  int fragment_ms;  /* fragment flush interval, default 1000 (100..10000) */
  /* Writer threads, each writing the segments of its share of the cameras;
   * 0 (default): one per root, at least 2 (0..32). */
  int writer_threads;
  /* Blocks reserved ahead of a segment file's end, in MiB steps
   * (fallocate with the file's size kept); 0: none (0..1024). */
  int preallocate_mb;
  /* A writer commits its index rows at most this often (all rows of the
   * interval in one transaction; the rows follow their bytes by up to this
   * much); 0: once per writer wake-up (0..10000). */
  int index_interval_ms;
  /* Segment files written with O_DIRECT from an aligned staging buffer
   * (whole blocks; the last partial one padded with a 'free' box until the
   * next write, cut off at close); false: through the page cache. A
   * filesystem without O_DIRECT is written the buffered way. */
  bool direct_io;
  /* Not configuration of its own: the database file the writer indexes
   * into (the node copies "database.path" here); empty: no index. */
  char db_path[512];
} vg_record_config_t;

/* Parses the top-level "record" object (obj may be NULL: defaults). Errors
 * name the field through c. Returns 0 or VG_ECONFIG. */
int vg_record_config_parse(vg_cfg_t *c, json_t *obj, vg_record_config_t *out);

/* Writes the path of a segment of camera starting at utc_us into out.
 * Returns its length, VG_EINVAL for a camera id that cannot be a directory
 * name (empty, "." or "..", or with a '/') or VG_ETOOBIG when out is too
 * small. */
int vg_record_segment_path(const char *root, const char *camera, int64_t utc_us, char *out, size_t out_size);

/* Starts the storage roots (vg_roots_start), opens the index at
 * cfg->db_path, starts the writer thread and registers the "record" metrics
 * collector. cfg is copied. A database that cannot be opened is logged and
 * recording goes on without an index (recovery indexes the files later).
 * Returns 0, VG_EBUSY when already started, or an error. */
int vg_recorders_start(const vg_record_config_t *cfg);
/* Starts recording camera's hub on worker (the camera's own worker). The
 * recorder takes a hub reference. Returns 0 or an error. */
int vg_recorder_add(const char *camera, vg_hub_t *hub, vg_worker_t *worker);
/* Stops recording camera (its current segment is closed); a later
 * vg_recorder_add of the same id starts afresh. Returns 0 or VG_ENOENT.
 * Any thread; off the camera's worker it waits for the segment to close. */
int vg_recorder_remove(const char *camera);
/* Stops every recorder (closing their current segments), drains the writer
 * queue, joins the writer thread and unregisters the collector. Safe when
 * not started. */
void vg_recorders_stop(void);

/* One camera's figures, as on /metrics. */
typedef struct {
  uint64_t segments;     /* segment files created */
  uint64_t bytes;        /* bytes written to them */
  uint64_t write_errors; /* failed opens, writes and syncs */
  uint64_t dropped;      /* frames not recorded: hub drops, full writer queue, mux errors */
  uint64_t clock_jumps;  /* segments cut because the camera's wall clock jumped */
} vg_recorder_stats_t;

/* Writer-wide figures: index rows written and failed, and the time from a
 * frame's arrival (vg_frame_t.recv_us) to its bytes handed to the kernel. */
typedef struct {
  uint64_t index_writes, index_errors;
  uint64_t frames_written;
  double write_latency_p50_us, write_latency_p99_us; /* 0 before any write */
  /* From a complete fragment handed to the writer to its bytes written: the
   * writer's own delay (the above also holds the wait for the fragment). */
  double queue_latency_p50_us, queue_latency_p99_us;
} vg_recorder_writer_stats_t;
void vg_recorder_get_writer_stats(vg_recorder_writer_stats_t *out);
/* Returns 0, or VG_ENOENT when camera has no recorder. */
int vg_recorder_get_stats(const char *camera, vg_recorder_stats_t *out);

#endif
