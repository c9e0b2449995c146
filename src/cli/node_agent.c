/* The provider side of `idyl node`: run (the agent in the foreground),
 * stop, status, and starting the agent in the background for
 * `join --start`. */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/http.h"
#include "agent/workers.h"
#include "util/log.h"

#define START_WAIT_S 10
#define STOP_WAIT_S  30

int node_agent_start(const char *dir, pid_t *pid, struct idyl_err *err)
{
        char log_path[PATH_MAX + 16], self[PATH_MAX];
        bool was_running;
        ssize_t n;
        pid_t child;
        int fd;

        if (agent_stop(dir, STOP_WAIT_S, &was_running, err) < 0)
                return -1;
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n < 0)
                return idyl_err_errno(err, errno, "find the idyl binary");
        self[n] = '\0';
        if ((size_t)snprintf(log_path, sizeof(log_path), "%s/agent.log", dir) >= sizeof(log_path))
                return idyl_err_set(err, IDYL_E_INVALID, "node directory path too long");
        fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0)
                return idyl_err_errno(err, errno, "open \"%s\"", log_path);
        fflush(NULL);
        child = fork();
        if (child < 0) {
                close(fd);
                return idyl_err_errno(err, errno, "fork");
        }
        if (child == 0) {
                int devnull = open("/dev/null", O_RDONLY);
                setsid();
                if (devnull >= 0)
                        dup2(devnull, 0);
                dup2(fd, 1);
                dup2(fd, 2);
                /* the agent outlives us: it must not hold our caller's pipes */
                close_range(3, ~0U, 0);
                execl(self, "idyl", "node", "run", "--node-dir", dir, (char *)NULL);
                dprintf(2, "idyl: exec %s: %s\n", self, strerror(errno));
                _exit(127);
        }
        close(fd);
        for (int i = 0; i < START_WAIT_S * 20; i++) {
                *pid = agent_running(dir);
                if (*pid > 0)
                        return 0;
                if (waitpid(child, NULL, WNOHANG) == child)
                        break;
                usleep(50000);
        }
        return idyl_err_set(err, IDYL_E_UNAVAILABLE, "the node agent did not start; see %s",
                            log_path);
}

/* The node directory's configuration, verifying the control plane with the
 * CLI's CA (IDYL_CA or the context's). */
static int load_config(const struct cli_ctx *ctx, const struct cli_args *a, char *dirbuf,
                       struct agent_config *cfg, struct idyl_err *err)
{
        if (node_config_load(node_dir_default(a, dirbuf, PATH_MAX), cfg, err) < 0)
                return -1;
        snprintf(cfg->ca, sizeof(cfg->ca), "%s", ctx->ca);
        return 0;
}

static const struct cli_opt dir_opts[] = {
    {"node-dir", OPT_STRING, "DIR", "local state directory (env IDYL_NODE_DIR)"},
    OPT_END,
};

static const struct cli_opt run_opts[] = {
    {"node-dir", OPT_STRING, "DIR", "local state directory (env IDYL_NODE_DIR)"},
    {"log-format", OPT_STRING, "FORMAT",
     "text (default) or json: one object per line with time, level, msg (env "
     "IDYL_LOG_FORMAT)"},
    {"workers", OPT_STRING, "N",
     "runtime operations (pulls, starts, stops) run at once, on different workloads: 1 to 64 "
     "(default 8; env IDYL_NODE_WORKERS)"},
    OPT_END,
};

/* --workers, else IDYL_NODE_WORKERS, else 0 (the default). */
static int parse_workers(const char *v, bool flag, size_t *out, struct idyl_err *err)
{
        char *end;
        long n;

        *out = 0;
        if (!v)
                return 0;
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno || end == v || *end || n < 1 || n > WORKERS_MAX)
                return idyl_err_set(err, IDYL_E_USAGE, "invalid %s \"%.40s\": want 1 to %d",
                                    flag ? "--workers" : "IDYL_NODE_WORKERS", v, WORKERS_MAX);
        *out = (size_t)n;
        return 0;
}

static int node_run(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        const char *format = cli_str(a, "log-format"), *workers = cli_str(a, "workers");
        char buf[PATH_MAX];
        struct agent_config cfg;
        size_t nworkers;

        log_init("idyl-node");
        if (format && log_set_format(format) < 0)
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "invalid --log-format \"%s\": want text or json", format);
        if (parse_workers(workers ? workers : getenv("IDYL_NODE_WORKERS"), workers != NULL,
                          &nworkers, err) < 0)
                return -1;
        if (load_config(ctx, a, buf, &cfg, err) < 0)
                return -1;
        cfg.workers = nworkers;
        return agent_run(&cfg, err);
}

static int node_stop(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        char buf[PATH_MAX];
        const char *dir = node_dir_default(a, buf, sizeof(buf));
        bool was_running;

        (void)ctx;
        if (agent_stop(dir, STOP_WAIT_S, &was_running, err) < 0)
                return -1;
        if (was_running)
                printf("node agent stopped\n");
        else
                fprintf(stderr, "no node agent runs on %s\n", dir);
        return 0;
}

/* Asks the control plane about this node with the node's own credential. */
static json_t *control_plane_view(const struct agent_config *cfg)
{
        struct http_client *h = node_config_client(cfg);
        struct idyl_err err = IDYL_ERR_INIT;
        json_t *node = NULL, *out;
        char path[200];

        snprintf(path, sizeof(path), "/v1/subnets/%s/nodes/%s", cfg->subnet, cfg->name);
        if (!h || http_json(h, "GET", path, NULL, 10, NULL, &node, &err) < 0)
                out = json_pack("{s:s,s:b,s:s}", "address", cfg->addr, "reachable", 0, "error",
                                h ? err.msg : "out of memory");
        else
                out = json_pack(
                    "{s:s,s:b,s:s,s:s,s:s,s:b}", "address", cfg->addr, "reachable", 1, "status",
                    json_string_value(json_object_get(node, "status")) ?: "", "admission",
                    json_string_value(json_object_get(node, "admission")) ?: "", "eligibility",
                    json_string_value(json_object_get(node, "eligibility")) ?: "eligible",
                    "draining", json_is_true(json_object_get(node, "draining")));
        json_decref(node);
        http_client_free(h);
        return out;
}

/* ", draining" or ", ineligible" when an operator took the node out of
 * scheduling; "" when it takes new work. */
static const char *scheduling_note(const json_t *cp)
{
        const char *elig = json_string_value(json_object_get(cp, "eligibility"));

        if (json_is_true(json_object_get(cp, "draining")))
                return ", draining";
        return elig && strcmp(elig, "ineligible") == 0 ? ", ineligible" : "";
}

static void status_table(FILE *f, const json_t *v)
{
        const json_t *cp = json_object_get(v, "controlPlane"), *ag = json_object_get(v, "agent");
        const json_t *c;
        struct table t;
        size_t i;

#define S(o, k) (json_string_value(json_object_get((o), (k))) ?: "-")
        fprintf(f, "node:          %s\n", S(v, "name"));
        fprintf(f, "subnet:        %s\n", S(v, "subnet"));
        fprintf(f, "profile:       %s\n", S(v, "profile"));
        fprintf(f, "provider:      %s (handler %s)\n", S(v, "provider"), S(v, "handler"));
        fprintf(f, "isolation:     %s%s%s\n", S(v, "isolationClass"),
                json_is_string(json_object_get(v, "vmmBackend")) ? ", vmm " : "",
                json_is_string(json_object_get(v, "vmmBackend")) ? S(v, "vmmBackend") : "");
        fprintf(f, "endpoint:      %s\n", S(v, "endpoint"));
        fprintf(f, "node dir:      %s\n", S(v, "nodeDir"));
        if (json_is_true(json_object_get(ag, "running")))
                fprintf(f, "agent:         running (pid %lld)\n",
                        (long long)json_integer_value(json_object_get(ag, "pid")));
        else
                fprintf(f, "agent:         not running\n");
        if (json_is_true(json_object_get(cp, "reachable")))
                fprintf(f, "control plane: %s reachable (node %s, %s%s)\n", S(cp, "address"),
                        S(cp, "status"), S(cp, "admission"), scheduling_note(cp));
        else
                fprintf(f, "control plane: %s unreachable: %s\n", S(cp, "address"), S(cp, "error"));
        fprintf(f, "runtime:       %s\n",
                json_is_true(json_object_get(v, "ready")) ? "ready" : "not ready");
        fprintf(f, "\n");
        table_init(&t, 4);
        table_row(&t, (const char *const[]){"CHECK", "SUBJECT", "RESULT", "DETAIL"});
        json_array_foreach(json_object_get(v, "checks"), i, c)
        {
                const char *row[4] = {S(c, "name"), S(c, "subject"),
                                      json_is_true(json_object_get(c, "ok")) ? "pass" : "fail",
                                      S(c, "detail")};
                table_row(&t, row);
        }
#undef S
        table_print(f, &t);
        table_release(&t);
}

static int node_status(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        char buf[PATH_MAX];
        struct agent_config cfg;
        struct rt_health h = {0};
        struct runtime *rt = NULL;
        json_t *out, *checks = json_array();
        pid_t pid;
        int rc;

        if (load_config(ctx, a, buf, &cfg, err) < 0)
                return -1;
        if (agent_runtime_open(&cfg, &rt, err) < 0) {
                rt_health_check(&h, "runtime", cfg.endpoint, false, "%s", err->msg);
                idyl_err_clear(err);
        } else {
                rt->ops->health(rt, &h);
                rt->ops->destroy(rt);
        }
        for (size_t i = 0; i < h.nchecks; i++)
                json_array_append_new(checks,
                                      json_pack("{s:s,s:s,s:b,s:s}", "name", h.checks[i].name,
                                                "subject", h.checks[i].subject, "ok",
                                                h.checks[i].ok, "detail", h.checks[i].detail));
        pid = agent_running(cfg.dir);
        out = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:o,s:o,s:b,s:s,s:o}", "name",
                        cfg.name, "subnet", cfg.subnet, "profile", cfg.profile, "provider",
                        cfg.provider, "handler", cfg.handler, "isolationClass",
                        isolation_class_name(cfg.isolation), "vmmBackend",
                        vmm_backend_name(cfg.backend) ? json_string(vmm_backend_name(cfg.backend))
                                                      : json_null(),
                        "endpoint", cfg.endpoint, "nodeDir", cfg.dir, "agent",
                        pid > 0 ? json_pack("{s:b,s:i}", "running", 1, "pid", (int)pid)
                                : json_pack("{s:b}", "running", 0),
                        "controlPlane", control_plane_view(&cfg), "ready", h.ready, "reason",
                        h.reason, "checks", checks);
        rc = output_print(a->output, out, status_table, err);
        json_decref(out);
        return rc;
}

const struct cli_command node_agent_commands[] = {
    {"node", "run", node_run, run_opts, NULL, 0, 0, 0,
     "Run the node agent in the foreground (for systemd)."},
    {"node", "stop", node_stop, dir_opts, NULL, 0, 0, 0, "Stop the node agent of this machine."},
    {"node", "status", node_status, dir_opts, NULL, 0, 0, CMD_OUTPUT,
     "Show this machine's node configuration, agent and runtime readiness checks."},
};

const size_t node_agent_ncommands = sizeof(node_agent_commands) / sizeof(node_agent_commands[0]);
