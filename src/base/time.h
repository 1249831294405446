/*
 * time.h: clocks. Monotonic time for timeouts and latency; UTC wall clock
 * for timestamps that users see. Thread-safe.
 */
#ifndef VG_BASE_TIME_H
#define VG_BASE_TIME_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

int64_t vg_time_mono_us(void);
int64_t vg_time_utc_us(void);
/* Formats utc_us as "2026-11-21T12:00:00.123Z" into out (>= 25 bytes). */
void vg_time_format_utc(int64_t utc_us, char *out, size_t size);
/* The time in_us from now on clock (CLOCK_REALTIME, or CLOCK_MONOTONIC for
 * a condition variable made with that clock): an absolute deadline for
 * pthread_cond_timedwait(). */
struct timespec vg_time_deadline(clockid_t clock, int64_t in_us);

#endif
