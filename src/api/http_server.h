/*
 * http_server.h: vigil's HTTP server: the API (api.h), /metrics and the
 * web app's static files.
 *
 * libwebsockets does the HTTP/1.1 work (and will do WebSocket and HTTP/2)
 * in a thread of its own, with lws's own poll loop; route handlers run on
 * that thread and read camera state through the thread-safe snapshots of
 * ingest/camera.h (vg_cameras_foreach, vg_camera_get_info) and the locked
 * metrics registry. Code that must wake the server from another thread
 * (e.g. a live-view WebSocket fed by a stream hub) will use
 * lws_cancel_service() and LWS_CALLBACK_EVENT_WAIT_CANCELLED.
 *
 * Why not on a vigil worker's libuv loop: lws 4.1.6 (Debian 12) runs fine
 * on a foreign libuv loop, but cannot tear down cleanly there. On a
 * foreign loop the second lws_context_destroy() closes lws's own timer and
 * idle handles, which live inside the context, and then frees the context
 * at once, before libuv has run their close callbacks (use after free, and
 * the evlib plugin holding those callbacks is dlclose'd too). With one
 * destroy only, the context is never freed. A thread with lws's default
 * loop has neither problem; revisit with a newer lws.
 *
 * Configuration, the "http" object of `vigil run`'s file:
 *   "bind":     address to listen on, default "0.0.0.0" (all IPv4 and IPv6
 *               addresses: "0.0.0.0", "::" and "" all mean every address)
 *   "port":     TCP port, 1..65535, default 8080
 *   "web_root": directory of the web app's files served at /; default ""
 *               looks for web/ next to the current directory, then near
 *               the vigil binary (../web, ../share/vigil/web)
 *   "enabled":  false runs no HTTP server, default true
 *   "tls_cert", "tls_key": PEM files of a certificate (chain) and its
 *               private key; both set: HTTPS on the same port (no plain
 *               HTTP), default "" (plain HTTP)
 *   "metrics_public": true lets anyone read GET /metrics; default false
 *               (it needs an operator or admin: session, token or Basic)
 *
 * Threads: start and stop from the main thread. Start after the cameras
 * are registered (so the first request sees them); stop before
 * vg_cameras_stop_all(). Stop blocks until the server's thread has closed
 * every connection and ended, for at most 5 s: a thread that does not end
 * by then is logged and left behind (with the memory it uses), so that the
 * node still stops.
 */
#ifndef VG_API_HTTP_SERVER_H
#define VG_API_HTTP_SERVER_H

#include <jansson.h>
#include <stdbool.h>

#include "base/config.h"

typedef struct {
  char bind[64];
  int port;
  char web_root[512];
  bool enabled;
  char tls_cert[512], tls_key[512];
  bool metrics_public;
} vg_http_config_t;

void vg_http_config_defaults(vg_http_config_t *cfg);
/* Reads the "http" object (obj may be NULL: all defaults). The caller has
 * entered "http" in c, so that errors read "http.port: ...". Unknown keys
 * are errors. Returns 0 or VG_ECONFIG (details in c). */
int vg_http_config_parse(vg_cfg_t *c, json_t *obj, vg_http_config_t *out);

typedef struct vg_http_server vg_http_server_t;

/* Starts listening. *out is NULL when cfg->enabled is false (and 0 is
 * returned). Errors: VG_EIO when the address cannot be bound (logged),
 * VG_ENOMEM, or a thread creation error. */
int vg_http_server_start(const vg_http_config_t *cfg, vg_http_server_t **out);
/* Closes the listener and every connection, frees the server and sets
 * *srv = NULL. NULL or *srv == NULL is fine. */
void vg_http_server_stop(vg_http_server_t **srv);

#endif
