/*
 * onvif.h: ONVIF (Profile S/T) and WS-Discovery messages, sans I/O.
 *
 * Requests are built as SOAP 1.2 envelopes into a vg_strbuf_t; responses
 * are read from a parsed document (proto/xml.h) into plain structs. The
 * transport (HTTP POST for services, UDP multicast for discovery) belongs
 * to the caller: vigil's client (ingest/onvif_client.h) and camsim's
 * simulated device (sim/onvif_device.h) share these codecs.
 *
 * Authentication is WS-Security UsernameToken with a password digest:
 *   Digest = Base64(SHA-1(nonce + created + password))
 * where created is the device's clock as the client believes it: clients
 * correct their clock by the offset measured with GetSystemDateAndTime
 * (which devices answer without authentication), since a device whose
 * clock is off refuses tokens "created" outside its window.
 *
 * Elements are matched by local name (prefixes differ between vendors).
 *
 * Threads: no state; any thread.
 */
#ifndef VG_PROTO_ONVIF_H
#define VG_PROTO_ONVIF_H

#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"
#include "proto/xml.h"

#define VG_ONVIF_NS_DEVICE "http://www.onvif.org/ver10/device/wsdl"
#define VG_ONVIF_NS_MEDIA "http://www.onvif.org/ver10/media/wsdl"
#define VG_ONVIF_NS_MEDIA2 "http://www.onvif.org/ver20/media/wsdl"
#define VG_ONVIF_NS_PTZ "http://www.onvif.org/ver20/ptz/wsdl"
#define VG_ONVIF_NS_EVENTS "http://www.onvif.org/ver10/events/wsdl"

/* ---- envelopes and security ---- */

typedef struct {
  char username[64];
  char password[128];
} vg_onvif_cred_t;

/* Writes base64(SHA-1(nonce + created + password)) into out. Returns its
 * length or an error. */
int vg_onvif_password_digest(const uint8_t *nonce, size_t nonce_len, const char *created,
                             const char *password, char *out, size_t size);
/* Formats a UTC time as ONVIF writes it ("2026-11-21T15:04:05Z"). */
void vg_onvif_format_time(int64_t unix_s, char *out, size_t size);
/* Parses "YYYY-MM-DDTHH:MM:SS[.fff]Z" into unix seconds. 0 or VG_EINVAL. */
int vg_onvif_parse_time(const char *s, int64_t *unix_s);

/* Wraps body (an XML fragment) in a SOAP 1.2 envelope. With cred (and a
 * non-empty user name) a WS-Security header carries a UsernameToken whose
 * Created time is device_now_s and whose nonce is the 16 given bytes.
 * Returns 0 or the buffer's error. */
int vg_onvif_envelope(vg_strbuf_t *out, const vg_onvif_cred_t *cred, int64_t device_now_s,
                      const uint8_t nonce[16], const char *body);

/* Checks the UsernameToken of a request against user/password and the
 * device's clock (now_s), allowing max_skew_s either way. Returns 0,
 * VG_EAUTH (missing, wrong user or digest, or outside the window). For the
 * device side. */
int vg_onvif_check_token(const vg_xml_node_t *envelope, const char *username, const char *password,
                         int64_t now_s, int max_skew_s);

/* The first element of the Body (the operation of a request or the
 * response), or NULL. */
const vg_xml_node_t *vg_onvif_body(const vg_xml_node_t *envelope);
/* When the envelope is a SOAP fault, writes its reason (or code) and
 * returns 1; else 0. */
int vg_onvif_fault(const vg_xml_node_t *envelope, char *reason, size_t size);
/* Writes a SOAP 1.2 fault envelope (code "Sender"/"Receiver", a subcode
 * such as "ter:NotAuthorized" and a reason). */
int vg_onvif_write_fault(vg_strbuf_t *out, const char *code, const char *subcode, const char *reason);

/* ---- requests (bodies) ---- */

typedef enum { VG_ONVIF_MEDIA1 = 1, VG_ONVIF_MEDIA2 = 2 } vg_onvif_media_ver_t;

int vg_onvif_req_simple(vg_strbuf_t *out, const char *ns, const char *op); /* <op xmlns=ns/> */
int vg_onvif_req_get_services(vg_strbuf_t *out);
int vg_onvif_req_get_profiles(vg_strbuf_t *out, vg_onvif_media_ver_t ver);
int vg_onvif_req_stream_uri(vg_strbuf_t *out, vg_onvif_media_ver_t ver, const char *profile);
int vg_onvif_req_snapshot_uri(vg_strbuf_t *out, vg_onvif_media_ver_t ver, const char *profile);

typedef enum {
  VG_PTZ_CONTINUOUS = 0,
  VG_PTZ_RELATIVE,
  VG_PTZ_ABSOLUTE,
  VG_PTZ_STOP,
  VG_PTZ_GOTO_PRESET,
  VG_PTZ_SET_PRESET,
  VG_PTZ_GET_PRESETS,
  VG_PTZ_GET_STATUS,
} vg_ptz_op_t;

typedef struct {
  vg_ptz_op_t op;
  double pan, tilt, zoom; /* velocities (-1..1) or positions/translations (-1..1, zoom 0..1) */
  int timeout_ms;         /* continuous moves: stop after this long (0: until Stop) */
  char preset[64];        /* goto: the preset token; set: its name */
} vg_ptz_cmd_t;

int vg_onvif_req_ptz(vg_strbuf_t *out, const char *profile, const vg_ptz_cmd_t *cmd);
/* Events: CreatePullPointSubscription and PullMessages. */
int vg_onvif_req_create_pullpoint(vg_strbuf_t *out, int termination_s);
int vg_onvif_req_pull_messages(vg_strbuf_t *out, int timeout_s, int limit);

/* ---- responses ---- */

typedef struct {
  char manufacturer[64], model[64], firmware[64], serial[64], hardware[64];
} vg_onvif_device_info_t;

typedef struct {
  char device[256], media[256], media2[256], ptz[256], events[256];
} vg_onvif_services_t;

typedef struct {
  char token[64];
  char name[64];
  char encoding[16]; /* "H264", "H265", "JPEG"... */
  int width, height;
  double fps;
  int has_ptz;
} vg_onvif_profile_t;

typedef struct {
  char token[64];
  char name[64];
} vg_onvif_preset_t;

typedef struct {
  char topic[128];    /* e.g. "tns1:RuleEngine/CellMotionDetector/Motion" */
  int64_t utc_s;      /* UtcTime */
  char operation[16]; /* Initialized, Changed, Deleted */
  char source[128];   /* first SimpleItem of Source: "Name=Value" */
  char data_name[64]; /* first SimpleItem of Data */
  char data_value[64];
} vg_onvif_event_t;

int vg_onvif_parse_datetime(const vg_xml_node_t *envelope, int64_t *device_unix_s);
int vg_onvif_parse_device_info(const vg_xml_node_t *envelope, vg_onvif_device_info_t *out);
/* GetServices or GetCapabilities responses. */
int vg_onvif_parse_services(const vg_xml_node_t *envelope, vg_onvif_services_t *out);
/* Returns the number of profiles written (at most max). */
int vg_onvif_parse_profiles(const vg_xml_node_t *envelope, vg_onvif_profile_t *out, int max);
/* GetStreamUri / GetSnapshotUri of Media 1 or 2. */
int vg_onvif_parse_uri(const vg_xml_node_t *envelope, char *uri, size_t size);
int vg_onvif_parse_presets(const vg_xml_node_t *envelope, vg_onvif_preset_t *out, int max);
int vg_onvif_parse_ptz_status(const vg_xml_node_t *envelope, double *pan, double *tilt, double *zoom);
/* SetPreset's token. */
int vg_onvif_parse_preset_token(const vg_xml_node_t *envelope, char *token, size_t size);
int vg_onvif_parse_subscription(const vg_xml_node_t *envelope, char *address, size_t size);
int vg_onvif_parse_messages(const vg_xml_node_t *envelope, vg_onvif_event_t *out, int max);

/* ---- WS-Discovery (SOAP 1.2 over UDP 239.255.255.250:3702) ---- */

#define VG_WSD_ADDR "239.255.255.250"
#define VG_WSD_PORT 3702

typedef struct {
  char endpoint[128]; /* the device's stable id, e.g. "urn:uuid:..." */
  char xaddrs[512];   /* service addresses, space separated */
  char scopes[512];
  char types[128];
} vg_wsd_match_t;

/* A Probe for NetworkVideoTransmitter devices with message id msg_id. */
int vg_wsd_probe(vg_strbuf_t *out, const char *msg_id);
/* Parses a ProbeMatches answer; returns the number of matches written
 * (at most max) and copies RelatesTo into relates_to (may be NULL). */
int vg_wsd_parse_matches(const vg_xml_node_t *envelope, vg_wsd_match_t *out, int max, char *relates_to,
                         size_t relates_size);
/* For a device: whether envelope is a Probe that asks for types it serves
 * (no Types, or NetworkVideoTransmitter / Device); writes its MessageID. */
int vg_wsd_is_probe(const vg_xml_node_t *envelope, char *msg_id, size_t size);
/* A device's ProbeMatches answer to msg_id. */
int vg_wsd_probe_matches(vg_strbuf_t *out, const char *relates_to, const char *own_msg_id,
                         const vg_wsd_match_t *match);

#endif
