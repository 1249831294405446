/*
 * sdp.h: Session Description Protocol (RFC 4566) for RTSP: parse what a
 * camera's DESCRIBE (or a publisher's ANNOUNCE) returns, turn its media
 * sections into vigil tracks, and write the SDP vigil's RTSP server serves.
 *
 * Client side:
 *
 *   vg_sdp_t *sdp = malloc(sizeof *sdp);          // ~30 KiB: do not put it on a small stack
 *   if (vg_sdp_parse(body, body_len, sdp) < 0) ...;
 *   for (int i = 0; i < sdp->n_media; i++) {
 *     vg_track_t track = {0};
 *     if (vg_sdp_media_to_track(&sdp->media[i], &track) < 0) continue;  // unsupported codec
 *     char url[1024];
 *     vg_sdp_resolve_control(sdp, i, content_base_or_request_url, url, sizeof url);  // SETUP url
 *     ... vg_track_clear(&track) when done
 *   }
 *
 * Server side: vg_sdp_write() from the hub's tracks; a SETUP URL is mapped
 * back to its track with vg_sdp_control_track_index().
 *
 * vg_sdp_t copies what it keeps (NUL-terminated strings), so it does not
 * depend on the input buffer. Pure functions: any thread, on its own data.
 */
#ifndef VG_PROTO_SDP_H
#define VG_PROTO_SDP_H

#include <stddef.h>
#include <stdint.h>

#include "media/track.h"

#define VG_SDP_MAX_MEDIA 8
#define VG_SDP_MAX_FORMATS 16
#define VG_SDP_MAX_FMTP_PARAMS 24
#define VG_SDP_MAX_FMTP 2048   /* raw fmtp parameter string (sprop-sps of 4K H.265 fits) */
#define VG_SDP_MAX_CONTROL 1024
#define VG_SDP_MAX_INPUT (64 * 1024)

typedef enum {
  VG_SDP_MEDIA_OTHER = 0,
  VG_SDP_MEDIA_VIDEO,
  VG_SDP_MEDIA_AUDIO,
  VG_SDP_MEDIA_APPLICATION, /* e.g. ONVIF metadata */
} vg_sdp_media_type_t;

typedef enum {
  VG_SDP_SENDRECV = 0, /* the default when absent */
  VG_SDP_SENDONLY,
  VG_SDP_RECVONLY,
  VG_SDP_INACTIVE,
} vg_sdp_direction_t;

/* One fmtp parameter: offsets into vg_sdp_media_t.fmtp. */
typedef struct {
  uint16_t key_off, key_len, value_off, value_len;
} vg_sdp_fmtp_param_t;

typedef struct {
  vg_sdp_media_type_t type;
  char media[16];  /* as written: "video", "audio", "application", ... */
  uint16_t port;   /* 0 in RTSP DESCRIBE answers, usually */
  char proto[32];  /* "RTP/AVP", "RTP/AVP/TCP", "RTP/SAVP", ... */
  int formats[VG_SDP_MAX_FORMATS]; /* payload types from the m= line, in order */
  int n_formats;

  /* The first format of the m= line is the one vigil uses; rtpmap and fmtp
   * below describe it. */
  int payload_type;
  char encoding[32];   /* rtpmap encoding name as written ("H264", "MPEG4-GENERIC"); "" if no rtpmap */
  uint32_t clock_rate; /* rtpmap clock rate; for static payload types (0, 8) the RFC 3551 rate */
  int channels;        /* rtpmap channels; 1 when not given for audio, 0 for video */

  char fmtp[VG_SDP_MAX_FMTP]; /* the raw parameter string after "a=fmtp:<pt> " */
  vg_sdp_fmtp_param_t fmtp_params[VG_SDP_MAX_FMTP_PARAMS];
  int n_fmtp_params;

  char control[VG_SDP_MAX_CONTROL]; /* a=control value; "" when absent */
  vg_sdp_direction_t direction;     /* the media's, else the session's */
  int has_direction;
  char connection[64];              /* c= address ("0.0.0.0"), else the session's */
  double framerate;                 /* a=framerate, 0 if absent (informative only) */
} vg_sdp_media_t;

typedef struct {
  char name[128];                   /* s= */
  char origin_address[64];          /* o= unicast address */
  char connection[64];              /* session c= address, "" if absent */
  char control[VG_SDP_MAX_CONTROL]; /* session a=control, "" if absent */
  char range[64];                   /* a=range value, e.g. "npt=0-" or "npt=now-" */
  vg_sdp_direction_t direction;
  vg_sdp_media_t media[VG_SDP_MAX_MEDIA];
  int n_media; /* media beyond VG_SDP_MAX_MEDIA are ignored */
} vg_sdp_t;

/* Parses an SDP body (up to VG_SDP_MAX_INPUT bytes). Lenient where cameras
 * are sloppy (LF-only lines, blanks around values, unknown lines, missing
 * v=/o=/t=), strict where it matters: a line without "x=", a bad m= line or
 * rtpmap, or an overlong value fail. Returns 0, VG_EPROTO or VG_ETOOBIG; on
 * failure *out is zeroed. */
int vg_sdp_parse(const char *text, size_t len, vg_sdp_t *out);

/* The value of fmtp parameter `key` (case-insensitive) of a media: a
 * pointer into m->fmtp (not NUL-terminated) and its length, or NULL. */
const char *vg_sdp_fmtp_get(const vg_sdp_media_t *m, const char *key, size_t *len);

/* The URL to SETUP media `index`, RFC 2326 §C.1.1: an absolute control is
 * used as is; "*" or no control means the base itself; a relative control
 * is appended to the base with a '/' between them unless the base already
 * ends with '/'. That append rule (not RFC 3986 resolution, which would
 * drop the base's last segment) is what live555, ffmpeg and GStreamer do
 * and what cameras rely on ("rtsp://cam/ch1" + "trackID=1" ->
 * "rtsp://cam/ch1/trackID=1", also when the base has a query). A session-
 * level absolute control replaces `base` first. base is the Content-Base
 * (or Content-Location) of the DESCRIBE answer, else the request URL.
 * Returns the length, VG_EINVAL (bad index), or VG_ETOOBIG. */
int vg_sdp_resolve_control(const vg_sdp_t *sdp, int index, const char *base, char *out, size_t out_size);
/* The aggregate control URL (for PLAY/RECORD/TEARDOWN of the whole
 * session): the session control resolved as above, else base. */
int vg_sdp_session_control(const vg_sdp_t *sdp, const char *base, char *out, size_t out_size);

/* Describes media m as a track: codec (H264, H265/HEVC, MPEG4-GENERIC AAC,
 * PCMU/PCMA including static payload types 0 and 8, OPUS), clock rate,
 * sample rate and channels for audio, and extradata: H.264
 * sprop-parameter-sets / H.265 sprop-vps, -sps, -pps as 4-byte
 * length-prefixed NAL units; AAC the AudioSpecificConfig from config=.
 * Width, height and fps are left 0 (the SPS parser fills them). Returns 0,
 * VG_EUNSUPPORTED (another codec, or AAC not in AAC-hbr/lbr mode), VG_EPROTO
 * (bad base64/hex in the parameters) or VG_ENOMEM. On failure *track is
 * zeroed; on success it owns a reference to its extradata (vg_track_clear). */
int vg_sdp_media_to_track(const vg_sdp_media_t *m, vg_track_t *track);

/* What vg_sdp_write() needs besides the tracks. */
typedef struct {
  const char *session_name;   /* s=, default "vigil" */
  const char *origin_address; /* o= and c= address, default "0.0.0.0" (IPv4) */
  uint64_t session_id;        /* o= session id and version */
  const char *range;          /* a=range value, NULL: "npt=0-" (what live555 serves for live streams) */
} vg_sdp_write_opts_t;

/* Writes the SDP of a DESCRIBE answer for tracks[0..n): one m= section each,
 * payload type payload_types[i], control "trackID=<i>", session control
 * "*". H.264 gets packetization-mode=1, profile-level-id from its SPS and
 * sprop-parameter-sets; H.265 sprop-vps/sps/pps; AAC MPEG4-GENERIC
 * AAC-hbr with its config; PCMU/PCMA (static types 0/8 are honoured);
 * Opus opus/48000/2. Lines end in CRLF. Returns the length (NUL-terminated),
 * VG_EUNSUPPORTED (a codec it cannot describe, e.g. AAC without
 * extradata), VG_EINVAL (bad argument) or VG_ETOOBIG. */
int vg_sdp_write(const vg_track_t *tracks, const int *payload_types, int n, const vg_sdp_write_opts_t *opts,
                 char *out, size_t out_size);

/* The track index named by a SETUP URL or control ("rtsp://h/p/trackID=1"
 * -> 1): the number after the last "trackID=" / "streamid=". Returns it, or
 * VG_ENOTFOUND. */
int vg_sdp_control_track_index(const char *url);

#endif
