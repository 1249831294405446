/*
 * Unit tests of the io_uring receive path of the workers (net/uring.h):
 * every byte sent over real loopback TCP connections arrives once and in
 * order through small receive buffers (so the ring runs out and receives
 * are re-armed), the peer's close is reported, and receives stopped while
 * data is in flight (also from inside their own callback) are cancelled
 * without a leak or a late callback. Skipped where the kernel or the build
 * has no io_uring.
 */
/* cmocka needs these first, in this order. */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "net/uring.h"
#include "net/worker.h"

#define CONNS 4
#define BYTES_PER_CONN (300 * 1024)

typedef struct {
  int fd_recv, fd_send;
  vg_uring_sock_t *sock;
  uint8_t *got;
  size_t got_len;
  atomic_int closed_status; /* 1 + status once the end was reported */
  atomic_int calls_after_stop;
  int stop_in_callback_after; /* stop from the callback after this many bytes (0: never) */
  atomic_int stopped;
  atomic_int done; /* the worker-side action of a task finished */
} conn_t;

static conn_t conns[CONNS];
static vg_worker_t *worker;

static void tcp_pair(int *a, int *b) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(sa);
  assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(listen(l, 4), 0);
  assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &len), 0);
  *a = socket(AF_INET, SOCK_STREAM, 0);
  assert_int_equal(connect(*a, (struct sockaddr *)&sa, sizeof(sa)), 0);
  *b = accept(l, NULL, NULL);
  assert_true(*b >= 0);
  close(l);
}

static void wait_until(atomic_int *flag, int seconds) {
  for (int i = 0; i < seconds * 1000 && !atomic_load(flag); i++) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
}

static void on_data(void *opaque, const uint8_t *data, size_t len, int status) {
  conn_t *c = opaque;
  if (atomic_load(&c->stopped)) {
    atomic_fetch_add(&c->calls_after_stop, 1);
    return;
  }
  if (len) {
    assert_true(c->got_len + len <= BYTES_PER_CONN);
    memcpy(c->got + c->got_len, data, len);
    c->got_len += len;
  }
  if (status != 0) atomic_store(&c->closed_status, 1 + (status == VG_ECLOSED ? 0 : 1));
  if (c->stop_in_callback_after && c->got_len >= (size_t)c->stop_in_callback_after) {
    vg_uring_recv_stop(c->sock);
    c->sock = NULL;
    atomic_store(&c->stopped, 1);
  }
}

static void start_task(void *arg) {
  conn_t *c = arg;
  assert_int_equal(vg_uring_recv_start(worker, c->fd_recv, on_data, c, &c->sock), 0);
  atomic_store(&c->done, 1);
}

static void stop_task(void *arg) {
  conn_t *c = arg;
  if (!atomic_load(&c->stopped)) {
    vg_uring_recv_stop(c->sock);
    c->sock = NULL;
    atomic_store(&c->stopped, 1);
  }
  /* The socket may be closed as soon as the receive is stopped. */
  close(c->fd_recv);
  atomic_store(&c->done, 1);
}

static void usable_task(void *arg) {
  atomic_int *usable = arg;
  atomic_store(usable, 1 + vg_uring_usable(worker));
}

static int setup(void **state) {
  /* Buffers smaller than what one send() writes: messages straddle buffers
   * and the ring (64 buffers, 16 KB) runs dry when the worker falls behind. */
  setenv("VIGIL_IO_URING_BUF", "256", 1);
  setenv("VIGIL_IO_URING_BUFS", "64", 1);
  if (vg_workers_start(1) != 0) return -1;
  worker = vg_worker_at(0);
  atomic_int usable = 0;
  vg_worker_post(worker, usable_task, &usable);
  wait_until(&usable, 10);
  if (atomic_load(&usable) != 2) {
    vg_workers_stop();
    worker = NULL;
  }
  return 0;
}

static int teardown(void **state) {
  if (worker) vg_workers_stop();
  return 0;
}

static void pattern(uint8_t *out, size_t len, int seed) {
  uint32_t x = 2463534242u + (uint32_t)seed;
  for (size_t i = 0; i < len; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    out[i] = (uint8_t)x;
  }
}

static void open_conns(int stop_after) {
  for (int i = 0; i < CONNS; i++) {
    conn_t *c = &conns[i];
    memset(c, 0, sizeof(*c));
    c->got = malloc(BYTES_PER_CONN);
    c->stop_in_callback_after = i == CONNS - 1 ? stop_after : 0;
    tcp_pair(&c->fd_send, &c->fd_recv);
    vg_worker_post(worker, start_task, c);
    wait_until(&c->done, 10);
    assert_true(atomic_load(&c->done));
  }
}

static void send_all(const uint8_t *data, size_t len, int fd, size_t chunk) {
  size_t off = 0;
  while (off < len) {
    size_t n = len - off < chunk ? len - off : chunk;
    ssize_t w = send(fd, data + off, n, MSG_NOSIGNAL);
    if (w <= 0) return; /* the reader stopped and closed */
    off += (size_t)w;
  }
}

static void sleep_task(void *arg) {
  struct timespec ts = {0, 300000000};
  nanosleep(&ts, NULL);
}

static void test_every_byte_in_order(void **state) {
  if (!worker) skip();
  open_conns(0);
  uint64_t rearms = vg_uring_rearms();
  /* The worker is busy while most of the data arrives: one harvest then
   * finds more than the ring's 16 KB of buffers. */
  vg_worker_post(worker, sleep_task, NULL);
  uint8_t *data = malloc(BYTES_PER_CONN);
  /* Interleave the connections so that one harvest sees several. */
  for (size_t off = 0; off < BYTES_PER_CONN; off += 30000)
    for (int i = 0; i < CONNS; i++) {
      pattern(data, BYTES_PER_CONN, i);
      size_t n = BYTES_PER_CONN - off < 30000 ? BYTES_PER_CONN - off : 30000;
      send_all(data + off, n, conns[i].fd_send, 1404);
    }
  for (int i = 0; i < CONNS; i++) {
    shutdown(conns[i].fd_send, SHUT_WR);
    wait_until(&conns[i].closed_status, 20);
    assert_int_equal(atomic_load(&conns[i].closed_status), 1); /* VG_ECLOSED, after all data */
  }
  for (int i = 0; i < CONNS; i++) {
    conn_t *c = &conns[i];
    pattern(data, BYTES_PER_CONN, i);
    assert_int_equal(c->got_len, BYTES_PER_CONN);
    assert_memory_equal(c->got, data, BYTES_PER_CONN);
    atomic_store(&c->done, 0);
    vg_worker_post(worker, stop_task, c);
    wait_until(&c->done, 10);
    close(c->fd_send);
    free(c->got);
  }
  free(data);
  assert_true(vg_uring_rearms() > rearms);
}

static void test_stop_while_receiving(void **state) {
  if (!worker) skip();
  /* The last connection stops itself from its callback after 50 KB; the
   * others are stopped from a task while their data still flows. */
  open_conns(50000);
  uint8_t *data = malloc(BYTES_PER_CONN);
  pattern(data, BYTES_PER_CONN, 7);
  for (int i = 0; i < CONNS; i++)
    send_all(data, 100000, conns[i].fd_send, 4096);
  for (int i = 0; i < CONNS; i++) {
    atomic_store(&conns[i].done, 0);
    vg_worker_post(worker, stop_task, &conns[i]);
    wait_until(&conns[i].done, 10);
  }
  /* More data and the peers' close after the stop: no callback may see it. */
  for (int i = 0; i < CONNS; i++) {
    send_all(data, 10000, conns[i].fd_send, 4096);
    close(conns[i].fd_send);
  }
  struct timespec ts = {0, 200000000};
  nanosleep(&ts, NULL);
  for (int i = 0; i < CONNS; i++) {
    assert_int_equal(atomic_load(&conns[i].calls_after_stop), 0);
    assert_true(conns[i].got_len <= 100000);
    assert_memory_equal(conns[i].got, data, conns[i].got_len);
    free(conns[i].got);
  }
  free(data);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_byte_in_order),
      cmocka_unit_test(test_stop_while_receiving),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
