/* A growable array of fixed-size elements: the one realloc-doubling loop the
 * lists, tables and queues share. The caller keeps the items pointer, the
 * count and the capacity; array_grow makes room for one more. */
#ifndef IDYL_ARRAY_H
#define IDYL_ARRAY_H

#include <stddef.h>

/* Makes room for at least `want` elements of `size` bytes in *items, whose
 * capacity is *cap (doubling, from 8). On failure *items and *cap are left as
 * they were. Returns 0, or -1 on overflow or allocation failure (errno set). */
int array_reserve(void *items, size_t *cap, size_t want, size_t size);

/* Room for element number n (that is, n + 1 elements). */
#define ARRAY_GROW(items, n, cap) array_reserve(&(items), &(cap), (n) + 1, sizeof(*(items)))

#endif
