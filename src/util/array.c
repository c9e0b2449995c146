/* The growable array's one growth rule (array.h). */
#include "util/array.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int array_reserve(void *items, size_t *cap, size_t want, size_t size)
{
        void **p = items;
        size_t ncap = *cap ? *cap : 8;
        void *grown;

        if (want <= *cap)
                return 0;
        while (ncap < want) {
                if (ncap > SIZE_MAX / 2)
                        goto overflow;
                ncap *= 2;
        }
        if (size && ncap > SIZE_MAX / size)
                goto overflow;
        grown = realloc(*p, ncap * size);
        if (!grown)
                return -1;
        *p = grown;
        *cap = ncap;
        return 0;
overflow:
        errno = ENOMEM;
        return -1;
}
