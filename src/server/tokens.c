/* /v1/tokens: operators mint credentials (shown once, stored as hashes),
 * list them without secrets and revoke them. A token's id is the start of
 * its hash, so it names the token without revealing anything of the secret.
 * A subnet-scoped operator only sees and makes tokens of its own subnet. */
#include "server/server.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/subnet.h"
#include "util/timefmt.h"

/* The public view of a token: never its secret, never its hash. */
static json_t *token_to_json(const struct idyl_token *t)
{
        char id[TOKEN_ID_LEN + 1], slug[SUBNET_SLUG_BUFLEN], created[32];
        json_t *o;

        auth_token_id(t, id);
        rfc3339_format(t->created_at, created, sizeof(created));
        o = json_pack("{s:s,s:s,s:o,s:s}", "id", id, "role", idyl_role_name(t->role), "subnet",
                      t->subnet ? json_string(subnet_slug_format(t->subnet, slug)) : json_null(),
                      "createdAt", created);
        if (t->node[0])
                json_object_set_new(o, "node", json_string(t->node));
        return o;
}

/* Reads {"role", "subnet"}: the role is required; a scoped caller's tokens
 * are confined to its subnet (the default when none is named). */
static int token_from_json(const struct request *req, struct idyl_token *t, struct idyl_err *err)
{
        static const char *const keys[] = {"role", "subnet", NULL};
        const struct idyl_token *c = &req->caller;
        const char *role, *subnet;
        char slug[SUBNET_SLUG_BUFLEN];

        if (json_check_keys(req->body, keys, "token", err) < 0 ||
            json_get_string(req->body, "role", &role, err) < 0 ||
            json_get_string(req->body, "subnet", &subnet, err) < 0)
                return -1;
        if (!role || idyl_role_from_name(role) == ROLE_NONE)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "field \"role\" must be operator, author or provider");
        t->role = idyl_role_from_name(role);
        if (subnet && subnet_slug_parse(subnet, &t->subnet, err) < 0)
                return -1;
        if (c->subnet && !subnet)
                t->subnet = c->subnet;
        if (c->subnet && t->subnet != c->subnet)
                return idyl_err_set(err, IDYL_E_FORBIDDEN,
                                    "this credential is scoped to subnet \"%s\" and may only "
                                    "create tokens for it",
                                    subnet_slug_format(c->subnet, slug));
        return 0;
}

int handle_token_create(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct idyl_token t = {0};
        struct idyl_subnet sn;
        char secret[128];

        if (token_from_json(req, &t, err) < 0)
                return -1;
        if (t.subnet && store_subnet_get(req->srv->store, t.subnet, &sn, err) < 0)
                return -1;
        if (auth_new_secret(secret, sizeof(secret), err) < 0)
                return -1;
        auth_hash_token(secret, t.hash);
        t.created_at = (int64_t)time(NULL);
        resp->status = 201; /* before the commit, which carries the audit record */
        resp->audit_subnet = t.subnet;
        if (store_token_add(req->srv->store, &t, err) < 0)
                return -1;
        resp->body = token_to_json(&t);
        json_object_set_new(resp->body, "token", json_string(secret));
        return 0;
}

int handle_token_list(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct idyl_store *st = req->srv->store;
        struct idyl_token *items = NULL;
        struct store_page pg;
        size_t n = 0;
        json_t *list;
        int paged = page_request(req, &pg, err);

        if (paged < 0)
                return -1;
        if (paged && store_token_page(st, req->caller.subnet, &pg, &items, &n, err) < 0)
                return page_failed(err);
        if (!paged && store_token_list(st, req->caller.subnet, &items, &n, err) < 0)
                return -1;
        list = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(list, token_to_json(&items[i]));
        free(items);
        resp->body = paged ? page_answer(list, &pg) : list;
        return 0;
}

/* How many operator tokens not scoped to a subnet remain. */
static int unscoped_operators(struct idyl_store *st, size_t *count, struct idyl_err *err)
{
        struct idyl_token *items = NULL;
        size_t n = 0;

        if (store_token_list(st, 0, &items, &n, err) < 0)
                return -1;
        *count = 0;
        for (size_t i = 0; i < n; i++)
                *count += items[i].role == ROLE_OPERATOR && !items[i].subnet;
        free(items);
        return 0;
}

/* Revokes inside a transaction, so a token outside the caller's scope (it
 * is answered as not found) or the last unscoped operator token is put back
 * untouched. */
static int revoke_in_tx(struct request *req, struct idyl_token *t, struct idyl_err *err)
{
        struct idyl_store *st = req->srv->store;
        const char *id = req->params[0];
        size_t left;

        if (store_token_revoke(st, id, t, err) < 0)
                return -1;
        if (req->caller.subnet && t->subnet != req->caller.subnet)
                return idyl_err_set(err, IDYL_E_NOT_FOUND, "token \"%s\" not found", id);
        if (t->role != ROLE_OPERATOR || t->subnet)
                return 0;
        if (unscoped_operators(st, &left, err) < 0)
                return -1;
        if (left == 0)
                return idyl_err_set(err, IDYL_E_CONFLICT,
                                    "token \"%s\" is the last operator credential: create another "
                                    "operator token first",
                                    id);
        return 0;
}

int handle_token_revoke(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct idyl_store *st = req->srv->store;
        struct idyl_token t = {0};
        int rc;

        if (store_tx_begin(st, err) < 0)
                return -1;
        rc = revoke_in_tx(req, &t, err);
        if (rc == 0)
                resp->audit_subnet = t.subnet;
        return server_tx_end(st, rc, resp, 204, err);
}
