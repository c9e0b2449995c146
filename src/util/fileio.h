/* Durable whole-file writes: the credential and the node's local state are
 * written to a temporary file, fsynced, renamed over the old one, and the
 * directory is fsynced, so a crash leaves the old file or the new, whole. */
#ifndef IDYL_FILEIO_H
#define IDYL_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

/* Writes len bytes of data to path with `mode`, atomically and durably.
 * Returns 0, or -1 with err naming the file and what failed. */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                      struct idyl_err *err);

#endif
