/* idyld's central structures: the server context every handler receives,
 * the request/response pair, and the route table the HTTP layer walks. */
#ifndef IDYL_SERVER_H
#define IDYL_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/lifecycle.h"
#include "core/resources_json.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/err.h"

#define SERVER_BODY_MAX       (3u * 1024 * 1024) /* larger bodies get 413, unparsed */
#define SERVER_HEADER_MEMORY  (64u * 1024)       /* per connection: request line and headers */
#define SERVER_CLIENT_TIMEOUT 30u                /* default seconds before a silent client is cut */
#define SERVER_BODY_TIMEOUTS  4     /* a request body may take this many client timeouts */
#define SERVER_URL_MAX        8192u /* longer request targets get 414, in JSON */
#define SERVER_CONNECTIONS    4096u /* default --max-connections */
/* libmicrohttpd's threads. A handler that writes waits on its thread for
 * the group commit, so the pool bounds how many writers one COMMIT serves:
 * with 4, NODES=1000 WORKLOADS=5000 bench/e2e.sh gave 646-729 deploys/s,
 * with 16 870-968, with 32 845-897. */
#define SERVER_HTTP_THREADS 16u
#define ROUTE_MAX_PARAMS    4

struct waiters;
struct scheduler;
struct seal_key;
struct metrics;
struct liveness;
struct heads;
struct replicas;
struct assign_memo;

struct idyl_server {
        struct idyl_store *store;     /* owned */
        struct MHD_Daemon *mhd;       /* owned */
        unsigned port;                /* bound port (useful with :0) */
        int node_ttl;                 /* seconds a silent node stays healthy */
        struct waiters *waiters;      /* long-polling requests (server/http.c) */
        struct scheduler *sched;      /* the scheduling loop (server/scheduler.c) */
        const char *tls_cert;         /* PEM certificate chain; NULL: plain HTTP */
        const char *tls_key;          /* PEM private key, with tls_cert */
        bool insecure_listen;         /* allow plain HTTP on a non-loopback address */
        unsigned client_timeout;      /* seconds a silent connection may last (0: default);
                                         a request head must be whole within it */
        unsigned max_connections;     /* open connections served at once (0: default) */
        int64_t history_retention_ms; /* events and audit older than this go; 0: kept */
        struct heads *heads;          /* connections whose request head is pending (http.c) */
        /* seals secret values (server/seal.c); NULL: secrets unavailable */
        const struct seal_key *seal;
        struct metrics *metrics; /* owned; made by server_start (server/metrics.c) */
        /* nodes' last heartbeats (server/liveness.c); NULL: the store's only */
        struct liveness *liveness;
        struct streams *streams; /* log and exec streams (server/stream.c) */
        /* several replicas on one store (server/replicas.c); NULL: a lone idyld */
        struct replicas *replicas;
        /* this replica's API address for the others ("https://host:port") */
        char advertise_addr[300];
        /* what each node was last sent (server/assign_memo.c); NULL: whole sets */
        struct assign_memo *assign_memo;
};

/* ---- one request ------------------------------------------------------- */
struct request {
        struct idyl_server *srv;
        struct MHD_Connection *conn;
        const char *method;
        const char *url;
        const char *params[ROUTE_MAX_PARAMS]; /* {name} segments of the route, in order */
        size_t nparams;
        json_t *body;             /* parsed body (object); NULL when empty */
        struct idyl_token caller; /* who is asking */
        int64_t wait_deadline_ms; /* 0, or when a suspended long-poll must answer */
};

struct response {
        int status;            /* 200 unless the handler says otherwise; a change
                                  handler sets it before it commits (audit) */
        json_t *body;          /* owned; NULL for an empty body */
        json_t *warnings;      /* array of strings sent as Warning headers; may be NULL */
        uint64_t audit_subnet; /* the subnet a change was about, when the path does not
                                  say; set before the change commits */
        /* A long-poll handler that has nothing to say yet sets these and
         * returns 0 without a body: the request sleeps until server_notify
         * names `wait_key` or the deadline passes, then the handler runs again
         * (with req->wait_deadline_ms set). */
        int64_t suspend_until_ms;
        char wait_key[96];
        uint64_t gen_before; /* set by server_wait_prepare */
        /* A body that is not JSON (GET /metrics): owned, sent instead of body. */
        char *text;
        const char *content_type; /* static; the Content-Type of text */
        /* A stream route's ticket (server/stream.c): answer 101 and hand the
         * connection over; the connection owns it from then. */
        void *upgrade;
        /* the request went to another replica, which audits it: not here */
        bool forwarded;
};

typedef int (*handler_fn)(struct request *req, struct response *resp, struct idyl_err *err);

enum route_flags {
        ROUTE_PUBLIC = 1 << 0,   /* no credential needed */
        ROUTE_BODY = 1 << 1,     /* expects a JSON object body */
        ROUTE_NO_AUDIT = 1 << 2, /* a report, not a change: kept out of the audit log */
        ROUTE_SCOPED = 1 << 3,   /* no {slug}, but subnet-scoped callers may call it:
                                    the handler confines them to their subnet */
        /* a read that is audited too (a node reading secret values) */
        ROUTE_AUDIT_READ = 1 << 4,
};

/* The roles a route admits, as a mask of ROLE_BIT()s. */
#define ROLE_BIT(r)  (1u << (r))
#define ROLES_OP     ROLE_BIT(ROLE_OPERATOR)
#define ROLES_AUTHOR (ROLE_BIT(ROLE_OPERATOR) | ROLE_BIT(ROLE_AUTHOR))
#define ROLES_NODE   (ROLE_BIT(ROLE_OPERATOR) | ROLE_BIT(ROLE_PROVIDER))
#define ROLES_ANY    (ROLES_AUTHOR | ROLE_BIT(ROLE_PROVIDER))

/* Every route declares the roles it admits. A caller scoped to a subnet
 * (token subnet != 0) may only call routes under /v1/subnets/{slug} of that
 * subnet, or ROUTE_SCOPED ones. */
struct route {
        const char *method;
        const char *pattern; /* "/v1/subnets/{slug}" */
        handler_fn handler;
        unsigned flags;
        unsigned roles; /* ROLE_BIT mask; 0 with ROUTE_PUBLIC */
        /* the query parameters it takes, comma-separated ("version,wait");
         * NULL: none. Any other is refused before the handler runs. */
        const char *query;
};

extern const struct route server_routes[];
extern const size_t server_nroutes;

/* Starts listening on `listen` ("HOST:PORT") with the store already open
 * (ownership passes to the server): HTTPS when tls_cert is set; plain HTTP
 * only on a loopback address unless insecure_listen. */
int server_start(struct idyl_server *srv, const char *listen, struct idyl_err *err);
void server_stop(struct idyl_server *srv);

/* Wakes every long-poll waiting on `key` (e.g. "100000000001/host-7"), on
 * this replica and the others. */
void server_notify(struct idyl_server *srv, const char *key);
/* As server_notify, on this replica only. */
void server_notify_local(struct idyl_server *srv, const char *key);
/* Call before reading the state a long-poll waits on: names the key and
 * remembers its notify generation, so no notify in between is missed. */
void server_wait_prepare(struct request *req, struct response *resp, const char *key);
/* Ends a handler's store transaction with the handler's result rc: on
 * rc < 0 rolls it back and returns -1; otherwise sets resp->status to
 * `status` first (the commit writes the audit record, which carries it)
 * and returns what the commit returns. */
int server_tx_end(struct idyl_store *st, int rc, struct response *resp, int status,
                  struct idyl_err *err);
/* Wakes the watches of a subnet's workloads (server/watch.c): call after a
 * change to them is committed. */
void watch_subnet_changed(struct idyl_server *srv, uint64_t subnet);
void watch_key(uint64_t subnet, char *buf, size_t size);

/* ---- the scheduling loop (server/scheduler.c) ---------------------------- */
int scheduler_start(struct idyl_server *srv, struct idyl_err *err);
/* Stops the loop (kicks are still accepted, and dropped); scheduler_free
 * releases it once no request can kick any more. */
void scheduler_stop(struct idyl_server *srv);
void scheduler_free(struct idyl_server *srv);
/* Asks for a scheduling pass over a subnet soon (coalesced). */
void scheduler_kick(struct idyl_server *srv, uint64_t subnet);
/* After a commit that changed the subnet's nodes or what is placed on them:
 * the scheduler's next pass reads them from the store again. */
void scheduler_nodes_changed(struct idyl_server *srv, uint64_t subnet);
/* Runs one pass over a subnet now (tests, benchmarks, dry runs); the loop's
 * own kicks also run the drain step (server/drain.c) first, on the same
 * read of the subnet's nodes. */
int scheduler_run_subnet(struct idyl_server *srv, uint64_t subnet, struct idyl_err *err);
/* Adds what the workloads summed in `u` use to a node's view (core/sched.h):
 * their resources, and the microVM overhead once per workload. */
struct sched_node;
void scheduler_account_usage(struct sched_node *v, const struct idyl_node_usage *u);
/* Declares down every node silent past the TTL; their workloads become lost. */
int scheduler_check_health(struct idyl_server *srv, struct idyl_err *err);

/* ---- several replicas (server/replicas.c) -------------------------------- */
/* With a replicated store: takes the lead when nobody holds it and starts
 * the thread that renews it and receives the other replicas' messages;
 * nothing otherwise. Call before scheduler_start. */
int replicas_start(struct idyl_server *srv, struct idyl_err *err);
void replicas_stop(struct idyl_server *srv);
void replicas_free(struct idyl_server *srv);
/* Whether this replica runs the scheduler and node health now (a lone
 * idyld always does). */
bool server_is_leader(const struct idyl_server *srv);
/* Inside a transaction: fails unless this replica's epoch is still current
 * (and keeps it so until the commit); 0 for a lone idyld. */
int replicas_fence(struct idyl_server *srv, struct idyl_err *err);
/* Sends "KIND WHAT" to the other replicas ('n': wake KEY, 'k': kick SLUG). */
void replicas_publish(struct idyl_server *srv, char kind, const char *what);
/* This replica's id in the store; NULL for a lone idyld. */
const char *replicas_self(const struct idyl_server *srv);
/* Where a stream for the node's agent is served: 0 here (a lone idyld, an
 * agent no replica recorded, or one connected to this replica), 1 at
 * another replica, whose id and advertised address are copied to peer
 * (REPLICA_ID_MAX bytes) and addr; IDYL_E_UNAVAILABLE when the agent's
 * replica has not advertised itself within REPLICA_GONE_MS. */
#define REPLICA_ID_MAX   24
#define MSG_REPLICA_GONE "node \"%s\" is connected to replica %s, which does not answer"
#define REPLICA_GONE_MS  15000 /* three advertisements missed */
int replicas_node_route(struct idyl_server *srv, uint64_t subnet, const char *node, char *peer,
                        char *addr, size_t addr_size, struct idyl_err *err);

/* Sends `state` ("READY=1", "STOPPING=1") to systemd when $NOTIFY_SOCKET
 * is set (Type=notify); 0 without it (server/sdnotify.c). */
int server_notify_systemd(const char *state, struct idyl_err *err);
/* ---- assignments sent, in memory (server/assign_memo.c) ----------------- */

int assign_memo_start(struct idyl_server *srv, struct idyl_err *err);
void assign_memo_free(struct idyl_server *srv);
/* The answer for a node that holds version `since` (-1: unknown) of its
 * assignments, now `whole` (taken): the change since then when the memo
 * remembers sending that version, else whole. Remembers whole as sent;
 * since ASSIGN_MEMO_FORGET answers whole and forgets the node. */
#define ASSIGN_MEMO_FORGET (-2)
json_t *assign_memo_answer(struct idyl_server *srv, uint64_t subnet, const char *node,
                           json_int_t since, json_t *whole);

/* ---- node liveness in memory (server/liveness.c) ------------------------ */
/* Starts the table; its start is when every node's grace begins. */
int liveness_start(struct idyl_server *srv, struct idyl_err *err);
void liveness_free(struct idyl_server *srv);
/* Notes a heartbeat of the node at `ms`. */
int liveness_seen(struct idyl_server *srv, uint64_t subnet, const char *name, int64_t ms,
                  struct idyl_err *err);
/* Notes that the node's agent polls its streams on this replica at `ms`
 * and, with several replicas, records this replica as the agent's in the
 * store (store_node_replica_set) when that may have changed: at the
 * agent's first poll here, its first after a gap, and every third of a
 * --node-ttl otherwise. Nothing for a lone idyld. */
int liveness_streams_polled(struct idyl_server *srv, uint64_t subnet, const char *name, int64_t ms,
                            struct idyl_err *err);
/* Restarts every node's grace from now (a replica that takes over leads). */
void liveness_regrace(struct idyl_server *srv);
/* Makes n->last_heartbeat the latest of the store's and memory's. */
void node_liveness_fold(const struct idyl_server *srv, struct idyl_node *n);
/* The node's status now, with the grace after a start: no node is down
 * before a full --node-ttl has passed since idyld started. */
enum node_status node_status_now(const struct idyl_server *srv, const struct idyl_node *n,
                                 int64_t now);

/* Creates the first operator credential when the store has none and writes
 * it to DIR/operator.token (0600). */
int server_bootstrap_operator(struct idyl_server *srv, const char *dir, struct idyl_err *err);

/* A token's public id: the first TOKEN_ID_LEN digits of its hash. */
void auth_token_id(const struct idyl_token *tok, char out[TOKEN_ID_LEN + 1]);

/* Hex SHA-256 of a secret, as stored. */
void auth_hash_token(const char *secret, char out[TOKEN_HASH_HEXLEN + 1]);
/* A new random secret ("idyl_" + 64 hex digits) in buf (at least 70 bytes). */
int auth_new_secret(char *buf, size_t size, struct idyl_err *err);

/* ---- log and exec streams (server/stream.c) ------------------------------ */
int streams_start(struct idyl_server *srv, struct idyl_err *err);
/* Ends every stream and waits for their threads (before MHD stops). */
void streams_stop(struct idyl_server *srv);
void streams_free(struct idyl_server *srv);
int handle_workload_logs(struct request *req, struct response *resp, struct idyl_err *err);
int handle_workload_exec(struct request *req, struct response *resp, struct idyl_err *err);
int handle_node_streams(struct request *req, struct response *resp, struct idyl_err *err);
int handle_node_stream_open(struct request *req, struct response *resp, struct idyl_err *err);

/* ---- handlers (one file per resource) ------------------------------------ */
int handle_healthz(struct request *req, struct response *resp, struct idyl_err *err);
int handle_readyz(struct request *req, struct response *resp, struct idyl_err *err);
int handle_status(struct request *req, struct response *resp, struct idyl_err *err);
int handle_metrics(struct request *req, struct response *resp, struct idyl_err *err);
int handle_workload_watch(struct request *req, struct response *resp, struct idyl_err *err);
/* GET .../workloads?watch=V&wait=S: the list's watch (server/watch.c). */
/* A list asked as a watch (?watch=VERSION, or empty for the first look). */
bool list_watch_requested(const struct request *req);
int handle_workload_list_watch(struct request *req, struct response *resp, struct idyl_err *err);
int handle_workload_explain(struct request *req, struct response *resp, struct idyl_err *err);
int handle_subnet_create(struct request *req, struct response *resp, struct idyl_err *err);
int handle_subnet_list(struct request *req, struct response *resp, struct idyl_err *err);
int handle_subnet_get(struct request *req, struct response *resp, struct idyl_err *err);
int handle_subnet_edit(struct request *req, struct response *resp, struct idyl_err *err);
int handle_subnet_delete(struct request *req, struct response *resp, struct idyl_err *err);
int handle_workload_deploy(struct request *req, struct response *resp, struct idyl_err *err);
int handle_workload_list(struct request *req, struct response *resp, struct idyl_err *err);
int handle_workload_get(struct request *req, struct response *resp, struct idyl_err *err);
int handle_workload_delete(struct request *req, struct response *resp, struct idyl_err *err);
int handle_workload_events(struct request *req, struct response *resp, struct idyl_err *err);
int handle_workload_approve(struct request *req, struct response *resp, struct idyl_err *err);
int handle_workload_deny(struct request *req, struct response *resp, struct idyl_err *err);
int handle_node_join(struct request *req, struct response *resp, struct idyl_err *err);
int handle_node_list(struct request *req, struct response *resp, struct idyl_err *err);
int handle_node_get(struct request *req, struct response *resp, struct idyl_err *err);
int handle_node_delete(struct request *req, struct response *resp, struct idyl_err *err);
int handle_node_admit(struct request *req, struct response *resp, struct idyl_err *err);
int handle_node_revoke(struct request *req, struct response *resp, struct idyl_err *err);
int handle_node_heartbeat(struct request *req, struct response *resp, struct idyl_err *err);
int handle_node_assignments(struct request *req, struct response *resp, struct idyl_err *err);
int handle_node_eligibility(struct request *req, struct response *resp, struct idyl_err *err);
int handle_node_drain(struct request *req, struct response *resp, struct idyl_err *err);
/* The nodes' watch (server/watch.c): GET .../nodes?watch=V&wait=S and
 * GET .../nodes/{name}/watch?version=V&wait=S. */
int handle_node_list_watch(struct request *req, struct response *resp, struct idyl_err *err);
int handle_node_watch(struct request *req, struct response *resp, struct idyl_err *err);
int handle_token_create(struct request *req, struct response *resp, struct idyl_err *err);
int handle_token_list(struct request *req, struct response *resp, struct idyl_err *err);
int handle_token_revoke(struct request *req, struct response *resp, struct idyl_err *err);
int handle_audit_list(struct request *req, struct response *resp, struct idyl_err *err);

int handle_secret_create(struct request *req, struct response *resp, struct idyl_err *err);
int handle_secret_update(struct request *req, struct response *resp, struct idyl_err *err);
int handle_secret_list(struct request *req, struct response *resp, struct idyl_err *err);
int handle_secret_get(struct request *req, struct response *resp, struct idyl_err *err);
int handle_secret_delete(struct request *req, struct response *resp, struct idyl_err *err);
int handle_node_workload_secrets(struct request *req, struct response *resp, struct idyl_err *err);
/* Whether a workload's spec names the secret (spec.secrets or spec.secretEnv). */
bool workload_uses_secret(const struct idyl_workload *w, const char *name);

/* A change request's audit record, written in the transaction of its
 * change (server/audit.c): audit_change_begin before the handler runs,
 * audit_change_end after. The record says resp->status and
 * resp->audit_subnet as they stand when the change commits, so a change
 * handler sets both before it commits. */
struct audit_change {
        struct store_audit_pending pending;
        struct request *req;
        const struct route *rt;
        const struct response *resp;
};

void audit_change_begin(struct audit_change *c, struct request *req, const struct route *rt,
                        const struct response *resp);
void audit_change_end(struct audit_change *c);

/* Records one request and its answer in the audit log (server/audit.c),
 * unless its change already carried the record (c may be NULL): refusals,
 * failures and requests that changed nothing. A failure to record is
 * logged, never turned into the request's answer. */
void audit_record(struct request *req, const struct route *rt, int status,
                  const struct response *resp, const struct audit_change *c);

/* ---- pages of lists (server/paging.c) -------------------------------------- */
#define PAGE_LIMIT_MAX 1000             /* the largest ?limit a list answers */
#define PAGE_QUERY     "limit,continue" /* the query parameters of a list route */

/* Reads ?limit and ?continue into *pg: 1 when the request asks for a page,
 * 0 when it asks for the whole list, -1 (IDYL_E_INVALID, nothing done) for
 * a limit that is not 1 to PAGE_LIMIT_MAX in decimal, a token no page gave,
 * continue without limit, or limit with watch. */
int page_request(const struct request *req, struct store_page *pg, struct idyl_err *err);
/* After a store page call failed: the store refused the key, so the token
 * was not one of this list's (400); any other failure as it is. Returns -1. */
int page_failed(struct idyl_err *err);
/* The answer of a page, taking items: {"items": items, "continue": T},
 * without continue when pg->next is "" (the last page). */
json_t *page_answer(json_t *items, const struct store_page *pg);

/* ---- the workload lifecycle (server/lifecycle.c) ------------------------- */
/* Every phase change goes through workload_transition, inside a
 * lifecycle_tx: one store transaction plus what its changes set in motion,
 * done once it commits (nodes' long-polls woken, subnets kicked). */
struct lifecycle_tx_node {
        uint64_t subnet;
        char name[64];
};

struct lifecycle_tx {
        struct idyl_server *srv;         /* NULL until begun */
        struct lifecycle_tx_node *nodes; /* nodes whose assignment set changed */
        size_t nnodes, nodes_cap;
        uint64_t *kicks; /* subnets the scheduler must look at */
        size_t nkicks, kicks_cap;
        uint64_t *stale; /* subnets whose node records changed for the scheduler */
        size_t nstale, stale_cap;
        /* the scheduler's own pass: its placements are already in its views,
         * so the nodes they changed do not make its view of them stale */
        bool placements_counted;
};
#define LIFECYCLE_TX_INIT                                                                          \
        {                                                                                          \
                0                                                                                  \
        }

/* Opens the store transaction. */
int lifecycle_tx_begin(struct lifecycle_tx *tx, struct idyl_server *srv, struct idyl_err *err);
/* Bumps the recorded nodes' assignment versions, commits, then wakes their
 * long-polls and kicks the recorded subnets. Rolls back on failure. The tx
 * is released either way. */
int lifecycle_tx_commit(struct lifecycle_tx *tx, struct idyl_err *err);
/* Rolls back and releases; nothing is woken. Safe on a tx never begun. */
void lifecycle_tx_abort(struct lifecycle_tx *tx);
/* Commits when rc is 0, else aborts: returns 0, or -1 (err set by the
 * failed step, or by the commit). */
int lifecycle_tx_end(struct lifecycle_tx *tx, int rc, struct idyl_err *err);
/* Changes that are not phase changes (a node admitted, a workload deleted,
 * a policy edited) record their effects with these. */
int lifecycle_tx_node_changed(struct lifecycle_tx *tx, uint64_t subnet, const char *node,
                              struct idyl_err *err);
int lifecycle_tx_kick(struct lifecycle_tx *tx, uint64_t subnet, struct idyl_err *err);
/* A node record of the subnet changed in what the scheduler reads of it
 * (admission, eligibility, readiness, capacity, platform, devices, down):
 * after the commit its view of the subnet's nodes is read again. A node
 * whose assignment set changed (lifecycle_tx_node_changed) counts too. */
int lifecycle_tx_nodes_stale(struct lifecycle_tx *tx, uint64_t subnet, struct idyl_err *err);

/* Moves `w` by `event` (core/lifecycle.h): IDYL_E_CONFLICT when the table
 * has no such step. Sets the phase, the status message (`message`, or the
 * step's own when NULL), updated_at, clears the placement when the step
 * says so, writes w, appends the event record (with `event_message`, or
 * the step's, or the status message) when the step records, and notes the
 * step's effects in tx. The caller sets any other field (node, placement,
 * restarts) before. */
int workload_transition(struct lifecycle_tx *tx, struct idyl_workload *w,
                        enum lifecycle_event event, const char *message, const char *event_message,
                        struct idyl_err *err);

/* ---- a node's assignment set (server/nodes.c) ----------------------------- */
#define NODE_WAIT_KEY_LEN 96
/* Bumps a node's assignment version (inside the caller's transaction);
 * unknown nodes are ignored. lifecycle_tx_commit calls it. */
int node_assignments_changed(struct idyl_store *st, uint64_t subnet, const char *node,
                             struct idyl_err *err);
/* The long-poll key of a node: "<slug>/<node>". */
void node_wait_key(uint64_t subnet, const char *node, char *buf, size_t size);
/* Makes every workload placed on `node` lost, with `why` as its message, so
 * the scheduler places it again. */
int node_unplace_workloads(struct lifecycle_tx *tx, const struct idyl_node *node, const char *why,
                           struct idyl_err *err);
int nodes_count(struct idyl_store *st, uint64_t slug, size_t *n, struct idyl_err *err);
/* Operators act for any node; a node credential only for its own node:
 * IDYL_E_FORBIDDEN otherwise. */
int node_caller_check(const struct request *req, uint64_t slug, const char *name,
                      struct idyl_err *err);
/* The node object of SPEC 2 with its allocation (*out a new reference). */
int node_object(struct idyl_server *srv, const struct idyl_node *n, json_t **out,
                struct idyl_err *err);
/* Every node object of a subnet (pg NULL), or one page of them, as a new
 * JSON array in *out; IDYL_E_NOT_FOUND for an unknown subnet. Allocations
 * come from the store's usage sums: no workload spec is read. */
int node_list_objects(struct idyl_server *srv, uint64_t slug, struct store_page *pg, json_t **out,
                      struct idyl_err *err);

/* ---- drain (server/drain.c) ------------------------------------------------ */
/* How many workloads of one draining node may be on their way at once:
 * moved off it and not yet running elsewhere (Nomad's migrate max_parallel). */
#define DRAIN_MAX_PARALLEL 2

/* The workloads a drain moved that are not yet running elsewhere; kept by
 * the scheduler thread alone. Memory only: a new leader starts with none,
 * so at most another DRAIN_MAX_PARALLEL move at once after a takeover. */
struct drain_move {
        uint64_t subnet;
        char node[64];
        char workload[WORKLOAD_NAME_MAX + 1];
        int64_t revision;
};
struct drain_moves {
        struct drain_move *items;
        size_t n, cap;
};
void drain_moves_release(struct drain_moves *m);
/* One step of every draining node among the subnet's `nodes` (as the
 * caller read them; each is read again in the step's transaction): forgets
 * the moves that arrived, moves more of the node's workloads (LIFE_MIGRATE)
 * up to the bound, and ends the drain of a node with nothing left on it
 * (it stays ineligible). *changed is set when it wrote anything.
 * Scheduler thread only (or a test that drives the loop's steps itself). */
int drain_step(struct idyl_server *srv, struct drain_moves *moves, uint64_t slug,
               const struct idyl_node *nodes, size_t n, bool *changed, struct idyl_err *err);

/* ---- workloads and subnets (server/workloads.c, server/subnets.c) ---------- */
/* The subnet's networkPolicy object for its nodes' assignments; NULL when
 * it has none (egress all). Returns a new reference. */
json_t *subnet_network_policy_json(const struct idyl_subnet *sn);

/* After a policy change, inside tx: waiting workloads the policy no longer
 * admits become rejected; placed ones are named in `warnings`. */
int workloads_recheck_policy(struct lifecycle_tx *tx, const struct idyl_subnet *sn,
                             json_t *warnings, struct idyl_err *err);
int workloads_count(struct idyl_store *st, uint64_t slug, size_t *n, struct idyl_err *err);

/* The workload object of SPEC 2 (server/workloads.c); a new reference. */
json_t *workload_to_json(const struct idyl_workload *w);
/* Deploy dry-run (server/dryrun.c): whether the request asks for one, and,
 * inside the deploy's transaction (which the caller then rolls back), the
 * scheduling pass whose result replaces resp->body. */
bool deploy_is_dry_run(const struct request *req);
bool edit_is_dry_run(const struct request *req);
int deploy_dry_run_place(struct request *req, uint64_t slug, const char *name,
                         struct response *resp, struct idyl_err *err);

/* ---- JSON field helpers for handlers (server/json.c) -------------------- */
/* CPU as cores (number) or "500m"; memory as "256Mi" or bytes. */
/* Optional boolean field (false when absent); 400 when not a boolean. */
int json_get_bool(const json_t *obj, const char *key, bool *out, struct idyl_err *err);
/* Rejects any key of `obj` not in the NULL-terminated `allowed` list. */
int json_check_keys(const json_t *obj, const char *const *allowed, const char *where,
                    struct idyl_err *err);
/* Optional string field: *out NULL when absent; 400 when not a string. */
int json_get_string(const json_t *obj, const char *key, const char **out, struct idyl_err *err);
/* Optional array of strings: borrowed pointers into obj, malloc'd array. */
int json_get_string_array(const json_t *obj, const char *key, const char ***out, size_t *n,
                          struct idyl_err *err);

#endif
