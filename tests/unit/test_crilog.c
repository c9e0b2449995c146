/* Proves the CRI log reading of the node agent (agent/crilog.c): records
 * become their messages on the right channel, a partial record waits for
 * the rest, --tail counts records from the end (0, 1, 2, more than there
 * are), attempts are found by their file names, and the exec status yields
 * the exit code or the failure's message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/crilog.h"
#include "util/stream_wire.h"

struct captured {
        char out[1024], err[1024];
};

static int capture(void *arg, int channel, const char *data, size_t len)
{
        struct captured *c = arg;
        char *dst = channel == STREAM_STDERR ? c->err : c->out;

        strncat(dst, data, len);
        return 0;
}

static const char records[] = "2026-01-01T00:00:00.000000001Z stdout F one\n"
                              "2026-01-01T00:00:00.000000002Z stderr F two\n"
                              "2026-01-01T00:00:00.000000003Z stdout P thr\n"
                              "2026-01-01T00:00:00.000000004Z stdout F ee\n";

static void test_records_become_messages_on_their_channel(void **state)
{
        struct captured c = {0};
        const volatile bool no = false;
        struct rt_sink sink = {capture, &c, &no};
        struct idyl_buf b = IDYL_BUF_INIT(1u << 20);

        (void)state;
        /* fed in two pieces: the second record is cut in the middle */
        assert_int_equal(idyl_buf_append(&b, records, 60), 0);
        assert_int_equal(crilog_emit_lines(&b, &sink), 0);
        assert_string_equal(c.out, "one\n");
        assert_string_equal(c.err, "");
        assert_int_equal(idyl_buf_append(&b, records + 60, sizeof(records) - 1 - 60), 0);
        assert_int_equal(crilog_emit_lines(&b, &sink), 0);
        assert_string_equal(c.out, "one\nthree\n");
        assert_string_equal(c.err, "two\n");
        assert_int_equal(b.len, 0);
        idyl_buf_release(&b);
}

/* The records `tail` selects, as the sink sees them (stdout and stderr). */
static void tail_of(long tail, char *out, size_t size)
{
        char path[] = "/tmp/test_crilog_XXXXXX";
        int fd = mkstemp(path);
        struct captured c = {0};
        const volatile bool no = false;
        struct rt_sink sink = {capture, &c, &no};
        struct idyl_buf b = IDYL_BUF_INIT(1u << 20);
        struct idyl_err err = IDYL_ERR_INIT;
        bool got;

        assert_true(fd >= 0);
        assert_int_equal(write(fd, records, sizeof(records) - 1), (ssize_t)sizeof(records) - 1);
        lseek(fd, crilog_tail_offset(fd, tail), SEEK_SET);
        assert_int_equal(crilog_drain(fd, &b, &sink, &got, &err), 0);
        snprintf(out, size, "%s|%s", c.out, c.err);
        idyl_buf_release(&b);
        close(fd);
        unlink(path);
}

static void test_tail_counts_records_from_the_end(void **state)
{
        /* tail, then what stdout and stderr receive ("out|err") */
        static const struct {
                long tail;
                const char *want;
        } cases[] = {
            {-1, "one\nthree\n|two\n"},
            {0, "|"},
            {1, "ee\n|"},
            {2, "three\n|"},
            {3, "three\n|two\n"},
            {100, "one\nthree\n|two\n"},
        };
        char got[2048];

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                tail_of(cases[i].tail, got, sizeof(got));
                assert_string_equal(got, cases[i].want);
        }
}

static void test_attempts_are_found_by_file_name(void **state)
{
        char dir[] = "/tmp/test_crilog_dir_XXXXXX", path[64];
        const char *names[] = {"0.log", "1.log", "3.log", "x.log", "2.log.tmp"};

        (void)state;
        assert_int_equal(crilog_attempt_of("12.log"), 12);
        assert_int_equal(crilog_attempt_of("12.logx"), -1);
        assert_int_equal(crilog_attempt_of(".log"), -1);
        assert_non_null(mkdtemp(dir));
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
                close(open(path, O_CREAT | O_WRONLY, 0600));
        }
        assert_int_equal(crilog_attempt_below(dir, 3), 1);
        assert_int_equal(crilog_attempt_below(dir, 1), 0);
        assert_int_equal(crilog_attempt_below(dir, 0), -1);
        assert_int_equal(crilog_attempt_below(dir, 100), 3);
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
                unlink(path);
        }
        rmdir(dir);
}

static void test_exec_status_gives_the_exit_code(void **state)
{
        static const char ok[] = "{\"metadata\":{},\"status\":\"Success\"}";
        static const char seven[] =
            "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"command terminated with "
            "non-zero exit code: error executing command [sh -c exit 7], exit code 7\","
            "\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{\"reason\":\"ExitCode\","
            "\"message\":\"7\"}]}}";
        static const char broken[] = "{\"status\":\"Failure\",\"message\":\"exec: \\\"nope\\\": "
                                     "executable file not found in $PATH\"}";
        struct idyl_err err = IDYL_ERR_INIT;
        int code = -1;

        (void)state;
        assert_int_equal(cri_status_exit_code(ok, sizeof(ok) - 1, &code, &err), 0);
        assert_int_equal(code, 0);
        assert_int_equal(cri_status_exit_code(seven, sizeof(seven) - 1, &code, &err), 0);
        assert_int_equal(code, 7);
        assert_int_equal(cri_status_exit_code(broken, sizeof(broken) - 1, &code, &err), -1);
        assert_string_equal(err.msg,
                            "exec failed: exec: \"nope\": executable file not found in $PATH");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_records_become_messages_on_their_channel),
            cmocka_unit_test(test_tail_counts_records_from_the_end),
            cmocka_unit_test(test_attempts_are_found_by_file_name),
            cmocka_unit_test(test_exec_status_gives_the_exit_code),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
