/* analytics_validate.c: checks a camera's "analytics" object with vision's
 * parser, for cameras_api.c. A file of its own because vision's tracker.h
 * and media/track.h both name a type vg_track_t, so one translation unit
 * cannot include both. */
#include <stdlib.h>

#include "api/analytics_validate.h"
#include "base/error.h"
#include "vision/analytics_config.h"

/* The analytics pipeline's own keys in a camera's "analytics" object
 * (src/analytics/config.c on the analytics branch); vision reads the rest. */
static const char *const pipeline_keys[] = {"substream", "detect_fps", "detect_width", NULL};

int vg_api_analytics_validate(vg_cfg_t *c, json_t *obj) {
  vg_analytics_config_t *parsed = malloc(sizeof(*parsed));
  if (!parsed) return VG_ENOMEM;
  int err = vg_analytics_config_parse(c, obj, pipeline_keys, parsed);
  free(parsed);
  return err;
}
