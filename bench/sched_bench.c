/* Scheduler benchmark: placements per second on 10,000 nodes across 100
 * subnets of mixed runtime profiles. It prints two figures:
 *   decision  core/sched.c alone, in memory (filters + score per workload);
 *   pass      scheduler_run_subnet end to end on a real SQLite store: load
 *             the subnet, decide, and durably write every placement.
 * It prints figures; it asserts nothing about timings.
 *   usage: sched-bench [SUBNETS [NODES_PER_SUBNET [WORKLOADS_PER_SUBNET]]]
 * With `fill DIR SUBNETS NODES_PER_SUBNET WORKLOADS_PER_SUBNET` it only
 * writes such a store into DIR (SQLite, as idyld keeps it), every workload
 * running on one of its subnet's nodes, for bench/rss.sh to start idyld on. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/sched.h"
#include "server/server.h"

static const enum runtime_profile profiles[] = {PROFILE_DOCKER, PROFILE_CONTAINERD_RUNC,
                                                PROFILE_CONTAINERD_KATA_QEMU,
                                                PROFILE_CONTAINERD_KATA_FIRECRACKER};

static double seconds(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const struct idyl_err *err)
{
        fprintf(stderr, "sched-bench: %s: %s\n", what, err->msg);
        exit(1);
}

static void fill_node(struct idyl_node *n, uint64_t slug, size_t i)
{
        const struct profile_preset *pp = profile_preset(profiles[i % 4]);

        memset(n, 0, sizeof(*n));
        n->subnet = slug;
        snprintf(n->name, sizeof(n->name), "node-%05zu", i);
        n->admission = NODE_ADMITTED;
        n->simulated = true;
        n->profile = profiles[i % 4];
        snprintf(n->provider, sizeof(n->provider), "%s", pp->provider);
        snprintf(n->handler, sizeof(n->handler), "%s", pp->handler);
        n->isolation = pp->isolation;
        n->backend = pp->backend;
        n->runtime_ready = true;
        snprintf(n->platform, sizeof(n->platform), "%s",
                 i % 8 == 7 ? "linux/arm64" : "linux/amd64");
        n->cpu_milli = 16000;
        n->memory_bytes = 64LL << 30;
        n->gpus = i % 10 == 0 ? 4 : 0;
        n->last_heartbeat = now_ms();
}

/* In-memory decisions: every workload against all nodes of its subnet. */
static void bench_decision(size_t nsubnets, size_t nodes_per, size_t ws_per)
{
        struct sched_node *view = calloc(nodes_per, sizeof(*view));
        struct runtime_policy policy = {0};
        size_t placed = 0, total = 0;
        double t0, dt;

        for (size_t i = 0; i < nodes_per; i++) {
                struct idyl_node n;
                fill_node(&n, 1, i);
                view[i] = (struct sched_node){.admitted = true,
                                              .healthy = true,
                                              .runtime_ready = true,
                                              .isolation = n.isolation,
                                              .backend = n.backend,
                                              .platform = "linux/amd64",
                                              .cpu_milli = n.cpu_milli,
                                              .memory_bytes = n.memory_bytes,
                                              .gpus = n.gpus};
        }
        t0 = seconds();
        for (size_t s = 0; s < nsubnets; s++) {
                for (size_t i = 0; i < nodes_per; i++)
                        view[i].used_cpu_milli = view[i].used_memory_bytes = view[i].used_gpus = 0;
                for (size_t w = 0; w < ws_per; w++) {
                        struct sched_request req = {.isolation = w % 2 ? ISOLATION_MICROVM
                                                                       : ISOLATION_CONTAINER,
                                                    .platform = w % 5 == 0 ? "linux/amd64" : "",
                                                    .cpu_milli = 500,
                                                    .memory_bytes = 256LL << 20,
                                                    .gpus = w % 50 == 0 ? 1 : 0};
                        struct sched_result res;

                        sched_place(&req, &policy, view, nodes_per, &res);
                        total++;
                        if (res.outcome == SCHED_PLACED) {
                                sched_account(&view[res.node], &req, 1);
                                placed++;
                        }
                }
        }
        dt = seconds() - t0;
        printf("decision: %zu workloads (%zu placed) over %zu subnets x %zu nodes in %.3f s = "
               "%.0f placements/s\n",
               total, placed, nsubnets, nodes_per, dt, (double)total / dt);
        free(view);
}

/* Writes the subnets, nodes and workloads: pending ones, or, `placed`,
 * each running on node w % nodes_per of its subnet with a spec of the size
 * a small deploy makes. One transaction per 10,000 workloads. */
static void seed_store(struct idyl_server *srv, uint64_t *slugs, size_t nsubnets, size_t nodes_per,
                       size_t ws_per, bool placed)
{
        static const char spec[] =
            "{\"image\":\"registry.example/team/web:1.27\",\"command\":[\"sh\",\"-c\","
            "\"exec httpd -f -p 8080\"],\"env\":{\"MODE\":\"production\"},\"resources\":{"
            "\"cpu\":\"500m\",\"memory\":\"256Mi\"},\"isolation\":{\"class\":\"container\"}}";
        struct idyl_err err = IDYL_ERR_INIT;

        for (size_t s = 0; s < nsubnets; s++) {
                struct idyl_subnet sn = {0};

                snprintf(sn.region, sizeof(sn.region), "bench");
                if (store_tx_begin(srv->store, &err) < 0 ||
                    store_subnet_create(srv->store, &sn, &err) < 0)
                        die("seed subnet", &err);
                slugs[s] = sn.slug;
                for (size_t i = 0; i < nodes_per; i++) {
                        struct idyl_node n;
                        fill_node(&n, sn.slug, s * nodes_per + i);
                        if (store_node_put(srv->store, &n, &err) < 0)
                                die("seed node", &err);
                }
                for (size_t w = 0; w < ws_per; w++) {
                        struct idyl_workload wl = {.subnet = sn.slug,
                                                   .revision = 1,
                                                   .spec = "{\"image\":\"busybox\"}",
                                                   .phase = PHASE_PENDING,
                                                   .isolation = w % 2 ? ISOLATION_MICROVM
                                                                      : ISOLATION_CONTAINER,
                                                   .cpu_milli = 500,
                                                   .memory_bytes = 256LL << 20,
                                                   .gpus = w % 50 == 0 ? 1 : 0};
                        snprintf(wl.name, sizeof(wl.name), "w-%07zu", w);
                        if (placed) {
                                size_t node = s * nodes_per + w % nodes_per;

                                wl.spec = (char *)spec;
                                wl.phase = PHASE_RUNNING;
                                wl.isolation = profile_preset(profiles[node % 4])->isolation;
                                wl.gpus = 0;
                                snprintf(wl.node, sizeof(wl.node), "node-%05zu", node);
                                wl.created_at = wl.updated_at = (int64_t)time(NULL);
                        }
                        if (store_workload_put(srv->store, &wl, &err) < 0)
                                die("seed workload", &err);
                        if (w % 10000 == 9999 && (store_tx_commit(srv->store, &err) < 0 ||
                                                  store_tx_begin(srv->store, &err) < 0))
                                die("seed commit", &err);
                }
                if (store_tx_commit(srv->store, &err) < 0)
                        die("seed commit", &err);
        }
}

/* Full passes: SQLite load, decide, durable writes, one transaction per subnet. */
static void bench_pass(size_t nsubnets, size_t nodes_per, size_t ws_per)
{
        char dir[] = "/tmp/idyl-sched-bench-XXXXXX";
        struct idyl_server srv = {.node_ttl = 3600};
        struct idyl_err err = IDYL_ERR_INIT;
        uint64_t *slugs = calloc(nsubnets, sizeof(*slugs));
        struct idyl_workload *ws = NULL;
        size_t nws = 0, scheduled = 0;
        double t0, dt;
        char cmd[128];

        if (!mkdtemp(dir) || store_sqlite_open(dir, &srv.store, &err) < 0)
                die("open store", &err);
        seed_store(&srv, slugs, nsubnets, nodes_per, ws_per, false);
        t0 = seconds();
        for (size_t s = 0; s < nsubnets; s++)
                if (scheduler_run_subnet(&srv, slugs[s], &err) < 0)
                        die("pass", &err);
        dt = seconds() - t0;
        if (store_workload_list(srv.store, 0, NULL, &ws, &nws, &err) < 0)
                die("list", &err);
        for (size_t i = 0; i < nws; i++)
                scheduled += ws[i].phase == PHASE_SCHEDULED;
        workload_list_free(ws, nws);
        printf("pass:     %zu workloads (%zu placed) over %zu subnets x %zu nodes in %.3f s = "
               "%.0f placements/s (SQLite, durable)\n",
               nws, scheduled, nsubnets, nodes_per, dt, (double)scheduled / dt);
        store_close(srv.store);
        free(slugs);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
                fprintf(stderr, "sched-bench: could not remove %s\n", dir);
}

/* sched-bench fill DIR SUBNETS NODES_PER_SUBNET WORKLOADS_PER_SUBNET */
static int fill_main(int argc, char **argv)
{
        struct idyl_server srv = {.node_ttl = 3600};
        struct idyl_err err = IDYL_ERR_INIT;
        size_t nsubnets, nodes_per, ws_per;
        uint64_t *slugs;

        if (argc != 6 || !(nsubnets = strtoul(argv[3], NULL, 10)) ||
            !(nodes_per = strtoul(argv[4], NULL, 10))) {
                fprintf(stderr, "usage: sched-bench fill DIR SUBNETS NODES_PER_SUBNET "
                                "WORKLOADS_PER_SUBNET\n");
                return 2;
        }
        ws_per = strtoul(argv[5], NULL, 10);
        slugs = calloc(nsubnets, sizeof(*slugs));
        if (!slugs || store_sqlite_open(argv[2], &srv.store, &err) < 0)
                die("open store", &err);
        seed_store(&srv, slugs, nsubnets, nodes_per, ws_per, true);
        store_close(srv.store);
        free(slugs);
        return 0;
}

int main(int argc, char **argv)
{
        size_t nsubnets = argc > 1 ? strtoul(argv[1], NULL, 10) : 100;
        size_t nodes_per = argc > 2 ? strtoul(argv[2], NULL, 10) : 100;
        size_t ws_per = argc > 3 ? strtoul(argv[3], NULL, 10) : 100;

        if (argc > 1 && strcmp(argv[1], "fill") == 0)
                return fill_main(argc, argv);
        if (!nsubnets || !nodes_per) {
                fprintf(stderr, "usage: sched-bench [SUBNETS [NODES_PER_SUBNET [WORKLOADS]]]\n");
                return 2;
        }
        printf("sched-bench: %zu subnets x %zu nodes (docker, containerd-runc, kata-qemu, "
               "kata-firecracker), %zu workloads per subnet (half microvm)\n",
               nsubnets, nodes_per, ws_per);
        bench_decision(nsubnets, nodes_per, ws_per);
        bench_pass(nsubnets, nodes_per, ws_per);
        return 0;
}
