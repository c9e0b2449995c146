/* /v1/subnets/{slug}/secrets: operators and the subnet's authors create,
 * update, list, read and delete secrets; no route answers a value to them.
 * Values arrive base64-encoded under "data", are sealed (server/seal.c) as
 * one JSON object {key: base64} bound to "<slug>/<name>", and only the
 * sealed blob reaches the store. The one route that answers values is the
 * node's: GET .../nodes/{node}/workloads/{name}/secrets, for a workload
 * placed on that node, with that node's own credential, audited. */
#include "server/server.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/messages.h"
#include "core/secret.h"
#include "core/subnet.h"
#include "server/seal.h"
#include "util/timefmt.h"

/* The secret object: {name, subnet, keys, createdAt, updatedAt}, never values. */
static json_t *secret_to_json(const struct idyl_secret *sec)
{
        char slug[SUBNET_SLUG_BUFLEN], created[32], updated[32];
        json_t *keys = sec->keys ? json_loads(sec->keys, 0, NULL) : NULL;

        rfc3339_format(sec->created_at, created, sizeof(created));
        rfc3339_format(sec->updated_at, updated, sizeof(updated));
        return json_pack("{s:s,s:s,s:o,s:s,s:s}", "name", sec->name, "subnet",
                         subnet_slug_format(sec->subnet, slug), "keys", keys ? keys : json_array(),
                         "createdAt", created, "updatedAt", updated);
}

static void secret_aad(const struct idyl_secret *sec, char *buf, size_t size)
{
        char slug[SUBNET_SLUG_BUFLEN];

        snprintf(buf, size, "%s/%s", subnet_slug_format(sec->subnet, slug), sec->name);
}

/* Decoded length of a base64 value, or -1 when it is not base64. */
static long base64_decoded_len(const char *s, size_t len)
{
        long n;
        unsigned char *tmp;

        if (len % 4)
                return -1;
        if (len == 0)
                return 0;
        tmp = malloc(len / 4 * 3 + 1);
        if (!tmp)
                return -1;
        n = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)len);
        OPENSSL_cleanse(tmp, len / 4 * 3);
        free(tmp);
        if (n < 0)
                return -1;
        return n - (s[len - 1] == '=') - (s[len - 2] == '=');
}

static int compare_strings(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Checks "data" ({key: base64}) and builds the sorted key list. */
static int data_check(const json_t *data, json_t **keys_out, struct idyl_err *err)
{
        const char *names[SECRET_KEYS_MAX], *key;
        size_t n = 0, total = 0;
        json_t *v, *keys;

        if (!json_is_object(data) || json_object_size(data) == 0)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "field \"data\" is required: an object of key to base64 value, "
                                    "with at least one key (--from-literal or --from-file)");
        if (json_object_size(data) > SECRET_KEYS_MAX)
                return idyl_err_set(err, IDYL_E_INVALID, "a secret has at most %d keys",
                                    SECRET_KEYS_MAX);
        json_object_foreach((json_t *)data, key, v)
        {
                long len;

                if (secret_key_check(key, err) < 0)
                        return -1;
                if (!json_is_string(v) ||
                    (len = base64_decoded_len(json_string_value(v), json_string_length(v))) < 0)
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "field \"data.%s\" must be a base64 string", key);
                total += (size_t)len;
                names[n++] = key;
        }
        if (secret_size_check(total, err) < 0)
                return -1;
        qsort(names, n, sizeof(*names), compare_strings);
        keys = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(keys, json_string(names[i]));
        *keys_out = keys;
        return 0;
}

/* Validates the body's data and seals it into sec (keys and sealed owned). */
static int secret_from_body(struct request *req, struct idyl_secret *sec, struct idyl_err *err)
{
        const struct seal_key *key = req->srv->seal;
        json_t *keys = NULL;
        char aad[128];
        char *plain;
        int rc;

        if (!key)
                return idyl_err_set(err, IDYL_E_UNAVAILABLE, "this server has no secret key");
        if (data_check(json_object_get(req->body, "data"), &keys, err) < 0)
                return -1;
        sec->keys = json_dumps(keys, JSON_COMPACT);
        json_decref(keys);
        plain = json_dumps(json_object_get(req->body, "data"), JSON_COMPACT | JSON_SORT_KEYS);
        if (!sec->keys || !plain) {
                free(plain);
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        }
        secret_aad(sec, aad, sizeof(aad));
        rc = seal_value(key, aad, plain, strlen(plain), &sec->sealed, &sec->sealed_len, err);
        OPENSSL_cleanse(plain, strlen(plain));
        free(plain);
        return rc;
}

static int secret_params(struct request *req, uint64_t *slug, struct idyl_err *err)
{
        struct idyl_subnet sn;

        if (subnet_slug_parse(req->params[0], slug, err) < 0 ||
            store_subnet_get(req->srv->store, *slug, &sn, err) < 0)
                return -1;
        return 0;
}

int handle_secret_create(struct request *req, struct response *resp, struct idyl_err *err)
{
        static const char *const keys[] = {"name", "data", NULL};
        struct idyl_secret sec = {0};
        const char *name;
        int rc = -1;

        if (secret_params(req, &sec.subnet, err) < 0 ||
            json_check_keys(req->body, keys, "secret", err) < 0 ||
            json_get_string(req->body, "name", &name, err) < 0 || secret_name_check(name, err) < 0)
                return -1;
        snprintf(sec.name, sizeof(sec.name), "%s", name);
        sec.created_at = sec.updated_at = (int64_t)time(NULL);
        resp->status = 201; /* before the commit, which carries the audit record */
        if (secret_from_body(req, &sec, err) == 0 &&
            store_secret_create(req->srv->store, &sec, err) == 0) {
                resp->body = secret_to_json(&sec);
                rc = 0;
        }
        secret_release(&sec);
        return rc;
}

int handle_secret_update(struct request *req, struct response *resp, struct idyl_err *err)
{
        static const char *const keys[] = {"name", "data", NULL};
        struct idyl_store *st = req->srv->store;
        struct idyl_secret sec = {0}, prev = {0};
        const char *name;
        int rc = -1;

        if (secret_params(req, &sec.subnet, err) < 0 ||
            json_check_keys(req->body, keys, "secret", err) < 0 ||
            json_get_string(req->body, "name", &name, err) < 0)
                return -1;
        if (name && strcmp(name, req->params[1]) != 0)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "field \"name\" (\"%.63s\") differs from the path's \"%.63s\"",
                                    name, req->params[1]);
        if (store_secret_get(st, sec.subnet, req->params[1], &prev, err) < 0)
                return -1;
        snprintf(sec.name, sizeof(sec.name), "%s", prev.name);
        sec.created_at = prev.created_at;
        sec.updated_at = (int64_t)time(NULL);
        secret_release(&prev);
        if (secret_from_body(req, &sec, err) == 0 && store_secret_update(st, &sec, err) == 0) {
                resp->body = secret_to_json(&sec);
                rc = 0;
        }
        secret_release(&sec);
        return rc;
}

int handle_secret_list(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct idyl_secret *items = NULL;
        struct store_page pg;
        size_t n = 0;
        uint64_t slug;
        json_t *list;
        int paged = page_request(req, &pg, err);

        if (paged < 0 || secret_params(req, &slug, err) < 0)
                return -1;
        if (paged && store_secret_page(req->srv->store, slug, &pg, &items, &n, err) < 0)
                return page_failed(err);
        if (!paged && store_secret_list(req->srv->store, slug, &items, &n, err) < 0)
                return -1;
        list = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(list, secret_to_json(&items[i]));
        secret_list_free(items, n);
        resp->body = paged ? page_answer(list, &pg) : list;
        return 0;
}

int handle_secret_get(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct idyl_secret sec;
        uint64_t slug;

        if (secret_params(req, &slug, err) < 0 ||
            store_secret_get(req->srv->store, slug, req->params[1], &sec, err) < 0)
                return -1;
        resp->body = secret_to_json(&sec);
        secret_release(&sec);
        return 0;
}

/* Whether a workload's spec names the secret under secrets or secretEnv. */
bool workload_uses_secret(const struct idyl_workload *w, const char *name)
{
        static const char *const fields[] = {"secrets", "secretEnv"};
        json_t *spec = w->spec ? json_loads(w->spec, 0, NULL) : NULL;
        bool used = false;

        for (size_t f = 0; spec && f < 2 && !used; f++) {
                json_t *v;
                size_t i;

                json_array_foreach(json_object_get(spec, fields[f]), i, v)
                {
                        used |= json_is_string(v) && strcmp(json_string_value(v), name) == 0;
                }
        }
        json_decref(spec);
        return used;
}

/* 409 while any workload of the subnet names it. */
static int delete_in_tx(struct idyl_store *st, uint64_t slug, const char *name,
                        struct idyl_err *err)
{
        struct idyl_workload *ws = NULL;
        struct idyl_secret sec;
        char s[SUBNET_SLUG_BUFLEN];
        size_t n = 0;
        int rc = 0;

        if (store_secret_get(st, slug, name, &sec, err) < 0)
                return -1;
        secret_release(&sec);
        if (store_workload_list(st, slug, NULL, &ws, &n, err) < 0)
                return -1;
        for (size_t i = 0; i < n && rc == 0; i++)
                if (workload_uses_secret(&ws[i], name))
                        rc = idyl_err_set(err, IDYL_E_CONFLICT,
                                          "secret \"%s\" is used by workload \"%s\" in subnet %s: "
                                          "delete or redeploy it without the secret first",
                                          name, ws[i].name, subnet_slug_format(slug, s));
        workload_list_free(ws, n);
        return rc < 0 ? -1 : store_secret_delete(st, slug, name, err);
}

int handle_secret_delete(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct idyl_store *st = req->srv->store;
        uint64_t slug;

        if (secret_params(req, &slug, err) < 0 || store_tx_begin(st, err) < 0)
                return -1;
        return server_tx_end(st, delete_in_tx(st, slug, req->params[1], err), resp, 204, err);
}

/* ---- the node's read ------------------------------------------------------ */

/* Opens one secret into {"name", "data": {key: base64}}. */
static int secret_values(struct request *req, uint64_t slug, const char *name, json_t *out,
                         struct idyl_err *err)
{
        struct idyl_secret sec;
        unsigned char *plain = NULL;
        size_t len = 0;
        json_t *data;
        char aad[128];

        if (store_secret_get(req->srv->store, slug, name, &sec, err) < 0)
                return -1;
        secret_aad(&sec, aad, sizeof(aad));
        if (seal_open(req->srv->seal, aad, sec.sealed, sec.sealed_len, &plain, &len, err) < 0) {
                secret_release(&sec);
                return -1;
        }
        secret_release(&sec);
        data = json_loadb((const char *)plain, len, 0, NULL);
        OPENSSL_cleanse(plain, len);
        free(plain);
        if (!data)
                return idyl_err_set(err, IDYL_E_INTERNAL, "secret \"%s\": sealed data is damaged",
                                    name);
        json_array_append_new(out, json_pack("{s:s,s:o}", "name", name, "data", data));
        return 0;
}

/* Only the node's own credential: an operator's credential acts for nodes
 * elsewhere, never here. */
static int caller_is_own_node(const struct request *req, uint64_t slug, struct idyl_err *err)
{
        const struct idyl_token *c = &req->caller;
        const char *node = req->params[1];

        if (c->role != ROLE_PROVIDER || !c->node[0] || c->subnet != slug ||
            strcmp(c->node, node) != 0)
                return idyl_err_set(err, IDYL_E_FORBIDDEN,
                                    "only node \"%s\"'s own credential may read the secrets of "
                                    "the workloads placed on it",
                                    node);
        return 0;
}

/* ... and only for a workload placed on that node. */
static int workload_is_placed_on(const struct idyl_workload *w, const char *node,
                                 struct idyl_err *err)
{
        if (strcmp(w->node, node) != 0)
                return idyl_err_set(err, IDYL_E_FORBIDDEN,
                                    "workload \"%s\" is not placed on node \"%s\"", w->name, node);
        return 0;
}

/* GET /v1/subnets/{slug}/nodes/{node}/workloads/{name}/secrets:
 * {"secrets": [{"name", "data": {key: base64}}]} for every secret the
 * workload names (files and env alike). */
int handle_node_workload_secrets(struct request *req, struct response *resp, struct idyl_err *err)
{
        static const char *const fields[] = {"secrets", "secretEnv"};
        struct idyl_workload w;
        json_t *spec, *out, *seen;
        uint64_t slug;
        int rc = 0;

        if (subnet_slug_parse(req->params[0], &slug, err) < 0 ||
            caller_is_own_node(req, slug, err) < 0)
                return -1;
        if (!req->srv->seal)
                return idyl_err_set(err, IDYL_E_UNAVAILABLE, "this server has no secret key");
        if (store_workload_get(req->srv->store, slug, req->params[2], &w, err) < 0)
                return -1;
        if (workload_is_placed_on(&w, req->params[1], err) < 0) {
                workload_release(&w);
                return -1;
        }
        spec = json_loads(w.spec, 0, NULL);
        workload_release(&w);
        out = json_array();
        seen = json_object();
        for (size_t f = 0; f < 2 && rc == 0; f++) {
                json_t *v;
                size_t i;

                json_array_foreach(json_object_get(spec, fields[f]), i, v)
                {
                        const char *name = json_string_value(v);

                        if (!name || json_object_get(seen, name))
                                continue;
                        json_object_set_new(seen, name, json_true());
                        if ((rc = secret_values(req, slug, name, out, err)) < 0)
                                break;
                }
        }
        json_decref(spec);
        json_decref(seen);
        if (rc < 0) {
                json_decref(out);
                return -1;
        }
        resp->body = json_pack("{s:o}", "secrets", out);
        return 0;
}
