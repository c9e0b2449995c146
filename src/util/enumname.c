/* The walk over an enum's name table (enumname.h). */
#include "util/enumname.h"

#include <string.h>

const char *enum_name(const char *const *names, int count, int value, const char *fallback)
{
        if (value < 0 || value >= count || !names[value])
                return fallback;
        return names[value];
}

int enum_lookup(const char *const *names, int count, const char *s)
{
        for (int i = 0; s && i < count; i++)
                if (names[i] && strcmp(names[i], s) == 0)
                        return i;
        return -1;
}
