/* Turns placement metrics into an explanation. Each filter has a hint: what
 * an operator or author can do about the nodes it removed. The hint shown
 * is that of the filter that decided: when compatible nodes lacked capacity
 * or a generic requirement, the one of those filters that removed the most
 * (a capacity filter names the exhausted resource), otherwise the
 * compatibility filter that removed the most. */
#include "core/explain.h"

#include <stdio.h>
#include <string.h>

#include "core/sched.h"

#define HINT_MAX 512

/* By filter; %1 is the subnet, %2 the class or platform. A filter added to
 * sched.h without a line here explains itself by the workload's message. */
static const struct {
        const char *exhausted; /* the resource, for capacity filters */
        const char *hint;
} filter_hints[FILTER__COUNT] = {
    [FILTER_ADMISSION] = {NULL, "admit the waiting nodes: idyl node admit NAME --subnet %s"},
    [FILTER_ELIGIBILITY] = {NULL, "the nodes are ineligible (an operator disabled them, or they "
                                  "drain): idyl node eligibility NAME --enable --subnet %s"},
    [FILTER_HEALTH] = {NULL, "the nodes are down: start their agents again, or join other nodes "
                             "to subnet %s"},
    [FILTER_RUNTIME_READY] = {NULL, "the nodes' runtime is not ready: `idyl node status` on each "
                                    "node names the failing check"},
    [FILTER_ISOLATION_CLASS] = {NULL, "join a node whose runtime gives isolation class %2$s to "
                                      "subnet %1$s, or deploy with another --isolation-class the "
                                      "subnet allows"},
    [FILTER_VMM_BACKEND] = {NULL, "the subnet's policy does not allow these nodes' VMM backend: "
                                  "join a node with an allowed backend to subnet %s, or allow it "
                                  "with idyl subnet edit"},
    [FILTER_PLATFORM] = {NULL, "join a node of platform %2$s to subnet %1$s, or deploy without "
                               "--platform"},
    [FILTER_MICROVM_GPU] = {NULL, "GPUs in a microVM need a QEMU node with validated passthrough "
                                  "(--microvm-gpu) in subnet %s"},
    [FILTER_DEVICES] = {NULL, "join a node that offers the requested devices to subnet %s, or "
                              "deploy without those --device"},
    [FILTER_CPU] = {"cpu", "free CPU (delete workloads or deploy them smaller), join nodes to "
                           "subnet %s, or ask for less --cpu"},
    [FILTER_MEMORY] = {"memory", "free memory (delete workloads or deploy them smaller), join "
                                 "nodes to subnet %s, or ask for less --memory"},
    [FILTER_GPUS] = {"gpus", "join nodes with free GPUs to subnet %s, or ask for fewer --gpus"},
};

static size_t filter_removed(const json_t *placement, enum sched_filter f)
{
        const json_t *v =
            json_object_get(json_object_get(placement, "filtered"), sched_filter_code(f));

        return json_is_integer(v) && json_integer_value(v) > 0 ? (size_t)json_integer_value(v) : 0;
}

static json_t *filter_nodes(const json_t *placement, enum sched_filter f)
{
        const json_t *names =
            json_object_get(json_object_get(placement, "examples"), sched_filter_code(f));

        return json_is_array(names) ? json_deep_copy(names) : json_array();
}

/* The filter whose hint applies: the largest remover among the generic
 * requirement and capacity filters when those left nothing, else among the
 * compatibility filters. -1: none. */
static int deciding_filter(const json_t *placement, bool capacity)
{
        size_t best = 0;
        int which = -1;

        for (int f = 0; f < FILTER__COUNT; f++) {
                size_t n = filter_removed(placement, (enum sched_filter)f);

                if ((f >= FILTER_FIRST_GENERIC) != capacity || n <= best)
                        continue;
                best = n;
                which = f;
        }
        return which;
}

/* The hint when the metrics do not decide it: by phase. */
static void phase_hint(const struct explain_subject *s, const json_t *placement, char *buf)
{
        switch (s->phase) {
        case PHASE_AWAITING_APPROVAL:
                snprintf(buf, HINT_MAX,
                         "an operator must approve it: idyl workload approve %s "
                         "--subnet %s",
                         s->name, s->subnet);
                return;
        case PHASE_REJECTED:
                snprintf(buf, HINT_MAX, "it was rejected: %s; deploy it again once that changes",
                         s->message);
                return;
        default:
                break;
        }
        if (s->node[0])
                snprintf(buf, HINT_MAX, "placed on node %s", s->node);
        else if (!placement)
                snprintf(buf, HINT_MAX, "the scheduler has not looked at it yet");
        else if (json_integer_value(json_object_get(placement, "nodesEvaluated")) == 0)
                snprintf(buf, HINT_MAX,
                         "subnet %s has no nodes: join one with idyl node join --subnet %s",
                         s->subnet, s->subnet);
        else
                snprintf(buf, HINT_MAX, "%s", s->message);
}

json_t *placement_explain(const struct explain_subject *s, const json_t *placement)
{
        const char *outcome = json_string_value(json_object_get(placement, "outcome"));
        bool capacity = outcome && strcmp(outcome, "insufficient_capacity") == 0;
        json_t *filters = json_array();
        char hint[HINT_MAX] = "";
        int decide = -1;

        for (int f = 0; f < FILTER__COUNT; f++) {
                size_t n = filter_removed(placement, (enum sched_filter)f);

                if (n)
                        json_array_append_new(
                            filters, json_pack("{s:s,s:I,s:o}", "code",
                                               sched_filter_code((enum sched_filter)f), "removed",
                                               (json_int_t)n, "nodes",
                                               filter_nodes(placement, (enum sched_filter)f)));
        }
        if (!s->node[0] && workload_phase_unplaced(s->phase) && placement &&
            s->phase != PHASE_AWAITING_APPROVAL)
                decide = deciding_filter(placement, capacity);
        if (decide >= 0 && filter_hints[decide].hint)
                snprintf(hint, sizeof(hint), filter_hints[decide].hint, s->subnet,
                         decide == FILTER_PLATFORM ? s->platform
                                                   : isolation_class_name(s->isolation));
        else
                phase_hint(s, placement, hint);
        return json_pack(
            "{s:s,s:s?,s:I,s:s?,s:o,s:s?,s:s}", "phase", workload_phase_name(s->phase), "outcome",
            outcome, "evaluated",
            (json_int_t)json_integer_value(json_object_get(placement, "nodesEvaluated")), "node",
            s->node[0] ? s->node : NULL, "filters", filters, "exhausted",
            capacity && decide >= 0 ? filter_hints[decide].exhausted : NULL, "hint", hint);
}
