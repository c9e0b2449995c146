/* Finds a process's descendants through /proc (the parent pid in each
 * /proc/PID/stat) and signals them through pidfds. See agent/proctree.h. */
#include "agent/proctree.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "util/clock.h"

#define TREE_MAX 512 /* processes held at once; an exec's tree is far smaller */

struct tree {
        pid_t pid[TREE_MAX];
        int pidfd[TREE_MAX];
        size_t n;
};

/* Reads the parent pid and start time (in clock ticks since boot) of pid;
 * -1 when it is gone. */
static int proc_stat(pid_t pid, pid_t *ppid, unsigned long long *start)
{
        char path[64], buf[1024], *p;
        ssize_t n;
        int fd;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return -1;
        buf[n] = '\0';
        /* the command name may hold anything: fields resume after its last ')' */
        p = strrchr(buf, ')');
        if (!p || sscanf(p + 1,
                         " %*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d "
                         "%*d %llu",
                         ppid, start) != 2)
                return -1;
        return 0;
}

static bool held(const struct tree *t, pid_t pid)
{
        for (size_t i = 0; i < t->n; i++)
                if (t->pid[i] == pid)
                        return true;
        return false;
}

/* Holds pid by a pidfd when it is the process whose start time was read:
 * the stat read again after pidfd_open proves the pidfd names that one. */
static void hold(struct tree *t, pid_t pid, unsigned long long start)
{
        unsigned long long again;
        pid_t ppid;
        int fd;

        if (t->n == TREE_MAX || held(t, pid))
                return;
        fd = pidfd_open(pid, 0);
        if (fd < 0)
                return;
        if (proc_stat(pid, &ppid, &again) < 0 || again != start) {
                close(fd);
                return;
        }
        t->pid[t->n] = pid;
        t->pidfd[t->n++] = fd;
}

/* Adds every live process whose parent is held, until none is new. */
static void add_descendants(struct tree *t)
{
        for (size_t before = 0; before != t->n;) {
                DIR *d = opendir("/proc");
                struct dirent *e;

                before = t->n;
                if (!d)
                        return;
                while ((e = readdir(d)) != NULL) {
                        unsigned long long start;
                        pid_t pid, ppid;

                        if (!isdigit((unsigned char)e->d_name[0]))
                                continue;
                        pid = (pid_t)atoi(e->d_name);
                        if (!held(t, pid) && proc_stat(pid, &ppid, &start) == 0 && held(t, ppid))
                                hold(t, pid, start);
                }
                closedir(d);
        }
}

static bool exited(int pidfd)
{
        struct pollfd p = {.fd = pidfd, .events = POLLIN};

        return poll(&p, 1, 0) > 0;
}

static void signal_all(const struct tree *t, int sig)
{
        for (size_t i = 0; i < t->n; i++)
                if (!exited(t->pidfd[i]))
                        pidfd_send_signal(t->pidfd[i], sig, NULL, 0);
}

/* Waits until every held process has exited or ms pass; true when all have. */
static bool wait_all(const struct tree *t, int ms)
{
        int64_t deadline = mono_ms() + ms;

        for (;;) {
                size_t i = 0;

                while (i < t->n && exited(t->pidfd[i]))
                        i++;
                if (i == t->n)
                        return true;
                if (mono_ms() >= deadline)
                        return false;
                usleep(20 * 1000);
        }
}

int proc_tree_stop(pid_t top, proc_still_ours_fn still_ours, void *arg, int grace_ms)
{
        struct tree *t = calloc(1, sizeof(*t));
        unsigned long long start;
        pid_t ppid;
        int count = 0;

        if (!t || top <= 1 || proc_stat(top, &ppid, &start) < 0)
                goto out;
        hold(t, top, start);
        if (t->n == 0 || !still_ours(top, arg))
                goto out;
        add_descendants(t);
        count = (int)t->n;
        signal_all(t, SIGTERM);
        if (wait_all(t, grace_ms))
                goto out;
        /* what is left, and what it started while it had the grace */
        add_descendants(t);
        count = (int)t->n;
        signal_all(t, SIGKILL);
        wait_all(t, 1000);
out:
        for (size_t i = 0; t && i < t->n; i++)
                close(t->pidfd[i]);
        free(t);
        return count;
}
