#include "sim/player.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "base/error.h"
#include "base/log.h"
#include "base/time.h"

/* A camera later than this resyncs instead of bursting to catch up. */
#define MAX_LATE_US 500000
/* How long a player with no cameras sleeps between ticks. */
#define IDLE_TICK_US 1000000

typedef struct {
  vg_hub_t *hub;
  int64_t phase_us;  /* where in the clip it starts */
  int64_t origin_us; /* mono time at which its loop 0 began; valid once started */
  int64_t loop;      /* completed loops */
  size_t next;       /* next clip frame */
  int64_t due_us;    /* mono time the next frame is due */
  int started;
} sim_camera_t;

struct vg_sim_player {
  const vg_clip_t *clip;
  sim_camera_t *cams;
  int count, cap;
  int running; /* the worker owns it */
  uv_timer_t timer;
  vg_worker_t *worker;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int closed;
  atomic_uint_fast64_t frames, bytes, loops, resyncs, ticks;
};

int vg_sim_player_new(const vg_clip_t *clip, vg_sim_player_t **out) {
  vg_sim_player_t *p = calloc(1, sizeof(*p));
  if (!p) return VG_ENOMEM;
  p->clip = clip;
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->cond, NULL);
  *out = p;
  return 0;
}

int vg_sim_player_add(vg_sim_player_t *p, vg_hub_t *hub, int64_t phase_us) {
  if (p->running) return VG_ESTATE;
  if (p->count == p->cap) {
    int cap = p->cap ? p->cap * 2 : 64;
    sim_camera_t *cams = realloc(p->cams, (size_t)cap * sizeof(*cams));
    if (!cams) return VG_ENOMEM;
    p->cams = cams;
    p->cap = cap;
  }
  int ret = vg_hub_set_tracks(hub, p->clip->tracks, p->clip->track_count);
  if (ret) return ret;
  int64_t period = p->clip->period_us;
  int64_t phase = period > 0 ? ((phase_us % period) + period) % period : 0;
  p->cams[p->count++] = (sim_camera_t){.hub = vg_hub_ref(hub), .phase_us = phase};
  return 0;
}

static int64_t frame_due(const vg_sim_player_t *p, const sim_camera_t *c) {
  return c->origin_us + c->loop * p->clip->period_us + p->clip->frames[c->next].time_us;
}

/* Places a camera at its phase: the first frame at or after it. */
static void camera_begin(vg_sim_player_t *p, sim_camera_t *c, int64_t now_us) {
  const vg_clip_t *clip = p->clip;
  c->origin_us = now_us - c->phase_us;
  c->loop = 0;
  c->next = 0;
  while (c->next < clip->frame_count && clip->frames[c->next].time_us < c->phase_us)
    c->next++;
  if (c->next == clip->frame_count) {
    c->next = 0;
    c->loop = 1;
  }
  c->due_us = frame_due(p, c);
  c->started = 1;
}

static void camera_push(vg_sim_player_t *p, sim_camera_t *c, int64_t now_us, int64_t utc_us) {
  const vg_clip_t *clip = p->clip;
  const vg_clip_frame_t *cf = &clip->frames[c->next];
  vg_frame_t f = cf->frame;
  f.pts += c->loop * clip->period_pts[f.track];
  f.recv_us = now_us;
  f.utc_us = utc_us;
  vg_hub_push(c->hub, &f);
  atomic_fetch_add_explicit(&p->frames, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&p->bytes, f.len, memory_order_relaxed);
  if (++c->next == clip->frame_count) {
    c->next = 0;
    c->loop++;
    atomic_fetch_add_explicit(&p->loops, 1, memory_order_relaxed);
  }
  c->due_us = frame_due(p, c);
}

int64_t vg_sim_player_tick(vg_sim_player_t *p, int64_t now_us) {
  atomic_fetch_add_explicit(&p->ticks, 1, memory_order_relaxed);
  if (p->clip->frame_count == 0 || p->count == 0) return now_us + IDLE_TICK_US;
  int64_t utc_us = vg_time_utc_us();
  int64_t earliest = INT64_MAX;
  int late = 0;
  for (int i = 0; i < p->count; i++) {
    sim_camera_t *c = &p->cams[i];
    if (!c->started) camera_begin(p, c, now_us);
    if (now_us - c->due_us > MAX_LATE_US) {
      /* The stream pauses rather than bursts: its clock moves on. */
      c->origin_us += now_us - c->due_us;
      c->due_us = now_us;
      atomic_fetch_add_explicit(&p->resyncs, 1, memory_order_relaxed);
      late++;
    }
    while (c->due_us <= now_us)
      camera_push(p, c, now_us, utc_us);
    if (c->due_us < earliest) earliest = c->due_us;
  }
  if (late)
    vg_log_warn(&VG_LOG_CTX("camsim", NULL), "%d cameras fell more than %d ms behind; they pause instead",
                late, MAX_LATE_US / 1000);
  return earliest;
}

static void on_timer(uv_timer_t *t) {
  vg_sim_player_t *p = t->data;
  int64_t now = vg_time_mono_us();
  int64_t next = vg_sim_player_tick(p, now);
  /* Round up: a timer never fires early, so nothing is pushed ahead of time. */
  uint64_t delay_ms = next > now ? (uint64_t)((next - now + 999) / 1000) : 0;
  uv_update_time(t->loop);
  uv_timer_start(t, on_timer, delay_ms, 0);
}

static void start_on_worker(void *arg) {
  vg_sim_player_t *p = arg;
  uv_timer_init(vg_worker_loop(p->worker), &p->timer);
  p->timer.data = p;
  uv_timer_start(&p->timer, on_timer, 0, 0);
}

int vg_sim_player_start(vg_sim_player_t *p, vg_worker_t *w) {
  if (p->running) return VG_ESTATE;
  p->worker = w;
  p->running = 1;
  int ret = vg_worker_post(w, start_on_worker, p);
  if (ret) p->running = 0;
  return ret;
}

static void on_closed(uv_handle_t *h) {
  vg_sim_player_t *p = h->data;
  pthread_mutex_lock(&p->lock);
  p->closed = 1;
  pthread_cond_signal(&p->cond);
  pthread_mutex_unlock(&p->lock);
}

static void stop_on_worker(void *arg) {
  vg_sim_player_t *p = arg;
  uv_timer_stop(&p->timer);
  uv_close((uv_handle_t *)&p->timer, on_closed);
}

void vg_sim_player_free(vg_sim_player_t **pp) {
  vg_sim_player_t *p = *pp;
  if (!p) return;
  *pp = NULL;
  if (p->running && vg_worker_post(p->worker, stop_on_worker, p) == 0) {
    pthread_mutex_lock(&p->lock);
    while (!p->closed)
      pthread_cond_wait(&p->cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
  }
  for (int i = 0; i < p->count; i++) {
    vg_hub_end(p->cams[i].hub);
    vg_hub_unref(&p->cams[i].hub);
  }
  free(p->cams);
  pthread_cond_destroy(&p->cond);
  pthread_mutex_destroy(&p->lock);
  free(p);
}

void vg_sim_player_stats(vg_sim_player_t *p, vg_sim_player_stats_t *out) {
  *out = (vg_sim_player_stats_t){
      .cameras = p->count,
      .frames = atomic_load_explicit(&p->frames, memory_order_relaxed),
      .bytes = atomic_load_explicit(&p->bytes, memory_order_relaxed),
      .loops = atomic_load_explicit(&p->loops, memory_order_relaxed),
      .resyncs = atomic_load_explicit(&p->resyncs, memory_order_relaxed),
      .ticks = atomic_load_explicit(&p->ticks, memory_order_relaxed),
  };
}
