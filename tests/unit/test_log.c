/* Unit tests for base/log.h's ring of recent lines: filters, wrap-around,
 * truncation, and several threads writing (and one reading) at once. The
 * lines also go to stderr, which the tests point at /dev/null. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/time.h"

static vg_log_entry_t lines[VG_LOG_RING_LINES];

static int quiet_stderr(void **state) {
  (void)state;
  int null_fd = open("/dev/null", O_WRONLY);
  assert_true(null_fd >= 0);
  dup2(null_fd, STDERR_FILENO);
  close(null_fd);
  vg_log_set_level(VG_LOG_DEBUG);
  return 0;
}

/* The newest line's sequence number: where each test starts reading. */
static uint64_t mark(void) {
  uint64_t last = 0;
  vg_log_filter_t all = {.max_level = VG_LOG_TRACE};
  vg_log_ring_read(&all, lines, 0, &last);
  return last;
}

static void test_filters_by_level_module_and_seq(void **state) {
  (void)state;
  uint64_t start = mark();
  vg_log_ctx_t cam = VG_LOG_CTX("camera", "door");
  vg_log_ctx_t rtsp = VG_LOG_CTX("rtsp", NULL);
  vg_log_error(&cam, "connection refused (%d)", 111);
  vg_log_info(&rtsp, "client connected");
  vg_log_debug(&cam, "retry in %d ms", 500);
  vg_log_trace(&cam, "not kept: below the log level");

  vg_log_filter_t f = {.max_level = VG_LOG_TRACE, .after_seq = start};
  uint64_t last = 0;
  int n = vg_log_ring_read(&f, lines, VG_LOG_RING_LINES, &last);
  assert_int_equal(n, 3);
  assert_int_equal(last, start + 3);
  assert_int_equal(lines[0].seq, start + 1);
  assert_int_equal(lines[0].level, VG_LOG_ERROR);
  assert_string_equal(lines[0].module, "camera");
  assert_string_equal(lines[0].id, "door");
  assert_string_equal(lines[0].message, "connection refused (111)");
  assert_string_equal(lines[1].id, "");
  assert_string_equal(lines[2].message, "retry in 500 ms");
  int64_t now = vg_time_utc_us();
  assert_true(lines[0].time_us <= now && lines[0].time_us > now - 10 * 1000000LL);

  f.max_level = VG_LOG_INFO;
  assert_int_equal(vg_log_ring_read(&f, lines, VG_LOG_RING_LINES, NULL), 2);
  f.max_level = VG_LOG_ERROR;
  assert_int_equal(vg_log_ring_read(&f, lines, VG_LOG_RING_LINES, NULL), 1);
  f.max_level = VG_LOG_TRACE;
  f.module = "rtsp";
  assert_int_equal(vg_log_ring_read(&f, lines, VG_LOG_RING_LINES, NULL), 1);
  assert_string_equal(lines[0].message, "client connected");
  f.module = "camera";
  f.after_seq = start + 1;
  assert_int_equal(vg_log_ring_read(&f, lines, VG_LOG_RING_LINES, NULL), 1);
  assert_string_equal(lines[0].message, "retry in 500 ms");
  /* A limit keeps the newest lines, still oldest first. */
  f.module = NULL;
  f.after_seq = start;
  assert_int_equal(vg_log_ring_read(&f, lines, 2, NULL), 2);
  assert_int_equal(lines[0].seq, start + 2);
  assert_int_equal(lines[1].seq, start + 3);
  /* A time filter: nothing from the future. */
  f.since_us = now + 60 * 1000000LL;
  assert_int_equal(vg_log_ring_read(&f, lines, VG_LOG_RING_LINES, NULL), 0);
}

static void test_wraps_around_keeping_the_newest(void **state) {
  (void)state;
  uint64_t start = mark();
  vg_log_ctx_t lg = VG_LOG_CTX("wrap", NULL);
  const int written = VG_LOG_RING_LINES + 777;
  for (int i = 0; i < written; i++)
    vg_log_info(&lg, "line %d", i);
  vg_log_filter_t f = {.max_level = VG_LOG_TRACE};
  uint64_t last = 0;
  int n = vg_log_ring_read(&f, lines, VG_LOG_RING_LINES, &last);
  assert_int_equal(n, VG_LOG_RING_LINES);
  assert_int_equal(last, start + (uint64_t)written);
  for (int i = 0; i < n; i++) {
    char want[32];
    snprintf(want, sizeof(want), "line %d", written - VG_LOG_RING_LINES + i);
    assert_int_equal(lines[i].seq, last - (uint64_t)(n - 1 - i));
    assert_string_equal(lines[i].message, want);
  }
  /* A poller that fell behind by more than the ring gets what is left. */
  f.after_seq = start + 5;
  assert_int_equal(vg_log_ring_read(&f, lines, VG_LOG_RING_LINES, NULL), VG_LOG_RING_LINES);
  f.after_seq = last - 10;
  assert_int_equal(vg_log_ring_read(&f, lines, VG_LOG_RING_LINES, NULL), 10);
  f.after_seq = last;
  assert_int_equal(vg_log_ring_read(&f, lines, VG_LOG_RING_LINES, NULL), 0);
}

static void test_long_lines_are_cut_on_a_character(void **state) {
  (void)state;
  uint64_t start = mark();
  char long_text[1500];
  /* "é" is two bytes: a cut at an odd offset would split one. */
  for (size_t i = 0; i + 2 < sizeof(long_text); i += 2)
    memcpy(long_text + i, "\xc3\xa9", 2);
  long_text[sizeof(long_text) - 2] = '\0';
  vg_log_ctx_t lg = VG_LOG_CTX("a-module-name-longer-than-the-ring-keeps", NULL);
  vg_log_warn(&lg, "x%s", long_text);
  vg_log_warn(&lg, "a\r\nb");
  vg_log_filter_t f = {.max_level = VG_LOG_TRACE, .after_seq = start};
  assert_int_equal(vg_log_ring_read(&f, lines, VG_LOG_RING_LINES, NULL), 2);
  size_t len = strlen(lines[0].message);
  assert_true(len < VG_LOG_RING_MESSAGE);
  assert_string_equal(lines[0].message + len - 3, "...");
  /* "x" then whole "é"s: the bytes before "..." are an odd count. */
  assert_int_equal((len - 3) % 2, 1);
  assert_int_equal(strlen(lines[0].module), VG_LOG_RING_MODULE - 1);
  /* Control characters are blanked in the ring as on stderr. */
  assert_string_equal(lines[1].message, "a  b");
}

#define WRITERS 4
#define PER_WRITER 3000

static void *writer(void *arg) {
  int t = (int)(intptr_t)arg;
  char name[8];
  snprintf(name, sizeof(name), "t%d", t);
  vg_log_ctx_t lg = VG_LOG_CTX("concurrent", name);
  for (int i = 0; i < PER_WRITER; i++)
    vg_log_info(&lg, "writer %d line %d end", t, i);
  return NULL;
}

static vg_log_entry_t reader_lines[VG_LOG_RING_LINES];
static atomic_int writers_done;

/* Reads while the writers write: every snapshot has consecutive sequence
 * numbers and whole lines. */
static void *reader(void *arg) {
  int *bad = arg;
  vg_log_filter_t f = {.max_level = VG_LOG_TRACE, .module = "concurrent"};
  while (!atomic_load(&writers_done)) {
    int n = vg_log_ring_read(&f, reader_lines, VG_LOG_RING_LINES, NULL);
    for (int i = 0; i < n; i++) {
      int t, k;
      char end[8];
      if (sscanf(reader_lines[i].message, "writer %d line %d %7s", &t, &k, end) != 3 ||
          strcmp(end, "end") != 0)
        (*bad)++;
      if (i > 0 && reader_lines[i].seq <= reader_lines[i - 1].seq) (*bad)++;
    }
  }
  return NULL;
}

static void test_concurrent_writers(void **state) {
  (void)state;
  uint64_t start = mark();
  pthread_t threads[WRITERS], rd;
  int bad = 0;
  atomic_store(&writers_done, 0);
  assert_int_equal(pthread_create(&rd, NULL, reader, &bad), 0);
  for (int t = 0; t < WRITERS; t++)
    assert_int_equal(pthread_create(&threads[t], NULL, writer, (void *)(intptr_t)t), 0);
  for (int t = 0; t < WRITERS; t++)
    pthread_join(threads[t], NULL);
  atomic_store(&writers_done, 1);
  pthread_join(rd, NULL);
  assert_int_equal(bad, 0);

  vg_log_filter_t f = {.max_level = VG_LOG_TRACE};
  uint64_t last = 0;
  int n = vg_log_ring_read(&f, lines, VG_LOG_RING_LINES, &last);
  /* Every line got its own sequence number, none lost or doubled. */
  assert_int_equal(last, start + WRITERS * PER_WRITER);
  assert_int_equal(n, VG_LOG_RING_LINES);
  int next[WRITERS];
  for (int t = 0; t < WRITERS; t++)
    next[t] = -1;
  for (int i = 0; i < n; i++) {
    assert_int_equal(lines[i].seq, last - (uint64_t)(n - 1 - i));
    int t, k;
    assert_int_equal(sscanf(lines[i].message, "writer %d line %d end", &t, &k), 2);
    assert_true(t >= 0 && t < WRITERS);
    char name[8];
    snprintf(name, sizeof(name), "t%d", t);
    assert_string_equal(lines[i].id, name);
    /* Each writer's lines appear in the order it wrote them. */
    assert_true(k > next[t]);
    next[t] = k;
  }
  /* The last line of each writer is among the newest kept. */
  int finished = 0;
  for (int t = 0; t < WRITERS; t++)
    finished += next[t] == PER_WRITER - 1;
  assert_true(finished >= 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_filters_by_level_module_and_seq),
      cmocka_unit_test(test_wraps_around_keeping_the_newest),
      cmocka_unit_test(test_long_lines_are_cut_on_a_character),
      cmocka_unit_test(test_concurrent_writers),
  };
  return cmocka_run_group_tests(tests, quiet_stderr, NULL);
}
