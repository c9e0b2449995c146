/* Proves core/subnet.c: the 12-digit slug (format and parse, a malformed
 * slug reported as an unknown one) and the region rule [a-z0-9-]+. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/subnet.h"

static void test_slug_format(void **state)
{
        char buf[SUBNET_SLUG_BUFLEN];

        (void)state;
        assert_string_equal(subnet_slug_format(SUBNET_SLUG_FIRST, buf), "100000000001");
        assert_ptr_equal(subnet_slug_format(SUBNET_SLUG_FIRST, buf), buf);
        assert_string_equal(subnet_slug_format(999999999999ULL, buf), "999999999999");
        /* always 12 digits, zero-padded */
        assert_string_equal(subnet_slug_format(42, buf), "000000000042");
        assert_int_equal(strlen(subnet_slug_format(0, buf)), SUBNET_SLUG_LEN);
}

static void test_slug_parse_valid(void **state)
{
        struct idyl_err err = IDYL_ERR_INIT;
        char buf[SUBNET_SLUG_BUFLEN];
        uint64_t v = 0;

        (void)state;
        assert_int_equal(subnet_slug_parse("100000000001", &v, &err), 0);
        assert_true(v == SUBNET_SLUG_FIRST);
        assert_int_equal(subnet_slug_parse("100000000123", &v, &err), 0);
        assert_true(v == 100000000123ULL);
        assert_string_equal(subnet_slug_format(v, buf), "100000000123");
        assert_int_equal(subnet_slug_parse("999999999999", &v, &err), 0);
        assert_true(v == 999999999999ULL);
}

static void assert_slug_not_found(const char *s, const char *msg)
{
        struct idyl_err err = IDYL_ERR_INIT;
        uint64_t v = 77;

        assert_int_equal(subnet_slug_parse(s, &v, &err), -1);
        assert_int_equal(err.code, IDYL_E_NOT_FOUND);
        assert_string_equal(err.msg, msg);
        assert_true(v == 77);
}

static void test_slug_parse_malformed(void **state)
{
        (void)state;
        assert_slug_not_found("10000000001", "subnet \"10000000001\" not found");
        assert_slug_not_found("1000000000011", "subnet \"1000000000011\" not found");
        assert_slug_not_found("10000000000a", "subnet \"10000000000a\" not found");
        assert_slug_not_found("-10000000001", "subnet \"-10000000001\" not found");
        assert_slug_not_found(" 10000000001", "subnet \" 10000000001\" not found");
        assert_slug_not_found("prod", "subnet \"prod\" not found");
        assert_slug_not_found("", "subnet \"\" not found");
        assert_slug_not_found(NULL, "subnet \"\" not found");
}

static void test_slug_parse_long_input_is_bounded(void **state)
{
        struct idyl_err err = IDYL_ERR_INIT;
        char big[400];
        uint64_t v;

        (void)state;
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(subnet_slug_parse(big, &v, &err), -1);
        assert_int_equal(err.code, IDYL_E_NOT_FOUND);
        assert_true(strlen(err.msg) < 120);
}

static void test_region_valid(void **state)
{
        static const char *const ok[] = {
            "us-east", "eu-west-1", "a", "0", "-", "abcdefghijklmnopqrstuvwxyz0123456789-"};
        struct idyl_err err = IDYL_ERR_INIT;
        char max[SUBNET_REGION_MAX + 1];

        (void)state;
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
                assert_int_equal(subnet_region_check(ok[i], &err), 0);
        memset(max, 'r', SUBNET_REGION_MAX);
        max[SUBNET_REGION_MAX] = '\0';
        assert_int_equal(subnet_region_check(max, &err), 0);
}

static void assert_region_invalid(const char *region)
{
        struct idyl_err err = IDYL_ERR_INIT;
        char want[256];

        assert_int_equal(subnet_region_check(region, &err), -1);
        assert_int_equal(err.code, IDYL_E_INVALID);
        snprintf(want, sizeof(want),
                 "invalid --region \"%.80s\": must match [a-z0-9-]+, at most 63 characters",
                 region);
        assert_string_equal(err.msg, want);
}

static void test_region_invalid(void **state)
{
        struct idyl_err err = IDYL_ERR_INIT;
        char long_region[SUBNET_REGION_MAX + 2];

        (void)state;
        assert_region_invalid("US-East");
        assert_region_invalid("us_east");
        assert_region_invalid("us east");
        assert_region_invalid("us.east");
        assert_region_invalid("us-east\n");
        assert_region_invalid("région");
        memset(long_region, 'r', SUBNET_REGION_MAX + 1);
        long_region[SUBNET_REGION_MAX + 1] = '\0';
        assert_region_invalid(long_region);

        assert_int_equal(subnet_region_check("", &err), -1);
        assert_int_equal(err.code, IDYL_E_INVALID);
        assert_string_equal(err.msg, "--region is required");
        idyl_err_clear(&err);
        assert_int_equal(subnet_region_check(NULL, &err), -1);
        assert_string_equal(err.msg, "--region is required");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_slug_format),
            cmocka_unit_test(test_slug_parse_valid),
            cmocka_unit_test(test_slug_parse_malformed),
            cmocka_unit_test(test_slug_parse_long_input_is_bounded),
            cmocka_unit_test(test_region_valid),
            cmocka_unit_test(test_region_invalid),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
