/* The one error convention: fallible functions return int (0 ok, <0 failure)
 * and take `struct idyl_err *err` last. The message is made where the
 * failure happens; only the edge (CLI main, HTTP reply) prints or maps it. */
#ifndef IDYL_ERR_H
#define IDYL_ERR_H

#include <stddef.h>

/* Append-only: never remove or renumber a code, the names are a public
 * interface (they travel in API error bodies). */
enum idyl_errcode {
        IDYL_OK = 0,
        IDYL_E_INVALID,                     /* bad input: 400 */
        IDYL_E_NOT_FOUND,                   /* 404 */
        IDYL_E_CONFLICT,                    /* 409 */
        IDYL_E_UNAUTHORIZED,                /* 401 */
        IDYL_E_FORBIDDEN,                   /* 403 */
        IDYL_E_TOO_LARGE,                   /* 413 */
        IDYL_E_INTERNAL,                    /* 500 */
        IDYL_E_STORE,                       /* storage failure: 500 */
        IDYL_E_UNAVAILABLE,                 /* peer unreachable: 503 */
        IDYL_E_ISOLATION_CLASS_REQUIRED,    /* admission: 422 */
        IDYL_E_ISOLATION_CLASS_NOT_ALLOWED, /* admission: 422 */
        IDYL_E_METHOD,                      /* 405 */
        IDYL_E_USAGE,                       /* command-line usage: CLI only */
        IDYL_E_DEVICE_NOT_ALLOWED,          /* admission by devicePolicy: 422 */
        IDYL_E_URI_TOO_LONG,                /* request line past the limit: 414 */
        IDYL_E__COUNT
};

struct idyl_err {
        enum idyl_errcode code;
        char msg[512];
};

#define IDYL_ERR_INIT                                                                              \
        {                                                                                          \
                IDYL_OK, ""                                                                        \
        }

/* Sets err (when not NULL) and returns -1, so callers can
 * `return idyl_err_set(err, ...)`. */
int idyl_err_set(struct idyl_err *err, enum idyl_errcode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* As idyl_err_set, appending ": strerror(errnum)". */
int idyl_err_errno(struct idyl_err *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the existing message with context ("context: message"). */
int idyl_err_wrap(struct idyl_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void idyl_err_clear(struct idyl_err *err);

/* Stable machine-readable name of a code ("not_found"); never NULL. */
const char *idyl_errcode_name(enum idyl_errcode code);
/* Code for a name, or IDYL_E_INTERNAL when unknown. */
enum idyl_errcode idyl_errcode_from_name(const char *name);
/* HTTP status the server answers with for a code. */
int idyl_errcode_http_status(enum idyl_errcode code);
/* Sets err from an idyld answer's error body, {"error":{"code","message"}},
 * of len bytes; when the body holds no such error, err gets fallback and
 * "idyld answered HTTP <status>". Always returns -1. */
int idyl_err_from_answer(long status, const char *body, size_t len, enum idyl_errcode fallback,
                         struct idyl_err *err);

/* Cleanup helpers, as crun's cleanup_free. */
void idyl_freep(void *p);
#define cleanup_free __attribute__((cleanup(idyl_freep)))

#endif
