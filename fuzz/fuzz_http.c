/* libFuzzer target: whatever reaches idyld over the network. One real
 * server (SQLite store in a temporary directory, the real route table,
 * handlers and scheduler) runs in this process; each input becomes one HTTP
 * request to it over loopback, so request-line, header, query-string and
 * body parsing, authentication, every handler's JSON validation and the
 * store all see it. A crash in any server thread is the input's.
 *
 * Input: byte 0 picks the route (high bit: send the rest as a raw request
 * instead), byte 1 the caller (operator, author, provider, node, none);
 * the rest is "QUERY\nBODY". */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/subnet.h"
#include "server/seal.h"
#include "server/server.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct idyl_server srv;
static char secrets[4][80]; /* operator, author, provider, node n1 */
static char slug[SUBNET_SLUG_BUFLEN];
static struct seal_key seal = {.fingerprint = "sha256:fuzz"};

static void die(const char *what, const struct idyl_err *err)
{
        fprintf(stderr, "fuzz_http: %s: %s\n", what, err ? err->msg : "failed");
        exit(1);
}

static void add_token(int i, enum idyl_role role, uint64_t subnet, const char *node)
{
        struct idyl_token t = {.role = role, .subnet = subnet};
        struct idyl_err err = IDYL_ERR_INIT;

        if (auth_new_secret(secrets[i], sizeof(secrets[i]), &err) < 0)
                die("secret", &err);
        auth_hash_token(secrets[i], t.hash);
        snprintf(t.node, sizeof(t.node), "%s", node ? node : "");
        if (store_token_add(srv.store, &t, &err) < 0)
                die("token", &err);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        struct idyl_err err = IDYL_ERR_INIT;
        struct idyl_subnet sn = {0};
        struct idyl_node n = {0};
        const char *tmp = getenv("TMPDIR");
        char tmpl[4096];
        const char *dir;

        /* under $TMPDIR, which fuzz/run removes afterwards */
        snprintf(tmpl, sizeof(tmpl), "%s/idyl-fuzz-http.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        dir = mkdtemp(tmpl);

        (void)argc;
        (void)argv;
        if (!dir || store_open(dir, &srv.store, &err) < 0)
                die("store", &err);
        snprintf(sn.region, sizeof(sn.region), "us-east");
        if (store_subnet_create(srv.store, &sn, &err) < 0)
                die("subnet", &err);
        subnet_slug_format(sn.slug, slug);
        n.subnet = sn.slug;
        n.admission = NODE_ADMITTED;
        snprintf(n.name, sizeof(n.name), "n1");
        snprintf(n.platform, sizeof(n.platform), "linux/amd64");
        n.cpu_milli = 4000;
        n.memory_bytes = 8LL << 30;
        if (store_node_put(srv.store, &n, &err) < 0)
                die("node", &err);
        add_token(0, ROLE_OPERATOR, 0, NULL);
        add_token(1, ROLE_AUTHOR, 0, NULL);
        add_token(2, ROLE_PROVIDER, sn.slug, NULL);
        add_token(3, ROLE_PROVIDER, sn.slug, "n1");
        srv.node_ttl = 30;
        srv.client_timeout = 2;
        srv.seal = &seal; /* a fixed key: the secrets routes seal and open for real */
        if (server_start(&srv, "127.0.0.1:0", &err) < 0 || scheduler_start(&srv, &err) < 0)
                die("server", &err);
        return 0;
}

/* Appends s[0..n) percent-encoded where the request line needs it. */
static size_t put_query(char *out, size_t cap, const uint8_t *s, size_t n)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t len = 0;

        for (size_t i = 0; i < n && len + 3 < cap; i++) {
                if (s[i] > 0x20 && s[i] < 0x7f && s[i] != '#') {
                        out[len++] = (char)s[i];
                } else {
                        out[len++] = '%';
                        out[len++] = hex[s[i] >> 4];
                        out[len++] = hex[s[i] & 15];
                }
        }
        return len;
}

/* The route's pattern with {slug} the test subnet, {name} "web" or "n1". */
static size_t put_path(char *out, size_t cap, const char *pattern)
{
        size_t len = 0;
        bool nodes = strstr(pattern, "/nodes/") != NULL;

        for (const char *p = pattern; *p && len + 16 < cap;) {
                if (*p != '{') {
                        out[len++] = *p++;
                        continue;
                }
                const char *v = strncmp(p, "{slug}", 6) == 0 ? slug
                                : strncmp(p, "{id}", 4) == 0 ? "000000000000"
                                : nodes                      ? "n1"
                                                             : "web";
                len += (size_t)snprintf(out + len, cap - len, "%s", v);
                p = strchr(p, '}') + 1;
        }
        return len;
}

static void exchange(const char *req, size_t len)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port)};
        struct timeval tv = {.tv_usec = 300 * 1000}; /* a held long-poll is not waited out */
        char buf[65536];
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0)
                return;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
                for (size_t off = 0; off < len;) {
                        ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
                        if (w <= 0)
                                break;
                        off += (size_t)w;
                }
                shutdown(fd, SHUT_WR);
                while (recv(fd, buf, sizeof(buf), 0) > 0)
                        ;
        }
        close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static char req[SERVER_BODY_MAX / 4];
        const struct route *rt;
        const uint8_t *rest, *nl;
        size_t len, qlen, restlen;
        int caller;

        if (size < 2 || size > sizeof(req) / 2)
                return 0;
        if (data[0] & 0x80) { /* raw: request line, headers, body as given */
                exchange((const char *)data + 1, size - 1);
                return 0;
        }
        rt = &server_routes[data[0] % server_nroutes];
        caller = data[1] % 5;
        rest = data + 2;
        restlen = size - 2;
        nl = memchr(rest, '\n', restlen);
        qlen = nl ? (size_t)(nl - rest) : 0;
        len = (size_t)snprintf(req, sizeof(req), "%s ", rt->method);
        len += put_path(req + len, sizeof(req) - len, rt->pattern);
        if (qlen) {
                req[len++] = '?';
                len += put_query(req + len, 4096, rest, qlen);
        }
        rest += nl ? qlen + 1 : 0;
        restlen -= nl ? qlen + 1 : 0;
        len += (size_t)snprintf(req + len, sizeof(req) - len,
                                " HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n"
                                "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                                restlen);
        if (caller < 4)
                len += (size_t)snprintf(req + len, sizeof(req) - len,
                                        "Authorization: Bearer %s\r\n", secrets[caller]);
        len += (size_t)snprintf(req + len, sizeof(req) - len, "\r\n");
        if (len + restlen > sizeof(req))
                return 0;
        memcpy(req + len, rest, restlen);
        exchange(req, len + restlen);
        return 0;
}
