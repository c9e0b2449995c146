/* Proves idyld's server layer without a daemon: each test runs the real
 * server in this process (libmicrohttpd on a loopback port, the real route
 * table and handlers) over a SQLite store in a temporary directory, as
 * fuzz/fuzz_http.c does, and drives it over HTTP with libcurl. The
 * scheduling loop is not started: the tests run a pass themselves
 * (scheduler_run_subnet, scheduler_check_health), so every step is
 * deterministic. Asserted: dispatch and authorization through the route
 * table, one scheduler pass, the policy re-check of waiting and lost
 * workloads, and a store failure answered as an error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <ftw.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/messages.h"
#include "core/subnet.h"
#include "server/server.h"
#include "util/clock.h"

enum caller { OPERATOR, AUTHOR, PROVIDER, NODE, OTHER_AUTHOR, NONE, CALLERS };

struct fixture {
        struct idyl_server srv;
        char dir[64];
        char slug[SUBNET_SLUG_BUFLEN];
        uint64_t subnet;
        char secrets[CALLERS][80];
};

struct reply {
        long status;
        json_t *body;      /* NULL when empty or not JSON */
        char warning[512]; /* the first Warning header's value */
};

static void add_token(struct fixture *f, enum caller who, enum idyl_role role, uint64_t subnet,
                      const char *node)
{
        struct idyl_token t = {.role = role, .subnet = subnet};
        struct idyl_err err = IDYL_ERR_INIT;

        assert_int_equal(auth_new_secret(f->secrets[who], sizeof(f->secrets[who]), &err), 0);
        auth_hash_token(f->secrets[who], t.hash);
        snprintf(t.node, sizeof(t.node), "%s", node ? node : "");
        assert_int_equal(store_token_add(f->srv.store, &t, &err), 0);
}

static uint64_t make_subnet(struct fixture *f, unsigned classes)
{
        struct idyl_subnet sn = IDYL_SUBNET_INIT;
        struct idyl_err err = IDYL_ERR_INIT;

        snprintf(sn.region, sizeof(sn.region), "us-east");
        sn.policy.set = classes != 0;
        sn.policy.allowed_classes = classes;
        assert_int_equal(store_subnet_create(f->srv.store, &sn, &err), 0);
        return sn.slug;
}

/* An admitted, ready, heartbeating Docker node with 4 CPUs and 8Gi. */
static void make_node(struct fixture *f, const char *name)
{
        struct idyl_node n = IDYL_NODE_INIT;
        struct idyl_err err = IDYL_ERR_INIT;

        n.subnet = f->subnet;
        n.admission = NODE_ADMITTED;
        n.profile = PROFILE_DOCKER;
        n.isolation = ISOLATION_CONTAINER;
        n.runtime_ready = true;
        snprintf(n.name, sizeof(n.name), "%s", name);
        snprintf(n.provider, sizeof(n.provider), "docker");
        snprintf(n.handler, sizeof(n.handler), "runc");
        snprintf(n.platform, sizeof(n.platform), "linux/amd64");
        n.cpu_milli = 4000;
        n.memory_bytes = 8LL << 30;
        n.last_heartbeat = now_ms();
        assert_int_equal(store_node_put(f->srv.store, &n, &err), 0);
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        struct idyl_err err = IDYL_ERR_INIT;

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/idyl-test-server.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        assert_int_equal(store_open(f->dir, &f->srv.store, &err), 0);
        f->subnet =
            make_subnet(f, ISOLATION_BIT(ISOLATION_CONTAINER) | ISOLATION_BIT(ISOLATION_MICROVM));
        subnet_slug_format(f->subnet, f->slug);
        make_node(f, "n1");
        add_token(f, OPERATOR, ROLE_OPERATOR, 0, NULL);
        add_token(f, AUTHOR, ROLE_AUTHOR, 0, NULL);
        add_token(f, PROVIDER, ROLE_PROVIDER, 0, NULL);
        add_token(f, NODE, ROLE_PROVIDER, f->subnet, "n1");
        add_token(f, OTHER_AUTHOR, ROLE_AUTHOR, f->subnet + 1, NULL);
        f->srv.node_ttl = 30;
        f->srv.client_timeout = 2;
        if (server_start(&f->srv, "127.0.0.1:0", &err) < 0)
                fail_msg("server_start: %s", err.msg);
        *state = f;
        return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path);
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        scheduler_stop(&f->srv); /* a test that started the loop and failed midway */
        server_stop(&f->srv);
        scheduler_free(&f->srv);
        store_close(f->srv.store);
        nftw(f->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
        free(f);
        return 0;
}

/* ---- one HTTP exchange ----------------------------------------------------- */

struct sink {
        char *data;
        size_t len;
        struct reply *reply;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
        struct sink *s = arg;
        char *grown = realloc(s->data, s->len + size * n + 1);

        assert_non_null(grown);
        s->data = grown;
        memcpy(s->data + s->len, p, size * n);
        s->len += size * n;
        s->data[s->len] = '\0';
        return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
        struct sink *s = arg;
        size_t len = size * n;

        if (len > 9 && strncasecmp(p, "Warning: ", 9) == 0 && !s->reply->warning[0])
                snprintf(s->reply->warning, sizeof(s->reply->warning), "%.*s", (int)(len - 11),
                         p + 9);
        return len;
}

/* Sends METHOD PATH as `who` with an optional JSON body; fills *r. */
static void call(struct fixture *f, enum caller who, const char *method, const char *path,
                 const char *body, struct reply *r)
{
        struct sink s = {.reply = r};
        struct curl_slist *headers = NULL;
        char url[512], auth[128];
        CURL *c = curl_easy_init();

        memset(r, 0, sizeof(*r));
        assert_non_null(c);
        snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", f->srv.port, path);
        if (who != NONE) {
                snprintf(auth, sizeof(auth), "Authorization: Bearer %s", f->secrets[who]);
                headers = curl_slist_append(headers, auth);
        }
        if (body) {
                headers = curl_slist_append(headers, "Content-Type: application/json");
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        }
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &s);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
        assert_int_equal(curl_easy_perform(c), CURLE_OK);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        if (s.data)
                r->body = json_loads(s.data, 0, NULL);
        free(s.data);
        curl_slist_free_all(headers);
        curl_easy_cleanup(c);
}

static void reply_release(struct reply *r)
{
        json_decref(r->body);
        r->body = NULL;
}

static const char *error_code(const struct reply *r)
{
        return json_string_value(json_object_get(json_object_get(r->body, "error"), "code"));
}

static const char *error_message(const struct reply *r)
{
        return json_string_value(json_object_get(json_object_get(r->body, "error"), "message"));
}

/* Sends the request and asserts its status and, when given, the error's
 * code and message. */
static void expect(struct fixture *f, enum caller who, const char *method, const char *path,
                   const char *body, long status, const char *code, const char *message)
{
        struct reply r;

        call(f, who, method, path, body, &r);
        assert_int_equal(r.status, status);
        if (code)
                assert_string_equal(error_code(&r), code);
        if (message)
                assert_string_equal(error_message(&r), message);
        reply_release(&r);
}

/* The route's pattern with {slug} the fixture's subnet and {name} "web"
 * (workloads) or "n1" (nodes). */
static void route_path(const struct fixture *f, const char *pattern, char *out, size_t size)
{
        bool nodes = strstr(pattern, "/nodes/") != NULL;
        size_t len = 0;

        for (const char *p = pattern; *p && len + 20 < size;) {
                const char *v;

                if (*p != '{') {
                        out[len++] = *p++;
                        continue;
                }
                v = strncmp(p, "{slug}", 6) == 0 ? f->slug
                    : strncmp(p, "{id}", 4) == 0 ? "000000000000"
                    : nodes                      ? "n1"
                                                 : "web";
                len += (size_t)snprintf(out + len, size - len, "%s", v);
                p = strchr(p, '}') + 1;
        }
        out[len] = '\0';
}

static struct idyl_workload get_workload(struct fixture *f, const char *name)
{
        struct idyl_workload w = IDYL_WORKLOAD_INIT;
        struct idyl_err err = IDYL_ERR_INIT;

        assert_int_equal(store_workload_get(f->srv.store, f->subnet, name, &w, &err), 0);
        return w;
}

/* The types of a workload's event records, joined by commas. */
static void event_types(struct fixture *f, const char *name, char *out, size_t size)
{
        struct idyl_event *evs = NULL;
        struct idyl_err err = IDYL_ERR_INIT;
        size_t n = 0, len = 0;

        out[0] = '\0';
        assert_int_equal(store_event_list(f->srv.store, f->subnet, name, &evs, &n, &err), 0);
        for (size_t i = 0; i < n; i++)
                len += (size_t)snprintf(out + len, size - len, "%s%s", i ? "," : "", evs[i].type);
        free(evs);
}

/* Asserts the stored workload's phase, node and status message. */
static void expect_workload(struct fixture *f, const char *name, enum workload_phase phase,
                            const char *node, const char *message)
{
        struct idyl_workload w = get_workload(f, name);

        assert_string_equal(workload_phase_name(w.phase), workload_phase_name(phase));
        assert_string_equal(w.node, node);
        assert_string_equal(w.message, message);
        assert_true(w.updated_at > 0);
        workload_release(&w);
}

/* Deploys `name` of class `cls`, asking for `cpu` CPUs (NULL: the default). */
static void deploy_with(struct fixture *f, const char *name, const char *cls, const char *cpu,
                        long want_status)
{
        char path[128], body[320], resources[64] = "";
        struct reply r;

        if (cpu)
                snprintf(resources, sizeof(resources), ",\"resources\":{\"cpu\":\"%s\"}", cpu);
        snprintf(path, sizeof(path), "/v1/subnets/%s/workloads", f->slug);
        snprintf(body, sizeof(body),
                 "{\"name\":\"%s\",\"spec\":{\"image\":\"nginx:1.27-alpine\",\"isolation\":{"
                 "\"class\":\"%s\"}%s}}",
                 name, cls, resources);
        call(f, AUTHOR, "POST", path, body, &r);
        if (r.status != want_status)
                fail_msg("deploy %s: %ld %s", name, r.status, error_message(&r));
        reply_release(&r);
}

static void deploy(struct fixture *f, const char *name, const char *cls, long want_status)
{
        deploy_with(f, name, cls, NULL, want_status);
}

static void run_pass(struct fixture *f)
{
        struct idyl_err err = IDYL_ERR_INIT;

        if (scheduler_run_subnet(&f->srv, f->subnet, &err) < 0)
                fail_msg("scheduler pass: %s", err.msg);
}

/* ---- dispatch and authorization -------------------------------------------- */

static void test_dispatch(void **state)
{
        struct fixture *f = *state;
        char path[128];
        struct reply r;

        call(f, NONE, "GET", "/healthz", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(json_string_value(json_object_get(r.body, "status")), "ok");
        reply_release(&r);

        snprintf(path, sizeof(path), "/v1/subnets/%s", f->slug);
        expect(f, NONE, "GET", path, NULL, 401, "unauthorized",
               "missing credential: send Authorization: Bearer <token>");
        call(f, OPERATOR, "GET", path, NULL, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(json_string_value(json_object_get(r.body, "slug")), f->slug);
        reply_release(&r);
        expect(f, OPERATOR, "PUT", path, "{}", 405, "method_not_allowed", NULL);
        expect(f, OPERATOR, "GET", "/v1/nothing-here", NULL, 404, "not_found", NULL);
        snprintf(path, sizeof(path), "/v1/subnets/%s/workloads", f->slug);
        expect(f, AUTHOR, "POST", path, NULL, 400, "invalid_argument",
               "request body is required: a JSON object");
}

/* Every route refuses, before its handler runs, each role it does not admit. */
static void test_route_roles(void **state)
{
        static const struct {
                enum caller who;
                enum idyl_role role;
        } callers[] = {{OPERATOR, ROLE_OPERATOR}, {AUTHOR, ROLE_AUTHOR}, {PROVIDER, ROLE_PROVIDER}};
        struct fixture *f = *state;
        struct idyl_workload w = IDYL_WORKLOAD_INIT;
        struct idyl_node n = IDYL_NODE_INIT;
        struct idyl_err err = IDYL_ERR_INIT;
        size_t refused = 0;

        for (size_t i = 0; i < server_nroutes; i++) {
                const struct route *rt = &server_routes[i];
                char path[256], want[400];

                if (rt->flags & ROUTE_PUBLIC)
                        continue;
                route_path(f, rt->pattern, path, sizeof(path));
                for (size_t c = 0; c < sizeof(callers) / sizeof(callers[0]); c++) {
                        if (rt->roles & ROLE_BIT(callers[c].role))
                                continue;
                        snprintf(want, sizeof(want), "role %s may not %s %s",
                                 idyl_role_name(callers[c].role), rt->method, path);
                        expect(f, callers[c].who, rt->method, path,
                               (rt->flags & ROUTE_BODY) ? "{}" : NULL, 403, "forbidden", want);
                        refused++;
                }
        }
        assert_true(refused > 10);
        /* nothing a refused call could have done happened */
        assert_int_equal(store_workload_get(f->srv.store, f->subnet, "web", &w, &err), -1);
        assert_int_equal(err.code, IDYL_E_NOT_FOUND);
        assert_int_equal(store_node_get(f->srv.store, f->subnet, "n1", &n, &err), 0);
        assert_int_equal(n.admission, NODE_ADMITTED);
}

static void test_scoped_caller(void **state)
{
        struct fixture *f = *state;
        char path[128], want[256], other[SUBNET_SLUG_BUFLEN];

        subnet_slug_format(f->subnet + 1, other);
        snprintf(path, sizeof(path), "/v1/subnets/%s/workloads", f->slug);
        snprintf(want, sizeof(want),
                 "this credential is scoped to subnet \"%s\" and may not GET %s", other, path);
        expect(f, OTHER_AUTHOR, "GET", path, NULL, 403, "forbidden", want);

        /* a node credential acts only for its own node */
        snprintf(path, sizeof(path), "/v1/subnets/%s/nodes/n2", f->slug);
        expect(f, NODE, "GET", path, NULL, 403, "forbidden",
               "this credential cannot act for node \"n2\"");
        snprintf(path, sizeof(path), "/v1/subnets/%s/nodes/n1", f->slug);
        expect(f, NODE, "GET", path, NULL, 200, NULL, NULL);
}

/* ---- the lifecycle through the scheduler ------------------------------------- */

/* Deploys a container asking for `cpu` CPUs. */
static void deploy_cpu(struct fixture *f, const char *name, const char *cpu)
{
        deploy_with(f, name, "container", cpu, 201);
}

/* Waits up to 5 s for the running loop to leave `name` with `message`. */
static void await_message(struct fixture *f, const char *name, const char *message)
{
        int64_t until = mono_ms() + 5000;
        struct idyl_workload w = IDYL_WORKLOAD_INIT;

        for (;;) {
                w = get_workload(f, name);
                if (strcmp(w.message, message) == 0 || mono_ms() > until)
                        break;
                workload_release(&w);
                nanosleep(&(struct timespec){0, 5000000}, NULL);
        }
        assert_string_equal(w.message, message);
        workload_release(&w);
}

/* Asserts the types of a workload's event records, joined by commas. */
static void expect_events(struct fixture *f, const char *name, const char *types)
{
        char got[256];

        event_types(f, name, got, sizeof(got));
        assert_string_equal(got, types);
}

static void test_scheduler_pass(void **state)
{
        struct fixture *f = *state;
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_node before = IDYL_NODE_INIT, after = IDYL_NODE_INIT;
        struct idyl_workload w;
        char msg[256];

        assert_int_equal(store_node_get(f->srv.store, f->subnet, "n1", &before, &err), 0);
        deploy(f, "web", "container", 201);
        expect_workload(f, "web", PHASE_PENDING, "", "waiting for placement");

        run_pass(f);
        expect_workload(f, "web", PHASE_SCHEDULED, "n1", "placed on node n1");
        w = get_workload(f, "web");
        assert_string_equal(w.runtime_profile, "docker");
        workload_release(&w);
        expect_events(f, "web", "Admitted,Scheduled");
        assert_int_equal(store_node_get(f->srv.store, f->subnet, "n1", &after, &err), 0);
        assert_true(after.assign_version > before.assign_version);

        /* a second pass has nothing to do */
        run_pass(f);
        expect_events(f, "web", "Admitted,Scheduled");

        /* a microvm workload waits with the documented message, recorded once */
        deploy(f, "vm", "microvm", 201);
        run_pass(f);
        run_pass(f);
        snprintf(msg, sizeof(msg), MSG_NO_COMPATIBLE_NODES, f->slug, "microvm");
        expect_workload(f, "vm", PHASE_PENDING, "", msg);
        expect_events(f, "vm", "Admitted,Unschedulable");
}

/* After a policy edit from container,microvm to microvm: a waiting container
 * workload is rejected at once (with a warning); a placed one keeps running
 * (with a warning) until its node is lost, then it is rejected, not placed
 * again. */
static void test_policy_recheck(void **state)
{
        struct fixture *f = *state;
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_node n = IDYL_NODE_INIT;
        char path[128], rejected[128];
        struct reply r;

        snprintf(rejected, sizeof(rejected), MSG_ISOLATION_CLASS_NOT_ALLOWED, "container");
        deploy(f, "web", "container", 201);
        run_pass(f);
        deploy(f, "later", "container", 201); /* still pending at the edit */

        snprintf(path, sizeof(path), "/v1/subnets/%s", f->slug);
        call(f, OPERATOR, "PATCH", path,
             "{\"runtimePolicy\":{\"allowedIsolationClasses\":[\"microvm\"]}}", &r);
        assert_int_equal(r.status, 200);
        /* the first of the two warnings, by name: later's rejection (web's
         * "it keeps running" follows; tests/e2e/73-dry-run-explain.bats reads both) */
        assert_string_equal(r.warning,
                            "299 idyld \"workload later (isolation class container, phase "
                            "pending) is not allowed by the new runtime policy; it is "
                            "rejected\"");
        reply_release(&r);
        expect_workload(f, "later", PHASE_REJECTED, "", rejected);
        expect_events(f, "later", "Admitted,Rejected");
        expect_workload(f, "web", PHASE_SCHEDULED, "n1", "placed on node n1");

        /* the node goes silent past the TTL, and a second node could take it */
        make_node(f, "n2");
        assert_int_equal(store_node_get(f->srv.store, f->subnet, "n1", &n, &err), 0);
        n.last_heartbeat = now_ms() - 60 * 1000;
        assert_int_equal(store_node_put(f->srv.store, &n, &err), 0);
        assert_int_equal(scheduler_check_health(&f->srv, &err), 0);
        expect_workload(f, "web", PHASE_LOST, "", "node n1 is down: no heartbeat for 30s");

        run_pass(f);
        expect_workload(f, "web", PHASE_REJECTED, "", rejected);
        expect_events(f, "web", "Admitted,Scheduled,Lost,Rejected");
        run_pass(f);
        expect_events(f, "web", "Admitted,Scheduled,Lost,Rejected");
}

/* Marks a placed workload running, as its node's report would. */
/* A call that must answer 2xx. */
static void call_ok(struct fixture *f, enum caller who, const char *method, const char *path,
                    const char *body)
{
        struct reply r;

        call(f, who, method, path, body, &r);
        assert_in_range(r.status, 200, 299);
        reply_release(&r);
}

/* The running loop keeps the subnet's nodes and what is placed on them from
 * one pass to the next: every change to either reaches its next pass. */
static void test_loop_keeps_nodes_current(void **state)
{
        struct fixture *f = *state;
        struct idyl_err err = IDYL_ERR_INIT;
        char beat[128], elig[128], del[128], msg[256];

        snprintf(beat, sizeof(beat), "/v1/subnets/%s/nodes/n1/heartbeat", f->slug);
        snprintf(elig, sizeof(elig), "/v1/subnets/%s/nodes/n1/eligibility", f->slug);
        snprintf(del, sizeof(del), "/v1/subnets/%s/workloads/b", f->slug);
        if (scheduler_start(&f->srv, &err) < 0)
                fail_msg("scheduler_start: %s", err.msg);
        deploy_cpu(f, "a", "3"); /* n1 has 4 CPUs */
        await_message(f, "a", "placed on node n1");

        /* capacity a heartbeat adds: 3 + 13 fit only on 16 CPUs */
        call_ok(f, NODE, "POST", beat, "{\"capacity\":{\"cpu\":\"16\",\"memory\":\"8Gi\"}}");
        deploy_cpu(f, "b", "13");
        await_message(f, "b", "placed on node n1");

        /* room a deleted workload frees: 3 + 12 fit only once b's 13 are gone */
        call_ok(f, AUTHOR, "DELETE", del, NULL);
        deploy_cpu(f, "c", "12");
        await_message(f, "c", "placed on node n1");

        /* an operator takes the node out, then puts it back */
        call_ok(f, OPERATOR, "POST", elig, "{\"eligible\":false}");
        deploy_cpu(f, "d", "0.5");
        snprintf(msg, sizeof(msg), MSG_NO_COMPATIBLE_NODES, f->slug, "container");
        await_message(f, "d", msg);
        call_ok(f, OPERATOR, "POST", elig, "{\"eligible\":true}");
        await_message(f, "d", "placed on node n1");

        /* capacity a heartbeat takes away: 15.5 of 4 CPUs used, no room */
        call_ok(f, NODE, "POST", beat, "{\"capacity\":{\"cpu\":\"4\",\"memory\":\"8Gi\"}}");
        deploy_cpu(f, "e", "0.5");
        snprintf(msg, sizeof(msg), MSG_NO_CAPACITY, f->slug);
        await_message(f, "e", msg);

        scheduler_stop(&f->srv);
        scheduler_free(&f->srv);
}

static void report_running(struct fixture *f, const char *name)
{
        struct idyl_workload w = get_workload(f, name);
        struct idyl_err err = IDYL_ERR_INIT;

        w.phase = PHASE_RUNNING;
        assert_int_equal(store_workload_put(f->srv.store, &w, &err), 0);
        workload_release(&w);
}

static size_t placed_on(struct fixture *f, const char *node)
{
        struct idyl_workload *ws = NULL;
        struct idyl_err err = IDYL_ERR_INIT;
        size_t n = 0;

        assert_int_equal(store_workload_list(f->srv.store, f->subnet, node, &ws, &n, &err), 0);
        workload_list_free(ws, n);
        return n;
}

static enum node_eligibility eligibility_of(struct fixture *f, const char *node)
{
        struct idyl_node n = IDYL_NODE_INIT;
        struct idyl_err err = IDYL_ERR_INIT;

        assert_int_equal(store_node_get(f->srv.store, f->subnet, node, &n, &err), 0);
        return n.eligibility;
}

static bool drain(struct fixture *f, struct drain_moves *moves)
{
        struct idyl_err err = IDYL_ERR_INIT;
        cleanup_free struct idyl_node *nodes = NULL;
        bool changed = false;
        size_t n = 0;

        if (store_node_list(f->srv.store, f->subnet, &nodes, &n, &err) < 0 ||
            drain_step(&f->srv, moves, f->subnet, nodes, n, &changed, &err) < 0)
                fail_msg("drain step: %s", err.msg);
        return changed;
}

/* Where both drain tests start: w1, w2 and w3 running on n1, and an empty
 * node n2 to move them to. */
static void three_running_and_a_second_node(struct fixture *f)
{
        static const char *const names[] = {"w1", "w2", "w3"};

        for (size_t i = 0; i < 3; i++)
                deploy(f, names[i], "container", 201);
        run_pass(f);
        for (size_t i = 0; i < 3; i++)
                report_running(f, names[i]);
        make_node(f, "n2");
}

/* A drain moves at most DRAIN_MAX_PARALLEL workloads at a time: each is
 * migrated off (pending, Migrated), placed again elsewhere by the next pass,
 * and only once it runs does the next one move; with nothing left and no
 * move on its way the node has drained and stays ineligible. */
static void test_drain_bounded(void **state)
{
        struct fixture *f = *state;
        struct drain_moves moves = {0};
        char path[128], msg[128];
        struct reply r;

        three_running_and_a_second_node(f);
        snprintf(path, sizeof(path), "/v1/subnets/%s/nodes/n1/drain", f->slug);
        call(f, OPERATOR, "POST", path, NULL, &r);
        assert_int_equal(r.status, 200);
        assert_true(json_is_true(json_object_get(r.body, "draining")));
        assert_string_equal(json_string_value(json_object_get(r.body, "eligibility")),
                            "ineligible");
        reply_release(&r);

        assert_true(drain(f, &moves));
        assert_int_equal(placed_on(f, "n1"), 3 - DRAIN_MAX_PARALLEL);
        snprintf(msg, sizeof(msg), "node n1 is draining: moved to be placed again");
        expect_workload(f, "w1", PHASE_PENDING, "", msg);
        expect_events(f, "w1", "Admitted,Scheduled,Migrated");
        assert_false(drain(f, &moves)); /* two on their way: no room */
        run_pass(f);
        expect_workload(f, "w1", PHASE_SCHEDULED, "n2", "placed on node n2");
        assert_false(drain(f, &moves)); /* scheduled is still on the way */
        report_running(f, "w1");
        report_running(f, "w2");
        assert_true(drain(f, &moves)); /* both arrived: the last one moves */
        assert_int_equal(placed_on(f, "n1"), 0);
        assert_int_equal(eligibility_of(f, "n1"), NODE_DRAINING);
        run_pass(f);
        assert_false(drain(f, &moves)); /* w3 is not running yet */
        report_running(f, "w3");
        assert_true(drain(f, &moves));
        assert_int_equal(eligibility_of(f, "n1"), NODE_INELIGIBLE);
        assert_int_equal(placed_on(f, "n2"), 3);
        assert_false(drain(f, &moves));
        assert_int_equal(moves.n, 0);

        /* an ineligible node gets no new work, with the filter counted */
        deploy(f, "late", "container", 201);
        run_pass(f);
        expect_workload(f, "late", PHASE_SCHEDULED, "n2", "placed on node n2");
        {
                struct idyl_workload w = get_workload(f, "late");

                assert_non_null(strstr(w.placement, "\"node_ineligible\":1"));
                workload_release(&w);
        }
        snprintf(path, sizeof(path), "/v1/subnets/%s/nodes/n1/eligibility", f->slug);
        expect(f, OPERATOR, "POST", path, "{\"eligible\":true}", 200, NULL, NULL);
        assert_int_equal(eligibility_of(f, "n1"), NODE_ELIGIBLE);
        expect(f, OPERATOR, "POST", path, "{\"eligible\":1}", 400, "invalid_argument",
               "field \"eligible\" is required: true or false");
        expect(f, OPERATOR, "POST", path, "{\"eligible\":false,\"x\":1}", 400, NULL, NULL);
        expect(f, AUTHOR, "POST", path, "{\"eligible\":false}", 403, NULL, NULL);
        assert_int_equal(eligibility_of(f, "n1"), NODE_ELIGIBLE);
        drain_moves_release(&moves);
}

/* --enable ends a drain under way: what moved stays where it went, the
 * rest stays on the node, which takes new work again. */
static void test_drain_ended_by_enable(void **state)
{
        struct fixture *f = *state;
        struct drain_moves moves = {0};
        char path[128];

        three_running_and_a_second_node(f);
        snprintf(path, sizeof(path), "/v1/subnets/%s/nodes/n1/drain", f->slug);
        expect(f, OPERATOR, "POST", path, NULL, 200, NULL, NULL);
        assert_true(drain(f, &moves));
        snprintf(path, sizeof(path), "/v1/subnets/%s/nodes/n1/eligibility", f->slug);
        expect(f, OPERATOR, "POST", path, "{\"eligible\":true}", 200, NULL, NULL);
        run_pass(f);
        report_running(f, "w1");
        report_running(f, "w2");
        assert_false(drain(f, &moves));
        /* w3 was never moved; w1 and w2 went wherever the pass put them,
         * n1 included, as it is eligible again */
        expect_workload(f, "w3", PHASE_RUNNING, "n1", "placed on node n1");
        expect_events(f, "w3", "Admitted,Scheduled");
        assert_int_equal(placed_on(f, "n1") + placed_on(f, "n2"), 3);
        assert_int_equal(eligibility_of(f, "n1"), NODE_ELIGIBLE);
        drain_moves_release(&moves);
}

static void test_approval_conflict(void **state)
{
        struct fixture *f = *state;
        char path[160];

        deploy(f, "web", "container", 201);
        snprintf(path, sizeof(path), "/v1/subnets/%s/workloads/web/approve", f->slug);
        expect(f, OPERATOR, "POST", path, NULL, 409, "conflict",
               "workload \"web\" is not awaiting approval (phase pending)");
}

/* A store that fails under a handler is an error answer, not a crash (the
 * delete handler once released a workload the failed lookup never filled).
 * The fault is real: another connection renames the table away. */
static void test_store_failure(void **state)
{
        struct fixture *f = *state;
        char path[160], db[128];
        sqlite3 *conn;

        deploy(f, "web", "container", 201);
        snprintf(db, sizeof(db), "%s/idyl.db", f->dir);
        assert_int_equal(sqlite3_open(db, &conn), SQLITE_OK);
        assert_int_equal(
            sqlite3_exec(conn, "ALTER TABLE workloads RENAME TO gone", NULL, NULL, NULL),
            SQLITE_OK);
        sqlite3_close(conn);
        snprintf(path, sizeof(path), "/v1/subnets/%s/workloads/web", f->slug);
        expect(f, AUTHOR, "DELETE", path, NULL, 500, "store_failure", NULL);
        expect(f, AUTHOR, "GET", path, NULL, 500, "store_failure", NULL);
}

/* ---- assignments: whole sets, and changes since an acknowledged version --- */

/* GETs n1's assignments with `query` and returns the answer (caller decrefs). */
static json_t *assignments(struct fixture *f, const char *query)
{
        char path[160];
        struct reply r;

        snprintf(path, sizeof(path), "/v1/subnets/%s/nodes/n1/assignments%s", f->slug, query);
        call(f, NODE, "GET", path, NULL, &r);
        assert_int_equal(r.status, 200);
        assert_non_null(r.body);
        return r.body;
}

static json_t *assignments_since(struct fixture *f, json_int_t since)
{
        char query[64];

        snprintf(query, sizeof(query), "?since=%" JSON_INTEGER_FORMAT, since);
        return assignments(f, query);
}

static json_int_t version_of(const json_t *answer)
{
        return json_integer_value(json_object_get(answer, "version"));
}

/* Asserts the names of an answer's workloads under `key`, comma-joined, in
 * order. */
static void assert_names(const json_t *answer, const char *key, const char *want)
{
        char out[128];
        const json_t *w;
        size_t i, used = 0;

        out[0] = '\0';
        json_array_foreach(json_object_get(answer, key), i, w)
        {
                const char *name = json_is_string(w)
                                       ? json_string_value(w)
                                       : json_string_value(json_object_get(w, "name"));
                used +=
                    (size_t)snprintf(out + used, sizeof(out) - used, "%s%s", i ? "," : "", name);
        }
        assert_string_equal(out, want);
}

/* Deploys `name`, lets a scheduler pass place it, then asks for the
 * assignments since `since`; the answer's version (stored in *version) has
 * moved past it. The caller owns the answer. */
static json_t *deploy_then_assignments(struct fixture *f, const char *name, json_int_t since,
                                       json_int_t *version)
{
        json_t *a;

        deploy(f, name, "container", 201);
        run_pass(f);
        a = assignments_since(f, since);
        *version = version_of(a);
        assert_true(*version > since);
        return a;
}

/* An answer's "since": absent (a whole set) when `want` is 0, else `want`. */
static void assert_since(const json_t *answer, json_int_t want)
{
        const json_t *since = json_object_get(answer, "since");

        if (want == 0)
                assert_null(since);
        else
                assert_int_equal(json_integer_value(since), want);
}

static void test_assignments_delta(void **state)
{
        struct fixture *f = *state;
        struct idyl_err err = IDYL_ERR_INIT;
        json_t *a;
        json_int_t v0, v1, v2;
        char q[64];

        /* as scheduler_start makes it */
        assert_int_equal(assign_memo_start(&f->srv, &err), 0);

        /* no since (idyl-sim, older agents): the whole set, always */
        a = assignments(f, "");
        v0 = version_of(a);
        assert_since(a, 0);
        assert_int_equal(json_array_size(json_object_get(a, "workloads")), 0);
        json_decref(a);

        /* a version idyld does not remember sending: the whole set */
        a = deploy_then_assignments(f, "web", v0, &v1);
        assert_since(a, 0);
        assert_names(a, "workloads", "web");
        json_decref(a);

        /* since the version it just sent: only what changed */
        a = deploy_then_assignments(f, "api", v1, &v2);
        assert_since(a, v1);
        assert_names(a, "workloads", "api");
        assert_names(a, "removed", "");
        assert_string_equal(
            json_string_value(json_object_get(
                json_object_get(json_array_get(json_object_get(a, "workloads"), 0), "spec"),
                "image")),
            "nginx:1.27-alpine");
        json_decref(a);

        /* nothing new: an empty change at the same version */
        a = assignments_since(f, v2);
        assert_int_equal(version_of(a), v2);
        assert_since(a, v2);
        assert_int_equal(json_array_size(json_object_get(a, "workloads")), 0);
        json_decref(a);

        /* a version idyld never sent, and no since: both whole */
        a = assignments(f, "?since=999999");
        assert_since(a, 0);
        assert_names(a, "workloads", "api,web");
        json_decref(a);
        snprintf(q, sizeof(q), "?version=%" JSON_INTEGER_FORMAT, v2);
        a = assignments(f, q);
        assert_since(a, 0);
        assert_int_equal(json_array_size(json_object_get(a, "workloads")), 2);
        json_decref(a);
        assign_memo_free(&f->srv);
}

/* ---- pages of lists ------------------------------------------------------------ */

/* Follows ?limit=N pages of a list from its start: every page is
 * {"items", "continue"} but the last, which has no continue. Returns the
 * items of every page as one array, and the number of pages in *pages. */
static json_t *follow_pages(struct fixture *f, const char *path, int limit, size_t *pages)
{
        json_t *all = json_array();
        char url[512], token[200] = "";
        struct reply r;

        *pages = 0;
        do {
                snprintf(url, sizeof(url), "%s?limit=%d%s%s", path, limit,
                         token[0] ? "&continue=" : "", token);
                call(f, OPERATOR, "GET", url, NULL, &r);
                assert_int_equal(r.status, 200);
                assert_true(json_is_array(json_object_get(r.body, "items")));
                assert_true(json_array_size(json_object_get(r.body, "items")) <= (size_t)limit);
                json_array_extend(all, json_object_get(r.body, "items"));
                snprintf(token, sizeof(token), "%s",
                         json_string_value(json_object_get(r.body, "continue"))
                             ? json_string_value(json_object_get(r.body, "continue"))
                             : "");
                if (token[0])
                        assert_int_equal(json_array_size(json_object_get(r.body, "items")), limit);
                reply_release(&r);
                ++*pages;
        } while (token[0] && *pages < 100);
        return all;
}

/* Each list route gives the same items paged as whole, in the same order
 * and with the same content (a node's allocation included). */
static void test_list_pages(void **state)
{
        static const char *const lists[] = {"/v1/subnets", "/v1/subnets/%s/workloads",
                                            "/v1/subnets/%s/nodes", "/v1/subnets/%s/secrets",
                                            "/v1/tokens"};
        static const size_t items[] = {1, 5, 4, 0, 5};
        struct fixture *f = *state;
        char path[128];
        const char *names[] = {"web-2", "web-0", "web-10", "web-1", "web"};

        struct reply before;
        json_t *idle;

        make_node(f, "n3");
        make_node(f, "n2");
        make_node(f, "n-1");
        snprintf(path, sizeof(path), "/v1/subnets/%s/nodes/n1", f->slug);
        call(f, OPERATOR, "GET", path, NULL, &before);
        idle = json_incref(json_object_get(before.body, "allocated"));
        reply_release(&before);
        for (size_t i = 0; i < 5; i++)
                deploy(f, names[i], "container", 201);
        run_pass(f);
        for (size_t i = 0; i < 5; i++) {
                struct reply whole;
                json_t *paged;
                size_t pages;

                snprintf(path, sizeof(path), lists[i], f->slug);
                call(f, OPERATOR, "GET", path, NULL, &whole);
                assert_int_equal(whole.status, 200);
                assert_int_equal(json_array_size(whole.body), items[i]);
                paged = follow_pages(f, path, 2, &pages);
                assert_int_equal(pages, items[i] ? (items[i] + 1) / 2 : 1);
                assert_true(json_equal(paged, whole.body));
                json_decref(paged);
                paged = follow_pages(f, path, 1000, &pages);
                assert_int_equal(pages, 1);
                assert_true(json_equal(paged, whole.body));
                json_decref(paged);
                reply_release(&whole);
        }
        /* a node in a page (allocation from the store's sums) is the node
         * object GET answers (allocation from its workloads) */
        snprintf(path, sizeof(path), "/v1/subnets/%s/nodes?limit=1000", f->slug);
        {
                struct reply r, one;
                json_t *node;
                size_t i, busy = 0;

                call(f, OPERATOR, "GET", path, NULL, &r);
                json_array_foreach(json_object_get(r.body, "items"), i, node)
                {
                        char one_path[160];

                        snprintf(one_path, sizeof(one_path), "/v1/subnets/%s/nodes/%s", f->slug,
                                 json_string_value(json_object_get(node, "name")));
                        call(f, OPERATOR, "GET", one_path, NULL, &one);
                        assert_true(json_equal(node, one.body));
                        busy += !json_equal(json_object_get(node, "allocated"), idle);
                        reply_release(&one);
                }
                assert_int_equal(i, 4);
                assert_true(busy > 0); /* the workloads placed show */
                json_decref(idle);
                reply_release(&r);
        }
        snprintf(path, sizeof(path), "/v1/subnets/%s/workloads?limit=2", f->slug);
        {
                struct reply r;

                call(f, OPERATOR, "GET", path, NULL, &r);
                assert_string_equal(
                    json_string_value(json_object_get(
                        json_array_get(json_object_get(r.body, "items"), 0), "name")),
                    "web");
                assert_string_equal(json_string_value(json_object_get(r.body, "continue")),
                                    "d2ViLTA"); /* base64url("web-0"), unpadded */
                reply_release(&r);
        }
}

/* A bad limit or token is refused with 400 and a clear message. */
static void test_list_page_errors(void **state)
{
        static const char *const limits[] = {"0", "-1", "1001", "abc", "1e3", "01", "", "99999"};
        struct fixture *f = *state;
        char path[256], msg[160];

        for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
                snprintf(path, sizeof(path), "/v1/subnets/%s/workloads?limit=%s", f->slug,
                         limits[i]);
                snprintf(msg, sizeof(msg),
                         "invalid query parameter \"limit\": \"%s\" is not a decimal number "
                         "from 1 to 1000",
                         limits[i]);
                expect(f, OPERATOR, "GET", path, NULL, 400, "invalid_argument", msg);
        }
        /* not base64url; padded; a key no workload has ("Web"); stray bits */
        static const char *const tokens[] = {"%2B%2F", "d2ViLTA%3D", "V2Vi", "d2ViLTB"};
        for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
                snprintf(path, sizeof(path), "/v1/subnets/%s/workloads?limit=1&continue=%s",
                         f->slug, tokens[i]);
                expect(f, OPERATOR, "GET", path, NULL, 400, "invalid_argument",
                       "invalid query parameter \"continue\": not a token a page of this list "
                       "gave");
        }
        snprintf(path, sizeof(path), "/v1/subnets/%s/nodes?continue=bjE", f->slug);
        expect(f, OPERATOR, "GET", path, NULL, 400, "invalid_argument",
               "query parameter \"continue\" needs \"limit\"");
        snprintf(path, sizeof(path), "/v1/subnets/%s/nodes?limit=5&watch=", f->slug);
        expect(f, OPERATOR, "GET", path, NULL, 400, "invalid_argument",
               "query parameter \"limit\" cannot be combined with \"watch\"");
        expect(f, OPERATOR, "GET", "/v1/tokens?limit=1&continue=MTIz", NULL, 400,
               "invalid_argument",
               "invalid query parameter \"continue\": not a token a page of this list gave");
        expect(f, OPERATOR, "GET", "/v1/subnets?limit=1&continue=MTIz", NULL, 400,
               "invalid_argument",
               "invalid query parameter \"continue\": not a token a page of this list gave");
        /* a valid token of one list is a valid key of another: answered */
        snprintf(path, sizeof(path), "/v1/subnets/%s/nodes?limit=5&continue=bjE", f->slug);
        expect(f, OPERATOR, "GET", path, NULL, 200, NULL, NULL);
        /* the other lists' routes take no page parameters */
        snprintf(path, sizeof(path), "/v1/subnets/%s/workloads/web/events?limit=1", f->slug);
        expect(f, OPERATOR, "GET", path, NULL, 400, "invalid_argument", NULL);
}

#define SERVER_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
        /* every test runs against a fresh store and server (setup, teardown) */
        const struct CMUnitTest tests[] = {
            SERVER_TEST(test_dispatch),
            SERVER_TEST(test_route_roles),
            SERVER_TEST(test_scoped_caller),
            SERVER_TEST(test_scheduler_pass),
            SERVER_TEST(test_loop_keeps_nodes_current),
            SERVER_TEST(test_policy_recheck),
            SERVER_TEST(test_drain_bounded),
            SERVER_TEST(test_drain_ended_by_enable),
            SERVER_TEST(test_approval_conflict),
            SERVER_TEST(test_store_failure),
            SERVER_TEST(test_assignments_delta),
            SERVER_TEST(test_list_pages),
            SERVER_TEST(test_list_page_errors),
        };
        int rc;

        curl_global_init(CURL_GLOBAL_DEFAULT);
        rc = cmocka_run_group_tests(tests, NULL, NULL);
        curl_global_cleanup();
        return rc;
}
