/* Tells systemd that idyld is ready (Type=notify), without libsystemd: the
 * protocol is one datagram "READY=1" to the unix socket $NOTIFY_SOCKET
 * names (a leading '@' is an abstract socket), as sd_notify(3) documents.
 * Without NOTIFY_SOCKET it does nothing. */
#include "server/server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int server_notify_systemd(const char *state, struct idyl_err *err)
{
        const char *path = getenv("NOTIFY_SOCKET");
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        size_t len;
        int fd;
        ssize_t sent;

        if (!path || !*path)
                return 0;
        len = strlen(path);
        if (len >= sizeof(sa.sun_path) || (path[0] != '/' && path[0] != '@'))
                return idyl_err_set(err, IDYL_E_INVALID, "invalid NOTIFY_SOCKET \"%s\"", path);
        memcpy(sa.sun_path, path, len);
        if (path[0] == '@')
                sa.sun_path[0] = '\0';
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return idyl_err_errno(err, errno, "socket for NOTIFY_SOCKET");
        sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
                      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
        close(fd);
        if (sent < 0)
                return idyl_err_errno(err, errno, "notify systemd at \"%s\"", path);
        return 0;
}
