/* /v1/subnets/{slug}/nodes: joining (with the node's own credential in the
 * answer), the node object with health and allocation, admission by an
 * operator, heartbeats that carry runtime readiness and workload status, and
 * the assignments long-poll through which a placement reaches its node. */
#include "server/server.h"

#include <ctype.h>
#include <errno.h>

#include <inttypes.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/sched.h"
#include "core/subnet.h"
#include "util/timefmt.h"

#define HEARTBEAT_MIN_SECONDS 1
#define ASSIGNMENTS_WAIT_MAX  60

/* ---- the node object ------------------------------------------------------ */

struct allocation {
        int64_t cpu_milli, memory_bytes;
        int gpus;
};

static json_t *cpu_json(int64_t milli)
{
        return milli % 1000 ? json_real((double)milli / 1000.0) : json_integer(milli / 1000);
}

static json_t *resources_json(int64_t cpu_milli, int64_t memory_bytes, int gpus)
{
        char mem[32];

        resource_memory_format(memory_bytes, mem, sizeof(mem));
        return json_pack("{s:o,s:s,s:i}", "cpu", cpu_json(cpu_milli), "memory", mem, "gpus", gpus);
}

static json_t *node_to_json_base(const struct idyl_server *srv, const struct idyl_node *stored,
                                 const struct allocation *a)
{
        char slug[SUBNET_SLUG_BUFLEN], hb[32];
        struct idyl_node live = *stored, *n = &live;
        const char *profile = runtime_profile_name(n->profile);
        const char *iso = isolation_class_name(n->isolation);
        const char *backend = vmm_backend_name(n->backend);
        json_t *runtime;

        node_liveness_fold(srv, n);
        runtime =
            json_pack("{s:o,s:s,s:s,s:o,s:o,s:b,s:s,s:b}", "profile",
                      profile ? json_string(profile) : json_null(), "provider", n->provider,
                      "handler", n->handler, "isolationClass", iso ? json_string(iso) : json_null(),
                      "vmmBackend", backend ? json_string(backend) : json_null(), "ready",
                      n->runtime_ready, "reason", n->reason, "microvmGPU", n->microvm_gpu);
        rfc3339_format_ms(n->last_heartbeat, hb, sizeof(hb));
        return json_pack(
            "{s:s,s:s,s:s,s:s,s:b,s:o,s:s,s:o,s:o,s:s}", "name", n->name, "subnet",
            subnet_slug_format(n->subnet, slug), "admission", node_admission_name(n->admission),
            "status", node_status_name(node_status_now(srv, n, now_ms())), "simulated",
            n->simulated, "runtime", runtime, "platform", n->platform, "capacity",
            resources_json(n->cpu_milli, n->memory_bytes, n->gpus), "allocated",
            resources_json(a->cpu_milli, a->memory_bytes, a->gpus), "lastHeartbeat", hb);
}

/* The node's devices as a JSON array of paths. */
static json_t *devices_json(const char *list)
{
        char buf[DEVICE_LIST_TEXT], *save = NULL;
        json_t *arr = json_array();

        snprintf(buf, sizeof(buf), "%s", list);
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
                json_array_append_new(arr, json_string(t));
        return arr;
}

/* The node object of SPEC 2, with the devices it offers (SPEC 6.4) and
 * whether it takes new work (SPEC 8). */
static json_t *node_to_json(const struct idyl_server *srv, const struct idyl_node *n,
                            const struct allocation *a)
{
        json_t *o = node_to_json_base(srv, n, a);

        json_object_set_new(o, "devices", devices_json(n->devices));
        json_object_set_new(o, "eligibility", json_string(node_eligibility_name(n->eligibility)));
        json_object_set_new(o, "draining", json_boolean(n->eligibility == NODE_DRAINING));
        return o;
}

/* What the workloads placed on `n` use, microVM overhead included. */
static void allocation_of(const struct idyl_node *n, const struct idyl_workload *ws, size_t nws,
                          struct allocation *a)
{
        struct sched_node view = {.backend = n->backend};

        for (size_t i = 0; i < nws; i++) {
                struct sched_request req;

                if (strcmp(ws[i].node, n->name) != 0)
                        continue;
                sched_request_of(&ws[i], &req);
                sched_account(&view, &req, 1);
        }
        a->cpu_milli = view.used_cpu_milli;
        a->memory_bytes = view.used_memory_bytes;
        a->gpus = view.used_gpus;
}

int node_object(struct idyl_server *srv, const struct idyl_node *n, json_t **out,
                struct idyl_err *err)
{
        struct idyl_workload *ws = NULL;
        struct allocation a;
        size_t nws = 0;

        if (store_workload_list(srv->store, n->subnet, n->name, &ws, &nws, err) < 0)
                return -1;
        allocation_of(n, ws, nws, &a);
        workload_list_free(ws, nws);
        *out = node_to_json(srv, n, &a);
        return 0;
}

/* ---- who may act for a node -------------------------------------------- */

/* Operators act for any node; a node credential only for its own node. */
int node_caller_check(const struct request *req, uint64_t slug, const char *name,
                      struct idyl_err *err)
{
        const struct idyl_token *c = &req->caller;

        if (c->role == ROLE_OPERATOR)
                return 0;
        if (c->role == ROLE_PROVIDER && c->node[0] && c->subnet == slug &&
            strcmp(c->node, name) == 0)
                return 0;
        return idyl_err_set(err, IDYL_E_FORBIDDEN, "this credential cannot act for node \"%s\"",
                            name);
}

static int params(struct request *req, uint64_t *slug, struct idyl_err *err)
{
        return subnet_slug_parse(req->params[0], slug, err);
}

/* ---- a node's assignment set ------------------------------------------------ */

void node_wait_key(uint64_t subnet, const char *node, char *buf, size_t size)
{
        snprintf(buf, size, "%" PRIu64 "/%s", subnet, node);
}

int node_assignments_changed(struct idyl_store *st, uint64_t subnet, const char *node,
                             struct idyl_err *err)
{
        if (!node || !*node)
                return 0;
        return store_node_bump_assignments(st, subnet, node, err);
}

int node_unplace_workloads(struct lifecycle_tx *tx, const struct idyl_node *node, const char *why,
                           struct idyl_err *err)
{
        struct idyl_workload *items = NULL;
        size_t n = 0;
        int rc = 0;

        if (store_workload_list(tx->srv->store, node->subnet, node->name, &items, &n, err) < 0)
                return -1;
        for (size_t i = 0; i < n && rc == 0; i++)
                rc = workload_transition(tx, &items[i], LIFE_NODE_LOST, why, NULL, err);
        workload_list_free(items, n);
        return rc;
}

/* ---- join --------------------------------------------------------------- */

static int runtime_from_json(const json_t *rt, struct idyl_node *n, struct idyl_err *err)
{
        static const char *const keys[] = {"profile", "provider", "handler",
                                           "ready",   "reason",   NULL};
        const char *profile, *provider, *handler, *reason;

        if (!json_is_object(rt))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "field \"runtime\" is required: an object with a profile, or "
                                    "a provider and handler");
        if (json_check_keys(rt, keys, "runtime", err) < 0 ||
            json_get_string(rt, "profile", &profile, err) < 0 ||
            json_get_string(rt, "provider", &provider, err) < 0 ||
            json_get_string(rt, "handler", &handler, err) < 0 ||
            json_get_string(rt, "reason", &reason, err) < 0 ||
            json_get_bool(rt, "ready", &n->runtime_ready, err) < 0)
                return -1;
        if (profile) {
                const struct profile_preset *pp;

                if (provider || handler)
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "--runtime-profile cannot be combined with "
                                            "--runtime-provider or --runtime-handler");
                if (runtime_profile_parse(profile, &n->profile, err) < 0)
                        return -1;
                pp = profile_preset(n->profile);
                provider = pp->provider;
                handler = pp->handler;
                n->isolation = pp->isolation;
                n->backend = pp->backend;
        } else {
                if (!provider)
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "--runtime-profile or --runtime-provider is required "
                                            "(profiles: " PROFILE_NAMES ")");
                if (runtime_derive(provider, handler, &n->isolation, &n->backend, err) < 0)
                        return -1;
                if (!handler || !*handler)
                        handler =
                            strcmp(provider, "docker") == 0 ? "runc" : "io.containerd.runc.v2";
        }
        snprintf(n->provider, sizeof(n->provider), "%s", provider);
        snprintf(n->handler, sizeof(n->handler), "%s", handler);
        if (reason && strlen(reason) >= sizeof(n->reason))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "field \"runtime.reason\" is longer than %zu bytes",
                                    sizeof(n->reason) - 1);
        snprintf(n->reason, sizeof(n->reason), "%s", reason ? reason : "");
        return 0;
}

static int capacity_from_json(const json_t *c, struct idyl_node *n, struct idyl_err *err)
{
        static const char *const keys[] = {"cpu", "memory", "gpus", NULL};
        json_t *v;

        if (!json_is_object(c))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "field \"capacity\" is required: {cpu, memory, gpus}");
        if (json_check_keys(c, keys, "capacity", err) < 0 ||
            json_cpu(json_object_get(c, "cpu"), &n->cpu_milli, err) < 0 ||
            json_memory(json_object_get(c, "memory"), &n->memory_bytes, err) < 0)
                return -1;
        v = json_object_get(c, "gpus");
        if (v && (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1024))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "field \"capacity.gpus\" must be a whole number >= 0");
        n->gpus = v ? (int)json_integer_value(v) : 0;
        return 0;
}

/* "devices": the device paths the provider offers (the agent checked each
 * is a character or block device on its machine). */
static int devices_from_join(const json_t *body, struct idyl_node *n, struct idyl_err *err)
{
        const char **paths = NULL;
        size_t count = 0;
        int rc = -1;

        if (json_get_string_array(body, "devices", &paths, &count, err) < 0)
                return -1;
        if (count > DEVICES_MAX) {
                idyl_err_set(err, IDYL_E_INVALID, "a node offers at most %d devices (--device)",
                             DEVICES_MAX);
                goto out;
        }
        for (size_t i = 0; i < count; i++)
                if (device_path_check(paths[i], "--device", err) < 0)
                        goto out;
        rc = device_list_join(paths, count, n->devices, sizeof(n->devices));
out:
        free(paths);
        return rc;
}

static int node_from_join(const json_t *body, struct idyl_node *n, struct idyl_err *err)
{
        static const char *const keys[] = {"name",      "runtime",    "platform", "capacity",
                                           "simulated", "microvmGPU", "devices",  NULL};
        const char *name, *platform;

        if (json_check_keys(body, keys, "node", err) < 0 ||
            json_get_string(body, "name", &name, err) < 0 || node_name_check(name, err) < 0 ||
            json_get_string(body, "platform", &platform, err) < 0 ||
            json_get_bool(body, "simulated", &n->simulated, err) < 0 ||
            json_get_bool(body, "microvmGPU", &n->microvm_gpu, err) < 0 ||
            runtime_from_json(json_object_get(body, "runtime"), n, err) < 0 ||
            capacity_from_json(json_object_get(body, "capacity"), n, err) < 0)
                return -1;
        if (!platform || workload_platform_check(platform, err) < 0)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "field \"platform\" is required: os/arch such as linux/amd64");
        snprintf(n->name, sizeof(n->name), "%s", name);
        snprintf(n->platform, sizeof(n->platform), "%s", platform);
        return devices_from_join(body, n, err);
}

/* Admission follows the credential: an operator, or a join token issued for
 * this subnet, admits at once; a plain provider credential waits. */
static int join_admission(const struct request *req, uint64_t slug, enum node_admission *out,
                          struct idyl_err *err)
{
        const struct idyl_token *c = &req->caller;
        char buf[SUBNET_SLUG_BUFLEN];

        if (c->role == ROLE_OPERATOR) {
                *out = NODE_ADMITTED;
                return 0;
        }
        if (c->node[0])
                return idyl_err_set(err, IDYL_E_FORBIDDEN,
                                    "a node credential cannot join other nodes");
        if (c->subnet && c->subnet != slug)
                return idyl_err_set(err, IDYL_E_FORBIDDEN, "this join token is for subnet \"%s\"",
                                    subnet_slug_format(c->subnet, buf));
        *out = c->subnet == slug ? NODE_ADMITTED : NODE_PENDING;
        return 0;
}

static int join_in_tx(struct request *req, struct idyl_node *n, const char *secret,
                      struct idyl_err *err)
{
        struct idyl_store *st = req->srv->store;
        struct idyl_token tok = {.role = ROLE_PROVIDER, .subnet = n->subnet};
        struct idyl_err lookup = IDYL_ERR_INIT;
        struct idyl_subnet sn = IDYL_SUBNET_INIT;
        struct idyl_node old = IDYL_NODE_INIT;

        if (store_subnet_get(st, n->subnet, &sn, err) < 0)
                return -1;
        if (store_node_get(st, n->subnet, n->name, &old, &lookup) == 0) {
                if (req->caller.role != ROLE_OPERATOR)
                        return idyl_err_set(err, IDYL_E_CONFLICT,
                                            "node \"%s\" already exists in subnet \"%s\"", n->name,
                                            req->params[0]);
                /* an operator re-joins the machine: new credential, same assignments */
                n->assign_version = old.assign_version + 1;
                n->created_at = old.created_at;
                n->eligibility = old.eligibility; /* an operator's decision, not the machine's */
                if (store_node_delete(st, n->subnet, n->name, err) < 0)
                        return -1;
        } else if (lookup.code != IDYL_E_NOT_FOUND) {
                *err = lookup;
                return -1;
        }
        snprintf(tok.node, sizeof(tok.node), "%s", n->name);
        auth_hash_token(secret, tok.hash);
        return store_node_put(st, n, err) < 0 ? -1 : store_token_add(st, &tok, err);
}

int handle_node_join(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct lifecycle_tx tx = LIFECYCLE_TX_INIT;
        struct idyl_node n = IDYL_NODE_INIT;
        struct allocation none = {0};
        char secret[128];
        uint64_t slug;
        int rc;

        if (params(req, &slug, err) < 0 || join_admission(req, slug, &n.admission, err) < 0 ||
            node_from_join(req->body, &n, err) < 0 ||
            auth_new_secret(secret, sizeof(secret), err) < 0)
                return -1;
        n.subnet = slug;
        n.last_heartbeat = now_ms();
        n.created_at = (int64_t)time(NULL);
        if (lifecycle_tx_begin(&tx, req->srv, err) < 0)
                return -1;
        rc = join_in_tx(req, &n, secret, err);
        if (rc == 0)
                rc = lifecycle_tx_nodes_stale(&tx, slug, err);
        if (rc == 0)
                rc = lifecycle_tx_kick(&tx, slug, err);
        resp->status = 201; /* before the commit, which carries the audit record */
        if (lifecycle_tx_end(&tx, rc, err) < 0)
                return -1;
        resp->body = node_to_json(req->srv, &n, &none);
        json_object_set_new(resp->body, "credential", json_string(secret));
        return 0;
}

/* ---- read ----------------------------------------------------------------- */

static int node_name_cmp(const void *key, const void *elem)
{
        return strcmp(key, ((const struct idyl_node *)elem)->name);
}

/* The allocations of nodes (sorted by name, as the store lists them) from
 * the usage sums of their subnet, into views[n]. */
static void allocations_from_usage(const struct idyl_node *nodes, size_t n,
                                   const struct idyl_node_usage *usage, size_t nusage,
                                   struct sched_node *views)
{
        for (size_t i = 0; i < n; i++)
                views[i] = (struct sched_node){.backend = nodes[i].backend};
        for (size_t i = 0; i < nusage; i++) {
                const struct idyl_node *nd =
                    bsearch(usage[i].node, nodes, n, sizeof(*nodes), node_name_cmp);

                if (nd)
                        scheduler_account_usage(&views[nd - nodes], &usage[i]);
        }
}

int node_list_objects(struct idyl_server *srv, uint64_t slug, struct store_page *pg, json_t **out,
                      struct idyl_err *err)
{
        cleanup_free struct idyl_node_usage *usage = NULL;
        cleanup_free struct idyl_node *nodes = NULL;
        cleanup_free struct sched_node *views = NULL;
        struct idyl_subnet sn = IDYL_SUBNET_INIT;
        size_t n = 0, nusage = 0;

        if (store_subnet_get(srv->store, slug, &sn, err) < 0)
                return -1;
        if (pg && store_node_page(srv->store, slug, pg, &nodes, &n, err) < 0)
                return page_failed(err);
        if ((!pg && store_node_list(srv->store, slug, &nodes, &n, err) < 0) ||
            store_workload_usage(srv->store, slug, &usage, &nusage, err) < 0)
                return -1;
        views = calloc(n + 1, sizeof(*views));
        if (!views)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        allocations_from_usage(nodes, n, usage, nusage, views);
        *out = json_array();
        for (size_t i = 0; i < n; i++) {
                struct allocation a = {views[i].used_cpu_milli, views[i].used_memory_bytes,
                                       views[i].used_gpus};

                json_array_append_new(*out, node_to_json(srv, &nodes[i], &a));
        }
        return 0;
}

int handle_node_list(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct store_page pg;
        uint64_t slug;
        json_t *list;
        int paged = page_request(req, &pg, err);

        if (paged < 0 || params(req, &slug, err) < 0)
                return -1;
        if (list_watch_requested(req))
                return handle_node_list_watch(req, resp, err);
        if (!paged)
                return node_list_objects(req->srv, slug, NULL, &resp->body, err);
        if (node_list_objects(req->srv, slug, &pg, &list, err) < 0)
                return -1;
        resp->body = page_answer(list, &pg);
        return 0;
}

int handle_node_get(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct idyl_node n = IDYL_NODE_INIT;
        uint64_t slug;

        if (params(req, &slug, err) < 0 || node_caller_check(req, slug, req->params[1], err) < 0 ||
            store_node_get(req->srv->store, slug, req->params[1], &n, err) < 0)
                return -1;
        return node_object(req->srv, &n, &resp->body, err);
}

/* ---- operator actions ------------------------------------------------------ */

enum node_action { ACTION_ADMIT, ACTION_REVOKE, ACTION_DELETE };

static int node_action(struct request *req, struct response *resp, enum node_action action,
                       struct idyl_err *err)
{
        struct idyl_store *st = req->srv->store;
        struct lifecycle_tx tx = LIFECYCLE_TX_INIT;
        char why[160];
        struct idyl_node n = IDYL_NODE_INIT;
        uint64_t slug;
        int rc;

        if (params(req, &slug, err) < 0 || lifecycle_tx_begin(&tx, req->srv, err) < 0)
                return -1;
        rc = store_node_get(st, slug, req->params[1], &n, err);
        if (rc == 0 && action != ACTION_ADMIT) {
                snprintf(why, sizeof(why), "node %s was %s", n.name,
                         action == ACTION_REVOKE ? "revoked" : "removed");
                rc = node_unplace_workloads(&tx, &n, why, err);
        }
        if (rc == 0) {
                n.admission = action == ACTION_ADMIT ? NODE_ADMITTED : NODE_REVOKED;
                n.assign_version++;
                rc = action == ACTION_DELETE ? store_node_delete(st, slug, n.name, err)
                                             : store_node_put(st, &n, err);
        }
        if (rc == 0)
                rc = lifecycle_tx_node_changed(&tx, slug, n.name, err);
        if (rc == 0)
                rc = lifecycle_tx_kick(&tx, slug, err);
        if (action == ACTION_DELETE)
                resp->status = 204; /* before the commit, which carries the audit record */
        if (lifecycle_tx_end(&tx, rc, err) < 0)
                return -1;
        if (action == ACTION_DELETE)
                return 0;
        return node_object(req->srv, &n, &resp->body, err);
}

int handle_node_admit(struct request *req, struct response *resp, struct idyl_err *err)
{
        return node_action(req, resp, ACTION_ADMIT, err);
}

int handle_node_revoke(struct request *req, struct response *resp, struct idyl_err *err)
{
        return node_action(req, resp, ACTION_REVOKE, err);
}

int handle_node_delete(struct request *req, struct response *resp, struct idyl_err *err)
{
        return node_action(req, resp, ACTION_DELETE, err);
}

/* ---- eligibility and drain ------------------------------------------------ */

/* What an operator's request `want` makes of eligibility `now` on a node
 * with `placed` workloads: --disable leaves a drain going; a drain of a node
 * with nothing placed on it is done at once (plain ineligible). */
static enum node_eligibility eligibility_after(enum node_eligibility now,
                                               enum node_eligibility want, size_t placed)
{
        if (want == NODE_INELIGIBLE && now == NODE_DRAINING)
                return NODE_DRAINING;
        if (want == NODE_DRAINING && placed == 0)
                return NODE_INELIGIBLE;
        return want;
}

/* Sets the node's eligibility inside one transaction and answers the node
 * object; the scheduler then moves a draining node's workloads
 * (server/drain.c). */
static int set_eligibility(struct request *req, struct response *resp, enum node_eligibility want,
                           struct idyl_err *err)
{
        struct idyl_store *st = req->srv->store;
        struct lifecycle_tx tx = LIFECYCLE_TX_INIT;
        struct idyl_node n = IDYL_NODE_INIT;
        struct idyl_workload *ws = NULL;
        size_t nws = 0;
        uint64_t slug;
        int rc;

        if (params(req, &slug, err) < 0 || lifecycle_tx_begin(&tx, req->srv, err) < 0)
                return -1;
        rc = store_node_get(st, slug, req->params[1], &n, err);
        if (rc == 0 && want == NODE_DRAINING)
                rc = store_workload_list(st, slug, n.name, &ws, &nws, err);
        workload_list_free(ws, nws);
        want = eligibility_after(n.eligibility, want, nws);
        if (rc == 0 && n.eligibility != want) {
                n.eligibility = want;
                rc = store_node_put(st, &n, err);
                if (rc == 0)
                        rc = lifecycle_tx_nodes_stale(&tx, slug, err);
                if (rc == 0)
                        rc = lifecycle_tx_kick(&tx, slug, err);
        }
        if (lifecycle_tx_end(&tx, rc, err) < 0)
                return -1;
        return node_object(req->srv, &n, &resp->body, err);
}

int handle_node_eligibility(struct request *req, struct response *resp, struct idyl_err *err)
{
        static const char *const keys[] = {"eligible", NULL};
        const json_t *v = json_object_get(req->body, "eligible");

        if (json_check_keys(req->body, keys, "eligibility", err) < 0)
                return -1;
        if (!json_is_boolean(v))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "field \"eligible\" is required: true or false");
        return set_eligibility(req, resp, json_is_true(v) ? NODE_ELIGIBLE : NODE_INELIGIBLE, err);
}

int handle_node_drain(struct request *req, struct response *resp, struct idyl_err *err)
{
        return set_eligibility(req, resp, NODE_DRAINING, err);
}

/* ---- heartbeat ------------------------------------------------------------ */

/* One workload status report from a node. */
struct report {
        const char *name, *phase, *message, *ip;
        json_int_t revision, restarts;
        int event; /* lifecycle_report_event of the phase */
};

static int report_parse(const json_t *r, struct report *rep, struct idyl_err *err)
{
        static const char *const keys[] = {"name",    "revision", "phase", "restarts",
                                           "message", "ip",       NULL};
        const json_t *rev = json_object_get(r, "revision"), *rs = json_object_get(r, "restarts");
        int p;

        if (!json_is_object(r))
                return idyl_err_set(err, IDYL_E_INVALID, "each workload report must be an object");
        if (json_check_keys(r, keys, "workload report", err) < 0)
                return -1;
        rep->name = json_string_value(json_object_get(r, "name"));
        rep->phase = json_string_value(json_object_get(r, "phase"));
        rep->message = json_string_value(json_object_get(r, "message"));
        rep->ip = json_string_value(json_object_get(r, "ip"));
        rep->revision = json_integer_value(rev);
        rep->restarts = json_integer_value(rs);
        p = workload_phase_from_name(rep->phase);
        rep->event = p < 0 ? -1 : lifecycle_report_event((enum workload_phase)p);
        if (!rep->name || rep->event < 0)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "a workload report needs a name and a phase of scheduled, "
                                    "running, exited or failed");
        if (!json_is_integer(rev) || rep->revision < 1)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "field \"revision\" of a workload report must be a whole "
                                    "number from 1");
        if (rs && (!json_is_integer(rs) || rep->restarts < 0 || rep->restarts > INT_MAX))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "field \"restarts\" of a workload report must be a whole "
                                    "number from 0 to %d",
                                    INT_MAX);
        if (rep->message && strlen(rep->message) >= sizeof(((struct idyl_workload *)0)->message))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "field \"message\" of a workload report is longer than %zu "
                                    "bytes",
                                    sizeof(((struct idyl_workload *)0)->message) - 1);
        if (!rep->message)
                rep->message = "";
        if (!rep->ip)
                rep->ip = "";
        if (strlen(rep->ip) > WORKLOAD_IP_MAX ||
            strspn(rep->ip, "0123456789abcdefABCDEF.:") != strlen(rep->ip))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "invalid workload address \"%.64s\" in a report", rep->ip);
        return 0;
}

/* Reads the workload a report is about into w (the caller releases it):
 * 1 when the report changes it, 0 when it is stale (the workload is no
 * longer placed there, or of another revision) or says nothing new. */
static int report_changes(struct idyl_store *st, const struct idyl_node *n,
                          const struct report *rep, struct idyl_workload *w, struct idyl_err *err)
{
        struct idyl_err lookup = IDYL_ERR_INIT;

        if (store_workload_get(st, n->subnet, rep->name, w, &lookup) < 0)
                return lookup.code == IDYL_E_NOT_FOUND ? 0 : (*err = lookup, -1);
        if (strcmp(w->node, n->name) != 0 || w->revision != rep->revision ||
            !lifecycle_allows(w->phase, (enum lifecycle_event)rep->event))
                return 0;
        return !(w->phase == (enum workload_phase)workload_phase_from_name(rep->phase) &&
                 w->restarts == (int)rep->restarts && strcmp(w->message, rep->message) == 0 &&
                 strcmp(w->ip, rep->ip) == 0);
}

/* Applies one workload status report from the node; reports about workloads
 * no longer placed there (or of an older revision) are stale and ignored. */
static int apply_report(struct lifecycle_tx *tx, const struct idyl_node *n, const json_t *r,
                        struct idyl_err *err)
{
        struct idyl_workload w = IDYL_WORKLOAD_INIT;
        struct report rep;
        char record[600];
        int rc;

        if (report_parse(r, &rep, err) < 0)
                return -1;
        rc = report_changes(tx->srv->store, n, &rep, &w, err);
        if (rc == 1) {
                w.restarts = (int)rep.restarts;
                snprintf(w.ip, sizeof(w.ip), "%s", rep.ip);
                snprintf(record, sizeof(record), "%s on node %s%s%s", rep.phase, n->name,
                         *rep.message ? ": " : "", rep.message);
                rc = workload_transition(tx, &w, (enum lifecycle_event)rep.event, rep.message,
                                         record, err);
        }
        workload_release(&w);
        return rc;
}

/* True when a heartbeat's reports change no workload (read outside any
 * transaction); reports that do not parse make it not quiet, so the full
 * path answers their error. */
static bool reports_quiet(struct idyl_store *st, const struct idyl_node *n, const json_t *reports)
{
        const json_t *r;
        size_t i;

        json_array_foreach(reports, i, r)
        {
                struct idyl_workload w = IDYL_WORKLOAD_INIT;
                struct idyl_err err = IDYL_ERR_INIT;
                struct report rep;
                int rc = report_parse(r, &rep, &err);

                if (rc == 0)
                        rc = report_changes(st, n, &rep, &w, &err);
                workload_release(&w);
                if (rc != 0)
                        return false;
        }
        return true;
}

/* True when the store would keep the same node after the heartbeat: only
 * its liveness moved. */
static bool node_same_stored(const struct idyl_node *a, const struct idyl_node *b)
{
        return a->runtime_ready == b->runtime_ready && strcmp(a->reason, b->reason) == 0 &&
               a->cpu_milli == b->cpu_milli && a->memory_bytes == b->memory_bytes &&
               a->gpus == b->gpus && strcmp(a->platform, b->platform) == 0 &&
               strcmp(a->devices, b->devices) == 0 && a->down == b->down;
}

/* Folds the heartbeat's runtime and capacity into n; true when the change
 * can make room for waiting work. */
static int heartbeat_update(const json_t *body, struct idyl_node *n, bool *kick,
                            struct idyl_err *err)
{
        const json_t *rt = json_object_get(body, "runtime"),
                     *cap = json_object_get(body, "capacity");
        bool was_ready = n->runtime_ready, was_down = n->down;
        int64_t cpu = n->cpu_milli, mem = n->memory_bytes;
        const char *reason = NULL;
        bool platform_changed = false;

        if (rt) {
                if (!json_is_object(rt))
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "field \"runtime\" must be an object");
                if (json_get_bool(rt, "ready", &n->runtime_ready, err) < 0 ||
                    json_get_string(rt, "reason", &reason, err) < 0)
                        return -1;
                if (reason && strlen(reason) >= sizeof(n->reason))
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "field \"runtime.reason\" is longer than %zu bytes",
                                            sizeof(n->reason) - 1);
                snprintf(n->reason, sizeof(n->reason), "%s", reason ? reason : "");
        }
        if (cap && capacity_from_json(cap, n, err) < 0)
                return -1;
        if (json_object_get(body, "platform")) {
                const char *platform = NULL;
                if (json_get_string(body, "platform", &platform, err) < 0 ||
                    workload_platform_check(platform, err) < 0)
                        return -1;
                if (strcmp(n->platform, platform) != 0)
                        platform_changed = true;
                snprintf(n->platform, sizeof(n->platform), "%s", platform);
        }
        n->down = false;
        n->last_heartbeat = now_ms();
        *kick = (n->runtime_ready && (!was_ready || was_down)) || n->cpu_milli > cpu ||
                n->memory_bytes > mem || platform_changed;
        return 0;
}

int handle_node_heartbeat(struct request *req, struct response *resp, struct idyl_err *err)
{
        static const char *const keys[] = {"runtime", "capacity", "platform", "workloads", NULL};
        struct idyl_store *st = req->srv->store;
        struct lifecycle_tx tx = LIFECYCLE_TX_INIT;
        const json_t *reports = json_object_get(req->body, "workloads"), *r;
        struct idyl_node n = IDYL_NODE_INIT;
        bool kick = false, changed = false;
        uint64_t slug;
        size_t i;
        int rc;

        if (params(req, &slug, err) < 0 || node_caller_check(req, slug, req->params[1], err) < 0 ||
            json_check_keys(req->body, keys, "heartbeat", err) < 0)
                return -1;
        if (reports && !json_is_array(reports))
                return idyl_err_set(err, IDYL_E_INVALID, "field \"workloads\" must be an array");
        /* A heartbeat that changes nothing the store keeps lands in memory
         * only, without a transaction. */
        if (req->srv->liveness) {
                struct idyl_node before = IDYL_NODE_INIT;

                if (store_node_get(st, slug, req->params[1], &before, err) < 0)
                        return -1;
                n = before;
                if (heartbeat_update(req->body, &n, &kick, err) < 0)
                        return -1;
                if (!kick && node_same_stored(&before, &n) && reports_quiet(st, &n, reports)) {
                        if (liveness_seen(req->srv, slug, n.name, n.last_heartbeat, err) < 0)
                                return -1;
                        goto answer;
                }
                n = (struct idyl_node)IDYL_NODE_INIT;
                kick = false;
        }
        if (lifecycle_tx_begin(&tx, req->srv, err) < 0)
                return -1;
        rc = store_node_get(st, slug, req->params[1], &n, err);
        if (rc == 0) {
                struct idyl_node was = n;

                rc = heartbeat_update(req->body, &n, &kick, err);
                changed = rc == 0 && !node_same_stored(&was, &n);
                if (changed)
                        rc = lifecycle_tx_nodes_stale(&tx, slug, err);
        }
        /* a heartbeat that only carries reports leaves the node's row alone:
         * its time goes to memory below, as a quiet heartbeat's does */
        if (rc == 0 && (changed || !req->srv->liveness))
                rc = store_node_put(st, &n, err);
        json_array_foreach(reports, i, r)
        {
                if (rc == 0)
                        rc = apply_report(&tx, &n, r, err);
        }
        if (rc == 0 && kick)
                rc = lifecycle_tx_kick(&tx, slug, err);
        if (lifecycle_tx_end(&tx, rc, err) < 0)
                return -1;
        /* memory keeps the newest heartbeat too: what the scheduler keeps of
         * the node folds it in (node_liveness_fold) */
        if (req->srv->liveness && liveness_seen(req->srv, slug, n.name, n.last_heartbeat, err) < 0)
                return -1;
answer:
        resp->body = json_pack(
            "{s:I,s:i,s:s}", "assignVersion", (json_int_t)n.assign_version, "heartbeatSeconds",
            req->srv->node_ttl / 3 > HEARTBEAT_MIN_SECONDS ? req->srv->node_ttl / 3
                                                           : HEARTBEAT_MIN_SECONDS,
            "status", node_status_name(node_status_now(req->srv, &n, now_ms())));
        return 0;
}

/* ---- assignments (long-poll) ------------------------------------------------ */

/* The node's workloads and the subnet's network policy its agent enforces
 * on them (absent: egress all). */
static json_t *assignments_json(const struct idyl_node *n, const struct idyl_subnet *sn,
                                const struct idyl_workload *ws, size_t nws)
{
        json_t *list = json_array(), *out, *policy = subnet_network_policy_json(sn);

        for (size_t i = 0; i < nws; i++) {
                json_t *spec = json_loads(ws[i].spec, 0, NULL);
                json_array_append_new(list,
                                      json_pack("{s:s,s:I,s:s,s:o}", "name", ws[i].name, "revision",
                                                (json_int_t)ws[i].revision, "isolationClass",
                                                isolation_class_name(ws[i].isolation), "spec",
                                                spec ? spec : json_object()));
        }
        out = json_pack("{s:I,s:o}", "version", (json_int_t)n->assign_version, "workloads", list);
        if (policy)
                json_object_set_new(out, "networkPolicy", policy);
        return out;
}

static long query_long(struct request *req, const char *name, long dflt)
{
        const char *v = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
        char *end;
        long r;

        if (!v || !*v)
                return dflt;
        errno = 0;
        r = strtol(v, &end, 10);
        return *end || errno || !isdigit((unsigned char)v[*v == '-']) ? -2 : r;
}

/* Whether n's assignments are still at the version read with n. */
static bool assignments_settled(struct idyl_store *st, const struct idyl_node *n)
{
        struct idyl_node again = IDYL_NODE_INIT;
        struct idyl_err ignored = IDYL_ERR_INIT;

        return store_node_get(st, n->subnet, n->name, &again, &ignored) == 0 &&
               again.assign_version == n->assign_version;
}

int handle_node_assignments(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct idyl_workload *ws = NULL;
        struct idyl_node n = IDYL_NODE_INIT;
        struct idyl_subnet sn;
        size_t nws = 0;
        uint64_t slug;
        long version = query_long(req, "version", -1), wait = query_long(req, "wait", 0),
             since = query_long(req, "since", -1);
        char key[NODE_WAIT_KEY_LEN];

        if (params(req, &slug, err) < 0 || node_caller_check(req, slug, req->params[1], err) < 0)
                return -1;
        if (wait < 0 || wait > ASSIGNMENTS_WAIT_MAX)
                return idyl_err_set(err, IDYL_E_INVALID, "wait must be 0 to %d seconds",
                                    ASSIGNMENTS_WAIT_MAX);
        if (version < -1)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "version must be a whole number: the assignVersion last seen");
        node_wait_key(slug, req->params[1], key, sizeof(key));
        server_wait_prepare(req, resp, key);
        if (store_node_get(req->srv->store, slug, req->params[1], &n, err) < 0)
                return -1;
        if (n.assign_version == version && wait > 0 &&
            (req->wait_deadline_ms == 0 || now_ms() < req->wait_deadline_ms)) {
                resp->suspend_until_ms =
                    req->wait_deadline_ms ? req->wait_deadline_ms : now_ms() + wait * 1000;
                return 0;
        }
        if (store_subnet_get(req->srv->store, slug, &sn, err) < 0 ||
            store_workload_list(req->srv->store, slug, n.name, &ws, &nws, err) < 0)
                return -1;
        resp->body = assignments_json(&n, &sn, ws, nws);
        workload_list_free(ws, nws);
        /* a change is only as good as the version it is labelled with: when a
         * commit landed between the two reads, send the whole set and forget */
        if (since >= 0 && !assignments_settled(req->srv->store, &n))
                since = ASSIGN_MEMO_FORGET;
        resp->body = assign_memo_answer(req->srv, slug, n.name, since, resp->body);
        return 0;
}

int nodes_count(struct idyl_store *st, uint64_t slug, size_t *n, struct idyl_err *err)
{
        cleanup_free struct idyl_node *nodes = NULL;

        return store_node_list(st, slug, &nodes, n, err);
}
