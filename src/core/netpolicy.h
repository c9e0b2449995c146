/* A subnet's network policy (SPEC 6.2): the egress mode of its workloads
 * and, for `restricted`, the IPv4 CIDRs they may reach. Pure: the rules
 * for building one from flags or JSON fields; the store keeps it, the
 * server encodes it and hands it to the subnet's nodes, whose agents
 * enforce it. */
#ifndef IDYL_CORE_NETPOLICY_H
#define IDYL_CORE_NETPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

enum egress_mode { EGRESS_ALL = 0, EGRESS_NONE, EGRESS_RESTRICTED };

#define EGRESS_CIDRS_MAX 32
#define EGRESS_CIDR_LEN  18 /* "255.255.255.255/32" */
/* Comma-joined CIDRs, as stored and sent: EGRESS_CIDRS_MAX and separators. */
#define EGRESS_CIDRS_TEXT (EGRESS_CIDRS_MAX * (EGRESS_CIDR_LEN + 1) + 1)

/* set == false: no networkPolicy (egress all). */
struct network_policy {
        bool set;
        enum egress_mode egress;
        char cidrs[EGRESS_CIDRS_TEXT]; /* restricted: comma-joined, normalised */
};

/* "none", "restricted", "all"; -1 for anything else. */
int egress_mode_from_name(const char *name);
/* Never NULL for a valid mode. */
const char *egress_mode_name(enum egress_mode mode);

/* Parses "a.b.c.d/len" (len 0 to 32, four decimal octets). *addr gets the
 * network address, host bits cleared. Fails with the documented message
 * naming --allow-egress-cidr. */
int egress_cidr_parse(const char *text, uint32_t *addr, int *prefix, struct idyl_err *err);

/* Builds a policy from its fields: egress (NULL when not given) and the
 * allowed CIDRs. Refuses, with a message naming the flag: a CIDR without
 * `restricted`, `restricted` without a CIDR, an invalid or duplicate CIDR,
 * more than EGRESS_CIDRS_MAX, an unknown or missing mode. CIDRs are stored
 * as their network address ("10.1.2.3/8" is "10.0.0.0/8"). */
int network_policy_build(const char *egress, const char *const *cidrs, size_t ncidrs,
                         struct network_policy *out, struct idyl_err *err);

/* The effective mode: EGRESS_ALL when no policy is set. */
enum egress_mode network_policy_egress(const struct network_policy *p);

#endif
