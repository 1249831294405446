/* Unit tests for the pull sources' shared life cycle (ingest/pull.h) on a
 * real libuv loop, without sockets: how an attempt ends, that the end waits
 * for every handle's close, and that the source is released before the
 * camera hears of it. The failed-attempt path ends in camera.c's
 * vg_camera_source_failed (backoff), which test_camera covers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "ingest/pull.h"

typedef struct {
  vg_pull_t pull;
  uv_timer_t extra; /* stands for RTSP's UDP sockets */
  int extra_open;
} fake_src_t;

/* What happened, in order: 'R' released, 'D' done, 'S' restarted. */
static char events[16];
static int n_events;
static int released_handles_open; /* handles still open when released */
static vg_camera_t camera;

static void note(char e) {
  if (n_events < (int)sizeof(events) - 1) events[n_events++] = e;
}

static void extra_closed(uv_handle_t *h) {
  fake_src_t *s = h->data;
  s->extra_open = 0;
  vg_pull_handle_closed(&s->pull);
}

static void close_extra(vg_pull_t *p) {
  fake_src_t *s = p->owner;
  if (s->extra_open && !uv_is_closing((uv_handle_t *)&s->extra))
    uv_close((uv_handle_t *)&s->extra, extra_closed);
}

static void release(vg_pull_t *p) {
  fake_src_t *s = p->owner;
  released_handles_open = s->extra_open + p->timer_open + p->conns_open;
  note('R');
  free(s);
}

static void restart(vg_camera_t *cam) {
  assert_ptr_equal(cam, &camera);
  assert_null(cam->source);
  note('S');
}

static void done(vg_camera_t *cam) {
  assert_ptr_equal(cam, &camera);
  assert_null(cam->source);
  note('D');
}

static const vg_pull_ops_t ops = {close_extra, release, restart};

static fake_src_t *start(uv_loop_t *loop, int with_extra) {
  memset(events, 0, sizeof(events));
  n_events = 0;
  released_handles_open = -1;
  memset(&camera, 0, sizeof(camera));
  fake_src_t *s = calloc(1, sizeof(*s));
  assert_non_null(s);
  vg_pull_init(&s->pull, &camera, loop, s, &ops);
  assert_ptr_equal(s->pull.timer.data, s);
  if (with_extra) {
    uv_timer_init(loop, &s->extra);
    s->extra.data = s;
    s->extra_open = 1;
    s->pull.handles_open++;
  }
  camera.source = s;
  return s;
}

static void test_stop_waits_for_the_closes(void **state) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  fake_src_t *s = start(&loop, 1);
  assert_true(vg_pull_running(&s->pull));
  vg_pull_stop(&s->pull, done);
  /* The timer and the extra handle are closing: nothing has ended yet. */
  assert_int_equal(n_events, 0);
  assert_ptr_equal(camera.source, s);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_string_equal(events, "RD");
  assert_int_equal(released_handles_open, 0);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_first_failure_reason_wins_and_stop_overrides(void **state) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  fake_src_t *s = start(&loop, 0);
  vg_pull_fail(&s->pull, VG_EPROTO, "malformed %s", "data");
  assert_false(vg_pull_running(&s->pull));
  assert_int_equal(s->pull.end, VG_PULL_FAILING);
  vg_pull_fail(&s->pull, VG_ETIMEDOUT, "later");
  assert_int_equal(s->pull.fail_err, VG_EPROTO);
  assert_string_equal(s->pull.reason, "malformed data");
  assert_int_equal(atomic_load(&camera.counters.errors), 1);
  /* A stop while the failure's closes are pending ends with done, not failed. */
  vg_pull_stop(&s->pull, done);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_string_equal(events, "RD");
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_only_protocol_errors_count(void **state) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  fake_src_t *s = start(&loop, 0);
  vg_pull_fail(&s->pull, VG_ECLOSED, "the camera closed the connection");
  assert_int_equal(atomic_load(&camera.counters.errors), 0);
  vg_pull_stop(&s->pull, done);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);

  uv_loop_init(&loop);
  s = start(&loop, 0);
  vg_pull_fail(&s->pull, VG_ETOOBIG, "oversized");
  assert_int_equal(atomic_load(&camera.counters.errors), 1);
  vg_pull_stop(&s->pull, done);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_restart_after_every_handle_closed(void **state) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  fake_src_t *s = start(&loop, 1);
  vg_pull_restart(&s->pull);
  assert_int_equal(s->pull.end, VG_PULL_RESTARTING);
  assert_int_equal(n_events, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_string_equal(events, "RS");
  assert_int_equal(released_handles_open, 0);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_restart_after_stop_is_ignored(void **state) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  fake_src_t *s = start(&loop, 0);
  vg_pull_stop(&s->pull, done);
  vg_pull_restart(&s->pull);
  vg_pull_fail(&s->pull, VG_EPROTO, "too late");
  assert_int_equal(atomic_load(&camera.counters.errors), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_string_equal(events, "RD");
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stop_waits_for_the_closes),
      cmocka_unit_test(test_first_failure_reason_wins_and_stop_overrides),
      cmocka_unit_test(test_only_protocol_errors_count),
      cmocka_unit_test(test_restart_after_every_handle_closed),
      cmocka_unit_test(test_restart_after_stop_is_ignored),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
