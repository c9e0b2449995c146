/* The containerd runtime, through the Kubernetes CRI (runtime.v1) over
 * containerd's socket. Each workload run is a pod sandbox started with the
 * profile's runtime handler (runc, kata-qemu, kata-fc) with a network
 * namespace of its own on the node's CNI network (which the agent installs
 * into the CNI configuration directory when absent), holding one hardened
 * container; the agent's labels on both find them again after a restart.
 * CRI cannot start an exited container again: a restart is a new container
 * in the same sandbox. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <jansson.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#undef linux /* a GNU C predefined macro, and a CRI field name */
#include "cri.pb-c.h"

#include "agent/grpc.h"
#include "agent/netpolicy.h"
#include "util/log.h"
#include "agent/runtime.h"
#include "core/node.h"

#define RUNTIME_SVC "/runtime.v1.RuntimeService/"
#define IMAGE_SVC   "/runtime.v1.ImageService/"

#define CALL_MS            30000
#define SANDBOX_MS         (5 * 60 * 1000) /* a microVM boots inside RunPodSandbox */
#define PULL_MS            (30 * 60 * 1000)
#define WATCH_POLL_MS      1000
#define CPU_PERIOD_US      100000
#define POD_NAMESPACE      "idyl"
#define LABEL_STOP_TIMEOUT "io.idyl.stop-timeout"
/* without runtime_cri_set_log_root; the agent keeps its logs in its node directory */
#define LOG_ROOT_DEFAULT "/var/log/idyl/pods"

/* The workload network the agent installs, as a CNI plugin's installer does
 * on a Kubernetes node: one bridge, host-local addresses, NAT out. */
#define CNI_CONF_DIR_DEFAULT "/etc/cni/net.d"
#define CNI_BIN_DIR_DEFAULT  "/usr/lib/cni"
#define CNI_CONF_FILE        "10-idyl.conflist"
#define CNI_NETWORK          "idyl"
#define CNI_BRIDGE           "idyl0"
#define CNI_SUBNET           "10.89.0.0/16"
static const char *const cni_plugins[] = {"bridge", "host-local", "loopback"};
/* what Kata's own RuntimeClass declares for the VM, as kubelet passes it */
#define KATA_OVERHEAD_CPU_MILLI 250
#define KATA_OVERHEAD_MEMORY    (160LL << 20)

struct cri {
        struct runtime rt;
        char *socket_path;
        char *handler;     /* the runtime type the profile expects: io.containerd.kata-qemu.v2 */
        char *cri_handler; /* the CRI runtime_handler name: kata-qemu */
        enum vmm_backend backend;
        struct grpc_conn *conn; /* the owning thread's connection */
        char *cni_conf_dir, *cni_bin_dir;
        char *log_root; /* sandboxes' log directories go under it; NULL: LOG_ROOT_DEFAULT */
};

static struct cri *cri_of(struct runtime *rt)
{
        return (struct cri *)rt;
}

/* A unary CRI call; *resp is freed with free_msg. */
static int rpc(struct cri *c, const char *method, const void *req,
               const ProtobufCMessageDescriptor *desc, void *resp, int timeout_ms,
               struct idyl_err *err)
{
        return grpc_unary(c->conn, method, req, desc, resp, timeout_ms, err);
}

static void free_msg(void *msg)
{
        if (msg)
                protobuf_c_message_free_unpacked(msg, NULL);
}

/* ---- readiness --------------------------------------------------------------------- */

/* containerd runs on this machine (its socket is local): the host's facts. */
static void host_facts(struct rt_health *h)
{
        struct utsname u;
        cpu_set_t set;
        FILE *f = fopen("/proc/meminfo", "r");
        char line[256];
        long long kb;

        if (sched_getaffinity(0, sizeof(set), &set) == 0)
                h->cpu_milli = (int64_t)CPU_COUNT(&set) * 1000;
        else
                h->cpu_milli = sysconf(_SC_NPROCESSORS_ONLN) * 1000LL;
        while (f && fgets(line, sizeof(line), f))
                if (sscanf(line, "MemTotal: %lld kB", &kb) == 1)
                        h->memory_bytes = (int64_t)kb * 1024;
        if (f)
                fclose(f);
        h->gpus = rt_host_gpus();
        if (uname(&u) == 0)
                snprintf(h->platform, sizeof(h->platform), "linux/%.50s",
                         strcmp(u.machine, "x86_64") == 0    ? "amd64"
                         : strcmp(u.machine, "aarch64") == 0 ? "arm64"
                                                             : u.machine);
}

static const char *info_value(Runtime__V1__StatusResponse *s, const char *key)
{
        for (size_t i = 0; i < s->n_info; i++)
                if (strcmp(s->info[i]->key, key) == 0)
                        return s->info[i]->value;
        return NULL;
}

/* What containerd's CRI configuration says about our handler. */
struct handler_config {
        bool found;
        char type[96];         /* runtimeType */
        char config_path[256]; /* options.ConfigPath (Kata), "" when unset */
        char snapshotter[64];  /* the handler's, else the CRI default */
        char names[128];       /* the configured handler names, for the message */
};

static void read_handler_config(const char *config_json, const char *name,
                                struct handler_config *hc)
{
        json_t *cfg = json_loads(config_json ? config_json : "", 0, NULL);
        const json_t *ctd = json_object_get(cfg, "containerd");
        const json_t *runtimes = json_object_get(ctd, "runtimes"), *r, *v;
        const char *k;
        size_t len = 0;

        memset(hc, 0, sizeof(*hc));
        json_object_foreach((json_t *)runtimes, k, v)
        {
                int n =
                    snprintf(hc->names + len, sizeof(hc->names) - len, "%s%s", len ? ", " : "", k);
                if (n < 0 || (size_t)n >= sizeof(hc->names) - len)
                        break;
                len += (size_t)n;
        }
        snprintf(hc->snapshotter, sizeof(hc->snapshotter), "%s",
                 json_string_value(json_object_get(ctd, "snapshotter")) ?: "");
        r = json_object_get(runtimes, name);
        if (r) {
                const char *snap = json_string_value(json_object_get(r, "snapshotter"));
                hc->found = true;
                snprintf(hc->type, sizeof(hc->type), "%s",
                         json_string_value(json_object_get(r, "runtimeType")) ?: "");
                snprintf(
                    hc->config_path, sizeof(hc->config_path), "%s",
                    json_string_value(json_object_get(json_object_get(r, "options"), "ConfigPath"))
                        ?: "");
                if (snap && *snap)
                        snprintf(hc->snapshotter, sizeof(hc->snapshotter), "%s", snap);
        }
        json_decref(cfg);
}

/* "io.containerd.kata-qemu.v2" -> "containerd-shim-kata-qemu-v2", as
 * containerd names a runtime type's shim binary. */
static void shim_binary(const char *type, char *out, size_t size)
{
        const char *p = strncmp(type, "io.containerd.", 14) == 0 ? type + 14 : type;
        const char *dot = strrchr(p, '.');
        int n = dot ? (int)(dot - p) : (int)strlen(p);

        snprintf(out, size, "containerd-shim-%.*s-%s", n, p, dot ? dot + 1 : "v2");
}

/* Searches PATH (and containerd's usual directories) for an executable. */
static bool find_on_path(const char *name, char *found, size_t size)
{
        const char *path = getenv("PATH");
        char dirs[4096];
        char *save = NULL;

        snprintf(dirs, sizeof(dirs), "%s:/usr/local/bin:/usr/bin:/opt/kata/bin", path ? path : "");
        for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                if ((size_t)snprintf(found, size, "%s/%s", d, name) >= size)
                        continue;
                if (access(found, X_OK) == 0)
                        return true;
        }
        return false;
}

static const char *const kata_dirs[] = {
    "/etc/kata-containers",
    "/opt/kata/share/defaults/kata-containers",
    "/usr/share/defaults/kata-containers",
};

/* The Kata configuration for the hypervisor: the handler's ConfigPath, else
 * the first of the standard places that exists. */
static void check_kata_config(struct rt_health *h, const struct cri *c,
                              const struct handler_config *hc)
{
        const char *file =
            c->backend == VMM_FIRECRACKER ? "configuration-fc.toml" : "configuration-qemu.toml";
        char path[512];

        if (hc->config_path[0]) {
                rt_health_check(h, "kata-config", hc->config_path,
                                access(hc->config_path, R_OK) == 0, "%s",
                                access(hc->config_path, R_OK) == 0 ? "present" : strerror(errno));
                return;
        }
        for (size_t i = 0; i < sizeof(kata_dirs) / sizeof(kata_dirs[0]); i++) {
                snprintf(path, sizeof(path), "%s/%s", kata_dirs[i], file);
                if (access(path, R_OK) == 0) {
                        rt_health_check(h, "kata-config", path, true, "present");
                        return;
                }
        }
        rt_health_check(h, "kata-config", file, false, "not found in %s, %s or %s", kata_dirs[0],
                        kata_dirs[1], kata_dirs[2]);
}

static void check_kvm(struct rt_health *h)
{
        struct stat st;

        if (stat("/dev/kvm", &st) < 0) {
                rt_health_check(h, "kvm", "/dev/kvm", false, "%s",
                                errno == ENOENT ? "not present" : strerror(errno));
                return;
        }
        if (!S_ISCHR(st.st_mode)) {
                rt_health_check(h, "kvm", "/dev/kvm", false, "not a character device");
                return;
        }
        rt_health_check(h, "kvm", "/dev/kvm", access("/dev/kvm", R_OK | W_OK) == 0, "%s",
                        access("/dev/kvm", R_OK | W_OK) == 0 ? "present" : strerror(errno));
}

/* The microVM checks, run on the host whatever containerd says. */
static void check_microvm(struct rt_health *h, const struct cri *c, const struct handler_config *hc)
{
        char shim[128], found[4200];

        shim_binary(hc->type[0] ? hc->type : c->handler, shim, sizeof(shim));
        if (find_on_path(shim, found, sizeof(found)))
                rt_health_check(h, "shim", shim, true, "%s", found);
        else
                rt_health_check(h, "shim", shim, false, "not found on PATH");
        check_kata_config(h, c, hc);
        check_kvm(h);
        if (c->backend == VMM_FIRECRACKER)
                rt_health_check(h, "snapshotter", c->cri_handler,
                                strcmp(hc->snapshotter, "devmapper") == 0,
                                strcmp(hc->snapshotter, "devmapper") == 0
                                    ? "devmapper (block devices for Firecracker)"
                                    : "uses %s; Firecracker needs the devmapper snapshotter",
                                hc->snapshotter[0] ? hc->snapshotter : "no snapshotter");
}

/* The handler must exist and run what this node promises: a handler named
 * kata-qemu that is really runc would run microvm workloads as containers. */
static void check_handler(struct rt_health *h, const struct cri *c, const struct handler_config *hc)
{
        enum isolation_class cls;
        enum vmm_backend backend;

        if (!hc->found) {
                rt_health_check(h, "handler", c->cri_handler, false,
                                "not configured in containerd (configured: %s)",
                                hc->names[0] ? hc->names : "none");
                return;
        }
        if (runtime_derive("containerd", hc->type, &cls, &backend, NULL) < 0 ||
            cls != c->rt.isolation) {
                rt_health_check(h, "handler", c->cri_handler, false,
                                "runs %s, which does not give %s isolation",
                                hc->type[0] ? hc->type : "an unknown runtime type",
                                isolation_class_name(c->rt.isolation));
                return;
        }
        rt_health_check(h, "handler", c->cri_handler, true, "runtime type %s", hc->type);
}

/* CRI Status: RuntimeReady and NetworkReady (the CNI network every
 * sandbox joins) must hold. */
static bool check_status(struct rt_health *h, Runtime__V1__StatusResponse *s)
{
        const Runtime__V1__RuntimeCondition *rt_ready = NULL, *net_ready = NULL;
        size_t n = s->status ? s->status->n_conditions : 0;

        for (size_t i = 0; i < n; i++) {
                const Runtime__V1__RuntimeCondition *cond = s->status->conditions[i];
                if (strcmp(cond->type, "RuntimeReady") == 0)
                        rt_ready = cond;
                else if (strcmp(cond->type, "NetworkReady") == 0)
                        net_ready = cond;
        }
        if (!rt_ready || !rt_ready->status)
                return rt_health_check(h, "status", "CRI RuntimeReady", false, "%s%s%s",
                                       rt_ready ? rt_ready->reason : "not reported",
                                       rt_ready && rt_ready->message[0] ? ": " : "",
                                       rt_ready ? rt_ready->message : "");
        rt_health_check(h, "status", "CRI RuntimeReady", true, "ready");
        if (!net_ready || !net_ready->status)
                return rt_health_check(h, "network", "CRI NetworkReady", false, "%s%s%s",
                                       net_ready ? net_ready->reason : "not reported",
                                       net_ready && net_ready->message[0] ? ": " : "",
                                       net_ready ? net_ready->message : "");
        return rt_health_check(h, "network", "CRI NetworkReady", true, "ready");
}

/* The CNI plugins the workload network needs, in --cni-bin-dir. */
static bool check_cni_plugins(struct rt_health *h, const struct cri *c)
{
        char path[PATH_MAX], missing[256] = "";
        size_t len = 0;

        for (size_t i = 0; i < sizeof(cni_plugins) / sizeof(cni_plugins[0]); i++) {
                snprintf(path, sizeof(path), "%s/%s", c->cni_bin_dir, cni_plugins[i]);
                if (access(path, X_OK) != 0 && len < sizeof(missing))
                        len += (size_t)snprintf(missing + len, sizeof(missing) - len, "%s%s",
                                                len ? ", " : "", cni_plugins[i]);
        }
        if (len)
                return rt_health_check(h, "cni-plugins", c->cni_bin_dir, false,
                                       "missing %s (Debian: containernetworking-plugins)", missing);
        return rt_health_check(h, "cni-plugins", c->cni_bin_dir, true,
                               "bridge, host-local, "
                               "loopback present");
}

static int mkdir_p(const char *path, struct idyl_err *err);
static int refresh_isolation(struct cri *c, struct idyl_err *err);

/* Traffic between sandboxes on one bridge meets iptables only with
 * bridge-nf-call-iptables on (br_netfilter): without it nothing keeps
 * subnets apart. The agent turns it on where the module is loaded. */
static bool check_bridge_filter(struct rt_health *h)
{
        static const char path[] = "/proc/sys/net/bridge/bridge-nf-call-iptables";
        FILE *f = fopen(path, "r");
        int v = -1;

        if (f) {
                if (fscanf(f, "%d", &v) != 1)
                        v = -1;
                fclose(f);
        }
        if (v == 0 && (f = fopen(path, "w"))) {
                if (fputs("1\n", f) >= 0)
                        v = 1;
                if (fclose(f) != 0)
                        v = 0;
        }
        if (v == 1)
                return rt_health_check(h, "bridge-filter", "bridge-nf-call-iptables", true,
                                       "bridged traffic passes iptables");
        return rt_health_check(h, "bridge-filter", "bridge-nf-call-iptables", false, "%s",
                               v < 0 ? "br_netfilter is not loaded (modprobe br_netfilter)"
                                     : "off, and the agent cannot turn it on");
}

/* containerd must read CNI configuration where the agent installs it
 * (its CRI config's cni.confDir, which Status reports). */
static bool check_cni_conf_dir(struct rt_health *h, const struct cri *c, const char *config_json)
{
        json_t *cfg = json_loads(config_json ? config_json : "", 0, NULL);
        const char *dir =
            json_string_value(json_object_get(json_object_get(cfg, "cni"), "confDir"));
        char theirs[PATH_MAX], ours[PATH_MAX];
        bool ok;

        if (!dir) {
                json_decref(cfg);
                return true; /* not reported: NetworkReady still tells */
        }
        ok = strcmp(realpath(dir, theirs) ? theirs : dir,
                    realpath(c->cni_conf_dir, ours) ? ours : c->cni_conf_dir) == 0;
        rt_health_check(h, "cni-dir", c->cni_conf_dir, ok,
                        ok ? "containerd reads CNI configuration here"
                           : "containerd reads CNI configuration from %s: set its CRI cni "
                             "conf_dir, or join with --cni-conf-dir %s",
                        dir, dir);
        json_decref(cfg);
        return ok;
}

/* Installs the workload network into --cni-conf-dir unless it is there:
 * several agents on one machine share the file, so it is written once
 * (link() refuses to replace another agent's) and never removed. */
static bool install_cni_conf(struct rt_health *h, const struct cri *c)
{
        char path[PATH_MAX], tmp[PATH_MAX + 32];
        struct idyl_err err = IDYL_ERR_INIT;
        json_t *conf;
        int rc;

        snprintf(path, sizeof(path), "%s/%s", c->cni_conf_dir, CNI_CONF_FILE);
        if (access(path, F_OK) == 0)
                return rt_health_check(h, "cni-config", path, true, "network %s present",
                                       CNI_NETWORK);
        conf = json_pack("{s:s,s:s,s:[{s:s,s:s,s:b,s:b,s:b,s:{s:s,s:[[{s:s}]],s:[{s:s}]}}]}",
                         "cniVersion", "1.0.0", "name", CNI_NETWORK, "plugins", "type", "bridge",
                         "bridge", CNI_BRIDGE, "isGateway", 1, "ipMasq", 1, "hairpinMode", 1,
                         "ipam", "type", "host-local", "ranges", "subnet", CNI_SUBNET, "routes",
                         "dst", "0.0.0.0/0");
        snprintf(tmp, sizeof(tmp), "%s/.%s.%d", c->cni_conf_dir, CNI_CONF_FILE, (int)getpid());
        rc = conf && mkdir_p(c->cni_conf_dir, &err) == 0 ? json_dump_file(conf, tmp, JSON_INDENT(2))
                                                         : -1;
        json_decref(conf);
        if (rc == 0 && link(tmp, path) < 0 && errno != EEXIST)
                rc = -1;
        if (rc < 0) {
                if (!err.msg[0])
                        snprintf(err.msg, sizeof(err.msg), "%s", strerror(errno));
                unlink(tmp);
                return rt_health_check(h, "cni-config", path, false, "cannot write: %s", err.msg);
        }
        unlink(tmp);
        return rt_health_check(h, "cni-config", path, true, "installed network %s (%s on %s)",
                               CNI_NETWORK, CNI_SUBNET, CNI_BRIDGE);
}

static void cri_health(struct runtime *rt, struct rt_health *h)
{
        struct cri *c = cri_of(rt);
        struct idyl_err err = IDYL_ERR_INIT;
        Runtime__V1__VersionRequest vreq = RUNTIME__V1__VERSION_REQUEST__INIT;
        Runtime__V1__StatusRequest sreq = RUNTIME__V1__STATUS_REQUEST__INIT;
        Runtime__V1__VersionResponse *v = NULL;
        Runtime__V1__StatusResponse *s = NULL;
        struct handler_config hc = {0};
        struct stat st;
        bool up;

        up = rt_health_check(h, "socket", c->socket_path,
                             stat(c->socket_path, &st) == 0 && S_ISSOCK(st.st_mode), "%s",
                             stat(c->socket_path, &st) < 0 ? strerror(errno)
                             : S_ISSOCK(st.st_mode)        ? "present"
                                                           : "not a socket");
        vreq.version = "v1";
        if (up && rpc(c, RUNTIME_SVC "Version", &vreq, &runtime__v1__version_response__descriptor,
                      &v, CALL_MS, &err) < 0)
                up = rt_health_check(h, "cri", "runtime.v1 RuntimeService", false, "%s", err.msg);
        if (up && v) {
                snprintf(h->version, sizeof(h->version), "%s %s", v->runtime_name,
                         v->runtime_version);
                up = rt_health_check(h, "cri", "runtime.v1 RuntimeService", true,
                                     "%s answers CRI %s", h->version, v->runtime_api_version);
        }
        if (up)
                up = check_cni_plugins(h, c) && install_cni_conf(h, c) && check_bridge_filter(h);
        sreq.verbose = true;
        if (up && rpc(c, RUNTIME_SVC "Status", &sreq, &runtime__v1__status_response__descriptor, &s,
                      CALL_MS, &err) < 0)
                up = rt_health_check(h, "status", "CRI RuntimeReady", false, "%s", err.msg);
        if (up && s && check_cni_conf_dir(h, c, info_value(s, "config")) && check_status(h, s)) {
                struct idyl_err ierr = IDYL_ERR_INIT;
                char chain[32];
                read_handler_config(info_value(s, "config"), c->cri_handler, &hc);
                check_handler(h, c, &hc);
                /* other nodes' workloads of the subnet come and go too */
                netpolicy_chain_name(rt->node_key, chain, sizeof(chain));
                rt_health_check(h, "iptables", chain, refresh_isolation(c, &ierr) == 0, "%s",
                                ierr.msg[0] ? ierr.msg : "subnets kept apart on the CNI bridge");
        }
        if (rt->isolation == ISOLATION_MICROVM)
                check_microvm(h, c, &hc);
        host_facts(h);
        rt_health_check(h, "capacity", "CPU and memory", h->cpu_milli > 0 && h->memory_bytes > 0,
                        "%" PRId64 " CPUs, %" PRId64 "Mi memory, %d GPUs", h->cpu_milli / 1000,
                        h->memory_bytes >> 20, h->gpus);
        free_msg(v);
        free_msg(s);
}

/* ---- what runs: sandboxes and their containers ------------------------------------- */

/* The label selector naming this node's sandboxes and containers. */
#define NODE_SELECTOR(entry_t, init, rt)                                                           \
        entry_t sel = init;                                                                        \
        entry_t *sels[1] = {&sel};                                                                 \
        sel.key = LABEL_NODE;                                                                      \
        sel.value = (rt)->node_key

static int list_sandboxes(struct cri *c, const char *id, Runtime__V1__ListPodSandboxResponse **out,
                          struct idyl_err *err)
{
        Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__PodSandboxFilter f = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
        NODE_SELECTOR(Runtime__V1__PodSandboxFilter__LabelSelectorEntry,
                      RUNTIME__V1__POD_SANDBOX_FILTER__LABEL_SELECTOR_ENTRY__INIT, &c->rt);

        f.n_label_selector = 1;
        f.label_selector = sels;
        if (id)
                f.id = (char *)id;
        req.filter = &f;
        return rpc(c, RUNTIME_SVC "ListPodSandbox", &req,
                   &runtime__v1__list_pod_sandbox_response__descriptor, out, CALL_MS, err);
}

/* ---- subnets apart on the shared CNI bridge ---------------------------------------------- */

static const char *sandbox_label(const Runtime__V1__PodSandbox *p, const char *key);

/* A sandbox's address on the pod network; "" when it has none. */
static void sandbox_ip(struct cri *c, const char *id, char *ip, size_t size)
{
        Runtime__V1__PodSandboxStatusRequest req = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
        Runtime__V1__PodSandboxStatusResponse *resp = NULL;
        struct idyl_err err = IDYL_ERR_INIT;

        ip[0] = '\0';
        req.pod_sandbox_id = (char *)id;
        if (rpc(c, RUNTIME_SVC "PodSandboxStatus", &req,
                &runtime__v1__pod_sandbox_status_response__descriptor, &resp, CALL_MS, &err) < 0)
                return;
        if (resp->status && resp->status->network && resp->status->network->ip)
                snprintf(ip, size, "%s", resp->status->network->ip);
        free_msg(resp);
}

/* Every sandbox on containerd shares one CNI bridge (containerd 1.6 has one
 * network), whichever node or subnet it belongs to: the node's own chain
 * lets its workloads reach their subnet's workloads on this machine (of any
 * node) and, as the subnet's network policy says, the node and anything
 * beyond the pod network, never another subnet's. It is rebuilt from what
 * runs now, and removed once the node runs nothing. */
static int refresh_isolation_locked(struct cri *c, struct idyl_err *err);

static int refresh_isolation(struct cri *c, struct idyl_err *err)
{
        int rc;

        netpolicy_lock();
        rc = refresh_isolation_locked(c, err);
        netpolicy_unlock();
        return rc;
}

static int refresh_isolation_locked(struct cri *c, struct idyl_err *err)
{
        Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__ListPodSandboxResponse *l = NULL;
        const char *slash = strchr(c->rt.node_key, '/');
        size_t sublen = slash ? (size_t)(slash - c->rt.node_key) + 1 : strlen(c->rt.node_key);
        char chain[32], (*ips)[48] = NULL;
        const char **mine = NULL, **peers = NULL;
        size_t nmine = 0, npeers = 0;
        int rc = -1;

        netpolicy_chain_name(c->rt.node_key, chain, sizeof(chain));
        if (rpc(c, RUNTIME_SVC "ListPodSandbox", &req,
                &runtime__v1__list_pod_sandbox_response__descriptor, &l, CALL_MS, err) < 0)
                return -1;
        ips = calloc(l->n_items + 1, sizeof(*ips));
        mine = calloc(l->n_items + 1, sizeof(*mine));
        peers = calloc(l->n_items + 1, sizeof(*peers));
        if (!ips || !mine || !peers) {
                idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < l->n_items; i++) {
                const char *node = sandbox_label(l->items[i], LABEL_NODE);
                if (!node || l->items[i]->state != RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY ||
                    strncmp(node, c->rt.node_key, sublen) != 0)
                        continue;
                sandbox_ip(c, l->items[i]->id, ips[i], sizeof(ips[i]));
                if (!ips[i][0])
                        continue;
                peers[npeers++] = ips[i];
                if (strcmp(node, c->rt.node_key) == 0)
                        mine[nmine++] = ips[i];
        }
        {
                struct netpolicy_scope scope = {.pod_cidr = CNI_SUBNET,
                                                .mine = mine,
                                                .nmine = nmine,
                                                .peers = peers,
                                                .npeers = npeers};
                rc = netpolicy_apply(chain, &scope, &c->rt.network, err);
        }
out:
        free(ips);
        free(mine);
        free(peers);
        free_msg(l);
        return rc;
}

/* This node's containers, or those of one sandbox. */
static int list_containers(struct cri *c, const char *sandbox_id,
                           Runtime__V1__ListContainersResponse **out, struct idyl_err *err)
{
        Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        Runtime__V1__ContainerFilter f = RUNTIME__V1__CONTAINER_FILTER__INIT;
        NODE_SELECTOR(Runtime__V1__ContainerFilter__LabelSelectorEntry,
                      RUNTIME__V1__CONTAINER_FILTER__LABEL_SELECTOR_ENTRY__INIT, &c->rt);

        f.n_label_selector = 1;
        f.label_selector = sels;
        if (sandbox_id)
                f.pod_sandbox_id = (char *)sandbox_id;
        req.filter = &f;
        return rpc(c, RUNTIME_SVC "ListContainers", &req,
                   &runtime__v1__list_containers_response__descriptor, out, CALL_MS, err);
}

static const char *sandbox_label(const Runtime__V1__PodSandbox *p, const char *key)
{
        for (size_t i = 0; i < p->n_labels; i++)
                if (strcmp(p->labels[i]->key, key) == 0)
                        return p->labels[i]->value;
        return NULL;
}

/* The newest container of a sandbox (the current attempt), or NULL. */
static const Runtime__V1__Container *newest_container(const Runtime__V1__ListContainersResponse *l,
                                                      const char *sandbox_id)
{
        const Runtime__V1__Container *best = NULL;

        for (size_t i = 0; l && i < l->n_containers; i++) {
                const Runtime__V1__Container *k = l->containers[i];
                if (strcmp(k->pod_sandbox_id, sandbox_id) != 0)
                        continue;
                if (!best || k->created_at > best->created_at)
                        best = k;
        }
        return best;
}

/* Exit code and run time of an exited container. */
static void container_exit(struct cri *c, const char *id, struct rt_instance *inst)
{
        Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
        Runtime__V1__ContainerStatusResponse *resp = NULL;
        struct idyl_err err = IDYL_ERR_INIT;
        const Runtime__V1__ContainerStatus *st;

        inst->ran_ms = -1;
        req.container_id = (char *)id;
        if (rpc(c, RUNTIME_SVC "ContainerStatus", &req,
                &runtime__v1__container_status_response__descriptor, &resp, CALL_MS, &err) < 0)
                return;
        st = resp->status;
        if (st) {
                inst->exit_code = st->exit_code;
                if (st->started_at > 0 && st->finished_at >= st->started_at)
                        inst->ran_ms = (st->finished_at - st->started_at) / 1000000;
        }
        free_msg(resp);
}

static int cri_list(struct runtime *rt, struct rt_instance **out, size_t *n, struct idyl_err *err)
{
        struct cri *c = cri_of(rt);
        Runtime__V1__ListPodSandboxResponse *sb = NULL;
        Runtime__V1__ListContainersResponse *ct = NULL;
        size_t k = 0;

        *out = NULL;
        *n = 0;
        if (list_sandboxes(c, NULL, &sb, err) < 0 || list_containers(c, NULL, &ct, err) < 0) {
                free_msg(sb);
                return -1;
        }
        *out = calloc(sb->n_items + 1, sizeof(**out));
        if (!*out) {
                free_msg(sb);
                free_msg(ct);
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        }
        for (size_t i = 0; i < sb->n_items; i++) {
                const Runtime__V1__PodSandbox *p = sb->items[i];
                const char *wl = sandbox_label(p, LABEL_WORKLOAD);
                const char *rev = sandbox_label(p, LABEL_REVISION);
                const Runtime__V1__Container *ctr = newest_container(ct, p->id);
                struct rt_instance *inst = &(*out)[k];

                if (!wl || !rev)
                        continue;
                snprintf(inst->id, sizeof(inst->id), "%s", p->id);
                snprintf(inst->workload, sizeof(inst->workload), "%s", wl);
                inst->revision = strtoll(rev, NULL, 10);
                inst->ran_ms = -1;
                if (ctr && ctr->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING) {
                        inst->state = RT_RUNNING;
                        sandbox_ip(c, p->id, inst->ip, sizeof(inst->ip));
                } else if (ctr && ctr->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED)
                        inst->state = RT_CREATED;
                else if (ctr) {
                        inst->state = RT_EXITED;
                        container_exit(c, ctr->id, inst);
                } else if (p->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY) {
                        inst->state = RT_CREATED; /* a run that stopped half way: restart */
                } else {
                        inst->state = RT_EXITED;
                        inst->exit_code = -1;
                }
                k++;
        }
        *n = k;
        free_msg(sb);
        free_msg(ct);
        return 0;
}

/* ---- images --------------------------------------------------------------------------- */

static int cri_ensure_image(struct runtime *rt, const char *image, const char *platform,
                            struct idyl_err *err)
{
        struct cri *c = cri_of(rt);
        Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
        Runtime__V1__ImageStatusRequest sreq = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
        Runtime__V1__PullImageRequest preq = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
        Runtime__V1__ImageStatusResponse *st = NULL;
        Runtime__V1__PullImageResponse *pulled = NULL;
        bool present;

        (void)platform; /* CRI pulls for the node's own platform */
        spec.image = (char *)image;
        sreq.image = &spec;
        if (rpc(c, IMAGE_SVC "ImageStatus", &sreq, &runtime__v1__image_status_response__descriptor,
                &st, CALL_MS, err) < 0)
                return idyl_err_wrap(err, "image status %s", image);
        present = st->image != NULL;
        free_msg(st);
        if (present)
                return 0;
        preq.image = &spec;
        if (rpc(c, IMAGE_SVC "PullImage", &preq, &runtime__v1__pull_image_response__descriptor,
                &pulled, PULL_MS, err) < 0)
                return idyl_err_wrap(err, "pull image %s", image);
        free_msg(pulled);
        return 0;
}

/* ---- running workloads ------------------------------------------------------------------- */

/* The sandbox's log directory, as kubelet names its own: ROOT/NS_NAME_UID. */
static int log_directory(const struct cri *c, const Runtime__V1__PodSandboxMetadata *m, char *out,
                         size_t size)
{
        const char *root = c->log_root ? c->log_root : LOG_ROOT_DEFAULT;

        if ((size_t)snprintf(out, size, "%s/%s_%s_%s", root, m->namespace_, m->name, m->uid) >=
            size)
                return -1;
        return 0;
}

static int mkdir_p(const char *path, struct idyl_err *err)
{
        char tmp[512];

        if ((size_t)snprintf(tmp, sizeof(tmp), "%s", path) >= sizeof(tmp))
                return idyl_err_set(err, IDYL_E_INVALID, "path \"%s\" is too long", path);
        for (char *p = tmp + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
                        return idyl_err_errno(err, errno, "create \"%s\"", tmp);
                *p = '/';
        }
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
                return idyl_err_errno(err, errno, "create \"%s\"", tmp);
        return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        remove(path);
        return 0;
}

/* ---- the sandbox's cgroup: its PID limit ------------------------------------------------ */

/* containerd 1.6's CRI has no PID limit field, so the limit sits on the
 * sandbox's cgroup parent, as kubelet's pod cgroup carries a pod's:
 * /idyl/UID, made by the agent with pids.max before the sandbox runs, so
 * every process of the sandbox (its containers, or on Kata the VMM's
 * threads) counts against it. containerd's cgroupfs driver (runc's
 * default) puts each container under it. */
#define CGROUP_ROOT       "/sys/fs/cgroup"
#define POD_CGROUP_PARENT "idyl"

static bool cgroup_unified(void)
{
        return access(CGROUP_ROOT "/cgroup.controllers", F_OK) == 0;
}

/* The directory of the pod cgroup of uid in the pids hierarchy. */
static void pod_cgroup_dir(const char *uid, char *out, size_t size)
{
        snprintf(out, size, "%s/%s/%s", cgroup_unified() ? CGROUP_ROOT : CGROUP_ROOT "/pids",
                 POD_CGROUP_PARENT, uid);
}

static int write_text(const char *path, const char *text, struct idyl_err *err)
{
        FILE *f = fopen(path, "w");
        int rc = 0;

        if (!f)
                return idyl_err_errno(err, errno, "open \"%s\"", path);
        if (fputs(text, f) < 0)
                rc = -1;
        if (fclose(f) != 0 || rc < 0)
                return idyl_err_errno(err, errno, "write \"%s\"", path);
        return 0;
}

/* Makes the pod cgroup of uid with pids.max = limit. */
static int pod_cgroup_create(const char *uid, int64_t limit, struct idyl_err *err)
{
        char dir[256], path[300], text[32];
        struct idyl_err ignored = IDYL_ERR_INIT;

        pod_cgroup_dir(uid, dir, sizeof(dir));
        *strrchr(dir, '/') = '\0';
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return idyl_err_errno(err, errno, "PID limit: create cgroup \"%s\"", dir);
        if (cgroup_unified()) {
                /* the pids controller down to the pod cgroup; already there is fine */
                write_text(CGROUP_ROOT "/cgroup.subtree_control", "+pids", &ignored);
                snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir);
                if (write_text(path, "+pids", err) < 0)
                        return idyl_err_wrap(err, "PID limit");
        }
        pod_cgroup_dir(uid, dir, sizeof(dir));
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return idyl_err_errno(err, errno, "PID limit: create cgroup \"%s\"", dir);
        snprintf(path, sizeof(path), "%s/pids.max", dir);
        snprintf(text, sizeof(text), "%" PRId64, limit);
        if (write_text(path, text, err) < 0)
                return idyl_err_wrap(err, "PID limit");
        return 0;
}

/* Removes the pod cgroup of uid from every hierarchy runc made it in, once
 * its processes are gone (they leave shortly after the sandbox stops). */
static void pod_cgroup_remove(const char *uid)
{
        char path[512];

        for (int attempt = 0; attempt < 20; attempt++) {
                DIR *d = cgroup_unified() ? NULL : opendir(CGROUP_ROOT);
                struct dirent *e;
                bool left = false;

                if (!d) {
                        pod_cgroup_dir(uid, path, sizeof(path));
                        left = rmdir(path) < 0 && errno != ENOENT;
                }
                while (d && (e = readdir(d))) {
                        if (e->d_name[0] == '.')
                                continue;
                        snprintf(path, sizeof(path), "%s/%s/%s/%s", CGROUP_ROOT, e->d_name,
                                 POD_CGROUP_PARENT, uid);
                        if (rmdir(path) < 0 && errno != ENOENT && errno != ENOTDIR)
                                left = true;
                }
                if (d)
                        closedir(d);
                if (!left)
                        return;
                usleep(50000);
        }
        log_warnx("cgroup of sandbox %s is still in use; left in place", uid);
}

/* The sandbox configuration: labels, log directory, host network. Strings
 * and sub-messages live in sc (the caller's storage). */
struct sandbox_conf {
        Runtime__V1__PodSandboxConfig config;
        Runtime__V1__PodSandboxMetadata meta;
        /* node, workload, revision (the container's too), stop timeout */
        Runtime__V1__PodSandboxConfig__LabelsEntry labels[4];
        Runtime__V1__PodSandboxConfig__LabelsEntry *labelp[4];
        Runtime__V1__LinuxPodSandboxConfig linux;
        Runtime__V1__LinuxSandboxSecurityContext sec;
        Runtime__V1__NamespaceOption ns;
        Runtime__V1__LinuxContainerResources resources, overhead;
        char log_dir[512];
        char cgroup_parent[80];
        char revision[32];
        char stop_timeout[32];
};

/* cpu and memory as CRI's Linux resources. */
static void linux_resources(Runtime__V1__LinuxContainerResources *res, int64_t cpu_milli,
                            int64_t memory_bytes)
{
        res->cpu_period = CPU_PERIOD_US;
        res->cpu_quota = cpu_milli * CPU_PERIOD_US / 1000;
        res->cpu_shares = cpu_milli * 1024 / 1000 > 2 ? cpu_milli * 1024 / 1000 : 2;
        res->memory_limit_in_bytes = memory_bytes;
}

static void sandbox_conf_init(struct sandbox_conf *sc, const struct runtime *rt,
                              const struct rt_workload *w, const char *name, const char *uid)
{
        const char *workload = w->name;
        int64_t revision = w->revision;
        static const Runtime__V1__PodSandboxConfig__LabelsEntry label_init =
            RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT;
        const char *keys[4] = {LABEL_NODE, LABEL_WORKLOAD, LABEL_REVISION, LABEL_STOP_TIMEOUT};
        const char *values[4] = {rt->node_key, workload, sc->revision, sc->stop_timeout};

        *sc = (struct sandbox_conf){.config = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT,
                                    .meta = RUNTIME__V1__POD_SANDBOX_METADATA__INIT,
                                    .linux = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT,
                                    .sec = RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT,
                                    .ns = RUNTIME__V1__NAMESPACE_OPTION__INIT,
                                    .resources = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT,
                                    .overhead = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT};
        snprintf(sc->revision, sizeof(sc->revision), "%" PRId64, revision);
        /* removal knows only the sandbox: it reads the grace from here */
        snprintf(sc->stop_timeout, sizeof(sc->stop_timeout), "%" PRId64, rt_stop_timeout_s(w));
        for (int i = 0; i < 4; i++) {
                sc->labels[i] = label_init;
                sc->labels[i].key = (char *)keys[i];
                sc->labels[i].value = (char *)values[i];
                sc->labelp[i] = &sc->labels[i];
        }
        sc->meta.name = (char *)name;
        sc->meta.uid = (char *)uid;
        sc->meta.namespace_ = POD_NAMESPACE;
        /* a network namespace of its own, on the CNI network (never the host's:
         * Kata cannot run host-network sandboxes); PID namespace shared with
         * the sandbox, so the workload is not PID 1 and a stop signal ends it */
        sc->ns.network = RUNTIME__V1__NAMESPACE_MODE__POD;
        sc->ns.pid = RUNTIME__V1__NAMESPACE_MODE__POD;
        sc->ns.ipc = RUNTIME__V1__NAMESPACE_MODE__POD;
        sc->sec.namespace_options = &sc->ns;
        sc->sec.privileged = false;
        sc->linux.security_context = &sc->sec;
        /* what the workload may use, so a VM-based handler sizes the VM to it */
        linux_resources(&sc->resources, w->cpu_milli, w->memory_bytes);
        sc->linux.resources = &sc->resources;
        if (rt->isolation == ISOLATION_MICROVM) {
                linux_resources(&sc->overhead, KATA_OVERHEAD_CPU_MILLI, KATA_OVERHEAD_MEMORY);
                sc->linux.overhead = &sc->overhead;
        }
        if (log_directory((const struct cri *)rt, &sc->meta, sc->log_dir, sizeof(sc->log_dir)) == 0)
                sc->config.log_directory = sc->log_dir;
        sc->config.metadata = &sc->meta;
        sc->config.n_labels = 4;
        sc->config.labels = sc->labelp;
        sc->config.linux = &sc->linux;
        /* the PID limit's cgroup, when the agent made one for this sandbox */
        pod_cgroup_dir(uid, sc->cgroup_parent, sizeof(sc->cgroup_parent));
        if (access(sc->cgroup_parent, F_OK) == 0) {
                snprintf(sc->cgroup_parent, sizeof(sc->cgroup_parent), "/%s/%s", POD_CGROUP_PARENT,
                         uid);
                sc->linux.cgroup_parent = sc->cgroup_parent;
        }
}

/* The container's secret binds and devices: the arrays ContainerConfig
 * points into, owned here. */
struct cri_access {
        Runtime__V1__Mount *m, **mp;
        Runtime__V1__Device *d, **dp;
};

static void access_release(struct cri_access *a)
{
        free(a->m);
        free(a->mp);
        free(a->d);
        free(a->dp);
}

/* Secrets as read-only binds of the agent's tmpfs and exactly the devices
 * asked for (none: the container gets none of the host's). */
static int access_config(Runtime__V1__ContainerConfig *cfg, const struct rt_workload *w,
                         struct cri_access *a, struct idyl_err *err)
{
        static const Runtime__V1__Mount mount_init = RUNTIME__V1__MOUNT__INIT;
        static const Runtime__V1__Device device_init = RUNTIME__V1__DEVICE__INIT;

        a->m = calloc(w->nmounts + 1, sizeof(*a->m));
        a->mp = calloc(w->nmounts + 1, sizeof(*a->mp));
        a->d = calloc(w->ndevices + 1, sizeof(*a->d));
        a->dp = calloc(w->ndevices + 1, sizeof(*a->dp));
        if (!a->m || !a->mp || !a->d || !a->dp)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        for (size_t i = 0; i < w->nmounts; i++) {
                a->m[i] = mount_init;
                a->m[i].container_path = (char *)w->mounts[i].container_path;
                a->m[i].host_path = (char *)w->mounts[i].host_path;
                a->m[i].readonly = w->mounts[i].readonly;
                a->mp[i] = &a->m[i];
        }
        for (size_t i = 0; i < w->ndevices; i++) {
                a->d[i] = device_init;
                a->d[i].container_path = (char *)w->devices[i];
                a->d[i].host_path = (char *)w->devices[i];
                a->d[i].permissions = "rwm";
                a->dp[i] = &a->d[i];
        }
        cfg->n_mounts = w->nmounts;
        cfg->mounts = a->mp;
        cfg->n_devices = w->ndevices;
        cfg->devices = a->dp;
        return 0;
}

/* Creates and starts attempt `attempt` of w in a sandbox. */
static int start_container(struct cri *c, const char *sandbox_id, struct sandbox_conf *sc,
                           const struct rt_workload *w, uint32_t attempt, char *cid, size_t cidsize,
                           struct idyl_err *err)
{
        Runtime__V1__CreateContainerRequest req = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
        Runtime__V1__ContainerConfig cfg = RUNTIME__V1__CONTAINER_CONFIG__INIT;
        Runtime__V1__ContainerMetadata meta = RUNTIME__V1__CONTAINER_METADATA__INIT;
        Runtime__V1__ImageSpec image = RUNTIME__V1__IMAGE_SPEC__INIT;
        Runtime__V1__LinuxContainerConfig linux = RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
        Runtime__V1__LinuxContainerResources res = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
        Runtime__V1__LinuxContainerSecurityContext sec =
            RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
        Runtime__V1__Capability caps = RUNTIME__V1__CAPABILITY__INIT;
        char *drop_caps[] = {"NET_RAW"};
        Runtime__V1__ContainerConfig__LabelsEntry labels[3], *labelp[3];
        Runtime__V1__StartContainerRequest sreq = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
        Runtime__V1__CreateContainerResponse *created = NULL;
        Runtime__V1__StartContainerResponse *started = NULL;
        Runtime__V1__KeyValue *kv = calloc(w->nenv + 1, sizeof(*kv));
        Runtime__V1__KeyValue **kvp = calloc(w->nenv + 1, sizeof(*kvp));
        char **envcopy = calloc(w->nenv + 1, sizeof(*envcopy));
        struct cri_access acc = {0};
        char log_path[96];
        int rc = -1;

        if (!kv || !kvp || !envcopy) {
                idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < w->nenv; i++) {
                static const Runtime__V1__KeyValue kv_init = RUNTIME__V1__KEY_VALUE__INIT;
                char *eq;
                if (!(envcopy[i] = strdup(w->env[i]))) {
                        idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                        goto out;
                }
                kv[i] = kv_init;
                eq = strchr(envcopy[i], '=');
                if (eq)
                        *eq = '\0';
                kv[i].key = envcopy[i];
                kv[i].value = eq ? eq + 1 : "";
                kvp[i] = &kv[i];
        }
        for (int i = 0; i < 3; i++) {
                static const Runtime__V1__ContainerConfig__LabelsEntry label_init =
                    RUNTIME__V1__CONTAINER_CONFIG__LABELS_ENTRY__INIT;
                labels[i] = label_init;
                labels[i].key = sc->labels[i].key;
                labels[i].value = sc->labels[i].value;
                labelp[i] = &labels[i];
        }
        meta.name = (char *)w->name;
        meta.attempt = attempt;
        image.image = (char *)w->image;
        linux_resources(&res, w->cpu_milli, w->memory_bytes);
        /* the baseline (SPEC 6.1): the runtime's default capabilities
         * without NET_RAW, no new privileges, never privileged */
        caps.n_drop_capabilities = 1;
        caps.drop_capabilities = drop_caps;
        sec.capabilities = &caps;
        sec.no_new_privs = true;
        sec.privileged = false;
        sec.namespace_options = &sc->ns;
        linux.resources = &res;
        linux.security_context = &sec;
        snprintf(log_path, sizeof(log_path), "%s/%u.log", w->name, attempt);
        cfg.metadata = &meta;
        cfg.image = &image;
        cfg.n_args = w->cmd ? w->ncmd : 0; /* the image's entrypoint runs them, as Docker's Cmd */
        cfg.args = (char **)w->cmd;
        cfg.n_envs = w->nenv;
        cfg.envs = kvp;
        cfg.n_labels = 3;
        cfg.labels = labelp;
        cfg.log_path = sc->config.log_directory[0] ? log_path : "";
        cfg.linux = &linux;
        if (access_config(&cfg, w, &acc, err) < 0)
                goto out;
        req.pod_sandbox_id = (char *)sandbox_id;
        req.config = &cfg;
        req.sandbox_config = &sc->config;
        if (rpc(c, RUNTIME_SVC "CreateContainer", &req,
                &runtime__v1__create_container_response__descriptor, &created, CALL_MS, err) < 0) {
                idyl_err_wrap(err, "create container");
                goto out;
        }
        snprintf(cid, cidsize, "%s", created->container_id);
        sreq.container_id = created->container_id;
        if (rpc(c, RUNTIME_SVC "StartContainer", &sreq,
                &runtime__v1__start_container_response__descriptor, &started, CALL_MS, err) < 0) {
                idyl_err_wrap(err, "start container");
                goto out;
        }
        rc = 0;
out:
        access_release(&acc);
        for (size_t i = 0; envcopy && i < w->nenv; i++)
                free(envcopy[i]);
        free(envcopy);
        free(kv);
        free(kvp);
        free_msg(created);
        free_msg(started);
        return rc;
}

static int sandbox_stop_remove(struct cri *c, const char *id, struct idyl_err *err);

static int cri_run(struct runtime *rt, const struct rt_workload *w, char *id, size_t idsize,
                   struct idyl_err *err)
{
        struct cri *c = cri_of(rt);
        Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__RunPodSandboxResponse *resp = NULL;
        struct idyl_err ignored = IDYL_ERR_INIT;
        struct sandbox_conf sc;
        unsigned char rnd[16];
        char name[128], uid[40], cid[80];

        if (getentropy(rnd, sizeof(rnd)) < 0)
                memset(rnd, 0, sizeof(rnd));
        for (size_t i = 0; i < sizeof(rnd); i++)
                snprintf(uid + 2 * i, 3, "%02x", rnd[i]);
        /* readable, unique even when several nodes share one containerd */
        snprintf(name, sizeof(name), "%s-r%" PRId64 "-%.6s", w->name, w->revision, uid);
        if (pod_cgroup_create(uid, rt_pids_limit(w), err) < 0)
                return -1;
        sandbox_conf_init(&sc, rt, w, name, uid);
        if (sc.config.log_directory[0] && mkdir_p(sc.log_dir, err) < 0) {
                pod_cgroup_remove(uid);
                return idyl_err_wrap(err, "log directory");
        }
        req.config = &sc.config;
        req.runtime_handler = c->cri_handler;
        if (rpc(c, RUNTIME_SVC "RunPodSandbox", &req,
                &runtime__v1__run_pod_sandbox_response__descriptor, &resp, SANDBOX_MS, err) < 0) {
                nftw(sc.log_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
                pod_cgroup_remove(uid);
                return idyl_err_wrap(err, "run pod sandbox with handler %s", c->cri_handler);
        }
        snprintf(id, idsize, "%s", resp->pod_sandbox_id);
        free_msg(resp);
        /* the rules are in place before the workload's process starts */
        if (refresh_isolation(c, err) < 0) {
                idyl_err_wrap(err, "keep the sandbox apart from other subnets");
                sandbox_stop_remove(c, id, &ignored);
                return -1;
        }
        if (start_container(c, id, &sc, w, 0, cid, sizeof(cid), err) < 0) {
                /* leave nothing half made behind */
                sandbox_stop_remove(c, id, &ignored);
                return -1;
        }
        return 0;
}

/* A new attempt in the same sandbox; the earlier ones are removed once it
 * runs. A sandbox that is no longer ready is replaced whole. */
static int cri_restart(struct runtime *rt, const struct rt_instance *inst,
                       const struct rt_workload *w, struct idyl_err *err)
{
        struct cri *c = cri_of(rt);
        Runtime__V1__ListPodSandboxResponse *sb = NULL;
        Runtime__V1__ListContainersResponse *ct = NULL;
        const Runtime__V1__PodSandbox *p;
        struct sandbox_conf sc;
        uint32_t attempt = 0;
        char cid[80], newid[80];
        int rc = -1;

        if (list_sandboxes(c, inst->id, &sb, err) < 0 || list_containers(c, inst->id, &ct, err) < 0)
                goto out;
        p = sb->n_items ? sb->items[0] : NULL;
        if (!p || !p->metadata || p->state != RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY) {
                if (sandbox_stop_remove(c, inst->id, err) < 0)
                        goto out;
                rc = cri_run(rt, w, newid, sizeof(newid), err);
                goto out;
        }
        for (size_t i = 0; i < ct->n_containers; i++)
                if (ct->containers[i]->metadata &&
                    ct->containers[i]->metadata->attempt + 1 > attempt)
                        attempt = ct->containers[i]->metadata->attempt + 1;
        sandbox_conf_init(&sc, rt, w, p->metadata->name, p->metadata->uid);
        if (start_container(c, inst->id, &sc, w, attempt, cid, sizeof(cid), err) < 0)
                goto out;
        for (size_t i = 0; i < ct->n_containers; i++) {
                Runtime__V1__RemoveContainerRequest req =
                    RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;
                Runtime__V1__RemoveContainerResponse *resp = NULL;
                struct idyl_err ignored = IDYL_ERR_INIT;

                req.container_id = ct->containers[i]->id;
                if (rpc(c, RUNTIME_SVC "RemoveContainer", &req,
                        &runtime__v1__remove_container_response__descriptor, &resp, CALL_MS,
                        &ignored) == 0)
                        free_msg(resp);
        }
        rc = 0;
out:
        free_msg(sb);
        free_msg(ct);
        return rc;
}

/* NOT_FOUND is success for the idempotent stop and remove calls. */
static int tolerate_missing(struct cri *c, int rc)
{
        return rc < 0 && grpc_conn_last_status(c->conn) == GRPC_NOT_FOUND ? 0 : rc;
}

/* Stops the sandbox's running containers with the grace period (StopPodSandbox
 * alone kills at once), then stops and removes the sandbox and its logs. */
static int sandbox_stop_remove(struct cri *c, const char *id, struct idyl_err *err)
{
        Runtime__V1__ListContainersResponse *ct = NULL;
        Runtime__V1__ListPodSandboxResponse *sb = NULL;
        Runtime__V1__StopPodSandboxRequest sreq = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__RemovePodSandboxRequest rreq = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__StopPodSandboxResponse *stopped = NULL;
        Runtime__V1__RemovePodSandboxResponse *removed = NULL;
        char log_dir[512] = "", uid[64] = "";
        int64_t grace = RT_STOP_TIMEOUT_DEFAULT_S;
        int rc;

        if (list_sandboxes(c, id, &sb, err) == 0 && sb->n_items) {
                const char *t = sandbox_label(sb->items[0], LABEL_STOP_TIMEOUT);
                long long v = t ? strtoll(t, NULL, 10) : 0;
                if (v > 0 && v <= RT_STOP_TIMEOUT_MAX_S)
                        grace = v;
                if (sb->items[0]->metadata &&
                    log_directory(c, sb->items[0]->metadata, log_dir, sizeof(log_dir)) < 0)
                        log_dir[0] = '\0';
                /* the agent's uids are hex: nothing else names a cgroup of ours */
                if (sb->items[0]->metadata && sb->items[0]->metadata->uid &&
                    strlen(sb->items[0]->metadata->uid) < sizeof(uid) &&
                    strspn(sb->items[0]->metadata->uid, "0123456789abcdef") ==
                        strlen(sb->items[0]->metadata->uid))
                        snprintf(uid, sizeof(uid), "%s", sb->items[0]->metadata->uid);
        }
        free_msg(sb);
        if (list_containers(c, id, &ct, err) == 0) {
                for (size_t i = 0; i < ct->n_containers; i++) {
                        Runtime__V1__StopContainerRequest req =
                            RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
                        Runtime__V1__StopContainerResponse *resp = NULL;

                        if (ct->containers[i]->state !=
                            RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
                                continue;
                        req.container_id = ct->containers[i]->id;
                        req.timeout = grace;
                        if (rpc(c, RUNTIME_SVC "StopContainer", &req,
                                &runtime__v1__stop_container_response__descriptor, &resp,
                                (int)(grace + 20) * 1000, err) == 0)
                                free_msg(resp);
                }
                free_msg(ct);
        }
        sreq.pod_sandbox_id = (char *)id;
        rc = tolerate_missing(c, rpc(c, RUNTIME_SVC "StopPodSandbox", &sreq,
                                     &runtime__v1__stop_pod_sandbox_response__descriptor, &stopped,
                                     (int)(grace + 50) * 1000, err));
        free_msg(stopped);
        if (rc < 0)
                return idyl_err_wrap(err, "stop pod sandbox %.12s", id);
        rreq.pod_sandbox_id = (char *)id;
        rc = tolerate_missing(c, rpc(c, RUNTIME_SVC "RemovePodSandbox", &rreq,
                                     &runtime__v1__remove_pod_sandbox_response__descriptor,
                                     &removed, CALL_MS, err));
        free_msg(removed);
        if (rc < 0)
                return idyl_err_wrap(err, "remove pod sandbox %.12s", id);
        if (log_dir[0])
                nftw(log_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
        if (uid[0])
                pod_cgroup_remove(uid);
        return 0;
}

static int cri_enforce(struct runtime *rt, struct idyl_err *err)
{
        return refresh_isolation(cri_of(rt), err);
}

static int cri_remove(struct runtime *rt, const char *id, struct idyl_err *err)
{
        struct idyl_err ierr = IDYL_ERR_INIT;

        if (sandbox_stop_remove(cri_of(rt), id, err) < 0)
                return -1;
        /* the address may go to another subnet's workload next */
        if (refresh_isolation(cri_of(rt), &ierr) < 0)
                log_warnx("subnet isolation rules: %s", ierr.msg);
        return 0;
}

/* ---- watching --------------------------------------------------------------------------- */

struct watch_ctx {
        void (*changed)(void *arg);
        void *arg;
};

static int on_event(const uint8_t *msg, size_t len, void *arg, struct idyl_err *err)
{
        struct watch_ctx *w = arg;

        (void)msg;
        (void)len;
        (void)err;
        w->changed(w->arg);
        return 0;
}

/* A digest of what this node runs and in which state. */
static uint64_t containers_digest(const Runtime__V1__ListContainersResponse *l)
{
        uint64_t h = 1469598103934665603ULL ^ l->n_containers;

        /* order-independent: a sum of per-container FNV-1a hashes */
        for (size_t i = 0; i < l->n_containers; i++) {
                uint64_t x = 1469598103934665603ULL;
                for (const char *p = l->containers[i]->id; *p; p++)
                        x = (x ^ (unsigned char)*p) * 1099511628211ULL;
                x = (x ^ (uint64_t)l->containers[i]->state) * 1099511628211ULL;
                h += x;
        }
        return h;
}

/* containerd 1.6 has no GetContainerEvents: list every second instead and
 * report a change when the digest moves. */
static int watch_by_listing(struct cri *c, struct watch_ctx *w, const volatile bool *stop,
                            struct idyl_err *err)
{
        uint64_t last = 0;
        bool first = true;

        while (!*stop) {
                Runtime__V1__ListContainersResponse *ct = NULL;
                uint64_t d;

                if (list_containers(c, NULL, &ct, err) < 0)
                        return -1;
                d = containers_digest(ct);
                free_msg(ct);
                if (!first && d != last)
                        w->changed(w->arg);
                first = false;
                last = d;
                for (int i = 0; i < WATCH_POLL_MS / 100 && !*stop; i++)
                        usleep(100 * 1000);
        }
        return 0;
}

static int cri_watch(struct runtime *rt, void (*changed)(void *arg), void *arg,
                     const volatile bool *stop, struct idyl_err *err)
{
        struct cri *self = cri_of(rt);
        struct cri c = *self; /* the same runtime on this thread's own connection */
        Runtime__V1__GetEventsRequest req = RUNTIME__V1__GET_EVENTS_REQUEST__INIT;
        struct watch_ctx w = {changed, arg};
        int rc;

        c.conn = grpc_conn_new(self->socket_path);
        if (!c.conn)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        grpc_conn_set_abort(c.conn, stop);
        /* the stream is about to open: whatever happened before is seen by a list */
        changed(arg);
        rc = grpc_stream(c.conn, RUNTIME_SVC "GetContainerEvents", &req.base, on_event, &w, 0, err);
        if (rc < 0 && grpc_conn_last_status(c.conn) == GRPC_UNIMPLEMENTED)
                rc = watch_by_listing(&c, &w, stop, err);
        else if (rc == 0 && !*stop)
                rc = idyl_err_set(err, IDYL_E_UNAVAILABLE, "containerd closed the event stream");
        grpc_conn_free(c.conn);
        return rc;
}

static void cri_set_abort(struct runtime *rt, const volatile bool *flag)
{
        grpc_conn_set_abort(cri_of(rt)->conn, flag);
}

static void cri_destroy(struct runtime *rt)
{
        struct cri *c = cri_of(rt);

        grpc_conn_free(c->conn);
        free(c->socket_path);
        free(c->handler);
        free(c->cri_handler);
        free(c->cni_conf_dir);
        free(c->cni_bin_dir);
        free(c->log_root);
        free(c);
}

static const struct runtime_ops cri_ops = {
    .health = cri_health,
    .list = cri_list,
    .ensure_image = cri_ensure_image,
    .run = cri_run,
    .restart = cri_restart,
    .remove = cri_remove,
    .enforce = cri_enforce,
    .watch = cri_watch,
    .logs = cri_logs,
    .exec = cri_exec,
    .set_abort = cri_set_abort,
    .destroy = cri_destroy,
};

const char *runtime_cri_socket(struct runtime *rt)
{
        return cri_of(rt)->socket_path;
}

int runtime_cri_handler_name(const char *handler, char *out, size_t size)
{
        const char *p = strncmp(handler, "io.containerd.", 14) == 0 ? handler + 14 : handler;
        const char *dot = strrchr(p, '.');
        size_t n = p != handler && dot ? (size_t)(dot - p) : strlen(p);

        if (n == 0 || n >= size)
                return -1;
        memcpy(out, p, n);
        out[n] = '\0';
        return 0;
}

int runtime_cri_open(const char *socket_path, const char *handler, const char *cri_handler,
                     enum isolation_class isolation, struct runtime **out, struct idyl_err *err)
{
        struct cri *c = calloc(1, sizeof(*c));
        enum isolation_class cls;
        enum vmm_backend backend = VMM_NONE;
        char name[64];

        if (runtime_derive("containerd", handler, &cls, &backend, err) < 0) {
                free(c);
                return -1;
        }
        if (!cri_handler || !*cri_handler) {
                if (runtime_cri_handler_name(handler, name, sizeof(name)) < 0) {
                        free(c);
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "no CRI handler name for runtime \"%s\"", handler);
                }
                cri_handler = name;
        }
        if (c) {
                c->rt.ops = &cri_ops;
                c->rt.isolation = isolation;
                c->backend = backend;
                c->socket_path = strdup(socket_path);
                c->handler = strdup(handler);
                c->cri_handler = strdup(cri_handler);
                c->conn = grpc_conn_new(socket_path);
                c->cni_conf_dir = strdup(CNI_CONF_DIR_DEFAULT);
                c->cni_bin_dir = strdup(CNI_BIN_DIR_DEFAULT);
        }
        if (!c || !c->socket_path || !c->handler || !c->cri_handler || !c->conn ||
            !c->cni_conf_dir || !c->cni_bin_dir) {
                if (c)
                        cri_destroy(&c->rt);
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        }
        *out = &c->rt;
        return 0;
}

int runtime_cri_set_cni(struct runtime *rt, const char *conf_dir, const char *bin_dir,
                        struct idyl_err *err)
{
        struct cri *c = cri_of(rt);
        char *conf = strdup(conf_dir && *conf_dir ? conf_dir : CNI_CONF_DIR_DEFAULT);
        char *bin = strdup(bin_dir && *bin_dir ? bin_dir : CNI_BIN_DIR_DEFAULT);

        if (!conf || !bin) {
                free(conf);
                free(bin);
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        }
        free(c->cni_conf_dir);
        free(c->cni_bin_dir);
        c->cni_conf_dir = conf;
        c->cni_bin_dir = bin;
        return 0;
}

int runtime_cri_set_log_root(struct runtime *rt, const char *dir, struct idyl_err *err)
{
        struct cri *c = cri_of(rt);
        char *root = NULL;

        if (!dir || dir[0] != '/')
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "the log directory \"%s\" must be an absolute path",
                                    dir ? dir : "");
        root = strdup(dir);
        if (!root)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        free(c->log_root);
        c->log_root = root;
        return 0;
}
