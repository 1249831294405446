/*
 * analytics_api.c: what the analytics pipeline sees on a camera:
 * GET /api/v1/cameras/{id}/analytics/status (counters, motion, the latest tracks
 * and the sensors' trigger counts; analytics/analytics.h).
 */
#include "analytics/analytics.h"
#include "api/api.h"
#include "api/users.h"

static int get_camera_analytics(const vg_http_request_t *req, vg_http_response_t *res) {
  const char *camera = vg_http_param(req, "id");
  json_t *j = vg_api_camera_allowed(req, camera, VG_PERM_LIVE) ? vg_analytics_camera_json(camera) : NULL;
  if (!j) return vg_http_reply_error(res, 404, "not_found", "camera '%s' has no analytics", camera);
  return vg_http_reply_json(res, 200, j);
}

const vg_http_route_t vg_api_analytics_routes[] = {
    {"GET", "/api/v1/cameras/{id}/analytics/status", get_camera_analytics,
     "the camera's analytics: counters, motion, tracked objects, sensor counts"},
};
const size_t vg_api_analytics_route_count =
    sizeof(vg_api_analytics_routes) / sizeof(vg_api_analytics_routes[0]);
