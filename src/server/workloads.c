/* /v1/subnets/{slug}/workloads: deploy (create-or-update by revision, with
 * admission by isolation class), get, list, delete, approve/deny, events;
 * and the re-check of waiting workloads when a subnet's policy changes.
 * Decisions come from core/workload.c; this file maps JSON and the store. */
#include "server/server.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/subnet.h"
#include "core/workload.h"
#include "util/timefmt.h"

/* ---- spec: JSON -> validated workload fields + canonical JSON ------------ */

static int spec_resources(const json_t *r, struct idyl_workload *w, struct idyl_err *err)
{
        static const char *const keys[] = {"cpu", "memory", "gpus", NULL};
        json_t *v;

        w->cpu_milli = WORKLOAD_DEFAULT_CPU_MILLI;
        w->memory_bytes = WORKLOAD_DEFAULT_MEMORY;
        w->gpus = 0;
        if (!r || json_is_null(r))
                return 0;
        if (!json_is_object(r))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "field \"spec.resources\" must be an object");
        if (json_check_keys(r, keys, "spec.resources", err) < 0)
                return -1;
        if ((v = json_object_get(r, "cpu")) && json_cpu(v, &w->cpu_milli, err) < 0)
                return -1;
        if ((v = json_object_get(r, "memory")) && json_memory(v, &w->memory_bytes, err) < 0)
                return -1;
        if ((v = json_object_get(r, "gpus"))) {
                if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 64)
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "invalid --gpus: field \"spec.resources.gpus\" must be "
                                            "a whole number from 0 to 64");
                w->gpus = (int)json_integer_value(v);
        }
        return 0;
}

static int spec_isolation(const json_t *iso, enum isolation_class *requested, struct idyl_err *err)
{
        static const char *const keys[] = {"class", NULL};
        const char *cls;

        *requested = ISOLATION_NONE;
        if (!iso || json_is_null(iso))
                return 0;
        if (!json_is_object(iso))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "field \"spec.isolation\" must be an object");
        if (json_check_keys(iso, keys, "spec.isolation", err) < 0 ||
            json_get_string(iso, "class", &cls, err) < 0)
                return -1;
        if (!cls)
                return 0;
        *requested = isolation_class_from_name(cls);
        if (*requested == ISOLATION_NONE)
                return idyl_err_set(
                    err, IDYL_E_INVALID,
                    "invalid --isolation-class \"%.40s\": valid values are container, "
                    "microvm",
                    cls);
        return 0;
}

static int compare_keys(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Copies env into canon with its names sorted: the same variables given in
 * another order are the same spec (an identical redeploy is a no-op). */
static int env_sorted(const json_t *env, json_t *canon, struct idyl_err *err)
{
        size_t n = json_object_size(env), i = 0;
        cleanup_free const char **keys = calloc(n ? n : 1, sizeof(*keys));
        const char *key;
        json_t *v;

        if (!keys)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        json_object_foreach((json_t *)env, key, v)
        {
                keys[i++] = key;
        }
        qsort(keys, n, sizeof(*keys), compare_keys);
        for (i = 0; i < n; i++)
                json_object_set(canon, keys[i], json_object_get(env, keys[i]));
        return 0;
}

static int spec_env(const json_t *env, json_t *canon, struct idyl_err *err)
{
        const char *key;
        json_t *v;

        if (!env || json_is_null(env))
                return 0;
        if (!json_is_object(env))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "field \"spec.env\" must be an object of strings");
        if (json_object_size(env) > WORKLOAD_ENV_MAX)
                return idyl_err_set(err, IDYL_E_INVALID, "too many --env values (at most %d)",
                                    WORKLOAD_ENV_MAX);
        json_object_foreach((json_t *)env, key, v)
        {
                if (workload_env_name_check(key, err) < 0)
                        return -1;
                if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
                        return idyl_err_set(
                            err, IDYL_E_INVALID,
                            "--env \"%.80s\": the value must be a string without NUL", key);
        }
        return env_sorted(env, canon, err);
}

static int spec_command(const json_t *cmd, json_t *canon, struct idyl_err *err)
{
        json_t *v;
        size_t i;

        if (!cmd || json_is_null(cmd))
                return 0;
        if (!json_is_array(cmd) || json_array_size(cmd) > WORKLOAD_ARGS_MAX)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "field \"spec.command\" must be an array of at most %d strings",
                                    WORKLOAD_ARGS_MAX);
        json_array_foreach(cmd, i, v)
        {
                if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "field \"spec.command\" must be an array of strings");
                json_array_append(canon, v);
        }
        return 0;
}

static int secret_name_rule(const char *name, const char *flag, struct idyl_err *err)
{
        if (secret_name_check(name, NULL) == 0)
                return 0;
        return idyl_err_set(err, IDYL_E_INVALID,
                            "invalid %s \"%.80s\": a secret name is a DNS-1123 label", flag, name);
}

/* A list of names (spec.secrets, spec.secretEnv, spec.devices): strings
 * passing `check`, at most `max`, no duplicates; copied sorted into *out
 * (NULL when absent or empty), so the same names in another order are the
 * same spec. */
static int spec_names(const json_t *arr, const char *field, const char *flag, size_t max,
                      int (*check)(const char *, const char *, struct idyl_err *), json_t **out,
                      struct idyl_err *err)
{
        const char **names;
        size_t n, i;
        json_t *v;

        *out = NULL;
        if (!arr || json_is_null(arr))
                return 0;
        if (!json_is_array(arr) || json_array_size(arr) > max)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "field \"spec.%s\" must be an array of at most %zu strings "
                                    "(%s)",
                                    field, max, flag);
        n = json_array_size(arr);
        names = calloc(n ? n : 1, sizeof(*names));
        if (!names)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        json_array_foreach(arr, i, v)
        {
                names[i] = json_string_value(v);
                if (!names[i] || check(names[i], flag, err) < 0) {
                        if (!names[i])
                                idyl_err_set(err, IDYL_E_INVALID,
                                             "field \"spec.%s\" must be an array of strings",
                                             field);
                        free(names);
                        return -1;
                }
        }
        qsort(names, n, sizeof(*names), compare_keys);
        for (i = 1; i < n; i++)
                if (strcmp(names[i], names[i - 1]) == 0) {
                        idyl_err_set(err, IDYL_E_INVALID, "duplicate %s \"%s\"", flag, names[i]);
                        free(names);
                        return -1;
                }
        if (n) {
                *out = json_array();
                for (i = 0; i < n; i++)
                        json_array_append_new(*out, json_string(names[i]));
        }
        free(names);
        return 0;
}

/* spec.secrets, spec.secretEnv (names only, never values) and spec.devices
 * into canon; the devices also into w for the scheduler. */
static int spec_access(const json_t *spec, struct idyl_workload *w, json_t *canon,
                       struct idyl_err *err)
{
        json_t *secrets = NULL, *secret_env = NULL, *devices = NULL;
        const char *paths[DEVICES_MAX];
        json_t *v;
        size_t i;
        int rc = -1;

        if (spec_names(json_object_get(spec, "secrets"), "secrets", "--secret",
                       WORKLOAD_SECRETS_MAX, secret_name_rule, &secrets, err) < 0 ||
            spec_names(json_object_get(spec, "secretEnv"), "secretEnv", "--secret-env",
                       WORKLOAD_SECRETS_MAX, secret_name_rule, &secret_env, err) < 0 ||
            spec_names(json_object_get(spec, "devices"), "devices", "--device", DEVICES_MAX,
                       device_path_check, &devices, err) < 0)
                goto out;
        json_array_foreach(devices, i, v) paths[i] = json_string_value(v);
        if (device_list_join(paths, json_array_size(devices), w->devices, sizeof(w->devices)) < 0) {
                idyl_err_set(err, IDYL_E_INVALID, "too many --device paths");
                goto out;
        }
        if (secrets)
                json_object_set(canon, "secrets", secrets);
        if (secret_env)
                json_object_set(canon, "secretEnv", secret_env);
        if (devices)
                json_object_set(canon, "devices", devices);
        rc = 0;
out:
        json_decref(secrets);
        json_decref(secret_env);
        json_decref(devices);
        return rc;
}

static json_t *resources_to_json(const struct idyl_workload *w)
{
        char mem[32];

        resource_memory_format(w->memory_bytes, mem, sizeof(mem));
        return json_pack("{s:o,s:s,s:i}", "cpu",
                         w->cpu_milli % 1000 ? json_real((double)w->cpu_milli / 1000.0)
                                             : json_integer(w->cpu_milli / 1000),
                         "memory", mem, "gpus", w->gpus);
}

/* spec.pidsLimit (a number) and spec.stopTimeout ("10s"); 0 when absent. */
static int spec_hardening(const json_t *spec, int64_t *pids_limit, int64_t *stop_timeout,
                          struct idyl_err *err)
{
        const json_t *p = json_object_get(spec, "pidsLimit"),
                     *t = json_object_get(spec, "stopTimeout");

        if (p && !json_is_integer(p))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "field \"spec.pidsLimit\" must be a whole number");
        if (p && workload_pids_limit_check(json_integer_value(p), err) < 0)
                return -1;
        if (t && !json_is_string(t))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "field \"spec.stopTimeout\" must be a duration such as 10s");
        if (t && workload_stop_timeout_parse(json_string_value(t), stop_timeout, err) < 0)
                return -1;
        *pids_limit = p ? json_integer_value(p) : 0;
        return 0;
}

/* Validates a spec object into w (scheduler fields) and *canon (the spec as
 * stored and shown, keys in one fixed order). */
static int spec_parse(const json_t *spec, struct idyl_workload *w, enum isolation_class *requested,
                      json_t **canon, struct idyl_err *err)
{
        static const char *const keys[] = {"image",   "platform",  "isolation",   "resources",
                                           "env",     "command",   "secrets",     "secretEnv",
                                           "devices", "pidsLimit", "stopTimeout", NULL};
        json_t *c = NULL, *env = json_object(), *cmd = json_array();
        const char *image, *platform;
        int64_t pids_limit = 0, stop_timeout = 0;
        int rc = -1;

        if (!json_is_object(spec)) {
                idyl_err_set(err, IDYL_E_INVALID, "field \"spec\" is required: an object");
                goto out;
        }
        if (json_check_keys(spec, keys, "spec", err) < 0 ||
            json_get_string(spec, "image", &image, err) < 0 ||
            workload_image_check(image, err) < 0 ||
            json_get_string(spec, "platform", &platform, err) < 0 ||
            (platform && workload_platform_check(platform, err) < 0) ||
            spec_isolation(json_object_get(spec, "isolation"), requested, err) < 0 ||
            spec_resources(json_object_get(spec, "resources"), w, err) < 0 ||
            spec_env(json_object_get(spec, "env"), env, err) < 0 ||
            spec_command(json_object_get(spec, "command"), cmd, err) < 0 ||
            spec_hardening(spec, &pids_limit, &stop_timeout, err) < 0)
                goto out;
        snprintf(w->platform, sizeof(w->platform), "%s", platform ? platform : "");
        c = json_pack("{s:s}", "image", image);
        if (platform)
                json_object_set_new(c, "platform", json_string(platform));
        if (*requested != ISOLATION_NONE)
                json_object_set_new(c, "isolation",
                                    json_pack("{s:s}", "class", isolation_class_name(*requested)));
        json_object_set_new(c, "resources", resources_to_json(w));
        if (json_object_size(env))
                json_object_set(c, "env", env);
        if (json_array_size(cmd))
                json_object_set(c, "command", cmd);
        if (pids_limit)
                json_object_set_new(c, "pidsLimit", json_integer(pids_limit));
        if (stop_timeout) {
                char d[32];
                snprintf(d, sizeof(d), "%llds", (long long)stop_timeout);
                json_object_set_new(c, "stopTimeout", json_string(d));
        }
        if (spec_access(spec, w, c, err) < 0) {
                json_decref(c);
                goto out;
        }
        *canon = c;
        rc = 0;
out:
        json_decref(env);
        json_decref(cmd);
        return rc;
}

/* ---- workload object ---------------------------------------------------- */

static json_t *string_or_null(const char *s)
{
        return s && *s ? json_string(s) : json_null();
}

json_t *workload_to_json(const struct idyl_workload *w)
{
        char slug[SUBNET_SLUG_BUFLEN], created[32];
        json_t *spec = w->spec ? json_loads(w->spec, 0, NULL) : NULL;
        json_t *status, *placement = w->placement ? json_loads(w->placement, 0, NULL) : NULL;

        rfc3339_format(w->created_at, created, sizeof(created));
        status = json_pack(
            "{s:s,s:{s:s,s:s},s:o,s:o,s:s,s:i}", "phase", workload_phase_name(w->phase),
            "isolation", "class", isolation_class_name(w->isolation), "source",
            isolation_source_name(w->source), "node", string_or_null(w->node), "runtimeProfile",
            string_or_null(w->runtime_profile), "message", w->message, "restarts", w->restarts);
        if (w->ip[0])
                json_object_set_new(status, "ip", json_string(w->ip));
        /* the nodes each filter removed are for `workload explain` alone */
        json_object_del(placement, "examples");
        if (placement)
                json_object_set_new(status, "placement", placement);
        return json_pack("{s:s,s:s,s:I,s:s,s:o,s:o}", "name", w->name, "subnet",
                         subnet_slug_format(w->subnet, slug), "revision", (json_int_t)w->revision,
                         "createdAt", created, "spec", spec ? spec : json_object(), "status",
                         status);
}

/* ---- handlers ------------------------------------------------------------- */

/* Stores revision `w` (admitted as w->isolation/w->source) of a deploy,
 * after `prev` when there is one: admitted, then held for approval when the
 * subnet requires it. */
static int deploy_store(struct lifecycle_tx *tx, const struct idyl_subnet *sn,
                        struct idyl_workload *w, const struct idyl_workload *prev,
                        struct idyl_err *err)
{
        char msg[256];

        w->revision = prev ? prev->revision + 1 : 1;
        w->created_at = prev ? prev->created_at : (int64_t)time(NULL);
        snprintf(msg, sizeof(msg), "revision %" PRId64 " admitted with isolation class %s (%s)",
                 w->revision, isolation_class_name(w->isolation), isolation_source_name(w->source));
        if (workload_transition(tx, w, LIFE_ADMIT, NULL, msg, err) < 0)
                return -1;
        if (sn->deploy_approval && workload_transition(tx, w, LIFE_HOLD, NULL, NULL, err) < 0)
                return -1;
        /* the node running the previous revision must learn it changed */
        return prev ? lifecycle_tx_node_changed(tx, w->subnet, prev->node, err) : 0;
}

/* Every secret the spec names must exist in the workload's subnet (404
 * with the documented message otherwise). */
static int secrets_exist(struct idyl_store *st, const struct idyl_workload *w, struct idyl_err *err)
{
        static const char *const fields[] = {"secrets", "secretEnv"};
        json_t *spec = json_loads(w->spec, 0, NULL);
        int rc = 0;

        for (size_t f = 0; f < 2 && rc == 0; f++) {
                json_t *v;
                size_t i;

                json_array_foreach(json_object_get(spec, fields[f]), i, v)
                {
                        struct idyl_secret sec;

                        if ((rc = store_secret_get(st, w->subnet, json_string_value(v), &sec,
                                                   err)) < 0)
                                break;
                        secret_release(&sec);
                }
        }
        json_decref(spec);
        return rc;
}

static int deploy_in_tx(struct lifecycle_tx *tx, uint64_t slug, struct idyl_workload *w,
                        enum isolation_class requested, struct response *resp, struct idyl_err *err)
{
        struct idyl_store *st = tx->srv->store;
        struct idyl_workload prev = IDYL_WORKLOAD_INIT;
        struct idyl_err lookup = IDYL_ERR_INIT;
        struct idyl_subnet sn = IDYL_SUBNET_INIT;
        bool have_prev;
        int rc = -1;

        if (store_subnet_get(st, slug, &sn, err) < 0 ||
            admission_resolve(&sn.policy, requested, &w->isolation, &w->source, err) < 0 ||
            device_admission_check(&sn.devices, w->devices, err) < 0 ||
            secrets_exist(st, w, err) < 0)
                goto out;
        have_prev = store_workload_get(st, slug, w->name, &prev, &lookup) == 0;
        if (!have_prev && lookup.code != IDYL_E_NOT_FOUND) {
                *err = lookup;
                goto out;
        }
        /* An identical spec is a no-op, unless the last revision was rejected. */
        if (have_prev && strcmp(prev.spec, w->spec) == 0 && prev.phase != PHASE_REJECTED) {
                resp->body = workload_to_json(&prev);
                rc = 0;
                goto out;
        }
        if (deploy_store(tx, &sn, w, have_prev ? &prev : NULL, err) < 0)
                goto out;
        resp->status = w->revision == 1 ? 201 : 200;
        resp->body = workload_to_json(w);
        rc = 0;
out:
        workload_release(&prev);
        return rc;
}

int handle_workload_deploy(struct request *req, struct response *resp, struct idyl_err *err)
{
        static const char *const keys[] = {"name", "spec", NULL};
        struct lifecycle_tx tx = LIFECYCLE_TX_INIT;
        struct idyl_workload w = IDYL_WORKLOAD_INIT;
        enum isolation_class requested;
        const char *name;
        json_t *canon = NULL;
        uint64_t slug;
        bool dry_run = deploy_is_dry_run(req);
        int rc = -1;

        if (subnet_slug_parse(req->params[0], &slug, err) < 0 ||
            json_check_keys(req->body, keys, "workload", err) < 0 ||
            json_get_string(req->body, "name", &name, err) < 0 ||
            workload_name_check(name, err) < 0 ||
            spec_parse(json_object_get(req->body, "spec"), &w, &requested, &canon, err) < 0)
                goto out;
        w.subnet = slug;
        snprintf(w.name, sizeof(w.name), "%s", name);
        w.spec = json_dumps(canon, JSON_COMPACT);
        if (lifecycle_tx_begin(&tx, req->srv, err) < 0)
                goto out;
        rc = deploy_in_tx(&tx, slug, &w, requested, resp, err);
        if (rc == 0 && dry_run) {
                rc = deploy_dry_run_place(req, slug, w.name, resp, err);
                lifecycle_tx_abort(&tx); /* nothing is written, nobody is woken */
                goto out;
        }
        if (rc == 0)
                rc = lifecycle_tx_kick(&tx, slug, err);
        rc = lifecycle_tx_end(&tx, rc, err);
out:
        json_decref(canon);
        workload_release(&w);
        return rc;
}

static int params(struct request *req, uint64_t *slug, struct idyl_err *err)
{
        return subnet_slug_parse(req->params[0], slug, err);
}

int handle_workload_get(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct idyl_workload w = IDYL_WORKLOAD_INIT;
        uint64_t slug;
        int rc = -1;

        if (params(req, &slug, err) < 0 ||
            store_workload_get(req->srv->store, slug, req->params[1], &w, err) < 0)
                goto out;
        resp->body = workload_to_json(&w);
        rc = 0;
out:
        workload_release(&w);
        return rc;
}

int handle_workload_list(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct idyl_workload *items = NULL;
        struct idyl_subnet sn = IDYL_SUBNET_INIT;
        struct store_page pg;
        size_t n = 0;
        uint64_t slug;
        json_t *list;
        int paged = page_request(req, &pg, err);

        if (paged < 0)
                return -1;
        if (list_watch_requested(req))
                return handle_workload_list_watch(req, resp, err);
        if (params(req, &slug, err) < 0 || store_subnet_get(req->srv->store, slug, &sn, err) < 0)
                return -1;
        if (paged && store_workload_page(req->srv->store, slug, &pg, &items, &n, err) < 0)
                return page_failed(err);
        if (!paged && store_workload_list(req->srv->store, slug, NULL, &items, &n, err) < 0)
                return -1;
        list = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(list, workload_to_json(&items[i]));
        workload_list_free(items, n);
        resp->body = paged ? page_answer(list, &pg) : list;
        return 0;
}

/* Deleting frees capacity and tells the node to stop the workload. */
int handle_workload_delete(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct idyl_store *st = req->srv->store;
        struct lifecycle_tx tx = LIFECYCLE_TX_INIT;
        struct idyl_workload w = IDYL_WORKLOAD_INIT;
        uint64_t slug;
        int rc = -1;

        if (params(req, &slug, err) < 0 || lifecycle_tx_begin(&tx, req->srv, err) < 0)
                goto out;
        rc = store_workload_get(st, slug, req->params[1], &w, err);
        if (rc == 0)
                rc = store_workload_delete(st, slug, w.name, err);
        if (rc == 0)
                rc = lifecycle_tx_node_changed(&tx, slug, w.node, err);
        if (rc == 0)
                rc = lifecycle_tx_kick(&tx, slug, err);
        resp->status = 204; /* before the commit, which carries the audit record */
        rc = lifecycle_tx_end(&tx, rc, err);
out:
        workload_release(&w);
        return rc;
}

int handle_workload_events(struct request *req, struct response *resp, struct idyl_err *err)
{
        cleanup_free struct idyl_event *evs = NULL;
        struct idyl_workload w = IDYL_WORKLOAD_INIT;
        size_t n = 0;
        uint64_t slug;
        int rc;

        if (params(req, &slug, err) < 0)
                return -1;
        rc = store_workload_get(req->srv->store, slug, req->params[1], &w, err);
        workload_release(&w);
        if (rc < 0 || store_event_list(req->srv->store, slug, req->params[1], &evs, &n, err) < 0)
                return -1;
        resp->body = json_array();
        for (size_t i = 0; i < n; i++) {
                char when[32];
                rfc3339_format(evs[i].time, when, sizeof(when));
                json_array_append_new(resp->body,
                                      json_pack("{s:s,s:I,s:s,s:s}", "time", when, "revision",
                                                (json_int_t)evs[i].revision, "type", evs[i].type,
                                                "message", evs[i].message));
        }
        return 0;
}

/* Moves workload `name` by an operator's approve or deny (inside tx). */
static int decide_in_tx(struct lifecycle_tx *tx, uint64_t slug, const char *name,
                        enum lifecycle_event event, const char *reason, struct idyl_workload *w,
                        struct idyl_err *err)
{
        char msg[400];

        if (store_workload_get(tx->srv->store, slug, name, w, err) < 0)
                return -1;
        if (!lifecycle_allows(w->phase, event))
                return idyl_err_set(err, IDYL_E_CONFLICT,
                                    "workload \"%s\" is not awaiting approval (phase %s)", w->name,
                                    workload_phase_name(w->phase));
        if (event == LIFE_APPROVE)
                snprintf(msg, sizeof(msg), "approved by operator%s%.300s", reason ? ": " : "",
                         reason ? reason : "");
        else
                snprintf(msg, sizeof(msg), "denied by operator: %.300s",
                         reason && *reason ? reason : "no reason given");
        /* an approval keeps the step's own message; a denial shows why */
        return workload_transition(tx, w, event, event == LIFE_DENY ? msg : NULL, msg, err);
}

/* approve/deny: moves an awaiting-approval workload on, with an event. */
static int decide(struct request *req, struct response *resp, enum lifecycle_event event,
                  struct idyl_err *err)
{
        static const char *const keys[] = {"reason", NULL};
        struct lifecycle_tx tx = LIFECYCLE_TX_INIT;
        struct idyl_workload w = IDYL_WORKLOAD_INIT;
        const char *reason = NULL;
        uint64_t slug;
        int rc = -1;

        if (params(req, &slug, err) < 0)
                goto out;
        if (req->body && (json_check_keys(req->body, keys, "approval", err) < 0 ||
                          json_get_string(req->body, "reason", &reason, err) < 0))
                goto out;
        if (lifecycle_tx_begin(&tx, req->srv, err) < 0)
                goto out;
        rc = decide_in_tx(&tx, slug, req->params[1], event, reason, &w, err);
        rc = lifecycle_tx_end(&tx, rc, err);
        if (rc == 0)
                resp->body = workload_to_json(&w);
out:
        workload_release(&w);
        return rc;
}

int handle_workload_approve(struct request *req, struct response *resp, struct idyl_err *err)
{
        return decide(req, resp, LIFE_APPROVE, err);
}

int handle_workload_deny(struct request *req, struct response *resp, struct idyl_err *err)
{
        return decide(req, resp, LIFE_DENY, err);
}

/* After a policy change (inside the caller's transaction): workloads still
 * waiting for placement that the policy no longer admits become rejected;
 * placed ones are left running and named in `warnings`. */
int workloads_recheck_policy(struct lifecycle_tx *tx, const struct idyl_subnet *sn,
                             json_t *warnings, struct idyl_err *err)
{
        struct idyl_workload *items = NULL;
        size_t n = 0;
        int rc = 0;

        if (store_workload_list(tx->srv->store, sn->slug, NULL, &items, &n, err) < 0)
                return -1;
        for (size_t i = 0; i < n && rc == 0; i++) {
                struct idyl_workload *w = &items[i];
                struct idyl_err why = IDYL_ERR_INIT;
                const char *fate;
                bool class_ok;

                if (w->phase == PHASE_REJECTED || w->phase == PHASE_STOPPED)
                        continue;
                class_ok = admission_check_class(&sn->policy, w->isolation, &why) == 0;
                if (class_ok && device_admission_check(&sn->devices, w->devices, &why) == 0)
                        continue;
                fate = lifecycle_allows(w->phase, LIFE_POLICY_REJECT) ? "it is rejected"
                                                                      : "it keeps running";
                if (class_ok) /* a device the new devicePolicy no longer allows */
                        json_array_append_new(
                            warnings, json_sprintf("workload %s (phase %s): %s; %s", w->name,
                                                   workload_phase_name(w->phase), why.msg, fate));
                else
                        json_array_append_new(
                            warnings, json_sprintf("workload %s (isolation class %s, phase %s) is "
                                                   "not allowed by the new runtime policy; %s",
                                                   w->name, isolation_class_name(w->isolation),
                                                   workload_phase_name(w->phase), fate));
                if (lifecycle_allows(w->phase, LIFE_POLICY_REJECT))
                        rc = workload_transition(tx, w, LIFE_POLICY_REJECT, why.msg, NULL, err);
        }
        workload_list_free(items, n);
        return rc;
}

/* The number of workloads in a subnet (for the delete conflict). */
int workloads_count(struct idyl_store *st, uint64_t slug, size_t *n, struct idyl_err *err)
{
        struct idyl_workload *items = NULL;

        if (store_workload_list(st, slug, NULL, &items, n, err) < 0)
                return -1;
        workload_list_free(items, *n);
        return 0;
}
