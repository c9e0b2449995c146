/* Node drain, run by the scheduler thread (Nomad's model): a draining node
 * is ineligible for new work, and its workloads move off it a bounded number
 * at a time. Each move is the lifecycle's LIFE_MIGRATE, so the node stops
 * the workload (its assignment set loses it) and the scheduler places it
 * again under the subnet's policy in force, as after a node loss. A move is
 * on its way until the workload runs elsewhere (or stops existing, or ends);
 * the next moves wait for room under DRAIN_MAX_PARALLEL. A node with nothing
 * left placed on it, and no move on the way, has drained: it stays
 * ineligible until an operator enables it. A revoke stays the immediate eviction (server/nodes.c).
 */
#include "server/server.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/array.h"
#include "util/log.h"

void drain_moves_release(struct drain_moves *m)
{
        free(m->items);
        *m = (struct drain_moves){0};
}

static void move_forget(struct drain_moves *m, size_t i)
{
        m->items[i] = m->items[--m->n];
}

/* Whether a move has arrived: the workload runs (or ended, or went, or is
 * another revision now). */
static int move_arrived(struct idyl_store *st, const struct drain_move *mv, bool *arrived,
                        struct idyl_err *err)
{
        struct idyl_workload w = IDYL_WORKLOAD_INIT;
        struct idyl_err lookup = IDYL_ERR_INIT;

        *arrived = true;
        if (store_workload_get(st, mv->subnet, mv->workload, &w, &lookup) < 0)
                return lookup.code == IDYL_E_NOT_FOUND ? 0 : (*err = lookup, -1);
        if (w.revision == mv->revision && (workload_phase_unplaced(w.phase) ||
                                           w.phase == PHASE_SCHEDULED || w.phase == PHASE_LOST))
                *arrived = false;
        workload_release(&w);
        return 0;
}

/* Forgets the subnet's moves that arrived; counts those of `node` still
 * on their way. */
static int moves_in_flight(struct idyl_store *st, struct drain_moves *m, uint64_t slug,
                           const char *node, size_t *n, struct idyl_err *err)
{
        *n = 0;
        for (size_t i = 0; i < m->n;) {
                bool arrived;

                if (m->items[i].subnet != slug) {
                        i++;
                        continue;
                }
                if (move_arrived(st, &m->items[i], &arrived, err) < 0)
                        return -1;
                if (arrived) {
                        move_forget(m, i);
                        continue;
                }
                if (strcmp(m->items[i].node, node) == 0)
                        (*n)++;
                i++;
        }
        return 0;
}

static int move_note(struct drain_moves *m, const struct idyl_workload *w, const char *node,
                     struct idyl_err *err)
{
        struct drain_move *mv;

        if (ARRAY_GROW(m->items, m->n, m->cap) < 0)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        mv = &m->items[m->n++];
        mv->subnet = w->subnet;
        mv->revision = w->revision;
        snprintf(mv->node, sizeof(mv->node), "%s", node);
        snprintf(mv->workload, sizeof(mv->workload), "%s", w->name);
        return 0;
}

/* Moves up to `room` of the node's workloads, or ends its drain when none
 * is left on it and none of its moves is still on the way (`busy`), inside
 * tx. */
static int drain_node(struct lifecycle_tx *tx, struct drain_moves *m, const struct idyl_node *n,
                      size_t busy, bool *changed, struct idyl_err *err)
{
        size_t room = busy < DRAIN_MAX_PARALLEL ? DRAIN_MAX_PARALLEL - busy : 0;
        struct idyl_store *st = tx->srv->store;
        struct idyl_node cur = IDYL_NODE_INIT;
        struct idyl_workload *ws = NULL;
        size_t nws = 0;
        char why[160];
        int rc = 0;

        /* read again inside tx: an --enable may have ended the drain since
         * the list, and a heartbeat may have written the node */
        if (store_node_get(st, n->subnet, n->name, &cur, err) < 0)
                return err->code == IDYL_E_NOT_FOUND ? 0 : -1;
        if (cur.eligibility != NODE_DRAINING)
                return 0;
        if (store_workload_list(st, n->subnet, n->name, &ws, &nws, err) < 0)
                return -1;
        if (nws == 0 && busy == 0) {
                cur.eligibility = NODE_INELIGIBLE;
                *changed = true;
                log_info("node %s in subnet %012" PRIu64 " has drained", n->name, n->subnet);
                rc = store_node_put(st, &cur, err);
                if (rc == 0)
                        rc = lifecycle_tx_nodes_stale(tx, n->subnet, err);
        }
        snprintf(why, sizeof(why), "node %s is draining: moved to be placed again", n->name);
        for (size_t i = 0; i < nws && room > 0 && rc == 0; i++) {
                if (!lifecycle_allows(ws[i].phase, LIFE_MIGRATE))
                        continue;
                rc = move_note(m, &ws[i], n->name, err);
                if (rc == 0)
                        rc = workload_transition(tx, &ws[i], LIFE_MIGRATE, why, NULL, err);
                room--;
                *changed = true;
        }
        workload_list_free(ws, nws);
        return rc;
}

int drain_step(struct idyl_server *srv, struct drain_moves *moves, uint64_t slug,
               const struct idyl_node *nodes, size_t n, bool *changed, struct idyl_err *err)
{
        struct lifecycle_tx tx = LIFECYCLE_TX_INIT;
        int rc = 0;

        *changed = false;
        for (size_t i = 0; i < n && rc == 0; i++) {
                size_t busy;

                if (nodes[i].eligibility != NODE_DRAINING)
                        continue;
                if (tx.srv == NULL && lifecycle_tx_begin(&tx, srv, err) < 0)
                        return -1;
                rc = moves_in_flight(srv->store, moves, slug, nodes[i].name, &busy, err);
                if (rc == 0)
                        rc = drain_node(&tx, moves, &nodes[i], busy, changed, err);
        }
        if (tx.srv == NULL)
                return 0;
        if (rc < 0 || !*changed) {
                lifecycle_tx_abort(&tx);
                return rc;
        }
        return lifecycle_tx_commit(&tx, err);
}
