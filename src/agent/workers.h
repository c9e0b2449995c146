/* A bounded pool of worker threads for the agent's runtime operations
 * (image pulls, creates, starts, stops, removals), as kubelet's pod workers
 * and Swarm's executor work on many containers at once.
 *
 * Every job carries a key (the workload's name): jobs of one key run one at
 * a time, in the order they were submitted; jobs of different keys run in
 * parallel, at most `nworkers` at once. So one slow or hung container never
 * delays another workload, while a workload's own operations stay ordered.
 *
 * Each worker owns a context made by the pool's `open` callback (the agent
 * gives every worker its own runtime connection) and released by `close`. */
#ifndef IDYL_AGENT_WORKERS_H
#define IDYL_AGENT_WORKERS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define WORKERS_DEFAULT 8
#define WORKERS_MAX     64
#define WORKER_KEY_MAX  128

struct workers;

/* Runs one job on a worker whose context is ctx. */
typedef void (*worker_job_fn)(void *ctx, void *arg);
/* Frees a job's argument once it ran, or when the pool drops it. */
typedef void (*worker_free_fn)(void *arg);

struct workers_config {
        size_t nworkers; /* 1..WORKERS_MAX; 0: WORKERS_DEFAULT */
        /* Makes worker i's context (may be NULL when open is NULL); <0 fails the pool. */
        int (*open)(void *opaque, size_t i, void **ctx, struct idyl_err *err);
        void (*close)(void *opaque, void *ctx);
        void *opaque;
};

/* Starts the workers. On success *out is a pool the caller frees with
 * workers_free; on failure nothing is left running. */
int workers_new(const struct workers_config *cfg, struct workers **out, struct idyl_err *err);

/* Queues fn(ctx, arg) under `key` (at most WORKER_KEY_MAX - 1 bytes). The
 * pool owns arg from here on and frees it with free_fn (may be NULL).
 * Returns 0, or -1 (arg freed) when the pool is stopping or out of memory. */
int workers_submit(struct workers *w, const char *key, worker_job_fn fn, void *arg,
                   worker_free_fn free_fn);

/* True while a job of `key` is queued or running. */
bool workers_busy(struct workers *w, const char *key);
/* Jobs queued or running, in all. */
size_t workers_pending(struct workers *w);

/* Drops the queued jobs, waits for the running ones (their runtime calls
 * should be aborted by the caller's stop flag), stops the threads and closes
 * every context. NULL is allowed. */
void workers_free(struct workers *w);

#endif
