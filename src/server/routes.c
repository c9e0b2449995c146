/* The route table: every API route, the roles it admits and whether it
 * takes a body. The HTTP layer checks credentials, role and body once, here-driven,
 * before any handler runs. */
#include "server/server.h"

int handle_healthz(struct request *req, struct response *resp, struct idyl_err *err)
{
        (void)req;
        (void)err;
        resp->body = json_pack("{s:s}", "status", "ok");
        return 0;
}

const struct route server_routes[] = {
    {"GET", "/healthz", handle_healthz, ROUTE_PUBLIC, 0},
    {"GET", "/readyz", handle_readyz, ROUTE_PUBLIC, 0},
    {"GET", "/v1/status", handle_status, ROUTE_SCOPED, ROLES_ANY},
    {"GET", "/metrics", handle_metrics, ROUTE_SCOPED, ROLES_ANY},
    {"POST", "/v1/subnets", handle_subnet_create, ROUTE_BODY, ROLES_OP},
    {"GET", "/v1/subnets", handle_subnet_list, 0, ROLES_AUTHOR, PAGE_QUERY},
    {"GET", "/v1/subnets/{slug}", handle_subnet_get, 0, ROLES_AUTHOR},
    {"PATCH", "/v1/subnets/{slug}", handle_subnet_edit, ROUTE_BODY, ROLES_OP, "dryRun"},
    {"DELETE", "/v1/subnets/{slug}", handle_subnet_delete, 0, ROLES_OP},
    {"POST", "/v1/subnets/{slug}/workloads", handle_workload_deploy, ROUTE_BODY, ROLES_AUTHOR,
     "dryRun"},
    {"GET", "/v1/subnets/{slug}/workloads", handle_workload_list, 0, ROLES_AUTHOR,
     "watch,wait," PAGE_QUERY},
    {"GET", "/v1/subnets/{slug}/workloads/{name}", handle_workload_get, 0, ROLES_AUTHOR},
    {"DELETE", "/v1/subnets/{slug}/workloads/{name}", handle_workload_delete, 0, ROLES_AUTHOR},
    {"GET", "/v1/subnets/{slug}/workloads/{name}/events", handle_workload_events, 0, ROLES_AUTHOR},
    {"GET", "/v1/subnets/{slug}/workloads/{name}/watch", handle_workload_watch, 0, ROLES_AUTHOR,
     "version,wait"},
    {"GET", "/v1/subnets/{slug}/workloads/{name}/explain", handle_workload_explain, 0,
     ROLES_AUTHOR},
    /* streams answer 101; an exec is audited, a read of logs is not */
    {"POST", "/v1/subnets/{slug}/workloads/{name}/logs", handle_workload_logs,
     ROUTE_BODY | ROUTE_NO_AUDIT, ROLES_AUTHOR},
    {"POST", "/v1/subnets/{slug}/workloads/{name}/exec", handle_workload_exec, ROUTE_BODY,
     ROLES_AUTHOR},
    {"POST", "/v1/subnets/{slug}/workloads/{name}/approve", handle_workload_approve, 0, ROLES_OP},
    {"POST", "/v1/subnets/{slug}/workloads/{name}/deny", handle_workload_deny, 0, ROLES_OP},
    {"POST", "/v1/subnets/{slug}/nodes", handle_node_join, ROUTE_BODY, ROLES_NODE},
    {"GET", "/v1/subnets/{slug}/nodes", handle_node_list, 0, ROLES_OP, "watch,wait," PAGE_QUERY},
    {"GET", "/v1/subnets/{slug}/nodes/{name}", handle_node_get, 0, ROLES_NODE},
    {"DELETE", "/v1/subnets/{slug}/nodes/{name}", handle_node_delete, 0, ROLES_OP},
    {"POST", "/v1/subnets/{slug}/nodes/{name}/admit", handle_node_admit, 0, ROLES_OP},
    {"POST", "/v1/subnets/{slug}/nodes/{name}/revoke", handle_node_revoke, 0, ROLES_OP},
    {"POST", "/v1/subnets/{slug}/nodes/{name}/eligibility", handle_node_eligibility, ROUTE_BODY,
     ROLES_OP},
    {"POST", "/v1/subnets/{slug}/nodes/{name}/drain", handle_node_drain, 0, ROLES_OP},
    {"GET", "/v1/subnets/{slug}/nodes/{name}/watch", handle_node_watch, 0, ROLES_NODE,
     "version,wait"},
    {"POST", "/v1/subnets/{slug}/nodes/{name}/heartbeat", handle_node_heartbeat,
     ROUTE_BODY | ROUTE_NO_AUDIT, ROLES_NODE},
    {"GET", "/v1/subnets/{slug}/nodes/{name}/assignments", handle_node_assignments, 0, ROLES_NODE,
     "version,wait,since"},
    {"GET", "/v1/subnets/{slug}/nodes/{name}/streams", handle_node_streams, ROUTE_NO_AUDIT,
     ROLES_NODE, "wait"},
    {"POST", "/v1/subnets/{slug}/nodes/{name}/streams/{id}", handle_node_stream_open,
     ROUTE_NO_AUDIT, ROLES_NODE},
    {"GET", "/v1/subnets/{slug}/nodes/{name}/workloads/{workload}/secrets",
     handle_node_workload_secrets, ROUTE_AUDIT_READ, ROLE_BIT(ROLE_PROVIDER)},
    {"POST", "/v1/subnets/{slug}/secrets", handle_secret_create, ROUTE_BODY, ROLES_AUTHOR},
    {"GET", "/v1/subnets/{slug}/secrets", handle_secret_list, 0, ROLES_AUTHOR, PAGE_QUERY},
    {"GET", "/v1/subnets/{slug}/secrets/{name}", handle_secret_get, 0, ROLES_AUTHOR},
    {"PUT", "/v1/subnets/{slug}/secrets/{name}", handle_secret_update, ROUTE_BODY, ROLES_AUTHOR},
    {"DELETE", "/v1/subnets/{slug}/secrets/{name}", handle_secret_delete, 0, ROLES_AUTHOR},
    {"POST", "/v1/tokens", handle_token_create, ROUTE_BODY | ROUTE_SCOPED, ROLES_OP},
    {"GET", "/v1/tokens", handle_token_list, ROUTE_SCOPED, ROLES_OP, PAGE_QUERY},
    {"DELETE", "/v1/tokens/{id}", handle_token_revoke, ROUTE_SCOPED, ROLES_OP},
    {"GET", "/v1/audit", handle_audit_list, ROUTE_SCOPED, ROLES_OP, "subnet,limit"},
};

const size_t server_nroutes = sizeof(server_routes) / sizeof(server_routes[0]);
