/* A small HTTP/JSON client over libcurl for the node agent and the CLI: one
 * connection (a CURL easy handle, reused) per owner and thread, to a base
 * URL over TCP or over a unix socket (the Docker Engine API), optionally
 * with a bearer credential and a CA (the control plane). Responses are
 * bounded. */
#ifndef IDYL_AGENT_HTTP_H
#define IDYL_AGENT_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

struct http_client;

/* base: "http://127.0.0.1:7480" or, with socket_path set, the URL prefix used
 * on the socket ("http://docker/v1.41"); token may be NULL; ca is the PEM
 * file that verifies an https:// base (NULL or "": the system store).
 * Returns NULL on allocation failure. */
struct http_client *http_client_new(const char *base, const char *socket_path, const char *token,
                                    const char *ca);
void http_client_free(struct http_client *h);
/* The base the last request went to (of several comma-separated ones, the
 * one that answered), into buf. */
void http_client_base(const struct http_client *h, char *buf, size_t size);
/* Every later request of h stops early once *flag is true (a stopping agent
 * must not wait out a long-poll). */
void http_client_set_abort(struct http_client *h, const volatile bool *flag);

/* Called with each chunk of a streamed response body; return 0 to go on,
 * -1 to stop the transfer. */
typedef int (*http_chunk_fn)(const char *data, size_t len, void *arg);
/* Called with each response header line (not NUL-terminated). */
typedef void (*http_header_fn)(const char *line, size_t len, void *arg);

struct http_request {
        const char *method; /* "GET", "POST", ... */
        const char *path;   /* appended to base: "/containers/json?all=1" */
        const char *body;   /* may be NULL */
        size_t body_len;
        const char *content_type; /* default application/json when body is set */
        long timeout_s;           /* whole transfer; 0: no limit (streams) */
        http_chunk_fn on_chunk;   /* stream the body here instead of buffering */
        void *chunk_arg;
        const volatile bool *abort_flag; /* when set and true, the transfer stops */
        http_header_fn on_header;        /* may be NULL */
        void *header_arg;
        long connect_timeout_s; /* 0: 5 seconds */
        /* a transport failure reads "<unreachable>: <cause>"; NULL: the
         * peer and path */
        const char *unreachable;
};

/* Performs req. On success *status is the HTTP status and resp (when not
 * NULL) holds the body (streamed requests leave it empty). Transport
 * failures are IDYL_E_UNAVAILABLE naming the peer. */
int http_do(struct http_client *h, const struct http_request *req, long *status,
            struct idyl_buf *resp, struct idyl_err *err);

/* JSON convenience: sends body (may be NULL), parses a 2xx answer into *out
 * (NULL for an empty body; may be NULL to discard). A non-2xx answer is an
 * error whose message is the peer's own ("message" or "error.message" field,
 * else the body) and whose code follows the status (404 not_found, 409
 * conflict, else unavailable); *status is set either way when not NULL. */
int http_json(struct http_client *h, const char *method, const char *path, const json_t *body,
              long timeout_s, long *status, json_t **out, struct idyl_err *err);

/* Percent-encodes s for a query string or a path segment. Caller frees. */
char *http_escape(const char *s);

#endif
