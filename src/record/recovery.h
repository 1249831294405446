/*
 * recovery.h: reconciling the recording index with the files on disk, at
 * start, before recording begins.
 *
 * The writer keeps "bytes before rows" (index.h), so after a crash or a
 * power cut the files may hold more than the index says, a file may end in
 * a half-written fragment, and a file may have no row at all (it was being
 * opened). Per storage root, recovery:
 *  - for every segment row not closed: opens its file, walks it with the
 *    MP4 reader (media/mp4_reader.h), cuts the file after its last complete
 *    fragment (ftruncate), makes the fragment rows match the file (rows past
 *    the cut are deleted, fragments without a row are added with times from
 *    the segment's start plus their decode times), sets end_us and bytes and
 *    marks the row closed. A file with no complete fragment is removed with
 *    its row;
 *  - deletes the rows whose file is gone;
 *  - indexes each .mp4 file under ROOT/<camera>/ that has no row (an orphan):
 *    its start from the file name's UTC, its fragments' times from their
 *    decode times; an orphan that cannot be read or holds no complete
 *    fragment is removed.
 * A root whose directory is missing is skipped (it may be an unmounted
 * disk). When most of a root's files are missing (more than half of at
 * least 8 rows), the root is taken for unmounted too: its rows are kept and
 * an error is logged.
 *
 * Threads: the caller's, with the index on its own connection; run it
 * before the recorder's writer starts.
 */
#ifndef VG_RECORD_RECOVERY_H
#define VG_RECORD_RECOVERY_H

#include <stdbool.h>
#include <stdint.h>

#include "media/mp4_reader.h"
#include "record/index.h"

typedef struct {
  int checked;         /* unclosed rows looked at */
  int trimmed;         /* files cut back to their last complete fragment */
  int closed;          /* unclosed rows closed */
  int rows_deleted;    /* rows whose file was gone or empty */
  int orphans_indexed; /* files without a row, indexed */
  int orphans_removed; /* files without a row, unreadable or empty, removed */
  int fragments_added; /* fragment rows added for bytes that had none */
  uint64_t bytes_trimmed;
} vg_rec_recovery_stats_t;

/* Recovers one root (path as configured). Adds to *st. Returns 0, or an
 * index error (the root's work so far is committed segment by segment). */
int vg_rec_recover_root(vg_rec_index_t *ix, const char *root, vg_rec_recovery_stats_t *st);

/* Parses a segment file name "<camera>-YYYYMMDDTHHMMSSZ.mp4" (or with a
 * "-N" suffix before ".mp4") of camera into its UTC start. Returns 0 or
 * VG_EINVAL. */
int vg_rec_parse_segment_name(const char *name, const char *camera, int64_t *utc_us);

/* What a walk of one segment file found: its complete fragments, with
 * times from the segment's start plus their decode times (saturating), and
 * where the file is to be cut (after the last complete fragment, before a
 * direct-written file's padding). */
typedef struct {
  uint64_t offset, size;
  int64_t start_us, duration_us;
  bool key;
  uint32_t samples;
} vg_rec_scan_fragment_t;

typedef struct {
  vg_rec_scan_fragment_t *frags;
  int count, cap;
  uint64_t good_end;  /* end of the last complete fragment */
  uint64_t file_size; /* src->size */
  int readable;       /* the init segment parsed */
} vg_rec_scan_t;

/* Walks the file behind src (its bytes are untrusted: a crash may have torn
 * it, anyone with access to the disk may have written it). Returns 0: a
 * file that does not parse gives count 0, and running out of memory stops
 * the walk early. Free *out with vg_rec_scan_free() in every case. Sans-I/O
 * apart from src->read. */
int vg_rec_scan(const vg_mp4_source_t *src, int64_t start_us, vg_rec_scan_t *out);
void vg_rec_scan_free(vg_rec_scan_t *s);

#endif
