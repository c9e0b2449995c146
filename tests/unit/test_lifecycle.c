/* Proves core/lifecycle.c exhaustively: for every phase and every event,
 * whether the transition exists, the phase it leads to, its event record,
 * its status message and its effects, against a table written out here
 * independently of the one in the module. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/lifecycle.h"

#define NO -1 /* the event cannot happen in that phase */

/* expected[event]: one letter per phase, in phase order (awaiting-approval
 * pending scheduled running exited failed rejected lost stopped), naming the
 * next phase by the same letters (A P S R E F J L T), or '.' when the event
 * cannot happen in that phase. */
static const char *const expected[LIFE__COUNT] = {
    [LIFE_ADMIT] = "PPPPPPPPP",          [LIFE_HOLD] = ".A.......",
    [LIFE_APPROVE] = "P........",        [LIFE_DENY] = "J........",
    [LIFE_PLACE] = ".S.....S.",          [LIFE_UNSCHEDULABLE] = ".P.....L.",
    [LIFE_POLICY_REJECT] = "JJ.....J.",  [LIFE_NODE_LOST] = "..LLLL...",
    [LIFE_MIGRATE] = "..PPPP...",        [LIFE_REPORT_SCHEDULED] = "..SSSS...",
    [LIFE_REPORT_RUNNING] = "..RRRR...", [LIFE_REPORT_EXITED] = "..EEEE...",
    [LIFE_REPORT_FAILED] = "..FFFF...",
};

/* The phase expected[event] names for `from`, or NO. */
static int expected_next(int event, int from)
{
        static const char letters[PHASE__COUNT + 1] = "APSREFJLT";
        const char *hit = strchr(letters, expected[event][from]);

        assert_int_equal(strlen(expected[event]), PHASE__COUNT);
        return expected[event][from] == '.' || !hit ? NO : (int)(hit - letters);
}

static const struct {
        const char *name, *record, *message, *event_message;
        enum lifecycle_record when;
        unsigned effects;
} expected_step[LIFE__COUNT] = {
    [LIFE_ADMIT] = {"admit", "Admitted", "waiting for placement", NULL, RECORD_ALWAYS, EFFECT_KICK},
    [LIFE_HOLD] = {"hold", "AwaitingApproval", "waiting for operator approval",
                   "subnet requires deploy approval", RECORD_ALWAYS, 0},
    [LIFE_APPROVE] = {"approve", "Approved", "waiting for placement", NULL, RECORD_ALWAYS,
                      EFFECT_KICK},
    [LIFE_DENY] = {"deny", "Denied", NULL, NULL, RECORD_ALWAYS, 0},
    [LIFE_PLACE] = {"place", "Scheduled", NULL, NULL, RECORD_ALWAYS, EFFECT_NODE},
    [LIFE_UNSCHEDULABLE] = {"unschedulable", "Unschedulable", NULL, NULL, RECORD_IF_MESSAGE_CHANGED,
                            0},
    [LIFE_POLICY_REJECT] = {"policy-reject", "Rejected", NULL, NULL, RECORD_ALWAYS, 0},
    [LIFE_NODE_LOST] = {"node-lost", "Lost", NULL, NULL, RECORD_ALWAYS,
                        EFFECT_KICK | EFFECT_UNPLACE | EFFECT_NODE},
    [LIFE_MIGRATE] = {"migrate", "Migrated", NULL, NULL, RECORD_ALWAYS,
                      EFFECT_KICK | EFFECT_UNPLACE | EFFECT_NODE},
    [LIFE_REPORT_SCHEDULED] = {"report-scheduled", "Scheduled", NULL, NULL, RECORD_IF_PHASE_CHANGED,
                               0},
    [LIFE_REPORT_RUNNING] = {"report-running", "Running", NULL, NULL, RECORD_IF_PHASE_CHANGED, 0},
    [LIFE_REPORT_EXITED] = {"report-exited", "Exited", NULL, NULL, RECORD_IF_PHASE_CHANGED, 0},
    [LIFE_REPORT_FAILED] = {"report-failed", "Failed", NULL, NULL, RECORD_IF_PHASE_CHANGED, 0},
};

static void assert_text(const char *got, const char *want)
{
        if (!want)
                assert_null(got);
        else
                assert_string_equal(got, want);
}

static void test_every_phase_and_event(void **state)
{
        size_t allowed = 0;

        (void)state;
        for (int e = 0; e < LIFE__COUNT; e++) {
                for (int p = 0; p < PHASE__COUNT; p++) {
                        struct lifecycle_step step = {.next = PHASE__COUNT};
                        struct idyl_err err = IDYL_ERR_INIT;
                        int rc = lifecycle_step((enum workload_phase)p, (enum lifecycle_event)e,
                                                &step, &err);

                        assert_int_equal(
                            lifecycle_allows((enum workload_phase)p, (enum lifecycle_event)e),
                            expected_next(e, p) != NO);
                        if (expected_next(e, p) == NO) {
                                char want[160];

                                assert_int_equal(rc, -1);
                                assert_int_equal(err.code, IDYL_E_CONFLICT);
                                snprintf(want, sizeof(want),
                                         "workload event \"%s\" cannot happen in phase %s",
                                         expected_step[e].name,
                                         workload_phase_name((enum workload_phase)p));
                                assert_string_equal(err.msg, want);
                                assert_int_equal(step.next, PHASE__COUNT); /* untouched */
                                continue;
                        }
                        allowed++;
                        assert_int_equal(rc, 0);
                        assert_int_equal(step.next, expected_next(e, p));
                        assert_string_equal(step.record, expected_step[e].record);
                        assert_text(step.message, expected_step[e].message);
                        assert_text(step.event_message, expected_step[e].event_message);
                        assert_int_equal(step.when, expected_step[e].when);
                        assert_int_equal(step.effects, expected_step[e].effects);
                }
        }
        assert_int_equal(allowed, 9 + 1 + 1 + 1 + 2 + 2 + 3 + 4 + 4 + 4 * 4);
}

/* Rejected and stopped are terminal but for a new revision; a placed
 * workload leaves its node only by being lost, migrated off a draining
 * node, or a new revision. */
static void test_terminal_phases(void **state)
{
        (void)state;
        for (int e = 0; e < LIFE__COUNT; e++) {
                bool out = e == LIFE_ADMIT;

                assert_int_equal(lifecycle_allows(PHASE_REJECTED, (enum lifecycle_event)e), out);
                assert_int_equal(lifecycle_allows(PHASE_STOPPED, (enum lifecycle_event)e), out);
        }
}

static void test_out_of_range(void **state)
{
        struct lifecycle_step step;
        struct idyl_err err = IDYL_ERR_INIT;

        (void)state;
        assert_false(lifecycle_allows(PHASE__COUNT, LIFE_ADMIT));
        assert_false(lifecycle_allows(PHASE_PENDING, LIFE__COUNT));
        assert_false(lifecycle_allows((enum workload_phase) - 1, LIFE_ADMIT));
        assert_int_equal(lifecycle_step(PHASE_PENDING, LIFE__COUNT, &step, &err), -1);
        assert_string_equal(lifecycle_event_name(LIFE__COUNT), "unknown");
        assert_string_equal(lifecycle_event_name((enum lifecycle_event) - 1), "unknown");
}

static void test_records(void **state)
{
        struct lifecycle_step step;
        struct idyl_err err = IDYL_ERR_INIT;

        (void)state;
        /* always */
        assert_int_equal(lifecycle_step(PHASE_PENDING, LIFE_PLACE, &step, &err), 0);
        assert_true(lifecycle_records(&step, PHASE_PENDING, "a", "a"));
        /* a repeated report is not news; a new phase is */
        assert_int_equal(lifecycle_step(PHASE_RUNNING, LIFE_REPORT_RUNNING, &step, &err), 0);
        assert_false(lifecycle_records(&step, PHASE_RUNNING, "", "other message"));
        assert_int_equal(lifecycle_step(PHASE_SCHEDULED, LIFE_REPORT_RUNNING, &step, &err), 0);
        assert_true(lifecycle_records(&step, PHASE_SCHEDULED, "", ""));
        /* a repeated reason to wait is not news; a new reason is */
        assert_int_equal(lifecycle_step(PHASE_LOST, LIFE_UNSCHEDULABLE, &step, &err), 0);
        assert_int_equal(step.next, PHASE_LOST);
        assert_false(lifecycle_records(&step, PHASE_LOST, "full", "full"));
        assert_true(lifecycle_records(&step, PHASE_LOST, "node x is down", "full"));
        assert_true(lifecycle_records(&step, PHASE_LOST, NULL, "full"));
        assert_false(lifecycle_records(&step, PHASE_LOST, NULL, ""));
}

static void test_report_events(void **state)
{
        (void)state;
        assert_int_equal(lifecycle_report_event(PHASE_SCHEDULED), LIFE_REPORT_SCHEDULED);
        assert_int_equal(lifecycle_report_event(PHASE_RUNNING), LIFE_REPORT_RUNNING);
        assert_int_equal(lifecycle_report_event(PHASE_EXITED), LIFE_REPORT_EXITED);
        assert_int_equal(lifecycle_report_event(PHASE_FAILED), LIFE_REPORT_FAILED);
        for (int p = 0; p < PHASE__COUNT; p++) {
                int e = lifecycle_report_event((enum workload_phase)p);

                if (e < 0)
                        continue;
                /* a node reports only what it runs, and the report names its phase */
                assert_int_equal(expected_next(e, PHASE_RUNNING), p);
        }
        assert_int_equal(lifecycle_report_event(PHASE_PENDING), -1);
        assert_int_equal(lifecycle_report_event(PHASE_LOST), -1);
        assert_int_equal(lifecycle_report_event(PHASE_REJECTED), -1);
        assert_int_equal(lifecycle_report_event(PHASE_STOPPED), -1);
        assert_int_equal(lifecycle_report_event(PHASE_AWAITING_APPROVAL), -1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_every_phase_and_event), cmocka_unit_test(test_terminal_phases),
            cmocka_unit_test(test_out_of_range),          cmocka_unit_test(test_records),
            cmocka_unit_test(test_report_events),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
