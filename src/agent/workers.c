/* The agent's worker pool (workers.h): one FIFO of jobs and N threads that
 * each take the oldest job whose key no other thread is running. The queue
 * is short (one entry per workload with work to do), so a scan is cheaper
 * than an index. */
#include "agent/workers.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct job {
        struct job *next;
        char key[WORKER_KEY_MAX];
        worker_job_fn fn;
        void *arg;
        worker_free_fn free_fn;
};

struct worker {
        struct workers *pool;
        pthread_t thread;
        bool started;
        void *ctx;
        char running[WORKER_KEY_MAX]; /* the key it runs now, "" when idle */
};

struct workers {
        struct workers_config cfg;
        pthread_mutex_t mu;
        pthread_cond_t cond;
        bool stop;
        struct job *head, **tail; /* queued, oldest first */
        size_t queued, running;
        struct worker *w; /* cfg.nworkers of them */
};

static void job_free(struct job *j)
{
        if (j->free_fn)
                j->free_fn(j->arg);
        free(j);
}

/* Called with mu held: true when some worker runs `key`. */
static bool key_running(const struct workers *p, const char *key)
{
        for (size_t i = 0; i < p->cfg.nworkers; i++)
                if (p->w[i].running[0] && strcmp(p->w[i].running, key) == 0)
                        return true;
        return false;
}

/* Called with mu held: unlinks and returns the oldest runnable job, or NULL. */
static struct job *take_runnable(struct workers *p)
{
        struct job **link = &p->head;

        for (struct job *j = p->head; j; link = &j->next, j = j->next) {
                if (key_running(p, j->key))
                        continue;
                *link = j->next;
                if (p->tail == &j->next)
                        p->tail = link;
                p->queued--;
                return j;
        }
        return NULL;
}

static void *worker_main(void *arg)
{
        struct worker *me = arg;
        struct workers *p = me->pool;

        pthread_mutex_lock(&p->mu);
        while (!p->stop) {
                struct job *j = take_runnable(p);

                if (!j) {
                        pthread_cond_wait(&p->cond, &p->mu);
                        continue;
                }
                memcpy(me->running, j->key, sizeof(me->running));
                p->running++;
                pthread_mutex_unlock(&p->mu);
                j->fn(me->ctx, j->arg);
                job_free(j);
                pthread_mutex_lock(&p->mu);
                me->running[0] = '\0';
                p->running--;
                /* its key may now be runnable for another worker */
                pthread_cond_broadcast(&p->cond);
        }
        pthread_mutex_unlock(&p->mu);
        return NULL;
}

int workers_new(const struct workers_config *cfg, struct workers **out, struct idyl_err *err)
{
        struct workers *p = calloc(1, sizeof(*p));
        size_t n = cfg->nworkers ? cfg->nworkers : WORKERS_DEFAULT;
        int rc;

        *out = NULL;
        if (n > WORKERS_MAX) {
                free(p);
                return idyl_err_set(err, IDYL_E_INVALID, "invalid worker count %zu: want 1 to %d",
                                    n, WORKERS_MAX);
        }
        if (!p || !(p->w = calloc(n, sizeof(*p->w)))) {
                free(p);
                return idyl_err_errno(err, ENOMEM, "allocate %zu workers", n);
        }
        p->cfg = *cfg;
        p->cfg.nworkers = n;
        p->tail = &p->head;
        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->cond, NULL);
        for (size_t i = 0; i < n; i++) {
                p->w[i].pool = p;
                if (cfg->open && cfg->open(cfg->opaque, i, &p->w[i].ctx, err) < 0)
                        goto fail;
                rc = pthread_create(&p->w[i].thread, NULL, worker_main, &p->w[i]);
                if (rc != 0) {
                        idyl_err_errno(err, rc, "start worker thread %zu", i);
                        if (cfg->close)
                                cfg->close(cfg->opaque, p->w[i].ctx);
                        p->w[i].ctx = NULL;
                        goto fail;
                }
                p->w[i].started = true;
        }
        *out = p;
        return 0;
fail:
        workers_free(p);
        return -1;
}

int workers_submit(struct workers *p, const char *key, worker_job_fn fn, void *arg,
                   worker_free_fn free_fn)
{
        struct job *j = calloc(1, sizeof(*j));
        size_t len = strlen(key);

        if (!j || len >= sizeof(j->key)) {
                free(j);
                if (free_fn)
                        free_fn(arg);
                return -1;
        }
        memcpy(j->key, key, len + 1);
        j->fn = fn;
        j->arg = arg;
        j->free_fn = free_fn;
        pthread_mutex_lock(&p->mu);
        if (p->stop) {
                pthread_mutex_unlock(&p->mu);
                job_free(j);
                return -1;
        }
        *p->tail = j;
        p->tail = &j->next;
        p->queued++;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->mu);
        return 0;
}

bool workers_busy(struct workers *p, const char *key)
{
        bool busy;

        pthread_mutex_lock(&p->mu);
        busy = key_running(p, key);
        for (const struct job *j = p->head; j && !busy; j = j->next)
                busy = strcmp(j->key, key) == 0;
        pthread_mutex_unlock(&p->mu);
        return busy;
}

size_t workers_pending(struct workers *p)
{
        size_t n;

        pthread_mutex_lock(&p->mu);
        n = p->queued + p->running;
        pthread_mutex_unlock(&p->mu);
        return n;
}

void workers_free(struct workers *p)
{
        struct job *j;

        if (!p)
                return;
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        j = p->head;
        p->head = NULL;
        p->tail = &p->head;
        p->queued = 0;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->mu);
        while (j) {
                struct job *next = j->next;
                job_free(j);
                j = next;
        }
        for (size_t i = 0; i < p->cfg.nworkers; i++) {
                if (p->w[i].started)
                        pthread_join(p->w[i].thread, NULL);
                if (p->cfg.close && (p->w[i].started || p->w[i].ctx))
                        p->cfg.close(p->cfg.opaque, p->w[i].ctx);
        }
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->mu);
        free(p->w);
        free(p);
}
