/* The API watch: GET /v1/subnets/{slug}/workloads/{name}/watch?version=V&wait=S
 * answers {"version", "workload"} at once when the workload's version is
 * not V, else long-polls (no thread held, as the node assignments do) until
 * it changes or S seconds pass. A workload that does not exist, or stops
 * existing while watched, is a 404. GET /v1/subnets/{slug}/workloads?watch=V
 * &wait=S does the same for the whole list: {"version", "workloads"}. The version is a hash of the
 * workload object, so every change a reader could see moves it, with no column to keep. Every
 * change to a subnet's workloads wakes the subnet's watchers: a change request under
 * /v1/subnets/{slug} (server/http.c) and each scheduling pass (server/scheduler.c).
 * The nodes have the same two watches (GET .../nodes?watch=V and
 * .../nodes/{name}/watch?version=V), woken by the same changes (heartbeats
 * are requests under the subnet) and by the scheduler's health and drain
 * steps; their heartbeat times do not move the version. */
#include "server/server.h"

#include <inttypes.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/subnet.h"

#define WATCH_WAIT_MAX 60 /* seconds one watch request may wait */

void watch_key(uint64_t subnet, char *buf, size_t size)
{
        snprintf(buf, size, "watch/%" PRIu64, subnet);
}

void watch_subnet_changed(struct idyl_server *srv, uint64_t subnet)
{
        char key[96];

        watch_key(subnet, key, sizeof(key));
        server_notify(srv, key);
}

/* A node's heartbeat time moves every few seconds without anything a
 * watcher acts on: the nodes' versions leave it out. */
static json_t *without_heartbeats(const json_t *o)
{
        json_t *copy = json_deep_copy(o), *item;
        size_t i;

        if (json_is_object(copy))
                json_object_del(copy, "lastHeartbeat");
        json_array_foreach(copy, i, item) json_object_del(item, "lastHeartbeat");
        return copy;
}

/* FNV-1a over the object's canonical text, as 16 hex digits. */
static void object_version(const json_t *o, char out[17])
{
        json_t *seen = without_heartbeats(o);
        char *text = json_dumps(seen, JSON_COMPACT | JSON_SORT_KEYS);
        uint64_t h = 14695981039346656037ull;

        for (const char *p = text ? text : ""; *p; p++)
                h = (h ^ (uint8_t)*p) * 1099511628211ull;
        free(text);
        json_decref(seen);
        snprintf(out, 17, "%016" PRIx64, h);
}

static int query_wait(struct request *req, long *out, struct idyl_err *err)
{
        const char *v = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "wait");
        char *end;

        *out = 0;
        if (!v || !*v)
                return 0;
        *out = strtol(v, &end, 10);
        if (*end || *out < 0 || *out > WATCH_WAIT_MAX)
                return idyl_err_set(err, IDYL_E_INVALID, "wait must be 0 to %d seconds",
                                    WATCH_WAIT_MAX);
        return 0;
}

/* Answers {"version", field: obj} unless obj's version is the one the
 * query parameter `param` names and the request may still wait: then it
 * suspends (obj is dropped). Takes obj. */
static int answer_or_wait(struct request *req, struct response *resp, const char *field,
                          const char *param, json_t *obj, long wait)
{
        const char *seen = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, param);
        char version[17];

        object_version(obj, version);
        if (seen && strcmp(seen, version) == 0 && wait > 0 &&
            (req->wait_deadline_ms == 0 || now_ms() < req->wait_deadline_ms)) {
                json_decref(obj);
                resp->suspend_until_ms =
                    req->wait_deadline_ms ? req->wait_deadline_ms : now_ms() + wait * 1000;
                return 0;
        }
        resp->body = json_pack("{s:s,s:o}", "version", version, field, obj);
        return 0;
}

/* What every watch does first: the subnet of the path, the wait asked for,
 * and the subnet's watch key prepared before the read, so no change made
 * between the read and the wait is missed. */
static int watch_begin(struct request *req, struct response *resp, uint64_t *slug, long *wait,
                       struct idyl_err *err)
{
        char key[96];

        if (subnet_slug_parse(req->params[0], slug, err) < 0 || query_wait(req, wait, err) < 0)
                return -1;
        watch_key(*slug, key, sizeof(key));
        server_wait_prepare(req, resp, key);
        return 0;
}

bool list_watch_requested(const struct request *req)
{
        return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "watch") != NULL;
}

int handle_workload_list_watch(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct idyl_workload *items = NULL;
        struct idyl_subnet sn;
        size_t n = 0;
        uint64_t slug;
        json_t *list;
        long wait;

        if (watch_begin(req, resp, &slug, &wait, err) < 0)
                return -1;
        if (store_subnet_get(req->srv->store, slug, &sn, err) < 0 ||
            store_workload_list(req->srv->store, slug, NULL, &items, &n, err) < 0)
                return -1;
        list = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(list, workload_to_json(&items[i]));
        workload_list_free(items, n);
        return answer_or_wait(req, resp, "workloads", "watch", list, wait);
}

int handle_workload_watch(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct idyl_workload w;
        uint64_t slug;
        json_t *obj;
        long wait;

        if (watch_begin(req, resp, &slug, &wait, err) < 0)
                return -1;
        if (store_workload_get(req->srv->store, slug, req->params[1], &w, err) < 0)
                return -1;
        obj = workload_to_json(&w);
        workload_release(&w);
        return answer_or_wait(req, resp, "workload", "version", obj, wait);
}

int handle_node_list_watch(struct request *req, struct response *resp, struct idyl_err *err)
{
        uint64_t slug;
        json_t *list;
        long wait;

        if (watch_begin(req, resp, &slug, &wait, err) < 0)
                return -1;
        if (node_list_objects(req->srv, slug, NULL, &list, err) < 0)
                return -1;
        return answer_or_wait(req, resp, "nodes", "watch", list, wait);
}

int handle_node_watch(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct idyl_node n = IDYL_NODE_INIT;
        uint64_t slug;
        json_t *obj;
        long wait;

        if (watch_begin(req, resp, &slug, &wait, err) < 0 ||
            node_caller_check(req, slug, req->params[1], err) < 0)
                return -1;
        if (store_node_get(req->srv->store, slug, req->params[1], &n, err) < 0 ||
            node_object(req->srv, &n, &obj, err) < 0)
                return -1;
        return answer_or_wait(req, resp, "node", "version", obj, wait);
}
