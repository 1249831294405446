#include "event/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/* Objects whose scores are followed at once (all cameras). */
#define MAX_TRACKS 2048
/* Scores kept per object: a uniform subsample of its whole life (see add_score). */
#define TRACK_SCORES 256
/* Candidates and active events at once (all cameras). */
#define MAX_CANDIDATES 1024
#define MAX_COOLDOWNS 512
/* An object not seen for this long is forgotten (unless an event needs it). */
#define TRACK_TTL_US (120LL * 1000000)

typedef struct {
  bool used;
  char camera[64];
  uint32_t track_id;
  char label[24];
  float scores[TRACK_SCORES];
  int n;
  int stride; /* every stride-th score is kept */
  int seen;   /* scores offered since the last kept one */
  float best;
  float best_box[4];
  int64_t best_utc_us;
  float last_box[4];
  int64_t last_us;
} track_t;

typedef struct {
  bool used;
  bool started;
  bool manual;
  vg_event_t ev;
  const vg_event_rule_t *rule; /* NULL for manual events */
  int64_t first_us, last_us;   /* the first trigger, the last activity */
  int64_t fixed_end_us;        /* manual events: when it ends */
  int64_t last_snap_us;
  float snap_score;
  /* The last snapshot could not be taken at the best frame (gone from the
   * stream's cache): the next one is taken at the latest analysed frame. */
  bool snap_latest;
  /* Waiting for the metadata of the frame that triggered (published after
   * the trigger), to take the object's box there: 0 once it is known. */
  int64_t box_frame_us;
} candidate_t;

/* How long a candidate waits for its trigger frame's metadata. */
#define BOX_WAIT_US 2000000

typedef struct {
  char camera[64], sensor[64], label[64];
  int64_t until_us;
} cooldown_t;

struct vg_event_engine {
  const vg_event_config_t *cfg;
  vg_event_engine_cbs_t cbs;
  void *opaque;
  vg_fpmask_set_t *fp;
  track_t *tracks;
  candidate_t *cands;
  cooldown_t cool[MAX_COOLDOWNS];
  int cool_next;
};

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return x < y ? -1 : x > y;
}

float vg_event_median(const float *scores, int n) {
  if (n <= 0) return 0;
  float tmp[TRACK_SCORES];
  if (n > TRACK_SCORES) n = TRACK_SCORES;
  memcpy(tmp, scores, (size_t)n * sizeof(float));
  qsort(tmp, (size_t)n, sizeof(float), cmp_float);
  return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

int vg_event_engine_new(const vg_event_config_t *cfg, const vg_event_engine_cbs_t *cbs, void *opaque,
                        vg_event_engine_t **out) {
  if (!cfg || !cbs || !cbs->start) return VG_EINVAL;
  vg_event_engine_t *e = calloc(1, sizeof(*e));
  if (!e) return VG_ENOMEM;
  e->cfg = cfg;
  e->cbs = *cbs;
  e->opaque = opaque;
  e->tracks = calloc(MAX_TRACKS, sizeof(*e->tracks));
  e->cands = calloc(MAX_CANDIDATES, sizeof(*e->cands));
  int err = e->tracks && e->cands ? vg_fpmask_set_new(cfg->fp_grid, cfg->fp_half_life_us, &e->fp) : VG_ENOMEM;
  if (err) {
    vg_event_engine_free(&e);
    return err;
  }
  *out = e;
  return 0;
}

void vg_event_engine_free(vg_event_engine_t **ep) {
  vg_event_engine_t *e = *ep;
  if (!e) return;
  *ep = NULL;
  vg_fpmask_set_free(&e->fp);
  free(e->tracks);
  free(e->cands);
  free(e);
}

const vg_fpmask_set_t *vg_event_engine_fpmask(const vg_event_engine_t *e) { return e->fp; }

/* ---- objects ---- */

static track_t *find_track(vg_event_engine_t *e, const char *camera, uint32_t id) {
  if (!id) return NULL;
  for (int i = 0; i < MAX_TRACKS; i++)
    if (e->tracks[i].used && e->tracks[i].track_id == id && strcmp(e->tracks[i].camera, camera) == 0)
      return &e->tracks[i];
  return NULL;
}

static bool track_needed(const vg_event_engine_t *e, const track_t *t) {
  for (int i = 0; i < MAX_CANDIDATES; i++)
    if (e->cands[i].used && e->cands[i].ev.track_id == t->track_id &&
        strcmp(e->cands[i].ev.camera, t->camera) == 0)
      return true;
  return false;
}

static track_t *new_track(vg_event_engine_t *e, const char *camera, uint32_t id) {
  track_t *slot = NULL;
  for (int i = 0; i < MAX_TRACKS && !slot; i++)
    if (!e->tracks[i].used) slot = &e->tracks[i];
  if (!slot) {
    /* Full: reuse the object seen longest ago that no event needs. */
    for (int i = 0; i < MAX_TRACKS; i++)
      if (!track_needed(e, &e->tracks[i]) && (!slot || e->tracks[i].last_us < slot->last_us))
        slot = &e->tracks[i];
    if (!slot) return NULL;
  }
  memset(slot, 0, sizeof(*slot));
  slot->used = true;
  snprintf(slot->camera, sizeof(slot->camera), "%s", camera);
  slot->track_id = id;
  slot->stride = 1;
  return slot;
}

/* Keeps a uniform subsample of all the scores of the object's life: when
 * the buffer is full, every second kept score goes and from then on only
 * every other new one is kept, so the median covers the whole life in
 * bounded memory. */
static void add_score(track_t *t, float score) {
  if (++t->seen < t->stride) return;
  t->seen = 0;
  if (t->n == TRACK_SCORES) {
    for (int i = 0; i < TRACK_SCORES / 2; i++)
      t->scores[i] = t->scores[2 * i + 1];
    t->n = TRACK_SCORES / 2;
    t->stride *= 2;
  }
  t->scores[t->n++] = score;
}

static float track_median(const track_t *t) { return t ? vg_event_median(t->scores, t->n) : 0; }

/* ---- candidates ---- */

static void suppressed(vg_event_engine_t *e, const char *camera, const char *reason) {
  if (e->cbs.suppressed) e->cbs.suppressed(e->opaque, camera, reason);
}

static void request_snapshot(vg_event_engine_t *e, candidate_t *c, const track_t *t, int64_t now_us) {
  if (!c->started || !t || (!c->snap_latest && t->best <= c->snap_score)) return;
  if (c->last_snap_us && now_us - c->last_snap_us < e->cfg->min_gap_snap_us) return;
  c->last_snap_us = now_us;
  c->snap_score = t->best;
  if (!c->snap_latest) {
    if (e->cbs.snapshot) e->cbs.snapshot(e->opaque, &c->ev, t->best_utc_us);
    return;
  }
  /* The picture and its box come from the same (latest) frame. */
  c->snap_latest = false;
  memcpy(c->ev.box, t->last_box, sizeof(c->ev.box));
  if (e->cbs.snapshot) e->cbs.snapshot(e->opaque, &c->ev, t->last_us);
}

void vg_event_engine_snapshot_failed(vg_event_engine_t *e, int64_t id) {
  for (int i = 0; i < MAX_CANDIDATES; i++) {
    candidate_t *c = &e->cands[i];
    if (c->used && c->started && c->ev.id == id) c->snap_latest = true;
  }
}

/* Copies the object's figures into the event. */
static void refresh_scores(candidate_t *c, const track_t *t) {
  if (!t) return;
  c->ev.median_score = track_median(t);
  if (t->best > c->ev.best_score) {
    c->ev.best_score = t->best;
    memcpy(c->ev.box, t->best_box, sizeof(c->ev.box));
  }
  if (!(c->ev.box[2] > c->ev.box[0])) memcpy(c->ev.box, t->last_box, sizeof(c->ev.box));
}

static void try_start(vg_event_engine_t *e, candidate_t *c, int64_t now_us) {
  if (c->started || c->manual || c->box_frame_us) return;
  track_t *t = find_track(e, c->ev.camera, c->ev.track_id);
  refresh_scores(c, t);
  bool conf_ok =
      c->rule->min_confidence <= 0 || !c->ev.track_id || (t && c->ev.median_score >= c->rule->min_confidence);
  bool dur_ok = c->last_us - c->first_us >= c->rule->min_duration_us;
  if (!conf_ok || !dur_ok) return;
  c->started = true;
  c->ev.active = true;
  if (e->cbs.start(e->opaque, &c->ev) != 0) {
    c->used = false;
    return;
  }
  request_snapshot(e, c, t, now_us);
}

static void add_cooldown(vg_event_engine_t *e, const candidate_t *c) {
  if (e->cfg->cooldown_us <= 0) return;
  cooldown_t *k = &e->cool[e->cool_next];
  e->cool_next = (e->cool_next + 1) % MAX_COOLDOWNS;
  snprintf(k->camera, sizeof(k->camera), "%s", c->ev.camera);
  snprintf(k->sensor, sizeof(k->sensor), "%s", c->ev.sensor);
  snprintf(k->label, sizeof(k->label), "%s", c->ev.label);
  k->until_us = c->ev.end_utc_us + e->cfg->cooldown_us;
}

static bool in_cooldown(const vg_event_engine_t *e, const char *camera, const char *sensor, const char *label,
                        int64_t utc_us) {
  for (int i = 0; i < MAX_COOLDOWNS; i++) {
    const cooldown_t *k = &e->cool[i];
    if (k->until_us > utc_us && strcmp(k->camera, camera) == 0 && strcmp(k->sensor, sensor) == 0 &&
        strcmp(k->label, label) == 0)
      return true;
  }
  return false;
}

static void end_event(vg_event_engine_t *e, candidate_t *c, int64_t end_us) {
  refresh_scores(c, find_track(e, c->ev.camera, c->ev.track_id));
  c->ev.active = false;
  c->ev.end_utc_us = end_us > c->ev.start_utc_us ? end_us : c->ev.start_utc_us + 1;
  if (e->cbs.end) e->cbs.end(e->opaque, &c->ev);
  if (!c->manual) add_cooldown(e, c);
  c->used = false;
}

static candidate_t *new_candidate(vg_event_engine_t *e) {
  for (int i = 0; i < MAX_CANDIDATES; i++)
    if (!e->cands[i].used) {
      memset(&e->cands[i], 0, sizeof(e->cands[i]));
      e->cands[i].used = true;
      return &e->cands[i];
    }
  return NULL;
}

static void suppressed(vg_event_engine_t *e, const char *camera, const char *reason);

/* The object's box in the frame that triggered is where the event
 * happened: it is kept, and a candidate whose box lies on the learned
 * false-positive mask of its camera and class is dropped. t may be NULL
 * (the object was never seen: nothing to check). */
static void place_candidate(vg_event_engine_t *e, candidate_t *c, const track_t *t, int64_t utc_us) {
  c->box_frame_us = 0;
  if (!t) return;
  memcpy(c->ev.trigger_box, t->last_box, sizeof(c->ev.trigger_box));
  if (c->ev.label[0] && strcmp(c->ev.label, c->ev.kind) != 0 &&
      vg_fpmask_score(e->fp, c->ev.camera, c->ev.label, t->last_box, utc_us) >= e->cfg->fp_threshold) {
    suppressed(e, c->ev.camera, "false_positive");
    c->used = false;
  }
}

/* ---- inputs ---- */

void vg_event_engine_meta(vg_event_engine_t *e, const vg_analytics_meta_t *m) {
  int n = m->n_objects < VG_ANALYTICS_MAX_OBJECTS ? m->n_objects : VG_ANALYTICS_MAX_OBJECTS;
  for (int i = 0; i < n; i++) {
    const vg_analytics_object_t *o = &m->objects[i];
    if (!o->track_id) continue;
    track_t *t = find_track(e, m->camera, o->track_id);
    if (!t && !(t = new_track(e, m->camera, o->track_id))) continue;
    snprintf(t->label, sizeof(t->label), "%s", o->class_name);
    float box[4] = {o->x1, o->y1, o->x2, o->y2};
    memcpy(t->last_box, box, sizeof(box));
    t->last_us = m->utc_us;
    /* A score counts once per detection: between detector runs the tracker
     * repeats the last one, which would weigh it by how long it lasted. */
    if (m->detected) {
      add_score(t, o->score);
      if (o->score > t->best) {
        t->best = o->score;
        memcpy(t->best_box, box, sizeof(box));
        t->best_utc_us = m->utc_us;
      }
    }
    for (int k = 0; k < MAX_CANDIDATES; k++) {
      candidate_t *c = &e->cands[k];
      if (!c->used || c->manual || c->ev.track_id != o->track_id || strcmp(c->ev.camera, m->camera) != 0)
        continue;
      if (m->utc_us > c->last_us) c->last_us = m->utc_us;
      if (c->box_frame_us && m->utc_us >= c->box_frame_us) {
        place_candidate(e, c, t, m->utc_us);
        if (!c->used) continue;
      }
      if (!c->started) {
        try_start(e, c, m->utc_us);
      } else {
        refresh_scores(c, t);
        request_snapshot(e, c, t, m->utc_us);
      }
    }
  }
}

static candidate_t *find_open(vg_event_engine_t *e, const vg_analytics_trigger_t *t) {
  for (int i = 0; i < MAX_CANDIDATES; i++) {
    candidate_t *c = &e->cands[i];
    if (!c->used || c->manual || strcmp(c->ev.camera, t->camera) != 0) continue;
    bool same = t->track_id ? c->ev.track_id == t->track_id
                            : (c->ev.track_id == 0 && strcmp(c->ev.sensor, t->sensor) == 0);
    if (same && t->utc_us - c->last_us <= e->cfg->group_window_us) return c;
  }
  return NULL;
}

void vg_event_engine_trigger(vg_event_engine_t *e, const vg_analytics_trigger_t *t) {
  const char *label = t->class_name;
  candidate_t *c = find_open(e, t);
  if (c) {
    c->ev.triggers++;
    if (t->utc_us > c->last_us) c->last_us = t->utc_us;
    c->ev.update_utc_us = t->utc_us;
    if (c->started) {
      refresh_scores(c, find_track(e, c->ev.camera, c->ev.track_id));
      if (e->cbs.update) e->cbs.update(e->opaque, &c->ev);
    } else {
      try_start(e, c, t->utc_us);
    }
    return;
  }
  /* The end of a condition (overcrowd, tamper) never starts an event. */
  if (t->cleared) return;
  const vg_event_rule_t *rule = vg_event_rule_find(e->cfg, t->camera, t->sensor, t->kind, label);
  if (!rule || rule->ignore) return;
  if (rule->schedule.n) {
    vg_schedule_t sched = rule->schedule;
    if (!vg_schedule_active(&sched, t->utc_us)) return;
  }
  if (in_cooldown(e, t->camera, t->sensor, label, t->utc_us)) {
    suppressed(e, t->camera, "cooldown");
    return;
  }
  track_t *tr = find_track(e, t->camera, t->track_id);
  if (!(c = new_candidate(e))) return;
  c->rule = rule;
  c->first_us = c->last_us = t->utc_us;
  vg_event_t *ev = &c->ev;
  snprintf(ev->camera, sizeof(ev->camera), "%s", t->camera);
  snprintf(ev->sensor, sizeof(ev->sensor), "%s", t->sensor);
  snprintf(ev->kind, sizeof(ev->kind), "%s", t->kind);
  snprintf(ev->label, sizeof(ev->label), "%s", *label ? label : t->kind);
  snprintf(ev->direction, sizeof(ev->direction), "%s", t->direction);
  snprintf(ev->labels, sizeof(ev->labels), "%s", rule->labels);
  ev->severity = rule->severity;
  ev->start_utc_us = ev->update_utc_us = t->utc_us;
  ev->track_id = t->track_id;
  ev->triggers = 1;
  int64_t frame_us = t->frame_utc_us ? t->frame_utc_us : t->utc_us;
  if (t->track_id && (!tr || tr->last_us < frame_us)) {
    c->box_frame_us = frame_us; /* decided when that frame's metadata comes */
    return;
  }
  place_candidate(e, c, tr, t->utc_us);
  if (c->used) try_start(e, c, t->utc_us);
}

void vg_event_engine_tick(vg_event_engine_t *e, int64_t now_us) {
  for (int i = 0; i < MAX_CANDIDATES; i++) {
    candidate_t *c = &e->cands[i];
    if (!c->used) continue;
    if (c->manual) {
      if (now_us >= c->fixed_end_us) end_event(e, c, c->fixed_end_us);
      continue;
    }
    bool quiet = now_us - c->last_us > e->cfg->group_window_us;
    if (c->box_frame_us && now_us - c->first_us > BOX_WAIT_US) {
      place_candidate(e, c, find_track(e, c->ev.camera, c->ev.track_id), now_us);
      if (!c->used) continue;
    }
    if (!c->started) {
      try_start(e, c, now_us);
      if (!c->used || c->started || !quiet) continue;
      bool conf_ok =
          c->rule->min_confidence <= 0 || !c->ev.track_id || c->ev.median_score >= c->rule->min_confidence;
      suppressed(e, c->ev.camera, conf_ok ? "duration" : "confidence");
      c->used = false;
      continue;
    }
    if (quiet)
      end_event(e, c, c->last_us);
    else if (now_us - c->first_us >= e->cfg->max_event_us)
      end_event(e, c, now_us);
  }
  for (int i = 0; i < MAX_TRACKS; i++) {
    track_t *t = &e->tracks[i];
    if (t->used && now_us - t->last_us > TRACK_TTL_US && !track_needed(e, t)) t->used = false;
  }
}

int64_t vg_event_engine_next_due(const vg_event_engine_t *e) {
  int64_t due = INT64_MAX;
  for (int i = 0; i < MAX_CANDIDATES; i++) {
    const candidate_t *c = &e->cands[i];
    if (!c->used) continue;
    if (!c->manual) return INT64_MIN;
    if (c->fixed_end_us < due) due = c->fixed_end_us;
  }
  for (int i = 0; i < MAX_TRACKS; i++) {
    const track_t *t = &e->tracks[i];
    /* tick() drops a track once it is older than the TTL (strictly). */
    if (t->used && t->last_us + TRACK_TTL_US + 1 < due) due = t->last_us + TRACK_TTL_US + 1;
  }
  return due;
}

int vg_event_engine_manual(vg_event_engine_t *e, const char *camera, const char *label, int severity,
                           const char *labels, int64_t start_us, int64_t end_us, int64_t now_us,
                           vg_event_t *out) {
  if (!camera || !*camera || !label || end_us <= start_us || severity < 0 ||
      severity > VG_EVENT_SEVERITY_CRITICAL)
    return VG_EINVAL;
  candidate_t *c = new_candidate(e);
  if (!c) return VG_ENOMEM;
  c->manual = true;
  c->started = true;
  c->first_us = c->last_us = start_us;
  c->fixed_end_us = end_us;
  vg_event_t *ev = &c->ev;
  snprintf(ev->camera, sizeof(ev->camera), "%s", camera);
  snprintf(ev->kind, sizeof(ev->kind), "manual");
  snprintf(ev->label, sizeof(ev->label), "%s", label);
  snprintf(ev->labels, sizeof(ev->labels), "%s", labels ? labels : "");
  ev->severity = severity;
  ev->start_utc_us = ev->update_utc_us = start_us;
  ev->manual = true;
  /* An event entirely in the past is stored as ended: it never was active. */
  ev->active = end_us > now_us;
  if (!ev->active) ev->end_utc_us = end_us;
  int err = e->cbs.start(e->opaque, ev);
  if (out) *out = *ev;
  if (err || !ev->active) c->used = false;
  return err;
}

int vg_event_engine_learn_false_positive(vg_event_engine_t *e, const char *camera, const char *label,
                                         const float box[4], int64_t utc_us) {
  return vg_fpmask_add(e->fp, camera, label, box, utc_us);
}

static candidate_t *find_id(vg_event_engine_t *e, int64_t id) {
  for (int i = 0; i < MAX_CANDIDATES; i++)
    if (e->cands[i].used && e->cands[i].started && e->cands[i].ev.id == id) return &e->cands[i];
  return NULL;
}

void vg_event_engine_set_flags(vg_event_engine_t *e, int64_t id, int snapshot, int false_positive,
                               int retained) {
  candidate_t *c = find_id(e, id);
  if (!c) return;
  if (snapshot >= 0) c->ev.snapshot = snapshot;
  if (false_positive >= 0) c->ev.false_positive = false_positive;
  if (retained >= 0) c->ev.retained = retained;
}

int vg_event_engine_get(vg_event_engine_t *e, int64_t id, vg_event_t *out) {
  candidate_t *c = find_id(e, id);
  if (!c) return VG_ENOTFOUND;
  *out = c->ev;
  return 0;
}
