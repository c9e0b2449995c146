/* The version string, from project(... VERSION ...) in CMakeLists.txt. */
#include "util/version.h"

#ifndef IDYL_VERSION
#define IDYL_VERSION "unknown"
#endif

const char *idyl_version(void)
{
        return IDYL_VERSION;
}
