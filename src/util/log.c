/* Timestamped log lines on stderr: "TIME PROG LEVEL: MSG" for people, or
 * one JSON object per line for log collectors (--log-format json). */
#include "util/log.h"
#include "util/timefmt.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *prog = "idyl";
static bool json_format;

void log_init(const char *progname)
{
        prog = progname;
        log_set_format(getenv("IDYL_LOG_FORMAT"));
}

int log_set_format(const char *format)
{
        if (format && strcmp(format, "json") == 0)
                json_format = true;
        else if (format && strcmp(format, "text") == 0)
                json_format = false;
        else
                return -1;
        return 0;
}

/* One line, written with a single call so lines of threads do not mix. A
 * message that is not UTF-8 (a hostile URL quoted in it) loses its non-ASCII
 * bytes rather than the line. */
static void emit_json(const char *ts, const char *level, char *msg)
{
        json_t *o =
            json_pack("{s:s,s:s,s:s,s:s}", "time", ts, "level", level, "msg", msg, "prog", prog);
        char *text;

        if (!o) {
                for (char *p = msg; *p; p++)
                        if ((unsigned char)*p >= 0x80)
                                *p = '?';
                o = json_pack("{s:s,s:s,s:s,s:s}", "time", ts, "level", level, "msg", msg, "prog",
                              prog);
        }
        text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

        if (text)
                fprintf(stderr, "%s\n", text);
        free(text);
        json_decref(o);
}

static void vlog(const char *level, const char *fmt, va_list ap, const char *suffix)
{
        char ts[40], line[1024];
        struct timespec now;

        clock_gettime(CLOCK_REALTIME, &now);
        vsnprintf(line, sizeof(line), fmt, ap);
        if (json_format) {
                char full[1100];

                rfc3339_format_millis((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, ts,
                                      sizeof(ts));
                snprintf(full, sizeof(full), "%s%s%s", line, suffix ? ": " : "",
                         suffix ? suffix : "");
                emit_json(ts, level, full);
                return;
        }
        rfc3339_format(now.tv_sec, ts, sizeof(ts));
        fprintf(stderr, "%s %s %s: %s%s%s\n", ts, prog, level, line, suffix ? ": " : "",
                suffix ? suffix : "");
}

void log_info(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vlog("info", fmt, ap, NULL);
        va_end(ap);
}

void log_warn(const char *fmt, ...)
{
        const char *e = strerror(errno);
        va_list ap;

        va_start(ap, fmt);
        vlog("warn", fmt, ap, e);
        va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vlog("warn", fmt, ap, NULL);
        va_end(ap);
}
