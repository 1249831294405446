/*
 * events_stream.c: GET /api/v1/events/stream, the web app's live events as
 * Server-Sent Events (text/event-stream), one "id: N\ndata: JSON\n\n"
 * message per event change, with the JSON of MQTT's PREFIX/events
 * (notify.h). The notifications hub (notify/sse.c) feeds the stream; the
 * HTTP server keeps it open (router.h's VG_HTTP_STREAM_OPEN).
 *
 * A user sees the events of the cameras they may see (vg_api_camera_allowed
 * with perm 0), decided with a copy of the user that is reloaded when the
 * users change (vg_users_generation): a permission change applies to the
 * open stream, and the stream of a deleted user ends.
 * Reconnects: the id to resume after is the Last-Event-ID header (which
 * EventSource sends by itself when it reconnects) or, for a new
 * EventSource, the query parameter last_event_id.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "base/error.h"
#include "notify/notify.h"

extern const vg_http_route_t vg_events_stream_routes[];
extern const size_t vg_events_stream_route_count;

/* Who the stream is for: a copy of the request's user, reloaded when the
 * users' generation moves. The filter runs on the notifier's thread, the
 * reads on the HTTP server's: the lock orders them. */
typedef struct {
  pthread_mutex_t lock;
  vg_user_t user;
  bool has_user;
  bool gone; /* the user was deleted: the stream ends */
  unsigned generation;
} viewer_t;

typedef struct {
  vg_http_stream_t base;
  vg_sse_client_t *client;
  viewer_t *viewer; /* owned by the client (freed by its close) */
} sse_stream_t;

/* Under v->lock. */
static void viewer_refresh(viewer_t *v) {
  vg_users_t *users = vg_api_users();
  if (!v->has_user || !users || v->gone) return;
  unsigned gen = vg_users_generation(users);
  if (gen == v->generation) return;
  vg_user_t fresh;
  int err = vg_users_get(users, v->user.name, &fresh);
  if (err == VG_ENOTFOUND) {
    v->gone = true;
  } else if (!err) {
    vg_user_clear(&v->user);
    v->user = fresh;
  }
  v->generation = gen;
}

static bool viewer_may_see(void *opaque, const char *camera) {
  viewer_t *v = opaque;
  pthread_mutex_lock(&v->lock);
  viewer_refresh(v);
  vg_http_request_t req = {.user = v->has_user ? &v->user : NULL};
  bool ok = !v->gone && vg_api_camera_allowed(&req, camera, 0);
  pthread_mutex_unlock(&v->lock);
  return ok;
}

static void viewer_free(void *opaque) {
  viewer_t *v = opaque;
  if (v->has_user) vg_user_clear(&v->user);
  pthread_mutex_destroy(&v->lock);
  free(v);
}

/* The server also reads every few seconds: a deleted user's stream ends
 * then even when no event comes. */
static long stream_read(vg_http_stream_t *st, uint8_t *dst, size_t cap) {
  sse_stream_t *s = (sse_stream_t *)st;
  pthread_mutex_lock(&s->viewer->lock);
  viewer_refresh(s->viewer);
  bool gone = s->viewer->gone;
  pthread_mutex_unlock(&s->viewer->lock);
  return gone ? -1 : vg_sse_read(s->client, dst, cap);
}

static void stream_close(vg_http_stream_t *st) {
  vg_sse_close(((sse_stream_t *)st)->client);
  free(st);
}

static void stream_set_wake(vg_http_stream_t *st, void (*wake)(void *), void *wake_opaque) {
  vg_sse_set_wake(((sse_stream_t *)st)->client, wake, wake_opaque);
}

static int copy_user(const vg_user_t *from, vg_user_t *to) {
  *to = *from;
  to->perms = NULL;
  if (from->perm_count) {
    to->perms = malloc((size_t)from->perm_count * sizeof(*to->perms));
    if (!to->perms) return VG_ENOMEM;
    memcpy(to->perms, from->perms, (size_t)from->perm_count * sizeof(*to->perms));
  }
  return 0;
}

static int get_stream(const vg_http_request_t *req, vg_http_response_t *res) {
  char last[32] = "";
  uint64_t last_id = 0;
  const char *header = vg_http_header(req, VG_HTTP_HDR_LAST_EVENT_ID);
  if (header)
    last_id = strtoull(header, NULL, 10);
  else if (vg_http_query(req, "last_event_id", last, sizeof(last)) > 0)
    last_id = strtoull(last, NULL, 10);
  viewer_t *v = calloc(1, sizeof(*v));
  if (!v) return VG_ENOMEM;
  pthread_mutex_init(&v->lock, NULL);
  if (vg_api_users()) v->generation = vg_users_generation(vg_api_users());
  if (req->user) {
    if (copy_user(req->user, &v->user)) {
      viewer_free(v);
      return VG_ENOMEM;
    }
    v->has_user = true;
  }
  sse_stream_t *st = calloc(1, sizeof(*st));
  if (!st) {
    viewer_free(v);
    return VG_ENOMEM;
  }
  int err = vg_sse_open(viewer_may_see, v, viewer_free, last_id, &st->client);
  if (err) {
    viewer_free(v);
    free(st);
    if (err == VG_ESTATE)
      return vg_http_reply_error(res, 503, "unavailable", "notifications are not running");
    return err;
  }
  st->viewer = v;
  st->base.length = VG_HTTP_STREAM_OPEN;
  st->base.read = stream_read;
  st->base.close = stream_close;
  st->base.set_wake = stream_set_wake;
  res->status = 200;
  res->content_type = "text/event-stream";
  res->stream = &st->base;
  return 0;
}

const vg_http_route_t vg_events_stream_routes[] = {
    {"GET", "/api/v1/events/stream", get_stream, "live event changes as Server-Sent Events"},
};
const size_t vg_events_stream_route_count =
    sizeof(vg_events_stream_routes) / sizeof(vg_events_stream_routes[0]);
