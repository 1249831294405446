/* test_infer_server.c: the inference server's scheduling with a fake model
 * runner of known latency: newest-frame-wins drops, round-robin fairness
 * across cameras, least-loaded device choice, regions, metrics, errors. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/error.h"
#include "infer/server.h"

typedef struct {
  int delay_ms;
  _Atomic int started; /* detect calls begun: tests wait on it, not on the clock */
} fake_model_t;

static void *fake_instantiate(void *ctx, char *err, size_t errlen) {
  (void)err, (void)errlen;
  return ctx;
}

static int fake_detect(void *inst, const vg_image_t *img, vg_detection_t *dets, int max) {
  fake_model_t *m = inst;
  m->started++;
  struct timespec ts = {0, (long)m->delay_ms * 1000000L};
  nanosleep(&ts, NULL);
  if (max < 1) return 0;
  /* One object at the image's (or region's) corner, labelled by its first pixel. */
  dets[0] = (vg_detection_t){0, 0, 10, 10, 0.9f, img->rgb[0]};
  return 1;
}

static void fake_release(void *inst) { (void)inst; }

static const vg_infer_runner_t fake_runner = {fake_instantiate, fake_detect, fake_release};

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int n;
  vg_infer_result_t res[64];
  vg_detection_t det[64];
  char device[64][16];
} log_t;

static void on_done(void *opaque, const vg_infer_result_t *r) {
  log_t *l = opaque;
  pthread_mutex_lock(&l->mu);
  if (l->n < 64) {
    l->res[l->n] = *r;
    if (r->n_dets > 0) l->det[l->n] = r->dets[0];
    snprintf(l->device[l->n], sizeof(l->device[0]), "%s", r->device ? r->device : "");
    l->n++;
  }
  pthread_cond_broadcast(&l->cv);
  pthread_mutex_unlock(&l->mu);
}

static void wait_for(log_t *l, int n) {
  pthread_mutex_lock(&l->mu);
  while (l->n < n)
    pthread_cond_wait(&l->cv, &l->mu);
  pthread_mutex_unlock(&l->mu);
}

static void submit(vg_infer_server_t *s, log_t *l, uint32_t cam, uint64_t frame, uint8_t tag) {
  vg_infer_request_t r = {.camera = cam, .frame = frame, .model = "fake", .done = on_done, .opaque = l};
  r.image.width = r.image.height = 64;
  r.image.stride = 64 * 3;
  r.image.rgb = calloc(64 * 64, 3);
  r.image.rgb[0] = tag;
  assert_int_equal(vg_infer_server_submit(s, &r), 0);
}

static void wait_started(fake_model_t *fm, int n) {
  struct timespec ts = {0, 1000000L};
  while (fm->started < n)
    nanosleep(&ts, NULL);
}

static vg_infer_server_t *make_server(fake_model_t *fm, int dev_a, int dev_b) {
  vg_infer_server_t *s;
  assert_int_equal(vg_infer_server_create(&s), 0);
  int a = vg_infer_server_add_device(s, "a", dev_a);
  assert_true(a >= 0);
  assert_int_equal(vg_infer_server_add_model(s, a, "fake", &fake_runner, fm, NULL, 0), 0);
  if (dev_b) {
    int b = vg_infer_server_add_device(s, "b", dev_b);
    assert_int_equal(vg_infer_server_add_model(s, b, "fake", &fake_runner, fm, NULL, 0), 0);
  }
  assert_int_equal(vg_infer_server_start(s), 0);
  return s;
}

static log_t *new_log(void) {
  log_t *l = calloc(1, sizeof(*l));
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv, NULL);
  return l;
}

static void free_log(log_t *l) {
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cv);
  free(l);
}

static void newest_frame_wins(void **state) {
  fake_model_t fm = {.delay_ms = 60};
  log_t *l = new_log();
  vg_infer_server_t *s = make_server(&fm, 1, 0);
  submit(s, l, 1, 1, 1);
  wait_started(&fm, 1); /* frame 1 is running now */
  for (uint64_t f = 2; f <= 5; f++)
    submit(s, l, 1, f, (uint8_t)f);
  wait_for(l, 5);
  int done = 0, canceled = 0;
  for (int i = 0; i < 5; i++) {
    if (l->res[i].status == 0) {
      done++;
      assert_true(l->res[i].frame == 1 || l->res[i].frame == 5);
    } else {
      assert_int_equal(l->res[i].status, VG_ECANCELED);
      canceled++;
    }
  }
  assert_int_equal(done, 2);
  assert_int_equal(canceled, 3);
  char m[8192];
  assert_true(vg_infer_server_metrics(s, m, sizeof(m)) > 0);
  assert_non_null(strstr(m, "vigil_infer_dropped_total{model=\"fake\"} 3"));
  assert_non_null(strstr(m, "vigil_infer_completed_total{model=\"fake\"} 2"));
  assert_non_null(strstr(m, "vigil_infer_latency_seconds_count{model=\"fake\"} 2"));
  assert_non_null(strstr(m, "vigil_infer_latency_seconds_bucket{model=\"fake\",le=\"+Inf\"} 2"));
  vg_infer_server_destroy(&s);
  free_log(l);
  (void)state;
}

static void cameras_take_turns(void **state) {
  fake_model_t fm = {.delay_ms = 30};
  log_t *l = new_log();
  vg_infer_server_t *s = make_server(&fm, 1, 0);
  submit(s, l, 1, 1, 1);
  wait_started(&fm, 1);
  /* Camera 1 keeps sending; cameras 2 and 3 send one frame each. */
  submit(s, l, 1, 2, 1);
  submit(s, l, 2, 1, 2);
  submit(s, l, 3, 1, 3);
  wait_for(l, 4);
  assert_int_equal(l->res[0].camera, 1);
  /* After camera 1's frame the others go first. */
  assert_int_equal(l->res[1].camera, 2);
  assert_int_equal(l->res[2].camera, 3);
  assert_int_equal(l->res[3].camera, 1);
  vg_infer_server_destroy(&s);
  free_log(l);
  (void)state;
}

static void least_loaded_device(void **state) {
  fake_model_t fm = {.delay_ms = 150};
  log_t *l = new_log();
  vg_infer_server_t *s = make_server(&fm, 1, 2);
  for (uint32_t c = 1; c <= 3; c++)
    submit(s, l, c, 1, (uint8_t)c);
  wait_for(l, 3);
  int on_a = 0, on_b = 0;
  for (int i = 0; i < 3; i++) {
    assert_int_equal(l->res[i].status, 0);
    on_a += !strcmp(l->device[i], "a");
    on_b += !strcmp(l->device[i], "b");
  }
  assert_int_equal(on_a, 1);
  assert_int_equal(on_b, 2);
  vg_infer_server_destroy(&s);
  free_log(l);
  (void)state;
}

static void region_boxes_in_frame_pixels(void **state) {
  fake_model_t fm = {.delay_ms = 1};
  log_t *l = new_log();
  vg_infer_server_t *s = make_server(&fm, 1, 0);
  vg_infer_request_t r = {.camera = 9, .frame = 1, .model = "fake", .done = on_done, .opaque = l};
  r.image.width = r.image.height = 64;
  r.image.stride = 64 * 3;
  r.image.rgb = calloc(64 * 64, 3);
  r.image.rgb[(20 * 64 + 10) * 3] = 77; /* the region's first pixel */
  r.rx = 10, r.ry = 20, r.rw = 30, r.rh = 30;
  assert_int_equal(vg_infer_server_submit(s, &r), 0);
  wait_for(l, 1);
  assert_int_equal(l->res[0].status, 0);
  assert_int_equal(l->det[0].label, 77);
  assert_true(l->det[0].x1 == 10 && l->det[0].y1 == 20 && l->det[0].x2 == 20 && l->det[0].y2 == 30);
  vg_infer_server_destroy(&s);
  free_log(l);
  (void)state;
}

static void errors_and_shutdown(void **state) {
  fake_model_t fm = {.delay_ms = 50};
  log_t *l = new_log();
  vg_infer_server_t *s = make_server(&fm, 1, 0);
  vg_infer_request_t r = {.camera = 1, .frame = 1, .model = "nope", .done = on_done, .opaque = l};
  r.image.rgb = calloc(1, 3);
  assert_int_equal(vg_infer_server_submit(s, &r), VG_ENOENT); /* image freed by the server */
  /* Stopping cancels what waits and finishes what runs. */
  submit(s, l, 1, 1, 1);
  wait_started(&fm, 1);
  submit(s, l, 2, 1, 2);
  submit(s, l, 3, 1, 3);
  vg_infer_server_destroy(&s);
  assert_int_equal(l->n, 3);
  int canceled = 0;
  for (int i = 0; i < 3; i++)
    canceled += l->res[i].status == VG_ECANCELED;
  assert_int_equal(canceled, 2);
  free_log(l);
  (void)state;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(newest_frame_wins),   cmocka_unit_test(cameras_take_turns),
      cmocka_unit_test(least_loaded_device), cmocka_unit_test(region_boxes_in_frame_pixels),
      cmocka_unit_test(errors_and_shutdown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
