/* Secret name, key and size rules; device paths and device lists. */
#include "core/secret.h"

#include <stdio.h>
#include <string.h>

#include "core/messages.h"

static bool is_lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int secret_name_check(const char *name, struct idyl_err *err)
{
        size_t len = name ? strlen(name) : 0;

        if (len == 0)
                return idyl_err_set(err, IDYL_E_INVALID, "a secret name is required");
        if (len > SECRET_NAME_MAX || !is_lower_alnum(name[0]) || !is_lower_alnum(name[len - 1]) ||
            strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != len)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "invalid secret name \"%.80s\": must be a DNS-1123 label "
                                    "([a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters)",
                                    name);
        return 0;
}

int secret_key_check(const char *key, struct idyl_err *err)
{
        static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                 "0123456789-._";
        size_t len = key ? strlen(key) : 0;

        if (len == 0 || len > SECRET_KEY_MAX || strspn(key, ok) != len || strcmp(key, ".") == 0 ||
            strcmp(key, "..") == 0)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "invalid secret key \"%.80s\": must match [-._a-zA-Z0-9]+ "
                                    "(at most %d characters), other than \".\" and \"..\"",
                                    key ? key : "", SECRET_KEY_MAX);
        return 0;
}

int secret_size_check(size_t total, struct idyl_err *err)
{
        if (total > SECRET_VALUES_MAX)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "secret values are %zu bytes together: at most %d bytes are "
                                    "allowed",
                                    total, SECRET_VALUES_MAX);
        return 0;
}

int device_path_check(const char *path, const char *flag, struct idyl_err *err)
{
        static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                 "0123456789-._/";
        size_t len = path ? strlen(path) : 0;

        if (len <= 5 || len > DEVICE_PATH_MAX || strncmp(path, "/dev/", 5) != 0 ||
            strspn(path, ok) != len || strstr(path, "..") || strstr(path, "//") ||
            path[len - 1] == '/')
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "invalid %s \"%.80s\": want a device path under /dev/ such "
                                    "as /dev/fuse",
                                    flag, path ? path : "");
        return 0;
}

bool device_list_has(const char *list, const char *path)
{
        size_t len = strlen(path);

        for (const char *p = list; p && *p;) {
                const char *comma = strchr(p, ',');
                size_t n = comma ? (size_t)(comma - p) : strlen(p);

                if (n == len && strncmp(p, path, n) == 0)
                        return true;
                p = comma ? comma + 1 : p + n;
        }
        return false;
}

/* Calls fn for each path of a comma-joined list until it returns false. */
static bool each_device(const char *list, bool (*fn)(const char *path, const void *arg),
                        const void *arg)
{
        char path[DEVICE_PATH_MAX + 1];

        for (const char *p = list; p && *p;) {
                const char *comma = strchr(p, ',');
                size_t n = comma ? (size_t)(comma - p) : strlen(p);

                snprintf(path, sizeof(path), "%.*s", (int)n, p);
                if (!fn(path, arg))
                        return false;
                p = comma ? comma + 1 : p + n;
        }
        return true;
}

static bool offered_has(const char *path, const void *offered)
{
        return device_list_has(offered, path);
}

bool device_list_covers(const char *offered, const char *wanted)
{
        return each_device(wanted, offered_has, offered);
}

int device_list_join(const char *const *paths, size_t n, char *buf, size_t size)
{
        size_t used = 0;

        if (size)
                buf[0] = '\0';
        for (size_t i = 0; i < n; i++) {
                int w = snprintf(buf + used, size - used, "%s%s", i ? "," : "", paths[i]);

                if (w < 0 || (size_t)w >= size - used)
                        return -1;
                used += (size_t)w;
        }
        return 0;
}

struct first_denied {
        const struct device_policy *policy;
        char *path; /* DEVICE_PATH_MAX + 1 bytes */
};

static bool allowed_or_note(const char *path, const void *arg)
{
        const struct first_denied *d = arg;

        if (d->policy->set && device_list_has(d->policy->allowed, path))
                return true;
        snprintf(d->path, DEVICE_PATH_MAX + 1, "%s", path);
        return false;
}

int device_admission_check(const struct device_policy *policy, const char *wanted,
                           struct idyl_err *err)
{
        char path[DEVICE_PATH_MAX + 1];
        struct first_denied d = {policy, path};

        if (each_device(wanted, allowed_or_note, &d))
                return 0;
        return idyl_err_set(err, IDYL_E_DEVICE_NOT_ALLOWED, MSG_DEVICE_NOT_ALLOWED, path);
}
