/* The node protocol's request bodies: the join a node sends once (from
 * `idyl node join` or idyl-sim) and the heartbeat it sends when its state
 * changes (from the agent or idyl-sim). One owner, so the CLI, the agent
 * and the simulator cannot drift apart on a field's name or shape.
 * Builders only: no I/O. Every function returning json_t * returns a new
 * reference (NULL when out of memory) that the caller decrefs. */
#ifndef IDYL_NODEPROTO_H
#define IDYL_NODEPROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* What a node offers: {"cpu": "<milli>m", "memory": <bytes>, "gpus": n}. */
struct nodeproto_capacity {
        int64_t cpu_milli;
        int64_t memory_bytes;
        int gpus;
};

/* The runtime a node joins with: a profile, or a provider (and handler). */
struct nodeproto_runtime {
        const char *profile;  /* NULL when provider is set */
        const char *provider; /* NULL when profile is set */
        const char *handler;  /* with provider; may be NULL */
        bool ready;
        const char *reason; /* why not ready; "" when ready */
};

struct nodeproto_join {
        const char *name;
        const char *platform; /* "linux/amd64" */
        struct nodeproto_runtime runtime;
        struct nodeproto_capacity capacity;
        const char *const *devices; /* host device paths the node offers */
        size_t ndevices;
        bool microvm_gpu;
        bool simulated; /* idyl-sim's hollow nodes; sent only when true */
};

/* One workload's report in a heartbeat. */
struct nodeproto_report {
        const char *name;
        int64_t revision;
        const char *phase; /* "running", "failed", ... */
        int restarts;
        const char *message;
        const char *ip; /* the workload's address on the node; NULL or "": not sent */
};

json_t *nodeproto_capacity_json(const struct nodeproto_capacity *c);
json_t *nodeproto_join_body(const struct nodeproto_join *j);

/* A heartbeat with the runtime's readiness and no reports yet; reason NULL
 * reads as "". */
json_t *nodeproto_heartbeat_new(bool ready, const char *reason);
/* Appends r to the heartbeat's workload reports. Returns 0, or -1 when out
 * of memory (hb unchanged). */
int nodeproto_heartbeat_add_report(json_t *hb, const struct nodeproto_report *r);
/* Sets what the node has now, and its platform when not NULL or "". */
int nodeproto_heartbeat_set_capacity(json_t *hb, const struct nodeproto_capacity *c);
int nodeproto_heartbeat_set_platform(json_t *hb, const char *platform);

/* ---- assignments: what a node runs, whole or as a change --------------
 * A whole answer is {"version": V, "workloads": [{"name", "revision",
 * "isolationClass", "spec"}...]}. A node that asks with since=S, S being the
 * version it holds, may get a change instead: {"version": V, "since": S,
 * "workloads": [entries new or changed since S], "removed": [names]}; any
 * other field of the answer (the subnet's "networkPolicy") is sent whole
 * in both. */

/* {name: revision} of a whole answer: what the server remembers it sent. */
json_t *nodeproto_assignments_index(const json_t *answer);
/* The change from what `sent` (an index, at version since) to the whole
 * answer `now`. */
json_t *nodeproto_assignments_delta(const json_t *sent, json_int_t since, const json_t *now);
/* Whether an answer is a change (has "since") rather than a whole set. */
bool nodeproto_assignments_is_delta(const json_t *answer);
/* The whole answer that applying change `delta` to whole answer `held`
 * gives; NULL when delta does not follow held (its since is not held's
 * version): the node then asks for the whole set again. */
json_t *nodeproto_assignments_apply(const json_t *held, const json_t *delta);

#endif
