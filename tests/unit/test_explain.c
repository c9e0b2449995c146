/* Proves core/explain.c: filters listed in chain order with their counts
 * and names, the deciding filter's hint (a capacity filter names the
 * exhausted resource; a generic requirement decides over compatibility
 * filters once compatible nodes exist), and the hints that come from the
 * phase: approval, rejection, placed, no nodes, not looked at yet. Also
 * that the examples sched_place records are the first nodes each filter
 * removed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/explain.h"
#include "core/sched.h"

#define SUBNET "100000000001"

static struct explain_subject pending(void)
{
        return (struct explain_subject){.name = "web",
                                        .subnet = SUBNET,
                                        .phase = PHASE_PENDING,
                                        .isolation = ISOLATION_CONTAINER,
                                        .platform = "",
                                        .node = "",
                                        .message = "waiting"};
}

static json_t *explain_text(const struct explain_subject *s, const char *placement)
{
        json_t *p = placement ? json_loads(placement, 0, NULL) : NULL;
        json_t *out = placement_explain(s, p);

        json_decref(p);
        return out;
}

static const char *str(const json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

static void test_capacity_names_the_exhausted_resource(void **state)
{
        struct explain_subject s = pending();
        json_t *e = explain_text(
            &s, "{\"nodesEvaluated\":7,\"outcome\":\"insufficient_capacity\",\"filtered\":"
                "{\"insufficient_memory\":2,\"isolation_class_mismatch\":2,\"insufficient_cpu\":3},"
                "\"examples\":{\"insufficient_cpu\":[\"a\",\"b\",\"c\"],\"insufficient_memory\":"
                "[\"d\",\"e\"],\"isolation_class_mismatch\":[\"vm-0\",\"vm-1\"]}}");
        char *filters = json_dumps(json_object_get(e, "filters"), JSON_COMPACT);

        (void)state;
        /* chain order, not the order of the stored object */
        assert_string_equal(filters,
                            "[{\"code\":\"isolation_class_mismatch\",\"removed\":2,\"nodes\":"
                            "[\"vm-0\",\"vm-1\"]},{\"code\":\"insufficient_cpu\",\"removed\":3,"
                            "\"nodes\":[\"a\",\"b\",\"c\"]},{\"code\":\"insufficient_memory\","
                            "\"removed\":2,\"nodes\":[\"d\",\"e\"]}]");
        assert_string_equal(str(e, "exhausted"), "cpu");
        assert_string_equal(str(e, "hint"),
                            "free CPU (delete workloads or deploy them smaller), "
                            "join nodes to subnet " SUBNET ", or ask for less --cpu");
        assert_int_equal(json_integer_value(json_object_get(e, "evaluated")), 7);
        assert_true(json_is_null(json_object_get(e, "node")));
        free(filters);
        json_decref(e);
}

static void test_generic_requirement_decides_without_exhausting(void **state)
{
        struct explain_subject s = pending();
        json_t *e;

        (void)state;
        s.platform = "linux/arm64";
        e = explain_text(&s, "{\"nodesEvaluated\":3,\"outcome\":\"insufficient_capacity\","
                             "\"filtered\":{\"node_down\":2,\"platform_mismatch\":1}}");
        assert_true(json_is_null(json_object_get(e, "exhausted")));
        assert_string_equal(str(e, "hint"), "join a node of platform linux/arm64 to subnet " SUBNET
                                            ", or deploy without --platform");
        /* no examples stored: an empty list, the count stays */
        assert_int_equal(json_array_size(json_object_get(
                             json_array_get(json_object_get(e, "filters"), 0), "nodes")),
                         0);
        json_decref(e);
}

static void test_no_compatible_nodes_takes_the_largest_compatibility_filter(void **state)
{
        struct explain_subject s = pending();
        json_t *e;

        (void)state;
        s.isolation = ISOLATION_MICROVM;
        e = explain_text(&s,
                         "{\"nodesEvaluated\":5,\"outcome\":\"no_compatible_nodes\","
                         "\"filtered\":{\"node_not_admitted\":1,\"isolation_class_mismatch\":4}}");
        assert_true(json_is_null(json_object_get(e, "exhausted")));
        assert_string_equal(str(e, "outcome"), "no_compatible_nodes");
        assert_string_equal(str(e, "hint"), "join a node whose runtime gives isolation class "
                                            "microvm to subnet " SUBNET
                                            ", or deploy with another --isolation-class the "
                                            "subnet allows");
        json_decref(e);
        e = explain_text(&s, "{\"nodesEvaluated\":2,\"outcome\":\"no_compatible_nodes\","
                             "\"filtered\":{\"node_not_admitted\":2}}");
        assert_string_equal(str(e, "hint"),
                            "admit the waiting nodes: idyl node admit NAME --subnet " SUBNET);
        json_decref(e);
        e = explain_text(&s, "{\"nodesEvaluated\":3,\"outcome\":\"no_compatible_nodes\","
                             "\"filtered\":{\"node_ineligible\":2,\"node_down\":1},"
                             "\"examples\":{\"node_ineligible\":[\"a\",\"b\"]}}");
        assert_string_equal(str(e, "hint"), "the nodes are ineligible (an operator disabled them, "
                                            "or they drain): idyl node eligibility NAME --enable "
                                            "--subnet " SUBNET);
        assert_string_equal(str(json_array_get(json_object_get(e, "filters"), 0), "code"),
                            "node_ineligible");
        json_decref(e);
}

static void test_hints_from_the_phase(void **state)
{
        struct explain_subject s = pending();
        json_t *e;

        (void)state;
        e = explain_text(&s, NULL);
        assert_string_equal(str(e, "hint"), "the scheduler has not looked at it yet");
        assert_int_equal(json_array_size(json_object_get(e, "filters")), 0);
        json_decref(e);
        e = explain_text(&s, "{\"nodesEvaluated\":0,\"outcome\":\"no_compatible_nodes\","
                             "\"filtered\":{}}");
        assert_string_equal(str(e, "hint"), "subnet " SUBNET " has no nodes: join one with idyl "
                                            "node join --subnet " SUBNET);
        json_decref(e);
        s.phase = PHASE_AWAITING_APPROVAL;
        e = explain_text(&s, NULL);
        assert_string_equal(str(e, "hint"), "an operator must approve it: idyl workload approve "
                                            "web --subnet " SUBNET);
        json_decref(e);
        s.phase = PHASE_REJECTED;
        s.message = "denied by an operator";
        e = explain_text(&s, NULL);
        assert_string_equal(str(e, "hint"),
                            "it was rejected: denied by an operator; deploy it again once that "
                            "changes");
        json_decref(e);
        s.phase = PHASE_RUNNING;
        s.node = "n1";
        e = explain_text(&s, "{\"nodesEvaluated\":3,\"outcome\":\"placed\",\"filtered\":"
                             "{\"insufficient_cpu\":2},\"node\":\"n1\"}");
        assert_string_equal(str(e, "hint"), "placed on node n1");
        assert_string_equal(str(e, "node"), "n1");
        assert_true(json_is_null(json_object_get(e, "exhausted")));
        assert_int_equal(json_array_size(json_object_get(e, "filters")), 1);
        json_decref(e);
}

/* sched_place keeps the first SCHED_EXAMPLES nodes each filter removed. */
static void test_sched_records_examples(void **state)
{
        struct sched_node nodes[6];
        struct sched_request req = {.isolation = ISOLATION_CONTAINER, .cpu_milli = 8000};
        struct runtime_policy policy = {0};
        struct sched_result res;
        static const char *const names[] = {"a", "b", "c", "d", "e", "f"};

        (void)state;
        for (size_t i = 0; i < 6; i++)
                nodes[i] = (struct sched_node){.name = names[i],
                                               .admitted = i != 1,
                                               .healthy = true,
                                               .runtime_ready = true,
                                               .isolation = ISOLATION_CONTAINER,
                                               .platform = "linux/amd64",
                                               .cpu_milli = 4000,
                                               .memory_bytes = 1LL << 33};
        sched_place(&req, &policy, nodes, 6, &res);
        assert_int_equal(res.filtered[FILTER_ADMISSION], 1);
        assert_int_equal(res.examples[FILTER_ADMISSION][0], 1);
        assert_int_equal(res.filtered[FILTER_CPU], 5);
        assert_int_equal(res.examples[FILTER_CPU][0], 0);
        assert_int_equal(res.examples[FILTER_CPU][1], 2);
        assert_int_equal(res.examples[FILTER_CPU][2], 3);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_capacity_names_the_exhausted_resource),
            cmocka_unit_test(test_generic_requirement_decides_without_exhausting),
            cmocka_unit_test(test_no_compatible_nodes_takes_the_largest_compatibility_filter),
            cmocka_unit_test(test_hints_from_the_phase),
            cmocka_unit_test(test_sched_records_examples),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
