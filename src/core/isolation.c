/* Isolation classes, VMM backends and the validation of runtime policies. */
#include "core/isolation.h"
#include "util/enumname.h"

#include <stdio.h>
#include <string.h>

static const char *const class_names[ISOLATION__COUNT] = {
    [ISOLATION_CONTAINER] = "container",
    [ISOLATION_MICROVM] = "microvm",
};

static const char *const backend_names[VMM__COUNT] = {
    [VMM_QEMU] = "qemu",
    [VMM_FIRECRACKER] = "firecracker",
};

#define VALID_CLASSES  "container, microvm"
#define VALID_BACKENDS "qemu, firecracker"

const char *isolation_class_name(enum isolation_class c)
{
        return enum_name(class_names, ISOLATION__COUNT, (int)c, NULL);
}

enum isolation_class isolation_class_from_name(const char *s)
{
        int i = enum_lookup(class_names, ISOLATION__COUNT, s);

        return i < 0 ? ISOLATION_NONE : (enum isolation_class)i;
}

const char *vmm_backend_name(enum vmm_backend b)
{
        return enum_name(backend_names, VMM__COUNT, (int)b, NULL);
}

enum vmm_backend vmm_backend_from_name(const char *s)
{
        int i = enum_lookup(backend_names, VMM__COUNT, s);

        return i < 0 ? VMM_NONE : (enum vmm_backend)i;
}

static void set_join(unsigned set, const char *const *names, int count, const char *sep, char *buf,
                     size_t size)
{
        size_t len = 0;

        if (size == 0)
                return;
        buf[0] = '\0';
        for (int i = 1; i < count; i++) {
                if (!(set & (1u << i)))
                        continue;
                int n = snprintf(buf + len, size - len, "%s%s", len ? sep : "", names[i]);
                if (n < 0 || (size_t)n >= size - len)
                        return;
                len += (size_t)n;
        }
}

void isolation_class_set_join(unsigned set, const char *sep, char *buf, size_t size)
{
        set_join(set, class_names, ISOLATION__COUNT, sep, buf, size);
}

void vmm_backend_set_join(unsigned set, const char *sep, char *buf, size_t size)
{
        set_join(set, backend_names, VMM__COUNT, sep, buf, size);
}

/* Parses a list of names into a bitmask; rejects unknown and repeated values. */
static int parse_set(const char *const *values, size_t n, const char *flag,
                     int (*from_name)(const char *), const char *valid, unsigned *out,
                     struct idyl_err *err)
{
        unsigned set = 0;

        for (size_t i = 0; i < n; i++) {
                int v = from_name(values[i]);
                if (v == 0)
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "invalid %s \"%s\": valid values are %s", flag,
                                            values[i], valid);
                if (set & (1u << v))
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "duplicate %s \"%s\": each value may be given once",
                                            flag, values[i]);
                set |= 1u << v;
        }
        *out = set;
        return 0;
}

static int class_from_name_int(const char *s)
{
        return (int)isolation_class_from_name(s);
}

static int backend_from_name_int(const char *s)
{
        return (int)vmm_backend_from_name(s);
}

int policy_build(const struct runtime_policy_input *in, struct runtime_policy *out,
                 struct idyl_err *err)
{
        struct runtime_policy p = {0};
        char allowed[64];

        if (parse_set(in->classes, in->nclasses, "--allowed-isolation-class", class_from_name_int,
                      VALID_CLASSES, &p.allowed_classes, err) < 0)
                return -1;
        if (parse_set(in->backends, in->nbackends, "--allowed-vmm-backend", backend_from_name_int,
                      VALID_BACKENDS, &p.allowed_backends, err) < 0)
                return -1;
        if (in->default_class) {
                p.default_class = isolation_class_from_name(in->default_class);
                if (p.default_class == ISOLATION_NONE)
                        return idyl_err_set(
                            err, IDYL_E_INVALID,
                            "invalid --default-isolation-class \"%s\": valid values "
                            "are " VALID_CLASSES,
                            in->default_class);
        }
        if (!p.allowed_classes) {
                if (p.default_class != ISOLATION_NONE)
                        return idyl_err_set(
                            err, IDYL_E_INVALID,
                            "--default-isolation-class requires "
                            "--allowed-isolation-class (valid values: " VALID_CLASSES ")");
                if (p.allowed_backends)
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "--allowed-vmm-backend requires "
                                            "--allowed-isolation-class microvm");
                *out = p;
                return 0;
        }
        isolation_class_set_join(p.allowed_classes, ", ", allowed, sizeof(allowed));
        if (p.default_class != ISOLATION_NONE &&
            !(p.allowed_classes & ISOLATION_BIT(p.default_class)))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "--default-isolation-class \"%s\" must be one of "
                                    "--allowed-isolation-class (%s)",
                                    isolation_class_name(p.default_class), allowed);
        if (p.allowed_backends && !(p.allowed_classes & ISOLATION_BIT(ISOLATION_MICROVM)))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "--allowed-vmm-backend applies only when "
                                    "--allowed-isolation-class includes microvm (allowed: %s)",
                                    allowed);
        p.set = true;
        *out = p;
        return 0;
}

void policy_summary(const struct runtime_policy *p, char *buf, size_t size)
{
        char classes[64], backends[64], extra[128] = "";

        if (!p->set) {
                snprintf(buf, size, "-");
                return;
        }
        isolation_class_set_join(p->allowed_classes, ",", classes, sizeof(classes));
        vmm_backend_set_join(p->allowed_backends, ",", backends, sizeof(backends));
        if (p->default_class != ISOLATION_NONE && p->allowed_backends)
                snprintf(extra, sizeof(extra), " (default %s; vmm %s)",
                         isolation_class_name(p->default_class), backends);
        else if (p->default_class != ISOLATION_NONE)
                snprintf(extra, sizeof(extra), " (default %s)",
                         isolation_class_name(p->default_class));
        else if (p->allowed_backends)
                snprintf(extra, sizeof(extra), " (vmm %s)", backends);
        snprintf(buf, size, "%s%s", classes, extra);
}
