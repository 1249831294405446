#include "stream/hub.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/* The GOP cache holds at most this much; a camera whose keyframes are
 * further apart than that is served from its next keyframe instead. */
#define GOP_CACHE_MAX_FRAMES 512
#define GOP_CACHE_MAX_BYTES (24u << 20)
#define DEFAULT_QUEUE_FRAMES 256

struct vg_hub_reader {
  vg_hub_reader_t *next;
  vg_hub_t *hub;
  vg_frame_t *ring;
  uint32_t cap, head, count;
  int waiting_key; /* fell behind: drop until the next video keyframe */
  uint32_t seen_generation;
  vg_hub_notify_fn notify;
  void *opaque;
  vg_hub_reader_stats_t stats;
};

struct vg_hub {
  atomic_int refs;
  pthread_mutex_t lock;
  char *name;
  vg_track_t tracks[VG_MAX_TRACKS];
  int track_count;
  int live, ended;
  uint32_t generation;
  int video_track; /* index of the first video track, -1 if none */
  vg_frame_t gop[GOP_CACHE_MAX_FRAMES];
  uint32_t gop_count;
  uint64_t gop_bytes;
  int gop_valid; /* the cache starts at a keyframe */
  vg_hub_reader_t *readers;
  int reader_count;
  uint64_t frames_in, bytes_in, closed_drops;
};

vg_hub_t *vg_hub_new(const char *name) {
  vg_hub_t *h = calloc(1, sizeof(*h));
  if (!h) return NULL;
  h->name = strdup(name);
  if (!h->name) {
    free(h);
    return NULL;
  }
  atomic_init(&h->refs, 1);
  pthread_mutex_init(&h->lock, NULL);
  h->video_track = -1;
  return h;
}

vg_hub_t *vg_hub_ref(vg_hub_t *hub) {
  if (hub) atomic_fetch_add(&hub->refs, 1);
  return hub;
}

static void gop_clear(vg_hub_t *h) {
  for (uint32_t i = 0; i < h->gop_count; i++)
    vg_frame_unref(&h->gop[i]);
  h->gop_count = 0;
  h->gop_bytes = 0;
  h->gop_valid = 0;
}

void vg_hub_unref(vg_hub_t **hp) {
  vg_hub_t *h = *hp;
  if (!h) return;
  *hp = NULL;
  if (atomic_fetch_sub(&h->refs, 1) != 1) return;
  /* Readers hold a reference, so none is left here. */
  gop_clear(h);
  for (int i = 0; i < h->track_count; i++)
    vg_track_clear(&h->tracks[i]);
  pthread_mutex_destroy(&h->lock);
  free(h->name);
  free(h);
}

const char *vg_hub_name(const vg_hub_t *hub) { return hub->name; }

static void reader_flush(vg_hub_reader_t *r) {
  while (r->count) {
    vg_frame_unref(&r->ring[r->head]);
    r->head = (r->head + 1) % r->cap;
    r->count--;
  }
}

static void notify_all(vg_hub_t *h) {
  for (vg_hub_reader_t *r = h->readers; r; r = r->next)
    if (r->notify) r->notify(r->opaque);
}

int vg_hub_set_tracks(vg_hub_t *h, const vg_track_t *tracks, int count) {
  if (count < 0 || count > VG_MAX_TRACKS) return VG_EINVAL;
  pthread_mutex_lock(&h->lock);
  for (int i = 0; i < h->track_count; i++)
    vg_track_clear(&h->tracks[i]);
  h->video_track = -1;
  for (int i = 0; i < count; i++) {
    vg_track_copy(&h->tracks[i], &tracks[i]);
    if (h->video_track < 0 && vg_codec_is_video(tracks[i].codec)) h->video_track = i;
  }
  h->track_count = count;
  h->generation++;
  h->live = 1;
  h->ended = 0;
  gop_clear(h);
  /* Frames of the old generation are meaningless with the new tracks. */
  for (vg_hub_reader_t *r = h->readers; r; r = r->next) {
    reader_flush(r);
    r->waiting_key = h->video_track >= 0;
  }
  notify_all(h);
  pthread_mutex_unlock(&h->lock);
  return 0;
}

int vg_hub_update_track(vg_hub_t *h, int index, const vg_track_t *track) {
  pthread_mutex_lock(&h->lock);
  if (index < 0 || index >= h->track_count) {
    pthread_mutex_unlock(&h->lock);
    return VG_EINVAL;
  }
  vg_track_clear(&h->tracks[index]);
  vg_track_copy(&h->tracks[index], track);
  pthread_mutex_unlock(&h->lock);
  return 0;
}

static int is_key(const vg_hub_t *h, const vg_frame_t *f) {
  return (f->flags & VG_FRAME_KEY) && f->track == h->video_track;
}

static void gop_add(vg_hub_t *h, const vg_frame_t *f) {
  if (is_key(h, f) || h->video_track < 0) {
    if (is_key(h, f)) gop_clear(h);
    h->gop_valid = 1;
  }
  if (!h->gop_valid) return;
  if (h->video_track < 0) {
    /* Audio-only: keep just the most recent frames. */
    if (h->gop_count == GOP_CACHE_MAX_FRAMES) gop_clear(h), h->gop_valid = 1;
  } else if (h->gop_count == GOP_CACHE_MAX_FRAMES || h->gop_bytes + f->len > GOP_CACHE_MAX_BYTES) {
    gop_clear(h);
    return;
  }
  vg_frame_ref(&h->gop[h->gop_count++], f);
  h->gop_bytes += f->len;
}

/* Called with the hub locked. Returns 1 if the reader's queue went from
 * empty to non-empty (it needs a wake-up). */
static int reader_offer(vg_hub_t *h, vg_hub_reader_t *r, const vg_frame_t *f) {
  if (r->waiting_key) {
    if (!is_key(h, f)) {
      r->stats.dropped++;
      return 0;
    }
    r->waiting_key = 0;
  }
  if (r->count == r->cap) {
    /* Fallen behind: what it has queued is stale, and so is everything up
     * to the next keyframe, which is where it picks up again. */
    r->stats.dropped += r->count;
    r->stats.skips++;
    reader_flush(r);
    if (!is_key(h, f) && h->video_track >= 0) {
      r->stats.dropped++;
      r->waiting_key = 1;
      return 0;
    }
  }
  vg_frame_ref(&r->ring[(r->head + r->count) % r->cap], f);
  r->count++;
  r->stats.frames++;
  return r->count == 1;
}

void vg_hub_push(vg_hub_t *h, const vg_frame_t *f) {
  pthread_mutex_lock(&h->lock);
  h->frames_in++;
  h->bytes_in += f->len;
  gop_add(h, f);
  for (vg_hub_reader_t *r = h->readers; r; r = r->next)
    if (reader_offer(h, r, f) && r->notify) r->notify(r->opaque);
  pthread_mutex_unlock(&h->lock);
}

void vg_hub_end(vg_hub_t *h) {
  pthread_mutex_lock(&h->lock);
  h->live = 0;
  h->ended = 1;
  gop_clear(h);
  notify_all(h);
  pthread_mutex_unlock(&h->lock);
}

int vg_hub_open_reader(vg_hub_t *h, const vg_hub_reader_opts_t *opts, vg_hub_reader_t **out) {
  vg_hub_reader_t *r = calloc(1, sizeof(*r));
  if (!r) return VG_ENOMEM;
  r->cap = opts && opts->queue_frames ? opts->queue_frames : DEFAULT_QUEUE_FRAMES;
  r->ring = calloc(r->cap, sizeof(*r->ring));
  if (!r->ring) {
    free(r);
    return VG_ENOMEM;
  }
  if (opts) {
    r->notify = opts->notify;
    r->opaque = opts->opaque;
  }
  r->hub = vg_hub_ref(h);
  pthread_mutex_lock(&h->lock);
  r->seen_generation = 0; /* forces a first VG_ESTATE so the reader fetches tracks */
  if (opts && opts->skip_gop_cache) {
    r->waiting_key = h->video_track >= 0;
  } else if (h->gop_valid && h->gop_count <= r->cap) {
    for (uint32_t i = 0; i < h->gop_count; i++)
      reader_offer(h, r, &h->gop[i]);
  } else {
    r->waiting_key = h->video_track >= 0;
  }
  r->next = h->readers;
  h->readers = r;
  h->reader_count++;
  pthread_mutex_unlock(&h->lock);
  *out = r;
  return 0;
}

int vg_hub_read(vg_hub_reader_t *r, vg_frame_t *out) {
  vg_hub_t *h = r->hub;
  int ret;
  pthread_mutex_lock(&h->lock);
  if (h->generation != r->seen_generation && h->track_count > 0) {
    ret = VG_ESTATE;
  } else if (r->count) {
    *out = r->ring[r->head];
    r->ring[r->head] = (vg_frame_t){0};
    r->head = (r->head + 1) % r->cap;
    r->count--;
    ret = 0;
  } else {
    ret = h->ended ? VG_ECLOSED : VG_EAGAIN;
  }
  pthread_mutex_unlock(&h->lock);
  return ret;
}

static int copy_tracks(vg_hub_t *h, vg_track_t *out, int max) {
  int n = h->track_count < max ? h->track_count : max;
  for (int i = 0; i < n; i++)
    vg_track_copy(&out[i], &h->tracks[i]);
  return n;
}

int vg_hub_reader_tracks(vg_hub_reader_t *r, vg_track_t *out, int max) {
  vg_hub_t *h = r->hub;
  pthread_mutex_lock(&h->lock);
  int n = copy_tracks(h, out, max);
  r->seen_generation = h->generation;
  pthread_mutex_unlock(&h->lock);
  return n;
}

void vg_hub_reader_stats(vg_hub_reader_t *r, vg_hub_reader_stats_t *out) {
  pthread_mutex_lock(&r->hub->lock);
  *out = r->stats;
  pthread_mutex_unlock(&r->hub->lock);
}

void vg_hub_close_reader(vg_hub_reader_t **rp) {
  vg_hub_reader_t *r = *rp;
  if (!r) return;
  *rp = NULL;
  vg_hub_t *h = r->hub;
  pthread_mutex_lock(&h->lock);
  for (vg_hub_reader_t **p = &h->readers; *p; p = &(*p)->next) {
    if (*p == r) {
      *p = r->next;
      break;
    }
  }
  h->reader_count--;
  h->closed_drops += r->stats.dropped;
  reader_flush(r);
  pthread_mutex_unlock(&h->lock);
  free(r->ring);
  free(r);
  vg_hub_unref(&h);
}

void vg_hub_stats(vg_hub_t *h, vg_hub_stats_t *out) {
  pthread_mutex_lock(&h->lock);
  out->live = h->live;
  out->readers = h->reader_count;
  out->generation = h->generation;
  out->frames_in = h->frames_in;
  out->bytes_in = h->bytes_in;
  out->reader_drops = h->closed_drops;
  for (vg_hub_reader_t *r = h->readers; r; r = r->next)
    out->reader_drops += r->stats.dropped;
  pthread_mutex_unlock(&h->lock);
}

int vg_hub_tracks(vg_hub_t *h, vg_track_t *out, int max) {
  pthread_mutex_lock(&h->lock);
  int n = copy_tracks(h, out, max);
  pthread_mutex_unlock(&h->lock);
  return n;
}

/* --- registry --- */

typedef struct entry {
  struct entry *next;
  vg_hub_t *hub;
} entry_t;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static entry_t *registry;

int vg_hub_register(vg_hub_t *hub) {
  entry_t *e = malloc(sizeof(*e));
  if (!e) return VG_ENOMEM;
  pthread_mutex_lock(&registry_lock);
  for (entry_t *it = registry; it; it = it->next) {
    if (strcmp(it->hub->name, hub->name) == 0) {
      pthread_mutex_unlock(&registry_lock);
      free(e);
      return VG_EEXIST;
    }
  }
  e->hub = vg_hub_ref(hub);
  e->next = registry;
  registry = e;
  pthread_mutex_unlock(&registry_lock);
  return 0;
}

void vg_hub_unregister(vg_hub_t *hub) {
  entry_t *found = NULL;
  pthread_mutex_lock(&registry_lock);
  for (entry_t **p = &registry; *p; p = &(*p)->next) {
    if ((*p)->hub == hub) {
      found = *p;
      *p = found->next;
      break;
    }
  }
  pthread_mutex_unlock(&registry_lock);
  if (found) {
    vg_hub_unref(&found->hub);
    free(found);
  }
}

vg_hub_t *vg_hub_find(const char *name) {
  vg_hub_t *h = NULL;
  pthread_mutex_lock(&registry_lock);
  for (entry_t *it = registry; it; it = it->next) {
    if (strcmp(it->hub->name, name) == 0) {
      h = vg_hub_ref(it->hub);
      break;
    }
  }
  pthread_mutex_unlock(&registry_lock);
  return h;
}
