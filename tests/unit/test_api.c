/* Unit tests for the HTTP API: string builder, route table, Prometheus
 * formatting and registry, the v1 handlers and the "http" config. */
/* cmocka needs these first, in this order. */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/http_server.h"
#include "api/metrics.h"
#include "api/router.h"
#include "base/strbuf.h"
#include "base/error.h"
#include "ingest/camera.h"
#include "net/worker.h"

/* ---- strbuf ---- */

static void test_strbuf_limit_is_sticky(void **state) {
  vg_strbuf_t sb;
  vg_strbuf_init(&sb, 10);
  assert_int_equal(vg_strbuf_puts(&sb, "hello"), 0);
  assert_int_equal(vg_strbuf_printf(&sb, "%d", 1234), 0);
  assert_string_equal(sb.data, "hello1234");
  assert_int_equal(vg_strbuf_puts(&sb, "xy"), VG_ETOOBIG);
  assert_int_equal(vg_strbuf_puts(&sb, ""), VG_ETOOBIG); /* failure sticks */
  size_t len = 99;
  assert_null(vg_strbuf_steal(&sb, &len));
  assert_int_equal(len, 0);
  assert_int_equal(vg_strbuf_puts(&sb, "0123456789"), 0); /* exactly max fits */
  char *text = vg_strbuf_steal(&sb, &len);
  assert_string_equal(text, "0123456789");
  assert_int_equal(len, 10);
  free(text);
  vg_strbuf_free(&sb);
}

/* ---- routes ---- */

static int dummy(const vg_http_request_t *req, vg_http_response_t *res) { return 0; }

static const vg_http_route_t test_routes[] = {
    {"GET", "/api/v1/cameras", dummy, NULL},
    {"POST", "/api/v1/cameras", dummy, NULL},
    {"GET", "/api/v1/cameras/{id}", dummy, NULL},
    {"DELETE", "/api/v1/cameras/{id}", dummy, NULL},
    {"GET", "/api/v1/cameras/{id}/recordings/{day}", dummy, NULL},
};
#define NROUTES (sizeof(test_routes) / sizeof(test_routes[0]))

static int match(const char *method, const char *path, const vg_http_route_t **route, vg_http_request_t *req,
                 char *allow) {
  memset(req, 0, sizeof(*req));
  req->method = method;
  req->path = path;
  return vg_http_route_match(test_routes, NROUTES, req, route, allow, 64);
}

static void test_route_match_literal_and_params(void **state) {
  const vg_http_route_t *route;
  vg_http_request_t req;
  char allow[64];
  assert_int_equal(match("POST", "/api/v1/cameras", &route, &req, allow), 0);
  assert_ptr_equal(route, &test_routes[1]);
  assert_int_equal(req.param_count, 0);

  assert_int_equal(match("GET", "/api/v1/cameras/cam-1", &route, &req, allow), 0);
  assert_ptr_equal(route, &test_routes[2]);
  assert_string_equal(vg_http_param(&req, "id"), "cam-1");
  assert_null(vg_http_param(&req, "i"));

  assert_int_equal(match("GET", "/api/v1/cameras/c2/recordings/2026-11-21", &route, &req, allow), 0);
  assert_ptr_equal(route, &test_routes[4]);
  assert_string_equal(vg_http_param(&req, "id"), "c2");
  assert_string_equal(vg_http_param(&req, "day"), "2026-11-21");
}

static void test_route_not_found_and_method_not_allowed(void **state) {
  const vg_http_route_t *route;
  vg_http_request_t req;
  char allow[64];
  assert_int_equal(match("GET", "/api/v1/camera", &route, &req, allow), VG_ENOTFOUND);
  assert_int_equal(match("GET", "/api/v1/cameras/", &route, &req, allow), VG_ENOTFOUND); /* empty {id} */
  assert_int_equal(match("GET", "/api/v1/cameras/a/b", &route, &req, allow), VG_ENOTFOUND);
  assert_int_equal(match("GET", "/api/v1/cameras//recordings/x", &route, &req, allow), VG_ENOTFOUND);
  assert_int_equal(match("GET", "", &route, &req, allow), VG_ENOTFOUND);
  assert_int_equal(match("GET", "api/v1/cameras", &route, &req, allow), VG_ENOTFOUND);
  char long_id[300];
  memset(long_id, 'a', sizeof(long_id));
  memcpy(long_id, "/api/v1/cameras/", 16);
  long_id[sizeof(long_id) - 1] = '\0';
  assert_int_equal(match("GET", long_id, &route, &req, allow), VG_ENOTFOUND);

  assert_int_equal(match("PUT", "/api/v1/cameras", &route, &req, allow), VG_EUNSUPPORTED);
  assert_string_equal(allow, "GET, HEAD, POST");
  assert_int_equal(match("PATCH", "/api/v1/cameras/x", &route, &req, allow), VG_EUNSUPPORTED);
  assert_string_equal(allow, "GET, HEAD, DELETE");
}

/* ---- metrics formatting ---- */

static void test_metrics_escaping_and_format(void **state) {
  vg_strbuf_t sb;
  vg_strbuf_init(&sb, 0);
  vg_metrics_family(&sb, "vigil_x_total", "counter", "A help\\text\nwith \"quotes\".");
  const char *labels[] = {"camera", "we\"ird\\id\nx", "kind", "rtsp", NULL};
  vg_metrics_sample_u64(&sb, "vigil_x_total", labels, 18446744073709551615ull);
  vg_metrics_sample(&sb, "vigil_y", NULL, 0.1);
  vg_metrics_sample(&sb, "vigil_y", NULL, 1.0 / 0.0);
  vg_metrics_sample(&sb, "vigil_y", NULL, 3);
  assert_string_equal(sb.data,
                      "# HELP vigil_x_total A help\\\\text\\nwith \"quotes\".\n"
                      "# TYPE vigil_x_total counter\n"
                      "vigil_x_total{camera=\"we\\\"ird\\\\id\\nx\",kind=\"rtsp\"} 18446744073709551615\n"
                      "vigil_y 0.1\n"
                      "vigil_y +Inf\n"
                      "vigil_y 3\n");
  vg_strbuf_free(&sb);
  vg_metrics_single_u64(&sb, "vigil_z", "gauge", "One value.", 7);
  assert_string_equal(sb.data, "# HELP vigil_z One value.\n# TYPE vigil_z gauge\nvigil_z 7\n");
  vg_strbuf_free(&sb);
}

static void collect_a(void *opaque, vg_strbuf_t *out) {
  (*(int *)opaque)++;
  vg_metrics_family(out, "test_a", "gauge", "A.");
  vg_metrics_sample_u64(out, "test_a", NULL, 1);
}

static void collect_b(void *opaque, vg_strbuf_t *out) {
  vg_metrics_family(out, "test_b", "gauge", "B.");
  vg_metrics_sample_u64(out, "test_b", NULL, 2);
}

/* Every sample line must follow a TYPE line of its own family. */
static void assert_every_sample_typed(const char *page) {
  char family[128] = "";
  const char *line = page;
  while (*line) {
    const char *end = strchr(line, '\n');
    assert_non_null(end);
    if (strncmp(line, "# TYPE ", 7) == 0) {
      size_t n = strcspn(line + 7, " ");
      memcpy(family, line + 7, n);
      family[n] = '\0';
    } else if (line[0] != '#') {
      size_t n = strcspn(line, "{ ");
      assert_true(n == strlen(family) && strncmp(line, family, n) == 0);
    }
    line = end + 1;
  }
}

static void test_metrics_registry(void **state) {
  int calls = 0;
  assert_int_equal(vg_metrics_register("a", collect_a, &calls), 0);
  assert_int_equal(vg_metrics_register("b", collect_b, NULL), 0);
  vg_strbuf_t sb;
  vg_strbuf_init(&sb, 0);
  assert_int_equal(vg_metrics_render(&sb), 0);
  assert_int_equal(calls, 1);
  assert_non_null(strstr(sb.data, "\ntest_a 1\n"));
  assert_non_null(strstr(sb.data, "\ntest_b 2\n"));
  assert_true(strstr(sb.data, "test_a 1") < strstr(sb.data, "test_b 2"));
  assert_non_null(strstr(sb.data, "\n# TYPE vigil_process_cpu_seconds_total counter\n"));
  assert_non_null(strstr(sb.data, "\n# TYPE vigil_buffer_live_bytes gauge\n"));
  assert_every_sample_typed(sb.data);
  vg_strbuf_free(&sb);

  /* Registering a name again replaces it; unregistering removes it. */
  assert_int_equal(vg_metrics_register("a", collect_b, NULL), 0);
  vg_metrics_unregister("b");
  vg_metrics_render(&sb);
  assert_int_equal(calls, 1);
  assert_null(strstr(sb.data, "test_a"));
  assert_non_null(strstr(sb.data, "\ntest_b 2\n"));
  vg_metrics_unregister("a");
  vg_strbuf_free(&sb);
  vg_metrics_render(&sb);
  assert_null(strstr(sb.data, "test_b"));
  vg_strbuf_free(&sb);
}

/* ---- handlers ---- */

static json_t *dispatch(const char *method, const char *path, int *status, char *allow) {
  vg_http_request_t req = {.method = method, .path = path, .query = ""};
  vg_http_response_t res;
  vg_http_response_init(&res);
  vg_api_dispatch(&req, &res);
  *status = res.status;
  if (allow) strcpy(allow, res.allow);
  json_error_t err;
  json_t *j = strcmp(res.content_type, "application/json") == 0
                  ? json_loadb(res.body.data, res.body.len, 0, &err)
                  : json_string(res.body.data);
  vg_http_response_free(&res);
  assert_non_null(j);
  return j;
}

static void assert_error(json_t *j, const char *code) {
  assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")), code);
  assert_true(json_is_string(json_object_get(json_object_get(j, "error"), "message")));
}

static void test_api_errors(void **state) {
  int status;
  char allow[64];
  json_t *j = dispatch("GET", "/api/v1/nothing", &status, NULL);
  assert_int_equal(status, 404);
  assert_error(j, "not_found");
  json_decref(j);
  j = dispatch("DELETE", "/api/v1/health", &status, allow);
  assert_int_equal(status, 405);
  assert_string_equal(allow, "GET, HEAD");
  assert_error(j, "method_not_allowed");
  json_decref(j);
  j = dispatch("GET", "/api/v1/cameras/\xff\xfe%s", &status, NULL); /* not UTF-8: still a JSON answer */
  assert_int_equal(status, 404);
  assert_error(j, "not_found");
  json_decref(j);
  j = dispatch("HEAD", "/api/v1/health", &status, NULL);
  assert_int_equal(status, 200);
  json_decref(j);
  assert_true(vg_api_owns_path("/metrics") && vg_api_owns_path("/api") && vg_api_owns_path("/api/x"));
  assert_false(vg_api_owns_path("/apix") || vg_api_owns_path("/") || vg_api_owns_path("/index.html"));
}

static void fake_start(vg_camera_t *cam) {
  vg_camera_source_failed(cam, VG_ECONNREFUSED, "connection refused");
}
static void fake_stop(vg_camera_t *cam, void (*done)(vg_camera_t *cam)) { done(cam); }
static const vg_source_ops_t fake_ops = {"fake", fake_start, fake_stop};

/* One disabled camera exists for the whole run: vg_cameras_foreach() on an
 * empty registry passes NULL to memcpy (ingest/camera.c, reported), which
 * UBSan rejects. */
static int setup_cameras(void **state) {
  vg_source_register(VG_SOURCE_RTSP, &fake_ops);
  if (vg_workers_start(1) != 0) return -1;
  vg_camera_config_t cfg = {.kind = VG_SOURCE_RTSP, .enabled = false};
  strcpy(cfg.id, "zz");
  strcpy(cfg.name, "zz");
  strcpy(cfg.url, "rtsp://10.0.0.3/x");
  return vg_camera_add(&cfg, NULL);
}

static int teardown_cameras(void **state) {
  vg_cameras_stop_all();
  vg_workers_stop();
  return 0;
}

static void test_cameras_and_health(void **state) {
  vg_camera_config_t cfg = {
      .kind = VG_SOURCE_RTSP, .enabled = true, .backoff_min_ms = 60000, .backoff_max_ms = 60000};
  strcpy(cfg.id, "door");
  strcpy(cfg.name, "Front \"door\"");
  strcpy(cfg.url, "rtsp://admin:s3cret@10.0.0.1:554/live");
  assert_int_equal(vg_camera_add(&cfg, NULL), 0);
  cfg.enabled = false;
  strcpy(cfg.id, "attic");
  strcpy(cfg.name, "attic");
  strcpy(cfg.url, "rtsp://10.0.0.2/x");
  assert_int_equal(vg_camera_add(&cfg, NULL), 0);

  int status = 0;
  json_t *list = NULL;
  for (int tries = 0; tries < 200; tries++) { /* the camera starts on its worker */
    json_decref(list);
    list = dispatch("GET", "/api/v1/cameras", &status, NULL);
    json_t *door = json_array_get(json_object_get(list, "cameras"), 1);
    if (strcmp(json_string_value(json_object_get(door, "state")), "offline") == 0) break;
    usleep(10000);
  }
  assert_int_equal(status, 200);
  json_t *cams = json_object_get(list, "cameras");
  assert_int_equal(json_array_size(cams), 3);
  json_t *attic = json_array_get(cams, 0), *door = json_array_get(cams, 1); /* sorted by id */
  assert_string_equal(json_string_value(json_object_get(attic, "state")), "disabled");
  assert_true(json_is_null(json_object_get(attic, "reason")));
  assert_string_equal(json_string_value(json_object_get(door, "id")), "door");
  assert_string_equal(json_string_value(json_object_get(door, "name")), "Front \"door\"");
  assert_string_equal(json_string_value(json_object_get(door, "type")), "rtsp");
  assert_string_equal(json_string_value(json_object_get(door, "url")), "rtsp://10.0.0.1:554/live");
  assert_string_equal(json_string_value(json_object_get(door, "state")), "offline");
  assert_string_equal(json_string_value(json_object_get(door, "reason")), "connection refused");
  assert_string_equal(json_string_value(json_object_get(door, "last_error")), "connection refused");
  const char *since = json_string_value(json_object_get(door, "state_since"));
  assert_int_equal(strlen(since), 24);
  assert_int_equal(since[23], 'Z');
  assert_int_equal(json_array_size(json_object_get(door, "tracks")), 0);
  json_t *counters = json_object_get(door, "counters");
  const char *names[] = {"frames", "bytes", "rtp_packets", "rtp_lost", "reconnects", "errors"};
  for (size_t i = 0; i < 6; i++)
    assert_true(json_is_integer(json_object_get(counters, names[i])));
  char *text = json_dumps(list, 0);
  assert_null(strstr(text, "s3cret"));
  free(text);
  json_decref(list);

  json_t *one = dispatch("GET", "/api/v1/cameras/door", &status, NULL);
  assert_int_equal(status, 200);
  assert_string_equal(json_string_value(json_object_get(one, "url")), "rtsp://10.0.0.1:554/live");
  json_decref(one);

  json_t *health = dispatch("GET", "/api/v1/health", &status, NULL);
  assert_int_equal(status, 200);
  assert_string_equal(json_string_value(json_object_get(health, "status")), "ok");
  assert_string_equal(json_string_value(json_object_get(health, "version")), VG_VERSION);
  assert_true(json_integer_value(json_object_get(health, "uptime_s")) >= 0);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(health, "cameras"), "total")), 3);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(health, "cameras"), "online")), 0);
  json_decref(health);

  json_t *page = dispatch("GET", "/metrics", &status, NULL);
  const char *m = json_string_value(page);
  assert_non_null(strstr(m, "\nvigil_camera_up{camera=\"door\"} 0\n"));
  assert_non_null(strstr(m, "\nvigil_camera_frames_total{camera=\"attic\"} 0\n"));
  assert_non_null(strstr(m, "\nvigil_cameras{state=\"offline\"} 1\n"));
  assert_non_null(strstr(m, "\nvigil_cameras{state=\"disabled\"} 2\n"));
  assert_every_sample_typed(m);
  json_decref(page);
}

/* ---- config ---- */

static int parse(const char *text, vg_http_config_t *out, vg_cfg_t *c) {
  json_t *root = NULL;
  memset(c, 0, sizeof(*c));
  assert_int_equal(vg_cfg_load_string(c, text, &root), 0);
  vg_cfg_enter(c, "http");
  int rc = vg_http_config_parse(c, json_object_get(root, "http"), out);
  json_decref(root);
  return rc;
}

static void test_http_config(void **state) {
  vg_cfg_t c;
  vg_http_config_t cfg;
  assert_int_equal(parse("{}", &cfg, &c), 0);
  assert_string_equal(cfg.bind, "0.0.0.0");
  assert_int_equal(cfg.port, 8080);
  assert_string_equal(cfg.web_root, "");
  assert_true(cfg.enabled);
  assert_int_equal(
      parse("{\"http\":{\"bind\":\"127.0.0.1\",\"port\":9000,\"web_root\":\"/srv/w\",\"enabled\":false}}",
            &cfg, &c),
      0);
  assert_string_equal(cfg.bind, "127.0.0.1");
  assert_int_equal(cfg.port, 9000);
  assert_string_equal(cfg.web_root, "/srv/w");
  assert_false(cfg.enabled);
  assert_int_equal(parse("{\"http\":{\"prot\":80}}", &cfg, &c), VG_ECONFIG);
  assert_string_equal(c.err_path, "http.prot");
  assert_int_equal(parse("{\"http\":{\"port\":0}}", &cfg, &c), VG_ECONFIG);
  assert_string_equal(c.err_path, "http.port");
  assert_int_equal(parse("{\"http\":[]}", &cfg, &c), VG_ECONFIG);
}

static void test_query_and_headers(void **state) {
  (void)state;
  vg_http_request_t req = {
      .method = "GET", .path = "/x", .query = "start=2026-11-21T10%3A00%3A00Z&q=a+b&empty=&flag"};
  char v[32];
  assert_int_equal(vg_http_query(&req, "start", v, sizeof(v)), 20);
  assert_string_equal(v, "2026-11-21T10:00:00Z");
  assert_int_equal(vg_http_query(&req, "q", v, sizeof(v)), 3);
  assert_string_equal(v, "a b");
  assert_int_equal(vg_http_query(&req, "empty", v, sizeof(v)), 0);
  assert_int_equal(vg_http_query(&req, "flag", v, sizeof(v)), 0);
  assert_int_equal(vg_http_query(&req, "sta", v, sizeof(v)), VG_ENOTFOUND);
  assert_int_equal(vg_http_query(&req, "start", v, 8), VG_ETOOBIG);
  req.query = "bad=%zz&nul=%00";
  assert_int_equal(vg_http_query(&req, "bad", v, sizeof(v)), VG_EINVAL);
  assert_int_equal(vg_http_query(&req, "nul", v, sizeof(v)), VG_EINVAL);

  req.headers[VG_HTTP_HDR_RANGE] = "bytes=0-99";
  assert_string_equal(vg_http_header(&req, VG_HTTP_HDR_RANGE), "bytes=0-99");
  assert_null(vg_http_header(&req, VG_HTTP_HDR_COOKIE));

  vg_http_response_t res;
  vg_http_response_init(&res);
  assert_int_equal(vg_http_add_header(&res, "Accept-Ranges", "%s", "bytes"), 0);
  assert_int_equal(vg_http_add_header(&res, "Set-Cookie", "a=%d", 1), 0);
  assert_int_equal(vg_http_add_header(&res, "Bad Name", "x"), VG_EINVAL);
  assert_int_equal(vg_http_add_header(&res, "X-Split", "a\r\nInjected: 1"), VG_EINVAL);
  assert_string_equal(res.headers.data, "Accept-Ranges: bytes\r\nSet-Cookie: a=1\r\n");
  vg_http_response_free(&res);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_strbuf_limit_is_sticky),
      cmocka_unit_test(test_route_match_literal_and_params),
      cmocka_unit_test(test_route_not_found_and_method_not_allowed),
      cmocka_unit_test(test_metrics_escaping_and_format),
      cmocka_unit_test(test_metrics_registry),
      cmocka_unit_test(test_api_errors),
      cmocka_unit_test(test_cameras_and_health),
      cmocka_unit_test(test_http_config),
      cmocka_unit_test(test_query_and_headers),
  };
  return cmocka_run_group_tests(tests, setup_cameras, teardown_cameras);
}
