/*
 * secret.h: small secrets at rest (camera passwords in stored camera
 * configurations), sealed with libsodium's secretbox (XSalsa20-Poly1305)
 * under a node key kept in a file of its own (config auth.secret_key_file,
 * default var/secret.key, created mode 0600 at first start).
 *
 * A sealed value is text, safe for JSON and SQL: "sb1:" and the base64 of
 * a random 24-byte nonce followed by the ciphertext and its 16-byte tag.
 * Opening fails (VG_EAUTH) on any change to it or under another key.
 * Whoever holds the key file and the database can read the secrets: the key
 * keeps them out of database dumps, backups and exported configurations.
 *
 * Secrets never go to the log: callers must not log what they seal or open.
 * Pure functions plus one file read/create: any thread.
 */
#ifndef VG_BASE_SECRET_H
#define VG_BASE_SECRET_H

#include <stddef.h>
#include <stdint.h>

#define VG_SECRET_KEY_LEN 32
#define VG_SECRET_PREFIX "sb1:"

/* Reads the key at path (64 hex digits), or creates it (and its parent
 * directory) with a random key, mode 0600, when the file does not exist.
 * Warns when the file is readable by group or others. Returns 0, VG_EIO,
 * VG_EINVAL (a malformed file is never overwritten). */
int vg_secret_key_load(const char *path, uint8_t key[VG_SECRET_KEY_LEN]);
/* Seals plain (len bytes) into out (NUL-terminated text). Returns the text
 * length or VG_ETOOBIG. */
int vg_secret_seal(const uint8_t key[VG_SECRET_KEY_LEN], const void *plain, size_t len, char *out,
                   size_t size);
/* Opens a sealed text into out (NUL-terminated, so size must exceed the
 * plain length). Returns the plain length, VG_EINVAL when it is not a sealed
 * value, VG_EAUTH when it was altered or sealed under another key,
 * VG_ETOOBIG. */
int vg_secret_open(const uint8_t key[VG_SECRET_KEY_LEN], const char *sealed, void *out, size_t size);
/* Whether text looks like a sealed value (starts with "sb1:"). */
int vg_secret_is_sealed(const char *text);

#endif
