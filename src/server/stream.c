/* Log and exec streams (SPEC §8). The CLI asks idyld for a workload's logs
 * or an exec; idyld answers 101 and keeps the CLI's connection under a new
 * stream id, and offers the stream to the node's agent, which long-polls
 * GET .../nodes/{name}/streams. The agent opens POST .../streams/{id}
 * (also upgraded) and writes frames (util/stream_wire.h) that one thread
 * copies to the CLI; the CLI's own frames (an exec's stdin) are copied to
 * the agent, which checks them. Nodes open every connection; they need no
 * inbound port.
 *
 * A stream ends when either side goes, when the agent's END frame has passed,
 * or at its bounds (STREAM_TIME_MAX_S, STREAM_BYTES_MAX). Streams live in
 * this replica's memory, keyed by their id.
 *
 * With several replicas, the replica serving an agent's streams long-poll
 * records itself in the store (liveness_streams_polled); a CLI request that
 * reaches another replica is forwarded there (replicas_node_route): the
 * same request with the caller's credential, whose answer passes through
 * unchanged, and on 101 a stream whose far side is that replica instead of
 * an agent, spliced within the same bounds. */
#include "server/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/subnet.h"
#include "core/workload.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/stream_wire.h"

#define STREAM_ID_LEN      32
#define STREAM_MAX         256 /* streams open at once on a replica */
#define STREAM_CONNECT_MS  10000
#define STREAM_REOFFER_MS  5000 /* an offered stream the agent did not open is offered again */
#define STREAM_TIME_MAX_S  3600
#define STREAM_BYTES_MAX   (1024LL * 1024 * 1024)
#define STREAM_WRITE_MS    10000 /* a reader that takes no bytes for this long is cut */
#define STREAMS_WAIT_MAX_S 60
#define EXEC_ARGS_MAX      64
#define EXEC_ARG_BYTES_MAX 4096
#define LOGS_TAIL_MAX      1000000
#define FORWARD_CONNECT_S  3 /* another replica that does not take a connection by then is gone */
#define FORWARD_ANSWER_MS  10000 /* nor answers the stream request */

struct stream {
        char id[STREAM_ID_LEN + 1];
        uint64_t subnet;
        char node[64];
        json_t *offer;              /* what the agent is told: {"id", "kind", "workload", ...};
                                       NULL for a stream forwarded to another replica */
        struct stream_conn *remote; /* that replica's side of a forwarded stream */
        char peer[128];             /* the far side, in messages: node "N", replica R */
        int64_t created_ms, offered_ms;
        MHD_socket cli_fd, agent_fd;
        struct MHD_UpgradeResponseHandle *cli_urh, *agent_urh;
        int wake[2]; /* the agent's side arrived */
        struct stream *next;
};

/* What the HTTP layer keeps with a connection until it completes. */
struct stream_ticket {
        struct idyl_server *srv;
        char id[STREAM_ID_LEN + 1];
        bool agent;
};

struct streams {
        pthread_mutex_t mu;
        pthread_cond_t idle;
        struct stream *list;
        size_t n;       /* in list */
        size_t threads; /* splicing */
        bool stopping;
};

int streams_start(struct idyl_server *srv, struct idyl_err *err)
{
        struct streams *t = calloc(1, sizeof(*t));

        if (!t)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        pthread_mutex_init(&t->mu, NULL);
        pthread_cond_init(&t->idle, NULL);
        srv->streams = t;
        return 0;
}

static void wake_stream(struct stream *s)
{
        ssize_t ignored = write(s->wake[1], "x", 1);

        (void)ignored;
}

static void stream_free(struct stream *s)
{
        if (s->cli_urh)
                MHD_upgrade_action(s->cli_urh, MHD_UPGRADE_ACTION_CLOSE);
        if (s->agent_urh)
                MHD_upgrade_action(s->agent_urh, MHD_UPGRADE_ACTION_CLOSE);
        close(s->wake[0]);
        close(s->wake[1]);
        json_decref(s->offer);
        stream_conn_close(s->remote);
        free(s);
}

/* Unlinks s; the caller holds the lock. */
static void unlink_locked(struct streams *t, struct stream *s)
{
        for (struct stream **p = &t->list; *p; p = &(*p)->next)
                if (*p == s) {
                        *p = s->next;
                        t->n--;
                        return;
                }
}

void streams_stop(struct idyl_server *srv)
{
        struct streams *t = srv->streams;

        if (!t)
                return;
        pthread_mutex_lock(&t->mu);
        t->stopping = true;
        for (struct stream *s = t->list; s; s = s->next)
                wake_stream(s);
        while (t->threads)
                pthread_cond_wait(&t->idle, &t->mu);
        /* streams no thread took (a side never arrived) close while MHD runs */
        while (t->list) {
                struct stream *s = t->list;

                unlink_locked(t, s);
                stream_free(s);
        }
        pthread_mutex_unlock(&t->mu);
}

void streams_free(struct idyl_server *srv)
{
        struct streams *t = srv->streams;

        if (!t)
                return;
        while (t->list) {
                struct stream *s = t->list;

                unlink_locked(t, s);
                stream_free(s);
        }
        pthread_cond_destroy(&t->idle);
        pthread_mutex_destroy(&t->mu);
        free(t);
        srv->streams = NULL;
}

static struct stream *find_locked(struct streams *t, const char *id)
{
        for (struct stream *s = t->list; s; s = s->next)
                if (strcmp(s->id, id) == 0)
                        return s;
        return NULL;
}

/* Drops streams whose CLI side never arrived (its connection went first). */
static void sweep_locked(struct streams *t, int64_t now)
{
        struct stream **p = &t->list;

        while (*p) {
                struct stream *s = *p;

                if (!s->cli_urh && now - s->created_ms > 2 * STREAM_CONNECT_MS) {
                        *p = s->next;
                        t->n--;
                        stream_free(s);
                } else {
                        p = &s->next;
                }
        }
}

static void streams_key(uint64_t subnet, const char *node, char *buf, size_t size)
{
        snprintf(buf, size, "streams/%" PRIu64 "/%s", subnet, node);
}

/* ---- splicing ---------------------------------------------------------------- */

/* Writes all of data to a non-blocking socket, waiting STREAM_WRITE_MS at most. */
static int write_all(MHD_socket fd, const void *data, size_t len)
{
        const char *p = data;

        while (len) {
                ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

                if (n > 0) {
                        p += n;
                        len -= (size_t)n;
                        continue;
                }
                if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                        struct pollfd pf = {.fd = fd, .events = POLLOUT};

                        if (poll(&pf, 1, STREAM_WRITE_MS) <= 0)
                                return -1;
                        continue;
                }
                return -1;
        }
        return 0;
}

/* Tells the CLI why the stream ends, as an END frame. */
static void send_end_error(MHD_socket fd, enum idyl_errcode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void send_end_error(MHD_socket fd, enum idyl_errcode code, const char *fmt, ...)
{
        char msg[512];
        uint8_t hdr[STREAM_FRAME_HDR];
        va_list ap;
        json_t *o;
        char *text;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        o = json_pack("{s:{s:s,s:s}}", "error", "code", idyl_errcode_name(code), "message", msg);
        text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!text)
                return;
        stream_frame_header(hdr, STREAM_END, (uint32_t)strlen(text));
        if (write_all(fd, hdr, sizeof(hdr)) == 0)
                write_all(fd, text, strlen(text));
        free(text);
}

/* Where the agent's bytes are in the frame sequence, so idyld can end a
 * stream between frames and knows when the END frame has passed. */
struct frame_track {
        uint8_t hdr[STREAM_FRAME_HDR];
        size_t hdr_got;
        uint32_t left; /* payload bytes of the current frame still to come */
        bool in_end;   /* the current frame is END */
        bool ended;    /* END has passed whole */
        bool bad;
};

static void track(struct frame_track *f, const uint8_t *p, size_t n)
{
        while (n && !f->bad) {
                if (f->left) {
                        size_t k = n < f->left ? n : f->left;

                        f->left -= (uint32_t)k;
                        p += k;
                        n -= k;
                        if (!f->left && f->in_end)
                                f->ended = true;
                        continue;
                }
                f->hdr[f->hdr_got++] = *p++;
                n--;
                if (f->hdr_got == STREAM_FRAME_HDR) {
                        enum stream_channel ch;

                        f->hdr_got = 0;
                        if (stream_frame_parse(f->hdr, &ch, &f->left) < 0) {
                                f->bad = true;
                                break;
                        }
                        f->in_end = ch == STREAM_END;
                        if (f->in_end && !f->left)
                                f->ended = true;
                }
        }
}

static bool at_boundary(const struct frame_track *f)
{
        return !f->hdr_got && !f->left;
}

/* Waits for the agent's side; false when the CLI left, idyld stops or the
 * agent did not come in time (the CLI is told). */
static bool await_agent(struct idyl_server *srv, struct stream *s)
{
        struct streams *t = srv->streams;
        bool cli_sent = false; /* stdin came first: it waits in the socket for the agent */

        for (;;) {
                struct pollfd pf[2] = {{.fd = s->wake[0], .events = POLLIN},
                                       {.fd = s->cli_fd, .events = POLLIN}};
                int64_t left = s->created_ms + STREAM_CONNECT_MS - mono_ms();
                bool have, stopping;
                ssize_t n;
                char c;

                pthread_mutex_lock(&t->mu);
                have = s->agent_urh != NULL;
                stopping = t->stopping;
                pthread_mutex_unlock(&t->mu);
                if (have)
                        return true;
                if (stopping)
                        return false;
                if (left <= 0) {
                        send_end_error(s->cli_fd, IDYL_E_UNAVAILABLE,
                                       "node \"%s\" did not open the stream within %ds", s->node,
                                       STREAM_CONNECT_MS / 1000);
                        return false;
                }
                if (poll(pf, cli_sent ? 1 : 2, (int)left) < 0 && errno != EINTR)
                        return false;
                if (pf[0].revents && read(s->wake[0], &c, 1) < 0)
                        return false;
                if (!cli_sent && pf[1].revents) {
                        n = recv(s->cli_fd, &c, 1, MSG_PEEK);
                        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                                return false; /* the CLI went */
                        cli_sent = n > 0;
                }
        }
}

/* The far side's socket: the agent's, or the replica's a stream was
 * forwarded to. */
static int far_fd(const struct stream *s)
{
        return s->remote ? stream_conn_fd(s->remote) : s->agent_fd;
}

/* Reads from the far side: a count, 0 at its end, -1 on error, -2 when
 * nothing is there now. */
static ssize_t far_recv(struct stream *s, uint8_t *buf, size_t size)
{
        struct idyl_err err = IDYL_ERR_INIT;
        ssize_t n;

        if (s->remote)
                return stream_conn_read(s->remote, buf, size, 0, &err);
        n = recv(s->agent_fd, buf, size, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return -2;
        return n;
}

/* Bytes from the CLI (exec -i's stdin frames) go on as they are: to the
 * agent, or to the replica a stream was forwarded to. */
static int far_send(struct stream *s, const uint8_t *buf, size_t len)
{
        struct idyl_err err = IDYL_ERR_INIT;

        if (s->remote)
                return stream_conn_write(s->remote, buf, len, &err);
        return write_all(s->agent_fd, buf, len);
}

static void splice_sides(struct idyl_server *srv, struct stream *s)
{
        struct frame_track f = {0};
        int64_t deadline = mono_ms() + 1000LL * STREAM_TIME_MAX_S, bytes = 0;
        uint8_t buf[16384];

        for (;;) {
                struct pollfd pf[3] = {{.fd = s->cli_fd, .events = POLLIN},
                                       {.fd = far_fd(s), .events = POLLIN},
                                       {.fd = s->wake[0], .events = POLLIN}};
                int64_t left = deadline - mono_ms();
                bool ahead = s->remote && stream_conn_pending(s->remote);
                ssize_t n;

                if (left <= 0 || bytes > STREAM_BYTES_MAX) {
                        if (at_boundary(&f))
                                send_end_error(s->cli_fd, IDYL_E_TOO_LARGE,
                                               "the stream reached its limit (%ds or %lld MiB)",
                                               STREAM_TIME_MAX_S, STREAM_BYTES_MAX >> 20);
                        return;
                }
                if (poll(pf, 3, ahead ? 0 : left > 1000 ? 1000 : (int)left) < 0 && errno != EINTR)
                        return;
                if (pf[2].revents) {
                        bool stopping;
                        char c;

                        if (read(s->wake[0], &c, 1) < 0)
                                return;
                        pthread_mutex_lock(&srv->streams->mu);
                        stopping = srv->streams->stopping;
                        pthread_mutex_unlock(&srv->streams->mu);
                        if (stopping)
                                return;
                }
                if (pf[0].revents) {
                        /* the CLI's frames (exec -i's stdin) go to the agent as they are */
                        n = recv(s->cli_fd, buf, sizeof(buf), 0);
                        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                                return;
                        if (n > 0 && far_send(s, buf, (size_t)n) < 0)
                                return;
                        bytes += n > 0 ? n : 0;
                }
                if (!pf[1].revents && !ahead)
                        continue;
                /* drain what is there: a TLS connection may hold decrypted
                 * bytes poll does not show */
                while ((n = far_recv(s, buf, sizeof(buf))) != -2) {
                        if (n <= 0) {
                                if (at_boundary(&f) && !f.ended)
                                        send_end_error(s->cli_fd, IDYL_E_UNAVAILABLE,
                                                       "%s closed the stream", s->peer);
                                return;
                        }
                        track(&f, buf, (size_t)n);
                        if (f.bad)
                                return;
                        if (write_all(s->cli_fd, buf, (size_t)n) < 0)
                                return;
                        bytes += n;
                        if (f.ended)
                                return;
                        if (bytes > STREAM_BYTES_MAX)
                                break; /* the loop's check ends it between frames */
                }
        }
}

static void *stream_main(void *arg)
{
        struct idyl_server *srv = ((void **)arg)[0];
        struct stream *s = ((void **)arg)[1];
        struct streams *t = srv->streams;

        free(arg);
        if (s->remote || await_agent(srv, s))
                splice_sides(srv, s);
        pthread_mutex_lock(&t->mu);
        unlink_locked(t, s);
        pthread_mutex_unlock(&t->mu);
        stream_free(s);
        pthread_mutex_lock(&t->mu);
        if (--t->threads == 0)
                pthread_cond_broadcast(&t->idle);
        pthread_mutex_unlock(&t->mu);
        return NULL;
}

/* MHD hands over an upgraded connection (either side). */
static void on_upgraded(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra_in,
                        size_t extra_in_size, MHD_socket sock,
                        struct MHD_UpgradeResponseHandle *urh)
{
        struct stream_ticket *tk = cls;
        struct streams *t = tk->srv->streams;
        struct stream *s;
        pthread_attr_t attr;
        pthread_t th;
        void **arg;

        (void)conn;
        (void)req_cls;
        (void)extra_in;
        pthread_mutex_lock(&t->mu);
        s = find_locked(t, tk->id);
        /* a side that sends before it is answered breaks the protocol */
        if (!s || t->stopping || extra_in_size || (tk->agent ? s->agent_urh : s->cli_urh)) {
                pthread_mutex_unlock(&t->mu);
                MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
                return;
        }
        if (tk->agent) {
                s->agent_fd = sock;
                s->agent_urh = urh;
                wake_stream(s);
                pthread_mutex_unlock(&t->mu);
                return;
        }
        s->cli_fd = sock;
        s->cli_urh = urh;
        arg = malloc(2 * sizeof(void *));
        if (arg) {
                arg[0] = tk->srv;
                arg[1] = s;
                pthread_attr_init(&attr);
                pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                if (pthread_create(&th, &attr, stream_main, arg) == 0) {
                        t->threads++;
                        arg = NULL;
                }
                pthread_attr_destroy(&attr);
        }
        if (arg) {
                free(arg);
                unlink_locked(t, s);
                pthread_mutex_unlock(&t->mu);
                log_warnx("stream %s: cannot start its thread", s->id);
                stream_free(s);
                return;
        }
        pthread_mutex_unlock(&t->mu);
}

enum MHD_Result stream_queue_upgrade(struct MHD_Connection *conn, void *ticket)
{
        struct MHD_Response *r = MHD_create_response_for_upgrade(on_upgraded, ticket);
        enum MHD_Result ret;

        if (!r)
                return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_UPGRADE, STREAM_UPGRADE);
        ret = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, r);
        MHD_destroy_response(r);
        return ret;
}

/* ---- handlers ------------------------------------------------------------------ */

static int want_upgrade(const struct request *req, struct idyl_err *err)
{
        const char *up = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Upgrade");

        if (!up || strcasecmp(up, STREAM_UPGRADE) != 0)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "this route streams: send \"Connection: Upgrade\" and "
                                    "\"Upgrade: " STREAM_UPGRADE "\"");
        return 0;
}

static struct stream_ticket *ticket_new(struct idyl_server *srv, const char *id, bool agent)
{
        struct stream_ticket *tk = calloc(1, sizeof(*tk));

        if (tk) {
                tk->srv = srv;
                snprintf(tk->id, sizeof(tk->id), "%s", id);
                tk->agent = agent;
        }
        return tk;
}

static int new_id(char out[STREAM_ID_LEN + 1], struct idyl_err *err)
{
        unsigned char rnd[STREAM_ID_LEN / 2];

        if (getentropy(rnd, sizeof(rnd)) < 0)
                return idyl_err_set(err, IDYL_E_INTERNAL, "no randomness for a stream id");
        for (size_t i = 0; i < sizeof(rnd); i++)
                snprintf(out + 2 * i, 3, "%02x", rnd[i]);
        return 0;
}

/* A new stream for the node running workload w; NULL when out of memory
 * (err set). */
static struct stream *stream_new(const struct idyl_workload *w, struct idyl_err *err)
{
        struct stream *s = calloc(1, sizeof(*s));

        if (!s || pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
                free(s);
                idyl_err_set(err, IDYL_E_INTERNAL, "cannot make a stream");
                return NULL;
        }
        s->subnet = w->subnet;
        snprintf(s->node, sizeof(s->node), "%s", w->node);
        snprintf(s->peer, sizeof(s->peer), "node \"%s\"", w->node);
        s->created_ms = mono_ms();
        s->cli_fd = s->agent_fd = MHD_INVALID_SOCKET;
        return s;
}

/* Gives s an id, lists it and leaves the CLI's 101 in resp; s is consumed. */
static int stream_register(struct request *req, struct response *resp, struct stream *s,
                           struct idyl_err *err)
{
        struct streams *t = req->srv->streams;

        if (new_id(s->id, err) < 0 || !(resp->upgrade = ticket_new(req->srv, s->id, false))) {
                stream_free(s);
                return err->code ? -1 : idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        }
        if (s->offer)
                json_object_set_new(s->offer, "id", json_string(s->id));
        pthread_mutex_lock(&t->mu);
        sweep_locked(t, s->created_ms);
        if (t->n >= STREAM_MAX || t->stopping) {
                pthread_mutex_unlock(&t->mu);
                stream_free(s);
                free(resp->upgrade);
                resp->upgrade = NULL;
                return idyl_err_set(err, IDYL_E_UNAVAILABLE,
                                    "too many streams are open (%d); try again later", STREAM_MAX);
        }
        s->next = t->list;
        t->list = s;
        t->n++;
        pthread_mutex_unlock(&t->mu);
        resp->status = 101;
        return 0;
}

/* Sends the request to the replica at addr, which the node's agent is
 * connected to, with the caller's credential. Its answer is this one: a
 * 101 makes a stream spliced to that replica, anything else passes through
 * as it came. That replica audits the request; this one does not
 * (resp->forwarded). */
static int forward_stream(struct request *req, struct response *resp, const struct idyl_workload *w,
                          const char *peer, const char *addr, struct idyl_err *err)
{
        const char *auth = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Authorization");
        struct idyl_buf body = IDYL_BUF_INIT(STREAM_ANSWER_BODY_MAX);
        struct idyl_err why = IDYL_ERR_INIT;
        struct stream_conn *c = NULL;
        char *text = req->body ? json_dumps(req->body, JSON_COMPACT) : NULL;
        struct stream_open o = {.addr = addr,
                                .token = auth && strncmp(auth, "Bearer ", 7) == 0 ? auth + 7 : "",
                                .ca_pem = req->srv->tls_cert,
                                .path = req->url,
                                .body = text,
                                .forwarded_by = replicas_self(req->srv),
                                .connect_timeout_s = FORWARD_CONNECT_S,
                                .answer_timeout_ms = FORWARD_ANSWER_MS};
        struct stream *s;
        long status;

        if (req->body && !text)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        if (stream_conn_request(&o, &c, &status, &body, &why) < 0) {
                free(text);
                log_warnx("forward %s to replica %s: %s", req->url, peer, why.msg);
                return idyl_err_set(err, IDYL_E_UNAVAILABLE, MSG_REPLICA_GONE, w->node, peer);
        }
        free(text);
        if (status != 101) {
                resp->forwarded = true;
                resp->status = (int)status;
                /* idyld answers JSON, errors included */
                resp->text = body.data ? idyl_buf_detach(&body) : strdup("");
                resp->content_type = "application/json";
                return resp->text ? 0 : idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        }
        idyl_buf_release(&body);
        if (!(s = stream_new(w, err))) {
                stream_conn_close(c);
                return -1;
        }
        s->remote = c;
        snprintf(s->peer, sizeof(s->peer), "replica %s", peer);
        if (stream_register(req, resp, s, err) < 0)
                return -1; /* this replica's own refusal: audited here */
        resp->forwarded = true;
        return 0;
}

/* Opens the stream for the node running workload w: here, offered to the
 * agent, or at the replica the agent is connected to. offer is consumed. */
static int open_stream(struct request *req, struct response *resp, const struct idyl_workload *w,
                       json_t *offer, struct idyl_err *err)
{
        char peer[REPLICA_ID_MAX], addr[256], key[160];
        struct stream *s;
        int route = 0;

        /* a forwarded request is served here whatever the store says: no loops */
        if (!MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, STREAM_FORWARDED_HEADER))
                route = replicas_node_route(req->srv, w->subnet, w->node, peer, addr, sizeof(addr),
                                            err);
        if (route != 0) {
                json_decref(offer);
                return route < 0 ? -1 : forward_stream(req, resp, w, peer, addr, err);
        }
        if (!(s = stream_new(w, err))) {
                json_decref(offer);
                return -1;
        }
        s->offer = offer;
        if (stream_register(req, resp, s, err) < 0)
                return -1;
        streams_key(w->subnet, w->node, key, sizeof(key));
        server_notify(req->srv, key);
        return 0;
}

/* The workload the path names, placed on a node that can answer. */
static int placed_workload(struct request *req, struct idyl_workload *w, struct idyl_err *err)
{
        struct idyl_node n = IDYL_NODE_INIT;
        uint64_t slug;

        if (subnet_slug_parse(req->params[0], &slug, err) < 0 ||
            store_workload_get(req->srv->store, slug, req->params[1], w, err) < 0)
                return -1;
        if (!w->node[0])
                return idyl_err_set(err, IDYL_E_CONFLICT,
                                    "workload \"%s\" is not on a node (it is %s)", w->name,
                                    workload_phase_name(w->phase));
        if (store_node_get(req->srv->store, slug, w->node, &n, err) < 0)
                return -1;
        node_liveness_fold(req->srv, &n);
        if (n.simulated)
                return idyl_err_set(err, IDYL_E_CONFLICT,
                                    "node \"%s\" is a hollow node: it runs nothing to stream",
                                    n.name);
        if (node_status_now(req->srv, &n, now_ms()) == NODE_DOWN)
                return idyl_err_set(err, IDYL_E_CONFLICT, "node \"%s\" of workload \"%s\" is down",
                                    n.name, w->name);
        return 0;
}

int handle_workload_logs(struct request *req, struct response *resp, struct idyl_err *err)
{
        static const char *const keys[] = {"follow", "tail", "previous", NULL};
        struct idyl_workload w = IDYL_WORKLOAD_INIT;
        json_t *tail = json_object_get(req->body, "tail");
        bool follow = false, previous = false;
        int rc = -1;

        if (want_upgrade(req, err) < 0 ||
            (req->body && (json_check_keys(req->body, keys, "logs", err) < 0 ||
                           json_get_bool(req->body, "follow", &follow, err) < 0 ||
                           json_get_bool(req->body, "previous", &previous, err) < 0)))
                goto out;
        if (tail && (!json_is_integer(tail) || json_integer_value(tail) < 0 ||
                     json_integer_value(tail) > LOGS_TAIL_MAX)) {
                idyl_err_set(err, IDYL_E_INVALID, "tail must be a number of lines from 0 to %d",
                             LOGS_TAIL_MAX);
                goto out;
        }
        if (placed_workload(req, &w, err) < 0)
                goto out;
        if (previous && w.restarts == 0) {
                idyl_err_set(err, IDYL_E_NOT_FOUND, "workload \"%s\" has no previous run", w.name);
                goto out;
        }
        rc = open_stream(req, resp, &w,
                         json_pack("{s:s,s:s,s:b,s:b,s:I}", "kind", "logs", "workload", w.name,
                                   "follow", follow, "previous", previous, "tail",
                                   (json_int_t)(tail ? json_integer_value(tail) : -1)),
                         err);
out:
        workload_release(&w);
        return rc;
}

int handle_workload_exec(struct request *req, struct response *resp, struct idyl_err *err)
{
        static const char *const keys[] = {"command", "stdin", NULL};
        struct idyl_workload w = IDYL_WORKLOAD_INIT;
        const char **argv = NULL;
        size_t argc = 0;
        bool with_stdin = false;
        json_t *cmd;
        int rc = -1;

        if (want_upgrade(req, err) < 0 || json_check_keys(req->body, keys, "exec", err) < 0 ||
            json_get_string_array(req->body, "command", &argv, &argc, err) < 0 ||
            json_get_bool(req->body, "stdin", &with_stdin, err) < 0)
                goto out;
        if (argc == 0 || argc > EXEC_ARGS_MAX) {
                idyl_err_set(err, IDYL_E_INVALID, "command must have 1 to %d arguments",
                             EXEC_ARGS_MAX);
                goto out;
        }
        for (size_t i = 0; i < argc; i++)
                if (strlen(argv[i]) > EXEC_ARG_BYTES_MAX) {
                        idyl_err_set(err, IDYL_E_INVALID,
                                     "command argument %zu is longer than %d bytes", i + 1,
                                     EXEC_ARG_BYTES_MAX);
                        goto out;
                }
        if (placed_workload(req, &w, err) < 0)
                goto out;
        if (w.phase != PHASE_RUNNING) {
                idyl_err_set(err, IDYL_E_CONFLICT, "workload \"%s\" is not running (it is %s)",
                             w.name, workload_phase_name(w.phase));
                goto out;
        }
        cmd = json_deep_copy(json_object_get(req->body, "command"));
        rc = open_stream(req, resp, &w,
                         json_pack("{s:s,s:s,s:o,s:b}", "kind", "exec", "workload", w.name,
                                   "command", cmd, "stdin", with_stdin),
                         err);
        if (rc == 0)
                log_info("exec in workload %s of subnet %s on node %s by token of role %s", w.name,
                         req->params[0], w.node, idyl_role_name(req->caller.role));
out:
        free(argv);
        workload_release(&w);
        return rc;
}

/* GET .../nodes/{name}/streams?wait=S: the streams waiting for this node's
 * agent; a long-poll like the assignments. */
int handle_node_streams(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct streams *t = req->srv->streams;
        const char *wv = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "wait");
        long wait = 0;
        uint64_t slug;
        char key[160], *end = NULL;
        json_t *list;
        int64_t now = mono_ms();

        if (subnet_slug_parse(req->params[0], &slug, err) < 0 ||
            node_caller_check(req, slug, req->params[1], err) < 0)
                return -1;
        if (liveness_streams_polled(req->srv, slug, req->params[1], now_ms(), err) < 0) {
                log_warnx("record the replica of node %s: %s", req->params[1], err->msg);
                *err = (struct idyl_err)IDYL_ERR_INIT;
        }
        if (wv && *wv)
                wait = strtol(wv, &end, 10);
        if ((end && *end) || wait < 0 || wait > STREAMS_WAIT_MAX_S)
                return idyl_err_set(err, IDYL_E_INVALID, "wait must be 0 to %d seconds",
                                    STREAMS_WAIT_MAX_S);
        streams_key(slug, req->params[1], key, sizeof(key));
        server_wait_prepare(req, resp, key);
        if (!(list = json_array()))
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        pthread_mutex_lock(&t->mu);
        sweep_locked(t, now);
        for (struct stream *s = t->list; s; s = s->next)
                if (s->offer && s->subnet == slug && strcmp(s->node, req->params[1]) == 0 &&
                    !s->agent_urh && (!s->offered_ms || now - s->offered_ms > STREAM_REOFFER_MS)) {
                        s->offered_ms = now;
                        json_array_append(list, s->offer);
                }
        pthread_mutex_unlock(&t->mu);
        if (json_array_size(list) == 0 && wait > 0 &&
            (req->wait_deadline_ms == 0 || now_ms() < req->wait_deadline_ms)) {
                json_decref(list);
                resp->suspend_until_ms =
                    req->wait_deadline_ms ? req->wait_deadline_ms : now_ms() + wait * 1000;
                return 0;
        }
        resp->body = json_pack("{s:o}", "streams", list);
        return 0;
}

/* POST .../nodes/{name}/streams/{id}: the agent's side of a stream. */
int handle_node_stream_open(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct streams *t = req->srv->streams;
        struct stream *s;
        uint64_t slug;
        bool ok;

        if (subnet_slug_parse(req->params[0], &slug, err) < 0 ||
            node_caller_check(req, slug, req->params[1], err) < 0 || want_upgrade(req, err) < 0)
                return -1;
        pthread_mutex_lock(&t->mu);
        s = find_locked(t, req->params[2]);
        ok = s && s->offer && s->subnet == slug && strcmp(s->node, req->params[1]) == 0 &&
             !s->agent_urh;
        pthread_mutex_unlock(&t->mu);
        if (!ok)
                return idyl_err_set(err, IDYL_E_NOT_FOUND, "stream \"%s\" not found",
                                    req->params[2]);
        if (!(resp->upgrade = ticket_new(req->srv, req->params[2], true)))
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        resp->status = 101;
        return 0;
}
