/* A small gRPC client for the node agent: HTTP/2 with prior knowledge (h2c)
 * over a unix socket with nghttp2, protobuf-c messages, unary and
 * server-streaming calls, one call at a time per connection. What containerd's
 * CRI needs and nothing more: no TLS, no compression, no retries. The framing
 * and the status mapping are exposed so they can be tested alone. */
#ifndef IDYL_AGENT_GRPC_H
#define IDYL_AGENT_GRPC_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

/* gRPC status codes (a protocol fact, grpc/doc/statuscodes.md). */
enum grpc_status {
        GRPC_OK = 0,
        GRPC_CANCELLED = 1,
        GRPC_UNKNOWN = 2,
        GRPC_INVALID_ARGUMENT = 3,
        GRPC_DEADLINE_EXCEEDED = 4,
        GRPC_NOT_FOUND = 5,
        GRPC_ALREADY_EXISTS = 6,
        GRPC_PERMISSION_DENIED = 7,
        GRPC_RESOURCE_EXHAUSTED = 8,
        GRPC_FAILED_PRECONDITION = 9,
        GRPC_ABORTED = 10,
        GRPC_OUT_OF_RANGE = 11,
        GRPC_UNIMPLEMENTED = 12,
        GRPC_INTERNAL = 13,
        GRPC_UNAVAILABLE = 14,
        GRPC_DATA_LOSS = 15,
        GRPC_UNAUTHENTICATED = 16,
        GRPC_STATUS__COUNT
};

/* The largest message the client accepts (containerd's own default is 16 MiB). */
#define GRPC_MAX_MESSAGE  (16u * 1024 * 1024)
#define GRPC_FRAME_HEADER 5

/* ---- framing: Length-Prefixed-Message ---------------------------------------- */

/* Appends the 5-byte prefix (uncompressed, big-endian length) and msg to out.
 * Returns 0, or -1 (IDYL_E_TOO_LARGE / out of memory). */
int grpc_frame_append(struct idyl_buf *out, const uint8_t *msg, size_t len, struct idyl_err *err);

/* Called with each whole message; return 0 to go on, -1 to stop (err set). */
typedef int (*grpc_message_fn)(const uint8_t *msg, size_t len, void *arg, struct idyl_err *err);

/* Reassembles messages from DATA bytes that arrive in pieces of any size. */
struct grpc_reader {
        struct idyl_buf pending; /* bytes of a message not yet whole */
        size_t max_message;
        size_t messages; /* how many were delivered */
};

void grpc_reader_init(struct grpc_reader *r, size_t max_message);
void grpc_reader_release(struct grpc_reader *r);
/* Feeds bytes; calls fn for each message they complete. Fails on a
 * compressed message (none was asked for), a message past max_message, or
 * when fn fails. */
int grpc_reader_feed(struct grpc_reader *r, const uint8_t *data, size_t len, grpc_message_fn fn,
                     void *arg, struct idyl_err *err);
/* At the end of the stream: fails when part of a message is left over. */
int grpc_reader_finish(const struct grpc_reader *r, struct idyl_err *err);

/* ---- status ------------------------------------------------------------------ */

/* "NOT_FOUND"; "UNKNOWN_STATUS" out of range. */
const char *grpc_status_name(int status);
/* The error code a status stands for here (NOT_FOUND -> IDYL_E_NOT_FOUND...). */
enum idyl_errcode grpc_status_errcode(int status);
/* Decodes grpc-message's percent-encoding into out (always terminated). */
void grpc_message_decode(const char *in, char *out, size_t size);
/* The outcome of a call from its :status, grpc-status and grpc-message
 * (each NULL when absent). Returns the gRPC status (GRPC_OK: 0 and err
 * untouched); otherwise sets err to the peer's message, or to
 * "STATUS_NAME" when it sent none. */
int grpc_status_to_err(const char *http_status, const char *grpc_status, const char *grpc_message,
                       struct idyl_err *err);

/* ---- connections and calls ----------------------------------------------------- */

struct grpc_conn;

/* A connection to the unix socket at socket_path, opened at the first call
 * and again after a failure. Returns NULL on allocation failure. */
struct grpc_conn *grpc_conn_new(const char *socket_path);
void grpc_conn_free(struct grpc_conn *c);
/* Calls stop early once *flag is true. */
void grpc_conn_set_abort(struct grpc_conn *c, const volatile bool *flag);
/* Sends "containerd-namespace: ns" with every call (containerd's own
 * services want it; CRI does not); NULL or "" sends none. */
void grpc_conn_set_namespace(struct grpc_conn *c, const char *ns);
/* The gRPC status of the last call (GRPC_UNAVAILABLE when it never got one). */
int grpc_conn_last_status(const struct grpc_conn *c);

/* A unary call of method ("/runtime.v1.RuntimeService/Version"): sends req,
 * unpacks the one answer into *resp (the caller frees it with
 * protobuf_c_message_free_unpacked). Fails with the peer's message. */
int grpc_unary(struct grpc_conn *c, const char *method, const ProtobufCMessage *req,
               const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, int timeout_ms,
               struct idyl_err *err);

/* A server-streaming call: fn gets each packed message as it arrives until
 * the server ends the stream, fn fails, the abort flag is set or timeout_ms
 * (0: none) passes. An end without error is a success. */
int grpc_stream(struct grpc_conn *c, const char *method, const ProtobufCMessage *req,
                grpc_message_fn fn, void *arg, int timeout_ms, struct idyl_err *err);

#endif
