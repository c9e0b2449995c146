/* Proves core/workload.c: admission (the effective isolation class and
 * where it came from, for every combination of subnet policy, allowed
 * classes and request), and the field rules of a deploy: name, image,
 * platform, env, cpu, memory and GPUs, with the messages a user reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/messages.h"
#include "core/workload.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- admission ---------------------------------------------------------- */

enum policy_kind { NO_POLICY, POLICY_NO_DEFAULT, DEFAULT_CONTAINER, DEFAULT_MICROVM };
enum allowed_kind { ALLOW_CONTAINER, ALLOW_MICROVM, ALLOW_BOTH };

enum expect_kind {
        ADMIT,          /* admitted with `class` and `source` */
        REQUIRED,       /* isolation.class is required ... */
        NOT_ALLOWED,    /* isolation.class "<class>" is not allowed ... */
        INVALID_POLICY, /* the subnet cannot have this policy: policy_build refuses it */
};

struct admission_case {
        enum policy_kind policy;
        enum allowed_kind allowed;
        enum isolation_class request;
        enum expect_kind expect;
        enum isolation_class cls; /* effective class, or the one named as not allowed */
        enum isolation_source source;
};

#define C ISOLATION_CONTAINER
#define M ISOLATION_MICROVM
#define N ISOLATION_NONE

/* Every combination: 4 policies x 3 allowed sets x 3 requests. Without a
 * policy the allowed set does not exist, so those rows agree. */
static const struct admission_case admission_cases[] = {
    {NO_POLICY, ALLOW_CONTAINER, N, ADMIT, C, SOURCE_NO_POLICY},
    {NO_POLICY, ALLOW_CONTAINER, C, ADMIT, C, SOURCE_EXPLICIT},
    {NO_POLICY, ALLOW_CONTAINER, M, ADMIT, M, SOURCE_EXPLICIT},
    {NO_POLICY, ALLOW_MICROVM, N, ADMIT, C, SOURCE_NO_POLICY},
    {NO_POLICY, ALLOW_MICROVM, C, ADMIT, C, SOURCE_EXPLICIT},
    {NO_POLICY, ALLOW_MICROVM, M, ADMIT, M, SOURCE_EXPLICIT},
    {NO_POLICY, ALLOW_BOTH, N, ADMIT, C, SOURCE_NO_POLICY},
    {NO_POLICY, ALLOW_BOTH, C, ADMIT, C, SOURCE_EXPLICIT},
    {NO_POLICY, ALLOW_BOTH, M, ADMIT, M, SOURCE_EXPLICIT},

    {POLICY_NO_DEFAULT, ALLOW_CONTAINER, N, REQUIRED, N, 0},
    {POLICY_NO_DEFAULT, ALLOW_CONTAINER, C, ADMIT, C, SOURCE_EXPLICIT},
    {POLICY_NO_DEFAULT, ALLOW_CONTAINER, M, NOT_ALLOWED, M, 0},
    {POLICY_NO_DEFAULT, ALLOW_MICROVM, N, REQUIRED, N, 0},
    {POLICY_NO_DEFAULT, ALLOW_MICROVM, C, NOT_ALLOWED, C, 0},
    {POLICY_NO_DEFAULT, ALLOW_MICROVM, M, ADMIT, M, SOURCE_EXPLICIT},
    {POLICY_NO_DEFAULT, ALLOW_BOTH, N, REQUIRED, N, 0},
    {POLICY_NO_DEFAULT, ALLOW_BOTH, C, ADMIT, C, SOURCE_EXPLICIT},
    {POLICY_NO_DEFAULT, ALLOW_BOTH, M, ADMIT, M, SOURCE_EXPLICIT},

    {DEFAULT_CONTAINER, ALLOW_CONTAINER, N, ADMIT, C, SOURCE_SUBNET_DEFAULT},
    {DEFAULT_CONTAINER, ALLOW_CONTAINER, C, ADMIT, C, SOURCE_EXPLICIT},
    {DEFAULT_CONTAINER, ALLOW_CONTAINER, M, NOT_ALLOWED, M, 0},
    {DEFAULT_CONTAINER, ALLOW_MICROVM, N, INVALID_POLICY, N, 0},
    {DEFAULT_CONTAINER, ALLOW_MICROVM, C, INVALID_POLICY, N, 0},
    {DEFAULT_CONTAINER, ALLOW_MICROVM, M, INVALID_POLICY, N, 0},
    {DEFAULT_CONTAINER, ALLOW_BOTH, N, ADMIT, C, SOURCE_SUBNET_DEFAULT},
    {DEFAULT_CONTAINER, ALLOW_BOTH, C, ADMIT, C, SOURCE_EXPLICIT},
    {DEFAULT_CONTAINER, ALLOW_BOTH, M, ADMIT, M, SOURCE_EXPLICIT},

    {DEFAULT_MICROVM, ALLOW_CONTAINER, N, INVALID_POLICY, N, 0},
    {DEFAULT_MICROVM, ALLOW_CONTAINER, C, INVALID_POLICY, N, 0},
    {DEFAULT_MICROVM, ALLOW_CONTAINER, M, INVALID_POLICY, N, 0},
    {DEFAULT_MICROVM, ALLOW_MICROVM, N, ADMIT, M, SOURCE_SUBNET_DEFAULT},
    {DEFAULT_MICROVM, ALLOW_MICROVM, C, NOT_ALLOWED, C, 0},
    {DEFAULT_MICROVM, ALLOW_MICROVM, M, ADMIT, M, SOURCE_EXPLICIT},
    {DEFAULT_MICROVM, ALLOW_BOTH, N, ADMIT, M, SOURCE_SUBNET_DEFAULT},
    {DEFAULT_MICROVM, ALLOW_BOTH, C, ADMIT, C, SOURCE_EXPLICIT},
    {DEFAULT_MICROVM, ALLOW_BOTH, M, ADMIT, M, SOURCE_EXPLICIT},
};

/* Builds the subnet's policy the way the server does, from names. */
static int case_policy(const struct admission_case *tc, struct runtime_policy *p,
                       struct idyl_err *err)
{
        static const char *const allowed[][2] = {
            [ALLOW_CONTAINER] = {"container", NULL},
            [ALLOW_MICROVM] = {"microvm", NULL},
            [ALLOW_BOTH] = {"container", "microvm"},
        };
        static const char *const dflt[] = {
            [NO_POLICY] = NULL,
            [POLICY_NO_DEFAULT] = NULL,
            [DEFAULT_CONTAINER] = "container",
            [DEFAULT_MICROVM] = "microvm",
        };
        struct runtime_policy_input in = {0};

        if (tc->policy != NO_POLICY) {
                in.classes = allowed[tc->allowed];
                in.nclasses = tc->allowed == ALLOW_BOTH ? 2 : 1;
        }
        in.default_class = dflt[tc->policy];
        return policy_build(&in, p, err);
}

static void test_admission_table(void **state)
{
        size_t counted[4] = {0};

        (void)state;
        assert_int_equal(NELEM(admission_cases), 4 * 3 * 3);
        for (size_t i = 0; i < NELEM(admission_cases); i++) {
                const struct admission_case *tc = &admission_cases[i];
                struct idyl_err err = IDYL_ERR_INIT;
                struct runtime_policy p;
                enum isolation_class eff = N;
                enum isolation_source src = SOURCE__COUNT;
                char want[256];
                int rc;

                print_message("case %zu: policy %d allowed %d request %s\n", i, tc->policy,
                              tc->allowed, tc->request ? isolation_class_name(tc->request) : "-");
                counted[tc->expect]++;
                rc = case_policy(tc, &p, &err);
                if (tc->expect == INVALID_POLICY) {
                        assert_int_equal(rc, -1);
                        assert_int_equal(err.code, IDYL_E_INVALID);
                        continue;
                }
                assert_int_equal(rc, 0);
                assert_int_equal(p.set, tc->policy != NO_POLICY);
                rc = admission_resolve(&p, tc->request, &eff, &src, &err);
                switch (tc->expect) {
                case ADMIT:
                        assert_int_equal(rc, 0);
                        assert_int_equal(eff, tc->cls);
                        assert_int_equal(src, tc->source);
                        assert_int_equal(admission_check_class(&p, eff, &err), 0);
                        break;
                case REQUIRED:
                        assert_int_equal(rc, -1);
                        assert_int_equal(err.code, IDYL_E_ISOLATION_CLASS_REQUIRED);
                        assert_string_equal(err.msg,
                                            "isolation.class is required by subnet runtimePolicy");
                        break;
                case NOT_ALLOWED:
                        assert_int_equal(rc, -1);
                        assert_int_equal(err.code, IDYL_E_ISOLATION_CLASS_NOT_ALLOWED);
                        snprintf(want, sizeof(want),
                                 "isolation.class \"%s\" is not allowed by subnet runtimePolicy",
                                 isolation_class_name(tc->cls));
                        assert_string_equal(err.msg, want);
                        break;
                case INVALID_POLICY:
                        break;
                }
        }
        /* the table exercises every outcome */
        for (size_t k = 0; k < 4; k++)
                assert_true(counted[k] > 0);
}

static void test_admission_exact_documented_text(void **state)
{
        static const char *const microvm[] = {"microvm"};
        struct runtime_policy_input in = {.classes = microvm, .nclasses = 1};
        struct idyl_err err = IDYL_ERR_INIT;
        struct runtime_policy p;
        enum isolation_class eff;
        enum isolation_source src;

        (void)state;
        assert_int_equal(policy_build(&in, &p, &err), 0);
        assert_int_equal(admission_resolve(&p, ISOLATION_CONTAINER, &eff, &src, &err), -1);
        assert_string_equal(err.msg,
                            "isolation.class \"container\" is not allowed by subnet runtimePolicy");
        assert_string_equal(idyl_errcode_name(err.code), "isolation_class_not_allowed");
        assert_int_equal(idyl_errcode_http_status(err.code), 422);
        assert_int_equal(admission_resolve(&p, ISOLATION_NONE, &eff, &src, &err), -1);
        assert_string_equal(err.msg, MSG_ISOLATION_CLASS_REQUIRED);
        assert_string_equal(idyl_errcode_name(err.code), "isolation_class_required");
        assert_int_equal(idyl_errcode_http_status(err.code), 422);
}

/* A recorded admission does not follow later policy changes: the caller
 * stores eff/src; re-checking against a new policy only says whether the
 * class would still be admitted (policy edit warnings). */
static void test_admission_check_class(void **state)
{
        struct runtime_policy none = {0};
        struct runtime_policy microvm_only = {.set = true,
                                              .allowed_classes = ISOLATION_BIT(ISOLATION_MICROVM)};
        struct idyl_err err = IDYL_ERR_INIT;

        (void)state;
        assert_int_equal(admission_check_class(&none, ISOLATION_CONTAINER, &err), 0);
        assert_int_equal(admission_check_class(&none, ISOLATION_MICROVM, &err), 0);
        assert_int_equal(admission_check_class(&microvm_only, ISOLATION_MICROVM, &err), 0);
        assert_int_equal(admission_check_class(&microvm_only, ISOLATION_CONTAINER, &err), -1);
        assert_int_equal(err.code, IDYL_E_ISOLATION_CLASS_NOT_ALLOWED);
        assert_string_equal(err.msg,
                            "isolation.class \"container\" is not allowed by subnet runtimePolicy");
}

static void test_phase_and_source_names(void **state)
{
        static const char *const phases[] = {"awaiting-approval", "pending", "scheduled",
                                             "running",           "exited",  "failed",
                                             "rejected",          "lost",    "stopped"};
        static const char *const sources[] = {"explicit", "subnet-default", "no-policy"};

        (void)state;
        assert_int_equal(NELEM(phases), PHASE__COUNT);
        for (int i = 0; i < PHASE__COUNT; i++) {
                assert_string_equal(workload_phase_name((enum workload_phase)i), phases[i]);
                assert_int_equal(workload_phase_from_name(phases[i]), i);
        }
        assert_int_equal(workload_phase_from_name("Pending"), -1);
        assert_int_equal(workload_phase_from_name(NULL), -1);
        assert_string_equal(workload_phase_name(PHASE__COUNT), "unknown");
        for (int i = 0; i < SOURCE__COUNT; i++) {
                assert_string_equal(isolation_source_name((enum isolation_source)i), sources[i]);
                assert_int_equal(isolation_source_from_name(sources[i]), i);
        }
        assert_int_equal(isolation_source_from_name("default"), -1);

        assert_true(workload_phase_unplaced(PHASE_AWAITING_APPROVAL));
        assert_true(workload_phase_unplaced(PHASE_PENDING));
        assert_true(workload_phase_unplaced(PHASE_LOST));
        assert_false(workload_phase_unplaced(PHASE_SCHEDULED));
        assert_false(workload_phase_unplaced(PHASE_RUNNING));
        assert_false(workload_phase_unplaced(PHASE_REJECTED));
        assert_false(workload_phase_unplaced(PHASE_STOPPED));
}

/* ---- field rules -------------------------------------------------------- */

typedef int (*check_fn)(const char *s, struct idyl_err *err);

static void assert_ok(check_fn fn, const char *s)
{
        struct idyl_err err = IDYL_ERR_INIT;

        print_message("accept \"%s\"\n", s ? s : "(null)");
        assert_int_equal(fn(s, &err), 0);
}

static void assert_refused(check_fn fn, const char *s, const char *msg)
{
        struct idyl_err err = IDYL_ERR_INIT;

        print_message("refuse \"%s\"\n", s ? s : "(null)");
        assert_int_equal(fn(s, &err), -1);
        assert_int_equal(err.code, IDYL_E_INVALID);
        assert_string_equal(err.msg, msg);
}

#define NAME_MSG(n)                                                                                \
        "invalid --name \"" n "\": must be a DNS-1123 label ([a-z0-9]([-a-z0-9]*[a-z0-9])?, at "   \
        "most 63 characters)"

static void test_name(void **state)
{
        char name63[64], name64[65];

        (void)state;
        assert_ok(workload_name_check, "web");
        assert_ok(workload_name_check, "a");
        assert_ok(workload_name_check, "0");
        assert_ok(workload_name_check, "web-1");
        assert_ok(workload_name_check, "a--b");
        assert_ok(workload_name_check, "1abc");
        memset(name63, 'a', 63);
        name63[63] = '\0';
        assert_ok(workload_name_check, name63);
        memset(name64, 'a', 64);
        name64[64] = '\0';
        assert_refused(
            workload_name_check, name64,
            NAME_MSG("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));

        assert_refused(workload_name_check, "", "--name is required");
        assert_refused(workload_name_check, NULL, "--name is required");
        assert_refused(workload_name_check, "Web", NAME_MSG("Web"));
        assert_refused(workload_name_check, "-web", NAME_MSG("-web"));
        assert_refused(workload_name_check, "web-", NAME_MSG("web-"));
        assert_refused(workload_name_check, "web_1", NAME_MSG("web_1"));
        assert_refused(workload_name_check, "web.app", NAME_MSG("web.app"));
        assert_refused(workload_name_check, "web app", NAME_MSG("web app"));
        assert_refused(workload_name_check, "-", NAME_MSG("-"));
}

#define IMAGE_MSG(i)                                                                               \
        "invalid image \"" i "\": want a reference such as nginx:1.27-alpine or "                  \
        "registry.example.com/app@sha256:..."

static void test_image(void **state)
{
        char long_image[WORKLOAD_IMAGE_MAX + 2];

        (void)state;
        assert_ok(workload_image_check, "nginx");
        assert_ok(workload_image_check, "nginx:1.27-alpine");
        assert_ok(workload_image_check, "docker.io/library/busybox:latest");
        assert_ok(workload_image_check, "registry.example.com:5000/team/app@sha256:0123abcdef");
        assert_ok(workload_image_check, "Quay.io/x_y/z");

        assert_refused(workload_image_check, "", "an image is required: idyl deploy IMAGE");
        assert_refused(workload_image_check, NULL, "an image is required: idyl deploy IMAGE");
        assert_refused(workload_image_check, "nginx latest", IMAGE_MSG("nginx latest"));
        assert_refused(workload_image_check, ":latest", IMAGE_MSG(":latest"));
        assert_refused(workload_image_check, "-nginx", IMAGE_MSG("-nginx"));
        assert_refused(workload_image_check, "/nginx", IMAGE_MSG("/nginx"));
        assert_refused(workload_image_check, "nginx;rm", IMAGE_MSG("nginx;rm"));
        memset(long_image, 'a', WORKLOAD_IMAGE_MAX + 1);
        long_image[WORKLOAD_IMAGE_MAX + 1] = '\0';
        assert_refused(
            workload_image_check, long_image,
            IMAGE_MSG("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                      "aaaaaaaaaa"));
        long_image[WORKLOAD_IMAGE_MAX] = '\0';
        assert_ok(workload_image_check, long_image);
}

#define PLATFORM_MSG(p)                                                                            \
        "invalid --platform \"" p "\": want os/arch such as linux/amd64 or linux/arm64/v8"

static void test_platform(void **state)
{
        (void)state;
        assert_ok(workload_platform_check, "linux/amd64");
        assert_ok(workload_platform_check, "linux/arm64");
        assert_ok(workload_platform_check, "linux/arm64/v8");
        assert_ok(workload_platform_check, "windows/amd64");
        assert_ok(workload_platform_check, "linux/x86_64");

        assert_refused(workload_platform_check, "", PLATFORM_MSG(""));
        assert_refused(workload_platform_check, NULL, PLATFORM_MSG(""));
        assert_refused(workload_platform_check, "linux", PLATFORM_MSG("linux"));
        assert_refused(workload_platform_check, "linux/", PLATFORM_MSG("linux/"));
        assert_refused(workload_platform_check, "/amd64", PLATFORM_MSG("/amd64"));
        assert_refused(workload_platform_check, "linux//amd64", PLATFORM_MSG("linux//amd64"));
        assert_refused(workload_platform_check, "Linux/AMD64", PLATFORM_MSG("Linux/AMD64"));
        assert_refused(workload_platform_check, "linux/arm64/v8/x",
                       PLATFORM_MSG("linux/arm64/v8/x"));
        assert_refused(workload_platform_check, "linux/amd 64", PLATFORM_MSG("linux/amd 64"));
}

#define ENV_MSG(k) "invalid --env name \"" k "\": want K=V with K matching [A-Za-z_][A-Za-z0-9_]*"

static void test_env_name(void **state)
{
        (void)state;
        assert_ok(workload_env_name_check, "FOO");
        assert_ok(workload_env_name_check, "_x");
        assert_ok(workload_env_name_check, "Path_2");
        assert_ok(workload_env_name_check, "a");

        assert_refused(workload_env_name_check, "", ENV_MSG(""));
        assert_refused(workload_env_name_check, "1A", ENV_MSG("1A"));
        assert_refused(workload_env_name_check, "A-B", ENV_MSG("A-B"));
        assert_refused(workload_env_name_check, "A=B", ENV_MSG("A=B"));
        assert_refused(workload_env_name_check, "A B", ENV_MSG("A B"));
}

/* ---- resources ---------------------------------------------------------- */

#define CPU_MSG(s)                                                                                 \
        "invalid --cpu \"" s "\": want cores > 0 such as 0.5 or 2, or millicores such as 500m"

static void cpu_is(const char *s, int64_t want)
{
        struct idyl_err err = IDYL_ERR_INIT;
        int64_t milli = -1;

        print_message("cpu \"%s\"\n", s);
        assert_int_equal(resource_cpu_parse(s, &milli, &err), 0);
        assert_int_equal(milli, want);
}

static void cpu_refused(const char *s, const char *msg)
{
        struct idyl_err err = IDYL_ERR_INIT;
        int64_t milli = -1;

        print_message("cpu \"%s\"\n", s);
        assert_int_equal(resource_cpu_parse(s, &milli, &err), -1);
        assert_int_equal(err.code, IDYL_E_INVALID);
        assert_string_equal(err.msg, msg);
}

static void test_cpu(void **state)
{
        (void)state;
        cpu_is("0.5", 500);
        cpu_is("2", 2000);
        cpu_is("1.25", 1250);
        cpu_is("500m", 500);
        cpu_is("1m", 1);
        cpu_is("2500m", 2500);
        cpu_is("0.001", 1);
        cpu_is("1024", 1024000);

        cpu_refused("0", CPU_MSG("0"));
        cpu_refused("0m", CPU_MSG("0m"));
        cpu_refused("-1", CPU_MSG("-1"));
        cpu_refused("abc", CPU_MSG("abc"));
        cpu_refused("", CPU_MSG(""));
        cpu_refused("m", CPU_MSG("m"));
        cpu_refused("1.5x", CPU_MSG("1.5x"));
        cpu_refused("500mi", CPU_MSG("500mi"));
        cpu_refused(" 1", CPU_MSG(" 1"));
        cpu_refused("1025", CPU_MSG("1025"));
        cpu_refused("inf", CPU_MSG("inf"));
        cpu_refused("nan", CPU_MSG("nan"));
        cpu_refused("1e999", CPU_MSG("1e999"));
        cpu_refused("0x10", CPU_MSG("0x10"));
        cpu_refused("1e3", CPU_MSG("1e3"));
        cpu_refused("+1", CPU_MSG("+1"));
        cpu_refused("1.", CPU_MSG("1."));
        cpu_refused("0.0", CPU_MSG("0.0"));
        cpu_refused("0.0001",
                    "invalid --cpu \"0.0001\": at most 3 decimals (1m is the smallest unit)");
        cpu_refused("1024.0006",
                    "invalid --cpu \"1024.0006\": at most 3 decimals (1m is the smallest unit)");
        cpu_is(".5", 500);
        cpu_is("1024.000", 1024000);
}

#define MEMORY_MSG(s) "invalid --memory \"" s "\": want a size > 0 such as 256Mi, 1Gi or 512M"

static void memory_is(const char *s, int64_t want)
{
        struct idyl_err err = IDYL_ERR_INIT;
        int64_t bytes = -1;

        print_message("memory \"%s\"\n", s);
        assert_int_equal(resource_memory_parse(s, &bytes, &err), 0);
        assert_int_equal(bytes, want);
}

static void memory_refused(const char *s, const char *msg)
{
        struct idyl_err err = IDYL_ERR_INIT;
        int64_t bytes = -1;

        print_message("memory \"%s\"\n", s);
        assert_int_equal(resource_memory_parse(s, &bytes, &err), -1);
        assert_int_equal(err.code, IDYL_E_INVALID);
        assert_string_equal(err.msg, msg);
}

static void test_memory(void **state)
{
        (void)state;
        memory_is("256Mi", 256LL << 20);
        memory_is("1Gi", 1LL << 30);
        memory_is("2Ti", 2LL << 40);
        memory_is("64Ki", 64LL << 10);
        memory_is("512M", 512000000LL);
        memory_is("1G", 1000000000LL);
        memory_is("3K", 3000LL);
        memory_is("1T", 1000000000000LL);
        memory_is("1048576", 1048576LL);

        memory_refused("0", MEMORY_MSG("0"));
        memory_refused("0Mi", MEMORY_MSG("0Mi"));
        memory_refused("-1Mi", MEMORY_MSG("-1Mi"));
        memory_refused("1.5Gi", MEMORY_MSG("1.5Gi"));
        memory_refused("256mi", MEMORY_MSG("256mi"));
        memory_refused("256MB", MEMORY_MSG("256MB"));
        memory_refused("256 Mi", MEMORY_MSG("256 Mi"));
        memory_refused(" 256Mi", MEMORY_MSG(" 256Mi"));
        memory_refused("Mi", MEMORY_MSG("Mi"));
        memory_refused("", MEMORY_MSG(""));
        memory_refused("9999999999Ti", "invalid --memory \"9999999999Ti\": at most 1Pi");
        memory_refused("9223372036854775807",
                       "invalid --memory \"9223372036854775807\": at most 1Pi");
        memory_is("1024Ti", 1LL << 50);
        memory_refused("99999999999999999999", MEMORY_MSG("99999999999999999999"));
}

#define GPUS_MSG(s) "invalid --gpus \"" s "\": want a whole number from 0 to 64"

static void test_gpus(void **state)
{
        static const char *const bad[] = {"-1", "65", "1.5", "a", "", " 1", "+1", "1 ", "0x2"};
        struct idyl_err err = IDYL_ERR_INIT;
        char want[128];
        int g = -1;

        (void)state;
        assert_int_equal(resource_gpus_parse("0", &g, &err), 0);
        assert_int_equal(g, 0);
        assert_int_equal(resource_gpus_parse("1", &g, &err), 0);
        assert_int_equal(g, 1);
        assert_int_equal(resource_gpus_parse("64", &g, &err), 0);
        assert_int_equal(g, 64);
        for (size_t i = 0; i < NELEM(bad); i++) {
                g = -1;
                print_message("gpus \"%s\"\n", bad[i]);
                assert_int_equal(resource_gpus_parse(bad[i], &g, &err), -1);
                assert_int_equal(err.code, IDYL_E_INVALID);
                snprintf(want, sizeof(want), GPUS_MSG("%s"), bad[i]);
                assert_string_equal(err.msg, want);
                assert_int_equal(g, -1);
        }
}

static void test_pids_limit_and_stop_timeout(void **state)
{
        static const char *const bad_pids[] = {"0", "-1", "1.5", "many", "", "4194305", "1k"};
        static const char *const bad_stop[] = {"0s",   "-1s", "301s", "6m",  "1h",
                                               "10ms", "s",   "",     "1.5s"};
        static const struct {
                const char *in;
                int64_t seconds;
        } good_stop[] = {{"10s", 10}, {"1", 1}, {"2m", 120}, {"300s", 300}, {"5m", 300}};
        struct idyl_err err = IDYL_ERR_INIT;
        char want[256];
        int64_t v;

        (void)state;
        assert_int_equal(workload_pids_limit_parse("1", &v, &err), 0);
        assert_int_equal(v, 1);
        assert_int_equal(workload_pids_limit_parse("4194304", &v, &err), 0);
        assert_int_equal(v, WORKLOAD_PIDS_LIMIT_MAX);
        for (size_t i = 0; i < NELEM(bad_pids); i++) {
                v = -7;
                assert_int_equal(workload_pids_limit_parse(bad_pids[i], &v, &err), -1);
                snprintf(want, sizeof(want),
                         "invalid --pids-limit \"%s\": want a whole number from 1 to 4194304",
                         bad_pids[i]);
                assert_string_equal(err.msg, want);
                assert_int_equal(v, -7);
        }
        assert_int_equal(workload_pids_limit_check(0, &err), -1);
        assert_int_equal(workload_pids_limit_check(64, &err), 0);
        for (size_t i = 0; i < NELEM(good_stop); i++) {
                assert_int_equal(workload_stop_timeout_parse(good_stop[i].in, &v, &err), 0);
                assert_int_equal(v, good_stop[i].seconds);
        }
        for (size_t i = 0; i < NELEM(bad_stop); i++) {
                print_message("stop timeout \"%s\"\n", bad_stop[i]);
                assert_int_equal(workload_stop_timeout_parse(bad_stop[i], &v, &err), -1);
                snprintf(want, sizeof(want),
                         "invalid --stop-timeout \"%s\": want a duration from 1s to 5m such as "
                         "10s",
                         bad_stop[i]);
                assert_string_equal(err.msg, want);
        }
}

static void test_memory_format(void **state)
{
        static const struct {
                int64_t bytes;
                const char *text;
        } cases[] = {
            {256LL << 20, "256Mi"},
            {1LL << 30, "1Gi"},
            {1536LL << 20, "1536Mi"},
            {3LL << 40, "3Ti"},
            {1024, "1Ki"},
            {1000, "1000"},
            {512000000LL, "500000Ki"},
            {1, "1"},
            {0, "0"},
            {(1LL << 30) + 1, "1073741825"},
        };
        char buf[32];

        (void)state;
        for (size_t i = 0; i < NELEM(cases); i++) {
                resource_memory_format(cases[i].bytes, buf, sizeof(buf));
                assert_string_equal(buf, cases[i].text);
        }
        /* format and parse agree */
        for (size_t i = 0; i < NELEM(cases); i++) {
                struct idyl_err err = IDYL_ERR_INIT;
                int64_t back;

                if (cases[i].bytes == 0)
                        continue;
                resource_memory_format(cases[i].bytes, buf, sizeof(buf));
                assert_int_equal(resource_memory_parse(buf, &back, &err), 0);
                assert_int_equal(back, cases[i].bytes);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_admission_table),
            cmocka_unit_test(test_admission_exact_documented_text),
            cmocka_unit_test(test_admission_check_class),
            cmocka_unit_test(test_phase_and_source_names),
            cmocka_unit_test(test_name),
            cmocka_unit_test(test_image),
            cmocka_unit_test(test_platform),
            cmocka_unit_test(test_env_name),
            cmocka_unit_test(test_cpu),
            cmocka_unit_test(test_memory),
            cmocka_unit_test(test_gpus),
            cmocka_unit_test(test_pids_limit_and_stop_timeout),
            cmocka_unit_test(test_memory_format),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
