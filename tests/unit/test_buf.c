/* Proves util/buf.c: the bounded buffer every network read fills. Appends
 * past the maximum fail and leave the buffer as it was; the content stays
 * NUL-terminated; detach hands the memory over and resets the buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

static void test_empty(void **state)
{
        struct idyl_buf b = IDYL_BUF_INIT(16);

        (void)state;
        assert_null(b.data);
        assert_int_equal(b.len, 0);
        assert_int_equal(b.max, 16);
        /* an empty append still yields a terminated string */
        assert_int_equal(idyl_buf_append(&b, "", 0), 0);
        assert_non_null(b.data);
        assert_string_equal(b.data, "");
        idyl_buf_release(&b);
        assert_null(b.data);
}

static void test_append_and_terminate(void **state)
{
        struct idyl_buf b = IDYL_BUF_INIT(1024);

        (void)state;
        assert_int_equal(idyl_buf_append(&b, "hello", 5), 0);
        assert_int_equal(idyl_buf_append(&b, ", world!!", 7), 0);
        assert_int_equal(b.len, 12);
        assert_string_equal(b.data, "hello, world");
        assert_true(b.cap > b.len);
        idyl_buf_release(&b);
        assert_null(b.data);
        assert_int_equal(b.len, 0);
        assert_int_equal(b.cap, 0);
        assert_int_equal(b.max, 1024); /* reusable with the same limit */
        assert_int_equal(idyl_buf_append(&b, "again", 5), 0);
        assert_string_equal(b.data, "again");
        idyl_buf_release(&b);
}

static void test_exact_max_then_refuse(void **state)
{
        struct idyl_buf b = IDYL_BUF_INIT(10);

        (void)state;
        assert_int_equal(idyl_buf_append(&b, "0123456", 7), 0);
        assert_int_equal(idyl_buf_append(&b, "789", 3), 0); /* len == max is allowed */
        assert_int_equal(b.len, 10);
        assert_int_equal(idyl_buf_append(&b, "x", 1), -2);
        /* the failed append left the buffer as it was */
        assert_int_equal(b.len, 10);
        assert_string_equal(b.data, "0123456789");
        assert_int_equal(idyl_buf_append(&b, "", 0), 0);
        idyl_buf_release(&b);
}

static void test_refuse_partial_overflow(void **state)
{
        struct idyl_buf b = IDYL_BUF_INIT(8);

        (void)state;
        assert_int_equal(idyl_buf_append(&b, "abcde", 5), 0);
        /* 5 + 4 > 8: nothing of it is written */
        assert_int_equal(idyl_buf_append(&b, "fghi", 4), -2);
        assert_int_equal(b.len, 5);
        assert_string_equal(b.data, "abcde");
        /* one chunk larger than max, on an empty buffer */
        struct idyl_buf e = IDYL_BUF_INIT(8);
        assert_int_equal(idyl_buf_append(&e, "123456789", 9), -2);
        assert_null(e.data);
        assert_int_equal(e.len, 0);
        /* a length that would overflow size_t arithmetic */
        assert_int_equal(idyl_buf_append(&b, "x", SIZE_MAX), -2);
        assert_int_equal(b.len, 5);
        idyl_buf_release(&b);
}

static void test_grows_past_initial_capacity(void **state)
{
        struct idyl_buf b = IDYL_BUF_INIT(3 * 1024 * 1024);
        char chunk[1000];

        (void)state;
        for (size_t i = 0; i < sizeof(chunk); i++)
                chunk[i] = (char)('a' + i % 26);
        for (int i = 0; i < 3000; i++)
                assert_int_equal(idyl_buf_append(&b, chunk, sizeof(chunk)), 0);
        assert_int_equal(b.len, 3000000);
        assert_int_equal(b.data[b.len], '\0');
        assert_int_equal(b.data[999], chunk[999]);
        assert_int_equal(b.data[2999999], chunk[999]);
        assert_memory_equal(b.data + 1000 * 1234, chunk, sizeof(chunk));
        idyl_buf_release(&b);
}

static void test_binary_content(void **state)
{
        static const char bin[] = {'a', '\0', 'b', '\0'};
        struct idyl_buf b = IDYL_BUF_INIT(64);

        (void)state;
        assert_int_equal(idyl_buf_append(&b, bin, sizeof(bin)), 0);
        assert_int_equal(b.len, 4);
        assert_memory_equal(b.data, bin, sizeof(bin));
        assert_int_equal(b.data[4], '\0');
        idyl_buf_release(&b);
}

static void test_detach(void **state)
{
        struct idyl_buf b = IDYL_BUF_INIT(64);
        char *p;

        (void)state;
        assert_null(idyl_buf_detach(&b));
        assert_int_equal(idyl_buf_append(&b, "{\"a\":1}", 7), 0);
        p = idyl_buf_detach(&b);
        assert_string_equal(p, "{\"a\":1}");
        assert_null(b.data);
        assert_int_equal(b.len, 0);
        assert_int_equal(b.cap, 0);
        /* the buffer is reusable and no longer shares memory with p */
        assert_int_equal(idyl_buf_append(&b, "next", 4), 0);
        assert_ptr_not_equal(b.data, p);
        assert_string_equal(p, "{\"a\":1}");
        free(p);
        idyl_buf_release(&b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_empty),
            cmocka_unit_test(test_append_and_terminate),
            cmocka_unit_test(test_exact_max_then_refuse),
            cmocka_unit_test(test_refuse_partial_overflow),
            cmocka_unit_test(test_grows_past_initial_capacity),
            cmocka_unit_test(test_binary_content),
            cmocka_unit_test(test_detach),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
