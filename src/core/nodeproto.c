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

json_t *nodeproto_assignments_index(const json_t *answer)
{
        json_t *index = json_object();
        const json_t *w;
        size_t i;

        json_array_foreach(json_object_get(answer, "workloads"), i, w)
        {
                const char *name = json_string_value(json_object_get(w, "name"));
                if (index && name &&
                    json_object_set(index, name, json_object_get(w, "revision")) < 0) {
                        json_decref(index);
                        return NULL;
                }
        }
        return index;
}

json_t *nodeproto_assignments_delta(const json_t *sent, json_int_t since, const json_t *now)
{
        json_t *changed = json_array(), *removed = json_array(), *seen = json_object(), *delta;
        const json_t *w, *rev;
        const char *name;
        size_t i;

        json_array_foreach(json_object_get(now, "workloads"), i, w)
        {
                name = json_string_value(json_object_get(w, "name"));
                if (!name)
                        continue;
                json_object_set_new(seen, name, json_true());
                rev = json_object_get(sent, name);
                if (!rev || !json_equal(rev, json_object_get(w, "revision")))
                        json_array_append(changed, (json_t *)w);
        }
        json_object_foreach((json_t *)sent, name, rev)
        {
                if (!json_object_get(seen, name))
                        json_array_append_new(removed, json_string(name));
        }
        json_decref(seen);
        /* the rest of the answer (the subnet's network policy) is small: whole */
        delta = json_copy((json_t *)now);
        if (!delta || json_object_set_new(delta, "workloads", changed) < 0 ||
            json_object_set_new(delta, "since", json_integer(since)) < 0 ||
            json_object_set_new(delta, "removed", removed) < 0) {
                json_decref(delta);
                return NULL;
        }
        return delta;
}

bool nodeproto_assignments_is_delta(const json_t *answer)
{
        return json_object_get(answer, "since") != NULL;
}

json_t *nodeproto_assignments_apply(const json_t *held, const json_t *delta)
{
        const json_t *changed = json_object_get(delta, "workloads"), *w;
        json_t *drop = json_object(), *list = json_array(), *whole;
        const char *name;
        size_t i;

        if (!json_is_integer(json_object_get(held, "version")) ||
            !json_equal(json_object_get(held, "version"), json_object_get(delta, "since"))) {
                json_decref(drop);
                json_decref(list);
                return NULL;
        }
        json_array_foreach(json_object_get(delta, "removed"), i, w)
        {
                if (json_string_value(w))
                        json_object_set_new(drop, json_string_value(w), json_true());
        }
        json_array_foreach(changed, i, w)
        {
                name = json_string_value(json_object_get(w, "name"));
                if (name)
                        json_object_set_new(drop, name, json_true());
        }
        /* kept in the order held had them; new and changed ones after */
        json_array_foreach(json_object_get(held, "workloads"), i, w)
        {
                name = json_string_value(json_object_get(w, "name"));
                if (name && !json_object_get(drop, name))
                        json_array_append(list, (json_t *)w);
        }
        json_array_foreach(changed, i, w) json_array_append(list, (json_t *)w);
        json_decref(drop);
        whole = json_copy((json_t *)delta);
        if (!whole || json_object_set_new(whole, "workloads", list) < 0) {
                json_decref(whole);
                return NULL;
        }
        json_object_del(whole, "since");
        json_object_del(whole, "removed");
        return whole;
}
