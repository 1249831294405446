#include "ingest/onvif_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/time.h"
#include "ingest/rtsp_source.h"
#include "proto/url.h"

#define SOAP_MAX_RESPONSE (1u << 20)

static const vg_log_ctx_t lg = {"onvif", NULL};

/* ---- SOAP over HTTP ---- */

static size_t on_curl_data(char *ptr, size_t size, size_t nmemb, void *opaque) {
  vg_strbuf_t *sb = opaque;
  size_t n = size * nmemb;
  return vg_strbuf_append(sb, ptr, n) == 0 ? n : 0;
}

static void set_error(vg_onvif_dev_t *dev, const char *fmt, const char *a, const char *b) {
  snprintf(dev->last_error, sizeof(dev->last_error), fmt, a, b);
}

/* POSTs body (an operation) to service and parses the answer into *doc.
 * Returns 0, VG_EAUTH (NotAuthorized), VG_EPROTO (a fault or nonsense),
 * or a transport error; dev->last_error says which. */
static int soap_call(vg_onvif_dev_t *dev, const char *service, const char *body, int with_auth,
                     vg_xml_doc_t **doc) {
  *doc = NULL;
  uint8_t nonce[16];
  if (RAND_bytes(nonce, sizeof(nonce)) != 1) return VG_EIO;
  vg_strbuf_t req, resp;
  vg_strbuf_init(&req, 0);
  vg_strbuf_init(&resp, SOAP_MAX_RESPONSE);
  int err = vg_onvif_envelope(&req, with_auth ? &dev->cred : NULL, (int64_t)time(NULL) + dev->clock_offset_s,
                              nonce, body);
  CURL *curl = err ? NULL : curl_easy_init();
  if (!curl) {
    vg_strbuf_free(&req);
    return err ? err : VG_ENOMEM;
  }
  struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/soap+xml; charset=utf-8");
  curl_easy_setopt(curl, CURLOPT_URL, service);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req.data);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)req.len);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_curl_data);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)dev->timeout_ms);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)dev->timeout_ms);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  vg_strbuf_free(&req);
  if (rc != CURLE_OK) {
    set_error(dev, "%s: %s", service, curl_easy_strerror(rc));
    vg_strbuf_free(&resp);
    return rc == CURLE_OPERATION_TIMEDOUT ? VG_ETIMEDOUT
           : rc == CURLE_COULDNT_CONNECT  ? VG_ECONNREFUSED
                                          : VG_EIO;
  }
  err = resp.error ? resp.error : vg_xml_parse(resp.data ? resp.data : "", resp.len, doc);
  vg_strbuf_free(&resp);
  if (err) {
    char code[16];
    snprintf(code, sizeof(code), "%ld", status);
    set_error(dev, "%s answered HTTP %s without a readable SOAP envelope", service, code);
    return VG_EPROTO;
  }
  char reason[200];
  if (vg_onvif_fault(vg_xml_root(*doc), reason, sizeof(reason))) {
    char subcode[64] = "";
    const vg_xml_node_t *f = vg_onvif_body(vg_xml_root(*doc));
    vg_xml_text(f, "Code/Subcode/Value", subcode, sizeof(subcode));
    set_error(dev, "the device refused: %s%s", reason,
              strstr(subcode, "NotAuthorized") ? " (credentials)" : "");
    err = strstr(subcode, "NotAuthorized") || status == 401 ? VG_EAUTH : VG_EPROTO;
    vg_xml_free(doc);
    return err;
  }
  if (status == 401) {
    set_error(dev, "%s: %s", service, "HTTP 401 (credentials)");
    vg_xml_free(doc);
    return VG_EAUTH;
  }
  return 0;
}

int vg_onvif_connect(vg_onvif_dev_t *dev, const char *url, const char *user, const char *password,
                     int timeout_ms) {
  memset(dev, 0, sizeof(*dev));
  dev->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
  vg_url_t u;
  if (vg_url_parse(url, &u) != 0 || (strcmp(u.scheme, "http") != 0 && strcmp(u.scheme, "https") != 0)) {
    set_error(dev, "%s%s", "not an http:// device address", "");
    return VG_EINVAL;
  }
  snprintf(dev->cred.username, sizeof(dev->cred.username), "%s", user && *user ? user : u.user);
  snprintf(dev->cred.password, sizeof(dev->cred.password), "%s",
           user && *user ? (password ? password : "") : u.password);
  if (strcmp(u.path, "/") == 0) snprintf(u.path, sizeof(u.path), "/onvif/device_service");
  vg_url_print(&u, dev->url, sizeof(dev->url));

  /* The clock first: devices answer it without authentication. */
  vg_strbuf_t body;
  vg_strbuf_init(&body, 0);
  vg_onvif_req_simple(&body, VG_ONVIF_NS_DEVICE, "GetSystemDateAndTime");
  vg_xml_doc_t *doc;
  int err = soap_call(dev, dev->url, body.data, 0, &doc);
  vg_strbuf_free(&body);
  if (err) return err;
  int64_t device_now;
  if (vg_onvif_parse_datetime(vg_xml_root(doc), &device_now) == 0)
    dev->clock_offset_s = device_now - (int64_t)time(NULL);
  vg_xml_free(&doc);
  if (dev->clock_offset_s > 5 || dev->clock_offset_s < -5)
    vg_log_info(&lg, "%s: the device's clock is %+lld s off; tokens use its time", dev->url,
                (long long)dev->clock_offset_s);

  vg_onvif_req_get_services(&body);
  err = soap_call(dev, dev->url, body.data, 1, &doc);
  vg_strbuf_free(&body);
  if (err == 0) {
    vg_onvif_parse_services(vg_xml_root(doc), &dev->services);
    vg_xml_free(&doc);
  } else if (err != VG_EAUTH) {
    /* Devices older than GetServices answer GetCapabilities. */
    vg_strbuf_puts(&body, "<GetCapabilities xmlns=\"" VG_ONVIF_NS_DEVICE
                          "\"><Category>All</Category></GetCapabilities>");
    err = soap_call(dev, dev->url, body.data, 1, &doc);
    vg_strbuf_free(&body);
    if (!err) {
      vg_onvif_parse_services(vg_xml_root(doc), &dev->services);
      vg_xml_free(&doc);
    }
  }
  if (err) return err;
  if (!dev->services.device[0]) snprintf(dev->services.device, sizeof(dev->services.device), "%s", dev->url);

  vg_onvif_req_simple(&body, VG_ONVIF_NS_DEVICE, "GetDeviceInformation");
  if (soap_call(dev, dev->services.device, body.data, 1, &doc) == 0) {
    vg_onvif_parse_device_info(vg_xml_root(doc), &dev->info);
    vg_xml_free(&doc);
  }
  vg_strbuf_free(&body);
  return 0;
}

/* Runs one request (built into body) on service and hands the document to
 * parse. */
static int call_and_parse(vg_onvif_dev_t *dev, const char *service, vg_strbuf_t *body, vg_xml_doc_t **doc) {
  if (body->error) {
    vg_strbuf_free(body);
    return body->error;
  }
  int err = soap_call(dev, service, body->data, 1, doc);
  vg_strbuf_free(body);
  return err;
}

int vg_onvif_profiles(vg_onvif_dev_t *dev, vg_onvif_profile_t *out, int max) {
  vg_strbuf_t body;
  vg_xml_doc_t *doc;
  int media2 = dev->services.media2[0] != 0;
  for (int attempt = 0; attempt < 2; attempt++) {
    const char *service = media2 ? dev->services.media2 : dev->services.media;
    if (!service[0]) {
      media2 = !media2;
      continue;
    }
    vg_strbuf_init(&body, 0);
    vg_onvif_req_get_profiles(&body, media2 ? VG_ONVIF_MEDIA2 : VG_ONVIF_MEDIA1);
    int err = call_and_parse(dev, service, &body, &doc);
    if (err == VG_EAUTH) return err;
    if (!err) {
      int n = vg_onvif_parse_profiles(vg_xml_root(doc), out, max);
      vg_xml_free(&doc);
      if (n >= 0) return n;
    }
    if (!media2 || !dev->services.media[0]) return err ? err : VG_EPROTO;
    media2 = 0; /* Media 2 advertised but broken: Media 1 */
    dev->services.media2[0] = '\0';
  }
  set_error(dev, "%s%s", "the device has no media service", "");
  return VG_EUNSUPPORTED;
}

static int get_uri(vg_onvif_dev_t *dev, const char *profile, int snapshot, char *uri, size_t size) {
  int media2 = dev->services.media2[0] != 0;
  const char *service = media2 ? dev->services.media2 : dev->services.media;
  if (!service[0]) return VG_EUNSUPPORTED;
  vg_strbuf_t body;
  vg_strbuf_init(&body, 0);
  vg_onvif_media_ver_t ver = media2 ? VG_ONVIF_MEDIA2 : VG_ONVIF_MEDIA1;
  if (snapshot)
    vg_onvif_req_snapshot_uri(&body, ver, profile);
  else
    vg_onvif_req_stream_uri(&body, ver, profile);
  vg_xml_doc_t *doc;
  int err = call_and_parse(dev, service, &body, &doc);
  if (err) return err;
  err = vg_onvif_parse_uri(vg_xml_root(doc), uri, size);
  vg_xml_free(&doc);
  return err;
}

int vg_onvif_stream_uri(vg_onvif_dev_t *dev, const char *profile, char *uri, size_t size) {
  return get_uri(dev, profile, 0, uri, size);
}

int vg_onvif_snapshot_uri(vg_onvif_dev_t *dev, const char *profile, char *uri, size_t size) {
  return get_uri(dev, profile, 1, uri, size);
}

int vg_onvif_ptz(vg_onvif_dev_t *dev, const char *profile, vg_ptz_cmd_t *cmd, vg_onvif_preset_t *presets,
                 int max_presets, double status[3]) {
  if (!dev->services.ptz[0]) {
    set_error(dev, "%s%s", "the device has no PTZ service", "");
    return VG_EUNSUPPORTED;
  }
  vg_strbuf_t body;
  vg_strbuf_init(&body, 0);
  vg_onvif_req_ptz(&body, profile, cmd);
  vg_xml_doc_t *doc;
  int err = call_and_parse(dev, dev->services.ptz, &body, &doc);
  if (err) return err;
  const vg_xml_node_t *env = vg_xml_root(doc);
  int ret = 0;
  if (cmd->op == VG_PTZ_GET_PRESETS)
    ret = vg_onvif_parse_presets(env, presets, max_presets);
  else if (cmd->op == VG_PTZ_GET_STATUS)
    ret = vg_onvif_parse_ptz_status(env, &status[0], &status[1], &status[2]);
  else if (cmd->op == VG_PTZ_SET_PRESET)
    ret = vg_onvif_parse_preset_token(env, cmd->preset, sizeof(cmd->preset));
  vg_xml_free(&doc);
  return ret;
}

/* ---- discovery ---- */

int vg_onvif_discover(const char *iface, int timeout_ms, vg_wsd_match_t *out, int max) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return vg_err_from_errno();
  struct in_addr ifaddr;
  if (inet_pton(AF_INET, iface && *iface ? iface : "0.0.0.0", &ifaddr) != 1) {
    close(fd);
    return VG_EINVAL;
  }
  unsigned char loop = 1, ttl = 1;
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop));
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl));
  if (ifaddr.s_addr != INADDR_ANY) setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ifaddr, sizeof(ifaddr));
  char msg_id[64];
  uint8_t r[16];
  RAND_bytes(r, sizeof(r));
  snprintf(msg_id, sizeof(msg_id),
           "urn:uuid:%02x%02x%02x%02x-%02x%02x-4%x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2],
           r[3], r[4], r[5], r[6] & 0xf, r[7], (r[8] & 0x3f) | 0x80, r[9], r[10], r[11], r[12], r[13], r[14],
           r[15]);
  vg_strbuf_t probe;
  vg_strbuf_init(&probe, 0);
  vg_wsd_probe(&probe, msg_id);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(VG_WSD_PORT)};
  inet_pton(AF_INET, VG_WSD_ADDR, &to.sin_addr);
  /* UDP may lose the probe: send it twice, as WS-Discovery suggests. */
  int sent = 0;
  for (int i = 0; i < 2; i++)
    if (sendto(fd, probe.data, probe.len, 0, (struct sockaddr *)&to, sizeof(to)) >= 0) sent++;
  vg_strbuf_free(&probe);
  if (!sent) {
    int err = vg_err_from_errno();
    close(fd);
    return err;
  }
  int n = 0;
  int64_t deadline = vg_time_mono_us() + (int64_t)timeout_ms * 1000;
  char *buf = malloc(65536);
  while (buf) {
    int64_t left = (deadline - vg_time_mono_us()) / 1000;
    if (left <= 0) break;
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, (int)left) <= 0) continue;
    ssize_t len = recv(fd, buf, 65535, 0);
    if (len <= 0) continue;
    vg_xml_doc_t *doc;
    if (vg_xml_parse(buf, (size_t)len, &doc) != 0) continue;
    vg_wsd_match_t m[8];
    char rel[128];
    int k = vg_wsd_parse_matches(vg_xml_root(doc), m, 8, rel, sizeof(rel));
    vg_xml_free(&doc);
    if (k <= 0 || strcmp(rel, msg_id) != 0) continue; /* someone else's answer */
    for (int i = 0; i < k && n < max; i++) {
      int dup = 0;
      for (int j = 0; j < n; j++)
        dup |= strcmp(out[j].endpoint, m[i].endpoint) == 0;
      if (!dup) out[n++] = m[i];
    }
  }
  free(buf);
  close(fd);
  return n;
}

/* ---- cameras of type onvif: resolve, then RTSP ---- */

/* The profile a camera records: the configured token, else the first
 * profile with H.264 or H.265 video, else the first. */
static int pick_profile(vg_onvif_dev_t *dev, const char *wanted, char *token, size_t size) {
  vg_onvif_profile_t p[VG_ONVIF_MAX_PROFILES];
  int n = vg_onvif_profiles(dev, p, VG_ONVIF_MAX_PROFILES);
  if (n < 0) return n;
  int pick = -1;
  for (int i = 0; i < n; i++) {
    if (*wanted ? strcmp(p[i].token, wanted) == 0
                : pick < 0 && (!strcmp(p[i].encoding, "H264") || !strcmp(p[i].encoding, "H265")))
      pick = i;
  }
  if (pick < 0 && !*wanted && n > 0) pick = 0;
  if (pick < 0) {
    set_error(dev, "no profile '%s'%s", wanted, n ? "" : " (the device has none)");
    return VG_ENOTFOUND;
  }
  snprintf(token, size, "%s", p[pick].token);
  return 0;
}

typedef struct {
  vg_camera_t *cam;
  vg_worker_t *worker;
  vg_camera_config_t cfg; /* a copy: the thread reads it */
  int cancelled;          /* set on the worker when the camera stops first */
  int err;
  char url[1024]; /* the stream URI, with credentials */
  char error[256];
} resolve_job_t;

static void resolve_done(void *arg) {
  resolve_job_t *job = arg;
  vg_camera_t *cam = job->cam;
  if (job->cancelled) {
    free(job);
    return;
  }
  cam->resolver = NULL;
  if (job->err) {
    vg_camera_source_failed(cam, job->err, "ONVIF: %s", job->error);
  } else {
    snprintf(cam->media_url, sizeof(cam->media_url), "%s", job->url);
    vg_rtsp_source_ops.start(cam);
  }
  free(job);
}

static void *resolve_thread(void *arg) {
  resolve_job_t *job = arg;
  vg_onvif_dev_t *dev = calloc(1, sizeof(*dev));
  char token[64], uri[1024];
  int err = dev ? vg_onvif_connect(dev, job->cfg.url, NULL, NULL, job->cfg.connect_timeout_ms) : VG_ENOMEM;
  if (!err) err = pick_profile(dev, job->cfg.profile, token, sizeof(token));
  if (!err) err = vg_onvif_stream_uri(dev, token, uri, sizeof(uri));
  if (!err) {
    /* The stream takes the device's credentials unless its URI has its own. */
    vg_url_t u;
    err = vg_url_parse(uri, &u);
    if (!err && !u.has_credentials && dev->cred.username[0]) {
      snprintf(u.user, sizeof(u.user), "%s", dev->cred.username);
      snprintf(u.password, sizeof(u.password), "%s", dev->cred.password);
      u.has_credentials = 1;
    }
    if (!err && vg_url_print_with_credentials(&u, job->url, sizeof(job->url)) < 0) err = VG_ETOOBIG;
    if (err) snprintf(dev->last_error, sizeof(dev->last_error), "the device gave a bad stream URI");
  }
  job->err = err;
  if (err)
    snprintf(job->error, sizeof(job->error), "%s",
             dev && dev->last_error[0] ? dev->last_error : vg_strerror(err));
  free(dev);
  if (vg_worker_post(job->worker, resolve_done, job) != 0) free(job); /* the node is stopping */
  return NULL;
}

static void onvif_start(vg_camera_t *cam) {
  resolve_job_t *job = calloc(1, sizeof(*job));
  pthread_t t;
  pthread_attr_t attr;
  if (!job) {
    vg_camera_source_failed(cam, VG_ENOMEM, "out of memory");
    return;
  }
  job->cam = cam;
  job->worker = cam->worker;
  job->cfg = cam->cfg;
  cam->resolver = job;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int rc = pthread_create(&t, &attr, resolve_thread, job);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    cam->resolver = NULL;
    free(job);
    vg_camera_source_failed(cam, VG_ENOMEM, "cannot start a thread");
  }
}

static void onvif_stop(vg_camera_t *cam, void (*done)(vg_camera_t *cam)) {
  resolve_job_t *job = cam->resolver;
  if (job) {
    job->cancelled = 1; /* resolve_done frees it */
    cam->resolver = NULL;
    done(cam);
    return;
  }
  vg_rtsp_source_ops.stop(cam, done);
}

const vg_source_ops_t vg_onvif_source_ops = {"onvif", onvif_start, onvif_stop};

/* ---- events: one PullPoint thread per ONVIF camera ---- */

typedef struct {
  char id[64];
  vg_camera_config_t cfg;
  pthread_t thread;
  atomic_uint_fast64_t events, errors;
  atomic_int subscribed;
  pthread_mutex_t lock; /* last */
  vg_onvif_event_t last;
} event_cam_t;

static struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int stopping;
  event_cam_t *cams;
  int count;
  vg_onvif_event_sink_fn sink;
  void *sink_opaque;
} ev = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, NULL, 0, NULL, NULL};

void vg_onvif_set_event_sink(vg_onvif_event_sink_fn fn, void *opaque) {
  pthread_mutex_lock(&ev.lock);
  ev.sink = fn;
  ev.sink_opaque = opaque;
  pthread_mutex_unlock(&ev.lock);
}

/* Sleeps up to ms unless the node stops; returns 1 when stopping. */
static int wait_or_stop(int ms) {
  struct timespec ts = vg_time_deadline(CLOCK_REALTIME, ms * 1000LL);
  pthread_mutex_lock(&ev.lock);
  while (!ev.stopping && pthread_cond_timedwait(&ev.cond, &ev.lock, &ts) == 0) {
  }
  int stopping = ev.stopping;
  pthread_mutex_unlock(&ev.lock);
  return stopping;
}

static int stopping(void) {
  pthread_mutex_lock(&ev.lock);
  int s = ev.stopping;
  pthread_mutex_unlock(&ev.lock);
  return s;
}

static void *event_thread(void *arg) {
  event_cam_t *ec = arg;
  vg_log_ctx_t log = {"onvif", ec->id};
  vg_onvif_dev_t *dev = calloc(1, sizeof(*dev));
  int backoff_ms = 1000;
  while (dev && !stopping()) {
    char address[512] = "";
    int err = vg_onvif_connect(dev, ec->cfg.url, NULL, NULL, ec->cfg.connect_timeout_ms);
    if (!err && !dev->services.events[0]) {
      vg_log_info(&log, "the device has no event service; not subscribing");
      break;
    }
    vg_strbuf_t body;
    vg_xml_doc_t *doc;
    if (!err) {
      vg_strbuf_init(&body, 0);
      vg_onvif_req_create_pullpoint(&body, 60);
      err = call_and_parse(dev, dev->services.events, &body, &doc);
      if (!err) {
        err = vg_onvif_parse_subscription(vg_xml_root(doc), address, sizeof(address));
        vg_xml_free(&doc);
      }
    }
    if (err) {
      atomic_fetch_add(&ec->errors, 1);
      vg_log_warn(&log, "event subscription failed: %s",
                  dev->last_error[0] ? dev->last_error : vg_strerror(err));
      if (wait_or_stop(backoff_ms)) break;
      backoff_ms = backoff_ms < 30000 ? backoff_ms * 2 : 30000;
      continue;
    }
    backoff_ms = 1000;
    atomic_store(&ec->subscribed, 1);
    vg_log_info(&log, "subscribed to the device's events");
    /* Pull with a long poll shorter than the HTTP timeout; a pull keeps the
     * subscription alive on the devices we know, and a failed pull starts
     * over with a new subscription. */
    int saved_timeout = dev->timeout_ms;
    dev->timeout_ms = saved_timeout + 3000;
    while (!stopping()) {
      vg_strbuf_init(&body, 0);
      vg_onvif_req_pull_messages(&body, 2, 16);
      err = call_and_parse(dev, address, &body, &doc);
      if (err) break;
      vg_onvif_event_t events[16];
      int n = vg_onvif_parse_messages(vg_xml_root(doc), events, 16);
      vg_xml_free(&doc);
      for (int i = 0; i < n; i++) {
        atomic_fetch_add(&ec->events, 1);
        pthread_mutex_lock(&ec->lock);
        ec->last = events[i];
        pthread_mutex_unlock(&ec->lock);
        vg_log_debug(&log, "event %s %s=%s", events[i].topic, events[i].data_name, events[i].data_value);
        pthread_mutex_lock(&ev.lock);
        vg_onvif_event_sink_fn sink = ev.sink;
        void *opaque = ev.sink_opaque;
        pthread_mutex_unlock(&ev.lock);
        if (sink) sink(opaque, ec->id, &events[i]);
      }
    }
    dev->timeout_ms = saved_timeout;
    atomic_store(&ec->subscribed, 0);
    if (err && !stopping()) {
      atomic_fetch_add(&ec->errors, 1);
      vg_log_warn(&log, "event pull failed: %s; subscribing again", dev->last_error);
      if (wait_or_stop(backoff_ms)) break;
    }
  }
  free(dev);
  return NULL;
}

static void collect_event_metrics(void *opaque, vg_strbuf_t *out) {
  (void)opaque;
  vg_metrics_family(out, "vigil_onvif_events_total", "counter", "ONVIF event notifications received.");
  for (int i = 0; i < ev.count; i++)
    vg_metrics_sample_u64(out, "vigil_onvif_events_total",
                          (const char *const[]){"camera", ev.cams[i].id, NULL},
                          atomic_load(&ev.cams[i].events));
  vg_metrics_family(out, "vigil_onvif_event_errors_total", "counter",
                    "Failed ONVIF event subscriptions and pulls.");
  for (int i = 0; i < ev.count; i++)
    vg_metrics_sample_u64(out, "vigil_onvif_event_errors_total",
                          (const char *const[]){"camera", ev.cams[i].id, NULL},
                          atomic_load(&ev.cams[i].errors));
}

int vg_onvif_events_start(const vg_camera_config_t *cfgs, int count) {
  int n = 0;
  for (int i = 0; i < count; i++)
    n += cfgs[i].kind == VG_SOURCE_ONVIF && cfgs[i].enabled && cfgs[i].onvif_events;
  if (n == 0) return 0;
  ev.cams = calloc((size_t)n, sizeof(*ev.cams));
  if (!ev.cams) return VG_ENOMEM;
  ev.stopping = 0;
  for (int i = 0; i < count; i++) {
    if (cfgs[i].kind != VG_SOURCE_ONVIF || !cfgs[i].enabled || !cfgs[i].onvif_events) continue;
    event_cam_t *ec = &ev.cams[ev.count];
    snprintf(ec->id, sizeof(ec->id), "%s", cfgs[i].id);
    ec->cfg = cfgs[i];
    pthread_mutex_init(&ec->lock, NULL);
    if (pthread_create(&ec->thread, NULL, event_thread, ec) != 0) {
      pthread_mutex_destroy(&ec->lock);
      break;
    }
    ev.count++;
  }
  vg_metrics_register("onvif_events", collect_event_metrics, NULL);
  return 0;
}

void vg_onvif_events_stop(void) {
  if (!ev.cams) return;
  vg_metrics_unregister("onvif_events");
  pthread_mutex_lock(&ev.lock);
  ev.stopping = 1;
  pthread_cond_broadcast(&ev.cond);
  pthread_mutex_unlock(&ev.lock);
  for (int i = 0; i < ev.count; i++) {
    pthread_join(ev.cams[i].thread, NULL);
    pthread_mutex_destroy(&ev.cams[i].lock);
  }
  free(ev.cams);
  ev.cams = NULL;
  ev.count = 0;
}

int vg_onvif_event_stats(const char *camera, vg_onvif_event_stats_t *out) {
  memset(out, 0, sizeof(*out));
  for (int i = 0; i < ev.count; i++) {
    event_cam_t *ec = &ev.cams[i];
    if (strcmp(ec->id, camera) != 0) continue;
    out->events = atomic_load(&ec->events);
    out->errors = atomic_load(&ec->errors);
    out->subscribed = atomic_load(&ec->subscribed);
    pthread_mutex_lock(&ec->lock);
    out->last = ec->last;
    pthread_mutex_unlock(&ec->lock);
    return 0;
  }
  return VG_ENOTFOUND;
}

/* ---- PTZ for the API ---- */

int vg_onvif_camera_ptz(const char *camera, vg_ptz_cmd_t *cmd, vg_onvif_preset_t *presets, int max_presets,
                        double status[3], char *error, size_t error_size) {
  /* The API runs this off its own thread (a slow route): the camera may be
   * removed meanwhile, so its settings are copied under a reference. */
  vg_camera_t *cam = vg_camera_get(camera);
  error[0] = '\0';
  if (!cam) return VG_ENOTFOUND;
  vg_camera_config_t cfg = cam->cfg;
  vg_camera_put(cam);
  if (cfg.kind != VG_SOURCE_ONVIF) {
    snprintf(error, error_size, "camera '%s' is not an ONVIF camera", camera);
    return VG_EUNSUPPORTED;
  }
  vg_onvif_dev_t *dev = calloc(1, sizeof(*dev));
  if (!dev) return VG_ENOMEM;
  char token[64];
  int err = vg_onvif_connect(dev, cfg.url, NULL, NULL, cfg.connect_timeout_ms);
  if (!err) err = pick_profile(dev, cfg.profile, token, sizeof(token));
  if (!err) err = vg_onvif_ptz(dev, token, cmd, presets, max_presets, status);
  if (err < 0) snprintf(error, error_size, "%s", dev->last_error[0] ? dev->last_error : vg_strerror(err));
  free(dev);
  return err;
}
