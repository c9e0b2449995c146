/* The filter chain and the least-allocated score. */
#include "core/sched.h"

#include <stdio.h>
#include <string.h>

#include "core/messages.h"
#include "core/secret.h"
#include "util/enumname.h"

struct filter_ctx {
        const struct sched_request *req;
        const struct runtime_policy *policy;
        int64_t cpu_need, memory_need; /* request plus overhead on this node */
};

typedef bool (*filter_fn)(const struct sched_node *n, const struct filter_ctx *c);

static bool f_admission(const struct sched_node *n, const struct filter_ctx *c)
{
        (void)c;
        return n->admitted;
}

static bool f_eligibility(const struct sched_node *n, const struct filter_ctx *c)
{
        (void)c;
        return !n->ineligible;
}

static bool f_health(const struct sched_node *n, const struct filter_ctx *c)
{
        (void)c;
        return n->healthy;
}

static bool f_ready(const struct sched_node *n, const struct filter_ctx *c)
{
        (void)c;
        return n->runtime_ready;
}

/* Exact match: never a microVM on a container runtime, nor the reverse. */
static bool f_isolation(const struct sched_node *n, const struct filter_ctx *c)
{
        return n->isolation == c->req->isolation;
}

static bool f_backend(const struct sched_node *n, const struct filter_ctx *c)
{
        if (c->req->isolation != ISOLATION_MICROVM || !c->policy->allowed_backends)
                return true;
        return (c->policy->allowed_backends & VMM_BIT(n->backend)) != 0;
}

static bool f_platform(const struct sched_node *n, const struct filter_ctx *c)
{
        const char *want = c->req->platform;

        if (!want || !*want)
                return true;
        return n->platform && strcmp(n->platform, want) == 0;
}

/* GPUs inside a microVM need passthrough the provider validated, and QEMU:
 * Firecracker has no PCI passthrough. */
static bool f_microvm_gpu(const struct sched_node *n, const struct filter_ctx *c)
{
        if (c->req->isolation != ISOLATION_MICROVM || c->req->gpus == 0)
                return true;
        return n->microvm_gpu && n->backend == VMM_QEMU;
}

static bool f_devices(const struct sched_node *n, const struct filter_ctx *c)
{
        return device_list_covers(n->devices ? n->devices : "", c->req->devices);
}

static bool f_cpu(const struct sched_node *n, const struct filter_ctx *c)
{
        return n->cpu_milli - n->used_cpu_milli >= c->cpu_need;
}

static bool f_memory(const struct sched_node *n, const struct filter_ctx *c)
{
        return n->memory_bytes - n->used_memory_bytes >= c->memory_need;
}

static bool f_gpus(const struct sched_node *n, const struct filter_ctx *c)
{
        return n->gpus - n->used_gpus >= c->req->gpus;
}

static const struct {
        enum sched_filter id;
        const char *code;
        filter_fn fn;
} filters[FILTER__COUNT] = {
    {FILTER_ADMISSION, "node_not_admitted", f_admission},
    {FILTER_ELIGIBILITY, "node_ineligible", f_eligibility},
    {FILTER_HEALTH, "node_down", f_health},
    {FILTER_RUNTIME_READY, "runtime_not_ready", f_ready},
    {FILTER_ISOLATION_CLASS, "isolation_class_mismatch", f_isolation},
    {FILTER_VMM_BACKEND, "vmm_backend_not_allowed", f_backend},
    {FILTER_PLATFORM, "platform_mismatch", f_platform},
    {FILTER_MICROVM_GPU, "microvm_gpu_unsupported", f_microvm_gpu},
    {FILTER_DEVICES, "device_unavailable", f_devices},
    {FILTER_CPU, "insufficient_cpu", f_cpu},
    {FILTER_MEMORY, "insufficient_memory", f_memory},
    {FILTER_GPUS, "insufficient_gpus", f_gpus},
};

const char *sched_filter_code(enum sched_filter f)
{
        if ((int)f < 0 || f >= FILTER__COUNT)
                return "unknown";
        return filters[f].code;
}

static const char *const outcome_codes[] = {
    [SCHED_PLACED] = "placed",
    [SCHED_NO_COMPATIBLE_NODES] = "no_compatible_nodes",
    [SCHED_INSUFFICIENT_CAPACITY] = "insufficient_capacity",
    [SCHED_NOT_ALLOWED] = "isolation_class_not_allowed",
};

const char *sched_outcome_code(enum sched_outcome o)
{
        return enum_name(outcome_codes, (int)(sizeof(outcome_codes) / sizeof(outcome_codes[0])),
                         (int)o, "unknown");
}

/* Sums that saturate instead of wrapping: a node's usage is a sum over its
 * workloads, each bounded at admission; whatever adds up stays defined. */
static int64_t add_sat(int64_t a, int64_t b)
{
        int64_t r;

        if (__builtin_add_overflow(a, b, &r))
                return b > 0 ? INT64_MAX : INT64_MIN;
        return r;
}

/* Share of the node's scarcest resource in use after placing: lower is
 * emptier. Integer per-mille to keep it exact. */
static int64_t load_after(const struct sched_node *n, const struct filter_ctx *c)
{
        /* only asked of a node the request fits: the sums are at most its capacity */
        int64_t cpu =
            n->cpu_milli ? add_sat(n->used_cpu_milli, c->cpu_need) * 1000 / n->cpu_milli : 1000;
        int64_t mem = n->memory_bytes ? add_sat(n->used_memory_bytes, c->memory_need) /
                                            (n->memory_bytes / 1000 + 1)
                                      : 1000;

        return cpu > mem ? cpu : mem;
}

void sched_place(const struct sched_request *req, const struct runtime_policy *policy,
                 const struct sched_node *nodes, size_t n, struct sched_result *res)
{
        struct filter_ctx c = {.req = req, .policy = policy};
        int64_t best_load = 0;
        size_t compatible = 0;

        memset(res, 0, sizeof(*res));
        res->node = -1;
        if (policy->set && !(policy->allowed_classes & ISOLATION_BIT(req->isolation))) {
                res->outcome = SCHED_NOT_ALLOWED;
                return;
        }
        res->evaluated = n;
        for (size_t i = 0; i < n; i++) {
                const struct sched_node *node = &nodes[i];
                int64_t oh_cpu, oh_mem, load;
                size_t f;

                microvm_overhead(req->isolation, node->backend, &oh_cpu, &oh_mem);
                c.cpu_need = add_sat(req->cpu_milli, oh_cpu);
                c.memory_need = add_sat(req->memory_bytes, oh_mem);
                for (f = 0; f < FILTER__COUNT; f++)
                        if (!filters[f].fn(node, &c))
                                break;
                if (f >= FILTER_FIRST_GENERIC)
                        compatible++;
                if (f < FILTER__COUNT) {
                        if (res->filtered[f] < SCHED_EXAMPLES)
                                res->examples[f][res->filtered[f]] = i;
                        res->filtered[f]++;
                        continue;
                }
                load = load_after(node, &c);
                if (res->node < 0 || load < best_load) {
                        res->node = (long)i;
                        best_load = load;
                }
        }
        if (res->node >= 0)
                res->outcome = SCHED_PLACED;
        else if (compatible == 0)
                res->outcome = SCHED_NO_COMPATIBLE_NODES;
        else
                res->outcome = SCHED_INSUFFICIENT_CAPACITY;
}

void sched_message(const struct sched_result *res, const char *subnet,
                   enum isolation_class isolation, char *buf, size_t size)
{
        switch (res->outcome) {
        case SCHED_NO_COMPATIBLE_NODES:
                snprintf(buf, size, MSG_NO_COMPATIBLE_NODES, subnet,
                         isolation_class_name(isolation));
                return;
        case SCHED_INSUFFICIENT_CAPACITY:
                snprintf(buf, size, MSG_NO_CAPACITY, subnet);
                return;
        case SCHED_NOT_ALLOWED:
                snprintf(buf, size, MSG_ISOLATION_CLASS_NOT_ALLOWED,
                         isolation_class_name(isolation));
                return;
        case SCHED_PLACED:
                break;
        }
        buf[0] = '\0';
}

void sched_request_of(const struct idyl_workload *w, struct sched_request *req)
{
        *req = (struct sched_request){.isolation = w->isolation,
                                      .platform = w->platform,
                                      .cpu_milli = w->cpu_milli,
                                      .memory_bytes = w->memory_bytes,
                                      .gpus = w->gpus,
                                      .devices = w->devices};
}

void sched_node_of(const struct idyl_node *n, bool healthy, struct sched_node *v)
{
        *v = (struct sched_node){.name = n->name,
                                 .admitted = n->admission == NODE_ADMITTED,
                                 .ineligible = n->eligibility != NODE_ELIGIBLE,
                                 .healthy = healthy,
                                 .runtime_ready = n->runtime_ready,
                                 .isolation = n->isolation,
                                 .backend = n->backend,
                                 .platform = n->platform,
                                 .microvm_gpu = n->microvm_gpu,
                                 .devices = n->devices,
                                 .cpu_milli = n->cpu_milli,
                                 .memory_bytes = n->memory_bytes,
                                 .gpus = n->gpus};
}

void sched_account(struct sched_node *node, const struct sched_request *req, int sign)
{
        int64_t oh_cpu, oh_mem, cpu, mem;

        microvm_overhead(req->isolation, node->backend, &oh_cpu, &oh_mem);
        cpu = add_sat(req->cpu_milli, oh_cpu);
        mem = add_sat(req->memory_bytes, oh_mem);

        node->used_cpu_milli = add_sat(node->used_cpu_milli, sign < 0 ? -cpu : cpu);
        node->used_memory_bytes = add_sat(node->used_memory_bytes, sign < 0 ? -mem : mem);
        node->used_gpus += sign < 0 ? -req->gpus : req->gpus;
}
