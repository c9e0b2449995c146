/* Pages of the list routes (SPEC 9, Kubernetes' model): without `limit` a
 * list answers the whole JSON array; `?limit=N` answers
 * {"items": [...], "continue": "T"} (no "continue" on the last page) and
 * `?limit=N&continue=T` the page after. This file owns the token: the
 * base64url (RFC 4648 section 5, no padding) of the store's key of the
 * page's last item (store.h's store_page). Clients treat it as opaque. */
#include "server/server.h"

#include <microhttpd.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_TOKEN_MAX (4 * ((STORE_PAGE_KEY_MAX + 2) / 3)) /* base64 of the longest key */

static const char base64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* `key` as a token in out (PAGE_TOKEN_MAX + 1 bytes). */
static void token_encode(const char *key, char *out)
{
        size_t len = strlen(key);

        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)key, (int)len);
        for (char *c = out; *c; c++) {
                if (*c == '+')
                        *c = '-';
                else if (*c == '/')
                        *c = '_';
                else if (*c == '=')
                        *c = '\0';
        }
}

/* The key a token stands for, into key (STORE_PAGE_KEY_MAX bytes); -1 when
 * the token is not one token_encode makes. */
static int token_decode(const char *token, char *key)
{
        char padded[PAGE_TOKEN_MAX + 4], again[PAGE_TOKEN_MAX + 4];
        size_t len = strlen(token), plen;
        int n;

        if (len == 0 || len > PAGE_TOKEN_MAX || len % 4 == 1 ||
            strspn(token, base64url_chars) != len)
                return -1;
        memcpy(padded, token, len);
        plen = len;
        while (plen % 4)
                padded[plen++] = '=';
        padded[plen] = '\0';
        for (size_t i = 0; i < len; i++)
                padded[i] = padded[i] == '-' ? '+' : padded[i] == '_' ? '/' : padded[i];
        n = EVP_DecodeBlock((unsigned char *)key, (const unsigned char *)padded, (int)plen);
        if (n < 0)
                return -1;
        n -= (int)(plen - len); /* the bytes the padding stood for */
        if (n <= 0 || n >= STORE_PAGE_KEY_MAX || memchr(key, '\0', (size_t)n))
                return -1;
        key[n] = '\0';
        token_encode(key, again); /* one token per key: no stray bits */
        return strcmp(again, token) == 0 ? 0 : -1;
}

static int bad_token(struct idyl_err *err)
{
        return idyl_err_set(err, IDYL_E_INVALID,
                            "invalid query parameter \"continue\": not a token a page of this "
                            "list gave");
}

int page_request(const struct request *req, struct store_page *pg, struct idyl_err *err)
{
        const char *limit = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "limit");
        const char *token =
            MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "continue");
        size_t len = limit ? strlen(limit) : 0;

        memset(pg, 0, sizeof(*pg));
        if (!limit && !token)
                return 0;
        if (!limit)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "query parameter \"continue\" needs \"limit\"");
        if (len == 0 || len > 4 || limit[0] == '0' || strspn(limit, "0123456789") != len ||
            atoi(limit) > PAGE_LIMIT_MAX)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "invalid query parameter \"limit\": \"%.20s\" is not a "
                                    "decimal number from 1 to %d",
                                    limit, PAGE_LIMIT_MAX);
        pg->limit = (size_t)atoi(limit);
        if (token && token_decode(token, pg->after) < 0)
                return bad_token(err);
        if (list_watch_requested(req))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "query parameter \"limit\" cannot be combined with \"watch\"");
        return 1;
}

int page_failed(struct idyl_err *err)
{
        /* the store refuses a key no item of the list can have */
        if (err->code == IDYL_E_INVALID)
                return bad_token(err);
        return -1;
}

json_t *page_answer(json_t *items, const struct store_page *pg)
{
        char token[PAGE_TOKEN_MAX + 1];
        json_t *o = json_pack("{s:o}", "items", items);

        if (o && pg->next[0]) {
                token_encode(pg->next, token);
                json_object_set_new(o, "continue", json_string(token));
        }
        return o;
}
