/*
 * mode.h: recording modes, schedules and the pre-roll buffer: what the
 * recorder does with each frame of a camera.
 *
 * A camera records in one of four modes:
 *   continuous   every frame, full quality;
 *   events       only while an event or a manual trigger is active (plus
 *                post-roll), preceded by pre_roll_s of footage kept in
 *                memory;
 *   intelligent  full quality while a trigger is active, only the video
 *                keyframes while idle (a small fraction of the bytes), or,
 *                with a substream, every frame of that low-resolution
 *                stream while idle (recorder.c reads it);
 *   off          nothing.
 * A schedule (weekdays and time ranges of the node's local time) may select
 * another mode for part of the week; outside every entry the camera's own
 * mode applies.
 *
 * In the events and intelligent modes every frame first goes through the
 * pre-roll buffer (references to the frames, zero copy). It keeps the last
 * pre_roll_s seconds counted from the last keyframe before that window, so
 * that when a trigger starts the recording begins with a keyframe about
 * pre_roll_s before it. A frame that leaves the buffer because it grew too
 * old is dropped (events) or, when it is a keyframe of the video track,
 * written to a keyframes-only segment (intelligent). Idle keyframes of the
 * intelligent mode are therefore written pre_roll_s late, which is what
 * keeps the keyframes-only segments and the full-quality pre-roll from
 * overlapping in time.
 *
 * vg_rec_decide() is the one decision per frame; the recorder starts a new
 * segment whenever the quality of what it writes changes, so each segment
 * (and its index row) has one quality.
 *
 * Threads: everything here is pure or works on a caller-owned object; a
 * pre-roll buffer belongs to the recorder's worker thread.
 */
#ifndef VG_RECORD_MODE_H
#define VG_RECORD_MODE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "media/frame.h"

typedef enum {
  VG_REC_MODE_CONTINUOUS = 0,
  VG_REC_MODE_EVENTS,
  VG_REC_MODE_INTELLIGENT,
  VG_REC_MODE_OFF,
} vg_rec_mode_t;

/* "continuous", "events", "intelligent", "off". */
const char *vg_rec_mode_name(vg_rec_mode_t mode);

/* What to do with one frame. */
typedef enum {
  VG_REC_DROP = 0,  /* not recorded */
  VG_REC_HOLD,      /* kept in the pre-roll buffer for now */
  VG_REC_FULL,      /* written to a full-quality segment */
  VG_REC_KEYFRAMES, /* written to a keyframes-only segment */
} vg_rec_action_t;

typedef struct {
  vg_rec_mode_t mode;  /* the effective mode, schedule applied (vg_rec_schedule_mode) */
  bool active;         /* an event or manual trigger is active, post-roll included */
  bool leaving_buffer; /* the frame is being evicted from the pre-roll buffer */
  bool video_key;      /* a keyframe of the recorder's video track */
} vg_rec_frame_input_t;

/* The decision for one frame:
 * - off: DROP;
 * - continuous: FULL;
 * - events / intelligent, active: FULL (the caller first writes what the
 *   pre-roll buffer holds, in order, also as FULL);
 * - events / intelligent, idle: HOLD for a live frame; for a frame leaving
 *   the buffer DROP, except a video keyframe in intelligent mode:
 *   KEYFRAMES. */
vg_rec_action_t vg_rec_decide(const vg_rec_frame_input_t *in);

/* Whether frames of mode go through the pre-roll buffer while idle. */
bool vg_rec_mode_uses_preroll(vg_rec_mode_t mode);

/* --- schedules --- */

#define VG_REC_MAX_SCHEDULE 32

/* One schedule entry: on the weekdays in the mask (bit 0 = Sunday ... bit
 * 6 = Saturday), from start_min to end_min (minutes after local midnight,
 * 0..1440), mode applies. An entry whose end is before its start runs past
 * midnight into the next day (it belongs to the day it starts on). */
typedef struct {
  uint8_t weekdays;
  int start_min, end_min;
  vg_rec_mode_t mode;
} vg_rec_schedule_entry_t;

/* The mode at weekday (0 = Sunday) and minute (0..1439) of local time: the
 * first entry that covers it, or fallback. */
vg_rec_mode_t vg_rec_schedule_mode(const vg_rec_schedule_entry_t *entries, int count, vg_rec_mode_t fallback,
                                   int weekday, int minute);

/* --- the per-camera recording policy (config) --- */

typedef struct {
  vg_rec_mode_t mode;      /* default continuous */
  int pre_roll_s;          /* default 5 (0..300) */
  int post_roll_s;         /* default 5 (0..3600) */
  int64_t max_age_s;       /* 0: footage is kept until a quota deletes it */
  int64_t event_max_age_s; /* footage overlapping event/manual marks; 0: max_age_s applies */
  vg_rec_schedule_entry_t schedule[VG_REC_MAX_SCHEDULE];
  int schedule_count;
  char substream[64]; /* intelligent: a low-resolution camera id recorded (all frames) while idle */
} vg_rec_policy_t;

/* The defaults above. */
void vg_rec_policy_default(vg_rec_policy_t *out);

/* The keys vg_rec_policy_parse reads, NULL-terminated, for a caller that
 * checks the keys of an object it shares with this parser. */
extern const char *const vg_rec_policy_keys[];

/* Reads this module's keys ("mode", "pre_roll_s", "post_roll_s",
 * "max_age_days" / "max_age_hours" / "max_age_s", "event_max_age_days" /
 * "event_max_age_hours" / "event_max_age_s", "schedule", "substream") of
 * obj into out, which holds the defaults (or the node-wide policy, for a
 * camera's overrides) on entry; keys that are absent leave out unchanged.
 * Other keys are not checked here. obj may be NULL. Errors name the field
 * through c. Returns 0 or VG_ECONFIG. */
int vg_rec_policy_parse(vg_cfg_t *c, json_t *obj, vg_rec_policy_t *out);

/* --- the pre-roll buffer --- */

/* Bounds beyond which the oldest GOP is evicted whatever pre_roll_s says,
 * so that a camera with a huge bitrate or no keyframes cannot grow it. */
#define VG_PREROLL_MAX_FRAMES 4096
#define VG_PREROLL_MAX_BYTES (64u << 20)

typedef struct {
  vg_frame_t *frames; /* ring of owned references */
  int cap, head, count;
  size_t bytes;
  int64_t window_us; /* pre_roll_s in microseconds */
  int key_track;     /* the track whose keyframes start a GOP */
} vg_preroll_t;

/* Prepares an empty buffer keeping window_us of footage of key_track's
 * GOPs. Returns 0 or VG_ENOMEM. */
int vg_preroll_init(vg_preroll_t *p, int64_t window_us, int key_track);
/* Drops every frame and frees the ring. */
void vg_preroll_free(vg_preroll_t *p);

/* Adds a reference to f (its time is f->recv_us, the monotonic arrival
 * time). Frames before the first keyframe of key_track are refused (there
 * is nothing to start a recording with): returns 0 without keeping them.
 * Returns 1 when the frame is held, VG_ENOMEM. */
int vg_preroll_push(vg_preroll_t *p, const vg_frame_t *f);

/* Moves out the oldest frame that no longer needs to be held: all frames
 * before the last key_track keyframe that is at least window_us older than
 * the newest frame, and also whole GOPs while the bounds are exceeded (the
 * newest GOP is never evicted for that). Returns 1 and fills out (the
 * caller owns the reference), or 0 when nothing is due. */
int vg_preroll_evict(vg_preroll_t *p, vg_frame_t *out);

/* Moves out the oldest frame whatever its age (to flush the buffer when a
 * trigger starts). Returns 1 or 0 when empty. */
int vg_preroll_pop(vg_preroll_t *p, vg_frame_t *out);

/* Drops every frame held. */
void vg_preroll_clear(vg_preroll_t *p);

/* --- the gate: a recorder's per-frame switch --- */

/* Hands one frame (borrowed) to the recorder with VG_REC_FULL or
 * VG_REC_KEYFRAMES, or, with f NULL, says that the segment being written
 * ends (the trigger ended, the mode is off). */
typedef void (*vg_rec_emit_fn)(void *opaque, vg_frame_t *f, vg_rec_action_t action);

typedef struct {
  vg_rec_mode_t mode;      /* effective mode, set by the owner (trigger.h) */
  bool active;             /* trigger active, set by the owner */
  vg_rec_action_t writing; /* what the recorder writes now: FULL, KEYFRAMES or DROP (nothing) */
  vg_preroll_t preroll;
  /* The owner's: trigger.c keeps the camera's policy and state here. */
  vg_rec_policy_t policy;
  void *trigger_state;
  int64_t mode_minute;
} vg_rec_gate_t;

/* Prepares g with an empty pre-roll of pre_roll_us on key_track, mode
 * continuous and not active. Returns 0. */
int vg_rec_gate_init(vg_rec_gate_t *g, int64_t pre_roll_us, int key_track);
/* The tracks changed: the pre-roll is dropped and GOPs start on key_track. */
void vg_rec_gate_reset(vg_rec_gate_t *g, int key_track);
/* Frees the pre-roll. */
void vg_rec_gate_free(vg_rec_gate_t *g);
/* Decides for frame f (vg_rec_decide) with g->mode and g->active and calls
 * emit for what is to be written: when a trigger starts, first the pre-roll
 * (from its keyframe, in order), then f; while idle in intelligent mode the
 * keyframes that age out of the pre-roll; emit(NULL) when writing stops.
 * f stays the caller's. */
void vg_rec_gate_frame(vg_rec_gate_t *g, const vg_frame_t *f, vg_rec_emit_fn emit, void *opaque);

#endif
