/*
 * onvif_device.h: camsim's simulated ONVIF devices (Profile S and T).
 *
 * Each simulated camera camN is one ONVIF device with its own HTTP port
 * (base port + N - 1) serving the device, Media (1 and 2), PTZ and event
 * services, and all of them answer WS-Discovery probes on UDP 3702
 * (multicast 239.255.255.250, joined on the configured interface). What a
 * device serves:
 *  - device: GetSystemDateAndTime (unauthenticated, with an optional
 *    simulated clock offset), GetDeviceInformation, GetServices,
 *    GetCapabilities, GetScopes;
 *  - media 1 and 2: one profile "main" (the camera's codec, size and rate)
 *    with a PTZ configuration, GetStreamUri pointing at camsim's RTSP
 *    server, GetSnapshotUri, GetVideoSources, GetVideoSourceConfigurations;
 *  - PTZ: ContinuousMove (with timeout), RelativeMove, AbsoluteMove, Stop,
 *    SetPreset, GetPresets, GotoPreset, GetStatus on a simulated head whose
 *    position integrates the commanded velocity over time;
 *  - events: CreatePullPointSubscription, PullMessages (long poll up to the
 *    requested timeout), Unsubscribe, Renew; the device raises a motion
 *    event (tns1:RuleEngine/CellMotionDetector/Motion, IsMotion true then
 *    false) every event_period_s.
 * Every operation but GetSystemDateAndTime requires a WS-Security
 * UsernameToken digest when a user is configured; a bad one gets a
 * ter:NotAuthorized fault.
 *
 * Threads: the devices run on one thread of their own with a libuv loop;
 * start and stop are called from the main thread.
 */
#ifndef VG_SIM_ONVIF_DEVICE_H
#define VG_SIM_ONVIF_DEVICE_H

typedef struct {
  char bind[64];     /* HTTP listen address, also used in service addresses */
  int port;          /* first device's port; camera N gets port + N - 1 */
  int cameras;       /* cam1..camN */
  char username[64]; /* empty: no authentication */
  char password[64];
  int rtsp_port;     /* camsim's RTSP port, for stream URIs */
  const char *codec; /* "H264" or "H265" */
  int width, height, fps;
  int clock_offset_s;    /* the devices' clock runs this far from the host's */
  int event_period_s;    /* motion event period; 0: none */
  char discovery_if[64]; /* interface address for the multicast group; "" = no discovery */
  int discovery_port;    /* default 3702 */
} vg_onvif_device_config_t;

typedef struct vg_onvif_devices vg_onvif_devices_t;

int vg_onvif_devices_start(const vg_onvif_device_config_t *cfg, vg_onvif_devices_t **out);
void vg_onvif_devices_stop(vg_onvif_devices_t **devs);

#endif
