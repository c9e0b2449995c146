/* Proves core/sched.c: each filter of the chain with its stable code, the
 * counts (each node counted once, by the first filter that removes it), the
 * outcome and its documented message, the isolation rules (exact class
 * match, backend policy, GPUs in microVMs only on QEMU nodes that declared
 * it), microVM overhead, and the least-allocated choice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/messages.h"
#include "core/sched.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define MiB      (1024LL * 1024)
#define GiB      (1024LL * MiB)
#define SUBNET   "100000000001"

#define MSG_MICROVM                                                                                \
        "no available nodes in subnet 100000000001 support requested isolation class microvm"
#define MSG_CAPACITY                                                                               \
        "no nodes available in subnet 100000000001 with sufficient capacity and generic "          \
        "requirements"

static const struct runtime_policy no_policy = {0};

/* A healthy, admitted, ready node with 4 CPUs, 8Gi and no GPUs. */
static struct sched_node node_of(const char *name, enum isolation_class cls,
                                 enum vmm_backend backend)
{
        struct sched_node n = {
            .name = name,
            .admitted = true,
            .healthy = true,
            .runtime_ready = true,
            .isolation = cls,
            .backend = backend,
            .platform = "linux/amd64",
            .cpu_milli = 4000,
            .memory_bytes = 8 * GiB,
        };
        return n;
}

static struct sched_node docker_node(const char *name)
{
        return node_of(name, ISOLATION_CONTAINER, VMM_NONE);
}

static struct sched_node qemu_node(const char *name)
{
        return node_of(name, ISOLATION_MICROVM, VMM_QEMU);
}

static struct sched_node fc_node(const char *name)
{
        return node_of(name, ISOLATION_MICROVM, VMM_FIRECRACKER);
}

static struct sched_request request_of(enum isolation_class cls)
{
        struct sched_request r = {
            .isolation = cls, .platform = NULL, .cpu_milli = 500, .memory_bytes = 256 * MiB};
        return r;
}

static size_t filtered_total(const struct sched_result *res)
{
        size_t sum = 0;

        for (int f = 0; f < FILTER__COUNT; f++)
                sum += res->filtered[f];
        return sum;
}

static void message_of(const struct sched_result *res, enum isolation_class cls, char *buf,
                       size_t size)
{
        sched_message(res, SUBNET, cls, buf, size);
}

/* Places req on one node and asserts that only `filter` removed it. */
static void assert_removed_by(const struct sched_request *req, const struct runtime_policy *pol,
                              const struct sched_node *node, enum sched_filter filter,
                              enum sched_outcome outcome)
{
        struct sched_result res;

        sched_place(req, pol, node, 1, &res);
        assert_int_equal(res.outcome, outcome);
        assert_int_equal(res.node, -1);
        assert_int_equal(res.evaluated, 1);
        for (int f = 0; f < FILTER__COUNT; f++)
                assert_int_equal(res.filtered[f], f == (int)filter ? 1 : 0);
}

/* Places req among nodes and asserts it lands on node `want`. */
static void assert_placed_on(const struct sched_request *req, const struct runtime_policy *pol,
                             const struct sched_node *nodes, size_t n, long want)
{
        struct sched_result res;

        sched_place(req, pol, nodes, n, &res);
        assert_int_equal(res.outcome, SCHED_PLACED);
        assert_int_equal(res.node, want);
}

static void test_filter_codes(void **state)
{
        static const char *const codes[FILTER__COUNT] = {
            "node_not_admitted", "node_ineligible",          "node_down",
            "runtime_not_ready", "isolation_class_mismatch", "vmm_backend_not_allowed",
            "platform_mismatch", "microvm_gpu_unsupported",  "device_unavailable",
            "insufficient_cpu",  "insufficient_memory",      "insufficient_gpus",
        };

        (void)state;
        for (int f = 0; f < FILTER__COUNT; f++)
                assert_string_equal(sched_filter_code((enum sched_filter)f), codes[f]);
        assert_string_equal(sched_filter_code(FILTER__COUNT), "unknown");
        assert_string_equal(sched_outcome_code(SCHED_PLACED), "placed");
        assert_string_equal(sched_outcome_code(SCHED_NO_COMPATIBLE_NODES), "no_compatible_nodes");
        assert_string_equal(sched_outcome_code(SCHED_INSUFFICIENT_CAPACITY),
                            "insufficient_capacity");
}

static void test_node_not_admitted(void **state)
{
        struct sched_request req = request_of(ISOLATION_MICROVM);
        struct sched_node n = qemu_node("q");

        (void)state;
        n.admitted = false;
        assert_removed_by(&req, &no_policy, &n, FILTER_ADMISSION, SCHED_NO_COMPATIBLE_NODES);
}

/* An ineligible node (disabled, or draining) gets no new work; it counts as
 * no available node of the class, so the message is the class one. */
static void test_node_ineligible(void **state)
{
        struct sched_request req = request_of(ISOLATION_CONTAINER);
        struct sched_node nodes[2] = {docker_node("a"), docker_node("b")};
        struct sched_result res;
        char msg[256];

        (void)state;
        nodes[0].ineligible = true;
        assert_removed_by(&req, &no_policy, &nodes[0], FILTER_ELIGIBILITY,
                          SCHED_NO_COMPATIBLE_NODES);
        sched_place(&req, &no_policy, nodes, 1, &res);
        message_of(&res, ISOLATION_CONTAINER, msg, sizeof(msg));
        assert_string_equal(msg, "no available nodes in subnet 100000000001 support requested "
                                 "isolation class container");
        assert_string_equal(sched_filter_code(FILTER_ELIGIBILITY), "node_ineligible");
        /* the eligible one is chosen even when it is fuller */
        nodes[1].used_cpu_milli = 3000;
        assert_placed_on(&req, &no_policy, nodes, 2, 1);
}

/* A stored node's view: admitted and eligible only when so recorded (a
 * drain takes it out too), the server's liveness as given, nothing used. */
static void test_node_view_of_a_record(void **state)
{
        struct idyl_node n = {.name = "gpu-1",
                              .admission = NODE_PENDING,
                              .platform = "linux/arm64",
                              .devices = "/dev/fuse",
                              .runtime_ready = true,
                              .isolation = ISOLATION_MICROVM,
                              .backend = VMM_FIRECRACKER,
                              .cpu_milli = 4000,
                              .memory_bytes = 1 << 30,
                              .gpus = 2};
        struct sched_node v;

        (void)state;
        sched_node_of(&n, true, &v);
        assert_false(v.admitted); /* pending */
        assert_false(v.ineligible);
        assert_true(v.healthy && v.runtime_ready);
        /* the view borrows the record's strings */
        assert_true(v.name == n.name && v.platform == n.platform && v.devices == n.devices);
        assert_true(v.isolation == ISOLATION_MICROVM && v.backend == VMM_FIRECRACKER);
        assert_true(v.cpu_milli == 4000 && v.memory_bytes == 1 << 30 && v.gpus == 2);
        assert_int_equal(v.used_cpu_milli + v.used_memory_bytes + v.used_gpus, 0);
        n.admission = NODE_ADMITTED;
        n.eligibility = NODE_DRAINING;
        sched_node_of(&n, false, &v);
        assert_true(v.admitted);
        assert_true(v.ineligible);
        assert_false(v.healthy);
}

static void test_node_down(void **state)
{
        struct sched_request req = request_of(ISOLATION_MICROVM);
        struct sched_node n = qemu_node("q");

        (void)state;
        n.healthy = false;
        assert_removed_by(&req, &no_policy, &n, FILTER_HEALTH, SCHED_NO_COMPATIBLE_NODES);
}

static void test_runtime_not_ready(void **state)
{
        struct sched_request req = request_of(ISOLATION_CONTAINER);
        struct sched_node n = docker_node("d");

        (void)state;
        n.runtime_ready = false;
        assert_removed_by(&req, &no_policy, &n, FILTER_RUNTIME_READY, SCHED_NO_COMPATIBLE_NODES);
}

static void test_isolation_class_mismatch(void **state)
{
        struct sched_request microvm = request_of(ISOLATION_MICROVM);
        struct sched_request container = request_of(ISOLATION_CONTAINER);
        struct sched_node docker = docker_node("d"), runc = docker_node("r");
        struct sched_node qemu = qemu_node("q"), fc = fc_node("f");

        (void)state;
        /* microvm never on docker or runc nodes */
        assert_removed_by(&microvm, &no_policy, &docker, FILTER_ISOLATION_CLASS,
                          SCHED_NO_COMPATIBLE_NODES);
        assert_removed_by(&microvm, &no_policy, &runc, FILTER_ISOLATION_CLASS,
                          SCHED_NO_COMPATIBLE_NODES);
        /* container never on Kata nodes */
        assert_removed_by(&container, &no_policy, &qemu, FILTER_ISOLATION_CLASS,
                          SCHED_NO_COMPATIBLE_NODES);
        assert_removed_by(&container, &no_policy, &fc, FILTER_ISOLATION_CLASS,
                          SCHED_NO_COMPATIBLE_NODES);
}

static void test_vmm_backend_not_allowed(void **state)
{
        struct runtime_policy fc_only = {.set = true,
                                         .allowed_classes = ISOLATION_BIT(ISOLATION_CONTAINER) |
                                                            ISOLATION_BIT(ISOLATION_MICROVM),
                                         .allowed_backends = VMM_BIT(VMM_FIRECRACKER)};
        struct sched_request microvm = request_of(ISOLATION_MICROVM);
        struct sched_request container = request_of(ISOLATION_CONTAINER);
        struct sched_node nodes[] = {qemu_node("q"), fc_node("f"), docker_node("d")};
        struct sched_result res;

        (void)state;
        assert_removed_by(&microvm, &fc_only, &nodes[0], FILTER_VMM_BACKEND,
                          SCHED_NO_COMPATIBLE_NODES);
        sched_place(&microvm, &fc_only, nodes, NELEM(nodes), &res);
        assert_int_equal(res.outcome, SCHED_PLACED);
        assert_int_equal(res.node, 1);
        /* the backend list does not concern container workloads */
        sched_place(&container, &fc_only, nodes, NELEM(nodes), &res);
        assert_int_equal(res.outcome, SCHED_PLACED);
        assert_int_equal(res.node, 2);
        /* without a backend list every backend is fine */
        sched_place(&microvm, &no_policy, nodes, 1, &res);
        assert_int_equal(res.outcome, SCHED_PLACED);
        assert_int_equal(res.node, 0);
}

/* The subnet's allowed classes are enforced at placement too, not only at
 * admission: after a policy edit to microvm, a container workload that
 * waits again (its node was lost) is not allowed, whatever nodes exist. */
static void test_class_not_allowed_by_policy(void **state)
{
        struct runtime_policy microvm_only = {.set = true,
                                              .allowed_classes = ISOLATION_BIT(ISOLATION_MICROVM)};
        struct sched_request container = request_of(ISOLATION_CONTAINER);
        struct sched_request microvm = request_of(ISOLATION_MICROVM);
        struct sched_node nodes[] = {docker_node("d"), qemu_node("q")};
        struct sched_result res;
        char msg[256];

        (void)state;
        sched_place(&container, &microvm_only, nodes, NELEM(nodes), &res);
        assert_int_equal(res.outcome, SCHED_NOT_ALLOWED);
        assert_int_equal(res.node, -1);
        assert_int_equal(res.evaluated, 0);
        assert_int_equal(filtered_total(&res), 0);
        assert_string_equal(sched_outcome_code(SCHED_NOT_ALLOWED), "isolation_class_not_allowed");
        message_of(&res, ISOLATION_CONTAINER, msg, sizeof(msg));
        assert_string_equal(msg,
                            "isolation.class \"container\" is not allowed by subnet runtimePolicy");
        /* the class the policy allows still places; no policy allows every class */
        assert_placed_on(&microvm, &microvm_only, nodes, NELEM(nodes), 1);
        assert_placed_on(&container, &no_policy, nodes, NELEM(nodes), 0);
}

static void test_platform_mismatch(void **state)
{
        struct sched_request req = request_of(ISOLATION_CONTAINER);
        struct sched_node arm = docker_node("arm");

        (void)state;
        arm.platform = "linux/arm64";
        req.platform = "linux/amd64";
        assert_removed_by(&req, &no_policy, &arm, FILTER_PLATFORM, SCHED_INSUFFICIENT_CAPACITY);
}

static void test_no_platform_fits_any(void **state)
{
        static const char *const platforms[] = {"linux/amd64", "linux/arm64", "linux/arm64/v8",
                                                "windows/amd64"};
        struct sched_request req = request_of(ISOLATION_CONTAINER);
        struct sched_result res;

        (void)state;
        for (size_t i = 0; i < NELEM(platforms); i++) {
                struct sched_node n = docker_node("n");

                n.platform = platforms[i];
                req.platform = NULL;
                sched_place(&req, &no_policy, &n, 1, &res);
                assert_int_equal(res.outcome, SCHED_PLACED);
                req.platform = "";
                sched_place(&req, &no_policy, &n, 1, &res);
                assert_int_equal(res.outcome, SCHED_PLACED);
                req.platform = platforms[i];
                sched_place(&req, &no_policy, &n, 1, &res);
                assert_int_equal(res.outcome, SCHED_PLACED);
        }
}

static void test_microvm_gpu_rule(void **state)
{
        struct sched_request req = request_of(ISOLATION_MICROVM);
        struct sched_node qemu = qemu_node("q"), fc = fc_node("f");
        struct sched_result res;

        (void)state;
        req.gpus = 1;
        qemu.gpus = fc.gpus = 2;
        /* GPUs are there, but the provider did not declare a microVM GPU path */
        assert_removed_by(&req, &no_policy, &qemu, FILTER_MICROVM_GPU, SCHED_INSUFFICIENT_CAPACITY);
        qemu.microvm_gpu = true;
        sched_place(&req, &no_policy, &qemu, 1, &res);
        assert_int_equal(res.outcome, SCHED_PLACED);
        /* Firecracker has no PCI passthrough, whatever the node declares */
        assert_removed_by(&req, &no_policy, &fc, FILTER_MICROVM_GPU, SCHED_INSUFFICIENT_CAPACITY);
        fc.microvm_gpu = true;
        assert_removed_by(&req, &no_policy, &fc, FILTER_MICROVM_GPU, SCHED_INSUFFICIENT_CAPACITY);
        /* a microVM without GPUs does not need the path */
        req.gpus = 0;
        fc.microvm_gpu = false;
        sched_place(&req, &no_policy, &fc, 1, &res);
        assert_int_equal(res.outcome, SCHED_PLACED);
}

/* A node that serves GPU containers does not thereby serve GPU microVMs,
 * and GPU containers need no declared microVM path. */
static void test_gpu_containers_vs_microvm(void **state)
{
        struct sched_request container = request_of(ISOLATION_CONTAINER);
        struct sched_node docker = docker_node("d");
        struct sched_result res;

        (void)state;
        container.gpus = 2;
        docker.gpus = 2;
        sched_place(&container, &no_policy, &docker, 1, &res);
        assert_int_equal(res.outcome, SCHED_PLACED);
        docker.used_gpus = 1;
        assert_removed_by(&container, &no_policy, &docker, FILTER_GPUS,
                          SCHED_INSUFFICIENT_CAPACITY);
}

/* A node offering other devices, or none, is removed by device_unavailable,
 * with the capacity/generic message (it never names a class). */
static void test_device_unavailable(void **state)
{
        struct runtime_policy none = {0};
        struct sched_request req = request_of(ISOLATION_CONTAINER);
        struct sched_node n = docker_node("d");
        struct sched_result res;
        char msg[256];

        (void)state;
        req.devices = "/dev/fuse";
        assert_removed_by(&req, &none, &n, FILTER_DEVICES, SCHED_INSUFFICIENT_CAPACITY);
        n.devices = "/dev/kvm";
        assert_removed_by(&req, &none, &n, FILTER_DEVICES, SCHED_INSUFFICIENT_CAPACITY);
        sched_place(&req, &none, &n, 1, &res);
        message_of(&res, ISOLATION_CONTAINER, msg, sizeof(msg));
        assert_string_equal(msg, "no nodes available in subnet 100000000001 with sufficient "
                                 "capacity and generic requirements");
        n.devices = "/dev/kvm,/dev/fuse";
        sched_place(&req, &none, &n, 1, &res);
        assert_int_equal(res.outcome, SCHED_PLACED);
        /* a workload asking for none fits a node offering some */
        req.devices = NULL;
        sched_place(&req, &none, &n, 1, &res);
        assert_int_equal(res.outcome, SCHED_PLACED);
}

static void test_insufficient_gpus(void **state)
{
        struct sched_request req = request_of(ISOLATION_MICROVM);
        struct sched_node qemu = qemu_node("q");

        (void)state;
        req.gpus = 2;
        qemu.microvm_gpu = true;
        qemu.gpus = 1;
        assert_removed_by(&req, &no_policy, &qemu, FILTER_GPUS, SCHED_INSUFFICIENT_CAPACITY);
}

static void test_insufficient_cpu(void **state)
{
        struct sched_request req = request_of(ISOLATION_CONTAINER);
        struct sched_node n = docker_node("d");
        struct sched_result res;

        (void)state;
        n.used_cpu_milli = 3600;
        assert_removed_by(&req, &no_policy, &n, FILTER_CPU, SCHED_INSUFFICIENT_CAPACITY);
        n.used_cpu_milli = 3500; /* exactly what is left fits */
        sched_place(&req, &no_policy, &n, 1, &res);
        assert_int_equal(res.outcome, SCHED_PLACED);
}

static void test_insufficient_memory(void **state)
{
        struct sched_request req = request_of(ISOLATION_CONTAINER);
        struct sched_node n = docker_node("d");
        struct sched_result res;

        (void)state;
        n.used_memory_bytes = 8 * GiB - 255 * MiB;
        assert_removed_by(&req, &no_policy, &n, FILTER_MEMORY, SCHED_INSUFFICIENT_CAPACITY);
        n.used_memory_bytes = 8 * GiB - 256 * MiB;
        sched_place(&req, &no_policy, &n, 1, &res);
        assert_int_equal(res.outcome, SCHED_PLACED);
}

/* The overhead (250m; 160Mi QEMU, 130Mi Firecracker) is counted for
 * microVMs and only for them. */
static void test_overhead_counted_for_microvm(void **state)
{
        struct sched_request microvm = request_of(ISOLATION_MICROVM);
        struct sched_request container = request_of(ISOLATION_CONTAINER);
        struct sched_node qemu = qemu_node("q"), fc = fc_node("f"), docker = docker_node("d");
        struct sched_result res;

        (void)state;
        /* CPU: 500m + 250m */
        qemu.cpu_milli = docker.cpu_milli = 700;
        assert_removed_by(&microvm, &no_policy, &qemu, FILTER_CPU, SCHED_INSUFFICIENT_CAPACITY);
        sched_place(&container, &no_policy, &docker, 1, &res);
        assert_int_equal(res.outcome, SCHED_PLACED);
        qemu.cpu_milli = 750;
        sched_place(&microvm, &no_policy, &qemu, 1, &res);
        assert_int_equal(res.outcome, SCHED_PLACED);

        /* memory: 256Mi + 160Mi on QEMU, + 130Mi on Firecracker */
        qemu.memory_bytes = fc.memory_bytes = 400 * MiB;
        assert_removed_by(&microvm, &no_policy, &qemu, FILTER_MEMORY, SCHED_INSUFFICIENT_CAPACITY);
        sched_place(&microvm, &no_policy, &fc, 1, &res);
        assert_int_equal(res.outcome, SCHED_PLACED);
        qemu.memory_bytes = 416 * MiB;
        sched_place(&microvm, &no_policy, &qemu, 1, &res);
        assert_int_equal(res.outcome, SCHED_PLACED);
        fc.memory_bytes = 385 * MiB;
        assert_removed_by(&microvm, &no_policy, &fc, FILTER_MEMORY, SCHED_INSUFFICIENT_CAPACITY);
}

static void test_account_adds_and_removes_overhead(void **state)
{
        struct sched_request microvm = request_of(ISOLATION_MICROVM);
        struct sched_request container = request_of(ISOLATION_CONTAINER);
        struct sched_node qemu = qemu_node("q"), fc = fc_node("f"), docker = docker_node("d");

        (void)state;
        microvm.gpus = 1;
        sched_account(&qemu, &microvm, 1);
        assert_int_equal(qemu.used_cpu_milli, 750);
        assert_int_equal(qemu.used_memory_bytes, 416 * MiB);
        assert_int_equal(qemu.used_gpus, 1);
        sched_account(&fc, &microvm, 1);
        assert_int_equal(fc.used_cpu_milli, 750);
        assert_int_equal(fc.used_memory_bytes, 386 * MiB);
        sched_account(&docker, &container, 1);
        assert_int_equal(docker.used_cpu_milli, 500);
        assert_int_equal(docker.used_memory_bytes, 256 * MiB);
        sched_account(&qemu, &microvm, -1);
        sched_account(&fc, &microvm, -1);
        sched_account(&docker, &container, -1);
        assert_int_equal(qemu.used_cpu_milli + qemu.used_memory_bytes + qemu.used_gpus, 0);
        assert_int_equal(fc.used_cpu_milli + fc.used_memory_bytes + fc.used_gpus, 0);
        assert_int_equal(docker.used_cpu_milli + docker.used_memory_bytes, 0);
}

/* A microVM asking for all of int64_t's memory (refused at admission since;
 * here straight to the scheduler) neither fits a 1 GiB node nor leaves its
 * accounting negative: the sums saturate instead of wrapping. */
static void test_huge_request_does_not_wrap(void **state)
{
        struct sched_request microvm = request_of(ISOLATION_MICROVM);
        struct sched_node qemu = qemu_node("q");
        struct sched_result res;

        (void)state;
        qemu.memory_bytes = 1024 * MiB;
        microvm.memory_bytes = INT64_MAX;
        sched_place(&microvm, &no_policy, &qemu, 1, &res);
        assert_int_equal(res.outcome, SCHED_INSUFFICIENT_CAPACITY);
        assert_int_equal(res.filtered[FILTER_MEMORY], 1);
        sched_account(&qemu, &microvm, 1);
        assert_true(qemu.used_memory_bytes > 0);
        sched_account(&qemu, &microvm, 1);
        assert_int_equal(qemu.used_memory_bytes, INT64_MAX);
        microvm.memory_bytes = 256 * MiB;
        sched_place(&microvm, &no_policy, &qemu, 1, &res);
        assert_int_equal(res.outcome, SCHED_INSUFFICIENT_CAPACITY);
}

/* A node is counted by the first filter that removes it, so one node
 * failing several checks is counted once, and the counts add up. */
static void test_first_filter_counts_once(void **state)
{
        struct sched_request req = request_of(ISOLATION_MICROVM);
        struct sched_node n = docker_node("d");

        (void)state;
        n.admitted = false;
        n.healthy = false;
        n.runtime_ready = false;
        n.platform = "linux/s390x";
        n.cpu_milli = 0;
        req.platform = "linux/amd64";
        assert_removed_by(&req, &no_policy, &n, FILTER_ADMISSION, SCHED_NO_COMPATIBLE_NODES);
        n.admitted = true;
        assert_removed_by(&req, &no_policy, &n, FILTER_HEALTH, SCHED_NO_COMPATIBLE_NODES);
        n.healthy = true;
        assert_removed_by(&req, &no_policy, &n, FILTER_RUNTIME_READY, SCHED_NO_COMPATIBLE_NODES);
        n.runtime_ready = true;
        assert_removed_by(&req, &no_policy, &n, FILTER_ISOLATION_CLASS, SCHED_NO_COMPATIBLE_NODES);
}

static void test_counts_add_up(void **state)
{
        struct runtime_policy qemu_only = {.set = true,
                                           .allowed_classes = ISOLATION_BIT(ISOLATION_MICROVM),
                                           .allowed_backends = VMM_BIT(VMM_QEMU)};
        struct sched_request req = request_of(ISOLATION_MICROVM);
        struct sched_node nodes[13];
        struct sched_result res;
        size_t i;

        (void)state;
        for (i = 0; i < NELEM(nodes); i++)
                nodes[i] = qemu_node("q");
        req.platform = "linux/amd64";
        req.gpus = 1;
        req.devices = "/dev/vdb";
        for (i = 0; i < NELEM(nodes); i++) {
                nodes[i].microvm_gpu = true;
                nodes[i].gpus = 1;
                nodes[i].devices = "/dev/vda,/dev/vdb";
        }
        nodes[0].admitted = false;
        nodes[1].healthy = false;
        nodes[2].runtime_ready = false;
        nodes[3] = docker_node("d");
        nodes[4] = fc_node("f");
        nodes[5].platform = "linux/arm64";
        nodes[6].microvm_gpu = false;
        nodes[7].devices = "/dev/vda";
        nodes[8].used_cpu_milli = 4000;
        nodes[9].used_memory_bytes = 8 * GiB;
        nodes[10].used_gpus = 1;
        nodes[11].admitted = false; /* a second removal by the same filter */
        /* nodes[12] fits */
        sched_place(&req, &qemu_only, nodes, NELEM(nodes), &res);
        assert_int_equal(res.outcome, SCHED_PLACED);
        assert_int_equal(res.node, 12);
        assert_int_equal(res.evaluated, NELEM(nodes));
        assert_int_equal(res.filtered[FILTER_ADMISSION], 2);
        for (int f = FILTER_HEALTH; f < FILTER__COUNT; f++)
                assert_int_equal(res.filtered[f], 1);
        assert_int_equal(filtered_total(&res) + 1, res.evaluated);

        /* without the fitting node, every node is accounted for */
        sched_place(&req, &qemu_only, nodes, NELEM(nodes) - 1, &res);
        assert_int_equal(res.outcome, SCHED_INSUFFICIENT_CAPACITY);
        assert_int_equal(res.node, -1);
        assert_int_equal(filtered_total(&res), res.evaluated);
        assert_int_equal(res.evaluated, NELEM(nodes) - 1);

        /* only the compatibility failures: no compatible node */
        sched_place(&req, &qemu_only, nodes, 5, &res);
        assert_int_equal(res.outcome, SCHED_NO_COMPATIBLE_NODES);
        assert_int_equal(filtered_total(&res), 5);
}

static void test_no_nodes(void **state)
{
        struct sched_request req = request_of(ISOLATION_MICROVM);
        struct sched_result res;
        char msg[256];

        (void)state;
        sched_place(&req, &no_policy, NULL, 0, &res);
        assert_int_equal(res.outcome, SCHED_NO_COMPATIBLE_NODES);
        assert_int_equal(res.node, -1);
        assert_int_equal(res.evaluated, 0);
        assert_int_equal(filtered_total(&res), 0);
        message_of(&res, ISOLATION_MICROVM, msg, sizeof(msg));
        assert_string_equal(msg, MSG_MICROVM);
}

static void test_messages(void **state)
{
        struct sched_request req = request_of(ISOLATION_MICROVM);
        struct sched_node docker = docker_node("d"), qemu = qemu_node("q");
        struct sched_result res;
        char msg[256];

        (void)state;
        /* only container capacity: the microvm message */
        sched_place(&req, &no_policy, &docker, 1, &res);
        assert_int_equal(res.outcome, SCHED_NO_COMPATIBLE_NODES);
        message_of(&res, ISOLATION_MICROVM, msg, sizeof(msg));
        assert_string_equal(msg, MSG_MICROVM);
        assert_string_equal(msg, "no available nodes in subnet 100000000001 support requested "
                                 "isolation class microvm");

        /* a compatible node that is full: the capacity message, no class */
        qemu.used_memory_bytes = qemu.memory_bytes;
        sched_place(&req, &no_policy, &qemu, 1, &res);
        assert_int_equal(res.outcome, SCHED_INSUFFICIENT_CAPACITY);
        message_of(&res, ISOLATION_MICROVM, msg, sizeof(msg));
        assert_string_equal(msg, MSG_CAPACITY);
        assert_null(strstr(msg, "microvm"));
        assert_null(strstr(msg, "container"));
        assert_null(strstr(msg, "isolation"));
        message_of(&res, ISOLATION_CONTAINER, msg, sizeof(msg));
        assert_string_equal(msg, MSG_CAPACITY);

        /* placed: no message */
        qemu.used_memory_bytes = 0;
        sched_place(&req, &no_policy, &qemu, 1, &res);
        assert_int_equal(res.outcome, SCHED_PLACED);
        memset(msg, 'x', sizeof(msg));
        message_of(&res, ISOLATION_MICROVM, msg, sizeof(msg));
        assert_string_equal(msg, "");

        /* the message constants are the documented text */
        snprintf(msg, sizeof(msg), MSG_NO_CAPACITY, SUBNET);
        assert_string_equal(msg, MSG_CAPACITY);
        snprintf(msg, sizeof(msg), MSG_NO_COMPATIBLE_NODES, SUBNET, "microvm");
        assert_string_equal(msg, MSG_MICROVM);
}

/* A mix of compatible-but-full nodes and incompatible ones is a capacity
 * problem: some node could run this runtime. */
static void test_mixed_is_capacity(void **state)
{
        struct sched_request req = request_of(ISOLATION_MICROVM);
        struct sched_node nodes[] = {docker_node("d"), qemu_node("q"), fc_node("f")};
        struct sched_result res;

        (void)state;
        nodes[1].used_cpu_milli = 4000;
        nodes[2].platform = "linux/arm64";
        req.platform = "linux/amd64";
        sched_place(&req, &no_policy, nodes, NELEM(nodes), &res);
        assert_int_equal(res.outcome, SCHED_INSUFFICIENT_CAPACITY);
        assert_int_equal(res.filtered[FILTER_ISOLATION_CLASS], 1);
        assert_int_equal(res.filtered[FILTER_CPU], 1);
        assert_int_equal(res.filtered[FILTER_PLATFORM], 1);
}

static void test_least_allocated(void **state)
{
        struct sched_request req = request_of(ISOLATION_CONTAINER);
        struct sched_node nodes[] = {docker_node("busy"), docker_node("idle"), docker_node("half")};
        struct sched_result res;

        (void)state;
        nodes[0].used_cpu_milli = 3000;
        nodes[2].used_cpu_milli = 2000;
        sched_place(&req, &no_policy, nodes, NELEM(nodes), &res);
        assert_int_equal(res.outcome, SCHED_PLACED);
        assert_int_equal(res.node, 1);

        /* the scarcest resource decides: memory-heavy node loses */
        nodes[1].used_memory_bytes = 7 * GiB;
        sched_place(&req, &no_policy, nodes, NELEM(nodes), &res);
        assert_int_equal(res.node, 2);

        /* a bigger node with the same use is emptier */
        nodes[1] = docker_node("idle");
        nodes[1].used_cpu_milli = 2000;
        nodes[2].cpu_milli = 16000;
        nodes[2].memory_bytes = 32 * GiB;
        sched_place(&req, &no_policy, nodes, NELEM(nodes), &res);
        assert_int_equal(res.node, 2);

        /* ties go to the lower index */
        struct sched_node same[] = {docker_node("a"), docker_node("b"), docker_node("c")};
        sched_place(&req, &no_policy, same, NELEM(same), &res);
        assert_int_equal(res.node, 0);
        same[0].used_cpu_milli = 100;
        sched_place(&req, &no_policy, same, NELEM(same), &res);
        assert_int_equal(res.node, 1);
}

/* Placing one after another with sched_account spreads the workloads
 * instead of piling them on the first node. */
static void test_spreads_with_accounting(void **state)
{
        struct sched_request req = request_of(ISOLATION_MICROVM);
        struct sched_node nodes[] = {qemu_node("a"), qemu_node("b"), qemu_node("c")};
        struct sched_result res;
        int count[3] = {0};

        (void)state;
        for (int i = 0; i < 9; i++) {
                sched_place(&req, &no_policy, nodes, NELEM(nodes), &res);
                assert_int_equal(res.outcome, SCHED_PLACED);
                count[res.node]++;
                sched_account(&nodes[res.node], &req, 1);
        }
        assert_int_equal(count[0], 3);
        assert_int_equal(count[1], 3);
        assert_int_equal(count[2], 3);
        assert_int_equal(nodes[0].used_cpu_milli, 3 * 750);
}

/* ---- a reference model on many generated cases ------------------------- */

static uint32_t rng_state = 12345;

static uint32_t rnd(uint32_t n)
{
        rng_state = rng_state * 1103515245u + 12345u;
        return (rng_state >> 16) % n;
}

static bool model_compatible(const struct sched_node *n, const struct sched_request *r,
                             const struct runtime_policy *p)
{
        if (!n->admitted || n->ineligible || !n->healthy || !n->runtime_ready ||
            n->isolation != r->isolation)
                return false;
        if (r->isolation == ISOLATION_MICROVM && p->allowed_backends &&
            !(p->allowed_backends & VMM_BIT(n->backend)))
                return false;
        return true;
}

static bool model_fits(const struct sched_node *n, const struct sched_request *r,
                       const struct runtime_policy *p)
{
        int64_t oh_cpu = 0, oh_mem = 0;

        if (!model_compatible(n, r, p))
                return false;
        if (r->platform && *r->platform && strcmp(r->platform, n->platform) != 0)
                return false;
        if (r->isolation == ISOLATION_MICROVM) {
                oh_cpu = 250;
                oh_mem = (n->backend == VMM_FIRECRACKER ? 130 : 160) * MiB;
                if (r->gpus > 0 && (!n->microvm_gpu || n->backend != VMM_QEMU))
                        return false;
        }
        return n->cpu_milli - n->used_cpu_milli >= r->cpu_milli + oh_cpu &&
               n->memory_bytes - n->used_memory_bytes >= r->memory_bytes + oh_mem &&
               n->gpus - n->used_gpus >= r->gpus;
}

static struct sched_node random_node(void)
{
        static const char *const platforms[] = {"linux/amd64", "linux/arm64"};
        struct sched_node n;

        switch (rnd(4)) {
        case 0:
                n = docker_node("d");
                break;
        case 1:
                n = docker_node("r");
                break;
        case 2:
                n = qemu_node("q");
                break;
        default:
                n = fc_node("f");
                break;
        }
        n.admitted = rnd(8) != 0;
        n.ineligible = rnd(8) == 0;
        n.healthy = rnd(8) != 0;
        n.runtime_ready = rnd(8) != 0;
        n.platform = platforms[rnd(2)];
        n.microvm_gpu = rnd(2);
        n.cpu_milli = 500 + 250 * (int64_t)rnd(12);
        n.memory_bytes = 256 * MiB * (1 + (int64_t)rnd(8));
        n.gpus = (int)rnd(3);
        n.used_cpu_milli = n.cpu_milli * (int64_t)rnd(4) / 4;
        n.used_memory_bytes = n.memory_bytes * (int64_t)rnd(4) / 4;
        n.used_gpus = n.gpus ? (int)rnd((uint32_t)n.gpus + 1) : 0;
        return n;
}

static void test_against_model(void **state)
{
        static const char *const platforms[] = {NULL, "", "linux/amd64", "linux/arm64"};
        static const unsigned backend_sets[] = {0, VMM_BIT(VMM_QEMU), VMM_BIT(VMM_FIRECRACKER),
                                                VMM_BIT(VMM_QEMU) | VMM_BIT(VMM_FIRECRACKER)};
        size_t outcomes[3] = {0};

        (void)state;
        for (int iter = 0; iter < 20000; iter++) {
                struct sched_node nodes[8];
                size_t n = rnd(9), compatible = 0, fitting = 0;
                struct runtime_policy pol = {.set = true,
                                             .allowed_classes = ISOLATION_BIT(ISOLATION_CONTAINER) |
                                                                ISOLATION_BIT(ISOLATION_MICROVM),
                                             .allowed_backends = backend_sets[rnd(4)]};
                struct sched_request req =
                    request_of(rnd(2) ? ISOLATION_MICROVM : ISOLATION_CONTAINER);
                struct sched_result res;

                req.platform = platforms[rnd(4)];
                req.cpu_milli = 100 + 100 * (int64_t)rnd(10);
                req.memory_bytes = 64 * MiB * (1 + (int64_t)rnd(8));
                req.gpus = rnd(3) == 0 ? (int)rnd(3) : 0;
                for (size_t i = 0; i < n; i++) {
                        nodes[i] = random_node();
                        compatible += model_compatible(&nodes[i], &req, &pol);
                        fitting += model_fits(&nodes[i], &req, &pol);
                }
                sched_place(&req, &pol, nodes, n, &res);
                outcomes[res.outcome]++;
                assert_int_equal(res.evaluated, n);
                if (fitting) {
                        assert_int_equal(res.outcome, SCHED_PLACED);
                        assert_true(res.node >= 0 && (size_t)res.node < n);
                        assert_true(model_fits(&nodes[res.node], &req, &pol));
                        assert_int_equal(nodes[res.node].isolation, req.isolation);
                        assert_int_equal(filtered_total(&res) + fitting, n);
                } else {
                        assert_int_equal(res.node, -1);
                        assert_int_equal(res.outcome, compatible ? SCHED_INSUFFICIENT_CAPACITY
                                                                 : SCHED_NO_COMPATIBLE_NODES);
                        assert_int_equal(filtered_total(&res), n);
                }
        }
        /* the generator reaches every outcome */
        for (int o = 0; o < 3; o++)
                assert_true(outcomes[o] > 100);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_filter_codes),
            cmocka_unit_test(test_node_not_admitted),
            cmocka_unit_test(test_node_ineligible),
            cmocka_unit_test(test_node_view_of_a_record),
            cmocka_unit_test(test_node_down),
            cmocka_unit_test(test_runtime_not_ready),
            cmocka_unit_test(test_isolation_class_mismatch),
            cmocka_unit_test(test_vmm_backend_not_allowed),
            cmocka_unit_test(test_class_not_allowed_by_policy),
            cmocka_unit_test(test_platform_mismatch),
            cmocka_unit_test(test_no_platform_fits_any),
            cmocka_unit_test(test_microvm_gpu_rule),
            cmocka_unit_test(test_gpu_containers_vs_microvm),
            cmocka_unit_test(test_insufficient_gpus),
            cmocka_unit_test(test_device_unavailable),
            cmocka_unit_test(test_insufficient_cpu),
            cmocka_unit_test(test_insufficient_memory),
            cmocka_unit_test(test_overhead_counted_for_microvm),
            cmocka_unit_test(test_account_adds_and_removes_overhead),
            cmocka_unit_test(test_huge_request_does_not_wrap),
            cmocka_unit_test(test_first_filter_counts_once),
            cmocka_unit_test(test_counts_add_up),
            cmocka_unit_test(test_no_nodes),
            cmocka_unit_test(test_messages),
            cmocka_unit_test(test_mixed_is_capacity),
            cmocka_unit_test(test_least_allocated),
            cmocka_unit_test(test_spreads_with_accounting),
            cmocka_unit_test(test_against_model),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
