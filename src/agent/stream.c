/* The agent's streams: one thread long-polls GET .../nodes/NAME/streams and
 * starts a worker for each stream offered; the worker opens POST
 * .../streams/ID (upgraded to idyl-stream), finds the workload's instance,
 * runs the runtime's logs or exec with the connection as its sink and ends
 * with an END frame. A watcher reads what idyld sends (exec -i's stdin, which
 * it passes to the runtime through a pipe), notices the far side going (the
 * socket reads EOF) and stops the runtime call, which then stops the exec's
 * processes. Workers have their own runtime
 * connection; at most WORKERS_MAX run at once. */
#include "agent/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/http.h"
#include "agent/runtime.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/stream_wire.h"

#define POLL_WAIT_S 25
#define WORKERS_MAX 16
#define ARGV_MAX    64

struct agent_streams {
        const struct agent_config *cfg;
        const volatile bool *stop;
        char base[200]; /* /v1/subnets/S/nodes/N/streams */
        pthread_t poller;
        pthread_mutex_t mu;
        pthread_cond_t idle;
        size_t workers;
};

struct worker {
        struct agent_streams *as;
        json_t *offer;  /* owned */
        char addr[512]; /* the idyld replica that offered it, which holds the stream */
        struct stream_conn *conn;
        int stdin_w;         /* exec -i: where the watcher writes the CLI's stdin; -1 none */
        volatile bool abort; /* the far side went, or the agent stops */
        volatile bool done;
};

static int sink_write(void *arg, int channel, const char *data, size_t len)
{
        struct worker *w = arg;
        struct idyl_err err = IDYL_ERR_INIT;

        if (w->abort || stream_conn_frame(w->conn, channel, data, len, &err) < 0) {
                w->abort = true;
                return -1;
        }
        return 0;
}

/* Writes all of data to the exec's stdin pipe (non-blocking), giving up
 * when the stream ends. */
static int stdin_put(struct worker *w, const char *data, size_t len)
{
        while (len) {
                ssize_t n = write(w->stdin_w, data, len);

                if (n > 0) {
                        data += n;
                        len -= (size_t)n;
                        continue;
                }
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                        return -1; /* the exec no longer reads: its process ended */
                struct pollfd p = {.fd = w->stdin_w, .events = POLLOUT};

                if (w->done || w->abort || *w->as->stop)
                        return -1;
                poll(&p, 1, 200);
        }
        return 0;
}

static void stdin_close(struct worker *w)
{
        if (w->stdin_w >= 0)
                close(w->stdin_w);
        w->stdin_w = -1;
}

/* Takes one frame from idyld: the CLI's stdin, or its end. Anything else
 * (a frame the agent sends, stdin the exec did not ask for) breaks the
 * protocol. Returns -1 when the stream must end. */
static int take_frame(struct worker *w, char *buf)
{
        struct idyl_err err = IDYL_ERR_INIT;
        enum stream_channel ch;
        uint32_t len;

        if (stream_conn_next(w->conn, &ch, buf, &len, &err) <= 0)
                return -1; /* idyld closed the stream: the CLI went */
        if (ch == STREAM_STDIN && w->stdin_w >= 0) {
                if (stdin_put(w, buf, len) < 0)
                        stdin_close(w); /* more stdin for an exec that ended goes nowhere */
                return 0;
        }
        if (ch == STREAM_STDIN_EOF && w->stdin_w >= 0) {
                stdin_close(w);
                return 0;
        }
        if (ch == STREAM_STDIN || ch == STREAM_STDIN_EOF)
                return 0; /* after the end of stdin, or stdin the process was not given */
        log_warnx("stream %s: idyld sent a frame of channel %d; ending it",
                  json_string_value(json_object_get(w->offer, "id")) ?: "?", (int)ch);
        return -1;
}

/* Reads what idyld sends (exec -i's stdin) and sets w->abort once idyld
 * closes the stream or the agent stops. */
static void *watch_main(void *arg)
{
        struct worker *w = arg;
        char *buf = malloc(STREAM_FRAME_MAX + 1);

        while (!w->done && !w->abort) {
                struct pollfd p = {.fd = stream_conn_fd(w->conn), .events = POLLIN | POLLRDHUP};

                if (*w->as->stop || !buf) {
                        w->abort = true;
                        break;
                }
                if (!stream_conn_pending(w->conn) && poll(&p, 1, 200) <= 0)
                        continue;
                if (take_frame(w, buf) < 0)
                        w->abort = true;
        }
        stdin_close(w);
        free(buf);
        return NULL;
}

static void send_end(struct worker *w, const json_t *outcome)
{
        struct idyl_err err = IDYL_ERR_INIT;
        char *text = json_dumps(outcome, JSON_COMPACT);

        if (text && !w->abort)
                stream_conn_frame(w->conn, STREAM_END, text, strlen(text), &err);
        free(text);
}

/* The instance running (or last run of) the workload. */
static int find_instance(struct runtime *rt, const char *workload, struct rt_instance *out,
                         struct idyl_err *err)
{
        struct rt_instance *list = NULL;
        size_t n = 0;
        bool found = false;

        if (rt->ops->list(rt, &list, &n, err) < 0)
                return -1;
        for (size_t i = 0; i < n; i++)
                if (strcmp(list[i].workload, workload) == 0 &&
                    (!found || list[i].state == RT_RUNNING)) {
                        *out = list[i];
                        found = true;
                }
        free(list);
        if (!found)
                return idyl_err_set(err, IDYL_E_NOT_FOUND,
                                    "workload \"%s\" has no container on this node", workload);
        return 0;
}

static int run_stream(struct worker *w, struct runtime *rt, int stdin_fd, int *exit_code,
                      struct idyl_err *err)
{
        const char *kind = json_string_value(json_object_get(w->offer, "kind"));
        const char *workload = json_string_value(json_object_get(w->offer, "workload"));
        struct rt_sink sink = {sink_write, w, &w->abort};
        struct rt_instance inst;

        if (!kind || !workload)
                return idyl_err_set(err, IDYL_E_INVALID, "malformed stream offer");
        if (find_instance(rt, workload, &inst, err) < 0)
                return -1;
        if (strcmp(kind, "logs") == 0) {
                json_t *tail = json_object_get(w->offer, "tail");
                struct rt_logs o = {
                    .follow = json_is_true(json_object_get(w->offer, "follow")),
                    .previous = json_is_true(json_object_get(w->offer, "previous")),
                    .tail = tail ? (long)json_integer_value(tail) : -1,
                };

                if (!rt->ops->logs)
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "this node's runtime cannot read logs");
                return rt->ops->logs(rt, &inst, &o, &sink, err);
        }
        if (strcmp(kind, "exec") == 0) {
                const json_t *cmd = json_object_get(w->offer, "command");
                const char *argv[ARGV_MAX];
                size_t argc = json_array_size(cmd);

                if (!rt->ops->exec)
                        return idyl_err_set(err, IDYL_E_INVALID, "this node's runtime cannot exec");
                if (argc == 0 || argc > ARGV_MAX)
                        return idyl_err_set(err, IDYL_E_INVALID, "malformed exec command");
                for (size_t i = 0; i < argc; i++)
                        if (!(argv[i] = json_string_value(json_array_get(cmd, i))))
                                return idyl_err_set(err, IDYL_E_INVALID, "malformed exec command");
                return rt->ops->exec(rt, &inst, argv, argc, stdin_fd, &sink, exit_code, err);
        }
        return idyl_err_set(err, IDYL_E_INVALID, "unknown stream kind \"%s\"", kind);
}

static void *worker_main(void *arg)
{
        struct worker *w = arg;
        struct agent_streams *as = w->as;
        const char *id = json_string_value(json_object_get(w->offer, "id"));
        struct idyl_err err = IDYL_ERR_INIT;
        struct runtime *rt = NULL;
        char path[300];
        pthread_t watcher;
        int exit_code = 0, rc, stdin_pipe[2] = {-1, -1};
        json_t *outcome;

        snprintf(path, sizeof(path), "%s/%s", as->base, id ? id : "");
        struct stream_open o = {
            .addr = w->addr, .token = as->cfg->credential, .ca = as->cfg->ca, .path = path};
        if (!id || stream_conn_open(&o, &w->conn, &err) < 0) {
                log_warnx("stream %s: %s", id ? id : "?", err.msg);
                goto out;
        }
        /* exec -i: the watcher writes the CLI's stdin into a pipe the runtime reads */
        if (json_is_true(json_object_get(w->offer, "stdin"))) {
                if (pipe2(stdin_pipe, O_CLOEXEC) == 0)
                        w->stdin_w = stdin_pipe[1];
                if (w->stdin_w < 0 || fcntl(w->stdin_w, F_SETFL, O_NONBLOCK) < 0) {
                        log_warn("stream %s: stdin pipe", id);
                        goto out;
                }
        }
        pthread_create(&watcher, NULL, watch_main, w);
        rc = agent_runtime_open(as->cfg, &rt, &err);
        if (rc == 0) {
                rt->ops->set_abort(rt, &w->abort);
                rc = run_stream(w, rt, stdin_pipe[0], &exit_code, &err);
        }
        if (rc < 0)
                outcome = json_pack("{s:{s:s,s:s}}", "error", "code", idyl_errcode_name(err.code),
                                    "message", err.msg);
        else if (strcmp(json_string_value(json_object_get(w->offer, "kind")) ?: "", "exec") == 0)
                outcome = json_pack("{s:i}", "exit_code", exit_code);
        else
                outcome = json_object();
        send_end(w, outcome);
        json_decref(outcome);
        w->done = true;
        pthread_join(watcher, NULL);
out:
        if (rt)
                rt->ops->destroy(rt);
        if (stdin_pipe[0] >= 0)
                close(stdin_pipe[0]);
        if (w->stdin_w >= 0)
                close(w->stdin_w); /* the watcher never ran */
        stream_conn_close(w->conn);
        json_decref(w->offer);
        free(w);
        pthread_mutex_lock(&as->mu);
        if (--as->workers == 0)
                pthread_cond_broadcast(&as->idle);
        pthread_mutex_unlock(&as->mu);
        return NULL;
}

static void start_worker(struct agent_streams *as, json_t *offer, const char *addr)
{
        struct worker *w = calloc(1, sizeof(*w));
        pthread_attr_t attr;
        pthread_t t;

        pthread_mutex_lock(&as->mu);
        if (!w || as->workers >= WORKERS_MAX) {
                pthread_mutex_unlock(&as->mu);
                free(w);
                log_warnx("stream refused: %d streams are running", WORKERS_MAX);
                return;
        }
        w->as = as;
        w->offer = json_incref(offer);
        w->stdin_w = -1;
        snprintf(w->addr, sizeof(w->addr), "%s", addr);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, worker_main, w) == 0) {
                as->workers++;
                w = NULL;
        }
        pthread_attr_destroy(&attr);
        pthread_mutex_unlock(&as->mu);
        if (w) {
                json_decref(w->offer);
                free(w);
        }
}

static void *poll_main(void *arg)
{
        struct agent_streams *as = arg;
        struct http_client *h = node_config_client(as->cfg);
        char path[260], addr[512];

        if (!h)
                return NULL;
        http_client_set_abort(h, as->stop);
        snprintf(path, sizeof(path), "%s?wait=%d", as->base, POLL_WAIT_S);
        while (!*as->stop) {
                struct idyl_err err = IDYL_ERR_INIT;
                json_t *answer = NULL, *list;
                size_t i;

                if (http_json(h, "GET", path, NULL, POLL_WAIT_S + 10, NULL, &answer, &err) < 0) {
                        if (!*as->stop)
                                log_warnx("streams: %s", err.msg);
                        for (int k = 0; k < 20 && !*as->stop; k++)
                                usleep(100 * 1000);
                        continue;
                }
                list = json_object_get(answer, "streams");
                http_client_base(h, addr, sizeof(addr));
                for (i = 0; i < json_array_size(list); i++)
                        start_worker(as, json_array_get(list, i), addr);
                json_decref(answer);
        }
        http_client_free(h);
        return NULL;
}

struct agent_streams *agent_streams_start(const struct agent_config *cfg, const volatile bool *stop)
{
        struct agent_streams *as = calloc(1, sizeof(*as));

        if (!as)
                return NULL;
        as->cfg = cfg;
        as->stop = stop;
        snprintf(as->base, sizeof(as->base), "/v1/subnets/%s/nodes/%s/streams", cfg->subnet,
                 cfg->name);
        pthread_mutex_init(&as->mu, NULL);
        pthread_cond_init(&as->idle, NULL);
        if (pthread_create(&as->poller, NULL, poll_main, as) != 0) {
                pthread_cond_destroy(&as->idle);
                pthread_mutex_destroy(&as->mu);
                free(as);
                log_warnx("streams: cannot start the poll thread; logs and exec are unavailable");
                return NULL;
        }
        return as;
}

void agent_streams_free(struct agent_streams *as)
{
        if (!as)
                return;
        pthread_join(as->poller, NULL);
        pthread_mutex_lock(&as->mu);
        while (as->workers)
                pthread_cond_wait(&as->idle, &as->mu);
        pthread_mutex_unlock(&as->mu);
        pthread_cond_destroy(&as->idle);
        pthread_mutex_destroy(&as->mu);
        free(as);
}
