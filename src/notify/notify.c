/*
 * notify.c: the notifications service (notify.h): two bus subscriptions
 * ("event.*" and "analytics.meta"), the event before/after bookkeeping,
 * and the channels' counters on /metrics.
 *
 * The bus's dispatcher thread runs both callbacks, so the table of active
 * events (for "before") is only touched there.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/log.h"
#include "base/metrics.h"
#include "notify/notify_internal.h"

static const vg_log_ctx_t lg = {"notify", NULL};

#define MAX_ACTIVE 4096
#define BUS_QUEUE 4096

static struct {
  bool running;
  vg_notify_config_t *cfg; /* a copy with the secrets opened, zeroed at stop */
  vg_bus_sub_t *event_sub, *meta_sub;
  vg__mqtt_t *mqtt;
  vg__webhooks_t *webhooks;
  vg_event_t *active; /* the last state of each active event */
  int active_count;
  char mqtt_target[300];
} svc;

static vg_event_t *find_active(int64_t id) {
  for (int i = 0; i < svc.active_count; i++)
    if (svc.active[i].id == id) return &svc.active[i];
  return NULL;
}

/* Records ev as the event's last state (removing it at its end) and
 * copies the previous state into before; false when there was none. */
static bool remember(const vg_event_t *ev, bool end, vg_event_t *before) {
  vg_event_t *slot = find_active(ev->id);
  bool had = slot != NULL;
  if (had) *before = *slot;
  if (end) {
    if (slot) *slot = svc.active[--svc.active_count];
  } else if (slot) {
    *slot = *ev;
  } else if (svc.active_count < MAX_ACTIVE) {
    svc.active[svc.active_count++] = *ev;
  }
  return had;
}

static void on_event(void *opaque, const vg_bus_msg_t *msg) {
  const vg_event_t *ev = msg->data;
  const char *type = !strcmp(msg->topic, VG_EVENT_TOPIC_START)    ? "new"
                     : !strcmp(msg->topic, VG_EVENT_TOPIC_UPDATE) ? "update"
                     : !strcmp(msg->topic, VG_EVENT_TOPIC_END)    ? "end"
                                                                  : NULL;
  if (!type || !ev) return;
  vg_event_t before;
  bool had = remember(ev, !strcmp(type, "end"), &before);
  /* "new" carries the event as both before and after, as Frigate does. */
  json_t *j = vg_notify_event_json(type, had ? &before : ev, ev);
  char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (!text) {
    vg_log_error(&lg, "event %lld not announced: no memory", (long long)ev->id);
    return;
  }
  vg__mqtt_event(svc.mqtt, type, text);
  vg__webhooks_enqueue(svc.webhooks, type, ev, text);
  vg__sse_publish(ev->camera, text);
  free(text);
}

static void on_meta(void *opaque, const vg_bus_msg_t *msg) {
  if (msg->data) vg__mqtt_meta(svc.mqtt, msg->data);
}

static void counters_sample(vg_strbuf_t *out, const char *channel, const char *target,
                            vg__notify_counters_t *c) {
  const char *labels[] = {"channel", channel, "target", target, NULL};
  vg_metrics_sample_u64(out, "vigil_notify_sent_total", labels, atomic_load(&c->sent));
  vg_metrics_sample_u64(out, "vigil_notify_failed_total", labels, atomic_load(&c->failed));
  vg_metrics_sample_u64(out, "vigil_notify_retries_total", labels, atomic_load(&c->retries));
  long q = atomic_load(&c->queued);
  vg_metrics_sample_u64(out, "vigil_notify_queue_length", labels, q > 0 ? (uint64_t)q : 0);
}

/* Each family's samples must be contiguous in Prometheus text, so every
 * channel is walked once per family. */
static void collect(void *opaque, vg_strbuf_t *out) {
  static const struct {
    const char *name, *type, *help;
  } families[] = {
      {"vigil_notify_sent_total", "counter", "Notifications delivered, by channel and target."},
      {"vigil_notify_failed_total", "counter", "Notifications given up (dropped), by channel and target."},
      {"vigil_notify_retries_total", "counter",
       "Notification attempts that failed and were scheduled again."},
      {"vigil_notify_queue_length", "gauge", "Notifications waiting to be delivered."},
  };
  for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
    vg_metrics_family(out, families[f].name, families[f].type, families[f].help);
    vg_strbuf_t tmp;
    vg_strbuf_init(&tmp, 1 << 20);
    vg__notify_counters_t *c;
    if ((c = vg__mqtt_counters(svc.mqtt))) counters_sample(&tmp, "mqtt", svc.mqtt_target, c);
    const char *id;
    for (int i = 0; (c = vg__webhooks_counters(svc.webhooks, i, &id)); i++)
      counters_sample(&tmp, "webhook", id, c);
    counters_sample(&tmp, "sse", "events_stream", vg__sse_counters());
    /* Keep only this family's lines. */
    size_t name_len = strlen(families[f].name);
    for (char *line = tmp.data; line && *line;) {
      char *eol = strchr(line, '\n');
      size_t len = eol ? (size_t)(eol - line + 1) : strlen(line);
      if (!strncmp(line, families[f].name, name_len) && line[name_len] == '{')
        vg_strbuf_append(out, line, len);
      line += len;
    }
    vg_strbuf_free(&tmp);
  }
  /* The names the issue tracker's dashboards use. */
  uint64_t failed = 0;
  vg__notify_counters_t *c;
  const char *id;
  if ((c = vg__mqtt_counters(svc.mqtt))) failed += atomic_load(&c->failed);
  failed += atomic_load(&vg__sse_counters()->failed);
  vg_metrics_family(out, "vigil_webhook_queue_depth", "gauge", "Webhook deliveries waiting, per endpoint.");
  for (int i = 0; (c = vg__webhooks_counters(svc.webhooks, i, &id)); i++) {
    long q = atomic_load(&c->queued);
    vg_metrics_sample_u64(out, "vigil_webhook_queue_depth", (const char *const[]){"endpoint", id, NULL},
                          q > 0 ? (uint64_t)q : 0);
    failed += atomic_load(&c->failed);
  }
  vg_metrics_single_u64(out, "vigil_notifications_failed_total", "counter",
                        "Notifications given up, all channels.", failed);
  vg_metrics_single_u64(out, "vigil_notify_sse_clients", "gauge",
                        "Open event streams (GET /api/v1/events/stream).", (uint64_t)vg__sse_clients());
}

int vg_notify_start(const vg_notify_config_t *cfg, const char *db_path, vg_bus_t *bus,
                    const char *const *cameras, int camera_count) {
  if (svc.running) return VG_ESTATE;
  memset(&svc, 0, sizeof(svc));
  /* The channels use a private copy whose secrets are opened, so that the
   * caller's configuration keeps only the sealed text. */
  svc.cfg = malloc(sizeof(*svc.cfg));
  if (!svc.cfg) return VG_ENOMEM;
  memcpy(svc.cfg, cfg, sizeof(*cfg));
  int serr = vg_notify_open_secrets(svc.cfg);
  if (serr) {
    vg_log_error(&lg, "notifications not started: a secret cannot be opened: %s", vg_strerror(serr));
    sodium_memzero(svc.cfg, sizeof(*svc.cfg));
    free(svc.cfg);
    svc.cfg = NULL;
    return serr;
  }
  cfg = svc.cfg;
  snprintf(svc.mqtt_target, sizeof(svc.mqtt_target), "%s:%d", cfg->mqtt.host, cfg->mqtt.port);
  svc.active = calloc(MAX_ACTIVE, sizeof(*svc.active));
  if (!svc.active) return VG_ENOMEM;
  svc.running = true;
  int err = vg__sse_start(cfg->sse_queue, cfg->sse_replay);
  if (!err) err = vg__webhooks_start(cfg, db_path, &svc.webhooks);
  if (!err) err = vg__mqtt_start(&cfg->mqtt, db_path, cameras, camera_count, &svc.mqtt);
  vg_bus_sub_opts_t opts = {.queue_len = BUS_QUEUE};
  if (!err && bus) err = vg_bus_subscribe(bus, "event.*", &opts, on_event, NULL, &svc.event_sub);
  if (!err && bus && svc.mqtt)
    err = vg_bus_subscribe(bus, VG_ANALYTICS_TOPIC_META, &opts, on_meta, NULL, &svc.meta_sub);
  if (err) {
    vg_log_error(&lg, "notifications not started: %s", vg_strerror(err));
    vg_notify_stop();
    return err;
  }
  vg_metrics_register("notify", collect, NULL);
  vg_log_info(&lg, "notifications: mqtt %s, %d webhook endpoint(s), event stream on", svc.mqtt ? "on" : "off",
              cfg->webhook_count);
  return 0;
}

void vg_notify_stop(void) {
  if (!svc.running) return;
  vg_metrics_unregister("notify");
  vg_bus_unsubscribe(&svc.event_sub);
  vg_bus_unsubscribe(&svc.meta_sub);
  vg__sse_stop();
  vg__webhooks_stop(&svc.webhooks);
  vg__mqtt_stop(&svc.mqtt);
  free(svc.active);
  svc.active = NULL;
  if (svc.cfg) sodium_memzero(svc.cfg, sizeof(*svc.cfg));
  free(svc.cfg);
  svc.cfg = NULL;
  svc.running = false;
}
