/* The agent's HTTP client: libcurl easy handles, reused per owner. */
#include "agent/http.h"

#include "util/addrlist.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#define RESPONSE_MAX (32u * 1024 * 1024)

struct http_client {
        CURL *curl;
        char *base;
        char *socket_path;
        char *auth;     /* "Authorization: Bearer ..." or NULL */
        char *ca;       /* PEM CA file or NULL */
        size_t current; /* of several comma-separated bases, the one that answered last */
        const volatile bool *abort_flag;
};

struct http_client *http_client_new(const char *base, const char *socket_path, const char *token,
                                    const char *ca)
{
        struct http_client *h = calloc(1, sizeof(*h));

        if (!h)
                return NULL;
        h->curl = curl_easy_init();
        h->base = strdup(base);
        h->socket_path = socket_path ? strdup(socket_path) : NULL;
        if (token && asprintf(&h->auth, "Authorization: Bearer %s", token) < 0)
                h->auth = NULL, token = NULL;
        if (ca && ca[0])
                h->ca = strdup(ca);
        if (!h->curl || !h->base || (socket_path && !h->socket_path) || (token && !h->auth) ||
            (ca && ca[0] && !h->ca)) {
                http_client_free(h);
                return NULL;
        }
        return h;
}

void http_client_set_abort(struct http_client *h, const volatile bool *flag)
{
        h->abort_flag = flag;
}

void http_client_base(const struct http_client *h, char *buf, size_t size)
{
        addrlist_nth(h->base, h->current, buf, size);
}

void http_client_free(struct http_client *h)
{
        if (!h)
                return;
        if (h->curl)
                curl_easy_cleanup(h->curl);
        free(h->base);
        free(h->socket_path);
        free(h->auth);
        free(h->ca);
        free(h);
}

struct sink {
        struct idyl_buf *buf;
        http_chunk_fn fn;
        void *arg;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
        struct sink *s = userdata;
        size_t n = size * nmemb;

        if (s->fn)
                return s->fn(data, n, s->arg) < 0 ? 0 : n;
        if (s->buf && idyl_buf_append(s->buf, data, n) < 0)
                return 0;
        return n;
}

struct header_sink {
        http_header_fn fn;
        void *arg;
};

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
        struct header_sink *s = userdata;

        s->fn(data, size * nmemb, s->arg);
        return size * nmemb;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
        const volatile bool *stop = arg;

        (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
        return *stop ? 1 : 0;
}

int http_do(struct http_client *h, const struct http_request *req, long *status,
            struct idyl_buf *resp, struct idyl_err *err)
{
        struct idyl_buf scratch = IDYL_BUF_INIT(RESPONSE_MAX);
        struct sink sink = {resp ? resp : &scratch, req->on_chunk, req->chunk_arg};
        struct header_sink hsink = {req->on_header, req->header_arg};
        struct curl_slist *headers = NULL;
        char errbuf[CURL_ERROR_SIZE] = "", *url = NULL, ctype[128];
        CURL *c = h->curl;
        CURLcode rc = CURLE_OK;

        size_t nbase = addrlist_count(h->base);
        char base[512];

        curl_easy_reset(c);
        if (h->socket_path)
                curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, h->socket_path);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT,
                         req->connect_timeout_s > 0 ? req->connect_timeout_s : 5L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, req->timeout_s);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        /* idyld over HTTPS: verified against the CA given, else the system store */
        if (h->ca)
                curl_easy_setopt(c, CURLOPT_CAINFO, h->ca);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
        if (req->on_header) {
                curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
                curl_easy_setopt(c, CURLOPT_HEADERDATA, &hsink);
        }
        if (req->abort_flag || h->abort_flag) {
                curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
                curl_easy_setopt(c, CURLOPT_XFERINFODATA,
                                 (void *)(req->abort_flag ? req->abort_flag : h->abort_flag));
                curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        }
        if (h->auth)
                headers = curl_slist_append(headers, h->auth);
        if (req->body) {
                snprintf(ctype, sizeof(ctype), "Content-Type: %s",
                         req->content_type ? req->content_type : "application/json");
                headers = curl_slist_append(headers, ctype);
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        } else if (strcmp(req->method, "POST") == 0) {
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        }
        headers = curl_slist_append(headers, "Expect:");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        /* several idyld replicas: the next on a connection failure */
        for (size_t tried = 0; tried < nbase; tried++) {
                addrlist_nth(h->base, h->current, base, sizeof(base));
                free(url);
                if (asprintf(&url, "%s%s", base, req->path) < 0) {
                        url = NULL;
                        curl_slist_free_all(headers);
                        idyl_buf_release(&scratch);
                        return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                }
                curl_easy_setopt(c, CURLOPT_URL, url);
                rc = curl_easy_perform(c);
                if (rc == CURLE_OK)
                        break;
                /* the next request goes to the next address; this one is
                 * sent again only if it never reached the server */
                h->current = (h->current + 1) % nbase;
                if (!addrlist_try_next(rc))
                        break;
        }
        curl_slist_free_all(headers);
        idyl_buf_release(&scratch);
        if (rc != CURLE_OK && req->unreachable) {
                idyl_err_set(err, IDYL_E_UNAVAILABLE, "%s: %s", req->unreachable,
                             errbuf[0] ? errbuf : curl_easy_strerror(rc));
                free(url);
                return -1;
        }
        if (rc != CURLE_OK) {
                idyl_err_set(err, IDYL_E_UNAVAILABLE, "%s %s: %s",
                             h->socket_path ? h->socket_path : h->base, req->path,
                             errbuf[0] ? errbuf : curl_easy_strerror(rc));
                free(url);
                return -1;
        }
        free(url);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        return 0;
}

static enum idyl_errcode code_of_status(long status)
{
        switch (status) {
        case 400:
                return IDYL_E_INVALID;
        case 401:
                return IDYL_E_UNAUTHORIZED;
        case 403:
                return IDYL_E_FORBIDDEN;
        case 404:
                return IDYL_E_NOT_FOUND;
        case 409:
                return IDYL_E_CONFLICT;
        default:
                return IDYL_E_UNAVAILABLE;
        }
}

/* The peer's own words: Docker's {"message"}, idyld's {"error": {...}}. */
static int error_from(long status, const struct idyl_buf *b, struct idyl_err *err)
{
        json_t *root = b->len ? json_loadb(b->data, b->len, 0, NULL) : NULL;
        const json_t *e = json_object_get(root, "error");
        const char *msg = json_string_value(json_object_get(root, "message"));
        const char *code = json_string_value(json_object_get(e, "code"));
        enum idyl_errcode c = code_of_status(status);

        if (!msg)
                msg = json_string_value(json_object_get(e, "message"));
        if (!msg)
                msg = json_string_value(e);
        if (code)
                c = idyl_errcode_from_name(code);
        if (msg)
                idyl_err_set(err, c, "%s", msg);
        else if (b->len && !root)
                idyl_err_set(err, c, "HTTP %ld: %.200s", status, b->data);
        else
                idyl_err_set(err, c, "HTTP %ld", status);
        json_decref(root);
        return -1;
}

int http_json(struct http_client *h, const char *method, const char *path, const json_t *body,
              long timeout_s, long *status, json_t **out, struct idyl_err *err)
{
        struct idyl_buf resp = IDYL_BUF_INIT(RESPONSE_MAX);
        struct http_request req = {.method = method, .path = path, .timeout_s = timeout_s};
        char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        long st = 0;
        int rc;

        if (out)
                *out = NULL;
        if (body && !text)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        req.body = text;
        req.body_len = text ? strlen(text) : 0;
        rc = http_do(h, &req, &st, &resp, err);
        free(text);
        if (status)
                *status = st;
        if (rc == 0 && (st < 200 || st > 299))
                rc = error_from(st, &resp, err);
        if (rc == 0 && out && resp.len) {
                json_error_t jerr;
                *out = json_loadb(resp.data, resp.len, 0, &jerr);
                if (!*out)
                        rc = idyl_err_set(err, IDYL_E_UNAVAILABLE, "%s: bad JSON answer: %s", path,
                                          jerr.text);
        }
        idyl_buf_release(&resp);
        return rc;
}

char *http_escape(const char *s)
{
        char *e = curl_easy_escape(NULL, s, 0), *r;

        if (!e)
                return NULL;
        r = strdup(e);
        curl_free(e);
        return r;
}
