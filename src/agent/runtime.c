/* Runtime selection and the helpers every runtime shares. */
#include "agent/runtime.h"

#include "agent/netpolicy.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

int rt_host_gpus(void)
{
        DIR *d = opendir("/dev");
        struct dirent *e;
        int n = 0;

        if (!d)
                return 0;
        while ((e = readdir(d)))
                if (strncmp(e->d_name, "nvidia", 6) == 0 && e->d_name[6] >= '0' &&
                    e->d_name[6] <= '9')
                        n++;
        closedir(d);
        return n;
}

bool runtime_set_network_policy(struct runtime *rt, const struct network_policy *p)
{
        bool changed;

        netpolicy_lock();
        changed = memcmp(&rt->network, p, sizeof(*p)) != 0;
        rt->network = *p;
        netpolicy_unlock();
        return changed;
}

int64_t rt_pids_limit(const struct rt_workload *w)
{
        return w->pids_limit > 0 ? w->pids_limit : RT_PIDS_LIMIT_DEFAULT;
}

int64_t rt_stop_timeout_s(const struct rt_workload *w)
{
        if (w->stop_timeout_s <= 0)
                return RT_STOP_TIMEOUT_DEFAULT_S;
        return w->stop_timeout_s < RT_STOP_TIMEOUT_MAX_S ? w->stop_timeout_s
                                                         : RT_STOP_TIMEOUT_MAX_S;
}

int64_t rt_duration_s(const json_t *v)
{
        const char *s = json_string_value(v);
        char *end;
        long long n;

        if (json_is_integer(v))
                return json_integer_value(v) > 0 ? json_integer_value(v) : 0;
        if (!s)
                return 0;
        n = strtoll(s, &end, 10);
        if (n <= 0 || end == s)
                return 0;
        if (!*end || strcmp(end, "s") == 0)
                return n;
        return strcmp(end, "m") == 0 ? n * 60 : 0;
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
