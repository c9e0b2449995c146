/* Running iptables for the node agent; see netpolicy.h. */
#include "agent/netpolicy.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/log.h"

#define IPTABLES         "iptables"
#define IPTABLES_RESTORE "iptables-restore"
#define IPTABLES_ARGS    32
#define IPTABLES_OUT     (4u * 1024 * 1024)
#define IPTABLES_ERR     1024

extern char **environ;

/* Reads fd to its end into b (past b's maximum the rest is dropped). */
static void read_all(int fd, struct idyl_buf *b)
{
        char chunk[4096];
        ssize_t n;

        while ((n = read(fd, chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR))
                if (n > 0 && b)
                        idyl_buf_append(b, chunk, (size_t)n);
}

/* "iptables -w -S FORWARD" for messages. */
static void command_line(const char *const *argv, char *out, size_t size)
{
        size_t len = 0;

        out[0] = '\0';
        for (size_t i = 0; argv[i] && len < size; i++)
                len += (size_t)snprintf(out + len, size - len, "%s%s", i ? " " : "", argv[i]);
}

/* Runs prog with argv, feeding it stdin_data (may be NULL). */
static int run_program(const char *prog, const char **argv, const char *stdin_data,
                       struct idyl_buf *out, struct idyl_err *err);

int netpolicy_iptables(const char *const *args, struct idyl_buf *out, struct idyl_err *err)
{
        const char *argv[IPTABLES_ARGS + 3] = {IPTABLES, "-w"};
        size_t n = 2;

        for (size_t i = 0; args[i]; i++) {
                if (n == IPTABLES_ARGS + 2)
                        return idyl_err_set(err, IDYL_E_INTERNAL, "too many iptables arguments");
                argv[n++] = args[i];
        }
        argv[n] = NULL;
        return run_program(IPTABLES, argv, NULL, out, err);
}

static int run_program(const char *prog, const char **argv, const char *stdin_data,
                       struct idyl_buf *out, struct idyl_err *err)
{
        struct idyl_buf errbuf = IDYL_BUF_INIT(IPTABLES_ERR);
        posix_spawn_file_actions_t fa;
        int outp[2] = {-1, -1}, errp[2] = {-1, -1}, inp[2] = {-1, -1}, status = 0, rc;
        char cmd[256];
        pid_t pid;

        command_line(argv, cmd, sizeof(cmd));
        if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(inp, O_CLOEXEC) < 0) {
                rc = idyl_err_set(err, IDYL_E_INTERNAL, "pipe for %s: %s", cmd, strerror(errno));
                goto out;
        }
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, outp[1], STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&fa, errp[1], STDERR_FILENO);
        posix_spawn_file_actions_adddup2(&fa, inp[0], STDIN_FILENO);
        rc = posix_spawnp(&pid, prog, &fa, NULL, (char *const *)argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(outp[1]);
        close(errp[1]);
        close(inp[0]);
        outp[1] = errp[1] = inp[0] = -1;
        if (rc != 0) {
                rc = idyl_err_set(err, IDYL_E_UNAVAILABLE, "run %s: %s", cmd, strerror(rc));
                goto out;
        }
        /* rule sets are small: the pipe takes them whole before iptables reads */
        for (size_t off = 0, len = stdin_data ? strlen(stdin_data) : 0; off < len;) {
                ssize_t w = write(inp[1], stdin_data + off, len - off);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        break;
                off += (size_t)w;
        }
        close(inp[1]);
        inp[1] = -1;
        /* iptables writes little on stderr: read stdout first, then stderr */
        read_all(outp[0], out);
        read_all(errp[0], &errbuf);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        rc = 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                size_t len = errbuf.len;
                while (len && (errbuf.data[len - 1] == '\n' || errbuf.data[len - 1] == ' '))
                        len--;
                rc = idyl_err_set(err, IDYL_E_UNAVAILABLE, "%s: %.*s", cmd, (int)len,
                                  len ? errbuf.data : "failed");
        }
out:
        for (int i = 0; i < 2; i++) {
                if (outp[i] >= 0)
                        close(outp[i]);
                if (errp[i] >= 0)
                        close(errp[i]);
                if (inp[i] >= 0)
                        close(inp[i]);
        }
        idyl_buf_release(&errbuf);
        return rc;
}

int netpolicy_forward_names(const char *ifname, bool *present, struct idyl_err *err)
{
        const char *args[] = {"-t", "filter", "-S", "FORWARD", NULL};
        struct idyl_buf out = IDYL_BUF_INIT(IPTABLES_OUT);
        size_t len = strlen(ifname);
        const char *p;

        *present = false;
        if (netpolicy_iptables(args, &out, err) < 0) {
                idyl_buf_release(&out);
                return -1;
        }
        /* a whole word: " -o br-1234 " or at the end of a line */
        for (p = out.data; p && (p = strstr(p, ifname)); p += len)
                if (p > out.data && p[-1] == ' ' && (p[len] == ' ' || p[len] == '\n' || !p[len]))
                        *present = true;
        idyl_buf_release(&out);
        return 0;
}

void netpolicy_chain_name(const char *node_key, char *out, size_t size)
{
        uint64_t h = 1469598103934665603ULL; /* FNV-1a */

        for (const char *p = node_key; *p; p++)
                h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        snprintf(out, size, "IDYL-%016llx", (unsigned long long)h);
}

/* Appends one line to b; -1 when it is full. */
static int line(struct idyl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int line(struct idyl_buf *b, const char *fmt, ...)
{
        char text[256];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= sizeof(text))
                return -1;
        return idyl_buf_append(b, text, (size_t)n) == 0 ? 0 : -1;
}

/* Hooks chain first in `builtin` unless it already is there. */
static int hook(const char *builtin, const char *chain, struct idyl_err *err)
{
        const char *check[] = {"-C", builtin, "-j", chain, NULL};
        const char *insert[] = {"-I", builtin, "1", "-j", chain, NULL};
        struct idyl_err ignored = IDYL_ERR_INIT;

        if (netpolicy_iptables(check, NULL, &ignored) == 0)
                return 0;
        return netpolicy_iptables(insert, NULL, err);
}

/* "-A chain match -d CIDR -j verdict" for each CIDR of a restricted policy. */
static int cidr_rules(struct idyl_buf *b, const struct network_policy *p, const char *chain,
                      const char *match, const char *verdict)
{
        char list[EGRESS_CIDRS_TEXT], *save = NULL;
        int rc = 0;

        snprintf(list, sizeof(list), "%s", p->cidrs);
        for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
                rc |= line(b, "-A %s %s -d %s -j %s\n", chain, match, t, verdict);
        return rc;
}

/* Docker: the subnet's bridge is its workloads. Allowed traffic RETURNs to
 * the Engine's own chains, which keep bridges apart; only DROPs are ours. */
static int bridge_rules(struct idyl_buf *b, const char *fwd, const char *in, const char *bridge,
                        enum egress_mode mode, const struct network_policy *p)
{
        char from[64];
        int rc = 0;

        snprintf(from, sizeof(from), "-i %s", bridge);
        if (mode == EGRESS_NONE) {
                rc |= line(b, "-A %s -i %s -j DROP\n", fwd, bridge);
                rc |= line(b, "-A %s -o %s -j DROP\n", fwd, bridge);
                rc |= line(b, "-A %s -i %s -j DROP\n", in, bridge);
        } else if (mode == EGRESS_RESTRICTED) {
                rc |= line(b, "-A %s -i %s -o %s -j RETURN\n", fwd, bridge, bridge);
                rc |= line(b, "-A %s -i %s -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN\n",
                           fwd, bridge);
                rc |= cidr_rules(b, p, fwd, from, "RETURN");
                rc |= line(b, "-A %s -i %s -j DROP\n", fwd, bridge);
                rc |= line(b, "-A %s -i %s -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN\n",
                           in, bridge);
                rc |= cidr_rules(b, p, in, from, "RETURN");
                rc |= line(b, "-A %s -i %s -j DROP\n", in, bridge);
        }
        return rc;
}

/* containerd: one shared bridge, so rules name each workload address. */
static int address_rules(struct idyl_buf *b, const char *fwd, const char *in,
                         const struct netpolicy_scope *s, enum egress_mode mode,
                         const struct network_policy *p)
{
        int rc = 0;

        if (mode != EGRESS_NONE)
                for (size_t i = 0; i < s->nmine; i++)
                        rc |= line(b,
                                   "-A %s -d %s/32 -m conntrack --ctstate RELATED,ESTABLISHED -j "
                                   "ACCEPT\n",
                                   fwd, s->mine[i]);
        for (size_t i = 0; i < s->nmine; i++) {
                char from[64];

                snprintf(from, sizeof(from), "-s %s/32", s->mine[i]);
                if (mode == EGRESS_NONE) {
                        rc |= line(b, "-A %s %s -j DROP\n", fwd, from);
                        rc |= line(b, "-A %s -d %s/32 -j DROP\n", fwd, s->mine[i]);
                        rc |= line(b, "-A %s %s -j DROP\n", in, from);
                        continue;
                }
                for (size_t j = 0; j < s->npeers; j++)
                        rc |= line(b, "-A %s %s -d %s/32 -j ACCEPT\n", fwd, from, s->peers[j]);
                /* other subnets' workloads share the bridge: never to them */
                rc |= line(b, "-A %s %s -d %s -j DROP\n", fwd, from, s->pod_cidr);
                if (mode == EGRESS_ALL) {
                        /* beyond the node, even where an Engine set FORWARD to DROP */
                        rc |= line(b, "-A %s %s -j ACCEPT\n", fwd, from);
                        continue;
                }
                rc |= cidr_rules(b, p, fwd, from, "ACCEPT");
                rc |= line(b, "-A %s %s -j DROP\n", fwd, from);
                rc |= line(b, "-A %s %s -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN\n", in,
                           from);
                rc |= cidr_rules(b, p, in, from, "RETURN");
                rc |= line(b, "-A %s %s -j DROP\n", in, from);
        }
        return rc;
}

/* The node's INPUT chain: its FORWARD chain's name and "-IN". */
static void input_chain(const char *chain, char *out, size_t size)
{
        snprintf(out, size, "%s-IN", chain);
}

int netpolicy_rules(const char *chain, const struct netpolicy_scope *scope,
                    const struct network_policy *p, struct idyl_buf *out)
{
        enum egress_mode mode = network_policy_egress(p);
        char in[40];
        int rc = 0;

        input_chain(chain, in, sizeof(in));
        rc |= line(out, "*filter\n:%s - [0:0]\n:%s - [0:0]\n", chain, in);
        if (scope->bridge)
                rc |= bridge_rules(out, chain, in, scope->bridge, mode, p);
        else
                rc |= address_rules(out, chain, in, scope, mode, p);
        rc |= line(out, "COMMIT\n");
        return rc ? -1 : 0;
}

int netpolicy_apply(const char *chain, const struct netpolicy_scope *scope,
                    const struct network_policy *p, struct idyl_err *err)
{
        const char *argv[] = {IPTABLES_RESTORE, "-w", "--noflush", NULL};
        struct idyl_buf rules = IDYL_BUF_INIT(4u * 1024 * 1024);
        char in[40];
        int rc;

        if (!scope->bridge && scope->nmine == 0)
                return netpolicy_remove(chain, err);
        if (netpolicy_rules(chain, scope, p, &rules) < 0) {
                idyl_buf_release(&rules);
                return idyl_err_set(err, IDYL_E_INTERNAL, "rules of chain %s too large", chain);
        }
        rc = run_program(IPTABLES_RESTORE, argv, rules.data, NULL, err);
        idyl_buf_release(&rules);
        if (rc < 0)
                return idyl_err_wrap(err, "replace chain %s", chain);
        input_chain(chain, in, sizeof(in));
        if (hook("FORWARD", chain, err) < 0 || hook("INPUT", in, err) < 0)
                return -1;
        return 0;
}

static pthread_mutex_t rules_mu = PTHREAD_MUTEX_INITIALIZER;

void netpolicy_lock(void)
{
        pthread_mutex_lock(&rules_mu);
}

void netpolicy_unlock(void)
{
        pthread_mutex_unlock(&rules_mu);
}

void netpolicy_from_assignments(const json_t *assign, struct network_policy *out)
{
        const json_t *p = json_object_get(assign, "networkPolicy"), *cidrs, *v;
        const char *list[EGRESS_CIDRS_MAX];
        struct idyl_err err = IDYL_ERR_INIT;
        size_t i, n = 0;

        memset(out, 0, sizeof(out[0]));
        if (!p || json_is_null(p))
                return;
        cidrs = json_object_get(p, "allowedEgressCIDRs");
        json_array_foreach(cidrs, i, v)
        {
                if (n < EGRESS_CIDRS_MAX && json_is_string(v))
                        list[n++] = json_string_value(v);
        }
        if (n < json_array_size(cidrs) ||
            network_policy_build(json_string_value(json_object_get(p, "egress")), list, n, out,
                                 &err) < 0) {
                log_warnx("the subnet's network policy cannot be read (%s): enforcing egress none",
                          err.msg[0] ? err.msg : "too many CIDRs");
                memset(out, 0, sizeof(out[0]));
                out->set = true;
                out->egress = EGRESS_NONE;
        }
}

/* Removes one chain and its hook in builtin. */
static int remove_one(const char *builtin, const char *chain, struct idyl_err *err)
{
        const char *check[] = {"-C", builtin, "-j", chain, NULL};
        const char *unhook[] = {"-D", builtin, "-j", chain, NULL};
        const char *list[] = {"-S", chain, NULL};
        const char *flush[] = {"-F", chain, NULL};
        const char *drop[] = {"-X", chain, NULL};
        struct idyl_err ignored = IDYL_ERR_INIT;

        while (netpolicy_iptables(check, NULL, &ignored) == 0)
                if (netpolicy_iptables(unhook, NULL, err) < 0)
                        return -1;
        if (netpolicy_iptables(list, NULL, &ignored) < 0)
                return 0; /* no such chain */
        if (netpolicy_iptables(flush, NULL, err) < 0 || netpolicy_iptables(drop, NULL, err) < 0)
                return idyl_err_wrap(err, "remove chain %s", chain);
        return 0;
}

int netpolicy_remove(const char *chain, struct idyl_err *err)
{
        char in[40];

        input_chain(chain, in, sizeof(in));
        if (remove_one("FORWARD", chain, err) < 0 || remove_one("INPUT", in, err) < 0)
                return -1;
        return 0;
}
