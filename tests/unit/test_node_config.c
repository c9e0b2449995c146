/* Proves agent/node_config.c: what `idyl node join` writes to node.json is
 * what the agent reads back, with its mode, defaults and errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/node_config.h"

/* One directory for the group; each test starts without a node.json. */
static char dir[64];

static void remove_config(void)
{
        char path[128];

        snprintf(path, sizeof(path), "%s/node.json", dir);
        unlink(path);
}

static int setup(void **state)
{
        (void)state;
        snprintf(dir, sizeof(dir), "/tmp/idyl-node-config-XXXXXX");
        return mkdtemp(dir) ? 0 : -1;
}

static int fresh(void **state)
{
        (void)state;
        remove_config();
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        remove_config();
        return rmdir(dir);
}

static json_t *join_answer(void)
{
        return json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s},s:{s:s,s:s,s:i}}", "name", "n1",
                         "credential", "idyl_node_secret", "platform", "linux/amd64", "runtime",
                         "provider", "containerd", "handler", "io.containerd.kata-qemu.v2",
                         "isolationClass", "microvm", "vmmBackend", "qemu", "capacity", "cpu",
                         "1500m", "memory", "1Gi", "gpus", 1);
}

static void test_round_trip(void **state)
{
        json_t *answer = join_answer();
        struct node_config_new n = {.addr = "https://cp:7480",
                                    .subnet = "s-abc",
                                    .joined = answer,
                                    .cni_conf_dir = "/tmp/cni",
                                    .offer = true};
        struct idyl_err err = IDYL_ERR_INIT;
        struct agent_config c;
        char path[128];
        struct stat st;

        (void)state;
        assert_int_equal(node_config_save(dir, &n, &err), 0);
        snprintf(path, sizeof(path), "%s/node.json", dir);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(node_config_load(dir, &c, &err), 0);
        assert_string_equal(c.dir, dir);
        assert_string_equal(c.addr, "https://cp:7480");
        assert_string_equal(c.subnet, "s-abc");
        assert_string_equal(c.name, "n1");
        assert_string_equal(c.credential, "idyl_node_secret");
        assert_string_equal(c.provider, "containerd");
        assert_string_equal(c.handler, "io.containerd.kata-qemu.v2");
        assert_string_equal(c.profile, "");
        assert_string_equal(c.cni_conf_dir, "/tmp/cni");
        assert_string_equal(c.cni_bin_dir, "");
        /* no endpoint given: containerd's usual socket */
        assert_string_equal(c.endpoint, "unix:///run/containerd/containerd.sock");
        assert_int_equal(c.isolation, ISOLATION_MICROVM);
        assert_int_equal(c.backend, VMM_QEMU);
        assert_int_equal(c.offer_cpu_milli, 1500);
        assert_int_equal(c.offer_memory, 1LL << 30);
        assert_int_equal(c.offer_gpus, 1);
        json_decref(answer);
}

/* Without --cpu/--memory/--gpus the node offers all it has: -1. */
static void test_no_offer(void **state)
{
        json_t *answer = join_answer();
        struct node_config_new n = {.addr = "http://cp:7480",
                                    .subnet = "s-abc",
                                    .joined = answer,
                                    .endpoint = "unix:///tmp/docker.sock"};
        struct idyl_err err = IDYL_ERR_INIT;
        struct agent_config c;

        (void)state;
        assert_int_equal(node_config_save(dir, &n, &err), 0);
        assert_int_equal(node_config_load(dir, &c, &err), 0);
        assert_string_equal(c.ca, "");
        assert_string_equal(c.endpoint, "unix:///tmp/docker.sock");
        assert_int_equal(c.offer_cpu_milli, -1);
        assert_int_equal(c.offer_memory, -1);
        assert_int_equal(c.offer_gpus, -1);
        json_decref(answer);
}

static void test_missing(void **state)
{
        struct idyl_err err = IDYL_ERR_INIT;
        struct agent_config c;
        char want[256];

        (void)state;
        assert_int_equal(node_config_load(dir, &c, &err), -1);
        assert_int_equal(err.code, IDYL_E_NOT_FOUND);
        snprintf(want, sizeof(want), "no node configuration in %s (", dir);
        assert_memory_equal(err.msg, want, strlen(want));
        assert_non_null(strstr(err.msg, "); run `idyl node join` first"));
}

/* An answer without a credential writes nothing. */
static void test_bad_answer(void **state)
{
        json_t *answer = join_answer();
        struct node_config_new n = {.addr = "http://cp:7480", .subnet = "s-abc", .joined = answer};
        struct idyl_err err = IDYL_ERR_INIT;
        char path[128];

        (void)state;
        json_object_del(answer, "credential");
        assert_int_equal(node_config_save(dir, &n, &err), -1);
        assert_string_equal(err.msg, "idyld's join answer lacks the node's name, credential, "
                                     "runtime or platform");
        snprintf(path, sizeof(path), "%s/node.json", dir);
        assert_int_equal(access(path, F_OK), -1);
        json_decref(answer);
}

static void test_bad_field(void **state)
{
        struct idyl_err err = IDYL_ERR_INIT;
        struct agent_config c;
        char path[128], want[256];
        FILE *f;

        (void)state;
        snprintf(path, sizeof(path), "%s/node.json", dir);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs("{\"addr\":\"http://cp\",\"subnet\":\"s-abc\",\"name\":\"n1\"}", f);
        fclose(f);
        assert_int_equal(node_config_load(dir, &c, &err), -1);
        assert_int_equal(err.code, IDYL_E_INVALID);
        snprintf(want, sizeof(want), "%s: field \"credential\" is missing", path);
        assert_string_equal(err.msg, want);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup(test_round_trip, fresh),
            cmocka_unit_test_setup(test_no_offer, fresh),
            cmocka_unit_test_setup(test_missing, fresh),
            cmocka_unit_test_setup(test_bad_answer, fresh),
            cmocka_unit_test_setup(test_bad_field, fresh),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
