/* Why a workload waits, or where it went, from the scheduler's stored
 * placement metrics: each filter with the nodes it removed (and a few of
 * their names), the resource that ran out, and what would let it place.
 * Pure; no I/O (core/explain.c). */
#ifndef IDYL_EXPLAIN_H
#define IDYL_EXPLAIN_H

#include <jansson.h>

#include "core/workload.h"

/* What the explanation is about; strings borrowed. */
struct explain_subject {
        const char *name;
        const char *subnet; /* 12-digit slug */
        enum workload_phase phase;
        enum isolation_class isolation; /* effective */
        const char *platform;           /* "" for any */
        const char *node;               /* "" until placed */
        const char *message;            /* the workload's status message */
};

/* A new object {"phase", "outcome", "evaluated", "node", "filters":
 * [{"code", "removed", "nodes": [...]}], "exhausted", "hint"} from the
 * placement metrics (`placement` may be NULL: the scheduler has not looked). */
json_t *placement_explain(const struct explain_subject *s, const json_t *placement);

#endif
