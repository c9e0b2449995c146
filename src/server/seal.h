/* Sealing secret values at rest: AES-256-GCM (OpenSSL EVP) under one key
 * kept outside the database, in DIR/secret.key (0600, made at first start)
 * or the file --secret-key-file names. A sealed value is
 * nonce (12 bytes) | ciphertext | tag (16 bytes); the additional data binds
 * it to "<slug>/<name>", so a sealed blob moved to another secret fails to
 * open. The store records the key's fingerprint; a server given another key
 * refuses to start rather than answer with values it cannot open. */
#ifndef IDYL_SEAL_H
#define IDYL_SEAL_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define SEAL_KEY_LEN     32
#define SEAL_NONCE_LEN   12
#define SEAL_TAG_LEN     16
#define SEAL_OVERHEAD    (SEAL_NONCE_LEN + SEAL_TAG_LEN)
#define SEAL_FPR_BUFLEN  72 /* "sha256:" + 64 hex digits + NUL */
#define SEAL_FPR_SETTING "secret_key_fingerprint"

struct seal_key {
        unsigned char key[SEAL_KEY_LEN];
        char fingerprint[SEAL_FPR_BUFLEN]; /* "sha256:<hex of SHA-256(key)>" */
};

/* Reads the key (64 hex digits and a newline) from `path`. When the file
 * does not exist and `create` is set, makes a new random key there (0600,
 * written atomically). Returns 0, or -1 with err naming the file. */
int seal_key_load(const char *path, bool create, struct seal_key *out, struct idyl_err *err);

/* Seals len bytes of `plain` bound to `aad`; *out is malloc'd
 * (len + SEAL_OVERHEAD bytes), the caller frees it. */
int seal_value(const struct seal_key *k, const char *aad, const void *plain, size_t len,
               unsigned char **out, size_t *outlen, struct idyl_err *err);

/* Opens what seal_value made under the same key and aad; *plain is malloc'd
 * (NUL-terminated for convenience, *plainlen without it). A wrong key, aad
 * or a tampered blob fails with IDYL_E_INTERNAL. */
int seal_open(const struct seal_key *k, const char *aad, const unsigned char *in, size_t len,
              unsigned char **plain, size_t *plainlen, struct idyl_err *err);

#endif
