/* Where the CLI finds idyld and its credential: the config file first, the
 * environment over it, flags (parsed later) over both. The config file is
 * $IDYL_CONFIG, else $XDG_CONFIG_HOME/idyl/config, else ~/.config/idyl/config,
 * with lines "addr = URL", "token = TOKEN", "token-file = PATH" or
 * "ca = PATH" (the CA that verifies an https:// addr; IDYL_CA overrides it;
 * without one, the system store). Named contexts follow in sections
 * "[context NAME]" holding the same keys and "subnet = SLUG" (the default
 * --subnet); a top-level "current-context = NAME" picks the one whose keys
 * apply over the top-level ones. IDYL_SUBNET overrides a context's subnet.
 * `idyl config` (cli/config_cmd.c) edits the file. */
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ADDR "http://127.0.0.1:7480"

static void trim(char *s)
{
        size_t len = strlen(s);
        size_t lead = strspn(s, " \t");

        while (len > lead && strchr(" \t\r\n", s[len - 1]))
                len--;
        memmove(s, s + lead, len - lead);
        s[len - lead] = '\0';
}

static int read_token_file(struct cli_ctx *ctx, const char *path, struct idyl_err *err)
{
        FILE *f = fopen(path, "r");

        if (!f)
                return idyl_err_errno(err, errno, "read token-file \"%s\"", path);
        if (!fgets(ctx->token, sizeof(ctx->token), f))
                ctx->token[0] = '\0';
        fclose(f);
        trim(ctx->token);
        ctx->have_token = ctx->token[0] != '\0';
        return 0;
}

int cli_config_line(char *line, char **key, char **value)
{
        char *eq, *end;

        trim(line);
        *key = *value = NULL;
        if (!line[0] || line[0] == '#')
                return CONFIG_LINE_BLANK;
        if (strncmp(line, "[context ", 9) == 0 && (end = strrchr(line, ']')) && !end[1]) {
                *end = '\0';
                *value = line + 9;
                trim(*value);
                return **value ? CONFIG_LINE_SECTION : CONFIG_LINE_BAD;
        }
        eq = strchr(line, '=');
        if (!eq)
                return CONFIG_LINE_BAD;
        *eq = '\0';
        trim(line);
        trim(eq + 1);
        *key = line;
        *value = eq + 1;
        return CONFIG_LINE_KEY;
}

/* The current-context a config file names (top-level), or "" (*out). */
static void config_current(FILE *f, char *out, size_t size)
{
        char line[1024], *key, *value;
        bool top = true;

        out[0] = '\0';
        while (fgets(line, sizeof(line), f)) {
                int kind = cli_config_line(line, &key, &value);

                if (kind == CONFIG_LINE_SECTION)
                        top = false;
                else if (kind == CONFIG_LINE_KEY && top && strcmp(key, "current-context") == 0)
                        snprintf(out, size, "%s", value);
        }
        rewind(f);
}

/* One key of the top level (section NULL) or of the current context. */
static int config_key(struct cli_ctx *ctx, const char *section, char *line, char *eq,
                      const char *path, int lineno, struct idyl_err *err)
{
        if (!section && strcmp(line, "current-context") == 0)
                return 0;
        if (section && strcmp(line, "subnet") == 0) {
                snprintf(ctx->subnet, sizeof(ctx->subnet), "%s", eq);
                return 0;
        }
        if (strcmp(line, "addr") == 0) {
                snprintf(ctx->addr, sizeof(ctx->addr), "%s", eq);
        } else if (strcmp(line, "token") == 0) {
                snprintf(ctx->token, sizeof(ctx->token), "%s", eq);
                ctx->have_token = true;
        } else if (strcmp(line, "token-file") == 0) {
                return read_token_file(ctx, eq, err);
        } else if (strcmp(line, "ca") == 0) {
                snprintf(ctx->ca, sizeof(ctx->ca), "%s", eq);
        } else {
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "%s:%d: unknown key \"%s\" (valid: addr, token, token-file, "
                                    "ca%s)",
                                    path, lineno, line, section ? ", subnet" : "");
        }
        return 0;
}

/* Applies the top level and the current context; other contexts are only
 * checked for form. */
static int config_read(struct cli_ctx *ctx, FILE *f, const char *path, struct idyl_err *err)
{
        char line[1024], current[128], *key, *value, section[128] = "";
        bool in_section = false, found = false;
        int lineno = 0;

        config_current(f, current, sizeof(current));
        while (fgets(line, sizeof(line), f)) {
                lineno++;
                switch (cli_config_line(line, &key, &value)) {
                case CONFIG_LINE_BLANK:
                        continue;
                case CONFIG_LINE_BAD:
                        return idyl_err_set(err, IDYL_E_USAGE,
                                            "%s:%d: want \"key = value\" or \"[context NAME]\"",
                                            path, lineno);
                case CONFIG_LINE_SECTION:
                        in_section = true;
                        snprintf(section, sizeof(section), "%s", value);
                        found |= strcmp(section, current) == 0;
                        continue;
                }
                if (in_section && strcmp(section, current) != 0)
                        continue;
                if (config_key(ctx, in_section ? section : NULL, key, value, path, lineno, err) < 0)
                        return -1;
        }
        if (current[0] && !found)
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "%s: current-context \"%s\" is not defined: add it with "
                                    "\"idyl config set-context %s\"",
                                    path, current, current);
        return 0;
}

void cli_config_path(char *buf, size_t size)
{
        const char *p = getenv("IDYL_CONFIG"), *xdg = getenv("XDG_CONFIG_HOME"),
                   *home = getenv("HOME");

        if (p && *p)
                snprintf(buf, size, "%s", p);
        else if (xdg && *xdg)
                snprintf(buf, size, "%s/idyl/config", xdg);
        else if (home && *home)
                snprintf(buf, size, "%s/.config/idyl/config", home);
        else
                buf[0] = '\0';
}

int cli_config_load(struct cli_ctx *ctx, struct idyl_err *err)
{
        char path[PATH_MAX];
        const char *env;
        FILE *f;

        snprintf(ctx->addr, sizeof(ctx->addr), "%s", DEFAULT_ADDR);
        cli_config_path(path, sizeof(path));
        f = path[0] ? fopen(path, "r") : NULL;
        if (f) {
                int rc = config_read(ctx, f, path, err);

                fclose(f);
                if (rc < 0)
                        return -1;
        }
        env = getenv("IDYL_SUBNET");
        if (env && *env)
                snprintf(ctx->subnet, sizeof(ctx->subnet), "%s", env);
        env = getenv("IDYL_ADDR");
        if (env && *env)
                snprintf(ctx->addr, sizeof(ctx->addr), "%s", env);
        env = getenv("IDYL_CA");
        if (env && *env)
                snprintf(ctx->ca, sizeof(ctx->ca), "%s", env);
        env = getenv("IDYL_TOKEN");
        if (env && *env) {
                snprintf(ctx->token, sizeof(ctx->token), "%s", env);
                ctx->have_token = true;
        }
        return 0;
}
