/* Logs and exec on containerd through CRI. Logs are the container's log
 * file in the CRI format kubelet reads ("TIMESTAMP STREAM TAG MSG", TAG F
 * for a full line, P for part of one), one file per attempt (N.log): the
 * newest is the current run, the one before it --previous; --follow keeps
 * reading the file until the run ends (the container exits), as on Docker.
 * Exec is CRI Exec: containerd answers with a URL of its streaming server,
 * which this file speaks WebSocket to with the v4.channel.k8s.io
 * subprotocol (channel byte first in each message: 1 stdout, 2 stderr,
 * 3 the status JSON that carries the exit code), or SPDY/3.1 when the exec
 * has stdin (see "exec with stdin" below). An exec whose stream ends first
 * is stopped through the exec id containerd's task API names
 * (agent/ctrd_tasks.c). */
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

#define STDIN_CHUNK 32768

/* A connection to containerd's streaming server (WebSocket, or SPDY for an
 * exec with stdin). */
struct ws {
        int fd;
        char ahead[4096]; /* bytes read past the handshake */
        size_t off, len;
        /* SPDY: what the reads send meanwhile, as stdin's data frames (its
         * end a FIN), as the socket takes them */
        int stdin_fd; /* -1: none, or it ended */
        uint8_t out[8 + STDIN_CHUNK];
        size_t out_len, out_off;
};

static void spdy_stdin_frame(struct ws *w, size_t n, bool fin);

/* Takes a chunk of stdin into w->out, or its end. */
static void stdin_take(struct ws *w)
{
        ssize_t n = read(w->stdin_fd, w->out + 8, STDIN_CHUNK);

        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return;
        if (n <= 0)
                w->stdin_fd = -1; /* a read error ends stdin as its end does */
        spdy_stdin_frame(w, n > 0 ? (size_t)n : 0, n <= 0);
}

/* Sends what of w->out the socket takes now; -1 when it is gone. */
static int out_flush(struct ws *w)
{
        ssize_t n =
            send(w->fd, w->out + w->out_off, w->out_len - w->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -1;
        w->out_off += (size_t)n;
        if (w->out_off == w->out_len)
                w->out_off = w->out_len = 0;
        return 0;
}

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
                struct pollfd p[2] = {{.fd = w->fd, .events = POLLIN}, {.fd = -1}};

                if (*abort)
                        return -1;
                if (w->out_len)
                        p[0].events |= POLLOUT;
                else if (w->stdin_fd >= 0)
                        p[1] = (struct pollfd){.fd = w->stdin_fd, .events = POLLIN};
                if (poll(p, 2, 200) <= 0)
                        continue;
                if (p[1].revents)
                        stdin_take(w);
                if ((p[0].revents & POLLOUT) && out_flush(w) < 0)
                        return -1;
                if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
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

/* Connects to url ("http://127.0.0.1:PORT/exec/TOKEN") and upgrades the
 * connection: method, then the protocol's own header lines (each ending in
 * CRLF). Bytes past the 101's head wait in w->ahead. */
static int server_upgrade(struct ws *w, const char *url, const char *method, const char *headers,
                          struct idyl_err *err)
{
        char host[256], port[16] = "80", req[2048], resp[4096];
        const char *p = url, *path, *colon;
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
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
        n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: Upgrade\r\n%s\r\n", method,
                     *path ? path : "/", host, port, headers);
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

/* Upgrades to a WebSocket speaking v4.channel.k8s.io. */
static int ws_open(struct ws *w, const char *url, struct idyl_err *err)
{
        static const char b64[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char key[25], headers[256];
        unsigned char rnd[16];

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
        snprintf(headers, sizeof(headers),
                 "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Protocol: " WS_PROTOCOL "\r\n",
                 key);
        return server_upgrade(w, url, "GET", headers, err);
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

/* ---- exec with stdin over SPDY/3.1 ---------------------------------------------- */

/* v4.channel.k8s.io over a WebSocket cannot close stdin alone (v5 adds a
 * close message; containerd 1.6's streaming server does not speak it), so an
 * exec with stdin speaks SPDY/3.1 to the same server, as kubectl does: a
 * stream per channel (error, stdin, stdout, stderr), stdin's end a FIN on
 * its stream, the status JSON on the error stream. Header blocks are zlib
 * streams the peer inflates; ours are stored blocks (no compression), each
 * header block ended by an empty one as a sync flush ends it. The server sends no flow-control
 * windows to honour. */
#define SPDY_SYN_STREAM  1
#define SPDY_RST_STREAM  3
#define SPDY_PING        6
#define SPDY_GOAWAY      7
#define SPDY_FLAG_FIN    0x01
#define SPDY_CONTROL_MAX 65536
#define STATUS_MAX       65536

enum { SID_ERROR = 1, SID_STDIN = 3, SID_STDOUT = 5, SID_STDERR = 7 };

static void put32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)(v >> 24);
        p[1] = (uint8_t)(v >> 16);
        p[2] = (uint8_t)(v >> 8);
        p[3] = (uint8_t)v;
}

static uint32_t get24(const uint8_t *p)
{
        return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* A data frame of n stdin bytes (already at w->out + 8) on the stdin stream. */
static void spdy_stdin_frame(struct ws *w, size_t n, bool fin)
{
        put32(w->out, SID_STDIN);
        put32(w->out + 4, (uint32_t)n);
        w->out[4] = fin ? SPDY_FLAG_FIN : 0;
        w->out_len = 8 + n;
        w->out_off = 0;
}

/* Writes all of data, after what stdin has pending (frames never interleave). */
static int spdy_send(struct ws *w, const uint8_t *data, size_t len)
{
        while (w->out_len) {
                struct pollfd p = {.fd = w->fd, .events = POLLOUT};

                if (poll(&p, 1, 10000) <= 0 || out_flush(w) < 0)
                        return -1;
        }
        return send(w->fd, data, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* Opens stream id of `type` with SYN_STREAM. */
static int spdy_open_stream(struct ws *w, uint32_t id, const char *type)
{
        uint8_t f[128], *p;
        size_t tlen = strlen(type), plain = 4 + 4 + 10 + 4 + tlen, block;
        bool first = id == SID_ERROR; /* the zlib stream's header comes once */

        block = (first ? 2 : 0) + 5 + plain + 5;
        f[0] = 0x80;
        f[1] = 3; /* version */
        f[2] = 0;
        f[3] = SPDY_SYN_STREAM;
        put32(f + 4, (uint32_t)(10 + block));
        f[4] = 0; /* flags */
        put32(f + 8, id);
        put32(f + 12, 0);  /* associated stream */
        f[16] = f[17] = 0; /* priority, slot */
        p = f + 18;
        if (first) {
                *p++ = 0x78; /* deflate, 32 KiB window, no dictionary */
                *p++ = 0x01;
        }
        *p++ = 0x00; /* a stored block, not the last */
        *p++ = (uint8_t)plain;
        *p++ = (uint8_t)(plain >> 8);
        *p++ = (uint8_t)~plain;
        *p++ = (uint8_t)(~plain >> 8);
        put32(p, 1);
        put32(p + 4, 10);
        memcpy(p + 8, "streamtype", 10);
        put32(p + 18, (uint32_t)tlen);
        memcpy(p + 22, type, tlen);
        /* an empty stored block ends it, as a sync flush does: an inflater
         * hands the block over when it reaches one, without reading past */
        memcpy(p + 22 + tlen, "\x00\x00\x00\xff\xff", 5);
        return spdy_send(w, f, 18 + block);
}

static int spdy_open(struct ws *w, const char *url, struct idyl_err *err)
{
        if (server_upgrade(w, url, "POST",
                           "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: " WS_PROTOCOL "\r\n",
                           err) < 0)
                return -1;
        if (spdy_open_stream(w, SID_ERROR, "error") < 0 ||
            spdy_open_stream(w, SID_STDIN, "stdin") < 0 ||
            spdy_open_stream(w, SID_STDOUT, "stdout") < 0 ||
            spdy_open_stream(w, SID_STDERR, "stderr") < 0)
                return idyl_err_set(err, IDYL_E_UNAVAILABLE,
                                    "cannot open the exec's streams on containerd's streaming "
                                    "server");
        return 0;
}

/* A control frame: a ping is answered, a reset or goaway ends the exec's
 * stream (-1), anything else (the replies to our streams) is skipped. */
static int spdy_control(struct ws *w, const uint8_t h[8], const volatile bool *abort)
{
        uint8_t payload[SPDY_CONTROL_MAX];
        uint32_t len = get24(h + 5);
        int type = h[2] << 8 | h[3];

        if (len > sizeof(payload) || ws_read(w, payload, len, abort) < 0)
                return -1;
        if (type == SPDY_PING && len == 4) {
                uint8_t pong[12];

                memcpy(pong, h, 8);
                memcpy(pong + 8, payload, 4);
                return spdy_send(w, pong, sizeof(pong));
        }
        return type == SPDY_RST_STREAM || type == SPDY_GOAWAY ? -1 : 0;
}

/* Reads frames until the server closes: output to the sink, the status to
 * *exit_code. */
static int spdy_pump(struct ws *w, const struct rt_sink *sink, int *exit_code, struct idyl_err *err)
{
        struct idyl_buf status = IDYL_BUF_INIT(STATUS_MAX);
        char chunk[STREAM_FRAME_MAX];
        int rc = -1;

        for (;;) {
                uint8_t h[8];
                uint32_t sid, len;

                if (ws_read(w, h, 8, sink->abort) < 0)
                        break;
                if (h[0] & 0x80) {
                        if (spdy_control(w, h, sink->abort) < 0)
                                break;
                        continue;
                }
                sid = (uint32_t)(h[0] & 0x7f) << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 |
                      h[3];
                len = get24(h + 5);
                while (len) {
                        size_t k = len < sizeof(chunk) ? len : sizeof(chunk);

                        if (ws_read(w, chunk, k, sink->abort) < 0)
                                goto end;
                        len -= (uint32_t)k;
                        if ((sid == SID_STDOUT || sid == SID_STDERR) &&
                            sink->write(sink->arg, sid == SID_STDOUT ? 1 : 2, chunk, k) < 0) {
                                rc = 0; /* the reader went */
                                goto out;
                        }
                        if (sid == SID_ERROR && idyl_buf_append(&status, chunk, k) < 0) {
                                idyl_err_set(err, IDYL_E_UNAVAILABLE,
                                             "containerd's exec status is over %d bytes",
                                             STATUS_MAX);
                                goto out;
                        }
                }
        }
end:
        if (*sink->abort) {
                rc = 0;
                goto out;
        }
        if (!status.len) {
                idyl_err_set(err, IDYL_E_UNAVAILABLE,
                             "containerd's exec stream ended without an exit status");
                goto out;
        }
        rc = cri_status_exit_code(status.data, status.len, exit_code, err);
out:
        idyl_buf_release(&status);
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
        if ((stdin_fd >= 0 ? spdy_open(&w, resp->url, err) : ws_open(&w, resp->url, err)) < 0)
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
        rc =
            stdin_fd >= 0 ? spdy_pump(&w, sink, exit_code, err) : ws_pump(&w, sink, exit_code, err);
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
