/* The HTTP layer of idyld: libmicrohttpd callbacks, the bounded request
 * body, authentication, route matching, and the one place where an error
 * becomes a status code and {"error": {"code", "message"}}. Handlers only
 * see a parsed request and fill a response. */
#include "server/server.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/subnet.h"
#include "server/metrics.h"
#include "server/stream.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/utf8.h"

/* Per-connection state between the calls libmicrohttpd makes for a request. */
struct conn_state {
        struct idyl_buf body;
        bool too_large;
        int64_t deadline_ms;      /* a suspended long-poll answers by then */
        int64_t body_deadline_ms; /* the whole body must have arrived by then */
        int64_t started_ns;       /* monotonic; for the request-duration metric */
        long route;               /* index in server_routes; -1 when none matched */
        int status;               /* what was answered; 0 until then */
        struct idyl_token caller; /* authenticated from the head, before any body byte */
        void *upgrade;            /* a stream's ticket (server/stream.c); owned */
};

/* ---- request heads --------------------------------------------------------
 * libmicrohttpd restarts a connection's idle timer on every byte, so a
 * client sending its request head a byte a second would hold a connection
 * for ever. Every connection is tracked from its accept, and again from the
 * end of each request it made, until its next request head is whole; one
 * that takes longer than the client timeout is shut down. shutdown(2), not
 * close(2): the descriptor stays the library's, which reads the end of the
 * stream and closes it itself. The library reports a connection closed
 * before it closes its socket, and that report takes this lock, so a
 * descriptor is never shut down after it could have been reused. */
struct head_guard {
        int fd;
        int64_t since_ms; /* waiting for a head since then; 0 while serving one */
        bool cut;         /* shut down already */
        bool upgraded;    /* a stream's now (server/stream.c): no more heads */
        struct head_guard *prev, *next;
};

struct heads {
        pthread_mutex_t mu;
        struct head_guard *list;
        size_t open;            /* connections open now */
        size_t limit;           /* --max-connections */
        int64_t full_logged_ms; /* when reaching the limit was last logged */
        uint64_t cut;           /* heads cut since the last log line */
        int64_t logged_ms;      /* when the last refusal was logged */
};

/* The connection's head clock: since_ms when it waits for a request head,
 * 0 while it serves one. An upgraded connection carries a stream and is
 * never cut (upgrade: true). */
static void heads_note(struct heads *h, struct MHD_Connection *conn, int64_t since_ms, bool upgrade)
{
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        struct head_guard *g = ci ? ci->socket_context : NULL;

        if (!g)
                return;
        pthread_mutex_lock(&h->mu);
        g->upgraded |= upgrade;
        g->since_ms = g->upgraded ? 0 : since_ms;
        pthread_mutex_unlock(&h->mu);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
        struct idyl_server *srv = cls;
        struct heads *h = srv->heads;
        struct head_guard *g = *socket_context;
        bool full;

        if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
                const union MHD_ConnectionInfo *ci =
                    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

                if (!ci || !(g = calloc(1, sizeof(*g))))
                        return; /* untracked: the idle timeout still applies */
                g->fd = ci->connect_fd;
                g->since_ms = now_ms();
                pthread_mutex_lock(&h->mu);
                g->next = h->list;
                if (h->list)
                        h->list->prev = g;
                h->list = g;
                full = ++h->open >= h->limit && g->since_ms - h->full_logged_ms >= 10000;
                if (full)
                        h->full_logged_ms = g->since_ms;
                pthread_mutex_unlock(&h->mu);
                *socket_context = g;
                if (full)
                        log_warnx("connection limit %zu reached: new connections wait until "
                                  "one closes (--max-connections)",
                                  h->limit);
                return;
        }
        if (!g)
                return;
        pthread_mutex_lock(&h->mu);
        if (g->prev)
                g->prev->next = g->next;
        else
                h->list = g->next;
        if (g->next)
                g->next->prev = g->prev;
        h->open--;
        pthread_mutex_unlock(&h->mu);
        free(g);
        *socket_context = NULL;
}

/* Shuts down every connection whose request head is older than timeout_ms;
 * says so in the log at most once every 10 s. */
static void heads_sweep(struct heads *h, int64_t now, int64_t timeout_ms)
{
        uint64_t report = 0;

        pthread_mutex_lock(&h->mu);
        for (struct head_guard *g = h->list; g; g = g->next) {
                int64_t since = g->since_ms;

                if (since && !g->cut && now - since > timeout_ms) {
                        shutdown(g->fd, SHUT_RDWR);
                        g->cut = true;
                        h->cut++;
                }
        }
        if (h->cut && now - h->logged_ms >= 10000) {
                report = h->cut;
                h->cut = 0;
                h->logged_ms = now;
        }
        pthread_mutex_unlock(&h->mu);
        if (report)
                log_warnx("closed %" PRIu64 " connection(s) whose request head did not arrive "
                          "within %lld s",
                          report, (long long)(timeout_ms / 1000));
}

/* ---- long-poll waiters ----------------------------------------------------
 * A handler with nothing to say yet asks to wait on a key; the connection is
 * suspended (no thread is held) until server_notify(key) or its deadline,
 * then the handler runs again. To never miss a notify that lands between the
 * handler's read and the suspension, each key hashes to a generation counter
 * that notify bumps; the suspension only happens if it has not moved. The
 * waiters are listed per bucket too, so a notify looks only at the waiters
 * whose key shares its bucket, and the deadline sweep runs only once the
 * earliest deadline is due. MHD is never called with our lock held, except
 * MHD_suspend_connection from inside the access handler, which MHD allows. */
#define WAIT_BUCKETS 1024

struct waiter {
        struct MHD_Connection *conn;
        char key[96];
        int64_t deadline_ms;
        struct waiter *next;
};

struct waiters {
        pthread_mutex_t mu;
        pthread_cond_t cond;
        struct waiter *list[WAIT_BUCKETS]; /* by key_bucket */
        uint64_t gen[WAIT_BUCKETS];
        int64_t earliest_ms; /* no waiter's deadline is before; INT64_MAX: none */
        bool stopping;
        pthread_t timer;
        struct heads *heads;     /* swept by the timer too */
        int64_t head_timeout_ms; /* a request head must be whole by then */
};

static size_t key_bucket(const char *key)
{
        uint32_t h = 2166136261u;

        for (const char *p = key; *p; p++)
                h = (h ^ (uint8_t)*p) * 16777619u;
        return h % WAIT_BUCKETS;
}

static uint64_t waiters_gen(struct waiters *w, const char *key)
{
        uint64_t g;

        pthread_mutex_lock(&w->mu);
        g = w->gen[key_bucket(key)];
        pthread_mutex_unlock(&w->mu);
        return g;
}

/* Suspends conn on key unless the key was notified since `gen` (returns 0:
 * look again) or the server is stopping (-1: answer now). 1 when suspended. */
static int waiters_suspend(struct waiters *w, struct MHD_Connection *conn, const char *key,
                           int64_t deadline_ms, uint64_t gen)
{
        size_t b = key_bucket(key);
        struct waiter *wt;
        int ok = 0;

        pthread_mutex_lock(&w->mu);
        if (w->stopping)
                ok = -1;
        else if (w->gen[b] == gen && (wt = calloc(1, sizeof(*wt)))) {
                wt->conn = conn;
                snprintf(wt->key, sizeof(wt->key), "%s", key);
                wt->deadline_ms = deadline_ms;
                wt->next = w->list[b];
                w->list[b] = wt;
                if (deadline_ms < w->earliest_ms)
                        w->earliest_ms = deadline_ms;
                MHD_suspend_connection(conn);
                ok = 1;
        }
        pthread_mutex_unlock(&w->mu);
        return ok;
}

/* Called with mu held: moves the bucket's waiters that match (key, or
 * expired, or all) to *wake; returns the earliest deadline of those left. */
static int64_t bucket_detach(struct waiters *w, size_t b, const char *key, int64_t expired_before,
                             bool all, struct waiter **wake)
{
        int64_t earliest = INT64_MAX;

        for (struct waiter **pp = &w->list[b]; *pp;) {
                struct waiter *wt = *pp;
                if (all || (key && strcmp(wt->key, key) == 0) ||
                    (expired_before && wt->deadline_ms <= expired_before)) {
                        *pp = wt->next;
                        wt->next = *wake;
                        *wake = wt;
                        continue;
                }
                if (wt->deadline_ms < earliest)
                        earliest = wt->deadline_ms;
                pp = &wt->next;
        }
        return earliest;
}

/* Detaches the waiters matching (key, or expired, or all) under the lock and
 * resumes them after it. */
static void waiters_resume(struct waiters *w, const char *key, int64_t expired_before, bool all)
{
        struct waiter *wake = NULL;

        pthread_mutex_lock(&w->mu);
        if (key) {
                size_t b = key_bucket(key);

                w->gen[b]++;
                bucket_detach(w, b, key, 0, false, &wake);
        } else if (all || expired_before >= w->earliest_ms) {
                int64_t earliest = INT64_MAX;

                for (size_t b = 0; b < WAIT_BUCKETS; b++) {
                        int64_t e = bucket_detach(w, b, NULL, expired_before, all, &wake);
                        if (e < earliest)
                                earliest = e;
                }
                w->earliest_ms = earliest;
        }
        pthread_mutex_unlock(&w->mu);
        while (wake) {
                struct waiter *next = wake->next;
                MHD_resume_connection(wake->conn);
                free(wake);
                wake = next;
        }
}

void server_wait_prepare(struct request *req, struct response *resp, const char *key)
{
        snprintf(resp->wait_key, sizeof(resp->wait_key), "%s", key);
        resp->gen_before = waiters_gen(req->srv->waiters, resp->wait_key);
}

int server_tx_end(struct idyl_store *st, int rc, struct response *resp, int status,
                  struct idyl_err *err)
{
        if (rc < 0) {
                store_tx_rollback(st);
                return -1;
        }
        resp->status = status;
        return store_tx_commit(st, err);
}

void server_notify_local(struct idyl_server *srv, const char *key)
{
        if (srv->waiters)
                waiters_resume(srv->waiters, key, 0, false);
}

void server_notify(struct idyl_server *srv, const char *key)
{
        server_notify_local(srv, key);
        replicas_publish(srv, 'n', key);
}

static void *waiters_timer(void *arg)
{
        struct waiters *w = arg;

        pthread_mutex_lock(&w->mu);
        while (!w->stopping) {
                cond_wait_ms(&w->cond, &w->mu, CLOCK_REALTIME, 100);
                if (w->stopping)
                        break;
                pthread_mutex_unlock(&w->mu);
                waiters_resume(w, NULL, now_ms(), false);
                heads_sweep(w->heads, now_ms(), w->head_timeout_ms);
                pthread_mutex_lock(&w->mu);
        }
        pthread_mutex_unlock(&w->mu);
        return NULL;
}

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

/* A non-JSON answer (GET /metrics); takes ownership of text. */
static enum MHD_Result send_text(struct MHD_Connection *conn, int status, char *text,
                                 const char *content_type)
{
        struct MHD_Response *r =
            MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        enum MHD_Result ret;

        if (!r) {
                free(text);
                return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", content_type ? content_type : "text/plain");
        ret = MHD_queue_response(conn, (unsigned)status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, const struct idyl_err *err)
{
        json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", idyl_errcode_name(err->code),
                                 "message", err->msg);
        enum MHD_Result ret;

        if (!body) /* a message quoting bytes that are not UTF-8: say it without them */
                body = json_pack("{s:{s:s,s:s}}", "error", "code", idyl_errcode_name(err->code),
                                 "message", "the request could not be served");
        ret = send_json(conn, idyl_errcode_http_status(err->code), body, NULL);

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

/* The route must admit the caller's role, and a subnet-scoped caller must
 * stay inside its subnet: only /v1/subnets/{slug}/... of that subnet, or a
 * ROUTE_SCOPED route whose handler confines it. */
static int authorize(const struct request *req, const struct route *rt, struct idyl_err *err)
{
        const struct idyl_token *c = &req->caller;
        char slug[SUBNET_SLUG_BUFLEN];

        if (!(rt->roles & ROLE_BIT(c->role)))
                return idyl_err_set(err, IDYL_E_FORBIDDEN, "role %s may not %s %s",
                                    idyl_role_name(c->role), req->method, req->url);
        if (!c->subnet || (rt->flags & ROUTE_SCOPED))
                return 0;
        subnet_slug_format(c->subnet, slug);
        if (strncmp(rt->pattern, "/v1/subnets/{slug}", 18) == 0 && req->nparams > 0 &&
            strcmp(req->params[0], slug) == 0)
                return 0;
        return idyl_err_set(err, IDYL_E_FORBIDDEN,
                            "this credential is scoped to subnet \"%s\" and may not %s %s", slug,
                            req->method, req->url);
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

/* A change under /v1/subnets/{slug}/... may have changed its workloads:
 * wake their watches (which look again, and sleep on when nothing moved). */
static void notify_watchers(struct idyl_server *srv, const struct route *rt,
                            const struct request *req)
{
        uint64_t slug;

        if (strncmp(rt->pattern, "/v1/subnets/{slug}", 18) == 0 && req->nparams > 0 &&
            subnet_slug_parse(req->params[0], &slug, NULL) == 0)
                watch_subnet_changed(srv, slug);
}

/* Counts the Content-Length headers of a request (one is all HTTP allows). */
static enum MHD_Result count_content_length(void *cls, enum MHD_ValueKind kind, const char *key,
                                            const char *value)
{
        (void)kind;
        (void)value;
        if (strcasecmp(key, "Content-Length") == 0)
                (*(unsigned *)cls)++;
        return MHD_YES;
}

/* What can be told from the request line and headers alone: a request
 * target too long or not UTF-8, a Content-Length that is repeated, not a
 * number, or past the body limit. */
static int check_head(struct MHD_Connection *conn, const char *url, struct idyl_err *err)
{
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        size_t len = strlen(url);
        unsigned ncl = 0;

        if (len > SERVER_URL_MAX)
                return idyl_err_set(err, IDYL_E_URI_TOO_LONG,
                                    "request target is %zu bytes, longer than %u", len,
                                    SERVER_URL_MAX);
        if (!utf8_valid(url, len))
                return idyl_err_set(err, IDYL_E_INVALID, "request path is not valid UTF-8");
        MHD_get_connection_values(conn, MHD_HEADER_KIND, count_content_length, &ncl);
        if (ncl > 1)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "more than one Content-Length header in the request");
        if (cl) {
                size_t digits = strspn(cl, "0123456789");

                if (digits == 0 || cl[digits])
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "Content-Length must be a decimal number of bytes");
                if (digits > 9 || strtoull(cl, NULL, 10) > SERVER_BODY_MAX)
                        return idyl_err_set(err, IDYL_E_TOO_LARGE,
                                            "request body is larger than %u bytes",
                                            SERVER_BODY_MAX);
        }
        return 0;
}

struct query_check {
        const char *allowed; /* comma-separated; NULL: none */
        char bad[64];        /* the first parameter not allowed */
};

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
        struct query_check *q = cls;
        size_t len = strlen(key);

        (void)kind;
        (void)value;
        for (const char *a = q->allowed; a && *a;) {
                size_t n = strcspn(a, ",");

                if (n == len && strncmp(a, key, n) == 0)
                        return MHD_YES;
                a += n + (a[n] == ',');
        }
        snprintf(q->bad, sizeof(q->bad), "%.60s", key);
        return MHD_NO;
}

/* Only the query parameters a route declares. */
static int check_query(struct MHD_Connection *conn, const struct route *rt, struct idyl_err *err)
{
        struct query_check q = {.allowed = rt->query};

        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, query_arg, &q);
        if (!q.bad[0])
                return 0;
        if (!rt->query)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "unknown query parameter \"%s\": %s %s takes none", q.bad,
                                    rt->method, rt->pattern);
        return idyl_err_set(err, IDYL_E_INVALID, "unknown query parameter \"%s\": %s %s takes %s",
                            q.bad, rt->method, rt->pattern, rt->query);
}

/* The head phase (no body byte read yet): the head is sound, the route
 * exists, and the caller is known and may call it. An unknown route asks
 * for a credential first, so a caller without one learns nothing of the
 * API's shape; a malformed head is refused with or without one. */
static int admit_head(struct request *req, const struct route **rtp, struct idyl_err *err)
{
        struct idyl_err notfound = IDYL_ERR_INIT;
        const struct route *rt;

        *rtp = NULL;
        if (check_head(req->conn, req->url, err) < 0) {
                struct idyl_err unknown = IDYL_ERR_INIT;

                /* a malformed head needs no credential to be refused, but a
                 * known caller's attempt is audited */
                if (authenticate(req, &unknown) < 0)
                        req->caller = (struct idyl_token){.role = ROLE_NONE};
                return -1;
        }
        rt = *rtp = route_find(req, &notfound);
        if (rt && (rt->flags & ROUTE_PUBLIC))
                return check_query(req->conn, rt, err);
        if (authenticate(req, err) < 0)
                return -1;
        if (!rt) {
                *err = notfound;
                return -1;
        }
        if (authorize(req, rt, err) < 0)
                return -1;
        return check_query(req->conn, rt, err);
}

static bool audited(const struct request *req, const struct route *rt, int rc, int status)
{
        if (req->caller.role == ROLE_NONE)
                return false; /* anonymous: would let anyone fill the log */
        if (!rt)
                return true; /* a known caller probing unknown routes */
        if (rt->flags & ROUTE_PUBLIC)
                return false;
        /* reports are not changes, but a refused one is an attempt */
        if (rt->flags & ROUTE_NO_AUDIT)
                return rc < 0 && (status == 401 || status == 403);
        return strcmp(req->method, "GET") != 0 || (rt->flags & ROUTE_AUDIT_READ);
}

/* Runs a request in two steps: with head_only, before any body byte is
 * read (an error answers at once and the body is never read; success
 * returns MHD_YES and keeps the caller in cs); then, with the whole body,
 * the handler. */
static enum MHD_Result dispatch(struct idyl_server *srv, struct MHD_Connection *conn,
                                const char *url, const char *method, struct conn_state *cs,
                                bool head_only)
{
        struct request req = {.srv = srv, .conn = conn, .method = method, .url = url};
        struct response resp = {.status = 200};
        struct audit_change change = {0};
        struct idyl_err err = IDYL_ERR_INIT;
        const struct route *rt;
        enum MHD_Result ret;
        int rc = -1, status;

        if (head_only) {
                rc = admit_head(&req, &rt, &err);
                if (rt)
                        cs->route = rt - server_routes;
                if (rc < 0)
                        goto out;
                cs->caller = req.caller;
                request_release(&req);
                return MHD_YES;
        }
        rt = route_find(&req, &err);
        if (!rt)
                goto out; /* admit_head found it: cannot happen */
        req.caller = cs->caller;
        if (cs->too_large) {
                idyl_err_set(&err, IDYL_E_TOO_LARGE, "request body is larger than %u bytes",
                             SERVER_BODY_MAX);
                goto out;
        }
        if (parse_body(&req, &cs->body, rt->flags, &err) < 0)
                goto out;
        for (;;) {
                uint64_t gen;

                req.wait_deadline_ms = cs->deadline_ms;
                if (audited(&req, rt, 0, resp.status))
                        audit_change_begin(&change, &req, rt, &resp);
                rc = rt->handler(&req, &resp, &err);
                audit_change_end(&change);
                if (rc < 0 || !resp.suspend_until_ms)
                        break;
                /* the handler asked to wait: the generation was read before it looked */
                cs->deadline_ms = resp.suspend_until_ms;
                gen = resp.gen_before;
                switch (waiters_suspend(srv->waiters, conn, resp.wait_key, cs->deadline_ms, gen)) {
                case 1:
                        request_release(&req);
                        return MHD_YES;
                case -1:
                        cs->deadline_ms = 1; /* stopping: answer with what there is */
                        break;
                }
                json_decref(resp.body);
                free(resp.text);
                memset(&resp, 0, sizeof(resp));
                resp.status = 200;
        }
out:
        status = rc < 0 ? idyl_errcode_http_status(err.code) : resp.status;
        if (rc == 0 && strcmp(method, "GET") != 0)
                notify_watchers(srv, rt, &req);
        if (audited(&req, rt, rc, status) && !resp.forwarded)
                audit_record(&req, rt, status, &resp, &change);
        cs->status = status;
        if (rc < 0) {
                if (status >= 500)
                        log_warnx("%s %s: %s", method, url, err.msg);
                ret = send_error(conn, &err);
        } else if (resp.upgrade) {
                heads_note(srv->heads, conn, 0, true);
                cs->upgrade = resp.upgrade;
                ret = stream_queue_upgrade(conn, resp.upgrade);
        } else if (resp.text) {
                ret = send_text(conn, resp.status, resp.text, resp.content_type);
                resp.text = NULL;
        } else {
                ret = send_json(conn, resp.status, resp.body, resp.warnings);
        }
        json_decref(resp.body);
        free(resp.text);
        json_decref(resp.warnings);
        request_release(&req);
        return ret;
}

static unsigned client_timeout(const struct idyl_server *srv)
{
        return srv->client_timeout ? srv->client_timeout : SERVER_CLIENT_TIMEOUT;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
        struct idyl_server *srv = cls;
        struct conn_state *cs = *con_cls;

        (void)version;
        if (!cs) {
                heads_note(srv->heads, conn, 0, false); /* the head is whole */
                cs = calloc(1, sizeof(*cs));
                if (!cs)
                        return MHD_NO;
                cs->body.max = SERVER_BODY_MAX;
                cs->started_ns = mono_ns();
                cs->route = -1;
                cs->body_deadline_ms =
                    now_ms() + 1000LL * SERVER_BODY_TIMEOUTS * client_timeout(srv);
                *con_cls = cs;
                /* refused from the head: answered before a byte of body is read */
                return dispatch(srv, conn, url, method, cs, true);
        }
        if (cs->status) {
                *upload_data_size = 0; /* answered from the head: the body is dropped */
                return MHD_YES;
        }
        if (*upload_data_size) {
                /* a body trickled in byte by byte never looks idle: bound it whole */
                if (now_ms() > cs->body_deadline_ms)
                        return MHD_NO;
                if (!cs->too_large &&
                    idyl_buf_append(&cs->body, upload_data, *upload_data_size) < 0)
                        cs->too_large = true;
                *upload_data_size = 0;
                return MHD_YES;
        }
        return dispatch(srv, conn, url, method, cs, false);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
        struct idyl_server *srv = cls;
        struct conn_state *cs = *con_cls;

        (void)toe;
        /* a kept-alive connection waits for its next head */
        heads_note(srv->heads, conn, now_ms(), false);
        if (!cs)
                return;
        if (cs->status)
                metrics_http_request(((struct idyl_server *)cls)->metrics, cs->route, cs->status,
                                     (double)(mono_ns() - cs->started_ns) / 1e9);
        idyl_buf_release(&cs->body);
        free(cs->upgrade);
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

static int waiters_start(struct idyl_server *srv, struct idyl_err *err)
{
        struct waiters *w = calloc(1, sizeof(*w));
        struct heads *h = calloc(1, sizeof(*h));

        if (!w || !h) {
                free(w);
                free(h);
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        }
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cond, NULL);
        pthread_mutex_init(&h->mu, NULL);
        h->limit = srv->max_connections ? srv->max_connections : SERVER_CONNECTIONS;
        w->heads = h;
        w->earliest_ms = INT64_MAX;
        w->head_timeout_ms = 1000LL * client_timeout(srv);
        if (pthread_create(&w->timer, NULL, waiters_timer, w) != 0) {
                pthread_mutex_destroy(&h->mu);
                free(h);
                free(w);
                return idyl_err_set(err, IDYL_E_INTERNAL, "cannot start the long-poll timer");
        }
        srv->waiters = w;
        srv->heads = h;
        return 0;
}

static void waiters_stop(struct idyl_server *srv)
{
        struct waiters *w = srv->waiters;

        if (!w)
                return;
        pthread_mutex_lock(&w->mu);
        w->stopping = true;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->timer, NULL);
        waiters_resume(w, NULL, 0, true);
}

static void waiters_free(struct idyl_server *srv)
{
        if (!srv->waiters)
                return;
        pthread_mutex_destroy(&srv->waiters->mu);
        pthread_cond_destroy(&srv->waiters->cond);
        free(srv->waiters);
        srv->waiters = NULL;
        /* the daemon is stopped: every connection was reported closed */
        pthread_mutex_destroy(&srv->heads->mu);
        free(srv->heads);
        srv->heads = NULL;
}

/* Percent-decodes a URL path or query value in place, as MHD would, except
 * that "%00" stays as it is: a decoded NUL would cut the string and route
 * "/v1/subnets/S%00/workloads" as "/v1/subnets/S". Returns the new length. */
static size_t unescape_no_nul(void *cls, struct MHD_Connection *conn, char *s)
{
        static const char hexdigits[] = "0123456789abcdef0123456789ABCDEF";
        char *out = s;

        (void)cls;
        (void)conn;
        for (const char *in = s; *in;) {
                const char *hi = in[0] == '%' && in[1] ? strchr(hexdigits, in[1]) : NULL;
                const char *lo = hi && in[2] ? strchr(hexdigits, in[2]) : NULL;
                int v = lo ? ((int)(hi - hexdigits) % 16) * 16 + (int)(lo - hexdigits) % 16 : 0;

                if (v) {
                        *out++ = (char)v;
                        in += 3;
                } else {
                        *out++ = *in++;
                }
        }
        *out = '\0';
        return (size_t)(out - s);
}

/* The library's own complaints (a connection refused at the limit, a
 * descriptor it could not accept) go to idyld's log. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
        /* at most 10 lines per 10 s: a flood of bad clients must not fill the log */
        static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
        static int64_t window_ms;
        static unsigned lines, dropped;
        int64_t now = now_ms();
        unsigned report = 0;
        char line[512];
        size_t n;

        (void)cls;
        pthread_mutex_lock(&mu);
        if (now - window_ms >= 10000) {
                report = dropped;
                window_ms = now;
                lines = dropped = 0;
        }
        if (lines >= 10) {
                dropped++;
                pthread_mutex_unlock(&mu);
                return;
        }
        lines++;
        pthread_mutex_unlock(&mu);
        if (report)
                log_warnx("http: %u more messages of the HTTP library were not logged", report);
        vsnprintf(line, sizeof(line), fmt, ap);
        n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                line[--n] = '\0';
        log_warnx("http: %s", line);
}

/* Plain HTTP carries credentials in the clear: only on loopback unless the
 * operator asked for it. */
static int check_plain_listen(const struct idyl_server *srv, const struct sockaddr_in *sa,
                              const char *listen, struct idyl_err *err)
{
        if (srv->tls_cert || srv->insecure_listen || (ntohl(sa->sin_addr.s_addr) >> 24) == 127)
                return 0;
        return idyl_err_set(err, IDYL_E_INVALID,
                            "refusing to serve plain HTTP on \"%s\", which is not a loopback "
                            "address: give --tls-cert and --tls-key, or --insecure-listen",
                            listen);
}

int server_start(struct idyl_server *srv, const char *listen, struct idyl_err *err)
{
        struct sockaddr_in sa;
        const union MHD_DaemonInfo *info;
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                         MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG;
        unsigned limit = srv->max_connections ? srv->max_connections : SERVER_CONNECTIONS;
        /* each pool thread gets its share of the connection limit */
        unsigned threads = limit < SERVER_HTTP_THREADS ? limit : SERVER_HTTP_THREADS;

        if (parse_listen(listen, &sa, err) < 0 || check_plain_listen(srv, &sa, listen, err) < 0 ||
            waiters_start(srv, err) < 0)
                return -1;
        if (streams_start(srv, err) < 0) {
                waiters_stop(srv);
                waiters_free(srv);
                return -1;
        }
        if (!srv->metrics && !(srv->metrics = metrics_new(server_nroutes))) {
                waiters_stop(srv);
                waiters_free(srv);
                streams_free(srv);
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        }
        struct MHD_OptionItem tls[] = {
            {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)srv->tls_cert},
            {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)srv->tls_key},
            {MHD_OPTION_END, 0, NULL},
        };

        if (srv->tls_cert)
                flags |= MHD_USE_TLS;
        else
                tls[0].option = MHD_OPTION_END;
        /* Request headers share MHD's per-connection memory: a header block
         * past it is refused (431) before any handler runs. A connection
         * that sends nothing for the timeout is closed (suspended long-polls
         * do not count), so is one whose request head is not whole within
         * it (heads_sweep); a body must arrive within SERVER_BODY_TIMEOUTS
         * of it. */
        srv->mhd = MHD_start_daemon(
            flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
            srv, MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_THREAD_POOL_SIZE,
            threads, MHD_OPTION_CONNECTION_TIMEOUT, client_timeout(srv),
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SERVER_HEADER_MEMORY,
            MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_UNESCAPE_CALLBACK, unescape_no_nul, NULL,
            MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
        if (!srv->mhd) {
                waiters_stop(srv);
                waiters_free(srv);
                streams_free(srv);
                return idyl_err_set(err, IDYL_E_UNAVAILABLE, "listen on \"%s\" failed", listen);
        }
        info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
        srv->port = info ? info->port : ntohs(sa.sin_port);
        return 0;
}

void server_stop(struct idyl_server *srv)
{
        waiters_stop(srv);
        streams_stop(srv);
        if (srv->mhd)
                MHD_stop_daemon(srv->mhd);
        srv->mhd = NULL;
        waiters_free(srv);
        streams_free(srv);
        metrics_free(srv->metrics);
        srv->metrics = NULL;
}
