/* The gRPC client (see grpc.h): one HTTP/2 session per connection, driven by
 * hand with poll(2) so a call honours its deadline and the agent's abort
 * flag. A call is a POST of one length-prefixed message; the answer is
 * DATA holding length-prefixed messages, then trailers with grpc-status. */
#include "agent/grpc.h"

#include <errno.h>
#include <fcntl.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"

#define POLL_SLICE_MS    200 /* how often a waiting call looks at the abort flag */
#define WINDOW_SIZE      (4 * 1024 * 1024)
#define GRPC_MESSAGE_MAX 4096 /* grpc-message kept, percent-encoded */

/* ---- framing ---------------------------------------------------------------------- */

int grpc_frame_append(struct idyl_buf *out, const uint8_t *msg, size_t len, struct idyl_err *err)
{
        uint8_t hdr[GRPC_FRAME_HEADER];
        int rc;

        if (len > GRPC_MAX_MESSAGE || len > UINT32_MAX)
                return idyl_err_set(err, IDYL_E_TOO_LARGE,
                                    "gRPC message of %zu bytes is larger than %u", len,
                                    GRPC_MAX_MESSAGE);
        hdr[0] = 0; /* not compressed */
        hdr[1] = (uint8_t)(len >> 24);
        hdr[2] = (uint8_t)(len >> 16);
        hdr[3] = (uint8_t)(len >> 8);
        hdr[4] = (uint8_t)len;
        rc = idyl_buf_append(out, hdr, sizeof(hdr));
        if (rc == 0 && len)
                rc = idyl_buf_append(out, msg, len);
        if (rc == -2)
                return idyl_err_set(err, IDYL_E_TOO_LARGE, "gRPC request larger than %zu bytes",
                                    out->max);
        if (rc < 0)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        return 0;
}

void grpc_reader_init(struct grpc_reader *r, size_t max_message)
{
        r->pending = (struct idyl_buf)IDYL_BUF_INIT(max_message + GRPC_FRAME_HEADER);
        r->max_message = max_message;
        r->messages = 0;
}

void grpc_reader_release(struct grpc_reader *r)
{
        idyl_buf_release(&r->pending);
}

static uint32_t be32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Checks a message's prefix; returns its length or -1. */
static int64_t frame_length(const struct grpc_reader *r, const uint8_t *hdr, struct idyl_err *err)
{
        uint32_t len = be32(hdr + 1);

        if (hdr[0] != 0)
                return idyl_err_set(err, IDYL_E_UNAVAILABLE,
                                    "the server sent a compressed gRPC message (flag %u)", hdr[0]);
        if (len > r->max_message)
                return idyl_err_set(err, IDYL_E_TOO_LARGE,
                                    "gRPC message of %u bytes is larger than %zu", len,
                                    r->max_message);
        return len;
}

int grpc_reader_feed(struct grpc_reader *r, const uint8_t *data, size_t len, grpc_message_fn fn,
                     void *arg, struct idyl_err *err)
{
        while (len > 0) {
                const uint8_t *msg;
                size_t need, take;
                int64_t mlen;

                /* whole messages straight from data when nothing is pending */
                if (r->pending.len == 0 && len >= GRPC_FRAME_HEADER) {
                        mlen = frame_length(r, data, err);
                        if (mlen < 0)
                                return -1;
                        if (len >= GRPC_FRAME_HEADER + (size_t)mlen) {
                                r->messages++;
                                if (fn(data + GRPC_FRAME_HEADER, (size_t)mlen, arg, err) < 0)
                                        return -1;
                                data += GRPC_FRAME_HEADER + (size_t)mlen;
                                len -= GRPC_FRAME_HEADER + (size_t)mlen;
                                continue;
                        }
                }
                /* otherwise gather: first the prefix, then the rest */
                need = GRPC_FRAME_HEADER;
                if (r->pending.len >= GRPC_FRAME_HEADER) {
                        mlen = frame_length(r, (const uint8_t *)r->pending.data, err);
                        if (mlen < 0)
                                return -1;
                        need += (size_t)mlen;
                }
                take = need - r->pending.len < len ? need - r->pending.len : len;
                if (idyl_buf_append(&r->pending, data, take) < 0)
                        return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                data += take;
                len -= take;
                if (r->pending.len < GRPC_FRAME_HEADER)
                        continue;
                mlen = frame_length(r, (const uint8_t *)r->pending.data, err);
                if (mlen < 0)
                        return -1;
                if (r->pending.len < GRPC_FRAME_HEADER + (size_t)mlen)
                        continue;
                msg = (const uint8_t *)r->pending.data + GRPC_FRAME_HEADER;
                r->messages++;
                if (fn(msg, (size_t)mlen, arg, err) < 0)
                        return -1;
                r->pending.len = 0;
        }
        return 0;
}

int grpc_reader_finish(const struct grpc_reader *r, struct idyl_err *err)
{
        if (r->pending.len)
                return idyl_err_set(err, IDYL_E_UNAVAILABLE,
                                    "the gRPC stream ended inside a message (%zu bytes left over)",
                                    r->pending.len);
        return 0;
}

/* ---- status ------------------------------------------------------------------------- */

static const struct {
        const char *name;
        enum idyl_errcode code;
} statuses[GRPC_STATUS__COUNT] = {
    [GRPC_OK] = {"OK", IDYL_OK},
    [GRPC_CANCELLED] = {"CANCELLED", IDYL_E_UNAVAILABLE},
    [GRPC_UNKNOWN] = {"UNKNOWN", IDYL_E_UNAVAILABLE},
    [GRPC_INVALID_ARGUMENT] = {"INVALID_ARGUMENT", IDYL_E_INVALID},
    [GRPC_DEADLINE_EXCEEDED] = {"DEADLINE_EXCEEDED", IDYL_E_UNAVAILABLE},
    [GRPC_NOT_FOUND] = {"NOT_FOUND", IDYL_E_NOT_FOUND},
    [GRPC_ALREADY_EXISTS] = {"ALREADY_EXISTS", IDYL_E_CONFLICT},
    [GRPC_PERMISSION_DENIED] = {"PERMISSION_DENIED", IDYL_E_FORBIDDEN},
    [GRPC_RESOURCE_EXHAUSTED] = {"RESOURCE_EXHAUSTED", IDYL_E_UNAVAILABLE},
    [GRPC_FAILED_PRECONDITION] = {"FAILED_PRECONDITION", IDYL_E_CONFLICT},
    [GRPC_ABORTED] = {"ABORTED", IDYL_E_CONFLICT},
    [GRPC_OUT_OF_RANGE] = {"OUT_OF_RANGE", IDYL_E_INVALID},
    [GRPC_UNIMPLEMENTED] = {"UNIMPLEMENTED", IDYL_E_UNAVAILABLE},
    [GRPC_INTERNAL] = {"INTERNAL", IDYL_E_UNAVAILABLE},
    [GRPC_UNAVAILABLE] = {"UNAVAILABLE", IDYL_E_UNAVAILABLE},
    [GRPC_DATA_LOSS] = {"DATA_LOSS", IDYL_E_UNAVAILABLE},
    [GRPC_UNAUTHENTICATED] = {"UNAUTHENTICATED", IDYL_E_UNAUTHORIZED},
};

const char *grpc_status_name(int status)
{
        if (status < 0 || status >= GRPC_STATUS__COUNT)
                return "UNKNOWN_STATUS";
        return statuses[status].name;
}

enum idyl_errcode grpc_status_errcode(int status)
{
        if (status < 0 || status >= GRPC_STATUS__COUNT)
                return IDYL_E_UNAVAILABLE;
        return statuses[status].code;
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

void grpc_message_decode(const char *in, char *out, size_t size)
{
        size_t n = 0;

        if (size == 0)
                return;
        while (*in && n + 1 < size) {
                if (in[0] == '%' && hexval(in[1]) >= 0 && hexval(in[2]) >= 0) {
                        out[n++] = (char)(hexval(in[1]) << 4 | hexval(in[2]));
                        in += 3;
                } else {
                        out[n++] = *in++;
                }
        }
        out[n] = '\0';
}

int grpc_status_to_err(const char *http_status, const char *grpc_status, const char *grpc_message,
                       struct idyl_err *err)
{
        char msg[sizeof(err->msg)];
        char *end = NULL;
        long status;

        if (http_status && strcmp(http_status, "200") != 0 && !grpc_status) {
                idyl_err_set(err, IDYL_E_UNAVAILABLE, "the server answered HTTP %s, not gRPC",
                             http_status);
                return GRPC_UNKNOWN;
        }
        if (!grpc_status) {
                idyl_err_set(err, IDYL_E_UNAVAILABLE, "the server ended the call without a status");
                return GRPC_UNKNOWN;
        }
        status = strtol(grpc_status, &end, 10);
        if (end == grpc_status || *end || status < 0 || status > 0xffff) {
                idyl_err_set(err, IDYL_E_UNAVAILABLE, "the server sent grpc-status \"%s\"",
                             grpc_status);
                return GRPC_UNKNOWN;
        }
        if (status == GRPC_OK)
                return GRPC_OK;
        grpc_message_decode(grpc_message ? grpc_message : "", msg, sizeof(msg));
        if (msg[0])
                idyl_err_set(err, grpc_status_errcode((int)status), "%s", msg);
        else
                idyl_err_set(err, grpc_status_errcode((int)status), "%s",
                             grpc_status_name((int)status));
        return (int)status;
}

/* ---- connections ------------------------------------------------------------------------ */

/* One call under way on a connection. */
struct call {
        int32_t stream_id;
        const struct idyl_buf *body;
        size_t body_off;
        struct grpc_reader reader;
        grpc_message_fn fn;
        void *arg;
        struct idyl_err fn_err; /* why the reader or fn stopped the call */
        bool failed;
        bool closed;
        uint32_t close_error; /* HTTP/2 error code the stream closed with */
        char http_status[8];
        char grpc_status[8];
        bool has_grpc_status;
        char grpc_message[GRPC_MESSAGE_MAX];
};

struct grpc_conn {
        char *socket_path;
        int fd;
        nghttp2_session *session;
        const volatile bool *abort;
        int last_status;
        int send_errno;
        struct call *call;
        char ns[64]; /* containerd-namespace of every call; "" none */
};

struct grpc_conn *grpc_conn_new(const char *socket_path)
{
        struct grpc_conn *c = calloc(1, sizeof(*c));

        if (!c)
                return NULL;
        c->fd = -1;
        c->last_status = GRPC_UNAVAILABLE;
        c->socket_path = strdup(socket_path);
        if (!c->socket_path) {
                free(c);
                return NULL;
        }
        return c;
}

void grpc_conn_set_namespace(struct grpc_conn *c, const char *ns)
{
        snprintf(c->ns, sizeof(c->ns), "%s", ns ? ns : "");
}

static void conn_close(struct grpc_conn *c)
{
        if (c->session)
                nghttp2_session_del(c->session);
        c->session = NULL;
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
}

void grpc_conn_free(struct grpc_conn *c)
{
        if (!c)
                return;
        conn_close(c);
        free(c->socket_path);
        free(c);
}

void grpc_conn_set_abort(struct grpc_conn *c, const volatile bool *flag)
{
        c->abort = flag;
}

int grpc_conn_last_status(const struct grpc_conn *c)
{
        return c->last_status;
}

static ssize_t on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *user)
{
        struct grpc_conn *c = user;
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);

        (void)s;
        (void)flags;
        if (n >= 0)
                return n;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return NGHTTP2_ERR_WOULDBLOCK;
        c->send_errno = errno;
        return NGHTTP2_ERR_CALLBACK_FAILURE;
}

static struct call *call_of(struct grpc_conn *c, int32_t stream_id)
{
        return c->call && c->call->stream_id == stream_id ? c->call : NULL;
}

static void copy_value(char *dst, size_t size, const uint8_t *v, size_t len)
{
        if (len >= size)
                len = size - 1;
        memcpy(dst, v, len);
        dst[len] = '\0';
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
        struct call *call = call_of(user, frame->hd.stream_id);

        (void)s;
        (void)flags;
        if (!call || frame->hd.type != NGHTTP2_HEADERS)
                return 0;
        if (namelen == 7 && memcmp(name, ":status", 7) == 0)
                copy_value(call->http_status, sizeof(call->http_status), value, valuelen);
        else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
                copy_value(call->grpc_status, sizeof(call->grpc_status), value, valuelen);
                call->has_grpc_status = true;
        } else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0)
                copy_value(call->grpc_message, sizeof(call->grpc_message), value, valuelen);
        return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                   size_t len, void *user)
{
        struct call *call = call_of(user, stream_id);

        (void)flags;
        if (!call || call->failed)
                return 0;
        if (grpc_reader_feed(&call->reader, data, len, call->fn, call->arg, &call->fn_err) < 0) {
                call->failed = true;
                nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
        }
        return 0;
}

static int on_close(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *user)
{
        struct call *call = call_of(user, stream_id);

        (void)s;
        if (call) {
                call->closed = true;
                call->close_error = error_code;
        }
        return 0;
}

static ssize_t read_body(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *user)
{
        struct call *call = src->ptr;
        size_t left = call->body->len - call->body_off;

        (void)s;
        (void)stream_id;
        (void)user;
        if (len > left)
                len = left;
        memcpy(buf, call->body->data + call->body_off, len);
        call->body_off += len;
        if (call->body_off == call->body->len)
                *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)len;
}

static int conn_open(struct grpc_conn *c, struct idyl_err *err)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        nghttp2_session_callbacks *cbs = NULL;
        nghttp2_settings_entry iv[] = {
            {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
            {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, WINDOW_SIZE},
        };
        int rv;

        if (strlen(c->socket_path) >= sizeof(sa.sun_path))
                return idyl_err_set(err, IDYL_E_INVALID, "socket path \"%s\" is too long",
                                    c->socket_path);
        memcpy(sa.sun_path, c->socket_path, strlen(c->socket_path) + 1);
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
                return idyl_err_errno(err, errno, "socket");
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                idyl_err_errno(err, errno, "connect to %s", c->socket_path);
                err->code = IDYL_E_UNAVAILABLE;
                conn_close(c);
                return -1;
        }
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        if (nghttp2_session_callbacks_new(&cbs) != 0) {
                conn_close(c);
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        }
        nghttp2_session_callbacks_set_send_callback(cbs, on_send);
        nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_close);
        rv = nghttp2_session_client_new(&c->session, cbs, c);
        nghttp2_session_callbacks_del(cbs);
        if (rv == 0)
                rv = nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv,
                                             sizeof(iv) / sizeof(iv[0]));
        if (rv == 0)
                rv = nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0,
                                                           WINDOW_SIZE);
        if (rv != 0) {
                conn_close(c);
                return idyl_err_set(err, IDYL_E_INTERNAL, "HTTP/2 session: %s",
                                    nghttp2_strerror(rv));
        }
        return 0;
}

/* Reads what the peer sent; 0 when nothing (more) is there now. */
static int conn_read(struct grpc_conn *c, struct idyl_err *err)
{
        uint8_t buf[16384];

        for (;;) {
                ssize_t n = recv(c->fd, buf, sizeof(buf), 0), rv;

                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return 0;
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        idyl_err_errno(err, errno, "read from %s", c->socket_path);
                        err->code = IDYL_E_UNAVAILABLE;
                        return -1;
                }
                if (n == 0)
                        return idyl_err_set(err, IDYL_E_UNAVAILABLE, "%s closed the connection",
                                            c->socket_path);
                rv = nghttp2_session_mem_recv(c->session, buf, (size_t)n);
                if (rv < 0)
                        return idyl_err_set(err, IDYL_E_UNAVAILABLE, "HTTP/2 from %s: %s",
                                            c->socket_path, nghttp2_strerror((int)rv));
        }
}

/* A kept connection may have been closed by the peer (containerd restarted)
 * while idle: find out before sending on it. */
static void conn_check_idle(struct grpc_conn *c)
{
        struct idyl_err ignored = IDYL_ERR_INIT;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};

        if (!c->session)
                return;
        if (poll(&p, 1, 0) == 1 && (conn_read(c, &ignored) < 0 || p.revents & (POLLHUP | POLLERR)))
                conn_close(c);
        else if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session))
                conn_close(c); /* the peer sent GOAWAY */
}

/* Drives the session until the call's stream closes. Connection failures
 * close the connection (the next call opens a new one). */
static int pump(struct grpc_conn *c, struct call *call, int64_t deadline, struct idyl_err *err)
{
        while (!call->closed) {
                struct pollfd p = {.fd = c->fd, .events = POLLIN};
                int64_t wait = POLL_SLICE_MS;
                int rv = nghttp2_session_send(c->session);

                if (rv != 0) {
                        if (c->send_errno)
                                idyl_err_set(err, IDYL_E_UNAVAILABLE, "write to %s: %s",
                                             c->socket_path, strerror(c->send_errno));
                        else
                                idyl_err_set(err, IDYL_E_UNAVAILABLE, "HTTP/2 to %s: %s",
                                             c->socket_path, nghttp2_strerror(rv));
                        return -1;
                }
                if (!nghttp2_session_want_read(c->session) &&
                    !nghttp2_session_want_write(c->session))
                        return idyl_err_set(err, IDYL_E_UNAVAILABLE, "%s ended the HTTP/2 session",
                                            c->socket_path);
                if (c->abort && *c->abort)
                        return idyl_err_set(err, IDYL_E_UNAVAILABLE, "stopped");
                if (deadline) {
                        int64_t left = deadline - mono_ms();
                        if (left <= 0)
                                return idyl_err_set(err, IDYL_E_UNAVAILABLE,
                                                    "no answer from %s in time", c->socket_path);
                        if (left < wait)
                                wait = left;
                }
                if (nghttp2_session_want_write(c->session))
                        p.events |= POLLOUT;
                if (poll(&p, 1, (int)wait) < 0 && errno != EINTR)
                        return idyl_err_errno(err, errno, "poll");
                if (p.revents & (POLLIN | POLLHUP | POLLERR) && conn_read(c, err) < 0)
                        return -1;
        }
        return 0;
}

static int call_run(struct grpc_conn *c, const char *method, const ProtobufCMessage *req,
                    grpc_message_fn fn, void *arg, int timeout_ms, struct idyl_err *err)
{
        struct idyl_buf body = IDYL_BUF_INIT(GRPC_MAX_MESSAGE + GRPC_FRAME_HEADER);
        struct call *call = calloc(1, sizeof(*call));
        nghttp2_data_provider prov = {.read_callback = read_body};
        char timeout[24];
        uint8_t *packed = NULL;
        size_t len = protobuf_c_message_get_packed_size(req), nnv = 6;
        int rc = -1;
        nghttp2_nv nv[] = {
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}
            NV(":method", "POST"),
            NV(":scheme", "http"),
            NV(":path", method),
            NV(":authority", "localhost"),
            NV("content-type", "application/grpc"),
            NV("te", "trailers"),
            NV("grpc-timeout", ""),
            NV("containerd-namespace", ""),
#undef NV
        };

        c->last_status = GRPC_UNAVAILABLE;
        if (!call || !(packed = malloc(len ? len : 1))) {
                idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                goto out;
        }
        protobuf_c_message_pack(req, packed);
        if (grpc_frame_append(&body, packed, len, err) < 0)
                goto out;
        if (timeout_ms > 0) {
                snprintf(timeout, sizeof(timeout), "%dm", timeout_ms);
                nv[nnv].value = (uint8_t *)timeout;
                nv[nnv++].valuelen = strlen(timeout);
        }
        if (c->ns[0]) {
                nv[nnv] = nv[7];
                nv[nnv].value = (uint8_t *)c->ns;
                nv[nnv++].valuelen = strlen(c->ns);
        }
        conn_check_idle(c);
        if (!c->session && conn_open(c, err) < 0)
                goto out;
        grpc_reader_init(&call->reader, GRPC_MAX_MESSAGE);
        call->body = &body;
        call->fn = fn;
        call->arg = arg;
        prov.source.ptr = call;
        call->stream_id = nghttp2_submit_request(c->session, NULL, nv, nnv, &prov, NULL);
        if (call->stream_id < 0) {
                idyl_err_set(err, IDYL_E_UNAVAILABLE, "HTTP/2 request: %s",
                             nghttp2_strerror(call->stream_id));
                conn_close(c);
                goto out_reader;
        }
        c->call = call;
        if (pump(c, call, timeout_ms > 0 ? mono_ms() + timeout_ms : 0, err) < 0) {
                c->call = NULL;
                conn_close(c);
                goto out_reader;
        }
        c->call = NULL;
        if (call->failed) {
                *err = call->fn_err;
                c->last_status = GRPC_UNKNOWN;
                goto out_reader;
        }
        if (call->close_error != NGHTTP2_NO_ERROR && !call->has_grpc_status) {
                idyl_err_set(err, IDYL_E_UNAVAILABLE, "%s reset the call (%s)", c->socket_path,
                             nghttp2_http2_strerror(call->close_error));
                goto out_reader;
        }
        c->last_status = grpc_status_to_err(call->http_status[0] ? call->http_status : NULL,
                                            call->has_grpc_status ? call->grpc_status : NULL,
                                            call->grpc_message, err);
        if (c->last_status == GRPC_OK)
                rc = grpc_reader_finish(&call->reader, err);
out_reader:
        grpc_reader_release(&call->reader);
out:
        idyl_buf_release(&body);
        free(packed);
        free(call);
        return rc;
}

struct unary {
        const ProtobufCMessageDescriptor *desc;
        ProtobufCMessage *msg;
};

static int unary_message(const uint8_t *msg, size_t len, void *arg, struct idyl_err *err)
{
        struct unary *u = arg;

        if (u->msg)
                return idyl_err_set(err, IDYL_E_UNAVAILABLE,
                                    "the server sent more than one %s for a unary call",
                                    u->desc->name);
        u->msg = protobuf_c_message_unpack(u->desc, NULL, len, msg);
        if (!u->msg)
                return idyl_err_set(err, IDYL_E_UNAVAILABLE, "cannot decode the server's %s",
                                    u->desc->name);
        return 0;
}

int grpc_unary(struct grpc_conn *c, const char *method, const ProtobufCMessage *req,
               const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, int timeout_ms,
               struct idyl_err *err)
{
        struct unary u = {resp_desc, NULL};

        *resp = NULL;
        if (call_run(c, method, req, unary_message, &u, timeout_ms, err) < 0) {
                if (u.msg)
                        protobuf_c_message_free_unpacked(u.msg, NULL);
                return -1;
        }
        if (!u.msg)
                return idyl_err_set(err, IDYL_E_UNAVAILABLE, "the server sent no %s",
                                    resp_desc->name);
        *resp = u.msg;
        return 0;
}

int grpc_stream(struct grpc_conn *c, const char *method, const ProtobufCMessage *req,
                grpc_message_fn fn, void *arg, int timeout_ms, struct idyl_err *err)
{
        return call_run(c, method, req, fn, arg, timeout_ms, err);
}
