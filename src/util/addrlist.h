/* A list of idyld addresses, comma-separated ("http://a:7480,http://b:7480"):
 * the CLI and the agent try them in turn, next on a connection failure, so
 * several replicas can stand behind no load balancer. */
#ifndef IDYL_ADDRLIST_H
#define IDYL_ADDRLIST_H

#include <stdbool.h>
#include <stddef.h>

/* The number of addresses in list (at least 1: "" is one empty address). */
size_t addrlist_count(const char *list);
/* Copies address i (0-based, modulo the count), spaces trimmed, into buf. */
void addrlist_nth(const char *list, size_t i, char *buf, size_t size);
/* Whether a libcurl result means the request never reached the server, so
 * it is safe to send it to the next address. */
bool addrlist_try_next(int curl_code);

#endif
