/* Unit tests for notifications: webhook signatures, backoff, the durable
 * queue (including a writer killed mid-way), payloads and filters, the
 * MQTT state messages and discovery configs, the SSE hub, and the
 * configuration. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/error.h"
#include "base/secret.h"
#include "notify/notify.h"
#include "notify/notify_internal.h"

static vg_event_t sample_event(void) {
  vg_event_t ev;
  memset(&ev, 0, sizeof(ev));
  ev.id = 42;
  snprintf(ev.camera, sizeof(ev.camera), "door");
  snprintf(ev.kind, sizeof(ev.kind), "line_cross");
  snprintf(ev.label, sizeof(ev.label), "person");
  snprintf(ev.sensor, sizeof(ev.sensor), "gate");
  ev.severity = VG_EVENT_SEVERITY_HIGH;
  ev.start_utc_us = 1700000000000000LL;
  ev.active = true;
  return ev;
}

static void test_sign_matches_reference(void **state) {
  char sig[65];
  const char *body = "{\"a\":1}";
  assert_int_equal(vg_notify_sign("s3cret", 1700000000, body, strlen(body), sig), 0);
  /* Python: hmac.new(b"s3cret", b'1700000000.{"a":1}', hashlib.sha256).hexdigest() */
  assert_string_equal(sig, "1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940");
  char other[65];
  assert_int_equal(vg_notify_sign("s3cret", 1700000001, body, strlen(body), other), 0);
  assert_string_not_equal(sig, other); /* the timestamp is signed too */
  assert_int_equal(vg_notify_sign(NULL, 1, body, 1, sig), VG_EINVAL);
}

static void test_backoff_doubles_caps_and_jitters(void **state) {
  assert_int_equal(vg_notify_backoff_ms(1, 1000, 60000, 0.5), 1000);
  assert_int_equal(vg_notify_backoff_ms(2, 1000, 60000, 0.5), 2000);
  assert_int_equal(vg_notify_backoff_ms(4, 1000, 60000, 0.5), 8000);
  assert_int_equal(vg_notify_backoff_ms(30, 1000, 60000, 0.5), 60000);
  assert_int_equal(vg_notify_backoff_ms(1000000, 1000, 60000, 0.5), 60000);
  assert_int_equal(vg_notify_backoff_ms(1, 1000, 60000, 0.0), 800);
  assert_int_equal(vg_notify_backoff_ms(1, 1000, 60000, 1.0), 1200);
  assert_int_equal(vg_notify_backoff_ms(0, 1000, 60000, 0.5), 1000);
}

static void test_classify(void **state) {
  assert_int_equal(vg__webhook_classify(1, 200), 1);
  assert_int_equal(vg__webhook_classify(1, 204), 1);
  assert_int_equal(vg__webhook_classify(0, 0), 0); /* timeout, refused */
  assert_int_equal(vg__webhook_classify(1, 500), 0);
  assert_int_equal(vg__webhook_classify(1, 503), 0);
  assert_int_equal(vg__webhook_classify(1, 408), 0);
  assert_int_equal(vg__webhook_classify(1, 429), 0);
  assert_int_equal(vg__webhook_classify(1, 400), -1);
  assert_int_equal(vg__webhook_classify(1, 404), -1);
  assert_int_equal(vg__webhook_classify(1, 301), -1);
}

static void test_uuid_and_topic_level(void **state) {
  char a[37], b[37];
  vg_notify_uuid(a);
  vg_notify_uuid(b);
  assert_int_equal(strlen(a), 36);
  assert_string_not_equal(a, b);
  assert_int_equal(a[14], '4');
  assert_true(strchr("89ab", a[19]) != NULL);
  assert_int_equal(a[8], '-');
  char t[32];
  vg_notify_topic_level("a/b+c#d", t, sizeof(t));
  assert_string_equal(t, "a_b_c_d");
  vg_notify_topic_level("0123456789", t, 5);
  assert_string_equal(t, "0123");
}

static char db_path[256];

static void fresh_db(void) {
  snprintf(db_path, sizeof(db_path), "/tmp/vigil-test-notify-%d.db", (int)getpid());
  unlink(db_path);
  char side[300];
  snprintf(side, sizeof(side), "%s-wal", db_path);
  unlink(side);
  snprintf(side, sizeof(side), "%s-shm", db_path);
  unlink(side);
}

static void test_queue_order_retry_and_replay(void **state) {
  fresh_db();
  vg__notify_queue_t *q = NULL;
  assert_int_equal(vg__queue_open(db_path, &q), 0);
  assert_int_equal(vg__queue_push(q, "a", "id-1", "new", "one", 3, 100), 0);
  assert_int_equal(vg__queue_push(q, "b", "id-2", "new", "two", 3, 100), 0);
  assert_int_equal(vg__queue_push(q, "a", "id-3", "end", "three", 5, 200), 0);
  assert_int_equal(vg__queue_count(q, "a"), 2);
  vg__notify_item_t it;
  assert_int_equal(vg__queue_peek(q, "a", &it), 0);
  assert_string_equal(it.delivery, "id-1");
  assert_string_equal(it.body, "one");
  assert_int_equal(it.attempts, 0);
  assert_int_equal(vg__queue_retry(q, it.row, 3, 5000), 0);
  free(it.body);
  vg__queue_close(&q);
  /* A restart reads back what was there, attempts included. */
  assert_int_equal(vg__queue_open(db_path, &q), 0);
  assert_int_equal(vg__queue_peek(q, "a", &it), 0);
  assert_string_equal(it.delivery, "id-1");
  assert_int_equal(it.attempts, 3);
  assert_int_equal(it.next_us, 5000);
  assert_int_equal(vg__queue_done(q, it.row), 0);
  free(it.body);
  assert_int_equal(vg__queue_peek(q, "a", &it), 0);
  assert_string_equal(it.delivery, "id-3");
  assert_string_equal(it.type, "end");
  assert_int_equal(it.len, 5);
  assert_int_equal(vg__queue_done(q, it.row), 0);
  free(it.body);
  assert_int_equal(vg__queue_peek(q, "a", &it), VG_ENOTFOUND);
  assert_int_equal(vg__queue_count(q, "b"), 1);
  vg__queue_close(&q);
  unlink(db_path);
}

/* A writer killed right after its pushes (no close, no checkpoint): every
 * push it finished is there for the next start, and nothing half-written. */
static void test_queue_survives_a_killed_writer(void **state) {
  fresh_db();
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    vg__notify_queue_t *q = NULL;
    if (vg__queue_open(db_path, &q)) _exit(2);
    char body[64];
    for (int i = 0; i < 20; i++) {
      snprintf(body, sizeof(body), "{\"n\":%d}", i);
      if (vg__queue_push(q, "hook", "d", "new", body, strlen(body), i)) _exit(3);
    }
    raise(SIGKILL);
    _exit(4);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  vg__notify_queue_t *q = NULL;
  assert_int_equal(vg__queue_open(db_path, &q), 0);
  assert_int_equal(vg__queue_count(q, "hook"), 20);
  for (int i = 0; i < 20; i++) {
    vg__notify_item_t it;
    assert_int_equal(vg__queue_peek(q, "hook", &it), 0);
    char want[64];
    snprintf(want, sizeof(want), "{\"n\":%d}", i);
    assert_string_equal(it.body, want);
    vg__queue_done(q, it.row);
    free(it.body);
  }
  vg__queue_close(&q);
  unlink(db_path);
}

static void test_event_json_and_filter(void **state) {
  vg_event_t before = sample_event(), after = sample_event();
  after.active = false;
  after.end_utc_us = before.start_utc_us + 5000000;
  json_t *j = vg_notify_event_json("end", &before, &after);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "type")), "end");
  assert_true(json_is_true(json_object_get(json_object_get(j, "before"), "active")));
  json_t *a = json_object_get(j, "after");
  assert_true(json_is_false(json_object_get(a, "active")));
  assert_int_equal(json_integer_value(json_object_get(a, "id")), 42);
  assert_string_equal(json_string_value(json_object_get(a, "camera")), "door");
  assert_string_equal(json_string_value(json_object_get(a, "severity")), "high");
  json_decref(j);
  j = vg_notify_event_json("new", NULL, &after);
  assert_true(json_is_null(json_object_get(j, "before")));
  json_decref(j);

  vg_notify_filter_t f;
  memset(&f, 0, sizeof(f));
  assert_true(vg_notify_filter_match(&f, "update", &after));
  snprintf(f.types[0], sizeof(f.types[0]), "new");
  f.type_count = 1;
  assert_true(vg_notify_filter_match(&f, "new", &after));
  assert_false(vg_notify_filter_match(&f, "end", &after));
  snprintf(f.cameras[0], sizeof(f.cameras[0]), "yard");
  f.camera_count = 1;
  assert_false(vg_notify_filter_match(&f, "new", &after));
  snprintf(f.cameras[1], sizeof(f.cameras[1]), "door");
  f.camera_count = 2;
  assert_true(vg_notify_filter_match(&f, "new", &after));
  f.min_severity = VG_EVENT_SEVERITY_CRITICAL;
  assert_false(vg_notify_filter_match(&f, "new", &after));
  f.min_severity = VG_EVENT_SEVERITY_HIGH;
  snprintf(f.kinds[0], sizeof(f.kinds[0]), "enter");
  f.kind_count = 1;
  assert_false(vg_notify_filter_match(&f, "new", &after));
}

typedef struct {
  char lines[32][200];
  int count;
} emitted_t;

static void record_emit(void *opaque, const char *suffix, const char *payload, bool new_label) {
  emitted_t *e = opaque;
  if (e->count < 32)
    snprintf(e->lines[e->count++], sizeof(e->lines[0]), "%s=%s%s", suffix, payload,
             new_label ? " (new)" : "");
}

static void add_object(vg_analytics_meta_t *m, const char *cls, bool confirmed) {
  vg_analytics_object_t *o = &m->objects[m->n_objects++];
  memset(o, 0, sizeof(*o));
  snprintf(o->class_name, sizeof(o->class_name), "%s", cls);
  o->confirmed = confirmed;
}

static void test_mqtt_state_messages(void **state) {
  vg__mqtt_camera_state_t st;
  memset(&st, 0, sizeof(st));
  snprintf(st.camera, sizeof(st.camera), "front/door");
  vg_analytics_meta_t *m = calloc(1, sizeof(*m));
  emitted_t e = {0};
  /* First meta: motion is announced even when off. */
  vg__mqtt_state_update(&st, m, record_emit, &e);
  assert_int_equal(e.count, 1);
  assert_string_equal(e.lines[0], "front_door/motion=OFF");
  /* Two confirmed people and a tentative car: person=2 (new label). */
  m->motion = true;
  add_object(m, "person", true);
  add_object(m, "person", true);
  add_object(m, "car", false);
  e.count = 0;
  vg__mqtt_state_update(&st, m, record_emit, &e);
  assert_int_equal(e.count, 2);
  assert_string_equal(e.lines[0], "front_door/motion=ON");
  assert_string_equal(e.lines[1], "front_door/person=2 (new)");
  /* The same again: nothing changes, nothing is sent. */
  e.count = 0;
  vg__mqtt_state_update(&st, m, record_emit, &e);
  assert_int_equal(e.count, 0);
  /* Everyone leaves: person=0, motion OFF. */
  m->n_objects = 0;
  m->motion = false;
  vg__mqtt_state_update(&st, m, record_emit, &e);
  assert_int_equal(e.count, 2);
  assert_string_equal(e.lines[0], "front_door/motion=OFF");
  assert_string_equal(e.lines[1], "front_door/person=0");
  free(m);
}

static void test_discovery_configs(void **state) {
  vg_mqtt_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  snprintf(cfg.topic_prefix, sizeof(cfg.topic_prefix), "vigil");
  snprintf(cfg.discovery_prefix, sizeof(cfg.discovery_prefix), "homeassistant");
  char topic[256];
  vg_strbuf_t p;
  vg_strbuf_init(&p, 1 << 16);
  assert_int_equal(vg__mqtt_discovery(&cfg, "front door", NULL, topic, sizeof(topic), &p), 0);
  assert_string_equal(topic, "homeassistant/binary_sensor/vigil_front_door_motion/config");
  json_t *j = json_loads(p.data, 0, NULL);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "state_topic")), "vigil/front door/motion");
  assert_string_equal(json_string_value(json_object_get(j, "device_class")), "motion");
  assert_string_equal(json_string_value(json_object_get(j, "availability_topic")), "vigil/available");
  assert_string_equal(json_string_value(json_object_get(j, "unique_id")), "vigil_front_door_motion");
  json_decref(j);
  vg_strbuf_free(&p);
  vg_strbuf_init(&p, 1 << 16);
  assert_int_equal(vg__mqtt_discovery(&cfg, "yard", "person", topic, sizeof(topic), &p), 0);
  assert_string_equal(topic, "homeassistant/sensor/vigil_yard_person_count/config");
  j = json_loads(p.data, 0, NULL);
  assert_string_equal(json_string_value(json_object_get(j, "state_topic")), "vigil/yard/person");
  assert_string_equal(json_string_value(json_object_get(j, "state_class")), "measurement");
  json_decref(j);
  vg_strbuf_free(&p);
}

static bool only_door(void *opaque, const char *camera) { return !strcmp(camera, "door"); }

static void count_wake(void *opaque) { (*(int *)opaque)++; }

static void test_sse_hub(void **state) {
  assert_int_equal(vg__sse_start(4, 8), 0);
  vg_sse_client_t *all = NULL, *door = NULL;
  assert_int_equal(vg_sse_open(NULL, NULL, NULL, 0, &all), 0);
  assert_int_equal(vg_sse_open(only_door, NULL, NULL, 0, &door), 0);
  int wakes = 0;
  vg_sse_set_wake(door, count_wake, &wakes);
  uint8_t buf[4096];
  long n = vg_sse_read(door, buf, sizeof(buf));
  assert_true(n > 0 && !memcmp(buf, "retry: 2000\n", 12));
  assert_int_equal(vg_sse_read(door, buf, sizeof(buf)), 0);
  vg__sse_publish("yard", "{\"x\":1}");
  vg__sse_publish("door", "{\"x\":2}");
  assert_int_equal(wakes, 1);
  n = vg_sse_read(door, buf, sizeof(buf));
  buf[n] = 0;
  unsigned long long id = 0;
  assert_int_equal(sscanf((char *)buf, "id: %llu\n", &id), 1);
  assert_non_null(strstr((char *)buf, "\ndata: {\"x\":2}\n\n"));
  assert_null(strstr((char *)buf, "\"x\":1"));
  /* A small buffer gets the message in pieces. */
  vg__sse_publish("door", "{\"x\":3}");
  char joined[256] = "";
  for (int i = 0; i < 100; i++) {
    uint8_t small[5];
    long k = vg_sse_read(door, small, sizeof(small));
    if (k <= 0) break;
    strncat(joined, (char *)small, (size_t)k);
  }
  assert_non_null(strstr(joined, "data: {\"x\":3}\n\n"));
  /* Replay after an id: what came later, filtered. */
  vg_sse_client_t *again = NULL;
  assert_int_equal(vg_sse_open(only_door, NULL, NULL, id, &again), 0);
  n = vg_sse_read(again, buf, sizeof(buf));
  buf[n] = 0;
  assert_null(strstr((char *)buf, "\"x\":2"));
  assert_non_null(strstr((char *)buf, "\"x\":3"));
  vg_sse_close(again);
  /* "all" never read: its queue of 4 overflows, it is closed once drained. */
  for (int i = 0; i < 6; i++)
    vg__sse_publish("door", "{}");
  while ((n = vg_sse_read(all, buf, sizeof(buf))) > 0) {
  }
  assert_int_equal(n, VG_ECLOSED);
  assert_int_equal(vg__sse_clients(), 2);
  vg_sse_close(all);
  vg__sse_stop();
  /* What was queued is still read out, then the stream ends. */
  while ((n = vg_sse_read(door, buf, sizeof(buf))) > 0) {
  }
  assert_int_equal(n, VG_ECLOSED);
  vg_sse_close(door);
  vg_sse_client_t *late = NULL;
  assert_int_equal(vg_sse_open(NULL, NULL, NULL, 0, &late), VG_ESTATE);
}

static int parse(const char *text, vg_notify_config_t *out, vg_cfg_t *c) {
  json_t *root;
  memset(c, 0, sizeof(*c));
  if (vg_cfg_load_string(c, text, &root)) return VG_ECONFIG;
  int err = vg_notify_config_parse(c, root, out);
  json_decref(root);
  return err;
}

static void test_config(void **state) {
  vg_notify_config_t *cfg = calloc(1, sizeof(*cfg));
  vg_cfg_t c;
  assert_int_equal(parse("{}", cfg, &c), 0);
  assert_false(cfg->mqtt.enabled);
  assert_int_equal(cfg->webhook_count, 0);
  assert_int_equal(parse("{\"mqtt\": {\"host\": \"broker\"}, \"webhooks\": [{\"id\": \"h\", \"url\": "
                         "\"https://x/y\", \"secret\": \"k\", \"events\": {\"cameras\": [\"door\"], "
                         "\"min_severity\": \"high\"}}]}",
                         cfg, &c),
                   0);
  assert_true(cfg->mqtt.enabled);
  assert_string_equal(cfg->mqtt.host, "broker");
  assert_int_equal(cfg->mqtt.port, 1883);
  assert_string_equal(cfg->mqtt.topic_prefix, "vigil");
  assert_string_equal(cfg->mqtt.discovery_prefix, "homeassistant");
  assert_int_equal(cfg->webhook_count, 1);
  assert_int_equal(cfg->webhooks[0].events.min_severity, VG_EVENT_SEVERITY_HIGH);
  assert_int_equal(cfg->webhooks[0].events.type_count, 2); /* new and end by default */
  assert_int_equal(cfg->webhooks[0].timeout_ms, 10000);
  assert_int_equal(parse("{\"mqtt\": {\"tls\": true}}", cfg, &c), 0);
  assert_int_equal(cfg->mqtt.port, 8883);
  assert_int_equal(parse("{\"webhooks\": [{\"id\": \"h\", \"url\": \"ftp://x\"}]}", cfg, &c), VG_ECONFIG);
  assert_non_null(strstr(c.err_path, "url"));
  assert_int_equal(parse("{\"webhooks\": [{\"id\": \"h\", \"url\": \"http://x\"}, {\"id\": \"h\", \"url\": "
                         "\"http://y\"}]}",
                         cfg, &c),
                   VG_ECONFIG);
  assert_int_equal(parse("{\"mqtt\": {\"topic_prefix\": \"a/#\"}}", cfg, &c), VG_ECONFIG);
  assert_int_equal(parse("{\"mqtt\": {\"bogus\": 1}}", cfg, &c), VG_ECONFIG);
  assert_int_equal(parse("{\"webhooks\": [{\"id\": \"h\", \"url\": \"http://x\", \"events\": {\"types\": "
                         "[\"later\"]}}]}",
                         cfg, &c),
                   VG_ECONFIG);
  free(cfg);
}

/* Secrets may be sealed in the configuration file: they open under the node
 * key, fail clearly under another key or without one, and plain ones keep
 * their length limits. */
static void test_sealed_secrets(void **state) {
  (void)state;
  char dir[] = "/tmp/vg_notify_keyXXXXXX";
  assert_non_null(mkdtemp(dir));
  char key_file[128], other_file[128];
  snprintf(key_file, sizeof(key_file), "%s/secret.key", dir);
  snprintf(other_file, sizeof(other_file), "%s/other.key", dir);
  uint8_t key[VG_SECRET_KEY_LEN], other[VG_SECRET_KEY_LEN];
  assert_int_equal(vg_secret_key_load(key_file, key), 0);
  assert_int_equal(vg_secret_key_load(other_file, other), 0);
  /* A password as long as a plain one may be, sealed, is longer than that. */
  char password[VG_MQTT_PASSWORD_MAX + 1];
  memset(password, 'p', VG_MQTT_PASSWORD_MAX);
  password[VG_MQTT_PASSWORD_MAX] = '\0';
  char sealed_pw[512], sealed_secret[512], foreign[512];
  assert_true(vg_secret_seal(key, password, strlen(password), sealed_pw, sizeof(sealed_pw)) > 0);
  assert_true(strlen(sealed_pw) > VG_MQTT_PASSWORD_MAX);
  assert_true(vg_secret_seal(key, "hook-key", 8, sealed_secret, sizeof(sealed_secret)) > 0);
  assert_true(vg_secret_seal(other, "hook-key", 8, foreign, sizeof(foreign)) > 0);

  vg_notify_config_t *cfg = calloc(1, sizeof(*cfg));
  vg_cfg_t c;
  char text[2048];
  snprintf(text, sizeof(text),
           "{\"mqtt\": {\"password\": \"%s\"}, \"webhooks\": [{\"id\": \"h\", \"url\": \"http://x\", "
           "\"secret\": \"%s\"}, {\"id\": \"p\", \"url\": \"http://y\", \"secret\": \"plain\"}]}",
           sealed_pw, sealed_secret);
  assert_int_equal(parse(text, cfg, &c), 0);
  assert_string_equal(cfg->mqtt.password, sealed_pw); /* parsing keeps the sealed text */
  snprintf(cfg->secret_key_file, sizeof(cfg->secret_key_file), "%s", key_file);
  assert_int_equal(vg_notify_open_secrets(cfg), 0);
  assert_string_equal(cfg->mqtt.password, password);
  assert_string_equal(cfg->webhooks[0].secret, "hook-key");
  assert_string_equal(cfg->webhooks[1].secret, "plain");

  /* No key configured: a sealed value is refused, plain ones need none. */
  assert_int_equal(parse(text, cfg, &c), 0);
  assert_int_equal(vg_notify_open_secrets(cfg), VG_EINVAL);
  assert_int_equal(parse("{\"mqtt\": {\"password\": \"plain\"}}", cfg, &c), 0);
  assert_int_equal(vg_notify_open_secrets(cfg), 0);
  assert_string_equal(cfg->mqtt.password, "plain");

  /* Sealed under another key, or altered: VG_EAUTH. */
  snprintf(text, sizeof(text), "{\"webhooks\": [{\"id\": \"h\", \"url\": \"http://x\", \"secret\": \"%s\"}]}",
           foreign);
  assert_int_equal(parse(text, cfg, &c), 0);
  snprintf(cfg->secret_key_file, sizeof(cfg->secret_key_file), "%s", key_file);
  assert_int_equal(vg_notify_open_secrets(cfg), VG_EAUTH);
  sealed_pw[10] = sealed_pw[10] == 'A' ? 'B' : 'A';
  snprintf(text, sizeof(text), "{\"mqtt\": {\"password\": \"%s\"}}", sealed_pw);
  assert_int_equal(parse(text, cfg, &c), 0);
  snprintf(cfg->secret_key_file, sizeof(cfg->secret_key_file), "%s", key_file);
  assert_int_equal(vg_notify_open_secrets(cfg), VG_EAUTH);

  /* Plain values keep their limits. */
  snprintf(text, sizeof(text), "{\"mqtt\": {\"password\": \"%sp\"}}", password);
  assert_int_equal(parse(text, cfg, &c), VG_ECONFIG);
  assert_non_null(strstr(c.err_path, "password"));
  free(cfg);
  unlink(key_file);
  unlink(other_file);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sign_matches_reference),
      cmocka_unit_test(test_backoff_doubles_caps_and_jitters),
      cmocka_unit_test(test_classify),
      cmocka_unit_test(test_uuid_and_topic_level),
      cmocka_unit_test(test_queue_order_retry_and_replay),
      cmocka_unit_test(test_queue_survives_a_killed_writer),
      cmocka_unit_test(test_event_json_and_filter),
      cmocka_unit_test(test_mqtt_state_messages),
      cmocka_unit_test(test_discovery_configs),
      cmocka_unit_test(test_sse_hub),
      cmocka_unit_test(test_config),
      cmocka_unit_test(test_sealed_secrets),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
