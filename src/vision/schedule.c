/* schedule.c: see schedule.h. */
#include "vision/schedule.h"

#include <ctype.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"

/* Guards every change of TZ and the conversion that depends on it. */
static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

/* "UTC+05:30", "UTC-3", "UTC+0100": a fixed offset, east positive (as
 * people write it, not as POSIX TZ strings do). Returns false when text is
 * not of that form. */
static bool parse_fixed_offset(const char *tz, int *offset_s) {
  if (strcmp(tz, "") == 0 || strcmp(tz, "UTC") == 0 || strcmp(tz, "Etc/UTC") == 0) {
    *offset_s = 0;
    return true;
  }
  if (strncmp(tz, "UTC", 3) != 0 || (tz[3] != '+' && tz[3] != '-')) return false;
  int sign = tz[3] == '-' ? -1 : 1;
  const char *p = tz + 4;
  int digits[4], nd = 0;
  bool colon = false;
  for (; *p; p++) {
    if (*p == ':' && nd == 2 && !colon) {
      colon = true;
      continue;
    }
    if (!isdigit((unsigned char)*p) || nd == 4) return false;
    digits[nd++] = *p - '0';
  }
  int h, m = 0;
  if (nd == 1) {
    if (colon) return false;
    h = digits[0];
  } else if (nd == 2 && !colon) {
    h = digits[0] * 10 + digits[1];
  } else if (nd == 4) {
    h = digits[0] * 10 + digits[1];
    m = digits[2] * 10 + digits[3];
  } else {
    return false;
  }
  if (h > 14 || m > 59) return false;
  *offset_s = sign * (h * 3600 + m * 60);
  return true;
}

/* An IANA name: letters, digits, '_', '-', '+' and '/' separated parts,
 * none of them "." or "..", so it can only name a file inside the zone
 * database. */
static bool iana_name_ok(const char *tz) {
  size_t n = strlen(tz);
  if (n == 0 || n >= VG_TZ_NAME_MAX || tz[0] == '/' || tz[n - 1] == '/' || strstr(tz, "//")) return false;
  for (const char *p = tz; *p; p++)
    if (!isalnum((unsigned char)*p) && !strchr("_-+/", *p)) return false;
  return strstr(tz, "..") == NULL;
}

bool vg_tz_valid(const char *tz) {
  int off;
  if (!tz) return false;
  if (parse_fixed_offset(tz, &off)) return true;
  if (!iana_name_ok(tz)) return false;
  /* glibc silently treats an unknown zone as UTC, so look for the file. */
  const char *dir = getenv("TZDIR");
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo", tz);
  return access(path, R_OK) == 0;
}

int vg_tz_offset(const char *tz, int64_t utc_s, int *offset_s) {
  if (!tz) return VG_EINVAL;
  if (parse_fixed_offset(tz, offset_s)) return 0;
  if (!iana_name_ok(tz)) return VG_EINVAL;
  time_t t = (time_t)utc_s;
  struct tm tm;
  pthread_mutex_lock(&tz_lock);
  const char *old = getenv("TZ");
  char *saved = old ? strdup(old) : NULL;
  if (old && !saved) {
    pthread_mutex_unlock(&tz_lock);
    return VG_ENOMEM;
  }
  setenv("TZ", tz, 1);
  tzset();
  struct tm *ok = localtime_r(&t, &tm);
  if (saved)
    setenv("TZ", saved, 1);
  else
    unsetenv("TZ");
  tzset();
  pthread_mutex_unlock(&tz_lock);
  free(saved);
  if (!ok) return VG_EINVAL;
  *offset_s = (int)tm.tm_gmtoff;
  return 0;
}

/* Floor division, so that times before 1970 still fall in their own minute. */
static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

bool vg_schedule_active(vg_schedule_t *s, int64_t utc_us) {
  if (s->n == 0) return true;
  int64_t minute = floor_div(utc_us, 60000000);
  if (!s->cache_valid || s->cache_minute != minute) {
    int off = 0;
    if (vg_tz_offset(s->tz, minute * 60, &off) != 0) off = 0;
    s->cache_minute = minute;
    s->cache_offset_s = off;
    s->cache_valid = true;
  }
  int64_t local_s = floor_div(utc_us, 1000000) + s->cache_offset_s;
  int64_t day = floor_div(local_s, 86400);
  int minute_of_day = (int)((local_s - day * 86400) / 60);
  int wday = (int)(((day + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
  int yesterday = (wday + 6) % 7;
  for (int i = 0; i < s->n; i++) {
    const vg_time_range_t *r = &s->ranges[i];
    if (r->end_min > r->start_min) {
      if ((r->days >> wday & 1) && minute_of_day >= r->start_min && minute_of_day < r->end_min) return true;
    } else {
      /* Across midnight: the evening part today, the morning part of a
       * range that began yesterday. */
      if ((r->days >> wday & 1) && minute_of_day >= r->start_min) return true;
      if ((r->days >> yesterday & 1) && minute_of_day < r->end_min) return true;
    }
  }
  return false;
}

int vg_parse_hhmm(const char *text, int *minutes) {
  if (!text || strlen(text) != 5 || text[2] != ':') return VG_EINVAL;
  for (int i = 0; i < 5; i++)
    if (i != 2 && !isdigit((unsigned char)text[i])) return VG_EINVAL;
  int h = (text[0] - '0') * 10 + (text[1] - '0'), m = (text[3] - '0') * 10 + (text[4] - '0');
  if (m > 59 || h > 24 || (h == 24 && m != 0)) return VG_EINVAL;
  *minutes = h * 60 + m;
  return 0;
}

int vg_parse_weekday(const char *text) {
  static const char *const names[] = {"sunday",   "monday", "tuesday", "wednesday",
                                      "thursday", "friday", "saturday"};
  if (!text) return VG_EINVAL;
  size_t n = strlen(text);
  for (int d = 0; d < 7; d++)
    if ((n == 3 || n == strlen(names[d])) && strncasecmp(text, names[d], n) == 0) return d;
  return VG_EINVAL;
}
