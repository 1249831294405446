/* Fuzzes the SDP parser, control URL resolution, media->track conversion,
 * and writes the tracks back out (the writer must accept what to_track made). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "proto/sdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static vg_sdp_t sdp;
  if (vg_sdp_parse((const char *)data, size, &sdp) < 0) return 0;
  vg_track_t tracks[VG_SDP_MAX_MEDIA];
  int pts[VG_SDP_MAX_MEDIA];
  int n = 0;
  char url[2048];
  vg_sdp_session_control(&sdp, "rtsp://cam:554/live?x=1", url, sizeof(url));
  for (int i = 0; i < sdp.n_media; i++) {
    vg_sdp_resolve_control(&sdp, i, "rtsp://cam/live/", url, sizeof(url));
    vg_sdp_control_track_index(sdp.media[i].control);
    size_t len;
    vg_sdp_fmtp_get(&sdp.media[i], "config", &len);
    if (vg_sdp_media_to_track(&sdp.media[i], &tracks[n]) == 0) {
      pts[n] = sdp.media[i].payload_type;
      n++;
    }
  }
  static char out[65536];
  int w = vg_sdp_write(tracks, pts, n, NULL, out, sizeof(out));
  if (w > 0) {
    static vg_sdp_t back;
    /* What the writer produced must parse again. */
    if (vg_sdp_parse(out, (size_t)w, &back) != 0) __builtin_trap();
    if (back.n_media != n) __builtin_trap();
  }
  for (int i = 0; i < n; i++)
    vg_track_clear(&tracks[i]);
  return 0;
}
