/* idyl node join|get|admit|revoke|delete. join registers this machine as a
 * provider node with a runtime profile (or raw runtime settings) and keeps
 * what the agent needs (address, node credential, runtime settings) in the
 * node directory. */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent/node_config.h"
#include "core/node.h"
#include "core/nodeproto.h"
#include "core/subnet.h"
#include "core/workload.h"
#include "util/clock.h"

#define NODE_WATCH_CALL_MAX_S 30 /* seconds one watch request waits, under the client's timeout */

static const struct cli_opt join_opts[] = {
    {"subnet", OPT_STRING, "SUBNET", "subnet to join (required)"},
    {"runtime-profile", OPT_STRING, "PROFILE", "runtime preset: " PROFILE_NAMES},
    {"runtime-provider", OPT_STRING, "PROVIDER",
     "raw settings without a preset: docker or containerd"},
    {"runtime-handler", OPT_STRING, "HANDLER",
     "with --runtime-provider: runtime handler, e.g. io.containerd.kata-qemu.v2"},
    {"runtime-endpoint", OPT_STRING, "URL",
     "runtime socket, e.g. unix:///run/containerd/containerd.sock"},
    {"cni-conf-dir", OPT_STRING, "DIR",
     "containerd: CNI configuration directory the agent installs its network into (default "
     "/etc/cni/net.d)"},
    {"cni-bin-dir", OPT_STRING, "DIR", "containerd: CNI plugins (default /usr/lib/cni)"},
    {"name", OPT_STRING, "NAME", "node name (default: the host name)"},
    {"platform", OPT_STRING, "OS/ARCH", "platform (default: this machine's)"},
    {"cpu", OPT_STRING, "CPU", "CPU offered (default: this machine's cores)"},
    {"memory", OPT_STRING, "SIZE", "memory offered (default: this machine's)"},
    {"gpus", OPT_STRING, "N", "GPUs offered (default 0)"},
    {"microvm-gpu", OPT_FLAG, NULL, "declare a validated microVM GPU passthrough path (qemu)"},
    {"device", OPT_MULTI, "PATH",
     "offer a host device (a character or block device; Kata: block only)"},
    {"node-dir", OPT_STRING, "DIR", "local state directory (env IDYL_NODE_DIR)"},
    {"start", OPT_FLAG, NULL, "start the node agent in the background once registered"},
    OPT_END,
};

static const struct cli_opt get_opts[] = {
    {"subnet", OPT_STRING, "SUBNET", "subnet of the nodes (required)"},
    OPT_END,
};

static const struct cli_opt list_opts[] = {
    {"subnet", OPT_STRING, "SUBNET", "subnet of the nodes (required)"},
    {"watch", OPT_FLAG, NULL, "after the table, print a line per change until interrupted"},
    OPT_END,
};

static const struct cli_opt eligibility_opts[] = {
    {"subnet", OPT_STRING, "SUBNET", "subnet of the node (required)"},
    {"disable", OPT_FLAG, NULL, "the node gets no new work (what runs there stays)"},
    {"enable", OPT_FLAG, NULL, "the node takes new work again (also ends a drain)"},
    OPT_END,
};

static const struct cli_opt drain_opts[] = {
    {"subnet", OPT_STRING, "SUBNET", "subnet of the node (required)"},
    {"deadline", OPT_STRING, "DURATION",
     "exit 1 if its workloads have not all moved by then: 90s, 5m (default 60s)"},
    OPT_END,
};

/* This machine's platform in OCI terms (linux/amd64, linux/arm64). */
static void host_platform(char *buf, size_t size)
{
        struct utsname u;
        const char *arch = "amd64";

        if (uname(&u) == 0) {
                if (strcmp(u.machine, "aarch64") == 0)
                        arch = "arm64";
                else if (strcmp(u.machine, "x86_64") != 0)
                        arch = u.machine;
        }
        if ((size_t)snprintf(buf, size, "linux/%s", arch) >= size)
                buf[0] = '\0'; /* never: size is generous */
}

const char *node_dir_default(const struct cli_args *a, char *buf, size_t size)
{
        const char *d = cli_str(a, "node-dir"), *env = getenv("IDYL_NODE_DIR"),
                   *home = getenv("HOME");

        if (d && *d)
                return d;
        if (env && *env)
                return env;
        if (geteuid() == 0)
                return "/var/lib/idyl-node";
        snprintf(buf, size, "%s/.idyl/node", home ? home : ".");
        return buf;
}

/* What the node offers: --cpu/--memory/--gpus, else this machine's. */
static int join_capacity(const struct cli_args *a, struct nodeproto_capacity *c,
                         struct idyl_err *err)
{
        /* whole MiB, so the capacity reads as "23Gi"-like units, not bytes */
        c->memory_bytes =
            ((long long)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE)) & ~((1LL << 20) - 1);
        c->cpu_milli = (int64_t)sysconf(_SC_NPROCESSORS_ONLN) * 1000;
        c->gpus = 0;
        if (cli_str(a, "cpu") && resource_cpu_parse(cli_str(a, "cpu"), &c->cpu_milli, err) < 0)
                return -1;
        if (cli_str(a, "memory") &&
            resource_memory_parse(cli_str(a, "memory"), &c->memory_bytes, err) < 0)
                return -1;
        if (cli_str(a, "gpus") && resource_gpus_parse(cli_str(a, "gpus"), &c->gpus, err) < 0)
                return -1;
        return 0;
}

/* The join request's runtime: a profile, or raw settings. */
static int join_runtime(const struct cli_args *a, struct nodeproto_runtime *rt,
                        struct idyl_err *err)
{
        const char *profile = cli_str(a, "runtime-profile"),
                   *provider = cli_str(a, "runtime-provider");
        enum runtime_profile p;

        if (profile && provider)
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "--runtime-profile cannot be combined with --runtime-provider");
        if (!profile && !provider)
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "--runtime-profile or --runtime-provider is required "
                                    "(profiles: " PROFILE_NAMES ")");
        if (profile && runtime_profile_parse(profile, &p, err) < 0)
                return -1;
        *rt = (struct nodeproto_runtime){.profile = profile,
                                         .provider = provider,
                                         .handler = cli_str(a, "runtime-handler"),
                                         .ready = false,
                                         .reason = "the node agent is not running"};
        return 0;
}

/* Whether the node's runtime runs microVMs (Kata): from its profile, or
 * from the raw handler. */
static bool joins_microvm(const struct cli_args *a)
{
        const char *profile = cli_str(a, "runtime-profile");
        enum isolation_class cls = ISOLATION_NONE;
        enum vmm_backend backend;
        enum runtime_profile p;

        if (profile && runtime_profile_parse(profile, &p, NULL) == 0)
                return profile_preset(p)->isolation == ISOLATION_MICROVM;
        if (cli_str(a, "runtime-provider"))
                runtime_derive(cli_str(a, "runtime-provider"), cli_str(a, "runtime-handler"), &cls,
                               &backend, NULL);
        return cls == ISOLATION_MICROVM;
}

/* Checks the devices the node offers (--device): each must be a character
 * or block device on this machine, and only block devices on Kata, which
 * passes no character device into a guest. */
static int join_devices_check(const struct cli_args *a, struct idyl_err *err)
{
        const struct cli_value *v = cli_value(a, "device");
        bool microvm = joins_microvm(a);
        struct stat st;

        for (size_t i = 0; i < v->n; i++) {
                const char *path = v->list[i];

                if (device_path_check(path, "--device", err) < 0)
                        return -1;
                if (stat(path, &st) < 0)
                        return idyl_err_errno(err, errno, "invalid --device \"%s\"", path);
                if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "invalid --device \"%s\": not a character or block "
                                            "device",
                                            path);
                if (microvm && !S_ISBLK(st.st_mode))
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "invalid --device \"%s\": a character device, and "
                                            "Kata passes only block devices into a microVM",
                                            path);
        }
        return 0;
}

static void node_table(FILE *f, const json_t *v);

static int node_join(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        const char *subnet = cli_str(a, "subnet"), *dir;
        char host[256], platform[64], path[160], dirbuf[PATH_MAX];
        const struct cli_value *devices = cli_value(a, "device");
        struct nodeproto_join j = {.name = cli_str(a, "name"),
                                   .platform = cli_str(a, "platform"),
                                   .devices = (const char *const *)devices->list,
                                   .ndevices = devices->n,
                                   .microvm_gpu = cli_flag(a, "microvm-gpu")};
        struct node_config_new state = {.addr = ctx->addr, .subnet = subnet};
        json_t *body = NULL, *out = NULL;
        uint64_t slug;
        pid_t pid = 0;
        int rc = -1;

        dir = node_dir_default(a, dirbuf, sizeof(dirbuf));
        if (!subnet)
                return idyl_err_set(err, IDYL_E_USAGE, "--subnet is required");
        if (subnet_slug_parse(subnet, &slug, err) < 0 || join_runtime(a, &j.runtime, err) < 0 ||
            join_devices_check(a, err) < 0 || join_capacity(a, &j.capacity, err) < 0)
                return -1;
        if (!j.name) {
                gethostname(host, sizeof(host));
                host[sizeof(host) - 1] = '\0';
                j.name = host;
        }
        if (!j.platform) {
                host_platform(platform, sizeof(platform));
                j.platform = platform;
        }
        body = nodeproto_join_body(&j);
        if (!body)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        snprintf(path, sizeof(path), "/v1/subnets/%s/nodes", subnet);
        if (api_call(ctx, "POST", path, body, &out, err) < 0)
                goto out;
        state.joined = out;
        state.endpoint = cli_str(a, "runtime-endpoint");
        state.cni_conf_dir = cli_str(a, "cni-conf-dir");
        state.cni_bin_dir = cli_str(a, "cni-bin-dir");
        /* what the provider chose to offer caps what the runtime reports */
        state.offer = cli_str(a, "cpu") || cli_str(a, "memory") || cli_str(a, "gpus");
        if (node_config_save(dir, &state, err) < 0)
                goto out;
        json_object_del(out, "credential"); /* kept in the node directory, not printed */
        if (cli_flag(a, "start") && node_agent_start(dir, &pid, err) < 0)
                goto out;
        if (output_print(a->output, out, node_table, err) < 0)
                goto out;
        if (cli_flag(a, "start"))
                fprintf(stderr, "node agent started (pid %ld); log: %s/agent.log\n", (long)pid,
                        dir);
        rc = 0;
out:
        json_decref(body);
        json_decref(out);
        return rc;
}

static void resource_cell(const json_t *node, char *buf, size_t size, const char *key)
{
        const json_t *cap = json_object_get(json_object_get(node, "capacity"), key);
        const json_t *used = json_object_get(json_object_get(node, "allocated"), key);
        char c[32], u[32];

        if (json_is_string(cap)) {
                snprintf(c, sizeof(c), "%s", json_string_value(cap));
                snprintf(u, sizeof(u), "%s", json_string_value(used));
        } else {
                snprintf(c, sizeof(c), "%g", json_number_value(cap));
                snprintf(u, sizeof(u), "%g", json_number_value(used));
        }
        snprintf(buf, size, "%s/%s", u, c);
}

/* "ready", and as kubectl's SchedulingDisabled: "ready,draining" while its
 * workloads move off, "ready,ineligible" once an operator disabled it. */
static void status_cell(const json_t *node, char *buf, size_t size)
{
        const char *status = json_string_value(json_object_get(node, "status"));
        const char *elig = json_string_value(json_object_get(node, "eligibility"));

        if (json_is_true(json_object_get(node, "draining")))
                elig = "draining";
        else if (elig && strcmp(elig, "eligible") == 0)
                elig = NULL;
        snprintf(buf, size, "%s%s%s", status ? status : "", elig ? "," : "", elig ? elig : "");
}

/* The node table; wide adds the handler, devices, whether it is simulated
 * and its last heartbeat before the reason. */
static void node_rows(FILE *f, const json_t *v, bool wide)
{
        static const char *const header[] = {
            "NAME",   "STATUS", "ADMISSION", "PROFILE", "CLASS",     "VMM",       "PLATFORM", "CPU",
            "MEMORY", "GPUS",   "HANDLER",   "DEVICES", "SIMULATED", "HEARTBEAT", "REASON"};
        static const size_t narrow[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14};
        size_t ncols = wide ? 15 : 11;
        struct table t;
        json_t *rows;
        const json_t *n;
        const char *cells[15];
        size_t i;

        table_init(&t, ncols);
        for (size_t c = 0; c < ncols; c++)
                cells[c] = header[wide ? c : narrow[c]];
        table_row(&t, cells);
        rows = output_rows(v);
        json_array_foreach(rows, i, n)
        {
                const json_t *rt = json_object_get(n, "runtime");
                char cpu[64], mem[64], gpus[64], status[64], devices[512];
                const char *row[15];

                resource_cell(n, cpu, sizeof(cpu), "cpu");
                resource_cell(n, mem, sizeof(mem), "memory");
                resource_cell(n, gpus, sizeof(gpus), "gpus");
                status_cell(n, status, sizeof(status));
                output_list_cell(json_object_get(n, "devices"), devices, sizeof(devices));
                row[0] = json_string_value(json_object_get(n, "name"));
                row[1] = status;
                row[2] = json_string_value(json_object_get(n, "admission"));
                row[3] = json_string_value(json_object_get(rt, "profile"));
                row[4] = json_string_value(json_object_get(rt, "isolationClass"));
                row[5] = json_string_value(json_object_get(rt, "vmmBackend"));
                row[6] = json_string_value(json_object_get(n, "platform"));
                row[7] = cpu;
                row[8] = mem;
                row[9] = gpus;
                row[10] = json_string_value(json_object_get(rt, "handler"));
                row[11] = devices;
                row[12] = json_is_true(json_object_get(n, "simulated")) ? "true" : "false";
                row[13] = json_string_value(json_object_get(n, "lastHeartbeat"));
                row[14] = json_string_value(json_object_get(rt, "reason"));
                for (size_t c = 0; c < ncols; c++)
                        cells[c] = row[wide ? c : narrow[c]];
                table_row(&t, cells);
        }
        json_decref(rows);
        table_print(f, &t);
        table_release(&t);
}

static void node_table(FILE *f, const json_t *v)
{
        node_rows(f, v, false);
}

static void node_wide_table(FILE *f, const json_t *v)
{
        node_rows(f, v, true);
}

static const struct output_tables node_tables = {node_table, node_wide_table};

static int nodes_path(const struct cli_args *a, const char *name, const char *suffix, char *buf,
                      size_t size, struct idyl_err *err)
{
        if (api_subnet_path(a, "nodes", name, suffix, buf, size, err) < 0)
                return -1;
        if (name && node_name_check(name, NULL) < 0)
                return idyl_err_set(err, IDYL_E_NOT_FOUND, "node \"%s\" not found in subnet \"%s\"",
                                    name, cli_str(a, "subnet"));
        return 0;
}

static int node_get(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        const char *name = a->npos ? a->pos[0] : NULL;
        bool watch = cli_flag(a, "watch");
        char path[200];
        json_t *out = NULL;
        int rc;

        if (nodes_path(a, name, watch && name ? "/watch" : NULL, path, sizeof(path), err) < 0)
                return -1;
        if (watch)
                return cli_watch(ctx, a->output, path, name ? "version" : "watch",
                                 name ? "node" : "nodes", &node_tables, err);
        if ((name ? api_call(ctx, "GET", path, NULL, &out, err) : api_list(ctx, path, &out, err)) <
            0)
                return -1;
        rc = output_print_tables(a->output, out, &node_tables, err);
        json_decref(out);
        return rc;
}

static int node_action(struct cli_ctx *ctx, struct cli_args *a, const char *method,
                       const char *suffix, struct idyl_err *err)
{
        char path[200];
        json_t *out = NULL;
        int rc = 0;

        if (nodes_path(a, a->pos[0], suffix, path, sizeof(path), err) < 0 ||
            api_call(ctx, method, path, NULL, &out, err) < 0)
                return -1;
        if (out)
                rc = output_print_tables(a->output, out, &node_tables, err);
        else
                printf("node \"%s\" deleted\n", a->pos[0]);
        json_decref(out);
        return rc;
}

static int node_admit(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        return node_action(ctx, a, "POST", "/admit", err);
}

static int node_revoke(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        return node_action(ctx, a, "POST", "/revoke", err);
}

static int node_delete(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        return node_action(ctx, a, "DELETE", NULL, err);
}

static int node_eligibility(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        bool enable = cli_flag(a, "enable"), disable = cli_flag(a, "disable");
        json_t *body, *out = NULL;
        char path[200];
        int rc;

        if (enable == disable)
                return idyl_err_set(err, IDYL_E_USAGE, "one of --enable or --disable is required");
        if (nodes_path(a, a->pos[0], "/eligibility", path, sizeof(path), err) < 0)
                return -1;
        body = json_pack("{s:b}", "eligible", enable);
        rc = api_call(ctx, "POST", path, body, &out, err);
        json_decref(body);
        if (rc == 0)
                rc = output_print_tables(a->output, out, &node_tables, err);
        json_decref(out);
        return rc;
}

/* The watch answer's node: whether it still drains, and what it holds. */
static bool still_draining(const json_t *answer)
{
        return json_is_true(json_object_get(json_object_get(answer, "node"), "draining"));
}

/* Follows the node's watch until its drain is over or the deadline passes. */
static int drain_wait(struct cli_ctx *ctx, const char *name, const char *watch_path,
                      int64_t deadline_ms, const char *deadline_text, struct idyl_err *err)
{
        char version[32] = "", path[320];

        for (;;) {
                int64_t left_ms = deadline_ms - mono_ms();
                long wait_s = left_ms <= 0 ? 0 : (long)((left_ms + 999) / 1000);
                json_t *answer = NULL;
                bool draining;

                if (wait_s > NODE_WATCH_CALL_MAX_S)
                        wait_s = NODE_WATCH_CALL_MAX_S;
                snprintf(path, sizeof(path), "%s?version=%s&wait=%ld", watch_path, version,
                         version[0] ? wait_s : 0L);
                if (api_call(ctx, "GET", path, NULL, &answer, err) < 0)
                        return -1;
                draining = still_draining(answer);
                snprintf(version, sizeof(version), "%s",
                         json_string_value(json_object_get(answer, "version")) ?: "");
                json_decref(answer);
                if (!draining) {
                        printf("node \"%s\" drained\n", name);
                        return 0;
                }
                if (mono_ms() >= deadline_ms)
                        return idyl_err_set(err, IDYL_E_UNAVAILABLE,
                                            "node \"%s\" is still draining after %s: its "
                                            "workloads go on moving (idyl node get %s --subnet S "
                                            "shows it)",
                                            name, deadline_text, name);
        }
}

static int node_drain(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        const char *deadline = cli_str(a, "deadline");
        char path[200], watch[200];
        int64_t deadline_ms = 60000;
        json_t *out = NULL;
        bool draining;

        if (deadline && cli_duration_parse("--deadline", deadline, &deadline_ms, err) < 0)
                return -1;
        if (nodes_path(a, a->pos[0], "/drain", path, sizeof(path), err) < 0 ||
            nodes_path(a, a->pos[0], "/watch", watch, sizeof(watch), err) < 0)
                return -1;
        deadline_ms += mono_ms();
        if (api_call(ctx, "POST", path, NULL, &out, err) < 0)
                return -1;
        draining = json_is_true(json_object_get(out, "draining"));
        json_decref(out);
        if (draining)
                fprintf(stderr, "node \"%s\" is ineligible; moving its workloads\n", a->pos[0]);
        return drain_wait(ctx, a->pos[0], watch, deadline_ms, deadline ? deadline : "60s", err);
}

const struct cli_command node_commands[] = {
    {"node", "join", node_join, join_opts, NULL, 0, 0, CMD_API | CMD_OUTPUT,
     "Register this machine as a provider node of a subnet."},
    {"node", "get", node_get, list_opts, "[NAME]", 0, 1, CMD_API | CMD_OUTPUT,
     "List the nodes of a subnet (or show one) with runtime metadata and health."},
    {"node", "admit", node_admit, get_opts, "NAME", 1, 1, CMD_API | CMD_OUTPUT,
     "Admit a pending node to the subnet's capacity (operator)."},
    {"node", "revoke", node_revoke, get_opts, "NAME", 1, 1, CMD_API | CMD_OUTPUT,
     "Revoke a node's admission; its workloads are placed again (operator)."},
    {"node", "delete", node_delete, get_opts, "NAME", 1, 1, CMD_API,
     "Remove a node; its workloads are placed again (operator)."},
    {"node", "eligibility", node_eligibility, eligibility_opts, "NAME", 1, 1, CMD_API | CMD_OUTPUT,
     "Make a node ineligible for new work (--disable), or eligible again (--enable) (operator).\n"
     "What already runs on an ineligible node stays; idyl node drain moves it."},
    {"node", "drain", node_drain, drain_opts, "NAME", 1, 1, CMD_API,
     "Drain a node: make it ineligible and move its workloads to other nodes (operator).\n"
     "A bounded number move at a time, each stopped there and placed again under the subnet's\n"
     "policy; returns once all have moved, exit 1 at the --deadline. The node stays ineligible\n"
     "until idyl node eligibility --enable."},
};

const size_t node_ncommands = sizeof(node_commands) / sizeof(node_commands[0]);
