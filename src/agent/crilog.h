/* The CRI container log files and the exec status, as the node agent reads
 * them for `idyl workload logs` and `exec` on containerd (agent/crilog.c). */
#ifndef IDYL_AGENT_CRILOG_H
#define IDYL_AGENT_CRILOG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "agent/runtime.h"
#include "util/buf.h"
#include "util/err.h"

#define CRILOG_TAIL_READ_MAX (64L << 20) /* --tail reads at most this much of a file's end */
#define CRILOG_LINE_MAX      (64u << 10) /* a longer record is cut to this */

/* "7.log" -> 7; -1 when the name is not an attempt's file. */
long crilog_attempt_of(const char *name);
/* The highest attempt with a file in dir below `below`; -1 when none. */
long crilog_attempt_below(const char *dir, long below);
/* Writes each whole record of b to sink (message, plus a newline for a
 * full line; stderr records on STREAM_STDERR) and keeps a trailing partial
 * record in b. -1 when the sink failed. */
int crilog_emit_lines(struct idyl_buf *b, const struct rt_sink *sink);
/* Where in fd the last `tail` records begin: 0 for all (tail < 0), the end
 * for none. */
off_t crilog_tail_offset(int fd, long tail);
/* Reads fd from its offset to its end into b, emitting whole records;
 * *got says whether anything was read. 0, 1 when the sink failed, -1 on a
 * read error. */
int crilog_drain(int fd, struct idyl_buf *b, const struct rt_sink *sink, bool *got,
                 struct idyl_err *err);
/* The exit code in a v4.channel.k8s.io status: 0 for Success, the ExitCode
 * cause of NonZeroExitCode; any other failure is an error with its message. */
int cri_status_exit_code(const char *json, size_t len, int *code, struct idyl_err *err);

#endif
