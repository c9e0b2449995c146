/* Log and exec streams in idyld (server/stream.c): the rendezvous of a CLI
 * request and the connection the node's agent opens for it, both upgraded
 * to idyl-stream, spliced by one thread per stream. The HTTP layer only
 * queues the 101 answer and frees the ticket with the connection. */
#ifndef IDYL_SERVER_STREAM_H
#define IDYL_SERVER_STREAM_H

#include <microhttpd.h>

#include "server/server.h"

/* Queues the 101 answer for a ticket a stream handler left in
 * resp->upgrade; the ticket stays owned by the connection (freed with
 * free() once it completes). */
enum MHD_Result stream_queue_upgrade(struct MHD_Connection *conn, void *ticket);

#endif
