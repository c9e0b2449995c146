/* idyld's central structures: the server context every handler receives,
 * the request/response pair, and the route table the HTTP layer walks. */
#ifndef IDYL_SERVER_H
#define IDYL_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"
#include "util/err.h"

#define SERVER_BODY_MAX  (3u * 1024 * 1024) /* larger bodies get 413, unparsed */
#define ROUTE_MAX_PARAMS 4

struct idyl_server {
        struct idyl_store *store; /* owned */
        struct MHD_Daemon *mhd;   /* owned */
        unsigned port;            /* bound port (useful with :0) */
        int node_ttl;             /* seconds a silent node stays healthy */
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
};

struct response {
        int status;       /* 200 unless the handler says otherwise */
        json_t *body;     /* owned; NULL for an empty body */
        json_t *warnings; /* array of strings sent as Warning headers; may be NULL */
};

typedef int (*handler_fn)(struct request *req, struct response *resp, struct idyl_err *err);

enum route_flags {
        ROUTE_PUBLIC = 1 << 0, /* no credential needed */
        ROUTE_BODY = 1 << 1,   /* expects a JSON object body */
};

struct route {
        const char *method;
        const char *pattern; /* "/v1/subnets/{slug}" */
        handler_fn handler;
        unsigned flags;
        enum idyl_role role; /* least role allowed; ROLE_NONE with ROUTE_PUBLIC */
};

extern const struct route server_routes[];
extern const size_t server_nroutes;

/* Starts listening on `listen` ("HOST:PORT") with the store already open
 * (ownership passes to the server). */
int server_start(struct idyl_server *srv, const char *listen, struct idyl_err *err);
void server_stop(struct idyl_server *srv);

/* Creates the first operator credential when the store has none and writes
 * it to DIR/operator.token (0600). */
int server_bootstrap_operator(struct idyl_server *srv, const char *dir, struct idyl_err *err);

/* Hex SHA-256 of a secret, as stored. */
void auth_hash_token(const char *secret, char out[TOKEN_HASH_HEXLEN + 1]);
/* A new random secret ("idyl_" + 64 hex digits) in buf (at least 70 bytes). */
int auth_new_secret(char *buf, size_t size, struct idyl_err *err);

/* ---- handlers (one file per resource) ------------------------------------ */
int handle_healthz(struct request *req, struct response *resp, struct idyl_err *err);
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

/* Policy-change effects on a subnet's workloads (server/workloads.c). */
int workloads_recheck_policy(struct idyl_store *st, const struct idyl_subnet *sn, json_t *warnings,
                             struct idyl_err *err);
int workloads_count(struct idyl_store *st, uint64_t slug, size_t *n, struct idyl_err *err);

/* The subnet object of SPEC 2 (server/subnets.c); a new reference. */
struct idyl_subnet;
json_t *subnet_to_json(const struct idyl_subnet *sn);
struct idyl_workload;
json_t *workload_to_json(const struct idyl_workload *w);

/* ---- JSON field helpers for handlers (server/json.c) -------------------- */
/* Rejects any key of `obj` not in the NULL-terminated `allowed` list. */
int json_check_keys(const json_t *obj, const char *const *allowed, const char *where,
                    struct idyl_err *err);
/* Optional string field: *out NULL when absent; 400 when not a string. */
int json_get_string(const json_t *obj, const char *key, const char **out, struct idyl_err *err);
/* Optional array of strings: borrowed pointers into obj, malloc'd array. */
int json_get_string_array(const json_t *obj, const char *key, const char ***out, size_t *n,
                          struct idyl_err *err);

#endif
