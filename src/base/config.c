#include "base/config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"

static void join_path(const vg_cfg_t *c, const char *key, char *out, size_t size) {
  if (!key || !*key)
    snprintf(out, size, "%s", c->path[0] ? c->path : "(root)");
  else if (c->path[0])
    snprintf(out, size, "%s.%s", c->path, key);
  else
    snprintf(out, size, "%s", key);
}

int vg_cfg_fail(vg_cfg_t *c, const char *key, const char *fmt, ...) {
  if (!c->failed) {
    c->failed = 1;
    join_path(c, key, c->err_path, sizeof(c->err_path));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err_reason, sizeof(c->err_reason), fmt, ap);
    va_end(ap);
  }
  return VG_ECONFIG;
}

int vg_cfg_load_file(vg_cfg_t *c, const char *file, json_t **root) {
  json_error_t e;
  *root = json_load_file(file, JSON_REJECT_DUPLICATES, &e);
  if (*root) return 0;
  if (!c->failed) {
    c->failed = 1;
    if (e.line > 0)
      snprintf(c->err_path, sizeof(c->err_path), "%s:%d:%d", file, e.line, e.column);
    else
      snprintf(c->err_path, sizeof(c->err_path), "%s", file);
    snprintf(c->err_reason, sizeof(c->err_reason), "%s", e.text);
  }
  return VG_ECONFIG;
}

int vg_cfg_load_string(vg_cfg_t *c, const char *text, json_t **root) {
  json_error_t e;
  *root = json_loads(text, JSON_REJECT_DUPLICATES, &e);
  if (*root) return 0;
  if (!c->failed) {
    c->failed = 1;
    snprintf(c->err_path, sizeof(c->err_path), "line %d, column %d", e.line, e.column);
    snprintf(c->err_reason, sizeof(c->err_reason), "%s", e.text);
  }
  return VG_ECONFIG;
}

void vg_cfg_enter(vg_cfg_t *c, const char *key) {
  char p[sizeof(c->path)];
  join_path(c, key, p, sizeof(p));
  memcpy(c->path, p, sizeof(p));
}

void vg_cfg_enter_index(vg_cfg_t *c, size_t index) {
  size_t n = strlen(c->path);
  snprintf(c->path + n, sizeof(c->path) - n, "[%zu]", index);
}

void vg_cfg_leave(vg_cfg_t *c) {
  char *dot = strrchr(c->path, '.');
  char *br = strrchr(c->path, '[');
  char *cut = dot > br ? dot : br;
  if (cut)
    *cut = '\0';
  else
    c->path[0] = '\0';
}

int vg_cfg_check_keys(vg_cfg_t *c, json_t *obj, const char *const *allowed) {
  const char *key;
  json_t *v;
  if (!obj) return 0;
  json_object_foreach(obj, key, v) {
    int ok = 0;
    for (const char *const *a = allowed; *a; a++)
      if (strcmp(*a, key) == 0) ok = 1;
    if (!ok) return vg_cfg_fail(c, key, "unknown field");
  }
  return 0;
}

static json_t *lookup(json_t *obj, const char *key) { return obj ? json_object_get(obj, key) : NULL; }

int vg_cfg_str(vg_cfg_t *c, json_t *obj, const char *key, const char *def, char *out, size_t out_size) {
  json_t *v = lookup(obj, key);
  const char *s = def;
  if (!v) {
    if (!def) return vg_cfg_fail(c, key, "required field is missing");
  } else if (!json_is_string(v)) {
    return vg_cfg_fail(c, key, "must be a string");
  } else {
    s = json_string_value(v);
  }
  if (strlen(s) >= out_size) return vg_cfg_fail(c, key, "longer than %zu characters", out_size - 1);
  memcpy(out, s, strlen(s) + 1);
  return 0;
}

int vg_cfg_int(vg_cfg_t *c, json_t *obj, const char *key, long long def, long long min, long long max,
               long long *out) {
  json_t *v = lookup(obj, key);
  if (!v) {
    *out = def;
    return 0;
  }
  if (!json_is_integer(v)) return vg_cfg_fail(c, key, "must be an integer");
  long long x = json_integer_value(v);
  if (x < min || x > max) return vg_cfg_fail(c, key, "must be between %lld and %lld (got %lld)", min, max, x);
  *out = x;
  return 0;
}

int vg_cfg_bool(vg_cfg_t *c, json_t *obj, const char *key, bool def, bool *out) {
  json_t *v = lookup(obj, key);
  if (!v) {
    *out = def;
    return 0;
  }
  if (!json_is_boolean(v)) return vg_cfg_fail(c, key, "must be true or false");
  *out = json_is_true(v);
  return 0;
}

int vg_cfg_enum(vg_cfg_t *c, json_t *obj, const char *key, const char *const *names, int def, int *out) {
  json_t *v = lookup(obj, key);
  if (!v) {
    *out = def;
    return 0;
  }
  if (json_is_string(v)) {
    for (int i = 0; names[i]; i++) {
      if (strcmp(names[i], json_string_value(v)) == 0) {
        *out = i;
        return 0;
      }
    }
  }
  char list[200] = "";
  for (int i = 0; names[i]; i++) {
    size_t n = strlen(list);
    snprintf(list + n, sizeof(list) - n, "%s\"%s\"", i ? ", " : "", names[i]);
  }
  return vg_cfg_fail(c, key, "must be one of %s", list);
}

static json_t *typed(vg_cfg_t *c, json_t *obj, const char *key, int required, int want_object) {
  json_t *v = lookup(obj, key);
  if (!v) {
    if (required) vg_cfg_fail(c, key, "required field is missing");
    return NULL;
  }
  if (want_object ? !json_is_object(v) : !json_is_array(v)) {
    vg_cfg_fail(c, key, want_object ? "must be an object" : "must be an array");
    return NULL;
  }
  return v;
}

json_t *vg_cfg_object(vg_cfg_t *c, json_t *obj, const char *key, int required) {
  return typed(c, obj, key, required, 1);
}

json_t *vg_cfg_array(vg_cfg_t *c, json_t *obj, const char *key, int required) {
  return typed(c, obj, key, required, 0);
}
