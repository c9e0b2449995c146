/* Workload field rules, phases and admission by isolation class. */
#include "core/workload.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/messages.h"
#include "util/enumname.h"

static const char *const phase_names[PHASE__COUNT] = {
    [PHASE_AWAITING_APPROVAL] = "awaiting-approval",
    [PHASE_PENDING] = "pending",
    [PHASE_SCHEDULED] = "scheduled",
    [PHASE_RUNNING] = "running",
    [PHASE_EXITED] = "exited",
    [PHASE_FAILED] = "failed",
    [PHASE_REJECTED] = "rejected",
    [PHASE_LOST] = "lost",
    [PHASE_STOPPED] = "stopped",
};

static const char *const source_names[SOURCE__COUNT] = {
    [SOURCE_EXPLICIT] = "explicit",
    [SOURCE_SUBNET_DEFAULT] = "subnet-default",
    [SOURCE_NO_POLICY] = "no-policy",
};

const char *workload_phase_name(enum workload_phase p)
{
        return enum_name(phase_names, PHASE__COUNT, (int)p, "unknown");
}

int workload_phase_from_name(const char *s)
{
        return enum_lookup(phase_names, PHASE__COUNT, s);
}

const char *isolation_source_name(enum isolation_source s)
{
        return enum_name(source_names, SOURCE__COUNT, (int)s, "unknown");
}

int isolation_source_from_name(const char *s)
{
        return enum_lookup(source_names, SOURCE__COUNT, s);
}

bool workload_phase_unplaced(enum workload_phase p)
{
        return p == PHASE_AWAITING_APPROVAL || p == PHASE_PENDING || p == PHASE_LOST;
}

int admission_check_class(const struct runtime_policy *policy, enum isolation_class eff,
                          struct idyl_err *err)
{
        if (!policy->set || (policy->allowed_classes & ISOLATION_BIT(eff)))
                return 0;
        return idyl_err_set(err, IDYL_E_ISOLATION_CLASS_NOT_ALLOWED,
                            MSG_ISOLATION_CLASS_NOT_ALLOWED, isolation_class_name(eff));
}

int admission_resolve(const struct runtime_policy *policy, enum isolation_class requested,
                      enum isolation_class *eff, enum isolation_source *src, struct idyl_err *err)
{
        enum isolation_class c;
        enum isolation_source s;

        if (requested != ISOLATION_NONE) {
                c = requested;
                s = SOURCE_EXPLICIT;
        } else if (policy->set && policy->default_class != ISOLATION_NONE) {
                c = policy->default_class;
                s = SOURCE_SUBNET_DEFAULT;
        } else if (policy->set) {
                return idyl_err_set(err, IDYL_E_ISOLATION_CLASS_REQUIRED,
                                    MSG_ISOLATION_CLASS_REQUIRED);
        } else {
                c = ISOLATION_CONTAINER;
                s = SOURCE_NO_POLICY;
        }
        if (admission_check_class(policy, c, err) < 0)
                return -1;
        *eff = c;
        *src = s;
        return 0;
}

static bool is_lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int workload_name_check(const char *name, struct idyl_err *err)
{
        size_t len = name ? strlen(name) : 0;

        if (len == 0)
                return idyl_err_set(err, IDYL_E_INVALID, "--name is required");
        if (len > WORKLOAD_NAME_MAX || !is_lower_alnum(name[0]) || !is_lower_alnum(name[len - 1]) ||
            strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != len)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "invalid --name \"%.80s\": must be a DNS-1123 label "
                                    "([a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters)",
                                    name);
        return 0;
}

int workload_image_check(const char *image, struct idyl_err *err)
{
        static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                 "0123456789._-/:@";
        size_t len = image ? strlen(image) : 0;

        if (len == 0)
                return idyl_err_set(err, IDYL_E_INVALID, "an image is required: idyl deploy IMAGE");
        if (len > WORKLOAD_IMAGE_MAX || strspn(image, ok) != len ||
            !isalnum((unsigned char)image[0]))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "invalid image \"%.80s\": want a reference such as "
                                    "nginx:1.27-alpine or registry.example.com/app@sha256:...",
                                    image);
        return 0;
}

/* os/arch or os/arch/variant, lowercase: the OCI platform shorthand. */
int workload_platform_check(const char *platform, struct idyl_err *err)
{
        size_t len = platform ? strlen(platform) : 0, slashes = 0;
        bool ok = len > 0 && len <= WORKLOAD_PLATFORM_MAX &&
                  strspn(platform, "abcdefghijklmnopqrstuvwxyz0123456789_/") == len &&
                  platform[0] != '/' && platform[len - 1] != '/' && !strstr(platform, "//");

        for (size_t i = 0; ok && i < len; i++)
                slashes += platform[i] == '/';
        if (!ok || slashes < 1 || slashes > 2)
                return idyl_err_set(
                    err, IDYL_E_INVALID,
                    "invalid --platform \"%.80s\": want os/arch such as linux/amd64 "
                    "or linux/arm64/v8",
                    platform ? platform : "");
        return 0;
}

int workload_env_name_check(const char *name, struct idyl_err *err)
{
        size_t len = strlen(name);

        if (len == 0 || len > 256 || (!isalpha((unsigned char)name[0]) && name[0] != '_') ||
            strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != len)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "invalid --env name \"%.80s\": want K=V with K matching "
                                    "[A-Za-z_][A-Za-z0-9_]*",
                                    name);
        return 0;
}

int resource_cpu_parse(const char *s, int64_t *milli, struct idyl_err *err)
{
        size_t whole = strspn(s, "0123456789"), frac = 0;
        const char *p = s + whole;
        int64_t v = 0;

        /* decimal only: cores with at most 3 decimals ("0.5", "2"), or
         * millicores ("500m"); no hex, exponents or signs */
        if (whole == 0 && *p != '.')
                goto bad;
        if (*p == '.') {
                frac = strspn(p + 1, "0123456789");
                if (frac == 0 || p[1 + frac])
                        goto bad;
                if (frac > 3)
                        goto bad_precision;
        } else if (strcmp(p, "m") != 0 && *p) {
                goto bad;
        }
        if (whole > 7)
                goto bad;
        for (size_t i = 0; i < whole; i++)
                v = v * 10 + (s[i] - '0');
        if (*p == 'm') {
                *milli = v;
        } else {
                v *= 1000;
                for (size_t i = 0, scale = 100; i < frac; i++, scale /= 10)
                        v += (p[1 + i] - '0') * (int64_t)scale;
                *milli = v;
        }
        if (*milli > 1024 * 1000LL || *milli == 0)
                goto bad;
        return 0;
bad_precision:
        return idyl_err_set(err, IDYL_E_INVALID,
                            "invalid --cpu \"%.40s\": at most 3 decimals (1m is the smallest "
                            "unit)",
                            s);
bad:
        return idyl_err_set(err, IDYL_E_INVALID,
                            "invalid --cpu \"%.40s\": want cores > 0 such as 0.5 or 2, or "
                            "millicores such as 500m",
                            s);
}

int resource_memory_parse(const char *s, int64_t *bytes, struct idyl_err *err)
{
        static const struct {
                const char *suffix;
                int64_t mult;
        } units[] = {
            {"", 1},           {"Ki", 1LL << 10},   {"Mi", 1LL << 20},
            {"Gi", 1LL << 30}, {"Ti", 1LL << 40},   {"K", 1000LL},
            {"M", 1000000LL},  {"G", 1000000000LL}, {"T", 1000000000000LL},
        };
        char *end;
        unsigned long long v;

        errno = 0;
        if (!isdigit((unsigned char)*s))
                goto bad;
        v = strtoull(s, &end, 10);
        if (errno || end == s)
                goto bad;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                if (strcmp(end, units[i].suffix) != 0)
                        continue;
                if (v == 0)
                        goto bad;
                if (v > (unsigned long long)(RESOURCE_MEMORY_MAX / units[i].mult))
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "invalid --memory \"%.40s\": at most 1Pi", s);
                *bytes = (int64_t)v * units[i].mult;
                return 0;
        }
bad:
        return idyl_err_set(err, IDYL_E_INVALID,
                            "invalid --memory \"%.40s\": want a size > 0 such as 256Mi, 1Gi or "
                            "512M",
                            s);
}

int resource_gpus_parse(const char *s, int *gpus, struct idyl_err *err)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < 0 || v > 64 || !isdigit((unsigned char)*s))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "invalid --gpus \"%.40s\": want a whole number from 0 to 64",
                                    s);
        *gpus = (int)v;
        return 0;
}

int workload_pids_limit_check(int64_t limit, struct idyl_err *err)
{
        if (limit < 1 || limit > WORKLOAD_PIDS_LIMIT_MAX)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "invalid --pids-limit \"%lld\": want a whole number from 1 "
                                    "to %d",
                                    (long long)limit, WORKLOAD_PIDS_LIMIT_MAX);
        return 0;
}

int workload_pids_limit_parse(const char *s, int64_t *limit, struct idyl_err *err)
{
        char *end;
        long long v;

        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || end == s || *end || !isdigit((unsigned char)*s) || v < 1 ||
            v > WORKLOAD_PIDS_LIMIT_MAX)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "invalid --pids-limit \"%.40s\": want a whole number from 1 "
                                    "to %d",
                                    s, WORKLOAD_PIDS_LIMIT_MAX);
        *limit = v;
        return 0;
}

int workload_stop_timeout_parse(const char *s, int64_t *seconds, struct idyl_err *err)
{
        char *end;
        long long v;

        errno = 0;
        v = isdigit((unsigned char)*s) ? strtoll(s, &end, 10) : -1;
        if (v >= 0 && !errno && strcmp(end, "m") == 0 && v <= WORKLOAD_STOP_TIMEOUT_MAX_S / 60)
                v *= 60;
        else if (v < 0 || errno || (*end && strcmp(end, "s") != 0))
                v = -1;
        if (v < 1 || v > WORKLOAD_STOP_TIMEOUT_MAX_S)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "invalid --stop-timeout \"%.40s\": want a duration from 1s "
                                    "to 5m such as 10s",
                                    s);
        *seconds = v;
        return 0;
}

void resource_memory_format(int64_t bytes, char *buf, size_t size)
{
        static const char *const units[] = {"Ti", "Gi", "Mi", "Ki"};
        static const int shifts[] = {40, 30, 20, 10};

        for (size_t i = 0; i < 4; i++) {
                int64_t m = (int64_t)1 << shifts[i];
                if (bytes >= m && bytes % m == 0) {
                        snprintf(buf, size, "%" PRId64 "%s", bytes / m, units[i]);
                        return;
                }
        }
        snprintf(buf, size, "%" PRId64, bytes);
}

void workload_release(struct idyl_workload *w)
{
        free(w->spec);
        free(w->placement);
        w->spec = NULL;
        w->placement = NULL;
}
