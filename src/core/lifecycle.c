/* The workload lifecycle table (lifecycle.h): one row per event, with the
 * phases it may happen in. */
#include "core/lifecycle.h"

#include <string.h>

#include "util/enumname.h"

#define PLACED                                                                                     \
        (PHASE_BIT(PHASE_SCHEDULED) | PHASE_BIT(PHASE_RUNNING) | PHASE_BIT(PHASE_EXITED) |         \
         PHASE_BIT(PHASE_FAILED))
#define WAITING    (PHASE_BIT(PHASE_PENDING) | PHASE_BIT(PHASE_LOST))
#define ANY        (PHASE_BIT(PHASE__COUNT) - 1)
#define SAME_PHASE PHASE__COUNT /* the step keeps the phase it happens in */

static const struct {
        unsigned from; /* PHASE_BIT mask */
        int next;      /* a phase, or SAME_PHASE */
        const char *record;
        enum lifecycle_record when;
        const char *message;
        const char *event_message;
        unsigned effects;
} rules[LIFE__COUNT] = {
    [LIFE_ADMIT] = {ANY, PHASE_PENDING, "Admitted", RECORD_ALWAYS, "waiting for placement", NULL,
                    EFFECT_KICK},
    [LIFE_HOLD] = {PHASE_BIT(PHASE_PENDING), PHASE_AWAITING_APPROVAL, "AwaitingApproval",
                   RECORD_ALWAYS, "waiting for operator approval",
                   "subnet requires deploy approval", 0},
    [LIFE_APPROVE] = {PHASE_BIT(PHASE_AWAITING_APPROVAL), PHASE_PENDING, "Approved", RECORD_ALWAYS,
                      "waiting for placement", NULL, EFFECT_KICK},
    [LIFE_DENY] = {PHASE_BIT(PHASE_AWAITING_APPROVAL), PHASE_REJECTED, "Denied", RECORD_ALWAYS,
                   NULL, NULL, 0},
    [LIFE_PLACE] = {WAITING, PHASE_SCHEDULED, "Scheduled", RECORD_ALWAYS, NULL, NULL, EFFECT_NODE},
    [LIFE_UNSCHEDULABLE] = {WAITING, SAME_PHASE, "Unschedulable", RECORD_IF_MESSAGE_CHANGED, NULL,
                            NULL, 0},
    [LIFE_POLICY_REJECT] = {WAITING | PHASE_BIT(PHASE_AWAITING_APPROVAL), PHASE_REJECTED,
                            "Rejected", RECORD_ALWAYS, NULL, NULL, 0},
    [LIFE_NODE_LOST] = {PLACED, PHASE_LOST, "Lost", RECORD_ALWAYS, NULL, NULL,
                        EFFECT_KICK | EFFECT_UNPLACE | EFFECT_NODE},
    [LIFE_MIGRATE] = {PLACED, PHASE_PENDING, "Migrated", RECORD_ALWAYS, NULL, NULL,
                      EFFECT_KICK | EFFECT_UNPLACE | EFFECT_NODE},
    [LIFE_REPORT_SCHEDULED] = {PLACED, PHASE_SCHEDULED, "Scheduled", RECORD_IF_PHASE_CHANGED, NULL,
                               NULL, 0},
    [LIFE_REPORT_RUNNING] = {PLACED, PHASE_RUNNING, "Running", RECORD_IF_PHASE_CHANGED, NULL, NULL,
                             0},
    [LIFE_REPORT_EXITED] = {PLACED, PHASE_EXITED, "Exited", RECORD_IF_PHASE_CHANGED, NULL, NULL, 0},
    [LIFE_REPORT_FAILED] = {PLACED, PHASE_FAILED, "Failed", RECORD_IF_PHASE_CHANGED, NULL, NULL, 0},
};

static const char *const event_names[LIFE__COUNT] = {
    [LIFE_ADMIT] = "admit",
    [LIFE_HOLD] = "hold",
    [LIFE_APPROVE] = "approve",
    [LIFE_DENY] = "deny",
    [LIFE_PLACE] = "place",
    [LIFE_UNSCHEDULABLE] = "unschedulable",
    [LIFE_POLICY_REJECT] = "policy-reject",
    [LIFE_NODE_LOST] = "node-lost",
    [LIFE_MIGRATE] = "migrate",
    [LIFE_REPORT_SCHEDULED] = "report-scheduled",
    [LIFE_REPORT_RUNNING] = "report-running",
    [LIFE_REPORT_EXITED] = "report-exited",
    [LIFE_REPORT_FAILED] = "report-failed",
};

const char *lifecycle_event_name(enum lifecycle_event event)
{
        return enum_name(event_names, LIFE__COUNT, (int)event, "unknown");
}

bool lifecycle_allows(enum workload_phase phase, enum lifecycle_event event)
{
        if ((int)phase < 0 || phase >= PHASE__COUNT || (int)event < 0 || event >= LIFE__COUNT)
                return false;
        return (rules[event].from & PHASE_BIT(phase)) != 0;
}

int lifecycle_step(enum workload_phase phase, enum lifecycle_event event,
                   struct lifecycle_step *out, struct idyl_err *err)
{
        if (!lifecycle_allows(phase, event))
                return idyl_err_set(err, IDYL_E_CONFLICT,
                                    "workload event \"%s\" cannot happen in phase %s",
                                    lifecycle_event_name(event), workload_phase_name(phase));
        out->next =
            rules[event].next == SAME_PHASE ? phase : (enum workload_phase)rules[event].next;
        out->record = rules[event].record;
        out->when = rules[event].when;
        out->message = rules[event].message;
        out->event_message = rules[event].event_message;
        out->effects = rules[event].effects;
        return 0;
}

bool lifecycle_records(const struct lifecycle_step *step, enum workload_phase from,
                       const char *old_message, const char *new_message)
{
        switch (step->when) {
        case RECORD_ALWAYS:
                return true;
        case RECORD_IF_PHASE_CHANGED:
                return step->next != from;
        case RECORD_IF_MESSAGE_CHANGED:
                return strcmp(old_message ? old_message : "", new_message ? new_message : "") != 0;
        }
        return true;
}

int lifecycle_report_event(enum workload_phase reported)
{
        switch (reported) {
        case PHASE_SCHEDULED:
                return LIFE_REPORT_SCHEDULED;
        case PHASE_RUNNING:
                return LIFE_REPORT_RUNNING;
        case PHASE_EXITED:
                return LIFE_REPORT_EXITED;
        case PHASE_FAILED:
                return LIFE_REPORT_FAILED;
        default:
                return -1;
        }
}
