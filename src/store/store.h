/* The store interface: everything idyld persists goes through these calls,
 * so SQLite (store/sqlite.c) and, later, PostgreSQL implement one contract
 * and pass one conformance suite (tests/unit/test_store.c).
 *
 * Every call is atomic and durable when it returns 0: an acknowledged write
 * survives kill -9. Calls made between store_tx_begin and store_tx_commit
 * join that transaction instead. A store is safe to share between threads. */
#ifndef IDYL_STORE_H
#define IDYL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/node.h"
#include "core/secret.h"
#include "core/subnet.h"
#include "core/workload.h"
#include "util/err.h"

enum idyl_role { ROLE_NONE = 0, ROLE_OPERATOR, ROLE_AUTHOR, ROLE_PROVIDER, ROLE__COUNT };

const char *idyl_role_name(enum idyl_role r);
enum idyl_role idyl_role_from_name(const char *s);

#define TOKEN_HASH_HEXLEN 64
#define TOKEN_ID_LEN      12 /* a token's public id: the first hex digits of its hash */

struct idyl_token {
        char hash[TOKEN_HASH_HEXLEN + 1]; /* hex SHA-256 of the secret; never the secret */
        enum idyl_role role;
        uint64_t subnet; /* 0: not scoped to a subnet */
        char node[64];   /* a node credential acts only for this node ("" otherwise) */
        int64_t created_at;
};

/* One audit record: who changed (or tried to change) what, where, when and
 * with which result. */
struct idyl_audit {
        int64_t id;                   /* increasing; assigned by the store */
        int64_t time_ms;              /* unix milliseconds; 0 at add: now */
        char token[TOKEN_ID_LEN + 1]; /* the caller's token id ("" when anonymous) */
        enum idyl_role role;
        char node[64];   /* the caller's node, for node credentials */
        char method[8];  /* HTTP method */
        char path[256];  /* request path, without the query */
        uint64_t subnet; /* 0: not about one subnet */
        int status;      /* HTTP status answered */
};

/* A secret as stored: the key names in the clear (they are shown), the
 * values only sealed (server/seal.c: nonce|ciphertext|tag, bound to
 * "<slug>/<name>"). The store never sees a value in the clear. */
struct idyl_secret {
        uint64_t subnet;
        char name[SECRET_NAME_MAX + 1];
        char *keys;            /* owned JSON array of the key names, sorted */
        unsigned char *sealed; /* owned; NULL in lists */
        size_t sealed_len;
        int64_t created_at, updated_at; /* unix seconds */
};

/* Frees what a secret owns (keys, sealed); the struct can be reused. */
void secret_release(struct idyl_secret *s);
void secret_list_free(struct idyl_secret *items, size_t n);

/* What the workloads placed on one node use, by isolation class (microVM
 * overhead is per workload, so the count matters). */
struct idyl_node_usage {
        char node[64];
        enum isolation_class isolation;
        int64_t cpu_milli, memory_bytes, gpus; /* sums */
        size_t count;                          /* workloads summed */
};

/* A replica as it advertises itself to the others (several replicas). */
struct idyl_replica {
        char id[24];
        char addr[256];      /* its API address, "https://host:port" */
        int64_t seen_ms_ago; /* since it last advertised, by the store's clock */
};

struct idyl_store;

/* One page of a list (keyset pagination, as Kubernetes' list chunks): at
 * most `limit` items of the list, in its order, whose key follows `after`.
 * The query reads only those rows (and one more, to know whether more
 * follow), never the whole list. An item's key is text the list defines
 * (see each *_page call); callers treat it as opaque and only hand a page's
 * `next` back as the following page's `after`. */
#define STORE_PAGE_KEY_MAX 72 /* a key with its NUL */
struct store_page {
        size_t limit;                   /* at most this many items; at least 1 */
        char after[STORE_PAGE_KEY_MAX]; /* "": the first page */
        char next[STORE_PAGE_KEY_MAX];  /* out: the last item's key when more follow, else "" */
};

/* For the backends: IDYL_E_INVALID (`invalid page key "K"`) unless
 * pg->limit is at least 1 and pg->after is "" or passes check (a name
 * rule of core/; NULL: any text). */
int store_page_check(const struct store_page *pg, int (*check)(const char *, struct idyl_err *),
                     struct idyl_err *err);
/* For the backends: what a list keyed by its items' names needs to page. */
struct store_named_items {
        size_t size;                                   /* bytes per item */
        size_t name_offset;                            /* of the item's char name[] */
        int (*check)(const char *, struct idyl_err *); /* the name rule a key must pass */
        void (*release_one)(void *item);               /* frees what an item owns; NULL: nothing */
};
extern const struct store_named_items store_workload_names, store_node_names, store_secret_names;
/* For the backends, after a named page's query read *n items (limit + 1 at
 * most) into items: cuts the extra one and sets pg->next. */
void store_page_end_named(struct store_page *pg, const struct store_named_items *k, void *items,
                          size_t *n);
/* For the backends, after a page's query asked for limit + 1 items: when it
 * got more than the limit, cuts *n to the limit (release_one frees what a
 * cut item owns; NULL: nothing) and returns true: more follow. */
bool store_page_trim(const struct store_page *pg, void *items, size_t size, size_t *n,
                     void (*release_one)(void *item));

struct store_ops {
        const char *name;
        void (*close)(struct idyl_store *st);
        int (*tx_begin)(struct idyl_store *st, struct idyl_err *err);
        int (*tx_commit)(struct idyl_store *st, struct idyl_err *err);
        void (*tx_rollback)(struct idyl_store *st);

        int (*subnet_create)(struct idyl_store *st, struct idyl_subnet *sn, struct idyl_err *err);
        int (*subnet_get)(struct idyl_store *st, uint64_t slug, struct idyl_subnet *out,
                          struct idyl_err *err);
        int (*subnet_list)(struct idyl_store *st, struct idyl_subnet **out, size_t *n,
                           struct idyl_err *err);
        int (*subnet_page)(struct idyl_store *st, struct store_page *pg, struct idyl_subnet **out,
                           size_t *n, struct idyl_err *err);
        int (*subnet_update)(struct idyl_store *st, const struct idyl_subnet *sn,
                             struct idyl_err *err);
        int (*subnet_delete)(struct idyl_store *st, uint64_t slug, struct idyl_err *err);

        int (*workload_get)(struct idyl_store *st, uint64_t subnet, const char *name,
                            struct idyl_workload *out, struct idyl_err *err);
        int (*workload_list)(struct idyl_store *st, uint64_t subnet, const char *node,
                             struct idyl_workload **out, size_t *n, struct idyl_err *err);
        int (*workload_page)(struct idyl_store *st, uint64_t subnet, struct store_page *pg,
                             struct idyl_workload **out, size_t *n, struct idyl_err *err);
        int (*workload_usage)(struct idyl_store *st, uint64_t subnet, struct idyl_node_usage **out,
                              size_t *n, struct idyl_err *err);
        int (*workload_put)(struct idyl_store *st, const struct idyl_workload *w,
                            struct idyl_err *err);
        int (*workload_delete)(struct idyl_store *st, uint64_t subnet, const char *name,
                               struct idyl_err *err);
        int (*event_add)(struct idyl_store *st, uint64_t subnet, const char *name,
                         const struct idyl_event *ev, struct idyl_err *err);
        int (*event_list)(struct idyl_store *st, uint64_t subnet, const char *name,
                          struct idyl_event **out, size_t *n, struct idyl_err *err);

        int (*node_get)(struct idyl_store *st, uint64_t subnet, const char *name,
                        struct idyl_node *out, struct idyl_err *err);
        int (*node_list)(struct idyl_store *st, uint64_t subnet, struct idyl_node **out, size_t *n,
                         struct idyl_err *err);
        int (*node_page)(struct idyl_store *st, uint64_t subnet, struct store_page *pg,
                         struct idyl_node **out, size_t *n, struct idyl_err *err);
        int (*node_put)(struct idyl_store *st, const struct idyl_node *node, struct idyl_err *err);
        int (*node_delete)(struct idyl_store *st, uint64_t subnet, const char *name,
                           struct idyl_err *err);
        int (*node_bump_assignments)(struct idyl_store *st, uint64_t subnet, const char *name,
                                     struct idyl_err *err);
        int (*node_replica_set)(struct idyl_store *st, uint64_t subnet, const char *name,
                                const char *replica, struct idyl_err *err);
        int (*node_replica_get)(struct idyl_store *st, uint64_t subnet, const char *name, char *out,
                                size_t size, struct idyl_err *err);

        int (*token_add)(struct idyl_store *st, const struct idyl_token *tok, struct idyl_err *err);
        int (*token_find)(struct idyl_store *st, const char *hash, struct idyl_token *out,
                          struct idyl_err *err);
        int (*token_count)(struct idyl_store *st, enum idyl_role role, size_t *n,
                           struct idyl_err *err);
        int (*token_list)(struct idyl_store *st, uint64_t subnet, struct idyl_token **out,
                          size_t *n, struct idyl_err *err);
        int (*token_page)(struct idyl_store *st, uint64_t subnet, struct store_page *pg,
                          struct idyl_token **out, size_t *n, struct idyl_err *err);
        int (*token_revoke)(struct idyl_store *st, const char *id, struct idyl_token *out,
                            struct idyl_err *err);

        int (*audit_add)(struct idyl_store *st, const struct idyl_audit *rec, struct idyl_err *err);
        int (*audit_list)(struct idyl_store *st, uint64_t subnet, size_t limit,
                          struct idyl_audit **out, size_t *n, struct idyl_err *err);
        int (*history_prune)(struct idyl_store *st, int64_t before_ms, size_t *removed,
                             struct idyl_err *err);

        int (*setting_ensure)(struct idyl_store *st, const char *key, const char *value, char *out,
                              size_t size, struct idyl_err *err);
        int (*secret_create)(struct idyl_store *st, const struct idyl_secret *sec,
                             struct idyl_err *err);
        int (*secret_update)(struct idyl_store *st, const struct idyl_secret *sec,
                             struct idyl_err *err);
        int (*secret_get)(struct idyl_store *st, uint64_t subnet, const char *name,
                          struct idyl_secret *out, struct idyl_err *err);
        int (*secret_list)(struct idyl_store *st, uint64_t subnet, struct idyl_secret **out,
                           size_t *n, struct idyl_err *err);
        int (*secret_page)(struct idyl_store *st, uint64_t subnet, struct store_page *pg,
                           struct idyl_secret **out, size_t *n, struct idyl_err *err);
        int (*secret_delete)(struct idyl_store *st, uint64_t subnet, const char *name,
                             struct idyl_err *err);

        /* Several replicas (NULL in a store only one idyld uses). */
        int (*lease_acquire)(struct idyl_store *st, int64_t *epoch, struct idyl_err *err);
        int (*lease_renew)(struct idyl_store *st, int64_t epoch, struct idyl_err *err);
        int (*lease_check)(struct idyl_store *st, int64_t epoch, struct idyl_err *err);
        int (*publish)(struct idyl_store *st, const char *message, struct idyl_err *err);
        int (*receive)(struct idyl_store *st, int timeout_ms,
                       void (*fn)(void *arg, const char *message), void *arg, struct idyl_err *err);
        int (*node_touch)(struct idyl_store *st, uint64_t subnet, const char *name, int64_t ms,
                          struct idyl_err *err);
        int (*replica_advertise)(struct idyl_store *st, const char *id, const char *addr,
                                 struct idyl_err *err);
        int (*replica_list)(struct idyl_store *st, struct idyl_replica **out, size_t *n,
                            struct idyl_err *err);
};

struct idyl_store {
        const struct store_ops *ops;
};

/* Opens the store named by `where`: "postgres://..." selects PostgreSQL,
 * anything else is a data directory holding SQLite. On success *out is a
 * store the caller frees with store_close. */
int store_open(const char *where, struct idyl_store **out, struct idyl_err *err);
int store_sqlite_open(const char *dir, struct idyl_store **out, struct idyl_err *err);
/* `url` is a libpq connection URI (postgres://USER@HOST:PORT/DB); the schema
 * is created or migrated before this returns. */
int store_postgres_open(const char *url, struct idyl_store **out, struct idyl_err *err);

static inline void store_close(struct idyl_store *st)
{
        if (st)
                st->ops->close(st);
}

static inline int store_tx_begin(struct idyl_store *st, struct idyl_err *err)
{
        return st->ops->tx_begin(st, err);
}

static inline int store_tx_commit(struct idyl_store *st, struct idyl_err *err)
{
        return st->ops->tx_commit(st, err);
}

static inline void store_tx_rollback(struct idyl_store *st)
{
        st->ops->tx_rollback(st);
}

/* Assigns the next slug (increasing from SUBNET_SLUG_FIRST, never reused)
 * and created_at, then writes the subnet. */
static inline int store_subnet_create(struct idyl_store *st, struct idyl_subnet *sn,
                                      struct idyl_err *err)
{
        return st->ops->subnet_create(st, sn, err);
}

/* IDYL_E_NOT_FOUND with `subnet "<slug>" not found` when absent. */
static inline int store_subnet_get(struct idyl_store *st, uint64_t slug, struct idyl_subnet *out,
                                   struct idyl_err *err)
{
        return st->ops->subnet_get(st, slug, out, err);
}

/* All subnets by slug; *out is malloc'd (the caller frees it), NULL when n == 0. */
static inline int store_subnet_list(struct idyl_store *st, struct idyl_subnet **out, size_t *n,
                                    struct idyl_err *err)
{
        return st->ops->subnet_list(st, out, n, err);
}

/* A page of store_subnet_list; an item's key is its slug (12 digits). */
static inline int store_subnet_page(struct idyl_store *st, struct store_page *pg,
                                    struct idyl_subnet **out, size_t *n, struct idyl_err *err)
{
        return st->ops->subnet_page(st, pg, out, n, err);
}

/* Replaces region, policy and approval of an existing subnet. */
static inline int store_subnet_update(struct idyl_store *st, const struct idyl_subnet *sn,
                                      struct idyl_err *err)
{
        return st->ops->subnet_update(st, sn, err);
}

static inline int store_subnet_delete(struct idyl_store *st, uint64_t slug, struct idyl_err *err)
{
        return st->ops->subnet_delete(st, slug, err);
}

/* IDYL_E_NOT_FOUND with `workload "N" not found in subnet "S"` when absent.
 * On success *out owns its spec/placement: workload_release it. */
static inline int store_workload_get(struct idyl_store *st, uint64_t subnet, const char *name,
                                     struct idyl_workload *out, struct idyl_err *err)
{
        return st->ops->workload_get(st, subnet, name, out, err);
}

/* Workloads of a subnet (0: of every subnet), only those placed on `node`
 * unless it is NULL ("": those placed nowhere), by subnet and name; free
 * with workload_list_free. */
static inline int store_workload_list(struct idyl_store *st, uint64_t subnet, const char *node,
                                      struct idyl_workload **out, size_t *n, struct idyl_err *err)
{
        return st->ops->workload_list(st, subnet, node, out, n, err);
}

/* A page of a subnet's workloads (subnet != 0), by name; an item's key is
 * its name. Free with workload_list_free. */
static inline int store_workload_page(struct idyl_store *st, uint64_t subnet, struct store_page *pg,
                                      struct idyl_workload **out, size_t *n, struct idyl_err *err)
{
        return st->ops->workload_page(st, subnet, pg, out, n, err);
}

/* What the placed workloads of a subnet use, one row per (node, isolation
 * class), by node; *out malloc'd. Reads no spec. Backends without their own
 * query get store_workload_usage_by_list. */
int store_workload_usage_by_list(struct idyl_store *st, uint64_t subnet,
                                 struct idyl_node_usage **out, size_t *n, struct idyl_err *err);

static inline int store_workload_usage(struct idyl_store *st, uint64_t subnet,
                                       struct idyl_node_usage **out, size_t *n,
                                       struct idyl_err *err)
{
        if (!st->ops->workload_usage)
                return store_workload_usage_by_list(st, subnet, out, n, err);
        return st->ops->workload_usage(st, subnet, out, n, err);
}

/* Inserts or replaces the workload (subnet, name). */
static inline int store_workload_put(struct idyl_store *st, const struct idyl_workload *w,
                                     struct idyl_err *err)
{
        return st->ops->workload_put(st, w, err);
}

/* Removes the workload and its events; IDYL_E_NOT_FOUND when absent. */
static inline int store_workload_delete(struct idyl_store *st, uint64_t subnet, const char *name,
                                        struct idyl_err *err)
{
        return st->ops->workload_delete(st, subnet, name, err);
}

/* Appends an event to a workload's history (time 0: now). */
static inline int store_event_add(struct idyl_store *st, uint64_t subnet, const char *name,
                                  const struct idyl_event *ev, struct idyl_err *err)
{
        return st->ops->event_add(st, subnet, name, ev, err);
}

/* A workload's events, oldest first; *out is malloc'd (caller frees). */
static inline int store_event_list(struct idyl_store *st, uint64_t subnet, const char *name,
                                   struct idyl_event **out, size_t *n, struct idyl_err *err)
{
        return st->ops->event_list(st, subnet, name, out, n, err);
}

void workload_list_free(struct idyl_workload *items, size_t n);

/* IDYL_E_NOT_FOUND with `node "N" not found in subnet "S"` when absent. */
static inline int store_node_get(struct idyl_store *st, uint64_t subnet, const char *name,
                                 struct idyl_node *out, struct idyl_err *err)
{
        return st->ops->node_get(st, subnet, name, out, err);
}

/* Nodes of a subnet (0: every subnet) by subnet and name; *out malloc'd. */
static inline int store_node_list(struct idyl_store *st, uint64_t subnet, struct idyl_node **out,
                                  size_t *n, struct idyl_err *err)
{
        return st->ops->node_list(st, subnet, out, n, err);
}

/* A page of a subnet's nodes (subnet != 0), by name; an item's key is its
 * name. *out malloc'd. */
static inline int store_node_page(struct idyl_store *st, uint64_t subnet, struct store_page *pg,
                                  struct idyl_node **out, size_t *n, struct idyl_err *err)
{
        return st->ops->node_page(st, subnet, pg, out, n, err);
}

/* Inserts or replaces the node (subnet, name). */
static inline int store_node_put(struct idyl_store *st, const struct idyl_node *node,
                                 struct idyl_err *err)
{
        return st->ops->node_put(st, node, err);
}

/* Removes the node and its credentials; IDYL_E_NOT_FOUND when absent. */
static inline int store_node_delete(struct idyl_store *st, uint64_t subnet, const char *name,
                                    struct idyl_err *err)
{
        return st->ops->node_delete(st, subnet, name, err);
}

/* Adds one to the node's assign_version in one write (no read), so its
 * long-poll sees a new set; a node that does not exist is not an error. */
static inline int store_node_bump_assignments(struct idyl_store *st, uint64_t subnet,
                                              const char *name, struct idyl_err *err)
{
        return st->ops->node_bump_assignments(st, subnet, name, err);
}

static inline int store_token_add(struct idyl_store *st, const struct idyl_token *tok,
                                  struct idyl_err *err)
{
        return st->ops->token_add(st, tok, err);
}

/* IDYL_E_NOT_FOUND when no token has that hash. */
static inline int store_token_find(struct idyl_store *st, const char *hash, struct idyl_token *out,
                                   struct idyl_err *err)
{
        return st->ops->token_find(st, hash, out, err);
}

static inline int store_token_count(struct idyl_store *st, enum idyl_role role, size_t *n,
                                    struct idyl_err *err)
{
        return st->ops->token_count(st, role, n, err);
}

/* Tokens of a subnet (0: every token), oldest first; *out malloc'd. */
static inline int store_token_list(struct idyl_store *st, uint64_t subnet, struct idyl_token **out,
                                   size_t *n, struct idyl_err *err)
{
        return st->ops->token_list(st, subnet, out, n, err);
}

/* A page of store_token_list, in its order; an item's key is
 * "<created_at>.<insertion number>", so a revoked token does not end the
 * list early. *out malloc'd. */
static inline int store_token_page(struct idyl_store *st, uint64_t subnet, struct store_page *pg,
                                   struct idyl_token **out, size_t *n, struct idyl_err *err)
{
        return st->ops->token_page(st, subnet, pg, out, n, err);
}
/* For the backends: the parts of a token page key ("" gives the start:
 * INT64_MIN and 0); -1 when it is not one. */
int store_token_key_parse(const char *key, int64_t *created_at, int64_t *seq);
/* For the backends: a token row with its insertion number. */
struct store_keyed_token {
        struct idyl_token token;
        int64_t seq;
};
/* For the backends: makes a token page of the rows a page query read (limit
 * + 1 at most; rows is taken and freed), setting pg->next. */
int store_token_page_finish(struct store_page *pg, struct store_keyed_token *rows,
                            struct idyl_token **out, size_t *n, struct idyl_err *err);

/* Deletes the token whose id (TOKEN_ID_LEN hex digits) is `id`, copying it
 * to *out first; IDYL_E_NOT_FOUND with `token "ID" not found` when absent. */
static inline int store_token_revoke(struct idyl_store *st, const char *id, struct idyl_token *out,
                                     struct idyl_err *err)
{
        return st->ops->token_revoke(st, id, out, err);
}

/* Appends an audit record (id and, when 0, time assigned). */
static inline int store_audit_add(struct idyl_store *st, const struct idyl_audit *rec,
                                  struct idyl_err *err)
{
        return st->ops->audit_add(st, rec, err);
}

/* A change's audit record, written in the change's own transaction, so a
 * crash cannot keep the one without the other. While one is pending for
 * this thread (store_audit_pend), the first unit of work the thread commits
 * on that store inserts the record fill() makes at that moment, and sets
 * `written` once that commit is durable; a unit rolled back, or a commit
 * that failed, leaves it pending. */
struct store_audit_pending {
        struct idyl_store *st;
        void (*fill)(void *arg, struct idyl_audit *out);
        void *arg;
        struct idyl_audit rec; /* the record as written */
        bool written;
};

/* Makes p this thread's pending record (NULL: none). The caller owns p and
 * clears it before p goes. */
void store_audit_pend(struct store_audit_pending *p);
/* For the backends, at the commit of a unit of work: this thread's pending
 * record for st not yet written, its record just filled, or NULL. */
struct store_audit_pending *store_audit_pending(struct idyl_store *st);

/* The newest `limit` records about a subnet (0: all subnets), newest
 * first; *out malloc'd (NULL when n == 0). */
static inline int store_audit_list(struct idyl_store *st, uint64_t subnet, size_t limit,
                                   struct idyl_audit **out, size_t *n, struct idyl_err *err)
{
        return st->ops->audit_list(st, subnet, limit, out, n, err);
}

/* Deletes the workload events and audit records older than before_ms (unix
 * milliseconds), in one change; *removed says how many. */
static inline int store_history_prune(struct idyl_store *st, int64_t before_ms, size_t *removed,
                                      struct idyl_err *err)
{
        return st->ops->history_prune(st, before_ms, removed, err);
}

/* ---- settings and secrets ---------------------------------------------- */

/* Records `value` under `key` unless the key already has one, then copies
 * the recorded value into out (size bytes), in one atomic step: with several
 * replicas the first to start records, the others read what it recorded. */
static inline int store_setting_ensure(struct idyl_store *st, const char *key, const char *value,
                                       char *out, size_t size, struct idyl_err *err)
{
        return st->ops->setting_ensure(st, key, value, out, size, err);
}

/* Inserts a new secret (created_at and updated_at as given);
 * IDYL_E_CONFLICT with `secret "N" already exists in subnet S` when the
 * name is taken. */
static inline int store_secret_create(struct idyl_store *st, const struct idyl_secret *sec,
                                      struct idyl_err *err)
{
        return st->ops->secret_create(st, sec, err);
}

/* Replaces the keys, sealed values and updated_at of an existing secret
 * (created_at is kept); IDYL_E_NOT_FOUND with MSG_SECRET_NOT_FOUND's text
 * when absent. */
static inline int store_secret_update(struct idyl_store *st, const struct idyl_secret *sec,
                                      struct idyl_err *err)
{
        return st->ops->secret_update(st, sec, err);
}

/* The secret with its sealed values; IDYL_E_NOT_FOUND with
 * `secret "N" not found in subnet S` (core/messages.h) when absent. On
 * success *out owns keys and sealed: secret_release it. */
static inline int store_secret_get(struct idyl_store *st, uint64_t subnet, const char *name,
                                   struct idyl_secret *out, struct idyl_err *err)
{
        return st->ops->secret_get(st, subnet, name, out, err);
}

/* A subnet's secrets by name, without their sealed values (sealed NULL);
 * free with secret_list_free. */
static inline int store_secret_list(struct idyl_store *st, uint64_t subnet,
                                    struct idyl_secret **out, size_t *n, struct idyl_err *err)
{
        return st->ops->secret_list(st, subnet, out, n, err);
}

/* A page of store_secret_list; an item's key is its name. Free with
 * secret_list_free. */
static inline int store_secret_page(struct idyl_store *st, uint64_t subnet, struct store_page *pg,
                                    struct idyl_secret **out, size_t *n, struct idyl_err *err)
{
        return st->ops->secret_page(st, subnet, pg, out, n, err);
}

/* IDYL_E_NOT_FOUND (as store_secret_get) when absent. */
static inline int store_secret_delete(struct idyl_store *st, uint64_t subnet, const char *name,
                                      struct idyl_err *err)
{
        return st->ops->secret_delete(st, subnet, name, err);
}

/* ---- several replicas ---------------------------------------------------- */

/* Whether several idyld may share this store (then the calls below work). */
static inline bool store_replicated(const struct idyl_store *st)
{
        return st->ops->lease_acquire != NULL;
}

/* Tries to become the leader: 1 with the new, larger *epoch when this
 * replica now holds the lease, 0 when another does, -1 on error. A lease
 * whose holder has not renewed for STORE_LEASE_TIMEOUT_S is taken from it
 * (its connection is ended), so a hung or partitioned leader is replaced. */
#define STORE_LEASE_TIMEOUT_S 8 /* so a follower leads within 10 s of a hang */
static inline int store_lease_acquire(struct idyl_store *st, int64_t *epoch, struct idyl_err *err)
{
        return st->ops->lease_acquire(st, epoch, err);
}

/* Renews the lease held under `epoch`; -1 when it is lost. */
static inline int store_lease_renew(struct idyl_store *st, int64_t epoch, struct idyl_err *err)
{
        return st->ops->lease_renew(st, epoch, err);
}

/* Inside a transaction: fails (IDYL_E_CONFLICT) unless `epoch` is still the
 * current one, and keeps it current until the transaction commits, so what
 * the transaction writes commits only under the current leader. */
static inline int store_lease_check(struct idyl_store *st, int64_t epoch, struct idyl_err *err)
{
        return st->ops->lease_check(st, epoch, err);
}

/* Sends a message to every replica's store_receive (its own included). */
static inline int store_publish(struct idyl_store *st, const char *message, struct idyl_err *err)
{
        return st->ops->publish(st, message, err);
}

/* Waits up to timeout_ms for published messages and calls fn for each. One
 * thread receives. */
static inline int store_receive(struct idyl_store *st, int timeout_ms,
                                void (*fn)(void *arg, const char *message), void *arg,
                                struct idyl_err *err)
{
        return st->ops->receive(st, timeout_ms, fn, arg, err);
}

/* Raises the node's stored last heartbeat to ms (never lowers it); a node
 * that does not exist is not an error. */
static inline int store_node_touch(struct idyl_store *st, uint64_t subnet, const char *name,
                                   int64_t ms, struct idyl_err *err)
{
        return st->ops->node_touch(st, subnet, name, ms, err);
}

/* Records that the node's agent is connected to replica `replica` (the
 * replica serving its streams long-poll), replacing what was recorded; the
 * record goes when the node is deleted. */
static inline int store_node_replica_set(struct idyl_store *st, uint64_t subnet, const char *name,
                                         const char *replica, struct idyl_err *err)
{
        return st->ops->node_replica_set(st, subnet, name, replica, err);
}

/* The replica last recorded for the node's agent, into out (size bytes);
 * IDYL_E_NOT_FOUND when none is. */
static inline int store_node_replica_get(struct idyl_store *st, uint64_t subnet, const char *name,
                                         char *out, size_t size, struct idyl_err *err)
{
        return st->ops->node_replica_get(st, subnet, name, out, size, err);
}

/* Records (or refreshes) this replica's id and address for the others, so
 * a request for a node's agent can reach the replica it is connected to. */
static inline int store_replica_advertise(struct idyl_store *st, const char *id, const char *addr,
                                          struct idyl_err *err)
{
        return st->ops->replica_advertise(st, id, addr, err);
}

/* The replicas that advertised, most recently seen first; *out malloc'd. */
static inline int store_replica_list(struct idyl_store *st, struct idyl_replica **out, size_t *n,
                                     struct idyl_err *err)
{
        return st->ops->replica_list(st, out, n, err);
}

#endif
