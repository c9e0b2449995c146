/* Backend selection, the names shared by every store, and the row codec
 * both backends read and write rows with (row.h). */
#include "store/store.h"
#include "store/row.h"
#include "util/array.h"
#include "util/enumname.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const role_names[ROLE__COUNT] = {
    [ROLE_OPERATOR] = "operator",
    [ROLE_AUTHOR] = "author",
    [ROLE_PROVIDER] = "provider",
};

const char *idyl_role_name(enum idyl_role r)
{
        return enum_name(role_names, ROLE__COUNT, (int)r, "none");
}

enum idyl_role idyl_role_from_name(const char *s)
{
        int i = enum_lookup(role_names, ROLE__COUNT, s);

        return i < 0 ? ROLE_NONE : (enum idyl_role)i;
}

static _Thread_local struct store_audit_pending *audit_pending;

void store_audit_pend(struct store_audit_pending *p)
{
        audit_pending = p;
}

struct store_audit_pending *store_audit_pending(struct idyl_store *st)
{
        struct store_audit_pending *p = audit_pending;

        if (!p || p->st != st || p->written)
                return NULL;
        p->fill(p->arg, &p->rec);
        return p;
}

int store_open(const char *where, struct idyl_store **out, struct idyl_err *err)
{
        if (strncmp(where, "postgres://", 11) == 0 || strncmp(where, "postgresql://", 13) == 0)
                return store_postgres_open(where, out, err);
        return store_sqlite_open(where, out, err);
}

void workload_list_free(struct idyl_workload *items, size_t n)
{
        for (size_t i = 0; i < n; i++)
                workload_release(&items[i]);
        free(items);
}

void secret_release(struct idyl_secret *s)
{
        free(s->keys);
        free(s->sealed);
        s->keys = NULL;
        s->sealed = NULL;
        s->sealed_len = 0;
}

void secret_list_free(struct idyl_secret *items, size_t n)
{
        for (size_t i = 0; i < n; i++)
                secret_release(&items[i]);
        free(items);
}

/* The usage of a subnet's nodes computed from the full workload list, for
 * a backend without a query of its own. */
int store_workload_usage_by_list(struct idyl_store *st, uint64_t subnet,
                                 struct idyl_node_usage **out, size_t *n, struct idyl_err *err)
{
        struct idyl_workload *ws = NULL;
        struct idyl_node_usage *us = NULL;
        size_t nws = 0, count = 0, cap = 0;

        if (store_workload_list(st, subnet, NULL, &ws, &nws, err) < 0)
                return -1;
        for (size_t i = 0; i < nws; i++) {
                const struct idyl_workload *w = &ws[i];
                struct idyl_node_usage *u = NULL;

                if (!w->node[0])
                        continue;
                for (size_t j = 0; j < count && !u; j++)
                        if (us[j].isolation == w->isolation && strcmp(us[j].node, w->node) == 0)
                                u = &us[j];
                if (!u) {
                        if (ARRAY_GROW(us, count, cap) < 0) {
                                free(us);
                                workload_list_free(ws, nws);
                                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                        }
                        u = &us[count++];
                        memset(u, 0, sizeof(*u));
                        snprintf(u->node, sizeof(u->node), "%s", w->node);
                        u->isolation = w->isolation;
                }
                u->cpu_milli += w->cpu_milli;
                u->memory_bytes += w->memory_bytes;
                u->gpus += w->gpus;
                u->count++;
        }
        workload_list_free(ws, nws);
        *out = us;
        *n = count;
        return 0;
}

/* ---- the row codec (row.h) ------------------------------------------------ */

void store_row_copy(const struct store_row *r, int col, char *buf, size_t size)
{
        const char *t = r->text(r, col);
        size_t len = t ? strlen(t) : 0;

        if (len >= size)
                len = size - 1;
        if (len)
                memcpy(buf, t, len);
        buf[len] = '\0';
}

static char *row_strdup(const struct store_row *r, int col)
{
        const char *t = r->text(r, col);

        return t ? strdup(t) : NULL;
}

/* The names in a comma-separated list as a set; unknown names are left out. */
static unsigned row_name_set(const struct store_row *r, int col, int (*from_name)(const char *))
{
        char buf[128], *save = NULL;
        unsigned set = 0;

        store_row_copy(r, col, buf, sizeof(buf));
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
                set |= (1u << from_name(t)) & ~1u; /* bit 0 is each enum's NONE */
        return set;
}

static int class_from_name(const char *s)
{
        return (int)isolation_class_from_name(s);
}

static int backend_from_name(const char *s)
{
        return (int)vmm_backend_from_name(s);
}

void store_subnet_read(const struct store_row *r, struct idyl_subnet *sn)
{
        const char *egress;

        memset(sn, 0, sizeof(*sn));
        sn->slug = (uint64_t)r->integer(r, 0);
        store_row_copy(r, 1, sn->region, sizeof(sn->region));
        sn->policy.set = r->integer(r, 2) != 0;
        sn->policy.allowed_classes = row_name_set(r, 3, class_from_name);
        sn->policy.default_class = isolation_class_from_name(r->text(r, 4));
        sn->policy.allowed_backends = row_name_set(r, 5, backend_from_name);
        sn->deploy_approval = r->integer(r, 6) != 0;
        sn->created_at = r->integer(r, 7);
        sn->devices.set = r->text(r, 8) != NULL;
        store_row_copy(r, 8, sn->devices.allowed, sizeof(sn->devices.allowed));
        egress = r->text(r, 9);
        sn->network.set = egress != NULL;
        sn->network.egress = (enum egress_mode)egress_mode_from_name(egress ? egress : "all");
        if (egress_mode_name(sn->network.egress) == NULL)
                sn->network.egress = EGRESS_NONE; /* unreadable: the safe side */
        store_row_copy(r, 10, sn->network.cidrs, sizeof(sn->network.cidrs));
}

int store_workload_read(const struct store_row *r, struct idyl_workload *w)
{
        int v;

        memset(w, 0, sizeof(*w));
        w->subnet = (uint64_t)r->integer(r, 0);
        store_row_copy(r, 1, w->name, sizeof(w->name));
        w->revision = r->integer(r, 2);
        w->spec = row_strdup(r, 3);
        v = workload_phase_from_name(r->text(r, 4));
        w->phase = v < 0 ? PHASE_FAILED : (enum workload_phase)v;
        w->isolation = isolation_class_from_name(r->text(r, 5));
        v = isolation_source_from_name(r->text(r, 6));
        w->source = v < 0 ? SOURCE_EXPLICIT : (enum isolation_source)v;
        store_row_copy(r, 7, w->node, sizeof(w->node));
        store_row_copy(r, 8, w->runtime_profile, sizeof(w->runtime_profile));
        store_row_copy(r, 9, w->message, sizeof(w->message));
        w->placement = row_strdup(r, 10);
        w->restarts = (int)r->integer(r, 11);
        w->created_at = r->integer(r, 12);
        w->updated_at = r->integer(r, 13);
        store_row_copy(r, 14, w->platform, sizeof(w->platform));
        w->cpu_milli = r->integer(r, 15);
        w->memory_bytes = r->integer(r, 16);
        w->gpus = (int)r->integer(r, 17);
        store_row_copy(r, 18, w->devices, sizeof(w->devices));
        store_row_copy(r, 19, w->ip, sizeof(w->ip));
        return !w->spec || (!w->placement && r->text(r, 10)) ? -1 : 0;
}

void store_usage_read(const struct store_row *r, struct idyl_node_usage *u)
{
        memset(u, 0, sizeof(*u));
        store_row_copy(r, 0, u->node, sizeof(u->node));
        u->isolation = isolation_class_from_name(r->text(r, 1));
        u->cpu_milli = r->integer(r, 2);
        u->memory_bytes = r->integer(r, 3);
        u->gpus = r->integer(r, 4);
        u->count = (size_t)r->integer(r, 5);
}

void store_event_read(const struct store_row *r, struct idyl_event *ev)
{
        memset(ev, 0, sizeof(*ev));
        ev->time = r->integer(r, 0);
        ev->revision = r->integer(r, 1);
        store_row_copy(r, 2, ev->type, sizeof(ev->type));
        store_row_copy(r, 3, ev->message, sizeof(ev->message));
}

void store_node_read(const struct store_row *r, struct idyl_node *nd)
{
        const char *profile = r->text(r, 4);
        int v;

        memset(nd, 0, sizeof(*nd));
        nd->subnet = (uint64_t)r->integer(r, 0);
        store_row_copy(r, 1, nd->name, sizeof(nd->name));
        v = node_admission_from_name(r->text(r, 2));
        nd->admission = v < 0 ? NODE_PENDING : (enum node_admission)v;
        nd->simulated = r->integer(r, 3) != 0;
        for (int i = 1; i < PROFILE__COUNT && profile; i++)
                if (strcmp(runtime_profile_name((enum runtime_profile)i), profile) == 0)
                        nd->profile = (enum runtime_profile)i;
        store_row_copy(r, 5, nd->provider, sizeof(nd->provider));
        store_row_copy(r, 6, nd->handler, sizeof(nd->handler));
        nd->isolation = isolation_class_from_name(r->text(r, 7));
        nd->backend = vmm_backend_from_name(r->text(r, 8));
        nd->runtime_ready = r->integer(r, 9) != 0;
        store_row_copy(r, 10, nd->reason, sizeof(nd->reason));
        nd->microvm_gpu = r->integer(r, 11) != 0;
        store_row_copy(r, 12, nd->platform, sizeof(nd->platform));
        nd->cpu_milli = r->integer(r, 13);
        nd->memory_bytes = r->integer(r, 14);
        nd->gpus = (int)r->integer(r, 15);
        nd->last_heartbeat = r->integer(r, 16);
        nd->down = r->integer(r, 17) != 0;
        nd->assign_version = r->integer(r, 18);
        nd->created_at = r->integer(r, 19);
        store_row_copy(r, 20, nd->devices, sizeof(nd->devices));
        v = (int)r->integer(r, 21);
        nd->eligibility =
            v > 0 && v < NODE_ELIGIBILITY__COUNT ? (enum node_eligibility)v : NODE_ELIGIBLE;
}

void store_token_read(const struct store_row *r, struct idyl_token *tok)
{
        memset(tok, 0, sizeof(*tok));
        store_row_copy(r, 0, tok->hash, sizeof(tok->hash));
        tok->role = idyl_role_from_name(r->text(r, 1));
        tok->subnet = (uint64_t)r->integer(r, 2);
        tok->created_at = r->integer(r, 3);
        store_row_copy(r, 4, tok->node, sizeof(tok->node));
}

void store_audit_read(const struct store_row *r, struct idyl_audit *a)
{
        memset(a, 0, sizeof(*a));
        a->id = r->integer(r, 0);
        a->time_ms = r->integer(r, 1);
        store_row_copy(r, 2, a->token, sizeof(a->token));
        a->role = idyl_role_from_name(r->text(r, 3));
        store_row_copy(r, 4, a->node, sizeof(a->node));
        store_row_copy(r, 5, a->method, sizeof(a->method));
        store_row_copy(r, 6, a->path, sizeof(a->path));
        a->subnet = (uint64_t)r->integer(r, 7);
        a->status = (int)r->integer(r, 8);
}

/* A name, or "" for a value without one. */
static const char *name_or_empty(const char *name)
{
        return name ? name : "";
}

void store_subnet_write(struct store_params *p, const struct idyl_subnet *sn, char *classes,
                        char *backends, size_t size)
{
        isolation_class_set_join(sn->policy.allowed_classes, ",", classes, size);
        vmm_backend_set_join(sn->policy.allowed_backends, ",", backends, size);
        p->integer(p, (int64_t)sn->slug);
        p->text(p, sn->region);
        p->integer(p, sn->policy.set);
        p->text(p, classes);
        p->text(p, name_or_empty(isolation_class_name(sn->policy.default_class)));
        p->text(p, backends);
        p->integer(p, sn->deploy_approval);
        p->integer(p, sn->created_at);
        p->text(p, sn->devices.set ? sn->devices.allowed : NULL);
        p->text(p, sn->network.set ? egress_mode_name(sn->network.egress) : NULL);
        p->text(p, sn->network.set ? sn->network.cidrs : "");
}

void store_workload_write(struct store_params *p, const struct idyl_workload *w)
{
        p->integer(p, (int64_t)w->subnet);
        p->text(p, w->name);
        p->integer(p, w->revision);
        p->text(p, w->spec ? w->spec : "{}");
        p->text(p, workload_phase_name(w->phase));
        p->text(p, name_or_empty(isolation_class_name(w->isolation)));
        p->text(p, isolation_source_name(w->source));
        p->text(p, w->node);
        p->text(p, w->runtime_profile);
        p->text(p, w->message);
        p->text(p, w->placement);
        p->integer(p, w->restarts);
        p->integer(p, w->created_at);
        p->integer(p, w->updated_at);
        p->text(p, w->platform);
        p->integer(p, w->cpu_milli);
        p->integer(p, w->memory_bytes);
        p->integer(p, w->gpus);
        p->text(p, w->devices);
        p->text(p, w->ip);
}

void store_node_write(struct store_params *p, const struct idyl_node *nd)
{
        p->integer(p, (int64_t)nd->subnet);
        p->text(p, nd->name);
        p->text(p, node_admission_name(nd->admission));
        p->integer(p, nd->simulated);
        p->text(p, name_or_empty(runtime_profile_name(nd->profile)));
        p->text(p, nd->provider);
        p->text(p, nd->handler);
        p->text(p, name_or_empty(isolation_class_name(nd->isolation)));
        p->text(p, name_or_empty(vmm_backend_name(nd->backend)));
        p->integer(p, nd->runtime_ready);
        p->text(p, nd->reason);
        p->integer(p, nd->microvm_gpu);
        p->text(p, nd->platform);
        p->integer(p, nd->cpu_milli);
        p->integer(p, nd->memory_bytes);
        p->integer(p, nd->gpus);
        p->integer(p, nd->last_heartbeat);
        p->integer(p, nd->down);
        p->integer(p, nd->assign_version);
        p->integer(p, nd->created_at);
        p->text(p, nd->devices);
        p->integer(p, (int)nd->eligibility);
}

/* ---- pages ----------------------------------------------------------------- */

int store_page_check(const struct store_page *pg, int (*check)(const char *, struct idyl_err *),
                     struct idyl_err *err)
{
        if (pg->limit < 1)
                return idyl_err_set(err, IDYL_E_INVALID, "invalid page limit %zu", pg->limit);
        if (!pg->after[0] || !check || check(pg->after, NULL) == 0)
                return 0;
        return idyl_err_set(err, IDYL_E_INVALID, "invalid page key \"%.80s\"", pg->after);
}

bool store_page_trim(const struct store_page *pg, void *items, size_t size, size_t *n,
                     void (*release_one)(void *item))
{
        if (*n <= pg->limit)
                return false;
        for (size_t i = pg->limit; release_one && i < *n; i++)
                release_one((char *)items + i * size);
        *n = pg->limit;
        return true;
}

void store_page_end_named(struct store_page *pg, const struct store_named_items *k, void *items,
                          size_t *n)
{
        pg->next[0] = '\0';
        if (store_page_trim(pg, items, k->size, n, k->release_one))
                snprintf(pg->next, sizeof(pg->next), "%s",
                         (const char *)items + (*n - 1) * k->size + k->name_offset);
}

static void release_one_workload(void *item)
{
        workload_release(item);
}

static void release_one_secret(void *item)
{
        secret_release(item);
}

const struct store_named_items store_workload_names = {sizeof(struct idyl_workload),
                                                       offsetof(struct idyl_workload, name),
                                                       workload_name_check, release_one_workload};
const struct store_named_items store_node_names = {
    sizeof(struct idyl_node), offsetof(struct idyl_node, name), node_name_check, NULL};
const struct store_named_items store_secret_names = {sizeof(struct idyl_secret),
                                                     offsetof(struct idyl_secret, name),
                                                     secret_name_check, release_one_secret};

/* Both parts are decimal, without sign or leading zeros; the insertion
 * number is positive. */
static int decimal_part(const char *s, size_t len, int64_t *out)
{
        int64_t v = 0;

        if (len == 0 || len > 18 || (len > 1 && s[0] == '0'))
                return -1;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        *out = v;
        return 0;
}

int store_token_key_parse(const char *key, int64_t *created_at, int64_t *seq)
{
        const char *dot = strchr(key, '.');

        if (!*key) {
                *created_at = INT64_MIN;
                *seq = 0;
                return 0;
        }
        if (!dot || decimal_part(key, (size_t)(dot - key), created_at) < 0 ||
            decimal_part(dot + 1, strlen(dot + 1), seq) < 0 || *seq < 1)
                return -1;
        return 0;
}

int store_token_page_finish(struct store_page *pg, struct store_keyed_token *rows,
                            struct idyl_token **out, size_t *n, struct idyl_err *err)
{
        struct idyl_token *tokens = NULL;

        pg->next[0] = '\0';
        if (store_page_trim(pg, rows, sizeof(*rows), n, NULL))
                snprintf(pg->next, sizeof(pg->next), "%" PRId64 ".%" PRId64,
                         rows[*n - 1].token.created_at, rows[*n - 1].seq);
        if (*n) {
                tokens = calloc(*n, sizeof(*tokens));
                if (!tokens) {
                        free(rows);
                        *n = 0;
                        return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                }
        }
        for (size_t i = 0; i < *n; i++)
                tokens[i] = rows[i].token;
        free(rows);
        *out = tokens;
        return 0;
}
