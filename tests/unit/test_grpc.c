/* The agent's gRPC client: the 5-byte message framing, reassembly from
 * pieces of any size, grpc-status/grpc-message to errors, and whole calls
 * against a small HTTP/2 server (nghttp2) on a unix socket: a unary answer,
 * an error in trailers only, a stream of messages, a deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#undef linux
#include "cri.pb-c.h"

#include "agent/grpc.h"

/* ---- framing ---------------------------------------------------------------------- */

static void test_frame_prefix_is_flag_and_big_endian_length(void **state)
{
        struct idyl_buf b = IDYL_BUF_INIT(1024);
        struct idyl_err err = IDYL_ERR_INIT;
        uint8_t msg[300];

        (void)state;
        memset(msg, 'x', sizeof(msg));
        assert_int_equal(grpc_frame_append(&b, msg, sizeof(msg), &err), 0);
        assert_int_equal(b.len, 305);
        assert_memory_equal(b.data, "\x00\x00\x00\x01\x2c", 5);
        assert_int_equal(b.data[5], 'x');
        idyl_buf_release(&b);
        /* an empty message is a prefix alone */
        assert_int_equal(grpc_frame_append(&b, NULL, 0, &err), 0);
        assert_int_equal(b.len, 5);
        assert_memory_equal(b.data, "\0\0\0\0\0", 5);
        idyl_buf_release(&b);
}

static void test_frame_past_the_buffer_maximum_fails(void **state)
{
        struct idyl_buf b = IDYL_BUF_INIT(8);
        struct idyl_err err = IDYL_ERR_INIT;

        (void)state;
        assert_int_equal(grpc_frame_append(&b, (const uint8_t *)"0123", 4, &err), -1);
        assert_int_equal(err.code, IDYL_E_TOO_LARGE);
        assert_string_equal(err.msg, "gRPC request larger than 8 bytes");
        idyl_buf_release(&b);
}

struct got {
        char msgs[8][64];
        size_t n;
        bool fail_on_second;
};

static int collect(const uint8_t *msg, size_t len, void *arg, struct idyl_err *err)
{
        struct got *g = arg;

        if (g->fail_on_second && g->n == 1)
                return idyl_err_set(err, IDYL_E_INVALID, "no second message wanted");
        snprintf(g->msgs[g->n++], sizeof(g->msgs[0]), "%.*s", (int)len, (const char *)msg);
        return 0;
}

/* Two framed messages, "hello" and "", then "world". */
static size_t three_frames(uint8_t *out)
{
        struct idyl_buf b = IDYL_BUF_INIT(1024);
        struct idyl_err err = IDYL_ERR_INIT;
        size_t len;

        grpc_frame_append(&b, (const uint8_t *)"hello", 5, &err);
        grpc_frame_append(&b, NULL, 0, &err);
        grpc_frame_append(&b, (const uint8_t *)"world", 5, &err);
        memcpy(out, b.data, b.len);
        len = b.len;
        idyl_buf_release(&b);
        return len;
}

/* A reader of at most `max` bytes a message, the three frames to feed it,
 * and what its callback collected. */
struct feeding {
        uint8_t data[64];
        size_t len;
        struct grpc_reader r;
        struct got g;
        struct idyl_err err;
};

static void feeding_init(struct feeding *f, size_t max)
{
        memset(f, 0, sizeof(*f));
        f->len = three_frames(f->data);
        f->err = (struct idyl_err)IDYL_ERR_INIT;
        grpc_reader_init(&f->r, max);
}

/* Feeds `n` bytes of the frames from `off`; returns what the reader did. */
static int feed(struct feeding *f, size_t off, size_t n)
{
        return grpc_reader_feed(&f->r, f->data + off, n, collect, &f->g, &f->err);
}

static void test_reader_whole_and_byte_by_byte(void **state)
{
        struct feeding f;

        (void)state;
        feeding_init(&f, 1024);
        assert_int_equal(feed(&f, 0, f.len), 0);
        assert_int_equal(f.g.n, 3);
        assert_string_equal(f.g.msgs[0], "hello");
        assert_string_equal(f.g.msgs[1], "");
        assert_string_equal(f.g.msgs[2], "world");
        assert_int_equal(grpc_reader_finish(&f.r, &f.err), 0);

        memset(&f.g, 0, sizeof(f.g));
        for (size_t i = 0; i < f.len; i++)
                assert_int_equal(feed(&f, i, 1), 0);
        assert_int_equal(f.g.n, 3);
        assert_string_equal(f.g.msgs[2], "world");
        assert_int_equal(f.r.messages, 6);
        assert_int_equal(grpc_reader_finish(&f.r, &f.err), 0);
        grpc_reader_release(&f.r);
}

static void test_reader_split_inside_prefix_and_body(void **state)
{
        struct feeding f;

        (void)state;
        feeding_init(&f, 1024);
        /* 3 bytes of the first prefix, then up to the middle of "world" */
        assert_int_equal(feed(&f, 0, 3), 0);
        assert_int_equal(f.g.n, 0);
        assert_int_equal(feed(&f, 3, f.len - 5), 0);
        assert_int_equal(f.g.n, 2);
        /* the stream ending here leaves part of a message */
        assert_int_equal(grpc_reader_finish(&f.r, &f.err), -1);
        assert_string_equal(f.err.msg,
                            "the gRPC stream ended inside a message (8 bytes left over)");
        assert_int_equal(feed(&f, f.len - 2, 2), 0);
        assert_int_equal(f.g.n, 3);
        assert_string_equal(f.g.msgs[2], "world");
        grpc_reader_release(&f.r);
}

static void test_reader_refuses_compressed_and_oversized(void **state)
{
        /* a prefix and what the reader of 16 bytes says of it */
        static const struct {
                const char *bytes;
                size_t len;
                enum idyl_errcode code;
                const char *msg;
        } cases[] = {
            {"\x01\0\0\0\1x", 6, IDYL_E_UNAVAILABLE,
             "the server sent a compressed gRPC message (flag 1)"},
            /* refused from the prefix alone, before any of the body arrives */
            {"\0\0\0\0\x11", 5, IDYL_E_TOO_LARGE, "gRPC message of 17 bytes is larger than 16"},
        };

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct feeding f;

                feeding_init(&f, 16);
                assert_int_equal(grpc_reader_feed(&f.r, (const uint8_t *)cases[i].bytes,
                                                  cases[i].len, collect, &f.g, &f.err),
                                 -1);
                assert_int_equal(f.err.code, cases[i].code);
                assert_string_equal(f.err.msg, cases[i].msg);
                assert_int_equal(f.g.n, 0);
                grpc_reader_release(&f.r);
        }
}

static void test_reader_stops_when_the_callback_fails(void **state)
{
        struct feeding f;

        (void)state;
        feeding_init(&f, 1024);
        f.g.fail_on_second = true;
        assert_int_equal(feed(&f, 0, f.len), -1);
        assert_int_equal(f.g.n, 1);
        assert_string_equal(f.err.msg, "no second message wanted");
        grpc_reader_release(&f.r);
}

/* ---- status ------------------------------------------------------------------------ */

static void test_status_names_and_codes(void **state)
{
        (void)state;
        assert_string_equal(grpc_status_name(GRPC_NOT_FOUND), "NOT_FOUND");
        assert_string_equal(grpc_status_name(GRPC_UNIMPLEMENTED), "UNIMPLEMENTED");
        assert_string_equal(grpc_status_name(17), "UNKNOWN_STATUS");
        assert_string_equal(grpc_status_name(-1), "UNKNOWN_STATUS");
        assert_int_equal(grpc_status_errcode(GRPC_NOT_FOUND), IDYL_E_NOT_FOUND);
        assert_int_equal(grpc_status_errcode(GRPC_ALREADY_EXISTS), IDYL_E_CONFLICT);
        assert_int_equal(grpc_status_errcode(GRPC_INVALID_ARGUMENT), IDYL_E_INVALID);
        assert_int_equal(grpc_status_errcode(GRPC_PERMISSION_DENIED), IDYL_E_FORBIDDEN);
        assert_int_equal(grpc_status_errcode(GRPC_UNAUTHENTICATED), IDYL_E_UNAUTHORIZED);
        assert_int_equal(grpc_status_errcode(GRPC_UNAVAILABLE), IDYL_E_UNAVAILABLE);
        assert_int_equal(grpc_status_errcode(99), IDYL_E_UNAVAILABLE);
}

static void test_message_decode(void **state)
{
        char out[32];

        (void)state;
        grpc_message_decode("no%20such%20sandbox%3A%20%22x%22", out, sizeof(out));
        assert_string_equal(out, "no such sandbox: \"x\"");
        /* not an escape: kept as sent */
        grpc_message_decode("100% sure %zz", out, sizeof(out));
        assert_string_equal(out, "100% sure %zz");
        grpc_message_decode("caf%C3%A9", out, sizeof(out));
        assert_string_equal(out, "caf\xc3\xa9");
        grpc_message_decode("abcdef", out, 4);
        assert_string_equal(out, "abc");
}

static void test_status_to_err(void **state)
{
        struct idyl_err err = IDYL_ERR_INIT;

        (void)state;
        assert_int_equal(grpc_status_to_err("200", "0", NULL, &err), GRPC_OK);
        assert_int_equal(err.code, IDYL_OK);
        assert_string_equal(err.msg, "");

        assert_int_equal(grpc_status_to_err("200", "5", "sandbox%20%22abc%22%20not%20found", &err),
                         GRPC_NOT_FOUND);
        assert_int_equal(err.code, IDYL_E_NOT_FOUND);
        assert_string_equal(err.msg, "sandbox \"abc\" not found");

        assert_int_equal(grpc_status_to_err("200", "12", NULL, &err), GRPC_UNIMPLEMENTED);
        assert_string_equal(err.msg, "UNIMPLEMENTED");

        assert_int_equal(grpc_status_to_err("200", NULL, NULL, &err), GRPC_UNKNOWN);
        assert_string_equal(err.msg, "the server ended the call without a status");

        assert_int_equal(grpc_status_to_err("404", NULL, NULL, &err), GRPC_UNKNOWN);
        assert_int_equal(err.code, IDYL_E_UNAVAILABLE);
        assert_string_equal(err.msg, "the server answered HTTP 404, not gRPC");

        assert_int_equal(grpc_status_to_err("200", "five", NULL, &err), GRPC_UNKNOWN);
        assert_string_equal(err.msg, "the server sent grpc-status \"five\"");
}

/* ---- whole calls against a small HTTP/2 server ------------------------------------------ */

struct server {
        char path[108];
        int listen_fd;
        pthread_t thread;
};

struct srv_stream {
        int32_t id;
        char path[64];
        struct idyl_buf body; /* the request's DATA */
        struct idyl_buf out;  /* the answer's DATA */
        size_t out_off;
};

struct srv_conn {
        int fd;
        struct srv_stream st[8];
};

static struct srv_stream *srv_stream(struct srv_conn *sc, int32_t id)
{
        for (int i = 0; i < 8; i++)
                if (sc->st[i].id == id)
                        return &sc->st[i];
        for (int i = 0; i < 8; i++)
                if (sc->st[i].id == 0) {
                        sc->st[i].id = id;
                        sc->st[i].body = (struct idyl_buf)IDYL_BUF_INIT(1 << 20);
                        sc->st[i].out = (struct idyl_buf)IDYL_BUF_INIT(1 << 20);
                        return &sc->st[i];
                }
        return NULL;
}

static ssize_t srv_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *u)
{
        struct srv_conn *sc = u;

        (void)s;
        (void)flags;
        return send(sc->fd, data, len, MSG_NOSIGNAL);
}

static int srv_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                      size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *u)
{
        struct srv_stream *st = srv_stream(u, f->hd.stream_id);

        (void)s;
        (void)flags;
        if (st && namelen == 5 && memcmp(name, ":path", 5) == 0)
                snprintf(st->path, sizeof(st->path), "%.*s", (int)valuelen, (const char *)value);
        return 0;
}

static int srv_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                    void *u)
{
        struct srv_stream *st = srv_stream(u, id);

        (void)s;
        (void)flags;
        if (st)
                idyl_buf_append(&st->body, data, len);
        return 0;
}

#define NV(n, v)                                                                                   \
        {                                                                                          \
                (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE         \
        }

static ssize_t srv_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                        nghttp2_data_source *src, void *u)
{
        struct srv_stream *st = src->ptr;
        size_t left = st->out.len - st->out_off;
        nghttp2_nv trailers[] = {NV("grpc-status", "0")};

        (void)u;
        if (len > left)
                len = left;
        memcpy(buf, st->out.data + st->out_off, len);
        st->out_off += len;
        if (st->out_off == st->out.len) {
                *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
                nghttp2_submit_trailer(s, id, trailers, 1);
        }
        return (ssize_t)len;
}

/* The request is whole: answer by method. */
static int srv_frame(nghttp2_session *s, const nghttp2_frame *f, void *u)
{
        struct srv_stream *st;
        nghttp2_nv ok[] = {NV(":status", "200"), NV("content-type", "application/grpc")};
        nghttp2_nv missing[] = {NV(":status", "200"), NV("content-type", "application/grpc"),
                                NV("grpc-status", "5"),
                                NV("grpc-message", "sandbox%20%22abc%22%20not%20found")};
        nghttp2_data_provider prov = {.read_callback = srv_read};
        struct idyl_err err = IDYL_ERR_INIT;

        if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
            (f->hd.type != NGHTTP2_DATA && f->hd.type != NGHTTP2_HEADERS))
                return 0;
        st = srv_stream(u, f->hd.stream_id);
        if (!st)
                return 0;
        prov.source.ptr = st;
        if (strcmp(st->path, "/test.S/Echo") == 0) {
                idyl_buf_append(&st->out, st->body.data, st->body.len);
                nghttp2_submit_response(s, st->id, ok, 2, &prov);
        } else if (strcmp(st->path, "/test.S/Missing") == 0) {
                nghttp2_submit_response(s, st->id, missing, 4, NULL);
        } else if (strcmp(st->path, "/test.S/Stream") == 0) {
                /* the request three times, in one DATA frame */
                for (int i = 0; i < 3; i++)
                        idyl_buf_append(&st->out, st->body.data, st->body.len);
                nghttp2_submit_response(s, st->id, ok, 2, &prov);
        } else if (strcmp(st->path, "/test.S/Garbage") == 0) {
                grpc_frame_append(&st->out, (const uint8_t *)"\xff\xff\xff", 3, &err);
                nghttp2_submit_response(s, st->id, ok, 2, &prov);
        }
        /* /test.S/Slow: never answered */
        return 0;
}

static void *server_main(void *arg)
{
        struct server *srv = arg;
        nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 16}};
        int fd;

        while ((fd = accept(srv->listen_fd, NULL, NULL)) >= 0) {
                struct srv_conn sc = {.fd = fd};
                nghttp2_session_callbacks *cbs;
                nghttp2_session *s;
                uint8_t buf[16384];
                ssize_t n;

                nghttp2_session_callbacks_new(&cbs);
                nghttp2_session_callbacks_set_send_callback(cbs, srv_send);
                nghttp2_session_callbacks_set_on_header_callback(cbs, srv_header);
                nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, srv_data);
                nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, srv_frame);
                nghttp2_session_server_new(&s, cbs, &sc);
                nghttp2_session_callbacks_del(cbs);
                nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv, 1);
                nghttp2_session_send(s);
                while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
                        if (nghttp2_session_mem_recv(s, buf, (size_t)n) < 0)
                                break;
                        nghttp2_session_send(s);
                }
                nghttp2_session_del(s);
                for (int i = 0; i < 8; i++) {
                        idyl_buf_release(&sc.st[i].body);
                        idyl_buf_release(&sc.st[i].out);
                }
                close(fd);
        }
        return NULL;
}

static int server_setup(void **state)
{
        struct server *srv = calloc(1, sizeof(*srv));
        struct sockaddr_un sa = {.sun_family = AF_UNIX};

        snprintf(srv->path, sizeof(srv->path), "/tmp/idyl-grpc-test-%ld.sock", (long)getpid());
        unlink(srv->path);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", srv->path);
        srv->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (srv->listen_fd < 0 || bind(srv->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(srv->listen_fd, 4) < 0)
                return -1;
        pthread_create(&srv->thread, NULL, server_main, srv);
        *state = srv;
        return 0;
}

static int server_teardown(void **state)
{
        struct server *srv = *state;

        shutdown(srv->listen_fd, SHUT_RDWR);
        close(srv->listen_fd);
        pthread_join(srv->thread, NULL);
        unlink(srv->path);
        free(srv);
        return 0;
}

/* One Version call on c within timeout_ms: grpc_unary's result. A failed
 * call leaves no answer; a good one's is freed. */
static int version_call(struct grpc_conn *c, const char *method, int timeout_ms,
                        struct idyl_err *err)
{
        Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        int rc;

        req.version = "v1";
        rc = grpc_unary(c, method, &req.base, &runtime__v1__version_request__descriptor, &resp,
                        timeout_ms, err);
        if (rc < 0)
                assert_null(resp);
        else
                protobuf_c_message_free_unpacked(resp, NULL);
        return rc;
}

static void test_unary_call_round_trip(void **state)
{
        struct server *srv = *state;
        struct grpc_conn *c = grpc_conn_new(srv->path);
        struct idyl_err err = IDYL_ERR_INIT;
        Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
        Runtime__V1__VersionRequest *resp = NULL;

        req.version = "v1";
        /* twice on one connection */
        for (int i = 0; i < 2; i++) {
                assert_int_equal(grpc_unary(c, "/test.S/Echo", &req.base,
                                            &runtime__v1__version_request__descriptor,
                                            (ProtobufCMessage **)&resp, 5000, &err),
                                 0);
                assert_string_equal(resp->version, "v1");
                assert_int_equal(grpc_conn_last_status(c), GRPC_OK);
                protobuf_c_message_free_unpacked(&resp->base, NULL);
        }
        grpc_conn_free(c);
}

static void test_error_in_trailers_only(void **state)
{
        struct server *srv = *state;
        struct grpc_conn *c = grpc_conn_new(srv->path);
        struct idyl_err err = IDYL_ERR_INIT;

        assert_int_equal(version_call(c, "/test.S/Missing", 5000, &err), -1);
        assert_int_equal(grpc_conn_last_status(c), GRPC_NOT_FOUND);
        assert_int_equal(err.code, IDYL_E_NOT_FOUND);
        assert_string_equal(err.msg, "sandbox \"abc\" not found");
        grpc_conn_free(c);
}

static void test_undecodable_answer_fails(void **state)
{
        struct server *srv = *state;
        struct grpc_conn *c = grpc_conn_new(srv->path);
        struct idyl_err err = IDYL_ERR_INIT;

        assert_int_equal(version_call(c, "/test.S/Garbage", 5000, &err), -1);
        assert_string_equal(err.msg, "cannot decode the server's runtime.v1.VersionRequest");
        grpc_conn_free(c);
}

static int count_stream(const uint8_t *msg, size_t len, void *arg, struct idyl_err *err)
{
        Runtime__V1__VersionRequest *m = (Runtime__V1__VersionRequest *)protobuf_c_message_unpack(
            &runtime__v1__version_request__descriptor, NULL, len, msg);

        (void)err;
        if (m && strcmp(m->version, "stream") == 0)
                (*(int *)arg)++;
        if (m)
                protobuf_c_message_free_unpacked(&m->base, NULL);
        return 0;
}

static void test_server_stream_delivers_each_message(void **state)
{
        struct server *srv = *state;
        struct grpc_conn *c = grpc_conn_new(srv->path);
        struct idyl_err err = IDYL_ERR_INIT;
        Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
        int n = 0;

        req.version = "stream";
        assert_int_equal(grpc_stream(c, "/test.S/Stream", &req.base, count_stream, &n, 5000, &err),
                         0);
        assert_int_equal(n, 3);
        grpc_conn_free(c);
}

static void test_deadline_and_abort(void **state)
{
        struct server *srv = *state;
        struct grpc_conn *c = grpc_conn_new(srv->path);
        struct idyl_err err = IDYL_ERR_INIT;
        volatile bool stop = true;
        char want[200];

        assert_int_equal(version_call(c, "/test.S/Slow", 300, &err), -1);
        snprintf(want, sizeof(want), "no answer from %s in time", srv->path);
        assert_string_equal(err.msg, want);
        /* the connection is usable again afterwards */
        assert_int_equal(version_call(c, "/test.S/Echo", 5000, &err), 0);
        grpc_conn_set_abort(c, &stop);
        assert_int_equal(version_call(c, "/test.S/Slow", 0, &err), -1);
        assert_string_equal(err.msg, "stopped");
        grpc_conn_free(c);
}

static void test_no_server_is_unavailable(void **state)
{
        struct grpc_conn *c = grpc_conn_new("/nonexistent/c.sock");
        struct idyl_err err = IDYL_ERR_INIT;

        (void)state;
        assert_int_equal(version_call(c, "/test.S/Echo", 1000, &err), -1);
        assert_int_equal(err.code, IDYL_E_UNAVAILABLE);
        assert_string_equal(err.msg, "connect to /nonexistent/c.sock: No such file or directory");
        assert_int_equal(grpc_conn_last_status(c), GRPC_UNAVAILABLE);
        grpc_conn_free(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_frame_prefix_is_flag_and_big_endian_length),
            cmocka_unit_test(test_frame_past_the_buffer_maximum_fails),
            cmocka_unit_test(test_reader_whole_and_byte_by_byte),
            cmocka_unit_test(test_reader_split_inside_prefix_and_body),
            cmocka_unit_test(test_reader_refuses_compressed_and_oversized),
            cmocka_unit_test(test_reader_stops_when_the_callback_fails),
            cmocka_unit_test(test_status_names_and_codes),
            cmocka_unit_test(test_message_decode),
            cmocka_unit_test(test_status_to_err),
            cmocka_unit_test(test_no_server_is_unavailable),
        };
        const struct CMUnitTest calls[] = {
            cmocka_unit_test(test_unary_call_round_trip),
            cmocka_unit_test(test_error_in_trailers_only),
            cmocka_unit_test(test_undecodable_answer_fails),
            cmocka_unit_test(test_server_stream_delivers_each_message),
            cmocka_unit_test(test_deadline_and_abort),
        };
        int failed = cmocka_run_group_tests(tests, NULL, NULL);

        return failed + cmocka_run_group_tests(calls, server_setup, server_teardown);
}
