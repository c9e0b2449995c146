/* RFC 3339 timestamps in UTC, as every object and log line shows them. */
#ifndef IDYL_TIMEFMT_H
#define IDYL_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define RFC3339_BUFLEN 32 /* "2026-11-22T14:00:00.123Z" and a margin */

/* Unix seconds as "2026-11-22T14:00:00Z"; buf holds RFC3339_BUFLEN. */
void rfc3339_format(int64_t seconds, char *buf, size_t size);
/* Unix milliseconds as "2026-11-22T14:00:00Z" (whole seconds). */
void rfc3339_format_ms(int64_t ms, char *buf, size_t size);
/* Unix milliseconds as "2026-11-22T14:00:00.123Z". */
void rfc3339_format_millis(int64_t ms, char *buf, size_t size);

#endif
