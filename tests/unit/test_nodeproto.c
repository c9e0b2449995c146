/* Proves core/nodeproto.c: the join and heartbeat bodies the CLI, the agent
 * and idyl-sim send, field for field, against JSON written out here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/nodeproto.h"

/* Fails with both texts when got differs from the JSON text want. */
static void assert_json(json_t *got, const char *want)
{
        json_error_t jerr;
        json_t *w = json_loads(want, 0, &jerr);
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);

        assert_non_null(w);
        assert_non_null(g);
        if (!json_equal(got, w))
                fail_msg("got %s\nwant %s", g, want);
        free(g);
        json_decref(w);
        json_decref(got);
}

static void test_join_profile(void **state)
{
        const char *devices[] = {"/dev/fuse", "/dev/loop0"};
        struct nodeproto_join j = {
            .name = "n1",
            .platform = "linux/amd64",
            .runtime = {.profile = "docker-runc", .ready = false, .reason = "not running"},
            .capacity = {2000, 1LL << 30, 1},
            .devices = devices,
            .ndevices = 2,
            .microvm_gpu = true,
        };

        (void)state;
        assert_json(nodeproto_join_body(&j),
                    "{\"name\":\"n1\",\"platform\":\"linux/amd64\","
                    "\"runtime\":{\"ready\":false,\"reason\":\"not running\","
                    "\"profile\":\"docker-runc\"},"
                    "\"capacity\":{\"cpu\":\"2000m\",\"memory\":1073741824,\"gpus\":1},"
                    "\"microvmGPU\":true,\"devices\":[\"/dev/fuse\",\"/dev/loop0\"]}");
}

static void test_join_provider_simulated(void **state)
{
        struct nodeproto_join j = {
            .name = "sim-0",
            .platform = "linux/arm64",
            .runtime = {.provider = "containerd",
                        .handler = "io.containerd.kata.v2",
                        .ready = true},
            .capacity = {500, 256LL << 20, 0},
            .simulated = true,
        };

        (void)state;
        assert_json(nodeproto_join_body(&j),
                    "{\"name\":\"sim-0\",\"platform\":\"linux/arm64\","
                    "\"runtime\":{\"ready\":true,\"reason\":\"\",\"provider\":\"containerd\","
                    "\"handler\":\"io.containerd.kata.v2\"},"
                    "\"capacity\":{\"cpu\":\"500m\",\"memory\":268435456,\"gpus\":0},"
                    "\"microvmGPU\":false,\"devices\":[],\"simulated\":true}");
}

/* A handler without a provider is not sent: profiles carry their own. */
static void test_join_handler_needs_provider(void **state)
{
        struct nodeproto_join j = {.name = "n",
                                   .platform = "linux/amd64",
                                   .runtime = {.profile = "docker-runc", .handler = "x"}};
        json_t *b = nodeproto_join_body(&j);

        (void)state;
        assert_null(json_object_get(json_object_get(b, "runtime"), "handler"));
        json_decref(b);
}

static void test_heartbeat(void **state)
{
        struct nodeproto_report r1 = {"web", 3, "running", 0, ""};
        struct nodeproto_report r2 = {"job", 1, "failed", 2, "exit status 1"};
        struct nodeproto_capacity cap = {1500, 512LL << 20, 0};
        json_t *hb = nodeproto_heartbeat_new(true, NULL);

        (void)state;
        assert_int_equal(nodeproto_heartbeat_add_report(hb, &r1), 0);
        assert_int_equal(nodeproto_heartbeat_add_report(hb, &r2), 0);
        assert_int_equal(nodeproto_heartbeat_set_capacity(hb, &cap), 0);
        assert_int_equal(nodeproto_heartbeat_set_platform(hb, "linux/amd64"), 0);
        assert_json(hb, "{\"runtime\":{\"ready\":true,\"reason\":\"\"},\"workloads\":["
                        "{\"name\":\"web\",\"revision\":3,\"phase\":\"running\",\"restarts\":0,"
                        "\"message\":\"\"},"
                        "{\"name\":\"job\",\"revision\":1,\"phase\":\"failed\",\"restarts\":2,"
                        "\"message\":\"exit status 1\"}],"
                        "\"capacity\":{\"cpu\":\"1500m\",\"memory\":536870912,\"gpus\":0},"
                        "\"platform\":\"linux/amd64\"}");
}

/* An idle, unready node: no reports, no capacity, no platform. */
static void test_heartbeat_minimal(void **state)
{
        json_t *hb = nodeproto_heartbeat_new(false, "docker: connection refused");

        (void)state;
        assert_int_equal(nodeproto_heartbeat_set_platform(hb, ""), 0);
        assert_int_equal(nodeproto_heartbeat_set_platform(hb, NULL), 0);
        assert_json(hb, "{\"runtime\":{\"ready\":false,\"reason\":\"docker: connection "
                        "refused\"},\"workloads\":[]}");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_join_profile),
            cmocka_unit_test(test_join_provider_simulated),
            cmocka_unit_test(test_join_handler_needs_provider),
            cmocka_unit_test(test_heartbeat),
            cmocka_unit_test(test_heartbeat_minimal),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
