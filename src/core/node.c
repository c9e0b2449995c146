/* Runtime profiles, handler-derived isolation, node naming and overhead. */
#include "core/node.h"
#include "util/enumname.h"

#include <string.h>

static const struct profile_preset presets[PROFILE__COUNT] = {
    [PROFILE_DOCKER] = {"docker", "docker", "runc", NULL, "unix:///var/run/docker.sock",
                        ISOLATION_CONTAINER, VMM_NONE},
    [PROFILE_CONTAINERD_RUNC] = {"containerd-runc", "containerd", "io.containerd.runc.v2", "runc",
                                 "unix:///run/containerd/containerd.sock", ISOLATION_CONTAINER,
                                 VMM_NONE},
    [PROFILE_CONTAINERD_KATA_QEMU] = {"containerd-kata-qemu", "containerd",
                                      "io.containerd.kata-qemu.v2", "kata-qemu",
                                      "unix:///run/containerd/containerd.sock", ISOLATION_MICROVM,
                                      VMM_QEMU},
    [PROFILE_CONTAINERD_KATA_FIRECRACKER] = {"containerd-kata-firecracker", "containerd",
                                             "io.containerd.kata-fc.v2", "kata-fc",
                                             "unix:///run/containerd/containerd.sock",
                                             ISOLATION_MICROVM, VMM_FIRECRACKER},
};

const struct profile_preset *profile_preset(enum runtime_profile p)
{
        if ((int)p <= 0 || p >= PROFILE__COUNT)
                return NULL;
        return &presets[p];
}

const char *runtime_profile_name(enum runtime_profile p)
{
        const struct profile_preset *pp = profile_preset(p);

        return pp ? pp->name : NULL;
}

int runtime_profile_parse(const char *s, enum runtime_profile *out, struct idyl_err *err)
{
        for (int i = 1; s && i < PROFILE__COUNT; i++)
                if (strcmp(presets[i].name, s) == 0) {
                        *out = (enum runtime_profile)i;
                        return 0;
                }
        if (s && strcmp(s, "containerd-kata-*") == 0)
                return idyl_err_set(
                    err, IDYL_E_INVALID,
                    "invalid --runtime-profile \"containerd-kata-*\": it names the "
                    "family of Kata profiles, not a profile; valid values are " PROFILE_NAMES);
        return idyl_err_set(err, IDYL_E_INVALID,
                            "invalid --runtime-profile \"%.64s\": valid values are " PROFILE_NAMES,
                            s ? s : "");
}

static const struct {
        const char *handler;
        enum isolation_class cls;
        enum vmm_backend backend;
} handlers[] = {
    {"runc", ISOLATION_CONTAINER, VMM_NONE},
    {"io.containerd.runc.v2", ISOLATION_CONTAINER, VMM_NONE},
    {"kata", ISOLATION_MICROVM, VMM_QEMU},
    {"io.containerd.kata.v2", ISOLATION_MICROVM, VMM_QEMU},
    {"kata-qemu", ISOLATION_MICROVM, VMM_QEMU},
    {"io.containerd.kata-qemu.v2", ISOLATION_MICROVM, VMM_QEMU},
    {"kata-fc", ISOLATION_MICROVM, VMM_FIRECRACKER},
    {"io.containerd.kata-fc.v2", ISOLATION_MICROVM, VMM_FIRECRACKER},
};

int runtime_derive(const char *provider, const char *handler, enum isolation_class *cls,
                   enum vmm_backend *backend, struct idyl_err *err)
{
        if (!provider || (strcmp(provider, "docker") && strcmp(provider, "containerd")))
                return idyl_err_set(
                    err, IDYL_E_INVALID,
                    "invalid --runtime-provider \"%.40s\": valid values are docker, "
                    "containerd",
                    provider ? provider : "");
        if (!handler || !*handler)
                handler = strcmp(provider, "docker") == 0 ? "runc" : "io.containerd.runc.v2";
        if (strcmp(provider, "docker") == 0 && strcmp(handler, "runc") != 0)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "invalid --runtime-handler \"%.64s\" for docker: only runc is "
                                    "supported (microVMs need containerd with Kata)",
                                    handler);
        for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
                if (strcmp(handlers[i].handler, handler) == 0) {
                        *cls = handlers[i].cls;
                        *backend = handlers[i].backend;
                        return 0;
                }
        return idyl_err_set(err, IDYL_E_INVALID,
                            "invalid --runtime-handler \"%.64s\": cannot tell its isolation class; "
                            "known handlers are runc, io.containerd.runc.v2, kata-qemu, "
                            "io.containerd.kata-qemu.v2, kata-fc, io.containerd.kata-fc.v2 (or use "
                            "--runtime-profile)",
                            handler);
}

static const char *const admission_names[NODE_ADMISSION__COUNT] = {
    [NODE_ADMITTED] = "admitted",
    [NODE_PENDING] = "pending",
    [NODE_REVOKED] = "revoked",
};

const char *node_admission_name(enum node_admission a)
{
        return enum_name(admission_names, NODE_ADMISSION__COUNT, (int)a, "unknown");
}

int node_admission_from_name(const char *s)
{
        return enum_lookup(admission_names, NODE_ADMISSION__COUNT, s);
}

const char *node_eligibility_name(enum node_eligibility e)
{
        return e == NODE_ELIGIBLE ? "eligible" : "ineligible";
}

const char *node_status_name(enum node_status s)
{
        switch (s) {
        case NODE_READY:
                return "ready";
        case NODE_NOT_READY:
                return "not-ready";
        case NODE_DOWN:
                return "down";
        }
        return "unknown";
}

static bool lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int node_name_check(const char *name, struct idyl_err *err)
{
        size_t len = name ? strlen(name) : 0;

        if (len == 0 || len > 63 || !lower_alnum(name[0]) || !lower_alnum(name[len - 1]) ||
            strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-.") != len)
                return idyl_err_set(
                    err, IDYL_E_INVALID,
                    "invalid --name \"%.80s\": a node name is lowercase letters, "
                    "digits, '-' and '.', starting and ending with a letter or digit, "
                    "at most 63 characters",
                    name ? name : "");
        return 0;
}

void microvm_overhead(enum isolation_class cls, enum vmm_backend backend, int64_t *cpu_milli,
                      int64_t *memory_bytes)
{
        *cpu_milli = 0;
        *memory_bytes = 0;
        if (cls != ISOLATION_MICROVM)
                return;
        *cpu_milli = 250;
        *memory_bytes = (backend == VMM_FIRECRACKER ? 130LL : 160LL) * 1024 * 1024;
}

enum node_status node_status_at(const struct idyl_node *n, int64_t now_ms, int ttl_seconds)
{
        if (n->down || now_ms - n->last_heartbeat > (int64_t)ttl_seconds * 1000)
                return NODE_DOWN;
        return n->runtime_ready ? NODE_READY : NODE_NOT_READY;
}
