/* The audit log: every change request (who by token id, role and node;
 * what by method and path; which subnet; when; the status answered) is
 * recorded in the transaction of its change, or by the HTTP layer after
 * the handler ran when nothing committed, and operators read it
 * with GET /v1/audit?subnet=S&limit=N. Refused attempts by known callers
 * are recorded too; anonymous requests are not (they would let anyone fill
 * the log). */
#include "server/server.h"

#include <microhttpd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/subnet.h"
#include "util/log.h"
#include "util/timefmt.h"
#include "util/utf8.h"

#define AUDIT_LIMIT_DEFAULT 100
#define AUDIT_LIMIT_MAX     10000

/* The subnet a change was about: the path's {slug}, else what the handler
 * said, else the slug of the object it created (POST /v1/subnets). */
static uint64_t audit_subnet(const struct request *req, const struct route *rt,
                             const struct response *resp)
{
        const char *created;
        uint64_t slug = 0;

        if (rt && strncmp(rt->pattern, "/v1/subnets/{slug}", 18) == 0 && req->nparams > 0 &&
            subnet_slug_parse(req->params[0], &slug, NULL) == 0)
                return slug;
        if (resp->audit_subnet)
                return resp->audit_subnet;
        created = json_string_value(json_object_get(resp->body, "slug"));
        if (created && subnet_slug_parse(created, &slug, NULL) == 0)
                return slug;
        return 0;
}

/* The path as recorded: a longer one is cut at a character boundary (the
 * record still says who did what where), and bytes that are not UTF-8 read
 * as '?', so every record can be listed as JSON. */
static void audit_path(const char *url, char *out, size_t size)
{
        size_t n = strlen(url);

        if (n < size) {
                memcpy(out, url, n + 1);
        } else {
                n = size - 4;
                while (n && ((uint8_t)url[n] & 0xc0) == 0x80)
                        n--;
                memcpy(out, url, n);
                memcpy(out + n, "...", 4);
        }
        if (!utf8_valid(out, strlen(out)))
                for (char *p = out; *p; p++)
                        if ((uint8_t)*p >= 0x80)
                                *p = '?';
}

static void audit_fill(struct request *req, const struct route *rt, int status,
                       const struct response *resp, struct idyl_audit *a)
{
        *a = (struct idyl_audit){.role = req->caller.role, .status = status};
        auth_token_id(&req->caller, a->token);
        snprintf(a->node, sizeof(a->node), "%s", req->caller.node);
        snprintf(a->method, sizeof(a->method), "%s", req->method);
        audit_path(req->url, a->path, sizeof(a->path));
        a->subnet = audit_subnet(req, rt, resp);
}

/* Called by the store inside the change's commit: the answer is the one
 * the handler has set by then. */
static void audit_change_fill(void *arg, struct idyl_audit *out)
{
        struct audit_change *c = arg;

        audit_fill(c->req, c->rt, c->resp->status, c->resp, out);
}

void audit_change_begin(struct audit_change *c, struct request *req, const struct route *rt,
                        const struct response *resp)
{
        c->pending.st = req->srv->store;
        c->pending.fill = audit_change_fill;
        c->pending.arg = c;
        c->req = req;
        c->rt = rt;
        c->resp = resp;
        store_audit_pend(&c->pending);
}

void audit_change_end(struct audit_change *c)
{
        (void)c;
        store_audit_pend(NULL);
}

void audit_record(struct request *req, const struct route *rt, int status,
                  const struct response *resp, const struct audit_change *c)
{
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_audit a;

        if (c && c->pending.written) {
                /* the change committed, and the record with it; a later
                 * failure does not undo the change */
                if (c->pending.rec.status != status)
                        log_warnx("audit: %s %s answered %d after its change committed "
                                  "(recorded %d)",
                                  req->method, req->url, status, c->pending.rec.status);
                return;
        }
        audit_fill(req, rt, status, resp, &a);
        if (store_audit_add(req->srv->store, &a, &err) < 0)
                log_warnx("audit: cannot record %s %s: %s", req->method, req->url, err.msg);
}

static json_t *audit_to_json(const struct idyl_audit *a)
{
        char slug[SUBNET_SLUG_BUFLEN], when[40];
        json_t *o;

        rfc3339_format_millis(a->time_ms, when, sizeof(when));
        o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:o,s:i}", "id", (json_int_t)a->id, "time", when,
                      "token", a->token, "role", idyl_role_name(a->role), "method", a->method,
                      "path", a->path, "subnet",
                      a->subnet ? json_string(subnet_slug_format(a->subnet, slug)) : json_null(),
                      "status", a->status);
        if (a->node[0])
                json_object_set_new(o, "node", json_string(a->node));
        return o;
}

/* Query parameters, strictly: only subnet and limit, each well-formed. */
struct audit_query {
        uint64_t subnet;
        long limit;
        int bad; /* 0, or which check failed */
        char what[64];
};

static enum MHD_Result audit_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
        struct audit_query *q = cls;
        char *end;

        (void)kind;
        if (q->bad)
                return MHD_NO;
        if (strcmp(key, "subnet") == 0 && value && subnet_slug_parse(value, &q->subnet, NULL) == 0)
                return MHD_YES;
        if (strcmp(key, "limit") == 0 && value && *value) {
                q->limit = strtol(value, &end, 10);
                if (!*end && q->limit >= 1 && q->limit <= AUDIT_LIMIT_MAX)
                        return MHD_YES;
        }
        q->bad = 1;
        snprintf(q->what, sizeof(q->what), "%.40s", key);
        return MHD_NO;
}

int handle_audit_list(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct audit_query q = {.limit = AUDIT_LIMIT_DEFAULT};
        struct idyl_audit *items = NULL;
        char slug[SUBNET_SLUG_BUFLEN];
        size_t n = 0;

        MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, audit_query_arg, &q);
        if (q.bad)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "invalid query parameter \"%s\": want subnet=<12-digit slug> "
                                    "and limit=1-%d",
                                    q.what, AUDIT_LIMIT_MAX);
        if (req->caller.subnet && q.subnet && q.subnet != req->caller.subnet)
                return idyl_err_set(err, IDYL_E_FORBIDDEN,
                                    "this credential is scoped to subnet \"%s\"",
                                    subnet_slug_format(req->caller.subnet, slug));
        if (req->caller.subnet)
                q.subnet = req->caller.subnet;
        if (store_audit_list(req->srv->store, q.subnet, (size_t)q.limit, &items, &n, err) < 0)
                return -1;
        resp->body = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(resp->body, audit_to_json(&items[i]));
        free(items);
        return 0;
}
