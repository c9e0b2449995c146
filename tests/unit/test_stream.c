/* Proves the stream wire (util/stream_wire.c): frame headers round-trip and
 * bad ones are refused; the client side of the upgrade against a canned
 * local server: frames after a 101 arrive whole and in order, a JSON error
 * answer becomes the server's code and message (or, asked for as it is,
 * comes back whole with its status: a replica passes it on), and a stream
 * cut inside a frame is an error, not a short frame. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/stream_wire.h"

static void test_frame_header_round_trips(void **state)
{
        uint8_t h[STREAM_FRAME_HDR];
        enum stream_channel ch;
        uint32_t len;

        (void)state;
        stream_frame_header(h, STREAM_STDERR, 70000 > STREAM_FRAME_MAX ? STREAM_FRAME_MAX : 70000);
        assert_int_equal(stream_frame_parse(h, &ch, &len), 0);
        assert_int_equal(ch, STREAM_STDERR);
        assert_int_equal(len, STREAM_FRAME_MAX);
        stream_frame_header(h, STREAM_STDOUT, STREAM_FRAME_MAX + 1);
        assert_int_equal(stream_frame_parse(h, &ch, &len), -1);
        stream_frame_header(h, STREAM_END, 0);
        h[0] = 9;
        assert_int_equal(stream_frame_parse(h, &ch, &len), -1);
}

/* The CLI's frames: stdin bytes on channel 0 (as Docker's stdcopy numbers
 * stdin), its end on channel 4 with no payload; neither may come from the
 * agent, whose channels are stdout, stderr and the end. */
static void test_stdin_frames_have_their_channels(void **state)
{
        static const uint8_t stdin_hdr[] = {0, 0, 0, 0, 0, 0, 0, 3};
        static const uint8_t eof_hdr[] = {4, 0, 0, 0, 0, 0, 0, 0};
        uint8_t h[STREAM_FRAME_HDR];
        enum stream_channel ch = STREAM_END;
        uint32_t len = 99;

        (void)state;
        stream_frame_header(h, STREAM_STDIN, 3);
        assert_memory_equal(h, stdin_hdr, sizeof(h));
        assert_int_equal(stream_frame_parse(h, &ch, &len), 0);
        assert_int_equal(ch, STREAM_STDIN);
        assert_int_equal(len, 3);
        stream_frame_header(h, STREAM_STDIN_EOF, 0);
        assert_memory_equal(h, eof_hdr, sizeof(h));
        assert_int_equal(stream_frame_parse(h, &ch, &len), 0);
        assert_int_equal(ch, STREAM_STDIN_EOF);
        assert_int_equal(len, 0);
        /* an end of stdin carries nothing */
        stream_frame_header(h, STREAM_STDIN_EOF, 1);
        assert_int_equal(stream_frame_parse(h, &ch, &len), -1);
        h[0] = 5;
        h[7] = 0;
        assert_int_equal(stream_frame_parse(h, &ch, &len), -1);
        assert_false(stream_channel_from_agent(STREAM_STDIN));
        assert_false(stream_channel_from_agent(STREAM_STDIN_EOF));
        assert_true(stream_channel_from_agent(STREAM_STDOUT));
        assert_true(stream_channel_from_agent(STREAM_STDERR));
        assert_true(stream_channel_from_agent(STREAM_END));
}

/* A one-shot server: reads the request headers, writes `answer`, closes. */
struct canned {
        int listen_fd;
        const char *answer;
        size_t answer_len;
        char request[4096];
};

static void *serve(void *arg)
{
        struct canned *c = arg;
        int fd = accept(c->listen_fd, NULL, NULL);
        size_t have = 0;

        while (fd >= 0 && have < sizeof(c->request) - 1) {
                ssize_t n = read(fd, c->request + have, sizeof(c->request) - 1 - have);
                if (n <= 0)
                        break;
                have += (size_t)n;
                c->request[have] = '\0';
                if (strstr(c->request, "\r\n\r\n{}"))
                        break;
        }
        if (fd >= 0) {
                ssize_t ignored = write(fd, c->answer, c->answer_len);
                (void)ignored;
                close(fd);
        }
        return NULL;
}

static int start_canned(struct canned *c, pthread_t *t, char *addr, size_t size)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(sa);

        c->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
        if (c->listen_fd < 0 || bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(c->listen_fd, 1) < 0 || getsockname(c->listen_fd, (struct sockaddr *)&sa, &len))
                return -1;
        snprintf(addr, size, "http://127.0.0.1:%u", ntohs(sa.sin_port));
        return pthread_create(t, NULL, serve, c);
}

static int open_canned(struct canned *c, struct stream_conn **conn, struct idyl_err *err)
{
        char addr[64];
        pthread_t t;
        int rc;

        assert_int_equal(start_canned(c, &t, addr, sizeof(addr)), 0);
        struct stream_open o = {.addr = addr, .token = "tok", .path = "/v1/x/logs", .body = "{}"};
        rc = stream_conn_open(&o, conn, err);
        pthread_join(t, NULL);
        close(c->listen_fd);
        return rc;
}

/* Reads the next frame into frame_buf; returns what stream_conn_next() returns. */
static char frame_buf[STREAM_FRAME_MAX + 1];

static int next_frame(struct stream_conn *conn, enum stream_channel *ch, struct idyl_err *err)
{
        uint32_t len;

        return stream_conn_next(conn, ch, frame_buf, &len, err);
}

static void assert_next_frame(struct stream_conn *conn, enum stream_channel want_ch,
                              const char *want)
{
        struct idyl_err err = IDYL_ERR_INIT;
        enum stream_channel ch;

        assert_int_equal(next_frame(conn, &ch, &err), 1);
        assert_int_equal(ch, want_ch);
        assert_string_equal(frame_buf, want);
}

/* The stream has no frame left: it ends cleanly (want_msg NULL) or fails
 * with exactly want_msg. */
static void assert_stream_ends(struct stream_conn *conn, const char *want_msg)
{
        struct idyl_err err = IDYL_ERR_INIT;
        enum stream_channel ch;

        assert_int_equal(next_frame(conn, &ch, &err), want_msg ? -1 : 0);
        if (want_msg)
                assert_string_equal(err.msg, want_msg);
}

static void test_frames_after_101_arrive_whole(void **state)
{
        static const char answer[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: idyl-stream\r\n"
                                     "Connection: Upgrade\r\n\r\n"
                                     "\x01\0\0\0\0\0\0\x04one\n"
                                     "\x02\0\0\0\0\0\0\x04two\n"
                                     "\x03\0\0\0\0\0\0\x0f{\"exit_code\":7}";
        struct canned c = {.answer = answer, .answer_len = sizeof(answer) - 1};
        struct idyl_err err = IDYL_ERR_INIT;
        struct stream_conn *conn = NULL;

        (void)state;
        assert_int_equal(open_canned(&c, &conn, &err), 0);
        assert_non_null(strstr(c.request, "POST /v1/x/logs HTTP/1.1\r\n"));
        assert_non_null(strstr(c.request, "Authorization: Bearer tok\r\n"));
        assert_non_null(strstr(c.request, "Upgrade: idyl-stream\r\n"));
        assert_next_frame(conn, STREAM_STDOUT, "one\n");
        assert_next_frame(conn, STREAM_STDERR, "two\n");
        assert_next_frame(conn, STREAM_END, "{\"exit_code\":7}");
        assert_stream_ends(conn, NULL);
        stream_conn_close(conn);
}

static void test_error_answer_carries_the_servers_message(void **state)
{
        static const char answer[] =
            "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: 63\r\n\r\n"
            "{\"error\":{\"code\":\"forbidden\",\"message\":\"role provider may not\"}}";
        struct canned c = {.answer = answer, .answer_len = sizeof(answer) - 1};
        struct idyl_err err = IDYL_ERR_INIT;
        struct stream_conn *conn = NULL;

        (void)state;
        assert_int_equal(open_canned(&c, &conn, &err), -1);
        assert_null(conn);
        assert_int_equal(err.code, IDYL_E_FORBIDDEN);
        assert_string_equal(err.msg, "role provider may not");
}

/* What a replica forwarding a stream request gets back: the answer's
 * status and body as they came, and the request says who forwarded it. */
static void test_request_returns_any_answer_whole(void **state)
{
        static const char answer[] =
            "HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nContent-Length: 71\r\n\r\n"
            "{\"error\":{\"code\":\"conflict\",\"message\":\"workload \\\"w\\\" is not running\"}}";
        struct canned c = {.answer = answer, .answer_len = sizeof(answer) - 1};
        struct idyl_buf body = IDYL_BUF_INIT(STREAM_ANSWER_BODY_MAX);
        struct idyl_err err = IDYL_ERR_INIT;
        struct stream_conn *conn = NULL;
        char addr[64];
        long status = 0;
        pthread_t t;

        (void)state;
        assert_int_equal(start_canned(&c, &t, addr, sizeof(addr)), 0);
        struct stream_open o = {.addr = addr,
                                .token = "tok",
                                .path = "/v1/x/exec",
                                .body = "{}",
                                .forwarded_by = "123.456",
                                .answer_timeout_ms = 2000};
        assert_int_equal(stream_conn_request(&o, &conn, &status, &body, &err), 0);
        pthread_join(t, NULL);
        close(c.listen_fd);
        assert_null(conn);
        assert_int_equal(status, 409);
        assert_string_equal(body.data, answer + strlen(answer) - 71);
        assert_non_null(strstr(c.request, "\r\n" STREAM_FORWARDED_HEADER ": 123.456\r\n"));
        idyl_buf_release(&body);
}

static void test_a_stream_cut_inside_a_frame_is_an_error(void **state)
{
        static const char answer[] = "HTTP/1.1 101 Switching Protocols\r\n\r\n"
                                     "\x01\0\0\0\0\0\0\x10only part";
        struct canned c = {.answer = answer, .answer_len = sizeof(answer) - 1};
        struct idyl_err err = IDYL_ERR_INIT;
        struct stream_conn *conn = NULL;

        (void)state;
        assert_int_equal(open_canned(&c, &conn, &err), 0);
        assert_stream_ends(conn, "the stream was cut inside a frame");
        stream_conn_close(conn);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_frame_header_round_trips),
            cmocka_unit_test(test_stdin_frames_have_their_channels),
            cmocka_unit_test(test_frames_after_101_arrive_whole),
            cmocka_unit_test(test_error_answer_carries_the_servers_message),
            cmocka_unit_test(test_request_returns_any_answer_whole),
            cmocka_unit_test(test_a_stream_cut_inside_a_frame_is_an_error),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
