/*
 * notify.h: notifications: what the event engine (event/event.h, "event.*"
 * on the bus) and analytics (analytics.h, "analytics.meta") report, sent
 * on to the outside world (docs/EVENTS.md, "Notifications"):
 *
 *  - MQTT (libmosquitto), topics modelled on Frigate's: PREFIX/events
 *    (queued on disk like webhooks, sent with QoS 1 until acknowledged),
 *    PREFIX/<camera>/motion, PREFIX/<camera>/<label> (object counts),
 *    PREFIX/available (with a last will), Home Assistant discovery.
 *  - Webhooks: signed HTTP POSTs (libcurl), one thread and one durable
 *    queue (a table of the node's database) per endpoint, retried with
 *    exponential backoff, at least once, with a delivery id for dedup.
 *  - A Server-Sent Events hub for the web app (GET /api/v1/events/stream,
 *    api/events_stream.c): every connected client has a bounded queue and
 *    a wake function the HTTP server gives it.
 *
 * Every channel gets the same JSON for an event: {"type": "new" | "update"
 * | "end", "before": event-or-null, "after": event} (vg_event_to_json).
 *
 * Threads: config parsing on the configuration thread; start/stop on the
 * main thread (start after the event service, stop after the HTTP server);
 * the bus delivers on its dispatcher thread; MQTT runs on libmosquitto's
 * thread; each webhook endpoint on a thread of its own; the SSE functions
 * may be called from any thread.
 */
#ifndef VG_NOTIFY_NOTIFY_H
#define VG_NOTIFY_NOTIFY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/bus.h"
#include "base/config.h"
#include "event/event.h"

#define VG_NOTIFY_MAX_WEBHOOKS 16
#define VG_NOTIFY_FILTER_MAX 16

typedef struct {
  bool enabled;              /* default false */
  char host[256];            /* default "127.0.0.1" */
  int port;                  /* default 1883 (8883 with tls) */
  char username[128];        /* "" none */
  char password[512];        /* "" none; sealed ("sb1:...") until vg_notify_open_secrets */
  char client_id[128];       /* default "vigil-<hostname>" */
  char topic_prefix[64];     /* default "vigil" */
  char discovery_prefix[64]; /* default "homeassistant"; "" no discovery */
  bool tls;                  /* default false */
  char tls_ca_file[512];     /* "" the system's CAs */
  bool tls_insecure;         /* do not check the broker's host name (default false) */
  int keepalive_s;           /* default 30 */
  int reconnect_min_ms;      /* default 1000 */
  int reconnect_max_ms;      /* default 30000 */
  int queue_max;             /* event messages queued (on disk) for the broker at most (default 10000) */
} vg_mqtt_config_t;

/* Which events an endpoint gets: empty lists match everything. */
typedef struct {
  char cameras[VG_NOTIFY_FILTER_MAX][64];
  int camera_count;
  char kinds[VG_NOTIFY_FILTER_MAX][16];
  int kind_count;
  char labels[VG_NOTIFY_FILTER_MAX][64];
  int label_count;
  char types[3][8]; /* "new", "update", "end"; default new and end */
  int type_count;
  int min_severity; /* vg_event_severity_t, default info */
} vg_notify_filter_t;

typedef struct {
  char id[64];
  char url[1024];
  char secret[512]; /* "" unsigned (not recommended); sealed until vg_notify_open_secrets */
  vg_notify_filter_t events;
  int timeout_ms;     /* whole request, default 10000 */
  int max_retries;    /* after the first attempt, default 20; -1 forever */
  int backoff_min_ms; /* default 1000 */
  int backoff_max_ms; /* default 300000 */
} vg_webhook_config_t;

typedef struct {
  vg_mqtt_config_t mqtt;
  vg_webhook_config_t webhooks[VG_NOTIFY_MAX_WEBHOOKS];
  int webhook_count;
  int sse_queue;  /* messages queued per SSE client (default 256) */
  int sse_replay; /* messages kept for Last-Event-ID (default 256) */
  /* The node key (auth.secret_key_file) that opens sealed secrets; the
   * node sets it after parsing. "" refuses sealed values. */
  char secret_key_file[512];
} vg_notify_config_t;

/* Secrets (mqtt.password, webhooks[].secret) follow the rules of camera
 * credentials: never logged, never in API answers or the exported
 * configuration (which says "password_set"/"secret_set" instead), and they
 * may be kept sealed at rest in the configuration file as "sb1:..." (made
 * with `vigil seal`, base/secret.h). Plain values are at most 127
 * (password) and 255 (secret) characters, sealed ones may be longer. */
#define VG_MQTT_PASSWORD_MAX 127
#define VG_WEBHOOK_SECRET_MAX 255

/* Reads the top-level "mqtt" object, the "webhooks" array and the "notify"
 * object ({"sse_queue", "sse_replay"}) of root; each may be absent.
 * Returns 0 or VG_ECONFIG (details in c). */
int vg_notify_config_parse(vg_cfg_t *c, json_t *root, vg_notify_config_t *out);

/* Opens the sealed secrets of cfg in place under the key of
 * cfg->secret_key_file (read only when a secret is sealed). Returns 0,
 * VG_EAUTH (sealed under another key or altered), VG_EINVAL (a sealed
 * value but no key file, or a malformed one), VG_ETOOBIG, VG_EIO; the log
 * names the member, never its value. vg_notify_start calls it on its own
 * copy of the configuration. */
int vg_notify_open_secrets(vg_notify_config_t *cfg);

/* Starts the channels. db_path: the node's database (the webhook queues).
 * cameras: the configured camera ids (for discovery), may be NULL. cfg
 * must outlive the service. */
int vg_notify_start(const vg_notify_config_t *cfg, const char *db_path, vg_bus_t *bus,
                    const char *const *cameras, int camera_count);
/* Stops everything; pending webhook deliveries stay queued in the
 * database; MQTT says "offline" before it disconnects. */
void vg_notify_stop(void);

/* ---- pure helpers (tested on their own) ---- */

/* The notification JSON of an event change: type "new", "update" or
 * "end"; before may be NULL. Returns a new reference or NULL. */
json_t *vg_notify_event_json(const char *type, const vg_event_t *before, const vg_event_t *after);
/* Whether filter f admits an event change of type ("new"...). */
bool vg_notify_filter_match(const vg_notify_filter_t *f, const char *type, const vg_event_t *ev);
/* HMAC-SHA256 of "<timestamp>.<body>" with secret as lowercase hex
 * (65 bytes with the NUL). Returns 0 or VG_EINVAL. */
int vg_notify_sign(const char *secret, int64_t timestamp_s, const char *body, size_t len, char out[65]);
/* The wait before retry number attempt (1 = the first retry): min * 2^(attempt-1),
 * capped at max, with +-20% jitter from rnd (0..1). */
int64_t vg_notify_backoff_ms(int attempt, int min_ms, int max_ms, double rnd);
/* A random version 4 UUID, 37 bytes with the NUL. */
void vg_notify_uuid(char out[37]);
/* A topic level for name: '/', '+', '#' and control bytes become '_'. */
void vg_notify_topic_level(const char *name, char *out, size_t size);

/* ---- the Server-Sent Events hub ---- */

typedef struct vg_sse_client vg_sse_client_t;
/* Whether the client may see an event of camera (called under the hub's lock). */
typedef bool (*vg_sse_filter_fn)(void *opaque, const char *camera);

/* Registers a client. wake(wake_opaque) is called, from any thread, when
 * the client has something to read; filter (NULL: everything) decides
 * which events it gets, filter_free(opaque) is called when the client is
 * closed. last_id > 0 replays the kept messages after that id. Returns
 * VG_ESTATE when notifications are not running. */
int vg_sse_open(vg_sse_filter_fn filter, void *opaque, void (*filter_free)(void *), uint64_t last_id,
                vg_sse_client_t **out);
/* Sets the wake function (before the first read; may be called once). */
void vg_sse_set_wake(vg_sse_client_t *cl, void (*wake)(void *), void *wake_opaque);
/* Copies queued bytes (whole "id: N\ndata: JSON\n\n" messages, or a
 * keep-alive comment after 15 s of silence) into dst. Returns the count,
 * 0 when there is nothing, VG_ECLOSED when the service stopped or the
 * client fell too far behind (its queue overflowed). */
long vg_sse_read(vg_sse_client_t *cl, uint8_t *dst, size_t cap);
void vg_sse_close(vg_sse_client_t *cl);

#endif
