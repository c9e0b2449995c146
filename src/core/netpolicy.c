/* Rules of the subnet's network policy; see netpolicy.h. */
#include "core/netpolicy.h"

#include <stdio.h>
#include <string.h>

static const char *const mode_names[] = {
    [EGRESS_ALL] = "all", [EGRESS_NONE] = "none", [EGRESS_RESTRICTED] = "restricted"};

int egress_mode_from_name(const char *name)
{
        for (size_t i = 0; name && i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
                if (strcmp(name, mode_names[i]) == 0)
                        return (int)i;
        return -1;
}

const char *egress_mode_name(enum egress_mode mode)
{
        if ((unsigned)mode >= sizeof(mode_names) / sizeof(mode_names[0]))
                return NULL;
        return mode_names[mode];
}

/* A decimal number of 1 to 3 digits at *p, at most max; advances *p. */
static int decimal(const char **p, unsigned max, unsigned *out)
{
        unsigned v = 0;
        int digits = 0;

        while (**p >= '0' && **p <= '9' && digits < 3) {
                v = v * 10 + (unsigned)(**p - '0');
                (*p)++;
                digits++;
        }
        if (digits == 0 || (**p >= '0' && **p <= '9') || v > max)
                return -1;
        *out = v;
        return 0;
}

int egress_cidr_parse(const char *text, uint32_t *addr, int *prefix, struct idyl_err *err)
{
        const char *p = text ? text : "";
        uint32_t a = 0;
        unsigned v, len;

        for (int i = 0; i < 4; i++) {
                if (decimal(&p, 255, &v) < 0 || *p++ != (i < 3 ? '.' : '/'))
                        goto bad;
                a = a << 8 | v;
        }
        if (decimal(&p, 32, &len) < 0 || *p)
                goto bad;
        *addr = len ? a & (0xffffffffu << (32 - len)) : 0;
        *prefix = (int)len;
        return 0;
bad:
        return idyl_err_set(err, IDYL_E_INVALID,
                            "invalid --allow-egress-cidr \"%.64s\": want an IPv4 CIDR such as "
                            "10.0.0.0/8",
                            text ? text : "");
}

/* Appends "a.b.c.d/len" to the comma-joined list in buf (EGRESS_CIDRS_TEXT). */
static void join_cidr(char *buf, uint32_t a, int len)
{
        size_t used = strlen(buf);

        snprintf(buf + used, EGRESS_CIDRS_TEXT - used, "%s%u.%u.%u.%u/%d", used ? "," : "", a >> 24,
                 (a >> 16) & 255, (a >> 8) & 255, a & 255, len);
}

int network_policy_build(const char *egress, const char *const *cidrs, size_t ncidrs,
                         struct network_policy *out, struct idyl_err *err)
{
        uint32_t addrs[EGRESS_CIDRS_MAX];
        int lens[EGRESS_CIDRS_MAX], mode = egress_mode_from_name(egress);

        if (egress && mode < 0)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "invalid --egress \"%.64s\": valid values are none, "
                                    "restricted, all",
                                    egress);
        if (ncidrs > 0 && mode != EGRESS_RESTRICTED)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "--allow-egress-cidr requires --egress restricted");
        if (!egress)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "--egress is required when setting a network policy (valid "
                                    "values: none, restricted, all)");
        if (mode == EGRESS_RESTRICTED && ncidrs == 0)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "--egress restricted requires at least one "
                                    "--allow-egress-cidr");
        if (ncidrs > EGRESS_CIDRS_MAX)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "too many --allow-egress-cidr values: at most %d",
                                    EGRESS_CIDRS_MAX);
        for (size_t i = 0; i < ncidrs; i++) {
                if (egress_cidr_parse(cidrs[i], &addrs[i], &lens[i], err) < 0)
                        return -1;
                for (size_t j = 0; j < i; j++)
                        if (addrs[j] == addrs[i] && lens[j] == lens[i])
                                return idyl_err_set(err, IDYL_E_INVALID,
                                                    "duplicate --allow-egress-cidr \"%s\"",
                                                    cidrs[i]);
        }
        memset(out, 0, sizeof(*out));
        out->set = true;
        out->egress = (enum egress_mode)mode;
        for (size_t i = 0; i < ncidrs; i++)
                join_cidr(out->cidrs, addrs[i], lens[i]);
        return 0;
}

enum egress_mode network_policy_egress(const struct network_policy *p)
{
        return p && p->set ? p->egress : EGRESS_ALL;
}
