/* Field rules of the subnet object. */
#include "core/subnet.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int subnet_region_check(const char *region, struct idyl_err *err)
{
        size_t len;

        if (!region || !*region)
                return idyl_err_set(err, IDYL_E_INVALID, "--region is required");
        len = strlen(region);
        if (len > SUBNET_REGION_MAX ||
            strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") != len)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "invalid --region \"%.80s\": must match [a-z0-9-]+, at most %d "
                                    "characters",
                                    region, SUBNET_REGION_MAX);
        return 0;
}

int subnet_slug_parse(const char *s, uint64_t *out, struct idyl_err *err)
{
        uint64_t v = 0;

        if (!s || strlen(s) != SUBNET_SLUG_LEN || strspn(s, "0123456789") != SUBNET_SLUG_LEN)
                return idyl_err_set(err, IDYL_E_NOT_FOUND, "subnet \"%.80s\" not found",
                                    s ? s : "");
        for (const char *p = s; *p; p++)
                v = v * 10 + (uint64_t)(*p - '0');
        *out = v;
        return 0;
}

char *subnet_slug_format(uint64_t slug, char buf[SUBNET_SLUG_BUFLEN])
{
        snprintf(buf, SUBNET_SLUG_BUFLEN, "%012" PRIu64, (uint64_t)(slug % 1000000000000ULL));
        return buf;
}
