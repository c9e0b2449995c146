/* Which processes of a CRI container belong to which exec, from
 * containerd's own task API on the CRI socket (Tasks.ListPids, namespace
 * k8s.io): CRI's Exec streaming names no process, so the agent tells its
 * exec from the others (and from the container's main process) by the exec
 * id containerd gives each. */
#ifndef IDYL_AGENT_CTRD_TASKS_H
#define IDYL_AGENT_CTRD_TASKS_H

#include <stdbool.h>
#include <sys/types.h>

#include "agent/grpc.h"
#include "util/err.h"

#define CTRD_EXECS_MAX   64
#define CTRD_EXEC_ID_MAX 80

/* The execs running in a container: exec id and host pid of each. */
struct ctrd_execs {
        char id[CTRD_EXECS_MAX][CTRD_EXEC_ID_MAX];
        pid_t pid[CTRD_EXECS_MAX];
        size_t n;
};

/* Lists container_id's execs over g (its namespace set to CRI's). */
int ctrd_list_execs(struct grpc_conn *g, const char *container_id, struct ctrd_execs *out,
                    struct idyl_err *err);

/* Finds, in a thread of its own, the one exec of container_id that was not
 * in `before` (taken before the CRI Exec call): it looks until one such exec
 * shows, until *stop, or for CTRD_FIND_MS, and then calls release(arg) (the
 * caller's start lock, so no other exec of the agent starts meanwhile). Two
 * new execs (one not the agent's) leave it unknown: nothing is ever
 * signalled on a guess. */
#define CTRD_FIND_MS 2000

struct ctrd_find {
        /* set by the caller */
        const char *socket_path;
        const char *container_id;
        struct ctrd_execs before;
        const volatile bool *stop;
        void (*release)(void *arg);
        void *release_arg;
        /* the answer, once joined */
        bool found;
        char exec_id[CTRD_EXEC_ID_MAX];
        pid_t pid;
};

int ctrd_find_start(struct ctrd_find *f, void **thread);
void ctrd_find_join(void *thread);

/* Stops exec exec_id's processes (agent/proctree.c) when it still runs with
 * pid; returns how many processes were signalled. */
int ctrd_exec_stop(const char *socket_path, const char *container_id, const char *exec_id,
                   pid_t pid, int grace_ms);

#endif
