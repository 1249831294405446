/* The floor of RTSP/TCP ingest on this machine: N RTSP sessions to one
 * server (camsim), each taken to PLAY with the few requests that needs
 * (DESCRIBE, one SETUP per media, PLAY), then only their interleaved bytes
 * read into a buffer and thrown away. No parsing, no frames, no hub: what is
 * left is the kernel's TCP receive, the ACKs it sends, and the wake-ups.
 * bench/ingest.py --floor builds it with `cc -O2` and runs it next to vigil
 * and ffmpeg in the same run.
 *
 *   recv_floor HOST PORT N [--threads T] [--quantum-us Q] [--read-size B]
 *              [--seconds S]
 *
 * Each of T threads (default 1) has its own epoll set and a share of the
 * sessions; it reads every ready socket until EAGAIN with reads of B bytes
 * (default 256 KiB). --quantum-us Q paces it like vigil's workers: before
 * each epoll_wait it sleeps until Q microseconds have passed since the
 * previous one returned (0: no pacing). It prints the bytes it read and its
 * CPU seconds when it ends (after S seconds, or on SIGTERM). A benchmark
 * tool, not part of vigil: it trusts the server it is pointed at. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static atomic_int stopping;
static atomic_ullong total_bytes, total_wakeups, total_reads;
static int quantum_us, read_size = 256 * 1024;

static void on_term(int sig) {
  (void)sig;
  atomic_store(&stopping, 1);
}

static int64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Sends one request and reads its response head and body (blocking). */
static int request(int fd, const char *req, char *resp, size_t cap) {
  size_t len = strlen(req);
  if (write(fd, req, len) != (ssize_t)len) return -1;
  size_t got = 0;
  for (;;) {
    ssize_t r = read(fd, resp + got, cap - 1 - got);
    if (r <= 0) return -1;
    got += (size_t)r;
    resp[got] = 0;
    char *end = strstr(resp, "\r\n\r\n");
    if (!end) continue;
    const char *cl = strcasestr(resp, "content-length:");
    size_t body = cl && cl < end ? (size_t)atoi(cl + 15) : 0;
    size_t need = (size_t)(end + 4 - resp) + body;
    if (need >= cap) return -1;
    while (got < need) {
      r = read(fd, resp + got, need - got);
      if (r <= 0) return -1;
      got += (size_t)r;
    }
    resp[got] = 0;
    return (int)got;
  }
}

static int open_session(const char *host, int port, int cam) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, host, &sa.sin_addr);
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  char url[256], req[1024], resp[16384], session[128] = "";
  snprintf(url, sizeof(url), "rtsp://%s:%d/cam%d", host, port, cam);
  snprintf(req, sizeof(req), "DESCRIBE %s RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n", url);
  if (request(fd, req, resp, sizeof(resp)) < 0) goto fail;
  /* One SETUP per media-level a=control line. */
  char controls[8][256];
  int ncontrols = 0;
  const char *media = strstr(resp, "\nm=");
  for (const char *p = media; p && ncontrols < 8; p = strstr(p + 1, "\nm=")) {
    const char *next = strstr(p + 1, "\nm=");
    const char *c = strstr(p, "a=control:");
    if (c && (!next || c < next)) {
      c += 10;
      size_t n = strcspn(c, "\r\n");
      snprintf(controls[ncontrols++], 256, "%.*s", (int)n, c);
    }
  }
  if (!ncontrols) snprintf(controls[ncontrols++], 256, "trackID=0");
  for (int i = 0; i < ncontrols; i++) {
    char target[600];
    if (!strncmp(controls[i], "rtsp://", 7))
      snprintf(target, sizeof(target), "%.255s", controls[i]);
    else
      snprintf(target, sizeof(target), "%.255s/%.255s", url, controls[i]);
    char sess_line[160] = "";
    if (session[0]) snprintf(sess_line, sizeof(sess_line), "Session: %s\r\n", session);
    snprintf(req, sizeof(req),
             "SETUP %s RTSP/1.0\r\nCSeq: %d\r\nTransport: RTP/AVP/TCP;unicast;interleaved=%d-%d\r\n%s\r\n",
             target, 2 + i, 2 * i, 2 * i + 1, sess_line);
    if (request(fd, req, resp, sizeof(resp)) < 0) goto fail;
    const char *s = strcasestr(resp, "\nsession:");
    if (!s) goto fail;
    s += 9;
    while (*s == ' ')
      s++;
    snprintf(session, sizeof(session), "%.*s", (int)strcspn(s, ";\r\n"), s);
  }
  snprintf(req, sizeof(req), "PLAY %s RTSP/1.0\r\nCSeq: 20\r\nSession: %s\r\n\r\n", url, session);
  if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) goto fail;
  /* The PLAY response is read (and thrown away) with the media. */
  return fd;
fail:
  close(fd);
  return -1;
}

typedef struct {
  int epfd;
} worker_t;

static void *worker_main(void *arg) {
  worker_t *w = arg;
  char *buf = malloc((size_t)read_size);
  struct epoll_event ev[256];
  int64_t last = mono_us();
  unsigned long long bytes = 0, wakeups = 0, reads = 0;
  while (!atomic_load(&stopping)) {
    if (quantum_us > 0) {
      int64_t wait = last + quantum_us - mono_us();
      if (wait > 0) {
        struct timespec ts = {.tv_sec = wait / 1000000, .tv_nsec = (wait % 1000000) * 1000};
        nanosleep(&ts, NULL);
      }
    }
    int n = epoll_wait(w->epfd, ev, 256, 200);
    last = mono_us();
    if (n > 0) wakeups++;
    for (int i = 0; i < n; i++) {
      for (;;) {
        ssize_t r = recv(ev[i].data.fd, buf, (size_t)read_size, MSG_DONTWAIT);
        reads++;
        if (r <= 0) break;
        bytes += (unsigned long long)r;
        if (r < read_size) break; /* drained: a short read means the queue is empty */
      }
    }
  }
  atomic_fetch_add(&total_bytes, bytes);
  atomic_fetch_add(&total_wakeups, wakeups);
  atomic_fetch_add(&total_reads, reads);
  free(buf);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s HOST PORT N [--threads T] [--quantum-us Q] [--read-size B] [--seconds S]\n",
            argv[0]);
    return 2;
  }
  const char *host = argv[1];
  int port = atoi(argv[2]), n = atoi(argv[3]), threads = 1, seconds = 0;
  for (int i = 4; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--quantum-us")) quantum_us = atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--read-size")) read_size = atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--seconds")) seconds = atoi(argv[i + 1]);
  }
  if (threads < 1) threads = 1;
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  signal(SIGPIPE, SIG_IGN);
  worker_t *ws = calloc((size_t)threads, sizeof(*ws));
  for (int t = 0; t < threads; t++)
    ws[t].epfd = epoll_create1(0);
  int opened = 0;
  for (int i = 1; i <= n; i++) {
    int fd = open_session(host, port, i);
    if (fd < 0) {
      fprintf(stderr, "session %d failed\n", i);
      continue;
    }
    struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ws[i % threads].epfd, EPOLL_CTL_ADD, fd, &e);
    opened++;
  }
  printf("playing %d\n", opened);
  fflush(stdout);
  pthread_t *tids = calloc((size_t)threads, sizeof(*tids));
  for (int t = 0; t < threads; t++)
    pthread_create(&tids[t], NULL, worker_main, &ws[t]);
  int64_t end = seconds > 0 ? mono_us() + (int64_t)seconds * 1000000 : INT64_MAX;
  while (!atomic_load(&stopping) && mono_us() < end)
    usleep(100000);
  atomic_store(&stopping, 1);
  for (int t = 0; t < threads; t++)
    pthread_join(tids[t], NULL);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("bytes %llu wakeups %llu reads %llu cpu_s %.3f\n", (unsigned long long)atomic_load(&total_bytes),
         (unsigned long long)atomic_load(&total_wakeups), (unsigned long long)atomic_load(&total_reads),
         ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
  return 0;
}
