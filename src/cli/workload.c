/* idyl deploy, and idyl workload get|list|delete|approve|deny|events. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/subnet.h"
#include "core/workload.h"

static const struct cli_opt deploy_opts[] = {
    {"name", OPT_STRING, "NAME", "workload name, a DNS-1123 label (required)"},
    {"subnet", OPT_STRING, "SUBNET", "subnet to deploy into (required)"},
    {"platform", OPT_STRING, "OS/ARCH", "platform the image needs, e.g. linux/amd64"},
    {"isolation-class", OPT_STRING, "CLASS", "container or microvm (default: the subnet's)"},
    {"cpu", OPT_STRING, "CPU", "CPU cores, e.g. 0.5 or 500m (default 0.1)"},
    {"memory", OPT_STRING, "SIZE", "memory, e.g. 256Mi or 1Gi (default 128Mi)"},
    {"gpus", OPT_STRING, "N", "GPUs (default 0)"},
    {"env", OPT_MULTI, "K=V", "environment variable"},
    {"secret", OPT_MULTI, "NAME", "mount the subnet's secret NAME read-only at /run/secrets/NAME/"},
    {"secret-env", OPT_MULTI, "NAME", "set each key of the secret NAME as an environment variable"},
    {"device", OPT_MULTI, "PATH",
     "pass the host device PATH (allowed by the subnet's devicePolicy)"},
    {"pids-limit", OPT_STRING, "N", "most processes the workload may have (default 1024)"},
    {"stop-timeout", OPT_STRING, "DURATION", "grace between SIGTERM and SIGKILL (default 10s)"},
    {"dry-run", OPT_FLAG, NULL,
     "show admission and the node it would get, writing nothing (-o json: the would-be object)"},
    OPT_END,
};

const struct cli_opt cli_workload_subnet_opts[] = {
    {"subnet", OPT_STRING, "SUBNET", "subnet of the workload (required)"},
    OPT_END,
};

static const struct cli_opt watch_opts[] = {
    {"subnet", OPT_STRING, "SUBNET", "subnet of the workload (required)"},
    {"watch", OPT_FLAG, NULL, "after the table, print a line per change until interrupted"},
    OPT_END,
};

static const struct cli_opt decide_opts[] = {
    {"subnet", OPT_STRING, "SUBNET", "subnet of the workload (required)"},
    {"reason", OPT_STRING, "TEXT", "why; recorded in the workload's events"},
    OPT_END,
};

/* Workloads path for --subnet (checked: it goes into the URL). */
static int workloads_path(const struct cli_args *a, const char *name, const char *suffix, char *buf,
                          size_t size, struct idyl_err *err)
{
        if (api_subnet_path(a, "workloads", name, suffix, buf, size, err) < 0)
                return -1;
        if (name && workload_name_check(name, err) < 0)
                return idyl_err_set(err, IDYL_E_NOT_FOUND,
                                    "workload \"%s\" not found in subnet \"%s\"", name,
                                    cli_str(a, "subnet"));
        return 0;
}

/* Which columns a workload table shows, by index into the full row. */
struct workload_columns {
        size_t n;
        size_t col[10];
};

/* list: the short table; get: with the reason (the status message, which
 * says why it waits or where it went); wide: everything. */
static const struct workload_columns list_columns = {6, {0, 1, 2, 3, 4, 5}};
static const struct workload_columns get_columns = {7, {0, 1, 2, 3, 4, 5, 9}};
static const struct workload_columns wide_columns = {10, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}};

static void workload_rows(FILE *f, const json_t *v, const struct workload_columns *cols)
{
        static const char *const header[] = {"NAME", "IMAGE",    "CLASS",    "PHASE",   "NODE",
                                             "AGE",  "REVISION", "RESTARTS", "PROFILE", "REASON"};
        const char *cells[10];
        struct table t;
        json_t *rows;
        const json_t *w;
        size_t i;

        table_init(&t, cols->n);
        for (size_t c = 0; c < cols->n; c++)
                cells[c] = header[cols->col[c]];
        table_row(&t, cells);
        rows = output_rows(v);
        json_array_foreach(rows, i, w)
        {
                const json_t *st = json_object_get(w, "status");
                const char *created = json_string_value(json_object_get(w, "createdAt"));
                char age[32] = "", revision[24], restarts[24];
                struct tm tm = {0};
                const char *row[10];

                if (created && strptime(created, "%Y-%m-%dT%H:%M:%SZ", &tm))
                        output_age((long long)timegm(&tm), age, sizeof(age));
                snprintf(revision, sizeof(revision), "%" JSON_INTEGER_FORMAT,
                         json_integer_value(json_object_get(w, "revision")));
                snprintf(restarts, sizeof(restarts), "%" JSON_INTEGER_FORMAT,
                         json_integer_value(json_object_get(st, "restarts")));
                row[0] = json_string_value(json_object_get(w, "name"));
                row[1] = json_string_value(json_object_get(json_object_get(w, "spec"), "image"));
                row[2] =
                    json_string_value(json_object_get(json_object_get(st, "isolation"), "class"));
                row[3] = json_string_value(json_object_get(st, "phase"));
                row[4] = json_string_value(json_object_get(st, "node"));
                row[5] = age;
                row[6] = revision;
                row[7] = restarts;
                row[8] = json_string_value(json_object_get(st, "runtimeProfile"));
                row[9] = json_string_value(json_object_get(st, "message"));
                for (size_t c = 0; c < cols->n; c++)
                        cells[c] = row[cols->col[c]];
                table_row(&t, cells);
        }
        json_decref(rows);
        table_print(f, &t);
        table_release(&t);
}

static void workload_table(FILE *f, const json_t *v)
{
        workload_rows(f, v, &list_columns);
}

static void workload_get_table(FILE *f, const json_t *v)
{
        workload_rows(f, v, &get_columns);
}

static void workload_wide_table(FILE *f, const json_t *v)
{
        workload_rows(f, v, &wide_columns);
}

static const struct output_tables list_tables = {workload_table, workload_wide_table};
static const struct output_tables get_tables = {workload_get_table, workload_wide_table};

static int env_object(const struct cli_value *v, json_t **out, struct idyl_err *err)
{
        json_t *env = json_object();

        for (size_t i = 0; i < v->n; i++) {
                char *eq = strchr(v->list[i], '=');
                if (!eq || eq == v->list[i]) {
                        json_decref(env);
                        return idyl_err_set(err, IDYL_E_INVALID, "invalid --env \"%s\": want K=V",
                                            v->list[i]);
                }
                *eq = '\0';
                if (json_object_get(env, v->list[i])) {
                        idyl_err_set(err, IDYL_E_INVALID, "duplicate --env \"%s\"", v->list[i]);
                        json_decref(env);
                        return -1;
                }
                json_object_set_new(env, v->list[i], json_string(eq + 1));
                *eq = '=';
        }
        *out = env;
        return 0;
}

/* spec[field] = the repeated flag's values, when given (the server checks them). */
static void names_field(json_t *spec, const char *field, const struct cli_value *v)
{
        json_t *arr;

        if (!v->n)
                return;
        arr = json_array();
        for (size_t i = 0; i < v->n; i++)
                json_array_append_new(arr, json_string(v->list[i]));
        json_object_set_new(spec, field, arr);
}

/* The deploy request's spec from flags; the server validates every field. */
static int deploy_spec(const struct cli_args *a, json_t **out, struct idyl_err *err)
{
        json_t *spec = json_pack("{s:s}", "image", a->pos[0]), *res = json_object(), *env = NULL;
        int gpus;

        if (cli_str(a, "platform"))
                json_object_set_new(spec, "platform", json_string(cli_str(a, "platform")));
        if (cli_str(a, "isolation-class"))
                json_object_set_new(spec, "isolation",
                                    json_pack("{s:s}", "class", cli_str(a, "isolation-class")));
        if (cli_str(a, "cpu"))
                json_object_set_new(res, "cpu", json_string(cli_str(a, "cpu")));
        if (cli_str(a, "memory"))
                json_object_set_new(res, "memory", json_string(cli_str(a, "memory")));
        if (cli_str(a, "gpus")) {
                if (resource_gpus_parse(cli_str(a, "gpus"), &gpus, err) < 0)
                        goto fail;
                json_object_set_new(res, "gpus", json_integer(gpus));
        }
        json_object_set_new(spec, "resources", res);
        res = NULL;
        if (cli_str(a, "pids-limit")) {
                int64_t limit;
                if (workload_pids_limit_parse(cli_str(a, "pids-limit"), &limit, err) < 0)
                        goto fail;
                json_object_set_new(spec, "pidsLimit", json_integer(limit));
        }
        if (cli_str(a, "stop-timeout"))
                json_object_set_new(spec, "stopTimeout", json_string(cli_str(a, "stop-timeout")));
        if (env_object(cli_value(a, "env"), &env, err) < 0)
                goto fail;
        if (json_object_size(env))
                json_object_set(spec, "env", env);
        json_decref(env);
        names_field(spec, "secrets", cli_value(a, "secret"));
        names_field(spec, "secretEnv", cli_value(a, "secret-env"));
        names_field(spec, "devices", cli_value(a, "device"));
        if (a->nrest) {
                json_t *cmd = json_array();
                for (size_t i = 0; i < a->nrest; i++)
                        json_array_append_new(cmd, json_string(a->rest[i]));
                json_object_set_new(spec, "command", cmd);
        }
        *out = spec;
        return 0;
fail:
        json_decref(res);
        json_decref(spec);
        return -1;
}

static int deploy(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        json_t *spec, *body;
        char path[160];

        if (!cli_str(a, "name"))
                return idyl_err_set(err, IDYL_E_USAGE, "--name is required");
        if (workloads_path(a, NULL, NULL, path, sizeof(path), err) < 0 ||
            deploy_spec(a, &spec, err) < 0)
                return -1;
        body = json_pack("{s:s,s:o}", "name", cli_str(a, "name"), "spec", spec);
        if (cli_flag(a, "dry-run"))
                snprintf(path + strlen(path), sizeof(path) - strlen(path), "?dryRun=true");
        return api_print_tables(ctx, a, "POST", path, body, &list_tables, err);
}

static int workload_get(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        char path[200];

        if (workloads_path(a, a->pos[0], cli_flag(a, "watch") ? "/watch" : NULL, path, sizeof(path),
                           err) < 0)
                return -1;
        if (cli_flag(a, "watch"))
                return cli_watch(ctx, a->output, path, "version", "workload", &get_tables, err);
        return api_print_tables(ctx, a, "GET", path, NULL, &get_tables, err);
}

static int workload_list(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        char path[200];

        if (workloads_path(a, NULL, NULL, path, sizeof(path), err) < 0)
                return -1;
        if (cli_flag(a, "watch"))
                return cli_watch(ctx, a->output, path, "watch", "workloads", &list_tables, err);
        return api_print_list(ctx, a, path, &list_tables, err);
}

static int workload_delete(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        char path[200];

        if (workloads_path(a, a->pos[0], NULL, path, sizeof(path), err) < 0 ||
            api_call(ctx, "DELETE", path, NULL, NULL, err) < 0)
                return -1;
        printf("workload \"%s\" deleted\n", a->pos[0]);
        return 0;
}

static int decide(struct cli_ctx *ctx, struct cli_args *a, const char *verb, struct idyl_err *err)
{
        char path[200], suffix[32];
        json_t *body = json_object();

        snprintf(suffix, sizeof(suffix), "/%s", verb);
        if (workloads_path(a, a->pos[0], suffix, path, sizeof(path), err) < 0) {
                json_decref(body);
                return -1;
        }
        if (cli_str(a, "reason"))
                json_object_set_new(body, "reason", json_string(cli_str(a, "reason")));
        return api_print(ctx, a, "POST", path, body, workload_table, err);
}

static int workload_approve(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        return decide(ctx, a, "approve", err);
}

static int workload_deny(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        return decide(ctx, a, "deny", err);
}

static void event_row(struct table *t, const json_t *e)
{
        char rev[24];
        const char *row[4];

        snprintf(rev, sizeof(rev), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(e, "revision")));
        row[0] = json_string_value(json_object_get(e, "time"));
        row[1] = rev;
        row[2] = json_string_value(json_object_get(e, "type"));
        row[3] = json_string_value(json_object_get(e, "message"));
        table_row(t, row);
}

static void events_table(FILE *f, const json_t *v)
{
        static const char *const header[] = {"TIME", "REVISION", "TYPE", "MESSAGE"};

        table_print_each(f, v, header, 4, event_row);
}

static int workload_events(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        char path[200];

        if (workloads_path(a, a->pos[0], "/events", path, sizeof(path), err) < 0)
                return -1;
        return api_print(ctx, a, "GET", path, NULL, events_table, err);
}

const struct cli_command workload_commands[] = {
    {"deploy", NULL, deploy, deploy_opts, "IMAGE", 1, 1, CMD_API | CMD_OUTPUT | CMD_REST,
     "Deploy a workload, or a new revision of it (an identical spec changes nothing)."},
    {"workload", "get", workload_get, watch_opts, "NAME", 1, 1, CMD_API | CMD_OUTPUT,
     "Show a workload: spec, phase, isolation class and its source, node, message."},
    {"workload", "list", workload_list, watch_opts, NULL, 0, 0, CMD_API | CMD_OUTPUT,
     "List the workloads of a subnet."},
    {"workload", "delete", workload_delete, cli_workload_subnet_opts, "NAME", 1, 1, CMD_API,
     "Delete a workload; its node stops it and removes its containers."},
    {"workload", "approve", workload_approve, decide_opts, "NAME", 1, 1, CMD_API | CMD_OUTPUT,
     "Approve a workload waiting for deploy approval (operator)."},
    {"workload", "deny", workload_deny, decide_opts, "NAME", 1, 1, CMD_API | CMD_OUTPUT,
     "Deny a workload waiting for deploy approval; it becomes rejected (operator)."},
    {"workload", "events", workload_events, cli_workload_subnet_opts, "NAME", 1, 1,
     CMD_API | CMD_OUTPUT, "Show what happened to a workload, and why."},
};

const size_t workload_ncommands = sizeof(workload_commands) / sizeof(workload_commands[0]);
