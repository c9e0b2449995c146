/* Dry-runs (?dryRun=true). Deploy (POST /v1/subnets/{slug}/workloads): the
 * real deploy and a real scheduling pass run inside one transaction that is
 * then rolled back, so the answer (admission, and the workload object with
 * the node it would get in status.node) is exactly what a deploy would do,
 * and nothing is written. Subnet edit (PATCH /v1/subnets/{slug}): the edit
 * and its effects on the workloads run and are rolled back, so its answer
 * and warnings (workloads it would no longer admit, those it would reject)
 * are the real ones. */
#include "server/server.h"

#include <microhttpd.h>
#include <string.h>

bool deploy_is_dry_run(const struct request *req)
{
        const char *v = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "dryRun");

        return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

bool edit_is_dry_run(const struct request *req)
{
        return deploy_is_dry_run(req);
}

int deploy_dry_run_place(struct request *req, uint64_t slug, const char *name,
                         struct response *resp, struct idyl_err *err)
{
        struct idyl_workload w;

        if (scheduler_run_subnet(req->srv, slug, err) < 0 ||
            store_workload_get(req->srv->store, slug, name, &w, err) < 0)
                return -1;
        json_decref(resp->body);
        resp->body = workload_to_json(&w);
        workload_release(&w);
        resp->status = 200; /* nothing was created */
        return 0;
}
