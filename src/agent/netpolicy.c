/* Running iptables for the node agent; see netpolicy.h. */
#include "agent/netpolicy.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define IPTABLES      "iptables"
#define IPTABLES_ARGS 32
#define IPTABLES_OUT  (4u * 1024 * 1024)
#define IPTABLES_ERR  1024

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

int netpolicy_iptables(const char *const *args, struct idyl_buf *out, struct idyl_err *err)
{
        const char *argv[IPTABLES_ARGS + 3] = {IPTABLES, "-w"};
        struct idyl_buf errbuf = IDYL_BUF_INIT(IPTABLES_ERR);
        posix_spawn_file_actions_t fa;
        int outp[2] = {-1, -1}, errp[2] = {-1, -1}, status = 0, rc;
        char cmd[256];
        size_t n = 2;
        pid_t pid;

        for (size_t i = 0; args[i]; i++) {
                if (n == IPTABLES_ARGS + 2)
                        return idyl_err_set(err, IDYL_E_INTERNAL, "too many iptables arguments");
                argv[n++] = args[i];
        }
        argv[n] = NULL;
        command_line(argv, cmd, sizeof(cmd));
        if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
                rc = idyl_err_set(err, IDYL_E_INTERNAL, "pipe for %s: %s", cmd, strerror(errno));
                goto out;
        }
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, outp[1], STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&fa, errp[1], STDERR_FILENO);
        rc = posix_spawnp(&pid, IPTABLES, &fa, NULL, (char *const *)argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(outp[1]);
        close(errp[1]);
        outp[1] = errp[1] = -1;
        if (rc != 0) {
                rc = idyl_err_set(err, IDYL_E_UNAVAILABLE, "run %s: %s", cmd, strerror(rc));
                goto out;
        }
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
