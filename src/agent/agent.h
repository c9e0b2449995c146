/* The provider node agent: reads the node's local state (written by
 * `idyl node join`), reports the runtime's readiness and capacity to the
 * control plane, learns its assignments by long-poll and reconciles them
 * against the runtime. */
#ifndef IDYL_AGENT_H
#define IDYL_AGENT_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "agent/node_config.h"
#include "agent/runtime.h"
#include "core/isolation.h"
#include "util/err.h"

/* Opens the runtime the configuration names. */
int agent_runtime_open(const struct agent_config *c, struct runtime **out, struct idyl_err *err);

/* Runs the agent in the foreground until SIGTERM or SIGINT. Takes the
 * directory's lock (one agent per node directory) and writes DIR/agent.pid. */
int agent_run(const struct agent_config *c, struct idyl_err *err);

/* The pid of the agent running on dir, or 0 when none runs. */
pid_t agent_running(const char *dir);

/* Sends SIGTERM to the agent of dir and waits up to timeout_s for it to
 * exit. Returns 0 (also when none ran; *was_running says which). */
int agent_stop(const char *dir, int timeout_s, bool *was_running, struct idyl_err *err);

#endif
