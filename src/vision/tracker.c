/* tracker.c: see tracker.h. */
#include "vision/tracker.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/* Each detection keeps its best few candidate tracks; greedy association
 * takes the best pairs first, so dropping a detection's ninth-best overlap
 * changes nothing in any real scene and bounds the work and the memory. */
#define CANDIDATES_PER_DET 8

/* Kalman filter noise, relative to the object's size so that one tuning
 * fits near and far objects: measurement noise is 5% of the size, and the
 * object may accelerate by about its own size per second squared. */
#define MEAS_STD_FRAC 0.05f
#define ACCEL_STD_FRAC 1.0f
#define INIT_VEL_STD_FRAC 2.0f
/* The fastest relative size change predicted, per second. */
#define MAX_SIZE_RATE 0.5f

/* One position/velocity pair with its 2x2 covariance. */
typedef struct {
  float p, v;
  float P00, P01, P11;
} axis_t;

typedef struct {
  vg_vtrack_t pub;
  axis_t ax[4];  /* cx, cy, w, h */
  int64_t ts_us; /* time the filter state refers to */
  /* The first detection's centre and time: the second hit sets the
   * velocity from the displacement since, instead of letting the filter
   * creep up from zero over several frames. */
  float first_cx, first_cy;
} track_t;

/* A candidate association. score is the IoU for an overlap at least
 * iou_threshold, and minus the normalized centre distance for the
 * fallback gate, so every overlap ranks before every fallback and a
 * closer fallback before a farther one. */
typedef struct {
  float score;
  int track, det;
} pair_t;

struct vg_tracker {
  vg_tracker_config_t cfg;
  uint32_t next_id;
  int n;
  track_t tracks[VG_TRACKER_MAX_TRACKS];
  vg_vtrack_t view[VG_TRACKER_MAX_TRACKS];
  int n_deleted;
  uint32_t deleted[VG_TRACKER_MAX_TRACKS];
  int n_pairs;
  pair_t pairs[VG_TRACKER_MAX_DETECTIONS * CANDIDATES_PER_DET];
  bool det_used[VG_TRACKER_MAX_DETECTIONS];
  bool track_used[VG_TRACKER_MAX_TRACKS];
  int64_t last_ts_us;
  bool have_ts;
};

void vg_tracker_config_default(vg_tracker_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->max_age = 10;
  cfg->min_hits = 3;
  cfg->iou_threshold = 0.25f;
  cfg->max_tracks = 128;
  cfg->stationary_s = 10;
  cfg->stationary_frac = 0.15f;
  cfg->center_gate = 1.5f;
}

static bool config_valid(const vg_tracker_config_t *c) {
  return c->max_age >= 0 && c->max_age <= 1000 && c->min_hits >= 1 && c->min_hits <= 100 &&
         c->iou_threshold >= 0.01f && c->iou_threshold <= 1 && c->max_tracks >= 1 &&
         c->max_tracks <= VG_TRACKER_MAX_TRACKS && c->stationary_s > 0 && c->stationary_frac >= 0 &&
         c->center_gate >= 0 && c->center_gate <= 10;
}

int vg_tracker_create(const vg_tracker_config_t *cfg, vg_tracker_t **out) {
  if (!cfg || !out || !config_valid(cfg)) return VG_EINVAL;
  vg_tracker_t *t = calloc(1, sizeof(*t));
  if (!t) return VG_ENOMEM;
  t->cfg = *cfg;
  t->next_id = 1;
  *out = t;
  return 0;
}

void vg_tracker_destroy(vg_tracker_t **t) {
  if (!t || !*t) return;
  free(*t);
  *t = NULL;
}

void vg_tracker_reset(vg_tracker_t *t) {
  t->n = 0;
  t->n_deleted = 0;
  t->have_ts = false;
}

/* --- the per-axis constant-velocity Kalman filter --- */

static void axis_init(axis_t *a, float z, float size) {
  float r = MEAS_STD_FRAC * size, vs = INIT_VEL_STD_FRAC * size;
  a->p = z;
  a->v = 0;
  a->P00 = r * r;
  a->P01 = 0;
  a->P11 = vs * vs;
}

/* x' = F x with F = [1 dt; 0 1]; P' = F P F^T + Q, Q the discretized white
 * acceleration noise q [dt^3/3 dt^2/2; dt^2/2 dt]. */
static void axis_predict(axis_t *a, float dt, float size) {
  float q = ACCEL_STD_FRAC * size;
  q *= q;
  a->p += a->v * dt;
  float P00 = a->P00 + dt * (2 * a->P01 + dt * a->P11);
  float P01 = a->P01 + dt * a->P11;
  a->P00 = P00 + q * dt * dt * dt / 3;
  a->P01 = P01 + q * dt * dt / 2;
  a->P11 += q * dt;
}

static void axis_correct(axis_t *a, float z, float size) {
  float r = MEAS_STD_FRAC * size;
  float S = a->P00 + r * r;
  float k0 = a->P00 / S, k1 = a->P01 / S;
  float y = z - a->p;
  a->p += k0 * y;
  a->v += k1 * y;
  float P00 = (1 - k0) * a->P00, P01 = (1 - k0) * a->P01, P11 = a->P11 - k1 * a->P01;
  a->P00 = P00;
  a->P01 = P01;
  a->P11 = P11;
}

static void track_publish_box(track_t *tr) {
  float w = fmaxf(tr->ax[2].p, 1), h = fmaxf(tr->ax[3].p, 1);
  tr->pub.box.x1 = tr->ax[0].p - w / 2;
  tr->pub.box.x2 = tr->ax[0].p + w / 2;
  tr->pub.box.y1 = tr->ax[1].p - h / 2;
  tr->pub.box.y2 = tr->ax[1].p + h / 2;
  tr->pub.vx = tr->ax[0].v;
  tr->pub.vy = tr->ax[1].v;
}

static void track_predict(track_t *tr, int64_t ts_us) {
  float dt = (float)(ts_us - tr->ts_us) / 1e6f;
  /* A real object's size changes by less than half per second, and an
   * unseen one keeps its size. A size that was changing fast when the
   * object went out of sight (partly hidden behind something, so the last
   * boxes shrank) would otherwise shrink the prediction to nothing, and
   * the object would not be recognized when it comes out. */
  for (int i = 2; i < 4; i++) {
    float limit = tr->pub.misses > 0 ? 0 : MAX_SIZE_RATE * fmaxf(tr->ax[i].p, 1);
    tr->ax[i].v = fminf(fmaxf(tr->ax[i].v, -limit), limit);
  }
  if (dt > 0) {
    float w = fmaxf(tr->ax[2].p, 1), h = fmaxf(tr->ax[3].p, 1);
    axis_predict(&tr->ax[0], dt, w);
    axis_predict(&tr->ax[1], dt, h);
    axis_predict(&tr->ax[2], dt, w);
    axis_predict(&tr->ax[3], dt, h);
    tr->ts_us = ts_us;
  }
  track_publish_box(tr);
}

static void push_score(vg_vtrack_t *p, float score) {
  p->score = score;
  p->scores[p->score_head] = score;
  p->score_head = (p->score_head + 1) % VG_VTRACK_SCORE_HISTORY;
  if (p->n_scores < VG_VTRACK_SCORE_HISTORY) p->n_scores++;
}

/* Stationary: the centre has stayed within stationary_frac of the box
 * diagonal of where it was stationary_s ago. */
static void update_stationary(const vg_tracker_config_t *cfg, vg_vtrack_t *p, int64_t ts_us) {
  float cx = (p->box.x1 + p->box.x2) / 2, cy = (p->box.y1 + p->box.y2) / 2;
  float w = p->box.x2 - p->box.x1, h = p->box.y2 - p->box.y1;
  float limit = cfg->stationary_frac * sqrtf(w * w + h * h);
  float dx = cx - p->still_cx, dy = cy - p->still_cy;
  if (dx * dx + dy * dy > limit * limit) {
    p->still_cx = cx;
    p->still_cy = cy;
    p->still_since_us = ts_us;
    p->stationary = false;
  } else if ((float)(ts_us - p->still_since_us) >= cfg->stationary_s * 1e6f) {
    p->stationary = true;
  }
}

/* The second hit of a track: the centre's velocity is the displacement
 * since the first detection over the time between them, with the
 * variance of a difference of two measurements, and the position is the
 * new measurement. At 5 fps a walking person moves half their width per
 * frame: starting from zero velocity the prediction would lag a whole
 * width behind by the third frame. */
static void axis_init_velocity(axis_t *a, float z, float z0, float dt, float size) {
  float r = MEAS_STD_FRAC * size;
  a->p = z;
  a->v = (z - z0) / dt;
  a->P00 = r * r;
  a->P01 = r * r / dt;
  a->P11 = 2 * r * r / (dt * dt);
}

static void track_correct(vg_tracker_t *t, track_t *tr, const vg_detection_t *d, int det_index,
                          int64_t ts_us) {
  float w = fmaxf(d->x2 - d->x1, 1), h = fmaxf(d->y2 - d->y1, 1);
  float cx = (d->x1 + d->x2) / 2, cy = (d->y1 + d->y2) / 2;
  float dt = (float)(ts_us - tr->pub.first_seen_us) / 1e6f;
  if (tr->pub.hits == 1 && dt > 0) {
    axis_init_velocity(&tr->ax[0], cx, tr->first_cx, dt, w);
    axis_init_velocity(&tr->ax[1], cy, tr->first_cy, dt, h);
  } else {
    axis_correct(&tr->ax[0], cx, w);
    axis_correct(&tr->ax[1], cy, h);
  }
  axis_correct(&tr->ax[2], w, w);
  axis_correct(&tr->ax[3], h, h);
  track_publish_box(tr);
  vg_vtrack_t *p = &tr->pub;
  push_score(p, d->score);
  p->last_seen_us = ts_us;
  p->hits++;
  p->misses = 0;
  p->matched = true;
  p->det_index = det_index;
  if (p->hits >= t->cfg.min_hits) p->confirmed = true;
  update_stationary(&t->cfg, p, ts_us);
}

static void track_start(vg_tracker_t *t, const vg_detection_t *d, int det_index, int64_t ts_us) {
  track_t *tr = &t->tracks[t->n++];
  memset(tr, 0, sizeof(*tr));
  float w = fmaxf(d->x2 - d->x1, 1), h = fmaxf(d->y2 - d->y1, 1);
  axis_init(&tr->ax[0], (d->x1 + d->x2) / 2, w);
  axis_init(&tr->ax[1], (d->y1 + d->y2) / 2, h);
  axis_init(&tr->ax[2], w, w);
  axis_init(&tr->ax[3], h, h);
  tr->ts_us = ts_us;
  tr->first_cx = tr->ax[0].p;
  tr->first_cy = tr->ax[1].p;
  track_publish_box(tr);
  vg_vtrack_t *p = &tr->pub;
  p->id = t->next_id++;
  if (t->next_id == 0) t->next_id = 1; /* after 4 billion tracks: never hand out 0 */
  p->label = d->label;
  push_score(p, d->score);
  p->first_seen_us = p->last_seen_us = ts_us;
  p->hits = 1;
  p->matched = true;
  p->det_index = det_index;
  p->confirmed = t->cfg.min_hits <= 1;
  p->still_cx = (p->box.x1 + p->box.x2) / 2;
  p->still_cy = (p->box.y1 + p->box.y2) / 2;
  p->still_since_us = ts_us;
}

/* --- association --- */

static void add_candidate(vg_tracker_t *t, pair_t *slots, int *n_slots, pair_t cand) {
  int n = *n_slots;
  if (n == CANDIDATES_PER_DET) {
    if (cand.score <= slots[n - 1].score) return;
    n--;
  }
  int i = n;
  for (; i > 0 && slots[i - 1].score < cand.score; i--)
    slots[i] = slots[i - 1];
  slots[i] = cand;
  *n_slots = n + 1;
  (void)t;
}

/* Best score first; ties broken by track then detection order, so that the
 * result never depends on qsort's instability. */
static int pair_cmp(const void *a, const void *b) {
  const pair_t *x = a, *y = b;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  if (x->track != y->track) return x->track - y->track;
  return x->det - y->det;
}

/* The fallback gate for a detection that does not overlap a track enough:
 * the distance between the detection's centre and the track's predicted
 * centre, per axis in units of the track's width and height, must be at
 * most center_gate, and the sizes must agree within a factor of two (a
 * person does not double in size between two frames). Returns the
 * normalized distance, or -1 when outside the gate. */
static float center_distance(const vg_tracker_t *t, const vg_box_t *tb, const vg_box_t *db) {
  float tw = fmaxf(tb->x2 - tb->x1, 1), th = fmaxf(tb->y2 - tb->y1, 1);
  float dw = fmaxf(db->x2 - db->x1, 1), dh = fmaxf(db->y2 - db->y1, 1);
  if (dw > 2 * tw || tw > 2 * dw || dh > 2 * th || th > 2 * dh) return -1;
  float dx = ((db->x1 + db->x2) - (tb->x1 + tb->x2)) / 2 / tw;
  float dy = ((db->y1 + db->y2) - (tb->y1 + tb->y2)) / 2 / th;
  float dist = sqrtf(dx * dx + dy * dy);
  return dist <= t->cfg.center_gate ? dist : -1;
}

static void associate(vg_tracker_t *t, const vg_detection_t *dets, int n, int64_t ts_us) {
  t->n_pairs = 0;
  for (int d = 0; d < n; d++) {
    pair_t *slots = &t->pairs[t->n_pairs];
    int n_slots = 0;
    vg_box_t db = {dets[d].x1, dets[d].y1, dets[d].x2, dets[d].y2};
    for (int k = 0; k < t->n; k++) {
      if (t->tracks[k].pub.label != dets[d].label) continue;
      float iou = vg_box_iou(&t->tracks[k].pub.box, &db);
      if (iou >= t->cfg.iou_threshold) {
        add_candidate(t, slots, &n_slots, (pair_t){iou, k, d});
      } else if (t->cfg.center_gate > 0) {
        /* Too little overlap, or none: the object outran the prediction
         * (a new track has no velocity yet, a missed frame doubles the
         * step). Such pairs rank after every real overlap, so a person
         * beside another never takes the other's detection while it
         * overlaps its own track well. */
        float dist = center_distance(t, &t->tracks[k].pub.box, &db);
        if (dist >= 0) add_candidate(t, slots, &n_slots, (pair_t){-dist, k, d});
      }
    }
    t->n_pairs += n_slots;
  }
  qsort(t->pairs, (size_t)t->n_pairs, sizeof(pair_t), pair_cmp);
  for (int i = 0; i < t->n_pairs; i++) {
    pair_t *pr = &t->pairs[i];
    if (t->track_used[pr->track] || t->det_used[pr->det]) continue;
    t->track_used[pr->track] = true;
    t->det_used[pr->det] = true;
    track_correct(t, &t->tracks[pr->track], &dets[pr->det], pr->det, ts_us);
  }
}

static bool id_listed(uint32_t id, const uint32_t *ids, int n) {
  for (int i = 0; i < n; i++)
    if (ids[i] == id) return true;
  return false;
}

int vg_tracker_update(vg_tracker_t *t, const vg_detection_t *dets, int n, int64_t ts_us) {
  return vg_tracker_update_held(t, dets, n, ts_us, NULL, 0);
}

int vg_tracker_update_held(vg_tracker_t *t, const vg_detection_t *dets, int n, int64_t ts_us,
                           const uint32_t *held, int n_held) {
  if (!t || n < 0 || (n > 0 && !dets) || (t->have_ts && ts_us < t->last_ts_us) || n_held < 0 ||
      (n_held > 0 && !held))
    return VG_EINVAL;
  if (n > VG_TRACKER_MAX_DETECTIONS) n = VG_TRACKER_MAX_DETECTIONS;
  t->have_ts = true;
  t->last_ts_us = ts_us;
  t->n_deleted = 0;
  for (int k = 0; k < t->n; k++) {
    track_t *tr = &t->tracks[k];
    tr->pub.held = id_listed(tr->pub.id, held, n_held);
    if (tr->pub.held) {
      /* A stationary object between checks: keep its box, and let the
       * filter's clock jump over the gap rather than drift the box by a
       * residual velocity (a correction ends the hold). */
      tr->ts_us = ts_us;
      tr->ax[0].v = tr->ax[1].v = 0;
      track_publish_box(tr);
    } else {
      track_predict(tr, ts_us);
    }
    t->tracks[k].pub.matched = false;
    t->tracks[k].pub.det_index = -1;
    t->track_used[k] = false;
  }
  memset(t->det_used, 0, sizeof(bool) * (size_t)n);
  associate(t, dets, n, ts_us);

  /* Misses and deletions, keeping the survivors in creation order. */
  int kept = 0;
  for (int k = 0; k < t->n; k++) {
    track_t *tr = &t->tracks[k];
    if (t->track_used[k])
      tr->pub.held = false;
    else if (!tr->pub.held)
      tr->pub.misses++;
    bool drop = tr->pub.confirmed ? tr->pub.misses > t->cfg.max_age : tr->pub.misses > 0;
    if (drop) {
      if (tr->pub.confirmed) t->deleted[t->n_deleted++] = tr->pub.id;
      continue;
    }
    if (kept != k) t->tracks[kept] = *tr;
    kept++;
  }
  t->n = kept;

  for (int d = 0; d < n && t->n < t->cfg.max_tracks; d++)
    if (!t->det_used[d] && dets[d].x2 > dets[d].x1 && dets[d].y2 > dets[d].y1)
      track_start(t, &dets[d], d, ts_us);
  for (int k = 0; k < t->n; k++)
    t->view[k] = t->tracks[k].pub;
  return t->n;
}

int vg_tracker_tracks(const vg_tracker_t *t, const vg_vtrack_t **tracks) {
  *tracks = t->view;
  return t->n;
}

int vg_tracker_deleted(const vg_tracker_t *t, const uint32_t **ids) {
  *ids = t->deleted;
  return t->n_deleted;
}

float vg_vtrack_score_median(const vg_vtrack_t *tr) {
  int n = tr->n_scores;
  if (n <= 0) return 0;
  float v[VG_VTRACK_SCORE_HISTORY];
  for (int i = 0; i < n; i++)
    v[i] = tr->scores[i];
  for (int i = 1; i < n; i++) {
    float x = v[i];
    int k = i - 1;
    for (; k >= 0 && v[k] > x; k--)
      v[k + 1] = v[k];
    v[k + 1] = x;
  }
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
