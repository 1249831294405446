#include "base/buf.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/*
 * Size classes are powers of two from 2^8 to 2^23. Each class keeps a free
 * list of whole allocations (header and data in one block). A free list is
 * capped so that a burst does not pin memory forever.
 */
#define MIN_SHIFT 8
#define MAX_SHIFT 23
#define NUM_CLASSES (MAX_SHIFT - MIN_SHIFT + 1)
#define MAX_FREE_BYTES_PER_CLASS (32u << 20)

typedef struct free_node {
  struct free_node *next;
} free_node_t;

typedef struct {
  pthread_mutex_t lock;
  free_node_t *head;
  size_t count;
} size_class_t;

static size_class_t classes[NUM_CLASSES] = {
#define C PTHREAD_MUTEX_INITIALIZER, NULL, 0
    {C}, {C}, {C}, {C}, {C}, {C}, {C}, {C}, {C}, {C}, {C}, {C}, {C}, {C}, {C}, {C},
#undef C
};

static atomic_uint_fast64_t st_allocs, st_hits, st_live, st_pooled;

static int class_for(size_t cap) {
  for (int i = 0; i < NUM_CLASSES; i++)
    if (cap <= ((size_t)1 << (i + MIN_SHIFT))) return i;
  return -1;
}

static size_t class_size(int c) { return (size_t)1 << (c + MIN_SHIFT); }

/* Header is padded to 64 bytes so that data is cache-line aligned. */
#define HDR_SIZE ((sizeof(vg_buf_t) + 63) & ~(size_t)63)

vg_buf_t *vg_buf_alloc(size_t cap) {
  int c = class_for(cap);
  size_t real_cap = c >= 0 ? class_size(c) : cap;
  void *mem = NULL;
  atomic_fetch_add(&st_allocs, 1);
  if (c >= 0) {
    size_class_t *sc = &classes[c];
    pthread_mutex_lock(&sc->lock);
    free_node_t *n = sc->head;
    if (n) {
      sc->head = n->next;
      sc->count--;
    }
    pthread_mutex_unlock(&sc->lock);
    if (n) {
      mem = n;
      atomic_fetch_add(&st_hits, 1);
      atomic_fetch_sub(&st_pooled, real_cap);
    }
  }
  if (!mem && posix_memalign(&mem, 64, HDR_SIZE + real_cap) != 0) return NULL;
  vg_buf_t *b = mem;
  b->data = (uint8_t *)mem + HDR_SIZE;
  b->len = 0;
  b->cap = real_cap;
  atomic_init(&b->refs, 1);
  b->size_class = c;
  b->free_fn = NULL;
  b->opaque = NULL;
  atomic_fetch_add(&st_live, real_cap);
  return b;
}

vg_buf_t *vg_buf_wrap(uint8_t *data, size_t len, vg_buf_free_fn free_fn, void *opaque) {
  vg_buf_t *b = malloc(sizeof(*b));
  if (!b) return NULL;
  b->data = data;
  b->len = len;
  b->cap = len;
  atomic_init(&b->refs, 1);
  b->size_class = -2; /* wrapped */
  b->free_fn = free_fn;
  b->opaque = opaque;
  return b;
}

vg_buf_t *vg_buf_from(const void *data, size_t len) {
  vg_buf_t *b = vg_buf_alloc(len);
  if (!b) return NULL;
  if (len) memcpy(b->data, data, len);
  b->len = len;
  return b;
}

vg_buf_t *vg_buf_ref(vg_buf_t *b) {
  if (b) atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
  return b;
}

static void buf_release(vg_buf_t *b) {
  if (b->size_class == -2) {
    if (b->free_fn) b->free_fn(b->opaque, b->data);
    free(b);
    return;
  }
  atomic_fetch_sub(&st_live, b->cap);
  if (b->size_class >= 0) {
    size_class_t *sc = &classes[b->size_class];
    size_t size = class_size(b->size_class);
    pthread_mutex_lock(&sc->lock);
    if ((sc->count + 1) * size <= MAX_FREE_BYTES_PER_CLASS) {
      free_node_t *n = (free_node_t *)b;
      n->next = sc->head;
      sc->head = n;
      sc->count++;
      pthread_mutex_unlock(&sc->lock);
      atomic_fetch_add(&st_pooled, size);
      return;
    }
    pthread_mutex_unlock(&sc->lock);
  }
  free(b);
}

void vg_buf_unref(vg_buf_t **bp) {
  vg_buf_t *b = *bp;
  if (!b) return;
  *bp = NULL;
  if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) buf_release(b);
}

int vg_buf_reserve(vg_buf_t **bp, size_t need) {
  vg_buf_t *b = *bp;
  if (b->len + need <= b->cap) return 0;
  size_t want = b->cap * 2;
  if (want < b->len + need) want = b->len + need;
  vg_buf_t *nb = vg_buf_alloc(want);
  if (!nb) return VG_ENOMEM;
  memcpy(nb->data, b->data, b->len);
  nb->len = b->len;
  vg_buf_unref(bp);
  *bp = nb;
  return 0;
}

int vg_buf_append(vg_buf_t **bp, const void *data, size_t len) {
  int r = vg_buf_reserve(bp, len);
  if (r) return r;
  memcpy((*bp)->data + (*bp)->len, data, len);
  (*bp)->len += len;
  return 0;
}

void vg_buf_get_stats(vg_buf_stats_t *out) {
  out->allocs = atomic_load(&st_allocs);
  out->pool_hits = atomic_load(&st_hits);
  out->bytes_live = atomic_load(&st_live);
  out->bytes_pooled = atomic_load(&st_pooled);
}

void vg_buf_pool_trim(void) {
  for (int i = 0; i < NUM_CLASSES; i++) {
    size_class_t *sc = &classes[i];
    pthread_mutex_lock(&sc->lock);
    free_node_t *n = sc->head;
    sc->head = NULL;
    size_t count = sc->count;
    sc->count = 0;
    pthread_mutex_unlock(&sc->lock);
    atomic_fetch_sub(&st_pooled, count * class_size(i));
    while (n) {
      free_node_t *next = n->next;
      free(n);
      n = next;
    }
  }
}
