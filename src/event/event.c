#include "event/event.h"

#include <string.h>
#include <strings.h>

#include "base/error.h"
#include "base/time.h"

static const char *const severity_names[] = {"info", "low", "medium", "high", "critical"};

const char *vg_event_severity_name(int severity) {
  if (severity < 0 || severity > VG_EVENT_SEVERITY_CRITICAL) return "unknown";
  return severity_names[severity];
}

int vg_event_severity_parse(const char *name) {
  if (!name) return VG_EINVAL;
  for (int i = 0; i <= VG_EVENT_SEVERITY_CRITICAL; i++)
    if (strcasecmp(name, severity_names[i]) == 0) return i;
  return VG_EINVAL;
}

/* Comma-separated tags become a JSON array; empty pieces are skipped. */
static json_t *labels_json(const char *labels) {
  json_t *arr = json_array();
  if (!arr) return NULL;
  const char *p = labels;
  while (*p) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if (len) json_array_append_new(arr, json_stringn(p, len));
    p += len + (comma ? 1 : 0);
  }
  return arr;
}

static json_t *time_json(int64_t utc_us) {
  if (!utc_us) return json_null();
  char text[40];
  vg_time_format_utc(utc_us, text, sizeof(text));
  return json_string(text);
}

/* Scores are rounded to 3 decimals so that JSON stays readable. */
static json_t *score_json(float v) { return json_real((double)(int)(v * 1000.0f + 0.5f) / 1000.0); }

static json_t *box_json(const float *b) {
  if (!(b[2] > b[0] && b[3] > b[1])) return json_null();
  return json_pack("[o,o,o,o]", score_json(b[0]), score_json(b[1]), score_json(b[2]), score_json(b[3]));
}

json_t *vg_event_to_json(const vg_event_t *ev) {
  json_t *j = json_pack(
      "{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:I,s:o,s:b,s:o,s:o,s:o,s:o,s:I,s:I,s:b,s:b,s:b,s:b}", "id",
      (json_int_t)ev->id, "camera", ev->camera, "sensor", ev->sensor, "kind", ev->kind, "label", ev->label,
      "direction", ev->direction, "severity", vg_event_severity_name(ev->severity), "labels",
      labels_json(ev->labels), "start", time_json(ev->start_utc_us), "end", time_json(ev->end_utc_us),
      "start_ms", (json_int_t)(ev->start_utc_us / 1000), "end_ms",
      ev->end_utc_us ? json_integer(ev->end_utc_us / 1000) : json_null(), "active", ev->active, "best_score",
      score_json(ev->best_score), "median_score", score_json(ev->median_score), "box", box_json(ev->box),
      "trigger_box", box_json(ev->trigger_box), "track_id", (json_int_t)ev->track_id, "triggers",
      (json_int_t)ev->triggers, "snapshot", ev->snapshot, "false_positive", ev->false_positive, "retained",
      ev->retained, "manual", ev->manual);
  return j;
}
