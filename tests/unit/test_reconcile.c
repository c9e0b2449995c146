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

/* One planning round: the desired entries, the instances the runtime has,
 * and what rc_plan() answered. Tests fill `e` and `a`, then call plan_at(). */
struct plan {
        struct rc_entry e[2];
        size_t n_entries;
        struct rt_instance a[3];
        size_t n_instances;
        struct rc_action acts[5]; /* room for every entry and instance */
        int64_t next;
};

/* A round with one desired workload `name` at revision `rev` and no instance. */
static struct plan plan_one(const char *name, int64_t rev)
{
        struct plan p = {.n_entries = 1};

        p.e[0] = entry(name, rev);
        return p;
}

static void plan_add(struct plan *p, struct rt_instance i)
{
        assert_true(p->n_instances < sizeof(p->a) / sizeof(p->a[0]));
        p->a[p->n_instances++] = i;
}

/* Runs rc_plan() at `now_ms`, starting from no wake-up, and returns the
 * number of actions. */
static size_t plan_at(struct plan *p, int64_t now_ms)
{
        p->next = 0;
        return rc_plan(p->e, p->n_entries, p->n_instances ? p->a : NULL, p->n_instances, now_ms,
                       p->acts, &p->next);
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
        struct plan p = plan_one("web", 1);

        (void)state;
        assert_int_equal(plan_at(&p, 1000), 1);
        assert_int_equal(p.acts[0].kind, RC_RUN);
        assert_int_equal(p.acts[0].entry, 0);
        assert_int_equal(p.next, 0);
}

static void test_running_instance_is_adopted(void **state)
{
        struct plan p = plan_one("web", 1);

        (void)state;
        plan_add(&p, inst("c1", "web", 1, RT_RUNNING));
        assert_int_equal(plan_at(&p, 1000), 0);
        assert_int_equal(p.e[0].phase, PHASE_RUNNING);
        assert_int_equal(p.e[0].restarts, 0);
}

static void test_unassigned_and_old_revisions_are_removed(void **state)
{
        struct plan p = plan_one("web", 2);

        (void)state;
        plan_add(&p, inst("old", "web", 1, RT_RUNNING));
        plan_add(&p, inst("other", "db", 1, RT_RUNNING));
        assert_int_equal(plan_at(&p, 1000), 3);
        assert_int_equal(p.acts[0].kind, RC_REMOVE);
        assert_int_equal(p.acts[0].inst, 0);
        assert_int_equal(p.acts[1].kind, RC_REMOVE);
        assert_int_equal(p.acts[1].inst, 1);
        assert_int_equal(p.acts[2].kind, RC_RUN);
}

static void test_duplicates_keep_the_running_one(void **state)
{
        struct plan p = plan_one("web", 1);

        (void)state;
        plan_add(&p, inst("dead", "web", 1, RT_EXITED));
        plan_add(&p, inst("live", "web", 1, RT_RUNNING));
        assert_int_equal(plan_at(&p, 1000), 1);
        assert_int_equal(p.acts[0].kind, RC_REMOVE);
        assert_string_equal(p.a[p.acts[0].inst].id, "dead");
        assert_int_equal(p.e[0].phase, PHASE_RUNNING);
}

static void test_exit_waits_out_the_back_off_then_restarts(void **state)
{
        struct plan p = plan_one("web", 1);

        (void)state;
        plan_add(&p, inst("c1", "web", 1, RT_EXITED));
        p.e[0].phase = PHASE_RUNNING;
        p.a[0].exit_code = 137;
        p.a[0].ran_ms = 500;
        assert_int_equal(plan_at(&p, 10000), 0);
        assert_int_equal(p.e[0].phase, PHASE_EXITED);
        assert_string_equal(p.e[0].message, "exited with code 137; restarting in 1s");
        assert_int_equal(p.next, 11000);
        /* before the back-off ends nothing happens, and the exit is not seen twice */
        assert_int_equal(plan_at(&p, 10500), 0);
        assert_int_equal(p.next, 11000);
        assert_int_equal(plan_at(&p, 11000), 1);
        assert_int_equal(p.acts[0].kind, RC_RESTART);
        rc_started(&p.e[0], true);
        assert_int_equal(p.e[0].restarts, 1);
        assert_int_equal(p.e[0].phase, PHASE_RUNNING);
        /* the next quick exit waits twice as long */
        plan_at(&p, 12000);
        assert_int_equal(p.next, 14000);
        assert_string_equal(p.e[0].message, "exited with code 137; restarting in 2s");
}

static void test_long_run_resets_the_back_off(void **state)
{
        struct plan p = plan_one("web", 1);

        (void)state;
        plan_add(&p, inst("c1", "web", 1, RT_EXITED));
        p.e[0].phase = PHASE_RUNNING;
        p.e[0].backoff_level = 5;
        p.a[0].ran_ms = BACKOFF_RESET_MS;
        plan_at(&p, 0);
        assert_int_equal(p.next, 1000);
}

static void test_failed_start_retries_with_back_off(void **state)
{
        struct plan p = plan_one("web", 1);

        (void)state;
        rc_failed(&p.e[0], 5000, "pull image x: not found");
        assert_int_equal(p.e[0].phase, PHASE_FAILED);
        assert_string_equal(p.e[0].message, "pull image x: not found");
        assert_int_equal(plan_at(&p, 5500), 0);
        assert_int_equal(p.next, 6000);
        assert_int_equal(plan_at(&p, 6000), 1);
        assert_int_equal(p.acts[0].kind, RC_RUN);
}

static void test_refused_workload_never_runs(void **state)
{
        struct plan p = plan_one("vm", 1);

        (void)state;
        plan_add(&p, inst("c1", "vm", 1, RT_RUNNING));
        strcpy(p.e[0].refuse, "isolation class microvm cannot run on this node");
        /* not run, and an instance of it (there should be none) is removed */
        assert_int_equal(plan_at(&p, 0), 1);
        assert_int_equal(p.acts[0].kind, RC_REMOVE);
        assert_int_equal(p.e[0].phase, PHASE_FAILED);
        assert_string_equal(p.e[0].message, "isolation class microvm cannot run on this node");
}

static void test_created_instance_is_started_without_counting(void **state)
{
        struct plan p = plan_one("web", 1);

        (void)state;
        plan_add(&p, inst("c1", "web", 1, RT_CREATED));
        assert_int_equal(plan_at(&p, 0), 1);
        assert_int_equal(p.acts[0].kind, RC_RESTART);
        rc_started(&p.e[0], p.a[0].state == RT_EXITED);
        assert_int_equal(p.e[0].restarts, 0);
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
