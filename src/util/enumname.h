/* Enum <-> name tables: every enum with stable string names (classes,
 * backends, phases, roles, ...) keeps a `const char *const names[COUNT]`
 * indexed by value, and these two walk it. Entries may be NULL (a value
 * with no name, such as a NONE at 0). */
#ifndef IDYL_ENUMNAME_H
#define IDYL_ENUMNAME_H

#include <stddef.h>

/* names[value], or `fallback` when value is out of range or unnamed. */
const char *enum_name(const char *const *names, int count, int value, const char *fallback);
/* The value whose name is s, or -1 (also for s NULL). */
int enum_lookup(const char *const *names, int count, const char *s);

#endif
