/*
 * api.h: vigil's HTTP API, version 1: the route table and its handlers.
 *
 * Routes are rows of route tables (method, path pattern, handler): the core
 * table vg_api_routes here, and one table per area in a file of its own,
 * listed in api.c's route_groups. A new endpoint is one more row and one
 * handler, documented in docs/openapi.json.
 * Every API answer is JSON, errors included:
 *   {"error":{"code":"not_found","message":"no camera 'x'"}}
 * except GET /metrics, which is Prometheus text.
 *
 * Access control: every route names the access it needs (router.h's
 * vg_access_t; zero means any authenticated user). vg_api_dispatch
 * authenticates the request before the handler runs, by the session cookie
 * (vigil_session), "Authorization: Bearer <API token>" or Basic (for
 * scripts; checked against the users' argon2id hashes, rate limited, with a
 * short verification cache), and answers 401 (with WWW-Authenticate) when
 * that fails, 429 while the user or peer is locked out, 403 when the role is
 * too low. Handlers of per-camera routes then ask vg_api_camera_allowed();
 * cameras a user may not see are answered 404, as if absent.
 * Until vg_api_set_auth() is called (unit tests of other modules), and when
 * the configuration says "auth": {"enabled": false}, every request is
 * treated as coming from an admin; the node always calls vg_api_set_auth().
 *
 * Threads: handlers run on the HTTP server's worker and read cameras
 * through the thread-safe snapshots of ingest/camera.h. vg_api_set_auth is
 * called before the server starts.
 */
#ifndef VG_API_API_H
#define VG_API_API_H

#include <stdbool.h>

#include "api/router.h"
#include "api/users.h"

extern const vg_http_route_t vg_api_routes[];
extern const size_t vg_api_route_count;

/* The route tables of the areas (src/api/<area>.c), listed in api.c. */
extern const vg_http_route_t vg_api_onvif_routes[];
extern const size_t vg_api_onvif_route_count;
/* The interface address WS-Discovery probes go out from ("0.0.0.0": the
 * default route's). */
void vg_onvif_api_set_discovery_interface(const char *iface);

/* Calls fn for every route of every group. */
void vg_api_foreach_route(void (*fn)(const vg_http_route_t *route, void *opaque), void *opaque);

/* Whether path belongs to the API (under /api/, or /metrics) rather than
 * to the static web files. */
int vg_api_owns_path(const char *path);
/* Whether the route of method and path is marked VG_ROUTE_SLOW (router.h). */
int vg_api_route_slow(const char *method, const char *path);
/* Answers an API request: a route's handler, or a JSON 404/405/500.
 * HEAD is answered as GET (the server drops the body). Always fills res. */
void vg_api_dispatch(vg_http_request_t *req, vg_http_response_t *res);

/* Installs the users store (may be NULL only when cfg->enabled is false)
 * and the settings dispatch follows. tls: cookies get "Secure".
 * metrics_public: GET /metrics needs no credentials (otherwise it needs an
 * operator or admin). Pass cfg NULL to go back to the unconfigured state. */
void vg_api_set_auth(vg_users_t *users, const vg_auth_config_t *cfg, bool tls, bool metrics_public);
/* The installed store (NULL when none) and whether auth is on. */
vg_users_t *vg_api_users(void);
bool vg_api_auth_enabled(void);
/* Whether the request's user may do perm on camera; perm 0 asks whether
 * the user may see the camera at all (holds any permission on it). */
int vg_api_camera_allowed(const vg_http_request_t *req, const char *camera, vg_perm_t perm);
/* Writes an audit row (users.h's vg_audit_log) for the request's user and
 * peer: for handlers of other modules (configuration changes, exports). */
int vg_api_audit(const vg_http_request_t *req, const char *action, const char *target, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The session cookie: "vigil_session=ID; Path=/; HttpOnly; SameSite=Strict;
 * Max-Age=..." (+ "; Secure" over TLS). id NULL clears it. */
int vg_api_set_session_cookie(vg_http_response_t *res, const char *id);
/* The value of the session cookie of req into out; VG_ENOTFOUND. */
int vg_api_session_cookie(const vg_http_request_t *req, char *out, size_t size);

/* The access-control routes (auth_routes.c). */
extern const vg_http_route_t vg_auth_routes[];
extern const size_t vg_auth_route_count;

#endif
