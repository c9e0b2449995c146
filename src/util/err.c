/* Error objects: formatting, stable code names and their HTTP statuses. */
#include "util/err.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
        const char *name;
        int http_status;
} codes[IDYL_E__COUNT] = {
    [IDYL_OK] = {"ok", 200},
    [IDYL_E_INVALID] = {"invalid_argument", 400},
    [IDYL_E_NOT_FOUND] = {"not_found", 404},
    [IDYL_E_CONFLICT] = {"conflict", 409},
    [IDYL_E_UNAUTHORIZED] = {"unauthorized", 401},
    [IDYL_E_FORBIDDEN] = {"forbidden", 403},
    [IDYL_E_TOO_LARGE] = {"payload_too_large", 413},
    [IDYL_E_INTERNAL] = {"internal", 500},
    [IDYL_E_STORE] = {"store_failure", 500},
    [IDYL_E_UNAVAILABLE] = {"unavailable", 503},
    [IDYL_E_ISOLATION_CLASS_REQUIRED] = {"isolation_class_required", 422},
    [IDYL_E_ISOLATION_CLASS_NOT_ALLOWED] = {"isolation_class_not_allowed", 422},
    [IDYL_E_METHOD] = {"method_not_allowed", 405},
    [IDYL_E_USAGE] = {"usage", 400},
    [IDYL_E_DEVICE_NOT_ALLOWED] = {"device_not_allowed", 422},
    [IDYL_E_URI_TOO_LONG] = {"uri_too_long", 414},
};

static void vset(struct idyl_err *err, enum idyl_errcode code, const char *fmt, va_list ap)
{
        err->code = code;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int idyl_err_set(struct idyl_err *err, enum idyl_errcode code, const char *fmt, ...)
{
        va_list ap;

        if (!err)
                return -1;
        va_start(ap, fmt);
        vset(err, code, fmt, ap);
        va_end(ap);
        return -1;
}

int idyl_err_errno(struct idyl_err *err, int errnum, const char *fmt, ...)
{
        va_list ap;
        size_t len;

        if (!err)
                return -1;
        va_start(ap, fmt);
        vset(err, IDYL_E_INTERNAL, fmt, ap);
        va_end(ap);
        len = strlen(err->msg);
        snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", strerror(errnum));
        return -1;
}

int idyl_err_wrap(struct idyl_err *err, const char *fmt, ...)
{
        char prefix[256], old[sizeof(err->msg)];
        va_list ap;

        if (!err)
                return -1;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        memcpy(old, err->msg, sizeof(old));
        /* Truncation is fine: the message stays NUL-terminated. */
        int n = snprintf(err->msg, sizeof(err->msg), "%s: ", prefix);
        if (n > 0 && (size_t)n < sizeof(err->msg))
                memcpy(err->msg + n, old, sizeof(err->msg) - (size_t)n - 1);
        err->msg[sizeof(err->msg) - 1] = '\0';
        return -1;
}

void idyl_err_clear(struct idyl_err *err)
{
        err->code = IDYL_OK;
        err->msg[0] = '\0';
}

const char *idyl_errcode_name(enum idyl_errcode code)
{
        if ((int)code < 0 || code >= IDYL_E__COUNT || !codes[code].name)
                return "internal";
        return codes[code].name;
}

enum idyl_errcode idyl_errcode_from_name(const char *name)
{
        for (int i = 0; i < IDYL_E__COUNT; i++)
                if (codes[i].name && name && strcmp(codes[i].name, name) == 0)
                        return (enum idyl_errcode)i;
        return IDYL_E_INTERNAL;
}

int idyl_errcode_http_status(enum idyl_errcode code)
{
        if ((int)code < 0 || code >= IDYL_E__COUNT || !codes[code].http_status)
                return 500;
        return codes[code].http_status;
}

void idyl_freep(void *p)
{
        free(*(void **)p);
}

int idyl_err_from_answer(long status, const char *body, size_t len, enum idyl_errcode fallback,
                         struct idyl_err *err)
{
        json_t *root = len ? json_loadb(body, len, 0, NULL) : NULL;
        json_t *e = json_object_get(root, "error");
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));

        if (code && msg)
                idyl_err_set(err, idyl_errcode_from_name(code), "%s", msg);
        else
                idyl_err_set(err, fallback, "idyld answered HTTP %ld", status);
        json_decref(root);
        return -1;
}
