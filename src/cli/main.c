/* idyl: finds the command for "idyl NOUN VERB" (or a top-level verb such as
 * "deploy") in the table, parses its options, runs it, and is the only place
 * that prints an error. Exit 0 ok, 1 failed, 2 usage. */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/version.h"

static void usage(FILE *f)
{
        fprintf(f, "usage: idyl <noun> <verb> [options]\n\ncommands:\n");
        for (size_t g = 0; g < cli_ngroups; g++)
                for (size_t i = 0; i < *cli_groups[g].n; i++) {
                        const struct cli_command *c = &cli_groups[g].cmds[i];
                        char name[64];
                        const char *nl = strchr(c->summary, '\n');
                        snprintf(name, sizeof(name), "%s%s%s", c->noun, c->verb ? " " : "",
                                 c->verb ? c->verb : "");
                        fprintf(f, "  %-20s %.*s\n", name,
                                nl ? (int)(nl - c->summary) : (int)strlen(c->summary), c->summary);
                }
        fprintf(f, "\nRun \"idyl <noun> <verb> --help\" for a command's options.\n");
}

/* Finds the command; *consumed is how many argv words named it. */
static const struct cli_command *find_command(int argc, char **argv, int *consumed,
                                              bool *noun_known)
{
        *noun_known = false;
        for (size_t g = 0; g < cli_ngroups; g++)
                for (size_t i = 0; i < *cli_groups[g].n; i++) {
                        const struct cli_command *c = &cli_groups[g].cmds[i];
                        if (strcmp(c->noun, argv[1]) != 0)
                                continue;
                        *noun_known = true;
                        if (!c->verb) {
                                *consumed = 1;
                                return c;
                        }
                        if (argc > 2 && strcmp(c->verb, argv[2]) == 0) {
                                *consumed = 2;
                                return c;
                        }
                }
        return NULL;
}

static void noun_usage(const char *noun)
{
        fprintf(stderr, "usage: idyl %s <verb> [options]\n\nverbs:\n", noun);
        for (size_t g = 0; g < cli_ngroups; g++)
                for (size_t i = 0; i < *cli_groups[g].n; i++)
                        if (strcmp(cli_groups[g].cmds[i].noun, noun) == 0)
                                fprintf(stderr, "  %s\n", cli_groups[g].cmds[i].verb);
}

static int run(const struct cli_command *cmd, int argc, char **argv)
{
        struct cli_ctx ctx = {.progname = "idyl"};
        struct idyl_err err = IDYL_ERR_INIT;
        struct cli_args args;
        int rc;

        if (cli_config_load(&ctx, &err) < 0) {
                fprintf(stderr, "error: %s\n", err.msg);
                return EXIT_USAGE;
        }
        rc = cli_parse(cmd, argc, argv, &args, &ctx, &err);
        if (rc == 0)
                rc = cmd->run(&ctx, &args, &err);
        cli_args_release(&args);
        if (rc == 1)
                return 0; /* --help */
        if (rc == 0)
                return 0;
        if (err.msg[0])
                fprintf(stderr, "error: %s\n", err.msg);
        if (ctx.exit_code)
                return ctx.exit_code;
        if (err.code == IDYL_E_USAGE) {
                fprintf(stderr, "Run \"idyl %s%s%s --help\" for usage.\n", cmd->noun,
                        cmd->verb ? " " : "", cmd->verb ? cmd->verb : "");
                return EXIT_USAGE;
        }
        return EXIT_FAILED;
}

int main(int argc, char **argv)
{
        const struct cli_command *cmd;
        bool noun_known;
        int consumed = 0, rc;

        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
            strcmp(argv[1], "help") == 0) {
                usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? EXIT_USAGE : 0;
        }
        if (strcmp(argv[1], "--version") == 0) {
                printf("idyl %s\n", idyl_version());
                return 0;
        }
        cmd = find_command(argc, argv, &consumed, &noun_known);
        if (!cmd) {
                if (noun_known &&
                    (argc < 3 || strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
                        noun_usage(argv[1]);
                        return argc < 3 ? EXIT_USAGE : 0;
                }
                if (noun_known)
                        fprintf(stderr, "error: unknown command \"idyl %s %s\"\n", argv[1],
                                argv[2]);
                else
                        fprintf(stderr, "error: unknown command \"%s\"\n", argv[1]);
                fprintf(stderr, "Run \"idyl --help\" for the list of commands.\n");
                return EXIT_USAGE;
        }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        rc = run(cmd, argc - consumed, argv + consumed);
        curl_global_cleanup();
        return rc;
}
