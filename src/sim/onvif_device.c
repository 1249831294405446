#include "sim/onvif_device.h"

#include <math.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "base/error.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "base/time.h"
#include "proto/onvif.h"
#include "proto/xml.h"

#define MAX_REQUEST (256 * 1024)
#define MAX_PRESETS 16
#define MAX_SUBS 8
#define MAX_DEVICES 256

static const vg_log_ctx_t lg = {"onvif-sim", NULL};

typedef struct {
  double pan, tilt, zoom;
} ptz_vec_t;

typedef struct {
  int used;
  int id;
  int64_t expires_s; /* device clock */
  int64_t delivered; /* index of the last event handed out */
} subscription_t;

typedef struct device {
  struct vg_onvif_devices *devs;
  int index; /* 0-based: camera index + 1 is its name */
  char cam[16];
  int port;
  uv_tcp_t listener;
  /* PTZ: the position at move_start plus velocity until move_until. */
  ptz_vec_t pos, vel;
  double move_start, move_until; /* monotonic seconds; until 0: no limit */
  struct {
    char token[8], name[64];
    ptz_vec_t pos;
  } presets[MAX_PRESETS];
  int preset_count;
  subscription_t subs[MAX_SUBS];
  int next_sub_id;
} device_t;

struct vg_onvif_devices {
  vg_onvif_device_config_t cfg;
  uv_loop_t loop;
  uv_async_t stop_async;
  uv_udp_t udp;
  int udp_open;
  pthread_t thread;
  int thread_started;
  double start_mono;
  device_t *dev;
  int count;
};

typedef struct {
  uv_tcp_t tcp;
  device_t *dev;
  char *buf;
  size_t len;
  uv_timer_t poll_timer; /* a PullMessages waiting for events */
  int timer_open;
  int sub_id, pull_limit;
  double pull_deadline;
  int closing;
} conn_t;

typedef struct {
  uv_write_t req;
  uv_buf_t buf;
  conn_t *conn;
} write_req_t;

static double mono_s(void) { return (double)vg_time_mono_us() / 1e6; }

static int64_t device_now_s(const struct vg_onvif_devices *d) {
  return (int64_t)time(NULL) + d->cfg.clock_offset_s;
}

/* ---- PTZ head ---- */

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

static ptz_vec_t ptz_position(const device_t *dev, double now) {
  double end = dev->move_until > 0 && now > dev->move_until ? dev->move_until : now;
  double dt = end - dev->move_start;
  if (dt < 0) dt = 0;
  /* Full speed (1.0) crosses the whole pan range (2.0) in 4 seconds. */
  ptz_vec_t p = {clampd(dev->pos.pan + dev->vel.pan * dt * 0.5, -1, 1),
                 clampd(dev->pos.tilt + dev->vel.tilt * dt * 0.5, -1, 1),
                 clampd(dev->pos.zoom + dev->vel.zoom * dt * 0.25, 0, 1)};
  return p;
}

static int ptz_moving(const device_t *dev, double now) {
  int has_vel = dev->vel.pan != 0 || dev->vel.tilt != 0 || dev->vel.zoom != 0;
  return has_vel && (dev->move_until == 0 || now < dev->move_until);
}

static void ptz_set(device_t *dev, ptz_vec_t pos, ptz_vec_t vel, double until) {
  dev->pos = (ptz_vec_t){clampd(pos.pan, -1, 1), clampd(pos.tilt, -1, 1), clampd(pos.zoom, 0, 1)};
  dev->vel = vel;
  dev->move_start = mono_s();
  dev->move_until = until;
}

/* ---- responses ---- */

#define ENVELOPE_OPEN                                                                                        \
  "<?xml version=\"1.0\" encoding=\"UTF-8\"?><s:Envelope "                                                   \
  "xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "                                                     \
  "xmlns:tt=\"http://www.onvif.org/ver10/schema\" xmlns:tds=\"" VG_ONVIF_NS_DEVICE                           \
  "\" xmlns:trt=\"" VG_ONVIF_NS_MEDIA "\" xmlns:tr2=\"" VG_ONVIF_NS_MEDIA2                                   \
  "\" xmlns:tptz=\"" VG_ONVIF_NS_PTZ "\" xmlns:tev=\"" VG_ONVIF_NS_EVENTS                                    \
  "\" xmlns:wsnt=\"http://docs.oasis-open.org/wsn/b-2\" "                                                    \
  "xmlns:wsa=\"http://www.w3.org/2005/08/addressing\" xmlns:tns1=\"http://www.onvif.org/ver10/topics\">"     \
  "<s:Body>"
#define ENVELOPE_CLOSE "</s:Body></s:Envelope>"

static void service_url(const device_t *dev, const char *service, char *out, size_t size) {
  snprintf(out, size, "http://%s:%d/onvif/%s", dev->devs->cfg.bind, dev->port, service);
}

static void format_time(int64_t t, char *out, size_t size) { vg_onvif_format_time(t, out, size); }

static void reply_datetime(const device_t *dev, vg_strbuf_t *out) {
  time_t t = (time_t)device_now_s(dev->devs);
  struct tm tm;
  gmtime_r(&t, &tm);
  vg_strbuf_printf(
      out,
      "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>"
      "<tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone>"
      "<tt:UTCDateTime><tt:Time><tt:Hour>%d</tt:Hour><tt:Minute>%d</tt:Minute><tt:Second>%d"
      "</tt:Second></tt:Time><tt:Date><tt:Year>%d</tt:Year><tt:Month>%d</tt:Month><tt:Day>%d</tt:Day>"
      "</tt:Date></tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>",
      tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

static void reply_services(const device_t *dev, vg_strbuf_t *out) {
  static const struct {
    const char *ns, *path;
  } services[] = {{VG_ONVIF_NS_DEVICE, "device_service"},
                  {VG_ONVIF_NS_MEDIA, "media_service"},
                  {VG_ONVIF_NS_MEDIA2, "media2_service"},
                  {VG_ONVIF_NS_PTZ, "ptz_service"},
                  {VG_ONVIF_NS_EVENTS, "events_service"}};
  vg_strbuf_puts(out, "<tds:GetServicesResponse>");
  for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
    char url[160];
    service_url(dev, services[i].path, url, sizeof(url));
    vg_strbuf_printf(out,
                     "<tds:Service><tds:Namespace>%s</tds:Namespace><tds:XAddr>%s</tds:XAddr><tds:Version>"
                     "<tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>",
                     services[i].ns, url);
  }
  vg_strbuf_puts(out, "</tds:GetServicesResponse>");
}

static void reply_capabilities(const device_t *dev, vg_strbuf_t *out) {
  char d[160], m[160], p[160], e[160];
  service_url(dev, "device_service", d, sizeof(d));
  service_url(dev, "media_service", m, sizeof(m));
  service_url(dev, "ptz_service", p, sizeof(p));
  service_url(dev, "events_service", e, sizeof(e));
  vg_strbuf_printf(
      out,
      "<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Device><tt:XAddr>%s</tt:XAddr></tt:Device>"
      "<tt:Events><tt:XAddr>%s</tt:XAddr><tt:WSSubscriptionPolicySupport>false"
      "</tt:WSSubscriptionPolicySupport><tt:WSPullPointSupport>true</tt:WSPullPointSupport>"
      "<tt:WSPausableSubscriptionManagerInterfaceSupport>false"
      "</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events><tt:Media><tt:XAddr>%s"
      "</tt:XAddr><tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true"
      "</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>"
      "<tt:PTZ><tt:XAddr>%s</tt:XAddr></tt:PTZ></tds:Capabilities></tds:GetCapabilitiesResponse>",
      d, e, m, p);
}

static void encoder_xml(const device_t *dev, vg_strbuf_t *out, const char *elem) {
  const vg_onvif_device_config_t *c = &dev->devs->cfg;
  vg_strbuf_printf(
      out,
      "<%s token=\"vec0\"><tt:Name>%s main encoder</tt:Name><tt:UseCount>1</tt:UseCount>"
      "<tt:Encoding>%s</tt:Encoding><tt:Resolution><tt:Width>%d</tt:Width><tt:Height>%d</tt:Height>"
      "</tt:Resolution><tt:Quality>5</tt:Quality><tt:RateControl><tt:FrameRateLimit>%d"
      "</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>2000"
      "</tt:BitrateLimit></tt:RateControl></%s>",
      elem, dev->cam, c->codec, c->width, c->height, c->fps, elem);
}

static void source_config_xml(const device_t *dev, vg_strbuf_t *out, const char *elem) {
  vg_strbuf_printf(
      out,
      "<%s token=\"vsc0\"><tt:Name>%s source</tt:Name><tt:UseCount>1</tt:UseCount>"
      "<tt:SourceToken>vs0</tt:SourceToken><tt:Bounds x=\"0\" y=\"0\" width=\"%d\" height=\"%d\"/>"
      "</%s>",
      elem, dev->cam, dev->devs->cfg.width, dev->devs->cfg.height, elem);
}

static void reply_profiles(const device_t *dev, vg_strbuf_t *out, int media2) {
  if (media2) {
    vg_strbuf_printf(out, "<tr2:GetProfilesResponse><tr2:Profiles token=\"main\" fixed=\"true\">"
                          "<tt:Name>main</tt:Name><tr2:Configurations>");
    source_config_xml(dev, out, "tr2:VideoSource");
    encoder_xml(dev, out, "tr2:VideoEncoder");
    vg_strbuf_printf(out, "<tr2:PTZ token=\"ptz0\"><tt:Name>ptz</tt:Name><tt:UseCount>1</tt:UseCount>"
                          "<tt:NodeToken>node0</tt:NodeToken></tr2:PTZ></tr2:Configurations></tr2:Profiles>"
                          "</tr2:GetProfilesResponse>");
    return;
  }
  vg_strbuf_printf(
      out, "<trt:GetProfilesResponse><trt:Profiles token=\"main\" fixed=\"true\"><tt:Name>main</tt:Name>");
  source_config_xml(dev, out, "tt:VideoSourceConfiguration");
  encoder_xml(dev, out, "tt:VideoEncoderConfiguration");
  vg_strbuf_printf(out,
                   "<tt:PTZConfiguration token=\"ptz0\"><tt:Name>ptz</tt:Name><tt:UseCount>1</tt:UseCount>"
                   "<tt:NodeToken>node0</tt:NodeToken></tt:PTZConfiguration></trt:Profiles>"
                   "</trt:GetProfilesResponse>");
}

static void reply_uri(const device_t *dev, vg_strbuf_t *out, int media2, int snapshot) {
  char uri[200];
  if (snapshot)
    snprintf(uri, sizeof(uri), "http://%s:%d/onvif/snapshot.jpg", dev->devs->cfg.bind, dev->port);
  else
    snprintf(uri, sizeof(uri), "rtsp://%s:%d/%s", dev->devs->cfg.bind, dev->devs->cfg.rtsp_port, dev->cam);
  const char *op = snapshot ? "GetSnapshotUriResponse" : "GetStreamUriResponse";
  if (media2) {
    vg_strbuf_printf(out, "<tr2:%s><tr2:Uri>%s</tr2:Uri></tr2:%s>", op, uri, op);
    return;
  }
  vg_strbuf_printf(
      out,
      "<trt:%s><trt:MediaUri><tt:Uri>%s</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
      "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout>"
      "</trt:MediaUri></trt:%s>",
      op, uri, op);
}

/* "PT1.5S", "PT2M", "PT0.250S" -> seconds; -1 when unreadable. */
static double parse_duration(const char *s) {
  if (strncmp(s, "PT", 2) != 0) return -1;
  double total = 0;
  const char *p = s + 2;
  while (*p) {
    char *end;
    double v = strtod(p, &end);
    if (end == p) return -1;
    if (*end == 'H')
      total += v * 3600;
    else if (*end == 'M')
      total += v * 60;
    else if (*end == 'S')
      total += v;
    else
      return -1;
    p = end + 1;
  }
  return total;
}

static double attr_num(const vg_xml_node_t *n, const char *path, const char *attr, double def) {
  const vg_xml_node_t *e = vg_xml_path(n, path);
  const char *v = e ? vg_xml_attr(e, attr) : NULL;
  return v ? strtod(v, NULL) : def;
}

static ptz_vec_t vector_of(const vg_xml_node_t *op, const char *elem, ptz_vec_t def) {
  char p[64], z[64];
  snprintf(p, sizeof(p), "%s/PanTilt", elem);
  snprintf(z, sizeof(z), "%s/Zoom", elem);
  ptz_vec_t v = {attr_num(op, p, "x", def.pan), attr_num(op, p, "y", def.tilt),
                 attr_num(op, z, "x", def.zoom)};
  if (!isfinite(v.pan) || !isfinite(v.tilt) || !isfinite(v.zoom)) return def;
  return v;
}

/* Handles a PTZ operation; returns 0 or a fault reason. */
static const char *handle_ptz(device_t *dev, const vg_xml_node_t *op, vg_strbuf_t *out) {
  double now = mono_s();
  ptz_vec_t here = ptz_position(dev, now), zero = {0, 0, 0};
  const char *name = op->name;
  if (!strcmp(name, "ContinuousMove")) {
    ptz_vec_t vel = vector_of(op, "Velocity", zero);
    vel = (ptz_vec_t){clampd(vel.pan, -1, 1), clampd(vel.tilt, -1, 1), clampd(vel.zoom, -1, 1)};
    char t[32];
    vg_xml_text(op, "Timeout", t, sizeof(t));
    double timeout = t[0] ? parse_duration(t) : 0;
    if (timeout < 0) return "bad Timeout";
    ptz_set(dev, here, vel, timeout > 0 ? now + timeout : 0);
    vg_strbuf_puts(out, "<tptz:ContinuousMoveResponse/>");
  } else if (!strcmp(name, "RelativeMove")) {
    ptz_vec_t d = vector_of(op, "Translation", zero);
    ptz_set(dev, (ptz_vec_t){here.pan + d.pan, here.tilt + d.tilt, here.zoom + d.zoom}, zero, 0);
    vg_strbuf_puts(out, "<tptz:RelativeMoveResponse/>");
  } else if (!strcmp(name, "AbsoluteMove")) {
    ptz_set(dev, vector_of(op, "Position", here), zero, 0);
    vg_strbuf_puts(out, "<tptz:AbsoluteMoveResponse/>");
  } else if (!strcmp(name, "Stop")) {
    ptz_set(dev, here, zero, 0);
    vg_strbuf_puts(out, "<tptz:StopResponse/>");
  } else if (!strcmp(name, "GetStatus")) {
    char t[32];
    format_time(device_now_s(dev->devs), t, sizeof(t));
    const char *state = ptz_moving(dev, now) ? "MOVING" : "IDLE";
    vg_strbuf_printf(
        out,
        "<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position><tt:PanTilt x=\"%.4f\" y=\"%.4f\"/>"
        "<tt:Zoom x=\"%.4f\"/></tt:Position><tt:MoveStatus><tt:PanTilt>%s</tt:PanTilt><tt:Zoom>%s"
        "</tt:Zoom></tt:MoveStatus><tt:UtcTime>%s</tt:UtcTime></tptz:PTZStatus>"
        "</tptz:GetStatusResponse>",
        here.pan, here.tilt, here.zoom, state, state, t);
  } else if (!strcmp(name, "SetPreset")) {
    char pname[64];
    if (vg_xml_text(op, "PresetName", pname, sizeof(pname)) < 0) return "bad PresetName";
    if (dev->preset_count == MAX_PRESETS) return "too many presets";
    int i = dev->preset_count++;
    snprintf(dev->presets[i].token, sizeof(dev->presets[i].token), "%d", i + 1);
    snprintf(dev->presets[i].name, sizeof(dev->presets[i].name), "%s",
             pname[0] ? pname : dev->presets[i].token);
    dev->presets[i].pos = here;
    vg_strbuf_printf(
        out, "<tptz:SetPresetResponse><tptz:PresetToken>%s</tptz:PresetToken></tptz:SetPresetResponse>",
        dev->presets[i].token);
  } else if (!strcmp(name, "GetPresets")) {
    vg_strbuf_puts(out, "<tptz:GetPresetsResponse>");
    for (int i = 0; i < dev->preset_count; i++) {
      char esc[200];
      vg_xml_escape(dev->presets[i].name, esc, sizeof(esc));
      vg_strbuf_printf(
          out,
          "<tptz:Preset token=\"%s\"><tt:Name>%s</tt:Name><tt:PTZPosition><tt:PanTilt x=\"%.4f\" "
          "y=\"%.4f\"/><tt:Zoom x=\"%.4f\"/></tt:PTZPosition></tptz:Preset>",
          dev->presets[i].token, esc, dev->presets[i].pos.pan, dev->presets[i].pos.tilt,
          dev->presets[i].pos.zoom);
    }
    vg_strbuf_puts(out, "</tptz:GetPresetsResponse>");
  } else if (!strcmp(name, "GotoPreset")) {
    char token[16];
    vg_xml_text(op, "PresetToken", token, sizeof(token));
    for (int i = 0; i < dev->preset_count; i++) {
      if (strcmp(dev->presets[i].token, token) == 0) {
        ptz_set(dev, dev->presets[i].pos, zero, 0);
        vg_strbuf_puts(out, "<tptz:GotoPresetResponse/>");
        return NULL;
      }
    }
    return "no such preset";
  } else {
    return "";
  }
  return NULL;
}

/* ---- events ---- */

/* Index of the newest motion event raised by now (0: none yet). */
static int64_t event_index(const device_t *dev) {
  int period = dev->devs->cfg.event_period_s;
  if (period <= 0) return 0;
  return (int64_t)((mono_s() - dev->devs->start_mono) / period);
}

static subscription_t *find_sub(device_t *dev, int id) {
  for (int i = 0; i < MAX_SUBS; i++)
    if (dev->subs[i].used && dev->subs[i].id == id) return &dev->subs[i];
  return NULL;
}

static void write_messages(device_t *dev, subscription_t *sub, int limit, vg_strbuf_t *out) {
  char now[32], term[32];
  int64_t t = device_now_s(dev->devs);
  format_time(t, now, sizeof(now));
  format_time(sub->expires_s, term, sizeof(term));
  vg_strbuf_printf(out,
                   "<tev:PullMessagesResponse><tev:CurrentTime>%s</tev:CurrentTime><tev:TerminationTime>%s"
                   "</tev:TerminationTime>",
                   now, term);
  int64_t newest = event_index(dev);
  int period = dev->devs->cfg.event_period_s;
  for (int n = 0; sub->delivered < newest && n < limit; n++) {
    int64_t k = ++sub->delivered;
    char when[32];
    /* Event k happened k periods after start, on the device's clock. */
    int64_t ago = (int64_t)(mono_s() - dev->devs->start_mono) - k * period;
    format_time(t - (ago > 0 ? ago : 0), when, sizeof(when));
    vg_strbuf_printf(out,
                     "<wsnt:NotificationMessage><wsnt:Topic Dialect=\"http://www.onvif.org/ver10/tev/"
                     "topicExpression/ConcreteSet\">tns1:RuleEngine/CellMotionDetector/Motion</wsnt:Topic>"
                     "<wsnt:Message><tt:Message UtcTime=\"%s\" PropertyOperation=\"Changed\"><tt:Source>"
                     "<tt:SimpleItem Name=\"VideoSourceConfigurationToken\" Value=\"vsc0\"/>"
                     "<tt:SimpleItem Name=\"Rule\" Value=\"MyMotionDetectorRule\"/></tt:Source><tt:Data>"
                     "<tt:SimpleItem Name=\"IsMotion\" Value=\"%s\"/></tt:Data></tt:Message></wsnt:Message>"
                     "</wsnt:NotificationMessage>",
                     when, k % 2 ? "true" : "false");
  }
  vg_strbuf_puts(out, "</tev:PullMessagesResponse>");
}

/* ---- HTTP ---- */

static void on_closed(uv_handle_t *h) {
  conn_t *c = h->data;
  if (--c->closing == 0) {
    free(c->buf);
    free(c);
  }
}

static void conn_close(conn_t *c) {
  if (c->closing) return;
  c->closing = 1;
  if (c->timer_open) {
    c->closing++;
    uv_close((uv_handle_t *)&c->poll_timer, on_closed);
  }
  uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_written(uv_write_t *req, int status) {
  write_req_t *w = (write_req_t *)req;
  (void)status;
  free(w->buf.base);
  conn_close(w->conn);
  free(w);
}

static void send_http(conn_t *c, int status, const char *type, const char *body, size_t len) {
  vg_strbuf_t sb;
  vg_strbuf_init(&sb, 0);
  vg_strbuf_printf(
      &sb, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
      status == 200   ? "OK"
      : status == 400 ? "Bad Request"
      : status == 404 ? "Not Found"
                      : "Internal Server Error",
      type, len);
  vg_strbuf_append(&sb, body, len);
  size_t n;
  char *data = vg_strbuf_steal(&sb, &n);
  write_req_t *w = calloc(1, sizeof(*w));
  if (!data || !w) {
    free(data);
    free(w);
    conn_close(c);
    return;
  }
  w->buf = uv_buf_init(data, (unsigned)n);
  w->conn = c;
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &w->buf, 1, on_written) != 0) {
    free(data);
    free(w);
    conn_close(c);
  }
}

static void send_soap(conn_t *c, vg_strbuf_t *body) {
  vg_strbuf_t env;
  vg_strbuf_init(&env, 0);
  vg_strbuf_puts(&env, ENVELOPE_OPEN);
  vg_strbuf_append(&env, body->data ? body->data : "", body->len);
  vg_strbuf_puts(&env, ENVELOPE_CLOSE);
  send_http(c, 200, "application/soap+xml; charset=utf-8", env.data, env.len);
  vg_strbuf_free(&env);
}

static void send_fault(conn_t *c, int status, const char *code, const char *subcode, const char *reason) {
  vg_strbuf_t sb;
  vg_strbuf_init(&sb, 0);
  vg_onvif_write_fault(&sb, code, subcode, reason);
  send_http(c, status, "application/soap+xml; charset=utf-8", sb.data, sb.len);
  vg_strbuf_free(&sb);
}

static void on_poll_timer(uv_timer_t *t) {
  conn_t *c = t->data;
  subscription_t *sub = find_sub(c->dev, c->sub_id);
  if (!sub) {
    send_fault(c, 400, "Sender", "ter:InvalidArgVal", "the subscription ended");
    return;
  }
  if (event_index(c->dev) > sub->delivered || mono_s() >= c->pull_deadline) {
    vg_strbuf_t body;
    vg_strbuf_init(&body, 0);
    write_messages(c->dev, sub, c->pull_limit, &body);
    send_soap(c, &body);
    vg_strbuf_free(&body);
    return;
  }
  uv_timer_start(&c->poll_timer, on_poll_timer, 100, 0);
}

static void handle_events(conn_t *c, const vg_xml_node_t *op, const char *path, vg_strbuf_t *out) {
  device_t *dev = c->dev;
  int64_t now = device_now_s(dev->devs);
  if (!strcmp(op->name, "CreatePullPointSubscription")) {
    subscription_t *sub = NULL;
    for (int i = 0; i < MAX_SUBS && !sub; i++)
      if (!dev->subs[i].used || dev->subs[i].expires_s < now) sub = &dev->subs[i];
    if (!sub) {
      send_fault(c, 500, "Receiver", "ter:MaxPullPointsReached", "too many subscriptions");
      return;
    }
    char t[32];
    vg_xml_text(op, "InitialTerminationTime", t, sizeof(t));
    double term = t[0] ? parse_duration(t) : 60;
    if (term <= 0) term = 60;
    *sub = (subscription_t){1, ++dev->next_sub_id, now + (int64_t)term, event_index(dev)};
    char url[200], cur[32], exp[32];
    snprintf(url, sizeof(url), "http://%s:%d/onvif/pullpoint/%d", dev->devs->cfg.bind, dev->port, sub->id);
    format_time(now, cur, sizeof(cur));
    format_time(sub->expires_s, exp, sizeof(exp));
    vg_strbuf_printf(
        out,
        "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa:Address>%s"
        "</wsa:Address></tev:SubscriptionReference><wsnt:CurrentTime>%s</wsnt:CurrentTime>"
        "<wsnt:TerminationTime>%s</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>",
        url, cur, exp);
    send_soap(c, out);
    return;
  }
  int id = 0;
  if (sscanf(path, "/onvif/pullpoint/%d", &id) != 1) {
    send_fault(c, 400, "Sender", "ter:InvalidArgVal", "not a subscription address");
    return;
  }
  subscription_t *sub = find_sub(dev, id);
  if (!sub || sub->expires_s < now) {
    send_fault(c, 400, "Sender", "ter:InvalidArgVal", "no such subscription");
    return;
  }
  if (!strcmp(op->name, "Unsubscribe")) {
    sub->used = 0;
    vg_strbuf_puts(out, "<wsnt:UnsubscribeResponse/>");
    send_soap(c, out);
  } else if (!strcmp(op->name, "Renew")) {
    sub->expires_s = now + 60;
    char cur[32], exp[32];
    format_time(now, cur, sizeof(cur));
    format_time(sub->expires_s, exp, sizeof(exp));
    vg_strbuf_printf(out,
                     "<wsnt:RenewResponse><wsnt:TerminationTime>%s</wsnt:TerminationTime><wsnt:CurrentTime>%s"
                     "</wsnt:CurrentTime></wsnt:RenewResponse>",
                     exp, cur);
    send_soap(c, out);
  } else if (!strcmp(op->name, "PullMessages")) {
    char t[32], l[16];
    vg_xml_text(op, "Timeout", t, sizeof(t));
    vg_xml_text(op, "MessageLimit", l, sizeof(l));
    double timeout = t[0] ? parse_duration(t) : 0;
    if (timeout < 0 || timeout > 60) timeout = 10;
    c->pull_limit = l[0] ? atoi(l) : 10;
    if (c->pull_limit < 1 || c->pull_limit > 100) c->pull_limit = 10;
    c->sub_id = id;
    c->pull_deadline = mono_s() + timeout;
    sub->expires_s = now + 60; /* pulling keeps a subscription alive */
    uv_timer_init(&dev->devs->loop, &c->poll_timer);
    c->poll_timer.data = c;
    c->timer_open = 1;
    on_poll_timer(&c->poll_timer);
  } else {
    send_fault(c, 500, "Receiver", "ter:ActionNotSupported", "operation not supported");
  }
}

static void handle_soap(conn_t *c, const char *path, const char *body, size_t len) {
  device_t *dev = c->dev;
  vg_xml_doc_t *doc = NULL;
  if (vg_xml_parse(body, len, &doc) != 0) {
    send_fault(c, 400, "Sender", "ter:WellFormed", "the request is not well-formed XML");
    return;
  }
  const vg_xml_node_t *env = vg_xml_root(doc), *op = vg_onvif_body(env);
  if (strcmp(env->name, "Envelope") != 0 || !op) {
    send_fault(c, 400, "Sender", "ter:InvalidArgVal", "not a SOAP envelope");
    vg_xml_free(&doc);
    return;
  }
  const vg_onvif_device_config_t *cfg = &dev->devs->cfg;
  int open_op = !strcmp(op->name, "GetSystemDateAndTime");
  if (!open_op && cfg->username[0] &&
      vg_onvif_check_token(env, cfg->username, cfg->password, device_now_s(dev->devs), 300) != 0) {
    send_fault(c, 400, "Sender", "ter:NotAuthorized", "Sender not authorized");
    vg_xml_free(&doc);
    return;
  }
  vg_log_debug(&lg, "%s: %s on %s", dev->cam, op->name, path);
  vg_strbuf_t out;
  vg_strbuf_init(&out, 0);
  const char *ns = vg_xml_namespace(op, op->prefix);
  int media2 = ns && !strcmp(ns, VG_ONVIF_NS_MEDIA2);
  const char *name = op->name;
  const char *fault = NULL;
  if (ns && (!strcmp(ns, VG_ONVIF_NS_EVENTS) || !strcmp(ns, "http://docs.oasis-open.org/wsn/b-2"))) {
    handle_events(c, op, path, &out);
    vg_strbuf_free(&out);
    vg_xml_free(&doc);
    return;
  }
  if (ns && !strcmp(ns, VG_ONVIF_NS_PTZ)) {
    fault = handle_ptz(dev, op, &out);
  } else if (open_op) {
    reply_datetime(dev, &out);
  } else if (!strcmp(name, "GetDeviceInformation")) {
    vg_strbuf_printf(&out,
                     "<tds:GetDeviceInformationResponse><tds:Manufacturer>vigil</tds:Manufacturer><tds:Model>"
                     "camsim</tds:Model><tds:FirmwareVersion>" VG_VERSION
                     "</tds:FirmwareVersion><tds:SerialNumber>"
                     "CAMSIM-%04d</tds:SerialNumber><tds:HardwareId>camsim</tds:HardwareId>"
                     "</tds:GetDeviceInformationResponse>",
                     dev->index + 1);
  } else if (!strcmp(name, "GetServices")) {
    reply_services(dev, &out);
  } else if (!strcmp(name, "GetCapabilities")) {
    reply_capabilities(dev, &out);
  } else if (!strcmp(name, "GetScopes")) {
    vg_strbuf_printf(
        &out,
        "<tds:GetScopesResponse><tds:Scopes><tt:ScopeDef>Fixed</tt:ScopeDef><tt:ScopeItem>"
        "onvif://www.onvif.org/name/camsim-%s</tt:ScopeItem></tds:Scopes></tds:GetScopesResponse>",
        dev->cam);
  } else if (!strcmp(name, "GetProfiles")) {
    reply_profiles(dev, &out, media2);
  } else if (!strcmp(name, "GetStreamUri") || !strcmp(name, "GetSnapshotUri")) {
    char token[64];
    vg_xml_text(op, "ProfileToken", token, sizeof(token));
    if (strcmp(token, "main") != 0)
      fault = "no such profile";
    else
      reply_uri(dev, &out, media2, name[3] == 'S' && name[4] == 'n');
  } else if (!strcmp(name, "GetVideoSources")) {
    vg_strbuf_printf(
        &out,
        "<trt:GetVideoSourcesResponse><trt:VideoSources token=\"vs0\"><tt:Framerate>%d</tt:Framerate>"
        "<tt:Resolution><tt:Width>%d</tt:Width><tt:Height>%d</tt:Height></tt:Resolution>"
        "</trt:VideoSources></trt:GetVideoSourcesResponse>",
        cfg->fps, cfg->width, cfg->height);
  } else if (!strcmp(name, "GetVideoSourceConfigurations")) {
    vg_strbuf_puts(&out, media2 ? "<tr2:GetVideoSourceConfigurationsResponse>"
                                : "<trt:GetVideoSourceConfigurationsResponse>");
    source_config_xml(dev, &out, media2 ? "tr2:Configurations" : "trt:Configurations");
    vg_strbuf_puts(&out, media2 ? "</tr2:GetVideoSourceConfigurationsResponse>"
                                : "</trt:GetVideoSourceConfigurationsResponse>");
  } else {
    fault = "";
  }
  if (fault && !*fault)
    send_fault(c, 500, "Receiver", "ter:ActionNotSupported", "operation not supported");
  else if (fault)
    send_fault(c, 400, "Sender", "ter:InvalidArgVal", fault);
  else
    send_soap(c, &out);
  vg_strbuf_free(&out);
  vg_xml_free(&doc);
}

/* Parses the buffered request once its head and body are in; returns 1
 * when handled, 0 to read more. */
static int try_request(conn_t *c) {
  char *end = c->len >= 4 ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
  if (!end) return 0;
  size_t head = (size_t)(end - c->buf) + 4;
  size_t body_len = 0;
  char method[8] = "", path[128] = "";
  if (sscanf(c->buf, "%7s %127s", method, path) != 2) {
    send_http(c, 400, "text/plain", "bad request\n", 12);
    return 1;
  }
  for (char *line = memchr(c->buf, '\n', head); line && line < end;
       line = memchr(line + 1, '\n', (size_t)(end - line))) {
    if (strncasecmp(line + 1, "Content-Length:", 15) == 0) body_len = strtoul(line + 16, NULL, 10);
  }
  if (body_len > MAX_REQUEST - head) {
    send_http(c, 400, "text/plain", "too large\n", 10);
    return 1;
  }
  if (c->len < head + body_len) return 0;
  if (strcmp(method, "POST") != 0 || strncmp(path, "/onvif/", 7) != 0) {
    send_http(c, 404, "text/plain", "not found\n", 10);
    return 1;
  }
  handle_soap(c, path, c->buf + head, body_len);
  return 1;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  buf->base = malloc(suggested);
  buf->len = buf->base ? suggested : 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = s->data;
  if (n < 0 || c->closing) {
    free(buf->base);
    if (n < 0) conn_close(c);
    return;
  }
  if (c->len + (size_t)n > MAX_REQUEST) {
    free(buf->base);
    conn_close(c);
    return;
  }
  memcpy(c->buf + c->len, buf->base, (size_t)n);
  c->len += (size_t)n;
  free(buf->base);
  if (try_request(c)) uv_read_stop(s);
}

static void on_connection(uv_stream_t *server, int status) {
  device_t *dev = server->data;
  if (status < 0) return;
  conn_t *c = calloc(1, sizeof(*c));
  if (!c || !(c->buf = malloc(MAX_REQUEST))) {
    free(c);
    return;
  }
  c->dev = dev;
  uv_tcp_init(&dev->devs->loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
      uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
    conn_close(c);
}

/* ---- discovery ---- */

typedef struct {
  uv_udp_send_t req;
  uv_buf_t buf;
} udp_send_t;

static void on_udp_sent(uv_udp_send_t *req, int status) {
  (void)status;
  udp_send_t *s = (udp_send_t *)req;
  free(s->buf.base);
  free(s);
}

static void on_udp_read(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                        unsigned flags) {
  struct vg_onvif_devices *d = h->data;
  (void)flags;
  if (n <= 0 || !from) {
    free(buf->base);
    return;
  }
  vg_xml_doc_t *doc = NULL;
  char msg_id[128];
  if (vg_xml_parse(buf->base, (size_t)n, &doc) == 0 &&
      vg_wsd_is_probe(vg_xml_root(doc), msg_id, sizeof(msg_id))) {
    for (int i = 0; i < d->count; i++) {
      device_t *dev = &d->dev[i];
      vg_wsd_match_t m;
      memset(&m, 0, sizeof(m));
      /* A device's endpoint is stable and unique: several simulators on one
       * host differ by their ports. */
      snprintf(m.endpoint, sizeof(m.endpoint), "urn:uuid:6a1f0c2e-7d3b-4c5a-9e8f-%06x%06x", (unsigned)dev->port,
               (unsigned)dev->index + 1);
      service_url(dev, "device_service", m.xaddrs, sizeof(m.xaddrs));
      snprintf(m.scopes, sizeof(m.scopes),
               "onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/Profile/Streaming "
               "onvif://www.onvif.org/Profile/T onvif://www.onvif.org/name/camsim-%s "
               "onvif://www.onvif.org/hardware/camsim",
               dev->cam);
      char own[64];
      snprintf(own, sizeof(own), "urn:uuid:%08x-0000-4000-8000-%012d", (unsigned)rand(), dev->index + 1);
      vg_strbuf_t sb;
      vg_strbuf_init(&sb, 0);
      vg_wsd_probe_matches(&sb, msg_id, own, &m);
      size_t len;
      char *data = vg_strbuf_steal(&sb, &len);
      udp_send_t *s = calloc(1, sizeof(*s));
      if (!data || !s) {
        free(data);
        free(s);
        continue;
      }
      s->buf = uv_buf_init(data, (unsigned)len);
      if (uv_udp_send(&s->req, h, &s->buf, 1, from, on_udp_sent) != 0) {
        free(data);
        free(s);
      }
    }
  }
  vg_xml_free(&doc);
  free(buf->base);
}

/* ---- thread ---- */

/* Closes whatever is still open on the loop: listeners, the discovery
 * socket, and the connections (with their poll timers). */
static void close_handle(uv_handle_t *h, void *arg) {
  struct vg_onvif_devices *d = arg;
  if (uv_is_closing(h) || h->type == UV_TIMER) return; /* timers belong to connections */
  if (h->type == UV_TCP) {
    for (int i = 0; i < d->count; i++) {
      if (h == (uv_handle_t *)&d->dev[i].listener) {
        uv_close(h, NULL);
        return;
      }
    }
    conn_close(h->data); /* a connection: its data is its conn_t */
    return;
  }
  uv_close(h, NULL);
}

static void on_stop(uv_async_t *a) { uv_walk(a->loop, close_handle, a->data); }

static void *device_thread(void *arg) {
  struct vg_onvif_devices *d = arg;
  uv_run(&d->loop, UV_RUN_DEFAULT);
  return NULL;
}

void vg_onvif_devices_stop(vg_onvif_devices_t **dp) {
  struct vg_onvif_devices *d = *dp;
  if (!d) return;
  *dp = NULL;
  if (d->thread_started) {
    uv_async_send(&d->stop_async);
    pthread_join(d->thread, NULL);
  } else {
    on_stop(&d->stop_async);
    uv_run(&d->loop, UV_RUN_DEFAULT);
  }
  uv_loop_close(&d->loop);
  free(d->dev);
  free(d);
}

static int start_discovery(struct vg_onvif_devices *d) {
  /* The socket is made here with SO_REUSEADDR only: libuv's REUSEADDR flag
   * may mean SO_REUSEPORT, whose load balancing would hand each probe to
   * one of several simulators on the host instead of all of them. */
  struct sockaddr_in addr = {
      .sin_family = AF_INET,
      .sin_port = htons((uint16_t)(d->cfg.discovery_port ? d->cfg.discovery_port : VG_WSD_PORT))};
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;
  if (fd < 0) return uv_translate_sys_error(errno);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
    int err = uv_translate_sys_error(errno);
    close(fd);
    return err;
  }
  int err = uv_udp_init(&d->loop, &d->udp);
  if (err) {
    close(fd);
    return err;
  }
  d->udp_open = 1;
  d->udp.data = d;
  if ((err = uv_udp_open(&d->udp, fd)) != 0) {
    close(fd);
    return err;
  }
  if ((err = uv_udp_set_membership(&d->udp, VG_WSD_ADDR, d->cfg.discovery_if, UV_JOIN_GROUP)) != 0 ||
      (err = uv_udp_recv_start(&d->udp, on_alloc, on_udp_read)) != 0)
    return err;
  return 0;
}

int vg_onvif_devices_start(const vg_onvif_device_config_t *cfg, vg_onvif_devices_t **out) {
  *out = NULL;
  if (cfg->cameras < 1 || cfg->cameras > MAX_DEVICES || cfg->port < 1 || cfg->port + cfg->cameras - 1 > 65535)
    return VG_EINVAL;
  struct vg_onvif_devices *d = calloc(1, sizeof(*d));
  if (!d || !(d->dev = calloc((size_t)cfg->cameras, sizeof(device_t)))) {
    free(d);
    return VG_ENOMEM;
  }
  d->cfg = *cfg;
  d->start_mono = mono_s();
  uv_loop_init(&d->loop);
  uv_async_init(&d->loop, &d->stop_async, on_stop);
  d->stop_async.data = d;
  int err = 0;
  for (int i = 0; i < cfg->cameras && !err; i++) {
    device_t *dev = &d->dev[i];
    dev->devs = d;
    dev->index = i;
    dev->port = cfg->port + i;
    snprintf(dev->cam, sizeof(dev->cam), "cam%d", i + 1);
    dev->move_start = d->start_mono;
    struct sockaddr_in addr;
    if ((err = uv_ip4_addr(cfg->bind, dev->port, &addr)) != 0) break;
    uv_tcp_init(&d->loop, &dev->listener);
    dev->listener.data = dev;
    d->count++;
    if ((err = uv_tcp_bind(&dev->listener, (const struct sockaddr *)&addr, 0)) == 0)
      err = uv_listen((uv_stream_t *)&dev->listener, 64, on_connection);
    if (err) vg_log_error(&lg, "cannot listen on %s:%d: %s", cfg->bind, dev->port, uv_strerror(err));
  }
  if (!err && cfg->discovery_if[0] && (err = start_discovery(d)) != 0)
    vg_log_error(&lg, "cannot answer discovery on %s: %s", cfg->discovery_if, uv_strerror(err));
  if (!err && pthread_create(&d->thread, NULL, device_thread, d) == 0)
    d->thread_started = 1;
  else if (!err)
    err = UV_ENOMEM;
  if (err) {
    vg_onvif_devices_stop(&d);
    return VG_EIO;
  }
  *out = d;
  return 0;
}
