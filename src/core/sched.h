/* The scheduler's decision, pure: a table of filters walked for each node,
 * then a score among the nodes that pass. Counts per filter are kept as
 * Nomad's placement metrics are: each node is counted by the first filter
 * that removes it, so the counts add up to the nodes evaluated. No I/O. */
#ifndef IDYL_SCHED_H
#define IDYL_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/isolation.h"
#include "core/node.h"
#include "core/workload.h"
#include "util/err.h"

/* A node as the scheduler sees it (capacity and what is already used,
 * microVM overheads included). */
struct sched_node {
        const char *name;
        bool admitted;
        bool ineligible;    /* an operator took it out of scheduling (eligibility, drain) */
        bool healthy;       /* heartbeating within the TTL */
        bool runtime_ready; /* the runtime can start work */
        enum isolation_class isolation;
        enum vmm_backend backend;
        const char *platform; /* "linux/amd64" */
        bool microvm_gpu;     /* provider declared a validated microVM GPU path */
        const char *devices;  /* comma-joined device paths it offers; NULL or "": none */
        int64_t cpu_milli, memory_bytes;
        int gpus;
        int64_t used_cpu_milli, used_memory_bytes;
        int used_gpus;
};

struct sched_request {
        enum isolation_class isolation; /* effective class */
        const char *platform;           /* "" or NULL: any */
        int64_t cpu_milli, memory_bytes;
        int gpus;
        const char *devices; /* comma-joined device paths asked for; NULL or "": none */
};

/* The filters, in the order they run. Compatibility filters come first:
 * a node they remove cannot run the workload's runtime at all. */
enum sched_filter {
        FILTER_ADMISSION = 0,
        FILTER_ELIGIBILITY, /* ineligible or draining: no new work */
        FILTER_HEALTH,
        FILTER_RUNTIME_READY,
        FILTER_ISOLATION_CLASS,
        FILTER_VMM_BACKEND,
        /* generic requirements and capacity */
        FILTER_PLATFORM,
        FILTER_MICROVM_GPU,
        FILTER_DEVICES, /* the node offers every device asked for */
        FILTER_CPU,
        FILTER_MEMORY,
        FILTER_GPUS,
        FILTER__COUNT
};

#define FILTER_FIRST_GENERIC FILTER_PLATFORM

enum sched_outcome {
        SCHED_PLACED = 0,
        SCHED_NO_COMPATIBLE_NODES, /* no admitted, healthy node of the right runtime */
        SCHED_INSUFFICIENT_CAPACITY,
        SCHED_NOT_ALLOWED, /* the subnet's policy no longer allows the class: no node looked at */
};

#define SCHED_EXAMPLES 3 /* nodes named per filter, for explanations */

struct sched_result {
        enum sched_outcome outcome;
        long node;                      /* index of the chosen node; -1 when none */
        size_t evaluated;               /* nodes looked at */
        size_t filtered[FILTER__COUNT]; /* nodes removed by each filter */
        /* the first min(filtered[f], SCHED_EXAMPLES) nodes each filter removed */
        size_t examples[FILTER__COUNT][SCHED_EXAMPLES];
};

/* Stable machine-readable codes: "isolation_class_mismatch", ... */
const char *sched_filter_code(enum sched_filter f);
/* "no_compatible_nodes", "insufficient_capacity", "placed",
 * "isolation_class_not_allowed". */
const char *sched_outcome_code(enum sched_outcome o);

/* Chooses a node for `req` among `nodes` in a subnet with `policy`: the
 * policy is enforced here too, not only at admission (a class it does not
 * allow is SCHED_NOT_ALLOWED before any node is evaluated; the backend list
 * is a filter). Least-allocated node wins, ties by the lower index. Fills
 * *res; returns nothing else. */
void sched_place(const struct sched_request *req, const struct runtime_policy *policy,
                 const struct sched_node *nodes, size_t n, struct sched_result *res);

/* The documented message for an unplaced result, with the subnet slug
 * (for SCHED_NOT_ALLOWED, the admission message). */
void sched_message(const struct sched_result *res, const char *subnet,
                   enum isolation_class isolation, char *buf, size_t size);

/* The request of a stored workload: its effective class and resources. */
void sched_request_of(const struct idyl_workload *w, struct sched_request *req);
/* The scheduler's view of a stored node, nothing used yet; `healthy` is the
 * server's liveness verdict (heartbeating within the TTL). */
void sched_node_of(const struct idyl_node *n, bool healthy, struct sched_node *v);

/* Adds (sign 1) or removes (sign -1) a workload's footprint on a node,
 * microVM overhead included. */
void sched_account(struct sched_node *node, const struct sched_request *req, int sign);

#endif
