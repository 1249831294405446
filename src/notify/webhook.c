/*
 * webhook.c: webhook endpoints (notify.h). The bus thread writes each
 * delivery to the endpoint's queue (queue.c) and signals the endpoint's
 * thread, which sends the queue in order with a blocking libcurl easy
 * handle: one delivery at a time per endpoint, so a slow or dead endpoint
 * delays only its own deliveries and never an I/O worker.
 *
 * A delivery keeps its id (X-Vigil-Delivery) over every attempt; each
 * attempt is signed anew with the time it is sent (docs/EVENTS.md,
 * "Webhooks"). 2xx: delivered. A timeout, a connection error, 408, 429 or
 * 5xx: retried after vg_notify_backoff_ms(). Anything else (3xx, other
 * 4xx): the endpoint refuses it; it is dropped and counted failed, as is a
 * delivery that used up max_retries.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/error.h"
#include "base/log.h"
#include "base/time.h"
#include "notify/notify_internal.h"

typedef struct {
  const vg_webhook_config_t *cfg;
  struct vg__webhooks *owner;
  pthread_t thread;
  int started;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int signaled; /* under lock: something was queued */
  vg__notify_counters_t counters;
  vg_log_ctx_t lg;
} endpoint_t;

struct vg__webhooks {
  const vg_notify_config_t *cfg;
  char db_path[512];
  vg__notify_queue_t *enqueue_q; /* the bus thread's connection */
  endpoint_t endpoints[VG_NOTIFY_MAX_WEBHOOKS];
  int count;
  atomic_int stopping;
};

int vg__webhook_classify(int curl_ok, long status) {
  if (!curl_ok) return 0;
  if (status >= 200 && status < 300) return 1;
  if (status == 408 || status == 429 || status >= 500) return 0;
  return -1;
}

static double random_unit(void) {
  uint32_t r = 0;
  if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) return 0.5;
  return (double)r / 4294967295.0;
}

/* libcurl's progress callback: aborts a transfer when vigil stops. */
static int abort_on_stop(void *opaque, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
  const struct vg__webhooks *w = opaque;
  return atomic_load(&w->stopping) ? 1 : 0;
}

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *opaque) { return size * nmemb; }

/* One POST of item. Returns vg__webhook_classify's verdict, or 2 when it
 * was cut short by stop (it stays queued as it was). */
static int post_once(endpoint_t *ep, CURL *curl, const vg__notify_item_t *item, char *why, size_t why_size) {
  const vg_webhook_config_t *cfg = ep->cfg;
  int64_t now_s = vg_time_utc_us() / 1000000;
  struct curl_slist *headers = NULL;
  char line[256], sig[65];
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "User-Agent: vigil/" VG_VERSION);
  snprintf(line, sizeof(line), "X-Vigil-Delivery: %s", item->delivery);
  headers = curl_slist_append(headers, line);
  snprintf(line, sizeof(line), "X-Vigil-Event: %s", item->type);
  headers = curl_slist_append(headers, line);
  snprintf(line, sizeof(line), "X-Vigil-Attempt: %d", item->attempts + 1);
  headers = curl_slist_append(headers, line);
  snprintf(line, sizeof(line), "X-Vigil-Timestamp: %lld", (long long)now_s);
  headers = curl_slist_append(headers, line);
  if (cfg->secret[0] && vg_notify_sign(cfg->secret, now_s, item->body, item->len, sig) == 0) {
    snprintf(line, sizeof(line), "X-Vigil-Signature: sha256=%s", sig);
    headers = curl_slist_append(headers, line);
  }
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, cfg->url);
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, item->body);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)item->len);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)cfg->timeout_ms);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->timeout_ms);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, abort_on_stop);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, ep->owner);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  long status = 0;
  if (rc == CURLE_ABORTED_BY_CALLBACK) return 2;
  if (rc == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    snprintf(why, why_size, "HTTP %ld", status);
  } else {
    snprintf(why, why_size, "%s", curl_easy_strerror(rc));
  }
  return vg__webhook_classify(rc == CURLE_OK, status);
}

/* Waits until signaled, stopping, or until_us (wall clock; 0: 1 s). */
static void wait_for_work(endpoint_t *ep, int64_t until_us) {
  int64_t now = vg_time_utc_us();
  int64_t wait_us = until_us ? until_us - now : 1000000;
  if (wait_us > 1000000) wait_us = 1000000; /* re-checks stop at least once a second */
  if (wait_us <= 0) return;
  struct timespec ts = vg_time_deadline(CLOCK_REALTIME, wait_us);
  pthread_mutex_lock(&ep->lock);
  if (!ep->signaled && !atomic_load(&ep->owner->stopping)) pthread_cond_timedwait(&ep->cond, &ep->lock, &ts);
  ep->signaled = 0;
  pthread_mutex_unlock(&ep->lock);
}

/* Settles item after an attempt with verdict (see post_once). */
static void settle(endpoint_t *ep, vg__notify_queue_t *q, vg__notify_item_t *item, int verdict,
                   const char *why) {
  const vg_webhook_config_t *cfg = ep->cfg;
  int attempts = item->attempts + 1;
  if (verdict == 1) {
    vg__queue_done(q, item->row);
    atomic_fetch_add(&ep->counters.sent, 1);
    atomic_fetch_sub(&ep->counters.queued, 1);
    vg_log_debug(&ep->lg, "delivery %s delivered (attempt %d)", item->delivery, attempts);
    return;
  }
  if (verdict < 0 || (cfg->max_retries >= 0 && attempts > cfg->max_retries)) {
    vg__queue_done(q, item->row);
    atomic_fetch_add(&ep->counters.failed, 1);
    atomic_fetch_sub(&ep->counters.queued, 1);
    vg_log_warn(&ep->lg, "delivery %s given up after %d attempts: %s%s", item->delivery, attempts, why,
                verdict < 0 ? " (refused by the endpoint)" : "");
    return;
  }
  int64_t delay_ms = vg_notify_backoff_ms(attempts, cfg->backoff_min_ms, cfg->backoff_max_ms, random_unit());
  vg__queue_retry(q, item->row, attempts, vg_time_utc_us() + delay_ms * 1000);
  atomic_fetch_add(&ep->counters.retries, 1);
  vg_log_info(&ep->lg, "delivery %s failed (%s); retry %d in %lld ms", item->delivery, why, attempts,
              (long long)delay_ms);
}

static void *endpoint_thread(void *arg) {
  endpoint_t *ep = arg;
  vg__notify_queue_t *q = NULL;
  CURL *curl = curl_easy_init();
  if (!curl || vg__queue_open(ep->owner->db_path, &q) != 0) {
    vg_log_error(&ep->lg, "endpoint not served: no database or no curl handle");
    if (curl) curl_easy_cleanup(curl);
    return NULL;
  }
  while (!atomic_load(&ep->owner->stopping)) {
    vg__notify_item_t item;
    int err = vg__queue_peek(q, ep->cfg->id, &item);
    if (err) {
      wait_for_work(ep, 0);
      continue;
    }
    if (item.next_us > vg_time_utc_us()) {
      free(item.body);
      wait_for_work(ep, item.next_us);
      continue;
    }
    char why[256] = "";
    int verdict = post_once(ep, curl, &item, why, sizeof(why));
    if (verdict != 2) settle(ep, q, &item, verdict, why);
    free(item.body);
  }
  curl_easy_cleanup(curl);
  vg__queue_close(&q);
  return NULL;
}

int vg__webhooks_start(const vg_notify_config_t *cfg, const char *db_path, vg__webhooks_t **out) {
  *out = NULL;
  if (!cfg->webhook_count) return 0;
  vg__webhooks_t *w = calloc(1, sizeof(*w));
  if (!w) return VG_ENOMEM;
  w->cfg = cfg;
  snprintf(w->db_path, sizeof(w->db_path), "%s", db_path);
  int err = vg__queue_open(db_path, &w->enqueue_q);
  if (err) {
    free(w);
    return err;
  }
  for (int i = 0; i < cfg->webhook_count; i++) {
    endpoint_t *ep = &w->endpoints[i];
    ep->cfg = &cfg->webhooks[i];
    ep->owner = w;
    ep->lg = (vg_log_ctx_t){"webhook", ep->cfg->id};
    pthread_mutex_init(&ep->lock, NULL);
    pthread_cond_init(&ep->cond, NULL);
    long n = vg__queue_count(w->enqueue_q, ep->cfg->id);
    atomic_store(&ep->counters.queued, n > 0 ? n : 0);
    if (n > 0) vg_log_info(&ep->lg, "%ld deliveries queued from before", n);
    w->count = i + 1;
    if ((err = pthread_create(&ep->thread, NULL, endpoint_thread, ep)) != 0) {
      vg__webhooks_stop(&w);
      return -err;
    }
    ep->started = 1;
  }
  *out = w;
  return 0;
}

void vg__webhooks_stop(vg__webhooks_t **wp) {
  vg__webhooks_t *w = *wp;
  if (!w) return;
  *wp = NULL;
  atomic_store(&w->stopping, 1);
  for (int i = 0; i < w->count; i++) {
    endpoint_t *ep = &w->endpoints[i];
    pthread_mutex_lock(&ep->lock);
    ep->signaled = 1;
    pthread_cond_signal(&ep->cond);
    pthread_mutex_unlock(&ep->lock);
  }
  for (int i = 0; i < w->count; i++) {
    endpoint_t *ep = &w->endpoints[i];
    if (ep->started) pthread_join(ep->thread, NULL);
    pthread_mutex_destroy(&ep->lock);
    pthread_cond_destroy(&ep->cond);
  }
  vg__queue_close(&w->enqueue_q);
  free(w);
}

void vg__webhooks_enqueue(vg__webhooks_t *w, const char *type, const vg_event_t *ev, const char *body) {
  if (!w) return;
  for (int i = 0; i < w->count; i++) {
    endpoint_t *ep = &w->endpoints[i];
    if (!vg_notify_filter_match(&ep->cfg->events, type, ev)) continue;
    char delivery[37];
    vg_notify_uuid(delivery);
    int err = vg__queue_push(w->enqueue_q, ep->cfg->id, delivery, type, body, strlen(body), vg_time_utc_us());
    if (err) {
      /* Nothing else can keep it: the loss is counted and logged. */
      atomic_fetch_add(&ep->counters.failed, 1);
      vg_log_error(&ep->lg, "event %lld not queued: %s", (long long)ev->id, vg_strerror(err));
      continue;
    }
    atomic_fetch_add(&ep->counters.queued, 1);
    pthread_mutex_lock(&ep->lock);
    ep->signaled = 1;
    pthread_cond_signal(&ep->cond);
    pthread_mutex_unlock(&ep->lock);
  }
}

vg__notify_counters_t *vg__webhooks_counters(vg__webhooks_t *w, int i, const char **id) {
  if (!w || i >= w->count) return NULL;
  *id = w->endpoints[i].cfg->id;
  return &w->endpoints[i].counters;
}
