/* The CLI's requests to idyld: one JSON request over the shared HTTP client
 * (agent/http.h) with the context's CA, bounded response, server errors
 * turned into idyl_err with the server's code. */
#include "cli/cli.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/http.h"
#include "core/subnet.h"
#include "util/buf.h"

#define RESPONSE_MAX (64u * 1024 * 1024)

/* Prints `Warning: 299 idyld "text"` headers as "warning: text". */
static void on_header(const char *data, size_t len, void *arg)
{
        const char *q;

        (void)arg;
        if (len > 8 && strncasecmp(data, "Warning:", 8) == 0) {
                q = memchr(data, '"', len);
                if (q) {
                        const char *end = data + len;
                        while (end > q + 1 && end[-1] != '"')
                                end--;
                        if (end > q + 1)
                                fprintf(stderr, "warning: %.*s\n", (int)(end - q - 2), q + 1);
                }
        }
}

int api_call(struct cli_ctx *ctx, const char *method, const char *path, json_t *body, json_t **out,
             struct idyl_err *err)
{
        struct idyl_buf resp = IDYL_BUF_INIT(RESPONSE_MAX);
        struct http_request req = {.method = method,
                                   .path = path,
                                   .timeout_s = 120,
                                   .connect_timeout_s = 10,
                                   .on_header = on_header};
        struct http_client *h = NULL;
        char unreachable[600];
        cleanup_free char *text = NULL;
        long status = 0;
        int rc = -1;

        if (out)
                *out = NULL;
        h = http_client_new(ctx->addr, NULL, ctx->have_token ? ctx->token : NULL, ctx->ca);
        if (!h)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        snprintf(unreachable, sizeof(unreachable), "cannot reach idyld at %s", ctx->addr);
        req.unreachable = unreachable;
        if (body) {
                text = json_dumps(body, JSON_COMPACT);
                if (!text) {
                        idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                        goto out;
                }
                req.body = text;
                req.body_len = strlen(text);
        }
        if (http_do(h, &req, &status, &resp, err) < 0)
                goto out;
        if (status >= 400) {
                idyl_err_from_answer(status, resp.data, resp.len, IDYL_E_INTERNAL, err);
                goto out;
        }
        if (out && resp.len) {
                json_error_t jerr;
                *out = json_loadb(resp.data, resp.len, 0, &jerr);
                if (!*out) {
                        idyl_err_set(err, IDYL_E_INTERNAL, "idyld sent malformed JSON: %s",
                                     jerr.text);
                        goto out;
                }
        }
        rc = 0;
out:
        http_client_free(h);
        idyl_buf_release(&resp);
        return rc;
}

int api_print_tables(struct cli_ctx *ctx, struct cli_args *a, const char *method, const char *path,
                     json_t *body, const struct output_tables *t, struct idyl_err *err)
{
        json_t *out = NULL;
        int rc = api_call(ctx, method, path, body, &out, err);

        json_decref(body);
        if (rc == 0)
                rc = output_print_tables(a->output, out, t, err);
        json_decref(out);
        return rc;
}

int api_print(struct cli_ctx *ctx, struct cli_args *a, const char *method, const char *path,
              json_t *body, void (*table)(FILE *, const json_t *), struct idyl_err *err)
{
        const struct output_tables t = {table, NULL};

        return api_print_tables(ctx, a, method, path, body, &t, err);
}

static int page_size(struct idyl_err *err)
{
        const char *env = getenv("IDYL_PAGE_SIZE");
        char *end;
        long v;

        if (!env || !*env)
                return CLI_PAGE_SIZE;
        v = strtol(env, &end, 10);
        if (*end || v < 1 || v > 1000 || env[0] == '0' || !isdigit((unsigned char)env[0]))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "invalid IDYL_PAGE_SIZE \"%.20s\": want 1 to 1000", env);
        return (int)v;
}

/* Appends one page's items to all; 1 with the next token in token, 0 on
 * the last page. */
static int take_page(json_t *page, json_t *all, char *token, size_t size, struct idyl_err *err)
{
        json_t *items = json_object_get(page, "items");
        const char *next = json_string_value(json_object_get(page, "continue"));

        if (!json_is_array(items))
                return idyl_err_set(err, IDYL_E_INTERNAL, "idyld sent a page without items");
        json_array_extend(all, items);
        if (!next)
                return 0;
        /* tokens are base64url: they go into the URL as they are */
        if (!*next || strlen(next) >= size || strcmp(next, token) == 0 ||
            strspn(next, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
                strlen(next))
                return idyl_err_set(err, IDYL_E_INTERNAL, "idyld sent a bad page token");
        snprintf(token, size, "%s", next);
        return 1;
}

int api_list(struct cli_ctx *ctx, const char *path, json_t **out, struct idyl_err *err)
{
        char url[1024], token[256] = "";
        json_t *all, *page;
        int limit = page_size(err), more;

        if (limit < 0)
                return -1;
        all = json_array();
        do {
                snprintf(url, sizeof(url), "%s?limit=%d%s%s", path, limit,
                         token[0] ? "&continue=" : "", token);
                if (api_call(ctx, "GET", url, NULL, &page, err) < 0) {
                        json_decref(all);
                        return -1;
                }
                more = take_page(page, all, token, sizeof(token), err);
                json_decref(page);
                if (more < 0) {
                        json_decref(all);
                        return -1;
                }
        } while (more);
        *out = all;
        return 0;
}

int api_print_list(struct cli_ctx *ctx, struct cli_args *a, const char *path,
                   const struct output_tables *t, struct idyl_err *err)
{
        json_t *all = NULL;
        int rc = api_list(ctx, path, &all, err);

        if (rc == 0)
                rc = output_print_tables(a->output, all, t, err);
        json_decref(all);
        return rc;
}

int api_subnet_path(const struct cli_args *a, const char *collection, const char *name,
                    const char *suffix, char *buf, size_t size, struct idyl_err *err)
{
        const char *subnet = cli_str(a, "subnet");
        uint64_t slug;

        if (!subnet)
                return idyl_err_set(err, IDYL_E_USAGE, "--subnet is required");
        if (subnet_slug_parse(subnet, &slug, err) < 0)
                return -1;
        /* a name too long to fit fails the caller's name check */
        snprintf(buf, size, "/v1/subnets/%s/%s%s%s%s", subnet, collection, name ? "/" : "",
                 name ? name : "", suffix ? suffix : "");
        return 0;
}
