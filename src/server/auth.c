/* Credentials: random secrets, their stored hashes, and the first operator
 * credential written at first start. Secrets are never stored. */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/log.h"

static void hex(const unsigned char *in, size_t n, char *out)
{
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[in[i] >> 4];
                out[2 * i + 1] = digits[in[i] & 15];
        }
        out[2 * n] = '\0';
}

void auth_hash_token(const char *secret, char out[TOKEN_HASH_HEXLEN + 1])
{
        unsigned char md[SHA256_DIGEST_LENGTH];

        SHA256((const unsigned char *)secret, strlen(secret), md);
        hex(md, sizeof(md), out);
}

int auth_new_secret(char *buf, size_t size, struct idyl_err *err)
{
        unsigned char raw[32];

        if (size < 5 + 2 * sizeof(raw) + 1)
                return idyl_err_set(err, IDYL_E_INTERNAL, "secret buffer too small");
        if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
                return idyl_err_errno(err, errno, "getrandom");
        memcpy(buf, "idyl_", 5);
        hex(raw, sizeof(raw), buf + 5);
        return 0;
}

/* The count and the add are one transaction, so of several replicas
 * starting at once on one store only the first creates the credential. */
static int bootstrap_in_tx(struct idyl_server *srv, const char *dir, struct idyl_err *err)
{
        struct idyl_token tok = {.role = ROLE_OPERATOR};
        char secret[128], line[130], path[PATH_MAX];
        size_t n;

        if (store_token_count(srv->store, ROLE_OPERATOR, &n, err) < 0)
                return -1;
        if (n > 0)
                return 0;
        if (auth_new_secret(secret, sizeof(secret), err) < 0)
                return -1;
        if ((size_t)snprintf(path, sizeof(path), "%s/operator.token", dir) >= sizeof(path))
                return idyl_err_set(err, IDYL_E_INVALID, "path too long: %s", dir);
        /* File first: a crash before the store write just makes a new one next start. */
        n = (size_t)snprintf(line, sizeof(line), "%s\n", secret);
        if (file_write_atomic(path, line, n, 0600, err) < 0)
                return -1;
        auth_hash_token(secret, tok.hash);
        if (store_token_add(srv->store, &tok, err) < 0)
                return -1;
        log_info("wrote the first operator credential to %s", path);
        return 0;
}

int server_bootstrap_operator(struct idyl_server *srv, const char *dir, struct idyl_err *err)
{
        if (store_tx_begin(srv->store, err) < 0)
                return -1;
        if (bootstrap_in_tx(srv, dir, err) < 0) {
                store_tx_rollback(srv->store);
                return -1;
        }
        return store_tx_commit(srv->store, err);
}

void auth_token_id(const struct idyl_token *tok, char out[TOKEN_ID_LEN + 1])
{
        memcpy(out, tok->hash, TOKEN_ID_LEN);
        out[TOKEN_ID_LEN] = '\0';
}
