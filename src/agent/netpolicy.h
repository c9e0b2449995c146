/* The agent's hold on the node's packet filter: it runs iptables (the
 * binary the Engine and the CNI plugins use, so rules land in the same
 * backend) to check what an Engine set up for a workload network. */
#ifndef IDYL_AGENT_NETPOLICY_H
#define IDYL_AGENT_NETPOLICY_H

#include <stdbool.h>

#include "util/buf.h"
#include "util/err.h"

/* Runs `iptables -w ARGS...` (args NULL-terminated, without the program
 * name); out, when not NULL, gets its standard output (bounded). Fails
 * naming the command and iptables' own message when it exits non-zero. */
int netpolicy_iptables(const char *const *args, struct idyl_buf *out, struct idyl_err *err);

/* Whether the filter table's FORWARD chain has a rule naming interface
 * ifname: an Engine that manages iptables adds them for each of its
 * bridges. *present is set on success. */
int netpolicy_forward_names(const char *ifname, bool *present, struct idyl_err *err);

#endif
