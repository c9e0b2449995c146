/* GET /v1/subnets/{slug}/workloads/{name}/explain: the workload's stored
 * placement metrics, explained by core/explain.c. */
#include "server/server.h"

#include "core/explain.h"
#include "core/subnet.h"

int handle_workload_explain(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct idyl_workload w;
        char slug_text[SUBNET_SLUG_BUFLEN];
        json_t *placement;
        uint64_t slug;

        if (subnet_slug_parse(req->params[0], &slug, err) < 0 ||
            store_workload_get(req->srv->store, slug, req->params[1], &w, err) < 0)
                return -1;
        placement = w.placement ? json_loads(w.placement, 0, NULL) : NULL;
        resp->body = placement_explain(
            &(struct explain_subject){
                .name = w.name,
                .subnet = subnet_slug_format(slug, slug_text),
                .phase = w.phase,
                .isolation = w.isolation,
                .platform = w.platform,
                .node = w.node,
                .message = w.message,
            },
            placement);
        json_decref(placement);
        workload_release(&w);
        return 0;
}
