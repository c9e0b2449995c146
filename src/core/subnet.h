/* The subnet: identity, region and runtime policy, with the rules for each
 * field. Pure; the store persists it and the server encodes it. */
#ifndef IDYL_SUBNET_H
#define IDYL_SUBNET_H

#include <stdbool.h>
#include <stdint.h>

#include "core/isolation.h"
#include "core/netpolicy.h"
#include "core/secret.h"
#include "util/err.h"

#define SUBNET_SLUG_FIRST  100000000001ULL
#define SUBNET_SLUG_LEN    12
#define SUBNET_REGION_MAX  63
#define SUBNET_SLUG_BUFLEN (SUBNET_SLUG_LEN + 1)

struct idyl_subnet {
        uint64_t slug;                      /* 12 decimal digits */
        char region[SUBNET_REGION_MAX + 1]; /* [a-z0-9-]+ */
        struct runtime_policy policy;       /* policy.set == false: none */
        bool deploy_approval;               /* admitted workloads wait for an operator */
        int64_t created_at;                 /* unix seconds */
        struct device_policy devices;       /* devicePolicy; devices.set == false: none */
        struct network_policy network;      /* networkPolicy; network.set == false: egress all */
};

/* A subnet without a runtime policy or deploy approval. */
#define IDYL_SUBNET_INIT                                                                           \
        {                                                                                          \
                .policy = {.set = false, .default_class = ISOLATION_NONE }                         \
        }

/* Validates a region ([a-z0-9-]+, at most 63 characters) naming --region. */
int subnet_region_check(const char *region, struct idyl_err *err);

/* Parses a 12-digit slug. A malformed slug is reported the way an unknown
 * one is: `subnet "x" not found` (IDYL_E_NOT_FOUND). */
int subnet_slug_parse(const char *s, uint64_t *out, struct idyl_err *err);

/* Writes the 12-digit slug into buf (SUBNET_SLUG_BUFLEN bytes); returns buf. */
char *subnet_slug_format(uint64_t slug, char buf[SUBNET_SLUG_BUFLEN]);

#endif
