/* Backend selection and the names shared by every store. */
#include "store/store.h"
#include "util/enumname.h"

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

int store_open(const char *where, struct idyl_store **out, struct idyl_err *err)
{
        if (strncmp(where, "postgres://", 11) == 0 || strncmp(where, "postgresql://", 13) == 0)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "--store \"postgres://...\": the PostgreSQL store is not "
                                    "available in this build yet");
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
