/* The agent's side of log and exec streams (SPEC §8): it long-polls idyld
 * for the streams asked of this node and opens a connection to idyld for
 * each (nodes need no inbound port), running the runtime's logs or exec
 * into it. */
#ifndef IDYL_AGENT_STREAM_H
#define IDYL_AGENT_STREAM_H

#include <stdbool.h>

#include "agent/agent.h"

struct agent_streams;

/* Starts the poll thread; NULL when it cannot (the agent runs without
 * streams, and says so). cfg and stop must outlive the result. */
struct agent_streams *agent_streams_start(const struct agent_config *cfg,
                                          const volatile bool *stop);
/* Waits for the poll thread and every stream (they end at *stop), frees. */
void agent_streams_free(struct agent_streams *s);

#endif
