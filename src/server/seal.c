/* AES-256-GCM sealing of secret values and the key file; see seal.h. */
#include "server/seal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileio.h"

static const char hexdigits[] = "0123456789abcdef";

static void to_hex(const unsigned char *in, size_t n, char *out)
{
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = hexdigits[in[i] >> 4];
                out[2 * i + 1] = hexdigits[in[i] & 15];
        }
        out[2 * n] = '\0';
}

static int from_hex(const char *in, unsigned char *out, size_t n)
{
        for (size_t i = 0; i < 2 * n; i++) {
                const char *d = in[i] ? strchr(hexdigits, in[i]) : NULL;

                if (!d)
                        return -1;
                if (i % 2 == 0)
                        out[i / 2] = (unsigned char)((d - hexdigits) << 4);
                else
                        out[i / 2] |= (unsigned char)(d - hexdigits);
        }
        return 0;
}

static void fingerprint(struct seal_key *k)
{
        unsigned char md[SHA256_DIGEST_LENGTH];

        SHA256(k->key, sizeof(k->key), md);
        memcpy(k->fingerprint, "sha256:", 7);
        to_hex(md, sizeof(md), k->fingerprint + 7);
}

static int key_create(const char *path, struct seal_key *out, struct idyl_err *err)
{
        char text[2 * SEAL_KEY_LEN + 2];

        if (getrandom(out->key, sizeof(out->key), 0) != (ssize_t)sizeof(out->key))
                return idyl_err_errno(err, errno, "getrandom");
        to_hex(out->key, sizeof(out->key), text);
        text[2 * SEAL_KEY_LEN] = '\n';
        text[2 * SEAL_KEY_LEN + 1] = '\0';
        if (file_write_atomic(path, text, sizeof(text) - 1, 0600, err) < 0) {
                OPENSSL_cleanse(text, sizeof(text));
                return -1;
        }
        OPENSSL_cleanse(text, sizeof(text));
        return 0;
}

int seal_key_load(const char *path, bool create, struct seal_key *out, struct idyl_err *err)
{
        char text[2 * SEAL_KEY_LEN + 8];
        ssize_t n;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        memset(out, 0, sizeof(*out));
        if (fd < 0 && errno == ENOENT && create) {
                if (key_create(path, out, err) < 0)
                        return -1;
                fingerprint(out);
                return 0;
        }
        if (fd < 0)
                return idyl_err_errno(err, errno, "secret key \"%s\"", path);
        n = read(fd, text, sizeof(text) - 1);
        close(fd);
        if (n < 0)
                return idyl_err_errno(err, errno, "read secret key \"%s\"", path);
        text[n] = '\0';
        if ((n != 2 * SEAL_KEY_LEN && !(n == 2 * SEAL_KEY_LEN + 1 && text[n - 1] == '\n')) ||
            from_hex(text, out->key, SEAL_KEY_LEN) < 0) {
                OPENSSL_cleanse(text, sizeof(text));
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "secret key \"%s\" is malformed: want 64 hex digits", path);
        }
        OPENSSL_cleanse(text, sizeof(text));
        fingerprint(out);
        return 0;
}

int seal_value(const struct seal_key *k, const char *aad, const void *plain, size_t len,
               unsigned char **out, size_t *outlen, struct idyl_err *err)
{
        unsigned char *buf = NULL;
        EVP_CIPHER_CTX *ctx = NULL;
        int n = 0, fin = 0, rc = -1;

        if (len > (size_t)(1 << 30))
                return idyl_err_set(err, IDYL_E_INVALID, "value too large to seal");
        buf = malloc(len + SEAL_OVERHEAD);
        ctx = EVP_CIPHER_CTX_new();
        if (!buf || !ctx) {
                idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                goto out;
        }
        if (getrandom(buf, SEAL_NONCE_LEN, 0) != SEAL_NONCE_LEN) {
                idyl_err_errno(err, errno, "getrandom");
                goto out;
        }
        if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->key, buf) != 1 ||
            EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
            EVP_EncryptUpdate(ctx, buf + SEAL_NONCE_LEN, &n, plain, (int)len) != 1 ||
            EVP_EncryptFinal_ex(ctx, buf + SEAL_NONCE_LEN + n, &fin) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN,
                                buf + SEAL_NONCE_LEN + len) != 1) {
                idyl_err_set(err, IDYL_E_INTERNAL, "aes-256-gcm: sealing failed");
                goto out;
        }
        *out = buf;
        *outlen = len + SEAL_OVERHEAD;
        buf = NULL;
        rc = 0;
out:
        EVP_CIPHER_CTX_free(ctx);
        free(buf);
        return rc;
}

int seal_open(const struct seal_key *k, const char *aad, const unsigned char *in, size_t len,
              unsigned char **plain, size_t *plainlen, struct idyl_err *err)
{
        size_t clen = len >= SEAL_OVERHEAD ? len - SEAL_OVERHEAD : 0;
        unsigned char *buf = NULL;
        EVP_CIPHER_CTX *ctx = NULL;
        int n = 0, fin = 0, rc = -1;

        if (len < SEAL_OVERHEAD)
                return idyl_err_set(err, IDYL_E_INTERNAL, "sealed value is truncated");
        buf = malloc(clen + 1);
        ctx = EVP_CIPHER_CTX_new();
        if (!buf || !ctx) {
                idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                goto out;
        }
        if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->key, in) != 1 ||
            EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
            EVP_DecryptUpdate(ctx, buf, &n, in + SEAL_NONCE_LEN, (int)clen) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN,
                                (void *)(in + SEAL_NONCE_LEN + clen)) != 1 ||
            EVP_DecryptFinal_ex(ctx, buf + n, &fin) != 1) {
                idyl_err_set(err, IDYL_E_INTERNAL,
                             "aes-256-gcm: cannot open the sealed value of \"%s\" (wrong key or "
                             "damaged data)",
                             aad);
                goto out;
        }
        buf[clen] = '\0';
        *plain = buf;
        *plainlen = clen;
        buf = NULL;
        rc = 0;
out:
        EVP_CIPHER_CTX_free(ctx);
        if (buf) {
                OPENSSL_cleanse(buf, clen);
                free(buf);
        }
        return rc;
}
