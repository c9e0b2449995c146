/* UTF-8 validation, strict as RFC 3629: no overlong forms, no surrogates,
 * nothing past U+10FFFF. */
#ifndef IDYL_UTF8_H
#define IDYL_UTF8_H

#include <stdbool.h>
#include <stddef.h>

bool utf8_valid(const char *s, size_t len);

#endif
