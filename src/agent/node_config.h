/* The node's local configuration, DIR/node.json: written once by
 * `idyl node join` from idyld's join answer, read by the agent (`idyl node
 * run`, `node status`). This module is the only one that knows its keys. */
#ifndef IDYL_NODE_CONFIG_H
#define IDYL_NODE_CONFIG_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/http.h"
#include "core/isolation.h"
#include "util/err.h"

/* What the agent reads from node.json. */
struct agent_config {
        char dir[PATH_MAX];
        char addr[512];
        /* not in node.json: the CA of whoever runs the agent (IDYL_CA or the
         * CLI context), which verifies an https:// addr; "": the system store */
        char ca[4096];
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

/* What `idyl node join` keeps. Strings may be NULL (absent) but for addr,
 * subnet and joined. */
struct node_config_new {
        const char *addr, *subnet;
        const json_t *joined; /* idyld's join answer: name, credential, runtime, platform */
        const char *endpoint, *cni_conf_dir, *cni_bin_dir;
        bool offer; /* keep the answer's capacity as what the provider offers */
};

/* Writes DIR/node.json (0600, atomically; DIR is made 0700 when missing).
 * Returns 0, or -1 with err naming the file or the missing answer field. */
int node_config_save(const char *dir, const struct node_config_new *n, struct idyl_err *err);

/* Reads DIR/node.json into c, with the runtime endpoint defaulted from the
 * profile or provider. Returns 0, -1 with IDYL_E_NOT_FOUND when there is
 * none (the message says to join first), or IDYL_E_INVALID naming the bad
 * field. */
int node_config_load(const char *dir, struct agent_config *c, struct idyl_err *err);

/* A client to the control plane the node joined, with the node's credential
 * and CA. NULL when out of memory. */
struct http_client *node_config_client(const struct agent_config *c);

#endif
