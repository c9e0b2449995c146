/* Where the CLI finds idyld and its credential: the config file first, the
 * environment over it, flags (parsed later) over both. The config file is
 * $IDYL_CONFIG, else $XDG_CONFIG_HOME/idyl/config, else ~/.config/idyl/config,
 * with lines "addr = URL", "token = TOKEN", "token-file = PATH" or
 * "ca = PATH" (the CA that verifies an https:// addr; IDYL_CA overrides it;
 * without one, the system store). */
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
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

static int config_line(struct cli_ctx *ctx, char *line, const char *path, int lineno,
                       struct idyl_err *err)
{
        char *eq;

        trim(line);
        if (!line[0] || line[0] == '#')
                return 0;
        eq = strchr(line, '=');
        if (!eq)
                return idyl_err_set(err, IDYL_E_USAGE, "%s:%d: want \"key = value\"", path, lineno);
        *eq = '\0';
        trim(line);
        trim(eq + 1);
        if (strcmp(line, "addr") == 0) {
                snprintf(ctx->addr, sizeof(ctx->addr), "%s", eq + 1);
        } else if (strcmp(line, "token") == 0) {
                snprintf(ctx->token, sizeof(ctx->token), "%s", eq + 1);
                ctx->have_token = true;
        } else if (strcmp(line, "token-file") == 0) {
                return read_token_file(ctx, eq + 1, err);
        } else if (strcmp(line, "ca") == 0) {
                snprintf(ctx->ca, sizeof(ctx->ca), "%s", eq + 1);
        } else {
                return idyl_err_set(
                    err, IDYL_E_USAGE,
                    "%s:%d: unknown key \"%s\" (valid: addr, token, token-file, ca)", path, lineno,
                    line);
        }
        return 0;
}

static void config_path(char *buf, size_t size)
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
        char path[PATH_MAX], line[1024];
        const char *env;
        FILE *f;
        int lineno = 0;

        snprintf(ctx->addr, sizeof(ctx->addr), "%s", DEFAULT_ADDR);
        config_path(path, sizeof(path));
        f = path[0] ? fopen(path, "r") : NULL;
        while (f && fgets(line, sizeof(line), f)) {
                if (config_line(ctx, line, path, ++lineno, err) < 0) {
                        fclose(f);
                        return -1;
                }
        }
        if (f)
                fclose(f);
        env = getenv("IDYL_ADDR");
        if (env && *env)
                snprintf(ctx->addr, sizeof(ctx->addr), "%s", env);
        env = getenv("IDYL_CA");
        if (env && *env)
                snprintf(ctx->ca, sizeof(ctx->ca), "%s", env);
        /* the node agent `node join --start` leaves running verifies with it too */
        if (ctx->ca[0] && setenv("IDYL_CA", ctx->ca, 1) < 0)
                return idyl_err_errno(err, errno, "setenv IDYL_CA");
        env = getenv("IDYL_TOKEN");
        if (env && *env) {
                snprintf(ctx->token, sizeof(ctx->token), "%s", env);
                ctx->have_token = true;
        }
        return 0;
}
