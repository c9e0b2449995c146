/* Builds the node protocol's join and heartbeat bodies (see nodeproto.h);
 * the server's parsers in server/nodes.c are the other half. */
#include "core/nodeproto.h"

#include <inttypes.h>
#include <stdio.h>

json_t *nodeproto_capacity_json(const struct nodeproto_capacity *c)
{
        char cpu[32];

        snprintf(cpu, sizeof(cpu), "%" PRId64 "m", c->cpu_milli);
        return json_pack("{s:s,s:I,s:i}", "cpu", cpu, "memory", (json_int_t)c->memory_bytes, "gpus",
                         c->gpus);
}

static json_t *runtime_json(const struct nodeproto_runtime *r)
{
        json_t *rt =
            json_pack("{s:b,s:s}", "ready", r->ready, "reason", r->reason ? r->reason : "");

        if (rt && r->profile)
                json_object_set_new(rt, "profile", json_string(r->profile));
        if (rt && r->provider)
                json_object_set_new(rt, "provider", json_string(r->provider));
        if (rt && r->provider && r->handler)
                json_object_set_new(rt, "handler", json_string(r->handler));
        return rt;
}

json_t *nodeproto_join_body(const struct nodeproto_join *j)
{
        json_t *body, *devices = json_array();

        for (size_t i = 0; devices && i < j->ndevices; i++)
                if (json_array_append_new(devices, json_string(j->devices[i])) < 0) {
                        json_decref(devices);
                        return NULL;
                }
        body = json_pack("{s:s,s:s,s:o,s:o,s:b,s:o}", "name", j->name, "platform", j->platform,
                         "runtime", runtime_json(&j->runtime), "capacity",
                         nodeproto_capacity_json(&j->capacity), "microvmGPU", j->microvm_gpu,
                         "devices", devices);
        if (body && j->simulated && json_object_set_new(body, "simulated", json_true()) < 0) {
                json_decref(body);
                return NULL;
        }
        return body;
}

json_t *nodeproto_heartbeat_new(bool ready, const char *reason)
{
        return json_pack("{s:{s:b,s:s},s:[]}", "runtime", "ready", ready, "reason",
                         reason ? reason : "", "workloads");
}

int nodeproto_heartbeat_add_report(json_t *hb, const struct nodeproto_report *r)
{
        json_t *rep = json_pack("{s:s,s:I,s:s,s:i,s:s}", "name", r->name, "revision",
                                (json_int_t)r->revision, "phase", r->phase, "restarts", r->restarts,
                                "message", r->message ? r->message : "");

        if (rep && r->ip && r->ip[0] && json_object_set_new(rep, "ip", json_string(r->ip)) < 0) {
                json_decref(rep);
                return -1;
        }
        return rep ? json_array_append_new(json_object_get(hb, "workloads"), rep) : -1;
}

int nodeproto_heartbeat_set_capacity(json_t *hb, const struct nodeproto_capacity *c)
{
        return json_object_set_new(hb, "capacity", nodeproto_capacity_json(c));
}

int nodeproto_heartbeat_set_platform(json_t *hb, const char *platform)
{
        if (!platform || !platform[0])
                return 0;
        return json_object_set_new(hb, "platform", json_string(platform));
}
