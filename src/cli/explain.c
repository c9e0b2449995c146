/* idyl workload explain NAME --subnet S: why a workload waits or where it
 * went (GET .../explain): each filter with the nodes it removed and a few
 * of their names, the exhausted resource, and what would let it place. */
#include "cli/cli.h"

#include <string.h>

#include "core/subnet.h"
#include "core/workload.h"

/* "a, b, c" and "+N more" past the names the server gave. */
static void node_names(const json_t *filter, char *buf, size_t size)
{
        const json_t *nodes = json_object_get(filter, "nodes"), *n;
        size_t i, len = 0, removed = (size_t)json_integer_value(json_object_get(filter, "removed"));

        buf[0] = '\0';
        json_array_foreach(nodes, i, n)
        {
                int w =
                    snprintf(buf + len, size - len, "%s%s", i ? ", " : "", json_string_value(n));
                if (w < 0 || (size_t)w >= size - len)
                        return;
                len += (size_t)w;
        }
        if (removed > json_array_size(nodes))
                snprintf(buf + len, size - len, " (+%zu more)", removed - json_array_size(nodes));
}

static void explain_table(FILE *f, const json_t *v)
{
        static const char *const header[] = {"FILTER", "REMOVED", "NODES"};
        const json_t *filters = json_object_get(v, "filters"), *flt;
        const char *node = json_string_value(json_object_get(v, "node"));
        const char *outcome = json_string_value(json_object_get(v, "outcome"));
        const char *exhausted = json_string_value(json_object_get(v, "exhausted"));
        struct table t;
        size_t i;

        fprintf(f, "phase:     %s\n", json_string_value(json_object_get(v, "phase")));
        if (outcome)
                fprintf(f, "outcome:   %s (%lld nodes evaluated)%s%s\n", outcome,
                        (long long)json_integer_value(json_object_get(v, "evaluated")),
                        node ? ", node " : "", node ? node : "");
        if (json_array_size(filters)) {
                fputc('\n', f);
                table_init(&t, 3);
                table_row(&t, header);
                json_array_foreach(filters, i, flt)
                {
                        char removed[24], names[512];
                        const char *row[3] = {json_string_value(json_object_get(flt, "code")),
                                              removed, names};

                        snprintf(removed, sizeof(removed), "%lld",
                                 (long long)json_integer_value(json_object_get(flt, "removed")));
                        node_names(flt, names, sizeof(names));
                        table_row(&t, row);
                }
                table_print(f, &t);
                table_release(&t);
                fputc('\n', f);
        }
        if (exhausted)
                fprintf(f, "exhausted: %s\n", exhausted);
        fprintf(f, "hint:      %s\n", json_string_value(json_object_get(v, "hint")));
}

static int explain(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        const char *subnet = cli_str(a, "subnet"), *name = a->pos[0];
        char path[200];
        json_t *out = NULL;
        uint64_t slug;
        int rc;

        if (!subnet)
                return idyl_err_set(err, IDYL_E_USAGE, "--subnet is required");
        if (subnet_slug_parse(subnet, &slug, err) < 0 || workload_name_check(name, err) < 0)
                return idyl_err_set(err, IDYL_E_NOT_FOUND,
                                    "workload \"%s\" not found in subnet \"%s\"", name, subnet);
        snprintf(path, sizeof(path), "/v1/subnets/%s/workloads/%s/explain", subnet, name);
        rc = api_call(ctx, "GET", path, NULL, &out, err);
        if (rc == 0)
                rc = output_print(a->output, out, explain_table, err);
        json_decref(out);
        return rc;
}

const struct cli_command explain_commands[] = {
    {"workload", "explain", explain, cli_workload_subnet_opts, "NAME", 1, 1, CMD_API | CMD_OUTPUT,
     "Explain why a workload waits, or where it went.\n"
     "Each filter with the nodes it removed, the exhausted resource, and what would let it place."},
};

const size_t explain_ncommands = sizeof(explain_commands) / sizeof(explain_commands[0]);
