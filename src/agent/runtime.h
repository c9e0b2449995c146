/* The node agent's runtime interface: what the reconcile loop needs from a
 * container runtime, implemented once per provider (Docker Engine API,
 * containerd CRI). The loop never knows which one it drives. */
#ifndef IDYL_AGENT_RUNTIME_H
#define IDYL_AGENT_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/isolation.h"
#include "core/netpolicy.h"
#include "core/node.h"
#include "core/workload.h"
#include "util/err.h"

/* One readiness check, as `idyl node status` prints it. */
struct rt_check {
        char name[32];     /* "socket", "daemon", "handler", "kvm", ... */
        char subject[160]; /* what it checks: "/dev/kvm", "unix:///run/docker.sock" */
        bool ok;
        char detail[256];
};

#define RT_CHECKS_MAX 20

/* What a health probe found: the checks, and the facts the node reports. */
struct rt_health {
        struct rt_check checks[RT_CHECKS_MAX];
        size_t nchecks;
        bool ready;       /* every check passed */
        char reason[256]; /* the first failure, "" when ready */
        char version[64]; /* runtime version, when the daemon answered */
        char platform[64];
        int64_t cpu_milli, memory_bytes;
        int gpus;
};

/* Adds a check to h; keeps ready/reason up to date. Returns ok. */
bool rt_health_check(struct rt_health *h, const char *name, const char *subject, bool ok,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* GPUs this machine exposes to containers: its NVIDIA device nodes
 * (/dev/nvidia0, /dev/nvidia1, ...), counted the same for every runtime. */
int rt_host_gpus(void);

enum rt_state { RT_CREATED, RT_RUNNING, RT_EXITED };

/* Something the runtime runs for this node (a Docker container, a CRI
 * sandbox with its container), found by the labels the agent set. */
struct rt_instance {
        char id[80];
        char workload[64];
        int64_t revision;
        enum rt_state state;
        int exit_code;  /* when exited */
        int64_t ran_ms; /* how long the last run lasted, when exited; -1 unknown */
        char ip[48];    /* its address on the node's workload network; "" unknown */
};

/* A read-only bind of a host path (a secret's directory on the agent's tmpfs). */
struct rt_mount {
        const char *host_path;
        const char *container_path;
        bool readonly;
};

/* What to run, from an assignment. Strings are borrowed from it. */
struct rt_workload {
        const char *name;
        int64_t revision;
        const char *image;
        const char *platform; /* "" for any */
        int64_t cpu_milli, memory_bytes;
        int gpus;
        const char **env; /* "K=V" */
        size_t nenv;
        const char **cmd; /* NULL: the image's own */
        size_t ncmd;
        const struct rt_mount *mounts; /* secrets: binds of the agent's tmpfs */
        size_t nmounts;
        const char **devices; /* host device paths, passed at the same path; none: no device */
        size_t ndevices;
        int64_t pids_limit;     /* spec.pidsLimit; 0: RT_PIDS_LIMIT_DEFAULT */
        int64_t stop_timeout_s; /* spec.stopTimeout, SIGTERM to SIGKILL; 0: the default */
};

#define RT_PIDS_LIMIT_DEFAULT     WORKLOAD_PIDS_LIMIT_DEFAULT
#define RT_STOP_TIMEOUT_DEFAULT_S WORKLOAD_STOP_TIMEOUT_DEFAULT_S
#define RT_STOP_TIMEOUT_MAX_S     WORKLOAD_STOP_TIMEOUT_MAX_S

/* w's PID limit and stop grace, defaults applied (grace at most the max). */
int64_t rt_pids_limit(const struct rt_workload *w);
int64_t rt_stop_timeout_s(const struct rt_workload *w);
/* A duration from a spec: seconds as a number, or "10s", "2m"; 0 when
 * absent or not understood (the default applies). */
int64_t rt_duration_s(const json_t *v);

/* Where a log or exec stream's output goes (agent/stream.c). */
struct rt_sink {
        /* channel 1 stdout, 2 stderr; returns -1 once the reader is gone */
        int (*write)(void *arg, int channel, const char *data, size_t len);
        void *arg;
        const volatile bool *abort; /* true once the reader went or the agent stops */
};

struct rt_logs {
        bool follow;   /* keep streaming what the workload writes */
        bool previous; /* the run before the current one only */
        long tail;     /* the last N lines; -1: all */
};

struct runtime;

struct runtime_ops {
        /* Probes the runtime for real and fills h (never fails: a failure is a
         * failed check). */
        void (*health)(struct runtime *rt, struct rt_health *h);
        /* Everything this node runs, by label. The caller frees *out. */
        int (*list)(struct runtime *rt, struct rt_instance **out, size_t *n, struct idyl_err *err);
        /* Pulls image unless the runtime has it (IfNotPresent). */
        int (*ensure_image)(struct runtime *rt, const char *image, const char *platform,
                            struct idyl_err *err);
        /* Creates and starts w; id gets the new instance's id. */
        int (*run)(struct runtime *rt, const struct rt_workload *w, char *id, size_t idsize,
                   struct idyl_err *err);
        /* Starts an exited instance again (same workload and revision). */
        int (*restart)(struct runtime *rt, const struct rt_instance *inst,
                       const struct rt_workload *w, struct idyl_err *err);
        /* Stops (grace period, then kill) and removes an instance. */
        int (*remove)(struct runtime *rt, const char *id, struct idyl_err *err);
        /* Blocks, calling changed(arg) whenever an instance of this node changes,
         * until an error or *stop; NULL when the runtime has no event stream (the
         * agent then lists periodically). */
        int (*watch)(struct runtime *rt, void (*changed)(void *arg), void *arg,
                     const volatile bool *stop, struct idyl_err *err);
        /* Brings the node's packet-filter rules in line with what it runs now
         * and rt->network: per workload, removed once it runs nothing. */
        int (*enforce)(struct runtime *rt, struct idyl_err *err);
        /* Streams inst's output to sink (agent/docker_stream.c, cri_stream.c). */
        int (*logs)(struct runtime *rt, const struct rt_instance *inst, const struct rt_logs *o,
                    const struct rt_sink *sink, struct idyl_err *err);
        /* Runs argv in inst, streaming its output; *exit_code is its status.
         * stdin_fd (-1: none) is read for the process's stdin, and its end
         * closes it. When *sink->abort ends the call while the process still
         * runs, its processes are stopped (SIGTERM, then SIGKILL after
         * EXEC_STOP_GRACE_MS) and *exit_code is -1. */
        int (*exec)(struct runtime *rt, const struct rt_instance *inst, const char *const *argv,
                    size_t argc, int stdin_fd, const struct rt_sink *sink, int *exit_code,
                    struct idyl_err *err);
        /* Runtime calls stop early once *flag is true (the agent is stopping). */
        void (*set_abort)(struct runtime *rt, const volatile bool *flag);
        void (*destroy)(struct runtime *rt);
};

struct runtime {
        const struct runtime_ops *ops;
        enum isolation_class isolation; /* what this runtime runs */
        char node_key[96];              /* label value naming this node: "SUBNET/NAME" */
        /* the subnet's network policy, as the agent last learned it; read and
         * written under netpolicy_lock */
        struct network_policy network;
};

/* Sets rt's network policy; true when it differs from the one it had. */
bool runtime_set_network_policy(struct runtime *rt, const struct network_policy *p);

/* The runtime for a node's settings. provider "docker" or "containerd";
 * endpoint "unix:///path" or NULL for the preset's default. */
int runtime_open(const char *provider, const char *handler, const char *cri_handler,
                 const char *endpoint, enum isolation_class isolation, const char *node_key,
                 struct runtime **out, struct idyl_err *err);

/* Labels the agent puts on everything it runs. */
#define LABEL_NODE     "io.idyl.node"
#define LABEL_WORKLOAD "io.idyl.workload"
#define LABEL_REVISION "io.idyl.revision"

/* "unix:///x.sock" -> "/x.sock"; NULL when not a unix endpoint. */
const char *endpoint_socket_path(const char *endpoint);

/* Docker Engine API (docker.c). */
int runtime_docker_open(const char *socket_path, struct runtime **out, struct idyl_err *err);
/* The Engine's socket, for a stream's own connection (docker_stream.c). */
const char *runtime_docker_socket(struct runtime *rt);
int docker_logs(struct runtime *rt, const struct rt_instance *inst, const struct rt_logs *o,
                const struct rt_sink *sink, struct idyl_err *err);
int docker_exec(struct runtime *rt, const struct rt_instance *inst, const char *const *argv,
                size_t argc, int stdin_fd, const struct rt_sink *sink, int *exit_code,
                struct idyl_err *err);

/* containerd through CRI (cri.c). handler is the runtime type the node
 * promises (io.containerd.kata-qemu.v2); cri_handler the CRI runtime_handler
 * to run sandboxes with, NULL or "" to derive it from handler. */
int runtime_cri_open(const char *socket_path, const char *handler, const char *cri_handler,
                     enum isolation_class isolation, struct runtime **out, struct idyl_err *err);
/* The CRI socket, for a stream's own connection (cri_stream.c). */
const char *runtime_cri_socket(struct runtime *rt);
int cri_logs(struct runtime *rt, const struct rt_instance *inst, const struct rt_logs *o,
             const struct rt_sink *sink, struct idyl_err *err);
int cri_exec(struct runtime *rt, const struct rt_instance *inst, const char *const *argv,
             size_t argc, int stdin_fd, const struct rt_sink *sink, int *exit_code,
             struct idyl_err *err);
/* Where the CRI runtime's CNI configuration and plugins live (join's
 * --cni-conf-dir, --cni-bin-dir); NULL or "" keeps the default
 * (/etc/cni/net.d, /usr/lib/cni). rt must be a CRI runtime. */
int runtime_cri_set_cni(struct runtime *rt, const char *conf_dir, const char *bin_dir,
                        struct idyl_err *err);
/* Where the sandboxes' log directories go (an absolute path; the agent
 * names one in its node directory, so every node and test run has its
 * own). rt must be a CRI runtime. */
int runtime_cri_set_log_root(struct runtime *rt, const char *dir, struct idyl_err *err);
/* "io.containerd.kata-qemu.v2" -> "kata-qemu"; a name without the
 * io.containerd. prefix is kept. Returns -1 when out is too small. */
int runtime_cri_handler_name(const char *handler, char *out, size_t size);

#endif
