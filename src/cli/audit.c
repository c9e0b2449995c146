/* idyl audit: the newest changes recorded by idyld (who, role, what,
 * subnet, when, result), for operators. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include "core/subnet.h"

static const struct cli_opt audit_opts[] = {
    {"subnet", OPT_STRING, "SUBNET", "only changes about this subnet"},
    {"limit", OPT_STRING, "N", "at most N records, newest first (default 100, at most 10000)"},
    OPT_END,
};

static void audit_row(struct table *t, const json_t *o)
{
        char status[16];
        const char *who = json_string_value(json_object_get(o, "token"));
        const char *cells[] = {json_string_value(json_object_get(o, "time")),
                               who && *who ? who : NULL,
                               json_string_value(json_object_get(o, "role")),
                               json_string_value(json_object_get(o, "method")),
                               json_string_value(json_object_get(o, "path")),
                               json_string_value(json_object_get(o, "subnet")),
                               status};

        snprintf(status, sizeof(status), "%d",
                 (int)json_integer_value(json_object_get(o, "status")));
        table_row(t, cells);
}

static void audit_table(FILE *f, const json_t *v)
{
        static const char *const head[] = {"TIME", "TOKEN",  "ROLE",  "METHOD",
                                           "PATH", "SUBNET", "STATUS"};

        table_print_each(f, v, head, 7, audit_row);
}

static int audit_run(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        const char *subnet = cli_str(a, "subnet"), *limit = cli_str(a, "limit");
        char path[128];
        uint64_t slug;
        char *end;
        long n = 100;

        if (subnet && subnet_slug_parse(subnet, &slug, err) < 0)
                return -1;
        if (limit) {
                n = strtol(limit, &end, 10);
                if (!*limit || *end || n < 1 || n > 10000)
                        return idyl_err_set(err, IDYL_E_USAGE,
                                            "invalid --limit \"%s\": want 1 to 10000", limit);
        }
        snprintf(path, sizeof(path), "/v1/audit?limit=%ld%s%s", n, subnet ? "&subnet=" : "",
                 subnet ? subnet : "");
        return api_print(ctx, a, "GET", path, NULL, audit_table, err);
}

const struct cli_command audit_commands[] = {
    {"audit", NULL, audit_run, audit_opts, NULL, 0, 0, CMD_API | CMD_OUTPUT,
     "Show recorded changes: who (token id and role), what, subnet, when, result (operator)."},
};

const size_t audit_ncommands = sizeof(audit_commands) / sizeof(audit_commands[0]);
