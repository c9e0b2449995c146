/* The one version string of idyl, idyld and idyl-sim: CMake's project
 * version, compiled into util/version.c alone. */
#ifndef IDYL_VERSION_H
#define IDYL_VERSION_H

/* "0.1.0"; never NULL, static. */
const char *idyl_version(void);

#endif
