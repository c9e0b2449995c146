/* idyld's metrics in Prometheus' text exposition format (version 0.0.4):
 * request counts and durations by route pattern (never the raw URL, so a
 * scan of random paths cannot grow the label set), scheduling attempts and
 * their latency, and, read from the store at scrape time, how many
 * workloads are in each phase and nodes in each status per subnet. */
#include "server/metrics.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/subnet.h"
#include "core/workload.h"
#include "server/server.h"
#include "util/clock.h"

#define CODES_PER_ROUTE 16 /* distinct statuses counted per route; more are dropped */

static const double http_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                      1,     2.5,  5,     10,   30,  60};
static const double sched_buckets[] = {0.00001, 0.000025, 0.00005, 0.0001, 0.00025,
                                       0.0005,  0.001,    0.0025,  0.005,  0.01,
                                       0.025,   0.05,     0.1,     0.25,   1};
#define HTTP_NBUCKETS  (sizeof(http_buckets) / sizeof(http_buckets[0]))
#define SCHED_NBUCKETS (sizeof(sched_buckets) / sizeof(sched_buckets[0]))

struct histogram {
        const double *bounds; /* upper bounds, increasing; +Inf is implied */
        size_t nbounds;
        uint64_t *counts; /* nbounds + 1, not cumulative */
        double sum;
        uint64_t count;
};

struct route_stats {
        struct {
                int status;
                uint64_t count;
        } codes[CODES_PER_ROUTE];
        struct histogram duration;
};

struct metrics {
        pthread_mutex_t mu;
        size_t nroutes;
        struct route_stats *routes; /* nroutes + 1: the last one for unmatched requests */
        uint64_t sched_attempts[SCHED_NOT_ALLOWED + 1];
        struct histogram sched_latency;
};

static int histogram_init(struct histogram *h, const double *bounds, size_t n)
{
        h->bounds = bounds;
        h->nbounds = n;
        h->counts = calloc(n + 1, sizeof(*h->counts));
        return h->counts ? 0 : -1;
}

static void histogram_observe(struct histogram *h, double v)
{
        size_t i = 0;

        while (i < h->nbounds && v > h->bounds[i])
                i++;
        h->counts[i]++;
        h->sum += v;
        h->count++;
}

struct metrics *metrics_new(size_t nroutes)
{
        struct metrics *m = calloc(1, sizeof(*m));

        if (!m)
                return NULL;
        m->nroutes = nroutes;
        m->routes = calloc(nroutes + 1, sizeof(*m->routes));
        if (!m->routes || histogram_init(&m->sched_latency, sched_buckets, SCHED_NBUCKETS) < 0)
                goto fail;
        for (size_t i = 0; i <= nroutes; i++)
                if (histogram_init(&m->routes[i].duration, http_buckets, HTTP_NBUCKETS) < 0)
                        goto fail;
        pthread_mutex_init(&m->mu, NULL);
        return m;
fail:
        for (size_t i = 0; m->routes && i <= nroutes; i++)
                free(m->routes[i].duration.counts);
        free(m->routes);
        free(m->sched_latency.counts);
        free(m);
        return NULL;
}

void metrics_free(struct metrics *m)
{
        if (!m)
                return;
        for (size_t i = 0; i <= m->nroutes; i++)
                free(m->routes[i].duration.counts);
        free(m->routes);
        free(m->sched_latency.counts);
        pthread_mutex_destroy(&m->mu);
        free(m);
}

void metrics_http_request(struct metrics *m, long route, int status, double seconds)
{
        struct route_stats *rs;

        if (!m)
                return;
        rs = &m->routes[route >= 0 && (size_t)route < m->nroutes ? (size_t)route : m->nroutes];
        pthread_mutex_lock(&m->mu);
        for (size_t i = 0; i < CODES_PER_ROUTE; i++) {
                if (rs->codes[i].status != status && rs->codes[i].status != 0)
                        continue;
                rs->codes[i].status = status;
                rs->codes[i].count++;
                break;
        }
        histogram_observe(&rs->duration, seconds);
        pthread_mutex_unlock(&m->mu);
}

void metrics_sched_attempt(struct metrics *m, enum sched_outcome outcome, double seconds)
{
        if (!m || (unsigned)outcome > SCHED_NOT_ALLOWED)
                return;
        pthread_mutex_lock(&m->mu);
        m->sched_attempts[outcome]++;
        histogram_observe(&m->sched_latency, seconds);
        pthread_mutex_unlock(&m->mu);
}

/* ---- rendering ------------------------------------------------------------ */

static const char *route_label(const struct metrics *m, size_t i)
{
        return i < m->nroutes ? server_routes[i].pattern : "unmatched";
}

/* `name`_bucket/_sum/_count lines; `labels` is "" or `k="v",` with the comma. */
static void histogram_print(FILE *f, const char *name, const char *labels,
                            const struct histogram *h)
{
        uint64_t cumulative = 0;

        for (size_t i = 0; i < h->nbounds; i++) {
                cumulative += h->counts[i];
                fprintf(f, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels, h->bounds[i],
                        (unsigned long long)cumulative);
        }
        cumulative += h->counts[h->nbounds];
        fprintf(f, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels, (unsigned long long)cumulative);
        if (labels[0])
                fprintf(f, "%s_sum{%.*s} %.9g\n%s_count{%.*s} %llu\n", name,
                        (int)strlen(labels) - 1, labels, h->sum, name, (int)strlen(labels) - 1,
                        labels, (unsigned long long)h->count);
        else
                fprintf(f, "%s_sum %.9g\n%s_count %llu\n", name, h->sum, name,
                        (unsigned long long)h->count);
}

static void render_http(FILE *f, const struct metrics *m)
{
        fputs("# HELP idyl_http_requests_total API requests answered, by route pattern and "
              "status.\n# TYPE idyl_http_requests_total counter\n",
              f);
        for (size_t i = 0; i <= m->nroutes; i++)
                for (size_t c = 0; c < CODES_PER_ROUTE && m->routes[i].codes[c].status; c++)
                        fprintf(f, "idyl_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
                                route_label(m, i), m->routes[i].codes[c].status,
                                (unsigned long long)m->routes[i].codes[c].count);
        fputs("# HELP idyl_http_request_duration_seconds Time from a request's arrival to its "
              "answer (long-polls included), by route pattern.\n"
              "# TYPE idyl_http_request_duration_seconds histogram\n",
              f);
        for (size_t i = 0; i <= m->nroutes; i++) {
                char labels[160];

                if (!m->routes[i].duration.count)
                        continue;
                snprintf(labels, sizeof(labels), "route=\"%s\",", route_label(m, i));
                histogram_print(f, "idyl_http_request_duration_seconds", labels,
                                &m->routes[i].duration);
        }
}

static void render_sched(FILE *f, const struct metrics *m)
{
        fputs("# HELP idyl_scheduling_attempts_total Placement attempts for waiting workloads, "
              "by result.\n# TYPE idyl_scheduling_attempts_total counter\n",
              f);
        for (int o = 0; o <= SCHED_NOT_ALLOWED; o++)
                fprintf(f, "idyl_scheduling_attempts_total{result=\"%s\"} %llu\n",
                        sched_outcome_code((enum sched_outcome)o),
                        (unsigned long long)m->sched_attempts[o]);
        fputs("# HELP idyl_scheduling_latency_seconds Time one placement attempt took.\n"
              "# TYPE idyl_scheduling_latency_seconds histogram\n",
              f);
        histogram_print(f, "idyl_scheduling_latency_seconds", "", &m->sched_latency);
}

/* Workloads per phase and nodes per status of one subnet. */
static int render_subnet(FILE *wf, FILE *nf, struct idyl_server *srv, uint64_t slug,
                         struct idyl_err *err)
{
        size_t phases[PHASE__COUNT] = {0}, statuses[NODE_DOWN + 1] = {0}, nws = 0, nnodes = 0;
        struct idyl_workload *ws = NULL;
        struct idyl_node *nodes = NULL;
        char text[SUBNET_SLUG_BUFLEN];
        int64_t now = now_ms();

        if (store_workload_list(srv->store, slug, NULL, &ws, &nws, err) < 0)
                return -1;
        for (size_t i = 0; i < nws; i++)
                if ((unsigned)ws[i].phase < PHASE__COUNT)
                        phases[ws[i].phase]++;
        workload_list_free(ws, nws);
        if (store_node_list(srv->store, slug, &nodes, &nnodes, err) < 0)
                return -1;
        for (size_t i = 0; i < nnodes; i++)
                statuses[node_status_at(&nodes[i], now, srv->node_ttl)]++;
        free(nodes);
        subnet_slug_format(slug, text);
        for (int p = 0; p < PHASE__COUNT; p++)
                fprintf(wf, "idyl_workloads{subnet=\"%s\",phase=\"%s\"} %zu\n", text,
                        workload_phase_name((enum workload_phase)p), phases[p]);
        for (int s = 0; s <= NODE_DOWN; s++)
                fprintf(nf, "idyl_nodes{subnet=\"%s\",status=\"%s\"} %zu\n", text,
                        node_status_name((enum node_status)s), statuses[s]);
        return 0;
}

/* The gauges, read from the store: two families, each in one block. */
static int render_gauges(FILE *f, struct idyl_server *srv, uint64_t only, struct idyl_err *err)
{
        struct idyl_subnet *subnets = NULL;
        char *wtext = NULL, *ntext = NULL;
        size_t n = 0, wlen = 0, nlen = 0;
        FILE *wf = NULL, *nf = NULL;
        int rc = -1;

        if (store_subnet_list(srv->store, &subnets, &n, err) < 0)
                return -1;
        wf = open_memstream(&wtext, &wlen);
        nf = open_memstream(&ntext, &nlen);
        if (!wf || !nf) {
                idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < n; i++)
                if ((!only || subnets[i].slug == only) &&
                    render_subnet(wf, nf, srv, subnets[i].slug, err) < 0)
                        goto out;
        rc = 0;
out:
        if (wf)
                fclose(wf);
        if (nf)
                fclose(nf);
        if (rc == 0)
                fprintf(f,
                        "# HELP idyl_workloads Workloads by subnet and phase.\n"
                        "# TYPE idyl_workloads gauge\n%s"
                        "# HELP idyl_nodes Nodes by subnet and status.\n"
                        "# TYPE idyl_nodes gauge\n%s",
                        wtext ? wtext : "", ntext ? ntext : "");
        free(wtext);
        free(ntext);
        free(subnets);
        return rc;
}

int metrics_render(struct idyl_server *srv, uint64_t subnet, char **out, struct idyl_err *err)
{
        struct metrics *m = srv->metrics;
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);

        if (!f)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        if (render_gauges(f, srv, subnet, err) < 0) {
                fclose(f);
                free(text);
                return -1;
        }
        if (m) {
                pthread_mutex_lock(&m->mu);
                render_sched(f, m);
                render_http(f, m);
                pthread_mutex_unlock(&m->mu);
        }
        fclose(f);
        *out = text;
        return 0;
}

int handle_metrics(struct request *req, struct response *resp, struct idyl_err *err)
{
        char *text = NULL;

        if (metrics_render(req->srv, req->caller.subnet, &text, err) < 0)
                return -1;
        resp->text = text;
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        return 0;
}
