/* Proves core/nodeproto.c: the join and heartbeat bodies the CLI, the agent
 * and idyl-sim send, field for field, against JSON written out here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
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

/* A whole answer at version v from "name:revision" pairs. */
static json_t *whole(json_int_t v, const char *const *pairs, size_t n)
{
        json_t *list = json_array();

        for (size_t i = 0; i < n; i++) {
                char name[32];
                int rev = 0;

                assert_int_equal(sscanf(pairs[i], "%31[^:]:%d", name, &rev), 2);
                json_array_append_new(list, json_pack("{s:s,s:i,s:s,s:{s:s}}", "name", name,
                                                      "revision", rev, "isolationClass",
                                                      "container", "spec", "image", name));
        }
        return json_pack("{s:I,s:o}", "version", v, "workloads", list);
}

/* A change carries new and changed entries and removed names; applied to
 * what the node held it gives the whole set the server has. */
static void test_assignments_delta_round_trip(void **state)
{
        static const char *const before[] = {"web:1", "job:2", "db:1"};
        static const char *const after[] = {"web:2", "db:1", "api:1"};
        json_t *held = whole(4, before, 3), *now = whole(7, after, 3);
        json_t *sent = nodeproto_assignments_index(held), *delta, *applied;

        (void)state;
        delta = nodeproto_assignments_delta(sent, 4, now);
        assert_true(nodeproto_assignments_is_delta(delta));
        assert_false(nodeproto_assignments_is_delta(now));
        assert_int_equal(json_integer_value(json_object_get(delta, "since")), 4);
        assert_int_equal(json_integer_value(json_object_get(delta, "version")), 7);
        assert_int_equal(json_array_size(json_object_get(delta, "workloads")), 2);
        assert_string_equal(json_string_value(json_object_get(
                                json_array_get(json_object_get(delta, "workloads"), 0), "name")),
                            "web");
        assert_string_equal(json_string_value(json_object_get(
                                json_array_get(json_object_get(delta, "workloads"), 1), "name")),
                            "api");
        assert_int_equal(json_array_size(json_object_get(delta, "removed")), 1);
        assert_string_equal(json_string_value(json_array_get(json_object_get(delta, "removed"), 0)),
                            "job");
        applied = nodeproto_assignments_apply(held, delta);
        assert_non_null(applied);
        /* the same set; kept entries first, in held's order */
        assert_json(applied, "{\"version\":7,\"workloads\":["
                             "{\"name\":\"db\",\"revision\":1,\"isolationClass\":\"container\","
                             "\"spec\":{\"image\":\"db\"}},"
                             "{\"name\":\"web\",\"revision\":2,\"isolationClass\":\"container\","
                             "\"spec\":{\"image\":\"web\"}},"
                             "{\"name\":\"api\",\"revision\":1,\"isolationClass\":\"container\","
                             "\"spec\":{\"image\":\"api\"}}]}");
        json_decref(delta);
        json_decref(sent);
        json_decref(held);
        json_decref(now);
}

/* A change that does not follow what the node holds is refused: the node
 * asks for the whole set again. */
static void test_assignments_delta_out_of_step(void **state)
{
        static const char *const set[] = {"web:1"};
        json_t *held = whole(5, set, 1), *now = whole(6, set, 1);
        json_t *sent = nodeproto_assignments_index(held), *delta;

        (void)state;
        delta = nodeproto_assignments_delta(sent, 4, now);
        assert_null(nodeproto_assignments_apply(held, delta));
        assert_null(nodeproto_assignments_apply(NULL, delta));
        json_decref(delta);
        /* nothing changed: an empty change */
        delta = nodeproto_assignments_delta(sent, 5, now);
        assert_int_equal(json_array_size(json_object_get(delta, "workloads")), 0);
        assert_int_equal(json_array_size(json_object_get(delta, "removed")), 0);
        json_decref(delta);
        json_decref(sent);
        json_decref(held);
        json_decref(now);
}

/* The rest of an answer (the subnet's network policy) goes whole in a
 * change, and a change that drops it drops it. */
static void test_assignments_delta_other_fields(void **state)
{
        static const char *const set[] = {"web:1"};
        json_t *held = whole(1, set, 1), *now = whole(2, set, 1);
        json_t *sent = nodeproto_assignments_index(held), *delta, *applied;

        (void)state;
        json_object_set_new(now, "networkPolicy", json_pack("{s:s}", "egress", "none"));
        delta = nodeproto_assignments_delta(sent, 1, now);
        applied = nodeproto_assignments_apply(held, delta);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(applied, "networkPolicy"), "egress")),
            "none");
        assert_null(json_object_get(applied, "since"));
        assert_null(json_object_get(applied, "removed"));
        assert_int_equal(json_array_size(json_object_get(applied, "workloads")), 1);
        json_decref(sent);
        sent = nodeproto_assignments_index(applied);
        json_decref(delta);
        json_object_del(now, "networkPolicy");
        delta = nodeproto_assignments_delta(sent, 2, now);
        json_decref(held);
        held = applied;
        applied = nodeproto_assignments_apply(held, delta);
        assert_null(json_object_get(applied, "networkPolicy"));
        json_decref(applied);
        json_decref(delta);
        json_decref(sent);
        json_decref(held);
        json_decref(now);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_join_profile),
            cmocka_unit_test(test_join_provider_simulated),
            cmocka_unit_test(test_join_handler_needs_provider),
            cmocka_unit_test(test_heartbeat),
            cmocka_unit_test(test_heartbeat_minimal),
            cmocka_unit_test(test_assignments_delta_round_trip),
            cmocka_unit_test(test_assignments_delta_out_of_step),
            cmocka_unit_test(test_assignments_delta_other_fields),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
