/* The one place a workload's phase changes, as crun's status.c is the one
 * place a container's status is written. workload_transition asks
 * core/lifecycle.c for the step, writes the phase, message and updated_at,
 * appends the event record, and notes what the change sets in motion; the
 * transaction that holds it (lifecycle_tx) bumps the assignment version of
 * every node whose set changed, commits, then wakes those nodes' long-polls
 * and kicks the scheduler — after the commit, so nobody acts on a change
 * that was rolled back. */
#include "server/server.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/array.h"

static int tx_oom(struct idyl_err *err)
{
        return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
}

int lifecycle_tx_begin(struct lifecycle_tx *tx, struct idyl_server *srv, struct idyl_err *err)
{
        *tx = (struct lifecycle_tx)LIFECYCLE_TX_INIT;
        if (store_tx_begin(srv->store, err) < 0)
                return -1;
        tx->srv = srv;
        return 0;
}

static void tx_release(struct lifecycle_tx *tx)
{
        free(tx->nodes);
        free(tx->kicks);
        free(tx->stale);
        *tx = (struct lifecycle_tx)LIFECYCLE_TX_INIT;
}

void lifecycle_tx_abort(struct lifecycle_tx *tx)
{
        if (tx->srv)
                store_tx_rollback(tx->srv->store);
        tx_release(tx);
}

/* Adds subnet to a set of subnets (an array without repeats). */
static int subnet_set_add(uint64_t **set, size_t *n, size_t *cap, uint64_t subnet,
                          struct idyl_err *err)
{
        for (size_t i = 0; i < *n; i++)
                if ((*set)[i] == subnet)
                        return 0;
        if (ARRAY_GROW(*set, *n, *cap) < 0)
                return tx_oom(err);
        (*set)[(*n)++] = subnet;
        return 0;
}

int lifecycle_tx_kick(struct lifecycle_tx *tx, uint64_t subnet, struct idyl_err *err)
{
        return subnet_set_add(&tx->kicks, &tx->nkicks, &tx->kicks_cap, subnet, err);
}

int lifecycle_tx_nodes_stale(struct lifecycle_tx *tx, uint64_t subnet, struct idyl_err *err)
{
        return subnet_set_add(&tx->stale, &tx->nstale, &tx->stale_cap, subnet, err);
}

int lifecycle_tx_node_changed(struct lifecycle_tx *tx, uint64_t subnet, const char *node,
                              struct idyl_err *err)
{
        struct lifecycle_tx_node *n;

        if (!node || !*node)
                return 0;
        for (size_t i = 0; i < tx->nnodes; i++)
                if (tx->nodes[i].subnet == subnet && strcmp(tx->nodes[i].name, node) == 0)
                        return 0;
        if (ARRAY_GROW(tx->nodes, tx->nnodes, tx->nodes_cap) < 0)
                return tx_oom(err);
        n = &tx->nodes[tx->nnodes++];
        n->subnet = subnet;
        snprintf(n->name, sizeof(n->name), "%s", node);
        return 0;
}

int lifecycle_tx_commit(struct lifecycle_tx *tx, struct idyl_err *err)
{
        struct idyl_server *srv = tx->srv;
        int rc = 0;

        for (size_t i = 0; i < tx->nnodes && rc == 0; i++)
                rc = node_assignments_changed(srv->store, tx->nodes[i].subnet, tx->nodes[i].name,
                                              err);
        if (rc < 0) {
                lifecycle_tx_abort(tx);
                return -1;
        }
        if (store_tx_commit(srv->store, err) < 0) {
                tx_release(tx);
                return -1;
        }
        /* what the scheduler keeps of the subnets' nodes goes before anyone
         * is woken or kicked: a pass those start reads them again */
        for (size_t i = 0; i < tx->nstale; i++)
                scheduler_nodes_changed(srv, tx->stale[i]);
        for (size_t i = 0; i < tx->nnodes && !tx->placements_counted; i++)
                scheduler_nodes_changed(srv, tx->nodes[i].subnet);
        for (size_t i = 0; i < tx->nnodes; i++) {
                char key[NODE_WAIT_KEY_LEN];

                node_wait_key(tx->nodes[i].subnet, tx->nodes[i].name, key, sizeof(key));
                server_notify(srv, key);
        }
        for (size_t i = 0; i < tx->nkicks; i++)
                scheduler_kick(srv, tx->kicks[i]);
        tx_release(tx);
        return 0;
}

int lifecycle_tx_end(struct lifecycle_tx *tx, int rc, struct idyl_err *err)
{
        if (rc < 0) {
                lifecycle_tx_abort(tx);
                return -1;
        }
        return lifecycle_tx_commit(tx, err);
}

static int append_record(struct idyl_store *st, const struct idyl_workload *w, const char *type,
                         const char *message, struct idyl_err *err)
{
        struct idyl_event ev = {.revision = w->revision};

        snprintf(ev.type, sizeof(ev.type), "%s", type);
        snprintf(ev.message, sizeof(ev.message), "%s", message);
        return store_event_add(st, w->subnet, w->name, &ev, err);
}

int workload_transition(struct lifecycle_tx *tx, struct idyl_workload *w,
                        enum lifecycle_event event, const char *message, const char *event_message,
                        struct idyl_err *err)
{
        struct idyl_store *st = tx->srv->store;
        struct lifecycle_step step;
        enum workload_phase from = w->phase;
        bool record;

        if (lifecycle_step(from, event, &step, err) < 0)
                return -1;
        if (!message)
                message = step.message ? step.message : "";
        record = lifecycle_records(&step, from, w->message, message);
        if ((step.effects & EFFECT_NODE) &&
            lifecycle_tx_node_changed(tx, w->subnet, w->node, err) < 0)
                return -1;
        if ((step.effects & EFFECT_KICK) && lifecycle_tx_kick(tx, w->subnet, err) < 0)
                return -1;
        if (step.effects & EFFECT_UNPLACE) {
                w->node[0] = '\0';
                w->runtime_profile[0] = '\0';
        }
        w->phase = step.next;
        if (w->phase != PHASE_RUNNING)
                w->ip[0] = '\0'; /* an address is the running workload's only */
        if (message != w->message)
                snprintf(w->message, sizeof(w->message), "%s", message);
        w->updated_at = (int64_t)time(NULL);
        if (store_workload_put(st, w, err) < 0)
                return -1;
        if (!record)
                return 0;
        if (!event_message)
                event_message = step.event_message ? step.event_message : w->message;
        return append_record(st, w, step.record, event_message, err);
}
