/* The agent's hold on the node's packet filter: it runs iptables (the
 * binary the Engine and the CNI plugins use, so rules land in the same
 * backend) to check what an Engine set up for a workload network, and keeps
 * two chains of its own (named per node): one first in the filter table's
 * FORWARD path, which keeps its workloads apart from other subnets' on a
 * shared bridge and enforces the subnet's egress policy beyond the node,
 * and one first in INPUT, which enforces it towards the node itself. */
#ifndef IDYL_AGENT_NETPOLICY_H
#define IDYL_AGENT_NETPOLICY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/netpolicy.h"
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

/* What the node's rules are about. Docker: every workload of the subnet
 * sits on the subnet's own bridge, so rules match the bridge (and hold for
 * a workload before its process starts). containerd: all sandboxes share
 * one CNI bridge, so rules match the node's workload addresses. */
struct netpolicy_scope {
        const char *bridge;      /* Docker: the subnet's bridge interface; else NULL */
        const char *pod_cidr;    /* containerd: the shared pod network */
        const char *const *mine; /* containerd: the node's workload addresses */
        size_t nmine;
        const char *const *peers; /* containerd: its subnet's addresses on this machine */
        size_t npeers;
};

/* Writes the iptables-restore input that replaces the node's chains (chain
 * and chain "-IN") with the rules for scope under policy p (NULL: egress
 * all): subnets apart always; `none` no connection in or out; `restricted`
 * out only to its CIDRs and its subnet's workloads, replies back; `all`
 * anywhere beyond. -1 when out is full. Pure, for tests. */
int netpolicy_rules(const char *chain, const struct netpolicy_scope *scope,
                    const struct network_policy *p, struct idyl_buf *out);

/* Replaces the node's chains with netpolicy_rules (created when absent,
 * hooked first in FORWARD and INPUT), atomically (iptables-restore). A
 * containerd scope without addresses removes them instead. */
int netpolicy_apply(const char *chain, const struct netpolicy_scope *scope,
                    const struct network_policy *p, struct idyl_err *err);

/* Serialises reading what runs with applying rules for it, across the
 * agent's threads (its reconcile loop and its reaper), so the last rules
 * applied always come from the last look at the runtime. */
void netpolicy_lock(void);
void netpolicy_unlock(void);

/* The subnet's networkPolicy from an assignments answer (absent: egress
 * all). One the agent cannot read is enforced as `none`: the safe side. */
void netpolicy_from_assignments(const json_t *assign, struct network_policy *out);

/* Removes the chains and their hooks; absent is fine. */
int netpolicy_remove(const char *chain, struct idyl_err *err);

#endif
