/*
 * config.h: reading JSON configuration with errors that name the field.
 *
 * A vg_cfg_t tracks where the reader is in the document ("cameras[2].url")
 * and keeps the first error: the field's path and the reason. Readers
 * return 0 or VG_ECONFIG; once one fails, later ones still run (so that code
 * can read a whole section without checking each call) but the first error
 * is what is reported:
 *
 *   vg_cfg_t c = {0};
 *   vg_cfg_enter(&c, "http");
 *   vg_cfg_int(&c, http, "port", 8080, 1, 65535, &port);
 *   vg_cfg_leave(&c);
 *   if (c.failed) fprintf(stderr, "%s: %s\n", c.err_path, c.err_reason);
 *
 * Unknown keys are errors (vg_cfg_check_keys), so a typo never silently
 * falls back to a default. Single-threaded: one reader per document.
 */
#ifndef VG_BASE_CONFIG_H
#define VG_BASE_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
  char path[256];
  int failed;
  char err_path[256];
  char err_reason[256];
} vg_cfg_t;

/* Loads and parses a JSON file. On a syntax error, err_path is "FILE:LINE:COL". */
int vg_cfg_load_file(vg_cfg_t *c, const char *file, json_t **root);
/* Parses a JSON text (e.g. from a test or an API body). */
int vg_cfg_load_string(vg_cfg_t *c, const char *text, json_t **root);

/* Records an error at path.key (key may be NULL: the current path). Returns VG_ECONFIG. */
int vg_cfg_fail(vg_cfg_t *c, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Descends into obj.key / array[index] for the paths of later errors. */
void vg_cfg_enter(vg_cfg_t *c, const char *key);
void vg_cfg_enter_index(vg_cfg_t *c, size_t index);
void vg_cfg_leave(vg_cfg_t *c);

/* Fails on any key of obj not in allowed (NULL-terminated). */
int vg_cfg_check_keys(vg_cfg_t *c, json_t *obj, const char *const *allowed);

/* Field readers. A missing key gives the default; def == NULL (for strings)
 * or required != 0 makes the key required. obj may be NULL (all defaults). */
int vg_cfg_str(vg_cfg_t *c, json_t *obj, const char *key, const char *def, char *out, size_t out_size);
int vg_cfg_int(vg_cfg_t *c, json_t *obj, const char *key, long long def, long long min, long long max,
               long long *out);
int vg_cfg_bool(vg_cfg_t *c, json_t *obj, const char *key, bool def, bool *out);
/* names is NULL-terminated; *out is the index of the matching name. */
int vg_cfg_enum(vg_cfg_t *c, json_t *obj, const char *key, const char *const *names, int def, int *out);
/* Returns the object/array at key (borrowed), NULL if absent (an error if
 * required) or of the wrong type (an error). */
json_t *vg_cfg_object(vg_cfg_t *c, json_t *obj, const char *key, int required);
json_t *vg_cfg_array(vg_cfg_t *c, json_t *obj, const char *key, int required);

#endif
