/*
 * schedule.h: weekly schedules in a named time zone, for activation rules.
 *
 * A schedule is a list of ranges (weekdays + local start and end time); it
 * is active when the local time falls in any range (no ranges: always). A
 * range whose end is not after its start runs across midnight: it starts on
 * a listed day and ends the next day ("fri 22:00-06:00" covers Friday
 * night into Saturday morning).
 *
 * Time zones: "" or "UTC"; a fixed offset "UTC+05:30" / "UTC-03"; or an
 * IANA name ("Europe/Berlin") resolved by the C library. The C library only
 * converts in the process's zone (TZ), and setenv("TZ") is not thread-safe,
 * so vg_tz_offset() does the conversion under one process-wide mutex: it
 * sets TZ, calls tzset() and localtime_r(), and restores TZ. Nothing else in
 * vigil reads TZ or local time (every timestamp is UTC), and glibc never
 * frees replaced environment strings, so a concurrent getenv() stays safe.
 * A schedule caches the offset for the current minute, so this runs at
 * most once per minute per schedule (offsets change only at whole minutes).
 *
 * vg_tz_offset() and vg_tz_valid() may be called from any thread; a
 * vg_schedule_t (it holds its cache) by one thread at a time.
 */
#ifndef VG_VISION_SCHEDULE_H
#define VG_VISION_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#define VG_SCHEDULE_MAX_RANGES 16
#define VG_TZ_NAME_MAX 64

typedef struct {
  uint8_t days;  /* bit d = weekday d (0 = Sunday .. 6 = Saturday, as tm_wday) */
  int start_min; /* minutes after local midnight, 0..1439 */
  int end_min;   /* 0..1440; <= start_min: ends the next day */
} vg_time_range_t;

typedef struct {
  char tz[VG_TZ_NAME_MAX];
  int n; /* 0: always active */
  vg_time_range_t ranges[VG_SCHEDULE_MAX_RANGES];
  /* Cache: the offset of the UTC minute cache_minute. */
  int64_t cache_minute;
  int cache_offset_s;
  bool cache_valid;
} vg_schedule_t;

/* True when tz names a zone this machine can resolve (a fixed offset, UTC,
 * or an IANA name present in the zone database: the only file access). */
bool vg_tz_valid(const char *tz);
/* The local-time offset from UTC (seconds, east positive) of zone tz at
 * utc_s. Returns 0, VG_EINVAL (an invalid name) or VG_ENOMEM. Thread-safe. */
int vg_tz_offset(const char *tz, int64_t utc_s, int *offset_s);

/* Whether the schedule is active at utc_us. An unresolvable zone counts as
 * UTC (the configuration parser rejects those). */
bool vg_schedule_active(vg_schedule_t *s, int64_t utc_us);

/* Parses "HH:MM" (00:00..24:00) into minutes; VG_EINVAL otherwise. */
int vg_parse_hhmm(const char *text, int *minutes);
/* "sun".."sat" (or full English names, any case) to 0..6; VG_EINVAL. */
int vg_parse_weekday(const char *text);

#endif
