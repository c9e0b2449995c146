/* Secret files on the agent's own tmpfs, secret env, and devices; see
 * agent/secrets.h. Values are held only as long as it takes to write them
 * and are wiped from memory after. */
#include "agent/secrets.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/magic.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "agent/http.h"
#include "core/secret.h"
#include "util/log.h"

#define SECRETS_TMPFS_OPTS "mode=0700,size=256m"
#define SECRETS_TIMEOUT_S  30

int agent_secrets_init(struct agent_secrets *s, const struct agent_config *c, struct idyl_err *err)
{
        memset(s, 0, sizeof(*s));
        if ((size_t)snprintf(s->root, sizeof(s->root), "%s/secrets", c->dir) >= sizeof(s->root))
                return idyl_err_set(err, IDYL_E_INVALID, "node directory \"%s\" is too long",
                                    c->dir);
        s->http = node_config_client(c);
        if (!s->http)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        pthread_mutex_init(&s->mu, NULL);
        return 0;
}

void agent_secrets_release(struct agent_secrets *s)
{
        if (!s->http)
                return;
        if (s->mounted && umount2(s->root, MNT_DETACH) == 0)
                rmdir(s->root);
        http_client_free(s->http);
        pthread_mutex_destroy(&s->mu);
        s->http = NULL;
}

/* dir/name into buf; -1 when it does not fit. */
static int path_join(char *buf, size_t size, const char *dir, const char *name,
                     struct idyl_err *err)
{
        if ((size_t)snprintf(buf, size, "%s/%s", dir, name) >= size)
                return idyl_err_set(err, IDYL_E_INVALID, "secrets: path too long under \"%s\"",
                                    dir);
        return 0;
}

static bool is_tmpfs(const char *path)
{
        struct statfs fs;

        return statfs(path, &fs) == 0 && fs.f_type == TMPFS_MAGIC;
}

/* Mounts the tmpfs on first use; refuses to write anywhere else. */
static int ensure_tmpfs(struct agent_secrets *s, struct idyl_err *err)
{
        if (s->mounted)
                return 0;
        if (mkdir(s->root, 0700) < 0 && errno != EEXIST)
                return idyl_err_errno(err, errno, "secrets: create \"%s\"", s->root);
        if (!is_tmpfs(s->root) && mount("tmpfs", s->root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                        SECRETS_TMPFS_OPTS) < 0)
                return idyl_err_errno(err, errno,
                                      "secrets: cannot mount a tmpfs at \"%s\" (secret files are "
                                      "never written to the node's disk)",
                                      s->root);
        if (!is_tmpfs(s->root))
                return idyl_err_set(err, IDYL_E_INTERNAL, "secrets: \"%s\" is not a tmpfs",
                                    s->root);
        s->mounted = true;
        return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
        (void)sb;
        (void)flag;
        (void)ftw;
        return remove(path);
}

static void remove_tree(const char *path)
{
        nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Decodes base64 into a malloc'd buffer; -1 when it is not base64. */
static int base64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
        unsigned char *buf = malloc(len / 4 * 3 + 1);
        int n;

        if (!buf || len % 4) {
                free(buf);
                return -1;
        }
        n = len ? EVP_DecodeBlock(buf, (const unsigned char *)in, (int)len) : 0;
        if (n < 0) {
                free(buf);
                return -1;
        }
        if (len)
                n -= (in[len - 1] == '=') + (in[len - 2] == '=');
        *out = buf;
        *outlen = (size_t)n;
        return 0;
}

static int write_value(const char *path, const unsigned char *v, size_t len, struct idyl_err *err)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0444);
        size_t off = 0;

        if (fd < 0)
                return idyl_err_errno(err, errno, "secrets: write \"%s\"", path);
        while (off < len) {
                ssize_t w = write(fd, v + off, len - off);

                if (w < 0) {
                        close(fd);
                        return idyl_err_errno(err, errno, "secrets: write \"%s\"", path);
                }
                off += (size_t)w;
        }
        fchmod(fd, 0444);
        close(fd);
        return 0;
}

/* Writes one secret's keys as files in dir (made fresh: keys an update
 * dropped are gone). */
static int write_secret_files(const char *dir, const json_t *data, struct idyl_err *err)
{
        const char *key;
        json_t *v;
        char path[PATH_MAX];

        remove_tree(dir);
        if (mkdir(dir, 0755) < 0)
                return idyl_err_errno(err, errno, "secrets: create \"%s\"", dir);
        json_object_foreach((json_t *)data, key, v)
        {
                unsigned char *value;
                size_t len;
                int rc;

                if (secret_key_check(key, err) < 0 || !json_is_string(v) ||
                    base64_decode(json_string_value(v), json_string_length(v), &value, &len) < 0)
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "secrets: the control plane sent a malformed key");
                rc = path_join(path, sizeof(path), dir, key, err);
                if (rc == 0)
                        rc = write_value(path, value, len, err);
                OPENSSL_cleanse(value, len);
                free(value);
                if (rc < 0)
                        return -1;
        }
        return 0;
}

static bool env_name_ok(const char *k)
{
        if (!*k || (*k >= '0' && *k <= '9'))
                return false;
        return strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") ==
               strlen(k);
}

static int append_env(struct agent_access *a, const char *secret, const json_t *data,
                      struct idyl_err *err)
{
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)data, key, v)
        {
                unsigned char *value;
                size_t len;
                char **p;

                if (!env_name_ok(key))
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "--secret-env %s: key \"%s\" is not an environment "
                                            "variable name ([A-Za-z_][A-Za-z0-9_]*); mount it "
                                            "with --secret instead",
                                            secret, key);
                if (!json_is_string(v) ||
                    base64_decode(json_string_value(v), json_string_length(v), &value, &len) < 0)
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "secrets: the control plane sent a malformed value");
                if (memchr(value, '\0', len)) {
                        OPENSSL_cleanse(value, len);
                        free(value);
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "--secret-env %s: the value of \"%s\" holds a NUL "
                                            "byte; mount it with --secret instead",
                                            secret, key);
                }
                p = realloc(a->env, (a->nenv + 2) * sizeof(*p));
                if (p)
                        a->env = p;
                if (!p || asprintf(&a->env[a->nenv], "%s=%.*s", key, (int)len, value) < 0) {
                        OPENSSL_cleanse(value, len);
                        free(value);
                        return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                }
                a->nenv++;
                OPENSSL_cleanse(value, len);
                free(value);
        }
        return 0;
}

static bool names_has(const json_t *arr, const char *name)
{
        json_t *v;
        size_t i;

        json_array_foreach(arr, i, v) if (json_is_string(v) &&
                                          strcmp(json_string_value(v), name) == 0) return true;
        return false;
}

static int add_mount(struct agent_access *a, const char *host, const char *name,
                     struct idyl_err *err)
{
        struct rt_mount *m = realloc(a->mounts, (a->nmounts + 1) * sizeof(*m));
        char **p;

        if (m)
                a->mounts = m;
        p = m ? realloc(a->paths, (2 * a->nmounts + 2) * sizeof(*p)) : NULL;
        if (!p)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        a->paths = p;
        p[2 * a->nmounts] = strdup(host);
        if (asprintf(&p[2 * a->nmounts + 1], SECRETS_MOUNT_PREFIX "%s", name) < 0)
                p[2 * a->nmounts + 1] = NULL;
        if (!p[2 * a->nmounts] || !p[2 * a->nmounts + 1]) {
                free(p[2 * a->nmounts]);
                free(p[2 * a->nmounts + 1]);
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        }
        a->mounts[a->nmounts] = (struct rt_mount){p[2 * a->nmounts], p[2 * a->nmounts + 1], true};
        a->nmounts++;
        return 0;
}

/* Files and env from the node route's answer {"secrets": [{name, data}]}. */
static int apply_values(struct agent_secrets *s, const char *name, const json_t *spec,
                        const json_t *answer, struct agent_access *a, struct idyl_err *err)
{
        const json_t *files = json_object_get(spec, "secrets"),
                     *envs = json_object_get(spec, "secretEnv"), *sec;
        char dir[PATH_MAX];
        size_t i;

        if (path_join(dir, sizeof(dir), s->root, name, err) < 0)
                return -1;
        if (json_array_size(files) && mkdir(dir, 0755) < 0 && errno != EEXIST)
                return idyl_err_errno(err, errno, "secrets: create \"%s\"", dir);
        json_array_foreach(json_object_get(answer, "secrets"), i, sec)
        {
                const char *sname = json_string_value(json_object_get(sec, "name"));
                const json_t *data = json_object_get(sec, "data");
                char sdir[PATH_MAX];

                if (!sname || secret_name_check(sname, NULL) < 0 || !json_is_object(data))
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "secrets: the control plane sent a malformed answer");
                if (path_join(sdir, sizeof(sdir), dir, sname, err) < 0)
                        return -1;
                if (names_has(files, sname) &&
                    (write_secret_files(sdir, data, err) < 0 || add_mount(a, sdir, sname, err) < 0))
                        return -1;
                if (names_has(envs, sname) && append_env(a, sname, data, err) < 0)
                        return -1;
        }
        if (a->nmounts != json_array_size(files))
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "secrets: the control plane did not send every secret the "
                                    "workload names");
        return 0;
}

static int fetch_and_apply(struct agent_secrets *s, const char *base_path, const char *name,
                           const json_t *spec, struct agent_access *a, struct idyl_err *err)
{
        char path[512];
        json_t *answer = NULL;
        int rc;

        if (json_array_size(json_object_get(spec, "secrets")) && ensure_tmpfs(s, err) < 0)
                return -1;
        snprintf(path, sizeof(path), "%s/workloads/%s/secrets", base_path, name);
        if (http_json(s->http, "GET", path, NULL, SECRETS_TIMEOUT_S, NULL, &answer, err) < 0)
                return idyl_err_wrap(err, "secrets");
        rc = apply_values(s, name, spec, answer, a, err);
        /* wipe the values jansson holds before freeing them */
        {
                json_t *sec, *v;
                const char *k;
                size_t i;

                json_array_foreach(json_object_get(answer, "secrets"), i, sec)
                {
                        json_object_foreach(json_object_get(sec, "data"), k, v)
                        {
                                if (json_is_string(v))
                                        OPENSSL_cleanse((void *)json_string_value(v),
                                                        json_string_length(v));
                        }
                }
        }
        json_decref(answer);
        return rc;
}

int agent_secrets_prepare(struct agent_secrets *s, const char *base_path, const char *name,
                          const json_t *spec, const char *const *base_env, size_t nbase_env,
                          struct agent_access *out, struct idyl_err *err)
{
        const json_t *devices = json_object_get(spec, "devices"), *v;
        struct agent_access a = {0};
        size_t i;
        int rc = 0;

        a.env = calloc(nbase_env + 1, sizeof(*a.env));
        a.devices = calloc(json_array_size(devices) + 1, sizeof(*a.devices));
        if (!a.env || !a.devices) {
                agent_access_release(&a);
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        }
        for (i = 0; i < nbase_env; i++)
                if (!(a.env[a.nenv++] = strdup(base_env[i])))
                        rc = idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        json_array_foreach(devices, i, v) if (json_is_string(v)) a.devices[a.ndevices++] =
            json_string_value(v);
        if (rc == 0 && (json_array_size(json_object_get(spec, "secrets")) ||
                        json_array_size(json_object_get(spec, "secretEnv")))) {
                pthread_mutex_lock(&s->mu);
                rc = fetch_and_apply(s, base_path, name, spec, &a, err);
                pthread_mutex_unlock(&s->mu);
        }
        if (rc < 0) {
                agent_access_release(&a);
                return -1;
        }
        *out = a;
        return 0;
}

void agent_access_release(struct agent_access *a)
{
        for (size_t i = 0; a->env && i < a->nenv; i++) {
                OPENSSL_cleanse(a->env[i], strlen(a->env[i]));
                free(a->env[i]);
        }
        for (size_t i = 0; a->paths && i < 2 * a->nmounts; i++)
                free(a->paths[i]);
        free(a->env);
        free(a->paths);
        free(a->mounts);
        free((void *)a->devices);
        memset(a, 0, sizeof(*a));
}

void agent_secrets_prune(struct agent_secrets *s, const char *const *names, size_t n)
{
        struct dirent *e;
        DIR *d;

        pthread_mutex_lock(&s->mu);
        d = s->mounted ? opendir(s->root) : NULL;
        while (d && (e = readdir(d))) {
                char path[PATH_MAX];
                bool keep = e->d_name[0] == '.';

                for (size_t i = 0; i < n && !keep; i++)
                        keep = names[i] && strcmp(names[i], e->d_name) == 0;
                if (keep)
                        continue;
                if (path_join(path, sizeof(path), s->root, e->d_name, NULL) < 0)
                        continue;
                remove_tree(path);
                log_info("removed the secret files of workload %s: no longer assigned here",
                         e->d_name);
        }
        if (d)
                closedir(d);
        pthread_mutex_unlock(&s->mu);
}
