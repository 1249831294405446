#include "record/trigger.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "base/log.h"
#include "base/time.h"

/* Cameras with a policy or a trigger; a node records at most about this many. */
#define MAX_CAMERAS 1024
/* Marks waiting for the retention thread; far more than a node makes
 * between two of its wakes. */
#define MAX_PENDING_MARKS 1024

typedef struct {
  char camera[VG_REC_CAMERA_MAX];
  bool has_policy;
  vg_rec_policy_t policy;
  int64_t manual_until_us; /* UTC end of the manual trigger, 0 if none */
  int open_events;
  int64_t event_start_us; /* UTC of the first begin of the open run */
  int64_t post_roll_until_us;
} camera_state_t;

/* A camera's "record" object as configured, applied over the node-wide
 * policy at vg_rec_policies_init (the node's keys may be read after the
 * cameras'). */
typedef struct {
  char camera[VG_REC_CAMERA_MAX];
  json_t *obj;
} camera_override_t;

static struct {
  pthread_mutex_t lock;
  char db_path[512];
  vg_rec_policy_t node_policy;
  bool node_policy_set;
  vg_rec_policy_t parsed_node_policy; /* from vg_rec_node_config_parse */
  bool parsed_node_policy_set;
  int retention_interval_s; /* "retention_interval_s", 0 before parsing */
  camera_override_t overrides[MAX_CAMERAS];
  int override_count;
  vg_rec_mark_t marks[MAX_PENDING_MARKS]; /* waiting for vg_record_flush_marks */
  int mark_count;
  uint64_t marks_dropped;
  void (*mark_waker)(void);
  camera_state_t *cams[MAX_CAMERAS];
  int count;
} T = {.lock = PTHREAD_MUTEX_INITIALIZER};

static vg_log_ctx_t lg = VG_LOG_CTX("record", "trigger");

/* --- the calling thread's index --- */

typedef struct {
  vg_db_t *db;
  vg_rec_index_t *ix;
} thread_index_t;

static pthread_key_t index_key;
static pthread_once_t index_once = PTHREAD_ONCE_INIT;

static void thread_index_free(void *p) {
  thread_index_t *t = p;
  if (!t) return;
  vg_rec_index_close(&t->ix);
  vg_db_close(&t->db);
  free(t);
}

static void make_key(void) { pthread_key_create(&index_key, thread_index_free); }

vg_rec_index_t *vg_record_thread_index(void) {
  pthread_once(&index_once, make_key);
  thread_index_t *t = pthread_getspecific(index_key);
  if (t) return t->ix;
  char path[sizeof(T.db_path)];
  pthread_mutex_lock(&T.lock);
  memcpy(path, T.db_path, sizeof(path));
  pthread_mutex_unlock(&T.lock);
  if (!path[0]) return NULL;
  t = calloc(1, sizeof(*t));
  if (!t) return NULL;
  if (vg_db_open(path, &t->db) != 0 || vg_rec_index_open(t->db, &t->ix) != 0) {
    vg_log_error(&lg, "cannot open the recording index in %s", path);
    thread_index_free(t);
    return NULL;
  }
  pthread_setspecific(index_key, t);
  return t->ix;
}

void vg_record_thread_index_close(void) {
  pthread_once(&index_once, make_key);
  thread_index_t *t = pthread_getspecific(index_key);
  pthread_setspecific(index_key, NULL);
  thread_index_free(t);
}

/* --- policies --- */

/* The state of camera, created when create is set. Under T.lock. */
static camera_state_t *find(const char *camera, bool create) {
  for (int i = 0; i < T.count; i++)
    if (strcmp(T.cams[i]->camera, camera) == 0) return T.cams[i];
  if (!create || T.count >= MAX_CAMERAS || strlen(camera) >= VG_REC_CAMERA_MAX) return NULL;
  camera_state_t *s = calloc(1, sizeof(*s));
  if (!s) return NULL;
  snprintf(s->camera, sizeof(s->camera), "%s", camera);
  T.cams[T.count++] = s;
  return s;
}

/* Under T.lock. */
static void policy_of(const camera_state_t *s, vg_rec_policy_t *out) {
  if (s && s->has_policy)
    *out = s->policy;
  else if (T.node_policy_set)
    *out = T.node_policy;
  else
    vg_rec_policy_default(out);
}

int vg_rec_node_config_parse(vg_cfg_t *c, json_t *obj, vg_record_config_t *out) {
  vg_rec_policy_t policy;
  vg_rec_policy_default(&policy);
  if (vg_rec_policy_parse(c, obj, &policy) != 0) return VG_ECONFIG;
  long long interval_s;
  vg_cfg_int(c, obj, "retention_interval_s", 5, 1, 3600, &interval_s);
  if (c->failed) return VG_ECONFIG;
  /* The recorder's parser checks its keys: give it the object without ours. */
  json_t *rest = obj ? json_copy(obj) : NULL;
  if (obj && !rest) return vg_cfg_fail(c, NULL, "out of memory");
  for (int i = 0; rest && vg_rec_policy_keys[i]; i++)
    json_object_del(rest, vg_rec_policy_keys[i]);
  if (rest) json_object_del(rest, "retention_interval_s");
  int err = vg_record_config_parse(c, rest, out);
  json_decref(rest);
  if (err) return err;
  pthread_mutex_lock(&T.lock);
  T.parsed_node_policy = policy;
  T.parsed_node_policy_set = true;
  T.retention_interval_s = (int)interval_s;
  pthread_mutex_unlock(&T.lock);
  return 0;
}

int vg_rec_camera_policy_parse(vg_cfg_t *c, json_t *obj, const char *camera) {
  if (!obj || !json_is_object(obj)) return c->failed ? VG_ECONFIG : 0; /* roots.c reports a non-object */
  const char *keys[32];
  int n = 0;
  keys[n++] = "root";
  for (int i = 0; vg_rec_policy_keys[i] && n < 31; i++)
    keys[n++] = vg_rec_policy_keys[i];
  keys[n] = NULL;
  vg_cfg_enter(c, "record");
  vg_cfg_check_keys(c, obj, keys);
  /* Checked now, against the defaults, so that errors name the camera's field. */
  vg_rec_policy_t probe;
  vg_rec_policy_default(&probe);
  vg_rec_policy_parse(c, obj, &probe);
  vg_cfg_leave(c);
  if (c->failed) return VG_ECONFIG;
  pthread_mutex_lock(&T.lock);
  int i;
  for (i = 0; i < T.override_count; i++)
    if (strcmp(T.overrides[i].camera, camera) == 0) break;
  if (i == T.override_count && T.override_count < MAX_CAMERAS) T.override_count++;
  if (i < T.override_count) {
    snprintf(T.overrides[i].camera, sizeof(T.overrides[i].camera), "%s", camera);
    json_decref(T.overrides[i].obj);
    T.overrides[i].obj = json_incref(obj);
  }
  pthread_mutex_unlock(&T.lock);
  return 0;
}

int vg_rec_policies_init(const char *db_path, const vg_rec_policy_t *node_policy) {
  pthread_mutex_lock(&T.lock);
  snprintf(T.db_path, sizeof(T.db_path), "%s", db_path ? db_path : "");
  if (node_policy) {
    T.node_policy = *node_policy;
    T.node_policy_set = true;
  } else if (T.parsed_node_policy_set) {
    T.node_policy = T.parsed_node_policy;
    T.node_policy_set = true;
  }
  vg_rec_policy_t base;
  policy_of(NULL, &base);
  for (int i = 0; i < T.override_count; i++) {
    vg_rec_policy_t p = base;
    vg_cfg_t c = {0};
    vg_rec_policy_parse(&c, T.overrides[i].obj, &p);
    camera_state_t *s = find(T.overrides[i].camera, true);
    if (s && !c.failed) {
      s->policy = p;
      s->has_policy = true;
    }
  }
  pthread_mutex_unlock(&T.lock);
  return 0;
}

int vg_rec_policy_set(const char *camera, const vg_rec_policy_t *policy) {
  if (!camera || !policy) return VG_EINVAL;
  pthread_mutex_lock(&T.lock);
  camera_state_t *s = find(camera, true);
  if (s) {
    s->policy = *policy;
    s->has_policy = true;
  }
  pthread_mutex_unlock(&T.lock);
  return s ? 0 : VG_ENOMEM;
}

void vg_rec_policy_get(const char *camera, vg_rec_policy_t *out) {
  pthread_mutex_lock(&T.lock);
  policy_of(camera ? find(camera, false) : NULL, out);
  pthread_mutex_unlock(&T.lock);
}

void vg_rec_policies_reset(void) {
  pthread_mutex_lock(&T.lock);
  for (int i = 0; i < T.count; i++)
    free(T.cams[i]);
  T.count = 0;
  for (int i = 0; i < T.override_count; i++)
    json_decref(T.overrides[i].obj);
  T.override_count = 0;
  T.node_policy_set = T.parsed_node_policy_set = false;
  T.mark_count = 0;
  T.marks_dropped = 0;
  T.db_path[0] = '\0';
  pthread_mutex_unlock(&T.lock);
}

vg_rec_mode_t vg_rec_policy_mode_at(const vg_rec_policy_t *policy, int64_t utc_us) {
  if (policy->schedule_count == 0) return policy->mode;
  time_t secs = (time_t)(utc_us / 1000000);
  struct tm tm;
  if (!localtime_r(&secs, &tm)) return policy->mode;
  return vg_rec_schedule_mode(policy->schedule, policy->schedule_count, policy->mode, tm.tm_wday,
                              tm.tm_hour * 60 + tm.tm_min);
}

/* --- triggers --- */

/* Queues a mark for the retention thread, which stores it at its next wake
 * (vg_record_flush_marks): the callers (an HTTP handler, the events engine)
 * may be on an I/O loop, where a database write must not block. The queue
 * is bounded; when full, the oldest mark is dropped and counted. */
static int write_mark(const char *camera, vg_rec_mark_kind_t kind, int64_t start_us, int64_t end_us) {
  vg_rec_mark_t m = {.kind = kind, .start_us = start_us, .end_us = end_us};
  snprintf(m.camera, sizeof(m.camera), "%s", camera);
  void (*wake)(void);
  pthread_mutex_lock(&T.lock);
  if (T.mark_count == MAX_PENDING_MARKS) {
    memmove(&T.marks[0], &T.marks[1], sizeof(T.marks[0]) * (MAX_PENDING_MARKS - 1));
    T.mark_count--;
    T.marks_dropped++;
  }
  T.marks[T.mark_count++] = m;
  wake = T.mark_waker;
  pthread_mutex_unlock(&T.lock);
  if (wake) wake();
  return 0;
}

void vg_record_set_mark_waker(void (*wake)(void)) {
  pthread_mutex_lock(&T.lock);
  T.mark_waker = wake;
  pthread_mutex_unlock(&T.lock);
}

int vg_record_flush_marks(vg_rec_index_t *ix) {
  vg_rec_mark_t batch[64];
  int written = 0;
  for (;;) {
    pthread_mutex_lock(&T.lock);
    int n = T.mark_count < 64 ? T.mark_count : 64;
    memcpy(batch, T.marks, sizeof(batch[0]) * (size_t)n);
    memmove(&T.marks[0], &T.marks[n], sizeof(T.marks[0]) * (size_t)(T.mark_count - n));
    T.mark_count -= n;
    uint64_t dropped = T.marks_dropped;
    T.marks_dropped = 0;
    pthread_mutex_unlock(&T.lock);
    if (dropped) vg_log_warn(&lg, "%llu marks were dropped (queue full)", (unsigned long long)dropped);
    if (n == 0) return written;
    for (int i = 0; i < n; i++) {
      int err = vg_rec_index_add_mark(ix, &batch[i]);
      if (err) {
        vg_log_warn(&lg, "camera %s: a mark was not stored: %s", batch[i].camera, vg_strerror(err));
        continue;
      }
      written++;
    }
  }
}

int vg_record_trigger(const char *camera, int duration_s, const char *reason, int64_t *until_us) {
  if (!camera || !camera[0] || duration_s < 1 || duration_s > VG_RECORD_TRIGGER_MAX_S) return VG_EINVAL;
  int64_t now = vg_time_utc_us();
  int64_t until = now + (int64_t)duration_s * 1000000;
  vg_rec_policy_t policy;
  pthread_mutex_lock(&T.lock);
  camera_state_t *s = find(camera, true);
  policy_of(s, &policy);
  int64_t post_roll_us = (int64_t)policy.post_roll_s * 1000000;
  if (s && s->manual_until_us < until) s->manual_until_us = until;
  if (s) until = s->manual_until_us;
  /* Post-roll follows a manual trigger as it follows an event. */
  if (s && s->post_roll_until_us < until + post_roll_us) s->post_roll_until_us = until + post_roll_us;
  pthread_mutex_unlock(&T.lock);
  if (!s) return VG_ENOMEM;
  if (until_us) *until_us = until;
  vg_log_info(&lg, "camera %s: full quality for %d s (%s)", camera, duration_s,
              reason && *reason ? reason : "manual");
  return write_mark(camera, VG_REC_MARK_MANUAL, now - (int64_t)policy.pre_roll_s * 1000000,
                    until + post_roll_us);
}

int vg_record_event_begin(const char *camera, const char *reason) {
  if (!camera || !camera[0]) return VG_EINVAL;
  int64_t now = vg_time_utc_us();
  vg_rec_policy_t policy;
  pthread_mutex_lock(&T.lock);
  camera_state_t *s = find(camera, true);
  if (s && s->open_events++ == 0) s->event_start_us = now;
  policy_of(s, &policy);
  pthread_mutex_unlock(&T.lock);
  if (!s) return VG_ENOMEM;
  vg_log_debug(&lg, "camera %s: event begins (%s)", camera, reason ? reason : "");
  /* A mark now, so that a crash during a long event still keeps its start. */
  return write_mark(camera, VG_REC_MARK_EVENT, now - (int64_t)policy.pre_roll_s * 1000000,
                    now + (int64_t)policy.post_roll_s * 1000000);
}

int vg_record_event_end(const char *camera) {
  if (!camera || !camera[0]) return VG_EINVAL;
  int64_t now = vg_time_utc_us(), start = 0;
  vg_rec_policy_t policy;
  bool last = false;
  pthread_mutex_lock(&T.lock);
  camera_state_t *s = find(camera, false);
  if (!s || s->open_events == 0) {
    pthread_mutex_unlock(&T.lock);
    return VG_EINVAL;
  }
  policy_of(s, &policy);
  if (--s->open_events == 0) {
    last = true;
    start = s->event_start_us;
    int64_t end = now + (int64_t)policy.post_roll_s * 1000000;
    if (s->post_roll_until_us < end) s->post_roll_until_us = end;
  }
  pthread_mutex_unlock(&T.lock);
  if (!last) return 0;
  return write_mark(camera, VG_REC_MARK_EVENT, start - (int64_t)policy.pre_roll_s * 1000000,
                    now + (int64_t)policy.post_roll_s * 1000000);
}

bool vg_record_active(const char *camera, int64_t utc_us) {
  pthread_mutex_lock(&T.lock);
  camera_state_t *s = find(camera, false);
  bool active = s && (s->open_events > 0 || utc_us < s->manual_until_us || utc_us < s->post_roll_until_us);
  pthread_mutex_unlock(&T.lock);
  return active;
}

/* --- the recorder's gate --- */

int vg_rec_gate_open(vg_rec_gate_t *g, const char *camera, int key_track) {
  vg_rec_policy_t policy;
  pthread_mutex_lock(&T.lock);
  camera_state_t *s = find(camera, true);
  policy_of(s, &policy);
  pthread_mutex_unlock(&T.lock);
  if (!s) return VG_ENOMEM;
  vg_rec_gate_init(g, (int64_t)policy.pre_roll_s * 1000000, key_track);
  g->policy = policy;
  g->trigger_state = s;
  g->mode = policy.mode;
  return 0;
}

void vg_rec_gate_update(vg_rec_gate_t *g, int64_t utc_us) {
  camera_state_t *s = g->trigger_state;
  /* Schedules have minute resolution: local time is looked at once a minute. */
  int64_t minute = utc_us / 60000000;
  if (minute != g->mode_minute) {
    g->mode = vg_rec_policy_mode_at(&g->policy, utc_us);
    g->mode_minute = minute;
  }
  if (!s) {
    g->active = false;
    return;
  }
  pthread_mutex_lock(&T.lock);
  g->active = s->open_events > 0 || utc_us < s->manual_until_us || utc_us < s->post_roll_until_us;
  pthread_mutex_unlock(&T.lock);
}

int vg_rec_retention_interval_s(void) {
  pthread_mutex_lock(&T.lock);
  int s = T.retention_interval_s > 0 ? T.retention_interval_s : 5;
  pthread_mutex_unlock(&T.lock);
  return s;
}
