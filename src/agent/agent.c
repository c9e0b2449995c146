/* The node agent. Four threads and a worker pool around one mutex:
 *   - the reconcile loop (the caller's thread): runtime health, list, plan,
 *     and hand each action to the workers; woken by new assignments,
 *     runtime events, finished actions and back-off timers;
 *   - workers (workers.h, `idyl node run --workers`): image checks, creates,
 *     starts, stops and removals, each on its own runtime connection, keyed
 *     by workload name: one workload's actions run in order, different
 *     workloads' in parallel, so a container that holds its whole stop
 *     grace period delays only its own workload;
 *   - assignments: a long-poll on the control plane, so a placement arrives
 *     at once;
 *   - events: the runtime's event stream (Docker /events), so a dying
 *     container is seen at once;
 *   - heartbeat: readiness, capacity and workload reports, sent when they
 *     change and at least every heartbeatSeconds;
 * plus one that waits for SIGTERM/SIGINT. Workloads keep running when the
 * agent stops; the next agent adopts them by label. */
#include "agent/agent.h"
#include "agent/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "agent/http.h"
#include "agent/netpolicy.h"
#include "agent/reconcile.h"
#include "agent/secrets.h"
#include "agent/workers.h"
#include "core/node.h"
#include "core/nodeproto.h"
#include "core/resources_json.h"
#include "util/clock.h"
#include "util/log.h"

#define HEALTH_EVERY_MS 10000
#define LIST_EVERY_MS   10000 /* a safety net under the event stream */
/* Docker may announce an exit before its container list shows it: a second
 * look shortly after every event settles it. */
#define SETTLE_MS         250
#define ASSIGN_WAIT_S     30
#define RETRY_MS          1000
#define HEARTBEAT_DEFAULT 10

/* ---- configuration ------------------------------------------------------- */

/* Sandbox logs live in the node's own directory, DIR/pods. */
static int cri_log_root(struct runtime *rt, const char *dir, struct idyl_err *err)
{
        char abs[PATH_MAX], root[PATH_MAX + 8];

        if (!realpath(dir, abs))
                return idyl_err_errno(err, errno, "node directory \"%s\"", dir);
        snprintf(root, sizeof(root), "%s/pods", abs);
        return runtime_cri_set_log_root(rt, root, err);
}

int agent_runtime_open(const struct agent_config *c, struct runtime **out, struct idyl_err *err)
{
        char key[96];

        snprintf(key, sizeof(key), "%s/%s", c->subnet, c->name);
        if (runtime_open(c->provider, c->handler, c->cri_handler, c->endpoint, c->isolation, key,
                         out, err) < 0)
                return -1;
        if (strcmp(c->provider, "containerd") == 0 &&
            (runtime_cri_set_cni(*out, c->cni_conf_dir, c->cni_bin_dir, err) < 0 ||
             cri_log_root(*out, c->dir, err) < 0)) {
                (*out)->ops->destroy(*out);
                *out = NULL;
                return -1;
        }
        return 0;
}

/* ---- the pid file and its lock -------------------------------------------- */

static void pid_path(const char *dir, char *buf, size_t size)
{
        if ((size_t)snprintf(buf, size, "%s/agent.pid", dir) >= size)
                buf[0] = '\0';
}

pid_t agent_running(const char *dir)
{
        char path[PATH_MAX + 16], text[32] = "";
        pid_t pid = 0;
        int fd;

        pid_path(dir, path, sizeof(path));
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        /* the agent holds an exclusive lock for its lifetime */
        if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
                ssize_t n = read(fd, text, sizeof(text) - 1);
                if (n > 0)
                        pid = (pid_t)strtol(text, NULL, 10);
        }
        close(fd);
        return pid;
}

static int take_lock(const char *dir, struct idyl_err *err)
{
        char path[PATH_MAX + 16], text[32];
        int fd, len;

        pid_path(dir, path, sizeof(path));
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return idyl_err_errno(err, errno, "open \"%s\"", path);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                close(fd);
                return idyl_err_set(err, IDYL_E_CONFLICT, "a node agent already runs on %s", dir);
        }
        len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)len, 0) != len) {
                close(fd);
                return idyl_err_errno(err, errno, "write \"%s\"", path);
        }
        return fd; /* kept open: the lock lives as long as the process */
}

int agent_stop(const char *dir, int timeout_s, bool *was_running, struct idyl_err *err)
{
        pid_t pid = agent_running(dir);

        *was_running = pid > 0;
        if (pid <= 0)
                return 0;
        if (kill(pid, SIGTERM) < 0 && errno != ESRCH)
                return idyl_err_errno(err, errno, "stop the node agent (pid %ld)", (long)pid);
        for (int i = 0; i < timeout_s * 20; i++) {
                if (agent_running(dir) == 0)
                        return 0;
                usleep(50000);
        }
        return idyl_err_set(err, IDYL_E_UNAVAILABLE,
                            "the node agent (pid %ld) did not stop within %d seconds", (long)pid,
                            timeout_s);
}

/* ---- shared state ----------------------------------------------------------- */

/* One desired workload, parsed from its assignment. */
struct desired {
        struct rt_workload w;
        const json_t *spec; /* borrowed from the assignments it came from */
        char **envbuf;      /* owned "K=V" strings */
        const char **cmd;
        char refuse[512];
};

struct agent {
        const struct agent_config *cfg;
        struct runtime *rt;
        char base_path[160];          /* /v1/subnets/S/nodes/N */
        struct agent_secrets secrets; /* secret files on the agent's tmpfs */

        pthread_mutex_t mu;
        pthread_cond_t cond;
        volatile bool stop;
        /* written by the assignments thread */
        json_t *assign; /* the latest assignments answer */
        bool assign_changed;
        /* written by the events thread */
        bool dirty;
        /* written by the reconcile loop, read by the heartbeat thread */
        json_t *heartbeat; /* the body to send */
        bool heartbeat_changed;
        int heartbeat_s;

        /* written by the workers: the workloads with an action queued or
         * under way (a name once per action), and the outcomes the loop has
         * not taken yet */
        char (*inflight)[64];
        size_t ninflight, inflight_cap;
        struct op_outcome *outcomes;
        size_t noutcomes, outcomes_cap;
        bool finished; /* an action finished since the loop last looked */
        struct workers *pool;
        struct network_policy policy; /* the subnet's, as the assignments said */

        /* the reconcile loop's own */
        json_t *assign_cur;
        struct desired *desired;
        struct rc_entry *entries;
        size_t ndesired;
        struct rt_health health;
        int64_t health_at, list_at;
        bool deferred; /* an action waits for its workload's running one */
        /* restart counts as the last agent left them (DIR/restarts.json):
         * {"NAME": {"revision": R, "restarts": N}}; saved when one changes */
        json_t *saved_restarts;
        bool restarts_changed;
};

/* What a finished start or restart tells the loop. */
struct op_outcome {
        char name[64];
        int64_t revision;
        bool ok, restart;
        char message[512];
};

/* Waits on the agent's condition until woken or `ms` pass. */
static void wait_ms(struct agent *ag, int64_t ms)
{
        cond_wait_ms(&ag->cond, &ag->mu, CLOCK_MONOTONIC, ms);
}

static void wake(struct agent *ag)
{
        pthread_cond_broadcast(&ag->cond);
}

/* Sleeps up to ms unless the agent stops. */
static void pause_ms(struct agent *ag, int64_t ms)
{
        pthread_mutex_lock(&ag->mu);
        if (!ag->stop)
                wait_ms(ag, ms);
        pthread_mutex_unlock(&ag->mu);
}

/* ---- assignments thread ----------------------------------------------------- */

/* The whole set an answer stands for: the answer itself, or the change it
 * carries applied to what the thread holds (NULL: it does not follow that;
 * ask for the whole set again). Takes out. */
static json_t *assignments_whole(const json_t *held, json_t *out)
{
        json_t *whole;

        if (!nodeproto_assignments_is_delta(out))
                return out;
        whole = nodeproto_assignments_apply(held, out);
        json_decref(out);
        return whole;
}

static void *assign_main(void *arg)
{
        struct agent *ag = arg;
        struct http_client *h = node_config_client(ag->cfg);
        json_int_t version = -1;
        json_t *held = NULL; /* the whole set at version, what since= acknowledges */
        bool failing = false;

        if (h)
                http_client_set_abort(h, &ag->stop);

        while (h && !ag->stop) {
                struct idyl_err err = IDYL_ERR_INIT;
                char path[256];
                json_t *out = NULL;

                snprintf(path, sizeof(path),
                         "%s/assignments?version=%" JSON_INTEGER_FORMAT
                         "&since=%" JSON_INTEGER_FORMAT "&wait=%d",
                         ag->base_path, version, version, ASSIGN_WAIT_S);
                if (http_json(h, "GET", path, NULL, ASSIGN_WAIT_S + 15, NULL, &out, &err) < 0) {
                        if (!failing && !ag->stop)
                                log_warnx("assignments: %s", err.msg);
                        failing = true;
                        pause_ms(ag, RETRY_MS);
                        continue;
                }
                if (failing)
                        log_info("assignments: reaching the control plane again");
                failing = false;
                if (json_integer_value(json_object_get(out, "version")) == version &&
                    !nodeproto_assignments_is_delta(out)) {
                        json_decref(out);
                        continue;
                }
                out = assignments_whole(held, out);
                if (!out) {
                        log_warnx("assignments: a change that does not follow version "
                                  "%" JSON_INTEGER_FORMAT "; asking for the whole set",
                                  version);
                        version = -1;
                        continue;
                }
                if (json_equal(json_object_get(out, "version"), json_object_get(held, "version")) &&
                    json_equal(out, held)) {
                        json_decref(out);
                        continue;
                }
                version = json_integer_value(json_object_get(out, "version"));
                json_decref(held);
                held = json_incref(out);
                pthread_mutex_lock(&ag->mu);
                json_decref(ag->assign);
                ag->assign = out;
                ag->assign_changed = true;
                wake(ag);
                pthread_mutex_unlock(&ag->mu);
        }
        json_decref(held);
        http_client_free(h);
        return NULL;
}

/* ---- events thread -------------------------------------------------------------- */

static void on_runtime_change(void *arg)
{
        struct agent *ag = arg;

        pthread_mutex_lock(&ag->mu);
        ag->dirty = true;
        wake(ag);
        pthread_mutex_unlock(&ag->mu);
}

static void *events_main(void *arg)
{
        struct agent *ag = arg;
        bool failing = false;

        if (!ag->rt->ops->watch)
                return NULL; /* no event stream: the loop's periodic list sees changes */
        while (!ag->stop) {
                struct idyl_err err = IDYL_ERR_INIT;

                ag->rt->ops->watch(ag->rt, on_runtime_change, ag, &ag->stop, &err);
                if (ag->stop)
                        break;
                if (!failing)
                        log_warnx("runtime events: %s", err.msg);
                failing = true;
                pause_ms(ag, RETRY_MS);
        }
        return NULL;
}

/* ---- heartbeat thread -------------------------------------------------------------- */

static void *heartbeat_main(void *arg)
{
        struct agent *ag = arg;
        struct http_client *h = node_config_client(ag->cfg);
        char path[200];
        bool failing = false;

        if (h)
                http_client_set_abort(h, &ag->stop);
        snprintf(path, sizeof(path), "%s/heartbeat", ag->base_path);
        pthread_mutex_lock(&ag->mu);
        while (h && !ag->stop) {
                struct idyl_err err = IDYL_ERR_INIT;
                json_t *body = json_incref(ag->heartbeat), *out = NULL;
                bool sent = body != NULL;
                int64_t next;
                int rc;

                ag->heartbeat_changed = false;
                pthread_mutex_unlock(&ag->mu);
                rc = body ? http_json(h, "POST", path, body, 15, NULL, &out, &err) : 0;
                json_decref(body);
                if (rc < 0 && !failing)
                        log_warnx("heartbeat: %s", err.msg);
                else if (rc == 0 && sent && failing)
                        log_info("heartbeat: reaching the control plane again");
                failing = rc < 0;
                pthread_mutex_lock(&ag->mu);
                if (json_integer_value(json_object_get(out, "heartbeatSeconds")) > 0)
                        ag->heartbeat_s =
                            (int)json_integer_value(json_object_get(out, "heartbeatSeconds"));
                json_decref(out);
                next = mono_ms() + (failing ? RETRY_MS : ag->heartbeat_s * 1000LL);
                while (!ag->stop && !ag->heartbeat_changed && mono_ms() < next)
                        wait_ms(ag, next - mono_ms());
        }
        pthread_mutex_unlock(&ag->mu);
        http_client_free(h);
        return NULL;
}

/* ---- the reconcile loop ----------------------------------------------------------- */

static void desired_release(struct desired *d)
{
        if (d->envbuf)
                for (size_t i = 0; i < d->w.nenv; i++)
                        free(d->envbuf[i]);
        free(d->envbuf);
        free((void *)d->w.env);
        free(d->cmd);
}

static int spec_resources(const json_t *r, struct rt_workload *w, struct idyl_err *err)
{
        w->cpu_milli = WORKLOAD_DEFAULT_CPU_MILLI;
        w->memory_bytes = WORKLOAD_DEFAULT_MEMORY;
        w->gpus = 0;
        return json_resources(r, &w->cpu_milli, &w->memory_bytes, &w->gpus, err);
}

/* Turns one assignment into what to run; refusals are reported, not run. */
static void desired_parse(struct agent *ag, const json_t *a, struct desired *d)
{
        const json_t *spec = json_object_get(a, "spec"), *env = json_object_get(spec, "env"),
                     *cmd = json_object_get(spec, "command"), *v;
        const char *cls = json_string_value(json_object_get(a, "isolationClass")), *k;
        struct idyl_err err = IDYL_ERR_INIT;
        size_t i = 0;

        memset(d, 0, sizeof(*d));
        d->w.name = json_string_value(json_object_get(a, "name"));
        d->w.revision = json_integer_value(json_object_get(a, "revision"));
        d->w.image = json_string_value(json_object_get(spec, "image"));
        d->w.platform = json_string_value(json_object_get(spec, "platform"));
        d->spec = spec;
        /* never run a workload under a weaker isolation than it was admitted with */
        if (!cls || isolation_class_from_name(cls) != ag->rt->isolation) {
                snprintf(d->refuse, sizeof(d->refuse),
                         "isolation class %s cannot run on this node: runtime %s runs %s "
                         "workloads",
                         cls ? cls : "(none)",
                         ag->cfg->profile[0] ? ag->cfg->profile : ag->cfg->handler,
                         isolation_class_name(ag->rt->isolation));
                return;
        }
        if (!d->w.name || !d->w.image) {
                snprintf(d->refuse, sizeof(d->refuse), "the assignment has no image");
                return;
        }
        if (spec_resources(json_object_get(spec, "resources"), &d->w, &err) < 0) {
                snprintf(d->refuse, sizeof(d->refuse), "%s", err.msg);
                return;
        }
        d->w.pids_limit = json_integer_value(json_object_get(spec, "pidsLimit"));
        d->w.stop_timeout_s = rt_duration_s(json_object_get(spec, "stopTimeout"));
        d->envbuf = calloc(json_object_size(env) + 1, sizeof(char *));
        d->w.env = calloc(json_object_size(env) + 1, sizeof(char *));
        json_object_foreach((json_t *)env, k, v)
        {
                if (d->envbuf && d->w.env &&
                    asprintf(&d->envbuf[i], "%s=%s", k, json_string_value(v) ?: "") >= 0)
                        d->w.env[i] = d->envbuf[i], i++;
        }
        d->w.nenv = i;
        if (json_array_size(cmd)) {
                d->cmd = calloc(json_array_size(cmd) + 1, sizeof(char *));
                json_array_foreach(cmd, i, v) if (d->cmd) d->cmd[i] = json_string_value(v) ?: "";
                d->w.cmd = d->cmd;
                d->w.ncmd = d->cmd ? json_array_size(cmd) : 0;
        }
}

/* Secret files of workloads no longer assigned here go at once. */
static void prune_secrets(struct agent *ag)
{
        const char **names = calloc(ag->ndesired + 1, sizeof(*names));

        if (!names)
                return;
        for (size_t i = 0; i < ag->ndesired; i++)
                names[i] = ag->desired[i].w.name;
        agent_secrets_prune(&ag->secrets, names, ag->ndesired);
        free(names);
}

/* Runs (or restarts) a desired workload with its secrets and devices: the
 * values are read from the control plane at each start, so an update
 * reaches the workload when its container next starts. */
static int start_with_access(struct agent *ag, struct runtime *rt, const struct desired *d,
                             const struct rt_instance *inst, char *id, size_t idsize,
                             struct idyl_err *err)
{
        struct agent_access acc;
        struct rt_workload w = d->w;
        int rc;

        if (agent_secrets_prepare(&ag->secrets, ag->base_path, d->w.name, d->spec, d->w.env,
                                  d->w.nenv, &acc, err) < 0)
                return -1;
        w.env = (const char **)acc.env;
        w.nenv = acc.nenv;
        w.mounts = acc.mounts;
        w.nmounts = acc.nmounts;
        w.devices = acc.devices;
        w.ndevices = acc.ndevices;
        if (inst)
                rc = rt->ops->restart(rt, inst, &w, err);
        else
                rc = rt->ops->ensure_image(rt, w.image, w.platform, err) < 0
                         ? -1
                         : rt->ops->run(rt, &w, id, idsize, err);
        agent_access_release(&acc);
        return rc;
}

/* The subnet's network policy rides on the assignments: an edit reaches
 * the running workloads' rules at once, without a restart. */
static void learn_network_policy(struct agent *ag, const json_t *assign)
{
        struct idyl_err err = IDYL_ERR_INIT;
        struct network_policy p;

        netpolicy_from_assignments(assign, &p);
        if (!runtime_set_network_policy(ag->rt, &p))
                return;
        /* the workers' runtimes take it before their next action */
        pthread_mutex_lock(&ag->mu);
        ag->policy = p;
        pthread_mutex_unlock(&ag->mu);
        log_info("network policy: egress %s%s%s", egress_mode_name(network_policy_egress(&p)),
                 p.cidrs[0] ? " to " : "", p.cidrs);
        if (ag->rt->ops->enforce(ag->rt, &err) < 0)
                log_warnx("network policy: %s", err.msg);
}

/* ---- restart counts across agent restarts ------------------------------------ */

/* A container runtime counts no restart the agent makes (a Docker start of
 * an exited container, a new CRI container in the sandbox), so the agent
 * keeps its counts in DIR/restarts.json. */
static void restarts_path(const struct agent *ag, char *buf, size_t size, const char *suffix)
{
        if ((size_t)snprintf(buf, size, "%s/restarts.json%s", ag->cfg->dir, suffix) >= size)
                buf[0] = '\0';
}

static void restarts_load(struct agent *ag)
{
        char path[PATH_MAX + 32];
        json_error_t jerr;

        restarts_path(ag, path, sizeof(path), "");
        ag->saved_restarts = path[0] ? json_load_file(path, 0, &jerr) : NULL;
        if (!json_is_object(ag->saved_restarts)) {
                json_decref(ag->saved_restarts);
                ag->saved_restarts = json_object();
        }
}

/* The count the last agent saved for name at revision, 0 when none. */
static int restarts_saved(const struct agent *ag, const char *name, int64_t revision)
{
        const json_t *r = json_object_get(ag->saved_restarts, name);

        if (json_integer_value(json_object_get(r, "revision")) != revision)
                return 0;
        return (int)json_integer_value(json_object_get(r, "restarts"));
}

/* Writes the current counts (atomically) once one changed. */
static void restarts_save(struct agent *ag)
{
        char path[PATH_MAX + 32], tmp[PATH_MAX + 32];
        json_t *all = json_object();

        if (!ag->restarts_changed || !all) {
                json_decref(all);
                return;
        }
        for (size_t i = 0; i < ag->ndesired; i++)
                if (ag->entries[i].restarts > 0)
                        json_object_set_new(all, ag->entries[i].name,
                                            json_pack("{s:I,s:i}", "revision",
                                                      (json_int_t)ag->entries[i].revision,
                                                      "restarts", ag->entries[i].restarts));
        restarts_path(ag, path, sizeof(path), "");
        restarts_path(ag, tmp, sizeof(tmp), ".tmp");
        if (!path[0] || !tmp[0] || json_dump_file(all, tmp, JSON_COMPACT) < 0 ||
            rename(tmp, path) < 0) {
                log_warnx("save restart counts to %s: %s", path, strerror(errno));
                unlink(tmp);
        } else {
                ag->restarts_changed = false;
        }
        json_decref(ag->saved_restarts);
        ag->saved_restarts = all;
}

/* New assignments: parse them, carrying bookkeeping over for unchanged ones. */
static void take_assignments(struct agent *ag, json_t *assign)
{
        const json_t *list = json_object_get(assign, "workloads"), *a;
        size_t n = json_array_size(list), i;
        struct desired *d = calloc(n + 1, sizeof(*d));
        struct rc_entry *e = calloc(n + 1, sizeof(*e));

        if (!d || !e) {
                free(d);
                free(e);
                json_decref(assign);
                log_warnx("out of memory taking assignments");
                return;
        }
        learn_network_policy(ag, assign);
        json_array_foreach(list, i, a)
        {
                desired_parse(ag, a, &d[i]);
                snprintf(e[i].name, sizeof(e[i].name), "%s", d[i].w.name ? d[i].w.name : "");
                e[i].revision = d[i].w.revision;
                e[i].phase = PHASE_SCHEDULED;
                e[i].restarts = restarts_saved(ag, e[i].name, e[i].revision);
                snprintf(e[i].refuse, sizeof(e[i].refuse), "%s", d[i].refuse);
                for (size_t j = 0; j < ag->ndesired; j++)
                        if (ag->entries[j].revision == e[i].revision &&
                            strcmp(ag->entries[j].name, e[i].name) == 0)
                                e[i] = ag->entries[j];
        }
        for (size_t j = 0; j < ag->ndesired; j++)
                desired_release(&ag->desired[j]);
        free(ag->desired);
        free(ag->entries);
        json_decref(ag->assign_cur);
        ag->assign_cur = assign;
        ag->desired = d;
        ag->entries = e;
        ag->ndesired = n;
        /* forget the counts of workloads gone */
        ag->restarts_changed |= json_object_size(ag->saved_restarts) > 0;
        prune_secrets(ag);
}

/* ---- actions on the workers ---------------------------------------------------- */

/* One action, owned by the pool from submission on. */
struct op {
        struct agent *ag;
        enum rc_kind kind;
        char name[64];
        int64_t revision;
        json_t *assignment;      /* RC_RUN, RC_RESTART: a reference of its own */
        struct rt_instance inst; /* RC_REMOVE, RC_RESTART */
};

static void op_free(void *arg)
{
        struct op *op = arg;

        json_decref(op->assignment);
        free(op);
}

/* Called with mu held: one action of `name` more. */
static int inflight_add(struct agent *ag, const char *name)
{
        if (ag->ninflight == ag->inflight_cap) {
                size_t cap = ag->inflight_cap ? 2 * ag->inflight_cap : 16;
                void *p = realloc(ag->inflight, cap * sizeof(ag->inflight[0]));
                if (!p)
                        return -1;
                ag->inflight = p;
                ag->inflight_cap = cap;
        }
        snprintf(ag->inflight[ag->ninflight++], sizeof(ag->inflight[0]), "%s", name);
        return 0;
}

/* Called with mu held: one action of `name` fewer. */
static void inflight_drop(struct agent *ag, const char *name)
{
        for (size_t i = 0; i < ag->ninflight; i++)
                if (strcmp(ag->inflight[i], name) == 0) {
                        memmove(ag->inflight[i], ag->inflight[--ag->ninflight],
                                sizeof(ag->inflight[0]));
                        return;
                }
}

/* A worker's last word on an action: the loop learns of it and looks again. */
static void op_done(struct op *op, bool ok, bool restart, const char *message)
{
        struct agent *ag = op->ag;

        pthread_mutex_lock(&ag->mu);
        inflight_drop(ag, op->name);
        if (op->kind != RC_REMOVE && ag->noutcomes == ag->outcomes_cap) {
                size_t cap = ag->outcomes_cap ? 2 * ag->outcomes_cap : 16;
                void *p = realloc(ag->outcomes, cap * sizeof(ag->outcomes[0]));
                if (p) {
                        ag->outcomes = p;
                        ag->outcomes_cap = cap;
                }
        }
        if (op->kind != RC_REMOVE && ag->noutcomes < ag->outcomes_cap) {
                struct op_outcome *o = &ag->outcomes[ag->noutcomes++];
                snprintf(o->name, sizeof(o->name), "%s", op->name);
                o->revision = op->revision;
                o->ok = ok;
                o->restart = restart;
                snprintf(o->message, sizeof(o->message), "%s", message ? message : "");
        }
        ag->finished = true;
        wake(ag);
        pthread_mutex_unlock(&ag->mu);
}

/* Runs on a worker, on the worker's own runtime connection. */
static void op_main(void *ctx, void *arg)
{
        struct idyl_err err = IDYL_ERR_INIT;
        struct runtime *rt = ctx;
        struct op *op = arg;
        struct agent *ag = op->ag;
        struct desired d;
        struct network_policy policy;
        char id[80] = "";
        int rc;

        pthread_mutex_lock(&ag->mu);
        policy = ag->policy;
        pthread_mutex_unlock(&ag->mu);
        runtime_set_network_policy(rt, &policy);
        if (op->kind == RC_REMOVE) {
                if (rt->ops->remove(rt, op->inst.id, &err) == 0)
                        log_info("removed %.12s", op->inst.id);
                else if (ag->stop)
                        log_info("removal of %.12s left to the next agent", op->inst.id);
                else
                        log_warnx("%s", err.msg);
                op_done(op, true, false, NULL);
                return;
        }
        desired_parse(ag, op->assignment, &d);
        if (d.refuse[0])
                rc = idyl_err_set(&err, IDYL_E_INVALID, "%s", d.refuse);
        else if (op->kind == RC_RUN)
                rc = start_with_access(ag, rt, &d, NULL, id, sizeof(id), &err);
        else
                rc = start_with_access(ag, rt, &d, &op->inst, NULL, 0, &err);
        desired_release(&d);
        if (rc < 0) {
                log_warnx("workload %s revision %" PRId64 ": %s", op->name, op->revision, err.msg);
                op_done(op, false, false, err.msg);
                return;
        }
        if (op->kind == RC_RUN)
                log_info("workload %s revision %" PRId64 " started as %.12s", op->name,
                         op->revision, id);
        else
                log_info("workload %s revision %" PRId64 " restarted", op->name, op->revision);
        op_done(op, true, op->kind == RC_RESTART && op->inst.state == RT_EXITED, NULL);
}

static int worker_open(void *opaque, size_t i, void **ctx, struct idyl_err *err)
{
        struct agent *ag = opaque;
        struct runtime *rt;

        (void)i;
        if (agent_runtime_open(ag->cfg, &rt, err) < 0)
                return -1;
        rt->ops->set_abort(rt, &ag->stop);
        *ctx = rt;
        return 0;
}

static void worker_close(void *opaque, void *ctx)
{
        struct runtime *rt = ctx;

        (void)opaque;
        if (rt)
                rt->ops->destroy(rt);
}

/* The assignment of entry i, as the worker parses it again on its own. */
static json_t *assignment_of(const struct agent *ag, size_t i)
{
        return json_array_get(json_object_get(ag->assign_cur, "workloads"), i);
}

/* Hands one planned action to the workers, keyed by its workload. */
static void submit(struct agent *ag, const struct rc_action *act, const struct rt_instance *a)
{
        struct op *op = calloc(1, sizeof(*op));
        char key[sizeof(op->name)];

        if (!op)
                return; /* the next pass plans it again */
        op->ag = ag;
        op->kind = act->kind;
        if (act->kind == RC_REMOVE) {
                op->inst = a[act->inst];
                snprintf(op->name, sizeof(op->name), "%s", op->inst.workload);
                op->revision = op->inst.revision;
                log_info("removing %.12s: workload %s revision %" PRId64
                         " is no longer assigned here",
                         op->inst.id, op->inst.workload, op->inst.revision);
        } else {
                if (act->kind == RC_RESTART)
                        op->inst = a[act->inst];
                snprintf(op->name, sizeof(op->name), "%s", ag->entries[act->entry].name);
                op->revision = ag->entries[act->entry].revision;
                op->assignment = json_incref(assignment_of(ag, act->entry));
        }
        memcpy(key, op->name, sizeof(key)); /* op may be gone once submitted */
        pthread_mutex_lock(&ag->mu);
        if (inflight_add(ag, key) < 0) {
                pthread_mutex_unlock(&ag->mu);
                op_free(op);
                return;
        }
        pthread_mutex_unlock(&ag->mu);
        if (workers_submit(ag->pool, key, op_main, op, op_free) < 0) {
                pthread_mutex_lock(&ag->mu);
                inflight_drop(ag, key);
                pthread_mutex_unlock(&ag->mu);
        }
}

/* Records what finished actions tell; with busy, also copies the names of
 * workloads with an action still under way into *busy (the caller frees it).
 * Returns whether an action failed (its retry wants a pass to plan it). */
static bool take_outcomes(struct agent *ag, char (**busy)[64], size_t *nbusy)
{
        int64_t now = mono_ms();
        bool failed = false;

        pthread_mutex_lock(&ag->mu);
        ag->finished = false;
        for (size_t k = 0; k < ag->noutcomes; k++) {
                const struct op_outcome *o = &ag->outcomes[k];
                for (size_t i = 0; i < ag->ndesired; i++) {
                        struct rc_entry *e = &ag->entries[i];
                        if (e->revision != o->revision || strcmp(e->name, o->name) != 0)
                                continue;
                        if (o->ok) {
                                rc_started(e, o->restart);
                                ag->restarts_changed |= o->restart;
                                if (o->restart)
                                        log_info("workload %s revision %" PRId64 ": %d restarts",
                                                 e->name, e->revision, e->restarts);
                        } else {
                                rc_failed(e, now, o->message);
                                failed = true;
                        }
                }
        }
        ag->noutcomes = 0;
        if (!busy) {
                pthread_mutex_unlock(&ag->mu);
                return failed;
        }
        *nbusy = 0;
        *busy = ag->ninflight ? malloc(ag->ninflight * sizeof(**busy)) : NULL;
        if (*busy) {
                memcpy(*busy, ag->inflight, ag->ninflight * sizeof(**busy));
                *nbusy = ag->ninflight;
        }
        pthread_mutex_unlock(&ag->mu);
        return failed;
}

static bool name_in(char (*names)[64], size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(names[i], name) == 0)
                        return true;
        return false;
}

/* One pass: list, plan, hand the actions to the workers. Returns when the
 * loop wants the next pass. A workload with an action under way is left out
 * of the plan (its instances as well): the pass after that action sees what
 * it did. */
static int64_t reconcile(struct agent *ag)
{
        struct idyl_err err = IDYL_ERR_INIT;
        struct rt_instance *a = NULL;
        struct rc_action *acts;
        char(*busy)[64] = NULL;
        int64_t next = 0, now;
        size_t na = 0, nacts, nbusy = 0;

        /* before the list: an action not under way now is in what it shows */
        take_outcomes(ag, &busy, &nbusy);
        now = mono_ms();
        if (ag->rt->ops->list(ag->rt, &a, &na, &err) < 0) {
                log_warnx("list workloads: %s", err.msg);
                ag->health_at = 0; /* look at the runtime's health again */
                free(busy);
                return now + RETRY_MS;
        }
        ag->list_at = now;
        for (size_t i = 0; i < na;)
                if (name_in(busy, nbusy, a[i].workload))
                        a[i] = a[--na];
                else
                        i++;
        acts = calloc(ag->ndesired + na + 1, sizeof(*acts));
        if (!acts) {
                free(a);
                free(busy);
                return now + RETRY_MS;
        }
        nacts = rc_plan(ag->entries, ag->ndesired, a, na, now, acts, &next);
        ag->deferred = false;
        for (size_t i = 0; i < nacts && !ag->stop; i++) {
                if (acts[i].kind != RC_REMOVE &&
                    name_in(busy, nbusy, ag->entries[acts[i].entry].name)) {
                        ag->deferred = true; /* planned again once that action is done */
                        continue;
                }
                submit(ag, &acts[i], a);
        }
        free(acts);
        free(a);
        free(busy);
        return next;
}

static json_t *heartbeat_body(const struct agent *ag)
{
        const struct rt_health *h = &ag->health;
        json_t *body = nodeproto_heartbeat_new(h->ready, h->reason);

        for (size_t i = 0; body && i < ag->ndesired; i++) {
                const struct rc_entry *e = &ag->entries[i];
                struct nodeproto_report r = {
                    e->name,     e->revision, workload_phase_name(e->phase),
                    e->restarts, e->message,  e->phase == PHASE_RUNNING ? e->ip : NULL};
                if (e->phase != PHASE_SCHEDULED && nodeproto_heartbeat_add_report(body, &r) < 0) {
                        json_decref(body);
                        return NULL;
                }
        }
        if (body && h->cpu_milli > 0 && h->memory_bytes > 0) {
                const struct agent_config *c = ag->cfg;
                struct nodeproto_capacity cap = {h->cpu_milli, h->memory_bytes & ~((1LL << 20) - 1),
                                                 h->gpus};

                /* the provider's offer caps what the runtime has */
                if (c->offer_cpu_milli >= 0 && c->offer_cpu_milli < cap.cpu_milli)
                        cap.cpu_milli = c->offer_cpu_milli;
                if (c->offer_memory >= 0 && c->offer_memory < cap.memory_bytes)
                        cap.memory_bytes = c->offer_memory;
                if (c->offer_gpus >= 0 && c->offer_gpus < cap.gpus)
                        cap.gpus = c->offer_gpus;
                nodeproto_heartbeat_set_capacity(body, &cap);
        }
        if (body)
                nodeproto_heartbeat_set_platform(body, h->platform);
        return body;
}

static void check_health(struct agent *ag)
{
        struct rt_health h = {0};
        bool was_ready = ag->health.ready, first = ag->health_at == 0 && !ag->health.nchecks;

        ag->rt->ops->health(ag->rt, &h);
        if (first || h.ready != was_ready || strcmp(h.reason, ag->health.reason) != 0) {
                if (h.ready)
                        log_info("runtime ready: %s", h.version);
                else
                        log_warnx("runtime not ready: %s", h.reason);
        }
        ag->health = h;
        ag->health_at = mono_ms();
}

/* Hands the heartbeat thread a new body when it says something new. */
static void publish(struct agent *ag)
{
        json_t *hb = heartbeat_body(ag);

        pthread_mutex_lock(&ag->mu);
        if (!json_equal(hb, ag->heartbeat)) {
                json_decref(ag->heartbeat);
                ag->heartbeat = hb;
                ag->heartbeat_changed = true;
                wake(ag);
        } else {
                json_decref(hb);
        }
        pthread_mutex_unlock(&ag->mu);
}

static void *signal_main(void *arg)
{
        struct agent *ag = arg;
        sigset_t set;
        int sig = 0;

        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigwait(&set, &sig);
        pthread_mutex_lock(&ag->mu);
        ag->stop = true;
        wake(ag);
        pthread_mutex_unlock(&ag->mu);
        return NULL;
}

static void loop(struct agent *ag)
{
        int64_t next_pass = 0;

        while (!ag->stop) {
                json_t *assign = NULL;
                bool dirty, due, finished, failed = false;
                int64_t now;

                pthread_mutex_lock(&ag->mu);
                while (!ag->stop && !ag->dirty && !ag->assign_changed && !ag->finished &&
                       (next_pass == 0 || mono_ms() < next_pass) &&
                       mono_ms() < ag->health_at + HEALTH_EVERY_MS)
                        wait_ms(ag, next_pass ? next_pass - mono_ms() : HEALTH_EVERY_MS);
                if (ag->assign_changed) {
                        assign = ag->assign;
                        ag->assign = NULL;
                        ag->assign_changed = false;
                }
                dirty = ag->dirty;
                ag->dirty = false;
                finished = ag->finished;
                pthread_mutex_unlock(&ag->mu);
                if (ag->stop) {
                        json_decref(assign);
                        break;
                }
                now = mono_ms();
                if (assign)
                        take_assignments(ag, assign);
                if (now >= ag->health_at + HEALTH_EVERY_MS) {
                        check_health(ag);
                        publish(ag); /* readiness first: a slow pass must not delay it */
                }
                /* a finished action is reported at once; it needs a list only
                 * when another action of its workload waited for it, or when it
                 * failed (the pass plans its retry) */
                if (finished)
                        failed = take_outcomes(ag, NULL, NULL);
                due = assign || dirty || (finished && (ag->deferred || failed)) ||
                      (next_pass && now >= next_pass) || now >= ag->list_at + LIST_EVERY_MS;
                /* nothing is stopped before the control plane said what to run */
                if (due)
                        next_pass = ag->health.ready && ag->assign_cur ? reconcile(ag) : 0;
                if (dirty && ag->health.ready && (next_pass == 0 || next_pass > now + SETTLE_MS))
                        next_pass = now + SETTLE_MS;
                restarts_save(ag);
                publish(ag);
        }
}

/* The agent's threads, in the order they start; the reconcile loop runs on
 * the caller's. */
enum agent_thread {
        THREAD_SIGNALS,
        THREAD_ASSIGNMENTS,
        THREAD_HEARTBEAT,
        THREAD_EVENTS,
        THREAD__COUNT
};

static int start_thread(struct agent *ag, pthread_t *t, bool *started, void *(*fn)(void *),
                        const char *what, struct idyl_err *err)
{
        int rc = pthread_create(t, NULL, fn, ag);

        if (rc != 0)
                return idyl_err_errno(err, rc, "start the %s thread", what);
        *started = true;
        return 0;
}

/* Tells the threads started to stop and waits for them. */
static void stop_threads(struct agent *ag, pthread_t *t, const bool *started)
{
        pthread_mutex_lock(&ag->mu);
        ag->stop = true;
        wake(ag);
        pthread_mutex_unlock(&ag->mu);
        if (started[THREAD_SIGNALS])
                pthread_kill(t[THREAD_SIGNALS], SIGTERM); /* harmless when it already returned */
        for (int i = 0; i < THREAD__COUNT; i++)
                if (started[i])
                        pthread_join(t[i], NULL);
}

int agent_run(const struct agent_config *cfg, struct idyl_err *err)
{
        struct agent ag = {.cfg = cfg, .heartbeat_s = HEARTBEAT_DEFAULT};
        struct workers_config wc = {
            .nworkers = cfg->workers, .open = worker_open, .close = worker_close, .opaque = &ag};
        pthread_t t[THREAD__COUNT];
        bool started[THREAD__COUNT] = {false}, secrets = false, sync = false;
        struct agent_streams *streams = NULL;
        pthread_condattr_t ca;
        sigset_t set;
        int lockfd, rc = -1;

        lockfd = take_lock(cfg->dir, err);
        if (lockfd < 0)
                return -1;
        if (agent_runtime_open(cfg, &ag.rt, err) < 0)
                goto out;
        ag.rt->ops->set_abort(ag.rt, &ag.stop);
        if (agent_secrets_init(&ag.secrets, cfg, err) < 0)
                goto out;
        secrets = true;
        snprintf(ag.base_path, sizeof(ag.base_path), "/v1/subnets/%s/nodes/%s", cfg->subnet,
                 cfg->name);
        pthread_mutex_init(&ag.mu, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&ag.cond, &ca);
        pthread_condattr_destroy(&ca);
        sync = true;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        /* after the mask: no worker takes the signal meant for signal_main */
        if (workers_new(&wc, &ag.pool, err) < 0)
                goto out;
        log_info("node %s of subnet %s (%s on %s, %zu workers), control plane %s", cfg->name,
                 cfg->subnet, cfg->profile[0] ? cfg->profile : cfg->handler, cfg->endpoint,
                 cfg->workers ? cfg->workers : (size_t)WORKERS_DEFAULT, cfg->addr);
        if (start_thread(&ag, &t[THREAD_SIGNALS], &started[THREAD_SIGNALS], signal_main, "signal",
                         err) < 0 ||
            start_thread(&ag, &t[THREAD_ASSIGNMENTS], &started[THREAD_ASSIGNMENTS], assign_main,
                         "assignments", err) < 0 ||
            start_thread(&ag, &t[THREAD_HEARTBEAT], &started[THREAD_HEARTBEAT], heartbeat_main,
                         "heartbeat", err) < 0)
                goto out;
        restarts_load(&ag);
        check_health(&ag);
        if (start_thread(&ag, &t[THREAD_EVENTS], &started[THREAD_EVENTS], events_main,
                         "runtime events", err) < 0)
                goto out;
        streams = agent_streams_start(cfg, &ag.stop);
        loop(&ag);
        rc = 0;
out:
        agent_streams_free(streams);
        if (sync)
                stop_threads(&ag, t, started);
        /* queued actions are dropped, running ones abort on ag.stop */
        if (ag.pool)
                workers_free(ag.pool);
        if (rc == 0)
                log_info("stopped; workloads keep running and the next agent adopts them");
        for (size_t j = 0; j < ag.ndesired; j++)
                desired_release(&ag.desired[j]);
        free(ag.desired);
        free(ag.entries);
        json_decref(ag.assign_cur);
        json_decref(ag.assign);
        json_decref(ag.heartbeat);
        json_decref(ag.saved_restarts);
        free(ag.inflight);
        free(ag.outcomes);
        if (ag.rt)
                ag.rt->ops->destroy(ag.rt);
        if (secrets)
                agent_secrets_release(&ag.secrets);
        if (sync) {
                pthread_cond_destroy(&ag.cond);
                pthread_mutex_destroy(&ag.mu);
        }
        close(lockfd);
        return rc;
}
