/* Logs and exec on the Docker Engine: GET /containers/ID/logs and the exec
 * API (create, then start attached), both answering in stdcopy frames that
 * are demultiplexed here and written to the stream's sink as they come.
 * The exec's start is a hijacked connection that also carries stdin, and an
 * exec whose stream ends first is stopped through the host pid the Engine's
 * inspect gives (agent/proctree.c). A
 * stream has its own connection to the Engine, so it never holds up the
 * reconcile loop. --previous reads the run before the container's current
 * start: the Engine's own start events give where it began. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent/http.h"
#include "agent/proctree.h"
#include "agent/runtime.h"
#include "util/log.h"
#include "util/stream_wire.h"

#define DOCKER_BASE "http://docker"

/* Splits the Engine's stdcopy stream (8-byte header, then the payload) into
 * the sink's writes. */
struct demux {
        const struct rt_sink *sink;
        uint8_t hdr[8];
        size_t hdr_got;
        uint32_t left;
        int channel;
        bool failed;
        size_t bytes;
};

static int on_stdcopy(const char *data, size_t len, void *arg)
{
        struct demux *d = arg;

        while (len) {
                if (d->left) {
                        size_t k = len < d->left ? len : d->left;

                        if (k > STREAM_FRAME_MAX)
                                k = STREAM_FRAME_MAX;
                        if (d->sink->write(d->sink->arg, d->channel, data, k) < 0) {
                                d->failed = true;
                                return -1;
                        }
                        d->bytes += k;
                        d->left -= (uint32_t)k;
                        data += k;
                        len -= k;
                        continue;
                }
                d->hdr[d->hdr_got++] = (uint8_t)*data++;
                len--;
                if (d->hdr_got == 8) {
                        d->hdr_got = 0;
                        d->channel = d->hdr[0] == 2 ? STREAM_STDERR : STREAM_STDOUT;
                        d->left = (uint32_t)d->hdr[4] << 24 | (uint32_t)d->hdr[5] << 16 |
                                  (uint32_t)d->hdr[6] << 8 | d->hdr[7];
                }
        }
        return 0;
}

static int stream_get(struct http_client *h, const char *method, const char *path, const char *body,
                      const struct rt_sink *sink, struct demux *d, struct idyl_err *err)
{
        struct http_request req = {.method = method,
                                   .path = path,
                                   .body = body,
                                   .body_len = body ? strlen(body) : 0,
                                   .on_chunk = on_stdcopy,
                                   .chunk_arg = d,
                                   .abort_flag = sink->abort};
        long status = 0;

        d->sink = sink;
        if (http_do(h, &req, &status, NULL, err) < 0) {
                if (d->failed || *sink->abort) {
                        memset(err, 0, sizeof(*err));
                        return 0; /* the reader went: not an error of ours */
                }
                return -1;
        }
        if (status >= 300)
                return idyl_err_set(err, status == 404 ? IDYL_E_NOT_FOUND : IDYL_E_UNAVAILABLE,
                                    "Docker answered HTTP %ld to %s", status, path);
        return 0;
}

/* Unix time with nanoseconds, as the Engine's since/until take it. */
static void nano_time(int64_t ns, char *out, size_t size)
{
        snprintf(out, size, "%" PRId64 ".%09" PRId64, ns / 1000000000, ns % 1000000000);
}

/* Where the current run's output begins and the previous run's began
 * ("0": from the beginning), from the start and die events the Engine still
 * holds for the container: a run's output ends when its process dies, so
 * the die before the latest start separates the current run from the one
 * before it (a start is recorded after the process has begun to write). */
static void run_bounds(struct http_client *h, const char *id, char *cur, char *prev, size_t size)
{
        char *filter = NULL, *esc = NULL, *path = NULL, now[32];
        struct idyl_buf b = IDYL_BUF_INIT(4u << 20);
        struct idyl_err err = IDYL_ERR_INIT;
        struct http_request req = {.method = "GET", .timeout_s = 10};
        int64_t last_start = 0, dies[2] = {0, 0}, pending_dies[2] = {0, 0};
        long status = 0;

        snprintf(cur, size, "0");
        snprintf(prev, size, "0");
        snprintf(now, sizeof(now), "%lld", (long long)time(NULL) + 1);
        if (asprintf(&filter, "{\"container\":[\"%s\"],\"event\":[\"start\",\"die\"]}", id) < 0)
                return;
        esc = http_escape(filter);
        if (!esc || asprintf(&path, "/events?since=0&until=%s&filters=%s", now, esc) < 0)
                path = NULL;
        req.path = path;
        if (path && http_do(h, &req, &status, &b, &err) == 0 && status == 200) {
                /* one JSON object a line, oldest first */
                size_t off = 0;

                while (off < b.len) {
                        char *line = b.data + off, *nl = memchr(line, '\n', b.len - off);
                        size_t len = nl ? (size_t)(nl - line) : b.len - off;
                        json_t *ev = json_loadb(line, len, 0, NULL);
                        const char *action = json_string_value(json_object_get(ev, "Action"));
                        json_int_t t = json_integer_value(json_object_get(ev, "timeNano"));

                        if (action && t > 0 && strcmp(action, "die") == 0) {
                                pending_dies[0] = pending_dies[1];
                                pending_dies[1] = t;
                        } else if (action && t > 0 && strcmp(action, "start") == 0) {
                                last_start = t;
                                dies[0] = pending_dies[0];
                                dies[1] = pending_dies[1];
                        }
                        json_decref(ev);
                        off += len + 1;
                }
        }
        if (last_start && dies[1])
                nano_time(dies[1], cur, size);
        if (last_start && dies[0])
                nano_time(dies[0], prev, size);
        idyl_buf_release(&b);
        free(filter);
        free(esc);
        free(path);
}

int docker_logs(struct runtime *rt, const struct rt_instance *inst, const struct rt_logs *o,
                const struct rt_sink *sink, struct idyl_err *err)
{
        struct http_client *h = http_client_new(DOCKER_BASE, runtime_docker_socket(rt), NULL, NULL);
        struct demux d = {0};
        char path[512], tail[32], boundary[40] = "0", since[40] = "0";
        int rc = -1;

        if (!h)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        if (o->tail >= 0)
                snprintf(tail, sizeof(tail), "&tail=%ld", o->tail);
        else
                snprintf(tail, sizeof(tail), "&tail=all");
        run_bounds(h, inst->id, boundary, since, sizeof(boundary));
        if (o->previous && strcmp(boundary, "0") == 0) {
                /* the Engine restarted, or its event buffer moved on */
                http_client_free(h);
                return idyl_err_set(err, IDYL_E_NOT_FOUND,
                                    "the Docker Engine no longer knows where the previous run "
                                    "ended");
        }
        if (o->previous)
                snprintf(path, sizeof(path),
                         "/containers/%s/logs?stdout=1&stderr=1&since=%s&until=%s%s", inst->id,
                         since, boundary, tail);
        else
                snprintf(path, sizeof(path),
                         "/containers/%s/logs?stdout=1&stderr=1&since=%s&follow=%d%s", inst->id,
                         boundary, o->follow ? 1 : 0, tail);
        rc = stream_get(h, "GET", path, NULL, sink, &d, err);
        http_client_free(h);
        return rc;
}

/* ---- exec: a hijacked start, so stdin can travel --------------------------------- */

#define HIJACK_HEAD_MAX 16384
#define STDIN_CHUNK     32768

/* Connects to the Engine's socket and starts exec id attached: the answer's
 * head is read, and *fd is then the exec's raw stream (stdcopy frames out,
 * stdin in), as `docker exec -i` has it. */
static int hijack_start(const char *socket_path, const char *id, int *fd, struct idyl_err *err)
{
        static const char body[] = "{\"Detach\":false,\"Tty\":false}";
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char req[512], head[HIJACK_HEAD_MAX];
        size_t have = 0;
        long status = 0;
        int n, s;

        if (strlen(socket_path) >= sizeof(sa.sun_path))
                return idyl_err_set(err, IDYL_E_INVALID, "socket path \"%s\" is too long",
                                    socket_path);
        memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
        s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                idyl_err_errno(err, errno, "connect to the Docker Engine at %s", socket_path);
                goto fail;
        }
        n = snprintf(req, sizeof(req),
                     "POST /exec/%s/start HTTP/1.1\r\nHost: docker\r\n"
                     "Content-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     id, sizeof(body) - 1, body);
        if (n <= 0 || (size_t)n >= sizeof(req) || send(s, req, (size_t)n, MSG_NOSIGNAL) != n) {
                idyl_err_set(err, IDYL_E_UNAVAILABLE, "cannot start the exec on the Docker Engine");
                goto fail;
        }
        /* the head, a byte at a time: what follows it is the exec's stream */
        while (have < 4 || memcmp(head + have - 4, "\r\n\r\n", 4) != 0) {
                struct pollfd p = {.fd = s, .events = POLLIN};

                if (have == sizeof(head) - 1 || poll(&p, 1, 30000) <= 0 ||
                    read(s, head + have, 1) != 1) {
                        idyl_err_set(err, IDYL_E_UNAVAILABLE,
                                     "the Docker Engine did not answer the exec start");
                        goto fail;
                }
                have++;
        }
        head[have] = '\0';
        if (sscanf(head, "HTTP/1.%*d %ld", &status) != 1 || (status != 101 && status != 200)) {
                idyl_err_set(err, status == 404 ? IDYL_E_NOT_FOUND : IDYL_E_UNAVAILABLE,
                             "Docker answered HTTP %ld to the exec start", status);
                goto fail;
        }
        *fd = s;
        return 0;
fail:
        if (s >= 0)
                close(s);
        return -1;
}

/* Copies the exec's output to the sink and stdin_fd's bytes to the exec
 * until the Engine ends the stream (the process exited) or the reader goes.
 * stdin's end half-closes the connection, which closes the process's stdin.
 * stdin is written only as the socket takes it, so output keeps flowing
 * while the process does not read. */
static int hijack_pump(int s, int stdin_fd, const struct rt_sink *sink, struct idyl_err *err)
{
        struct demux d = {.sink = sink};
        char out[16384], *in = malloc(STDIN_CHUNK);
        size_t in_len = 0, in_off = 0;

        if (!in)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        while (!*sink->abort) {
                struct pollfd p[2] = {{.fd = s, .events = POLLIN}, {.fd = -1}};
                ssize_t n;

                if (in_off < in_len)
                        p[0].events |= POLLOUT;
                else if (stdin_fd >= 0)
                        p[1] = (struct pollfd){.fd = stdin_fd, .events = POLLIN};
                if (poll(p, 2, 200) <= 0)
                        continue;
                if (p[1].revents) {
                        n = read(stdin_fd, in, STDIN_CHUNK);
                        if (n > 0) {
                                in_len = (size_t)n;
                                in_off = 0;
                        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                                shutdown(s, SHUT_WR);
                                stdin_fd = -1;
                        }
                }
                if (p[0].revents & POLLOUT) {
                        n = send(s, in + in_off, in_len - in_off, MSG_NOSIGNAL | MSG_DONTWAIT);
                        if (n > 0) {
                                in_off += (size_t)n;
                        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                                in_off = in_len = 0; /* stdin goes nowhere now */
                                stdin_fd = -1;
                        }
                }
                if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
                        continue;
                n = read(s, out, sizeof(out));
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                /* the Engine ends the stream once the process has exited; a
                 * sink that fails means the reader went */
                if (n <= 0 || on_stdcopy(out, (size_t)n, &d) < 0)
                        break;
        }
        free(in);
        return 0;
}

/* The exec's state: whether it runs, and its first process's host pid. */
static int exec_inspect(struct http_client *h, const char *id, bool *running, pid_t *pid,
                        int *exit_code, struct idyl_err *err)
{
        char path[160];
        json_t *info = NULL;

        snprintf(path, sizeof(path), "/exec/%s/json", id);
        if (http_json(h, "GET", path, NULL, 10, NULL, &info, err) < 0)
                return -1;
        *running = json_is_true(json_object_get(info, "Running"));
        *pid = (pid_t)json_integer_value(json_object_get(info, "Pid"));
        *exit_code = (int)json_integer_value(json_object_get(info, "ExitCode"));
        json_decref(info);
        return 0;
}

struct exec_ref {
        struct http_client *h;
        const char *id;
};

/* The pid is still the exec's: the Engine says the exec runs with it. */
static bool exec_still_runs(pid_t pid, void *arg)
{
        const struct exec_ref *x = arg;
        struct idyl_err err = IDYL_ERR_INIT;
        bool running = false;
        pid_t now = 0;
        int code;

        return exec_inspect(x->h, x->id, &running, &now, &code, &err) == 0 && running && now == pid;
}

/* The stream ended before the exec: stops its processes. The Engine has no
 * exec kill; its inspect gives the host pid, asked again once it is held. */
static void exec_stop(struct http_client *h, const char *id, const char *container)
{
        struct idyl_err err = IDYL_ERR_INIT;
        struct exec_ref x = {h, id};
        bool running = false;
        pid_t pid = 0;
        int code, n;

        if (exec_inspect(h, id, &running, &pid, &code, &err) < 0 || !running || pid <= 1)
                return;
        n = proc_tree_stop(pid, exec_still_runs, &x, EXEC_STOP_GRACE_MS);
        if (n > 0)
                log_info("exec %.12s in container %.12s: its stream ended; stopped %d process%s",
                         id, container, n, n == 1 ? "" : "es");
}

int docker_exec(struct runtime *rt, const struct rt_instance *inst, const char *const *argv,
                size_t argc, int stdin_fd, const struct rt_sink *sink, int *exit_code,
                struct idyl_err *err)
{
        struct http_client *h = http_client_new(DOCKER_BASE, runtime_docker_socket(rt), NULL, NULL);
        json_t *cmd = json_array(), *body = NULL, *created = NULL;
        char path[256];
        const char *id;
        bool running;
        pid_t pid;
        int rc = -1, s = -1;

        if (!h || !cmd)
                goto oom;
        for (size_t i = 0; i < argc; i++)
                json_array_append_new(cmd, json_string(argv[i]));
        body = json_pack("{s:b,s:b,s:b,s:O}", "AttachStdin", stdin_fd >= 0, "AttachStdout", 1,
                         "AttachStderr", 1, "Cmd", cmd);
        if (!body)
                goto oom;
        snprintf(path, sizeof(path), "/containers/%s/exec", inst->id);
        if (http_json(h, "POST", path, body, 30, NULL, &created, err) < 0) {
                idyl_err_wrap(err, "exec in container %.12s", inst->id);
                goto out;
        }
        id = json_string_value(json_object_get(created, "Id"));
        if (!id) {
                idyl_err_set(err, IDYL_E_UNAVAILABLE, "Docker gave the exec no id");
                goto out;
        }
        if (hijack_start(runtime_docker_socket(rt), id, &s, err) < 0 ||
            hijack_pump(s, stdin_fd, sink, err) < 0)
                goto out;
        if (*sink->abort) {
                exec_stop(h, id, inst->id);
                *exit_code = -1;
                rc = 0;
                goto out;
        }
        if (exec_inspect(h, id, &running, &pid, exit_code, err) < 0)
                goto out;
        rc = 0;
        goto out;
oom:
        idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
out:
        if (s >= 0)
                close(s);
        json_decref(cmd);
        json_decref(body);
        json_decref(created);
        http_client_free(h);
        return rc;
}
