/* Proves core/node.c: the runtime profile presets of SPEC 2 (provider,
 * handler, class, backend), the refusal of `containerd-kata-*` and unknown
 * profiles, the class and backend derived from raw provider and handler
 * settings, node names and health, and the per-workload microVM overhead. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/node.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define MiB      (1024LL * 1024)

static const struct {
        enum runtime_profile id;
        const char *name, *provider, *handler, *cri_handler;
        enum isolation_class cls;
        enum vmm_backend backend;
} profiles[] = {
    {PROFILE_DOCKER, "docker", "docker", "runc", NULL, ISOLATION_CONTAINER, VMM_NONE},
    {PROFILE_CONTAINERD_RUNC, "containerd-runc", "containerd", "io.containerd.runc.v2", "runc",
     ISOLATION_CONTAINER, VMM_NONE},
    {PROFILE_CONTAINERD_KATA_QEMU, "containerd-kata-qemu", "containerd",
     "io.containerd.kata-qemu.v2", "kata-qemu", ISOLATION_MICROVM, VMM_QEMU},
    {PROFILE_CONTAINERD_KATA_FIRECRACKER, "containerd-kata-firecracker", "containerd",
     "io.containerd.kata-fc.v2", "kata-fc", ISOLATION_MICROVM, VMM_FIRECRACKER},
};

#define VALID_PROFILES                                                                             \
        "valid values are docker, containerd-runc, containerd-kata-qemu, "                         \
        "containerd-kata-firecracker"

static void test_presets(void **state)
{
        (void)state;
        assert_int_equal(NELEM(profiles), PROFILE__COUNT - 1);
        assert_null(profile_preset(PROFILE_NONE));
        assert_null(profile_preset(PROFILE__COUNT));
        assert_null(runtime_profile_name(PROFILE_NONE));
        for (size_t i = 0; i < NELEM(profiles); i++) {
                const struct profile_preset *p = profile_preset(profiles[i].id);

                assert_non_null(p);
                assert_string_equal(p->name, profiles[i].name);
                assert_string_equal(runtime_profile_name(profiles[i].id), profiles[i].name);
                assert_string_equal(p->provider, profiles[i].provider);
                assert_string_equal(p->handler, profiles[i].handler);
                if (profiles[i].cri_handler)
                        assert_string_equal(p->cri_handler, profiles[i].cri_handler);
                else
                        assert_null(p->cri_handler);
                assert_int_equal(p->isolation, profiles[i].cls);
                assert_int_equal(p->backend, profiles[i].backend);
                assert_non_null(p->endpoint);
                assert_int_equal(strncmp(p->endpoint, "unix:///", 8), 0);
        }
        assert_string_equal(profile_preset(PROFILE_DOCKER)->endpoint,
                            "unix:///var/run/docker.sock");
        assert_string_equal(profile_preset(PROFILE_CONTAINERD_KATA_QEMU)->endpoint,
                            "unix:///run/containerd/containerd.sock");
}

/* A preset's class and backend are the ones its handler derives to: a
 * node joined with a profile and one joined with the same raw settings
 * are the same node. */
static void test_presets_agree_with_derivation(void **state)
{
        (void)state;
        for (size_t i = 0; i < NELEM(profiles); i++) {
                const struct profile_preset *p = profile_preset(profiles[i].id);
                struct idyl_err err = IDYL_ERR_INIT;
                enum isolation_class cls = ISOLATION_NONE;
                enum vmm_backend backend = VMM__COUNT;

                assert_int_equal(runtime_derive(p->provider, p->handler, &cls, &backend, &err), 0);
                assert_int_equal(cls, p->isolation);
                assert_int_equal(backend, p->backend);
                if (!p->cri_handler)
                        continue;
                assert_int_equal(runtime_derive(p->provider, p->cri_handler, &cls, &backend, &err),
                                 0);
                assert_int_equal(cls, p->isolation);
                assert_int_equal(backend, p->backend);
        }
}

static void test_profile_parse(void **state)
{
        char joined[256] = "";

        (void)state;
        for (size_t i = 0; i < NELEM(profiles); i++) {
                struct idyl_err err = IDYL_ERR_INIT;
                enum runtime_profile out = PROFILE_NONE;

                assert_int_equal(runtime_profile_parse(profiles[i].name, &out, &err), 0);
                assert_int_equal(out, profiles[i].id);
                snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined), "%s%s",
                         i ? ", " : "", profiles[i].name);
        }
        /* the list in messages is the real list */
        assert_string_equal(PROFILE_NAMES, joined);
}

static void assert_profile_refused(const char *s, const char *msg)
{
        struct idyl_err err = IDYL_ERR_INIT;
        enum runtime_profile out = PROFILE__COUNT;

        assert_int_equal(runtime_profile_parse(s, &out, &err), -1);
        assert_int_equal(err.code, IDYL_E_INVALID);
        assert_string_equal(err.msg, msg);
        assert_int_equal(out, PROFILE__COUNT);
}

static void test_profile_refused(void **state)
{
        (void)state;
        assert_profile_refused("containerd-kata-*",
                               "invalid --runtime-profile \"containerd-kata-*\": it names the "
                               "family of Kata profiles, not a profile; " VALID_PROFILES);
        assert_profile_refused("containerd-kata",
                               "invalid --runtime-profile \"containerd-kata\": " VALID_PROFILES);
        assert_profile_refused("kata", "invalid --runtime-profile \"kata\": " VALID_PROFILES);
        assert_profile_refused("containerd-kata-fc",
                               "invalid --runtime-profile \"containerd-kata-fc\": " VALID_PROFILES);
        assert_profile_refused("Docker", "invalid --runtime-profile \"Docker\": " VALID_PROFILES);
        assert_profile_refused("containerd",
                               "invalid --runtime-profile \"containerd\": " VALID_PROFILES);
        assert_profile_refused("", "invalid --runtime-profile \"\": " VALID_PROFILES);
        assert_profile_refused(NULL, "invalid --runtime-profile \"\": " VALID_PROFILES);
}

static void derive_is(const char *provider, const char *handler, enum isolation_class cls,
                      enum vmm_backend backend)
{
        struct idyl_err err = IDYL_ERR_INIT;
        enum isolation_class c = ISOLATION_NONE;
        enum vmm_backend b = VMM__COUNT;

        print_message("derive %s %s\n", provider, handler ? handler : "(default)");
        assert_int_equal(runtime_derive(provider, handler, &c, &b, &err), 0);
        assert_int_equal(c, cls);
        assert_int_equal(b, backend);
}

static void derive_refused(const char *provider, const char *handler, const char *msg)
{
        struct idyl_err err = IDYL_ERR_INIT;
        enum isolation_class c = ISOLATION__COUNT;
        enum vmm_backend b = VMM__COUNT;

        print_message("derive %s %s\n", provider ? provider : "(null)",
                      handler ? handler : "(default)");
        assert_int_equal(runtime_derive(provider, handler, &c, &b, &err), -1);
        assert_int_equal(err.code, IDYL_E_INVALID);
        assert_string_equal(err.msg, msg);
        assert_int_equal(c, ISOLATION__COUNT);
        assert_int_equal(b, VMM__COUNT);
}

#define UNKNOWN_HANDLER(h)                                                                         \
        "invalid --runtime-handler \"" h "\": cannot tell its isolation class; known handlers "    \
        "are runc, io.containerd.runc.v2, kata-qemu, io.containerd.kata-qemu.v2, kata-fc, "        \
        "io.containerd.kata-fc.v2 (or use --runtime-profile)"

static void test_raw_derivation(void **state)
{
        (void)state;
        derive_is("docker", NULL, ISOLATION_CONTAINER, VMM_NONE);
        derive_is("docker", "", ISOLATION_CONTAINER, VMM_NONE);
        derive_is("docker", "runc", ISOLATION_CONTAINER, VMM_NONE);
        derive_is("containerd", NULL, ISOLATION_CONTAINER, VMM_NONE);
        derive_is("containerd", "runc", ISOLATION_CONTAINER, VMM_NONE);
        derive_is("containerd", "io.containerd.runc.v2", ISOLATION_CONTAINER, VMM_NONE);
        derive_is("containerd", "kata", ISOLATION_MICROVM, VMM_QEMU);
        derive_is("containerd", "io.containerd.kata.v2", ISOLATION_MICROVM, VMM_QEMU);
        derive_is("containerd", "kata-qemu", ISOLATION_MICROVM, VMM_QEMU);
        derive_is("containerd", "io.containerd.kata-qemu.v2", ISOLATION_MICROVM, VMM_QEMU);
        derive_is("containerd", "kata-fc", ISOLATION_MICROVM, VMM_FIRECRACKER);
        derive_is("containerd", "io.containerd.kata-fc.v2", ISOLATION_MICROVM, VMM_FIRECRACKER);

        /* Docker never gives a microVM */
        derive_refused("docker", "kata-qemu",
                       "invalid --runtime-handler \"kata-qemu\" for docker: only runc is "
                       "supported (microVMs need containerd with Kata)");
        derive_refused("docker", "io.containerd.kata-fc.v2",
                       "invalid --runtime-handler \"io.containerd.kata-fc.v2\" for docker: only "
                       "runc is supported (microVMs need containerd with Kata)");
        derive_refused("containerd", "io.containerd.kata-clh.v2",
                       UNKNOWN_HANDLER("io.containerd.kata-clh.v2"));
        derive_refused("containerd", "gvisor", UNKNOWN_HANDLER("gvisor"));
        derive_refused("containerd", "Kata-QEMU", UNKNOWN_HANDLER("Kata-QEMU"));
        derive_refused("podman", "runc",
                       "invalid --runtime-provider \"podman\": valid values are docker, "
                       "containerd");
        derive_refused(NULL, "runc",
                       "invalid --runtime-provider \"\": valid values are docker, containerd");
}

static void test_microvm_overhead(void **state)
{
        int64_t cpu = -1, mem = -1;

        (void)state;
        microvm_overhead(ISOLATION_CONTAINER, VMM_NONE, &cpu, &mem);
        assert_int_equal(cpu, 0);
        assert_int_equal(mem, 0);
        /* a container workload carries nothing, whatever the node */
        microvm_overhead(ISOLATION_CONTAINER, VMM_QEMU, &cpu, &mem);
        assert_int_equal(cpu, 0);
        assert_int_equal(mem, 0);
        microvm_overhead(ISOLATION_MICROVM, VMM_QEMU, &cpu, &mem);
        assert_int_equal(cpu, 250);
        assert_int_equal(mem, 160 * MiB);
        microvm_overhead(ISOLATION_MICROVM, VMM_FIRECRACKER, &cpu, &mem);
        assert_int_equal(cpu, 250);
        assert_int_equal(mem, 130 * MiB);
}

static void test_admission_and_status_names(void **state)
{
        (void)state;
        assert_string_equal(node_admission_name(NODE_ADMITTED), "admitted");
        assert_string_equal(node_admission_name(NODE_PENDING), "pending");
        assert_string_equal(node_admission_name(NODE_REVOKED), "revoked");
        for (int i = 0; i < NODE_ADMISSION__COUNT; i++)
                assert_int_equal(node_admission_from_name(node_admission_name(i)), i);
        assert_int_equal(node_admission_from_name("approved"), -1);
        assert_int_equal(node_admission_from_name(NULL), -1);
        assert_string_equal(node_status_name(NODE_READY), "ready");
        assert_string_equal(node_status_name(NODE_NOT_READY), "not-ready");
        assert_string_equal(node_status_name(NODE_DOWN), "down");
}

#define NODE_NAME_MSG(n)                                                                           \
        "invalid --name \"" n "\": a node name is lowercase letters, digits, '-' and '.', "        \
        "starting and ending with a letter or digit, at most 63 characters"

static void test_node_name(void **state)
{
        static const char *const ok[] = {"host-7", "a", "node.example.com", "n0"};
        static const char *const bad[] = {"",      "Host",  "-host",  "host-",
                                          ".host", "host.", "host_7", "host 7"};
        struct idyl_err err = IDYL_ERR_INIT;
        char name[65], want[512];

        (void)state;
        for (size_t i = 0; i < NELEM(ok); i++)
                assert_int_equal(node_name_check(ok[i], &err), 0);
        memset(name, 'n', 63);
        name[63] = '\0';
        assert_int_equal(node_name_check(name, &err), 0);
        name[63] = 'n';
        name[64] = '\0';
        assert_int_equal(node_name_check(name, &err), -1);
        for (size_t i = 0; i < NELEM(bad); i++) {
                assert_int_equal(node_name_check(bad[i], &err), -1);
                assert_int_equal(err.code, IDYL_E_INVALID);
                snprintf(want, sizeof(want), NODE_NAME_MSG("%s"), bad[i]);
                assert_string_equal(err.msg, want);
        }
        assert_int_equal(node_name_check(NULL, &err), -1);
        assert_string_equal(err.msg, NODE_NAME_MSG(""));
}

static void test_status_at(void **state)
{
        struct idyl_node n = {0};
        const int64_t now = 1700000000000LL;

        (void)state;
        n.runtime_ready = true;
        n.last_heartbeat = now - 5000;
        assert_int_equal(node_status_at(&n, now, 30), NODE_READY);
        n.runtime_ready = false;
        assert_int_equal(node_status_at(&n, now, 30), NODE_NOT_READY);
        /* silent for exactly the TTL: still counted; one ms more: down */
        n.runtime_ready = true;
        n.last_heartbeat = now - 30000;
        assert_int_equal(node_status_at(&n, now, 30), NODE_READY);
        n.last_heartbeat = now - 30001;
        assert_int_equal(node_status_at(&n, now, 30), NODE_DOWN);
        /* down wins over a ready runtime, and a declared-down node stays down
         * until a heartbeat clears the flag */
        n.last_heartbeat = now;
        n.down = true;
        assert_int_equal(node_status_at(&n, now, 30), NODE_DOWN);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_presets),
            cmocka_unit_test(test_presets_agree_with_derivation),
            cmocka_unit_test(test_profile_parse),
            cmocka_unit_test(test_profile_refused),
            cmocka_unit_test(test_raw_derivation),
            cmocka_unit_test(test_microvm_overhead),
            cmocka_unit_test(test_admission_and_status_names),
            cmocka_unit_test(test_node_name),
            cmocka_unit_test(test_status_at),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
