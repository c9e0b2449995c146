/* Timestamped log lines on stderr. */
#include "util/log.h"
#include "util/timefmt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *prog = "idyl";

void log_init(const char *progname)
{
        prog = progname;
}

static void vlog(const char *level, const char *fmt, va_list ap, const char *suffix)
{
        char ts[32], line[1024];
        struct timespec now;

        clock_gettime(CLOCK_REALTIME, &now);
        rfc3339_format(now.tv_sec, ts, sizeof(ts));
        vsnprintf(line, sizeof(line), fmt, ap);
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
