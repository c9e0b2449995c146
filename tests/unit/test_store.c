/* The store conformance suite: every backend behind store.h passes these
 * cases. store_conformance_run(url) runs them against the store that
 * store_open(url) opens, which must be empty; main runs them on SQLite in a
 * temporary directory, and on $IDYL_TEST_STORE_URL too when it is set (a
 * postgres:// URL of an empty database). Each case uses its own subnets, so
 * cases do not depend on each other beyond the first slug. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>
#include <libpq-fe.h>

#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "store/store.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define MiB      (1024LL * 1024)

struct fixture {
        const char *url;
        struct idyl_store *st;
};

static const char *suite_url;

static int open_store(void **state)
{
        struct idyl_err err = IDYL_ERR_INIT;
        struct fixture *fx = calloc(1, sizeof(*fx));

        if (!fx)
                return -1;
        fx->url = suite_url;
        if (store_open(fx->url, &fx->st, &err) < 0) {
                fprintf(stderr, "store_open %s: %s\n", fx->url, err.msg);
                free(fx);
                return -1;
        }
        *state = fx;
        return 0;
}

static int close_store(void **state)
{
        struct fixture *fx = *state;

        store_close(fx->st);
        free(fx);
        return 0;
}

static struct idyl_store *store_of(void **state)
{
        return ((struct fixture *)*state)->st;
}

/* Asserts a call succeeded, showing the store's message when not. */
#define assert_ok(call)                                                                            \
        do {                                                                                       \
                struct idyl_err *e_ = &err;                                                        \
                int rc_ = (call);                                                                  \
                if (rc_ != 0)                                                                      \
                        fail_msg("%s: %s", #call, e_->msg);                                        \
        } while (0)

static void assert_not_found(int rc, const struct idyl_err *err, const char *msg)
{
        assert_int_equal(rc, -1);
        assert_int_equal(err->code, IDYL_E_NOT_FOUND);
        assert_string_equal(err->msg, msg);
}

static uint64_t new_subnet(struct idyl_store *st, const char *region)
{
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_subnet sn = {0};

        snprintf(sn.region, sizeof(sn.region), "%s", region);
        assert_ok(store_subnet_create(st, &sn, &err));
        assert_true(sn.slug >= SUBNET_SLUG_FIRST);
        return sn.slug;
}

static void assert_subnet_equal(const struct idyl_subnet *a, const struct idyl_subnet *b)
{
        assert_true(a->slug == b->slug);
        assert_string_equal(a->region, b->region);
        assert_int_equal(a->policy.set, b->policy.set);
        assert_int_equal(a->policy.allowed_classes, b->policy.allowed_classes);
        assert_int_equal(a->policy.default_class, b->policy.default_class);
        assert_int_equal(a->policy.allowed_backends, b->policy.allowed_backends);
        assert_int_equal(a->deploy_approval, b->deploy_approval);
        assert_int_equal(a->created_at, b->created_at);
}

/* ---- subnets ------------------------------------------------------------ */

/* Runs first, on the empty store. */
static void test_subnet_slugs_start_at_first(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_subnet a = {0}, b = {0}, got;
        int64_t before = (int64_t)time(NULL);
        char slug[SUBNET_SLUG_BUFLEN];

        snprintf(a.region, sizeof(a.region), "us-east");
        assert_ok(store_subnet_create(st, &a, &err));
        assert_true(a.slug == SUBNET_SLUG_FIRST);
        assert_string_equal(subnet_slug_format(a.slug, slug), "100000000001");
        assert_true(a.created_at >= before && a.created_at <= (int64_t)time(NULL));
        snprintf(b.region, sizeof(b.region), "eu-west");
        assert_ok(store_subnet_create(st, &b, &err));
        assert_true(b.slug == SUBNET_SLUG_FIRST + 1);

        assert_ok(store_subnet_get(st, a.slug, &got, &err));
        assert_subnet_equal(&got, &a);
        assert_false(got.policy.set);
}

static void test_subnet_round_trip_policy(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_subnet sn = {0}, got;

        snprintf(sn.region, sizeof(sn.region), "ap-south-1");
        sn.policy.set = true;
        sn.policy.allowed_classes =
            ISOLATION_BIT(ISOLATION_CONTAINER) | ISOLATION_BIT(ISOLATION_MICROVM);
        sn.policy.default_class = ISOLATION_MICROVM;
        sn.policy.allowed_backends = VMM_BIT(VMM_QEMU) | VMM_BIT(VMM_FIRECRACKER);
        sn.deploy_approval = true;
        sn.created_at = 1700000000;
        assert_ok(store_subnet_create(st, &sn, &err));
        assert_int_equal(sn.created_at, 1700000000); /* a given time is kept */
        assert_ok(store_subnet_get(st, sn.slug, &got, &err));
        assert_subnet_equal(&got, &sn);

        /* one class, one backend, no default */
        sn.policy.allowed_classes = ISOLATION_BIT(ISOLATION_MICROVM);
        sn.policy.default_class = ISOLATION_NONE;
        sn.policy.allowed_backends = VMM_BIT(VMM_FIRECRACKER);
        sn.deploy_approval = false;
        assert_ok(store_subnet_update(st, &sn, &err));
        assert_ok(store_subnet_get(st, sn.slug, &got, &err));
        assert_subnet_equal(&got, &sn);
}

static void test_subnet_update_replaces(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_subnet sn, got;
        uint64_t slug = new_subnet(st, "us-east");
        char msg[128];

        assert_ok(store_subnet_get(st, slug, &sn, &err));
        sn.policy.set = true;
        sn.policy.allowed_classes = ISOLATION_BIT(ISOLATION_MICROVM);
        sn.policy.default_class = ISOLATION_MICROVM;
        snprintf(sn.region, sizeof(sn.region), "us-west");
        assert_ok(store_subnet_update(st, &sn, &err));
        assert_ok(store_subnet_get(st, slug, &got, &err));
        assert_subnet_equal(&got, &sn);

        /* clearing the policy leaves nothing of it */
        memset(&sn.policy, 0, sizeof(sn.policy));
        assert_ok(store_subnet_update(st, &sn, &err));
        assert_ok(store_subnet_get(st, slug, &got, &err));
        assert_false(got.policy.set);
        assert_int_equal(got.policy.allowed_classes, 0);
        assert_int_equal(got.policy.default_class, ISOLATION_NONE);
        assert_int_equal(got.policy.allowed_backends, 0);

        sn.slug = 999999999999ULL;
        snprintf(msg, sizeof(msg), "subnet \"999999999999\" not found");
        assert_not_found(store_subnet_update(st, &sn, &err), &err, msg);
}

static void test_subnet_not_found(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_subnet got;

        assert_not_found(store_subnet_get(st, 100000000999ULL, &got, &err), &err,
                         "subnet \"100000000999\" not found");
        assert_not_found(store_subnet_delete(st, 100000000999ULL, &err), &err,
                         "subnet \"100000000999\" not found");
}

static void test_subnet_delete_never_reuses_slug(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_subnet got;
        uint64_t a = new_subnet(st, "r1"), b;
        char msg[64], slug[SUBNET_SLUG_BUFLEN];

        assert_ok(store_subnet_delete(st, a, &err));
        snprintf(msg, sizeof(msg), "subnet \"%s\" not found", subnet_slug_format(a, slug));
        assert_not_found(store_subnet_get(st, a, &got, &err), &err, msg);
        assert_not_found(store_subnet_delete(st, a, &err), &err, msg);
        b = new_subnet(st, "r1");
        assert_true(b > a);
}

static void test_subnet_list(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_subnet *items = NULL;
        uint64_t mine[3];
        size_t n = 0, found = 0;

        for (size_t i = 0; i < NELEM(mine); i++)
                mine[i] = new_subnet(st, "list");
        assert_ok(store_subnet_list(st, &items, &n, &err));
        assert_true(n >= NELEM(mine));
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        assert_true(items[i - 1].slug < items[i].slug);
                for (size_t j = 0; j < NELEM(mine); j++)
                        if (items[i].slug == mine[j]) {
                                assert_string_equal(items[i].region, "list");
                                found++;
                        }
        }
        assert_int_equal(found, NELEM(mine));
        free(items);
}

/* ---- workloads and events ----------------------------------------------- */

static void workload_fill(struct idyl_workload *w, uint64_t subnet, const char *name)
{
        memset(w, 0, sizeof(*w));
        w->subnet = subnet;
        snprintf(w->name, sizeof(w->name), "%s", name);
        w->revision = 1;
        w->spec = "{\"image\":\"nginx:1.27-alpine\",\"resources\":{\"cpu\":0.5}}";
        w->phase = PHASE_PENDING;
        w->isolation = ISOLATION_MICROVM;
        w->source = SOURCE_SUBNET_DEFAULT;
        snprintf(w->message, sizeof(w->message),
                 "no available nodes in subnet 100000000001 support requested isolation class "
                 "microvm");
        w->created_at = 1700000000;
        w->updated_at = 1700000001;
        snprintf(w->platform, sizeof(w->platform), "linux/amd64");
        w->cpu_milli = 500;
        w->memory_bytes = 256 * MiB;
        w->gpus = 1;
}

static void assert_workload_equal(const struct idyl_workload *a, const struct idyl_workload *b)
{
        assert_true(a->subnet == b->subnet);
        assert_string_equal(a->name, b->name);
        assert_int_equal(a->revision, b->revision);
        assert_string_equal(a->spec, b->spec);
        assert_int_equal(a->phase, b->phase);
        assert_int_equal(a->isolation, b->isolation);
        assert_int_equal(a->source, b->source);
        assert_string_equal(a->node, b->node);
        assert_string_equal(a->runtime_profile, b->runtime_profile);
        assert_string_equal(a->message, b->message);
        if (b->placement)
                assert_string_equal(a->placement, b->placement);
        else
                assert_null(a->placement);
        assert_int_equal(a->restarts, b->restarts);
        assert_int_equal(a->created_at, b->created_at);
        assert_int_equal(a->updated_at, b->updated_at);
        assert_string_equal(a->platform, b->platform);
        assert_int_equal(a->cpu_milli, b->cpu_milli);
        assert_int_equal(a->memory_bytes, b->memory_bytes);
        assert_int_equal(a->gpus, b->gpus);
}

static void test_workload_put_get(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_workload w, got;
        uint64_t subnet = new_subnet(st, "wl");

        workload_fill(&w, subnet, "web");
        assert_ok(store_workload_put(st, &w, &err));
        assert_ok(store_workload_get(st, subnet, "web", &got, &err));
        assert_workload_equal(&got, &w);
        workload_release(&got);
        assert_null(got.spec);

        /* a put replaces: the next revision, placed */
        w.revision = 2;
        w.spec = "{\"image\":\"nginx:1.28-alpine\"}";
        w.phase = PHASE_RUNNING;
        w.isolation = ISOLATION_CONTAINER;
        w.source = SOURCE_EXPLICIT;
        snprintf(w.node, sizeof(w.node), "host-7");
        snprintf(w.runtime_profile, sizeof(w.runtime_profile), "containerd-kata-firecracker");
        w.message[0] = '\0';
        w.placement = "{\"evaluated\":3,\"filtered\":{\"insufficient_cpu\":2}}";
        w.restarts = 4;
        w.platform[0] = '\0';
        w.gpus = 0;
        assert_ok(store_workload_put(st, &w, &err));
        assert_ok(store_workload_get(st, subnet, "web", &got, &err));
        assert_workload_equal(&got, &w);
        workload_release(&got);
}

static void test_workload_every_phase_and_source(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_workload w, got;
        uint64_t subnet = new_subnet(st, "phases");

        workload_fill(&w, subnet, "p");
        for (int p = 0; p < PHASE__COUNT; p++) {
                w.phase = (enum workload_phase)p;
                w.source = (enum isolation_source)(p % SOURCE__COUNT);
                assert_ok(store_workload_put(st, &w, &err));
                assert_ok(store_workload_get(st, subnet, "p", &got, &err));
                assert_int_equal(got.phase, p);
                assert_int_equal(got.source, p % SOURCE__COUNT);
                workload_release(&got);
        }
}

static void test_workload_not_found(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_workload got;
        uint64_t subnet = new_subnet(st, "wl");
        char slug[SUBNET_SLUG_BUFLEN], msg[128];

        snprintf(msg, sizeof(msg), "workload \"nope\" not found in subnet \"%s\"",
                 subnet_slug_format(subnet, slug));
        assert_not_found(store_workload_get(st, subnet, "nope", &got, &err), &err, msg);
        assert_not_found(store_workload_delete(st, subnet, "nope", &err), &err, msg);
}

static void test_workload_list(void **state)
{
        static const char *const names[] = {"web", "api", "db", "cache"};
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_workload w, *items;
        uint64_t a = new_subnet(st, "a"), b = new_subnet(st, "b");
        size_t n, in_a = 0, in_b = 0;

        for (size_t i = 0; i < NELEM(names); i++) {
                workload_fill(&w, a, names[i]);
                if (i % 2 == 0)
                        snprintf(w.node, sizeof(w.node), "host-1");
                assert_ok(store_workload_put(st, &w, &err));
        }
        workload_fill(&w, b, "web"); /* same name, other subnet */
        snprintf(w.node, sizeof(w.node), "host-1");
        assert_ok(store_workload_put(st, &w, &err));

        assert_ok(store_workload_list(st, a, NULL, &items, &n, &err));
        assert_int_equal(n, 4);
        assert_string_equal(items[0].name, "api");
        assert_string_equal(items[1].name, "cache");
        assert_string_equal(items[2].name, "db");
        assert_string_equal(items[3].name, "web");
        for (size_t i = 0; i < n; i++) {
                assert_true(items[i].subnet == a);
                assert_non_null(items[i].spec);
        }
        workload_list_free(items, n);

        /* only those placed on a node, in that subnet */
        assert_ok(store_workload_list(st, a, "host-1", &items, &n, &err));
        assert_int_equal(n, 2);
        assert_string_equal(items[0].name, "db");
        assert_string_equal(items[1].name, "web");
        workload_list_free(items, n);
        assert_ok(store_workload_list(st, a, "host-9", &items, &n, &err));
        assert_int_equal(n, 0);
        workload_list_free(items, n);

        /* subnet 0: every subnet, by subnet then name */
        assert_ok(store_workload_list(st, 0, "host-1", &items, &n, &err));
        for (size_t i = 0; i < n; i++) {
                in_a += items[i].subnet == a;
                in_b += items[i].subnet == b;
                if (i > 0)
                        assert_true(items[i - 1].subnet < items[i].subnet ||
                                    (items[i - 1].subnet == items[i].subnet &&
                                     strcmp(items[i - 1].name, items[i].name) < 0));
        }
        assert_int_equal(in_a, 2);
        assert_int_equal(in_b, 1);
        workload_list_free(items, n);
}

/* A scheduling pass reads what placed workloads use, summed per node and
 * class, and the workloads placed nowhere; the fallback over the full list
 * gives the same sums. */
static void test_workload_usage_and_unplaced(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_node_usage *u, *fb;
        struct idyl_workload w, *items;
        uint64_t subnet = new_subnet(st, "usage"), other = new_subnet(st, "usage-other");
        const struct {
                uint64_t subnet;
                const char *name, *node;
                enum isolation_class isolation;
        } rows[] = {
            {subnet, "a", "host-1", ISOLATION_MICROVM},
            {subnet, "b", "host-1", ISOLATION_MICROVM},
            {subnet, "c", "host-1", ISOLATION_CONTAINER},
            {subnet, "d", "host-2", ISOLATION_MICROVM},
            {subnet, "e", "", ISOLATION_MICROVM},
            {other, "f", "host-1", ISOLATION_MICROVM},
        };
        size_t n, nfb;

        for (size_t i = 0; i < NELEM(rows); i++) {
                workload_fill(&w, rows[i].subnet, rows[i].name);
                snprintf(w.node, sizeof(w.node), "%s", rows[i].node);
                w.isolation = rows[i].isolation;
                assert_ok(store_workload_put(st, &w, &err));
        }
        assert_ok(store_workload_usage(st, subnet, &u, &n, &err));
        assert_int_equal(n, 3);
        assert_string_equal(u[0].node, "host-1");
        assert_int_equal(u[0].isolation, ISOLATION_CONTAINER);
        assert_int_equal(u[0].count, 1);
        assert_string_equal(u[1].node, "host-1");
        assert_int_equal(u[1].isolation, ISOLATION_MICROVM);
        assert_int_equal(u[1].count, 2);
        assert_int_equal(u[1].cpu_milli, 1000);
        assert_int_equal(u[1].memory_bytes, 512 * MiB);
        assert_int_equal(u[1].gpus, 2);
        assert_string_equal(u[2].node, "host-2");
        assert_int_equal(u[2].count, 1);
        assert_ok(store_workload_usage_by_list(st, subnet, &fb, &nfb, &err));
        assert_int_equal(nfb, n);
        for (size_t i = 0; i < n; i++) {
                size_t j = 0;

                while (j < nfb &&
                       !(strcmp(fb[j].node, u[i].node) == 0 && fb[j].isolation == u[i].isolation))
                        j++;
                assert_true(j < nfb);
                assert_int_equal(fb[j].count, u[i].count);
                assert_int_equal(fb[j].cpu_milli, u[i].cpu_milli);
                assert_int_equal(fb[j].memory_bytes, u[i].memory_bytes);
                assert_int_equal(fb[j].gpus, u[i].gpus);
        }
        free(u);
        free(fb);

        assert_ok(store_workload_list(st, subnet, "", &items, &n, &err));
        assert_int_equal(n, 1);
        assert_string_equal(items[0].name, "e");
        workload_list_free(items, n);
}

static void test_workload_delete_removes_events(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_workload w, got, *items;
        struct idyl_event ev = {.revision = 1, .type = "Admitted", .message = "admitted"};
        struct idyl_event *evs;
        uint64_t subnet = new_subnet(st, "del");
        size_t n;

        workload_fill(&w, subnet, "gone");
        assert_ok(store_workload_put(st, &w, &err));
        workload_fill(&w, subnet, "kept");
        assert_ok(store_workload_put(st, &w, &err));
        assert_ok(store_event_add(st, subnet, "gone", &ev, &err));
        assert_ok(store_event_add(st, subnet, "kept", &ev, &err));
        assert_ok(store_workload_delete(st, subnet, "gone", &err));
        assert_int_equal(store_workload_get(st, subnet, "gone", &got, &err), -1);
        assert_int_equal(err.code, IDYL_E_NOT_FOUND);
        assert_ok(store_event_list(st, subnet, "gone", &evs, &n, &err));
        assert_int_equal(n, 0);
        free(evs);
        assert_ok(store_event_list(st, subnet, "kept", &evs, &n, &err));
        assert_int_equal(n, 1);
        free(evs);
        assert_ok(store_workload_list(st, subnet, NULL, &items, &n, &err));
        assert_int_equal(n, 1);
        assert_string_equal(items[0].name, "kept");
        workload_list_free(items, n);
}

/* Retention takes what is older than the cut, events (seconds) and audit
 * records (milliseconds) alike, and keeps the rest. */
static void test_history_prune(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_workload w;
        struct idyl_event old = {.revision = 1, .time = 1000, .type = "Admitted", .message = "a"},
                          recent = {.revision = 1, .time = 5000, .type = "Placed", .message = "b"};
        struct idyl_audit a_old = {.time_ms = 1000 * 1000, .role = ROLE_OPERATOR, .status = 200},
                          a_new = {.time_ms = 5000 * 1000, .role = ROLE_OPERATOR, .status = 201};
        struct idyl_event *evs;
        struct idyl_audit *recs;
        uint64_t subnet = new_subnet(st, "ret");
        size_t n, removed;

        workload_fill(&w, subnet, "w");
        assert_ok(store_workload_put(st, &w, &err));
        assert_ok(store_event_add(st, subnet, "w", &old, &err));
        assert_ok(store_event_add(st, subnet, "w", &recent, &err));
        snprintf(a_old.method, sizeof(a_old.method), "POST");
        snprintf(a_new.method, sizeof(a_new.method), "PATCH");
        assert_ok(store_audit_add(st, &a_old, &err));
        assert_ok(store_audit_add(st, &a_new, &err));
        assert_ok(store_history_prune(st, 3000 * 1000, &removed, &err));
        assert_int_equal(removed, 2);
        assert_ok(store_event_list(st, subnet, "w", &evs, &n, &err));
        assert_int_equal(n, 1);
        assert_string_equal(evs[0].type, "Placed");
        free(evs);
        assert_ok(store_audit_list(st, 0, 100, &recs, &n, &err));
        assert_int_equal(n, 1);
        assert_int_equal(recs[0].status, 201);
        free(recs);
        assert_ok(store_history_prune(st, 3000 * 1000, &removed, &err));
        assert_int_equal(removed, 0);
}

/* What a pending audit record's fill() reads: the status is the one set
 * by the time the change commits. */
struct pending_change {
        uint64_t subnet;
        int status;
        int fills;
};

static void fill_pending(void *arg, struct idyl_audit *out)
{
        struct pending_change *c = arg;

        *out = (struct idyl_audit){.role = ROLE_AUTHOR, .subnet = c->subnet, .status = c->status};
        snprintf(out->token, sizeof(out->token), "0123456789ab");
        snprintf(out->method, sizeof(out->method), "POST");
        snprintf(out->path, sizeof(out->path), "/v1/subnets/x/workloads");
        c->fills++;
}

static size_t audit_count(struct idyl_store *st, uint64_t subnet, struct idyl_audit *last)
{
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_audit *recs;
        size_t n;

        assert_ok(store_audit_list(st, subnet, 100, &recs, &n, &err));
        if (n && last)
                *last = recs[0];
        free(recs);
        return n;
}

/* A change and its audit record are one transaction: a rolled-back change
 * leaves no record, the change that commits carries it (with what fill()
 * says at commit), and it is written once. */
static void test_audit_pending_commits_with_the_change(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct pending_change c = {.subnet = new_subnet(st, "audit-tx"), .status = 200};
        struct store_audit_pending p = {.st = st, .fill = fill_pending, .arg = &c};
        struct idyl_workload w, gw;
        struct idyl_audit rec;

        store_audit_pend(&p);
        assert_ok(store_tx_begin(st, &err));
        workload_fill(&w, c.subnet, "gone");
        assert_ok(store_workload_put(st, &w, &err));
        store_tx_rollback(st);
        assert_false(p.written);
        assert_int_equal(c.fills, 0);
        assert_int_equal(audit_count(st, c.subnet, NULL), 0);

        assert_ok(store_tx_begin(st, &err));
        workload_fill(&w, c.subnet, "kept");
        assert_ok(store_workload_put(st, &w, &err));
        c.status = 201; /* the handler knows its answer before it commits */
        assert_ok(store_tx_commit(st, &err));
        assert_true(p.written);
        assert_int_equal(p.rec.status, 201);
        assert_int_equal(audit_count(st, c.subnet, &rec), 1);
        assert_int_equal(rec.status, 201);
        assert_int_equal(rec.role, ROLE_AUTHOR);
        assert_string_equal(rec.token, "0123456789ab");
        assert_string_equal(rec.method, "POST");
        assert_string_equal(rec.path, "/v1/subnets/x/workloads");
        assert_true(rec.time_ms > 0);
        assert_ok(store_workload_get(st, c.subnet, "kept", &gw, &err));
        workload_release(&gw);

        /* a later commit of the same request adds nothing */
        assert_ok(store_workload_delete(st, c.subnet, "kept", &err));
        assert_int_equal(c.fills, 1);
        store_audit_pend(NULL);
        assert_int_equal(audit_count(st, c.subnet, NULL), 1);

        /* with none pending, commits write no record */
        assert_ok(store_workload_put(st, &w, &err));
        assert_int_equal(audit_count(st, c.subnet, NULL), 1);
}

/* A change whose commit fails takes its audit record with it: the record
 * stays pending, not written. */
static void test_audit_pending_fails_with_the_change(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct pending_change c = {.subnet = new_subnet(st, "audit-fail"), .status = 204};
        struct store_audit_pending p = {.st = st, .fill = fill_pending, .arg = &c};

        store_audit_pend(&p);
        assert_int_equal(store_workload_delete(st, c.subnet, "absent", &err), -1);
        assert_int_equal(err.code, IDYL_E_NOT_FOUND);
        store_audit_pend(NULL);
        assert_false(p.written);
        assert_int_equal(audit_count(st, c.subnet, NULL), 0);
}

static void test_events(void **state)
{
        static const char *const types[] = {"Admitted", "Scheduled", "Running"};
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_workload w;
        struct idyl_event ev, *evs;
        uint64_t subnet = new_subnet(st, "ev");
        int64_t before = (int64_t)time(NULL);
        size_t n;

        workload_fill(&w, subnet, "web");
        assert_ok(store_workload_put(st, &w, &err));
        assert_ok(store_event_list(st, subnet, "web", &evs, &n, &err));
        assert_int_equal(n, 0);
        free(evs);
        for (size_t i = 0; i < NELEM(types); i++) {
                memset(&ev, 0, sizeof(ev));
                ev.time = i == 1 ? 1600000000 : 0; /* 0: now */
                ev.revision = (int64_t)i + 1;
                snprintf(ev.type, sizeof(ev.type), "%s", types[i]);
                snprintf(ev.message, sizeof(ev.message), "event %zu: \"quoted\" 'text'", i);
                assert_ok(store_event_add(st, subnet, "web", &ev, &err));
        }
        assert_ok(store_event_list(st, subnet, "web", &evs, &n, &err));
        assert_int_equal(n, NELEM(types));
        for (size_t i = 0; i < n; i++) {
                char want[64];

                assert_string_equal(evs[i].type, types[i]); /* oldest first */
                assert_int_equal(evs[i].revision, (int64_t)i + 1);
                snprintf(want, sizeof(want), "event %zu: \"quoted\" 'text'", i);
                assert_string_equal(evs[i].message, want);
        }
        assert_int_equal(evs[1].time, 1600000000);
        assert_true(evs[0].time >= before && evs[0].time <= (int64_t)time(NULL));
        free(evs);
}

/* ---- nodes and tokens --------------------------------------------------- */

static void node_fill(struct idyl_node *nd, uint64_t subnet, const char *name)
{
        memset(nd, 0, sizeof(*nd));
        nd->subnet = subnet;
        snprintf(nd->name, sizeof(nd->name), "%s", name);
        nd->admission = NODE_ADMITTED;
        nd->simulated = true;
        nd->profile = PROFILE_CONTAINERD_KATA_QEMU;
        snprintf(nd->provider, sizeof(nd->provider), "containerd");
        snprintf(nd->handler, sizeof(nd->handler), "io.containerd.kata-qemu.v2");
        nd->isolation = ISOLATION_MICROVM;
        nd->backend = VMM_QEMU;
        nd->runtime_ready = true;
        nd->microvm_gpu = true;
        snprintf(nd->platform, sizeof(nd->platform), "linux/amd64");
        nd->cpu_milli = 16000;
        nd->memory_bytes = 64LL << 30;
        nd->gpus = 2;
        nd->last_heartbeat = 1700000000123LL;
        nd->assign_version = 7;
        nd->created_at = 1700000000;
}

static void assert_node_equal(const struct idyl_node *a, const struct idyl_node *b)
{
        assert_true(a->subnet == b->subnet);
        assert_string_equal(a->name, b->name);
        assert_int_equal(a->admission, b->admission);
        assert_int_equal(a->simulated, b->simulated);
        assert_int_equal(a->profile, b->profile);
        assert_string_equal(a->provider, b->provider);
        assert_string_equal(a->handler, b->handler);
        assert_int_equal(a->isolation, b->isolation);
        assert_int_equal(a->backend, b->backend);
        assert_int_equal(a->runtime_ready, b->runtime_ready);
        assert_string_equal(a->reason, b->reason);
        assert_int_equal(a->microvm_gpu, b->microvm_gpu);
        assert_string_equal(a->platform, b->platform);
        assert_int_equal(a->cpu_milli, b->cpu_milli);
        assert_int_equal(a->memory_bytes, b->memory_bytes);
        assert_int_equal(a->gpus, b->gpus);
        assert_int_equal(a->last_heartbeat, b->last_heartbeat);
        assert_int_equal(a->down, b->down);
        assert_int_equal(a->assign_version, b->assign_version);
        assert_int_equal(a->created_at, b->created_at);
        assert_int_equal(a->eligibility, b->eligibility);
}

static void test_node_put_get(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_node nd, got;
        uint64_t subnet = new_subnet(st, "nodes");
        char slug[SUBNET_SLUG_BUFLEN], msg[128];

        node_fill(&nd, subnet, "host-7");
        assert_ok(store_node_put(st, &nd, &err));
        assert_ok(store_node_get(st, subnet, "host-7", &got, &err));
        assert_node_equal(&got, &nd);

        /* replaced: raw settings, not ready, pending, down */
        nd.admission = NODE_PENDING;
        nd.simulated = false;
        nd.profile = PROFILE_NONE;
        snprintf(nd.provider, sizeof(nd.provider), "docker");
        snprintf(nd.handler, sizeof(nd.handler), "runc");
        nd.isolation = ISOLATION_CONTAINER;
        nd.backend = VMM_NONE;
        nd.runtime_ready = false;
        snprintf(nd.reason, sizeof(nd.reason),
                 "docker daemon at unix:///var/run/docker.sock "
                 "does not answer");
        nd.microvm_gpu = false;
        nd.down = true;
        nd.assign_version = 8;
        assert_ok(store_node_put(st, &nd, &err));
        assert_ok(store_node_get(st, subnet, "host-7", &got, &err));
        assert_node_equal(&got, &nd);
        nd.admission = NODE_REVOKED;
        nd.profile = PROFILE_CONTAINERD_KATA_FIRECRACKER;
        nd.backend = VMM_FIRECRACKER;
        assert_ok(store_node_put(st, &nd, &err));
        assert_ok(store_node_get(st, subnet, "host-7", &got, &err));
        assert_node_equal(&got, &nd);
        /* eligibility: each value round-trips */
        for (int e = 0; e < NODE_ELIGIBILITY__COUNT; e++) {
                nd.eligibility = (enum node_eligibility)e;
                assert_ok(store_node_put(st, &nd, &err));
                assert_ok(store_node_get(st, subnet, "host-7", &got, &err));
                assert_node_equal(&got, &nd);
        }

        snprintf(msg, sizeof(msg), "node \"host-8\" not found in subnet \"%s\"",
                 subnet_slug_format(subnet, slug));
        assert_not_found(store_node_get(st, subnet, "host-8", &got, &err), &err, msg);
        assert_not_found(store_node_delete(st, subnet, "host-8", &err), &err, msg);
}

static void test_node_list(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_node nd, *items;
        uint64_t a = new_subnet(st, "a"), b = new_subnet(st, "b");
        size_t n, in_a = 0, in_b = 0;

        node_fill(&nd, a, "n2");
        assert_ok(store_node_put(st, &nd, &err));
        node_fill(&nd, a, "n1");
        assert_ok(store_node_put(st, &nd, &err));
        node_fill(&nd, b, "n1");
        assert_ok(store_node_put(st, &nd, &err));
        assert_ok(store_node_list(st, a, &items, &n, &err));
        assert_int_equal(n, 2);
        assert_string_equal(items[0].name, "n1");
        assert_string_equal(items[1].name, "n2");
        assert_true(items[0].subnet == a && items[1].subnet == a);
        free(items);
        assert_ok(store_node_list(st, 0, &items, &n, &err));
        for (size_t i = 0; i < n; i++) {
                in_a += items[i].subnet == a;
                in_b += items[i].subnet == b;
        }
        assert_int_equal(in_a, 2);
        assert_int_equal(in_b, 1);
        free(items);
}

/* The bump changes the assignment version alone, by one, and ignores a
 * node that does not exist. */
static void test_node_bump_assignments(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_node nd, other, got;
        uint64_t subnet = new_subnet(st, "bump");

        node_fill(&nd, subnet, "n1");
        node_fill(&other, subnet, "n2");
        assert_ok(store_node_put(st, &nd, &err));
        assert_ok(store_node_put(st, &other, &err));
        assert_ok(store_node_bump_assignments(st, subnet, "n1", &err));
        assert_ok(store_node_bump_assignments(st, subnet, "n1", &err));
        assert_ok(store_node_get(st, subnet, "n1", &got, &err));
        nd.assign_version += 2;
        assert_node_equal(&got, &nd);
        assert_ok(store_node_get(st, subnet, "n2", &got, &err));
        assert_node_equal(&got, &other);
        assert_ok(store_node_bump_assignments(st, subnet, "absent", &err));
        assert_ok(store_node_bump_assignments(st, subnet + 1, "n1", &err));
        assert_ok(store_node_get(st, subnet, "n1", &got, &err));
        assert_node_equal(&got, &nd);
}

static void token_fill(struct idyl_token *t, const char *seed, enum idyl_role role, uint64_t subnet,
                       const char *node)
{
        memset(t, 0, sizeof(*t));
        /* a 64-hex-digit hash made from the seed */
        for (size_t i = 0; i < TOKEN_HASH_HEXLEN; i++)
                t->hash[i] = "0123456789abcdef"[((unsigned char)seed[i % strlen(seed)] + i) % 16];
        t->role = role;
        t->subnet = subnet;
        snprintf(t->node, sizeof(t->node), "%s", node);
        t->created_at = 1700000000;
}

static void test_tokens(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_token op, au, got;
        uint64_t subnet = new_subnet(st, "tok");
        size_t ops0, ops1, authors0, authors1;

        assert_ok(store_token_count(st, ROLE_OPERATOR, &ops0, &err));
        assert_ok(store_token_count(st, ROLE_AUTHOR, &authors0, &err));
        token_fill(&op, "operator-one", ROLE_OPERATOR, 0, "");
        token_fill(&au, "author-one", ROLE_AUTHOR, subnet, "");
        assert_ok(store_token_add(st, &op, &err));
        assert_ok(store_token_add(st, &au, &err));
        assert_ok(store_token_count(st, ROLE_OPERATOR, &ops1, &err));
        assert_ok(store_token_count(st, ROLE_AUTHOR, &authors1, &err));
        assert_int_equal(ops1, ops0 + 1);
        assert_int_equal(authors1, authors0 + 1);

        assert_ok(store_token_find(st, au.hash, &got, &err));
        assert_string_equal(got.hash, au.hash);
        assert_int_equal(got.role, ROLE_AUTHOR);
        assert_true(got.subnet == subnet);
        assert_string_equal(got.node, "");
        assert_int_equal(got.created_at, 1700000000);
        assert_ok(store_token_find(st, op.hash, &got, &err));
        assert_int_equal(got.role, ROLE_OPERATOR);
        assert_true(got.subnet == 0);

        /* the same hash twice is refused, and the first stays */
        au.role = ROLE_OPERATOR;
        assert_int_equal(store_token_add(st, &au, &err), -1);
        assert_ok(store_token_find(st, au.hash, &got, &err));
        assert_int_equal(got.role, ROLE_AUTHOR);

        token_fill(&got, "never-added", ROLE_AUTHOR, 0, "");
        assert_int_equal(store_token_find(st, got.hash, &got, &err), -1);
        assert_int_equal(err.code, IDYL_E_NOT_FOUND);
}

/* A credential that was found stops being found the moment it goes, by a
 * revoke or with its subnet; one added in a transaction that rolls back was
 * never there, though the transaction itself found it. */
static void test_found_credentials_go_at_once(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_token t, scoped, undone, got;
        uint64_t subnet = new_subnet(st, "gone");
        char id[TOKEN_ID_LEN + 1] = "";

        token_fill(&t, "found-then-revoked", ROLE_AUTHOR, 0, "");
        token_fill(&scoped, "found-then-subnet-deleted", ROLE_AUTHOR, subnet, "");
        assert_ok(store_token_add(st, &t, &err));
        assert_ok(store_token_add(st, &scoped, &err));
        for (int i = 0; i < 2; i++) {
                assert_ok(store_token_find(st, t.hash, &got, &err));
                assert_ok(store_token_find(st, scoped.hash, &got, &err));
        }
        memcpy(id, t.hash, TOKEN_ID_LEN);
        assert_ok(store_token_revoke(st, id, &got, &err));
        assert_not_found(store_token_find(st, t.hash, &got, &err), &err, "token not found");
        assert_ok(store_subnet_delete(st, subnet, &err));
        assert_not_found(store_token_find(st, scoped.hash, &got, &err), &err, "token not found");

        token_fill(&undone, "added-then-rolled-back", ROLE_AUTHOR, 0, "");
        assert_ok(store_tx_begin(st, &err));
        assert_ok(store_token_add(st, &undone, &err));
        assert_ok(store_token_find(st, undone.hash, &got, &err));
        store_tx_rollback(st);
        assert_not_found(store_token_find(st, undone.hash, &got, &err), &err, "token not found");
}

static void test_node_delete_removes_its_credentials(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_node nd, got;
        struct idyl_token mine, other, found;
        uint64_t subnet = new_subnet(st, "nd");

        node_fill(&nd, subnet, "host-1");
        assert_ok(store_node_put(st, &nd, &err));
        node_fill(&nd, subnet, "host-2");
        assert_ok(store_node_put(st, &nd, &err));
        token_fill(&mine, "node-host-1", ROLE_PROVIDER, subnet, "host-1");
        token_fill(&other, "node-host-2", ROLE_PROVIDER, subnet, "host-2");
        assert_ok(store_token_add(st, &mine, &err));
        assert_ok(store_token_add(st, &other, &err));
        assert_ok(store_token_find(st, mine.hash, &found, &err));
        assert_string_equal(found.node, "host-1");
        assert_int_equal(found.role, ROLE_PROVIDER);

        assert_ok(store_node_delete(st, subnet, "host-1", &err));
        assert_int_equal(store_node_get(st, subnet, "host-1", &got, &err), -1);
        assert_int_equal(err.code, IDYL_E_NOT_FOUND);
        assert_int_equal(store_token_find(st, mine.hash, &found, &err), -1);
        assert_int_equal(err.code, IDYL_E_NOT_FOUND);
        assert_ok(store_token_find(st, other.hash, &found, &err));
        assert_ok(store_node_get(st, subnet, "host-2", &got, &err));
}

/* The replica a node's agent is connected to: none at first, the last one
 * recorded wins, each node has its own, and it goes with the node. */
static void test_node_replica(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        uint64_t subnet = new_subnet(st, "nr");
        struct idyl_node nd;
        char got[24];

        node_fill(&nd, subnet, "host-1");
        assert_ok(store_node_put(st, &nd, &err));
        node_fill(&nd, subnet, "host-2");
        assert_ok(store_node_put(st, &nd, &err));
        assert_int_equal(store_node_replica_get(st, subnet, "host-1", got, sizeof(got), &err), -1);
        assert_int_equal(err.code, IDYL_E_NOT_FOUND);
        assert_ok(store_node_replica_set(st, subnet, "host-1", "111.1", &err));
        assert_ok(store_node_replica_set(st, subnet, "host-2", "222.2", &err));
        assert_ok(store_node_replica_set(st, subnet, "host-1", "333.3", &err));
        assert_ok(store_node_replica_get(st, subnet, "host-1", got, sizeof(got), &err));
        assert_string_equal(got, "333.3");
        assert_ok(store_node_replica_get(st, subnet, "host-2", got, sizeof(got), &err));
        assert_string_equal(got, "222.2");
        /* a short buffer gets a cut, terminated copy */
        assert_ok(store_node_replica_get(st, subnet, "host-2", got, 3, &err));
        assert_string_equal(got, "22");
        assert_ok(store_node_delete(st, subnet, "host-1", &err));
        assert_int_equal(store_node_replica_get(st, subnet, "host-1", got, sizeof(got), &err), -1);
        assert_int_equal(err.code, IDYL_E_NOT_FOUND);
        /* a node joining again under the name starts with none */
        node_fill(&nd, subnet, "host-1");
        assert_ok(store_node_put(st, &nd, &err));
        assert_int_equal(store_node_replica_get(st, subnet, "host-1", got, sizeof(got), &err), -1);
        assert_ok(store_node_replica_get(st, subnet, "host-2", got, sizeof(got), &err));
}

/* ---- transactions, durability, threads ----------------------------------- */

static void test_tx_rollback_leaves_nothing(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_subnet sn = {0}, got, *subnets;
        struct idyl_workload w, gw;
        struct idyl_node nd, gn;
        struct idyl_token tok, gt;
        struct idyl_event ev = {.revision = 1, .type = "Admitted"}, *evs;
        uint64_t existing = new_subnet(st, "tx");
        size_t before, after, n;

        assert_ok(store_subnet_list(st, &subnets, &before, &err));
        free(subnets);

        assert_ok(store_tx_begin(st, &err));
        snprintf(sn.region, sizeof(sn.region), "tx-new");
        assert_ok(store_subnet_create(st, &sn, &err));
        workload_fill(&w, existing, "web");
        assert_ok(store_workload_put(st, &w, &err));
        assert_ok(store_event_add(st, existing, "web", &ev, &err));
        node_fill(&nd, existing, "host-1");
        assert_ok(store_node_put(st, &nd, &err));
        token_fill(&tok, "rolled-back", ROLE_AUTHOR, existing, "");
        assert_ok(store_token_add(st, &tok, &err));
        /* inside the transaction its writes are visible */
        assert_ok(store_workload_get(st, existing, "web", &gw, &err));
        workload_release(&gw);
        store_tx_rollback(st);

        assert_int_equal(store_subnet_get(st, sn.slug, &got, &err), -1);
        assert_int_equal(err.code, IDYL_E_NOT_FOUND);
        assert_int_equal(store_workload_get(st, existing, "web", &gw, &err), -1);
        assert_int_equal(err.code, IDYL_E_NOT_FOUND);
        assert_ok(store_event_list(st, existing, "web", &evs, &n, &err));
        assert_int_equal(n, 0);
        free(evs);
        assert_int_equal(store_node_get(st, existing, "host-1", &gn, &err), -1);
        assert_int_equal(err.code, IDYL_E_NOT_FOUND);
        assert_int_equal(store_token_find(st, tok.hash, &gt, &err), -1);
        assert_int_equal(err.code, IDYL_E_NOT_FOUND);
        assert_ok(store_subnet_list(st, &subnets, &after, &err));
        free(subnets);
        assert_int_equal(after, before);

        /* the store still works after a rollback, and a commit keeps */
        assert_ok(store_tx_begin(st, &err));
        assert_ok(store_workload_put(st, &w, &err));
        assert_ok(store_node_put(st, &nd, &err));
        assert_ok(store_tx_commit(st, &err));
        assert_ok(store_workload_get(st, existing, "web", &gw, &err));
        workload_release(&gw);
        assert_ok(store_node_get(st, existing, "host-1", &gn, &err));
}

/* A failing call inside a transaction does not end it: the caller decides,
 * and a rollback then undoes the writes made before the failure. */
static void test_tx_failure_then_rollback(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_workload w, gw;
        uint64_t subnet = new_subnet(st, "txf");

        assert_ok(store_tx_begin(st, &err));
        workload_fill(&w, subnet, "first");
        assert_ok(store_workload_put(st, &w, &err));
        assert_int_equal(store_workload_delete(st, subnet, "absent", &err), -1);
        assert_int_equal(err.code, IDYL_E_NOT_FOUND);
        store_tx_rollback(st);
        assert_int_equal(store_workload_get(st, subnet, "first", &gw, &err), -1);
        assert_int_equal(err.code, IDYL_E_NOT_FOUND);
}

static void test_reopen_keeps_data(void **state)
{
        struct fixture *fx = *state;
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_subnet sn = {0}, got;
        struct idyl_workload w, gw;
        struct idyl_node nd, gn;
        struct idyl_token tok, gt;
        struct idyl_event ev = {.time = 1700000005,
                                .revision = 1,
                                .type = "Admitted",
                                .message = "admitted"},
                          *evs;
        size_t n;
        uint64_t next;

        snprintf(sn.region, sizeof(sn.region), "durable");
        sn.policy.set = true;
        sn.policy.allowed_classes = ISOLATION_BIT(ISOLATION_MICROVM);
        sn.policy.default_class = ISOLATION_MICROVM;
        sn.policy.allowed_backends = VMM_BIT(VMM_FIRECRACKER);
        assert_ok(store_subnet_create(fx->st, &sn, &err));
        workload_fill(&w, sn.slug, "web");
        assert_ok(store_workload_put(fx->st, &w, &err));
        assert_ok(store_event_add(fx->st, sn.slug, "web", &ev, &err));
        node_fill(&nd, sn.slug, "host-1");
        assert_ok(store_node_put(fx->st, &nd, &err));
        token_fill(&tok, "durable-token", ROLE_OPERATOR, 0, "");
        assert_ok(store_token_add(fx->st, &tok, &err));

        store_close(fx->st);
        fx->st = NULL;
        assert_ok(store_open(fx->url, &fx->st, &err));

        assert_ok(store_subnet_get(fx->st, sn.slug, &got, &err));
        assert_subnet_equal(&got, &sn);
        assert_ok(store_workload_get(fx->st, sn.slug, "web", &gw, &err));
        assert_workload_equal(&gw, &w);
        workload_release(&gw);
        assert_ok(store_event_list(fx->st, sn.slug, "web", &evs, &n, &err));
        assert_int_equal(n, 1);
        assert_string_equal(evs[0].type, "Admitted");
        assert_int_equal(evs[0].time, 1700000005);
        free(evs);
        assert_ok(store_node_get(fx->st, sn.slug, "host-1", &gn, &err));
        assert_node_equal(&gn, &nd);
        assert_ok(store_token_find(fx->st, tok.hash, &gt, &err));
        assert_int_equal(gt.role, ROLE_OPERATOR);
        /* the slug sequence continues after a restart */
        next = new_subnet(fx->st, "after-restart");
        assert_true(next == sn.slug + 1);
}

#define THREADS    4
#define PER_THREAD 25

struct thread_arg {
        struct idyl_store *st;
        uint64_t slugs[PER_THREAD];
        int failures;
};

static void *create_many(void *p)
{
        struct thread_arg *a = p;

        for (int i = 0; i < PER_THREAD; i++) {
                struct idyl_err err = IDYL_ERR_INIT;
                struct idyl_subnet sn = {0};

                snprintf(sn.region, sizeof(sn.region), "threads");
                if (store_subnet_create(a->st, &sn, &err) < 0)
                        a->failures++;
                a->slugs[i] = sn.slug;
        }
        return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

/* THREADS threads create PER_THREAD subnets each, all at once, and every
 * creation succeeds. */
static void create_in_threads(struct idyl_store *st, struct thread_arg args[THREADS])
{
        pthread_t tid[THREADS];

        for (int t = 0; t < THREADS; t++) {
                memset(&args[t], 0, sizeof(args[t]));
                args[t].st = st;
                assert_int_equal(pthread_create(&tid[t], NULL, create_many, &args[t]), 0);
        }
        for (int t = 0; t < THREADS; t++) {
                assert_int_equal(pthread_join(tid[t], NULL), 0);
                assert_int_equal(args[t].failures, 0);
        }
}

static void test_threads_get_distinct_slugs(void **state)
{
        struct idyl_store *st = store_of(state);
        struct thread_arg args[THREADS];
        uint64_t all[THREADS * PER_THREAD];

        create_in_threads(st, args);
        for (int t = 0; t < THREADS; t++)
                memcpy(all + t * PER_THREAD, args[t].slugs, sizeof(args[t].slugs));
        qsort(all, NELEM(all), sizeof(all[0]), cmp_u64);
        for (size_t i = 1; i < NELEM(all); i++)
                assert_true(all[i] == all[i - 1] + 1);
}

/* ---- secrets, settings and devices (SPEC 6.3, 6.4) ----------------------- */

static void test_secret_round_trip(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        uint64_t slug = new_subnet(st, "sec");
        unsigned char blob[] = {0, 1, 2, 0xff, 0, 7};
        struct idyl_secret sec = {.subnet = slug,
                                  .keys = "[\"a\",\"b\"]",
                                  .sealed = blob,
                                  .sealed_len = sizeof(blob),
                                  .created_at = 100,
                                  .updated_at = 100};
        struct idyl_secret got, *items = NULL;
        char msg[128];
        size_t n = 0;

        snprintf(sec.name, sizeof(sec.name), "db");
        assert_ok(store_secret_create(st, &sec, &err));
        assert_int_equal(store_secret_create(st, &sec, &err), -1);
        assert_int_equal(err.code, IDYL_E_CONFLICT);
        snprintf(msg, sizeof(msg), "secret \"db\" already exists in subnet %" PRIu64, slug);
        assert_string_equal(err.msg, msg);

        assert_ok(store_secret_get(st, slug, "db", &got, &err));
        assert_string_equal(got.keys, "[\"a\",\"b\"]");
        assert_int_equal(got.sealed_len, sizeof(blob));
        assert_memory_equal(got.sealed, blob, sizeof(blob));
        assert_int_equal(got.created_at, 100);
        secret_release(&got);

        /* update replaces keys, blob and updated_at; created_at stays */
        sec.keys = "[\"c\"]";
        sec.sealed_len = 2;
        sec.created_at = 999;
        sec.updated_at = 200;
        assert_ok(store_secret_update(st, &sec, &err));
        assert_ok(store_secret_list(st, slug, &items, &n, &err));
        assert_int_equal(n, 1);
        assert_string_equal(items[0].keys, "[\"c\"]");
        assert_null(items[0].sealed); /* lists never carry the sealed values */
        assert_int_equal(items[0].created_at, 100);
        assert_int_equal(items[0].updated_at, 200);
        secret_list_free(items, n);

        snprintf(msg, sizeof(msg), "secret \"nope\" not found in subnet %" PRIu64, slug);
        snprintf(sec.name, sizeof(sec.name), "nope");
        assert_not_found(store_secret_update(st, &sec, &err), &err, msg);
        assert_not_found(store_secret_get(st, slug, "nope", &got, &err), &err, msg);
        assert_not_found(store_secret_delete(st, slug, "nope", &err), &err, msg);
        assert_ok(store_secret_delete(st, slug, "db", &err));
        assert_ok(store_secret_list(st, slug, &items, &n, &err));
        assert_int_equal(n, 0);
        secret_list_free(items, n);
}

static void test_subnet_delete_takes_its_secrets(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        uint64_t slug = new_subnet(st, "sec");
        unsigned char blob[1] = {1};
        struct idyl_secret sec = {
            .subnet = slug, .keys = "[]", .sealed = blob, .sealed_len = 1, .created_at = 1};

        snprintf(sec.name, sizeof(sec.name), "db");
        assert_ok(store_secret_create(st, &sec, &err));
        assert_ok(store_subnet_delete(st, slug, &err));
}

/* A credential scoped to a subnet stops working with the subnet; others stay. */
static void test_subnet_delete_takes_its_tokens(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        uint64_t gone = new_subnet(st, "gone"), kept = new_subnet(st, "kept");
        struct idyl_token scoped, other, global, got;

        token_fill(&scoped, "scoped-to-gone", ROLE_AUTHOR, gone, "");
        token_fill(&other, "scoped-to-kept", ROLE_AUTHOR, kept, "");
        token_fill(&global, "operator-everywhere", ROLE_OPERATOR, 0, "");
        assert_ok(store_token_add(st, &scoped, &err));
        assert_ok(store_token_add(st, &other, &err));
        assert_ok(store_token_add(st, &global, &err));
        assert_ok(store_subnet_delete(st, gone, &err));
        assert_int_equal(store_token_find(st, scoped.hash, &got, &err), -1);
        assert_int_equal(err.code, IDYL_E_NOT_FOUND);
        assert_ok(store_token_find(st, other.hash, &got, &err));
        assert_ok(store_token_find(st, global.hash, &got, &err));
}

static void test_setting_ensure_keeps_the_first(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        char out[80];

        assert_ok(store_setting_ensure(st, "test_fpr", "sha256:aaaa", out, sizeof(out), &err));
        assert_string_equal(out, "sha256:aaaa");
        assert_ok(store_setting_ensure(st, "test_fpr", "sha256:bbbb", out, sizeof(out), &err));
        assert_string_equal(out, "sha256:aaaa");
}

static void test_network_policy_round_trip(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_subnet sn = {0}, got;

        snprintf(sn.region, sizeof(sn.region), "net");
        sn.network.set = true;
        sn.network.egress = EGRESS_RESTRICTED;
        snprintf(sn.network.cidrs, sizeof(sn.network.cidrs), "192.0.2.0/24,10.0.0.0/8");
        assert_ok(store_subnet_create(st, &sn, &err));
        assert_ok(store_subnet_get(st, sn.slug, &got, &err));
        assert_true(got.network.set);
        assert_int_equal(got.network.egress, EGRESS_RESTRICTED);
        assert_string_equal(got.network.cidrs, "192.0.2.0/24,10.0.0.0/8");
        /* {egress: all} is kept apart from no policy */
        got.network.egress = EGRESS_ALL;
        got.network.cidrs[0] = '\0';
        assert_ok(store_subnet_update(st, &got, &err));
        assert_ok(store_subnet_get(st, sn.slug, &got, &err));
        assert_true(got.network.set);
        assert_int_equal(got.network.egress, EGRESS_ALL);
        got.network.egress = EGRESS_NONE;
        assert_ok(store_subnet_update(st, &got, &err));
        assert_ok(store_subnet_get(st, sn.slug, &got, &err));
        assert_int_equal(got.network.egress, EGRESS_NONE);
        memset(&got.network, 0, sizeof(got.network));
        assert_ok(store_subnet_update(st, &got, &err));
        assert_ok(store_subnet_get(st, sn.slug, &got, &err));
        assert_false(got.network.set);
        assert_string_equal(got.network.cidrs, "");
}

static void test_devices_round_trip(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_subnet sn = {0}, got;
        struct idyl_node nd = {0}, gotn;
        struct idyl_workload w = {0}, gotw;

        snprintf(sn.region, sizeof(sn.region), "dev");
        sn.devices.set = true;
        snprintf(sn.devices.allowed, sizeof(sn.devices.allowed), "/dev/fuse,/dev/kvm");
        assert_ok(store_subnet_create(st, &sn, &err));
        assert_ok(store_subnet_get(st, sn.slug, &got, &err));
        assert_true(got.devices.set);
        assert_string_equal(got.devices.allowed, "/dev/fuse,/dev/kvm");
        /* a set but empty list is not the same as no policy */
        got.devices.allowed[0] = '\0';
        assert_ok(store_subnet_update(st, &got, &err));
        assert_ok(store_subnet_get(st, sn.slug, &got, &err));
        assert_true(got.devices.set);
        memset(&got.devices, 0, sizeof(got.devices));
        assert_ok(store_subnet_update(st, &got, &err));
        assert_ok(store_subnet_get(st, sn.slug, &got, &err));
        assert_false(got.devices.set);

        nd.subnet = sn.slug;
        snprintf(nd.name, sizeof(nd.name), "n1");
        snprintf(nd.devices, sizeof(nd.devices), "/dev/fuse");
        assert_ok(store_node_put(st, &nd, &err));
        assert_ok(store_node_get(st, sn.slug, "n1", &gotn, &err));
        assert_string_equal(gotn.devices, "/dev/fuse");

        w.subnet = sn.slug;
        snprintf(w.name, sizeof(w.name), "web");
        w.spec = "{}";
        snprintf(w.devices, sizeof(w.devices), "/dev/fuse,/dev/net/tun");
        assert_ok(store_workload_put(st, &w, &err));
        assert_ok(store_workload_get(st, sn.slug, "web", &gotw, &err));
        assert_string_equal(gotw.devices, "/dev/fuse,/dev/net/tun");
        workload_release(&gotw);
}

/* Writers that commit together (group commit) are acknowledged each with
 * its own result: a unit of work that fails takes nothing of the others
 * with it, and everything acknowledged is there after a reopen. */
#define GROUP_THREADS 8
#define GROUP_EACH    40

struct group_arg {
        struct idyl_store *st;
        uint64_t subnet;
        int id;
        int failures; /* acknowledged units that reported an error */
};

static void *write_units(void *p)
{
        struct group_arg *a = p;

        for (int i = 0; i < GROUP_EACH; i++) {
                struct idyl_err err = IDYL_ERR_INIT;
                struct idyl_workload w;
                char name[64];
                bool doomed = i % 3 == 2;

                snprintf(name, sizeof(name), "%s-%d-%d", doomed ? "doomed" : "kept", a->id, i);
                workload_fill(&w, a->subnet, name);
                if (store_tx_begin(a->st, &err) < 0 || store_workload_put(a->st, &w, &err) < 0) {
                        a->failures++;
                        continue;
                }
                if (doomed) {
                        if (store_workload_delete(a->st, a->subnet, "absent", &err) == 0)
                                a->failures++;
                        store_tx_rollback(a->st);
                } else if (store_tx_commit(a->st, &err) < 0) {
                        a->failures++;
                }
        }
        return NULL;
}

static void test_group_commit_acknowledges_each_writer(void **state)
{
        struct fixture *fx = *state;
        struct idyl_err err = IDYL_ERR_INIT;
        struct group_arg args[GROUP_THREADS];
        pthread_t tid[GROUP_THREADS];
        struct idyl_workload *ws;
        uint64_t subnet = new_subnet(fx->st, "group");
        size_t n, kept = 0;

        for (int t = 0; t < GROUP_THREADS; t++) {
                args[t] = (struct group_arg){.st = fx->st, .subnet = subnet, .id = t};
                assert_int_equal(pthread_create(&tid[t], NULL, write_units, &args[t]), 0);
        }
        for (int t = 0; t < GROUP_THREADS; t++) {
                assert_int_equal(pthread_join(tid[t], NULL), 0);
                assert_int_equal(args[t].failures, 0);
        }
        store_close(fx->st);
        fx->st = NULL;
        assert_ok(store_open(fx->url, &fx->st, &err));
        assert_ok(store_workload_list(fx->st, subnet, NULL, &ws, &n, &err));
        for (size_t i = 0; i < n; i++) {
                assert_true(strncmp(ws[i].name, "kept-", 5) == 0);
                kept++;
        }
        workload_list_free(ws, n);
        assert_int_equal(kept, GROUP_THREADS * (GROUP_EACH - GROUP_EACH / 3));
}

/* A reader outside any transaction sees what is committed, never another
 * writer's open transaction, and does not wait for it. */
struct open_tx {
        struct idyl_store *st;
        uint64_t subnet;
        pthread_mutex_t mu;
        pthread_cond_t cond;
        int stage; /* 1: written, not committed; 2: may commit; 3: committed */
};

static void open_tx_set(struct open_tx *o, int stage)
{
        pthread_mutex_lock(&o->mu);
        o->stage = stage;
        pthread_cond_broadcast(&o->cond);
        pthread_mutex_unlock(&o->mu);
}

static void open_tx_wait(struct open_tx *o, int stage)
{
        pthread_mutex_lock(&o->mu);
        while (o->stage < stage)
                pthread_cond_wait(&o->cond, &o->mu);
        pthread_mutex_unlock(&o->mu);
}

static void *hold_tx(void *p)
{
        struct open_tx *o = p;
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_workload w;

        workload_fill(&w, o->subnet, "pending");
        if (store_tx_begin(o->st, &err) < 0 || store_workload_put(o->st, &w, &err) < 0)
                return NULL;
        open_tx_set(o, 1);
        open_tx_wait(o, 2);
        if (store_tx_commit(o->st, &err) == 0)
                open_tx_set(o, 3);
        return NULL;
}

static void test_readers_see_committed_only(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct open_tx o = {.st = st, .subnet = new_subnet(st, "readers")};
        struct idyl_workload got;
        pthread_t tid;

        pthread_mutex_init(&o.mu, NULL);
        pthread_cond_init(&o.cond, NULL);
        assert_int_equal(pthread_create(&tid, NULL, hold_tx, &o), 0);
        open_tx_wait(&o, 1);
        assert_int_equal(store_workload_get(st, o.subnet, "pending", &got, &err), -1);
        assert_int_equal(err.code, IDYL_E_NOT_FOUND);
        open_tx_set(&o, 2);
        assert_int_equal(pthread_join(tid, NULL), 0);
        assert_int_equal(o.stage, 3);
        assert_ok(store_workload_get(st, o.subnet, "pending", &got, &err));
        workload_release(&got);
        pthread_mutex_destroy(&o.mu);
        pthread_cond_destroy(&o.cond);
}

/* ---- several replicas (stores that support them) ------------------------ */

struct received {
        int n;
        int resets; /* the receiver's connection made (again): "" */
        char last[160];
};

static void on_received(void *arg, const char *msg)
{
        struct received *r = arg;

        if (!*msg) {
                r->resets++; /* "may have missed some": not a message */
                return;
        }
        r->n++;
        snprintf(r->last, sizeof(r->last), "%s", msg);
}

/* One replica holds the lease; another cannot take it while it lives, and
 * takes it with a larger epoch once the holder's connection is gone; writes
 * fenced by the old epoch then fail and leave nothing. */
static void test_lease_epochs_and_fencing(void **state)
{
        struct fixture *fx = *state;
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_store *b = NULL, *c = NULL;
        struct idyl_workload w, got;
        int64_t e1 = 0, e2 = 0, e3 = 0;
        uint64_t subnet;
        int rc;

        if (!store_replicated(fx->st))
                skip();
        subnet = new_subnet(fx->st, "lease");
        assert_ok(store_open(fx->url, &b, &err));
        assert_ok(store_open(fx->url, &c, &err));
        assert_int_equal(store_lease_acquire(fx->st, &e1, &err), 1);
        assert_true(e1 > 0);
        assert_int_equal(store_lease_acquire(b, &e2, &err), 0);
        assert_ok(store_lease_renew(fx->st, e1, &err));
        /* the holder's fenced write commits */
        workload_fill(&w, subnet, "under-e1");
        assert_ok(store_tx_begin(fx->st, &err));
        assert_ok(store_workload_put(fx->st, &w, &err));
        assert_ok(store_lease_check(fx->st, e1, &err));
        assert_ok(store_tx_commit(fx->st, &err));
        /* the holder goes away (as a killed replica's connection does) */
        store_close(fx->st);
        fx->st = c;
        c = NULL;
        /* the server lets the lock go as the session ends: soon, not at once */
        for (int i = 0; i < 100 && (rc = store_lease_acquire(b, &e2, &err)) == 0; i++)
                usleep(20000);
        assert_int_equal(rc, 1);
        assert_true(e2 > e1);
        /* a write fenced by the old epoch fails, and leaves nothing */
        workload_fill(&w, subnet, "under-old-e1");
        assert_ok(store_tx_begin(fx->st, &err));
        assert_ok(store_workload_put(fx->st, &w, &err));
        assert_int_equal(store_lease_check(fx->st, e1, &err), -1);
        assert_int_equal(err.code, IDYL_E_CONFLICT);
        store_tx_rollback(fx->st);
        assert_int_equal(store_workload_get(fx->st, subnet, "under-old-e1", &got, &err), -1);
        assert_int_equal(err.code, IDYL_E_NOT_FOUND);
        assert_ok(store_workload_get(fx->st, subnet, "under-e1", &got, &err));
        workload_release(&got);
        /* renewing a lost epoch fails; the new holder renews */
        assert_int_equal(store_lease_renew(fx->st, e1, &err), -1);
        assert_ok(store_lease_renew(b, e2, &err));
        assert_int_equal(store_lease_acquire(fx->st, &e3, &err), 0);
        store_close(b);
}

/* What one replica publishes reaches the others' receive within a second. */
static void test_publish_reaches_other_replicas(void **state)
{
        struct fixture *fx = *state;
        struct idyl_err err = IDYL_ERR_INIT;
        struct received got = {0};
        struct idyl_store *b = NULL;
        struct timespec t0, t1;
        long ms;

        if (!store_replicated(fx->st))
                skip();
        assert_ok(store_open(fx->url, &b, &err));
        assert_ok(store_receive(b, 10, on_received, &got, &err)); /* LISTEN */
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_ok(store_publish(fx->st, "r1 n 100000000001/host-7", &err));
        for (int i = 0; i < 20 && got.n == 0; i++)
                assert_ok(store_receive(b, 50, on_received, &got, &err));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        assert_int_equal(got.n, 1);
        assert_string_equal(got.last, "r1 n 100000000001/host-7");
        assert_true(ms < 1000);
        /* inside a transaction it is delivered at the commit, not before */
        assert_ok(store_tx_begin(fx->st, &err));
        assert_ok(store_publish(fx->st, "r1 k 100000000001", &err));
        assert_ok(store_receive(b, 100, on_received, &got, &err));
        assert_int_equal(got.n, 1);
        assert_ok(store_tx_commit(fx->st, &err));
        for (int i = 0; i < 20 && got.n == 1; i++)
                assert_ok(store_receive(b, 50, on_received, &got, &err));
        assert_int_equal(got.n, 2);
        assert_string_equal(got.last, "r1 k 100000000001");
        store_close(b);
}

/* A publish after the server cut every connection (a restart, a failover)
 * is not lost: the first one on the cut connection makes it again. A lost
 * publish is a lost scheduler kick, and a workload left pending. */
static void test_publish_survives_a_cut_connection(void **state)
{
        struct fixture *fx = *state;
        struct idyl_err err = IDYL_ERR_INIT;
        struct received got = {0};
        struct idyl_store *b = NULL;
        PGconn *admin;
        PGresult *res;

        if (!store_replicated(fx->st))
                skip();
        assert_ok(store_open(fx->url, &b, &err));
        assert_ok(store_receive(b, 10, on_received, &got, &err)); /* LISTEN */
        assert_ok(store_publish(fx->st, "r1 n before", &err));
        for (int i = 0; i < 20 && got.n == 0; i++)
                assert_ok(store_receive(b, 50, on_received, &got, &err));
        assert_int_equal(got.n, 1);
        /* the server ends every other session, as a restart does */
        admin = PQconnectdb(fx->url);
        assert_int_equal(PQstatus(admin), CONNECTION_OK);
        res = PQexec(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid <> pg_backend_pid()");
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        PQclear(res);
        PQfinish(admin);
        /* the receiver finds its connection cut, makes it again, LISTENs */
        for (int i = 0; i < 100 && got.resets < 2; i++)
                store_receive(b, 20, on_received, &got, &err);
        assert_int_equal(got.resets, 2);
        assert_ok(store_publish(fx->st, "r1 k after", &err));
        for (int i = 0; i < 20 && got.n == 1; i++)
                store_receive(b, 50, on_received, &got, &err);
        assert_int_equal(got.n, 2);
        assert_string_equal(got.last, "r1 k after");
        store_close(b);
}

/* Replicas advertise their address; the last advertisement of an id wins. */
static void test_replicas_advertise(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_replica *rs;
        size_t n;

        if (!store_replicated(st))
                skip();
        assert_ok(store_replica_advertise(st, "r1", "https://a:7480", &err));
        assert_ok(store_replica_advertise(st, "r2", "https://b:7480", &err));
        assert_ok(store_replica_advertise(st, "r1", "https://a2:7480", &err));
        assert_ok(store_replica_list(st, &rs, &n, &err));
        assert_int_equal(n, 2);
        assert_string_equal(rs[0].id, "r1");
        assert_string_equal(rs[0].addr, "https://a2:7480");
        assert_string_equal(rs[1].addr, "https://b:7480");
        assert_true(rs[0].seen_ms_ago >= 0 && rs[0].seen_ms_ago < 5000);
        free(rs);
}

/* Runs the whole suite against the empty store `url` opens. Returns the
 * number of failed cases. */
/* A conformance test: each runs on a store handle of its own, opened on
 * suite_url before and closed after, over the data the tests before it left. */
#define STORE_TEST(test) cmocka_unit_test_setup_teardown(test, open_store, close_store)

/* ---- pages of lists --------------------------------------------------------- */

/* One page of some list, its item keys appended to keys (comma-separated). */
typedef int (*page_fn)(struct idyl_store *st, uint64_t subnet, struct store_page *pg, char *keys,
                       size_t size, size_t *n, struct idyl_err *err);

static void append_key(char *keys, size_t size, const char *key)
{
        size_t len = strlen(keys);

        snprintf(keys + len, size - len, "%s%s", len ? "," : "", key);
}

static int workload_page_keys(struct idyl_store *st, uint64_t subnet, struct store_page *pg,
                              char *keys, size_t size, size_t *n, struct idyl_err *err)
{
        struct idyl_workload *items = NULL;

        if (store_workload_page(st, subnet, pg, &items, n, err) < 0)
                return -1;
        for (size_t i = 0; i < *n; i++) {
                assert_non_null(items[i].spec);
                append_key(keys, size, items[i].name);
        }
        workload_list_free(items, *n);
        return 0;
}

static int node_page_keys(struct idyl_store *st, uint64_t subnet, struct store_page *pg, char *keys,
                          size_t size, size_t *n, struct idyl_err *err)
{
        struct idyl_node *items = NULL;

        if (store_node_page(st, subnet, pg, &items, n, err) < 0)
                return -1;
        for (size_t i = 0; i < *n; i++)
                append_key(keys, size, items[i].name);
        free(items);
        return 0;
}

static int secret_page_keys(struct idyl_store *st, uint64_t subnet, struct store_page *pg,
                            char *keys, size_t size, size_t *n, struct idyl_err *err)
{
        struct idyl_secret *items = NULL;

        if (store_secret_page(st, subnet, pg, &items, n, err) < 0)
                return -1;
        for (size_t i = 0; i < *n; i++) {
                assert_null(items[i].sealed);
                append_key(keys, size, items[i].name);
        }
        secret_list_free(items, *n);
        return 0;
}

static int token_page_keys(struct idyl_store *st, uint64_t subnet, struct store_page *pg,
                           char *keys, size_t size, size_t *n, struct idyl_err *err)
{
        struct idyl_token *items = NULL;

        if (store_token_page(st, subnet, pg, &items, n, err) < 0)
                return -1;
        for (size_t i = 0; i < *n; i++)
                append_key(keys, size, items[i].node);
        free(items);
        return 0;
}

static int subnet_page_keys(struct idyl_store *st, uint64_t subnet, struct store_page *pg,
                            char *keys, size_t size, size_t *n, struct idyl_err *err)
{
        struct idyl_subnet *items = NULL;
        char slug[SUBNET_SLUG_BUFLEN];

        (void)subnet;
        if (store_subnet_page(st, pg, &items, n, err) < 0)
                return -1;
        for (size_t i = 0; i < *n; i++)
                append_key(keys, size, subnet_slug_format(items[i].slug, slug));
        free(items);
        return 0;
}

/* Walks every page of a list with `limit`, from the start: each page but
 * the last is full and names where the next starts, the last names none.
 * Returns the number of pages; keys gets every item's key in order. */
static size_t walk_pages(struct idyl_store *st, uint64_t subnet, page_fn fn, size_t limit,
                         char *keys, size_t size)
{
        struct idyl_err err = IDYL_ERR_INIT;
        struct store_page pg = {.limit = limit};
        size_t pages = 0, n;

        keys[0] = '\0';
        do {
                assert_ok(fn(st, subnet, &pg, keys, size, &n, &err));
                pages++;
                assert_true(n <= limit);
                if (pg.next[0])
                        assert_int_equal(n, limit);
                memcpy(pg.after, pg.next, sizeof(pg.after));
        } while (pg.after[0] && pages < 1000);
        return pages;
}

/* Names that sort differently bytewise than by a locale ('-' < '.' < digits). */
static const char *const page_names[] = {"b1", "a-2", "a0", "c", "a-1", "b-0", "a"};
#define PAGE_NAMES_SORTED "a,a-1,a-2,a0,b-0,b1,c"

static void test_pages_of_workloads(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_workload w;
        struct store_page pg = {.limit = 3};
        uint64_t a = new_subnet(st, "pages"), b = new_subnet(st, "pages");
        char keys[512];
        size_t n;

        for (size_t i = 0; i < NELEM(page_names); i++) {
                workload_fill(&w, a, page_names[i]);
                assert_ok(store_workload_put(st, &w, &err));
        }
        workload_fill(&w, b, "a-3"); /* another subnet's: never in a's pages */
        assert_ok(store_workload_put(st, &w, &err));

        assert_int_equal(walk_pages(st, a, workload_page_keys, 3, keys, sizeof(keys)), 3);
        assert_string_equal(keys, PAGE_NAMES_SORTED);
        assert_int_equal(walk_pages(st, a, workload_page_keys, 1, keys, sizeof(keys)), 7);
        assert_string_equal(keys, PAGE_NAMES_SORTED);
        /* exactly a page's worth: one page, no next */
        assert_int_equal(walk_pages(st, a, workload_page_keys, 7, keys, sizeof(keys)), 1);
        assert_string_equal(keys, PAGE_NAMES_SORTED);
        assert_int_equal(walk_pages(st, b, workload_page_keys, 500, keys, sizeof(keys)), 1);
        assert_string_equal(keys, "a-3");

        /* the page after a workload deleted in between starts after its name */
        keys[0] = '\0';
        assert_ok(workload_page_keys(st, a, &pg, keys, sizeof(keys), &n, &err));
        assert_string_equal(pg.next, "a-2");
        assert_ok(store_workload_delete(st, a, "a-2", &err));
        memcpy(pg.after, pg.next, sizeof(pg.after));
        keys[0] = '\0';
        assert_ok(workload_page_keys(st, a, &pg, keys, sizeof(keys), &n, &err));
        assert_string_equal(keys, "a0,b-0,b1");
        assert_string_equal(pg.next, "b1");

        /* a key that no workload can have, or no limit: refused */
        snprintf(pg.after, sizeof(pg.after), "Not A Name");
        assert_int_equal(workload_page_keys(st, a, &pg, keys, sizeof(keys), &n, &err), -1);
        assert_int_equal(err.code, IDYL_E_INVALID);
        assert_string_equal(err.msg, "invalid page key \"Not A Name\"");
        pg.after[0] = '\0';
        pg.limit = 0;
        assert_int_equal(workload_page_keys(st, a, &pg, keys, sizeof(keys), &n, &err), -1);
        assert_int_equal(err.code, IDYL_E_INVALID);
}

static void test_pages_of_nodes_and_secrets(void **state)
{
        static const unsigned char blob[] = {1, 2, 3};
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_node nd;
        struct store_page pg = {.limit = 2};
        uint64_t a = new_subnet(st, "pages");
        char keys[512];
        size_t n;

        for (size_t i = 0; i < NELEM(page_names); i++) {
                struct idyl_secret sec = {.subnet = a,
                                          .keys = "[\"k\"]",
                                          .sealed = (unsigned char *)blob,
                                          .sealed_len = sizeof(blob)};

                node_fill(&nd, a, page_names[i]);
                assert_ok(store_node_put(st, &nd, &err));
                snprintf(sec.name, sizeof(sec.name), "%s", page_names[i]);
                assert_ok(store_secret_create(st, &sec, &err));
        }
        node_fill(&nd, a, "a.1"); /* node names may hold '.', between '-' and digits */
        assert_ok(store_node_put(st, &nd, &err));

        assert_int_equal(walk_pages(st, a, node_page_keys, 2, keys, sizeof(keys)), 4);
        assert_string_equal(keys, "a,a-1,a-2,a.1,a0,b-0,b1,c");
        assert_int_equal(walk_pages(st, a, secret_page_keys, 3, keys, sizeof(keys)), 3);
        assert_string_equal(keys, PAGE_NAMES_SORTED);

        snprintf(pg.after, sizeof(pg.after), "-a");
        assert_int_equal(node_page_keys(st, a, &pg, keys, sizeof(keys), &n, &err), -1);
        assert_string_equal(err.msg, "invalid page key \"-a\"");
        assert_int_equal(secret_page_keys(st, a, &pg, keys, sizeof(keys), &n, &err), -1);
        assert_string_equal(err.msg, "invalid page key \"-a\"");
}

static void test_pages_of_subnets(void **state)
{
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_subnet *items = NULL;
        struct store_page pg = {.limit = 2};
        char keys[8192], want[8192] = "", slug[SUBNET_SLUG_BUFLEN];
        size_t n = 0, pages;

        for (int i = 0; i < 5; i++)
                new_subnet(st, "pages");
        assert_ok(store_subnet_list(st, &items, &n, &err));
        for (size_t i = 0; i < n; i++)
                append_key(want, sizeof(want), subnet_slug_format(items[i].slug, slug));
        free(items);
        pages = walk_pages(st, 0, subnet_page_keys, 2, keys, sizeof(keys));
        assert_int_equal(pages, (n + 1) / 2);
        assert_string_equal(keys, want);

        snprintf(pg.after, sizeof(pg.after), "12");
        assert_int_equal(subnet_page_keys(st, 0, &pg, keys, sizeof(keys), &n, &err), -1);
        assert_int_equal(err.code, IDYL_E_INVALID);
        assert_string_equal(err.msg, "invalid page key \"12\"");
}

/* Tokens page in insertion order within a second, as they list; a token
 * revoked at a page's end does not end the walk. */
static void test_pages_of_tokens(void **state)
{
        static const char *const bad[] = {"1700000000", "1700000000.0", "x.1", "1.-1", "01.1"};
        struct idyl_store *st = store_of(state);
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_token t, gone, *items = NULL;
        struct store_page pg = {.limit = 2};
        uint64_t a = new_subnet(st, "pages");
        char keys[512], seed[16], node[16];
        size_t n = 0;

        /* t5 .. t1 in the same second, then t0 a second earlier */
        for (int i = 5; i >= 0; i--) {
                snprintf(seed, sizeof(seed), "page-token-%d", i);
                snprintf(node, sizeof(node), "t%d", i);
                token_fill(&t, seed, ROLE_PROVIDER, a, node);
                if (i == 0)
                        t.created_at--;
                assert_ok(store_token_add(st, &t, &err));
        }
        assert_int_equal(walk_pages(st, a, token_page_keys, 2, keys, sizeof(keys)), 3);
        assert_string_equal(keys, "t0,t5,t4,t3,t2,t1");
        assert_ok(store_token_list(st, a, &items, &n, &err));
        assert_int_equal(n, 6);
        assert_string_equal(items[1].node, "t5");
        free(items);

        keys[0] = '\0';
        assert_ok(token_page_keys(st, a, &pg, keys, sizeof(keys), &n, &err));
        assert_string_equal(keys, "t0,t5");
        token_fill(&t, "page-token-5", ROLE_PROVIDER, a, "t5");
        t.hash[TOKEN_ID_LEN] = '\0';
        assert_ok(store_token_revoke(st, t.hash, &gone, &err));
        memcpy(pg.after, pg.next, sizeof(pg.after));
        keys[0] = '\0';
        assert_ok(token_page_keys(st, a, &pg, keys, sizeof(keys), &n, &err));
        assert_string_equal(keys, "t4,t3");

        for (size_t i = 0; i < NELEM(bad); i++) {
                snprintf(pg.after, sizeof(pg.after), "%s", bad[i]);
                assert_int_equal(token_page_keys(st, a, &pg, keys, sizeof(keys), &n, &err), -1);
                assert_int_equal(err.code, IDYL_E_INVALID);
        }
}

static int store_conformance_run(const char *url)
{
        const struct CMUnitTest tests[] = {
            STORE_TEST(test_subnet_slugs_start_at_first),
            STORE_TEST(test_found_credentials_go_at_once),
            STORE_TEST(test_subnet_round_trip_policy),
            STORE_TEST(test_subnet_update_replaces),
            STORE_TEST(test_subnet_not_found),
            STORE_TEST(test_subnet_delete_never_reuses_slug),
            STORE_TEST(test_subnet_list),
            STORE_TEST(test_workload_put_get),
            STORE_TEST(test_workload_every_phase_and_source),
            STORE_TEST(test_workload_not_found),
            STORE_TEST(test_workload_list),
            STORE_TEST(test_workload_usage_and_unplaced),
            STORE_TEST(test_workload_delete_removes_events),
            STORE_TEST(test_events),
            STORE_TEST(test_node_put_get),
            STORE_TEST(test_node_list),
            STORE_TEST(test_node_bump_assignments),
            STORE_TEST(test_tokens),
            STORE_TEST(test_node_delete_removes_its_credentials),
            STORE_TEST(test_node_replica),
            STORE_TEST(test_tx_rollback_leaves_nothing),
            STORE_TEST(test_tx_failure_then_rollback),
            STORE_TEST(test_reopen_keeps_data),
            STORE_TEST(test_group_commit_acknowledges_each_writer),
            STORE_TEST(test_readers_see_committed_only),
            STORE_TEST(test_threads_get_distinct_slugs),
            STORE_TEST(test_secret_round_trip),
            STORE_TEST(test_history_prune),
            /* after test_history_prune, which counts every record */
            STORE_TEST(test_audit_pending_commits_with_the_change),
            STORE_TEST(test_audit_pending_fails_with_the_change),
            STORE_TEST(test_subnet_delete_takes_its_tokens),
            STORE_TEST(test_subnet_delete_takes_its_secrets),
            STORE_TEST(test_setting_ensure_keeps_the_first),
            STORE_TEST(test_devices_round_trip),
            STORE_TEST(test_network_policy_round_trip),
            STORE_TEST(test_lease_epochs_and_fencing),
            STORE_TEST(test_publish_reaches_other_replicas),
            STORE_TEST(test_publish_survives_a_cut_connection),
            STORE_TEST(test_replicas_advertise),
            STORE_TEST(test_pages_of_workloads),
            STORE_TEST(test_pages_of_nodes_and_secrets),
            STORE_TEST(test_pages_of_subnets),
            STORE_TEST(test_pages_of_tokens),
        };

        suite_url = url;
        return cmocka_run_group_tests_name(url, tests, NULL, NULL);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
        (void)sb;
        (void)flag;
        (void)ftw;
        return remove(path);
}

/* ---- SQLite only: a data directory of an older idyld ------------------------ */

static const char *upgrade_dir, *durable_dir;

/* A nodes table as idyld made it before the eligibility column: opening
 * the store adds the column (every node eligible), and it then keeps what
 * is written to it. */
static void test_sqlite_adds_eligibility_column(void **state)
{
        static const char old_nodes[] =
            "CREATE TABLE nodes(subnet INTEGER NOT NULL, name TEXT NOT NULL, admission TEXT NOT "
            "NULL, simulated INTEGER NOT NULL, profile TEXT NOT NULL, provider TEXT NOT NULL, "
            "handler TEXT NOT NULL, isolation TEXT NOT NULL, backend TEXT NOT NULL, runtime_ready "
            "INTEGER NOT NULL, reason TEXT NOT NULL, microvm_gpu INTEGER NOT NULL, platform TEXT "
            "NOT NULL, cpu_milli INTEGER NOT NULL, memory_bytes INTEGER NOT NULL, gpus INTEGER NOT "
            "NULL, last_heartbeat INTEGER NOT NULL, down INTEGER NOT NULL, assign_version INTEGER "
            "NOT NULL, created_at INTEGER NOT NULL, devices TEXT NOT NULL DEFAULT '', PRIMARY "
            "KEY(subnet, name));"
            "INSERT INTO nodes VALUES(100000000001, 'old', 'admitted', 0, 'docker', 'docker', "
            "'runc', 'container', '', 1, '', 0, 'linux/amd64', 1000, 1073741824, 0, 0, 0, 1, 0, "
            "'');";
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_store *st = NULL;
        struct idyl_node nd;
        char path[4200];
        sqlite3 *db;

        (void)state;
        assert_int_equal(mkdir(upgrade_dir, 0700), 0);
        snprintf(path, sizeof(path), "%s/idyl.db", upgrade_dir);
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, old_nodes, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);

        assert_ok(store_open(upgrade_dir, &st, &err));
        assert_ok(store_node_get(st, 100000000001ULL, "old", &nd, &err));
        assert_int_equal(nd.eligibility, NODE_ELIGIBLE);
        assert_int_equal(nd.cpu_milli, 1000);
        nd.eligibility = NODE_DRAINING;
        assert_ok(store_node_put(st, &nd, &err));
        store_close(st);
        /* opened again: the column is there, nothing is added twice */
        assert_ok(store_open(upgrade_dir, &st, &err));
        assert_ok(store_node_get(st, 100000000001ULL, "old", &nd, &err));
        assert_int_equal(nd.eligibility, NODE_DRAINING);
        store_close(st);
}

/* Pages of the file at fd still to be written to disk, by cachestat(2)
 * (Linux 6.5): dirty or under writeback. -1 where the kernel lacks it. */
static long unsynced_pages(int fd)
{
        struct {
                uint64_t off, len;
        } range = {0, 0}; /* len 0: to the end of the file */
        struct {
                uint64_t cache, dirty, writeback, evicted, recently_evicted;
        } cs;

        if (syscall(451, fd, &range, &cs, 0) < 0)
                return -1;
        return (long)(cs.dirty + cs.writeback);
}

/* An acknowledged write is on disk, not only in the page cache: the log
 * has no unsynced page once every writer of a group commit is answered,
 * whether the writes came one at a time or many at once. */
static void test_sqlite_acknowledged_writes_are_synced(void **state)
{
        struct idyl_err err = IDYL_ERR_INIT;
        struct thread_arg args[THREADS];
        struct idyl_subnet *items = NULL;
        struct idyl_store *st = NULL;
        size_t n = 0;
        char path[4200];
        int fd;

        (void)state;
        assert_ok(store_open(durable_dir, &st, &err));
        snprintf(path, sizeof(path), "%s/idyl.db-wal", durable_dir);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        if (unsynced_pages(fd) < 0) {
                close(fd);
                store_close(st);
                skip(); /* a kernel without cachestat cannot tell */
        }
        new_subnet(st, "one");
        assert_int_equal(unsynced_pages(fd), 0);
        create_in_threads(st, args);
        assert_int_equal(unsynced_pages(fd), 0);
        close(fd);
        store_close(st);
        /* and every one of them is there after a restart */
        assert_ok(store_open(durable_dir, &st, &err));
        assert_ok(store_subnet_list(st, &items, &n, &err));
        assert_int_equal(n, 1 + THREADS * PER_THREAD);
        free(items);
        store_close(st);
}

static int sqlite_upgrade_run(const char *dir, const char *durable)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_sqlite_adds_eligibility_column),
            cmocka_unit_test(test_sqlite_acknowledged_writes_are_synced),
        };

        upgrade_dir = dir;
        durable_dir = durable;
        return cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
}

int main(void)
{
        const char *tmp = getenv("TMPDIR");
        const char *extra = getenv("IDYL_TEST_STORE_URL");
        char dir[4096], data[4200], durable[4200];
        int failed;

        snprintf(dir, sizeof(dir), "%s/idyl-store-test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 1;
        }
        /* a data directory the store creates itself */
        snprintf(data, sizeof(data), "%s/data", dir);
        failed = store_conformance_run(data);
        snprintf(data, sizeof(data), "%s/old", dir);
        snprintf(durable, sizeof(durable), "%s/durable", dir);
        failed += sqlite_upgrade_run(data, durable);
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        if (extra && *extra)
                failed += store_conformance_run(extra);
        return failed;
}
