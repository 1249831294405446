/* secret.c: sealed secrets and the node key (see secret.h). */
#include "base/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"

static const vg_log_ctx_t lg = {"secret", NULL};

#define HEX_LEN (VG_SECRET_KEY_LEN * 2)
#define PREFIX_LEN (sizeof(VG_SECRET_PREFIX) - 1)

static int make_parent(const char *path) {
  char dir[512];
  if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) return VG_EINVAL;
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir) return 0;
  *slash = '\0';
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return vg_err_from_errno();
    *p = '/';
  }
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) return vg_err_from_errno();
  return 0;
}

static int create_key(const char *path, uint8_t key[VG_SECRET_KEY_LEN]) {
  int err = make_parent(path);
  if (err) return err;
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return vg_err_from_errno();
  char hex[HEX_LEN + 2];
  randombytes_buf(key, VG_SECRET_KEY_LEN);
  sodium_bin2hex(hex, sizeof(hex), key, VG_SECRET_KEY_LEN);
  hex[HEX_LEN] = '\n';
  ssize_t n = write(fd, hex, HEX_LEN + 1);
  int failed = n != HEX_LEN + 1 || fsync(fd) != 0;
  close(fd);
  sodium_memzero(hex, sizeof(hex));
  if (failed) {
    unlink(path);
    return VG_EIO;
  }
  vg_log_info(&lg, "created the node key %s", path);
  return 0;
}

int vg_secret_key_load(const char *path, uint8_t key[VG_SECRET_KEY_LEN]) {
  if (sodium_init() < 0) return VG_ENOMEM;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    int err = create_key(path, key);
    if (err == VG_EEXIST) return vg_secret_key_load(path, key); /* another process won the race */
    if (err) vg_log_error(&lg, "cannot create the node key %s: %s", path, vg_strerror(err));
    return err;
  }
  if (fd < 0) {
    int err = vg_err_from_errno();
    vg_log_error(&lg, "cannot read the node key %s: %s", path, vg_strerror(err));
    return err;
  }
  struct stat st;
  if (fstat(fd, &st) == 0 && (st.st_mode & 077))
    vg_log_warn(&lg, "%s is readable by others than its owner; chmod 600 it", path);
  char hex[HEX_LEN + 8];
  ssize_t n = read(fd, hex, sizeof(hex) - 1);
  close(fd);
  size_t bin_len = 0;
  int bad = n < HEX_LEN || (n > HEX_LEN && hex[HEX_LEN] != '\n' && hex[HEX_LEN] != '\r') ||
            sodium_hex2bin(key, VG_SECRET_KEY_LEN, hex, HEX_LEN, NULL, &bin_len, NULL) != 0 ||
            bin_len != VG_SECRET_KEY_LEN;
  sodium_memzero(hex, sizeof(hex));
  if (bad) {
    vg_log_error(&lg, "%s is not a node key (64 hex digits)", path);
    return VG_EINVAL;
  }
  return 0;
}

int vg_secret_is_sealed(const char *text) { return text && strncmp(text, VG_SECRET_PREFIX, PREFIX_LEN) == 0; }

int vg_secret_seal(const uint8_t key[VG_SECRET_KEY_LEN], const void *plain, size_t len, char *out,
                   size_t size) {
  if (sodium_init() < 0) return VG_ENOMEM;
  size_t box_len = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len;
  if (len > 65536 || size < PREFIX_LEN + sodium_base64_ENCODED_LEN(box_len, sodium_base64_VARIANT_ORIGINAL))
    return VG_ETOOBIG;
  uint8_t box[crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + 65536];
  randombytes_buf(box, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, plain, len, box, key);
  memcpy(out, VG_SECRET_PREFIX, PREFIX_LEN);
  sodium_bin2base64(out + PREFIX_LEN, size - PREFIX_LEN, box, box_len, sodium_base64_VARIANT_ORIGINAL);
  return (int)strlen(out);
}

int vg_secret_open(const uint8_t key[VG_SECRET_KEY_LEN], const char *sealed, void *out, size_t size) {
  if (sodium_init() < 0) return VG_ENOMEM;
  if (!vg_secret_is_sealed(sealed)) return VG_EINVAL;
  const char *b64 = sealed + PREFIX_LEN;
  size_t b64_len = strlen(b64);
  uint8_t box[crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + 65536];
  size_t box_len = 0;
  const char *end = NULL;
  if (b64_len > sodium_base64_ENCODED_LEN(sizeof(box), sodium_base64_VARIANT_ORIGINAL) ||
      sodium_base642bin(box, sizeof(box), b64, b64_len, NULL, &box_len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != b64 + b64_len || box_len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
    return VG_EINVAL;
  size_t plain_len = box_len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
  if (plain_len + 1 > size) return VG_ETOOBIG;
  if (crypto_secretbox_open_easy(out, box + crypto_secretbox_NONCEBYTES,
                                 box_len - crypto_secretbox_NONCEBYTES, box, key) != 0)
    return VG_EAUTH;
  ((uint8_t *)out)[plain_len] = 0;
  return (int)plain_len;
}
