/* The agent's reconcile planner: desired vs. actual, adoption, duplicates,
 * restarts with back-off, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/reconcile.h"

static struct rc_entry entry(const char *name, int64_t rev)
{
        struct rc_entry e = {.revision = rev, .phase = PHASE_SCHEDULED};

        strcpy(e.name, name);
        return e;
}

static struct rt_instance inst(const char *id, const char *name, int64_t rev, enum rt_state st)
{
        struct rt_instance i = {.revision = rev, .state = st, .ran_ms = -1};

        strcpy(i.id, id);
        strcpy(i.workload, name);
        return i;
}

static void test_backoff_doubles_to_a_minute(void **state)
{
        (void)state;
        assert_int_equal(rc_backoff_ms(0), 1000);
        assert_int_equal(rc_backoff_ms(1), 2000);
        assert_int_equal(rc_backoff_ms(5), 32000);
        assert_int_equal(rc_backoff_ms(6), 60000);
        assert_int_equal(rc_backoff_ms(40), 60000);
}

static void test_missing_workload_is_run(void **state)
{
        struct rc_entry e[] = {entry("web", 1)};
        struct rc_action acts[2];
        int64_t next = 0;

        (void)state;
        assert_int_equal(rc_plan(e, 1, NULL, 0, 1000, acts, &next), 1);
        assert_int_equal(acts[0].kind, RC_RUN);
        assert_int_equal(acts[0].entry, 0);
        assert_int_equal(next, 0);
}

static void test_running_instance_is_adopted(void **state)
{
        struct rc_entry e[] = {entry("web", 1)};
        struct rt_instance a[] = {inst("c1", "web", 1, RT_RUNNING)};
        struct rc_action acts[2];
        int64_t next = 0;

        (void)state;
        assert_int_equal(rc_plan(e, 1, a, 1, 1000, acts, &next), 0);
        assert_int_equal(e[0].phase, PHASE_RUNNING);
        assert_int_equal(e[0].restarts, 0);
}

static void test_unassigned_and_old_revisions_are_removed(void **state)
{
        struct rc_entry e[] = {entry("web", 2)};
        struct rt_instance a[] = {inst("old", "web", 1, RT_RUNNING),
                                  inst("other", "db", 1, RT_RUNNING)};
        struct rc_action acts[3];
        int64_t next = 0;
        size_t n;

        (void)state;
        n = rc_plan(e, 1, a, 2, 1000, acts, &next);
        assert_int_equal(n, 3);
        assert_int_equal(acts[0].kind, RC_REMOVE);
        assert_int_equal(acts[0].inst, 0);
        assert_int_equal(acts[1].kind, RC_REMOVE);
        assert_int_equal(acts[1].inst, 1);
        assert_int_equal(acts[2].kind, RC_RUN);
}

static void test_duplicates_keep_the_running_one(void **state)
{
        struct rc_entry e[] = {entry("web", 1)};
        struct rt_instance a[] = {inst("dead", "web", 1, RT_EXITED),
                                  inst("live", "web", 1, RT_RUNNING)};
        struct rc_action acts[3];
        int64_t next = 0;

        (void)state;
        assert_int_equal(rc_plan(e, 1, a, 2, 1000, acts, &next), 1);
        assert_int_equal(acts[0].kind, RC_REMOVE);
        assert_string_equal(a[acts[0].inst].id, "dead");
        assert_int_equal(e[0].phase, PHASE_RUNNING);
}

static void test_exit_waits_out_the_back_off_then_restarts(void **state)
{
        struct rc_entry e[] = {entry("web", 1)};
        struct rt_instance a[] = {inst("c1", "web", 1, RT_EXITED)};
        struct rc_action acts[2];
        int64_t next = 0;

        (void)state;
        e[0].phase = PHASE_RUNNING;
        a[0].exit_code = 137;
        a[0].ran_ms = 500;
        assert_int_equal(rc_plan(e, 1, a, 1, 10000, acts, &next), 0);
        assert_int_equal(e[0].phase, PHASE_EXITED);
        assert_string_equal(e[0].message, "exited with code 137; restarting in 1s");
        assert_int_equal(next, 11000);
        /* before the back-off ends nothing happens, and the exit is not seen twice */
        next = 0;
        assert_int_equal(rc_plan(e, 1, a, 1, 10500, acts, &next), 0);
        assert_int_equal(next, 11000);
        assert_int_equal(rc_plan(e, 1, a, 1, 11000, acts, &next), 1);
        assert_int_equal(acts[0].kind, RC_RESTART);
        rc_started(&e[0], true);
        assert_int_equal(e[0].restarts, 1);
        assert_int_equal(e[0].phase, PHASE_RUNNING);
        /* the next quick exit waits twice as long */
        next = 0;
        rc_plan(e, 1, a, 1, 12000, acts, &next);
        assert_int_equal(next, 14000);
        assert_string_equal(e[0].message, "exited with code 137; restarting in 2s");
}

static void test_long_run_resets_the_back_off(void **state)
{
        struct rc_entry e[] = {entry("web", 1)};
        struct rt_instance a[] = {inst("c1", "web", 1, RT_EXITED)};
        struct rc_action acts[2];
        int64_t next = 0;

        (void)state;
        e[0].phase = PHASE_RUNNING;
        e[0].backoff_level = 5;
        a[0].ran_ms = BACKOFF_RESET_MS;
        rc_plan(e, 1, a, 1, 0, acts, &next);
        assert_int_equal(next, 1000);
}

static void test_failed_start_retries_with_back_off(void **state)
{
        struct rc_entry e[] = {entry("web", 1)};
        struct rc_action acts[2];
        int64_t next = 0;

        (void)state;
        rc_failed(&e[0], 5000, "pull image x: not found");
        assert_int_equal(e[0].phase, PHASE_FAILED);
        assert_string_equal(e[0].message, "pull image x: not found");
        assert_int_equal(rc_plan(e, 1, NULL, 0, 5500, acts, &next), 0);
        assert_int_equal(next, 6000);
        assert_int_equal(rc_plan(e, 1, NULL, 0, 6000, acts, &next), 1);
        assert_int_equal(acts[0].kind, RC_RUN);
}

static void test_refused_workload_never_runs(void **state)
{
        struct rc_entry e[] = {entry("vm", 1)};
        struct rt_instance a[] = {inst("c1", "vm", 1, RT_RUNNING)};
        struct rc_action acts[2];
        int64_t next = 0;

        (void)state;
        strcpy(e[0].refuse, "isolation class microvm cannot run on this node");
        /* not run, and an instance of it (there should be none) is removed */
        assert_int_equal(rc_plan(e, 1, a, 1, 0, acts, &next), 1);
        assert_int_equal(acts[0].kind, RC_REMOVE);
        assert_int_equal(e[0].phase, PHASE_FAILED);
        assert_string_equal(e[0].message, "isolation class microvm cannot run on this node");
}

static void test_created_instance_is_started_without_counting(void **state)
{
        struct rc_entry e[] = {entry("web", 1)};
        struct rt_instance a[] = {inst("c1", "web", 1, RT_CREATED)};
        struct rc_action acts[2];
        int64_t next = 0;

        (void)state;
        assert_int_equal(rc_plan(e, 1, a, 1, 0, acts, &next), 1);
        assert_int_equal(acts[0].kind, RC_RESTART);
        rc_started(&e[0], a[0].state == RT_EXITED);
        assert_int_equal(e[0].restarts, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_backoff_doubles_to_a_minute),
            cmocka_unit_test(test_missing_workload_is_run),
            cmocka_unit_test(test_running_instance_is_adopted),
            cmocka_unit_test(test_unassigned_and_old_revisions_are_removed),
            cmocka_unit_test(test_duplicates_keep_the_running_one),
            cmocka_unit_test(test_exit_waits_out_the_back_off_then_restarts),
            cmocka_unit_test(test_long_run_resets_the_back_off),
            cmocka_unit_test(test_failed_start_retries_with_back_off),
            cmocka_unit_test(test_refused_workload_never_runs),
            cmocka_unit_test(test_created_instance_is_started_without_counting),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
