/* Group commit shared by the store backends (group.h). */
#include "store/group.h"

#include "util/clock.h"

void store_group_init(struct store_group *g)
{
        g->open = false;
        g->t0 = 0;
        g->members = NULL;
        g->nmembers = 0;
        atomic_init(&g->queued, 0);
        pthread_mutex_init(&g->ackmu, NULL);
        pthread_cond_init(&g->acked, NULL);
}

void store_group_destroy(struct store_group *g)
{
        pthread_mutex_destroy(&g->ackmu);
        pthread_cond_destroy(&g->acked);
}

void store_group_enter(struct store_group *g, pthread_mutex_t *mu)
{
        atomic_fetch_add(&g->queued, 1);
        pthread_mutex_lock(mu);
        atomic_fetch_sub(&g->queued, 1);
}

void store_group_opened(struct store_group *g)
{
        g->open = true;
        g->t0 = mono_ms();
}

bool store_group_due(const struct store_group *g, bool wait)
{
        return (atomic_load(&g->queued) == 0 && !wait) || g->nmembers >= GROUP_MAX_MEMBERS ||
               mono_ms() - g->t0 >= GROUP_MAX_AGE_MS;
}

void store_group_join(struct store_group *g, struct group_member *me)
{
        me->next = g->members;
        g->members = me;
        g->nmembers++;
}

struct group_member *store_group_take(struct store_group *g)
{
        struct group_member *members = g->members;

        g->open = false;
        g->members = NULL;
        g->nmembers = 0;
        return members;
}

void store_group_ack_members(struct store_group *g, struct group_member *members, int rc,
                             const struct idyl_err *err)
{
        pthread_mutex_lock(&g->ackmu);
        for (struct group_member *m = members, *next; m; m = next) {
                next = m->next;
                m->rc = rc;
                if (rc < 0)
                        m->err = *err;
                m->done = true;
        }
        pthread_cond_broadcast(&g->acked);
        pthread_mutex_unlock(&g->ackmu);
}

void store_group_ack(struct store_group *g, int rc, const struct idyl_err *err)
{
        store_group_ack_members(g, store_group_take(g), rc, err);
}

int store_group_wait(struct store_group *g, struct group_member *me, struct idyl_err *err)
{
        pthread_mutex_lock(&g->ackmu);
        while (!me->done)
                pthread_cond_wait(&g->acked, &g->ackmu);
        pthread_mutex_unlock(&g->ackmu);
        if (me->rc < 0) {
                if (err)
                        *err = me->err;
                return -1;
        }
        return 0;
}

int store_group_finish(struct store_group *g, struct group_member *me,
                       struct store_audit_pending *audit, struct idyl_err *err)
{
        if (!me || store_group_wait(g, me, err) < 0)
                return -1;
        if (audit)
                audit->written = true;
        return 0;
}
