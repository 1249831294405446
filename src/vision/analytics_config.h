/*
 * analytics_config.h: a camera's "analytics" configuration object
 * (docs/CONFIG.md, "cameras[].analytics"): motion, tracker, detection
 * filters, tamper and the virtual sensors, read with the errors-name-the-
 * field reader of base/config.h.
 *
 * The pipeline's own keys (decoding, detect rate, model) live in the same
 * object: pass them as extra_keys so that they are not unknown keys here.
 * Single-threaded, like vg_cfg_t.
 */
#ifndef VG_VISION_ANALYTICS_CONFIG_H
#define VG_VISION_ANALYTICS_CONFIG_H

#include <stdbool.h>

#include "base/config.h"
#include "vision/filter.h"
#include "vision/motion.h"
#include "vision/sensors.h"
#include "vision/tamper.h"
#include "vision/tracker.h"

typedef struct {
  bool enabled; /* default true when the object is present, false when absent */
  vg_motion_config_t motion;
  vg_tracker_config_t tracker;
  vg_detection_filter_t filter;
  vg_tamper_config_t tamper;
  vg_sensors_config_t sensors;
} vg_analytics_config_t;

/* Every part at its default, enabled false. */
void vg_analytics_config_default(vg_analytics_config_t *out);

/* Reads obj (the "analytics" object; NULL gives the defaults with enabled
 * false) into out. extra_keys (NULL-terminated, may be NULL) are accepted
 * and ignored. Returns 0 or VG_ECONFIG (c names the field). out is large
 * (tens of KiB): allocate it, do not put it on a small stack. */
int vg_analytics_config_parse(vg_cfg_t *c, json_t *obj, const char *const *extra_keys,
                              vg_analytics_config_t *out);

#endif
