/* analytics_config.c: see analytics_config.h. (Work in progress.) */
#include "vision/analytics_config.h"

#include <string.h>

#include "base/error.h"

void vg_analytics_config_default(vg_analytics_config_t *out) {
  memset(out, 0, sizeof(*out));
  vg_motion_config_default(&out->motion);
  vg_tracker_config_default(&out->tracker);
  vg_detection_filter_default(&out->filter);
  vg_tamper_config_default(&out->tamper);
  vg_sensors_config_default(&out->sensors);
}

int vg_analytics_config_parse(vg_cfg_t *c, json_t *obj, const char *const *extra_keys,
                              vg_analytics_config_t *out) {
  (void)extra_keys;
  vg_analytics_config_default(out);
  out->enabled = obj != NULL;
  return c->failed ? VG_ECONFIG : 0;
}
