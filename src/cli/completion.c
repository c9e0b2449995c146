/* What the command table says about itself, for shells and man: `idyl
 * completion bash` prints a bash completion script, and cli_man_write
 * (run at build time by idyl-mangen) writes the man pages. Both walk
 * cli_groups, so they cannot drift from the commands. */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/workload.h"
#include "util/version.h"

/* ---- bash ----------------------------------------------------------------- */

#define EACH_COMMAND(c)                                                                            \
        for (size_t g_ = 0; g_ < cli_ngroups; g_++)                                                \
                for (const struct cli_command *c = cli_groups[g_].cmds;                            \
                     c < cli_groups[g_].cmds + *cli_groups[g_].n; c++)

/* The nouns (and top-level verbs), each once, in table order. */
static void print_nouns(FILE *f)
{
        const char *last = NULL;

        EACH_COMMAND(c)
        {
                if (last && strcmp(last, c->noun) == 0)
                        continue;
                fprintf(f, " %s", c->noun);
                last = c->noun;
        }
}

static void print_options(FILE *f, const struct cli_command *c)
{
        for (size_t i = 0; c->opts && c->opts[i].name; i++) {
                fprintf(f, " --%s", c->opts[i].name);
                if (c->opts[i].short_name)
                        fprintf(f, " -%c", c->opts[i].short_name);
        }
        if (c->flags & CMD_OUTPUT)
                fputs(" --output -o", f);
        if (c->flags & CMD_API)
                fputs(" --addr --token", f);
        fputs(" --help", f);
}

static void print_bash(FILE *f)
{
        fputs("# bash completion for idyl, generated from its command table by\n"
              "# `idyl completion bash`. Load it with: source <(idyl completion bash)\n"
              "_idyl() {\n"
              "\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
              "\tlocal noun=${COMP_WORDS[1]} verb=${COMP_WORDS[2]} words= cmd\n"
              "\tif [ \"$COMP_CWORD\" -eq 1 ]; then\n\t\twords=\"",
              f);
        print_nouns(f);
        fputs(
            "\"\n\t\tCOMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n\t\treturn\n\tfi\n"
            "\tcase $prev in\n"
            "\t-o | --output) COMPREPLY=($(compgen -W \"table wide name yaml json\" -- \"$cur\")); "
            "return ;;\n\t--for) COMPREPLY=($(compgen -W \"",
            f);
        for (int p = 0; p < PHASE__COUNT; p++)
                fprintf(f, "%s%s", p ? " " : "", workload_phase_name((enum workload_phase)p));
        fputs("\" -- \"$cur\")); return ;;\n\tesac\n"
              "\t# the verbs of a noun\n\tif [ \"$COMP_CWORD\" -eq 2 ]; then\n\t\tcase $noun in\n",
              f);
        {
                const char *last = NULL;

                EACH_COMMAND(c)
                {
                        if (!c->verb)
                                continue;
                        if (!last || strcmp(last, c->noun) != 0)
                                fprintf(f, "%s\t\t%s) words=\"", last ? "\" ;;\n" : "", c->noun);
                        fprintf(f, " %s", c->verb);
                        last = c->noun;
                }
                if (last)
                        fputs("\" ;;\n", f);
        }
        fputs("\t\tesac\n\t\tif [ -n \"$words\" ]; then\n"
              "\t\t\tCOMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n\t\t\treturn\n\t\tfi\n\tfi\n"
              "\t# the options of a command (a top-level verb is its noun alone)\n"
              "\tcmd=\"$noun $verb\"\n\tcase $cmd in\n",
              f);
        EACH_COMMAND(c)
        {
                if (c->verb)
                        fprintf(f, "\t\"%s %s\") words=\"", c->noun, c->verb);
                else
                        fprintf(f, "\t\"%s \"*) words=\"", c->noun);
                print_options(f, c);
                fputs("\" ;;\n", f);
        }
        fputs("\tesac\n\tif [[ $cur == -* ]]; then\n"
              "\t\tCOMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n\tfi\n}\n"
              "complete -o default -F _idyl idyl\n",
              f);
}

static int completion(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        (void)ctx;
        if (strcmp(a->pos[0], "bash") != 0)
                return idyl_err_set(err, IDYL_E_USAGE, "unsupported shell \"%s\": want bash",
                                    a->pos[0]);
        print_bash(stdout);
        return 0;
}

const struct cli_command completion_commands[] = {
    {"completion", NULL, completion, NULL, "SHELL", 1, 1, 0,
     "Print the shell completion script for SHELL (bash): source <(idyl completion bash)."},
};

const size_t completion_ncommands = sizeof(completion_commands) / sizeof(completion_commands[0]);

/* ---- man pages ------------------------------------------------------------ */

/* Text for a roff line: backslashes and dashes escaped, a leading dot or
 * quote kept literal, newlines joined into spaces (roff fills the lines). */
static void roff_text(FILE *f, const char *s)
{
        if (*s == '.' || *s == '\'')
                fputs("\\&", f);
        for (; *s; s++) {
                if (*s == '\n')
                        fputc(' ', f);
                else if (*s == '\\')
                        fputs("\\e", f);
                else if (*s == '-')
                        fputs("\\-", f);
                else
                        fputc(*s, f);
        }
}

/* before and after as they are, text escaped between them. */
static void roff_put(FILE *f, const char *before, const char *text, const char *after)
{
        fputs(before, f);
        roff_text(f, text);
        fputs(after, f);
}

static void command_name(const struct cli_command *c, char sep, char *buf, size_t size)
{
        snprintf(buf, size, "%s%s%s", c->noun, c->verb ? (sep == ' ' ? " " : "-") : "",
                 c->verb ? c->verb : "");
}

static void man_option(FILE *f, const char *name, const char *argname, const char *help)
{
        fputs(argname ? ".TP\n.BI \"\\-\\-" : ".TP\n.B \\-\\-", f);
        roff_text(f, name);
        if (argname) {
                fputs(" \" \"", f);
                roff_text(f, argname);
                fputc('"', f);
        }
        fputc('\n', f);
        roff_text(f, help);
        fputc('\n', f);
}

static void man_command(FILE *f, const struct cli_command *c)
{
        char name[96], upper[96];

        command_name(c, '-', name, sizeof(name));
        for (size_t i = 0; i <= strlen(name); i++)
                upper[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
        fprintf(f, ".TH IDYL-%s 1 \"\" \"idyl %s\" \"IDYL manual\"\n.SH NAME\nidyl\\-", upper,
                idyl_version());
        roff_put(f, "", name, " \\- ");
        roff_text(f, c->summary);
        command_name(c, ' ', name, sizeof(name));
        roff_put(f, "\n.SH SYNOPSIS\n.B idyl ", name, "");
        if (c->positional)
                roff_put(f, "\n.I ", c->positional, "");
        fputs("\n[options]", f);
        if (c->flags & CMD_REST)
                fputs(" [\\-\\- CMD ARGS...]", f);
        fputs("\n.SH DESCRIPTION\n", f);
        roff_text(f, c->summary);
        fputs("\n.SH OPTIONS\n", f);
        for (size_t i = 0; c->opts && c->opts[i].name; i++) {
                const struct cli_opt *o = &c->opts[i];
                char help[512], also[16] = "";

                if (o->short_name)
                        snprintf(also, sizeof(also), "; also -%c", o->short_name);
                snprintf(help, sizeof(help), "%s%s", o->help, also);
                man_option(f, o->name, o->argname, help);
        }
        if (c->flags & CMD_OUTPUT)
                man_option(f, "output", "FORMAT",
                           "table (default), wide, name, yaml or json; also -o");
        if (c->flags & CMD_API) {
                man_option(
                    f, "addr", "URL",
                    "idyld address, or several comma-separated tried in turn (env IDYL_ADDR)");
                man_option(f, "token", "TOKEN", "credential (env IDYL_TOKEN)");
        }
        man_option(f, "help", NULL, "show the command's help; also -h");
        fputs(".SH SEE ALSO\n.BR idyl (1)\n", f);
}

static void man_index(FILE *f)
{
        fprintf(f,
                ".TH IDYL 1 \"\" \"idyl %s\" \"IDYL manual\"\n.SH NAME\nidyl \\- the IDYL "
                "command line: subnets, workloads, nodes and credentials\n"
                ".SH SYNOPSIS\n.B idyl\n.I noun verb\n[options]\n.SH COMMANDS\n",
                idyl_version());
        EACH_COMMAND(c)
        {
                char name[96];

                command_name(c, ' ', name, sizeof(name));
                roff_put(f, ".TP\n.B idyl ", name, "\n");
                roff_text(f, c->summary);
                command_name(c, '-', name, sizeof(name));
                roff_put(f, " See\n.BR idyl\\-", name, " (1).\n");
        }
        fputs(".SH ENVIRONMENT\n"
              ".TP\n.B IDYL_ADDR\nidyld's address, e.g. http://127.0.0.1:7480\n"
              ".TP\n.B IDYL_TOKEN\nthe credential\n"
              ".TP\n.B IDYL_SUBNET\nthe default \\-\\-subnet, over the current context's\n"
              ".TP\n.B IDYL_CONFIG\nthe config file (default ~/.config/idyl/config)\n"
              ".TP\n.B IDYL_CA\nthe PEM CA that verifies an https:// address\n"
              ".TP\n.B IDYL_NODE_DIR\nthe node agent's state directory\n"
              ".TP\n.B IDYL_LOG_FORMAT\ntext or json, for the node agent's log\n"
              ".SH EXIT STATUS\n0 on success, 1 on failure, 2 for usage errors; "
              "\\fBidyl workload wait\\fR exits 3 when the workload does not exist.\n",
              f);
}

static int man_file(const char *dir, const char *name, const struct cli_command *c,
                    struct idyl_err *err)
{
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s.1", dir, name);
        f = fopen(path, "w");
        if (!f)
                return idyl_err_errno(err, errno, "write \"%s\"", path);
        if (c)
                man_command(f, c);
        else
                man_index(f);
        if (fclose(f) != 0)
                return idyl_err_errno(err, errno, "write \"%s\"", path);
        return 0;
}

int cli_man_write(const char *dir, struct idyl_err *err)
{
        if (man_file(dir, "idyl", NULL, err) < 0)
                return -1;
        EACH_COMMAND(c)
        {
                char name[96], file[104];

                command_name(c, '-', name, sizeof(name));
                snprintf(file, sizeof(file), "idyl-%s", name);
                if (man_file(dir, file, c, err) < 0)
                        return -1;
        }
        return 0;
}
