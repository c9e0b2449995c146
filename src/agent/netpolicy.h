/* The agent's hold on the node's packet filter: it runs iptables (the
 * binary the Engine and the CNI plugins use, so rules land in the same
 * backend) to check what an Engine set up for a workload network, and keeps
 * a chain of its own (named per node) in the filter table's FORWARD path
 * that keeps its workloads apart from other subnets' on a shared bridge. */
#ifndef IDYL_AGENT_NETPOLICY_H
#define IDYL_AGENT_NETPOLICY_H

#include <stdbool.h>
#include <stddef.h>

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

/* "IDYL-" and a hash of node_key ("SUBNET/NAME"): the node's own chain, so
 * several agents on one machine never touch each other's rules. */
void netpolicy_chain_name(const char *node_key, char *out, size_t size);

/* Replaces the node's chain (created when absent, hooked first in FORWARD)
 * with rules for its workload addresses `mine`: each may reach `peers` (its
 * subnet's workloads on this machine, mine among them) and anything beyond
 * pod_cidr, not the rest of pod_cidr; replies come back. Atomic
 * (iptables-restore). With nmine 0 the chain and its hook are removed. */
int netpolicy_apply(const char *chain, const char *pod_cidr, const char *const *mine, size_t nmine,
                    const char *const *peers, size_t npeers, struct idyl_err *err);

/* Removes the chain and its FORWARD hook; absent is fine. */
int netpolicy_remove(const char *chain, struct idyl_err *err);

#endif
