#include "sim/scene.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "infer/detect.h"

#define MAX_SPRITES 16
#define MAX_WAYPOINTS 64
#define MAX_WIRES 16
#define MAX_ZONES 16
#define MAX_POLY 32
#define MAX_ID 64
#define MAX_SCENE_BYTES (1 << 20)

static const vg_log_ctx_t lg = {"camsim", NULL};

typedef struct {
  float t, x, y;
} waypoint_t;

typedef struct {
  char id[MAX_ID];
  int w, h;       /* rendered size in scene pixels */
  uint8_t *rgb;   /* w * h * 3 */
  uint8_t *alpha; /* w * h */
  waypoint_t wp[MAX_WAYPOINTS];
  int n_wp;
} sprite_t;

typedef struct {
  char id[MAX_ID];
  float ax, ay, bx, by; /* normalized */
} wire_t;

typedef struct {
  char id[MAX_ID];
  int n;
  float x[MAX_POLY], y[MAX_POLY]; /* normalized */
} zone_t;

struct vg_scene {
  int width, height, fps, gop, frames;
  uint8_t *background; /* width * height * 3 RGB */
  sprite_t sprites[MAX_SPRITES];
  int n_sprites;
  wire_t wires[MAX_WIRES];
  int n_wires;
  zone_t zones[MAX_ZONES];
  int n_zones;
};

/* ---- parsing helpers ------------------------------------------------------ */

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return VG_EINVAL;
}

static int get_num(json_t *obj, const char *key, double def, double min, double max, double *out) {
  json_t *v = json_object_get(obj, key);
  if (!v) {
    *out = def;
    return 0;
  }
  if (!json_is_number(v)) return VG_EINVAL;
  double d = json_number_value(v);
  if (!(d >= min && d <= max)) return VG_EINVAL;
  *out = d;
  return 0;
}

static int get_id(json_t *obj, char *out) {
  json_t *v = json_object_get(obj, "id");
  if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= MAX_ID) return VG_EINVAL;
  strcpy(out, json_string_value(v));
  return 0;
}

/* [x, y] with both in -1..2 (sprites may start and end off screen). */
static int get_point(json_t *v, float *x, float *y) {
  if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_number(json_array_get(v, 0)) ||
      !json_is_number(json_array_get(v, 1)))
    return VG_EINVAL;
  double a = json_number_value(json_array_get(v, 0)), b = json_number_value(json_array_get(v, 1));
  if (!(a >= -1 && a <= 2 && b >= -1 && b <= 2)) return VG_EINVAL;
  *x = (float)a;
  *y = (float)b;
  return 0;
}

/* An image path: absolute, relative to the scene file, or a bare name in
 * the sample data directory. */
static void resolve(const char *name, const char *base_dir, char *out, size_t size) {
  if (name[0] == '/') {
    snprintf(out, size, "%s", name);
    return;
  }
  if (base_dir) {
    snprintf(out, size, "%s/%s", base_dir, name);
    if (access(out, R_OK) == 0) return;
  }
  snprintf(out, size, "%s/%s", VG_SCENE_DATA_DIR, name);
}

/* Bilinear scaling of the crop (cx, cy, cw, ch) of src into dst (dw x dh, RGB). */
static void scale_rgb(const vg_image_t *src, int cx, int cy, int cw, int ch, uint8_t *dst, int dw, int dh) {
  for (int y = 0; y < dh; y++) {
    float fy = ((float)y + 0.5f) * (float)ch / (float)dh - 0.5f;
    int y0 = (int)floorf(fy);
    float wy = fy - (float)y0;
    int ya = y0 < 0 ? 0 : y0, yb = y0 + 1 >= ch ? ch - 1 : y0 + 1;
    if (ya >= ch) ya = ch - 1;
    for (int x = 0; x < dw; x++) {
      float fx = ((float)x + 0.5f) * (float)cw / (float)dw - 0.5f;
      int x0 = (int)floorf(fx);
      float wx = fx - (float)x0;
      int xa = x0 < 0 ? 0 : x0, xb = x0 + 1 >= cw ? cw - 1 : x0 + 1;
      if (xa >= cw) xa = cw - 1;
      const uint8_t *p00 = src->rgb + (size_t)(cy + ya) * (size_t)src->stride + (size_t)(cx + xa) * 3;
      const uint8_t *p01 = src->rgb + (size_t)(cy + ya) * (size_t)src->stride + (size_t)(cx + xb) * 3;
      const uint8_t *p10 = src->rgb + (size_t)(cy + yb) * (size_t)src->stride + (size_t)(cx + xa) * 3;
      const uint8_t *p11 = src->rgb + (size_t)(cy + yb) * (size_t)src->stride + (size_t)(cx + xb) * 3;
      for (int c = 0; c < 3; c++) {
        float v = (1 - wy) * ((1 - wx) * p00[c] + wx * p01[c]) + wy * ((1 - wx) * p10[c] + wx * p11[c]);
        dst[((size_t)y * (size_t)dw + (size_t)x) * 3 + (size_t)c] = (uint8_t)(v + 0.5f);
      }
    }
  }
}

/* Loads "image" (+ "frame") of obj and checks its optional "crop". */
static int load_picture(json_t *obj, const char *base_dir, vg_image_t *img, int crop[4], char *err,
                        size_t errlen) {
  json_t *name = json_object_get(obj, "image");
  if (!json_is_string(name) || json_string_length(name) == 0 || json_string_length(name) >= PATH_MAX / 2)
    return fail(err, errlen, "\"image\" must name an image file");
  double frame;
  if (get_num(obj, "frame", 0, 0, 100000, &frame)) return fail(err, errlen, "\"frame\" must be 0..100000");
  char path[PATH_MAX];
  resolve(json_string_value(name), base_dir, path, sizeof(path));
  int ret = vg_image_load(img, path, (int)frame);
  if (ret) {
    fail(err, errlen, "cannot read %s: %s", path, vg_strerror(ret));
    return ret == VG_ENOENT ? VG_ENOENT : VG_EINVAL;
  }
  crop[0] = crop[1] = 0;
  crop[2] = img->width;
  crop[3] = img->height;
  json_t *c = json_object_get(obj, "crop");
  if (c) {
    if (!json_is_array(c) || json_array_size(c) != 4) {
      vg_image_free(img);
      return fail(err, errlen, "\"crop\" must be [x, y, w, h]");
    }
    for (int i = 0; i < 4; i++) {
      json_t *v = json_array_get(c, (size_t)i);
      crop[i] = json_is_integer(v) ? (int)json_integer_value(v) : -1;
      if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100000) crop[i] = -1;
    }
    if (crop[0] < 0 || crop[1] < 0 || crop[2] < 2 || crop[3] < 2 || crop[0] + crop[2] > img->width ||
        crop[1] + crop[3] > img->height) {
      vg_image_free(img);
      return fail(err, errlen, "\"crop\" lies outside the %dx%d image", img->width, img->height);
    }
  }
  return 0;
}

static int parse_color(json_t *color, int rgb[3]) {
  if (!json_is_array(color) || json_array_size(color) != 3) return VG_EINVAL;
  for (int i = 0; i < 3; i++) {
    json_t *v = json_array_get(color, (size_t)i);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 255) return VG_EINVAL;
    rgb[i] = (int)json_integer_value(v);
  }
  return 0;
}

static int parse_background(vg_scene_t *s, json_t *bg, const char *base_dir, char *err, size_t errlen) {
  size_t n = (size_t)s->width * (size_t)s->height * 3;
  if (!(s->background = malloc(n))) return VG_ENOMEM;
  json_t *color = json_object_get(bg, "color");
  if (!bg || color) {
    int rgb[3] = {96, 110, 96};
    if (color && parse_color(color, rgb)) return fail(err, errlen, "\"color\" must be [r, g, b], 0..255");
    for (size_t i = 0; i < n; i++)
      s->background[i] = (uint8_t)rgb[i % 3];
    return 0;
  }
  if (!json_is_object(bg)) return fail(err, errlen, "\"background\" must be an object");
  vg_image_t img;
  int crop[4];
  int ret = load_picture(bg, base_dir, &img, crop, err, errlen);
  if (ret) return ret;
  scale_rgb(&img, crop[0], crop[1], crop[2], crop[3], s->background, s->width, s->height);
  vg_image_free(&img);
  return 0;
}

static void make_alpha(sprite_t *sp, int ellipse) {
  for (int y = 0; y < sp->h; y++)
    for (int x = 0; x < sp->w; x++) {
      float a = 1;
      if (ellipse) {
        /* A soft edge two pixels wide keeps the cut-out from flickering
         * as it moves by fractions of a pixel. */
        float dx = ((float)x + 0.5f - (float)sp->w / 2) / ((float)sp->w / 2);
        float dy = ((float)y + 0.5f - (float)sp->h / 2) / ((float)sp->h / 2);
        float r = sqrtf(dx * dx + dy * dy);
        float edge = 2.0f / (float)(sp->w < sp->h ? sp->w : sp->h) * 2;
        a = r <= 1 - edge ? 1 : r >= 1 ? 0 : (1 - r) / edge;
      }
      sp->alpha[(size_t)y * (size_t)sp->w + (size_t)x] = (uint8_t)(a * 255 + 0.5f);
    }
}

/* A plain shape of one colour ("color" instead of "image"): for scenes
 * that test motion and tracking geometry rather than the detector. */
static int solid_sprite(vg_scene_t *s, sprite_t *sp, json_t *color, double height, json_t *o, char *err,
                        size_t errlen) {
  int rgb[3];
  double aspect;
  if (parse_color(color, rgb))
    return fail(err, errlen, "sprite %s: \"color\" must be [r, g, b], 0..255", sp->id);
  if (get_num(o, "aspect", 0.4, 0.05, 20, &aspect))
    return fail(err, errlen, "sprite %s: \"aspect\" (width / height) must be 0.05..20", sp->id);
  sp->h = (int)height;
  sp->w = (int)lround(height * aspect);
  if (sp->w < 2) sp->w = 2;
  if (sp->w > s->width * 2) sp->w = s->width * 2;
  sp->rgb = malloc((size_t)sp->w * (size_t)sp->h * 3);
  sp->alpha = malloc((size_t)sp->w * (size_t)sp->h);
  if (!sp->rgb || !sp->alpha) return VG_ENOMEM;
  for (size_t i = 0, n = (size_t)sp->w * (size_t)sp->h; i < n; i++)
    for (int c = 0; c < 3; c++)
      sp->rgb[i * 3 + (size_t)c] = (uint8_t)rgb[c];
  json_t *mask = json_object_get(o, "mask");
  make_alpha(sp, !mask || (json_is_string(mask) && strcmp(json_string_value(mask), "ellipse") == 0));
  return 0;
}

static int parse_sprite(vg_scene_t *s, json_t *o, const char *base_dir, sprite_t *sp, char *err,
                        size_t errlen) {
  if (!json_is_object(o) || get_id(o, sp->id))
    return fail(err, errlen, "a sprite needs an \"id\" (1..63 bytes)");
  double height;
  if (get_num(o, "height", s->height / 3, 4, s->height * 2, &height))
    return fail(err, errlen, "sprite %s: \"height\" must be 4..%d pixels", sp->id, s->height * 2);
  json_t *path = json_object_get(o, "path");
  size_t n = json_is_array(path) ? json_array_size(path) : 0;
  if (n < 2 || n > MAX_WAYPOINTS)
    return fail(err, errlen, "sprite %s: \"path\" must list 2..%d waypoints", sp->id, MAX_WAYPOINTS);
  for (size_t i = 0; i < n; i++) {
    json_t *w = json_array_get(path, i);
    double t, x, y;
    if (!json_is_object(w) || get_num(w, "t", -1, 0, 3600, &t) || t < 0 || get_num(w, "x", 0, -1, 2, &x) ||
        get_num(w, "y", 0, -1, 2, &y))
      return fail(err, errlen, "sprite %s: waypoint %zu needs t (s), x and y (normalized)", sp->id, i);
    if (i && t <= sp->wp[i - 1].t)
      return fail(err, errlen, "sprite %s: waypoint times must increase", sp->id);
    sp->wp[i] = (waypoint_t){(float)t, (float)x, (float)y};
  }
  sp->n_wp = (int)n;
  json_t *mask = json_object_get(o, "mask");
  const char *m = json_is_string(mask) ? json_string_value(mask) : mask ? "?" : "ellipse";
  if (strcmp(m, "rect") != 0 && strcmp(m, "ellipse") != 0)
    return fail(err, errlen, "sprite %s: \"mask\" must be rect or ellipse", sp->id);
  json_t *color = json_object_get(o, "color");
  if (color) return solid_sprite(s, sp, color, height, o, err, errlen);
  vg_image_t img;
  int crop[4];
  int ret = load_picture(o, base_dir, &img, crop, err, errlen);
  if (ret) return ret;
  sp->h = (int)height;
  sp->w = (int)lround(height * crop[2] / crop[3]);
  if (sp->w < 2) sp->w = 2;
  if (sp->w > s->width * 2) sp->w = s->width * 2;
  sp->rgb = malloc((size_t)sp->w * (size_t)sp->h * 3);
  sp->alpha = malloc((size_t)sp->w * (size_t)sp->h);
  if (!sp->rgb || !sp->alpha) {
    vg_image_free(&img);
    return VG_ENOMEM;
  }
  scale_rgb(&img, crop[0], crop[1], crop[2], crop[3], sp->rgb, sp->w, sp->h);
  vg_image_free(&img);
  make_alpha(sp, strcmp(m, "ellipse") == 0);
  return 0;
}

static int parse_sensors(vg_scene_t *s, json_t *root, char *err, size_t errlen) {
  json_t *wires = json_object_get(root, "tripwires"), *zones = json_object_get(root, "zones");
  if ((wires && !json_is_array(wires)) || json_array_size(wires) > MAX_WIRES)
    return fail(err, errlen, "\"tripwires\" must be an array of at most %d", MAX_WIRES);
  if ((zones && !json_is_array(zones)) || json_array_size(zones) > MAX_ZONES)
    return fail(err, errlen, "\"zones\" must be an array of at most %d", MAX_ZONES);
  for (size_t i = 0; i < json_array_size(wires); i++) {
    json_t *o = json_array_get(wires, i);
    wire_t *w = &s->wires[s->n_wires++];
    if (!json_is_object(o) || get_id(o, w->id) || get_point(json_object_get(o, "a"), &w->ax, &w->ay) ||
        get_point(json_object_get(o, "b"), &w->bx, &w->by))
      return fail(err, errlen, "tripwire %zu needs \"id\", \"a\": [x, y] and \"b\": [x, y]", i);
  }
  for (size_t i = 0; i < json_array_size(zones); i++) {
    json_t *o = json_array_get(zones, i);
    zone_t *z = &s->zones[s->n_zones++];
    json_t *poly = json_is_object(o) ? json_object_get(o, "polygon") : NULL;
    size_t n = json_is_array(poly) ? json_array_size(poly) : 0;
    if (get_id(o, z->id) || n < 3 || n > MAX_POLY)
      return fail(err, errlen, "zone %zu needs \"id\" and a \"polygon\" of 3..%d points", i, MAX_POLY);
    for (size_t k = 0; k < n; k++)
      if (get_point(json_array_get(poly, k), &z->x[k], &z->y[k]))
        return fail(err, errlen, "zone %s: point %zu must be [x, y]", z->id, k);
    z->n = (int)n;
  }
  return 0;
}

int vg_scene_parse(const char *text, const char *base_dir, vg_scene_t **out, char *err, size_t errlen) {
  *out = NULL;
  json_error_t je;
  json_t *root = json_loads(text, 0, &je);
  if (!root) return fail(err, errlen, "line %d: %s", je.line, je.text);
  vg_scene_t *s = calloc(1, sizeof(*s));
  int ret = VG_ENOMEM;
  if (!s) goto out;
  double w, h, fps, gop, dur;
  ret = VG_EINVAL;
  if (!json_is_object(root)) {
    fail(err, errlen, "a scene is a JSON object");
    goto out;
  }
  if (get_num(root, "width", 640, 16, 1920, &w) || get_num(root, "height", 360, 16, 1080, &h) ||
      ((int)w | (int)h) & 1) {
    fail(err, errlen, "\"width\" and \"height\" must be even, 16..1920 x 16..1080");
    goto out;
  }
  if (get_num(root, "fps", 10, 1, 60, &fps) || get_num(root, "gop", fps, 1, 600, &gop) ||
      get_num(root, "duration_s", 10, 0.1, 120, &dur)) {
    fail(err, errlen, "\"fps\" must be 1..60, \"gop\" 1..600, \"duration_s\" 0.1..120");
    goto out;
  }
  s->width = (int)w;
  s->height = (int)h;
  s->fps = (int)fps;
  s->gop = (int)gop;
  /* Whole GOPs, as the clip encoder keeps them. */
  s->frames = (int)ceil(dur * s->fps - 1e-9);
  s->frames = (s->frames + s->gop - 1) / s->gop * s->gop;
  if ((ret = parse_background(s, json_object_get(root, "background"), base_dir, err, errlen))) goto out;
  json_t *sprites = json_object_get(root, "sprites");
  if ((sprites && !json_is_array(sprites)) || json_array_size(sprites) > MAX_SPRITES) {
    ret = fail(err, errlen, "\"sprites\" must be an array of at most %d", MAX_SPRITES);
    goto out;
  }
  for (size_t i = 0; i < json_array_size(sprites); i++)
    if ((ret =
             parse_sprite(s, json_array_get(sprites, i), base_dir, &s->sprites[s->n_sprites++], err, errlen)))
      goto out;
  ret = parse_sensors(s, root, err, errlen);
out:
  json_decref(root);
  if (ret)
    vg_scene_free(&s);
  else
    *out = s;
  return ret;
}

int vg_scene_load(const char *path, vg_scene_t **out, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = vg_err_from_errno();
    fail(err, errlen, "%s: %s", path, vg_strerror(e));
    return e;
  }
  char *text = malloc(MAX_SCENE_BYTES + 1);
  size_t n = text ? fread(text, 1, MAX_SCENE_BYTES + 1, f) : 0;
  fclose(f);
  if (!text) return VG_ENOMEM;
  if (n > MAX_SCENE_BYTES) {
    free(text);
    return fail(err, errlen, "%s: larger than %d bytes", path, MAX_SCENE_BYTES);
  }
  text[n] = 0;
  char dir[PATH_MAX];
  snprintf(dir, sizeof(dir), "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = 0;
  else
    strcpy(dir, ".");
  int ret = vg_scene_parse(text, dir, out, err, errlen);
  free(text);
  return ret;
}

void vg_scene_free(vg_scene_t **sp) {
  vg_scene_t *s = *sp;
  if (!s) return;
  *sp = NULL;
  for (int i = 0; i < s->n_sprites; i++) {
    free(s->sprites[i].rgb);
    free(s->sprites[i].alpha);
  }
  free(s->background);
  free(s);
}

void vg_scene_clip_params(const vg_scene_t *s, vg_clip_params_t *p) {
  p->width = s->width;
  p->height = s->height;
  p->fps = s->fps;
  p->gop = s->gop;
  p->duration_s = (double)s->frames / s->fps;
}

int vg_scene_frame_count(const vg_scene_t *s) { return s->frames; }

/* ---- rendering -------------------------------------------------------------- */

/* The sprite's foot point (normalized) at time t; false while it is off stage
 * (before its first waypoint or after its last). */
static bool sprite_at(const sprite_t *sp, double t, float *x, float *y) {
  if (t < sp->wp[0].t || t > sp->wp[sp->n_wp - 1].t) return false;
  int i = 1;
  while (i < sp->n_wp - 1 && t > sp->wp[i].t)
    i++;
  const waypoint_t *a = &sp->wp[i - 1], *b = &sp->wp[i];
  float f = (float)((t - a->t) / (b->t - a->t));
  *x = a->x + (b->x - a->x) * f;
  *y = a->y + (b->y - a->y) * f;
  return true;
}

static void draw_sprite(const vg_scene_t *s, const sprite_t *sp, float fx, float fy, uint8_t *rgb) {
  int left = (int)lroundf(fx * (float)s->width - (float)sp->w / 2);
  int top = (int)lroundf(fy * (float)s->height) - sp->h;
  for (int y = 0; y < sp->h; y++) {
    int dy = top + y;
    if (dy < 0 || dy >= s->height) continue;
    for (int x = 0; x < sp->w; x++) {
      int dx = left + x;
      if (dx < 0 || dx >= s->width) continue;
      int a = sp->alpha[(size_t)y * (size_t)sp->w + (size_t)x];
      uint8_t *d = rgb + ((size_t)dy * (size_t)s->width + (size_t)dx) * 3;
      const uint8_t *p = sp->rgb + ((size_t)y * (size_t)sp->w + (size_t)x) * 3;
      for (int c = 0; c < 3; c++)
        d[c] = (uint8_t)((p[c] * a + d[c] * (255 - a) + 127) / 255);
    }
  }
}

void vg_scene_render(const vg_scene_t *s, int index, uint8_t *const planes[3], const int strides[3]) {
  size_t n = (size_t)s->width * (size_t)s->height * 3;
  uint8_t *rgb = malloc(n);
  if (!rgb) return;
  memcpy(rgb, s->background, n);
  double t = (double)index / s->fps;
  for (int i = 0; i < s->n_sprites; i++) {
    float x, y;
    if (sprite_at(&s->sprites[i], t, &x, &y)) draw_sprite(s, &s->sprites[i], x, y, rgb);
  }
  /* BT.601 limited range, what encoders assume for yuv420p. */
  for (int y = 0; y < s->height; y++)
    for (int x = 0; x < s->width; x++) {
      const uint8_t *p = rgb + ((size_t)y * (size_t)s->width + (size_t)x) * 3;
      planes[0][(size_t)y * (size_t)strides[0] + (size_t)x] =
          (uint8_t)(16 + ((66 * p[0] + 129 * p[1] + 25 * p[2] + 128) >> 8));
    }
  for (int y = 0; y < s->height / 2; y++)
    for (int x = 0; x < s->width / 2; x++) {
      int r = 0, g = 0, b = 0;
      for (int k = 0; k < 4; k++) {
        const uint8_t *p = rgb + ((size_t)(2 * y + k / 2) * (size_t)s->width + (size_t)(2 * x + k % 2)) * 3;
        r += p[0], g += p[1], b += p[2];
      }
      r /= 4, g /= 4, b /= 4;
      planes[1][(size_t)y * (size_t)strides[1] + (size_t)x] =
          (uint8_t)(128 + ((-38 * r - 74 * g + 112 * b + 128) >> 8));
      planes[2][(size_t)y * (size_t)strides[2] + (size_t)x] =
          (uint8_t)(128 + ((112 * r - 94 * g - 18 * b + 128) >> 8));
    }
  free(rgb);
}

int vg_scene_encode(const vg_scene_t *s, const vg_clip_params_t *p, vg_clip_t **out) {
  char path[] = "/tmp/vigil-scene-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return vg_err_from_errno();
  FILE *f = fdopen(fd, "wb");
  if (!f) {
    close(fd);
    unlink(path);
    return VG_ENOMEM;
  }
  int w = s->width, h = s->height;
  size_t ysize = (size_t)w * (size_t)h, csize = ysize / 4;
  uint8_t *buf = malloc(ysize + 2 * csize);
  int ret = buf ? 0 : VG_ENOMEM;
  if (!ret) {
    fprintf(f, "YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 C420jpeg\n", w, h, s->fps);
    uint8_t *const planes[3] = {buf, buf + ysize, buf + ysize + csize};
    const int strides[3] = {w, w / 2, w / 2};
    for (int i = 0; i < s->frames && !ret; i++) {
      vg_scene_render(s, i, planes, strides);
      if (fputs("FRAME\n", f) < 0 || fwrite(buf, 1, ysize + 2 * csize, f) != ysize + 2 * csize) ret = VG_EIO;
    }
  }
  free(buf);
  if (fclose(f) != 0 && !ret) ret = VG_EIO;
  if (!ret) {
    vg_clip_params_t cp = *p;
    vg_scene_clip_params(s, &cp);
    cp.source = path;
    cp.cache_dir = NULL;
    cp.audio = VG_CODEC_NONE;
    ret = vg_clip_encode(&cp, out);
  }
  unlink(path);
  if (ret) vg_log_error(&lg, "cannot render the scene: %s", vg_strerror(ret));
  return ret;
}

/* ---- ground truth ------------------------------------------------------------ */

static float side(const wire_t *w, float x, float y) {
  return (w->bx - w->ax) * (y - w->ay) - (w->by - w->ay) * (x - w->ax);
}

static bool segments_cross(float p1x, float p1y, float p2x, float p2y, const wire_t *w) {
  float d1 = side(w, p1x, p1y), d2 = side(w, p2x, p2y);
  wire_t path = {.ax = p1x, .ay = p1y, .bx = p2x, .by = p2y};
  float d3 = side(&path, w->ax, w->ay), d4 = side(&path, w->bx, w->by);
  return ((d1 < 0) != (d2 < 0)) && ((d3 < 0) != (d4 < 0));
}

static bool zone_contains(const zone_t *z, float x, float y) {
  bool in = false;
  for (int i = 0, j = z->n - 1; i < z->n; j = i++)
    if ((z->y[i] > y) != (z->y[j] > y) &&
        x < (z->x[j] - z->x[i]) * (y - z->y[i]) / (z->y[j] - z->y[i]) + z->x[i])
      in = !in;
  return in;
}

static int event_cmp(const void *a, const void *b) {
  double ta = json_real_value(json_object_get(*(json_t *const *)a, "t"));
  double tb = json_real_value(json_object_get(*(json_t *const *)b, "t"));
  return ta < tb ? -1 : ta > tb;
}

/* Events of one sprite, frame by frame as the camera sees it. */
static void sprite_events(const vg_scene_t *s, const sprite_t *sp, json_t *events) {
  float px = 0, py = 0;
  bool was_visible = false;
  bool inside[MAX_ZONES] = {0};
  for (int i = 0; i <= s->frames; i++) {
    double t = (double)i / s->fps;
    float x, y;
    bool visible = i < s->frames && sprite_at(sp, t, &x, &y);
    for (int z = 0; z < s->n_zones; z++) {
      bool in = visible && zone_contains(&s->zones[z], x, y);
      if (in != inside[z])
        json_array_append_new(events, json_pack("{sssssssf}", "kind", in ? "enter" : "exit", "sensor",
                                                s->zones[z].id, "sprite", sp->id, "t", t));
      inside[z] = in;
    }
    if (visible && was_visible)
      for (int k = 0; k < s->n_wires; k++) {
        const wire_t *w = &s->wires[k];
        if (!segments_cross(px, py, x, y, w)) continue;
        float d0 = side(w, px, py), d1 = side(w, x, y);
        /* Positive is the right of A->B on screen (y down): a_to_b. */
        double tc = t - 1.0 / s->fps + (double)(d0 / (d0 - d1)) / s->fps;
        json_array_append_new(events,
                              json_pack("{sssssssssf}", "kind", "line_cross", "sensor", w->id, "direction",
                                        d0 < 0 ? "a_to_b" : "b_to_a", "sprite", sp->id, "t", tc));
      }
    was_visible = visible;
    if (visible) px = x, py = y;
  }
}

json_t *vg_scene_ground_truth(const vg_scene_t *s) {
  json_t *events = json_array();
  for (int i = 0; i < s->n_sprites; i++)
    sprite_events(s, &s->sprites[i], events);
  /* Time order across sprites. */
  size_t n = json_array_size(events);
  json_t **items = calloc(n ? n : 1, sizeof(*items));
  if (!items) {
    json_decref(events);
    return NULL;
  }
  for (size_t i = 0; i < n; i++)
    items[i] = json_incref(json_array_get(events, i));
  qsort(items, n, sizeof(*items), event_cmp);
  json_array_clear(events);
  for (size_t i = 0; i < n; i++)
    json_array_append_new(events, items[i]);
  free(items);
  json_t *wires = json_array(), *zones = json_array();
  for (int k = 0; k < s->n_wires; k++)
    json_array_append_new(wires, json_pack("{sss[ff]s[ff]}", "id", s->wires[k].id, "a", s->wires[k].ax,
                                           s->wires[k].ay, "b", s->wires[k].bx, s->wires[k].by));
  for (int z = 0; z < s->n_zones; z++) {
    json_t *poly = json_array();
    for (int k = 0; k < s->zones[z].n; k++)
      json_array_append_new(poly, json_pack("[ff]", s->zones[z].x[k], s->zones[z].y[k]));
    json_array_append_new(zones, json_pack("{ssso}", "id", s->zones[z].id, "polygon", poly));
  }
  return json_pack("{sisisisfsososo}", "width", s->width, "height", s->height, "fps", s->fps, "period_s",
                   (double)s->frames / s->fps, "tripwires", wires, "zones", zones, "events", events);
}
