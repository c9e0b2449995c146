/* The node agent. Four threads around one mutex:
 *   - the reconcile loop (the caller's thread): runtime health, list, plan,
 *     act; woken by new assignments, runtime events and back-off timers;
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

        /* instances the reaper removes (queued or under way), by id */
        char (*reaping)[80];
        size_t nreaping, reaping_cap;
        struct runtime *reap_rt; /* the reaper's own connection */

        /* the reconcile loop's own */
        json_t *assign_cur;
        struct desired *desired;
        struct rc_entry *entries;
        size_t ndesired;
        struct rt_health health;
        int64_t health_at, list_at;
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

/* ---- reaper thread ------------------------------------------------------------------ */

/* Stopping a container can take its whole grace period: the reaper does it
 * on its own connection so new work never waits behind an old one. */
static void *reaper_main(void *arg)
{
        struct agent *ag = arg;

        pthread_mutex_lock(&ag->mu);
        while (!ag->stop) {
                struct idyl_err err = IDYL_ERR_INIT;
                char id[80];

                if (ag->nreaping == 0) {
                        wait_ms(ag, HEALTH_EVERY_MS);
                        continue;
                }
                memcpy(id, ag->reaping[0], sizeof(id));
                pthread_mutex_unlock(&ag->mu);
                if (ag->reap_rt->ops->remove(ag->reap_rt, id, &err) < 0)
                        log_warnx("%s", err.msg);
                else
                        log_info("removed %.12s", id);
                pthread_mutex_lock(&ag->mu);
                memmove(ag->reaping, ag->reaping + 1, --ag->nreaping * sizeof(ag->reaping[0]));
                ag->dirty = true;
                wake(ag);
        }
        pthread_mutex_unlock(&ag->mu);
        return NULL;
}

/* Called with mu held. */
static bool reaping(const struct agent *ag, const char *id)
{
        for (size_t i = 0; i < ag->nreaping; i++)
                if (strcmp(ag->reaping[i], id) == 0)
                        return true;
        return false;
}

static void reap(struct agent *ag, const struct rt_instance *inst)
{
        pthread_mutex_lock(&ag->mu);
        if (!reaping(ag, inst->id)) {
                if (ag->nreaping == ag->reaping_cap) {
                        size_t cap = ag->reaping_cap ? 2 * ag->reaping_cap : 16;
                        void *p = realloc(ag->reaping, cap * sizeof(ag->reaping[0]));
                        if (!p) {
                                pthread_mutex_unlock(&ag->mu);
                                return; /* the next pass tries again */
                        }
                        ag->reaping = p;
                        ag->reaping_cap = cap;
                }
                snprintf(ag->reaping[ag->nreaping++], sizeof(ag->reaping[0]), "%s", inst->id);
                log_info("removing %.12s: workload %s revision %" PRId64
                         " is no longer assigned here",
                         inst->id, inst->workload, inst->revision);
                wake(ag);
        }
        pthread_mutex_unlock(&ag->mu);
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
static int start_with_access(struct agent *ag, const struct desired *d,
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
                rc = ag->rt->ops->restart(ag->rt, inst, &w, err);
        else
                rc = ag->rt->ops->ensure_image(ag->rt, w.image, w.platform, err) < 0
                         ? -1
                         : ag->rt->ops->run(ag->rt, &w, id, idsize, err);
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
        runtime_set_network_policy(ag->reap_rt, &p);
        log_info("network policy: egress %s%s%s", egress_mode_name(network_policy_egress(&p)),
                 p.cidrs[0] ? " to " : "", p.cidrs);
        if (ag->rt->ops->enforce(ag->rt, &err) < 0)
                log_warnx("network policy: %s", err.msg);
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
        prune_secrets(ag);
}

static void execute(struct agent *ag, const struct rc_action *act, const struct rt_instance *a)
{
        struct idyl_err err = IDYL_ERR_INIT;
        struct rc_entry *e = act->kind == RC_REMOVE ? NULL : &ag->entries[act->entry];
        const struct desired *d = act->kind == RC_REMOVE ? NULL : &ag->desired[act->entry];
        char id[80];

        switch (act->kind) {
        case RC_REMOVE:
                reap(ag, &a[act->inst]);
                return;
        case RC_RUN:
                if (start_with_access(ag, d, NULL, id, sizeof(id), &err) < 0) {
                        log_warnx("workload %s revision %" PRId64 ": %s", e->name, e->revision,
                                  err.msg);
                        rc_failed(e, mono_ms(), err.msg);
                        return;
                }
                log_info("workload %s revision %" PRId64 " started as %.12s", e->name, e->revision,
                         id);
                rc_started(e, false);
                return;
        case RC_RESTART:
                if (start_with_access(ag, d, &a[act->inst], NULL, 0, &err) < 0) {
                        log_warnx("workload %s: %s", e->name, err.msg);
                        rc_failed(e, mono_ms(), err.msg);
                        return;
                }
                rc_started(e, a[act->inst].state == RT_EXITED);
                log_info("workload %s revision %" PRId64 " restarted (%d restarts)", e->name,
                         e->revision, e->restarts);
                return;
        }
}

/* One pass: list, plan, act. Returns when the loop wants the next pass. */
static int64_t reconcile(struct agent *ag)
{
        struct idyl_err err = IDYL_ERR_INIT;
        struct rt_instance *a = NULL;
        struct rc_action *acts;
        int64_t next = 0, now = mono_ms();
        size_t na = 0, nacts;

        if (ag->rt->ops->list(ag->rt, &a, &na, &err) < 0) {
                log_warnx("list workloads: %s", err.msg);
                ag->health_at = 0; /* look at the runtime's health again */
                return now + RETRY_MS;
        }
        ag->list_at = now;
        /* what the reaper is removing is gone already, as far as planning goes */
        pthread_mutex_lock(&ag->mu);
        for (size_t i = 0; i < na;)
                if (reaping(ag, a[i].id))
                        a[i] = a[--na];
                else
                        i++;
        pthread_mutex_unlock(&ag->mu);
        acts = calloc(ag->ndesired + na + 1, sizeof(*acts));
        if (!acts) {
                free(a);
                return now + RETRY_MS;
        }
        nacts = rc_plan(ag->entries, ag->ndesired, a, na, now, acts, &next);
        for (size_t i = 0; i < nacts && !ag->stop; i++)
                execute(ag, &acts[i], a);
        /* starts change what runs: look again, which also reports it */
        for (size_t i = 0; i < nacts; i++)
                if (acts[i].kind != RC_REMOVE)
                        next = mono_ms();
        free(acts);
        free(a);
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
                bool dirty, due;
                int64_t now;

                pthread_mutex_lock(&ag->mu);
                while (!ag->stop && !ag->dirty && !ag->assign_changed &&
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
                due = assign || dirty || (next_pass && now >= next_pass) ||
                      now >= ag->list_at + LIST_EVERY_MS;
                /* nothing is stopped before the control plane said what to run */
                if (due)
                        next_pass = ag->health.ready && ag->assign_cur ? reconcile(ag) : 0;
                if (dirty && ag->health.ready && (next_pass == 0 || next_pass > now + SETTLE_MS))
                        next_pass = now + SETTLE_MS;
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
        THREAD_REAPER,
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
        pthread_t t[THREAD__COUNT];
        bool started[THREAD__COUNT] = {false}, secrets = false, sync = false;
        struct agent_streams *streams = NULL;
        pthread_condattr_t ca;
        sigset_t set;
        int lockfd, rc = -1;

        lockfd = take_lock(cfg->dir, err);
        if (lockfd < 0)
                return -1;
        if (agent_runtime_open(cfg, &ag.rt, err) < 0 ||
            agent_runtime_open(cfg, &ag.reap_rt, err) < 0)
                goto out;
        ag.rt->ops->set_abort(ag.rt, &ag.stop);
        ag.reap_rt->ops->set_abort(ag.reap_rt, &ag.stop);
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
        log_info("node %s of subnet %s (%s on %s), control plane %s", cfg->name, cfg->subnet,
                 cfg->profile[0] ? cfg->profile : cfg->handler, cfg->endpoint, cfg->addr);

        if (start_thread(&ag, &t[THREAD_SIGNALS], &started[THREAD_SIGNALS], signal_main, "signal",
                         err) < 0 ||
            start_thread(&ag, &t[THREAD_ASSIGNMENTS], &started[THREAD_ASSIGNMENTS], assign_main,
                         "assignments", err) < 0 ||
            start_thread(&ag, &t[THREAD_HEARTBEAT], &started[THREAD_HEARTBEAT], heartbeat_main,
                         "heartbeat", err) < 0)
                goto out;
        check_health(&ag);
        if (start_thread(&ag, &t[THREAD_EVENTS], &started[THREAD_EVENTS], events_main,
                         "runtime events", err) < 0 ||
            start_thread(&ag, &t[THREAD_REAPER], &started[THREAD_REAPER], reaper_main, "reaper",
                         err) < 0)
                goto out;
        streams = agent_streams_start(cfg, &ag.stop);
        loop(&ag);
        rc = 0;
out:
        agent_streams_free(streams);
        if (sync)
                stop_threads(&ag, t, started);
        if (rc == 0)
                log_info("stopped; workloads keep running and the next agent adopts them");
        for (size_t j = 0; j < ag.ndesired; j++)
                desired_release(&ag.desired[j]);
        free(ag.desired);
        free(ag.entries);
        json_decref(ag.assign_cur);
        json_decref(ag.assign);
        json_decref(ag.heartbeat);
        free(ag.reaping);
        if (ag.rt)
                ag.rt->ops->destroy(ag.rt);
        if (ag.reap_rt)
                ag.reap_rt->ops->destroy(ag.reap_rt);
        if (secrets)
                agent_secrets_release(&ag.secrets);
        if (sync) {
                pthread_cond_destroy(&ag.cond);
                pthread_mutex_destroy(&ag.mu);
        }
        close(lockfd);
        return rc;
}
