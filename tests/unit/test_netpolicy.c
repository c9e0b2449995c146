/* The subnet's network policy: modes, CIDR parsing and normalisation,
 * every refusal with the message a user sees (SPEC 6.2), and the agent's
 * side: the iptables rules each mode becomes on each runtime, and reading
 * the policy from an assignments answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "agent/netpolicy.h"
#include "core/netpolicy.h"

static void test_modes(void **state)
{
        (void)state;
        assert_int_equal(egress_mode_from_name("none"), EGRESS_NONE);
        assert_int_equal(egress_mode_from_name("restricted"), EGRESS_RESTRICTED);
        assert_int_equal(egress_mode_from_name("all"), EGRESS_ALL);
        assert_int_equal(egress_mode_from_name("All"), -1);
        assert_int_equal(egress_mode_from_name(""), -1);
        assert_int_equal(egress_mode_from_name(NULL), -1);
        assert_string_equal(egress_mode_name(EGRESS_RESTRICTED), "restricted");
        assert_null(egress_mode_name((enum egress_mode)7));
        assert_int_equal(network_policy_egress(NULL), EGRESS_ALL);
}

static void test_cidrs(void **state)
{
        static const char *const bad[] = {"x",
                                          "",
                                          "10.0.0.0",
                                          "10.0.0/8",
                                          "10.0.0.0/33",
                                          "256.0.0.0/8",
                                          "10.0.0.0/8 ",
                                          "1.2.3.4/",
                                          "1.2.3.4//8",
                                          "-1.0.0.0/8",
                                          "1.2.3.4.5/8",
                                          "0x1.0.0.0/8",
                                          "1000.0.0.0/8",
                                          "10.0.0.0/0008"};
        struct idyl_err err = IDYL_ERR_INIT;
        uint32_t a;
        int len;

        (void)state;
        assert_int_equal(egress_cidr_parse("192.0.2.0/24", &a, &len, &err), 0);
        assert_int_equal(a, 0xc0000200u);
        assert_int_equal(len, 24);
        assert_int_equal(egress_cidr_parse("10.1.2.3/8", &a, &len, &err), 0);
        assert_int_equal(a, 0x0a000000u);
        assert_int_equal(egress_cidr_parse("1.2.3.4/0", &a, &len, &err), 0);
        assert_int_equal(a, 0);
        assert_int_equal(len, 0);
        assert_int_equal(egress_cidr_parse("1.2.3.4/32", &a, &len, &err), 0);
        assert_int_equal(a, 0x01020304u);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char want[128];
                assert_int_equal(egress_cidr_parse(bad[i], &a, &len, &err), -1);
                assert_int_equal(err.code, IDYL_E_INVALID);
                snprintf(want, sizeof(want),
                         "invalid --allow-egress-cidr \"%s\": want an IPv4 CIDR such as "
                         "10.0.0.0/8",
                         bad[i]);
                assert_string_equal(err.msg, want);
        }
}

static void test_build(void **state)
{
        const char *two[] = {"192.0.2.0/24", "10.9.8.7/16"};
        const char *x[] = {"x"};
        const char *dup[] = {"10.0.0.0/8", "10.1.0.0/8"};
        const char *many[EGRESS_CIDRS_MAX + 1];
        char text[EGRESS_CIDRS_MAX + 1][24];
        struct network_policy p, untouched = {.set = true, .egress = EGRESS_NONE};
        struct idyl_err err = IDYL_ERR_INIT;

        (void)state;
        assert_int_equal(network_policy_build("restricted", two, 2, &p, &err), 0);
        assert_true(p.set);
        assert_int_equal(p.egress, EGRESS_RESTRICTED);
        assert_string_equal(p.cidrs, "192.0.2.0/24,10.9.0.0/16");
        assert_int_equal(network_policy_egress(&p), EGRESS_RESTRICTED);
        assert_int_equal(network_policy_build("none", NULL, 0, &p, &err), 0);
        assert_int_equal(p.egress, EGRESS_NONE);
        assert_string_equal(p.cidrs, "");
        assert_int_equal(network_policy_build("all", NULL, 0, &p, &err), 0);
        assert_true(p.set);
        assert_int_equal(p.egress, EGRESS_ALL);

        p = untouched;
        assert_int_equal(network_policy_build("sometimes", NULL, 0, &p, &err), -1);
        assert_string_equal(
            err.msg, "invalid --egress \"sometimes\": valid values are none, restricted, all");
        assert_int_equal(network_policy_build("restricted", NULL, 0, &p, &err), -1);
        assert_string_equal(err.msg,
                            "--egress restricted requires at least one --allow-egress-cidr");
        assert_int_equal(network_policy_build("all", two, 1, &p, &err), -1);
        assert_string_equal(err.msg, "--allow-egress-cidr requires --egress restricted");
        assert_int_equal(network_policy_build("none", two, 1, &p, &err), -1);
        assert_int_equal(network_policy_build(NULL, two, 1, &p, &err), -1);
        assert_string_equal(err.msg, "--allow-egress-cidr requires --egress restricted");
        assert_int_equal(network_policy_build(NULL, NULL, 0, &p, &err), -1);
        assert_string_equal(err.msg, "--egress is required when setting a network policy (valid "
                                     "values: none, restricted, all)");
        assert_int_equal(network_policy_build("restricted", x, 1, &p, &err), -1);
        assert_string_equal(
            err.msg, "invalid --allow-egress-cidr \"x\": want an IPv4 CIDR such as 10.0.0.0/8");
        assert_int_equal(network_policy_build("restricted", dup, 2, &p, &err), -1);
        assert_string_equal(err.msg, "duplicate --allow-egress-cidr \"10.1.0.0/8\"");
        for (int i = 0; i <= EGRESS_CIDRS_MAX; i++) {
                snprintf(text[i], sizeof(text[i]), "10.%d.0.0/16", i);
                many[i] = text[i];
        }
        assert_int_equal(network_policy_build("restricted", many, EGRESS_CIDRS_MAX + 1, &p, &err),
                         -1);
        assert_string_equal(err.msg, "too many --allow-egress-cidr values: at most 32");
        /* a refusal writes nothing */
        assert_memory_equal(&p, &untouched, sizeof(p));
        /* the most the text holds */
        for (int i = 0; i < EGRESS_CIDRS_MAX; i++)
                snprintf(text[i], sizeof(text[i]), "255.255.255.%d/32", i);
        assert_int_equal(network_policy_build("restricted", many, EGRESS_CIDRS_MAX, &p, &err), 0);
        {
                int commas = 0;
                for (const char *c = p.cidrs; *c; c++)
                        commas += *c == ',';
                assert_int_equal(commas, EGRESS_CIDRS_MAX - 1);
        }
        assert_string_equal(p.cidrs + strlen(p.cidrs) - 17, "255.255.255.31/32");
}

/* The rules the agent writes, exactly as iptables-restore reads them:
 * both chains declared, then `shared` (NULL for none) and `own`, then the
 * COMMIT. */
static void assert_rules(const struct netpolicy_scope *scope, const struct network_policy *p,
                         const char *shared, const char *own)
{
        struct idyl_buf b = IDYL_BUF_INIT(65536);
        char want[4096];

        snprintf(want, sizeof(want), "*filter\n:IDYL-1 - [0:0]\n:IDYL-1-IN - [0:0]\n%s%sCOMMIT\n",
                 shared ? shared : "", own);
        assert_int_equal(netpolicy_rules("IDYL-1", scope, p, &b), 0);
        assert_string_equal(b.data, want);
        idyl_buf_release(&b);
}

/* What a CRI pod with egress allowed gets first: answers in, its own pod and
 * its peers, none of the other pods. */
static const char cri_pod_apart[] =
    "-A IDYL-1 -d 10.89.0.5/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
    "-A IDYL-1 -s 10.89.0.5/32 -d 10.89.0.5/32 -j ACCEPT\n"
    "-A IDYL-1 -s 10.89.0.5/32 -d 10.89.0.9/32 -j ACCEPT\n"
    "-A IDYL-1 -s 10.89.0.5/32 -d 10.89.0.0/16 -j DROP\n";

static void test_rules(void **state)
{
        const char *mine[] = {"10.89.0.5"}, *peers[] = {"10.89.0.5", "10.89.0.9"};
        struct netpolicy_scope cri = {.pod_cidr = "10.89.0.0/16",
                                      .mine = mine,
                                      .nmine = 1,
                                      .peers = peers,
                                      .npeers = 2},
                               docker = {.bridge = "br-0123456789ab"};
        const char *two[] = {"192.0.2.0/24", "198.51.100.7/32"};
        struct network_policy none, restricted, all;
        struct idyl_err err = IDYL_ERR_INIT;

        (void)state;
        assert_int_equal(network_policy_build("none", NULL, 0, &none, &err), 0);
        assert_int_equal(network_policy_build("restricted", two, 2, &restricted, &err), 0);
        assert_int_equal(network_policy_build("all", NULL, 0, &all, &err), 0);
        assert_rules(&cri, NULL, cri_pod_apart, "-A IDYL-1 -s 10.89.0.5/32 -j ACCEPT\n");
        {
                struct idyl_buf a = IDYL_BUF_INIT(65536), b = IDYL_BUF_INIT(65536);
                /* {egress: all} is no policy */
                assert_int_equal(netpolicy_rules("IDYL-1", &cri, NULL, &a), 0);
                assert_int_equal(netpolicy_rules("IDYL-1", &cri, &all, &b), 0);
                assert_string_equal(a.data, b.data);
                idyl_buf_release(&a);
                idyl_buf_release(&b);
        }
        assert_rules(&cri, &none, NULL,
                     "-A IDYL-1 -s 10.89.0.5/32 -j DROP\n"
                     "-A IDYL-1 -d 10.89.0.5/32 -j DROP\n"
                     "-A IDYL-1-IN -s 10.89.0.5/32 -j DROP\n");
        assert_rules(&cri, &restricted, cri_pod_apart,
                     "-A IDYL-1 -s 10.89.0.5/32 -d 192.0.2.0/24 -j ACCEPT\n"
                     "-A IDYL-1 -s 10.89.0.5/32 -d 198.51.100.7/32 -j ACCEPT\n"
                     "-A IDYL-1 -s 10.89.0.5/32 -j DROP\n"
                     "-A IDYL-1-IN -s 10.89.0.5/32 -m conntrack --ctstate RELATED,ESTABLISHED -j "
                     "RETURN\n"
                     "-A IDYL-1-IN -s 10.89.0.5/32 -d 192.0.2.0/24 -j RETURN\n"
                     "-A IDYL-1-IN -s 10.89.0.5/32 -d 198.51.100.7/32 -j RETURN\n"
                     "-A IDYL-1-IN -s 10.89.0.5/32 -j DROP\n");
        /* Docker: the Engine's own chains keep bridges apart; only DROPs are ours */
        assert_rules(&docker, &all, NULL, "");
        assert_rules(&docker, &none, NULL,
                     "-A IDYL-1 -i br-0123456789ab -j DROP\n"
                     "-A IDYL-1 -o br-0123456789ab -j DROP\n"
                     "-A IDYL-1-IN -i br-0123456789ab -j DROP\n");
        assert_rules(&docker, &restricted, NULL,
                     "-A IDYL-1 -i br-0123456789ab -o br-0123456789ab -j RETURN\n"
                     "-A IDYL-1 -i br-0123456789ab -m conntrack --ctstate RELATED,ESTABLISHED -j "
                     "RETURN\n"
                     "-A IDYL-1 -i br-0123456789ab -d 192.0.2.0/24 -j RETURN\n"
                     "-A IDYL-1 -i br-0123456789ab -d 198.51.100.7/32 -j RETURN\n"
                     "-A IDYL-1 -i br-0123456789ab -j DROP\n"
                     "-A IDYL-1-IN -i br-0123456789ab -m conntrack --ctstate RELATED,ESTABLISHED "
                     "-j RETURN\n"
                     "-A IDYL-1-IN -i br-0123456789ab -d 192.0.2.0/24 -j RETURN\n"
                     "-A IDYL-1-IN -i br-0123456789ab -d 198.51.100.7/32 -j RETURN\n"
                     "-A IDYL-1-IN -i br-0123456789ab -j DROP\n");
}

static void test_from_assignments(void **state)
{
        struct network_policy p;
        json_t *a;

        (void)state;
        a = json_loads("{\"workloads\": []}", 0, NULL);
        netpolicy_from_assignments(a, &p);
        assert_false(p.set);
        json_decref(a);
        a = json_loads("{\"networkPolicy\": {\"egress\": \"restricted\", "
                       "\"allowedEgressCIDRs\": [\"192.0.2.0/24\"]}}",
                       0, NULL);
        netpolicy_from_assignments(a, &p);
        assert_true(p.set);
        assert_int_equal(p.egress, EGRESS_RESTRICTED);
        assert_string_equal(p.cidrs, "192.0.2.0/24");
        json_decref(a);
        /* what the agent cannot read it enforces as none */
        a = json_loads("{\"networkPolicy\": {\"egress\": \"restricted\"}}", 0, NULL);
        netpolicy_from_assignments(a, &p);
        assert_int_equal(network_policy_egress(&p), EGRESS_NONE);
        json_decref(a);
        a = json_loads("{\"networkPolicy\": {\"egress\": \"restricted\", "
                       "\"allowedEgressCIDRs\": [7]}}",
                       0, NULL);
        netpolicy_from_assignments(a, &p);
        assert_int_equal(network_policy_egress(&p), EGRESS_NONE);
        json_decref(a);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_modes),
            cmocka_unit_test(test_cidrs),
            cmocka_unit_test(test_build),
            cmocka_unit_test(test_rules),
            cmocka_unit_test(test_from_assignments),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
