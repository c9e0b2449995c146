/* Backend selection and the names shared by every store. */
#include "store/store.h"
#include "util/array.h"
#include "util/enumname.h"

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

        return p && p->st == st && !p->written ? p : NULL;
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
