/*
 * format.c: the notifications' configuration and their pure helpers:
 * payloads, filters, signatures, backoff, delivery ids (notify.h).
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <sodium.h>

#include "base/error.h"
#include "base/log.h"
#include "base/secret.h"
#include "notify/notify.h"

/* ---- configuration ---- */

static void parse_mqtt(vg_cfg_t *c, json_t *obj, vg_mqtt_config_t *m) {
  static const char *const keys[] = {"enabled",
                                     "host",
                                     "port",
                                     "username",
                                     "password",
                                     "client_id",
                                     "topic_prefix",
                                     "discovery_prefix",
                                     "tls",
                                     "tls_ca_file",
                                     "tls_insecure",
                                     "keepalive_s",
                                     "reconnect_min_ms",
                                     "reconnect_max_ms",
                                     "queue_max",
                                     NULL};
  long long v;
  if (obj && !json_is_object(obj)) {
    vg_cfg_fail(c, NULL, "must be an object");
    return;
  }
  vg_cfg_check_keys(c, obj, keys);
  vg_cfg_bool(c, obj, "enabled", obj != NULL, &m->enabled);
  vg_cfg_str(c, obj, "host", "127.0.0.1", m->host, sizeof(m->host));
  vg_cfg_bool(c, obj, "tls", false, &m->tls);
  vg_cfg_int(c, obj, "port", m->tls ? 8883 : 1883, 1, 65535, &v);
  m->port = (int)v;
  vg_cfg_str(c, obj, "username", "", m->username, sizeof(m->username));
  if (vg_cfg_str(c, obj, "password", "", m->password, sizeof(m->password)) == 0 &&
      !vg_secret_is_sealed(m->password) && strlen(m->password) > VG_MQTT_PASSWORD_MAX)
    vg_cfg_fail(c, "password", "longer than %d characters", VG_MQTT_PASSWORD_MAX);
  char host[64] = "node";
  gethostname(host, sizeof(host) - 1);
  char def_id[128];
  snprintf(def_id, sizeof(def_id), "vigil-%s", host);
  vg_cfg_str(c, obj, "client_id", def_id, m->client_id, sizeof(m->client_id));
  vg_cfg_str(c, obj, "topic_prefix", "vigil", m->topic_prefix, sizeof(m->topic_prefix));
  vg_cfg_str(c, obj, "discovery_prefix", "homeassistant", m->discovery_prefix, sizeof(m->discovery_prefix));
  vg_cfg_str(c, obj, "tls_ca_file", "", m->tls_ca_file, sizeof(m->tls_ca_file));
  vg_cfg_bool(c, obj, "tls_insecure", false, &m->tls_insecure);
  vg_cfg_int(c, obj, "keepalive_s", 30, 5, 3600, &v);
  m->keepalive_s = (int)v;
  vg_cfg_int(c, obj, "reconnect_min_ms", 1000, 100, 600000, &v);
  m->reconnect_min_ms = (int)v;
  vg_cfg_int(c, obj, "reconnect_max_ms", 30000, 100, 3600000, &v);
  m->reconnect_max_ms = (int)v;
  vg_cfg_int(c, obj, "queue_max", 10000, 0, 10000000, &v);
  m->queue_max = (int)v;
  if (!c->failed && (!m->topic_prefix[0] || strpbrk(m->topic_prefix, "+#")))
    vg_cfg_fail(c, "topic_prefix", "must be a non-empty topic without wildcards");
  if (!c->failed && strpbrk(m->discovery_prefix, "+#"))
    vg_cfg_fail(c, "discovery_prefix", "must not hold wildcards");
  if (!c->failed && m->reconnect_max_ms < m->reconnect_min_ms)
    vg_cfg_fail(c, "reconnect_max_ms", "must not be below reconnect_min_ms");
}

/* A list of strings into rows of a fixed width. */
static void parse_list(vg_cfg_t *c, json_t *obj, const char *key, char *rows, size_t width, int max,
                       int *count) {
  json_t *arr = vg_cfg_array(c, obj, key, 0);
  *count = 0;
  if (!arr) return;
  if (json_array_size(arr) > (size_t)max) {
    vg_cfg_fail(c, key, "at most %d entries", max);
    return;
  }
  for (size_t i = 0; i < json_array_size(arr); i++) {
    const char *s = json_string_value(json_array_get(arr, i));
    if (!s || !*s || strlen(s) >= width) {
      vg_cfg_fail(c, key, "entries must be strings of 1 to %zu bytes", width - 1);
      return;
    }
    snprintf(rows + i * width, width, "%s", s);
    (*count)++;
  }
}

static const char *const severity_names[] = {"info", "low", "medium", "high", "critical", NULL};

static void parse_filter(vg_cfg_t *c, json_t *obj, vg_notify_filter_t *f) {
  static const char *const keys[] = {"cameras", "kinds", "labels", "types", "min_severity", NULL};
  if (obj && !json_is_object(obj)) {
    vg_cfg_fail(c, NULL, "must be an object");
    return;
  }
  vg_cfg_check_keys(c, obj, keys);
  parse_list(c, obj, "cameras", &f->cameras[0][0], sizeof(f->cameras[0]), VG_NOTIFY_FILTER_MAX,
             &f->camera_count);
  parse_list(c, obj, "kinds", &f->kinds[0][0], sizeof(f->kinds[0]), VG_NOTIFY_FILTER_MAX, &f->kind_count);
  parse_list(c, obj, "labels", &f->labels[0][0], sizeof(f->labels[0]), VG_NOTIFY_FILTER_MAX, &f->label_count);
  parse_list(c, obj, "types", &f->types[0][0], sizeof(f->types[0]), 3, &f->type_count);
  for (int i = 0; i < f->type_count; i++)
    if (strcmp(f->types[i], "new") && strcmp(f->types[i], "update") && strcmp(f->types[i], "end"))
      vg_cfg_fail(c, "types", "entries are \"new\", \"update\" or \"end\"");
  if (!obj || !json_object_get(obj, "types")) {
    snprintf(f->types[0], sizeof(f->types[0]), "new");
    snprintf(f->types[1], sizeof(f->types[1]), "end");
    f->type_count = 2;
  }
  vg_cfg_enum(c, obj, "min_severity", severity_names, VG_EVENT_SEVERITY_INFO, &f->min_severity);
}

static void parse_webhook(vg_cfg_t *c, json_t *obj, vg_webhook_config_t *w) {
  static const char *const keys[] = {
      "id", "url", "secret", "events", "timeout_ms", "max_retries", "backoff_min_ms", "backoff_max_ms", NULL};
  long long v;
  if (!json_is_object(obj)) {
    vg_cfg_fail(c, NULL, "must be an object");
    return;
  }
  vg_cfg_check_keys(c, obj, keys);
  vg_cfg_str(c, obj, "id", NULL, w->id, sizeof(w->id));
  vg_cfg_str(c, obj, "url", NULL, w->url, sizeof(w->url));
  if (vg_cfg_str(c, obj, "secret", "", w->secret, sizeof(w->secret)) == 0 &&
      !vg_secret_is_sealed(w->secret) && strlen(w->secret) > VG_WEBHOOK_SECRET_MAX)
    vg_cfg_fail(c, "secret", "longer than %d characters", VG_WEBHOOK_SECRET_MAX);
  json_t *events = vg_cfg_object(c, obj, "events", 0);
  vg_cfg_enter(c, "events");
  parse_filter(c, events, &w->events);
  vg_cfg_leave(c);
  vg_cfg_int(c, obj, "timeout_ms", 10000, 100, 600000, &v);
  w->timeout_ms = (int)v;
  vg_cfg_int(c, obj, "max_retries", 20, -1, 1000000, &v);
  w->max_retries = (int)v;
  vg_cfg_int(c, obj, "backoff_min_ms", 1000, 10, 3600000, &v);
  w->backoff_min_ms = (int)v;
  vg_cfg_int(c, obj, "backoff_max_ms", 300000, 10, 86400000, &v);
  w->backoff_max_ms = (int)v;
  if (c->failed) return;
  if (!w->id[0] ||
      strspn(w->id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != strlen(w->id))
    vg_cfg_fail(c, "id", "required: letters, digits, '_', '-' and '.'");
  else if (strncmp(w->url, "http://", 7) && strncmp(w->url, "https://", 8))
    vg_cfg_fail(c, "url", "required: an http:// or https:// URL");
  else if (w->backoff_max_ms < w->backoff_min_ms)
    vg_cfg_fail(c, "backoff_max_ms", "must not be below backoff_min_ms");
}

int vg_notify_config_parse(vg_cfg_t *c, json_t *root, vg_notify_config_t *out) {
  long long v;
  memset(out, 0, sizeof(*out));
  json_t *mqtt = vg_cfg_object(c, root, "mqtt", 0);
  vg_cfg_enter(c, "mqtt");
  parse_mqtt(c, mqtt, &out->mqtt);
  vg_cfg_leave(c);

  json_t *hooks = vg_cfg_array(c, root, "webhooks", 0);
  size_t n = hooks ? json_array_size(hooks) : 0;
  vg_cfg_enter(c, "webhooks");
  if (n > VG_NOTIFY_MAX_WEBHOOKS) vg_cfg_fail(c, NULL, "at most %d endpoints", VG_NOTIFY_MAX_WEBHOOKS);
  for (size_t i = 0; i < n && !c->failed; i++) {
    vg_cfg_enter_index(c, i);
    parse_webhook(c, json_array_get(hooks, i), &out->webhooks[i]);
    for (size_t j = 0; j < i && !c->failed; j++)
      if (!strcmp(out->webhooks[j].id, out->webhooks[i].id))
        vg_cfg_fail(c, "id", "duplicate webhook id \"%s\"", out->webhooks[i].id);
    vg_cfg_leave(c);
    out->webhook_count = (int)i + 1;
  }
  vg_cfg_leave(c);

  json_t *notify = vg_cfg_object(c, root, "notify", 0);
  vg_cfg_enter(c, "notify");
  vg_cfg_check_keys(c, notify, (const char *const[]){"sse_queue", "sse_replay", NULL});
  vg_cfg_int(c, notify, "sse_queue", 256, 8, 65536, &v);
  out->sse_queue = (int)v;
  vg_cfg_int(c, notify, "sse_replay", 256, 0, 65536, &v);
  out->sse_replay = (int)v;
  vg_cfg_leave(c);
  return c->failed ? VG_ECONFIG : 0;
}

/* Opens one sealed member in place; loads the key on first need. */
static int open_one(const vg_notify_config_t *cfg, uint8_t key[VG_SECRET_KEY_LEN], bool *have_key,
                    const char *what, char *value, size_t size, size_t max) {
  static const vg_log_ctx_t lg = {"notify", NULL};
  if (!vg_secret_is_sealed(value)) return 0;
  int err = 0;
  if (!*have_key) {
    if (!cfg->secret_key_file[0]) {
      vg_log_error(&lg, "%s is sealed but no node key is configured", what);
      return VG_EINVAL;
    }
    err = vg_secret_key_load(cfg->secret_key_file, key);
    if (err) {
      vg_log_error(&lg, "%s is sealed and the node key %s cannot be read: %s", what, cfg->secret_key_file,
                   vg_strerror(err));
      return err;
    }
    *have_key = true;
  }
  char *plain = malloc(size);
  if (!plain) return VG_ENOMEM;
  int n = vg_secret_open(key, value, plain, size);
  if (n >= 0 && (size_t)n > max) n = VG_ETOOBIG;
  if (n < 0) {
    vg_log_error(&lg, "%s does not open under the node key %s: %s", what, cfg->secret_key_file,
                 n == VG_EAUTH ? "sealed under another key or altered" : vg_strerror(n));
    err = n;
  } else {
    memcpy(value, plain, (size_t)n + 1);
  }
  sodium_memzero(plain, size);
  free(plain);
  return err;
}

int vg_notify_open_secrets(vg_notify_config_t *cfg) {
  uint8_t key[VG_SECRET_KEY_LEN];
  bool have_key = false;
  int err = open_one(cfg, key, &have_key, "mqtt.password", cfg->mqtt.password, sizeof(cfg->mqtt.password),
                     VG_MQTT_PASSWORD_MAX);
  for (int i = 0; !err && i < cfg->webhook_count; i++) {
    char what[96];
    snprintf(what, sizeof(what), "webhooks[%d].secret (%s)", i, cfg->webhooks[i].id);
    err = open_one(cfg, key, &have_key, what, cfg->webhooks[i].secret, sizeof(cfg->webhooks[i].secret),
                   VG_WEBHOOK_SECRET_MAX);
  }
  sodium_memzero(key, sizeof(key));
  return err;
}

/* ---- payloads and filters ---- */

json_t *vg_notify_event_json(const char *type, const vg_event_t *before, const vg_event_t *after) {
  json_t *a = vg_event_to_json(after);
  json_t *b = before ? vg_event_to_json(before) : json_null();
  if (!a || !b) {
    json_decref(a);
    json_decref(b);
    return NULL;
  }
  return json_pack("{s:s, s:o, s:o}", "type", type, "before", b, "after", a);
}

static bool in_list(const char *rows, size_t width, int count, const char *value) {
  if (!count) return true;
  for (int i = 0; i < count; i++)
    if (!strcmp(rows + (size_t)i * width, value)) return true;
  return false;
}

bool vg_notify_filter_match(const vg_notify_filter_t *f, const char *type, const vg_event_t *ev) {
  return ev->severity >= f->min_severity &&
         in_list(&f->types[0][0], sizeof(f->types[0]), f->type_count, type) &&
         in_list(&f->cameras[0][0], sizeof(f->cameras[0]), f->camera_count, ev->camera) &&
         in_list(&f->kinds[0][0], sizeof(f->kinds[0]), f->kind_count, ev->kind) &&
         in_list(&f->labels[0][0], sizeof(f->labels[0]), f->label_count, ev->label);
}

/* ---- signatures, backoff, ids ---- */

int vg_notify_sign(const char *secret, int64_t timestamp_s, const char *body, size_t len, char out[65]) {
  char prefix[32];
  int n = snprintf(prefix, sizeof(prefix), "%lld.", (long long)timestamp_s);
  if (!secret || n <= 0) return VG_EINVAL;
  uint8_t mac[EVP_MAX_MD_SIZE];
  unsigned mac_len = 0;
  /* The one-shot HMAC() over a joined copy: bodies are small. */
  size_t total = (size_t)n + len;
  uint8_t *msg = malloc(total ? total : 1);
  if (!msg) return VG_ENOMEM;
  memcpy(msg, prefix, (size_t)n);
  if (len) memcpy(msg + n, body, len);
  uint8_t *r = HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, total, mac, &mac_len);
  free(msg);
  if (!r || mac_len != 32) return VG_EINVAL;
  for (unsigned i = 0; i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", mac[i]);
  return 0;
}

int64_t vg_notify_backoff_ms(int attempt, int min_ms, int max_ms, double rnd) {
  if (attempt < 1) attempt = 1;
  double d = (double)min_ms;
  for (int i = 1; i < attempt && d < max_ms; i++)
    d *= 2;
  if (d > max_ms) d = max_ms;
  if (rnd < 0) rnd = 0;
  if (rnd > 1) rnd = 1;
  d *= 0.8 + 0.4 * rnd;
  return (int64_t)llround(d);
}

void vg_notify_uuid(char out[37]) {
  uint8_t b[16];
  if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
    /* getrandom on Linux does not fail for 16 bytes once the pool is up;
     * a fallback keeps ids unique within the process anyway. */
    static atomic_ulong counter;
    unsigned long n = atomic_fetch_add(&counter, 1) ^ (unsigned long)getpid();
    memset(b, 0, sizeof(b));
    memcpy(b, &n, sizeof(n));
  }
  b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
  b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
           b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

void vg_notify_topic_level(const char *name, char *out, size_t size) {
  size_t i = 0;
  for (; name[i] && i + 1 < size; i++) {
    unsigned char ch = (unsigned char)name[i];
    out[i] = (ch == '/' || ch == '+' || ch == '#' || ch < 0x20) ? '_' : (char)ch;
  }
  out[i] = '\0';
}
