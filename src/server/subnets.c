/* /v1/subnets: create, list, get, edit (set-or-replace or clear the runtime
 * policy, deploy approval) and delete. Validation comes from core/; this
 * file only maps JSON to the domain and back. */
#include "server/server.h"

#include <stdlib.h>
#include <string.h>

#include "core/subnet.h"

static json_t *string_array(unsigned set, void (*join)(unsigned, const char *, char *, size_t))
{
        char buf[128], *save = NULL;
        json_t *arr = json_array();

        join(set, ",", buf, sizeof(buf));
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
                json_array_append_new(arr, json_string(t));
        return arr;
}

static json_t *policy_to_json(const struct runtime_policy *p)
{
        json_t *o = json_object();

        json_object_set_new(o, "allowedIsolationClasses",
                            string_array(p->allowed_classes, isolation_class_set_join));
        if (p->default_class != ISOLATION_NONE)
                json_object_set_new(o, "defaultIsolationClass",
                                    json_string(isolation_class_name(p->default_class)));
        if (p->allowed_backends)
                json_object_set_new(o, "allowedVMMBackends",
                                    string_array(p->allowed_backends, vmm_backend_set_join));
        return o;
}

static json_t *device_policy_to_json(const struct device_policy *p)
{
        char buf[DEVICE_LIST_TEXT], *save = NULL;
        json_t *arr = json_array();

        snprintf(buf, sizeof(buf), "%s", p->allowed);
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
                json_array_append_new(arr, json_string(t));
        return json_pack("{s:o}", "allowedDevices", arr);
}

/* Reads {"allowedDevices": [...]}: at least one device path, no
 * duplicates. The list replaces the previous one (no merge). */
static int device_policy_from_json(const json_t *v, struct device_policy *out, struct idyl_err *err)
{
        static const char *const keys[] = {"allowedDevices", NULL};
        const char **paths = NULL;
        size_t n = 0;
        int rc = -1;

        if (!json_is_object(v))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "field \"devicePolicy\" must be an object or null");
        if (json_check_keys(v, keys, "devicePolicy", err) < 0 ||
            json_get_string_array(v, "allowedDevices", &paths, &n, err) < 0)
                goto out;
        if (n == 0 || n > DEVICES_MAX) {
                idyl_err_set(err, IDYL_E_INVALID,
                             "--allow-device is required when setting a device policy (1 to %d "
                             "device paths; --clear-device-policy removes it)",
                             DEVICES_MAX);
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                if (device_path_check(paths[i], "--allow-device", err) < 0)
                        goto out;
                for (size_t j = 0; j < i; j++)
                        if (strcmp(paths[i], paths[j]) == 0) {
                                idyl_err_set(err, IDYL_E_INVALID, "duplicate --allow-device \"%s\"",
                                             paths[i]);
                                goto out;
                        }
        }
        out->set = true;
        rc = device_list_join(paths, n, out->allowed, sizeof(out->allowed));
        if (rc < 0)
                idyl_err_set(err, IDYL_E_INVALID, "too many --allow-device paths");
out:
        free(paths);
        return rc;
}

/* {"egress": MODE, "allowedEgressCIDRs": [...]} (the CIDRs with restricted only). */
static json_t *network_policy_to_json(const struct network_policy *p)
{
        char buf[EGRESS_CIDRS_TEXT], *save = NULL;
        json_t *o = json_pack("{s:s}", "egress", egress_mode_name(p->egress)), *arr;

        if (p->egress != EGRESS_RESTRICTED)
                return o;
        arr = json_array();
        snprintf(buf, sizeof(buf), "%s", p->cidrs);
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
                json_array_append_new(arr, json_string(t));
        json_object_set_new(o, "allowedEgressCIDRs", arr);
        return o;
}

json_t *subnet_network_policy_json(const struct idyl_subnet *sn)
{
        return sn->network.set ? network_policy_to_json(&sn->network) : NULL;
}

/* Reads a networkPolicy object (SPEC 6.2) into a validated policy; the
 * whole policy is replaced (no merge). */
static int network_policy_from_json(const json_t *v, struct network_policy *out,
                                    struct idyl_err *err)
{
        static const char *const keys[] = {"egress", "allowedEgressCIDRs", NULL};
        const char **cidrs = NULL, *egress = NULL;
        size_t n = 0;
        int rc = -1;

        if (!json_is_object(v))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "field \"networkPolicy\" must be an object or null");
        if (json_check_keys(v, keys, "networkPolicy", err) == 0 &&
            json_get_string(v, "egress", &egress, err) == 0 &&
            json_get_string_array(v, "allowedEgressCIDRs", &cidrs, &n, err) == 0)
                rc = network_policy_build(egress, cidrs, n, out, err);
        free(cidrs);
        return rc;
}

/* The subnet object of SPEC 2. Returns a new reference. */
static json_t *subnet_to_json(const struct idyl_subnet *sn)
{
        char slug[SUBNET_SLUG_BUFLEN];
        json_t *o = json_object();

        json_object_set_new(o, "slug", json_string(subnet_slug_format(sn->slug, slug)));
        json_object_set_new(o, "region", json_string(sn->region));
        json_object_set_new(o, "status", json_string("active"));
        if (sn->policy.set)
                json_object_set_new(o, "runtimePolicy", policy_to_json(&sn->policy));
        if (sn->deploy_approval)
                json_object_set_new(o, "deployApproval", json_string("required"));
        if (sn->devices.set)
                json_object_set_new(o, "devicePolicy", device_policy_to_json(&sn->devices));
        if (sn->network.set)
                json_object_set_new(o, "networkPolicy", network_policy_to_json(&sn->network));
        return o;
}

/* Reads a runtimePolicy object into a validated policy. `{}` is refused:
 * a policy needs allowed classes (clearing is `null`). */
static int policy_from_json(const json_t *v, struct runtime_policy *out, struct idyl_err *err)
{
        static const char *const keys[] = {"allowedIsolationClasses", "defaultIsolationClass",
                                           "allowedVMMBackends", NULL};
        struct runtime_policy_input in = {0};
        const char **classes = NULL, **backends = NULL;
        int rc = -1;

        if (!json_is_object(v))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "field \"runtimePolicy\" must be an object or null");
        if (json_check_keys(v, keys, "runtimePolicy", err) < 0 ||
            json_get_string_array(v, "allowedIsolationClasses", &classes, &in.nclasses, err) < 0 ||
            json_get_string_array(v, "allowedVMMBackends", &backends, &in.nbackends, err) < 0 ||
            json_get_string(v, "defaultIsolationClass", &in.default_class, err) < 0)
                goto out;
        in.classes = classes;
        in.backends = backends;
        if (policy_build(&in, out, err) < 0)
                goto out;
        if (!out->set) {
                idyl_err_set(err, IDYL_E_INVALID,
                             "--allowed-isolation-class is required when setting a runtime policy "
                             "(valid values: container, microvm)");
                goto out;
        }
        rc = 0;
out:
        free(classes);
        free(backends);
        return rc;
}

static int deploy_approval_from_json(const json_t *body, bool *out, struct idyl_err *err)
{
        const char *v;

        if (json_get_string(body, "deployApproval", &v, err) < 0)
                return -1;
        if (!v)
                return 0;
        if (strcmp(v, "required") == 0)
                *out = true;
        else if (strcmp(v, "none") == 0)
                *out = false;
        else
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "invalid deployApproval \"%.64s\": valid values are required, "
                                    "none",
                                    v);
        return 0;
}

/* Applies the editable fields present in body to sn (absent: unchanged). */
static int subnet_apply(const json_t *body, struct idyl_subnet *sn, struct idyl_err *err)
{
        json_t *policy = json_object_get(body, "runtimePolicy");
        json_t *devices = json_object_get(body, "devicePolicy");
        json_t *network = json_object_get(body, "networkPolicy");

        if (policy && json_is_null(policy))
                memset(&sn->policy, 0, sizeof(sn->policy));
        else if (policy && policy_from_json(policy, &sn->policy, err) < 0)
                return -1;
        if (devices && json_is_null(devices))
                memset(&sn->devices, 0, sizeof(sn->devices));
        else if (devices && device_policy_from_json(devices, &sn->devices, err) < 0)
                return -1;
        if (network && json_is_null(network))
                memset(&sn->network, 0, sizeof(sn->network));
        else if (network && network_policy_from_json(network, &sn->network, err) < 0)
                return -1;
        return deploy_approval_from_json(body, &sn->deploy_approval, err);
}

static int slug_param(struct request *req, uint64_t *slug, struct idyl_err *err)
{
        return subnet_slug_parse(req->params[0], slug, err);
}

int handle_subnet_create(struct request *req, struct response *resp, struct idyl_err *err)
{
        static const char *const keys[] = {"region",       "runtimePolicy", "deployApproval",
                                           "devicePolicy", "networkPolicy", NULL};
        struct idyl_subnet sn = {0};
        const char *region;
        int rc;

        if (json_check_keys(req->body, keys, "subnet", err) < 0 ||
            json_get_string(req->body, "region", &region, err) < 0 ||
            subnet_region_check(region, err) < 0)
                return -1;
        snprintf(sn.region, sizeof(sn.region), "%s", region);
        if (subnet_apply(req->body, &sn, err) < 0)
                return -1;
        /* the audit record commits with the subnet: its slug and answer first */
        if (store_tx_begin(req->srv->store, err) < 0)
                return -1;
        rc = store_subnet_create(req->srv->store, &sn, err);
        if (rc == 0)
                resp->audit_subnet = sn.slug;
        if (server_tx_end(req->srv->store, rc, resp, 201, err) < 0)
                return -1;
        resp->body = subnet_to_json(&sn);
        return 0;
}

int handle_subnet_list(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct idyl_subnet *items = NULL;
        struct store_page pg;
        size_t n = 0;
        json_t *list;
        int paged = page_request(req, &pg, err);

        if (paged < 0)
                return -1;
        if (paged && store_subnet_page(req->srv->store, &pg, &items, &n, err) < 0)
                return page_failed(err);
        if (!paged && store_subnet_list(req->srv->store, &items, &n, err) < 0)
                return -1;
        list = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(list, subnet_to_json(&items[i]));
        free(items);
        resp->body = paged ? page_answer(list, &pg) : list;
        return 0;
}

int handle_subnet_get(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct idyl_subnet sn;
        uint64_t slug;

        if (slug_param(req, &slug, err) < 0 ||
            store_subnet_get(req->srv->store, slug, &sn, err) < 0)
                return -1;
        resp->body = subnet_to_json(&sn);
        return 0;
}

/* A network policy edit reaches running workloads through their nodes'
 * assignments: every node of the subnet gets a new version (and its
 * long-poll answers at once). */
static int network_policy_edited(struct lifecycle_tx *tx, const struct idyl_subnet *before,
                                 const struct idyl_subnet *after, struct idyl_err *err)
{
        cleanup_free struct idyl_node *nodes = NULL;
        size_t n = 0;

        if (before->network.set == after->network.set &&
            network_policy_egress(&before->network) == network_policy_egress(&after->network) &&
            strcmp(before->network.cidrs, after->network.cidrs) == 0)
                return 0;
        if (store_node_list(tx->srv->store, after->slug, &nodes, &n, err) < 0)
                return -1;
        for (size_t i = 0; i < n; i++)
                if (lifecycle_tx_node_changed(tx, after->slug, nodes[i].name, err) < 0)
                        return -1;
        return 0;
}

int handle_subnet_edit(struct request *req, struct response *resp, struct idyl_err *err)
{
        static const char *const keys[] = {"runtimePolicy", "deployApproval", "devicePolicy",
                                           "networkPolicy", NULL};
        struct idyl_store *st = req->srv->store;
        struct lifecycle_tx tx = LIFECYCLE_TX_INIT;
        struct idyl_subnet sn, before;
        uint64_t slug;

        if (slug_param(req, &slug, err) < 0)
                return -1;
        if (json_object_get(req->body, "region"))
                return idyl_err_set(err, IDYL_E_INVALID, "field \"region\" cannot be changed");
        if (json_check_keys(req->body, keys, "subnet edit", err) < 0)
                return -1;
        if (lifecycle_tx_begin(&tx, req->srv, err) < 0)
                return -1;
        resp->warnings = json_array();
        if (store_subnet_get(st, slug, &before, err) < 0) {
                lifecycle_tx_abort(&tx);
                return -1;
        }
        sn = before;
        if (subnet_apply(req->body, &sn, err) < 0 || store_subnet_update(st, &sn, err) < 0 ||
            network_policy_edited(&tx, &before, &sn, err) < 0 ||
            workloads_recheck_policy(&tx, &sn, resp->warnings, err) < 0 ||
            lifecycle_tx_kick(&tx, slug, err) < 0) {
                lifecycle_tx_abort(&tx);
                return -1;
        }
        resp->body = subnet_to_json(&sn);
        if (edit_is_dry_run(req)) {
                lifecycle_tx_abort(&tx); /* the warnings say what it would do */
                return 0;
        }
        if (lifecycle_tx_commit(&tx, err) < 0)
                return -1;
        return 0;
}

int handle_subnet_delete(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct idyl_store *st = req->srv->store;
        struct idyl_subnet sn;
        size_t nw = 0, nn = 0;
        uint64_t slug;
        int rc;

        if (slug_param(req, &slug, err) < 0 || store_tx_begin(st, err) < 0)
                return -1;
        rc = store_subnet_get(st, slug, &sn, err);
        if (rc == 0)
                rc = workloads_count(st, slug, &nw, err);
        if (rc == 0)
                rc = nodes_count(st, slug, &nn, err);
        if (rc == 0 && nw > 0)
                rc = idyl_err_set(err, IDYL_E_CONFLICT,
                                  "subnet \"%s\" still has %zu workload%s: delete them first",
                                  req->params[0], nw, nw == 1 ? "" : "s");
        else if (rc == 0 && nn > 0)
                rc = idyl_err_set(err, IDYL_E_CONFLICT,
                                  "subnet \"%s\" still has %zu node%s: delete them first",
                                  req->params[0], nn, nn == 1 ? "" : "s");
        if (rc == 0)
                rc = store_subnet_delete(st, slug, err);
        return server_tx_end(st, rc, resp, 204, err);
}
