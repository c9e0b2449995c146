/* The client side of an idyl-stream upgrade over libcurl (CONNECT_ONLY:
 * curl makes the TCP or TLS connection, we speak HTTP/1.1 on it), and the
 * frame format both ends share. See util/stream_wire.h. */
#include "util/stream_wire.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/addrlist.h"
#include "util/buf.h"
#include "util/clock.h"

struct stream_conn {
        CURL *curl;
        curl_socket_t fd;
        pthread_mutex_t mu; /* one curl (TLS) call at a time: a reader and a writer share c */
        char ahead[STREAM_HEADERS_MAX]; /* bytes read past the answer's headers */
        size_t ahead_off, ahead_len;
};

void stream_frame_header(uint8_t hdr[STREAM_FRAME_HDR], enum stream_channel channel, uint32_t len)
{
        hdr[0] = (uint8_t)channel;
        hdr[1] = hdr[2] = hdr[3] = 0;
        hdr[4] = (uint8_t)(len >> 24);
        hdr[5] = (uint8_t)(len >> 16);
        hdr[6] = (uint8_t)(len >> 8);
        hdr[7] = (uint8_t)len;
}

int stream_frame_parse(const uint8_t hdr[STREAM_FRAME_HDR], enum stream_channel *channel,
                       uint32_t *len)
{
        uint32_t n =
            (uint32_t)hdr[4] << 24 | (uint32_t)hdr[5] << 16 | (uint32_t)hdr[6] << 8 | hdr[7];

        if (hdr[0] > STREAM_STDIN_EOF || n > STREAM_FRAME_MAX ||
            (hdr[0] == STREAM_STDIN_EOF && n != 0))
                return -1;
        *channel = (enum stream_channel)hdr[0];
        *len = n;
        return 0;
}

bool stream_channel_from_agent(enum stream_channel channel)
{
        return channel == STREAM_STDOUT || channel == STREAM_STDERR || channel == STREAM_END;
}

/* "https://host:port/x" -> "host:port" */
static void host_of(const char *addr, char *out, size_t size)
{
        const char *p = strstr(addr, "://");
        size_t n;

        p = p ? p + 3 : addr;
        n = strcspn(p, "/");
        snprintf(out, size, "%.*s", (int)n, p);
}

static int wait_fd(curl_socket_t fd, short events, int timeout_ms)
{
        struct pollfd p = {.fd = fd, .events = events};
        int rc;

        do
                rc = poll(&p, 1, timeout_ms);
        while (rc < 0 && errno == EINTR);
        return rc;
}

static long raw_read(struct stream_conn *c, void *buf, size_t size, int timeout_ms,
                     struct idyl_err *err)
{
        int64_t deadline = timeout_ms < 0 ? 0 : mono_ms() + timeout_ms;

        for (;;) {
                size_t n = 0;
                CURLcode rc;
                int left;

                pthread_mutex_lock(&c->mu);
                rc = curl_easy_recv(c->curl, buf, size, &n);
                pthread_mutex_unlock(&c->mu);
                if (rc == CURLE_OK)
                        return (long)n;
                if (rc != CURLE_AGAIN)
                        return idyl_err_set(err, IDYL_E_UNAVAILABLE, "stream read failed: %s",
                                            curl_easy_strerror(rc));
                left = timeout_ms < 0 ? -1 : (int)(deadline - mono_ms());
                if (timeout_ms >= 0 && left <= 0)
                        return -2;
                if (wait_fd(c->fd, POLLIN, left) == 0 && timeout_ms >= 0)
                        return -2;
        }
}

int stream_conn_write(struct stream_conn *c, const void *data, size_t len, struct idyl_err *err)
{
        const char *p = data;

        while (len) {
                size_t n = 0;
                CURLcode rc;

                pthread_mutex_lock(&c->mu);
                rc = curl_easy_send(c->curl, p, len, &n);
                pthread_mutex_unlock(&c->mu);
                if (rc == CURLE_AGAIN) {
                        wait_fd(c->fd, POLLOUT, 1000);
                        continue;
                }
                if (rc != CURLE_OK)
                        return idyl_err_set(err, IDYL_E_UNAVAILABLE, "stream write failed: %s",
                                            curl_easy_strerror(rc));
                p += n;
                len -= n;
        }
        return 0;
}

/* The value of header `name` in a header block (lines after the status
 * line), malloc'd; NULL when absent. */
static char *header_value(const char *head, const char *name)
{
        size_t nlen = strlen(name);

        for (const char *l = head; (l = strchr(l, '\n')) != NULL;) {
                if (strncasecmp(++l, name, nlen) == 0 && l[nlen] == ':') {
                        const char *v = l + nlen + 1;

                        v += strspn(v, " \t");
                        return strndup(v, strcspn(v, "\r\n"));
                }
        }
        return NULL;
}

/* Reads the answer's status line and headers; keeps what follows them. */
static int read_answer(struct stream_conn *c, int timeout_ms, long *status, size_t *content_length,
                       struct idyl_err *err)
{
        size_t have = 0;
        char *end = NULL, *cl;

        while (!end) {
                long n;

                if (have == sizeof(c->ahead) - 1)
                        return idyl_err_set(err, IDYL_E_UNAVAILABLE,
                                            "idyld's answer headers are larger than %u bytes",
                                            STREAM_HEADERS_MAX);
                n = raw_read(c, c->ahead + have, sizeof(c->ahead) - 1 - have, timeout_ms, err);
                if (n == -2)
                        return idyl_err_set(err, IDYL_E_UNAVAILABLE,
                                            "idyld did not answer the stream request within %ds",
                                            timeout_ms / 1000);
                if (n < 0)
                        return -1;
                if (n == 0)
                        return idyl_err_set(err, IDYL_E_UNAVAILABLE,
                                            "idyld closed the connection before answering");
                have += (size_t)n;
                c->ahead[have] = '\0';
                end = strstr(c->ahead, "\r\n\r\n");
        }
        if (sscanf(c->ahead, "HTTP/1.%*d %ld", status) != 1)
                return idyl_err_set(err, IDYL_E_UNAVAILABLE, "idyld's answer is not HTTP");
        *end = '\0';
        *content_length = 0;
        if ((cl = header_value(c->ahead, "Content-Length")) != NULL)
                *content_length = strtoul(cl, NULL, 10);
        free(cl);
        c->ahead_off = (size_t)(end + 4 - c->ahead);
        c->ahead_len = have;
        return 0;
}

/* A non-101 answer's body, after its head. */
static void answer_body(struct stream_conn *c, size_t content_length, int timeout_ms,
                        struct idyl_buf *body)
{
        struct idyl_err ignored = IDYL_ERR_INIT;
        char chunk[4096];

        idyl_buf_append(body, c->ahead + c->ahead_off, c->ahead_len - c->ahead_off);
        c->ahead_off = c->ahead_len;
        while (body->len < content_length) {
                long n = raw_read(c, chunk, sizeof(chunk), timeout_ms, &ignored);

                if (n <= 0 || idyl_buf_append(body, chunk, (size_t)n) < 0)
                        break;
        }
}

int stream_conn_request(const struct stream_open *o, struct stream_conn **out, long *status,
                        struct idyl_buf *body, struct idyl_err *err)
{
        struct stream_conn *c = calloc(1, sizeof(*c));
        char host[256], addr[512], errbuf[CURL_ERROR_SIZE] = "", fwd[128] = "", *req = NULL;
        size_t blen = o->body ? strlen(o->body) : 0, content_length = 0;
        int answer_ms = o->answer_timeout_ms ? o->answer_timeout_ms : 30000;
        CURLcode rc = CURLE_OK;
        int n;

        *out = NULL;
        *status = 0;
        if (!c || !(c->curl = curl_easy_init())) {
                free(c);
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        }
        c->fd = CURL_SOCKET_BAD;
        pthread_mutex_init(&c->mu, NULL);
        curl_easy_setopt(c->curl, CURLOPT_CONNECT_ONLY, 1L);
        curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT,
                         (long)(o->connect_timeout_s ? o->connect_timeout_s : 10));
        curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
        if (o->ca_pem) {
                struct curl_blob blob = {(void *)o->ca_pem, strlen(o->ca_pem), CURL_BLOB_COPY};

                curl_easy_setopt(c->curl, CURLOPT_CAINFO_BLOB, &blob);
        } else if (o->ca && *o->ca) {
                curl_easy_setopt(c->curl, CURLOPT_CAINFO, o->ca);
        }
        /* several replicas ("http://a,http://b"): the next when one cannot
         * be connected to */
        for (size_t i = 0, nbase = addrlist_count(o->addr); i < nbase; i++) {
                addrlist_nth(o->addr, i, addr, sizeof(addr));
                errbuf[0] = '\0';
                curl_easy_setopt(c->curl, CURLOPT_URL, addr);
                rc = curl_easy_perform(c->curl);
                if (rc == CURLE_OK || !addrlist_try_next(rc))
                        break;
        }
        if (rc != CURLE_OK) {
                idyl_err_set(err, IDYL_E_UNAVAILABLE, "cannot reach idyld at %s: %s", addr,
                             errbuf[0] ? errbuf : curl_easy_strerror(rc));
                goto fail;
        }
        curl_easy_getinfo(c->curl, CURLINFO_ACTIVESOCKET, &c->fd);
        host_of(addr, host, sizeof(host));
        if (o->forwarded_by)
                snprintf(fwd, sizeof(fwd), STREAM_FORWARDED_HEADER ": %s\r\n", o->forwarded_by);
        n = asprintf(&req,
                     "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n%s"
                     "Connection: Upgrade\r\nUpgrade: " STREAM_UPGRADE "\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     o->path, host, o->token ? o->token : "", fwd, blen, o->body ? o->body : "");
        if (n < 0) {
                req = NULL;
                idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
                goto fail;
        }
        if (stream_conn_write(c, req, (size_t)n, err) < 0 ||
            read_answer(c, answer_ms, status, &content_length, err) < 0)
                goto fail;
        free(req);
        if (*status == 101) {
                *out = c;
                return 0;
        }
        answer_body(c, content_length, answer_ms, body);
        stream_conn_close(c);
        return 0;
fail:
        free(req);
        stream_conn_close(c);
        return -1;
}

int stream_conn_open(const struct stream_open *o, struct stream_conn **out, struct idyl_err *err)
{
        struct idyl_buf body = IDYL_BUF_INIT(STREAM_ANSWER_BODY_MAX);
        long status;
        int rc = stream_conn_request(o, out, &status, &body, err);

        if (rc == 0 && status != 101)
                rc = idyl_err_from_answer(status, body.data, body.len, IDYL_E_UNAVAILABLE, err);
        idyl_buf_release(&body);
        return rc;
}

void stream_conn_close(struct stream_conn *c)
{
        if (!c)
                return;
        curl_easy_cleanup(c->curl);
        pthread_mutex_destroy(&c->mu);
        free(c);
}

int stream_conn_fd(const struct stream_conn *c)
{
        return (int)c->fd;
}

bool stream_conn_pending(const struct stream_conn *c)
{
        return c->ahead_off < c->ahead_len;
}

long stream_conn_read(struct stream_conn *c, void *buf, size_t size, int timeout_ms,
                      struct idyl_err *err)
{
        if (c->ahead_off < c->ahead_len) {
                size_t n = c->ahead_len - c->ahead_off;

                if (n > size)
                        n = size;
                memcpy(buf, c->ahead + c->ahead_off, n);
                c->ahead_off += n;
                return (long)n;
        }
        return raw_read(c, buf, size, timeout_ms, err);
}

int stream_conn_frame(struct stream_conn *c, enum stream_channel channel, const void *data,
                      size_t len, struct idyl_err *err)
{
        uint8_t hdr[STREAM_FRAME_HDR];

        if (len > STREAM_FRAME_MAX)
                return idyl_err_set(err, IDYL_E_TOO_LARGE, "stream frame of %zu bytes", len);
        stream_frame_header(hdr, channel, (uint32_t)len);
        if (stream_conn_write(c, hdr, sizeof(hdr), err) < 0)
                return -1;
        return len ? stream_conn_write(c, data, len, err) : 0;
}

/* Reads exactly len bytes; 0 at an end before the first, -1 otherwise. */
static int read_exact(struct stream_conn *c, void *buf, size_t len, struct idyl_err *err)
{
        size_t got = 0;

        while (got < len) {
                long n = stream_conn_read(c, (char *)buf + got, len - got, -1, err);

                if (n < 0)
                        return -1;
                if (n == 0)
                        return got ? idyl_err_set(err, IDYL_E_UNAVAILABLE,
                                                  "the stream was cut inside a frame")
                                   : 0;
                got += (size_t)n;
        }
        return 1;
}

int stream_conn_next(struct stream_conn *c, enum stream_channel *channel, char *buf, uint32_t *len,
                     struct idyl_err *err)
{
        uint8_t hdr[STREAM_FRAME_HDR];
        int rc = read_exact(c, hdr, sizeof(hdr), err);

        if (rc <= 0)
                return rc;
        if (stream_frame_parse(hdr, channel, len) < 0)
                return idyl_err_set(err, IDYL_E_UNAVAILABLE, "malformed stream frame");
        if (*len && read_exact(c, buf, *len, err) <= 0)
                return err->code ? -1
                                 : idyl_err_set(err, IDYL_E_UNAVAILABLE,
                                                "the stream was cut inside a frame");
        buf[*len] = '\0';
        return 1;
}
