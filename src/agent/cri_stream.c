/* Logs and exec on containerd through CRI. Logs are the container's log
 * file in the CRI format kubelet reads ("TIMESTAMP STREAM TAG MSG", TAG F
 * for a full line, P for part of one), one file per attempt (N.log): the
 * newest is the current run, the one before it --previous; --follow keeps
 * reading the file until the run ends (the container exits), as on Docker.
 * Exec is CRI Exec: containerd answers with a URL of its streaming server,
 * which this file speaks WebSocket to with the v4.channel.k8s.io
 * subprotocol (channel byte first in each message: 1 stdout, 2 stderr,
 * 3 the status JSON that carries the exit code). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#undef linux /* a GNU C predefined macro, and a CRI field name */
#include "cri.pb-c.h"

#include "agent/crilog.h"
#include "agent/ctrd_tasks.h"
#include "agent/grpc.h"
#include "agent/proctree.h"
#include "agent/runtime.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/stream_wire.h"

#define RUNTIME_SVC    "/runtime.v1.RuntimeService/"
#define CALL_MS        30000
#define FOLLOW_POLL_MS 100
#define WS_MESSAGE_MAX (1u << 20)
#define WS_PROTOCOL    "v4.channel.k8s.io"

static void free_msg(void *msg)
{
        if (msg)
                protobuf_c_message_free_unpacked(msg, NULL);
}

/* The newest container of sandbox_id and its log file. */
static int current_container(struct grpc_conn *g, const char *sandbox_id, char *cid, size_t cidsize,
                             char *log_path, size_t lpsize, struct idyl_err *err)
{
        Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        Runtime__V1__ContainerFilter f = RUNTIME__V1__CONTAINER_FILTER__INIT;
        Runtime__V1__ListContainersResponse *l = NULL;
        Runtime__V1__ContainerStatusRequest sreq = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
        Runtime__V1__ContainerStatusResponse *st = NULL;
        const Runtime__V1__Container *best = NULL;
        int rc = -1;

        f.pod_sandbox_id = (char *)sandbox_id;
        req.filter = &f;
        if (grpc_unary(g, RUNTIME_SVC "ListContainers", (const ProtobufCMessage *)&req,
                       &runtime__v1__list_containers_response__descriptor, (ProtobufCMessage **)&l,
                       CALL_MS, err) < 0)
                return -1;
        for (size_t i = 0; i < l->n_containers; i++)
                if (!best || l->containers[i]->created_at > best->created_at)
                        best = l->containers[i];
        if (!best) {
                idyl_err_set(err, IDYL_E_NOT_FOUND, "the workload has no container yet");
                goto out;
        }
        snprintf(cid, cidsize, "%s", best->id);
        sreq.container_id = best->id;
        if (grpc_unary(g, RUNTIME_SVC "ContainerStatus", (const ProtobufCMessage *)&sreq,
                       &runtime__v1__container_status_response__descriptor,
                       (ProtobufCMessage **)&st, CALL_MS, err) < 0)
                goto out;
        snprintf(log_path, lpsize, "%s",
                 st->status && st->status->log_path ? st->status->log_path : "");
        rc = 0;
out:
        free_msg(l);
        free_msg(st);
        return rc;
}

/* Whether container cid has exited (false when that cannot be told). */
static bool container_exited(struct grpc_conn *g, const char *cid)
{
        Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
        Runtime__V1__ContainerStatusResponse *st = NULL;
        struct idyl_err err = IDYL_ERR_INIT;
        bool exited;

        req.container_id = (char *)cid;
        if (grpc_unary(g, RUNTIME_SVC "ContainerStatus", (const ProtobufCMessage *)&req,
                       &runtime__v1__container_status_response__descriptor,
                       (ProtobufCMessage **)&st, CALL_MS, &err) < 0)
                return grpc_conn_last_status(g) == GRPC_NOT_FOUND;
        exited = st->status && st->status->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
        free_msg(st);
        return exited;
}

int cri_logs(struct runtime *rt, const struct rt_instance *inst, const struct rt_logs *o,
             const struct rt_sink *sink, struct idyl_err *err)
{
        struct grpc_conn *g = grpc_conn_new(runtime_cri_socket(rt));
        struct idyl_buf b = IDYL_BUF_INIT(4 * CRILOG_LINE_MAX);
        char cid[80], path[4200], dir[4096];
        long attempt;
        int fd = -1, rc = -1;
        char *slash;

        if (!g)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        grpc_conn_set_abort(g, sink->abort);
        if (current_container(g, inst->id, cid, sizeof(cid), path, sizeof(path), err) < 0)
                goto out;
        slash = strrchr(path, '/');
        if (!path[0] || !slash || (attempt = crilog_attempt_of(slash + 1)) < 0) {
                idyl_err_set(err, IDYL_E_NOT_FOUND, "the workload's container keeps no log file");
                goto out;
        }
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
        if (o->previous) {
                attempt = crilog_attempt_below(dir, attempt);
                if (attempt < 0) {
                        idyl_err_set(err, IDYL_E_NOT_FOUND, "the workload has no previous run");
                        goto out;
                }
                snprintf(path, sizeof(path), "%s/%ld.log", dir, attempt);
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                idyl_err_set(err, IDYL_E_NOT_FOUND, "cannot open log \"%s\": %s", path,
                             strerror(errno));
                goto out;
        }
        lseek(fd, crilog_tail_offset(fd, o->tail), SEEK_SET);
        for (int64_t next_check = 0;;) {
                bool got;

                rc = crilog_drain(fd, &b, sink, &got, err);
                if (rc != 0 || !o->follow || *sink->abort) {
                        rc = rc < 0 ? -1 : 0;
                        break;
                }
                if (got)
                        continue;
                /* a follow ends with the run, as on Docker: once the
                 * container has exited and its file is read to the end */
                if (mono_ms() >= next_check) {
                        next_check = mono_ms() + 1000;
                        if (container_exited(g, cid)) {
                                rc = crilog_drain(fd, &b, sink, &got, err) < 0 ? -1 : 0;
                                break;
                        }
                }
                usleep(FOLLOW_POLL_MS * 1000);
        }
out:
        if (fd >= 0)
                close(fd);
        idyl_buf_release(&b);
        grpc_conn_free(g);
        return rc;
}

/* ---- exec over the streaming server's WebSocket --------------------------------- */

struct ws {
        int fd;
        char ahead[4096]; /* bytes read past the handshake */
        size_t off, len;
        int stdin_fd; /* exec -i: what to send on channel 0; -1 none (or ended) */
};

static int ws_read(struct ws *w, void *buf, size_t len, const volatile bool *abort)
{
        size_t got = 0;

        while (got < len) {
                ssize_t n;

                if (w->off < w->len) {
                        size_t k = w->len - w->off < len - got ? w->len - w->off : len - got;

                        memcpy((char *)buf + got, w->ahead + w->off, k);
                        w->off += k;
                        got += k;
                        continue;
                }
                struct pollfd p = {.fd = w->fd, .events = POLLIN};

                if (*abort)
                        return -1;
                if (poll(&p, 1, 200) <= 0)
                        continue;
                n = read(w->fd, (char *)buf + got, len - got);
                if (n <= 0)
                        return -1;
                got += (size_t)n;
        }
        return 0;
}

/* Sends a client frame (masked, as RFC 6455 requires of clients). */
static int ws_send(struct ws *w, int opcode, const void *data, size_t len)
{
        uint8_t hdr[8], mask[4], buf[256];
        size_t h = 0;

        if (len > 125 || getentropy(mask, sizeof(mask)) < 0)
                return -1;
        hdr[h++] = (uint8_t)(0x80 | opcode);
        hdr[h++] = (uint8_t)(0x80 | len);
        memcpy(hdr + h, mask, 4);
        h += 4;
        memcpy(buf, hdr, h);
        for (size_t i = 0; i < len; i++)
                buf[h + i] = ((const uint8_t *)data)[i] ^ mask[i % 4];
        return send(w->fd, buf, h + len, MSG_NOSIGNAL) == (ssize_t)(h + len) ? 0 : -1;
}

/* Connects to url ("http://127.0.0.1:PORT/exec/TOKEN") and upgrades. */
static int ws_open(struct ws *w, const char *url, struct idyl_err *err)
{
        char host[256], port[16] = "80", req[2048], key[25], resp[4096];
        const char *p = url, *path, *colon;
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
        unsigned char rnd[16];
        static const char b64[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t have = 0;
        char *end;
        int n;

        if (strncmp(p, "http://", 7) != 0)
                return idyl_err_set(err, IDYL_E_UNAVAILABLE,
                                    "containerd's exec URL \"%s\" is not http://", url);
        p += 7;
        path = strchr(p, '/');
        if (!path)
                path = p + strlen(p);
        colon = memchr(p, ':', (size_t)(path - p));
        snprintf(host, sizeof(host), "%.*s", (int)((colon ? colon : path) - p), p);
        if (colon)
                snprintf(port, sizeof(port), "%.*s", (int)(path - colon - 1), colon + 1);
        if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
                return idyl_err_set(err, IDYL_E_UNAVAILABLE, "cannot resolve \"%s\"", host);
        w->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (w->fd < 0 || connect(w->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
                freeaddrinfo(ai);
                return idyl_err_set(err, IDYL_E_UNAVAILABLE,
                                    "cannot reach containerd's streaming server at %s:%s: %s", host,
                                    port, strerror(errno));
        }
        freeaddrinfo(ai);
        if (getentropy(rnd, sizeof(rnd)) < 0)
                return idyl_err_set(err, IDYL_E_INTERNAL, "no randomness");
        for (size_t i = 0, k = 0; i < 16; i += 3) {
                uint32_t v = (uint32_t)rnd[i] << 16 | (i + 1 < 16 ? (uint32_t)rnd[i + 1] << 8 : 0) |
                             (i + 2 < 16 ? rnd[i + 2] : 0);
                key[k++] = b64[v >> 18 & 63];
                key[k++] = b64[v >> 12 & 63];
                key[k++] = i + 1 < 16 ? b64[v >> 6 & 63] : '=';
                key[k++] = i + 2 < 16 ? b64[v & 63] : '=';
                key[k] = '\0';
        }
        n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: Upgrade\r\n"
                     "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Protocol: " WS_PROTOCOL "\r\n\r\n",
                     *path ? path : "/", host, port, key);
        if (n <= 0 || (size_t)n >= sizeof(req) || send(w->fd, req, (size_t)n, MSG_NOSIGNAL) != n)
                return idyl_err_set(err, IDYL_E_UNAVAILABLE, "cannot send the exec handshake");
        while (!(end = have ? strstr(resp, "\r\n\r\n") : NULL)) {
                struct pollfd pf = {.fd = w->fd, .events = POLLIN};
                ssize_t r;

                if (have == sizeof(resp) - 1 || poll(&pf, 1, 10000) <= 0 ||
                    (r = read(w->fd, resp + have, sizeof(resp) - 1 - have)) <= 0)
                        return idyl_err_set(err, IDYL_E_UNAVAILABLE,
                                            "containerd's streaming server did not upgrade");
                have += (size_t)r;
                resp[have] = '\0';
        }
        if (strncmp(resp, "HTTP/1.1 101", 12) != 0) {
                char *eol = strstr(resp, "\r\n");

                return idyl_err_set(err, IDYL_E_UNAVAILABLE,
                                    "containerd's streaming server answered \"%.*s\"",
                                    (int)(eol ? eol - resp : 40), resp);
        }
        w->off = (size_t)(end + 4 - resp);
        memcpy(w->ahead, resp, have);
        w->len = have;
        return 0;
}

/* Reads messages until the server closes: output to the sink, the status
 * to *exit_code. */
static int ws_pump(struct ws *w, const struct rt_sink *sink, int *exit_code, struct idyl_err *err)
{
        struct idyl_buf msg = IDYL_BUF_INIT(WS_MESSAGE_MAX);
        bool have_status = false;
        int rc = -1;

        for (;;) {
                uint8_t h[2], ext[8];
                uint64_t len;
                int opcode;
                bool fin;

                if (ws_read(w, h, 2, sink->abort) < 0)
                        break;
                fin = h[0] & 0x80;
                opcode = h[0] & 0x0f;
                len = h[1] & 0x7f;
                if (len == 126) {
                        if (ws_read(w, ext, 2, sink->abort) < 0)
                                break;
                        len = (uint64_t)ext[0] << 8 | ext[1];
                } else if (len == 127) {
                        if (ws_read(w, ext, 8, sink->abort) < 0)
                                break;
                        len = 0;
                        for (int i = 0; i < 8; i++)
                                len = len << 8 | ext[i];
                }
                if ((h[1] & 0x80) || len > WS_MESSAGE_MAX || msg.len + len > WS_MESSAGE_MAX) {
                        idyl_err_set(err, IDYL_E_UNAVAILABLE, "malformed exec stream frame");
                        goto out;
                }
                size_t start = msg.len;
                if (idyl_buf_append(&msg, "", 0) < 0)
                        goto out;
                while (msg.len - start < len) {
                        char chunk[8192];
                        size_t k = len - (msg.len - start) < sizeof(chunk)
                                       ? (size_t)(len - (msg.len - start))
                                       : sizeof(chunk);

                        if (ws_read(w, chunk, k, sink->abort) < 0 ||
                            idyl_buf_append(&msg, chunk, k) < 0)
                                goto cut;
                }
                if (opcode == 0x8)
                        break; /* close */
                if (opcode == 0x9) {
                        ws_send(w, 0xA, msg.data + start,
                                msg.len - start < 125 ? msg.len - start : 125);
                        msg.len = start;
                        continue;
                }
                if (opcode == 0xA || !fin)
                        continue; /* a pong; or a message with more to come */
                if (msg.len >= 1) {
                        uint8_t ch = (uint8_t)msg.data[0];
                        const char *data = msg.data + 1;
                        size_t n = msg.len - 1;

                        if (ch == 1 || ch == 2) {
                                while (n) {
                                        size_t k = n < STREAM_FRAME_MAX ? n : STREAM_FRAME_MAX;

                                        if (sink->write(sink->arg, ch, data, k) < 0) {
                                                rc = 0; /* the reader went */
                                                goto out;
                                        }
                                        data += k;
                                        n -= k;
                                }
                        } else if (ch == 3 && n) {
                                if (cri_status_exit_code(data, n, exit_code, err) < 0)
                                        goto out;
                                have_status = true;
                        }
                }
                msg.len = 0;
        }
cut:
        if (*sink->abort) {
                rc = 0;
                goto out;
        }
        if (!have_status) {
                idyl_err_set(err, IDYL_E_UNAVAILABLE,
                             "containerd's exec stream ended without an exit status");
                goto out;
        }
        rc = 0;
out:
        idyl_buf_release(&msg);
        return rc;
}

/* One exec of this agent starts at a time, from the list of the execs
 * before it until its own shows (or CTRD_FIND_MS pass): that is how the
 * agent knows which exec is its own (agent/ctrd_tasks.h). Released by the
 * finder's thread. */
static pthread_mutex_t start_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t start_cv = PTHREAD_COND_INITIALIZER;
static bool starting;

static void start_acquire(void)
{
        pthread_mutex_lock(&start_mu);
        while (starting)
                pthread_cond_wait(&start_cv, &start_mu);
        starting = true;
        pthread_mutex_unlock(&start_mu);
}

static void start_release(void *arg)
{
        (void)arg;
        pthread_mutex_lock(&start_mu);
        starting = false;
        pthread_cond_signal(&start_cv);
        pthread_mutex_unlock(&start_mu);
}

int cri_exec(struct runtime *rt, const struct rt_instance *inst, const char *const *argv,
             size_t argc, int stdin_fd, const struct rt_sink *sink, int *exit_code,
             struct idyl_err *err)
{
        const char *socket_path = runtime_cri_socket(rt);
        struct grpc_conn *g = grpc_conn_new(socket_path), *tasks = grpc_conn_new(socket_path);
        Runtime__V1__ExecRequest req = RUNTIME__V1__EXEC_REQUEST__INIT;
        Runtime__V1__ExecResponse *resp = NULL;
        struct ctrd_find *find = calloc(1, sizeof(*find));
        struct ws w = {.fd = -1, .stdin_fd = stdin_fd};
        struct idyl_err lerr = IDYL_ERR_INIT;
        char cid[80], log_path[4096];
        volatile bool pumped = false;
        void *finder = NULL;
        bool locked = false;
        int rc = -1;

        if (!g || !tasks || !find) {
                idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                goto out;
        }
        grpc_conn_set_abort(g, sink->abort);
        grpc_conn_set_namespace(tasks, "k8s.io");
        if (current_container(g, inst->id, cid, sizeof(cid), log_path, sizeof(log_path), err) < 0)
                goto out;
        req.container_id = cid;
        req.cmd = (char **)argv;
        req.n_cmd = argc;
        req.stdin = stdin_fd >= 0;
        req.stdout = true;
        req.stderr = true;
        start_acquire();
        locked = true;
        if (ctrd_list_execs(tasks, cid, &find->before, &lerr) < 0)
                log_warnx("%s; this exec will not be stopped when its stream ends", lerr.msg);
        if (grpc_unary(g, RUNTIME_SVC "Exec", (const ProtobufCMessage *)&req,
                       &runtime__v1__exec_response__descriptor, (ProtobufCMessage **)&resp, CALL_MS,
                       err) < 0) {
                idyl_err_wrap(err, "exec in container %.12s", cid);
                goto out;
        }
        if (ws_open(&w, resp->url, err) < 0)
                goto out;
        if (!lerr.code) {
                find->socket_path = socket_path;
                find->container_id = cid;
                find->stop = &pumped;
                find->release = start_release;
                locked = false; /* the finder releases it */
                ctrd_find_start(find, &finder);
        }
        *exit_code = -1;
        rc = ws_pump(&w, sink, exit_code, err);
        pumped = true;
        ctrd_find_join(finder);
        if (*sink->abort && find->found) {
                int n =
                    ctrd_exec_stop(socket_path, cid, find->exec_id, find->pid, EXEC_STOP_GRACE_MS);

                if (n > 0)
                        log_info("exec %.12s in container %.12s: its stream ended; stopped %d "
                                 "process%s",
                                 find->exec_id, cid, n, n == 1 ? "" : "es");
        }
out:
        if (locked)
                start_release(NULL);
        if (w.fd >= 0)
                close(w.fd);
        free_msg(resp);
        free(find);
        grpc_conn_free(g);
        grpc_conn_free(tasks);
        return rc;
}
