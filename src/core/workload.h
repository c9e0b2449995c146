/* The workload: its spec rules (name, image, platform, resources, env),
 * phases, and admission — resolving the effective isolation class against a
 * subnet's runtime policy, as product-docs "Workload admission behavior"
 * describes. Pure; no I/O. */
#ifndef IDYL_WORKLOAD_H
#define IDYL_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "core/isolation.h"
#include "core/secret.h"
#include "util/err.h"

#define WORKLOAD_NAME_MAX     63
#define WORKLOAD_IMAGE_MAX    512
#define WORKLOAD_PLATFORM_MAX 64
#define WORKLOAD_ENV_MAX      128
#define WORKLOAD_ARGS_MAX     128

/* Defaults when a deploy does not say (documented in docs/operator-guide.md). */
#define WORKLOAD_DEFAULT_CPU_MILLI 100
#define WORKLOAD_DEFAULT_MEMORY    (128LL * 1024 * 1024)

enum workload_phase {
        PHASE_AWAITING_APPROVAL = 0,
        PHASE_PENDING,
        PHASE_SCHEDULED,
        PHASE_RUNNING,
        PHASE_EXITED,
        PHASE_FAILED,
        PHASE_REJECTED,
        PHASE_LOST,
        PHASE_STOPPED,
        PHASE__COUNT
};

enum isolation_source {
        SOURCE_EXPLICIT = 0,
        SOURCE_SUBNET_DEFAULT,
        SOURCE_NO_POLICY,
        SOURCE__COUNT
};

/* "awaiting-approval", "pending", ...; never NULL for a valid phase. */
const char *workload_phase_name(enum workload_phase p);
/* -1 when unknown. */
int workload_phase_from_name(const char *s);
/* "explicit", "subnet-default", "no-policy". */
const char *isolation_source_name(enum isolation_source s);
int isolation_source_from_name(const char *s);
/* True for phases that still wait for placement (approval or scheduler). */
bool workload_phase_unplaced(enum workload_phase p);

/* Admission: the effective class of a workload that requested `requested`
 * (ISOLATION_NONE when it did not) in a subnet with `policy`, in the
 * documented order: explicit; subnet default; rejection when a policy has no
 * default; container without a policy. The class must then be allowed.
 * Returns 0 with *eff and *src, or -1 with err set to
 * IDYL_E_ISOLATION_CLASS_REQUIRED / IDYL_E_ISOLATION_CLASS_NOT_ALLOWED and
 * the exact documented message. */
int admission_resolve(const struct runtime_policy *policy, enum isolation_class requested,
                      enum isolation_class *eff, enum isolation_source *src, struct idyl_err *err);

/* Whether a workload of effective class `eff` would be admitted by `policy`
 * (no policy admits everything); err gets the admission message when not. */
int admission_check_class(const struct runtime_policy *policy, enum isolation_class eff,
                          struct idyl_err *err);

/* Field rules; each message names the flag and what is valid. */
int workload_name_check(const char *name, struct idyl_err *err);
int workload_image_check(const char *image, struct idyl_err *err);
int workload_platform_check(const char *platform, struct idyl_err *err);
int workload_env_name_check(const char *name, struct idyl_err *err);

/* CPU as cores ("0.5", "2") or millicores ("500m") -> millicores > 0. */
int resource_cpu_parse(const char *s, int64_t *milli, struct idyl_err *err);
/* Memory as bytes or with a unit (Ki Mi Gi Ti, K M G T) -> bytes > 0. */
/* The largest memory quantity anything may state (1 PiB): sums of many
 * stay far from int64_t's limit. */
#define RESOURCE_MEMORY_MAX (1LL << 50)
int resource_memory_parse(const char *s, int64_t *bytes, struct idyl_err *err);
/* GPUs: a whole number >= 0. */
int resource_gpus_parse(const char *s, int *gpus, struct idyl_err *err);

/* The hardened baseline's knobs (SPEC 6.1): spec.pidsLimit, the most
 * processes a workload may have, and spec.stopTimeout, the grace between
 * SIGTERM and SIGKILL ("10s", "2m"). Absent, the defaults apply. */
#define WORKLOAD_PIDS_LIMIT_DEFAULT     1024
#define WORKLOAD_PIDS_LIMIT_MAX         4194304
#define WORKLOAD_STOP_TIMEOUT_DEFAULT_S 10
#define WORKLOAD_STOP_TIMEOUT_MAX_S     300
/* A whole number from 1 to WORKLOAD_PIDS_LIMIT_MAX. */
int workload_pids_limit_parse(const char *s, int64_t *limit, struct idyl_err *err);
int workload_pids_limit_check(int64_t limit, struct idyl_err *err);
/* Seconds ("30s", "30") or minutes ("2m"), from 1s to 5m. */
int workload_stop_timeout_parse(const char *s, int64_t *seconds, struct idyl_err *err);
/* Canonical memory text: the largest binary unit that divides it ("256Mi"),
 * else bytes. */
void resource_memory_format(int64_t bytes, char *buf, size_t size);

#endif

#ifndef IDYL_WORKLOAD_RECORD
#define IDYL_WORKLOAD_RECORD
/* A workload as stored: the current revision's spec (canonical JSON made by
 * the server, so equal specs compare equal as text), the admission result
 * that never changes for the revision, and the status the scheduler and the
 * node move forward. The scheduler's view of the spec is kept in fields. */
#define WORKLOAD_IP_MAX 45 /* an IPv6 address at the longest */

struct idyl_workload {
        uint64_t subnet;
        char name[WORKLOAD_NAME_MAX + 1];
        int64_t revision;
        char *spec; /* owned JSON text */
        enum workload_phase phase;
        enum isolation_class isolation; /* effective class of this revision */
        enum isolation_source source;   /* where it came from */
        char node[64];                  /* "" until placed */
        char runtime_profile[48];       /* "" until placed */
        char message[512];
        char *placement; /* owned JSON text of placement metrics; may be NULL */
        int restarts;
        int64_t created_at, updated_at; /* unix seconds */
        /* the scheduler's view of the spec */
        char platform[WORKLOAD_PLATFORM_MAX + 1]; /* "" fits any node */
        int64_t cpu_milli;
        int64_t memory_bytes;
        int gpus;
        char devices[DEVICE_LIST_TEXT]; /* comma-joined device paths asked for (spec.devices) */
        char ip[WORKLOAD_IP_MAX + 1];   /* status.ip: its address on its node; "" when none */
};

/* A workload that owns nothing yet: safe to release on every path. */
#define IDYL_WORKLOAD_INIT                                                                         \
        {                                                                                          \
                .phase = PHASE_PENDING                                                             \
        }

/* Frees what a workload owns (spec, placement); the struct can be reused. */
void workload_release(struct idyl_workload *w);

struct idyl_event {
        int64_t time; /* unix seconds */
        int64_t revision;
        char type[32]; /* "Admitted", "Rejected", ... */
        char message[512];
};
#endif
