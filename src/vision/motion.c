/* motion.c: see motion.h. (Work in progress: the interface is final.) */
#include "vision/motion.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

struct vg_motion {
  vg_motion_config_t cfg;
};

void vg_motion_config_default(vg_motion_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->work_width = 256;
  cfg->threshold = 18;
  cfg->learn_rate = 0.04f;
  cfg->min_area = 0.0008f;
  cfg->merge_gap = 0.03f;
  cfg->region_pad = 0.15f;
  cfg->lighting_fraction = 0.55f;
  cfg->on_fraction = 0.002f;
  cfg->off_fraction = 0.001f;
  cfg->on_frames = 2;
  cfg->off_frames = 10;
}

int vg_motion_create(const vg_motion_config_t *cfg, vg_motion_t **out) {
  vg_motion_t *m = calloc(1, sizeof(*m));
  if (!m) return VG_ENOMEM;
  m->cfg = *cfg;
  *out = m;
  return 0;
}

void vg_motion_destroy(vg_motion_t **m) {
  if (!m || !*m) return;
  free(*m);
  *m = NULL;
}

void vg_motion_reset(vg_motion_t *m) { (void)m; }

int vg_motion_process(vg_motion_t *m, const uint8_t *luma, int width, int height, int stride,
                      vg_motion_result_t *out) {
  (void)m, (void)luma, (void)width, (void)height, (void)stride;
  memset(out, 0, sizeof(*out));
  return 0;
}

const uint8_t *vg_motion_mask(const vg_motion_t *m, int *w, int *h) {
  (void)m;
  *w = *h = 0;
  return NULL;
}
