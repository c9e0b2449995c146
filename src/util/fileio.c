/* Atomic, durable file replacement (fileio.h). */
#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, p, len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -1;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

static int fsync_parent(const char *path, struct idyl_err *err)
{
        char copy[PATH_MAX];
        const char *dir;
        int dfd, rc;

        if ((size_t)snprintf(copy, sizeof(copy), "%s", path) >= sizeof(copy))
                return idyl_err_set(err, IDYL_E_INVALID, "path too long: \"%.64s...\"", path);
        dir = dirname(copy);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return idyl_err_errno(err, errno, "open directory \"%s\"", dir);
        rc = fsync(dfd);
        if (rc < 0)
                idyl_err_errno(err, errno, "fsync directory \"%s\"", dir);
        close(dfd);
        return rc < 0 ? -1 : 0;
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                      struct idyl_err *err)
{
        char tmp[PATH_MAX];
        int fd;

        if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
                return idyl_err_set(err, IDYL_E_INVALID, "path too long: \"%.64s...\"", path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                return idyl_err_errno(err, errno, "open \"%s\" for writing", tmp);
        if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0) {
                idyl_err_errno(err, errno, "write \"%s\"", tmp);
                close(fd);
                unlink(tmp);
                return -1;
        }
        if (close(fd) < 0) {
                idyl_err_errno(err, errno, "close \"%s\"", tmp);
                unlink(tmp);
                return -1;
        }
        if (rename(tmp, path) < 0) {
                idyl_err_errno(err, errno, "rename \"%s\" to \"%s\"", tmp, path);
                unlink(tmp);
                return -1;
        }
        return fsync_parent(path, err);
}
