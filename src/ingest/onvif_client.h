/*
 * onvif_client.h: vigil as an ONVIF client (Profile S and T).
 *
 *  - Discovery: a WS-Discovery probe sent to 239.255.255.250:3702 from a
 *    chosen interface; every ProbeMatch that arrives within the timeout.
 *  - Devices: connect (GetSystemDateAndTime first, unauthenticated, to learn
 *    the device's clock offset, so that UsernameTokens are "created" on the
 *    device's clock; then GetServices, or GetCapabilities on old devices),
 *    device information, profiles (Media 2 when the device has it, Media 1
 *    otherwise), stream and snapshot URIs, PTZ, PullPoint events.
 *  - Cameras of type "onvif" (ingest/camera.h): their url is the device
 *    service address; at each (re)connection the ONVIF source resolves the
 *    stream URI of the configured profile on a thread of its own and hands
 *    the camera to the RTSP source with the device's credentials.
 *  - Events: for each ONVIF camera a thread keeps a PullPoint subscription
 *    and hands every notification to the registered sink (events become
 *    vigil triggers).
 *
 * SOAP goes over HTTP with libcurl; calls block the calling thread for at
 * most the given timeout, so they run on threads of their own or on the HTTP
 * API's thread (bounded by the timeout), never on an I/O worker.
 *
 * Threads: the functions on a vg_onvif_dev_t belong to one thread at a
 * time; the registry functions are thread-safe.
 */
#ifndef VG_INGEST_ONVIF_CLIENT_H
#define VG_INGEST_ONVIF_CLIENT_H

#include <stdint.h>

#include "ingest/camera.h"
#include "proto/onvif.h"

#define VG_ONVIF_MAX_PROFILES 16

typedef struct {
  char url[512]; /* device service address, without credentials */
  vg_onvif_cred_t cred;
  int timeout_ms;
  int64_t clock_offset_s; /* device clock - our clock */
  vg_onvif_services_t services;
  vg_onvif_device_info_t info;
  char last_error[256];
} vg_onvif_dev_t;

/* Connects to the device at url (http://[user:pass@]host[:port]/path;
 * credentials in the URL are used unless user is given). Returns 0 or an
 * error with dev->last_error saying what failed. */
int vg_onvif_connect(vg_onvif_dev_t *dev, const char *url, const char *user, const char *password,
                     int timeout_ms);
/* The device's video profiles (Media 2, else Media 1). Returns the count. */
int vg_onvif_profiles(vg_onvif_dev_t *dev, vg_onvif_profile_t *out, int max);
int vg_onvif_stream_uri(vg_onvif_dev_t *dev, const char *profile, char *uri, size_t size);
int vg_onvif_snapshot_uri(vg_onvif_dev_t *dev, const char *profile, char *uri, size_t size);
/* A PTZ command; presets (GET_PRESETS: count returned), status (GET_STATUS)
 * and the new preset's token (SET_PRESET, into cmd->preset) come back. */
int vg_onvif_ptz(vg_onvif_dev_t *dev, const char *profile, vg_ptz_cmd_t *cmd, vg_onvif_preset_t *presets,
                 int max_presets, double status[3]);

/* Sends a probe from the interface with address iface ("0.0.0.0": the
 * default route's) and collects answers for timeout_ms. Returns the number
 * of distinct devices written to out. */
int vg_onvif_discover(const char *iface, int timeout_ms, vg_wsd_match_t *out, int max);

/* ---- cameras of type onvif ---- */

extern const vg_source_ops_t vg_onvif_source_ops;

/* Where ONVIF event notifications go: camera id, event. Called on the
 * camera's event thread. */
typedef void (*vg_onvif_event_sink_fn)(void *opaque, const char *camera, const vg_onvif_event_t *ev);
void vg_onvif_set_event_sink(vg_onvif_event_sink_fn fn, void *opaque);

/* Starts the PullPoint threads of the ONVIF cameras in cfgs (those with
 * onvif_events on), and stops them. */
int vg_onvif_events_start(const vg_camera_config_t *cfgs, int count);
void vg_onvif_events_stop(void);

/* Figures of one camera's event subscription, for the API. */
typedef struct {
  uint64_t events;       /* notifications received */
  uint64_t errors;       /* failed subscriptions or pulls */
  int subscribed;        /* a subscription is active now */
  vg_onvif_event_t last; /* the latest notification */
} vg_onvif_event_stats_t;
int vg_onvif_event_stats(const char *camera, vg_onvif_event_stats_t *out);

/* Runs a PTZ command on camera (an ONVIF camera of the node) with its
 * configured credentials and profile. VG_ENOTFOUND for an unknown camera,
 * VG_EUNSUPPORTED for one that is not ONVIF or has no PTZ service. */
int vg_onvif_camera_ptz(const char *camera, vg_ptz_cmd_t *cmd, vg_onvif_preset_t *presets, int max_presets,
                        double status[3], char *error, size_t error_size);

#endif
