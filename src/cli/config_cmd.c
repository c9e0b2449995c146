/* idyl config set-context|get-contexts|use-context: named contexts in the
 * config file (format in cli/config.c), each an address, a credential and a
 * default subnet. The file is edited line by line, so comments and keys the
 * command does not touch stay as they are, and replaced atomically (mode
 * 0600: it holds credentials). */
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/subnet.h"

#define CONTEXT_NAME_MAX 63
#define CONFIG_LINES_MAX 10000

/* The file as lines (without their newlines). */
struct config_file {
        char path[PATH_MAX];
        char **lines; /* owned */
        size_t n;
};

static void config_file_release(struct config_file *c)
{
        for (size_t i = 0; i < c->n; i++)
                free(c->lines[i]);
        free(c->lines);
        c->lines = NULL;
        c->n = 0;
}

static int insert_line(struct config_file *c, size_t at, const char *text, struct idyl_err *err)
{
        char **p;

        if (c->n >= CONFIG_LINES_MAX)
                return idyl_err_set(err, IDYL_E_INVALID, "config \"%s\" has more than %d lines",
                                    c->path, CONFIG_LINES_MAX);
        p = realloc(c->lines, (c->n + 1) * sizeof(*p));
        if (!p)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        c->lines = p;
        memmove(c->lines + at + 1, c->lines + at, (c->n - at) * sizeof(*p));
        c->lines[at] = strdup(text);
        c->n++;
        if (!c->lines[at])
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        return 0;
}

static void remove_line(struct config_file *c, size_t at)
{
        free(c->lines[at]);
        memmove(c->lines + at, c->lines + at + 1, (c->n - at - 1) * sizeof(*c->lines));
        c->n--;
}

/* Reads the config file; a missing one is empty. Anything but a regular
 * file (IDYL_CONFIG=/dev/null) is read but never written. */
static int config_file_read(struct config_file *c, struct idyl_err *err)
{
        char line[1024];
        FILE *f;

        memset(c, 0, sizeof(*c));
        cli_config_path(c->path, sizeof(c->path));
        if (!c->path[0])
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "no config file: set IDYL_CONFIG, XDG_CONFIG_HOME or HOME");
        f = fopen(c->path, "r");
        if (!f)
                return errno == ENOENT ? 0 : idyl_err_errno(err, errno, "read \"%s\"", c->path);
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = '\0';
                if (insert_line(c, c->n, line, err) < 0) {
                        fclose(f);
                        return -1;
                }
        }
        fclose(f);
        return 0;
}

/* What line i is; key/value point into a scratch copy (valid until the next call). */
static int line_kind(const struct config_file *c, size_t i, char **key, char **value)
{
        static char scratch[1024];

        snprintf(scratch, sizeof(scratch), "%s", c->lines[i]);
        return cli_config_line(scratch, key, value);
}

/* [start, end) of the lines after "[context name]", or -1 when absent. */
static long section_find(const struct config_file *c, const char *name, size_t *end)
{
        char *key, *value;
        long start = -1;

        for (size_t i = 0; i < c->n; i++) {
                if (line_kind(c, i, &key, &value) != CONFIG_LINE_SECTION)
                        continue;
                if (start >= 0) {
                        *end = i;
                        return start;
                }
                if (strcmp(value, name) == 0)
                        start = (long)i + 1;
        }
        *end = c->n;
        return start;
}

/* The first line of the top level's key `name` in [start, end), or -1. */
static long key_find(const struct config_file *c, size_t start, size_t end, const char *name)
{
        char *key, *value;

        for (size_t i = start; i < end; i++)
                if (line_kind(c, i, &key, &value) == CONFIG_LINE_KEY && strcmp(key, name) == 0)
                        return (long)i;
        return -1;
}

/* Sets (value != NULL) or removes a key in [start, *end), keeping *end right. */
static int key_set(struct config_file *c, size_t start, size_t *end, const char *name,
                   const char *value, struct idyl_err *err)
{
        long at;
        char text[1200];
        size_t last = start;

        while ((at = key_find(c, start, *end, name)) >= 0 && !value) {
                remove_line(c, (size_t)at);
                (*end)--;
        }
        if (!value)
                return 0;
        snprintf(text, sizeof(text), "%s = %s", name, value);
        if (at >= 0) {
                free(c->lines[at]);
                c->lines[at] = strdup(text);
                return c->lines[at] ? 0 : idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        }
        for (size_t i = start; i < *end; i++)
                if (c->lines[i][strspn(c->lines[i], " \t")])
                        last = i + 1;
        if (insert_line(c, last, text, err) < 0)
                return -1;
        (*end)++;
        return 0;
}

static int mkdir_parents(const char *path, struct idyl_err *err)
{
        char dir[PATH_MAX];

        snprintf(dir, sizeof(dir), "%s", path);
        for (char *p = dir + 1; (p = strchr(p, '/')); p++) {
                *p = '\0';
                if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                        return idyl_err_errno(err, errno, "create \"%s\"", dir);
                *p = '/';
        }
        return 0;
}

/* Writes the lines to a temporary file beside the config and renames it over. */
static int config_file_write(const struct config_file *c, struct idyl_err *err)
{
        char tmp[PATH_MAX + 16];
        struct stat st;
        FILE *f;
        int fd;

        if (stat(c->path, &st) == 0 && !S_ISREG(st.st_mode))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "config \"%s\" is not a regular file: set IDYL_CONFIG to one",
                                    c->path);
        if (mkdir_parents(c->path, err) < 0)
                return -1;
        snprintf(tmp, sizeof(tmp), "%s.XXXXXX", c->path);
        fd = mkstemp(tmp);
        if (fd < 0)
                return idyl_err_errno(err, errno, "create \"%s\"", tmp);
        f = fdopen(fd, "w");
        if (!f) {
                close(fd);
                unlink(tmp);
                return idyl_err_errno(err, errno, "write \"%s\"", tmp);
        }
        for (size_t i = 0; i < c->n; i++)
                fprintf(f, "%s\n", c->lines[i]);
        if (fflush(f) != 0 || fsync(fd) != 0 || fclose(f) != 0) {
                unlink(tmp);
                return idyl_err_errno(err, errno, "write \"%s\"", tmp);
        }
        if (rename(tmp, c->path) < 0) {
                unlink(tmp);
                return idyl_err_errno(err, errno, "replace \"%s\"", c->path);
        }
        return 0;
}

static int context_name_check(const char *name, struct idyl_err *err)
{
        size_t len = strlen(name);

        if (len == 0 || len > CONTEXT_NAME_MAX ||
            strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
                len)
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "invalid context name \"%s\": want letters, digits, \".\", "
                                    "\"_\" or \"-\", at most %d",
                                    name, CONTEXT_NAME_MAX);
        return 0;
}

/* ---- set-context ---------------------------------------------------------- */

static const struct cli_opt set_opts[] = {
    {"addr", OPT_STRING, "URL", "idyld address, http://HOST:PORT or https://HOST:PORT"},
    {"token", OPT_STRING, "TOKEN", "credential (stored in the file, mode 0600)"},
    {"token-file", OPT_STRING, "FILE", "read the credential from FILE at each run instead"},
    {"subnet", OPT_STRING, "SUBNET", "default --subnet for deploy, workload and node commands"},
    {"ca", OPT_STRING, "FILE", "PEM CA that verifies an https:// address"},
    OPT_END,
};

static int check_set_args(const struct cli_args *a, struct idyl_err *err)
{
        const char *addr = cli_str(a, "addr"), *subnet = cli_str(a, "subnet");
        uint64_t slug;

        if (context_name_check(a->pos[0], err) < 0)
                return -1;
        if (cli_str(a, "token") && cli_str(a, "token-file"))
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "--token and --token-file exclude each other");
        if (addr && strncmp(addr, "http://", 7) != 0 && strncmp(addr, "https://", 8) != 0)
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "invalid --addr \"%s\": want http://HOST:PORT or "
                                    "https://HOST:PORT",
                                    addr);
        if (subnet && subnet_slug_parse(subnet, &slug, err) < 0)
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "invalid --subnet \"%s\": want a 12-digit subnet slug", subnet);
        return 0;
}

static int set_context(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        static const char *const keys[] = {"addr", "subnet", "ca"};
        struct config_file c = {0};
        char header[128];
        size_t end;
        long start;
        bool created = false;
        int rc = -1;

        (void)ctx;
        if (check_set_args(a, err) < 0 || config_file_read(&c, err) < 0)
                goto out;
        start = section_find(&c, a->pos[0], &end);
        if (start < 0) {
                snprintf(header, sizeof(header), "[context %s]", a->pos[0]);
                if ((c.n && insert_line(&c, c.n, "", err) < 0) ||
                    insert_line(&c, c.n, header, err) < 0)
                        goto out;
                start = (long)c.n;
                end = c.n;
                created = true;
        }
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                if (cli_str(a, keys[i]) &&
                    key_set(&c, (size_t)start, &end, keys[i], cli_str(a, keys[i]), err) < 0)
                        goto out;
        /* one credential: a new token replaces a token-file and the other way round */
        if (cli_str(a, "token") &&
            (key_set(&c, (size_t)start, &end, "token-file", NULL, err) < 0 ||
             key_set(&c, (size_t)start, &end, "token", cli_str(a, "token"), err) < 0))
                goto out;
        if (cli_str(a, "token-file") &&
            (key_set(&c, (size_t)start, &end, "token", NULL, err) < 0 ||
             key_set(&c, (size_t)start, &end, "token-file", cli_str(a, "token-file"), err) < 0))
                goto out;
        if (config_file_write(&c, err) < 0)
                goto out;
        printf("context \"%s\" %s in %s\n", a->pos[0], created ? "created" : "updated", c.path);
        rc = 0;
out:
        config_file_release(&c);
        return rc;
}

/* ---- use-context ---------------------------------------------------------- */

static size_t top_level_end(const struct config_file *c)
{
        char *key, *value;

        for (size_t i = 0; i < c->n; i++)
                if (line_kind(c, i, &key, &value) == CONFIG_LINE_SECTION)
                        return i;
        return c->n;
}

static int use_context(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        struct config_file c = {0};
        size_t end;
        int rc = -1;

        (void)ctx;
        if (config_file_read(&c, err) < 0)
                goto out;
        if (section_find(&c, a->pos[0], &end) < 0) {
                idyl_err_set(err, IDYL_E_NOT_FOUND,
                             "context \"%s\" not found in %s: create it with \"idyl config "
                             "set-context %s\"",
                             a->pos[0], c.path, a->pos[0]);
                goto out;
        }
        end = top_level_end(&c);
        if (key_set(&c, 0, &end, "current-context", a->pos[0], err) < 0 ||
            config_file_write(&c, err) < 0)
                goto out;
        printf("switched to context \"%s\"\n", a->pos[0]);
        rc = 0;
out:
        config_file_release(&c);
        return rc;
}

/* ---- get-contexts --------------------------------------------------------- */

/* The contexts as [{"name","current","addr","subnet","credential"}]; never
 * the credential itself. */
static json_t *contexts_json(const struct config_file *c)
{
        json_t *list = json_array(), *cur = NULL;
        char *key, *value, current[128] = "";
        size_t top = top_level_end(c);
        long at = key_find(c, 0, top, "current-context");

        if (at >= 0 && line_kind(c, (size_t)at, &key, &value) == CONFIG_LINE_KEY)
                snprintf(current, sizeof(current), "%s", value);
        for (size_t i = top; i < c->n; i++) {
                int kind = line_kind(c, i, &key, &value);

                if (kind == CONFIG_LINE_SECTION) {
                        cur = json_pack("{s:s,s:b,s:n,s:n,s:s}", "name", value, "current",
                                        strcmp(value, current) == 0, "addr", "subnet", "credential",
                                        "none");
                        json_array_append_new(list, cur);
                } else if (kind == CONFIG_LINE_KEY && cur) {
                        if (strcmp(key, "addr") == 0 || strcmp(key, "subnet") == 0)
                                json_object_set_new(cur, key, json_string(value));
                        else if (strcmp(key, "token") == 0 || strcmp(key, "token-file") == 0)
                                json_object_set_new(cur, "credential", json_string(key));
                }
        }
        return list;
}

static void context_row(struct table *t, const json_t *o)
{
        const char *row[5] = {
            json_is_true(json_object_get(o, "current")) ? "*" : "",
            json_string_value(json_object_get(o, "name")),
            json_string_value(json_object_get(o, "addr")),
            json_string_value(json_object_get(o, "subnet")),
            json_string_value(json_object_get(o, "credential")),
        };

        table_row(t, row);
}

static void contexts_table(FILE *f, const json_t *v)
{
        static const char *const header[] = {"CURRENT", "NAME", "ADDR", "SUBNET", "CREDENTIAL"};

        table_print_each(f, v, header, 5, context_row);
}

static int get_contexts(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        struct config_file c = {0};
        json_t *list;
        int rc = -1;

        (void)ctx;
        if (config_file_read(&c, err) == 0) {
                list = contexts_json(&c);
                rc = output_print(a->output, list, contexts_table, err);
                json_decref(list);
        }
        config_file_release(&c);
        return rc;
}

const struct cli_command config_commands[] = {
    {"config", "set-context", set_context, set_opts, "NAME", 1, 1, 0,
     "Create or update a named context: address, credential and default subnet."},
    {"config", "get-contexts", get_contexts, NULL, NULL, 0, 0, CMD_OUTPUT,
     "List the contexts of the config file; * marks the current one."},
    {"config", "use-context", use_context, NULL, "NAME", 1, 1, 0,
     "Make a context the current one (an unknown name is an error)."},
};

const size_t config_ncommands = sizeof(config_commands) / sizeof(config_commands[0]);
