/* The CLI's HTTP client: one JSON request to idyld with libcurl, bounded
 * response, server errors turned into idyl_err with the server's code. */
#include "cli/cli.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "util/addrlist.h"
#include "util/buf.h"

#define RESPONSE_MAX (64u * 1024 * 1024)

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
        struct idyl_buf *b = userdata;

        if (idyl_buf_append(b, data, size * nmemb) < 0)
                return 0; /* aborts the transfer */
        return size * nmemb;
}

/* Prints `Warning: 299 idyld "text"` headers as "warning: text". */
static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
        size_t len = size * nmemb;
        const char *q;

        (void)userdata;
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
        return len;
}

static int error_from_body(long status, const struct idyl_buf *b, struct idyl_err *err)
{
        json_t *root = b->len ? json_loadb(b->data, b->len, 0, NULL) : NULL;
        json_t *e = json_object_get(root, "error");
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));

        if (code && msg)
                idyl_err_set(err, idyl_errcode_from_name(code), "%s", msg);
        else
                idyl_err_set(err, IDYL_E_INTERNAL, "idyld answered HTTP %ld", status);
        json_decref(root);
        return -1;
}

/* Of several addresses, the one that answered last: tried first. */
static size_t addr_current;

/* Sends the request to ctx->addr's addresses in turn, from the one that
 * answered last, moving on only when one cannot be connected to. */
static int perform(struct cli_ctx *ctx, CURL *curl, const char *path, struct idyl_buf *resp,
                   long *status, struct idyl_err *err)
{
        char errbuf[CURL_ERROR_SIZE] = "", base[512], url[1024];
        size_t n = addrlist_count(ctx->addr);
        CURLcode rc = CURLE_OK;

        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT, 120L);
        if (ctx->ca[0])
                curl_easy_setopt(curl, CURLOPT_CAINFO, ctx->ca);
        for (size_t tried = 0; tried < n; tried++) {
                addrlist_nth(ctx->addr, addr_current, base, sizeof(base));
                snprintf(url, sizeof(url), "%s%s", base, path);
                curl_easy_setopt(curl, CURLOPT_URL, url);
                rc = curl_easy_perform(curl);
                if (rc == CURLE_OK || !addrlist_try_next(rc))
                        break;
                addr_current = (addr_current + 1) % n;
        }
        if (rc != CURLE_OK)
                return idyl_err_set(err, IDYL_E_UNAVAILABLE, "cannot reach idyld at %s: %s",
                                    ctx->addr, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
        return 0;
}

int api_call(struct cli_ctx *ctx, const char *method, const char *path, json_t *body, json_t **out,
             struct idyl_err *err)
{
        struct idyl_buf resp = IDYL_BUF_INIT(RESPONSE_MAX);
        struct curl_slist *headers = NULL;
        char auth[300];
        char *text = NULL;
        long status = 0;
        int rc = -1;
        CURL *curl;

        if (out)
                *out = NULL;
        curl = curl_easy_init();
        if (!curl)
                return idyl_err_set(err, IDYL_E_INTERNAL, "curl_easy_init failed");
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
        if (ctx->have_token) {
                snprintf(auth, sizeof(auth), "Authorization: Bearer %s", ctx->token);
                headers = curl_slist_append(headers, auth);
        }
        if (body) {
                text = json_dumps(body, JSON_COMPACT);
                headers = curl_slist_append(headers, "Content-Type: application/json");
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text);
        }
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        if (perform(ctx, curl, path, &resp, &status, err) < 0)
                goto out;
        if (status >= 400) {
                error_from_body(status, &resp, err);
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
        curl_slist_free_all(headers);
        curl_easy_cleanup(curl);
        free(text);
        idyl_buf_release(&resp);
        return rc;
}
