/* idyl-sim: runs hollow nodes for scale tests, benchmarks and scheduling
 * tests of runtimes this machine lacks.
 *   idyl-sim nodes --subnet S --count N --runtime-profile P [--cpu C]
 *                  [--memory M] [--gpus G] [--platform os/arch]
 *                  [--microvm-gpu] [--name-prefix X]
 * Options go through the CLI's shared parser; this file turns them into a
 * sim_config, sets up the process (own process group, signals, file limit)
 * and is the only place that prints an error. Exit 0 after SIGTERM/SIGINT,
 * 1 on failure, 2 on usage errors. */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/subnet.h"
#include "core/workload.h"
#include "sim/sim.h"
#include "util/version.h"

static const struct cli_opt nodes_opts[] = {
    {"subnet", OPT_STRING, "SUBNET", "subnet the nodes join (required)"},
    {"count", OPT_STRING, "N", "how many hollow nodes to run (required, 1 to 100000)"},
    {"runtime-profile", OPT_STRING, "PROFILE",
     "runtime every node reports as ready (required): " PROFILE_NAMES},
    {"cpu", OPT_STRING, "CPU", "CPU each node offers (default 4)"},
    {"memory", OPT_STRING, "SIZE", "memory each node offers (default 8Gi)"},
    {"gpus", OPT_STRING, "N", "GPUs each node offers (default 0)"},
    {"platform", OPT_STRING, "OS/ARCH", "platform the nodes report (default linux/amd64)"},
    {"microvm-gpu", OPT_FLAG, NULL, "declare a validated microVM GPU passthrough path (qemu)"},
    {"device", OPT_MULTI, "PATH",
     "a device path every node offers (nothing is checked on this host)"},
    {"name-prefix", OPT_STRING, "PREFIX",
     "nodes are PREFIX-0, PREFIX-1, ... (default sim-PROFILE)"},
    OPT_END,
};

static int run_nodes(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err);

static const struct cli_command nodes_command = {
    "nodes",
    NULL,
    run_nodes,
    nodes_opts,
    NULL,
    0,
    0,
    CMD_API,
    "Run hollow nodes: each joins the subnet (simulated: true), heartbeats, reports a ready\n"
    "runtime of the profile and every workload placed on it as running, without running\n"
    "anything. Runs in the foreground until SIGTERM or SIGINT.",
};

/* The shared help, as "idyl-sim nodes" rather than "idyl nodes". */
static void print_help(FILE *f)
{
        char *text = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&text, &len);
        const char *idyl = "usage: idyl ";

        if (!mem)
                return;
        cli_print_help(mem, &nodes_command);
        fclose(mem);
        if (strncmp(text, idyl, strlen(idyl)) == 0)
                fprintf(f, "usage: idyl-sim %s", text + strlen(idyl));
        else
                fputs(text, f);
        free(text);
}

static void usage(FILE *f)
{
        fprintf(f, "usage: idyl-sim nodes --subnet S --count N --runtime-profile P [options]\n\n"
                   "Run \"idyl-sim nodes --help\" for the options.\n");
}

/* ---- options -> config ------------------------------------------------- */

static int usage_err(struct idyl_err *err)
{
        err->code = IDYL_E_USAGE;
        return -1;
}

static int parse_count(const char *s, size_t *out, struct idyl_err *err)
{
        char *end = NULL;
        long v;

        if (!s)
                return idyl_err_set(err, IDYL_E_USAGE, "--count is required");
        v = strtol(s, &end, 10);
        if (!*s || *end || v < 1 || v > SIM_COUNT_MAX)
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "invalid --count \"%.32s\": want a whole number from 1 to %d",
                                    s, SIM_COUNT_MAX);
        *out = (size_t)v;
        return 0;
}

static const char *opt_or(const struct cli_args *a, const char *name, const char *dflt)
{
        const char *v = cli_str(a, name);

        return v ? v : dflt;
}

static int config_devices(const struct cli_args *a, struct sim_config *c, struct idyl_err *err)
{
        const struct cli_value *v = cli_value(a, "device");

        if (v->n > DEVICES_MAX)
                return idyl_err_set(err, IDYL_E_USAGE, "at most %d --device paths", DEVICES_MAX);
        for (size_t i = 0; i < v->n; i++)
                if (device_path_check(v->list[i], "--device", err) < 0)
                        return usage_err(err);
        if (device_list_join((const char *const *)v->list, v->n, c->devices, sizeof(c->devices)) <
            0)
                return idyl_err_set(err, IDYL_E_USAGE, "--device paths too long");
        return 0;
}

static int config_resources(const struct cli_args *a, struct sim_config *c, struct idyl_err *err)
{
        const char *platform = opt_or(a, "platform", "linux/amd64");

        if (resource_cpu_parse(opt_or(a, "cpu", "4"), &c->cpu_milli, err) < 0 ||
            resource_memory_parse(opt_or(a, "memory", "8Gi"), &c->memory_bytes, err) < 0 ||
            resource_gpus_parse(opt_or(a, "gpus", "0"), &c->gpus, err) < 0 ||
            workload_platform_check(platform, err) < 0)
                return usage_err(err);
        if (strlen(platform) >= sizeof(c->platform))
                return idyl_err_set(err, IDYL_E_USAGE, "--platform too long");
        snprintf(c->platform, sizeof(c->platform), "%s", platform);
        c->microvm_gpu = cli_flag(a, "microvm-gpu");
        return config_devices(a, c, err);
}

static int config_from_args(const struct cli_ctx *ctx, const struct cli_args *a,
                            struct sim_config *c, struct idyl_err *err)
{
        const char *subnet = cli_str(a, "subnet"), *profile = cli_str(a, "runtime-profile");
        const char *prefix;
        int len;

        if (!subnet)
                return idyl_err_set(err, IDYL_E_USAGE, "--subnet is required");
        if (!profile)
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "--runtime-profile is required (profiles: " PROFILE_NAMES ")");
        if (parse_count(cli_str(a, "count"), &c->count, err) < 0)
                return -1;
        if (runtime_profile_parse(profile, &c->profile, err) < 0)
                return usage_err(err);
        if (subnet_slug_parse(subnet, &c->subnet, err) < 0)
                return -1;
        subnet_slug_format(c->subnet, c->subnet_text);
        if (config_resources(a, c, err) < 0)
                return -1;
        prefix = cli_str(a, "name-prefix");
        len = prefix ? snprintf(c->prefix, sizeof(c->prefix), "%s", prefix)
                     : snprintf(c->prefix, sizeof(c->prefix), "sim-%s", profile);
        if (len < 0 || (size_t)len >= sizeof(c->prefix))
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "--name-prefix is longer than %zu characters",
                                    sizeof(c->prefix) - 1);
        snprintf(c->addr, sizeof(c->addr), "%s", ctx->addr);
        if (ctx->have_token)
                snprintf(c->token, sizeof(c->token), "%s", ctx->token);
        return 0;
}

/* ---- process set-up ------------------------------------------------------ */

/* A thousand long-polls need a thousand sockets: lift the soft limit. */
static void raise_file_limit(void)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
        }
}

/* SIGTERM and SIGINT become readable on the returned signalfd. */
static int signals_fd(struct idyl_err *err)
{
        sigset_t set;
        int fd;

        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
                return idyl_err_errno(err, errno, "block SIGTERM and SIGINT");
        fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
        if (fd < 0)
                return idyl_err_errno(err, errno, "signalfd");
        return fd;
}

static int run_nodes(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        struct sim_config c = {0};
        struct sim_node *nodes;
        size_t made = 0;
        int fd, rc = -1;

        if (config_from_args(ctx, a, &c, err) < 0)
                return -1;
        nodes = calloc(c.count, sizeof(*nodes));
        if (!nodes)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory for %zu nodes", c.count);
        for (; made < c.count; made++)
                if (sim_node_init(&nodes[made], &c, made, err) < 0)
                        goto out;
        fd = signals_fd(err);
        if (fd < 0)
                goto out;
        raise_file_limit();
        rc = sim_run(&c, nodes, fd, err);
        close(fd);
out:
        for (size_t i = 0; i < made; i++)
                sim_node_release(&nodes[i]);
        free(nodes);
        return rc;
}

static bool wants_help(int argc, char **argv)
{
        for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
                if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
                        return true;
        return false;
}

int main(int argc, char **argv)
{
        struct cli_ctx ctx = {.progname = "idyl-sim"};
        struct idyl_err err = IDYL_ERR_INIT;
        struct cli_args args;
        int rc;

        setpgid(0, 0); /* every process of the run in its own group */
        if (argc == 2 && strcmp(argv[1], "--version") == 0) {
                printf("idyl-sim %s\n", idyl_version());
                return 0;
        }
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? EXIT_USAGE : 0;
        }
        if (strcmp(argv[1], "nodes") != 0) {
                fprintf(stderr, "idyl-sim: error: unknown command \"%s\"\n", argv[1]);
                usage(stderr);
                return EXIT_USAGE;
        }
        if (wants_help(argc - 1, argv + 1)) {
                print_help(stdout);
                return 0;
        }
        if (cli_config_load(&ctx, &err) < 0) {
                fprintf(stderr, "idyl-sim: error: %s\n", err.msg);
                return EXIT_USAGE;
        }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        rc = cli_parse(&nodes_command, argc - 1, argv + 1, &args, &ctx, &err);
        if (rc == 0)
                rc = nodes_command.run(&ctx, &args, &err);
        cli_args_release(&args);
        curl_global_cleanup();
        if (rc >= 0)
                return 0; /* ran until stopped, or printed --help */
        fprintf(stderr, "idyl-sim: error: %s\n", err.msg);
        if (err.code == IDYL_E_USAGE) {
                fprintf(stderr, "Run \"idyl-sim nodes --help\" for usage.\n");
                return EXIT_USAGE;
        }
        return EXIT_FAILED;
}
