/*
 * config_store.h: the cameras created or changed through the API, kept in
 * the database (module "config", table config_cameras: one row per camera
 * with its JSON object, "analytics" included), so that they come back
 * after a restart. Cameras of the configuration file are never stored.
 *
 * Credentials: a URL that holds secrets (user:password@, an SRT
 * passphrase) is stored only sealed (base/secret.h, under the node key of
 * auth.secret_key_file): the row's "url" is the safe URL and "url_sealed"
 * the whole URL sealed; vg_config_store_foreach gives the whole URL back.
 * The key file is read the first time a secret is sealed or opened, so a
 * node without such cameras never needs one.
 *
 * Threads: any; calls are serialized by a lock (one database connection).
 */
#ifndef VG_API_CONFIG_STORE_H
#define VG_API_CONFIG_STORE_H

#include <jansson.h>

typedef struct vg_config_store vg_config_store_t;

/* Opens the store on its own connection to the database at db_path and
 * applies its schema. key_file: the node key's file. Returns 0 or VG_EDB,
 * VG_EIO, VG_ENOMEM. */
int vg_config_store_open(const char *db_path, const char *key_file, vg_config_store_t **out);
void vg_config_store_close(vg_config_store_t **s);

/* Stores camera (a camera object as vg_camera_config_parse reads it, plus
 * "analytics" when set; its "url" with credentials) under id, replacing
 * the row that was there. Returns 0, VG_EDB, or a key error. */
int vg_config_store_put(vg_config_store_t *s, const char *id, json_t *camera);
/* Returns 0 or VG_ENOTFOUND, VG_EDB. */
int vg_config_store_delete(vg_config_store_t *s, const char *id);
/* Calls fn for each stored camera in id order, with its object (the URL
 * opened; borrowed for the call). A row that cannot be read (bad JSON, a
 * seal that does not open under this key) is skipped with an error in the
 * log. Returns the number of cameras passed to fn, or VG_EDB. */
int vg_config_store_foreach(vg_config_store_t *s, void (*fn)(const char *id, json_t *camera, void *opaque),
                            void *opaque);

#endif
