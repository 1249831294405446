/*
 * roots.h: the storage roots of recordings (disks or mounts) and the choice
 * of a root for each new segment.
 *
 * Configuration: record.roots is a list of {"path", "quota_bytes" |
 * "quota_percent", "high_water", "low_water"}; the older record.root string
 * stays valid as a single root. A camera may be pinned to one root with
 * cameras[].record.root (the root's path as configured).
 *
 * Runtime state, one entry per configured root:
 *  - up: the root answers. A root goes down when creating a directory or
 *    opening a file in it fails with EIO, ENOENT, ENODEV, EROFS, ENOTDIR or
 *    EACCES, or when the directory is no longer on the device it was on
 *    when vigil started (the disk was unmounted and the empty mount point
 *    remains). Going down is logged as an error and counted
 *    (vigil_storage_root_failures_total); vigil_storage_root_up{root} is 0.
 *    A down root is retried every retry_s seconds: it comes back when its
 *    directory exists again on the same device (or is a mount point of its
 *    own) and is writable.
 *  - full: a write failed with ENOSPC. Logged once per episode; the episode
 *    ends when a write on the root succeeds again or the free space grows
 *    back above VG_ROOT_FREE_MIN.
 * A new segment goes to the camera's pinned root when that one is up and
 * not full, otherwise to the up, not full root with the most free space per
 * camera already recording there (so cameras spread over equal disks and a
 * fuller disk gets fewer); when every up root is full, a full one is tried
 * again (the segment start is retried at each keyframe).
 *
 * Threads: vg_record_roots_parse and vg_record_camera_config_parse run on
 * the configuration's thread. Everything else takes the module's lock and
 * may be called from any thread (the recorder's writer thread does the
 * choosing and reporting; /metrics reads through the collector).
 */
#ifndef VG_RECORD_ROOTS_H
#define VG_RECORD_ROOTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"

#define VG_RECORD_MAX_ROOTS 16
#define VG_RECORD_ROOT_PATH_MAX 512
/* Free space under which a root counts as full. */
#define VG_ROOT_FREE_MIN (16u << 20)

typedef struct {
  char path[VG_RECORD_ROOT_PATH_MAX];
  uint64_t quota_bytes; /* 0: none (or quota_percent) */
  int quota_percent;    /* of the filesystem's size, 0: none */
  int high_water;       /* percent of the quota where retention starts deleting, default 95 */
  int low_water;        /* percent of the quota where it stops, default 85 */
} vg_record_root_config_t;

/* Reads "roots" (or the single "root", default "var/recordings") of the
 * record object obj (may be NULL) into roots[0..*count). Errors name the
 * field through c. Returns 0 or VG_ECONFIG. */
int vg_record_roots_parse(vg_cfg_t *c, json_t *obj, vg_record_root_config_t *roots, int *count);

/* The per-camera "record" object (cameras[].record): this module reads its
 * "root" key and remembers it for camera until vg_record_camera_configs_clear
 * (the other keys belong to the recording policy's parser). obj may be NULL.
 * Returns 0 or VG_ECONFIG. */
int vg_record_camera_config_parse(vg_cfg_t *c, json_t *obj, const char *camera);
/* The camera's pinned root into root (empty when none). */
void vg_record_camera_root(const char *camera, char *root, size_t size);
void vg_record_camera_configs_clear(void);

/* Starts tracking roots (copied): creates missing root directories, notes
 * their devices, registers the "storage" metrics collector. */
int vg_roots_start(const vg_record_root_config_t *roots, int count, int retry_s);
void vg_roots_stop(void);
int vg_roots_count(void);
/* The configured path of root i ("" when out of range). The string stays
 * valid until vg_roots_stop. */
const char *vg_roots_path(int i);
/* The index of the root with that configured path, or -1. */
int vg_roots_find(const char *path);

/* Chooses a root for camera's next segment, skipping those in the
 * skip_mask bit set (roots that just failed). Returns the index, or VG_EIO
 * when every root is down or skipped. */
int vg_roots_pick(const char *camera, unsigned skip_mask);
/* The camera records on root (or on none, -1): for spreading. */
void vg_roots_camera_on(const char *camera, int root);
/* Checks before opening a file that root i is still on its device;
 * marks it down and returns VG_EIO when not. */
int vg_roots_verify(int i);
/* Reports a failed mkdir/open/write on root i with errno-style err: ENOSPC
 * marks it full, EIO/ENOENT/... mark it down, others only count. Returns 1
 * when this call started a new episode (the caller logs the file-level
 * error only then), else 0. */
int vg_roots_report_error(int i, int err, const char *what);
/* A write on root i succeeded: ends a full episode. */
void vg_roots_report_ok(int i);
/* Whether root i is up / full. */
bool vg_roots_up(int i);
bool vg_roots_full(int i);
/* Bytes of recordings on root i (as the index counts them), kept by the
 * writer: set after a refresh from the index, added to on writes. */
void vg_roots_set_used(int i, uint64_t bytes);
void vg_roots_add_used(int i, uint64_t bytes);
/* Periodic work (the writer calls it about once a second): retries down
 * roots whose retry time has come and refreshes free space. */
void vg_roots_tick(void);

#endif
