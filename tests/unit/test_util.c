/* Proves the shared helpers of src/util/: the growable array (growth,
 * overflow leaves it as it was), RFC 3339 formatting, the atomic file write
 * (mode, content, no temporary left behind, errors name the file) and the
 * enum-name tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/addrlist.h"
#include "util/array.h"
#include "util/enumname.h"
#include "util/fileio.h"
#include "util/timefmt.h"

static void test_array_grows_and_keeps_items(void **state)
{
        int *items = NULL;
        size_t n = 0, cap = 0;

        (void)state;
        for (int i = 0; i < 1000; i++) {
                assert_int_equal(ARRAY_GROW(items, n, cap), 0);
                assert_true(cap > n);
                items[n++] = i;
        }
        for (int i = 0; i < 1000; i++)
                assert_int_equal(items[i], i);
        assert_int_equal(cap, 1024);
        free(items);
}

static void test_array_reserve_within_capacity_is_a_no_op(void **state)
{
        char *items = malloc(8);
        char *before = items;
        size_t cap = 8;

        (void)state;
        assert_int_equal(array_reserve(&items, &cap, 8, 1), 0);
        assert_ptr_equal(items, before);
        assert_int_equal(cap, 8);
        free(items);
}

static void test_array_overflow_leaves_it_as_it_was(void **state)
{
        uint64_t *items = NULL;
        size_t cap = 0;

        (void)state;
        errno = 0;
        assert_int_equal(array_reserve(&items, &cap, SIZE_MAX / 4, sizeof(*items)), -1);
        assert_int_equal(errno, ENOMEM);
        assert_null(items);
        assert_int_equal(cap, 0);
}

/* Each formatter with a value, a buffer size and the exact text it writes. */
static const struct rfc3339_case {
        void (*format)(int64_t value, char *buf, size_t size);
        int64_t value;
        size_t size;
        const char *want;
} rfc3339_cases[] = {
    {rfc3339_format, 0, RFC3339_BUFLEN, "1970-01-01T00:00:00Z"},
    {rfc3339_format, 1795356000, RFC3339_BUFLEN, "2026-11-22T14:00:00Z"},
    {rfc3339_format_ms, 1795356000999, RFC3339_BUFLEN, "2026-11-22T14:00:00Z"},
    {rfc3339_format_millis, 1795356000007, RFC3339_BUFLEN, "2026-11-22T14:00:00.007Z"},
    /* too small a buffer yields an empty string, never a cut timestamp */
    {rfc3339_format_millis, 1795356000007, 21, ""},
    {rfc3339_format, 0, 5, ""},
};

static void test_rfc3339(void **state)
{
        char buf[RFC3339_BUFLEN];

        (void)state;
        for (size_t i = 0; i < sizeof(rfc3339_cases) / sizeof(rfc3339_cases[0]); i++) {
                const struct rfc3339_case *c = &rfc3339_cases[i];

                memset(buf, 'x', sizeof(buf));
                c->format(c->value, buf, c->size);
                assert_string_equal(buf, c->want);
        }
}

static void test_file_write_atomic(void **state)
{
        char dir[] = "/tmp/idyl-test-util-XXXXXX", path[128], tmp[140], got[32] = "";
        struct idyl_err err = IDYL_ERR_INIT;
        struct stat st;
        FILE *f;

        (void)state;
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/state.json", dir);
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        assert_int_equal(file_write_atomic(path, "first", 5, 0600, &err), 0);
        assert_int_equal(file_write_atomic(path, "second\n", 7, 0600, &err), 0);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(st.st_size, 7);
        assert_int_equal(access(tmp, F_OK), -1);
        f = fopen(path, "r");
        assert_non_null(f);
        assert_non_null(fgets(got, sizeof(got), f));
        fclose(f);
        assert_string_equal(got, "second\n");
        unlink(path);
        rmdir(dir);

        /* a directory that does not exist: the error names the file */
        assert_int_equal(file_write_atomic("/nonexistent-idyl/x", "a", 1, 0600, &err), -1);
        assert_non_null(strstr(err.msg, "\"/nonexistent-idyl/x.tmp\""));
}

enum colour { COLOUR_NONE, COLOUR_RED, COLOUR_BLUE, COLOUR__COUNT };
static const char *const colour_names[COLOUR__COUNT] = {
    [COLOUR_RED] = "red",
    [COLOUR_BLUE] = "blue",
};

static void test_enum_names(void **state)
{
        static const struct {
                int value;
                const char *fallback, *want;
        } names[] = {
            {COLOUR_BLUE, "?", "blue"}, {COLOUR_NONE, "?", "?"}, {-1, "?", "?"},
            {COLOUR__COUNT, "?", "?"},  {7, NULL, NULL},
        };
        static const struct {
                const char *name;
                int want;
        } lookups[] = {{"red", COLOUR_RED}, {"Red", -1}, {"", -1}, {NULL, -1}};

        (void)state;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                const char *got =
                    enum_name(colour_names, COLOUR__COUNT, names[i].value, names[i].fallback);

                if (names[i].want)
                        assert_string_equal(got, names[i].want);
                else
                        assert_null(got);
        }
        for (size_t i = 0; i < sizeof(lookups) / sizeof(lookups[0]); i++)
                assert_int_equal(enum_lookup(colour_names, COLOUR__COUNT, lookups[i].name),
                                 lookups[i].want);
}

/* IDYL_ADDR with several replicas: each address in turn, trimmed, cut to
 * the buffer, the index wrapping around. */
static void test_addrlist(void **state)
{
        static const struct {
                const char *list;
                size_t i;
                const char *want;
        } nth[] = {
            {"http://a:1", 0, "http://a:1"},
            {"http://a:1, http://b:2 ,http://c:3", 1, "http://b:2"},
            {"http://a:1, http://b:2 ,http://c:3", 5, "http://c:3"},
            {"http://a:1, http://b:2 ,http://c:3", 3, "http://a:1"},
            {"a,,b", 1, ""},
        };
        char buf[32], small[8];

        (void)state;
        assert_int_equal(addrlist_count("http://a:1"), 1);
        assert_int_equal(addrlist_count("http://a:1, http://b:2 ,http://c:3"), 3);
        for (size_t i = 0; i < sizeof(nth) / sizeof(nth[0]); i++) {
                addrlist_nth(nth[i].list, nth[i].i, buf, sizeof(buf));
                assert_string_equal(buf, nth[i].want);
        }
        addrlist_nth("http://long-name:1", 0, small, sizeof(small));
        assert_string_equal(small, "http://");
        assert_true(addrlist_try_next(7));   /* CURLE_COULDNT_CONNECT */
        assert_false(addrlist_try_next(52)); /* CURLE_GOT_NOTHING: it may have run */
        assert_false(addrlist_try_next(28)); /* CURLE_OPERATION_TIMEDOUT */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_array_grows_and_keeps_items),
            cmocka_unit_test(test_array_reserve_within_capacity_is_a_no_op),
            cmocka_unit_test(test_array_overflow_leaves_it_as_it_was),
            cmocka_unit_test(test_rfc3339),
            cmocka_unit_test(test_file_write_atomic),
            cmocka_unit_test(test_enum_names),
            cmocka_unit_test(test_addrlist),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
