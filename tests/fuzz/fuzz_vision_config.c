/* Fuzzes the analytics configuration parser with arbitrary JSON text. A
 * configuration the parser accepts must also be accepted by every module it
 * configures (the parser and the modules' own checks must agree), and the
 * sensors must then run a frame on it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vision/analytics_config.h"

static vg_analytics_config_t cfg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536) return 0;
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  vg_cfg_t c = {0};
  json_t *root = NULL;
  if (vg_cfg_load_string(&c, text, &root) == 0) {
    vg_cfg_enter(&c, "analytics");
    static const char *const extra[] = {"detect_fps", NULL};
    if (vg_analytics_config_parse(&c, root, extra, &cfg) == 0) {
      vg_sensors_t *s = NULL;
      vg_motion_t *m = NULL;
      vg_tracker_t *t = NULL;
      vg_tamper_t *tp = NULL;
      if (vg_sensors_create(&cfg.sensors, &s) != 0 || vg_motion_create(&cfg.motion, &m) != 0 ||
          vg_tracker_create(&cfg.tracker, &t) != 0 || vg_tamper_create(&cfg.tamper, &tp) != 0)
        abort();
      vg_vtrack_t tr;
      memset(&tr, 0, sizeof(tr));
      tr.id = 1;
      tr.box = (vg_box_t){100, 100, 140, 200};
      tr.confirmed = tr.matched = true;
      vg_trigger_t out[8];
      for (int f = 0; f < 3; f++) {
        tr.box.y1 += 20, tr.box.y2 += 20;
        if (vg_sensors_update(s, &tr, 1, 640, 360, 1795392000000000LL + f * 200000LL, out, 8) < 0) abort();
      }
      vg_sensors_destroy(&s);
      vg_motion_destroy(&m);
      vg_tracker_destroy(&t);
      vg_tamper_destroy(&tp);
    } else if (!c.failed || !c.err_path[0]) {
      abort(); /* an error must name its field */
    }
    json_decref(root);
  }
  free(text);
  return 0;
}
