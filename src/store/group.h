/* Group commit, as both store backends do it: each writer's unit of work
 * is a savepoint inside one open transaction, the group, and one COMMIT
 * (one fsync) makes every member durable at once. The backend runs the SQL
 * (BEGIN, SAVEPOINT, RELEASE, COMMIT) under its writers' mutex; this keeps
 * the members, decides when to commit, and wakes each member with the
 * group's result. Only the backends include it. */
#ifndef IDYL_STORE_GROUP_H
#define IDYL_STORE_GROUP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

#define GROUP_MAX_MEMBERS 512 /* a group commits once it holds this many writers */
#define GROUP_MAX_AGE_MS  5   /* ... or once it has been open this long */

/* One writer waiting for its group's COMMIT; lives on the writer's stack. */
struct group_member {
        struct group_member *next;
        bool done; /* the group committed (rc 0) or failed */
        int rc;
        struct idyl_err err;
};

struct store_group {
        bool open;                    /* the group's transaction is open */
        int64_t t0;                   /* when it began (monotonic ms) */
        struct group_member *members; /* writers done with their unit, not yet acknowledged */
        size_t nmembers;
        atomic_int queued;     /* writers waiting for the writers' mutex */
        pthread_mutex_t ackmu; /* guards the members' done flags */
        pthread_cond_t acked;
};

void store_group_init(struct store_group *g);
void store_group_destroy(struct store_group *g);

/* Takes the writers' mutex `mu`, counted as queued while it waits, so that
 * the writer inside knows another is about to join its group. */
void store_group_enter(struct store_group *g, pthread_mutex_t *mu);

/* The group's transaction has begun (mu held). */
void store_group_opened(struct store_group *g);

/* Whether a writer leaving mu should commit the group now: no other
 * writer is queued to join it and no sync is in flight that will (`wait`),
 * or it is full or old enough (mu held). */
bool store_group_due(const struct store_group *g, bool wait);

/* Adds a writer whose unit is released into the group (mu held). */
void store_group_join(struct store_group *g, struct group_member *me);

/* Ends the group: every member gets rc (and *err when rc < 0) and wakes
 * (mu held). */
void store_group_ack(struct store_group *g, int rc, const struct idyl_err *err);

/* Ends the group whose COMMIT has run but is not yet durable (mu held):
 * returns its members, for store_group_ack_members once it is, while the
 * next group forms. */
struct group_member *store_group_take(struct store_group *g);

/* Gives members taken from a group rc (and *err when rc < 0) and wakes
 * them (mu not needed). */
void store_group_ack_members(struct store_group *g, struct group_member *members, int rc,
                             const struct idyl_err *err);

/* Waits, once the writer has left mu, until its group is acknowledged.
 * Returns 0, or -1 with the group's error in *err (when not NULL). */
int store_group_wait(struct store_group *g, struct group_member *me, struct idyl_err *err);

/* The end of a unit of work, once the writer has left mu: `me` is NULL
 * when the unit was rolled back (err is set: returns -1); else waits for
 * its group as store_group_wait does, and on success marks the unit's
 * audit record (when not NULL) written. */
int store_group_finish(struct store_group *g, struct group_member *me,
                       struct store_audit_pending *audit, struct idyl_err *err);

#endif
