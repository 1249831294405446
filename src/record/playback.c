#include "record/playback.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "base/time.h"
#include "media/mp4_reader.h"

#define FOURCC VG_MP4_FOURCC

static const vg_log_ctx_t lg = {"playback", NULL};

/* Set once by the node before the HTTP thread starts, read on that thread. */
static char database_path[512];

void vg_playback_set_database(const char *path) {
  snprintf(database_path, sizeof(database_path), "%s", path ? path : "");
}

const char *vg_playback_database(void) { return database_path; }

int vg_playback_file_path(const char *root, const char *path, char *out, size_t size) {
  if (!*path || path[0] == '/') return VG_EINVAL;
  /* The index is ours, but a path that climbs out of its root would turn
   * the file route into a way to read any file: refuse it anyway. */
  for (const char *p = path; *p;) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if ((n == 2 && p[0] == '.' && p[1] == '.') || n == 0) return VG_EINVAL;
    p += n + (slash ? 1 : 0);
  }
  int n = snprintf(out, size, "%s/%s", root, path);
  if (n < 0 || (size_t)n >= size) return VG_ETOOBIG;
  return n;
}

/* ---- spans ---- */

void vg_playback_spans_clear(vg_playback_spans_t *s) {
  free(s->spans);
  free(s->gaps);
  memset(s, 0, sizeof(*s));
}

int vg_playback_merge(const vg_playback_range_t *ranges, int count, int64_t start_us, int64_t end_us,
                      int64_t tolerance_us, vg_playback_spans_t *out) {
  memset(out, 0, sizeof(*out));
  if (end_us <= start_us || count < 0) return VG_EINVAL;
  /* At most one span per range and one gap more than spans. */
  out->spans = calloc((size_t)count + 1, sizeof(*out->spans));
  out->gaps = calloc((size_t)count + 2, sizeof(*out->gaps));
  if (!out->spans || !out->gaps) {
    vg_playback_spans_clear(out);
    return VG_ENOMEM;
  }
  for (int i = 0; i < count; i++) {
    int64_t s = ranges[i].start_us > start_us ? ranges[i].start_us : start_us;
    int64_t e = ranges[i].end_us < end_us ? ranges[i].end_us : end_us;
    if (e <= s) continue;
    vg_playback_range_t *last = out->span_count ? &out->spans[out->span_count - 1] : NULL;
    if (last && s - last->end_us < tolerance_us) {
      if (e > last->end_us) last->end_us = e;
    } else {
      out->spans[out->span_count++] = (vg_playback_range_t){s, e};
    }
  }
  int64_t at = start_us;
  for (int i = 0; i < out->span_count; i++) {
    if (out->spans[i].start_us > at)
      out->gaps[out->gap_count++] = (vg_playback_range_t){at, out->spans[i].start_us};
    at = out->spans[i].end_us;
  }
  if (at < end_us) out->gaps[out->gap_count++] = (vg_playback_range_t){at, end_us};
  return 0;
}

/* The segments of a query, compact: what playback needs of each. */
typedef struct {
  int64_t id;
  int64_t start_us, end_us;
  char *file; /* root/path, owned */
} seg_t;

typedef struct {
  seg_t *segs;
  int count, cap;
  int err;
} seg_list_t;

static void seg_list_free(seg_list_t *l) {
  for (int i = 0; i < l->count; i++)
    free(l->segs[i].file);
  free(l->segs);
  memset(l, 0, sizeof(*l));
}

static int collect_segment(void *opaque, const vg_rec_segment_t *seg) {
  seg_list_t *l = opaque;
  if (l->count == VG_PLAYBACK_MAX_SEGMENTS) return l->err = VG_ETOOBIG;
  if (l->count == l->cap) {
    int cap = l->cap ? l->cap * 2 : 32;
    seg_t *s = realloc(l->segs, (size_t)cap * sizeof(*s));
    if (!s) return l->err = VG_ENOMEM;
    l->segs = s;
    l->cap = cap;
  }
  char file[VG_REC_ROOT_MAX + VG_REC_PATH_MAX + 2];
  int n = vg_playback_file_path(seg->root, seg->path, file, sizeof(file));
  if (n < 0) {
    vg_log_warn(&lg, "segment %lld has an unsafe path '%s', skipped", (long long)seg->id, seg->path);
    return 0;
  }
  seg_t *s = &l->segs[l->count];
  s->id = seg->id;
  s->start_us = seg->start_us;
  s->end_us = seg->end_us;
  s->file = strdup(file);
  if (!s->file) return l->err = VG_ENOMEM;
  l->count++;
  return 0;
}

static int query_segments(vg_rec_index_t *ix, const char *camera, int64_t start_us, int64_t end_us,
                          seg_list_t *out) {
  memset(out, 0, sizeof(*out));
  int n = vg_rec_index_query(ix, camera, start_us, end_us, collect_segment, out);
  if (n < 0 || out->err) {
    int err = out->err ? out->err : n;
    seg_list_free(out);
    return err;
  }
  return 0;
}

int vg_playback_spans(vg_rec_index_t *ix, const char *camera, int64_t start_us, int64_t end_us,
                      int64_t tolerance_us, vg_playback_spans_t *out) {
  memset(out, 0, sizeof(*out));
  if (end_us <= start_us) return VG_EINVAL;
  seg_list_t l;
  int err = query_segments(ix, camera, start_us, end_us, &l);
  if (err) return err;
  vg_playback_range_t *ranges = calloc((size_t)l.count + 1, sizeof(*ranges));
  if (!ranges) {
    seg_list_free(&l);
    return VG_ENOMEM;
  }
  for (int i = 0; i < l.count; i++)
    ranges[i] = (vg_playback_range_t){l.segs[i].start_us, l.segs[i].end_us};
  err = vg_playback_merge(ranges, l.count, start_us, end_us, tolerance_us, out);
  free(ranges);
  seg_list_free(&l);
  return err;
}

/* ---- fragments of a segment ---- */

typedef struct {
  vg_rec_fragment_t *frags;
  int count, cap;
  int err;
} frag_list_t;

static int collect_fragment(void *opaque, const vg_rec_fragment_t *f) {
  frag_list_t *l = opaque;
  if (l->count == l->cap) {
    int cap = l->cap ? l->cap * 2 : 64;
    if (cap > 1000000) return l->err = VG_ETOOBIG;
    vg_rec_fragment_t *p = realloc(l->frags, (size_t)cap * sizeof(*p));
    if (!p) return l->err = VG_ENOMEM;
    l->frags = p;
    l->cap = cap;
  }
  l->frags[l->count++] = *f;
  return 0;
}

static int query_fragments(vg_rec_index_t *ix, int64_t segment_id, frag_list_t *out) {
  memset(out, 0, sizeof(*out));
  int n = vg_rec_index_fragments(ix, segment_id, 0, INT64_MAX, collect_fragment, out);
  if (n < 0 || out->err) {
    int err = out->err ? out->err : n;
    free(out->frags);
    memset(out, 0, sizeof(*out));
    return err;
  }
  return 0;
}

/* ---- HLS playlist ---- */

/* A media segment of the playlist: fragments [first, last] of a file. */
typedef struct {
  int64_t start_us, end_us;
  uint64_t offset, size;
} hls_part_t;

static void format_utc_ms(int64_t utc_us, char *out, size_t size) { vg_time_format_utc(utc_us, out, size); }

/* Groups a segment's fragments into media segments that start on a
 * keyframe fragment and keep those overlapping [start_us, end_us). A
 * fragment that does not follow the previous one in the file (a row lost
 * to a crash) ends the group; fragments before the next keyframe fragment
 * are left out, since nothing could decode them. */
static int group_fragments(const frag_list_t *fl, int64_t start_us, int64_t end_us, hls_part_t *parts) {
  int n = 0, open = 0;
  /* Fragments from end on are left out: the last media segment stops at
   * the fragment holding end, not at the next keyframe. */
  for (int i = 0; i < fl->count && fl->frags[i].start_us < end_us; i++) {
    const vg_rec_fragment_t *f = &fl->frags[i];
    int64_t f_end = f->start_us + f->duration_us;
    hls_part_t *cur = open ? &parts[n - 1] : NULL;
    int contiguous = cur && cur->offset + cur->size == f->offset;
    if (f->key) {
      parts[n++] = (hls_part_t){f->start_us, f_end, f->offset, f->size};
      open = 1;
    } else if (contiguous) {
      cur->size += f->size;
      if (f_end > cur->end_us) cur->end_us = f_end;
    } else {
      open = 0;
    }
  }
  int kept = 0;
  for (int i = 0; i < n; i++)
    if (parts[i].end_us > start_us && parts[i].start_us < end_us) parts[kept++] = parts[i];
  return kept;
}

int vg_playback_playlist(vg_rec_index_t *ix, const char *camera, int64_t start_us, int64_t end_us,
                         const char *uri_prefix, const char *uri_suffix, int shift_timeline,
                         vg_strbuf_t *out) {
  if (end_us <= start_us) return VG_EINVAL;
  seg_list_t l;
  int err = query_segments(ix, camera, start_us, end_us, &l);
  if (err) return err;
  vg_strbuf_t body;
  vg_strbuf_init(&body, 64u << 20);
  int total = 0, files = 0;
  double longest = 0;
  int64_t origin_us = 0;
  for (int s = 0; s < l.count && !err; s++) {
    frag_list_t fl;
    if ((err = query_fragments(ix, l.segs[s].id, &fl))) break;
    hls_part_t *parts = fl.count ? calloc((size_t)fl.count, sizeof(*parts)) : NULL;
    if (fl.count && !parts) err = VG_ENOMEM;
    int n = parts ? group_fragments(&fl, start_us, end_us, parts) : 0;
    /* The init segment is everything before the first fragment: ftyp and moov. */
    uint64_t init_size = fl.count ? fl.frags[0].offset : 0;
    if (n > 0 && init_size > 0) {
      if (files++) vg_strbuf_puts(&body, "#EXT-X-DISCONTINUITY\n");
      if (files == 1) origin_us = l.segs[s].start_us;
      char shift[40] = "";
      if (shift_timeline && l.segs[s].start_us != origin_us)
        snprintf(shift, sizeof(shift), "?shift_us=%lld", (long long)(l.segs[s].start_us - origin_us));
      vg_strbuf_printf(&body, "#EXT-X-MAP:URI=\"%s%lld%s\",BYTERANGE=\"%llu@0\"\n", uri_prefix,
                       (long long)l.segs[s].id, uri_suffix, (unsigned long long)init_size);
      for (int i = 0; i < n; i++) {
        char when[40];
        format_utc_ms(parts[i].start_us, when, sizeof(when));
        double seconds = (double)(parts[i].end_us - parts[i].start_us) / 1e6;
        if (seconds > longest) longest = seconds;
        vg_strbuf_printf(
            &body, "#EXT-X-PROGRAM-DATE-TIME:%s\n#EXTINF:%.3f,\n#EXT-X-BYTERANGE:%llu@%llu\n%s%lld%s%s\n",
            when, seconds, (unsigned long long)parts[i].size, (unsigned long long)parts[i].offset, uri_prefix,
            (long long)l.segs[s].id, uri_suffix, shift);
        total++;
      }
    }
    free(parts);
    free(fl.frags);
  }
  seg_list_free(&l);
  if (!err && body.error) err = body.error;
  if (!err && total == 0) err = VG_ENOTFOUND;
  if (!err) {
    /* The target duration must be at least every EXTINF rounded to the
     * nearest integer (RFC 8216 4.3.3.1). */
    int target = (int)ceil(longest);
    if (target < 1) target = 1;
    vg_strbuf_printf(out,
                     "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n"
                     "#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n",
                     target);
    vg_strbuf_append(out, body.data, body.len);
    vg_strbuf_puts(out, "#EXT-X-ENDLIST\n");
    if (out->error) err = out->error;
  }
  vg_strbuf_free(&body);
  return err ? err : total;
}

/* ---- clip export: planning ---- */

typedef struct {
  uint64_t offset; /* in the source file */
  int64_t utc_us;
  uint32_t size, duration;
  int32_t cto;
  uint8_t sync;
} clip_sample_t;

/* Consecutive samples of one track from one traf: one chunk of the clip. */
typedef struct {
  int track, file;
  uint32_t first, count;
} clip_chunk_t;

/* A byte range of a source file copied to the clip at out_offset. */
typedef struct {
  uint64_t out_offset, src_offset, len;
  int file;
} piece_t;

typedef struct {
  int src; /* track index in the first file's init */
  clip_sample_t *samples;
  uint32_t count, cap;
  int last_file; /* file of the last sample, -1 before the first */
} clip_track_t;

typedef struct {
  vg_mp4_init_t first; /* the tracks every file must have */
  int have_first;
  clip_track_t tracks[VG_MP4_MAX_TRACKS]; /* the first file's video and audio tracks */
  int track_count;
  int map[VG_MP4_MAX_TRACKS]; /* init track index -> clip track, -1: not exported */
  int video;                  /* clip track of the video */
  clip_chunk_t *chunks;
  size_t chunk_count, chunk_cap;
  int chunk_key_file, chunk_key_traf, chunk_key_track; /* where the open chunk comes from */
  long chunk_key_fragment;
  uint32_t total;
  int64_t start_us, end_us;
  int64_t origin_us;
  int origin_set;
  int64_t cut_us;
  const char *cut_reason;
  char **files;
  int file_count;
} builder_t;

struct vg_playback_clip {
  vg_playback_clip_info_t info;
  uint8_t *header;
  size_t header_len;
  piece_t *pieces;
  size_t piece_count;
  char **files;
  int file_count;
  int fd, fd_file;
};

static void builder_reset_samples(builder_t *b) {
  for (int t = 0; t < b->track_count; t++) {
    b->tracks[t].count = 0;
    b->tracks[t].last_file = -1;
  }
  b->chunk_count = 0;
  b->chunk_key_fragment = -1;
  b->total = 0;
}

static void builder_free(builder_t *b) {
  for (int t = 0; t < b->track_count; t++)
    free(b->tracks[t].samples);
  free(b->chunks);
  for (int i = 0; i < b->file_count; i++)
    free(b->files[i]);
  free(b->files);
  vg_mp4_init_clear(&b->first);
  memset(b, 0, sizeof(*b));
}

/* Adopts init as the clip's track layout: its video track and audio
 * tracks are exported. */
static int builder_adopt(builder_t *b, vg_mp4_init_t *init) {
  for (int t = 0; t < b->track_count; t++)
    free(b->tracks[t].samples);
  vg_mp4_init_clear(&b->first);
  b->first = *init;
  memset(init, 0, sizeof(*init));
  b->have_first = 1;
  b->track_count = 0;
  b->video = -1;
  for (int i = 0; i < VG_MP4_MAX_TRACKS; i++)
    b->map[i] = -1;
  for (int i = 0; i < b->first.track_count; i++) {
    const vg_mp4_track_t *t = &b->first.tracks[i];
    int video = t->handler == FOURCC('v', 'i', 'd', 'e');
    if (!t->sample_entry || !t->timescale || (!video && t->handler != FOURCC('s', 'o', 'u', 'n'))) continue;
    if (video && b->video >= 0) continue; /* one video track: the first */
    if (video) b->video = b->track_count;
    b->map[i] = b->track_count;
    b->tracks[b->track_count++] = (clip_track_t){.src = i, .last_file = -1};
  }
  builder_reset_samples(b);
  return b->video >= 0 ? 0 : VG_EUNSUPPORTED;
}

static int same_tracks(const vg_mp4_init_t *a, const vg_mp4_init_t *b) {
  if (a->track_count != b->track_count) return 0;
  for (int i = 0; i < a->track_count; i++) {
    const vg_mp4_track_t *x = &a->tracks[i], *y = &b->tracks[i];
    if (x->handler != y->handler || x->timescale != y->timescale ||
        x->sample_entry_size != y->sample_entry_size ||
        (x->sample_entry_size && memcmp(x->sample_entry, y->sample_entry, x->sample_entry_size) != 0))
      return 0;
  }
  return 1;
}

static int add_sample(builder_t *b, int t, int file, long fragment, int traf, const vg_mp4_sample_t *s,
                      int64_t utc_us) {
  clip_track_t *ct = &b->tracks[t];
  uint32_t timescale = b->first.tracks[ct->src].timescale;
  if (b->total >= VG_PLAYBACK_MAX_CLIP_SAMPLES) return VG_ETOOBIG;
  if (ct->count == ct->cap) {
    uint32_t cap = ct->cap ? ct->cap * 2 : 256;
    clip_sample_t *p = realloc(ct->samples, (size_t)cap * sizeof(*p));
    if (!p) return VG_ENOMEM;
    ct->samples = p;
    ct->cap = cap;
  }
  /* Across files, the previous sample lasts until this one when the gap
   * is short, so the clip's timeline keeps to the wall clock. */
  if (ct->count && ct->last_file != file) {
    clip_sample_t *prev = &ct->samples[ct->count - 1];
    int64_t gap_us = utc_us - prev->utc_us;
    int64_t own_us = (int64_t)prev->duration * 1000000 / timescale;
    if (gap_us > 0 && gap_us <= own_us + VG_PLAYBACK_MAX_STRETCH_US) {
      uint64_t ticks = (uint64_t)gap_us * timescale / 1000000;
      if (ticks > 0 && ticks <= UINT32_MAX) prev->duration = (uint32_t)ticks;
    }
  }
  if (b->chunk_key_fragment != fragment || b->chunk_key_file != file || b->chunk_key_traf != traf ||
      b->chunk_key_track != t || b->chunk_count == 0) {
    if (b->chunk_count == b->chunk_cap) {
      size_t cap = b->chunk_cap ? b->chunk_cap * 2 : 64;
      clip_chunk_t *p = realloc(b->chunks, cap * sizeof(*p));
      if (!p) return VG_ENOMEM;
      b->chunks = p;
      b->chunk_cap = cap;
    }
    b->chunks[b->chunk_count++] = (clip_chunk_t){t, file, ct->count, 0};
    b->chunk_key_fragment = fragment;
    b->chunk_key_file = file;
    b->chunk_key_traf = traf;
    b->chunk_key_track = t;
  }
  b->chunks[b->chunk_count - 1].count++;
  ct->samples[ct->count++] =
      (clip_sample_t){s->offset, utc_us, s->size, s->duration, s->composition_offset, s->sync};
  ct->last_file = file;
  b->total++;
  return 0;
}

/* The UTC of a sample: the index's fragment start is the UTC of the main
 * track's first sample; the tracks of a file share one timeline in seconds. */
static int64_t sample_utc(const vg_rec_fragment_t *row, const vg_mp4_fragment_t *fr, uint64_t dts,
                          uint32_t timescale) {
  double main_s = fr->timescale ? (double)fr->start_time / fr->timescale : 0;
  double s = (double)dts / timescale - main_s;
  return row->start_us + (int64_t)llround(s * 1e6);
}

static int add_fragment(builder_t *b, int file, long fragment_no, const vg_rec_fragment_t *row,
                        const vg_mp4_fragment_t *fr, const vg_mp4_init_t *init) {
  int err;
  for (int i = 0; i < fr->traf_count; i++) {
    const vg_mp4_traf_t *tr = &fr->trafs[i];
    if (tr->track < 0) continue;
    int t = b->map[tr->track];
    if (t < 0) continue;
    uint32_t timescale = init->tracks[tr->track].timescale;
    for (uint32_t k = 0; k < tr->sample_count; k++) {
      const vg_mp4_sample_t *s = &tr->samples[k];
      int64_t utc = sample_utc(row, fr, s->decode_time, timescale);
      if (t == b->video) {
        if (s->sync && utc <= b->start_us) {
          /* A later keyframe at or before start: the clip starts here. */
          builder_reset_samples(b);
          b->origin_us = utc;
          b->origin_set = 1;
        } else if (!b->origin_set) {
          if (!s->sync || utc >= b->end_us) continue;
          b->origin_us = utc;
          b->origin_set = 1;
        }
        if (utc >= b->end_us) continue;
      } else if (!b->origin_set || utc < b->origin_us || utc >= b->end_us) {
        continue;
      }
      if ((err = add_sample(b, t, file, fragment_no, i, s, utc))) return err;
    }
  }
  return 0;
}

static int read_moof(int fd, const vg_mp4_init_t *init, const vg_rec_fragment_t *row,
                     vg_mp4_fragment_t *out) {
  uint8_t head[32];
  size_t want = row->size < sizeof(head) ? (size_t)row->size : sizeof(head);
  long n = vg_mp4_read_fd(&fd, row->offset, head, want);
  if (n < 0) return (int)n;
  vg_mp4_box_t box;
  int err = vg_mp4_box_header(head, (size_t)n, row->size, &box);
  if (err) return err == VG_EINCOMPLETE ? VG_EIO : err;
  if (box.type != FOURCC('m', 'o', 'o', 'f') || box.size > row->size) return VG_EPROTO;
  if (box.size > VG_MP4_MAX_MOOF_BYTES) return VG_ETOOBIG;
  uint8_t *moof = malloc((size_t)box.size);
  if (!moof) return VG_ENOMEM;
  n = vg_mp4_read_fd(&fd, row->offset, moof, (size_t)box.size);
  err = n < 0 ? (int)n : (uint64_t)n != box.size ? VG_EIO : 0;
  if (!err) err = vg_mp4_parse_moof(init, moof, (size_t)box.size, row->offset, out);
  free(moof);
  if (!err && out->data_end > row->offset + row->size) {
    vg_mp4_fragment_clear(out);
    err = VG_EPROTO;
  }
  return err;
}

static int add_file_name(builder_t *b, const char *file) {
  char **p = realloc(b->files, (size_t)(b->file_count + 1) * sizeof(*p));
  if (!p) return VG_ENOMEM;
  b->files = p;
  if (!(p[b->file_count] = strdup(file))) return VG_ENOMEM;
  return b->file_count++;
}

static void cut(builder_t *b, int64_t at, const char *reason) {
  b->cut_us = at;
  b->cut_reason = reason;
}

/* Adds the samples of one segment file. Returns 0, 1 when the clip must
 * end before this file (cut set), or an error. */
static int add_segment(builder_t *b, vg_rec_index_t *ix, const seg_t *seg) {
  frag_list_t fl;
  int err = query_fragments(ix, seg->id, &fl);
  if (err) return err;
  /* The fragments that can contribute: those starting before end, from
   * the last keyframe fragment at or before start on. */
  int from = 0;
  for (int i = 0; i < fl.count; i++)
    if (fl.frags[i].key && fl.frags[i].start_us <= b->start_us) from = i;
  int to = from;
  while (to < fl.count && fl.frags[to].start_us < b->end_us)
    to++;
  if (to == from) {
    free(fl.frags);
    return 0;
  }
  int fd = open(seg->file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    free(fl.frags);
    if (!b->origin_set) return 0; /* footage before the clip starts: skip the file */
    cut(b, seg->start_us, "a segment file is missing");
    return 1;
  }
  struct stat st;
  vg_mp4_init_t init;
  memset(&init, 0, sizeof(init));
  vg_mp4_source_t src = {vg_mp4_read_fd, &fd, 0};
  err = fstat(fd, &st) == 0 ? 0 : vg_err_from_errno();
  if (!err) {
    src.size = (uint64_t)st.st_size;
    err = vg_mp4_read_init(&src, &init);
  }
  /* The moofs are parsed with their own file's trex defaults. */
  const vg_mp4_init_t *file_init = &init;
  if (!err && b->have_first && !same_tracks(&b->first, &init)) {
    if (b->origin_set) {
      cut(b, seg->start_us, "the tracks change (codec or parameters)");
      err = 1;
    } else {
      err = builder_adopt(b, &init);
      file_init = &b->first;
    }
  } else if (!err && !b->have_first) {
    err = builder_adopt(b, &init);
    file_init = &b->first;
  }
  int file = err ? -1 : add_file_name(b, seg->file);
  if (file < 0 && !err) err = file;
  for (int i = from; i < to && !err; i++) {
    vg_mp4_fragment_t fr;
    if ((err = read_moof(fd, file_init, &fl.frags[i], &fr))) break;
    err = add_fragment(b, file, i, &fl.frags[i], &fr, file_init);
    vg_mp4_fragment_clear(&fr);
  }
  if (err < 0) vg_log_warn(&lg, "clip: %s: %s", seg->file, vg_strerror(err));
  vg_mp4_init_clear(&init);
  close(fd);
  free(fl.frags);
  return err;
}

/* ---- clip export: the header ---- */

/* A growable byte buffer for boxes; a failure sticks and is checked once. */
typedef struct {
  uint8_t *p;
  size_t len, cap;
  int err;
} bytes_t;

static void put(bytes_t *w, const void *data, size_t n) {
  if (w->err) return;
  if (w->len + n > w->cap) {
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < w->len + n)
      cap *= 2;
    if (cap > VG_MP4_MAX_MOOV_BYTES) {
      w->err = VG_ETOOBIG;
      return;
    }
    uint8_t *p = realloc(w->p, cap);
    if (!p) {
      w->err = VG_ENOMEM;
      return;
    }
    w->p = p;
    w->cap = cap;
  }
  memcpy(w->p + w->len, data, n);
  w->len += n;
}

static void put16(bytes_t *w, uint16_t v) {
  uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
  put(w, b, 2);
}
static void put32(bytes_t *w, uint32_t v) {
  uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  put(w, b, 4);
}
static void put64(bytes_t *w, uint64_t v) {
  put32(w, (uint32_t)(v >> 32));
  put32(w, (uint32_t)v);
}
static void put_zeros(bytes_t *w, size_t n) {
  static const uint8_t zeros[64];
  while (n > 0) {
    size_t k = n < sizeof(zeros) ? n : sizeof(zeros);
    put(w, zeros, k);
    n -= k;
  }
}

static void patch32(bytes_t *w, size_t at, uint32_t v) {
  if (w->err || at + 4 > w->len) return;
  w->p[at] = (uint8_t)(v >> 24), w->p[at + 1] = (uint8_t)(v >> 16), w->p[at + 2] = (uint8_t)(v >> 8);
  w->p[at + 3] = (uint8_t)v;
}

static size_t box_open(bytes_t *w, const char *type) {
  size_t at = w->len;
  put32(w, 0);
  put(w, type, 4);
  return at;
}

static size_t full_box_open(bytes_t *w, const char *type, uint8_t version, uint32_t flags) {
  size_t at = box_open(w, type);
  put32(w, (uint32_t)version << 24 | flags);
  return at;
}

static void box_close(bytes_t *w, size_t at) { patch32(w, at, (uint32_t)(w->len - at)); }

static void put_matrix(bytes_t *w) {
  static const uint32_t unity[9] = {0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000};
  for (int i = 0; i < 9; i++)
    put32(w, unity[i]);
}

static uint64_t scale(uint64_t v, uint32_t from, uint32_t to) {
  return from ? (uint64_t)((double)v * to / from + 0.5) : 0;
}

#define MOVIE_TIMESCALE 1000

typedef struct {
  uint64_t media_duration; /* in the track's timescale */
  uint64_t delay_us;       /* first sample after the clip's origin */
  size_t co64_at;          /* where the chunk offsets start in the header */
  uint32_t chunks;
} track_layout_t;

static void write_stbl(bytes_t *w, const builder_t *b, int t, const vg_mp4_track_t *src, track_layout_t *tl) {
  const clip_track_t *ct = &b->tracks[t];
  size_t stbl = box_open(w, "stbl");
  size_t stsd = full_box_open(w, "stsd", 0, 0);
  put32(w, 1);
  put(w, src->sample_entry, src->sample_entry_size);
  box_close(w, stsd);

  /* stts: runs of equal durations. */
  size_t stts = full_box_open(w, "stts", 0, 0);
  size_t count_at = w->len;
  put32(w, 0);
  uint32_t runs = 0;
  for (uint32_t i = 0; i < ct->count;) {
    uint32_t k = i;
    while (k < ct->count && ct->samples[k].duration == ct->samples[i].duration)
      k++;
    put32(w, k - i);
    put32(w, ct->samples[i].duration);
    runs++;
    i = k;
  }
  patch32(w, count_at, runs);
  box_close(w, stts);

  int any_cto = 0, negative_cto = 0, all_sync = 1;
  for (uint32_t i = 0; i < ct->count; i++) {
    any_cto |= ct->samples[i].cto != 0;
    negative_cto |= ct->samples[i].cto < 0;
    all_sync &= ct->samples[i].sync;
  }
  if (any_cto) {
    size_t ctts = full_box_open(w, "ctts", negative_cto ? 1 : 0, 0);
    count_at = w->len;
    put32(w, 0);
    runs = 0;
    for (uint32_t i = 0; i < ct->count;) {
      uint32_t k = i;
      while (k < ct->count && ct->samples[k].cto == ct->samples[i].cto)
        k++;
      put32(w, k - i);
      put32(w, (uint32_t)ct->samples[i].cto);
      runs++;
      i = k;
    }
    patch32(w, count_at, runs);
    box_close(w, ctts);
  }
  if (!all_sync) {
    size_t stss = full_box_open(w, "stss", 0, 0);
    count_at = w->len;
    put32(w, 0);
    uint32_t n = 0;
    for (uint32_t i = 0; i < ct->count; i++)
      if (ct->samples[i].sync) put32(w, i + 1), n++;
    patch32(w, count_at, n);
    box_close(w, stss);
  }

  size_t stsz = full_box_open(w, "stsz", 0, 0);
  put32(w, 0);
  put32(w, ct->count);
  for (uint32_t i = 0; i < ct->count; i++)
    put32(w, ct->samples[i].size);
  box_close(w, stsz);

  /* stsc: a run per change of samples-per-chunk; chunks of this track in
   * the order the builder made them. */
  size_t stsc = full_box_open(w, "stsc", 0, 0);
  count_at = w->len;
  put32(w, 0);
  uint32_t chunk_no = 0, entries = 0, last_per_chunk = 0;
  for (size_t c = 0; c < b->chunk_count; c++) {
    if (b->chunks[c].track != t) continue;
    chunk_no++;
    if (entries == 0 || b->chunks[c].count != last_per_chunk) {
      put32(w, chunk_no);
      put32(w, b->chunks[c].count);
      put32(w, 1);
      entries++;
      last_per_chunk = b->chunks[c].count;
    }
  }
  patch32(w, count_at, entries);
  box_close(w, stsc);

  /* co64: filled with offsets relative to the mdat payload; the caller
   * adds the payload's position once the header's size is known. */
  size_t co64 = full_box_open(w, "co64", 0, 0);
  put32(w, chunk_no);
  tl->co64_at = w->len;
  tl->chunks = chunk_no;
  put_zeros(w, (size_t)chunk_no * 8);
  box_close(w, co64);
  box_close(w, stbl);
}

static void write_trak(bytes_t *w, const builder_t *b, int t, uint32_t track_id, track_layout_t *tl) {
  const clip_track_t *ct = &b->tracks[t];
  const vg_mp4_track_t *src = &b->first.tracks[ct->src];
  int video = t == b->video;
  uint64_t delay_movie = scale(tl->delay_us, 1000000, MOVIE_TIMESCALE);
  uint64_t media_movie = scale(tl->media_duration, src->timescale, MOVIE_TIMESCALE);

  size_t trak = box_open(w, "trak");
  size_t tkhd = full_box_open(w, "tkhd", 1, 0x3); /* enabled, in movie */
  put64(w, 0);
  put64(w, 0);
  put32(w, track_id);
  put32(w, 0);
  put64(w, delay_movie + media_movie);
  put_zeros(w, 8);
  put16(w, 0);                  /* layer */
  put16(w, 0);                  /* alternate group */
  put16(w, video ? 0 : 0x0100); /* volume */
  put16(w, 0);
  put_matrix(w);
  put32(w, video ? (uint32_t)src->width << 16 : 0);
  put32(w, video ? (uint32_t)src->height << 16 : 0);
  box_close(w, tkhd);

  /* The edit list places the track's first sample at its time after the
   * clip's first keyframe (an empty edit first when it starts later), and
   * skips a leading composition offset. */
  size_t edts = box_open(w, "edts");
  size_t elst = full_box_open(w, "elst", 1, 0);
  put32(w, delay_movie ? 2 : 1);
  if (delay_movie) {
    put64(w, delay_movie);
    put64(w, UINT64_MAX); /* media_time -1: empty */
    put32(w, 0x00010000);
  }
  put64(w, media_movie);
  put64(w, (uint64_t)(int64_t)(ct->count ? ct->samples[0].cto : 0));
  put32(w, 0x00010000);
  box_close(w, elst);
  box_close(w, edts);

  size_t mdia = box_open(w, "mdia");
  size_t mdhd = full_box_open(w, "mdhd", 1, 0);
  put64(w, 0);
  put64(w, 0);
  put32(w, src->timescale);
  put64(w, tl->media_duration);
  put16(w, 0x55c4); /* "und" */
  put16(w, 0);
  box_close(w, mdhd);
  size_t hdlr = full_box_open(w, "hdlr", 0, 0);
  put32(w, 0);
  put(w, video ? "vide" : "soun", 4);
  put_zeros(w, 12);
  const char *name = video ? "vigil video" : "vigil audio";
  put(w, name, strlen(name) + 1);
  box_close(w, hdlr);
  size_t minf = box_open(w, "minf");
  if (video) {
    size_t vmhd = full_box_open(w, "vmhd", 0, 1);
    put_zeros(w, 8);
    box_close(w, vmhd);
  } else {
    size_t smhd = full_box_open(w, "smhd", 0, 0);
    put_zeros(w, 4);
    box_close(w, smhd);
  }
  size_t dinf = box_open(w, "dinf");
  size_t dref = full_box_open(w, "dref", 0, 0);
  put32(w, 1);
  size_t url = full_box_open(w, "url ", 0, 1); /* media in this file */
  box_close(w, url);
  box_close(w, dref);
  box_close(w, dinf);
  write_stbl(w, b, t, src, tl);
  box_close(w, minf);
  box_close(w, mdia);
  box_close(w, trak);
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
  const uint8_t *p = data;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

/* Lays out the mdat (chunk by chunk, in the order they were made), writes
 * ftyp + moov + mdat header, and the pieces to copy. */
static int build_clip(builder_t *b, vg_playback_clip_t *clip) {
  track_layout_t tl[VG_MP4_MAX_TRACKS];
  memset(tl, 0, sizeof(tl));
  int64_t end_us = b->origin_us;
  for (int t = 0; t < b->track_count; t++) {
    const clip_track_t *ct = &b->tracks[t];
    uint32_t timescale = b->first.tracks[ct->src].timescale;
    for (uint32_t i = 0; i < ct->count; i++)
      tl[t].media_duration += ct->samples[i].duration;
    if (!ct->count) continue;
    tl[t].delay_us =
        ct->samples[0].utc_us > b->origin_us ? (uint64_t)(ct->samples[0].utc_us - b->origin_us) : 0;
    const clip_sample_t *last = &ct->samples[ct->count - 1];
    int64_t e = last->utc_us + (int64_t)last->duration * 1000000 / timescale;
    if (e > end_us) end_us = e;
  }
  uint64_t payload = 0;
  for (size_t c = 0; c < b->chunk_count; c++) {
    const clip_track_t *ct = &b->tracks[b->chunks[c].track];
    for (uint32_t i = 0; i < b->chunks[c].count; i++)
      payload += ct->samples[b->chunks[c].first + i].size;
  }

  bytes_t w = {0};
  size_t ftyp = box_open(&w, "ftyp");
  put(&w, "isom", 4);
  put32(&w, 0x200);
  put(&w, "isomiso2mp41", 12);
  if (b->first.tracks[b->tracks[b->video].src].codec == VG_CODEC_H264) put(&w, "avc1", 4);
  box_close(&w, ftyp);

  uint64_t movie_duration = scale((uint64_t)(end_us - b->origin_us), 1000000, MOVIE_TIMESCALE);
  size_t moov = box_open(&w, "moov");
  size_t mvhd = full_box_open(&w, "mvhd", 1, 0);
  put64(&w, 0);
  put64(&w, 0);
  put32(&w, MOVIE_TIMESCALE);
  put64(&w, movie_duration);
  put32(&w, 0x00010000); /* rate */
  put16(&w, 0x0100);     /* volume */
  put_zeros(&w, 10);
  put_matrix(&w);
  put_zeros(&w, 24);
  uint32_t next_id = 1;
  size_t next_id_at = w.len;
  put32(&w, 0);
  box_close(&w, mvhd);
  int order[VG_MP4_MAX_TRACKS], tracks = 0;
  order[tracks++] = b->video; /* video first: track 1 */
  for (int t = 0; t < b->track_count; t++)
    if (t != b->video && b->tracks[t].count) order[tracks++] = t;
  for (int i = 0; i < tracks; i++)
    write_trak(&w, b, order[i], next_id++, &tl[order[i]]);
  patch32(&w, next_id_at, next_id);
  box_close(&w, moov);

  int large = payload + 8 > UINT32_MAX;
  size_t mdat_header = large ? 16 : 8;
  uint64_t payload_at = w.len + mdat_header;
  if (large) {
    put32(&w, 1);
    put(&w, "mdat", 4);
    put64(&w, payload + 16);
  } else {
    put32(&w, (uint32_t)(payload + 8));
    put(&w, "mdat", 4);
  }
  if (w.err) {
    free(w.p);
    return w.err;
  }

  /* Chunk offsets and the pieces, in mdat order. */
  clip->pieces = calloc(b->chunk_count ? b->chunk_count * 2 : 1, sizeof(*clip->pieces));
  size_t piece_cap = b->chunk_count ? b->chunk_count * 2 : 1;
  if (!clip->pieces) {
    free(w.p);
    return VG_ENOMEM;
  }
  uint32_t chunk_no[VG_MP4_MAX_TRACKS] = {0};
  uint64_t out = payload_at;
  for (size_t c = 0; c < b->chunk_count; c++) {
    const clip_chunk_t *ch = &b->chunks[c];
    const clip_track_t *ct = &b->tracks[ch->track];
    size_t at = tl[ch->track].co64_at + (size_t)chunk_no[ch->track]++ * 8;
    patch32(&w, at, (uint32_t)(out >> 32));
    patch32(&w, at + 4, (uint32_t)out);
    for (uint32_t i = 0; i < ch->count; i++) {
      const clip_sample_t *s = &ct->samples[ch->first + i];
      piece_t *last = clip->piece_count ? &clip->pieces[clip->piece_count - 1] : NULL;
      if (last && last->file == ch->file && last->src_offset + last->len == s->offset) {
        last->len += s->size;
      } else {
        if (clip->piece_count == piece_cap) {
          piece_t *p = realloc(clip->pieces, piece_cap * 2 * sizeof(*p));
          if (!p) {
            free(w.p);
            return VG_ENOMEM;
          }
          clip->pieces = p;
          piece_cap *= 2;
        }
        clip->pieces[clip->piece_count++] = (piece_t){out, s->offset, s->size, ch->file};
      }
      out += s->size;
    }
  }
  clip->header = w.p;
  clip->header_len = w.len;
  vg_playback_clip_info_t *info = &clip->info;
  info->size = w.len + payload;
  info->start_us = b->origin_us;
  info->end_us = end_us;
  info->cut_us = b->cut_us;
  info->cut_reason = b->cut_reason;
  info->files = b->file_count;
  info->samples = b->total;
  /* The bytes are a function of the header (which holds every sample's
   * size and timing) and of where they are copied from. */
  uint64_t h = fnv1a(0xcbf29ce484222325ull, clip->header, clip->header_len);
  for (size_t i = 0; i < clip->piece_count; i++) {
    h = fnv1a(h, &clip->pieces[i].src_offset, sizeof(uint64_t));
    h = fnv1a(h, b->files[clip->pieces[i].file], strlen(b->files[clip->pieces[i].file]));
  }
  snprintf(info->etag, sizeof(info->etag), "\"clip-%016llx\"", (unsigned long long)h);
  return 0;
}

/* ---- clip export: the public side ---- */

int vg_playback_clip_open(vg_rec_index_t *ix, const char *camera, int64_t start_us, int64_t end_us,
                          vg_playback_clip_t **out) {
  *out = NULL;
  if (end_us <= start_us) return VG_EINVAL;
  seg_list_t l;
  int err = query_segments(ix, camera, start_us, end_us, &l);
  if (err) return err;
  builder_t b;
  memset(&b, 0, sizeof(b));
  b.start_us = start_us;
  b.end_us = end_us;
  b.chunk_key_fragment = -1;
  for (int s = 0; s < l.count; s++) {
    err = add_segment(&b, ix, &l.segs[s]);
    if (err) break;
  }
  seg_list_free(&l);
  if (err == 1) err = 0;
  if (!err && (!b.origin_set || b.video < 0 || b.tracks[b.video].count == 0)) err = VG_ENOTFOUND;
  vg_playback_clip_t *clip = NULL;
  if (!err) {
    clip = calloc(1, sizeof(*clip));
    if (!clip) err = VG_ENOMEM;
  }
  if (!err) {
    clip->fd = -1;
    clip->fd_file = -1;
    err = build_clip(&b, clip);
  }
  if (!err) {
    /* The file names move to the clip. */
    clip->files = b.files;
    clip->file_count = b.file_count;
    b.files = NULL;
    b.file_count = 0;
  }
  builder_free(&b);
  if (err) {
    vg_playback_clip_free(&clip);
    return err;
  }
  *out = clip;
  return 0;
}

const vg_playback_clip_info_t *vg_playback_clip_info(const vg_playback_clip_t *clip) { return &clip->info; }

long vg_playback_clip_read(vg_playback_clip_t *clip, uint64_t offset, uint8_t *dst, size_t cap) {
  if (offset >= clip->info.size || cap == 0) return 0;
  if (offset < clip->header_len) {
    size_t n = clip->header_len - (size_t)offset;
    if (n > cap) n = cap;
    memcpy(dst, clip->header + offset, n);
    return (long)n;
  }
  /* The piece holding offset: the last one starting at or before it. */
  size_t lo = 0, hi = clip->piece_count;
  while (hi - lo > 1) {
    size_t mid = (lo + hi) / 2;
    if (clip->pieces[mid].out_offset <= offset)
      lo = mid;
    else
      hi = mid;
  }
  if (clip->piece_count == 0) return VG_EPROTO;
  const piece_t *p = &clip->pieces[lo];
  uint64_t within = offset - p->out_offset;
  if (within >= p->len) return VG_EPROTO;
  uint64_t n = p->len - within;
  if (n > cap) n = cap;
  if (n > VG_PLAYBACK_READ_CHUNK) n = VG_PLAYBACK_READ_CHUNK;
  if (clip->fd_file != p->file) {
    if (clip->fd >= 0) close(clip->fd);
    clip->fd_file = -1;
    clip->fd = open(clip->files[p->file], O_RDONLY | O_CLOEXEC);
    if (clip->fd < 0) return vg_err_from_errno();
    clip->fd_file = p->file;
  }
  long got = vg_mp4_read_fd(&clip->fd, p->src_offset + within, dst, (size_t)n);
  if (got < 0) return got;
  /* Shorter than indexed: the file was cut or replaced under the clip. */
  if ((uint64_t)got != n) return VG_EIO;
  return got;
}

void vg_playback_clip_free(vg_playback_clip_t **clip) {
  if (!clip || !*clip) return;
  vg_playback_clip_t *c = *clip;
  if (c->fd >= 0) close(c->fd);
  for (int i = 0; i < c->file_count; i++)
    free(c->files[i]);
  free(c->files);
  free(c->pieces);
  free(c->header);
  free(c);
  *clip = NULL;
}

/* ---- segment files for the file route ---- */

typedef struct {
  uint64_t offset; /* of the tfdt value in the file */
  uint64_t value;  /* shifted */
  uint8_t size;    /* 4 or 8 */
} tfdt_patch_t;

struct vg_playback_file {
  int fd;
  int64_t id;
  uint64_t size;
  int64_t mtime;
  int64_t shift_us;
  char etag[96];
  tfdt_patch_t *patches;
  size_t patch_count;
};

static void file_etag(vg_playback_file_t *f) {
  snprintf(f->etag, sizeof(f->etag), "\"seg-%lld-%llu-%lld-%lld\"", (long long)f->id,
           (unsigned long long)f->size, (long long)f->mtime, (long long)f->shift_us);
}

int vg_playback_file_open(vg_rec_index_t *ix, int64_t segment_id, int64_t shift_us,
                          vg_playback_file_t **out) {
  *out = NULL;
  if (shift_us < 0) return VG_ERANGE;
  vg_rec_segment_t *seg = calloc(1, sizeof(*seg));
  if (!seg) return VG_ENOMEM;
  int err = vg_rec_index_get_segment(ix, segment_id, seg);
  char path[VG_REC_ROOT_MAX + VG_REC_PATH_MAX + 2];
  if (!err && vg_playback_file_path(seg->root, seg->path, path, sizeof(path)) < 0) err = VG_ENOENT;
  uint64_t indexed = seg->bytes;
  int closed = seg->closed;
  free(seg);
  if (err) return err == VG_ENOTFOUND ? VG_ENOENT : err;
  vg_playback_file_t *f = calloc(1, sizeof(*f));
  if (!f) return VG_ENOMEM;
  f->id = segment_id;
  f->shift_us = shift_us;
  f->fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (f->fd < 0 || fstat(f->fd, &st) != 0) {
    vg_playback_file_free(&f);
    return VG_ENOENT;
  }
  /* While a segment is written, only its indexed bytes are whole. */
  f->size = (uint64_t)st.st_size;
  if (!closed && indexed < f->size) f->size = indexed;
  f->mtime = (int64_t)st.st_mtime;
  file_etag(f);
  *out = f;
  return 0;
}

uint64_t vg_playback_file_size(const vg_playback_file_t *f) { return f->size; }

const char *vg_playback_file_etag(const vg_playback_file_t *f) { return f->etag; }

static int add_patch(vg_playback_file_t *f, const vg_mp4_traf_t *tr, uint32_t timescale, int64_t shift_us) {
  if (!tr->tfdt_offset || !timescale) return 0;
  uint64_t ticks =
      (uint64_t)shift_us / 1000000 * timescale + (uint64_t)shift_us % 1000000 * timescale / 1000000;
  uint64_t value = tr->base_decode_time + ticks;
  if (value < tr->base_decode_time || (tr->tfdt_size == 4 && value > UINT32_MAX)) return VG_ERANGE;
  tfdt_patch_t *p = realloc(f->patches, (f->patch_count + 1) * sizeof(*p));
  if (!p) return VG_ENOMEM;
  f->patches = p;
  p[f->patch_count++] = (tfdt_patch_t){tr->tfdt_offset, value, tr->tfdt_size};
  return 0;
}

int vg_playback_file_prepare(vg_playback_file_t *f, vg_rec_index_t *ix, uint64_t first, uint64_t end) {
  int64_t shift_us = f->shift_us;
  if (shift_us == 0) return 0;
  frag_list_t fl;
  int err = query_fragments(ix, f->id, &fl);
  if (err) return err;
  vg_mp4_init_t init;
  vg_mp4_source_t src = {vg_mp4_read_fd, &f->fd, f->size};
  err = vg_mp4_read_init(&src, &init);
  for (int i = 0; i < fl.count && !err; i++) {
    const vg_rec_fragment_t *row = &fl.frags[i];
    if (row->offset + row->size <= first || row->offset >= end) continue;
    vg_mp4_fragment_t fr;
    if ((err = read_moof(f->fd, &init, row, &fr))) break;
    for (int t = 0; t < fr.traf_count && !err; t++)
      if (fr.trafs[t].track >= 0)
        err = add_patch(f, &fr.trafs[t], init.tracks[fr.trafs[t].track].timescale, shift_us);
    vg_mp4_fragment_clear(&fr);
  }
  vg_mp4_init_clear(&init);
  free(fl.frags);
  return err;
}

long vg_playback_file_read(vg_playback_file_t *f, uint64_t offset, uint8_t *dst, size_t cap) {
  if (offset >= f->size) return 0;
  uint64_t n = f->size - offset;
  if (n > cap) n = cap;
  if (n > VG_PLAYBACK_READ_CHUNK) n = VG_PLAYBACK_READ_CHUNK;
  long got = vg_mp4_read_fd(&f->fd, offset, dst, (size_t)n);
  if (got < 0) return got;
  if ((uint64_t)got != n) return VG_EIO;
  /* The shifted tfdt values, big-endian, over whatever part of them falls
   * in this window. */
  for (size_t i = 0; i < f->patch_count; i++) {
    const tfdt_patch_t *p = &f->patches[i];
    for (uint8_t k = 0; k < p->size; k++) {
      uint64_t at = p->offset + k;
      if (at < offset || at >= offset + n) continue;
      dst[at - offset] = (uint8_t)(p->value >> (8 * (p->size - 1 - k)));
    }
  }
  return got;
}

void vg_playback_file_free(vg_playback_file_t **f) {
  if (!f || !*f) return;
  if ((*f)->fd >= 0) close((*f)->fd);
  free((*f)->patches);
  free(*f);
  *f = NULL;
}
