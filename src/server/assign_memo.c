/* What each node was last sent as its assignments ({name: revision} at a
 * version), kept in memory, so a node that asks with since=V, V being that
 * version, gets only what changed: a node's answers grow with its own
 * changes, not with the cluster or its whole set. A node whose version is
 * not remembered (idyld restarted, or the node never said since) gets the
 * whole set, as idyl-sim and older agents always do. */
#include "server/server.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/nodeproto.h"

struct assign_memo {
        pthread_mutex_t mu;
        json_t *by_node; /* "SUBNET/NODE" -> {"version": V, "sent": {name: revision}} */
};

int assign_memo_start(struct idyl_server *srv, struct idyl_err *err)
{
        struct assign_memo *m = calloc(1, sizeof(*m));

        if (m)
                m->by_node = json_object();
        if (!m || !m->by_node) {
                free(m);
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        }
        pthread_mutex_init(&m->mu, NULL);
        srv->assign_memo = m;
        return 0;
}

void assign_memo_free(struct idyl_server *srv)
{
        struct assign_memo *m = srv->assign_memo;

        if (!m)
                return;
        json_decref(m->by_node);
        pthread_mutex_destroy(&m->mu);
        free(m);
        srv->assign_memo = NULL;
}

json_t *assign_memo_answer(struct idyl_server *srv, uint64_t subnet, const char *node,
                           json_int_t since, json_t *whole)
{
        struct assign_memo *m = srv->assign_memo;
        json_t *index, *entry, *answer = NULL;
        char key[96];

        if (!m || !whole || since == -1)
                return whole;
        snprintf(key, sizeof(key), "%016llx/%s", (unsigned long long)subnet, node);
        if (since == ASSIGN_MEMO_FORGET) {
                pthread_mutex_lock(&m->mu);
                json_object_del(m->by_node, key);
                pthread_mutex_unlock(&m->mu);
                return whole;
        }
        index = nodeproto_assignments_index(whole);
        pthread_mutex_lock(&m->mu);
        entry = json_object_get(m->by_node, key);
        if (entry && json_integer_value(json_object_get(entry, "version")) == since)
                answer = nodeproto_assignments_delta(json_object_get(entry, "sent"), since, whole);
        if (index)
                json_object_set_new(m->by_node, key,
                                    json_pack("{s:O,s:o}", "version",
                                              json_object_get(whole, "version"), "sent", index));
        pthread_mutex_unlock(&m->mu);
        if (!answer)
                return whole;
        json_decref(whole);
        return answer;
}
