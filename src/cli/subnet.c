/* idyl subnet create|edit|get|list|delete. Flags become the API's JSON;
 * the server validates (one rule set, in core/), the CLI prints. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include "core/isolation.h"
#include "core/subnet.h"

#define POLICY_OPTS                                                                                \
        {"allowed-isolation-class", OPT_LIST, "CLASS",                                             \
         "allowed isolation class: container, microvm"},                                           \
            {"default-isolation-class", OPT_STRING, "CLASS",                                       \
             "class for workloads that do not set one; must be allowed"},                          \
        {                                                                                          \
                "allowed-vmm-backend", OPT_LIST, "BACKEND",                                        \
                    "allowed Kata VMM backend for microvm: qemu, firecracker"                      \
        }

#define NETWORK_OPTS                                                                               \
        {"egress", OPT_STRING, "MODE",                                                             \
         "network policy: none, restricted (only --allow-egress-cidr) or all"},                    \
        {                                                                                          \
                "allow-egress-cidr", OPT_LIST, "CIDR",                                             \
                    "IPv4 CIDR workloads may reach with --egress restricted"                       \
        }

static const struct cli_opt create_opts[] = {
    {"region", OPT_STRING, "REGION", "region of the subnet, [a-z0-9-]+ (required)"},
    POLICY_OPTS,
    {"require-deploy-approval", OPT_FLAG, NULL,
     "hold admitted workloads until an operator approves them"},
    {"allow-device", OPT_LIST, "PATH", "host device workloads may request, e.g. /dev/fuse"},
    NETWORK_OPTS,
    OPT_END,
};

static const struct cli_opt edit_opts[] = {
    POLICY_OPTS,
    {"clear-runtime-policy", OPT_FLAG, NULL, "remove the runtime policy"},
    {"require-deploy-approval", OPT_FLAG, NULL,
     "hold admitted workloads until an operator approves them"},
    {"no-deploy-approval", OPT_FLAG, NULL, "schedule admitted workloads without approval"},
    {"allow-device", OPT_LIST, "PATH",
     "host device workloads may request (the list replaces the previous one)"},
    {"clear-device-policy", OPT_FLAG, NULL, "remove the device policy: no device is allowed"},
    NETWORK_OPTS,
    {"clear-network-policy", OPT_FLAG, NULL, "remove the network policy: egress all"},
    {"dry-run", OPT_FLAG, NULL,
     "show the edited subnet and the warnings (workloads kept, workloads rejected), change "
     "nothing"},
    OPT_END,
};

static const struct cli_opt no_opts[] = {OPT_END};

static json_t *string_list(const struct cli_value *v)
{
        json_t *arr = json_array();

        for (size_t i = 0; i < v->n; i++)
                json_array_append_new(arr, json_string(v->list[i]));
        return arr;
}

static bool policy_flags_given(const struct cli_args *a)
{
        return cli_flag(a, "allowed-isolation-class") || cli_flag(a, "default-isolation-class") ||
               cli_flag(a, "allowed-vmm-backend");
}

/* The runtimePolicy object from the policy flags (validated by the server). */
static json_t *policy_from_flags(const struct cli_args *a)
{
        json_t *p = json_object();
        const char *dflt = cli_str(a, "default-isolation-class");

        if (cli_flag(a, "allowed-isolation-class"))
                json_object_set_new(p, "allowedIsolationClasses",
                                    string_list(cli_value(a, "allowed-isolation-class")));
        if (dflt)
                json_object_set_new(p, "defaultIsolationClass", json_string(dflt));
        if (cli_flag(a, "allowed-vmm-backend"))
                json_object_set_new(p, "allowedVMMBackends",
                                    string_list(cli_value(a, "allowed-vmm-backend")));
        return p;
}

static unsigned set_from_json(const json_t *arr, bool classes)
{
        unsigned set = 0;
        json_t *item;
        size_t i;

        json_array_foreach(arr, i, item)
        {
                const char *s = json_string_value(item);
                int v = classes ? (int)isolation_class_from_name(s) : (int)vmm_backend_from_name(s);
                if (v > 0)
                        set |= 1u << v;
        }
        return set;
}

/* The table's one-line summary, from the runtimePolicy object. */
static void summary_from_json(const json_t *sn, char *buf, size_t size)
{
        const json_t *p = json_object_get(sn, "runtimePolicy");
        struct runtime_policy pol = {0};

        if (json_is_object(p)) {
                pol.set = true;
                pol.allowed_classes =
                    set_from_json(json_object_get(p, "allowedIsolationClasses"), true);
                pol.default_class = isolation_class_from_name(
                    json_string_value(json_object_get(p, "defaultIsolationClass")));
                pol.allowed_backends =
                    set_from_json(json_object_get(p, "allowedVMMBackends"), false);
        }
        policy_summary(&pol, buf, size);
}

/* The table's columns, then the three -o wide adds: the network policy's
 * egress mode and CIDRs and the device policy's devices ("-": no policy). */
#define SUBNET_COLUMNS      5
#define SUBNET_WIDE_COLUMNS 8

static const char *const subnet_header[SUBNET_WIDE_COLUMNS] = {
    "SLUG",   "REGION",       "STATUS", "RUNTIME POLICY", "DEPLOY APPROVAL",
    "EGRESS", "EGRESS CIDRS", "DEVICES"};

static void subnet_cells(struct table *t, const json_t *sn)
{
        const json_t *net = json_object_get(sn, "networkPolicy");
        char summary[160], cidrs[1024], devices[1024];
        const char *row[SUBNET_WIDE_COLUMNS];

        summary_from_json(sn, summary, sizeof(summary));
        output_list_cell(json_object_get(net, "allowedEgressCIDRs"), cidrs, sizeof(cidrs));
        output_list_cell(json_object_get(json_object_get(sn, "devicePolicy"), "allowedDevices"),
                         devices, sizeof(devices));
        row[0] = json_string_value(json_object_get(sn, "slug"));
        row[1] = json_string_value(json_object_get(sn, "region"));
        row[2] = json_string_value(json_object_get(sn, "status"));
        row[3] = summary;
        row[4] = json_string_value(json_object_get(sn, "deployApproval"));
        row[5] = json_string_value(json_object_get(net, "egress"));
        row[6] = cidrs;
        row[7] = devices;
        table_row(t, row); /* the table keeps its own columns' worth */
}

static void subnet_table(FILE *f, const json_t *v)
{
        table_print_each(f, v, subnet_header, SUBNET_COLUMNS, subnet_cells);
}

static void subnet_wide_table(FILE *f, const json_t *v)
{
        table_print_each(f, v, subnet_header, SUBNET_WIDE_COLUMNS, subnet_cells);
}

static const struct output_tables subnet_tables = {subnet_table, subnet_wide_table};

/* {"allowedDevices": [...]} from --allow-device (validated by the server). */
static json_t *device_policy_from_flags(const struct cli_args *a)
{
        return json_pack("{s:o}", "allowedDevices", string_list(cli_value(a, "allow-device")));
}

static bool network_flags_given(const struct cli_args *a)
{
        return cli_flag(a, "egress") || cli_flag(a, "allow-egress-cidr");
}

/* The whole networkPolicy from --egress and --allow-egress-cidr (validated
 * by the server; no merge with the previous one). */
static json_t *network_policy_from_flags(const struct cli_args *a)
{
        json_t *p = json_object();

        if (cli_str(a, "egress"))
                json_object_set_new(p, "egress", json_string(cli_str(a, "egress")));
        if (cli_flag(a, "allow-egress-cidr"))
                json_object_set_new(p, "allowedEgressCIDRs",
                                    string_list(cli_value(a, "allow-egress-cidr")));
        return p;
}

static int subnet_create(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        json_t *body;

        if (!cli_str(a, "region"))
                return idyl_err_set(err, IDYL_E_USAGE, "--region is required");
        body = json_object();
        json_object_set_new(body, "region", json_string(cli_str(a, "region")));
        if (policy_flags_given(a))
                json_object_set_new(body, "runtimePolicy", policy_from_flags(a));
        if (cli_flag(a, "require-deploy-approval"))
                json_object_set_new(body, "deployApproval", json_string("required"));
        if (cli_flag(a, "allow-device"))
                json_object_set_new(body, "devicePolicy", device_policy_from_flags(a));
        if (network_flags_given(a))
                json_object_set_new(body, "networkPolicy", network_policy_from_flags(a));
        return api_print_tables(ctx, a, "POST", "/v1/subnets", body, &subnet_tables, err);
}

static int subnet_path(char *buf, size_t size, const char *slug)
{
        return snprintf(buf, size, "/v1/subnets/%s", slug);
}

/* Subnet slugs are digits; anything else is not a subnet (and must not
 * reach the URL unescaped). */
static int check_slug(const char *slug, struct idyl_err *err)
{
        uint64_t v;

        return subnet_slug_parse(slug, &v, err);
}

static int subnet_edit(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        json_t *body;
        char path[128];

        if (cli_flag(a, "clear-runtime-policy") && policy_flags_given(a))
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "--clear-runtime-policy cannot be combined with "
                                    "--allowed-isolation-class, --default-isolation-class or "
                                    "--allowed-vmm-backend");
        if (cli_flag(a, "require-deploy-approval") && cli_flag(a, "no-deploy-approval"))
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "--require-deploy-approval cannot be combined with "
                                    "--no-deploy-approval");
        if (cli_flag(a, "clear-device-policy") && cli_flag(a, "allow-device"))
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "--clear-device-policy cannot be combined with --allow-device");
        if (cli_flag(a, "clear-network-policy") && network_flags_given(a))
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "--clear-network-policy cannot be combined with --egress or "
                                    "--allow-egress-cidr");
        if (check_slug(a->pos[0], err) < 0)
                return -1;
        body = json_object();
        if (cli_flag(a, "clear-network-policy"))
                json_object_set_new(body, "networkPolicy", json_null());
        else if (network_flags_given(a))
                json_object_set_new(body, "networkPolicy", network_policy_from_flags(a));
        if (cli_flag(a, "clear-device-policy"))
                json_object_set_new(body, "devicePolicy", json_null());
        else if (cli_flag(a, "allow-device"))
                json_object_set_new(body, "devicePolicy", device_policy_from_flags(a));
        if (cli_flag(a, "clear-runtime-policy"))
                json_object_set_new(body, "runtimePolicy", json_null());
        else if (policy_flags_given(a))
                json_object_set_new(body, "runtimePolicy", policy_from_flags(a));
        if (cli_flag(a, "require-deploy-approval"))
                json_object_set_new(body, "deployApproval", json_string("required"));
        if (cli_flag(a, "no-deploy-approval"))
                json_object_set_new(body, "deployApproval", json_string("none"));
        subnet_path(path, sizeof(path), a->pos[0]);
        if (cli_flag(a, "dry-run"))
                snprintf(path + strlen(path), sizeof(path) - strlen(path), "?dryRun=true");
        return api_print_tables(ctx, a, "PATCH", path, body, &subnet_tables, err);
}

static int subnet_get(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        char path[128];

        if (check_slug(a->pos[0], err) < 0)
                return -1;
        subnet_path(path, sizeof(path), a->pos[0]);
        return api_print_tables(ctx, a, "GET", path, NULL, &subnet_tables, err);
}

static int subnet_list(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        return api_print_list(ctx, a, "/v1/subnets", &subnet_tables, err);
}

static int subnet_delete(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        char path[128];

        if (check_slug(a->pos[0], err) < 0)
                return -1;
        subnet_path(path, sizeof(path), a->pos[0]);
        if (api_call(ctx, "DELETE", path, NULL, NULL, err) < 0)
                return -1;
        printf("subnet \"%s\" deleted\n", a->pos[0]);
        return 0;
}

const struct cli_command subnet_commands[] = {
    {"subnet", "create", subnet_create, create_opts, NULL, 0, 0, CMD_API | CMD_OUTPUT,
     "Create a subnet, optionally with a runtime policy."},
    {"subnet", "edit", subnet_edit, edit_opts, "SUBNET", 1, 1, CMD_API | CMD_OUTPUT,
     "Set or replace a subnet's runtime policy (policy flags replace the whole policy),\n"
     "its network policy (--egress, --allow-egress-cidr replace the whole networkPolicy),\n"
     "clear them, or change deploy approval. Without flags nothing changes."},
    {"subnet", "get", subnet_get, no_opts, "SUBNET", 1, 1, CMD_API | CMD_OUTPUT,
     "Show one subnet."},
    {"subnet", "list", subnet_list, no_opts, NULL, 0, 0, CMD_API | CMD_OUTPUT,
     "List subnets with a summary of their runtime policy (-o wide: also their network\n"
     "and device policies)."},
    {"subnet", "delete", subnet_delete, no_opts, "SUBNET", 1, 1, CMD_API, "Delete a subnet."},
};

const size_t subnet_ncommands = sizeof(subnet_commands) / sizeof(subnet_commands[0]);
