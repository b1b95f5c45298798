/*
 * qwake.c - one datagram to the queue manager (see qwake.h).
 * Mail layer; runs in cleanup's process (mail_owner) or any tool.
 */
#include "compat.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mail/qwake.h"

int qwake_send(const char *queue_dir, const char *request)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd, n, ret;

	n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", queue_dir, QWAKE_SOCKET);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path))
		return -1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	ret = sendto(fd, request, strlen(request), 0, (struct sockaddr *)&sun, sizeof(sun)) < 0
	    ? -1 : 0;
	close(fd);
	return ret;
}
