/* idyld's Prometheus metrics (server/metrics.c): counters and histograms
 * the HTTP layer and the scheduler add to as they work, and the gauges
 * GET /metrics reads from the store when it is scraped. Every function
 * accepts a NULL `struct metrics *` and then does nothing, so code run
 * without a server (unit tests, benchmarks) needs none. */
#ifndef IDYL_SERVER_METRICS_H
#define IDYL_SERVER_METRICS_H

#include "core/sched.h"
#include "util/err.h"

struct metrics;
struct idyl_server;

/* A new, zeroed set for a route table of `nroutes` entries; NULL when out
 * of memory. Free with metrics_free. */
struct metrics *metrics_new(size_t nroutes);
void metrics_free(struct metrics *m);

/* One answered request: `route` indexes server_routes (-1 when none
 * matched), `status` the HTTP status sent, `seconds` from its first byte to
 * its answer. */
void metrics_http_request(struct metrics *m, long route, int status, double seconds);

/* One scheduling attempt for a waiting workload and how long it took. */
void metrics_sched_attempt(struct metrics *m, enum sched_outcome outcome, double seconds);

/* Renders every metric in Prometheus' text format into a new string
 * (*out, the caller frees it); the workload and node gauges only for
 * `subnet` unless it is 0. */
int metrics_render(struct idyl_server *srv, uint64_t subnet, char **out, struct idyl_err *err);

#endif
