/* End-to-end benchmark driver: deploys workloads through idyld's real API
 * with libcurl multi (a fixed number of deploys in flight), then watches the
 * subnets' workload lists until every one of them runs on a node (hollow
 * nodes from idyl-sim report a placement as running at once). It prints:
 *   deploys per second and the deploy latency percentiles (request sent to
 *   201 received);
 *   admitted to running per second: workloads / (time from the first
 *   deploy's 201 to the moment the last workload was observed running).
 * It prints figures; it asserts nothing about timings. bench/e2e.sh sets up
 * idyld and the nodes and runs it.
 *   usage: e2e-bench [--workloads N] [--concurrency C] [--poll-ms MS]
 *                    [--timeout S] SUBNET:CLASS:WEIGHT...
 * Workloads are spread over the targets in proportion to their weights; the
 * address and credential come from IDYL_ADDR and IDYL_TOKEN. */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/buf.h"

#define TARGETS_MAX  32
#define RESPONSE_MAX (256u * 1024 * 1024)

struct target {
        char subnet[16];
        char cls[16]; /* container | microvm */
        unsigned weight;
};

/* One subnet whose workload list is polled. */
struct watch {
        char subnet[16];
        CURL *easy; /* non-NULL while a poll is in flight */
        struct idyl_buf resp;
        size_t running;
};

/* A deploy in flight. */
struct deploy {
        CURL *easy;
        size_t index;
        double start;
        char *body;
        struct idyl_buf resp;
};

struct bench {
        const char *addr;
        struct curl_slist *headers;
        struct target targets[TARGETS_MAX];
        size_t ntargets;
        unsigned weight_total;
        struct watch watches[TARGETS_MAX];
        size_t nwatches;
        size_t workloads, concurrency;
        long poll_ms, timeout_s;
        CURLM *multi;
        size_t started, done, inflight;
        double *latency; /* seconds, per finished deploy */
        double t0, first_201, deploys_done, all_running, next_poll;
};

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, const char *what)
{
        fprintf(stderr, "e2e-bench: error: ");
        fprintf(stderr, fmt, what);
        fputc('\n', stderr);
        exit(1);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
        return idyl_buf_append(userdata, data, size * nmemb) < 0 ? 0 : size * nmemb;
}

static CURL *request(struct bench *b, const char *path, const char *body, struct idyl_buf *resp,
                     void *priv)
{
        char url[1024];
        CURL *easy = curl_easy_init();

        if (!easy)
                die("%s", "curl_easy_init failed");
        if (snprintf(url, sizeof(url), "%s%s", b->addr, path) >= (int)sizeof(url))
                die("address too long: %s", b->addr);
        curl_easy_setopt(easy, CURLOPT_URL, url);
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, b->headers);
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, resp);
        curl_easy_setopt(easy, CURLOPT_PRIVATE, priv);
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(easy, CURLOPT_TIMEOUT, 60L);
        if (body)
                curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
        curl_multi_add_handle(b->multi, easy);
        return easy;
}

/* ---- deploys ---------------------------------------------------------------- */

/* Workload i goes to the target its slot in the weight cycle falls in. */
static const struct target *target_of(const struct bench *b, size_t i)
{
        unsigned slot = (unsigned)(i % b->weight_total);

        for (size_t t = 0; t < b->ntargets; t++) {
                if (slot < b->targets[t].weight)
                        return &b->targets[t];
                slot -= b->targets[t].weight;
        }
        return &b->targets[0];
}

static void deploy_start(struct bench *b)
{
        const struct target *t = target_of(b, b->started);
        struct deploy *d = calloc(1, sizeof(*d));
        char path[128], name[32];
        json_t *body;

        if (!d)
                die("%s", "out of memory");
        d->index = b->started++;
        d->resp.max = RESPONSE_MAX;
        snprintf(name, sizeof(name), "bench-%06zu", d->index);
        snprintf(path, sizeof(path), "/v1/subnets/%s/workloads", t->subnet);
        body = json_pack("{s:s,s:{s:s,s:{s:s},s:{s:s,s:s}}}", "name", name, "spec", "image",
                         "bench/noop:1", "isolation", "class", t->cls, "resources", "cpu", "100m",
                         "memory", "64Mi");
        d->body = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        d->start = now_s();
        d->easy = request(b, path, d->body, &d->resp, d);
        b->inflight++;
}

static void deploy_finished(struct bench *b, struct deploy *d, CURLcode result)
{
        double end = now_s();
        long status = 0;

        curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &status);
        if (result != CURLE_OK)
                die("deploy: %s", curl_easy_strerror(result));
        if (status != 201) {
                fprintf(stderr, "e2e-bench: error: deploy bench-%06zu: HTTP %ld: %s\n", d->index,
                        status, d->resp.data ? d->resp.data : "");
                exit(1);
        }
        if (b->done == 0)
                b->first_201 = end;
        b->latency[b->done++] = end - d->start;
        b->inflight--;
        if (b->done == b->workloads)
                b->deploys_done = end;
        curl_multi_remove_handle(b->multi, d->easy);
        curl_easy_cleanup(d->easy);
        free(d->body);
        idyl_buf_release(&d->resp);
        free(d);
}

/* ---- watching for running --------------------------------------------------- */

static size_t count_running(const struct idyl_buf *resp)
{
        json_t *list = resp->len ? json_loadb(resp->data, resp->len, 0, NULL) : NULL, *w;
        size_t i, n = 0;

        json_array_foreach(list, i, w)
        {
                const char *name = json_string_value(json_object_get(w, "name"));
                const char *phase =
                    json_string_value(json_object_get(json_object_get(w, "status"), "phase"));

                if (name && phase && strncmp(name, "bench-", 6) == 0 &&
                    strcmp(phase, "running") == 0)
                        n++;
        }
        json_decref(list);
        return n;
}

static void polls_start(struct bench *b)
{
        for (size_t i = 0; i < b->nwatches; i++) {
                struct watch *w = &b->watches[i];
                char path[128];

                if (w->easy)
                        continue;
                snprintf(path, sizeof(path), "/v1/subnets/%s/workloads", w->subnet);
                w->resp.max = RESPONSE_MAX;
                w->easy = request(b, path, NULL, &w->resp, w);
        }
        b->next_poll = now_s() + (double)b->poll_ms / 1000.0;
}

static size_t total_running(const struct bench *b)
{
        size_t n = 0;

        for (size_t i = 0; i < b->nwatches; i++)
                n += b->watches[i].running;
        return n;
}

static void poll_finished(struct bench *b, struct watch *w, CURLcode result)
{
        long status = 0;

        curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &status);
        if (result != CURLE_OK || status != 200)
                die("list workloads of subnet %s failed", w->subnet);
        w->running = count_running(&w->resp);
        curl_multi_remove_handle(b->multi, w->easy);
        curl_easy_cleanup(w->easy);
        w->easy = NULL;
        idyl_buf_release(&w->resp);
        if (!b->all_running && total_running(b) == b->workloads)
                b->all_running = now_s();
}

static bool is_watch(const struct bench *b, const void *priv)
{
        return priv >= (const void *)b->watches && priv < (const void *)(b->watches + b->nwatches);
}

/* ---- the loop ------------------------------------------------------------------ */

static void drain(struct bench *b)
{
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(b->multi, &left))) {
                void *priv = NULL;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&priv);
                if (is_watch(b, priv))
                        poll_finished(b, priv, msg->data.result);
                else
                        deploy_finished(b, priv, msg->data.result);
        }
}

static void run(struct bench *b)
{
        int running;

        b->t0 = now_s();
        while (!b->all_running) {
                while (b->started < b->workloads && b->inflight < b->concurrency)
                        deploy_start(b);
                /* watch once every deploy is answered, so polls do not slow deploys */
                if (b->done == b->workloads && now_s() >= b->next_poll)
                        polls_start(b);
                curl_multi_perform(b->multi, &running);
                drain(b);
                if (now_s() - b->t0 > (double)b->timeout_s) {
                        fprintf(stderr,
                                "e2e-bench: error: %zu of %zu workloads deployed, %zu running "
                                "after %ld s\n",
                                b->done, b->workloads, total_running(b), b->timeout_s);
                        exit(1);
                }
                curl_multi_poll(b->multi, NULL, 0, 5, NULL);
        }
}

/* ---- figures ------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

static double pct(const double *sorted, size_t n, double q)
{
        return sorted[(size_t)(q * (double)(n - 1) + 0.5)] * 1000.0;
}

static void report(struct bench *b)
{
        double deploy_s = b->deploys_done - b->t0, run_s = b->all_running - b->first_201;
        size_t n = b->workloads;

        qsort(b->latency, n, sizeof(*b->latency), cmp_double);
        printf("workloads:           %zu in %zu subnets, %zu deploys in flight\n", n, b->nwatches,
               b->concurrency);
        printf("deploys:             %zu in %.2f s = %.0f deploys/s\n", n, deploy_s,
               (double)n / deploy_s);
        printf("deploy latency (ms): p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n",
               pct(b->latency, n, 0.50), pct(b->latency, n, 0.90), pct(b->latency, n, 0.99),
               b->latency[n - 1] * 1000.0);
        printf("admitted to running: %zu in %.2f s = %.0f workloads/s "
               "(first 201 to last observed running)\n",
               n, run_s, (double)n / run_s);
}

/* ---- arguments ----------------------------------------------------------------- */

static void add_target(struct bench *b, const char *arg)
{
        struct target *t = &b->targets[b->ntargets];
        char cls[16] = "";
        unsigned weight = 0;
        size_t i;

        if (b->ntargets == TARGETS_MAX)
                die("too many targets (at most %s)", "32");
        if (sscanf(arg, "%15[0-9]:%15[a-z]:%u", t->subnet, cls, &weight) != 3 || weight == 0 ||
            (strcmp(cls, "container") != 0 && strcmp(cls, "microvm") != 0))
                die("invalid target \"%s\": want SUBNET:container|microvm:WEIGHT", arg);
        snprintf(t->cls, sizeof(t->cls), "%s", cls);
        t->weight = weight;
        b->weight_total += weight;
        b->ntargets++;
        for (i = 0; i < b->nwatches && strcmp(b->watches[i].subnet, t->subnet) != 0; i++)
                ;
        if (i == b->nwatches)
                memcpy(b->watches[b->nwatches++].subnet, t->subnet, sizeof(t->subnet));
}

static long number(const char *s, const char *what)
{
        char *end;
        long v = strtol(s, &end, 10);

        if (!*s || *end || v <= 0)
                die("invalid %s: want a whole number > 0", what);
        return v;
}

static void parse(struct bench *b, int argc, char **argv)
{
        static const struct option opts[] = {{"workloads", required_argument, NULL, 'w'},
                                             {"concurrency", required_argument, NULL, 'c'},
                                             {"poll-ms", required_argument, NULL, 'p'},
                                             {"timeout", required_argument, NULL, 't'},
                                             {NULL, 0, NULL, 0}};
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (c == 'w')
                        b->workloads = (size_t)number(optarg, "--workloads");
                else if (c == 'c')
                        b->concurrency = (size_t)number(optarg, "--concurrency");
                else if (c == 'p')
                        b->poll_ms = number(optarg, "--poll-ms");
                else if (c == 't')
                        b->timeout_s = number(optarg, "--timeout");
                else
                        die("%s", "usage: e2e-bench [--workloads N] [--concurrency C] "
                                  "[--poll-ms MS] [--timeout S] SUBNET:CLASS:WEIGHT...");
        }
        for (int i = optind; i < argc; i++)
                add_target(b, argv[i]);
        if (b->ntargets == 0)
                die("%s", "no targets: give SUBNET:container|microvm:WEIGHT...");
}

int main(int argc, char **argv)
{
        struct bench b = {.workloads = 5000, .concurrency = 32, .poll_ms = 100, .timeout_s = 600};
        const char *token = getenv("IDYL_TOKEN");
        char auth[512];

        parse(&b, argc, argv);
        b.addr = getenv("IDYL_ADDR");
        if (!b.addr || !*b.addr || !token || !*token)
                die("%s", "set IDYL_ADDR and IDYL_TOKEN (an author or operator credential)");
        if (snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token) >= (int)sizeof(auth))
                die("%s", "IDYL_TOKEN too long");
        curl_global_init(CURL_GLOBAL_DEFAULT);
        b.headers = curl_slist_append(NULL, auth);
        b.headers = curl_slist_append(b.headers, "Content-Type: application/json");
        b.latency = calloc(b.workloads, sizeof(*b.latency));
        b.multi = curl_multi_init();
        if (!b.latency || !b.multi || !b.headers)
                die("%s", "out of memory");
        run(&b);
        report(&b);
        curl_multi_cleanup(b.multi);
        curl_slist_free_all(b.headers);
        free(b.latency);
        curl_global_cleanup();
        return 0;
}
