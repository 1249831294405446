#include "base/time.h"

#include <stdio.h>
#include <time.h>

int64_t vg_time_mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t vg_time_utc_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct timespec vg_time_deadline(clockid_t clock, int64_t in_us) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  if (in_us < 0) in_us = 0; /* already past: now */
  int64_t ns = ts.tv_nsec + (in_us % 1000000) * 1000;
  ts.tv_sec += (time_t)(in_us / 1000000 + ns / 1000000000);
  ts.tv_nsec = (long)(ns % 1000000000);
  return ts;
}

void vg_time_format_utc(int64_t utc_us, char *out, size_t size) {
  time_t secs = (time_t)(utc_us / 1000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec, (int)((utc_us % 1000000) / 1000));
}
