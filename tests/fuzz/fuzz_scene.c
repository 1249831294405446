/* Fuzzes camsim's scene parser with arbitrary JSON text, then computes the
 * ground truth and renders the first and a middle frame of what it
 * accepts. Inputs naming an "image" are skipped: those read files, which is
 * libavformat's business and would make the fuzzer wander the disk. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/scene.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536) return 0;
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  if (strstr(text, "image")) {
    free(text);
    return 0;
  }
  vg_scene_t *s = NULL;
  char err[256];
  if (vg_scene_parse(text, NULL, &s, err, sizeof(err)) == 0) {
    /* Keep each run short: small pictures only. */
    vg_clip_params_t p;
    vg_clip_params_defaults(&p);
    vg_scene_clip_params(s, &p);
    if ((size_t)p.width * (size_t)p.height <= 320 * 240 && vg_scene_frame_count(s) <= 600) {
      json_t *gt = vg_scene_ground_truth(s);
      json_decref(gt);
      size_t y = (size_t)p.width * (size_t)p.height;
      uint8_t *buf = malloc(y * 3 / 2);
      if (buf) {
        uint8_t *const planes[3] = {buf, buf + y, buf + y + y / 4};
        const int strides[3] = {p.width, p.width / 2, p.width / 2};
        vg_scene_render(s, 0, planes, strides);
        vg_scene_render(s, vg_scene_frame_count(s) / 2, planes, strides);
        free(buf);
      }
    }
    vg_scene_free(&s);
  }
  free(text);
  return 0;
}
