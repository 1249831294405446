/*
 * player.h: plays camsim's clip into many hubs at once, in real time.
 *
 * One player per I/O worker serves all the cameras placed on it with a
 * single libuv timer: each time it fires, every camera's due frames are
 * pushed into its hub, and the timer is re-armed for the earliest frame
 * still to come. A thousand cameras are a thousand cursors into the same
 * clip, not a thousand timers, and every push hands the hub a reference to
 * the clip's shared buffer.
 *
 * Each camera starts at its own phase into the clip (the caller spreads
 * them, so keyframes of different cameras do not all land at once) and keeps
 * looping it; timestamps keep increasing across loops (one period per loop
 * and track, see clip.h). If the player falls behind by more than half a
 * second (the machine stalled) a camera does not burst to catch up: its
 * clock is moved on and the gap is counted as a resync.
 *
 * Threads: create the player and add cameras on any one thread, then
 * vg_sim_player_start() moves it onto its worker, which alone touches it
 * until vg_sim_player_stop() (from any thread but that worker's) returns.
 * vg_sim_player_tick() is the timer's body, public so that tests can drive
 * a player without a loop; it must not be called once started.
 * The clip and the hubs must outlive the player.
 */
#ifndef VG_SIM_PLAYER_H
#define VG_SIM_PLAYER_H

#include <stdint.h>

#include "net/worker.h"
#include "sim/clip.h"
#include "stream/hub.h"

typedef struct vg_sim_player vg_sim_player_t;

int vg_sim_player_new(const vg_clip_t *clip, vg_sim_player_t **out);
/* Adds a camera feeding hub (a reference is taken), phase_us into the clip
 * (any value; taken modulo the loop period). Sets the hub's tracks from the
 * clip. Only before start. Returns 0, VG_ENOMEM or VG_ESTATE. */
int vg_sim_player_add(vg_sim_player_t *p, vg_hub_t *hub, int64_t phase_us);
/* Pushes every frame due at now_us (vg_time_mono_us() timeline) and returns
 * when the next one is due. Cameras start at the first tick. */
int64_t vg_sim_player_tick(vg_sim_player_t *p, int64_t now_us);
/* Starts the timer on worker w. Returns 0 or VG_ECANCELED. */
int vg_sim_player_start(vg_sim_player_t *p, vg_worker_t *w);
/* Stops the timer (waiting for the worker to do it), ends every hub and
 * frees the player; *p = NULL. */
void vg_sim_player_free(vg_sim_player_t **p);

typedef struct {
  int cameras;
  uint64_t frames; /* pushed, all cameras */
  uint64_t bytes;
  uint64_t loops;   /* clip wraps, all cameras */
  uint64_t resyncs; /* times a camera was more than half a second late */
  uint64_t ticks;
} vg_sim_player_stats_t;
/* A snapshot; any thread (values may be a tick old). */
void vg_sim_player_stats(vg_sim_player_t *p, vg_sim_player_stats_t *out);

#endif
