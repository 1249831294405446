#include "record/recovery.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "media/mp4_reader.h"

/* Fragments a file may hold for recovery (an hour of 100 ms fragments is 36000). */
#define MAX_FILE_FRAGMENTS (1 << 20)
/* Directory levels under a camera's directory: YYYY/MM/DD/HH. */
#define MAX_WALK_DEPTH 6
/* The "most files are gone: the disk is not mounted" guard. */
#define GONE_GUARD_MIN_ROWS 8

static const vg_log_ctx_t lg = {"recovery", NULL};

void vg_rec_scan_free(vg_rec_scan_t *s) {
  free(s->frags);
  memset(s, 0, sizeof(*s));
}

/* Decode times come from the file: they saturate rather than wrap, so that
 * a corrupt tfdt gives a far time, never an overflow. */
static int64_t ticks_to_us(uint64_t t, uint32_t timescale) {
  if (!timescale) return 0;
  unsigned __int128 us = (unsigned __int128)t * 1000000 / timescale;
  return us > (unsigned __int128)INT64_MAX ? INT64_MAX : (int64_t)us;
}

static int64_t add_us(int64_t a, int64_t b) {
  int64_t sum;
  if (__builtin_add_overflow(a, b, &sum)) return b > 0 ? INT64_MAX : INT64_MIN;
  return sum;
}

/* Where the padding of a file written with O_DIRECT begins (recorder.h,
 * record.direct_io): a 'free' box that runs from after the last fragment's
 * moof to exactly that fragment's end as the reader saw it (end: the file's
 * end, or a torn fragment after it), found by walking the top-level boxes
 * from that moof. Returns its offset, or 0 when there is none. */
static uint64_t trailing_padding(const vg_mp4_source_t *src, uint64_t from, uint64_t end) {
  uint64_t off = from;
  for (int boxes = 0; boxes < 64 && off + 8 <= end; boxes++) {
    uint8_t h[16];
    size_t want = off + 16 <= end ? 16 : 8;
    if (src->read(src->opaque, off, h, want) != (long)want) return 0;
    uint64_t size = (uint64_t)h[0] << 24 | (uint64_t)h[1] << 16 | (uint64_t)h[2] << 8 | h[3];
    if (size == 1) {
      if (want < 16) return 0;
      size = 0;
      for (int i = 8; i < 16; i++)
        size = size << 8 | h[i];
    } else if (size == 0) {
      size = end - off;
    }
    if (size < 8 || size > end - off) return 0;
    if (off > from && memcmp(h + 4, "free", 4) == 0 && off + size == end) return off;
    off += size;
  }
  return 0;
}

int vg_rec_scan(const vg_mp4_source_t *src, int64_t start_us, vg_rec_scan_t *out) {
  memset(out, 0, sizeof(*out));
  out->file_size = src->size;
  vg_mp4_init_t init;
  if (vg_mp4_read_init(src, &init) != 0) return 0;
  out->readable = 1;
  uint64_t off = init.moov_end;
  out->good_end = off;
  for (;;) {
    vg_mp4_fragment_t f;
    int r = vg_mp4_next_fragment(src, &init, &off, &f);
    if (r != 0) break; /* the end, a torn fragment or garbage: the file is cut there */
    if (out->count == out->cap) {
      int cap = out->cap ? out->cap * 2 : 64;
      vg_rec_scan_fragment_t *n =
          cap <= MAX_FILE_FRAGMENTS ? realloc(out->frags, (size_t)cap * sizeof(*n)) : NULL;
      if (!n) {
        vg_mp4_fragment_clear(&f);
        break;
      }
      out->frags = n;
      out->cap = cap;
    }
    out->frags[out->count++] = (vg_rec_scan_fragment_t){
        .offset = f.offset,
        .size = f.size,
        .start_us = add_us(start_us, ticks_to_us(f.start_time, f.timescale)),
        .duration_us = ticks_to_us(f.duration, f.timescale),
        .key = f.keyframe != 0,
        .samples = f.sample_count,
    };
    out->good_end = f.offset + f.size;
    vg_mp4_fragment_clear(&f);
  }
  vg_mp4_init_clear(&init);
  /* The reader counts the boxes after a fragment's mdat as part of it: a
   * direct-written file's padding is not footage, and goes with the cut. */
  if (out->count > 0) {
    vg_rec_scan_fragment_t *last = &out->frags[out->count - 1];
    uint64_t pad = trailing_padding(src, last->offset, last->offset + last->size);
    if (pad > last->offset && pad < last->offset + last->size) {
      last->size = pad - last->offset;
      out->good_end = pad;
    }
  }
  return 0;
}

/* Walks the file's fragments; times are start_us plus decode times. */
static int scan_file(int fd, int64_t start_us, vg_rec_scan_t *out) {
  memset(out, 0, sizeof(*out));
  struct stat st;
  if (fstat(fd, &st) != 0) return vg_err_from_errno();
  vg_mp4_source_t src = {.read = vg_mp4_read_fd, .opaque = &fd, .size = (uint64_t)st.st_size};
  return vg_rec_scan(&src, start_us, out);
}

/* Cuts the file after its last complete fragment. */
static int cut_file(int fd, const vg_rec_scan_t *sc, const char *path, vg_rec_recovery_stats_t *st) {
  if (sc->file_size <= sc->good_end) return 0;
  if (ftruncate(fd, (off_t)sc->good_end) != 0 || fdatasync(fd) != 0) {
    int err = vg_err_from_errno();
    vg_log_error(&lg, "cannot cut %s: %s", path, vg_strerror(err));
    return err;
  }
  st->trimmed++;
  st->bytes_trimmed += sc->file_size - sc->good_end;
  vg_log_info(&lg, "%s: cut %llu bytes of an incomplete fragment", path,
              (unsigned long long)(sc->file_size - sc->good_end));
  return 0;
}

typedef struct {
  uint64_t *offsets;
  int count, cap;
} offsets_t;

static int collect_offset(void *opaque, const vg_rec_fragment_t *f) {
  offsets_t *o = opaque;
  if (o->count == o->cap) {
    int cap = o->cap ? o->cap * 2 : 64;
    uint64_t *n = realloc(o->offsets, (size_t)cap * sizeof(*n));
    if (!n) return VG_ENOMEM;
    o->offsets = n;
    o->cap = cap;
  }
  o->offsets[o->count++] = f->offset;
  return 0;
}

/* Makes segment id's fragment rows, end and bytes match the scanned file
 * and marks it closed, in one transaction. */
static int reindex_segment(vg_rec_index_t *ix, int64_t id, const vg_rec_scan_t *sc,
                           vg_rec_recovery_stats_t *st) {
  offsets_t have = {0};
  int err = vg_rec_index_begin(ix);
  if (err) return err;
  int n = vg_rec_index_trim_fragments(ix, id, sc->good_end);
  if (n < 0) err = n;
  if (!err) {
    n = vg_rec_index_fragments(ix, id, INT64_MIN, INT64_MAX, collect_offset, &have);
    if (n < 0) err = n;
  }
  int64_t end_us = INT64_MIN;
  for (int i = 0, k = 0; !err && i < sc->count; i++) {
    const vg_rec_scan_fragment_t *f = &sc->frags[i];
    int64_t f_end = add_us(f->start_us, f->duration_us);
    if (f_end > end_us) end_us = f_end;
    while (k < have.count && have.offsets[k] < f->offset)
      k++;
    if (k < have.count && have.offsets[k] == f->offset) continue;
    vg_rec_fragment_t row = {.segment_id = id,
                             .offset = f->offset,
                             .size = f->size,
                             .start_us = f->start_us,
                             .duration_us = f->duration_us,
                             .key = f->key,
                             .samples = f->samples};
    err = vg_rec_index_append_fragment(ix, &row);
    if (!err) st->fragments_added++;
  }
  if (!err) err = vg_rec_index_close_segment(ix, id, end_us, sc->good_end);
  free(have.offsets);
  if (!err) err = vg_rec_index_commit(ix);
  if (err) vg_rec_index_rollback(ix);
  return err;
}

/* --- rows whose file is gone --- */

typedef struct {
  const char *root;
  int64_t *ids;
  int count, cap;
  int total;
} gone_t;

static int check_file(void *opaque, const vg_rec_segment_t *s) {
  gone_t *g = opaque;
  char path[PATH_MAX];
  struct stat st;
  g->total++;
  snprintf(path, sizeof(path), "%s/%s", g->root, s->path);
  if (stat(path, &st) == 0 || errno != ENOENT) return 0;
  if (g->count == g->cap) {
    int cap = g->cap ? g->cap * 2 : 64;
    int64_t *n = realloc(g->ids, (size_t)cap * sizeof(*n));
    if (!n) return VG_ENOMEM;
    g->ids = n;
    g->cap = cap;
  }
  g->ids[g->count++] = s->id;
  return 0;
}

static int delete_gone_rows(vg_rec_index_t *ix, const char *root, vg_rec_recovery_stats_t *st) {
  gone_t g = {.root = root};
  int err = vg_rec_index_root_segments(ix, root, check_file, &g);
  if (err >= 0) err = 0;
  if (!err && g.count >= GONE_GUARD_MIN_ROWS && g.count * 2 > g.total) {
    vg_log_error(&lg,
                 "%s: %d of %d recorded files are missing; the disk looks unmounted, so their index rows are "
                 "kept",
                 root, g.count, g.total);
    g.count = 0;
  }
  if (!err && g.count) err = vg_rec_index_begin(ix);
  for (int i = 0; !err && i < g.count; i++) {
    int r = vg_rec_index_delete_segment(ix, g.ids[i]);
    if (r && r != VG_ENOENT) err = r;
    if (!r) st->rows_deleted++;
  }
  if (!err && g.count) err = vg_rec_index_commit(ix);
  if (err) vg_rec_index_rollback(ix);
  free(g.ids);
  return err;
}

/* --- unclosed rows --- */

typedef struct {
  vg_rec_segment_t *segs;
  int count, cap;
} seg_list_t;

static int collect_segment(void *opaque, const vg_rec_segment_t *s) {
  seg_list_t *l = opaque;
  if (l->count == l->cap) {
    int cap = l->cap ? l->cap * 2 : 16;
    vg_rec_segment_t *n = realloc(l->segs, (size_t)cap * sizeof(*n));
    if (!n) return VG_ENOMEM;
    l->segs = n;
    l->cap = cap;
  }
  l->segs[l->count++] = *s;
  return 0;
}

static int recover_unclosed(vg_rec_index_t *ix, const char *root, const vg_rec_segment_t *s,
                            vg_rec_recovery_stats_t *st) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s", root, s->path);
  st->checked++;
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    int err = vg_err_from_errno();
    if (err == VG_ENOENT) {
      int r = vg_rec_index_delete_segment(ix, s->id);
      if (!r) st->rows_deleted++;
      return r == VG_ENOENT ? 0 : r;
    }
    vg_log_error(&lg, "cannot open %s: %s; left for the next start", path, vg_strerror(err));
    return 0;
  }
  vg_rec_scan_t sc;
  int err = scan_file(fd, s->start_us, &sc);
  if (!err && sc.count == 0) {
    /* Nothing playable: the init segment at most. */
    close(fd);
    unlink(path);
    vg_rec_scan_free(&sc);
    int r = vg_rec_index_delete_segment(ix, s->id);
    if (!r) st->rows_deleted++;
    vg_log_info(&lg, "%s: no complete fragment, removed", path);
    return r == VG_ENOENT ? 0 : r;
  }
  if (!err) err = cut_file(fd, &sc, path, st);
  close(fd);
  if (!err) {
    err = reindex_segment(ix, s->id, &sc, st);
    if (!err) st->closed++;
  }
  vg_rec_scan_free(&sc);
  return err == VG_EDB ? err : 0;
}

/* --- orphans --- */

int vg_rec_parse_segment_name(const char *name, const char *camera, int64_t *utc_us) {
  size_t cl = strlen(camera);
  if (strncmp(name, camera, cl) != 0 || name[cl] != '-') return VG_EINVAL;
  const char *p = name + cl + 1;
  /* YYYYMMDDTHHMMSSZ */
  for (int i = 0; i < 16; i++) {
    char c = p[i];
    int ok = i == 8 ? c == 'T' : i == 15 ? c == 'Z' : (c >= '0' && c <= '9');
    if (!ok) return VG_EINVAL;
  }
  const char *rest = p + 16;
  if (rest[0] == '-') {
    rest++;
    if (!(*rest >= '0' && *rest <= '9')) return VG_EINVAL;
    while (*rest >= '0' && *rest <= '9')
      rest++;
  }
  if (strcmp(rest, ".mp4") != 0) return VG_EINVAL;
  struct tm tm = {0};
  int v[6];
  const int offs[6] = {0, 4, 6, 9, 11, 13}, lens[6] = {4, 2, 2, 2, 2, 2};
  for (int k = 0; k < 6; k++) {
    v[k] = 0;
    for (int i = 0; i < lens[k]; i++)
      v[k] = v[k] * 10 + (p[offs[k] + i] - '0');
  }
  if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60) return VG_EINVAL;
  tm.tm_year = v[0] - 1900;
  tm.tm_mon = v[1] - 1;
  tm.tm_mday = v[2];
  tm.tm_hour = v[3];
  tm.tm_min = v[4];
  tm.tm_sec = v[5];
  time_t t = timegm(&tm);
  *utc_us = (int64_t)t * 1000000;
  return 0;
}

static int index_orphan(vg_rec_index_t *ix, const char *root, const char *rel, const char *camera,
                        const char *name, vg_rec_recovery_stats_t *st) {
  vg_rec_segment_t row = {0};
  if (vg_rec_index_find_segment(ix, root, rel, &row) == 0) return 0;
  int64_t start_us;
  if (vg_rec_parse_segment_name(name, camera, &start_us) != 0) return 0; /* not a file of ours */
  if (strlen(rel) >= sizeof(row.path) || strlen(camera) >= sizeof(row.camera)) return 0;
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s", root, rel);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return 0;
  vg_rec_scan_t sc;
  int err = scan_file(fd, start_us, &sc);
  if (err || sc.count == 0) {
    close(fd);
    unlink(path);
    vg_rec_scan_free(&sc);
    st->orphans_removed++;
    vg_log_info(&lg, "%s: an unindexed file with no complete fragment, removed", path);
    return 0;
  }
  err = cut_file(fd, &sc, path, st);
  close(fd);
  if (!err) {
    snprintf(row.camera, sizeof(row.camera), "%s", camera);
    snprintf(row.root, sizeof(row.root), "%s", root);
    snprintf(row.path, sizeof(row.path), "%s", rel);
    row.start_us = row.end_us = start_us;
    row.bytes = sc.good_end;
    err = vg_rec_index_add_segment(ix, &row);
    if (!err) err = reindex_segment(ix, row.id, &sc, st);
    if (!err) st->orphans_indexed++;
  }
  vg_rec_scan_free(&sc);
  return err == VG_EDB ? err : 0;
}

/* Walks dir (rel under root) for .mp4 files of camera. */
static int walk(vg_rec_index_t *ix, const char *root, char *rel, size_t rel_len, const char *camera,
                int depth, vg_rec_recovery_stats_t *st) {
  char dirpath[PATH_MAX];
  snprintf(dirpath, sizeof(dirpath), "%s/%s", root, rel);
  DIR *d = opendir(dirpath);
  if (!d) return 0;
  int err = 0;
  struct dirent *e;
  while (!err && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    size_t nl = strlen(e->d_name);
    if (rel_len + 1 + nl + 1 > PATH_MAX) continue;
    rel[rel_len] = '/';
    memcpy(rel + rel_len + 1, e->d_name, nl + 1);
    struct stat sb;
    char full[PATH_MAX];
    snprintf(full, sizeof(full), "%s/%s", root, rel);
    if (lstat(full, &sb) == 0) {
      if (S_ISDIR(sb.st_mode) && depth < MAX_WALK_DEPTH)
        err = walk(ix, root, rel, rel_len + 1 + nl, camera, depth + 1, st);
      else if (S_ISREG(sb.st_mode) && nl > 4 && strcmp(e->d_name + nl - 4, ".mp4") == 0)
        err = index_orphan(ix, root, rel, camera, e->d_name, st);
    }
    rel[rel_len] = '\0';
  }
  closedir(d);
  return err;
}

static int index_orphans(vg_rec_index_t *ix, const char *root, vg_rec_recovery_stats_t *st) {
  DIR *d = opendir(root);
  if (!d) return 0;
  int err = 0;
  struct dirent *e;
  char rel[PATH_MAX];
  while (!err && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' || strlen(e->d_name) >= VG_REC_CAMERA_MAX) continue;
    char full[PATH_MAX];
    struct stat sb;
    snprintf(full, sizeof(full), "%s/%s", root, e->d_name);
    if (lstat(full, &sb) != 0 || !S_ISDIR(sb.st_mode)) continue;
    snprintf(rel, sizeof(rel), "%s", e->d_name);
    err = walk(ix, root, rel, strlen(rel), e->d_name, 1, st);
  }
  closedir(d);
  return err;
}

int vg_rec_recover_root(vg_rec_index_t *ix, const char *root, vg_rec_recovery_stats_t *st) {
  struct stat sb;
  if (stat(root, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    vg_log_warn(&lg, "%s is not there: its recordings are not checked now", root);
    return 0;
  }
  vg_rec_recovery_stats_t before = *st;
  int err = delete_gone_rows(ix, root, st);
  seg_list_t open_rows = {0};
  if (!err) {
    int n = vg_rec_index_unclosed(ix, root, collect_segment, &open_rows);
    if (n < 0) err = n;
  }
  for (int i = 0; !err && i < open_rows.count; i++)
    err = recover_unclosed(ix, root, &open_rows.segs[i], st);
  free(open_rows.segs);
  if (!err) err = index_orphans(ix, root, st);
  vg_log_info(
      &lg,
      "%s: %d unclosed segments checked, %d closed, %d files cut (%llu bytes), %d fragment rows added, "
      "%d rows of missing or empty files deleted, %d orphan files indexed, %d removed",
      root, st->checked - before.checked, st->closed - before.closed, st->trimmed - before.trimmed,
      (unsigned long long)(st->bytes_trimmed - before.bytes_trimmed),
      st->fragments_added - before.fragments_added, st->rows_deleted - before.rows_deleted,
      st->orphans_indexed - before.orphans_indexed, st->orphans_removed - before.orphans_removed);
  return err;
}
