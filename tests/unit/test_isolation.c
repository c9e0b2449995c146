/* Proves core/isolation.c: class and backend names, the validation of a
 * subnet runtime policy (SPEC 2 "Subnet") with the exact messages a user
 * reads, and the one-line policy summary of `subnet list`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cli/cli.h"
#include "core/isolation.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Builds a policy from lists given as NULL-terminated arrays. */
static int build(const char *const *classes, const char *dflt, const char *const *backends,
                 struct runtime_policy *out, struct idyl_err *err)
{
        struct runtime_policy_input in = {0};

        in.classes = classes;
        while (classes && classes[in.nclasses])
                in.nclasses++;
        in.default_class = dflt;
        in.backends = backends;
        while (backends && backends[in.nbackends])
                in.nbackends++;
        return policy_build(&in, out, err);
}

/* Asserts that building fails with IDYL_E_INVALID and exactly `msg`, and
 * that the output policy was left untouched. */
static void assert_rejected(const char *const *classes, const char *dflt,
                            const char *const *backends, const char *msg)
{
        struct idyl_err err = IDYL_ERR_INIT;
        struct runtime_policy p, sentinel;

        memset(&p, 0x5a, sizeof(p));
        memcpy(&sentinel, &p, sizeof(p));
        assert_int_equal(build(classes, dflt, backends, &p, &err), -1);
        assert_int_equal(err.code, IDYL_E_INVALID);
        assert_string_equal(err.msg, msg);
        assert_memory_equal(&p, &sentinel, sizeof(p));
}

static void summary_of(const char *const *classes, const char *dflt, const char *const *backends,
                       const char *want)
{
        struct idyl_err err = IDYL_ERR_INIT;
        struct runtime_policy p;
        char buf[128];

        assert_int_equal(build(classes, dflt, backends, &p, &err), 0);
        policy_summary(&p, buf, sizeof(buf));
        assert_string_equal(buf, want);
}

static void test_names_round_trip(void **state)
{
        (void)state;
        assert_string_equal(isolation_class_name(ISOLATION_CONTAINER), "container");
        assert_string_equal(isolation_class_name(ISOLATION_MICROVM), "microvm");
        assert_null(isolation_class_name(ISOLATION_NONE));
        assert_null(isolation_class_name(ISOLATION__COUNT));
        assert_int_equal(isolation_class_from_name("container"), ISOLATION_CONTAINER);
        assert_int_equal(isolation_class_from_name("microvm"), ISOLATION_MICROVM);
        assert_int_equal(isolation_class_from_name("MicroVM"), ISOLATION_NONE);
        assert_int_equal(isolation_class_from_name(""), ISOLATION_NONE);
        assert_int_equal(isolation_class_from_name(NULL), ISOLATION_NONE);

        assert_string_equal(vmm_backend_name(VMM_QEMU), "qemu");
        assert_string_equal(vmm_backend_name(VMM_FIRECRACKER), "firecracker");
        assert_null(vmm_backend_name(VMM_NONE));
        assert_null(vmm_backend_name(VMM__COUNT));
        assert_int_equal(vmm_backend_from_name("qemu"), VMM_QEMU);
        assert_int_equal(vmm_backend_from_name("firecracker"), VMM_FIRECRACKER);
        assert_int_equal(vmm_backend_from_name("fc"), VMM_NONE);
        assert_int_equal(vmm_backend_from_name(NULL), VMM_NONE);
}

static void test_set_join(void **state)
{
        char buf[64];

        (void)state;
        isolation_class_set_join(ISOLATION_BIT(ISOLATION_MICROVM) |
                                     ISOLATION_BIT(ISOLATION_CONTAINER),
                                 ",", buf, sizeof(buf));
        assert_string_equal(buf, "container,microvm");
        isolation_class_set_join(ISOLATION_BIT(ISOLATION_MICROVM), ", ", buf, sizeof(buf));
        assert_string_equal(buf, "microvm");
        isolation_class_set_join(0, ",", buf, sizeof(buf));
        assert_string_equal(buf, "");
        vmm_backend_set_join(VMM_BIT(VMM_FIRECRACKER) | VMM_BIT(VMM_QEMU), ", ", buf, sizeof(buf));
        assert_string_equal(buf, "qemu, firecracker");
        /* A short buffer stays terminated, within its size. */
        memset(buf, 'x', sizeof(buf));
        vmm_backend_set_join(VMM_BIT(VMM_FIRECRACKER) | VMM_BIT(VMM_QEMU), ",", buf, 8);
        assert_true(strlen(buf) < 8);
        assert_int_equal(strncmp(buf, "qemu,firecracker", strlen(buf)), 0);
        assert_int_equal(buf[8], 'x');
}

static void test_no_fields_means_no_policy(void **state)
{
        struct idyl_err err = IDYL_ERR_INIT;
        struct runtime_policy p;

        (void)state;
        memset(&p, 0x5a, sizeof(p));
        assert_int_equal(build(NULL, NULL, NULL, &p, &err), 0);
        assert_false(p.set);
        assert_int_equal(p.allowed_classes, 0);
        assert_int_equal(p.default_class, ISOLATION_NONE);
        assert_int_equal(p.allowed_backends, 0);
}

static void test_valid_policies(void **state)
{
        static const char *const microvm[] = {"microvm", NULL};
        static const char *const both[] = {"microvm", "container", NULL};
        static const char *const fc[] = {"firecracker", NULL};
        static const char *const qemu_fc[] = {"firecracker", "qemu", NULL};
        struct idyl_err err = IDYL_ERR_INIT;
        struct runtime_policy p;

        (void)state;
        assert_int_equal(build(microvm, "microvm", fc, &p, &err), 0);
        assert_true(p.set);
        assert_int_equal(p.allowed_classes, ISOLATION_BIT(ISOLATION_MICROVM));
        assert_int_equal(p.default_class, ISOLATION_MICROVM);
        assert_int_equal(p.allowed_backends, VMM_BIT(VMM_FIRECRACKER));

        /* strict microvm: no default */
        assert_int_equal(build(microvm, NULL, NULL, &p, &err), 0);
        assert_true(p.set);
        assert_int_equal(p.default_class, ISOLATION_NONE);
        assert_int_equal(p.allowed_backends, 0);

        /* order of the input does not matter */
        assert_int_equal(build(both, "container", qemu_fc, &p, &err), 0);
        assert_int_equal(p.allowed_classes,
                         ISOLATION_BIT(ISOLATION_CONTAINER) | ISOLATION_BIT(ISOLATION_MICROVM));
        assert_int_equal(p.default_class, ISOLATION_CONTAINER);
        assert_int_equal(p.allowed_backends, VMM_BIT(VMM_QEMU) | VMM_BIT(VMM_FIRECRACKER));
}

/* Every policy policy_build() refuses, with the exact message a user reads. */
static const struct rejected_case {
        const char *const *classes; /* NULL: no --allowed-isolation-class */
        const char *dflt;
        const char *const *backends;
        const char *msg;
} rejected_cases[] = {
    /* a default needs an allowed list, and must be in it */
    {NULL, "microvm", NULL,
     "--default-isolation-class requires --allowed-isolation-class "
     "(valid values: container, microvm)"},
    {NULL, "container", NULL,
     "--default-isolation-class requires --allowed-isolation-class "
     "(valid values: container, microvm)"},
    {(const char *const[]){"container", NULL}, "microvm", NULL,
     "--default-isolation-class \"microvm\" must be one of --allowed-isolation-class (container)"},
    {(const char *const[]){"microvm", NULL}, "container", NULL,
     "--default-isolation-class \"container\" must be one of --allowed-isolation-class (microvm)"},
    /* backends apply to microvm only */
    {(const char *const[]){"container", NULL}, NULL, (const char *const[]){"qemu", NULL},
     "--allowed-vmm-backend applies only when --allowed-isolation-class includes microvm "
     "(allowed: container)"},
    {(const char *const[]){"container", NULL}, "container", (const char *const[]){"qemu", NULL},
     "--allowed-vmm-backend applies only when --allowed-isolation-class includes microvm "
     "(allowed: container)"},
    {NULL, NULL, (const char *const[]){"qemu", NULL},
     "--allowed-vmm-backend requires --allowed-isolation-class microvm"},
    /* unknown values, compared exactly */
    {(const char *const[]){"microvm", "vm", NULL}, NULL, NULL,
     "invalid --allowed-isolation-class \"vm\": valid values are container, microvm"},
    {(const char *const[]){"Container", NULL}, NULL, NULL,
     "invalid --allowed-isolation-class \"Container\": valid values are container, microvm"},
    {(const char *const[]){"", NULL}, NULL, NULL,
     "invalid --allowed-isolation-class \"\": valid values are container, microvm"},
    {(const char *const[]){"microvm", NULL}, "kata", NULL,
     "invalid --default-isolation-class \"kata\": valid values are container, microvm"},
    {(const char *const[]){"microvm", NULL}, NULL, (const char *const[]){"kvm", NULL},
     "invalid --allowed-vmm-backend \"kvm\": valid values are qemu, firecracker"},
    {(const char *const[]){"microvm", NULL}, NULL, (const char *const[]){"kata-fc", NULL},
     "invalid --allowed-vmm-backend \"kata-fc\": valid values are qemu, firecracker"},
    /* each value once */
    {(const char *const[]){"microvm", "container", "microvm", NULL}, NULL, NULL,
     "duplicate --allowed-isolation-class \"microvm\": each value may be given once"},
    {(const char *const[]){"microvm", NULL}, NULL, (const char *const[]){"qemu", "qemu", NULL},
     "duplicate --allowed-vmm-backend \"qemu\": each value may be given once"},
};

static void test_rejected_policies(void **state)
{
        (void)state;
        for (size_t i = 0; i < NELEM(rejected_cases); i++) {
                const struct rejected_case *c = &rejected_cases[i];

                print_message("case %zu: %s\n", i, c->msg);
                assert_rejected(c->classes, c->dflt, c->backends, c->msg);
        }
}

/* Repeatable flags accept comma-separated values: the CLI's parser splits
 * them, and the policy built from the split list is the one the repeated
 * flags give. */
static const struct cli_command *subnet_cmd(const char *verb)
{
        for (size_t i = 0; i < subnet_ncommands; i++)
                if (strcmp(subnet_commands[i].verb, verb) == 0)
                        return &subnet_commands[i];
        fail_msg("no subnet %s command", verb);
        return NULL;
}

static int build_from_argv(const char *verb, int argc, char **argv, struct runtime_policy *out,
                           struct idyl_err *err)
{
        struct cli_ctx ctx = {0};
        struct cli_args args;
        struct runtime_policy_input in = {0};
        const struct cli_value *classes, *backends;
        int rc;

        assert_int_equal(cli_parse(subnet_cmd(verb), argc, argv, &args, &ctx, err), 0);
        classes = cli_value(&args, "allowed-isolation-class");
        backends = cli_value(&args, "allowed-vmm-backend");
        in.classes = (const char *const *)classes->list;
        in.nclasses = classes->n;
        in.default_class = cli_str(&args, "default-isolation-class");
        in.backends = (const char *const *)backends->list;
        in.nbackends = backends->n;
        rc = policy_build(&in, out, err);
        cli_args_release(&args);
        return rc;
}

static void test_comma_separated_values(void **state)
{
        char *comma[] = {"create",
                         "--region",
                         "us-east",
                         "--allowed-isolation-class",
                         "container,microvm",
                         "--allowed-vmm-backend",
                         "qemu,firecracker",
                         NULL};
        char *repeated[] = {"create",      "--region",
                            "us-east",     "--allowed-isolation-class",
                            "container",   "--allowed-isolation-class",
                            "microvm",     "--allowed-vmm-backend",
                            "qemu",        "--allowed-vmm-backend",
                            "firecracker", NULL};
        char *dup[] = {"edit", "100000000001", "--allowed-isolation-class", "microvm,microvm",
                       NULL};
        char *trailing[] = {"edit", "100000000001", "--allowed-isolation-class", "microvm,", NULL};
        char *mixed[] = {"edit",
                         "100000000001",
                         "--allowed-isolation-class",
                         "container",
                         "--allowed-isolation-class",
                         "microvm,container",
                         NULL};
        struct idyl_err err = IDYL_ERR_INIT;
        struct runtime_policy a, b;
        char buf[128];

        (void)state;
        assert_int_equal(build_from_argv("create", (int)NELEM(comma) - 1, comma, &a, &err), 0);
        assert_int_equal(build_from_argv("create", (int)NELEM(repeated) - 1, repeated, &b, &err),
                         0);
        assert_true(a.set && b.set);
        assert_int_equal(a.allowed_classes, b.allowed_classes);
        assert_int_equal(a.default_class, b.default_class);
        assert_int_equal(a.allowed_backends, b.allowed_backends);
        policy_summary(&a, buf, sizeof(buf));
        assert_string_equal(buf, "container,microvm (vmm qemu,firecracker)");

        assert_int_equal(build_from_argv("edit", (int)NELEM(dup) - 1, dup, &a, &err), -1);
        assert_string_equal(err.msg, "duplicate --allowed-isolation-class \"microvm\": each value "
                                     "may be given once");
        assert_int_equal(build_from_argv("edit", (int)NELEM(trailing) - 1, trailing, &a, &err), -1);
        assert_string_equal(err.msg, "invalid --allowed-isolation-class \"\": valid values are "
                                     "container, microvm");
        assert_int_equal(build_from_argv("edit", (int)NELEM(mixed) - 1, mixed, &a, &err), -1);
        assert_string_equal(err.msg, "duplicate --allowed-isolation-class \"container\": each "
                                     "value may be given once");
}

static void test_summary(void **state)
{
        static const char *const microvm[] = {"microvm", NULL};
        static const char *const both[] = {"container", "microvm", NULL};
        static const char *const fc[] = {"firecracker", NULL};
        static const char *const qemu_fc[] = {"qemu", "firecracker", NULL};
        struct runtime_policy none = {0};
        char buf[128];

        (void)state;
        policy_summary(&none, buf, sizeof(buf));
        assert_string_equal(buf, "-");
        summary_of(microvm, "microvm", fc, "microvm (default microvm; vmm firecracker)");
        summary_of(microvm, NULL, NULL, "microvm");
        summary_of(microvm, "microvm", NULL, "microvm (default microvm)");
        summary_of(microvm, NULL, qemu_fc, "microvm (vmm qemu,firecracker)");
        summary_of(both, NULL, NULL, "container,microvm");
        summary_of(both, "container", NULL, "container,microvm (default container)");
        summary_of(both, "microvm", qemu_fc,
                   "container,microvm (default microvm; vmm qemu,firecracker)");
}

static void test_summary_truncates_safely(void **state)
{
        static const char *const microvm[] = {"microvm", NULL};
        static const char *const fc[] = {"firecracker", NULL};
        struct idyl_err err = IDYL_ERR_INIT;
        struct runtime_policy p;
        char buf[12];

        (void)state;
        assert_int_equal(build(microvm, "microvm", fc, &p, &err), 0);
        memset(buf, 'x', sizeof(buf));
        policy_summary(&p, buf, 10);
        assert_string_equal(buf, "microvm (");
        assert_int_equal(buf[10], 'x');
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_names_round_trip),
            cmocka_unit_test(test_set_join),
            cmocka_unit_test(test_no_fields_means_no_policy),
            cmocka_unit_test(test_valid_policies),
            cmocka_unit_test(test_rejected_policies),
            cmocka_unit_test(test_comma_separated_values),
            cmocka_unit_test(test_summary),
            cmocka_unit_test(test_summary_truncates_safely),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
