/*
 * error.h: vigil's single error space.
 *
 * Every function that can fail returns an int: 0 on success, a negative
 * VG_E* code on failure. System errors are negative errno values, which is
 * also what libuv returns on Unix, so a libuv status can be passed through
 * unchanged. vigil's own codes live below -5000, outside both ranges.
 * vg_strerror() and vg_err_name() work for all of them. Thread-safe.
 */
#ifndef VG_BASE_ERROR_H
#define VG_BASE_ERROR_H

#include <errno.h>

/* vigil's own codes: XX(NAME, value, message) */
#define VG_OWN_ERRORS(XX)                                                                                    \
  XX(INCOMPLETE, -5001, "more input is needed")                                                              \
  XX(PROTO, -5002, "protocol violation")                                                                     \
  XX(TOOBIG, -5003, "input exceeds a size limit")                                                            \
  XX(AUTH, -5004, "authentication required or failed")                                                       \
  XX(NOTFOUND, -5005, "not found")                                                                           \
  XX(UNSUPPORTED, -5006, "not supported")                                                                    \
  XX(CONFIG, -5007, "invalid configuration")                                                                 \
  XX(CLOSED, -5008, "closed by peer")                                                                        \
  XX(STATE, -5009, "operation not valid in this state")                                                      \
  XX(NODATA, -5010, "no media received")                                                                     \
  XX(REDIRECT, -5011, "redirected")                                                                          \
  XX(DB, -5012, "database error")

/* errno-backed codes used across the code base */
#define VG_ERRNO_ERRORS(XX)                                                                                  \
  XX(NOMEM, ENOMEM)                                                                                          \
  XX(INVAL, EINVAL)                                                                                          \
  XX(IO, EIO)                                                                                                \
  XX(TIMEDOUT, ETIMEDOUT)                                                                                    \
  XX(CONNREFUSED, ECONNREFUSED)                                                                              \
  XX(CONNRESET, ECONNRESET)                                                                                  \
  XX(NOSPC, ENOSPC)                                                                                          \
  XX(EXIST, EEXIST)                                                                                          \
  XX(NOENT, ENOENT)                                                                                          \
  XX(BUSY, EBUSY)                                                                                            \
  XX(AGAIN, EAGAIN)                                                                                          \
  XX(CANCELED, ECANCELED)                                                                                    \
  XX(RANGE, ERANGE)

enum {
  VG_OK = 0,
#define VG__OWN(name, value, msg) VG_E##name = (value),
  VG_OWN_ERRORS(VG__OWN)
#undef VG__OWN
#define VG__ERRNO(name, e) VG_E##name = -(e),
      VG_ERRNO_ERRORS(VG__ERRNO)
#undef VG__ERRNO
};

/* A human-readable message for any code (never NULL). */
const char *vg_strerror(int err);
/* The symbolic name, e.g. "VG_EPROTO" or "ETIMEDOUT" (never NULL). */
const char *vg_err_name(int err);
/* -errno of the calling thread, or VG_EIO if errno is 0. */
int vg_err_from_errno(void);

#endif
