/*
 * analytics_validate.h: checks a camera's "analytics" object (zones,
 * tripwires, rules...) with vision's parser, for the API. Separate from
 * vision/analytics_config.h because vision's tracker.h and media/track.h
 * both name a type vg_track_t: API code that shows tracks includes this
 * instead. Pure; any thread.
 */
#ifndef VG_API_ANALYTICS_VALIDATE_H
#define VG_API_ANALYTICS_VALIDATE_H

#include <jansson.h>

#include "base/config.h"

/* Checks obj at c's current path with vg_analytics_config_parse, accepting
 * the analytics pipeline's own keys. Returns 0, VG_ECONFIG (c names the
 * field) or VG_ENOMEM. */
int vg_api_analytics_validate(vg_cfg_t *c, json_t *obj);

#endif
