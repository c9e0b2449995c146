/* RFC 3339 formatting (timefmt.h): one gmtime/strftime for the project. */
#include "util/timefmt.h"

#include <stdio.h>
#include <time.h>

void rfc3339_format(int64_t seconds, char *buf, size_t size)
{
        time_t t = (time_t)seconds;
        struct tm tm;

        if (size == 0)
                return;
        if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                buf[0] = '\0';
}

void rfc3339_format_ms(int64_t ms, char *buf, size_t size)
{
        rfc3339_format(ms / 1000, buf, size);
}

void rfc3339_format_millis(int64_t ms, char *buf, size_t size)
{
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        size_t n;

        if (size == 0)
                return;
        buf[0] = '\0';
        if (!gmtime_r(&t, &tm))
                return;
        n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
        if (n == 0 || (size_t)snprintf(buf + n, size - n, ".%03dZ", (int)(ms % 1000)) >= size - n)
                buf[0] = '\0';
}
