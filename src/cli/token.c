/* idyl token create|list|revoke: operators mint credentials for the three
 * roles, optionally scoped to one subnet. The secret is printed once, by
 * create; list shows ids, never secrets. */
#include "cli/cli.h"

#include <string.h>

#include "core/subnet.h"

static const struct cli_opt create_opts[] = {
    {"role", OPT_STRING, "ROLE", "operator, author or provider (required)"},
    {"subnet", OPT_STRING, "SUBNET", "scope the token to one subnet (a provider join token)"},
    OPT_END,
};

static const struct cli_opt no_opts[] = {OPT_END};

static const char *str_or_dash(const json_t *o, const char *key)
{
        const char *s = json_string_value(json_object_get(o, key));

        return s && *s ? s : "-";
}

static void token_row(struct table *t, const json_t *o)
{
        const char *cells[] = {str_or_dash(o, "id"), str_or_dash(o, "role"),
                               str_or_dash(o, "subnet"), str_or_dash(o, "node"),
                               str_or_dash(o, "createdAt")};

        table_row(t, cells);
}

static void token_table(FILE *f, const json_t *v)
{
        static const char *const head[] = {"ID", "ROLE", "SUBNET", "NODE", "CREATED"};

        table_print_each(f, v, head, 5, token_row);
}

/* The new token: its row, then the secret on a line of its own. */
static void created_table(FILE *f, const json_t *v)
{
        token_table(f, v);
        fprintf(f, "\ntoken: %s\n(shown once: store it now)\n", str_or_dash(v, "token"));
}

static int token_create(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        const char *role = cli_str(a, "role"), *subnet = cli_str(a, "subnet");
        json_t *body, *out = NULL;
        uint64_t slug;
        int rc;

        if (!role)
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "--role is required: operator, author or provider");
        if (strcmp(role, "operator") != 0 && strcmp(role, "author") != 0 &&
            strcmp(role, "provider") != 0)
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "invalid --role \"%s\": want operator, author or provider",
                                    role);
        if (subnet && subnet_slug_parse(subnet, &slug, err) < 0)
                return -1;
        body = json_pack("{s:s}", "role", role);
        if (subnet)
                json_object_set_new(body, "subnet", json_string(subnet));
        rc = api_call(ctx, "POST", "/v1/tokens", body, &out, err);
        json_decref(body);
        if (rc == 0)
                rc = output_print(a->output, out, created_table, err);
        json_decref(out);
        return rc;
}

static int token_list(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        json_t *out = NULL;
        int rc;

        if (api_list(ctx, "/v1/tokens", &out, err) < 0)
                return -1;
        rc = output_print(a->output, out, token_table, err);
        json_decref(out);
        return rc;
}

static int token_revoke(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        const char *id = a->pos[0];
        char path[128];

        /* ids are hex digits; anything else must not reach the URL */
        if (!*id || strlen(id) > 64 || strspn(id, "0123456789abcdef") != strlen(id))
                return idyl_err_set(err, IDYL_E_NOT_FOUND, "token \"%.80s\" not found", id);
        snprintf(path, sizeof(path), "/v1/tokens/%s", id);
        if (api_call(ctx, "DELETE", path, NULL, NULL, err) < 0)
                return -1;
        printf("token \"%s\" revoked\n", id);
        return 0;
}

const struct cli_command token_commands[] = {
    {"token", "create", token_create, create_opts, NULL, 0, 0, CMD_API | CMD_OUTPUT,
     "Create a credential for a role, optionally scoped to a subnet (operator).\n"
     "The token is shown once."},
    {"token", "list", token_list, no_opts, NULL, 0, 0, CMD_API | CMD_OUTPUT,
     "List credentials by id, role and scope; never their secrets (operator)."},
    {"token", "revoke", token_revoke, no_opts, "ID", 1, 1, CMD_API,
     "Revoke a credential; it stops working at once (operator)."},
};

const size_t token_ncommands = sizeof(token_commands) / sizeof(token_commands[0]);
