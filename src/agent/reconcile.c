/* Reconcile planning; see reconcile.h. */
#include "agent/reconcile.h"

#include <stdio.h>
#include <string.h>

int64_t rc_backoff_ms(int level)
{
        int64_t d = BACKOFF_FIRST_MS;

        while (level-- > 0 && d < BACKOFF_MAX_MS)
                d *= 2;
        return d < BACKOFF_MAX_MS ? d : BACKOFF_MAX_MS;
}

static size_t entry_of(const struct rc_entry *e, size_t ne, const struct rt_instance *inst)
{
        for (size_t i = 0; i < ne; i++)
                if (e[i].revision == inst->revision && strcmp(e[i].name, inst->workload) == 0)
                        return i;
        return ne;
}

static void want_pass_at(int64_t *next_ms, int64_t t)
{
        if (*next_ms == 0 || t < *next_ms)
                *next_ms = t;
}

/* The instance kept for each entry: a running one if any, else the first. */
static void pick_keepers(const struct rc_entry *e, size_t ne, const struct rt_instance *a,
                         size_t na, size_t *keep)
{
        for (size_t i = 0; i < ne; i++)
                keep[i] = na;
        for (size_t j = 0; j < na; j++) {
                size_t i = entry_of(e, ne, &a[j]);
                if (i == ne || e[i].refuse[0])
                        continue;
                if (keep[i] == na || (a[j].state == RT_RUNNING && a[keep[i]].state != RT_RUNNING))
                        keep[i] = j;
        }
}

/* A container that exited (first seen now): when to start it again. */
static void observe_exit(struct rc_entry *e, const struct rt_instance *inst, int64_t now_ms)
{
        int64_t delay;

        if (inst->ran_ms >= BACKOFF_RESET_MS)
                e->backoff_level = 0;
        delay = rc_backoff_ms(e->backoff_level++);
        e->retry_at_ms = now_ms + delay;
        e->phase = PHASE_EXITED;
        e->exit_code = inst->exit_code;
        snprintf(e->message, sizeof(e->message), "exited with code %d; restarting in %llds",
                 inst->exit_code, (long long)((delay + 999) / 1000));
}

size_t rc_plan(struct rc_entry *e, size_t ne, const struct rt_instance *a, size_t na,
               int64_t now_ms, struct rc_action *acts, int64_t *next_ms)
{
        size_t keep[ne + 1], n = 0;

        pick_keepers(e, ne, a, na, keep);
        for (size_t j = 0; j < na; j++) {
                size_t i = entry_of(e, ne, &a[j]);
                if (i == ne || keep[i] != j)
                        acts[n++] = (struct rc_action){.kind = RC_REMOVE, .inst = j};
        }
        for (size_t i = 0; i < ne; i++) {
                const struct rt_instance *k = keep[i] < na ? &a[keep[i]] : NULL;

                snprintf(e[i].ip, sizeof(e[i].ip), "%s", k && k->state == RT_RUNNING ? k->ip : "");
                if (e[i].refuse[0]) {
                        e[i].phase = PHASE_FAILED;
                        snprintf(e[i].message, sizeof(e[i].message), "%s", e[i].refuse);
                        continue;
                }
                if (k && k->state == RT_RUNNING) {
                        e[i].phase = PHASE_RUNNING;
                        e[i].message[0] = '\0';
                        continue;
                }
                if (k && k->state == RT_EXITED && e[i].phase != PHASE_EXITED &&
                    e[i].phase != PHASE_FAILED)
                        observe_exit(&e[i], k, now_ms);
                if (now_ms < e[i].retry_at_ms) {
                        want_pass_at(next_ms, e[i].retry_at_ms);
                        continue;
                }
                if (!k)
                        acts[n++] = (struct rc_action){.kind = RC_RUN, .entry = i};
                else
                        acts[n++] =
                            (struct rc_action){.kind = RC_RESTART, .entry = i, .inst = keep[i]};
        }
        return n;
}

void rc_started(struct rc_entry *e, bool restart)
{
        if (restart)
                e->restarts++;
        e->phase = PHASE_RUNNING;
        e->message[0] = '\0';
}

void rc_failed(struct rc_entry *e, int64_t now_ms, const char *message)
{
        e->phase = PHASE_FAILED;
        e->retry_at_ms = now_ms + rc_backoff_ms(e->backoff_level++);
        snprintf(e->message, sizeof(e->message), "%s", message);
}
