/* idyld: the control plane. Parses its flags, opens the store, writes the
 * first operator credential, serves the API until SIGINT/SIGTERM. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/seal.h"
#include "server/server.h"
#include "util/log.h"
#include "util/version.h"

#define PEM_MAX (1024 * 1024)

static const char usage[] =
    "usage: idyld [--listen HOST:PORT] [--data-dir DIR] [--store postgres://...]\n"
    "             [--node-ttl SECONDS] [--tls-cert FILE --tls-key FILE]\n"
    "             [--insecure-listen] [--client-timeout SECONDS]\n"
    "             [--max-connections N] [--history-retention DURATION]\n"
    "             [--secret-key-file FILE]\n"
    "             [--log-format text|json] [--version]\n"
    "\n"
    "  --listen HOST:PORT    address to serve the API on (default 127.0.0.1:7480;\n"
    "                        port 0 picks a free port, written to DIR/idyld.addr)\n"
    "  --data-dir DIR        data directory: SQLite store and operator.token\n"
    "                        (default ./idyl-data)\n"
    "  --store URL           postgres://... to use PostgreSQL instead of SQLite\n"
    "  --node-ttl SECONDS    how long a silent node stays healthy (default 30)\n"
    "  --tls-cert FILE       serve HTTPS with this PEM certificate (chain)\n"
    "  --tls-key FILE        the PEM private key of --tls-cert\n"
    "  --insecure-listen     allow plain HTTP on a non-loopback address (credentials\n"
    "                        then cross the network in the clear)\n"
    "  --client-timeout SECONDS\n"
    "                        close a connection silent this long, or whose request\n"
    "                        head is not whole within it (default 30); a request\n"
    "                        body must arrive within 4 times this\n"
    "  --max-connections N   connections served at once (default 4096, at most the\n"
    "                        open-file limit less 64); more wait, and it is logged\n"
    "  --history-retention DURATION\n"
    "                        keep workload events and audit records this long\n"
    "                        (default 30d; 0 keeps them for ever), e.g. 12h, 90d\n"
    "  --secret-key-file FILE\n"
    "                        the key sealing secret values (default DIR/secret.key,\n"
    "                        made at first start); every replica needs the same one\n"
    "  --log-format FORMAT   text (default) or json: one JSON object per line\n"
    "                        with time, level and msg (env IDYL_LOG_FORMAT)\n"
    "  --version             print the version and exit\n";

struct options {
        const char *listen;
        const char *data_dir;
        const char *store;
        int node_ttl;
        const char *tls_cert, *tls_key;
        bool insecure_listen;
        int client_timeout;
        const char *secret_key_file;
        long max_connections;
        int64_t history_retention_ms;
};

/* "0", or a whole number of seconds, minutes, hours or days, up to 100 years. */
static int retention_parse(const char *s, int64_t *ms)
{
        static const struct {
                char unit;
                int64_t ms;
        } units[] = {{'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', 86400000}};
        size_t digits = strspn(s, "0123456789");
        long long v;

        if (strcmp(s, "0") == 0) {
                *ms = 0;
                return 0;
        }
        if (digits == 0 || digits > 6 || !s[digits] || s[digits + 1])
                return -1;
        v = strtoll(s, NULL, 10);
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
                if (s[digits] == units[i].unit && v > 0 && v * units[i].ms <= 36500 * 86400000LL) {
                        *ms = v * units[i].ms;
                        return 0;
                }
        return -1;
}

static int parse_args(int argc, char **argv, struct options *o)
{
        static const struct option longopts[] = {
            {"listen", required_argument, NULL, 'l'},
            {"data-dir", required_argument, NULL, 'd'},
            {"store", required_argument, NULL, 's'},
            {"node-ttl", required_argument, NULL, 't'},
            {"tls-cert", required_argument, NULL, 'c'},
            {"tls-key", required_argument, NULL, 'k'},
            {"insecure-listen", no_argument, NULL, 'i'},
            {"client-timeout", required_argument, NULL, 'T'},
            {"secret-key-file", required_argument, NULL, 'K'},
            {"max-connections", required_argument, NULL, 'M'},
            {"history-retention", required_argument, NULL, 'R'},
            {"log-format", required_argument, NULL, 'F'},
            {"version", no_argument, NULL, 'V'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        int c;
        char *end;

        while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
                switch (c) {
                case 'l':
                        o->listen = optarg;
                        break;
                case 'd':
                        o->data_dir = optarg;
                        break;
                case 's':
                        o->store = optarg;
                        break;
                case 't':
                        o->node_ttl = (int)strtol(optarg, &end, 10);
                        if (*end || o->node_ttl <= 0) {
                                fprintf(stderr,
                                        "idyld: invalid --node-ttl \"%s\": want seconds > 0\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case 'c':
                        o->tls_cert = optarg;
                        break;
                case 'k':
                        o->tls_key = optarg;
                        break;
                case 'i':
                        o->insecure_listen = true;
                        break;
                case 'T':
                        o->client_timeout = (int)strtol(optarg, &end, 10);
                        if (*end || o->client_timeout <= 0 || o->client_timeout > 3600) {
                                fprintf(stderr,
                                        "idyld: invalid --client-timeout \"%s\": want 1-3600 "
                                        "seconds\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case 'K':
                        o->secret_key_file = optarg;
                        break;
                case 'M':
                        o->max_connections = strtol(optarg, &end, 10);
                        if (*end || end == optarg || o->max_connections < 1 ||
                            o->max_connections > 1000000) {
                                fprintf(stderr,
                                        "idyld: invalid --max-connections \"%s\": want 1-1000000\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case 'R':
                        if (retention_parse(optarg, &o->history_retention_ms) < 0) {
                                fprintf(stderr,
                                        "idyld: invalid --history-retention \"%s\": want 0 or a "
                                        "duration such as 12h, 30d (s, m, h or d)\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case 'F':
                        if (log_set_format(optarg) < 0) {
                                fprintf(stderr,
                                        "idyld: invalid --log-format \"%s\": want text or json\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case 'V':
                        printf("idyld %s\n", idyl_version());
                        exit(0);
                case 'h':
                        fputs(usage, stdout);
                        exit(0);
                default:
                        fputs(usage, stderr);
                        return 2;
                }
        }
        if (!o->tls_cert != !o->tls_key) {
                fprintf(stderr, "idyld: --tls-cert and --tls-key go together\n");
                return 2;
        }
        if (optind != argc) {
                fprintf(stderr, "idyld: unexpected argument \"%s\"\n%s", argv[optind], usage);
                return 2;
        }
        return 0;
}

/* Reads a PEM file into a new string (at most 1 MiB). */
static char *read_pem(const char *path, const char *flag)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = fopen(path, "r");

        if (!f) {
                fprintf(stderr, "idyld: %s: cannot read \"%s\": %s\n", flag, path, strerror(errno));
                return NULL;
        }
        buf = malloc(PEM_MAX + 1);
        if (buf)
                len = fread(buf, 1, PEM_MAX + 1, f);
        fclose(f);
        if (!buf || len == 0 || len > PEM_MAX) {
                fprintf(stderr, "idyld: %s: \"%s\" is empty or larger than %d bytes\n", flag, path,
                        PEM_MAX);
                free(buf);
                return NULL;
        }
        buf[len] = '\0';
        return buf;
}

/* Loads (or, for the default DIR/secret.key, makes) the key sealing secret
 * values, and checks it against the fingerprint the store recorded: a
 * replica given another key must not start. */
static int secret_key_setup(const struct options *o, struct idyl_store *st, struct seal_key *key,
                            struct idyl_err *err)
{
        char path[4096], recorded[SEAL_FPR_BUFLEN];
        const char *file = o->secret_key_file;

        if (!file) {
                if ((size_t)snprintf(path, sizeof(path), "%s/secret.key", o->data_dir) >=
                    sizeof(path))
                        return idyl_err_set(err, IDYL_E_INVALID, "path too long: %s", o->data_dir);
                file = path;
        }
        if (seal_key_load(file, o->secret_key_file == NULL, key, err) < 0 ||
            store_setting_ensure(st, SEAL_FPR_SETTING, key->fingerprint, recorded, sizeof(recorded),
                                 err) < 0)
                return -1;
        if (strcmp(recorded, key->fingerprint) != 0)
                return idyl_err_set(err, IDYL_E_INVALID,
                                    "secret key \"%s\" (%s) does not match the key this store's "
                                    "secrets are sealed with (%s): give every replica the same "
                                    "--secret-key-file",
                                    file, key->fingerprint, recorded);
        return 0;
}

/* Raises the open-file limit to its hard limit (systemd's default soft
 * limit is 1024, the unit asks for more) and fits the connection limit
 * under it, keeping 64 descriptors for the store, logs and the runtime. */
static int connection_limit(long asked, unsigned *limit)
{
        struct rlimit rl;
        long fit;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
                getrlimit(RLIMIT_NOFILE, &rl);
        }
        fit = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1000064 ? 1000000
                                                                    : (long)rl.rlim_cur - 64;
        if (fit < 16) {
                fprintf(stderr, "idyld: the open-file limit (%ld) is too low to serve\n",
                        (long)rl.rlim_cur);
                return -1;
        }
        if (asked > fit) {
                fprintf(stderr,
                        "idyld: --max-connections %ld does not fit the open-file limit %ld: "
                        "at most %ld\n",
                        asked, (long)rl.rlim_cur, fit);
                return -1;
        }
        *limit = (unsigned)(asked ? asked : (fit < SERVER_CONNECTIONS ? fit : SERVER_CONNECTIONS));
        return 0;
}

/* The address clients reach this idyld at: the listen host (127.0.0.1 when
 * none, this machine's name when it listens on every address) and the
 * bound port. */
static void own_addr(char *buf, size_t size, unsigned port, const char *listen, bool tls)
{
        const char *colon = strrchr(listen, ':');
        int hostlen = colon ? (int)(colon - listen) : 0;
        char host[256];

        if (hostlen == 0)
                snprintf(host, sizeof(host), "127.0.0.1");
        else
                snprintf(host, sizeof(host), "%.*s", hostlen, listen);
        if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "[::]") == 0) {
                if (gethostname(host, sizeof(host)) < 0)
                        snprintf(host, sizeof(host), "127.0.0.1");
                host[sizeof(host) - 1] = '\0';
        }
        snprintf(buf, size, "%s://%s:%u", tls ? "https" : "http", host, port);
}

static void write_addr_file(const char *dir, unsigned port, const char *listen, bool tls)
{
        const char *colon = strrchr(listen, ':');
        int hostlen = colon ? (int)(colon - listen) : 0;
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/idyld.addr", dir);
        f = fopen(path, "w");
        if (!f)
                return;
        fprintf(f, "%s://%.*s:%u\n", tls ? "https" : "http", hostlen ? hostlen : 9,
                hostlen ? listen : "127.0.0.1", port);
        fclose(f);
}

int main(int argc, char **argv)
{
        struct options o = {"127.0.0.1:7480", "idyl-data", NULL, 30, NULL, NULL, false, 0, NULL, 0,
                            30 * 86400000LL};
        char *cert = NULL, *key = NULL;
        struct idyl_server srv = {0};
        struct seal_key seal;
        struct idyl_err err = IDYL_ERR_INIT;
        sigset_t set;
        int rc, sig;

        log_init("idyld");
        rc = parse_args(argc, argv, &o);
        if (rc)
                return rc;
        srv.node_ttl = o.node_ttl;
        srv.seal = &seal; /* loaded before the server starts serving */
        srv.insecure_listen = o.insecure_listen;
        srv.client_timeout = (unsigned)o.client_timeout;
        srv.history_retention_ms = o.history_retention_ms;
        if (connection_limit(o.max_connections, &srv.max_connections) < 0)
                return 2;
        if (o.tls_cert) {
                cert = read_pem(o.tls_cert, "--tls-cert");
                key = cert ? read_pem(o.tls_key, "--tls-key") : NULL;
                if (!key) {
                        free(cert);
                        return 1;
                }
                srv.tls_cert = cert;
                srv.tls_key = key;
        }
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        signal(SIGPIPE, SIG_IGN);

        if (o.store && mkdir(o.data_dir, 0700) < 0 && errno != EEXIST) {
                fprintf(stderr, "idyld: create data directory \"%s\": %s\n", o.data_dir,
                        strerror(errno));
                return 1;
        }
        if (store_open(o.store ? o.store : o.data_dir, &srv.store, &err) < 0 ||
            server_bootstrap_operator(&srv, o.data_dir, &err) < 0 ||
            secret_key_setup(&o, srv.store, &seal, &err) < 0 ||
            server_start(&srv, o.listen, &err) < 0 ||
            (own_addr(srv.advertise_addr, sizeof(srv.advertise_addr), srv.port, o.listen,
                      cert != NULL),
             replicas_start(&srv, &err) < 0) ||
            scheduler_start(&srv, &err) < 0) {
                replicas_stop(&srv);
                scheduler_stop(&srv);
                server_stop(&srv);
                scheduler_free(&srv);
                replicas_free(&srv);
                fprintf(stderr, "idyld: %s\n", err.msg);
                store_close(srv.store);
                free(cert);
                free(key);
                return 1;
        }
        write_addr_file(o.data_dir, srv.port, o.listen, cert != NULL);
        log_info("serving on %s (port %u), store %s", o.listen, srv.port, srv.store->ops->name);
        if (server_notify_systemd("READY=1", &err) < 0)
                log_warnx("%s", err.msg);
        sigwait(&set, &sig);
        log_info("stopping on signal %d", sig);
        server_notify_systemd("STOPPING=1", NULL);
        replicas_stop(&srv);  /* no more messages from the other replicas */
        scheduler_stop(&srv); /* no more notifies */
        server_stop(&srv);    /* no more requests, so no more kicks */
        scheduler_free(&srv);
        replicas_free(&srv);
        store_close(srv.store);
        free(cert);
        free(key);
        return 0;
}
