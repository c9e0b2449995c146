/* idyl-sim: hollow nodes, as Kubernetes' kubemark runs them. Each hollow node
 * joins through the same node API as the real agent, heartbeats, and reports
 * every workload assigned to it as running, without running anything.
 *
 * Two halves with one seam between them:
 *   node.c  the per-node state machine. Pure: it decides which request a
 *           node sends next, builds the request bodies and folds the answers
 *           in. No sockets, no clocks (callers pass "now").
 *   loop.c  the I/O: one libcurl multi handle driven by epoll through
 *           curl_multi_socket_action, two transfers per node at most (the
 *           control channel for join/heartbeat and the assignments
 *           long-poll), and signals through a signalfd. */
#ifndef IDYL_SIM_H
#define IDYL_SIM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/node.h"
#include "util/err.h"

#define SIM_COUNT_MAX       100000
#define SIM_POLL_WAIT       30 /* seconds an assignments long-poll is held */
#define SIM_HEARTBEAT_FIRST 10 /* seconds, until the server says otherwise */
#define SIM_RETRY_MS        1000
#define SIM_RETRY_MAX_MS    5000
#define SIM_CREDENTIAL_MAX  256
#define SIM_ADDR_MAX        512

/* What every hollow node of one idyl-sim run reports. */
struct sim_config {
        uint64_t subnet;
        char subnet_text[16]; /* the slug as 12 digits */
        size_t count;
        enum runtime_profile profile;
        int64_t cpu_milli, memory_bytes;
        int gpus;
        char platform[64];
        bool microvm_gpu;
        char devices[DEVICE_LIST_TEXT]; /* comma-joined device paths every node offers */
        char prefix[48];                /* node i is "<prefix>-<i>" */
        char addr[SIM_ADDR_MAX];
        char token[SIM_CREDENTIAL_MAX]; /* joins with it; empty: anonymous */
};

/* The requests a node sends. Join and heartbeat share the control channel,
 * the assignments long-poll has its own. */
enum sim_request {
        SIM_REQ_NONE = 0,
        SIM_REQ_JOIN,
        SIM_REQ_HEARTBEAT,
        SIM_REQ_ASSIGNMENTS,
};

enum sim_node_state {
        SIM_NODE_NEW = 0, /* not joined yet */
        SIM_NODE_JOINED,
};

/* A workload the server assigned to the node (name and revision is all a
 * hollow node needs to report it). */
struct sim_assigned {
        char *name; /* owned */
        int64_t revision;
};

/* One hollow node. Invariant: at most one control request and one
 * assignments request are in flight (control_busy / poll_busy). */
struct sim_node {
        char name[64];
        char credential[SIM_CREDENTIAL_MAX]; /* the node's own, from the join answer */
        enum sim_node_state state;
        bool control_busy, poll_busy;
        int64_t assign_version;  /* -1 until the first assignments answer */
        struct sim_assigned *ws; /* owned */
        size_t nws;
        bool report_due;             /* assignments changed since the last heartbeat built */
        int heartbeat_seconds;       /* the period the server asks for */
        int64_t heartbeat_at_ms;     /* next periodic heartbeat */
        int64_t control_retry_at_ms; /* back-off after a failed control request */
        int64_t poll_retry_at_ms;    /* back-off after a failed long-poll */
        unsigned control_failures, poll_failures;
};

/* ---- node.c: the state machine ----------------------------------------- */

/* Makes node `index` of the run: "<prefix>-<index>"; -1 (err) when that is
 * not a valid node name. */
int sim_node_init(struct sim_node *n, const struct sim_config *c, size_t index,
                  struct idyl_err *err);
void sim_node_release(struct sim_node *n);

/* The control request to send now (join, or a heartbeat when one is due or a
 * report is waiting), or SIM_REQ_NONE. A returned request marks the channel
 * busy until sim_node_done()/sim_node_failed(). */
enum sim_request sim_node_next_control(struct sim_node *n, int64_t now_ms);
/* True when an assignments long-poll should start now (marks it busy). */
bool sim_node_next_poll(struct sim_node *n, int64_t now_ms);

/* Request bodies (new references, the caller decrefs). Building a heartbeat
 * clears report_due: it carries every assigned workload as running. */
json_t *sim_join_body(const struct sim_config *c, const struct sim_node *n);
json_t *sim_heartbeat_body(const struct sim_config *c, struct sim_node *n);
/* API path of a request for n, e.g. "/v1/subnets/S/nodes/N/heartbeat". -1
 * (err) when it does not fit `size`. */
int sim_request_path(const struct sim_config *c, const struct sim_node *n, enum sim_request r,
                     char *buf, size_t size, struct idyl_err *err);

/* Folds a 2xx answer (body may be NULL) of request r into n and frees the
 * channel. -1 (err) when the answer is unusable; for a join that is fatal. */
int sim_node_done(struct sim_node *n, enum sim_request r, const json_t *body, int64_t now_ms,
                  struct idyl_err *err);
/* Frees the channel of request r after a failure and backs off before the
 * next try. A failed heartbeat keeps its report due. */
void sim_node_failed(struct sim_node *n, enum sim_request r, int64_t now_ms);

/* ---- loop.c: the I/O --------------------------------------------------- */

/* Runs the nodes until SIGTERM or SIGINT arrives on `signal_fd` (a signalfd):
 * 0 then. Prints "idyl-sim: N nodes joined subnet S" once all have joined.
 * -1 (err) when a node cannot join or curl cannot be set up. */
int sim_run(const struct sim_config *c, struct sim_node *nodes, int signal_fd,
            struct idyl_err *err);

#endif
