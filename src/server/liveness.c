/* Node liveness kept in memory: when each node last heartbeat. A heartbeat
 * that changes nothing the store keeps (phase, readiness, capacity) only
 * lands here, so a thousand quiet nodes write nothing. Readers fold it into
 * the node they read from the store (node_liveness_fold). After a restart
 * the table is empty, and every node gets a full --node-ttl from the start
 * before it may be declared down (SPEC §9), by node_status_now. */
#include "server/server.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIVENESS_BUCKETS 4096 /* a power of two */
/* Longer than any streams long-poll (60 s): an agent whose polls here had
 * such a gap was polling another replica meanwhile. */
#define LIVENESS_POLL_GAP_MS 65000

struct liveness_entry {
        struct liveness_entry *next;
        uint64_t subnet;
        int64_t seen_ms;
        int64_t stored_ms; /* the heartbeat last written for the leader (replicas) */
        int64_t polled_ms; /* the agent last polled its streams on this replica */
        int64_t routed_ms; /* this replica last recorded itself as the agent's */
        char name[64];
};

struct liveness {
        pthread_mutex_t mu;
        int64_t started_ms; /* the grace starts here */
        struct liveness_entry *buckets[LIVENESS_BUCKETS];
};

static size_t bucket_of(uint64_t subnet, const char *name)
{
        uint64_t h = 1469598103934665603ULL ^ subnet;

        for (const unsigned char *p = (const unsigned char *)name; *p; p++)
                h = (h ^ *p) * 1099511628211ULL;
        return (size_t)(h & (LIVENESS_BUCKETS - 1));
}

static struct liveness_entry *find(struct liveness *l, size_t b, uint64_t subnet, const char *name)
{
        for (struct liveness_entry *e = l->buckets[b]; e; e = e->next)
                if (e->subnet == subnet && strcmp(e->name, name) == 0)
                        return e;
        return NULL;
}

int liveness_start(struct idyl_server *srv, struct idyl_err *err)
{
        struct liveness *l = calloc(1, sizeof(*l));

        if (!l)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        pthread_mutex_init(&l->mu, NULL);
        l->started_ms = now_ms();
        srv->liveness = l;
        return 0;
}

void liveness_free(struct idyl_server *srv)
{
        struct liveness *l = srv->liveness;

        if (!l)
                return;
        for (size_t b = 0; b < LIVENESS_BUCKETS; b++)
                for (struct liveness_entry *e = l->buckets[b], *next; e; e = next) {
                        next = e->next;
                        free(e);
                }
        pthread_mutex_destroy(&l->mu);
        free(l);
        srv->liveness = NULL;
}

/* The node's entry, made when missing; the caller holds the lock. Entries
 * live as long as the table. */
static struct liveness_entry *entry_locked(struct liveness *l, uint64_t subnet, const char *name,
                                           struct idyl_err *err)
{
        size_t b = bucket_of(subnet, name);
        struct liveness_entry *e = find(l, b, subnet, name);

        if (e)
                return e;
        e = calloc(1, sizeof(*e));
        if (!e) {
                idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                return NULL;
        }
        e->subnet = subnet;
        snprintf(e->name, sizeof(e->name), "%s", name);
        e->next = l->buckets[b];
        l->buckets[b] = e;
        return e;
}

int liveness_seen(struct idyl_server *srv, uint64_t subnet, const char *name, int64_t ms,
                  struct idyl_err *err)
{
        struct liveness *l = srv->liveness;
        struct liveness_entry *e;
        bool store = false;
        int rc = 0;

        pthread_mutex_lock(&l->mu);
        e = entry_locked(l, subnet, name, err);
        if (!e) {
                rc = -1;
                goto out;
        }
        if (ms > e->seen_ms)
                e->seen_ms = ms;
        /* A follower's heartbeats reach the leader through the store, at
         * most three times a TTL per node. */
        if (srv->replicas && ms - e->stored_ms >= (int64_t)srv->node_ttl * 1000 / 3 &&
            !server_is_leader(srv)) {
                e->stored_ms = ms;
                store = true;
        }
out:
        pthread_mutex_unlock(&l->mu);
        if (store && store_node_touch(srv->store, subnet, name, ms, err) < 0)
                return -1;
        return rc;
}

int liveness_streams_polled(struct idyl_server *srv, uint64_t subnet, const char *name, int64_t ms,
                            struct idyl_err *err)
{
        struct liveness *l = srv->liveness;
        struct liveness_entry *e;
        const char *self = replicas_self(srv);
        bool record = false;
        int rc;

        if (!self)
                return 0; /* a lone idyld serves every stream itself */
        pthread_mutex_lock(&l->mu);
        e = entry_locked(l, subnet, name, err);
        if (e) {
                /* the agent's first poll here, or its first after it polled
                 * elsewhere, or the periodic refresh */
                record = ms - e->polled_ms > LIVENESS_POLL_GAP_MS ||
                         ms - e->routed_ms >= (int64_t)srv->node_ttl * 1000 / 3;
                e->polled_ms = ms;
                if (record)
                        e->routed_ms = ms;
        }
        pthread_mutex_unlock(&l->mu);
        if (!e)
                return -1;
        if (!record)
                return 0;
        rc = store_node_replica_set(srv->store, subnet, name, self, err);
        if (rc < 0) {
                pthread_mutex_lock(&l->mu);
                e->routed_ms = 0; /* the next poll tries again */
                pthread_mutex_unlock(&l->mu);
        }
        return rc;
}

void liveness_regrace(struct idyl_server *srv)
{
        struct liveness *l = srv->liveness;

        if (!l)
                return;
        pthread_mutex_lock(&l->mu);
        l->started_ms = now_ms();
        pthread_mutex_unlock(&l->mu);
}

void node_liveness_fold(const struct idyl_server *srv, struct idyl_node *n)
{
        struct liveness *l = srv->liveness;
        struct liveness_entry *e;

        if (!l)
                return;
        pthread_mutex_lock(&l->mu);
        e = find(l, bucket_of(n->subnet, n->name), n->subnet, n->name);
        if (e && e->seen_ms > n->last_heartbeat)
                n->last_heartbeat = e->seen_ms;
        pthread_mutex_unlock(&l->mu);
}

enum node_status node_status_now(const struct idyl_server *srv, const struct idyl_node *n,
                                 int64_t now)
{
        struct idyl_node graced = *n;

        if (srv->liveness && graced.last_heartbeat < srv->liveness->started_ms)
                graced.last_heartbeat = srv->liveness->started_ms;
        return node_status_at(&graced, now, srv->node_ttl);
}
