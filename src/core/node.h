/* Provider nodes: the runtime profiles (presets) a node joins with, how the
 * isolation class and VMM backend follow from a runtime handler, node
 * health, and the per-workload microVM overhead. Pure; no I/O. */
#ifndef IDYL_NODE_H
#define IDYL_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/isolation.h"
#include "core/secret.h"
#include "util/err.h"

enum runtime_profile {
        PROFILE_NONE = 0, /* raw settings, no preset */
        PROFILE_DOCKER,
        PROFILE_CONTAINERD_RUNC,
        PROFILE_CONTAINERD_KATA_QEMU,
        PROFILE_CONTAINERD_KATA_FIRECRACKER,
        PROFILE__COUNT
};

/* What a preset writes: provider, runtime type and default local settings. */
struct profile_preset {
        const char *name;        /* "containerd-kata-qemu" */
        const char *provider;    /* "docker" | "containerd" */
        const char *handler;     /* runtime type: "io.containerd.kata-qemu.v2" */
        const char *cri_handler; /* CRI runtime_handler name: "kata-qemu"; NULL for docker */
        const char *endpoint;    /* default runtime socket */
        enum isolation_class isolation;
        enum vmm_backend backend;
};

#define PROFILE_NAMES "docker, containerd-runc, containerd-kata-qemu, containerd-kata-firecracker"

/* The preset of a profile; NULL for PROFILE_NONE. */
const struct profile_preset *profile_preset(enum runtime_profile p);
const char *runtime_profile_name(enum runtime_profile p);
/* Parses --runtime-profile; rejects unknown values and the containerd-kata-*
 * shorthand with a message listing the real profiles. */
int runtime_profile_parse(const char *s, enum runtime_profile *out, struct idyl_err *err);

/* Raw settings: the isolation class and backend follow from the handler
 * (io.containerd.runc.v2 / runc -> container; io.containerd.kata-qemu.v2,
 * kata-qemu, io.containerd.kata.v2 -> microvm/qemu; io.containerd.kata-fc.v2,
 * kata-fc -> microvm/firecracker). Unknown handlers are refused. */
int runtime_derive(const char *provider, const char *handler, enum isolation_class *cls,
                   enum vmm_backend *backend, struct idyl_err *err);

enum node_admission { NODE_ADMITTED = 0, NODE_PENDING, NODE_REVOKED, NODE_ADMISSION__COUNT };

enum node_status {
        NODE_READY = 0,
        NODE_NOT_READY,
        NODE_DOWN,
};

/* Whether the scheduler may give the node new work (Nomad's eligibility).
 * A draining node is ineligible while its workloads move off; once none is
 * left it is plain ineligible until an operator enables it. Stored as its
 * number: append only. */
enum node_eligibility {
        NODE_ELIGIBLE = 0,
        NODE_INELIGIBLE,
        NODE_DRAINING,
        NODE_ELIGIBILITY__COUNT
};

/* "eligible" or "ineligible" (a draining node is ineligible). */
const char *node_eligibility_name(enum node_eligibility e);

const char *node_admission_name(enum node_admission a);
int node_admission_from_name(const char *s);
const char *node_status_name(enum node_status s);

/* Node names: DNS-1123 subdomain-ish ([a-z0-9]([-a-z0-9.]*[a-z0-9])?, <= 63). */
int node_name_check(const char *name, struct idyl_err *err);

/* Per-workload microVM overhead (Kubernetes RuntimeClass overhead): Kata's
 * defaults, 250m CPU with 160Mi (qemu) or 130Mi (firecracker); nothing for
 * containers. */
void microvm_overhead(enum isolation_class cls, enum vmm_backend backend, int64_t *cpu_milli,
                      int64_t *memory_bytes);

/* A node as stored: identity, admission, the runtime metadata it reports,
 * capacity, and health bookkeeping. */
struct idyl_node {
        uint64_t subnet;
        char name[64];
        enum node_admission admission;
        bool simulated;
        enum runtime_profile profile; /* PROFILE_NONE for raw settings */
        char provider[16];            /* "docker" | "containerd" */
        char handler[64];
        enum isolation_class isolation;
        enum vmm_backend backend;
        bool runtime_ready;
        char reason[256]; /* why not ready */
        bool microvm_gpu;
        char platform[64];
        int64_t cpu_milli, memory_bytes;
        int gpus;
        int64_t last_heartbeat; /* unix milliseconds */
        bool down;              /* declared down: its workloads were made lost */
        int64_t assign_version; /* bumped whenever its assignments change */
        int64_t created_at;
        char devices[DEVICE_LIST_TEXT]; /* comma-joined device paths the node offers */
        enum node_eligibility eligibility;
};

/* A node not yet admitted, with no runtime: a zeroed node would read as
 * admitted (NODE_ADMITTED is 0). */
#define IDYL_NODE_INIT                                                                             \
        {                                                                                          \
                .admission = NODE_PENDING                                                          \
        }

/* ready, not-ready or down at `now_ms`, with a TTL in seconds. */
enum node_status node_status_at(const struct idyl_node *n, int64_t now_ms, int ttl_seconds);

#endif
