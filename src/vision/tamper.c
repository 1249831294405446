/* tamper.c: see tamper.h. (Work in progress: the interface is final.) */
#include "vision/tamper.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

struct vg_tamper {
  vg_tamper_config_t cfg;
};

void vg_tamper_config_default(vg_tamper_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->enabled = true;
  cfg->work_width = 96;
  cfg->covered_stddev = 6;
  cfg->defocus_ratio = 0.3f;
  cfg->moved_threshold = 0.5f;
  cfg->learn_s = 60;
  cfg->warmup_s = 3;
  cfg->persist_s = 5;
  cfg->clear_s = 3;
  cfg->relearn_s = 0;
}

int vg_tamper_create(const vg_tamper_config_t *cfg, vg_tamper_t **out) {
  vg_tamper_t *t = calloc(1, sizeof(*t));
  if (!t) return VG_ENOMEM;
  t->cfg = *cfg;
  *out = t;
  return 0;
}

void vg_tamper_destroy(vg_tamper_t **t) {
  if (!t || !*t) return;
  free(*t);
  *t = NULL;
}

void vg_tamper_reset(vg_tamper_t *t) { (void)t; }

int vg_tamper_process(vg_tamper_t *t, const uint8_t *luma, int width, int height, int stride, int64_t ts_us,
                      vg_tamper_result_t *out) {
  (void)t, (void)luma, (void)width, (void)height, (void)stride, (void)ts_us;
  memset(out, 0, sizeof(*out));
  return 0;
}

const char *vg_tamper_kind_name(vg_tamper_kind_t kind) {
  switch (kind) {
  case VG_TAMPER_COVERED: return "covered";
  case VG_TAMPER_DEFOCUSED: return "defocused";
  case VG_TAMPER_MOVED: return "moved";
  default: return "?";
  }
}
