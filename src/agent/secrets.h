/* The node side of secrets and devices (SPEC 6.3, 6.4): before a workload's
 * container starts, the agent reads the values of the secrets it names from
 * the control plane (its node route, with the node's own credential), writes
 * the --secret ones as files on a tmpfs the agent mounts and owns (never the
 * node's disk), and hands the runtime read-only binds of them at
 * /run/secrets/NAME, the --secret-env ones as environment variables, and the
 * devices the spec asks for, exactly. */
#ifndef IDYL_AGENT_SECRETS_H
#define IDYL_AGENT_SECRETS_H

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>

#include "agent/node_config.h"
#include "agent/runtime.h"
#include "util/err.h"

#define SECRETS_MOUNT_PREFIX "/run/secrets/"

struct http_client;

/* The agent's secret store: a tmpfs at DIR/secrets, mounted on first use. */
struct agent_secrets {
        char root[PATH_MAX];
        bool mounted; /* by this agent (unmounted by agent_secrets_release) */
        struct http_client *http;
        pthread_mutex_t mu;
};

/* What one start of a workload gets: owned copies the rt_workload borrows. */
struct agent_access {
        char **env; /* the spec's env and then each --secret-env key, "K=V" */
        size_t nenv;
        struct rt_mount *mounts;
        char **paths; /* host and container paths the mounts point into */
        size_t nmounts;
        const char **devices; /* borrowed from the assignment's spec */
        size_t ndevices;
};

/* Secrets live under c's node directory and are fetched from the control
 * plane as the node (its credential and CA). */
int agent_secrets_init(struct agent_secrets *s, const struct agent_config *c, struct idyl_err *err);
/* Unmounts the tmpfs (running containers keep their binds) and frees. */
void agent_secrets_release(struct agent_secrets *s);

/* Prepares workload `name`'s access from its spec: fetches the values when
 * it names secrets (base_path: /v1/subnets/S/nodes/N), writes the files,
 * builds env (base_env first) and mounts, and lists the devices. On failure
 * err says why and *out is empty. */
int agent_secrets_prepare(struct agent_secrets *s, const char *base_path, const char *name,
                          const json_t *spec, const char *const *base_env, size_t nbase_env,
                          struct agent_access *out, struct idyl_err *err);
void agent_access_release(struct agent_access *a);

/* Removes the files of every workload not in names (n of them). */
void agent_secrets_prune(struct agent_secrets *s, const char *const *names, size_t n);

#endif
