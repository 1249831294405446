#include "record/mode.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

static const char *const mode_names[] = {"continuous", "events", "intelligent", "off", NULL};

const char *vg_rec_mode_name(vg_rec_mode_t mode) {
  return mode >= VG_REC_MODE_CONTINUOUS && mode <= VG_REC_MODE_OFF ? mode_names[mode] : "?";
}

bool vg_rec_mode_uses_preroll(vg_rec_mode_t mode) {
  return mode == VG_REC_MODE_EVENTS || mode == VG_REC_MODE_INTELLIGENT;
}

vg_rec_action_t vg_rec_decide(const vg_rec_frame_input_t *in) {
  switch (in->mode) {
  case VG_REC_MODE_CONTINUOUS: return VG_REC_FULL;
  case VG_REC_MODE_EVENTS:
  case VG_REC_MODE_INTELLIGENT:
    if (in->active) return VG_REC_FULL;
    if (!in->leaving_buffer) return VG_REC_HOLD;
    return in->mode == VG_REC_MODE_INTELLIGENT && in->video_key ? VG_REC_KEYFRAMES : VG_REC_DROP;
  case VG_REC_MODE_OFF:
  default: return VG_REC_DROP;
  }
}

/* --- schedules --- */

static bool entry_covers(const vg_rec_schedule_entry_t *e, int weekday, int minute) {
  int yesterday = (weekday + 6) % 7;
  if (e->start_min <= e->end_min)
    return (e->weekdays & (1u << weekday)) && minute >= e->start_min && minute < e->end_min;
  /* Past midnight: the evening part belongs to today's bit, the morning
   * part to yesterday's. */
  return ((e->weekdays & (1u << weekday)) && minute >= e->start_min) ||
         ((e->weekdays & (1u << yesterday)) && minute < e->end_min);
}

vg_rec_mode_t vg_rec_schedule_mode(const vg_rec_schedule_entry_t *entries, int count, vg_rec_mode_t fallback,
                                   int weekday, int minute) {
  if (weekday < 0 || weekday > 6 || minute < 0 || minute >= 1440) return fallback;
  for (int i = 0; i < count; i++)
    if (entry_covers(&entries[i], weekday, minute)) return entries[i].mode;
  return fallback;
}

/* --- config --- */

const char *const vg_rec_policy_keys[] = {"mode",
                                          "pre_roll_s",
                                          "post_roll_s",
                                          "max_age_days",
                                          "max_age_hours",
                                          "max_age_s",
                                          "event_max_age_days",
                                          "event_max_age_hours",
                                          "event_max_age_s",
                                          "schedule",
                                          "substream",
                                          NULL};

void vg_rec_policy_default(vg_rec_policy_t *out) {
  memset(out, 0, sizeof(*out));
  out->mode = VG_REC_MODE_CONTINUOUS;
  out->pre_roll_s = 5;
  out->post_roll_s = 5;
}

/* At most one of the three spellings of an age; each is a whole number of
 * its unit, up to ten years. Absent: *out unchanged. */
static void parse_age(vg_cfg_t *c, json_t *obj, const char *days_key, const char *hours_key,
                      const char *secs_key, int64_t *out) {
  static const long long ten_years_s = 10LL * 366 * 86400;
  const char *keys[3] = {days_key, hours_key, secs_key};
  const long long unit[3] = {86400, 3600, 1};
  int seen = 0;
  for (int i = 0; i < 3; i++) {
    if (!obj || !json_object_get(obj, keys[i])) continue;
    if (seen++) {
      vg_cfg_fail(c, keys[i], "give only one of %s, %s and %s", days_key, hours_key, secs_key);
      return;
    }
    long long v;
    if (vg_cfg_int(c, obj, keys[i], 0, 0, ten_years_s / unit[i], &v) == 0) *out = (int64_t)(v * unit[i]);
  }
}

/* "HH:MM" (00:00..24:00) into minutes. */
static int parse_clock(const char *s, int *out) {
  if (strlen(s) != 5 || s[2] != ':') return -1;
  for (int i = 0; i < 5; i++)
    if (i != 2 && (s[i] < '0' || s[i] > '9')) return -1;
  int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
  if (h > 24 || m > 59 || (h == 24 && m != 0)) return -1;
  *out = h * 60 + m;
  return 0;
}

static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static int parse_days(vg_cfg_t *c, json_t *entry, uint8_t *out) {
  json_t *days = json_object_get(entry, "days");
  if (!days) {
    *out = 0x7f;
    return 0;
  }
  if (!json_is_array(days) || json_array_size(days) == 0)
    return vg_cfg_fail(c, "days", "must be a non-empty array of \"mon\"..\"sun\"");
  *out = 0;
  size_t i;
  json_t *d;
  json_array_foreach(days, i, d) {
    int found = -1;
    for (int k = 0; k < 7 && json_is_string(d); k++)
      if (strcmp(json_string_value(d), day_names[k]) == 0) found = k;
    if (found < 0) return vg_cfg_fail(c, "days", "must be a non-empty array of \"mon\"..\"sun\"");
    *out |= (uint8_t)(1u << found);
  }
  return 0;
}

static void parse_schedule_entry(vg_cfg_t *c, json_t *entry, vg_rec_schedule_entry_t *e) {
  static const char *const keys[] = {"days", "start", "end", "mode", NULL};
  if (!json_is_object(entry)) {
    vg_cfg_fail(c, NULL, "must be an object with days, start, end and mode");
    return;
  }
  vg_cfg_check_keys(c, entry, keys);
  if (c->failed || parse_days(c, entry, &e->weekdays) != 0) return;
  char start[8], end[8];
  vg_cfg_str(c, entry, "start", "00:00", start, sizeof(start));
  vg_cfg_str(c, entry, "end", "24:00", end, sizeof(end));
  if (!c->failed && parse_clock(start, &e->start_min) != 0) vg_cfg_fail(c, "start", "must be \"HH:MM\"");
  if (!c->failed && parse_clock(end, &e->end_min) != 0) vg_cfg_fail(c, "end", "must be \"HH:MM\"");
  if (!c->failed && e->start_min == e->end_min) vg_cfg_fail(c, "end", "must differ from start");
  int mode = VG_REC_MODE_CONTINUOUS;
  if (!c->failed && !json_object_get(entry, "mode")) vg_cfg_fail(c, "mode", "is required");
  vg_cfg_enum(c, entry, "mode", mode_names, VG_REC_MODE_CONTINUOUS, &mode);
  e->mode = (vg_rec_mode_t)mode;
}

static void parse_schedule(vg_cfg_t *c, json_t *obj, vg_rec_policy_t *out) {
  json_t *arr = vg_cfg_array(c, obj, "schedule", 0);
  if (!arr || c->failed) return;
  vg_cfg_enter(c, "schedule");
  if (json_array_size(arr) > VG_REC_MAX_SCHEDULE)
    vg_cfg_fail(c, NULL, "at most %d entries", VG_REC_MAX_SCHEDULE);
  out->schedule_count = 0;
  for (size_t i = 0; !c->failed && i < json_array_size(arr); i++) {
    vg_cfg_enter_index(c, i);
    parse_schedule_entry(c, json_array_get(arr, i), &out->schedule[out->schedule_count++]);
    vg_cfg_leave(c);
  }
  vg_cfg_leave(c);
}

int vg_rec_policy_parse(vg_cfg_t *c, json_t *obj, vg_rec_policy_t *out) {
  if (!obj) return c->failed ? VG_ECONFIG : 0;
  long long v;
  int mode = out->mode;
  vg_cfg_enum(c, obj, "mode", mode_names, out->mode, &mode);
  out->mode = (vg_rec_mode_t)mode;
  vg_cfg_int(c, obj, "pre_roll_s", out->pre_roll_s, 0, 300, &v);
  out->pre_roll_s = (int)v;
  vg_cfg_int(c, obj, "post_roll_s", out->post_roll_s, 0, 3600, &v);
  out->post_roll_s = (int)v;
  parse_age(c, obj, "max_age_days", "max_age_hours", "max_age_s", &out->max_age_s);
  parse_age(c, obj, "event_max_age_days", "event_max_age_hours", "event_max_age_s", &out->event_max_age_s);
  char sub[sizeof(out->substream)];
  vg_cfg_str(c, obj, "substream", out->substream, sub, sizeof(sub));
  memcpy(out->substream, sub, sizeof(sub));
  parse_schedule(c, obj, out);
  return c->failed ? VG_ECONFIG : 0;
}

/* --- the pre-roll buffer --- */

int vg_preroll_init(vg_preroll_t *p, int64_t window_us, int key_track) {
  memset(p, 0, sizeof(*p));
  p->window_us = window_us < 0 ? 0 : window_us;
  p->key_track = key_track;
  return 0;
}

static vg_frame_t *at(vg_preroll_t *p, int i) { return &p->frames[(p->head + i) % p->cap]; }

static bool is_gop_start(const vg_preroll_t *p, const vg_frame_t *f) {
  return f->track == p->key_track && (f->flags & VG_FRAME_KEY);
}

int vg_preroll_pop(vg_preroll_t *p, vg_frame_t *out) {
  if (p->count == 0) return 0;
  vg_frame_t *f = at(p, 0);
  *out = *f;
  *f = (vg_frame_t){0};
  p->head = (p->head + 1) % p->cap;
  p->count--;
  p->bytes -= out->len;
  return 1;
}

void vg_preroll_clear(vg_preroll_t *p) {
  vg_frame_t f;
  while (vg_preroll_pop(p, &f))
    vg_frame_unref(&f);
}

void vg_preroll_free(vg_preroll_t *p) {
  vg_preroll_clear(p);
  free(p->frames);
  p->frames = NULL;
  p->cap = p->head = 0;
}

/* Grows the ring (doubling up to the frame bound), keeping the order. */
static int grow(vg_preroll_t *p) {
  int cap = p->cap ? p->cap * 2 : 256;
  if (cap > VG_PREROLL_MAX_FRAMES) cap = VG_PREROLL_MAX_FRAMES;
  vg_frame_t *n = calloc((size_t)cap, sizeof(*n));
  if (!n) return VG_ENOMEM;
  for (int i = 0; i < p->count; i++)
    n[i] = *at(p, i);
  free(p->frames);
  p->frames = n;
  p->cap = cap;
  p->head = 0;
  return 0;
}

int vg_preroll_push(vg_preroll_t *p, const vg_frame_t *f) {
  if (p->count == 0 && !is_gop_start(p, f)) return 0;
  if (p->count == p->cap && p->cap < VG_PREROLL_MAX_FRAMES && grow(p) != 0) return VG_ENOMEM;
  if (p->count == p->cap) {
    /* One GOP longer than the bound (the caller evicts older GOPs first):
     * it cannot serve as pre-roll; start again at the next keyframe. */
    vg_preroll_clear(p);
    if (!is_gop_start(p, f)) return 0;
  }
  vg_frame_ref(&p->frames[(p->head + p->count) % p->cap], f);
  p->count++;
  p->bytes += f->len;
  return 1;
}

int vg_preroll_evict(vg_preroll_t *p, vg_frame_t *out) {
  /* A buffer must start with a keyframe: the rest of a GOP whose keyframe
   * went follows it. */
  if (p->count > 0 && !is_gop_start(p, at(p, 0))) return vg_preroll_pop(p, out);
  if (p->count < 2) return 0;
  bool over = p->count >= VG_PREROLL_MAX_FRAMES || p->bytes > VG_PREROLL_MAX_BYTES;
  int64_t newest = at(p, p->count - 1)->recv_us;
  /* The head may go when a later GOP starts early enough to serve as the
   * pre-roll by itself (or at all, while the bounds are exceeded). Times
   * only grow along the ring, so the scan stops at the first frame inside
   * the window unless the bounds force a look further. */
  for (int i = 1; i < p->count; i++) {
    const vg_frame_t *f = at(p, i);
    bool old_enough = newest - f->recv_us >= p->window_us;
    if (!old_enough && !over) return 0;
    if (is_gop_start(p, f)) return vg_preroll_pop(p, out);
  }
  return 0;
}

/* --- the gate --- */

int vg_rec_gate_init(vg_rec_gate_t *g, int64_t pre_roll_us, int key_track) {
  memset(g, 0, sizeof(*g));
  g->mode = VG_REC_MODE_CONTINUOUS;
  g->writing = VG_REC_DROP;
  g->mode_minute = -1;
  return vg_preroll_init(&g->preroll, pre_roll_us, key_track);
}

void vg_rec_gate_reset(vg_rec_gate_t *g, int key_track) {
  vg_preroll_clear(&g->preroll);
  g->preroll.key_track = key_track;
  g->writing = VG_REC_DROP;
}

void vg_rec_gate_free(vg_rec_gate_t *g) { vg_preroll_free(&g->preroll); }

static void stop_writing(vg_rec_gate_t *g, vg_rec_emit_fn emit, void *opaque) {
  if (g->writing != VG_REC_DROP) emit(opaque, NULL, VG_REC_DROP);
  g->writing = VG_REC_DROP;
}

static void write_frame(vg_rec_gate_t *g, vg_frame_t *f, vg_rec_action_t action, vg_rec_emit_fn emit,
                        void *opaque) {
  g->writing = action;
  emit(opaque, f, action);
}

void vg_rec_gate_frame(vg_rec_gate_t *g, const vg_frame_t *f, vg_rec_emit_fn emit, void *opaque) {
  vg_rec_frame_input_t in = {.mode = g->mode, .active = g->active};
  vg_frame_t held;
  switch (vg_rec_decide(&in)) {
  case VG_REC_FULL:
    /* A trigger starting: what the pre-roll kept goes first, in order. */
    while (vg_preroll_pop(&g->preroll, &held)) {
      write_frame(g, &held, VG_REC_FULL, emit, opaque);
      vg_frame_unref(&held);
    }
    write_frame(g, (vg_frame_t *)f, VG_REC_FULL, emit, opaque);
    return;
  case VG_REC_HOLD:
    /* Full quality ends with the trigger; idle keyframes (intelligent) start
     * their own segment when they age out of the pre-roll. */
    if (g->writing == VG_REC_FULL) stop_writing(g, emit, opaque);
    if (vg_preroll_push(&g->preroll, f) < 0) vg_preroll_clear(&g->preroll);
    while (vg_preroll_evict(&g->preroll, &held)) {
      in.leaving_buffer = true;
      in.video_key = held.track == g->preroll.key_track && (held.flags & VG_FRAME_KEY);
      if (vg_rec_decide(&in) == VG_REC_KEYFRAMES) write_frame(g, &held, VG_REC_KEYFRAMES, emit, opaque);
      vg_frame_unref(&held);
    }
    return;
  case VG_REC_DROP:
  default:
    vg_preroll_clear(&g->preroll);
    stop_writing(g, emit, opaque);
    return;
  case VG_REC_KEYFRAMES:
    /* Not an answer for a live frame. */
    return;
  }
}
