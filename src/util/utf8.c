#include "util/utf8.h"

#include <stdint.h>

bool utf8_valid(const char *str, size_t len)
{
        const uint8_t *s = (const uint8_t *)str, *end = s + len;

        while (s < end) {
                uint8_t c = *s++;
                uint32_t cp, min;
                int more;

                if (c < 0x80)
                        continue;
                if ((c & 0xe0) == 0xc0) {
                        cp = c & 0x1f, more = 1, min = 0x80;
                } else if ((c & 0xf0) == 0xe0) {
                        cp = c & 0x0f, more = 2, min = 0x800;
                } else if ((c & 0xf8) == 0xf0) {
                        cp = c & 0x07, more = 3, min = 0x10000;
                } else {
                        return false;
                }
                if (end - s < more)
                        return false;
                while (more--) {
                        if ((*s & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (*s++ & 0x3f);
                }
                if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
        }
        return true;
}
