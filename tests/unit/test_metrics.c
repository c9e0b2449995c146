/* Proves server/metrics.c: counters by route pattern and status (requests
 * that matched no route under "unmatched"), cumulative histogram buckets
 * with _sum and _count, scheduling attempts by result, the per-subnet
 * gauges read from a real SQLite store, and that a NULL set ignores what
 * it is told. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/metrics.h"
#include "server/server.h"

static char *render(struct idyl_server *srv, uint64_t subnet)
{
        struct idyl_err err = IDYL_ERR_INIT;
        char *text = NULL;

        assert_int_equal(metrics_render(srv, subnet, &text, &err), 0);
        return text;
}

static void assert_line(const char *text, const char *line)
{
        size_t len = strlen(line);

        for (const char *p = text; (p = strstr(p, line)); p++)
                if ((p == text || p[-1] == '\n') && p[len] == '\n')
                        return;
        fail_msg("no line \"%s\" in:\n%s", line, text);
}

static char dir[] = "/tmp/idyl-test-metrics-XXXXXX";

static int open_server(void **state)
{
        static struct idyl_server srv;
        struct idyl_err err = IDYL_ERR_INIT;

        memset(&srv, 0, sizeof(srv));
        srv.node_ttl = 30;
        assert_non_null(mkdtemp(dir));
        assert_int_equal(store_sqlite_open(dir, &srv.store, &err), 0);
        srv.metrics = metrics_new(server_nroutes);
        assert_non_null(srv.metrics);
        *state = &srv;
        return 0;
}

static int close_server(void **state)
{
        struct idyl_server *srv = *state;
        char cmd[128];

        metrics_free(srv->metrics);
        store_close(srv->store);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

static void test_http_counters_and_histogram(void **state)
{
        struct idyl_server *srv = *state;
        char *text;

        metrics_http_request(srv->metrics, 0, 200, 0.003);
        metrics_http_request(srv->metrics, 0, 200, 0.2);
        metrics_http_request(srv->metrics, 0, 503, 70);
        metrics_http_request(srv->metrics, -1, 404, 0.001);
        text = render(srv, 0);
        assert_line(text, "idyl_http_requests_total{route=\"/healthz\",code=\"200\"} 2");
        assert_line(text, "idyl_http_requests_total{route=\"/healthz\",code=\"503\"} 1");
        assert_line(text, "idyl_http_requests_total{route=\"unmatched\",code=\"404\"} 1");
        assert_line(text,
                    "idyl_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.005\"} 1");
        assert_line(text,
                    "idyl_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.25\"} 2");
        assert_line(text,
                    "idyl_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"60\"} 2");
        assert_line(text,
                    "idyl_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"+Inf\"} 3");
        assert_line(text, "idyl_http_request_duration_seconds_count{route=\"/healthz\"} 3");
        assert_line(text, "idyl_http_request_duration_seconds_sum{route=\"/healthz\"} 70.203");
        assert_line(text, "# TYPE idyl_http_request_duration_seconds histogram");
        free(text);
}

static void test_scheduling_attempts(void **state)
{
        struct idyl_server *srv = *state;
        char *text;

        metrics_sched_attempt(srv->metrics, SCHED_PLACED, 0.00002);
        metrics_sched_attempt(srv->metrics, SCHED_INSUFFICIENT_CAPACITY, 0.00003);
        metrics_sched_attempt(srv->metrics, SCHED_INSUFFICIENT_CAPACITY, 0.5);
        text = render(srv, 0);
        assert_line(text, "idyl_scheduling_attempts_total{result=\"placed\"} 1");
        assert_line(text, "idyl_scheduling_attempts_total{result=\"no_compatible_nodes\"} 0");
        assert_line(text, "idyl_scheduling_attempts_total{result=\"insufficient_capacity\"} 2");
        assert_line(text,
                    "idyl_scheduling_attempts_total{result=\"isolation_class_not_allowed\"} 0");
        assert_line(text, "idyl_scheduling_latency_seconds_bucket{le=\"2.5e-05\"} 1");
        assert_line(text, "idyl_scheduling_latency_seconds_bucket{le=\"1\"} 3");
        assert_line(text, "idyl_scheduling_latency_seconds_count 3");
        free(text);
}

static void test_gauges_per_subnet(void **state)
{
        struct idyl_server *srv = *state;
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_subnet a = {.region = "r"}, b = {.region = "r"};
        struct idyl_workload w = {.name = "web", .spec = "{}", .phase = PHASE_RUNNING};
        char *text, line[160];

        assert_int_equal(store_subnet_create(srv->store, &a, &err), 0);
        assert_int_equal(store_subnet_create(srv->store, &b, &err), 0);
        w.subnet = a.slug;
        assert_int_equal(store_workload_put(srv->store, &w, &err), 0);
        text = render(srv, 0);
        snprintf(line, sizeof(line), "idyl_workloads{subnet=\"%012llu\",phase=\"running\"} 1",
                 (unsigned long long)a.slug);
        assert_line(text, line);
        snprintf(line, sizeof(line), "idyl_workloads{subnet=\"%012llu\",phase=\"running\"} 0",
                 (unsigned long long)b.slug);
        assert_line(text, line);
        snprintf(line, sizeof(line), "idyl_nodes{subnet=\"%012llu\",status=\"ready\"} 0",
                 (unsigned long long)a.slug);
        assert_line(text, line);
        free(text);
        /* a subnet-scoped caller: its subnet only */
        text = render(srv, b.slug);
        snprintf(line, sizeof(line), "idyl_workloads{subnet=\"%012llu\"",
                 (unsigned long long)a.slug);
        assert_null(strstr(text, line));
        free(text);
}

static void test_null_set_ignores(void **state)
{
        (void)state;
        metrics_http_request(NULL, 0, 200, 1);
        metrics_sched_attempt(NULL, SCHED_PLACED, 1);
        metrics_free(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_http_counters_and_histogram),
            cmocka_unit_test(test_scheduling_attempts),
            cmocka_unit_test(test_gauges_per_subnet),
            cmocka_unit_test(test_null_set_ignores),
        };

        return cmocka_run_group_tests(tests, open_server, close_server);
}
