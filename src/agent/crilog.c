/* The CRI log format and exec status as the node agent reads them
 * (agent/crilog.h): records "TIMESTAMP STREAM TAG MSG" (TAG F: a full line,
 * P: part of one), one file per attempt (N.log), and the v4.channel.k8s.io
 * status that ends an exec. No runtime calls here, so it is tested alone. */
#include "agent/crilog.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/stream_wire.h"

/* "DIR/7.log" -> 7; -1 when the name is not an attempt's. */
long crilog_attempt_of(const char *name)
{
        char *end;
        long n = strtol(name, &end, 10);

        return end != name && strcmp(end, ".log") == 0 && n >= 0 ? n : -1;
}

/* The highest attempt in dir below `below` (LONG_MAX: any); -1 when none. */
long crilog_attempt_below(const char *dir, long below)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        long best = -1;

        if (!d)
                return -1;
        while ((e = readdir(d)) != NULL) {
                long n = crilog_attempt_of(e->d_name);

                if (n >= 0 && n < below && n > best)
                        best = n;
        }
        closedir(d);
        return best;
}

/* Writes one CRI log record to the sink: the message, and a newline when
 * the record is a full line. */
static int emit_record(const char *line, size_t len, const struct rt_sink *sink)
{
        const char *p = memchr(line, ' ', len), *stream, *tag, *msg;
        int channel;

        if (!p)
                return 0;
        stream = p + 1;
        p = memchr(stream, ' ', len - (size_t)(stream - line));
        if (!p)
                return 0;
        channel = (size_t)(p - stream) == 6 && strncmp(stream, "stderr", 6) == 0 ? STREAM_STDERR
                                                                                 : STREAM_STDOUT;
        tag = p + 1;
        p = memchr(tag, ' ', len - (size_t)(tag - line));
        msg = p ? p + 1 : line + len;
        char buf[CRILOG_LINE_MAX + 1];
        size_t n = (size_t)(line + len - msg);

        if (n > CRILOG_LINE_MAX)
                n = CRILOG_LINE_MAX;
        memcpy(buf, msg, n);
        if (*tag != 'P')
                buf[n++] = '\n';
        return sink->write(sink->arg, channel, buf, n);
}

/* Emits the complete records in b (keeps a trailing partial one). */
int crilog_emit_lines(struct idyl_buf *b, const struct rt_sink *sink)
{
        size_t off = 0;

        while (off < b->len) {
                char *nl = memchr(b->data + off, '\n', b->len - off);

                if (!nl)
                        break;
                if (emit_record(b->data + off, (size_t)(nl - (b->data + off)), sink) < 0)
                        return -1;
                off = (size_t)(nl - b->data) + 1;
        }
        memmove(b->data, b->data + off, b->len - off);
        b->len -= off;
        return 0;
}

/* Where in fd the last `tail` records begin (0 for all). */
off_t crilog_tail_offset(int fd, long tail)
{
        struct stat st;
        off_t pos, floor;
        long seen = 0;
        char buf[8192];

        if (tail < 0 || fstat(fd, &st) < 0)
                return 0;
        if (tail == 0)
                return st.st_size;
        floor = st.st_size > CRILOG_TAIL_READ_MAX ? st.st_size - CRILOG_TAIL_READ_MAX : 0;
        pos = st.st_size;
        while (pos > floor) {
                size_t chunk =
                    pos - floor < (off_t)sizeof(buf) ? (size_t)(pos - floor) : sizeof(buf);
                ssize_t n = pread(fd, buf, chunk, pos - (off_t)chunk);

                if (n <= 0)
                        break;
                for (ssize_t i = n - 1; i >= 0; i--) {
                        off_t at = pos - (off_t)chunk + i;

                        /* the newline that ends the file is not a record's start */
                        if (buf[i] == '\n' && at != st.st_size - 1 && ++seen >= tail)
                                return at + 1;
                }
                pos -= (off_t)chunk;
        }
        return floor;
}

/* Reads what fd has from its offset into b and emits the whole records. */
int crilog_drain(int fd, struct idyl_buf *b, const struct rt_sink *sink, bool *got,
                 struct idyl_err *err)
{
        char chunk[16384];
        ssize_t n;

        *got = false;
        while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
                *got = true;
                if (idyl_buf_append(b, chunk, (size_t)n) < 0)
                        b->len = 0; /* a record past the bound is dropped */
                if (crilog_emit_lines(b, sink) < 0)
                        return 1; /* the reader went */
        }
        if (n < 0)
                return idyl_err_set(err, IDYL_E_INTERNAL, "read log: %s", strerror(errno));
        return 0;
}

/* The exit code in a v4 status: 0 on Success, the ExitCode cause of a
 * NonZeroExitCode failure; other failures are errors. */
int cri_status_exit_code(const char *json, size_t len, int *code, struct idyl_err *err)
{
        json_t *st = json_loadb(json, len, 0, NULL), *causes;
        const char *status = json_string_value(json_object_get(st, "status"));
        const char *reason = json_string_value(json_object_get(st, "reason"));
        int rc = 0;

        if (status && strcmp(status, "Success") == 0) {
                *code = 0;
        } else if (reason && strcmp(reason, "NonZeroExitCode") == 0) {
                causes = json_object_get(json_object_get(st, "details"), "causes");
                *code = 1;
                for (size_t i = 0; i < json_array_size(causes); i++) {
                        json_t *c = json_array_get(causes, i);
                        const char *r = json_string_value(json_object_get(c, "reason"));
                        const char *m = json_string_value(json_object_get(c, "message"));

                        if (r && m && strcmp(r, "ExitCode") == 0)
                                *code = atoi(m);
                }
        } else {
                rc = idyl_err_set(err, IDYL_E_UNAVAILABLE, "exec failed: %s",
                                  json_string_value(json_object_get(st, "message"))
                                      ?: "no reason given");
        }
        json_decref(st);
        return rc;
}
