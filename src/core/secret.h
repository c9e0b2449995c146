/* Secrets and device access (SPEC 6.3, 6.4): the rules for secret names,
 * keys and sizes, for device paths, and the device lists subnets allow,
 * nodes offer and workloads ask for. Pure; no I/O. The values themselves
 * are sealed by server/seal.c and never pass through here. */
#ifndef IDYL_SECRET_H
#define IDYL_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define SECRET_NAME_MAX      63
#define SECRET_KEY_MAX       253
#define SECRET_KEYS_MAX      256
#define SECRET_VALUES_MAX    1048576 /* all of a secret's values together, in bytes */
#define WORKLOAD_SECRETS_MAX 32      /* names under spec.secrets, and under spec.secretEnv */

#define DEVICE_PATH_MAX 128
#define DEVICES_MAX     16 /* per list: a policy, a node, a workload */
/* Comma-joined device lists, as stored: DEVICES_MAX paths and separators. */
#define DEVICE_LIST_TEXT (DEVICES_MAX * (DEVICE_PATH_MAX + 1) + 1)

/* A secret's name: a DNS-1123 label, like a workload's. */
int secret_name_check(const char *name, struct idyl_err *err);
/* A key: [-._a-zA-Z0-9]+, at most 253 characters, neither "." nor "..". */
int secret_key_check(const char *key, struct idyl_err *err);
/* The values' total against SECRET_VALUES_MAX. */
int secret_size_check(size_t total, struct idyl_err *err);

/* A device path: absolute, under /dev/, of [-._/a-zA-Z0-9], no "..",
 * at most DEVICE_PATH_MAX characters. `flag` names the option in the message. */
int device_path_check(const char *path, const char *flag, struct idyl_err *err);

/* Whether the comma-joined list `list` holds `path`. */
bool device_list_has(const char *list, const char *path);
/* Whether every path of comma-joined `wanted` is in `offered`. */
bool device_list_covers(const char *offered, const char *wanted);
/* Joins n paths with commas into buf (DEVICE_LIST_TEXT bytes); -1 when too long. */
int device_list_join(const char *const *paths, size_t n, char *buf, size_t size);

/* The subnet's devicePolicy: set == false means none (no device allowed). */
struct device_policy {
        bool set;
        char allowed[DEVICE_LIST_TEXT]; /* comma-joined paths */
};

/* Admission: every device in comma-joined `wanted` must be allowed by the
 * policy; err gets IDYL_E_DEVICE_NOT_ALLOWED with the documented message
 * naming the first that is not. */
int device_admission_check(const struct device_policy *policy, const char *wanted,
                           struct idyl_err *err);

#endif
