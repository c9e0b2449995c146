/* The HTTP layer of idyld: libmicrohttpd callbacks, the bounded request
 * body, authentication, route matching, and the one place where an error
 * becomes a status code and {"error": {"code", "message"}}. Handlers only
 * see a parsed request and fill a response. */
#include "server/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/log.h"

/* Per-connection state between the calls libmicrohttpd makes for a request. */
struct conn_state {
        struct idyl_buf body;
        bool too_large;
};

static enum MHD_Result send_json(struct MHD_Connection *conn, int status, json_t *body,
                                 const json_t *warnings)
{
        struct MHD_Response *r;
        enum MHD_Result ret;
        char *text = NULL;
        size_t len = 0;

        if (body) {
                text = json_dumps(body, JSON_COMPACT);
                if (!text)
                        return MHD_NO;
                len = strlen(text);
        }
        r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        if (!r) {
                free(text);
                return MHD_NO;
        }
        if (body)
                MHD_add_response_header(r, "Content-Type", "application/json");
        for (size_t i = 0; warnings && i < json_array_size(warnings); i++) {
                char line[1024];
                snprintf(line, sizeof(line), "299 idyld \"%s\"",
                         json_string_value(json_array_get(warnings, i)));
                MHD_add_response_header(r, "Warning", line);
        }
        ret = MHD_queue_response(conn, (unsigned)status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, const struct idyl_err *err)
{
        json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", idyl_errcode_name(err->code),
                                 "message", err->msg);
        enum MHD_Result ret = send_json(conn, idyl_errcode_http_status(err->code), body, NULL);

        json_decref(body);
        return ret;
}

/* Matches `url` against a route pattern, capturing {param} segments. */
static bool route_match(const char *pattern, const char *url, struct request *req)
{
        const char *p = pattern, *u = url;

        req->nparams = 0;
        while (*p && *u) {
                if (*p == '{') {
                        const char *pend = strchr(p, '}');
                        size_t ulen = strcspn(u, "/");
                        if (!pend || ulen == 0 || req->nparams == ROUTE_MAX_PARAMS)
                                return false;
                        req->params[req->nparams++] = strndup(u, ulen);
                        p = pend + 1;
                        u += ulen;
                        continue;
                }
                if (*p++ != *u++)
                        return false;
        }
        return *p == '\0' && *u == '\0';
}

static void request_release(struct request *req)
{
        for (size_t i = 0; i < req->nparams; i++)
                free((char *)req->params[i]);
        req->nparams = 0;
        json_decref(req->body);
        req->body = NULL;
}

/* Finds the route for method+url; 404 when no pattern matches, 405 when
 * only the method differs. */
static const struct route *route_find(struct request *req, struct idyl_err *err)
{
        bool path_known = false;

        for (size_t i = 0; i < server_nroutes; i++) {
                const struct route *rt = &server_routes[i];
                bool match = route_match(rt->pattern, req->url, req);
                if (match && strcmp(rt->method, req->method) == 0)
                        return rt;
                path_known |= match;
                request_release(req);
        }
        if (path_known)
                idyl_err_set(err, IDYL_E_METHOD, "method %s is not allowed on \"%s\"", req->method,
                             req->url);
        else
                idyl_err_set(err, IDYL_E_NOT_FOUND, "no such resource \"%s\"", req->url);
        return NULL;
}

static int authenticate(struct request *req, struct idyl_err *err)
{
        const char *h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Authorization");
        char hash[TOKEN_HASH_HEXLEN + 1];
        struct idyl_err lookup = IDYL_ERR_INIT;

        if (!h || strncmp(h, "Bearer ", 7) != 0 || !h[7])
                return idyl_err_set(err, IDYL_E_UNAUTHORIZED,
                                    "missing credential: send Authorization: Bearer <token>");
        auth_hash_token(h + 7, hash);
        if (store_token_find(req->srv->store, hash, &req->caller, &lookup) < 0) {
                if (lookup.code != IDYL_E_NOT_FOUND) {
                        *err = lookup;
                        return -1;
                }
                return idyl_err_set(err, IDYL_E_UNAUTHORIZED, "invalid credential");
        }
        return 0;
}

static int parse_body(struct request *req, const struct idyl_buf *body, unsigned flags,
                      struct idyl_err *err)
{
        json_error_t jerr;

        if (body->len == 0) {
                if (flags & ROUTE_BODY)
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "request body is required: a JSON object");
                return 0;
        }
        req->body = json_loadb(body->data, body->len, JSON_REJECT_DUPLICATES, &jerr);
        if (!req->body)
                return idyl_err_set(err, IDYL_E_INVALID, "malformed JSON at line %d column %d: %s",
                                    jerr.line, jerr.column, jerr.text);
        if (!json_is_object(req->body))
                return idyl_err_set(err, IDYL_E_INVALID, "request body must be a JSON object");
        return 0;
}

static enum MHD_Result dispatch(struct idyl_server *srv, struct MHD_Connection *conn,
                                const char *url, const char *method, struct conn_state *cs)
{
        struct request req = {.srv = srv, .conn = conn, .method = method, .url = url};
        struct response resp = {.status = 200};
        struct idyl_err err = IDYL_ERR_INIT;
        const struct route *rt;
        enum MHD_Result ret;
        int rc = -1;

        rt = route_find(&req, &err);
        if (!rt)
                goto out;
        if (!(rt->flags & ROUTE_PUBLIC) && authenticate(&req, &err) < 0)
                goto out;
        if (!(rt->flags & ROUTE_PUBLIC) && req.caller.role != ROLE_OPERATOR &&
            req.caller.role != rt->role) {
                idyl_err_set(&err, IDYL_E_FORBIDDEN, "role %s may not %s %s",
                             idyl_role_name(req.caller.role), method, url);
                goto out;
        }
        if (cs->too_large) {
                idyl_err_set(&err, IDYL_E_TOO_LARGE, "request body is larger than %u bytes",
                             SERVER_BODY_MAX);
                goto out;
        }
        if (parse_body(&req, &cs->body, rt->flags, &err) < 0)
                goto out;
        rc = rt->handler(&req, &resp, &err);
out:
        if (rc < 0) {
                if (idyl_errcode_http_status(err.code) >= 500)
                        log_warnx("%s %s: %s", method, url, err.msg);
                ret = send_error(conn, &err);
        } else {
                ret = send_json(conn, resp.status, resp.body, resp.warnings);
        }
        json_decref(resp.body);
        json_decref(resp.warnings);
        request_release(&req);
        return ret;
}

static bool content_length_too_large(struct MHD_Connection *conn)
{
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");

        return cl && strtoull(cl, NULL, 10) > SERVER_BODY_MAX;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
        struct conn_state *cs = *con_cls;

        (void)version;
        if (!cs) {
                cs = calloc(1, sizeof(*cs));
                if (!cs)
                        return MHD_NO;
                cs->body.max = SERVER_BODY_MAX;
                /* Refuse a declared oversize body before reading any of it. */
                cs->too_large = content_length_too_large(conn);
                *con_cls = cs;
                if (cs->too_large)
                        return dispatch(cls, conn, url, method, cs);
                return MHD_YES;
        }
        if (*upload_data_size) {
                if (!cs->too_large &&
                    idyl_buf_append(&cs->body, upload_data, *upload_data_size) < 0)
                        cs->too_large = true;
                *upload_data_size = 0;
                return MHD_YES;
        }
        return dispatch(cls, conn, url, method, cs);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
        struct conn_state *cs = *con_cls;

        (void)cls;
        (void)conn;
        (void)toe;
        if (!cs)
                return;
        idyl_buf_release(&cs->body);
        free(cs);
        *con_cls = NULL;
}

static int parse_listen(const char *listen, struct sockaddr_in *sa, struct idyl_err *err)
{
        char host[256];
        const char *colon = strrchr(listen, ':');
        char *end;
        unsigned long port;

        if (!colon || (size_t)(colon - listen) >= sizeof(host))
                return idyl_err_set(err, IDYL_E_INVALID, "invalid --listen \"%s\": want HOST:PORT",
                                    listen);
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
        port = strtoul(colon + 1, &end, 10);
        if (*end || end == colon + 1 || port > 65535)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "invalid --listen \"%s\": port must be 0-65535", listen);
        memset(sa, 0, sizeof(*sa));
        sa->sin_family = AF_INET;
        sa->sin_port = htons((uint16_t)port);
        if (strcmp(host, "localhost") == 0)
                snprintf(host, sizeof(host), "127.0.0.1");
        if (inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &sa->sin_addr) != 1)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "invalid --listen \"%s\": host must be an IPv4 address",
                                    listen);
        return 0;
}

int server_start(struct idyl_server *srv, const char *listen, struct idyl_err *err)
{
        struct sockaddr_in sa;
        const union MHD_DaemonInfo *info;

        if (parse_listen(listen, &sa, err) < 0)
                return -1;
        srv->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                                        MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
                                    0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR,
                                    (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED,
                                    on_completed, srv, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)4,
                                    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                                    MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096, MHD_OPTION_END);
        if (!srv->mhd)
                return idyl_err_set(err, IDYL_E_UNAVAILABLE, "listen on \"%s\" failed", listen);
        info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
        srv->port = info ? info->port : ntohs(sa.sin_port);
        return 0;
}

void server_stop(struct idyl_server *srv)
{
        if (srv->mhd)
                MHD_stop_daemon(srv->mhd);
        srv->mhd = NULL;
}
