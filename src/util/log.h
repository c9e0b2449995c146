/* Logging to stderr with a timestamp, as OpenBSD daemons do: log_warn adds
 * strerror(errno), log_warnx does not. In the json format each line is one
 * object {"time", "level", "msg", "prog"} for log collectors. */
#ifndef IDYL_LOG_H
#define IDYL_LOG_H

/* Names the program; the format starts from $IDYL_LOG_FORMAT (text when
 * unset or unknown). */
void log_init(const char *progname);
/* "text" or "json"; -1 for anything else (the format is then unchanged). */
int log_set_format(const char *format);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
