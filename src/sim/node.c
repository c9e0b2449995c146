/* The hollow node's state machine: which request it sends next, what goes in
 * the bodies, and how an answer changes it. Pure: no sockets and no clock,
 * the I/O loop (loop.c) passes the time in. A hollow node runs nothing: the
 * moment its assignments change it owes the server a heartbeat reporting
 * each assigned workload as running. */
#include "sim/sim.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nodeproto.h"
#include "core/workload.h"

int sim_node_init(struct sim_node *n, const struct sim_config *c, size_t index,
                  struct idyl_err *err)
{
        int len;

        memset(n, 0, sizeof(*n));
        len = snprintf(n->name, sizeof(n->name), "%s-%zu", c->prefix, index);
        if (len < 0 || (size_t)len >= sizeof(n->name))
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "invalid --name-prefix \"%s\": node names are at most 63 "
                                    "characters",
                                    c->prefix);
        if (node_name_check(n->name, err) < 0)
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "invalid --name-prefix \"%s\": node \"%s\" would not be a "
                                    "valid node name (lowercase letters, digits, '-' and '.')",
                                    c->prefix, n->name);
        n->state = SIM_NODE_NEW;
        n->assign_version = -1;
        n->heartbeat_seconds = SIM_HEARTBEAT_FIRST;
        return 0;
}

static void assigned_free(struct sim_assigned *ws, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(ws[i].name);
        free(ws);
}

void sim_node_release(struct sim_node *n)
{
        assigned_free(n->ws, n->nws);
        n->ws = NULL;
        n->nws = 0;
}

/* ---- what to send next ------------------------------------------------- */

enum sim_request sim_node_next_control(struct sim_node *n, int64_t now_ms)
{
        enum sim_request r = SIM_REQ_NONE;

        if (n->control_busy || now_ms < n->control_retry_at_ms)
                return SIM_REQ_NONE;
        if (n->state == SIM_NODE_NEW)
                r = SIM_REQ_JOIN;
        else if (n->report_due || now_ms >= n->heartbeat_at_ms)
                r = SIM_REQ_HEARTBEAT;
        if (r != SIM_REQ_NONE)
                n->control_busy = true;
        return r;
}

bool sim_node_next_poll(struct sim_node *n, int64_t now_ms)
{
        if (n->state != SIM_NODE_JOINED || n->poll_busy || now_ms < n->poll_retry_at_ms)
                return false;
        n->poll_busy = true;
        return true;
}

/* ---- request bodies ------------------------------------------------------ */

json_t *sim_join_body(const struct sim_config *c, const struct sim_node *n)
{
        char devices[DEVICE_LIST_TEXT], *save = NULL;
        const char *paths[DEVICES_MAX];
        struct nodeproto_join j = {
            .name = n->name,
            .platform = c->platform,
            .runtime = {.profile = runtime_profile_name(c->profile), .ready = true, .reason = ""},
            .capacity = {c->cpu_milli, c->memory_bytes, c->gpus},
            .devices = paths,
            .microvm_gpu = c->microvm_gpu,
            .simulated = true,
        };

        snprintf(devices, sizeof(devices), "%s", c->devices);
        for (char *t = strtok_r(devices, ",", &save); t && j.ndevices < DEVICES_MAX;
             t = strtok_r(NULL, ",", &save))
                paths[j.ndevices++] = t;
        return nodeproto_join_body(&j);
}

json_t *sim_heartbeat_body(const struct sim_config *c, struct sim_node *n)
{
        json_t *hb = nodeproto_heartbeat_new(true, "");

        (void)c;
        for (size_t i = 0; hb && i < n->nws; i++) {
                struct nodeproto_report r = {n->ws[i].name, n->ws[i].revision, "running", 0, ""};
                if (nodeproto_heartbeat_add_report(hb, &r) < 0) {
                        json_decref(hb);
                        return NULL;
                }
        }
        n->report_due = false;
        return hb;
}

int sim_request_path(const struct sim_config *c, const struct sim_node *n, enum sim_request r,
                     char *buf, size_t size, struct idyl_err *err)
{
        int len = -1;

        switch (r) {
        case SIM_REQ_JOIN:
                len = snprintf(buf, size, "/v1/subnets/%s/nodes", c->subnet_text);
                break;
        case SIM_REQ_HEARTBEAT:
                len = snprintf(buf, size, "/v1/subnets/%s/nodes/%s/heartbeat", c->subnet_text,
                               n->name);
                break;
        case SIM_REQ_ASSIGNMENTS:
                if (n->assign_version < 0)
                        len = snprintf(buf, size, "/v1/subnets/%s/nodes/%s/assignments",
                                       c->subnet_text, n->name);
                else
                        len = snprintf(buf, size,
                                       "/v1/subnets/%s/nodes/%s/assignments?version=%" PRId64
                                       "&wait=%d",
                                       c->subnet_text, n->name, n->assign_version, SIM_POLL_WAIT);
                break;
        case SIM_REQ_NONE:
                break;
        }
        if (len < 0 || (size_t)len >= size)
                return idyl_err_set(err, IDYL_E_INTERNAL, "request path too long for node \"%s\"",
                                    n->name);
        return 0;
}

/* ---- answers ------------------------------------------------------------- */

static int joined(struct sim_node *n, const json_t *body, int64_t now_ms, struct idyl_err *err)
{
        const char *cred = json_string_value(json_object_get(body, "credential"));

        if (!cred || !*cred || strlen(cred) >= sizeof(n->credential))
                return idyl_err_set(err, IDYL_E_INTERNAL,
                                    "idyld's join answer for node \"%s\" has no usable credential",
                                    n->name);
        snprintf(n->credential, sizeof(n->credential), "%s", cred);
        n->state = SIM_NODE_JOINED;
        n->heartbeat_at_ms = now_ms; /* the first answer tells the period */
        return 0;
}

static void heartbeat_answered(struct sim_node *n, const json_t *body, int64_t now_ms)
{
        json_int_t secs = json_integer_value(json_object_get(body, "heartbeatSeconds"));

        if (secs >= 1 && secs <= 3600)
                n->heartbeat_seconds = (int)secs;
        n->heartbeat_at_ms = now_ms + (int64_t)n->heartbeat_seconds * 1000;
}

/* Replaces the assigned set when its version moved; a changed set is
 * reported at once. */
static int assignments_answered(struct sim_node *n, const json_t *body, struct idyl_err *err)
{
        const json_t *list = json_object_get(body, "workloads"), *item;
        const json_t *version = json_object_get(body, "version");
        struct sim_assigned *ws;
        size_t i, nws;

        if (!json_is_integer(version) || !json_is_array(list))
                return idyl_err_set(err, IDYL_E_INTERNAL,
                                    "idyld's assignments answer for node \"%s\" is malformed",
                                    n->name);
        if (json_integer_value(version) == n->assign_version)
                return 0;
        nws = json_array_size(list);
        ws = calloc(nws + 1, sizeof(*ws));
        if (!ws)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        json_array_foreach(list, i, item)
        {
                const char *name = json_string_value(json_object_get(item, "name"));

                ws[i].name = strdup(name ? name : "");
                ws[i].revision = json_integer_value(json_object_get(item, "revision"));
                if (!ws[i].name) {
                        assigned_free(ws, i);
                        return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                }
        }
        assigned_free(n->ws, n->nws);
        n->ws = ws;
        n->nws = nws;
        n->assign_version = json_integer_value(version);
        n->report_due = true;
        return 0;
}

int sim_node_done(struct sim_node *n, enum sim_request r, const json_t *body, int64_t now_ms,
                  struct idyl_err *err)
{
        int rc = 0;

        switch (r) {
        case SIM_REQ_JOIN:
                n->control_busy = false;
                rc = joined(n, body, now_ms, err);
                break;
        case SIM_REQ_HEARTBEAT:
                n->control_busy = false;
                heartbeat_answered(n, body, now_ms);
                break;
        case SIM_REQ_ASSIGNMENTS:
                n->poll_busy = false;
                rc = assignments_answered(n, body, err);
                break;
        case SIM_REQ_NONE:
                break;
        }
        if (rc < 0) {
                sim_node_failed(n, r, now_ms);
                return -1;
        }
        if (r == SIM_REQ_ASSIGNMENTS)
                n->poll_failures = 0;
        else
                n->control_failures = 0;
        return 0;
}

static int64_t backoff_ms(unsigned failures)
{
        int64_t ms = SIM_RETRY_MS;

        for (unsigned i = 1; i < failures && ms < SIM_RETRY_MAX_MS; i++)
                ms *= 2;
        return ms < SIM_RETRY_MAX_MS ? ms : SIM_RETRY_MAX_MS;
}

void sim_node_failed(struct sim_node *n, enum sim_request r, int64_t now_ms)
{
        if (r == SIM_REQ_ASSIGNMENTS) {
                n->poll_busy = false;
                n->poll_retry_at_ms = now_ms + backoff_ms(++n->poll_failures);
                return;
        }
        n->control_busy = false;
        n->control_retry_at_ms = now_ms + backoff_ms(++n->control_failures);
        if (r == SIM_REQ_HEARTBEAT)
                n->report_due = true; /* the report did not arrive */
}
