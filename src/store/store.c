/* Backend selection and the names shared by every store. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

static const char *const role_names[ROLE__COUNT] = {
    [ROLE_OPERATOR] = "operator",
    [ROLE_AUTHOR] = "author",
    [ROLE_PROVIDER] = "provider",
};

const char *idyl_role_name(enum idyl_role r)
{
        if ((int)r <= 0 || r >= ROLE__COUNT)
                return "none";
        return role_names[r];
}

enum idyl_role idyl_role_from_name(const char *s)
{
        for (int i = 1; s && i < ROLE__COUNT; i++)
                if (strcmp(role_names[i], s) == 0)
                        return (enum idyl_role)i;
        return ROLE_NONE;
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
