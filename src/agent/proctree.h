/* Stopping an exec's processes on the node (SPEC §8: a stream ends when
 * either side goes, and so does an exec it ran): the runtime names the
 * exec's first process by its host pid, and this file signals it and every
 * process it started. Each process is held by a pidfd, so a pid the kernel
 * has given to another process since is never signalled. */
#ifndef IDYL_AGENT_PROCTREE_H
#define IDYL_AGENT_PROCTREE_H

#include <stdbool.h>
#include <sys/types.h>

/* SIGTERM first; SIGKILL to whatever is left this long after. */
#define EXEC_STOP_GRACE_MS 2000

/* Whether pid is still the exec's first process, asked of the runtime after
 * the processes are held (Docker: the exec is running with that pid). */
typedef bool (*proc_still_ours_fn)(pid_t pid, void *arg);

/* Stops the process tree rooted at top (top and its descendants, found in
 * /proc): SIGTERM to each, then SIGKILL, grace_ms later, to those left and
 * to children they started meanwhile. Nothing is signalled unless
 * still_ours(top, arg) holds once the processes are held. Returns the number
 * of processes signalled; 0 when top is gone or not ours. */
int proc_tree_stop(pid_t top, proc_still_ours_fn still_ours, void *arg, int grace_ms);

#endif
