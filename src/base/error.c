#include "base/error.h"

#include <string.h>
#include <uv.h>

const char *vg_strerror(int err) {
  switch (err) {
  case 0: return "success";
#define VG__OWN(name, value, msg)                                                                            \
  case value: return msg;
    VG_OWN_ERRORS(VG__OWN)
#undef VG__OWN
  default: break;
  }
  /* libuv maps errno on Unix and adds its own codes (EOF, getaddrinfo). */
  return uv_strerror(err);
}

const char *vg_err_name(int err) {
  switch (err) {
  case 0: return "OK";
#define VG__OWN(name, value, msg)                                                                            \
  case value: return "VG_E" #name;
    VG_OWN_ERRORS(VG__OWN)
#undef VG__OWN
  default: break;
  }
  return uv_err_name(err);
}

int vg_err_from_errno(void) { return errno ? -errno : VG_EIO; }
