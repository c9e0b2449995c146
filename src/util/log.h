/* Logging to stderr with a timestamp, as OpenBSD daemons do: log_warn adds
 * strerror(errno), log_warnx does not. */
#ifndef IDYL_LOG_H
#define IDYL_LOG_H

void log_init(const char *progname);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
