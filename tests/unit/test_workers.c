/* Proves src/agent/workers.c, the agent's pool for runtime operations: one
 * key's jobs run in order and never two at once; different keys run in
 * parallel; a job that hangs holds only its own key; queued jobs are dropped
 * and freed at shutdown; a worker that cannot open fails the pool cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/workers.h"
#include "util/clock.h"

struct probe {
        pthread_mutex_t mu;
        pthread_cond_t cond;
        int order[64];
        int norder;
        int inflight, max_inflight;
        int arrived;  /* jobs that reached the rendezvous */
        bool release; /* lets blocked jobs go */
        int freed;
        int opened, closed;
};

static struct probe P;

static void probe_reset(void)
{
        memset(&P, 0, sizeof(P));
        pthread_mutex_init(&P.mu, NULL);
        pthread_cond_init(&P.cond, NULL);
}

struct arg {
        int index;
        int rendezvous; /* wait until this many jobs arrived (0: no wait) */
        bool block;     /* wait for P.release */
};

static struct arg *new_arg(int index, int rendezvous, bool block)
{
        struct arg *a = calloc(1, sizeof(*a));
        a->index = index;
        a->rendezvous = rendezvous;
        a->block = block;
        return a;
}

static void free_arg(void *p)
{
        pthread_mutex_lock(&P.mu);
        P.freed++;
        pthread_mutex_unlock(&P.mu);
        free(p);
}

/* Waits on the probe until cond holds or 5 s pass; true when it holds. */
#define PROBE_WAIT(pred)                                                                           \
        ({                                                                                         \
                int64_t until = mono_ms() + 5000;                                                  \
                while (!(pred) && mono_ms() < until)                                               \
                        cond_wait_ms(&P.cond, &P.mu, CLOCK_REALTIME, 50);                          \
                (pred);                                                                            \
        })

static void job(void *ctx, void *p)
{
        struct arg *a = p;

        (void)ctx;
        pthread_mutex_lock(&P.mu);
        if (++P.inflight > P.max_inflight)
                P.max_inflight = P.inflight;
        P.arrived++;
        pthread_cond_broadcast(&P.cond);
        if (a->rendezvous)
                PROBE_WAIT(P.arrived >= a->rendezvous);
        if (a->block)
                PROBE_WAIT(P.release);
        P.order[P.norder++] = a->index;
        P.inflight--;
        pthread_cond_broadcast(&P.cond);
        pthread_mutex_unlock(&P.mu);
}

static struct workers *pool(size_t n)
{
        struct workers_config cfg = {.nworkers = n};
        struct idyl_err err = IDYL_ERR_INIT;
        struct workers *w = NULL;

        assert_int_equal(workers_new(&cfg, &w, &err), 0);
        assert_non_null(w);
        return w;
}

/* Waits until the pool holds n jobs, queued or running: a job that has
 * recorded itself in the probe is still running until its worker returns. */
static void wait_pending(struct workers *w, size_t n)
{
        int64_t until = mono_ms() + 5000;

        while (workers_pending(w) != n && mono_ms() < until)
                nanosleep(&(struct timespec){0, 1000000}, NULL);
        assert_int_equal(workers_pending(w), n);
}

static void wait_idle(struct workers *w)
{
        wait_pending(w, 0);
}

static void test_one_key_runs_in_order_one_at_a_time(void **state)
{
        struct workers *w;

        (void)state;
        probe_reset();
        w = pool(4);
        for (int i = 0; i < 40; i++)
                assert_int_equal(workers_submit(w, "web", job, new_arg(i, 0, false), free_arg), 0);
        wait_idle(w);
        assert_int_equal(P.norder, 40);
        for (int i = 0; i < 40; i++)
                assert_int_equal(P.order[i], i);
        assert_int_equal(P.max_inflight, 1);
        assert_int_equal(P.freed, 40);
        workers_free(w);
}

static void test_different_keys_run_in_parallel(void **state)
{
        struct workers *w;
        char key[16];

        (void)state;
        probe_reset();
        w = pool(4);
        /* each job waits until all four arrived: only parallel workers get there */
        for (int i = 0; i < 4; i++) {
                snprintf(key, sizeof(key), "w%d", i);
                assert_int_equal(workers_submit(w, key, job, new_arg(i, 4, false), free_arg), 0);
        }
        wait_idle(w);
        assert_int_equal(P.max_inflight, 4);
        assert_int_equal(P.norder, 4);
        workers_free(w);
}

static void test_a_hung_job_holds_only_its_own_key(void **state)
{
        struct workers *w;
        char key[16];

        (void)state;
        probe_reset();
        w = pool(2);
        assert_int_equal(workers_submit(w, "stuck", job, new_arg(100, 0, true), free_arg), 0);
        assert_int_equal(workers_submit(w, "stuck", job, new_arg(101, 0, false), free_arg), 0);
        for (int i = 0; i < 10; i++) {
                snprintf(key, sizeof(key), "w%d", i);
                assert_int_equal(workers_submit(w, key, job, new_arg(i, 0, false), free_arg), 0);
        }
        pthread_mutex_lock(&P.mu);
        assert_true(PROBE_WAIT(P.norder == 10));
        for (int i = 0; i < 10; i++)
                assert_int_equal(P.order[i], i);
        pthread_mutex_unlock(&P.mu);
        wait_pending(w, 2);
        assert_true(workers_busy(w, "stuck"));
        assert_false(workers_busy(w, "w3"));

        pthread_mutex_lock(&P.mu);
        P.release = true;
        pthread_cond_broadcast(&P.cond);
        pthread_mutex_unlock(&P.mu);
        wait_idle(w);
        assert_int_equal(P.order[10], 100);
        assert_int_equal(P.order[11], 101);
        assert_false(workers_busy(w, "stuck"));
        workers_free(w);
}

static void test_free_drops_queued_jobs_and_frees_them(void **state)
{
        struct workers *w;

        (void)state;
        probe_reset();
        w = pool(1);
        assert_int_equal(workers_submit(w, "a", job, new_arg(0, 0, true), free_arg), 0);
        for (int i = 1; i < 6; i++)
                assert_int_equal(workers_submit(w, "b", job, new_arg(i, 0, false), free_arg), 0);
        pthread_mutex_lock(&P.mu);
        assert_true(PROBE_WAIT(P.arrived == 1));
        P.release = true; /* the running job finishes; the five queued are dropped */
        pthread_cond_broadcast(&P.cond);
        pthread_mutex_unlock(&P.mu);
        workers_free(w);
        assert_int_equal(P.freed, 6);
        assert_true(P.norder <= 6);
}

static int open_ctx(void *opaque, size_t i, void **ctx, struct idyl_err *err)
{
        (void)opaque;
        if (i == 2)
                return idyl_err_set(err, IDYL_E_UNAVAILABLE, "worker %zu cannot connect", i);
        *ctx = malloc(8);
        P.opened++;
        return 0;
}

static void close_ctx(void *opaque, void *ctx)
{
        (void)opaque;
        P.closed++;
        free(ctx);
}

static void test_a_worker_that_cannot_open_fails_the_pool(void **state)
{
        struct workers_config cfg = {.nworkers = 4, .open = open_ctx, .close = close_ctx};
        struct idyl_err err = IDYL_ERR_INIT;
        struct workers *w = (void *)1;

        (void)state;
        probe_reset();
        assert_int_equal(workers_new(&cfg, &w, &err), -1);
        assert_null(w);
        assert_string_equal(err.msg, "worker 2 cannot connect");
        assert_int_equal(P.opened, 2);
        assert_int_equal(P.closed, 2);

        cfg.nworkers = WORKERS_MAX + 1;
        assert_int_equal(workers_new(&cfg, &w, &err), -1);
        assert_string_equal(err.msg, "invalid worker count 65: want 1 to 64");
}

static void test_submit_refuses_an_overlong_key(void **state)
{
        char key[WORKER_KEY_MAX + 1];
        struct workers *w;

        (void)state;
        probe_reset();
        w = pool(1);
        memset(key, 'k', sizeof(key) - 1);
        key[sizeof(key) - 1] = '\0';
        assert_int_equal(workers_submit(w, key, job, new_arg(0, 0, false), free_arg), -1);
        assert_int_equal(P.freed, 1);
        workers_free(w);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_one_key_runs_in_order_one_at_a_time),
            cmocka_unit_test(test_different_keys_run_in_parallel),
            cmocka_unit_test(test_a_hung_job_holds_only_its_own_key),
            cmocka_unit_test(test_free_drops_queued_jobs_and_frees_them),
            cmocka_unit_test(test_a_worker_that_cannot_open_fails_the_pool),
            cmocka_unit_test(test_submit_refuses_an_overlong_key),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
