/*
 * cameras_api.h: the camera and configuration routes of the API
 * (cameras_api.c): list with pagination and ETags, create, replace
 * (PUT), merge (PATCH), delete, probe a URL, a camera's analytics
 * object, and the export and import of the configuration
 * (docs/openapi.json). Changes apply at once (ingest/camera.h's
 * vg_camera_add / vg_camera_remove, whose hooks move the node's per-camera
 * consumers) and are kept in the database (config_store.h).
 *
 * This module keeps the configuration of every configured camera: those of
 * the configuration file (read-only through the API: changing one answers
 * 409) and those created through the API (persisted). Cameras that a
 * publisher creates (type "push") are not configured; the API lists them but
 * does not change them.
 *
 * Who may change: admins only (VG_ACCESS_ADMIN) for every change and for
 * the probe (it makes vigil connect to any address) and the export;
 * reading follows the per-camera permissions.
 *
 * Threads: the node calls vg_cameras_api_* on the main thread before the
 * HTTP server starts and after it stops; handlers run on the HTTP
 * server's thread. A lock guards the configuration list, so the analytics
 * hook may read it (vg_cameras_api_analytics) from any thread.
 */
#ifndef VG_API_CAMERAS_API_H
#define VG_API_CAMERAS_API_H

#include <jansson.h>

#include "api/analytics_validate.h"
#include "api/config_store.h"
#include "api/router.h"
#include "ingest/camera.h"

extern const vg_http_route_t vg_api_camera_routes[];
extern const size_t vg_api_camera_route_count;
extern const vg_http_route_t vg_api_system_routes[];
extern const size_t vg_api_system_route_count;

/* Installs the store the API's changes go to (NULL: the API refuses
 * changes with 503) and the configuration file's document (borrowed;
 * file_doc's "cameras" are the file's; may be NULL), used by the export. */
void vg_cameras_api_init(vg_config_store_t *store, json_t *file_doc);
/* Notes a camera of the configuration file (read-only through the API):
 * cfg as parsed, file_obj its object in the file (borrowed; its "analytics"
 * and "record" members are kept; may be NULL). Call after vg_camera_add(). */
int vg_cameras_api_add_file_camera(const vg_camera_config_t *cfg, json_t *file_obj);
/* Starts the cameras the store holds (a stored camera whose id the
 * configuration file now uses is skipped with a warning). Returns how many
 * started, or a store error. */
int vg_cameras_api_load_store(void);
/* Forgets everything (the node calls it after the HTTP server stopped). */
void vg_cameras_api_shutdown(void);

/* Analytics configuration changes (PUT .../analytics, a camera created,
 * replaced, imported or deleted): fn(camera, analytics) runs on the HTTP
 * server's thread after the change applied; analytics is the camera's new
 * "analytics" object (borrowed for the call) or NULL when the camera has
 * none any more (or was deleted). The analytics pipeline registers one to
 * reload a camera's zones, tripwires and rules. One hook; NULL removes it. */
typedef void (*vg_analytics_changed_fn)(const char *camera, json_t *analytics, void *opaque);
void vg_cameras_api_on_analytics(vg_analytics_changed_fn fn, void *opaque);
/* A camera's "analytics" object (new reference) or NULL. */
json_t *vg_cameras_api_analytics(const char *camera);

/* For GET /api/v1/system (system_api.c): whether recording runs (record_root
 * NULL or "": not recording). While it does, the system status reports
 * every storage root of record/roots.h (up, full, free and used bytes);
 * record_root is reported when the roots module knows none. */
void vg_system_api_set_storage(const char *record_root);

/* Parses a request body as a JSON object into *out. Returns 0, or answers
 * 400 (invalid_json, naming the line and column) and returns 1. */
int vg_api_body_object(const vg_http_request_t *req, vg_http_response_t *res, json_t **out);
/* 400 {"error":{"code":"invalid","message":"PATH: REASON","field":"PATH"}}
 * from a failed vg_cfg_t. */
int vg_api_reply_invalid(vg_http_response_t *res, const vg_cfg_t *c);
/* Answers a JSON body with a strong ETag (a hash of the body), or 304 with
 * no body when the request's If-None-Match names it. Steals body. */
int vg_api_reply_etag(const vg_http_request_t *req, vg_http_response_t *res, json_t *body);

#endif
