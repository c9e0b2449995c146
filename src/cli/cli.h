/* The idyl CLI: a table of commands, each with its options declared as data
 * for one shared parser (so every command has the same --help), one file per
 * noun. Handlers get the parsed arguments and a context that reaches the API;
 * only main prints errors. */
#ifndef IDYL_CLI_H
#define IDYL_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "util/err.h"

/* Exit codes: distinct for usage errors, as the spec asks. */
#define EXIT_FAILED 1
#define EXIT_USAGE  2

enum cli_opt_type {
        OPT_STRING, /* --name VALUE; the last one wins */
        OPT_LIST,   /* repeatable; comma-separated values are split */
        OPT_MULTI,  /* repeatable; values kept whole (--env K=V) */
        OPT_FLAG,   /* --flag */
};

struct cli_opt {
        const char *name; /* long name, without "--" */
        enum cli_opt_type type;
        const char *argname; /* NULL for flags */
        const char *help;
        char short_name; /* -X as well as --name; 0: none */
};

#define OPT_END                                                                                    \
        {                                                                                          \
                NULL, OPT_FLAG, NULL, NULL                                                         \
        }

/* The options of a command on one workload that takes only its --subnet
 * (workload delete, events, explain, exec); cli/workload.c. */
extern const struct cli_opt cli_workload_subnet_opts[];

/* The value of one option after parsing. */
struct cli_value {
        bool set;
        const char *str; /* OPT_STRING: borrowed from argv */
        char **list;     /* OPT_LIST/OPT_MULTI: owned */
        size_t n;
};

struct cli_args {
        const struct cli_opt *opts; /* the command's table, OPT_END-terminated */
        struct cli_value *values;   /* parallel to opts; owned */
        char **pos;                 /* positional arguments (borrowed) */
        size_t npos;
        char **rest; /* after "--" (borrowed); NULL when absent */
        size_t nrest;
        const char *output; /* -o: "table" (default), "wide", "name", "yaml" or "json" */
};

/* Value lookups by option name; the name must be in the command's table. */
const char *cli_str(const struct cli_args *a, const char *name);
const struct cli_value *cli_value(const struct cli_args *a, const char *name);
bool cli_flag(const struct cli_args *a, const char *name);

/* Where the API is and who we are: flags > environment > config file. */
struct cli_ctx {
        char addr[512];
        char token[256];
        bool have_token;
        char ca[4096]; /* PEM CA bundle that verifies an https:// addr; "": system store */
        const char *progname;
        char subnet[64]; /* default --subnet: $IDYL_SUBNET, else the context's; "" for none */
        int exit_code;   /* set by a command whose failure has an exit code of its own */
};

enum cli_cmd_flags {
        CMD_OUTPUT = 1 << 0, /* takes -o table|yaml|json */
        CMD_API = 1 << 1,    /* talks to idyld: --addr/--token */
        CMD_REST = 1 << 2,   /* takes "-- CMD ARGS..." */
};

struct cli_command {
        const char *noun; /* "subnet"; the verb alone for top-level verbs */
        const char *verb; /* "create"; NULL for top-level verbs ("deploy") */
        int (*run)(struct cli_ctx *ctx, struct cli_args *args, struct idyl_err *err);
        const struct cli_opt *opts;
        const char *positional; /* usage text of positionals, e.g. "SUBNET" */
        size_t npos_min, npos_max;
        unsigned flags;
        const char *summary;
};

/* ---- options.c ---------------------------------------------------------- */
/* Parses argv (after noun and verb) for cmd. Returns 0, 1 when --help was
 * printed, or -1 with a usage message in err (IDYL_E_USAGE). */
int cli_parse(const struct cli_command *cmd, int argc, char **argv, struct cli_args *out,
              struct cli_ctx *ctx, struct idyl_err *err);
void cli_args_release(struct cli_args *a);
void cli_print_help(FILE *f, const struct cli_command *cmd);

/* ---- config.c ----------------------------------------------------------- */
/* Fills addr/token from environment and the config file; flags come later. */
int cli_config_load(struct cli_ctx *ctx, struct idyl_err *err);
/* The config file's path ("" when there is no home to hold one). */
void cli_config_path(char *buf, size_t size);
/* Splits one config line in place: a "[context NAME]" section (*value is
 * NAME), a "key = value" pair, a blank or comment line, or a bad one. */
enum { CONFIG_LINE_BLANK, CONFIG_LINE_SECTION, CONFIG_LINE_KEY, CONFIG_LINE_BAD };
int cli_config_line(char *line, char **key, char **value);

struct output_tables;

/* "90s", "5m", "1h", "500ms" or bare seconds -> milliseconds in (0, 24h];
 * IDYL_E_USAGE naming `flag` otherwise (cli/wait.c). */
int cli_duration_parse(const char *flag, const char *s, int64_t *ms, struct idyl_err *err);

/* Follows the API watch at path (param=VERSION&wait=S is appended) and
 * prints `field` of each answer: the table once, then a line per change
 * (cli/watch.c). Returns only on an error. */
int cli_watch(struct cli_ctx *ctx, const char *format, const char *path, const char *param,
              const char *field, const struct output_tables *tables, struct idyl_err *err);

/* ---- client.c ----------------------------------------------------------- */
/* Calls the API: method, path ("/v1/subnets"), optional body. On 2xx *out
 * (when not NULL) gets the parsed JSON (NULL for an empty body; the caller
 * decrefs). Warnings the server sends are printed on stderr. On an error
 * status err carries the server's code and message. */
int api_call(struct cli_ctx *ctx, const char *method, const char *path, json_t *body, json_t **out,
             struct idyl_err *err);
/* api_call, then prints the answer in --output's format, `table` for table
 * and wide. Takes body (may be NULL). */
int api_print(struct cli_ctx *ctx, struct cli_args *a, const char *method, const char *path,
              json_t *body, void (*table)(FILE *, const json_t *), struct idyl_err *err);
/* The same with a wide table for -o wide. */
int api_print_tables(struct cli_ctx *ctx, struct cli_args *a, const char *method, const char *path,
                     json_t *body, const struct output_tables *t, struct idyl_err *err);

/* GETs a list route (path without a query) page by page (?limit and
 * ?continue, SPEC 9) and gives every item as one new array in *out. Pages
 * hold CLI_PAGE_SIZE items, or $IDYL_PAGE_SIZE (1 to 1000; for tests). */
#define CLI_PAGE_SIZE 500
int api_list(struct cli_ctx *ctx, const char *path, json_t **out, struct idyl_err *err);
/* api_list, then prints the array as api_print_tables does. */
int api_print_list(struct cli_ctx *ctx, struct cli_args *a, const char *path,
                   const struct output_tables *t, struct idyl_err *err);

/* "/v1/subnets/SUBNET/COLLECTION[/NAME][SUFFIX]" for --subnet, which is
 * required and checked (it goes into the URL); name and suffix may be NULL.
 * The caller checks name. */
int api_subnet_path(const struct cli_args *a, const char *collection, const char *name,
                    const char *suffix, char *buf, size_t size, struct idyl_err *err);

/* ---- output.c ----------------------------------------------------------- */
/* A command's tables: `table` for people, `wide` (-o wide) with more
 * columns; NULL wide: -o wide prints the table. */
struct output_tables {
        void (*table)(FILE *f, const json_t *v);
        void (*wide)(FILE *f, const json_t *v);
};

/* Checks -o; IDYL_E_USAGE naming the valid values when unknown. */
int output_check(const char *format, struct idyl_err *err);
/* The table function -o `format` prints with ("table" or "wide"). */
void (*output_table_of(const char *format, const struct output_tables *t))(FILE *, const json_t *);
/* -o name: each object's name (its "name", else "slug", else "id"), one a
 * line, as kubectl's -o name does without the kind (idyl's commands take
 * bare names). */
void output_names(FILE *f, const json_t *v);
/* Prints v as pretty JSON or YAML; 0 on success. */
int output_json(FILE *f, const json_t *v);
int output_yaml(FILE *f, const json_t *v, struct idyl_err *err);
/* Prints v in `format`: json, yaml, name, or table(f, v) for table and wide. */
int output_print(const char *format, const json_t *v, void (*table)(FILE *f, const json_t *v),
                 struct idyl_err *err);
/* The same with a wide table for -o wide. */
int output_print_tables(const char *format, const json_t *v, const struct output_tables *t,
                        struct idyl_err *err);

/* A text table: columns padded to their widest cell, two spaces apart. */
struct table {
        size_t ncols, nrows, cap;
        char **cells; /* nrows * ncols, owned */
};
void table_init(struct table *t, size_t ncols);
/* Adds a row of ncols strings (copied; NULL prints "-"). */
void table_row(struct table *t, const char *const *cells);
void table_print(FILE *f, const struct table *t);
void table_release(struct table *t);

/* v as a list for a table: a new reference to v when it is an array, else a
 * new one-element array holding it (`get NAME` and `list` share a table). */
json_t *output_rows(const json_t *v);

/* Prints v (an object, or an array of them) as a table of ncols columns:
 * header, then the row add_row adds (table_row) for each item. */
/* A JSON array of strings as "a,b" into buf (cut at size); "" when empty. */
void output_list_cell(const json_t *arr, char *buf, size_t size);
void table_print_each(FILE *f, const json_t *v, const char *const *header, size_t ncols,
                      void (*add_row)(struct table *t, const json_t *item));

/* "5m", "3h", "2d" since an RFC 3339 time or unix seconds. */
void output_age(long long since_unix, char *buf, size_t size);

/* ---- nouns -------------------------------------------------------------- */
/* Every command, by group (cli/commands.c). */
struct cli_command_group {
        const struct cli_command *cmds;
        const size_t *n;
};
extern const struct cli_command_group cli_groups[];
extern const size_t cli_ngroups;
extern const struct cli_command completion_commands[];
extern const size_t completion_ncommands;
/* Writes idyl.1 and one idyl-NOUN[-VERB].1 per command into dir (cli/completion.c). */
int cli_man_write(const char *dir, struct idyl_err *err);
extern const struct cli_command subnet_commands[];
extern const size_t subnet_ncommands;
extern const struct cli_command workload_commands[];
extern const size_t workload_ncommands;
extern const struct cli_command node_commands[];
extern const size_t node_ncommands;
extern const struct cli_command node_agent_commands[];
extern const size_t node_agent_ncommands;
extern const struct cli_command token_commands[];
extern const size_t token_ncommands;
extern const struct cli_command audit_commands[];
extern const size_t audit_ncommands;
extern const struct cli_command secret_commands[];
extern const size_t secret_ncommands;
extern const struct cli_command explain_commands[];
extern const size_t explain_ncommands;
extern const struct cli_command logs_commands[];
extern const size_t logs_ncommands;
extern const struct cli_command wait_commands[];
extern const size_t wait_ncommands;
extern const struct cli_command config_commands[];
extern const size_t config_ncommands;
extern const struct cli_command version_commands[];
extern const size_t version_ncommands;

/* Starts `idyl node run` for dir in the background (stopping an agent that
 * already runs there) and waits until it holds the directory's lock. */
int node_agent_start(const char *dir, pid_t *pid, struct idyl_err *err);

/* The node directory: --node-dir, else $IDYL_NODE_DIR, else
 * /var/lib/idyl-node for root, ~/.idyl/node otherwise. */
const char *node_dir_default(const struct cli_args *a, char *buf, size_t size);

#endif
