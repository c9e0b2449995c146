/* The scheduling loop of idyld. Work is driven by events: a deploy, an
 * approval, a node that joins, turns ready or comes back, capacity that frees
 * — each kicks its subnet, and one thread runs a pass per kicked subnet
 * (kicks coalesce). A pass loads the subnet's nodes, their usage summed by
 * the store, and the workloads placed nowhere; asks core/sched.c where each
 * waiting workload goes, and writes the placements in one transaction;
 * then the chosen nodes' long-polls are woken. The same
 * thread declares silent nodes down once a second.
 *
 * The loop keeps each subnet's nodes and their views (capacity, what is
 * placed on them) from one pass to the next: its own placements are added
 * to the views as it makes them, and any other change to the nodes or to
 * what is placed on them (a join, a heartbeat that changes readiness or
 * capacity, an eligibility edit, a workload that leaves a node) marks the
 * subnet stale after its commit (scheduler_nodes_changed), so the next pass
 * reads them again. Only the waiting workloads are read on every pass. With
 * replicas (PostgreSQL) other processes write the nodes, so every pass reads
 * them. */
#include "server/server.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/sched.h"
#include "server/metrics.h"
#include "util/array.h"
#include "util/log.h"

#define HISTORY_PRUNE_EVERY_MS (3600 * 1000LL)

/* What the loop keeps of a subnet's nodes (see the top of the file). */
struct subnet_nodes {
        uint64_t subnet;
        uint64_t gen;            /* bumped by scheduler_nodes_changed */
        uint64_t read_gen;       /* gen before nodes were read: valid while equal */
        struct idyl_node *nodes; /* owned; NULL: nothing kept */
        struct sched_node *view; /* parallel to nodes, usage included; owned */
        size_t nnodes;
};

struct scheduler {
        pthread_mutex_t mu;
        pthread_cond_t cond;
        pthread_t thread;
        bool stopping;
        bool started;    /* the thread runs */
        uint64_t *dirty; /* subnets kicked since the last pass; owned */
        size_t ndirty, cap;
        struct drain_moves moves;  /* drains' workloads on their way (server/drain.c) */
        struct subnet_nodes *kept; /* under mu; the arrays only the loop's thread touches */
        size_t nkept, kept_cap;
};

/* ---- one pass over a subnet -------------------------------------------- */

struct pass {
        struct idyl_server *srv;
        struct scheduler *loop; /* the loop's pass: it keeps the nodes; NULL: read and free */
        struct lifecycle_tx *tx;
        struct idyl_subnet subnet;
        struct idyl_node *nodes;
        struct sched_node *view; /* parallel to nodes */
        size_t nnodes;
        bool kept;    /* nodes and view are the loop's (struct subnet_nodes), not the pass's */
        uint64_t gen; /* the subnet's gen before its nodes were read */
        struct idyl_workload *ws;
        size_t nws;
};

/* The pass stops using its nodes and views: it frees them unless they are
 * the loop's. */
static void pass_drop_nodes(struct pass *p)
{
        if (!p->kept) {
                free(p->nodes);
                free(p->view);
        }
        p->nodes = NULL;
        p->view = NULL;
        p->nnodes = 0;
        p->kept = false;
}

static void pass_release(struct pass *p)
{
        pass_drop_nodes(p);
        workload_list_free(p->ws, p->nws);
}

/* ---- the nodes the loop keeps --------------------------------------------- */

/* Called with mu held: the subnet's entry, made when `make`; NULL when
 * absent (or out of memory: then nothing is kept). */
static struct subnet_nodes *kept_entry(struct scheduler *s, uint64_t subnet, bool make)
{
        for (size_t i = 0; i < s->nkept; i++)
                if (s->kept[i].subnet == subnet)
                        return &s->kept[i];
        if (!make || ARRAY_GROW(s->kept, s->nkept, s->kept_cap) < 0)
                return NULL;
        s->kept[s->nkept] = (struct subnet_nodes){.subnet = subnet};
        return &s->kept[s->nkept++];
}

/* Frees what the entry keeps; its subnet and gen stay. */
static void kept_clear(struct subnet_nodes *e)
{
        free(e->nodes);
        free(e->view);
        *e = (struct subnet_nodes){.subnet = e->subnet, .gen = e->gen};
}

void scheduler_nodes_changed(struct idyl_server *srv, uint64_t subnet)
{
        struct scheduler *s = srv->sched;
        struct subnet_nodes *e;

        if (!s)
                return;
        pthread_mutex_lock(&s->mu);
        e = kept_entry(s, subnet, false);
        if (e)
                e->gen++;
        pthread_mutex_unlock(&s->mu);
}

/* The loop's pass borrows the nodes it kept of the subnet when nothing
 * changed them since they were read; else it notes the gen to read them
 * at. True when borrowed. */
static bool kept_borrow(struct pass *p, uint64_t subnet)
{
        struct scheduler *s = p->loop;
        struct subnet_nodes *e;

        p->kept = false;
        if (!s || p->srv->replicas)
                return false;
        pthread_mutex_lock(&s->mu);
        e = kept_entry(s, subnet, true);
        if (e) {
                p->gen = e->gen;
                if (e->nodes && e->read_gen == e->gen) {
                        p->nodes = e->nodes;
                        p->view = e->view;
                        p->nnodes = e->nnodes;
                        p->kept = true;
                }
        }
        pthread_mutex_unlock(&s->mu);
        return p->kept;
}

/* After a pass that read its nodes and views: the loop keeps them, labelled
 * with the gen they were read at, in the entry kept_borrow made (so no
 * change since went uncounted). */
static void kept_take(struct pass *p, uint64_t subnet)
{
        struct scheduler *s = p->loop;
        struct subnet_nodes *e;

        if (!s || p->kept || p->srv->replicas)
                return;
        pthread_mutex_lock(&s->mu);
        e = kept_entry(s, subnet, false);
        if (e) {
                kept_clear(e);
                e->nodes = p->nodes;
                e->view = p->view;
                e->nnodes = p->nnodes;
                e->read_gen = p->gen;
                p->kept = true;
        }
        pthread_mutex_unlock(&s->mu);
}

/* Forgets what the loop kept of the subnet (a failed pass may have counted
 * placements that did not commit; a subnet that went away). */
static void kept_forget(struct pass *p, uint64_t subnet)
{
        struct scheduler *s = p->loop;
        struct subnet_nodes *e;

        if (!s)
                return;
        pthread_mutex_lock(&s->mu);
        e = kept_entry(s, subnet, false);
        if (e && (!p->kept || e->nodes == p->nodes)) {
                if (p->kept)
                        pass_drop_nodes(p); /* only lets go: the entry frees them */
                kept_clear(e);
        }
        pthread_mutex_unlock(&s->mu);
}

static int node_cmp(const void *key, const void *elem)
{
        return strcmp(key, ((const struct idyl_node *)elem)->name);
}

static long node_index(const struct pass *p, const char *name)
{
        const struct idyl_node *n = bsearch(name, p->nodes, p->nnodes, sizeof(*p->nodes), node_cmp);

        return n ? (long)(n - p->nodes) : -1;
}

/* Adds what the workloads summed in `u` use to the node's view: their
 * resources, and the microVM overhead once per workload. */
void scheduler_account_usage(struct sched_node *v, const struct idyl_node_usage *u)
{
        struct sched_request sum = {.isolation = u->isolation,
                                    .cpu_milli = u->cpu_milli,
                                    .memory_bytes = u->memory_bytes,
                                    .gpus = (int)u->gpus};
        struct sched_request overhead_only = {.isolation = u->isolation};

        sched_account(v, &sum, 1);
        for (size_t k = 1; k < u->count; k++)
                sched_account(v, &overhead_only, 1);
}

/* Loads the subnet and its nodes, what a kick's drain step and pass share:
 * the loop's pass borrows the nodes it kept when they are current, else
 * they are read. The subnet itself is read every time. */
static int pass_load_nodes(struct pass *p, uint64_t slug, struct idyl_err *err)
{
        if (store_subnet_get(p->srv->store, slug, &p->subnet, err) < 0)
                return -1;
        if (kept_borrow(p, slug))
                return 0;
        return store_node_list(p->srv->store, slug, &p->nodes, &p->nnodes, err);
}

/* After a drain step that wrote: its commit made what the pass read stale. */
static int pass_reload_nodes(struct pass *p, uint64_t slug, struct idyl_err *err)
{
        pass_drop_nodes(p);
        return pass_load_nodes(p, slug, err);
}

/* Loads the rest of what a pass needs, after pass_load_nodes: only the
 * workloads placed nowhere, and, unless the views are the loop's, what the
 * placed workloads use per node (summed by the store, no spec read). */
static int pass_load(struct pass *p, uint64_t slug, struct idyl_err *err)
{
        struct idyl_store *st = p->srv->store;
        int64_t now = now_ms();

        cleanup_free struct idyl_node_usage *usage = NULL;
        size_t nusage = 0;

        if (store_workload_list(st, slug, "", &p->ws, &p->nws, err) < 0)
                return -1;
        if (p->kept) {
                /* only liveness moves without a commit */
                for (size_t i = 0; i < p->nnodes; i++) {
                        node_liveness_fold(p->srv, &p->nodes[i]);
                        p->view[i].healthy =
                            node_status_now(p->srv, &p->nodes[i], now) != NODE_DOWN;
                }
                return 0;
        }
        if (store_workload_usage(st, slug, &usage, &nusage, err) < 0)
                return -1;
        p->view = calloc(p->nnodes + 1, sizeof(*p->view));
        if (!p->view)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        for (size_t i = 0; i < p->nnodes; i++) {
                struct idyl_node *n = &p->nodes[i];

                node_liveness_fold(p->srv, n);
                sched_node_of(n, node_status_now(p->srv, n, now) != NODE_DOWN, &p->view[i]);
        }
        for (size_t i = 0; i < nusage; i++) {
                long idx = node_index(p, usage[i].node);

                if (idx >= 0)
                        scheduler_account_usage(&p->view[idx], &usage[i]);
        }
        return 0;
}

/* A few of the nodes each filter removed, by name: {"insufficient_cpu": [...]}. */
static json_t *placement_examples(const struct pass *p, const struct sched_result *res)
{
        json_t *examples = json_object();

        for (int f = 0; f < FILTER__COUNT; f++) {
                json_t *names = json_array();

                for (size_t i = 0; i < res->filtered[f] && i < SCHED_EXAMPLES; i++)
                        json_array_append_new(names,
                                              json_string(p->nodes[res->examples[f][i]].name));
                if (json_array_size(names))
                        json_object_set_new(examples, sched_filter_code((enum sched_filter)f),
                                            names);
                else
                        json_decref(names);
        }
        return examples;
}

static char *placement_json(const struct pass *p, const struct sched_result *res, const char *node)
{
        json_t *o = json_pack("{s:I,s:s}", "nodesEvaluated", (json_int_t)res->evaluated, "outcome",
                              sched_outcome_code(res->outcome));
        json_t *filtered = json_object();
        char *text;

        for (int f = 0; f < FILTER__COUNT; f++)
                if (res->filtered[f])
                        json_object_set_new(filtered, sched_filter_code((enum sched_filter)f),
                                            json_integer((json_int_t)res->filtered[f]));
        json_object_set_new(o, "filtered", filtered);
        json_object_set_new(o, "examples", placement_examples(p, res));
        if (node)
                json_object_set_new(o, "node", json_string(node));
        text = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        return text;
}

static bool text_equal(const char *a, const char *b)
{
        return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Records why a workload waits: the message, with an Unschedulable record
 * when it is a new reason, and the placement counts. */
static int wait_one(struct pass *p, struct idyl_workload *w, const struct sched_result *res,
                    struct idyl_err *err)
{
        char slug[SUBNET_SLUG_BUFLEN], msg[512];
        cleanup_free char *placement = NULL;

        sched_message(res, subnet_slug_format(p->subnet.slug, slug), w->isolation, msg,
                      sizeof(msg));
        if (res->outcome == SCHED_NOT_ALLOWED) /* the policy changed since admission */
                return workload_transition(p->tx, w, LIFE_POLICY_REJECT, msg, NULL, err);
        placement = placement_json(p, res, NULL);
        if (text_equal(msg, w->message) && text_equal(placement, w->placement))
                return 0;
        free(w->placement);
        w->placement = placement;
        placement = NULL;
        return workload_transition(p->tx, w, LIFE_UNSCHEDULABLE, msg, NULL, err);
}

/* Places one waiting workload, or records why it must wait. */
static int place_one(struct pass *p, struct idyl_workload *w, struct idyl_err *err)
{
        char msg[512], record[600];
        struct sched_request req;
        struct sched_result res;
        const struct idyl_node *n;
        int64_t started = mono_ns();

        sched_request_of(w, &req);
        sched_place(&req, &p->subnet.policy, p->view, p->nnodes, &res);
        metrics_sched_attempt(p->srv->metrics, res.outcome, (double)(mono_ns() - started) / 1e9);
        if (res.outcome != SCHED_PLACED)
                return wait_one(p, w, &res, err);
        n = &p->nodes[res.node];
        free(w->placement);
        w->placement = placement_json(p, &res, n->name);
        snprintf(w->node, sizeof(w->node), "%s", n->name);
        snprintf(w->runtime_profile, sizeof(w->runtime_profile), "%s",
                 n->profile != PROFILE_NONE ? runtime_profile_name(n->profile) : n->provider);
        sched_account(&p->view[res.node], &req, 1);
        snprintf(msg, sizeof(msg), "placed on node %s", n->name);
        snprintf(record, sizeof(record), "placed on node %s (%s)", n->name, w->runtime_profile);
        return workload_transition(p->tx, w, LIFE_PLACE, msg, record, err);
}

/* Whether the store still holds w as the pass loaded it (same revision
 * and phase, placed nowhere), read inside the pass's transaction. */
static int still_as_loaded(struct pass *p, const struct idyl_workload *w, bool *same,
                           struct idyl_err *err)
{
        struct idyl_workload cur = IDYL_WORKLOAD_INIT;
        struct idyl_err lookup = IDYL_ERR_INIT;

        *same = false;
        if (store_workload_get(p->srv->store, w->subnet, w->name, &cur, &lookup) < 0)
                return lookup.code == IDYL_E_NOT_FOUND ? 0 : (*err = lookup, -1);
        *same = cur.revision == w->revision && cur.phase == w->phase && !cur.node[0];
        workload_release(&cur);
        return 0;
}

static int pass_run(struct pass *p, struct idyl_err *err)
{
        for (size_t i = 0; i < p->nws; i++) {
                struct idyl_workload *w = &p->ws[i];
                bool same;

                if (!lifecycle_allows(w->phase, LIFE_PLACE) || w->node[0])
                        continue;
                if (still_as_loaded(p, w, &same, err) < 0)
                        return -1;
                if (same && place_one(p, w, err) < 0)
                        return -1;
        }
        return 0;
}

/* The pass loads outside its transaction, so that requests do not wait
 * behind the load; only its writes hold the store. Placements are made by
 * this thread alone, so what it read of capacity stays true; a workload
 * that a request changed since (redeployed, approved, deleted) is left to
 * the pass that request kicked. */
static int pass_place(struct pass *p, uint64_t slug, struct idyl_err *err)
{
        int rc = pass_load(p, slug, err);

        if (rc == 0 && p->nws > 0 && (rc = lifecycle_tx_begin(p->tx, p->srv, err)) == 0) {
                p->tx->placements_counted = p->loop != NULL;
                rc = pass_run(p, err);
                if (rc == 0)
                        rc = replicas_fence(p->srv, err); /* commit only under our epoch */
                rc = lifecycle_tx_end(p->tx, rc, err);
                if (rc == 0)
                        watch_subnet_changed(p->srv, slug);
        }
        if (rc == 0)
                kept_take(p, slug);
        else
                kept_forget(p, slug); /* its views may count placements that did not commit */
        return rc;
}

/* What a kick runs: with the scheduler's record of moves, the drain step of
 * the subnet's draining nodes first (its moves are placed by the pass),
 * then the pass, both on one read of the subnet's nodes. The drain step
 * reads each draining node again inside its transaction, and a node it
 * ends the drain of stays ineligible, so the pass may use the same read. */
static int run_kicked(struct idyl_server *srv, struct scheduler *loop, uint64_t slug,
                      struct idyl_err *err)
{
        struct lifecycle_tx tx = LIFECYCLE_TX_INIT;
        struct pass p = {.srv = srv, .loop = loop, .tx = &tx};
        bool drained = false;
        int rc = pass_load_nodes(&p, slug, err);

        if (rc == 0 && loop) {
                struct idyl_err derr = IDYL_ERR_INIT;

                /* a failed drain step leaves its nodes to the next kick, not the pass */
                if (drain_step(srv, &loop->moves, slug, p.nodes, p.nnodes, &drained, &derr) < 0)
                        log_warnx("draining in subnet %012" PRIu64 ": %s", slug, derr.msg);
                if (drained) {
                        watch_subnet_changed(srv, slug);
                        rc = pass_reload_nodes(&p, slug, err);
                }
        }
        if (rc == 0)
                rc = pass_place(&p, slug, err);
        if (rc < 0 && err->code == IDYL_E_NOT_FOUND) {
                rc = 0; /* the subnet went away */
                kept_forget(&p, slug);
        }
        pass_release(&p);
        return rc;
}

int scheduler_run_subnet(struct idyl_server *srv, uint64_t slug, struct idyl_err *err)
{
        return run_kicked(srv, NULL, slug, err);
}

/* ---- health ------------------------------------------------------------- */

static int declare_down(struct idyl_server *srv, const struct idyl_node *stale,
                        struct idyl_err *err)
{
        struct lifecycle_tx tx = LIFECYCLE_TX_INIT;
        struct idyl_node n = IDYL_NODE_INIT;
        char why[160];
        int rc;

        if (lifecycle_tx_begin(&tx, srv, err) < 0)
                return -1;
        if (store_node_get(srv->store, stale->subnet, stale->name, &n, err) < 0) {
                lifecycle_tx_abort(&tx);
                return err->code == IDYL_E_NOT_FOUND ? 0 : -1;
        }
        node_liveness_fold(srv, &n);
        if (n.down || node_status_now(srv, &n, now_ms()) != NODE_DOWN) {
                lifecycle_tx_abort(&tx); /* it came back meanwhile */
                return 0;
        }
        snprintf(why, sizeof(why), "node %s is down: no heartbeat for %ds", n.name, srv->node_ttl);
        n.down = true;
        rc = node_unplace_workloads(&tx, &n, why, err);
        if (rc == 0)
                rc = store_node_put(srv->store, &n, err);
        if (rc == 0)
                rc = lifecycle_tx_node_changed(&tx, n.subnet, n.name, err);
        if (rc == 0)
                rc = lifecycle_tx_kick(&tx, n.subnet, err);
        if (rc == 0)
                rc = replicas_fence(srv, err);
        if (lifecycle_tx_end(&tx, rc, err) < 0)
                return -1;
        watch_subnet_changed(srv, n.subnet);
        log_info("node %s in subnet %012" PRIu64 " is down", n.name, n.subnet);
        return 0;
}

int scheduler_check_health(struct idyl_server *srv, struct idyl_err *err)
{
        cleanup_free struct idyl_node *nodes = NULL;
        size_t n = 0;
        int64_t now = now_ms();
        int rc = 0;

        if (store_node_list(srv->store, 0, &nodes, &n, err) < 0)
                return -1;
        for (size_t i = 0; i < n && rc == 0; i++) {
                node_liveness_fold(srv, &nodes[i]);
                if (!nodes[i].down && node_status_now(srv, &nodes[i], now) == NODE_DOWN)
                        rc = declare_down(srv, &nodes[i], err);
                /* a drain goes on as its moves arrive, which no kick signals */
                if (nodes[i].eligibility == NODE_DRAINING)
                        scheduler_kick(srv, nodes[i].subnet);
        }
        return rc;
}

/* ---- the loop ----------------------------------------------------------- */

void scheduler_kick(struct idyl_server *srv, uint64_t subnet)
{
        struct scheduler *s = srv->sched;
        char slug[24];

        if (srv->replicas && !server_is_leader(srv)) {
                /* the leader schedules: ask it */
                snprintf(slug, sizeof(slug), "%" PRIu64, subnet);
                replicas_publish(srv, 'k', slug);
                return;
        }
        if (!s)
                return;
        pthread_mutex_lock(&s->mu);
        if (s->stopping)
                goto out;
        for (size_t i = 0; i < s->ndirty; i++)
                if (s->dirty[i] == subnet)
                        goto out;
        if (ARRAY_GROW(s->dirty, s->ndirty, s->cap) < 0)
                goto out;
        s->dirty[s->ndirty++] = subnet;
        pthread_cond_signal(&s->cond);
out:
        pthread_mutex_unlock(&s->mu);
}

static void run_dirty(struct idyl_server *srv, uint64_t *batch, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                struct idyl_err err = IDYL_ERR_INIT;

                if (run_kicked(srv, srv->sched, batch[i], &err) < 0)
                        log_warnx("scheduling subnet %012" PRIu64 ": %s", batch[i], err.msg);
        }
}

/* Workload events and audit records past --history-retention go, at start
 * and then hourly, in one change of their own. */
static void history_prune(struct idyl_server *srv)
{
        struct idyl_err err = IDYL_ERR_INIT;
        size_t removed = 0;

        if (store_history_prune(srv->store, now_ms() - srv->history_retention_ms, &removed, &err) <
            0)
                log_warnx("history retention: %s", err.msg);
        else if (removed)
                log_info("history retention: removed %zu event and audit records older than "
                         "%" PRId64 " s",
                         removed, srv->history_retention_ms / 1000);
}

static void *scheduler_main(void *arg)
{
        struct idyl_server *srv = arg;
        struct scheduler *s = srv->sched;
        int64_t next_health = 0, next_prune = 0;

        pthread_mutex_lock(&s->mu);
        while (!s->stopping) {
                uint64_t *batch = s->dirty;
                size_t n = s->ndirty;

                if (n == 0 && now_ms() < next_health) {
                        cond_wait_ms(&s->cond, &s->mu, CLOCK_REALTIME, 250);
                        continue;
                }
                s->dirty = NULL;
                s->ndirty = s->cap = 0;
                pthread_mutex_unlock(&s->mu);
                if (!server_is_leader(srv)) {
                        /* a follower's kicks went to the leader; its health is the leader's */
                        free(batch);
                        next_health = now_ms() + 1000;
                        pthread_mutex_lock(&s->mu);
                        continue;
                }
                run_dirty(srv, batch, n);
                free(batch);
                if (now_ms() >= next_health) {
                        struct idyl_err err = IDYL_ERR_INIT;
                        if (scheduler_check_health(srv, &err) < 0)
                                log_warnx("node health check: %s", err.msg);
                        next_health = now_ms() + 1000;
                }
                if (srv->history_retention_ms && now_ms() >= next_prune) {
                        history_prune(srv);
                        next_prune = now_ms() + HISTORY_PRUNE_EVERY_MS;
                }
                pthread_mutex_lock(&s->mu);
        }
        pthread_mutex_unlock(&s->mu);
        return NULL;
}

int scheduler_start(struct idyl_server *srv, struct idyl_err *err)
{
        struct scheduler *s = calloc(1, sizeof(*s));
        cleanup_free struct idyl_subnet *subnets = NULL;
        size_t n = 0;

        if (!s)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        pthread_mutex_init(&s->mu, NULL);
        pthread_cond_init(&s->cond, NULL);
        srv->sched = s;
        if (!srv->liveness && liveness_start(srv, err) < 0)
                return -1;
        if (!srv->assign_memo && assign_memo_start(srv, err) < 0)
                return -1;
        /* After a restart every subnet may hold waiting work. */
        if (store_subnet_list(srv->store, &subnets, &n, err) < 0)
                return -1;
        for (size_t i = 0; i < n; i++)
                scheduler_kick(srv, subnets[i].slug);
        if (pthread_create(&s->thread, NULL, scheduler_main, srv) != 0)
                return idyl_err_set(err, IDYL_E_INTERNAL, "cannot start the scheduler");
        s->started = true;
        return 0;
}

void scheduler_stop(struct idyl_server *srv)
{
        struct scheduler *s = srv->sched;

        if (!s || !s->started)
                return;
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        s->started = false;
}

void scheduler_free(struct idyl_server *srv)
{
        struct scheduler *s = srv->sched;

        if (!s)
                return;
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cond);
        free(s->dirty);
        drain_moves_release(&s->moves);
        for (size_t i = 0; i < s->nkept; i++)
                kept_clear(&s->kept[i]);
        free(s->kept);
        free(s);
        srv->sched = NULL;
        liveness_free(srv);
        assign_memo_free(srv);
}
