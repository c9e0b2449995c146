/* The I/O half of idyl-sim: one libcurl multi handle for every hollow node,
 * driven by epoll through curl_multi_socket_action so that a thousand idle
 * long-polls cost nothing until one of them answers. Each node has two
 * transfer slots (control: join and heartbeats; poll: the assignments
 * long-poll); the state machine in node.c decides what each slot sends.
 * Control requests are capped so a thousand joins or heartbeats do not
 * arrive at idyld all at once. SIGTERM/SIGINT arrive on a signalfd. */
#include "sim/sim.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "util/addrlist.h"
#include "util/buf.h"
#include "util/clock.h"

#define CONTROL_MAX       64 /* control requests in flight across all nodes */
#define SCAN_MS           50 /* how often due heartbeats and retries are looked for */
#define RESPONSE_MAX      (16u * 1024 * 1024)
#define CONTROL_TIMEOUT_S 30
#define JOIN_TRIES        3 /* transport failures a join survives */
#define WARN_EVERY_MS     5000

/* One transfer slot of one node. */
struct xfer {
        CURL *easy; /* made on first use, reused after */
        size_t node;
        enum sim_request kind;
        struct idyl_buf resp;
        char *body; /* POST text, owned */
        struct curl_slist *headers;
        size_t addr; /* which of the comma-separated addresses it went to */
};

struct sim_loop {
        const struct sim_config *cfg;
        struct sim_node *nodes;
        struct xfer *control, *poll; /* parallel to nodes */
        CURLM *multi;
        int epfd, signal_fd;
        int64_t timer_at_ms; /* when curl wants its timeout action; -1 none */
        size_t control_inflight, joined;
        bool stopping;
        int64_t warned_at_ms;
        struct idyl_err *err;
        bool failed;
        size_t addr_current; /* of several comma-separated addresses, the one in use */
};

/* ---- curl callbacks ------------------------------------------------------ */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
        struct idyl_buf *b = userdata;

        return idyl_buf_append(b, data, size * nmemb) < 0 ? 0 : size * nmemb;
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
        struct sim_loop *l = userp;
        struct epoll_event ev = {0};

        (void)easy;
        (void)socketp;
        if (what == CURL_POLL_REMOVE) {
                epoll_ctl(l->epfd, EPOLL_CTL_DEL, s, NULL);
                return 0;
        }
        ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
        ev.data.fd = s;
        if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, s, &ev) < 0 && errno == ENOENT)
                epoll_ctl(l->epfd, EPOLL_CTL_ADD, s, &ev);
        return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
        struct sim_loop *l = userp;

        (void)multi;
        l->timer_at_ms = timeout_ms < 0 ? -1 : mono_ms() + timeout_ms;
        return 0;
}

/* ---- starting a request ---------------------------------------------------- */

/* Authorization (when there is a token) and, for bodies, the content type. */
static int xfer_headers(struct xfer *x, const char *token, struct idyl_err *err)
{
        char auth[SIM_CREDENTIAL_MAX + 32];
        struct curl_slist *h = NULL;
        int len;

        curl_slist_free_all(x->headers);
        x->headers = NULL;
        if (token && *token) {
                len = snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
                if (len < 0 || (size_t)len >= sizeof(auth))
                        return idyl_err_set(err, IDYL_E_USAGE, "credential too long");
                if (!(h = curl_slist_append(h, auth)))
                        return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                x->headers = h;
        }
        if (x->kind != SIM_REQ_ASSIGNMENTS) {
                if (!(h = curl_slist_append(x->headers, "Content-Type: application/json")))
                        return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                x->headers = h;
        }
        return 0;
}

/* The body of a join or heartbeat as text in x->body. */
static int xfer_body(struct sim_loop *l, struct xfer *x, struct idyl_err *err)
{
        struct sim_node *n = &l->nodes[x->node];
        json_t *body =
            x->kind == SIM_REQ_JOIN ? sim_join_body(l->cfg, n) : sim_heartbeat_body(l->cfg, n);

        free(x->body);
        x->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        return x->body ? 0 : idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
}

static int xfer_start(struct sim_loop *l, struct xfer *x, size_t node, enum sim_request kind,
                      struct idyl_err *err)
{
        struct sim_node *n = &l->nodes[node];
        char path[512], base[SIM_ADDR_MAX], url[SIM_ADDR_MAX + sizeof(path)];
        int len;

        x->node = node;
        x->kind = kind;
        if (sim_request_path(l->cfg, n, kind, path, sizeof(path), err) < 0)
                return -1;
        x->addr = l->addr_current;
        addrlist_nth(l->cfg->addr, x->addr, base, sizeof(base));
        len = snprintf(url, sizeof(url), "%s%s", base, path);
        if (len < 0 || (size_t)len >= sizeof(url))
                return idyl_err_set(err, IDYL_E_USAGE, "--addr too long");
        if (!x->easy && !(x->easy = curl_easy_init()))
                return idyl_err_set(err, IDYL_E_INTERNAL, "curl_easy_init failed");
        curl_easy_reset(x->easy);
        if (xfer_headers(x, kind == SIM_REQ_JOIN ? l->cfg->token : n->credential, err) < 0)
                return -1;
        if (kind != SIM_REQ_ASSIGNMENTS) {
                if (xfer_body(l, x, err) < 0)
                        return -1;
                curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
        }
        idyl_buf_release(&x->resp);
        x->resp.max = RESPONSE_MAX;
        curl_easy_setopt(x->easy, CURLOPT_URL, url);
        curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
        curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, &x->resp);
        curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
        curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(x->easy, CURLOPT_TIMEOUT,
                         kind == SIM_REQ_ASSIGNMENTS ? (long)SIM_POLL_WAIT + CONTROL_TIMEOUT_S
                                                     : (long)CONTROL_TIMEOUT_S);
        if (curl_multi_add_handle(l->multi, x->easy) != CURLM_OK)
                return idyl_err_set(err, IDYL_E_INTERNAL, "curl_multi_add_handle failed");
        if (kind != SIM_REQ_ASSIGNMENTS)
                l->control_inflight++;
        return 0;
}

/* Starts whatever node i owes the server now. */
static int node_kick(struct sim_loop *l, size_t i, int64_t now)
{
        struct sim_node *n = &l->nodes[i];
        enum sim_request r;

        if (l->control_inflight < CONTROL_MAX &&
            (r = sim_node_next_control(n, now)) != SIM_REQ_NONE &&
            xfer_start(l, &l->control[i], i, r, l->err) < 0)
                return -1;
        if (sim_node_next_poll(n, now) &&
            xfer_start(l, &l->poll[i], i, SIM_REQ_ASSIGNMENTS, l->err) < 0)
                return -1;
        return 0;
}

static int scan(struct sim_loop *l, int64_t now)
{
        for (size_t i = 0; i < l->cfg->count; i++)
                if (node_kick(l, i, now) < 0)
                        return -1;
        return 0;
}

/* ---- a request finished ------------------------------------------------------ */

static const char *request_name(enum sim_request r)
{
        return r == SIM_REQ_JOIN ? "join" : r == SIM_REQ_HEARTBEAT ? "heartbeat" : "assignments";
}

/* Turns a finished transfer into the answer's JSON, or an error message. */
static int xfer_answer(struct sim_loop *l, struct xfer *x, CURLcode result, json_t **out,
                       struct idyl_err *err)
{
        long status = 0;
        json_t *root, *e;

        *out = NULL;
        if (result != CURLE_OK)
                return idyl_err_set(err, IDYL_E_UNAVAILABLE, "cannot reach idyld at %s: %s",
                                    l->cfg->addr, curl_easy_strerror(result));
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
        root = x->resp.len ? json_loadb(x->resp.data, x->resp.len, 0, NULL) : NULL;
        if (status >= 200 && status < 300) {
                *out = root;
                return 0;
        }
        e = json_object_get(root, "error");
        if (json_string_value(json_object_get(e, "message")))
                idyl_err_set(err,
                             idyl_errcode_from_name(json_string_value(json_object_get(e, "code"))),
                             "%s", json_string_value(json_object_get(e, "message")));
        else
                idyl_err_set(err, IDYL_E_INTERNAL, "idyld answered HTTP %ld", status);
        json_decref(root);
        return -1;
}

static void warn_limited(struct sim_loop *l, const struct sim_node *n, enum sim_request r,
                         const struct idyl_err *e, int64_t now)
{
        if (l->warned_at_ms && now - l->warned_at_ms < WARN_EVERY_MS)
                return;
        l->warned_at_ms = now;
        fprintf(stderr, "idyl-sim: warning: node %s: %s: %s\n", n->name, request_name(r), e->msg);
}

static void announce_if_all_joined(struct sim_loop *l)
{
        if (++l->joined != l->cfg->count)
                return;
        printf("idyl-sim: %zu nodes joined subnet %s\n", l->cfg->count, l->cfg->subnet_text);
        fflush(stdout);
}

static void xfer_finished(struct sim_loop *l, CURL *easy, CURLcode result)
{
        struct idyl_err e = IDYL_ERR_INIT;
        struct xfer *x = NULL;
        struct sim_node *n;
        json_t *body;
        int64_t now = mono_ms();
        int rc;

        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(l->multi, easy);
        if (x->kind != SIM_REQ_ASSIGNMENTS)
                l->control_inflight--;
        n = &l->nodes[x->node];
        /* that replica may be gone: later requests go to the next address
         * (once, however many transfers to it fail) */
        if (result != CURLE_OK && x->addr == l->addr_current)
                l->addr_current = (l->addr_current + 1) % addrlist_count(l->cfg->addr);
        rc = xfer_answer(l, x, result, &body, &e);
        if (rc == 0)
                rc = sim_node_done(n, x->kind, body, now, &e);
        else
                sim_node_failed(n, x->kind, now);
        json_decref(body);
        idyl_buf_release(&x->resp);
        if (rc == 0) {
                if (x->kind == SIM_REQ_JOIN)
                        announce_if_all_joined(l);
                return;
        }
        if (x->kind == SIM_REQ_JOIN &&
            (e.code != IDYL_E_UNAVAILABLE || n->control_failures >= JOIN_TRIES)) {
                idyl_err_set(l->err, e.code, "join node \"%s\": %s", n->name, e.msg);
                l->failed = true;
                return;
        }
        warn_limited(l, n, x->kind, &e, now);
}

/* Handles every finished transfer; returns how many there were. */
static size_t drain_finished(struct sim_loop *l)
{
        CURLMsg *msg;
        size_t done = 0;
        int left;

        while (!l->failed && (msg = curl_multi_info_read(l->multi, &left))) {
                if (msg->msg != CURLMSG_DONE)
                        continue;
                xfer_finished(l, msg->easy_handle, msg->data.result);
                done++;
        }
        return done;
}

/* ---- the loop ------------------------------------------------------------------ */

static void on_events(struct sim_loop *l, const struct epoll_event *evs, int n)
{
        int running;

        for (int i = 0; i < n; i++) {
                int flags = 0;

                if (evs[i].data.fd == l->signal_fd) {
                        struct signalfd_siginfo si;
                        if (read(l->signal_fd, &si, sizeof(si)) > 0)
                                l->stopping = true;
                        continue;
                }
                if (evs[i].events & (EPOLLIN | EPOLLHUP))
                        flags |= CURL_CSELECT_IN;
                if (evs[i].events & EPOLLOUT)
                        flags |= CURL_CSELECT_OUT;
                if (evs[i].events & EPOLLERR)
                        flags |= CURL_CSELECT_ERR;
                curl_multi_socket_action(l->multi, evs[i].data.fd, flags, &running);
        }
}

static int wait_timeout(const struct sim_loop *l, int64_t next_scan)
{
        int64_t now = mono_ms(), until = next_scan;

        if (l->timer_at_ms >= 0 && l->timer_at_ms < until)
                until = l->timer_at_ms;
        return until <= now ? 0 : (int)(until - now);
}

static int loop_run(struct sim_loop *l)
{
        struct epoll_event evs[256];
        int64_t next_scan = 0;
        int running;

        while (!l->failed && !l->stopping) {
                int64_t now;
                int n = epoll_wait(l->epfd, evs, 256, wait_timeout(l, next_scan));

                if (n < 0 && errno != EINTR)
                        return idyl_err_errno(l->err, errno, "epoll_wait");
                on_events(l, evs, n < 0 ? 0 : n);
                now = mono_ms();
                if (l->timer_at_ms >= 0 && now >= l->timer_at_ms) {
                        l->timer_at_ms = -1;
                        curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running);
                }
                if ((drain_finished(l) > 0 || now >= next_scan) && !l->failed && !l->stopping) {
                        if (scan(l, now) < 0)
                                return -1;
                        next_scan = now + SCAN_MS;
                }
        }
        return l->failed ? -1 : 0;
}

static void xfer_release(struct sim_loop *l, struct xfer *x)
{
        if (x->easy) {
                curl_multi_remove_handle(l->multi, x->easy);
                curl_easy_cleanup(x->easy);
        }
        curl_slist_free_all(x->headers);
        free(x->body);
        idyl_buf_release(&x->resp);
}

static int loop_init(struct sim_loop *l, struct idyl_err *err)
{
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = l->signal_fd};

        l->control = calloc(l->cfg->count, sizeof(*l->control));
        l->poll = calloc(l->cfg->count, sizeof(*l->poll));
        if (!l->control || !l->poll)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (l->epfd < 0)
                return idyl_err_errno(err, errno, "epoll_create1");
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->signal_fd, &ev) < 0)
                return idyl_err_errno(err, errno, "watch the signalfd");
        l->multi = curl_multi_init();
        if (!l->multi)
                return idyl_err_set(err, IDYL_E_INTERNAL, "curl_multi_init failed");
        curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
        curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
        return 0;
}

int sim_run(const struct sim_config *c, struct sim_node *nodes, int signal_fd, struct idyl_err *err)
{
        struct sim_loop l = {.cfg = c,
                             .nodes = nodes,
                             .epfd = -1,
                             .signal_fd = signal_fd,
                             .timer_at_ms = -1,
                             .err = err};
        int rc = loop_init(&l, err);

        if (rc == 0)
                rc = loop_run(&l);
        for (size_t i = 0; i < c->count && l.control; i++) {
                xfer_release(&l, &l.control[i]);
                if (l.poll)
                        xfer_release(&l, &l.poll[i]);
        }
        if (l.multi)
                curl_multi_cleanup(l.multi);
        if (l.epfd >= 0)
                close(l.epfd);
        free(l.control);
        free(l.poll);
        return rc;
}
