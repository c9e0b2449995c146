/* The reconcile planner: desired workloads (the node's assignments) against
 * what the runtime runs, into actions, with restart back-off. Pure: no I/O,
 * no clock of its own; the agent executes the plan and records outcomes. */
#ifndef IDYL_AGENT_RECONCILE_H
#define IDYL_AGENT_RECONCILE_H

#include <stddef.h>
#include <stdint.h>

#include "agent/runtime.h"
#include "core/workload.h"

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS   60000
/* A run at least this long resets the back-off, as kubelet does. */
#define BACKOFF_RESET_MS 60000

/* One desired workload and its bookkeeping across passes. */
struct rc_entry {
        char name[64];
        int64_t revision;
        char refuse[512];          /* set: this node must not run it (the reason) */
        enum workload_phase phase; /* scheduled until something happened */
        int restarts;
        int backoff_level;   /* consecutive failed or short runs */
        int64_t retry_at_ms; /* no start before this (monotonic ms) */
        int exit_code;
        char message[512];
        char ip[48]; /* the running instance's address; "" when none */
};

enum rc_kind { RC_REMOVE, RC_RUN, RC_RESTART };

struct rc_action {
        enum rc_kind kind;
        size_t entry; /* RC_RUN, RC_RESTART */
        size_t inst;  /* RC_REMOVE, RC_RESTART */
};

/* Delay before attempt number `level` (0-based): 1s, 2s, 4s ... 60s. */
int64_t rc_backoff_ms(int level);

/* Plans one pass. acts must hold ne + na actions; returns how many were
 * planned. Updates entries for what it observed (a new exit starts a
 * back-off). *next_ms is lowered to the earliest time a waiting entry
 * wants another pass (left alone when none waits). */
size_t rc_plan(struct rc_entry *e, size_t ne, const struct rt_instance *a, size_t na,
               int64_t now_ms, struct rc_action *acts, int64_t *next_ms);

/* Outcomes of executed actions; restart: an exited instance ran again. */
void rc_started(struct rc_entry *e, bool restart);
void rc_failed(struct rc_entry *e, int64_t now_ms, const char *message);

#endif
