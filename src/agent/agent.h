/* The provider node agent: reads the node's local state (written by
 * `idyl node join`), reports the runtime's readiness and capacity to the
 * control plane, learns its assignments by long-poll and reconciles them
 * against the runtime. */
#ifndef IDYL_AGENT_H
#define IDYL_AGENT_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "agent/runtime.h"
#include "core/isolation.h"
#include "util/err.h"

/* The node's local configuration: DIR/node.json. */
struct agent_config {
        char dir[PATH_MAX];
        char addr[512];
        char subnet[16];
        char name[64];
        char credential[128];
        char profile[48]; /* "" for raw settings */
        char provider[16];
        char handler[64];
        char cri_handler[64];
        char endpoint[PATH_MAX + 8];
        char cni_conf_dir[PATH_MAX], cni_bin_dir[PATH_MAX]; /* containerd; "": default */
        enum isolation_class isolation;
        enum vmm_backend backend;
        /* what the provider offers (join --cpu/--memory/--gpus); -1: all */
        int64_t offer_cpu_milli, offer_memory;
        int offer_gpus;
        /* runtime operations in parallel (`idyl node run --workers`); 0: default */
        size_t workers;
};

int agent_config_load(const char *dir, struct agent_config *c, struct idyl_err *err);

/* Opens the runtime the configuration names. */
int agent_runtime_open(const struct agent_config *c, struct runtime **out, struct idyl_err *err);

/* Runs the agent in the foreground until SIGTERM or SIGINT. Takes the
 * directory's lock (one agent per node directory) and writes DIR/agent.pid. */
int agent_run(const struct agent_config *c, struct idyl_err *err);

/* The pid of the agent running on dir, or 0 when none runs. */
pid_t agent_running(const char *dir);

/* Sends SIGTERM to the agent of dir and waits up to timeout_s for it to
 * exit. Returns 0 (also when none ran; *was_running says which). */
int agent_stop(const char *dir, int timeout_s, bool *was_running, struct idyl_err *err);

#endif
