/* The wire of a log or exec stream (SPEC §8): the CLI and the node agent
 * each open an HTTP request to idyld that is upgraded (101, "Upgrade:
 * idyl-stream") to a raw byte stream, and idyld splices the two. Bytes from
 * the agent to the CLI are frames in Docker's stdcopy shape (channel byte,
 * three zero bytes, big-endian u32 length, payload); the last frame is
 * STREAM_END with a JSON object: {"exit_code": N} or {"error": {"code",
 * "message"}}. Bytes from the CLI to the agent are frames of the same shape:
 * STREAM_STDIN carries the exec's standard input (exec -i) and
 * STREAM_STDIN_EOF (empty) closes it. This file owns that format and the
 * client side of the upgrade, for the CLI and the agent alike. */
#ifndef IDYL_UTIL_STREAM_WIRE_H
#define IDYL_UTIL_STREAM_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

#define STREAM_UPGRADE     "idyl-stream"
#define STREAM_FRAME_HDR   8
#define STREAM_FRAME_MAX   (64u * 1024) /* payload bytes of one frame, at most */
#define STREAM_HEADERS_MAX (16u * 1024) /* the 101 answer's header block */

enum stream_channel {
        STREAM_STDIN = 0, /* CLI to agent: bytes for the exec's stdin */
        STREAM_STDOUT = 1,
        STREAM_STDERR = 2,
        STREAM_END = 3,       /* JSON outcome; nothing follows */
        STREAM_STDIN_EOF = 4, /* CLI to agent, empty: the exec's stdin ends */
};

/* Whether a frame on channel may travel from the agent to the CLI (else it
 * is one of the CLI's). */
bool stream_channel_from_agent(enum stream_channel channel);

/* Writes a frame header for `len` payload bytes on `channel` into hdr. */
void stream_frame_header(uint8_t hdr[STREAM_FRAME_HDR], enum stream_channel channel, uint32_t len);
/* Reads a frame header: -1 when the channel is unknown, len is past
 * STREAM_FRAME_MAX, or a STREAM_STDIN_EOF frame has a payload. */
int stream_frame_parse(const uint8_t hdr[STREAM_FRAME_HDR], enum stream_channel *channel,
                       uint32_t *len);

struct stream_conn;

/* What to open: an HTTP/1.1 request upgraded to idyl-stream. */
struct stream_open {
        const char *addr;  /* "http://127.0.0.1:7480" or https:// */
        const char *token; /* bearer credential */
        const char *ca;    /* CA bundle (PEM file) for https; NULL or "": system store */
        const char *path;  /* "/v1/subnets/S/workloads/W/logs" */
        const char *body;  /* JSON body, may be NULL */
        /* PEM certificates that verify an https peer instead of ca (idyld
         * verifying another replica); NULL: ca */
        const char *ca_pem;
        /* sent as X-Idyl-Forwarded-By when set: the replica forwarding */
        const char *forwarded_by;
        int connect_timeout_s; /* 0: 10 */
        int answer_timeout_ms; /* the answer's head and body; 0: 30000 */
};

#define STREAM_FORWARDED_HEADER "X-Idyl-Forwarded-By"
#define STREAM_ANSWER_BODY_MAX  (1u << 20) /* a non-101 answer's body, at most */

/* Sends the request and reads the answer. On 101, *out is the open stream
 * (the caller closes it). One thread may read while another writes: each
 * read and write of the connection is made under its own lock. Any other answer is an error
 * carrying the server's code and message ({"error": {...}} body). */
int stream_conn_open(const struct stream_open *o, struct stream_conn **out, struct idyl_err *err);
/* As stream_conn_open, but any answer is a success: *status is its status;
 * on 101 *out is the open stream, otherwise *out is NULL and body holds
 * the answer's body (at most STREAM_ANSWER_BODY_MAX bytes). -1 only when
 * no answer came. */
int stream_conn_request(const struct stream_open *o, struct stream_conn **out, long *status,
                        struct idyl_buf *body, struct idyl_err *err);
void stream_conn_close(struct stream_conn *c);
/* The socket, for poll(2); buffered bytes are read first by stream_conn_read. */
int stream_conn_fd(const struct stream_conn *c);
/* Whether bytes read ahead wait in c (poll would not show them). */
bool stream_conn_pending(const struct stream_conn *c);
/* Reads up to size bytes, waiting at most timeout_ms (-1: forever). Returns
 * the count, 0 at the end of the stream, -1 on error (err set), -2 when the
 * time ran out. */
long stream_conn_read(struct stream_conn *c, void *buf, size_t size, int timeout_ms,
                      struct idyl_err *err);
/* Writes all of data. */
int stream_conn_write(struct stream_conn *c, const void *data, size_t len, struct idyl_err *err);
/* Writes one frame (len at most STREAM_FRAME_MAX). */
int stream_conn_frame(struct stream_conn *c, enum stream_channel channel, const void *data,
                      size_t len, struct idyl_err *err);
/* Reads one whole frame into buf (at least STREAM_FRAME_MAX + 1 bytes; the
 * payload is NUL-terminated). Returns 1 with a frame, 0 at the end of the
 * stream before a header, -1 on error or a stream cut inside a frame. */
int stream_conn_next(struct stream_conn *c, enum stream_channel *channel, char *buf, uint32_t *len,
                     struct idyl_err *err);

#endif
