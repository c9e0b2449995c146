/* The workload lifecycle, pure: which phase may follow which, on which
 * event, with which status message and which event record. Every phase
 * change the server makes is one row of this table (server/lifecycle.c
 * applies it); nothing else decides a phase. No I/O. */
#ifndef IDYL_LIFECYCLE_H
#define IDYL_LIFECYCLE_H

#include <stdbool.h>

#include "core/workload.h"
#include "util/err.h"

#define PHASE_BIT(p) (1u << (p))

/* What happens to a workload. */
enum lifecycle_event {
        LIFE_ADMIT = 0,        /* a deploy admitted a new revision (from any phase) */
        LIFE_HOLD,             /* the subnet requires deploy approval */
        LIFE_APPROVE,          /* an operator approved it */
        LIFE_DENY,             /* an operator denied it */
        LIFE_PLACE,            /* the scheduler placed it on a node */
        LIFE_UNSCHEDULABLE,    /* the scheduler found no node: it keeps waiting */
        LIFE_POLICY_REJECT,    /* the subnet's policy no longer admits its class */
        LIFE_NODE_LOST,        /* its node went down, was revoked or removed */
        LIFE_MIGRATE,          /* its node drains: stopped there, to be placed again */
        LIFE_REPORT_SCHEDULED, /* its node reports it... */
        LIFE_REPORT_RUNNING,
        LIFE_REPORT_EXITED,
        LIFE_REPORT_FAILED,
        LIFE__COUNT
};

/* When a step appends its event record to the workload's history. */
enum lifecycle_record {
        RECORD_ALWAYS = 0,
        RECORD_IF_PHASE_CHANGED,   /* a repeated report is not news */
        RECORD_IF_MESSAGE_CHANGED, /* a repeated "why it waits" is not news */
};

/* What the server does besides the store write, once the change commits. */
enum lifecycle_effect {
        EFFECT_KICK = 1 << 0,    /* the scheduler looks at the subnet: there is work */
        EFFECT_UNPLACE = 1 << 1, /* the node and runtime profile are cleared */
        EFFECT_NODE = 1 << 2,    /* the node's assignment set changed: wake its long-poll */
};

struct lifecycle_step {
        enum workload_phase next;
        const char *record; /* event record type: "Scheduled", ...; never NULL */
        enum lifecycle_record when;
        const char *message;       /* the status message; NULL: the caller gives it */
        const char *event_message; /* the record's message; NULL: the status message */
        unsigned effects;          /* lifecycle_effect bits */
};

/* The step `event` makes from `phase`: 0 with *out filled, or -1 with
 * IDYL_E_CONFLICT (`workload event "approve" cannot happen in phase running`) when the
 * table has no such transition; *out is then untouched. */
int lifecycle_step(enum workload_phase phase, enum lifecycle_event event,
                   struct lifecycle_step *out, struct idyl_err *err);

/* Whether `event` may happen in `phase`. */
bool lifecycle_allows(enum workload_phase phase, enum lifecycle_event event);

/* Whether the step appends its record, given the phase it left and the old
 * and new status messages. */
bool lifecycle_records(const struct lifecycle_step *step, enum workload_phase from,
                       const char *old_message, const char *new_message);

/* "admit", "hold", ...; "unknown" out of range. */
const char *lifecycle_event_name(enum lifecycle_event event);

/* The report event for a phase a node may report (scheduled, running,
 * exited, failed); -1 for any other phase. */
int lifecycle_report_event(enum workload_phase reported);

#endif
