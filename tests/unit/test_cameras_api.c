/* Unit tests of the camera configuration API (api/cameras_api.c), its
 * store (api/config_store.c), the camera life cycle it drives (remove,
 * hooks, probe in ingest/camera.c) and docs/openapi.json against the
 * route tables. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/cameras_api.h"
#include "api/config_store.h"
#include "base/error.h"
#include "ingest/camera.h"
#include "net/worker.h"

/* ---- docs/openapi.json against the route tables ---- */

typedef struct {
  json_t *paths;
  int missing, seen;
  json_t *routes; /* "METHOD path" -> true */
} route_check_t;

static void check_route(const vg_http_route_t *route, void *opaque) {
  route_check_t *rc = opaque;
  char method[16], key[300];
  size_t i = 0;
  for (; route->method[i] && i < sizeof(method) - 1; i++)
    method[i] = (char)(route->method[i] | 0x20);
  method[i] = '\0';
  rc->seen++;
  snprintf(key, sizeof(key), "%s %s", method, route->pattern);
  json_object_set_new(rc->routes, key, json_true());
  if (!json_object_get(json_object_get(rc->paths, route->pattern), method)) {
    fprintf(stderr, "route %s %s is not in docs/openapi.json\n", route->method, route->pattern);
    rc->missing++;
  }
}

static void test_openapi_matches_routes(void **state) {
  const char *data = getenv("VG_TEST_DATA");
  char path[1024];
  snprintf(path, sizeof(path), "%s/../../docs/openapi.json", data ? data : "tests/data");
  json_error_t err;
  json_t *doc = json_load_file(path, 0, &err);
  if (!doc) fprintf(stderr, "%s: %s\n", path, err.text);
  assert_non_null(doc);
  route_check_t rc = {json_object_get(doc, "paths"), 0, 0, json_object()};
  vg_api_foreach_route(check_route, &rc);
  assert_true(rc.seen >= 30);
  assert_int_equal(rc.missing, 0);
  /* Every documented operation is served (the web files' /{file} is not a
   * route of the API). */
  int stale = 0;
  const char *p;
  json_t *item;
  json_object_foreach(rc.paths, p, item) {
    if (strcmp(p, "/{file}") == 0) continue;
    const char *m;
    json_t *op;
    json_object_foreach(item, m, op) {
      if (strcmp(m, "parameters") == 0) continue;
      char key[300];
      snprintf(key, sizeof(key), "%s %s", m, p);
      if (!json_object_get(rc.routes, key)) {
        fprintf(stderr, "docs/openapi.json documents %s, which no route serves\n", key);
        stale++;
      }
    }
  }
  assert_int_equal(stale, 0);
  json_decref(rc.routes);
  json_decref(doc);
}

/* ---- a fake source ---- */

static int fake_online = 0; /* 1: sources come online with an H.264 track */

static void fake_start(vg_camera_t *cam) {
  if (!fake_online) {
    vg_camera_source_failed(cam, VG_ECONNREFUSED, "connection refused");
    return;
  }
  vg_track_t t = {.codec = VG_CODEC_H264, .width = 320, .height = 240, .fps = 25};
  vg_hub_set_tracks(cam->hub, &t, 1);
  vg_camera_source_online(cam);
}
static int stops;
static void fake_stop(vg_camera_t *cam, void (*done)(vg_camera_t *cam)) {
  stops++;
  done(cam);
}
static const vg_source_ops_t fake_ops = {"fake", fake_start, fake_stop};

static char db_path[256], key_path[256];

static int setup(void **state) {
  vg_source_register(VG_SOURCE_RTSP, &fake_ops);
  snprintf(db_path, sizeof(db_path), "/tmp/vg-test-cameras-api-%d.db", (int)getpid());
  snprintf(key_path, sizeof(key_path), "/tmp/vg-test-cameras-api-%d.key", (int)getpid());
  return vg_workers_start(1);
}

static int teardown(void **state) {
  vg_cameras_stop_all();
  vg_workers_stop();
  char p[300];
  unlink(db_path);
  snprintf(p, sizeof(p), "%s-wal", db_path);
  unlink(p);
  snprintf(p, sizeof(p), "%s-shm", db_path);
  unlink(p);
  unlink(key_path);
  return 0;
}

/* ---- remove, hooks, probe ---- */

static int added, removed;
static void on_added(vg_camera_t *cam, void *opaque) {
  added++;
  assert_non_null(cam->hub);
  assert_ptr_equal(opaque, &added);
}
static void on_removed(vg_camera_t *cam, void *opaque) {
  removed++;
  /* The hub is still registered while consumers let go of it. */
  vg_hub_t *hub = vg_hub_find(cam->cfg.id);
  assert_ptr_equal(hub, cam->hub);
  vg_hub_unref(&hub);
}

static vg_camera_config_t camera(const char *id, const char *url) {
  vg_camera_config_t cfg = {
      .kind = VG_SOURCE_RTSP, .enabled = true, .backoff_min_ms = 60000, .backoff_max_ms = 60000};
  snprintf(cfg.id, sizeof(cfg.id), "%s", id);
  snprintf(cfg.name, sizeof(cfg.name), "%s", id);
  snprintf(cfg.url, sizeof(cfg.url), "%s", url);
  return cfg;
}

static void test_remove_and_hooks(void **state) {
  vg_camera_hooks_clear();
  assert_int_equal(vg_camera_hooks_add(&(vg_camera_hooks_t){on_added, on_removed, &added}), 0);
  vg_camera_config_t cfg = camera("gate", "rtsp://10.0.0.9/x");
  assert_int_equal(vg_camera_add(&cfg, NULL), 0);
  assert_int_equal(added, 1);
  vg_hub_t *hub = vg_hub_find("gate");
  assert_non_null(hub); /* a reader's reference outlives the camera */
  int stops_before = stops;
  assert_int_equal(vg_camera_remove("gate"), 0);
  assert_int_equal(removed, 1);
  assert_int_equal(stops, stops_before + 1);
  assert_null(vg_camera_find("gate"));
  vg_hub_t *again = vg_hub_find("gate");
  assert_null(again);
  assert_string_equal(vg_hub_name(hub), "gate");
  vg_hub_unref(&hub);
  assert_int_equal(vg_camera_remove("gate"), VG_ENOTFOUND);
  /* The id is free again at once. */
  assert_int_equal(vg_camera_add(&cfg, NULL), 0);
  assert_int_equal(added, 2);
  assert_int_equal(vg_camera_remove("gate"), 0);
  vg_camera_hooks_clear();
}

static void test_probe(void **state) {
  vg_camera_probe_result_t r;
  vg_camera_config_t cfg = camera("probe", "rtsp://10.0.0.9/x");
  fake_online = 0;
  assert_int_equal(vg_camera_probe(&cfg, 2000, &r), VG_EIO);
  assert_string_equal(r.error, "connection refused");
  fake_online = 1;
  assert_int_equal(vg_camera_probe(&cfg, 2000, &r), 0);
  fake_online = 0;
  assert_true(r.online);
  assert_int_equal(r.track_count, 1);
  assert_int_equal(r.tracks[0].width, 320);
  vg_track_clear(&r.tracks[0]);
  assert_null(vg_camera_find("probe")); /* never registered */
  cfg.kind = VG_SOURCE_PUSH;
  assert_int_equal(vg_camera_probe(&cfg, 100, &r), VG_EUNSUPPORTED);
}

/* ---- the API ---- */

typedef struct {
  int status;
  json_t *body;
  char etag[64];
} answer_t;

static answer_t call(const char *method, const char *path, const char *query, const char *body,
                     const char *if_none_match) {
  vg_http_request_t req = {.method = method,
                           .path = path,
                           .query = query ? query : "",
                           .body = body,
                           .body_len = body ? strlen(body) : 0};
  req.headers[VG_HTTP_HDR_IF_NONE_MATCH] = if_none_match;
  vg_http_response_t res;
  vg_http_response_init(&res);
  vg_api_dispatch(&req, &res);
  answer_t a = {.status = res.status};
  json_error_t err;
  a.body = res.body.len ? json_loadb(res.body.data, res.body.len, 0, &err) : NULL;
  const char *h = res.headers.data ? strstr(res.headers.data, "ETag: ") : NULL;
  if (h) sscanf(h + 6, "%63[^\r]", a.etag);
  vg_http_response_free(&res);
  return a;
}

static const char *error_field(const answer_t *a) {
  return json_string_value(json_object_get(json_object_get(a->body, "error"), "field"));
}

static const char *error_code(const answer_t *a) {
  return json_string_value(json_object_get(json_object_get(a->body, "error"), "code"));
}

static int analytics_calls;
static char analytics_last[64];
static void on_analytics(const char *camera, json_t *analytics, void *opaque) {
  analytics_calls++;
  snprintf(analytics_last, sizeof(analytics_last), "%s:%s", camera, analytics ? "set" : "none");
}

/* Whether needle occurs in the file at path (binary-safe). */
static int file_contains(const char *path, const char *needle) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  static char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof(buf), f);
  fclose(f);
  return memmem(buf, n, needle, strlen(needle)) != NULL;
}

static void count_rows(const char *id, json_t *camera, void *opaque) { (*(int *)opaque)++; }

static void test_crud(void **state) {
  vg_config_store_t *store;
  assert_int_equal(vg_config_store_open(db_path, key_path, &store), 0);
  json_error_t err;
  json_t *doc = json_loads("{\"http\":{\"port\":1},\"rtsp_server\":{\"read_users\":[{\"name\":\"u\","
                           "\"password\":\"topsecret\"}]},\"mqtt\":{\"username\":\"m\",\"password\":"
                           "\"sb1:mqttsealed\"},\"webhooks\":[{\"id\":\"h\",\"url\":\"http://x/\",\"secret\":"
                           "\"hooksecret\"},{\"id\":\"u\",\"url\":\"http://y/\",\"secret\":\"\"}],"
                           "\"auth\":{\"secret_key_file\":\"var/k\"}}",
                           0, &err);
  vg_cameras_api_init(store, doc);
  vg_cameras_api_on_analytics(on_analytics, NULL);
  vg_camera_config_t file_cam = camera("filecam", "rtsp://f:filepass@10.0.0.5/x");
  assert_int_equal(vg_camera_add(&file_cam, NULL), 0);
  assert_int_equal(vg_cameras_api_add_file_camera(&file_cam, NULL), 0);

  /* Validation errors name the field. */
  answer_t a = call("POST", "/api/v1/cameras", NULL, "{\"id\":\"c1\",\"url\":\"http://x/\"}", NULL);
  assert_int_equal(a.status, 400);
  assert_string_equal(error_code(&a), "invalid");
  assert_string_equal(error_field(&a), "url");
  json_decref(a.body);
  a = call("POST", "/api/v1/cameras", NULL, "{\"id\":\"c1\",\"url\":\"rtsp://x/\",\"colour\":1}", NULL);
  assert_int_equal(a.status, 400);
  assert_string_equal(error_field(&a), "colour");
  json_decref(a.body);
  a = call("POST", "/api/v1/cameras", NULL,
           "{\"id\":\"c1\",\"url\":\"rtsp://x/\",\"analytics\":{\"tripwires\":3}}", NULL);
  assert_int_equal(a.status, 400);
  assert_string_equal(error_field(&a), "analytics.tripwires");
  json_decref(a.body);
  a = call("POST", "/api/v1/cameras", NULL, "{\"id\":", NULL);
  assert_int_equal(a.status, 400);
  assert_string_equal(error_code(&a), "invalid_json");
  json_decref(a.body);

  /* Create: running at once, persisted with its password sealed. */
  a = call("POST", "/api/v1/cameras", NULL,
           "{\"id\":\"c1\",\"url\":\"rtsp://bob:hunter2@10.0.0.7/live\",\"backoff_min_ms\":60000,"
           "\"backoff_max_ms\":60000,\"analytics\":{\"motion\":{}}}",
           NULL);
  assert_int_equal(a.status, 201);
  assert_string_equal(json_string_value(json_object_get(a.body, "url")), "rtsp://10.0.0.7/live");
  json_decref(a.body);
  assert_int_equal(analytics_calls, 1);
  assert_string_equal(analytics_last, "c1:set");
  vg_camera_t *cam = vg_camera_find("c1");
  assert_non_null(cam);
  assert_string_equal(cam->cfg.url, "rtsp://bob:hunter2@10.0.0.7/live");
  a = call("POST", "/api/v1/cameras", NULL, "{\"id\":\"c1\",\"url\":\"rtsp://x/\"}", NULL);
  assert_int_equal(a.status, 409);
  json_decref(a.body);

  /* PATCH merges; the credentials stay. PUT with the URL as shown keeps them. */
  a = call("PATCH", "/api/v1/cameras/c1", NULL, "{\"name\":\"Front\"}", NULL);
  assert_int_equal(a.status, 200);
  assert_string_equal(json_string_value(json_object_get(a.body, "name")), "Front");
  json_decref(a.body);
  assert_string_equal(vg_camera_find("c1")->cfg.name, "Front");
  assert_string_equal(vg_camera_find("c1")->cfg.url, "rtsp://bob:hunter2@10.0.0.7/live");
  a = call("PATCH", "/api/v1/cameras/c1", NULL, "{\"url\":\"rtsp://10.0.0.7/live\"}", NULL);
  assert_int_equal(a.status, 200);
  json_decref(a.body);
  assert_string_equal(vg_camera_find("c1")->cfg.url, "rtsp://bob:hunter2@10.0.0.7/live");
  a = call("PUT", "/api/v1/cameras/c1", NULL, "{\"url\":\"rtsp://10.0.0.7/live\",\"enabled\":false}", NULL);
  assert_int_equal(a.status, 200);
  json_decref(a.body);
  assert_string_equal(vg_camera_find("c1")->cfg.url, "rtsp://bob:hunter2@10.0.0.7/live");
  assert_false(vg_camera_find("c1")->cfg.enabled);
  assert_string_equal(vg_camera_find("c1")->cfg.name, "c1"); /* replaced, not merged */
  a = call("PUT", "/api/v1/cameras/c1", NULL, "{\"id\":\"other\",\"url\":\"rtsp://x/\"}", NULL);
  assert_int_equal(a.status, 400);
  assert_string_equal(error_field(&a), "id");
  json_decref(a.body);

  /* Analytics: validated, persisted, announced. */
  a = call("PUT", "/api/v1/cameras/c1/analytics", NULL, "{\"zones\":{}}", NULL);
  assert_int_equal(a.status, 400);
  assert_non_null(strstr(error_field(&a), "analytics.zones"));
  json_decref(a.body);
  a = call("PUT", "/api/v1/cameras/c1/analytics", NULL, "null", NULL);
  assert_int_equal(a.status, 200);
  json_decref(a.body);
  assert_string_equal(analytics_last, "c1:none");
  a = call("GET", "/api/v1/cameras/c1/analytics", NULL, NULL, NULL);
  assert_true(json_is_null(json_object_get(a.body, "analytics")));
  json_decref(a.body);

  /* Members other modules parse (the camera's recording policy) are kept
   * as sent, through a merge patch too. */
  a = call("PATCH", "/api/v1/cameras/c1", NULL, "{\"record\":{\"mode\":\"events\"}}", NULL);
  assert_int_equal(a.status, 200);
  json_decref(a.body);
  a = call("PATCH", "/api/v1/cameras/c1", NULL, "{\"record\":{\"mode\":\"sometimes\"}}", NULL);
  assert_int_equal(a.status, 400);
  assert_string_equal(error_field(&a), "record.mode");
  json_decref(a.body);
  a = call("PATCH", "/api/v1/cameras/c1", NULL, "{\"name\":\"c1\"}", NULL);
  assert_int_equal(a.status, 200);
  assert_string_equal(json_string_value(json_object_get(json_object_get(a.body, "record"), "mode")),
                      "events");
  json_decref(a.body);

  /* The configuration file's cameras are read-only. */
  const char *methods[] = {"PUT", "PATCH", "DELETE"};
  for (int i = 0; i < 3; i++) {
    a = call(methods[i], "/api/v1/cameras/filecam", NULL, "{\"name\":\"x\"}", NULL);
    assert_int_equal(a.status, 409);
    assert_string_equal(error_code(&a), "read_only");
    json_decref(a.body);
  }
  a = call("DELETE", "/api/v1/cameras/nope", NULL, NULL, NULL);
  assert_int_equal(a.status, 404);
  json_decref(a.body);

  /* Pagination and ETags. */
  a = call("GET", "/api/v1/cameras", "limit=1&offset=1", NULL, NULL);
  assert_int_equal(a.status, 200);
  assert_int_equal(json_integer_value(json_object_get(a.body, "total")), 2);
  assert_int_equal(json_array_size(json_object_get(a.body, "cameras")), 1);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(json_object_get(a.body, "cameras"), 0), "id")),
      "filecam");
  json_decref(a.body);
  a = call("GET", "/api/v1/cameras", "limit=x", NULL, NULL);
  assert_int_equal(a.status, 400);
  json_decref(a.body);
  a = call("GET", "/api/v1/config", NULL, NULL, NULL);
  assert_int_equal(a.status, 200);
  assert_true(a.etag[0] == '"');
  char *text = json_dumps(a.body, 0);
  assert_null(strstr(text, "hunter2"));
  assert_null(strstr(text, "filepass"));
  assert_null(strstr(text, "topsecret"));
  assert_null(strstr(text, "mqttsealed"));
  assert_null(strstr(text, "hooksecret"));
  assert_non_null(strstr(text, "\"origin\": \"file\""));
  /* A secret that is set shows as set; an empty one not at all. */
  json_t *mqtt = json_object_get(a.body, "mqtt");
  assert_true(json_is_true(json_object_get(mqtt, "password_set")));
  assert_null(json_object_get(mqtt, "password"));
  assert_string_equal(json_string_value(json_object_get(mqtt, "username")), "m");
  json_t *hooks = json_object_get(a.body, "webhooks");
  assert_true(json_is_true(json_object_get(json_array_get(hooks, 0), "secret_set")));
  assert_null(json_object_get(json_array_get(hooks, 1), "secret_set"));
  assert_null(json_object_get(json_array_get(hooks, 1), "secret"));
  /* A path about a secret is left out without a marker. */
  assert_int_equal(json_object_size(json_object_get(a.body, "auth")), 0);
  assert_true(json_is_true(json_object_get(
      json_array_get(json_object_get(json_object_get(a.body, "rtsp_server"), "read_users"), 0),
      "password_set")));
  free(text);
  json_decref(a.body);
  answer_t b = call("GET", "/api/v1/config", NULL, NULL, a.etag);
  assert_int_equal(b.status, 304);
  assert_null(b.body);

  /* Import: all validated before any applies. */
  a = call("POST", "/api/v1/config", NULL,
           "{\"cameras\":[{\"id\":\"c2\",\"url\":\"rtsp://10.0.0.8/\"},{\"id\":\"c3\",\"url\":\"ftp://x\"}]}",
           NULL);
  assert_int_equal(a.status, 400);
  assert_string_equal(error_field(&a), "cameras[1].url");
  json_decref(a.body);
  assert_null(vg_camera_find("c2"));
  a = call("POST", "/api/v1/config", NULL,
           "{\"http\":{},\"cameras\":[{\"id\":\"c2\",\"url\":\"rtsp://u:pw2@10.0.0.8/\",\"enabled\":false},"
           "{\"id\":\"filecam\",\"url\":\"rtsp://x/\"},{\"id\":\"c1\",\"url\":\"rtsp://10.0.0.7/live\","
           "\"name\":\"imported\"}]}",
           NULL);
  assert_int_equal(a.status, 200);
  assert_int_equal(json_array_size(json_object_get(a.body, "created")), 1);
  assert_int_equal(json_array_size(json_object_get(a.body, "updated")), 1);
  assert_int_equal(json_array_size(json_object_get(a.body, "skipped")), 1);
  json_decref(a.body);
  assert_string_equal(vg_camera_find("c1")->cfg.name, "imported");
  assert_string_equal(vg_camera_find("c1")->cfg.url, "rtsp://bob:hunter2@10.0.0.7/live");

  /* The database holds no password in clear. */
  vg_config_store_close(&store);
  char wal[300];
  snprintf(wal, sizeof(wal), "%s-wal", db_path);
  assert_false(file_contains(db_path, "hunter2") || file_contains(wal, "hunter2"));
  assert_false(file_contains(db_path, "pw2") || file_contains(wal, "pw2"));

  /* A restart: the stored cameras come back with their credentials. */
  vg_cameras_api_shutdown();
  vg_cameras_stop_all();
  assert_int_equal(vg_config_store_open(db_path, key_path, &store), 0);
  vg_cameras_api_init(store, NULL);
  assert_int_equal(vg_camera_add(&file_cam, NULL), 0);
  assert_int_equal(vg_cameras_api_add_file_camera(&file_cam, NULL), 0);
  assert_int_equal(vg_cameras_api_load_store(), 2);
  assert_string_equal(vg_camera_find("c1")->cfg.url, "rtsp://bob:hunter2@10.0.0.7/live");
  assert_string_equal(vg_camera_find("c2")->cfg.url, "rtsp://u:pw2@10.0.0.8/");

  /* Under another node key the sealed URL does not open: that camera is
   * skipped (logged), the others load. */
  vg_config_store_t *other;
  char other_key[300];
  snprintf(other_key, sizeof(other_key), "%s.other", key_path);
  assert_int_equal(vg_config_store_open(db_path, other_key, &other), 0);
  int seen = 0;
  assert_int_equal(vg_config_store_foreach(other, count_rows, &seen), 0);
  assert_int_equal(seen, 0); /* both stored URLs hold credentials */
  vg_config_store_close(&other);
  unlink(other_key);

  /* Delete: gone from the cameras and from the store. */
  a = call("DELETE", "/api/v1/cameras/c1", NULL, NULL, NULL);
  assert_int_equal(a.status, 204);
  json_decref(a.body);
  assert_null(vg_camera_find("c1"));
  assert_int_equal(vg_config_store_delete(store, "c1"), VG_ENOTFOUND);
  a = call("GET", "/api/v1/cameras/c1", NULL, NULL, NULL);
  assert_int_equal(a.status, 404);
  json_decref(a.body);

  vg_cameras_api_shutdown();
  vg_config_store_close(&store);
  vg_cameras_stop_all();
  json_decref(doc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_openapi_matches_routes),
      cmocka_unit_test(test_remove_and_hooks),
      cmocka_unit_test(test_probe),
      cmocka_unit_test(test_crud),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
