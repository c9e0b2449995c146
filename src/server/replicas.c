/* Several idyld replicas on one store (SPEC §7). Every replica serves every
 * route; one leads: it holds the store's lease (store_lease_acquire) and
 * alone runs the scheduler and node health. This thread, one per replica:
 *  - once a second, renews the lease when leading, or tries to take it;
 *    a leader that has not renewed for LEADER_STALE_MS stops scheduling on
 *    its own, before a follower may take the lease (STORE_LEASE_TIMEOUT_S);
 *  - receives what the other replicas publish: "n KEY" wakes the local
 *    long-polls and watches waiting on KEY, "k SLUG" asks the leader for a
 *    pass over a subnet. Each message starts with the sender's id, so a
 *    replica skips its own.
 * Placements commit only under the current epoch (replicas_fence), and a new
 * leader gives every node a full --node-ttl before it may mark one down. */
#include "server/server.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

#define LEADER_STALE_MS    5000 /* stop well before a follower may take over (8 s) */
#define LEASE_EVERY_MS     1000
#define ADVERTISE_EVERY_MS 5000

struct replicas {
        pthread_mutex_t mu;
        pthread_t thread;
        bool started;
        bool stopping;
        bool leading;
        int64_t epoch;
        int64_t renewed_ms;      /* monotonic; when the lease last renewed */
        char id[REPLICA_ID_MAX]; /* this replica, in its messages */
};

bool server_is_leader(const struct idyl_server *srv)
{
        struct replicas *r = srv->replicas;
        bool leading;

        if (!r)
                return true; /* a lone idyld leads */
        pthread_mutex_lock(&r->mu);
        leading = r->leading && mono_ms() - r->renewed_ms < LEADER_STALE_MS;
        pthread_mutex_unlock(&r->mu);
        return leading;
}

int replicas_fence(struct idyl_server *srv, struct idyl_err *err)
{
        struct replicas *r = srv->replicas;
        int64_t epoch;

        if (!r)
                return 0;
        pthread_mutex_lock(&r->mu);
        epoch = r->leading ? r->epoch : 0;
        pthread_mutex_unlock(&r->mu);
        if (!epoch)
                return idyl_err_set(err, IDYL_E_CONFLICT, "this replica does not lead");
        return store_lease_check(srv->store, epoch, err);
}

void replicas_publish(struct idyl_server *srv, char kind, const char *what)
{
        struct idyl_err err = IDYL_ERR_INIT;
        char msg[160];

        if (!srv->replicas)
                return;
        snprintf(msg, sizeof(msg), "%s %c %s", srv->replicas->id, kind, what);
        if (store_publish(srv->store, msg, &err) < 0)
                log_warnx("tell the other replicas: %s", err.msg);
}

const char *replicas_self(const struct idyl_server *srv)
{
        return srv->replicas ? srv->replicas->id : NULL;
}

int replicas_node_route(struct idyl_server *srv, uint64_t subnet, const char *node, char *peer,
                        char *addr, size_t addr_size, struct idyl_err *err)
{
        struct idyl_err none = IDYL_ERR_INIT;
        struct idyl_replica *rs = NULL;
        const struct idyl_replica *found = NULL;
        size_t n = 0;

        if (!srv->replicas)
                return 0;
        if (store_node_replica_get(srv->store, subnet, node, peer, REPLICA_ID_MAX, &none) < 0) {
                if (none.code != IDYL_E_NOT_FOUND) {
                        *err = none;
                        return -1;
                }
                return 0; /* no replica recorded the agent yet: it may come here */
        }
        if (strcmp(peer, srv->replicas->id) == 0)
                return 0;
        if (store_replica_list(srv->store, &rs, &n, err) < 0)
                return -1;
        for (size_t i = 0; i < n && !found; i++)
                if (strcmp(rs[i].id, peer) == 0)
                        found = &rs[i];
        if (!found || found->seen_ms_ago > REPLICA_GONE_MS) {
                if (found)
                        log_warnx("node %s is connected to replica %s (%s), last seen %" PRId64
                                  " ms ago",
                                  node, peer, found->addr, found->seen_ms_ago);
                free(rs);
                return idyl_err_set(err, IDYL_E_UNAVAILABLE, MSG_REPLICA_GONE, node, peer);
        }
        snprintf(addr, addr_size, "%s", found->addr);
        free(rs);
        return 1;
}

static void kick_every_subnet(struct idyl_server *srv)
{
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_subnet *subnets = NULL;
        size_t n = 0;

        if (store_subnet_list(srv->store, &subnets, &n, &err) < 0) {
                log_warnx("leader: list subnets: %s", err.msg);
                return;
        }
        for (size_t i = 0; i < n; i++)
                scheduler_kick(srv, subnets[i].slug);
        free(subnets);
}

static void on_message(void *arg, const char *msg)
{
        struct idyl_server *srv = arg;
        struct replicas *r = srv->replicas;
        size_t idlen = strlen(r->id);
        char *end;
        uint64_t slug;

        if (!*msg) { /* reconnected: what was missed is unknown */
                if (server_is_leader(srv))
                        kick_every_subnet(srv);
                return;
        }
        if (strncmp(msg, r->id, idlen) == 0 && msg[idlen] == ' ')
                return; /* our own */
        msg = strchr(msg, ' ');
        if (!msg || !msg[1] || msg[2] != ' ')
                return;
        switch (msg[1]) {
        case 'n':
                server_notify_local(srv, msg + 3);
                break;
        case 'k':
                slug = strtoull(msg + 3, &end, 10);
                if (*end == '\0' && server_is_leader(srv))
                        scheduler_kick(srv, slug);
                break;
        default:
                break;
        }
}

static void lease_step(struct idyl_server *srv)
{
        struct replicas *r = srv->replicas;
        struct idyl_err err = IDYL_ERR_INIT;
        int64_t epoch = 0;
        bool leading;
        int rc;

        pthread_mutex_lock(&r->mu);
        leading = r->leading;
        epoch = r->epoch;
        pthread_mutex_unlock(&r->mu);
        if (leading) {
                rc = store_lease_renew(srv->store, epoch, &err);
                pthread_mutex_lock(&r->mu);
                if (rc == 0)
                        r->renewed_ms = mono_ms();
                else
                        r->leading = false;
                pthread_mutex_unlock(&r->mu);
                if (rc < 0)
                        log_warnx("no longer leading (epoch %" PRId64 "): %s", epoch, err.msg);
                return;
        }
        rc = store_lease_acquire(srv->store, &epoch, &err);
        if (rc < 0) {
                log_warnx("leader lease: %s", err.msg);
                return;
        }
        if (rc == 0)
                return;
        /* a new leader gives every node a full TTL from now (SPEC §9) */
        liveness_regrace(srv);
        pthread_mutex_lock(&r->mu);
        r->leading = true;
        r->epoch = epoch;
        r->renewed_ms = mono_ms();
        pthread_mutex_unlock(&r->mu);
        log_info("leading the replicas (epoch %" PRId64 ")", epoch);
        kick_every_subnet(srv);
}

/* Tells the other replicas where this one serves (for routing requests to
 * the replica a node's agent is connected to: logs, exec). */
static void advertise(struct idyl_server *srv)
{
        struct idyl_err err = IDYL_ERR_INIT;

        if (store_replica_advertise(srv->store, srv->replicas->id, srv->advertise_addr, &err) < 0)
                log_warnx("advertise this replica: %s", err.msg);
}

static void *replicas_main(void *arg)
{
        struct idyl_server *srv = arg;
        struct replicas *r = srv->replicas;
        int64_t next_lease = 0, next_advertise = 0;
        int64_t next_warn = 0;

        for (;;) {
                struct idyl_err err = IDYL_ERR_INIT;
                int64_t now;

                pthread_mutex_lock(&r->mu);
                if (r->stopping) {
                        pthread_mutex_unlock(&r->mu);
                        break;
                }
                pthread_mutex_unlock(&r->mu);
                now = mono_ms();
                if (now >= next_lease) {
                        lease_step(srv);
                        next_lease = now + LEASE_EVERY_MS;
                }
                if (now >= next_advertise) {
                        advertise(srv);
                        next_advertise = now + ADVERTISE_EVERY_MS;
                }
                if (store_receive(srv->store, 200, on_message, srv, &err) < 0 &&
                    mono_ms() >= next_warn) {
                        log_warnx("receive from the other replicas: %s", err.msg);
                        next_warn = mono_ms() + 10000;
                }
        }
        return NULL;
}

int replicas_start(struct idyl_server *srv, struct idyl_err *err)
{
        struct replicas *r;

        if (!store_replicated(srv->store))
                return 0;
        r = calloc(1, sizeof(*r));
        if (!r)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        pthread_mutex_init(&r->mu, NULL);
        snprintf(r->id, sizeof(r->id), "%ld.%" PRId64, (long)getpid(), now_ms() % 100000000);
        srv->replicas = r;
        /* lead at once when nobody does, so a lone replica schedules from its start */
        lease_step(srv);
        if (pthread_create(&r->thread, NULL, replicas_main, srv) != 0)
                return idyl_err_set(err, IDYL_E_INTERNAL, "cannot start the replica thread");
        r->started = true;
        return 0;
}

void replicas_stop(struct idyl_server *srv)
{
        struct replicas *r = srv->replicas;

        if (!r)
                return;
        if (r->started) {
                pthread_mutex_lock(&r->mu);
                r->stopping = true;
                pthread_mutex_unlock(&r->mu);
                pthread_join(r->thread, NULL);
                r->started = false;
        }
}

void replicas_free(struct idyl_server *srv)
{
        struct replicas *r = srv->replicas;

        if (!r)
                return;
        pthread_mutex_destroy(&r->mu);
        free(r);
        srv->replicas = NULL;
}
