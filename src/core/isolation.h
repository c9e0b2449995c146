/* Isolation classes, VMM backends and subnet runtime policy: the pure
 * domain rules of product-docs/subnet-runtime-policy.txt. No I/O here. */
#ifndef IDYL_ISOLATION_H
#define IDYL_ISOLATION_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

enum isolation_class {
        ISOLATION_NONE = 0, /* not set */
        ISOLATION_CONTAINER,
        ISOLATION_MICROVM,
        ISOLATION__COUNT
};

enum vmm_backend {
        VMM_NONE = 0, /* not set / not a microVM */
        VMM_QEMU,
        VMM_FIRECRACKER,
        VMM__COUNT
};

#define ISOLATION_BIT(c) (1u << (c))
#define VMM_BIT(b)       (1u << (b))

/* A subnet's runtime policy. When `set` is false the subnet has no policy
 * and every other field is zero. Sets are bitmasks of ISOLATION_BIT/VMM_BIT;
 * they are listed in enum order (container, microvm; qemu, firecracker). */
struct runtime_policy {
        bool set;
        unsigned allowed_classes;
        enum isolation_class default_class; /* ISOLATION_NONE when absent */
        unsigned allowed_backends;          /* 0 when absent: any backend */
};

/* "container", "microvm"; NULL for ISOLATION_NONE. */
const char *isolation_class_name(enum isolation_class c);
/* ISOLATION_NONE when `s` names no class. */
enum isolation_class isolation_class_from_name(const char *s);
/* "qemu", "firecracker"; NULL for VMM_NONE. */
const char *vmm_backend_name(enum vmm_backend b);
enum vmm_backend vmm_backend_from_name(const char *s);

/* The raw policy request, as given by flags or API fields, before
 * validation. Each list may be empty; `default_class` may be NULL. */
struct runtime_policy_input {
        const char *const *classes;
        size_t nclasses;
        const char *default_class;
        const char *const *backends;
        size_t nbackends;
};

/* Validates a policy request and builds the policy. Rejects unknown or
 * duplicate values, a default without allowed classes or outside them, and
 * backends when microvm is not allowed; the message names the flag and the
 * valid values. An input with no field at all yields `set == false`.
 * Returns 0, or -1 with err set (IDYL_E_INVALID) and *out untouched. */
int policy_build(const struct runtime_policy_input *in, struct runtime_policy *out,
                 struct idyl_err *err);

/* One-line summary for tables, e.g. "microvm (default microvm; vmm
 * firecracker)"; "-" without a policy. Writes at most `size` bytes. */
void policy_summary(const struct runtime_policy *p, char *buf, size_t size);

/* Comma-joined names of a class or backend set ("container,microvm"). */
void isolation_class_set_join(unsigned set, const char *sep, char *buf, size_t size);
void vmm_backend_set_join(unsigned set, const char *sep, char *buf, size_t size);

#endif
