/* DIR/node.json: the one reader and writer (node_config.h). */
#include "agent/node_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/node.h"
#include "core/resources_json.h"
#include "util/fileio.h"

static int set_optional(json_t *obj, const char *key, const char *v)
{
        return v && v[0] ? json_object_set_new(obj, key, json_string(v)) : 0;
}

int node_config_save(const char *dir, const struct node_config_new *n, struct idyl_err *err)
{
        const json_t *j = n->joined;
        char path[PATH_MAX + 16];
        cleanup_free char *text = NULL;
        json_t *state;
        int rc = -1;

        state =
            json_pack("{s:s,s:s,s:s,s:O,s:O,s:s}", "addr", n->addr, "subnet", n->subnet, "name",
                      json_string_value(json_object_get(j, "name")), "credential",
                      json_object_get(j, "credential"), "runtime", json_object_get(j, "runtime"),
                      "platform", json_string_value(json_object_get(j, "platform")));
        if (!state)
                return idyl_err_set(err, IDYL_E_INTERNAL,
                                    "idyld's join answer lacks the node's name, credential, "
                                    "runtime or platform");
        if (set_optional(state, "endpoint", n->endpoint) < 0 ||
            set_optional(state, "cniConfDir", n->cni_conf_dir) < 0 ||
            set_optional(state, "cniBinDir", n->cni_bin_dir) < 0 ||
            (n->offer && json_object_set(state, "offer", json_object_get(j, "capacity")) < 0)) {
                idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                goto out;
        }
        if ((size_t)snprintf(path, sizeof(path), "%s/node.json", dir) >= sizeof(path)) {
                idyl_err_set(err, IDYL_E_INVALID, "node directory path too long");
                goto out;
        }
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                idyl_err_errno(err, errno, "create node directory \"%s\"", dir);
                goto out;
        }
        text = json_dumps(state, JSON_INDENT(2));
        if (!text) {
                idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                goto out;
        }
        rc = file_write_atomic(path, text, strlen(text), 0600, err);
out:
        json_decref(state);
        return rc;
}

static int copy_field(const json_t *obj, const char *key, char *dst, size_t size, bool required,
                      const char *path, struct idyl_err *err)
{
        const char *v = json_string_value(json_object_get(obj, key));

        if (!v && required)
                return idyl_err_set(err, IDYL_E_INVALID, "%s: field \"%s\" is missing", path, key);
        if (v && strlen(v) >= size)
                return idyl_err_set(err, IDYL_E_INVALID, "%s: field \"%s\" is too long", path, key);
        snprintf(dst, size, "%s", v ? v : "");
        return 0;
}

/* The endpoint when node.json names none: the profile's, else the provider's
 * usual socket. */
static void endpoint_default(struct agent_config *c)
{
        const struct profile_preset *pp = NULL;
        enum runtime_profile prof;

        if (c->profile[0] && runtime_profile_parse(c->profile, &prof, NULL) == 0)
                pp = profile_preset(prof);
        if (pp && pp->cri_handler)
                snprintf(c->cri_handler, sizeof(c->cri_handler), "%s", pp->cri_handler);
        if (!c->endpoint[0])
                snprintf(c->endpoint, sizeof(c->endpoint), "%s",
                         pp ? pp->endpoint
                         : strcmp(c->provider, "docker") == 0
                             ? "unix:///var/run/docker.sock"
                             : "unix:///run/containerd/containerd.sock");
}

int node_config_load(const char *dir, struct agent_config *c, struct idyl_err *err)
{
        char path[PATH_MAX + 16];
        json_error_t jerr;
        json_t *st, *rt;
        int rc = -1;

        memset(c, 0, sizeof(*c));
        c->offer_cpu_milli = c->offer_memory = -1;
        c->offer_gpus = -1;
        if ((size_t)snprintf(c->dir, sizeof(c->dir), "%s", dir) >= sizeof(c->dir))
                return idyl_err_set(err, IDYL_E_INVALID, "node directory path too long");
        snprintf(path, sizeof(path), "%s/node.json", dir);
        st = json_load_file(path, 0, &jerr);
        if (!st)
                return idyl_err_set(err, IDYL_E_NOT_FOUND,
                                    "no node configuration in %s (%s); run `idyl node join` first",
                                    dir, jerr.text);
        rt = json_object_get(st, "runtime");
        if (copy_field(st, "addr", c->addr, sizeof(c->addr), true, path, err) < 0 ||
            copy_field(st, "subnet", c->subnet, sizeof(c->subnet), true, path, err) < 0 ||
            copy_field(st, "name", c->name, sizeof(c->name), true, path, err) < 0 ||
            copy_field(st, "credential", c->credential, sizeof(c->credential), true, path, err) <
                0 ||
            copy_field(st, "endpoint", c->endpoint, sizeof(c->endpoint), false, path, err) < 0 ||
            copy_field(st, "cniConfDir", c->cni_conf_dir, sizeof(c->cni_conf_dir), false, path,
                       err) < 0 ||
            copy_field(st, "cniBinDir", c->cni_bin_dir, sizeof(c->cni_bin_dir), false, path, err) <
                0 ||
            copy_field(rt, "profile", c->profile, sizeof(c->profile), false, path, err) < 0 ||
            copy_field(rt, "provider", c->provider, sizeof(c->provider), true, path, err) < 0 ||
            copy_field(rt, "handler", c->handler, sizeof(c->handler), true, path, err) < 0)
                goto out;
        if (json_is_object(json_object_get(st, "offer")) &&
            json_resources(json_object_get(st, "offer"), &c->offer_cpu_milli, &c->offer_memory,
                           &c->offer_gpus, err) < 0)
                goto out;
        c->isolation =
            isolation_class_from_name(json_string_value(json_object_get(rt, "isolationClass")));
        c->backend = vmm_backend_from_name(json_string_value(json_object_get(rt, "vmmBackend")));
        endpoint_default(c);
        rc = 0;
out:
        json_decref(st);
        return rc;
}

struct http_client *node_config_client(const struct agent_config *c)
{
        return http_client_new(c->addr, NULL, c->credential, c->ca);
}
