/* Runtime selection and the helpers every runtime shares. */
#include "agent/runtime.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool rt_health_check(struct rt_health *h, const char *name, const char *subject, bool ok,
                     const char *fmt, ...)
{
        struct rt_check *c;
        va_list ap;

        if (h->nchecks == 0)
                h->ready = true;
        if (h->nchecks == RT_CHECKS_MAX)
                return ok;
        c = &h->checks[h->nchecks++];
        snprintf(c->name, sizeof(c->name), "%s", name);
        snprintf(c->subject, sizeof(c->subject), "%s", subject);
        c->ok = ok;
        va_start(ap, fmt);
        vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
        va_end(ap);
        if (!ok && h->ready) {
                h->ready = false;
                if ((size_t)snprintf(h->reason, sizeof(h->reason), "%s %s: %s", name, subject,
                                     c->detail) >= sizeof(h->reason))
                        memcpy(h->reason + sizeof(h->reason) - 4, "...", 4); /* cut: say so */
        }
        return ok;
}

const char *endpoint_socket_path(const char *endpoint)
{
        if (strncmp(endpoint, "unix://", 7) == 0)
                return endpoint + 7;
        if (endpoint[0] == '/')
                return endpoint;
        return NULL;
}

int runtime_open(const char *provider, const char *handler, const char *cri_handler,
                 const char *endpoint, enum isolation_class isolation, const char *node_key,
                 struct runtime **out, struct idyl_err *err)
{
        const char *sock = endpoint_socket_path(endpoint);
        int rc;

        if (!sock)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "runtime endpoint \"%s\" must be unix:///path/to.sock",
                                    endpoint);
        if (strcmp(provider, "docker") == 0)
                rc = runtime_docker_open(sock, out, err);
        else if (strcmp(provider, "containerd") == 0)
                rc = runtime_cri_open(sock, handler, cri_handler, isolation, out, err);
        else
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "runtime provider \"%s\" is not supported by this agent",
                                    provider);
        if (rc < 0)
                return -1;
        (*out)->isolation = isolation;
        snprintf((*out)->node_key, sizeof((*out)->node_key), "%s", node_key);
        return 0;
}
