/* containerd's task API for CRI execs: ListPids answers each process of a
 * container with its host pid and, for an exec's first process, runc's
 * ProcessDetails naming the exec. See agent/ctrd_tasks.h. */
#include "agent/ctrd_tasks.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/proctree.h"
#include "containerd_tasks.pb-c.h"
#include "util/clock.h"
#include "util/log.h"

#define TASKS_SVC     "/containerd.services.tasks.v1.Tasks/"
#define CRI_NAMESPACE "k8s.io"
#define DETAILS_TYPE  "containerd.runc.v1.ProcessDetails"
#define CALL_MS       5000
#define FIND_POLL_MS  20

int ctrd_list_execs(struct grpc_conn *g, const char *container_id, struct ctrd_execs *out,
                    struct idyl_err *err)
{
        Ctrd__ListPidsRequest req = CTRD__LIST_PIDS_REQUEST__INIT;
        Ctrd__ListPidsResponse *resp = NULL;

        out->n = 0;
        req.container_id = (char *)container_id;
        if (grpc_unary(g, TASKS_SVC "ListPids", (const ProtobufCMessage *)&req,
                       &ctrd__list_pids_response__descriptor, (ProtobufCMessage **)&resp, CALL_MS,
                       err) < 0)
                return idyl_err_wrap(err, "list the processes of container %.12s", container_id);
        for (size_t i = 0; i < resp->n_processes && out->n < CTRD_EXECS_MAX; i++) {
                const Ctrd__ProcessInfo *p = resp->processes[i];
                const char *type = p->info ? p->info->type_url : NULL;
                Ctrd__ProcessDetails *d;
                size_t tlen = type ? strlen(type) : 0;

                /* "containerd.runc.v1.ProcessDetails", with or without a URL prefix */
                if (tlen < strlen(DETAILS_TYPE) ||
                    strcmp(type + tlen - strlen(DETAILS_TYPE), DETAILS_TYPE) != 0)
                        continue; /* the main process: no details */
                d = ctrd__process_details__unpack(NULL, p->info->value.len, p->info->value.data);
                if (d && d->exec_id && d->exec_id[0] && strlen(d->exec_id) < CTRD_EXEC_ID_MAX) {
                        snprintf(out->id[out->n], CTRD_EXEC_ID_MAX, "%s", d->exec_id);
                        out->pid[out->n++] = (pid_t)p->pid;
                }
                if (d)
                        ctrd__process_details__free_unpacked(d, NULL);
        }
        ctrd__list_pids_response__free_unpacked(resp, NULL);
        return 0;
}

static struct grpc_conn *tasks_conn(const char *socket_path)
{
        struct grpc_conn *g = grpc_conn_new(socket_path);

        if (g)
                grpc_conn_set_namespace(g, CRI_NAMESPACE);
        return g;
}

static bool listed(const struct ctrd_execs *e, const char *id)
{
        for (size_t i = 0; i < e->n; i++)
                if (strcmp(e->id[i], id) == 0)
                        return true;
        return false;
}

static void *find_main(void *arg)
{
        struct ctrd_find *f = arg;
        struct grpc_conn *g = tasks_conn(f->socket_path);
        int64_t deadline = mono_ms() + CTRD_FIND_MS;
        struct ctrd_execs *now = malloc(sizeof(*now));
        size_t fresh = 0;

        while (g && now && !*f->stop && mono_ms() < deadline) {
                struct idyl_err err = IDYL_ERR_INIT;
                size_t at = 0;

                fresh = 0;
                if (ctrd_list_execs(g, f->container_id, now, &err) < 0) {
                        log_warnx("exec in container %.12s: %s", f->container_id, err.msg);
                        break;
                }
                for (size_t i = 0; i < now->n; i++)
                        if (!listed(&f->before, now->id[i])) {
                                fresh++;
                                at = i;
                        }
                if (fresh == 1) {
                        f->found = true;
                        snprintf(f->exec_id, sizeof(f->exec_id), "%s", now->id[at]);
                        f->pid = now->pid[at];
                        break;
                }
                usleep(FIND_POLL_MS * 1000);
        }
        if (fresh > 1)
                log_warnx("exec in container %.12s: another exec started with it; it will not "
                          "be stopped when its stream ends",
                          f->container_id);
        f->release(f->release_arg);
        free(now);
        grpc_conn_free(g);
        return NULL;
}

int ctrd_find_start(struct ctrd_find *f, void **thread)
{
        pthread_t *t = malloc(sizeof(*t));

        f->found = false;
        if (!t || pthread_create(t, NULL, find_main, f) != 0) {
                free(t);
                f->release(f->release_arg);
                return -1;
        }
        *thread = t;
        return 0;
}

void ctrd_find_join(void *thread)
{
        pthread_t *t = thread;

        if (!t)
                return;
        pthread_join(*t, NULL);
        free(t);
}

struct exec_ref {
        struct grpc_conn *g;
        const char *container_id, *exec_id;
};

/* containerd still lists the exec, with that pid. */
static bool still_runs(pid_t pid, void *arg)
{
        const struct exec_ref *x = arg;
        struct idyl_err err = IDYL_ERR_INIT;
        struct ctrd_execs *now = malloc(sizeof(*now));
        bool ours = false;

        if (now && ctrd_list_execs(x->g, x->container_id, now, &err) == 0)
                for (size_t i = 0; i < now->n; i++)
                        if (strcmp(now->id[i], x->exec_id) == 0 && now->pid[i] == pid)
                                ours = true;
        free(now);
        return ours;
}

int ctrd_exec_stop(const char *socket_path, const char *container_id, const char *exec_id,
                   pid_t pid, int grace_ms)
{
        struct exec_ref x = {tasks_conn(socket_path), container_id, exec_id};
        int n = 0;

        if (x.g)
                n = proc_tree_stop(pid, still_runs, &x, grace_ms);
        grpc_conn_free(x.g);
        return n;
}
