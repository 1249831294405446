#include "net/uring.h"

#include <stdlib.h>

#include "base/error.h"
#include "base/log.h"

#ifdef VG_HAVE_LIBURING

#include <errno.h>
#include <liburing.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>
#include <uv.h>

#define BUF_GROUP 0
/* Incremental buffer consumption (Linux 6.12): receives of many sockets
 * fill one large buffer one after another, each from where the previous
 * stopped; a completion with F_BUF_MORE leaves the buffer to the kernel.
 * Constants from the kernel's uapi, which liburing 2.3 predates. */
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4)
#endif
#define VG_IOU_PBUF_RING_INC 2
/* Incremental mode: 32 buffers of 64 KiB per worker. Packed, a quantum's
 * data of a few hundred cameras takes a few of them, so the memory the
 * kernel copies into and the parser reads stays in cache. */
#define DEFAULT_INC_BUF_SIZE 65536
#define DEFAULT_INC_BUF_COUNT 32
/* Without it (older kernels), one buffer per receive. */
#define DEFAULT_BUF_SIZE 16384
#define MIN_BUF_SIZE 64
#define MAX_BUF_SIZE (1 << 20)
/* 1024 buffers of 16 KiB (16 MiB of address space per worker, touched as
 * used): enough for a quantum's data of several hundred cameras, key frames
 * included. A socket that finds the ring empty is re-armed after the
 * harvest has given buffers back. */
#define DEFAULT_BUF_COUNT 1024
#define SQ_ENTRIES 256
#define CQ_ENTRIES 8192
/* Rounds of io_uring_enter + completions per wake-up at most. The kernel
 * runs only about 20 deferred receives per io_uring_enter (Linux 6.10+), so
 * a worker with 250 cameras needs a dozen rounds; at 8, one harvest in 20
 * left receives for the next wake-up (a quantum later) at N=500. The bound
 * only keeps a flood from starving the rest of the loop. */
#define MAX_ROUNDS 64

struct vg_uring_sock {
  struct vg_uring_sock *prev, *next; /* every socket of the ring */
  struct ring *ring;
  vg_uring_recv_fn fn;
  void *opaque;
  int fd;
  int armed;   /* a multishot receive is in flight */
  int stopped; /* vg_uring_recv_stop was called: no more callbacks */
  int ended;   /* EOF or an error was reported: no more data */
  int in_cb;   /* its callback is running */
  int rearm;   /* the receive ended for lack of buffers: arm it again */
};

typedef struct ring {
  struct io_uring uring;
  struct io_uring_buf_ring *br;
  size_t br_bytes;
  uint8_t *bufs;
  size_t buf_size;
  unsigned buf_count; /* a power of two */
  unsigned returned;  /* buffers added to the ring since the last advance */
  int incremental;
  uint32_t *buf_off; /* incremental: bytes of each buffer already received into */
  int efd;
  uv_poll_t poll;
  struct vg_uring_sock *socks;
  int need_rearm;
  vg_worker_t *worker;
} ring_t;

/* Per worker: NULL (not tried yet), the ring, or FAILED. */
#define FAILED ((ring_t *)(uintptr_t)1)

static vg_log_ctx_t lg = {"net", NULL};
static atomic_ullong rearm_count;

static int enabled(void) {
  const char *e = getenv("VIGIL_IO_URING");
  return !e || strcmp(e, "0") != 0;
}

static size_t buf_size_setting(int incremental) {
  const char *e = getenv("VIGIL_IO_URING_BUF");
  long v = e ? atol(e) : incremental ? DEFAULT_INC_BUF_SIZE : DEFAULT_BUF_SIZE;
  if (v < MIN_BUF_SIZE) v = MIN_BUF_SIZE;
  if (v > MAX_BUF_SIZE) v = MAX_BUF_SIZE;
  return (size_t)v;
}

static unsigned buf_count_setting(int incremental) {
  const char *e = getenv("VIGIL_IO_URING_BUFS");
  long v = e ? atol(e) : incremental ? DEFAULT_INC_BUF_COUNT : DEFAULT_BUF_COUNT;
  unsigned n = 8;
  while (n < (unsigned)v && n < 32768)
    n *= 2;
  return n;
}

static void unlink_sock(ring_t *r, struct vg_uring_sock *s) {
  if (s->prev)
    s->prev->next = s->next;
  else
    r->socks = s->next;
  if (s->next) s->next->prev = s->prev;
  if (s->rearm) r->need_rearm--;
  vg_worker_paced_sockets_add(r->worker, -1);
  free(s);
}

static struct io_uring_sqe *get_sqe(ring_t *r) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);
  if (!sqe) {
    io_uring_submit(&r->uring);
    sqe = io_uring_get_sqe(&r->uring);
  }
  return sqe;
}

static int arm(ring_t *r, struct vg_uring_sock *s) {
  struct io_uring_sqe *sqe = get_sqe(r);
  if (!sqe) return VG_EBUSY;
  io_uring_prep_recv_multishot(sqe, s->fd, NULL, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = BUF_GROUP;
  io_uring_sqe_set_data(sqe, s);
  s->armed = 1;
  return 0;
}

static void give_back(ring_t *r, unsigned bid) {
  io_uring_buf_ring_add(r->br, r->bufs + (size_t)bid * r->buf_size, (unsigned)r->buf_size,
                        (unsigned short)bid, io_uring_buf_ring_mask(r->buf_count), (int)r->returned++);
}

/* Delivers to the owner unless it has stopped; frees a stopped socket
 * whose receive is over. */
static void deliver(ring_t *r, struct vg_uring_sock *s, const uint8_t *data, size_t len, int status) {
  if (s->stopped || s->ended) return;
  if (status != 0) s->ended = 1;
  s->in_cb = 1;
  s->fn(s->opaque, data, len, status);
  s->in_cb = 0;
}

static void handle_cqe(ring_t *r, struct io_uring_cqe *cqe) {
  struct vg_uring_sock *s = io_uring_cqe_get_data(cqe);
  if (!s) return; /* a cancellation's own completion */
  int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
  if (!more) s->armed = 0;
  if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
    unsigned bid = (cqe->flags >> IORING_CQE_BUFFER_SHIFT) & (r->buf_count - 1);
    size_t off = r->buf_off[bid], len = (size_t)cqe->res;
    if (off + len <= r->buf_size)
      deliver(r, s, r->bufs + (size_t)bid * r->buf_size + off, len, 0);
    else
      deliver(r, s, NULL, 0, VG_EIO); /* the kernel and we disagree: cannot happen */
    if (cqe->flags & IORING_CQE_F_BUF_MORE) {
      r->buf_off[bid] = (uint32_t)(off + len);
    } else {
      r->buf_off[bid] = 0;
      give_back(r, bid);
    }
  } else if (cqe->res > 0) {
    /* Data without a buffer cannot happen with buffer selection. */
    deliver(r, s, NULL, 0, VG_EIO);
  } else if (cqe->res == 0) {
    deliver(r, s, NULL, 0, VG_ECLOSED);
  } else if (cqe->res != -ENOBUFS && cqe->res != -ECANCELED) {
    deliver(r, s, NULL, 0, cqe->res);
  }
  if (more) return;
  if (s->stopped) {
    unlink_sock(r, s);
  } else if (!s->ended && !s->rearm) {
    /* The receive ended without an error (no free buffer, or the kernel
     * ended the multishot): arm it again once buffers are back. */
    s->rearm = 1;
    r->need_rearm++;
  }
}

static void rearm_pending(ring_t *r) {
  atomic_fetch_add_explicit(&rearm_count, (unsigned long long)r->need_rearm, memory_order_relaxed);
  for (struct vg_uring_sock *s = r->socks; s && r->need_rearm > 0; s = s->next) {
    if (!s->rearm) continue;
    if (arm(r, s) < 0) break;
    s->rearm = 0;
    r->need_rearm--;
  }
  io_uring_submit(&r->uring);
}

/* Returns 1 when it stopped at MAX_ROUNDS with work perhaps left. */
static int harvest(ring_t *r) {
  int limited = 1;
  for (int round = 0; round < MAX_ROUNDS; round++) {
    /* With deferred task running this is where the kernel copies the
     * received bytes into buffers and posts their completions. */
    io_uring_get_events(&r->uring);
    unsigned head, n = 0;
    struct io_uring_cqe *cqe;
    io_uring_for_each_cqe(&r->uring, head, cqe) {
      handle_cqe(r, cqe);
      n++;
    }
    io_uring_cq_advance(&r->uring, n);
    if (r->returned) {
      io_uring_buf_ring_advance(r->br, (int)r->returned);
      r->returned = 0;
    }
    if (n == 0) {
      limited = 0;
      break;
    }
  }
  if (r->need_rearm > 0) rearm_pending(r);
  return limited;
}

static void on_ready(uv_poll_t *p, int status, int events) {
  ring_t *r = p->data;
  uint64_t v;
  /* Reset the eventfd before harvesting: completions posted after the
   * reset signal it again, so none is left unseen. */
  if (read(r->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
    vg_log_debug(&lg, "eventfd read: %s", strerror(errno));
  int limited = harvest(r);
  /* What is still pending after MAX_ROUNDS waits for the next wake-up: the
   * kernel does not signal deferred work that it already knew of again. */
  if (limited || io_uring_cq_ready(&r->uring) > 0 || io_uring_cq_has_overflow(&r->uring)) {
    v = 1;
    if (write(r->efd, &v, sizeof(v)) < 0) vg_log_debug(&lg, "eventfd write: %s", strerror(errno));
  }
}

static void free_ring(ring_t *r) {
  while (r->socks) {
    struct vg_uring_sock *s = r->socks;
    r->socks = s->next;
    free(s);
  }
  io_uring_queue_exit(&r->uring);
  if (r->br) munmap(r->br, r->br_bytes);
  if (r->bufs) munmap(r->bufs, (size_t)r->buf_count * r->buf_size);
  free(r->buf_off);
  if (r->efd >= 0) close(r->efd);
  free(r);
}

static ring_t *create_ring(vg_worker_t *w) {
  ring_t *r = calloc(1, sizeof(*r));
  if (!r) return NULL;
  r->efd = -1;
  r->worker = w;
  struct io_uring_params p = {0};
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  p.cq_entries = CQ_ENTRIES;
  int e = io_uring_queue_init_params(SQ_ENTRIES, &r->uring, &p);
  if (e == -EINVAL) {
    /* Kernels before 6.1 have no deferred task running. */
    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_CQSIZE;
    p.cq_entries = CQ_ENTRIES;
    e = io_uring_queue_init_params(SQ_ENTRIES, &r->uring, &p);
  }
  if (e < 0) {
    vg_log_info(&lg, "io_uring unavailable (%s); sockets are read through libuv", strerror(-e));
    free(r);
    return NULL;
  }
  const char *inc_env = getenv("VIGIL_IO_URING_INC");
  const char *what = "buffer ring";
  for (int inc = !inc_env || strcmp(inc_env, "0") != 0; inc >= 0; inc--) {
    r->incremental = inc;
    r->buf_size = buf_size_setting(inc);
    r->buf_count = buf_count_setting(inc);
    r->br_bytes = r->buf_count * sizeof(struct io_uring_buf);
    r->br = mmap(NULL, r->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (r->br == MAP_FAILED) {
      r->br = NULL;
      e = -ENOMEM;
      goto fail;
    }
    io_uring_buf_ring_init(r->br);
    struct io_uring_buf_reg reg = {
        .ring_addr = (uintptr_t)r->br, .ring_entries = r->buf_count, .bgid = BUF_GROUP};
    reg.pad = inc ? VG_IOU_PBUF_RING_INC : 0; /* the flags field of newer headers */
    if ((e = io_uring_register_buf_ring(&r->uring, &reg, 0)) == 0) break;
    munmap(r->br, r->br_bytes);
    r->br = NULL;
    if (!inc) goto fail;
  }
  what = "memory";
  r->bufs = mmap(NULL, (size_t)r->buf_count * r->buf_size, PROT_READ | PROT_WRITE,
                 MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  r->buf_off = calloc(r->buf_count, sizeof(*r->buf_off));
  if (r->bufs == MAP_FAILED) r->bufs = NULL;
  e = -ENOMEM;
  if (!r->bufs || !r->buf_off) goto fail;
  for (unsigned i = 0; i < r->buf_count; i++)
    give_back(r, i);
  io_uring_buf_ring_advance(r->br, (int)r->returned);
  r->returned = 0;
  what = "eventfd";
  r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (r->efd < 0 || (e = io_uring_register_eventfd(&r->uring, r->efd)) < 0) goto fail;
  what = "poll";
  if ((e = uv_poll_init(vg_worker_loop(w), &r->poll, r->efd)) < 0) goto fail;
  r->poll.data = r;
  uv_poll_start(&r->poll, UV_READABLE, on_ready);
  /* Sockets keep the loop alive, not the ring. */
  uv_unref((uv_handle_t *)&r->poll);
  vg_log_info(&lg, "worker %d: receiving camera sockets through io_uring (%u %sbuffers of %zu bytes)",
              vg_worker_index(w), r->buf_count, r->incremental ? "incrementally filled " : "", r->buf_size);
  return r;
fail:
  vg_log_info(&lg, "io_uring setup failed (%s: %s); sockets are read through libuv", what,
              strerror(e < 0 ? -e : ENOMEM));
  free_ring(r);
  return NULL;
}

static ring_t *ring_of(vg_worker_t *w) {
  if (!w) return NULL;
  void **slot = vg_worker_uring_slot(w);
  ring_t *r = *slot;
  if (r == FAILED) return NULL;
  if (r) return r;
  r = enabled() ? create_ring(w) : NULL;
  *slot = r ? r : FAILED;
  return r;
}

int vg_uring_usable(vg_worker_t *w) { return ring_of(w) != NULL; }

int vg_uring_recv_start(vg_worker_t *w, int fd, vg_uring_recv_fn fn, void *opaque, vg_uring_sock_t **out) {
  ring_t *r = ring_of(w);
  if (!r) return VG_EUNSUPPORTED;
  struct vg_uring_sock *s = calloc(1, sizeof(*s));
  if (!s) return VG_ENOMEM;
  s->ring = r;
  s->fn = fn;
  s->opaque = opaque;
  s->fd = fd;
  int e = arm(r, s);
  if (e < 0) {
    free(s);
    return e;
  }
  s->next = r->socks;
  if (r->socks) r->socks->prev = s;
  r->socks = s;
  vg_worker_paced_sockets_add(w, 1);
  e = io_uring_submit(&r->uring);
  if (e < 0) vg_log_warn(&lg, "io_uring submit: %s", strerror(-e));
  *out = s;
  return 0;
}

void vg_uring_recv_stop(vg_uring_sock_t *s) {
  if (!s || s->stopped) return;
  ring_t *r = s->ring;
  s->stopped = 1;
  if (s->armed) {
    /* Freed when the receive's last completion arrives (ECANCELED), or
     * with the ring. The cancellation is submitted now, before the caller
     * closes the socket. */
    struct io_uring_sqe *sqe = get_sqe(r);
    if (sqe) {
      io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)s, 0);
      io_uring_sqe_set_data(sqe, NULL);
      io_uring_submit(&r->uring);
    }
    return;
  }
  if (!s->in_cb) unlink_sock(r, s);
  /* else: handle_cqe frees it when the callback returns (its last
   * completion is the one being handled). */
}

void vg_uring_worker_destroy(void *ring) {
  if (ring && ring != FAILED) free_ring(ring);
}

uint64_t vg_uring_rearms(void) { return atomic_load(&rearm_count); }

#else /* no liburing at build time */

int vg_uring_usable(vg_worker_t *w) { return 0; }
int vg_uring_recv_start(vg_worker_t *w, int fd, vg_uring_recv_fn fn, void *opaque, vg_uring_sock_t **out) {
  return VG_EUNSUPPORTED;
}
void vg_uring_recv_stop(vg_uring_sock_t *sock) {}
void vg_uring_worker_destroy(void *ring) {}
uint64_t vg_uring_rearms(void) { return 0; }

#endif
