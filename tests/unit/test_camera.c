/* Unit tests for the camera life cycle on real worker loops. The source here
 * is a scripted test source (the real RTSP and HTTP sources have black-box
 * tests against ffmpeg): it fails a set number of times, then comes online. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "base/time.h"
#include "ingest/camera.h"

static atomic_int starts, stops, fail_first;
static int64_t start_times[16];

static void scripted_start(vg_camera_t *cam) {
  int n = atomic_fetch_add(&starts, 1);
  if (n < 16) start_times[n] = vg_time_mono_us();
  if (n < atomic_load(&fail_first))
    vg_camera_source_failed(cam, VG_ECONNREFUSED, "connection refused (attempt %d)", n + 1);
  else
    vg_camera_source_online(cam);
}

static void scripted_stop(vg_camera_t *cam, void (*done)(vg_camera_t *)) {
  atomic_fetch_add(&stops, 1);
  done(cam);
}

static const vg_source_ops_t scripted_ops = {"scripted", scripted_start, scripted_stop};

static vg_camera_config_t config(const char *id) {
  vg_camera_config_t c = {0};
  snprintf(c.id, sizeof(c.id), "%s", id);
  snprintf(c.name, sizeof(c.name), "%s", id);
  snprintf(c.url, sizeof(c.url), "rtsp://admin:secret@192.0.2.1/%s", id);
  c.kind = VG_SOURCE_RTSP;
  c.enabled = true;
  c.backoff_min_ms = 40;
  c.backoff_max_ms = 200;
  return c;
}

static int wait_state(const char *id, vg_camera_state_t want, int timeout_ms, vg_camera_info_t *info) {
  for (int waited = 0; waited < timeout_ms; waited += 5) {
    assert_int_equal(vg_camera_get_info(id, info), 0);
    vg_camera_info_clear(info);
    if (info->state == want) return 1;
    usleep(5000);
  }
  return 0;
}

static void test_reconnects_with_growing_backoff_then_online(void **state) {
  atomic_store(&starts, 0);
  atomic_store(&fail_first, 3);
  vg_source_register(VG_SOURCE_RTSP, &scripted_ops);
  assert_int_equal(vg_workers_start(2), 0);
  vg_camera_config_t c = config("door");
  assert_int_equal(vg_camera_add(&c, NULL), 0);
  assert_int_equal(vg_camera_add(&c, NULL), VG_EEXIST);
  vg_camera_info_t info;
  assert_true(wait_state("door", VG_CAM_ONLINE, 3000, &info));
  assert_int_equal(atomic_load(&starts), 4);
  assert_int_equal(info.reconnects, 3);
  assert_string_equal(info.last_error, "connection refused (attempt 3)");
  assert_string_equal(info.reason, "");
  /* Credentials never leave the camera. */
  assert_string_equal(info.url, "rtsp://192.0.2.1/door");
  /* Delays grow: 40 ms, 80 ms, 160 ms, each within +-25% jitter. */
  int64_t d1 = start_times[1] - start_times[0], d2 = start_times[2] - start_times[1],
          d3 = start_times[3] - start_times[2];
  assert_true(d1 >= 30000 && d1 < 50000 + 20000);
  assert_true(d2 >= 60000 && d2 < 100000 + 20000);
  assert_true(d3 >= 120000 && d3 < 200000 + 20000);
  vg_cameras_stop_all();
  assert_int_equal(atomic_load(&stops), 1);
  assert_int_equal(vg_camera_get_info("door", &info), VG_ENOTFOUND);
  vg_workers_stop();
}

static void test_disabled_camera_never_starts(void **state) {
  atomic_store(&starts, 0);
  atomic_store(&fail_first, 0);
  vg_source_register(VG_SOURCE_RTSP, &scripted_ops);
  assert_int_equal(vg_workers_start(1), 0);
  vg_camera_config_t c = config("attic");
  c.enabled = false;
  assert_int_equal(vg_camera_add(&c, NULL), 0);
  usleep(50000);
  vg_camera_info_t info;
  assert_true(wait_state("attic", VG_CAM_DISABLED, 1000, &info));
  assert_int_equal(atomic_load(&starts), 0);
  vg_cameras_stop_all();
  vg_workers_stop();
}

static void list_ids(const vg_camera_info_t *info, void *opaque) {
  strcat((char *)opaque, info->id);
  strcat((char *)opaque, ",");
}

static void test_cameras_listed_in_id_order(void **state) {
  atomic_store(&fail_first, 1000);
  vg_source_register(VG_SOURCE_RTSP, &scripted_ops);
  assert_int_equal(vg_workers_start(2), 0);
  const char *ids[] = {"yard", "attic", "porch"};
  for (int i = 0; i < 3; i++) {
    vg_camera_config_t c = config(ids[i]);
    assert_int_equal(vg_camera_add(&c, NULL), 0);
  }
  char seen[64] = "";
  vg_cameras_foreach(list_ids, seen);
  assert_string_equal(seen, "attic,porch,yard,");
  vg_cameras_stop_all();
  vg_workers_stop();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reconnects_with_growing_backoff_then_online),
      cmocka_unit_test(test_disabled_camera_never_starts),
      cmocka_unit_test(test_cameras_listed_in_id_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
