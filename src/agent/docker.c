/* The Docker Engine runtime: the Engine API over its unix socket with
 * libcurl. Containers carry the agent's labels; the event stream tells the
 * reconcile loop when one of them changes. Every workload of a subnet joins
 * that subnet's bridge network (idyl-SUBNET), which the agent creates on
 * first use and removes once no container is on it: the Engine's iptables
 * rules keep bridges apart, so subnets sharing an Engine cannot connect. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/http.h"
#include "agent/netpolicy.h"
#include "agent/runtime.h"
#include "core/workload.h"
#include "util/log.h"

#define DOCKER_BASE      "http://docker"
#define NETWORK_NAME_MAX 48
#define LABEL_SUBNET     "io.idyl.subnet"
/* the subject of the iptables readiness check */
#define IPTABLES_SUBJECT "Engine-managed iptables"

struct docker {
        struct runtime rt;
        char *socket_path;
        struct http_client *http; /* the reconcile thread's connection */
        bool has_init;            /* docker-init present: PID 1 that forwards signals */
        bool init_known;          /* has_init was read from /info on this connection */
        /* the iptables check, done once per daemon run (see check_iptables) */
        bool iptables_known, iptables_ok;
        char iptables_detail[256];
        /* exit code and run time of exited containers, as inspected: an
         * exited container stays so until the event stream tells of it, so
         * a list inspects each exit once, not on every pass */
        pthread_mutex_t exits_mu;
        struct exit_seen *exits;
        size_t nexits, exits_cap;
};

struct exit_seen {
        char id[80];
        int exit_code;
        int64_t ran_ms;
};

static struct docker *docker_of(struct runtime *rt)
{
        return (struct docker *)rt;
}

/* ---- the subnet's network ------------------------------------------------------- */

/* The agent's workers each open a runtime of their own and may start or
 * remove containers at once: in one process, the network is looked up or
 * made by one of them at a time (the Engine does not refuse a second
 * network of the same name), and not dropped while a container is being
 * created on it. */
static pthread_mutex_t network_mu = PTHREAD_MUTEX_INITIALIZER;
static int network_creates;  /* containers being created on the network, under network_mu */
static int network_removals; /* containers being removed, under network_mu */

/* "idyl-100000000001": the network of the node's subnet (node_key is
 * "SUBNET/NAME"). */
static void network_name(const struct runtime *rt, char *out, size_t size)
{
        const char *slash = strchr(rt->node_key, '/');
        int len = slash ? (int)(slash - rt->node_key) : (int)strlen(rt->node_key);

        snprintf(out, size, "idyl-%.*s", len, rt->node_key);
}

/* The subnet's network, created when absent. id gets its Engine id;
 * *created says whether this call made it. Several nodes of a subnet may
 * share an Engine: one that loses the race to create it uses the winner's. */
static int ensure_network(struct docker *d, struct runtime *rt, char *id, size_t idsize,
                          bool *created, struct idyl_err *err)
{
        char name[NETWORK_NAME_MAX], path[NETWORK_NAME_MAX + 32];
        json_t *net = NULL, *body;
        long status = 0;
        int rc;

        *created = false;
        network_name(rt, name, sizeof(name));
        snprintf(path, sizeof(path), "/networks/%s", name);
        for (int attempt = 0; attempt < 2; attempt++) {
                rc = http_json(d->http, "GET", path, NULL, 10, &status, &net, err);
                if (rc == 0) {
                        snprintf(id, idsize, "%s",
                                 json_string_value(json_object_get(net, "Id")) ?: "");
                        json_decref(net);
                        return 0;
                }
                if (status != 404)
                        return idyl_err_wrap(err, "inspect network %s", name);
                body = json_pack("{s:s,s:s,s:b,s:{s:s,s:s},s:{s:s}}", "Name", name, "Driver",
                                 "bridge", "CheckDuplicate", 1, "Labels", LABEL_SUBNET, name + 5,
                                 LABEL_NODE, rt->node_key, "Options",
                                 "com.docker.network.bridge.enable_icc", "true");
                if (!body)
                        return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                rc = http_json(d->http, "POST", "/networks/create", body, 30, &status, &net, err);
                json_decref(body);
                if (rc == 0) {
                        snprintf(id, idsize, "%s",
                                 json_string_value(json_object_get(net, "Id")) ?: "");
                        json_decref(net);
                        *created = true;
                        return 0;
                }
                if (status != 409) /* 409: another node made it meanwhile */
                        return idyl_err_wrap(err, "create network %s", name);
        }
        return idyl_err_wrap(err, "create network %s", name);
}

/* Removes the subnet's network once no container (of any node, running or
 * not) is attached to it. Best effort: a network still in use stays. */
static void drop_network_if_unused(struct docker *d, struct runtime *rt)
{
        struct idyl_err err = IDYL_ERR_INIT;
        char name[NETWORK_NAME_MAX], *filter = NULL, *path = NULL;
        json_t *f, *list = NULL;
        long status = 0;

        network_name(rt, name, sizeof(name));
        f = json_pack("{s:[s]}", "network", name);
        if (f) {
                char *text = json_dumps(f, JSON_COMPACT);
                filter = text ? http_escape(text) : NULL;
                free(text);
                json_decref(f);
        }
        if (!filter || asprintf(&path, "/containers/json?all=1&filters=%s", filter) < 0)
                goto out;
        if (http_json(d->http, "GET", path, NULL, 30, NULL, &list, &err) < 0 ||
            json_array_size(list) > 0)
                goto out;
        free(path);
        path = NULL;
        if (asprintf(&path, "/networks/%s", name) < 0)
                goto out;
        if (http_json(d->http, "DELETE", path, NULL, 30, &status, NULL, &err) < 0 && status != 404)
                log_warnx("remove network %s: %s", name, err.msg);
out:
        json_decref(list);
        free(filter);
        free(path);
}

static char *node_filter(struct runtime *rt, const char *type);

/* What the node's chains hold, as this process last wrote them: a burst of
 * creates on one bridge under one policy writes them once. Under the
 * netpolicy lock. */
static struct {
        bool valid;
        char netid[80];
        struct network_policy policy;
        int creating; /* creates past the rules whose container may not be listed yet */
} applied;

/* The node's chains for the subnet's bridge network (of Engine id netid),
 * under the subnet's policy. Called with the netpolicy lock held. */
static int apply_bridge_rules(struct runtime *rt, const char *netid, struct idyl_err *err)
{
        struct netpolicy_scope scope = {0};
        char chain[32], ifname[16];

        netpolicy_chain_name(rt->node_key, chain, sizeof(chain));
        snprintf(ifname, sizeof(ifname), "br-%.12s", netid);
        scope.bridge = ifname;
        applied.valid = false;
        if (netpolicy_apply(chain, &scope, &rt->network, err) < 0)
                return idyl_err_wrap(err, "network policy of bridge %s", ifname);
        applied.valid = true;
        snprintf(applied.netid, sizeof(applied.netid), "%s", netid);
        applied.policy = rt->network;
        return 0;
}

/* Removes the node's chains; with the netpolicy lock held. */
static int remove_rules(struct runtime *rt, struct idyl_err *err)
{
        char chain[32];

        netpolicy_chain_name(rt->node_key, chain, sizeof(chain));
        applied.valid = false;
        return netpolicy_remove(chain, err);
}

/* The node's chains while it has containers (of any state), gone once it
 * has none; called with the netpolicy lock held. */
static int enforce_locked(struct docker *d, struct runtime *rt, struct idyl_err *err)
{
        char *filter = node_filter(rt, NULL), *path = NULL, name[NETWORK_NAME_MAX];
        char npath[NETWORK_NAME_MAX + 16];
        json_t *list = NULL, *net = NULL;
        long status = 0;
        int rc = -1;

        if (!filter || asprintf(&path, "/containers/json?all=1&filters=%s", filter) < 0) {
                idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                goto out;
        }
        if (http_json(d->http, "GET", path, NULL, 30, NULL, &list, err) < 0)
                goto out;
        network_name(rt, name, sizeof(name));
        snprintf(npath, sizeof(npath), "/networks/%s", name);
        /* a create past its rules keeps them until its container is listed */
        if (json_array_size(list) == 0 && applied.creating == 0) {
                rc = remove_rules(rt, err);
                goto out;
        }
        if (http_json(d->http, "GET", npath, NULL, 10, &status, &net, err) < 0) {
                rc = status != 404 ? -1 : applied.creating ? 0 : remove_rules(rt, err);
                goto out;
        }
        rc = apply_bridge_rules(rt, json_string_value(json_object_get(net, "Id")) ?: "", err);
out:
        json_decref(list);
        json_decref(net);
        free(filter);
        free(path);
        return rc;
}

static int docker_enforce(struct runtime *rt, struct idyl_err *err)
{
        int rc;

        netpolicy_lock();
        rc = enforce_locked(docker_of(rt), rt, err);
        netpolicy_unlock();
        return rc;
}

/* An Engine that manages iptables adds FORWARD rules for each bridge it
 * makes (br- and the network id's first 12 characters); one started with
 * --iptables=false adds none, and could neither keep subnets apart nor let
 * the agent enforce a policy. The Engine's flags cannot change while it
 * runs, so the answer is kept until the daemon stops answering. */
static void check_iptables(struct docker *d, struct runtime *rt, struct rt_health *h)
{
        struct idyl_err err = IDYL_ERR_INIT;
        char id[80], ifname[16];
        bool created = false, present = false;

        if (!d->iptables_known) {
                if (ensure_network(d, rt, id, sizeof(id), &created, &err) < 0) {
                        rt_health_check(h, "iptables", IPTABLES_SUBJECT, false, "%s", err.msg);
                        return;
                }
                snprintf(ifname, sizeof(ifname), "br-%.12s", id);
                if (netpolicy_forward_names(ifname, &present, &err) < 0) {
                        snprintf(d->iptables_detail, sizeof(d->iptables_detail), "%.255s", err.msg);
                        d->iptables_ok = false;
                } else if (!present) {
                        snprintf(d->iptables_detail, sizeof(d->iptables_detail),
                                 "the Engine set no iptables rules for its bridge %s: it runs "
                                 "with --iptables=false, which cannot keep subnets apart",
                                 ifname);
                        d->iptables_ok = false;
                } else {
                        snprintf(d->iptables_detail, sizeof(d->iptables_detail),
                                 "the Engine filters bridge %s", ifname);
                        d->iptables_ok = true;
                }
                d->iptables_known = true;
                if (created)
                        drop_network_if_unused(d, rt);
        }
        if (d->iptables_ok && docker_enforce(rt, &err) < 0) {
                rt_health_check(h, "iptables", IPTABLES_SUBJECT, false, "%s", err.msg);
                return;
        }
        rt_health_check(h, "iptables", IPTABLES_SUBJECT, d->iptables_ok, "%s", d->iptables_detail);
}

/* Whether the Engine of /info's answer has docker-init. */
static void learn_init(struct docker *d, const json_t *info)
{
        const char *init =
            json_string_value(json_object_get(json_object_get(info, "InitCommit"), "ID"));
        const char *bin = json_string_value(json_object_get(info, "InitBinary"));

        /* Debian's Engine ships docker-init but reports no commit for it */
        d->has_init = (init && *init && strcmp(init, "N/A") != 0) || (bin && *bin);
        d->init_known = true;
}

static void docker_health(struct runtime *rt, struct rt_health *h)
{
        struct docker *d = docker_of(rt);
        struct idyl_err err = IDYL_ERR_INIT;
        json_t *version = NULL, *info = NULL;
        const char *os, *arch, *deflt;
        struct stat st;
        long status = 0;

        int st_rc = stat(d->socket_path, &st), st_errno = errno;

        if (!rt_health_check(h, "socket", d->socket_path, st_rc == 0 && S_ISSOCK(st.st_mode), "%s",
                             st_rc < 0              ? strerror(st_errno)
                             : S_ISSOCK(st.st_mode) ? "present"
                                                    : "not a socket"))
                return;
        if (!rt_health_check(
                h, "daemon", "Docker Engine API",
                http_json(d->http, "GET", "/version", NULL, 5, &status, &version, &err) == 0, "%s",
                err.msg)) {
                d->iptables_known = false; /* it may come back with other flags */
                return;
        }
        snprintf(h->version, sizeof(h->version), "%s",
                 json_string_value(json_object_get(version, "Version")) ?: "?");
        os = json_string_value(json_object_get(version, "Os"));
        arch = json_string_value(json_object_get(version, "Arch"));
        snprintf(h->platform, sizeof(h->platform), "%s/%s", os ? os : "linux",
                 arch ? arch : "amd64");
        snprintf(h->checks[h->nchecks - 1].detail, sizeof(h->checks[0].detail),
                 "Docker Engine %s answers (API %s, %s)", h->version,
                 json_string_value(json_object_get(version, "ApiVersion")) ?: "?", h->platform);
        json_decref(version);

        if (!rt_health_check(h, "info", "Docker Engine /info",
                             http_json(d->http, "GET", "/info", NULL, 10, &status, &info, &err) ==
                                 0,
                             "%s", err.msg))
                return;
        snprintf(h->checks[h->nchecks - 1].detail, sizeof(h->checks[0].detail),
                 "%s, %s storage driver",
                 json_string_value(json_object_get(info, "Name")) ?: "answers",
                 json_string_value(json_object_get(info, "Driver")) ?: "unknown");
        learn_init(d, info);
        h->cpu_milli = (int64_t)json_integer_value(json_object_get(info, "NCPU")) * 1000;
        h->memory_bytes = (int64_t)json_integer_value(json_object_get(info, "MemTotal"));
        h->gpus = rt_host_gpus();
        deflt = json_string_value(json_object_get(info, "DefaultRuntime"));
        rt_health_check(h, "handler", deflt ? deflt : "default runtime",
                        deflt && json_object_get(json_object_get(info, "Runtimes"), deflt),
                        deflt ? "Docker's default runtime %s is configured"
                              : "Docker reports no default runtime%s",
                        deflt ? deflt : "");
        rt_health_check(h, "capacity", "CPU and memory", h->cpu_milli > 0 && h->memory_bytes > 0,
                        "%" PRId64 " CPUs, %" PRId64 "Mi memory, %d GPUs", h->cpu_milli / 1000,
                        h->memory_bytes >> 20, h->gpus);
        json_decref(info);
        check_iptables(d, rt, h);
}

/* "2026-11-23T10:00:01.123456789Z" -> unix milliseconds; -1 when unset. */
static int64_t parse_time_ms(const char *s)
{
        struct tm tm = {0};
        const char *rest;
        int64_t ms = 0;

        if (!s || strncmp(s, "0001-", 5) == 0)
                return -1;
        rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!rest)
                return -1;
        if (*rest == '.') {
                int digits = 0;
                for (rest++; *rest >= '0' && *rest <= '9'; rest++)
                        if (digits++ < 3)
                                ms = ms * 10 + (*rest - '0');
                while (digits++ < 3)
                        ms *= 10;
        }
        return (int64_t)timegm(&tm) * 1000 + ms;
}

static void inspect_exit(struct docker *d, struct rt_instance *inst);

/* Called with exits_mu held. */
static struct exit_seen *exit_find(struct docker *d, const char *id)
{
        for (size_t i = 0; i < d->nexits; i++)
                if (strcmp(d->exits[i].id, id) == 0)
                        return &d->exits[i];
        return NULL;
}

/* An event for container id (or, id NULL, for one we could not read):
 * what was inspected of it may be old. */
static void exits_forget(struct docker *d, const char *id)
{
        struct exit_seen *x;

        pthread_mutex_lock(&d->exits_mu);
        if (!id)
                d->nexits = 0;
        else if ((x = exit_find(d, id)))
                *x = d->exits[--d->nexits];
        pthread_mutex_unlock(&d->exits_mu);
}

/* Keeps only the exits of the ids a list found exited (n of them). */
static void exits_keep(struct docker *d, const struct rt_instance *a, size_t n)
{
        pthread_mutex_lock(&d->exits_mu);
        for (size_t i = 0; i < d->nexits;) {
                bool found = false;
                for (size_t j = 0; j < n && !found; j++)
                        found = a[j].state == RT_EXITED && strcmp(a[j].id, d->exits[i].id) == 0;
                if (found)
                        i++;
                else
                        d->exits[i] = d->exits[--d->nexits];
        }
        pthread_mutex_unlock(&d->exits_mu);
}

/* Exit code and run time of an exited container: inspected once per exit. */
static void exit_of(struct docker *d, struct rt_instance *inst)
{
        struct exit_seen *x;

        pthread_mutex_lock(&d->exits_mu);
        x = exit_find(d, inst->id);
        if (x) {
                inst->exit_code = x->exit_code;
                inst->ran_ms = x->ran_ms;
        }
        pthread_mutex_unlock(&d->exits_mu);
        if (x)
                return;
        inspect_exit(d, inst);
        if (inst->ran_ms < 0)
                return; /* not read: look again next time */
        pthread_mutex_lock(&d->exits_mu);
        if (d->nexits == d->exits_cap) {
                size_t cap = d->exits_cap ? 2 * d->exits_cap : 16;
                void *p = realloc(d->exits, cap * sizeof(*d->exits));
                if (p) {
                        d->exits = p;
                        d->exits_cap = cap;
                }
        }
        if (d->nexits < d->exits_cap && !exit_find(d, inst->id)) {
                x = &d->exits[d->nexits++];
                snprintf(x->id, sizeof(x->id), "%s", inst->id);
                x->exit_code = inst->exit_code;
                x->ran_ms = inst->ran_ms;
        }
        pthread_mutex_unlock(&d->exits_mu);
}

/* Exit code and run time of an exited container. */
static void inspect_exit(struct docker *d, struct rt_instance *inst)
{
        struct idyl_err err = IDYL_ERR_INIT;
        char path[160];
        json_t *c = NULL, *state;
        int64_t started, finished;

        inst->ran_ms = -1;
        snprintf(path, sizeof(path), "/containers/%s/json", inst->id);
        if (http_json(d->http, "GET", path, NULL, 10, NULL, &c, &err) < 0)
                return;
        state = json_object_get(c, "State");
        inst->exit_code = (int)json_integer_value(json_object_get(state, "ExitCode"));
        started = parse_time_ms(json_string_value(json_object_get(state, "StartedAt")));
        finished = parse_time_ms(json_string_value(json_object_get(state, "FinishedAt")));
        if (started > 0 && finished >= started)
                inst->ran_ms = finished - started;
        json_decref(c);
}

/* The label filter for this node's containers, URL-encoded. */
static char *node_filter(struct runtime *rt, const char *type)
{
        json_t *f = json_pack("{s:[s+]}", "label", LABEL_NODE "=", rt->node_key);
        char *text, *esc;

        if (type)
                json_object_set_new(f, "type", json_pack("[s]", type));
        text = json_dumps(f, JSON_COMPACT);
        esc = text ? http_escape(text) : NULL;
        free(text);
        json_decref(f);
        return esc;
}

/* A listed container's address on network `net`; "" when it has none. */
static void container_ip(const json_t *c, const char *net, char *ip, size_t size)
{
        const json_t *nets = json_object_get(json_object_get(c, "NetworkSettings"), "Networks");
        const char *addr =
            json_string_value(json_object_get(json_object_get(nets, net), "IPAddress"));

        snprintf(ip, size, "%s", addr ? addr : "");
}

static int docker_list(struct runtime *rt, struct rt_instance **out, size_t *n,
                       struct idyl_err *err)
{
        struct docker *d = docker_of(rt);
        char *filter = node_filter(rt, NULL), *path = NULL, net[NETWORK_NAME_MAX];
        json_t *list = NULL, *c;
        size_t i, k = 0;
        int rc;

        network_name(rt, net, sizeof(net));
        *out = NULL;
        *n = 0;
        if (!filter || asprintf(&path, "/containers/json?all=1&filters=%s", filter) < 0) {
                free(filter);
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        }
        free(filter);
        rc = http_json(d->http, "GET", path, NULL, 30, NULL, &list, err);
        free(path);
        if (rc < 0)
                return -1;
        *out = calloc(json_array_size(list) + 1, sizeof(**out));
        if (!*out) {
                json_decref(list);
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        }
        json_array_foreach(list, i, c)
        {
                const json_t *labels = json_object_get(c, "Labels");
                const char *id = json_string_value(json_object_get(c, "Id"));
                const char *wl = json_string_value(json_object_get(labels, LABEL_WORKLOAD));
                const char *rev = json_string_value(json_object_get(labels, LABEL_REVISION));
                const char *state = json_string_value(json_object_get(c, "State"));
                struct rt_instance *inst = &(*out)[k];

                if (!id || !wl || !rev || !state)
                        continue;
                snprintf(inst->id, sizeof(inst->id), "%s", id);
                snprintf(inst->workload, sizeof(inst->workload), "%s", wl);
                inst->revision = strtoll(rev, NULL, 10);
                inst->ran_ms = -1;
                if (strcmp(state, "running") == 0 || strcmp(state, "restarting") == 0 ||
                    strcmp(state, "paused") == 0) {
                        inst->state = RT_RUNNING;
                        container_ip(c, net, inst->ip, sizeof(inst->ip));
                } else if (strcmp(state, "created") == 0)
                        inst->state = RT_CREATED;
                else {
                        inst->state = RT_EXITED;
                        exit_of(d, inst);
                }
                k++;
        }
        *n = k;
        json_decref(list);
        exits_keep(d, *out, k);
        return 0;
}

/* Docker pulls every tag of a repository when the tag is empty: name one. */
static bool image_has_tag(const char *image)
{
        const char *slash = strrchr(image, '/');
        const char *last = slash ? slash + 1 : image;

        return strchr(image, '@') || strchr(last, ':');
}

/* A pull answers 200 and reports failure inside its JSON progress stream. */
static int pull_stream_error(const struct idyl_buf *b, struct idyl_err *err)
{
        const char *line = b->data;

        while (line && *line) {
                const char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t)(nl - line) : strlen(line);
                json_t *j = json_loadb(line, len, 0, NULL);
                const char *msg = json_string_value(json_object_get(j, "error"));

                if (msg) {
                        idyl_err_set(err, IDYL_E_UNAVAILABLE, "%s", msg);
                        json_decref(j);
                        return -1;
                }
                json_decref(j);
                line = nl ? nl + 1 : NULL;
        }
        return 0;
}

static int docker_ensure_image(struct runtime *rt, const char *image, const char *platform,
                               struct idyl_err *err)
{
        struct docker *d = docker_of(rt);
        struct idyl_buf resp = IDYL_BUF_INIT(64u * 1024 * 1024);
        struct http_request req = {.method = "POST", .timeout_s = 1800};
        char *esc = http_escape(image), *pesc = NULL, *path = NULL;
        long status = 0;
        int rc = -1;

        if (!esc)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        if (asprintf(&path, "/images/%s/json", esc) < 0)
                goto oom;
        rc = http_json(d->http, "GET", path, NULL, 30, &status, NULL, err);
        free(path);
        path = NULL;
        if (rc == 0 || status != 404)
                goto out;
        if (platform && *platform && !(pesc = http_escape(platform)))
                goto oom;
        if (asprintf(&path, "/images/create?fromImage=%s%s%s%s", esc,
                     image_has_tag(image) ? "" : "&tag=latest", pesc ? "&platform=" : "",
                     pesc ? pesc : "") < 0)
                goto oom;
        req.path = path;
        rc = http_do(d->http, &req, &status, &resp, err);
        if (rc == 0 && status != 200) {
                json_t *j = json_loadb(resp.data ? resp.data : "", resp.len, 0, NULL);
                const char *msg = json_string_value(json_object_get(j, "message"));
                rc = idyl_err_set(err, IDYL_E_UNAVAILABLE, "%s",
                                  msg ? msg : "the registry refused the pull");
                json_decref(j);
        } else if (rc == 0) {
                rc = pull_stream_error(&resp, err);
        }
        if (rc < 0)
                idyl_err_wrap(err, "pull image %s", image);
        goto out;
oom:
        rc = idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
out:
        idyl_buf_release(&resp);
        free(esc);
        free(pesc);
        free(path);
        return rc;
}

/* Secrets as read-only binds of the agent's tmpfs, and exactly the devices
 * asked for (Docker adds none of the host's beyond its default /dev). */
static void access_host_config(json_t *hc, const struct rt_workload *w)
{
        json_t *mounts = json_array(), *devices = json_array();

        for (size_t i = 0; i < w->nmounts; i++)
                json_array_append_new(mounts, json_pack("{s:s,s:s,s:s,s:b}", "Type", "bind",
                                                        "Source", w->mounts[i].host_path, "Target",
                                                        w->mounts[i].container_path, "ReadOnly",
                                                        w->mounts[i].readonly));
        for (size_t i = 0; i < w->ndevices; i++)
                json_array_append_new(devices,
                                      json_pack("{s:s,s:s,s:s}", "PathOnHost", w->devices[i],
                                                "PathInContainer", w->devices[i],
                                                "CgroupPermissions", "rwm"));
        json_object_set_new(hc, "Mounts", mounts);
        json_object_set_new(hc, "Devices", devices);
}

/* The baseline every container gets (SPEC 6.1): its subnet's network, no
 * new privileges, Docker's default capabilities without NET_RAW, never
 * privileged nor in a host namespace, a PID limit. */
static int harden(json_t *host, const struct runtime *rt, const struct rt_workload *w)
{
        char net[NETWORK_NAME_MAX];
        json_t *base;
        int rc;

        network_name(rt, net, sizeof(net));
        base = json_pack("{s:s,s:[s],s:[s],s:b,s:s,s:s,s:s,s:I}", "NetworkMode", net, "SecurityOpt",
                         "no-new-privileges", "CapDrop", "NET_RAW", "Privileged", 0, "PidMode", "",
                         "IpcMode", "private", "UTSMode", "", "PidsLimit",
                         (json_int_t)rt_pids_limit(w));
        rc = base ? json_object_update(host, base) : -1;
        json_decref(base);
        return rc;
}

/* CPU weight in proportion to the workload's CPU, as kubelet sets shares
 * (1024 a CPU, at least 2). */
static json_int_t cpu_shares(const struct rt_workload *w)
{
        json_int_t shares = (json_int_t)(w->cpu_milli * 1024 / 1000);

        return shares > 2 ? shares : 2;
}

static json_t *create_body(struct docker *d, struct runtime *rt, const struct rt_workload *w)
{
        char rev[32];
        json_t *body, *env = json_array(), *cmd = NULL;

        snprintf(rev, sizeof(rev), "%" PRId64, w->revision);
        for (size_t i = 0; i < w->nenv; i++)
                json_array_append_new(env, json_string(w->env[i]));
        if (w->cmd) {
                cmd = json_array();
                for (size_t i = 0; i < w->ncmd; i++)
                        json_array_append_new(cmd, json_string(w->cmd[i]));
        }
        /* the CPU limit comes once the container runs (start_capped); until
         * then its weight is in proportion to it */
        body = json_pack("{s:s,s:o,s:{s:s,s:s,s:s},s:{s:I,s:I}}", "Image", w->image, "Env", env,
                         "Labels", LABEL_NODE, rt->node_key, LABEL_WORKLOAD, w->name,
                         LABEL_REVISION, rev, "HostConfig", "CpuShares", cpu_shares(w), "Memory",
                         (json_int_t)w->memory_bytes);
        if (body && harden(json_object_get(body, "HostConfig"), rt, w) < 0) {
                json_decref(body);
                json_decref(cmd);
                return NULL;
        }
        if (body)
                json_object_set_new(body, "StopTimeout", json_integer(rt_stop_timeout_s(w)));
        /* an init as PID 1 passes the stop signal on, so stops are quick */
        if (body && d->has_init)
                json_object_set_new(json_object_get(body, "HostConfig"), "Init", json_true());
        if (body && w->gpus > 0)
                json_object_set_new(json_object_get(body, "HostConfig"), "DeviceRequests",
                                    json_pack("[{s:s,s:i,s:[[s]]}]", "Driver", "nvidia", "Count",
                                              w->gpus, "Capabilities", "gpu"));
        if (body)
                access_host_config(json_object_get(body, "HostConfig"), w);
        if (body && cmd)
                json_object_set_new(body, "Cmd", cmd);
        else
                json_decref(cmd);
        return body;
}

static int start_container(struct docker *d, const char *id, struct idyl_err *err)
{
        char path[160];
        long status = 0;

        snprintf(path, sizeof(path), "/containers/%s/start", id);
        if (http_json(d->http, "POST", path, NULL, 60, &status, NULL, err) < 0 && status != 304)
                return idyl_err_wrap(err, "start container");
        return 0;
}

/* Whether container id still runs (true when that cannot be read). */
static bool still_running(struct docker *d, const char *id)
{
        struct idyl_err err = IDYL_ERR_INIT;
        char path[160];
        json_t *c = NULL;
        bool running;

        snprintf(path, sizeof(path), "/containers/%s/json", id);
        if (http_json(d->http, "GET", path, NULL, 10, NULL, &c, &err) < 0)
                return true;
        running = json_is_true(json_object_get(json_object_get(c, "State"), "Running"));
        json_decref(c);
        return running;
}

/* Starts container id and puts the workload's CPU limit on it. The
 * Engine's start runs runc's init and docker-init inside the container's
 * cgroup: under a quota of a few hundredths of a CPU that setup alone takes
 * seconds, so the container is created with a CPU weight only and gets its
 * quota as soon as it runs. One that exits meanwhile cannot take it (it
 * gets it at its next start); one that runs and cannot is removed rather
 * than left running without it. */
static int start_capped(struct docker *d, const char *id, const struct rt_workload *w,
                        struct idyl_err *err)
{
        struct idyl_err ignored = IDYL_ERR_INIT;
        json_t *body;
        char path[160];
        int rc;

        if (start_container(d, id, err) < 0)
                return -1;
        body = json_pack("{s:I}", "NanoCpus", (json_int_t)(w->cpu_milli * 1000000));
        if (!body)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        snprintf(path, sizeof(path), "/containers/%s/update", id);
        rc = http_json(d->http, "POST", path, body, 30, NULL, NULL, err);
        json_decref(body);
        if (rc == 0 || !still_running(d, id))
                return 0;
        idyl_err_wrap(err, "limit the CPU of container %.12s", id);
        snprintf(path, sizeof(path), "/containers/%s?force=1&v=1", id);
        if (http_json(d->http, "DELETE", path, NULL, 30, NULL, NULL, &ignored) < 0)
                log_warnx("remove container %.12s: %s", id, ignored.msg);
        return -1;
}

static int docker_run(struct runtime *rt, const struct rt_workload *w, char *id, size_t idsize,
                      struct idyl_err *err)
{
        struct docker *d = docker_of(rt);
        unsigned char rnd[3];
        char *path = NULL, *pesc = NULL, netid[80];
        bool created;
        json_t *body, *out = NULL;
        int rc;

        /* a worker's connection never probed health: ask once */
        if (!d->init_known) {
                if (http_json(d->http, "GET", "/info", NULL, 10, NULL, &out, err) < 0)
                        return idyl_err_wrap(err, "Docker Engine /info");
                learn_init(d, out);
                json_decref(out);
                out = NULL;
        }
        body = create_body(d, rt, w);
        if (!body)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        pthread_mutex_lock(&network_mu);
        rc = ensure_network(d, rt, netid, sizeof(netid), &created, err);
        if (rc == 0)
                network_creates++;
        pthread_mutex_unlock(&network_mu);
        if (rc < 0) {
                json_decref(body);
                return -1;
        }
        if (getentropy(rnd, sizeof(rnd)) < 0)
                memset(rnd, 0, sizeof(rnd));
        if (w->platform && *w->platform)
                pesc = http_escape(w->platform);
        /* readable, unique even when several nodes share one Docker Engine */
        if (asprintf(&path, "/containers/create?name=idyl-%s-r%" PRId64 "-%02x%02x%02x%s%s",
                     w->name, w->revision, rnd[0], rnd[1], rnd[2], pesc ? "&platform=" : "",
                     pesc ? pesc : "") < 0) {
                free(pesc);
                json_decref(body);
                pthread_mutex_lock(&network_mu);
                network_creates--;
                pthread_mutex_unlock(&network_mu);
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        }
        free(pesc);
        /* the rules hold on the bridge before the container exists; creates
         * on the same bridge under the same policy write them once, and go on
         * in parallel, while a removal keeps the rules for them */
        netpolicy_lock();
        if (applied.valid && strcmp(applied.netid, netid) == 0 &&
            applied.policy.set == rt->network.set && applied.policy.egress == rt->network.egress &&
            strcmp(applied.policy.cidrs, rt->network.cidrs) == 0)
                rc = 0;
        else
                rc = apply_bridge_rules(rt, netid, err);
        if (rc == 0)
                applied.creating++;
        netpolicy_unlock();
        if (rc == 0) {
                if ((rc = http_json(d->http, "POST", path, body, 60, NULL, &out, err)) < 0)
                        idyl_err_wrap(err, "create container");
                netpolicy_lock();
                applied.creating--;
                netpolicy_unlock();
        }
        free(path);
        json_decref(body);
        pthread_mutex_lock(&network_mu);
        network_creates--;
        pthread_mutex_unlock(&network_mu);
        if (rc < 0)
                return -1;
        snprintf(id, idsize, "%s", json_string_value(json_object_get(out, "Id")) ?: "");
        json_decref(out);
        return start_capped(d, id, w, err);
}

static int docker_restart(struct runtime *rt, const struct rt_instance *inst,
                          const struct rt_workload *w, struct idyl_err *err)
{
        return start_capped(docker_of(rt), inst->id, w, err);
}

static int docker_remove(struct runtime *rt, const char *id, struct idyl_err *err)
{
        struct idyl_err ierr = IDYL_ERR_INIT;
        struct docker *d = docker_of(rt);
        char path[200];
        long status = 0;
        bool last;
        int rc = 0;

        pthread_mutex_lock(&network_mu);
        network_removals++;
        pthread_mutex_unlock(&network_mu);
        /* no t=: the Engine waits the container's own StopTimeout */
        snprintf(path, sizeof(path), "/containers/%s/stop", id);
        if (http_json(d->http, "POST", path, NULL, RT_STOP_TIMEOUT_MAX_S + 20, &status, NULL, err) <
                0 &&
            status != 304 && status != 404)
                rc = idyl_err_wrap(err, "stop container %.12s", id);
        snprintf(path, sizeof(path), "/containers/%s?force=1&v=1", id);
        if (rc == 0 && http_json(d->http, "DELETE", path, NULL, 30, &status, NULL, err) < 0 &&
            status != 404)
                rc = idyl_err_wrap(err, "remove container %.12s", id);
        pthread_mutex_lock(&network_mu);
        /* the last of a burst of removals looks whether the network is
         * unused, and drops the node's chains once it has no container */
        last = --network_removals == 0;
        if (last && network_creates == 0)
                drop_network_if_unused(d, rt);
        pthread_mutex_unlock(&network_mu);
        if (last && docker_enforce(rt, &ierr) < 0)
                log_warnx("%s", ierr.msg);
        return rc;
}

struct watch_ctx {
        struct docker *d;
        void (*changed)(void *arg);
        void *arg;
};

/* Each event is one JSON line; any of ours means "look again", and what
 * was inspected of its container may be old. A line split across chunks
 * is not read: then every exit is inspected again. */
static int on_event(const char *data, size_t len, void *arg)
{
        struct watch_ctx *w = arg;
        const char *p = data, *end = data + len;

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
                json_t *ev = n ? json_loadb(p, n, 0, NULL) : NULL;
                const char *id = json_string_value(json_object_get(ev, "id"));

                if (n)
                        exits_forget(w->d, id);
                json_decref(ev);
                p += n + 1;
        }
        if (memchr(data, '\n', len))
                w->changed(w->arg);
        return 0;
}

static int docker_watch(struct runtime *rt, void (*changed)(void *arg), void *arg,
                        const volatile bool *stop, struct idyl_err *err)
{
        struct docker *d = docker_of(rt);
        struct http_client *h = http_client_new(DOCKER_BASE, d->socket_path, NULL, NULL);
        struct watch_ctx w = {d, changed, arg};
        struct http_request req = {
            .method = "GET", .on_chunk = on_event, .chunk_arg = &w, .abort_flag = stop};
        char *filter = node_filter(rt, "container"), *path = NULL;
        long status = 0;
        int rc = -1;

        if (!h || !filter || asprintf(&path, "/events?filters=%s", filter) < 0) {
                idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                goto out;
        }
        req.path = path;
        /* the stream is open: whatever happened before it is seen by a list,
         * which inspects every exit again */
        exits_forget(d, NULL);
        changed(arg);
        rc = http_do(h, &req, &status, NULL, err);
        if (rc == 0 && status != 200)
                rc = idyl_err_set(err, IDYL_E_UNAVAILABLE, "Docker events answered HTTP %ld",
                                  status);
        else if (rc == 0)
                rc = idyl_err_set(err, IDYL_E_UNAVAILABLE, "Docker closed the event stream");
out:
        free(filter);
        free(path);
        http_client_free(h);
        return rc;
}

static void docker_set_abort(struct runtime *rt, const volatile bool *flag)
{
        http_client_set_abort(docker_of(rt)->http, flag);
}

static void docker_destroy(struct runtime *rt)
{
        struct docker *d = docker_of(rt);

        http_client_free(d->http);
        free(d->socket_path);
        free(d->exits);
        pthread_mutex_destroy(&d->exits_mu);
        free(d);
}

static const struct runtime_ops docker_ops = {
    .health = docker_health,
    .list = docker_list,
    .ensure_image = docker_ensure_image,
    .run = docker_run,
    .restart = docker_restart,
    .remove = docker_remove,
    .enforce = docker_enforce,
    .watch = docker_watch,
    .logs = docker_logs,
    .exec = docker_exec,
    .set_abort = docker_set_abort,
    .destroy = docker_destroy,
};

const char *runtime_docker_socket(struct runtime *rt)
{
        return docker_of(rt)->socket_path;
}

int runtime_docker_open(const char *socket_path, struct runtime **out, struct idyl_err *err)
{
        struct docker *d = calloc(1, sizeof(*d));

        if (d) {
                d->rt.ops = &docker_ops;
                pthread_mutex_init(&d->exits_mu, NULL);
                d->socket_path = strdup(socket_path);
                d->http = http_client_new(DOCKER_BASE, socket_path, NULL, NULL);
        }
        if (!d || !d->socket_path || !d->http) {
                if (d)
                        docker_destroy(&d->rt);
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        }
        *out = &d->rt;
        return 0;
}
