/* idyl version: the CLI's version and, when idyld answers, the server's
 * (GET /v1/status), as kubectl version prints both. */
#include "cli/cli.h"

#include <stdio.h>

#include "util/version.h"

static const struct cli_opt version_opts[] = {
    {"client", OPT_FLAG, NULL, "only the CLI's version; do not ask idyld"},
    OPT_END,
};

static void version_table(FILE *f, const json_t *v)
{
        const char *server = json_string_value(json_object_get(v, "server"));

        fprintf(f, "idyl %s\n", json_string_value(json_object_get(v, "client")));
        if (server)
                fprintf(f, "idyld %s\n", server);
}

static int version(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        json_t *out = json_pack("{s:s}", "client", idyl_version()), *status = NULL;
        struct idyl_err ignored = IDYL_ERR_INIT;
        int rc;

        /* the server's version is a bonus: no server is no error */
        if (!cli_flag(a, "client") && ctx->have_token &&
            api_call(ctx, "GET", "/v1/status", NULL, &status, &ignored) == 0)
                json_object_set(out, "server", json_object_get(status, "version"));
        rc = output_print(a->output, out, version_table, err);
        json_decref(status);
        json_decref(out);
        return rc;
}

const struct cli_command version_commands[] = {
    {"version", NULL, version, version_opts, NULL, 0, 0, CMD_API | CMD_OUTPUT,
     "Print the CLI's version, and idyld's when it answers."},
};

const size_t version_ncommands = sizeof(version_commands) / sizeof(version_commands[0]);
