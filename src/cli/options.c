/* One option parser for every command, driven by the command's table. It
 * adds the shared options (--help, -o, --addr, --token) so they behave the
 * same everywhere, splits comma lists, and separates "-- CMD ARGS". */
#include "cli/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

enum { SHARED_HELP = 1000, SHARED_OUTPUT, SHARED_ADDR, SHARED_TOKEN };

static size_t count_opts(const struct cli_opt *opts)
{
        size_t n = 0;

        while (opts && opts[n].name)
                n++;
        return n;
}

static int list_add(struct cli_value *v, const char *s)
{
        char **p = realloc(v->list, (v->n + 1) * sizeof(*p));

        if (!p)
                return -1;
        v->list = p;
        v->list[v->n] = strdup(s);
        if (!v->list[v->n])
                return -1;
        v->n++;
        return 0;
}

/* Adds each comma-separated item (an empty item is kept, to be rejected). */
static int list_add_split(struct cli_value *v, const char *s)
{
        const char *p = s;

        for (;;) {
                size_t len = strcspn(p, ",");
                char *item = strndup(p, len);
                int rc = item ? list_add(v, item) : -1;

                free(item);
                if (rc < 0)
                        return -1;
                if (!p[len])
                        return 0;
                p += len + 1;
        }
}

static int store_value(const struct cli_opt *o, struct cli_value *v, const char *arg,
                       struct idyl_err *err)
{
        int rc = 0;

        v->set = true;
        switch (o->type) {
        case OPT_STRING:
                v->str = arg;
                break;
        case OPT_FLAG:
                break;
        case OPT_LIST:
                rc = list_add_split(v, arg);
                break;
        case OPT_MULTI:
                rc = list_add(v, arg);
                break;
        }
        if (rc < 0)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        return 0;
}

static void shared_option(struct option *lo, const char *name, int has_arg, int val)
{
        lo->name = name;
        lo->has_arg = has_arg;
        lo->flag = NULL;
        lo->val = val;
}

static int shared_value(int c, struct cli_args *out, struct cli_ctx *ctx, struct idyl_err *err)
{
        switch (c) {
        case SHARED_OUTPUT:
                out->output = optarg;
                return output_check(optarg, err);
        case SHARED_ADDR:
                snprintf(ctx->addr, sizeof(ctx->addr), "%s", optarg);
                return 0;
        case SHARED_TOKEN:
                snprintf(ctx->token, sizeof(ctx->token), "%s", optarg);
                ctx->have_token = true;
                return 0;
        }
        return idyl_err_set(err, IDYL_E_USAGE, "unknown option");
}

/* Splits argv at the first "--" (the command to run in a workload). */
static int split_rest(const struct cli_command *cmd, int *argc, char **argv, struct cli_args *out,
                      struct idyl_err *err)
{
        for (int i = 1; i < *argc; i++) {
                if (strcmp(argv[i], "--") != 0)
                        continue;
                if (!(cmd->flags & CMD_REST))
                        break; /* a plain end of options: getopt handles it */
                out->rest = argv + i + 1;
                out->nrest = (size_t)(*argc - i - 1);
                *argc = i;
                if (out->nrest == 0)
                        return idyl_err_set(err, IDYL_E_USAGE,
                                            "\"--\" must be followed by a command");
                return 0;
        }
        return 0;
}

/* getopt's short options: -h, -o where the command prints, and the
 * table's own short names. */
static void short_options(const struct cli_command *cmd, char *out, size_t size)
{
        size_t n = (size_t)snprintf(out, size, (cmd->flags & CMD_OUTPUT) ? ":ho:" : ":h");

        for (size_t i = 0; cmd->opts && cmd->opts[i].name && n + 3 < size; i++) {
                if (!cmd->opts[i].short_name)
                        continue;
                out[n++] = cmd->opts[i].short_name;
                if (cmd->opts[i].type != OPT_FLAG)
                        out[n++] = ':';
        }
        out[n] = '\0';
}

/* The table index of the option whose short name is c; -1 when none is.
 * Short names are letters, so they never collide with the indexes
 * getopt_long returns for long names (a table holds far fewer options). */
static int optopt_index(const struct cli_command *cmd, int c)
{
        for (size_t i = 0; c > 0 && cmd->opts && cmd->opts[i].name; i++)
                if (cmd->opts[i].short_name == c)
                        return (int)i;
        return -1;
}

static int parse_loop(const struct cli_command *cmd, int argc, char **argv, struct option *lo,
                      struct cli_args *out, struct cli_ctx *ctx, struct idyl_err *err)
{
        size_t nopts = count_opts(cmd->opts);
        char shorts[64];
        int c, idx;

        short_options(cmd, shorts, sizeof(shorts));
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, shorts, lo, &idx)) != -1) {
                if (c == 'h' || c == SHARED_HELP) {
                        cli_print_help(stdout, cmd);
                        return 1;
                }
                if (c == 'o' && (cmd->flags & CMD_OUTPUT))
                        c = SHARED_OUTPUT;
                else if (optopt_index(cmd, c) >= 0)
                        c = optopt_index(cmd, c);
                if (c == '?')
                        return idyl_err_set(err, IDYL_E_USAGE, "unknown option \"%s\"",
                                            argv[optind - 1]);
                if (c == ':')
                        return idyl_err_set(err, IDYL_E_USAGE, "option \"%s\" needs a value",
                                            argv[optind - 1]);
                if (c >= 0 && (size_t)c < nopts) {
                        if (store_value(&cmd->opts[c], &out->values[c], optarg, err) < 0)
                                return -1;
                        continue;
                }
                if (shared_value(c, out, ctx, err) < 0)
                        return -1;
        }
        out->pos = argv + optind;
        out->npos = (size_t)(argc - optind);
        return 0;
}

/* The nouns whose --subnet names where they act, so it may default to
 * $IDYL_SUBNET or the context's subnet. Elsewhere --subnet means something
 * else (a token's scope, an audit filter) and never defaults. */
static const char *const subnet_default_nouns[] = {"deploy", "workload", "node"};

static void default_subnet(const struct cli_command *cmd, struct cli_args *out,
                           const struct cli_ctx *ctx)
{
        if (!ctx->subnet[0])
                return;
        for (size_t n = 0; n < sizeof(subnet_default_nouns) / sizeof(subnet_default_nouns[0]);
             n++) {
                if (strcmp(cmd->noun, subnet_default_nouns[n]) != 0)
                        continue;
                for (size_t i = 0; cmd->opts && cmd->opts[i].name; i++)
                        if (strcmp(cmd->opts[i].name, "subnet") == 0 && !out->values[i].set) {
                                out->values[i].set = true;
                                out->values[i].str = ctx->subnet;
                        }
        }
}

int cli_parse(const struct cli_command *cmd, int argc, char **argv, struct cli_args *out,
              struct cli_ctx *ctx, struct idyl_err *err)
{
        size_t nopts = count_opts(cmd->opts), n = 0;
        struct option *lo;
        int rc;

        memset(out, 0, sizeof(*out));
        out->opts = cmd->opts;
        out->output = "table";
        out->values = calloc(nopts + 1, sizeof(*out->values));
        lo = calloc(nopts + 5, sizeof(*lo));
        if (!out->values || !lo) {
                free(lo);
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        }
        for (size_t i = 0; i < nopts; i++)
                shared_option(&lo[n++], cmd->opts[i].name,
                              cmd->opts[i].type == OPT_FLAG ? no_argument : required_argument,
                              (int)i);
        shared_option(&lo[n++], "help", no_argument, SHARED_HELP);
        if (cmd->flags & CMD_OUTPUT)
                shared_option(&lo[n++], "output", required_argument, SHARED_OUTPUT);
        if (cmd->flags & CMD_API) {
                shared_option(&lo[n++], "addr", required_argument, SHARED_ADDR);
                shared_option(&lo[n++], "token", required_argument, SHARED_TOKEN);
        }
        rc = split_rest(cmd, &argc, argv, out, err);
        if (rc == 0)
                rc = parse_loop(cmd, argc, argv, lo, out, ctx, err);
        free(lo);
        if (rc != 0)
                return rc;
        if (out->npos < cmd->npos_min)
                return idyl_err_set(err, IDYL_E_USAGE, "missing argument %s", cmd->positional);
        if (out->npos > cmd->npos_max)
                return idyl_err_set(err, IDYL_E_USAGE, "unexpected argument \"%s\"",
                                    out->pos[cmd->npos_max]);
        default_subnet(cmd, out, ctx);
        return 0;
}

void cli_args_release(struct cli_args *a)
{
        size_t nopts = count_opts(a->opts);

        for (size_t i = 0; a->values && i < nopts; i++) {
                for (size_t j = 0; j < a->values[i].n; j++)
                        free(a->values[i].list[j]);
                free(a->values[i].list);
        }
        free(a->values);
        a->values = NULL;
}

const struct cli_value *cli_value(const struct cli_args *a, const char *name)
{
        static const struct cli_value unset;

        for (size_t i = 0; a->opts && a->opts[i].name; i++)
                if (strcmp(a->opts[i].name, name) == 0)
                        return &a->values[i];
        return &unset;
}

const char *cli_str(const struct cli_args *a, const char *name)
{
        return cli_value(a, name)->str;
}

bool cli_flag(const struct cli_args *a, const char *name)
{
        return cli_value(a, name)->set;
}

static void print_opt(FILE *f, const char *name, const char *argname, const char *help)
{
        char left[64];

        snprintf(left, sizeof(left), "--%s%s%s", name, argname ? " " : "", argname ? argname : "");
        fprintf(f, "  %-32s %s\n", left, help);
}

void cli_print_help(FILE *f, const struct cli_command *cmd)
{
        fprintf(f, "usage: idyl %s%s%s%s%s [options]%s\n\n%s\n", cmd->noun, cmd->verb ? " " : "",
                cmd->verb ? cmd->verb : "", cmd->positional ? " " : "",
                cmd->positional ? cmd->positional : "",
                (cmd->flags & CMD_REST) ? " [-- CMD ARGS...]" : "", cmd->summary);
        fprintf(f, "\noptions:\n");
        for (size_t i = 0; cmd->opts && cmd->opts[i].name; i++) {
                const struct cli_opt *o = &cmd->opts[i];
                char help[512];
                snprintf(help, sizeof(help), "%s%s", o->help,
                         o->type == OPT_LIST    ? " (repeatable, or comma-separated)"
                         : o->type == OPT_MULTI ? " (repeatable)"
                                                : "");
                if (o->short_name) {
                        char name[48];

                        snprintf(name, sizeof(name), "%.40s, -%c", o->name, o->short_name);
                        print_opt(f, name, o->argname, help);
                } else {
                        print_opt(f, o->name, o->argname, help);
                }
        }
        if (cmd->flags & CMD_OUTPUT)
                print_opt(f, "output, -o", "FORMAT", "table (default), wide, name, yaml or json");
        if (cmd->flags & CMD_API) {
                print_opt(f, "addr", "URL",
                          "idyld address, or several comma-separated tried in turn (env IDYL_ADDR; "
                          "default http://127.0.0.1:7480)");
                print_opt(f, "token", "TOKEN", "credential (env IDYL_TOKEN)");
        }
        print_opt(f, "help, -h", NULL, "show this help");
}
