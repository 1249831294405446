#include "proto/onvif.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base64.h"
#include "base/error.h"

#define NS_SOAP "http://www.w3.org/2003/05/soap-envelope"
#define NS_SCHEMA "http://www.onvif.org/ver10/schema"
#define NS_WSSE "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
#define NS_WSU "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
#define WSSE_DIGEST                                                                                          \
  "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
#define WSSE_BASE64                                                                                          \
  "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
#define NS_WSA "http://schemas.xmlsoap.org/ws/2004/08/addressing"
#define NS_WSD "http://schemas.xmlsoap.org/ws/2005/04/discovery"
#define NS_DN "http://www.onvif.org/ver10/network/wsdl"

/* ---- security ---- */

int vg_onvif_password_digest(const uint8_t *nonce, size_t nonce_len, const char *created,
                             const char *password, char *out, size_t size) {
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned md_len = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx) return VG_ENOMEM;
  int ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) && EVP_DigestUpdate(ctx, nonce, nonce_len) &&
           EVP_DigestUpdate(ctx, created, strlen(created)) &&
           EVP_DigestUpdate(ctx, password, strlen(password)) && EVP_DigestFinal_ex(ctx, md, &md_len);
  EVP_MD_CTX_free(ctx);
  if (!ok) return VG_EIO;
  return vg_base64_encode(md, md_len, out, size);
}

void vg_onvif_format_time(int64_t unix_s, char *out, size_t size) {
  time_t t = (time_t)unix_s;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int vg_onvif_parse_time(const char *s, int64_t *unix_s) {
  struct tm tm = {0};
  int n = 0;
  if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
             &tm.tm_sec, &n) != 6)
    return VG_EINVAL;
  const char *rest = s + n;
  if (*rest == '.')
    for (rest++; *rest >= '0' && *rest <= '9'; rest++) {
    }
  if (strcmp(rest, "Z") != 0) return VG_EINVAL;
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60)
    return VG_EINVAL;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  *unix_s = (int64_t)timegm(&tm);
  return 0;
}

int vg_onvif_envelope(vg_strbuf_t *out, const vg_onvif_cred_t *cred, int64_t device_now_s,
                      const uint8_t nonce[16], const char *body) {
  vg_strbuf_printf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                        "<s:Envelope xmlns:s=\"" NS_SOAP "\" xmlns:tt=\"" NS_SCHEMA "\">");
  if (cred && cred->username[0]) {
    char created[32], digest[64], nonce64[32], user[200];
    vg_onvif_format_time(device_now_s, created, sizeof(created));
    int err = vg_onvif_password_digest(nonce, 16, created, cred->password, digest, sizeof(digest));
    if (err < 0) return err;
    vg_base64_encode(nonce, 16, nonce64, sizeof(nonce64));
    if (vg_xml_escape(cred->username, user, sizeof(user)) < 0) return VG_ETOOBIG;
    vg_strbuf_printf(out,
                     "<s:Header><wsse:Security s:mustUnderstand=\"1\" xmlns:wsse=\"" NS_WSSE
                     "\" xmlns:wsu=\"" NS_WSU "\"><wsse:UsernameToken><wsse:Username>%s</wsse:Username>"
                     "<wsse:Password Type=\"" WSSE_DIGEST "\">%s</wsse:Password>"
                     "<wsse:Nonce EncodingType=\"" WSSE_BASE64 "\">%s</wsse:Nonce>"
                     "<wsu:Created>%s</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header>",
                     user, digest, nonce64, created);
  }
  vg_strbuf_printf(out, "<s:Body>%s</s:Body></s:Envelope>", body);
  return out->error;
}

int vg_onvif_check_token(const vg_xml_node_t *env, const char *username, const char *password, int64_t now_s,
                         int max_skew_s) {
  const vg_xml_node_t *tok = vg_xml_path(env, "Header/Security/UsernameToken");
  if (!tok) return VG_EAUTH;
  char user[128], digest[128], nonce64[128], created[64];
  if (vg_xml_text(tok, "Username", user, sizeof(user)) < 0 ||
      vg_xml_text(tok, "Password", digest, sizeof(digest)) < 0 ||
      vg_xml_text(tok, "Nonce", nonce64, sizeof(nonce64)) < 0 ||
      vg_xml_text(tok, "Created", created, sizeof(created)) < 0)
    return VG_EAUTH;
  if (strcmp(user, username) != 0) return VG_EAUTH;
  uint8_t nonce[96];
  int nonce_len = vg_base64_decode(nonce64, strlen(nonce64), nonce, sizeof(nonce));
  int64_t t;
  if (nonce_len <= 0 || vg_onvif_parse_time(created, &t) != 0) return VG_EAUTH;
  if (t < now_s - max_skew_s || t > now_s + max_skew_s) return VG_EAUTH;
  char expect[64];
  if (vg_onvif_password_digest(nonce, (size_t)nonce_len, created, password, expect, sizeof(expect)) < 0)
    return VG_EAUTH;
  /* A digest is public-ish (it travels in clear); the comparison need not
   * be constant-time, but costs nothing to make so. */
  size_t n = strlen(expect);
  if (strlen(digest) != n) return VG_EAUTH;
  unsigned diff = 0;
  for (size_t i = 0; i < n; i++)
    diff |= (unsigned char)(digest[i] ^ expect[i]);
  return diff ? VG_EAUTH : 0;
}

const vg_xml_node_t *vg_onvif_body(const vg_xml_node_t *env) {
  const vg_xml_node_t *body = vg_xml_child(env, "Body");
  return body ? body->first_child : NULL;
}

int vg_onvif_fault(const vg_xml_node_t *env, char *reason, size_t size) {
  const vg_xml_node_t *f = vg_onvif_body(env);
  if (!f || strcmp(f->name, "Fault") != 0) return 0;
  if (vg_xml_text(f, "Reason/Text", reason, size) <= 0 &&
      vg_xml_text(f, "Code/Subcode/Value", reason, size) <= 0 &&
      vg_xml_text(f, "Code/Value", reason, size) <= 0 && vg_xml_text(f, "faultstring", reason, size) <= 0)
    snprintf(reason, size, "SOAP fault");
  return 1;
}

int vg_onvif_write_fault(vg_strbuf_t *out, const char *code, const char *subcode, const char *reason) {
  char r[512];
  vg_xml_escape(reason, r, sizeof(r));
  vg_strbuf_printf(
      out,
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?><s:Envelope xmlns:s=\"" NS_SOAP
      "\" xmlns:ter=\"http://www.onvif.org/ver10/error\"><s:Body><s:Fault><s:Code><s:Value>s:%s</s:Value>"
      "<s:Subcode><s:Value>%s</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang=\"en\">%s"
      "</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>",
      code, subcode, r);
  return out->error;
}

/* ---- requests ---- */

int vg_onvif_req_simple(vg_strbuf_t *out, const char *ns, const char *op) {
  return vg_strbuf_printf(out, "<%s xmlns=\"%s\"/>", op, ns);
}

int vg_onvif_req_get_services(vg_strbuf_t *out) {
  return vg_strbuf_printf(out, "<GetServices xmlns=\"" VG_ONVIF_NS_DEVICE
                               "\"><IncludeCapability>false</IncludeCapability></GetServices>");
}

int vg_onvif_req_get_profiles(vg_strbuf_t *out, vg_onvif_media_ver_t ver) {
  if (ver == VG_ONVIF_MEDIA2)
    return vg_strbuf_printf(out,
                            "<GetProfiles xmlns=\"" VG_ONVIF_NS_MEDIA2 "\"><Type>All</Type></GetProfiles>");
  return vg_onvif_req_simple(out, VG_ONVIF_NS_MEDIA, "GetProfiles");
}

static int escaped(const char *s, char *out, size_t size) {
  return vg_xml_escape(s, out, size) < 0 ? VG_ETOOBIG : 0;
}

int vg_onvif_req_stream_uri(vg_strbuf_t *out, vg_onvif_media_ver_t ver, const char *profile) {
  char p[256];
  if (escaped(profile, p, sizeof(p))) return VG_ETOOBIG;
  if (ver == VG_ONVIF_MEDIA2)
    return vg_strbuf_printf(out,
                            "<GetStreamUri xmlns=\"" VG_ONVIF_NS_MEDIA2
                            "\"><Protocol>RTSP</Protocol><ProfileToken>%s</ProfileToken></GetStreamUri>",
                            p);
  return vg_strbuf_printf(
      out,
      "<GetStreamUri xmlns=\"" VG_ONVIF_NS_MEDIA
      "\"><StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>RTSP"
      "</tt:Protocol></tt:Transport></StreamSetup><ProfileToken>%s</ProfileToken></GetStreamUri>",
      p);
}

int vg_onvif_req_snapshot_uri(vg_strbuf_t *out, vg_onvif_media_ver_t ver, const char *profile) {
  char p[256];
  if (escaped(profile, p, sizeof(p))) return VG_ETOOBIG;
  return vg_strbuf_printf(out,
                          "<GetSnapshotUri xmlns=\"%s\"><ProfileToken>%s</ProfileToken></GetSnapshotUri>",
                          ver == VG_ONVIF_MEDIA2 ? VG_ONVIF_NS_MEDIA2 : VG_ONVIF_NS_MEDIA, p);
}

static void ptz_vector(vg_strbuf_t *out, const char *elem, double pan, double tilt, double zoom) {
  vg_strbuf_printf(out, "<%s><tt:PanTilt x=\"%.4f\" y=\"%.4f\"/><tt:Zoom x=\"%.4f\"/></%s>", elem, pan, tilt,
                   zoom, elem);
}

int vg_onvif_req_ptz(vg_strbuf_t *out, const char *profile, const vg_ptz_cmd_t *cmd) {
  char p[256], preset[256];
  if (escaped(profile, p, sizeof(p)) || escaped(cmd->preset, preset, sizeof(preset))) return VG_ETOOBIG;
  static const char *const ops[] = {"ContinuousMove", "RelativeMove", "AbsoluteMove", "Stop",
                                    "GotoPreset",     "SetPreset",    "GetPresets",   "GetStatus"};
  if ((unsigned)cmd->op >= sizeof(ops) / sizeof(ops[0])) return VG_EINVAL;
  const char *op = ops[cmd->op];
  vg_strbuf_printf(out, "<%s xmlns=\"" VG_ONVIF_NS_PTZ "\"><ProfileToken>%s</ProfileToken>", op, p);
  switch (cmd->op) {
  case VG_PTZ_CONTINUOUS:
    ptz_vector(out, "Velocity", cmd->pan, cmd->tilt, cmd->zoom);
    if (cmd->timeout_ms > 0)
      vg_strbuf_printf(out, "<Timeout>PT%d.%03dS</Timeout>", cmd->timeout_ms / 1000, cmd->timeout_ms % 1000);
    break;
  case VG_PTZ_RELATIVE: ptz_vector(out, "Translation", cmd->pan, cmd->tilt, cmd->zoom); break;
  case VG_PTZ_ABSOLUTE: ptz_vector(out, "Position", cmd->pan, cmd->tilt, cmd->zoom); break;
  case VG_PTZ_STOP: vg_strbuf_printf(out, "<PanTilt>true</PanTilt><Zoom>true</Zoom>"); break;
  case VG_PTZ_GOTO_PRESET: vg_strbuf_printf(out, "<PresetToken>%s</PresetToken>", preset); break;
  case VG_PTZ_SET_PRESET: vg_strbuf_printf(out, "<PresetName>%s</PresetName>", preset); break;
  default: break;
  }
  return vg_strbuf_printf(out, "</%s>", op);
}

int vg_onvif_req_create_pullpoint(vg_strbuf_t *out, int termination_s) {
  return vg_strbuf_printf(
      out,
      "<CreatePullPointSubscription xmlns=\"" VG_ONVIF_NS_EVENTS
      "\"><InitialTerminationTime>PT%dS</InitialTerminationTime></CreatePullPointSubscription>",
      termination_s);
}

int vg_onvif_req_pull_messages(vg_strbuf_t *out, int timeout_s, int limit) {
  return vg_strbuf_printf(out,
                          "<PullMessages xmlns=\"" VG_ONVIF_NS_EVENTS
                          "\"><Timeout>PT%dS</Timeout><MessageLimit>%d</MessageLimit></PullMessages>",
                          timeout_s, limit);
}

/* ---- responses ---- */

/* The response element of the body, checked by name. */
static const vg_xml_node_t *response(const vg_xml_node_t *env, const char *name) {
  const vg_xml_node_t *r = vg_onvif_body(env);
  return r && strcmp(r->name, name) == 0 ? r : NULL;
}

int vg_onvif_parse_datetime(const vg_xml_node_t *env, int64_t *device_unix_s) {
  const vg_xml_node_t *r = response(env, "GetSystemDateAndTimeResponse");
  const vg_xml_node_t *utc = r ? vg_xml_find(r, "UTCDateTime") : NULL;
  if (!utc) return VG_EPROTO;
  char v[6][16];
  static const char *const paths[] = {"Date/Year", "Date/Month",  "Date/Day",
                                      "Time/Hour", "Time/Minute", "Time/Second"};
  int n[6];
  for (int i = 0; i < 6; i++) {
    if (vg_xml_text(utc, paths[i], v[i], sizeof(v[i])) <= 0) return VG_EPROTO;
    char *end;
    long x = strtol(v[i], &end, 10);
    if (*end || x < 0 || x > 9999) return VG_EPROTO;
    n[i] = (int)x;
  }
  struct tm tm = {.tm_year = n[0] - 1900,
                  .tm_mon = n[1] - 1,
                  .tm_mday = n[2],
                  .tm_hour = n[3],
                  .tm_min = n[4],
                  .tm_sec = n[5]};
  if (n[1] < 1 || n[1] > 12 || n[2] < 1 || n[2] > 31 || n[3] > 23 || n[4] > 59 || n[5] > 60) return VG_EPROTO;
  *device_unix_s = (int64_t)timegm(&tm);
  return 0;
}

int vg_onvif_parse_device_info(const vg_xml_node_t *env, vg_onvif_device_info_t *out) {
  memset(out, 0, sizeof(*out));
  const vg_xml_node_t *r = response(env, "GetDeviceInformationResponse");
  if (!r) return VG_EPROTO;
  vg_xml_text(r, "Manufacturer", out->manufacturer, sizeof(out->manufacturer));
  vg_xml_text(r, "Model", out->model, sizeof(out->model));
  vg_xml_text(r, "FirmwareVersion", out->firmware, sizeof(out->firmware));
  vg_xml_text(r, "SerialNumber", out->serial, sizeof(out->serial));
  vg_xml_text(r, "HardwareId", out->hardware, sizeof(out->hardware));
  return 0;
}

int vg_onvif_parse_services(const vg_xml_node_t *env, vg_onvif_services_t *out) {
  memset(out, 0, sizeof(*out));
  const vg_xml_node_t *r = response(env, "GetServicesResponse");
  if (r) {
    for (const vg_xml_node_t *s = vg_xml_child(r, "Service"); s; s = vg_xml_next_same(s)) {
      char ns[128], *dst = NULL;
      vg_xml_text(s, "Namespace", ns, sizeof(ns));
      if (!strcmp(ns, VG_ONVIF_NS_DEVICE))
        dst = out->device;
      else if (!strcmp(ns, VG_ONVIF_NS_MEDIA))
        dst = out->media;
      else if (!strcmp(ns, VG_ONVIF_NS_MEDIA2))
        dst = out->media2;
      else if (!strcmp(ns, VG_ONVIF_NS_PTZ))
        dst = out->ptz;
      else if (!strcmp(ns, VG_ONVIF_NS_EVENTS))
        dst = out->events;
      if (dst && vg_xml_text(s, "XAddr", dst, sizeof(out->device)) < 0) dst[0] = '\0';
    }
    return 0;
  }
  r = response(env, "GetCapabilitiesResponse");
  const vg_xml_node_t *caps = r ? vg_xml_child(r, "Capabilities") : NULL;
  if (!caps) return VG_EPROTO;
  if (vg_xml_text(caps, "Device/XAddr", out->device, sizeof(out->device)) < 0) out->device[0] = '\0';
  if (vg_xml_text(caps, "Media/XAddr", out->media, sizeof(out->media)) < 0) out->media[0] = '\0';
  if (vg_xml_text(caps, "PTZ/XAddr", out->ptz, sizeof(out->ptz)) < 0) out->ptz[0] = '\0';
  if (vg_xml_text(caps, "Events/XAddr", out->events, sizeof(out->events)) < 0) out->events[0] = '\0';
  return 0;
}

static int text_int(const vg_xml_node_t *n, const char *path) {
  char v[32];
  if (vg_xml_text(n, path, v, sizeof(v)) <= 0) return 0;
  long x = strtol(v, NULL, 10);
  return x > 0 && x < 100000 ? (int)x : 0;
}

int vg_onvif_parse_profiles(const vg_xml_node_t *env, vg_onvif_profile_t *out, int max) {
  const vg_xml_node_t *r = response(env, "GetProfilesResponse");
  if (!r) return VG_EPROTO;
  int n = 0;
  for (const vg_xml_node_t *p = vg_xml_child(r, "Profiles"); p && n < max; p = vg_xml_next_same(p)) {
    vg_onvif_profile_t *o = &out[n];
    memset(o, 0, sizeof(*o));
    const char *token = vg_xml_attr(p, "token");
    if (!token || !*token || strlen(token) >= sizeof(o->token)) continue;
    snprintf(o->token, sizeof(o->token), "%s", token);
    const vg_xml_node_t *name = vg_xml_child(p, "Name");
    snprintf(o->name, sizeof(o->name), "%s", name ? name->text : "");
    /* Media 1 puts the encoder at the profile, Media 2 under Configurations. */
    const vg_xml_node_t *venc = vg_xml_child(p, "VideoEncoderConfiguration");
    const vg_xml_node_t *conf = vg_xml_child(p, "Configurations");
    if (!venc && conf) venc = vg_xml_child(conf, "VideoEncoder");
    if (venc) {
      if (vg_xml_text(venc, "Encoding", o->encoding, sizeof(o->encoding)) < 0) o->encoding[0] = '\0';
      o->width = text_int(venc, "Resolution/Width");
      o->height = text_int(venc, "Resolution/Height");
      char fps[32];
      if (vg_xml_text(venc, "RateControl/FrameRateLimit", fps, sizeof(fps)) > 0) o->fps = strtod(fps, NULL);
      if (!(o->fps > 0 && o->fps < 1000)) o->fps = 0;
    }
    o->has_ptz = vg_xml_child(p, "PTZConfiguration") != NULL || (conf && vg_xml_child(conf, "PTZ") != NULL);
    n++;
  }
  return n;
}

int vg_onvif_parse_uri(const vg_xml_node_t *env, char *uri, size_t size) {
  const vg_xml_node_t *r = vg_onvif_body(env);
  if (!r || (strcmp(r->name, "GetStreamUriResponse") != 0 && strcmp(r->name, "GetSnapshotUriResponse") != 0))
    return VG_EPROTO;
  const vg_xml_node_t *u = vg_xml_find(r, "Uri");
  if (!u) return VG_EPROTO;
  int n = vg_xml_text(u, "", uri, size);
  return n > 0 ? 0 : n < 0 ? n : VG_EPROTO;
}

int vg_onvif_parse_presets(const vg_xml_node_t *env, vg_onvif_preset_t *out, int max) {
  const vg_xml_node_t *r = response(env, "GetPresetsResponse");
  if (!r) return VG_EPROTO;
  int n = 0;
  for (const vg_xml_node_t *p = vg_xml_child(r, "Preset"); p && n < max; p = vg_xml_next_same(p)) {
    const char *token = vg_xml_attr(p, "token");
    if (!token || strlen(token) >= sizeof(out[n].token)) continue;
    snprintf(out[n].token, sizeof(out[n].token), "%s", token);
    if (vg_xml_text(p, "Name", out[n].name, sizeof(out[n].name)) < 0) out[n].name[0] = '\0';
    n++;
  }
  return n;
}

static double attr_double(const vg_xml_node_t *n, const char *name) {
  const char *v = n ? vg_xml_attr(n, name) : NULL;
  return v ? strtod(v, NULL) : 0;
}

int vg_onvif_parse_ptz_status(const vg_xml_node_t *env, double *pan, double *tilt, double *zoom) {
  const vg_xml_node_t *r = response(env, "GetStatusResponse");
  const vg_xml_node_t *pos = r ? vg_xml_path(r, "PTZStatus/Position") : NULL;
  if (!pos) return VG_EPROTO;
  const vg_xml_node_t *pt = vg_xml_child(pos, "PanTilt");
  *pan = attr_double(pt, "x");
  *tilt = attr_double(pt, "y");
  *zoom = attr_double(vg_xml_child(pos, "Zoom"), "x");
  return 0;
}

int vg_onvif_parse_preset_token(const vg_xml_node_t *env, char *token, size_t size) {
  const vg_xml_node_t *r = response(env, "SetPresetResponse");
  if (!r) return VG_EPROTO;
  return vg_xml_text(r, "PresetToken", token, size) > 0 ? 0 : VG_EPROTO;
}

int vg_onvif_parse_subscription(const vg_xml_node_t *env, char *address, size_t size) {
  const vg_xml_node_t *r = response(env, "CreatePullPointSubscriptionResponse");
  if (!r) return VG_EPROTO;
  return vg_xml_text(r, "SubscriptionReference/Address", address, size) > 0 ? 0 : VG_EPROTO;
}

/* "Name=Value" of the first SimpleItem under parent/which. */
static void first_item(const vg_xml_node_t *msg, const char *which, char *name, size_t nsize, char *value,
                       size_t vsize) {
  const vg_xml_node_t *item = vg_xml_path(msg, which);
  item = item ? vg_xml_child(item, "SimpleItem") : NULL;
  snprintf(name, nsize, "%s", item && vg_xml_attr(item, "Name") ? vg_xml_attr(item, "Name") : "");
  snprintf(value, vsize, "%s", item && vg_xml_attr(item, "Value") ? vg_xml_attr(item, "Value") : "");
}

int vg_onvif_parse_messages(const vg_xml_node_t *env, vg_onvif_event_t *out, int max) {
  const vg_xml_node_t *r = response(env, "PullMessagesResponse");
  if (!r) return VG_EPROTO;
  int n = 0;
  for (const vg_xml_node_t *m = vg_xml_child(r, "NotificationMessage"); m && n < max;
       m = vg_xml_next_same(m)) {
    vg_onvif_event_t *e = &out[n];
    memset(e, 0, sizeof(*e));
    if (vg_xml_text(m, "Topic", e->topic, sizeof(e->topic)) < 0) e->topic[0] = '\0';
    const vg_xml_node_t *msg = vg_xml_path(m, "Message/Message");
    if (!msg) continue;
    const char *t = vg_xml_attr(msg, "UtcTime");
    if (!t || vg_onvif_parse_time(t, &e->utc_s) != 0) e->utc_s = 0;
    snprintf(e->operation, sizeof(e->operation), "%s",
             vg_xml_attr(msg, "PropertyOperation") ? vg_xml_attr(msg, "PropertyOperation") : "");
    char sname[64], svalue[64];
    first_item(msg, "Source", sname, sizeof(sname), svalue, sizeof(svalue));
    if (sname[0]) snprintf(e->source, sizeof(e->source), "%s=%s", sname, svalue);
    first_item(msg, "Data", e->data_name, sizeof(e->data_name), e->data_value, sizeof(e->data_value));
    n++;
  }
  return n;
}

/* ---- WS-Discovery ---- */

int vg_wsd_probe(vg_strbuf_t *out, const char *msg_id) {
  return vg_strbuf_printf(out,
                          "<?xml version=\"1.0\" encoding=\"UTF-8\"?><s:Envelope xmlns:s=\"" NS_SOAP
                          "\" xmlns:a=\"" NS_WSA "\" xmlns:d=\"" NS_WSD "\" xmlns:dn=\"" NS_DN
                          "\"><s:Header><a:Action s:mustUnderstand=\"1\">" NS_WSD "/Probe</a:Action>"
                          "<a:MessageID>%s</a:MessageID><a:To s:mustUnderstand=\"1\">"
                          "urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header><s:Body><d:Probe>"
                          "<d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>",
                          msg_id);
}

int vg_wsd_parse_matches(const vg_xml_node_t *env, vg_wsd_match_t *out, int max, char *relates_to,
                         size_t relates_size) {
  if (relates_to && vg_xml_text(env, "Header/RelatesTo", relates_to, relates_size) < 0) relates_to[0] = '\0';
  const vg_xml_node_t *r = response(env, "ProbeMatches");
  if (!r) return VG_EPROTO;
  int n = 0;
  for (const vg_xml_node_t *m = vg_xml_child(r, "ProbeMatch"); m && n < max; m = vg_xml_next_same(m)) {
    vg_wsd_match_t *o = &out[n];
    memset(o, 0, sizeof(*o));
    if (vg_xml_text(m, "EndpointReference/Address", o->endpoint, sizeof(o->endpoint)) < 0 ||
        vg_xml_text(m, "XAddrs", o->xaddrs, sizeof(o->xaddrs)) <= 0)
      continue;
    if (vg_xml_text(m, "Scopes", o->scopes, sizeof(o->scopes)) < 0) o->scopes[0] = '\0';
    if (vg_xml_text(m, "Types", o->types, sizeof(o->types)) < 0) o->types[0] = '\0';
    n++;
  }
  return n;
}

int vg_wsd_is_probe(const vg_xml_node_t *env, char *msg_id, size_t size) {
  const vg_xml_node_t *r = response(env, "Probe");
  if (!r || vg_xml_text(env, "Header/MessageID", msg_id, size) <= 0) return 0;
  char types[256];
  if (vg_xml_text(r, "Types", types, sizeof(types)) < 0) return 0;
  return types[0] == '\0' || strstr(types, "NetworkVideoTransmitter") != NULL ||
         strstr(types, "Device") != NULL;
}

int vg_wsd_probe_matches(vg_strbuf_t *out, const char *relates_to, const char *own_msg_id,
                         const vg_wsd_match_t *m) {
  char rel[256], ep[256], scopes[1024], xaddrs[1024];
  if (escaped(relates_to, rel, sizeof(rel)) || escaped(m->endpoint, ep, sizeof(ep)) ||
      escaped(m->scopes, scopes, sizeof(scopes)) || escaped(m->xaddrs, xaddrs, sizeof(xaddrs)))
    return VG_ETOOBIG;
  return vg_strbuf_printf(
      out,
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?><s:Envelope xmlns:s=\"" NS_SOAP "\" xmlns:a=\"" NS_WSA
      "\" xmlns:d=\"" NS_WSD "\" xmlns:dn=\"" NS_DN "\" xmlns:tds=\"" VG_ONVIF_NS_DEVICE
      "\"><s:Header><a:Action>" NS_WSD "/ProbeMatches</a:Action><a:MessageID>%s</a:MessageID>"
      "<a:RelatesTo>%s</a:RelatesTo><a:To>" NS_WSA "/role/anonymous</a:To></s:Header><s:Body><d:ProbeMatches>"
      "<d:ProbeMatch><a:EndpointReference><a:Address>%s</a:Address></a:EndpointReference>"
      "<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types><d:Scopes>%s</d:Scopes><d:XAddrs>%s</d:XAddrs>"
      "<d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>",
      own_msg_id, rel, ep, scopes, xaddrs);
}
